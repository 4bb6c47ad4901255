/*
 * Sessions (RFC 7143 4.4, 6.3.5, 6.3.6): creation at the end of a leading login (TSIH, the SCSI
 * I_T nexus ports, session reinstatement), connections joining and leaving (connection
 * reinstatement, MaxConnections), the end of a session with its last connection, and moving a
 * connection to the poll group of its session's thread: all of a session lives on one thread.
 * The global list is changed under g_iscsi.lock; a session's own fields on its thread.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/scsi.h"
#include "keel/sock.h"
#include "keel/thread.h"
#include "keel/util.h"

#include "login_internal.h"

/* A session that is no longer in g_iscsi.sessions (reinstated, or ending). */
static bool
sess_is_listed(const struct iscsi_sess *sess)
{
	return sess->link.tqe_prev != NULL;
}

static void
sess_unlist(struct iscsi_sess *sess)
{
	if (sess_is_listed(sess)) {
		TAILQ_REMOVE(&g_iscsi.sessions, sess, link);
		sess->link.tqe_prev = NULL;
		g_iscsi.num_sessions--;
	}
}

struct iscsi_sess *
iscsi_sess_find_by_tsih(uint16_t tsih)
{
	struct iscsi_sess *sess;

	TAILQ_FOREACH (sess, &g_iscsi.sessions, link) {
		if (sess->tsih == tsih) {
			return sess;
		}
	}
	return NULL;
}

struct iscsi_sess *
iscsi_sess_find(const char *initiator_name, const uint8_t *isid,
		const struct iscsi_tgt_node *target)
{
	struct iscsi_sess *sess;

	TAILQ_FOREACH (sess, &g_iscsi.sessions, link) {
		if (sess->target == target && target != NULL &&
		    memcmp(sess->isid, isid, sizeof(sess->isid)) == 0 &&
		    strcasecmp(sess->initiator_name, initiator_name) == 0) {
			return sess;
		}
	}
	return NULL;
}

struct iscsi_poll_group *
iscsi_poll_group_of_thread(const struct keel_thread *thread)
{
	uint32_t i;

	for (i = 0; i < g_iscsi.num_poll_groups; i++) {
		if (g_iscsi.poll_groups[i].thread == thread) {
			return &g_iscsi.poll_groups[i];
		}
	}
	return NULL;
}

/* TSIH 1..65535, one not in use (0 is reserved: RFC 7143 11.12.6). Under the lock. */
static uint16_t
sess_alloc_tsih(void)
{
	uint32_t tries;
	uint16_t tsih;

	for (tries = 0; tries < 65535; tries++) {
		tsih = g_iscsi.next_tsih++;
		if (g_iscsi.next_tsih == 0) {
			g_iscsi.next_tsih = 1;
		}
		if (tsih != 0 && iscsi_sess_find_by_tsih(tsih) == NULL) {
			return tsih;
		}
	}
	return 0;
}

/*
 * Dropping connections of another thread (session reinstatement): each is looked up again
 * by id on its own thread, as it may be gone by then.
 */
struct sess_drop_msg {
	struct iscsi_poll_group *pg;
	uint32_t conn_id;
};

static void
sess_drop_conn_msg(void *arg)
{
	struct sess_drop_msg *m = arg;
	struct iscsi_conn *conn;

	TAILQ_FOREACH (conn, &m->pg->conns, pg_link) {
		if (conn->id == m->conn_id) {
			iscsi_conn_drop(conn, "session reinstated");
			break;
		}
	}
	free(m);
}

/* Under the lock: unlist the sessions a new leading login replaces (same initiator, ISID and
 * target: RFC 7143 6.3.5) and queue drop messages for their connections into msgs. */
static int
sess_reinstate_locked(struct iscsi_conn *conn, struct sess_drop_msg **msgs,
		      struct keel_thread **threads, int max)
{
	struct iscsi_sess *old;
	int i, n = 0;

