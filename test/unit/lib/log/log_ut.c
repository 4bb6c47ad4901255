/*
 * Unit tests of the logging library: levels and their names, the component flag registry,
 * and the exact line format written to stderr, also from several threads at once.
 */
#include "keel/stdinc.h"
#include "ut.h"

#include "log/log.c"

#include <pthread.h>
#include <regex.h>

KEEL_LOG_REGISTER_COMPONENT(ut_comp)

static int g_saved_stderr = -1;
static FILE *g_capture;

/* Send fd 2 to a temporary file until capture_end(). */
static void
capture_begin(void)
{
	fflush(stderr);
	g_capture = tmpfile();
	CU_ASSERT_FATAL(g_capture != NULL);
	g_saved_stderr = dup(STDERR_FILENO);
	CU_ASSERT_FATAL(g_saved_stderr >= 0);
	CU_ASSERT_FATAL(dup2(fileno(g_capture), STDERR_FILENO) == STDERR_FILENO);
}

/* Restore fd 2 and return what was written (malloc'd, NUL-terminated). */
static char *
capture_end(void)
{
	char *text;
	long len;

	fflush(stderr);
	CU_ASSERT_FATAL(dup2(g_saved_stderr, STDERR_FILENO) == STDERR_FILENO);
	close(g_saved_stderr);
	g_saved_stderr = -1;
	len = ftell(g_capture);
	CU_ASSERT_FATAL(len >= 0);
	text = calloc(1, (size_t)len + 1);
	CU_ASSERT_FATAL(text != NULL);
	rewind(g_capture);
	CU_ASSERT_FATAL(fread(text, 1, (size_t)len, g_capture) == (size_t)len);
	fclose(g_capture);
	g_capture = NULL;
	return text;
}

static bool
matches(const char *text, const char *pattern)
{
	regex_t re;
	bool ok;

	CU_ASSERT_FATAL(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) == 0);
	ok = regexec(&re, text, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

static size_t
count_lines(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++) {
		n += *text == '\n';
	}
	return n;
}

static int
suite_init(void)
{
	return 0;
}

static void
defaults_are_notice(void)
{
	CU_ASSERT_EQUAL(keel_log_get_print_level(), KEEL_LOG_NOTICE);
	CU_ASSERT_EQUAL(keel_log_get_level(), KEEL_LOG_NOTICE);
}

static void
levels_are_set_and_read_back(void)
{
	keel_log_set_level(KEEL_LOG_DEBUG);
	CU_ASSERT_EQUAL(keel_log_get_level(), KEEL_LOG_DEBUG);
	keel_log_set_level(KEEL_LOG_DISABLED);
	CU_ASSERT_EQUAL(keel_log_get_level(), KEEL_LOG_DISABLED);
	keel_log_set_print_level(KEEL_LOG_ERROR);
	CU_ASSERT_EQUAL(keel_log_get_print_level(), KEEL_LOG_ERROR);
	keel_log_set_level(KEEL_LOG_NOTICE);
	keel_log_set_print_level(KEEL_LOG_NOTICE);
}

static void
level_names_round_trip_case_insensitively(void)
{
	static const char *const names[] = {"ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"};
	enum keel_log_level level;
	int i;

	for (i = KEEL_LOG_ERROR; i <= KEEL_LOG_DEBUG; i++) {
		CU_ASSERT_STRING_EQUAL(keel_log_level_name((enum keel_log_level)i), names[i]);
		level = KEEL_LOG_DISABLED;
		CU_ASSERT_EQUAL(keel_log_level_from_name(names[i], &level), 0);
		CU_ASSERT_EQUAL(level, i);
	}
	CU_ASSERT_EQUAL(keel_log_level_from_name("warn", &level), 0);
	CU_ASSERT_EQUAL(level, KEEL_LOG_WARN);
	CU_ASSERT_EQUAL(keel_log_level_from_name("Debug", &level), 0);
	CU_ASSERT_EQUAL(level, KEEL_LOG_DEBUG);
	CU_ASSERT_EQUAL(keel_log_level_from_name("error", &level), 0);
	CU_ASSERT_EQUAL(level, KEEL_LOG_ERROR);
}

