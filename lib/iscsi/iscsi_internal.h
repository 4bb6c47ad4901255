/*
 * Private structures and interfaces of the iSCSI target, shared by its source files (split by
 * protocol concern: conn, pdu, login, params, chap, scsi_cmd, dataout, tmf, nop, logout, text,
 * portal, tgt_node, ...).
 */
#ifndef KEEL_ISCSI_INTERNAL_H
#define KEEL_ISCSI_INTERNAL_H

#include "keel/stdinc.h"
#include "keel/iscsi_spec.h"
#include "keel/scsi.h"
#include "keel/sock.h"
#include "keel/thread.h"
#include "keel/util.h"

#include <pthread.h>

#define ISCSI_MAX_NAME 223			/* iSCSI names (RFC 3722) */
#define ISCSI_MAX_ALIAS 255
#define ISCSI_MAX_CHAP_SECRET 255
#define ISCSI_MAX_LUN 64			/* LUNs per target node */
#define ISCSI_MAX_CONNS_PER_SESSION 16
#define ISCSI_MAX_PORTALS 1024
#define ISCSI_MAX_INITIATORS 256
#define ISCSI_MAX_NETMASKS 256
#define ISCSI_DEFAULT_NODEBASE "iqn.2016-06.io.spdk"
#define ISCSI_DEFAULT_AUTHFILE "/usr/local/etc/keel/auth.conf"
#define ISCSI_DEFAULT_MAX_SESSIONS 128
#define ISCSI_DEFAULT_MAX_CONNS_PER_SESSION 2
#define ISCSI_DEFAULT_MAX_QUEUE_DEPTH 64
#define ISCSI_MAX_QUEUE_DEPTH 256
#define ISCSI_DEFAULT_TIME2WAIT 2
#define ISCSI_DEFAULT_TIME2RETAIN 20
#define ISCSI_DEFAULT_FIRST_BURST (256 * 1024)
#define ISCSI_DEFAULT_MAX_BURST (1024 * 1024)
#define ISCSI_MAX_BURST_LIMIT (16 * 1024 * 1024)
#define ISCSI_DEFAULT_MAX_RECV_DSL (256 * 1024)	/* what the target declares */
#define ISCSI_MIN_DSL 512
#define ISCSI_MAX_DSL 16777215
#define ISCSI_DEFAULT_NOP_IN_INTERVAL 30
#define ISCSI_MAX_NOP_IN_INTERVAL 60
#define ISCSI_DEFAULT_NOP_TIMEOUT 60
#define ISCSI_LOGIN_TIMEOUT_S 30
#define ISCSI_LOGOUT_TIMEOUT_S 5
#define ISCSI_LOGOUT_REQUEST_TIMEOUT_S 30
#define ISCSI_DEFAULT_MAX_R2T 4
#define ISCSI_TEXT_MAX_LEN (64 * 1024)	/* accumulated text/login key data */

/*
 * Global options (iscsi_set_options / [iSCSI]).
 */
struct iscsi_opts {
	char nodebase[ISCSI_MAX_NAME + 1];
	char authfile[PATH_MAX];
	uint32_t max_sessions;
	uint32_t max_connections_per_session;
	uint32_t max_queue_depth;
	uint32_t default_time2wait;
	uint32_t default_time2retain;
	uint32_t first_burst_length;
	uint32_t max_burst_length;
	uint32_t max_recv_data_segment_length;
	bool immediate_data;
	bool initial_r2t;
	uint32_t error_recovery_level;
	bool allow_duplicated_isid;
	uint32_t nop_timeout;
	uint32_t nop_in_interval;
	uint32_t max_r2t_per_connection;	/* MaxOutstandingR2T offered */
	/* Discovery authentication. */
	bool disable_chap;
	bool require_chap;
	bool mutual_chap;
	int32_t chap_group;
};

/*
 * Configuration objects. All are created and changed on the app thread, under g_iscsi.lock,
 * and read by connection threads under the same lock (login, discovery) only.
 */
struct iscsi_portal {
	struct iscsi_portal_grp *group;
	char host[KEEL_SOCK_ADDR_LEN];
	uint16_t port;
	struct keel_cpuset cpumask;
	struct keel_sock *sock;
	struct keel_poller *acceptor;
	TAILQ_ENTRY(iscsi_portal) link;
};

