/*
 * The generic block device layer: module and bdev registration, names, aliases and UUIDs,
 * descriptors with remove/resize events, the asynchronous unregistration that hot-remove is
 * built on, and the "bdev" subsystem that starts and stops every module. The I/O path lives in
 * bdev_io.c.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/bdev_module.h"
#include "keel/conf.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/log.h"
#include "keel/thread.h"
#include "keel/util.h"

#include "bdev_internal.h"

#include <json-c/json.h>
#include <uuid/uuid.h>

KEEL_LOG_REGISTER_COMPONENT(bdev)

struct bdev_mgr g_bdev_mgr = {
	.bdevs = TAILQ_HEAD_INITIALIZER(g_bdev_mgr.bdevs),
	.modules = TAILQ_HEAD_INITIALIZER(g_bdev_mgr.modules),
	.opts = {
		.bdev_io_pool_size = BDEV_DEFAULT_IO_POOL_SIZE,
		.bdev_io_cache_size = BDEV_DEFAULT_IO_CACHE_SIZE,
		.bdev_auto_examine = true,
	},
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

void
keel_bdev_module_list_add(struct keel_bdev_module *module)
{
	TAILQ_INSERT_TAIL(&g_bdev_mgr.modules, module, link);
}

struct keel_bdev_module *
keel_bdev_module_find(const char *name)
{
	struct keel_bdev_module *m;

	TAILQ_FOREACH(m, &g_bdev_mgr.modules, link) {
		if (strcmp(m->name, name) == 0) {
			return m;
		}
	}
	return NULL;
}

void
keel_bdev_get_opts(struct keel_bdev_opts *opts)
{
	*opts = g_bdev_mgr.opts;
}

int
keel_bdev_set_opts(const struct keel_bdev_opts *opts)
{
	if (g_bdev_mgr.initialized) {
		return -EPERM;
	}
	if (opts->bdev_io_pool_size < 64 || opts->bdev_io_cache_size == 0 ||
	    opts->bdev_io_cache_size * 2 > opts->bdev_io_pool_size) {
		return -EINVAL;
	}
	g_bdev_mgr.opts = *opts;
	return 0;
}

int
keel_uuid_parse(uint8_t uuid[16], const char *str)
{
	return uuid_parse(str, uuid) == 0 ? 0 : -EINVAL;
}

void
keel_uuid_fmt(const uint8_t uuid[16], char *buf)
{
	uuid_unparse_lower(uuid, buf);
}

void
keel_uuid_generate(uint8_t uuid[16])
{
	uuid_generate(uuid);
}

/* Caller holds the lock. */
static struct keel_bdev *
bdev_find_locked(const char *name)
{
	struct keel_bdev_alias *a;
	struct keel_bdev *bdev;
	char uuid[KEEL_UUID_STRING_LEN];

	TAILQ_FOREACH(bdev, &g_bdev_mgr.bdevs, internal.link) {
		if (strcmp(bdev->name, name) == 0) {
			return bdev;
		}
		TAILQ_FOREACH(a, &bdev->internal.aliases, link) {
			if (strcmp(a->alias, name) == 0) {
				return bdev;
			}
		}
		keel_uuid_fmt(bdev->uuid, uuid);
		if (strcasecmp(uuid, name) == 0) {
			return bdev;
		}
	}
	return NULL;
}

struct keel_bdev *
keel_bdev_get_by_name(const char *name)
{
	struct keel_bdev *bdev;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	bdev = bdev_find_locked(name);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return bdev;
}

struct keel_bdev *
keel_bdev_first(void)
{
	return TAILQ_FIRST(&g_bdev_mgr.bdevs);
}

struct keel_bdev *
keel_bdev_next(struct keel_bdev *prev)
{
	return TAILQ_NEXT(prev, internal.link);
}

const char *
keel_bdev_get_name(const struct keel_bdev *bdev)
{
	return bdev->name;
}

