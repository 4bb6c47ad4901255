/*
 * COMPARE emulated with a read, and COMPARE AND WRITE made atomic with an LBA range lock held
 * on every channel of the bdev: while it is held, other I/O to those blocks waits, and the lock
 * is only granted once the I/O already at the module for them has come back.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/bdev_module.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/thread.h"

#include "bdev_internal.h"

/* A child I/O (read or write) of a compare or compare-and-write. */
static struct keel_bdev_io *
bdev_lock_child(struct keel_bdev_io *parent, enum keel_bdev_io_type type, struct iovec *iovs,
		int iovcnt, keel_bdev_io_cb cb)
{
	struct keel_bdev_io *child = keel_mempool_get(g_bdev_mgr.io_pool);

	if (child == NULL) {
		return NULL;
	}
	memset(&child->internal, 0, sizeof(child->internal));
	child->bdev = parent->bdev;
	child->type = type;
	child->internal.desc = parent->internal.desc;
	child->internal.ch = parent->internal.ch;
	child->internal.status = KEEL_BDEV_IO_STATUS_PENDING;
	child->internal.parent = parent;
	child->internal.cb = cb;
	child->internal.cb_arg = parent;
	child->internal.submit_tsc = parent->internal.submit_tsc;
	child->u.bdev.iovs = iovs;
	child->u.bdev.iovcnt = iovcnt;
	child->u.bdev.offset_blocks = parent->u.bdev.offset_blocks;
	child->u.bdev.num_blocks = parent->u.bdev.num_blocks;
	child->u.bdev.flags = parent->u.bdev.flags;
	child->u.bdev.cmp_iovs = NULL;
	return child;
}

/* Byte offset of the first difference between buf and iovs, or -1 if equal. */
static int64_t
bdev_compare_buf(const uint8_t *buf, struct iovec *iovs, int iovcnt)
{
	size_t off = 0;
	int i;

	for (i = 0; i < iovcnt; i++) {
		const uint8_t *p = iovs[i].iov_base;

		if (memcmp(buf + off, p, iovs[i].iov_len) != 0) {
			size_t j;

			for (j = 0; j < iovs[i].iov_len; j++) {
				if (buf[off + j] != p[j]) {
					return (int64_t)(off + j);
				}
			}
		}
		off += iovs[i].iov_len;
	}
	return -1;
}

static void
bdev_lock_finish(struct keel_bdev_io *io, enum keel_bdev_io_status status)
{
	io->internal.status = status;
	if (io->internal.bounce_buf != NULL) {
		keel_dma_free(io->internal.bounce_buf);
		io->internal.bounce_buf = NULL;
	}
	bdev_io_complete_to_user(io);
}

/* COMPARE without module support: read, then memcmp. */
static void
compare_read_done(struct keel_bdev_io *child, bool success, void *cb_arg)
{
	struct keel_bdev_io *io = cb_arg;
	int64_t diff;

	bdev_io_put(child);
	if (!success) {
		bdev_lock_finish(io, KEEL_BDEV_IO_STATUS_FAILED);
		return;
	}
	diff = bdev_compare_buf(io->internal.bounce_buf, io->u.bdev.iovs, io->u.bdev.iovcnt);
	if (diff >= 0) {
		io->internal.miscompare_offset = (uint64_t)diff;
		bdev_lock_finish(io, KEEL_BDEV_IO_STATUS_MISCOMPARE);
		return;
	}
	bdev_lock_finish(io, KEEL_BDEV_IO_STATUS_SUCCESS);
}

static void
bdev_fail_later(void *arg)
{
	bdev_lock_finish(arg, KEEL_BDEV_IO_STATUS_FAILED);
}

