/*
 * Unit tests of the legacy INI configuration parser: sections and their numbers, items and
 * quoted values, comments, continuation lines, the getters, and each syntax error with the
 * file and line it reports.
 */
#include "keel/stdinc.h"
#include "ut.h"

#include "conf/conf.c"

/* A missing value fails the test instead of crashing it in strcmp(). */
#define ASSERT_STR_EQ(actual, expected)                                                            \
	do {                                                                                       \
		const char *ut_actual = (actual);                                                  \
		CU_ASSERT_PTR_NOT_NULL(ut_actual);                                                 \
		if (ut_actual != NULL) {                                                           \
			CU_ASSERT_STRING_EQUAL(ut_actual, expected);                               \
		}                                                                                  \
	} while (0)

static int g_saved_stderr = -1;
static FILE *g_capture;

/* Send fd 2 to a temporary file until capture_end(), to check the error messages. */
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

static struct keel_conf *
parse_ok(const char *text)
{
	struct keel_conf *conf = keel_conf_create();

	CU_ASSERT_FATAL(conf != NULL);
	CU_ASSERT_EQUAL_FATAL(keel_conf_parse(conf, text, strlen(text), "test.conf"), 0);
	return conf;
}

/*
 * Parse text that must fail with -EINVAL and an error naming "bad.conf:LINE: message";
 * the configuration must be left empty.
 */
static void
expect_error(const char *text, size_t len, int line, const char *message)
{
	struct keel_conf *conf = keel_conf_create();
	char want[256], *out;
	int rc;

	CU_ASSERT_FATAL(conf != NULL);
	capture_begin();
	rc = keel_conf_parse(conf, text, len, "bad.conf");
	out = capture_end();
	CU_ASSERT_EQUAL(rc, -EINVAL);
	snprintf(want, sizeof(want), "*ERROR*: bad.conf:%d: %s\n", line, message);
	if (strstr(out, want) == NULL) {
		CU_FAIL("error message not found");
		fprintf(stderr, "want '%s' in '%s'\n", want, out);
	}
	CU_ASSERT_PTR_NULL(keel_conf_first_section(conf));
	free(out);
	keel_conf_destroy(conf);
}

static void
empty_text_has_no_sections(void)
{
	struct keel_conf *conf = parse_ok("");

	CU_ASSERT_PTR_NULL(keel_conf_first_section(conf));
	ASSERT_STR_EQ(keel_conf_get_name(conf), "test.conf");
	keel_conf_destroy(conf);
	conf = parse_ok("\n\n   \n# only a comment\n\t# another\n");
	CU_ASSERT_PTR_NULL(keel_conf_first_section(conf));
	keel_conf_destroy(conf);
}

