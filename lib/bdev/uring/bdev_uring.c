/*
 * The uring bdev module: a file or block device driven through io_uring (liburing) and opened
 * O_DIRECT. Each thread gets its own ring per bdev, with the file registered in it; I/O is
 * queued as SQEs and the channel's poller submits them in one batch and reaps the CQ.
 */
#include "keel/stdinc.h"
#include "keel/bdev_module.h"
#include "keel/conf.h"
#include "keel/log.h"
#include "keel/thread.h"
#include "keel/util.h"

#include <json-c/json.h>
#include <liburing.h>
#include <linux/fs.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>

#include "bdev_uring.h"

KEEL_LOG_REGISTER_COMPONENT(uring)

#define URING_QUEUE_DEPTH 128u     /* SQ entries per channel; the CQ has twice as many */
#define URING_REAP_BATCH 32

struct uring_disk {
	struct keel_bdev bdev;
	char *filename;
	struct keel_bdev_file file; /* fd, O_DIRECT or not, geometry */
	bool op_fallocate;     /* the kernel has IORING_OP_FALLOCATE (Linux 5.6) */
	/* FALLOC_FL_ZERO_RANGE refused once (tmpfs): write zeroes by punching a hole instead.
	 * Read and written with relaxed atomics from every thread. */
	bool no_zero_range;
};

/* Per-I/O context (driver_ctx of the bdev_io). */
struct uring_task {
	int fallocate_mode; /* UNMAP, WRITE_ZEROES: what was asked of fallocate */
	TAILQ_ENTRY(uring_task) link;
};

/*
 * Per-thread context of one bdev. In interrupt mode the thread sleeps on the ring's own fd,
 * which is readable exactly while the CQ holds entries: unlike an eventfd it has no count to
 * drain and cannot be left readable by a completion that was already reaped.
 */
struct uring_channel {
	struct io_uring ring;
	struct keel_poller *poller;
	int fd;            /* what SQEs name: 0 (the registered file) or the file's own fd */
	uint8_t sqe_flags; /* IOSQE_FIXED_FILE when the file is registered */
	uint32_t inflight; /* SQEs queued or at the kernel whose CQE has not been reaped */
	TAILQ_HEAD(, uring_task) resets; /* waiting for inflight to reach 0 */
};

static struct keel_bdev_module g_uring_module;
static const struct keel_bdev_fn_table g_uring_fn_table;

static const char *
uring_io_type_name(enum keel_bdev_io_type type)
{
	switch (type) {
	case KEEL_BDEV_IO_TYPE_READ:
		return "read";
	case KEEL_BDEV_IO_TYPE_WRITE:
		return "write";
	case KEEL_BDEV_IO_TYPE_FLUSH:
		return "flush";
	case KEEL_BDEV_IO_TYPE_UNMAP:
		return "unmap";
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		return "write zeroes";
	default:
		return "I/O";
	}
}

static void
uring_log_failure(struct uring_disk *disk, struct keel_bdev_io *io, int errnum)
{
	KEEL_ERRLOG("uring bdev %s (%s): %s of %" PRIu64 " blocks at block %" PRIu64
		    " failed: %s\n",
		    disk->bdev.name, disk->filename, uring_io_type_name(io->type),
		    io->u.bdev.num_blocks, io->u.bdev.offset_blocks, keel_strerror(errnum));
}

/* An SQE for task, or NULL if the channel is full (the I/O is then completed NOMEM). */
static struct io_uring_sqe *
uring_get_sqe(struct uring_channel *ch, struct uring_task *task)
{
	struct io_uring_sqe *sqe;

	/* At most URING_QUEUE_DEPTH CQEs can be owed: the CQ never overflows. */
	if (ch->inflight >= URING_QUEUE_DEPTH) {
		return NULL;
	}
	sqe = io_uring_get_sqe(&ch->ring);
	if (sqe == NULL) {
		/* Cannot happen while inflight bounds the SQ, but be safe: NOMEM retries. */
		return NULL;
	}
	ch->inflight++;
	return sqe;
}

static void
uring_sqe_finish(struct uring_channel *ch, struct io_uring_sqe *sqe, struct uring_task *task)
{
	sqe->flags |= ch->sqe_flags;
	io_uring_sqe_set_data(sqe, task);
}

