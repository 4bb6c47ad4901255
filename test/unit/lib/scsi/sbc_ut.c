/*
 * Unit tests of the block commands (sbc.c) on a RAM bdev: every command's good path with the
 * data checked, and its bad CDBs (protection fields, reserved bits, LBA past the end, lengths
 * over the limits, short Data-Out), residual handling, bdev errors and -ENOMEM, and the
 * bounded chunking of WRITE SAME, UNMAP and SANITIZE.
 */
#include "scsi_ut_common.h"

static struct keel_scsi_dev *g_dev;
static struct keel_scsi_lun_desc *g_d0;
static struct ut_disk *g_disk;

static void
setup(void)
{
	g_dev = ut_dev_setup();
	g_d0 = ut_open(g_dev, 0, 0, true);
	g_disk = &g_disks[0];
	ut_clear_ua(g_dev, g_d0, 0);
	memset(g_disk->by_type, 0, sizeof(g_disk->by_type));
	g_disk->fua_writes = 0;
}

static void
teardown(void)
{
	ut_close(g_d0);
	ut_dev_teardown(g_dev);
}

static struct ut_task *
run(const uint8_t *cdb, uint8_t cdb_len, uint32_t xfer)
{
	return ut_cmd(g_dev, g_d0, 0, cdb, cdb_len, xfer);
}

/* Run with a Data-Out buffer filled from data. */
static struct ut_task *
run_out(const uint8_t *cdb, uint8_t cdb_len, const void *data, uint32_t xfer, int iovcnt)
{
	struct ut_task *ut = ut_task_new(g_dev, g_d0, 0, cdb, cdb_len, xfer, iovcnt);

	memcpy(ut->buf, data, xfer);
	ut->t.dxfer_dir = KEEL_SCSI_DIR_TO_DEV;
	ut_run(ut);
	return ut;
}

static bool
expect_check(const uint8_t *cdb, uint8_t cdb_len, uint32_t xfer, int sk, int asc)
{
	struct ut_task *ut = run(cdb, cdb_len, xfer);
	bool ok = ut_check(&ut->t, sk, asc);

	ut_task_free(ut);
	return ok;
}

static bool
expect_invalid_field(const uint8_t *cdb, uint8_t cdb_len, uint32_t xfer)
{
	return expect_check(cdb, cdb_len, xfer, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			    KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
}

static bool
expect_oob(const uint8_t *cdb, uint8_t cdb_len, uint32_t xfer)
{
	return expect_check(cdb, cdb_len, xfer, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			    KEEL_SCSI_ASC_LBA_OUT_OF_RANGE);
}

static bool
expect_good(const uint8_t *cdb, uint8_t cdb_len, uint32_t xfer)
{
	struct ut_task *ut = run(cdb, cdb_len, xfer);
	bool ok = ut->t.status == KEEL_SCSI_STATUS_GOOD;

	ut_task_free(ut);
	return ok;
}

static void
cdb10(uint8_t *cdb, uint8_t op, uint8_t flags, uint32_t lba, uint16_t n)
{
	memset(cdb, 0, 10);
	cdb[0] = op;
	cdb[1] = flags;
	keel_to_be32(&cdb[2], lba);
	keel_to_be16(&cdb[7], n);
}

static void
cdb12(uint8_t *cdb, uint8_t op, uint8_t flags, uint32_t lba, uint32_t n)
{
	memset(cdb, 0, 12);
	cdb[0] = op;
	cdb[1] = flags;
	keel_to_be32(&cdb[2], lba);
	keel_to_be32(&cdb[6], n);
}

static void
cdb16(uint8_t *cdb, uint8_t op, uint8_t flags, uint64_t lba, uint32_t n)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	cdb[1] = flags;
	keel_to_be64(&cdb[2], lba);
	keel_to_be32(&cdb[10], n);
}

static void
fill(uint8_t *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		buf[i] = (uint8_t)(i * 7 + seed + i / 512);
	}
}

/*
 * READ and WRITE.
 */
static void
read_and_write_of_every_size_move_the_data(void)
{
	uint8_t cdb[16], *data = malloc(64 * UT_BLKLEN);
	struct ut_task *ut;

	setup();
	fill(data, 64 * UT_BLKLEN, 1);
	/* WRITE(10) over three iovecs, READ(16) back over four. */
	cdb10(cdb, KEEL_SCSI_WRITE_10, 0, 100, 64);
	ut = run_out(cdb, 10, data, 64 * UT_BLKLEN, 3);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(ut->t.data_transferred == 64 * UT_BLKLEN);
	CU_ASSERT(memcmp(g_disk->data + 100 * UT_BLKLEN, data, 64 * UT_BLKLEN) == 0);
	ut_task_free(ut);
	cdb16(cdb, KEEL_SCSI_READ_16, 0, 100, 64);
	ut = ut_task_new(g_dev, g_d0, 0, cdb, 16, 64 * UT_BLKLEN, 4);
	ut_run(ut);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(ut->t.data_transferred == 64 * UT_BLKLEN);
	CU_ASSERT(ut->t.expected_len == 64 * UT_BLKLEN);
	CU_ASSERT(memcmp(ut->buf, data, 64 * UT_BLKLEN) == 0);
	ut_task_free(ut);
	/* WRITE(12) and READ(12). */
	fill(data, 8 * UT_BLKLEN, 9);
	cdb12(cdb, KEEL_SCSI_WRITE_12, 0, 7, 8);
	ut_task_free(run_out(cdb, 12, data, 8 * UT_BLKLEN, 1));
	cdb12(cdb, KEEL_SCSI_READ_12, 0, 7, 8);
	ut = run(cdb, 12, 8 * UT_BLKLEN);
	CU_ASSERT(memcmp(ut->buf, data, 8 * UT_BLKLEN) == 0);
	ut_task_free(ut);
	/* WRITE(6) at a 21-bit LBA, READ(6) with length 0 meaning 256 blocks. */
	memset(cdb, 0, 6);
	cdb[0] = KEEL_SCSI_WRITE_6;
	cdb[1] = 0x00;
	cdb[2] = 0x01;
	cdb[3] = 0x02; /* LBA 0x102 */
	cdb[4] = 2;
	ut = run_out(cdb, 6, data, 2 * UT_BLKLEN, 1);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(memcmp(g_disk->data + 0x102 * UT_BLKLEN, data, 2 * UT_BLKLEN) == 0);
	ut_task_free(ut);
	cdb[0] = KEEL_SCSI_READ_6;
	cdb[4] = 0;
	ut = run(cdb, 6, 256 * UT_BLKLEN);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(ut->t.data_transferred == 256 * UT_BLKLEN);
	CU_ASSERT(memcmp(ut->buf, data, 2 * UT_BLKLEN) == 0);
	ut_task_free(ut);
	free(data);
	teardown();
}

static void
fua_and_a_disabled_write_cache_make_writes_durable(void)
{
	uint8_t cdb[16], data[UT_BLKLEN] = {1};

	setup();
	cdb10(cdb, KEEL_SCSI_WRITE_10, 0x18 /* DPO | FUA */, 0, 1);
	ut_task_free(run_out(cdb, 10, data, UT_BLKLEN, 1));
	CU_ASSERT(g_disk->fua_writes == 1);
	g_d0->lun->mode.wce = true;
	cdb10(cdb, KEEL_SCSI_WRITE_10, 0, 0, 1);
	ut_task_free(run_out(cdb, 10, data, UT_BLKLEN, 1));
	CU_ASSERT(g_disk->fua_writes == 1);
	g_d0->lun->mode.wce = false;
	ut_task_free(run_out(cdb, 10, data, UT_BLKLEN, 1));
	CU_ASSERT(g_disk->fua_writes == 2);
	teardown();
}