static void
unknown_level_names_are_rejected(void)
{
	enum keel_log_level level = KEEL_LOG_INFO;

	CU_ASSERT_EQUAL(keel_log_level_from_name("VERBOSE", &level), -EINVAL);
	CU_ASSERT_EQUAL(keel_log_level_from_name("", &level), -EINVAL);
	CU_ASSERT_EQUAL(keel_log_level_from_name("ERRORS", &level), -EINVAL);
	CU_ASSERT_EQUAL(keel_log_level_from_name(NULL, &level), -EINVAL);
	CU_ASSERT_EQUAL(level, KEEL_LOG_INFO);
	CU_ASSERT_STRING_EQUAL(keel_log_level_name(KEEL_LOG_DISABLED), "DISABLED");
	CU_ASSERT_EQUAL(keel_log_level_from_name("DISABLED", &level), -EINVAL);
	CU_ASSERT_PTR_NULL(keel_log_level_name((enum keel_log_level)5));
}

static void
registered_component_flag_starts_off_and_toggles(void)
{
	CU_ASSERT_FALSE(keel_log_flag_ut_comp.enabled);
	CU_ASSERT_FALSE(keel_log_get_flag("ut_comp"));
	CU_ASSERT_EQUAL(keel_log_set_flag("ut_comp"), 0);
	CU_ASSERT_TRUE(keel_log_flag_ut_comp.enabled);
	CU_ASSERT_TRUE(keel_log_get_flag("ut_comp"));
	CU_ASSERT_EQUAL(keel_log_clear_flag("ut_comp"), 0);
	CU_ASSERT_FALSE(keel_log_get_flag("ut_comp"));
}

static void
unknown_flag_is_enoent(void)
{
	CU_ASSERT_EQUAL(keel_log_set_flag("no_such_component"), -ENOENT);
	CU_ASSERT_EQUAL(keel_log_clear_flag("no_such_component"), -ENOENT);
	CU_ASSERT_FALSE(keel_log_get_flag("no_such_component"));
	CU_ASSERT_EQUAL(keel_log_set_flag(NULL), -EINVAL);
}

/* Two files registering the same component name each own a flag struct. */
static struct keel_log_flag g_dup_a = {.name = "dup"};
static struct keel_log_flag g_dup_b = {.name = "dup"};
static struct keel_log_flag g_alpha = {.name = "alpha"};
static struct keel_log_flag g_zeta = {.name = "zeta"};

static void
same_name_flags_are_set_and_cleared_together(void)
{
	keel_log_register_flag(&g_dup_a);
	keel_log_register_flag(&g_dup_b);
	CU_ASSERT_EQUAL(keel_log_set_flag("dup"), 0);
	CU_ASSERT_TRUE(g_dup_a.enabled);
	CU_ASSERT_TRUE(g_dup_b.enabled);
	CU_ASSERT_EQUAL(keel_log_clear_flag("dup"), 0);
	CU_ASSERT_FALSE(g_dup_a.enabled);
	CU_ASSERT_FALSE(g_dup_b.enabled);
}

static void
late_registered_flag_follows_its_namesakes(void)
{
	static struct keel_log_flag late = {.name = "dup"};

	CU_ASSERT_EQUAL(keel_log_set_flag("dup"), 0);
	keel_log_register_flag(&late);
	CU_ASSERT_TRUE(late.enabled);
	/* Registering the same struct twice must not corrupt the list. */
	keel_log_register_flag(&late);
	CU_ASSERT_EQUAL(keel_log_clear_flag("dup"), 0);
	CU_ASSERT_FALSE(late.enabled);
	CU_ASSERT_FALSE(g_dup_a.enabled);
}

