/*
 * Text requests (RFC 7143 11.10, 11.11) in the full feature phase: SendTargets, and the
 * declarative MaxRecvDataSegmentLength; answers longer than the initiator takes in one PDU are
 * sent over several, each continued with the Target Transfer Tag the initiator echoes.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/util.h"

#include "iscsi_internal.h"


struct text_ctx {
	struct iscsi_conn *conn;
	char **rsp;
	uint32_t *len;
	uint32_t *cap;
	int rc;
};

static int
text_key(void *arg, const char *key, const char *value)
{
	struct text_ctx *c = arg;
	struct iscsi_conn *conn = c->conn;
	uint64_t v;

	if (strcmp(key, "SendTargets") == 0) {
		if (!conn->sess->params.discovery && strcmp(value, "All") == 0) {
			/* RFC 7143 11.10: All is for discovery sessions; in a normal session
			 * only the current target (empty value) or a name. */
			value = conn->target ? conn->target->name : "";
		}
		c->rc = iscsi_send_targets(conn, value, c->rsp, c->len, c->cap);
		return c->rc;
	}
	if (strcmp(key, "MaxRecvDataSegmentLength") == 0) {
		if (keel_parse_u64(value, &v) != 0 || v < ISCSI_MIN_DSL || v > ISCSI_MAX_DSL) {
			return iscsi_text_append(c->rsp, c->len, c->cap, key, "Reject");
		}
		conn->params.max_send_dsl = (uint32_t)v;
		return 0;
	}
	if (strncmp(key, "X-", 2) == 0 || strncmp(key, "X#", 2) == 0) {
		return iscsi_text_append(c->rsp, c->len, c->cap, key, "NotUnderstood");
	}
	return iscsi_text_append(c->rsp, c->len, c->cap, key, "NotUnderstood");
}

/* Send the next part of the pending answer. */
static void
text_send_part(struct iscsi_conn *conn, uint32_t itt, const uint8_t *lun)
{
	struct iscsi_login_state *ls = &conn->login;
	uint32_t left = ls->rsp_len - ls->rsp_sent;
	uint32_t n = KEEL_MIN(left, conn->params.max_send_dsl);
	struct keel_iscsi_text_rsp *rsp;
	struct iscsi_pdu *pdu = iscsi_pdu_get();

	if (pdu == NULL) {
		return;
	}
	rsp = (struct keel_iscsi_text_rsp *)&pdu->bhs;
	rsp->opcode = KEEL_ISCSI_OP_TEXT_RSP;
	keel_to_be32(rsp->itt, itt);
	memcpy(rsp->lun, lun, 8);
	if (n > 0 && iscsi_pdu_alloc_data(pdu, n) != 0) {
		iscsi_pdu_put(pdu);
		return;
	}
	if (n > 0) {
		memcpy(pdu->data, ls->rsp_text + ls->rsp_sent, n);
	}
	pdu->data_len = n;
	ls->rsp_sent += n;
	if (ls->rsp_sent < ls->rsp_len) {
		rsp->flags = KEEL_ISCSI_TEXT_CONTINUE;
		keel_to_be32(rsp->ttt, conn->ttt_next++);
	} else {
		rsp->flags = KEEL_ISCSI_FLAG_FINAL;
		keel_to_be32(rsp->ttt, KEEL_ISCSI_RESERVED_TAG);
		free(ls->rsp_text);
		ls->rsp_text = NULL;
		ls->rsp_len = ls->rsp_cap = ls->rsp_sent = 0;
	}
	iscsi_conn_send_pdu(conn, pdu);
}

int
iscsi_op_text(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	struct keel_iscsi_text_req *req = (struct keel_iscsi_text_req *)&pdu->bhs;
	struct iscsi_login_state *ls = &conn->login;
	uint32_t ttt = keel_from_be32(req->ttt), itt = keel_from_be32(req->itt);
	struct iscsi_sess *sess = conn->sess;
	struct text_ctx c;

	iscsi_conn_update_exp_statsn(conn, keel_from_be32(req->exp_statsn));
	if (!(req->opcode & KEEL_ISCSI_IMMEDIATE)) {
		iscsi_sess_use_cmdsn(sess, keel_from_be32(req->cmdsn));
	}
	if (ttt != KEEL_ISCSI_RESERVED_TAG) {
		/* The initiator asks for the rest of a long answer. */
		if (ls->rsp_text == NULL) {
			iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_INVALID_PDU_FIELD);
			return 0;
		}
		text_send_part(conn, itt, req->lun);
		iscsi_conn_flush(conn);
		return 0;
	}
	if (req->flags & KEEL_ISCSI_TEXT_CONTINUE) {
		/* Continued requests are rare; keel answers each part (no key spans parts). */
	}
	free(ls->rsp_text);
	ls->rsp_text = NULL;
	ls->rsp_len = ls->rsp_cap = ls->rsp_sent = 0;
	c.conn = conn;
	c.rsp = &ls->rsp_text;
	c.len = &ls->rsp_len;
	c.cap = &ls->rsp_cap;
	c.rc = 0;
	if (pdu->data_len > 0 && iscsi_text_parse((const char *)pdu->data, pdu->data_len, text_key,
						  &c) != 0) {
		iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
		return 0;
	}
	text_send_part(conn, itt, req->lun);
	iscsi_conn_flush(conn);
	return 0;
}
