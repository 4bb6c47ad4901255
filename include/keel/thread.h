/*
 * Lightweight threads, pollers, messages and I/O channels. A keel thread is a unit of
 * scheduling that runs on one reactor (one core) for its whole life; everything it owns is
 * touched only from it, and other threads reach it by sending messages.
 */
#ifndef KEEL_THREAD_H
#define KEEL_THREAD_H

#include "keel/stdinc.h"
#include "keel/util.h"

#ifdef __cplusplus
extern "C" {
#endif

struct keel_thread;
struct keel_poller;
struct keel_io_channel;
struct keel_channel_iter;

/** Pollers return one of these so the reactor can count busy and idle time. */
enum keel_poller_status {
	KEEL_POLLER_IDLE = 0,
	KEEL_POLLER_BUSY = 1,
};

typedef void (*keel_msg_fn)(void *ctx);
typedef int (*keel_poller_fn)(void *ctx);
typedef void (*keel_thread_fn)(void *ctx);
/** Interrupt handler: fd became readable. Returns like a poller. */
typedef int (*keel_interrupt_fn)(void *ctx);

/**
 * Called by keel_thread_create() so the framework can place the new thread on a reactor.
 * \return 0 if the thread was scheduled; negative errno otherwise (the thread is destroyed).
 */
typedef int (*keel_new_thread_fn)(struct keel_thread *thread);

/** Per-thread statistics, in TSC ticks. */
struct keel_thread_stats {
	uint64_t busy_tsc;
	uint64_t idle_tsc;
};

/**
 * Initialise the thread library.
 *
 * \param new_thread_fn  Places new threads (NULL: the caller polls threads itself, as tests do).
 * \param msg_pool_size  Messages in the global message pool (0: default 262143).
 * \return 0; -ENOMEM.
 */
int keel_thread_lib_init(keel_new_thread_fn new_thread_fn, size_t msg_pool_size);
/** Release the library; every thread must have been destroyed. */
void keel_thread_lib_fini(void);

/**
 * Create a thread. It is handed to the new_thread_fn given at init, which decides where it runs.
 *
 * \param name     Copied; NULL gives a generated name.
 * \param cpumask  Cores it may run on; NULL means any.
 * \return the thread, or NULL on failure.
 */
struct keel_thread *keel_thread_create(const char *name, const struct keel_cpuset *cpumask);

/** Ask the current thread to exit: its pollers must be unregistered and channels put first. */
void keel_thread_exit(struct keel_thread *thread);
bool keel_thread_is_exited(struct keel_thread *thread);
/** Free an exited thread (called by whoever polls it). */
void keel_thread_destroy(struct keel_thread *thread);

/** Bind the calling OS thread to a keel thread (NULL to unbind). */
void keel_set_thread(struct keel_thread *thread);
/** The keel thread the caller runs on, or NULL. */
struct keel_thread *keel_get_thread(void);
/** The first thread created, which the application framework runs on. */
struct keel_thread *keel_thread_get_app_thread(void);

const char *keel_thread_get_name(const struct keel_thread *thread);
uint64_t keel_thread_get_id(const struct keel_thread *thread);
const struct keel_cpuset *keel_thread_get_cpumask(const struct keel_thread *thread);
/** Space for the framework's own per-thread data (size given at keel_thread_lib_init_ext). */
void *keel_thread_get_ctx(struct keel_thread *thread);
struct keel_thread *keel_thread_get_from_ctx(void *ctx);
int keel_thread_get_stats(struct keel_thread_stats *stats);
uint64_t keel_thread_get_last_tsc(struct keel_thread *thread);

/** Like keel_thread_lib_init(), with ctx_size bytes of framework data per thread. */
int keel_thread_lib_init_ext(keel_new_thread_fn new_thread_fn, size_t ctx_size,
			     size_t msg_pool_size);

/**
 * Run one iteration of a thread: its messages (up to max_msgs, 0 = default batch), its active
 * pollers and the timed pollers that are due.
 *
 * \param now  The current TSC (0: read it).
 * \return 1 if any work was done, 0 if idle.
 */
int keel_thread_poll(struct keel_thread *thread, uint32_t max_msgs, uint64_t now);

/** TSC at which the next timed poller of the thread is due, or UINT64_MAX. */
uint64_t keel_thread_next_poller_expiration(struct keel_thread *thread);
/** True if the thread has active (run every loop) pollers that are not paused. */
bool keel_thread_has_active_pollers(struct keel_thread *thread);
/** True if any poller at all is registered. */
bool keel_thread_has_pollers(struct keel_thread *thread);
/** True if messages are waiting. */
bool keel_thread_has_messages(struct keel_thread *thread);

/**
 * Send a message: fn(ctx) runs later on thread, in the order messages were sent by one sender.
 * Safe from any thread (and from a non-keel thread). Never runs fn inline.
 *
 * \return 0; -ENOMEM if the message pool is empty; -EIO if the thread has exited.
 */
int keel_thread_send_msg(const struct keel_thread *thread, keel_msg_fn fn, void *ctx);

/**
 * Run fn(ctx) on every thread in turn, then cpl(ctx) on the calling thread.
 * \return 0; -ENOMEM.
 */
int keel_for_each_thread(keel_msg_fn fn, void *ctx, keel_msg_fn cpl);

/**
 * Register a poller on the current thread.
 *
 * \param fn         Returns KEEL_POLLER_BUSY or KEEL_POLLER_IDLE.
 * \param ctx        Handed to fn.
 * \param period_us  0: run every iteration (active); otherwise at most every period_us (timed).
 * \param name       For statistics; copied (NULL: the function's address).
 * \return the poller, or NULL if the caller is not on a thread or out of memory.
 */
struct keel_poller *keel_poller_register_named(keel_poller_fn fn, void *ctx, uint64_t period_us,
					       const char *name);
#define keel_poller_register(fn, ctx, period_us) keel_poller_register_named(fn, ctx, period_us, #fn)

/** Unregister a poller of the current thread; sets *ppoller to NULL. NULL is a no-op. */
void keel_poller_unregister(struct keel_poller **ppoller);
void keel_poller_pause(struct keel_poller *poller);
void keel_poller_resume(struct keel_poller *poller);

/**
 * Interrupt mode. Every thread owns an epoll file descriptor that becomes readable when it has
 * work: a message arrives, a timed poller is due, or a registered fd is readable. A reactor that
 * finds its threads idle may sleep on these fds instead of spinning.
 */
int keel_thread_get_interrupt_fd(struct keel_thread *thread);
/** Arm the thread's timer for its next timed poller and note that it is about to sleep. */
void keel_thread_prepare_sleep(struct keel_thread *thread);
/** Mark the thread awake again. */
void keel_thread_end_sleep(struct keel_thread *thread);

/**
 * Attach an fd to a poller: in interrupt mode, the thread wakes when fd is readable (EPOLLIN;
 * events may be given as EPOLL* flags, 0 = EPOLLIN). The poller itself still runs as usual.
 * \return 0; -errno from epoll_ctl.
 */
int keel_poller_set_interrupt_fd(struct keel_poller *poller, int fd, uint32_t events);
/** True if every active poller of the thread has an interrupt fd (the thread can sleep). */
bool keel_thread_can_sleep(struct keel_thread *thread);

/** Statistics of one poller, for thread_get_pollers-like reports. */
struct keel_poller_info {
	const char *name;
	uint64_t period_us;
	uint64_t run_count;
	uint64_t busy_count;
	bool paused;
};
/** Call fn for every poller of thread (must be called on that thread). */
void keel_thread_for_each_poller(struct keel_thread *thread,
				 void (*fn)(const struct keel_poller_info *info, void *ctx), void *ctx);

/*
 * I/O devices and channels. An I/O device is any pointer registered as one; each thread that
 * uses it gets its own channel, created on first keel_get_io_channel() on that thread and
 * destroyed when the last reference is put.
 */
typedef int (*keel_io_channel_create_cb)(void *io_device, void *ctx_buf);
typedef void (*keel_io_channel_destroy_cb)(void *io_device, void *ctx_buf);
typedef void (*keel_io_device_unregister_cb)(void *io_device);

/**
 * Register io_device. ctx_size bytes of per-channel context are handed to create_cb/destroy_cb.
 * Registering the same pointer twice is an error (logged, ignored).
 */
void keel_io_device_register(void *io_device, keel_io_channel_create_cb create_cb,
			     keel_io_channel_destroy_cb destroy_cb, uint32_t ctx_size,
			     const char *name);
/**
 * Unregister io_device. unregister_cb runs on the calling thread once every channel is gone.
 * No new channels can be got after this call.
 */
void keel_io_device_unregister(void *io_device, keel_io_device_unregister_cb unregister_cb);

/** Get (create or reference) the calling thread's channel for io_device; NULL on failure. */
struct keel_io_channel *keel_get_io_channel(void *io_device);
/** Drop a reference; the last put destroys the channel later, on its thread. */
void keel_put_io_channel(struct keel_io_channel *ch);
void *keel_io_channel_get_ctx(struct keel_io_channel *ch);
struct keel_io_channel *keel_io_channel_from_ctx(void *ctx);
void *keel_io_channel_get_io_device(struct keel_io_channel *ch);
struct keel_thread *keel_io_channel_get_thread(struct keel_io_channel *ch);

typedef void (*keel_channel_msg)(struct keel_channel_iter *iter);
typedef void (*keel_channel_for_each_cpl)(struct keel_channel_iter *iter, int status);

/**
 * Call fn on each thread that has a channel for io_device, one after another; each fn must
 * call keel_for_each_channel_continue(iter, status). A non-zero status stops the walk.
 * cpl(iter, status) then runs on the calling thread.
 */
void keel_for_each_channel(void *io_device, keel_channel_msg fn, void *ctx,
			   keel_channel_for_each_cpl cpl);
void keel_for_each_channel_continue(struct keel_channel_iter *iter, int status);
struct keel_io_channel *keel_channel_iter_get_channel(struct keel_channel_iter *iter);
void *keel_channel_iter_get_ctx(struct keel_channel_iter *iter);
void *keel_channel_iter_get_io_device(struct keel_channel_iter *iter);

/** Iterate all threads (control path; takes the global lock). Returns the next or NULL. */
struct keel_thread *keel_thread_get_first(void);
struct keel_thread *keel_thread_get_next(struct keel_thread *prev);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_THREAD_H */
