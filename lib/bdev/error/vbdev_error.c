/*
 * The error injection virtual bdev module, for testing what sits above a bdev: EE_<base> claims
 * its base and passes every I/O to it, except that the next N reads, writes, unmaps or flushes
 * can be made to fail, to be held until a reset or removal aborts them, to have a byte of their
 * data corrupted, or to come back NOMEM so that the bdev layer retries them. A configuration
 * (from the RPC or the [BdevError] section) whose base is absent waits for it (examine); it is
 * forgotten when the error bdev goes, deleted or with its base.
 */
#include "keel/stdinc.h"
#include "keel/bdev_module.h"
#include "keel/conf.h"
#include "keel/log.h"
#include "keel/thread.h"
#include "keel/util.h"

#include <json-c/json.h>

#include "vbdev_error.h"

struct error_disk;

/* One configured error bdev; exists from create (or the config file) until the bdev goes. */
struct error_config {
	char *base_name; /* as configured: a name or an alias */
	uint8_t uuid[16];
	bool has_uuid;
	struct error_disk *disk; /* NULL while the base is absent */
	TAILQ_ENTRY(error_config) link;
};

/* One injection: the next num I/Os of a type get error_type. */
struct error_info {
	enum vbdev_error_type error_type;
	uint32_t num; /* decremented atomically by the I/O threads */
	uint64_t queue_depth;
	uint64_t corrupt_offset;
	uint8_t corrupt_value;
};

struct error_disk {
	struct keel_bdev bdev;
	struct error_config *cfg;    /* NULL once the configuration is forgotten */
	struct keel_bdev_desc *desc; /* the base, open and claimed */
	struct keel_thread *thread;  /* that opened desc */
	struct error_info info[VBDEV_ERROR_IO_COUNT];
	bool removing;    /* held I/O is aborted, new I/O is not held */
	bool destructing; /* the layer waits for keel_bdev_destruct_done() */
};

/* Per-thread channel of one error bdev. */
struct error_channel {
	struct keel_io_channel *base_ch;
	uint64_t io_inflight;           /* at the base */
	TAILQ_HEAD(, error_io) pending; /* held by a PENDING injection */
};

/* Per-I/O context (driver_ctx). */
struct error_io {
	enum vbdev_error_type type;
	uint64_t corrupt_offset;
	uint8_t corrupt_value;
	struct error_channel *ch;
	TAILQ_ENTRY(error_io) link;
};

static TAILQ_HEAD(, error_config) g_error_configs = TAILQ_HEAD_INITIALIZER(g_error_configs);
static struct keel_bdev_module g_error_module;
static const struct keel_bdev_fn_table g_error_fn_table;

static struct error_config *
error_config_find(const char *base_name)
{
	struct error_config *cfg;

	TAILQ_FOREACH (cfg, &g_error_configs, link) {
		if (strcmp(cfg->base_name, base_name) == 0) {
			return cfg;
		}
	}
	return NULL;
}

/* The error bdev answering to name (its name, an alias or its UUID), if any. */
static struct error_disk *
error_disk_find(const char *name)
{
	struct keel_bdev *bdev = keel_bdev_get_by_name(name);
	struct error_config *cfg;

	TAILQ_FOREACH (cfg, &g_error_configs, link) {
		if (cfg->disk != NULL && bdev == &cfg->disk->bdev) {
			return cfg->disk;
		}
	}
	return NULL;
}

static void
error_config_free(struct error_config *cfg)
{
	TAILQ_REMOVE(&g_error_configs, cfg, link);
	if (cfg->disk != NULL) {
		cfg->disk->cfg = NULL;
	}
	free(cfg->base_name);
	free(cfg);
}

/* ---- I/O ---- */

static int
error_io_index(enum keel_bdev_io_type type)
{
	switch (type) {
	case KEEL_BDEV_IO_TYPE_READ:
		return VBDEV_ERROR_IO_READ;
	case KEEL_BDEV_IO_TYPE_WRITE:
		return VBDEV_ERROR_IO_WRITE;
	case KEEL_BDEV_IO_TYPE_UNMAP:
		return VBDEV_ERROR_IO_UNMAP;
	case KEEL_BDEV_IO_TYPE_FLUSH:
		return VBDEV_ERROR_IO_FLUSH;
	default:
		return -1;
	}
}

