/*
 * The malloc bdev module: RAM disks in DMA-safe memory. Reads, writes and zeroing go through
 * the copy engine (lib/accel) on the channel of the calling thread; flush, reset and compare
 * are done here and completed from a per-channel poller, never inside the submit call. A
 * zero-copy read (KEEL_BDEV_IO_FLAG_ZCOPY) gets the address of its blocks instead of a copy.
 */
#include "keel/stdinc.h"
#include "keel/accel.h"
#include "keel/bdev_module.h"
#include "keel/conf.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/log.h"
#include "keel/thread.h"
#include "keel/util.h"

#include <json-c/json.h>

#include "bdev_malloc.h"

#define MALLOC_MIN_BLOCK_SIZE 512u
#define MALLOC_MAX_BLOCK_SIZE 65536u
#define MALLOC_CONF_DEFAULT_BLOCK_SIZE 512

struct malloc_disk {
	struct keel_bdev bdev;
	uint8_t *buf;
	TAILQ_ENTRY(malloc_disk) link;
};

/* Per-I/O context (driver_ctx of the bdev_io). */
struct malloc_task {
	enum keel_bdev_io_status status;
	uint64_t miscompare_offset;
	struct iovec disk_iov; /* the disk side of a copy; lives until the copy completes */
	STAILQ_ENTRY(malloc_task) link;
};

/* Per-thread context: the copy engine's channel and the I/O completed here but not yet
 * reported (the poller runs only while that list is not empty). */
struct malloc_channel {
	struct keel_io_channel *accel_ch;
	struct keel_poller *poller;
	STAILQ_HEAD(, malloc_task) completions;
};

static TAILQ_HEAD(, malloc_disk) g_malloc_disks = TAILQ_HEAD_INITIALIZER(g_malloc_disks);
static bool g_malloc_io_device_registered;

static struct keel_bdev_module g_malloc_module;

static struct keel_bdev_io *
malloc_task_to_io(struct malloc_task *task)
{
	return keel_bdev_io_from_ctx(task);
}

static void
malloc_task_complete(struct malloc_task *task)
{
	struct keel_bdev_io *io = malloc_task_to_io(task);

	if (task->status == KEEL_BDEV_IO_STATUS_MISCOMPARE) {
		keel_bdev_io_complete_miscompare(io, task->miscompare_offset);
	} else {
		keel_bdev_io_complete(io, task->status);
	}
}

static int
malloc_completion_poll(void *arg)
{
	struct malloc_channel *ch = arg;
	STAILQ_HEAD(, malloc_task) batch = STAILQ_HEAD_INITIALIZER(batch);
	struct malloc_task *task;

	if (STAILQ_EMPTY(&ch->completions)) {
		keel_poller_pause(ch->poller);
		return KEEL_POLLER_IDLE;
	}
	/* Completions may submit new I/O here: those wait for the next run. */
	STAILQ_CONCAT(&batch, &ch->completions);
	while ((task = STAILQ_FIRST(&batch)) != NULL) {
		STAILQ_REMOVE_HEAD(&batch, link);
		malloc_task_complete(task);
	}
	if (STAILQ_EMPTY(&ch->completions)) {
		keel_poller_pause(ch->poller);
	}
	return KEEL_POLLER_BUSY;
}

/* Report the I/O from the channel's poller, after the submit call has returned. */
static void
malloc_complete_later(struct malloc_channel *ch, struct malloc_task *task,
		      enum keel_bdev_io_status status)
{
	task->status = status;
	if (STAILQ_EMPTY(&ch->completions)) {
		keel_poller_resume(ch->poller);
	}
	STAILQ_INSERT_TAIL(&ch->completions, task, link);
}

static void
malloc_accel_done(void *arg, int status)
{
	struct malloc_task *task = arg;

	if (status == 0) {
		task->status = KEEL_BDEV_IO_STATUS_SUCCESS;
	} else if (status == -ENOMEM) {
		task->status = KEEL_BDEV_IO_STATUS_NOMEM;
	} else {
		task->status = KEEL_BDEV_IO_STATUS_FAILED;
	}
	malloc_task_complete(task);
}

