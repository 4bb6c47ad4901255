/*
 * Unit tests of EXTENDED COPY and RECEIVE COPY RESULTS (xcopy.c) over real RAM bdevs (the
 * malloc module) and the real bdev layer, with threads polled by the test: copies between two
 * LUNs of a device and within one with the data checked, segment errors with their segment
 * numbers, every parameter list check libiscsi's tests make, held results, VPD page 8Fh. The rest
 * of the SCSI layer is replaced by small fakes.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/thread.h"
#include "ut.h"

#include "bdev/malloc/bdev_malloc.h"
#include "scsi/naa.c"
#include "scsi/xcopy.c"

#define UT_BLOCKS 8192
#define UT_BLKLEN 512
#define UT_BLKLEN_4K 4096
#define INI0 "iqn.2026-01.org.example:host1,i,0x00023d000001"
#define INI1 "iqn.2026-01.org.example:host2,i,0x00023d000002"

/*
 * Fakes of the rest of the SCSI layer.
 */
static int g_completions;
static int g_holds;
static struct keel_scsi_lun *g_conflict_lun;

void
scsi_sense_build(uint8_t *buf, uint16_t *len, bool desc_format, int sk, int asc_ascq,
		 const uint8_t *sks, uint64_t info, bool info_valid)
{
	if (!desc_format) {
		memset(buf, 0, 18);
		buf[0] = 0x70;
		buf[2] = (uint8_t)sk;
		buf[7] = 10;
		buf[12] = (uint8_t)(asc_ascq >> 8);
		buf[13] = (uint8_t)asc_ascq;
		if (sks != NULL) {
			buf[15] = sks[0] | 0x80;
			buf[16] = sks[1];
			buf[17] = sks[2];
		}
		*len = 18;
		return;
	}
	memset(buf, 0, 16);
	buf[0] = 0x72;
	buf[1] = (uint8_t)sk;
	buf[2] = (uint8_t)(asc_ascq >> 8);
	buf[3] = (uint8_t)asc_ascq;
	if (sks != NULL) {
		buf[8] = 0x02;
		buf[9] = 0x06;
		buf[12] = sks[0] | 0x80;
		buf[13] = sks[1];
		buf[14] = sks[2];
		buf[7] = 8;
		*len = 16;
		return;
	}
	*len = 8;
}

void
scsi_task_set_sense(struct keel_scsi_task *task, int sk, int asc_ascq, const uint8_t *sks,
		    uint64_t info, bool info_valid)
{
	task->status = KEEL_SCSI_STATUS_CHECK_CONDITION;
	scsi_sense_build(task->sense_data, &task->sense_data_len, task->desc_sense, sk, asc_ascq,
			 sks, info, info_valid);
}

void
keel_scsi_task_set_status(struct keel_scsi_task *task, int sc, int sk, int asc_ascq)
{
	if (sc == KEEL_SCSI_STATUS_CHECK_CONDITION) {
		scsi_task_set_sense(task, sk, asc_ascq, NULL, 0, false);
		return;
	}
	task->status = (uint8_t)sc;
	task->sense_data_len = 0;
}

void
scsi_task_invalid_field(struct keel_scsi_task *task, int byte, int bit)
{
	uint8_t sks[3] = {(uint8_t)(0x40 | (bit >= 0 ? 0x08 | bit : 0)), 0, (uint8_t)byte};

	scsi_task_set_sense(task, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			    KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB, sks, 0, false);
}

uint32_t
scsi_task_scatter(struct keel_scsi_task *task, const void *buf, uint32_t len)
{
	uint32_t n = KEEL_MIN(len, task->transfer_len);

	memcpy(task->iovs[0].iov_base, buf, n);
	task->data_transferred = n;
	return n;
}

uint32_t
scsi_task_gather(struct keel_scsi_task *task, void *buf, uint32_t len)
{
	uint32_t n = KEEL_MIN(len, task->transfer_len);

	memcpy(buf, task->iovs[0].iov_base, n);
	return n;
}

void
scsi_task_complete(struct keel_scsi_task *task)
{
	g_completions++;
}

bool
scsi_lun_hold(struct keel_scsi_lun *lun)
{
	if (lun->removing) {
		return false;
	}
	g_holds++;
	return true;
}

void
scsi_lun_release(struct keel_scsi_lun *lun)
{
	g_holds--;
}

int
scsi_pr_check(struct keel_scsi_task *task)
{
	CU_ASSERT(task->cdb[0] == KEEL_SCSI_READ_16 || task->cdb[0] == KEEL_SCSI_WRITE_16);
	if (task->internal.lun != NULL && task->internal.lun == g_conflict_lun) {
		task->status = KEEL_SCSI_STATUS_RESERVATION_CONFLICT;
		return -EACCES;
	}
	return 0;
}

/*
 * Threads, bdevs, and a device with LUNs 0 and 1; LUN 2 (on its own bdev) belongs to another
 * device; LUN 3 has 4096-byte blocks.
 */
static struct keel_thread *g_t[2];
static struct keel_scsi_dev g_dev;
static struct keel_scsi_dev g_other_dev;
static struct keel_scsi_lun g_lun[4];
static struct keel_scsi_port g_ini[2];

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

static void
poll_until(const int *counter, int want)
{
	uint64_t end = keel_get_ticks() + 5 * keel_get_ticks_hz();

	while (*counter < want && keel_get_ticks() < end) {
		poll_threads(1);
	}
	CU_ASSERT(*counter >= want);
}

