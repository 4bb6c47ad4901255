/*
 * Unit tests of the util library: CPU set operations and core mask parsing, strict number
 * and boolean parsing, and the string helpers.
 */
#include "keel/stdinc.h"
#include "ut.h"

#include "util/cpuset.c"
#include "util/string.c"

#include <pthread.h>

static void
cpuset_set_get_count_and_clear(void)
{
	struct keel_cpuset set;

	keel_cpuset_zero(&set);
	CU_ASSERT_EQUAL(keel_cpuset_count(&set), 0);
	keel_cpuset_set(&set, 0, true);
	keel_cpuset_set(&set, 63, true);
	keel_cpuset_set(&set, 64, true);
	keel_cpuset_set(&set, KEEL_CPUSET_SIZE - 1, true);
	CU_ASSERT_EQUAL(keel_cpuset_count(&set), 4);
	CU_ASSERT_TRUE(keel_cpuset_get(&set, 63));
	CU_ASSERT_TRUE(keel_cpuset_get(&set, KEEL_CPUSET_SIZE - 1));
	CU_ASSERT_FALSE(keel_cpuset_get(&set, 1));
	keel_cpuset_set(&set, 63, false);
	CU_ASSERT_FALSE(keel_cpuset_get(&set, 63));
	CU_ASSERT_EQUAL(keel_cpuset_count(&set), 3);
}

static void
cpuset_out_of_range_cpu_is_ignored(void)
{
	struct keel_cpuset set, empty;

	keel_cpuset_zero(&set);
	keel_cpuset_zero(&empty);
	keel_cpuset_set(&set, KEEL_CPUSET_SIZE, true);
	keel_cpuset_set(&set, UINT32_MAX, true);
	CU_ASSERT_TRUE(keel_cpuset_equal(&set, &empty));
	CU_ASSERT_FALSE(keel_cpuset_get(&set, KEEL_CPUSET_SIZE));
	CU_ASSERT_FALSE(keel_cpuset_get(&set, UINT32_MAX));
}

static void
cpuset_and_or_equal(void)
{
	struct keel_cpuset a, b, c;

	keel_cpuset_zero(&a);
	keel_cpuset_zero(&b);
	keel_cpuset_set(&a, 1, true);
	keel_cpuset_set(&a, 2, true);
	keel_cpuset_set(&b, 2, true);
	keel_cpuset_set(&b, 700, true);
	c = a;
	CU_ASSERT_TRUE(keel_cpuset_equal(&a, &c));
	CU_ASSERT_FALSE(keel_cpuset_equal(&a, &b));
	keel_cpuset_or(&c, &b);
	CU_ASSERT_EQUAL(keel_cpuset_count(&c), 3);
	CU_ASSERT_TRUE(keel_cpuset_get(&c, 700));
	keel_cpuset_and(&c, &a);
	CU_ASSERT_TRUE(keel_cpuset_equal(&c, &a));
	keel_cpuset_and(&c, &b);
	CU_ASSERT_EQUAL(keel_cpuset_count(&c), 1);
	CU_ASSERT_TRUE(keel_cpuset_get(&c, 2));
}

static void
cpuset_next_and_foreach_visit_cpus_in_order(void)
{
	static const uint32_t cpus[] = {0, 5, 63, 64, 128, 1000, KEEL_CPUSET_SIZE - 1};
	struct keel_cpuset set;
	uint32_t cpu;
	size_t i = 0;

	keel_cpuset_zero(&set);
	CU_ASSERT_EQUAL(keel_cpuset_next(&set, 0), UINT32_MAX);
	for (i = 0; i < KEEL_COUNTOF(cpus); i++) {
		keel_cpuset_set(&set, cpus[i], true);
	}
	i = 0;
	KEEL_CPUSET_FOREACH (cpu, &set) {
		CU_ASSERT_FATAL(i < KEEL_COUNTOF(cpus));
		CU_ASSERT_EQUAL(cpu, cpus[i]);
		i++;
	}
	CU_ASSERT_EQUAL(i, KEEL_COUNTOF(cpus));
	CU_ASSERT_EQUAL(keel_cpuset_next(&set, 6), 63);
	CU_ASSERT_EQUAL(keel_cpuset_next(&set, 65), 128);
	CU_ASSERT_EQUAL(keel_cpuset_next(&set, KEEL_CPUSET_SIZE), UINT32_MAX);
	CU_ASSERT_EQUAL(keel_cpuset_next(&set, UINT32_MAX), UINT32_MAX);
}

