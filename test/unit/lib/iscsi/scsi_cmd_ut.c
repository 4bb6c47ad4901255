/*
 * Unit tests of the full-feature data path (scsi_cmd.c, dataout.c, with conn.c's receive state
 * machine and pdu.c's transmit queue): R2T generation, Data-Out checks, Data-In split, phase
 * collapse and residuals, and CmdSN ordering and windows. The connection runs over a real TCP
 * connection on 127.0.0.1 (the real sock library) and its commands run in the real SCSI layer
 * on a malloc bdev; the test plays the initiator on the other end of the socket. Only the
 * moment the SCSI layer is entered is watched (--wrap=keel_scsi_task_execute), to see the order
 * commands reach it and to hold them there when a test needs commands in flight.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/scsi.h"
#include "keel/sock.h"
#include "keel/thread.h"
#include "ut.h"

#include "bdev/malloc/bdev_malloc.h"
#include "keel/scsi_spec.h"

#include "iscsi/conn.c"
#include "iscsi/pdu.c"
/* scsi_cmd.c registers the "iscsi" log component again: conn.c's is the one. */
#undef KEEL_LOG_REGISTER_COMPONENT
#define KEEL_LOG_REGISTER_COMPONENT(comp)
#include "iscsi/scsi_cmd.c"
#include "iscsi/dataout.c"
#include "iscsi/nop.c"

#define UT_BLKLEN 512
#define UT_BLOCKS 32768 /* 16 MiB */
#define UT_RESERVED 0xffffffffu
#define UT_PDUS 4096
#define UT_TASKS 256
#define UT_BUFS 16

struct iscsi_globals g_iscsi = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.conns = TAILQ_HEAD_INITIALIZER(g_iscsi.conns),
	.sessions = TAILQ_HEAD_INITIALIZER(g_iscsi.sessions),
};

/*
 * Handlers of PDUs these tests never send (login, task management, text, logout), and the
 * session's end: the connection here belongs to a session the test builds and frees itself.
 */
static bool g_conn_freed;

int
iscsi_login_handle(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	return -EINVAL;
}

int
iscsi_op_task_req(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	return -EINVAL;
}

int
iscsi_op_text(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	return -EINVAL;
}

int
iscsi_op_logout(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	return -EINVAL;
}

void
iscsi_sess_remove_conn(struct iscsi_conn *conn)
{
	conn->sess->conns[0] = NULL;
	conn->sess->num_conns = 0;
	g_conn_freed = true;
}

void
iscsi_tgt_node_record_latency(struct iscsi_tgt_node *target, uint64_t ticks)
{
}

/*
 * The way into the SCSI layer: every command is recorded (ITT, in order); with g_hold set it
 * waits in g_held until the test lets it go on.
 */
void __real_keel_scsi_task_execute(struct keel_scsi_task *task);
void __wrap_keel_scsi_task_execute(struct keel_scsi_task *task);

static uint32_t g_exec[256];
static int g_num_exec;
static bool g_hold;
static struct keel_scsi_task *g_held[64];
static int g_num_held;

void
__wrap_keel_scsi_task_execute(struct keel_scsi_task *task)
{
	if (g_num_exec < (int)KEEL_COUNTOF(g_exec)) {
		g_exec[g_num_exec] = (uint32_t)task->tag;
	}
	g_num_exec++;
	if (g_hold) {
		CU_ASSERT_FATAL(g_num_held < (int)KEEL_COUNTOF(g_held));
		g_held[g_num_held++] = task;
		return;
	}
	__real_keel_scsi_task_execute(task);
}

/* Let the oldest held command go on into the SCSI layer. */
static void
release_one(void)
{
	struct keel_scsi_task *task;

	CU_ASSERT_FATAL(g_num_held > 0);
	task = g_held[0];
	memmove(g_held, g_held + 1, (size_t)--g_num_held * sizeof(g_held[0]));
	__real_keel_scsi_task_execute(task);
}

/*
 * The world: one thread, a malloc bdev behind a SCSI device with one LUN, a listening socket.
 */
static struct keel_thread *g_thread;
static struct keel_scsi_dev *g_dev;
static struct keel_scsi_port *g_tgt_port;
static struct keel_scsi_port *g_ini_port;
static struct iscsi_tgt_node g_target;
static struct iscsi_poll_group g_pg;
static struct keel_sock *g_listen;
static uint16_t g_port;

/* The connection under test and the initiator's end of it. */
static struct iscsi_conn *g_conn;
static struct iscsi_sess *g_sess;
static struct keel_sock *g_ini;

/* Bytes the initiator has still to write, and bytes it has read. */
static uint8_t g_out[8 << 20];
static size_t g_out_len, g_out_pos;
static uint8_t g_in[8 << 20];
static size_t g_in_len;

/* The target's PDUs, parsed from g_in. */
struct in_pdu {
	const uint8_t *bhs;
	const uint8_t *data;
	uint32_t len;
};

static struct in_pdu g_pdus[1024];
static int g_num_pdus;

static void
lun_removed(struct keel_scsi_lun_desc *desc, void *ctx)
{
}

static void
init_done(int rc, void *ctx)
{
	*(int *)ctx = rc;
}

/* As the poll group would: read what came, run the thread, write what is queued, free a
 * closing connection once its tasks are back; and as the initiator: write what it has to send,
 * read what came. Stops once nothing happens for a while. */
static void
pump(void)
{
	int idle = 0, i;

	for (i = 0; i < 200000 && idle < 64; i++) {
		bool busy = false;
		ssize_t n;

		if (g_out_pos < g_out_len) {
			struct iovec v = {g_out + g_out_pos, g_out_len - g_out_pos};

			n = keel_sock_writev(g_ini, &v, 1);
			if (n > 0) {
				g_out_pos += (size_t)n;
				busy = true;
			}
		}
		if (g_conn != NULL && !g_conn_freed) {
			if (g_conn->state == ISCSI_CONN_STATE_EXITING) {
				iscsi_conn_try_free(g_conn);
			} else {
				iscsi_conn_sock_cb(g_conn, NULL, g_conn->sock);
				if (!g_conn_freed && !TAILQ_EMPTY(&g_conn->tx_queue) &&
				    g_conn->state == ISCSI_CONN_STATE_RUNNING &&
				    iscsi_conn_flush(g_conn) < 0) {
					iscsi_conn_drop(g_conn, "send error");
				}
			}
		}
		if (keel_thread_poll(g_thread, 0, 0) > 0) {
			busy = true;
		}
		n = keel_sock_recv(g_ini, g_in + g_in_len, sizeof(g_in) - g_in_len);
		if (n > 0) {
			g_in_len += (size_t)n;
			busy = true;
		}
		idle = busy ? 0 : idle + 1;
	}
}

/* Split what the target sent into PDUs (no digests are negotiated here). */
static void
parse(void)
{
	size_t off = 0;

	g_num_pdus = 0;
	while (off + KEEL_ISCSI_BHS_LEN <= g_in_len) {
		const uint8_t *b = g_in + off;
		uint32_t dsl = keel_from_be24(b + 5);
		size_t total = KEEL_ISCSI_BHS_LEN + b[4] * 4u + KEEL_ALIGN_CEIL(dsl, 4);

		CU_ASSERT_FATAL(off + total <= g_in_len);
		CU_ASSERT_FATAL(g_num_pdus < (int)KEEL_COUNTOF(g_pdus));
		g_pdus[g_num_pdus].bhs = b;
		g_pdus[g_num_pdus].data = b + KEEL_ISCSI_BHS_LEN + b[4] * 4u;
		g_pdus[g_num_pdus].len = dsl;
		g_num_pdus++;
		off += total;
	}
	CU_ASSERT(off == g_in_len);
}

/* Forget what was read (after the test has looked at it). */
static void
consume(void)
{
	g_in_len = 0;
	g_num_pdus = 0;
	g_num_exec = 0;
}

static uint8_t
op_of(int i)
{
	return g_pdus[i].bhs[0] & KEEL_ISCSI_OPCODE_MASK;
}

static uint32_t
be32_at(int i, int off)
{
	return keel_from_be32(g_pdus[i].bhs + off);
}

/*
 * PDUs the initiator sends.
 */
static uint8_t *
out_bhs(void)
{
	uint8_t *b;

	CU_ASSERT_FATAL(g_out_len + (2 << 20) <= sizeof(g_out));
	b = g_out + g_out_len;
	memset(b, 0, KEEL_ISCSI_BHS_LEN);
	return b;
}

static void
out_data(uint8_t *bhs, const uint8_t *data, uint32_t len)
{
	uint32_t pad = KEEL_ALIGN_CEIL(len, 4) - len;

	keel_to_be24(bhs + 5, len);
	g_out_len += KEEL_ISCSI_BHS_LEN;
	if (len > 0) {
		memcpy(g_out + g_out_len, data, len);
		memset(g_out + g_out_len + len, 0, pad);
		g_out_len += len + pad;
	}
}

#define CMD_R KEEL_ISCSI_SCSI_READ
#define CMD_W KEEL_ISCSI_SCSI_WRITE
#define CMD_F KEEL_ISCSI_FLAG_FINAL
#define CMD_I 0x100 /* sent as an immediate command */