static void
init_done(int rc, void *ctx)
{
	*(int *)ctx = rc;
}

static void
bdev_event(enum keel_bdev_event_type type, struct keel_bdev *bdev, void *ctx)
{
}

static int
ut_lun_init(struct keel_scsi_lun *lun, struct keel_scsi_dev *dev, uint64_t id, const char *name,
	    uint32_t block_size)
{
	struct malloc_bdev_opts opts = {.name = name,
					.num_blocks = UT_BLOCKS,
					.block_size = block_size};
	char err[128];

	if (bdev_malloc_create(&opts, &lun->bdev, err, sizeof(err)) != 0 ||
	    keel_bdev_open_ext(name, true, bdev_event, NULL, &lun->bdev_desc) != 0) {
		return -1;
	}
	lun->dev = dev;
	lun->id = id;
	keel_strlcpy(lun->bdev_name, name, sizeof(lun->bdev_name));
	pthread_mutex_init(&lun->lock, NULL);
	TAILQ_INIT(&lun->pr.registrants);
	TAILQ_INSERT_TAIL(&dev->luns, lun, link);
	return 0;
}

static int
suite_init(void)
{
	struct keel_env_opts opts;
	int rc = -1;

	keel_env_opts_init(&opts);
	opts.name = "xcopy_ut";
	opts.no_huge = true;
	opts.no_pci = true;
	opts.mem_size_mb = 256;
	if (keel_env_init(&opts) != 0 || keel_thread_lib_init(NULL, 65535) != 0) {
		return 1;
	}
	g_t[0] = keel_thread_create("ut0", NULL);
	g_t[1] = keel_thread_create("ut1", NULL);
	if (g_t[0] == NULL || g_t[1] == NULL) {
		return 1;
	}
	keel_set_thread(g_t[0]);
	keel_subsystem_init(init_done, &rc);
	poll_threads(100);
	if (rc != 0) {
		return 1;
	}
	pthread_mutex_init(&g_dev.lock, NULL);
	TAILQ_INIT(&g_dev.luns);
	pthread_mutex_init(&g_other_dev.lock, NULL);
	TAILQ_INIT(&g_other_dev.luns);
	if (ut_lun_init(&g_lun[0], &g_dev, 0, "xc0", UT_BLKLEN) != 0 ||
	    ut_lun_init(&g_lun[1], &g_dev, 1, "xc1", UT_BLKLEN) != 0 ||
	    ut_lun_init(&g_lun[2], &g_other_dev, 0, "xc2", UT_BLKLEN) != 0 ||
	    ut_lun_init(&g_lun[3], &g_dev, 3, "xc3", UT_BLKLEN_4K) != 0) {
		return 1;
	}
	keel_strlcpy(g_ini[0].name, INI0, sizeof(g_ini[0].name));
	keel_strlcpy(g_ini[1].name, INI1, sizeof(g_ini[1].name));
	return 0;
}

static int
suite_fini(void)
{
	int i;

	keel_set_thread(g_t[0]);
	for (i = 0; i < 4; i++) {
		scsi_xcopy_lun_fini(&g_lun[i]);
		keel_bdev_close(g_lun[i].bdev_desc);
	}
	poll_threads(10);
	return 0;
}

/*
 * Block I/O to set up and check the LUNs' contents.
 */
static int g_io_done;
static bool g_io_ok;

static void
io_done(struct keel_bdev_io *io, bool success, void *arg)
{
	g_io_ok = success;
	g_io_done++;
	keel_bdev_free_io(io);
}

static void
lun_io(struct keel_scsi_lun *lun, bool write, uint64_t lba, uint32_t blocks, void *data)
{
	struct keel_io_channel *ch = keel_bdev_get_io_channel(lun->bdev_desc);
	uint32_t bs = keel_bdev_get_block_size(lun->bdev);
	void *buf = keel_dma_malloc((size_t)blocks * bs, 4096, NULL);
	int rc;

	CU_ASSERT_FATAL(ch != NULL && buf != NULL);
	if (write) {
		memcpy(buf, data, (size_t)blocks * bs);
	}
	g_io_done = 0;
	rc = write ? keel_bdev_write_blocks(lun->bdev_desc, ch, buf, lba, blocks, io_done, NULL)
		   : keel_bdev_read_blocks(lun->bdev_desc, ch, buf, lba, blocks, io_done, NULL);
	CU_ASSERT(rc == 0);
	poll_until(&g_io_done, 1);
	CU_ASSERT(g_io_ok);
	if (!write) {
		memcpy(data, buf, (size_t)blocks * bs);
	}
	keel_dma_free(buf);
	keel_put_io_channel(ch);
	poll_threads(2);
}

/* Fill blocks with a pattern that names the LUN, the LBA and a seed. */
static void
fill(struct keel_scsi_lun *lun, uint64_t lba, uint32_t blocks, uint8_t seed)
{
	uint32_t bs = keel_bdev_get_block_size(lun->bdev);
	uint8_t *data = malloc((size_t)blocks * bs);
	size_t i;

	for (i = 0; i < (size_t)blocks * bs; i++) {
		data[i] = (uint8_t)(seed + i / 7 + (i >> 9) * 31);
	}
	lun_io(lun, true, lba, blocks, data);
	free(data);
}

