/*
 * SBC-3 block commands on a LUN's bdev: reads and writes straight into and out of the
 * transport's buffers, VERIFY and WRITE AND VERIFY, WRITE SAME, UNMAP, COMPARE AND WRITE,
 * SYNCHRONIZE CACHE, READ CAPACITY, GET LBA STATUS, SANITIZE and FORMAT UNIT. Long operations
 * (WRITE SAME, UNMAP, SANITIZE) run as bounded chunks with a few in flight, never one I/O per
 * block, so that one command cannot flood the bdev or starve the reactor.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/util.h"

#include "scsi_internal.h"

#define SBC_QUEUE_DEPTH 4                     /* chunks of a long operation in flight */
#define SBC_PATTERN_CHUNK_BYTES (1024 * 1024) /* buffer of a repeated block (WRITE SAME) */
#define SBC_ZEROES_CHUNK_BYTES (8 * 1024 * 1024)
#define SBC_UNMAP_CHUNK_BLOCKS 4194304u
#define SBC_RETRY_US 1000          /* a SANITIZE chunk that a bdev reset aborted: retried after */
#define SBC_RETRY_MAX 30000        /* that many retries in a row (30 s of resets): it fails */
#define SBC_SMALL_IOVS                                                                             \
	((int)(sizeof(((struct keel_scsi_task *)0)->internal.small_buf) / sizeof(struct iovec)))

/* task->internal.step of READ and WRITE: what io_ctx holds. */
enum {
	SBC_STEP_IOV = 0,    /* io_ctx: an allocated iovec array, or NULL */
	SBC_STEP_BOUNCE = 1, /* io_ctx: a bounce buffer (a read of a partial block) */
	SBC_STEP_ZCOPY = 2,  /* a read by reference (data_by_ref): io_ctx NULL */
};

KEEL_STATIC_ASSERT(offsetof(struct keel_scsi_task, internal.small_buf) % 8 == 0,
		   "small_buf holds iovecs");

/* LBA, NUMBER OF LOGICAL BLOCKS and byte 1 of the CDBs that have them. */
struct sbc_cdb {
	uint64_t lba;
	uint32_t nblocks;
	uint8_t flags;
	int len_byte; /* where the length is, for the sense-key specific pointer */
};

static void
sbc_decode(const uint8_t *cdb, struct sbc_cdb *c)
{
	c->flags = cdb[1];
	switch (cdb[0]) {
	case KEEL_SCSI_READ_6:
	case KEEL_SCSI_WRITE_6:
		c->lba = ((uint64_t)(cdb[1] & 0x1f) << 16) | keel_from_be16(&cdb[2]);
		c->nblocks = cdb[4] != 0 ? cdb[4] : 256;
		c->flags = 0;
		c->len_byte = 4;
		break;
	case KEEL_SCSI_READ_12:
	case KEEL_SCSI_WRITE_12:
	case KEEL_SCSI_WRITE_AND_VERIFY_12:
	case KEEL_SCSI_VERIFY_12:
		c->lba = keel_from_be32(&cdb[2]);
		c->nblocks = keel_from_be32(&cdb[6]);
		c->len_byte = 6;
		break;
	case KEEL_SCSI_READ_16:
	case KEEL_SCSI_WRITE_16:
	case KEEL_SCSI_WRITE_AND_VERIFY_16:
	case KEEL_SCSI_VERIFY_16:
	case KEEL_SCSI_PRE_FETCH_16:
	case KEEL_SCSI_SYNCHRONIZE_CACHE_16:
	case KEEL_SCSI_WRITE_SAME_16:
		c->lba = keel_from_be64(&cdb[2]);
		c->nblocks = keel_from_be32(&cdb[10]);
		c->len_byte = 10;
		break;
	case KEEL_SCSI_COMPARE_AND_WRITE:
		c->lba = keel_from_be64(&cdb[2]);
		c->nblocks = cdb[13];
		c->len_byte = 13;
		break;
	default: /* the 10-byte ones */
		c->lba = keel_from_be32(&cdb[2]);
		c->nblocks = keel_from_be16(&cdb[7]);
		c->len_byte = 7;
		break;
	}
}

static struct keel_scsi_lun *
sbc_lun(const struct keel_scsi_task *task)
{
	return task->internal.lun;
}

static uint32_t
sbc_block_size(const struct keel_scsi_task *task)
{
	return keel_bdev_get_block_size(sbc_lun(task)->bdev);
}

static bool
sbc_range_ok(struct keel_scsi_task *task, uint64_t lba, uint64_t nblocks)
{
	uint64_t cap = keel_bdev_get_num_blocks(sbc_lun(task)->bdev);

	if (lba > cap || nblocks > cap - lba) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
					  KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
					  KEEL_SCSI_ASC_LBA_OUT_OF_RANGE);
		return false;
	}
	return true;
}

/* Software write protect (control mode page SWP): DATA PROTECT, WRITE PROTECTED. */
static bool
sbc_write_protected(struct keel_scsi_task *task)
{
	if (!__atomic_load_n(&sbc_lun(task)->mode.swp, __ATOMIC_RELAXED)) {
		return false;
	}
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
				  KEEL_SCSI_SENSE_DATA_PROTECT, KEEL_SCSI_ASC_WRITE_PROTECTED);
	return true;
}

/* The Data-Out is shorter than the command needs: transfer nothing (FCP-4/SAM-5 overflow
 * handling b; RFC 7143 lets the target refuse). */
static void
sbc_short_data_out(struct keel_scsi_task *task)
{
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
				  KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
				  KEEL_SCSI_ASC_INVALID_FIELD_IN_INFORMATION_UNIT);
}

/* The LUN is written: GET LBA STATUS no longer reports it all deallocated. */
static void
sbc_mark_written(struct keel_scsi_lun *lun)
{
	if (__atomic_load_n(&lun->deallocated, __ATOMIC_RELAXED)) {
		__atomic_store_n(&lun->deallocated, false, __ATOMIC_RELAXED);
	}
}

/* Writes are durable before GOOD unless the initiator enabled the write cache (WCE). */
static uint32_t
sbc_write_flags(const struct keel_scsi_task *task, bool fua)
{
	if (fua || !__atomic_load_n(&sbc_lun(task)->mode.wce, __ATOMIC_RELAXED)) {
		return KEEL_BDEV_IO_FLAG_FUA;
	}
	return 0;
}

/* A failed bdev I/O: ABORTED COMMAND when the bdev aborted it (reset, removal), else MEDIUM
 * ERROR with WRITE ERROR or UNRECOVERED READ ERROR. */
static void
sbc_set_io_error(struct keel_scsi_task *task, enum keel_bdev_io_status st, bool write)
{
	if (st == KEEL_BDEV_IO_STATUS_ABORTED) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
					  KEEL_SCSI_SENSE_ABORTED_COMMAND,
					  KEEL_SCSI_ASC_NO_ADDITIONAL_SENSE);
		return;
	}
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
				  KEEL_SCSI_SENSE_MEDIUM_ERROR,
				  write ? KEEL_SCSI_ASC_WRITE_ERROR
					: KEEL_SCSI_ASC_UNRECOVERED_READ_ERROR);
}

/* A submit refused outright (not -ENOMEM). */
static void
sbc_set_submit_error(struct keel_scsi_task *task, int rc)
{
	if (rc == -ENODEV) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
					  KEEL_SCSI_SENSE_ABORTED_COMMAND,
					  KEEL_SCSI_ASC_NO_ADDITIONAL_SENSE);
	} else if (rc == -EINVAL) {
		/* The bdev shrank under the command. */
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
					  KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
					  KEEL_SCSI_ASC_LBA_OUT_OF_RANGE);
	} else {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
					  KEEL_SCSI_SENSE_HARDWARE_ERROR,
					  KEEL_SCSI_ASC_INTERNAL_TARGET_FAILURE);
	}
}

static void
sbc_done(struct keel_scsi_task *task)
{
	scsi_task_complete(task);
}

/*
 * The transport's buffers. The bytes [off, off + len) as an iovec array: the task's own when
 * they are exactly that, else a copy trimmed to it, in small when it fits, else allocated.
 * NULL if the buffers hold fewer bytes or memory is short.
 */
