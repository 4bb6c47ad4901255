/*
 * The aio bdev module: a file or block device driven through Linux native AIO (libaio) and
 * opened O_DIRECT. Each thread gets its own io_context per bdev; reads, writes and flushes are
 * submitted as iocbs and reaped by the channel's poller, which an eventfd wakes in interrupt mode.
 */
#include "keel/stdinc.h"
#include "keel/bdev_module.h"
#include "keel/conf.h"
#include "keel/log.h"
#include "keel/thread.h"
#include "keel/util.h"

#include <json-c/json.h>
#include <libaio.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include "bdev_aio.h"

KEEL_LOG_REGISTER_COMPONENT(aio)

#define AIO_QUEUE_DEPTH 128u     /* iocbs in flight per channel; more get NOMEM */
#define AIO_REAP_BATCH 32

struct aio_disk {
	struct keel_bdev bdev;
	char *filename;
	struct keel_bdev_file file; /* fd, O_DIRECT or not, geometry */
	/*
	 * What the kernel turned down once, learned on first use and then avoided on every
	 * thread (read and written with relaxed atomics: a race only repeats the first try).
	 */
	bool no_aio_fdsync; /* IO_CMD_FDSYNC refused: flush with fdatasync() on the reactor */
	bool no_rwf_dsync;  /* RWF_DSYNC refused: FUA write = write, then fdatasync() */
	bool no_zero_range; /* FALLOC_FL_ZERO_RANGE refused: write zeroes by punching a hole */
};

/* Per-I/O context (driver_ctx of the bdev_io). */
struct aio_task {
	struct iocb iocb;
	bool sync_after; /* FUA write without RWF_DSYNC: fdatasync() once the write is done */
	TAILQ_ENTRY(aio_task) link;
};

/*
 * Per-thread context of one bdev. Every iocb is submitted with IOCB_FLAG_RESFD, so the kernel
 * adds exactly 1 to the eventfd for each completion, after putting the event in the ring.
 * signals_read counts what was read back from the eventfd and reaped what was taken off the
 * ring: the eventfd has to be drained only while reaped > signals_read, which keeps the read()
 * off the poll loop when nothing completes, and never leaves a count behind that would wake an
 * interrupt-mode reactor for nothing.
 */
struct aio_channel {
	io_context_t ctx;
	int efd;
	struct keel_poller *poller;
	uint32_t inflight;
	uint64_t reaped;
	uint64_t signals_read;
	TAILQ_HEAD(, aio_task) resets; /* waiting for inflight to reach 0 */
};

static struct keel_bdev_module g_aio_module;
static const struct keel_bdev_fn_table g_aio_fn_table;

static bool
aio_flag_get(const bool *flag)
{
	return __atomic_load_n(flag, __ATOMIC_RELAXED);
}

static void
aio_flag_set(bool *flag)
{
	__atomic_store_n(flag, true, __ATOMIC_RELAXED);
}

static void
aio_log_failure(struct aio_disk *disk, struct keel_bdev_io *io, const char *what, int errnum)
{
	KEEL_ERRLOG("aio bdev %s (%s): %s of %" PRIu64 " blocks at block %" PRIu64 " failed: %s\n",
		    disk->bdev.name, disk->filename, what, io->u.bdev.num_blocks,
		    io->u.bdev.offset_blocks, keel_strerror(errnum));
}

static const char *
aio_io_type_name(enum keel_bdev_io_type type)
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

/* Synchronous fdatasync() on the reactor, for what the kernel would not take as an iocb. */
static enum keel_bdev_io_status
aio_sync_now(struct aio_disk *disk, struct keel_bdev_io *io)
{
	if (fdatasync(disk->file.fd) != 0) {
		aio_log_failure(disk, io, "fdatasync", errno);
		return KEEL_BDEV_IO_STATUS_FAILED;
	}
	return KEEL_BDEV_IO_STATUS_SUCCESS;
}

