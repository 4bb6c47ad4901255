/*
 * Fuzz target for the login's key negotiation on its own (lib/iscsi/params.c, chap.c): one
 * login of one or two requests on a connection set up as login.c sets it up, then what the
 * target declares itself and the checks before the full feature phase. Every answer must parse,
 * answer only keys offered in that request (or keys the target declares or CHAP sends), name a
 * key at most once in the login (but for an unknown key offered again, or an initiator's
 * declaration of a key the target declares, rejected before the target's own), keep values
 * within their limits, and what was negotiated must be within the ranges of RFC 7143 13.
 *
 * Input: byte 0 sets the connection up (bit 0: operational stage, else security; bit 1:
 * discovery session; bit 2: a connection joining a session (TSIH given); bit 3: CHAP offered;
 * bit 4: CHAP required; bit 5: mutual CHAP; bit 6: the target requires header and data
 * digests; bit 7: no target node known yet). Byte 1 splits the rest into two requests at
 * byte1 * len / 256 (0: a single request). The rest is the key text ("key=value\0...").
 */
#include "keel/stdinc.h"

#include "iscsi/iscsi_internal.h"
#include "iscsi/login_internal.h"
#include "fuzz_common.h"

/* Distinct keys remembered across one login's answers. */
#define FUZZ_MAX_ANSWERS 512

struct answers {
	char *keys[FUZZ_MAX_ANSWERS];
	unsigned int n;
	const struct iscsi_key_set *offered; /* this request's keys */
};

static uint32_t g_rand;
static bool g_dump; /* KEEL_FUZZ_DUMP set: print each answer */

/* CHAP challenges from a fixed generator (RAND_bytes is wrapped at link time). */
int __wrap_RAND_bytes(unsigned char *buf, int num);

int
__wrap_RAND_bytes(unsigned char *buf, int num)
{
	int i;

	for (i = 0; i < num; i++) {
		g_rand = g_rand * 1103515245u + 12345u;
		buf[i] = (unsigned char)(g_rand >> 16);
	}
	return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_setup_log();
	g_dump = getenv("KEEL_FUZZ_DUMP") != NULL;
	return 0;
}

/* RFC 7143 13: the range of each numerical key's result. */
static const struct {
	const char *key;
	uint64_t min, max;
} g_ranges[] = {
	{"MaxRecvDataSegmentLength", 512, 16777215},
	{"MaxBurstLength", 512, 16777215},
	{"FirstBurstLength", 512, 16777215},
	{"MaxConnections", 1, 65535},
	{"MaxOutstandingR2T", 1, 65535},
	{"DefaultTime2Wait", 0, 3600},
	{"DefaultTime2Retain", 0, 3600},
	{"ErrorRecoveryLevel", 0, 2},
	{"TargetPortalGroupTag", 1, 65535},
};

/* Keys the target sends without their being offered in the same request. */
static bool
declared_key(const char *key)
{
	static const char *const keys[] = {"TargetPortalGroupTag",
					   "TargetAlias",
					   "MaxRecvDataSegmentLength",
					   "CHAP_A",
					   "CHAP_I",
					   "CHAP_C",
					   "CHAP_N",
					   "CHAP_R"};
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(keys); i++) {
		if (strcmp(key, keys[i]) == 0) {
			return true;
		}
	}
	return false;
}

static bool
special_value(const char *value)
{
	return strcmp(value, "Reject") == 0 || strcmp(value, "Irrelevant") == 0 ||
	       strcmp(value, "NotUnderstood") == 0;
}

static int
check_answer(void *ctx, const char *key, const char *value)
{
	struct answers *a = ctx;
	bool big = strcmp(key, "CHAP_C") == 0 || strcmp(key, "CHAP_R") == 0;
	uint64_t v;
	unsigned int i;

	if (g_dump) {
		fprintf(stderr, "  <- %s=%s\n", key, value);
	}
	FUZZ_CHECK(key[0] != '\0' && strlen(key) <= KEEL_ISCSI_MAX_TEXT_KEY);
	FUZZ_CHECK(strlen(value) <= (big ? 2 * 64 + 2 : 255u));
	FUZZ_CHECK(declared_key(key) ||
		   (a->offered != NULL && iscsi_params_get(a->offered, key) != NULL));
	if (!special_value(value)) {
		for (i = 0; i < KEEL_COUNTOF(g_ranges); i++) {
			if (strcmp(key, g_ranges[i].key) == 0) {
				FUZZ_CHECK(iscsi_text_parse_number(value, &v) == 0);
				FUZZ_CHECK(v >= g_ranges[i].min && v <= g_ranges[i].max);
			}
		}
	}
	/* An unknown key offered twice is the initiator's error, answered each time; and an
	 * initiator's declaration of a key the target declares too (MaxRecvDataSegmentLength with
	 * a bad value, TargetAlias, TargetPortalGroupTag) is rejected before the target's own. */
	if (strcmp(value, "NotUnderstood") == 0 ||
	    (strcmp(value, "Reject") == 0 && declared_key(key))) {
		return 0;
	}
	for (i = 0; i < a->n; i++) {
		FUZZ_CHECK(strcmp(a->keys[i], key) != 0);
	}
	if (a->n < FUZZ_MAX_ANSWERS) {
		a->keys[a->n] = strdup(key);
		FUZZ_CHECK(a->keys[a->n] != NULL);
		a->n++;
	}
	return 0;
}

