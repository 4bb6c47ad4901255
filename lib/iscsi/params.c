/*
 * Text keys (RFC 7143 6.1, 6.2, 13): parsing "key=value\0" data, building answers, and the
 * login negotiation of every operational and security key with its default, range and result
 * function. Results go to the connection's parameters and, for a leading login, to the session
 * parameters the session takes over when the login completes.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/util.h"

#include "login_internal.h"

/* What a key is and how its answer is found (RFC 7143 6.2.2 result functions). */
enum params_kind {
	PK_DIGEST,  /* list: CRC32C, None */
	PK_NUM_MIN, /* numerical, result min(offer, ours) */
	PK_NUM_MAX, /* numerical, result max(offer, ours) */
	PK_BOOL_OR,
	PK_BOOL_AND,
	PK_MRDSL,       /* declarative number: what the initiator receives */
	PK_IDENTITY,    /* InitiatorName, TargetName, SessionType, InitiatorAlias: declarative */
	PK_TARGET_ONLY, /* declared by targets only: an initiator sending it gets Reject */
	PK_MARKER,      /* OFMarker, IFMarker: keel sends no markers */
	PK_MARKINT,     /* OFMarkInt, IFMarkInt: irrelevant without markers */
	PK_SENDTARGETS, /* a full feature phase request: irrelevant during login */
	PK_TASK_REPORTING,
	PK_AUTH_METHOD,
	PK_CHAP,
};

/* Where a result goes and where our own value comes from. */
enum params_field {
	PF_NONE,
	PF_HEADER_DIGEST,
	PF_DATA_DIGEST,
	PF_MAX_CONNECTIONS,
	PF_INITIAL_R2T,
	PF_IMMEDIATE_DATA,
	PF_MAX_BURST,
	PF_FIRST_BURST,
	PF_TIME2WAIT,
	PF_TIME2RETAIN,
	PF_MAX_R2T,
	PF_PDU_IN_ORDER,
	PF_SEQ_IN_ORDER,
	PF_ERL,
	PF_PROTOCOL_LEVEL,
};

#define PF_LO 0x01       /* session-wide, leading login only: Irrelevant elsewhere */
#define PF_DISC_IRR 0x02 /* Irrelevant when SessionType=Discovery */
#define PF_SECURITY 0x04 /* security negotiation stage only */

struct params_key {
	const char *name;
	enum params_kind kind;
	enum params_field field;
	uint8_t flags;
	uint32_t min;
	uint32_t max;
};

/* In the order keys are negotiated: AuthMethod before the CHAP keys, InitialR2T and
 * ImmediateData before FirstBurstLength (which they can make irrelevant). */
