/*
 * Unit tests of the PDU receive and transmit paths (conn.c's receive state machine and opcode
 * table, pdu.c's transmit queue): framing of BHS, AHS, data segments, padding and digests from
 * a byte stream fed in any split, the answers to malformed PDUs, StatSN rules, and partial
 * writes. The socket is a byte buffer; the opcode handlers record what they were given.
 */
#include "keel/stdinc.h"
#include "keel/accel.h"
#include "keel/env.h"
#include "keel/sock.h"
#include "keel/thread.h"
#include "keel_mock.h"
#include "ut.h"

#include "iscsi/conn.c"
#include "iscsi/pdu.c"

struct iscsi_globals g_iscsi = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.conns = TAILQ_HEAD_INITIALIZER(g_iscsi.conns),
	.sessions = TAILQ_HEAD_INITIALIZER(g_iscsi.sessions),
};

/*
 * CRC32C, written out here (bitwise) so that the digests are checked against an independent
 * implementation.
 */
uint32_t
keel_crc32c_iov(const struct iovec *iov, int iovcnt, uint32_t seed)
{
	uint32_t crc = ~seed;
	int i, b;
	size_t j;

	for (i = 0; i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;

		for (j = 0; j < iov[i].iov_len; j++) {
			crc ^= p[j];
			for (b = 0; b < 8; b++) {
				crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
			}
		}
	}
	return ~crc;
}

/*
 * The socket: bytes to receive (handed out at most g_rx_chunk at a time) and bytes written
 * (at most g_tx_chunk per writev).
 */
static uint8_t g_rx[1 << 20];
static size_t g_rx_len, g_rx_pos, g_rx_chunk = SIZE_MAX;
static uint8_t g_tx[1 << 20];
static size_t g_tx_len, g_tx_chunk = SIZE_MAX;

ssize_t
keel_sock_recv(struct keel_sock *sock, void *buf, size_t len)
{
	size_t n = KEEL_MIN(KEEL_MIN(len, g_rx_len - g_rx_pos), g_rx_chunk);

	if (n == 0) {
		errno = EAGAIN;
		return -1;
	}
	memcpy(buf, g_rx + g_rx_pos, n);
	g_rx_pos += n;
	return (ssize_t)n;
}

ssize_t
keel_sock_readv(struct keel_sock *sock, struct iovec *iov, int iovcnt)
{
	ssize_t n, total = 0;
	int i;

	for (i = 0; i < iovcnt; i++) {
		n = keel_sock_recv(sock, iov[i].iov_base, iov[i].iov_len);
		if (n < 0) {
			return total > 0 ? total : n;
		}
		total += n;
		if ((size_t)n < iov[i].iov_len) {
			break;
		}
	}
	return total;
}

ssize_t
keel_sock_writev(struct keel_sock *sock, struct iovec *iov, int iovcnt)
{
	size_t n = 0, k;
	int i;

	for (i = 0; i < iovcnt && n < g_tx_chunk; i++) {
		k = KEEL_MIN(iov[i].iov_len, g_tx_chunk - n);
		memcpy(g_tx + g_tx_len, iov[i].iov_base, k);
		g_tx_len += k;
		n += k;
	}
	return (ssize_t)n;
}

int
keel_sock_close(struct keel_sock **psock)
{
	*psock = NULL;
	return 0;
}

void *
keel_mempool_get(struct keel_mempool *pool)
{
	return calloc(1, sizeof(struct iscsi_pdu));
}

void
keel_mempool_put(struct keel_mempool *pool, void *obj)
{
	free(obj);
}

uint64_t
keel_get_ticks(void)
{
	return 1000;
}

uint64_t
keel_thread_get_last_tsc(struct keel_thread *thread)
{
	return 1000;
}

uint64_t
keel_get_ticks_hz(void)
{
	return 1000;
}

KEEL_STUB(keel_sock_getaddr, int, (struct keel_sock *s, char *sa, int sl, uint16_t *sp, char *ca,
				   int cl, uint16_t *cp), 0)
