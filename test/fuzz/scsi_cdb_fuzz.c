/*
 * Fuzz target for SCSI command handling (lib/scsi): the input is a sequence of commands, each a
 * CDB with its Data-Out, and task management functions, run through keel_scsi_task_execute()
 * and keel_scsi_task_mgmt() on a device with two RAM LUNs (512- and 4096-byte blocks) and two
 * initiators, up to eight at a time. Each input gets a fresh device, so reservations, mode pages
 * and unit attentions start over. Every task must complete exactly once, never inside the call
 * that started it, with a status and sense data that agree; a task management function answers
 * only after the commands it aborted have completed.
 *
 * One record of the input:
 *   byte 0     flags: bits 0-1 data direction (0 none, 1 Data-Out, 2 Data-In, 3 none and no
 *              LUN), bit 2 descriptor sense, bit 3 LUN 1, bit 4 second initiator, bits 5-6
 *              task attribute (simple, ordered, head of queue, ACA), bit 7 data in three buffers
 *   byte 1     bits 0-4: CDB length - 1; bit 5: do not wait for this one before the next
 *              record; bit 6: a task management function instead of a command (CDB byte 0
 *              picks the function, byte 1 the task in flight it names when that one has
 *              the same initiator and LUN, byte 2 a tag otherwise)
 *   bytes 2-3  Expected Data Transfer Length, big-endian
 *   then       the CDB, then for Data-Out as many data bytes as the length says (missing bytes
 *              are zero)
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/scsi.h"
#include "keel/thread.h"

#include <dirent.h>

#include "bdev/malloc/bdev_malloc.h"
#include "fuzz_common.h"

#define FUZZ_BLOCKS_512 2048 /* 1 MiB */
#define FUZZ_BLOCKS_4K 256   /* 1 MiB */
#define FUZZ_MAX_COMMANDS 64
#define FUZZ_MAX_INFLIGHT 8
#define FUZZ_MAX_POLLS 200000
#define FUZZ_INI0 "iqn.2026-01.org.example:fuzz0,i,0x00023d000001"
#define FUZZ_INI1 "iqn.2026-01.org.example:fuzz1,i,0x00023d000002"
#define FUZZ_TGT "iqn.2016-06.io.spdk:fuzz,t,0x0001"

#define F_DIR_MASK 0x03
#define F_DIR_NO_LUN 0x03
#define F_DESC_SENSE 0x04
#define F_LUN1 0x08
#define F_INI1 0x10
#define F_ATTR_SHIFT 5
#define F_ATTR_MASK 0x03
#define F_SPLIT 0x80
#define F2_LEN_MASK 0x1f
#define F2_NO_WAIT 0x20
#define F2_TMF 0x40

static struct keel_thread *g_thread;
static char g_pr_dir[64];
static const char *const g_bdev_names[] = {"FuzzMalloc0", "FuzzMalloc1"};
static const int g_lun_ids[] = {0, 1};
static bool g_dump; /* KEEL_FUZZ_DUMP set: print each command's outcome to stderr */

/* One task in flight: a command or a task management function. */
struct fuzz_cmd {
	struct keel_scsi_task task;
	struct iovec iov[3];
	uint8_t *buf;
	unsigned int seq; /* order of submission */
	unsigned int completions;
	bool busy;
	bool is_tmf;
	struct fuzz_ctx *ctx;
};

struct fuzz_ctx {
	struct keel_scsi_dev *dev;
	struct keel_scsi_port *tgt_port;
	struct keel_scsi_port *ini[2];
	struct keel_scsi_lun_desc *desc[2];
	struct fuzz_cmd cmds[FUZZ_MAX_INFLIGHT];
	unsigned int next_seq;
	bool destructed;
};

