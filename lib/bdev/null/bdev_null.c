/*
 * The null bdev module: block devices that discard writes and complete reads without touching
 * the buffers, for benchmarking the layers above. Each I/O is queued on its channel's list and
 * completed by the channel's poller on a later loop: no message and no allocation per I/O.
 */
#include "keel/stdinc.h"
#include "keel/bdev_module.h"
#include "keel/conf.h"
#include "keel/log.h"
#include "keel/thread.h"
#include "keel/util.h"

#include <json-c/json.h>

#include "bdev_null.h"

#define NULL_MIN_BLOCK_SIZE 512u
#define NULL_MAX_BLOCK_SIZE 65536u
#define NULL_CONF_DEFAULT_BLOCK_SIZE 512

struct null_disk {
	struct keel_bdev bdev;
	TAILQ_ENTRY(null_disk) link;
};

/* Per-I/O context (driver_ctx of the bdev_io). */
struct null_io {
	STAILQ_ENTRY(null_io) link;
	enum keel_bdev_io_status status;
};

/* Per-thread context. The poller is paused whenever the list is empty, so an idle null bdev
 * costs nothing and does not keep the reactor from sleeping. */
struct null_channel {
	struct keel_poller *poller;
	STAILQ_HEAD(, null_io) pending;
};

static TAILQ_HEAD(, null_disk) g_null_disks = TAILQ_HEAD_INITIALIZER(g_null_disks);
static bool g_null_io_device_registered;

static struct keel_bdev_module g_null_module;

static int
null_poll(void *arg)
{
	struct null_channel *ch = arg;
	STAILQ_HEAD(, null_io) batch = STAILQ_HEAD_INITIALIZER(batch);
	struct null_io *nio;

	if (STAILQ_EMPTY(&ch->pending)) {
		keel_poller_pause(ch->poller);
		return KEEL_POLLER_IDLE;
	}
	/* I/O submitted from these completions waits for the next run. */
	STAILQ_CONCAT(&batch, &ch->pending);
	while ((nio = STAILQ_FIRST(&batch)) != NULL) {
		STAILQ_REMOVE_HEAD(&batch, link);
		keel_bdev_io_complete(keel_bdev_io_from_ctx(nio), nio->status);
	}
	if (STAILQ_EMPTY(&ch->pending)) {
		keel_poller_pause(ch->poller);
	}
	return KEEL_POLLER_BUSY;
}

static bool
null_io_type_supported(void *ctx, enum keel_bdev_io_type type)
{
	switch (type) {
	case KEEL_BDEV_IO_TYPE_READ:
	case KEEL_BDEV_IO_TYPE_WRITE:
	case KEEL_BDEV_IO_TYPE_FLUSH:
	case KEEL_BDEV_IO_TYPE_UNMAP:
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
	case KEEL_BDEV_IO_TYPE_RESET:
		return true;
	default:
		return false;
	}
}

static void
null_submit_request(struct keel_io_channel *_ch, struct keel_bdev_io *io)
{
	struct null_channel *ch = keel_io_channel_get_ctx(_ch);
	struct null_io *nio = (struct null_io *)io->driver_ctx;

	nio->status = keel_likely(null_io_type_supported(NULL, io->type))
			      ? KEEL_BDEV_IO_STATUS_SUCCESS
			      : KEEL_BDEV_IO_STATUS_FAILED;
	if (STAILQ_EMPTY(&ch->pending)) {
		keel_poller_resume(ch->poller);
	}
	STAILQ_INSERT_TAIL(&ch->pending, nio, link);
}

static int
null_channel_create(void *io_device, void *ctx_buf)
{
	struct null_channel *ch = ctx_buf;

	STAILQ_INIT(&ch->pending);
	ch->poller = keel_poller_register_named(null_poll, ch, 0, "bdev_null");
	if (ch->poller == NULL) {
		return -ENOMEM;
	}
	keel_poller_pause(ch->poller);
	return 0;
}

static void
null_channel_destroy(void *io_device, void *ctx_buf)
{
	struct null_channel *ch = ctx_buf;
	struct null_io *nio;

	/* The layer puts its channel only once its I/O is done; anything left is reported. */
	while ((nio = STAILQ_FIRST(&ch->pending)) != NULL) {
		STAILQ_REMOVE_HEAD(&ch->pending, link);
		keel_bdev_io_complete(keel_bdev_io_from_ctx(nio), nio->status);
	}
	keel_poller_unregister(&ch->poller);
}

