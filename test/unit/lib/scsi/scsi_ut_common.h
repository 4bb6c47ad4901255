/*
 * Shared by the unit tests of the SCSI core and block commands (dev_ut, lun_ut, task_ut,
 * sbc_ut): the core's sources with the real primary commands (spc.c) and fakes of reservations
 * and EXTENDED COPY, a RAM bdev module that can hold I/O, refuse it with NOMEM or fail it, two
 * threads polled by the test, and helpers that build tasks and read their sense data.
 */
#ifndef SCSI_UT_COMMON_H
#define SCSI_UT_COMMON_H

#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/bdev_module.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/rpc.h"
#include "keel/thread.h"
#include "ut.h"

#include "scsi/dev.c"
#include "scsi/lun.c"
#include "scsi/port.c"
#include "scsi/task.c"
#include "scsi/sbc.c"
#include "scsi/scsi_rpc.c"
#include "scsi/spc.c"
#include "scsi/spc_mode.c"
#include "scsi/spc_vpd.c"
#include "scsi/naa.c"

#define UT_BLOCKS 16384
#define UT_BLKLEN 512
#define UT_INI0 "iqn.2026-01.org.example:host0,i,0x00023d000001"
#define UT_INI1 "iqn.2026-01.org.example:host1,i,0x00023d000002"
#define UT_TGT "iqn.2016-06.io.spdk:disk1,t,0x0001"
#define UT_UNUSED __attribute__((unused))

/*
 * Fakes of reservations (pr.c) and EXTENDED COPY (xcopy.c).
 */
static int g_pr_conflict; /* scsi_pr_check answers RESERVATION CONFLICT */
static int g_pr_nexus_lost_calls;
static int g_pr_lun_reset_calls;
static int g_pr_fini_calls;
static int g_xcopy_fini_calls;

int
scsi_pr_check(struct keel_scsi_task *task)
{
	if (g_pr_conflict) {
		task->status = KEEL_SCSI_STATUS_RESERVATION_CONFLICT;
		task->sense_data_len = 0;
		return -EACCES;
	}
	return 0;
}

bool
scsi_pr_execute(struct keel_scsi_task *task)
{
	return false;
}

size_t
scsi_pr_opcodes(const struct scsi_opcode_info **rows)
{
	*rows = NULL;
	return 0;
}

void
scsi_pr_load(struct keel_scsi_lun *lun)
{
}

void
scsi_pr_nexus_lost(struct keel_scsi_lun *lun, const char *initiator, const char *target)
{
	g_pr_nexus_lost_calls++;
}

void
scsi_pr_lun_reset(struct keel_scsi_lun *lun)
{
	g_pr_lun_reset_calls++;
}

void
scsi_pr_lun_fini(struct keel_scsi_lun *lun)
{
	g_pr_fini_calls++;
}

void
keel_scsi_set_pr_dir(const char *dir)
{
}

bool
scsi_xcopy_execute(struct keel_scsi_task *task)
{
	return false;
}

size_t
scsi_xcopy_opcodes(const struct scsi_opcode_info **rows)
{
	*rows = NULL;
	return 0;
}

size_t
scsi_xcopy_vpd_8f(struct keel_scsi_lun *lun, uint8_t *buf, size_t len)
{
	return 0;
}

void
scsi_xcopy_lun_fini(struct keel_scsi_lun *lun)
{
	g_xcopy_fini_calls++;
}

/*
 * The RAM test module.
 */
struct ut_disk {
	struct keel_bdev bdev;
	uint8_t *data;
	bool registered;
	bool hold;      /* keep I/O until ut_release() */
	int nomem_left; /* answer NOMEM this many times */
	int fail_left;  /* fail this many I/Os */
	int abort_left; /* end this many I/Os ABORTED (as a bdev reset does), unexecuted */
	bool no_unmap;
	bool no_flush;
	bool abort_held_on_reset; /* reset_channel ends the held I/O of its thread ABORTED */
	uint32_t submits;
	uint32_t inflight;
	uint32_t max_inflight;
	uint64_t max_seen_blocks;
	uint32_t by_type[KEEL_BDEV_NUM_IO_TYPES];
	uint32_t fua_writes;
	TAILQ_HEAD(, keel_bdev_io) held;
};

