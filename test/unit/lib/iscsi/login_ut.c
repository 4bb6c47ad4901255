/*
 * Unit tests of the login state machine (login.c) and sessions (sess.c), driven with
 * hand-built Login Request PDUs on fake connections whose transmit queues are read directly:
 * stages and transits, header consistency, continued requests and responses, every failure
 * status, CHAP through the whole exchange, session creation, reinstatement, connections joining
 * a session (on the same thread or moving to it), and the end of a session.
 */
#include "login_ut_common.h"

#define ID_TEXT "InitiatorName=" UT_INITIATOR "\nTargetName=" UT_TARGET "\nSessionType=Normal\n"

static const struct keel_iscsi_login_rsp *
hdr(const struct iscsi_pdu *pdu)
{
	return (const struct keel_iscsi_login_rsp *)&pdu->bhs;
}

/* A normal session in one request; returns its connection (full feature phase). */
static struct iscsi_conn *
logged_in(int pg_idx, const char *extra)
{
	struct iscsi_conn *conn = ut_conn_new(pg_idx);
	char text[1024];
	struct iscsi_pdu *pdu;

	snprintf(text, sizeof(text), ID_TEXT "%s", extra);
	CU_ASSERT_FATAL(ut_login(conn, UT_T | UT_CSG(UT_OP) | UT_FFP, text) == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(ut_status(pdu) == 0);
	iscsi_pdu_put(pdu);
	CU_ASSERT_FATAL(conn->full_feature);
	return conn;
}

/* The status of the single response of a failed login; checks that nothing else was said and
 * that the connection closes. */
static int
failed_status(struct iscsi_conn *conn)
{
	struct iscsi_pdu *pdu = ut_rsp(conn);
	int status;

	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(TAILQ_EMPTY(&conn->tx_queue));
	CU_ASSERT(!(hdr(pdu)->flags & UT_T));
	CU_ASSERT(conn->state == ISCSI_CONN_STATE_LOGGED_OUT);
	CU_ASSERT(!conn->full_feature);
	CU_ASSERT(conn->sess == NULL);
	status = ut_status(pdu);
	if (status != KEEL_ISCSI_LOGIN_TARGET_MOVED_TEMP) {
		CU_ASSERT(pdu->data_len == 0);
	}
	iscsi_pdu_put(pdu);
	return status;
}

static int
fail_with(uint8_t flags, const char *text)
{
	struct iscsi_conn *conn = ut_conn_new(0);
	int status;

	CU_ASSERT(ut_login(conn, flags, text) == 0);
	status = failed_status(conn);
	ut_conn_free(conn);
	return status;
}

/*
 * Success paths.
 */
static void
one_request_logs_in_to_the_full_feature_phase(void)
{
	struct iscsi_conn *conn = ut_conn_new(0);
	struct ut_req r = ut_req_default(UT_T | UT_CSG(UT_OP) | UT_FFP);
	const struct keel_iscsi_login_rsp *h;
	struct iscsi_pdu *pdu;

	CU_ASSERT(ut_login_req(conn, &r,
			       ID_TEXT "HeaderDigest=None\n"
				       "MaxRecvDataSegmentLength=65536\n") == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(TAILQ_EMPTY(&conn->tx_queue));
	h = hdr(pdu);
	CU_ASSERT(h->opcode == KEEL_ISCSI_OP_LOGIN_RSP);
	CU_ASSERT(h->flags == (UT_T | UT_CSG(UT_OP) | UT_FFP));
	CU_ASSERT(ut_status(pdu) == 0);
	CU_ASSERT(h->version_max == 0 && h->version_active == 0);
	CU_ASSERT(memcmp(h->isid, r.isid, 6) == 0);
	CU_ASSERT(keel_from_be32(h->itt) == r.itt);
	CU_ASSERT_FATAL(conn->sess != NULL);
	CU_ASSERT(keel_from_be16(h->tsih) == conn->sess->tsih && conn->sess->tsih != 0);
	/* StatSN chosen by the target; the window opens at the login's CmdSN. */
	CU_ASSERT(keel_from_be32(h->statsn) == 1);
	CU_ASSERT(keel_from_be32(h->exp_cmdsn) == r.cmdsn);
	CU_ASSERT(keel_from_be32(h->max_cmdsn) == r.cmdsn + ISCSI_DEFAULT_MAX_QUEUE_DEPTH - 1);
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "TargetPortalGroupTag"), "1") == 0);
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "MaxRecvDataSegmentLength"), "262144") == 0);
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "HeaderDigest"), "None") == 0);
	iscsi_pdu_put(pdu);

	CU_ASSERT(conn->full_feature);
	CU_ASSERT(conn->state == ISCSI_CONN_STATE_RUNNING);
	CU_ASSERT(conn->params.max_recv_dsl == 262144);
	CU_ASSERT(conn->params.max_send_dsl == 65536);
	CU_ASSERT(conn->target == &g_ut_target && g_ut_target.num_active_conns == 1);
	CU_ASSERT(strcmp(conn->target_short_name, UT_TARGET_SHORT) == 0);
	CU_ASSERT(strcmp(conn->initiator_name, UT_INITIATOR) == 0);
	CU_ASSERT(g_iscsi.num_sessions == 1);
	CU_ASSERT(conn->sess->queue_depth == ISCSI_DEFAULT_MAX_QUEUE_DEPTH);
	CU_ASSERT(conn->sess->exp_cmdsn == r.cmdsn);
	CU_ASSERT(conn->sess->thread == conn->thread);
	CU_ASSERT(strcmp(g_ut_port_name, UT_INITIATOR ",i,0x801234560001") == 0);
	CU_ASSERT(conn->sess->target_port == keel_scsi_dev_find_port_by_id(UT_DEV, 1));
	/* Both LUNs opened on the connection's thread; login buffers gone. */
	CU_ASSERT(g_ut_lun_opens == 2);
	CU_ASSERT(conn->lun_descs[0] != NULL && conn->lun_descs[1] != NULL);
	CU_ASSERT(conn->lun_descs[2] == NULL);
	CU_ASSERT(conn->login.rsp_text == NULL && conn->login.text == NULL);

	/* The last connection ends the session. */
	ut_conn_free(conn);
	CU_ASSERT(g_iscsi.num_sessions == 0);
	CU_ASSERT(TAILQ_EMPTY(&g_iscsi.sessions));
	CU_ASSERT(g_ut_nexus_lost == 1);
	CU_ASSERT(g_ut_ports_alive == 0);
	CU_ASSERT(g_ut_lun_closes == 2);
	CU_ASSERT(g_ut_target.num_active_conns == 0);
}

