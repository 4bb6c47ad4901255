/*
 * The login phase (RFC 7143 6, 11.12, 11.13): Login Requests are checked for a consistent
 * ISID, TSIH, CID and ITT and for legal stage transitions, their text is reassembled across
 * C-bit continuations and negotiated (params.c, chap.c), and the answers go back in Login
 * Responses, continued when longer than a login PDU may carry. The first request names the
 * initiator and the target (access, redirection, session limits, CHAP requirements); the last
 * creates or joins the session (sess.c), opens the target's LUNs on the connection's thread and
 * enters the full feature phase. A failure answers its status and closes the connection.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/scsi.h"
#include "keel/thread.h"
#include "keel/util.h"

#include "login_internal.h"

/* Internal outcomes next to the login statuses (which are at most 0x0302). */
#define LOGIN_REDIRECTED 0x10000 /* the redirection response is queued */
#define LOGIN_DEFERRED 0x10001   /* the connection moves to its session's thread first */

static const char *
login_status_name(int status)
{
	switch (status) {
	case KEEL_ISCSI_LOGIN_INITIATOR_ERROR:
		return "initiator error";
	case KEEL_ISCSI_LOGIN_AUTH_FAILURE:
		return "authentication failure";
	case KEEL_ISCSI_LOGIN_AUTHORIZATION_FAILURE:
		return "authorization failure";
	case KEEL_ISCSI_LOGIN_NOT_FOUND:
		return "target not found";
	case KEEL_ISCSI_LOGIN_UNSUPPORTED_VERSION:
		return "unsupported version";
	case KEEL_ISCSI_LOGIN_TOO_MANY_CONNECTIONS:
		return "too many connections";
	case KEEL_ISCSI_LOGIN_MISSING_PARAMETER:
		return "missing parameter";
	case KEEL_ISCSI_LOGIN_CANT_INCLUDE_IN_SESSION:
		return "cannot include in session";
	case KEEL_ISCSI_LOGIN_SESSION_TYPE_NOT_SUPPORTED:
		return "session type not supported";
	case KEEL_ISCSI_LOGIN_SESSION_DOES_NOT_EXIST:
		return "session does not exist";
	case KEEL_ISCSI_LOGIN_OUT_OF_RESOURCES:
		return "out of resources";
	default:
		return "target error";
	}
}

/* A Login Response from the login state: stage flags, ISID, TSIH, ITT; StatSN, ExpCmdSN and
 * MaxCmdSN are filled when it is queued. */
static struct iscsi_pdu *
login_rsp_pdu(struct iscsi_conn *conn, uint8_t flags, uint16_t tsih, int status, uint32_t len)
{
	struct iscsi_login_state *ls = &conn->login;
	struct keel_iscsi_login_rsp *rsp;
	struct iscsi_pdu *pdu;

	pdu = iscsi_pdu_get();
	if (pdu == NULL) {
		return NULL;
	}
	if (len > 0 && iscsi_pdu_alloc_data(pdu, len) != 0) {
		iscsi_pdu_put(pdu);
		return NULL;
	}
	pdu->data_len = len;
	rsp = (struct keel_iscsi_login_rsp *)&pdu->bhs;
	rsp->opcode = KEEL_ISCSI_OP_LOGIN_RSP;
	rsp->flags = flags;
	rsp->version_max = 0;
	rsp->version_active = 0;
	memcpy(rsp->isid, ls->isid, sizeof(rsp->isid));
	keel_to_be16(rsp->tsih, tsih);
	keel_to_be32(rsp->itt, ls->itt);
	rsp->status_class = (uint8_t)(status >> 8);
	rsp->status_detail = (uint8_t)status;
	return pdu;
}

/* A final answer that is not success: its status (and for redirection the new address); the
 * connection closes once it is sent (RFC 7143 11.13.5). */
static int
login_send_status(struct iscsi_conn *conn, int status, const char *key, const char *value)
{
	struct iscsi_login_state *ls = &conn->login;
	struct iscsi_pdu *pdu;
	char *text = NULL;
	uint32_t len = 0, cap = 0;

	if (key != NULL && iscsi_text_append(&text, &len, &cap, key, value) != 0) {
		free(text);
		return -ENOMEM;
	}
	pdu = login_rsp_pdu(conn, (uint8_t)(ls->csg << KEEL_ISCSI_LOGIN_CSG_SHIFT), ls->tsih,
			    status, len);
	if (pdu == NULL) {
		free(text);
		return -ENOMEM;
	}
	if (len > 0) {
		memcpy(pdu->data, text, len);
	}
	free(text);
	iscsi_conn_send_pdu(conn, pdu);
	conn->state = ISCSI_CONN_STATE_LOGGED_OUT;
	return 0;
}

