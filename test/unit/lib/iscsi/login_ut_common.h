/*
 * What the login tests share: the sources under test (login.c, params.c, chap.c, sess.c, and
 * pdu.c for real Login Response headers) and stand-ins for what they call outside: target
 * nodes, portal groups and auth groups in small tables, a fake SCSI device with two LUNs,
 * threads whose messages the test runs by hand, socket groups that only count, and a log
 * that keeps its text so that tests can check what was (and was not) logged.
 */
#ifndef KEEL_LOGIN_UT_COMMON_H
#define KEEL_LOGIN_UT_COMMON_H

#include "keel/stdinc.h"
#include "keel/accel.h"
#include "keel/env.h"
#include "keel/sock.h"
#include "keel/thread.h"
#include "ut.h"

#include "iscsi/pdu.c"
#include "iscsi/params.c"
#include "iscsi/chap.c"
#include "iscsi/sess.c"
#include "iscsi/login.c"

#include <openssl/evp.h>

/*
 * Log.
 */
static char g_ut_log[65536];

void
keel_vlog(enum keel_log_level level, const char *file, int line, const char *func, const char *fmt,
	  va_list ap)
{
	size_t used = strlen(g_ut_log);

	if (used + 1 < sizeof(g_ut_log)) {
		vsnprintf(g_ut_log + used, sizeof(g_ut_log) - used, fmt, ap);
	}
}

void
keel_log(enum keel_log_level level, const char *file, int line, const char *func, const char *fmt,
	 ...)
{
	va_list ap;

	va_start(ap, fmt);
	keel_vlog(level, file, line, func, fmt, ap);
	va_end(ap);
}

void
keel_log_register_flag(struct keel_log_flag *flag)
{
}

__attribute__((unused)) static bool
ut_log_has(const char *text)
{
	return strstr(g_ut_log, text) != NULL;
}

/*
 * Globals (iscsi.c is not under test).
 */
struct iscsi_globals g_iscsi = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.portal_grps = TAILQ_HEAD_INITIALIZER(g_iscsi.portal_grps),
	.init_grps = TAILQ_HEAD_INITIALIZER(g_iscsi.init_grps),
	.auth_grps = TAILQ_HEAD_INITIALIZER(g_iscsi.auth_grps),
	.target_nodes = TAILQ_HEAD_INITIALIZER(g_iscsi.target_nodes),
	.sessions = TAILQ_HEAD_INITIALIZER(g_iscsi.sessions),
	.conns = TAILQ_HEAD_INITIALIZER(g_iscsi.conns),
	.next_tsih = 1,
	.next_conn_id = 1,
};

/* The options' defaults as iscsi.c sets them. */
static void
ut_opts_defaults(struct iscsi_opts *o)
{
	memset(o, 0, sizeof(*o));
	keel_strlcpy(o->nodebase, ISCSI_DEFAULT_NODEBASE, sizeof(o->nodebase));
	o->max_sessions = ISCSI_DEFAULT_MAX_SESSIONS;
	o->max_connections_per_session = ISCSI_DEFAULT_MAX_CONNS_PER_SESSION;
	o->max_queue_depth = ISCSI_DEFAULT_MAX_QUEUE_DEPTH;
	o->default_time2wait = ISCSI_DEFAULT_TIME2WAIT;
	o->default_time2retain = ISCSI_DEFAULT_TIME2RETAIN;
	o->first_burst_length = ISCSI_DEFAULT_FIRST_BURST;
	o->max_burst_length = ISCSI_DEFAULT_MAX_BURST;
	o->max_recv_data_segment_length = ISCSI_DEFAULT_MAX_RECV_DSL;
	o->immediate_data = true;
	o->initial_r2t = false;
	o->nop_timeout = ISCSI_DEFAULT_NOP_TIMEOUT;
	o->nop_in_interval = ISCSI_DEFAULT_NOP_IN_INTERVAL;
	o->max_r2t_per_connection = ISCSI_DEFAULT_MAX_R2T;
}