/* Task management functions by CDB byte 0 of a TMF record. */
static const enum keel_scsi_tmf g_tmfs[] = {
	KEEL_SCSI_TMF_ABORT_TASK,         KEEL_SCSI_TMF_ABORT_TASK_SET,
	KEEL_SCSI_TMF_CLEAR_ACA,          KEEL_SCSI_TMF_CLEAR_TASK_SET,
	KEEL_SCSI_TMF_LOGICAL_UNIT_RESET, KEEL_SCSI_TMF_TARGET_WARM_RESET,
	KEEL_SCSI_TMF_TARGET_COLD_RESET,  KEEL_SCSI_TMF_TASK_REASSIGN,
	KEEL_SCSI_TMF_QUERY_TASK,         KEEL_SCSI_TMF_QUERY_TASK_SET,
	KEEL_SCSI_TMF_I_T_NEXUS_RESET,    KEEL_SCSI_TMF_QUERY_ASYNC_EVENT,
};

static void
poll_thread(void)
{
	keel_thread_poll(g_thread, 0, 0);
}

static void
init_done(int rc, void *ctx)
{
	*(int *)ctx = rc;
}

static void
lun_remove(struct keel_scsi_lun_desc *desc, void *ctx)
{
}

static void
fuzz_cleanup(void)
{
	rmdir(g_pr_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct malloc_bdev_opts mopts[2] = {
		{.name = g_bdev_names[0], .num_blocks = FUZZ_BLOCKS_512, .block_size = 512},
		{.name = g_bdev_names[1], .num_blocks = FUZZ_BLOCKS_4K, .block_size = 4096},
	};
	struct keel_env_opts opts;
	struct keel_bdev *bdev;
	const char *tmp;
	char err[128];
	int i, rc = 1;

	fuzz_setup_log();
	g_dump = getenv("KEEL_FUZZ_DUMP") != NULL;
	keel_env_opts_init(&opts);
	opts.name = "scsi_cdb_fuzz";
	opts.no_huge = true;
	opts.no_pci = true;
	opts.mem_size_mb = 256;
	FUZZ_CHECK(keel_env_init(&opts) == 0);
	FUZZ_CHECK(keel_thread_lib_init(NULL, 65535) == 0);
	g_thread = keel_thread_create("fuzz", NULL);
	FUZZ_CHECK(g_thread != NULL);
	keel_set_thread(g_thread);
	keel_subsystem_init(init_done, &rc);
	for (i = 0; i < 1000 && rc == 1; i++) {
		poll_thread();
	}
	FUZZ_CHECK(rc == 0);
	for (i = 0; i < 2; i++) {
		FUZZ_CHECK(bdev_malloc_create(&mopts[i], &bdev, err, sizeof(err)) == 0);
	}
	/* Reservations with APTPL persist to files: keep them out of the system's directory. */
	tmp = getenv("TMPDIR");
	if (tmp == NULL || strlen(tmp) + sizeof("/keel-fuzz-pr.XXXXXX") > sizeof(g_pr_dir)) {
		tmp = "/tmp";
	}
	snprintf(g_pr_dir, sizeof(g_pr_dir), "%s/keel-fuzz-pr.XXXXXX", tmp);
	FUZZ_CHECK(mkdtemp(g_pr_dir) != NULL);
	keel_scsi_set_pr_dir(g_pr_dir);
	atexit(fuzz_cleanup);
	return 0;
}

/*
 * Remove what APTPL reservations wrote, so the next input starts without them, and the
 * directory itself (the reservation code creates it again when it writes): libFuzzer may end
 * the process without running atexit handlers.
 */
static void
clear_pr_dir(void)
{
	char path[sizeof(g_pr_dir) + NAME_MAX + 2];
	struct dirent *de;
	DIR *d;

	d = opendir(g_pr_dir);
	if (d == NULL) {
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", g_pr_dir, de->d_name);
			unlink(path);
		}
	}
	closedir(d);
	rmdir(g_pr_dir);
}

/*
 * SAM-5 7.x: a function that aborts tasks answers after they have ended. Checked for the
 * functions whose reach is plain: the task named, or every earlier command on the LUN (for
 * ABORT TASK SET, those of the same initiator).
 */