/*
 * Back-off after failed logins. Guessing CHAP secrets (or initiator names an ACL accepts) takes
 * many logins from one place; after a few free failures, each further authentication or
 * authorization failure from the same initiator address is answered later, the delay doubling
 * up to a ceiling. The answer waits on a timed poller of the connection's thread, so the
 * reactor goes on serving everyone else; the table is fixed in size (the stalest entry makes
 * room), and an address whose last failure is older than the window starts afresh. Successful
 * logins are never delayed.
 */
#define LOGIN_PENALTY_SLOTS 256

struct login_penalty {
	char addr[KEEL_SOCK_ADDR_LEN];
	uint32_t failures;
	uint64_t last_tsc;
};

static struct login_backoff_opts {
	uint32_t free_failures; /* failures answered at once */
	uint32_t base_ms;	/* delay of the first failure past those */
	uint32_t max_ms;	/* ceiling of the doubling */
	uint32_t window_s;	/* an address is forgotten after this long without failures */
} g_login_backoff = {
	.free_failures = 3,
	.base_ms = 250,
	.max_ms = 4000,
	.window_s = 60,
};

static struct login_penalty g_login_penalties[LOGIN_PENALTY_SLOTS];
static pthread_mutex_t g_login_penalty_lock = PTHREAD_MUTEX_INITIALIZER;

/* Count a failure from addr; returns how long its answer waits, in milliseconds, and the
 * failures counted in the window. */
static uint32_t
login_penalty_note(const char *addr, uint32_t *failures)
{
	const struct login_backoff_opts *o = &g_login_backoff;
	uint64_t now = keel_get_ticks(), window = (uint64_t)o->window_s * keel_get_ticks_hz();
	struct login_penalty *p = NULL, *unused = NULL, *oldest = &g_login_penalties[0];
	uint32_t n, shift, delay;
	size_t i;

	pthread_mutex_lock(&g_login_penalty_lock);
	for (i = 0; i < LOGIN_PENALTY_SLOTS; i++) {
		struct login_penalty *e = &g_login_penalties[i];

		if (e->failures == 0) {
			unused = unused != NULL ? unused : e;
		} else if (strcmp(e->addr, addr) == 0) {
			p = e;
			break;
		} else if (e->last_tsc < oldest->last_tsc) {
			oldest = e;
		}
	}
	if (p != NULL && now - p->last_tsc > window) {
		p->failures = 0;
	}
	if (p == NULL) {
		p = unused != NULL ? unused : oldest;
		keel_strlcpy(p->addr, addr, sizeof(p->addr));
		p->failures = 0;
	}
	if (p->failures < UINT32_MAX) {
		p->failures++;
	}
	p->last_tsc = now;
	n = p->failures;
	pthread_mutex_unlock(&g_login_penalty_lock);

	*failures = n;
	if (n <= o->free_failures) {
		return 0;
	}
	shift = KEEL_MIN(n - o->free_failures - 1, 16u);
	delay = o->base_ms << shift;
	return KEEL_MIN(delay, o->max_ms);
}

/* The delayed answer is due (the connection is still there: freeing it unregisters us). */
static int
login_delay_done(void *arg)
{
	struct iscsi_conn *conn = arg;
	struct iscsi_login_state *ls = &conn->login;

	keel_poller_unregister(&ls->delay_poller);
	conn->state = ISCSI_CONN_STATE_LOGIN;
	if (login_send_status(conn, ls->delayed_status, NULL, NULL) != 0) {
		iscsi_conn_drop(conn, "out of memory during login");
	}
	return KEEL_POLLER_BUSY;
}

/* Answer status after a back-off if the initiator's address has failed too often; false if
 * the answer should go now. Nothing more is read from the connection meanwhile. */
