/*
 * Logging: five levels, per-component flags that gate INFO and DEBUG messages, timestamps,
 * stderr and optionally syslog.
 */
#ifndef KEEL_LOG_H
#define KEEL_LOG_H

#include "keel/stdinc.h"

#ifdef __cplusplus
extern "C" {
#endif

enum keel_log_level {
	KEEL_LOG_DISABLED = -1,
	KEEL_LOG_ERROR = 0,
	KEEL_LOG_WARN,
	KEEL_LOG_NOTICE,
	KEEL_LOG_INFO,
	KEEL_LOG_DEBUG,
};

/** A named log component; INFO and DEBUG messages of a component print only when its flag is on. */
struct keel_log_flag {
	TAILQ_ENTRY(keel_log_flag) link;
	const char *name;
	bool enabled;
};

/** Called by KEEL_LOG_REGISTER_COMPONENT at load time. */
void keel_log_register_flag(struct keel_log_flag *flag);

/**
 * Declare a log component once per file that uses KEEL_INFOLOG/KEEL_DEBUGLOG(name, ...).
 * Several files may register the same name; setting or clearing the name reaches them all.
 */
#define KEEL_LOG_REGISTER_COMPONENT(comp)                                                          \
	static struct keel_log_flag keel_log_flag_##comp = {.name = #comp, .enabled = false};      \
	__attribute__((constructor)) static void keel_log_register_##comp(void)                    \
	{                                                                                          \
		keel_log_register_flag(&keel_log_flag_##comp);                                     \
	}

/** Level written to syslog (when open) and print level written to stderr. */
void keel_log_set_level(enum keel_log_level level);
enum keel_log_level keel_log_get_level(void);
void keel_log_set_print_level(enum keel_log_level level);
enum keel_log_level keel_log_get_print_level(void);

/**
 * "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG" and back; -EINVAL for an unknown name.
 * The parser also accepts "WARN", and any case. keel_log_level_name() returns "DISABLED" for
 * KEEL_LOG_DISABLED (which the parser does not accept) and NULL for a value out of range.
 */
const char *keel_log_level_name(enum keel_log_level level);
int keel_log_level_from_name(const char *name, enum keel_log_level *level);

/**
 * Turn a component flag on or off. "all" names every flag.
 * \return 0, or -ENOENT if no component has that name.
 */
int keel_log_set_flag(const char *name);
int keel_log_clear_flag(const char *name);
bool keel_log_get_flag(const char *name);
/** Call fn for every registered flag, in name order. */
void keel_log_for_each_flag(void (*fn)(const struct keel_log_flag *flag, void *ctx), void *ctx);

/** Send messages at or above the log level to syslog too (ident "keel"), or stop doing so. */
void keel_log_open_syslog(const char *facility);
void keel_log_close_syslog(void);
/** Parse a syslog facility name (local0..local7, daemon, user); -EINVAL if unknown. */
int keel_log_facility_from_name(const char *name, int *facility);

void keel_log(enum keel_log_level level, const char *file, int line, const char *func,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void keel_vlog(enum keel_log_level level, const char *file, int line, const char *func,
	       const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

#define KEEL_ERRLOG(...) keel_log(KEEL_LOG_ERROR, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define KEEL_WARNLOG(...) keel_log(KEEL_LOG_WARN, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define KEEL_NOTICELOG(...) keel_log(KEEL_LOG_NOTICE, __FILE__, __LINE__, __func__, __VA_ARGS__)

#define KEEL_INFOLOG(flag, ...)                                                                    \
	do {                                                                                       \
		if (keel_log_flag_##flag.enabled) {                                                \
			keel_log(KEEL_LOG_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__);        \
		}                                                                                  \
	} while (0)

#ifdef DEBUG
#define KEEL_DEBUGLOG(flag, ...)                                                                   \
	do {                                                                                       \
		if (keel_log_flag_##flag.enabled) {                                                \
			keel_log(KEEL_LOG_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__);       \
		}                                                                                  \
	} while (0)
#else
#define KEEL_DEBUGLOG(flag, ...)                                                                   \
	do {                                                                                       \
	} while (0)
#endif

#ifdef __cplusplus
}
#endif

#endif /* KEEL_LOG_H */
