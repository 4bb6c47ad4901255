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

static void
iscsi_tmf_done(struct keel_scsi_task *scsi)
{
	struct iscsi_task *task = KEEL_CONTAINEROF(scsi, struct iscsi_task, scsi);
	struct iscsi_conn *conn = task->conn;

	if (conn->state == ISCSI_CONN_STATE_RUNNING) {
		iscsi_tmf_send_rsp(conn, task->itt, (uint8_t)scsi->response);
		iscsi_conn_flush(conn);
	}
	TAILQ_REMOVE(&conn->active_tasks, task, link);
	conn->num_active--;
	keel_mempool_put(g_iscsi.task_pool, task);
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

int
iscsi_op_task_req(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	struct keel_iscsi_task_req *req = (struct keel_iscsi_task_req *)&pdu->bhs;
	uint8_t function = req->function & 0x7f;
	uint32_t itt = keel_from_be32(req->itt), cmdsn = keel_from_be32(req->cmdsn);
	struct iscsi_sess *sess = conn->sess;
	struct iscsi_task *task, *ref;

	iscsi_conn_update_exp_statsn(conn, keel_from_be32(req->exp_statsn));
	if (!(req->opcode & KEEL_ISCSI_IMMEDIATE)) {
		if (cmdsn == sess->exp_cmdsn) {
			sess->exp_cmdsn++;
			iscsi_sess_update_max_cmdsn(sess);
		}
	}
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
				if (ref->pending) {
					ref->aborted = true; /* freed when its turn comes */
				} else {
					iscsi_task_free(ref);
				}
			}
			iscsi_tmf_done(&task->scsi);
			return 0;
		}
		task->scsi.abort_task = ref ? &ref->scsi : NULL;
	}
	keel_scsi_task_mgmt(&task->scsi);
	return 0;
}