	if (conn->target == NULL || g_iscsi.opts.allow_duplicated_isid) {
		return 0;
	}
	while ((old = iscsi_sess_find(conn->initiator_name, conn->login.isid, conn->target)) !=
	       NULL) {
		ISCSI_CONN_NOTICELOG(conn, "session reinstatement: TSIH %u is closed\n", old->tsih);
		sess_unlist(old);
		for (i = 0; i < old->num_conns && n < max; i++) {
			msgs[n] = malloc(sizeof(**msgs));
			if (msgs[n] == NULL) {
				continue;
			}
			msgs[n]->pg = old->conns[i]->pg;
			msgs[n]->conn_id = old->conns[i]->id;
			threads[n] = old->conns[i]->thread;
			n++;
		}
	}
	return n;
}

static uint64_t
sess_isid64(const uint8_t *isid)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 6; i++) {
		v = (v << 8) | isid[i];
	}
	return v;
}

static void
sess_free(struct iscsi_sess *sess)
{
	keel_scsi_port_free(&sess->initiator_port);
	free(sess);
}

/* A new session object for the login of conn, not listed yet. */
static struct iscsi_sess *
sess_alloc(struct iscsi_conn *conn, int *status)
{
	struct iscsi_login_state *ls = &conn->login;
	struct iscsi_tgt_node *target = conn->target;
	struct iscsi_sess *sess;
	uint32_t qd = g_iscsi.opts.max_queue_depth;

	*status = KEEL_ISCSI_LOGIN_OUT_OF_RESOURCES;
	sess = calloc(1, sizeof(*sess));
	if (sess == NULL) {
		return NULL;
	}
	memcpy(sess->isid, ls->isid, sizeof(sess->isid));
	keel_strlcpy(sess->initiator_name, conn->initiator_name, sizeof(sess->initiator_name));
	snprintf(sess->initiator_port_name, sizeof(sess->initiator_port_name),
		 "%s,i,0x%02x%02x%02x%02x%02x%02x", conn->initiator_name, ls->isid[0], ls->isid[1],
		 ls->isid[2], ls->isid[3], ls->isid[4], ls->isid[5]);
	sess->target = target;
	sess->params = ls->sess_params;
	sess->pg_tag = conn->pg_tag;
	sess->thread = conn->thread;
	TAILQ_INIT(&sess->pending_cmds);
	if (target != NULL && target->queue_depth > 0) {
		qd = KEEL_MIN(target->queue_depth, qd);
	}
	sess->queue_depth = KEEL_MAX(KEEL_MIN(qd, ISCSI_MAX_QUEUE_DEPTH), 1u);
	/* The login's CmdSN is the first one of the session (RFC 7143 11.12.7). */
	sess->exp_cmdsn = ls->cmdsn;
	sess->max_cmdsn = ls->cmdsn + sess->queue_depth - 1;
	if (target != NULL) {
		sess->initiator_port =
			keel_scsi_port_create(sess_isid64(ls->isid), 0, sess->initiator_port_name);
		sess->target_port =
			keel_scsi_dev_find_port_by_id(target->dev, (uint64_t)conn->pg_tag);
		if (sess->initiator_port == NULL || sess->target_port == NULL) {
			ISCSI_CONN_ERRLOG(conn, "no SCSI %s port for the session\n",
					  sess->initiator_port == NULL ? "initiator" : "target");
			*status = KEEL_ISCSI_LOGIN_TARGET_ERROR;
			sess_free(sess);
			return NULL;
		}
	}
	*status = 0;
	return sess;
}

