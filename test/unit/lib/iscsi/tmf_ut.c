/*
 * Unit tests of task management (tmf.c) with the task lifecycle of scsi_cmd.c and dataout.c:
 * who owns a function's task while the SCSI layer works on it, what a connection that closes
 * meanwhile does with it, and ABORT TASK / QUERY TASK of commands that have not reached the
 * SCSI layer. The SCSI layer is replaced by one that holds every command and function until
 * the test completes it; PDUs and tasks come from counted allocations, so a task freed twice or
 * never shows in the counts (and, under AddressSanitizer, as a double free).
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/scsi.h"
#include "keel/thread.h"
#include "keel_mock.h"
#include "ut.h"

#include "iscsi/tmf.c"
#include "iscsi/scsi_cmd.c"
#include "iscsi/dataout.c"

struct iscsi_globals g_iscsi;

/*
 * Pools: counted allocations. g_task_pool and g_buf_pool only tell them apart.
 */
static int g_tasks_out, g_pdus_out;
static int g_task_pool, g_buf_pool;

void *
keel_mempool_get(struct keel_mempool *pool)
{
	if (pool == (struct keel_mempool *)&g_task_pool) {
		g_tasks_out++;
		return malloc(sizeof(struct iscsi_task));
	}
	return NULL; /* no pooled data buffers: keel_dma_malloc() */
}

void
keel_mempool_put(struct keel_mempool *pool, void *obj)
{
	CU_ASSERT(pool == (struct keel_mempool *)&g_task_pool);
	g_tasks_out--;
	CU_ASSERT(g_tasks_out >= 0);
	free(obj);
}

void *
keel_dma_malloc(size_t size, size_t align, uint64_t *phys)
{
	return calloc(1, size);
}

void
keel_dma_free(void *buf)
{
	free(buf);
}

KEEL_STUB(keel_get_ticks, uint64_t, (void), 0)
KEEL_STUB_V(iscsi_tgt_node_record_latency, (struct iscsi_tgt_node * t, uint64_t ticks))
KEEL_STUB_V(iscsi_conn_update_exp_statsn, (struct iscsi_conn * c, uint32_t exp_statsn))
KEEL_STUB(iscsi_conn_flush, int, (struct iscsi_conn * c), 0)

void
keel_scsi_task_set_status(struct keel_scsi_task *task, int status, int sk, int asc_ascq)
{
	task->status = (uint8_t)status;
}

/*
 * PDUs the target sends: kept as BHSs when queued; queued PDUs are "written" (a response's sent
 * callback runs, as after a write) by deliver(), which the test calls after each step, as the
 * poll group writes after each event.
 */
static struct keel_iscsi_bhs g_sent[64];
static int g_num_sent;
static struct iscsi_pdu *g_queued[64];
static int g_num_queued;

struct iscsi_pdu *
iscsi_pdu_get(void)
{
	g_pdus_out++;
	return calloc(1, sizeof(struct iscsi_pdu));
}

void
iscsi_pdu_put(struct iscsi_pdu *pdu)
{
	g_pdus_out--;
	free(pdu);
}

void
iscsi_conn_send_pdu(struct iscsi_conn *conn, struct iscsi_pdu *pdu)
{
	CU_ASSERT_FATAL(g_num_sent < (int)KEEL_COUNTOF(g_sent));
	CU_ASSERT_FATAL(g_num_queued < (int)KEEL_COUNTOF(g_queued));
	g_sent[g_num_sent++] = pdu->bhs;
	g_queued[g_num_queued++] = pdu;
}

static void
deliver(void)
{
	int i;

	for (i = 0; i < g_num_queued; i++) {
		if (g_queued[i]->sent_cb != NULL) {
			g_queued[i]->sent_cb(g_queued[i]);
		}
		iscsi_pdu_put(g_queued[i]);
	}
	g_num_queued = 0;
}

void
iscsi_conn_send_reject(struct iscsi_conn *conn, const struct keel_iscsi_bhs *hdr, uint8_t reason)
{
	struct iscsi_pdu *pdu = iscsi_pdu_get();

	pdu->bhs.opcode = KEEL_ISCSI_OP_REJECT;
	pdu->bhs.flags = reason;
	iscsi_conn_send_pdu(conn, pdu);
}

