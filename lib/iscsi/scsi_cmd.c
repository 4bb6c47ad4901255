/*
 * SCSI Command PDUs (RFC 7143 11.3, 11.4): tasks and their buffers, immediate data landing
 * in the task buffer, CmdSN ordering, R2Ts, Data-In split at the initiator's
 * MaxRecvDataSegmentLength with the status in the last one when it is GOOD, SCSI Responses with
 * sense data and residuals.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/scsi.h"
#include "keel/thread.h"
#include "keel/util.h"

#include "iscsi_internal.h"
#include "iscsi_objects.h"

KEEL_LOG_REGISTER_COMPONENT(iscsi)

/* The most data one command's buffer takes: the SCSI layer's MAXIMUM TRANSFER LENGTH (VPD B0,
 * 4 MiB); a command asking for more is refused there, so a larger Expected Data Transfer
 * Length from the initiator only ever costs this much memory. */
#define ISCSI_MAX_TASK_BUF (4u * 1024 * 1024)

void iscsi_sess_update_max_cmdsn(struct iscsi_sess *sess);
void iscsi_task_free(struct iscsi_task *task);
void iscsi_task_send_r2ts(struct iscsi_task *task);
void iscsi_task_submit(struct iscsi_task *task);
void iscsi_task_abort_for_conn(struct iscsi_task *task);
void iscsi_sess_run_pending(struct iscsi_sess *sess);
uint64_t iscsi_decode_lun(const uint8_t *lun);

/* SAM LUN (peripheral or flat addressing, first level) to an index. */
uint64_t
iscsi_decode_lun(const uint8_t *lun)
{
	uint8_t method = lun[0] >> 6;

	if (method == 0 || method == 1) {
		return ((uint64_t)(lun[0] & 0x3f) << 8) | lun[1];
	}
	return UINT64_MAX;
}

void
iscsi_sess_update_max_cmdsn(struct iscsi_sess *sess)
{
	uint32_t active = 0;
	int i;

	for (i = 0; i < sess->num_conns; i++) {
		if (sess->conns[i] != NULL) {
			active += sess->conns[i]->num_active;
		}
	}
	active = KEEL_MIN(active, sess->queue_depth);
	/* The window never shrinks (RFC 7143 3.2.2.1: MaxCmdSN must not decrease). */
	if (keel_iscsi_sn_gt(sess->exp_cmdsn + sess->queue_depth - 1 - active, sess->max_cmdsn) ||
	    sess->max_cmdsn == sess->exp_cmdsn - 1) {
		sess->max_cmdsn = sess->exp_cmdsn + sess->queue_depth - 1 - active;
	}
}

static struct iscsi_task *
iscsi_task_get(struct iscsi_conn *conn)
{
	struct iscsi_task *task = keel_mempool_get(g_iscsi.task_pool);

	if (task == NULL) {
		return NULL;
	}
	memset(task, 0, sizeof(*task));
	task->conn = conn;
	task->ttt = KEEL_ISCSI_RESERVED_TAG;
	/* The clock is read (25-35 ns on a virtual machine) only while the latency histogram
	 * records. */
	if (conn->target != NULL &&
	    __atomic_load_n(&conn->target->histogram_enabled, __ATOMIC_RELAXED)) {
		task->start_tsc = keel_get_ticks();
	}
	TAILQ_INSERT_TAIL(&conn->active_tasks, task, link);
	conn->num_active++;
	return task;
}

static int
iscsi_task_alloc_buf(struct iscsi_task *task, uint32_t len)
{
	if (len == 0) {
		return 0;
	}
	if (len <= g_iscsi.buf_pool_elt_size) {
		task->buf = keel_mempool_get(g_iscsi.buf_pool);
		if (task->buf != NULL) {
			task->buf_from_pool = true;
		}
	}
	if (task->buf == NULL) {
		task->buf = keel_dma_malloc(len, 4096, NULL);
		if (task->buf == NULL) {
			return -ENOMEM;
		}
	}
	task->buf_len = len;
	task->iov.iov_base = task->buf;
	task->iov.iov_len = len;
	return 0;
}