int
iscsi_sess_create(struct iscsi_conn *conn)
{
	struct sess_drop_msg *msgs[ISCSI_MAX_CONNS_PER_SESSION * 4];
	struct keel_thread *threads[ISCSI_MAX_CONNS_PER_SESSION * 4];
	struct iscsi_sess *sess;
	int status, n, i;

	sess = sess_alloc(conn, &status);
	if (sess == NULL) {
		return status;
	}
	pthread_mutex_lock(&g_iscsi.lock);
	n = sess_reinstate_locked(conn, msgs, threads, (int)(sizeof(msgs) / sizeof(msgs[0])));
	if (g_iscsi.num_sessions >= g_iscsi.opts.max_sessions) {
		status = KEEL_ISCSI_LOGIN_OUT_OF_RESOURCES;
	} else {
		sess->tsih = sess_alloc_tsih();
		if (sess->tsih == 0) {
			status = KEEL_ISCSI_LOGIN_OUT_OF_RESOURCES;
		}
	}
	if (status == 0) {
		TAILQ_INSERT_TAIL(&g_iscsi.sessions, sess, link);
		g_iscsi.num_sessions++;
		sess->conns[0] = conn;
		sess->num_conns = 1;
		conn->sess = sess;
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	for (i = 0; i < n; i++) {
		if (keel_thread_send_msg(threads[i], sess_drop_conn_msg, msgs[i]) != 0) {
			free(msgs[i]);
		}
	}
	if (status != 0) {
		ISCSI_CONN_ERRLOG(conn, "login failed: MaxSessions (%u) reached\n",
				  g_iscsi.opts.max_sessions);
		sess_free(sess);
	}
	return status;
}

/* The session a non-leading login names, if it is this initiator's, on this thread. */
static bool
sess_matches(const struct iscsi_sess *sess, const struct iscsi_conn *conn)
{
	return sess->thread == conn->thread && sess->target == conn->target &&
	       memcmp(sess->isid, conn->login.isid, sizeof(sess->isid)) == 0 &&
	       strcasecmp(sess->initiator_name, conn->initiator_name) == 0;
}

int
iscsi_sess_add_conn(struct iscsi_conn *conn)
{
	struct iscsi_conn *old = NULL;
	struct iscsi_sess *sess;
	uint32_t max;
	int i, status = 0;

	pthread_mutex_lock(&g_iscsi.lock);
	sess = iscsi_sess_find_by_tsih(conn->login.tsih);
	if (sess == NULL || !sess_matches(sess, conn)) {
		status = KEEL_ISCSI_LOGIN_SESSION_DOES_NOT_EXIST;
		goto out_unlock;
	}
	for (i = 0; i < sess->num_conns; i++) {
		if (sess->conns[i]->cid == conn->cid) {
			old = sess->conns[i];
		}
	}
	max = KEEL_MIN(sess->params.max_connections, (uint32_t)ISCSI_MAX_CONNS_PER_SESSION);
	if ((old == NULL && (uint32_t)sess->num_conns >= max) ||
	    sess->num_conns >= ISCSI_MAX_CONNS_PER_SESSION) {
		status = KEEL_ISCSI_LOGIN_TOO_MANY_CONNECTIONS;
		goto out_unlock;
	}
	sess->conns[sess->num_conns++] = conn;
	conn->sess = sess;
out_unlock:
	pthread_mutex_unlock(&g_iscsi.lock);
	if (status == KEEL_ISCSI_LOGIN_SESSION_DOES_NOT_EXIST) {
		ISCSI_CONN_ERRLOG(conn,
				  "login failed: no session with TSIH %u for this "
				  "initiator\n",
				  conn->login.tsih);
	} else if (status != 0) {
		ISCSI_CONN_ERRLOG(conn, "login failed: session TSIH %u has its MaxConnections\n",
				  conn->login.tsih);
	} else if (old != NULL) {
		/* Connection reinstatement (RFC 7143 6.3.4): the old one's tasks end with it. */
		ISCSI_CONN_NOTICELOG(conn, "connection reinstatement: CID %u replaces conn %u\n",
				     conn->cid, old->id);
		iscsi_conn_drop(old, "connection reinstated");
	}
	return status;
}

static void
sess_destroy(struct iscsi_sess *sess)
{
	if (sess->target != NULL && sess->initiator_port != NULL) {
		/* SPC-4: reservations held through the nexus go; the initiator is told. */
		keel_scsi_dev_nexus_lost(sess->target->dev, sess->initiator_port,
					 sess->target_port);
	}
	KEEL_INFOLOG(iscsi, "session TSIH %u of %s ended\n", sess->tsih, sess->initiator_name);
	sess_free(sess);
}

void
iscsi_sess_remove_conn(struct iscsi_conn *conn)
{
	struct iscsi_sess *sess = conn->sess;
	bool last;
	int i;

	if (sess == NULL) {
		return;
	}
	pthread_mutex_lock(&g_iscsi.lock);
	for (i = 0; i < sess->num_conns; i++) {
		if (sess->conns[i] == conn) {
			memmove(&sess->conns[i], &sess->conns[i + 1],
				(size_t)(sess->num_conns - i - 1) * sizeof(sess->conns[0]));
			sess->num_conns--;
			sess->conns[sess->num_conns] = NULL;
			break;
		}
	}
	last = sess->num_conns == 0;
	if (last) {
		sess_unlist(sess);
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	conn->sess = NULL;
	if (last) {
		sess_destroy(sess);
	}
}

/*
 * Moving a connection between poll groups.
 */
struct migrate_ctx {
	struct iscsi_conn *conn;
	struct iscsi_poll_group *pg;
	keel_sock_cb sock_cb;
	void *sock_cb_arg;
	iscsi_conn_migrate_cb cb;
};

/* On the new thread: the connection joins this poll group; nobody could reach it meanwhile
 * (it was in no group's list), so the pointer is still good. */
static void
migrate_arrive(void *arg)
{
	struct migrate_ctx *ctx = arg;
	struct iscsi_conn *conn = ctx->conn;
	struct iscsi_poll_group *pg = ctx->pg;
	int rc;

	TAILQ_INSERT_TAIL(&pg->conns, conn, pg_link);
	rc = keel_sock_group_add_sock(pg->sock_group, conn->sock, ctx->sock_cb, ctx->sock_cb_arg);
	if (rc != 0) {
		ISCSI_CONN_ERRLOG(conn, "cannot poll the socket on core %u: %s\n", pg->core,
				  keel_strerror(-rc));
	}
	if (ctx->cb != NULL) {
		ctx->cb(conn, rc);
	} else if (rc != 0) {
		iscsi_conn_drop(conn, "cannot poll the socket after moving");
	}
	if (rc == 0) {
		/* Data that came while it moved (a uring group reports only new data). */
		ctx->sock_cb(ctx->sock_cb_arg, pg->sock_group, conn->sock);
	}
	free(ctx);
}

int
iscsi_conn_migrate_then(struct iscsi_conn *conn, struct iscsi_poll_group *pg,
			iscsi_conn_migrate_cb cb)
{
	struct iscsi_poll_group *old = conn->pg;
	struct migrate_ctx *ctx;
	int rc;

	if (pg == old) {
		return -EINVAL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->conn = conn;
	ctx->pg = pg;
	ctx->cb = cb;
	ctx->sock_cb = conn->sock->cb;
	ctx->sock_cb_arg = conn->sock->cb_arg;
	rc = keel_sock_group_remove_sock(old->sock_group, conn->sock);
	if (rc != 0) {
		free(ctx);
		return rc;
	}
	TAILQ_REMOVE(&old->conns, conn, pg_link);
	__atomic_fetch_sub(&old->num_conns, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&pg->num_conns, 1, __ATOMIC_RELAXED);
	/* Others find the connection's thread under the lock; the message goes under it too, so
	 * that theirs cannot overtake it. */
	pthread_mutex_lock(&g_iscsi.lock);
	conn->pg = pg;
	conn->thread = pg->thread;
	rc = keel_thread_send_msg(pg->thread, migrate_arrive, ctx);
	if (rc != 0) {
		conn->pg = old;
		conn->thread = old->thread;
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	if (rc != 0) {
		__atomic_fetch_sub(&pg->num_conns, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&old->num_conns, 1, __ATOMIC_RELAXED);
		TAILQ_INSERT_TAIL(&old->conns, conn, pg_link);
		if (keel_sock_group_add_sock(old->sock_group, conn->sock, ctx->sock_cb,
					     ctx->sock_cb_arg) != 0) {
			ISCSI_CONN_ERRLOG(conn, "cannot poll the socket again\n");
		}
		free(ctx);
		return -ENOMEM;
	}
	return 0;
}

int
iscsi_conn_migrate(struct iscsi_conn *conn, struct iscsi_poll_group *pg)
{
	return iscsi_conn_migrate_then(conn, pg, NULL);
}
