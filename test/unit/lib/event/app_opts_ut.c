/*
 * Unit tests of lib/event/app_opts.c: every common option lands in struct keel_app_opts, an
 * application's own options reach its callback, and every bad option or value fails the parse
 * with exactly one line on stderr that names it; -h and -v print and return HELP.
 */
#include "keel/stdinc.h"
#include "ut.h"

#include "event/app_opts.c"

KEEL_LOG_REGISTER_COMPONENT(ut_opts_flag)

#define OUT_MAX 16384

static char g_err[OUT_MAX];
static char g_out[OUT_MAX];

/* Read what was written to a temporary file that replaced fd, and put fd back. */
static void
capture_end(FILE *tmp, int fd, int saved, char *buf)
{
	size_t n;

	dup2(saved, fd);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, OUT_MAX - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
}

/*
 * Parse argv (NULL-terminated, without the program name) into opts, with stdout and stderr
 * captured in g_out and g_err.
 */
static int
parse_ext(struct keel_app_opts *opts, const char *const *args, const char *app_getopt,
	  const struct option *app_long, int (*app_parse)(int ch, char *arg),
	  void (*app_usage)(void))
{
	char *argv[64];
	FILE *out, *err;
	int argc = 0, rc, saved_out, saved_err;

	argv[argc++] = "ut_prog";
	while (*args != NULL && argc < 63) {
		argv[argc++] = (char *)*args++;
	}
	argv[argc] = NULL;
	out = tmpfile();
	err = tmpfile();
	CU_ASSERT_FATAL(out != NULL && err != NULL);
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(STDOUT_FILENO);
	saved_err = dup(STDERR_FILENO);
	dup2(fileno(out), STDOUT_FILENO);
	dup2(fileno(err), STDERR_FILENO);
	rc = keel_app_parse_args(argc, argv, opts, app_getopt, app_long, app_parse, app_usage);
	fflush(stdout);
	fflush(stderr);
	capture_end(out, STDOUT_FILENO, saved_out, g_out);
	capture_end(err, STDERR_FILENO, saved_err, g_err);
	return rc;
}

static int
parse(struct keel_app_opts *opts, const char *const *args)
{
	keel_app_opts_init(opts);
	opts->name = "ut_prog";
	return parse_ext(opts, args, NULL, NULL, NULL, NULL);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++) {
		n += *s == '\n';
	}
	return n;
}

/* The parse must fail with one line on stderr that contains what. */
static void
expect_fail(const char *const *args, const char *what)
{
	struct keel_app_opts opts;
	int rc;

	rc = parse(&opts, args);
	if (rc != KEEL_APP_PARSE_ARGS_FAIL || count_lines(g_err) != 1 ||
	    strstr(g_err, what) == NULL || strchr(g_err, '\n') != g_err + strlen(g_err) - 1 ||
	    g_out[0] != '\0') {
		CU_FAIL("bad argument not reported as expected");
		fprintf(stderr, "args starting '%s': rc %d, stderr '%s', stdout '%s', want '%s'\n",
			args[0], rc, g_err, g_out, what);
	}
}

/* The parse must succeed silently. */
static void
expect_ok(struct keel_app_opts *opts, const char *const *args)
{
	int rc = parse(opts, args);

	if (rc != KEEL_APP_PARSE_ARGS_SUCCESS || g_err[0] != '\0' || g_out[0] != '\0') {
		CU_FAIL("good arguments not accepted silently");
		fprintf(stderr, "args starting '%s': rc %d, stderr '%s'\n", args[0], rc, g_err);
	}
}

static void
opts_init_sets_the_defaults(void)
{
	struct keel_app_opts opts;

	memset(&opts, 0x5a, sizeof(opts));
	keel_app_opts_init(&opts);
	CU_ASSERT(strcmp(opts.name, "keel") == 0);
	CU_ASSERT(strcmp(opts.rpc_addr, KEEL_DEFAULT_RPC_ADDR) == 0);
	CU_ASSERT(opts.shm_id == -1);
	CU_ASSERT(opts.main_core == UINT32_MAX);
	CU_ASSERT(opts.enable_coredump);
	CU_ASSERT(opts.print_level == KEEL_LOG_NOTICE);
	CU_ASSERT(opts.config_file == NULL && opts.json_config_file == NULL);
	CU_ASSERT(opts.reactor_mask == NULL && opts.hugedir == NULL && opts.iova_mode == NULL);
	CU_ASSERT(!opts.no_pci && !opts.no_huge && !opts.wait_for_rpc && !opts.interrupt_mode);
	CU_ASSERT(!opts.mask_given && !opts.shm_id_given && !opts.no_pci_given);
	CU_ASSERT(opts.mem_size_mb == 0 && opts.msg_mempool_size == 0);
}