/* Parse str and compare with the list of cpus (terminated by UINT32_MAX). */
static bool
parses_to(const char *str, const uint32_t *cpus)
{
	struct keel_cpuset set, want;

	keel_cpuset_zero(&want);
	for (; *cpus != UINT32_MAX; cpus++) {
		keel_cpuset_set(&want, *cpus, true);
	}
	if (keel_cpuset_parse(&set, str) != 0) {
		return false;
	}
	return keel_cpuset_equal(&set, &want);
}

static void
cpuset_parse_accepts_hex_masks(void)
{
	CU_ASSERT_TRUE(parses_to("0x3", (const uint32_t[]){0, 1, UINT32_MAX}));
	CU_ASSERT_TRUE(parses_to("3", (const uint32_t[]){0, 1, UINT32_MAX}));
	CU_ASSERT_TRUE(parses_to("0X3", (const uint32_t[]){0, 1, UINT32_MAX}));
	CU_ASSERT_TRUE(parses_to("F000000", (const uint32_t[]){24, 25, 26, 27, UINT32_MAX}));
	CU_ASSERT_TRUE(parses_to("0xf000000", (const uint32_t[]){24, 25, 26, 27, UINT32_MAX}));
	CU_ASSERT_TRUE(parses_to("0xA", (const uint32_t[]){1, 3, UINT32_MAX}));
	CU_ASSERT_TRUE(parses_to(" 0x1 ", (const uint32_t[]){0, UINT32_MAX}));
	CU_ASSERT_TRUE(parses_to("0x10000000000000000", (const uint32_t[]){64, UINT32_MAX}));
	CU_ASSERT_TRUE(parses_to("000001", (const uint32_t[]){0, UINT32_MAX}));
}

static void
cpuset_parse_accepts_lists(void)
{
	CU_ASSERT_TRUE(parses_to("[0,2-3]", (const uint32_t[]){0, 2, 3, UINT32_MAX}));
	CU_ASSERT_TRUE(parses_to("0,2-3", (const uint32_t[]){0, 2, 3, UINT32_MAX}));
	CU_ASSERT_TRUE(parses_to("[5]", (const uint32_t[]){5, UINT32_MAX}));
	CU_ASSERT_TRUE(parses_to("[ 1 , 3 - 4 ]", (const uint32_t[]){1, 3, 4, UINT32_MAX}));
	CU_ASSERT_TRUE(parses_to("[2-2]", (const uint32_t[]){2, UINT32_MAX}));
	CU_ASSERT_TRUE(parses_to("[1023]", (const uint32_t[]){1023, UINT32_MAX}));
	CU_ASSERT_TRUE(parses_to("1,1,1", (const uint32_t[]){1, UINT32_MAX}));
}

static void
cpuset_parse_of_full_range_sets_every_cpu(void)
{
	struct keel_cpuset set;

	CU_ASSERT_EQUAL(keel_cpuset_parse(&set, "[0-1023]"), 0);
	CU_ASSERT_EQUAL(keel_cpuset_count(&set), KEEL_CPUSET_SIZE);
}

static void
cpuset_parse_rejects_malformed_input(void)
{
	static const char *const bad[] = {
		"",     "   ",  "0x",  "0x0",   "0",    "[]",   "[ ]",    "000",   "xyz",
		"0xg",  "0x3z", "[0",  "0]",    "[0,]", "[,0]", "[0,,1]", "[3-1]", "3-1",
		"[1-]", "[-1]", "[a]", "[[0]]", "0x-1", "-1",   "[0 1]",  "[0]x",  "1 2",
	};
	struct keel_cpuset set, orig;
	size_t i;

	keel_cpuset_zero(&orig);
	keel_cpuset_set(&orig, 9, true);
	for (i = 0; i < KEEL_COUNTOF(bad); i++) {
		set = orig;
		if (keel_cpuset_parse(&set, bad[i]) != -EINVAL) {
			CU_FAIL("malformed core mask accepted");
			fprintf(stderr, "accepted: '%s'\n", bad[i]);
		}
		CU_ASSERT_TRUE(keel_cpuset_equal(&set, &orig));
	}
	CU_ASSERT_EQUAL(keel_cpuset_parse(&set, NULL), -EINVAL);
}