/*
 * PDU memory (pdu.c takes PDUs from a pool; data buffers above 512 bytes are allocated since
 * the buffer pool's element size is 0 here).
 */
void *
keel_mempool_get(struct keel_mempool *pool)
{
	return malloc(sizeof(struct iscsi_pdu));
}

void
keel_mempool_put(struct keel_mempool *pool, void *obj)
{
	free(obj);
}

uint32_t
keel_crc32c_iov(const struct iovec *iov, int iovcnt, uint32_t seed)
{
	return 0;
}

ssize_t
keel_sock_writev(struct keel_sock *sock, struct iovec *iov, int iovcnt)
{
	errno = EAGAIN;
	return -1;
}

/*
 * Threads: messages wait in a queue until ut_run_msgs() runs them on their thread.
 */
struct keel_thread {
	int idx;
};
static struct keel_thread g_ut_threads[2] = {{0}, {1}};
static struct keel_thread *g_ut_cur_thread = &g_ut_threads[0];

struct ut_msg {
	const struct keel_thread *thread;
	keel_msg_fn fn;
	void *ctx;
};
static struct ut_msg g_ut_msgs[64];
static int g_ut_num_msgs;
static int g_ut_send_msg_rc;

int
keel_thread_send_msg(const struct keel_thread *thread, keel_msg_fn fn, void *ctx)
{
	if (g_ut_send_msg_rc != 0) {
		return g_ut_send_msg_rc;
	}
	CU_ASSERT_FATAL(g_ut_num_msgs < (int)(sizeof(g_ut_msgs) / sizeof(g_ut_msgs[0])));
	g_ut_msgs[g_ut_num_msgs].thread = thread;
	g_ut_msgs[g_ut_num_msgs].fn = fn;
	g_ut_msgs[g_ut_num_msgs].ctx = ctx;
	g_ut_num_msgs++;
	return 0;
}

struct keel_thread *
keel_get_thread(void)
{
	return g_ut_cur_thread;
}

__attribute__((unused)) static int
ut_run_msgs(void)
{
	struct ut_msg m;
	int n = 0;

	while (g_ut_num_msgs > 0) {
		m = g_ut_msgs[0];
		memmove(&g_ut_msgs[0], &g_ut_msgs[1], (size_t)(g_ut_num_msgs - 1) * sizeof(m));
		g_ut_num_msgs--;
		g_ut_cur_thread = (struct keel_thread *)m.thread;
		m.fn(m.ctx);
		n++;
	}
	g_ut_cur_thread = &g_ut_threads[0];
	return n;
}

/*
 * Time and timed pollers: the clock moves only when a test says so, and a test runs a due
 * poller itself (ut_run_pollers).
 */
static uint64_t g_ut_ticks;

uint64_t
keel_get_ticks(void)
{
	return g_ut_ticks;
}

uint64_t
keel_get_ticks_hz(void)
{
	return 1000;
}

struct keel_poller {
	keel_poller_fn fn;
	void *ctx;
	uint64_t due_ticks;
	bool used;
};
static struct keel_poller g_ut_pollers[16];

struct keel_poller *
keel_poller_register_named(keel_poller_fn fn, void *ctx, uint64_t period_us, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(g_ut_pollers) / sizeof(g_ut_pollers[0]); i++) {
		if (!g_ut_pollers[i].used) {
			g_ut_pollers[i] = (struct keel_poller){fn, ctx, g_ut_ticks + period_us / 1000,
							       true};
			return &g_ut_pollers[i];
		}
	}
	return NULL;
}

void
keel_poller_unregister(struct keel_poller **pp)
{
	if (*pp != NULL) {
		(*pp)->used = false;
		*pp = NULL;
	}
}

/* Pollers registered now. */
__attribute__((unused)) static int
ut_num_pollers(void)
{
	size_t i;
	int n = 0;

	for (i = 0; i < sizeof(g_ut_pollers) / sizeof(g_ut_pollers[0]); i++) {
		n += g_ut_pollers[i].used;
	}
	return n;
}