const char *
keel_bdev_get_product_name(const struct keel_bdev *bdev)
{
	return bdev->product_name ? bdev->product_name : "";
}

const char *
keel_bdev_get_module_name(const struct keel_bdev *bdev)
{
	return bdev->module ? bdev->module->name : "";
}

uint32_t
keel_bdev_get_block_size(const struct keel_bdev *bdev)
{
	return bdev->blocklen;
}

uint64_t
keel_bdev_get_num_blocks(const struct keel_bdev *bdev)
{
	return __atomic_load_n(&bdev->blockcnt, __ATOMIC_RELAXED);
}

void
keel_bdev_get_uuid_str(const struct keel_bdev *bdev, char *buf)
{
	keel_uuid_fmt(bdev->uuid, buf);
}

const uint8_t *
keel_bdev_get_uuid(const struct keel_bdev *bdev)
{
	return bdev->uuid;
}

bool
keel_bdev_has_write_cache(const struct keel_bdev *bdev)
{
	return bdev->write_cache;
}

uint32_t
keel_bdev_get_optimal_io_boundary(const struct keel_bdev *bdev)
{
	return bdev->optimal_io_boundary;
}

uint32_t
keel_bdev_get_max_transfer_blocks(const struct keel_bdev *bdev)
{
	return bdev->max_transfer_blocks;
}

uint32_t
keel_bdev_get_max_unmap_blocks(const struct keel_bdev *bdev)
{
	return bdev->max_unmap_blocks;
}

uint32_t
keel_bdev_get_max_write_zeroes_blocks(const struct keel_bdev *bdev)
{
	return bdev->max_write_zeroes_blocks;
}

uint32_t
keel_bdev_get_max_compare_and_write_blocks(const struct keel_bdev *bdev)
{
	return bdev->max_compare_and_write_blocks;
}

bool
keel_bdev_unmap_reads_zeroes(const struct keel_bdev *bdev)
{
	return bdev->unmap_reads_zeroes;
}

bool
keel_bdev_supports_zcopy(const struct keel_bdev *bdev)
{
	return bdev->zcopy_read;
}

size_t
keel_bdev_get_buf_align(const struct keel_bdev *bdev)
{
	return (size_t)1 << bdev->required_alignment;
}

bool
keel_bdev_io_type_supported(struct keel_bdev *bdev, enum keel_bdev_io_type type)
{
	switch (type) {
	case KEEL_BDEV_IO_TYPE_COMPARE:
	case KEEL_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		/* Emulated with reads (and a range lock) when the module lacks them. */
		return bdev->fn_table->io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_READ) &&
		       (type == KEEL_BDEV_IO_TYPE_COMPARE ||
			bdev->fn_table->io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_WRITE));
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		/* Emulated with writes of a zero buffer when the module lacks it. */
		return bdev->fn_table->io_type_supported(bdev->ctxt, type) ||
		       bdev->fn_table->io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_WRITE);
	default:
		return bdev->fn_table->io_type_supported(bdev->ctxt, type);
	}
}

void
keel_bdev_for_each_alias(const struct keel_bdev *bdev, void (*fn)(const char *alias, void *ctx),
			 void *ctx)
{
	struct keel_bdev_alias *a;

	TAILQ_FOREACH(a, &bdev->internal.aliases, link) {
		fn(a->alias, ctx);
	}
}

int
keel_bdev_alias_add(struct keel_bdev *bdev, const char *alias)
{
	struct keel_bdev_alias *a;

	if (alias == NULL || alias[0] == '\0') {
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL || (a->alias = strdup(alias)) == NULL) {
		free(a);
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (bdev_find_locked(alias) != NULL) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		free(a->alias);
		free(a);
		return -EEXIST;
	}
	TAILQ_INSERT_TAIL(&bdev->internal.aliases, a, link);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return 0;
}