static void
cpuset_parse_rejects_cores_out_of_range(void)
{
	struct keel_cpuset set;
	char mask[300];

	CU_ASSERT_EQUAL(keel_cpuset_parse(&set, "[1024]"), -ERANGE);
	CU_ASSERT_EQUAL(keel_cpuset_parse(&set, "[0-1024]"), -ERANGE);
	CU_ASSERT_EQUAL(keel_cpuset_parse(&set, "0,99999999999999999999"), -ERANGE);
	/* 0x1 followed by 256 zero nibbles is core 1024. */
	snprintf(mask, sizeof(mask), "0x1%0256d", 0);
	CU_ASSERT_EQUAL(keel_cpuset_parse(&set, mask), -ERANGE);
	/* 0x8 followed by 255 zero nibbles is core 1023, the last one. */
	snprintf(mask, sizeof(mask), "0x8%0255d", 0);
	CU_ASSERT_EQUAL(keel_cpuset_parse(&set, mask), 0);
	CU_ASSERT_TRUE(keel_cpuset_get(&set, 1023));
	CU_ASSERT_EQUAL(keel_cpuset_count(&set), 1);
	/* Leading zeros beyond the last core are harmless. */
	snprintf(mask, sizeof(mask), "0x%0280d", 1);
	CU_ASSERT_EQUAL(keel_cpuset_parse(&set, mask), 0);
	CU_ASSERT_EQUAL(keel_cpuset_count(&set), 1);
}

static void
cpuset_fmt_prints_a_hex_mask(void)
{
	struct keel_cpuset set;
	char buf[KEEL_CPUSET_SIZE / 4 + 3], small[5];

	keel_cpuset_zero(&set);
	CU_ASSERT_STRING_EQUAL(keel_cpuset_fmt(&set, buf, sizeof(buf)), "0x0");
	keel_cpuset_set(&set, 0, true);
	keel_cpuset_set(&set, 1, true);
	CU_ASSERT_STRING_EQUAL(keel_cpuset_fmt(&set, buf, sizeof(buf)), "0x3");
	CU_ASSERT_EQUAL(keel_cpuset_parse(&set, "[24-27]"), 0);
	CU_ASSERT_STRING_EQUAL(keel_cpuset_fmt(&set, buf, sizeof(buf)), "0xf000000");
	CU_ASSERT_EQUAL(keel_cpuset_parse(&set, "[0,1023]"), 0);
	keel_cpuset_fmt(&set, buf, sizeof(buf));
	CU_ASSERT_EQUAL(strlen(buf), KEEL_CPUSET_SIZE / 4 + 2);
	CU_ASSERT_EQUAL(strncmp(buf, "0x8000", 6), 0);
	CU_ASSERT_EQUAL(buf[strlen(buf) - 1], '1');
	/* Round trip. */
	{
		struct keel_cpuset back;

		CU_ASSERT_EQUAL(keel_cpuset_parse(&back, buf), 0);
		CU_ASSERT_TRUE(keel_cpuset_equal(&back, &set));
	}
	/* A short buffer stays NUL-terminated. */
	keel_cpuset_fmt(&set, small, sizeof(small));
	CU_ASSERT_EQUAL(strlen(small), sizeof(small) - 1);
}