static const struct params_key g_params_keys[] = {
	{"InitiatorName", PK_IDENTITY, PF_NONE, 0, 0, 0},
	{"TargetName", PK_IDENTITY, PF_NONE, 0, 0, 0},
	{"SessionType", PK_IDENTITY, PF_NONE, 0, 0, 0},
	{"InitiatorAlias", PK_IDENTITY, PF_NONE, 0, 0, 0},
	{"TargetAlias", PK_TARGET_ONLY, PF_NONE, 0, 0, 0},
	{"TargetAddress", PK_TARGET_ONLY, PF_NONE, 0, 0, 0},
	{"TargetPortalGroupTag", PK_TARGET_ONLY, PF_NONE, 0, 0, 0},
	{"AuthMethod", PK_AUTH_METHOD, PF_NONE, PF_SECURITY, 0, 0},
	{"CHAP_A", PK_CHAP, PF_NONE, PF_SECURITY, 0, 0},
	{"CHAP_I", PK_CHAP, PF_NONE, PF_SECURITY, 0, 0},
	{"CHAP_C", PK_CHAP, PF_NONE, PF_SECURITY, 0, 0},
	{"CHAP_N", PK_CHAP, PF_NONE, PF_SECURITY, 0, 0},
	{"CHAP_R", PK_CHAP, PF_NONE, PF_SECURITY, 0, 0},
	{"HeaderDigest", PK_DIGEST, PF_HEADER_DIGEST, 0, 0, 0},
	{"DataDigest", PK_DIGEST, PF_DATA_DIGEST, 0, 0, 0},
	{"MaxRecvDataSegmentLength", PK_MRDSL, PF_NONE, 0, ISCSI_MIN_DSL, ISCSI_MAX_DSL},
	{"MaxConnections", PK_NUM_MIN, PF_MAX_CONNECTIONS, PF_LO | PF_DISC_IRR, 1, 65535},
	{"InitialR2T", PK_BOOL_OR, PF_INITIAL_R2T, PF_LO | PF_DISC_IRR, 0, 0},
	{"ImmediateData", PK_BOOL_AND, PF_IMMEDIATE_DATA, PF_LO | PF_DISC_IRR, 0, 0},
	{"MaxBurstLength", PK_NUM_MIN, PF_MAX_BURST, PF_LO | PF_DISC_IRR, ISCSI_MIN_DSL,
	 ISCSI_MAX_DSL},
	{"FirstBurstLength", PK_NUM_MIN, PF_FIRST_BURST, PF_LO | PF_DISC_IRR, ISCSI_MIN_DSL,
	 ISCSI_MAX_DSL},
	{"DefaultTime2Wait", PK_NUM_MAX, PF_TIME2WAIT, PF_LO, 0, 3600},
	{"DefaultTime2Retain", PK_NUM_MIN, PF_TIME2RETAIN, PF_LO, 0, 3600},
	{"MaxOutstandingR2T", PK_NUM_MIN, PF_MAX_R2T, PF_LO | PF_DISC_IRR, 1, 65535},
	{"DataPDUInOrder", PK_BOOL_OR, PF_PDU_IN_ORDER, PF_LO | PF_DISC_IRR, 0, 0},
	{"DataSequenceInOrder", PK_BOOL_OR, PF_SEQ_IN_ORDER, PF_LO | PF_DISC_IRR, 0, 0},
	{"ErrorRecoveryLevel", PK_NUM_MIN, PF_ERL, PF_LO, 0, 2},
	{"OFMarker", PK_MARKER, PF_NONE, 0, 0, 0},
	{"IFMarker", PK_MARKER, PF_NONE, 0, 0, 0},
	{"OFMarkInt", PK_MARKINT, PF_NONE, 0, 0, 0},
	{"IFMarkInt", PK_MARKINT, PF_NONE, 0, 0, 0},
	{"SendTargets", PK_SENDTARGETS, PF_NONE, 0, 0, 0},
	{"TaskReporting", PK_TASK_REPORTING, PF_NONE, PF_LO | PF_DISC_IRR, 0, 0},
	{"iSCSIProtocolLevel", PK_NUM_MIN, PF_PROTOCOL_LEVEL, PF_LO, 0, 31},
};
#define PARAMS_NUM_KEYS (sizeof(g_params_keys) / sizeof(g_params_keys[0]))
KEEL_STATIC_ASSERT(PARAMS_NUM_KEYS <= 64, "keys_seen has a bit per key");

/* The iSCSI protocol level keel implements (RFC 7143 13.24: 1 for RFC 7143). */
#define PARAMS_PROTOCOL_LEVEL 1
/* Answers past this much text mean a runaway request; they are refused. */
#define PARAMS_MAX_ANSWER (1024 * 1024)

/*
 * Text format.
 */
static uint32_t
params_value_max(const char *key, uint32_t key_len)
{
	if ((key_len == 6 && (memcmp(key, "CHAP_C", 6) == 0 || memcmp(key, "CHAP_R", 6) == 0)) ||
	    (key_len > 4 && (memcmp(key, "SRP_", 4) == 0 || memcmp(key, "KRB_", 4) == 0))) {
		return ISCSI_TEXT_MAX_BIG_VALUE;
	}
	return KEEL_ISCSI_MAX_TEXT_VALUE;
}

/* The entry "key=value" at data + off (the data ends in a NUL): its key length and its length
 * without the NUL. \return 0 or -EINVAL (no '=', empty or long key, long value). */
