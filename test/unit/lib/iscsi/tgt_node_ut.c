/*
 * Unit tests of target nodes (tgt_node.c): name rules, creation checks that leave nothing
 * behind, SCSI ports per portal group, access through initiator groups, LUNs, maps, CHAP,
 * redirection, SendTargets, the latency histogram and asynchronous deletion.
 */
#include "iscsi_objects_ut.h"

#define INI "iqn.1994-05.com.redhat:client"

static void
setup_groups(void)
{
	struct iscsi_init_grp *ig3;
	const char *any[] = {"ANY"}, *bad;
	char err[ISCSI_ERR_LEN];

	ut_reset();
	ut_add_pg(1, false, "127.0.0.1", 3260);
	ut_add_pg(2, false, "::1", 3261);
	ut_add_pg(9, true, "10.0.0.9", 3262);
	ut_add_ig(1, "ANY", "127.0.0.0/8");
	ut_add_ig(2, INI, "ANY");
	/* Everyone but INI. */
	ig3 = ut_add_ig(3, "!" INI, "ANY");
	CU_ASSERT(iscsi_init_grp_change(ig3, true, any, 1, NULL, 0, &bad, err, sizeof(err)) == 0);
}

static void
short_names_get_the_node_base(void)
{
	char out[512];

	ut_reset();
	iscsi_full_target_name("disk1", out, sizeof(out));
	CU_ASSERT(strcmp(out, "iqn.2016-06.io.spdk:disk1") == 0);
	iscsi_full_target_name("iqn.2001-04.com.example:storage", out, sizeof(out));
	CU_ASSERT(strcmp(out, "iqn.2001-04.com.example:storage") == 0);
	iscsi_full_target_name("IQN.2001-04.com.example", out, sizeof(out));
	CU_ASSERT(strcmp(out, "IQN.2001-04.com.example") == 0);
	iscsi_full_target_name("eui.0123456789ABCDEF", out, sizeof(out));
	CU_ASSERT(strcmp(out, "eui.0123456789ABCDEF") == 0);
	iscsi_full_target_name("foo:bar", out, sizeof(out));
	CU_ASSERT(strcmp(out, "foo:bar") == 0);
	keel_strlcpy(g_iscsi.opts.nodebase, "iqn.2020-01.org.example",
		     sizeof(g_iscsi.opts.nodebase));
	iscsi_full_target_name("d", out, sizeof(out));
	CU_ASSERT(strcmp(out, "iqn.2020-01.org.example:d") == 0);
}

static void
iscsi_names_are_checked(void)
{
	char longname[ISCSI_MAX_NAME + 2];

	CU_ASSERT(iscsi_name_is_valid("iqn.2016-06.io.spdk:disk1"));
	CU_ASSERT(iscsi_name_is_valid("iqn.2016-06.io.spdk:Disk-1.a"));
	CU_ASSERT(iscsi_name_is_valid("eui.02004567A425678D"));
	CU_ASSERT(iscsi_name_is_valid("naa.52004567BA64678D"));
	CU_ASSERT(iscsi_name_is_valid("naa.62004567BA64678D0123456789ABCDEF"));
	CU_ASSERT(!iscsi_name_is_valid("iqn.16-06.io.spdk:x"));
	CU_ASSERT(!iscsi_name_is_valid("iqn.2016-6.io.spdk:x"));
	CU_ASSERT(!iscsi_name_is_valid("iqn.2016-06."));
	CU_ASSERT(!iscsi_name_is_valid("eui.0123"));
	CU_ASSERT(!iscsi_name_is_valid("naa.0123456789ABCDEFG"));
	CU_ASSERT(!iscsi_name_is_valid("iqn.2016-06.io.spdk:with space"));
	CU_ASSERT(!iscsi_name_is_valid("iqn.2016-06.io.spdk:under_score"));
	CU_ASSERT(!iscsi_name_is_valid("iqn.2016-06.io.spdk:a/b"));
	CU_ASSERT(!iscsi_name_is_valid(""));
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CU_ASSERT(!iscsi_name_is_valid(longname));
}