int
keel_bdev_alias_del(struct keel_bdev *bdev, const char *alias)
{
	struct keel_bdev_alias *a;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	TAILQ_FOREACH(a, &bdev->internal.aliases, link) {
		if (strcmp(a->alias, alias) == 0) {
			TAILQ_REMOVE(&bdev->internal.aliases, a, link);
			pthread_mutex_unlock(&g_bdev_mgr.lock);
			free(a->alias);
			free(a);
			return 0;
		}
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return -ENOENT;
}

static bool
bdev_uuid_is_null(const uint8_t uuid[16])
{
	static const uint8_t zero[16];

	return memcmp(uuid, zero, 16) == 0;
}

void
keel_bdev_set_err(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_len == 0) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

/* Offer a new bdev to the modules that build on others (split). */
static void
bdev_examine(struct keel_bdev *bdev)
{
	struct keel_bdev_module *m;

	TAILQ_FOREACH(m, &g_bdev_mgr.modules, link) {
		if (m->examine != NULL && m != bdev->module) {
			m->examine(bdev);
		}
	}
}

int
keel_bdev_register(struct keel_bdev *bdev)
{
	char uuid[KEEL_UUID_STRING_LEN];

	if (bdev->name == NULL || bdev->name[0] == '\0' || strlen(bdev->name) >= KEEL_BDEV_MAX_NAME_LEN) {
		KEEL_ERRLOG("bdev name missing or too long\n");
		return -EINVAL;
	}
	if (bdev->blocklen < 512 || (bdev->blocklen & (bdev->blocklen - 1)) != 0 ||
	    bdev->blockcnt == 0 || bdev->fn_table == NULL || bdev->fn_table->submit_request == NULL ||
	    bdev->fn_table->get_io_channel == NULL || bdev->fn_table->io_type_supported == NULL) {
		KEEL_ERRLOG("bdev %s: invalid block size, block count or function table\n", bdev->name);
		return -EINVAL;
	}
	if (bdev->blockcnt > UINT64_MAX / bdev->blocklen) {
		KEEL_ERRLOG("bdev %s: size overflows\n", bdev->name);
		return -EINVAL;
	}
	if (bdev->max_unmap_blocks == 0) {
		bdev->max_unmap_blocks = BDEV_DEFAULT_MAX_UNMAP_BLOCKS;
	}
	if (bdev->max_write_zeroes_blocks == 0) {
		bdev->max_write_zeroes_blocks = BDEV_DEFAULT_MAX_UNMAP_BLOCKS;
	}
	if (bdev->max_compare_and_write_blocks == 0) {
		bdev->max_compare_and_write_blocks = 1;
	}
	if (bdev_uuid_is_null(bdev->uuid)) {
		keel_uuid_generate(bdev->uuid);
	}
	keel_uuid_fmt(bdev->uuid, uuid);

	TAILQ_INIT(&bdev->internal.aliases);
	TAILQ_INIT(&bdev->internal.open_descs);
	TAILQ_INIT(&bdev->internal.locked_ranges);
	pthread_mutex_init(&bdev->internal.lock, NULL);
	bdev->internal.status = BDEV_STATUS_READY;
	bdev->internal.qos = NULL;
	bdev->internal.claim_module = NULL;
	memset(&bdev->internal.stat_retired, 0, sizeof(bdev->internal.stat_retired));

	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (bdev_find_locked(bdev->name) != NULL) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		KEEL_ERRLOG("bdev name %s is already in use\n", bdev->name);
		return -EEXIST;
	}
	if (bdev_find_locked(uuid) != NULL) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		KEEL_ERRLOG("bdev %s: UUID %s is already in use\n", bdev->name, uuid);
		return -EEXIST;
	}
	keel_io_device_register(bdev_to_io_dev(bdev), bdev_channel_create, bdev_channel_destroy,
				sizeof(struct bdev_channel), bdev->name);
	TAILQ_INSERT_TAIL(&g_bdev_mgr.bdevs, bdev, internal.link);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	KEEL_INFOLOG(bdev, "registered bdev %s (%" PRIu64 " blocks of %u bytes, uuid %s)\n",
		     bdev->name, bdev->blockcnt, bdev->blocklen, uuid);
	bdev_examine(bdev);
	return 0;
}