static void
send_cmd(uint32_t itt, uint32_t cmdsn, int flags, uint32_t edtl, const uint8_t *cdb,
	 const uint8_t *data, uint32_t len)
{
	struct keel_iscsi_scsi_cmd *c = (struct keel_iscsi_scsi_cmd *)out_bhs();

	c->opcode = KEEL_ISCSI_OP_SCSI_CMD | ((flags & CMD_I) ? KEEL_ISCSI_IMMEDIATE : 0);
	c->flags = (uint8_t)(flags & 0xff) | 0x1 /* SIMPLE */;
	keel_to_be32(c->itt, itt);
	keel_to_be32(c->expected_data_xfer_len, edtl);
	keel_to_be32(c->cmdsn, cmdsn);
	keel_to_be32(c->exp_statsn, 0);
	memcpy(c->cdb, cdb, 16);
	out_data((uint8_t *)c, data, len);
}

static void
send_data_out(uint32_t itt, uint32_t ttt, uint32_t datasn, uint32_t offset, const uint8_t *data,
	      uint32_t len, bool final)
{
	struct keel_iscsi_data_out *d = (struct keel_iscsi_data_out *)out_bhs();

	d->opcode = KEEL_ISCSI_OP_DATA_OUT;
	d->flags = final ? KEEL_ISCSI_FLAG_FINAL : 0;
	keel_to_be32(d->itt, itt);
	keel_to_be32(d->ttt, ttt);
	keel_to_be32(d->datasn, datasn);
	keel_to_be32(d->buffer_offset, offset);
	out_data((uint8_t *)d, data, len);
}

/* A burst of Data-Out: len bytes from offset in PDUs of pdu_len bytes, DataSN from 0. */
static void
send_burst(uint32_t itt, uint32_t ttt, uint32_t offset, const uint8_t *buf, uint32_t len,
	   uint32_t pdu_len)
{
	uint32_t done = 0, sn = 0;

	while (done < len) {
		uint32_t n = KEEL_MIN(pdu_len, len - done);

		send_data_out(itt, ttt, sn++, offset + done, buf + offset + done, n,
			      done + n == len);
		done += n;
	}
}

static void
cdb_rw10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t blocks)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	keel_to_be32(cdb + 2, lba);
	keel_to_be16(cdb + 7, blocks);
}

static uint8_t g_pattern[4 << 20];

static void
fill_pattern(uint32_t seed)
{
	size_t i;

	for (i = 0; i < sizeof(g_pattern); i += 4) {
		keel_to_be32(g_pattern + i, (uint32_t)i * 2654435761u + seed);
	}
}

/*
 * Connection and session.
 */
struct ut_params {
	bool initial_r2t;
	bool immediate_data;
	uint32_t first_burst;
	uint32_t max_burst;
	uint32_t max_r2t;
	uint32_t max_send_dsl; /* the initiator's MaxRecvDataSegmentLength */
	uint32_t queue_depth;
	uint32_t exp_cmdsn;
};

static const struct ut_params g_defaults = {
	.initial_r2t = true,
	.immediate_data = true,
	.first_burst = 65536,
	.max_burst = 262144,
	.max_r2t = 1,
	.max_send_dsl = 8192,
	.queue_depth = 32,
	.exp_cmdsn = 1,
};

static void
setup(const struct ut_params *p)
{
	struct keel_sock_opts opts;
	int rc;

	g_out_len = g_out_pos = g_in_len = 0;
	g_num_pdus = g_num_exec = g_num_held = 0;
	g_hold = false;
	g_conn_freed = false;

	keel_sock_opts_init(&opts);
	g_ini = keel_sock_connect("127.0.0.1", g_port, &opts, &rc);
	CU_ASSERT_FATAL(g_ini != NULL);

	g_conn = calloc(1, sizeof(*g_conn));
	CU_ASSERT_FATAL(g_conn != NULL);
	do {
		g_conn->sock = keel_sock_accept(g_listen);
	} while (g_conn->sock == NULL && errno == EAGAIN);
	CU_ASSERT_FATAL(g_conn->sock != NULL);
	g_conn->rx_buf_size = ISCSI_RX_BUF_SIZE;
	g_conn->rx_buf = malloc(g_conn->rx_buf_size);
	g_conn->state = ISCSI_CONN_STATE_RUNNING;
	g_conn->full_feature = true;
	g_conn->rx_state = ISCSI_RX_BHS;
	g_conn->pg = &g_pg;
	g_conn->thread = g_thread;
	g_conn->target = &g_target;
	g_conn->params.max_recv_dsl = 262144;
	g_conn->params.max_send_dsl = p->max_send_dsl;
	g_conn->ttt_next = 1;
	g_conn->statsn = 1000;
	keel_strlcpy(g_conn->initiator_name, "iqn.2026-01.org.example:ini",
		     sizeof(g_conn->initiator_name));
	TAILQ_INIT(&g_conn->tx_queue);
	TAILQ_INIT(&g_conn->active_tasks);
	TAILQ_INIT(&g_conn->r2t_tasks);
	CU_ASSERT_FATAL(keel_scsi_lun_open(keel_scsi_dev_get_lun(g_dev, 0), lun_removed, NULL,
					   &g_conn->lun_descs[0]) == 0);
	TAILQ_INSERT_TAIL(&g_iscsi.conns, g_conn, g_link);
	TAILQ_INSERT_TAIL(&g_pg.conns, g_conn, pg_link);
	g_pg.num_conns = 1;

	g_sess = calloc(1, sizeof(*g_sess));
	CU_ASSERT_FATAL(g_sess != NULL);
	g_sess->target = &g_target;
	g_sess->params.initial_r2t = p->initial_r2t;
	g_sess->params.immediate_data = p->immediate_data;
	g_sess->params.first_burst_length = p->first_burst;
	g_sess->params.max_burst_length = p->max_burst;
	g_sess->params.max_outstanding_r2t = p->max_r2t;
	g_sess->params.data_pdu_in_order = true;
	g_sess->params.data_sequence_in_order = true;
	g_sess->target_port = g_tgt_port;
	g_sess->initiator_port = g_ini_port;
	g_sess->queue_depth = p->queue_depth;
	g_sess->exp_cmdsn = p->exp_cmdsn;
	g_sess->max_cmdsn = p->exp_cmdsn + p->queue_depth - 1;
	g_sess->conns[0] = g_conn;
	g_sess->num_conns = 1;
	g_sess->thread = g_thread;
	TAILQ_INIT(&g_sess->pending_cmds);
	g_conn->sess = g_sess;
}

static void
teardown(void)
{
	g_hold = false;
	while (g_num_held > 0) {
		release_one();
	}
	pump();
	if (!g_conn_freed) {
		iscsi_conn_drop(g_conn, "test over");
		pump();
	}
	CU_ASSERT(g_conn_freed);
	/* Every PDU, task and buffer is back in its pool. */
	CU_ASSERT(keel_mempool_count(g_iscsi.pdu_pool) == UT_PDUS);
	CU_ASSERT(keel_mempool_count(g_iscsi.task_pool) == UT_TASKS);
	CU_ASSERT(keel_mempool_count(g_iscsi.buf_pool) == UT_BUFS);
	free(g_sess);
	g_conn = NULL;
	g_sess = NULL;
	keel_sock_close(&g_ini);
}

/* Run a command to its end with no data phase checks; returns its SCSI status. */
static uint8_t
run_simple(uint32_t itt, int flags, uint32_t edtl, const uint8_t *cdb, const uint8_t *data,
	   uint32_t len)
{
	uint8_t status = 0xff;
	int i;

	send_cmd(itt, g_sess->exp_cmdsn, flags, edtl, cdb, data, len);
	pump();
	parse();
	for (i = 0; i < g_num_pdus; i++) {
		if (op_of(i) == KEEL_ISCSI_OP_SCSI_RSP) {
			status = g_pdus[i].bhs[3];
		} else if (op_of(i) == KEEL_ISCSI_OP_DATA_IN &&
			   (g_pdus[i].bhs[1] & KEEL_ISCSI_DATAIN_STATUS)) {
			status = g_pdus[i].bhs[3];
		}
	}
	return status;
}

/* Read blocks back through a READ(10) and compare them with the pattern at offset. */
static void
check_disk(uint32_t lba, uint32_t bytes, uint32_t pattern_off)
{
	uint8_t cdb[16];
	uint32_t got = 0;
	int i;

	consume();
	cdb_rw10(cdb, 0x28, lba, (uint16_t)(bytes / UT_BLKLEN));
	CU_ASSERT(run_simple(0x7777, CMD_R | CMD_F, bytes, cdb, NULL, 0) == 0);
	for (i = 0; i < g_num_pdus; i++) {
		if (op_of(i) == KEEL_ISCSI_OP_DATA_IN) {
			uint32_t off = be32_at(i, 40);

			CU_ASSERT(memcmp(g_pdus[i].data, g_pattern + pattern_off + off,
					 g_pdus[i].len) == 0);
			got += g_pdus[i].len;
		}
	}
	CU_ASSERT(got == bytes);
	consume();
}

