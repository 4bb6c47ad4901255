/*
 * Unit tests of initiator groups (init_grp.c): the name and netmask syntax, IPv4 and IPv6
 * prefix matching, deny entries that win over allows, case-insensitive names, the 256 limits,
 * and changes that are all or nothing.
 */
#include "iscsi_objects_ut.h"

static struct iscsi_init_grp *
ig_with(const char *const *names, int nn, const char *const *masks, int nm)
{
	struct iscsi_init_grp *ig = iscsi_init_grp_create(7);
	char err[ISCSI_ERR_LEN];
	const char *bad;

	CU_ASSERT_FATAL(ig != NULL);
	CU_ASSERT_FATAL(
		iscsi_init_grp_change(ig, true, names, nn, masks, nm, &bad, err, sizeof(err)) == 0);
	return ig;
}

static void
any_name_and_any_netmask_let_everyone_in(void)
{
	const char *names[] = {"ANY"}, *masks[] = {"ANY"};
	struct iscsi_init_grp *ig = ig_with(names, 1, masks, 1);

	CU_ASSERT(iscsi_init_grp_allows(ig, "iqn.1994-05.com.redhat:x", "10.1.2.3"));
	CU_ASSERT(iscsi_init_grp_allows(ig, "iqn.1994-05.com.redhat:x", "fe80::1"));
	CU_ASSERT(iscsi_init_grp_allows(ig, "anything", "not an address"));
	iscsi_init_grp_destroy(ig);
}

static void
ipv4_prefixes_match_inside_and_not_outside(void)
{
	const char *names[] = {"ANY"};
	const char *masks[] = {"192.168.0.0/16", "10.0.16.0/20", "127.0.0.1/32", "172.16.1.9"};
	struct iscsi_init_grp *ig = ig_with(names, 1, masks, 4);

	CU_ASSERT(iscsi_init_grp_match_addr(ig, "192.168.5.4") == ISCSI_IG_ALLOW);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "192.169.0.1") == ISCSI_IG_NO_MATCH);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "10.0.31.255") == ISCSI_IG_ALLOW);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "10.0.32.0") == ISCSI_IG_NO_MATCH);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "10.0.15.255") == ISCSI_IG_NO_MATCH);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "127.0.0.1") == ISCSI_IG_ALLOW);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "127.0.0.2") == ISCSI_IG_NO_MATCH);
	/* An address without a prefix is one host. */
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "172.16.1.9") == ISCSI_IG_ALLOW);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "172.16.1.8") == ISCSI_IG_NO_MATCH);
	/* An IPv4-mapped IPv6 peer is the IPv4 address. */
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "::ffff:192.168.1.1") == ISCSI_IG_ALLOW);
	/* IPv4 masks never match IPv6 peers, and garbage matches nothing. */
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "::1") == ISCSI_IG_NO_MATCH);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "192.168.1") == ISCSI_IG_NO_MATCH);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, NULL) == ISCSI_IG_NO_MATCH);
	iscsi_init_grp_destroy(ig);
}

static void
ipv6_prefixes_with_and_without_brackets(void)
{
	const char *names[] = {"ANY"};
	const char *masks[] = {"[::1]/128", "[fd00::]/8", "2001:db8:1::/48", "[fe80::5]"};
	struct iscsi_init_grp *ig = ig_with(names, 1, masks, 4);

	CU_ASSERT(iscsi_init_grp_match_addr(ig, "::1") == ISCSI_IG_ALLOW);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "[::1]") == ISCSI_IG_ALLOW);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "::2") == ISCSI_IG_NO_MATCH);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "fd12:3456::1") == ISCSI_IG_ALLOW);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "fe00::1") == ISCSI_IG_NO_MATCH);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "2001:db8:1:ffff::9") == ISCSI_IG_ALLOW);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "2001:db8:2::9") == ISCSI_IG_NO_MATCH);
	/* A scope id on a link-local peer does not get in the way. */
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "fe80::5%eth0") == ISCSI_IG_ALLOW);
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "127.0.0.1") == ISCSI_IG_NO_MATCH);
	iscsi_init_grp_destroy(ig);
}

static void
a_matching_deny_wins_whatever_the_order(void)
{
	const char *names[] = {"ANY", "!iqn.2000-01.com.example:bad"};
	const char *names2[] = {"!iqn.2000-01.com.example:bad", "iqn.2000-01.com.example:bad"};
	const char *masks[] = {"127.0.0.0/8", "!127.0.0.2"};
	struct iscsi_init_grp *ig = ig_with(names, 2, masks, 2);
	struct iscsi_init_grp *ig2 = ig_with(names2, 2, masks, 2);

	CU_ASSERT(iscsi_init_grp_allows(ig, "iqn.2000-01.com.example:good", "127.0.0.1"));
	CU_ASSERT(iscsi_init_grp_match_name(ig, "iqn.2000-01.com.example:bad") == ISCSI_IG_DENY);
	CU_ASSERT(!iscsi_init_grp_allows(ig, "iqn.2000-01.com.example:bad", "127.0.0.1"));
	CU_ASSERT(iscsi_init_grp_match_addr(ig, "127.0.0.2") == ISCSI_IG_DENY);
	CU_ASSERT(!iscsi_init_grp_allows(ig, "iqn.2000-01.com.example:good", "127.0.0.2"));
	/* Listed both ways: the deny wins even though it comes first and the allow is exact. */
	CU_ASSERT(iscsi_init_grp_match_name(ig2, "iqn.2000-01.com.example:bad") == ISCSI_IG_DENY);
	iscsi_init_grp_destroy(ig);
	iscsi_init_grp_destroy(ig2);
}

