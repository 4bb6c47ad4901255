/*
 * Shared by the fuzz targets and their replay driver: the libFuzzer entry points and the set-up
 * every target does once (logging silenced unless KEEL_FUZZ_LOG is set, since a parser that
 * logs each rejected input would spend its time writing to stderr).
 */
#ifndef KEEL_FUZZ_COMMON_H
#define KEEL_FUZZ_COMMON_H

#include "keel/stdinc.h"
#include "keel/log.h"

/**
 * A property of the code under test that the input broke: report it and abort, in every build
 * (unlike assert(), which release builds compile out), so that libFuzzer saves the input.
 */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/** Run one input; returns 0 (libFuzzer reserves other values). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/**
 * Print nothing below what KEEL_FUZZ_LOG names ("ERROR", "DEBUG", ...); print nothing at all
 * when it is unset. With INFO or DEBUG, every component flag is turned on too, so that the
 * format strings of those messages run over the fuzzed data as well; otherwise every flag is
 * turned off (a target calls this again to undo what an input changed).
 */
static inline void
fuzz_setup_log(void)
{
	enum keel_log_level level = KEEL_LOG_DISABLED;
	const char *env = getenv("KEEL_FUZZ_LOG");

	if (env != NULL && keel_log_level_from_name(env, &level) == 0 && level >= KEEL_LOG_INFO) {
		keel_log_set_flag("all");
	} else {
		keel_log_clear_flag("all");
	}
	keel_log_set_print_level(level);
	keel_log_set_level(KEEL_LOG_DISABLED);
}

#endif /* KEEL_FUZZ_COMMON_H */