static void
bdev_free_aliases(struct keel_bdev *bdev)
{
	struct keel_bdev_alias *a;

	while ((a = TAILQ_FIRST(&bdev->internal.aliases)) != NULL) {
		TAILQ_REMOVE(&bdev->internal.aliases, a, link);
		free(a->alias);
		free(a);
	}
}

void
keel_bdev_destruct_done(struct keel_bdev *bdev, int rc)
{
	keel_bdev_done_cb cb = bdev->internal.unregister_cb;
	void *cb_arg = bdev->internal.unregister_ctx;
	struct keel_thread *thread = bdev->internal.unregister_thread;

	(void)thread;
	if (cb != NULL) {
		cb(cb_arg, rc);
	}
}

/* Every channel of the bdev is gone: let the module free it. */
static void
bdev_io_device_gone(void *io_device)
{
	struct keel_bdev *bdev = (struct keel_bdev *)((uint8_t *)io_device - 1);
	keel_bdev_done_cb cb = bdev->internal.unregister_cb;
	void *cb_arg = bdev->internal.unregister_ctx;
	int rc = 0;

	pthread_mutex_destroy(&bdev->internal.lock);
	bdev_free_aliases(bdev);
	KEEL_INFOLOG(bdev, "bdev %s destroyed\n", bdev->name);
	if (bdev->fn_table->destruct != NULL) {
		rc = bdev->fn_table->destruct(bdev->ctxt);
		if (rc == 1) {
			/* The module calls keel_bdev_destruct_done(); bdev may be freed by then. */
			return;
		}
	}
	/* The module may have freed bdev in destruct: use the saved callback. */
	if (cb != NULL) {
		cb(cb_arg, rc < 0 ? rc : 0);
	}
}

/* The last descriptor is closed (or none was open): remove the bdev from the list and wait for
 * its channels to go. */
static void
bdev_unregister_unlink(struct keel_bdev *bdev)
{
	pthread_mutex_lock(&g_bdev_mgr.lock);
	TAILQ_REMOVE(&g_bdev_mgr.bdevs, bdev, internal.link);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	bdev_qos_destroy(bdev);
	bdev_qd_destroy(bdev);
	keel_io_device_unregister(bdev_to_io_dev(bdev), bdev_io_device_gone);
}

static void
bdev_desc_deliver_event(void *arg)
{
	struct keel_bdev_desc *desc = arg;
	struct keel_bdev *bdev = desc->bdev;

	pthread_mutex_lock(&bdev->internal.lock);
	desc->refs--;
	if (desc->closed) {
		bool last = desc->refs == 0;

		pthread_mutex_unlock(&bdev->internal.lock);
		if (last) {
			free(desc);
		}
		return;
	}
	pthread_mutex_unlock(&bdev->internal.lock);
	desc->event_cb(KEEL_BDEV_EVENT_REMOVE, bdev, desc->event_ctx);
}