static void
sections_keep_file_order_names_numbers_and_lines(void)
{
	struct keel_conf *conf = parse_ok("[Global]\n"
					  "\n"
					  "  [PortalGroup1]\n"
					  "[ TargetNode12 ]  # comment\n"
					  "[iSCSI]\n");
	struct keel_conf_section *sp;

	sp = keel_conf_first_section(conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	ASSERT_STR_EQ(keel_conf_section_get_name(sp), "Global");
	CU_ASSERT_EQUAL(keel_conf_section_get_num(sp), -1);
	CU_ASSERT_EQUAL(keel_conf_section_get_line(sp), 1);
	sp = keel_conf_next_section(sp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	ASSERT_STR_EQ(keel_conf_section_get_name(sp), "PortalGroup1");
	CU_ASSERT_EQUAL(keel_conf_section_get_num(sp), 1);
	CU_ASSERT_EQUAL(keel_conf_section_get_line(sp), 3);
	sp = keel_conf_next_section(sp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	ASSERT_STR_EQ(keel_conf_section_get_name(sp), "TargetNode12");
	CU_ASSERT_EQUAL(keel_conf_section_get_num(sp), 12);
	CU_ASSERT_EQUAL(keel_conf_section_get_line(sp), 4);
	sp = keel_conf_next_section(sp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	ASSERT_STR_EQ(keel_conf_section_get_name(sp), "iSCSI");
	CU_ASSERT_EQUAL(keel_conf_section_get_num(sp), -1);
	CU_ASSERT_PTR_NULL(keel_conf_next_section(sp));
	keel_conf_destroy(conf);
}

static void
find_section_is_case_sensitive_and_prefix_match_is_not(void)
{
	struct keel_conf *conf = parse_ok("[PortalGroup1]\n[portalgroup2]\n[Global]\n");
	struct keel_conf_section *sp;

	sp = keel_conf_find_section(conf, "PortalGroup1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	CU_ASSERT_EQUAL(keel_conf_section_get_num(sp), 1);
	CU_ASSERT_PTR_NULL(keel_conf_find_section(conf, "portalgroup1"));
	CU_ASSERT_PTR_NULL(keel_conf_find_section(conf, "PortalGroup"));
	CU_ASSERT_TRUE(keel_conf_section_match_prefix(sp, "PortalGroup"));
	sp = keel_conf_find_section(conf, "portalgroup2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	CU_ASSERT_TRUE(keel_conf_section_match_prefix(sp, "PortalGroup"));
	CU_ASSERT_FALSE(keel_conf_section_match_prefix(sp, "InitiatorGroup"));
	sp = keel_conf_find_section(conf, "Global");
	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	CU_ASSERT_FALSE(keel_conf_section_match_prefix(sp, "GlobalX"));
	keel_conf_destroy(conf);
}

static void
items_split_on_blanks_and_keys_ignore_case(void)
{
	struct keel_conf *conf = parse_ok("[PortalGroup1]\n"
					  "  Portal DA1 127.0.0.1:3260\n"
					  "\tPortal   DA2\t[::1]:3261@0x3  \n"
					  "Comment\n");
	struct keel_conf_section *sp = keel_conf_first_section(conf);

	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "Portal"), "DA1");
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "portal"), "DA1");
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "PORTAL"), "DA1");
	ASSERT_STR_EQ(keel_conf_section_get_nmval(sp, "Portal", 0, 1), "127.0.0.1:3260");
	CU_ASSERT_PTR_NULL(keel_conf_section_get_nmval(sp, "Portal", 0, 2));
	ASSERT_STR_EQ(keel_conf_section_get_nval(sp, "Portal", 1), "DA2");
	ASSERT_STR_EQ(keel_conf_section_get_nmval(sp, "Portal", 1, 1), "[::1]:3261@0x3");
	CU_ASSERT_PTR_NULL(keel_conf_section_get_nval(sp, "Portal", 2));
	CU_ASSERT_PTR_NULL(keel_conf_section_get_nmval(sp, "Portal", -1, 0));
	CU_ASSERT_PTR_NULL(keel_conf_section_get_nmval(sp, "Portal", 0, -1));
	CU_ASSERT_PTR_NULL(keel_conf_section_get_val(sp, "Missing"));
	/* A key without values exists but has no value 0. */
	CU_ASSERT_PTR_NULL(keel_conf_section_get_val(sp, "Comment"));
	CU_ASSERT_EQUAL(keel_conf_section_get_item_line(sp, "Portal", 0), 2);
	CU_ASSERT_EQUAL(keel_conf_section_get_item_line(sp, "portal", 1), 3);
	CU_ASSERT_EQUAL(keel_conf_section_get_item_line(sp, "Comment", 0), 4);
	CU_ASSERT_EQUAL(keel_conf_section_get_item_line(sp, "Portal", 2), 0);
	CU_ASSERT_PTR_NULL(keel_conf_section_get_val(NULL, "Portal"));
	keel_conf_destroy(conf);
}

static void
items_iterate_in_file_order(void)
{
	struct keel_conf *conf = parse_ok("[TargetNode1]\n"
					  "TargetName disk1\n"
					  "Mapping PortalGroup1 InitiatorGroup1\n"
					  "LUN0 Malloc0\n"
					  "Mapping PortalGroup2 InitiatorGroup2\n");
	struct keel_conf_section *sp = keel_conf_first_section(conf);
	static const char *const keys[] = {"TargetName", "Mapping", "LUN0", "Mapping"};
	struct keel_conf_item *item;
	int i = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	for (item = keel_conf_section_first_item(sp); item != NULL;
	     item = keel_conf_item_next(item)) {
		CU_ASSERT_FATAL(i < 4);
		ASSERT_STR_EQ(keel_conf_item_get_key(item), keys[i]);
		CU_ASSERT_EQUAL(keel_conf_item_get_line(item), i + 2);
		i++;
	}
	CU_ASSERT_EQUAL(i, 4);
	item = keel_conf_section_first_item(sp);
	item = keel_conf_item_next(item);
	CU_ASSERT_EQUAL(keel_conf_item_get_val_count(item), 2);
	ASSERT_STR_EQ(keel_conf_item_get_val(item, 0), "PortalGroup1");
	ASSERT_STR_EQ(keel_conf_item_get_val(item, 1), "InitiatorGroup1");
	CU_ASSERT_PTR_NULL(keel_conf_item_get_val(item, 2));
	CU_ASSERT_PTR_NULL(keel_conf_item_get_val(item, -1));
	ASSERT_STR_EQ(keel_conf_section_get_nmval(sp, "mapping", 1, 0), "PortalGroup2");
	ASSERT_STR_EQ(keel_conf_section_get_nmval(sp, "mapping", 1, 1), "InitiatorGroup2");
	keel_conf_destroy(conf);
}