static bool
uring_prep_fallocate(struct uring_disk *disk, struct uring_channel *ch, struct uring_task *task,
		     struct keel_bdev_io *io)
{
	uint64_t offset = io->u.bdev.offset_blocks * disk->bdev.blocklen;
	uint64_t len = io->u.bdev.num_blocks * disk->bdev.blocklen;
	struct io_uring_sqe *sqe = uring_get_sqe(ch, task);

	if (sqe == NULL) {
		return false;
	}
	io_uring_prep_fallocate(sqe, ch->fd, task->fallocate_mode, (off_t)offset, (off_t)len);
	uring_sqe_finish(ch, sqe, task);
	return true;
}

/* fallocate() here, for kernels without IORING_OP_FALLOCATE. \return 0 or -errno. */
static int
uring_fallocate_now(struct uring_disk *disk, struct keel_bdev_io *io, int mode)
{
	if (fallocate(disk->file.fd, mode, (off_t)(io->u.bdev.offset_blocks * disk->bdev.blocklen),
		      (off_t)(io->u.bdev.num_blocks * disk->bdev.blocklen)) != 0) {
		return -errno;
	}
	return 0;
}

static void
uring_complete_errno(struct uring_disk *disk, struct keel_bdev_io *io, int rc)
{
	if (rc != 0) {
		uring_log_failure(disk, io, -rc);
	}
	keel_bdev_io_complete(io,
			      rc == 0 ? KEEL_BDEV_IO_STATUS_SUCCESS : KEEL_BDEV_IO_STATUS_FAILED);
}

/*
 * UNMAP punches a hole (reads back zeroes); WRITE_ZEROES zeroes the range in place. A block
 * device discards with BLKDISCARD, synchronously: there is no io_uring command for it, and a
 * discard need not read back zeroes.
 */
static void
uring_submit_deallocate(struct uring_disk *disk, struct uring_channel *ch, struct uring_task *task,
			struct keel_bdev_io *io)
{
	uint64_t range[2] = {io->u.bdev.offset_blocks * disk->bdev.blocklen,
			     io->u.bdev.num_blocks * disk->bdev.blocklen};
	int rc;

	if (io->type == KEEL_BDEV_IO_TYPE_UNMAP && disk->file.is_blkdev) {
		rc = ioctl(disk->file.fd, BLKDISCARD, range) == 0 ? 0 : -errno;
		uring_complete_errno(disk, io, rc);
		return;
	}
	if (io->type == KEEL_BDEV_IO_TYPE_WRITE_ZEROES &&
	    !__atomic_load_n(&disk->no_zero_range, __ATOMIC_RELAXED)) {
		task->fallocate_mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	} else {
		task->fallocate_mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	}
	if (!disk->op_fallocate) {
		rc = uring_fallocate_now(disk, io, task->fallocate_mode);
		if (rc == -EOPNOTSUPP && (task->fallocate_mode & FALLOC_FL_ZERO_RANGE)) {
			__atomic_store_n(&disk->no_zero_range, true, __ATOMIC_RELAXED);
			rc = uring_fallocate_now(disk, io,
						 FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
		}
		uring_complete_errno(disk, io, rc);
		return;
	}
	if (!uring_prep_fallocate(disk, ch, task, io)) {
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_NOMEM);
	}
}

static void
uring_task_done(struct uring_channel *ch, struct uring_task *task, int res)
{
	struct keel_bdev_io *io = keel_bdev_io_from_ctx(task);
	struct uring_disk *disk = io->bdev->ctxt;

	if (res == -EOPNOTSUPP && io->type == KEEL_BDEV_IO_TYPE_WRITE_ZEROES &&
	    (task->fallocate_mode & FALLOC_FL_ZERO_RANGE)) {
		/* tmpfs and some others cannot zero a range: a hole reads back as zeroes too. */
		__atomic_store_n(&disk->no_zero_range, true, __ATOMIC_RELAXED);
		task->fallocate_mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		if (!uring_prep_fallocate(disk, ch, task, io)) {
			keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_NOMEM);
		}
		return;
	}
	if (res < 0) {
		uring_log_failure(disk, io, -res);
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_FAILED);
		return;
	}
	if ((io->type == KEEL_BDEV_IO_TYPE_READ || io->type == KEEL_BDEV_IO_TYPE_WRITE) &&
	    (uint64_t)res != io->u.bdev.num_blocks * disk->bdev.blocklen) {
		/* Only possible if the file shrank under us. */
		KEEL_ERRLOG("uring bdev %s (%s): short %s: %d of %" PRIu64 " bytes\n",
			    disk->bdev.name, disk->filename, uring_io_type_name(io->type), res,
			    io->u.bdev.num_blocks * disk->bdev.blocklen);
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_FAILED);
		return;
	}
	keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_SUCCESS);
}