void
iscsi_task_free(struct iscsi_task *task)
{
	struct iscsi_conn *conn = task->conn;

	/* A READ answered by reference: its Data-In has been written (or never will be). */
	keel_scsi_task_put_data(&task->scsi);
	if (task->buf != NULL) {
		if (task->buf_from_pool) {
			keel_mempool_put(g_iscsi.buf_pool, task->buf);
		} else {
			keel_dma_free(task->buf);
		}
	}
	TAILQ_REMOVE(&conn->active_tasks, task, link);
	if (task->write && task->r2t_link.tqe_prev != NULL) {
		TAILQ_REMOVE(&conn->r2t_tasks, task, r2t_link);
		task->r2t_link.tqe_prev = NULL;
	}
	conn->outstanding_r2t -= task->outstanding_r2t;
	conn->num_active--;
	if (conn->sess != NULL) {
		iscsi_sess_update_max_cmdsn(conn->sess);
	}
	keel_mempool_put(g_iscsi.task_pool, task);
}

/* The connection goes away: a task not at the SCSI layer is freed now; one there is freed
 * when the layer completes it. */
void
iscsi_task_abort_for_conn(struct iscsi_task *task)
{
	task->aborted = true;
	if (!task->scsi_queued || task->completed) {
		iscsi_task_free(task);
	}
}

static void
iscsi_rsp_sent(struct iscsi_pdu *pdu)
{
	if (pdu->task != NULL) {
		iscsi_task_free(pdu->task);
	}
}

/* Residuals (RFC 7143 11.4.5): what the command itself wanted (SPDTL, from the SCSI layer)
 * against the Expected Data Transfer Length the initiator gave. */
static void
iscsi_set_residual(struct iscsi_task *task, uint8_t *flags, uint8_t *residual)
{
	uint32_t edtl = task->expected_len;
	uint32_t want = task->scsi.expected_len ? task->scsi.expected_len :
			task->scsi.data_transferred;

	if (!task->read && !task->write) {
		return;
	}
	if (want > edtl) {
		*flags |= KEEL_ISCSI_RSP_OVERFLOW;
		keel_to_be32(residual, want - edtl);
	} else if (want < edtl) {
		*flags |= KEEL_ISCSI_RSP_UNDERFLOW;
		keel_to_be32(residual, edtl - want);
	}
}

static void
iscsi_send_scsi_rsp(struct iscsi_task *task)
{
	struct iscsi_conn *conn = task->conn;
	struct iscsi_pdu *pdu = iscsi_pdu_get();
	struct keel_iscsi_scsi_rsp *rsp;

	if (pdu == NULL) {
		if (conn->state == ISCSI_CONN_STATE_EXITING) {
			iscsi_task_free(task);
		} else {
			/* The task has ended: iscsi_conn_drop() frees it with the others. */
			iscsi_conn_drop(conn, "out of PDUs");
		}
		return;
	}
	rsp = (struct keel_iscsi_scsi_rsp *)&pdu->bhs;
	rsp->opcode = KEEL_ISCSI_OP_SCSI_RSP;
	rsp->flags = KEEL_ISCSI_FLAG_FINAL;
	rsp->response = KEEL_ISCSI_RESPONSE_COMPLETED;
	rsp->status = task->scsi.status;
	keel_to_be32(rsp->itt, task->itt);
	keel_to_be32(rsp->exp_datasn, task->read ? task->datasn_in : task->r2tsn);
	iscsi_set_residual(task, &rsp->flags, rsp->residual);
	if (task->scsi.sense_data_len > 0) {
		uint16_t n = task->scsi.sense_data_len;

		keel_to_be16(pdu->small_data, n);
		memcpy(pdu->small_data + 2, task->scsi.sense_data, n);
		pdu->data = pdu->small_data;
		pdu->data_len = (uint32_t)n + 2;
	}
	pdu->task = task;
	pdu->sent_cb = iscsi_rsp_sent;
	iscsi_conn_send_pdu(conn, pdu);
}

/* Data-In PDUs for what the command read; the last carries the status when it is GOOD. A
 * Data-In sequence holds MaxBurstLength bytes at most (RFC 7143 13.13): F ends each one
 * (11.7.1) and no PDU spans two; DataSN and the offsets run on across them. */