static void
parse_u64_accepts_decimal_and_hex(void)
{
	uint64_t v = 0;

	CU_ASSERT_EQUAL(keel_parse_u64("0", &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(keel_parse_u64("12345", &v), 0);
	CU_ASSERT_EQUAL(v, 12345);
	CU_ASSERT_EQUAL(keel_parse_u64("010", &v), 0);
	CU_ASSERT_EQUAL(v, 10);
	CU_ASSERT_EQUAL(keel_parse_u64("0x1F", &v), 0);
	CU_ASSERT_EQUAL(v, 31);
	CU_ASSERT_EQUAL(keel_parse_u64("0Xff", &v), 0);
	CU_ASSERT_EQUAL(v, 255);
	CU_ASSERT_EQUAL(keel_parse_u64("  42\t\n", &v), 0);
	CU_ASSERT_EQUAL(v, 42);
	CU_ASSERT_EQUAL(keel_parse_u64("+7", &v), 0);
	CU_ASSERT_EQUAL(v, 7);
	CU_ASSERT_EQUAL(keel_parse_u64("18446744073709551615", &v), 0);
	CU_ASSERT_EQUAL(v, UINT64_MAX);
	CU_ASSERT_EQUAL(keel_parse_u64("0xffffffffffffffff", &v), 0);
	CU_ASSERT_EQUAL(v, UINT64_MAX);
}

static void
parse_u64_rejects_non_numbers(void)
{
	static const char *const bad[] = {
		"",    " ", "abc", "12abc", "1 2", "0x", "0xg",   "0x0x5", "-1",  "-0",
		"--1", "+", "+-1", "1.5",   "1e3", "ff", "0b101", " 0x ",  "x10", "12 a",
	};
	uint64_t v = 77;
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(bad); i++) {
		if (keel_parse_u64(bad[i], &v) != -EINVAL) {
			CU_FAIL("non-number accepted");
			fprintf(stderr, "accepted: '%s'\n", bad[i]);
		}
	}
	CU_ASSERT_EQUAL(keel_parse_u64(NULL, &v), -EINVAL);
	CU_ASSERT_EQUAL(v, 77);
}

static void
parse_u64_overflow_is_erange(void)
{
	uint64_t v = 77;

	CU_ASSERT_EQUAL(keel_parse_u64("18446744073709551616", &v), -ERANGE);
	CU_ASSERT_EQUAL(keel_parse_u64("99999999999999999999999", &v), -ERANGE);
	CU_ASSERT_EQUAL(keel_parse_u64("0x10000000000000000", &v), -ERANGE);
	CU_ASSERT_EQUAL(keel_parse_u64("99999999999999999999999x", &v), -EINVAL);
	CU_ASSERT_EQUAL(v, 77);
}

static void
parse_u32_checks_its_range(void)
{
	uint32_t v = 77;

	CU_ASSERT_EQUAL(keel_parse_u32("4294967295", &v), 0);
	CU_ASSERT_EQUAL(v, UINT32_MAX);
	CU_ASSERT_EQUAL(keel_parse_u32("0x10", &v), 0);
	CU_ASSERT_EQUAL(v, 16);
	v = 77;
	CU_ASSERT_EQUAL(keel_parse_u32("4294967296", &v), -ERANGE);
	CU_ASSERT_EQUAL(keel_parse_u32("0x100000000", &v), -ERANGE);
	CU_ASSERT_EQUAL(keel_parse_u32("-1", &v), -EINVAL);
	CU_ASSERT_EQUAL(keel_parse_u32("1k", &v), -EINVAL);
	CU_ASSERT_EQUAL(v, 77);
}

static void
parse_i64_accepts_signs_and_limits(void)
{
	int64_t v = 0;

	CU_ASSERT_EQUAL(keel_parse_i64("-5", &v), 0);
	CU_ASSERT_EQUAL(v, -5);
	CU_ASSERT_EQUAL(keel_parse_i64(" +5 ", &v), 0);
	CU_ASSERT_EQUAL(v, 5);
	CU_ASSERT_EQUAL(keel_parse_i64("-0x10", &v), 0);
	CU_ASSERT_EQUAL(v, -16);
	CU_ASSERT_EQUAL(keel_parse_i64("9223372036854775807", &v), 0);
	CU_ASSERT_EQUAL(v, INT64_MAX);
	CU_ASSERT_EQUAL(keel_parse_i64("-9223372036854775808", &v), 0);
	CU_ASSERT_EQUAL(v, INT64_MIN);
	CU_ASSERT_EQUAL(keel_parse_i64("-0", &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	v = 77;
	CU_ASSERT_EQUAL(keel_parse_i64("9223372036854775808", &v), -ERANGE);
	CU_ASSERT_EQUAL(keel_parse_i64("-9223372036854775809", &v), -ERANGE);
	CU_ASSERT_EQUAL(keel_parse_i64("-99999999999999999999", &v), -ERANGE);
	CU_ASSERT_EQUAL(keel_parse_i64("--5", &v), -EINVAL);
	CU_ASSERT_EQUAL(keel_parse_i64("-+5", &v), -EINVAL);
	CU_ASSERT_EQUAL(keel_parse_i64("- 5", &v), -EINVAL);
	CU_ASSERT_EQUAL(keel_parse_i64("", &v), -EINVAL);
	CU_ASSERT_EQUAL(keel_parse_i64("-", &v), -EINVAL);
	CU_ASSERT_EQUAL(keel_parse_i64("5-", &v), -EINVAL);
	CU_ASSERT_EQUAL(keel_parse_i64(NULL, &v), -EINVAL);
	CU_ASSERT_EQUAL(v, 77);
}

static void
parse_bool_accepts_the_documented_words(void)
{
	static const char *const yes[] = {"Yes", "YES", "true", "TRUE", "1", "on", "On", " yes "};
	static const char *const no[] = {"No", "no", "false", "False", "0", "off", "OFF", "\tno\n"};
	size_t i;
	bool v;

	for (i = 0; i < KEEL_COUNTOF(yes); i++) {
		v = false;
		CU_ASSERT_EQUAL(keel_parse_bool(yes[i], &v), 0);
		CU_ASSERT_TRUE(v);
	}
	for (i = 0; i < KEEL_COUNTOF(no); i++) {
		v = true;
		CU_ASSERT_EQUAL(keel_parse_bool(no[i], &v), 0);
		CU_ASSERT_FALSE(v);
	}
	CU_ASSERT_EQUAL(keel_parse_bool("yes                                ", &v), 0);
	CU_ASSERT_TRUE(v);
}

static void
parse_bool_rejects_other_words(void)
{
	static const char *const bad[] = {"",     "maybe",  "2",  "yess",
					  "y es", "enable", "-1", "yes                        x"};
	bool v = true;
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(bad); i++) {
		CU_ASSERT_EQUAL(keel_parse_bool(bad[i], &v), -EINVAL);
	}
	CU_ASSERT_EQUAL(keel_parse_bool(NULL, &v), -EINVAL);
	CU_ASSERT_TRUE(v);
}

static void
strerror_describes_positive_and_negative_errnos(void)
{
	CU_ASSERT_STRING_EQUAL(keel_strerror(ENOENT), strerror(ENOENT));
	CU_ASSERT_STRING_EQUAL(keel_strerror(-EINVAL), strerror(EINVAL));
	CU_ASSERT_PTR_NOT_NULL(keel_strerror(123456));
	CU_ASSERT_PTR_NOT_NULL(strstr(keel_strerror(123456), "123456"));
}

struct strerror_ctx {
	int errnum;
	int mismatches;
};

static void *
strerror_thread(void *arg)
{
	struct strerror_ctx *ctx = arg;
	char want[128];
	int i;

	snprintf(want, sizeof(want), "%s", strerror(ctx->errnum));
	for (i = 0; i < 20000; i++) {
		/* Unknown errnos are formatted into the buffer, so each thread's text differs. */
		const char *s = keel_strerror(ctx->errnum);

		ctx->mismatches += strcmp(s, want) != 0;
	}
	return NULL;
}

static void
strerror_is_thread_safe(void)
{
	struct strerror_ctx ctx[2] = {{100001, 0}, {200002, 0}};
	pthread_t t[2];
	int i;

	for (i = 0; i < 2; i++) {
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, strerror_thread, &ctx[i]) == 0);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		CU_ASSERT_EQUAL(ctx[i].mismatches, 0);
	}
}