/* Take every CQE off the ring and complete its I/O; returns how many. */
static int
uring_reap(struct uring_channel *ch)
{
	struct io_uring_cqe *cqes[URING_REAP_BATCH];
	struct uring_task *tasks[URING_REAP_BATCH];
	int res[URING_REAP_BATCH];
	unsigned int n, i;
	int total = 0;

	do {
		n = io_uring_peek_batch_cqe(&ch->ring, cqes, URING_REAP_BATCH);
		for (i = 0; i < n; i++) {
			tasks[i] = io_uring_cqe_get_data(cqes[i]);
			res[i] = cqes[i]->res;
		}
		/* Give the entries back before completing: completions may queue new SQEs. */
		io_uring_cq_advance(&ch->ring, n);
		ch->inflight -= n;
		for (i = 0; i < n; i++) {
			uring_task_done(ch, tasks[i], res[i]);
		}
		total += (int)n;
	} while (n == URING_REAP_BATCH);
	return total;
}

static void
uring_complete_resets(struct uring_channel *ch)
{
	struct uring_task *task;

	while (ch->inflight == 0 && (task = TAILQ_FIRST(&ch->resets)) != NULL) {
		TAILQ_REMOVE(&ch->resets, task, link);
		keel_bdev_io_complete(keel_bdev_io_from_ctx(task), KEEL_BDEV_IO_STATUS_SUCCESS);
	}
}

/*
 * Reap, then submit every SQE queued since the last run (by other pollers, by messages, or by
 * the completions just reaped) with one io_uring_enter(). A queued SQE makes the iteration
 * busy, so the thread runs this poller again before it may sleep.
 */
static int
uring_poll(void *arg)
{
	struct uring_channel *ch = arg;
	int n = 0, rc;

	if (ch->inflight == 0 && TAILQ_EMPTY(&ch->resets)) {
		return KEEL_POLLER_IDLE;
	}
	n += uring_reap(ch);
	if (io_uring_sq_ready(&ch->ring) > 0) {
		rc = io_uring_submit(&ch->ring);
		if (rc > 0) {
			n += rc;
		} else if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR) {
			KEEL_ERRLOG("uring: io_uring_submit: %s\n", keel_strerror(-rc));
		}
		/* What stays in the SQ is tried again on the next run, which must come: busy. */
		if (io_uring_sq_ready(&ch->ring) > 0) {
			n++;
		}
	}
	if (!TAILQ_EMPTY(&ch->resets) && ch->inflight == 0) {
		uring_complete_resets(ch);
		n++;
	}
	return n > 0 ? KEEL_POLLER_BUSY : KEEL_POLLER_IDLE;
}

static void
uring_submit_request(struct keel_io_channel *_ch, struct keel_bdev_io *io)
{
	struct uring_channel *ch = keel_io_channel_get_ctx(_ch);
	struct uring_task *task = (struct uring_task *)io->driver_ctx;
	struct uring_disk *disk = io->bdev->ctxt;
	uint64_t offset = io->u.bdev.offset_blocks * disk->bdev.blocklen;
	struct io_uring_sqe *sqe;

	switch (io->type) {
	case KEEL_BDEV_IO_TYPE_READ:
	case KEEL_BDEV_IO_TYPE_WRITE:
	case KEEL_BDEV_IO_TYPE_FLUSH:
		sqe = uring_get_sqe(ch, task);
		if (sqe == NULL) {
			keel_bdev_io_complete(io,
					      KEEL_BDEV_IO_STATUS_NOMEM); /* the layer retries */
			return;
		}
		if (io->type == KEEL_BDEV_IO_TYPE_READ) {
			io_uring_prep_readv(sqe, ch->fd, io->u.bdev.iovs,
					    (unsigned)io->u.bdev.iovcnt, offset);
		} else if (io->type == KEEL_BDEV_IO_TYPE_WRITE) {
			io_uring_prep_writev(sqe, ch->fd, io->u.bdev.iovs,
					     (unsigned)io->u.bdev.iovcnt, offset);
			if (io->u.bdev.flags & KEEL_BDEV_IO_FLAG_FUA) {
				sqe->rw_flags = RWF_DSYNC;
			}
		} else {
			/* The whole file, whatever the range: fdatasync has no range. */
			io_uring_prep_fsync(sqe, ch->fd, IORING_FSYNC_DATASYNC);
		}
		uring_sqe_finish(ch, sqe, task);
		break;
	case KEEL_BDEV_IO_TYPE_UNMAP:
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		uring_submit_deallocate(disk, ch, task, io);
		break;
	case KEEL_BDEV_IO_TYPE_RESET:
		/* Done once every SQE of this channel has come back. */
		if (ch->inflight == 0) {
			keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_SUCCESS);
		} else {
			TAILQ_INSERT_TAIL(&ch->resets, task, link);
		}
		break;
	default:
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_FAILED);
		break;
	}
}