static void
read_write_refuse_protection_range_and_oversize(void)
{
	uint8_t cdb[16];
	uint32_t max = SCSI_MAX_TRANSFER_BYTES / UT_BLKLEN;

	setup();
	cdb10(cdb, KEEL_SCSI_READ_10, 0x20 /* RDPROTECT 1 */, 0, 1);
	CU_ASSERT(expect_invalid_field(cdb, 10, UT_BLKLEN));
	cdb10(cdb, KEEL_SCSI_WRITE_10, 0x40, 0, 1);
	CU_ASSERT(expect_invalid_field(cdb, 10, UT_BLKLEN));
	cdb10(cdb, KEEL_SCSI_READ_10, 0, UT_BLOCKS - 1, 2);
	CU_ASSERT(expect_oob(cdb, 10, 2 * UT_BLKLEN));
	cdb10(cdb, KEEL_SCSI_READ_10, 0, UT_BLOCKS + 1, 0);
	CU_ASSERT(expect_oob(cdb, 10, 0));
	cdb16(cdb, KEEL_SCSI_READ_16, 0, UINT64_MAX, 2);
	CU_ASSERT(expect_oob(cdb, 16, 2 * UT_BLKLEN));
	cdb16(cdb, KEEL_SCSI_WRITE_16, 0, 0x8000000000000000ull, 1);
	CU_ASSERT(expect_oob(cdb, 16, UT_BLKLEN));
	cdb12(cdb, KEEL_SCSI_READ_12, 0, 0, max + 1);
	CU_ASSERT(expect_invalid_field(cdb, 12, UT_BLKLEN));
	/* The last block and a 0-block read at the end are fine. */
	cdb10(cdb, KEEL_SCSI_READ_10, 0, UT_BLOCKS - 1, 1);
	CU_ASSERT(expect_good(cdb, 10, UT_BLKLEN));
	cdb10(cdb, KEEL_SCSI_READ_10, 0, UT_BLOCKS, 0);
	CU_ASSERT(expect_good(cdb, 10, 0));
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_READ] == 1);
	teardown();
}

static void
reads_shorter_than_the_command_get_what_fits(void)
{
	uint8_t cdb[16];
	struct ut_task *ut;

	setup();
	fill(g_disk->data, 4 * UT_BLKLEN, 3);
	/* Expected Data Transfer Length 0: GOOD, no data, the command's length reported. */
	cdb10(cdb, KEEL_SCSI_READ_10, 0, 0, 1);
	ut = run(cdb, 10, 0);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(ut->t.data_transferred == 0 && ut->t.expected_len == UT_BLKLEN);
	ut_task_free(ut);
	/* 200 bytes of a block. */
	ut = run(cdb, 10, 200);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(ut->t.data_transferred == 200);
	CU_ASSERT(memcmp(ut->buf, g_disk->data, 200) == 0);
	ut_task_free(ut);
	/* Two blocks asked, one block of buffer; and a buffer longer than the command. */
	cdb10(cdb, KEEL_SCSI_READ_10, 0, 0, 2);
	ut = run(cdb, 10, UT_BLKLEN);
	CU_ASSERT(ut->t.data_transferred == UT_BLKLEN);
	CU_ASSERT(memcmp(ut->buf, g_disk->data, UT_BLKLEN) == 0);
	ut_task_free(ut);
	cdb10(cdb, KEEL_SCSI_READ_10, 0, 1, 1);
	ut = ut_task_new(g_dev, g_d0, 0, cdb, 10, 10000, 2);
	ut_run(ut);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(ut->t.data_transferred == UT_BLKLEN);
	CU_ASSERT(memcmp(ut->buf, g_disk->data + UT_BLKLEN, UT_BLKLEN) == 0);
	ut_task_free(ut);
	teardown();
}

static void
writes_take_the_whole_blocks_sent_and_ignore_extra(void)
{
	uint8_t cdb[16], *data = calloc(4, UT_BLKLEN), *before = malloc(4 * UT_BLKLEN);
	struct ut_task *ut;

	setup();
	memcpy(before, g_disk->data, 4 * UT_BLKLEN);
	memset(data, 'b', 4 * UT_BLKLEN);
	/* No data at all, or less than a block: nothing written, the rest is an overflow. */
	cdb10(cdb, KEEL_SCSI_WRITE_10, 0, 0, 2);
	ut = run_out(cdb, 10, data, 200, 1);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(ut->t.expected_len == 2 * UT_BLKLEN);
	ut_task_free(ut);
	CU_ASSERT(memcmp(g_disk->data, before, 4 * UT_BLKLEN) == 0);
	/* One of two blocks: that block is written (the transport reports the overflow). */
	ut = run_out(cdb, 10, data, UT_BLKLEN, 1);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(ut->t.expected_len == 2 * UT_BLKLEN);
	/* What was written, never more than the Data-Out. */
	CU_ASSERT(ut->t.data_transferred == UT_BLKLEN);
	ut_task_free(ut);
	CU_ASSERT(memcmp(g_disk->data, data, UT_BLKLEN) == 0);
	CU_ASSERT(memcmp(g_disk->data + UT_BLKLEN, before + UT_BLKLEN, UT_BLKLEN) == 0);
	/* More Data-Out than the command: only the command's blocks are written. */
	cdb10(cdb, KEEL_SCSI_WRITE_10, 0, 0, 1);
	ut = run_out(cdb, 10, data, 3 * UT_BLKLEN, 2);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(ut->t.data_transferred == UT_BLKLEN);
	ut_task_free(ut);
	CU_ASSERT(memcmp(g_disk->data, data, UT_BLKLEN) == 0);
	CU_ASSERT(memcmp(g_disk->data + UT_BLKLEN, before + UT_BLKLEN, UT_BLKLEN) == 0);
	free(data);
	free(before);
	teardown();
}

static void
zero_block_reads_and_writes_are_good_without_io(void)
{
	uint8_t cdb[16];

	setup();
	cdb10(cdb, KEEL_SCSI_READ_10, 0, 0, 0);
	CU_ASSERT(expect_good(cdb, 10, 0));
	cdb16(cdb, KEEL_SCSI_WRITE_16, 0, 5, 0);
	CU_ASSERT(expect_good(cdb, 16, 0));
	CU_ASSERT(g_disk->submits == 0);
	teardown();
}

static void
bdev_errors_become_medium_errors(void)
{
	uint8_t cdb[16], data[UT_BLKLEN] = {0};
	struct ut_task *ut;

	setup();
	g_disk->fail_left = 1;
	cdb10(cdb, KEEL_SCSI_READ_10, 0, 0, 1);
	CU_ASSERT(expect_check(cdb, 10, UT_BLKLEN, KEEL_SCSI_SENSE_MEDIUM_ERROR,
			       KEEL_SCSI_ASC_UNRECOVERED_READ_ERROR));
	g_disk->fail_left = 1;
	cdb10(cdb, KEEL_SCSI_WRITE_10, 0, 0, 1);
	ut = run_out(cdb, 10, data, UT_BLKLEN, 1);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_MEDIUM_ERROR, KEEL_SCSI_ASC_WRITE_ERROR));
	ut_task_free(ut);
	/* A bdev out of I/O objects is waited for, not an error. */
	g_disk->nomem_left = 2;
	ut = run_out(cdb, 10, data, UT_BLKLEN, 1);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	teardown();
}