static bool
login_delay_failure(struct iscsi_conn *conn, int status)
{
	struct iscsi_login_state *ls = &conn->login;
	uint32_t delay_ms, failures;

	if (status != KEEL_ISCSI_LOGIN_AUTH_FAILURE &&
	    status != KEEL_ISCSI_LOGIN_AUTHORIZATION_FAILURE) {
		return false;
	}
	delay_ms = login_penalty_note(conn->initiator_addr, &failures);
	if (delay_ms == 0) {
		return false;
	}
	ls->delay_poller = keel_poller_register(login_delay_done, conn, (uint64_t)delay_ms * 1000);
	if (ls->delay_poller == NULL) {
		return false;
	}
	ls->delayed_status = status;
	conn->state = ISCSI_CONN_STATE_INVALID;
	ISCSI_CONN_ERRLOG(conn, "%u failed logins from %s within %u s: answering in %u ms\n",
			  failures, conn->initiator_addr, g_login_backoff.window_s, delay_ms);
	return true;
}

static int
login_fail(struct iscsi_conn *conn, int status)
{
	struct iscsi_login_state *ls = &conn->login;

	if (status < 0) {
		return status;
	}
	ls->rsp_len = 0;
	ls->rsp_sent = 0;
	ls->transit = false;
	ISCSI_CONN_ERRLOG(conn, "login rejected: %02x/%02x (%s)\n", status >> 8, status & 0xff,
			  login_status_name(status));
	if (login_delay_failure(conn, status)) {
		return 0;
	}
	return login_send_status(conn, status, NULL, NULL);
}

/*
 * Entering the full feature phase.
 */
void
iscsi_conn_lun_removed(struct keel_scsi_lun_desc *desc, void *ctx)
{
	struct iscsi_conn *conn = ctx;
	int i;

	/* Every task queued through desc is done; commands for the LUN from now on (writes still
	 * receiving data included) get LOGICAL UNIT NOT SUPPORTED from the SCSI layer. */
	for (i = 0; i < ISCSI_MAX_LUN; i++) {
		if (conn->lun_descs[i] == desc) {
			conn->lun_descs[i] = NULL;
		}
	}
	keel_scsi_lun_close(desc);
}

static void
login_open_luns(struct iscsi_conn *conn)
{
	struct keel_scsi_lun *lun;
	uint64_t id;
	int rc;

	for (id = 0; id < ISCSI_MAX_LUN; id++) {
		lun = keel_scsi_dev_get_lun(conn->target->dev, id);
		if (lun == NULL || conn->lun_descs[id] != NULL) {
			continue;
		}
		rc = keel_scsi_lun_open(lun, iscsi_conn_lun_removed, conn, &conn->lun_descs[id]);
		if (rc != 0 && rc != -ENODEV) {
			ISCSI_CONN_ERRLOG(conn, "cannot open LUN %" PRIu64 ": %s\n", id,
					  keel_strerror(-rc));
		}
	}
}

static void
login_enter_ffp(struct iscsi_conn *conn)
{
	struct iscsi_login_state *ls = &conn->login;

	/* The final response is queued already: digests and our MaxRecvDataSegmentLength hold
	 * from the next PDU on (RFC 7143 13.1, 13.12). */
	conn->full_feature = true;
	conn->state = ISCSI_CONN_STATE_RUNNING;
	conn->params.max_recv_dsl =
		KEEL_MIN(KEEL_MAX(g_iscsi.opts.max_recv_data_segment_length, ISCSI_MIN_DSL),
			 ISCSI_MAX_DSL);
	if (conn->target != NULL) {
		login_open_luns(conn);
	}
	free(ls->text);
	ls->text = NULL;
	ls->text_len = 0;
	/* Text requests use the response buffer from now on. */
	free(ls->rsp_text);
	ls->rsp_text = NULL;
	ls->rsp_len = ls->rsp_cap = ls->rsp_sent = 0;
	ISCSI_CONN_NOTICELOG(conn, "logged in: %s session TSIH %u, CID %u%s%s\n",
			     conn->sess->params.discovery ? "discovery" : "normal",
			     conn->sess->tsih, conn->cid, conn->target ? ", target " : "",
			     conn->target ? conn->target->name : "");
}

/*
 * Responses.
 */
/* Send the next part of the response text: the last part carries the transit, and the final
 * response of the login the TSIH. */