struct iscsi_portal_grp {
	int32_t tag;
	bool is_private;
	bool started;		/* false until iscsi_start_portal_group with wait=true */
	int refs;		/* target nodes mapping it */
	/* Per-portal-group discovery auth (iscsi_portal_group_set_auth); -1 group = global. */
	bool disable_chap;
	bool require_chap;
	bool mutual_chap;
	int32_t chap_group;
	bool auth_set;
	TAILQ_HEAD(, iscsi_portal) portals;
	TAILQ_ENTRY(iscsi_portal_grp) link;
};

struct iscsi_initiator_name {
	char name[ISCSI_MAX_NAME + 2];	/* "ANY", an iqn, or "!name" to deny */
	TAILQ_ENTRY(iscsi_initiator_name) link;
};

struct iscsi_netmask {
	char mask[KEEL_SOCK_ADDR_LEN + 8];	/* "ANY", "127.0.0.1/32", "[::1]/128", "!..." */
	TAILQ_ENTRY(iscsi_netmask) link;
};

struct iscsi_init_grp {
	int32_t tag;
	int refs;
	TAILQ_HEAD(, iscsi_initiator_name) initiators;
	int ninitiators;
	TAILQ_HEAD(, iscsi_netmask) netmasks;
	int nnetmasks;
	TAILQ_ENTRY(iscsi_init_grp) link;
};

struct iscsi_chap_secret {
	char user[ISCSI_MAX_CHAP_SECRET + 1];
	char secret[ISCSI_MAX_CHAP_SECRET + 1];
	char muser[ISCSI_MAX_CHAP_SECRET + 1];
	char msecret[ISCSI_MAX_CHAP_SECRET + 1];
	TAILQ_ENTRY(iscsi_chap_secret) link;
};

struct iscsi_auth_grp {
	int32_t tag;
	TAILQ_HEAD(, iscsi_chap_secret) secrets;
	TAILQ_ENTRY(iscsi_auth_grp) link;
};

struct iscsi_pg_map {
	int32_t pg_tag;
	int32_t ig_tag;
	/* Login redirection for this portal group (iscsi_target_node_set_redirect). */
	char redirect_host[KEEL_SOCK_ADDR_LEN];
	uint16_t redirect_port;
	TAILQ_ENTRY(iscsi_pg_map) link;
};

struct iscsi_tgt_node {
	int num;
	char name[ISCSI_MAX_NAME + 1];
	char alias[ISCSI_MAX_ALIAS + 1];
	struct keel_scsi_dev *dev;
	uint32_t queue_depth;
	bool disable_chap;
	bool require_chap;
	bool mutual_chap;
	int32_t chap_group;
	bool header_digest;	/* required */
	bool data_digest;	/* required */
	int num_active_conns;
	bool destructing;
	TAILQ_HEAD(, iscsi_pg_map) pg_maps;
	TAILQ_ENTRY(iscsi_tgt_node) link;
	/* Histogram of command latencies (iscsi_enable_histogram). */
	bool histogram_enabled;
	uint64_t *histogram;
};

/*
 * Poll groups: one per core; connections live on one for their whole life after login.
 */
struct iscsi_poll_group {
	struct keel_thread *thread;
	uint32_t core;
	struct keel_sock_group *sock_group;
	struct keel_poller *poller;
	struct keel_poller *nop_poller;
	TAILQ_HEAD(, iscsi_conn) conns;
	uint32_t num_conns;	/* read by the app thread for placement (atomic) */
	bool stopping;
};

/*
 * PDUs. A PDU holds its BHS, optional AHS, its data segment (a pointer into a task buffer, or a
 * small buffer of its own), and the iovecs that send it with one writev.
 */
#define ISCSI_PDU_IOVS 8
#define ISCSI_PDU_SMALL_DATA 512

struct iscsi_pdu {
	struct keel_iscsi_bhs bhs;
	uint8_t *ahs;
	uint32_t ahs_len;
	uint8_t *data;			/* data segment */
	uint32_t data_len;
	uint32_t data_buf_len;		/* capacity of data when it is ours */
	bool data_owned;		/* free data with the PDU */
	bool data_from_pool;
	uint8_t header_digest[4];
	uint8_t data_digest[4];
	uint8_t pad[4];
	int iovcnt;
	size_t send_offset;		/* bytes of this PDU already written */
	size_t send_len;
	struct iscsi_task *task;	/* Data-In/R2T/response for this task, or NULL */
	void (*sent_cb)(struct iscsi_pdu *pdu);	/* when fully written, NULL: nothing */
	bool is_rsp;			/* carries StatSN (counts for ExpStatSN acknowledgement) */
	uint32_t statsn;
	TAILQ_ENTRY(iscsi_pdu) link;
	/* Not cleared by iscsi_pdu_get(): filled when the PDU is queued, or by its user. */
	struct iovec iov[ISCSI_PDU_IOVS];
	uint8_t small_data[ISCSI_PDU_SMALL_DATA];
};

