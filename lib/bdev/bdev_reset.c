/*
 * Reset: every channel of the bdev fails the I/O it holds in its queues (ABORTED) and refuses
 * new I/O while the reset runs, and a module that holds I/O back is told (reset_channel); once
 * the module has returned everything it had, the module's own reset (if any) runs and the caller
 * is told. A module with a reset of its own gets it after RESET_DRAIN_TIMEOUT_MS even with I/O
 * still out: that reset is what ends I/O a device will never complete (an NVMe controller reset
 * aborts its commands), and waiting for that I/O first would wait forever.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/bdev_module.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/thread.h"

#include "bdev_internal.h"

#define RESET_POLL_US 100
#define RESET_DRAIN_TIMEOUT_MS 1000

struct reset_ctx {
	struct keel_bdev_io *io;
	struct keel_poller *poller;
	uint64_t deadline; /* ticks: the module's reset goes then, drained or not */
	bool busy;
	bool checking;
};

static void reset_check_done(struct keel_channel_iter *iter, int status);

static void
reset_visit_abort(struct keel_channel_iter *iter)
{
	struct bdev_channel *ch = keel_io_channel_get_ctx(keel_channel_iter_get_channel(iter));

	ch->bdev->internal.reset_in_progress = 1;
	bdev_channel_abort_queued(ch, ch->bdev);
	if (ch->bdev->fn_table->reset_channel != NULL) {
		ch->bdev->fn_table->reset_channel(ch->bdev->ctxt, ch->module_ch);
	}
	keel_for_each_channel_continue(iter, 0);
}

static void
reset_visit_check(struct keel_channel_iter *iter)
{
	struct reset_ctx *c = keel_channel_iter_get_ctx(iter);
	struct bdev_channel *ch = keel_io_channel_get_ctx(keel_channel_iter_get_channel(iter));

	if (ch->io_outstanding > 0) {
		c->busy = true;
	}
	keel_for_each_channel_continue(iter, 0);
}

static int
reset_poll(void *arg)
{
	struct reset_ctx *c = arg;

	if (!c->checking) {
		c->checking = true;
		c->busy = false;
		keel_for_each_channel(bdev_to_io_dev(c->io->bdev), reset_visit_check, c,
				      reset_check_done);
	}
	return KEEL_POLLER_IDLE;
}

static void
reset_module_done(struct keel_bdev_io *child, bool success, void *cb_arg)
{
	struct keel_bdev_io *io = cb_arg;

	bdev_io_put(child);
	io->bdev->internal.reset_in_progress = 0;
	io->internal.status = success ? KEEL_BDEV_IO_STATUS_SUCCESS : KEEL_BDEV_IO_STATUS_FAILED;
	bdev_io_complete_to_user(io);
}

static void
reset_check_done(struct keel_channel_iter *iter, int status)
{
	struct reset_ctx *c = keel_channel_iter_get_ctx(iter);
	struct keel_bdev_io *io = c->io;
	struct keel_bdev *bdev = io->bdev;
	struct keel_bdev_io *child;

	c->checking = false;
	if (c->busy && (!bdev->fn_table->io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_RESET) ||
			keel_get_ticks() < c->deadline)) {
		return; /* the poller looks again */
	}
	if (c->busy) {
		KEEL_WARNLOG("bdev %s: I/O still outstanding after %d ms of reset: resetting the "
			     "device under it\n", bdev->name, RESET_DRAIN_TIMEOUT_MS);
	}
	keel_poller_unregister(&c->poller);
	free(c);
	if (!bdev->fn_table->io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_RESET)) {
		bdev->internal.reset_in_progress = 0;
		io->internal.status = KEEL_BDEV_IO_STATUS_SUCCESS;
		bdev_io_complete_to_user(io);
		return;
	}
	child = keel_mempool_get(g_bdev_mgr.io_pool);
	if (child == NULL) {
		bdev->internal.reset_in_progress = 0;
		io->internal.status = KEEL_BDEV_IO_STATUS_FAILED;
		bdev_io_complete_to_user(io);
		return;
	}
	memset(&child->internal, 0, sizeof(child->internal));
	child->bdev = bdev;
	child->type = KEEL_BDEV_IO_TYPE_RESET;
	child->internal.desc = io->internal.desc;
	child->internal.ch = io->internal.ch;
	child->internal.status = KEEL_BDEV_IO_STATUS_PENDING;
	child->internal.parent = io;
	child->internal.cb = reset_module_done;
	child->internal.cb_arg = io;
	bdev_io_submit_to_module(child);
}

static void
reset_aborted(struct keel_channel_iter *iter, int status)
{
	struct reset_ctx *c = keel_channel_iter_get_ctx(iter);

	c->poller = keel_poller_register(reset_poll, c, RESET_POLL_US);
	if (c->poller == NULL) {
		/* Check once more right away and finish or fail from there. */
		reset_poll(c);
	}
}

int
keel_bdev_reset(struct keel_bdev_desc *desc, struct keel_io_channel *_ch, keel_bdev_io_cb cb,
		void *cb_arg)
{
	struct bdev_channel *ch = keel_io_channel_get_ctx(_ch);
	struct keel_bdev_io *io;
	struct reset_ctx *c;

	if (__atomic_load_n(&desc->bdev->internal.status, __ATOMIC_ACQUIRE) != BDEV_STATUS_READY) {
		return -ENODEV;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return -ENOMEM;
	}
	io = bdev_io_get(desc, ch);
	if (io == NULL) {
		free(c);
		return -ENOMEM;
	}
	io->type = KEEL_BDEV_IO_TYPE_RESET;
	io->u.bdev.iovs = NULL;
	io->u.bdev.iovcnt = 0;
	io->u.bdev.offset_blocks = 0;
	io->u.bdev.num_blocks = 0;
	io->internal.cb = cb;
	io->internal.cb_arg = cb_arg;
	io->internal.submit_tsc = keel_get_ticks();
	c->io = io;
	c->deadline = io->internal.submit_tsc + keel_get_ticks_hz() * RESET_DRAIN_TIMEOUT_MS / 1000;
	keel_for_each_channel(bdev_to_io_dev(desc->bdev), reset_visit_abort, c, reset_aborted);
	return 0;
}
