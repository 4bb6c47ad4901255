/*
 * Task Management Function requests (RFC 7143 11.5, 11.6) mapped to the SCSI layer; the
 * response goes out after the tasks the function affects have completed.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/scsi.h"
#include "keel/util.h"

#include "iscsi_internal.h"

uint64_t iscsi_decode_lun(const uint8_t *lun);
void iscsi_sess_update_max_cmdsn(struct iscsi_sess *sess);
void iscsi_task_free(struct iscsi_task *task);
void iscsi_sess_run_pending(struct iscsi_sess *sess);

static void
iscsi_tmf_send_rsp(struct iscsi_conn *conn, uint32_t itt, uint8_t response)
{
	struct iscsi_pdu *pdu = iscsi_pdu_get();
	struct keel_iscsi_task_rsp *rsp;

	if (pdu == NULL) {
		return;
	}
	rsp = (struct keel_iscsi_task_rsp *)&pdu->bhs;
	rsp->opcode = KEEL_ISCSI_OP_TASK_RSP;
	rsp->flags = KEEL_ISCSI_FLAG_FINAL;
	rsp->response = response;
	keel_to_be32(rsp->itt, itt);
	iscsi_conn_send_pdu(conn, pdu);
}

/* The function has ended (at the SCSI layer, or here): answer it and free its task. Until
 * then the task counts among the connection's active tasks, so a connection that closes
 * meanwhile waits for the SCSI layer to give it back. */
static void
iscsi_tmf_done(struct keel_scsi_task *scsi)
{
	struct iscsi_task *task = KEEL_CONTAINEROF(scsi, struct iscsi_task, scsi);
	struct iscsi_conn *conn = task->conn;

	task->completed = true;
	if (conn->state == ISCSI_CONN_STATE_RUNNING) {
		iscsi_tmf_send_rsp(conn, task->itt, (uint8_t)scsi->response);
		iscsi_conn_flush(conn);
	}
	iscsi_task_free(task);
}

static struct iscsi_task *
iscsi_find_task_by_itt(struct iscsi_conn *conn, uint32_t itt)
{
	struct iscsi_task *t;
	int i;

	for (i = 0; i < conn->sess->num_conns; i++) {
		struct iscsi_conn *c = conn->sess->conns[i];

		if (c == NULL) {
			continue;
		}
		TAILQ_FOREACH(t, &c->active_tasks, link) {
			if (t->itt == itt && !t->is_tmf) {
				return t;
			}
		}
	}
	TAILQ_FOREACH(t, &conn->sess->pending_cmds, link) {
		if (t->itt == itt) {
			return t;
		}
	}
	return NULL;
}

/* ABORT TASK of a command that has not reached the SCSI layer: it ends without a response
 * (RFC 7143 4.2.3.2). A command waiting for its CmdSN turn is freed when its turn comes; one
 * whose Data-Out is being received on another connection of the session, when that PDU is
 * in; any other at once. */
static void
iscsi_tmf_abort_unqueued(struct iscsi_task *ref)
{
	struct iscsi_pdu *rx = ref->conn->rx_pdu;

	if (ref->pending || (rx != NULL && rx->task == ref)) {
		ref->aborted = true;
		return;
	}
	iscsi_task_free(ref);
}

/* A function that ends a set of tasks (abort or clear task set, a reset) also ends the
 * session's commands on the LUN (all LUNs: all_luns) that have not reached the SCSI layer yet,
 * waiting for Data-Out or for their CmdSN turn, that came before the function (RFC 7143 4.2.3,
 * 11.5.1): they get no response, and nothing is left waiting for data the initiator will not
 * send. The SCSI layer ends those it has. Sessions of other initiators are not reached here. */
static void
iscsi_tmf_abort_unqueued_set(struct iscsi_sess *sess, const struct keel_iscsi_task_req *req,
			     uint64_t lun, bool all_luns)
{
	bool immediate = (req->opcode & KEEL_ISCSI_IMMEDIATE) != 0;
	uint32_t cmdsn = keel_from_be32(req->cmdsn);
	struct iscsi_task *t, *tmp;
	int i;

	for (i = 0; i < sess->num_conns; i++) {
		struct iscsi_conn *c = sess->conns[i];

		if (c == NULL) {
			continue;
		}
		TAILQ_FOREACH_SAFE(t, &c->active_tasks, link, tmp) {
			if (!t->is_tmf && !t->scsi_queued && (all_luns || t->lun == lun)) {
				iscsi_tmf_abort_unqueued(t);
			}
		}
	}
	/* Waiting for their turn: only those numbered before the function. */
	TAILQ_FOREACH(t, &sess->pending_cmds, link) {
		if ((all_luns || t->lun == lun) && (immediate || keel_iscsi_sn_lt(t->cmdsn, cmdsn))) {
			t->aborted = true;
		}
	}
}

static int iscsi_tmf_handle(struct iscsi_conn *conn, struct iscsi_pdu *pdu);

