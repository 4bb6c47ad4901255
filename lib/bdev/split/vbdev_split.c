/*
 * The split virtual bdev module: one base bdev cut into equal parts, each a bdev of its own
 * named <base>p<n>, with I/O passed to the base at the part's offset. The module claims the
 * base, so nothing else writes to it behind the parts' back. A configuration (from the RPC or
 * the [Split] section) outlives its base: when the base goes away the parts are removed, and
 * when a bdev of that name is registered again the parts come back (examine).
 */
#include "keel/stdinc.h"
#include "keel/bdev_module.h"
#include "keel/conf.h"
#include "keel/log.h"
#include "keel/thread.h"
#include "keel/util.h"

#include <json-c/json.h>

#include "vbdev_split.h"

KEEL_LOG_REGISTER_COMPONENT(vbdev_split)

struct split_disk;

/* One configured split of a base; exists from create (or the config file) to delete. */
struct split_base {
	char *base_name;		/* as configured: a name or an alias */
	uint32_t split_count;
	uint64_t split_size_mb;		/* 0: the base divided evenly */
	struct keel_bdev_desc *desc;	/* open and claimed while the parts exist */
	struct keel_thread *thread;	/* that opened desc */
	struct split_disk **parts;	/* split_count entries, NULL where none is registered */
	uint32_t parts_alive;		/* registered and not yet destructed */
	bool attached;			/* desc and io_device set up, not yet torn down */
	bool removing;			/* vbdev_split_delete is waiting for the parts */
	keel_bdev_done_cb delete_cb;
	void *delete_arg;
	TAILQ_ENTRY(split_base) link;
};

struct split_disk {
	struct keel_bdev bdev;
	struct split_base *base;
	uint64_t offset_blocks;		/* of the part's first block on the base */
	uint32_t index;
};

/* Per-thread channel of one split base (shared by its parts). */
struct split_channel {
	struct keel_io_channel *base_ch;
};

static TAILQ_HEAD(, split_base) g_split_bases = TAILQ_HEAD_INITIALIZER(g_split_bases);
static struct keel_bdev_module g_split_module;
static const struct keel_bdev_fn_table g_split_fn_table;

static struct split_base *
split_base_find(const char *base_name)
{
	struct split_base *sb;

	TAILQ_FOREACH(sb, &g_split_bases, link) {
		if (strcmp(sb->base_name, base_name) == 0) {
			return sb;
		}
	}
	return NULL;
}

static void
split_base_free(struct split_base *sb)
{
	TAILQ_REMOVE(&g_split_bases, sb, link);
	free(sb->parts);
	free(sb->base_name);
	free(sb);
}

/* ---- I/O ---- */

static void
split_io_done(struct keel_bdev_io *child, bool success, void *cb_arg)
{
	keel_bdev_io_complete_from(cb_arg, child, success);
	keel_bdev_free_io(child);
}

/* The part's blocks are the base's from the part's offset on; a RESET is the base's reset, which
 * waits for what the base has in flight, the parts' I/O with it. */
static void
split_submit_request(struct keel_io_channel *_ch, struct keel_bdev_io *io)
{
	struct split_channel *ch = keel_io_channel_get_ctx(_ch);
	struct split_disk *disk = io->bdev->ctxt;
	int rc;

	rc = keel_bdev_io_forward(io, disk->base->desc, ch->base_ch,
				  io->u.bdev.offset_blocks + disk->offset_blocks, split_io_done, io);
	if (rc == -ENOMEM) {
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_NOMEM);
	} else if (rc != 0) {
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_FAILED);
	}
}

static bool
split_io_type_supported(void *ctx, enum keel_bdev_io_type type)
{
	struct split_disk *disk = ctx;

	return keel_bdev_io_type_supported(keel_bdev_desc_get_bdev(disk->base->desc), type);
}

static int
split_channel_create(void *io_device, void *ctx_buf)
{
	struct split_base *sb = io_device;
	struct split_channel *ch = ctx_buf;

	ch->base_ch = keel_bdev_get_io_channel(sb->desc);
	return ch->base_ch != NULL ? 0 : -ENOMEM;
}

static void
split_channel_destroy(void *io_device, void *ctx_buf)
{
	struct split_channel *ch = ctx_buf;

	keel_put_io_channel(ch->base_ch);
}

static struct keel_io_channel *
split_get_io_channel(void *ctx)
{
	struct split_disk *disk = ctx;

	return keel_get_io_channel(disk->base);
}