static int
suite_init(void)
{
	struct keel_env_opts opts;
	struct malloc_bdev_opts mopts = {.name = "Malloc0",
					 .num_blocks = UT_BLOCKS,
					 .block_size = UT_BLKLEN};
	const char *names[] = {"Malloc0"};
	int ids[] = {0};
	struct keel_bdev *bdev;
	char err[256], addr[KEEL_SOCK_ADDR_LEN];
	uint16_t dummy;
	int rc = -1, i;

	keel_env_opts_init(&opts);
	opts.name = "scsi_cmd_ut";
	opts.no_huge = true;
	opts.no_pci = true;
	opts.mem_size_mb = 256;
	if (keel_env_init(&opts) != 0 || keel_thread_lib_init(NULL, 65535) != 0) {
		return 1;
	}
	g_thread = keel_thread_create("ut", NULL);
	if (g_thread == NULL) {
		return 1;
	}
	keel_set_thread(g_thread);
	keel_subsystem_init(init_done, &rc);
	for (i = 0; i < 100; i++) {
		keel_thread_poll(g_thread, 0, 0);
	}
	if (rc != 0 || bdev_malloc_create(&mopts, &bdev, err, sizeof(err)) != 0) {
		return 1;
	}
	g_dev = keel_scsi_dev_construct("ut_dev", names, ids, 1, 5, NULL, NULL);
	if (g_dev == NULL || keel_scsi_dev_add_port(g_dev, 1, "iqn.2016-06.io.spdk:ut,t,0x0001")) {
		return 1;
	}
	g_tgt_port = keel_scsi_dev_find_port_by_id(g_dev, 1);
	g_ini_port = keel_scsi_port_create(0, 0, "iqn.2026-01.org.example:ini,i,0x00023d000001");
	g_target.dev = g_dev;
	TAILQ_INIT(&g_pg.conns);
	g_pg.thread = g_thread;

	g_iscsi.pdu_pool = keel_mempool_create("ut_pdu", UT_PDUS, sizeof(struct iscsi_pdu), 0,
					       KEEL_ENV_SOCKET_ID_ANY);
	g_iscsi.task_pool = keel_mempool_create("ut_task", UT_TASKS, sizeof(struct iscsi_task), 0,
						KEEL_ENV_SOCKET_ID_ANY);
	g_iscsi.buf_pool_elt_size = 256 * 1024;
	g_iscsi.buf_pool = keel_mempool_create("ut_buf", UT_BUFS, g_iscsi.buf_pool_elt_size, 0,
					       KEEL_ENV_SOCKET_ID_ANY);
	if (g_tgt_port == NULL || g_ini_port == NULL || g_iscsi.pdu_pool == NULL ||
	    g_iscsi.task_pool == NULL || g_iscsi.buf_pool == NULL) {
		return 1;
	}

	g_listen = keel_sock_listen("127.0.0.1", 0, NULL, &rc);
	if (g_listen == NULL) {
		return 1;
	}
	keel_sock_getaddr(g_listen, addr, sizeof(addr), &g_port, addr, sizeof(addr), &dummy);
	if (g_port == 0) {
		return 1;
	}

	return 0;
}

static int
suite_fini(void)
{
	keel_sock_close(&g_listen);
	return 0;
}

static void
check_r2t(int i, uint32_t itt, uint32_t r2tsn, uint32_t offset, uint32_t len)
{
	CU_ASSERT_FATAL(i < g_num_pdus);
	CU_ASSERT(op_of(i) == KEEL_ISCSI_OP_R2T);
	CU_ASSERT(g_pdus[i].bhs[1] == KEEL_ISCSI_FLAG_FINAL);
	CU_ASSERT(g_pdus[i].len == 0);
	CU_ASSERT(be32_at(i, 16) == itt);
	CU_ASSERT(be32_at(i, 20) != UT_RESERVED);
	CU_ASSERT(be32_at(i, 36) == r2tsn);
	CU_ASSERT(be32_at(i, 40) == offset);
	CU_ASSERT(be32_at(i, 44) == len);
}

static void
check_rsp(int i, uint32_t itt, uint8_t status, uint8_t flags, uint32_t residual)
{
	CU_ASSERT_FATAL(i < g_num_pdus);
	CU_ASSERT(op_of(i) == KEEL_ISCSI_OP_SCSI_RSP);
	CU_ASSERT(be32_at(i, 16) == itt);
	CU_ASSERT(g_pdus[i].bhs[2] == KEEL_ISCSI_RESPONSE_COMPLETED);
	CU_ASSERT(g_pdus[i].bhs[3] == status);
	CU_ASSERT(g_pdus[i].bhs[1] == (KEEL_ISCSI_FLAG_FINAL | flags));
	CU_ASSERT(be32_at(i, 44) == residual);
}

/* The first command of the I_T nexus meets POWER ON OCCURRED (the tests after it run on the
 * same nexus, so this one goes first). */
static void
the_first_command_gets_the_power_on_unit_attention(void)
{
	uint8_t cdb[16] = {0};
	const uint8_t *sense;

	setup(&g_defaults);
	send_cmd(0x1, 1, CMD_F, 0, cdb, NULL, 0);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x1, KEEL_SCSI_STATUS_CHECK_CONDITION, 0, 0);
	CU_ASSERT_FATAL(g_pdus[0].len >= 2 + 14);
	sense = g_pdus[0].data + 2;
	CU_ASSERT((sense[2] & 0xf) == KEEL_SCSI_SENSE_UNIT_ATTENTION);
	CU_ASSERT(sense[12] == 0x29);
	consume();
	CU_ASSERT(run_simple(0x2, CMD_F, 0, cdb, NULL, 0) == KEEL_SCSI_STATUS_GOOD);
	consume();
	teardown();
}

/*
 * R2T generation.
 */
static void
a_write_with_initial_r2t_gets_one_r2t_per_burst_after_the_last(void)
{
	struct ut_params p = g_defaults;
	uint32_t ttt[4], len = 4 * 65536;
	uint8_t cdb[16];
	int i;

	p.immediate_data = false;
	p.max_burst = 65536;
	p.max_r2t = 1;
	setup(&p);
	fill_pattern(1);
	cdb_rw10(cdb, 0x2a, 100, (uint16_t)(len / UT_BLKLEN));
	send_cmd(0x10, 1, CMD_W | CMD_F, len, cdb, NULL, 0);
	for (i = 0; i < 4; i++) {
		pump();
		parse();
		/* MaxOutstandingR2T=1: the next R2T only once the burst before it is in. */
		CU_ASSERT_FATAL(g_num_pdus == 1);
		check_r2t(0, 0x10, (uint32_t)i, (uint32_t)i * 65536, 65536);
		/* R2T carries StatSN without taking it, and the window. */
		CU_ASSERT(be32_at(0, 24) == 1000);
		CU_ASSERT(be32_at(0, 28) == 2);
		CU_ASSERT(be32_at(0, 32) == 2 + 32 - 1 - 1);
		ttt[i] = be32_at(0, 20);
		CU_ASSERT(g_num_exec == 0);
		consume();
		send_burst(0x10, ttt[i], (uint32_t)i * 65536, g_pattern, 65536, 8192);
	}
	CU_ASSERT(ttt[0] != ttt[1] && ttt[1] != ttt[2] && ttt[2] != ttt[3]);
	pump();
	parse();
	CU_ASSERT(g_num_exec == 1);
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x10, KEEL_SCSI_STATUS_GOOD, 0, 0);
	CU_ASSERT(be32_at(0, 24) == 1000); /* StatSN */
	CU_ASSERT(be32_at(0, 36) == 4);    /* ExpDataSN: R2Ts sent */
	check_disk(100, len, 0);
	teardown();
}

static void
max_outstanding_r2t_sends_that_many_at_once_and_one_more_per_burst_done(void)
{
	struct ut_params p = g_defaults;
	uint32_t len = 6 * 16384, ttt;
	uint8_t cdb[16];
	int i;

	p.immediate_data = false;
	p.max_burst = 16384;
	p.max_r2t = 2;
	setup(&p);
	fill_pattern(2);
	cdb_rw10(cdb, 0x2a, 300, (uint16_t)(len / UT_BLKLEN));
	send_cmd(0x11, 1, CMD_W | CMD_F, len, cdb, NULL, 0);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 2);
	check_r2t(0, 0x11, 0, 0, 16384);
	check_r2t(1, 0x11, 1, 16384, 16384);
	ttt = be32_at(0, 20);
	CU_ASSERT(be32_at(1, 20) == ttt);
	consume();
	/* Part of a burst brings no R2T; the burst's last PDU (F) brings one. */
	send_data_out(0x11, ttt, 0, 0, g_pattern, 8192, false);
	pump();
	parse();
	CU_ASSERT(g_num_pdus == 0);
	send_data_out(0x11, ttt, 1, 8192, g_pattern + 8192, 8192, true);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_r2t(0, 0x11, 2, 32768, 16384);
	CU_ASSERT(be32_at(0, 20) == ttt);
	consume();
	for (i = 1; i < 6; i++) {
		send_burst(0x11, ttt, (uint32_t)i * 16384, g_pattern, 16384, 16384);
		pump();
		parse();
		if (i < 4) {
			CU_ASSERT_FATAL(g_num_pdus == 1);
			check_r2t(0, 0x11, (uint32_t)i + 2, ((uint32_t)i + 2) * 16384, 16384);
		} else if (i == 4) {
			CU_ASSERT(g_num_pdus == 0); /* all asked for */
		} else {
			CU_ASSERT_FATAL(g_num_pdus == 1);
			check_rsp(0, 0x11, KEEL_SCSI_STATUS_GOOD, 0, 0);
			CU_ASSERT(be32_at(0, 36) == 6);
		}
		if (g_num_pdus == 1 && op_of(0) == KEEL_ISCSI_OP_R2T) {
			ttt = be32_at(0, 20);
		}
		consume();
	}
	check_disk(300, len, 0);
	teardown();
}