struct ut_channel {
	struct keel_poller *poller;
	TAILQ_HEAD(, keel_bdev_io) done;
};

static struct keel_thread *g_t[2];
static int g_ch_dev;

static void
ut_execute(struct ut_disk *d, struct keel_bdev_io *io)
{
	uint32_t bs = d->bdev.blocklen;
	uint64_t off = io->u.bdev.offset_blocks * bs;
	int i;

	switch (io->type) {
	case KEEL_BDEV_IO_TYPE_READ:
	case KEEL_BDEV_IO_TYPE_WRITE:
		for (i = 0; i < io->u.bdev.iovcnt; i++) {
			struct iovec *v = &io->u.bdev.iovs[i];

			if (io->type == KEEL_BDEV_IO_TYPE_READ &&
			    (io->u.bdev.flags & KEEL_BDEV_IO_FLAG_ZCOPY)) {
				v->iov_base = d->data + off; /* bdev.zcopy_read */
			} else if (io->type == KEEL_BDEV_IO_TYPE_READ) {
				memcpy(v->iov_base, d->data + off, v->iov_len);
			} else {
				memcpy(d->data + off, v->iov_base, v->iov_len);
			}
			off += v->iov_len;
		}
		break;
	case KEEL_BDEV_IO_TYPE_UNMAP:
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		memset(d->data + off, 0, io->u.bdev.num_blocks * bs);
		break;
	default:
		break;
	}
}

static void
ut_complete(struct ut_disk *d, struct keel_bdev_io *io)
{
	enum keel_bdev_io_status st = KEEL_BDEV_IO_STATUS_SUCCESS;

	d->inflight--;
	if (d->fail_left > 0 && io->type != KEEL_BDEV_IO_TYPE_RESET) {
		d->fail_left--;
		st = KEEL_BDEV_IO_STATUS_FAILED;
	} else if (d->abort_left > 0 && io->type != KEEL_BDEV_IO_TYPE_RESET) {
		d->abort_left--;
		st = KEEL_BDEV_IO_STATUS_ABORTED;
	} else {
		ut_execute(d, io);
	}
	keel_bdev_io_complete(io, st);
}

static int
ut_ch_poll(void *arg)
{
	struct ut_channel *uch = arg;
	struct keel_bdev_io *io;
	int n = 0;

	while ((io = TAILQ_FIRST(&uch->done)) != NULL) {
		TAILQ_REMOVE(&uch->done, io, internal.link);
		ut_complete(io->bdev->ctxt, io);
		n++;
	}
	return n ? KEEL_POLLER_BUSY : KEEL_POLLER_IDLE;
}

static void
ut_submit(struct keel_io_channel *ch, struct keel_bdev_io *io)
{
	struct ut_disk *d = io->bdev->ctxt;
	struct ut_channel *uch = keel_io_channel_get_ctx(ch);

	d->submits++;
	d->by_type[io->type]++;
	if (io->type == KEEL_BDEV_IO_TYPE_WRITE && (io->u.bdev.flags & KEEL_BDEV_IO_FLAG_FUA)) {
		d->fua_writes++;
	}
	d->max_seen_blocks = KEEL_MAX(d->max_seen_blocks, io->u.bdev.num_blocks);
	if (d->nomem_left > 0 && io->type != KEEL_BDEV_IO_TYPE_RESET) {
		d->nomem_left--;
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_NOMEM);
		return;
	}
	d->inflight++;
	d->max_inflight = KEEL_MAX(d->max_inflight, d->inflight);
	if (d->hold && io->type != KEEL_BDEV_IO_TYPE_RESET) {
		TAILQ_INSERT_TAIL(&d->held, io, internal.link);
		return;
	}
	TAILQ_INSERT_TAIL(&uch->done, io, internal.link);
}

/* Complete the I/O held now, each on the thread that submitted it; I/O submitted meanwhile is
 * held again if keep_holding. */