static void
aio_task_complete(struct aio_channel *ch, struct aio_task *task, long res)
{
	struct keel_bdev_io *io = keel_bdev_io_from_ctx(task);
	struct aio_disk *disk = io->bdev->ctxt;
	enum keel_bdev_io_status status = KEEL_BDEV_IO_STATUS_SUCCESS;

	if (res < 0) {
		aio_log_failure(disk, io, aio_io_type_name(io->type), (int)-res);
		status = KEEL_BDEV_IO_STATUS_FAILED;
	} else if ((io->type == KEEL_BDEV_IO_TYPE_READ || io->type == KEEL_BDEV_IO_TYPE_WRITE) &&
		   (uint64_t)res != io->u.bdev.num_blocks * disk->bdev.blocklen) {
		/* Only possible if the file shrank under us. */
		KEEL_ERRLOG("aio bdev %s (%s): short %s: %ld of %" PRIu64 " bytes\n",
			    disk->bdev.name, disk->filename, aio_io_type_name(io->type), res,
			    io->u.bdev.num_blocks * disk->bdev.blocklen);
		status = KEEL_BDEV_IO_STATUS_FAILED;
	} else if (task->sync_after) {
		status = aio_sync_now(disk, io);
	}
	keel_bdev_io_complete(io, status);
}

/* Read back what the eventfd holds (0 if nothing). */
static void
aio_drain_eventfd(struct aio_channel *ch)
{
	uint64_t count;

	if (read(ch->efd, &count, sizeof(count)) == (ssize_t)sizeof(count)) {
		ch->signals_read += count;
	}
}

/* Take every completed event off the ring and complete its I/O; returns how many. */
static int
aio_reap(struct aio_channel *ch)
{
	struct io_event events[AIO_REAP_BATCH];
	struct timespec zero = {0, 0};
	int n, i, total = 0;

	do {
		/* With a zero timeout libaio looks at the ring in user space: no system call when
		 * it is empty. */
		n = io_getevents(ch->ctx, 0, AIO_REAP_BATCH, events, &zero);
		if (n <= 0) {
			if (n < 0 && n != -EINTR) {
				KEEL_ERRLOG("aio: io_getevents: %s\n", keel_strerror(-n));
			}
			break;
		}
		ch->inflight -= (uint32_t)n;
		ch->reaped += (uint64_t)n;
		for (i = 0; i < n; i++) {
			aio_task_complete(ch, events[i].data, (long)events[i].res);
		}
		total += n;
	} while (n == AIO_REAP_BATCH);
	return total;
}

static void
aio_complete_resets(struct aio_channel *ch)
{
	struct aio_task *task;

	while (ch->inflight == 0 && (task = TAILQ_FIRST(&ch->resets)) != NULL) {
		TAILQ_REMOVE(&ch->resets, task, link);
		keel_bdev_io_complete(keel_bdev_io_from_ctx(task), KEEL_BDEV_IO_STATUS_SUCCESS);
	}
}

static int
aio_poll(void *arg)
{
	struct aio_channel *ch = arg;
	int n;

	if (ch->inflight == 0 && ch->reaped == ch->signals_read && TAILQ_EMPTY(&ch->resets)) {
		return KEEL_POLLER_IDLE;
	}
	n = aio_reap(ch);
	if (ch->reaped > ch->signals_read) {
		/* Drain, then look again: an event whose count was just read is in the ring. */
		aio_drain_eventfd(ch);
		n += aio_reap(ch);
	}
	if (!TAILQ_EMPTY(&ch->resets) && ch->inflight == 0) {
		aio_complete_resets(ch);
		n++;
	}
	return n > 0 ? KEEL_POLLER_BUSY : KEEL_POLLER_IDLE;
}