static void
immediate_and_unsolicited_data_fill_the_first_burst_and_r2ts_ask_for_the_rest(void)
{
	struct ut_params p = g_defaults;
	uint32_t len = 65536 + 2 * 32768, ttt;
	uint8_t cdb[16];

	p.initial_r2t = false;
	p.immediate_data = true;
	p.first_burst = 65536;
	p.max_burst = 32768;
	p.max_r2t = 1;
	setup(&p);
	fill_pattern(3);
	cdb_rw10(cdb, 0x2a, 600, (uint16_t)(len / UT_BLKLEN));
	/* 8 KiB immediate, then unsolicited Data-Out (TTT 0xffffffff) to FirstBurstLength. */
	send_cmd(0x12, 1, CMD_W, len, cdb, g_pattern, 8192);
	pump();
	parse();
	/* The first R2T starts where the first burst ends; it may come before that data. */
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_r2t(0, 0x12, 0, 65536, 32768);
	ttt = be32_at(0, 20);
	consume();
	send_burst(0x12, UT_RESERVED, 8192, g_pattern, 65536 - 8192, 8192);
	pump();
	parse();
	CU_ASSERT(g_num_pdus == 0);
	send_burst(0x12, ttt, 65536, g_pattern, 32768, 8192);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_r2t(0, 0x12, 1, 98304, 32768);
	ttt = be32_at(0, 20);
	consume();
	send_burst(0x12, ttt, 98304, g_pattern, 32768, 32768);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x12, KEEL_SCSI_STATUS_GOOD, 0, 0);
	consume();
	check_disk(600, len, 0);
	teardown();
}

static void
a_write_within_the_first_burst_needs_no_r2t(void)
{
	struct ut_params p = g_defaults;
	uint8_t cdb[16];

	p.initial_r2t = false;
	p.first_burst = 65536;
	setup(&p);
	fill_pattern(4);
	cdb_rw10(cdb, 0x2a, 800, 32768 / UT_BLKLEN);
	send_cmd(0x13, 1, CMD_W, 32768, cdb, g_pattern, 16384);
	send_burst(0x13, UT_RESERVED, 16384, g_pattern, 16384, 8192);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x13, KEEL_SCSI_STATUS_GOOD, 0, 0);
	CU_ASSERT(be32_at(0, 36) == 0); /* no R2T */
	consume();
	check_disk(800, 32768, 0);

	/* All of it as immediate data, F set on the command. */
	fill_pattern(5);
	cdb_rw10(cdb, 0x2a, 900, 4096 / UT_BLKLEN);
	send_cmd(0x14, g_sess->exp_cmdsn, CMD_W | CMD_F, 4096, cdb, g_pattern, 4096);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x14, KEEL_SCSI_STATUS_GOOD, 0, 0);
	consume();
	check_disk(900, 4096, 0);
	teardown();
}

/* F on the command: no unsolicited Data-Out follows (RFC 7143 11.3.1), whatever the first
 * burst would allow; the target asks for the rest from where the immediate data ended. */
static void
a_write_with_f_set_gets_r2ts_from_the_end_of_its_immediate_data(void)
{
	struct ut_params p = g_defaults;
	uint8_t cdb[16];
	uint32_t ttt;

	p.initial_r2t = false;
	p.first_burst = 65536;
	setup(&p);
	fill_pattern(21);
	cdb_rw10(cdb, 0x2a, 2200, 32768 / UT_BLKLEN);
	send_cmd(0x17, 1, CMD_W | CMD_F, 32768, cdb, g_pattern, 8192);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_r2t(0, 0x17, 0, 8192, 24576);
	ttt = be32_at(0, 20);
	consume();
	send_burst(0x17, ttt, 8192, g_pattern, 24576, 8192);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x17, KEEL_SCSI_STATUS_GOOD, 0, 0);
	consume();
	check_disk(2200, 32768, 0);
	teardown();
}

static void
immediate_data_is_refused_when_not_negotiated_or_past_the_first_burst(void)
{
	struct ut_params p = g_defaults;
	uint8_t cdb[16];

	p.immediate_data = false;
	setup(&p);
	fill_pattern(6);
	cdb_rw10(cdb, 0x2a, 0, 8);
	send_cmd(0x15, 1, CMD_W | CMD_F, 4096, cdb, g_pattern, 4096);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	CU_ASSERT(op_of(0) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_pdus[0].bhs[2] == KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
	CU_ASSERT(g_pdus[0].len == KEEL_ISCSI_BHS_LEN);
	CU_ASSERT(be32_at(0, 16) == UT_RESERVED);
	CU_ASSERT(keel_from_be32(g_pdus[0].data + 16) == 0x15); /* the rejected header */
	CU_ASSERT(g_num_exec == 0);
	CU_ASSERT(g_sess->exp_cmdsn == 1);
	consume();
	teardown();

	p.immediate_data = true;
	p.first_burst = 8192;
	setup(&p);
	cdb_rw10(cdb, 0x2a, 0, 32);
	send_cmd(0x16, 1, CMD_W | CMD_F, 16384, cdb, g_pattern, 16384);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	CU_ASSERT(op_of(0) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_pdus[0].bhs[2] == KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
	CU_ASSERT(g_num_exec == 0);
	consume();
	teardown();
}

/*
 * Data-Out checks.
 */

/* A 32 KiB WRITE with InitialR2T: returns the TTT of its R2T (offset 0, 32 KiB). */
static uint32_t
start_write(uint32_t itt, uint32_t lba)
{
	uint8_t cdb[16];
	uint32_t ttt;

	cdb_rw10(cdb, 0x2a, lba, 32768 / UT_BLKLEN);
	send_cmd(itt, g_sess->exp_cmdsn, CMD_W | CMD_F, 32768, cdb, NULL, 0);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_r2t(0, itt, 0, 0, 32768);
	ttt = be32_at(0, 20);
	consume();
	return ttt;
}

static void
a_wrong_datasn_is_rejected_and_ends_the_command_with_a_data_phase_error(void)
{
	struct ut_params p = g_defaults;
	uint32_t ttt;
	const uint8_t *sense;

	p.immediate_data = false;
	setup(&p);
	fill_pattern(7);
	ttt = start_write(0x20, 1000);
	send_data_out(0x20, ttt, 0, 0, g_pattern, 8192, false);
	send_data_out(0x20, ttt, 2, 8192, g_pattern + 8192, 8192, false); /* 1 is due */
	send_data_out(0x20, ttt, 2, 8192, g_pattern + 8192, 8192, false);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 3);
	CU_ASSERT(op_of(0) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_pdus[0].bhs[2] == KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
	CU_ASSERT(keel_from_be32(g_pdus[0].data + 36) == 2); /* the bad PDU's DataSN */
	/* CHECK CONDITION, ABORTED COMMAND / DATA PHASE ERROR (4Bh/00h); none of the 32 KiB
	 * was used. */
	check_rsp(1, 0x20, KEEL_SCSI_STATUS_CHECK_CONDITION, KEEL_ISCSI_RSP_UNDERFLOW, 32768);
	CU_ASSERT_FATAL(g_pdus[1].len >= 2 + 14);
	sense = g_pdus[1].data + 2;
	CU_ASSERT(keel_from_be16(g_pdus[1].data) == g_pdus[1].len - 2);
	CU_ASSERT((sense[2] & 0xf) == KEEL_SCSI_SENSE_ABORTED_COMMAND);
	CU_ASSERT(sense[12] == 0x4b && sense[13] == 0x00);
	/* The command is over: more Data-Out for it is an invalid PDU field. */
	CU_ASSERT(op_of(2) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_pdus[2].bhs[2] == KEEL_ISCSI_REJECT_INVALID_PDU_FIELD);
	CU_ASSERT(g_num_exec == 0);
	CU_ASSERT(g_conn->state == ISCSI_CONN_STATE_RUNNING);
	CU_ASSERT(g_conn->num_active == 0);
	consume();
	teardown();
}

static void
data_out_with_an_unknown_ttt_or_itt_is_rejected_and_the_command_goes_on(void)
{
	struct ut_params p = g_defaults;
	uint32_t ttt;

	p.immediate_data = false;
	setup(&p);
	fill_pattern(8);
	ttt = start_write(0x21, 1100);
	send_data_out(0x21, ttt ^ 0x5a5a, 0, 0, g_pattern, 8192, false);
	send_data_out(0x99, ttt, 0, 0, g_pattern, 8192, false);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 2);
	CU_ASSERT(op_of(0) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_pdus[0].bhs[2] == KEEL_ISCSI_REJECT_INVALID_PDU_FIELD);
	CU_ASSERT(op_of(1) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_pdus[1].bhs[2] == KEEL_ISCSI_REJECT_INVALID_PDU_FIELD);
	consume();
	/* The rejected PDUs' data was skipped; the right data still completes the write. */
	send_burst(0x21, ttt, 0, g_pattern, 32768, 8192);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x21, KEEL_SCSI_STATUS_GOOD, 0, 0);
	consume();
	check_disk(1100, 32768, 0);
	teardown();
}