/* The injection this I/O gets, if any: one of the remaining num, once the channel has at least
 * queue_depth I/Os at the base. */
static enum vbdev_error_type
error_pick(struct error_disk *disk, struct error_channel *ch, struct keel_bdev_io *io,
	   struct error_io *eio)
{
	int idx = error_io_index(io->type);
	struct error_info *info;
	uint32_t num;

	if (idx < 0) {
		return VBDEV_ERROR_NONE;
	}
	info = &disk->info[idx];
	num = __atomic_load_n(&info->num, __ATOMIC_ACQUIRE);
	do {
		if (num == 0) {
			return VBDEV_ERROR_NONE;
		}
		if (ch->io_inflight < info->queue_depth) {
			return VBDEV_ERROR_NONE;
		}
	} while (!__atomic_compare_exchange_n(&info->num, &num, num - 1, false, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	eio->corrupt_offset = info->corrupt_offset;
	eio->corrupt_value = info->corrupt_value;
	return info->error_type;
}

/* XOR one byte of the I/O's data, at offset bytes into its buffers (nothing past their end). */
static void
error_corrupt(struct keel_bdev_io *io, uint64_t offset, uint8_t value)
{
	int i;

	for (i = 0; i < io->u.bdev.iovcnt && io->u.bdev.iovs != NULL; i++) {
		struct iovec *v = &io->u.bdev.iovs[i];

		if (offset < v->iov_len) {
			((uint8_t *)v->iov_base)[offset] ^= value;
			return;
		}
		offset -= v->iov_len;
	}
}

static void
error_abort_pending(struct error_channel *ch)
{
	struct error_io *eio;

	while ((eio = TAILQ_FIRST(&ch->pending)) != NULL) {
		TAILQ_REMOVE(&ch->pending, eio, link);
		keel_bdev_io_complete(keel_bdev_io_from_ctx(eio), KEEL_BDEV_IO_STATUS_ABORTED);
	}
}

static void
error_io_done(struct keel_bdev_io *child, bool success, void *cb_arg)
{
	struct keel_bdev_io *io = cb_arg;
	struct error_io *eio = (struct error_io *)io->driver_ctx;

	assert(eio->ch->io_inflight > 0);
	eio->ch->io_inflight--;
	if (success && eio->type == VBDEV_ERROR_CORRUPT_DATA && io->type == KEEL_BDEV_IO_TYPE_READ) {
		error_corrupt(io, eio->corrupt_offset, eio->corrupt_value);
	}
	keel_bdev_io_complete_from(io, child, success);
	keel_bdev_free_io(child);
}

/* Pass the I/O to the base, at the same blocks (held I/O was aborted when a reset began:
 * error_reset_channel). */
static void
error_forward(struct error_disk *disk, struct error_channel *ch, struct keel_bdev_io *io)
{
	int rc;

	ch->io_inflight++;
	rc = keel_bdev_io_forward(io, disk->desc, ch->base_ch, io->u.bdev.offset_blocks,
				  error_io_done, io);
	if (rc != 0) {
		ch->io_inflight--;
		keel_bdev_io_complete(io, rc == -ENOMEM ? KEEL_BDEV_IO_STATUS_NOMEM
							: KEEL_BDEV_IO_STATUS_FAILED);
	}
}

static void
error_submit_request(struct keel_io_channel *_ch, struct keel_bdev_io *io)
{
	struct error_channel *ch = keel_io_channel_get_ctx(_ch);
	struct error_disk *disk = io->bdev->ctxt;
	struct error_io *eio = (struct error_io *)io->driver_ctx;

	eio->ch = ch;
	eio->type = error_pick(disk, ch, io, eio);
	switch (eio->type) {
	case VBDEV_ERROR_FAILURE:
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_FAILED);
		return;
	case VBDEV_ERROR_NOMEM:
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_NOMEM);
		return;
	case VBDEV_ERROR_PENDING:
		if (__atomic_load_n(&disk->removing, __ATOMIC_ACQUIRE)) {
			keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_ABORTED);
		} else {
			TAILQ_INSERT_TAIL(&ch->pending, eio, link);
		}
		return;
	case VBDEV_ERROR_CORRUPT_DATA:
		if (io->type == KEEL_BDEV_IO_TYPE_WRITE) {
			error_corrupt(io, eio->corrupt_offset, eio->corrupt_value);
		}
		break;
	default:
		break;
	}
	error_forward(disk, ch, io);
}