/* Hand one prepared iocb to the kernel. \return 0; -errno from io_submit. */
static int
aio_submit_iocb(struct aio_channel *ch, struct aio_task *task)
{
	struct iocb *iocb = &task->iocb;
	int rc;

	if (ch->inflight >= AIO_QUEUE_DEPTH) {
		return -EAGAIN;
	}
	io_set_eventfd(iocb, ch->efd);
	iocb->data = task;
	rc = io_submit(ch->ctx, 1, &iocb);
	if (rc == 1) {
		ch->inflight++;
		return 0;
	}
	return rc < 0 ? rc : -EAGAIN;
}

static enum keel_bdev_io_status
aio_submit_status(struct aio_disk *disk, struct keel_bdev_io *io, int rc)
{
	if (rc == -EAGAIN) {
		return KEEL_BDEV_IO_STATUS_NOMEM; /* the layer retries it */
	}
	aio_log_failure(disk, io, "io_submit", -rc);
	return KEEL_BDEV_IO_STATUS_FAILED;
}

static void
aio_submit_rw(struct aio_disk *disk, struct aio_channel *ch, struct aio_task *task,
	      struct keel_bdev_io *io)
{
	long long offset = (long long)(io->u.bdev.offset_blocks * disk->bdev.blocklen);
	bool fua =
		io->type == KEEL_BDEV_IO_TYPE_WRITE && (io->u.bdev.flags & KEEL_BDEV_IO_FLAG_FUA);
	int rc;

	task->sync_after = false;
	if (io->type == KEEL_BDEV_IO_TYPE_READ) {
		io_prep_preadv(&task->iocb, disk->file.fd, io->u.bdev.iovs, io->u.bdev.iovcnt, offset);
	} else {
		io_prep_pwritev(&task->iocb, disk->file.fd, io->u.bdev.iovs, io->u.bdev.iovcnt, offset);
	}
	if (fua && !aio_flag_get(&disk->no_rwf_dsync)) {
		task->iocb.aio_rw_flags = RWF_DSYNC;
	} else if (fua) {
		task->sync_after = true;
	}
	rc = aio_submit_iocb(ch, task);
	if ((rc == -EINVAL || rc == -EOPNOTSUPP) && task->iocb.aio_rw_flags != 0) {
		/* Kernels before 4.13 take no per-I/O flags: write, then fdatasync(). */
		KEEL_WARNLOG(
			"aio bdev %s: the kernel refuses RWF_DSYNC; FUA writes are followed by "
			"fdatasync()\n",
			disk->bdev.name);
		aio_flag_set(&disk->no_rwf_dsync);
		task->iocb.aio_rw_flags = 0;
		task->sync_after = true;
		rc = aio_submit_iocb(ch, task);
	}
	if (rc != 0) {
		keel_bdev_io_complete(io, aio_submit_status(disk, io, rc));
	}
}

static void
aio_submit_flush(struct aio_disk *disk, struct aio_channel *ch, struct aio_task *task,
		 struct keel_bdev_io *io)
{
	int rc;

	/* A flush covers the whole file whatever its range: fdatasync has no range. */
	if (!aio_flag_get(&disk->no_aio_fdsync)) {
		task->sync_after = false;
		io_prep_fdsync(&task->iocb, disk->file.fd);
		rc = aio_submit_iocb(ch, task);
		if (rc == 0) {
			return;
		}
		if (rc != -EINVAL) {
			keel_bdev_io_complete(io, aio_submit_status(disk, io, rc));
			return;
		}
		/*
		 * The file system has no asynchronous fsync (IO_CMD_FDSYNC needs Linux 4.18 and a
		 * file system with fsync). No thread may be started per I/O, so the flush runs here
		 * and stalls this reactor for as long as it takes; flushes are rare next to reads
		 * and writes, and correctness comes first.
		 */
		KEEL_WARNLOG("aio bdev %s: no asynchronous fdatasync for %s; flushes run "
			     "synchronously\n",
			     disk->bdev.name, disk->filename);
		aio_flag_set(&disk->no_aio_fdsync);
	}
	keel_bdev_io_complete(io, aio_sync_now(disk, io));
}