UT_UNUSED static void
ut_release_held(struct ut_disk *d, bool keep_holding)
{
	TAILQ_HEAD(, keel_bdev_io) now = TAILQ_HEAD_INITIALIZER(now);
	struct keel_thread *self = keel_get_thread();
	struct keel_bdev_io *io;

	d->hold = keep_holding;
	TAILQ_CONCAT(&now, &d->held, internal.link);
	while ((io = TAILQ_FIRST(&now)) != NULL) {
		TAILQ_REMOVE(&now, io, internal.link);
		keel_set_thread(keel_bdev_io_get_thread(io));
		ut_complete(d, io);
	}
	keel_set_thread(self);
}

/* Stop holding and complete every held I/O. */
UT_UNUSED static void
ut_release(struct ut_disk *d)
{
	ut_release_held(d, false);
}

UT_UNUSED static uint32_t
ut_held_count(struct ut_disk *d)
{
	struct keel_bdev_io *io;
	uint32_t n = 0;

	TAILQ_FOREACH (io, &d->held, internal.link) {
		n++;
	}
	return n;
}

static bool
ut_supported(void *ctx, enum keel_bdev_io_type type)
{
	struct ut_disk *d = ctx;

	switch (type) {
	case KEEL_BDEV_IO_TYPE_COMPARE:
	case KEEL_BDEV_IO_TYPE_COMPARE_AND_WRITE:
	case KEEL_BDEV_IO_TYPE_RESET:
		return false;
	case KEEL_BDEV_IO_TYPE_UNMAP:
		return !d->no_unmap;
	case KEEL_BDEV_IO_TYPE_FLUSH:
		return !d->no_flush;
	default:
		return true;
	}
}

static struct keel_io_channel *
ut_get_io_channel(void *ctx)
{
	return keel_get_io_channel(&g_ch_dev);
}

static int
ut_destruct(void *ctx)
{
	return 0;
}

static int
ut_ch_create(void *dev, void *buf)
{
	struct ut_channel *uch = buf;

	TAILQ_INIT(&uch->done);
	uch->poller = keel_poller_register(ut_ch_poll, uch, 0);
	return uch->poller ? 0 : -ENOMEM;
}

static void
ut_ch_destroy(void *dev, void *buf)
{
	struct ut_channel *uch = buf;

	keel_poller_unregister(&uch->poller);
}

/* A reset has begun: a disk that holds I/O back indefinitely gives up what this thread's
 * channel holds, as a module that holds I/O must. */
static void
ut_reset_channel(void *ctx, struct keel_io_channel *ch)
{
	struct ut_disk *d = ctx;
	struct keel_bdev_io *io, *tmp;

	if (!d->abort_held_on_reset) {
		return;
	}
	TAILQ_FOREACH_SAFE (io, &d->held, internal.link, tmp) {
		if (keel_bdev_io_get_thread(io) == keel_get_thread()) {
			TAILQ_REMOVE(&d->held, io, internal.link);
			d->inflight--;
			keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_ABORTED);
		}
	}
}

static const struct keel_bdev_fn_table g_ut_fn = {
	.destruct = ut_destruct,
	.submit_request = ut_submit,
	.io_type_supported = ut_supported,
	.get_io_channel = ut_get_io_channel,
	.reset_channel = ut_reset_channel,
};

static struct keel_bdev_module g_ut_module = {
	.name = "ut",
};

static void
poll_threads(int rounds)
{
	int i, j;

	for (i = 0; i < rounds; i++) {
		for (j = 0; j < 2; j++) {
			keel_thread_poll(g_t[j], 0, 0);
		}
	}
	keel_set_thread(g_t[0]);
}

/* Poll until *flag is non-zero or a second has passed; true if it became non-zero. */
UT_UNUSED static bool
poll_until(const int *flag)
{
	uint64_t start = keel_get_ticks();

	while (*flag == 0 && keel_get_ticks() - start < keel_get_ticks_hz()) {
		poll_threads(1);
	}
	return *flag != 0;
}

static struct ut_disk g_disks[3];