/* A reset began: the I/O held on this channel would keep it waiting forever. */
static void
error_reset_channel(void *ctx, struct keel_io_channel *module_ch)
{
	error_abort_pending(keel_io_channel_get_ctx(module_ch));
}

static bool
error_io_type_supported(void *ctx, enum keel_bdev_io_type type)
{
	struct error_disk *disk = ctx;

	return keel_bdev_io_type_supported(keel_bdev_desc_get_bdev(disk->desc), type);
}

static int
error_channel_create(void *io_device, void *ctx_buf)
{
	struct error_disk *disk = io_device;
	struct error_channel *ch = ctx_buf;

	ch->io_inflight = 0;
	TAILQ_INIT(&ch->pending);
	ch->base_ch = keel_bdev_get_io_channel(disk->desc);
	return ch->base_ch != NULL ? 0 : -ENOMEM;
}

static void
error_channel_destroy(void *io_device, void *ctx_buf)
{
	struct error_channel *ch = ctx_buf;

	/* The bdev layer's channel is gone already: held I/O cannot be completed any more. */
	if (!TAILQ_EMPTY(&ch->pending)) {
		KEEL_ERRLOG("error bdev %s: channel destroyed with I/O held\n",
			    ((struct error_disk *)io_device)->bdev.name);
	}
	keel_put_io_channel(ch->base_ch);
}

static struct keel_io_channel *
error_get_io_channel(void *ctx)
{
	return keel_get_io_channel(ctx);
}

/* ---- going away ---- */

static void
error_close_desc(void *arg)
{
	keel_bdev_close(arg);
}

/* Every channel of the disk is gone: give the base back and free the disk. */
static void
error_io_device_gone(void *io_device)
{
	struct error_disk *disk = io_device;

	keel_bdev_module_release_bdev(keel_bdev_desc_get_bdev(disk->desc));
	if (disk->thread == keel_get_thread()) {
		keel_bdev_close(disk->desc);
	} else {
		keel_thread_send_msg(disk->thread, error_close_desc, disk->desc);
	}
	if (disk->cfg != NULL) {
		disk->cfg->disk = NULL;
	}
	if (disk->destructing) {
		keel_bdev_destruct_done(&disk->bdev, 0);
	}
	free(disk->bdev.name);
	free(disk);
}

/* The layer is done with the bdev; as SPDK does, its configuration goes with it. */
static int
error_destruct(void *ctx)
{
	struct error_disk *disk = ctx;

	KEEL_NOTICELOG("error bdev %s deleted\n", disk->bdev.name);
	if (disk->cfg != NULL) {
		error_config_free(disk->cfg);
	}
	disk->destructing = true;
	keel_io_device_unregister(disk, error_io_device_gone);
	return 1;
}

struct error_remove_ctx {
	struct error_disk *disk;
	keel_bdev_done_cb cb;
	void *cb_arg;
};

static void
error_remove_visit(struct keel_channel_iter *iter)
{
	error_abort_pending(keel_io_channel_get_ctx(keel_channel_iter_get_channel(iter)));
	keel_for_each_channel_continue(iter, 0);
}

static void
error_remove_aborted(struct keel_channel_iter *iter, int status)
{
	struct error_remove_ctx *c = keel_channel_iter_get_ctx(iter);

	keel_bdev_unregister(&c->disk->bdev, c->cb, c->cb_arg);
	free(c);
}

/* Unregister the error bdev, the I/O it holds aborted first (the users of the bdev wait for
 * their I/O before they let it go). */
static void
error_disk_remove(struct error_disk *disk, keel_bdev_done_cb cb, void *cb_arg)
{
	struct error_remove_ctx *c = calloc(1, sizeof(*c));

	__atomic_store_n(&disk->removing, true, __ATOMIC_RELEASE);
	if (c == NULL) {
		keel_bdev_unregister(&disk->bdev, cb, cb_arg);
		return;
	}
	c->disk = disk;
	c->cb = cb;
	c->cb_arg = cb_arg;
	keel_for_each_channel(disk, error_remove_visit, c, error_remove_aborted);
}