static void
quoted_values_keep_blanks_and_lose_quotes(void)
{
	struct keel_conf *conf = parse_ok("[TargetNode1]\n"
					  "TargetAlias \"Data Disk1\"\n"
					  "TransportID \"trtype:PCIe traddr:0000:01:00.0\" Nvme0\n"
					  "Hash \"a # not a comment\" x\n"
					  "Joined pre\"fix  mid\"post\n"
					  "Empty \"\" after\n");
	struct keel_conf_section *sp = keel_conf_first_section(conf);

	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "TargetAlias"), "Data Disk1");
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "TransportID"),
		      "trtype:PCIe traddr:0000:01:00.0");
	ASSERT_STR_EQ(keel_conf_section_get_nmval(sp, "TransportID", 0, 1), "Nvme0");
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "Hash"), "a # not a comment");
	ASSERT_STR_EQ(keel_conf_section_get_nmval(sp, "Hash", 0, 1), "x");
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "Joined"), "prefix  midpost");
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "Empty"), "");
	ASSERT_STR_EQ(keel_conf_section_get_nmval(sp, "Empty", 0, 1), "after");
	keel_conf_destroy(conf);
}

static void
comments_end_a_line_only_after_blanks(void)
{
	struct keel_conf *conf = parse_ok("# header comment\n"
					  "[Global] # trailing\n"
					  "  # indented comment\n"
					  "ReactorMask 0x3 # the cores\n"
					  "Name value#kept\n"
					  "Tab x\t#gone\n");
	struct keel_conf_section *sp = keel_conf_first_section(conf);
	struct keel_conf_item *item;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	item = keel_conf_section_first_item(sp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(item);
	ASSERT_STR_EQ(keel_conf_item_get_key(item), "ReactorMask");
	CU_ASSERT_EQUAL(keel_conf_item_get_val_count(item), 1);
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "Name"), "value#kept");
	CU_ASSERT_EQUAL(keel_conf_item_get_val_count(keel_conf_item_next(item)), 1);
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "Tab"), "x");
	CU_ASSERT_PTR_NULL(keel_conf_section_get_nmval(sp, "Tab", 0, 1));
	keel_conf_destroy(conf);
}

static void
backslash_continues_an_item_on_the_next_line(void)
{
	struct keel_conf *conf = parse_ok("[TargetNode1]\n"
					  "Mapping PortalGroup1 \\\n"
					  "        InitiatorGroup1\n"
					  "Three a\\\n"
					  "b\\\n"
					  "  c\n"
					  "After x\n"
					  "Last y \\");
	struct keel_conf_section *sp = keel_conf_first_section(conf);

	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	ASSERT_STR_EQ(keel_conf_section_get_nmval(sp, "Mapping", 0, 0), "PortalGroup1");
	ASSERT_STR_EQ(keel_conf_section_get_nmval(sp, "Mapping", 0, 1), "InitiatorGroup1");
	CU_ASSERT_EQUAL(keel_conf_section_get_item_line(sp, "Mapping", 0), 2);
	/* The line break of a continuation separates words. */
	ASSERT_STR_EQ(keel_conf_section_get_nmval(sp, "Three", 0, 0), "a");
	ASSERT_STR_EQ(keel_conf_section_get_nmval(sp, "Three", 0, 1), "b");
	ASSERT_STR_EQ(keel_conf_section_get_nmval(sp, "Three", 0, 2), "c");
	CU_ASSERT_EQUAL(keel_conf_section_get_item_line(sp, "Three", 0), 4);
	/* Line numbers after continued lines still count physical lines. */
	CU_ASSERT_EQUAL(keel_conf_section_get_item_line(sp, "After", 0), 7);
	/* A backslash on the last line has nothing to join. */
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "Last"), "y");
	keel_conf_destroy(conf);
}