static int
create_with(const char *name, int32_t pg, int32_t ig, const char *bdev, int lun_id, int32_t qd,
	    bool disable, bool require, bool mutual, int32_t group, char *err)
{
	struct iscsi_tgt_node_params p = {0};
	const char *bdevs[] = {bdev, "Malloc9"};
	int ids[] = {lun_id, lun_id == 0 ? 1 : 0};

	p.name = name;
	p.alias = "a";
	p.num_maps = 1;
	p.pg_tags = &pg;
	p.ig_tags = &ig;
	p.num_luns = 2;
	p.bdev_names = bdevs;
	p.lun_ids = ids;
	p.queue_depth = qd;
	p.disable_chap = disable;
	p.require_chap = require;
	p.mutual_chap = mutual;
	p.chap_group = group;
	return iscsi_tgt_node_create(&p, err, ISCSI_ERR_LEN, NULL);
}

static void
bad_creations_name_the_parameter_and_leave_nothing(void)
{
	char err[ISCSI_ERR_LEN];

	setup_groups();
	CU_ASSERT(create_with("t", 5, 1, "Malloc0", 0, 8, false, false, false, 0, err) == -ENODEV);
	CU_ASSERT(strstr(err, "'pg_ig_maps'") != NULL && strstr(err, "portal group 5") != NULL);
	CU_ASSERT(create_with("t", 1, 5, "Malloc0", 0, 8, false, false, false, 0, err) == -ENODEV);
	CU_ASSERT(strstr(err, "initiator group 5") != NULL);
	CU_ASSERT(create_with("t", 1, 1, "Nvme0n1", 0, 8, false, false, false, 0, err) == -ENODEV);
	CU_ASSERT(strstr(err, "'luns'") != NULL && strstr(err, "Nvme0n1") != NULL);
	CU_ASSERT(create_with("t", 1, 1, "Malloc0", 64, 8, false, false, false, 0, err) == -EINVAL);
	CU_ASSERT(strstr(err, "'luns'") != NULL);
	CU_ASSERT(create_with("t", 1, 1, "Malloc0", 0, 0, false, false, false, 0, err) == -EINVAL);
	CU_ASSERT(strstr(err, "'queue_depth'") != NULL);
	CU_ASSERT(create_with("t", 1, 1, "Malloc0", 0, 257, false, false, false, 0, err) ==
		  -EINVAL);
	CU_ASSERT(create_with("t", 1, 1, "Malloc0", 0, 8, true, true, false, 0, err) == -EINVAL);
	CU_ASSERT(strstr(err, "'require_chap'") != NULL);
	CU_ASSERT(create_with("t", 1, 1, "Malloc0", 0, 8, false, false, true, 0, err) == -EINVAL);
	CU_ASSERT(strstr(err, "'mutual_chap'") != NULL);
	CU_ASSERT(create_with("t", 1, 1, "Malloc0", 0, 8, false, true, false, 4, err) == -EINVAL);
	CU_ASSERT(strstr(err, "'chap_group'") != NULL && strstr(err, "auth group 4") != NULL);
	CU_ASSERT(create_with("t:x y", 1, 1, "Malloc0", 0, 8, false, false, false, 0, err) ==
		  -EINVAL);
	CU_ASSERT(strstr(err, "'name'") != NULL);
	g_ut_dev_construct_fails = true;
	CU_ASSERT(create_with("t", 1, 1, "Malloc0", 0, 8, false, false, false, 0, err) == -EINVAL);
	g_ut_dev_construct_fails = false;
	ut_run_msgs();
	CU_ASSERT(TAILQ_EMPTY(&g_iscsi.target_nodes));
	CU_ASSERT(g_ut_devs_alive == 0);
	CU_ASSERT(iscsi_portal_grp_find(1)->refs == 0);
	CU_ASSERT(iscsi_init_grp_find(1)->refs == 0);
	/* Same name twice, whatever the case. */
	CU_ASSERT(create_with("t", 1, 1, "Malloc0", 0, 8, false, false, false, 0, err) == 0);
	CU_ASSERT(create_with("iqn.2016-06.io.spdk:T", 1, 1, "Malloc0", 0, 8, false, false, false,
			      0, err) == -EEXIST);
	CU_ASSERT(g_ut_devs_alive == 1);
}