/*
 * Tasks: one per SCSI command (and per TMF). The SCSI task is embedded.
 */
struct iscsi_task {
	struct keel_scsi_task scsi;
	struct iscsi_conn *conn;
	uint32_t itt;
	uint32_t cmdsn;
	uint32_t ttt;			/* current R2T's target transfer tag, 0xffffffff none */
	uint64_t lun;
	uint8_t lun_raw[8];
	bool immediate;
	bool is_tmf;
	/* Data buffer: transfer_len bytes (capped), from a pool or allocated. */
	uint8_t *buf;
	uint32_t buf_len;
	bool buf_from_pool;
	struct iovec iov;
	/* Write path. */
	uint32_t data_received;		/* bytes of Data-Out/immediate data placed */
	uint32_t next_r2t_offset;	/* next offset to ask for */
	uint32_t outstanding_r2t;	/* R2Ts sent but not fully answered */
	uint32_t r2tsn;
	uint32_t datasn_out;		/* expected DataSN within the current sequence */
	uint32_t burst_received;	/* bytes of the current unsolicited/R2T sequence */
	uint32_t unsolicited_end;	/* offset where unsolicited data must stop */
	/* Read path. */
	uint32_t datasn_in;
	uint32_t datain_sent;
	/* Residuals. */
	uint32_t expected_len;		/* ExpectedDataTransferLength */
	bool read;
	bool write;
	bool scsi_queued;		/* handed to the SCSI layer */
	bool pending;			/* on the session's CmdSN reorder queue */
	bool data_error;		/* a Data-Out was refused while pending: fails in its turn */
	bool completed;			/* SCSI layer done */
	bool aborted;
	uint64_t start_tsc;
	TAILQ_ENTRY(iscsi_task) link;	/* conn's active list or CmdSN reorder queue */
	TAILQ_ENTRY(iscsi_task) r2t_link;	/* tasks waiting to send R2Ts */
};

enum iscsi_conn_state {
	ISCSI_CONN_STATE_INVALID,
	ISCSI_CONN_STATE_LOGIN,		/* login phase */
	ISCSI_CONN_STATE_RUNNING,	/* full feature phase */
	ISCSI_CONN_STATE_LOGGED_OUT,	/* logout answered: close after the response is sent */
	ISCSI_CONN_STATE_EXITING,	/* closing: waiting for tasks to finish */
	ISCSI_CONN_STATE_EXITED,
};

enum iscsi_rx_state {
	ISCSI_RX_BHS,
	ISCSI_RX_AHS,
	ISCSI_RX_HDR_DIGEST,
	ISCSI_RX_DATA,
	ISCSI_RX_DATA_DIGEST,
	ISCSI_RX_ERROR,
};

/* Negotiated parameters of a connection and its session (RFC 7143 13). */
struct iscsi_conn_params {
	bool header_digest;
	bool data_digest;
	uint32_t max_recv_dsl;		/* what we receive at most (we declared) */
	uint32_t max_send_dsl;		/* what the initiator declared */
};

struct iscsi_sess_params {
	uint32_t max_connections;
	bool initial_r2t;
	bool immediate_data;
	uint32_t max_burst_length;
	uint32_t first_burst_length;
	uint32_t default_time2wait;
	uint32_t default_time2retain;
	uint32_t max_outstanding_r2t;
	bool data_pdu_in_order;
	bool data_sequence_in_order;
	uint32_t error_recovery_level;
	bool discovery;
};