static void
check_tmf_after_aborted(struct fuzz_cmd *tmf)
{
	const struct keel_scsi_task *t = &tmf->task;
	struct fuzz_ctx *ctx = tmf->ctx;
	struct fuzz_cmd *c;
	bool all;
	int i;

	if (t->response != KEEL_SCSI_TMF_RESP_COMPLETE) {
		return;
	}
	if (t->function == KEEL_SCSI_TMF_ABORT_TASK && t->abort_task != NULL) {
		c = KEEL_CONTAINEROF(t->abort_task, struct fuzz_cmd, task);
		FUZZ_CHECK(c->completions == 1);
		return;
	}
	if (t->function != KEEL_SCSI_TMF_ABORT_TASK_SET &&
	    t->function != KEEL_SCSI_TMF_CLEAR_TASK_SET &&
	    t->function != KEEL_SCSI_TMF_LOGICAL_UNIT_RESET) {
		return;
	}
	all = t->function != KEEL_SCSI_TMF_ABORT_TASK_SET;
	for (i = 0; i < FUZZ_MAX_INFLIGHT; i++) {
		c = &ctx->cmds[i];
		if (c->busy && !c->is_tmf && c->seq < tmf->seq && t->lun_desc != NULL &&
		    c->task.lun_desc == t->lun_desc &&
		    (all || c->task.initiator_port == t->initiator_port)) {
			FUZZ_CHECK(c->completions == 1);
		}
	}
}

static void
task_done(struct keel_scsi_task *task)
{
	struct fuzz_cmd *cmd = KEEL_CONTAINEROF(task, struct fuzz_cmd, task);

	FUZZ_CHECK(cmd->busy);
	cmd->completions++;
	if (cmd->is_tmf) {
		check_tmf_after_aborted(cmd);
	}
}

static void
dev_destructed(void *cb_arg, int rc)
{
	*(bool *)cb_arg = true;
}

static void
setup_dev(struct fuzz_ctx *ctx)
{
	struct keel_scsi_lun *lun;
	int i;

	ctx->dev = keel_scsi_dev_construct("fuzz", (const char *const *)g_bdev_names, g_lun_ids, 2,
					   KEEL_SCSI_PROTOCOL_ISCSI, NULL, NULL);
	FUZZ_CHECK(ctx->dev != NULL);
	FUZZ_CHECK(keel_scsi_dev_add_port(ctx->dev, 1, FUZZ_TGT) == 0);
	ctx->tgt_port = keel_scsi_dev_find_port_by_id(ctx->dev, 1);
	ctx->ini[0] = keel_scsi_port_create(0x00023d000001, 0, FUZZ_INI0);
	ctx->ini[1] = keel_scsi_port_create(0x00023d000002, 0, FUZZ_INI1);
	FUZZ_CHECK(ctx->tgt_port != NULL && ctx->ini[0] != NULL && ctx->ini[1] != NULL);
	for (i = 0; i < 2; i++) {
		lun = keel_scsi_dev_get_lun(ctx->dev, (uint64_t)i);
		FUZZ_CHECK(lun != NULL);
		FUZZ_CHECK(keel_scsi_lun_open(lun, lun_remove, ctx, &ctx->desc[i]) == 0);
	}
}

static void
teardown_dev(struct fuzz_ctx *ctx)
{
	int i;

	for (i = 0; i < 2; i++) {
		keel_scsi_dev_nexus_lost(ctx->dev, ctx->ini[i], ctx->tgt_port);
		keel_scsi_lun_close(ctx->desc[i]);
	}
	keel_scsi_dev_destruct(ctx->dev, dev_destructed, &ctx->destructed);
	for (i = 0; i < FUZZ_MAX_POLLS && !ctx->destructed; i++) {
		poll_thread();
	}
	FUZZ_CHECK(ctx->destructed);
	keel_scsi_port_free(&ctx->ini[0]);
	keel_scsi_port_free(&ctx->ini[1]);
	clear_pr_dir();
}