static void
each_portal_group_gets_one_scsi_port(void)
{
	struct iscsi_tgt_node_params p = {0};
	int32_t pgs[] = {1, 1, 2}, igs[] = {1, 2, 1};
	const char *bdevs[] = {"Malloc0"};
	int ids[] = {0};
	struct iscsi_tgt_node *t;
	char err[ISCSI_ERR_LEN];

	setup_groups();
	p.name = "disk1";
	p.num_maps = 3;
	p.pg_tags = pgs;
	p.ig_tags = igs;
	p.num_luns = 1;
	p.bdev_names = bdevs;
	p.lun_ids = ids;
	p.queue_depth = 512 / 4;
	CU_ASSERT_FATAL(iscsi_tgt_node_create(&p, err, sizeof(err), &t) == 0);
	CU_ASSERT(strcmp(t->name, "iqn.2016-06.io.spdk:disk1") == 0);
	CU_ASSERT(strcmp(t->alias, "") == 0);
	CU_ASSERT(t->dev->num_ports == 2);
	CU_ASSERT(strcmp(t->dev->port_names[0], "iqn.2016-06.io.spdk:disk1,t,0x0001") == 0);
	CU_ASSERT(strcmp(t->dev->port_names[1], "iqn.2016-06.io.spdk:disk1,t,0x0002") == 0);
	CU_ASSERT(iscsi_portal_grp_find(1)->refs == 2);
	CU_ASSERT(iscsi_init_grp_find(1)->refs == 2);
	/* Above MaxQueueDepth (64): MaxQueueDepth is used. */
	CU_ASSERT(t->queue_depth == 64);
	CU_ASSERT(iscsi_tgt_node_find("disk1") == t);
	CU_ASSERT(iscsi_tgt_node_find("IQN.2016-06.IO.SPDK:DISK1") == t);
	CU_ASSERT(iscsi_tgt_node_has_pg(t, 2));
	CU_ASSERT(!iscsi_tgt_node_has_pg(t, 9));
}

static void
access_goes_through_the_portal_groups_maps(void)
{
	struct iscsi_tgt_node *t;
	int32_t pg2 = 2, ig3 = 3;
	char err[ISCSI_ERR_LEN];

	setup_groups();
	CU_ASSERT_FATAL(ut_add_target("disk1", 1, 1, &t) == 0);
	CU_ASSERT(iscsi_tgt_node_access(t, 1, INI, "127.0.0.1"));
	CU_ASSERT(iscsi_tgt_node_access(t, 1, "iqn.2000-01.other:x", "127.1.2.3"));
	CU_ASSERT(!iscsi_tgt_node_access(t, 1, INI, "10.0.0.1"));
	CU_ASSERT(!iscsi_tgt_node_access(t, 2, INI, "127.0.0.1"));
	/* Through group 2, ig 3 lets everyone in but INI. */
	CU_ASSERT(iscsi_tgt_node_add_pg_ig_maps(t, &pg2, &ig3, 1, err, sizeof(err)) == 0);
	CU_ASSERT(!iscsi_tgt_node_access(t, 2, INI, "::1"));
	CU_ASSERT(iscsi_tgt_node_access(t, 2, "iqn.2000-01.other:x", "::1"));
	/* A deny in one initiator group wins over an allow in another through the same group. */
	CU_ASSERT(iscsi_tgt_node_add_pg_ig_maps(t, &pg2, (int32_t[]){2}, 1, err, sizeof(err)) == 0);
	CU_ASSERT(!iscsi_tgt_node_access(t, 2, INI, "::1"));
	t->destructing = true;
	CU_ASSERT(!iscsi_tgt_node_access(t, 1, INI, "127.0.0.1"));
	CU_ASSERT(iscsi_tgt_node_find("disk1") == NULL);
	CU_ASSERT(iscsi_tgt_node_find_any("disk1") == t);
	t->destructing = false;
}

