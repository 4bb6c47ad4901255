/*
 * Logout (RFC 7143 11.14, 11.15): close the session or one connection; the response goes out
 * before the connection closes. Also the Asynchronous Messages: the one that asks an initiator
 * to log out (before a target is deleted or the target stops), and the SCSI event that tells a
 * session its target's LUNs changed, when its connections open the LUNs added after login.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/scsi.h"
#include "keel/util.h"

#include "iscsi_internal.h"

/* Fixed-format sense data of an asynchronous event: 18 bytes. */
#define ISCSI_AEN_SENSE_LEN 18

/* login.c: the remove callback of a connection's LUN descriptors. */
void iscsi_conn_lun_removed(struct keel_scsi_lun_desc *desc, void *ctx);

int
iscsi_op_logout(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	struct keel_iscsi_logout_req *req = (struct keel_iscsi_logout_req *)&pdu->bhs;
	uint8_t reason = req->reason & 0x7f;
	uint16_t cid = keel_from_be16(req->cid);
	struct iscsi_sess *sess = conn->sess;
	struct keel_iscsi_logout_rsp *rsp;
	struct iscsi_pdu *out;
	uint8_t response = KEEL_ISCSI_LOGOUT_RSP_OK;
	int i;

	iscsi_conn_update_exp_statsn(conn, keel_from_be32(req->exp_statsn));
	if (!(req->opcode & KEEL_ISCSI_IMMEDIATE)) {
		iscsi_sess_use_cmdsn(sess, keel_from_be32(req->cmdsn));
	}
	switch (reason) {
	case KEEL_ISCSI_LOGOUT_CLOSE_SESSION:
		/* Every other connection of the session goes too. */
		for (i = 0; i < sess->num_conns; i++) {
			struct iscsi_conn *c = sess->conns[i];

			if (c != NULL && c != conn) {
				c->state = ISCSI_CONN_STATE_LOGGED_OUT;
			}
		}
		break;
	case KEEL_ISCSI_LOGOUT_CLOSE_CONNECTION:
		if (cid != conn->cid) {
			response = KEEL_ISCSI_LOGOUT_RSP_CID_NOT_FOUND;
			for (i = 0; i < sess->num_conns; i++) {
				struct iscsi_conn *c = sess->conns[i];

				if (c != NULL && c->cid == cid) {
					c->state = ISCSI_CONN_STATE_LOGGED_OUT;
					response = KEEL_ISCSI_LOGOUT_RSP_OK;
				}
			}
		}
		break;
	case KEEL_ISCSI_LOGOUT_REMOVE_CONN_FOR_RECOVERY:
		/* Connection recovery needs ErrorRecoveryLevel 2. */
		response = KEEL_ISCSI_LOGOUT_RSP_RECOVERY_NOT_SUPPORTED;
		break;
	default:
		iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
		return 0;
	}
	out = iscsi_pdu_get();
	if (out == NULL) {
		return -ENOMEM;
	}
	rsp = (struct keel_iscsi_logout_rsp *)&out->bhs;
	rsp->opcode = KEEL_ISCSI_OP_LOGOUT_RSP;
	rsp->flags = KEEL_ISCSI_FLAG_FINAL;
	rsp->response = response;
	memcpy(rsp->itt, req->itt, 4);
	keel_to_be16(rsp->time2wait, (uint16_t)sess->params.default_time2wait);
	keel_to_be16(rsp->time2retain, (uint16_t)sess->params.default_time2retain);
	iscsi_conn_send_pdu(conn, out);
	if (response == KEEL_ISCSI_LOGOUT_RSP_OK &&
	    (reason == KEEL_ISCSI_LOGOUT_CLOSE_SESSION || cid == conn->cid)) {
		conn->state = ISCSI_CONN_STATE_LOGGED_OUT;
	}
	iscsi_conn_flush(conn);
	return 0;
}