/* ---- parts going away ---- */

static void
split_close_desc(void *arg)
{
	struct keel_bdev_desc *desc = arg;

	keel_bdev_close(desc);
}

/* Every channel of the base's io_device is gone: give the base back. */
static void
split_base_io_device_gone(void *io_device)
{
	struct split_base *sb = io_device;
	struct keel_bdev_desc *desc = sb->desc;

	keel_bdev_module_release_bdev(keel_bdev_desc_get_bdev(desc));
	sb->desc = NULL;
	sb->attached = false;
	if (sb->thread == keel_get_thread()) {
		keel_bdev_close(desc);
	} else {
		keel_thread_send_msg(sb->thread, split_close_desc, desc);
	}
	if (sb->removing) {
		keel_bdev_done_cb cb = sb->delete_cb;
		void *cb_arg = sb->delete_arg;

		KEEL_NOTICELOG("split of %s deleted\n", sb->base_name);
		split_base_free(sb);
		if (cb != NULL) {
			cb(cb_arg, 0);
		}
	} else {
		KEEL_NOTICELOG("split parts of %s removed; they come back when a bdev %s is "
			       "registered again\n",
			       sb->base_name, sb->base_name);
	}
}

static void
split_part_gone(struct split_base *sb)
{
	assert(sb->parts_alive > 0);
	if (--sb->parts_alive == 0 && sb->attached) {
		keel_io_device_unregister(sb, split_base_io_device_gone);
	}
}

static int
split_destruct(void *ctx)
{
	struct split_disk *disk = ctx;
	struct split_base *sb = disk->base;

	sb->parts[disk->index] = NULL;
	free(disk->bdev.name);
	free(disk);
	split_part_gone(sb);
	return 0;
}

static void
split_unregister_parts(struct split_base *sb)
{
	uint32_t i;

	for (i = 0; i < sb->split_count; i++) {
		if (sb->parts[i] != NULL) {
			keel_bdev_unregister(&sb->parts[i]->bdev, NULL, NULL);
		}
	}
}

static void
split_base_event(enum keel_bdev_event_type type, struct keel_bdev *bdev, void *ctx)
{
	struct split_base *sb = ctx;

	switch (type) {
	case KEEL_BDEV_EVENT_REMOVE:
		KEEL_NOTICELOG("base bdev %s is being removed: removing its split parts\n",
			       keel_bdev_get_name(bdev));
		split_unregister_parts(sb);
		break;
	case KEEL_BDEV_EVENT_RESIZE:
		/* The parts keep their size and place; a base that shrank below them fails their
		 * I/O past its end, as it would anyone's. */
		KEEL_NOTICELOG("base bdev %s resized to %" PRIu64 " blocks; split parts unchanged\n",
			       keel_bdev_get_name(bdev), keel_bdev_get_num_blocks(bdev));
		break;
	}
}

/* ---- info and configuration ---- */

static void
split_dump_info_json(void *ctx, struct json_object *obj)
{
	struct split_disk *disk = ctx;
	struct json_object *split = json_object_new_object();

	json_object_object_add(split, "base_bdev",
			       json_object_new_string(
				       keel_bdev_get_name(keel_bdev_desc_get_bdev(disk->base->desc))));
	json_object_object_add(split, "offset_blocks",
			       json_object_new_uint64(disk->offset_blocks));
	json_object_object_add(obj, "split", split);
}

/* One call recreates every part: written with the first. */
static void
split_write_config_json(struct keel_bdev *bdev, struct json_object *array)
{
	struct split_disk *disk = bdev->ctxt;
	struct split_base *sb = disk->base;
	struct json_object *call, *params;

	if (disk->index != 0) {
		return;
	}
	call = json_object_new_object();
	params = json_object_new_object();
	json_object_object_add(call, "method", json_object_new_string("bdev_split_create"));
	json_object_object_add(params, "base_bdev", json_object_new_string(sb->base_name));
	json_object_object_add(params, "split_count", json_object_new_int64(sb->split_count));
	if (sb->split_size_mb != 0) {
		json_object_object_add(params, "split_size_mb",
				       json_object_new_uint64(sb->split_size_mb));
	}
	json_object_object_add(call, "params", params);
	json_object_array_add(array, call);
}