static void
no_arguments_leave_the_defaults(void)
{
	struct keel_app_opts opts, defaults;
	char *argv[] = {"ut_prog", NULL};

	keel_app_opts_init(&defaults);
	expect_ok(&opts, (const char *const[]){NULL});
	CU_ASSERT(opts.shm_id == defaults.shm_id && opts.main_core == defaults.main_core);
	CU_ASSERT(opts.reactor_mask == NULL && !opts.mask_given);
	/* argc 1 straight, without the helper. */
	keel_app_opts_init(&opts);
	CU_ASSERT(keel_app_parse_args(1, argv, &opts, NULL, NULL, NULL, NULL) ==
		  KEEL_APP_PARSE_ARGS_SUCCESS);
}

static char g_file[64];

static int
suite_init(void)
{
	int fd;

	snprintf(g_file, sizeof(g_file), "/tmp/keel_app_opts_ut.XXXXXX");
	fd = mkstemp(g_file);
	if (fd < 0) {
		return 1;
	}
	close(fd);
	return 0;
}

static int
suite_fini(void)
{
	unlink(g_file);
	return 0;
}

static void
config_files_are_taken_when_readable(void)
{
	struct keel_app_opts opts;

	expect_ok(&opts, ARGS("-c", g_file));
	CU_ASSERT(opts.config_file != NULL && strcmp(opts.config_file, g_file) == 0);
	expect_ok(&opts, ARGS("--config", g_file, "--json", g_file, "--json-ignore-init-errors"));
	CU_ASSERT(opts.config_file != NULL && strcmp(opts.config_file, g_file) == 0);
	CU_ASSERT(opts.json_config_file != NULL && strcmp(opts.json_config_file, g_file) == 0);
	CU_ASSERT(opts.json_config_ignore_errors);
	expect_ok(&opts, ARGS("--json=/dev/null"));
	CU_ASSERT(opts.json_config_file != NULL && strcmp(opts.json_config_file, "/dev/null") == 0);
	CU_ASSERT(!opts.json_config_ignore_errors);
}

static void
unreadable_config_files_are_named(void)
{
	expect_fail(ARGS("-c", "/nonexistent/iscsi.conf"), "/nonexistent/iscsi.conf");
	expect_fail(ARGS("--config=/nonexistent/a.conf"), "/nonexistent/a.conf");
	expect_fail(ARGS("--json", "/nonexistent/config.json"), "/nonexistent/config.json");
}

static void
core_mask_accepts_hex_and_lists_of_existing_cores(void)
{
	struct keel_app_opts opts;

	expect_ok(&opts, ARGS("-m", "0x1"));
	CU_ASSERT(opts.reactor_mask != NULL && strcmp(opts.reactor_mask, "0x1") == 0);
	CU_ASSERT(opts.mask_given);
	expect_ok(&opts, ARGS("--cpumask", "[0]"));
	CU_ASSERT(opts.reactor_mask != NULL && strcmp(opts.reactor_mask, "[0]") == 0);
	CU_ASSERT(opts.mask_given);
	expect_ok(&opts, ARGS("--cpumask=1"));
	CU_ASSERT(opts.mask_given);
}

static void
bad_core_masks_are_named(void)
{
	expect_fail(ARGS("-m", "0x0"), "0x0");
	expect_fail(ARGS("-m", "zz"), "zz");
	expect_fail(ARGS("-m", "[0,"), "[0,");
	expect_fail(ARGS("-m", ""), "''");
	/* A core this machine lacks. */
	expect_fail(ARGS("-m", "[1000]"), "[1000]");
	expect_fail(ARGS("--cpumask", "0x8000000000000000"), "0x8000000000000000");
}