static void
data_out_past_the_r2t_or_the_first_burst_is_rejected(void)
{
	struct ut_params p = g_defaults;
	uint8_t cdb[16];
	uint32_t ttt;

	p.immediate_data = false;
	p.max_burst = 16384;
	setup(&p);
	fill_pattern(9);
	cdb_rw10(cdb, 0x2a, 1200, 32768 / UT_BLKLEN);
	send_cmd(0x22, 1, CMD_W | CMD_F, 32768, cdb, NULL, 0);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_r2t(0, 0x22, 0, 0, 16384);
	ttt = be32_at(0, 20);
	consume();
	/* 8 KiB from 12 KiB runs past the 16 KiB the R2T asked for. */
	send_data_out(0x22, ttt, 0, 12288, g_pattern + 12288, 8192, true);
	/* Unsolicited data when InitialR2T=Yes (the first burst is empty). */
	send_data_out(0x22, UT_RESERVED, 0, 0, g_pattern, 512, true);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 2);
	CU_ASSERT(op_of(0) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_pdus[0].bhs[2] == KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
	CU_ASSERT(op_of(1) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_pdus[1].bhs[2] == KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
	CU_ASSERT(g_num_exec == 0);
	consume();
	send_burst(0x22, ttt, 0, g_pattern, 16384, 16384);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_r2t(0, 0x22, 1, 16384, 16384);
	ttt = be32_at(0, 20);
	consume();
	send_burst(0x22, ttt, 16384, g_pattern, 16384, 4096);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x22, KEEL_SCSI_STATUS_GOOD, 0, 0);
	consume();
	check_disk(1200, 32768, 0);
	teardown();
}

