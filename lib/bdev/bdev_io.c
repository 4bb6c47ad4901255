/*
 * The bdev I/O path: I/O objects from per-thread caches over one pool, submission with range
 * and size checks, splitting on the optimal boundary and the transfer limit, bounce buffers for
 * modules that need aligned memory, retries when a module runs out of resources, statistics,
 * the wait queue for callers that found no free I/O object, and reset.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/bdev_module.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/thread.h"

#include "bdev_internal.h"

/* Channels. */

/*
 * The clock of the I/O path, for submission stamps and latency statistics. A TSC read costs
 * 25-35 ns on some virtual machines, as much as all the rest of an I/O to a null bdev, so it is
 * read once per poll of the channel's thread: every poll ends with a new last TSC of the thread,
 * and the first stamp asked for in a poll reads the TSC while the others of that poll reuse it.
 * A latency is then exact to within the length of one poll; a completion in the very poll of
 * its submission reads the TSC again (bdev_channel_now_after()), so no latency comes out zero.
 */
static inline uint64_t
bdev_channel_now(struct bdev_channel *ch)
{
	uint64_t poll = keel_thread_get_last_tsc(ch->thread);

	if (keel_unlikely(poll != ch->clock_poll)) {
		ch->clock_poll = poll;
		ch->clock_now = keel_get_ticks();
	}
	return ch->clock_now;
}

static inline uint64_t
bdev_channel_now_after(struct bdev_channel *ch, uint64_t since)
{
	uint64_t now = bdev_channel_now(ch);

	if (keel_unlikely(now == since)) {
		now = keel_get_ticks();
		ch->clock_now = now;
	}
	return now;
}

static int
bdev_nomem_poller(void *arg)
{
	struct bdev_channel *ch = arg;
	struct keel_bdev_io *io;
	int n = 0;

	/* Retry I/O the module had no room for; stop at the first that bounces again. */
	while ((io = TAILQ_FIRST(&ch->nomem_io)) != NULL) {
		TAILQ_REMOVE(&ch->nomem_io, io, internal.link);
		io->internal.queued = false;
		bdev_io_submit_to_module(io);
		n++;
		if (io->internal.queued) {
			break;
		}
	}
	return n > 0 ? KEEL_POLLER_BUSY : KEEL_POLLER_IDLE;
}

int
bdev_channel_create(void *io_device, void *ctx_buf)
{
	struct keel_bdev *bdev = (struct keel_bdev *)((uint8_t *)io_device - 1);
	struct bdev_channel *ch = ctx_buf;

	ch->bdev = bdev;
	ch->thread = keel_get_thread();
	TAILQ_INIT(&ch->nomem_io);
	TAILQ_INIT(&ch->locked_io);
	TAILQ_INIT(&ch->qos_io);
	TAILQ_INIT(&ch->outstanding);
	TAILQ_INIT(&ch->locked_ranges);
	ch->stat.min_read_latency_ticks = UINT64_MAX;
	ch->stat.min_write_latency_ticks = UINT64_MAX;
	ch->mgmt_io_ch = keel_get_io_channel(&g_bdev_mgr);
	if (ch->mgmt_io_ch == NULL) {
		return -ENOMEM;
	}
	ch->mgmt = keel_io_channel_get_ctx(ch->mgmt_io_ch);
	ch->module_ch = bdev->fn_table->get_io_channel(bdev->ctxt);
	if (ch->module_ch == NULL) {
		keel_put_io_channel(ch->mgmt_io_ch);
		return -ENOMEM;
	}
	/* Timed: it only matters when a module said NOMEM. */
	ch->nomem_poller = keel_poller_register(bdev_nomem_poller, ch, 1000);
	if (ch->nomem_poller == NULL) {
		keel_put_io_channel(ch->module_ch);
		keel_put_io_channel(ch->mgmt_io_ch);
		return -ENOMEM;
	}
	return 0;
}

void
bdev_stat_add(struct keel_bdev_io_stat *sum, const struct keel_bdev_io_stat *add)
{
	sum->bytes_read += add->bytes_read;
	sum->num_read_ops += add->num_read_ops;
	sum->bytes_written += add->bytes_written;
	sum->num_write_ops += add->num_write_ops;
	sum->bytes_unmapped += add->bytes_unmapped;
	sum->num_unmap_ops += add->num_unmap_ops;
	sum->num_flush_ops += add->num_flush_ops;
	sum->num_other_ops += add->num_other_ops;
	sum->num_failed_ops += add->num_failed_ops;
	sum->read_latency_ticks += add->read_latency_ticks;
	sum->write_latency_ticks += add->write_latency_ticks;
	sum->unmap_latency_ticks += add->unmap_latency_ticks;
	sum->max_read_latency_ticks = KEEL_MAX(sum->max_read_latency_ticks,
					       add->max_read_latency_ticks);
	sum->max_write_latency_ticks = KEEL_MAX(sum->max_write_latency_ticks,
						add->max_write_latency_ticks);
	if (add->num_read_ops > 0) {
		sum->min_read_latency_ticks = KEEL_MIN(sum->min_read_latency_ticks ?
						       sum->min_read_latency_ticks : UINT64_MAX,
						       add->min_read_latency_ticks);
	}
	if (add->num_write_ops > 0) {
		sum->min_write_latency_ticks = KEEL_MIN(sum->min_write_latency_ticks ?
							sum->min_write_latency_ticks : UINT64_MAX,
							add->min_write_latency_ticks);
	}
}

void
bdev_channel_destroy(void *io_device, void *ctx_buf)
{
	struct bdev_channel *ch = ctx_buf;
	struct keel_bdev *bdev = ch->bdev;

	bdev_channel_abort_queued(ch, bdev);
	if (ch->io_outstanding != 0) {
		KEEL_ERRLOG("bdev %s: channel destroyed with %" PRIu64 " I/O outstanding\n",
			    bdev->name, ch->io_outstanding);
	}
	pthread_mutex_lock(&bdev->internal.lock);
	bdev_stat_add(&bdev->internal.stat_retired, &ch->stat);
	pthread_mutex_unlock(&bdev->internal.lock);
	keel_poller_unregister(&ch->nomem_poller);
	keel_put_io_channel(ch->module_ch);
	keel_put_io_channel(ch->mgmt_io_ch);
}