static int
params_entry(const char *data, uint32_t len, uint32_t off, uint32_t *key_len, uint32_t *entry_len)
{
	const char *p = data + off;
	const char *end = memchr(p, '\0', len - off);
	const char *eq;

	if (end == NULL) {
		return -EINVAL;
	}
	*entry_len = (uint32_t)(end - p);
	eq = memchr(p, '=', *entry_len);
	if (eq == NULL || eq == p || eq - p > KEEL_ISCSI_MAX_TEXT_KEY) {
		return -EINVAL;
	}
	*key_len = (uint32_t)(eq - p);
	if (*entry_len - *key_len - 1 > params_value_max(p, *key_len)) {
		return -EINVAL;
	}
	return 0;
}

int
iscsi_text_parse(const char *data, uint32_t len,
		 int (*fn)(void *ctx, const char *key, const char *value), void *ctx)
{
	char key[KEEL_ISCSI_MAX_TEXT_KEY + 1];
	uint32_t off = 0, key_len, entry_len;
	int rc;

	if (len == 0) {
		return 0;
	}
	if (data[len - 1] != '\0') {
		return -EINVAL;
	}
	while (off < len) {
		if (data[off] == '\0') {
			/* Padding some initiators leave between or after pairs. */
			off++;
			continue;
		}
		rc = params_entry(data, len, off, &key_len, &entry_len);
		if (rc != 0) {
			return rc;
		}
		memcpy(key, data + off, key_len);
		key[key_len] = '\0';
		rc = fn(ctx, key, data + off + key_len + 1);
		if (rc != 0) {
			return rc;
		}
		off += entry_len + 1;
	}
	return 0;
}

int
iscsi_text_append(char **buf, uint32_t *len, uint32_t *cap, const char *key, const char *value)
{
	size_t klen = strlen(key), vlen = strlen(value), need = klen + vlen + 2;
	uint32_t new_cap;
	char *p;

	if (need > PARAMS_MAX_ANSWER || *len + need > PARAMS_MAX_ANSWER) {
		return -ENOSPC;
	}
	if (*len + need > *cap) {
		new_cap = *cap ? *cap : 512;
		while (new_cap < *len + need) {
			new_cap *= 2;
		}
		p = realloc(*buf, new_cap);
		if (p == NULL) {
			return -ENOMEM;
		}
		*buf = p;
		*cap = new_cap;
	}
	p = *buf + *len;
	memcpy(p, key, klen);
	p[klen] = '=';
	memcpy(p + klen + 1, value, vlen);
	p[klen + 1 + vlen] = '\0';
	*len += (uint32_t)need;
	return 0;
}

int
iscsi_text_parse_number(const char *str, uint64_t *val)
{
	uint64_t v = 0;
	unsigned int digit;
	const char *p = str;
	bool hex = str[0] == '0' && (str[1] == 'x' || str[1] == 'X');

	if (hex) {
		p += 2;
	}
	if (*p == '\0') {
		return -EINVAL;
	}
	for (; *p != '\0'; p++) {
		if (*p >= '0' && *p <= '9') {
			digit = (unsigned int)(*p - '0');
		} else if (hex && *p >= 'a' && *p <= 'f') {
			digit = (unsigned int)(*p - 'a' + 10);
		} else if (hex && *p >= 'A' && *p <= 'F') {
			digit = (unsigned int)(*p - 'A' + 10);
		} else {
			return -EINVAL;
		}
		if (hex ? v > (UINT64_MAX >> 4) : v > (UINT64_MAX - digit) / 10) {
			return -EINVAL;
		}
		v = hex ? (v << 4) | digit : v * 10 + digit;
	}
	*val = v;
	return 0;
}

/*
 * Collecting a request's keys.
 */
static int
params_key_index(const char *key)
{
	size_t i;

	for (i = 0; i < PARAMS_NUM_KEYS; i++) {
		if (strcmp(g_params_keys[i].name, key) == 0) {
			return (int)i;
		}
	}
	return -1;
}

/* Offered twice: a known key already in this login (identity keys may be declared again in a
 * later request, as some initiators do, and are compared then), or any key twice in one text. */