static struct iovec *
sbc_slice(struct keel_scsi_task *task, uint32_t off, uint32_t len, struct iovec *small,
	  int small_cnt, int *cnt)
{
	struct iovec *dst;
	uint64_t pos = 0, total = 0;
	int i, first = -1, n = 0;

	for (i = 0; i < task->iovcnt; i++) {
		total += task->iovs[i].iov_len;
	}
	if (off == 0 && total == len) {
		*cnt = task->iovcnt;
		return task->iovs;
	}
	if (total < (uint64_t)off + len) {
		return NULL;
	}
	for (i = 0; i < task->iovcnt && pos < (uint64_t)off + len; i++) {
		if (pos + task->iovs[i].iov_len > off && task->iovs[i].iov_len > 0) {
			if (first < 0) {
				first = i;
			}
			n++;
		}
		pos += task->iovs[i].iov_len;
	}
	if (n == 0) {
		*cnt = 0;
		return small;
	}
	dst = n <= small_cnt ? small : calloc((size_t)n, sizeof(*dst));
	if (dst == NULL) {
		return NULL;
	}
	pos = 0;
	for (i = 0; i < first; i++) {
		pos += task->iovs[i].iov_len;
	}
	for (i = 0; i < n; i++) {
		const struct iovec *src = &task->iovs[first + i];
		uint64_t skip = off > pos ? off - pos : 0;
		uint64_t take = src->iov_len - skip;

		if (take > (uint64_t)off + len - (pos + skip)) {
			take = (uint64_t)off + len - (pos + skip);
		}
		dst[i].iov_base = (uint8_t *)src->iov_base + skip;
		dst[i].iov_len = take;
		pos += src->iov_len;
	}
	*cnt = n;
	return dst;
}

static void
sbc_slice_free(struct keel_scsi_task *task, struct iovec *iov, const struct iovec *small)
{
	if (iov != NULL && iov != task->iovs && iov != small) {
		free(iov);
	}
}

/* Offset of the first byte where the task's buffers from iov_off differ from buf, or -1. */
static int64_t
sbc_iov_compare(const struct keel_scsi_task *task, uint32_t iov_off, const uint8_t *buf,
		uint32_t len)
{
	uint64_t pos = 0, done = 0, n, skip, j;
	int i;

	for (i = 0; i < task->iovcnt && done < len; i++) {
		const uint8_t *p = task->iovs[i].iov_base;

		if (pos + task->iovs[i].iov_len <= iov_off) {
			pos += task->iovs[i].iov_len;
			continue;
		}
		skip = iov_off > pos ? iov_off - pos : 0;
		n = KEEL_MIN(task->iovs[i].iov_len - skip, (uint64_t)len - done);
		if (memcmp(p + skip, buf + done, n) != 0) {
			for (j = 0; j < n; j++) {
				if (p[skip + j] != buf[done + j]) {
					return (int64_t)(done + j);
				}
			}
		}
		done += n;
		pos += task->iovs[i].iov_len;
	}
	return -1;
}

static void
sbc_miscompare(struct keel_scsi_task *task, uint64_t offset)
{
	scsi_task_set_sense(task, KEEL_SCSI_SENSE_MISCOMPARE,
			    KEEL_SCSI_ASC_MISCOMPARE_DURING_VERIFY, NULL, offset, true);
}

/*
 * READ and WRITE (6, 10, 12, 16). Reads go straight into the transport's buffers; a buffer
 * shorter than the command's data gets the whole blocks that fit, and a partial last block
 * through a bounce buffer. A READ of whole blocks that the transport lets answer by reference
 * (data_by_ref) points the task's iovecs at the bdev's memory when the bdev keeps its blocks
 * there, with no copy (keel_scsi_task_put_data() releases it). A write needs all of its Data-Out; extra Data-Out is ignored
 * (underflow: data_transferred says how much was used).
 */
static void
sbc_rw_free_ctx(struct keel_scsi_task *task)
{
	if (task->internal.step == SBC_STEP_BOUNCE) {
		free(task->internal.io_ctx);
	} else {
		sbc_slice_free(task, task->internal.io_ctx, NULL);
	}
	task->internal.io_ctx = NULL;
	task->internal.step = SBC_STEP_IOV;
}

static bool
sbc_is_read(const struct keel_scsi_task *task)
{
	switch (task->cdb[0]) {
	case KEEL_SCSI_READ_6:
	case KEEL_SCSI_READ_10:
	case KEEL_SCSI_READ_12:
	case KEEL_SCSI_READ_16:
		return true;
	default:
		return false;
	}
}

static void
sbc_rw_done(struct keel_bdev_io *io, bool success, void *arg)
{
	struct keel_scsi_task *task = arg;
	enum keel_bdev_io_status st = keel_bdev_io_get_status(io);
	bool read = sbc_is_read(task);
	uint32_t xfer = KEEL_MIN(task->transfer_len, task->expected_len);
	uint32_t bs = sbc_block_size(task);

	if (task->internal.step == SBC_STEP_ZCOPY && success) {
		/* The data stays where it is until the transport has sent it. */
		keel_bdev_io_get_iovec(io, &task->iovs, &task->iovcnt);
		task->internal.data_io = io;
		task->internal.data_desc = task->internal.desc;
		task->internal.desc->data_refs++;
		task->data_transferred = xfer;
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
		task->internal.step = SBC_STEP_IOV;
		sbc_done(task);
		return;
	}
	keel_bdev_free_io(io);
	if (success) {
		if (task->internal.step == SBC_STEP_BOUNCE) {
			scsi_task_scatter(task, task->internal.io_ctx, xfer);
		} else {
			/* A short Data-Out wrote only its whole blocks (sbc_rw_submit). */
			task->data_transferred = read ? xfer : xfer / bs * bs;
		}
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
	} else {
		sbc_set_io_error(task, st, !read);
	}
	sbc_rw_free_ctx(task);
	sbc_done(task);
}

static void
sbc_rw_submit(struct keel_scsi_task *task)
{
	struct keel_scsi_lun_desc *desc = task->internal.desc;
	struct keel_scsi_lun *lun = sbc_lun(task);
	struct iovec *small = (struct iovec *)task->internal.small_buf;
	uint32_t bs = sbc_block_size(task);
	uint32_t xfer = KEEL_MIN(task->transfer_len, task->expected_len);
	struct iovec *iov;
	struct sbc_cdb c;
	int cnt = 0, rc;

	sbc_decode(task->cdb, &c);
	if (task->data_by_ref && sbc_is_read(task) && xfer % bs == 0 &&
	    task->attr != KEEL_SCSI_TASK_ATTR_ORDERED) {
		/* By reference, when the bdev keeps its blocks in memory. Not for an ORDERED
		 * READ: the tasks after it would not wait for its data to be sent. */
		task->internal.step = SBC_STEP_ZCOPY;
		task->internal.io_ctx = NULL;
		rc = keel_bdev_read_blocks_zcopy(lun->bdev_desc, desc->bdev_ch, c.lba, xfer / bs,
						 sbc_rw_done, task);
		if (rc != -ENOTSUP) {
			goto submitted;
		}
	}
	if (sbc_is_read(task) && xfer % bs != 0) {
		uint32_t nb = xfer / bs + 1;

		task->internal.step = SBC_STEP_BOUNCE;
		task->internal.io_ctx = malloc((size_t)nb * bs);
		if (task->internal.io_ctx == NULL) {
			rc = -ENOMEM;
			goto retry;
		}
		rc = keel_bdev_read_blocks(lun->bdev_desc, desc->bdev_ch, task->internal.io_ctx,
					   c.lba, nb, sbc_rw_done, task);
		goto submitted;
	}
	iov = sbc_slice(task, 0, sbc_is_read(task) ? xfer : xfer / bs * bs, small, SBC_SMALL_IOVS,
			&cnt);
	if (iov == NULL) {
		rc = -ENOMEM;
		goto retry;
	}
	task->internal.step = SBC_STEP_IOV;
	task->internal.io_ctx = iov == task->iovs || iov == small ? NULL : iov;
	if (sbc_is_read(task)) {
		rc = keel_bdev_readv_blocks_ext(lun->bdev_desc, desc->bdev_ch, iov, cnt, c.lba,
						xfer / bs, 0, sbc_rw_done, task);
	} else {
		/* A Data-Out shorter than the command writes the whole blocks that came (the
		 * transport reports the overflow), as initiators' residual tests expect. */
		rc = keel_bdev_writev_blocks_ext(lun->bdev_desc, desc->bdev_ch, iov, cnt, c.lba,
						 KEEL_MIN(c.nblocks, xfer / bs),
						 sbc_write_flags(task, c.flags & 0x08),
						 sbc_rw_done, task);
	}
submitted:
	if (rc == 0) {
		return;
	}
retry:
	sbc_rw_free_ctx(task);
	if (rc == -ENOMEM && scsi_task_wait_for_io(task, sbc_rw_submit) == 0) {
		return;
	}
	sbc_set_submit_error(task, rc);
	sbc_done(task);
}