void
keel_bdev_unregister(struct keel_bdev *bdev, keel_bdev_done_cb cb, void *cb_arg)
{
	struct keel_bdev_desc *desc;
	bool none_open;

	pthread_mutex_lock(&bdev->internal.lock);
	if (bdev->internal.status == BDEV_STATUS_REMOVING) {
		pthread_mutex_unlock(&bdev->internal.lock);
		if (cb != NULL) {
			cb(cb_arg, -EBUSY);
		}
		return;
	}
	__atomic_store_n(&bdev->internal.status, BDEV_STATUS_REMOVING, __ATOMIC_RELEASE);
	bdev->internal.unregister_cb = cb;
	bdev->internal.unregister_ctx = cb_arg;
	bdev->internal.unregister_thread = keel_get_thread();
	/* Every holder hears about the removal on its own thread. */
	TAILQ_FOREACH(desc, &bdev->internal.open_descs, link) {
		if (!desc->remove_notified) {
			desc->remove_notified = true;
			desc->refs++;
			if (keel_thread_send_msg(desc->thread, bdev_desc_deliver_event, desc) != 0) {
				desc->refs--;
				KEEL_ERRLOG("bdev %s: cannot notify a holder of the removal\n", bdev->name);
			}
		}
	}
	none_open = TAILQ_EMPTY(&bdev->internal.open_descs);
	pthread_mutex_unlock(&bdev->internal.lock);
	KEEL_NOTICELOG("removing bdev %s\n", bdev->name);
	if (none_open) {
		bdev_unregister_unlink(bdev);
	}
}

struct unregister_by_name_ctx {
	keel_bdev_done_cb cb;
	void *cb_arg;
};

int
keel_bdev_unregister_by_name(const char *name, struct keel_bdev_module *module,
			     keel_bdev_done_cb cb, void *cb_arg)
{
	struct keel_bdev *bdev;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	bdev = bdev_find_locked(name);
	if (bdev == NULL || strcmp(bdev->name, name) != 0 ||
	    (module != NULL && bdev->module != module)) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		return -ENODEV;
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	keel_bdev_unregister(bdev, cb, cb_arg);
	return 0;
}

int
keel_bdev_open_ext(const char *name, bool write, keel_bdev_event_cb event_cb, void *event_ctx,
		   struct keel_bdev_desc **out)
{
	struct keel_bdev_desc *desc;
	struct keel_bdev *bdev;

	if (event_cb == NULL || keel_get_thread() == NULL) {
		return -EINVAL;
	}
	desc = calloc(1, sizeof(*desc));
	if (desc == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	bdev = bdev_find_locked(name);
	if (bdev == NULL) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		free(desc);
		return -ENODEV;
	}
	pthread_mutex_lock(&bdev->internal.lock);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (bdev->internal.status == BDEV_STATUS_REMOVING) {
		pthread_mutex_unlock(&bdev->internal.lock);
		free(desc);
		return -ENODEV;
	}
	if (write && bdev->internal.claim_module != NULL) {
		pthread_mutex_unlock(&bdev->internal.lock);
		KEEL_ERRLOG("bdev %s is claimed by module %s: cannot open it for writing\n", name,
			    bdev->internal.claim_module->name);
		free(desc);
		return -EPERM;
	}
	desc->bdev = bdev;
	desc->thread = keel_get_thread();
	desc->event_cb = event_cb;
	desc->event_ctx = event_ctx;
	desc->write = write;
	TAILQ_INSERT_TAIL(&bdev->internal.open_descs, desc, link);
	pthread_mutex_unlock(&bdev->internal.lock);
	*out = desc;
	return 0;
}

void
keel_bdev_close(struct keel_bdev_desc *desc)
{
	struct keel_bdev *bdev = desc->bdev;
	bool unlink, free_now;

	assert(desc->thread == keel_get_thread());
	pthread_mutex_lock(&bdev->internal.lock);
	TAILQ_REMOVE(&bdev->internal.open_descs, desc, link);
	desc->closed = true;
	free_now = desc->refs == 0;
	unlink = bdev->internal.status == BDEV_STATUS_REMOVING &&
		 TAILQ_EMPTY(&bdev->internal.open_descs);
	if (bdev->internal.qos != NULL && bdev->internal.qos->desc == desc) {
		bdev->internal.qos->desc = NULL;
	}
	pthread_mutex_unlock(&bdev->internal.lock);
	if (free_now) {
		free(desc);
	}
	if (unlink) {
		bdev_unregister_unlink(bdev);
	}
}

struct keel_bdev *
keel_bdev_desc_get_bdev(struct keel_bdev_desc *desc)
{
	return desc->bdev;
}