static bool
params_is_repeat(const struct iscsi_key_set *set, int n, const struct iscsi_kv *kv,
		 uint64_t seen_now, uint64_t seen_before)
{
	int i;

	if (kv->idx >= 0) {
		uint64_t bit = 1ull << kv->idx;

		if (seen_now & bit) {
			return true;
		}
		return (seen_before & bit) && g_params_keys[kv->idx].kind != PK_IDENTITY;
	}
	for (i = 0; i < n; i++) {
		if (set->kv[i].idx < 0 && strcmp(set->kv[i].key, kv->key) == 0) {
			return true;
		}
	}
	return false;
}

int
iscsi_params_collect(struct iscsi_conn *conn, char *text, uint32_t len, struct iscsi_key_set *set)
{
	struct iscsi_login_state *ls = &conn->login;
	uint32_t off = 0, key_len, entry_len;
	uint64_t seen_now = 0;
	struct iscsi_kv *kv;

	set->n = 0;
	set->earlier = ls->keys_seen;
	if (len == 0) {
		return 0;
	}
	if (text[len - 1] != '\0') {
		ISCSI_CONN_ERRLOG(conn, "login text does not end in a NUL\n");
		return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
	}
	while (off < len) {
		if (text[off] == '\0') {
			off++;
			continue;
		}
		if (params_entry(text, len, off, &key_len, &entry_len) != 0) {
			ISCSI_CONN_ERRLOG(conn, "malformed login key at offset %u\n", off);
			return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
		}
		if (set->n == ISCSI_LOGIN_MAX_KEYS) {
			ISCSI_CONN_ERRLOG(conn, "more than %d login keys\n", ISCSI_LOGIN_MAX_KEYS);
			return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
		}
		kv = &set->kv[set->n];
		text[off + key_len] = '\0';
		kv->key = text + off;
		kv->value = text + off + key_len + 1;
		kv->idx = params_key_index(kv->key);
		if (params_is_repeat(set, set->n, kv, seen_now, ls->keys_seen)) {
			ISCSI_CONN_ERRLOG(conn, "login key %s offered twice\n", kv->key);
			return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
		}
		if (kv->idx >= 0) {
			seen_now |= 1ull << kv->idx;
		}
		set->n++;
		off += entry_len + 1;
	}
	ls->keys_seen |= seen_now;
	return 0;
}

const char *
iscsi_params_get(const struct iscsi_key_set *set, const char *key)
{
	int i;

	for (i = 0; i < set->n; i++) {
		if (strcmp(set->kv[i].key, key) == 0) {
			return set->kv[i].value;
		}
	}
	return NULL;
}

/*
 * Negotiation.
 */
void
iscsi_params_login_init(struct iscsi_conn *conn)
{
	struct iscsi_sess_params *sp = &conn->login.sess_params;

	/* RFC 7143 13: what holds for a key that is never negotiated. */
	memset(sp, 0, sizeof(*sp));
	sp->max_connections = 1;
	sp->initial_r2t = true;
	sp->immediate_data = true;
	sp->max_burst_length = 262144;
	sp->first_burst_length = 65536;
	sp->default_time2wait = 2;
	sp->default_time2retain = 20;
	sp->max_outstanding_r2t = 1;
	sp->data_pdu_in_order = true;
	sp->data_sequence_in_order = true;
	sp->error_recovery_level = 0;
	conn->params.header_digest = false;
	conn->params.data_digest = false;
}

static uint32_t
params_clamp(uint32_t v, const struct params_key *k)
{
	return KEEL_MIN(KEEL_MAX(v, k->min), k->max);
}