static void
error_base_event(enum keel_bdev_event_type type, struct keel_bdev *bdev, void *ctx)
{
	struct error_disk *disk = ctx;

	switch (type) {
	case KEEL_BDEV_EVENT_REMOVE:
		KEEL_NOTICELOG("base bdev %s is being removed: removing %s\n",
			       keel_bdev_get_name(bdev), disk->bdev.name);
		if (!__atomic_load_n(&disk->removing, __ATOMIC_ACQUIRE)) {
			error_disk_remove(disk, NULL, NULL);
		}
		break;
	case KEEL_BDEV_EVENT_RESIZE:
		keel_bdev_notify_blockcnt_change(&disk->bdev, keel_bdev_get_num_blocks(bdev));
		break;
	}
}

/* ---- info and configuration ---- */

/* The injections with I/Os left to hit: [{"io_type", "error_type", "num"}, ...]. */
static void
error_dump_injections(struct error_disk *disk, struct json_object *e)
{
	static const char *const io_names[VBDEV_ERROR_IO_COUNT] = {"read", "write", "unmap",
								   "flush"};
	static const char *const error_names[] = {"none", "failure", "pending", "corrupt_data",
						  "nomem"};
	struct json_object *arr = json_object_new_array();
	int i;

	for (i = 0; i < VBDEV_ERROR_IO_COUNT; i++) {
		const struct error_info *info = &disk->info[i];
		uint32_t num = __atomic_load_n(&info->num, __ATOMIC_ACQUIRE);
		struct json_object *o;

		if (num == 0) {
			continue;
		}
		o = json_object_new_object();
		json_object_object_add(o, "io_type", json_object_new_string(io_names[i]));
		json_object_object_add(o, "error_type",
				       json_object_new_string(error_names[info->error_type]));
		json_object_object_add(o, "num", json_object_new_int64(num));
		json_object_array_add(arr, o);
	}
	json_object_object_add(e, "injections", arr);
}

static void
error_dump_info_json(void *ctx, struct json_object *obj)
{
	struct error_disk *disk = ctx;
	struct json_object *e = json_object_new_object();

	json_object_object_add(e, "base_bdev",
			       json_object_new_string(
				       keel_bdev_get_name(keel_bdev_desc_get_bdev(disk->desc))));
	error_dump_injections(disk, e);
	json_object_object_add(obj, "error_disk", e);
}

/* Every configuration, attached or waiting for its base: one bdev_error_create each. */
static void
error_config_json(struct json_object *array)
{
	struct error_config *cfg;

	TAILQ_FOREACH (cfg, &g_error_configs, link) {
		struct json_object *call = json_object_new_object();
		struct json_object *params = json_object_new_object();

		json_object_object_add(call, "method", json_object_new_string("bdev_error_create"));
		json_object_object_add(params, "base_name", json_object_new_string(cfg->base_name));
		if (cfg->has_uuid) {
			char uuid[KEEL_UUID_STRING_LEN];

			keel_uuid_fmt(cfg->uuid, uuid);
			json_object_object_add(params, "uuid", json_object_new_string(uuid));
		}
		json_object_object_add(call, "params", params);
		json_object_array_add(array, call);
	}
}

static const struct keel_bdev_fn_table g_error_fn_table = {
	.destruct = error_destruct,
	.submit_request = error_submit_request,
	.io_type_supported = error_io_type_supported,
	.get_io_channel = error_get_io_channel,
	.dump_info_json = error_dump_info_json,
	.write_config_json = NULL, /* the module writes every configuration (error_config_json) */
	.reset_channel = error_reset_channel,
};

/* ---- coming ---- */

static void
error_disk_geometry(struct error_disk *disk, const struct keel_bdev *base)
{
	size_t align = keel_bdev_get_buf_align(base);

	disk->bdev.product_name = "Error Injection Disk";
	disk->bdev.blocklen = keel_bdev_get_block_size(base);
	disk->bdev.blockcnt = keel_bdev_get_num_blocks(base);
	disk->bdev.write_cache = keel_bdev_has_write_cache(base);
	disk->bdev.optimal_io_boundary = keel_bdev_get_optimal_io_boundary(base);
	disk->bdev.max_transfer_blocks = keel_bdev_get_max_transfer_blocks(base);
	disk->bdev.max_unmap_blocks = keel_bdev_get_max_unmap_blocks(base);
	disk->bdev.max_write_zeroes_blocks = keel_bdev_get_max_write_zeroes_blocks(base);
	disk->bdev.max_compare_and_write_blocks = keel_bdev_get_max_compare_and_write_blocks(base);
	disk->bdev.required_alignment = align > 1 ? (uint32_t)__builtin_ctzll(align) : 0;
	disk->bdev.unmap_reads_zeroes = keel_bdev_unmap_reads_zeroes(base);
}