/* Read the blocks of io into its bounce buffer; cb when done. */
static void
bdev_lock_read(struct keel_bdev_io *io, keel_bdev_io_cb cb)
{
	size_t len = io->u.bdev.num_blocks * io->bdev->blocklen;
	struct keel_bdev_io *child;

	if (io->internal.bounce_buf == NULL) {
		io->internal.bounce_buf = keel_dma_malloc(len, KEEL_MAX(64u, keel_bdev_get_buf_align(
						io->bdev)), NULL);
	}
	io->internal.bounce_iov.iov_base = io->internal.bounce_buf;
	io->internal.bounce_iov.iov_len = len;
	child = io->internal.bounce_buf ? bdev_lock_child(io, KEEL_BDEV_IO_TYPE_READ,
			&io->internal.bounce_iov, 1, cb) : NULL;
	if (child == NULL) {
		keel_thread_send_msg(keel_get_thread(), bdev_fail_later, io);
		return;
	}
	bdev_io_submit_to_module(child);
}

void
bdev_compare_emulate(struct keel_bdev_io *io)
{
	bdev_lock_read(io, compare_read_done);
}

/* COMPARE AND WRITE. */

struct lock_ctx {
	struct keel_bdev_io *io;
	struct keel_thread *thread;
	bool unlock;
};

static void caw_locked(struct keel_channel_iter *iter, int status);

/* I/O at the module that overlaps the range and is not ours. */
static bool
bdev_channel_has_overlap(struct bdev_channel *ch, struct keel_bdev_io *owner)
{
	struct keel_bdev_io *io;

	TAILQ_FOREACH(io, &ch->outstanding, internal.ch_link) {
		struct keel_bdev_io *root = io;

		while (root->internal.parent != NULL) {
			root = root->internal.parent;
		}
		if (root == owner || io->type == KEEL_BDEV_IO_TYPE_RESET) {
			continue;
		}
		if (io->u.bdev.offset_blocks < owner->u.bdev.offset_blocks + owner->u.bdev.num_blocks &&
		    owner->u.bdev.offset_blocks < io->u.bdev.offset_blocks + io->u.bdev.num_blocks) {
			return true;
		}
	}
	return false;
}

static void lock_channel_wait(void *arg);

static void
lock_channel_wait(void *arg)
{
	struct keel_channel_iter *iter = arg;
	struct lock_ctx *c = keel_channel_iter_get_ctx(iter);
	struct bdev_channel *ch = keel_io_channel_get_ctx(keel_channel_iter_get_channel(iter));

	if (bdev_channel_has_overlap(ch, c->io)) {
		/* Look again after the reactor has run the completions. */
		if (keel_thread_send_msg(keel_get_thread(), lock_channel_wait, iter) == 0) {
			return;
		}
	}
	keel_for_each_channel_continue(iter, 0);
}

static void lock_channel(struct keel_channel_iter *iter);

static void
lock_channel_retry(void *arg)
{
	lock_channel(arg);
}

/* Another compare-and-write holds an overlapping range here. */
static bool
lock_channel_conflicts(struct bdev_channel *ch, struct keel_bdev_io *io)
{
	struct bdev_range_lock *r;

	TAILQ_FOREACH(r, &ch->locked_ranges, link) {
		if (r->owner != io && io->u.bdev.offset_blocks < r->offset + r->length &&
		    r->offset < io->u.bdev.offset_blocks + io->u.bdev.num_blocks) {
			return true;
		}
	}
	return false;
}

static void
lock_channel(struct keel_channel_iter *iter)
{
	struct lock_ctx *c = keel_channel_iter_get_ctx(iter);
	struct bdev_channel *ch = keel_io_channel_get_ctx(keel_channel_iter_get_channel(iter));
	struct bdev_range_lock *r;

	/* Wait for an overlapping lock to go first: every locker visits the channels in the same
	 * order, so two never hold parts of each other's ranges (and their I/O would wait on each
	 * other's locks forever). */
	if (lock_channel_conflicts(ch, c->io) &&
	    keel_thread_send_msg(keel_get_thread(), lock_channel_retry, iter) == 0) {
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		keel_for_each_channel_continue(iter, -ENOMEM);
		return;
	}
	r->offset = c->io->u.bdev.offset_blocks;
	r->length = c->io->u.bdev.num_blocks;
	r->owner = c->io;
	TAILQ_INSERT_TAIL(&ch->locked_ranges, r, link);
	lock_channel_wait(iter);
}