/* I/O objects. */

struct keel_bdev_io *
bdev_io_get(struct keel_bdev_desc *desc, struct bdev_channel *ch)
{
	struct bdev_mgmt_channel *mgmt = ch->mgmt;
	struct keel_bdev_io *io;

	io = TAILQ_FIRST(&mgmt->cache);
	if (keel_likely(io != NULL)) {
		/* Callers that are waiting for an object go first. */
		if (keel_unlikely(!TAILQ_EMPTY(&mgmt->io_wait_queue))) {
			return NULL;
		}
		TAILQ_REMOVE(&mgmt->cache, io, internal.link);
		mgmt->cache_count--;
	} else {
		io = keel_mempool_get(g_bdev_mgr.io_pool);
		if (io == NULL) {
			return NULL;
		}
	}
	io->bdev = ch->bdev;
	io->internal.desc = desc;
	io->internal.ch = ch;
	io->internal.status = KEEL_BDEV_IO_STATUS_PENDING;
	io->internal.parent = NULL;
	io->internal.children_outstanding = 0;
	io->internal.split_failed = false;
	io->internal.in_submit = false;
	io->internal.queued = false;
	io->internal.bounce_buf = NULL;
	io->internal.orig_iovs = NULL;
	io->internal.step = 0;
	io->internal.qos_hop = false;
	io->internal.miscompare_offset = 0;
	io->u.bdev.flags = 0;
	io->u.bdev.cmp_iovs = NULL;
	io->u.bdev.cmp_iovcnt = 0;
	return io;
}

/* Run the first waiter whose object can now be had. */
static void
bdev_mgmt_run_waiters(struct bdev_mgmt_channel *mgmt)
{
	struct keel_bdev_io_wait_entry *entry;

	while (mgmt->cache_count > 0 && (entry = TAILQ_FIRST(&mgmt->io_wait_queue)) != NULL) {
		TAILQ_REMOVE(&mgmt->io_wait_queue, entry, link);
		entry->cb_fn(entry->cb_arg);
	}
}

static void
bdev_mgmt_wake_waiters(void *arg)
{
	struct bdev_mgmt_channel *mgmt = arg;
	struct keel_bdev_io_wait_entry *entry;

	/* Refill the cache from the pool so that the waiters' submissions find objects. */
	while (mgmt->cache_count < mgmt->cache_size && !TAILQ_EMPTY(&mgmt->io_wait_queue)) {
		struct keel_bdev_io *io = keel_mempool_get(g_bdev_mgr.io_pool);

		if (io == NULL) {
			break;
		}
		TAILQ_INSERT_HEAD(&mgmt->cache, io, internal.link);
		mgmt->cache_count++;
		if (mgmt->cache_count >= 8) {
			break;
		}
	}
	while (mgmt->cache_count > 0 && (entry = TAILQ_FIRST(&mgmt->io_wait_queue)) != NULL) {
		TAILQ_REMOVE(&mgmt->io_wait_queue, entry, link);
		entry->cb_fn(entry->cb_arg);
	}
}

void
bdev_io_put(struct keel_bdev_io *io)
{
	struct bdev_mgmt_channel *mgmt = io->internal.ch->mgmt;

	if (io->internal.bounce_buf != NULL) {
		keel_dma_free(io->internal.bounce_buf);
		io->internal.bounce_buf = NULL;
	}
	if (mgmt->cache_count < mgmt->cache_size) {
		TAILQ_INSERT_HEAD(&mgmt->cache, io, internal.link);
		mgmt->cache_count++;
		if (keel_unlikely(!TAILQ_EMPTY(&mgmt->io_wait_queue))) {
			bdev_mgmt_run_waiters(mgmt);
		}
	} else {
		keel_mempool_put(g_bdev_mgr.io_pool, io);
	}
}

void
keel_bdev_free_io(struct keel_bdev_io *io)
{
	assert(io->internal.status != KEEL_BDEV_IO_STATUS_PENDING);
	bdev_io_put(io);
}

int
keel_bdev_queue_io_wait(struct keel_bdev *bdev, struct keel_io_channel *_ch,
			struct keel_bdev_io_wait_entry *entry)
{
	struct bdev_channel *ch = keel_io_channel_get_ctx(_ch);

	if (entry->bdev != bdev || entry->cb_fn == NULL) {
		return -EINVAL;
	}
	TAILQ_INSERT_TAIL(&ch->mgmt->io_wait_queue, entry, link);
	/* Objects may be free already: then wake the waiters soon, never inside this call. */
	if (ch->mgmt->cache_count > 0 || keel_mempool_count(g_bdev_mgr.io_pool) > 0) {
		keel_thread_send_msg(keel_get_thread(), bdev_mgmt_wake_waiters, ch->mgmt);
	}
	return 0;
}

enum keel_bdev_io_status
keel_bdev_io_get_status(const struct keel_bdev_io *io)
{
	return io->internal.status;
}

uint64_t
keel_bdev_io_get_miscompare_offset(const struct keel_bdev_io *io)
{
	return io->internal.miscompare_offset;
}

enum keel_bdev_io_type
keel_bdev_io_get_type(const struct keel_bdev_io *io)
{
	return io->type;
}

struct keel_bdev_io *
keel_bdev_io_from_ctx(void *driver_ctx)
{
	return KEEL_CONTAINEROF(driver_ctx, struct keel_bdev_io, driver_ctx);
}

struct keel_io_channel *
keel_bdev_io_get_io_channel(struct keel_bdev_io *io)
{
	return keel_io_channel_from_ctx(io->internal.ch);
}

