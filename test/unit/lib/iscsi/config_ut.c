/*
 * Unit tests of the iSCSI configuration (config.c): every legacy section and key, errors that
 * name the file, the line and the key and leave nothing behind, the AuthFile, and the JSON
 * configuration that save_config writes.
 */
#include "iscsi_objects_ut.h"

static struct keel_conf *g_conf;

/* Parse text as test.conf, make it the application's configuration, read it. */
static int
load(const char *text)
{
	ut_reset();
	keel_conf_destroy(g_conf);
	g_conf = keel_conf_create();
	CU_ASSERT_FATAL(g_conf != NULL);
	CU_ASSERT_FATAL(keel_conf_parse(g_conf, text, strlen(text), "test.conf") == 0);
	keel_conf_set_default(g_conf);
	return iscsi_read_legacy_config();
}

static void
nothing_left(void)
{
	ut_run_msgs();
	CU_ASSERT(TAILQ_EMPTY(&g_iscsi.portal_grps));
	CU_ASSERT(TAILQ_EMPTY(&g_iscsi.init_grps));
	CU_ASSERT(TAILQ_EMPTY(&g_iscsi.auth_grps));
	CU_ASSERT(TAILQ_EMPTY(&g_iscsi.target_nodes));
	CU_ASSERT(g_ut_devs_alive == 0);
	CU_ASSERT(g_ut_listening == 0);
}

static const char g_full_config[] = "[Global]\n  ReactorMask 0x1\n[iSCSI]\n"
				    "  NodeBase \"iqn.2020-01.org.example\"\n"
				    "  AuthFile /nonexistent/keel/auth.conf\n  MaxSessions 16\n"
				    "  MaxConnectionsPerSession 4\n  MaxQueueDepth 128\n"
				    "  DefaultTime2Wait 5\n  DefaultTime2Retain 30\n"
				    "  FirstBurstLength 16384\n  MaxBurstLength 524288\n"
				    "  MaxRecvDataSegmentLength 65536\n  ImmediateData No\n"
				    "  InitialR2T Yes\n  ErrorRecoveryLevel 1\n"
				    "  AllowDuplicateIsid Yes\n  Timeout 20\n  NopInInterval 10\n"
				    "  DiscoveryAuthMethod CHAP Mutual\n"
				    "  DiscoveryAuthGroup AuthGroup1\n  MinConnectionsPerCore 4\n"
				    "  Comment \"the whole section\"\n[AuthGroup1]\n"
				    "  Comment \"group one\"\n"
				    "  Auth user1 secret1 muser1 msecret1\n  Auth user2 secret2\n"
				    "[PortalGroup1]\n  Portal DA1 127.0.0.1:3260\n"
				    "  Portal DA2 [::1]:3261@0x1\n[InitiatorGroup1]\n"
				    "  InitiatorName ANY\n  Netmask 127.0.0.1/32 [::1]/128\n"
				    "[TargetNode1]\n  TargetName disk1\n"
				    "  TargetAlias \"Data Disk1\"\n"
				    "  Mapping PortalGroup1 InitiatorGroup1\n  AuthMethod CHAP\n"
				    "  AuthGroup AuthGroup1\n  UseDigest Header Data\n"
				    "  LUN0 Malloc0\n  LUN1 Malloc1\n  QueueDepth 32\n";