/* Run every poller due at the current time; returns how many ran. */
__attribute__((unused)) static int
ut_run_pollers(void)
{
	size_t i;
	int n = 0;

	for (i = 0; i < sizeof(g_ut_pollers) / sizeof(g_ut_pollers[0]); i++) {
		if (g_ut_pollers[i].used && g_ut_pollers[i].due_ticks <= g_ut_ticks) {
			g_ut_pollers[i].fn(g_ut_pollers[i].ctx);
			n++;
		}
	}
	return n;
}

/*
 * Socket groups and the connection's socket callback.
 */
static struct keel_sock_group g_ut_sock_groups[2];
static int g_ut_add_sock_rc;
static int g_ut_sock_cb_calls;

int
keel_sock_group_add_sock(struct keel_sock_group *group, struct keel_sock *sock, keel_sock_cb cb,
			 void *cb_arg)
{
	if (g_ut_add_sock_rc != 0) {
		return g_ut_add_sock_rc;
	}
	group->num_socks++;
	sock->group = group;
	sock->cb = cb;
	sock->cb_arg = cb_arg;
	return 0;
}

int
keel_sock_group_remove_sock(struct keel_sock_group *group, struct keel_sock *sock)
{
	group->num_socks--;
	sock->group = NULL;
	return 0;
}

static void
ut_sock_cb(void *arg, struct keel_sock_group *group, struct keel_sock *sock)
{
	g_ut_sock_cb_calls++;
}

/*
 * SCSI: one fake device with g_ut_num_luns LUNs and a target port per portal group tag 1..9.
 */
static char g_ut_dev_mem[8], g_ut_lun_mem[ISCSI_MAX_LUN], g_ut_desc_mem[ISCSI_MAX_LUN];
static char g_ut_tport_mem[10];
#define UT_DEV ((struct keel_scsi_dev *)g_ut_dev_mem)
static uint64_t g_ut_num_luns = 2;
static int g_ut_lun_opens, g_ut_lun_closes, g_ut_nexus_lost, g_ut_ports_alive;
static keel_scsi_lun_remove_cb g_ut_remove_cb;
static void *g_ut_remove_ctx;
static char g_ut_port_name[512];

struct keel_scsi_lun *
keel_scsi_dev_get_lun(struct keel_scsi_dev *dev, uint64_t lun_id)
{
	return dev == UT_DEV && lun_id < g_ut_num_luns
		       ? (struct keel_scsi_lun *)&g_ut_lun_mem[lun_id]
		       : NULL;
}

int
keel_scsi_lun_open(struct keel_scsi_lun *lun, keel_scsi_lun_remove_cb remove_cb, void *ctx,
		   struct keel_scsi_lun_desc **desc)
{
	*desc = (struct keel_scsi_lun_desc *)&g_ut_desc_mem[(char *)lun - g_ut_lun_mem];
	g_ut_remove_cb = remove_cb;
	g_ut_remove_ctx = ctx;
	g_ut_lun_opens++;
	return 0;
}

void
keel_scsi_lun_close(struct keel_scsi_lun_desc *desc)
{
	g_ut_lun_closes++;
}

struct keel_scsi_port *
keel_scsi_dev_find_port_by_id(struct keel_scsi_dev *dev, uint64_t id)
{
	return dev == UT_DEV && id > 0 && id < sizeof(g_ut_tport_mem)
		       ? (struct keel_scsi_port *)&g_ut_tport_mem[id]
		       : NULL;
}

struct keel_scsi_port *
keel_scsi_port_create(uint64_t id, uint16_t index, const char *name)
{
	keel_strlcpy(g_ut_port_name, name, sizeof(g_ut_port_name));
	g_ut_ports_alive++;
	return malloc(16);
}

void
keel_scsi_port_free(struct keel_scsi_port **pport)
{
	if (*pport != NULL) {
		g_ut_ports_alive--;
		free(*pport);
		*pport = NULL;
	}
}

