/*
 * Unit tests of text keys (params.c): the "key=value" format and its limits, and the login
 * negotiation of every key of RFC 7143 13: defaults, ranges, result functions, keys offered
 * twice, unknown and extension keys, and the keys that are irrelevant in discovery sessions
 * or on non-leading connections.
 */
#include "login_ut_common.h"

/* A connection in a login stage with the first request's identity already taken. */
static struct iscsi_conn *
neg_conn(uint8_t csg, bool discovery, uint16_t tsih)
{
	struct iscsi_conn *conn = ut_conn_new(0);

	conn->login.first_pdu_seen = true;
	conn->login.initiator_name_seen = true;
	conn->login.csg = csg;
	conn->login.tsih = tsih;
	iscsi_params_login_init(conn);
	conn->login.sess_params.discovery = discovery;
	conn->login.auth_group = 0;
	keel_strlcpy(conn->initiator_name, UT_INITIATOR, sizeof(conn->initiator_name));
	return conn;
}

static int
neg(struct iscsi_conn *conn, const char *lines)
{
	struct iscsi_key_set *set = calloc(1, sizeof(*set));
	uint32_t len;
	char *t = ut_text(lines, &len);
	int status;

	CU_ASSERT_FATAL(set != NULL);
	status = iscsi_params_collect(conn, t, len, set);
	if (status == 0) {
		status = iscsi_params_negotiate(conn, set);
	}
	free(set);
	free(t);
	return status;
}

static const char *
answer(struct iscsi_conn *conn, const char *key)
{
	return ut_text_value(conn->login.rsp_text, conn->login.rsp_len, key);
}

static bool
answer_is(struct iscsi_conn *conn, const char *key, const char *value)
{
	const char *a = answer(conn, key);

	if (a == NULL || strcmp(a, value) != 0) {
		printf("\n  %s: answered %s, expected %s\n", key, a ? a : "(nothing)", value);
		return false;
	}
	return true;
}

/*
 * Text format.
 */
struct parse_rec {
	char keys[8][64];
	char values[8][300];
	int n;
	int stop_at;
};

static int
parse_cb(void *ctx, const char *key, const char *value)
{
	struct parse_rec *r = ctx;

	if (r->n == r->stop_at) {
		return -ECANCELED;
	}
	snprintf(r->keys[r->n], sizeof(r->keys[0]), "%s", key);
	snprintf(r->values[r->n], sizeof(r->values[0]), "%s", value);
	r->n++;
	return 0;
}

static int
parse_lines(const char *lines, struct parse_rec *r)
{
	uint32_t len;
	char *t = ut_text(lines, &len);
	int rc = iscsi_text_parse(t, len, parse_cb, r);

	free(t);
	return rc;
}

static void
text_parse_gives_each_pair_in_order(void)
{
	struct parse_rec r = {.stop_at = -1};

	CU_ASSERT(parse_lines("HeaderDigest=None\nMaxBurstLength=262144\nX-a=b=c\nEmpty=\n", &r) ==
		  0);
	CU_ASSERT(r.n == 4);
	CU_ASSERT(strcmp(r.keys[0], "HeaderDigest") == 0 && strcmp(r.values[0], "None") == 0);
	CU_ASSERT(strcmp(r.keys[1], "MaxBurstLength") == 0 && strcmp(r.values[1], "262144") == 0);
	/* Only the first '=' separates. */
	CU_ASSERT(strcmp(r.keys[2], "X-a") == 0 && strcmp(r.values[2], "b=c") == 0);
	CU_ASSERT(strcmp(r.keys[3], "Empty") == 0 && strcmp(r.values[3], "") == 0);
}

static void
text_parse_of_nothing_calls_nothing(void)
{
	struct parse_rec r = {.stop_at = -1};

	CU_ASSERT(iscsi_text_parse("", 0, parse_cb, &r) == 0);
	CU_ASSERT(r.n == 0);
	/* NUL padding between and after pairs is skipped. */
	CU_ASSERT(iscsi_text_parse("a=1\0\0b=2\0\0\0", 11, parse_cb, &r) == 0);
	CU_ASSERT(r.n == 2);
}

static void
text_parse_rejects_a_segment_not_ending_in_nul(void)
{
	struct parse_rec r = {.stop_at = -1};

	CU_ASSERT(iscsi_text_parse("a=1\0b=2", 7, parse_cb, &r) == -EINVAL);
}