static void
a_full_file_builds_every_object(void)
{
	struct iscsi_opts *o = &g_iscsi.opts;
	struct iscsi_portal_grp *pg;
	struct iscsi_portal *p;
	struct iscsi_init_grp *ig;
	struct iscsi_tgt_node *t;
	struct iscsi_chap_secret s;

	CU_ASSERT_FATAL(load(g_full_config) == 0);
	CU_ASSERT(strcmp(o->nodebase, "iqn.2020-01.org.example") == 0);
	CU_ASSERT(strcmp(o->authfile, "/nonexistent/keel/auth.conf") == 0);
	CU_ASSERT(o->max_sessions == 16 && o->max_connections_per_session == 4);
	CU_ASSERT(o->max_queue_depth == 128);
	CU_ASSERT(o->default_time2wait == 5 && o->default_time2retain == 30);
	CU_ASSERT(o->first_burst_length == 16384 && o->max_burst_length == 524288);
	CU_ASSERT(o->max_recv_data_segment_length == 65536);
	CU_ASSERT(!o->immediate_data && o->initial_r2t && o->allow_duplicated_isid);
	CU_ASSERT(o->error_recovery_level == 1);
	CU_ASSERT(o->nop_timeout == 20 && o->nop_in_interval == 10);
	CU_ASSERT(!o->disable_chap && o->require_chap && o->mutual_chap && o->chap_group == 1);
	CU_ASSERT(ut_log_has("MinConnectionsPerCore is accepted and ignored"));
	CU_ASSERT(ut_log_has("AuthFile /nonexistent/keel/auth.conf does not exist"));

	CU_ASSERT(iscsi_auth_grp_get_secret(1, "user1", &s));
	CU_ASSERT(strcmp(s.secret, "secret1") == 0 && strcmp(s.muser, "muser1") == 0 &&
		  strcmp(s.msecret, "msecret1") == 0);
	CU_ASSERT(iscsi_auth_grp_get_secret(1, "user2", &s) && s.muser[0] == '\0');
	CU_ASSERT(!iscsi_auth_grp_get_secret(1, "user3", &s));
	CU_ASSERT(!iscsi_auth_grp_get_secret(2, "user1", &s));
	CU_ASSERT(!iscsi_auth_grp_is_from_file(1));

	pg = iscsi_portal_grp_find(1);
	CU_ASSERT_FATAL(pg != NULL);
	p = TAILQ_FIRST(&pg->portals);
	CU_ASSERT(strcmp(p->host, "127.0.0.1") == 0 && p->port == 3260);
	p = TAILQ_NEXT(p, link);
	CU_ASSERT(strcmp(p->host, "::1") == 0 && p->port == 3261 &&
		  keel_cpuset_get(&p->cpumask, 0));
	CU_ASSERT(g_ut_listening == 2);

	ig = iscsi_init_grp_find(1);
	CU_ASSERT_FATAL(ig != NULL);
	CU_ASSERT(ig->ninitiators == 1 && ig->nnetmasks == 2);

	t = iscsi_tgt_node_find("disk1");
	CU_ASSERT_FATAL(t != NULL);
	CU_ASSERT(strcmp(t->name, "iqn.2020-01.org.example:disk1") == 0);
	CU_ASSERT(strcmp(t->alias, "Data Disk1") == 0);
	CU_ASSERT(t->num == 1 && t->queue_depth == 32);
	CU_ASSERT(t->require_chap && !t->mutual_chap && !t->disable_chap && t->chap_group == 1);
	CU_ASSERT(t->header_digest && t->data_digest);
	CU_ASSERT(strcmp(t->dev->luns[0].bdev, "Malloc0") == 0);
	CU_ASSERT(strcmp(t->dev->luns[1].bdev, "Malloc1") == 0);
	CU_ASSERT(iscsi_tgt_node_access(t, 1, "iqn.x", "::1"));
	CU_ASSERT(!iscsi_tgt_node_access(t, 1, "iqn.x", "127.0.0.2"));
}