struct logout_req_ctx {
	struct iscsi_poll_group *pg;
	uint32_t conn_id;
};

static void
iscsi_conn_send_logout_request(void *arg)
{
	struct logout_req_ctx *c = arg;
	struct keel_iscsi_async *async;
	struct iscsi_conn *conn;
	struct iscsi_pdu *pdu;

	/* The connection may be gone by now: look it up by id on its thread. */
	TAILQ_FOREACH(conn, &c->pg->conns, pg_link) {
		if (conn->id == c->conn_id) {
			break;
		}
	}
	free(c);
	if (conn == NULL || conn->state != ISCSI_CONN_STATE_RUNNING || conn->logout_request_deadline_tsc != 0) {
		return;
	}
	pdu = iscsi_pdu_get();
	if (pdu == NULL) {
		return;
	}
	async = (struct keel_iscsi_async *)&pdu->bhs;
	async->opcode = KEEL_ISCSI_OP_ASYNC;
	async->flags = KEEL_ISCSI_FLAG_FINAL;
	keel_to_be32(async->itt, KEEL_ISCSI_RESERVED_TAG);
	async->async_event = KEEL_ISCSI_ASYNC_LOGOUT_REQUEST;
	keel_to_be16(async->param3, ISCSI_LOGOUT_REQUEST_TIMEOUT_S);
	iscsi_conn_send_pdu(conn, pdu);
	iscsi_conn_flush(conn);
	conn->logout_request_deadline_tsc = keel_get_ticks() +
					    ISCSI_LOGOUT_REQUEST_TIMEOUT_S * keel_get_ticks_hz();
}

/* Ask every connection of target (all targets when NULL) through pg_tag (-1: any) to log out. */
void
iscsi_conns_request_logout(struct iscsi_tgt_node *target, int32_t pg_tag)
{
	struct iscsi_conn *conn;

	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_FOREACH(conn, &g_iscsi.conns, g_link) {
		if ((target == NULL || conn->target == target) &&
		    (pg_tag < 0 || conn->pg_tag == pg_tag) && conn->full_feature) {
			struct logout_req_ctx *c = malloc(sizeof(*c));

			if (c == NULL) {
				continue;
			}
			c->pg = conn->pg;
			c->conn_id = conn->id;
			if (keel_thread_send_msg(conn->thread, iscsi_conn_send_logout_request, c) != 0) {
				free(c);
			}
		}
	}
	pthread_mutex_unlock(&g_iscsi.lock);
}

/* LUNs of the target that this connection has not opened yet (added after its login): open
 * them here, on the connection's thread, where their bdev channels belong. A LUN being removed
 * is not returned by keel_scsi_dev_get_lun(), and its descriptor goes through
 * iscsi_conn_lun_removed(). */
static void
iscsi_conn_open_new_luns(struct iscsi_conn *conn)
{
	struct keel_scsi_lun *lun;
	uint64_t id;
	int rc;

	for (id = 0; id < ISCSI_MAX_LUN; id++) {
		if (conn->lun_descs[id] != NULL) {
			continue;
		}
		lun = keel_scsi_dev_get_lun(conn->target->dev, id);
		if (lun == NULL) {
			continue;
		}
		rc = keel_scsi_lun_open(lun, iscsi_conn_lun_removed, conn, &conn->lun_descs[id]);
		if (rc != 0) {
			conn->lun_descs[id] = NULL;
			if (rc != -ENODEV) {
				ISCSI_CONN_ERRLOG(conn, "cannot open new LUN %" PRIu64 ": %s\n", id,
						  keel_strerror(-rc));
			}
		} else {
			ISCSI_CONN_NOTICELOG(conn, "LUN %" PRIu64 " added\n", id);
		}
	}
}