KEEL_STUB(keel_sock_group_add_sock, int, (struct keel_sock_group *g, struct keel_sock *s,
					  keel_sock_cb cb, void *arg), 0)
KEEL_STUB(keel_sock_group_poll, int, (struct keel_sock_group *g, int max), 0)
KEEL_STUB(keel_sock_group_create, struct keel_sock_group *, (void), NULL)
KEEL_STUB(keel_sock_group_get_fd, int, (struct keel_sock_group *g), -1)
KEEL_STUB(keel_sock_group_close, int, (struct keel_sock_group **g), 0)
KEEL_STUB(keel_thread_send_msg, int, (const struct keel_thread *t, keel_msg_fn fn, void *arg), 0)
KEEL_STUB(keel_thread_create, struct keel_thread *, (const char *name,
						     const struct keel_cpuset *mask), NULL)
KEEL_STUB(keel_get_thread, struct keel_thread *, (void), NULL)
KEEL_STUB_V(keel_thread_exit, (struct keel_thread *t))
KEEL_STUB(keel_poller_register_named, struct keel_poller *, (keel_poller_fn fn, void *arg,
							     uint64_t period_us, const char *name),
	  NULL)
KEEL_STUB_V(keel_poller_unregister, (struct keel_poller **p))
KEEL_STUB(keel_poller_set_interrupt_fd, int, (struct keel_poller *p, int fd, uint32_t events), 0)
KEEL_STUB(keel_env_get_first_core, uint32_t, (void), KEEL_ENV_CORE_ANY)
KEEL_STUB(keel_env_get_next_core, uint32_t, (uint32_t prev), KEEL_ENV_CORE_ANY)
KEEL_STUB_V(keel_scsi_lun_close, (struct keel_scsi_lun_desc *d))
KEEL_STUB_V(iscsi_task_abort_for_conn, (struct iscsi_task *t))
KEEL_STUB_V(iscsi_conn_abort_pending, (struct iscsi_conn *c))
KEEL_STUB(iscsi_conn_retry_r2ts, bool, (struct iscsi_conn *c), false)
KEEL_STUB_V(iscsi_sess_remove_conn, (struct iscsi_conn *c))

/*
 * Opcode handlers: record the PDU they got.
 */
static struct {
	int calls;
	uint8_t op;
	uint32_t data_len;
	uint8_t data[8192];
	uint32_t ahs_len;
} g_got;
static int g_hdr_rc;

static int
record(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	g_got.calls++;
	g_got.op = pdu->bhs.opcode & KEEL_ISCSI_OPCODE_MASK;
	g_got.data_len = pdu->data_len;
	g_got.ahs_len = pdu->ahs_len;
	if (pdu->data_len > 0) { /* no data: pdu->data may be NULL */
		memcpy(g_got.data, pdu->data, KEEL_MIN(pdu->data_len, sizeof(g_got.data)));
	}
	return 0;
}

int iscsi_login_handle(struct iscsi_conn *c, struct iscsi_pdu *p) { return record(c, p); }
int iscsi_op_nop_out(struct iscsi_conn *c, struct iscsi_pdu *p) { return record(c, p); }
int iscsi_op_scsi_cmd(struct iscsi_conn *c, struct iscsi_pdu *p) { return record(c, p); }
int iscsi_op_task_req(struct iscsi_conn *c, struct iscsi_pdu *p) { return record(c, p); }
int iscsi_op_text(struct iscsi_conn *c, struct iscsi_pdu *p) { return record(c, p); }
int iscsi_op_data_out(struct iscsi_conn *c, struct iscsi_pdu *p) { return record(c, p); }
int iscsi_op_logout(struct iscsi_conn *c, struct iscsi_pdu *p) { return record(c, p); }
int iscsi_op_snack(struct iscsi_conn *c, struct iscsi_pdu *p) { return record(c, p); }
int iscsi_op_scsi_cmd_hdr(struct iscsi_conn *c, struct iscsi_pdu *p) { return g_hdr_rc; }
int iscsi_op_data_out_hdr(struct iscsi_conn *c, struct iscsi_pdu *p) { return g_hdr_rc; }

