/*
 * Quality of service: IOPS and bandwidth limits per bdev, changed live. All I/O of a limited
 * bdev passes through one thread (the one that set the limits), which hands out a budget every
 * millisecond and sends completions back to the submitting thread.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/bdev_module.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/thread.h"

#include "bdev_internal.h"

#define QOS_SLICE_US 1000
#define QOS_MIN_IOPS 1000
#define QOS_MIN_BPS (1024 * 1024)
#define QOS_CATCH_UP_SLICES 20 /* budget a late poll may still spend; no more after idling */

static bool
qos_active(const struct bdev_qos *qos)
{
	int i;

	for (i = 0; i < KEEL_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		if (qos->limits[i].limit != 0) {
			return true;
		}
	}
	return false;
}

static bool
qos_limit_applies(int type, const struct keel_bdev_io *io)
{
	switch (type) {
	case KEEL_BDEV_QOS_R_BPS_RATE_LIMIT:
		return io->type == KEEL_BDEV_IO_TYPE_READ;
	case KEEL_BDEV_QOS_W_BPS_RATE_LIMIT:
		return io->type == KEEL_BDEV_IO_TYPE_WRITE;
	default:
		return true;
	}
}

static uint64_t
qos_cost(int type, const struct keel_bdev_io *io)
{
	if (type == KEEL_BDEV_QOS_RW_IOPS_RATE_LIMIT) {
		return 1;
	}
	if (io->type == KEEL_BDEV_IO_TYPE_READ || io->type == KEEL_BDEV_IO_TYPE_WRITE) {
		return io->u.bdev.num_blocks * io->bdev->blocklen;
	}
	return 0;
}

/* Send what the budget of this slice allows; returns how many went. */
static int
qos_dispatch(struct bdev_qos *qos)
{
	struct bdev_channel *ch = keel_io_channel_get_ctx(qos->ch);
	struct keel_bdev_io *io;
	int i, n = 0;

	while ((io = TAILQ_FIRST(&ch->qos_io)) != NULL) {
		for (i = 0; i < KEEL_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
			if (qos->limits[i].limit != 0 && qos_limit_applies(i, io) &&
			    qos->limits[i].remaining <= 0) {
				return n;
			}
		}
		TAILQ_REMOVE(&ch->qos_io, io, internal.link);
		io->internal.queued = false;
		for (i = 0; i < KEEL_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
			if (qos->limits[i].limit != 0 && qos_limit_applies(i, io)) {
				qos->limits[i].remaining -= (int64_t)qos_cost(i, io);
			}
		}
		bdev_io_submit(io);
		n++;
	}
	return n;
}

static int
qos_poller(void *arg)
{
	struct bdev_qos *qos = arg;
	uint64_t now = keel_get_ticks(), n;
	int i;

	if (now - qos->last_slice_tsc >= qos->slice_tsc) {
		/* Every slice since the last one counts, so that a late poll loses no budget. */
		n = (now - qos->last_slice_tsc) / qos->slice_tsc;
		qos->last_slice_tsc += n * qos->slice_tsc;
		for (i = 0; i < KEEL_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
			struct bdev_qos_limit *l = &qos->limits[i];

			/* A debt from one large I/O is paid off; budget left unspent carries
			 * over for QOS_CATCH_UP_SLICES at most. */
			l->remaining = KEEL_MIN(l->remaining + (int64_t)(n * l->max_per_slice),
						(int64_t)(KEEL_MIN(n, QOS_CATCH_UP_SLICES) *
							  l->max_per_slice));
		}
	}
	return qos_dispatch(qos) > 0 ? KEEL_POLLER_BUSY : KEEL_POLLER_IDLE;
}

static void
qos_io_back_home(void *arg)
{
	struct keel_bdev_io *io = arg;

	io->internal.qos_hop = false;
	bdev_io_complete_to_user(io);
}

/* On the QoS thread: the I/O is done; hand it back to its own thread. */
static void
qos_io_done(struct keel_bdev_io *io, bool success, void *cb_arg)
{
	io->internal.ch = io->internal.orig_ch;
	io->internal.cb = io->internal.orig_cb;
	io->internal.cb_arg = io->internal.orig_cb_arg;
	if (keel_thread_send_msg(io->internal.orig_thread, qos_io_back_home, io) != 0) {
		KEEL_ERRLOG("bdev %s: cannot return a QoS I/O to its thread\n", io->bdev->name);
	}
}