/* COMPARE: the first byte of the caller's data that differs from the disk, if any. */
static void
malloc_compare(struct malloc_disk *disk, struct keel_bdev_io *io, struct malloc_task *task)
{
	const uint8_t *disk_data = disk->buf + io->u.bdev.offset_blocks * disk->bdev.blocklen;
	uint64_t remaining = io->u.bdev.num_blocks * disk->bdev.blocklen;
	uint64_t done = 0;
	int i;

	task->status = KEEL_BDEV_IO_STATUS_SUCCESS;
	for (i = 0; i < io->u.bdev.iovcnt && remaining > 0; i++) {
		const uint8_t *data = io->u.bdev.iovs[i].iov_base;
		size_t len = KEEL_MIN(io->u.bdev.iovs[i].iov_len, remaining);
		size_t j;

		if (memcmp(data, disk_data + done, len) != 0) {
			for (j = 0; j < len && data[j] == disk_data[done + j]; j++) {
			}
			task->status = KEEL_BDEV_IO_STATUS_MISCOMPARE;
			task->miscompare_offset = done + j;
			return;
		}
		done += len;
		remaining -= len;
	}
	if (remaining > 0) {
		/* Fewer bytes of data than blocks to compare: the layer should never do this. */
		task->status = KEEL_BDEV_IO_STATUS_FAILED;
	}
}

static void
malloc_submit_request(struct keel_io_channel *_ch, struct keel_bdev_io *io)
{
	struct malloc_channel *ch = keel_io_channel_get_ctx(_ch);
	struct malloc_task *task = (struct malloc_task *)io->driver_ctx;
	struct malloc_disk *disk = io->bdev->ctxt;
	uint64_t offset_bytes = io->u.bdev.offset_blocks * disk->bdev.blocklen;
	uint64_t len_bytes = io->u.bdev.num_blocks * disk->bdev.blocklen;
	int rc;

	task->disk_iov.iov_base = disk->buf + offset_bytes;
	task->disk_iov.iov_len = len_bytes;
	switch (io->type) {
	case KEEL_BDEV_IO_TYPE_READ:
		if (io->u.bdev.flags & KEEL_BDEV_IO_FLAG_ZCOPY) {
			/* The caller reads the disk where it lies (zcopy_read). */
			io->u.bdev.iovs[0].iov_base = task->disk_iov.iov_base;
			malloc_complete_later(ch, task, KEEL_BDEV_IO_STATUS_SUCCESS);
			return;
		}
		rc = keel_accel_submit_copyv(ch->accel_ch, io->u.bdev.iovs, io->u.bdev.iovcnt,
					     &task->disk_iov, 1, malloc_accel_done, task);
		break;
	case KEEL_BDEV_IO_TYPE_WRITE:
		/* Memory is the stable storage here: FUA needs nothing more. */
		rc = keel_accel_submit_copyv(ch->accel_ch, &task->disk_iov, 1, io->u.bdev.iovs,
					     io->u.bdev.iovcnt, malloc_accel_done, task);
		break;
	case KEEL_BDEV_IO_TYPE_UNMAP:
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		/* Unmapped blocks read back as zeroes (LBPRZ). */
		rc = keel_accel_submit_fill(ch->accel_ch, task->disk_iov.iov_base, 0, len_bytes,
					    malloc_accel_done, task);
		break;
	case KEEL_BDEV_IO_TYPE_FLUSH:
	case KEEL_BDEV_IO_TYPE_RESET:
		/* No cache to write back; the layer itself waits for outstanding I/O on reset. */
		malloc_complete_later(ch, task, KEEL_BDEV_IO_STATUS_SUCCESS);
		return;
	case KEEL_BDEV_IO_TYPE_COMPARE:
		malloc_compare(disk, io, task);
		malloc_complete_later(ch, task, task->status);
		return;
	default:
		malloc_complete_later(ch, task, KEEL_BDEV_IO_STATUS_FAILED);
		return;
	}
	if (rc != 0) {
		malloc_complete_later(ch, task,
				      rc == -ENOMEM ? KEEL_BDEV_IO_STATUS_NOMEM
						    : KEEL_BDEV_IO_STATUS_FAILED);
	}
}

static bool
malloc_io_type_supported(void *ctx, enum keel_bdev_io_type type)
{
	switch (type) {
	case KEEL_BDEV_IO_TYPE_READ:
	case KEEL_BDEV_IO_TYPE_WRITE:
	case KEEL_BDEV_IO_TYPE_FLUSH:
	case KEEL_BDEV_IO_TYPE_UNMAP:
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
	case KEEL_BDEV_IO_TYPE_RESET:
	case KEEL_BDEV_IO_TYPE_COMPARE:
		return true;
	default:
		/* COMPARE_AND_WRITE is emulated by the layer with COMPARE and WRITE. */
		return false;
	}
}

