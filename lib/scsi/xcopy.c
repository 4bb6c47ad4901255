/*
 * EXTENDED COPY (LID1) and RECEIVE COPY RESULTS (SPC-4 6.4, 6.18): the copy manager that
 * VMware's VAAI clone offload uses. It copies between logical units of the same device, named
 * by their NAA designators in identification CSCD descriptors, with block-to-block segments,
 * through one bounded buffer on the thread of the command. Held results (copy status, failed
 * segment details) live per LUN in lun->xcopy_state under lun->lock.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/util.h"

#include "scsi_internal.h"

/* Limits, reported by RECEIVE COPY RESULTS (OPERATING PARAMETERS) and VPD page 8Fh. */
#define XCOPY_MAX_CSCD 8
#define XCOPY_MAX_SEGMENTS 16
#define XCOPY_MAX_DESC_LIST_LEN 1024
#define XCOPY_MAX_SEGMENT_BYTES (32u * 1024 * 1024)
#define XCOPY_MAX_CONCURRENT 16        /* per LUN, and identified copies held */
#define XCOPY_DATA_GRANULARITY_LOG2 9  /* segments move whole 512-byte blocks at least */
#define XCOPY_BUF_BYTES (1024u * 1024) /* the bounce buffer of one command */

#define XCOPY_HDR_LEN 16
#define XCOPY_CSCD_ID_LEN 32
#define XCOPY_SEG_B2B_LEN 28
#define XCOPY_MAX_PARAM_LEN (XCOPY_HDR_LEN + XCOPY_MAX_DESC_LIST_LEN)

/* Descriptor type codes (SPC-4 6.4.5, 6.4.6). */
#define XCOPY_SEG_BLOCK_TO_BLOCK 0x02
#define XCOPY_CSCD_IDENTIFICATION 0xe4

/* LIST ID USAGE (parameter list byte 1, bits 4-3). */
#define XCOPY_LIST_ID_HOLD 0
#define XCOPY_LIST_ID_DISCARD 2
#define XCOPY_LIST_ID_NONE 3

/* COPY MANAGER STATUS of COPY STATUS. */
#define XCOPY_STATUS_IN_PROGRESS 0x00
#define XCOPY_STATUS_GOOD 0x01
#define XCOPY_STATUS_ERROR 0x02

/* Additional sense codes of the copy manager (SPC-4 annex D). */
#define XCOPY_ASC_OPERATION_IN_PROGRESS 0x0016
#define XCOPY_ASC_INCORRECT_COPY_TARGET_DEVICE_TYPE 0x0d03
#define XCOPY_ASC_TOO_MANY_TARGET_DESCRIPTORS 0x2606
#define XCOPY_ASC_UNSUPPORTED_TARGET_DESCRIPTOR_TYPE 0x2607
#define XCOPY_ASC_UNEXPECTED_INEXACT_SEGMENT 0x260a

/* The result of one identified copy, for RECEIVE COPY RESULTS. */
struct xcopy_result {
	bool used;
	bool in_progress;
	bool hold;           /* LIST ID USAGE 00b: keep it when done */
	bool failed_details; /* FAILED SEGMENT DETAILS not yet delivered */
	char initiator[KEEL_SCSI_PORT_MAX_NAME + 1];
	uint8_t list_id;
	uint8_t copy_status; /* COPY MANAGER STATUS */
	uint16_t segments_processed;
	uint64_t bytes;
	uint64_t age; /* larger is newer */
	uint8_t cmd_status;
	uint8_t sense[KEEL_SCSI_SENSE_BUF_LEN];
	uint16_t sense_len;
};

struct xcopy_state {
	struct xcopy_result results[XCOPY_MAX_CONCURRENT];
	uint32_t active; /* copies running on this LUN */
	uint64_t next_age;
};

/* A copy source or destination: a LUN of the device, held for the whole copy. */
struct xcopy_cscd {
	struct keel_scsi_lun *lun; /* NULL: not reachable, asc says why */
	uint16_t asc_ascq;
	struct keel_io_channel *ch;
	uint32_t block_size;
	uint64_t num_blocks;
};

struct xcopy_segment {
	uint16_t src;
	uint16_t dst;
	uint64_t src_lba;
	uint64_t dst_lba;
	uint64_t bytes;
};

/* One EXTENDED COPY command in progress. */
struct xcopy_ctx {
	struct keel_scsi_task *task;
	struct keel_scsi_lun *lun;   /* the copy manager's LUN */
	struct xcopy_result *result; /* held result slot, or NULL */
	uint8_t list_id;
	uint8_t list_id_usage;
	struct xcopy_cscd cscd[XCOPY_MAX_CSCD];
	int num_cscd;
	struct xcopy_segment seg[XCOPY_MAX_SEGMENTS];
	int num_seg;
	/* Progress. */
	int cur;              /* segment being copied */
	uint64_t done_bytes;  /* of the current segment */
	uint64_t total_bytes; /* of every segment so far */
	uint32_t chunk_bytes; /* of the read/write in flight */
	bool writing;
	uint8_t *buf;
	uint32_t buf_len;
	struct iovec iov;
	struct keel_bdev_io_wait_entry wait;
};

static void xcopy_step(struct xcopy_ctx *ctx);

static struct keel_scsi_lun *
xcopy_task_lun(const struct keel_scsi_task *task)
{
	if (task->lun_desc != NULL) {
		return task->lun_desc->lun;
	}
	return task->internal.lun;
}

static const char *
xcopy_initiator(const struct keel_scsi_task *task)
{
	return task->initiator_port != NULL ? task->initiator_port->name : "";
}