static struct keel_io_channel *
null_get_io_channel(void *ctx)
{
	return keel_get_io_channel(&g_null_disks);
}

static void
null_io_device_register(void)
{
	if (!g_null_io_device_registered) {
		keel_io_device_register(&g_null_disks, null_channel_create, null_channel_destroy,
					sizeof(struct null_channel), "bdev_null");
		g_null_io_device_registered = true;
	}
}

static void
null_disk_free(struct null_disk *disk)
{
	free(disk->bdev.name);
	free(disk);
}

static int
null_destruct(void *ctx)
{
	struct null_disk *disk = ctx;

	TAILQ_REMOVE(&g_null_disks, disk, link);
	null_disk_free(disk);
	return 0;
}

static void
null_write_config_json(struct keel_bdev *bdev, struct json_object *array)
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
	json_object_object_add(call, "method", json_object_new_string("bdev_null_create"));
	json_object_object_add(call, "params", params);
	json_object_array_add(array, call);
}

static const struct keel_bdev_fn_table g_null_fn_table = {
	.destruct = null_destruct,
	.submit_request = null_submit_request,
	.io_type_supported = null_io_type_supported,
	.get_io_channel = null_get_io_channel,
	.dump_info_json = NULL, /* nothing beyond what the layer shows */
	.write_config_json = null_write_config_json,
};

static int
null_check_opts(const struct null_bdev_opts *opts, uint8_t uuid[16], char *err, size_t err_len)
{
	uint32_t bs = opts->block_size;
	uint64_t size_bytes;

	if (opts->name == NULL || opts->name[0] == '\0') {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'name': must not be empty");
		return -EINVAL;
	}
	if (strlen(opts->name) >= KEEL_BDEV_MAX_NAME_LEN) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'name': longer than %d characters",
			     KEEL_BDEV_MAX_NAME_LEN - 1);
		return -EINVAL;
	}
	if (bs < NULL_MIN_BLOCK_SIZE || bs > NULL_MAX_BLOCK_SIZE || (bs & (bs - 1)) != 0) {
		keel_bdev_set_err(err, err_len,
			     "Invalid parameter 'block_size': %" PRIu32 " is not a power of two "
			     "from %u to %u",
			     bs, NULL_MIN_BLOCK_SIZE, NULL_MAX_BLOCK_SIZE);
		return -EINVAL;
	}
	if (opts->num_blocks == 0) {
		keel_bdev_set_err(err, err_len,
			     "Invalid parameter 'num_blocks': must be greater than 0");
		return -EINVAL;
	}
	if (__builtin_mul_overflow(opts->num_blocks, (uint64_t)bs, &size_bytes)) {
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

int
bdev_null_create(const struct null_bdev_opts *opts, struct keel_bdev **bdev, char *err,
		 size_t err_len)
{
	struct null_disk *disk;
	uint8_t uuid[16];
	int rc;

	rc = null_check_opts(opts, uuid, err, err_len);
	if (rc != 0) {
		return rc;
	}
	if (keel_bdev_get_by_name(opts->name) != NULL) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'name': bdev '%s' already exists",
			     opts->name);
		return -EEXIST;
	}
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL) {
		keel_bdev_set_err(err, err_len, "out of memory");
		return -ENOMEM;
	}
	disk->bdev.name = strdup(opts->name);
	if (disk->bdev.name == NULL) {
		keel_bdev_set_err(err, err_len, "out of memory");
		rc = -ENOMEM;
		goto err_free_disk;
	}
	disk->bdev.product_name = "Null disk";
	disk->bdev.blocklen = opts->block_size;
	disk->bdev.blockcnt = opts->num_blocks;
	disk->bdev.write_cache = false;
	memcpy(disk->bdev.uuid, uuid, sizeof(uuid));
	disk->bdev.ctxt = disk;
	disk->bdev.fn_table = &g_null_fn_table;
	disk->bdev.module = &g_null_module;

	null_io_device_register();
	rc = keel_bdev_register(&disk->bdev);
	if (rc != 0) {
		if (rc == -EEXIST) {
			keel_bdev_set_err(err, err_len,
				     "Invalid parameter '%s': already in use by "
				     "another bdev",
				     opts->uuid != NULL ? "uuid" : "name");
		} else {
			keel_bdev_set_err(err, err_len, "cannot register bdev '%s': %s", opts->name,
				     keel_strerror(-rc));
		}
		goto err_free_disk;
	}
	TAILQ_INSERT_TAIL(&g_null_disks, disk, link);
	*bdev = &disk->bdev;
	return 0;