/* What conn.c's iscsi_conn_drop() does with the tasks of a connection that closes. */
void
iscsi_conn_drop(struct iscsi_conn *conn, const char *why)
{
	struct iscsi_task *task, *tmp;

	conn->state = ISCSI_CONN_STATE_EXITING;
	deliver(); /* unsent responses free their tasks, as conn.c's release of the queue does */
	iscsi_conn_abort_pending(conn);
	TAILQ_FOREACH_SAFE (task, &conn->active_tasks, link, tmp) {
		iscsi_task_abort_for_conn(task);
	}
}

/*
 * The SCSI layer: holds what it is given until the test completes it.
 */
static struct keel_scsi_task *g_cmds[8], *g_tmfs[8];
static int g_num_cmds, g_num_tmfs;

void
keel_scsi_task_execute(struct keel_scsi_task *task)
{
	CU_ASSERT_FATAL(g_num_cmds < (int)KEEL_COUNTOF(g_cmds));
	g_cmds[g_num_cmds++] = task;
}

/* This layer never answers a READ by reference: there is nothing to release. */
void
keel_scsi_task_put_data(struct keel_scsi_task *task)
{
	CU_ASSERT(task->internal.data_io == NULL);
}

void
keel_scsi_task_mgmt(struct keel_scsi_task *task)
{
	CU_ASSERT_FATAL(g_num_tmfs < (int)KEEL_COUNTOF(g_tmfs));
	g_tmfs[g_num_tmfs++] = task;
}

static void
complete_cmd(int i, bool aborted)
{
	struct keel_scsi_task *task = g_cmds[i];

	task->aborted = aborted;
	task->status = KEEL_SCSI_STATUS_GOOD;
	task->data_transferred = task->transfer_len;
	task->cpl_fn(task);
	deliver();
}

static void
complete_tmf(int i, enum keel_scsi_tmf_resp resp)
{
	struct keel_scsi_task *task = g_tmfs[i];

	task->response = resp;
	task->cpl_fn(task);
	deliver();
}

/*
 * A session of two connections (only the first is used unless a test says otherwise).
 */
static struct iscsi_conn g_conn[2];
static struct iscsi_sess g_sess;
static struct iscsi_tgt_node g_target;

static void
setup(void)
{
	int i;

	memset(g_conn, 0, sizeof(g_conn));
	memset(&g_sess, 0, sizeof(g_sess));
	g_iscsi.task_pool = (struct keel_mempool *)&g_task_pool;
	g_iscsi.buf_pool = (struct keel_mempool *)&g_buf_pool;
	g_iscsi.buf_pool_elt_size = 0;
	g_sess.params.initial_r2t = true;
	g_sess.params.immediate_data = true;
	g_sess.params.first_burst_length = 65536;
	g_sess.params.max_burst_length = 262144;
	g_sess.params.max_outstanding_r2t = 1;
	g_sess.queue_depth = 32;
	g_sess.exp_cmdsn = 1;
	g_sess.max_cmdsn = 32;
	g_sess.num_conns = 2;
	TAILQ_INIT(&g_sess.pending_cmds);
	for (i = 0; i < 2; i++) {
		g_conn[i].id = (uint32_t)i;
		g_conn[i].cid = (uint16_t)i;
		g_conn[i].state = ISCSI_CONN_STATE_RUNNING;
		g_conn[i].full_feature = true;
		g_conn[i].sess = &g_sess;
		g_conn[i].target = &g_target;
		g_conn[i].params.max_send_dsl = 8192;
		g_conn[i].ttt_next = 1;
		TAILQ_INIT(&g_conn[i].tx_queue);
		TAILQ_INIT(&g_conn[i].active_tasks);
		TAILQ_INIT(&g_conn[i].r2t_tasks);
		g_sess.conns[i] = &g_conn[i];
	}
	g_num_sent = g_num_queued = g_num_cmds = g_num_tmfs = 0;
}

/* Everything given back: no task or PDU left, and the counts were never negative. */
static void
check_all_back(void)
{
	deliver();
	CU_ASSERT(g_tasks_out == 0);
	CU_ASSERT(g_pdus_out == 0);
	CU_ASSERT(g_conn[0].num_active == 0 && TAILQ_EMPTY(&g_conn[0].active_tasks));
	CU_ASSERT(g_conn[1].num_active == 0 && TAILQ_EMPTY(&g_conn[1].active_tasks));
	CU_ASSERT(TAILQ_EMPTY(&g_sess.pending_cmds));
}

/*
 * PDUs the initiator sends.
 */
static uint32_t g_cmdsn_ahead; /* commands are numbered ExpCmdSN + this */