UT_UNUSED static struct ut_disk *
ut_disk_register(int i, const char *name, uint64_t blocks, uint32_t blklen)
{
	struct ut_disk *d = &g_disks[i];

	memset(d, 0, sizeof(*d));
	TAILQ_INIT(&d->held);
	d->data = calloc(blocks, blklen);
	d->bdev.name = strdup(name);
	d->bdev.product_name = "ut disk";
	d->bdev.blocklen = blklen;
	d->bdev.blockcnt = blocks;
	d->bdev.unmap_reads_zeroes = true;
	d->bdev.write_cache = true;
	d->bdev.ctxt = d;
	d->bdev.fn_table = &g_ut_fn;
	d->bdev.module = &g_ut_module;
	keel_set_thread(g_t[0]);
	if (keel_bdev_register(&d->bdev) != 0) {
		return NULL;
	}
	d->registered = true;
	return d;
}

static int g_unreg_rc = 1;

static void
unreg_done(void *arg, int rc)
{
	g_unreg_rc = rc;
}

/* Unregister (a hot-remove when it is open) and poll until it is gone. */
static void
ut_disk_unregister(struct ut_disk *d)
{
	if (!d->registered) {
		return;
	}
	keel_set_thread(g_t[0]);
	g_unreg_rc = 1;
	keel_bdev_unregister(&d->bdev, unreg_done, NULL);
	poll_threads(50);
	d->registered = false;
}

UT_UNUSED static void
ut_disk_free(struct ut_disk *d)
{
	ut_disk_unregister(d);
	free(d->bdev.name);
	free(d->data);
	d->data = NULL;
}

static void
init_done(int rc, void *ctx)
{
	*(int *)ctx = rc;
}

UT_UNUSED static int
ut_suite_init(const char *name)
{
	struct keel_env_opts opts;
	struct keel_bdev_opts bopts;
	int rc = -1;

	keel_env_opts_init(&opts);
	opts.name = name;
	opts.no_huge = true;
	opts.mem_size_mb = 256;
	if (keel_env_init(&opts) != 0 || keel_thread_lib_init(NULL, 65535) != 0) {
		return 1;
	}
	g_t[0] = keel_thread_create("ut0", NULL);
	g_t[1] = keel_thread_create("ut1", NULL);
	keel_set_thread(g_t[0]);
	keel_bdev_get_opts(&bopts);
	bopts.bdev_io_pool_size = 1024;
	bopts.bdev_io_cache_size = 16;
	if (keel_bdev_set_opts(&bopts) != 0) {
		return 1;
	}
	keel_io_device_register(&g_ch_dev, ut_ch_create, ut_ch_destroy, sizeof(struct ut_channel),
				"ut");
	keel_subsystem_init(init_done, &rc);
	poll_threads(100);
	keel_set_thread(g_t[0]);
	return rc == 0 ? 0 : 1;
}

/*
 * Devices, ports and tasks.
 */
static int g_removed_calls;
static uint64_t g_removed_lun;

static void
ut_lun_removed(struct keel_scsi_dev *dev, uint64_t lun_id, void *ctx)
{
	g_removed_calls++;
	g_removed_lun = lun_id;
}

static struct keel_scsi_port *g_ini[2];
static struct keel_scsi_port *g_tgt;

UT_UNUSED static void
ut_ports_create(struct keel_scsi_dev *dev)
{
	g_ini[0] = keel_scsi_port_create(1, 0, UT_INI0);
	g_ini[1] = keel_scsi_port_create(2, 0, UT_INI1);
	CU_ASSERT_FATAL(keel_scsi_dev_add_port(dev, 1, UT_TGT) == 0);
	g_tgt = keel_scsi_dev_find_port_by_id(dev, 1);
}

UT_UNUSED static void
ut_ports_free(void)
{
	keel_scsi_port_free(&g_ini[0]);
	keel_scsi_port_free(&g_ini[1]);
}

struct ut_task {
	struct keel_scsi_task t;
	struct iovec iov[4];
	uint8_t *buf;
	uint32_t buflen;
	int done;
};

static void
ut_task_cpl(struct keel_scsi_task *t)
{
	struct ut_task *ut = (struct ut_task *)t;

	ut->done++;
}

/* A task for desc (or for dev without a LUN when desc is NULL) from initiator ini, with a
 * zeroed data buffer of xfer bytes split over iovcnt (1..4) iovecs. */
