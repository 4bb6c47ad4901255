/*
 * The logging library: messages are formatted into a local buffer with a timestamp and their
 * origin and written to stderr with one write(2), so lines from several threads never mix.
 * It also keeps the registry of per-component flags that gate INFO and DEBUG messages.
 */
#include "keel/stdinc.h"
#include "keel/log.h"

#include <pthread.h>
#include <syslog.h>

#define LOG_BUF_SIZE 1024

static const char *const g_level_names[] = {
	[KEEL_LOG_ERROR] = "ERROR", [KEEL_LOG_WARN] = "WARNING", [KEEL_LOG_NOTICE] = "NOTICE",
	[KEEL_LOG_INFO] = "INFO",   [KEEL_LOG_DEBUG] = "DEBUG",
};

static const int g_syslog_prio[] = {
	[KEEL_LOG_ERROR] = LOG_ERR, [KEEL_LOG_WARN] = LOG_WARNING, [KEEL_LOG_NOTICE] = LOG_NOTICE,
	[KEEL_LOG_INFO] = LOG_INFO, [KEEL_LOG_DEBUG] = LOG_DEBUG,
};

static const struct {
	const char *name;
	int facility;
} g_facilities[] = {
	{"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
	{"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
	{"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},
	{"local7", LOG_LOCAL7},
};

static int g_print_level = KEEL_LOG_NOTICE;
static int g_log_level = KEEL_LOG_NOTICE;
static bool g_syslog_open;

/*
 * Flags are kept sorted by name so that keel_log_for_each_flag can report each name once.
 * The mutex is recursive so that a for_each callback may query or change flags.
 */
static TAILQ_HEAD(, keel_log_flag) g_flags = TAILQ_HEAD_INITIALIZER(g_flags);
static pthread_mutex_t g_flags_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static bool
level_valid(enum keel_log_level level)
{
	return level >= KEEL_LOG_ERROR && level <= KEEL_LOG_DEBUG;
}

void
keel_log_set_level(enum keel_log_level level)
{
	assert(level >= KEEL_LOG_DISABLED && level <= KEEL_LOG_DEBUG);
	__atomic_store_n(&g_log_level, (int)level, __ATOMIC_RELAXED);
}

enum keel_log_level
keel_log_get_level(void)
{
	return (enum keel_log_level)__atomic_load_n(&g_log_level, __ATOMIC_RELAXED);
}

void
keel_log_set_print_level(enum keel_log_level level)
{
	assert(level >= KEEL_LOG_DISABLED && level <= KEEL_LOG_DEBUG);
	__atomic_store_n(&g_print_level, (int)level, __ATOMIC_RELAXED);
}

enum keel_log_level
keel_log_get_print_level(void)
{
	return (enum keel_log_level)__atomic_load_n(&g_print_level, __ATOMIC_RELAXED);
}

const char *
keel_log_level_name(enum keel_log_level level)
{
	if (level == KEEL_LOG_DISABLED) {
		/* Not a name the parser accepts, but callers may print the current level. */
		return "DISABLED";
	}
	if (!level_valid(level)) {
		return NULL;
	}
	return g_level_names[level];
}

int
keel_log_level_from_name(const char *name, enum keel_log_level *level)
{
	int i;

	if (name == NULL) {
		return -EINVAL;
	}
	if (strcasecmp(name, "WARN") == 0) {
		*level = KEEL_LOG_WARN;
		return 0;
	}
	for (i = KEEL_LOG_ERROR; i <= KEEL_LOG_DEBUG; i++) {
		if (strcasecmp(name, g_level_names[i]) == 0) {
			*level = (enum keel_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void
keel_log_register_flag(struct keel_log_flag *flag)
{
	struct keel_log_flag *it;
	int cmp;

	assert(flag != NULL && flag->name != NULL);
	pthread_mutex_lock(&g_flags_lock);
	TAILQ_FOREACH (it, &g_flags, link) {
		if (it == flag) {
			/* Registered twice: keep the list intact. */
			pthread_mutex_unlock(&g_flags_lock);
			return;
		}
	}
	TAILQ_FOREACH (it, &g_flags, link) {
		cmp = strcasecmp(it->name, flag->name);
		if (cmp == 0) {
			/* A flag registered late follows the state of its namesakes. */
			flag->enabled = it->enabled;
		}
		if (cmp > 0) {
			break;
		}
	}
	if (it == NULL) {
		TAILQ_INSERT_TAIL(&g_flags, flag, link);
	} else {
		TAILQ_INSERT_BEFORE(it, flag, link);
	}
	pthread_mutex_unlock(&g_flags_lock);
}

static int
flag_set_state(const char *name, bool on)
{
	struct keel_log_flag *it;
	bool all, found = false;

	if (name == NULL) {
		return -EINVAL;
	}
	all = strcasecmp(name, "all") == 0;
	pthread_mutex_lock(&g_flags_lock);
	TAILQ_FOREACH (it, &g_flags, link) {
		if (all || strcasecmp(it->name, name) == 0) {
			__atomic_store_n(&it->enabled, on, __ATOMIC_RELAXED);
			found = true;
		}
	}
	pthread_mutex_unlock(&g_flags_lock);
	return (found || all) ? 0 : -ENOENT;
}

int
keel_log_set_flag(const char *name)
{
	return flag_set_state(name, true);
}

int
keel_log_clear_flag(const char *name)
{
	return flag_set_state(name, false);
}

bool
keel_log_get_flag(const char *name)
{
	struct keel_log_flag *it;
	bool enabled = false;

	if (name == NULL) {
		return false;
	}
	pthread_mutex_lock(&g_flags_lock);
	TAILQ_FOREACH (it, &g_flags, link) {
		if (strcasecmp(it->name, name) == 0) {
			enabled = __atomic_load_n(&it->enabled, __ATOMIC_RELAXED);
			break;
		}
	}
	pthread_mutex_unlock(&g_flags_lock);
	return enabled;
}

void
keel_log_for_each_flag(void (*fn)(const struct keel_log_flag *flag, void *ctx), void *ctx)
{
	struct keel_log_flag *it;
	const char *prev = NULL;

	pthread_mutex_lock(&g_flags_lock);
	TAILQ_FOREACH (it, &g_flags, link) {
		if (prev != NULL && strcasecmp(prev, it->name) == 0) {
			continue;
		}
		prev = it->name;
		fn(it, ctx);
	}
	pthread_mutex_unlock(&g_flags_lock);
}

int
keel_log_facility_from_name(const char *name, int *facility)
{
	size_t i;

	if (name == NULL) {
		return -EINVAL;
	}
	for (i = 0; i < KEEL_COUNTOF(g_facilities); i++) {
		if (strcasecmp(name, g_facilities[i].name) == 0) {
			*facility = g_facilities[i].facility;
			return 0;
		}
	}
	return -EINVAL;
}

void
keel_log_open_syslog(const char *facility)
{
	int fac = LOG_DAEMON;

	if (facility != NULL && keel_log_facility_from_name(facility, &fac) != 0) {
		KEEL_WARNLOG("unknown syslog facility '%s', using daemon\n", facility);
		fac = LOG_DAEMON;
	}
	openlog("keel", LOG_PID, fac);
	__atomic_store_n(&g_syslog_open, true, __ATOMIC_RELEASE);
}

void
keel_log_close_syslog(void)
{
	if (__atomic_exchange_n(&g_syslog_open, false, __ATOMIC_ACQ_REL)) {
		closelog();
	}
}

static const char *
log_basename(const char *file)
{
	const char *slash;

	if (file == NULL) {
		return "?";
	}
	slash = strrchr(file, '/');
	return slash != NULL ? slash + 1 : file;
}

static void
log_write_all(const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(STDERR_FILENO, buf, len);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

/*
 * Format "prefix message\n" into buf, or into a heap buffer when it does not fit; returns the
 * buffer to use (buf or a malloc'd one the caller frees) and its length in *out_len.
 */
__attribute__((format(printf, 4, 0))) static char *
log_format(char *buf, size_t size, const char *prefix, const char *fmt, va_list ap, size_t *out_len)
{
	size_t plen = strlen(prefix);
	char *out = buf;
	va_list ap2;
	int mlen;

	va_copy(ap2, ap);
	mlen = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (mlen < 0) {
		mlen = 0;
	}
	/* prefix + message + a newline if missing + NUL */
	if (plen + (size_t)mlen + 2 > size) {
		out = malloc(plen + (size_t)mlen + 2);
		if (out == NULL) {
			/* Out of memory: print what fits in the local buffer. */
			out = buf;
			mlen = (int)(size - plen - 2);
		}
		size = plen + (size_t)mlen + 2;
	}
	memcpy(out, prefix, plen);
	vsnprintf(out + plen, (size_t)mlen + 1, fmt, ap);
	*out_len = plen + (size_t)mlen;
	if (*out_len == plen || out[*out_len - 1] != '\n') {
		out[(*out_len)++] = '\n';
	}
	out[*out_len] = '\0';
	return out;
}

void
keel_vlog(enum keel_log_level level, const char *file, int line, const char *func, const char *fmt,
	  va_list ap)
{
	char buf[LOG_BUF_SIZE], prefix[256], stamp[32];
	bool to_stderr, to_syslog;
	struct timespec ts;
	struct tm tm;
	size_t len;
	char *out;
	va_list ap2;

	if (!level_valid(level)) {
		return;
	}
	to_stderr = (int)level <= __atomic_load_n(&g_print_level, __ATOMIC_RELAXED);
	to_syslog = (int)level <= __atomic_load_n(&g_log_level, __ATOMIC_RELAXED) &&
		    __atomic_load_n(&g_syslog_open, __ATOMIC_ACQUIRE);
	if (!to_stderr && !to_syslog) {
		return;
	}

	if (to_syslog) {
		snprintf(prefix, sizeof(prefix), "%s:%d:%s: *%s*: ", log_basename(file), line,
			 func != NULL ? func : "?", g_level_names[level]);
		va_copy(ap2, ap);
		out = log_format(buf, sizeof(buf), prefix, fmt, ap2, &len);
		va_end(ap2);
		syslog(g_syslog_prio[level], "%s", out);
		if (out != buf) {
			free(out);
		}
	}

	if (to_stderr) {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
		snprintf(prefix, sizeof(prefix), "[%s.%06ld] %s:%d:%s: *%s*: ", stamp,
			 ts.tv_nsec / 1000, log_basename(file), line, func != NULL ? func : "?",
			 g_level_names[level]);
		out = log_format(buf, sizeof(buf), prefix, fmt, ap, &len);
		log_write_all(out, len);
		if (out != buf) {
			free(out);
		}
	}
}

void
keel_log(enum keel_log_level level, const char *file, int line, const char *func, const char *fmt,
	 ...)
{
	va_list ap;

	va_start(ap, fmt);
	keel_vlog(level, file, line, func, fmt, ap);
	va_end(ap);
}