static void
unlock_channel(struct keel_channel_iter *iter)
{
	struct lock_ctx *c = keel_channel_iter_get_ctx(iter);
	struct bdev_channel *ch = keel_io_channel_get_ctx(keel_channel_iter_get_channel(iter));
	TAILQ_HEAD(, keel_bdev_io) waiting = TAILQ_HEAD_INITIALIZER(waiting);
	struct bdev_range_lock *r, *tmp;
	struct keel_bdev_io *io;

	TAILQ_FOREACH_SAFE(r, &ch->locked_ranges, link, tmp) {
		if (r->owner == c->io) {
			TAILQ_REMOVE(&ch->locked_ranges, r, link);
			free(r);
		}
	}
	/* Resubmit what waited; it waits again if another lock still covers it. */
	TAILQ_CONCAT(&waiting, &ch->locked_io, internal.link);
	while ((io = TAILQ_FIRST(&waiting)) != NULL) {
		TAILQ_REMOVE(&waiting, io, internal.link);
		io->internal.queued = false;
		bdev_io_submit_to_module(io);
	}
	keel_for_each_channel_continue(iter, 0);
}

static void
caw_unlocked(struct keel_channel_iter *iter, int status)
{
	struct lock_ctx *c = keel_channel_iter_get_ctx(iter);
	struct keel_bdev_io *io = c->io;

	free(c);
	bdev_lock_finish(io, io->internal.step);
}

static void
caw_unlock(struct keel_bdev_io *io, enum keel_bdev_io_status status)
{
	struct lock_ctx *c = calloc(1, sizeof(*c));

	io->internal.step = status;
	if (c == NULL) {
		/* Cannot happen in practice; the lock would stay: log loudly. */
		KEEL_ERRLOG("bdev %s: out of memory releasing a range lock\n", io->bdev->name);
		bdev_lock_finish(io, KEEL_BDEV_IO_STATUS_FAILED);
		return;
	}
	c->io = io;
	c->unlock = true;
	keel_for_each_channel(bdev_to_io_dev(io->bdev), unlock_channel, c, caw_unlocked);
}

static void
caw_write_done(struct keel_bdev_io *child, bool success, void *cb_arg)
{
	struct keel_bdev_io *io = cb_arg;

	bdev_io_put(child);
	caw_unlock(io, success ? KEEL_BDEV_IO_STATUS_SUCCESS : KEEL_BDEV_IO_STATUS_FAILED);
}

static void
caw_read_done(struct keel_bdev_io *child, bool success, void *cb_arg)
{
	struct keel_bdev_io *io = cb_arg;
	struct keel_bdev_io *write;
	int64_t diff;

	bdev_io_put(child);
	if (!success) {
		caw_unlock(io, KEEL_BDEV_IO_STATUS_FAILED);
		return;
	}
	diff = bdev_compare_buf(io->internal.bounce_buf, io->u.bdev.cmp_iovs, io->u.bdev.cmp_iovcnt);
	if (diff >= 0) {
		io->internal.miscompare_offset = (uint64_t)diff;
		caw_unlock(io, KEEL_BDEV_IO_STATUS_MISCOMPARE);
		return;
	}
	write = bdev_lock_child(io, KEEL_BDEV_IO_TYPE_WRITE, io->u.bdev.iovs, io->u.bdev.iovcnt,
				caw_write_done);
	if (write == NULL) {
		caw_unlock(io, KEEL_BDEV_IO_STATUS_FAILED);
		return;
	}
	bdev_io_submit_to_module(write);
}

static void
caw_locked(struct keel_channel_iter *iter, int status)
{
	struct lock_ctx *c = keel_channel_iter_get_ctx(iter);
	struct keel_bdev_io *io = c->io;

	free(c);
	if (status != 0) {
		caw_unlock(io, KEEL_BDEV_IO_STATUS_FAILED);
		return;
	}
	bdev_lock_read(io, caw_read_done);
}

void
bdev_compare_and_write_start(struct keel_bdev_io *io)
{
	struct lock_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		keel_thread_send_msg(keel_get_thread(), bdev_fail_later, io);
		return;
	}
	c->io = io;
	c->thread = keel_get_thread();
	keel_for_each_channel(bdev_to_io_dev(io->bdev), lock_channel, c, caw_locked);
}