static void
all_sets_and_clears_every_flag(void)
{
	keel_log_register_flag(&g_alpha);
	keel_log_register_flag(&g_zeta);
	CU_ASSERT_EQUAL(keel_log_set_flag("all"), 0);
	CU_ASSERT_TRUE(g_alpha.enabled);
	CU_ASSERT_TRUE(g_zeta.enabled);
	CU_ASSERT_TRUE(g_dup_a.enabled);
	CU_ASSERT_TRUE(g_dup_b.enabled);
	CU_ASSERT_TRUE(keel_log_flag_ut_comp.enabled);
	CU_ASSERT_EQUAL(keel_log_clear_flag("all"), 0);
	CU_ASSERT_FALSE(g_alpha.enabled);
	CU_ASSERT_FALSE(g_zeta.enabled);
	CU_ASSERT_FALSE(g_dup_b.enabled);
	CU_ASSERT_FALSE(keel_log_flag_ut_comp.enabled);
}

struct flag_walk {
	char names[16][32];
	int count;
};

static void
collect_flag(const struct keel_log_flag *flag, void *ctx)
{
	struct flag_walk *walk = ctx;

	if (walk->count < 16) {
		snprintf(walk->names[walk->count], sizeof(walk->names[0]), "%s", flag->name);
	}
	walk->count++;
}

static int
walk_count(const struct flag_walk *walk, const char *name)
{
	int i, n = 0;

	for (i = 0; i < walk->count && i < 16; i++) {
		n += strcmp(walk->names[i], name) == 0;
	}
	return n;
}

static void
for_each_flag_reports_each_name_once_in_order(void)
{
	struct flag_walk walk = {0};
	int i;

	keel_log_register_flag(&g_zeta);
	keel_log_register_flag(&g_dup_b);
	keel_log_register_flag(&g_alpha);
	keel_log_register_flag(&g_dup_a);
	keel_log_for_each_flag(collect_flag, &walk);
	/* Libraries linked into the test may register flags of their own. */
	CU_ASSERT_FATAL(walk.count >= 4 && walk.count <= 16);
	CU_ASSERT_EQUAL(walk_count(&walk, "alpha"), 1);
	CU_ASSERT_EQUAL(walk_count(&walk, "dup"), 1);
	CU_ASSERT_EQUAL(walk_count(&walk, "ut_comp"), 1);
	CU_ASSERT_EQUAL(walk_count(&walk, "zeta"), 1);
	for (i = 1; i < walk.count; i++) {
		CU_ASSERT(strcasecmp(walk.names[i - 1], walk.names[i]) < 0);
	}
}

static void
facility_names_are_parsed(void)
{
	int fac = -1;

	CU_ASSERT_EQUAL(keel_log_facility_from_name("local0", &fac), 0);
	CU_ASSERT_EQUAL(fac, LOG_LOCAL0);
	CU_ASSERT_EQUAL(keel_log_facility_from_name("LOCAL7", &fac), 0);
	CU_ASSERT_EQUAL(fac, LOG_LOCAL7);
	CU_ASSERT_EQUAL(keel_log_facility_from_name("daemon", &fac), 0);
	CU_ASSERT_EQUAL(fac, LOG_DAEMON);
	CU_ASSERT_EQUAL(keel_log_facility_from_name("user", &fac), 0);
	CU_ASSERT_EQUAL(fac, LOG_USER);
	CU_ASSERT_EQUAL(keel_log_facility_from_name("local8", &fac), -EINVAL);
	CU_ASSERT_EQUAL(keel_log_facility_from_name("kern", &fac), -EINVAL);
	CU_ASSERT_EQUAL(keel_log_facility_from_name(NULL, &fac), -EINVAL);
	CU_ASSERT_EQUAL(fac, LOG_USER);
}

static void
stderr_line_has_timestamp_location_and_level(void)
{
	char *text;
	int line;
	char pattern[256];

	capture_begin();
	line = __LINE__ + 1;
	KEEL_ERRLOG("disk %s failed: %d\n", "d0", 42);
	text = capture_end();
	snprintf(pattern, sizeof(pattern),
		 "^\\[[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}\\] "
		 "log_ut\\.c:%d:stderr_line_has_timestamp_location_and_level: "
		 "\\*ERROR\\*: disk d0 failed: 42\n$",
		 line);
	CU_ASSERT_TRUE(matches(text, pattern));
	free(text);
}

