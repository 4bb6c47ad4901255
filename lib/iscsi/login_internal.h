/*
 * What the login phase's files share (login.c, params.c, chap.c, sess.c): the parsed key set of
 * a Login Request, the negotiation steps, CHAP, and sessions. Login statuses are the values of
 * enum keel_iscsi_login_status (class << 8 | detail); 0 means "go on".
 */
#ifndef KEEL_ISCSI_LOGIN_INTERNAL_H
#define KEEL_ISCSI_LOGIN_INTERNAL_H

#include "keel/log.h"

#include "iscsi_internal.h"

/* One log component for the four files (declared here so that a unit test may include them
 * all in one translation unit). */
KEEL_LOG_REGISTER_COMPONENT(iscsi)

/* Our Login Responses carry at most this much text each (RFC 7143 13.12: the default
 * MaxRecvDataSegmentLength, in force until the login completes); longer answers continue. */
#define ISCSI_LOGIN_MAX_DSL 8192
/* Keys in one (reassembled) Login Request. */
#define ISCSI_LOGIN_MAX_KEYS 128
/* Values of the few keys that may be longer than 255 bytes (CHAP_C, CHAP_R). */
#define ISCSI_TEXT_MAX_BIG_VALUE 8192
/* The CHAP challenge an initiator sends (RFC 7143 12.1.3). */
#define ISCSI_CHAP_MAX_CHALLENGE 1024
/* iscsi_login_state.keys_sent: what the target declared already. */
#define ISCSI_SENT_TPGT 0x1
#define ISCSI_SENT_MRDSL 0x2

/* iscsi_login_state.chap_state: where the security negotiation is. */
enum iscsi_auth_state {
	ISCSI_AUTH_START = 0,   /* AuthMethod not negotiated yet */
	ISCSI_AUTH_NONE,        /* AuthMethod=None */
	ISCSI_AUTH_CHAP_WAIT_A, /* AuthMethod=CHAP: waiting for CHAP_A */
	ISCSI_AUTH_CHAP_WAIT_R, /* challenge sent: waiting for CHAP_N and CHAP_R */
	ISCSI_AUTH_DONE,        /* the initiator (and, if asked, the target) proved who it is */
};

/* CHAP algorithms (RFC 7143 12.1.3; IANA "PPP Authentication Algorithms"). */
#define ISCSI_CHAP_MD5 5
#define ISCSI_CHAP_SHA1 6
#define ISCSI_CHAP_SHA256 7
#define ISCSI_CHAP_SHA3_256 8

/*
 * params.c
 */
struct iscsi_kv {
	const char *key;
	const char *value;
	int idx; /* index in the key table, -1 if unknown */
};

/* The keys of one complete (C bit reassembled) request; points into the request's text. */
struct iscsi_key_set {
	struct iscsi_kv kv[ISCSI_LOGIN_MAX_KEYS];
	int n;
	uint64_t earlier; /* keys_seen before this request */
};

/** Defaults of every negotiated value (RFC 7143 13), at the start of a login. */
void iscsi_params_login_init(struct iscsi_conn *conn);
/**
 * Split text (len bytes, changed in place) into keys; a malformed text, too many keys, or a key
 * offered twice in the login is an initiator error.
 * \return 0 or a login status.
 */
int iscsi_params_collect(struct iscsi_conn *conn, char *text, uint32_t len,
			 struct iscsi_key_set *set);
/** The value of key in set, or NULL. */
const char *iscsi_params_get(const struct iscsi_key_set *set, const char *key);
/**
 * Negotiate every key of set (CHAP included) and append the answers to the login's response
 * text. \return 0, a login status, or -ENOMEM.
 */
int iscsi_params_negotiate(struct iscsi_conn *conn, const struct iscsi_key_set *set);
/**
 * Append what the target declares on its own: TargetPortalGroupTag and TargetAlias in the first
 * response of a normal session, MaxRecvDataSegmentLength once operational (op_stage).
 * \return 0 or -ENOMEM.
 */