static int
login_send_part(struct iscsi_conn *conn)
{
	struct iscsi_login_state *ls = &conn->login;
	uint32_t left = ls->rsp_len - ls->rsp_sent, n = KEEL_MIN(left, ISCSI_LOGIN_MAX_DSL);
	bool last = n == left,
	     final = last && ls->transit && ls->nsg == KEEL_ISCSI_FULL_FEATURE_PHASE;
	uint8_t flags = (uint8_t)(ls->csg << KEEL_ISCSI_LOGIN_CSG_SHIFT);
	struct iscsi_pdu *pdu;

	if (!last) {
		flags |= KEEL_ISCSI_LOGIN_CONTINUE;
	} else if (ls->transit) {
		flags |= KEEL_ISCSI_LOGIN_TRANSIT | ls->nsg;
	}
	pdu = login_rsp_pdu(conn, flags, final ? conn->sess->tsih : ls->tsih, 0, n);
	if (pdu == NULL) {
		return -ENOMEM;
	}
	if (n > 0) {
		memcpy(pdu->data, ls->rsp_text + ls->rsp_sent, n);
	}
	ls->rsp_sent += n;
	iscsi_conn_send_pdu(conn, pdu);
	if (!last) {
		return 0;
	}
	ls->rsp_len = ls->rsp_sent = 0;
	if (final) {
		login_enter_ffp(conn);
	} else if (ls->transit) {
		ls->csg = ls->nsg;
	}
	ls->transit = false;
	return 0;
}

/* A Login Request with the C bit: its text continues; an empty response asks for more. */
static int
login_send_empty(struct iscsi_conn *conn)
{
	struct iscsi_login_state *ls = &conn->login;
	struct iscsi_pdu *pdu;

	pdu = login_rsp_pdu(conn, (uint8_t)(ls->csg << KEEL_ISCSI_LOGIN_CSG_SHIFT), ls->tsih, 0, 0);
	if (pdu == NULL) {
		return -ENOMEM;
	}
	iscsi_conn_send_pdu(conn, pdu);
	return 0;
}

/*
 * Joining a session on another thread: the connection moves there first.
 */
struct login_move_msg {
	struct iscsi_poll_group *from;
	struct iscsi_poll_group *to;
	uint32_t conn_id;
};

/* On the session's thread: finish the login there. */
static void
login_moved(struct iscsi_conn *conn, int rc)
{
	int status;

	if (rc != 0) {
		iscsi_conn_drop(conn, "could not move to its session's thread");
		return;
	}
	conn->state = ISCSI_CONN_STATE_LOGIN;
	status = iscsi_sess_add_conn(conn);
	rc = status != 0 ? login_fail(conn, status) : login_send_part(conn);
	if (rc < 0) {
		iscsi_conn_drop(conn, "out of memory during login");
	}
}

/* On the connection's old thread, outside its receive path. */
static void
login_move_start(void *arg)
{
	struct login_move_msg *m = arg;
	struct iscsi_conn *conn;
	int rc;

	TAILQ_FOREACH (conn, &m->from->conns, pg_link) {
		if (conn->id == m->conn_id) {
			break;
		}
	}
	if (conn == NULL || conn->state != ISCSI_CONN_STATE_INVALID) {
		/* Dropped meanwhile. */
		free(m);
		return;
	}
	rc = iscsi_conn_migrate_then(conn, m->to, login_moved);
	free(m);
	if (rc != 0) {
		conn->state = ISCSI_CONN_STATE_LOGIN;
		if (login_fail(conn, KEEL_ISCSI_LOGIN_OUT_OF_RESOURCES) < 0) {
			iscsi_conn_drop(conn, "out of memory during login");
		}
	}
}

static int
login_join_session(struct iscsi_conn *conn)
{
	struct iscsi_login_state *ls = &conn->login;
	struct iscsi_poll_group *pg = NULL;
	struct login_move_msg *m;
	struct iscsi_sess *sess;
	bool here = false;

	pthread_mutex_lock(&g_iscsi.lock);
	sess = iscsi_sess_find_by_tsih(ls->tsih);
	if (sess != NULL) {
		here = sess->thread == conn->thread;
		pg = iscsi_poll_group_of_thread(sess->thread);
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	if (here || (sess != NULL && pg == NULL)) {
		return iscsi_sess_add_conn(conn);
	}
	if (sess == NULL) {
		ISCSI_CONN_ERRLOG(conn, "session TSIH %u ended during the login\n", ls->tsih);
		return KEEL_ISCSI_LOGIN_SESSION_DOES_NOT_EXIST;
	}
	/* All of a session's connections live on its thread. The move starts from a message,
	 * once the receive path that called us has let go of the connection. */
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		return KEEL_ISCSI_LOGIN_OUT_OF_RESOURCES;
	}
	m->from = conn->pg;
	m->to = pg;
	m->conn_id = conn->id;
	conn->state = ISCSI_CONN_STATE_INVALID;
	if (keel_thread_send_msg(conn->thread, login_move_start, m) != 0) {
		conn->state = ISCSI_CONN_STATE_LOGIN;
		free(m);
		return KEEL_ISCSI_LOGIN_OUT_OF_RESOURCES;
	}
	return LOGIN_DEFERRED;
}