/* The lowest LUN of the target that is there, for the LUN field of an event about all. */
static uint64_t
iscsi_conn_first_lun(struct iscsi_conn *conn)
{
	uint64_t id;

	for (id = 0; id < ISCSI_MAX_LUN; id++) {
		if (conn->lun_descs[id] != NULL) {
			return id;
		}
	}
	return 0;
}

/*
 * The target's LUN inventory changed (a LUN added, or removed with its bdev): the connection
 * opens the new LUNs, and the first connection of the session sends a SCSI Asynchronous Event
 * (RFC 7143 11.9.1, AsyncEvent 0) with REPORTED LUNS DATA HAS CHANGED sense data, which
 * open-iscsi answers with a rescan. The unit attention itself stays queued in the SCSI layer,
 * so that the next command of the I_T nexus reports it as well (SAM-5 5.14); initiators that
 * ignore asynchronous events learn it there.
 */
static void
iscsi_conn_send_async_ua(void *arg)
{
	struct logout_req_ctx *c = arg;
	struct keel_iscsi_async *async;
	struct iscsi_conn *conn;
	struct iscsi_pdu *pdu;
	uint8_t *sense;
	uint64_t lun;

	TAILQ_FOREACH(conn, &c->pg->conns, pg_link) {
		if (conn->id == c->conn_id) {
			break;
		}
	}
	free(c);
	if (conn == NULL || conn->state != ISCSI_CONN_STATE_RUNNING || conn->target == NULL ||
	    conn->sess == NULL) {
		return;
	}
	iscsi_conn_open_new_luns(conn);
	if (conn->sess->conns[0] != conn) {
		return;
	}
	pdu = iscsi_pdu_get();
	if (pdu == NULL) {
		return;
	}
	lun = iscsi_conn_first_lun(conn);
	async = (struct keel_iscsi_async *)&pdu->bhs;
	async->opcode = KEEL_ISCSI_OP_ASYNC;
	async->flags = KEEL_ISCSI_FLAG_FINAL;
	keel_to_be32(async->itt, KEEL_ISCSI_RESERVED_TAG);
	async->async_event = KEEL_ISCSI_ASYNC_SCSI_EVENT;
	async->lun[0] = (uint8_t)((lun >> 8) & 0x3f) | (lun > 255 ? 0x40 : 0);
	async->lun[1] = (uint8_t)lun;
	/* SenseLength, then fixed-format sense data (SPC-4 4.5.3). */
	memset(pdu->small_data, 0, 2 + ISCSI_AEN_SENSE_LEN);
	keel_to_be16(pdu->small_data, ISCSI_AEN_SENSE_LEN);
	sense = pdu->small_data + 2;
	sense[0] = 0x70;
	sense[2] = KEEL_SCSI_SENSE_UNIT_ATTENTION;
	sense[7] = ISCSI_AEN_SENSE_LEN - 8;
	sense[12] = (uint8_t)(KEEL_SCSI_ASC_REPORTED_LUNS_DATA_HAS_CHANGED >> 8);
	sense[13] = (uint8_t)KEEL_SCSI_ASC_REPORTED_LUNS_DATA_HAS_CHANGED;
	pdu->data = pdu->small_data;
	pdu->data_len = 2 + ISCSI_AEN_SENSE_LEN;
	iscsi_conn_send_pdu(conn, pdu);
	iscsi_conn_flush(conn);
}

void
iscsi_tgt_node_report_ua(struct iscsi_tgt_node *target)
{
	struct iscsi_conn *conn;

	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_FOREACH(conn, &g_iscsi.conns, g_link) {
		if (conn->target == target && conn->full_feature) {
			struct logout_req_ctx *c = malloc(sizeof(*c));

			if (c == NULL) {
				continue;
			}
			c->pg = conn->pg;
			c->conn_id = conn->id;
			if (keel_thread_send_msg(conn->thread, iscsi_conn_send_async_ua, c) != 0) {
				free(c);
			}
		}
	}
	pthread_mutex_unlock(&g_iscsi.lock);
}