static void
software_write_protect_refuses_every_write(void)
{
	uint8_t cdb[16], data[2 * UT_BLKLEN] = {0}, unmap[24] = {0};
	struct ut_task *ut;

	setup();
	g_d0->lun->mode.swp = true;
	cdb10(cdb, KEEL_SCSI_WRITE_10, 0, 0, 1);
	ut = run_out(cdb, 10, data, UT_BLKLEN, 1);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_DATA_PROTECT, KEEL_SCSI_ASC_WRITE_PROTECTED));
	ut_task_free(ut);
	cdb10(cdb, KEEL_SCSI_WRITE_SAME_10, 0, 0, 1);
	ut = run_out(cdb, 10, data, UT_BLKLEN, 1);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_DATA_PROTECT, KEEL_SCSI_ASC_WRITE_PROTECTED));
	ut_task_free(ut);
	cdb10(cdb, KEEL_SCSI_UNMAP, 0, 0, 24);
	cdb[2] = 0;
	keel_to_be16(&cdb[7], 24);
	ut = run_out(cdb, 10, unmap, 24, 1);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_DATA_PROTECT, KEEL_SCSI_ASC_WRITE_PROTECTED));
	ut_task_free(ut);
	cdb16(cdb, KEEL_SCSI_COMPARE_AND_WRITE, 0, 0, 0);
	cdb[13] = 1;
	ut = run_out(cdb, 16, data, 2 * UT_BLKLEN, 1);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_DATA_PROTECT, KEEL_SCSI_ASC_WRITE_PROTECTED));
	ut_task_free(ut);
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_WRITE] == 0);
	/* Reads still work. */
	cdb10(cdb, KEEL_SCSI_READ_10, 0, 0, 1);
	CU_ASSERT(expect_good(cdb, 10, UT_BLKLEN));
	g_d0->lun->mode.swp = false;
	teardown();
}

/*
 * VERIFY and WRITE AND VERIFY.
 */
static void
verify_reads_or_compares_and_reports_the_first_difference(void)
{
	uint8_t cdb[16], *data = malloc(4 * UT_BLKLEN);
	struct ut_task *ut;

	setup();
	fill(g_disk->data + 10 * UT_BLKLEN, 4 * UT_BLKLEN, 5);
	memcpy(data, g_disk->data + 10 * UT_BLKLEN, 4 * UT_BLKLEN);
	/* BYTCHK 0: readable is enough, whatever the Data-Out. */
	cdb10(cdb, KEEL_SCSI_VERIFY_10, 0, 10, 4);
	CU_ASSERT(expect_good(cdb, 10, 0));
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_READ] == 1);
	/* BYTCHK 1: equal, then one byte off in the third block. */
	cdb10(cdb, KEEL_SCSI_VERIFY_10, 0x02, 10, 4);
	ut = run_out(cdb, 10, data, 4 * UT_BLKLEN, 3);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	data[2 * UT_BLKLEN + 17] ^= 0xff;
	cdb12(cdb, KEEL_SCSI_VERIFY_12, 0x02, 10, 4);
	ut = run_out(cdb, 12, data, 4 * UT_BLKLEN, 2);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_MISCOMPARE,
			   KEEL_SCSI_ASC_MISCOMPARE_DURING_VERIFY));
	CU_ASSERT(ut_info(&ut->t) == 2 * UT_BLKLEN + 17);
	ut_task_free(ut);
	/* BYTCHK 3: one block compared with each block. */
	memset(g_disk->data + 50 * UT_BLKLEN, 0xa5, 3 * UT_BLKLEN);
	memset(data, 0xa5, UT_BLKLEN);
	cdb16(cdb, KEEL_SCSI_VERIFY_16, 0x06, 50, 3);
	ut = run_out(cdb, 16, data, UT_BLKLEN, 1);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	g_disk->data[52 * UT_BLKLEN + 3] = 0;
	ut = run_out(cdb, 16, data, UT_BLKLEN, 1);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_MISCOMPARE,
			   KEEL_SCSI_ASC_MISCOMPARE_DURING_VERIFY));
	CU_ASSERT(ut_info(&ut->t) == 2 * UT_BLKLEN + 3);
	ut_task_free(ut);
	free(data);
	teardown();
}

static void
verify_refuses_bad_fields_short_data_and_range(void)
{
	uint8_t cdb[16], data[UT_BLKLEN] = {0};
	struct ut_task *ut;

	setup();
	cdb10(cdb, KEEL_SCSI_VERIFY_10, 0x20 /* VRPROTECT */, 0, 1);
	CU_ASSERT(expect_invalid_field(cdb, 10, 0));
	cdb10(cdb, KEEL_SCSI_VERIFY_10, 0x04 /* BYTCHK 2 */, 0, 1);
	CU_ASSERT(expect_invalid_field(cdb, 10, 0));
	cdb16(cdb, KEEL_SCSI_VERIFY_16, 0, UT_BLOCKS, 1);
	CU_ASSERT(expect_oob(cdb, 16, 0));
	cdb10(cdb, KEEL_SCSI_VERIFY_10, 0x02, 0, 2);
	ut = run_out(cdb, 10, data, UT_BLKLEN, 1);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_INVALID_FIELD_IN_INFORMATION_UNIT));
	ut_task_free(ut);
	cdb10(cdb, KEEL_SCSI_VERIFY_10, 0x02, 0, 0);
	CU_ASSERT(expect_good(cdb, 10, 0));
	g_disk->fail_left = 1;
	cdb10(cdb, KEEL_SCSI_VERIFY_10, 0, 0, 1);
	CU_ASSERT(expect_check(cdb, 10, 0, KEEL_SCSI_SENSE_MEDIUM_ERROR,
			       KEEL_SCSI_ASC_UNRECOVERED_READ_ERROR));
	teardown();
}

static void
write_and_verify_writes_durably_then_compares(void)
{
	uint8_t cdb[16], *data = malloc(8 * UT_BLKLEN);
	struct ut_task *ut;

	setup();
	fill(data, 8 * UT_BLKLEN, 11);
	cdb10(cdb, KEEL_SCSI_WRITE_AND_VERIFY_10, 0x02 /* BYTCHK */, 30, 8);
	ut = run_out(cdb, 10, data, 8 * UT_BLKLEN, 2);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	CU_ASSERT(memcmp(g_disk->data + 30 * UT_BLKLEN, data, 8 * UT_BLKLEN) == 0);
	CU_ASSERT(g_disk->fua_writes == 1);
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_READ] == 1);
	cdb12(cdb, KEEL_SCSI_WRITE_AND_VERIFY_12, 0, 40, 8);
	ut_task_free(run_out(cdb, 12, data, 8 * UT_BLKLEN, 1));
	cdb16(cdb, KEEL_SCSI_WRITE_AND_VERIFY_16, 0, 50, 8);
	ut = run_out(cdb, 16, data, 8 * UT_BLKLEN, 1);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	CU_ASSERT(g_disk->fua_writes == 3);
	CU_ASSERT(memcmp(g_disk->data + 50 * UT_BLKLEN, data, 8 * UT_BLKLEN) == 0);
	cdb16(cdb, KEEL_SCSI_WRITE_AND_VERIFY_16, 0x20, 50, 8);
	CU_ASSERT(expect_invalid_field(cdb, 16, 8 * UT_BLKLEN));
	cdb16(cdb, KEEL_SCSI_WRITE_AND_VERIFY_16, 0, UT_BLOCKS - 4, 8);
	CU_ASSERT(expect_oob(cdb, 16, 8 * UT_BLKLEN));
	free(data);
	teardown();
}

/* A Data-Out shorter than the command is handled as a WRITE handles it: the whole blocks that
 * came are written (and verified), the rest is left alone, GOOD; the transport reports the
 * overflow from expected_len. */