struct keel_thread *
keel_bdev_io_get_thread(struct keel_bdev_io *io)
{
	return keel_io_channel_get_thread(keel_bdev_io_get_io_channel(io));
}

/* Statistics, counted once per user I/O (children are not counted). */
static void
bdev_io_account(struct keel_bdev_io *io)
{
	struct keel_bdev_io_stat *st = &io->internal.ch->stat;
	uint64_t bytes = io->u.bdev.num_blocks * io->bdev->blocklen;
	uint64_t ticks = bdev_channel_now_after(io->internal.ch, io->internal.submit_tsc) -
			 io->internal.submit_tsc;

	if (io->internal.status != KEEL_BDEV_IO_STATUS_SUCCESS) {
		st->num_failed_ops++;
		return;
	}
	switch (io->type) {
	case KEEL_BDEV_IO_TYPE_READ:
		st->bytes_read += bytes;
		st->num_read_ops++;
		st->read_latency_ticks += ticks;
		st->max_read_latency_ticks = KEEL_MAX(st->max_read_latency_ticks, ticks);
		st->min_read_latency_ticks = KEEL_MIN(st->min_read_latency_ticks, ticks);
		break;
	case KEEL_BDEV_IO_TYPE_WRITE:
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		st->bytes_written += bytes;
		st->num_write_ops++;
		st->write_latency_ticks += ticks;
		st->max_write_latency_ticks = KEEL_MAX(st->max_write_latency_ticks, ticks);
		st->min_write_latency_ticks = KEEL_MIN(st->min_write_latency_ticks, ticks);
		break;
	case KEEL_BDEV_IO_TYPE_UNMAP:
		st->bytes_unmapped += bytes;
		st->num_unmap_ops++;
		st->unmap_latency_ticks += ticks;
		break;
	case KEEL_BDEV_IO_TYPE_FLUSH:
		st->num_flush_ops++;
		break;
	default:
		st->num_other_ops++;
		break;
	}
}

void
keel_bdev_get_io_stat(struct keel_bdev *bdev, struct keel_io_channel *_ch,
		      struct keel_bdev_io_stat *stat)
{
	struct bdev_channel *ch = keel_io_channel_get_ctx(_ch);

	*stat = ch->stat;
	if (stat->min_read_latency_ticks == UINT64_MAX) {
		stat->min_read_latency_ticks = 0;
	}
	if (stat->min_write_latency_ticks == UINT64_MAX) {
		stat->min_write_latency_ticks = 0;
	}
}

struct device_stat_ctx {
	struct keel_bdev *bdev;
	struct keel_bdev_io_stat *stat;
	keel_bdev_done_cb cb;
	void *cb_arg;
};

static void
device_stat_visit(struct keel_channel_iter *iter)
{
	struct device_stat_ctx *c = keel_channel_iter_get_ctx(iter);
	struct bdev_channel *ch = keel_io_channel_get_ctx(keel_channel_iter_get_channel(iter));

	bdev_stat_add(c->stat, &ch->stat);
	keel_for_each_channel_continue(iter, 0);
}

static void
device_stat_done(struct keel_channel_iter *iter, int status)
{
	struct device_stat_ctx *c = keel_channel_iter_get_ctx(iter);

	if (c->stat->min_read_latency_ticks == UINT64_MAX) {
		c->stat->min_read_latency_ticks = 0;
	}
	if (c->stat->min_write_latency_ticks == UINT64_MAX) {
		c->stat->min_write_latency_ticks = 0;
	}
	c->cb(c->cb_arg, status);
	free(c);
}

void
keel_bdev_get_device_stat(struct keel_bdev *bdev, struct keel_bdev_io_stat *stat,
			  keel_bdev_done_cb cb, void *cb_arg)
{
	struct device_stat_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		cb(cb_arg, -ENOMEM);
		return;
	}
	c->bdev = bdev;
	c->stat = stat;
	c->cb = cb;
	c->cb_arg = cb_arg;
	pthread_mutex_lock(&bdev->internal.lock);
	*stat = bdev->internal.stat_retired;
	pthread_mutex_unlock(&bdev->internal.lock);
	keel_for_each_channel(bdev_to_io_dev(bdev), device_stat_visit, c, device_stat_done);
}

/* Completion. */

static void bdev_io_split_continue(struct keel_bdev_io *parent);
static void bdev_io_child_done(struct keel_bdev_io *child, bool success, void *cb_arg);

static void
bdev_io_deferred_user_cb(void *arg)
{
	struct keel_bdev_io *io = arg;

	bdev_io_complete_to_user(io);
}

/* Copy between the bounce buffer and the caller's iovecs. */
static void
bdev_bounce_copy(struct keel_bdev_io *io, bool to_user)
{
	uint8_t *buf = io->internal.bounce_buf;
	int i;

	for (i = 0; i < io->internal.orig_iovcnt; i++) {
		struct iovec *v = &io->internal.orig_iovs[i];

		if (to_user) {
			memcpy(v->iov_base, buf, v->iov_len);
		} else {
			memcpy(buf, v->iov_base, v->iov_len);
		}
		buf += v->iov_len;
	}
}

void
bdev_io_complete_to_user(struct keel_bdev_io *io)
{
	bool success = io->internal.status == KEEL_BDEV_IO_STATUS_SUCCESS;

	if (io->internal.bounce_buf != NULL) {
		if (success && io->type == KEEL_BDEV_IO_TYPE_READ) {
			bdev_bounce_copy(io, true);
		}
		io->u.bdev.iovs = io->internal.orig_iovs;
		io->u.bdev.iovcnt = io->internal.orig_iovcnt;
		keel_dma_free(io->internal.bounce_buf);
		io->internal.bounce_buf = NULL;
	}
	if (io->internal.parent == NULL && !io->internal.qos_hop) {
		bdev_io_account(io);
	}
	io->internal.cb(io, success, io->internal.cb_arg);
}