void
keel_scsi_dev_nexus_lost(struct keel_scsi_dev *dev, struct keel_scsi_port *initiator_port,
			 struct keel_scsi_port *target_port)
{
	g_ut_nexus_lost++;
}

/*
 * Configuration objects: one target node (more can be listed), portal group 1, auth group 1.
 */
static struct iscsi_tgt_node g_ut_target;
static bool g_ut_access = true;
static struct iscsi_portal_grp g_ut_pg1, g_ut_pg2;
static struct iscsi_portal g_ut_portal2;

void
iscsi_full_target_name(const char *name, char *out, size_t len)
{
	if (strchr(name, ':') != NULL || strncasecmp(name, "iqn.", 4) == 0) {
		snprintf(out, len, "%s", name);
	} else {
		snprintf(out, len, "%s:%s", g_iscsi.opts.nodebase, name);
	}
}

struct iscsi_tgt_node *
iscsi_tgt_node_find(const char *name)
{
	char full[2 * ISCSI_MAX_NAME + 2];
	struct iscsi_tgt_node *target;

	iscsi_full_target_name(name, full, sizeof(full));
	TAILQ_FOREACH (target, &g_iscsi.target_nodes, link) {
		if (strcasecmp(target->name, full) == 0 && !target->destructing) {
			return target;
		}
	}
	return NULL;
}

bool
iscsi_tgt_node_access(struct iscsi_tgt_node *target, int32_t pg_tag, const char *iqn,
		      const char *addr)
{
	return g_ut_access;
}

struct iscsi_portal_grp *
iscsi_portal_grp_find(int32_t tag)
{
	struct iscsi_portal_grp *pg;

	TAILQ_FOREACH (pg, &g_iscsi.portal_grps, link) {
		if (pg->tag == tag) {
			return pg;
		}
	}
	return NULL;
}

/* Auth group 1: user "alice" (target secret for mutual CHAP), user "bob" (none). */
#define UT_USER "alice"
#define UT_SECRET "alice-secret-1234"
#define UT_MUSER "target-user"
#define UT_MSECRET "target-secret-5678"
#define UT_USER2 "bob"
#define UT_SECRET2 "bob-secret-99"

bool
iscsi_auth_grp_get_secret(int32_t tag, const char *user, struct iscsi_chap_secret *out)
{
	if (tag != 1) {
		return false;
	}
	memset(out, 0, sizeof(*out));
	if (strcmp(user, UT_USER) == 0) {
		keel_strlcpy(out->user, UT_USER, sizeof(out->user));
		keel_strlcpy(out->secret, UT_SECRET, sizeof(out->secret));
		keel_strlcpy(out->muser, UT_MUSER, sizeof(out->muser));
		keel_strlcpy(out->msecret, UT_MSECRET, sizeof(out->msecret));
		return true;
	}
	if (strcmp(user, UT_USER2) == 0) {
		keel_strlcpy(out->user, UT_USER2, sizeof(out->user));
		keel_strlcpy(out->secret, UT_SECRET2, sizeof(out->secret));
		return true;
	}
	return false;
}

/*
 * Connections: made and freed the way conn.c does it (only what login touches).
 */
static struct iscsi_poll_group g_ut_pgs[2];
static int g_ut_drops;

static void ut_conn_free(struct iscsi_conn *conn);

void
iscsi_conn_drop(struct iscsi_conn *conn, const char *why)
{
	g_ut_drops++;
	conn->state = ISCSI_CONN_STATE_EXITING;
	ut_conn_free(conn);
}

void
iscsi_conn_update_exp_statsn(struct iscsi_conn *conn, uint32_t exp_statsn)
{
	conn->exp_statsn = exp_statsn;
}