static bool
same(struct keel_scsi_lun *a, uint64_t a_lba, struct keel_scsi_lun *b, uint64_t b_lba,
     uint64_t bytes)
{
	uint8_t *x = malloc(bytes), *y = malloc(bytes);
	bool eq;

	lun_io(a, false, a_lba, (uint32_t)(bytes / keel_bdev_get_block_size(a->bdev)), x);
	lun_io(b, false, b_lba, (uint32_t)(bytes / keel_bdev_get_block_size(b->bdev)), y);
	eq = memcmp(x, y, bytes) == 0;
	free(x);
	free(y);
	return eq;
}

/*
 * Building parameter lists.
 */
struct plist {
	uint8_t buf[2048];
	uint32_t cscd_len;
	uint32_t seg_len;
};

static void
plist_init(struct plist *pl, uint8_t list_id, uint8_t usage)
{
	memset(pl, 0, sizeof(*pl));
	pl->buf[0] = list_id;
	pl->buf[1] = (uint8_t)(usage << 3);
}

/* An identification CSCD descriptor naming lun by its NAA designator. */
static void
plist_cscd(struct plist *pl, struct keel_scsi_lun *lun)
{
	uint8_t *d = &pl->buf[16 + pl->cscd_len];

	d[0] = 0xe4;
	d[4] = 0x01; /* binary */
	d[5] = 0x03; /* LU, NAA */
	d[7] = SCSI_NAA_LEN;
	scsi_lun_naa(lun, &d[8]);
	keel_to_be24(&d[29], keel_bdev_get_block_size(lun->bdev));
	pl->cscd_len += 32;
}

static uint8_t *
plist_seg(struct plist *pl, uint16_t src, uint16_t dst, uint16_t blocks, uint64_t src_lba,
	  uint64_t dst_lba)
{
	uint8_t *d = &pl->buf[16 + pl->cscd_len + pl->seg_len];

	d[0] = 0x02;
	keel_to_be16(&d[2], 0x18);
	keel_to_be16(&d[4], src);
	keel_to_be16(&d[6], dst);
	keel_to_be16(&d[10], blocks);
	keel_to_be64(&d[12], src_lba);
	keel_to_be64(&d[20], dst_lba);
	pl->seg_len += 28;
	return d;
}

static uint32_t
plist_finish(struct plist *pl)
{
	keel_to_be16(&pl->buf[2], (uint16_t)pl->cscd_len);
	keel_to_be32(&pl->buf[8], pl->seg_len);
	return 16 + pl->cscd_len + pl->seg_len;
}

/*
 * Running commands on LUN 0 (the copy manager) from initiator ini.
 */
static struct keel_scsi_task g_task;
static uint8_t g_data[4096];
static int g_sk;
static int g_asc;

static int
run(int ini, const uint8_t *cdb, const void *out, uint32_t len, bool desc_sense)
{
	struct iovec iov;

	memset(&g_task, 0, sizeof(g_task));
	g_task.dev = &g_dev;
	g_task.internal.lun = &g_lun[0];
	g_task.initiator_port = &g_ini[ini];
	g_task.desc_sense = desc_sense;
	memcpy(g_task.cdb, cdb, 16);
	g_task.cdb_len = 16;
	if (out != NULL) {
		memcpy(g_data, out, len);
	} else {
		memset(g_data, 0xee, sizeof(g_data));
	}
	iov.iov_base = g_data;
	iov.iov_len = len;
	g_task.iovs = &iov;
	g_task.iovcnt = 1;
	g_task.transfer_len = len;
	g_completions = 0;
	CU_ASSERT(scsi_xcopy_execute(&g_task));
	poll_until(&g_completions, 1);
	CU_ASSERT(g_completions == 1);
	CU_ASSERT(g_holds == 0);
	g_task.iovs = NULL;
	g_sk = -1;
	g_asc = -1;
	if (g_task.status == KEEL_SCSI_STATUS_CHECK_CONDITION) {
		if (desc_sense) {
			g_sk = g_task.sense_data[1] & 0x0f;
			g_asc = g_task.sense_data[2] << 8 | g_task.sense_data[3];
		} else {
			g_sk = g_task.sense_data[2] & 0x0f;
			g_asc = g_task.sense_data[12] << 8 | g_task.sense_data[13];
		}
	}
	return g_task.status;
}

static int
xcopy(struct plist *pl, uint32_t param_len)
{
	uint8_t cdb[16] = {KEEL_SCSI_EXTENDED_COPY};

	keel_to_be32(&cdb[10], param_len);
	return run(0, cdb, pl != NULL ? pl->buf : NULL, param_len, false);
}

static int
rcr(int ini, uint8_t sa, uint8_t list_id, uint32_t alloc_len)
{
	uint8_t cdb[16] = {KEEL_SCSI_RECEIVE_COPY_RESULTS, sa, list_id};

	keel_to_be32(&cdb[10], alloc_len);
	return run(ini, cdb, NULL, alloc_len, false);
}

#define GOOD KEEL_SCSI_STATUS_GOOD
#define CHECK KEEL_SCSI_STATUS_CHECK_CONDITION

/*
 * Copies.
 */