/* What the layer reports must agree with itself, whatever the command was. */
static void
check_result(const struct keel_scsi_task *task)
{
	uint8_t code;

	FUZZ_CHECK(task->data_transferred <= task->transfer_len);
	FUZZ_CHECK(task->sense_data_len <= KEEL_SCSI_SENSE_BUF_LEN);
	if (task->status == KEEL_SCSI_STATUS_CHECK_CONDITION) {
		FUZZ_CHECK(task->sense_data_len >= 8);
		code = task->sense_data[0] & 0x7f;
		if (task->desc_sense) {
			FUZZ_CHECK(code == 0x72 || code == 0x73);
		} else {
			FUZZ_CHECK(code == 0x70 || code == 0x71);
		}
	}
}

/* Poll until every task in flight has completed; check and release each. */
static void
wait_all(struct fuzz_ctx *ctx)
{
	struct fuzz_cmd *c;
	bool pending = true;
	int i, polls;

	for (polls = 0; polls < FUZZ_MAX_POLLS && pending; polls++) {
		poll_thread();
		pending = false;
		for (i = 0; i < FUZZ_MAX_INFLIGHT; i++) {
			pending |= ctx->cmds[i].busy && ctx->cmds[i].completions == 0;
		}
	}
	/* Nothing more arrives later. */
	poll_thread();
	for (i = 0; i < FUZZ_MAX_INFLIGHT; i++) {
		c = &ctx->cmds[i];
		if (!c->busy) {
			continue;
		}
		FUZZ_CHECK(c->completions == 1);
		if (g_dump) {
			fprintf(stderr,
				"%s %02x lun %d: status %02x, response %u, sense %02x %02x %02x "
				"%02x, %u bytes%s\n",
				c->is_tmf ? "tmf" : "opcode",
				c->is_tmf ? c->task.function : c->task.cdb[0],
				c->task.lun_desc != NULL ? (int)c->task.lun_id : -1, c->task.status,
				c->task.response, c->task.sense_data[0], c->task.sense_data[2],
				c->task.sense_data[12], c->task.sense_data[13],
				c->task.data_transferred, c->task.aborted ? ", aborted" : "");
		}
		if (!c->is_tmf) {
			check_result(&c->task);
		}
		free(c->buf);
		c->buf = NULL;
		c->busy = false;
	}
}

static struct fuzz_cmd *
free_slot(struct fuzz_ctx *ctx)
{
	int i;

	for (i = 0; i < FUZZ_MAX_INFLIGHT; i++) {
		if (!ctx->cmds[i].busy) {
			return &ctx->cmds[i];
		}
	}
	wait_all(ctx);
	return &ctx->cmds[0];
}

/* The data buffers of a command: one, or three of uneven sizes (as a transport might gather). */
static void
setup_buffers(struct fuzz_cmd *cmd, uint32_t xfer, bool split)
{
	struct keel_scsi_task *task = &cmd->task;
	uint8_t *buf = cmd->buf;

	if (split && xfer >= 3) {
		cmd->iov[0] = (struct iovec){.iov_base = buf, .iov_len = 1};
		cmd->iov[1] = (struct iovec){.iov_base = buf + 1, .iov_len = xfer / 2};
		cmd->iov[2] = (struct iovec){.iov_base = buf + 1 + xfer / 2,
					     .iov_len = xfer - 1 - xfer / 2};
		task->iovcnt = 3;
	} else {
		cmd->iov[0] = (struct iovec){.iov_base = buf, .iov_len = xfer};
		task->iovcnt = 1;
	}
	task->iovs = cmd->iov;
}