static void
text_parse_rejects_a_key_without_equals_or_empty(void)
{
	struct parse_rec r = {.stop_at = -1};

	CU_ASSERT(parse_lines("a=1\nnoequals\n", &r) == -EINVAL);
	CU_ASSERT(parse_lines("=value\n", &r) == -EINVAL);
}

static void
text_parse_limits_keys_to_63_bytes(void)
{
	struct parse_rec r = {.stop_at = -1};
	char line[200];

	snprintf(line, sizeof(line), "%.*s=1\n", 63,
		 "KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK");
	CU_ASSERT(parse_lines(line, &r) == 0);
	snprintf(line, sizeof(line), "%.*s=1\n", 64,
		 "KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK");
	CU_ASSERT(parse_lines(line, &r) == -EINVAL);
}

static void
text_parse_limits_values_to_255_bytes_but_8192_for_chap_binaries(void)
{
	struct parse_rec r = {.stop_at = -1};
	char *line = malloc(9000), *v = malloc(8300);

	CU_ASSERT_FATAL(line != NULL && v != NULL);
	memset(v, 'v', 8300);
	snprintf(line, 9000, "InitiatorAlias=%.*s\n", 255, v);
	CU_ASSERT(parse_lines(line, &r) == 0);
	snprintf(line, 9000, "InitiatorAlias=%.*s\n", 256, v);
	CU_ASSERT(parse_lines(line, &r) == -EINVAL);
	r.n = 0;
	r.stop_at = 0;
	snprintf(line, 9000, "CHAP_C=0x%.*s\n", 8190, v);
	CU_ASSERT(parse_lines(line, &r) == -ECANCELED); /* parsed: the callback saw it */
	snprintf(line, 9000, "CHAP_R=0x%.*s\n", 8191, v);
	CU_ASSERT(parse_lines(line, &r) == -EINVAL);
	free(line);
	free(v);
}

static void
text_parse_stops_at_the_first_callback_error(void)
{
	struct parse_rec r = {.stop_at = 1};

	CU_ASSERT(parse_lines("a=1\nb=2\nc=3\n", &r) == -ECANCELED);
	CU_ASSERT(r.n == 1);
}