static void
login_goes_through_security_and_operational_stages(void)
{
	struct iscsi_conn *conn = ut_conn_new(0);
	struct ut_req r = ut_req_default(UT_T | UT_CSG(UT_SEC) | UT_OP);
	struct iscsi_pdu *pdu;

	r.exp_statsn = 555;
	CU_ASSERT(ut_login_req(conn, &r, ID_TEXT "AuthMethod=None\n") == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(hdr(pdu)->flags == (UT_T | UT_CSG(UT_SEC) | UT_OP));
	CU_ASSERT(keel_from_be16(hdr(pdu)->tsih) == 0);
	CU_ASSERT(keel_from_be32(hdr(pdu)->statsn) == 555);
	/* A window of one command until the session exists. */
	CU_ASSERT(keel_from_be32(hdr(pdu)->exp_cmdsn) == r.cmdsn);
	CU_ASSERT(keel_from_be32(hdr(pdu)->max_cmdsn) == r.cmdsn);
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "AuthMethod"), "None") == 0);
	CU_ASSERT(ut_rsp_value(pdu, "TargetPortalGroupTag") != NULL);
	CU_ASSERT(ut_rsp_value(pdu, "MaxRecvDataSegmentLength") == NULL);
	iscsi_pdu_put(pdu);
	CU_ASSERT(conn->login.csg == UT_OP && !conn->full_feature);

	r.flags = UT_T | UT_CSG(UT_OP) | UT_FFP;
	r.exp_statsn = 556;
	CU_ASSERT(ut_login_req(conn, &r, "HeaderDigest=None\nInitialR2T=Yes\n") == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(hdr(pdu)->flags == (UT_T | UT_CSG(UT_OP) | UT_FFP));
	CU_ASSERT(keel_from_be32(hdr(pdu)->statsn) == 556);
	CU_ASSERT(ut_rsp_value(pdu, "TargetPortalGroupTag") == NULL);
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "MaxRecvDataSegmentLength"), "262144") == 0);
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "InitialR2T"), "Yes") == 0);
	iscsi_pdu_put(pdu);
	CU_ASSERT(conn->full_feature);
	CU_ASSERT(conn->sess->params.initial_r2t == true);
	ut_conn_free(conn);
}

static void
security_may_lead_straight_to_the_full_feature_phase(void)
{
	struct iscsi_conn *conn = ut_conn_new(0);
	struct iscsi_pdu *pdu;

	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_SEC) | UT_FFP, ID_TEXT "AuthMethod=None\n") == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(hdr(pdu)->flags == (UT_T | UT_CSG(UT_SEC) | UT_FFP));
	CU_ASSERT(ut_status(pdu) == 0);
	CU_ASSERT(ut_rsp_value(pdu, "MaxRecvDataSegmentLength") != NULL);
	iscsi_pdu_put(pdu);
	CU_ASSERT(conn->full_feature);
	ut_conn_free(conn);
}

static void
without_transit_the_target_stays_in_the_stage(void)
{
	struct iscsi_conn *conn = ut_conn_new(0);
	struct iscsi_pdu *pdu;

	CU_ASSERT(ut_login(conn, UT_CSG(UT_OP), ID_TEXT "MaxBurstLength=65536\n") == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(hdr(pdu)->flags == UT_CSG(UT_OP));
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "MaxBurstLength"), "65536") == 0);
	iscsi_pdu_put(pdu);
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_OP) | UT_FFP, "") == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(hdr(pdu)->flags == (UT_T | UT_CSG(UT_OP) | UT_FFP));
	iscsi_pdu_put(pdu);
	CU_ASSERT(conn->full_feature);
	CU_ASSERT(conn->sess->params.max_burst_length == 65536);
	ut_conn_free(conn);
}

static void
a_continued_request_is_reassembled(void)
{
	struct iscsi_conn *conn = ut_conn_new(0);
	struct ut_req r = ut_req_default(UT_C | UT_CSG(UT_OP) | UT_FFP);
	static const char part1[] = "InitiatorName=" UT_INITIATOR "\0TargetNa";
	static const char part2[] = "me=" UT_TARGET "\0MaxBurstLength=8192";
	struct iscsi_pdu *pdu;

	CU_ASSERT(ut_login_raw(conn, &r, part1, sizeof(part1) - 1) == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL);
	/* An empty answer asks for the rest. */
	CU_ASSERT(hdr(pdu)->flags == UT_CSG(UT_OP));
	CU_ASSERT(pdu->data_len == 0 && ut_status(pdu) == 0);
	iscsi_pdu_put(pdu);
	r.flags = UT_T | UT_CSG(UT_OP) | UT_FFP;
	CU_ASSERT(ut_login_raw(conn, &r, part2, sizeof(part2)) == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(ut_status(pdu) == 0);
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "MaxBurstLength"), "8192") == 0);
	iscsi_pdu_put(pdu);
	CU_ASSERT(conn->full_feature);
	CU_ASSERT(conn->sess->params.max_burst_length == 8192);
	CU_ASSERT(conn->sess->params.first_burst_length == 8192);
	ut_conn_free(conn);
}