/*
 * UNMAP and WRITE_ZEROES have no AIO command: they are done synchronously on the reactor. On a
 * file, fallocate() only changes extents (fast); on a block device, BLKDISCARD and BLKZEROOUT
 * may take longer, which is the price of not having a thread per I/O.
 */
static int
aio_fallocate(struct aio_disk *disk, bool zeroes, uint64_t offset, uint64_t len)
{
	int mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;

	if (zeroes && !aio_flag_get(&disk->no_zero_range)) {
		if (fallocate(disk->file.fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
			      (off_t)len) == 0) {
			return 0;
		}
		if (errno != EOPNOTSUPP) {
			return -errno;
		}
		/* tmpfs and some others: a hole reads back as zeroes too. */
		aio_flag_set(&disk->no_zero_range);
	}
	if (fallocate(disk->file.fd, mode, (off_t)offset, (off_t)len) != 0) {
		return -errno;
	}
	return 0;
}

static void
aio_submit_deallocate(struct aio_disk *disk, struct keel_bdev_io *io)
{
	uint64_t range[2] = {io->u.bdev.offset_blocks * disk->bdev.blocklen,
			     io->u.bdev.num_blocks * disk->bdev.blocklen};
	bool zeroes = io->type == KEEL_BDEV_IO_TYPE_WRITE_ZEROES;
	int rc = 0;

	if (!disk->file.is_blkdev) {
		rc = aio_fallocate(disk, zeroes, range[0], range[1]);
	} else if (ioctl(disk->file.fd, zeroes ? BLKZEROOUT : BLKDISCARD, range) != 0) {
		rc = -errno;
	}
	if (rc != 0) {
		aio_log_failure(disk, io, aio_io_type_name(io->type), -rc);
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_FAILED);
		return;
	}
	keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_SUCCESS);
}