static void
iscsi_send_datain(struct iscsi_task *task)
{
	struct iscsi_conn *conn = task->conn;
	uint32_t total = KEEL_MIN(task->scsi.data_transferred, task->expected_len);
	uint32_t max = conn->params.max_send_dsl, off = 0, in_burst = 0;
	uint32_t burst = conn->sess != NULL ? conn->sess->params.max_burst_length : 0;
	bool collapse = task->scsi.status == KEEL_SCSI_STATUS_GOOD;
	/* The task's buffer, or the bdev's memory when the layer answered by reference. */
	uint8_t *data = task->scsi.iovcnt == 1 ? task->scsi.iovs[0].iov_base : task->buf;
	struct iscsi_pdu *pdu;
	struct keel_iscsi_data_in *din;

	if (burst == 0) {
		burst = UINT32_MAX;
	}
	while (off < total) {
		uint32_t len = KEEL_MIN(KEEL_MIN(max, total - off), burst - in_burst);
		bool last = off + len == total;

		pdu = iscsi_pdu_get();
		if (pdu == NULL) {
			/* The task has ended: iscsi_conn_drop() frees it with the others. */
			iscsi_conn_drop(conn, "out of PDUs");
			return;
		}
		din = (struct keel_iscsi_data_in *)&pdu->bhs;
		din->opcode = KEEL_ISCSI_OP_DATA_IN;
		keel_to_be32(din->itt, task->itt);
		keel_to_be32(din->ttt, KEEL_ISCSI_RESERVED_TAG);
		keel_to_be32(din->datasn, task->datasn_in++);
		keel_to_be32(din->buffer_offset, off);
		if (last) {
			din->flags = KEEL_ISCSI_FLAG_FINAL;
			if (collapse) {
				din->flags |= KEEL_ISCSI_DATAIN_STATUS;
				din->status = task->scsi.status;
				iscsi_set_residual(task, &din->flags, din->residual);
				/* Data-In uses the same O/U bit positions as the response. */
				pdu->task = task;
				pdu->sent_cb = iscsi_rsp_sent;
			}
		}
		in_burst += len;
		if (in_burst == burst) {
			din->flags |= KEEL_ISCSI_FLAG_FINAL;
			in_burst = 0;
		}
		pdu->data = data + off;
		pdu->data_len = len;
		iscsi_conn_send_pdu(conn, pdu);
		off += len;
	}
	task->datain_sent = total;
	if (total == 0 || !collapse) {
		iscsi_send_scsi_rsp(task);
	}
}

/* End a command that never reached the SCSI layer with CHECK CONDITION (a broken data phase). */
void iscsi_task_fail(struct iscsi_task *task, int sk, int asc_ascq);
void
iscsi_task_fail(struct iscsi_task *task, int sk, int asc_ascq)
{
	keel_scsi_task_set_status(&task->scsi, KEEL_SCSI_STATUS_CHECK_CONDITION, sk, asc_ascq);
	task->completed = true;
	task->scsi_queued = true; /* no more Data-Out is taken for it */
	iscsi_send_scsi_rsp(task);
}

static void
iscsi_task_scsi_done(struct keel_scsi_task *scsi)
{
	struct iscsi_task *task = KEEL_CONTAINEROF(scsi, struct iscsi_task, scsi);
	struct iscsi_conn *conn = task->conn;

	task->completed = true;
	if (task->start_tsc != 0 && conn->target != NULL) {
		iscsi_tgt_node_record_latency(conn->target, keel_get_ticks() - task->start_tsc);
	}
	if (task->aborted || scsi->aborted || conn->state != ISCSI_CONN_STATE_RUNNING) {
		/* ABORT TASK (no response, RFC 7143 4.2.3.2) or the connection is going. */
		iscsi_task_free(task);
		return;
	}
	if (task->read) {
		iscsi_send_datain(task);
	} else {
		iscsi_send_scsi_rsp(task);
	}
	/* Sent by the poll group's next poll, with the other responses ready by then; the last
	 * command in flight has nothing to wait for. */
	if (conn->num_active == 1 && conn->state == ISCSI_CONN_STATE_RUNNING) {
		iscsi_conn_flush(conn);
	}
}

void
iscsi_task_submit(struct iscsi_task *task)
{
	struct iscsi_conn *conn = task->conn;
	struct keel_scsi_task *scsi = &task->scsi;

	scsi->dev = conn->target ? conn->target->dev : NULL;
	scsi->lun_id = task->lun;
	scsi->lun_desc = task->lun < ISCSI_MAX_LUN ? conn->lun_descs[task->lun] : NULL;
	scsi->target_port = conn->sess->target_port;
	scsi->initiator_port = conn->sess->initiator_port;
	scsi->cpl_fn = iscsi_task_scsi_done;
	scsi->tag = task->itt;
	/* A READ's Data-In may go out of the bdev's own memory (no copy into task->buf). */
	scsi->data_by_ref = task->read && !task->write;
	if (task->buf != NULL) {
		scsi->iovs = &task->iov;
		scsi->iovcnt = 1;
		task->iov.iov_len = task->write ? task->data_received : task->buf_len;
		scsi->transfer_len = (uint32_t)task->iov.iov_len;
	}
	task->scsi_queued = true;
	keel_scsi_task_execute(scsi);
}