/* ILLEGAL REQUEST with a field pointer into the parameter list (C/D 0). */
static void
xcopy_param_error(struct keel_scsi_task *task, int asc_ascq, uint32_t byte, int bit)
{
	uint8_t sks[3];

	if (byte > UINT16_MAX) {
		scsi_task_set_sense(task, KEEL_SCSI_SENSE_ILLEGAL_REQUEST, asc_ascq, NULL, 0,
				    false);
		return;
	}
	sks[0] = bit >= 0 ? 0x08 | (bit & 7) : 0;
	keel_to_be16(&sks[1], (uint16_t)byte);
	scsi_task_set_sense(task, KEEL_SCSI_SENSE_ILLEGAL_REQUEST, asc_ascq, sks, 0, false);
}

static void
xcopy_illegal(struct keel_scsi_task *task, int asc_ascq)
{
	scsi_task_set_sense(task, KEEL_SCSI_SENSE_ILLEGAL_REQUEST, asc_ascq, NULL, 0, false);
}

/*
 * COPY ABORTED with the number of the segment at fault in the COMMAND-SPECIFIC INFORMATION
 * field (SPC-4 6.4.3): bytes 8-11 of fixed sense, a descriptor of type 01h in descriptor sense.
 */
static void
xcopy_aborted(struct keel_scsi_task *task, int asc_ascq, int segment)
{
	uint8_t *s = task->sense_data;
	uint8_t *d;

	scsi_task_set_sense(task, KEEL_SCSI_SENSE_COPY_ABORTED, asc_ascq, NULL, 0, false);
	if ((s[0] & 0x7f) == 0x70 && task->sense_data_len >= 12) {
		keel_to_be32(&s[8], (uint32_t)segment);
	} else if ((s[0] & 0x7f) == 0x72 && task->sense_data_len + 12 <= KEEL_SCSI_SENSE_BUF_LEN) {
		d = &s[task->sense_data_len];
		memset(d, 0, 12);
		d[0] = 0x01;
		d[1] = 0x0a;
		keel_to_be64(&d[4], (uint64_t)segment);
		task->sense_data_len += 12;
		s[7] = (uint8_t)(s[7] + 12);
	}
}

/*
 * Held results.
 */
static struct xcopy_state *
xcopy_state(struct keel_scsi_lun *lun)
{
	if (lun->xcopy_state == NULL) {
		lun->xcopy_state = calloc(1, sizeof(struct xcopy_state));
	}
	return lun->xcopy_state;
}

void
scsi_xcopy_lun_fini(struct keel_scsi_lun *lun)
{
	free(lun->xcopy_state);
	lun->xcopy_state = NULL;
}

static struct xcopy_result *
xcopy_find_result(struct xcopy_state *st, const char *initiator, uint8_t list_id)
{
	int i;

	for (i = 0; i < XCOPY_MAX_CONCURRENT; i++) {
		struct xcopy_result *r = &st->results[i];

		if (r->used && r->list_id == list_id && strcmp(r->initiator, initiator) == 0) {
			return r;
		}
	}
	return NULL;
}

/*
 * Admit a copy on the LUN: count it, and for an identified one take a result slot (a finished
 * result with the same identifier is replaced; else a free slot, else the oldest finished one).
 * Returns 0, -EBUSY if the LUN runs its maximum of copies, -EALREADY if a copy with that list
 * identifier from that initiator is running.
 */
static int
xcopy_admit(struct xcopy_ctx *ctx)
{
	struct xcopy_state *st;
	struct xcopy_result *r = NULL, *slot;
	const char *initiator = xcopy_initiator(ctx->task);
	int i, rc = 0;

	pthread_mutex_lock(&ctx->lun->lock);
	st = xcopy_state(ctx->lun);
	if (st == NULL || st->active >= XCOPY_MAX_CONCURRENT) {
		rc = -EBUSY;
		goto unlock;
	}
	if (ctx->list_id_usage != XCOPY_LIST_ID_NONE) {
		r = xcopy_find_result(st, initiator, ctx->list_id);
		if (r != NULL && r->in_progress) {
			rc = -EALREADY;
			goto unlock;
		}
		for (i = 0; r == NULL && i < XCOPY_MAX_CONCURRENT; i++) {
			slot = &st->results[i];
			if (!slot->used) {
				r = slot;
			} else if (!slot->in_progress && (r == NULL || slot->age < r->age)) {
				r = slot;
			}
		}
		if (r == NULL) {
			rc = -EBUSY;
			goto unlock;
		}
		memset(r, 0, sizeof(*r));
		r->used = true;
		r->in_progress = true;
		r->hold = ctx->list_id_usage == XCOPY_LIST_ID_HOLD;
		keel_strlcpy(r->initiator, initiator, sizeof(r->initiator));
		r->list_id = ctx->list_id;
		r->age = st->next_age++;
		ctx->result = r;
	}
	st->active++;
unlock:
	pthread_mutex_unlock(&ctx->lun->lock);
	return rc;
}