/* The target's own value of a negotiated key. */
static uint32_t
params_ours(const struct params_key *k)
{
	const struct iscsi_opts *o = &g_iscsi.opts;

	switch (k->field) {
	case PF_MAX_CONNECTIONS:
		return params_clamp(KEEL_MIN(o->max_connections_per_session,
					     ISCSI_MAX_CONNS_PER_SESSION),
				    k);
	case PF_INITIAL_R2T:
		return o->initial_r2t;
	case PF_IMMEDIATE_DATA:
		return o->immediate_data;
	case PF_MAX_BURST:
		return params_clamp(KEEL_MIN(o->max_burst_length, ISCSI_MAX_BURST_LIMIT), k);
	case PF_FIRST_BURST:
		return params_clamp(KEEL_MIN(o->first_burst_length, o->max_burst_length), k);
	case PF_TIME2WAIT:
		return params_clamp(o->default_time2wait, k);
	case PF_TIME2RETAIN:
		return params_clamp(o->default_time2retain, k);
	case PF_MAX_R2T:
		return params_clamp(o->max_r2t_per_connection, k);
	case PF_PDU_IN_ORDER:
	case PF_SEQ_IN_ORDER:
		/* keel takes data in order (OR: the result is Yes whatever is offered). */
		return true;
	case PF_ERL:
		/* Only ErrorRecoveryLevel 0 is implemented, whatever the options say. */
		return 0;
	case PF_PROTOCOL_LEVEL:
		return PARAMS_PROTOCOL_LEVEL;
	default:
		return 0;
	}
}

static void
params_store(struct iscsi_conn *conn, const struct params_key *k, uint32_t v)
{
	struct iscsi_sess_params *sp = &conn->login.sess_params;

	switch (k->field) {
	case PF_HEADER_DIGEST:
		conn->params.header_digest = v != 0;
		break;
	case PF_DATA_DIGEST:
		conn->params.data_digest = v != 0;
		break;
	case PF_MAX_CONNECTIONS:
		sp->max_connections = v;
		break;
	case PF_INITIAL_R2T:
		sp->initial_r2t = v != 0;
		break;
	case PF_IMMEDIATE_DATA:
		sp->immediate_data = v != 0;
		break;
	case PF_MAX_BURST:
		sp->max_burst_length = v;
		break;
	case PF_FIRST_BURST:
		sp->first_burst_length = v;
		break;
	case PF_TIME2WAIT:
		sp->default_time2wait = v;
		break;
	case PF_TIME2RETAIN:
		sp->default_time2retain = v;
		break;
	case PF_MAX_R2T:
		sp->max_outstanding_r2t = v;
		break;
	case PF_PDU_IN_ORDER:
		sp->data_pdu_in_order = v != 0;
		break;
	case PF_SEQ_IN_ORDER:
		sp->data_sequence_in_order = v != 0;
		break;
	case PF_ERL:
		sp->error_recovery_level = v;
		break;
	default:
		break;
	}
}

static int
params_answer(struct iscsi_conn *conn, const char *key, const char *value)
{
	struct iscsi_login_state *ls = &conn->login;

	return iscsi_text_append(&ls->rsp_text, &ls->rsp_len, &ls->rsp_cap, key, value);
}

/* Next item of a list-of-values (RFC 7143 6.1: comma separated) into item; false at the end. */
static bool
params_list_next(const char **list, char *item, size_t item_len)
{
	const char *p = *list, *comma;
	size_t n;

	if (p == NULL || *p == '\0') {
		return false;
	}
	comma = strchr(p, ',');
	n = comma != NULL ? (size_t)(comma - p) : strlen(p);
	if (n >= item_len) {
		n = item_len - 1;
	}
	memcpy(item, p, n);
	item[n] = '\0';
	*list = comma != NULL ? comma + 1 : p + strlen(p);
	return true;
}

static int
params_number(struct iscsi_conn *conn, const struct params_key *k, const char *value)
{
	struct iscsi_sess_params *sp = &conn->login.sess_params;
	uint32_t ours = params_ours(k), res;
	uint64_t v;
	char buf[16];

	if (k->field == PF_FIRST_BURST && sp->initial_r2t && !sp->immediate_data) {
		/* RFC 7143 13.14: no unsolicited data at all, so no first burst. */
		return params_answer(conn, k->name, "Irrelevant");
	}
	if (iscsi_text_parse_number(value, &v) != 0 || v < k->min || v > k->max) {
		KEEL_INFOLOG(iscsi, "conn %u: %s=%s rejected\n", conn->id, k->name, value);
		return params_answer(conn, k->name, "Reject");
	}
	res = k->kind == PK_NUM_MIN ? KEEL_MIN((uint32_t)v, ours) : KEEL_MAX((uint32_t)v, ours);
	params_store(conn, k, res);
	snprintf(buf, sizeof(buf), "%u", res);
	return params_answer(conn, k->name, buf);
}

