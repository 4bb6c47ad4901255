/*
 * Small helpers shared by every library: CPU sets, strict number parsing, string
 * utilities and big-endian accessors.
 */
#ifndef KEEL_UTIL_H
#define KEEL_UTIL_H

#include "keel/stdinc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KEEL_CPUSET_SIZE 1024

/** A set of CPU cores. */
struct keel_cpuset {
	uint64_t bits[KEEL_CPUSET_SIZE / 64];
};

void keel_cpuset_zero(struct keel_cpuset *set);
void keel_cpuset_set(struct keel_cpuset *set, uint32_t cpu, bool on);
bool keel_cpuset_get(const struct keel_cpuset *set, uint32_t cpu);
uint32_t keel_cpuset_count(const struct keel_cpuset *set);
bool keel_cpuset_equal(const struct keel_cpuset *a, const struct keel_cpuset *b);
void keel_cpuset_and(struct keel_cpuset *dst, const struct keel_cpuset *src);
void keel_cpuset_or(struct keel_cpuset *dst, const struct keel_cpuset *src);
/** First CPU in the set at or after start, or UINT32_MAX. */
uint32_t keel_cpuset_next(const struct keel_cpuset *set, uint32_t start);

#define KEEL_CPUSET_FOREACH(cpu, set)                                                              \
	for ((cpu) = keel_cpuset_next((set), 0); (cpu) != UINT32_MAX;                              \
	     (cpu) = keel_cpuset_next((set), (cpu) + 1))

/**
 * Parse a core mask: hexadecimal ("0x3", "3", "0xF000000") or a list ("[0,2-3]", "0,2-3").
 * \return 0; -EINVAL if malformed; -ERANGE if a core is >= KEEL_CPUSET_SIZE.
 */
int keel_cpuset_parse(struct keel_cpuset *set, const char *str);
/** Format as a hexadecimal mask "0x..." into buf; returns buf. */
const char *keel_cpuset_fmt(const struct keel_cpuset *set, char *buf, size_t len);

/**
 * Strict number parsing: the whole string must be a number in range (leading/trailing
 * blanks allowed). Base 0 accepts 0x.. hex, 0.. octal is NOT used: decimal unless "0x".
 * \return 0; -EINVAL if not a number; -ERANGE if out of range.
 */
int keel_parse_u64(const char *str, uint64_t *val);
int keel_parse_u32(const char *str, uint32_t *val);
int keel_parse_i64(const char *str, int64_t *val);
/** "Yes"/"No", "true"/"false", "1"/"0", "on"/"off", case-insensitive. */
int keel_parse_bool(const char *str, bool *val);

/** strerror for a positive errno, thread-safe. */
const char *keel_strerror(int errnum);

/** Copy with truncation, always NUL-terminated; returns the length of src. */
size_t keel_strlcpy(char *dst, const char *src, size_t size);
/** Remove leading and trailing whitespace in place (the text moves to the start); returns str. */
char *keel_strstrip(char *str);
/** malloc'd printf; NULL on failure. */
char *keel_sprintf_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline uint16_t
keel_from_be16(const void *ptr)
{
	const uint8_t *p = ptr;
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
keel_from_be24(const void *ptr)
{
	const uint8_t *p = ptr;
	return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}

static inline uint32_t
keel_from_be32(const void *ptr)
{
	const uint8_t *p = ptr;
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t
keel_from_be64(const void *ptr)
{
	const uint8_t *p = ptr;
	return ((uint64_t)keel_from_be32(p) << 32) | keel_from_be32(p + 4);
}

static inline void
keel_to_be16(void *ptr, uint16_t v)
{
	uint8_t *p = ptr;
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
keel_to_be24(void *ptr, uint32_t v)
{
	uint8_t *p = ptr;
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}

static inline void
keel_to_be32(void *ptr, uint32_t v)
{
	uint8_t *p = ptr;
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
keel_to_be64(void *ptr, uint64_t v)
{
	keel_to_be32(ptr, (uint32_t)(v >> 32));
	keel_to_be32((uint8_t *)ptr + 4, (uint32_t)v);
}

#ifdef __cplusplus
}
#endif

#endif /* KEEL_UTIL_H */