static void
write_and_verify_with_short_data_out_writes_the_blocks_that_came(void)
{
	uint8_t cdb[16], *data = malloc(2 * UT_BLKLEN), *old = malloc(2 * UT_BLKLEN);
	struct ut_task *ut;
	uint8_t bytchk;

	setup();
	for (bytchk = 0; bytchk <= 0x02; bytchk += 0x02) {
		fill(data, 2 * UT_BLKLEN, 40 + bytchk);
		memcpy(old, g_disk->data + 60 * UT_BLKLEN, 2 * UT_BLKLEN);
		cdb10(cdb, KEEL_SCSI_WRITE_AND_VERIFY_10, bytchk, 60, 2);
		ut = run_out(cdb, 10, data, UT_BLKLEN + 100, 1);
		CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
		CU_ASSERT(ut->t.expected_len == 2 * UT_BLKLEN);
		CU_ASSERT(ut->t.data_transferred == UT_BLKLEN);
		ut_task_free(ut);
		CU_ASSERT(memcmp(g_disk->data + 60 * UT_BLKLEN, data, UT_BLKLEN) == 0);
		CU_ASSERT(memcmp(g_disk->data + 61 * UT_BLKLEN, old + UT_BLKLEN, UT_BLKLEN) == 0);
	}
	/* Not one whole block: nothing is written. */
	g_disk->submits = 0;
	cdb16(cdb, KEEL_SCSI_WRITE_AND_VERIFY_16, 0, 60, 1);
	ut = run_out(cdb, 16, data, 200, 1);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(ut->t.expected_len == UT_BLKLEN);
	CU_ASSERT(ut->t.data_transferred == 0);
	ut_task_free(ut);
	CU_ASSERT(g_disk->submits == 0);
	free(data);
	free(old);
	teardown();
}

/*
 * PRE-FETCH and SYNCHRONIZE CACHE.
 */
static void
prefetch_and_synchronize_cache_check_the_range(void)
{
	uint8_t cdb[16];

	setup();
	cdb10(cdb, KEEL_SCSI_PRE_FETCH_10, 0, 0, 16);
	CU_ASSERT(expect_good(cdb, 10, 0));
	cdb16(cdb, KEEL_SCSI_PRE_FETCH_16, 0x02, UT_BLOCKS - 1, 2);
	CU_ASSERT(expect_oob(cdb, 16, 0));
	cdb10(cdb, KEEL_SCSI_SYNCHRONIZE_CACHE_10, 0, 10, 0); /* to the end */
	CU_ASSERT(expect_good(cdb, 10, 0));
	cdb16(cdb, KEEL_SCSI_SYNCHRONIZE_CACHE_16, 0x02, 0, 100);
	CU_ASSERT(expect_good(cdb, 16, 0));
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_FLUSH] == 2);
	cdb16(cdb, KEEL_SCSI_SYNCHRONIZE_CACHE_16, 0, UT_BLOCKS + 1, 0);
	CU_ASSERT(expect_oob(cdb, 16, 0));
	g_disk->no_flush = true;
	cdb10(cdb, KEEL_SCSI_SYNCHRONIZE_CACHE_10, 0, 0, 0);
	CU_ASSERT(expect_good(cdb, 10, 0));
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_FLUSH] == 2);
	g_disk->no_flush = false;
	teardown();
}

/*
 * WRITE SAME.
 */
static void
write_same_repeats_a_pattern_in_bounded_chunks(void)
{
	uint8_t cdb[16], block[UT_BLKLEN];
	uint32_t n = SCSI_MAX_WRITE_SAME_BYTES / UT_BLKLEN, i; /* the most one may cover */
	struct ut_task *ut;

	setup();
	fill(block, UT_BLKLEN, 21);
	cdb16(cdb, KEEL_SCSI_WRITE_SAME_16, 0, 100, n);
	ut = run_out(cdb, 16, block, UT_BLKLEN, 1);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	for (i = 0; i < n; i++) {
		if (memcmp(g_disk->data + (100 + (size_t)i) * UT_BLKLEN, block, UT_BLKLEN) != 0) {
			break;
		}
	}
	CU_ASSERT(i == n);
	/* Never one I/O per block: chunks of at most 1 MiB, at most 4 at the bdev at once. */
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_WRITE] <= n / 2048 + 1);
	CU_ASSERT(g_disk->max_seen_blocks <= 2048);
	CU_ASSERT(g_disk->max_inflight <= 4);
	teardown();
}

static void
write_same_of_zeroes_writes_zeroes_or_unmaps(void)
{
	uint8_t cdb[16], zero[UT_BLKLEN] = {0};
	struct ut_task *ut;

	setup();
	memset(g_disk->data, 0xee, 64 * UT_BLKLEN);
	cdb10(cdb, KEEL_SCSI_WRITE_SAME_10, 0, 0, 16);
	ut_task_free(run_out(cdb, 10, zero, UT_BLKLEN, 1));
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_WRITE_ZEROES] == 1);
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_UNMAP] == 0);
	CU_ASSERT(g_disk->data[15 * UT_BLKLEN] == 0 && g_disk->data[16 * UT_BLKLEN] == 0xee);
	cdb10(cdb, KEEL_SCSI_WRITE_SAME_10, 0x08 /* UNMAP */, 16, 16);
	ut_task_free(run_out(cdb, 10, zero, UT_BLKLEN, 1));
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_UNMAP] == 1);
	CU_ASSERT(g_disk->data[31 * UT_BLKLEN] == 0);
	/* NDOB (16 only): zeroes without Data-Out. */
	cdb16(cdb, KEEL_SCSI_WRITE_SAME_16, 0x09 /* UNMAP | NDOB */, 32, 16);
	ut = run(cdb, 16, 0);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_UNMAP] == 2);
	CU_ASSERT(g_disk->data[47 * UT_BLKLEN] == 0 && g_disk->data[48 * UT_BLKLEN] == 0xee);
	/* UNMAP with a non-zero block writes it. */
	memset(zero, 1, sizeof(zero));
	cdb10(cdb, KEEL_SCSI_WRITE_SAME_10, 0x08, 0, 2);
	ut_task_free(run_out(cdb, 10, zero, UT_BLKLEN, 1));
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_UNMAP] == 2);
	CU_ASSERT(g_disk->data[UT_BLKLEN] == 1);
	teardown();
}

static void
write_same_refuses_bad_cdbs(void)
{
	uint8_t cdb[16], block[UT_BLKLEN] = {0};
	struct ut_task *ut;

	setup();
	cdb10(cdb, KEEL_SCSI_WRITE_SAME_10, 0, 0, 0); /* WSNZ */
	ut = run_out(cdb, 10, block, UT_BLKLEN, 1);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB));
	ut_task_free(ut);
	/* LBA past the end wins over the 0 length. */
	cdb10(cdb, KEEL_SCSI_WRITE_SAME_10, 0, UT_BLOCKS + 1, 0);
	ut = run_out(cdb, 10, block, UT_BLKLEN, 1);
	CU_ASSERT(
		ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST, KEEL_SCSI_ASC_LBA_OUT_OF_RANGE));
	ut_task_free(ut);
	cdb16(cdb, KEEL_SCSI_WRITE_SAME_16, 0, UINT64_MAX, 1);
	ut = run_out(cdb, 16, block, UT_BLKLEN, 1);
	CU_ASSERT(
		ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST, KEEL_SCSI_ASC_LBA_OUT_OF_RANGE));
	ut_task_free(ut);
	cdb16(cdb, KEEL_SCSI_WRITE_SAME_16, 0, 0, SCSI_MAX_WRITE_SAME_BYTES / UT_BLKLEN + 1);
	CU_ASSERT(expect_invalid_field(cdb, 16, UT_BLKLEN));
	cdb10(cdb, KEEL_SCSI_WRITE_SAME_10, 0x20 /* WRPROTECT */, 0, 1);
	CU_ASSERT(expect_invalid_field(cdb, 10, UT_BLKLEN));
	cdb10(cdb, KEEL_SCSI_WRITE_SAME_10, 0x18 /* ANCHOR */, 0, 1);
	CU_ASSERT(expect_invalid_field(cdb, 10, UT_BLKLEN));
	cdb10(cdb, KEEL_SCSI_WRITE_SAME_10, 0x02 /* LBDATA */, 0, 1);
	CU_ASSERT(expect_invalid_field(cdb, 10, UT_BLKLEN));
	cdb10(cdb, KEEL_SCSI_WRITE_SAME_10, 0, 0, 1);
	CU_ASSERT(expect_check(cdb, 10, 100, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			       KEEL_SCSI_ASC_INVALID_FIELD_IN_INFORMATION_UNIT));
	CU_ASSERT(g_disk->submits == 0);
	teardown();
}