static bool
uring_io_type_supported(void *ctx, enum keel_bdev_io_type type)
{
	struct uring_disk *disk = ctx;

	switch (type) {
	case KEEL_BDEV_IO_TYPE_READ:
	case KEEL_BDEV_IO_TYPE_WRITE:
	case KEEL_BDEV_IO_TYPE_FLUSH:
	case KEEL_BDEV_IO_TYPE_RESET:
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		return true;
	case KEEL_BDEV_IO_TYPE_UNMAP:
		return !disk->file.is_blkdev || disk->file.discard;
	default:
		/* COMPARE and COMPARE_AND_WRITE are emulated by the layer. */
		return false;
	}
}

static int
uring_channel_create(void *io_device, void *ctx_buf)
{
	struct uring_disk *disk = io_device;
	struct uring_channel *ch = ctx_buf;
	int rc;

	TAILQ_INIT(&ch->resets);
	rc = io_uring_queue_init(URING_QUEUE_DEPTH, &ch->ring, 0);
	if (rc < 0) {
		KEEL_ERRLOG("uring bdev %s: io_uring_queue_init(%u): %s\n", disk->bdev.name,
			    URING_QUEUE_DEPTH, keel_strerror(-rc));
		return rc;
	}
	/* A registered file saves the kernel a file-table lookup and reference per I/O. */
	rc = io_uring_register_files(&ch->ring, &disk->file.fd, 1);
	if (rc == 0) {
		ch->fd = 0;
		ch->sqe_flags = IOSQE_FIXED_FILE;
	} else {
		KEEL_WARNLOG("uring bdev %s: cannot register the file in the ring (%s); using its "
			     "descriptor\n",
			     disk->bdev.name, keel_strerror(-rc));
		ch->fd = disk->file.fd;
		ch->sqe_flags = 0;
	}
	ch->poller = keel_poller_register_named(uring_poll, ch, 0, "bdev_uring");
	if (ch->poller == NULL) {
		rc = -ENOMEM;
		goto err_exit_ring;
	}
	rc = keel_poller_set_interrupt_fd(ch->poller, ch->ring.ring_fd, EPOLLIN);
	if (rc != 0) {
		KEEL_ERRLOG("uring bdev %s: cannot watch the ring: %s\n", disk->bdev.name,
			    keel_strerror(-rc));
		goto err_unregister_poller;
	}
	return 0;

err_unregister_poller:
	keel_poller_unregister(&ch->poller);
err_exit_ring:
	io_uring_queue_exit(&ch->ring);
	return rc;
}

static void
uring_channel_destroy(void *io_device, void *ctx_buf)
{
	struct uring_disk *disk = io_device;
	struct uring_channel *ch = ctx_buf;

	/* The layer puts its channel only once its I/O is done. */
	if (ch->inflight != 0) {
		KEEL_ERRLOG("uring bdev %s: channel destroyed with %u I/O in flight\n",
			    disk->bdev.name, ch->inflight);
	}
	keel_poller_unregister(&ch->poller);
	io_uring_queue_exit(&ch->ring);
}

static struct keel_io_channel *
uring_get_io_channel(void *ctx)
{
	return keel_get_io_channel(ctx);
}

static void
uring_disk_free(struct uring_disk *disk)
{
	keel_bdev_file_close(&disk->file);
	free(disk->filename);
	free(disk->bdev.name);
	free(disk);
}