static void
comment_line_ending_in_backslash_does_not_swallow_the_next(void)
{
	struct keel_conf *conf = parse_ok("[Global]\n"
					  "# old setting \\\n"
					  "Kept yes\n");
	struct keel_conf_section *sp = keel_conf_first_section(conf);

	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "Kept"), "yes");
	CU_ASSERT_EQUAL(keel_conf_section_get_item_line(sp, "Kept", 0), 3);
	keel_conf_destroy(conf);
}

static void
crlf_line_ends_are_accepted(void)
{
	struct keel_conf *conf = parse_ok("[Global]\r\nKey value\r\nNext a \\\r\n b\r\n");
	struct keel_conf_section *sp = keel_conf_first_section(conf);

	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	ASSERT_STR_EQ(keel_conf_section_get_name(sp), "Global");
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "Key"), "value");
	ASSERT_STR_EQ(keel_conf_section_get_nmval(sp, "Next", 0, 1), "b");
	keel_conf_destroy(conf);
}

static void
intval_parses_integers_of_the_first_item(void)
{
	struct keel_conf *conf = parse_ok("[iSCSI]\n"
					  "MaxSessions 128\n"
					  "MaxSessions 7\n"
					  "Mask 0x10\n"
					  "Neg -5\n"
					  "Bad 12x\n"
					  "NoValue\n");
	struct keel_conf_section *sp = keel_conf_first_section(conf);
	int64_t v = 99;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	CU_ASSERT_EQUAL(keel_conf_section_get_intval(sp, "maxsessions", &v), 0);
	CU_ASSERT_EQUAL(v, 128);
	CU_ASSERT_EQUAL(keel_conf_section_get_intval(sp, "Mask", &v), 0);
	CU_ASSERT_EQUAL(v, 16);
	CU_ASSERT_EQUAL(keel_conf_section_get_intval(sp, "Neg", &v), 0);
	CU_ASSERT_EQUAL(v, -5);
	v = 99;
	CU_ASSERT_EQUAL(keel_conf_section_get_intval(sp, "Bad", &v), -EINVAL);
	CU_ASSERT_EQUAL(keel_conf_section_get_intval(sp, "Missing", &v), -ENOENT);
	CU_ASSERT_EQUAL(keel_conf_section_get_intval(sp, "NoValue", &v), -ENOENT);
	CU_ASSERT_EQUAL(v, 99);
	keel_conf_destroy(conf);
}

static void
boolval_parses_yes_no_and_falls_back_to_default(void)
{
	struct keel_conf *conf = parse_ok("[iSCSI]\n"
					  "ImmediateData Yes\n"
					  "AllowDuplicateIsid no\n"
					  "Broken maybe\n");
	struct keel_conf_section *sp = keel_conf_first_section(conf);
	bool v;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	v = false;
	CU_ASSERT_EQUAL(keel_conf_section_get_boolval(sp, "ImmediateData", false, &v), 0);
	CU_ASSERT_TRUE(v);
	v = true;
	CU_ASSERT_EQUAL(keel_conf_section_get_boolval(sp, "allowduplicateisid", true, &v), 0);
	CU_ASSERT_FALSE(v);
	v = false;
	CU_ASSERT_EQUAL(keel_conf_section_get_boolval(sp, "Missing", true, &v), 0);
	CU_ASSERT_TRUE(v);
	CU_ASSERT_EQUAL(keel_conf_section_get_boolval(sp, "Missing", false, &v), 0);
	CU_ASSERT_FALSE(v);
	CU_ASSERT_EQUAL(keel_conf_section_get_boolval(sp, "Broken", true, &v), -EINVAL);
	keel_conf_destroy(conf);
}

static void
item_before_any_section_is_an_error(void)
{
	const char *text = "# comment\nKey value\n[Global]\n";

	expect_error(text, strlen(text), 2, "item before the first [section]");
}

static void
unterminated_quote_is_an_error(void)
{
	const char *text = "[Global]\nA 1\nTargetAlias \"Data Disk1\n[Next]\n";

	expect_error(text, strlen(text), 3, "unterminated quoted value");
}

static void
unterminated_section_header_is_an_error(void)
{
	const char *text = "[Global]\n\n\n[PortalGroup1\nPortal DA1 127.0.0.1\n";

	expect_error(text, strlen(text), 4, "section header without ']'");
}

static void
empty_section_name_is_an_error(void)
{
	const char *text = "[Global]\n[]\n";

	expect_error(text, strlen(text), 2, "empty section name");
	text = "[Global]\nA b\n[   ]\n";
	expect_error(text, strlen(text), 3, "empty section name");
}