static const struct keel_bdev_fn_table g_split_fn_table = {
	.destruct = split_destruct,
	.submit_request = split_submit_request,
	.io_type_supported = split_io_type_supported,
	.get_io_channel = split_get_io_channel,
	.dump_info_json = split_dump_info_json,
	.write_config_json = split_write_config_json,
};

/* ---- parts coming ---- */

static uint64_t
split_part_blocks(const struct split_base *sb, const struct keel_bdev *base, char *err,
		  size_t err_len)
{
	uint32_t block_size = keel_bdev_get_block_size(base);
	uint64_t base_blocks = keel_bdev_get_num_blocks(base), part_blocks;

	if (sb->split_size_mb == 0) {
		part_blocks = base_blocks / sb->split_count;
		if (part_blocks == 0) {
			keel_bdev_set_err(err, err_len,
				      "Invalid parameter 'split_count': %s has only %" PRIu64
				      " blocks, fewer than %" PRIu32 " parts",
				      keel_bdev_get_name(base), base_blocks, sb->split_count);
		}
		return part_blocks;
	}
	if (sb->split_size_mb > UINT64_MAX / (1024 * 1024) ||
	    sb->split_size_mb * 1024 * 1024 < block_size) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'split_size_mb': %" PRIu64
			      " MiB is not a size for blocks of %" PRIu32 " bytes",
			      sb->split_size_mb, block_size);
		return 0;
	}
	part_blocks = sb->split_size_mb * 1024 * 1024 / block_size;
	if (part_blocks > base_blocks / sb->split_count) {
		keel_bdev_set_err(err, err_len,
			      "Invalid parameter 'split_size_mb': %" PRIu32 " parts of %" PRIu64
			      " MiB do not fit in %s (%" PRIu64 " MiB)",
			      sb->split_count, sb->split_size_mb, keel_bdev_get_name(base),
			      base_blocks * block_size / (1024 * 1024));
		return 0;
	}
	return part_blocks;
}

static struct split_disk *
split_part_new(struct split_base *sb, const struct keel_bdev *base, uint32_t index,
	       uint64_t part_blocks)
{
	struct split_disk *disk = calloc(1, sizeof(*disk));
	size_t align = keel_bdev_get_buf_align(base);

	if (disk == NULL || asprintf(&disk->bdev.name, "%sp%" PRIu32, keel_bdev_get_name(base),
				     index) < 0) {
		free(disk);
		return NULL;
	}
	disk->base = sb;
	disk->index = index;
	disk->offset_blocks = (uint64_t)index * part_blocks;
	disk->bdev.product_name = "Split Disk";
	disk->bdev.blocklen = keel_bdev_get_block_size(base);
	disk->bdev.blockcnt = part_blocks;
	disk->bdev.write_cache = keel_bdev_has_write_cache(base);
	disk->bdev.max_transfer_blocks = keel_bdev_get_max_transfer_blocks(base);
	disk->bdev.max_unmap_blocks = keel_bdev_get_max_unmap_blocks(base);
	disk->bdev.max_write_zeroes_blocks = keel_bdev_get_max_write_zeroes_blocks(base);
	disk->bdev.max_compare_and_write_blocks = keel_bdev_get_max_compare_and_write_blocks(base);
	disk->bdev.required_alignment = align > 1 ? (uint32_t)__builtin_ctzll(align) : 0;
	disk->bdev.unmap_reads_zeroes = keel_bdev_unmap_reads_zeroes(base);
	disk->bdev.ctxt = disk;
	disk->bdev.fn_table = &g_split_fn_table;
	disk->bdev.module = &g_split_module;
	return disk;
}

/*
 * Open and claim the base, then register the parts. On a failure after the claim (*claimed
 * true) the parts registered so far are unregistered again and the base is released when the
 * last is gone, which may be before this returns: sb is then freed if it was removing.
 */