static void
uring_io_device_gone(void *io_device)
{
	struct uring_disk *disk = io_device;

	keel_bdev_destruct_done(&disk->bdev, 0);
	uring_disk_free(disk);
}

static int
uring_destruct(void *ctx)
{
	struct uring_disk *disk = ctx;

	/* Channels are put lazily: close the file once the last ring is gone. */
	keel_io_device_unregister(disk, uring_io_device_gone);
	return 1;
}

static void
uring_dump_info_json(void *ctx, struct json_object *obj)
{
	struct uring_disk *disk = ctx;
	struct json_object *uring = json_object_new_object();

	if (uring == NULL) {
		return;
	}
	json_object_object_add(uring, "filename", json_object_new_string(disk->filename));
	json_object_object_add(uring, "block_size_override",
			       json_object_new_boolean(disk->file.block_size_given));
	json_object_object_add(uring, "direct_io", json_object_new_boolean(disk->file.direct));
	json_object_object_add(obj, "uring", uring);
}

static void
uring_write_config_json(struct keel_bdev *bdev, struct json_object *array)
{
	struct uring_disk *disk = bdev->ctxt;
	struct json_object *call, *params;

	call = json_object_new_object();
	params = json_object_new_object();
	if (call == NULL || params == NULL) {
		json_object_put(call);
		json_object_put(params);
		return;
	}
	json_object_object_add(params, "name", json_object_new_string(bdev->name));
	json_object_object_add(params, "filename", json_object_new_string(disk->filename));
	json_object_object_add(params, "block_size", json_object_new_int64(bdev->blocklen));
	json_object_object_add(call, "method", json_object_new_string("bdev_uring_create"));
	json_object_object_add(call, "params", params);
	json_object_array_add(array, call);
}

static const struct keel_bdev_fn_table g_uring_fn_table = {
	.destruct = uring_destruct,
	.submit_request = uring_submit_request,
	.io_type_supported = uring_io_type_supported,
	.get_io_channel = uring_get_io_channel,
	.dump_info_json = uring_dump_info_json,
	.write_config_json = uring_write_config_json,
};

/* Can this kernel do io_uring at all, and fallocate through it? */
static int
uring_probe(struct uring_disk *disk, char *err, size_t err_len)
{
	struct io_uring_probe *probe = io_uring_get_probe();

	if (probe == NULL) {
		keel_bdev_set_err(err, err_len,
			      "io_uring is not available (Linux 5.1 or later is "
			      "needed, and it may be disabled by kernel.io_uring_disabled or a "
			      "seccomp filter)");
		return -ENOTSUP;
	}
	disk->op_fallocate = io_uring_opcode_supported(probe, IORING_OP_FALLOCATE);
	io_uring_free_probe(probe);
	return 0;
}

int
bdev_uring_create(const struct uring_bdev_opts *opts, struct keel_bdev **bdev, char *err,
		  size_t err_len)
{
	struct uring_disk *disk;
	int rc;

	rc = keel_bdev_file_check_args(opts->name, opts->filename, err, err_len);
	if (rc != 0) {
		return rc;
	}
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL) {
		keel_bdev_set_err(err, err_len, "out of memory");
		return -ENOMEM;
	}
	disk->file.fd = -1;
	disk->bdev.name = strdup(opts->name);
	disk->filename = strdup(opts->filename);
	if (disk->bdev.name == NULL || disk->filename == NULL) {
		keel_bdev_set_err(err, err_len, "out of memory");
		rc = -ENOMEM;
		goto err_free_disk;
	}
	rc = uring_probe(disk, err, err_len);
	if (rc != 0) {
		goto err_free_disk;
	}
	rc = keel_bdev_file_open(&disk->file, opts->name, opts->filename, opts->block_size, err,
				 err_len);
	if (rc != 0) {
		goto err_free_disk;
	}
	disk->bdev.blocklen = disk->file.block_size;
	disk->bdev.blockcnt = disk->file.block_count;
	disk->bdev.required_alignment = (uint32_t)__builtin_ctz(disk->file.block_size);
	disk->bdev.product_name = "URING disk";
	disk->bdev.write_cache = true;
	/* A punched hole reads back as zeroes; a discarded device block need not. */
	disk->bdev.unmap_reads_zeroes = !disk->file.is_blkdev;
	disk->bdev.ctxt = disk;
	disk->bdev.fn_table = &g_uring_fn_table;
	disk->bdev.module = &g_uring_module;

	keel_io_device_register(disk, uring_channel_create, uring_channel_destroy,
				sizeof(struct uring_channel), disk->bdev.name);
	rc = keel_bdev_register(&disk->bdev);
	if (rc != 0) {
		if (rc == -EEXIST) {
			keel_bdev_set_err(err, err_len,
				      "Invalid parameter 'name': bdev '%s' already exists",
				      opts->name);
		} else {
			keel_bdev_set_err(err, err_len, "cannot register bdev '%s': %s", opts->name,
				      keel_strerror(-rc));
		}
		/* No channel can exist yet: the io_device goes at once. */
		keel_io_device_unregister(disk, NULL);
		goto err_free_disk;
	}
	KEEL_INFOLOG(uring, "uring bdev %s: %s, %" PRIu64 " blocks of %" PRIu32 " bytes%s\n",
		     disk->bdev.name, disk->filename, disk->bdev.blockcnt, disk->bdev.blocklen,
		     disk->file.direct ? "" : " (buffered I/O)");
	*bdev = &disk->bdev;
	return 0;