static void
write_same_survives_nomem_and_stops_when_aborted(void)
{
	uint8_t cdb[16], block[UT_BLKLEN];
	struct ut_task *ut, *tmf;

	setup();
	memset(block, 0x3c, sizeof(block));
	g_disk->nomem_left = 5;
	cdb16(cdb, KEEL_SCSI_WRITE_SAME_16, 0, 0, 8192);
	ut = run_out(cdb, 16, block, UT_BLKLEN, 1);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(g_disk->data[8191 * UT_BLKLEN] == 0x3c);
	ut_task_free(ut);
	/* Aborted with chunks at the bdev: no further chunk is sent. */
	memset(g_disk->data, 0, (size_t)UT_BLOCKS * UT_BLKLEN);
	g_disk->hold = true;
	ut = ut_task_new(g_dev, g_d0, 0, cdb, 16, UT_BLKLEN, 1);
	memcpy(ut->buf, block, UT_BLKLEN);
	ut_start(ut);
	poll_threads(5);
	CU_ASSERT(ut_held_count(g_disk) == 4);
	tmf = ut_task_new(g_dev, g_d0, 0, cdb, 16, 0, 1);
	tmf->t.function = KEEL_SCSI_TMF_ABORT_TASK;
	tmf->t.abort_task = &ut->t;
	keel_scsi_task_mgmt(&tmf->t);
	poll_threads(5);
	ut_release(g_disk);
	poll_until(&tmf->done);
	CU_ASSERT(ut->done == 1 && ut->t.aborted);
	CU_ASSERT(g_disk->data[4 * 2048 * UT_BLKLEN - 1] == 0x3c);
	CU_ASSERT(g_disk->data[4 * 2048 * UT_BLKLEN] == 0);
	ut_task_free(ut);
	ut_task_free(tmf);
	teardown();
}

/*
 * UNMAP.
 */
static uint32_t
unmap_list(uint8_t *list, const uint64_t *lbas, const uint32_t *counts, int n)
{
	int i;

	memset(list, 0, 8 + 16 * (size_t)n);
	keel_to_be16(&list[0], (uint16_t)(6 + 16 * n));
	keel_to_be16(&list[2], (uint16_t)(16 * n));
	for (i = 0; i < n; i++) {
		keel_to_be64(&list[8 + 16 * i], lbas[i]);
		keel_to_be32(&list[8 + 16 * i + 8], counts[i]);
	}
	return 8 + 16 * (uint32_t)n;
}

static struct ut_task *
run_unmap(const uint8_t *list, uint32_t param_len, uint32_t xfer, uint8_t flags)
{
	uint8_t cdb[10] = {KEEL_SCSI_UNMAP, flags};

	keel_to_be16(&cdb[7], (uint16_t)param_len);
	return run_out(cdb, 10, list, xfer, 1);
}

static void
unmap_clears_every_descriptor_range(void)
{
	uint64_t lbas[3] = {0, 100, 5000};
	uint32_t counts[3] = {8, 0, 3000};
	uint8_t list[8 + 16 * 3];
	uint32_t len = unmap_list(list, lbas, counts, 3);
	struct ut_task *ut;

	setup();
	memset(g_disk->data, 0xff, (size_t)UT_BLOCKS * UT_BLKLEN);
	ut = run_unmap(list, len, len, 0);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	CU_ASSERT(g_disk->data[7 * UT_BLKLEN] == 0 && g_disk->data[8 * UT_BLKLEN] == 0xff);
	CU_ASSERT(g_disk->data[100 * UT_BLKLEN] == 0xff);
	CU_ASSERT(g_disk->data[7999 * UT_BLKLEN] == 0 && g_disk->data[8000 * UT_BLKLEN] == 0xff);
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_UNMAP] == 2);
	/* No parameter list: nothing to do. */
	ut = run_unmap(list, 0, 0, 0);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	teardown();
}

static void
unmap_checks_the_parameter_list_before_unmapping_anything(void)
{
	uint64_t lbas[2] = {0, UT_BLOCKS - 1};
	uint32_t counts[2] = {8, 2};
	uint8_t *list = calloc(1, 8 + 16 * (SCSI_MAX_UNMAP_DESCRIPTORS + 1));
	uint32_t len = unmap_list(list, lbas, counts, 2);
	struct ut_task *ut;

	setup();
	memset(g_disk->data, 0xff, 16 * UT_BLKLEN);
	ut = run_unmap(list, len, len, 0);
	CU_ASSERT(
		ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST, KEEL_SCSI_ASC_LBA_OUT_OF_RANGE));
	ut_task_free(ut);
	CU_ASSERT(g_disk->data[0] == 0xff);
	ut = run_unmap(list, 4, 4, 0);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR));
	ut_task_free(ut);
	ut = run_unmap(list, len, len, 0x01 /* ANCHOR */);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB));
	ut_task_free(ut);
	counts[1] = 0;
	lbas[1] = 0;
	counts[0] = SCSI_MAX_UNMAP_LBA_COUNT + 1;
	len = unmap_list(list, lbas, counts, 1);
	g_disk->data[0] = 0xff;
	ut = run_unmap(list, len, len, 0);
	CU_ASSERT(
		ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST, KEEL_SCSI_ASC_LBA_OUT_OF_RANGE) ||
		ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			 KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST));
	ut_task_free(ut);
	memset(list, 0, 8 + 16 * (SCSI_MAX_UNMAP_DESCRIPTORS + 1));
	len = 8 + 16 * (SCSI_MAX_UNMAP_DESCRIPTORS + 1);
	keel_to_be16(&list[2], (uint16_t)(len - 8));
	ut = run_unmap(list, len, len, 0);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST));
	ut_task_free(ut);
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_UNMAP] == 0);
	/* A bdev that cannot unmap does not offer UNMAP. */
	g_disk->no_unmap = true;
	ut = run_unmap(list, 8, 8, 0);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_INVALID_COMMAND_OPERATION_CODE));
	ut_task_free(ut);
	g_disk->no_unmap = false;
	free(list);
	teardown();
}

/*
 * COMPARE AND WRITE.
 */
static void
compare_and_write_writes_only_when_equal(void)
{
	uint8_t cdb[16], data[2 * UT_BLKLEN];
	struct ut_task *ut;

	setup();
	memset(g_disk->data + 9 * UT_BLKLEN, 'a', UT_BLKLEN);
	memset(data, 'a', UT_BLKLEN);
	memset(data + UT_BLKLEN, 'b', UT_BLKLEN);
	cdb16(cdb, KEEL_SCSI_COMPARE_AND_WRITE, 0, 9, 0);
	cdb[13] = 1;
	ut = run_out(cdb, 16, data, 2 * UT_BLKLEN, 3);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	CU_ASSERT(g_disk->data[9 * UT_BLKLEN] == 'b');
	/* Now the compare data differs at byte 300: MISCOMPARE there, nothing written. */
	memset(data, 'b', UT_BLKLEN);
	data[300] = 'x';
	memset(data + UT_BLKLEN, 'c', UT_BLKLEN);
	ut = run_out(cdb, 16, data, 2 * UT_BLKLEN, 1);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_MISCOMPARE,
			   KEEL_SCSI_ASC_MISCOMPARE_DURING_VERIFY));
	CU_ASSERT(ut_info(&ut->t) == 300);
	ut_task_free(ut);
	CU_ASSERT(g_disk->data[9 * UT_BLKLEN + 5] == 'b');
	teardown();
}