/* What the target wrote since the last response went out: check it, then "send" it. */
static void
check_response(struct iscsi_conn *conn, struct answers *a)
{
	struct iscsi_login_state *ls = &conn->login;

	if (ls->rsp_len > 0) {
		FUZZ_CHECK(ls->rsp_text[ls->rsp_len - 1] == '\0');
		FUZZ_CHECK(iscsi_text_parse(ls->rsp_text, ls->rsp_len, check_answer, a) == 0);
	}
	ls->rsp_len = 0;
}

/* One request: collect and negotiate its keys. Returns the login status. */
static int
request(struct iscsi_conn *conn, const uint8_t *data, size_t len, struct answers *a)
{
	struct iscsi_key_set *set;
	char *text;
	int status;

	set = calloc(1, sizeof(*set));
	text = malloc(len > 0 ? len : 1);
	FUZZ_CHECK(set != NULL && text != NULL);
	memcpy(text, data, len);
	status = iscsi_params_collect(conn, text, (uint32_t)len, set);
	if (status == 0) {
		FUZZ_CHECK(set->n >= 0 && set->n <= ISCSI_LOGIN_MAX_KEYS);
		a->offered = set;
		status = iscsi_params_negotiate(conn, set);
		check_response(conn, a);
		a->offered = NULL;
	}
	free(text);
	free(set);
	return status;
}

static void
check_negotiated(const struct iscsi_conn *conn)
{
	const struct iscsi_sess_params *sp = &conn->login.sess_params;

	FUZZ_CHECK(conn->params.max_send_dsl >= 512 && conn->params.max_send_dsl <= 16777215);
	FUZZ_CHECK(sp->max_burst_length >= 512 && sp->max_burst_length <= 16777215);
	FUZZ_CHECK(sp->first_burst_length >= 512 && sp->first_burst_length <= sp->max_burst_length);
	FUZZ_CHECK(sp->max_connections >= 1 && sp->max_outstanding_r2t >= 1);
	FUZZ_CHECK(sp->default_time2wait <= 3600 && sp->default_time2retain <= 3600);
	FUZZ_CHECK(sp->error_recovery_level <= 2);
	if (conn->target != NULL && conn->target->header_digest) {
		FUZZ_CHECK(conn->params.header_digest && conn->params.data_digest);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iscsi_tgt_node *target = NULL;
	struct answers a = {0};
	struct iscsi_conn *conn;
	uint8_t flags;
	size_t split, len;
	unsigned int i;
	int status;

	if (size < 2) {
		return 0;
	}
	flags = data[0];
	len = size - 2;
	split = (size_t)data[1] * len / 256;
	data += 2;
	g_rand = 1;

	conn = calloc(1, sizeof(*conn));
	FUZZ_CHECK(conn != NULL);
	conn->state = ISCSI_CONN_STATE_LOGIN;
	conn->params.max_recv_dsl = 8192;
	conn->params.max_send_dsl = 8192;
	conn->pg_tag = 1;
	keel_strlcpy(conn->initiator_addr, "127.0.0.1", sizeof(conn->initiator_addr));
	keel_strlcpy(conn->initiator_name, "iqn.2016-06.io.keel:fuzz",
		     sizeof(conn->initiator_name));
	/* As login.c leaves it after the first request's identity keys. */
	conn->login.first_pdu_seen = true;
	conn->login.initiator_name_seen = true;
	conn->login.session_type_seen = true;
	conn->login.csg = (flags & 0x01) ? KEEL_ISCSI_OPERATIONAL_NEGOTIATION
					 : KEEL_ISCSI_SECURITY_NEGOTIATION;
	conn->login.tsih = (flags & 0x04) ? 1 : 0;
	iscsi_params_login_init(conn);
	conn->login.sess_params.discovery = (flags & 0x02) != 0;
	conn->login.auth_group = (flags & 0x08) ? 1 : 0;
	conn->login.auth_required = (flags & 0x10) != 0;
	conn->login.auth_mutual = (flags & 0x20) != 0;
	if (!conn->login.sess_params.discovery && !(flags & 0x80)) {
		target = calloc(1, sizeof(*target));
		FUZZ_CHECK(target != NULL);
		keel_strlcpy(target->name, "iqn.2016-06.io.spdk:fuzz0", sizeof(target->name));
		keel_strlcpy(target->alias, "fuzz alias", sizeof(target->alias));
		target->header_digest = target->data_digest = (flags & 0x40) != 0;
		conn->target = target;
	}

	status = request(conn, data, split, &a);
	if (status == 0 && split < len) {
		status = request(conn, data + split, len - split, &a);
	}
	if (g_dump) {
		fprintf(stderr, "  status 0x%04x\n", (unsigned int)status);
	}
	if (status == 0) {
		FUZZ_CHECK(iscsi_params_declare(conn, conn->login.csg ==
							      KEEL_ISCSI_OPERATIONAL_NEGOTIATION) ==
			   0);
		check_response(conn, &a);
		if (iscsi_params_finish(conn) == 0) {
			check_negotiated(conn);
		}
	}

	for (i = 0; i < a.n; i++) {
		free(a.keys[i]);
	}
	free(conn->login.rsp_text);
	free(conn->login.text);
	free(target);
	free(conn);
	return 0;
}