/* Ask for the next bursts of a write (RFC 7143 11.8). */
void
iscsi_task_send_r2ts(struct iscsi_task *task)
{
	struct iscsi_conn *conn = task->conn;
	struct iscsi_sess_params *sp = &conn->sess->params;
	struct keel_iscsi_r2t *r2t;
	struct iscsi_pdu *pdu;

	while (task->next_r2t_offset < task->buf_len && task->outstanding_r2t < sp->max_outstanding_r2t) {
		uint32_t len = KEEL_MIN(sp->max_burst_length, task->buf_len - task->next_r2t_offset);

		pdu = iscsi_pdu_get();
		if (pdu == NULL) {
			break;
		}
		if (task->outstanding_r2t == 0) {
			task->ttt = conn->ttt_next++;
			if (task->ttt == KEEL_ISCSI_RESERVED_TAG) {
				task->ttt = conn->ttt_next++;
			}
		}
		r2t = (struct keel_iscsi_r2t *)&pdu->bhs;
		r2t->opcode = KEEL_ISCSI_OP_R2T;
		r2t->flags = KEEL_ISCSI_FLAG_FINAL;
		keel_to_be32(r2t->itt, task->itt);
		keel_to_be32(r2t->ttt, task->ttt);
		keel_to_be32(r2t->r2tsn, task->r2tsn++);
		keel_to_be32(r2t->buffer_offset, task->next_r2t_offset);
		keel_to_be32(r2t->desired_data_xfer_len, len);
		memcpy(r2t->lun, task->lun_raw, 8);
		task->next_r2t_offset += len;
		task->outstanding_r2t++;
		conn->outstanding_r2t++;
		iscsi_conn_send_pdu(conn, pdu);
	}
}

/* Commands of this connection still waiting for their CmdSN turn go with it. */
void iscsi_conn_abort_pending(struct iscsi_conn *conn);
void
iscsi_conn_abort_pending(struct iscsi_conn *conn)
{
	struct iscsi_task *t, *tmp;

	if (conn->sess == NULL) {
		return;
	}
	TAILQ_FOREACH_SAFE(t, &conn->sess->pending_cmds, link, tmp) {
		if (t->conn == conn) {
			TAILQ_REMOVE(&conn->sess->pending_cmds, t, link);
			t->pending = false;
			TAILQ_INSERT_TAIL(&conn->active_tasks, t, link);
			iscsi_task_free(t);
		}
	}
}

/* All data of a write is in (or the command has none): hand it to the SCSI layer. */
static void
iscsi_task_data_ready(struct iscsi_task *task)
{
	if (task->aborted) {
		/* ABORT TASK reached it while it waited: it ends without a response. */
		iscsi_task_free(task);
		return;
	}
	if (task->data_error) {
		/* A Data-Out of it was refused while it waited (dataout.c). */
		iscsi_task_fail(task, KEEL_SCSI_SENSE_ABORTED_COMMAND, 0x4b00);
		return;
	}
	if (task->write && task->data_received < task->buf_len) {
		/* Unsolicited data may still come up to unsolicited_end; R2T the rest. */
		if (task->next_r2t_offset < task->unsolicited_end) {
			task->next_r2t_offset = task->unsolicited_end;
		}
		iscsi_task_send_r2ts(task);
		return;
	}
	iscsi_task_submit(task);
}

/* Execute in CmdSN order: non-immediate commands run once ExpCmdSN reaches them. */
static void
iscsi_sess_run_in_order(struct iscsi_conn *conn, struct iscsi_task *task)
{
	struct iscsi_sess *sess = conn->sess;
	struct iscsi_task *t;

	if (task->immediate) {
		iscsi_task_data_ready(task);
		return;
	}
	if (task->cmdsn != sess->exp_cmdsn) {
		/* Early: wait in order for the missing ones. */
		TAILQ_FOREACH(t, &sess->pending_cmds, link) {
			if (keel_iscsi_sn_gt(t->cmdsn, task->cmdsn)) {
				break;
			}
		}
		TAILQ_REMOVE(&conn->active_tasks, task, link);
		if (t != NULL) {
			TAILQ_INSERT_BEFORE(t, task, link);
		} else {
			TAILQ_INSERT_TAIL(&sess->pending_cmds, task, link);
		}
		task->scsi_queued = false;
		task->pending = true;
		return;
	}
	sess->exp_cmdsn++;
	iscsi_task_data_ready(task);
	iscsi_sess_run_pending(sess);
}