void
keel_bdev_io_complete(struct keel_bdev_io *io, enum keel_bdev_io_status status)
{
	struct bdev_channel *ch = io->internal.ch;

	if (keel_unlikely(status == KEEL_BDEV_IO_STATUS_NOMEM)) {
		/* Retried by the channel's poller, or when another I/O completes. */
		TAILQ_REMOVE(&ch->outstanding, io, internal.ch_link);
		ch->io_outstanding--;
		io->internal.queued = true;
		TAILQ_INSERT_TAIL(&ch->nomem_io, io, internal.link);
		return;
	}
	TAILQ_REMOVE(&ch->outstanding, io, internal.ch_link);
	ch->io_outstanding--;
	io->internal.status = status;
	if (keel_unlikely(!TAILQ_EMPTY(&ch->nomem_io))) {
		bdev_nomem_poller(ch);
	}
	if (keel_unlikely(io->internal.in_submit)) {
		/* Completed inside submit_request: the caller must not see it inline. */
		if (keel_thread_send_msg(keel_get_thread(), bdev_io_deferred_user_cb, io) == 0) {
			return;
		}
	}
	bdev_io_complete_to_user(io);
}

void
keel_bdev_io_complete_miscompare(struct keel_bdev_io *io, uint64_t offset_bytes)
{
	io->internal.miscompare_offset = offset_bytes;
	keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_MISCOMPARE);
}

/* Fail an I/O that never reached the module. */
static void
bdev_io_fail_unsubmitted(struct keel_bdev_io *io, enum keel_bdev_io_status status)
{
	io->internal.status = status;
	io->internal.in_submit = false;
	if (keel_thread_send_msg(keel_get_thread(), bdev_io_deferred_user_cb, io) != 0) {
		bdev_io_complete_to_user(io);
	}
}

void
bdev_channel_abort_queued(struct bdev_channel *ch, struct keel_bdev *bdev)
{
	struct keel_bdev_io *io;

	while ((io = TAILQ_FIRST(&ch->nomem_io)) != NULL) {
		TAILQ_REMOVE(&ch->nomem_io, io, internal.link);
		io->internal.queued = false;
		io->internal.status = KEEL_BDEV_IO_STATUS_ABORTED;
		bdev_io_complete_to_user(io);
	}
	while ((io = TAILQ_FIRST(&ch->locked_io)) != NULL) {
		TAILQ_REMOVE(&ch->locked_io, io, internal.link);
		io->internal.queued = false;
		io->internal.status = KEEL_BDEV_IO_STATUS_ABORTED;
		bdev_io_complete_to_user(io);
	}
	while ((io = TAILQ_FIRST(&ch->qos_io)) != NULL) {
		TAILQ_REMOVE(&ch->qos_io, io, internal.link);
		io->internal.queued = false;
		io->internal.status = KEEL_BDEV_IO_STATUS_ABORTED;
		bdev_io_complete_to_user(io);
	}
}

/* Submission. */

bool
bdev_io_overlaps_lock(struct bdev_channel *ch, struct keel_bdev_io *io)
{
	struct bdev_range_lock *r;
	struct keel_bdev_io *root = io;

	while (root->internal.parent != NULL) {
		root = root->internal.parent;
	}
	TAILQ_FOREACH(r, &ch->locked_ranges, link) {
		if (r->owner == root) {
			continue;
		}
		if (io->type == KEEL_BDEV_IO_TYPE_RESET || io->type == KEEL_BDEV_IO_TYPE_FLUSH) {
			continue;
		}
		if (io->u.bdev.offset_blocks < r->offset + r->length &&
		    r->offset < io->u.bdev.offset_blocks + io->u.bdev.num_blocks) {
			return true;
		}
	}
	return false;
}

void
bdev_io_submit_to_module(struct keel_bdev_io *io)
{
	struct bdev_channel *ch = io->internal.ch;
	struct keel_bdev *bdev = io->bdev;

	if (keel_unlikely(!TAILQ_EMPTY(&ch->locked_ranges)) && bdev_io_overlaps_lock(ch, io)) {
		io->internal.queued = true;
		TAILQ_INSERT_TAIL(&ch->locked_io, io, internal.link);
		return;
	}
	TAILQ_INSERT_TAIL(&ch->outstanding, io, internal.ch_link);
	ch->io_outstanding++;
	io->internal.in_submit = true;
	bdev->fn_table->submit_request(ch->module_ch, io);
	io->internal.in_submit = false;
}

/* Buffers the module cannot take as they are get one aligned bounce buffer. */
static bool
bdev_io_needs_bounce(struct keel_bdev_io *io)
{
	size_t align = (size_t)1 << io->bdev->required_alignment;
	int i;

	if (align <= 1 || io->u.bdev.iovs == NULL || (io->u.bdev.flags & KEEL_BDEV_IO_FLAG_ZCOPY)) {
		return false;
	}
	for (i = 0; i < io->u.bdev.iovcnt; i++) {
		if (((uintptr_t)io->u.bdev.iovs[i].iov_base & (align - 1)) != 0 ||
		    (io->u.bdev.iovs[i].iov_len & (align - 1)) != 0) {
			return true;
		}
	}
	return false;
}

static int
bdev_io_bounce(struct keel_bdev_io *io)
{
	size_t len = io->u.bdev.num_blocks * io->bdev->blocklen;
	size_t align = (size_t)1 << io->bdev->required_alignment;

	io->internal.bounce_buf = keel_dma_malloc(len, KEEL_MAX(align, 64), NULL);
	if (io->internal.bounce_buf == NULL) {
		return -ENOMEM;
	}
	io->internal.orig_iovs = io->u.bdev.iovs;
	io->internal.orig_iovcnt = io->u.bdev.iovcnt;
	if (io->type == KEEL_BDEV_IO_TYPE_WRITE) {
		bdev_bounce_copy(io, false);
	}
	io->internal.bounce_iov.iov_base = io->internal.bounce_buf;
	io->internal.bounce_iov.iov_len = len;
	io->u.bdev.iovs = &io->internal.bounce_iov;
	io->u.bdev.iovcnt = 1;
	return 0;
}