static void
section_and_key_names_ignore_case_and_defaults_hold(void)
{
	struct iscsi_tgt_node *t;

	CU_ASSERT_FATAL(load("[iscsi]\n  maxsessions 7\n  UnknownKey 1\n"
			     "[portalgroup3]\n  Portal 127.0.0.1\n"
			     "[InitiatorGroup4]\n  InitiatorName iqn.2000-01.a:b iqn.2000-01.a:c\n"
			     "  InitiatorName !iqn.2000-01.a:d\n  Netmask ANY\n"
			     "[TargetNode2]\n  TargetName iqn.2001-04.com.example:t2\n"
			     "  Mapping PortalGroup3 InitiatorGroup4\n  LUN0 Malloc3\n"
			     "  AuthMethod Auto\n  AuthGroup AuthGroup7\n  UseDigest Auto\n") == 0);
	CU_ASSERT(g_iscsi.opts.max_sessions == 7);
	CU_ASSERT(g_iscsi.opts.max_queue_depth == ISCSI_DEFAULT_MAX_QUEUE_DEPTH);
	CU_ASSERT(ut_log_has("test.conf:3: [iSCSI] UnknownKey: unknown key, ignored"));
	CU_ASSERT(TAILQ_FIRST(&iscsi_portal_grp_find(3)->portals)->port == 3260);
	CU_ASSERT(iscsi_init_grp_find(4)->ninitiators == 3);
	t = iscsi_tgt_node_find("iqn.2001-04.com.example:t2");
	CU_ASSERT_FATAL(t != NULL);
	/* QueueDepth defaults to MaxQueueDepth; a missing auth group is dropped with a warning
	 * when CHAP is not required. */
	CU_ASSERT(t->queue_depth == ISCSI_DEFAULT_MAX_QUEUE_DEPTH);
	CU_ASSERT(t->chap_group == 0 && !t->require_chap && !t->disable_chap);
	CU_ASSERT(ut_log_has("auth group 7 does not exist: the target uses none"));
	CU_ASSERT(!t->header_digest && !t->data_digest);
}

struct bad_case {
	const char *text;
	const char *message;
};