/* The copy ended with the task's status and sense: keep what RECEIVE COPY RESULTS may ask. */
static void
xcopy_retire(struct xcopy_ctx *ctx)
{
	struct keel_scsi_task *task = ctx->task;
	struct xcopy_state *st;
	struct xcopy_result *r = ctx->result;

	pthread_mutex_lock(&ctx->lun->lock);
	st = ctx->lun->xcopy_state;
	st->active--;
	if (r != NULL) {
		r->in_progress = false;
		if (!r->hold) {
			r->used = false;
		} else {
			r->copy_status = task->status == KEEL_SCSI_STATUS_GOOD ? XCOPY_STATUS_GOOD
									       : XCOPY_STATUS_ERROR;
			r->segments_processed = (uint16_t)ctx->cur;
			r->bytes = ctx->total_bytes;
			r->cmd_status = task->status;
			r->failed_details = task->status != KEEL_SCSI_STATUS_GOOD;
			r->sense_len = task->sense_data_len;
			memcpy(r->sense, task->sense_data, task->sense_data_len);
			r->age = st->next_age++;
		}
	}
	pthread_mutex_unlock(&ctx->lun->lock);
}

/*
 * Parsing the parameter list (SPC-4 6.4.3).
 */

/* Find the LUN of this device with that NAA designator, and hold it. */
static void
xcopy_resolve(struct xcopy_ctx *ctx, struct xcopy_cscd *c, const uint8_t *desig, size_t len)
{
	struct keel_scsi_dev *dev = ctx->lun->dev;
	struct keel_scsi_lun *lun;

	c->asc_ascq = KEEL_SCSI_ASC_COPY_TARGET_DEVICE_NOT_REACHABLE;
	if (dev == NULL) {
		if (scsi_lun_naa_matches(ctx->lun, desig, len) && scsi_lun_hold(ctx->lun)) {
			c->lun = ctx->lun;
		}
		return;
	}
	pthread_mutex_lock(&dev->lock);
	TAILQ_FOREACH (lun, &dev->luns, link) {
		if (!lun->removing && scsi_lun_naa_matches(lun, desig, len)) {
			if (scsi_lun_hold(lun)) {
				c->lun = lun;
			}
			break;
		}
	}
	pthread_mutex_unlock(&dev->lock);
}

/*
 * One identification CSCD descriptor (E4h) at p, offset off in the parameter list. An
 * unreachable target is no error yet: only a segment that uses it fails (with COPY ABORTED).
 */
static bool
xcopy_parse_cscd(struct xcopy_ctx *ctx, const uint8_t *p, uint32_t off)
{
	struct xcopy_cscd *c = &ctx->cscd[ctx->num_cscd++];
	uint8_t code_set = p[4] & 0x0f, assoc = (p[5] >> 4) & 0x03, type = p[5] & 0x0f;
	uint8_t len = p[7];
	uint32_t disk_block_len = keel_from_be24(&p[29]);

	memset(c, 0, sizeof(*c));
	/* Byte 1: LU ID TYPE is ignored (SPC-4), NUL asks for a null device keel does not have,
	 * and only block devices (type 0) can be copied to or from. */
	if (p[1] & 0x20) {
		c->asc_ascq = KEEL_SCSI_ASC_COPY_TARGET_DEVICE_NOT_REACHABLE;
		return true;
	}
	if ((p[1] & 0x1f) != 0) {
		c->asc_ascq = XCOPY_ASC_INCORRECT_COPY_TARGET_DEVICE_TYPE;
		return true;
	}
	if (len > 20) {
		xcopy_param_error(ctx->task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST, off + 7,
				  -1);
		return false;
	}
	/* Only a logical unit's binary NAA designator names a LUN of this target. */
	if (code_set == 1 && assoc == 0 && type == 3) {
		xcopy_resolve(ctx, c, &p[8], len);
	} else {
		c->asc_ascq = KEEL_SCSI_ASC_COPY_TARGET_DEVICE_NOT_REACHABLE;
	}
	if (c->lun == NULL) {
		return true;
	}
	c->block_size = keel_bdev_get_block_size(c->lun->bdev);
	c->num_blocks = keel_bdev_get_num_blocks(c->lun->bdev);
	if (disk_block_len != 0 && disk_block_len != c->block_size) {
		xcopy_param_error(ctx->task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST,
				  off + 29, -1);
		return false;
	}
	return true;
}