static void
each_level_has_its_tag(void)
{
	char *text;

	keel_log_set_print_level(KEEL_LOG_DEBUG);
	keel_log_set_flag("ut_comp");
	capture_begin();
	KEEL_ERRLOG("e\n");
	KEEL_WARNLOG("w\n");
	KEEL_NOTICELOG("n\n");
	KEEL_INFOLOG(ut_comp, "i\n");
	KEEL_DEBUGLOG(ut_comp, "d\n");
	text = capture_end();
	keel_log_clear_flag("ut_comp");
	keel_log_set_print_level(KEEL_LOG_NOTICE);
	CU_ASSERT_TRUE(matches(text, "\\*ERROR\\*: e\n"));
	CU_ASSERT_TRUE(matches(text, "\\*WARNING\\*: w\n"));
	CU_ASSERT_TRUE(matches(text, "\\*NOTICE\\*: n\n"));
	CU_ASSERT_TRUE(matches(text, "\\*INFO\\*: i\n"));
#ifdef DEBUG
	CU_ASSERT_EQUAL(count_lines(text), 5);
	CU_ASSERT_TRUE(matches(text, "\\*DEBUG\\*: d\n"));
#else
	/* Release builds compile debug messages out. */
	CU_ASSERT_EQUAL(count_lines(text), 4);
	CU_ASSERT_FALSE(matches(text, "\\*DEBUG\\*"));
#endif
	free(text);
}

static void
messages_below_print_level_are_not_printed(void)
{
	char *text;

	keel_log_set_flag("ut_comp");
	capture_begin();
	KEEL_INFOLOG(ut_comp, "hidden info\n");
	keel_log(KEEL_LOG_DEBUG, __FILE__, __LINE__, __func__, "hidden debug\n");
	keel_log_set_print_level(KEEL_LOG_ERROR);
	KEEL_WARNLOG("hidden warning\n");
	KEEL_ERRLOG("shown\n");
	keel_log_set_print_level(KEEL_LOG_DISABLED);
	KEEL_ERRLOG("hidden error\n");
	text = capture_end();
	keel_log_set_print_level(KEEL_LOG_NOTICE);
	keel_log_clear_flag("ut_comp");
	CU_ASSERT_EQUAL(count_lines(text), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "shown"));
	CU_ASSERT_PTR_NULL(strstr(text, "hidden"));
	free(text);
}

static void
info_of_a_disabled_component_is_not_printed(void)
{
	char *text;

	keel_log_set_print_level(KEEL_LOG_DEBUG);
	capture_begin();
	KEEL_INFOLOG(ut_comp, "quiet\n");
	text = capture_end();
	keel_log_set_print_level(KEEL_LOG_NOTICE);
	CU_ASSERT_STRING_EQUAL(text, "");
	free(text);
}

static void
missing_newline_is_added_and_path_is_reduced_to_basename(void)
{
	char *text;

	capture_begin();
	keel_log(KEEL_LOG_WARN, "lib/some/dir/file.c", 7, "fn", "no newline");
	keel_log(KEEL_LOG_WARN, "bare.c", 8, "fn", "%s", "");
	text = capture_end();
	CU_ASSERT_TRUE(matches(text, "\\] file\\.c:7:fn: \\*WARNING\\*: no newline\n"));
	CU_ASSERT_TRUE(matches(text, "\\] bare\\.c:8:fn: \\*WARNING\\*: \n$"));
	CU_ASSERT_EQUAL(count_lines(text), 2);
	free(text);
}

static void
long_message_is_printed_whole(void)
{
	size_t n = 10000;
	char *msg, *text;

	msg = malloc(n + 1);
	CU_ASSERT_FATAL(msg != NULL);
	memset(msg, 'x', n);
	msg[n] = '\0';
	capture_begin();
	KEEL_ERRLOG("<%s>\n", msg);
	text = capture_end();
	CU_ASSERT_EQUAL(count_lines(text), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "*ERROR*: <"));
	CU_ASSERT_PTR_NOT_NULL(strchr(text, '<'));
	if (strchr(text, '<') != NULL) {
		CU_ASSERT_EQUAL(strlen(strchr(text, '<')), n + 3);
	}
	free(msg);
	free(text);
}