int iscsi_params_declare(struct iscsi_conn *conn, bool op_stage);
/** Checks before the full feature phase (required digests, FirstBurstLength <= MaxBurstLength).
 * \return 0 or a login status. */
int iscsi_params_finish(struct iscsi_conn *conn);
/** A numerical-value (RFC 7143 6.1: decimal, or hex after 0x). \return 0 or -EINVAL. */
int iscsi_text_parse_number(const char *str, uint64_t *val);

/*
 * chap.c
 */
struct iscsi_chap_keys {
	const char *a;
	const char *i;
	const char *c;
	const char *n;
	const char *r;
};

/**
 * One step of CHAP (RFC 7143 12.1.3, RFC 1994) with the CHAP keys of a request; answers are
 * appended to the response text.
 * \return 0, KEEL_ISCSI_LOGIN_AUTH_FAILURE (logged, nothing told), a target error, or -ENOMEM.
 */
int iscsi_chap_negotiate(struct iscsi_conn *conn, const struct iscsi_chap_keys *keys);
/** Digest length of a CHAP algorithm, 0 if keel does not support it. */
unsigned int iscsi_chap_digest_len(int alg);
/** H(id || secret || challenge). \return 0; -EINVAL (algorithm); -EIO (crypto library). */
int iscsi_chap_hash(int alg, uint8_t id, const char *secret, const uint8_t *challenge,
		    size_t challenge_len, uint8_t *out, unsigned int *out_len);
/** Decode a binary value (0x hex or 0b base64) into at most max bytes. \return 0; -EINVAL. */
int iscsi_chap_decode(const char *value, uint8_t *out, size_t max, size_t *len);

/*
 * sess.c
 */
/**
 * Create the session of a leading login that completes: session reinstatement, MaxSessions,
 * TSIH, SCSI ports; the connection becomes its first. On the connection's thread.
 * \return 0 or a login status.
 */
int iscsi_sess_create(struct iscsi_conn *conn);
/**
 * Add the connection of a completing non-leading login to its session (conn->login.tsih); runs
 * on the session's thread. A connection of the session with the same CID is dropped
 * (connection reinstatement). \return 0 or a login status.
 */
int iscsi_sess_add_conn(struct iscsi_conn *conn);
/** Called when a connection is freed: the last one ends its session. NULL sess: nothing. */
void iscsi_sess_remove_conn(struct iscsi_conn *conn);
/** A listed session by TSIH, or NULL. Caller holds g_iscsi.lock. */
struct iscsi_sess *iscsi_sess_find_by_tsih(uint16_t tsih);
/** The normal session of (initiator, ISID, target), or NULL. Caller holds g_iscsi.lock. */
struct iscsi_sess *iscsi_sess_find(const char *initiator_name, const uint8_t *isid,
				   const struct iscsi_tgt_node *target);
/** The poll group that runs on thread, or NULL. */
struct iscsi_poll_group *iscsi_poll_group_of_thread(const struct keel_thread *thread);

/** Called on the new thread once a moved connection is there (rc < 0: it could not be polled
 * there; the callee drops it). */
typedef void (*iscsi_conn_migrate_cb)(struct iscsi_conn *conn, int rc);
/**
 * Move a connection to another poll group (from its own thread, outside its receive path):
 * its socket leaves this group, and a message adds socket and connection on pg's thread, then
 * calls cb (NULL: none) and resumes reading. The receive buffer goes along as it is.
 * \return 0; -EINVAL (already there); -ENOMEM (nothing moved).
 */
int iscsi_conn_migrate_then(struct iscsi_conn *conn, struct iscsi_poll_group *pg,
			    iscsi_conn_migrate_cb cb);
/** iscsi_conn_migrate_then() without a callback. */
int iscsi_conn_migrate(struct iscsi_conn *conn, struct iscsi_poll_group *pg);

/*
 * login.c
 */
/** Close a LUN descriptor of a connection whose LUN goes away (keel_scsi_lun_remove_cb). */
void iscsi_conn_lun_removed(struct keel_scsi_lun_desc *desc, void *ctx);

#endif /* KEEL_ISCSI_LOGIN_INTERNAL_H */