struct keel_io_channel *
keel_bdev_get_io_channel(struct keel_bdev_desc *desc)
{
	return keel_get_io_channel(bdev_to_io_dev(desc->bdev));
}

int
keel_bdev_module_claim_bdev(struct keel_bdev *bdev, struct keel_bdev_desc *desc,
			    struct keel_bdev_module *module)
{
	int rc = 0;

	pthread_mutex_lock(&bdev->internal.lock);
	if (bdev->internal.claim_module != NULL) {
		rc = -EPERM;
	} else {
		bdev->internal.claim_module = module;
	}
	pthread_mutex_unlock(&bdev->internal.lock);
	return rc;
}

void
keel_bdev_module_release_bdev(struct keel_bdev *bdev)
{
	pthread_mutex_lock(&bdev->internal.lock);
	bdev->internal.claim_module = NULL;
	pthread_mutex_unlock(&bdev->internal.lock);
}

static void
bdev_desc_deliver_resize(void *arg)
{
	struct keel_bdev_desc *desc = arg;
	struct keel_bdev *bdev = desc->bdev;
	bool closed;

	pthread_mutex_lock(&bdev->internal.lock);
	desc->refs--;
	closed = desc->closed;
	if (closed && desc->refs == 0) {
		pthread_mutex_unlock(&bdev->internal.lock);
		free(desc);
		return;
	}
	pthread_mutex_unlock(&bdev->internal.lock);
	if (!closed) {
		desc->event_cb(KEEL_BDEV_EVENT_RESIZE, bdev, desc->event_ctx);
	}
}

int
keel_bdev_notify_blockcnt_change(struct keel_bdev *bdev, uint64_t blockcnt)
{
	struct keel_bdev_desc *desc;

	if (blockcnt == 0) {
		return -EINVAL;
	}
	pthread_mutex_lock(&bdev->internal.lock);
	__atomic_store_n(&bdev->blockcnt, blockcnt, __ATOMIC_RELEASE);
	TAILQ_FOREACH(desc, &bdev->internal.open_descs, link) {
		desc->refs++;
		if (keel_thread_send_msg(desc->thread, bdev_desc_deliver_resize, desc) != 0) {
			desc->refs--;
		}
	}
	pthread_mutex_unlock(&bdev->internal.lock);
	return 0;
}

/* Per-thread management channel: the I/O object cache and the wait queue. */
static int
bdev_mgmt_channel_create(void *io_device, void *ctx_buf)
{
	struct bdev_mgmt_channel *mgmt = ctx_buf;

	TAILQ_INIT(&mgmt->cache);
	TAILQ_INIT(&mgmt->io_wait_queue);
	mgmt->cache_size = g_bdev_mgr.opts.bdev_io_cache_size;
	return 0;
}

static void
bdev_mgmt_channel_destroy(void *io_device, void *ctx_buf)
{
	struct bdev_mgmt_channel *mgmt = ctx_buf;
	struct keel_bdev_io *io;

	if (!TAILQ_EMPTY(&mgmt->io_wait_queue)) {
		KEEL_ERRLOG("bdev I/O wait queue not empty at channel destruction\n");
	}
	while ((io = TAILQ_FIRST(&mgmt->cache)) != NULL) {
		TAILQ_REMOVE(&mgmt->cache, io, internal.link);
		keel_mempool_put(g_bdev_mgr.io_pool, io);
	}
}