/* Blocks the next child may cover, from where the parent's split stands. */
static uint64_t
bdev_split_child_blocks(struct keel_bdev_io *parent)
{
	struct keel_bdev *bdev = parent->bdev;
	uint64_t n = parent->internal.split_remaining;
	uint64_t limit = UINT64_MAX;

	switch (parent->type) {
	case KEEL_BDEV_IO_TYPE_UNMAP:
		limit = bdev->max_unmap_blocks;
		break;
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		limit = bdev->max_write_zeroes_blocks;
		break;
	default:
		if (bdev->max_transfer_blocks) {
			limit = bdev->max_transfer_blocks;
		}
		if (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary) {
			uint64_t b = bdev->optimal_io_boundary;
			uint64_t to_boundary = b - (parent->internal.split_offset % b);

			limit = KEEL_MIN(limit, to_boundary);
		}
		break;
	}
	return KEEL_MIN(n, limit);
}

static bool
bdev_io_needs_split(struct keel_bdev_io *io)
{
	struct keel_bdev *bdev = io->bdev;
	uint64_t n = io->u.bdev.num_blocks;

	switch (io->type) {
	case KEEL_BDEV_IO_TYPE_READ:
	case KEEL_BDEV_IO_TYPE_WRITE:
		if (bdev->max_transfer_blocks && n > bdev->max_transfer_blocks) {
			return true;
		}
		if (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary) {
			uint64_t b = bdev->optimal_io_boundary;

			return io->u.bdev.offset_blocks / b != (io->u.bdev.offset_blocks + n - 1) / b;
		}
		return false;
	case KEEL_BDEV_IO_TYPE_UNMAP:
		return n > bdev->max_unmap_blocks;
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		return n > bdev->max_write_zeroes_blocks;
	default:
		return false;
	}
}

/* Build the child's iovecs: the next nbytes of the parent's buffers (at most
 * BDEV_CHILD_IOVS entries; fewer blocks if they would not fit). Returns blocks covered. */
static uint64_t
bdev_split_fill_iovs(struct keel_bdev_io *parent, struct keel_bdev_io *child, uint64_t blocks)
{
	uint32_t blocklen = parent->bdev->blocklen;
	size_t want = blocks * blocklen, got = 0, last_block_end = 0;
	int idx = parent->internal.split_iov_idx, n = 0, last_n = 0;
	size_t off = parent->internal.split_iov_off;
	int last_idx = idx;
	size_t last_off = off;

	while (got < want && idx < parent->u.bdev.iovcnt && n < BDEV_CHILD_IOVS) {
		struct iovec *src = &parent->u.bdev.iovs[idx];
		size_t take = KEEL_MIN(src->iov_len - off, want - got);

		child->internal.child_iovs[n].iov_base = (uint8_t *)src->iov_base + off;
		child->internal.child_iovs[n].iov_len = take;
		n++;
		got += take;
		off += take;
		if (off == src->iov_len) {
			idx++;
			off = 0;
		}
		if (got % blocklen == 0) {
			last_block_end = got;
			last_n = n;
			last_idx = idx;
			last_off = off;
		}
	}
	if (got != want) {
		/* Out of entries (or buffers): stop at the last whole block. */
		if (last_block_end == 0) {
			return 0;
		}
		got = last_block_end;
		n = last_n;
		idx = last_idx;
		off = last_off;
		/* The last kept entry may have been trimmed by later ones: recompute its end. */
	}
	child->u.bdev.iovs = child->internal.child_iovs;
	child->u.bdev.iovcnt = n;
	parent->internal.split_iov_idx = idx;
	parent->internal.split_iov_off = off;
	return got / blocklen;
}

static void
bdev_io_split_continue(struct keel_bdev_io *parent)
{
	struct bdev_channel *ch = parent->internal.ch;
	struct keel_bdev_io *child;
	uint64_t blocks;

	while (parent->internal.split_remaining > 0 && !parent->internal.split_failed &&
	       parent->internal.children_outstanding < BDEV_MAX_SPLIT_CHILDREN) {
		child = bdev_io_get(parent->internal.desc, ch);
		if (child == NULL) {
			child = keel_mempool_get(g_bdev_mgr.io_pool);
			if (child == NULL) {
				if (parent->internal.children_outstanding == 0) {
					/* Nothing will complete to wake us: fail rather than hang. */
					parent->internal.split_failed = true;
				}
				break;
			}
			/* Initialise as bdev_io_get would. */
			memset(&child->internal, 0, sizeof(child->internal));
			child->bdev = parent->bdev;
			child->internal.desc = parent->internal.desc;
			child->internal.ch = ch;
			child->internal.status = KEEL_BDEV_IO_STATUS_PENDING;
		}
		child->type = parent->type;
		child->internal.parent = parent;
		child->internal.cb = bdev_io_child_done;
		child->internal.cb_arg = parent;
		child->internal.submit_tsc = parent->internal.submit_tsc;
		child->u.bdev.flags = parent->u.bdev.flags;
		child->u.bdev.offset_blocks = parent->internal.split_offset;
		blocks = bdev_split_child_blocks(parent);
		if (parent->u.bdev.iovs != NULL) {
			blocks = bdev_split_fill_iovs(parent, child, blocks);
			if (blocks == 0) {
				KEEL_ERRLOG("bdev %s: I/O buffers too fragmented to split\n",
					    parent->bdev->name);
				bdev_io_put(child);
				parent->internal.split_failed = true;
				break;
			}
		} else {
			child->u.bdev.iovs = NULL;
			child->u.bdev.iovcnt = 0;
		}
		child->u.bdev.num_blocks = blocks;
		parent->internal.split_offset += blocks;
		parent->internal.split_remaining -= blocks;
		parent->internal.children_outstanding++;
		if (bdev_io_needs_bounce(child) && bdev_io_bounce(child) != 0) {
			child->internal.status = KEEL_BDEV_IO_STATUS_FAILED;
			bdev_io_child_done(child, false, parent);
			continue;
		}
		bdev_io_submit_to_module(child);
	}
	if (parent->internal.children_outstanding == 0) {
		parent->internal.status = parent->internal.split_failed ?
					  KEEL_BDEV_IO_STATUS_FAILED : KEEL_BDEV_IO_STATUS_SUCCESS;
		if (parent->internal.in_submit) {
			bdev_io_fail_unsubmitted(parent, parent->internal.status);
		} else {
			bdev_io_complete_to_user(parent);
		}
	}
}