static void
copy_between_two_luns_moves_the_data(void)
{
	struct plist pl;

	fill(&g_lun[1], 0, 4096, 1);
	fill(&g_lun[0], 0, 4096, 2);
	plist_init(&pl, 1, XCOPY_LIST_ID_HOLD);
	plist_cscd(&pl, &g_lun[1]);
	plist_cscd(&pl, &g_lun[0]);
	/* 3000 blocks (1.5 MiB: two chunks) and a small one the other way. */
	plist_seg(&pl, 0, 1, 3000, 10, 1000);
	plist_seg(&pl, 1, 0, 7, 4090, 5000);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == GOOD);
	CU_ASSERT(same(&g_lun[1], 10, &g_lun[0], 1000, 3000 * UT_BLKLEN));
	CU_ASSERT(same(&g_lun[0], 4090, &g_lun[1], 5000, 7 * UT_BLKLEN));
	CU_ASSERT(!same(&g_lun[1], 0, &g_lun[0], 0, 1000 * UT_BLKLEN));

	/* COPY STATUS of list 1: done, two segments, the bytes moved. */
	CU_ASSERT(rcr(0, KEEL_SCSI_RCR_COPY_STATUS, 1, 64) == GOOD);
	CU_ASSERT(g_task.data_transferred == 12);
	CU_ASSERT(keel_from_be32(&g_data[0]) == 8);
	CU_ASSERT(g_data[4] == XCOPY_STATUS_GOOD);
	CU_ASSERT(keel_from_be16(&g_data[5]) == 2);
	CU_ASSERT(g_data[7] == 0);
	CU_ASSERT(keel_from_be32(&g_data[8]) == 3007 * UT_BLKLEN);
	/* Another initiator has no copy with that identifier. */
	CU_ASSERT(rcr(1, KEEL_SCSI_RCR_COPY_STATUS, 1, 64) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
	/* Nor any failed segment details for this one. */
	CU_ASSERT(rcr(0, KEEL_SCSI_RCR_FAILED_SEGMENT_DETAILS, 1, 64) == GOOD);
	CU_ASSERT(g_task.data_transferred == 4);
	CU_ASSERT(keel_from_be32(&g_data[0]) == 0);
}

static void
copy_within_one_lun_handles_overlap(void)
{
	struct plist pl;
	uint8_t *before = malloc(600 * UT_BLKLEN), *after = malloc(600 * UT_BLKLEN);

	fill(&g_lun[0], 2000, 600, 9);
	lun_io(&g_lun[0], false, 2000, 600, before);
	/* Forward overlap: 500 blocks from 2000 to 2100 (the copy has to run backwards). */
	plist_init(&pl, 0, XCOPY_LIST_ID_NONE);
	plist_cscd(&pl, &g_lun[0]);
	plist_seg(&pl, 0, 0, 500, 2000, 2100);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == GOOD);
	lun_io(&g_lun[0], false, 2100, 500, after);
	CU_ASSERT(memcmp(before, after, 500 * UT_BLKLEN) == 0);
	/* Backward overlap: from 2100 down to 2050. */
	plist_init(&pl, 0, XCOPY_LIST_ID_NONE);
	plist_cscd(&pl, &g_lun[0]);
	plist_seg(&pl, 0, 0, 500, 2100, 2050);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == GOOD);
	lun_io(&g_lun[0], false, 2050, 500, after);
	CU_ASSERT(memcmp(before, after, 500 * UT_BLKLEN) == 0);
	free(before);
	free(after);
}

static void
copy_between_block_sizes_counts_in_source_or_destination_blocks(void)
{
	struct plist pl;
	uint8_t *d;

	fill(&g_lun[1], 0, 64, 3);
	/* DC 0: 64 source blocks of 512 bytes fill 8 destination blocks of 4096. */
	plist_init(&pl, 7, XCOPY_LIST_ID_DISCARD);
	plist_cscd(&pl, &g_lun[1]);
	plist_cscd(&pl, &g_lun[3]);
	plist_seg(&pl, 0, 1, 64, 0, 10);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == GOOD);
	CU_ASSERT(same(&g_lun[1], 0, &g_lun[3], 10, 64 * UT_BLKLEN));
	/* DC 1: 2 destination blocks of 4096 bytes, 16 source blocks. */
	plist_init(&pl, 7, XCOPY_LIST_ID_DISCARD);
	plist_cscd(&pl, &g_lun[1]);
	plist_cscd(&pl, &g_lun[3]);
	d = plist_seg(&pl, 0, 1, 2, 16, 100);
	d[1] = 0x02;
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == GOOD);
	CU_ASSERT(same(&g_lun[1], 16, &g_lun[3], 100, 16 * UT_BLKLEN));
	/* Nothing was held for LIST ID USAGE 10b. */
	CU_ASSERT(rcr(0, KEEL_SCSI_RCR_COPY_STATUS, 7, 64) == CHECK);
	/* 3 source blocks do not make whole destination blocks. */
	plist_init(&pl, 7, XCOPY_LIST_ID_DISCARD);
	plist_cscd(&pl, &g_lun[1]);
	plist_cscd(&pl, &g_lun[3]);
	plist_seg(&pl, 0, 1, 3, 0, 10);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_sk == KEEL_SCSI_SENSE_COPY_ABORTED);
	CU_ASSERT(g_asc == XCOPY_ASC_UNEXPECTED_INEXACT_SEGMENT);
}

static void
zero_parameter_list_length_copies_nothing(void)
{
	CU_ASSERT(xcopy(NULL, 0) == GOOD);
}

/*
 * Errors.
 */