static int
params_bool(struct iscsi_conn *conn, const struct params_key *k, const char *value)
{
	bool v, ours = params_ours(k) != 0, res;

	if (strcmp(value, "Yes") == 0) {
		v = true;
	} else if (strcmp(value, "No") == 0) {
		v = false;
	} else {
		return params_answer(conn, k->name, "Reject");
	}
	res = k->kind == PK_BOOL_OR ? (v || ours) : (v && ours);
	params_store(conn, k, res);
	return params_answer(conn, k->name, res ? "Yes" : "No");
}

/* HeaderDigest, DataDigest: the first of the initiator's values keel takes; a target that
 * requires digests takes only CRC32C. */
static int
params_digest(struct iscsi_conn *conn, const struct params_key *k, const char *value)
{
	struct iscsi_tgt_node *target = conn->target;
	bool required = target != NULL && (k->field == PF_HEADER_DIGEST ? target->header_digest
									: target->data_digest);
	char item[KEEL_ISCSI_MAX_TEXT_VALUE + 1];
	const char *list = value;

	while (params_list_next(&list, item, sizeof(item))) {
		if (strcmp(item, "CRC32C") == 0) {
			params_store(conn, k, 1);
			return params_answer(conn, k->name, "CRC32C");
		}
		if (strcmp(item, "None") == 0 && !required) {
			params_store(conn, k, 0);
			return params_answer(conn, k->name, "None");
		}
	}
	if (required) {
		ISCSI_CONN_ERRLOG(conn, "target %s requires %s=CRC32C; offered %s\n", target->name,
				  k->name, value);
		return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
	}
	return params_answer(conn, k->name, "Reject");
}

/* The CHAP settings in force (login.c sets them from the target or the discovery settings):
 * auth_group < 0 means CHAP is disabled. */
static int
params_auth_method(struct iscsi_conn *conn, const char *value)
{
	struct iscsi_login_state *ls = &conn->login;
	bool chap_ok = ls->auth_group >= 0 && (ls->auth_required || ls->auth_group > 0);
	bool none_ok = !ls->auth_required;
	char item[KEEL_ISCSI_MAX_TEXT_VALUE + 1];
	const char *list = value;

	while (params_list_next(&list, item, sizeof(item))) {
		if (strcmp(item, "CHAP") == 0 && chap_ok) {
			ls->chap_state = ISCSI_AUTH_CHAP_WAIT_A;
			return params_answer(conn, "AuthMethod", "CHAP");
		}
		if (strcmp(item, "None") == 0 && none_ok) {
			ls->chap_state = ISCSI_AUTH_NONE;
			return params_answer(conn, "AuthMethod", "None");
		}
	}
	ISCSI_CONN_ERRLOG(conn, "login failed: no acceptable AuthMethod in \"%s\"\n", value);
	return KEEL_ISCSI_LOGIN_AUTH_FAILURE;
}

/* An identity key declared again in a later request must say the same thing. */
static int
params_identity_again(struct iscsi_conn *conn, const struct iscsi_kv *kv)
{
	char full[2 * ISCSI_MAX_NAME + 2];
	bool same = true;

	if (strcmp(kv->key, "InitiatorName") == 0) {
		same = strcasecmp(kv->value, conn->initiator_name) == 0;
	} else if (strcmp(kv->key, "SessionType") == 0) {
		same = (strcmp(kv->value, "Discovery") == 0) == conn->login.sess_params.discovery;
	} else if (strcmp(kv->key, "TargetName") == 0 && conn->target != NULL) {
		iscsi_full_target_name(kv->value, full, sizeof(full));
		same = strcasecmp(full, conn->target->name) == 0;
	}
	if (!same) {
		ISCSI_CONN_ERRLOG(conn, "%s changed during login\n", kv->key);
		return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
	}
	return 0;
}