static void
text_append_builds_nul_separated_pairs_and_grows(void)
{
	char *buf = NULL, big[300];
	uint32_t len = 0, cap = 0;
	int i;

	CU_ASSERT(iscsi_text_append(&buf, &len, &cap, "A", "1") == 0);
	CU_ASSERT(len == 4 && memcmp(buf, "A=1\0", 4) == 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (i = 0; i < 20; i++) {
		CU_ASSERT(iscsi_text_append(&buf, &len, &cap, "B", big) == 0);
	}
	CU_ASSERT(len == 4 + 20 * (2 + 299 + 1));
	CU_ASSERT(cap >= len);
	CU_ASSERT(ut_text_value(buf, len, "B") != NULL &&
		  strlen(ut_text_value(buf, len, "B")) == 299);
	free(buf);
}

static void
numbers_are_decimal_or_hex_and_nothing_else(void)
{
	uint64_t v;

	CU_ASSERT(iscsi_text_parse_number("262144", &v) == 0 && v == 262144);
	CU_ASSERT(iscsi_text_parse_number("0", &v) == 0 && v == 0);
	CU_ASSERT(iscsi_text_parse_number("0x40000", &v) == 0 && v == 0x40000);
	CU_ASSERT(iscsi_text_parse_number("0XfF", &v) == 0 && v == 255);
	CU_ASSERT(iscsi_text_parse_number("18446744073709551615", &v) == 0 && v == UINT64_MAX);
	CU_ASSERT(iscsi_text_parse_number("18446744073709551616", &v) == -EINVAL);
	CU_ASSERT(iscsi_text_parse_number("0x10000000000000000", &v) == -EINVAL);
	CU_ASSERT(iscsi_text_parse_number("", &v) == -EINVAL);
	CU_ASSERT(iscsi_text_parse_number("0x", &v) == -EINVAL);
	CU_ASSERT(iscsi_text_parse_number("-1", &v) == -EINVAL);
	CU_ASSERT(iscsi_text_parse_number("+1", &v) == -EINVAL);
	CU_ASSERT(iscsi_text_parse_number(" 1", &v) == -EINVAL);
	CU_ASSERT(iscsi_text_parse_number("12abc", &v) == -EINVAL);
	CU_ASSERT(iscsi_text_parse_number("0b1010", &v) == -EINVAL);
}

/*
 * Negotiation of each key: one offer, our answer, the value recorded.
 */
struct neg_case {
	const char *offer; /* key=value */
	const char *key;
	const char *answer; /* NULL: no answer expected */
};

static void
run_cases(const struct neg_case *cases, size_t n, uint8_t csg, bool discovery, uint16_t tsih)
{
	struct iscsi_conn *conn;
	size_t i;

	for (i = 0; i < n; i++) {
		char line[300];

		conn = neg_conn(csg, discovery, tsih);
		snprintf(line, sizeof(line), "%s\n", cases[i].offer);
		CU_ASSERT(neg(conn, line) == 0);
		if (cases[i].answer != NULL) {
			if (!answer_is(conn, cases[i].key, cases[i].answer)) {
				CU_FAIL(cases[i].offer);
			}
		} else if (answer(conn, cases[i].key) != NULL) {
			CU_FAIL(cases[i].offer);
		}
		ut_conn_free(conn);
	}
}

static void
numerical_keys_answer_min_or_max_within_range_and_reject_the_rest(void)
{
	/* Ours (defaults): MaxConnections 2, MaxBurstLength 1 MiB, FirstBurstLength 256 KiB,
	 * DefaultTime2Wait 2, DefaultTime2Retain 20, MaxOutstandingR2T 4, ERL 0. */
	static const struct neg_case cases[] = {
		{"MaxConnections=8", "MaxConnections", "2"},
		{"MaxConnections=1", "MaxConnections", "1"},
		{"MaxConnections=0", "MaxConnections", "Reject"},
		{"MaxConnections=65536", "MaxConnections", "Reject"},
		{"MaxConnections=many", "MaxConnections", "Reject"},
		{"MaxBurstLength=65536", "MaxBurstLength", "65536"},
		{"MaxBurstLength=0x10000", "MaxBurstLength", "65536"},
		{"MaxBurstLength=16777215", "MaxBurstLength", "1048576"},
		{"MaxBurstLength=511", "MaxBurstLength", "Reject"},
		{"MaxBurstLength=16777216", "MaxBurstLength", "Reject"},
		{"FirstBurstLength=1048576", "FirstBurstLength", "262144"},
		{"FirstBurstLength=4096", "FirstBurstLength", "4096"},
		{"FirstBurstLength=100", "FirstBurstLength", "Reject"},
		{"DefaultTime2Wait=5", "DefaultTime2Wait", "5"},
		{"DefaultTime2Wait=0", "DefaultTime2Wait", "2"},
		{"DefaultTime2Wait=3601", "DefaultTime2Wait", "Reject"},
		{"DefaultTime2Retain=0", "DefaultTime2Retain", "0"},
		{"DefaultTime2Retain=3600", "DefaultTime2Retain", "20"},
		{"DefaultTime2Retain=3601", "DefaultTime2Retain", "Reject"},
		{"MaxOutstandingR2T=8", "MaxOutstandingR2T", "4"},
		{"MaxOutstandingR2T=1", "MaxOutstandingR2T", "1"},
		{"MaxOutstandingR2T=0", "MaxOutstandingR2T", "Reject"},
		{"ErrorRecoveryLevel=2", "ErrorRecoveryLevel", "0"},
		{"ErrorRecoveryLevel=0", "ErrorRecoveryLevel", "0"},
		{"ErrorRecoveryLevel=3", "ErrorRecoveryLevel", "Reject"},
		{"iSCSIProtocolLevel=2", "iSCSIProtocolLevel", "1"},
		{"iSCSIProtocolLevel=0", "iSCSIProtocolLevel", "0"},
		{"iSCSIProtocolLevel=32", "iSCSIProtocolLevel", "Reject"},
	};

	run_cases(cases, sizeof(cases) / sizeof(cases[0]), UT_OP, false, 0);
}

static void
boolean_keys_answer_or_and_and_reject_other_words(void)
{
	/* Ours: InitialR2T No, ImmediateData Yes, DataPDUInOrder Yes, DataSequenceInOrder Yes. */
	static const struct neg_case cases[] = {
		{"InitialR2T=Yes", "InitialR2T", "Yes"},
		{"InitialR2T=No", "InitialR2T", "No"},
		{"InitialR2T=yes", "InitialR2T", "Reject"},
		{"ImmediateData=Yes", "ImmediateData", "Yes"},
		{"ImmediateData=No", "ImmediateData", "No"},
		{"ImmediateData=1", "ImmediateData", "Reject"},
		{"DataPDUInOrder=No", "DataPDUInOrder", "Yes"},
		{"DataSequenceInOrder=No", "DataSequenceInOrder", "Yes"},
		{"OFMarker=Yes", "OFMarker", "No"},
		{"IFMarker=No", "IFMarker", "No"},
		{"IFMarker=Maybe", "IFMarker", "Reject"},
		{"OFMarkInt=2048~8192", "OFMarkInt", "Irrelevant"},
		{"IFMarkInt=2048", "IFMarkInt", "Irrelevant"},
	};

	run_cases(cases, sizeof(cases) / sizeof(cases[0]), UT_OP, false, 0);
}

static void
other_keys_get_their_fixed_answers(void)
{
	static const struct neg_case cases[] = {
		{"TaskReporting=FastAbort,RFC3720", "TaskReporting", "RFC3720"},
		{"TaskReporting=FastAbort", "TaskReporting", "Reject"},
		{"SendTargets=All", "SendTargets", "Irrelevant"},
		{"TargetAlias=mine", "TargetAlias", "Reject"},
		{"TargetAddress=1.2.3.4:3260,1", "TargetAddress", "Reject"},
		{"TargetPortalGroupTag=1", "TargetPortalGroupTag", "Reject"},
		{"X-com.example.Thing=1", "X-com.example.Thing", "NotUnderstood"},
		{"X#vendor.key=2", "X#vendor.key", "NotUnderstood"},
		{"RDMAExtensions=Yes", "RDMAExtensions", "NotUnderstood"},
		{"NoSuchKey=1", "NoSuchKey", "NotUnderstood"},
		/* Answers of the initiator to something are not answered again. */
		{"MaxBurstLength=Reject", "MaxBurstLength", NULL},
		{"DataDigest=NotUnderstood", "DataDigest", NULL},
		{"InitialR2T=Irrelevant", "InitialR2T", NULL},
		/* Declarations are not answered. */
		{"InitiatorAlias=host one", "InitiatorAlias", NULL},
		{"MaxRecvDataSegmentLength=65536", "MaxRecvDataSegmentLength", NULL},
		{"MaxRecvDataSegmentLength=511", "MaxRecvDataSegmentLength", "Reject"},
		{"MaxRecvDataSegmentLength=16777216", "MaxRecvDataSegmentLength", "Reject"},
	};

	run_cases(cases, sizeof(cases) / sizeof(cases[0]), UT_OP, false, 0);
}

static void
keys_never_offered_keep_the_rfc_defaults(void)
{
	struct iscsi_conn *conn = neg_conn(UT_OP, false, 0);
	struct iscsi_sess_params *sp = &conn->login.sess_params;

	CU_ASSERT(neg(conn, "InitiatorAlias=x\n") == 0);
	CU_ASSERT(sp->max_connections == 1);
	CU_ASSERT(sp->initial_r2t == true);
	CU_ASSERT(sp->immediate_data == true);
	CU_ASSERT(sp->max_burst_length == 262144);
	CU_ASSERT(sp->first_burst_length == 65536);
	CU_ASSERT(sp->default_time2wait == 2);
	CU_ASSERT(sp->default_time2retain == 20);
	CU_ASSERT(sp->max_outstanding_r2t == 1);
	CU_ASSERT(sp->data_pdu_in_order == true);
	CU_ASSERT(sp->data_sequence_in_order == true);
	CU_ASSERT(sp->error_recovery_level == 0);
	CU_ASSERT(conn->params.header_digest == false);
	CU_ASSERT(conn->params.data_digest == false);
	CU_ASSERT(conn->params.max_send_dsl == 8192);
	ut_conn_free(conn);
}

static void
negotiated_values_are_recorded_for_the_session(void)
{
	struct iscsi_conn *conn = neg_conn(UT_OP, false, 0);
	struct iscsi_sess_params *sp = &conn->login.sess_params;

	g_iscsi.opts.immediate_data = false;
	CU_ASSERT(neg(conn,
		      "MaxConnections=4\nInitialR2T=Yes\nImmediateData=Yes\n"
		      "MaxBurstLength=131072\nFirstBurstLength=8192\nDefaultTime2Wait=7\n"
		      "DefaultTime2Retain=9\nMaxOutstandingR2T=3\nDataPDUInOrder=No\n"
		      "DataSequenceInOrder=No\nErrorRecoveryLevel=1\n"
		      "MaxRecvDataSegmentLength=32768\nHeaderDigest=CRC32C\nDataDigest=None\n") ==
		  0);
	CU_ASSERT(sp->max_connections == 2);
	CU_ASSERT(sp->initial_r2t == true);
	/* AND with our "No". */
	CU_ASSERT(sp->immediate_data == false);
	CU_ASSERT(answer_is(conn, "ImmediateData", "No"));
	/* FirstBurstLength does not matter with InitialR2T=Yes and ImmediateData=No. */
	CU_ASSERT(answer_is(conn, "FirstBurstLength", "Irrelevant"));
	CU_ASSERT(sp->max_burst_length == 131072);
	CU_ASSERT(sp->default_time2wait == 7);
	CU_ASSERT(sp->default_time2retain == 9);
	CU_ASSERT(sp->max_outstanding_r2t == 3);
	CU_ASSERT(sp->data_pdu_in_order == true);
	CU_ASSERT(sp->data_sequence_in_order == true);
	CU_ASSERT(sp->error_recovery_level == 0);
	CU_ASSERT(conn->params.max_send_dsl == 32768);
	CU_ASSERT(conn->params.header_digest == true);
	CU_ASSERT(conn->params.data_digest == false);
	ut_conn_free(conn);
}

static void
digests_take_the_initiators_first_acceptable_value(void)
{
	static const struct neg_case cases[] = {
		{"HeaderDigest=CRC32C,None", "HeaderDigest", "CRC32C"},
		{"HeaderDigest=None,CRC32C", "HeaderDigest", "None"},
		{"HeaderDigest=X-fast,None", "HeaderDigest", "None"},
		{"HeaderDigest=X-fast", "HeaderDigest", "Reject"},
		{"DataDigest=CRC32C", "DataDigest", "CRC32C"},
		{"DataDigest=None", "DataDigest", "None"},
	};

	run_cases(cases, sizeof(cases) / sizeof(cases[0]), UT_OP, false, 0);
}

static void
a_target_requiring_digests_answers_only_crc32c(void)
{
	struct iscsi_conn *conn = neg_conn(UT_OP, false, 0);

	g_ut_target.header_digest = true;
	g_ut_target.data_digest = true;
	conn->target = &g_ut_target;
	CU_ASSERT(neg(conn, "HeaderDigest=None,CRC32C\nDataDigest=CRC32C,None\n") == 0);
	CU_ASSERT(answer_is(conn, "HeaderDigest", "CRC32C"));
	CU_ASSERT(answer_is(conn, "DataDigest", "CRC32C"));
	CU_ASSERT(iscsi_params_finish(conn) == 0);
	conn->target = NULL;
	ut_conn_free(conn);

	conn = neg_conn(UT_OP, false, 0);
	conn->target = &g_ut_target;
	CU_ASSERT(neg(conn, "HeaderDigest=None\n") == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	conn->target = NULL;
	ut_conn_free(conn);

	/* Not offered at all: the login cannot end with digests off. */
	conn = neg_conn(UT_OP, false, 0);
	conn->target = &g_ut_target;
	CU_ASSERT(neg(conn, "MaxBurstLength=65536\n") == 0);
	CU_ASSERT(iscsi_params_finish(conn) == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	conn->target = NULL;
	ut_conn_free(conn);
}

static void
discovery_sessions_answer_irrelevant_to_session_data_keys(void)
{
	static const struct neg_case cases[] = {
		{"MaxConnections=1", "MaxConnections", "Irrelevant"},
		{"InitialR2T=Yes", "InitialR2T", "Irrelevant"},
		{"ImmediateData=Yes", "ImmediateData", "Irrelevant"},
		{"MaxBurstLength=262144", "MaxBurstLength", "Irrelevant"},
		{"FirstBurstLength=65536", "FirstBurstLength", "Irrelevant"},
		{"MaxOutstandingR2T=1", "MaxOutstandingR2T", "Irrelevant"},
		{"DataPDUInOrder=Yes", "DataPDUInOrder", "Irrelevant"},
		{"DataSequenceInOrder=Yes", "DataSequenceInOrder", "Irrelevant"},
		{"TaskReporting=RFC3720", "TaskReporting", "Irrelevant"},
		/* These still apply to a discovery session. */
		{"DefaultTime2Wait=5", "DefaultTime2Wait", "5"},
		{"DefaultTime2Retain=5", "DefaultTime2Retain", "5"},
		{"ErrorRecoveryLevel=1", "ErrorRecoveryLevel", "0"},
		{"HeaderDigest=CRC32C", "HeaderDigest", "CRC32C"},
	};

	run_cases(cases, sizeof(cases) / sizeof(cases[0]), UT_OP, true, 0);
}

static void
a_non_leading_login_answers_irrelevant_to_session_wide_keys(void)
{
	static const struct neg_case cases[] = {
		{"MaxConnections=4", "MaxConnections", "Irrelevant"},
		{"MaxBurstLength=65536", "MaxBurstLength", "Irrelevant"},
		{"DefaultTime2Wait=5", "DefaultTime2Wait", "Irrelevant"},
		{"ErrorRecoveryLevel=0", "ErrorRecoveryLevel", "Irrelevant"},
		/* Connection keys are negotiated on every connection. */
		{"HeaderDigest=CRC32C", "HeaderDigest", "CRC32C"},
	};

	run_cases(cases, sizeof(cases) / sizeof(cases[0]), UT_OP, false, 7);
}

static void
a_key_offered_twice_fails_the_login(void)
{
	struct iscsi_conn *conn = neg_conn(UT_OP, false, 0);

	CU_ASSERT(neg(conn, "MaxBurstLength=65536\nMaxBurstLength=65536\n") ==
		  KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	ut_conn_free(conn);

	/* Across requests of one login. */
	conn = neg_conn(UT_OP, false, 0);
	CU_ASSERT(neg(conn, "MaxBurstLength=65536\n") == 0);
	CU_ASSERT(neg(conn, "MaxBurstLength=65536\n") == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	ut_conn_free(conn);

	/* Unknown keys too, within one request. */
	conn = neg_conn(UT_OP, false, 0);
	CU_ASSERT(neg(conn, "X-foo=1\nX-foo=2\n") == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	ut_conn_free(conn);
}

static void
identity_keys_may_be_declared_again_with_the_same_value_only(void)
{
	struct iscsi_conn *conn = neg_conn(UT_OP, false, 0);

	conn->target = &g_ut_target;
	/* The first request's identity (login.c reads it). */
	CU_ASSERT(neg(conn, "InitiatorName=" UT_INITIATOR "\nTargetName=" UT_TARGET "\n"
			    "SessionType=Normal\n") == 0);
	/* Again, as libiscsi does after CHAP; a short target name is the same target. */
	CU_ASSERT(neg(conn, "InitiatorName=" UT_INITIATOR "\nTargetName=" UT_TARGET_SHORT "\n"
			    "SessionType=Normal\nInitiatorAlias=x\n") == 0);
	CU_ASSERT(neg(conn, "TargetName=iqn.2000-01.other:disk\n") ==
		  KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	conn->target = NULL;
	ut_conn_free(conn);

	conn = neg_conn(UT_OP, false, 0);
	CU_ASSERT(neg(conn, "InitiatorName=" UT_INITIATOR "\n") == 0);
	CU_ASSERT(neg(conn, "InitiatorName=iqn.2016-06.io.keel:other\n") ==
		  KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	ut_conn_free(conn);

	conn = neg_conn(UT_OP, false, 0);
	CU_ASSERT(neg(conn, "SessionType=Normal\n") == 0);
	CU_ASSERT(neg(conn, "SessionType=Discovery\n") == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	ut_conn_free(conn);
}

static void
malformed_text_is_an_initiator_error(void)
{
	struct iscsi_conn *conn = neg_conn(UT_OP, false, 0);
	struct iscsi_key_set *set = calloc(1, sizeof(*set));
	char text[] = "MaxBurstLength=65536\0NoEquals";
	char *many;
	int i;

	CU_ASSERT_FATAL(set != NULL);
	CU_ASSERT(iscsi_params_collect(conn, text, sizeof(text) - 1, set) ==
		  KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	CU_ASSERT(iscsi_params_collect(conn, text, sizeof(text), set) ==
		  KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	/* More keys than a login takes. */
	many = calloc(ISCSI_LOGIN_MAX_KEYS + 1, 16);
	CU_ASSERT_FATAL(many != NULL);
	for (i = 0; i <= ISCSI_LOGIN_MAX_KEYS; i++) {
		snprintf(many + 16 * i, 16, "X-k%04d=1", i);
	}
	CU_ASSERT(iscsi_params_collect(conn, many, (ISCSI_LOGIN_MAX_KEYS + 1) * 16, set) ==
		  KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	free(many);
	free(set);
	ut_conn_free(conn);
}

static void
security_keys_outside_the_security_stage_fail_the_login(void)
{
	struct iscsi_conn *conn = neg_conn(UT_OP, false, 0);

	CU_ASSERT(neg(conn, "AuthMethod=None\n") == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	ut_conn_free(conn);
	conn = neg_conn(UT_OP, false, 0);
	CU_ASSERT(neg(conn, "CHAP_A=5\n") == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	ut_conn_free(conn);
}

static void
auth_method_follows_the_chap_settings(void)
{
	struct iscsi_conn *conn;

	/* CHAP allowed with secrets (group 1), not required: the initiator's order decides. */
	conn = neg_conn(UT_SEC, false, 0);
	conn->login.auth_group = 1;
	CU_ASSERT(neg(conn, "AuthMethod=CHAP,None\n") == 0);
	CU_ASSERT(answer_is(conn, "AuthMethod", "CHAP"));
	CU_ASSERT(conn->login.chap_state == ISCSI_AUTH_CHAP_WAIT_A);
	ut_conn_free(conn);

	conn = neg_conn(UT_SEC, false, 0);
	conn->login.auth_group = 1;
	CU_ASSERT(neg(conn, "AuthMethod=SRP,None,CHAP\n") == 0);
	CU_ASSERT(answer_is(conn, "AuthMethod", "None"));
	CU_ASSERT(conn->login.chap_state == ISCSI_AUTH_NONE);
	ut_conn_free(conn);

	/* No auth group: CHAP cannot succeed, so it is not offered. */
	conn = neg_conn(UT_SEC, false, 0);
	CU_ASSERT(neg(conn, "AuthMethod=CHAP,None\n") == 0);
	CU_ASSERT(answer_is(conn, "AuthMethod", "None"));
	ut_conn_free(conn);

	/* Required. */
	conn = neg_conn(UT_SEC, false, 0);
	conn->login.auth_group = 1;
	conn->login.auth_required = true;
	CU_ASSERT(neg(conn, "AuthMethod=None\n") == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	ut_conn_free(conn);

	/* Disabled. */
	conn = neg_conn(UT_SEC, false, 0);
	conn->login.auth_group = -1;
	CU_ASSERT(neg(conn, "AuthMethod=CHAP\n") == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	ut_conn_free(conn);
}

static void
the_target_declares_its_tag_alias_and_receive_length_once(void)
{
	struct iscsi_conn *conn = neg_conn(UT_SEC, false, 0);

	conn->target = &g_ut_target;
	conn->pg_tag = 3;
	keel_strlcpy(g_ut_target.alias, "Disk One", sizeof(g_ut_target.alias));
	CU_ASSERT(iscsi_params_declare(conn, false) == 0);
	CU_ASSERT(answer_is(conn, "TargetPortalGroupTag", "3"));
	CU_ASSERT(answer_is(conn, "TargetAlias", "Disk One"));
	CU_ASSERT(answer(conn, "MaxRecvDataSegmentLength") == NULL);
	conn->login.rsp_len = 0;
	CU_ASSERT(iscsi_params_declare(conn, true) == 0);
	CU_ASSERT(answer(conn, "TargetPortalGroupTag") == NULL);
	CU_ASSERT(answer_is(conn, "MaxRecvDataSegmentLength", "262144"));
	conn->login.rsp_len = 0;
	CU_ASSERT(iscsi_params_declare(conn, true) == 0);
	CU_ASSERT(conn->login.rsp_len == 0);
	conn->target = NULL;
	ut_conn_free(conn);

	/* Discovery: no tag. */
	conn = neg_conn(UT_OP, true, 0);
	CU_ASSERT(iscsi_params_declare(conn, true) == 0);
	CU_ASSERT(answer(conn, "TargetPortalGroupTag") == NULL);
	CU_ASSERT(answer_is(conn, "MaxRecvDataSegmentLength", "262144"));
	ut_conn_free(conn);
}

static void
first_burst_above_max_burst_fails_at_the_end_unless_it_is_the_default(void)
{
	struct iscsi_conn *conn = neg_conn(UT_OP, false, 0);

	CU_ASSERT(neg(conn, "MaxBurstLength=4096\nFirstBurstLength=8192\n") == 0);
	CU_ASSERT(iscsi_params_finish(conn) == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	ut_conn_free(conn);

	conn = neg_conn(UT_OP, false, 0);
	CU_ASSERT(neg(conn, "MaxBurstLength=8192\nFirstBurstLength=8192\n") == 0);
	CU_ASSERT(iscsi_params_finish(conn) == 0);
	ut_conn_free(conn);

	/* Only the default FirstBurstLength is above: it comes down to MaxBurstLength. */
	conn = neg_conn(UT_OP, false, 0);
	CU_ASSERT(neg(conn, "MaxBurstLength=4096\n") == 0);
	CU_ASSERT(iscsi_params_finish(conn) == 0);
	CU_ASSERT(conn->login.sess_params.first_burst_length == 4096);
	ut_conn_free(conn);

	/* Offered within MaxBurstLength but answered Irrelevant (no unsolicited data): the
	 * default that stayed is not the initiator's, and comes down too. */
	conn = neg_conn(UT_OP, false, 0);
	CU_ASSERT(neg(conn, "InitialR2T=Yes\nImmediateData=No\nMaxBurstLength=16384\n"
			    "FirstBurstLength=16384\n") == 0);
	CU_ASSERT(answer_is(conn, "FirstBurstLength", "Irrelevant"));
	CU_ASSERT(iscsi_params_finish(conn) == 0);
	CU_ASSERT(conn->login.sess_params.first_burst_length == 16384);
	ut_conn_free(conn);
}

static const struct keel_ut_test g_tests[] = {
	KEEL_UT_TEST(text_parse_gives_each_pair_in_order),
	KEEL_UT_TEST(text_parse_of_nothing_calls_nothing),
	KEEL_UT_TEST(text_parse_rejects_a_segment_not_ending_in_nul),
	KEEL_UT_TEST(text_parse_rejects_a_key_without_equals_or_empty),
	KEEL_UT_TEST(text_parse_limits_keys_to_63_bytes),
	KEEL_UT_TEST(text_parse_limits_values_to_255_bytes_but_8192_for_chap_binaries),
	KEEL_UT_TEST(text_parse_stops_at_the_first_callback_error),
	KEEL_UT_TEST(text_append_builds_nul_separated_pairs_and_grows),
	KEEL_UT_TEST(numbers_are_decimal_or_hex_and_nothing_else),
	KEEL_UT_TEST(numerical_keys_answer_min_or_max_within_range_and_reject_the_rest),
	KEEL_UT_TEST(boolean_keys_answer_or_and_and_reject_other_words),
	KEEL_UT_TEST(other_keys_get_their_fixed_answers),
	KEEL_UT_TEST(keys_never_offered_keep_the_rfc_defaults),
	KEEL_UT_TEST(negotiated_values_are_recorded_for_the_session),
	KEEL_UT_TEST(digests_take_the_initiators_first_acceptable_value),
	KEEL_UT_TEST(a_target_requiring_digests_answers_only_crc32c),
	KEEL_UT_TEST(discovery_sessions_answer_irrelevant_to_session_data_keys),
	KEEL_UT_TEST(a_non_leading_login_answers_irrelevant_to_session_wide_keys),
	KEEL_UT_TEST(a_key_offered_twice_fails_the_login),
	KEEL_UT_TEST(identity_keys_may_be_declared_again_with_the_same_value_only),
	KEEL_UT_TEST(malformed_text_is_an_initiator_error),
	KEEL_UT_TEST(security_keys_outside_the_security_stage_fail_the_login),
	KEEL_UT_TEST(auth_method_follows_the_chap_settings),
	KEEL_UT_TEST(the_target_declares_its_tag_alias_and_receive_length_once),
	KEEL_UT_TEST(first_burst_above_max_burst_fails_at_the_end_unless_it_is_the_default),
};

int
main(void)
{
	return ut_run("iscsi_params", g_tests, sizeof(g_tests) / sizeof(g_tests[0]));
}