/*
 * Helpers.
 */
static struct iscsi_poll_group g_pg;
static struct iscsi_conn *g_conn;

static void
setup(bool full_feature, bool hd, bool dd)
{
	memset(&g_got, 0, sizeof(g_got));
	g_hdr_rc = 0;
	g_rx_len = g_rx_pos = g_tx_len = 0;
	g_rx_chunk = g_tx_chunk = SIZE_MAX;
	TAILQ_INIT(&g_pg.conns);
	g_conn = calloc(1, sizeof(*g_conn));
	g_conn->rx_buf_size = 4096;	/* small, so that large segments wrap it */
	g_conn->rx_buf = malloc(g_conn->rx_buf_size);
	g_conn->sock = (struct keel_sock *)&g_pg;	/* never dereferenced: recv/writev are fakes */
	g_conn->pg = &g_pg;
	g_conn->state = full_feature ? ISCSI_CONN_STATE_RUNNING : ISCSI_CONN_STATE_LOGIN;
	g_conn->full_feature = full_feature;
	g_conn->params.header_digest = hd;
	g_conn->params.data_digest = dd;
	g_conn->params.max_recv_dsl = 8192;
	g_conn->params.max_send_dsl = 8192;
	g_conn->statsn = 100;
	TAILQ_INIT(&g_conn->tx_queue);
	TAILQ_INIT(&g_conn->active_tasks);
	TAILQ_INIT(&g_conn->r2t_tasks);
	TAILQ_INSERT_TAIL(&g_iscsi.conns, g_conn, g_link);
	TAILQ_INSERT_TAIL(&g_pg.conns, g_conn, pg_link);
	g_pg.num_conns = 1;
}

static void
teardown(void)
{
	if (g_conn->state != ISCSI_CONN_STATE_EXITED) {
		iscsi_conn_drop(g_conn, "test over");
	}
	g_conn = NULL;
}

static void
le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
crc(const void *buf, size_t len)
{
	struct iovec v = {(void *)buf, len};

	return keel_crc32c_iov(&v, 1, 0);
}

/* Append a PDU to the receive stream: BHS, ahs_len bytes of AHS, digests as the connection
 * has them (bad_dd spoils the data digest). */
static void
feed(uint8_t op, const void *data, uint32_t len, uint32_t ahs_len, bool hd, bool dd, bool bad_dd)
{
	uint8_t *p = g_rx + g_rx_len, *start = p;
	uint32_t pad = (4 - (len & 3)) & 3;

	memset(p, 0, KEEL_ISCSI_BHS_LEN);
	p[0] = op;
	p[1] = 0x80;
	p[4] = (uint8_t)(ahs_len / 4);
	p[5] = (uint8_t)(len >> 16);
	p[6] = (uint8_t)(len >> 8);
	p[7] = (uint8_t)len;
	p += KEEL_ISCSI_BHS_LEN;
	memset(p, 0xa5, ahs_len);
	p += ahs_len;
	if (hd) {
		le32(p, crc(start, KEEL_ISCSI_BHS_LEN + ahs_len));
		p += 4;
	}
	if (len > 0) {
		memcpy(p, data, len);
		memset(p + len, 0, pad);
		if (dd) {
			le32(p + len + pad, crc(p, len + pad) ^ (bad_dd ? 1u : 0u));
			p += 4;
		}
		p += len + pad;
	}
	g_rx_len += (size_t)(p - start);
}

static int
rx(void)
{
	int rc = 0;

	/* As the poll group would: call again while bytes are left. */
	while (g_rx_pos < g_rx_len || g_conn->rx_head < g_conn->rx_tail) {
		size_t before = g_rx_pos;
		uint32_t head = g_conn->rx_head;

		g_conn->rx_drained = false;	/* the socket reported data */
		rc = iscsi_conn_rx(g_conn);
		if (rc < 0 || (g_rx_pos == before && g_conn->rx_head == head)) {
			break;
		}
	}
	return rc;
}