/* Checks shared by the data commands: protection field, transfer limit, LBA range. */
static bool
sbc_check_data_cmd(struct keel_scsi_task *task, const struct sbc_cdb *c)
{
	if (c->flags & 0xe0) {
		/* RDPROTECT/WRPROTECT/VRPROTECT: keel has no protection information. */
		scsi_task_invalid_field(task, 1, 7);
		return false;
	}
	if (c->nblocks > scsi_lun_max_transfer_blocks(sbc_lun(task))) {
		scsi_task_invalid_field(task, c->len_byte, -1);
		return false;
	}
	return sbc_range_ok(task, c->lba, c->nblocks);
}

static void
sbc_read_write(struct keel_scsi_task *task)
{
	struct sbc_cdb c;
	bool read = sbc_is_read(task);
	uint64_t bytes;

	sbc_decode(task->cdb, &c);
	if (!sbc_check_data_cmd(task, &c)) {
		goto done;
	}
	bytes = (uint64_t)c.nblocks * sbc_block_size(task);
	task->expected_len = (uint32_t)bytes;
	if (!read && sbc_write_protected(task)) {
		goto done;
	}
	if (c.nblocks == 0 || (read && task->transfer_len == 0)) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
		goto done;
	}
	if (!read) {
		if (task->transfer_len < sbc_block_size(task)) {
			/* Not one whole block came: nothing to write. The transport reports the
			 * rest as an overflow residual (RFC 7143 11.4.5.1). */
			keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
			goto done;
		}
		sbc_mark_written(sbc_lun(task));
	}
	sbc_rw_submit(task);
	return;
done:
	sbc_done(task);
}

/*
 * VERIFY and WRITE AND VERIFY. VERIFY reads the blocks (BYTCHK 0: readable is enough), or
 * compares them with the Data-Out (BYTCHK 1), or compares each with the one block sent
 * (BYTCHK 3). WRITE AND VERIFY writes with FUA, then with BYTCHK reads back and compares.
 */
struct sbc_verify {
	uint64_t lba;
	uint32_t nblocks;
	uint8_t bytchk;
	bool write; /* WRITE AND VERIFY: the write is still to do */
	uint32_t data_bytes; /* of the Data-Out that the command used */
	uint8_t *buf;
	struct iovec *iov;
	int iovcnt;
};

static void sbc_verify_next(struct keel_scsi_task *task);

static void
sbc_verify_end(struct keel_scsi_task *task)
{
	struct sbc_verify *v = task->internal.priv;

	sbc_slice_free(task, v->iov, NULL);
	free(v->buf);
	free(v);
	task->internal.priv = NULL;
	sbc_done(task);
}

static void
sbc_verify_compare(struct keel_scsi_task *task)
{
	struct sbc_verify *v = task->internal.priv;
	uint32_t bs = sbc_block_size(task);
	uint8_t *block;
	int64_t off;
	uint32_t i, j;

	task->data_transferred = v->data_bytes;
	if (v->bytchk == 1) {
		off = sbc_iov_compare(task, 0, v->buf, v->nblocks * bs);
		if (off >= 0) {
			sbc_miscompare(task, (uint64_t)off);
			return;
		}
	} else if (v->bytchk == 3) {
		block = malloc(bs);
		if (block == NULL) {
			sbc_set_submit_error(task, -ENOMEM);
			return;
		}
		scsi_task_gather(task, block, bs);
		for (i = 0; i < v->nblocks; i++) {
			if (memcmp(v->buf + (size_t)i * bs, block, bs) == 0) {
				continue;
			}
			for (j = 0; j < bs && v->buf[(size_t)i * bs + j] == block[j]; j++) {
			}
			free(block);
			sbc_miscompare(task, (uint64_t)i * bs + j);
			return;
		}
		free(block);
	}
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
}

static void
sbc_verify_io_done(struct keel_bdev_io *io, bool success, void *arg)
{
	struct keel_scsi_task *task = arg;
	struct sbc_verify *v = task->internal.priv;
	enum keel_bdev_io_status st = keel_bdev_io_get_status(io);
	bool was_write = v->write;

	keel_bdev_free_io(io);
	if (!success) {
		sbc_set_io_error(task, st, was_write);
		sbc_verify_end(task);
		return;
	}
	if (was_write) {
		v->write = false;
		task->data_transferred = v->nblocks * sbc_block_size(task);
		if (v->bytchk != 0 && !(task->internal.flags & SCSI_TASK_F_ABORTED)) {
			sbc_verify_next(task);
			return;
		}
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
		sbc_verify_end(task);
		return;
	}
	sbc_verify_compare(task);
	sbc_verify_end(task);
}

static void
sbc_verify_next(struct keel_scsi_task *task)
{
	struct sbc_verify *v = task->internal.priv;
	struct keel_scsi_lun *lun = sbc_lun(task);
	struct keel_io_channel *ch = task->internal.desc->bdev_ch;
	int rc;

	if (v->write) {
		rc = keel_bdev_writev_blocks_ext(lun->bdev_desc, ch, v->iov, v->iovcnt, v->lba,
						 v->nblocks, KEEL_BDEV_IO_FLAG_FUA,
						 sbc_verify_io_done, task);
	} else {
		rc = keel_bdev_read_blocks(lun->bdev_desc, ch, v->buf, v->lba, v->nblocks,
					   sbc_verify_io_done, task);
	}
	if (rc == 0) {
		return;
	}
	if (rc == -ENOMEM && scsi_task_wait_for_io(task, sbc_verify_next) == 0) {
		return;
	}
	sbc_set_submit_error(task, rc);
	sbc_verify_end(task);
}

static void
sbc_verify(struct keel_scsi_task *task, bool write)
{
	uint32_t bs = sbc_block_size(task);
	struct sbc_verify *v;
	uint64_t need;
	struct sbc_cdb c;
	uint32_t nblocks;
	uint8_t bytchk;

	sbc_decode(task->cdb, &c);
	/* VERIFY: BYTCHK is bits 2-1; WRITE AND VERIFY (SBC-3): bit 1. */
	bytchk = write ? (c.flags >> 1) & 0x1 : (c.flags >> 1) & 0x3;
	if (!sbc_check_data_cmd(task, &c)) {
		goto done;
	}
	if (!write && bytchk == 2) {
		scsi_task_invalid_field(task, 1, 2);
		goto done;
	}
	need = write || bytchk == 1 ? (uint64_t)c.nblocks * bs : (bytchk == 3 ? bs : 0);
	if (c.nblocks == 0) {
		need = 0;
	}
	task->expected_len = (uint32_t)need;
	if (write && sbc_write_protected(task)) {
		goto done;
	}
	if (c.nblocks == 0) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
		goto done;
	}
	nblocks = c.nblocks;
	if (task->transfer_len < need) {
		if (!write) {
			sbc_short_data_out(task);
			goto done;
		}
		/* As a WRITE does: the whole blocks that came are written (and verified), the
		 * transport reports the rest as an overflow residual (RFC 7143 11.4.5.1). */
		nblocks = task->transfer_len / bs;
		if (nblocks == 0) {
			keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
			goto done;
		}
		need = (uint64_t)nblocks * bs;
	}
	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		sbc_set_submit_error(task, -ENOMEM);
		goto done;
	}
	task->internal.priv = v;
	v->lba = c.lba;
	v->nblocks = nblocks;
	v->bytchk = bytchk;
	v->write = write;
	v->data_bytes = (uint32_t)need;
	if (!write || bytchk != 0) {
		v->buf = malloc((size_t)nblocks * bs);
		if (v->buf == NULL) {
			sbc_set_submit_error(task, -ENOMEM);
			sbc_verify_end(task);
			return;
		}
	}
	if (write) {
		v->iov = sbc_slice(task, 0, (uint32_t)need, NULL, 0, &v->iovcnt);
		if (v->iov == NULL) {
			sbc_set_submit_error(task, -ENOMEM);
			sbc_verify_end(task);
			return;
		}
		sbc_mark_written(sbc_lun(task));
	}
	sbc_verify_next(task);
	return;
done:
	sbc_done(task);
}

/*
 * Long operations over block ranges: WRITE SAME, UNMAP, SANITIZE. The ranges are cut into
 * chunks; at most SBC_QUEUE_DEPTH of them are at the bdev at a time.
 */