UT_UNUSED static struct ut_task *
ut_task_new(struct keel_scsi_dev *dev, struct keel_scsi_lun_desc *desc, int ini, const uint8_t *cdb,
	    uint8_t cdb_len, uint32_t xfer, int iovcnt)
{
	struct ut_task *ut = calloc(1, sizeof(*ut));
	uint32_t off = 0, part;
	int i;

	ut->buflen = xfer;
	ut->buf = calloc(1, xfer + 1);
	ut->t.dev = dev;
	ut->t.lun_desc = desc;
	ut->t.lun_id = desc != NULL ? desc->lun->id : 0;
	ut->t.initiator_port = g_ini[ini];
	ut->t.target_port = g_tgt;
	memcpy(ut->t.cdb, cdb, cdb_len);
	ut->t.cdb_len = cdb_len;
	ut->t.attr = KEEL_SCSI_TASK_ATTR_SIMPLE;
	ut->t.transfer_len = xfer;
	ut->t.cpl_fn = ut_task_cpl;
	if (iovcnt < 1) {
		iovcnt = 1;
	}
	for (i = 0; i < iovcnt; i++) {
		part = i == iovcnt - 1 ? xfer - off : xfer / (uint32_t)iovcnt;
		ut->iov[i].iov_base = ut->buf + off;
		ut->iov[i].iov_len = part;
		off += part;
	}
	ut->t.iovs = ut->iov;
	ut->t.iovcnt = iovcnt;
	return ut;
}

UT_UNUSED static void
ut_task_free(struct ut_task *ut)
{
	if (ut != NULL) {
		free(ut->buf);
		free(ut);
	}
}

/* Execute on the descriptor's thread (thread 0 without one) and poll until it completes. */
UT_UNUSED static void
ut_run(struct ut_task *ut)
{
	keel_set_thread(ut->t.lun_desc != NULL ? ut->t.lun_desc->thread : g_t[0]);
	keel_scsi_task_execute(&ut->t);
	CU_ASSERT(ut->done == 0); /* never inline */
	poll_until(&ut->done);
	CU_ASSERT(ut->done == 1);
}

UT_UNUSED static void
ut_start(struct ut_task *ut)
{
	keel_set_thread(ut->t.lun_desc != NULL ? ut->t.lun_desc->thread : g_t[0]);
	keel_scsi_task_execute(&ut->t);
	keel_set_thread(g_t[0]);
}

/* Sense key and ASC/ASCQ of a task (fixed or descriptor format); -1 when it has none. */
UT_UNUSED static int
ut_sk(const struct keel_scsi_task *t)
{
	if (t->sense_data_len == 0) {
		return -1;
	}
	return (t->sense_data[0] & 0x7f) >= 0x72 ? t->sense_data[1] & 0xf : t->sense_data[2] & 0xf;
}

UT_UNUSED static int
ut_asc(const struct keel_scsi_task *t)
{
	if (t->sense_data_len == 0) {
		return -1;
	}
	if ((t->sense_data[0] & 0x7f) >= 0x72) {
		return t->sense_data[2] << 8 | t->sense_data[3];
	}
	return t->sense_data[12] << 8 | t->sense_data[13];
}

UT_UNUSED static bool
ut_check(const struct keel_scsi_task *t, int sk, int asc)
{
	return t->status == KEEL_SCSI_STATUS_CHECK_CONDITION && ut_sk(t) == sk && ut_asc(t) == asc;
}

/* A fixed-format sense's INFORMATION field (VALID set), or -1. */
UT_UNUSED static int64_t
ut_info(const struct keel_scsi_task *t)
{
	if (t->sense_data_len < 18 || (t->sense_data[0] & 0x7f) != 0x70 ||
	    !(t->sense_data[0] & 0x80)) {
		return -1;
	}
	return keel_from_be32(&t->sense_data[3]);
}

/* Run one CDB and return the task (the caller frees it). */
UT_UNUSED static struct ut_task *
ut_cmd(struct keel_scsi_dev *dev, struct keel_scsi_lun_desc *desc, int ini, const uint8_t *cdb,
       uint8_t cdb_len, uint32_t xfer)
{
	struct ut_task *ut = ut_task_new(dev, desc, ini, cdb, cdb_len, xfer, 1);

	ut_run(ut);
	return ut;
}