static int
split_base_attach(struct split_base *sb, void (*name_fn)(const char *name, void *ctx), void *ctx,
		  char *err, size_t err_len, bool *claimed)
{
	struct keel_bdev *base;
	uint64_t part_blocks;
	uint32_t i;
	int rc;

	*claimed = false;
	rc = keel_bdev_open_ext(sb->base_name, true, split_base_event, sb, &sb->desc);
	if (rc != 0) {
		keel_bdev_set_err(err, err_len, "cannot open base bdev %s: %s", sb->base_name,
			      keel_strerror(-rc));
		return rc;
	}
	base = keel_bdev_desc_get_bdev(sb->desc);
	part_blocks = split_part_blocks(sb, base, err, err_len);
	if (part_blocks == 0) {
		rc = -EINVAL;
		goto err_close;
	}
	rc = keel_bdev_module_claim_bdev(base, sb->desc, &g_split_module);
	if (rc != 0) {
		keel_bdev_set_err(err, err_len, "base bdev %s is claimed by another module",
			      sb->base_name);
		goto err_close;
	}
	*claimed = true;
	sb->thread = keel_get_thread();
	sb->attached = true;
	keel_io_device_register(sb, split_channel_create, split_channel_destroy,
				sizeof(struct split_channel), sb->base_name);
	/* Held while registering, so that a failure half-way cannot tear down under us. */
	sb->parts_alive = 1;
	for (i = 0; i < sb->split_count; i++) {
		struct split_disk *disk = split_part_new(sb, base, i, part_blocks);

		if (disk == NULL) {
			keel_bdev_set_err(err, err_len, "out of memory");
			rc = -ENOMEM;
			break;
		}
		rc = keel_bdev_register(&disk->bdev);
		if (rc != 0) {
			keel_bdev_set_err(err, err_len, "cannot register split bdev %s: %s",
				      disk->bdev.name, keel_strerror(-rc));
			free(disk->bdev.name);
			free(disk);
			break;
		}
		sb->parts[i] = disk;
		sb->parts_alive++;
		if (name_fn != NULL) {
			name_fn(disk->bdev.name, ctx);
		}
	}
	if (rc != 0) {
		split_unregister_parts(sb);
	} else {
		KEEL_NOTICELOG("%s split into %" PRIu32 " parts of %" PRIu64 " blocks\n",
			       keel_bdev_get_name(base), sb->split_count, part_blocks);
	}
	split_part_gone(sb); /* sb may be gone after this */
	return rc;

err_close:
	keel_bdev_close(sb->desc);
	sb->desc = NULL;
	return rc;
}

static struct split_base *
split_base_new(const char *base_name, uint32_t split_count, uint64_t split_size_mb)
{
	struct split_base *sb = calloc(1, sizeof(*sb));

	if (sb == NULL) {
		return NULL;
	}
	sb->base_name = strdup(base_name);
	sb->parts = calloc(split_count, sizeof(*sb->parts));
	if (sb->base_name == NULL || sb->parts == NULL) {
		free(sb->base_name);
		free(sb->parts);
		free(sb);
		return NULL;
	}
	sb->split_count = split_count;
	sb->split_size_mb = split_size_mb;
	TAILQ_INSERT_TAIL(&g_split_bases, sb, link);
	return sb;
}

static int
split_check_args(const char *base_name, uint32_t split_count, char *err, size_t err_len)
{
	if (base_name == NULL || base_name[0] == '\0') {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'base_bdev': must not be empty");
		return -EINVAL;
	}
	if (split_count == 0 || split_count > SPLIT_MAX_COUNT) {
		keel_bdev_set_err(err, err_len,
			      "Invalid parameter 'split_count': %" PRIu32 " is not from 1 to %d",
			      split_count, SPLIT_MAX_COUNT);
		return -EINVAL;
	}
	if (split_base_find(base_name) != NULL) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'base_bdev': %s is split already",
			      base_name);
		return -EEXIST;
	}
	return 0;
}

int
vbdev_split_create(const char *base_name, uint32_t split_count, uint64_t split_size_mb,
		   void (*name_fn)(const char *name, void *ctx), void *ctx, char *err,
		   size_t err_len)
{
	struct split_base *sb;
	bool claimed;
	int rc;

	rc = split_check_args(base_name, split_count, err, err_len);
	if (rc != 0) {
		return rc;
	}
	if (keel_bdev_get_by_name(base_name) == NULL) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'base_bdev': no bdev '%s'",
			      base_name);
		return -ENODEV;
	}
	sb = split_base_new(base_name, split_count, split_size_mb);
	if (sb == NULL) {
		keel_bdev_set_err(err, err_len, "out of memory");
		return -ENOMEM;
	}
	/* Until it succeeds: a failure after the base was claimed forgets the configuration
	 * once what was registered is gone (perhaps at once). */
	sb->removing = true;
	rc = split_base_attach(sb, name_fn, ctx, err, err_len, &claimed);
	if (rc == 0) {
		sb->removing = false;
	} else if (!claimed) {
		split_base_free(sb);
	}
	return rc;
}