enum sbc_range_op {
	SBC_RANGE_UNMAP,
	SBC_RANGE_ZEROES,
	SBC_RANGE_PATTERN, /* writes of a buffer holding one block repeated */
};

struct sbc_seg {
	uint64_t lba;
	uint64_t nblocks;
};

struct sbc_range;

struct sbc_chunk {
	struct sbc_range *r;
	struct iovec iov;
	uint64_t lba;
	uint64_t nblocks;
	bool busy;
};

struct sbc_range {
	struct keel_scsi_lun *lun;
	struct keel_io_channel *ch;
	struct keel_scsi_task *task; /* stops early once the task is aborted; NULL: never */
	enum sbc_range_op op;
	struct sbc_seg *segs;
	uint32_t nsegs;
	uint32_t seg;
	uint64_t next;
	uint64_t chunk_blocks;
	uint32_t write_flags;
	uint8_t *pattern; /* chunk_blocks blocks (SBC_RANGE_PATTERN) */
	struct sbc_chunk chunks[SBC_QUEUE_DEPTH];
	uint32_t inflight;
	enum keel_bdev_io_status status;
	bool waiting;
	struct keel_bdev_io_wait_entry wait;
	uint64_t done_blocks;
	uint64_t total_blocks;
	void (*done)(struct sbc_range *r);
	void *ctx;
	struct sbc_seg one;
	/* SANITIZE: chunks that a bdev reset aborted are written again (a reset does not stop a
	 * sanitize operation), and an aborted task (ctx) ends while the operation goes on. */
	bool survive_resets;
	struct sbc_seg redo[SBC_QUEUE_DEPTH];
	uint32_t nredo;
	uint32_t retries;
	struct keel_poller *retry_poller;
};

static void sbc_range_pump(struct sbc_range *r);

static void
sbc_range_free(struct sbc_range *r)
{
	if (r->segs != &r->one) {
		free(r->segs);
	}
	free(r->pattern);
	free(r);
}

static bool
sbc_range_stopped(const struct sbc_range *r)
{
	return r->status != KEEL_BDEV_IO_STATUS_SUCCESS ||
	       (r->task != NULL && (r->task->internal.flags & SCSI_TASK_F_ABORTED));
}

static int
sbc_range_retry_poll(void *arg)
{
	struct sbc_range *r = arg;

	keel_poller_unregister(&r->retry_poller);
	sbc_range_pump(r);
	return KEEL_POLLER_BUSY;
}

/* A chunk of a range that survives resets came back aborted: true if it is to be written
 * again (after SBC_RETRY_US, so that the reset can finish). */
static bool
sbc_range_redo(struct sbc_range *r, const struct sbc_chunk *chunk, enum keel_bdev_io_status st)
{
	if (!r->survive_resets || st != KEEL_BDEV_IO_STATUS_ABORTED ||
	    keel_scsi_lun_is_removing(r->lun) || r->retries >= SBC_RETRY_MAX ||
	    r->nredo >= SBC_QUEUE_DEPTH) {
		return false;
	}
	if (r->retry_poller == NULL) {
		r->retry_poller = keel_poller_register(sbc_range_retry_poll, r, SBC_RETRY_US);
		if (r->retry_poller == NULL) {
			return false;
		}
	}
	r->retries++;
	r->redo[r->nredo].lba = chunk->lba;
	r->redo[r->nredo].nblocks = chunk->nblocks;
	r->nredo++;
	return true;
}

static void
sbc_range_chunk_done(struct keel_bdev_io *io, bool success, void *arg)
{
	struct sbc_chunk *chunk = arg;
	struct sbc_range *r = chunk->r;

	if (!success && sbc_range_redo(r, chunk, keel_bdev_io_get_status(io))) {
		success = true;
	} else if (!success && r->status == KEEL_BDEV_IO_STATUS_SUCCESS) {
		r->status = keel_bdev_io_get_status(io);
		if (r->status == KEEL_BDEV_IO_STATUS_SUCCESS) {
			r->status = KEEL_BDEV_IO_STATUS_FAILED;
		}
	} else if (success) {
		r->done_blocks += chunk->nblocks;
		r->retries = 0;
	}
	chunk->busy = false;
	keel_bdev_free_io(io);
	r->inflight--;
	sbc_range_pump(r);
}

static void
sbc_range_wait_cb(void *arg)
{
	struct sbc_range *r = arg;

	r->waiting = false;
	sbc_range_pump(r);
}

static int
sbc_range_submit(struct sbc_range *r, struct sbc_chunk *chunk, uint64_t lba, uint64_t n)
{
	struct keel_bdev_desc *bd = r->lun->bdev_desc;

	chunk->lba = lba;
	chunk->nblocks = n;
	switch (r->op) {
	case SBC_RANGE_UNMAP:
		return keel_bdev_unmap_blocks(bd, r->ch, lba, n, sbc_range_chunk_done, chunk);
	case SBC_RANGE_ZEROES:
		return keel_bdev_write_zeroes_blocks(bd, r->ch, lba, n, sbc_range_chunk_done,
						     chunk);
	case SBC_RANGE_PATTERN:
	default:
		chunk->iov.iov_base = r->pattern;
		chunk->iov.iov_len = n * keel_bdev_get_block_size(r->lun->bdev);
		return keel_bdev_writev_blocks_ext(bd, r->ch, &chunk->iov, 1, lba, n,
						   r->write_flags, sbc_range_chunk_done, chunk);
	}
}

static struct sbc_chunk *
sbc_range_free_chunk(struct sbc_range *r)
{
	int i;

	for (i = 0; i < SBC_QUEUE_DEPTH; i++) {
		if (!r->chunks[i].busy) {
			return &r->chunks[i];
		}
	}
	return NULL;
}

/* SANITIZE: its task, once aborted (ABORT TASK, a reset), ends now; the operation goes on. */
static void
sbc_range_detach_aborted(struct sbc_range *r)
{
	struct keel_scsi_task *task = r->ctx;

	if (r->survive_resets && task != NULL && (task->internal.flags & SCSI_TASK_F_ABORTED)) {
		r->ctx = NULL;
		sbc_done(task);
	}
}

static void
sbc_range_pump(struct sbc_range *r)
{
	struct sbc_chunk *chunk;
	struct sbc_seg *seg;
	uint64_t lba, n;
	bool redo;
	int rc;

	sbc_range_detach_aborted(r);
	while (!r->waiting && r->retry_poller == NULL && !sbc_range_stopped(r) &&
	       (r->nredo > 0 || r->seg < r->nsegs) && (chunk = sbc_range_free_chunk(r)) != NULL) {
		redo = r->nredo > 0;
		if (redo) {
			lba = r->redo[r->nredo - 1].lba;
			n = r->redo[r->nredo - 1].nblocks;
		} else {
			seg = &r->segs[r->seg];
			lba = r->next;
			n = KEEL_MIN(r->chunk_blocks, seg->lba + seg->nblocks - r->next);
		}
		rc = sbc_range_submit(r, chunk, lba, n);
		if (rc == -ENOMEM) {
			r->wait.bdev = r->lun->bdev;
			r->wait.cb_fn = sbc_range_wait_cb;
			r->wait.cb_arg = r;
			if (keel_bdev_queue_io_wait(r->lun->bdev, r->ch, &r->wait) == 0) {
				r->waiting = true;
				break;
			}
		}
		if (rc != 0) {
			r->status = rc == -ENODEV ? KEEL_BDEV_IO_STATUS_ABORTED
						  : KEEL_BDEV_IO_STATUS_FAILED;
			break;
		}
		chunk->busy = true;
		r->inflight++;
		if (redo) {
			r->nredo--;
			continue;
		}
		r->next += n;
		if (r->next == seg->lba + seg->nblocks && ++r->seg < r->nsegs) {
			r->next = r->segs[r->seg].lba;
		}
	}
	if (r->total_blocks != 0) {
		__atomic_store_n(&r->lun->sanitize_progress,
				 (uint16_t)(r->done_blocks * 65535 / r->total_blocks),
				 __ATOMIC_RELAXED);
	}
	if (r->inflight == 0 && !r->waiting && r->retry_poller == NULL &&
	    (sbc_range_stopped(r) || (r->nredo == 0 && r->seg >= r->nsegs))) {
		r->done(r);
	}
}

