/*
 * The system headers every keel source needs, in one place, plus the few macros the
 * whole project uses. Include it first in every file.
 */
#ifndef KEEL_STDINC_H
#define KEEL_STDINC_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

/* sys/queue.h in glibc lacks the _SAFE iterators. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                                                 \
	for ((var) = TAILQ_FIRST((head)); (var) && ((tvar) = TAILQ_NEXT((var), field), 1);        \
	     (var) = (tvar))
#endif
#ifndef STAILQ_FOREACH_SAFE
#define STAILQ_FOREACH_SAFE(var, head, field, tvar)                                                \
	for ((var) = STAILQ_FIRST((head)); (var) && ((tvar) = STAILQ_NEXT((var), field), 1);      \
	     (var) = (tvar))
#endif
#ifndef LIST_FOREACH_SAFE
#define LIST_FOREACH_SAFE(var, head, field, tvar)                                                  \
	for ((var) = LIST_FIRST((head)); (var) && ((tvar) = LIST_NEXT((var), field), 1);          \
	     (var) = (tvar))
#endif

#define KEEL_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#define KEEL_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))
#define KEEL_CONTAINEROF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define KEEL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KEEL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define KEEL_ALIGN_CEIL(v, a) ((((v) + (a) - 1) / (a)) * (a))
#define keel_likely(x) __builtin_expect(!!(x), 1)
#define keel_unlikely(x) __builtin_expect(!!(x), 0)
#define KEEL_CACHE_LINE_SIZE 64

#endif /* KEEL_STDINC_H */