static void
a_long_response_is_continued(void)
{
	struct iscsi_conn *conn = ut_conn_new(0);
	char *text = malloc(16384), *all = malloc(32768);
	struct iscsi_pdu *pdu;
	uint32_t got = 0;
	size_t off;
	int i;

	CU_ASSERT_FATAL(text != NULL && all != NULL);
	off = (size_t)snprintf(text, 16384, ID_TEXT);
	for (i = 0; i < 120; i++) {
		off += (size_t)
			snprintf(text + off, 16384 - off,
				 "X-com.example.a-rather-long-vendor-key-name-number-%05d=1\n", i);
	}
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_OP) | UT_FFP, text) == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(hdr(pdu)->flags == (UT_C | UT_CSG(UT_OP)));
	CU_ASSERT(pdu->data_len == ISCSI_LOGIN_MAX_DSL);
	CU_ASSERT(keel_from_be16(hdr(pdu)->tsih) == 0);
	memcpy(all, pdu->data, pdu->data_len);
	got = pdu->data_len;
	iscsi_pdu_put(pdu);
	CU_ASSERT(!conn->full_feature && conn->sess == NULL);

	/* Text in the request that should fetch the rest is a protocol error... (checked on a
	 * second connection below); an empty request gets the last part with the transit. */
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_OP) | UT_FFP, "") == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(hdr(pdu)->flags == (UT_T | UT_CSG(UT_OP) | UT_FFP));
	CU_ASSERT(pdu->data_len > 0 && pdu->data_len < ISCSI_LOGIN_MAX_DSL);
	CU_ASSERT(keel_from_be16(hdr(pdu)->tsih) != 0);
	memcpy(all + got, pdu->data, pdu->data_len);
	got += pdu->data_len;
	iscsi_pdu_put(pdu);
	CU_ASSERT(conn->full_feature);
	CU_ASSERT(strcmp(ut_text_value(all, got,
				       "X-com.example.a-rather-long-vendor-key-name-number-00119"),
			 "NotUnderstood") == 0);
	CU_ASSERT(ut_text_value(all, got, "MaxRecvDataSegmentLength") != NULL);
	ut_conn_free(conn);

	conn = ut_conn_new(0);
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_OP) | UT_FFP, text) == 0);
	iscsi_pdu_put(ut_rsp(conn));
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_OP) | UT_FFP, "MaxBurstLength=8192\n") == 0);
	CU_ASSERT(failed_status(conn) == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	ut_conn_free(conn);
	free(text);
	free(all);
}

static void
a_discovery_session_needs_no_target(void)
{
	struct iscsi_conn *conn = ut_conn_new(0);
	struct iscsi_pdu *pdu;

	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_OP) | UT_FFP,
			   "InitiatorName=" UT_INITIATOR "\n"
			   "SessionType=Discovery\nMaxBurstLength=8192\n") == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(ut_status(pdu) == 0);
	CU_ASSERT(ut_rsp_value(pdu, "TargetPortalGroupTag") == NULL);
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "MaxBurstLength"), "Irrelevant") == 0);
	iscsi_pdu_put(pdu);
	CU_ASSERT_FATAL(conn->sess != NULL);
	CU_ASSERT(conn->sess->params.discovery);
	CU_ASSERT(conn->sess->target == NULL && conn->target == NULL);
	CU_ASSERT(g_ut_lun_opens == 0);
	ut_conn_free(conn);
	CU_ASSERT(g_ut_nexus_lost == 0);
	CU_ASSERT(g_iscsi.num_sessions == 0);
}

/*
 * Failures: each answers one status, nothing more, and closes.
 */
static void
an_unsupported_version_is_02_05(void)
{
	struct iscsi_conn *conn = ut_conn_new(0);
	struct ut_req r = ut_req_default(UT_T | UT_CSG(UT_OP) | UT_FFP);

	r.version_min = 1;
	r.version_max = 2;
	CU_ASSERT(ut_login_req(conn, &r, ID_TEXT) == 0);
	CU_ASSERT(failed_status(conn) == KEEL_ISCSI_LOGIN_UNSUPPORTED_VERSION);
	CU_ASSERT(g_iscsi.num_sessions == 0);
	ut_conn_free(conn);

	/* Version 0 within a wider range is fine. */
	conn = ut_conn_new(0);
	r.version_min = 0;
	r.version_max = 5;
	CU_ASSERT(ut_login_req(conn, &r, ID_TEXT) == 0);
	CU_ASSERT(ut_only_status(conn) == 0);
	ut_conn_free(conn);
}

static void
bad_stage_flags_are_initiator_errors(void)
{
	struct iscsi_conn *conn;

	/* T and C together. */
	CU_ASSERT(fail_with(UT_T | UT_C | UT_CSG(UT_OP) | UT_FFP, ID_TEXT) ==
		  KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	/* To stage 2, to the same stage, backwards, from the full feature stage. */
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | 2, ID_TEXT) == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_OP, ID_TEXT) ==
		  KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_SEC, ID_TEXT) ==
		  KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	CU_ASSERT(fail_with(UT_CSG(UT_FFP), ID_TEXT) == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	CU_ASSERT(fail_with(UT_CSG(2), ID_TEXT) == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);

	/* Back to security after the operational stage began. */
	conn = ut_conn_new(0);
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_SEC) | UT_OP, ID_TEXT "AuthMethod=None\n") == 0);
	iscsi_pdu_put(ut_rsp(conn));
	CU_ASSERT(ut_login(conn, UT_CSG(UT_SEC), "") == 0);
	CU_ASSERT(failed_status(conn) == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	ut_conn_free(conn);

	/* Skipping ahead without transit. */
	conn = ut_conn_new(0);
	CU_ASSERT(ut_login(conn, UT_CSG(UT_SEC), ID_TEXT "AuthMethod=None\n") == 0);
	iscsi_pdu_put(ut_rsp(conn));
	CU_ASSERT(ut_login(conn, UT_CSG(UT_OP), "") == 0);
	CU_ASSERT(failed_status(conn) == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	ut_conn_free(conn);
}

static void
isid_tsih_cid_and_itt_must_not_change_during_login(void)
{
	int field;

	for (field = 0; field < 4; field++) {
		struct iscsi_conn *conn = ut_conn_new(0);
		struct ut_req r = ut_req_default(UT_CSG(UT_OP));

		CU_ASSERT(ut_login_req(conn, &r, ID_TEXT) == 0);
		CU_ASSERT(ut_only_status(conn) == 0);
		r.flags = UT_T | UT_CSG(UT_OP) | UT_FFP;
		switch (field) {
		case 0:
			r.isid[5]++;
			break;
		case 1:
			r.tsih = 9;
			break;
		case 2:
			r.cid++;
			break;
		default:
			r.itt++;
			break;
		}
		CU_ASSERT(ut_login_req(conn, &r, "") == 0);
		CU_ASSERT(failed_status(conn) == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
		ut_conn_free(conn);
	}
}

static void
missing_names_are_02_07(void)
{
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_FFP, "TargetName=" UT_TARGET "\n") ==
		  KEEL_ISCSI_LOGIN_MISSING_PARAMETER);
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_FFP, "InitiatorName=\nTargetName=x\n") ==
		  KEEL_ISCSI_LOGIN_MISSING_PARAMETER);
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_FFP, "InitiatorName=" UT_INITIATOR "\n") ==
		  KEEL_ISCSI_LOGIN_MISSING_PARAMETER);
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_FFP, "") ==
		  KEEL_ISCSI_LOGIN_MISSING_PARAMETER);
}

