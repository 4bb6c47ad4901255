/*
 * Data-Out PDUs (RFC 7143 11.7): unsolicited data up to FirstBurstLength when InitialR2T=No,
 * solicited data answering R2Ts; each lands straight in the task's buffer at its offset.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/util.h"

#include "iscsi_internal.h"

void iscsi_task_send_r2ts(struct iscsi_task *task);
void iscsi_task_submit(struct iscsi_task *task);
void iscsi_task_fail(struct iscsi_task *task, int sk, int asc_ascq);
void iscsi_task_free(struct iscsi_task *task);

static struct iscsi_task *
iscsi_conn_find_task(struct iscsi_conn *conn, uint32_t itt)
{
	struct iscsi_task *task;

	TAILQ_FOREACH(task, &conn->active_tasks, link) {
		if (task->itt == itt && !task->is_tmf) {
			return task;
		}
	}
	/* A command waiting for its CmdSN turn may already receive unsolicited data. */
	if (conn->sess != NULL) {
		TAILQ_FOREACH(task, &conn->sess->pending_cmds, link) {
			if (task->itt == itt && task->conn == conn) {
				return task;
			}
		}
	}
	return NULL;
}

int
iscsi_op_data_out_hdr(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	struct keel_iscsi_data_out *d = (struct keel_iscsi_data_out *)&pdu->bhs;
	uint32_t itt = keel_from_be32(d->itt), ttt = keel_from_be32(d->ttt);
	uint32_t off = keel_from_be32(d->buffer_offset), len = pdu->data_len;
	struct iscsi_task *task;

	iscsi_conn_update_exp_statsn(conn, keel_from_be32(d->exp_statsn));
	task = iscsi_conn_find_task(conn, itt);
	if (task == NULL || !task->write || task->scsi_queued || task->data_error) {
		ISCSI_CONN_ERRLOG(conn, "Data-Out for unknown or finished task 0x%08x\n", itt);
		iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_INVALID_PDU_FIELD);
		return 1;
	}
	if (ttt == KEEL_ISCSI_RESERVED_TAG) {
		/* Unsolicited: only within the first burst. */
		if ((uint64_t)off + len > task->unsolicited_end) {
			ISCSI_CONN_ERRLOG(conn, "unsolicited Data-Out past FirstBurstLength "
					  "(offset %u, length %u, limit %u)\n", off, len,
					  task->unsolicited_end);
			iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
			return 1;
		}
	} else if (ttt != task->ttt || task->outstanding_r2t == 0) {
		ISCSI_CONN_ERRLOG(conn, "Data-Out with unknown TTT 0x%08x for task 0x%08x\n", ttt,
				  itt);
		iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_INVALID_PDU_FIELD);
		return 1;
	} else if ((uint64_t)off + len > task->next_r2t_offset) {
		ISCSI_CONN_ERRLOG(conn, "Data-Out beyond what was asked for (offset %u, length %u)\n",
				  off, len);
		iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
		return 1;
	}
	if ((uint64_t)off + len > task->buf_len) {
		iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
		return 1;
	}
	if (keel_from_be32(d->datasn) != task->datasn_out || off != task->data_received) {
		/* RFC 7143 7.1.2: a DataSN out of order means a lost or repeated PDU. With
		 * DataPDUInOrder and DataSequenceInOrder (13.19, 13.20: Yes is all keel
		 * negotiates) each Data-Out starts where the data before it ended; a gap or an
		 * overlap would leave bytes of the buffer that were never sent, counted as
		 * received. Without recovery (ErrorRecoveryLevel 0) the command cannot complete:
		 * reject the PDU and end the command with a data phase error, at once or, for a
		 * command still waiting for its CmdSN, in its turn. */
		ISCSI_CONN_ERRLOG(conn, "Data-Out with DataSN %u, offset %u where %u, %u was due "
				  "(task 0x%08x)\n", keel_from_be32(d->datasn), off, task->datasn_out,
				  task->data_received, itt);
		iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
		if (task->pending) {
			task->data_error = true;
		} else {
			iscsi_task_fail(task, KEEL_SCSI_SENSE_ABORTED_COMMAND, 0x4b00);
		}
		return 1;
	}
	pdu->task = task;
	pdu->data = task->buf + off;
	return 0;
}

int
iscsi_op_data_out(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	struct keel_iscsi_data_out *d = (struct keel_iscsi_data_out *)&pdu->bhs;
	struct iscsi_task *task = pdu->task;
	bool solicited = keel_from_be32(d->ttt) != KEEL_ISCSI_RESERVED_TAG;

	pdu->task = NULL;
	pdu->data = NULL;	/* the task's buffer */
	if (task == NULL) {
		return 0;
	}
	if (task->aborted && !task->pending) {
		/* ABORT TASK came (on another connection of the session) while this PDU was
		 * being received into the task's buffer: the task ends now. */
		iscsi_task_free(task);
		return 0;
	}
	task->data_received += pdu->data_len;
	/* DataSN counts the PDUs of one sequence (a burst), from 0 (RFC 7143 11.7.5). */
	task->datasn_out = (d->flags & KEEL_ISCSI_FLAG_FINAL) ? 0 : task->datasn_out + 1;
	if (task->data_received > task->buf_len) {
		/* Overlapping or repeated data: the count can no longer be trusted. */
		ISCSI_CONN_ERRLOG(conn, "more Data-Out than the command's %u bytes\n", task->buf_len);
		return -EINVAL;
	}
	if (solicited && (d->flags & KEEL_ISCSI_FLAG_FINAL)) {
		task->outstanding_r2t--;
		conn->outstanding_r2t--;
		if (task->outstanding_r2t == 0) {
			task->ttt = KEEL_ISCSI_RESERVED_TAG;
		}
	}
	if (task->pending) {
		/* Still waiting for its CmdSN turn: iscsi_task_data_ready() submits it (or asks
		 * for the rest) then. Submitting it now would run it twice. */
		return 0;
	}
	if (task->data_received == task->buf_len) {
		if (task->outstanding_r2t == 0) {
			iscsi_task_submit(task);
		}
	} else if (d->flags & KEEL_ISCSI_FLAG_FINAL) {
		iscsi_task_send_r2ts(task);
	}
	/* R2Ts queued here are sent once the received PDUs are parsed. */
	return 0;
}