/* ExpCmdSN steps over a number a non-command PDU used before its turn. */
static bool
iscsi_sess_skip_used_sn(struct iscsi_sess *sess)
{
	uint32_t i;

	for (i = 0; i < sess->num_used_sns; i++) {
		if (sess->used_sns[i] == sess->exp_cmdsn) {
			sess->used_sns[i] = sess->used_sns[--sess->num_used_sns];
			sess->exp_cmdsn++;
			return true;
		}
	}
	return false;
}

/* Commands that waited for ExpCmdSN to reach them run, in order, now that it has (after a
 * command, or a task management function, NOP-Out, logout or text request with a CmdSN of its
 * own). */
void
iscsi_sess_run_pending(struct iscsi_sess *sess)
{
	struct iscsi_task *t, *tmp;
	bool progress = true;

	while (progress) {
		progress = sess->num_used_sns > 0 && iscsi_sess_skip_used_sn(sess);
		if (progress) {
			continue;
		}
		TAILQ_FOREACH_SAFE(t, &sess->pending_cmds, link, tmp) {
			if (t->cmdsn == sess->exp_cmdsn) {
				TAILQ_REMOVE(&sess->pending_cmds, t, link);
				t->pending = false;
				TAILQ_INSERT_TAIL(&t->conn->active_tasks, t, link);
				sess->exp_cmdsn++;
				iscsi_task_data_ready(t);
				progress = true;
				break;
			}
		}
	}
	iscsi_sess_update_max_cmdsn(sess);
}

void
iscsi_sess_use_cmdsn(struct iscsi_sess *sess, uint32_t cmdsn)
{
	uint32_t i;

	if (cmdsn == sess->exp_cmdsn) {
		sess->exp_cmdsn++;
		iscsi_sess_run_pending(sess);
		return;
	}
	if (keel_iscsi_sn_lt(cmdsn, sess->exp_cmdsn) || keel_iscsi_sn_gt(cmdsn, sess->max_cmdsn)) {
		return;
	}
	for (i = 0; i < sess->num_used_sns; i++) {
		if (sess->used_sns[i] == cmdsn) {
			return;
		}
	}
	if (sess->num_used_sns < KEEL_COUNTOF(sess->used_sns)) {
		sess->used_sns[sess->num_used_sns++] = cmdsn;
	}
}

/* True if a command with this CmdSN waits for its turn on the session. */
static bool
iscsi_sess_cmdsn_waiting(struct iscsi_sess *sess, uint32_t cmdsn)
{
	struct iscsi_task *t;

	TAILQ_FOREACH(t, &sess->pending_cmds, link) {
		if (t->cmdsn == cmdsn) {
			return true;
		}
	}
	return false;
}