static void
lun_of_another_target_is_not_reachable(void)
{
	struct plist pl;

	plist_init(&pl, 2, XCOPY_LIST_ID_HOLD);
	plist_cscd(&pl, &g_lun[0]);
	plist_cscd(&pl, &g_lun[2]);
	plist_seg(&pl, 0, 0, 8, 0, 100);
	plist_seg(&pl, 0, 1, 8, 0, 100);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_sk == KEEL_SCSI_SENSE_COPY_ABORTED);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_COPY_TARGET_DEVICE_NOT_REACHABLE);
	/* COMMAND-SPECIFIC INFORMATION: segment 1. */
	CU_ASSERT(keel_from_be32(&g_task.sense_data[8]) == 1);

	/* Descriptor sense carries it in a command-specific information descriptor. */
	{
		uint8_t cdb[16] = {KEEL_SCSI_EXTENDED_COPY};
		uint32_t len = plist_finish(&pl);

		keel_to_be32(&cdb[10], len);
		CU_ASSERT(run(0, cdb, pl.buf, len, true) == CHECK);
		CU_ASSERT(g_task.sense_data[0] == 0x72);
		CU_ASSERT(g_task.sense_data[1] == KEEL_SCSI_SENSE_COPY_ABORTED);
		CU_ASSERT(g_task.sense_data[7] == 12);
		CU_ASSERT(g_task.sense_data[8] == 0x01);
		CU_ASSERT(g_task.sense_data[9] == 0x0a);
		CU_ASSERT(keel_from_be64(&g_task.sense_data[12]) == 1);
		CU_ASSERT(g_task.sense_data_len == 20);
	}
	/* A destination under software write protect refuses the copy. */
	plist_init(&pl, 0, XCOPY_LIST_ID_NONE);
	plist_cscd(&pl, &g_lun[0]);
	plist_cscd(&pl, &g_lun[1]);
	plist_seg(&pl, 0, 1, 8, 0, 100);
	g_lun[1].mode.swp = true;
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_sk == KEEL_SCSI_SENSE_COPY_ABORTED);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_WRITE_PROTECTED);
	g_lun[1].mode.swp = false;
	/* With the write cache on and off the copy is the same. */
	g_lun[1].mode.wce = true;
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == GOOD);
	g_lun[1].mode.wce = false;
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == GOOD);
	CU_ASSERT(same(&g_lun[0], 0, &g_lun[1], 100, 8 * UT_BLKLEN));

	/* A LUN being sanitized answers nothing. */
	g_lun[1].sanitizing = true;
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_sk == KEEL_SCSI_SENSE_COPY_ABORTED);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_LUN_NOT_READY_SANITIZE);
	g_lun[1].sanitizing = false;
	/* A copy into a LUN that a SANITIZE left deallocated makes it written. */
	g_lun[1].deallocated = true;
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == GOOD);
	CU_ASSERT(!g_lun[1].deallocated);

	/* A LUN being removed is out of reach too. */
	plist_init(&pl, 0, XCOPY_LIST_ID_NONE);
	plist_cscd(&pl, &g_lun[1]);
	plist_seg(&pl, 0, 0, 8, 0, 100);
	g_lun[1].removing = true;
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_COPY_TARGET_DEVICE_NOT_REACHABLE);
	g_lun[1].removing = false;
}

static void
bad_descriptor_index_or_range_aborts_the_copy_with_failed_segment_details(void)
{
	struct plist pl;

	plist_init(&pl, 3, XCOPY_LIST_ID_HOLD);
	plist_cscd(&pl, &g_lun[0]);
	plist_seg(&pl, 0, 1, 16, 0, 100);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_sk == KEEL_SCSI_SENSE_COPY_ABORTED);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_COPY_TARGET_DEVICE_NOT_REACHABLE);

	/* Past the end of the destination. */
	plist_init(&pl, 3, XCOPY_LIST_ID_HOLD);
	plist_cscd(&pl, &g_lun[0]);
	plist_seg(&pl, 0, 0, 16, 0, 200);
	plist_seg(&pl, 0, 0, 2048, 0, UT_BLOCKS - 1);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_sk == KEEL_SCSI_SENSE_COPY_ABORTED);
	CU_ASSERT(keel_from_be32(&g_task.sense_data[8]) == 1);
	/* Past the end of the source. */
	plist_init(&pl, 3, XCOPY_LIST_ID_HOLD);
	plist_cscd(&pl, &g_lun[0]);
	plist_seg(&pl, 0, 0, 2, UT_BLOCKS - 1, 0);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_sk == KEEL_SCSI_SENSE_COPY_ABORTED);
	CU_ASSERT(keel_from_be32(&g_task.sense_data[8]) == 0);
}

static void
parameter_list_shorter_than_its_descriptors_is_a_length_error(void)
{
	struct plist pl;
	uint32_t len;

	plist_init(&pl, 4, XCOPY_LIST_ID_HOLD);
	plist_cscd(&pl, &g_lun[0]);
	plist_seg(&pl, 0, 0, 8, 0, 100);
	len = plist_finish(&pl);
	CU_ASSERT(xcopy(&pl, 16 + 32 - 1) == CHECK);
	CU_ASSERT(g_sk == KEEL_SCSI_SENSE_ILLEGAL_REQUEST);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	CU_ASSERT(xcopy(&pl, len - 1) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	CU_ASSERT(xcopy(&pl, 10) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	/* A longer list than its descriptors need is fine. */
	CU_ASSERT(xcopy(&pl, len + 40) == GOOD);
}

static void
too_many_descriptors_or_too_long_a_list_are_refused(void)
{
	struct plist pl;
	int i;

	plist_init(&pl, 5, XCOPY_LIST_ID_HOLD);
	for (i = 0; i < XCOPY_MAX_CSCD + 1; i++) {
		plist_cscd(&pl, &g_lun[0]);
	}
	plist_seg(&pl, 0, 0, 8, 0, 100);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_asc == XCOPY_ASC_TOO_MANY_TARGET_DESCRIPTORS);

	plist_init(&pl, 5, XCOPY_LIST_ID_HOLD);
	plist_cscd(&pl, &g_lun[0]);
	for (i = 0; i < XCOPY_MAX_SEGMENTS + 1; i++) {
		plist_seg(&pl, 0, 0, 8, 0, 100);
	}
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_TOO_MANY_SEGMENT_DESCRIPTORS);

	/* Over the maximum descriptor list length: a length error before the counts. */
	plist_init(&pl, 5, XCOPY_LIST_ID_HOLD);
	for (i = 0; i < XCOPY_MAX_CSCD + 1; i++) {
		plist_cscd(&pl, &g_lun[0]);
	}
	while (pl.cscd_len + pl.seg_len <= XCOPY_MAX_DESC_LIST_LEN) {
		plist_seg(&pl, 0, 0, 8, 0, 100);
	}
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
}