static void
an_unknown_or_deleted_target_is_02_03(void)
{
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_FFP,
			    "InitiatorName=" UT_INITIATOR "\n"
			    "TargetName=iqn.2000-01.com.example:nothing\n") ==
		  KEEL_ISCSI_LOGIN_NOT_FOUND);
	g_ut_target.destructing = true;
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_FFP, ID_TEXT) == KEEL_ISCSI_LOGIN_NOT_FOUND);
	CU_ASSERT(g_ut_target.num_active_conns == 0);
	CU_ASSERT(ut_log_has("unknown target"));
}

static void
an_initiator_the_acl_refuses_is_02_02_and_learns_nothing(void)
{
	struct iscsi_conn *conn = ut_conn_new(0);

	g_ut_access = false;
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_SEC) | UT_OP, ID_TEXT "AuthMethod=None\n") == 0);
	CU_ASSERT(failed_status(conn) == KEEL_ISCSI_LOGIN_AUTHORIZATION_FAILURE);
	CU_ASSERT(conn->target == NULL);
	CU_ASSERT(g_ut_target.num_active_conns == 0);
	CU_ASSERT(ut_log_has(UT_INITIATOR) && ut_log_has("127.0.0.1"));
	ut_conn_free(conn);
}

/* A login the ACL refuses, from addr; returns its connection (answered or waiting). */
static struct iscsi_conn *
refused_from(const char *addr)
{
	struct iscsi_conn *conn = ut_conn_new(0);

	keel_strlcpy(conn->initiator_addr, addr, sizeof(conn->initiator_addr));
	g_ut_access = false;
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_SEC) | UT_OP, ID_TEXT "AuthMethod=None\n") == 0);
	return conn;
}

/* The next refused login from addr is answered after exactly delay_ms. */
static void
refused_after(const char *addr, uint64_t delay_ms)
{
	struct iscsi_conn *conn = refused_from(addr);

	if (delay_ms == 0) {
		CU_ASSERT(failed_status(conn) == KEEL_ISCSI_LOGIN_AUTHORIZATION_FAILURE);
		ut_conn_free(conn);
		return;
	}
	CU_ASSERT(TAILQ_EMPTY(&conn->tx_queue));
	CU_ASSERT(conn->state == ISCSI_CONN_STATE_INVALID);
	CU_ASSERT(ut_num_pollers() == 1);
	/* Whatever comes meanwhile is not read. */
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_SEC) | UT_OP, ID_TEXT) == 0);
	CU_ASSERT(TAILQ_EMPTY(&conn->tx_queue));
	g_ut_ticks += delay_ms - 1;
	CU_ASSERT(ut_run_pollers() == 0);
	CU_ASSERT(TAILQ_EMPTY(&conn->tx_queue));
	g_ut_ticks += 1;
	CU_ASSERT(ut_run_pollers() == 1);
	CU_ASSERT(failed_status(conn) == KEEL_ISCSI_LOGIN_AUTHORIZATION_FAILURE);
	CU_ASSERT(ut_num_pollers() == 0);
	ut_conn_free(conn);
}

static void
repeated_failed_logins_from_one_address_are_answered_later(void)
{
	struct iscsi_conn *conn;
	int i, used;

	g_login_backoff.free_failures = 3;
	g_login_backoff.base_ms = 250;
	g_login_backoff.max_ms = 1000;
	g_login_backoff.window_s = 60;
	for (i = 0; i < 3; i++) {
		refused_after("192.0.2.1", 0);
	}
	refused_after("192.0.2.1", 250);
	CU_ASSERT(ut_log_has("4 failed logins from 192.0.2.1 within 60 s: answering in 250 ms"));
	CU_ASSERT(ut_log_has(UT_INITIATOR));
	refused_after("192.0.2.1", 500);
	refused_after("192.0.2.1", 1000);
	refused_after("192.0.2.1", 1000);
	/* Another address owes nothing. */
	refused_after("192.0.2.2", 0);
	/* A login that succeeds is never held back. */
	g_ut_access = true;
	conn = logged_in(0, "");
	ut_conn_free(conn);
	/* An initiator that gives up while it waits: the timer goes with its connection. */
	conn = refused_from("192.0.2.1");
	CU_ASSERT(ut_num_pollers() == 1);
	ut_conn_free(conn);
	CU_ASSERT(ut_num_pollers() == 0);
	/* A minute without failures and the address starts afresh. */
	g_ut_ticks += 61 * 1000;
	refused_after("192.0.2.1", 0);
	/* The table keeps a bounded number of addresses; the stalest make room. */
	for (i = 0; i < 2 * LOGIN_PENALTY_SLOTS; i++) {
		char addr[32];

		snprintf(addr, sizeof(addr), "198.51.100.%d", i);
		g_ut_ticks++;
		refused_after(addr, 0);
	}
	for (i = 0, used = 0; i < LOGIN_PENALTY_SLOTS; i++) {
		used += g_login_penalties[i].failures > 0;
		CU_ASSERT(strcmp(g_login_penalties[i].addr, "192.0.2.1") != 0);
	}
	CU_ASSERT(used == LOGIN_PENALTY_SLOTS);
}

static void
a_redirected_target_answers_01_01_with_the_new_address(void)
{
	struct iscsi_pg_map map = {.pg_tag = 1, .redirect_port = 3261};
	struct iscsi_conn *conn;
	struct iscsi_pdu *pdu;

	keel_strlcpy(map.redirect_host, "10.0.0.2", sizeof(map.redirect_host));
	TAILQ_INSERT_TAIL(&g_ut_target.pg_maps, &map, link);
	conn = ut_conn_new(0);
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_SEC) | UT_OP, ID_TEXT "AuthMethod=None\n") == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(ut_status(pdu) == KEEL_ISCSI_LOGIN_TARGET_MOVED_TEMP);
	/* The tag of the portal group that has that portal. */
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "TargetAddress"), "10.0.0.2:3261,2") == 0);
	CU_ASSERT(ut_rsp_value(pdu, "AuthMethod") == NULL);
	iscsi_pdu_put(pdu);
	CU_ASSERT(conn->state == ISCSI_CONN_STATE_LOGGED_OUT);
	CU_ASSERT(conn->target == NULL);
	ut_conn_free(conn);

	keel_strlcpy(map.redirect_host, "fd00::7", sizeof(map.redirect_host));
	map.redirect_port = 3260;
	conn = ut_conn_new(0);
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_OP) | UT_FFP, ID_TEXT) == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "TargetAddress"), "[fd00::7]:3260,1") == 0);
	iscsi_pdu_put(pdu);
	ut_conn_free(conn);

	/* Redirection is per portal group. */
	map.pg_tag = 5;
	conn = ut_conn_new(0);
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_OP) | UT_FFP, ID_TEXT) == 0);
	CU_ASSERT(ut_only_status(conn) == 0);
	ut_conn_free(conn);
}