static void
unsolicited_data_out_past_first_burst_length_is_rejected(void)
{
	struct ut_params p = g_defaults;
	uint8_t cdb[16];

	p.initial_r2t = false;
	p.first_burst = 16384;
	p.max_burst = 65536;
	setup(&p);
	fill_pattern(10);
	cdb_rw10(cdb, 0x2a, 1300, 65536 / UT_BLKLEN);
	send_cmd(0x23, 1, CMD_W, 65536, cdb, NULL, 0);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_r2t(0, 0x23, 0, 16384, 49152);
	consume();
	send_data_out(0x23, UT_RESERVED, 0, 8192, g_pattern + 8192, 16384, true);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	CU_ASSERT(op_of(0) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_pdus[0].bhs[2] == KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
	consume();
	teardown();
}

static void
data_out_beyond_the_expected_transfer_length_is_rejected(void)
{
	struct ut_params p = g_defaults;
	uint8_t cdb[16];

	p.initial_r2t = false;
	p.first_burst = 65536;
	setup(&p);
	fill_pattern(11);
	/* EDTL 4 KiB: unsolicited data may only cover those 4 KiB. */
	cdb_rw10(cdb, 0x2a, 1400, 8);
	send_cmd(0x24, 1, CMD_W, 4096, cdb, NULL, 0);
	send_data_out(0x24, UT_RESERVED, 0, 0, g_pattern, 8192, true);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	CU_ASSERT(op_of(0) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_pdus[0].bhs[2] == KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
	consume();
	/* Immediate data longer than the EDTL is refused with the command. */
	send_cmd(0x25, 2, CMD_W | CMD_F, 2048, cdb, g_pattern, 4096);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	CU_ASSERT(op_of(0) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(keel_from_be32(g_pdus[0].data + 16) == 0x25);
	consume();
	teardown();
}

/* A SCSI Response with CHECK CONDITION, ABORTED COMMAND, DATA PHASE ERROR (4Bh/00h). */
static void
check_data_phase_error(int i, uint32_t itt)
{
	const uint8_t *sense;

	CU_ASSERT_FATAL(i < g_num_pdus);
	CU_ASSERT(op_of(i) == KEEL_ISCSI_OP_SCSI_RSP);
	CU_ASSERT(be32_at(i, 16) == itt);
	CU_ASSERT(g_pdus[i].bhs[3] == KEEL_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT_FATAL(g_pdus[i].len >= 2 + 14);
	sense = g_pdus[i].data + 2;
	CU_ASSERT((sense[2] & 0xf) == KEEL_SCSI_SENSE_ABORTED_COMMAND);
	CU_ASSERT(sense[12] == 0x4b && sense[13] == 0x00);
}

static void
data_out_that_overlaps_or_skips_data_ends_the_command_with_a_data_phase_error(void)
{
	struct ut_params p = g_defaults;
	uint32_t ttt;

	p.immediate_data = false;
	setup(&p);
	fill_pattern(17);
	/* The same 16 KiB twice: as many bytes as the R2T asked for, half of them never sent.
	 * DataPDUInOrder=Yes (all keel negotiates): offsets must follow on. */
	ttt = start_write(0x27, 1600);
	send_data_out(0x27, ttt, 0, 0, g_pattern, 16384, false);
	send_data_out(0x27, ttt, 1, 0, g_pattern, 16384, true);
	pump();
	parse();
	CU_ASSERT(g_num_exec == 0);
	CU_ASSERT_FATAL(g_num_pdus == 2);
	CU_ASSERT(op_of(0) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_pdus[0].bhs[2] == KEEL_ISCSI_REJECT_PROTOCOL_ERROR);
	check_data_phase_error(1, 0x27);
	CU_ASSERT(g_conn->num_active == 0);
	consume();

	/* A gap: 8 KiB, then the last 16 KiB of the 32. */
	ttt = start_write(0x28, 1700);
	send_data_out(0x28, ttt, 0, 0, g_pattern, 8192, false);
	send_data_out(0x28, ttt, 1, 16384, g_pattern + 16384, 16384, true);
	pump();
	parse();
	CU_ASSERT(g_num_exec == 0);
	CU_ASSERT_FATAL(g_num_pdus == 2);
	CU_ASSERT(op_of(0) == KEEL_ISCSI_OP_REJECT);
	check_data_phase_error(1, 0x28);
	CU_ASSERT(g_conn->num_active == 0);
	consume();

	/* Data-Out over the immediate data. */
	{
		uint8_t cdb[16];

		g_sess->params.immediate_data = true;
		cdb_rw10(cdb, 0x2a, 1750, 16384 / UT_BLKLEN);
		send_cmd(0x2d, g_sess->exp_cmdsn, CMD_W | CMD_F, 16384, cdb, g_pattern, 8192);
		pump();
		parse();
		CU_ASSERT_FATAL(g_num_pdus == 1);
		check_r2t(0, 0x2d, 0, 8192, 8192);
		ttt = be32_at(0, 20);
		consume();
		send_data_out(0x2d, ttt, 0, 4096, g_pattern + 4096, 8192, true);
		pump();
		parse();
		CU_ASSERT(g_num_exec == 0);
		CU_ASSERT_FATAL(g_num_pdus == 2);
		CU_ASSERT(op_of(0) == KEEL_ISCSI_OP_REJECT);
		check_data_phase_error(1, 0x2d);
		consume();
	}

	/* The connection goes on. */
	ttt = start_write(0x29, 1800);
	send_burst(0x29, ttt, 0, g_pattern, 32768, 8192);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x29, KEEL_SCSI_STATUS_GOOD, 0, 0);
	consume();
	check_disk(1800, 32768, 0);
	teardown();
}

static void
bad_unsolicited_data_of_a_command_waiting_for_its_cmdsn_fails_it_in_its_turn(void)
{
	struct ut_params p = g_defaults;
	uint8_t cdb[16], tur[16] = {0};

	p.initial_r2t = false;
	p.first_burst = 65536;
	setup(&p);
	fill_pattern(18);
	/* CmdSN 2 waits for 1; its unsolicited data comes with a wrong DataSN. */
	cdb_rw10(cdb, 0x2a, 1900, 16384 / UT_BLKLEN);
	send_cmd(0x2a, 2, CMD_W, 16384, cdb, NULL, 0);
	send_data_out(0x2a, UT_RESERVED, 0, 0, g_pattern, 8192, false);
	send_data_out(0x2a, UT_RESERVED, 5, 8192, g_pattern + 8192, 8192, true);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	CU_ASSERT(op_of(0) == KEEL_ISCSI_OP_REJECT);
	CU_ASSERT(g_num_exec == 0);
	consume();
	/* Its turn: it ends with a data phase error, and the commands after it run. */
	send_cmd(0x2b, 3, CMD_F, 0, tur, NULL, 0);
	send_cmd(0x2c, 1, CMD_F, 0, tur, NULL, 0);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_exec == 2);
	CU_ASSERT(g_exec[0] == 0x2c && g_exec[1] == 0x2b);
	CU_ASSERT_FATAL(g_num_pdus == 3);
	check_data_phase_error(0, 0x2a);
	check_rsp(1, 0x2c, KEEL_SCSI_STATUS_GOOD, 0, 0);
	check_rsp(2, 0x2b, KEEL_SCSI_STATUS_GOOD, 0, 0);
	CU_ASSERT(g_sess->exp_cmdsn == 4);
	CU_ASSERT(g_conn->num_active == 0);
	consume();
	teardown();
}

/*
 * Data-In.
 */

/* Write len bytes of the pattern at lba, all of it asked for by R2Ts (InitialR2T=Yes). */
static void
write_pattern(uint32_t lba, uint32_t len)
{
	uint8_t cdb[16];
	uint32_t ttt, off = 0;

	cdb_rw10(cdb, 0x2a, lba, (uint16_t)(len / UT_BLKLEN));
	send_cmd(0x5000 + lba, g_sess->exp_cmdsn, CMD_W | CMD_F, len, cdb, NULL, 0);
	while (off < len) {
		pump();
		parse();
		CU_ASSERT_FATAL(g_num_pdus == 1 && op_of(0) == KEEL_ISCSI_OP_R2T);
		ttt = be32_at(0, 20);
		off = be32_at(0, 40);
		send_burst(0x5000 + lba, ttt, off, g_pattern, be32_at(0, 44), 65536);
		off += be32_at(0, 44);
		consume();
	}
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x5000 + lba, KEEL_SCSI_STATUS_GOOD, 0, 0);
	consume();
}

static void
a_read_is_split_at_max_recv_data_segment_length_with_status_in_the_last(void)
{
	struct ut_params p = g_defaults;
	uint32_t len = 40960, statsn;
	uint8_t cdb[16];
	int i;

	p.immediate_data = false;
	p.max_send_dsl = 12288;
	setup(&p);
	fill_pattern(13);
	write_pattern(2000, len);
	statsn = g_conn->statsn;
	cdb_rw10(cdb, 0x28, 2000, (uint16_t)(len / UT_BLKLEN));
	send_cmd(0x30, g_sess->exp_cmdsn, CMD_R | CMD_F, len, cdb, NULL, 0);
	pump();
	parse();
	/* 12 + 12 + 12 + 4 KiB; no separate SCSI Response. */
	CU_ASSERT_FATAL(g_num_pdus == 4);
	for (i = 0; i < 4; i++) {
		uint32_t want = i < 3 ? 12288 : 4096;

		CU_ASSERT(op_of(i) == KEEL_ISCSI_OP_DATA_IN);
		CU_ASSERT(g_pdus[i].len == want);
		CU_ASSERT(be32_at(i, 16) == 0x30);
		CU_ASSERT(be32_at(i, 20) == UT_RESERVED);
		CU_ASSERT(be32_at(i, 36) == (uint32_t)i);         /* DataSN */
		CU_ASSERT(be32_at(i, 40) == (uint32_t)i * 12288); /* Buffer Offset */
		CU_ASSERT(memcmp(g_pdus[i].data, g_pattern + i * 12288, want) == 0);
		if (i < 3) {
			CU_ASSERT(g_pdus[i].bhs[1] == 0);
			CU_ASSERT(be32_at(i, 24) == 0); /* no StatSN before the status */
		}
	}
	CU_ASSERT(g_pdus[3].bhs[1] == (KEEL_ISCSI_FLAG_FINAL | KEEL_ISCSI_DATAIN_STATUS));
	CU_ASSERT(g_pdus[3].bhs[3] == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(be32_at(3, 24) == statsn);
	CU_ASSERT(be32_at(3, 28) == g_sess->exp_cmdsn);
	CU_ASSERT(be32_at(3, 44) == 0); /* no residual */
	CU_ASSERT(g_conn->statsn == statsn + 1);
	consume();
	teardown();
}

/* MaxBurstLength bounds Data-In sequences too (RFC 7143 13.13): F ends each one, and no PDU
 * spans two; DataSN and the offsets run on across them. */
static void
a_read_longer_than_max_burst_length_is_sent_in_sequences_of_that_length(void)
{
	struct ut_params p = g_defaults;
	static const uint32_t lens[] = {12288, 4096, 12288, 4096, 8192};
	uint32_t off = 0, len = 40960;
	uint8_t cdb[16];
	int i;

	p.immediate_data = false;
	p.max_burst = 16384;
	p.max_send_dsl = 12288;
	setup(&p);
	fill_pattern(19);
	write_pattern(2100, len);
	cdb_rw10(cdb, 0x28, 2100, (uint16_t)(len / UT_BLKLEN));
	send_cmd(0x36, g_sess->exp_cmdsn, CMD_R | CMD_F, len, cdb, NULL, 0);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 5);
	for (i = 0; i < 5; i++) {
		uint8_t flags = (i == 1 || i == 3) ? KEEL_ISCSI_FLAG_FINAL : 0;

		if (i == 4) {
			flags = KEEL_ISCSI_FLAG_FINAL | KEEL_ISCSI_DATAIN_STATUS;
		}
		CU_ASSERT(op_of(i) == KEEL_ISCSI_OP_DATA_IN);
		CU_ASSERT(g_pdus[i].len == lens[i]);
		CU_ASSERT(g_pdus[i].bhs[1] == flags);
		CU_ASSERT(be32_at(i, 36) == (uint32_t)i);
		CU_ASSERT(be32_at(i, 40) == off);
		CU_ASSERT(memcmp(g_pdus[i].data, g_pattern + off, lens[i]) == 0);
		off += lens[i];
	}
	consume();
	teardown();
}

/* Larger than a pooled buffer, with several bursts each way. */
static void
a_one_mebibyte_write_and_read_go_through_whole(void)
{
	struct ut_params p = g_defaults;
	uint32_t len = 1 << 20, got = 0, bursts = 0, ttt, off;
	uint8_t cdb[16];
	int i;

	p.initial_r2t = false;
	p.first_burst = 65536;
	p.max_burst = 262144;
	p.max_r2t = 1;
	p.max_send_dsl = 65536;
	setup(&p);
	fill_pattern(20);
	cdb_rw10(cdb, 0x2a, 4096, (uint16_t)(len / UT_BLKLEN));
	send_cmd(0x37, 1, CMD_W, len, cdb, g_pattern, 32768);
	send_burst(0x37, UT_RESERVED, 32768, g_pattern, 32768, 16384);
	for (off = 65536; off < len; off += 262144) {
		pump();
		parse();
		CU_ASSERT_FATAL(g_num_pdus == 1);
		check_r2t(0, 0x37, bursts, off, KEEL_MIN(262144, len - off));
		ttt = be32_at(0, 20);
		send_burst(0x37, ttt, off, g_pattern, be32_at(0, 44), 65536);
		bursts++;
		consume();
	}
	CU_ASSERT(bursts == 4);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x37, KEEL_SCSI_STATUS_GOOD, 0, 0);
	consume();

	cdb_rw10(cdb, 0x28, 4096, (uint16_t)(len / UT_BLKLEN));
	send_cmd(0x38, g_sess->exp_cmdsn, CMD_R | CMD_F, len, cdb, NULL, 0);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 16);
	for (i = 0; i < 16; i++) {
		CU_ASSERT(g_pdus[i].len == 65536);
		CU_ASSERT(be32_at(i, 36) == (uint32_t)i);
		CU_ASSERT(be32_at(i, 40) == got);
		CU_ASSERT(memcmp(g_pdus[i].data, g_pattern + got, 65536) == 0);
		CU_ASSERT((g_pdus[i].bhs[1] & KEEL_ISCSI_FLAG_FINAL) == (i % 4 == 3 ? 0x80 : 0));
		got += g_pdus[i].len;
	}
	CU_ASSERT(g_pdus[15].bhs[1] == (KEEL_ISCSI_FLAG_FINAL | KEEL_ISCSI_DATAIN_STATUS));
	consume();
	teardown();
}

/* A READ with no Data-In expected: no data, a SCSI Response with the whole as overflow. */
static void
a_read_with_no_expected_data_gets_only_a_response_with_overflow(void)
{
	struct ut_params p = g_defaults;
	uint8_t cdb[16];

	setup(&p);
	cdb_rw10(cdb, 0x28, 0, 8);
	send_cmd(0x39, 1, CMD_R | CMD_F, 0, cdb, NULL, 0);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x39, KEEL_SCSI_STATUS_GOOD, KEEL_ISCSI_RSP_OVERFLOW, 4096);
	consume();
	teardown();
}