static void
qos_enqueue(void *arg)
{
	struct keel_bdev_io *io = arg;
	struct bdev_qos *qos = io->bdev->internal.qos;
	struct bdev_channel *ch;

	if (qos == NULL || qos->ch == NULL) {
		io->internal.status = KEEL_BDEV_IO_STATUS_ABORTED;
		qos_io_done(io, false, NULL);
		return;
	}
	ch = keel_io_channel_get_ctx(qos->ch);
	io->internal.ch = ch;
	io->internal.cb = qos_io_done;
	io->internal.cb_arg = NULL;
	io->internal.queued = true;
	TAILQ_INSERT_TAIL(&ch->qos_io, io, internal.link);
	qos_dispatch(qos);
}

bool
bdev_qos_submit(struct keel_bdev_io *io)
{
	struct bdev_qos *qos = io->bdev->internal.qos;

	if (qos == NULL || io->internal.qos_hop || io->internal.parent != NULL || !qos_active(qos)) {
		return false;
	}
	io->internal.qos_hop = true;
	io->internal.orig_ch = io->internal.ch;
	io->internal.orig_cb = io->internal.cb;
	io->internal.orig_cb_arg = io->internal.cb_arg;
	io->internal.orig_thread = keel_get_thread();
	if (keel_thread_send_msg(qos->thread, qos_enqueue, io) != 0) {
		io->internal.qos_hop = false;
		return false;
	}
	return true;
}

static void
qos_set_limits(struct bdev_qos *qos, const uint64_t *limits)
{
	uint64_t slices = 1000000 / QOS_SLICE_US;
	int i;

	for (i = 0; i < KEEL_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		if (limits[i] == UINT64_MAX) {
			continue;
		}
		qos->limits[i].limit = limits[i];
		qos->limits[i].max_per_slice = limits[i] ? KEEL_MAX(limits[i] / slices, 1) : 0;
		qos->limits[i].remaining = (int64_t)qos->limits[i].max_per_slice;
	}
}

void
keel_bdev_set_qos_rate_limits(struct keel_bdev *bdev, const uint64_t *limits, keel_bdev_done_cb cb,
			      void *cb_arg)
{
	struct bdev_qos *qos = bdev->internal.qos;
	int i;

	for (i = 0; i < KEEL_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		uint64_t min = i == KEEL_BDEV_QOS_RW_IOPS_RATE_LIMIT ? QOS_MIN_IOPS : QOS_MIN_BPS;

		if (limits[i] != UINT64_MAX && limits[i] != 0 && limits[i] < min) {
			cb(cb_arg, -EINVAL);
			return;
		}
	}
	if (qos == NULL) {
		qos = calloc(1, sizeof(*qos));
		if (qos == NULL) {
			cb(cb_arg, -ENOMEM);
			return;
		}
		qos->thread = keel_get_thread();
		qos->slice_tsc = keel_get_ticks_hz() * QOS_SLICE_US / 1000000;
		qos->last_slice_tsc = keel_get_ticks();
		qos->ch = keel_get_io_channel(bdev_to_io_dev(bdev));
		if (qos->ch == NULL) {
			free(qos);
			cb(cb_arg, -ENOMEM);
			return;
		}
		qos->poller = keel_poller_register(qos_poller, qos, QOS_SLICE_US);
		if (qos->poller == NULL) {
			keel_put_io_channel(qos->ch);
			free(qos);
			cb(cb_arg, -ENOMEM);
			return;
		}
		qos_set_limits(qos, limits);
		__atomic_store_n(&bdev->internal.qos, qos, __ATOMIC_RELEASE);
	} else if (qos->thread != keel_get_thread()) {
		/* Limits are kept by one thread; a change from elsewhere is refused. */
		cb(cb_arg, -EBUSY);
		return;
	} else {
		qos_set_limits(qos, limits);
	}
	cb(cb_arg, 0);
}

void
keel_bdev_get_qos_rate_limits(struct keel_bdev *bdev, uint64_t *limits)
{
	struct bdev_qos *qos = bdev->internal.qos;
	int i;

	for (i = 0; i < KEEL_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		limits[i] = qos ? qos->limits[i].limit : 0;
	}
}

static void
qos_destroy_on_thread(void *arg)
{
	struct bdev_qos *qos = arg;
	struct bdev_channel *ch = keel_io_channel_get_ctx(qos->ch);

	bdev_channel_abort_queued(ch, ch->bdev);
	keel_poller_unregister(&qos->poller);
	keel_put_io_channel(qos->ch);
	free(qos);
}

void
bdev_qos_destroy(struct keel_bdev *bdev)
{
	struct bdev_qos *qos = bdev->internal.qos;

	if (qos == NULL) {
		return;
	}
	bdev->internal.qos = NULL;
	if (keel_thread_send_msg(qos->thread, qos_destroy_on_thread, qos) != 0) {
		KEEL_ERRLOG("bdev %s: cannot release QoS\n", bdev->name);
	}
}