/* The legacy [Bdev] section: BdevIoPoolSize, BdevIoCacheSize. */
static int
bdev_read_legacy_config(void)
{
	struct keel_conf_section *sp = keel_conf_find_section(keel_conf_get_default(), "Bdev");
	struct keel_bdev_opts opts = g_bdev_mgr.opts;
	int64_t v;
	int rc;

	if (sp == NULL) {
		return 0;
	}
	rc = keel_conf_section_get_intval(sp, "BdevIoPoolSize", &v);
	if (rc == 0 && v > 0 && v <= UINT32_MAX) {
		opts.bdev_io_pool_size = (uint32_t)v;
	} else if (rc != -ENOENT) {
		goto err_pool;
	}
	rc = keel_conf_section_get_intval(sp, "BdevIoCacheSize", &v);
	if (rc == 0 && v > 0 && v <= UINT32_MAX) {
		opts.bdev_io_cache_size = (uint32_t)v;
	} else if (rc != -ENOENT) {
		KEEL_ERRLOG("%s:%d: [Bdev] BdevIoCacheSize: expected a positive number\n",
			    keel_conf_get_name(keel_conf_get_default()),
			    keel_conf_section_get_item_line(sp, "BdevIoCacheSize", 0));
		return -EINVAL;
	}
	if (keel_bdev_set_opts(&opts) != 0) {
		KEEL_ERRLOG("%s:%d: [Bdev]: BdevIoPoolSize must be at least 64 and at least twice "
			    "BdevIoCacheSize\n", keel_conf_get_name(keel_conf_get_default()),
			    keel_conf_section_get_line(sp));
		return -EINVAL;
	}
	return 0;
err_pool:
	KEEL_ERRLOG("%s:%d: [Bdev] BdevIoPoolSize: expected a positive number\n",
		    keel_conf_get_name(keel_conf_get_default()),
		    keel_conf_section_get_item_line(sp, "BdevIoPoolSize", 0));
	return -EINVAL;
}

static void
bdev_subsystem_init(void)
{
	struct keel_bdev_module *m;
	size_t ctx = 0;
	int rc;

	rc = bdev_read_legacy_config();
	if (rc != 0) {
		keel_subsystem_init_next(rc);
		return;
	}
	TAILQ_FOREACH(m, &g_bdev_mgr.modules, link) {
		ctx = KEEL_MAX(ctx, m->io_ctx_size);
	}
	g_bdev_mgr.io_size = KEEL_ALIGN_CEIL(sizeof(struct keel_bdev_io) + ctx, 64);
	g_bdev_mgr.io_pool = keel_mempool_create("bdev_io", g_bdev_mgr.opts.bdev_io_pool_size,
						 g_bdev_mgr.io_size, 0, KEEL_ENV_SOCKET_ID_ANY);
	if (g_bdev_mgr.io_pool == NULL) {
		KEEL_ERRLOG("cannot create the bdev I/O pool (%u objects)\n",
			    g_bdev_mgr.opts.bdev_io_pool_size);
		keel_subsystem_init_next(-ENOMEM);
		return;
	}
	keel_io_device_register(&g_bdev_mgr, bdev_mgmt_channel_create, bdev_mgmt_channel_destroy,
				sizeof(struct bdev_mgmt_channel), "bdev_mgr");
	g_bdev_mgr.initialized = true;
	TAILQ_FOREACH(m, &g_bdev_mgr.modules, link) {
		if (m->module_init != NULL) {
			rc = m->module_init();
			if (rc != 0) {
				KEEL_ERRLOG("bdev module %s failed to start: %s\n", m->name,
					    keel_strerror(-rc));
				keel_subsystem_init_next(rc);
				return;
			}
		}
	}
	keel_subsystem_init_next(0);
}

static void bdev_fini_next(void *arg, int rc);

static void
bdev_mgr_unregistered(void *io_device)
{
	struct keel_bdev_module *m;

	TAILQ_FOREACH(m, &g_bdev_mgr.modules, link) {
		if (m->module_fini != NULL) {
			m->module_fini();
		}
	}
	keel_mempool_free(g_bdev_mgr.io_pool);
	g_bdev_mgr.io_pool = NULL;
	g_bdev_mgr.initialized = false;
	keel_subsystem_fini_next();
}

static void
bdev_fini_continue(void *arg)
{
	bdev_fini_next(NULL, 0);
}