static void
read_residuals_report_overflow_and_underflow_in_the_last_data_in(void)
{
	struct ut_params p = g_defaults;
	uint8_t cdb[16];

	p.immediate_data = false;
	setup(&p);
	fill_pattern(14);
	write_pattern(3000, 8192);

	/* The CDB asks for 8 KiB, the initiator expects 2 KiB: 2 KiB come, overflow 6 KiB. */
	cdb_rw10(cdb, 0x28, 3000, 16);
	send_cmd(0x31, g_sess->exp_cmdsn, CMD_R | CMD_F, 2048, cdb, NULL, 0);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	CU_ASSERT(op_of(0) == KEEL_ISCSI_OP_DATA_IN);
	CU_ASSERT(g_pdus[0].len == 2048);
	CU_ASSERT(memcmp(g_pdus[0].data, g_pattern, 2048) == 0);
	CU_ASSERT(g_pdus[0].bhs[1] ==
		  (KEEL_ISCSI_FLAG_FINAL | KEEL_ISCSI_DATAIN_STATUS | KEEL_ISCSI_DATAIN_OVERFLOW));
	CU_ASSERT(be32_at(0, 44) == 6144);
	consume();

	/* The CDB asks for 4 KiB, the initiator expects 10 KiB: underflow 6 KiB. */
	cdb_rw10(cdb, 0x28, 3000, 8);
	send_cmd(0x32, g_sess->exp_cmdsn, CMD_R | CMD_F, 10240, cdb, NULL, 0);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	CU_ASSERT(op_of(0) == KEEL_ISCSI_OP_DATA_IN);
	CU_ASSERT(g_pdus[0].len == 4096);
	CU_ASSERT(g_pdus[0].bhs[1] ==
		  (KEEL_ISCSI_FLAG_FINAL | KEEL_ISCSI_DATAIN_STATUS | KEEL_ISCSI_DATAIN_UNDERFLOW));
	CU_ASSERT(be32_at(0, 44) == 6144);
	consume();
	teardown();
}

static void
a_failed_read_gets_a_scsi_response_with_sense_and_no_data_in(void)
{
	struct ut_params p = g_defaults;
	uint8_t cdb[16];
	const uint8_t *sense;
	uint32_t statsn;

	setup(&p);
	statsn = g_conn->statsn;
	/* Past the last block: LOGICAL BLOCK ADDRESS OUT OF RANGE. */
	cdb_rw10(cdb, 0x28, UT_BLOCKS - 4, 8);
	send_cmd(0x33, 1, CMD_R | CMD_F, 4096, cdb, NULL, 0);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x33, KEEL_SCSI_STATUS_CHECK_CONDITION, KEEL_ISCSI_RSP_UNDERFLOW, 4096);
	CU_ASSERT(be32_at(0, 24) == statsn);
	CU_ASSERT(be32_at(0, 36) == 0); /* ExpDataSN: no Data-In */
	CU_ASSERT_FATAL(g_pdus[0].len >= 2 + 14);
	sense = g_pdus[0].data + 2;
	CU_ASSERT((sense[2] & 0xf) == KEEL_SCSI_SENSE_ILLEGAL_REQUEST);
	CU_ASSERT(sense[12] == 0x21 && sense[13] == 0x00);
	consume();
	teardown();
}

static void
write_residuals_report_overflow_and_underflow_in_the_response(void)
{
	struct ut_params p = g_defaults;
	uint8_t cdb[16];

	p.initial_r2t = false;
	p.first_burst = 65536;
	setup(&p);
	fill_pattern(15);
	/* The CDB writes 8 KiB, the initiator sends 4 KiB: overflow 4 KiB, 4 KiB written. */
	cdb_rw10(cdb, 0x2a, 3100, 16);
	send_cmd(0x34, 1, CMD_W | CMD_F, 4096, cdb, g_pattern, 4096);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x34, KEEL_SCSI_STATUS_GOOD, KEEL_ISCSI_RSP_OVERFLOW, 4096);
	consume();
	check_disk(3100, 4096, 0);
	/* The CDB writes 2 KiB, the initiator expects to send 6 KiB: underflow 4 KiB. */
	fill_pattern(16);
	cdb_rw10(cdb, 0x2a, 3200, 4);
	send_cmd(0x35, g_sess->exp_cmdsn, CMD_W | CMD_F, 6144, cdb, g_pattern, 6144);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x35, KEEL_SCSI_STATUS_GOOD, KEEL_ISCSI_RSP_UNDERFLOW, 4096);
	consume();
	check_disk(3200, 2048, 0);
	teardown();
}

/*
 * CmdSN.
 */
static void
send_tur(uint32_t itt, uint32_t cmdsn, bool immediate)
{
	uint8_t cdb[16] = {0};

	send_cmd(itt, cmdsn, CMD_F | (immediate ? CMD_I : 0), 0, cdb, NULL, 0);
}

static void
commands_out_of_order_reach_scsi_in_cmdsn_order(void)
{
	struct ut_params p = g_defaults;
	int i;

	p.exp_cmdsn = 10;
	setup(&p);
	send_tur(0xc, 12, false);
	send_tur(0xd, 13, false);
	send_tur(0xb, 11, false);
	pump();
	parse();
	CU_ASSERT(g_num_pdus == 0);
	CU_ASSERT(g_num_exec == 0);
	CU_ASSERT(g_sess->exp_cmdsn == 10);
	send_tur(0xa, 10, false);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_exec == 4);
	CU_ASSERT(g_exec[0] == 0xa && g_exec[1] == 0xb && g_exec[2] == 0xc && g_exec[3] == 0xd);
	CU_ASSERT(g_sess->exp_cmdsn == 14);
	CU_ASSERT_FATAL(g_num_pdus == 4);
	for (i = 0; i < 4; i++) {
		check_rsp(i, be32_at(i, 16), KEEL_SCSI_STATUS_GOOD, 0, 0);
		CU_ASSERT(be32_at(i, 28) == 14); /* ExpCmdSN */
	}
	CU_ASSERT(g_sess->max_cmdsn == 14 + 32 - 1);
	consume();
	teardown();
}

static void
send_nop(uint32_t itt, uint32_t cmdsn)
{
	struct keel_iscsi_nop *n = (struct keel_iscsi_nop *)out_bhs();

	n->opcode = KEEL_ISCSI_OP_NOP_OUT;
	n->flags = KEEL_ISCSI_FLAG_FINAL;
	keel_to_be32(n->itt, itt);
	keel_to_be32(n->ttt, UT_RESERVED);
	keel_to_be32(n->sn, cmdsn);
	out_data((uint8_t *)n, NULL, 0);
}

/* A non-immediate NOP-Out uses its CmdSN up: commands numbered after it run when their turn
 * comes, whether it came in its turn or before it (its number is stepped over then). */
static void
a_nop_out_uses_up_its_cmdsn_in_turn_or_ahead_of_it(void)
{
	struct ut_params p = g_defaults;
	int i, nopins = 0;

	p.exp_cmdsn = 10;
	setup(&p);
	/* In turn: the command after it, already waiting, runs. */
	send_tur(0xb, 11, false);
	pump();
	parse();
	CU_ASSERT(g_num_exec == 0);
	send_nop(0x100, 10);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_exec == 1);
	CU_ASSERT(g_exec[0] == 0xb);
	CU_ASSERT(g_sess->exp_cmdsn == 12);
	/* Ahead of its turn (13 before 12): answered at once, and 14 runs once 12 has come. */
	send_nop(0x101, 13);
	send_tur(0xe, 14, false);
	pump();
	parse();
	CU_ASSERT(g_num_exec == 1);
	CU_ASSERT(g_sess->exp_cmdsn == 12);
	send_tur(0xc, 12, false);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_exec == 3);
	CU_ASSERT(g_exec[1] == 0xc && g_exec[2] == 0xe);
	CU_ASSERT(g_sess->exp_cmdsn == 15);
	CU_ASSERT(g_sess->num_used_sns == 0);
	for (i = 0; i < g_num_pdus; i++) {
		nopins += op_of(i) == KEEL_ISCSI_OP_NOP_IN;
	}
	CU_ASSERT(nopins == 2);
	consume();
	teardown();
}

static void
commands_outside_the_cmdsn_window_are_ignored(void)
{
	struct ut_params p = g_defaults;

	p.exp_cmdsn = 10;
	p.queue_depth = 4;
	setup(&p);
	CU_ASSERT(g_sess->max_cmdsn == 13);
	send_tur(0x1, 9, false);  /* already seen */
	send_tur(0x2, 14, false); /* past MaxCmdSN */
	send_tur(0x3, 10 + 0x80000000u, false);
	pump();
	parse();
	CU_ASSERT(g_num_pdus == 0);
	CU_ASSERT(g_num_exec == 0);
	CU_ASSERT(g_sess->exp_cmdsn == 10);
	CU_ASSERT(TAILQ_EMPTY(&g_sess->pending_cmds));
	CU_ASSERT(g_conn->num_active == 0);
	/* The last slot of the window is taken. */
	send_tur(0x4, 13, false);
	pump();
	CU_ASSERT(g_num_exec == 0);
	CU_ASSERT(!TAILQ_EMPTY(&g_sess->pending_cmds));
	send_tur(0x5, 10, false);
	send_tur(0x6, 11, false);
	send_tur(0x7, 12, false);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_exec == 4);
	CU_ASSERT(g_exec[0] == 0x5 && g_exec[1] == 0x6 && g_exec[2] == 0x7 && g_exec[3] == 0x4);
	CU_ASSERT(g_num_pdus == 4);
	CU_ASSERT(g_sess->exp_cmdsn == 14);
	consume();
	teardown();
}