static const struct bad_case g_bad[] = {
	{"[iSCSI]\n  MaxSessions 0\n", "test.conf:2: [iSCSI] MaxSessions: 0 is not 1 to 65535"},
	{"[iSCSI]\n  MaxSessions abc\n", "test.conf:2: [iSCSI] MaxSessions: 'abc' is not a number"},
	{"[iSCSI]\n\n  MaxQueueDepth 300\n", "test.conf:3: [iSCSI] MaxQueueDepth: 300 is not 1"},
	{"[iSCSI]\n  FirstBurstLength 2097152\n", "[iSCSI] FirstBurstLength: 2097152 is not 512"},
	{"[iSCSI]\n  MaxBurstLength 256\n", "[iSCSI] MaxBurstLength: 256 is not 512"},
	{"[iSCSI]\n  MaxRecvDataSegmentLength 16777215\n", "[iSCSI] MaxRecvDataSegmentLength"},
	{"[iSCSI]\n  DefaultTime2Wait 3601\n", "[iSCSI] DefaultTime2Wait: 3601 is above 3600"},
	{"[iSCSI]\n  DefaultTime2Retain 3601\n", "[iSCSI] DefaultTime2Retain"},
	{"[iSCSI]\n  ErrorRecoveryLevel 3\n", "[iSCSI] ErrorRecoveryLevel: 3 is not 0 to 2"},
	{"[iSCSI]\n  NopInInterval 61\n", "[iSCSI] NopInInterval: 61 is not 0 to 60"},
	{"[iSCSI]\n  ImmediateData Maybe\n", "[iSCSI] ImmediateData: 'Maybe' is not Yes or No"},
	{"[iSCSI]\n  NodeBase \"bad base\"\n", "[iSCSI] NodeBase"},
	{"[iSCSI]\n  DataPDUInOrder No\n", "[iSCSI] DataPDUInOrder: only Yes is supported"},
	{"[iSCSI]\n  DiscoveryAuthMethod Foo\n", "test.conf:2: [iSCSI] DiscoveryAuthMethod"},
	{"[iSCSI]\n  DiscoveryAuthMethod None CHAP\n", "[iSCSI] DiscoveryAuthMethod"},
	{"[iSCSI]\n  DiscoveryAuthGroup Group1\n",
	 "[iSCSI] DiscoveryAuthGroup: expected AuthGroup"},
	{"[iSCSI]\n  DiscoveryAuthMethod CHAP\n  DiscoveryAuthGroup AuthGroup5\n",
	 "test.conf:3: [iSCSI] DiscoveryAuthGroup: auth group 5 does not exist"},
	{"[AuthGroup1]\n  Auth onlyuser\n", "test.conf:2: [AuthGroup1] Auth: expected <user>"},
	{"[AuthGroup1]\n  Auth u s\n  Auth u t\n", "test.conf:3: [AuthGroup1] Auth: user 'u'"},
	{"[AuthGroup1]\n  Secret x\n", "[AuthGroup1] Secret: unknown key"},
	{"[AuthGroup0]\n  Auth u s\n", "auth groups are numbered from 1"},
	{"[AuthGroup1]\n  Auth u s\n[AuthGroup1]\n  Auth v s\n", "test.conf:3: [AuthGroup1]: auth "
								 "group 1 is defined twice"},
	{"[PortalGroup1]\n  Comment x\n", "test.conf:1: [PortalGroup1] no Portal"},
	{"[PortalGroup1]\n  Portal A 127.0.0.1:99999\n", "test.conf:2: [PortalGroup1] Portal:"},
	{"[PortalGroup1]\n  Portal A [::1:3260\n", "test.conf:2: [PortalGroup1] Portal:"},
	{"[PortalGroup1]\n  Portal A 127.0.0.1:3260@zz\n", "[PortalGroup1] Portal:"},
	{"[PortalGroup1]\n  Portal A 127.0.0.1\n  Portal B 127.0.0.1:3260\n",
	 "test.conf:3: [PortalGroup1] Portal: this portal is listed twice"},
	{"[PortalGroup0]\n  Portal A 127.0.0.1\n", "[PortalGroup0] the section number must be"},
	{"[PortalGroup1]\n  Portal A 127.0.0.1:1\n", "[PortalGroup1]: cannot listen"},
	{"[InitiatorGroup1]\n  InitiatorName ANY\n", "at least one InitiatorName and one Netmask"},
	{"[InitiatorGroup1]\n  InitiatorName ANY\n  Netmask 10.0.0.0/33\n",
	 "test.conf:3: [InitiatorGroup1] Netmask: '10.0.0.0/33' is not"},
	{"[InitiatorGroup1]\n  InitiatorName \"a b\"\n  Netmask ANY\n",
	 "test.conf:2: [InitiatorGroup1] InitiatorName:"},
	{"[PortalGroup1]\n  Portal A 127.0.0.1\n[InitiatorGroup1]\n  InitiatorName ANY\n"
	 "  Netmask ANY\n[TargetNode1]\n  Mapping PortalGroup1 InitiatorGroup1\n  LUN0 Malloc0\n",
	 "test.conf:6: [TargetNode1] TargetName is missing"},
	{"[TargetNode1]\n  TargetName t\n  LUN0 Malloc0\n", "[TargetNode1] no Mapping"},
	{"[PortalGroup1]\n  Portal A 127.0.0.1\n[InitiatorGroup1]\n  InitiatorName ANY\n"
	 "  Netmask ANY\n[TargetNode1]\n  TargetName t\n  Mapping PortalGroup1 InitiatorGroup1\n"
	 "  LUN1 Malloc0\n",
	 "[TargetNode1] LUN0 is missing"},
	{"[TargetNode1]\n  TargetName t\n  LUN64 Malloc0\n",
	 "test.conf:3: [TargetNode1] LUN64: LUN numbers are LUN0 to LUN63"},
	{"[TargetNode1]\n  TargetName t\n  LUN0 Malloc0\n  LUN0 Malloc1\n",
	 "test.conf:4: [TargetNode1] LUN0: LUN0 is given twice"},
	{"[TargetNode1]\n  TargetName t\n  Mapping PortalGroup1\n",
	 "test.conf:3: [TargetNode1] Mapping: expected Mapping PortalGroup<N>"},
	{"[TargetNode1]\n  TargetName t\n  Mapping PortalGroup2 InitiatorGroup1\n  LUN0 Malloc0\n",
	 "portal group 2 does not exist"},
	{"[PortalGroup1]\n  Portal A 127.0.0.1\n[InitiatorGroup1]\n  InitiatorName ANY\n"
	 "  Netmask ANY\n[TargetNode1]\n  TargetName t\n  Mapping PortalGroup1 InitiatorGroup1\n"
	 "  LUN0 Nvme0n1\n",
	 "bdev 'Nvme0n1' does not exist"},
	{"[TargetNode1]\n  TargetName t\n  AuthMethod CHAP\n  AuthGroup AuthGroup3\n"
	 "  Mapping PortalGroup1 InitiatorGroup1\n  LUN0 Malloc0\n[PortalGroup1]\n"
	 "  Portal A 127.0.0.1\n[InitiatorGroup1]\n  InitiatorName ANY\n  Netmask ANY\n",
	 "test.conf:4: [TargetNode1] AuthGroup: auth group 3 does not exist"},
	{"[TargetNode1]\n  TargetName t\n  AuthMethod Sometimes\n",
	 "test.conf:3: [TargetNode1] AuthMethod: expected None, Auto, CHAP or Mutual"},
	{"[TargetNode1]\n  TargetName t\n  UseDigest CRC\n",
	 "test.conf:3: [TargetNode1] UseDigest: 'CRC' is not Header, Data or Auto"},
	{"[TargetNode1]\n  TargetName t\n  QueueDepth 0\n", "[TargetNode1] QueueDepth: expected 1"},
	{"[TargetNode1]\n  TargetName t\n  AuthGroup 3\n", "[TargetNode1] AuthGroup: expected"},
};