static int
malloc_channel_create(void *io_device, void *ctx_buf)
{
	struct malloc_channel *ch = ctx_buf;

	STAILQ_INIT(&ch->completions);
	ch->accel_ch = keel_accel_get_io_channel();
	if (ch->accel_ch == NULL) {
		KEEL_ERRLOG("malloc: no copy engine channel on thread %s\n",
			    keel_thread_get_name(keel_get_thread()));
		return -ENOMEM;
	}
	ch->poller = keel_poller_register_named(malloc_completion_poll, ch, 0, "bdev_malloc");
	if (ch->poller == NULL) {
		keel_put_io_channel(ch->accel_ch);
		return -ENOMEM;
	}
	keel_poller_pause(ch->poller);
	return 0;
}

static void
malloc_channel_destroy(void *io_device, void *ctx_buf)
{
	struct malloc_channel *ch = ctx_buf;
	struct malloc_task *task;

	/* The layer puts its channel only once its I/O is done; anything left is reported. */
	while ((task = STAILQ_FIRST(&ch->completions)) != NULL) {
		STAILQ_REMOVE_HEAD(&ch->completions, link);
		malloc_task_complete(task);
	}
	keel_poller_unregister(&ch->poller);
	keel_put_io_channel(ch->accel_ch);
}

static struct keel_io_channel *
malloc_get_io_channel(void *ctx)
{
	return keel_get_io_channel(&g_malloc_disks);
}

static void
malloc_io_device_register(void)
{
	if (!g_malloc_io_device_registered) {
		keel_io_device_register(&g_malloc_disks, malloc_channel_create,
					malloc_channel_destroy, sizeof(struct malloc_channel),
					"bdev_malloc");
		g_malloc_io_device_registered = true;
	}
}

static void
malloc_disk_free(struct malloc_disk *disk)
{
	keel_dma_free(disk->buf);
	free(disk->bdev.name);
	free(disk);
}

static int
malloc_destruct(void *ctx)
{
	struct malloc_disk *disk = ctx;

	TAILQ_REMOVE(&g_malloc_disks, disk, link);
	malloc_disk_free(disk);
	return 0;
}

static void
malloc_write_config_json(struct keel_bdev *bdev, struct json_object *array)
{
	struct json_object *call, *params;
	char uuid[KEEL_UUID_STRING_LEN];

	call = json_object_new_object();
	params = json_object_new_object();
	if (call == NULL || params == NULL) {
		json_object_put(call);
		json_object_put(params);
		return;
	}
	keel_bdev_get_uuid_str(bdev, uuid);
	json_object_object_add(params, "name", json_object_new_string(bdev->name));
	json_object_object_add(params, "num_blocks", json_object_new_uint64(bdev->blockcnt));
	json_object_object_add(params, "block_size", json_object_new_int64(bdev->blocklen));
	json_object_object_add(params, "uuid", json_object_new_string(uuid));
	if (bdev->optimal_io_boundary != 0) {
		json_object_object_add(params, "optimal_io_boundary",
				       json_object_new_int64(bdev->optimal_io_boundary));
	}
	json_object_object_add(call, "method", json_object_new_string("bdev_malloc_create"));
	json_object_object_add(call, "params", params);
	json_object_array_add(array, call);
}

static const struct keel_bdev_fn_table g_malloc_fn_table = {
	.destruct = malloc_destruct,
	.submit_request = malloc_submit_request,
	.io_type_supported = malloc_io_type_supported,
	.get_io_channel = malloc_get_io_channel,
	.dump_info_json = NULL, /* nothing beyond what the layer shows */
	.write_config_json = malloc_write_config_json,
};

/* Check opts; *size_bytes and uuid are set on success. */
static int
malloc_check_opts(const struct malloc_bdev_opts *opts, uint64_t *size_bytes, uint8_t uuid[16],
		  char *err, size_t err_len)
{
	uint32_t bs = opts->block_size;

	if (opts->name != NULL && opts->name[0] == '\0') {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'name': must not be empty");
		return -EINVAL;
	}
	if (opts->name != NULL && strlen(opts->name) >= KEEL_BDEV_MAX_NAME_LEN) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'name': longer than %d characters",
			       KEEL_BDEV_MAX_NAME_LEN - 1);
		return -EINVAL;
	}
	if (bs < MALLOC_MIN_BLOCK_SIZE || bs > MALLOC_MAX_BLOCK_SIZE || (bs & (bs - 1)) != 0) {
		keel_bdev_set_err(err, err_len,
			       "Invalid parameter 'block_size': %" PRIu32 " is not a power of two "
			       "from %u to %u",
			       bs, MALLOC_MIN_BLOCK_SIZE, MALLOC_MAX_BLOCK_SIZE);
		return -EINVAL;
	}
	if (opts->num_blocks == 0) {
		keel_bdev_set_err(err, err_len,
			       "Invalid parameter 'num_blocks': must be greater than 0");
		return -EINVAL;
	}
	if (__builtin_mul_overflow(opts->num_blocks, (uint64_t)bs, size_bytes) ||
	    *size_bytes > SIZE_MAX / 2) {
		keel_bdev_set_err(err, err_len,
			       "Invalid parameter 'num_blocks': %" PRIu64 " blocks of %" PRIu32
			       " bytes is too large",
			       opts->num_blocks, bs);
		return -EINVAL;
	}
	memset(uuid, 0, 16);
	if (opts->uuid != NULL && keel_uuid_parse(uuid, opts->uuid) != 0) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'uuid': '%s' is not a UUID",
			       opts->uuid);
		return -EINVAL;
	}
	return 0;
}