static void
bdev_io_child_done(struct keel_bdev_io *child, bool success, void *cb_arg)
{
	struct keel_bdev_io *parent = cb_arg;

	if (!success) {
		parent->internal.split_failed = true;
		if (child->internal.status == KEEL_BDEV_IO_STATUS_ABORTED) {
			parent->internal.step = KEEL_BDEV_IO_STATUS_ABORTED;
		}
	}
	parent->internal.children_outstanding--;
	bdev_io_put(child);
	if (parent->internal.children_outstanding == 0 &&
	    (parent->internal.split_remaining == 0 || parent->internal.split_failed)) {
		parent->internal.status = !parent->internal.split_failed ?
					  KEEL_BDEV_IO_STATUS_SUCCESS :
					  (parent->internal.step == KEEL_BDEV_IO_STATUS_ABORTED ?
					   KEEL_BDEV_IO_STATUS_ABORTED : KEEL_BDEV_IO_STATUS_FAILED);
		bdev_io_complete_to_user(parent);
		return;
	}
	bdev_io_split_continue(parent);
}

static void
bdev_io_split(struct keel_bdev_io *io)
{
	io->internal.split_offset = io->u.bdev.offset_blocks;
	io->internal.split_remaining = io->u.bdev.num_blocks;
	io->internal.split_iov_idx = 0;
	io->internal.split_iov_off = 0;
	io->internal.in_submit = true;
	bdev_io_split_continue(io);
	io->internal.in_submit = false;
}

void
bdev_io_submit(struct keel_bdev_io *io)
{
	struct keel_bdev *bdev = io->bdev;

	io->internal.submit_tsc = bdev_channel_now(io->internal.ch);
	if (keel_unlikely(__atomic_load_n(&bdev->internal.reset_in_progress, __ATOMIC_RELAXED))) {
		/* A reset waits for the module to return all it has: new I/O would starve it, so it
		 * fails as aborted until the reset is done (as SPDK does). */
		bdev_io_fail_unsubmitted(io, KEEL_BDEV_IO_STATUS_ABORTED);
		return;
	}
	if (keel_unlikely(bdev->internal.qos != NULL) && bdev_qos_submit(io)) {
		return;
	}
	if (keel_unlikely(io->type == KEEL_BDEV_IO_TYPE_COMPARE_AND_WRITE)) {
		bdev_compare_and_write_start(io);
		return;
	}
	if (keel_unlikely(io->type == KEEL_BDEV_IO_TYPE_COMPARE) &&
	    !bdev->fn_table->io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_COMPARE)) {
		bdev_compare_emulate(io);
		return;
	}
	if (keel_unlikely(bdev_io_needs_split(io))) {
		bdev_io_split(io);
		return;
	}
	if (keel_unlikely(bdev_io_needs_bounce(io)) && bdev_io_bounce(io) != 0) {
		bdev_io_fail_unsubmitted(io, KEEL_BDEV_IO_STATUS_FAILED);
		return;
	}
	bdev_io_submit_to_module(io);
}

/* The public submit functions. */

static int
bdev_check_io(struct keel_bdev_desc *desc, uint64_t offset_blocks, uint64_t num_blocks,
	      bool write)
{
	struct keel_bdev *bdev = desc->bdev;
	uint64_t cnt = __atomic_load_n(&bdev->blockcnt, __ATOMIC_RELAXED);

	if (keel_unlikely(__atomic_load_n(&bdev->internal.status, __ATOMIC_ACQUIRE) !=
			  BDEV_STATUS_READY)) {
		return -ENODEV;
	}
	if (keel_unlikely(write && !desc->write)) {
		return -EBADF;
	}
	if (keel_unlikely(offset_blocks >= cnt || num_blocks > cnt - offset_blocks)) {
		return -EINVAL;
	}
	return 0;
}

static int
bdev_rw(struct keel_bdev_desc *desc, struct keel_io_channel *_ch, enum keel_bdev_io_type type,
	struct iovec *iov, int iovcnt, uint64_t offset_blocks, uint64_t num_blocks, uint32_t flags,
	keel_bdev_io_cb cb, void *cb_arg)
{
	struct bdev_channel *ch = keel_io_channel_get_ctx(_ch);
	struct keel_bdev_io *io;
	int rc;

	rc = bdev_check_io(desc, offset_blocks, num_blocks, type != KEEL_BDEV_IO_TYPE_READ &&
			   type != KEEL_BDEV_IO_TYPE_COMPARE && type != KEEL_BDEV_IO_TYPE_FLUSH);
	if (keel_unlikely(rc != 0)) {
		return rc;
	}
	if (keel_unlikely(num_blocks == 0 && type != KEEL_BDEV_IO_TYPE_FLUSH)) {
		return -EINVAL;
	}
	io = bdev_io_get(desc, ch);
	if (keel_unlikely(io == NULL)) {
		return -ENOMEM;
	}
	io->type = type;
	io->u.bdev.iovs = iov;
	io->u.bdev.iovcnt = iovcnt;
	io->u.bdev.offset_blocks = offset_blocks;
	io->u.bdev.num_blocks = num_blocks;
	io->u.bdev.flags = flags;
	io->internal.cb = cb;
	io->internal.cb_arg = cb_arg;
	bdev_io_submit(io);
	return 0;
}