static void
names_compare_case_insensitively(void)
{
	const char *names[] = {"iqn.1994-05.com.RedHat:Host1"}, *masks[] = {"ANY"};
	struct iscsi_init_grp *ig = ig_with(names, 1, masks, 1);

	CU_ASSERT(iscsi_init_grp_allows(ig, "iqn.1994-05.com.redhat:host1", "1.2.3.4"));
	CU_ASSERT(iscsi_init_grp_allows(ig, "IQN.1994-05.COM.REDHAT:HOST1", "1.2.3.4"));
	CU_ASSERT(!iscsi_init_grp_allows(ig, "iqn.1994-05.com.redhat:host2", "1.2.3.4"));
	CU_ASSERT(!iscsi_init_grp_allows(ig, NULL, "1.2.3.4"));
	iscsi_init_grp_destroy(ig);
}

static void
bad_names_and_netmasks_are_refused(void)
{
	static const char *const bad_names[] = {"", "!", "with space", "a,b", "!!x"};
	static const char *const bad_masks[] = {"",          "300.1.1.1",  "1.2.3.4/33",
						"[::1]/129", "[::1",       "::1]",
						"abc",       "1.2.3.4/x",  "1.2.3.4/",
						"!",         "1.2.3.4/-1", "fe80::1%eth0"};
	char longname[ISCSI_MAX_NAME + 2];
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(bad_names); i++) {
		CU_ASSERT(!iscsi_init_grp_name_is_valid(bad_names[i]));
	}
	for (i = 0; i < KEEL_COUNTOF(bad_masks); i++) {
		CU_ASSERT(!iscsi_init_grp_netmask_is_valid(bad_masks[i]));
	}
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CU_ASSERT(!iscsi_init_grp_name_is_valid(longname));
	longname[ISCSI_MAX_NAME] = '\0';
	CU_ASSERT(iscsi_init_grp_name_is_valid(longname));
	CU_ASSERT(iscsi_init_grp_name_is_valid("!ANY"));
	CU_ASSERT(iscsi_init_grp_netmask_is_valid("any"));
	CU_ASSERT(iscsi_init_grp_netmask_is_valid("!10.0.0.0/8"));
	CU_ASSERT(iscsi_init_grp_netmask_is_valid("0.0.0.0/0"));
	CU_ASSERT(iscsi_init_grp_netmask_is_valid("::/0"));
}

static void
changes_are_all_or_nothing(void)
{
	const char *names[] = {"iqn.2000-01.com.example:a"}, *masks[] = {"10.0.0.0/8"}, *bad;
	const char *add_names[] = {"iqn.2000-01.com.example:b", "bad name"};
	const char *add_masks[] = {"10.1.0.0/16", "nope"};
	const char *rm_names[] = {"iqn.2000-01.com.example:a", "iqn.2000-01.com.example:zz"};
	const char *dup[] = {"IQN.2000-01.com.example:A"};
	struct iscsi_init_grp *ig = ig_with(names, 1, masks, 1);
	char err[ISCSI_ERR_LEN];

	CU_ASSERT(iscsi_init_grp_change(ig, true, add_names, 2, NULL, 0, &bad, err, sizeof(err)) ==
		  -EINVAL);
	CU_ASSERT(strcmp(bad, "initiators") == 0);
	CU_ASSERT(strstr(err, "bad name") != NULL);
	/* A good name with a bad netmask: neither goes in. */
	CU_ASSERT(iscsi_init_grp_change(ig, true, add_names, 1, add_masks, 2, &bad, err,
					sizeof(err)) == -EINVAL);
	CU_ASSERT(strcmp(bad, "netmasks") == 0);
	CU_ASSERT(ig->ninitiators == 1 && ig->nnetmasks == 1);
	CU_ASSERT(iscsi_init_grp_change(ig, false, rm_names, 2, NULL, 0, &bad, err, sizeof(err)) ==
		  -ENOENT);
	CU_ASSERT(ig->ninitiators == 1);
	CU_ASSERT(iscsi_init_grp_change(ig, true, dup, 1, NULL, 0, &bad, err, sizeof(err)) ==
		  -EEXIST);
	CU_ASSERT(iscsi_init_grp_change(ig, true, add_names, 1, add_masks, 1, &bad, err,
					sizeof(err)) == 0);
	CU_ASSERT(ig->ninitiators == 2 && ig->nnetmasks == 2);
	CU_ASSERT(iscsi_init_grp_change(ig, false, rm_names, 1, masks, 1, &bad, err, sizeof(err)) ==
		  0);
	CU_ASSERT(ig->ninitiators == 1 && ig->nnetmasks == 1);
	CU_ASSERT(!iscsi_init_grp_allows(ig, "iqn.2000-01.com.example:a", "10.1.2.3"));
	CU_ASSERT(iscsi_init_grp_allows(ig, "iqn.2000-01.com.example:b", "10.1.2.3"));
	iscsi_init_grp_destroy(ig);
}