/* Header phase: validate, make the task and its buffer so immediate data lands there. */
int
iscsi_op_scsi_cmd_hdr(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	struct keel_iscsi_scsi_cmd *cmd = (struct keel_iscsi_scsi_cmd *)&pdu->bhs;
	struct iscsi_sess *sess = conn->sess;
	bool immediate = (cmd->opcode & KEEL_ISCSI_IMMEDIATE) != 0;
	uint32_t cmdsn = keel_from_be32(cmd->cmdsn), edtl = keel_from_be32(cmd->expected_data_xfer_len);
	bool r = (cmd->flags & KEEL_ISCSI_SCSI_READ) != 0, w = (cmd->flags & KEEL_ISCSI_SCSI_WRITE) != 0;
	struct iscsi_task *task;

	if (sess->params.discovery) {
		iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
		return 1;
	}
	iscsi_conn_update_exp_statsn(conn, keel_from_be32(cmd->exp_statsn));
	if (!immediate && (keel_iscsi_sn_lt(cmdsn, sess->exp_cmdsn) ||
			   keel_iscsi_sn_gt(cmdsn, sess->max_cmdsn))) {
		/* RFC 7143 3.2.2.1: outside the window, silently ignored. */
		KEEL_INFOLOG(iscsi, "conn %u: CmdSN %u outside [%u, %u]: ignored\n", conn->id, cmdsn,
			     sess->exp_cmdsn, sess->max_cmdsn);
		return 1;
	}
	if (!immediate && iscsi_sess_cmdsn_waiting(sess, cmdsn)) {
		/* A duplicate within the window is ignored too (3.2.2.1); kept, it would wait
		 * forever once the first ran, holding a slot of the window. */
		KEEL_INFOLOG(iscsi, "conn %u: CmdSN %u already waiting: ignored\n", conn->id, cmdsn);
		return 1;
	}
	if ((pdu->data_len > 0 && !w) || (pdu->data_len > 0 && !sess->params.immediate_data) ||
	    pdu->data_len > edtl || pdu->data_len > sess->params.first_burst_length ||
	    (!(cmd->flags & KEEL_ISCSI_FLAG_FINAL) && !w) || (r && w)) {
		/* Bidirectional commands are not supported; the others are malformed. */
		iscsi_conn_send_reject(conn, &pdu->bhs, (r && w) ?
				       KEEL_ISCSI_REJECT_COMMAND_NOT_SUPPORTED :
				       KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
		return 1;
	}
	task = iscsi_task_get(conn);
	if (task == NULL) {
		ISCSI_CONN_ERRLOG(conn, "out of tasks\n");
		return -ENOMEM;
	}
	task->itt = keel_from_be32(cmd->itt);
	task->cmdsn = cmdsn;
	task->immediate = immediate;
	task->lun = iscsi_decode_lun(cmd->lun);
	memcpy(task->lun_raw, cmd->lun, 8);
	task->expected_len = edtl;
	task->read = r;
	task->write = w;
	task->scsi.attr = (enum keel_scsi_task_attr)(cmd->flags & KEEL_ISCSI_SCSI_ATTR_MASK);
	task->scsi.dxfer_dir = w ? KEEL_SCSI_DIR_TO_DEV : (r ? KEEL_SCSI_DIR_FROM_DEV :
						  KEEL_SCSI_DIR_NONE);
	memcpy(task->scsi.cdb, cmd->cdb, 16);
	task->scsi.cdb_len = 16;
	if (pdu->ahs_len >= 4 && pdu->ahs[2] == 0x01) {
		/* Extended CDB AHS (RFC 7143 11.2.2.3): bytes 16.. of a longer CDB. */
		uint16_t ahs_len = keel_from_be16(pdu->ahs);
		uint32_t extra = ahs_len > 1 ? ahs_len - 1u : 0;

		if (extra > sizeof(task->scsi.cdb) - 16 || 4 + extra > pdu->ahs_len) {
			iscsi_task_free(task);
			iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_INVALID_PDU_FIELD);
			return 1;
		}
		memcpy(task->scsi.cdb + 16, pdu->ahs + 4, extra);
		task->scsi.cdb_len = (uint8_t)(16 + extra);
	}
	if ((r || w) && iscsi_task_alloc_buf(task, KEEL_MIN(edtl, ISCSI_MAX_TASK_BUF)) != 0) {
		iscsi_task_free(task);
		ISCSI_CONN_ERRLOG(conn, "out of memory for a %u-byte buffer\n", edtl);
		return -ENOMEM;
	}
	if (w) {
		/* With F set no unsolicited Data-Out follows (RFC 7143 11.3.1): the rest is
		 * asked for from the end of the immediate data. */
		task->unsolicited_end = sess->params.initial_r2t ||
					(cmd->flags & KEEL_ISCSI_FLAG_FINAL) ? pdu->data_len :
					KEEL_MIN(KEEL_MIN(edtl, sess->params.first_burst_length),
						 task->buf_len);
		task->burst_received = pdu->data_len;
		task->next_r2t_offset = task->unsolicited_end;
	}
	pdu->task = task;
	pdu->data = pdu->data_len ? task->buf : NULL;
	return 0;
}

int
iscsi_op_scsi_cmd(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	struct iscsi_task *task = pdu->task;

	pdu->task = NULL;
	pdu->data = NULL;	/* it is the task's buffer */
	if (task == NULL) {
		return 0;
	}
	task->data_received = pdu->data_len;
	if (!task->write) {
		task->unsolicited_end = 0;
	}
	iscsi_sess_run_in_order(conn, task);
	/* What it queued (R2Ts, a response) is sent once the received PDUs are parsed. */
	return 0;
}