static void
aio_submit_request(struct keel_io_channel *_ch, struct keel_bdev_io *io)
{
	struct aio_channel *ch = keel_io_channel_get_ctx(_ch);
	struct aio_task *task = (struct aio_task *)io->driver_ctx;
	struct aio_disk *disk = io->bdev->ctxt;

	switch (io->type) {
	case KEEL_BDEV_IO_TYPE_READ:
	case KEEL_BDEV_IO_TYPE_WRITE:
		aio_submit_rw(disk, ch, task, io);
		break;
	case KEEL_BDEV_IO_TYPE_FLUSH:
		aio_submit_flush(disk, ch, task, io);
		break;
	case KEEL_BDEV_IO_TYPE_UNMAP:
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		aio_submit_deallocate(disk, io);
		break;
	case KEEL_BDEV_IO_TYPE_RESET:
		/* Done once every iocb this channel has at the kernel has come back. */
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
aio_io_type_supported(void *ctx, enum keel_bdev_io_type type)
{
	struct aio_disk *disk = ctx;

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
aio_channel_create(void *io_device, void *ctx_buf)
{
	struct aio_disk *disk = io_device;
	struct aio_channel *ch = ctx_buf;
	int rc;

	TAILQ_INIT(&ch->resets);
	rc = io_setup(AIO_QUEUE_DEPTH, &ch->ctx);
	if (rc < 0) {
		KEEL_ERRLOG("aio bdev %s: io_setup(%u): %s (see /proc/sys/fs/aio-max-nr)\n",
			    disk->bdev.name, AIO_QUEUE_DEPTH, keel_strerror(-rc));
		return rc;
	}
	ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ch->efd < 0) {
		rc = -errno;
		KEEL_ERRLOG("aio bdev %s: eventfd: %s\n", disk->bdev.name, keel_strerror(-rc));
		goto err_destroy_ctx;
	}
	ch->poller = keel_poller_register_named(aio_poll, ch, 0, "bdev_aio");
	if (ch->poller == NULL) {
		rc = -ENOMEM;
		goto err_close_efd;
	}
	rc = keel_poller_set_interrupt_fd(ch->poller, ch->efd, 0);
	if (rc != 0) {
		KEEL_ERRLOG("aio bdev %s: cannot watch the completion eventfd: %s\n",
			    disk->bdev.name, keel_strerror(-rc));
		goto err_unregister_poller;
	}
	return 0;

err_unregister_poller:
	keel_poller_unregister(&ch->poller);
err_close_efd:
	close(ch->efd);
err_destroy_ctx:
	io_destroy(ch->ctx);
	return rc;
}

static void
aio_channel_destroy(void *io_device, void *ctx_buf)
{
	struct aio_disk *disk = io_device;
	struct aio_channel *ch = ctx_buf;

	/* The layer puts its channel only once its I/O is done. */
	if (ch->inflight != 0) {
		KEEL_ERRLOG("aio bdev %s: channel destroyed with %u I/O in flight\n",
			    disk->bdev.name, ch->inflight);
	}
	keel_poller_unregister(&ch->poller);
	io_destroy(ch->ctx);
	close(ch->efd);
}

static struct keel_io_channel *
aio_get_io_channel(void *ctx)
{
	return keel_get_io_channel(ctx);
}

static void
aio_disk_free(struct aio_disk *disk)
{
	keel_bdev_file_close(&disk->file);
	free(disk->filename);
	free(disk->bdev.name);
	free(disk);
}

static void
aio_io_device_gone(void *io_device)
{
	struct aio_disk *disk = io_device;

	keel_bdev_destruct_done(&disk->bdev, 0);
	aio_disk_free(disk);
}

static int
aio_destruct(void *ctx)
{
	struct aio_disk *disk = ctx;

	/* Channels are put lazily: close the file once the last one is gone. */
	keel_io_device_unregister(disk, aio_io_device_gone);
	return 1;
}

static void
aio_dump_info_json(void *ctx, struct json_object *obj)
{
	struct aio_disk *disk = ctx;
	struct json_object *aio = json_object_new_object();

	if (aio == NULL) {
		return;
	}
	json_object_object_add(aio, "filename", json_object_new_string(disk->filename));
	json_object_object_add(aio, "block_size_override",
			       json_object_new_boolean(disk->file.block_size_given));
	json_object_object_add(aio, "readonly", json_object_new_boolean(false));
	json_object_object_add(aio, "direct_io", json_object_new_boolean(disk->file.direct));
	json_object_object_add(obj, "aio", aio);
}

static void
aio_write_config_json(struct keel_bdev *bdev, struct json_object *array)
{
	struct aio_disk *disk = bdev->ctxt;
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
	json_object_object_add(call, "method", json_object_new_string("bdev_aio_create"));
	json_object_object_add(call, "params", params);
	json_object_array_add(array, call);
}

static const struct keel_bdev_fn_table g_aio_fn_table = {
	.destruct = aio_destruct,
	.submit_request = aio_submit_request,
	.io_type_supported = aio_io_type_supported,
	.get_io_channel = aio_get_io_channel,
	.dump_info_json = aio_dump_info_json,
	.write_config_json = aio_write_config_json,
};

int
bdev_aio_create(const struct aio_bdev_opts *opts, struct keel_bdev **bdev, char *err,
		size_t err_len)
{
	struct aio_disk *disk;
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
	rc = keel_bdev_file_open(&disk->file, opts->name, opts->filename, opts->block_size, err,
				 err_len);
	if (rc != 0) {
		goto err_free_disk;
	}
	disk->bdev.blocklen = disk->file.block_size;
	disk->bdev.blockcnt = disk->file.block_count;
	disk->bdev.required_alignment = (uint32_t)__builtin_ctz(disk->file.block_size);
	disk->bdev.product_name = "AIO disk";
	disk->bdev.write_cache = true;
	/* A punched hole reads back as zeroes; a discarded device block need not. */
	disk->bdev.unmap_reads_zeroes = !disk->file.is_blkdev;
	disk->bdev.ctxt = disk;
	disk->bdev.fn_table = &g_aio_fn_table;
	disk->bdev.module = &g_aio_module;

	keel_io_device_register(disk, aio_channel_create, aio_channel_destroy,
				sizeof(struct aio_channel), disk->bdev.name);
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
	KEEL_INFOLOG(aio, "aio bdev %s: %s, %" PRIu64 " blocks of %" PRIu32 " bytes%s\n",
		     disk->bdev.name, disk->filename, disk->bdev.blockcnt, disk->bdev.blocklen,
		     disk->file.direct ? "" : " (buffered I/O)");
	*bdev = &disk->bdev;
	return 0;

err_free_disk:
	aio_disk_free(disk);
	return rc;
}

int
bdev_aio_delete(const char *name, keel_bdev_done_cb cb, void *cb_arg)
{
	struct keel_bdev *bdev = keel_bdev_get_by_name(name);

	if (bdev == NULL || bdev->module != &g_aio_module) {
		return -ENODEV;
	}
	return keel_bdev_unregister_by_name(bdev->name, &g_aio_module, cb, cb_arg);
}

/*
 * [AIO] of the legacy configuration file, one bdev per line:
 *     AIO <file> <bdev name> [<block size>]
 * As in SPDK, a line that cannot be used is logged and skipped; the others still start.
 */
static void
aio_read_conf_line(struct keel_conf *conf, struct keel_conf_section *sp, int idx)
{
	struct aio_bdev_opts opts = {0};
	const char *bs;
	struct keel_bdev *bdev;
	int line = keel_conf_section_get_item_line(sp, "AIO", idx);
	char err[512];

	opts.filename = keel_conf_section_get_nmval(sp, "AIO", idx, 0);
	opts.name = keel_conf_section_get_nmval(sp, "AIO", idx, 1);
	bs = keel_conf_section_get_nmval(sp, "AIO", idx, 2);
	if (opts.name == NULL) {
		KEEL_ERRLOG(
			"%s:%d: [AIO] AIO %s: no bdev name (AIO <file> <name> [<block size>])\n",
			keel_conf_get_name(conf), line, opts.filename);
		return;
	}
	if (bs != NULL && keel_parse_u32(bs, &opts.block_size) != 0) {
		KEEL_ERRLOG("%s:%d: [AIO] AIO %s %s: block size '%s' is not a number\n",
			    keel_conf_get_name(conf), line, opts.filename, opts.name, bs);
		return;
	}
	if (keel_conf_section_get_nmval(sp, "AIO", idx, 3) != NULL) {
		KEEL_WARNLOG("%s:%d: [AIO] AIO %s %s: extra values ignored\n",
			     keel_conf_get_name(conf), line, opts.filename, opts.name);
	}
	if (bdev_aio_create(&opts, &bdev, err, sizeof(err)) != 0) {
		KEEL_ERRLOG("%s:%d: [AIO] cannot create bdev %s: %s\n", keel_conf_get_name(conf),
			    line, opts.name, err);
	}
}

static int
aio_module_init(void)
{
	struct keel_conf *conf = keel_conf_get_default();
	struct keel_conf_section *sp;
	int i;

	sp = conf != NULL ? keel_conf_find_section(conf, "AIO") : NULL;
	if (sp == NULL) {
		return 0;
	}
	for (i = 0; keel_conf_section_get_nmval(sp, "AIO", i, 0) != NULL; i++) {
		aio_read_conf_line(conf, sp, i);
	}
	return 0;
}

static struct keel_bdev_module g_aio_module = {
	.name = "aio",
	.module_init = aio_module_init,
	.module_fini = NULL, /* every bdev is gone by then and each closed its own file */
	.io_ctx_size = sizeof(struct aio_task),
	.config_json = NULL, /* no module-wide options */
};
KEEL_BDEV_MODULE_REGISTER(aio, &g_aio_module)
