/*
 * PDUs: objects from a pool, data segments, the transmit queue written with vectored sends
 * (several PDUs per writev, partial writes resumed), digests, and Reject.
 */
#include "keel/stdinc.h"
#include "keel/accel.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/sock.h"
#include "keel/util.h"

#include "iscsi_internal.h"

#define ISCSI_TX_IOVS 256

struct iscsi_pdu *
iscsi_pdu_get(void)
{
	struct iscsi_pdu *pdu = keel_mempool_get(g_iscsi.pdu_pool);

	if (pdu == NULL) {
		return NULL;
	}
	memset(pdu, 0, offsetof(struct iscsi_pdu, iov));
	return pdu;
}

void
iscsi_pdu_put(struct iscsi_pdu *pdu)
{
	if (pdu == NULL) {
		return;
	}
	if (pdu->data_owned) {
		if (pdu->data_from_pool) {
			keel_mempool_put(g_iscsi.buf_pool, pdu->data);
		} else {
			free(pdu->data);
		}
	}
	free(pdu->ahs);
	keel_mempool_put(g_iscsi.pdu_pool, pdu);
}

int
iscsi_pdu_alloc_data(struct iscsi_pdu *pdu, uint32_t len)
{
	if (len <= ISCSI_PDU_SMALL_DATA) {
		pdu->data = pdu->small_data;
		pdu->data_owned = false;
		pdu->data_buf_len = ISCSI_PDU_SMALL_DATA;
		return 0;
	}
	if (len <= g_iscsi.buf_pool_elt_size) {
		pdu->data = keel_mempool_get(g_iscsi.buf_pool);
		if (pdu->data != NULL) {
			pdu->data_from_pool = true;
			pdu->data_owned = true;
			pdu->data_buf_len = g_iscsi.buf_pool_elt_size;
			return 0;
		}
	}
	pdu->data = malloc(len);
	if (pdu->data == NULL) {
		return -ENOMEM;
	}
	pdu->data_from_pool = false;
	pdu->data_owned = true;
	pdu->data_buf_len = len;
	return 0;
}

uint32_t
iscsi_pdu_data_segment_len(const struct keel_iscsi_bhs *bhs)
{
	return keel_from_be24(bhs->data_segment_len);
}

void
iscsi_pdu_set_data_segment_len(struct keel_iscsi_bhs *bhs, uint32_t len)
{
	keel_to_be24(bhs->data_segment_len, len);
}

/* Fill the PDU's iovecs: BHS (+AHS), header digest, data, padding, data digest. */
static void
iscsi_pdu_build_iovs(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	uint32_t pad = (4 - (pdu->data_len & 3)) & 3;
	uint32_t crc;
	int n = 0;

	iscsi_pdu_set_data_segment_len(&pdu->bhs, pdu->data_len);
	pdu->bhs.total_ahs_len = (uint8_t)(pdu->ahs_len / 4);
	pdu->iov[n].iov_base = &pdu->bhs;
	pdu->iov[n++].iov_len = KEEL_ISCSI_BHS_LEN;
	if (pdu->ahs_len) {
		pdu->iov[n].iov_base = pdu->ahs;
		pdu->iov[n++].iov_len = pdu->ahs_len;
	}
	if (conn->params.header_digest && conn->full_feature) {
		crc = keel_crc32c_iov(pdu->iov, n, 0);
		pdu->header_digest[0] = (uint8_t)crc;
		pdu->header_digest[1] = (uint8_t)(crc >> 8);
		pdu->header_digest[2] = (uint8_t)(crc >> 16);
		pdu->header_digest[3] = (uint8_t)(crc >> 24);
		pdu->iov[n].iov_base = pdu->header_digest;
		pdu->iov[n++].iov_len = 4;
	}
	if (pdu->data_len) {
		int first = n;

		pdu->iov[n].iov_base = pdu->data;
		pdu->iov[n++].iov_len = pdu->data_len;
		if (pad) {
			memset(pdu->pad, 0, sizeof(pdu->pad));
			pdu->iov[n].iov_base = pdu->pad;
			pdu->iov[n++].iov_len = pad;
		}
		if (conn->params.data_digest && conn->full_feature) {
			crc = keel_crc32c_iov(&pdu->iov[first], n - first, 0);
			pdu->data_digest[0] = (uint8_t)crc;
			pdu->data_digest[1] = (uint8_t)(crc >> 8);
			pdu->data_digest[2] = (uint8_t)(crc >> 16);
			pdu->data_digest[3] = (uint8_t)(crc >> 24);
			pdu->iov[n].iov_base = pdu->data_digest;
			pdu->iov[n++].iov_len = 4;
		}
	}
	pdu->iovcnt = n;
	pdu->send_offset = 0;
	pdu->send_len = 0;
	for (n = 0; n < pdu->iovcnt; n++) {
		pdu->send_len += pdu->iov[n].iov_len;
	}
}