static struct sbc_range *
sbc_range_create(struct keel_scsi_lun *lun, struct keel_io_channel *ch, enum sbc_range_op op,
		 const uint8_t *block)
{
	uint32_t bs = keel_bdev_get_block_size(lun->bdev);
	struct sbc_range *r;
	uint32_t limit, i;
	int j;

	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return NULL;
	}
	r->lun = lun;
	r->ch = ch;
	r->op = op;
	r->status = KEEL_BDEV_IO_STATUS_SUCCESS;
	r->segs = &r->one;
	for (j = 0; j < SBC_QUEUE_DEPTH; j++) {
		r->chunks[j].r = r;
	}
	switch (op) {
	case SBC_RANGE_UNMAP:
		limit = keel_bdev_get_max_unmap_blocks(lun->bdev);
		r->chunk_blocks = limit != 0 ? limit : SBC_UNMAP_CHUNK_BLOCKS;
		break;
	case SBC_RANGE_ZEROES:
		limit = keel_bdev_get_max_write_zeroes_blocks(lun->bdev);
		r->chunk_blocks = limit != 0 ? limit : SBC_ZEROES_CHUNK_BYTES / bs;
		break;
	case SBC_RANGE_PATTERN:
		r->chunk_blocks = KEEL_MAX(SBC_PATTERN_CHUNK_BYTES / bs, 1u);
		r->pattern = malloc((size_t)r->chunk_blocks * bs);
		if (r->pattern == NULL) {
			free(r);
			return NULL;
		}
		for (i = 0; i < r->chunk_blocks; i++) {
			memcpy(r->pattern + (size_t)i * bs, block, bs);
		}
		break;
	}
	return r;
}

/* Start: segments with no blocks are dropped; done(r) runs later, once. */
static void
sbc_range_start(struct sbc_range *r)
{
	uint32_t i, n = 0;

	for (i = 0; i < r->nsegs; i++) {
		if (r->segs[i].nblocks != 0) {
			r->segs[n++] = r->segs[i];
		}
	}
	r->nsegs = n;
	r->next = n > 0 ? r->segs[0].lba : 0;
	sbc_range_pump(r);
}

/* A range bound to a task: its result becomes the task's status. */
static void
sbc_range_task_done(struct sbc_range *r)
{
	struct keel_scsi_task *task = r->task;

	if (r->status == KEEL_BDEV_IO_STATUS_SUCCESS) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
	} else {
		sbc_set_io_error(task, r->status, true);
	}
	sbc_range_free(r);
	sbc_done(task);
}

static bool
sbc_all_zero(const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (buf[i] != 0) {
			return false;
		}
	}
	return true;
}

/*
 * WRITE SAME (10, 16), SBC-3 5.42/5.43: the one block sent is written to every block of the
 * range; all zeroes become write-zeroes, or an unmap with the UNMAP bit when the bdev unmaps;
 * NDOB (16 only) means zeroes without Data-Out. ANCHOR is refused (ANC_SUP is 0), and so is a
 * length of 0 (WSNZ is 1).
 */
static void
sbc_write_same(struct keel_scsi_task *task)
{
	struct keel_scsi_lun *lun = sbc_lun(task);
	uint32_t bs = sbc_block_size(task);
	bool ws16 = task->cdb[0] == KEEL_SCSI_WRITE_SAME_16;
	bool ndob, zero, unmap;
	struct sbc_range *r;
	uint8_t *block = NULL;
	struct sbc_cdb c;

	sbc_decode(task->cdb, &c);
	ndob = ws16 && (c.flags & 0x01);
	if (c.flags & 0xe0) {
		scsi_task_invalid_field(task, 1, 7);
		goto done;
	}
	if (c.flags & 0x10) {
		scsi_task_invalid_field(task, 1, 4);
		goto done;
	}
	if (c.flags & 0x06) {
		/* LBDATA, PBDATA (obsolete). */
		scsi_task_invalid_field(task, 1, 2);
		goto done;
	}
	if (c.nblocks > SCSI_MAX_WRITE_SAME_BYTES / bs) {
		scsi_task_invalid_field(task, c.len_byte, -1);
		goto done;
	}
	if (!sbc_range_ok(task, c.lba, c.nblocks)) {
		goto done;
	}
	if (c.nblocks == 0) {
		scsi_task_invalid_field(task, c.len_byte, -1);
		goto done;
	}
	task->expected_len = ndob ? 0 : bs;
	if (sbc_write_protected(task)) {
		goto done;
	}
	if (!ndob) {
		if (task->transfer_len < bs) {
			sbc_short_data_out(task);
			goto done;
		}
		block = malloc(bs);
		if (block == NULL) {
			sbc_set_submit_error(task, -ENOMEM);
			goto done;
		}
		task->data_transferred = scsi_task_gather(task, block, bs);
	}
	zero = ndob || sbc_all_zero(block, bs);
	unmap = (c.flags & 0x08) && zero &&
		keel_bdev_io_type_supported(lun->bdev, KEEL_BDEV_IO_TYPE_UNMAP);
	r = sbc_range_create(lun, task->internal.desc->bdev_ch,
			     unmap ? SBC_RANGE_UNMAP
				   : (zero ? SBC_RANGE_ZEROES : SBC_RANGE_PATTERN),
			     block);
	free(block);
	if (r == NULL) {
		sbc_set_submit_error(task, -ENOMEM);
		goto done;
	}
	sbc_mark_written(lun);
	r->task = task;
	r->write_flags = sbc_write_flags(task, false);
	r->one.lba = c.lba;
	r->one.nblocks = c.nblocks;
	r->nsegs = 1;
	r->done = sbc_range_task_done;
	sbc_range_start(r);
	return;
done:
	sbc_done(task);
}

/*
 * UNMAP (SBC-3 5.28): an 8-byte header, then 16-byte block descriptors (LBA, count). Every
 * descriptor is checked before any block is unmapped.
 */
static void
sbc_unmap(struct keel_scsi_task *task)
{
	struct keel_scsi_lun *lun = sbc_lun(task);
	uint32_t param_len = keel_from_be16(&task->cdb[7]);
	uint32_t len, bd_len, n, i;
	uint64_t total = 0;
	struct sbc_range *r = NULL;
	uint8_t *list = NULL;

	if (!keel_bdev_io_type_supported(lun->bdev, KEEL_BDEV_IO_TYPE_UNMAP)) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
					  KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
					  KEEL_SCSI_ASC_INVALID_COMMAND_OPERATION_CODE);
		goto done;
	}
	if (task->cdb[1] & 0x01) {
		scsi_task_invalid_field(task, 1, 0); /* ANCHOR: ANC_SUP is 0 */
		goto done;
	}
	task->expected_len = param_len;
	if (sbc_write_protected(task)) {
		goto done;
	}
	if (param_len == 0) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
		goto done;
	}
	len = KEEL_MIN(param_len, task->transfer_len);
	if (len < 8) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
					  KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
					  KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		goto done;
	}
	list = malloc(len);
	if (list == NULL) {
		sbc_set_submit_error(task, -ENOMEM);
		goto done;
	}
	task->data_transferred = scsi_task_gather(task, list, len);
	bd_len = keel_from_be16(&list[2]);
	n = KEEL_MIN(bd_len, len - 8) / 16;
	if (n > SCSI_MAX_UNMAP_DESCRIPTORS) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
					  KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
					  KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
		goto done;
	}
	r = sbc_range_create(lun, task->internal.desc->bdev_ch, SBC_RANGE_UNMAP, NULL);
	if (r == NULL || (n > 0 && (r->segs = calloc(n, sizeof(*r->segs))) == NULL)) {
		if (r != NULL) {
			r->segs = &r->one;
		}
		sbc_set_submit_error(task, -ENOMEM);
		goto done;
	}
	for (i = 0; i < n; i++) {
		const uint8_t *d = &list[8 + 16 * i];

		r->segs[i].lba = keel_from_be64(d);
		r->segs[i].nblocks = keel_from_be32(d + 8);
		total += r->segs[i].nblocks;
		if (!sbc_range_ok(task, r->segs[i].lba, r->segs[i].nblocks)) {
			goto done;
		}
		if (total > SCSI_MAX_UNMAP_LBA_COUNT) {
			keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
						  KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
						  KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
			goto done;
		}
	}
	free(list);
	r->nsegs = n;
	r->task = task;
	r->done = sbc_range_task_done;
	sbc_range_start(r);
	return;
done:
	if (r != NULL) {
		sbc_range_free(r);
	}
	free(list);
	sbc_done(task);
}

/*
 * COMPARE AND WRITE (SBC-3 5.2): the Data-Out holds the compare data, then the write data;
 * the bdev layer makes the pair atomic against other I/O to the blocks.
 */