static void
max_sessions_reached_is_03_02(void)
{
	struct iscsi_conn *a, *b;
	struct ut_req r = ut_req_default(UT_T | UT_CSG(UT_OP) | UT_FFP);

	g_iscsi.opts.max_sessions = 1;
	a = logged_in(0, "");
	b = ut_conn_new(0);
	r.isid[5] = 2;
	CU_ASSERT(ut_login_req(b, &r, ID_TEXT) == 0);
	CU_ASSERT(failed_status(b) == KEEL_ISCSI_LOGIN_OUT_OF_RESOURCES);
	ut_conn_free(b);
	CU_ASSERT(g_iscsi.num_sessions == 1);
	ut_conn_free(a);
}

static void
an_unknown_session_type_is_02_09(void)
{
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_FFP, ID_TEXT "SessionType=Weird\n") ==
		  KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_FFP,
			    "InitiatorName=" UT_INITIATOR "\n"
			    "SessionType=Weird\n") == KEEL_ISCSI_LOGIN_SESSION_TYPE_NOT_SUPPORTED);
}

static void
a_target_requiring_digests_refuses_a_login_without_them(void)
{
	g_ut_target.header_digest = true;
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_FFP, ID_TEXT "HeaderDigest=None\n") ==
		  KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_FFP, ID_TEXT) ==
		  KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	CU_ASSERT(g_iscsi.num_sessions == 0);
}

static void
a_text_longer_than_the_limit_is_refused(void)
{
	struct iscsi_conn *conn = ut_conn_new(0);
	struct ut_req r = ut_req_default(UT_C | UT_CSG(UT_OP));
	char *chunk = calloc(1, 16384);
	int i;

	CU_ASSERT_FATAL(chunk != NULL);
	memset(chunk, 'a', 16384);
	for (i = 0; i < 4; i++) {
		CU_ASSERT(ut_login_raw(conn, &r, chunk, 16384) == 0);
		CU_ASSERT(ut_only_status(conn) == 0);
	}
	CU_ASSERT(ut_login_raw(conn, &r, chunk, 1) == 0);
	CU_ASSERT(failed_status(conn) == KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
	ut_conn_free(conn);
	free(chunk);
}

/*
 * CHAP through the state machine.
 */
static void
chap_target(bool mutual)
{
	g_ut_target.require_chap = true;
	g_ut_target.mutual_chap = mutual;
	g_ut_target.chap_group = 1;
}

/* AuthMethod, then CHAP_A: returns the target's CHAP_I and challenge. */
static void
chap_start(struct iscsi_conn *conn, uint8_t *id, uint8_t *c, size_t *clen)
{
	struct iscsi_pdu *pdu;
	uint64_t v;

	CU_ASSERT_FATAL(ut_login(conn, UT_T | UT_CSG(UT_SEC) | UT_OP,
				 ID_TEXT "AuthMethod=CHAP,None\n") == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL && ut_status(pdu) == 0);
	/* Not done with the stage: no transit yet. */
	CU_ASSERT(hdr(pdu)->flags == UT_CSG(UT_SEC));
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "AuthMethod"), "CHAP") == 0);
	iscsi_pdu_put(pdu);
	CU_ASSERT_FATAL(ut_login(conn, UT_CSG(UT_SEC) | UT_OP, "CHAP_A=5\n") == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL && ut_status(pdu) == 0);
	CU_ASSERT(hdr(pdu)->flags == UT_CSG(UT_SEC));
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "CHAP_A"), "5") == 0);
	CU_ASSERT_FATAL(iscsi_text_parse_number(ut_rsp_value(pdu, "CHAP_I"), &v) == 0);
	*id = (uint8_t)v;
	CU_ASSERT_FATAL(iscsi_chap_decode(ut_rsp_value(pdu, "CHAP_C"), c, 64, clen) == 0);
	iscsi_pdu_put(pdu);
}

static void
chap_response_text(uint8_t id, const char *secret, const uint8_t *c, size_t clen, char *out,
		   size_t len)
{
	uint8_t r[16];
	unsigned int rlen;
	size_t i, o;

	CU_ASSERT_FATAL(iscsi_chap_hash(5, id, secret, c, clen, r, &rlen) == 0);
	o = (size_t)snprintf(out, len, "CHAP_N=" UT_USER "\nCHAP_R=0x");
	for (i = 0; i < rlen; i++) {
		o += (size_t)snprintf(out + o, len - o, "%02x", r[i]);
	}
	snprintf(out + o, len - o, "\n");
}

static void
a_chap_login_runs_through_every_step(void)
{
	struct iscsi_conn *conn = ut_conn_new(0);
	uint8_t id, c[64];
	char text[512];
	size_t clen;
	struct iscsi_pdu *pdu;

	chap_target(false);
	chap_start(conn, &id, c, &clen);
	chap_response_text(id, UT_SECRET, c, clen, text, sizeof(text));
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_SEC) | UT_OP, text) == 0);
	pdu = ut_rsp(conn);
	CU_ASSERT_FATAL(pdu != NULL && ut_status(pdu) == 0);
	CU_ASSERT(hdr(pdu)->flags == (UT_T | UT_CSG(UT_SEC) | UT_OP));
	iscsi_pdu_put(pdu);
	/* libiscsi names itself again in the operational stage. */
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_OP) | UT_FFP, ID_TEXT "HeaderDigest=None\n") ==
		  0);
	CU_ASSERT(ut_only_status(conn) == 0);
	CU_ASSERT(conn->full_feature);
	CU_ASSERT(conn->login.authenticated);
	ut_conn_free(conn);

	/* A wrong secret: 02/01 and nothing else. */
	conn = ut_conn_new(0);
	chap_start(conn, &id, c, &clen);
	chap_response_text(id, "guess", c, clen, text, sizeof(text));
	CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_SEC) | UT_OP, text) == 0);
	CU_ASSERT(failed_status(conn) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	CU_ASSERT(!ut_log_has(UT_SECRET));
	ut_conn_free(conn);
}