static void
bad_lines_name_file_line_and_key_and_leave_nothing(void)
{
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(g_bad); i++) {
		CU_ASSERT(load(g_bad[i].text) != 0);
		if (!ut_log_has(g_bad[i].message)) {
			fprintf(stderr, "case %zu: expected '%s' in:\n%s\n", i, g_bad[i].message,
				g_ut_log);
			CU_FAIL("message not found");
		}
		nothing_left();
	}
}

static void
a_failing_target_after_good_ones_takes_them_all_back(void)
{
	CU_ASSERT(load("[PortalGroup1]\n  Portal A 127.0.0.1\n[InitiatorGroup1]\n"
		       "  InitiatorName ANY\n  Netmask ANY\n"
		       "[TargetNode1]\n  TargetName t1\n  Mapping PortalGroup1 InitiatorGroup1\n"
		       "  LUN0 Malloc0\n"
		       "[TargetNode2]\n  TargetName t1\n  Mapping PortalGroup1 InitiatorGroup1\n"
		       "  LUN0 Malloc0\n") == -EEXIST);
	CU_ASSERT(ut_log_has("test.conf:10: [TargetNode2] Invalid parameter 'name': target node "
			     "'iqn.2016-06.io.spdk:t1' already exists"));
	nothing_left();
}

static void
the_auth_file_is_read_and_kept_out_of_the_json_config(void)
{
	char path[] = "/tmp/keel_auth_ut.XXXXXX";
	static const char text[] = "[AuthGroup2]\n  Comment \"from the file\"\n"
				   "  Auth fileuser filesecret\n";
	struct json_object *array;
	struct iscsi_chap_secret s;
	char conf[256];
	int fd;

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1));
	close(fd);
	CU_ASSERT_FATAL(chmod(path, 0644) == 0);
	snprintf(conf, sizeof(conf), "[iSCSI]\n  AuthFile %s\n[AuthGroup1]\n  Auth u s\n", path);
	CU_ASSERT(load(conf) == 0);
	CU_ASSERT(ut_log_has("can be read by every user"));
	CU_ASSERT(iscsi_auth_grp_get_secret(2, "fileuser", &s) &&
		  strcmp(s.secret, "filesecret") == 0);
	CU_ASSERT(iscsi_auth_grp_is_from_file(2) && !iscsi_auth_grp_is_from_file(1));
	array = json_object_new_array();
	iscsi_write_config_json(array);
	CU_ASSERT(strstr(json_object_to_json_string(array), "fileuser") == NULL);
	CU_ASSERT(strstr(json_object_to_json_string(array), "\"user\": \"u\"") != NULL ||
		  strstr(json_object_to_json_string(array), "\"user\":\"u\"") != NULL);
	json_object_put(array);

	CU_ASSERT_FATAL(chmod(path, 0600) == 0);
	CU_ASSERT(load(conf) == 0);
	CU_ASSERT(!ut_log_has("can be read by every user"));
	/* A file with an error stops the start, naming its line. */
	fd = open(path, O_WRONLY | O_APPEND);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(write(fd, "  Auth x\n", 9) == 9);
	close(fd);
	CU_ASSERT(load(conf) == -EINVAL);
	CU_ASSERT(ut_log_has(":4: [AuthGroup2] Auth: expected <user> <secret>"));
	nothing_left();
	unlink(path);
}