static bool
xcopy_parse_cscds(struct xcopy_ctx *ctx, const uint8_t *p, uint32_t len)
{
	uint32_t off = 0;

	while (off < len) {
		if (p[off] != XCOPY_CSCD_IDENTIFICATION) {
			xcopy_param_error(ctx->task, XCOPY_ASC_UNSUPPORTED_TARGET_DESCRIPTOR_TYPE,
					  XCOPY_HDR_LEN + off, -1);
			return false;
		}
		if (off + XCOPY_CSCD_ID_LEN > len) {
			xcopy_illegal(ctx->task, KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
			return false;
		}
		if (!xcopy_parse_cscd(ctx, &p[off], XCOPY_HDR_LEN + off)) {
			return false;
		}
		off += XCOPY_CSCD_ID_LEN;
	}
	return true;
}

static uint32_t
xcopy_gcd(uint32_t a, uint32_t b)
{
	while (b != 0) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Check a segment against its copy targets; COPY ABORTED if it cannot be done. */
static bool
xcopy_check_segment(struct xcopy_ctx *ctx, int i, uint32_t off, uint16_t blocks, bool dc)
{
	struct xcopy_segment *s = &ctx->seg[i];
	struct xcopy_cscd *src, *dst;

	if (s->src >= ctx->num_cscd || s->dst >= ctx->num_cscd) {
		xcopy_aborted(ctx->task, KEEL_SCSI_ASC_COPY_TARGET_DEVICE_NOT_REACHABLE, i);
		return false;
	}
	src = &ctx->cscd[s->src];
	dst = &ctx->cscd[s->dst];
	if (src->lun == NULL || dst->lun == NULL) {
		xcopy_aborted(ctx->task, src->lun == NULL ? src->asc_ascq : dst->asc_ascq, i);
		return false;
	}
	/* A LUN being sanitized answers nothing else (SBC-3 4.11). */
	if (__atomic_load_n(&src->lun->sanitizing, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&dst->lun->sanitizing, __ATOMIC_ACQUIRE)) {
		xcopy_aborted(ctx->task, KEEL_SCSI_ASC_LUN_NOT_READY_SANITIZE, i);
		return false;
	}
	/* A destination under software write protect (control mode page SWP) refuses writes. */
	if (__atomic_load_n(&dst->lun->mode.swp, __ATOMIC_RELAXED)) {
		xcopy_aborted(ctx->task, KEEL_SCSI_ASC_WRITE_PROTECTED, i);
		return false;
	}
	s->bytes = (uint64_t)blocks * (dc ? dst->block_size : src->block_size);
	if (s->bytes > XCOPY_MAX_SEGMENT_BYTES) {
		xcopy_param_error(ctx->task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST,
				  off + 10, -1);
		return false;
	}
	if (s->bytes % src->block_size != 0 || s->bytes % dst->block_size != 0) {
		xcopy_aborted(ctx->task, XCOPY_ASC_UNEXPECTED_INEXACT_SEGMENT, i);
		return false;
	}
	/* The copy targets would refuse LBAs past their end. */
	if (s->src_lba > src->num_blocks ||
	    s->bytes / src->block_size > src->num_blocks - s->src_lba ||
	    s->dst_lba > dst->num_blocks ||
	    s->bytes / dst->block_size > dst->num_blocks - s->dst_lba) {
		xcopy_aborted(ctx->task, KEEL_SCSI_ASC_NO_ADDITIONAL_SENSE, i);
		return false;
	}
	return true;
}

static bool
xcopy_parse_segments(struct xcopy_ctx *ctx, const uint8_t *p, uint32_t len, uint32_t base)
{
	uint32_t off = 0, dlen;
	int n = 0;

	/* Count first: too many is reported before anything else about them. */
	while (off + 4 <= len) {
		off += 4 + keel_from_be16(&p[off + 2]);
		n++;
	}
	if (n > XCOPY_MAX_SEGMENTS) {
		xcopy_illegal(ctx->task, KEEL_SCSI_ASC_TOO_MANY_SEGMENT_DESCRIPTORS);
		return false;
	}
	for (off = 0; off < len; off += 4 + dlen) {
		const uint8_t *d = &p[off];
		struct xcopy_segment *s;

		if (d[0] != XCOPY_SEG_BLOCK_TO_BLOCK) {
			xcopy_param_error(ctx->task,
					  KEEL_SCSI_ASC_UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE,
					  base + off, -1);
			return false;
		}
		if (off + 4 > len) {
			xcopy_illegal(ctx->task, KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
			return false;
		}
		dlen = keel_from_be16(&d[2]);
		if (dlen != XCOPY_SEG_B2B_LEN - 4) {
			xcopy_param_error(ctx->task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST,
					  base + off + 2, -1);
			return false;
		}
		if (off + XCOPY_SEG_B2B_LEN > len) {
			xcopy_illegal(ctx->task, KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
			return false;
		}
		s = &ctx->seg[ctx->num_seg];
		s->src = keel_from_be16(&d[4]);
		s->dst = keel_from_be16(&d[6]);
		s->src_lba = keel_from_be64(&d[12]);
		s->dst_lba = keel_from_be64(&d[20]);
		if (!xcopy_check_segment(ctx, ctx->num_seg, base + off, keel_from_be16(&d[10]),
					 d[1] & 0x02)) {
			return false;
		}
		ctx->num_seg++;
	}
	return true;
}

/*
 * Check the header. Returns false with the task's status set if the command ends here.
 */
static bool
xcopy_parse_header(struct xcopy_ctx *ctx, const uint8_t *p, uint32_t param_len)
{
	struct keel_scsi_task *task = ctx->task;
	uint32_t cscd_len, seg_len, inline_len;

	if (param_len < XCOPY_HDR_LEN) {
		xcopy_illegal(task, KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		return false;
	}
	ctx->list_id = p[0];
	ctx->list_id_usage = (p[1] >> 3) & 0x03;
	cscd_len = keel_from_be16(&p[2]);
	seg_len = keel_from_be32(&p[8]);
	inline_len = keel_from_be32(&p[12]);
	if (cscd_len + (uint64_t)seg_len > XCOPY_MAX_DESC_LIST_LEN ||
	    XCOPY_HDR_LEN + (uint64_t)cscd_len + seg_len + inline_len > param_len) {
		xcopy_illegal(task, KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		return false;
	}
	if (ctx->list_id_usage == 1 ||
	    (ctx->list_id_usage == XCOPY_LIST_ID_NONE && ctx->list_id != 0)) {
		xcopy_param_error(task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST,
				  ctx->list_id_usage == 1 ? 1 : 0,
				  ctx->list_id_usage == 1 ? 4 : -1);
		return false;
	}
	if (p[1] & 0xc0 || p[4] || p[5] || p[6] || p[7]) {
		xcopy_param_error(task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST,
				  (p[1] & 0xc0) ? 1 : 4, -1);
		return false;
	}
	if (inline_len != 0) {
		/* No segment type keel supports uses inline data. */
		xcopy_param_error(task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST, 12, -1);
		return false;
	}
	return true;
}

/* Check the CSCD and segment descriptor lists (the header is valid). */
static bool
xcopy_parse_lists(struct xcopy_ctx *ctx, const uint8_t *p)
{
	uint32_t cscd_len = keel_from_be16(&p[2]), seg_len = keel_from_be32(&p[8]);

	if (cscd_len > XCOPY_MAX_CSCD * XCOPY_CSCD_ID_LEN) {
		xcopy_illegal(ctx->task, XCOPY_ASC_TOO_MANY_TARGET_DESCRIPTORS);
		return false;
	}
	if (!xcopy_parse_cscds(ctx, &p[XCOPY_HDR_LEN], cscd_len)) {
		return false;
	}
	return xcopy_parse_segments(ctx, &p[XCOPY_HDR_LEN + cscd_len], seg_len,
				    XCOPY_HDR_LEN + cscd_len);
}

/*
 * The copy: read a chunk from the source into the buffer, write it to the destination, until
 * every segment is done. An overlapping copy within one bdev to higher addresses runs
 * backwards, so that it reads nothing it has already overwritten.
 */
static bool
xcopy_backwards(const struct xcopy_ctx *ctx, const struct xcopy_segment *s)
{
	const struct xcopy_cscd *src = &ctx->cscd[s->src], *dst = &ctx->cscd[s->dst];
	uint64_t src_start = s->src_lba * src->block_size, dst_start = s->dst_lba * dst->block_size;

	return src->lun->bdev == dst->lun->bdev && dst_start > src_start &&
	       dst_start < src_start + s->bytes;
}

/* Byte offset within the segment of the chunk in flight. */
static uint64_t
xcopy_chunk_offset(const struct xcopy_ctx *ctx, const struct xcopy_segment *s)
{
	if (xcopy_backwards(ctx, s)) {
		return s->bytes - ctx->done_bytes - ctx->chunk_bytes;
	}
	return ctx->done_bytes;
}

static void
xcopy_finish(struct xcopy_ctx *ctx)
{
	int i;

	xcopy_retire(ctx);
	for (i = 0; i < ctx->num_cscd; i++) {
		if (ctx->cscd[i].ch != NULL) {
			keel_put_io_channel(ctx->cscd[i].ch);
		}
		if (ctx->cscd[i].lun != NULL) {
			scsi_lun_release(ctx->cscd[i].lun);
		}
	}
	if (ctx->buf != NULL) {
		keel_dma_free(ctx->buf);
	}
	scsi_task_complete(ctx->task);
	free(ctx);
}

static void
xcopy_retry(void *arg)
{
	xcopy_step(arg);
}

static void
xcopy_io_done(struct keel_bdev_io *io, bool success, void *arg)
{
	struct xcopy_ctx *ctx = arg;

	keel_bdev_free_io(io);
	if (!success) {
		xcopy_aborted(ctx->task,
			      ctx->writing ? KEEL_SCSI_ASC_WRITE_ERROR
					   : KEEL_SCSI_ASC_UNRECOVERED_READ_ERROR,
			      ctx->cur);
		xcopy_finish(ctx);
		return;
	}
	if (!ctx->writing) {
		ctx->writing = true;
	} else {
		ctx->writing = false;
		ctx->done_bytes += ctx->chunk_bytes;
		ctx->total_bytes += ctx->chunk_bytes;
		ctx->chunk_bytes = 0;
	}
	xcopy_step(ctx);
}

/* Submit the next read or write, or finish. */
static void
xcopy_step(struct xcopy_ctx *ctx)
{
	struct xcopy_segment *s;
	struct xcopy_cscd *c;
	uint64_t off;
	uint32_t flags;
	int rc;

	if (ctx->task->internal.flags & SCSI_TASK_F_ABORTED) {
		/* Task management ended the command: stop between two I/Os. */
		keel_scsi_task_set_status(ctx->task, KEEL_SCSI_STATUS_CHECK_CONDITION,
					  KEEL_SCSI_SENSE_ABORTED_COMMAND,
					  KEEL_SCSI_ASC_NO_ADDITIONAL_SENSE);
		xcopy_finish(ctx);
		return;
	}
	while (ctx->cur < ctx->num_seg && ctx->done_bytes == ctx->seg[ctx->cur].bytes) {
		ctx->cur++;
		ctx->done_bytes = 0;
	}
	if (ctx->cur == ctx->num_seg) {
		keel_scsi_task_set_status(ctx->task, KEEL_SCSI_STATUS_GOOD, 0, 0);
		xcopy_finish(ctx);
		return;
	}
	s = &ctx->seg[ctx->cur];
	if (ctx->chunk_bytes == 0) {
		ctx->chunk_bytes =
			(uint32_t)KEEL_MIN((uint64_t)ctx->buf_len, s->bytes - ctx->done_bytes);
	}
	off = xcopy_chunk_offset(ctx, s);
	c = &ctx->cscd[ctx->writing ? s->dst : s->src];
	if (ctx->writing) {
		/* As for WRITE: durable before GOOD unless the write cache is enabled (WCE). */
		flags = __atomic_load_n(&c->lun->mode.wce, __ATOMIC_RELAXED)
				? 0
				: KEEL_BDEV_IO_FLAG_FUA;
		ctx->iov.iov_base = ctx->buf;
		ctx->iov.iov_len = ctx->chunk_bytes;
		rc = keel_bdev_writev_blocks_ext(c->lun->bdev_desc, c->ch, &ctx->iov, 1,
						 s->dst_lba + off / c->block_size,
						 ctx->chunk_bytes / c->block_size, flags,
						 xcopy_io_done, ctx);
	} else {
		rc = keel_bdev_read_blocks(c->lun->bdev_desc, c->ch, ctx->buf,
					   s->src_lba + off / c->block_size,
					   ctx->chunk_bytes / c->block_size, xcopy_io_done, ctx);
	}
	if (rc == -ENOMEM) {
		ctx->wait.bdev = c->lun->bdev;
		ctx->wait.cb_fn = xcopy_retry;
		ctx->wait.cb_arg = ctx;
		rc = keel_bdev_queue_io_wait(c->lun->bdev, c->ch, &ctx->wait);
	}
	if (rc != 0) {
		xcopy_aborted(ctx->task,
			      ctx->writing ? KEEL_SCSI_ASC_WRITE_ERROR
					   : KEEL_SCSI_ASC_UNRECOVERED_READ_ERROR,
			      ctx->cur);
		xcopy_finish(ctx);
	}
}

/* Channels for every copy target, a buffer for the largest chunk; then go. */
static void
xcopy_start(struct xcopy_ctx *ctx)
{
	uint64_t largest = 0;
	uint32_t unit = 1;
	size_t align = 4096;
	int i;

	for (i = 0; i < ctx->num_cscd; i++) {
		struct xcopy_cscd *c = &ctx->cscd[i];

		if (c->lun == NULL) {
			continue;
		}
		c->ch = keel_bdev_get_io_channel(c->lun->bdev_desc);
		if (c->ch == NULL) {
			xcopy_aborted(ctx->task, KEEL_SCSI_ASC_COPY_TARGET_DEVICE_NOT_REACHABLE, 0);
			xcopy_finish(ctx);
			return;
		}
		unit = unit / xcopy_gcd(unit, c->block_size) * c->block_size;
		align = KEEL_MAX(align, keel_bdev_get_buf_align(c->lun->bdev));
	}
	for (i = 0; i < ctx->num_seg; i++) {
		largest = KEEL_MAX(largest, ctx->seg[i].bytes);
		if (ctx->seg[i].bytes > 0) {
			/* Written to: GET LBA STATUS no longer reports it all deallocated. */
			__atomic_store_n(&ctx->cscd[ctx->seg[i].dst].lun->deallocated, false,
					 __ATOMIC_RELAXED);
		}
	}
	if (largest > 0) {
		/* A whole number of blocks of every target that is used. */
		ctx->buf_len = (uint32_t)KEEL_MIN(largest, (uint64_t)XCOPY_BUF_BYTES);
		ctx->buf_len -= ctx->buf_len % unit;
		if (ctx->buf_len == 0) {
			ctx->buf_len = unit;
		}
		ctx->buf = keel_dma_malloc(ctx->buf_len, align, NULL);
		if (ctx->buf == NULL) {
			ctx->task->status = KEEL_SCSI_STATUS_BUSY;
			ctx->task->sense_data_len = 0;
			xcopy_finish(ctx);
			return;
		}
	}
	xcopy_step(ctx);
}

/* Copy targets other than the copy manager's own LUN obey their reservations as if the
 * initiator read from or wrote to them itself. */
static bool
xcopy_reservations_allow(struct xcopy_ctx *ctx)
{
	struct keel_scsi_task probe;
	int i;

	for (i = 0; i < ctx->num_seg; i++) {
		struct xcopy_segment *s = &ctx->seg[i];
		int j;

		for (j = 0; j < 2; j++) {
			struct keel_scsi_lun *lun = ctx->cscd[j == 0 ? s->src : s->dst].lun;

			if (lun == ctx->lun) {
				continue;
			}
			memset(&probe, 0, sizeof(probe));
			probe.dev = ctx->task->dev;
			probe.initiator_port = ctx->task->initiator_port;
			probe.target_port = ctx->task->target_port;
			probe.internal.lun = lun;
			probe.cdb[0] = j == 0 ? KEEL_SCSI_READ_16 : KEEL_SCSI_WRITE_16;
			probe.cdb_len = 16;
			if (scsi_pr_check(&probe) != 0) {
				ctx->task->status = KEEL_SCSI_STATUS_RESERVATION_CONFLICT;
				ctx->task->sense_data_len = 0;
				return false;
			}
		}
	}
	return true;
}

/* EXTENDED COPY (LID1), SPC-4 6.4. */
static void
xcopy_extended_copy(struct keel_scsi_task *task, struct keel_scsi_lun *lun)
{
	const uint8_t *cdb = task->cdb;
	uint32_t param_len = keel_from_be32(&cdb[10]);
	struct xcopy_ctx *ctx;
	uint8_t *param;
	int i, rc;

	if (cdb[1] & 0x1f) {
		/* Service action 00h is LID1; LID4 (01h) is not supported. */
		scsi_task_invalid_field(task, 1, 4);
		goto complete;
	}
	for (i = 1; i < 15; i++) {
		if ((i < 10 || i == 14) && cdb[i] != 0) {
			scsi_task_invalid_field(task, i, -1);
			goto complete;
		}
	}
	if (param_len == 0) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
		goto complete;
	}
	ctx = calloc(1, sizeof(*ctx));
	param = calloc(1, XCOPY_MAX_PARAM_LEN);
	if (ctx == NULL || param == NULL) {
		free(ctx);
		free(param);
		task->status = KEEL_SCSI_STATUS_BUSY;
		task->sense_data_len = 0;
		goto complete;
	}
	ctx->task = task;
	ctx->lun = lun;
	/* Bytes past what the header describes are not needed; fewer than sent are short. */
	param_len = KEEL_MIN(param_len, scsi_task_gather(task, param,
							 KEEL_MIN(param_len, XCOPY_MAX_PARAM_LEN)));
	if (!xcopy_parse_header(ctx, param, param_len)) {
		free(param);
		free(ctx);
		goto complete;
	}
	rc = xcopy_admit(ctx);
	if (rc != 0) {
		if (rc == -EALREADY) {
			xcopy_illegal(task, XCOPY_ASC_OPERATION_IN_PROGRESS);
		} else {
			task->status = KEEL_SCSI_STATUS_BUSY;
			task->sense_data_len = 0;
		}
		free(param);
		free(ctx);
		goto complete;
	}
	/* From here on the outcome is held for RECEIVE COPY RESULTS. */
	if (!xcopy_parse_lists(ctx, param) || !xcopy_reservations_allow(ctx)) {
		free(param);
		xcopy_finish(ctx);
		return;
	}
	free(param);
	xcopy_start(ctx); /* completes the task */
	return;

complete:
	scsi_task_complete(task);
}

/*
 * RECEIVE COPY RESULTS (SPC-4 6.18, LID1 service actions).
 */
static uint32_t
xcopy_copy_status(struct xcopy_result *r, uint8_t *buf)
{
	uint64_t count = r->bytes;
	uint8_t units = 0;

	/* TRANSFER COUNT UNITS: bytes, then powers of 1024 until the count fits. */
	while (count > UINT32_MAX) {
		count >>= 10;
		units++;
	}
	memset(buf, 0, 12);
	keel_to_be32(&buf[0], 8);
	buf[4] = r->in_progress ? XCOPY_STATUS_IN_PROGRESS : r->copy_status;
	keel_to_be16(&buf[5], r->segments_processed);
	buf[7] = units;
	keel_to_be32(&buf[8], (uint32_t)count);
	return 12;
}

static uint32_t
xcopy_operating_parameters(uint8_t *buf)
{
	memset(buf, 0, 46);
	keel_to_be32(&buf[0], 46 - 4);
	buf[4] = 0x01; /* SNLID: copies without a list identifier are accepted */
	keel_to_be16(&buf[8], XCOPY_MAX_CSCD);
	keel_to_be16(&buf[10], XCOPY_MAX_SEGMENTS);
	keel_to_be32(&buf[12], XCOPY_MAX_DESC_LIST_LEN);
	keel_to_be32(&buf[16], XCOPY_MAX_SEGMENT_BYTES);
	/* Inline data, held data and stream transfers: none (zero). */
	keel_to_be16(&buf[34], XCOPY_MAX_CONCURRENT);
	buf[36] = XCOPY_MAX_CONCURRENT;
	buf[37] = XCOPY_DATA_GRANULARITY_LOG2;
	buf[43] = 2;
	buf[44] = XCOPY_SEG_BLOCK_TO_BLOCK;
	buf[45] = XCOPY_CSCD_IDENTIFICATION;
	return 46;
}

static uint32_t
xcopy_failed_details(struct xcopy_result *r, uint8_t *buf)
{
	memset(buf, 0, 60);
	if (r == NULL || !r->failed_details) {
		return 4; /* AVAILABLE DATA 0 */
	}
	keel_to_be32(&buf[0], 56 + (uint32_t)r->sense_len);
	buf[56] = r->cmd_status;
	keel_to_be16(&buf[58], r->sense_len);
	memcpy(&buf[60], r->sense, r->sense_len);
	return 60 + r->sense_len;
}

static void
xcopy_receive_copy_results(struct keel_scsi_task *task, struct keel_scsi_lun *lun)
{
	const uint8_t *cdb = task->cdb;
	uint8_t sa = cdb[1] & 0x1f, list_id = cdb[2];
	uint32_t alloc_len = keel_from_be32(&cdb[10]), len = 0;
	uint8_t buf[60 + KEEL_SCSI_SENSE_BUF_LEN];
	struct xcopy_state *st;
	struct xcopy_result *r;
	int i;

	if (cdb[1] & 0xe0) {
		scsi_task_invalid_field(task, 1, 7);
		return;
	}
	for (i = 3; i < 15; i++) {
		if ((i < 10 || i == 14) && cdb[i] != 0) {
			scsi_task_invalid_field(task, i, -1);
			return;
		}
	}
	switch (sa) {
	case KEEL_SCSI_RCR_OPERATING_PARAMETERS:
		len = xcopy_operating_parameters(buf);
		break;
	case KEEL_SCSI_RCR_COPY_STATUS:
	case KEEL_SCSI_RCR_FAILED_SEGMENT_DETAILS:
		pthread_mutex_lock(&lun->lock);
		st = lun->xcopy_state;
		r = st != NULL ? xcopy_find_result(st, xcopy_initiator(task), list_id) : NULL;
		if (sa == KEEL_SCSI_RCR_COPY_STATUS) {
			if (r != NULL) {
				len = xcopy_copy_status(r, buf);
			}
		} else {
			len = xcopy_failed_details(r, buf);
			/* Delivered in full, or refused with a zero allocation length: gone. */
			if (r != NULL && r->failed_details &&
			    (alloc_len == 0 || alloc_len >= len)) {
				r->failed_details = false;
			}
		}
		pthread_mutex_unlock(&lun->lock);
		if (len == 0) {
			scsi_task_invalid_field(task, 2, -1); /* no such copy */
			return;
		}
		break;
	default:
		/* RECEIVE DATA (01h) needs a segment type that holds data: not supported. */
		scsi_task_invalid_field(task, 1, 4);
		return;
	}
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
	scsi_task_scatter(task, buf, KEEL_MIN(len, alloc_len));
}

bool
scsi_xcopy_execute(struct keel_scsi_task *task)
{
	struct keel_scsi_lun *lun = xcopy_task_lun(task);

	if (lun == NULL || (task->cdb[0] != KEEL_SCSI_EXTENDED_COPY &&
			    task->cdb[0] != KEEL_SCSI_RECEIVE_COPY_RESULTS)) {
		return false;
	}
	if (task->cdb[0] == KEEL_SCSI_EXTENDED_COPY) {
		xcopy_extended_copy(task, lun);
		return true;
	}
	xcopy_receive_copy_results(task, lun);
	scsi_task_complete(task);
	return true;
}

/*
 * VPD page 8Fh (SPC-4 7.8.17): the third-party copy descriptors a LID1 copy manager reports.
 * Each descriptor is padded to a multiple of four bytes.
 */
#define XCOPY_VPD_LEN 100

size_t
scsi_xcopy_vpd_8f(struct keel_scsi_lun *lun, uint8_t *buf, size_t len)
{
	uint8_t page[XCOPY_VPD_LEN];
	uint8_t *d = page;

	memset(page, 0, sizeof(page));
	/* Supported Commands (0001h): EXTENDED COPY LID1, RECEIVE COPY RESULTS 00h, 03h, 04h. */
	keel_to_be16(&d[0], 0x0001);
	keel_to_be16(&d[2], 12);
	d[4] = 8;
	d[5] = KEEL_SCSI_EXTENDED_COPY;
	d[6] = 1;
	d[7] = 0x00;
	d[8] = KEEL_SCSI_RECEIVE_COPY_RESULTS;
	d[9] = 3;
	d[10] = KEEL_SCSI_RCR_COPY_STATUS;
	d[11] = KEEL_SCSI_RCR_OPERATING_PARAMETERS;
	d[12] = KEEL_SCSI_RCR_FAILED_SEGMENT_DETAILS;
	d += 16;
	/* Parameter Data (0004h). */
	keel_to_be16(&d[0], 0x0004);
	keel_to_be16(&d[2], 0x1c);
	keel_to_be16(&d[8], XCOPY_MAX_CSCD);
	keel_to_be16(&d[10], XCOPY_MAX_SEGMENTS);
	keel_to_be32(&d[12], XCOPY_MAX_DESC_LIST_LEN);
	keel_to_be32(&d[16], 0); /* maximum inline data length */
	d += 32;
	/* Supported Descriptors (0008h). */
	keel_to_be16(&d[0], 0x0008);
	keel_to_be16(&d[2], 4);
	d[4] = 2;
	d[5] = XCOPY_SEG_BLOCK_TO_BLOCK;
	d[6] = XCOPY_CSCD_IDENTIFICATION;
	d += 8;
	/* Supported CSCD Descriptor IDs (000Ch): none. */
	keel_to_be16(&d[0], 0x000c);
	keel_to_be16(&d[2], 4);
	d += 8;
	/* General Copy Operations (0106h). */
	keel_to_be16(&d[0], 0x0106);
	keel_to_be16(&d[2], 0x20);
	keel_to_be32(&d[4], XCOPY_MAX_CONCURRENT);
	keel_to_be32(&d[8], XCOPY_MAX_CONCURRENT);
	keel_to_be32(&d[12], XCOPY_MAX_SEGMENT_BYTES);
	d[16] = XCOPY_DATA_GRANULARITY_LOG2;
	d[17] = 0; /* inline data granularity */
	d += 36;
	KEEL_STATIC_ASSERT(XCOPY_VPD_LEN == 16 + 32 + 8 + 8 + 36, "VPD 8Fh length");

	memcpy(buf, page, KEEL_MIN(len, sizeof(page)));
	return sizeof(page);
}

/*
 * REPORT SUPPORTED OPERATION CODES rows.
 */
/* Byte 2 is the LIST IDENTIFIER of RECEIVE COPY RESULTS, reserved in EXTENDED COPY. */
#define XCOPY_ROW(op, sa_, byte2)                                                                  \
	{                                                                                          \
		.opcode = (op), .service_action = (sa_), .has_sa = true, .cdb_len = 16,            \
		.usage =                                                                           \
		{(op),                                                                             \
		 0x1f,                                                                             \
		 (byte2),                                                                          \
		 0x00,                                                                             \
		 0x00,                                                                             \
		 0x00,                                                                             \
		 0x00,                                                                             \
		 0x00,                                                                             \
		 0x00,                                                                             \
		 0x00,                                                                             \
		 0xff,                                                                             \
		 0xff,                                                                             \
		 0xff,                                                                             \
		 0xff,                                                                             \
		 0x00,                                                                             \
		 0x00 }                                                                            \
	}

static const struct scsi_opcode_info g_xcopy_opcodes[] = {
	XCOPY_ROW(KEEL_SCSI_EXTENDED_COPY, 0x00, 0x00),
	XCOPY_ROW(KEEL_SCSI_RECEIVE_COPY_RESULTS, KEEL_SCSI_RCR_COPY_STATUS, 0xff),
	XCOPY_ROW(KEEL_SCSI_RECEIVE_COPY_RESULTS, KEEL_SCSI_RCR_OPERATING_PARAMETERS, 0xff),
	XCOPY_ROW(KEEL_SCSI_RECEIVE_COPY_RESULTS, KEEL_SCSI_RCR_FAILED_SEGMENT_DETAILS, 0xff),
};

size_t
scsi_xcopy_opcodes(const struct scsi_opcode_info **rows)
{
	*rows = g_xcopy_opcodes;
	return KEEL_COUNTOF(g_xcopy_opcodes);
}