#define THREADS 4
#define MSGS_PER_THREAD 500

static void *
log_thread(void *arg)
{
	int id = (int)(intptr_t)arg, i;

	for (i = 0; i < MSGS_PER_THREAD; i++) {
		KEEL_ERRLOG("thread %d message %d %s\n", id, i,
			    "padding-padding-padding-padding-padding-padding-padding-padding");
	}
	return NULL;
}

static void
lines_from_concurrent_threads_do_not_interleave(void)
{
	pthread_t threads[THREADS];
	char *text, *line, *save = NULL;
	size_t good = 0;
	regex_t re;
	int i;

	capture_begin();
	for (i = 0; i < THREADS; i++) {
		CU_ASSERT_FATAL(
			pthread_create(&threads[i], NULL, log_thread, (void *)(intptr_t)i) == 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(threads[i], NULL);
	}
	text = capture_end();
	CU_ASSERT_EQUAL(count_lines(text), THREADS * MSGS_PER_THREAD);
	CU_ASSERT_FATAL(
		regcomp(&re,
			"^\\[[0-9-]{10} [0-9:]{8}\\.[0-9]{6}\\] log_ut\\.c:[0-9]+:log_thread: "
			"\\*ERROR\\*: thread [0-9] message [0-9]+ (padding-){7}padding$",
			REG_EXTENDED | REG_NOSUB) == 0);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		good += regexec(&re, line, 0, NULL, 0) == 0;
	}
	regfree(&re);
	CU_ASSERT_EQUAL(good, THREADS * MSGS_PER_THREAD);
	free(text);
}

static void
syslog_can_be_opened_and_closed(void)
{
	char *text;

	/* Nothing is logged while open, so the test leaves no trace in the system log. */
	capture_begin();
	keel_log_open_syslog("local7");
	CU_ASSERT_TRUE(g_syslog_open);
	keel_log_close_syslog();
	CU_ASSERT_FALSE(g_syslog_open);
	keel_log_close_syslog();
	keel_log_open_syslog("bogus");
	keel_log_close_syslog();
	text = capture_end();
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "*WARNING*: unknown syslog facility 'bogus'"));
	free(text);
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(defaults_are_notice),
		KEEL_UT_TEST(levels_are_set_and_read_back),
		KEEL_UT_TEST(level_names_round_trip_case_insensitively),
		KEEL_UT_TEST(unknown_level_names_are_rejected),
		KEEL_UT_TEST(registered_component_flag_starts_off_and_toggles),
		KEEL_UT_TEST(unknown_flag_is_enoent),
		KEEL_UT_TEST(same_name_flags_are_set_and_cleared_together),
		KEEL_UT_TEST(late_registered_flag_follows_its_namesakes),
		KEEL_UT_TEST(all_sets_and_clears_every_flag),
		KEEL_UT_TEST(for_each_flag_reports_each_name_once_in_order),
		KEEL_UT_TEST(facility_names_are_parsed),
		KEEL_UT_TEST(stderr_line_has_timestamp_location_and_level),
		KEEL_UT_TEST(each_level_has_its_tag),
		KEEL_UT_TEST(messages_below_print_level_are_not_printed),
		KEEL_UT_TEST(info_of_a_disabled_component_is_not_printed),
		KEEL_UT_TEST(missing_newline_is_added_and_path_is_reduced_to_basename),
		KEEL_UT_TEST(long_message_is_printed_whole),
		KEEL_UT_TEST(lines_from_concurrent_threads_do_not_interleave),
		KEEL_UT_TEST(syslog_can_be_opened_and_closed),
	};

	return keel_ut_run("log", tests, KEEL_COUNTOF(tests), suite_init, NULL);
}