static void
compare_and_write_refuses_bad_cdbs(void)
{
	uint8_t cdb[16], data[4 * UT_BLKLEN] = {0};
	struct ut_task *ut;

	setup();
	cdb16(cdb, KEEL_SCSI_COMPARE_AND_WRITE, 0, 0, 0);
	cdb[13] = 2; /* the bdev allows one block */
	CU_ASSERT(expect_invalid_field(cdb, 16, 4 * UT_BLKLEN));
	cdb[13] = 1;
	cdb[1] = 0x20;
	CU_ASSERT(expect_invalid_field(cdb, 16, 2 * UT_BLKLEN));
	cdb16(cdb, KEEL_SCSI_COMPARE_AND_WRITE, 0, UT_BLOCKS, 0);
	cdb[13] = 1;
	CU_ASSERT(expect_oob(cdb, 16, 2 * UT_BLKLEN));
	cdb16(cdb, KEEL_SCSI_COMPARE_AND_WRITE, 0, 0, 0);
	cdb[13] = 1;
	ut = run_out(cdb, 16, data, UT_BLKLEN, 1);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_INVALID_FIELD_IN_INFORMATION_UNIT));
	ut_task_free(ut);
	cdb[13] = 0;
	CU_ASSERT(expect_good(cdb, 16, 0));
	CU_ASSERT(g_disk->submits == 0);
	teardown();
}

/* A Data-Out longer than twice NUMBER OF LOGICAL BLOCKS (libiscsi asks for 256 blocks, whose
 * count wraps to 0 in the CDB's one byte) is refused as a whole: nothing is compared or
 * written. */
static void
compare_and_write_refuses_data_out_beyond_its_blocks(void)
{
	uint8_t cdb[16];

	setup();
	cdb16(cdb, KEEL_SCSI_COMPARE_AND_WRITE, 0, 0, 0);
	cdb[13] = 0;
	CU_ASSERT(expect_invalid_field(cdb, 16, 2 * UT_BLKLEN));
	cdb[13] = 1;
	CU_ASSERT(expect_invalid_field(cdb, 16, 4 * UT_BLKLEN));
	CU_ASSERT(expect_invalid_field(cdb, 16, 2 * UT_BLKLEN + 1));
	CU_ASSERT(g_disk->submits == 0);
	CU_ASSERT(expect_good(cdb, 16, 2 * UT_BLKLEN));
	teardown();
}

/*
 * READ CAPACITY and GET LBA STATUS.
 */
static void
read_capacity_reports_size_block_length_and_provisioning(void)
{
	uint8_t rc10[10] = {KEEL_SCSI_READ_CAPACITY_10};
	uint8_t rc16[16] = {KEEL_SCSI_SERVICE_ACTION_IN_16, KEEL_SCSI_SAI_READ_CAPACITY_16};
	struct ut_task *ut;

	setup();
	ut = run(rc10, 10, 8);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(keel_from_be32(ut->buf) == UT_BLOCKS - 1);
	CU_ASSERT(keel_from_be32(ut->buf + 4) == UT_BLKLEN);
	ut_task_free(ut);
	keel_to_be32(&rc16[10], 32);
	ut = run(rc16, 16, 32);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(ut->t.data_transferred == 32);
	CU_ASSERT(keel_from_be64(ut->buf) == UT_BLOCKS - 1);
	CU_ASSERT(keel_from_be32(ut->buf + 8) == UT_BLKLEN);
	CU_ASSERT(ut->buf[12] == 0 && ut->buf[13] == 0);
	CU_ASSERT(ut->buf[14] == 0xc0 && ut->buf[15] == 0); /* LBPME, LBPRZ */
	ut_task_free(ut);
	/* The allocation length is honoured, 0 included. */
	keel_to_be32(&rc16[10], 12);
	ut = run(rc16, 16, 32);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD && ut->t.data_transferred == 12);
	CU_ASSERT(ut->buf[12] == 0);
	ut_task_free(ut);
	keel_to_be32(&rc16[10], 0);
	ut = run(rc16, 16, 32);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD && ut->t.data_transferred == 0);
	ut_task_free(ut);
	/* No unmap: no LBPME. */
	g_disk->no_unmap = true;
	keel_to_be32(&rc16[10], 32);
	ut = run(rc16, 16, 32);
	CU_ASSERT(ut->buf[14] == 0);
	ut_task_free(ut);
	g_disk->no_unmap = false;
	/* LBA without PMI, and an unknown service action. */
	rc10[5] = 1;
	CU_ASSERT(expect_invalid_field(rc10, 10, 8));
	rc16[9] = 1;
	CU_ASSERT(expect_invalid_field(rc16, 16, 32));
	rc16[1] = 0x1d;
	CU_ASSERT(expect_invalid_field(rc16, 16, 32));
	teardown();
}

static void
read_capacity_10_saturates_beyond_32_bits(void)
{
	uint8_t rc10[10] = {KEEL_SCSI_READ_CAPACITY_10};
	uint8_t rc16[16] = {KEEL_SCSI_SERVICE_ACTION_IN_16, KEEL_SCSI_SAI_READ_CAPACITY_16};
	struct ut_task *ut;

	setup();
	CU_ASSERT(keel_bdev_notify_blockcnt_change(&g_disk->bdev, 0x100000001ull) == 0);
	poll_threads(5);
	ut_clear_ua(g_dev, g_d0, 0);
	ut = run(rc10, 10, 8);
	CU_ASSERT(keel_from_be32(ut->buf) == 0xffffffffu);
	ut_task_free(ut);
	keel_to_be32(&rc16[10], 32);
	ut = run(rc16, 16, 32);
	CU_ASSERT(keel_from_be64(ut->buf) == 0x100000000ull);
	ut_task_free(ut);
	CU_ASSERT(keel_bdev_notify_blockcnt_change(&g_disk->bdev, UT_BLOCKS) == 0);
	poll_threads(5);
	teardown();
}

static void
get_lba_status_reports_one_descriptor_to_the_end(void)
{
	uint8_t cdb[16] = {KEEL_SCSI_SERVICE_ACTION_IN_16, KEEL_SCSI_SAI_GET_LBA_STATUS};
	struct ut_task *ut;

	setup();
	keel_to_be64(&cdb[2], 100);
	keel_to_be32(&cdb[10], 24);
	ut = run(cdb, 16, 24);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(keel_from_be32(ut->buf) == 20);
	CU_ASSERT(keel_from_be64(ut->buf + 8) == 100);
	CU_ASSERT(keel_from_be32(ut->buf + 16) == UT_BLOCKS - 100);
	CU_ASSERT((ut->buf[20] & 0xf) == 0);
	ut_task_free(ut);
	keel_to_be32(&cdb[10], 8);
	ut = run(cdb, 16, 24);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD && ut->t.data_transferred == 8);
	ut_task_free(ut);
	keel_to_be64(&cdb[2], UT_BLOCKS);
	CU_ASSERT(expect_oob(cdb, 16, 24));
	teardown();
}

/*
 * SANITIZE.
 */
static struct ut_task *
run_sanitize(uint8_t sa_flags, const uint8_t *param, uint16_t param_len, uint32_t xfer)
{
	uint8_t cdb[10] = {KEEL_SCSI_SANITIZE, sa_flags};
	uint8_t dummy[1] = {0};

	keel_to_be16(&cdb[7], param_len);
	return run_out(cdb, 10, param != NULL ? param : dummy, xfer, 1);
}