static int
params_task_reporting(struct iscsi_conn *conn, const char *value)
{
	char item[KEEL_ISCSI_MAX_TEXT_VALUE + 1];
	const char *list = value;

	while (params_list_next(&list, item, sizeof(item))) {
		if (strcmp(item, "RFC3720") == 0) {
			return params_answer(conn, "TaskReporting", "RFC3720");
		}
	}
	return params_answer(conn, "TaskReporting", "Reject");
}

static int
params_mrdsl(struct iscsi_conn *conn, const struct params_key *k, const char *value)
{
	uint64_t v;

	if (iscsi_text_parse_number(value, &v) != 0 || v < k->min || v > k->max) {
		return params_answer(conn, k->name, "Reject");
	}
	/* Our Data-In and other PDUs to the initiator stay within this from now on. */
	conn->params.max_send_dsl = (uint32_t)v;
	return 0;
}

static void
params_chap_key(struct iscsi_chap_keys *chap, const struct iscsi_kv *kv)
{
	switch (kv->key[5]) {
	case 'A':
		chap->a = kv->value;
		break;
	case 'I':
		chap->i = kv->value;
		break;
	case 'C':
		chap->c = kv->value;
		break;
	case 'N':
		chap->n = kv->value;
		break;
	default:
		chap->r = kv->value;
		break;
	}
}

/* One known key. */
static int
params_one(struct iscsi_conn *conn, const struct iscsi_key_set *set, const struct iscsi_kv *kv)
{
	const struct params_key *k = &g_params_keys[kv->idx];
	struct iscsi_login_state *ls = &conn->login;

	if ((k->flags & PF_SECURITY) && ls->csg != KEEL_ISCSI_SECURITY_NEGOTIATION) {
		ISCSI_CONN_ERRLOG(conn, "security key %s outside the security stage\n", k->name);
		return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
	}
	if (k->kind == PK_IDENTITY) {
		return (set->earlier & (1ull << kv->idx)) ? params_identity_again(conn, kv) : 0;
	}
	if (strcmp(kv->value, "NotUnderstood") == 0 || strcmp(kv->value, "Irrelevant") == 0 ||
	    strcmp(kv->value, "Reject") == 0) {
		/* An answer, not an offer: nothing to say back. */
		return 0;
	}
	if (((k->flags & PF_LO) && ls->tsih != 0) ||
	    ((k->flags & PF_DISC_IRR) && ls->sess_params.discovery)) {
		return params_answer(conn, k->name, "Irrelevant");
	}
	switch (k->kind) {
	case PK_DIGEST:
		return params_digest(conn, k, kv->value);
	case PK_NUM_MIN:
	case PK_NUM_MAX:
		return params_number(conn, k, kv->value);
	case PK_BOOL_OR:
	case PK_BOOL_AND:
		return params_bool(conn, k, kv->value);
	case PK_MRDSL:
		return params_mrdsl(conn, k, kv->value);
	case PK_TARGET_ONLY:
		return params_answer(conn, k->name, "Reject");
	case PK_MARKER:
		if (strcmp(kv->value, "Yes") != 0 && strcmp(kv->value, "No") != 0) {
			return params_answer(conn, k->name, "Reject");
		}
		return params_answer(conn, k->name, "No");
	case PK_MARKINT:
	case PK_SENDTARGETS:
		return params_answer(conn, k->name, "Irrelevant");
	case PK_TASK_REPORTING:
		return params_task_reporting(conn, kv->value);
	case PK_AUTH_METHOD:
		return params_auth_method(conn, kv->value);
	default:
		return 0;
	}
}