/* Login negotiation state (login.c, params.c, chap.c). */
struct iscsi_login_state {
	uint8_t csg;
	uint8_t nsg;
	bool transit;
	uint8_t isid[6];
	uint16_t tsih;
	uint16_t cid;
	uint32_t itt;
	uint32_t cmdsn;
	bool first_pdu_seen;
	char *text;			/* accumulated key=value data (C bit continuation) */
	uint32_t text_len;
	/* Keys already negotiated (params.c: a bit per key index). */
	uint64_t keys_seen;
	uint64_t keys_sent;
	/* Security negotiation. */
	bool auth_required;
	bool auth_mutual;
	int32_t auth_group;
	bool authenticated;
	int chap_state;
	int chap_algorithm;		/* 5 MD5, 6 SHA1, 7 SHA-256, 8 SHA3-256 */
	uint8_t chap_id;
	uint8_t chap_challenge[64];
	uint32_t chap_challenge_len;
	char chap_user[ISCSI_MAX_CHAP_SECRET + 1];
	/* Response text being built. */
	char *rsp_text;
	uint32_t rsp_len;
	uint32_t rsp_cap;
	/* Outstanding response text to send across several PDUs (C bit on responses). */
	uint32_t rsp_sent;
	bool session_type_seen;
	bool initiator_name_seen;
	uint64_t start_tsc;
	/* A failure answered after a back-off (login.c); the connection unregisters it. */
	struct keel_poller *delay_poller;
	int delayed_status;
	/* Session-wide results of a leading login, given to the session when it is created. */
	struct iscsi_sess_params sess_params;
};

struct iscsi_conn {
	uint32_t id;
	uint16_t cid;
	enum iscsi_conn_state state;
	struct keel_sock *sock;
	struct iscsi_poll_group *pg;
	struct keel_thread *thread;
	struct iscsi_sess *sess;
	struct iscsi_portal_grp *portal_grp;	/* the group of the portal it came in on */
	int32_t pg_tag;
	struct iscsi_tgt_node *target;
	char initiator_name[ISCSI_MAX_NAME + 1];
	char initiator_addr[KEEL_SOCK_ADDR_LEN];
	char target_addr[KEEL_SOCK_ADDR_LEN];
	uint16_t initiator_port;
	uint16_t target_port;
	char target_short_name[ISCSI_MAX_NAME + 1];
	struct iscsi_conn_params params;
	struct iscsi_login_state login;
	bool full_feature;

	/* Receive: one large buffer, parsed PDU by PDU. */
	uint8_t *rx_buf;
	uint32_t rx_buf_size;
	uint32_t rx_head;		/* parse position */
	uint32_t rx_tail;		/* bytes in the buffer */
	enum iscsi_rx_state rx_state;
	struct iscsi_pdu *rx_pdu;
	uint32_t rx_needed;
	uint32_t rx_data_got;
	bool rx_drained;		/* a read came back short: the socket is empty for now */
	bool rx_large;			/* the last PDU had a large data segment */
	bool rx_retry;			/* stopped short of the data there (no PDU free) */

	/* Transmit queue: PDUs written with writev, in order. */
	TAILQ_HEAD(, iscsi_pdu) tx_queue;
	uint32_t tx_queued;
	uint32_t statsn;		/* next StatSN */
	uint32_t exp_statsn;		/* from the initiator */

	/* Tasks. */
	TAILQ_HEAD(, iscsi_task) active_tasks;
	TAILQ_HEAD(, iscsi_task) r2t_tasks;	/* waiting to send more R2Ts */
	uint32_t num_active;
	uint32_t ttt_next;
	uint32_t outstanding_r2t;	/* on this connection */
	struct keel_scsi_lun_desc *lun_descs[ISCSI_MAX_LUN];

	/* Timers (TSC deadlines; 0 = off). */
	uint64_t last_activity_tsc;
	uint64_t nop_sent_tsc;
	bool nop_outstanding;
	uint64_t login_deadline_tsc;
	uint64_t logout_deadline_tsc;
	uint64_t logout_request_deadline_tsc;

	TAILQ_ENTRY(iscsi_conn) pg_link;	/* poll group's list */
	TAILQ_ENTRY(iscsi_conn) g_link;		/* global list (iscsi_get_connections) */
};

struct iscsi_sess {
	uint16_t tsih;
	uint8_t isid[6];
	char initiator_name[ISCSI_MAX_NAME + 1];
	char initiator_port_name[ISCSI_MAX_NAME + 32];
	struct iscsi_tgt_node *target;	/* NULL for discovery */
	struct iscsi_sess_params params;
	struct keel_scsi_port *initiator_port;
	struct keel_scsi_port *target_port;
	int32_t pg_tag;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint32_t queue_depth;
	struct iscsi_conn *conns[ISCSI_MAX_CONNS_PER_SESSION];
	int num_conns;
	struct keel_thread *thread;	/* every connection of a session lives on this thread */
	TAILQ_HEAD(, iscsi_task) pending_cmds;	/* out of CmdSN order: wait */
	/* CmdSNs ahead of ExpCmdSN already used by PDUs handled on arrival (NOP-Out, Text,
	 * Logout, task management): ExpCmdSN steps over them once it gets there. */
	uint32_t used_sns[ISCSI_MAX_QUEUE_DEPTH];
	uint32_t num_used_sns;
	TAILQ_ENTRY(iscsi_sess) link;
};