err_free_disk:
	null_disk_free(disk);
	return rc;
}

int
bdev_null_delete(const char *name, keel_bdev_done_cb cb, void *cb_arg)
{
	struct keel_bdev *bdev = keel_bdev_get_by_name(name);

	if (bdev == NULL || bdev->module != &g_null_module) {
		return -ENODEV;
	}
	return keel_bdev_unregister_by_name(bdev->name, &g_null_module, cb, cb_arg);
}

/* One "Dev <name> <size MB> [<block size>]" line of [Null]; *opts is filled on success. */
static int
null_conf_parse_dev(struct keel_conf *conf, struct keel_conf_section *sp, int idx,
		    struct null_bdev_opts *opts)
{
	const char *name = keel_conf_section_get_nmval(sp, "Dev", idx, 0);
	const char *size = keel_conf_section_get_nmval(sp, "Dev", idx, 1);
	const char *bs = keel_conf_section_get_nmval(sp, "Dev", idx, 2);
	int line = keel_conf_section_get_item_line(sp, "Dev", idx);
	uint64_t size_mb;
	uint32_t block_size = NULL_CONF_DEFAULT_BLOCK_SIZE;

	if (name == NULL || size == NULL) {
		KEEL_ERRLOG("%s:%d: [Null] Dev: expected 'Dev <name> <size MB> <block size>'\n",
			    keel_conf_get_name(conf), line);
		return -EINVAL;
	}
	if (keel_parse_u64(size, &size_mb) != 0 || size_mb == 0 ||
	    size_mb > UINT64_MAX / (1024 * 1024)) {
		KEEL_ERRLOG(
			"%s:%d: [Null] Dev %s: size '%s' is not a number of MB greater than 0\n",
			keel_conf_get_name(conf), line, name, size);
		return -EINVAL;
	}
	if (bs != NULL &&
	    (keel_parse_u32(bs, &block_size) != 0 || block_size < NULL_MIN_BLOCK_SIZE ||
	     block_size > NULL_MAX_BLOCK_SIZE || (block_size & (block_size - 1)) != 0)) {
		KEEL_ERRLOG("%s:%d: [Null] Dev %s: block size '%s' is not a power of two from %u "
			    "to %u\n",
			    keel_conf_get_name(conf), line, name, bs, NULL_MIN_BLOCK_SIZE,
			    NULL_MAX_BLOCK_SIZE);
		return -EINVAL;
	}
	opts->name = name;
	opts->uuid = NULL;
	opts->block_size = block_size;
	opts->num_blocks = size_mb * 1024 * 1024 / block_size;
	return 0;
}

/* [Null] of the legacy configuration file: one "Dev <name> <size MB> <block size>" per bdev. */
static int
null_read_conf(void)
{
	struct keel_conf *conf = keel_conf_get_default();
	struct keel_conf_section *sp;
	struct null_bdev_opts opts;
	struct keel_bdev *bdev;
	char err[300];
	int i, rc;

	sp = conf != NULL ? keel_conf_find_section(conf, "Null") : NULL;
	if (sp == NULL) {
		return 0;
	}
	for (i = 0; keel_conf_section_get_nval(sp, "Dev", i) != NULL; i++) {
		rc = null_conf_parse_dev(conf, sp, i, &opts);
		if (rc != 0) {
			return rc;
		}
		rc = bdev_null_create(&opts, &bdev, err, sizeof(err));
		if (rc != 0) {
			KEEL_ERRLOG("%s:%d: [Null] Dev %s: %s\n", keel_conf_get_name(conf),
				    keel_conf_section_get_item_line(sp, "Dev", i), opts.name, err);
			return rc;
		}
	}
	return 0;
}

static int
null_module_init(void)
{
	null_io_device_register();
	return null_read_conf();
}

static void
null_module_fini(void)
{
	if (g_null_io_device_registered) {
		keel_io_device_unregister(&g_null_disks, NULL);
		g_null_io_device_registered = false;
	}
}

static struct keel_bdev_module g_null_module = {
	.name = "null",
	.module_init = null_module_init,
	.module_fini = null_module_fini,
	.io_ctx_size = sizeof(struct null_io),
	.config_json = NULL, /* no module-wide options */
};
KEEL_BDEV_MODULE_REGISTER(null, &g_null_module)