/* RFC 7143 3.2.2.1: non-immediate duplicates within the window are ignored too. */
static void
a_second_command_with_a_waiting_cmdsn_is_ignored(void)
{
	struct ut_params p = g_defaults;

	p.exp_cmdsn = 10;
	p.queue_depth = 4;
	setup(&p);
	send_tur(0xb1, 11, false);
	send_tur(0xb2, 11, false);
	pump();
	CU_ASSERT(g_num_exec == 0);
	CU_ASSERT(g_conn->num_active == 1); /* the one waiting */
	send_tur(0xa0, 10, false);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_exec == 2);
	CU_ASSERT(g_exec[0] == 0xa0 && g_exec[1] == 0xb1);
	CU_ASSERT_FATAL(g_num_pdus == 2);
	check_rsp(0, 0xa0, KEEL_SCSI_STATUS_GOOD, 0, 0);
	check_rsp(1, 0xb1, KEEL_SCSI_STATUS_GOOD, 0, 0);
	CU_ASSERT(TAILQ_EMPTY(&g_sess->pending_cmds));
	CU_ASSERT(g_conn->num_active == 0);
	CU_ASSERT(g_sess->exp_cmdsn == 12);
	CU_ASSERT(g_sess->max_cmdsn == 12 + 4 - 1);
	consume();
	teardown();
}

static void
immediate_commands_bypass_the_queue_and_leave_exp_cmdsn_alone(void)
{
	struct ut_params p = g_defaults;

	p.exp_cmdsn = 20;
	setup(&p);
	send_tur(0x21, 21, false); /* waits for 20 */
	send_tur(0x40, 20, true);  /* immediate: carries the next CmdSN, runs now */
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_exec == 1);
	CU_ASSERT(g_exec[0] == 0x40);
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x40, KEEL_SCSI_STATUS_GOOD, 0, 0);
	CU_ASSERT(be32_at(0, 28) == 20);
	CU_ASSERT(g_sess->exp_cmdsn == 20);
	consume();
	send_tur(0x20, 20, false);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_exec == 2);
	CU_ASSERT(g_exec[0] == 0x20 && g_exec[1] == 0x21);
	CU_ASSERT(g_sess->exp_cmdsn == 22);
	consume();
	teardown();
}

static void
max_cmdsn_opens_as_commands_complete(void)
{
	struct ut_params p = g_defaults;
	int i;

	p.exp_cmdsn = 100;
	p.queue_depth = 4;
	setup(&p);
	g_hold = true;
	for (i = 0; i < 4; i++) {
		send_tur(0x100 + (uint32_t)i, 100 + (uint32_t)i, false);
	}
	send_tur(0x104, 104, false); /* past MaxCmdSN 103 */
	pump();
	CU_ASSERT(g_num_exec == 4);
	CU_ASSERT(g_num_held == 4);
	CU_ASSERT(g_sess->exp_cmdsn == 104);
	CU_ASSERT(g_sess->max_cmdsn == 103);
	CU_ASSERT(g_conn->num_active == 4);
	release_one();
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_pdus == 1);
	check_rsp(0, 0x100, KEEL_SCSI_STATUS_GOOD, 0, 0);
	CU_ASSERT(be32_at(0, 28) == 104);
	/* The response was built while the command still held its slot. */
	CU_ASSERT(be32_at(0, 32) == 103);
	CU_ASSERT(g_sess->max_cmdsn == 104);
	consume();
	/* 104 fits now (it was dropped before: the initiator sends it again). */
	send_tur(0x104, 104, false);
	pump();
	CU_ASSERT(g_num_exec == 1 && g_exec[0] == 0x104);
	CU_ASSERT(g_sess->max_cmdsn == 104);
	while (g_num_held > 0) {
		release_one();
	}
	pump();
	parse();
	CU_ASSERT(g_num_pdus == 4);
	CU_ASSERT(g_sess->exp_cmdsn == 105);
	CU_ASSERT(g_sess->max_cmdsn == 105 + 4 - 1);
	CU_ASSERT(g_conn->num_active == 0);
	consume();
	teardown();
}

static void
cmdsn_arithmetic_wraps_at_2_to_the_32(void)
{
	struct ut_params p = g_defaults;

	p.exp_cmdsn = 0xfffffffeu;
	p.queue_depth = 8;
	setup(&p);
	CU_ASSERT(g_sess->max_cmdsn == 5);
	send_tur(0x3, 1, false);
	send_tur(0x2, 0, false);
	send_tur(0x1, 0xffffffffu, false);
	send_tur(0x9, 0xfffffffdu, false); /* behind the window */
	send_tur(0x8, 6, false);           /* past it */
	pump();
	CU_ASSERT(g_num_exec == 0);
	send_tur(0x0, 0xfffffffeu, false);
	pump();
	parse();
	CU_ASSERT_FATAL(g_num_exec == 4);
	CU_ASSERT(g_exec[0] == 0x0 && g_exec[1] == 0x1 && g_exec[2] == 0x2 && g_exec[3] == 0x3);
	CU_ASSERT(g_num_pdus == 4);
	CU_ASSERT(g_sess->exp_cmdsn == 2);
	CU_ASSERT(g_sess->max_cmdsn == 9);
	consume();
	teardown();
}

static const struct keel_ut_test g_tests[] = {
	KEEL_UT_TEST(the_first_command_gets_the_power_on_unit_attention),
	KEEL_UT_TEST(a_write_with_initial_r2t_gets_one_r2t_per_burst_after_the_last),
	KEEL_UT_TEST(max_outstanding_r2t_sends_that_many_at_once_and_one_more_per_burst_done),
	KEEL_UT_TEST(immediate_and_unsolicited_data_fill_the_first_burst_and_r2ts_ask_for_the_rest),
	KEEL_UT_TEST(a_write_within_the_first_burst_needs_no_r2t),
	KEEL_UT_TEST(a_write_with_f_set_gets_r2ts_from_the_end_of_its_immediate_data),
	KEEL_UT_TEST(immediate_data_is_refused_when_not_negotiated_or_past_the_first_burst),
	KEEL_UT_TEST(a_wrong_datasn_is_rejected_and_ends_the_command_with_a_data_phase_error),
	KEEL_UT_TEST(data_out_with_an_unknown_ttt_or_itt_is_rejected_and_the_command_goes_on),
	KEEL_UT_TEST(data_out_past_the_r2t_or_the_first_burst_is_rejected),
	KEEL_UT_TEST(unsolicited_data_out_past_first_burst_length_is_rejected),
	KEEL_UT_TEST(data_out_beyond_the_expected_transfer_length_is_rejected),
	KEEL_UT_TEST(data_out_that_overlaps_or_skips_data_ends_the_command_with_a_data_phase_error),
	KEEL_UT_TEST(bad_unsolicited_data_of_a_command_waiting_for_its_cmdsn_fails_it_in_its_turn),
	KEEL_UT_TEST(a_read_is_split_at_max_recv_data_segment_length_with_status_in_the_last),
	KEEL_UT_TEST(a_read_longer_than_max_burst_length_is_sent_in_sequences_of_that_length),
	KEEL_UT_TEST(a_one_mebibyte_write_and_read_go_through_whole),
	KEEL_UT_TEST(a_read_with_no_expected_data_gets_only_a_response_with_overflow),
	KEEL_UT_TEST(read_residuals_report_overflow_and_underflow_in_the_last_data_in),
	KEEL_UT_TEST(a_failed_read_gets_a_scsi_response_with_sense_and_no_data_in),
	KEEL_UT_TEST(write_residuals_report_overflow_and_underflow_in_the_response),
	KEEL_UT_TEST(commands_out_of_order_reach_scsi_in_cmdsn_order),
	KEEL_UT_TEST(a_nop_out_uses_up_its_cmdsn_in_turn_or_ahead_of_it),
	KEEL_UT_TEST(commands_outside_the_cmdsn_window_are_ignored),
	KEEL_UT_TEST(a_second_command_with_a_waiting_cmdsn_is_ignored),
	KEEL_UT_TEST(immediate_commands_bypass_the_queue_and_leave_exp_cmdsn_alone),
	KEEL_UT_TEST(max_cmdsn_opens_as_commands_complete),
	KEEL_UT_TEST(cmdsn_arithmetic_wraps_at_2_to_the_32),
};

int
main(void)
{
	return keel_ut_run("iscsi_scsi_cmd", g_tests, KEEL_COUNTOF(g_tests), suite_init,
			   suite_fini);
}