static struct iscsi_conn *
ut_conn_new(int pg_idx)
{
	struct iscsi_conn *conn = calloc(1, sizeof(*conn));
	struct iscsi_poll_group *pg = &g_ut_pgs[pg_idx];

	CU_ASSERT_FATAL(conn != NULL);
	conn->sock = calloc(1, sizeof(*conn->sock));
	CU_ASSERT_FATAL(conn->sock != NULL);
	keel_sock_group_add_sock(pg->sock_group, conn->sock, ut_sock_cb, conn);
	conn->state = ISCSI_CONN_STATE_LOGIN;
	conn->pg = pg;
	conn->thread = pg->thread;
	conn->pg_tag = 1;
	conn->params.max_recv_dsl = 8192;
	conn->params.max_send_dsl = 8192;
	TAILQ_INIT(&conn->tx_queue);
	TAILQ_INIT(&conn->active_tasks);
	TAILQ_INIT(&conn->r2t_tasks);
	keel_strlcpy(conn->initiator_addr, "127.0.0.1", sizeof(conn->initiator_addr));
	keel_strlcpy(conn->initiator_name, "(logging in)", sizeof(conn->initiator_name));
	pthread_mutex_lock(&g_iscsi.lock);
	conn->id = g_iscsi.next_conn_id++;
	TAILQ_INSERT_TAIL(&g_iscsi.conns, conn, g_link);
	pthread_mutex_unlock(&g_iscsi.lock);
	TAILQ_INSERT_TAIL(&pg->conns, conn, pg_link);
	pg->num_conns++;
	return conn;
}

