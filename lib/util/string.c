/*
 * Strict number parsing and small string helpers shared by the option, configuration and RPC
 * parsers.
 */
#include "keel/stdinc.h"
#include "keel/util.h"

static const char *
skip_space(const char *s)
{
	while (isspace((unsigned char)*s)) {
		s++;
	}
	return s;
}

/* The rest after a number must be blanks only. */
static bool
only_space(const char *s)
{
	return *skip_space(s) == '\0';
}

static int
hex_digit(int c)
{
	if (isdigit(c)) {
		return c - '0';
	}
	if (isxdigit(c)) {
		return tolower(c) - 'a' + 10;
	}
	return -1;
}

/*
 * Parsed by hand rather than with strtoull(), which would accept a sign, a second "0x" or an
 * empty number in places this strict syntax does not allow.
 */
int
keel_parse_u64(const char *str, uint64_t *val)
{
	unsigned int base = 10;
	const char *s;
	uint64_t v = 0;
	int d;

	if (str == NULL) {
		return -EINVAL;
	}
	s = skip_space(str);
	if (*s == '+') {
		s++;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	d = hex_digit((unsigned char)*s);
	if (d < 0 || (unsigned int)d >= base) {
		return -EINVAL;
	}
	while ((d = hex_digit((unsigned char)*s)) >= 0 && (unsigned int)d < base) {
		if (v > (UINT64_MAX - (uint64_t)d) / base) {
			/* Still a number: report the range, unless trailing garbage follows. */
			while ((d = hex_digit((unsigned char)*s)) >= 0 && (unsigned int)d < base) {
				s++;
			}
			return only_space(s) ? -ERANGE : -EINVAL;
		}
		v = v * base + (uint64_t)d;
		s++;
	}
	if (!only_space(s)) {
		return -EINVAL;
	}
	*val = v;
	return 0;
}

int
keel_parse_u32(const char *str, uint32_t *val)
{
	uint64_t v;
	int rc = keel_parse_u64(str, &v);

	if (rc != 0) {
		return rc;
	}
	if (v > UINT32_MAX) {
		return -ERANGE;
	}
	*val = (uint32_t)v;
	return 0;
}

int
keel_parse_i64(const char *str, int64_t *val)
{
	const char *s;
	bool neg = false;
	uint64_t u;
	int rc;

	if (str == NULL) {
		return -EINVAL;
	}
	s = skip_space(str);
	if (*s == '-') {
		neg = true;
		s++;
	} else if (*s == '+') {
		s++;
	}
	if (!isdigit((unsigned char)*s)) {
		return -EINVAL;
	}
	rc = keel_parse_u64(s, &u);
	if (rc != 0) {
		return rc;
	}
	if (neg) {
		if (u > (uint64_t)INT64_MAX + 1) {
			return -ERANGE;
		}
		*val = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
	} else {
		if (u > INT64_MAX) {
			return -ERANGE;
		}
		*val = (int64_t)u;
	}
	return 0;
}

int
keel_parse_bool(const char *str, bool *val)
{
	static const char *const yes[] = {"yes", "true", "1", "on"};
	static const char *const no[] = {"no", "false", "0", "off"};
	char buf[16];
	size_t i;

	if (str == NULL) {
		return -EINVAL;
	}
	if (keel_strlcpy(buf, skip_space(str), sizeof(buf)) >= sizeof(buf)) {
		/* Trailing blanks may still make it fit; anything longer is not a boolean. */
		if (!only_space(skip_space(str) + sizeof(buf) - 1)) {
			return -EINVAL;
		}
	}
	keel_strstrip(buf);
	for (i = 0; i < KEEL_COUNTOF(yes); i++) {
		if (strcasecmp(buf, yes[i]) == 0) {
			*val = true;
			return 0;
		}
		if (strcasecmp(buf, no[i]) == 0) {
			*val = false;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
keel_strerror(int errnum)
{
	static __thread char buf[128];

	if (errnum < 0) {
		errnum = -errnum;
	}
	return strerror_r(errnum, buf, sizeof(buf));
}

size_t
keel_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

char *
keel_strstrip(char *str)
{
	char *end;

	if (str == NULL) {
		return NULL;
	}
	str = (char *)skip_space(str);
	end = str + strlen(str);
	while (end > str && isspace((unsigned char)end[-1])) {
		end--;
	}
	*end = '\0';
	return str;
}

char *
keel_sprintf_alloc(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&s, fmt, ap);
	va_end(ap);
	return rc < 0 ? NULL : s;
}