static void
text_after_section_header_is_an_error(void)
{
	const char *text = "[Global] extra\n";

	expect_error(text, strlen(text), 1, "text after the section header");
}

static void
error_in_continued_item_names_its_first_line(void)
{
	const char *text = "[Global]\nKey \\\n \"open \\\n quote\n";

	expect_error(text, strlen(text), 2, "unterminated quoted value");
}

static void
line_longer_than_64k_is_an_error(void)
{
	size_t n = 64 * 1024 + 1;
	char *text, *p;
	struct keel_conf *conf;

	/* "[Global]\n" then a line of exactly 64 KiB (accepted) then one byte more (rejected). */
	text = malloc(9 + (n + 1) * 2 + 1);
	CU_ASSERT_FATAL(text != NULL);
	p = text;
	memcpy(p, "[Global]\n", 9);
	p += 9;
	memcpy(p, "Key ", 4);
	memset(p + 4, 'v', n - 1 - 4);
	p += n - 1;
	*p++ = '\n';
	conf = keel_conf_create();
	CU_ASSERT_FATAL(conf != NULL);
	CU_ASSERT_EQUAL(keel_conf_parse(conf, text, (size_t)(p - text), "ok.conf"), 0);
	CU_ASSERT_EQUAL(strlen(keel_conf_section_get_val(keel_conf_first_section(conf), "Key")),
			n - 1 - 4);
	keel_conf_destroy(conf);
	memcpy(p, "Key ", 4);
	memset(p + 4, 'v', n - 4);
	p += n;
	*p++ = '\n';
	expect_error(text, (size_t)(p - text), 3, "line too long");
	free(text);
}

static void
continued_line_longer_than_64k_is_an_error(void)
{
	size_t i, chunk = 1000, lines = 70;
	char *text, *p;

	text = malloc(9 + lines * (chunk + 2) + 1);
	CU_ASSERT_FATAL(text != NULL);
	p = text;
	memcpy(p, "[Global]\n", 9);
	p += 9;
	for (i = 0; i < lines; i++) {
		memset(p, 'w', chunk);
		p += chunk;
		*p++ = '\\';
		*p++ = '\n';
	}
	expect_error(text, (size_t)(p - text), 2, "line too long");
	free(text);
}

static void
nul_byte_is_an_error(void)
{
	static const char text[] = "[Global]\nKey va\0lue\n";

	expect_error(text, sizeof(text) - 1, 2, "NUL byte in the file");
}

static void
parsing_again_replaces_the_previous_content(void)
{
	struct keel_conf *conf = parse_ok("[Old]\nA 1\n");
	const char *text = "[New]\nB 2\n";

	CU_ASSERT_EQUAL(keel_conf_parse(conf, text, strlen(text), "second.conf"), 0);
	CU_ASSERT_PTR_NULL(keel_conf_find_section(conf, "Old"));
	CU_ASSERT_PTR_NOT_NULL(keel_conf_find_section(conf, "New"));
	ASSERT_STR_EQ(keel_conf_get_name(conf), "second.conf");
	keel_conf_destroy(conf);
}

static void
text_length_bounds_the_parse(void)
{
	struct keel_conf *conf = keel_conf_create();
	const char *text = "[Global]\nKey value\n[Ignored]\n";

	CU_ASSERT_FATAL(conf != NULL);
	/* Stop right after "value", without a final newline. */
	CU_ASSERT_EQUAL(keel_conf_parse(conf, text, 18, "part.conf"), 0);
	ASSERT_STR_EQ(keel_conf_section_get_val(keel_conf_first_section(conf), "Key"), "value");
	CU_ASSERT_PTR_NULL(keel_conf_find_section(conf, "Ignored"));
	keel_conf_destroy(conf);
}

static void
read_parses_a_real_file(void)
{
	char path[] = "/tmp/keel_conf_ut_XXXXXX";
	const char *text = "[Global]\n"
			   "  ReactorMask 0x1\n"
			   "[TargetNode1]\n"
			   "  TargetAlias \"Data Disk1\"\n"
			   "  Mapping PortalGroup1 \\\n"
			   "          InitiatorGroup1\n";
	struct keel_conf *conf;
	struct keel_conf_section *sp;
	int fd;

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	conf = keel_conf_create();
	CU_ASSERT_FATAL(conf != NULL);
	CU_ASSERT_EQUAL(keel_conf_read(conf, path), 0);
	ASSERT_STR_EQ(keel_conf_get_name(conf), path);
	sp = keel_conf_find_section(conf, "TargetNode1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	CU_ASSERT_EQUAL(keel_conf_section_get_num(sp), 1);
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "TargetAlias"), "Data Disk1");
	ASSERT_STR_EQ(keel_conf_section_get_nmval(sp, "Mapping", 0, 1), "InitiatorGroup1");
	sp = keel_conf_find_section(conf, "Global");
	CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
	ASSERT_STR_EQ(keel_conf_section_get_val(sp, "ReactorMask"), "0x1");
	keel_conf_destroy(conf);
	unlink(path);
}

