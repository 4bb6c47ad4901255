/*
 * NOP-Out (RFC 7143 11.18): a ping from the initiator is answered with a NOP-In echoing its
 * data; an answer to our own NOP-In ping only proves the initiator alive.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/util.h"

#include "iscsi_internal.h"


void
iscsi_conn_update_exp_statsn(struct iscsi_conn *conn, uint32_t exp_statsn)
{
	conn->exp_statsn = exp_statsn;
}

int
iscsi_op_nop_out(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	struct keel_iscsi_nop *req = (struct keel_iscsi_nop *)&pdu->bhs;
	uint32_t itt = keel_from_be32(req->itt), cmdsn = keel_from_be32(req->sn);
	bool immediate = (req->opcode & KEEL_ISCSI_IMMEDIATE) != 0;
	struct iscsi_sess *sess = conn->sess;
	struct keel_iscsi_nop *rsp;
	struct iscsi_pdu *out;

	iscsi_conn_update_exp_statsn(conn, keel_from_be32(req->exp_sn));
	if (itt == KEEL_ISCSI_RESERVED_TAG) {
		/* The answer to our ping (or a bare ping that wants no answer): must be immediate. */
		if (!immediate) {
			iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
		}
		conn->nop_outstanding = false;
		return 0;
	}
	if (keel_from_be32(req->ttt) != KEEL_ISCSI_RESERVED_TAG) {
		/* A ping from the initiator carries TTT 0xffffffff (RFC 7143 11.18.4). */
		iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
		return 0;
	}
	if (!immediate) {
		/* Outside the window: dropped like a command (RFC 7143 3.2.2.1). */
		if (keel_iscsi_sn_lt(cmdsn, sess->exp_cmdsn) ||
		    keel_iscsi_sn_gt(cmdsn, sess->max_cmdsn)) {
			return 0;
		}
		iscsi_sess_use_cmdsn(sess, cmdsn);
	}
	if (pdu->data_len > conn->params.max_send_dsl) {
		iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
		return 0;
	}
	out = iscsi_pdu_get();
	if (out == NULL) {
		return -ENOMEM;
	}
	rsp = (struct keel_iscsi_nop *)&out->bhs;
	rsp->opcode = KEEL_ISCSI_OP_NOP_IN;
	rsp->flags = KEEL_ISCSI_FLAG_FINAL;
	memcpy(rsp->lun, req->lun, 8);
	keel_to_be32(rsp->itt, itt);
	keel_to_be32(rsp->ttt, KEEL_ISCSI_RESERVED_TAG);
	if (pdu->data_len > 0) {
		if (iscsi_pdu_alloc_data(out, pdu->data_len) != 0) {
			iscsi_pdu_put(out);
			return -ENOMEM;
		}
		memcpy(out->data, pdu->data, pdu->data_len);
		out->data_len = pdu->data_len;
	}
	iscsi_conn_send_pdu(conn, out);
	iscsi_conn_flush(conn);
	return 0;
}

int
iscsi_op_snack(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	/* SNACK needs ErrorRecoveryLevel 1 or more; keel negotiates 0 (RFC 7143 11.16). */
	iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
	return 0;
}