/* Open and claim the base, then register EE_<base>. */
static int
error_attach(struct error_config *cfg, char *err, size_t err_len)
{
	struct error_disk *disk = calloc(1, sizeof(*disk));
	struct keel_bdev *base;
	int rc;

	if (disk == NULL || asprintf(&disk->bdev.name, "EE_%s", cfg->base_name) < 0) {
		free(disk);
		keel_bdev_set_err(err, err_len, "out of memory");
		return -ENOMEM;
	}
	rc = keel_bdev_open_ext(cfg->base_name, true, error_base_event, disk, &disk->desc);
	if (rc != 0) {
		keel_bdev_set_err(err, err_len, "cannot open base bdev %s: %s", cfg->base_name,
				  keel_strerror(-rc));
		goto err_free_disk;
	}
	base = keel_bdev_desc_get_bdev(disk->desc);
	rc = keel_bdev_module_claim_bdev(base, disk->desc, &g_error_module);
	if (rc != 0) {
		keel_bdev_set_err(err, err_len, "base bdev %s is claimed by another module",
				  cfg->base_name);
		goto err_close;
	}
	error_disk_geometry(disk, base);
	if (cfg->has_uuid) {
		memcpy(disk->bdev.uuid, cfg->uuid, sizeof(cfg->uuid));
	}
	disk->bdev.ctxt = disk;
	disk->bdev.fn_table = &g_error_fn_table;
	disk->bdev.module = &g_error_module;
	disk->thread = keel_get_thread();
	disk->cfg = cfg;
	cfg->disk = disk;
	keel_io_device_register(disk, error_channel_create, error_channel_destroy,
				sizeof(struct error_channel), disk->bdev.name);
	rc = keel_bdev_register(&disk->bdev);
	if (rc != 0) {
		keel_bdev_set_err(err, err_len, "cannot register %s: %s", disk->bdev.name,
				  keel_strerror(-rc));
		/* The base is given back and the disk freed once the io_device is gone. */
		disk->cfg = NULL;
		cfg->disk = NULL;
		keel_io_device_unregister(disk, error_io_device_gone);
		return rc;
	}
	KEEL_NOTICELOG("error bdev %s created over %s\n", disk->bdev.name,
		       keel_bdev_get_name(base));
	return 0;

err_close:
	keel_bdev_close(disk->desc);
err_free_disk:
	free(disk->bdev.name);
	free(disk);
	return rc;
}

int
vbdev_error_create(const char *base_name, const uint8_t *uuid, char *err, size_t err_len)
{
	struct error_config *cfg;
	int rc;

	if (base_name == NULL || base_name[0] == '\0') {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'base_name': must not be empty");
		return -EINVAL;
	}
	if (error_config_find(base_name) != NULL) {
		keel_bdev_set_err(err, err_len, "an error bdev over %s exists already", base_name);
		return -EEXIST;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL || (cfg->base_name = strdup(base_name)) == NULL) {
		free(cfg);
		keel_bdev_set_err(err, err_len, "out of memory");
		return -ENOMEM;
	}
	if (uuid != NULL) {
		memcpy(cfg->uuid, uuid, sizeof(cfg->uuid));
		cfg->has_uuid = true;
	}
	TAILQ_INSERT_TAIL(&g_error_configs, cfg, link);
	if (keel_bdev_get_by_name(base_name) == NULL) {
		/* As SPDK does: the error bdev is made when the base appears. */
		KEEL_NOTICELOG(
			"base bdev %s does not exist yet: EE_%s is created when it appears\n",
			base_name, base_name);
		return 0;
	}
	rc = error_attach(cfg, err, err_len);
	if (rc != 0) {
		error_config_free(cfg);
	}
	return rc;
}