static void
strlcpy_truncates_and_terminates(void)
{
	char buf[6];

	memset(buf, 'z', sizeof(buf));
	CU_ASSERT_EQUAL(keel_strlcpy(buf, "abc", sizeof(buf)), 3);
	CU_ASSERT_STRING_EQUAL(buf, "abc");
	CU_ASSERT_EQUAL(keel_strlcpy(buf, "abcdefgh", sizeof(buf)), 8);
	CU_ASSERT_STRING_EQUAL(buf, "abcde");
	CU_ASSERT_EQUAL(keel_strlcpy(buf, "abcde", sizeof(buf)), 5);
	CU_ASSERT_STRING_EQUAL(buf, "abcde");
	CU_ASSERT_EQUAL(keel_strlcpy(buf, "", sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "");
	buf[0] = 'q';
	CU_ASSERT_EQUAL(keel_strlcpy(buf, "xyz", 0), 3);
	CU_ASSERT_EQUAL(buf[0], 'q');
	CU_ASSERT_EQUAL(keel_strlcpy(buf, "xyz", 1), 3);
	CU_ASSERT_STRING_EQUAL(buf, "");
}

static void
strstrip_removes_blanks_at_both_ends(void)
{
	char a[] = "  \t hello world \n ", b[] = "plain", c[] = "   ", d[] = "";
	char *s;

	s = keel_strstrip(a);
	CU_ASSERT_STRING_EQUAL(s, "hello world");
	CU_ASSERT_PTR_EQUAL(s, a + 4);
	s = keel_strstrip(b);
	CU_ASSERT_STRING_EQUAL(s, "plain");
	CU_ASSERT_PTR_EQUAL(s, b);
	CU_ASSERT_STRING_EQUAL(keel_strstrip(c), "");
	CU_ASSERT_STRING_EQUAL(keel_strstrip(d), "");
	CU_ASSERT_PTR_NULL(keel_strstrip(NULL));
}

static void
sprintf_alloc_formats_into_new_memory(void)
{
	char *s, *big;

	s = keel_sprintf_alloc("%s-%d-%#x", "tgt", 7, 255);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s, "tgt-7-0xff");
	free(s);
	s = keel_sprintf_alloc("%s", "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s, "");
	free(s);
	big = calloc(1, 5001);
	CU_ASSERT_FATAL(big != NULL);
	memset(big, 'a', 5000);
	s = keel_sprintf_alloc("[%s]", big);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(strlen(s), 5002);
	free(s);
	free(big);
}

static void
big_endian_accessors_round_trip(void)
{
	uint8_t b[8];

	keel_to_be16(b, 0x1234);
	CU_ASSERT(b[0] == 0x12 && b[1] == 0x34);
	CU_ASSERT_EQUAL(keel_from_be16(b), 0x1234);
	keel_to_be24(b, 0xabcdef);
	CU_ASSERT(b[0] == 0xab && b[1] == 0xcd && b[2] == 0xef);
	CU_ASSERT_EQUAL(keel_from_be24(b), 0xabcdef);
	keel_to_be32(b, 0xdeadbeef);
	CU_ASSERT(b[0] == 0xde && b[3] == 0xef);
	CU_ASSERT_EQUAL(keel_from_be32(b), 0xdeadbeef);
	keel_to_be64(b, 0x0102030405060708ULL);
	CU_ASSERT(b[0] == 0x01 && b[7] == 0x08);
	CU_ASSERT_EQUAL(keel_from_be64(b), 0x0102030405060708ULL);
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(cpuset_set_get_count_and_clear),
		KEEL_UT_TEST(cpuset_out_of_range_cpu_is_ignored),
		KEEL_UT_TEST(cpuset_and_or_equal),
		KEEL_UT_TEST(cpuset_next_and_foreach_visit_cpus_in_order),
		KEEL_UT_TEST(cpuset_parse_accepts_hex_masks),
		KEEL_UT_TEST(cpuset_parse_accepts_lists),
		KEEL_UT_TEST(cpuset_parse_of_full_range_sets_every_cpu),
		KEEL_UT_TEST(cpuset_parse_rejects_malformed_input),
		KEEL_UT_TEST(cpuset_parse_rejects_cores_out_of_range),
		KEEL_UT_TEST(cpuset_fmt_prints_a_hex_mask),
		KEEL_UT_TEST(parse_u64_accepts_decimal_and_hex),
		KEEL_UT_TEST(parse_u64_rejects_non_numbers),
		KEEL_UT_TEST(parse_u64_overflow_is_erange),
		KEEL_UT_TEST(parse_u32_checks_its_range),
		KEEL_UT_TEST(parse_i64_accepts_signs_and_limits),
		KEEL_UT_TEST(parse_bool_accepts_the_documented_words),
		KEEL_UT_TEST(parse_bool_rejects_other_words),
		KEEL_UT_TEST(strerror_describes_positive_and_negative_errnos),
		KEEL_UT_TEST(strerror_is_thread_safe),
		KEEL_UT_TEST(strlcpy_truncates_and_terminates),
		KEEL_UT_TEST(strstrip_removes_blanks_at_both_ends),
		KEEL_UT_TEST(sprintf_alloc_formats_into_new_memory),
		KEEL_UT_TEST(big_endian_accessors_round_trip),
	};

	return keel_ut_run("util", tests, KEEL_COUNTOF(tests), NULL, NULL);
}