static void
sanitize_overwrite_writes_the_pattern_everywhere(void)
{
	uint8_t param[4 + 4] = {0x01, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef};
	uint8_t gls[16] = {KEEL_SCSI_SERVICE_ACTION_IN_16, KEEL_SCSI_SAI_GET_LBA_STATUS};
	struct ut_task *ut;
	size_t i;

	setup();
	ut = run_sanitize(0x01, param, sizeof(param), sizeof(param));
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	for (i = 0; i < (size_t)UT_BLOCKS * UT_BLKLEN; i += 4) {
		if (memcmp(g_disk->data + i, &param[4], 4) != 0) {
			break;
		}
	}
	CU_ASSERT(i == (size_t)UT_BLOCKS * UT_BLKLEN);
	CU_ASSERT(g_disk->max_seen_blocks <= 2048 && g_disk->max_inflight <= 4);
	CU_ASSERT(!g_d0->lun->sanitizing);
	keel_to_be32(&gls[10], 24);
	ut = run(gls, 16, 24);
	CU_ASSERT((ut->buf[20] & 0xf) == 0); /* mapped */
	ut_task_free(ut);
	teardown();
}

static void
sanitize_block_erase_unmaps_and_reports_deallocated_until_written(void)
{
	uint8_t gls[16] = {KEEL_SCSI_SERVICE_ACTION_IN_16, KEEL_SCSI_SAI_GET_LBA_STATUS};
	uint8_t cdb[16], data[UT_BLKLEN] = {1};
	struct ut_task *ut;

	setup();
	memset(g_disk->data, 0x77, (size_t)UT_BLOCKS * UT_BLKLEN);
	ut = run_sanitize(0x02, NULL, 0, 0);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	CU_ASSERT(g_disk->data[0] == 0 && g_disk->data[(size_t)UT_BLOCKS * UT_BLKLEN - 1] == 0);
	CU_ASSERT(g_disk->by_type[KEEL_BDEV_IO_TYPE_UNMAP] >= 1);
	keel_to_be32(&gls[10], 24);
	ut = run(gls, 16, 24);
	CU_ASSERT((ut->buf[20] & 0xf) == 1);
	CU_ASSERT(keel_from_be32(ut->buf + 16) == UT_BLOCKS);
	ut_task_free(ut);
	cdb10(cdb, KEEL_SCSI_WRITE_10, 0, 0, 1);
	ut_task_free(run_out(cdb, 10, data, UT_BLKLEN, 1));
	ut = run(gls, 16, 24);
	CU_ASSERT((ut->buf[20] & 0xf) == 0);
	ut_task_free(ut);
	teardown();
}

static void
sanitize_with_immed_answers_at_once_and_blocks_other_commands(void)
{
	static const uint8_t tur[6] = {0};
	static const uint8_t inquiry[6] = {KEEL_SCSI_INQUIRY, 0, 0, 0, 36, 0};
	struct ut_task *ut, *tmf;

	setup();
	g_disk->hold = true;
	ut = run_sanitize(0x82, NULL, 0, 0);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	CU_ASSERT(g_d0->lun->sanitizing);
	CU_ASSERT(expect_check(tur, 6, 0, KEEL_SCSI_SENSE_NOT_READY,
			       KEEL_SCSI_ASC_LUN_NOT_READY_SANITIZE));
	CU_ASSERT(expect_good(inquiry, 6, 36));
	/* A second SANITIZE waits its turn, and a LUN reset does not stop the first. */
	ut = run_sanitize(0x82, NULL, 0, 0);
	CU_ASSERT(
		ut_check(&ut->t, KEEL_SCSI_SENSE_NOT_READY, KEEL_SCSI_ASC_LUN_NOT_READY_SANITIZE));
	ut_task_free(ut);
	tmf = ut_task_new(g_dev, g_d0, 0, tur, 6, 0, 1);
	tmf->t.function = KEEL_SCSI_TMF_LOGICAL_UNIT_RESET;
	keel_scsi_task_mgmt(&tmf->t);
	poll_threads(10);
	CU_ASSERT(g_d0->lun->sanitizing);
	ut_release(g_disk);
	poll_until(&tmf->done);
	poll_threads(20);
	CU_ASSERT(!g_d0->lun->sanitizing);
	ut_task_free(tmf);
	ut_clear_ua(g_dev, g_d0, 0);
	CU_ASSERT(expect_good(tur, 6, 0));
	teardown();
}

static void
sanitize_refuses_bad_service_actions_and_parameter_lists(void)
{
	uint8_t param[4 + UT_BLKLEN + 8];
	struct ut_task *ut;
	int len;

	setup();
	memset(param, 0xaa, sizeof(param));
	param[0] = 0x01;
	param[1] = 0;
	keel_to_be16(&param[2], UT_BLKLEN);
	/* CRYPTO ERASE, EXIT FAILURE MODE, reserved. */
	ut = run_sanitize(0x03, NULL, 0, 0);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB));
	ut_task_free(ut);
	ut = run_sanitize(0x1f, NULL, 0, 0);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB));
	ut_task_free(ut);
	ut = run_sanitize(0x05, NULL, 0, 0);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB));
	ut_task_free(ut);
	/* BLOCK ERASE takes no parameter list. */
	ut = run_sanitize(0x02, param, 8, 8);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB));
	ut_task_free(ut);
	/* OVERWRITE: length 5..block size + 4, count not 0, pattern 1..block size. */
	for (len = 0; len < 5; len++) {
		ut = run_sanitize(0x01, param, (uint16_t)len, (uint32_t)len);
		CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
				   KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB));
		ut_task_free(ut);
	}
	ut = run_sanitize(0x01, param, UT_BLKLEN + 5, UT_BLKLEN + 5);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_CHECK_CONDITION);
	ut_task_free(ut);
	param[0] = 0x00;
	ut = run_sanitize(0x01, param, UT_BLKLEN + 4, UT_BLKLEN + 4);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_CHECK_CONDITION);
	ut_task_free(ut);
	param[0] = 0x01;
	keel_to_be16(&param[2], 0);
	ut = run_sanitize(0x01, param, UT_BLKLEN + 4, UT_BLKLEN + 4);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_CHECK_CONDITION);
	ut_task_free(ut);
	keel_to_be16(&param[2], UT_BLKLEN + 4);
	ut = run_sanitize(0x01, param, UT_BLKLEN + 4, UT_BLKLEN + 4);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_CHECK_CONDITION);
	ut_task_free(ut);
	CU_ASSERT(g_disk->submits == 0);
	CU_ASSERT(!g_d0->lun->sanitizing);
	teardown();
}

/* SBC: a reset does not stop a sanitize operation. Chunks that a bdev reset ends ABORTED are
 * written again, and the SANITIZE ends GOOD with the whole LUN overwritten; a WRITE SAME,
 * which a reset may stop, fails instead. */
static void
sanitize_writes_again_what_a_reset_aborted(void)
{
	uint8_t param[4 + 4] = {0x01, 0, 0, 4, 0x5a, 0xa5, 0x0f, 0xf0};
	uint8_t cdb[16], block[UT_BLKLEN];
	struct ut_task *ut;
	size_t i;

	setup();
	g_disk->abort_left = 3;
	ut = run_sanitize(0x01, param, sizeof(param), sizeof(param));
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	CU_ASSERT(g_disk->abort_left == 0);
	for (i = 0; i < (size_t)UT_BLOCKS * UT_BLKLEN; i += 4) {
		if (memcmp(g_disk->data + i, &param[4], 4) != 0) {
			break;
		}
	}
	CU_ASSERT(i == (size_t)UT_BLOCKS * UT_BLKLEN);
	CU_ASSERT(!g_d0->lun->sanitizing);
	memset(block, 0x33, sizeof(block));
	g_disk->abort_left = 1;
	cdb16(cdb, KEEL_SCSI_WRITE_SAME_16, 0, 0, 8);
	ut = run_out(cdb, 16, block, UT_BLKLEN, 1);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_CHECK_CONDITION);
	ut_task_free(ut);
	teardown();
}

/* An aborted SANITIZE task ends (without status) as soon as the operation notices, so that
 * the ABORT TASK answers; the operation itself runs on and the LUN stays NOT READY until it
 * is done. */