int
vbdev_error_delete(const char *name, keel_bdev_done_cb cb, void *cb_arg)
{
	struct error_disk *disk = error_disk_find(name);
	struct error_config *cfg;

	if (disk != NULL) {
		if (__atomic_load_n(&disk->removing, __ATOMIC_ACQUIRE)) {
			return -ENODEV;
		}
		error_disk_remove(disk, cb, cb_arg);
		return 0;
	}
	/* A configuration waiting for its base: only it goes. */
	TAILQ_FOREACH (cfg, &g_error_configs, link) {
		if (cfg->disk == NULL && strncmp(name, "EE_", 3) == 0 &&
		    strcmp(name + 3, cfg->base_name) == 0) {
			error_config_free(cfg);
			cb(cb_arg, 0);
			return 0;
		}
	}
	return -ENODEV;
}

static void
error_info_set(struct error_info *info, const struct vbdev_error_inject_opts *opts)
{
	/* num last: an I/O thread that sees it sees the rest. */
	info->error_type = opts->error_type;
	info->queue_depth = opts->queue_depth;
	info->corrupt_offset = opts->corrupt_offset;
	info->corrupt_value = opts->corrupt_value;
	__atomic_store_n(&info->num, opts->num, __ATOMIC_RELEASE);
}

int
vbdev_error_inject(const char *name, const struct vbdev_error_inject_opts *opts)
{
	struct error_disk *disk = error_disk_find(name);
	int i;

	if (disk == NULL) {
		return -ENODEV;
	}
	if (opts->error_type == VBDEV_ERROR_CORRUPT_DATA && opts->corrupt_value == 0 &&
	    opts->io_type != VBDEV_ERROR_IO_CLEAR) {
		return -EINVAL; /* XOR with 0 would change nothing */
	}
	switch (opts->io_type) {
	case VBDEV_ERROR_IO_CLEAR:
		for (i = 0; i < VBDEV_ERROR_IO_COUNT; i++) {
			__atomic_store_n(&disk->info[i].num, 0, __ATOMIC_RELEASE);
		}
		break;
	case VBDEV_ERROR_IO_ALL:
		for (i = 0; i < VBDEV_ERROR_IO_COUNT; i++) {
			error_info_set(&disk->info[i], opts);
		}
		break;
	default:
		if ((int)opts->io_type < 0 || opts->io_type >= VBDEV_ERROR_IO_COUNT) {
			return -EINVAL;
		}
		error_info_set(&disk->info[opts->io_type], opts);
		break;
	}
	return 0;
}

/* A bdev appeared: is it the base of an error bdev waiting for it? */
static void
error_examine(struct keel_bdev *bdev)
{
	struct error_config *cfg;
	char err[256];

	TAILQ_FOREACH (cfg, &g_error_configs, link) {
		if (cfg->disk != NULL || keel_bdev_get_by_name(cfg->base_name) != bdev) {
			continue;
		}
		if (error_attach(cfg, err, sizeof(err)) != 0) {
			KEEL_ERRLOG("cannot create EE_%s: %s\n", cfg->base_name, err);
		}
		return;
	}
}

/*
 * [BdevError] of the legacy configuration file, one base a line:
 *     BdevError <base bdev>
 * A base that does not exist yet gets its error bdev when it appears.
 */
static int
error_module_init(void)
{
	struct keel_conf *conf = keel_conf_get_default();
	struct keel_conf_section *sp;
	const char *base;
	char err[256];
	int i;

	sp = conf != NULL ? keel_conf_find_section(conf, "BdevError") : NULL;
	if (sp == NULL) {
		return 0;
	}
	for (i = 0; (base = keel_conf_section_get_nmval(sp, "BdevError", i, 0)) != NULL; i++) {
		if (vbdev_error_create(base, NULL, err, sizeof(err)) != 0) {
			KEEL_ERRLOG("%s:%d: [BdevError] BdevError %s: %s\n",
				    keel_conf_get_name(conf),
				    keel_conf_section_get_item_line(sp, "BdevError", i), base, err);
		}
	}
	return 0;
}

/* Every bdev is gone by now, the error bdevs with them: only waiting configurations are left. */
static void
error_module_fini(void)
{
	struct error_config *cfg;

	while ((cfg = TAILQ_FIRST(&g_error_configs)) != NULL) {
		error_config_free(cfg);
	}
}

static struct keel_bdev_module g_error_module = {
	.name = "error",
	.module_init = error_module_init,
	.module_fini = error_module_fini,
	.io_ctx_size = sizeof(struct error_io),
	.config_json = error_config_json,
	.examine = error_examine,
};
KEEL_BDEV_MODULE_REGISTER(error, &g_error_module)