/* The method and params of the idx-th call. */
static struct json_object *
call_params(struct json_object *array, size_t idx, const char *method)
{
	struct json_object *call = json_object_array_get_idx(array, idx), *m, *p;

	CU_ASSERT_FATAL(call != NULL);
	CU_ASSERT_FATAL(json_object_object_get_ex(call, "method", &m));
	CU_ASSERT(strcmp(json_object_get_string(m), method) == 0);
	CU_ASSERT_FATAL(json_object_object_get_ex(call, "params", &p));
	return p;
}

static const char *
str_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "(none)";
}

static void
the_json_config_is_the_calls_that_rebuild_the_state(void)
{
	struct json_object *array = json_object_new_array(), *p, *portals, *luns;
	struct iscsi_portal_grp *pg;
	char err[ISCSI_ERR_LEN];

	CU_ASSERT_FATAL(load(g_full_config) == 0);
	pg = ut_add_pg(9, true, "10.0.0.9", 3262);
	pg->auth_set = true;
	pg->require_chap = true;
	pg->chap_group = 1;
	CU_ASSERT(iscsi_tgt_node_set_redirect(iscsi_tgt_node_find("disk1"), 1, "10.0.0.9", "3262",
					      err, sizeof(err)) == 0);
	iscsi_write_config_json(array);
	CU_ASSERT(json_object_array_length(array) == 8);

	p = call_params(array, 0, "iscsi_set_options");
	CU_ASSERT(strcmp(str_of(p, "node_base"), "iqn.2020-01.org.example") == 0);
	CU_ASSERT(strcmp(str_of(p, "max_queue_depth"), "128") == 0);
	CU_ASSERT(strcmp(str_of(p, "immediate_data"), "false") == 0);
	CU_ASSERT(strcmp(str_of(p, "mutual_chap"), "true") == 0);
	CU_ASSERT(strcmp(str_of(p, "chap_group"), "1") == 0);

	p = call_params(array, 1, "iscsi_create_auth_group");
	CU_ASSERT(strcmp(str_of(p, "tag"), "1") == 0);

	p = call_params(array, 2, "iscsi_create_portal_group");
	CU_ASSERT(json_object_object_get_ex(p, "portals", &portals));
	CU_ASSERT(strcmp(str_of(json_object_array_get_idx(portals, 0), "port"), "3260") == 0);
	CU_ASSERT(json_object_is_type(json_object_object_get(json_object_array_get_idx(portals, 0),
							     "port"),
				      json_type_string));
	CU_ASSERT(strcmp(str_of(json_object_array_get_idx(portals, 1), "host"), "[::1]") == 0);
	CU_ASSERT(strcmp(str_of(json_object_array_get_idx(portals, 1), "cpumask"), "0x1") == 0);
	CU_ASSERT(strcmp(str_of(p, "private"), "false") == 0);
	CU_ASSERT(strcmp(str_of(p, "wait"), "false") == 0);

	p = call_params(array, 3, "iscsi_create_portal_group");
	CU_ASSERT(strcmp(str_of(p, "private"), "true") == 0);
	p = call_params(array, 4, "iscsi_portal_group_set_auth");
	CU_ASSERT(strcmp(str_of(p, "require_chap"), "true") == 0);

	p = call_params(array, 5, "iscsi_create_initiator_group");
	CU_ASSERT(strcmp(str_of(p, "tag"), "1") == 0);

	p = call_params(array, 6, "iscsi_create_target_node");
	CU_ASSERT(strcmp(str_of(p, "name"), "iqn.2020-01.org.example:disk1") == 0);
	CU_ASSERT(strcmp(str_of(p, "alias_name"), "Data Disk1") == 0);
	CU_ASSERT(strcmp(str_of(p, "queue_depth"), "32") == 0);
	CU_ASSERT(strcmp(str_of(p, "header_digest"), "true") == 0);
	CU_ASSERT(json_object_object_get_ex(p, "luns", &luns));
	CU_ASSERT(json_object_array_length(luns) == 2);
	CU_ASSERT(strcmp(str_of(json_object_array_get_idx(luns, 1), "bdev_name"), "Malloc1") == 0);
	CU_ASSERT(strcmp(str_of(json_object_array_get_idx(luns, 1), "lun_id"), "1") == 0);

	p = call_params(array, 7, "iscsi_target_node_set_redirect");
	CU_ASSERT(strcmp(str_of(p, "redirect_host"), "10.0.0.9") == 0);
	CU_ASSERT(strcmp(str_of(p, "redirect_port"), "3262") == 0);
	json_object_put(array);
}

