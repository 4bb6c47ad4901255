/*
 * Connections: placement on a poll group, the receive state machine (one read fills a large
 * buffer; every whole PDU in it is parsed, and large data segments are read straight into the
 * task's buffer), the opcode dispatch table, timers (login, NOP-In, logout) and teardown.
 */
#include "keel/stdinc.h"
#include "keel/accel.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/scsi.h"
#include "keel/sock.h"
#include "keel/thread.h"
#include "keel/util.h"

#include "iscsi_internal.h"

KEEL_LOG_REGISTER_COMPONENT(iscsi)

#define ISCSI_RX_BUF_SIZE (64 * 1024)
#define ISCSI_DIRECT_READ_MIN 4096	/* data segments at least this big skip the rx buffer */
#define ISCSI_RX_LARGE_PDU (32 * 1024)	/* after one this big, read the next header alone */

enum pdu_phase {
	PDU_LOGIN_PHASE = 0x1,
	PDU_FULL_FEATURE = 0x2,
};

struct pdu_op {
	const char *name;
	/* Header phase: validate; may point pdu->data at the buffer the data segment belongs
	 * in (a task's). NULL: the data segment gets a buffer of its own. Returns 0, or < 0 to
	 * drop the connection, or 1 if the PDU was answered (rejected) and its data is to be
	 * discarded. */
	int (*hdr)(struct iscsi_conn *conn, struct iscsi_pdu *pdu);
	int (*payload)(struct iscsi_conn *conn, struct iscsi_pdu *pdu);
	uint8_t phases;
};


static const struct pdu_op g_pdu_ops[KEEL_ISCSI_OP_COUNT] = {
	[KEEL_ISCSI_OP_NOP_OUT] = {"nop-out", NULL, iscsi_op_nop_out, PDU_FULL_FEATURE},
	[KEEL_ISCSI_OP_SCSI_CMD] = {"scsi-cmd", iscsi_op_scsi_cmd_hdr, iscsi_op_scsi_cmd,
				    PDU_FULL_FEATURE},
	[KEEL_ISCSI_OP_TASK_REQ] = {"task-mgmt", NULL, iscsi_op_task_req, PDU_FULL_FEATURE},
	[KEEL_ISCSI_OP_LOGIN_REQ] = {"login", NULL, iscsi_login_handle, PDU_LOGIN_PHASE},
	[KEEL_ISCSI_OP_TEXT_REQ] = {"text", NULL, iscsi_op_text, PDU_FULL_FEATURE},
	[KEEL_ISCSI_OP_DATA_OUT] = {"data-out", iscsi_op_data_out_hdr, iscsi_op_data_out,
				    PDU_FULL_FEATURE},
	[KEEL_ISCSI_OP_LOGOUT_REQ] = {"logout", NULL, iscsi_op_logout, PDU_FULL_FEATURE},
	[KEEL_ISCSI_OP_SNACK] = {"snack", NULL, iscsi_op_snack, PDU_FULL_FEATURE},
};

static void iscsi_conn_sock_cb(void *arg, struct keel_sock_group *group, struct keel_sock *sock);

/* Placement: the poll group with the fewest connections among the portal's cores. */
static struct iscsi_poll_group *
iscsi_choose_poll_group(const struct keel_cpuset *mask)
{
	struct iscsi_poll_group *best = NULL;
	uint32_t i, n, best_n = UINT32_MAX;

	for (i = 0; i < g_iscsi.num_poll_groups; i++) {
		struct iscsi_poll_group *pg = &g_iscsi.poll_groups[i];

		if (mask != NULL && keel_cpuset_count(mask) > 0 && !keel_cpuset_get(mask, pg->core)) {
			continue;
		}
		n = __atomic_load_n(&pg->num_conns, __ATOMIC_RELAXED);
		if (n < best_n) {
			best = pg;
			best_n = n;
		}
	}
	return best ? best : &g_iscsi.poll_groups[0];
}

static void
iscsi_conn_start_on_thread(void *arg)
{
	struct iscsi_conn *conn = arg;
	struct iscsi_poll_group *pg = conn->pg;
	int rc;

	rc = keel_sock_group_add_sock(pg->sock_group, conn->sock, iscsi_conn_sock_cb, conn);
	if (rc != 0) {
		ISCSI_CONN_ERRLOG(conn, "cannot poll the socket: %s\n", keel_strerror(-rc));
		conn->state = ISCSI_CONN_STATE_EXITED;
		keel_sock_close(&conn->sock);
		__atomic_fetch_sub(&pg->num_conns, 1, __ATOMIC_RELAXED);
		free(conn->rx_buf);
		free(conn);
		return;
	}
	TAILQ_INSERT_TAIL(&pg->conns, conn, pg_link);
	conn->last_activity_tsc = keel_get_ticks();
	conn->login_deadline_tsc = conn->last_activity_tsc +
				   ISCSI_LOGIN_TIMEOUT_S * keel_get_ticks_hz();
	/* Data may have arrived before the socket joined the group. */
	iscsi_conn_sock_cb(conn, pg->sock_group, conn->sock);
}