static void
ut_conn_free(struct iscsi_conn *conn)
{
	struct iscsi_pdu *pdu;
	int i;

	for (i = 0; i < ISCSI_MAX_LUN; i++) {
		if (conn->lun_descs[i] != NULL) {
			keel_scsi_lun_close(conn->lun_descs[i]);
		}
	}
	while ((pdu = TAILQ_FIRST(&conn->tx_queue)) != NULL) {
		TAILQ_REMOVE(&conn->tx_queue, pdu, link);
		iscsi_pdu_put(pdu);
	}
	iscsi_sess_remove_conn(conn);
	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_REMOVE(&g_iscsi.conns, conn, g_link);
	if (conn->target != NULL) {
		conn->target->num_active_conns--;
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	TAILQ_REMOVE(&conn->pg->conns, conn, pg_link);
	conn->pg->num_conns--;
	if (conn->sock->group != NULL) {
		keel_sock_group_remove_sock(conn->sock->group, conn->sock);
	}
	free(conn->sock);
	keel_poller_unregister(&conn->login.delay_poller);
	free(conn->login.text);
	free(conn->login.rsp_text);
	free(conn);
}

/*
 * Login Requests.
 */
#define UT_T KEEL_ISCSI_LOGIN_TRANSIT
#define UT_C KEEL_ISCSI_LOGIN_CONTINUE
#define UT_CSG(s) ((uint8_t)((s) << KEEL_ISCSI_LOGIN_CSG_SHIFT))
#define UT_SEC 0
#define UT_OP 1
#define UT_FFP 3
#define UT_INITIATOR "iqn.2016-06.io.keel:host1"
#define UT_TARGET_SHORT "disk1"
#define UT_TARGET ISCSI_DEFAULT_NODEBASE ":" UT_TARGET_SHORT

struct ut_req {
	uint8_t flags;
	uint8_t version_min;
	uint8_t version_max;
	uint8_t isid[6];
	uint16_t tsih;
	uint16_t cid;
	uint32_t itt;
	uint32_t cmdsn;
	uint32_t exp_statsn;
};

static struct ut_req
ut_req_default(uint8_t flags)
{
	struct ut_req r = {
		.flags = flags,
		.isid = {0x80, 0x12, 0x34, 0x56, 0x00, 0x01},
		.cid = 1,
		.itt = 0x1000,
		.cmdsn = 100,
		.exp_statsn = 0,
	};

	return r;
}

/* "a=1\nb=2\n" -> "a=1\0b=2\0" (len bytes). */
static char *
ut_text(const char *lines, uint32_t *len)
{
	char *t = strdup(lines);
	size_t i, n = strlen(lines);

	CU_ASSERT_FATAL(t != NULL);
	for (i = 0; i < n; i++) {
		if (t[i] == '\n') {
			t[i] = '\0';
		}
	}
	*len = (uint32_t)n;
	return t;
}

static int
ut_login_raw(struct iscsi_conn *conn, const struct ut_req *r, const char *data, uint32_t len)
{
	struct iscsi_pdu *pdu = calloc(1, sizeof(*pdu));
	struct keel_iscsi_login_req *req = (struct keel_iscsi_login_req *)&pdu->bhs;
	int rc;

	CU_ASSERT_FATAL(pdu != NULL);
	req->opcode = KEEL_ISCSI_OP_LOGIN_REQ | KEEL_ISCSI_IMMEDIATE;
	req->flags = r->flags;
	req->version_min = r->version_min;
	req->version_max = r->version_max;
	memcpy(req->isid, r->isid, 6);
	keel_to_be16(req->tsih, r->tsih);
	keel_to_be16(req->cid, r->cid);
	keel_to_be32(req->itt, r->itt);
	keel_to_be32(req->cmdsn, r->cmdsn);
	keel_to_be32(req->exp_statsn, r->exp_statsn);
	keel_to_be24(req->data_segment_len, len);
	pdu->data = (uint8_t *)data;
	pdu->data_len = len;
	rc = iscsi_login_handle(conn, pdu);
	free(pdu);
	return rc;
}

static int
ut_login_req(struct iscsi_conn *conn, const struct ut_req *r, const char *lines)
{
	uint32_t len;
	char *t = ut_text(lines, &len);
	int rc = ut_login_raw(conn, r, t, len);

	free(t);
	return rc;
}

__attribute__((unused)) static int
ut_login(struct iscsi_conn *conn, uint8_t flags, const char *lines)
{
	struct ut_req r = ut_req_default(flags);

	return ut_login_req(conn, &r, lines);
}

/* The next Login Response queued on conn (the caller frees it with iscsi_pdu_put). */
static struct iscsi_pdu *
ut_rsp(struct iscsi_conn *conn)
{
	struct iscsi_pdu *pdu = TAILQ_FIRST(&conn->tx_queue);

	if (pdu != NULL) {
		TAILQ_REMOVE(&conn->tx_queue, pdu, link);
		conn->tx_queued--;
	}
	return pdu;
}

__attribute__((unused)) static int
ut_status(const struct iscsi_pdu *pdu)
{
	const struct keel_iscsi_login_rsp *rsp = (const struct keel_iscsi_login_rsp *)&pdu->bhs;

	return rsp->status_class << 8 | rsp->status_detail;
}

/* Value of key in a text of len bytes, or NULL. */
static const char *
ut_text_value(const char *text, uint32_t len, const char *key)
{
	size_t klen = strlen(key);
	uint32_t off = 0;

	while (off < len) {
		const char *p = text + off;
		size_t n = strnlen(p, len - off);

		if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			return p + klen + 1;
		}
		off += (uint32_t)n + 1;
	}
	return NULL;
}

__attribute__((unused)) static const char *
ut_rsp_value(const struct iscsi_pdu *pdu, const char *key)
{
	return ut_text_value((const char *)pdu->data, pdu->data_len, key);
}

/* The status of the only response queued; frees it. -1 if there is not exactly one. */
__attribute__((unused)) static int
ut_only_status(struct iscsi_conn *conn)
{
	struct iscsi_pdu *pdu = ut_rsp(conn);
	int status;

	if (pdu == NULL || !TAILQ_EMPTY(&conn->tx_queue)) {
		iscsi_pdu_put(pdu);
		return -1;
	}
	status = ut_status(pdu);
	iscsi_pdu_put(pdu);
	return status;
}

/*
 * Set-up between tests.
 */