/* The first PDU written: its opcode, and byte 2 (Reject reason). */
static uint8_t
tx_op(size_t off)
{
	return g_tx[off] & KEEL_ISCSI_OPCODE_MASK;
}

/*
 * Receive.
 */
static void
a_pdu_with_its_padding_is_dispatched_with_its_data(void)
{
	setup(true, false, false);
	feed(KEEL_ISCSI_OP_NOP_OUT | 0x40, "hello", 5, 0, false, false, false);
	feed(KEEL_ISCSI_OP_NOP_OUT | 0x40, "next!!!!", 8, 0, false, false, false);
	CU_ASSERT(rx() == 0);
	CU_ASSERT(g_got.calls == 2);
	CU_ASSERT(g_got.data_len == 8);
	CU_ASSERT(memcmp(g_got.data, "next!!!!", 8) == 0);
	CU_ASSERT(g_rx_pos == g_rx_len);	/* the padding of the first was consumed */
	teardown();
}

static void
a_pdu_arriving_one_byte_at_a_time_is_reassembled(void)
{
	uint8_t data[6000];
	size_t i;

	for (i = 0; i < sizeof(data); i++) {
		data[i] = (uint8_t)(i * 7);
	}
	setup(true, true, true);
	feed(KEEL_ISCSI_OP_NOP_OUT | 0x40, data, 5999, 8, true, true, false);
	g_rx_chunk = 1;
	CU_ASSERT(rx() == 0);
	CU_ASSERT(g_got.calls == 1);
	CU_ASSERT(g_got.ahs_len == 8);
	CU_ASSERT(g_got.data_len == 5999);
	CU_ASSERT(memcmp(g_got.data, data, 5999) == 0);
	teardown();
}

static void
a_data_segment_larger_than_the_receive_buffer_lands_whole(void)
{
	static uint8_t data[8192];
	size_t i;

	for (i = 0; i < sizeof(data); i++) {
		data[i] = (uint8_t)(i ^ (i >> 8));
	}
	setup(true, false, true);
	feed(KEEL_ISCSI_OP_NOP_OUT | 0x40, data, sizeof(data), 0, false, true, false);
	g_rx_chunk = 3000;
	CU_ASSERT(rx() == 0);
	CU_ASSERT(g_got.calls == 1 && g_got.data_len == sizeof(data));
	CU_ASSERT(memcmp(g_got.data, data, sizeof(data)) == 0);
	teardown();
}

static void
digests_are_not_read_during_login(void)
{
	/* Digests start with the full feature phase (RFC 7143 13.1). */
	setup(false, true, true);
	feed(KEEL_ISCSI_OP_LOGIN_REQ | 0x40, "InitiatorName=x", 16, 0, false, false, false);
	CU_ASSERT(rx() == 0);
	CU_ASSERT(g_got.calls == 1 && g_got.op == KEEL_ISCSI_OP_LOGIN_REQ);
	CU_ASSERT(g_got.data_len == 16);
	teardown();
}

static void
a_wrong_header_digest_drops_the_connection(void)
{
	setup(true, true, false);
	feed(KEEL_ISCSI_OP_NOP_OUT | 0x40, NULL, 0, 0, true, false, false);
	g_rx[KEEL_ISCSI_BHS_LEN] ^= 0xff;
	CU_ASSERT(rx() == -EIO);
	CU_ASSERT(g_got.calls == 0);
	teardown();
}