static void
required_chap_cannot_be_skipped(void)
{
	chap_target(false);
	/* Straight to the operational stage. */
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_FFP, ID_TEXT) ==
		  KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	/* Leaving the security stage without AuthMethod. */
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_SEC) | UT_OP, ID_TEXT) ==
		  KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	/* Offering only None. */
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_SEC) | UT_OP, ID_TEXT "AuthMethod=None\n") ==
		  KEEL_ISCSI_LOGIN_AUTH_FAILURE);
}

static void
discovery_chap_follows_the_portal_group_then_the_global_options(void)
{
	const char *disc = "InitiatorName=" UT_INITIATOR "\nSessionType=Discovery\n";

	g_iscsi.opts.require_chap = true;
	g_iscsi.opts.chap_group = 1;
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_FFP, disc) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	/* The portal group's own settings win. */
	g_ut_pg1.auth_set = true;
	g_ut_pg1.disable_chap = true;
	{
		struct iscsi_conn *conn = ut_conn_new(0);

		CU_ASSERT(ut_login(conn, UT_T | UT_CSG(UT_OP) | UT_FFP, disc) == 0);
		CU_ASSERT(ut_only_status(conn) == 0);
		ut_conn_free(conn);
	}
	g_ut_pg1.disable_chap = false;
	g_ut_pg1.require_chap = true;
	g_ut_pg1.chap_group = 1;
	CU_ASSERT(fail_with(UT_T | UT_CSG(UT_OP) | UT_FFP, disc) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
}

/*
 * Sessions.
 */
static void
a_new_login_with_the_same_isid_reinstates_the_session(void)
{
	struct iscsi_conn *a = logged_in(1, ""), *b;
	uint16_t old_tsih = a->sess->tsih;

	b = logged_in(0, "");
	CU_ASSERT(b->sess->tsih != old_tsih);
	/* The old session is out of the list at once; its connection goes on its thread. */
	CU_ASSERT(g_iscsi.num_sessions == 1);
	CU_ASSERT(TAILQ_FIRST(&g_iscsi.sessions) == b->sess);
	CU_ASSERT(g_ut_drops == 0);
	CU_ASSERT(ut_run_msgs() == 1);
	CU_ASSERT(g_ut_drops == 1);
	CU_ASSERT(g_ut_nexus_lost == 1);
	CU_ASSERT(g_iscsi.num_sessions == 1);
	ut_conn_free(b);
	CU_ASSERT(g_iscsi.num_sessions == 0);

	/* Unless duplicated ISIDs are allowed. */
	g_iscsi.opts.allow_duplicated_isid = true;
	a = logged_in(1, "");
	b = logged_in(0, "");
	CU_ASSERT(g_iscsi.num_sessions == 2);
	CU_ASSERT(ut_run_msgs() == 0);
	ut_conn_free(a);
	ut_conn_free(b);
}

static struct iscsi_conn *
join(int pg_idx, uint16_t tsih, uint16_t cid)
{
	struct iscsi_conn *conn = ut_conn_new(pg_idx);
	struct ut_req r = ut_req_default(UT_T | UT_CSG(UT_OP) | UT_FFP);

	r.tsih = tsih;
	r.cid = cid;
	CU_ASSERT(ut_login_req(conn, &r, ID_TEXT "HeaderDigest=CRC32C\nMaxConnections=4\n") == 0);
	return conn;
}

static void
a_second_connection_joins_its_session(void)
{
	struct iscsi_conn *a = logged_in(0, "MaxConnections=4\n"), *b;
	struct iscsi_sess *sess = a->sess;
	struct iscsi_pdu *pdu;

	CU_ASSERT(sess->params.max_connections == 2);
	b = join(0, sess->tsih, 2);
	pdu = ut_rsp(b);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(ut_status(pdu) == 0);
	CU_ASSERT(keel_from_be16(hdr(pdu)->tsih) == sess->tsih);
	/* Session keys belong to the leading login. */
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "MaxConnections"), "Irrelevant") == 0);
	CU_ASSERT(strcmp(ut_rsp_value(pdu, "HeaderDigest"), "CRC32C") == 0);
	iscsi_pdu_put(pdu);
	CU_ASSERT(b->full_feature && b->sess == sess);
	CU_ASSERT(b->params.header_digest && !a->params.header_digest);
	CU_ASSERT(sess->num_conns == 2 && sess->conns[1] == b);
	CU_ASSERT(g_iscsi.num_sessions == 1);
	ut_conn_free(a);
	CU_ASSERT(g_iscsi.num_sessions == 1 && sess->num_conns == 1 && sess->conns[0] == b);
	CU_ASSERT(g_ut_nexus_lost == 0);
	ut_conn_free(b);
	CU_ASSERT(g_iscsi.num_sessions == 0);
	CU_ASSERT(g_ut_nexus_lost == 1);
}

static void
joining_beyond_max_connections_is_02_06(void)
{
	struct iscsi_conn *a = logged_in(0, ""), *b;

	CU_ASSERT(a->sess->params.max_connections == 1);
	b = join(0, a->sess->tsih, 2);
	CU_ASSERT(failed_status(b) == KEEL_ISCSI_LOGIN_TOO_MANY_CONNECTIONS);
	ut_conn_free(b);
	CU_ASSERT(a->sess->num_conns == 1);
	ut_conn_free(a);
}

