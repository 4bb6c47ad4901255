/*
 * Fuzz target for SCSI command handling (lib/scsi): the input is a sequence of commands, each a
 * CDB with its Data-Out, run one after the other through keel_scsi_task_execute() on a device
 * with two RAM LUNs (512- and 4096-byte blocks) and two initiators. Each input gets a fresh
 * device, so reservations, mode pages and unit attentions start over. Every command must
 * complete exactly once, later, with a status and sense data that agree.
 *
 * One command in the input:
 *   byte 0     flags: bits 0-1 data direction (0 none, 1 Data-Out, 2 Data-In, 3 none and no
 *              LUN), bit 2 descriptor sense, bit 3 LUN 1, bit 4 second initiator, bits 5-6
 *              task attribute (simple, ordered, head of queue, ACA), bit 7 data in three buffers
 *   byte 1     CDB length - 1 (modulo 32)
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

static struct keel_thread *g_thread;
static char g_pr_dir[64];
static const char *const g_bdev_names[] = {"FuzzMalloc0", "FuzzMalloc1"};
static const int g_lun_ids[] = {0, 1};
static bool g_dump; /* KEEL_FUZZ_DUMP set: print each command's outcome to stderr */

struct fuzz_ctx {
	struct keel_scsi_dev *dev;
	struct keel_scsi_port *tgt_port;
	struct keel_scsi_port *ini[2];
	struct keel_scsi_lun_desc *desc[2];
	struct keel_scsi_task task;
	unsigned int completions;
	bool destructed;
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

/* Remove what APTPL reservations wrote, so the next input starts without them. */
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
}

static void
task_done(struct keel_scsi_task *task)
{
	struct fuzz_ctx *ctx = KEEL_CONTAINEROF(task, struct fuzz_ctx, task);

	ctx->completions++;
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

/* Run one command from the input; returns the bytes it used, 0 at the end. */
static size_t
run_command(struct fuzz_ctx *ctx, const uint8_t *data, size_t size)
{
	struct keel_scsi_task *task = &ctx->task;
	uint8_t flags, dir, *buf;
	uint32_t xfer, cdb_len, n;
	struct iovec iov[3];
	size_t used;
	int i;

	if (size < 4) {
		return 0;
	}
	flags = data[0];
	cdb_len = (uint32_t)data[1] % 32 + 1;
	xfer = (uint32_t)data[2] << 8 | data[3];
	used = 4;
	if (size - used < cdb_len) {
		return 0;
	}
	memset(task, 0, sizeof(*task));
	memcpy(task->cdb, data + used, cdb_len);
	task->cdb_len = (uint8_t)cdb_len;
	used += cdb_len;

	dir = flags & F_DIR_MASK;
	buf = malloc(xfer > 0 ? xfer : 1);
	FUZZ_CHECK(buf != NULL);
	memset(buf, 0xa5, xfer);
	if (dir == KEEL_SCSI_DIR_TO_DEV) {
		n = size - used < xfer ? (uint32_t)(size - used) : xfer;
		memcpy(buf, data + used, n);
		memset(buf + n, 0, xfer - n);
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
	task->tag = (uint64_t)used;
	task->cpl_fn = task_done;
	if (flags & F_SPLIT && xfer >= 3) {
		/* Three buffers of uneven sizes, as a transport gathering PDUs might hand over. */
		iov[0] = (struct iovec){.iov_base = buf, .iov_len = 1};
		iov[1] = (struct iovec){.iov_base = buf + 1, .iov_len = xfer / 2};
		iov[2] = (struct iovec){.iov_base = buf + 1 + xfer / 2,
					.iov_len = xfer - 1 - xfer / 2};
		task->iovs = iov;
		task->iovcnt = 3;
	} else {
		iov[0] = (struct iovec){.iov_base = buf, .iov_len = xfer};
		task->iovs = iov;
		task->iovcnt = 1;
	}

	ctx->completions = 0;
	keel_scsi_task_execute(task);
	/* Never completed inside the call. */
	FUZZ_CHECK(ctx->completions == 0);
	for (i = 0; i < FUZZ_MAX_POLLS && ctx->completions == 0; i++) {
		poll_thread();
	}
	FUZZ_CHECK(ctx->completions == 1);
	/* Nothing more arrives later. */
	poll_thread();
	FUZZ_CHECK(ctx->completions == 1);
	if (g_dump) {
		fprintf(stderr,
			"opcode %02x lun %d: status %02x, sense %02x %02x %02x %02x, %u bytes\n",
			task->cdb[0], task->lun_desc != NULL ? (int)task->lun_id : -1, task->status,
			task->sense_data[0], task->sense_data[2], task->sense_data[12],
			task->sense_data[13], task->data_transferred);
	}
	check_result(task);
	free(buf);
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
		used = run_command(&ctx, data + off, size - off);
		if (used == 0) {
			break;
		}
		off += used;
	}
	teardown_dev(&ctx);
	return 0;
}