static void
numeric_options_parse_into_their_fields(void)
{
	struct keel_app_opts opts;

	expect_ok(&opts, ARGS("-i", "5", "-p", "0", "-s", "1024", "--msg-mempool-size", "4096"));
	CU_ASSERT(opts.shm_id == 5 && opts.shm_id_given);
	CU_ASSERT(opts.main_core == 0);
	CU_ASSERT(opts.mem_size_mb == 1024);
	CU_ASSERT(opts.msg_mempool_size == 4096);
	expect_ok(&opts, ARGS("--shm-id=0", "--main-core", "3", "--mem-size", "2G"));
	CU_ASSERT(opts.shm_id == 0 && opts.shm_id_given);
	CU_ASSERT(opts.main_core == 3);
	CU_ASSERT(opts.mem_size_mb == 2048);
	expect_ok(&opts, ARGS("--master-core", "1", "-s", "512MB"));
	CU_ASSERT(opts.main_core == 1);
	CU_ASSERT(opts.mem_size_mb == 512);
	expect_ok(&opts, ARGS("-s", "256M"));
	CU_ASSERT(opts.mem_size_mb == 256);
	expect_ok(&opts, ARGS("-s", "1g"));
	CU_ASSERT(opts.mem_size_mb == 1024);
}

static void
bad_numbers_are_named(void)
{
	expect_fail(ARGS("-i", "-1"), "'-1'");
	expect_fail(ARGS("-i", "abc"), "abc");
	expect_fail(ARGS("--shm-id", "2147483648"), "2147483648");
	expect_fail(ARGS("-p", "x"), "'x'");
	expect_fail(ARGS("-p", "1024"), "1024");
	expect_fail(ARGS("--main-core", "-1"), "'-1'");
	expect_fail(ARGS("-s", "0"), "'0'");
	expect_fail(ARGS("-s", "abc"), "abc");
	expect_fail(ARGS("-s", "1T"), "1T");
	expect_fail(ARGS("-s", "-1"), "'-1'");
	expect_fail(ARGS("-s", "12 M"), "12 M");
	expect_fail(ARGS("-s", "4294967296"), "4294967296");
	expect_fail(ARGS("-s", "5000000G"), "5000000G");
	expect_fail(ARGS("-s", "99999999999999999999"), "99999999999999999999");
	/* 2^54 + 1 gigabytes: must not wrap around to 1024 MB. */
	expect_fail(ARGS("-s", "18014398509481985G"), "18014398509481985G");
	expect_fail(ARGS("--msg-mempool-size", "100"), "100");
	expect_fail(ARGS("--msg-mempool-size", "many"), "many");
}

static void
rpc_socket_path_is_taken_or_turned_off(void)
{
	struct keel_app_opts opts;

	expect_ok(&opts, ARGS("-r", "/tmp/ut.sock"));
	CU_ASSERT(opts.rpc_addr != NULL && strcmp(opts.rpc_addr, "/tmp/ut.sock") == 0);
	expect_ok(&opts, ARGS("--rpc-socket=/var/tmp/x.sock"));
	CU_ASSERT(opts.rpc_addr != NULL && strcmp(opts.rpc_addr, "/var/tmp/x.sock") == 0);
	expect_ok(&opts, ARGS("--no-rpc-server"));
	CU_ASSERT(opts.rpc_addr == NULL);
}

static void
bad_rpc_socket_paths_are_named(void)
{
	char longpath[200];

	memset(longpath, 'a', sizeof(longpath));
	longpath[0] = '/';
	longpath[108] = '\0';
	expect_fail(ARGS("-r", ""), "''");
	expect_fail(ARGS("-r", longpath), longpath);
	/* 107 bytes is the most a Unix socket path holds. */
	longpath[107] = '\0';
	{
		struct keel_app_opts opts;

		expect_ok(&opts, ARGS("-r", longpath));
	}
}

static void
flags_set_their_fields(void)
{
	struct keel_app_opts opts;

	expect_ok(&opts, ARGS("-u", "-d", "--no-huge", "--wait-for-rpc", "--interrupt-mode"));
	CU_ASSERT(opts.no_pci && opts.no_pci_given);
	CU_ASSERT(!opts.enable_coredump);
	CU_ASSERT(opts.no_huge);
	CU_ASSERT(opts.wait_for_rpc);
	CU_ASSERT(opts.interrupt_mode);
	expect_ok(&opts, ARGS("--no-pci", "--limit-coredump"));
	CU_ASSERT(opts.no_pci && opts.no_pci_given);
	CU_ASSERT(!opts.enable_coredump);
	CU_ASSERT(!opts.no_huge && !opts.wait_for_rpc && !opts.interrupt_mode);
	/* Grouped short flags. */
	expect_ok(&opts, ARGS("-ud"));
	CU_ASSERT(opts.no_pci && !opts.enable_coredump);
}