static void
read_reports_errors_with_the_file_name(void)
{
	char path[] = "/tmp/keel_conf_ut_XXXXXX";
	const char *text = "[Global]\n\"unterminated\n";
	struct keel_conf *conf;
	char want[128], *out;
	int fd, rc;

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	conf = keel_conf_create();
	CU_ASSERT_FATAL(conf != NULL);
	capture_begin();
	rc = keel_conf_read(conf, path);
	out = capture_end();
	CU_ASSERT_EQUAL(rc, -EINVAL);
	snprintf(want, sizeof(want), "%s:2: unterminated quoted value\n", path);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	free(out);
	keel_conf_destroy(conf);
	unlink(path);
}

static void
read_of_a_missing_file_is_enoent(void)
{
	struct keel_conf *conf = keel_conf_create();
	char *out;
	int rc;

	CU_ASSERT_FATAL(conf != NULL);
	capture_begin();
	rc = keel_conf_read(conf, "/nonexistent/keel/iscsi.conf");
	out = capture_end();
	CU_ASSERT_EQUAL(rc, -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "/nonexistent/keel/iscsi.conf"));
	CU_ASSERT_PTR_NULL(keel_conf_first_section(conf));
	free(out);
	keel_conf_destroy(conf);
}

static void
default_conf_is_a_global_cleared_on_destroy(void)
{
	struct keel_conf *conf = keel_conf_create();

	CU_ASSERT_PTR_NULL(keel_conf_get_default());
	keel_conf_set_default(conf);
	CU_ASSERT_PTR_EQUAL(keel_conf_get_default(), conf);
	keel_conf_destroy(conf);
	CU_ASSERT_PTR_NULL(keel_conf_get_default());
	keel_conf_destroy(NULL);
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(empty_text_has_no_sections),
		KEEL_UT_TEST(sections_keep_file_order_names_numbers_and_lines),
		KEEL_UT_TEST(find_section_is_case_sensitive_and_prefix_match_is_not),
		KEEL_UT_TEST(items_split_on_blanks_and_keys_ignore_case),
		KEEL_UT_TEST(items_iterate_in_file_order),
		KEEL_UT_TEST(quoted_values_keep_blanks_and_lose_quotes),
		KEEL_UT_TEST(comments_end_a_line_only_after_blanks),
		KEEL_UT_TEST(backslash_continues_an_item_on_the_next_line),
		KEEL_UT_TEST(comment_line_ending_in_backslash_does_not_swallow_the_next),
		KEEL_UT_TEST(crlf_line_ends_are_accepted),
		KEEL_UT_TEST(intval_parses_integers_of_the_first_item),
		KEEL_UT_TEST(boolval_parses_yes_no_and_falls_back_to_default),
		KEEL_UT_TEST(item_before_any_section_is_an_error),
		KEEL_UT_TEST(unterminated_quote_is_an_error),
		KEEL_UT_TEST(unterminated_section_header_is_an_error),
		KEEL_UT_TEST(empty_section_name_is_an_error),
		KEEL_UT_TEST(text_after_section_header_is_an_error),
		KEEL_UT_TEST(error_in_continued_item_names_its_first_line),
		KEEL_UT_TEST(line_longer_than_64k_is_an_error),
		KEEL_UT_TEST(continued_line_longer_than_64k_is_an_error),
		KEEL_UT_TEST(nul_byte_is_an_error),
		KEEL_UT_TEST(parsing_again_replaces_the_previous_content),
		KEEL_UT_TEST(text_length_bounds_the_parse),
		KEEL_UT_TEST(read_parses_a_real_file),
		KEEL_UT_TEST(read_reports_errors_with_the_file_name),
		KEEL_UT_TEST(read_of_a_missing_file_is_enoent),
		KEEL_UT_TEST(default_conf_is_a_global_cleared_on_destroy),
	};

	return keel_ut_run("conf", tests, KEEL_COUNTOF(tests), NULL, NULL);
}