static uint32_t
send_cmd(struct iscsi_conn *conn, uint32_t itt, bool write, uint32_t blocks)
{
	struct iscsi_pdu pdu = {0};
	struct keel_iscsi_scsi_cmd *c = (struct keel_iscsi_scsi_cmd *)&pdu.bhs;

	c->opcode = KEEL_ISCSI_OP_SCSI_CMD;
	c->flags = KEEL_ISCSI_FLAG_FINAL | (write ? KEEL_ISCSI_SCSI_WRITE : KEEL_ISCSI_SCSI_READ);
	keel_to_be32(c->itt, itt);
	keel_to_be32(c->cmdsn, g_sess.exp_cmdsn + g_cmdsn_ahead);
	keel_to_be32(c->expected_data_xfer_len, blocks * 512);
	c->cdb[0] = write ? 0x2a : 0x28;
	keel_to_be16(&c->cdb[7], (uint16_t)blocks);
	CU_ASSERT_FATAL(iscsi_op_scsi_cmd_hdr(conn, &pdu) == 0);
	CU_ASSERT_FATAL(iscsi_op_scsi_cmd(conn, &pdu) == 0);
	deliver();
	return itt;
}

/* A function as an immediate PDU, or (immediate false) numbered with ExpCmdSN. */
static void
send_tmf_pdu(struct iscsi_conn *conn, uint8_t function, uint32_t itt, uint32_t ref_itt,
	     bool immediate)
{
	struct iscsi_pdu pdu = {0};
	struct keel_iscsi_task_req *r = (struct keel_iscsi_task_req *)&pdu.bhs;

	r->opcode = KEEL_ISCSI_OP_TASK_REQ | (immediate ? KEEL_ISCSI_IMMEDIATE : 0);
	r->function = 0x80 | function;
	keel_to_be32(r->itt, itt);
	keel_to_be32(r->ref_task_tag, ref_itt);
	keel_to_be32(r->cmdsn, g_sess.exp_cmdsn);
	CU_ASSERT(iscsi_op_task_req(conn, &pdu) == 0);
	deliver();
}

static void
send_tmf(struct iscsi_conn *conn, uint8_t function, uint32_t itt, uint32_t ref_itt)
{
	send_tmf_pdu(conn, function, itt, ref_itt, true);
}

/* The response to the function itt, or -1 if none was sent. */
static int
tmf_response(uint32_t itt)
{
	int i;

	for (i = 0; i < g_num_sent; i++) {
		if ((g_sent[i].opcode & KEEL_ISCSI_OPCODE_MASK) == KEEL_ISCSI_OP_TASK_RSP &&
		    keel_from_be32(((struct keel_iscsi_task_rsp *)&g_sent[i])->itt) == itt) {
			return ((struct keel_iscsi_task_rsp *)&g_sent[i])->response;
		}
	}
	return -1;
}

/* PDUs sent about the command itt (Data-In, R2T excluded: a response or Data-In with
 * status). */
static int
cmd_responses(uint32_t itt)
{
	int i, n = 0;

	for (i = 0; i < g_num_sent; i++) {
		uint8_t op = g_sent[i].opcode & KEEL_ISCSI_OPCODE_MASK;

		if ((op == KEEL_ISCSI_OP_SCSI_RSP ||
		     (op == KEEL_ISCSI_OP_DATA_IN &&
		      (g_sent[i].flags & KEEL_ISCSI_DATAIN_STATUS))) &&
		    keel_from_be32(g_sent[i].itt) == itt) {
			n++;
		}
	}
	return n;
}

/*
 * Tests.
 */
static void
a_connection_closing_under_a_function_waits_for_it(void)
{
	setup();
	send_cmd(&g_conn[0], 0x10, false, 8);
	send_tmf(&g_conn[0], KEEL_SCSI_TMF_TARGET_WARM_RESET, 0x11, 0xffffffff);
	send_tmf(&g_conn[0], KEEL_SCSI_TMF_ABORT_TASK, 0x12, 0x10);
	CU_ASSERT_FATAL(g_num_cmds == 1 && g_num_tmfs == 2);
	CU_ASSERT(g_tmfs[1]->abort_task == g_cmds[0]);
	/* The connection closes with the READ and both functions at the SCSI layer: none of
	 * them is freed, and the connection (which is freed once it has no task) waits. */
	iscsi_conn_drop(&g_conn[0], "test");
	CU_ASSERT(g_conn[0].num_active == 3);
	CU_ASSERT(g_tasks_out == 3);
	complete_cmd(0, true);
	CU_ASSERT(g_conn[0].num_active == 2);
	complete_tmf(1, KEEL_SCSI_TMF_RESP_COMPLETE);
	complete_tmf(0, KEEL_SCSI_TMF_RESP_COMPLETE);
	/* Nothing is answered on a closing connection. */
	CU_ASSERT(g_num_sent == 0);
	check_all_back();
}