static void
memory_options_take_their_values(void)
{
	struct keel_app_opts opts;

	expect_ok(&opts, ARGS("--huge-dir", "/dev/hugepages", "--iova-mode", "pa"));
	CU_ASSERT(opts.hugedir != NULL && strcmp(opts.hugedir, "/dev/hugepages") == 0);
	CU_ASSERT(opts.iova_mode != NULL && strcmp(opts.iova_mode, "pa") == 0);
	expect_ok(&opts, ARGS("--iova-mode=va"));
	CU_ASSERT(opts.iova_mode != NULL && strcmp(opts.iova_mode, "va") == 0);
	expect_fail(ARGS("--iova-mode", "vp"), "vp");
	expect_fail(ARGS("--iova-mode", "PA"), "PA");
}

static void
log_options_set_levels_flags_and_syslog(void)
{
	struct keel_app_opts opts;

	CU_ASSERT(!keel_log_get_flag("ut_opts_flag"));
	expect_ok(&opts, ARGS("-L", "ut_opts_flag"));
	CU_ASSERT(keel_log_get_flag("ut_opts_flag"));
	keel_log_clear_flag("ut_opts_flag");
	expect_ok(&opts, ARGS("--logflag=ut_opts_flag"));
	CU_ASSERT(keel_log_get_flag("ut_opts_flag"));
	keel_log_clear_flag("ut_opts_flag");
	expect_ok(&opts, ARGS("--print-level", "DEBUG"));
	CU_ASSERT(opts.print_level == KEEL_LOG_DEBUG);
	expect_ok(&opts, ARGS("--print-level", "ERROR"));
	CU_ASSERT(opts.print_level == KEEL_LOG_ERROR);
	expect_ok(&opts, ARGS("--silence-noticelog"));
	CU_ASSERT(opts.print_level == KEEL_LOG_WARN);
	expect_ok(&opts, ARGS("--syslog", "local0"));
	CU_ASSERT(opts.syslog_facility != NULL && strcmp(opts.syslog_facility, "local0") == 0);
	expect_ok(&opts, ARGS("--syslog=daemon"));
	CU_ASSERT(opts.syslog_facility != NULL && strcmp(opts.syslog_facility, "daemon") == 0);
}

static void
bad_log_values_are_named(void)
{
	expect_fail(ARGS("-L", "ut_no_such_flag"), "ut_no_such_flag");
	expect_fail(ARGS("--print-level", "loud"), "loud");
	expect_fail(ARGS("--syslog", "local9"), "local9");
	CU_ASSERT(!keel_log_get_flag("ut_opts_flag"));
}

static void
compatibility_options_are_accepted_without_effect(void)
{
	struct keel_app_opts opts, defaults;

	keel_app_opts_init(&defaults);
	expect_ok(&opts, ARGS("-g", "-n", "4", "-R", "--disable-cpumask-locks",
			      "--single-file-segments", "--mem-channels=2", "--huge-unlink"));
	CU_ASSERT(opts.shm_id == defaults.shm_id && opts.mem_size_mb == defaults.mem_size_mb);
	CU_ASSERT(!opts.no_huge && !opts.no_pci);
	expect_ok(&opts,
		  ARGS("-A", "0000:01:00.0", "-B", "0000:02:00.0", "-W", "0000:03:00.0",
		       "--pci-allowed=0000:04:00.0", "--pci-blocked", "0000:05:00.0",
		       "--pci-blacklist", "0000:06:00.0", "--pci-whitelist", "0000:07:00.0"));
	expect_ok(&opts, ARGS("-e", "0xffff"));
	CU_ASSERT(opts.tpoint_group_mask != NULL && strcmp(opts.tpoint_group_mask, "0xffff") == 0);
	expect_ok(&opts, ARGS("--tpoint-group", "all"));
	CU_ASSERT(opts.tpoint_group_mask != NULL && strcmp(opts.tpoint_group_mask, "all") == 0);
	expect_ok(&opts, ARGS("--tpoint-group-mask=0x1"));
	CU_ASSERT(opts.tpoint_group_mask != NULL && strcmp(opts.tpoint_group_mask, "0x1") == 0);
}