static void
at_most_256_names_and_netmasks(void)
{
	struct iscsi_init_grp *ig = iscsi_init_grp_create(1);
	static char names[ISCSI_MAX_INITIATORS + 1][32], masks[ISCSI_MAX_NETMASKS + 1][32];
	const char *np[ISCSI_MAX_INITIATORS + 1], *mp[ISCSI_MAX_NETMASKS + 1], *bad;
	char err[ISCSI_ERR_LEN];
	int i;

	for (i = 0; i <= ISCSI_MAX_INITIATORS; i++) {
		snprintf(names[i], sizeof(names[i]), "iqn.2000-01.x:%d", i);
		snprintf(masks[i], sizeof(masks[i]), "10.0.%d.%d", i / 256, i % 256);
		np[i] = names[i];
		mp[i] = masks[i];
	}
	CU_ASSERT(iscsi_init_grp_change(ig, true, np, ISCSI_MAX_INITIATORS + 1, NULL, 0, &bad, err,
					sizeof(err)) == -ENOSPC);
	CU_ASSERT(ig->ninitiators == 0);
	CU_ASSERT(iscsi_init_grp_change(ig, true, np, ISCSI_MAX_INITIATORS, mp, ISCSI_MAX_NETMASKS,
					&bad, err, sizeof(err)) == 0);
	CU_ASSERT(iscsi_init_grp_change(ig, true, NULL, 0, mp + ISCSI_MAX_NETMASKS, 1, &bad, err,
					sizeof(err)) == -ENOSPC);
	CU_ASSERT(strcmp(bad, "netmasks") == 0);
	CU_ASSERT(ig->ninitiators == ISCSI_MAX_INITIATORS && ig->nnetmasks == ISCSI_MAX_NETMASKS);
	iscsi_init_grp_destroy(ig);
}

static void
tags_are_unique_and_mapped_groups_stay(void)
{
	struct iscsi_init_grp *ig = iscsi_init_grp_create(3), *ig2 = iscsi_init_grp_create(3);

	CU_ASSERT(iscsi_init_grp_register(ig) == 0);
	CU_ASSERT(iscsi_init_grp_register(ig2) == -EEXIST);
	iscsi_init_grp_destroy(ig2);
	CU_ASSERT(iscsi_init_grp_find(3) == ig);
	ig->refs = 1;
	CU_ASSERT(iscsi_init_grp_unregister(ig) == -EBUSY);
	ig->refs = 0;
	CU_ASSERT(iscsi_init_grp_unregister(ig) == 0);
	CU_ASSERT(iscsi_init_grp_find(3) == NULL);
}

static void
hosts_are_bracketed_and_unbracketed(void)
{
	char out[64];

	CU_ASSERT(iscsi_host_unbracket("[::1]", out, sizeof(out)) == 0 && strcmp(out, "::1") == 0);
	CU_ASSERT(iscsi_host_unbracket("10.0.0.1", out, sizeof(out)) == 0 &&
		  strcmp(out, "10.0.0.1") == 0);
	CU_ASSERT(iscsi_host_unbracket("[]", out, sizeof(out)) == -EINVAL);
	CU_ASSERT(iscsi_host_unbracket("[::1", out, sizeof(out)) == -EINVAL);
	CU_ASSERT(iscsi_host_unbracket("", out, sizeof(out)) == -EINVAL);
	iscsi_host_bracket("fd00::1", out, sizeof(out));
	CU_ASSERT(strcmp(out, "[fd00::1]") == 0);
	iscsi_host_bracket("[fd00::1]", out, sizeof(out));
	CU_ASSERT(strcmp(out, "[fd00::1]") == 0);
	iscsi_host_bracket("127.0.0.1", out, sizeof(out));
	CU_ASSERT(strcmp(out, "127.0.0.1") == 0);
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(any_name_and_any_netmask_let_everyone_in),
		KEEL_UT_TEST(ipv4_prefixes_match_inside_and_not_outside),
		KEEL_UT_TEST(ipv6_prefixes_with_and_without_brackets),
		KEEL_UT_TEST(a_matching_deny_wins_whatever_the_order),
		KEEL_UT_TEST(names_compare_case_insensitively),
		KEEL_UT_TEST(bad_names_and_netmasks_are_refused),
		KEEL_UT_TEST(changes_are_all_or_nothing),
		KEEL_UT_TEST(at_most_256_names_and_netmasks),
		KEEL_UT_TEST(tags_are_unique_and_mapped_groups_stay),
		KEEL_UT_TEST(hosts_are_bracketed_and_unbracketed),
	};

	return keel_ut_run("init_grp", tests, KEEL_COUNTOF(tests), NULL, NULL);
}
