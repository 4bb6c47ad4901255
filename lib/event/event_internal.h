/*
 * Private interfaces between the parts of the event library: reactors and the app.
 */
#ifndef KEEL_EVENT_INTERNAL_H
#define KEEL_EVENT_INTERNAL_H

#include "keel/stdinc.h"
#include "keel/event.h"
#include "keel/util.h"

/** Create one reactor per core of the environment; interrupt mode as asked. */
int reactors_init(bool interrupt_mode);
void reactors_fini(void);
/** Run the reactors: workers on their cores, the main one here; returns when they stop. */
void reactors_start(void);
/** Ask every reactor to stop once all threads have exited (or after a grace period). */
void reactors_stop(void);
/** Called from the signal handler: async-signal-safe wake of the main reactor. */
void reactors_signal_wake(void);
/** Set by the signal handler; the main reactor turns it into a shutdown on the app thread. */
extern volatile sig_atomic_t g_app_signal_count;
/** Run on the app thread when a signal was seen. */
void app_signal_shutdown(void *ctx);

#endif /* KEEL_EVENT_INTERNAL_H */