static void
joining_a_missing_or_foreign_or_discovery_session_fails(void)
{
	struct iscsi_conn *a, *b;
	struct ut_req r = ut_req_default(UT_T | UT_CSG(UT_OP) | UT_FFP);

	b = join(0, 77, 2);
	CU_ASSERT(failed_status(b) == KEEL_ISCSI_LOGIN_SESSION_DOES_NOT_EXIST);
	ut_conn_free(b);

	/* Another ISID. */
	a = logged_in(0, "MaxConnections=2\n");
	b = ut_conn_new(0);
	r.tsih = a->sess->tsih;
	r.cid = 2;
	r.isid[5] = 9;
	CU_ASSERT(ut_login_req(b, &r, ID_TEXT) == 0);
	CU_ASSERT(failed_status(b) == KEEL_ISCSI_LOGIN_SESSION_DOES_NOT_EXIST);
	ut_conn_free(b);
	ut_conn_free(a);

	/* A discovery session takes one connection. */
	a = ut_conn_new(0);
	CU_ASSERT(ut_login(a, UT_T | UT_CSG(UT_OP) | UT_FFP,
			   "InitiatorName=" UT_INITIATOR "\n"
			   "SessionType=Discovery\n") == 0);
	CU_ASSERT(ut_only_status(a) == 0);
	b = ut_conn_new(0);
	r = ut_req_default(UT_T | UT_CSG(UT_OP) | UT_FFP);
	r.tsih = a->sess->tsih;
	r.cid = 2;
	CU_ASSERT(ut_login_req(b, &r,
			       "InitiatorName=" UT_INITIATOR "\n"
			       "SessionType=Discovery\n") == 0);
	CU_ASSERT(failed_status(b) == KEEL_ISCSI_LOGIN_CANT_INCLUDE_IN_SESSION);
	ut_conn_free(b);
	ut_conn_free(a);
}

static void
a_login_with_a_cid_in_use_replaces_that_connection(void)
{
	struct iscsi_conn *a = logged_in(0, "MaxConnections=2\n"), *b;
	struct iscsi_sess *sess = a->sess;

	b = join(0, sess->tsih, 1);
	CU_ASSERT(ut_only_status(b) == 0);
	/* a was dropped (and freed); the session lives on with b. */
	CU_ASSERT(g_ut_drops == 1);
	CU_ASSERT(sess->num_conns == 1 && sess->conns[0] == b);
	CU_ASSERT(g_iscsi.num_sessions == 1);
	CU_ASSERT(g_ut_nexus_lost == 0);
	ut_conn_free(b);
}

static void
a_connection_joining_from_another_thread_moves_there_first(void)
{
	struct iscsi_conn *a = logged_in(1, "MaxConnections=2\n"), *b;
	struct iscsi_sess *sess = a->sess;
	struct iscsi_pdu *pdu;
	struct iscsi_conn *c;
	bool in_pg0 = false, in_pg1 = false;

	g_ut_sock_cb_calls = 0;
	b = join(0, sess->tsih, 2);
	/* Nothing answered yet: it moves first. */
	CU_ASSERT(TAILQ_EMPTY(&b->tx_queue));
	CU_ASSERT(b->state == ISCSI_CONN_STATE_INVALID);
	CU_ASSERT(g_ut_num_msgs == 1);
	/* Requests meanwhile are not read as login. */
	CU_ASSERT(ut_login(b, UT_T | UT_CSG(UT_OP) | UT_FFP, "") == 0);
	CU_ASSERT(TAILQ_EMPTY(&b->tx_queue));

	CU_ASSERT(ut_run_msgs() == 2);
	CU_ASSERT(b->pg == &g_ut_pgs[1] && b->thread == &g_ut_threads[1]);
	TAILQ_FOREACH (c, &g_ut_pgs[0].conns, pg_link) {
		in_pg0 |= c == b;
	}
	TAILQ_FOREACH (c, &g_ut_pgs[1].conns, pg_link) {
		in_pg1 |= c == b;
	}
	CU_ASSERT(!in_pg0 && in_pg1);
	CU_ASSERT(b->sock->group == &g_ut_sock_groups[1]);
	CU_ASSERT(g_ut_pgs[0].num_conns == 0 && g_ut_pgs[1].num_conns == 2);
	/* Reading resumed on the new thread. */
	CU_ASSERT(g_ut_sock_cb_calls == 1);
	pdu = ut_rsp(b);
	CU_ASSERT_FATAL(pdu != NULL);
	CU_ASSERT(ut_status(pdu) == 0);
	CU_ASSERT(keel_from_be16(hdr(pdu)->tsih) == sess->tsih);
	iscsi_pdu_put(pdu);
	CU_ASSERT(b->full_feature && b->sess == sess && sess->num_conns == 2);
	/* The LUNs were opened after the move. */
	CU_ASSERT(b->lun_descs[0] != NULL);
	ut_conn_free(b);
	ut_conn_free(a);
}

static void
a_session_that_ends_while_a_connection_moves_to_it_is_02_0a(void)
{
	struct iscsi_conn *a = logged_in(1, "MaxConnections=2\n"), *b;

	b = join(0, a->sess->tsih, 2);
	CU_ASSERT(b->state == ISCSI_CONN_STATE_INVALID);
	ut_conn_free(a);
	CU_ASSERT(ut_run_msgs() == 2);
	CU_ASSERT(b->pg == &g_ut_pgs[1]);
	CU_ASSERT(failed_status(b) == KEEL_ISCSI_LOGIN_SESSION_DOES_NOT_EXIST);
	ut_conn_free(b);
	CU_ASSERT(g_iscsi.num_sessions == 0);
}

static void
a_connection_dropped_before_it_moves_stays_dropped(void)
{
	struct iscsi_conn *a = logged_in(1, "MaxConnections=2\n"), *b;

	b = join(0, a->sess->tsih, 2);
	ut_conn_free(b);
	/* The move message finds nothing and does nothing. */
	CU_ASSERT(ut_run_msgs() == 1);
	CU_ASSERT(a->sess->num_conns == 1);
	ut_conn_free(a);
}