static bool
iov_len_matches(struct iovec *iov, int iovcnt, uint64_t bytes)
{
	uint64_t sum = 0;
	int i;

	if (iov == NULL || iovcnt <= 0) {
		return false;
	}
	for (i = 0; i < iovcnt; i++) {
		sum += iov[i].iov_len;
	}
	return sum == bytes;
}

int
keel_bdev_readv_blocks_ext(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
			   struct iovec *iov, int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			   uint32_t flags, keel_bdev_io_cb cb, void *cb_arg)
{
	if (keel_unlikely(!iov_len_matches(iov, iovcnt, num_blocks * desc->bdev->blocklen))) {
		return -EINVAL;
	}
	return bdev_rw(desc, ch, KEEL_BDEV_IO_TYPE_READ, iov, iovcnt, offset_blocks, num_blocks,
		       flags, cb, cb_arg);
}

int
keel_bdev_writev_blocks_ext(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
			    struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			    uint64_t num_blocks, uint32_t flags, keel_bdev_io_cb cb, void *cb_arg)
{
	if (keel_unlikely(!iov_len_matches(iov, iovcnt, num_blocks * desc->bdev->blocklen))) {
		return -EINVAL;
	}
	return bdev_rw(desc, ch, KEEL_BDEV_IO_TYPE_WRITE, iov, iovcnt, offset_blocks, num_blocks,
		       flags, cb, cb_arg);
}

int
keel_bdev_readv_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch, struct iovec *iov,
		       int iovcnt, uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb,
		       void *cb_arg)
{
	return keel_bdev_readv_blocks_ext(desc, ch, iov, iovcnt, offset_blocks, num_blocks, 0, cb,
					  cb_arg);
}

int
keel_bdev_writev_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch, struct iovec *iov,
			int iovcnt, uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb,
			void *cb_arg)
{
	return keel_bdev_writev_blocks_ext(desc, ch, iov, iovcnt, offset_blocks, num_blocks, 0, cb,
					   cb_arg);
}

/* Single-buffer forms keep their iovec inside the I/O object. A zero-copy read (buf NULL,
 * KEEL_BDEV_IO_FLAG_ZCOPY) is refused where the layer would split it: the children would each
 * point somewhere else, not into one buffer. */
static int
bdev_rw_one(struct keel_bdev_desc *desc, struct keel_io_channel *_ch, enum keel_bdev_io_type type,
	    void *buf, uint64_t offset_blocks, uint64_t num_blocks, uint32_t flags,
	    keel_bdev_io_cb cb, void *cb_arg)
{
	struct bdev_channel *ch = keel_io_channel_get_ctx(_ch);
	struct keel_bdev_io *io;
	int rc;

	rc = bdev_check_io(desc, offset_blocks, num_blocks, type == KEEL_BDEV_IO_TYPE_WRITE);
	if (keel_unlikely(rc != 0)) {
		return rc;
	}
	if (num_blocks == 0 || (buf == NULL) != ((flags & KEEL_BDEV_IO_FLAG_ZCOPY) != 0)) {
		return -EINVAL;
	}
	io = bdev_io_get(desc, ch);
	if (keel_unlikely(io == NULL)) {
		return -ENOMEM;
	}
	io->type = type;
	io->u.bdev.iov.iov_base = buf;
	io->u.bdev.iov.iov_len = num_blocks * desc->bdev->blocklen;
	io->u.bdev.iovs = &io->u.bdev.iov;
	io->u.bdev.iovcnt = 1;
	io->u.bdev.offset_blocks = offset_blocks;
	io->u.bdev.num_blocks = num_blocks;
	io->u.bdev.flags = flags;
	if ((flags & KEEL_BDEV_IO_FLAG_ZCOPY) && bdev_io_needs_split(io)) {
		bdev_io_put(io);
		return -ENOTSUP;
	}
	io->internal.cb = cb;
	io->internal.cb_arg = cb_arg;
	bdev_io_submit(io);
	return 0;
}

static int
bdev_rw_buf(struct keel_bdev_desc *desc, struct keel_io_channel *ch, enum keel_bdev_io_type type,
	    void *buf, uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb, void *cb_arg)
{
	if (buf == NULL) {
		return -EINVAL;
	}
	return bdev_rw_one(desc, ch, type, buf, offset_blocks, num_blocks, 0, cb, cb_arg);
}

int
keel_bdev_read_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch, void *buf,
		      uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb, void *cb_arg)
{
	return bdev_rw_buf(desc, ch, KEEL_BDEV_IO_TYPE_READ, buf, offset_blocks, num_blocks, cb,
			   cb_arg);
}

int
keel_bdev_io_forward(struct keel_bdev_io *io, struct keel_bdev_desc *desc, struct keel_io_channel *ch,
		     uint64_t offset, keel_bdev_io_cb cb, void *cb_arg)
{
	uint64_t num = io->u.bdev.num_blocks;
	/* A zero-copy read never reaches a module that did not offer it: nothing to pass on. */
	uint32_t flags = io->u.bdev.flags & ~KEEL_BDEV_IO_FLAG_ZCOPY;

	switch (io->type) {
	case KEEL_BDEV_IO_TYPE_READ:
		return keel_bdev_readv_blocks_ext(desc, ch, io->u.bdev.iovs, io->u.bdev.iovcnt, offset,
						  num, flags, cb, cb_arg);
	case KEEL_BDEV_IO_TYPE_WRITE:
		return keel_bdev_writev_blocks_ext(desc, ch, io->u.bdev.iovs, io->u.bdev.iovcnt,
						   offset, num, flags, cb, cb_arg);
	case KEEL_BDEV_IO_TYPE_FLUSH:
		return keel_bdev_flush_blocks(desc, ch, offset, num, cb, cb_arg);
	case KEEL_BDEV_IO_TYPE_UNMAP:
		return keel_bdev_unmap_blocks(desc, ch, offset, num, cb, cb_arg);
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		return keel_bdev_write_zeroes_blocks(desc, ch, offset, num, cb, cb_arg);
	case KEEL_BDEV_IO_TYPE_COMPARE:
		return keel_bdev_comparev_blocks(desc, ch, io->u.bdev.iovs, io->u.bdev.iovcnt, offset,
						 num, cb, cb_arg);
	case KEEL_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		return keel_bdev_comparev_and_writev_blocks(desc, ch, io->u.bdev.cmp_iovs,
							    io->u.bdev.cmp_iovcnt, io->u.bdev.iovs,
							    io->u.bdev.iovcnt, offset, num, cb,
							    cb_arg);
	case KEEL_BDEV_IO_TYPE_RESET:
		return keel_bdev_reset(desc, ch, cb, cb_arg);
	default:
		return -ENOTSUP;
	}
}