/* The lowest free "Malloc<N>". */
static int
malloc_pick_name(char *buf, size_t len)
{
	int n;

	for (n = 0; n < INT_MAX; n++) {
		snprintf(buf, len, "Malloc%d", n);
		if (keel_bdev_get_by_name(buf) == NULL) {
			return 0;
		}
	}
	return -ENOSPC;
}

int
bdev_malloc_create(const struct malloc_bdev_opts *opts, struct keel_bdev **bdev, char *err,
		   size_t err_len)
{
	struct malloc_disk *disk;
	char generated[32];
	const char *name = opts->name;
	uint8_t uuid[16];
	uint64_t size_bytes;
	int rc;

	rc = malloc_check_opts(opts, &size_bytes, uuid, err, err_len);
	if (rc != 0) {
		return rc;
	}
	if (name == NULL) {
		if (malloc_pick_name(generated, sizeof(generated)) != 0) {
			keel_bdev_set_err(err, err_len, "no free MallocN name");
			return -ENOSPC;
		}
		name = generated;
	} else if (keel_bdev_get_by_name(name) != NULL) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'name': bdev '%s' already exists",
			       name);
		return -EEXIST;
	}

	disk = calloc(1, sizeof(*disk));
	if (disk == NULL) {
		keel_bdev_set_err(err, err_len, "out of memory");
		return -ENOMEM;
	}
	disk->bdev.name = strdup(name);
	if (disk->bdev.name == NULL) {
		keel_bdev_set_err(err, err_len, "out of memory");
		rc = -ENOMEM;
		goto err_free_disk;
	}
	disk->buf = keel_dma_zmalloc(size_bytes, opts->block_size, NULL);
	if (disk->buf == NULL) {
		keel_bdev_set_err(err, err_len,
			       "out of memory: cannot allocate %" PRIu64 " bytes for bdev '%s'",
			       size_bytes, name);
		rc = -ENOMEM;
		goto err_free_disk;
	}
	disk->bdev.product_name = "Malloc disk";
	disk->bdev.blocklen = opts->block_size;
	disk->bdev.blockcnt = opts->num_blocks;
	disk->bdev.write_cache = false;
	disk->bdev.optimal_io_boundary = opts->optimal_io_boundary;
	disk->bdev.split_on_optimal_io_boundary = opts->optimal_io_boundary != 0;
	disk->bdev.unmap_reads_zeroes = true;
	disk->bdev.zcopy_read = true;
	memcpy(disk->bdev.uuid, uuid, sizeof(uuid));
	disk->bdev.ctxt = disk;
	disk->bdev.fn_table = &g_malloc_fn_table;
	disk->bdev.module = &g_malloc_module;

	malloc_io_device_register();
	rc = keel_bdev_register(&disk->bdev);
	if (rc != 0) {
		if (rc == -EEXIST) {
			keel_bdev_set_err(err, err_len,
				       "Invalid parameter '%s': already in use by "
				       "another bdev",
				       opts->uuid != NULL ? "uuid" : "name");
		} else {
			keel_bdev_set_err(err, err_len, "cannot register bdev '%s': %s", name,
				       keel_strerror(-rc));
		}
		goto err_free_disk;
	}
	TAILQ_INSERT_TAIL(&g_malloc_disks, disk, link);
	*bdev = &disk->bdev;
	return 0;

err_free_disk:
	malloc_disk_free(disk);
	return rc;
}

int
bdev_malloc_delete(const char *name, keel_bdev_done_cb cb, void *cb_arg)
{
	struct keel_bdev *bdev = keel_bdev_get_by_name(name);

	if (bdev == NULL || bdev->module != &g_malloc_module) {
		return -ENODEV;
	}
	return keel_bdev_unregister_by_name(bdev->name, &g_malloc_module, cb, cb_arg);
}