static void
unknown_options_and_stray_arguments_are_named(void)
{
	expect_fail(ARGS("-Z"), "-Z");
	expect_fail(ARGS("-uZ"), "-Z");
	expect_fail(ARGS("--no-such-option"), "--no-such-option");
	expect_fail(ARGS("--no-such-option=1"), "--no-such-option");
	expect_fail(ARGS("stray"), "stray");
	expect_fail(ARGS("-u", "stray", "-d"), "stray");
	expect_fail(ARGS("--no-huge", "-Zu"), "'-Z'");
	expect_fail(ARGS("--no-huge", "stray", "-Zu"), "'-Z'");
	/* An abbreviation that fits several long options. */
	expect_fail(ARGS("--no"), "'--no'");
	/* A flag given a value. */
	expect_fail(ARGS("--no-huge=1"), "--no-huge");
	expect_fail(ARGS("--no-pci=yes"), "--no-pci");
}

static void
missing_values_are_named(void)
{
	expect_fail(ARGS("-m"), "-m");
	expect_fail(ARGS("-u", "-c"), "-c");
	expect_fail(ARGS("-um"), "'-m'");
	expect_fail(ARGS("--json"), "--json");
	expect_fail(ARGS("--cpumask"), "--cpumask");
	expect_fail(ARGS("--print-level"), "--print-level");
}

static int g_app_usage_calls;

static void
app_usage(void)
{
	g_app_usage_calls++;
	printf(" -X <n>                     the application's own option\n");
}

static void
help_prints_usage_with_the_app_lines_and_returns_help(void)
{
	struct keel_app_opts opts;
	int rc;

	keel_app_opts_init(&opts);
	opts.name = "ut_prog";
	g_app_usage_calls = 0;
	rc = parse_ext(&opts, ARGS("-h"), "X:", NULL, NULL, app_usage);
	CU_ASSERT(rc == KEEL_APP_PARSE_ARGS_HELP);
	CU_ASSERT(g_app_usage_calls == 1);
	CU_ASSERT(strstr(g_out, "ut_prog [options]") != NULL);
	CU_ASSERT(strstr(g_out, "--cpumask") != NULL);
	CU_ASSERT(strstr(g_out, "the application's own option") != NULL);
	CU_ASSERT(g_err[0] == '\0');
	/* --help wins even after other options, and without app lines. */
	keel_app_opts_init(&opts);
	rc = parse_ext(&opts, ARGS("-u", "--help", "-Z"), NULL, NULL, NULL, NULL);
	CU_ASSERT(rc == KEEL_APP_PARSE_ARGS_HELP);
	CU_ASSERT(strstr(g_out, "--rpc-socket") != NULL);
	CU_ASSERT(g_err[0] == '\0');
}

static void
version_prints_the_version_and_returns_help(void)
{
	struct keel_app_opts opts;

	keel_app_opts_init(&opts);
	CU_ASSERT(parse_ext(&opts, ARGS("-v"), NULL, NULL, NULL, NULL) == KEEL_APP_PARSE_ARGS_HELP);
	CU_ASSERT(strcmp(g_out, KEEL_VERSION_STRING "\n") == 0);
	CU_ASSERT(g_err[0] == '\0');
	CU_ASSERT(parse_ext(&opts, ARGS("--version"), NULL, NULL, NULL, NULL) ==
		  KEEL_APP_PARSE_ARGS_HELP);
	CU_ASSERT(strcmp(g_out, KEEL_VERSION_STRING "\n") == 0);
}

static void
help_in_a_group_does_not_disturb_the_next_parse(void)
{
	struct keel_app_opts opts;

	/* -h returns with "u" of the group still unread; the next parse must start afresh. */
	CU_ASSERT(parse(&opts, ARGS("-hu")) == KEEL_APP_PARSE_ARGS_HELP);
	expect_ok(&opts, ARGS("-d"));
	CU_ASSERT(!opts.no_pci);
	CU_ASSERT(!opts.enable_coredump);
	/* Likewise after a failure in the middle of a group. */
	expect_fail(ARGS("-Zu"), "-Z");
	expect_ok(&opts, ARGS("-d"));
	CU_ASSERT(!opts.no_pci);
}