struct sbc_caw {
	struct iovec *cmp;
	struct iovec *wr;
	int cmp_cnt;
	int wr_cnt;
	uint64_t lba;
	uint32_t nblocks;
	bool flush; /* FUA, or the write cache is off */
	bool flushing;
};

static void sbc_caw_submit(struct keel_scsi_task *task);

static void
sbc_caw_end(struct keel_scsi_task *task)
{
	struct sbc_caw *w = task->internal.priv;

	sbc_slice_free(task, w->cmp, NULL);
	sbc_slice_free(task, w->wr, NULL);
	free(w);
	task->internal.priv = NULL;
	sbc_done(task);
}

static void
sbc_caw_done(struct keel_bdev_io *io, bool success, void *arg)
{
	struct keel_scsi_task *task = arg;
	struct sbc_caw *w = task->internal.priv;
	enum keel_bdev_io_status st = keel_bdev_io_get_status(io);
	uint64_t off = keel_bdev_io_get_miscompare_offset(io);

	keel_bdev_free_io(io);
	if (st == KEEL_BDEV_IO_STATUS_MISCOMPARE) {
		sbc_miscompare(task, off);
		sbc_caw_end(task);
		return;
	}
	if (!success) {
		sbc_set_io_error(task, st, true);
		sbc_caw_end(task);
		return;
	}
	task->data_transferred = task->expected_len;
	if (w->flush && !w->flushing &&
	    keel_bdev_io_type_supported(sbc_lun(task)->bdev, KEEL_BDEV_IO_TYPE_FLUSH)) {
		w->flushing = true;
		sbc_caw_submit(task);
		return;
	}
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
	sbc_caw_end(task);
}

static void
sbc_caw_submit(struct keel_scsi_task *task)
{
	struct sbc_caw *w = task->internal.priv;
	struct keel_scsi_lun *lun = sbc_lun(task);
	struct keel_io_channel *ch = task->internal.desc->bdev_ch;
	int rc;

	if (w->flushing) {
		rc = keel_bdev_flush_blocks(lun->bdev_desc, ch, w->lba, w->nblocks, sbc_caw_done,
					    task);
	} else {
		rc = keel_bdev_comparev_and_writev_blocks(lun->bdev_desc, ch, w->cmp, w->cmp_cnt,
							  w->wr, w->wr_cnt, w->lba, w->nblocks,
							  sbc_caw_done, task);
	}
	if (rc == 0) {
		return;
	}
	if (rc == -ENOMEM && scsi_task_wait_for_io(task, sbc_caw_submit) == 0) {
		return;
	}
	sbc_set_submit_error(task, rc);
	sbc_caw_end(task);
}

static void
sbc_compare_and_write(struct keel_scsi_task *task)
{
	struct keel_scsi_lun *lun = sbc_lun(task);
	uint32_t bs = sbc_block_size(task);
	struct sbc_caw *w;
	struct sbc_cdb c;
	uint32_t half;

	sbc_decode(task->cdb, &c);
	if (c.flags & 0xe0) {
		scsi_task_invalid_field(task, 1, 7);
		goto done;
	}
	if (c.nblocks > scsi_lun_max_caw_blocks(lun)) {
		scsi_task_invalid_field(task, 13, -1);
		goto done;
	}
	half = c.nblocks * bs;
	if (task->transfer_len > 2 * half) {
		/* More Data-Out than NUMBER OF LOGICAL BLOCKS covers (e.g. a count of 256 that
		 * wrapped to 0 in its one-byte field): the compare is atomic, so no part of it runs
		 * on a guess of what the initiator meant. */
		scsi_task_invalid_field(task, 13, -1);
		goto done;
	}
	if (!sbc_range_ok(task, c.lba, c.nblocks)) {
		goto done;
	}
	task->expected_len = 2 * half;
	if (sbc_write_protected(task)) {
		goto done;
	}
	if (c.nblocks == 0) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
		goto done;
	}
	if (task->transfer_len < 2 * half) {
		sbc_short_data_out(task);
		goto done;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		sbc_set_submit_error(task, -ENOMEM);
		goto done;
	}
	task->internal.priv = w;
	w->lba = c.lba;
	w->nblocks = c.nblocks;
	w->flush = sbc_write_flags(task, c.flags & 0x08) != 0;
	w->cmp = sbc_slice(task, 0, half, NULL, 0, &w->cmp_cnt);
	w->wr = sbc_slice(task, half, half, NULL, 0, &w->wr_cnt);
	if (w->cmp == NULL || w->wr == NULL) {
		sbc_set_submit_error(task, -ENOMEM);
		sbc_caw_end(task);
		return;
	}
	sbc_mark_written(lun);
	sbc_caw_submit(task);
	return;
done:
	sbc_done(task);
}

/*
 * SYNCHRONIZE CACHE (10, 16): flush the range (0 blocks: to the end). PRE-FETCH (10, 16):
 * keel keeps no cache of its own to stage blocks in, so there is never room for them, which
 * SBC-3 5.9 answers with GOOD (not CONDITION MET) once the range is checked.
 */
static void
sbc_io_done_good(struct keel_bdev_io *io, bool success, void *arg)
{
	struct keel_scsi_task *task = arg;
	enum keel_bdev_io_status st = keel_bdev_io_get_status(io);

	keel_bdev_free_io(io);
	if (success) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
	} else {
		sbc_set_io_error(task, st, true);
	}
	sbc_done(task);
}

static void
sbc_sync_submit(struct keel_scsi_task *task)
{
	struct keel_scsi_lun *lun = sbc_lun(task);
	uint64_t cap = keel_bdev_get_num_blocks(lun->bdev);
	struct sbc_cdb c;
	int rc;

	sbc_decode(task->cdb, &c);
	rc = keel_bdev_flush_blocks(lun->bdev_desc, task->internal.desc->bdev_ch, c.lba,
				    c.nblocks != 0 ? c.nblocks : cap - c.lba, sbc_io_done_good,
				    task);
	if (rc == 0) {
		return;
	}
	if (rc == -ENOMEM && scsi_task_wait_for_io(task, sbc_sync_submit) == 0) {
		return;
	}
	sbc_set_submit_error(task, rc);
	sbc_done(task);
}

static void
sbc_sync_or_prefetch(struct keel_scsi_task *task, bool sync)
{
	struct keel_scsi_lun *lun = sbc_lun(task);
	uint64_t cap = keel_bdev_get_num_blocks(lun->bdev);
	struct sbc_cdb c;

	sbc_decode(task->cdb, &c);
	if (!sbc_range_ok(task, c.lba, c.nblocks)) {
		goto done;
	}
	if (!sync || c.lba == cap ||
	    !keel_bdev_io_type_supported(lun->bdev, KEEL_BDEV_IO_TYPE_FLUSH)) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
		goto done;
	}
	sbc_sync_submit(task);
	return;
done:
	sbc_done(task);
}

/*
 * READ CAPACITY (10, 16) and GET LBA STATUS.
 */
static bool
sbc_lbpme(const struct keel_scsi_lun *lun)
{
	return keel_bdev_io_type_supported(lun->bdev, KEEL_BDEV_IO_TYPE_UNMAP);
}

static void
sbc_read_capacity_10(struct keel_scsi_task *task)
{
	struct keel_scsi_lun *lun = sbc_lun(task);
	uint64_t last = keel_bdev_get_num_blocks(lun->bdev) - 1;
	uint8_t data[8];

	/* SBC-3 5.15: with PMI 0 the LBA field must be 0 (PMI itself is obsolete). */
	if (!(task->cdb[8] & 0x01) && keel_from_be32(&task->cdb[2]) != 0) {
		scsi_task_invalid_field(task, 2, -1);
		goto done;
	}
	keel_to_be32(&data[0], last > 0xfffffffeull ? 0xffffffffu : (uint32_t)last);
	keel_to_be32(&data[4], keel_bdev_get_block_size(lun->bdev));
	task->expected_len = sizeof(data);
	scsi_task_scatter(task, data, sizeof(data));
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
done:
	sbc_done(task);
}