static void
ut_reset(void)
{
	struct iscsi_sess *sess;

	while ((sess = TAILQ_FIRST(&g_iscsi.sessions)) != NULL) {
		CU_FAIL("a session was left over");
		while (sess->num_conns > 0) {
			ut_conn_free(sess->conns[0]);
		}
	}
	ut_opts_defaults(&g_iscsi.opts);
	/* Most tests fail many logins in a row: no back-off unless a test asks for it. */
	memset(g_login_penalties, 0, sizeof(g_login_penalties));
	g_login_backoff.free_failures = UINT32_MAX;
	memset(g_ut_pollers, 0, sizeof(g_ut_pollers));
	g_ut_ticks = 1000000;
	g_iscsi.num_sessions = 0;
	g_ut_log[0] = '\0';
	g_ut_access = true;
	g_ut_num_luns = 2;
	g_ut_lun_opens = g_ut_lun_closes = g_ut_nexus_lost = 0;
	g_ut_drops = 0;
	g_ut_num_msgs = 0;
	g_ut_send_msg_rc = 0;
	g_ut_add_sock_rc = 0;
	g_ut_sock_cb_calls = 0;
	g_ut_cur_thread = &g_ut_threads[0];

	memset(&g_ut_target, 0, sizeof(g_ut_target));
	keel_strlcpy(g_ut_target.name, UT_TARGET, sizeof(g_ut_target.name));
	g_ut_target.dev = UT_DEV;
	g_ut_target.chap_group = 0;
	TAILQ_INIT(&g_ut_target.pg_maps);
	TAILQ_INIT(&g_iscsi.target_nodes);
	TAILQ_INSERT_TAIL(&g_iscsi.target_nodes, &g_ut_target, link);

	memset(&g_ut_pg1, 0, sizeof(g_ut_pg1));
	memset(&g_ut_pg2, 0, sizeof(g_ut_pg2));
	memset(&g_ut_portal2, 0, sizeof(g_ut_portal2));
	g_ut_pg1.tag = 1;
	g_ut_pg2.tag = 2;
	g_ut_pg2.is_private = true;
	TAILQ_INIT(&g_ut_pg1.portals);
	TAILQ_INIT(&g_ut_pg2.portals);
	keel_strlcpy(g_ut_portal2.host, "10.0.0.2", sizeof(g_ut_portal2.host));
	g_ut_portal2.port = 3261;
	g_ut_portal2.group = &g_ut_pg2;
	TAILQ_INSERT_TAIL(&g_ut_pg2.portals, &g_ut_portal2, link);
	TAILQ_INIT(&g_iscsi.portal_grps);
	TAILQ_INSERT_TAIL(&g_iscsi.portal_grps, &g_ut_pg1, link);
	TAILQ_INSERT_TAIL(&g_iscsi.portal_grps, &g_ut_pg2, link);
}

static int
ut_suite_init(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		g_ut_pgs[i].thread = &g_ut_threads[i];
		g_ut_pgs[i].core = (uint32_t)i;
		g_ut_pgs[i].sock_group = &g_ut_sock_groups[i];
		TAILQ_INIT(&g_ut_pgs[i].conns);
	}
	g_iscsi.poll_groups = g_ut_pgs;
	g_iscsi.num_poll_groups = 2;
	g_iscsi.pdu_pool = (struct keel_mempool *)g_ut_dev_mem;
	ut_reset();
	return 0;
}

/* keel_ut_run() with a fresh state before every test. */
static int
ut_run(const char *suite_name, const struct keel_ut_test *tests, size_t count)
{
	unsigned int failures;
	CU_pSuite suite;
	size_t i;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite_with_setup_and_teardown(suite_name, ut_suite_init, NULL, ut_reset,
						     NULL);
	if (suite == NULL) {
		CU_cleanup_registry();
		return 1;
	}
	for (i = 0; i < count; i++) {
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL) {
			CU_cleanup_registry();
			return 1;
		}
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_tests_failed();
	if (CU_get_number_of_suites_failed() > 0) {
		failures += (unsigned int)count;
	}
	CU_cleanup_registry();
	return failures > 0 ? 1 : 0;
}

#endif /* KEEL_LOGIN_UT_COMMON_H */