/* Send what is left of the response; before the final part, the session is made or joined. */
static int
login_respond(struct iscsi_conn *conn)
{
	struct iscsi_login_state *ls = &conn->login;
	int status;

	if (ls->rsp_len - ls->rsp_sent <= ISCSI_LOGIN_MAX_DSL && ls->transit &&
	    ls->nsg == KEEL_ISCSI_FULL_FEATURE_PHASE) {
		status = ls->tsih == 0 ? iscsi_sess_create(conn) : login_join_session(conn);
		if (status == LOGIN_DEFERRED) {
			return 0;
		}
		if (status != 0) {
			return login_fail(conn, status);
		}
	}
	return login_send_part(conn);
}

/*
 * The first request: who logs in, to what.
 */
static void
login_set_auth(struct iscsi_login_state *ls, bool disable, bool require, bool mutual, int32_t group)
{
	ls->auth_required = require;
	ls->auth_mutual = mutual;
	ls->auth_group = disable ? -1 : group;
}

static void
login_discovery_auth(struct iscsi_conn *conn)
{
	struct iscsi_login_state *ls = &conn->login;
	const struct iscsi_opts *o = &g_iscsi.opts;
	struct iscsi_portal_grp *pg;

	pthread_mutex_lock(&g_iscsi.lock);
	pg = iscsi_portal_grp_find(conn->pg_tag);
	if (pg != NULL && pg->auth_set) {
		login_set_auth(ls, pg->disable_chap, pg->require_chap, pg->mutual_chap,
			       pg->chap_group);
	} else {
		login_set_auth(ls, o->disable_chap, o->require_chap, o->mutual_chap, o->chap_group);
	}
	pthread_mutex_unlock(&g_iscsi.lock);
}

/* The tag of the portal group that has host:port, else ours. Under the lock. */
static int32_t
login_portal_tag(const struct iscsi_conn *conn, const char *host, uint16_t port)
{
	struct iscsi_portal_grp *pg;
	struct iscsi_portal *p;

	TAILQ_FOREACH (pg, &g_iscsi.portal_grps, link) {
		TAILQ_FOREACH (p, &pg->portals, link) {
			if (p->port == port && strcmp(p->host, host) == 0) {
				return pg->tag;
			}
		}
	}
	return conn->pg_tag;
}

/* Login redirection (RFC 7143 11.13.5, status 01/01): TargetAddress=host:port,tag. Under the
 * lock; false if the target has no redirection for our portal group. */
static bool
login_redirect_locked(struct iscsi_conn *conn, struct iscsi_tgt_node *target, char *addr,
		      size_t len)
{
	struct iscsi_pg_map *map;
	bool v6;

	TAILQ_FOREACH (map, &target->pg_maps, link) {
		if (map->pg_tag == conn->pg_tag && map->redirect_host[0] != '\0') {
			v6 = strchr(map->redirect_host, ':') != NULL &&
			     map->redirect_host[0] != '[';
			snprintf(addr, len, "%s%s%s:%u,%d", v6 ? "[" : "", map->redirect_host,
				 v6 ? "]" : "", map->redirect_port,
				 login_portal_tag(conn, map->redirect_host, map->redirect_port));
			return true;
		}
	}
	return false;
}