static void
a_function_is_answered_after_the_task_it_aborts_and_freed_once(void)
{
	setup();
	send_cmd(&g_conn[0], 0x20, false, 8);
	send_tmf(&g_conn[0], KEEL_SCSI_TMF_ABORT_TASK, 0x21, 0x20);
	CU_ASSERT_FATAL(g_num_cmds == 1 && g_num_tmfs == 1);
	CU_ASSERT(g_conn[0].num_active == 2);
	/* The SCSI layer ends the aborted READ first (no response for it), then answers. */
	complete_cmd(0, true);
	CU_ASSERT(cmd_responses(0x20) == 0);
	CU_ASSERT(tmf_response(0x21) == -1);
	complete_tmf(0, KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(tmf_response(0x21) == KEEL_SCSI_TMF_RESP_COMPLETE);
	check_all_back();
}

static void
functions_the_target_does_not_do_are_answered_at_once(void)
{
	setup();
	send_tmf(&g_conn[0], KEEL_SCSI_TMF_TASK_REASSIGN, 0x30, 0x1);
	send_tmf(&g_conn[0], 0x7f, 0x31, 0x1);
	CU_ASSERT(g_num_tmfs == 0);
	CU_ASSERT(tmf_response(0x30) == KEEL_SCSI_TMF_RESP_REASSIGN_NOT_SUPPORTED);
	CU_ASSERT(tmf_response(0x31) == KEEL_SCSI_TMF_RESP_NOT_SUPPORTED);
	check_all_back();
}

static void
query_and_abort_of_a_write_waiting_for_data_end_it_at_the_iscsi_layer(void)
{
	setup();
	send_cmd(&g_conn[0], 0x40, true, 8);
	CU_ASSERT_FATAL(g_num_sent == 1); /* its R2T */
	CU_ASSERT((g_sent[0].opcode & KEEL_ISCSI_OPCODE_MASK) == KEEL_ISCSI_OP_R2T);
	send_tmf(&g_conn[0], KEEL_SCSI_TMF_QUERY_TASK, 0x41, 0x40);
	send_tmf(&g_conn[0], KEEL_SCSI_TMF_ABORT_TASK, 0x42, 0x40);
	/* Neither reached the SCSI layer, nor did the WRITE. */
	CU_ASSERT(g_num_tmfs == 0 && g_num_cmds == 0);
	CU_ASSERT(tmf_response(0x41) == KEEL_SCSI_TMF_RESP_SUCCEEDED);
	CU_ASSERT(tmf_response(0x42) == KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(cmd_responses(0x40) == 0);
	CU_ASSERT(g_conn[0].outstanding_r2t == 0);
	check_all_back();
}

static void
abort_during_a_data_out_on_another_connection_ends_the_task_after_it(void)
{
	struct iscsi_pdu pdu = {0};
	struct keel_iscsi_data_out *d = (struct keel_iscsi_data_out *)&pdu.bhs;
	struct iscsi_task *task;

	setup();
	send_cmd(&g_conn[1], 0x50, true, 8);
	task = TAILQ_FIRST(&g_conn[1].active_tasks);
	CU_ASSERT_FATAL(task != NULL);
	/* Connection 1 has read the header of a Data-Out for it: its data lands in the task's
	 * buffer while connection 0 asks to abort the task. */
	d->opcode = KEEL_ISCSI_OP_DATA_OUT;
	d->flags = KEEL_ISCSI_FLAG_FINAL;
	keel_to_be32(d->itt, 0x50);
	keel_to_be32(d->ttt, task->ttt);
	pdu.data_len = 4096;
	CU_ASSERT_FATAL(iscsi_op_data_out_hdr(&g_conn[1], &pdu) == 0);
	CU_ASSERT(pdu.task == task);
	g_conn[1].rx_pdu = &pdu;
	send_tmf(&g_conn[0], KEEL_SCSI_TMF_ABORT_TASK, 0x51, 0x50);
	CU_ASSERT(tmf_response(0x51) == KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(g_tasks_out == 1); /* still there: the data is coming into its buffer */
	memset(pdu.data, 0xab, pdu.data_len);
	g_conn[1].rx_pdu = NULL;
	CU_ASSERT(iscsi_op_data_out(&g_conn[1], &pdu) == 0);
	/* Ended then, without reaching the SCSI layer or a response. */
	CU_ASSERT(g_num_cmds == 0);
	CU_ASSERT(cmd_responses(0x50) == 0);
	check_all_back();
}

static void
a_command_ending_on_a_closing_connection_is_freed_without_a_response(void)
{
	setup();
	send_cmd(&g_conn[0], 0x60, false, 8);
	send_cmd(&g_conn[0], 0x61, true, 8); /* waits for Data-Out: freed by the close */
	CU_ASSERT(g_tasks_out == 2);
	iscsi_conn_drop(&g_conn[0], "test");
	CU_ASSERT(g_tasks_out == 1);
	complete_cmd(0, false);
	CU_ASSERT(cmd_responses(0x60) == 0);
	check_all_back();
}

static void
commands_waiting_for_a_function_cmdsn_run_after_it(void)
{
	setup();
	/* A READ numbered ExpCmdSN + 1 waits for the function numbered ExpCmdSN. */
	g_cmdsn_ahead = 1;
	send_cmd(&g_conn[0], 0x70, false, 8);
	g_cmdsn_ahead = 0;
	CU_ASSERT(g_num_cmds == 0 && !TAILQ_EMPTY(&g_sess.pending_cmds));
	send_tmf_pdu(&g_conn[0], KEEL_SCSI_TMF_ABORT_TASK_SET, 0x71, 0xffffffff, false);
	/* The function went to the SCSI layer first, then the READ. */
	CU_ASSERT(g_num_tmfs == 1 && g_num_cmds == 1);
	CU_ASSERT(g_sess.exp_cmdsn == 3);
	CU_ASSERT(TAILQ_EMPTY(&g_sess.pending_cmds));
	complete_tmf(0, KEEL_SCSI_TMF_RESP_COMPLETE);
	complete_cmd(0, false);
	CU_ASSERT(tmf_response(0x71) == KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(cmd_responses(0x70) == 1);
	check_all_back();
}

static void
a_reset_ends_the_writes_still_waiting_for_data_of_the_session(void)
{
	setup();
	send_cmd(&g_conn[0], 0x80, false, 8); /* at the SCSI layer */
	send_cmd(&g_conn[0], 0x81, true, 8);  /* waits for Data-Out */
	send_cmd(&g_conn[1], 0x82, true, 8);  /* waits for Data-Out, on the other connection */
	g_cmdsn_ahead = 1;
	send_cmd(&g_conn[0], 0x83, true, 8); /* numbered after the reset: waits for its turn */
	g_cmdsn_ahead = 0;
	CU_ASSERT(g_tasks_out == 4 && g_num_cmds == 1);
	send_tmf_pdu(&g_conn[0], KEEL_SCSI_TMF_LOGICAL_UNIT_RESET, 0x84, 0xffffffff, false);
	/* The two writes that came before it are gone without a response; the one numbered
	 * after it has had its turn (it asked for its data); the reset is at the SCSI layer. */
	CU_ASSERT(g_num_tmfs == 1);
	CU_ASSERT(g_tasks_out == 3);
	CU_ASSERT(cmd_responses(0x81) == 0 && cmd_responses(0x82) == 0);
	CU_ASSERT(TAILQ_EMPTY(&g_sess.pending_cmds));
	CU_ASSERT(TAILQ_FIRST(&g_conn[1].active_tasks) == NULL);
	complete_cmd(0, true);
	complete_tmf(0, KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(tmf_response(0x84) == KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(g_tasks_out == 1); /* 0x83 */
	iscsi_conn_drop(&g_conn[0], "test");
	check_all_back();
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(a_connection_closing_under_a_function_waits_for_it),
		KEEL_UT_TEST(a_function_is_answered_after_the_task_it_aborts_and_freed_once),
		KEEL_UT_TEST(functions_the_target_does_not_do_are_answered_at_once),
		KEEL_UT_TEST(query_and_abort_of_a_write_waiting_for_data_end_it_at_the_iscsi_layer),
		KEEL_UT_TEST(abort_during_a_data_out_on_another_connection_ends_the_task_after_it),
		KEEL_UT_TEST(a_command_ending_on_a_closing_connection_is_freed_without_a_response),
		KEEL_UT_TEST(commands_waiting_for_a_function_cmdsn_run_after_it),
		KEEL_UT_TEST(a_reset_ends_the_writes_still_waiting_for_data_of_the_session),
	};

	return keel_ut_run("iscsi_tmf", tests, KEEL_COUNTOF(tests), NULL, NULL);
}