static void
sbc_read_capacity_16(struct keel_scsi_task *task)
{
	struct keel_scsi_lun *lun = sbc_lun(task);
	uint32_t alloc_len = keel_from_be32(&task->cdb[10]);
	uint8_t data[32] = {0};

	if (!(task->cdb[14] & 0x01) && keel_from_be64(&task->cdb[2]) != 0) {
		scsi_task_invalid_field(task, 2, -1);
		goto done;
	}
	keel_to_be64(&data[0], keel_bdev_get_num_blocks(lun->bdev) - 1);
	keel_to_be32(&data[8], keel_bdev_get_block_size(lun->bdev));
	/* byte 12: no protection; byte 13: one logical block per physical block; lowest aligned
	 * LBA 0. */
	if (sbc_lbpme(lun)) {
		data[14] |= 0x80;
		if (keel_bdev_unmap_reads_zeroes(lun->bdev)) {
			data[14] |= 0x40;
		}
	}
	task->expected_len = alloc_len;
	scsi_task_scatter(task, data, KEEL_MIN(alloc_len, (uint32_t)sizeof(data)));
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
done:
	sbc_done(task);
}

/*
 * GET LBA STATUS (SBC-3 5.6): one descriptor from the starting LBA to the end of the LUN (at
 * most 2^32 - 1 blocks; the initiator asks again from where it stops). keel keeps no map of
 * what the bdev has allocated, so every block is reported mapped, except after a SANITIZE
 * BLOCK ERASE unmapped all of them and nothing has been written since: then deallocated.
 */
static void
sbc_get_lba_status(struct keel_scsi_task *task)
{
	struct keel_scsi_lun *lun = sbc_lun(task);
	uint64_t lba = keel_from_be64(&task->cdb[2]);
	uint32_t alloc_len = keel_from_be32(&task->cdb[10]);
	uint64_t cap = keel_bdev_get_num_blocks(lun->bdev);
	uint8_t data[24] = {0};

	if (lba >= cap) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
					  KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
					  KEEL_SCSI_ASC_LBA_OUT_OF_RANGE);
		goto done;
	}
	keel_to_be32(&data[0], 20);
	keel_to_be64(&data[8], lba);
	keel_to_be32(&data[16], (uint32_t)KEEL_MIN(cap - lba, 0xffffffffull));
	data[20] = __atomic_load_n(&lun->deallocated, __ATOMIC_RELAXED) ? 0x1 : 0x0;
	task->expected_len = alloc_len;
	scsi_task_scatter(task, data, KEEL_MIN(alloc_len, (uint32_t)sizeof(data)));
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
done:
	sbc_done(task);
}

static void
sbc_service_action_in(struct keel_scsi_task *task)
{
	switch (task->cdb[1] & 0x1f) {
	case KEEL_SCSI_SAI_READ_CAPACITY_16:
		sbc_read_capacity_16(task);
		break;
	case KEEL_SCSI_SAI_GET_LBA_STATUS:
		sbc_get_lba_status(task);
		break;
	default:
		scsi_task_invalid_field(task, 1, 4);
		sbc_done(task);
		break;
	}
}

/*
 * SANITIZE (SBC-3 5.30): OVERWRITE writes the initialization pattern over the whole LUN (one
 * pass; INVERT and the pass count are accepted), BLOCK ERASE unmaps it (writes zeroes when the
 * bdev cannot unmap). It runs to the end even if the task is aborted (the task then ends at
 * once), the initiator logs out or a reset aborts its I/O (written again); meanwhile other
 * commands get NOT READY, SANITIZE IN PROGRESS. With IMMED the task answers at
 * once. CRYPTO ERASE and EXIT FAILURE MODE are not offered.
 */
#define SBC_SANITIZE_OVERWRITE 0x01
#define SBC_SANITIZE_BLOCK_ERASE 0x02

static void
sbc_sanitize_done(struct sbc_range *r)
{
	struct keel_scsi_task *task = r->ctx;
	struct keel_scsi_lun *lun = r->lun;
	bool ok = r->status == KEEL_BDEV_IO_STATUS_SUCCESS;

	if (ok && r->op == SBC_RANGE_UNMAP) {
		__atomic_store_n(&lun->deallocated, true, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&lun->sanitize_progress, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&lun->sanitizing, false, __ATOMIC_RELEASE);
	if (!ok) {
		KEEL_ERRLOG("LUN %" PRIu64 ": SANITIZE failed\n", lun->id);
	}
	if (task != NULL) {
		if (ok) {
			keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
		} else {
			sbc_set_io_error(task, r->status, true);
		}
		sbc_done(task);
	}
	keel_put_io_channel(r->ch);
	sbc_range_free(r);
	scsi_lun_release(lun);
}

/* The OVERWRITE parameter list into one block of pattern; false (sense set) if it is bad. */
static bool
sbc_sanitize_pattern(struct keel_scsi_task *task, uint32_t param_len, uint8_t *block)
{
	uint32_t bs = sbc_block_size(task);
	uint8_t *list;
	uint32_t plen, i;

	if (param_len < 5 || param_len > bs + 4) {
		scsi_task_invalid_field(task, 7, -1);
		return false;
	}
	if (task->transfer_len < param_len) {
		sbc_short_data_out(task);
		return false;
	}
	list = malloc(param_len);
	if (list == NULL) {
		sbc_set_submit_error(task, -ENOMEM);
		return false;
	}
	task->data_transferred = scsi_task_gather(task, list, param_len);
	plen = keel_from_be16(&list[2]);
	/* OVERWRITE COUNT 0, or a pattern that is empty, longer than a block or than what was
	 * sent: libiscsi expects INVALID FIELD IN CDB here. */
	if ((list[0] & 0x1f) == 0 || plen == 0 || plen > bs || plen + 4 > param_len) {
		free(list);
		scsi_task_invalid_field(task, 7, -1);
		return false;
	}
	for (i = 0; i < bs; i++) {
		block[i] = list[4 + i % plen];
	}
	free(list);
	return true;
}

static void
sbc_sanitize(struct keel_scsi_task *task)
{
	struct keel_scsi_lun *lun = sbc_lun(task);
	uint32_t param_len = keel_from_be16(&task->cdb[7]);
	uint8_t sa = task->cdb[1] & 0x1f;
	bool immed = task->cdb[1] & 0x80;
	enum sbc_range_op op;
	struct keel_io_channel *ch;
	struct sbc_range *r;
	uint8_t *block = NULL;
	int i;

	if (task->cdb[1] & 0x40) {
		scsi_task_invalid_field(task, 1, 6);
		goto done;
	}
	for (i = 2; i <= 6; i++) {
		if (task->cdb[i] != 0) {
			scsi_task_invalid_field(task, i, -1);
			goto done;
		}
	}
	if (sa != SBC_SANITIZE_OVERWRITE && sa != SBC_SANITIZE_BLOCK_ERASE) {
		scsi_task_invalid_field(task, 1, 4);
		goto done;
	}
	task->expected_len = param_len;
	if (sbc_write_protected(task)) {
		goto done;
	}
	if (sa == SBC_SANITIZE_BLOCK_ERASE) {
		if (param_len != 0) {
			scsi_task_invalid_field(task, 7, -1);
			goto done;
		}
		op = sbc_lbpme(lun) ? SBC_RANGE_UNMAP : SBC_RANGE_ZEROES;
	} else {
		block = malloc(sbc_block_size(task));
		if (block == NULL) {
			sbc_set_submit_error(task, -ENOMEM);
			goto done;
		}
		if (!sbc_sanitize_pattern(task, param_len, block)) {
			goto done;
		}
		op = SBC_RANGE_PATTERN;
	}
	if (__atomic_exchange_n(&lun->sanitizing, true, __ATOMIC_ACQ_REL)) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
					  KEEL_SCSI_SENSE_NOT_READY,
					  KEEL_SCSI_ASC_LUN_NOT_READY_SANITIZE);
		goto done;
	}
	if (!scsi_lun_hold(lun)) {
		__atomic_store_n(&lun->sanitizing, false, __ATOMIC_RELEASE);
		sbc_set_submit_error(task, -ENODEV);
		goto done;
	}
	/* Its own channel reference: it outlives the connection if it must. */
	ch = keel_bdev_get_io_channel(lun->bdev_desc);
	r = ch != NULL ? sbc_range_create(lun, ch, op, block) : NULL;
	if (r == NULL) {
		if (ch != NULL) {
			keel_put_io_channel(ch);
		}
		__atomic_store_n(&lun->sanitizing, false, __ATOMIC_RELEASE);
		scsi_lun_release(lun);
		sbc_set_submit_error(task, -ENOMEM);
		goto done;
	}
	free(block);
	r->write_flags = KEEL_BDEV_IO_FLAG_FUA;
	r->one.lba = 0;
	r->one.nblocks = keel_bdev_get_num_blocks(lun->bdev);
	r->total_blocks = r->one.nblocks;
	r->nsegs = 1;
	r->done = sbc_sanitize_done;
	r->ctx = immed ? NULL : task;
	r->survive_resets = true;
	if (immed) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
		sbc_done(task);
	}
	sbc_range_start(r);
	return;