static void
unsupported_descriptor_types_are_refused(void)
{
	struct plist pl;
	uint8_t *d;

	plist_init(&pl, 6, XCOPY_LIST_ID_HOLD);
	plist_cscd(&pl, &g_lun[0]);
	pl.buf[16] = 0xe0; /* Fibre Channel N_Port_Name */
	plist_seg(&pl, 0, 0, 8, 0, 100);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_sk == KEEL_SCSI_SENSE_ILLEGAL_REQUEST);
	CU_ASSERT(g_asc == XCOPY_ASC_UNSUPPORTED_TARGET_DESCRIPTOR_TYPE);
	CU_ASSERT(keel_from_be16(&g_task.sense_data[16]) == 16);

	plist_init(&pl, 6, XCOPY_LIST_ID_HOLD);
	plist_cscd(&pl, &g_lun[0]);
	d = plist_seg(&pl, 0, 0, 8, 0, 100);
	d[0] = 0x03; /* stream to stream */
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE);
	CU_ASSERT(keel_from_be16(&g_task.sense_data[16]) == 48);
	/* A block-to-block descriptor with the wrong length. */
	d[0] = 0x02;
	keel_to_be16(&d[2], 0x14);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
}

static void
cscd_descriptor_fields_are_checked(void)
{
	struct plist pl;

	/* A reserved LU ID TYPE is ignored (SPC-4). */
	plist_init(&pl, 8, XCOPY_LIST_ID_HOLD);
	plist_cscd(&pl, &g_lun[0]);
	pl.buf[17] = 0x80;
	plist_seg(&pl, 0, 0, 8, 0, 100);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == GOOD);
	/* NUL asks for a null device: nothing to copy from. */
	pl.buf[17] = 0x20;
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_sk == KEEL_SCSI_SENSE_COPY_ABORTED);
	/* A peripheral type other than a block device. */
	pl.buf[17] = 0x01;
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_asc == XCOPY_ASC_INCORRECT_COPY_TARGET_DEVICE_TYPE);
	pl.buf[17] = 0;
	/* A T10 vendor id designator does not name a LUN here. */
	pl.buf[21] = 0x01;
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_COPY_TARGET_DEVICE_NOT_REACHABLE);
	pl.buf[21] = 0x03;
	/* A disk block length that is not the LUN's. */
	keel_to_be24(&pl.buf[16 + 29], 4096);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_sk == KEEL_SCSI_SENSE_ILLEGAL_REQUEST);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	CU_ASSERT(keel_from_be16(&g_task.sense_data[16]) == 16 + 29);
	keel_to_be24(&pl.buf[16 + 29], 0);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == GOOD);
}

static void
header_fields_and_cdb_are_checked(void)
{
	struct plist pl;
	uint8_t cdb[16] = {KEEL_SCSI_EXTENDED_COPY, 0x01};

	/* LID4 is not supported; reserved CDB bytes. */
	keel_to_be32(&cdb[10], 16);
	CU_ASSERT(run(0, cdb, g_data, 16, false) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
	cdb[1] = 0;
	cdb[5] = 1;
	CU_ASSERT(run(0, cdb, g_data, 16, false) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
	CU_ASSERT(g_task.sense_data[17] == 5);

	/* LIST ID USAGE 01b, and 11b with a list identifier. */
	plist_init(&pl, 9, 1);
	plist_cscd(&pl, &g_lun[0]);
	plist_seg(&pl, 0, 0, 8, 0, 100);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	pl.buf[1] = XCOPY_LIST_ID_NONE << 3;
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	/* Inline data is not supported. */
	pl.buf[1] = 0;
	keel_to_be32(&pl.buf[12], 4);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl) + 4) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
}

static void
reservation_on_another_lun_makes_the_copy_conflict(void)
{
	struct plist pl;

	plist_init(&pl, 10, XCOPY_LIST_ID_HOLD);
	plist_cscd(&pl, &g_lun[0]);
	plist_cscd(&pl, &g_lun[1]);
	plist_seg(&pl, 0, 1, 8, 0, 100);
	g_conflict_lun = &g_lun[1];
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == KEEL_SCSI_STATUS_RESERVATION_CONFLICT);
	g_conflict_lun = NULL;
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == GOOD);
}