int
iscsi_conn_construct(struct iscsi_portal *portal, struct keel_sock *sock)
{
	struct iscsi_conn *conn;
	struct iscsi_poll_group *pg;

	conn = calloc(1, sizeof(*conn));
	if (conn == NULL) {
		return -ENOMEM;
	}
	conn->rx_buf = malloc(ISCSI_RX_BUF_SIZE);
	if (conn->rx_buf == NULL) {
		free(conn);
		return -ENOMEM;
	}
	conn->rx_buf_size = ISCSI_RX_BUF_SIZE;
	conn->sock = sock;
	conn->state = ISCSI_CONN_STATE_LOGIN;
	conn->rx_state = ISCSI_RX_BHS;
	conn->portal_grp = portal->group;
	conn->pg_tag = portal->group->tag;
	conn->params.max_recv_dsl = 8192;	/* RFC 7143 default until negotiated */
	conn->params.max_send_dsl = 8192;
	conn->ttt_next = 1;
	TAILQ_INIT(&conn->tx_queue);
	TAILQ_INIT(&conn->active_tasks);
	TAILQ_INIT(&conn->r2t_tasks);
	keel_sock_getaddr(sock, conn->target_addr, sizeof(conn->target_addr), &conn->target_port,
			  conn->initiator_addr, sizeof(conn->initiator_addr), &conn->initiator_port);
	keel_strlcpy(conn->initiator_name, "(logging in)", sizeof(conn->initiator_name));
	pthread_mutex_lock(&g_iscsi.lock);
	conn->id = g_iscsi.next_conn_id++;
	TAILQ_INSERT_TAIL(&g_iscsi.conns, conn, g_link);
	pthread_mutex_unlock(&g_iscsi.lock);
	pg = iscsi_choose_poll_group(&portal->cpumask);
	conn->pg = pg;
	conn->thread = pg->thread;
	__atomic_fetch_add(&pg->num_conns, 1, __ATOMIC_RELAXED);
	if (keel_thread_send_msg(pg->thread, iscsi_conn_start_on_thread, conn) != 0) {
		pthread_mutex_lock(&g_iscsi.lock);
		TAILQ_REMOVE(&g_iscsi.conns, conn, g_link);
		pthread_mutex_unlock(&g_iscsi.lock);
		__atomic_fetch_sub(&pg->num_conns, 1, __ATOMIC_RELAXED);
		free(conn->rx_buf);
		free(conn);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Receive.
 */

/* Read more bytes into the receive buffer: up to want bytes (0: as many as fit). A read that
 * returns less than it asked for has emptied the socket: no other read is tried before the next
 * readiness report (level-triggered for epoll; for uring, data that comes later is reported as
 * new). Returns > 0 bytes, 0 if none now, < 0 on EOF or error. */
static int
iscsi_conn_fill(struct iscsi_conn *conn, uint32_t want)
{
	uint32_t room;
	ssize_t n;

	if (conn->rx_drained) {
		return 0;
	}
	if (conn->rx_head == conn->rx_tail) {
		conn->rx_head = conn->rx_tail = 0;
	} else if (conn->rx_tail == conn->rx_buf_size ||
		   (want != 0 && conn->rx_buf_size - conn->rx_tail < want)) {
		memmove(conn->rx_buf, conn->rx_buf + conn->rx_head, conn->rx_tail - conn->rx_head);
		conn->rx_tail -= conn->rx_head;
		conn->rx_head = 0;
	}
	room = conn->rx_buf_size - conn->rx_tail;
	if (want == 0 || want > room) {
		want = room;
	}
	n = keel_sock_recv(conn->sock, conn->rx_buf + conn->rx_tail, want);
	if (n > 0) {
		conn->rx_tail += (uint32_t)n;
		if ((uint32_t)n < want) {
			conn->rx_drained = true;
		}
		return (int)n;
	}
	if (n == 0) {
		return -ECONNRESET;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		conn->rx_drained = true;
		return 0;
	}
	return -errno;
}

/* Take up to len bytes into dst from the receive buffer. Returns the bytes taken. */
static uint32_t
iscsi_conn_take(struct iscsi_conn *conn, uint8_t *dst, uint32_t len)
{
	uint32_t avail = conn->rx_tail - conn->rx_head, n = KEEL_MIN(avail, len);

	if (n > 0) {
		memcpy(dst, conn->rx_buf + conn->rx_head, n);
		conn->rx_head += n;
	}
	return n;
}

/* The receive buffer is empty and len (>= ISCSI_DIRECT_READ_MIN) bytes of a data segment are
 * due: one readv puts them straight where they belong and what follows them into the receive
 * buffer, tail bytes of it at most (0: as many as fit). Returns the data segment bytes read, 0
 * if none now, < 0 on EOF or error. */
static int
iscsi_conn_read_direct(struct iscsi_conn *conn, uint8_t *dst, uint32_t len, uint32_t tail)
{
	struct iovec iov[2];
	ssize_t n;

	if (conn->rx_drained) {
		return 0;
	}
	conn->rx_head = conn->rx_tail = 0;
	iov[0].iov_base = dst;
	iov[0].iov_len = len;
	iov[1].iov_base = conn->rx_buf;
	iov[1].iov_len = tail != 0 && tail < conn->rx_buf_size ? tail : conn->rx_buf_size;
	n = keel_sock_readv(conn->sock, iov, 2);
	if (n > 0) {
		if ((size_t)n < len + iov[1].iov_len) {
			conn->rx_drained = true;
		}
		if ((size_t)n <= len) {
			return (int)n;
		}
		conn->rx_tail = (uint32_t)((size_t)n - len);
		return (int)len;
	}
	if (n == 0) {
		return -ECONNRESET;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		conn->rx_drained = true;
		return 0;
	}
	return -errno;
}

/* After a PDU with a large data segment the next is likely large too: read only its header
 * into the receive buffer so that its data segment goes straight to its task's buffer. */
static uint32_t
iscsi_conn_hdr_want(struct iscsi_conn *conn)
{
	uint32_t avail = conn->rx_tail - conn->rx_head;
	uint32_t hdr = KEEL_ISCSI_BHS_LEN + (conn->params.header_digest && conn->full_feature ?
					     4 : 0);

	if (!conn->rx_large || avail >= hdr) {
		return 0;
	}
	return hdr - avail;
}

static uint32_t
iscsi_crc_le(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

/* A whole PDU is in: check the data digest and run the payload phase. */
static int
iscsi_conn_pdu_done(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	uint8_t op = pdu->bhs.opcode & KEEL_ISCSI_OPCODE_MASK;
	const struct pdu_op *ops = &g_pdu_ops[op];

	/* The time of the thread's last poll is close enough for the NOP-In interval. */
	conn->last_activity_tsc = keel_thread_get_last_tsc(conn->thread);
	conn->nop_outstanding = false;
	if (pdu->data_len > 0 && conn->params.data_digest && conn->full_feature) {
		struct iovec v[2];
		uint32_t pad = (4 - (pdu->data_len & 3)) & 3;
		static const uint8_t zeros[4];

		v[0].iov_base = pdu->data;
		v[0].iov_len = pdu->data_len;
		v[1].iov_base = (void *)zeros;
		v[1].iov_len = pad;
		if (keel_crc32c_iov(v, pad ? 2 : 1, 0) != iscsi_crc_le(pdu->data_digest)) {
			ISCSI_CONN_ERRLOG(conn, "data digest error on a %s PDU\n", ops->name);
			/* RFC 7143 7.8.2: reject it; at ErrorRecoveryLevel 0 a lost Data-Out
			 * cannot be recovered, so the connection goes too. */
			iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_DATA_DIGEST_ERROR);
			if (op == KEEL_ISCSI_OP_DATA_OUT || op == KEEL_ISCSI_OP_SCSI_CMD) {
				iscsi_conn_flush(conn);
				return -EIO;
			}
			return 0;
		}
	}
	return ops->payload(conn, pdu);
}

/* Header phase of a PDU whose BHS (and AHS and header digest) is complete. Returns 0 and sets
 * conn->rx_needed to the data segment bytes (with padding and digest) still to read, or < 0. */
static int
iscsi_conn_pdu_header(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	uint8_t op = pdu->bhs.opcode & KEEL_ISCSI_OPCODE_MASK;
	const struct pdu_op *ops = &g_pdu_ops[op];
	uint32_t dsl = iscsi_pdu_data_segment_len(&pdu->bhs);
	int rc;

	if (ops->payload == NULL) {
		ISCSI_CONN_ERRLOG(conn, "unknown opcode 0x%02x\n", op);
		if (!conn->full_feature) {
			return -EINVAL;
		}
		iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_COMMAND_NOT_SUPPORTED);
		pdu->data_len = dsl;	/* skipped, with its padding and digest */
		return 1;
	}
	if (conn->full_feature ? !(ops->phases & PDU_FULL_FEATURE) :
	    !(ops->phases & PDU_LOGIN_PHASE)) {
		ISCSI_CONN_ERRLOG(conn, "%s PDU not allowed in the %s phase\n", ops->name,
				  conn->full_feature ? "full feature" : "login");
		if (!conn->full_feature) {
			return -EINVAL;
		}
		iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
		pdu->data_len = dsl;	/* skipped, with its padding and digest */
		return 1;
	}
	if (dsl > conn->params.max_recv_dsl &&
	    !(op == KEEL_ISCSI_OP_LOGIN_REQ && dsl <= ISCSI_TEXT_MAX_LEN)) {
		ISCSI_CONN_ERRLOG(conn, "%s PDU data segment of %u bytes exceeds "
				  "MaxRecvDataSegmentLength %u\n", ops->name, dsl,
				  conn->params.max_recv_dsl);
		/* The stream can no longer be trusted to be framed: protocol error, drop. */
		iscsi_conn_send_reject(conn, &pdu->bhs, KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
		iscsi_conn_flush(conn);
		return -EINVAL;
	}
	pdu->data_len = dsl;
	pdu->data = NULL;
	if (ops->hdr != NULL) {
		rc = ops->hdr(conn, pdu);
		if (rc < 0) {
			return rc;
		}
		if (rc == 1) {
			pdu->data = NULL; /* answered: the data segment is discarded */
			return 1;
		}
	}
	if (pdu->data == NULL && dsl > 0) {
		if (iscsi_pdu_alloc_data(pdu, dsl) != 0) {
			ISCSI_CONN_ERRLOG(conn, "out of memory for a %u-byte data segment\n", dsl);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Discard n bytes of the stream (the data of a rejected PDU). Returns bytes consumed. */
static int
iscsi_conn_skip(struct iscsi_conn *conn, uint32_t n)
{
	uint32_t avail = conn->rx_tail - conn->rx_head, k = KEEL_MIN(avail, n);

	conn->rx_head += k;
	return (int)k;
}

/* Parse whole PDUs from the buffer (reading more as needed). Returns < 0 to drop. */
static int
iscsi_conn_rx(struct iscsi_conn *conn)
{
	struct iscsi_pdu *pdu;
	int rc;
	uint32_t need;

	for (;;) {
		if (conn->state != ISCSI_CONN_STATE_LOGIN && conn->state != ISCSI_CONN_STATE_RUNNING &&
		    conn->state != ISCSI_CONN_STATE_INVALID) {
			/* Logged out or closing (perhaps by the PDU just handled): nothing more is
			 * read, so no task is made that nobody would end. */
			return 0;
		}
		pdu = conn->rx_pdu;
		switch (conn->rx_state) {
		case ISCSI_RX_BHS:
			if (conn->rx_tail - conn->rx_head < KEEL_ISCSI_BHS_LEN) {
				/* Read until the socket is empty: the uring group only reports new
				 * data, not data left behind. */
				rc = iscsi_conn_fill(conn, iscsi_conn_hdr_want(conn));
				if (rc <= 0) {
					return rc;
				}
				continue;
			}
			pdu = iscsi_pdu_get();
			if (pdu == NULL) {
				/* Try again on the next poll (the socket is not reported again
				 * for data already there). */
				conn->rx_retry = true;
				return 0;
			}
			memcpy(&pdu->bhs, conn->rx_buf + conn->rx_head, KEEL_ISCSI_BHS_LEN);
			conn->rx_head += KEEL_ISCSI_BHS_LEN;
			conn->rx_pdu = pdu;
			pdu->ahs_len = pdu->bhs.total_ahs_len * 4u;
			if (pdu->ahs_len > 0) {
				pdu->ahs = malloc(pdu->ahs_len);
				if (pdu->ahs == NULL) {
					return -ENOMEM;
				}
			}
			conn->rx_data_got = 0;
			conn->rx_state = pdu->ahs_len ? ISCSI_RX_AHS : (conn->params.header_digest &&
					 conn->full_feature ? ISCSI_RX_HDR_DIGEST : ISCSI_RX_DATA);
			if (conn->rx_state == ISCSI_RX_DATA) {
				goto header_done;
			}
			continue;
		case ISCSI_RX_AHS:
			conn->rx_data_got += iscsi_conn_take(conn, pdu->ahs + conn->rx_data_got,
							     pdu->ahs_len - conn->rx_data_got);
			if (conn->rx_data_got < pdu->ahs_len) {
				rc = iscsi_conn_fill(conn, 0);
				if (rc <= 0) {
					return rc;
				}
				continue;
			}
			conn->rx_data_got = 0;
			conn->rx_state = conn->params.header_digest && conn->full_feature ?
					 ISCSI_RX_HDR_DIGEST : ISCSI_RX_DATA;
			if (conn->rx_state == ISCSI_RX_DATA) {
				goto header_done;
			}
			continue;
		case ISCSI_RX_HDR_DIGEST:
			conn->rx_data_got += iscsi_conn_take(conn,
							     pdu->header_digest + conn->rx_data_got,
							     4 - conn->rx_data_got);
			if (conn->rx_data_got < 4) {
				rc = iscsi_conn_fill(conn, 0);
				if (rc <= 0) {
					return rc;
				}
				continue;
			}
			{
				struct iovec v[2] = {{&pdu->bhs, KEEL_ISCSI_BHS_LEN},
					{pdu->ahs, pdu->ahs_len}};

				if (keel_crc32c_iov(v, pdu->ahs_len ? 2 : 1, 0) !=
				    iscsi_crc_le(pdu->header_digest)) {
					ISCSI_CONN_ERRLOG(conn, "header digest error\n");
					/* RFC 7143 7.8.1: the PDU cannot be trusted, nor the
					 * framing after it. */
					return -EIO;
				}
			}
			conn->rx_data_got = 0;
			conn->rx_state = ISCSI_RX_DATA;
header_done:
			rc = iscsi_conn_pdu_header(conn, pdu);
			if (rc < 0) {
				return rc;
			}
			/* Data, padding and digest still to come. */
			need = KEEL_ALIGN_CEIL(pdu->data_len, 4);
			if (pdu->data_len && conn->params.data_digest && conn->full_feature) {
				need += 4;
			}
			conn->rx_needed = need;
			conn->rx_large = pdu->data_len >= ISCSI_RX_LARGE_PDU;
			if (rc == 1) {
				conn->rx_state = ISCSI_RX_ERROR; /* skip the data segment */
			}
			continue;
		case ISCSI_RX_DATA:
			if (conn->rx_data_got < pdu->data_len) {
				uint32_t left;

				conn->rx_data_got += iscsi_conn_take(conn,
								     pdu->data + conn->rx_data_got,
								     pdu->data_len - conn->rx_data_got);
				left = pdu->data_len - conn->rx_data_got;
				if (left >= ISCSI_DIRECT_READ_MIN) {
					/* The rest straight into place, and what follows (only
					 * the next header after a large segment). */
					rc = iscsi_conn_read_direct(conn,
								    pdu->data + conn->rx_data_got,
								    left, conn->rx_large ?
								    conn->rx_needed - pdu->data_len +
								    iscsi_conn_hdr_want(conn) : 0);
					if (rc <= 0) {
						return rc;
					}
					conn->rx_data_got += (uint32_t)rc;
					continue;
				}
				if (left > 0) {
					rc = iscsi_conn_fill(conn, 0);
					if (rc <= 0) {
						return rc;
					}
					continue;
				}
			}
			/* Padding and data digest. */
			need = conn->rx_needed - pdu->data_len;
			if (need > 0) {
				uint8_t tail[8];
				uint32_t got = conn->rx_data_got - pdu->data_len;

				if (conn->rx_tail - conn->rx_head < need - got) {
					rc = iscsi_conn_fill(conn, 0);
					if (rc <= 0) {
						return rc;
					}
					continue;
				}
				memcpy(tail, conn->rx_buf + conn->rx_head, need - got);
				conn->rx_head += need - got;
				if (conn->params.data_digest && conn->full_feature &&
				    pdu->data_len > 0) {
					memcpy(pdu->data_digest, tail + (need - got) - 4, 4);
				}
				conn->rx_data_got += need - got;
			}
			conn->rx_pdu = NULL;
			conn->rx_state = ISCSI_RX_BHS;
			rc = iscsi_conn_pdu_done(conn, pdu);
			iscsi_pdu_put(pdu);
			if (rc < 0) {
				return rc;
			}
			if (conn->state != ISCSI_CONN_STATE_LOGIN &&
			    conn->state != ISCSI_CONN_STATE_RUNNING) {
				return 0;
			}
			continue;
		case ISCSI_RX_DATA_DIGEST:
			/* The digest is read with the data's padding (ISCSI_RX_DATA). */
			conn->rx_state = ISCSI_RX_DATA;
			continue;
		case ISCSI_RX_ERROR:
			/* Discard the data segment of a PDU that was answered in its header. */
			rc = iscsi_conn_skip(conn, conn->rx_needed);
			conn->rx_needed -= (uint32_t)rc;
			if (conn->rx_needed > 0) {
				rc = iscsi_conn_fill(conn, 0);
				if (rc <= 0) {
					return rc;
				}
				continue;
			}
			conn->rx_pdu = NULL;
			conn->rx_state = ISCSI_RX_BHS;
			iscsi_pdu_put(pdu);
			continue;
		}
	}
}

static void
iscsi_conn_sock_cb(void *arg, struct keel_sock_group *group, struct keel_sock *sock)
{
	struct iscsi_conn *conn = arg;
	int rc;

	if (conn->state == ISCSI_CONN_STATE_EXITING || conn->state == ISCSI_CONN_STATE_EXITED) {
		return;
	}
	conn->rx_drained = false;
	rc = iscsi_conn_rx(conn);
	if (rc < 0) {
		iscsi_conn_drop(conn, rc == -ECONNRESET ? "closed by the initiator" :
				"receive error");
		return;
	}
	rc = iscsi_conn_flush(conn);
	if (rc < 0) {
		iscsi_conn_drop(conn, "send error");
	}
}

int
iscsi_conn_handle_pdu(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	return iscsi_conn_pdu_done(conn, pdu);
}

/*
 * Teardown.
 */
void iscsi_task_abort_for_conn(struct iscsi_task *task);
void iscsi_conn_abort_pending(struct iscsi_conn *conn);
void iscsi_sess_remove_conn(struct iscsi_conn *conn);

/* Unsent PDUs of a closed connection: their owners release what they refer to. */
static void
iscsi_conn_release_tx(struct iscsi_conn *conn)
{
	struct iscsi_pdu *pdu;

	while ((pdu = TAILQ_FIRST(&conn->tx_queue)) != NULL) {
		TAILQ_REMOVE(&conn->tx_queue, pdu, link);
		conn->tx_queued--;
		if (pdu->sent_cb != NULL) {
			pdu->sent_cb(pdu);
		}
		iscsi_pdu_put(pdu);
	}
}

static void
iscsi_conn_free(struct iscsi_conn *conn)
{
	int i;

	for (i = 0; i < ISCSI_MAX_LUN; i++) {
		if (conn->lun_descs[i] != NULL) {
			keel_scsi_lun_close(conn->lun_descs[i]);
			conn->lun_descs[i] = NULL;
		}
	}
	iscsi_conn_release_tx(conn);
	if (conn->rx_pdu != NULL) {
		iscsi_pdu_put(conn->rx_pdu);
		conn->rx_pdu = NULL;
	}
	iscsi_sess_remove_conn(conn);
	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_REMOVE(&g_iscsi.conns, conn, g_link);
	if (conn->target != NULL) {
		conn->target->num_active_conns--;
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	TAILQ_REMOVE(&conn->pg->conns, conn, pg_link);
	__atomic_fetch_sub(&conn->pg->num_conns, 1, __ATOMIC_RELAXED);
	keel_poller_unregister(&conn->login.delay_poller);
	free(conn->login.text);
	free(conn->login.rsp_text);
	free(conn->rx_buf);
	free(conn);
}

/* Called by the poll group while a connection is exiting: free it once no task is left (those
 * still at the SCSI layer, commands and task management functions alike, come back through
 * their completion callbacks, which free them). */
static bool
iscsi_conn_try_free(struct iscsi_conn *conn)
{
	if (conn->num_active > 0) {
		return false;
	}
	conn->state = ISCSI_CONN_STATE_EXITED;
	iscsi_conn_free(conn);
	return true;
}

void
iscsi_conn_drop(struct iscsi_conn *conn, const char *why)
{
	struct iscsi_task *task, *tmp;

	if (conn->state == ISCSI_CONN_STATE_EXITING || conn->state == ISCSI_CONN_STATE_EXITED) {
		return;
	}
	if (conn->full_feature || conn->state == ISCSI_CONN_STATE_LOGGED_OUT) {
		ISCSI_CONN_NOTICELOG(conn, "connection closed (%s)\n", why);
	} else {
		KEEL_INFOLOG(iscsi, "conn %u (%s): closed during login (%s)\n", conn->id,
			     conn->initiator_addr, why);
	}
	conn->state = ISCSI_CONN_STATE_EXITING;
	keel_sock_close(&conn->sock);
	/* Responses that will never be sent free their tasks; tasks at the SCSI layer finish
	 * there; the rest go now. */
	iscsi_conn_release_tx(conn);
	iscsi_conn_abort_pending(conn);
	TAILQ_FOREACH_SAFE(task, &conn->active_tasks, link, tmp) {
		iscsi_task_abort_for_conn(task);
	}
	/* The connection itself is freed by its poll group (iscsi_poll_group_poll), never here:
	 * callers anywhere down a receive or completion path still hold it. */
}

/*
 * Poll groups.
 */
static int
iscsi_poll_group_poll(void *arg)
{
	struct iscsi_poll_group *pg = arg;
	struct iscsi_conn *conn, *tmp;
	int n = 0;

	/* Responses queued since the last poll (commands completed by the layers below) go out
	 * first, as few writes as there are connections with something to send. */
	TAILQ_FOREACH_SAFE(conn, &pg->conns, pg_link, tmp) {
		if (keel_unlikely(conn->rx_retry)) {
			conn->rx_retry = false;
			iscsi_conn_sock_cb(conn, pg->sock_group, conn->sock);
			n++;
			continue;
		}
		if (keel_unlikely(!TAILQ_EMPTY(&conn->r2t_tasks)) &&
		    conn->state == ISCSI_CONN_STATE_RUNNING) {
			/* Busy until they are out: PDUs come back as the queues are written. */
			iscsi_conn_retry_r2ts(conn);
			n++;
		}
		if (!TAILQ_EMPTY(&conn->tx_queue) && conn->state != ISCSI_CONN_STATE_EXITING) {
			uint32_t before = conn->tx_queued;

			if (iscsi_conn_flush(conn) < 0) {
				iscsi_conn_drop(conn, "send error");
			} else if (conn->tx_queued != before) {
				n++;
			}
		}
	}
	n += keel_sock_group_poll(pg->sock_group, 0);
	TAILQ_FOREACH_SAFE(conn, &pg->conns, pg_link, tmp) {
		if (conn->state == ISCSI_CONN_STATE_EXITING) {
			if (iscsi_conn_try_free(conn)) {
				n++;
			}
			continue;
		}
		if (conn->state == ISCSI_CONN_STATE_LOGGED_OUT) {
			if (!TAILQ_EMPTY(&conn->tx_queue) && iscsi_conn_flush(conn) < 0) {
				iscsi_conn_drop(conn, "send error");
			} else if (TAILQ_EMPTY(&conn->tx_queue)) {
				iscsi_conn_drop(conn, "logged out");
			}
		}
	}
	return n > 0 ? KEEL_POLLER_BUSY : KEEL_POLLER_IDLE;
}

static void
iscsi_conn_send_nopin(struct iscsi_conn *conn)
{
	struct iscsi_pdu *pdu = iscsi_pdu_get();
	struct keel_iscsi_nop *nop;

	if (pdu == NULL) {
		return;
	}
	nop = (struct keel_iscsi_nop *)&pdu->bhs;
	nop->opcode = KEEL_ISCSI_OP_NOP_IN;
	nop->flags = KEEL_ISCSI_FLAG_FINAL;
	keel_to_be32(nop->itt, KEEL_ISCSI_RESERVED_TAG);
	/* A TTT other than 0xffffffff asks the initiator to answer (RFC 7143 11.19). */
	keel_to_be32(nop->ttt, conn->ttt_next++ | 0x80000000u);
	iscsi_conn_send_pdu(conn, pdu);
	conn->nop_outstanding = true;
	conn->nop_sent_tsc = keel_get_ticks();
}

/* Once a second: login timeout, NOP-In pings and their timeout, logout timers. */
static int
iscsi_poll_group_timers(void *arg)
{
	struct iscsi_poll_group *pg = arg;
	struct iscsi_conn *conn, *tmp;
	uint64_t now = keel_get_ticks(), hz = keel_get_ticks_hz();
	uint32_t interval = g_iscsi.opts.nop_in_interval, timeout = g_iscsi.opts.nop_timeout;

	TAILQ_FOREACH_SAFE(conn, &pg->conns, pg_link, tmp) {
		if (conn->state == ISCSI_CONN_STATE_LOGIN) {
			if (now > conn->login_deadline_tsc) {
				iscsi_conn_drop(conn, "login timed out");
			}
			continue;
		}
		if (conn->state != ISCSI_CONN_STATE_RUNNING) {
			continue;
		}
		if (conn->logout_request_deadline_tsc && now > conn->logout_request_deadline_tsc) {
			iscsi_conn_drop(conn, "no logout after the target asked for one");
			continue;
		}
		if (conn->nop_outstanding && timeout &&
		    now - conn->nop_sent_tsc > (uint64_t)timeout * hz) {
			ISCSI_CONN_ERRLOG(conn, "timed out waiting for NOP-Out response from "
					  "initiator\n");
			iscsi_conn_drop(conn, "NOP-Out timeout");
			continue;
		}
		if (interval && !conn->nop_outstanding && !conn->sess->params.discovery &&
		    now - conn->last_activity_tsc > (uint64_t)interval * hz) {
			iscsi_conn_send_nopin(conn);
			iscsi_conn_flush(conn);
		}
	}
	return KEEL_POLLER_IDLE;
}

static void
iscsi_poll_group_start(void *arg)
{
	struct iscsi_poll_group *pg = arg;

	pg->sock_group = keel_sock_group_create();
	pg->poller = keel_poller_register(iscsi_poll_group_poll, pg, 0);
	pg->nop_poller = keel_poller_register(iscsi_poll_group_timers, pg, 1000000);
	if (pg->sock_group == NULL || pg->poller == NULL || pg->nop_poller == NULL) {
		KEEL_ERRLOG("iSCSI poll group on core %u failed to start\n", pg->core);
		return;
	}
	keel_poller_set_interrupt_fd(pg->poller, keel_sock_group_get_fd(pg->sock_group), 0);
}

int iscsi_poll_groups_init(void);
void iscsi_poll_groups_fini(void (*done)(void *ctx), void *ctx);

int
iscsi_poll_groups_init(void)
{
	uint32_t core, n = 0;

	KEEL_ENV_FOREACH_CORE(core) {
		n++;
	}
	g_iscsi.poll_groups = calloc(n, sizeof(*g_iscsi.poll_groups));
	if (g_iscsi.poll_groups == NULL) {
		return -ENOMEM;
	}
	n = 0;
	KEEL_ENV_FOREACH_CORE(core) {
		struct iscsi_poll_group *pg = &g_iscsi.poll_groups[n];
		struct keel_cpuset mask;
		char name[32];

		keel_cpuset_zero(&mask);
		keel_cpuset_set(&mask, core, true);
		snprintf(name, sizeof(name), "iscsi_poll_group_%u", core);
		pg->core = core;
		TAILQ_INIT(&pg->conns);
		pg->thread = keel_thread_create(name, &mask);
		if (pg->thread == NULL ||
		    keel_thread_send_msg(pg->thread, iscsi_poll_group_start, pg) != 0) {
			return -ENOMEM;
		}
		n++;
		g_iscsi.num_poll_groups = n;
	}
	return 0;
}

#define ISCSI_FINI_TIMEOUT_S 10

struct pg_fini_ctx {
	void (*done)(void *ctx);
	void *ctx;
	struct keel_thread *orig;
	uint32_t idx;
	uint64_t deadline_tsc;
};

static void pg_fini_next(void *arg);

static void
pg_fini_on_thread(void *arg)
{
	struct pg_fini_ctx *c = arg;
	struct iscsi_poll_group *pg = &g_iscsi.poll_groups[c->idx];
	struct iscsi_conn *conn, *tmp;

	TAILQ_FOREACH_SAFE(conn, &pg->conns, pg_link, tmp) {
		iscsi_conn_drop(conn, "target shutting down");
	}
	if (c->deadline_tsc == 0) {
		c->deadline_tsc = keel_get_ticks() + ISCSI_FINI_TIMEOUT_S * keel_get_ticks_hz();
	}
	if (!TAILQ_EMPTY(&pg->conns)) {
		if (keel_get_ticks() < c->deadline_tsc) {
			/* Tasks still at the SCSI layer: look again after they complete. */
			iscsi_poll_group_poll(pg);
			keel_thread_send_msg(keel_get_thread(), pg_fini_on_thread, c);
			return;
		}
		/* A task never came back: stop waiting so the process can exit; what it holds
		 * stays allocated (freeing it under a running I/O would be worse). */
		KEEL_ERRLOG("iSCSI poll group on core %u: connections still busy after %u s; "
			    "stopping without them\n", pg->core, ISCSI_FINI_TIMEOUT_S);
		g_iscsi.fini_incomplete = true;
	}
	c->deadline_tsc = 0;
	keel_poller_unregister(&pg->poller);
	keel_poller_unregister(&pg->nop_poller);
	if (TAILQ_EMPTY(&pg->conns)) {
		keel_sock_group_close(&pg->sock_group);
	}
	keel_thread_exit(keel_get_thread());
	c->idx++;
	keel_thread_send_msg(c->orig, pg_fini_next, c);
}

static void
pg_fini_next(void *arg)
{
	struct pg_fini_ctx *c = arg;

	if (c->idx >= g_iscsi.num_poll_groups) {
		if (!g_iscsi.fini_incomplete) {
			free(g_iscsi.poll_groups);
			g_iscsi.poll_groups = NULL;
			g_iscsi.num_poll_groups = 0;
		}
		c->done(c->ctx);
		free(c);
		return;
	}
	keel_thread_send_msg(g_iscsi.poll_groups[c->idx].thread, pg_fini_on_thread, c);
}

void
iscsi_poll_groups_fini(void (*done)(void *ctx), void *ctx)
{
	struct pg_fini_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		done(ctx);
		return;
	}
	c->done = done;
	c->ctx = ctx;
	c->orig = keel_get_thread();
	pg_fini_next(c);
}