/*
 * [Malloc] of the legacy configuration file: NumberOfLuns N, LunSizeInMB M, BlockSize B
 * create Malloc0 .. Malloc<N-1>.
 */
static int
malloc_conf_int(struct keel_conf *conf, struct keel_conf_section *sp, const char *key, int64_t min,
		int64_t max, int64_t *val)
{
	int rc = keel_conf_section_get_intval(sp, key, val);

	if (rc == -ENOENT) {
		return rc;
	}
	if (rc != 0 || *val < min || *val > max) {
		KEEL_ERRLOG("%s:%d: [Malloc] %s: expected an integer from %" PRId64 " to %" PRId64
			    ", got '%s'\n",
			    keel_conf_get_name(conf), keel_conf_section_get_item_line(sp, key, 0),
			    key, min, max, keel_conf_section_get_val(sp, key));
		return -EINVAL;
	}
	return 0;
}

static int
malloc_read_conf(void)
{
	struct keel_conf *conf = keel_conf_get_default();
	struct keel_conf_section *sp;
	struct malloc_bdev_opts opts = {0};
	struct keel_bdev *bdev;
	int64_t luns, size_mb, block_size = MALLOC_CONF_DEFAULT_BLOCK_SIZE;
	char name[32], err[256];
	int64_t i;
	int rc;

	sp = conf != NULL ? keel_conf_find_section(conf, "Malloc") : NULL;
	if (sp == NULL) {
		return 0;
	}
	rc = malloc_conf_int(conf, sp, "NumberOfLuns", 0, INT32_MAX, &luns);
	if (rc == -ENOENT) {
		KEEL_WARNLOG("%s:%d: [Malloc] has no NumberOfLuns: no malloc bdevs created\n",
			     keel_conf_get_name(conf), keel_conf_section_get_line(sp));
		return 0;
	} else if (rc != 0) {
		return rc;
	}
	rc = malloc_conf_int(conf, sp, "LunSizeInMB", 1, INT64_MAX / (1024 * 1024), &size_mb);
	if (rc == -ENOENT) {
		if (luns == 0) {
			return 0;
		}
		KEEL_ERRLOG("%s:%d: [Malloc] LunSizeInMB: missing\n", keel_conf_get_name(conf),
			    keel_conf_section_get_line(sp));
		return -EINVAL;
	} else if (rc != 0) {
		return rc;
	}
	rc = malloc_conf_int(conf, sp, "BlockSize", MALLOC_MIN_BLOCK_SIZE, MALLOC_MAX_BLOCK_SIZE,
			     &block_size);
	if (rc == 0 && (block_size & (block_size - 1)) != 0) {
		KEEL_ERRLOG("%s:%d: [Malloc] BlockSize: %" PRId64 " is not a power of two\n",
			    keel_conf_get_name(conf),
			    keel_conf_section_get_item_line(sp, "BlockSize", 0), block_size);
		return -EINVAL;
	} else if (rc != 0 && rc != -ENOENT) {
		return rc;
	}

	opts.block_size = (uint32_t)block_size;
	opts.num_blocks = (uint64_t)size_mb * 1024 * 1024 / opts.block_size;
	opts.name = name;
	for (i = 0; i < luns; i++) {
		snprintf(name, sizeof(name), "Malloc%" PRId64, i);
		rc = bdev_malloc_create(&opts, &bdev, err, sizeof(err));
		if (rc != 0) {
			KEEL_ERRLOG("%s:%d: [Malloc] cannot create %s: %s\n",
				    keel_conf_get_name(conf), keel_conf_section_get_line(sp), name,
				    err);
			return rc;
		}
	}
	return 0;
}

static int
malloc_module_init(void)
{
	malloc_io_device_register();
	return malloc_read_conf();
}

static void
malloc_module_fini(void)
{
	if (g_malloc_io_device_registered) {
		keel_io_device_unregister(&g_malloc_disks, NULL);
		g_malloc_io_device_registered = false;
	}
}

static struct keel_bdev_module g_malloc_module = {
	.name = "malloc",
	.module_init = malloc_module_init,
	.module_fini = malloc_module_fini,
	.io_ctx_size = sizeof(struct malloc_task),
	.config_json = NULL, /* no module-wide options */
};
KEEL_BDEV_MODULE_REGISTER(malloc, &g_malloc_module)

/* Malloc channels hold copy engine channels: the copy engine starts before the bdev layer
 * and stops after it. */
KEEL_SUBSYSTEM_DEPEND(bdev, accel)