static int
login_find_target(struct iscsi_conn *conn, const char *name)
{
	char addr[KEEL_SOCK_ADDR_LEN + 32];
	struct iscsi_tgt_node *target;
	const char *colon;
	int status = 0;

	if (name == NULL || name[0] == '\0') {
		ISCSI_CONN_ERRLOG(conn, "login without TargetName\n");
		return KEEL_ISCSI_LOGIN_MISSING_PARAMETER;
	}
	pthread_mutex_lock(&g_iscsi.lock);
	target = strlen(name) <= ISCSI_MAX_NAME ? iscsi_tgt_node_find(name) : NULL;
	if (target == NULL) {
		status = KEEL_ISCSI_LOGIN_NOT_FOUND;
	} else if (!iscsi_tgt_node_access(target, conn->pg_tag, conn->initiator_name,
					  conn->initiator_addr)) {
		status = KEEL_ISCSI_LOGIN_AUTHORIZATION_FAILURE;
	} else if (login_redirect_locked(conn, target, addr, sizeof(addr))) {
		status = LOGIN_REDIRECTED;
	} else {
		conn->target = target;
		target->num_active_conns++;
		login_set_auth(&conn->login, target->disable_chap, target->require_chap,
			       target->mutual_chap, target->chap_group);
		colon = strrchr(target->name, ':');
		keel_strlcpy(conn->target_short_name, colon != NULL ? colon + 1 : target->name,
			     sizeof(conn->target_short_name));
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	if (status == KEEL_ISCSI_LOGIN_NOT_FOUND) {
		ISCSI_CONN_ERRLOG(conn, "login to unknown target %.*s\n", ISCSI_MAX_NAME, name);
	} else if (status == KEEL_ISCSI_LOGIN_AUTHORIZATION_FAILURE) {
		ISCSI_CONN_ERRLOG(conn, "login to target %s refused through portal group %d\n",
				  name, conn->pg_tag);
	} else if (status == LOGIN_REDIRECTED) {
		ISCSI_CONN_NOTICELOG(conn, "login to %s redirected to %s\n", name, addr);
		if (login_send_status(conn, KEEL_ISCSI_LOGIN_TARGET_MOVED_TEMP, "TargetAddress",
				      addr) != 0) {
			return -ENOMEM;
		}
	}
	return status;
}

/* A leading login: MaxSessions (a session this login reinstates makes room). */
static int
login_check_new_session(struct iscsi_conn *conn)
{
	struct iscsi_login_state *ls = &conn->login;
	bool full;

	pthread_mutex_lock(&g_iscsi.lock);
	full = g_iscsi.num_sessions >= g_iscsi.opts.max_sessions &&
	       (ls->sess_params.discovery || g_iscsi.opts.allow_duplicated_isid ||
		iscsi_sess_find(conn->initiator_name, ls->isid, conn->target) == NULL);
	pthread_mutex_unlock(&g_iscsi.lock);
	if (full) {
		ISCSI_CONN_ERRLOG(conn, "login failed: MaxSessions (%u) reached\n",
				  g_iscsi.opts.max_sessions);
		return KEEL_ISCSI_LOGIN_OUT_OF_RESOURCES;
	}
	return 0;
}

/* A non-leading login: the session exists and is this initiator's, and may take one more
 * connection (checked again when the connection joins it). */
static int
login_check_join(struct iscsi_conn *conn)
{
	struct iscsi_login_state *ls = &conn->login;
	struct iscsi_sess *sess;
	int i, status = 0;
	bool cid_used = false;

	pthread_mutex_lock(&g_iscsi.lock);
	sess = iscsi_sess_find_by_tsih(ls->tsih);
	if (sess == NULL || memcmp(sess->isid, ls->isid, sizeof(sess->isid)) != 0 ||
	    strcasecmp(sess->initiator_name, conn->initiator_name) != 0 ||
	    sess->target != conn->target) {
		status = KEEL_ISCSI_LOGIN_SESSION_DOES_NOT_EXIST;
	} else if (sess->params.discovery) {
		status = KEEL_ISCSI_LOGIN_CANT_INCLUDE_IN_SESSION;
	} else {
		for (i = 0; i < sess->num_conns; i++) {
			cid_used |= sess->conns[i]->cid == conn->cid;
		}
		if (!cid_used && (uint32_t)sess->num_conns >= sess->params.max_connections) {
			status = KEEL_ISCSI_LOGIN_TOO_MANY_CONNECTIONS;
		}
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	if (status != 0) {
		ISCSI_CONN_ERRLOG(conn, "cannot add CID %u to session TSIH %u\n", conn->cid,
				  ls->tsih);
	}
	return status;
}

static int
login_first_text(struct iscsi_conn *conn, const struct iscsi_key_set *set)
{
	struct iscsi_login_state *ls = &conn->login;
	const char *name = iscsi_params_get(set, "InitiatorName");
	const char *type = iscsi_params_get(set, "SessionType");
	int status;

	ls->initiator_name_seen = true;
	if (name == NULL || name[0] == '\0') {
		ISCSI_CONN_ERRLOG(conn, "login without InitiatorName\n");
		return KEEL_ISCSI_LOGIN_MISSING_PARAMETER;
	}
	if (strlen(name) > ISCSI_MAX_NAME) {
		ISCSI_CONN_ERRLOG(conn, "InitiatorName longer than %d bytes\n", ISCSI_MAX_NAME);
		return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
	}
	keel_strlcpy(conn->initiator_name, name, sizeof(conn->initiator_name));
	ls->session_type_seen = type != NULL;
	if (type != NULL && strcmp(type, "Discovery") == 0) {
		ls->sess_params.discovery = true;
	} else if (type != NULL && strcmp(type, "Normal") != 0) {
		ISCSI_CONN_ERRLOG(conn, "SessionType=%s\n", type);
		return KEEL_ISCSI_LOGIN_SESSION_TYPE_NOT_SUPPORTED;
	}
	if (ls->sess_params.discovery) {
		login_discovery_auth(conn);
	} else {
		status = login_find_target(conn, iscsi_params_get(set, "TargetName"));
		if (status != 0) {
			return status;
		}
	}
	status = ls->tsih == 0 ? login_check_new_session(conn) : login_check_join(conn);
	if (status == 0 && ls->csg != KEEL_ISCSI_SECURITY_NEGOTIATION && ls->auth_required) {
		ISCSI_CONN_ERRLOG(conn, "login failed: CHAP is required, the initiator skipped the "
					"security stage\n");
		status = KEEL_ISCSI_LOGIN_AUTH_FAILURE;
	}
	return status;
}

/*
 * Requests.
 */
/* Transit when the initiator asks for it and the stage is done (RFC 7143 6.3: the target may
 * hold the initiator in a stage by answering T=0). */
static int
login_decide_transit(struct iscsi_conn *conn, const struct keel_iscsi_login_req *req)
{
	struct iscsi_login_state *ls = &conn->login;

	ls->transit = false;
	if (!(req->flags & KEEL_ISCSI_LOGIN_TRANSIT)) {
		return 0;
	}
	if (ls->csg == KEEL_ISCSI_SECURITY_NEGOTIATION) {
		if (ls->chap_state == ISCSI_AUTH_CHAP_WAIT_A ||
		    ls->chap_state == ISCSI_AUTH_CHAP_WAIT_R) {
			return 0;
		}
		if (ls->auth_required && ls->chap_state != ISCSI_AUTH_DONE) {
			ISCSI_CONN_ERRLOG(conn, "login failed: CHAP is required, the initiator "
						"left the security stage without it\n");
			return KEEL_ISCSI_LOGIN_AUTH_FAILURE;
		}
	}
	ls->transit = true;
	ls->nsg = req->flags & KEEL_ISCSI_LOGIN_NSG_MASK;
	return ls->nsg == KEEL_ISCSI_FULL_FEATURE_PHASE ? iscsi_params_finish(conn) : 0;
}

/* A complete request text: negotiate it and answer. */
static int
login_process(struct iscsi_conn *conn, const struct keel_iscsi_login_req *req)
{
	struct iscsi_login_state *ls = &conn->login;
	struct iscsi_key_set *set;
	int status;

	set = malloc(sizeof(*set));
	if (set == NULL) {
		return -ENOMEM;
	}
	status = iscsi_params_collect(conn, ls->text, ls->text_len, set);
	if (status == 0 && !ls->initiator_name_seen) {
		status = login_first_text(conn, set);
	}
	if (status == 0) {
		status = iscsi_params_negotiate(conn, set);
	}
	free(set);
	ls->text_len = 0;
	if (status == LOGIN_REDIRECTED) {
		return 0;
	}
	if (status == 0) {
		status = login_decide_transit(conn, req);
	}
	if (status == 0) {
		status = iscsi_params_declare(conn,
					      ls->csg == KEEL_ISCSI_OPERATIONAL_NEGOTIATION ||
						      (ls->transit &&
						       ls->nsg == KEEL_ISCSI_FULL_FEATURE_PHASE));
	}
	if (status != 0) {
		return login_fail(conn, status);
	}
	return login_respond(conn);
}

/* The header of a request: the first one sets the login's identity, the others must keep
 * it; stages only move forward, by transit. */
static int
login_check_header(struct iscsi_conn *conn, const struct keel_iscsi_login_req *req)
{
	struct iscsi_login_state *ls = &conn->login;
	uint8_t csg = (req->flags & KEEL_ISCSI_LOGIN_CSG_MASK) >> KEEL_ISCSI_LOGIN_CSG_SHIFT;
	uint8_t nsg = req->flags & KEEL_ISCSI_LOGIN_NSG_MASK;
	bool transit = (req->flags & KEEL_ISCSI_LOGIN_TRANSIT) != 0;
	uint32_t exp_statsn = keel_from_be32(req->exp_statsn);

	if (!ls->first_pdu_seen) {
		ls->first_pdu_seen = true;
		memcpy(ls->isid, req->isid, sizeof(ls->isid));
		ls->tsih = keel_from_be16(req->tsih);
		ls->cid = keel_from_be16(req->cid);
		ls->itt = keel_from_be32(req->itt);
		ls->cmdsn = keel_from_be32(req->cmdsn);
		ls->csg = csg;
		conn->cid = ls->cid;
		/* The target chooses the connection's first StatSN (RFC 7143 11.13.4). */
		conn->statsn = exp_statsn != 0 ? exp_statsn : 1;
		iscsi_params_login_init(conn);
		login_set_auth(ls, false, false, false, 0);
		if (req->version_min > 0) {
			ISCSI_CONN_ERRLOG(conn, "iSCSI versions %u..%u, keel has 0\n",
					  req->version_min, req->version_max);
			return KEEL_ISCSI_LOGIN_UNSUPPORTED_VERSION;
		}
	} else if (memcmp(ls->isid, req->isid, sizeof(ls->isid)) != 0 ||
		   ls->tsih != keel_from_be16(req->tsih) || ls->cid != keel_from_be16(req->cid) ||
		   ls->itt != keel_from_be32(req->itt)) {
		ISCSI_CONN_ERRLOG(conn, "ISID, TSIH, CID or ITT changed during login\n");
		return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
	}
	iscsi_conn_update_exp_statsn(conn, exp_statsn);
	if (transit && (req->flags & KEEL_ISCSI_LOGIN_CONTINUE)) {
		ISCSI_CONN_ERRLOG(conn, "login request with both T and C\n");
		return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
	}
	if (csg != ls->csg ||
	    (csg != KEEL_ISCSI_SECURITY_NEGOTIATION && csg != KEEL_ISCSI_OPERATIONAL_NEGOTIATION)) {
		ISCSI_CONN_ERRLOG(conn, "login stage %u where %u was expected\n", csg, ls->csg);
		return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
	}
	if (transit && (nsg <= csg || nsg == 2)) {
		ISCSI_CONN_ERRLOG(conn, "login transit from stage %u to %u\n", csg, nsg);
		return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
	}
	return 0;
}

static int
login_take_text(struct iscsi_conn *conn, const struct iscsi_pdu *pdu)
{
	struct iscsi_login_state *ls = &conn->login;
	char *text;

	if (pdu->data_len == 0) {
		return 0;
	}
	if (pdu->data_len > ISCSI_TEXT_MAX_LEN - ls->text_len) {
		ISCSI_CONN_ERRLOG(conn, "login text longer than %u bytes\n", ISCSI_TEXT_MAX_LEN);
		return KEEL_ISCSI_LOGIN_INITIATOR_ERROR;
	}
	text = realloc(ls->text, ls->text_len + pdu->data_len);
	if (text == NULL) {
		return -ENOMEM;
	}
	memcpy(text + ls->text_len, pdu->data, pdu->data_len);
	ls->text = text;
	ls->text_len += pdu->data_len;
	return 0;
}

int
iscsi_login_handle(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	const struct keel_iscsi_login_req *req = (const struct keel_iscsi_login_req *)&pdu->bhs;
	struct iscsi_login_state *ls = &conn->login;
	int status;

	if (conn->state != ISCSI_CONN_STATE_LOGIN) {
		/* Failed already, or moving to its session's thread: nothing more is read. */
		return 0;
	}
	status = login_check_header(conn, req);
	if (status != 0) {
		return login_fail(conn, status);
	}
	if (ls->rsp_sent > 0) {
		/* The initiator asks for the rest of a long response with an empty request. */
		if (pdu->data_len != 0 || (req->flags & KEEL_ISCSI_LOGIN_CONTINUE)) {
			ISCSI_CONN_ERRLOG(conn, "login text while a response was continuing\n");
			return login_fail(conn, KEEL_ISCSI_LOGIN_INITIATOR_ERROR);
		}
		return login_respond(conn);
	}
	status = login_take_text(conn, pdu);
	if (status != 0) {
		return login_fail(conn, status);
	}
	if (req->flags & KEEL_ISCSI_LOGIN_CONTINUE) {
		return login_send_empty(conn);
	}
	return login_process(conn, req);
}
