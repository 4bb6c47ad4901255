/*
 * CPU sets: the core masks of -m and of portals, parsed from a hex mask ("0x3") or a list
 * ("[0,2-3]") and printed back as a hex mask.
 */
#include "keel/stdinc.h"
#include "keel/util.h"

void
keel_cpuset_zero(struct keel_cpuset *set)
{
	memset(set, 0, sizeof(*set));
}

void
keel_cpuset_set(struct keel_cpuset *set, uint32_t cpu, bool on)
{
	if (cpu >= KEEL_CPUSET_SIZE) {
		return;
	}
	if (on) {
		set->bits[cpu / 64] |= 1ULL << (cpu % 64);
	} else {
		set->bits[cpu / 64] &= ~(1ULL << (cpu % 64));
	}
}

bool
keel_cpuset_get(const struct keel_cpuset *set, uint32_t cpu)
{
	return cpu < KEEL_CPUSET_SIZE && (set->bits[cpu / 64] >> (cpu % 64)) & 1;
}

uint32_t
keel_cpuset_count(const struct keel_cpuset *set)
{
	uint32_t n = 0;
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(set->bits); i++) {
		n += (uint32_t)__builtin_popcountll(set->bits[i]);
	}
	return n;
}

bool
keel_cpuset_equal(const struct keel_cpuset *a, const struct keel_cpuset *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

void
keel_cpuset_and(struct keel_cpuset *dst, const struct keel_cpuset *src)
{
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(dst->bits); i++) {
		dst->bits[i] &= src->bits[i];
	}
}

void
keel_cpuset_or(struct keel_cpuset *dst, const struct keel_cpuset *src)
{
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(dst->bits); i++) {
		dst->bits[i] |= src->bits[i];
	}
}

uint32_t
keel_cpuset_next(const struct keel_cpuset *set, uint32_t start)
{
	uint32_t cpu;

	for (cpu = start; cpu < KEEL_CPUSET_SIZE; cpu++) {
		uint64_t word = set->bits[cpu / 64] >> (cpu % 64);

		if (word == 0) {
			cpu |= 63;
			continue;
		}
		return cpu + (uint32_t)__builtin_ctzll(word);
	}
	return UINT32_MAX;
}

static int
cpuset_parse_hex(struct keel_cpuset *set, const char *s, size_t len)
{
	uint32_t bit = 0;
	size_t i;

	if (len == 0) {
		return -EINVAL;
	}
	for (i = len; i > 0; i--, bit += 4) {
		int c = (unsigned char)s[i - 1], v, k;

		if (!isxdigit(c)) {
			return -EINVAL;
		}
		v = isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
		for (k = 0; k < 4; k++) {
			if (v & (1 << k)) {
				if (bit + (uint32_t)k >= KEEL_CPUSET_SIZE) {
					return -ERANGE;
				}
				keel_cpuset_set(set, bit + (uint32_t)k, true);
			}
		}
	}
	return 0;
}

static int
cpuset_parse_num(const char **p, const char *end, uint32_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s >= end || !isdigit((unsigned char)*s)) {
		return -EINVAL;
	}
	while (s < end && isdigit((unsigned char)*s)) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v >= KEEL_CPUSET_SIZE) {
			return -ERANGE;
		}
		s++;
	}
	*p = s;
	*out = (uint32_t)v;
	return 0;
}

static int
cpuset_parse_list(struct keel_cpuset *set, const char *s, const char *end)
{
	uint32_t first, last, cpu;
	int rc;

	while (s < end) {
		while (s < end && isspace((unsigned char)*s)) {
			s++;
		}
		rc = cpuset_parse_num(&s, end, &first);
		if (rc != 0) {
			return rc;
		}
		last = first;
		while (s < end && isspace((unsigned char)*s)) {
			s++;
		}
		if (s < end && *s == '-') {
			s++;
			while (s < end && isspace((unsigned char)*s)) {
				s++;
			}
			rc = cpuset_parse_num(&s, end, &last);
			if (rc != 0) {
				return rc;
			}
			if (last < first) {
				return -EINVAL;
			}
		}
		for (cpu = first; cpu <= last; cpu++) {
			keel_cpuset_set(set, cpu, true);
		}
		while (s < end && isspace((unsigned char)*s)) {
			s++;
		}
		if (s < end) {
			if (*s != ',') {
				return -EINVAL;
			}
			s++;
			if (s == end) {
				return -EINVAL;
			}
		}
	}
	return 0;
}

int
keel_cpuset_parse(struct keel_cpuset *set, const char *str)
{
	struct keel_cpuset tmp;
	const char *s, *end;
	int rc;

	if (str == NULL) {
		return -EINVAL;
	}
	keel_cpuset_zero(&tmp);
	s = str;
	while (isspace((unsigned char)*s)) {
		s++;
	}
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1])) {
		end--;
	}
	if (s == end) {
		return -EINVAL;
	}
	if (*s == '[') {
		if (end[-1] != ']') {
			return -EINVAL;
		}
		rc = cpuset_parse_list(&tmp, s + 1, end - 1);
	} else if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		rc = cpuset_parse_hex(&tmp, s + 2, (size_t)(end - s - 2));
	} else if (memchr(s, ',', (size_t)(end - s)) != NULL || memchr(s, '-', (size_t)(end - s))) {
		rc = cpuset_parse_list(&tmp, s, end);
	} else {
		rc = cpuset_parse_hex(&tmp, s, (size_t)(end - s));
	}
	if (rc != 0) {
		return rc;
	}
	if (keel_cpuset_count(&tmp) == 0) {
		return -EINVAL;
	}
	*set = tmp;
	return 0;
}

const char *
keel_cpuset_fmt(const struct keel_cpuset *set, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	int top = -1, nibble;
	size_t off = 0;
	uint32_t cpu;

	KEEL_CPUSET_FOREACH (cpu, set) {
		top = (int)cpu;
	}
	if (len < 4) {
		if (len > 0) {
			buf[0] = '\0';
		}
		return buf;
	}
	buf[off++] = '0';
	buf[off++] = 'x';
	if (top < 0) {
		buf[off++] = '0';
	}
	for (nibble = top < 0 ? -1 : top / 4; nibble >= 0 && off < len - 1; nibble--) {
		int v = 0, k;

		for (k = 0; k < 4; k++) {
			v |= keel_cpuset_get(set, (uint32_t)(nibble * 4 + k)) << k;
		}
		buf[off++] = hex[v];
	}
	buf[off] = '\0';
	return buf;
}