static void
failed_segment_details_are_held_until_delivered(void)
{
	struct plist pl;

	plist_init(&pl, 11, XCOPY_LIST_ID_HOLD);
	plist_cscd(&pl, &g_lun[0]);
	plist_seg(&pl, 0, 0, 8, 0, 100);
	plist_seg(&pl, 0, 0, 8, UT_BLOCKS, 100);
	CU_ASSERT(xcopy(&pl, plist_finish(&pl)) == CHECK);
	CU_ASSERT(rcr(0, KEEL_SCSI_RCR_COPY_STATUS, 11, 64) == GOOD);
	CU_ASSERT(g_data[4] == XCOPY_STATUS_ERROR);
	/* A short read of the details keeps them. */
	CU_ASSERT(rcr(0, KEEL_SCSI_RCR_FAILED_SEGMENT_DETAILS, 11, 8) == GOOD);
	CU_ASSERT(g_task.data_transferred == 8);
	CU_ASSERT(keel_from_be32(&g_data[0]) == 56 + 18);
	CU_ASSERT(rcr(0, KEEL_SCSI_RCR_FAILED_SEGMENT_DETAILS, 11, 256) == GOOD);
	CU_ASSERT(g_task.data_transferred == 60 + 18);
	CU_ASSERT(g_data[56] == KEEL_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT(keel_from_be16(&g_data[58]) == 18);
	CU_ASSERT(g_data[60] == 0x70);
	CU_ASSERT((g_data[62] & 0x0f) == KEEL_SCSI_SENSE_COPY_ABORTED);
	CU_ASSERT(keel_from_be32(&g_data[68]) == 1);
	/* Delivered in full: gone. */
	CU_ASSERT(rcr(0, KEEL_SCSI_RCR_FAILED_SEGMENT_DETAILS, 11, 256) == GOOD);
	CU_ASSERT(keel_from_be32(&g_data[0]) == 0);
}

static void
aborted_copy_stops_between_two_ios(void)
{
	uint8_t cdb[16] = {KEEL_SCSI_EXTENDED_COPY};
	struct plist pl;
	struct iovec iov;
	uint32_t len;

	plist_init(&pl, 12, XCOPY_LIST_ID_HOLD);
	plist_cscd(&pl, &g_lun[0]);
	plist_seg(&pl, 0, 0, 4096, 0, 4096);
	len = plist_finish(&pl);
	keel_to_be32(&cdb[10], len);
	memset(&g_task, 0, sizeof(g_task));
	g_task.dev = &g_dev;
	g_task.internal.lun = &g_lun[0];
	g_task.initiator_port = &g_ini[0];
	memcpy(g_task.cdb, cdb, sizeof(cdb));
	memcpy(g_data, pl.buf, len);
	iov.iov_base = g_data;
	iov.iov_len = len;
	g_task.iovs = &iov;
	g_task.iovcnt = 1;
	g_task.transfer_len = len;
	g_completions = 0;
	CU_ASSERT(scsi_xcopy_execute(&g_task));
	/* The first read of 2 MiB in 1 MiB chunks is in flight: abort now. */
	g_task.internal.flags |= SCSI_TASK_F_ABORTED;
	poll_until(&g_completions, 1);
	CU_ASSERT(g_holds == 0);
	CU_ASSERT(g_task.status == KEEL_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT((g_task.sense_data[2] & 0x0f) == KEEL_SCSI_SENSE_ABORTED_COMMAND);
	g_task.iovs = NULL;
	CU_ASSERT(rcr(0, KEEL_SCSI_RCR_COPY_STATUS, 12, 64) == GOOD);
	CU_ASSERT(g_data[4] == XCOPY_STATUS_ERROR);
	CU_ASSERT(keel_from_be32(&g_data[8]) == 0);
}

/*
 * RECEIVE COPY RESULTS, VPD page 8Fh, opcode rows.
 */
static void
operating_parameters_answer_byte_by_byte(void)
{
	CU_ASSERT(rcr(0, KEEL_SCSI_RCR_OPERATING_PARAMETERS, 0, 1024) == GOOD);
	CU_ASSERT(g_task.data_transferred == 46);
	CU_ASSERT(keel_from_be32(&g_data[0]) == 42);
	CU_ASSERT(g_data[4] == 0x01);
	CU_ASSERT(keel_from_be16(&g_data[8]) == XCOPY_MAX_CSCD);
	CU_ASSERT(keel_from_be16(&g_data[10]) == XCOPY_MAX_SEGMENTS);
	CU_ASSERT(keel_from_be32(&g_data[12]) == XCOPY_MAX_DESC_LIST_LEN);
	CU_ASSERT(keel_from_be32(&g_data[16]) == XCOPY_MAX_SEGMENT_BYTES);
	CU_ASSERT(keel_from_be32(&g_data[20]) == 0);
	CU_ASSERT(keel_from_be32(&g_data[24]) == 0);
	CU_ASSERT(keel_from_be32(&g_data[28]) == 0);
	CU_ASSERT(keel_from_be16(&g_data[34]) == XCOPY_MAX_CONCURRENT);
	CU_ASSERT(g_data[36] == XCOPY_MAX_CONCURRENT);
	CU_ASSERT(g_data[37] == 9);
	CU_ASSERT(g_data[43] == 2);
	CU_ASSERT(g_data[44] == 0x02 && g_data[45] == 0xe4);
	CU_ASSERT(rcr(0, KEEL_SCSI_RCR_OPERATING_PARAMETERS, 0, 10) == GOOD);
	CU_ASSERT(g_task.data_transferred == 10);
	CU_ASSERT(rcr(0, KEEL_SCSI_RCR_OPERATING_PARAMETERS, 0, 0) == GOOD);
	CU_ASSERT(g_task.data_transferred == 0);
	/* RECEIVE DATA and reserved bits. */
	CU_ASSERT(rcr(0, KEEL_SCSI_RCR_RECEIVE_DATA, 0, 64) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
	CU_ASSERT(rcr(0, 0x20 | KEEL_SCSI_RCR_OPERATING_PARAMETERS, 0, 64) == CHECK);
	CU_ASSERT(rcr(0, KEEL_SCSI_RCR_COPY_STATUS, 200, 64) == CHECK);
	CU_ASSERT(g_task.sense_data[17] == 2);
}

/* Descriptor lengths: content padded to a multiple of four (as libiscsi checks them). */
static void
vpd_8f_lists_the_lid1_descriptors(void)
{
	uint8_t page[256];
	size_t len = scsi_xcopy_vpd_8f(&g_lun[0], page, sizeof(page)), off = 0;
	uint16_t types[5] = {0x0001, 0x0004, 0x0008, 0x000c, 0x0106};
	int i = 0;

	CU_ASSERT(len == 100);
	while (off < len && i < 5) {
		uint16_t dlen = keel_from_be16(&page[off + 2]);

		CU_ASSERT(keel_from_be16(&page[off]) == types[i]);
		CU_ASSERT((4 + dlen) % 4 == 0);
		switch (types[i]) {
		case 0x0001:
			CU_ASSERT(page[off + 4] == 8);
			CU_ASSERT(dlen == 8 + 1 + 3);
			CU_ASSERT(page[off + 5] == 0x83 && page[off + 6] == 1 &&
				  page[off + 7] == 0);
			CU_ASSERT(page[off + 8] == 0x84 && page[off + 9] == 3);
			CU_ASSERT(page[off + 10] == 0 && page[off + 11] == 3 &&
				  page[off + 12] == 4);
			break;
		case 0x0004:
			CU_ASSERT(dlen == 0x1c);
			CU_ASSERT(keel_from_be16(&page[off + 8]) >= 2);
			CU_ASSERT(keel_from_be16(&page[off + 10]) >= 1);
			break;
		case 0x0008:
			CU_ASSERT(page[off + 4] == 2);
			CU_ASSERT(dlen == 4);
			break;
		case 0x000c:
			CU_ASSERT(dlen == 4 && keel_from_be16(&page[off + 4]) == 0);
			break;
		default:
			CU_ASSERT(dlen == 0x20);
			CU_ASSERT(keel_from_be32(&page[off + 4]) >= 1);
			CU_ASSERT(keel_from_be32(&page[off + 8]) <= 255);
			break;
		}
		off += 4 + dlen;
		i++;
	}
	CU_ASSERT(off == len && i == 5);
	/* A short buffer gets the start and the full length. */
	memset(page, 0, sizeof(page));
	CU_ASSERT(scsi_xcopy_vpd_8f(&g_lun[0], page, 4) == 100);
	CU_ASSERT(page[1] == 0x01 && page[4] == 0);
}

static void
opcode_rows_list_extended_copy_and_receive_copy_results(void)
{
	const struct scsi_opcode_info *rows;
	size_t n = scsi_xcopy_opcodes(&rows), i;

	CU_ASSERT(n == 4);
	for (i = 0; i < n; i++) {
		CU_ASSERT(rows[i].cdb_len == 16);
		CU_ASSERT(rows[i].has_sa);
		CU_ASSERT(rows[i].usage[0] == rows[i].opcode);
	}
	CU_ASSERT(rows[0].opcode == KEEL_SCSI_EXTENDED_COPY && rows[0].service_action == 0);
	CU_ASSERT(rows[1].opcode == KEEL_SCSI_RECEIVE_COPY_RESULTS);
	CU_ASSERT(rows[1].service_action == 0 && rows[2].service_action == 3);
	CU_ASSERT(rows[3].service_action == 4);
	memset(&g_task, 0, sizeof(g_task));
	g_task.internal.lun = &g_lun[0];
	g_task.cdb[0] = KEEL_SCSI_READ_16;
	CU_ASSERT(!scsi_xcopy_execute(&g_task));
}

static const struct keel_ut_test g_tests[] = {
	KEEL_UT_TEST(copy_between_two_luns_moves_the_data),
	KEEL_UT_TEST(copy_within_one_lun_handles_overlap),
	KEEL_UT_TEST(copy_between_block_sizes_counts_in_source_or_destination_blocks),
	KEEL_UT_TEST(zero_parameter_list_length_copies_nothing),
	KEEL_UT_TEST(lun_of_another_target_is_not_reachable),
	KEEL_UT_TEST(bad_descriptor_index_or_range_aborts_the_copy_with_failed_segment_details),
	KEEL_UT_TEST(parameter_list_shorter_than_its_descriptors_is_a_length_error),
	KEEL_UT_TEST(too_many_descriptors_or_too_long_a_list_are_refused),
	KEEL_UT_TEST(unsupported_descriptor_types_are_refused),
	KEEL_UT_TEST(cscd_descriptor_fields_are_checked),
	KEEL_UT_TEST(header_fields_and_cdb_are_checked),
	KEEL_UT_TEST(reservation_on_another_lun_makes_the_copy_conflict),
	KEEL_UT_TEST(failed_segment_details_are_held_until_delivered),
	KEEL_UT_TEST(aborted_copy_stops_between_two_ios),
	KEEL_UT_TEST(operating_parameters_answer_byte_by_byte),
	KEEL_UT_TEST(vpd_8f_lists_the_lid1_descriptors),
	KEEL_UT_TEST(opcode_rows_list_extended_copy_and_receive_copy_results),
};

int
main(void)
{
	return keel_ut_run("scsi_xcopy", g_tests, KEEL_COUNTOF(g_tests), suite_init, suite_fini);
}