/* Global state. */
struct iscsi_globals {
	pthread_mutex_t lock;
	struct iscsi_opts opts;
	bool opts_set;			/* iscsi_set_options once only */
	bool initialized;
	bool fini_incomplete;		/* shutdown gave up on stuck connections */
	TAILQ_HEAD(, iscsi_portal_grp) portal_grps;
	TAILQ_HEAD(, iscsi_init_grp) init_grps;
	TAILQ_HEAD(, iscsi_auth_grp) auth_grps;
	TAILQ_HEAD(, iscsi_tgt_node) target_nodes;
	TAILQ_HEAD(, iscsi_sess) sessions;
	TAILQ_HEAD(, iscsi_conn) conns;
	uint32_t num_sessions;
	uint16_t next_tsih;
	uint32_t next_conn_id;
	struct iscsi_poll_group *poll_groups;
	uint32_t num_poll_groups;
	struct keel_mempool *pdu_pool;
	struct keel_mempool *task_pool;
	struct keel_mempool *buf_pool;	/* data buffers of buf_pool_elt_size */
	uint32_t buf_pool_elt_size;
};

extern struct iscsi_globals g_iscsi;

/*
 * Cross-file interfaces.
 */
/* pdu.c */
struct iscsi_pdu *iscsi_pdu_get(void);
void iscsi_pdu_put(struct iscsi_pdu *pdu);
/** Give the PDU a data segment of len bytes of its own (small buffer or allocated). */
int iscsi_pdu_alloc_data(struct iscsi_pdu *pdu, uint32_t len);
uint32_t iscsi_pdu_data_segment_len(const struct keel_iscsi_bhs *bhs);
void iscsi_pdu_set_data_segment_len(struct keel_iscsi_bhs *bhs, uint32_t len);
/** Queue a PDU for sending (StatSN, ExpCmdSN, MaxCmdSN filled for target PDUs). */
void iscsi_conn_send_pdu(struct iscsi_conn *conn, struct iscsi_pdu *pdu);
/** Write as much of the queue as the socket takes. Returns < 0 on a fatal socket error. */
int iscsi_conn_flush(struct iscsi_conn *conn);
/** Build and queue a Reject for the PDU in hdr (RFC 7143 11.17). */
void iscsi_conn_send_reject(struct iscsi_conn *conn, const struct keel_iscsi_bhs *hdr,
			    uint8_t reason);

/* conn.c */
/** Start a connection for an accepted socket on the least loaded poll group of mask. */
int iscsi_conn_construct(struct iscsi_portal *portal, struct keel_sock *sock);
/** Drop the connection (and its session if it was the last), from its thread. */
void iscsi_conn_drop(struct iscsi_conn *conn, const char *why);
/** Logged-in-phase PDU handler dispatch (rx state machine calls it per complete PDU).
 * \return 0; < 0 to drop the connection. */
int iscsi_conn_handle_pdu(struct iscsi_conn *conn, struct iscsi_pdu *pdu);
void iscsi_conn_update_exp_statsn(struct iscsi_conn *conn, uint32_t exp_statsn);
/** Send each connection of the target its pending unit attentions as SCSI async events (LUNs
 * added or removed, capacity changed): call after changing the target's LUNs. */