static void
a_wrong_data_digest_on_a_nop_out_is_rejected_and_the_stream_goes_on(void)
{
	setup(true, false, true);
	feed(KEEL_ISCSI_OP_NOP_OUT | 0x40, "ping", 4, 0, false, true, true);
	feed(KEEL_ISCSI_OP_NOP_OUT | 0x40, "pong", 4, 0, false, true, false);
	CU_ASSERT(rx() == 0);
	CU_ASSERT(g_got.calls == 1 && memcmp(g_got.data, "pong", 4) == 0);
	CU_ASSERT(iscsi_conn_flush(g_conn) == 0);
	CU_ASSERT(tx_op(0) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_tx[2] == KEEL_ISCSI_REJECT_DATA_DIGEST_ERROR);
	teardown();
}

static void
a_wrong_data_digest_on_a_command_is_rejected_and_drops_the_connection(void)
{
	setup(true, false, true);
	feed(KEEL_ISCSI_OP_SCSI_CMD, "data", 4, 0, false, true, true);
	CU_ASSERT(rx() == -EIO);
	CU_ASSERT(g_got.calls == 0);
	CU_ASSERT(g_tx_len >= KEEL_ISCSI_BHS_LEN && tx_op(0) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_tx[2] == KEEL_ISCSI_REJECT_DATA_DIGEST_ERROR);
	teardown();
}