int
vbdev_split_delete(const char *base_name, keel_bdev_done_cb cb, void *cb_arg)
{
	struct split_base *sb = split_base_find(base_name);

	if (sb == NULL || sb->removing) {
		return -ENODEV;
	}
	if (!sb->attached) {
		/* The base is absent: only the configuration goes. */
		split_base_free(sb);
		cb(cb_arg, 0);
		return 0;
	}
	sb->removing = true;
	sb->delete_cb = cb;
	sb->delete_arg = cb_arg;
	split_unregister_parts(sb);
	return 0;
}

/* A bdev appeared: is it the base of a split waiting for it? */
static void
split_examine(struct keel_bdev *bdev)
{
	struct split_base *sb;
	bool claimed;
	char err[256];

	TAILQ_FOREACH(sb, &g_split_bases, link) {
		if (sb->attached || sb->removing || keel_bdev_get_by_name(sb->base_name) != bdev) {
			continue;
		}
		if (split_base_attach(sb, NULL, NULL, err, sizeof(err), &claimed) != 0) {
			KEEL_ERRLOG("cannot split %s: %s\n", bdev->name, err);
		}
		return;
	}
}

/*
 * [Split] of the legacy configuration file, one base per line:
 *     Split <base bdev> <count> [<size in MiB>]
 * A base that does not exist yet is split when it appears.
 */
static void
split_read_conf_line(struct keel_conf *conf, struct keel_conf_section *sp, int idx)
{
	const char *base = keel_conf_section_get_nmval(sp, "Split", idx, 0);
	const char *count = keel_conf_section_get_nmval(sp, "Split", idx, 1);
	const char *size = keel_conf_section_get_nmval(sp, "Split", idx, 2);
	int line = keel_conf_section_get_item_line(sp, "Split", idx);
	uint32_t split_count = 0;
	uint64_t split_size_mb = 0;
	struct split_base *sb;
	bool claimed;
	char err[256];

	if (count == NULL || keel_parse_u32(count, &split_count) != 0 ||
	    (size != NULL && keel_parse_u64(size, &split_size_mb) != 0)) {
		KEEL_ERRLOG("%s:%d: [Split] Split %s: expected Split <base> <count> [<size in "
			    "MiB>]\n",
			    keel_conf_get_name(conf), line, base);
		return;
	}
	if (split_check_args(base, split_count, err, sizeof(err)) != 0) {
		KEEL_ERRLOG("%s:%d: [Split] %s\n", keel_conf_get_name(conf), line, err);
		return;
	}
	sb = split_base_new(base, split_count, split_size_mb);
	if (sb == NULL) {
		KEEL_ERRLOG("%s:%d: [Split] out of memory\n", keel_conf_get_name(conf), line);
		return;
	}
	if (keel_bdev_get_by_name(base) == NULL) {
		KEEL_NOTICELOG("%s:%d: [Split] base bdev %s does not exist yet: it is split when "
			       "it appears\n",
			       keel_conf_get_name(conf), line, base);
		return;
	}
	if (split_base_attach(sb, NULL, NULL, err, sizeof(err), &claimed) != 0) {
		KEEL_ERRLOG("%s:%d: [Split] cannot split %s: %s\n", keel_conf_get_name(conf), line,
			    base, err);
	}
}

static int
split_module_init(void)
{
	struct keel_conf *conf = keel_conf_get_default();
	struct keel_conf_section *sp;
	int i;

	sp = conf != NULL ? keel_conf_find_section(conf, "Split") : NULL;
	if (sp == NULL) {
		return 0;
	}
	for (i = 0; keel_conf_section_get_nmval(sp, "Split", i, 0) != NULL; i++) {
		split_read_conf_line(conf, sp, i);
	}
	return 0;
}

/* Every bdev is gone by now, the parts with them: only configurations are left. */
static void
split_module_fini(void)
{
	struct split_base *sb;

	while ((sb = TAILQ_FIRST(&g_split_bases)) != NULL) {
		split_base_free(sb);
	}
}

static struct keel_bdev_module g_split_module = {
	.name = "split",
	.module_init = split_module_init,
	.module_fini = split_module_fini,
	.io_ctx_size = 0,
	.config_json = NULL,
	.examine = split_examine,
};
KEEL_BDEV_MODULE_REGISTER(split, &g_split_module)