void iscsi_tgt_node_report_ua(struct iscsi_tgt_node *target);
/** Tell every connection of the target (or all, target NULL) to log out; async events. */
void iscsi_conns_request_logout(struct iscsi_tgt_node *target, int32_t pg_tag);
#define ISCSI_CONN_ERRLOG(conn, fmt, ...)                                                          \
	KEEL_ERRLOG("conn %u (%s, %s): " fmt, (conn)->id, (conn)->initiator_name,                  \
		    (conn)->initiator_addr, ##__VA_ARGS__)
#define ISCSI_CONN_NOTICELOG(conn, fmt, ...)                                                       \
	KEEL_NOTICELOG("conn %u (%s, %s): " fmt, (conn)->id, (conn)->initiator_name,               \
		       (conn)->initiator_addr, ##__VA_ARGS__)

/* login.c: a Login Request PDU (login phase). \return 0, or < 0 to drop. */
int iscsi_login_handle(struct iscsi_conn *conn, struct iscsi_pdu *pdu);

/* params.c: text key negotiation. */
/** Parse "key=value\0key=value\0..." of len bytes; calls fn for each; -EINVAL if malformed. */
int iscsi_text_parse(const char *data, uint32_t len,
		     int (*fn)(void *ctx, const char *key, const char *value), void *ctx);
/** Append "key=value\0" to a growing response buffer. */
int iscsi_text_append(char **buf, uint32_t *len, uint32_t *cap, const char *key,
		      const char *value);

/* scsi_cmd.c, dataout.c, tmf.c, nop.c, logout.c, text.c: full-feature handlers. */
int iscsi_op_scsi_cmd_hdr(struct iscsi_conn *conn, struct iscsi_pdu *pdu);
int iscsi_op_scsi_cmd(struct iscsi_conn *conn, struct iscsi_pdu *pdu);
int iscsi_op_data_out_hdr(struct iscsi_conn *conn, struct iscsi_pdu *pdu);
int iscsi_op_data_out(struct iscsi_conn *conn, struct iscsi_pdu *pdu);
int iscsi_op_task_req(struct iscsi_conn *conn, struct iscsi_pdu *pdu);
/* A non-command PDU with a CmdSN of its own (not immediate) is handled when it arrives: use up
 * its number, so that commands numbered after it run when theirs comes. */
void iscsi_sess_use_cmdsn(struct iscsi_sess *sess, uint32_t cmdsn);
int iscsi_op_nop_out(struct iscsi_conn *conn, struct iscsi_pdu *pdu);
int iscsi_op_logout(struct iscsi_conn *conn, struct iscsi_pdu *pdu);
int iscsi_op_text(struct iscsi_conn *conn, struct iscsi_pdu *pdu);
int iscsi_op_snack(struct iscsi_conn *conn, struct iscsi_pdu *pdu);
/** SendTargets answer for the connection's initiator (discovery and normal sessions). */
int iscsi_send_targets(struct iscsi_conn *conn, const char *which, char **buf, uint32_t *len,
		       uint32_t *cap);

/* portal_grp.c (written): create a group, add portals, open them (listen + acceptor poller on
 * the calling (app) thread), destroy (closes the listeners; connections are not touched). */
int iscsi_portal_parse(const char *str, char *host, size_t hostlen, uint16_t *port,
		       struct keel_cpuset *mask);
struct iscsi_portal_grp *iscsi_portal_grp_create(int32_t tag, bool is_private);
int iscsi_portal_grp_add_portal(struct iscsi_portal_grp *pg, const char *host, uint16_t port,
				const struct keel_cpuset *mask);
int iscsi_portal_grp_open(struct iscsi_portal_grp *pg);
void iscsi_portal_grp_destroy(struct iscsi_portal_grp *pg);
void iscsi_portals_stop(void);
/* iscsi.c (written): defaults of struct iscsi_opts. The subsystem init calls
 * iscsi_read_legacy_config() after the pools and poll groups exist; fini calls
 * iscsi_objects_fini() after every connection is gone; framework_get_config calls
 * iscsi_write_config_json(array). */
void iscsi_opts_init(struct iscsi_opts *opts);
int iscsi_read_legacy_config(void);
void iscsi_objects_fini(void);
struct json_object;
void iscsi_write_config_json(struct json_object *array);

/* Objects (portal_grp.c, init_grp.c, auth_grp.c, tgt_node.c); callers hold g_iscsi.lock. */
struct iscsi_portal_grp *iscsi_portal_grp_find(int32_t tag);
struct iscsi_init_grp *iscsi_init_grp_find(int32_t tag);
struct iscsi_auth_grp *iscsi_auth_grp_find(int32_t tag);
struct iscsi_tgt_node *iscsi_tgt_node_find(const char *name);
/** True if the initiator (name, address) may reach the target through portal group pg_tag. */
bool iscsi_tgt_node_access(struct iscsi_tgt_node *target, int32_t pg_tag, const char *iqn,
			   const char *addr);
/** True if the target is visible through portal group pg_tag at all. */
bool iscsi_tgt_node_has_pg(struct iscsi_tgt_node *target, int32_t pg_tag);
/** The CHAP secret for user in auth group tag; false if none. */
bool iscsi_auth_grp_get_secret(int32_t tag, const char *user, struct iscsi_chap_secret *out);
/** The full name of a target given as short name or iqn (NodeBase prefix). */
void iscsi_full_target_name(const char *name, char *out, size_t len);

#endif /* KEEL_ISCSI_INTERNAL_H */