err_free_disk:
	uring_disk_free(disk);
	return rc;
}

int
bdev_uring_delete(const char *name, keel_bdev_done_cb cb, void *cb_arg)
{
	struct keel_bdev *bdev = keel_bdev_get_by_name(name);

	if (bdev == NULL || bdev->module != &g_uring_module) {
		return -ENODEV;
	}
	return keel_bdev_unregister_by_name(bdev->name, &g_uring_module, cb, cb_arg);
}

/*
 * [Uring] of the legacy configuration file (SPDK has none; it mirrors [AIO]), one bdev per
 * line:
 *     Uring <file> <bdev name> [<block size>]
 * A line that cannot be used is logged and skipped; the others still start.
 */
static void
uring_read_conf_line(struct keel_conf *conf, struct keel_conf_section *sp, int idx)
{
	struct uring_bdev_opts opts = {0};
	const char *bs;
	struct keel_bdev *bdev;
	int line = keel_conf_section_get_item_line(sp, "Uring", idx);
	char err[512];

	opts.filename = keel_conf_section_get_nmval(sp, "Uring", idx, 0);
	opts.name = keel_conf_section_get_nmval(sp, "Uring", idx, 1);
	bs = keel_conf_section_get_nmval(sp, "Uring", idx, 2);
	if (opts.name == NULL) {
		KEEL_ERRLOG("%s:%d: [Uring] Uring %s: no bdev name (Uring <file> <name> "
			    "[<block size>])\n",
			    keel_conf_get_name(conf), line, opts.filename);
		return;
	}
	if (bs != NULL && keel_parse_u32(bs, &opts.block_size) != 0) {
		KEEL_ERRLOG("%s:%d: [Uring] Uring %s %s: block size '%s' is not a number\n",
			    keel_conf_get_name(conf), line, opts.filename, opts.name, bs);
		return;
	}
	if (keel_conf_section_get_nmval(sp, "Uring", idx, 3) != NULL) {
		KEEL_WARNLOG("%s:%d: [Uring] Uring %s %s: extra values ignored\n",
			     keel_conf_get_name(conf), line, opts.filename, opts.name);
	}
	if (bdev_uring_create(&opts, &bdev, err, sizeof(err)) != 0) {
		KEEL_ERRLOG("%s:%d: [Uring] cannot create bdev %s: %s\n", keel_conf_get_name(conf),
			    line, opts.name, err);
	}
}

static int
uring_module_init(void)
{
	struct keel_conf *conf = keel_conf_get_default();
	struct keel_conf_section *sp;
	int i;

	sp = conf != NULL ? keel_conf_find_section(conf, "Uring") : NULL;
	if (sp == NULL) {
		return 0;
	}
	for (i = 0; keel_conf_section_get_nmval(sp, "Uring", i, 0) != NULL; i++) {
		uring_read_conf_line(conf, sp, i);
	}
	return 0;
}

static struct keel_bdev_module g_uring_module = {
	.name = "uring",
	.module_init = uring_module_init,
	.module_fini = NULL, /* every bdev is gone by then and each closed its own file */
	.io_ctx_size = sizeof(struct uring_task),
	.config_json = NULL, /* no module-wide options */
};
KEEL_BDEV_MODULE_REGISTER(uring, &g_uring_module)