static void
a_segment_longer_than_max_recv_data_segment_length_is_rejected_and_dropped(void)
{
	static uint8_t data[8196];

	setup(true, false, false);
	feed(KEEL_ISCSI_OP_NOP_OUT | 0x40, data, sizeof(data), 0, false, false, false);
	CU_ASSERT(rx() < 0);
	CU_ASSERT(g_got.calls == 0);
	CU_ASSERT(tx_op(0) == KEEL_ISCSI_OP_REJECT && g_tx[2] == KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
	teardown();
}

static void
a_login_text_may_exceed_8192_bytes_up_to_the_text_limit(void)
{
	static uint8_t data[ISCSI_TEXT_MAX_LEN + 4];

	setup(false, false, false);
	feed(KEEL_ISCSI_OP_LOGIN_REQ | 0x40, data, 16384, 0, false, false, false);
	CU_ASSERT(rx() == 0);
	CU_ASSERT(g_got.calls == 1 && g_got.data_len == 16384);
	teardown();
	setup(false, false, false);
	feed(KEEL_ISCSI_OP_LOGIN_REQ | 0x40, data, sizeof(data), 0, false, false, false);
	CU_ASSERT(rx() < 0);
	CU_ASSERT(g_got.calls == 0);
	teardown();
}

static void
an_unknown_opcode_is_rejected_and_its_data_skipped(void)
{
	setup(true, true, true);
	feed(0x1c, "0123456789", 10, 4, true, true, false);
	feed(KEEL_ISCSI_OP_NOP_OUT | 0x40, "ok", 2, 0, true, true, false);
	CU_ASSERT(rx() == 0);
	CU_ASSERT(g_got.calls == 1 && g_got.op == KEEL_ISCSI_OP_NOP_OUT);
	CU_ASSERT(g_got.data_len == 2 && memcmp(g_got.data, "ok", 2) == 0);
	CU_ASSERT(iscsi_conn_flush(g_conn) == 0);
	CU_ASSERT(tx_op(0) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_tx[2] == KEEL_ISCSI_REJECT_COMMAND_NOT_SUPPORTED);
	teardown();
}

static void
an_unknown_opcode_during_login_drops_the_connection(void)
{
	setup(false, false, false);
	feed(0x1c, NULL, 0, 0, false, false, false);
	CU_ASSERT(rx() < 0);
	CU_ASSERT(g_got.calls == 0);
	teardown();
}

static void
a_login_request_in_the_full_feature_phase_is_a_protocol_error(void)
{
	setup(true, false, false);
	feed(KEEL_ISCSI_OP_LOGIN_REQ | 0x40, "a=b", 4, 0, false, false, false);
	feed(KEEL_ISCSI_OP_NOP_OUT | 0x40, NULL, 0, 0, false, false, false);
	CU_ASSERT(rx() == 0);
	CU_ASSERT(g_got.calls == 1 && g_got.op == KEEL_ISCSI_OP_NOP_OUT);
	CU_ASSERT(iscsi_conn_flush(g_conn) == 0);
	CU_ASSERT(tx_op(0) == KEEL_ISCSI_OP_REJECT && g_tx[2] == KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
	teardown();
}

static void
a_pdu_its_header_phase_answered_has_its_data_discarded(void)
{
	/* A header handler that rejects (returns 1): the payload phase never runs, and the data
	 * segment is skipped so that the next PDU is framed right. */
	setup(true, false, false);
	g_hdr_rc = 1;
	feed(KEEL_ISCSI_OP_DATA_OUT, "zzzzzzzzz", 9, 0, false, false, false);
	g_hdr_rc = 1;
	CU_ASSERT(rx() == 0);
	CU_ASSERT(g_got.calls == 0);
	g_hdr_rc = 0;
	feed(KEEL_ISCSI_OP_NOP_OUT | 0x40, "x", 1, 0, false, false, false);
	CU_ASSERT(rx() == 0);
	CU_ASSERT(g_got.calls == 1 && g_got.op == KEEL_ISCSI_OP_NOP_OUT && g_got.data[0] == 'x');
	teardown();
}

static void
a_pdu_cut_short_waits_for_the_rest(void)
{
	setup(true, false, false);
	feed(KEEL_ISCSI_OP_NOP_OUT | 0x40, "abcdefgh", 8, 0, false, false, false);
	g_rx_len -= 5;
	CU_ASSERT(rx() == 0);	/* waiting for the rest */
	CU_ASSERT(g_got.calls == 0);
	teardown();
}

/*
 * Transmit.
 */
static struct iscsi_pdu *
out_pdu(uint8_t op, uint32_t itt, const char *data)
{
	struct iscsi_pdu *pdu = iscsi_pdu_get();

	pdu->bhs.opcode = op;
	keel_to_be32(pdu->bhs.itt, itt);
	if (data != NULL) {
		pdu->data = pdu->small_data;
		pdu->data_len = (uint32_t)strlen(data);
		memcpy(pdu->data, data, pdu->data_len);
	}
	return pdu;
}

static void
a_sent_pdu_has_its_length_padding_and_digests(void)
{
	uint32_t pad_crc;

	setup(true, true, true);
	iscsi_conn_send_pdu(g_conn, out_pdu(KEEL_ISCSI_OP_NOP_IN, 1, "hello"));
	CU_ASSERT(iscsi_conn_flush(g_conn) == 0);
	CU_ASSERT(g_tx_len == KEEL_ISCSI_BHS_LEN + 4 + 8 + 4);
	CU_ASSERT(g_tx[5] == 0 && g_tx[6] == 0 && g_tx[7] == 5);
	CU_ASSERT(g_tx[KEEL_ISCSI_BHS_LEN] == (uint8_t)crc(g_tx, KEEL_ISCSI_BHS_LEN));
	CU_ASSERT(memcmp(g_tx + KEEL_ISCSI_BHS_LEN + 4, "hello\0\0\0", 8) == 0);
	pad_crc = crc(g_tx + KEEL_ISCSI_BHS_LEN + 4, 8);
	CU_ASSERT(g_tx[KEEL_ISCSI_BHS_LEN + 12] == (uint8_t)pad_crc);
	CU_ASSERT(g_tx[KEEL_ISCSI_BHS_LEN + 15] == (uint8_t)(pad_crc >> 24));
	CU_ASSERT(TAILQ_EMPTY(&g_conn->tx_queue));
	teardown();
}

static void
responses_take_statsn_in_turn_and_unsolicited_pdus_do_not(void)
{
	setup(true, false, false);
	iscsi_conn_send_pdu(g_conn, out_pdu(KEEL_ISCSI_OP_SCSI_RSP, 1, NULL));
	iscsi_conn_send_pdu(g_conn, out_pdu(KEEL_ISCSI_OP_NOP_IN, KEEL_ISCSI_RESERVED_TAG, NULL));
	iscsi_conn_send_pdu(g_conn, out_pdu(KEEL_ISCSI_OP_R2T, 2, NULL));
	iscsi_conn_send_pdu(g_conn, out_pdu(KEEL_ISCSI_OP_NOP_IN, 3, NULL));
	CU_ASSERT(iscsi_conn_flush(g_conn) == 0);
	CU_ASSERT(g_tx_len == 4 * KEEL_ISCSI_BHS_LEN);
	CU_ASSERT(keel_from_be32(g_tx + 24) == 100);
	CU_ASSERT(keel_from_be32(g_tx + 48 + 24) == 101);	/* the next, not taken */
	CU_ASSERT(keel_from_be32(g_tx + 96 + 24) == 101);	/* R2T: StatSN, not taken */
	CU_ASSERT(keel_from_be32(g_tx + 144 + 24) == 101);
	CU_ASSERT(g_conn->statsn == 102);
	teardown();
}

static void
a_partial_write_resumes_where_it_stopped(void)
{
	static uint8_t want[4096];
	size_t len;
	int i;

	setup(true, true, true);
	for (i = 0; i < 5; i++) {
		iscsi_conn_send_pdu(g_conn, out_pdu(KEEL_ISCSI_OP_NOP_IN, (uint32_t)i, "abcdefghi"));
	}
	CU_ASSERT(iscsi_conn_flush(g_conn) == 0);
	len = g_tx_len;
	memcpy(want, g_tx, len);
	teardown();

	setup(true, true, true);
	g_tx_chunk = 7;
	for (i = 0; i < 5; i++) {
		iscsi_conn_send_pdu(g_conn, out_pdu(KEEL_ISCSI_OP_NOP_IN, (uint32_t)i, "abcdefghi"));
	}
	while (!TAILQ_EMPTY(&g_conn->tx_queue)) {
		CU_ASSERT_FATAL(iscsi_conn_flush(g_conn) == 0);
	}
	CU_ASSERT(g_tx_len == len && memcmp(g_tx, want, len) == 0);
	teardown();
}

static const struct keel_ut_test g_tests[] = {
	KEEL_UT_TEST(a_pdu_with_its_padding_is_dispatched_with_its_data),
	KEEL_UT_TEST(a_pdu_arriving_one_byte_at_a_time_is_reassembled),
	KEEL_UT_TEST(a_data_segment_larger_than_the_receive_buffer_lands_whole),
	KEEL_UT_TEST(digests_are_not_read_during_login),
	KEEL_UT_TEST(a_wrong_header_digest_drops_the_connection),
	KEEL_UT_TEST(a_wrong_data_digest_on_a_nop_out_is_rejected_and_the_stream_goes_on),
	KEEL_UT_TEST(a_wrong_data_digest_on_a_command_is_rejected_and_drops_the_connection),
	KEEL_UT_TEST(a_segment_longer_than_max_recv_data_segment_length_is_rejected_and_dropped),
	KEEL_UT_TEST(a_login_text_may_exceed_8192_bytes_up_to_the_text_limit),
	KEEL_UT_TEST(an_unknown_opcode_is_rejected_and_its_data_skipped),
	KEEL_UT_TEST(an_unknown_opcode_during_login_drops_the_connection),
	KEEL_UT_TEST(a_login_request_in_the_full_feature_phase_is_a_protocol_error),
	KEEL_UT_TEST(a_pdu_its_header_phase_answered_has_its_data_discarded),
	KEEL_UT_TEST(a_pdu_cut_short_waits_for_the_rest),
	KEEL_UT_TEST(a_sent_pdu_has_its_length_padding_and_digests),
	KEEL_UT_TEST(responses_take_statsn_in_turn_and_unsolicited_pdus_do_not),
	KEEL_UT_TEST(a_partial_write_resumes_where_it_stopped),
};

int
main(void)
{
	return keel_ut_run("iscsi_pdu", g_tests, KEEL_COUNTOF(g_tests), NULL, NULL);
}