/* StatSN, ExpCmdSN, MaxCmdSN of target PDUs that carry them (byte offsets 24, 28, 32). */
static void
iscsi_pdu_fill_sns(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	uint8_t *b = (uint8_t *)&pdu->bhs;
	uint8_t op = pdu->bhs.opcode & KEEL_ISCSI_OPCODE_MASK;
	struct iscsi_sess *sess = conn->sess;
	uint32_t exp = sess ? sess->exp_cmdsn : conn->login.cmdsn;
	uint32_t max = sess ? sess->max_cmdsn : conn->login.cmdsn;

	switch (op) {
	case KEEL_ISCSI_OP_SCSI_RSP:
	case KEEL_ISCSI_OP_TASK_RSP:
	case KEEL_ISCSI_OP_LOGIN_RSP:
	case KEEL_ISCSI_OP_TEXT_RSP:
	case KEEL_ISCSI_OP_LOGOUT_RSP:
	case KEEL_ISCSI_OP_ASYNC:
	case KEEL_ISCSI_OP_REJECT:
		pdu->is_rsp = true;
		pdu->statsn = conn->statsn++;
		keel_to_be32(b + 24, pdu->statsn);
		break;
	case KEEL_ISCSI_OP_NOP_IN:
		/* A NOP-In answering a NOP-Out advances StatSN; an unsolicited one does not. */
		if (keel_from_be32(pdu->bhs.itt) != KEEL_ISCSI_RESERVED_TAG) {
			pdu->is_rsp = true;
			pdu->statsn = conn->statsn++;
		} else {
			pdu->statsn = conn->statsn;
		}
		keel_to_be32(b + 24, pdu->statsn);
		break;
	case KEEL_ISCSI_OP_DATA_IN:
		/* StatSN only in the final Data-In that carries status. */
		if (pdu->bhs.flags & KEEL_ISCSI_DATAIN_STATUS) {
			pdu->is_rsp = true;
			pdu->statsn = conn->statsn++;
			keel_to_be32(b + 24, pdu->statsn);
		}
		break;
	case KEEL_ISCSI_OP_R2T:
		keel_to_be32(b + 24, conn->statsn);
		break;
	default:
		return;
	}
	keel_to_be32(b + 28, exp);
	keel_to_be32(b + 32, max);
}

void
iscsi_conn_send_pdu(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	iscsi_pdu_fill_sns(conn, pdu);
	iscsi_pdu_build_iovs(conn, pdu);
	TAILQ_INSERT_TAIL(&conn->tx_queue, pdu, link);
	conn->tx_queued++;
}

static void
iscsi_pdu_sent(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	TAILQ_REMOVE(&conn->tx_queue, pdu, link);
	conn->tx_queued--;
	if (pdu->sent_cb != NULL) {
		pdu->sent_cb(pdu);
	}
	iscsi_pdu_put(pdu);
}

int
iscsi_conn_flush(struct iscsi_conn *conn)
{
	struct iovec iov[ISCSI_TX_IOVS];
	struct iscsi_pdu *pdu;
	ssize_t rc;
	size_t done, total;
	int n, i;

	while (!TAILQ_EMPTY(&conn->tx_queue)) {
		/* Gather the queued PDUs, the first from where the last write stopped. */
		n = 0;
		total = 0;
		TAILQ_FOREACH(pdu, &conn->tx_queue, link) {
			size_t skip = pdu->send_offset;

			if (n + pdu->iovcnt > ISCSI_TX_IOVS) {
				break;
			}
			total += pdu->send_len - skip;
			for (i = 0; i < pdu->iovcnt; i++) {
				if (skip >= pdu->iov[i].iov_len) {
					skip -= pdu->iov[i].iov_len;
					continue;
				}
				iov[n].iov_base = (uint8_t *)pdu->iov[i].iov_base + skip;
				iov[n].iov_len = pdu->iov[i].iov_len - skip;
				skip = 0;
				n++;
			}
		}
		if (n == 0) {
			return 0;
		}
		rc = keel_sock_writev(conn->sock, iov, n);
		if (rc < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				return 0;
			}
			return -errno;
		}
		done = (size_t)rc;
		while (done > 0 && (pdu = TAILQ_FIRST(&conn->tx_queue)) != NULL) {
			size_t left = pdu->send_len - pdu->send_offset;

			if (done < left) {
				pdu->send_offset += done;
				done = 0;
				break;
			}
			done -= left;
			iscsi_pdu_sent(conn, pdu);
		}
		if ((size_t)rc < total) {
			/* The socket's send buffer is full: the rest goes on a later poll. */
			return 0;
		}
	}
	return 0;
}

void
iscsi_conn_send_reject(struct iscsi_conn *conn, const struct keel_iscsi_bhs *hdr, uint8_t reason)
{
	struct iscsi_pdu *pdu = iscsi_pdu_get();
	struct keel_iscsi_reject *rej;

	if (pdu == NULL) {
		return;
	}
	rej = (struct keel_iscsi_reject *)&pdu->bhs;
	rej->opcode = KEEL_ISCSI_OP_REJECT;
	rej->flags = KEEL_ISCSI_FLAG_FINAL;
	rej->reason = reason;
	keel_to_be32(rej->itt, KEEL_ISCSI_RESERVED_TAG);
	/* The data segment is the header of the rejected PDU. */
	memcpy(pdu->small_data, hdr, KEEL_ISCSI_BHS_LEN);
	pdu->data = pdu->small_data;
	pdu->data_len = KEEL_ISCSI_BHS_LEN;
	iscsi_conn_send_pdu(conn, pdu);
}