static void
migrate_moves_a_connection_and_resumes_reading(void)
{
	struct iscsi_conn *conn = ut_conn_new(0);

	CU_ASSERT(iscsi_conn_migrate(conn, &g_ut_pgs[0]) == -EINVAL);
	CU_ASSERT(iscsi_conn_migrate(conn, &g_ut_pgs[1]) == 0);
	CU_ASSERT(conn->pg == &g_ut_pgs[1] && conn->sock->group == NULL);
	CU_ASSERT(TAILQ_EMPTY(&g_ut_pgs[0].conns));
	CU_ASSERT(ut_run_msgs() == 1);
	CU_ASSERT(TAILQ_FIRST(&g_ut_pgs[1].conns) == conn);
	CU_ASSERT(conn->sock->group == &g_ut_sock_groups[1]);
	CU_ASSERT(conn->sock->cb == ut_sock_cb && conn->sock->cb_arg == conn);
	CU_ASSERT(g_ut_sock_cb_calls == 1);
	ut_conn_free(conn);

	/* No message: it stays where it was. */
	conn = ut_conn_new(0);
	g_ut_send_msg_rc = -ENOMEM;
	CU_ASSERT(iscsi_conn_migrate(conn, &g_ut_pgs[1]) == -ENOMEM);
	CU_ASSERT(conn->pg == &g_ut_pgs[0] && TAILQ_FIRST(&g_ut_pgs[0].conns) == conn);
	CU_ASSERT(conn->sock->group == &g_ut_sock_groups[0]);
	CU_ASSERT(g_ut_pgs[0].num_conns == 1 && g_ut_pgs[1].num_conns == 0);
	g_ut_send_msg_rc = 0;
	ut_conn_free(conn);

	/* Cannot be polled there: dropped. */
	conn = ut_conn_new(0);
	CU_ASSERT(iscsi_conn_migrate(conn, &g_ut_pgs[1]) == 0);
	g_ut_add_sock_rc = -ENOMEM;
	CU_ASSERT(ut_run_msgs() == 1);
	CU_ASSERT(g_ut_drops == 1);
	CU_ASSERT(TAILQ_EMPTY(&g_ut_pgs[1].conns));
}

static void
a_lun_that_goes_away_closes_its_descriptor(void)
{
	struct iscsi_conn *conn = logged_in(0, "");
	struct keel_scsi_lun_desc *desc = conn->lun_descs[1];

	CU_ASSERT_FATAL(desc != NULL && g_ut_remove_cb != NULL);
	g_ut_remove_cb(desc, g_ut_remove_ctx);
	CU_ASSERT(conn->lun_descs[1] == NULL && conn->lun_descs[0] != NULL);
	CU_ASSERT(g_ut_lun_closes == 1);
	ut_conn_free(conn);
	CU_ASSERT(g_ut_lun_closes == 2);
}

static void
queue_depth_is_the_targets_within_the_global_limit(void)
{
	struct iscsi_conn *conn;

	g_ut_target.queue_depth = 16;
	conn = logged_in(0, "");
	CU_ASSERT(conn->sess->queue_depth == 16);
	CU_ASSERT(conn->sess->max_cmdsn == conn->sess->exp_cmdsn + 15);
	ut_conn_free(conn);
	g_ut_target.queue_depth = 1000;
	conn = logged_in(0, "");
	CU_ASSERT(conn->sess->queue_depth == ISCSI_DEFAULT_MAX_QUEUE_DEPTH);
	ut_conn_free(conn);
}

static void
tsihs_skip_zero_and_those_in_use(void)
{
	struct iscsi_conn *a, *b;
	struct ut_req r = ut_req_default(UT_T | UT_CSG(UT_OP) | UT_FFP);

	g_iscsi.next_tsih = 65535;
	a = logged_in(0, "");
	CU_ASSERT(a->sess->tsih == 65535);
	g_iscsi.next_tsih = 65535;
	b = ut_conn_new(0);
	r.isid[5] = 7;
	CU_ASSERT(ut_login_req(b, &r, ID_TEXT) == 0);
	CU_ASSERT(ut_only_status(b) == 0);
	CU_ASSERT(b->sess->tsih == 1);
	ut_conn_free(a);
	ut_conn_free(b);
}

static const struct keel_ut_test g_tests[] = {
	KEEL_UT_TEST(one_request_logs_in_to_the_full_feature_phase),
	KEEL_UT_TEST(login_goes_through_security_and_operational_stages),
	KEEL_UT_TEST(security_may_lead_straight_to_the_full_feature_phase),
	KEEL_UT_TEST(without_transit_the_target_stays_in_the_stage),
	KEEL_UT_TEST(a_continued_request_is_reassembled),
	KEEL_UT_TEST(a_long_response_is_continued),
	KEEL_UT_TEST(a_discovery_session_needs_no_target),
	KEEL_UT_TEST(an_unsupported_version_is_02_05),
	KEEL_UT_TEST(bad_stage_flags_are_initiator_errors),
	KEEL_UT_TEST(isid_tsih_cid_and_itt_must_not_change_during_login),
	KEEL_UT_TEST(missing_names_are_02_07),
	KEEL_UT_TEST(an_unknown_or_deleted_target_is_02_03),
	KEEL_UT_TEST(an_initiator_the_acl_refuses_is_02_02_and_learns_nothing),
	KEEL_UT_TEST(repeated_failed_logins_from_one_address_are_answered_later),
	KEEL_UT_TEST(a_redirected_target_answers_01_01_with_the_new_address),
	KEEL_UT_TEST(max_sessions_reached_is_03_02),
	KEEL_UT_TEST(an_unknown_session_type_is_02_09),
	KEEL_UT_TEST(a_target_requiring_digests_refuses_a_login_without_them),
	KEEL_UT_TEST(a_text_longer_than_the_limit_is_refused),
	KEEL_UT_TEST(a_chap_login_runs_through_every_step),
	KEEL_UT_TEST(required_chap_cannot_be_skipped),
	KEEL_UT_TEST(discovery_chap_follows_the_portal_group_then_the_global_options),
	KEEL_UT_TEST(a_new_login_with_the_same_isid_reinstates_the_session),
	KEEL_UT_TEST(a_second_connection_joins_its_session),
	KEEL_UT_TEST(joining_beyond_max_connections_is_02_06),
	KEEL_UT_TEST(joining_a_missing_or_foreign_or_discovery_session_fails),
	KEEL_UT_TEST(a_login_with_a_cid_in_use_replaces_that_connection),
	KEEL_UT_TEST(a_connection_joining_from_another_thread_moves_there_first),
	KEEL_UT_TEST(a_session_that_ends_while_a_connection_moves_to_it_is_02_0a),
	KEEL_UT_TEST(a_connection_dropped_before_it_moves_stays_dropped),
	KEEL_UT_TEST(migrate_moves_a_connection_and_resumes_reading),
	KEEL_UT_TEST(a_lun_that_goes_away_closes_its_descriptor),
	KEEL_UT_TEST(queue_depth_is_the_targets_within_the_global_limit),
	KEEL_UT_TEST(tsihs_skip_zero_and_those_in_use),
};

int
main(void)
{
	return ut_run("iscsi_login", g_tests, sizeof(g_tests) / sizeof(g_tests[0]));
}