done:
	free(block);
	sbc_done(task);
}

/* FORMAT UNIT: nothing to format; FMTDATA (a parameter list) and protection are refused. */
static void
sbc_format_unit(struct keel_scsi_task *task)
{
	if (task->cdb[1] & 0xc0) {
		scsi_task_invalid_field(task, 1, 7);
	} else if (task->cdb[1] & 0x10) {
		scsi_task_invalid_field(task, 1, 4);
	} else if (!sbc_write_protected(task)) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
	}
	sbc_done(task);
}

bool
scsi_sbc_execute(struct keel_scsi_task *task)
{
	if (task->internal.lun == NULL || task->internal.desc == NULL) {
		return false;
	}
	switch (task->cdb[0]) {
	case KEEL_SCSI_READ_6:
	case KEEL_SCSI_READ_10:
	case KEEL_SCSI_READ_12:
	case KEEL_SCSI_READ_16:
	case KEEL_SCSI_WRITE_6:
	case KEEL_SCSI_WRITE_10:
	case KEEL_SCSI_WRITE_12:
	case KEEL_SCSI_WRITE_16:
		sbc_read_write(task);
		break;
	case KEEL_SCSI_VERIFY_10:
	case KEEL_SCSI_VERIFY_12:
	case KEEL_SCSI_VERIFY_16:
		sbc_verify(task, false);
		break;
	case KEEL_SCSI_WRITE_AND_VERIFY_10:
	case KEEL_SCSI_WRITE_AND_VERIFY_12:
	case KEEL_SCSI_WRITE_AND_VERIFY_16:
		sbc_verify(task, true);
		break;
	case KEEL_SCSI_PRE_FETCH_10:
	case KEEL_SCSI_PRE_FETCH_16:
		sbc_sync_or_prefetch(task, false);
		break;
	case KEEL_SCSI_SYNCHRONIZE_CACHE_10:
	case KEEL_SCSI_SYNCHRONIZE_CACHE_16:
		sbc_sync_or_prefetch(task, true);
		break;
	case KEEL_SCSI_WRITE_SAME_10:
	case KEEL_SCSI_WRITE_SAME_16:
		sbc_write_same(task);
		break;
	case KEEL_SCSI_UNMAP:
		sbc_unmap(task);
		break;
	case KEEL_SCSI_COMPARE_AND_WRITE:
		sbc_compare_and_write(task);
		break;
	case KEEL_SCSI_READ_CAPACITY_10:
		sbc_read_capacity_10(task);
		break;
	case KEEL_SCSI_SERVICE_ACTION_IN_16:
		sbc_service_action_in(task);
		break;
	case KEEL_SCSI_SANITIZE:
		sbc_sanitize(task);
		break;
	case KEEL_SCSI_FORMAT_UNIT:
		sbc_format_unit(task);
		break;
	default:
		return false;
	}
	return true;
}

/*
 * REPORT SUPPORTED OPERATION CODES rows: the CDB usage bitmaps say which bits keel looks at
 * (SPC-4 6.35.3). The control byte is 0: NACA is not supported.
 */
#define LBA4 0xff, 0xff, 0xff, 0xff
#define LBA8 LBA4, LBA4

static const struct scsi_opcode_info g_sbc_opcodes[] = {
	{KEEL_SCSI_FORMAT_UNIT, 0, false, 6, {0x04, 0x00, 0x00, 0x00, 0x00, 0x00}},
	{KEEL_SCSI_READ_6, 0, false, 6, {0x08, 0x1f, 0xff, 0xff, 0xff, 0x00}},
	{KEEL_SCSI_WRITE_6, 0, false, 6, {0x0a, 0x1f, 0xff, 0xff, 0xff, 0x00}},
	{KEEL_SCSI_READ_CAPACITY_10, 0, false, 10, {0x25, 0x00, LBA4, 0x00, 0x00, 0x01, 0x00}},
	{KEEL_SCSI_READ_10, 0, false, 10, {0x28, 0x18, LBA4, 0x1f, 0xff, 0xff, 0x00}},
	{KEEL_SCSI_WRITE_10, 0, false, 10, {0x2a, 0x18, LBA4, 0x1f, 0xff, 0xff, 0x00}},
	{KEEL_SCSI_WRITE_AND_VERIFY_10, 0, false, 10, {0x2e, 0x12, LBA4, 0x1f, 0xff, 0xff, 0x00}},
	{KEEL_SCSI_VERIFY_10, 0, false, 10, {0x2f, 0x16, LBA4, 0x1f, 0xff, 0xff, 0x00}},
	{KEEL_SCSI_PRE_FETCH_10, 0, false, 10, {0x34, 0x02, LBA4, 0x1f, 0xff, 0xff, 0x00}},
	{KEEL_SCSI_SYNCHRONIZE_CACHE_10, 0, false, 10, {0x35, 0x06, LBA4, 0x1f, 0xff, 0xff, 0x00}},
	{KEEL_SCSI_WRITE_SAME_10, 0, false, 10, {0x41, 0x08, LBA4, 0x1f, 0xff, 0xff, 0x00}},
	{KEEL_SCSI_UNMAP,
	 0,
	 false,
	 10,
	 {0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f, 0xff, 0xff, 0x00}},
	{KEEL_SCSI_SANITIZE,
	 SBC_SANITIZE_OVERWRITE,
	 true,
	 10,
	 {0x48, 0xbf, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00}},
	{KEEL_SCSI_SANITIZE,
	 SBC_SANITIZE_BLOCK_ERASE,
	 true,
	 10,
	 {0x48, 0xbf, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00}},
	{KEEL_SCSI_READ_16, 0, false, 16, {0x88, 0x18, LBA8, LBA4, 0x1f, 0x00}},
	{KEEL_SCSI_COMPARE_AND_WRITE,
	 0,
	 false,
	 16,
	 {0x89, 0x18, LBA8, 0x00, 0x00, 0x00, 0xff, 0x1f, 0x00}},
	{KEEL_SCSI_WRITE_16, 0, false, 16, {0x8a, 0x18, LBA8, LBA4, 0x1f, 0x00}},
	{KEEL_SCSI_WRITE_AND_VERIFY_16, 0, false, 16, {0x8e, 0x12, LBA8, LBA4, 0x1f, 0x00}},
	{KEEL_SCSI_VERIFY_16, 0, false, 16, {0x8f, 0x16, LBA8, LBA4, 0x1f, 0x00}},
	{KEEL_SCSI_PRE_FETCH_16, 0, false, 16, {0x90, 0x02, LBA8, LBA4, 0x1f, 0x00}},
	{KEEL_SCSI_SYNCHRONIZE_CACHE_16, 0, false, 16, {0x91, 0x06, LBA8, LBA4, 0x1f, 0x00}},
	{KEEL_SCSI_WRITE_SAME_16, 0, false, 16, {0x93, 0x09, LBA8, LBA4, 0x1f, 0x00}},
	{KEEL_SCSI_SERVICE_ACTION_IN_16,
	 KEEL_SCSI_SAI_READ_CAPACITY_16,
	 true,
	 16,
	 {0x9e, 0x1f, LBA8, LBA4, 0x01, 0x00}},
	{KEEL_SCSI_SERVICE_ACTION_IN_16,
	 KEEL_SCSI_SAI_GET_LBA_STATUS,
	 true,
	 16,
	 {0x9e, 0x1f, LBA8, LBA4, 0x00, 0x00}},
	{KEEL_SCSI_READ_12, 0, false, 12, {0xa8, 0x18, LBA4, LBA4, 0x1f, 0x00}},
	{KEEL_SCSI_WRITE_12, 0, false, 12, {0xaa, 0x18, LBA4, LBA4, 0x1f, 0x00}},
	{KEEL_SCSI_WRITE_AND_VERIFY_12, 0, false, 12, {0xae, 0x12, LBA4, LBA4, 0x1f, 0x00}},
	{KEEL_SCSI_VERIFY_12, 0, false, 12, {0xaf, 0x16, LBA4, LBA4, 0x1f, 0x00}},
};

size_t
scsi_sbc_opcodes(const struct scsi_opcode_info **rows)
{
	*rows = g_sbc_opcodes;
	return sizeof(g_sbc_opcodes) / sizeof(g_sbc_opcodes[0]);
}