static void
sanitize_task_aborted_ends_while_the_operation_goes_on(void)
{
	static const uint8_t tur[6] = {0};
	uint8_t param[4 + 4] = {0x01, 0, 0, 4, 1, 2, 3, 4};
	uint8_t cdb[10] = {KEEL_SCSI_SANITIZE, 0x01};
	struct ut_task *ut, *tmf;
	int i;

	setup();
	g_disk->hold = true; /* OVERWRITE in 1 MiB chunks: several batches */
	keel_to_be16(&cdb[7], sizeof(param));
	ut = ut_task_new(g_dev, g_d0, 0, cdb, 10, sizeof(param), 1);
	memcpy(ut->buf, param, sizeof(param));
	ut->t.dxfer_dir = KEEL_SCSI_DIR_TO_DEV;
	ut_start(ut);
	poll_threads(5);
	CU_ASSERT(g_d0->lun->sanitizing && ut_held_count(g_disk) > 0);
	tmf = ut_task_new(g_dev, g_d0, 0, tur, 6, 0, 1);
	tmf->t.function = KEEL_SCSI_TMF_ABORT_TASK;
	tmf->t.abort_task = &ut->t;
	keel_set_thread(g_d0->thread);
	keel_scsi_task_mgmt(&tmf->t);
	poll_threads(10);
	CU_ASSERT(tmf->done == 0 && ut->done == 0);
	/* One batch of chunks completes: the task ends, the TMF answers, the erase goes on. */
	ut_release_held(g_disk, true);
	poll_until(&tmf->done);
	CU_ASSERT(ut->done == 1 && ut->t.aborted);
	CU_ASSERT(tmf->t.response == KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(g_d0->lun->sanitizing);
	CU_ASSERT(expect_check(tur, 6, 0, KEEL_SCSI_SENSE_NOT_READY,
			       KEEL_SCSI_ASC_LUN_NOT_READY_SANITIZE));
	for (i = 0; i < 1000 && g_d0->lun->sanitizing; i++) {
		ut_release_held(g_disk, true);
		poll_threads(5);
	}
	ut_release(g_disk);
	poll_threads(20);
	CU_ASSERT(!g_d0->lun->sanitizing);
	for (i = 0; i < UT_BLOCKS * UT_BLKLEN; i += 4) {
		if (memcmp(g_disk->data + i, &param[4], 4) != 0) {
			break;
		}
	}
	CU_ASSERT(i == UT_BLOCKS * UT_BLKLEN);
	ut_task_free(tmf);
	ut_task_free(ut);
	teardown();
}

/* The reserved bit of byte 1 and reserved bytes 2-6 are refused, pointing at the field. */
static void
sanitize_refuses_reserved_bits_and_bytes(void)
{
	uint8_t cdb[10];
	int i;

	setup();
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = KEEL_SCSI_SANITIZE;
	cdb[1] = 0x40 | 0x02;
	CU_ASSERT(expect_invalid_field(cdb, 10, 0));
	for (i = 2; i <= 6; i++) {
		cdb[1] = 0x02;
		cdb[i] = (uint8_t)i;
		CU_ASSERT(expect_invalid_field(cdb, 10, 0));
		cdb[i] = 0;
	}
	CU_ASSERT(g_disk->submits == 0);
	CU_ASSERT(!g_d0->lun->sanitizing);
	teardown();
}

static void
format_unit_without_parameters_is_good(void)
{
	uint8_t cdb[6] = {KEEL_SCSI_FORMAT_UNIT};

	setup();
	CU_ASSERT(expect_good(cdb, 6, 0));
	cdb[1] = 0x10; /* FMTDATA */
	CU_ASSERT(expect_invalid_field(cdb, 6, 0));
	cdb[1] = 0x40; /* FMTPINFO */
	CU_ASSERT(expect_invalid_field(cdb, 6, 0));
	teardown();
}

static void
opcode_rows_describe_their_cdbs(void)
{
	const struct scsi_opcode_info *rows;
	size_t n = scsi_sbc_opcodes(&rows), i;

	CU_ASSERT(n > 20);
	for (i = 0; i < n; i++) {
		CU_ASSERT(rows[i].usage[0] == rows[i].opcode);
		CU_ASSERT(rows[i].cdb_len == 6 || rows[i].cdb_len == 10 || rows[i].cdb_len == 12 ||
			  rows[i].cdb_len == 16);
		CU_ASSERT(rows[i].usage[rows[i].cdb_len - 1] == 0x00);
	}
}

static int
suite_init(void)
{
	return ut_suite_init("scsi_sbc_ut");
}

static int
suite_fini(void)
{
	return 0;
}

static const struct keel_ut_test g_tests[] = {
	KEEL_UT_TEST(read_and_write_of_every_size_move_the_data),
	KEEL_UT_TEST(fua_and_a_disabled_write_cache_make_writes_durable),
	KEEL_UT_TEST(read_write_refuse_protection_range_and_oversize),
	KEEL_UT_TEST(reads_shorter_than_the_command_get_what_fits),
	KEEL_UT_TEST(writes_take_the_whole_blocks_sent_and_ignore_extra),
	KEEL_UT_TEST(zero_block_reads_and_writes_are_good_without_io),
	KEEL_UT_TEST(bdev_errors_become_medium_errors),
	KEEL_UT_TEST(software_write_protect_refuses_every_write),
	KEEL_UT_TEST(verify_reads_or_compares_and_reports_the_first_difference),
	KEEL_UT_TEST(verify_refuses_bad_fields_short_data_and_range),
	KEEL_UT_TEST(write_and_verify_writes_durably_then_compares),
	KEEL_UT_TEST(write_and_verify_with_short_data_out_writes_the_blocks_that_came),
	KEEL_UT_TEST(prefetch_and_synchronize_cache_check_the_range),
	KEEL_UT_TEST(write_same_repeats_a_pattern_in_bounded_chunks),
	KEEL_UT_TEST(write_same_of_zeroes_writes_zeroes_or_unmaps),
	KEEL_UT_TEST(write_same_refuses_bad_cdbs),
	KEEL_UT_TEST(write_same_survives_nomem_and_stops_when_aborted),
	KEEL_UT_TEST(unmap_clears_every_descriptor_range),
	KEEL_UT_TEST(unmap_checks_the_parameter_list_before_unmapping_anything),
	KEEL_UT_TEST(compare_and_write_writes_only_when_equal),
	KEEL_UT_TEST(compare_and_write_refuses_bad_cdbs),
	KEEL_UT_TEST(compare_and_write_refuses_data_out_beyond_its_blocks),
	KEEL_UT_TEST(read_capacity_reports_size_block_length_and_provisioning),
	KEEL_UT_TEST(read_capacity_10_saturates_beyond_32_bits),
	KEEL_UT_TEST(get_lba_status_reports_one_descriptor_to_the_end),
	KEEL_UT_TEST(sanitize_overwrite_writes_the_pattern_everywhere),
	KEEL_UT_TEST(sanitize_refuses_reserved_bits_and_bytes),
	KEEL_UT_TEST(sanitize_writes_again_what_a_reset_aborted),
	KEEL_UT_TEST(sanitize_task_aborted_ends_while_the_operation_goes_on),
	KEEL_UT_TEST(sanitize_block_erase_unmaps_and_reports_deallocated_until_written),
	KEEL_UT_TEST(sanitize_with_immed_answers_at_once_and_blocks_other_commands),
	KEEL_UT_TEST(sanitize_refuses_bad_service_actions_and_parameter_lists),
	KEEL_UT_TEST(format_unit_without_parameters_is_good),
	KEEL_UT_TEST(opcode_rows_describe_their_cdbs),
};

int
main(void)
{
	return keel_ut_run("scsi_sbc", g_tests, sizeof(g_tests) / sizeof(g_tests[0]), suite_init,
			   suite_fini);
}