static void
the_example_file_in_etc_loads(void)
{
	struct iscsi_tgt_node *t;

	ut_reset();
	keel_conf_destroy(g_conf);
	g_conf = keel_conf_create();
	CU_ASSERT_FATAL(keel_conf_read(g_conf, "../../../../etc/keel/iscsi.conf") == 0);
	keel_conf_set_default(g_conf);
	CU_ASSERT_FATAL(iscsi_read_legacy_config() == 0);
	t = iscsi_tgt_node_find("iqn.2016-06.io.spdk:disk1");
	CU_ASSERT_FATAL(t != NULL);
	CU_ASSERT(strcmp(t->alias, "Data Disk1") == 0 && t->queue_depth == 64);
	CU_ASSERT(t->dev->luns[0].used && t->dev->luns[1].used);
	CU_ASSERT(iscsi_tgt_node_access(t, 1, "iqn.x", "127.0.0.1"));
	CU_ASSERT(g_iscsi.opts.default_time2retain == 60 && g_iscsi.opts.nop_timeout == 30);
}

static void
no_configuration_at_all_creates_nothing(void)
{
	ut_reset();
	CU_ASSERT(iscsi_read_legacy_config() == 0);
	nothing_left();
	CU_ASSERT(strcmp(g_iscsi.opts.nodebase, ISCSI_DEFAULT_NODEBASE) == 0);
}

static void
option_checks_clamp_what_keel_cannot_hold(void)
{
	struct iscsi_opts o;
	const char *json, *ini;
	char err[ISCSI_ERR_LEN];

	iscsi_opts_init(&o);
	CU_ASSERT(iscsi_opts_check(&o, &json, &ini, err, sizeof(err)) == 0);
	o.max_connections_per_session = 32;
	CU_ASSERT(iscsi_opts_check(&o, &json, &ini, err, sizeof(err)) == 0);
	CU_ASSERT(o.max_connections_per_session == ISCSI_MAX_CONNS_PER_SESSION);
	o.require_chap = false;
	o.mutual_chap = true;
	CU_ASSERT(iscsi_opts_check(&o, &json, &ini, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strcmp(json, "mutual_chap") == 0 && strcmp(ini, "DiscoveryAuthMethod") == 0);
	o.mutual_chap = false;
	o.chap_group = -1;
	CU_ASSERT(iscsi_opts_check(&o, &json, &ini, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strcmp(json, "chap_group") == 0 && strcmp(ini, "DiscoveryAuthGroup") == 0);
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(a_full_file_builds_every_object),
		KEEL_UT_TEST(section_and_key_names_ignore_case_and_defaults_hold),
		KEEL_UT_TEST(bad_lines_name_file_line_and_key_and_leave_nothing),
		KEEL_UT_TEST(a_failing_target_after_good_ones_takes_them_all_back),
		KEEL_UT_TEST(the_auth_file_is_read_and_kept_out_of_the_json_config),
		KEEL_UT_TEST(the_json_config_is_the_calls_that_rebuild_the_state),
		KEEL_UT_TEST(the_example_file_in_etc_loads),
		KEEL_UT_TEST(no_configuration_at_all_creates_nothing),
		KEEL_UT_TEST(option_checks_clamp_what_keel_cannot_hold),
	};
	int rc = keel_ut_run("config", tests, KEEL_COUNTOF(tests), NULL, NULL);

	ut_reset();
	keel_conf_destroy(g_conf);
	return rc;
}