int
iscsi_params_negotiate(struct iscsi_conn *conn, const struct iscsi_key_set *set)
{
	struct iscsi_chap_keys chap = {0};
	bool have_chap = false;
	size_t k;
	int i, rc;

	/* Known keys in table order, whatever order they came in. */
	for (k = 0; k < PARAMS_NUM_KEYS; k++) {
		for (i = 0; i < set->n; i++) {
			if (set->kv[i].idx != (int)k) {
				continue;
			}
			if (g_params_keys[k].kind == PK_CHAP) {
				if (conn->login.csg != KEEL_ISCSI_SECURITY_NEGOTIATION) {
					ISCSI_CONN_ERRLOG(conn, "%s outside the security stage\n",
							  set->kv[i].key);
					return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
				}
				params_chap_key(&chap, &set->kv[i]);
				have_chap = true;
				continue;
			}
			rc = params_one(conn, set, &set->kv[i]);
			if (rc != 0) {
				return rc;
			}
		}
	}
	for (i = 0; i < set->n; i++) {
		if (set->kv[i].idx < 0) {
			/* Unknown keys and X-/X# extensions (RFC 7143 6.2, 13.5). */
			rc = params_answer(conn, set->kv[i].key, "NotUnderstood");
			if (rc != 0) {
				return rc;
			}
		}
	}
	return have_chap ? iscsi_chap_negotiate(conn, &chap) : 0;
}

int
iscsi_params_declare(struct iscsi_conn *conn, bool op_stage)
{
	struct iscsi_login_state *ls = &conn->login;
	char alias[ISCSI_MAX_ALIAS + 1], buf[16];
	int rc;

	if (!ls->sess_params.discovery && conn->target != NULL &&
	    !(ls->keys_sent & ISCSI_SENT_TPGT)) {
		snprintf(buf, sizeof(buf), "%d", conn->pg_tag);
		rc = params_answer(conn, "TargetPortalGroupTag", buf);
		if (rc != 0) {
			return rc;
		}
		pthread_mutex_lock(&g_iscsi.lock);
		keel_strlcpy(alias, conn->target->alias, sizeof(alias));
		pthread_mutex_unlock(&g_iscsi.lock);
		if (alias[0] != '\0') {
			rc = params_answer(conn, "TargetAlias", alias);
			if (rc != 0) {
				return rc;
			}
		}
		ls->keys_sent |= ISCSI_SENT_TPGT;
	}
	if (op_stage && !(ls->keys_sent & ISCSI_SENT_MRDSL)) {
		snprintf(buf, sizeof(buf), "%u",
			 KEEL_MIN(KEEL_MAX(g_iscsi.opts.max_recv_data_segment_length,
					   ISCSI_MIN_DSL),
				  ISCSI_MAX_DSL));
		rc = params_answer(conn, "MaxRecvDataSegmentLength", buf);
		if (rc != 0) {
			return rc;
		}
		ls->keys_sent |= ISCSI_SENT_MRDSL;
	}
	return 0;
}

int
iscsi_params_finish(struct iscsi_conn *conn)
{
	struct iscsi_sess_params *sp = &conn->login.sess_params;
	struct iscsi_tgt_node *target = conn->target;

	if (target != NULL && ((target->header_digest && !conn->params.header_digest) ||
			       (target->data_digest && !conn->params.data_digest))) {
		ISCSI_CONN_ERRLOG(conn, "target %s requires digests that were not negotiated\n",
				  target->name);
		return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
	}
	if (conn->login.tsih == 0 && !sp->discovery &&
	    sp->first_burst_length > sp->max_burst_length) {
		/* An offer answered Irrelevant (InitialR2T=Yes, ImmediateData=No) left the
		 * default in place: that is not the initiator's value. */
		if ((conn->login.keys_seen & (1ull << params_key_index("FirstBurstLength"))) &&
		    !(sp->initial_r2t && !sp->immediate_data)) {
			ISCSI_CONN_ERRLOG(conn, "FirstBurstLength %u exceeds MaxBurstLength %u\n",
					  sp->first_burst_length, sp->max_burst_length);
			return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
		}
		/* Only the default (64 KiB) is above a small MaxBurstLength: no burst can be
		 * longer than MaxBurstLength anyway (RFC 7143 13.14). */
		sp->first_burst_length = sp->max_burst_length;
	}
	return 0;
}