int
iscsi_op_task_req(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	struct keel_iscsi_task_req *req = (struct keel_iscsi_task_req *)&pdu->bhs;
	struct iscsi_sess *sess = conn->sess;
	bool advanced = false;
	int rc;

	iscsi_conn_update_exp_statsn(conn, keel_from_be32(req->exp_statsn));
	if (!(req->opcode & KEEL_ISCSI_IMMEDIATE) && keel_from_be32(req->cmdsn) == sess->exp_cmdsn) {
		sess->exp_cmdsn++;
		advanced = true;
	}
	rc = iscsi_tmf_handle(conn, pdu);
	if (advanced) {
		/* Commands numbered after the function, that waited for it, run after it. */
		iscsi_sess_run_pending(sess);
	} else if (!(req->opcode & KEEL_ISCSI_IMMEDIATE)) {
		/* Ahead of its turn (it is handled now): its number is used up all the same. */
		iscsi_sess_use_cmdsn(sess, keel_from_be32(req->cmdsn));
	}
	return rc;
}

static int
iscsi_tmf_handle(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	struct keel_iscsi_task_req *req = (struct keel_iscsi_task_req *)&pdu->bhs;
	uint8_t function = req->function & 0x7f;
	uint32_t itt = keel_from_be32(req->itt);
	struct iscsi_sess *sess = conn->sess;
	struct iscsi_task *task, *ref;

	if (sess->params.discovery) {
		iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
		return 0;
	}
	switch (function) {
	case KEEL_SCSI_TMF_ABORT_TASK:
	case KEEL_SCSI_TMF_ABORT_TASK_SET:
	case KEEL_SCSI_TMF_CLEAR_TASK_SET:
	case KEEL_SCSI_TMF_LOGICAL_UNIT_RESET:
	case KEEL_SCSI_TMF_TARGET_WARM_RESET:
	case KEEL_SCSI_TMF_QUERY_TASK:
	case KEEL_SCSI_TMF_QUERY_TASK_SET:
	case KEEL_SCSI_TMF_I_T_NEXUS_RESET:
	case KEEL_SCSI_TMF_QUERY_ASYNC_EVENT:
		break;
	case KEEL_SCSI_TMF_TASK_REASSIGN:
		/* Needs ErrorRecoveryLevel 2 (RFC 7143 11.5.1). */
		iscsi_tmf_send_rsp(conn, itt, KEEL_SCSI_TMF_RESP_REASSIGN_NOT_SUPPORTED);
		iscsi_conn_flush(conn);
		return 0;
	default:
		iscsi_tmf_send_rsp(conn, itt, KEEL_SCSI_TMF_RESP_NOT_SUPPORTED);
		iscsi_conn_flush(conn);
		return 0;
	}
	task = keel_mempool_get(g_iscsi.task_pool);
	if (task == NULL) {
		iscsi_tmf_send_rsp(conn, itt, KEEL_SCSI_TMF_RESP_REJECTED);
		return 0;
	}
	memset(task, 0, sizeof(*task));
	task->conn = conn;
	task->is_tmf = true;
	task->itt = itt;
	task->lun = iscsi_decode_lun(req->lun);
	TAILQ_INSERT_TAIL(&conn->active_tasks, task, link);
	conn->num_active++;
	task->scsi.function = (enum keel_scsi_tmf)function;
	task->scsi.dev = conn->target ? conn->target->dev : NULL;
	task->scsi.lun_id = task->lun;
	task->scsi.lun_desc = task->lun < ISCSI_MAX_LUN ? conn->lun_descs[task->lun] : NULL;
	task->scsi.initiator_port = sess->initiator_port;
	task->scsi.target_port = sess->target_port;
	task->scsi.cpl_fn = iscsi_tmf_done;
	task->scsi.abort_tag = keel_from_be32(req->ref_task_tag);
	if (function == KEEL_SCSI_TMF_ABORT_TASK || function == KEEL_SCSI_TMF_QUERY_TASK) {
		ref = iscsi_find_task_by_itt(conn, keel_from_be32(req->ref_task_tag));
		if (ref != NULL && !ref->scsi_queued) {
			/* Not at the SCSI layer yet (waiting for data or its CmdSN turn): it
			 * ends here. */
			if (function == KEEL_SCSI_TMF_ABORT_TASK) {
				iscsi_tmf_abort_unqueued(ref);
			} else {
				task->scsi.response = KEEL_SCSI_TMF_RESP_SUCCEEDED;
			}
			iscsi_tmf_done(&task->scsi);
			return 0;
		}
		task->scsi.abort_task = ref ? &ref->scsi : NULL;
	}
	if (function == KEEL_SCSI_TMF_ABORT_TASK_SET || function == KEEL_SCSI_TMF_CLEAR_TASK_SET ||
	    function == KEEL_SCSI_TMF_LOGICAL_UNIT_RESET) {
		iscsi_tmf_abort_unqueued_set(sess, req, task->lun, false);
	} else if (function == KEEL_SCSI_TMF_TARGET_WARM_RESET ||
		   function == KEEL_SCSI_TMF_I_T_NEXUS_RESET) {
		iscsi_tmf_abort_unqueued_set(sess, req, 0, true);
	}
	/* From here the SCSI layer owns the task until iscsi_tmf_done(). */
	task->scsi_queued = true;
	keel_scsi_task_mgmt(&task->scsi);
	return 0;
}