static void
luns_take_the_lowest_free_id(void)
{
	struct iscsi_tgt_node *t;
	char err[ISCSI_ERR_LEN];

	setup_groups();
	CU_ASSERT_FATAL(ut_add_target("disk1", 1, 1, &t) == 0);
	CU_ASSERT(iscsi_tgt_node_add_lun(t, "Malloc1", 2, err, sizeof(err)) == 0);
	CU_ASSERT(iscsi_tgt_node_add_lun(t, "Malloc2", -1, err, sizeof(err)) == 0);
	CU_ASSERT(strcmp(t->dev->luns[1].bdev, "Malloc2") == 0);
	CU_ASSERT(iscsi_tgt_node_add_lun(t, "Malloc3", -1, err, sizeof(err)) == 0);
	CU_ASSERT(strcmp(t->dev->luns[3].bdev, "Malloc3") == 0);
	CU_ASSERT(g_ut_ua_reports == 3);
	CU_ASSERT(iscsi_tgt_node_add_lun(t, "Malloc4", 2, err, sizeof(err)) == -EEXIST);
	CU_ASSERT(strstr(err, "'lun_id'") != NULL);
	CU_ASSERT(iscsi_tgt_node_add_lun(t, "Malloc4", 64, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(iscsi_tgt_node_add_lun(t, "Malloc4", -2, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(iscsi_tgt_node_add_lun(t, "Nope", -1, err, sizeof(err)) == -ENODEV);
	CU_ASSERT(strstr(err, "'bdev_name'") != NULL);
}

static void
maps_come_and_go_with_their_ports(void)
{
	struct iscsi_tgt_node *t;
	int32_t pgs[] = {2, 2}, igs[] = {1, 2}, one = 1;
	char err[ISCSI_ERR_LEN];

	setup_groups();
	CU_ASSERT_FATAL(ut_add_target("disk1", 1, 1, &t) == 0);
	CU_ASSERT(iscsi_tgt_node_add_pg_ig_maps(t, pgs, igs, 2, err, sizeof(err)) == 0);
	CU_ASSERT(t->dev->num_ports == 2);
	CU_ASSERT(iscsi_portal_grp_find(2)->refs == 2);
	CU_ASSERT(iscsi_tgt_node_add_pg_ig_maps(t, pgs, igs, 1, err, sizeof(err)) == -EEXIST);
	CU_ASSERT(iscsi_tgt_node_add_pg_ig_maps(t, (int32_t[]){7}, igs, 1, err, sizeof(err)) ==
		  -ENODEV);
	/* Removing one of two maps of group 2 keeps its port. */
	CU_ASSERT(iscsi_tgt_node_remove_pg_ig_maps(t, pgs, igs, 1, err, sizeof(err)) == 0);
	CU_ASSERT(t->dev->num_ports == 2);
	CU_ASSERT(iscsi_tgt_node_remove_pg_ig_maps(t, pgs, igs, 1, err, sizeof(err)) == -ENOENT);
	CU_ASSERT(iscsi_tgt_node_remove_pg_ig_maps(t, pgs + 1, igs + 1, 1, err, sizeof(err)) == 0);
	CU_ASSERT(t->dev->num_ports == 1);
	CU_ASSERT(iscsi_portal_grp_find(2)->refs == 0);
	/* The last map cannot go while sessions use the target. */
	t->num_active_conns = 1;
	CU_ASSERT(iscsi_tgt_node_remove_pg_ig_maps(t, &one, &one, 1, err, sizeof(err)) == -EBUSY);
	t->num_active_conns = 0;
	CU_ASSERT(iscsi_tgt_node_remove_pg_ig_maps(t, &one, &one, 1, err, sizeof(err)) == 0);
	CU_ASSERT(TAILQ_EMPTY(&t->pg_maps));
	CU_ASSERT(iscsi_portal_grp_unregister(iscsi_portal_grp_find(1)) == 0);
}

static void
chap_settings_follow_the_rules(void)
{
	struct iscsi_tgt_node *t;
	struct iscsi_auth_grp *ag;
	char err[ISCSI_ERR_LEN];

	setup_groups();
	CU_ASSERT_FATAL(ut_add_target("disk1", 1, 1, &t) == 0);
	CU_ASSERT(iscsi_tgt_node_set_auth(t, false, true, true, 3, err, sizeof(err)) == -EINVAL);
	ag = iscsi_auth_grp_create(3);
	CU_ASSERT(iscsi_auth_grp_register(ag) == 0);
	CU_ASSERT(iscsi_tgt_node_set_auth(t, false, true, true, 3, err, sizeof(err)) == 0);
	CU_ASSERT(t->require_chap && t->mutual_chap && t->chap_group == 3);
	/* The group is in use now. */
	CU_ASSERT(iscsi_auth_grp_unregister(ag) == -EBUSY);
	CU_ASSERT(iscsi_tgt_node_set_auth(t, true, false, false, 0, err, sizeof(err)) == 0);
	CU_ASSERT(iscsi_auth_grp_unregister(ag) == 0);
}

static void
redirection_points_at_a_private_portal(void)
{
	struct iscsi_tgt_node *t;
	char err[ISCSI_ERR_LEN], host[64];
	int32_t pg9 = 9, ig1 = 1;
	uint16_t port;

	setup_groups();
	CU_ASSERT_FATAL(ut_add_target("disk1", 1, 1, &t) == 0);
	CU_ASSERT(iscsi_tgt_node_set_redirect(t, 2, "10.0.0.9", "3262", err, sizeof(err)) ==
		  -ENOENT);
	CU_ASSERT(iscsi_tgt_node_set_redirect(t, 1, "10.0.0.8", "3262", err, sizeof(err)) ==
		  -EINVAL);
	CU_ASSERT(strstr(err, "private") != NULL);
	CU_ASSERT(iscsi_tgt_node_set_redirect(t, 1, "not-an-ip", "3262", err, sizeof(err)) ==
		  -EINVAL);
	CU_ASSERT(iscsi_tgt_node_set_redirect(t, 1, "10.0.0.9", "0", err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "'redirect_port'") != NULL);
	CU_ASSERT(iscsi_tgt_node_set_redirect(t, 1, "10.0.0.9", "3262", err, sizeof(err)) == 0);
	CU_ASSERT(iscsi_tgt_node_get_redirect(t, 1, host, sizeof(host), &port));
	CU_ASSERT(strcmp(host, "10.0.0.9") == 0 && port == 3262);
	CU_ASSERT(!iscsi_tgt_node_get_redirect(t, 2, host, sizeof(host), &port));
	/* Redirection is for public groups only. */
	CU_ASSERT(iscsi_tgt_node_add_pg_ig_maps(t, &pg9, &ig1, 1, err, sizeof(err)) == 0);
	CU_ASSERT(iscsi_tgt_node_set_redirect(t, 9, "10.0.0.9", "3262", err, sizeof(err)) ==
		  -EINVAL);
	CU_ASSERT(iscsi_tgt_node_set_redirect(t, 1, NULL, NULL, err, sizeof(err)) == 0);
	CU_ASSERT(!iscsi_tgt_node_get_redirect(t, 1, host, sizeof(host), &port));
}

static char *
send_targets(struct iscsi_conn *conn, const char *which, uint32_t *len)
{
	char *buf = NULL, *p;
	uint32_t cap = 0;

	*len = 0;
	CU_ASSERT(iscsi_send_targets(conn, which, &buf, len, &cap) == 0);
	/* Keys are NUL-separated; make it one line for strstr. */
	for (p = buf; buf != NULL && p < buf + *len; p++) {
		if (*p == '\0') {
			*p = '|';
		}
	}
	if (buf != NULL) {
		buf[*len > 0 ? *len - 1 : 0] = '\0';
	}
	return buf;
}

static void
send_targets_lists_what_the_initiator_may_reach(void)
{
	struct iscsi_conn conn = {0};
	struct iscsi_tgt_node *t1, *t2, *t3;
	int32_t pg9 = 9, ig1 = 1, pg2 = 2;
	char err[ISCSI_ERR_LEN], *out;
	uint32_t len;

	setup_groups();
	ut_add_pg(4, false, "0.0.0.0", 3263);
	CU_ASSERT_FATAL(ut_add_target("disk1", 1, 1, &t1) == 0);
	CU_ASSERT(iscsi_tgt_node_add_pg_ig_maps(t1, &pg9, &ig1, 1, err, sizeof(err)) == 0);
	CU_ASSERT(iscsi_tgt_node_add_pg_ig_maps(t1, &pg2, &ig1, 1, err, sizeof(err)) == 0);
	CU_ASSERT(iscsi_tgt_node_add_pg_ig_maps(t1, (int32_t[]){4}, &ig1, 1, err, sizeof(err)) ==
		  0);
	CU_ASSERT_FATAL(ut_add_target("disk2", 1, 3, &t2) == 0);
	CU_ASSERT_FATAL(ut_add_target("disk3", 9, 1, &t3) == 0);
	snprintf(conn.initiator_name, sizeof(conn.initiator_name), "%s", INI);
	snprintf(conn.initiator_addr, sizeof(conn.initiator_addr), "127.0.0.1");
	snprintf(conn.target_addr, sizeof(conn.target_addr), "127.0.0.5");

	out = send_targets(&conn, "All", &len);
	/* disk1 through the public groups 1, 2 and 4 (ig 1 checks the initiator's address, not
	 * the portal's), the wildcard portal answered with the connection's own address; disk2
	 * refuses INI; disk3 is only behind the private group 9. */
	CU_ASSERT_FATAL(out != NULL);
	CU_ASSERT(strstr(out, "TargetName=iqn.2016-06.io.spdk:disk1|"
			      "TargetAddress=127.0.0.1:3260,1|") == out);
	CU_ASSERT(strstr(out, "TargetAddress=127.0.0.5:3263,4") != NULL);
	CU_ASSERT(strstr(out, "TargetAddress=[::1]:3261,2") != NULL);
	CU_ASSERT(strstr(out, "10.0.0.9") == NULL);
	CU_ASSERT(strstr(out, "disk2") == NULL);
	CU_ASSERT(strstr(out, "disk3") == NULL);
	free(out);

	out = send_targets(&conn, "disk2", &len);
	CU_ASSERT(len == 0);
	free(out);
	snprintf(conn.initiator_name, sizeof(conn.initiator_name), "iqn.2000-01.other:x");
	out = send_targets(&conn, "iqn.2016-06.io.spdk:disk2", &len);
	CU_ASSERT(out != NULL && strcmp(out, "TargetName=iqn.2016-06.io.spdk:disk2|"
					     "TargetAddress=127.0.0.1:3260,1") == 0);
	free(out);
	conn.target = t1;
	out = send_targets(&conn, "", &len);
	CU_ASSERT(out != NULL && strstr(out, "disk1") != NULL && strstr(out, "disk2") == NULL);
	free(out);
}

static void
histogram_buckets_keep_seven_bits_of_precision(void)
{
	struct iscsi_tgt_node *t;

	CU_ASSERT(iscsi_histogram_bucket(0) == 0);
	CU_ASSERT(iscsi_histogram_bucket(127) == 127);
	CU_ASSERT(iscsi_histogram_bucket(128) == 128);
	CU_ASSERT(iscsi_histogram_bucket(255) == 255);
	CU_ASSERT(iscsi_histogram_bucket(256) == 256);
	CU_ASSERT(iscsi_histogram_bucket(257) == 256);
	CU_ASSERT(iscsi_histogram_bucket(511) == 383);
	CU_ASSERT(iscsi_histogram_bucket(UINT64_MAX) == ISCSI_HISTOGRAM_BUCKETS - 1);

	setup_groups();
	CU_ASSERT_FATAL(ut_add_target("disk1", 1, 1, &t) == 0);
	iscsi_tgt_node_record_latency(t, 5);
	CU_ASSERT(t->histogram == NULL);
	CU_ASSERT(iscsi_tgt_node_enable_histogram(t, true) == 0);
	iscsi_tgt_node_record_latency(t, 5);
	iscsi_tgt_node_record_latency(t, 5);
	iscsi_tgt_node_record_latency(t, 300);
	CU_ASSERT(t->histogram[5] == 2 && t->histogram[iscsi_histogram_bucket(300)] == 1);
	CU_ASSERT(iscsi_tgt_node_enable_histogram(t, false) == 0);
	iscsi_tgt_node_record_latency(t, 5);
	CU_ASSERT(t->histogram[5] == 2);
	/* Enabling again starts from zero. */
	CU_ASSERT(iscsi_tgt_node_enable_histogram(t, true) == 0);
	CU_ASSERT(t->histogram[5] == 0);
}

static int g_deleted;

static void
deleted(void *arg, int rc)
{
	CU_ASSERT(rc == 0);
	g_deleted++;
}

static void
deletion_waits_for_logouts_then_drops_stragglers(void)
{
	struct iscsi_poll_group pg = {0};
	struct iscsi_conn c1 = {0}, c2 = {0};
	struct iscsi_tgt_node *t;

	setup_groups();
	CU_ASSERT_FATAL(ut_add_target("disk1", 1, 1, &t) == 0);
	TAILQ_INIT(&pg.conns);
	c1.id = 11;
	c1.target = t;
	c1.pg = &pg;
	c1.full_feature = true;
	c2.id = 12;
	c2.target = t;
	c2.pg = &pg;
	TAILQ_INSERT_TAIL(&pg.conns, &c1, pg_link);
	TAILQ_INSERT_TAIL(&pg.conns, &c2, pg_link);
	TAILQ_INSERT_TAIL(&g_iscsi.conns, &c1, g_link);
	TAILQ_INSERT_TAIL(&g_iscsi.conns, &c2, g_link);
	t->num_active_conns = 1;
	g_deleted = 0;

	CU_ASSERT(iscsi_tgt_node_delete(t, deleted, NULL) == 0);
	CU_ASSERT(iscsi_tgt_node_delete(t, deleted, NULL) == -EBUSY);
	CU_ASSERT(g_ut_logout_requests == 1 && g_ut_logout_pg_tag == -1);
	CU_ASSERT(iscsi_tgt_node_find("disk1") == NULL);
	/* The connection still logging in is dropped at once; the other is asked to leave. */
	ut_run_msgs();
	CU_ASSERT(g_ut_drops == 1 && TAILQ_FIRST(&pg.conns) == &c1);
	ut_run_timed_pollers();
	ut_run_msgs();
	CU_ASSERT(g_deleted == 0 && g_ut_drops == 1);
	/* It does not log out: after the logout timeout and a margin it is dropped. */
	g_ut_ticks = (TGT_DELETE_DROP_AFTER_S + 1) * keel_get_ticks_hz();
	ut_run_timed_pollers();
	ut_run_msgs();
	CU_ASSERT(g_ut_drops == 2 && g_deleted == 0);
	TAILQ_REMOVE(&g_iscsi.conns, &c1, g_link);
	TAILQ_REMOVE(&g_iscsi.conns, &c2, g_link);
	t->num_active_conns = 0;
	ut_run_timed_pollers();
	ut_run_msgs();
	CU_ASSERT(g_deleted == 1);
	CU_ASSERT(TAILQ_EMPTY(&g_iscsi.target_nodes));
	CU_ASSERT(g_ut_devs_alive == 0);
	CU_ASSERT(iscsi_portal_grp_find(1)->refs == 0);
	CU_ASSERT(iscsi_init_grp_find(1)->refs == 0);
}

static void
shutdown_frees_every_object(void)
{
	struct iscsi_tgt_node *t;

	setup_groups();
	CU_ASSERT_FATAL(ut_add_target("disk1", 1, 1, &t) == 0);
	CU_ASSERT_FATAL(ut_add_target("disk2", 2, 2, &t) == 0);
	iscsi_objects_fini();
	ut_run_msgs();
	CU_ASSERT(g_ut_devs_alive == 0);
	CU_ASSERT(TAILQ_EMPTY(&g_iscsi.target_nodes));
	CU_ASSERT(TAILQ_EMPTY(&g_iscsi.portal_grps));
	CU_ASSERT(TAILQ_EMPTY(&g_iscsi.init_grps));
	CU_ASSERT(TAILQ_EMPTY(&g_iscsi.auth_grps));
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(short_names_get_the_node_base),
		KEEL_UT_TEST(iscsi_names_are_checked),
		KEEL_UT_TEST(bad_creations_name_the_parameter_and_leave_nothing),
		KEEL_UT_TEST(each_portal_group_gets_one_scsi_port),
		KEEL_UT_TEST(access_goes_through_the_portal_groups_maps),
		KEEL_UT_TEST(luns_take_the_lowest_free_id),
		KEEL_UT_TEST(maps_come_and_go_with_their_ports),
		KEEL_UT_TEST(chap_settings_follow_the_rules),
		KEEL_UT_TEST(redirection_points_at_a_private_portal),
		KEEL_UT_TEST(send_targets_lists_what_the_initiator_may_reach),
		KEEL_UT_TEST(histogram_buckets_keep_seven_bits_of_precision),
		KEEL_UT_TEST(deletion_waits_for_logouts_then_drops_stragglers),
		KEEL_UT_TEST(shutdown_frees_every_object),
	};
	int rc = keel_ut_run("tgt_node", tests, KEEL_COUNTOF(tests), NULL, NULL);

	ut_reset();
	return rc;
}