/* Start one record of the input; returns the bytes it used, 0 at the end. */
static size_t
run_record(struct fuzz_ctx *ctx, const uint8_t *data, size_t size)
{
	struct fuzz_cmd *cmd, *named;
	uint8_t flags, flags2, dir;
	struct keel_scsi_task *task;
	uint32_t xfer, cdb_len, n;
	size_t used;

	if (size < 4) {
		return 0;
	}
	flags = data[0];
	flags2 = data[1];
	cdb_len = (uint32_t)(flags2 & F2_LEN_MASK) + 1;
	xfer = (uint32_t)data[2] << 8 | data[3];
	used = 4;
	if (size - used < cdb_len) {
		return 0;
	}
	cmd = free_slot(ctx);
	task = &cmd->task;
	memset(task, 0, sizeof(*task));
	memcpy(task->cdb, data + used, cdb_len);
	task->cdb_len = (uint8_t)cdb_len;
	used += cdb_len;

	dir = flags & F_DIR_MASK;
	cmd->buf = malloc(xfer > 0 ? xfer : 1);
	FUZZ_CHECK(cmd->buf != NULL);
	memset(cmd->buf, 0xa5, xfer);
	if (dir == KEEL_SCSI_DIR_TO_DEV && !(flags2 & F2_TMF)) {
		n = size - used < xfer ? (uint32_t)(size - used) : xfer;
		memcpy(cmd->buf, data + used, n);
		memset(cmd->buf + n, 0, xfer - n);
		used += n;
	}

	task->dev = ctx->dev;
	task->lun_id = flags & F_LUN1 ? 1 : 0;
	task->lun_desc = dir == F_DIR_NO_LUN ? NULL : ctx->desc[task->lun_id];
	if (dir == F_DIR_NO_LUN) {
		task->lun_id = 5; /* no such LUN */
	}
	task->target_port = ctx->tgt_port;
	task->initiator_port = ctx->ini[flags & F_INI1 ? 1 : 0];
	task->attr = (enum keel_scsi_task_attr)(((flags >> F_ATTR_SHIFT) & F_ATTR_MASK) + 1);
	task->dxfer_dir = dir == F_DIR_NO_LUN ? KEEL_SCSI_DIR_NONE : (enum keel_scsi_data_dir)dir;
	task->transfer_len = xfer;
	task->desc_sense = (flags & F_DESC_SENSE) != 0;
	task->tag = ctx->next_seq;
	task->cpl_fn = task_done;
	setup_buffers(cmd, xfer, (flags & F_SPLIT) != 0);

	cmd->ctx = ctx;
	cmd->seq = ctx->next_seq++;
	cmd->completions = 0;
	cmd->busy = true;
	cmd->is_tmf = (flags2 & F2_TMF) != 0;
	if (cmd->is_tmf) {
		task->function = g_tmfs[task->cdb[0] % (sizeof(g_tmfs) / sizeof(g_tmfs[0]))];
		named = &ctx->cmds[task->cdb[1] % FUZZ_MAX_INFLIGHT];
		/* As a transport finds it: a command of the same I_T_L nexus still running. */
		if (named != cmd && named->busy && !named->is_tmf && named->completions == 0 &&
		    named->task.lun_desc == task->lun_desc &&
		    named->task.initiator_port == task->initiator_port) {
			task->abort_task = &named->task;
			task->abort_tag = named->task.tag;
		} else {
			task->abort_tag = task->cdb[2];
		}
		keel_scsi_task_mgmt(task);
	} else {
		keel_scsi_task_execute(task);
	}
	/* Never completed inside the call. */
	FUZZ_CHECK(cmd->completions == 0);
	if (!(flags2 & F2_NO_WAIT)) {
		wait_all(ctx);
	}
	return used;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_ctx ctx = {0};
	size_t off = 0, used;
	int i;

	setup_dev(&ctx);
	for (i = 0; i < FUZZ_MAX_COMMANDS; i++) {
		used = run_record(&ctx, data + off, size - off);
		if (used == 0) {
			break;
		}
		off += used;
	}
	wait_all(&ctx);
	teardown_dev(&ctx);
	return 0;
}