static int g_app_x;
static char g_app_y[32];
static int g_app_calls;

static int
app_parse(int ch, char *arg)
{
	g_app_calls++;
	switch (ch) {
	case 'X':
		if (strcmp(arg, "bad") == 0) {
			fprintf(stderr, "ut_prog: invalid -X value '%s'\n", arg);
			return -EINVAL;
		}
		g_app_x = atoi(arg);
		return 0;
	case 1000:
		keel_strlcpy(g_app_y, arg, sizeof(g_app_y));
		return 0;
	default:
		return -EINVAL;
	}
}

static void
application_options_reach_the_application(void)
{
	static const struct option app_long[] = {
		{"app-y", required_argument, NULL, 1000},
		{NULL, 0, NULL, 0},
	};
	struct keel_app_opts opts;
	int rc;

	keel_app_opts_init(&opts);
	g_app_calls = 0;
	rc = parse_ext(&opts, ARGS("-X", "7", "-u", "--app-y", "why", "-m", "0x1"), "X:", app_long,
		       app_parse, NULL);
	CU_ASSERT(rc == KEEL_APP_PARSE_ARGS_SUCCESS);
	CU_ASSERT(g_app_calls == 2);
	CU_ASSERT(g_app_x == 7);
	CU_ASSERT(strcmp(g_app_y, "why") == 0);
	CU_ASSERT(opts.no_pci && opts.mask_given);
	CU_ASSERT(g_err[0] == '\0');
	/* The application rejects a value: the parse fails with its one line. */
	keel_app_opts_init(&opts);
	rc = parse_ext(&opts, ARGS("-X", "bad"), "X:", app_long, app_parse, NULL);
	CU_ASSERT(rc == KEEL_APP_PARSE_ARGS_FAIL);
	CU_ASSERT(count_lines(g_err) == 1 && strstr(g_err, "bad") != NULL);
	/* Its options are unknown to an application that does not declare them. */
	keel_app_opts_init(&opts);
	rc = parse_ext(&opts, ARGS("-X", "7"), NULL, NULL, NULL, NULL);
	CU_ASSERT(rc == KEEL_APP_PARSE_ARGS_FAIL);
	CU_ASSERT(count_lines(g_err) == 1 && strstr(g_err, "-X") != NULL);
	/* Missing value of an application option. */
	keel_app_opts_init(&opts);
	rc = parse_ext(&opts, ARGS("--app-y"), "X:", app_long, app_parse, NULL);
	CU_ASSERT(rc == KEEL_APP_PARSE_ARGS_FAIL);
	CU_ASSERT(count_lines(g_err) == 1 && strstr(g_err, "--app-y") != NULL);
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(opts_init_sets_the_defaults),
		KEEL_UT_TEST(no_arguments_leave_the_defaults),
		KEEL_UT_TEST(config_files_are_taken_when_readable),
		KEEL_UT_TEST(unreadable_config_files_are_named),
		KEEL_UT_TEST(core_mask_accepts_hex_and_lists_of_existing_cores),
		KEEL_UT_TEST(bad_core_masks_are_named),
		KEEL_UT_TEST(numeric_options_parse_into_their_fields),
		KEEL_UT_TEST(bad_numbers_are_named),
		KEEL_UT_TEST(rpc_socket_path_is_taken_or_turned_off),
		KEEL_UT_TEST(bad_rpc_socket_paths_are_named),
		KEEL_UT_TEST(flags_set_their_fields),
		KEEL_UT_TEST(memory_options_take_their_values),
		KEEL_UT_TEST(log_options_set_levels_flags_and_syslog),
		KEEL_UT_TEST(bad_log_values_are_named),
		KEEL_UT_TEST(compatibility_options_are_accepted_without_effect),
		KEEL_UT_TEST(unknown_options_and_stray_arguments_are_named),
		KEEL_UT_TEST(missing_values_are_named),
		KEEL_UT_TEST(help_prints_usage_with_the_app_lines_and_returns_help),
		KEEL_UT_TEST(version_prints_the_version_and_returns_help),
		KEEL_UT_TEST(help_in_a_group_does_not_disturb_the_next_parse),
		KEEL_UT_TEST(application_options_reach_the_application),
	};

	return keel_ut_run("app_opts", tests, KEEL_COUNTOF(tests), suite_init, suite_fini);
}