void
keel_bdev_io_complete_from(struct keel_bdev_io *io, struct keel_bdev_io *base_io, bool success)
{
	enum keel_bdev_io_status status = keel_bdev_io_get_status(base_io);

	if (status == KEEL_BDEV_IO_STATUS_MISCOMPARE) {
		keel_bdev_io_complete_miscompare(io, keel_bdev_io_get_miscompare_offset(base_io));
	} else if (success) {
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_SUCCESS);
	} else {
		keel_bdev_io_complete(io, status == KEEL_BDEV_IO_STATUS_ABORTED
						  ? KEEL_BDEV_IO_STATUS_ABORTED
						  : KEEL_BDEV_IO_STATUS_FAILED);
	}
}

int
keel_bdev_read_blocks_zcopy(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
			    uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb,
			    void *cb_arg)
{
	if (!desc->bdev->zcopy_read) {
		return -ENOTSUP;
	}
	return bdev_rw_one(desc, ch, KEEL_BDEV_IO_TYPE_READ, NULL, offset_blocks, num_blocks,
			   KEEL_BDEV_IO_FLAG_ZCOPY, cb, cb_arg);
}

void
keel_bdev_io_get_iovec(struct keel_bdev_io *io, struct iovec **iovs, int *iovcnt)
{
	*iovs = io->u.bdev.iovs;
	*iovcnt = io->u.bdev.iovcnt;
}

int
keel_bdev_write_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch, void *buf,
		       uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb,
		       void *cb_arg)
{
	return bdev_rw_buf(desc, ch, KEEL_BDEV_IO_TYPE_WRITE, buf, offset_blocks, num_blocks, cb,
			   cb_arg);
}

int
keel_bdev_flush_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
		       uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb, void *cb_arg)
{
	uint64_t cnt = keel_bdev_get_num_blocks(desc->bdev);

	if (num_blocks == 0 && offset_blocks < cnt) {
		num_blocks = cnt - offset_blocks;
	}
	if (!desc->bdev->fn_table->io_type_supported(desc->bdev->ctxt, KEEL_BDEV_IO_TYPE_FLUSH)) {
		return -ENOTSUP;
	}
	return bdev_rw(desc, ch, KEEL_BDEV_IO_TYPE_FLUSH, NULL, 0, offset_blocks, num_blocks, 0,
		       cb, cb_arg);
}

int
keel_bdev_unmap_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
		       uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb, void *cb_arg)
{
	if (!desc->bdev->fn_table->io_type_supported(desc->bdev->ctxt, KEEL_BDEV_IO_TYPE_UNMAP)) {
		return -ENOTSUP;
	}
	return bdev_rw(desc, ch, KEEL_BDEV_IO_TYPE_UNMAP, NULL, 0, offset_blocks, num_blocks, 0,
		       cb, cb_arg);
}

int
keel_bdev_write_zeroes_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
			      uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb,
			      void *cb_arg)
{
	struct keel_bdev *bdev = desc->bdev;

	if (!bdev->fn_table->io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_WRITE_ZEROES)) {
		return -ENOTSUP;
	}
	return bdev_rw(desc, ch, KEEL_BDEV_IO_TYPE_WRITE_ZEROES, NULL, 0, offset_blocks,
		       num_blocks, 0, cb, cb_arg);
}

int
keel_bdev_comparev_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
			  struct iovec *iov, int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			  keel_bdev_io_cb cb, void *cb_arg)
{
	if (!iov_len_matches(iov, iovcnt, num_blocks * desc->bdev->blocklen)) {
		return -EINVAL;
	}
	return bdev_rw(desc, ch, KEEL_BDEV_IO_TYPE_COMPARE, iov, iovcnt, offset_blocks, num_blocks,
		       0, cb, cb_arg);
}

int
keel_bdev_comparev_and_writev_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *_ch,
				     struct iovec *cmp_iov, int cmp_iovcnt, struct iovec *write_iov,
				     int write_iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
				     keel_bdev_io_cb cb, void *cb_arg)
{
	struct bdev_channel *ch = keel_io_channel_get_ctx(_ch);
	uint64_t bytes = num_blocks * desc->bdev->blocklen;
	struct keel_bdev_io *io;
	int rc;

	if (!iov_len_matches(cmp_iov, cmp_iovcnt, bytes) ||
	    !iov_len_matches(write_iov, write_iovcnt, bytes) || num_blocks == 0 ||
	    num_blocks > desc->bdev->max_compare_and_write_blocks) {
		return -EINVAL;
	}
	rc = bdev_check_io(desc, offset_blocks, num_blocks, true);
	if (rc != 0) {
		return rc;
	}
	io = bdev_io_get(desc, ch);
	if (io == NULL) {
		return -ENOMEM;
	}
	io->type = KEEL_BDEV_IO_TYPE_COMPARE_AND_WRITE;
	io->u.bdev.iovs = write_iov;
	io->u.bdev.iovcnt = write_iovcnt;
	io->u.bdev.cmp_iovs = cmp_iov;
	io->u.bdev.cmp_iovcnt = cmp_iovcnt;
	io->u.bdev.offset_blocks = offset_blocks;
	io->u.bdev.num_blocks = num_blocks;
	io->internal.cb = cb;
	io->internal.cb_arg = cb_arg;
	bdev_io_submit(io);
	return 0;
}