/* TEST UNIT READY from ini until it answers GOOD (clears UAs); how many UAs it took. */
UT_UNUSED static int
ut_clear_ua(struct keel_scsi_dev *dev, struct keel_scsi_lun_desc *desc, int ini)
{
	static const uint8_t tur[6] = {0};
	struct ut_task *ut;
	int n = 0, status;

	do {
		ut = ut_cmd(dev, desc, ini, tur, 6, 0);
		status = ut->t.status;
		n += status == KEEL_SCSI_STATUS_CHECK_CONDITION;
		ut_task_free(ut);
	} while (status != KEEL_SCSI_STATUS_GOOD && n < 64);
	return n;
}

/* The first UA a TEST UNIT READY from ini gets, as ASC/ASCQ, or -1 if it is GOOD. */
UT_UNUSED static int
ut_next_ua(struct keel_scsi_dev *dev, struct keel_scsi_lun_desc *desc, int ini)
{
	static const uint8_t tur[6] = {0};
	struct ut_task *ut = ut_cmd(dev, desc, ini, tur, 6, 0);
	int asc = -1;

	if (ut->t.status == KEEL_SCSI_STATUS_CHECK_CONDITION &&
	    ut_sk(&ut->t) == KEEL_SCSI_SENSE_UNIT_ATTENTION) {
		asc = ut_asc(&ut->t);
	}
	ut_task_free(ut);
	return asc;
}

static int g_desc_removed;

static void
ut_desc_remove_cb(struct keel_scsi_lun_desc *desc, void *ctx)
{
	g_desc_removed++;
	if (ctx != NULL) {
		keel_scsi_lun_close(desc);
	}
}

/* Open LUN lun_id of dev on thread t. close_on_remove: the remove callback closes it. */
UT_UNUSED static struct keel_scsi_lun_desc *
ut_open(struct keel_scsi_dev *dev, uint64_t lun_id, int t, bool close_on_remove)
{
	struct keel_scsi_lun_desc *desc = NULL;
	struct keel_scsi_lun *lun = keel_scsi_dev_get_lun(dev, lun_id);

	CU_ASSERT_FATAL(lun != NULL);
	keel_set_thread(g_t[t]);
	CU_ASSERT(keel_scsi_lun_open(lun, ut_desc_remove_cb, close_on_remove ? (void *)1 : NULL,
				     &desc) == 0);
	keel_set_thread(g_t[0]);
	return desc;
}

UT_UNUSED static void
ut_close(struct keel_scsi_lun_desc *desc)
{
	keel_set_thread(desc->thread);
	keel_scsi_lun_close(desc);
	keel_set_thread(g_t[0]);
	poll_threads(5);
}

static int g_destruct_done;

static void
ut_destruct_done(void *arg, int rc)
{
	g_destruct_done++;
}

UT_UNUSED static void
ut_dev_destruct(struct keel_scsi_dev *dev)
{
	g_destruct_done = 0;
	keel_set_thread(g_t[0]);
	keel_scsi_dev_destruct(dev, ut_destruct_done, NULL);
	poll_until(&g_destruct_done);
	CU_ASSERT(g_destruct_done == 1);
}

/* A device "dev0" with LUN 0 on bdev "ut0" (g_disks[0]) and the initiator and target ports. */
UT_UNUSED static struct keel_scsi_dev *
ut_dev_setup(void)
{
	const char *names[] = {"ut0"};
	int ids[] = {0};
	struct keel_scsi_dev *dev;

	CU_ASSERT_FATAL(ut_disk_register(0, "ut0", UT_BLOCKS, UT_BLKLEN) != NULL);
	keel_set_thread(g_t[0]);
	dev = keel_scsi_dev_construct("dev0", names, ids, 1, KEEL_SCSI_PROTOCOL_ISCSI,
				      ut_lun_removed, NULL);
	CU_ASSERT_FATAL(dev != NULL);
	ut_ports_create(dev);
	g_removed_calls = 0;
	return dev;
}

UT_UNUSED static void
ut_dev_teardown(struct keel_scsi_dev *dev)
{
	ut_dev_destruct(dev);
	ut_ports_free();
	ut_disk_free(&g_disks[0]);
}

#endif /* SCSI_UT_COMMON_H */