/* Unregister the bdevs one at a time, newest first (so that a bdev built on another goes
 * before it), then stop the modules. */
static void
bdev_fini_next(void *arg, int rc)
{
	struct keel_bdev *bdev;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	bdev = TAILQ_LAST(&g_bdev_mgr.bdevs, bdev_list);
	while (bdev != NULL && bdev->internal.status == BDEV_STATUS_REMOVING) {
		bdev = TAILQ_PREV(bdev, bdev_list, internal.link);
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (bdev != NULL) {
		keel_bdev_unregister(bdev, bdev_fini_next, NULL);
		return;
	}
	if (!TAILQ_EMPTY(&g_bdev_mgr.bdevs)) {
		/* Some are still being removed (held open elsewhere): look again shortly. */
		keel_thread_send_msg(keel_get_thread(), bdev_fini_continue, NULL);
		return;
	}
	keel_io_device_unregister(&g_bdev_mgr, bdev_mgr_unregistered);
}

static void
bdev_subsystem_fini(void)
{
	if (!g_bdev_mgr.initialized) {
		keel_subsystem_fini_next();
		return;
	}
	bdev_fini_next(NULL, 0);
}

static struct json_object *
bdev_config_call(const char *method, struct json_object *params)
{
	struct json_object *call = json_object_new_object();

	json_object_object_add(call, "method", json_object_new_string(method));
	json_object_object_add(call, "params", params);
	return call;
}

static void
bdev_subsystem_write_config(struct json_object *array)
{
	struct json_object *params = json_object_new_object();
	struct keel_bdev_module *m;
	struct keel_bdev *bdev;

	json_object_object_add(params, "bdev_io_pool_size",
			       json_object_new_int64(g_bdev_mgr.opts.bdev_io_pool_size));
	json_object_object_add(params, "bdev_io_cache_size",
			       json_object_new_int64(g_bdev_mgr.opts.bdev_io_cache_size));
	json_object_object_add(params, "bdev_auto_examine",
			       json_object_new_boolean(g_bdev_mgr.opts.bdev_auto_examine));
	json_object_array_add(array, bdev_config_call("bdev_set_options", params));
	TAILQ_FOREACH(m, &g_bdev_mgr.modules, link) {
		if (m->config_json != NULL) {
			m->config_json(array);
		}
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	TAILQ_FOREACH(bdev, &g_bdev_mgr.bdevs, internal.link) {
		uint64_t limits[KEEL_BDEV_QOS_NUM_RATE_LIMIT_TYPES];

		if (bdev->internal.status == BDEV_STATUS_REMOVING) {
			continue;
		}
		if (bdev->fn_table->write_config_json != NULL) {
			bdev->fn_table->write_config_json(bdev, array);
		}
		keel_bdev_get_qos_rate_limits(bdev, limits);
		if (limits[0] || limits[1] || limits[2] || limits[3]) {
			params = json_object_new_object();
			json_object_object_add(params, "name", json_object_new_string(bdev->name));
			json_object_object_add(params, "rw_ios_per_sec",
					       json_object_new_uint64(limits[0]));
			json_object_object_add(params, "rw_mbytes_per_sec",
					       json_object_new_uint64(limits[1] / 1024 / 1024));
			json_object_object_add(params, "r_mbytes_per_sec",
					       json_object_new_uint64(limits[2] / 1024 / 1024));
			json_object_object_add(params, "w_mbytes_per_sec",
					       json_object_new_uint64(limits[3] / 1024 / 1024));
			json_object_array_add(array, bdev_config_call("bdev_set_qos_limit", params));
		}
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
}

static struct keel_subsystem g_bdev_subsystem = {
	.name = "bdev",
	.init = bdev_subsystem_init,
	.fini = bdev_subsystem_fini,
	.write_config_json = bdev_subsystem_write_config,
};
KEEL_SUBSYSTEM_REGISTER(g_bdev_subsystem)
