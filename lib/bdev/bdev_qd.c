/*
 * Queue-depth sampling (bdev_set_qd_sampling_period): a timed poller on the thread that turned
 * it on counts, every period, the I/Os outstanding at the module on every channel of the bdev.
 * From the samples come the last queue depth, the time the bdev was busy (io_time: a period for
 * each sample that found I/O) and that time weighted by the depth (weighted_io_time), as Linux
 * keeps them in /proc/diskstats and SPDK reports them. The I/O path does no extra work: the
 * samples read the per-channel count it keeps anyway.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/bdev_module.h"
#include "keel/log.h"
#include "keel/thread.h"

#include "bdev_internal.h"

/* Sampling of one bdev; lives from the first set to the bdev's unregistration. */
struct bdev_qd {
	struct keel_bdev *bdev;
	struct keel_thread *thread; /* of the poller and the totals */
	struct keel_poller *poller; /* NULL while the period is 0 */
	uint64_t period_us;
	uint64_t sum;      /* of the sample under way */
	uint64_t measured; /* the last sample */
	uint64_t io_time_us;
	uint64_t weighted_io_time_us;
	bool sampling; /* a for_each_channel is under way */
	bool stopped;  /* set from any thread: the bdev is going, sample no more */
	bool released; /* on thread: free at the end of the sample under way */
};

static void
qd_visit(struct keel_channel_iter *iter)
{
	struct bdev_qd *qd = keel_channel_iter_get_ctx(iter);
	struct bdev_channel *ch = keel_io_channel_get_ctx(keel_channel_iter_get_channel(iter));

	qd->sum += ch->io_outstanding;
	keel_for_each_channel_continue(iter, 0);
}

static void
qd_sampled(struct keel_channel_iter *iter, int status)
{
	struct bdev_qd *qd = keel_channel_iter_get_ctx(iter);

	qd->sampling = false;
	if (qd->released) {
		free(qd);
		return;
	}
	qd->measured = qd->sum;
	if (qd->measured != 0) {
		qd->io_time_us += qd->period_us;
		qd->weighted_io_time_us += qd->period_us * qd->measured;
	}
}

static int
qd_poll(void *arg)
{
	struct bdev_qd *qd = arg;

	/* Once stopped, the bdev may be gone before this poller is: leave it alone. */
	if (__atomic_load_n(&qd->stopped, __ATOMIC_ACQUIRE) || qd->sampling) {
		return KEEL_POLLER_IDLE; /* or the last sample is still going round the threads */
	}
	qd->sampling = true;
	qd->sum = 0;
	keel_for_each_channel(bdev_to_io_dev(qd->bdev), qd_visit, qd, qd_sampled);
	return KEEL_POLLER_BUSY;
}

static void
qd_stop_on_thread(void *arg)
{
	struct bdev_qd *qd = arg;

	keel_poller_unregister(&qd->poller);
	qd->released = true;
	if (!qd->sampling) {
		free(qd);
	}
}

/* Stop sampling for good (at once, whatever the thread) and free qd on its thread (there, or
 * after a sample under way, which keeps the bdev's channels and so the bdev alive). */
static void
qd_stop(struct bdev_qd *qd)
{
	__atomic_store_n(&qd->stopped, true, __ATOMIC_RELEASE);
	if (qd->thread == keel_get_thread()) {
		qd_stop_on_thread(qd);
	} else if (keel_thread_send_msg(qd->thread, qd_stop_on_thread, qd) != 0) {
		KEEL_ERRLOG("bdev %s: cannot stop queue-depth sampling\n", qd->bdev->name);
	}
}

int
keel_bdev_set_qd_sampling_period(struct keel_bdev *bdev, uint64_t period_us)
{
	struct bdev_qd *qd = bdev->internal.qd, *old = NULL;

	if (__atomic_load_n(&bdev->internal.status, __ATOMIC_ACQUIRE) != BDEV_STATUS_READY) {
		return -ENODEV; /* being removed: its sampling would outlive it */
	}
	if (qd != NULL && qd->thread != keel_get_thread()) {
		/* Set from another thread before: move the sampling (and its totals) here. */
		old = qd;
		qd = NULL;
	}
	if (qd == NULL) {
		qd = calloc(1, sizeof(*qd));
		if (qd == NULL) {
			return -ENOMEM;
		}
		qd->bdev = bdev;
		qd->thread = keel_get_thread();
		if (old != NULL) {
			qd->io_time_us = old->io_time_us;
			qd->weighted_io_time_us = old->weighted_io_time_us;
		}
	}
	keel_poller_unregister(&qd->poller);
	if (period_us != 0) {
		qd->poller = keel_poller_register(qd_poll, qd, period_us);
		if (qd->poller == NULL) {
			if (qd != bdev->internal.qd) {
				free(qd);
			}
			return -ENOMEM;
		}
	}
	qd->period_us = period_us;
	qd->measured = 0;
	bdev->internal.qd = qd;
	if (old != NULL) {
		qd_stop(old);
	}
	return 0;
}

void
bdev_qd_destroy(struct keel_bdev *bdev)
{
	struct bdev_qd *qd = bdev->internal.qd;

	if (qd != NULL) {
		bdev->internal.qd = NULL;
		qd_stop(qd);
	}
}

uint64_t
keel_bdev_get_qd_sampling_period(const struct keel_bdev *bdev)
{
	return bdev->internal.qd != NULL ? bdev->internal.qd->period_us : 0;
}

uint64_t
keel_bdev_get_qd(const struct keel_bdev *bdev)
{
	return bdev->internal.qd != NULL ? bdev->internal.qd->measured : 0;
}

uint64_t
keel_bdev_get_io_time(const struct keel_bdev *bdev)
{
	return bdev->internal.qd != NULL ? bdev->internal.qd->io_time_us : 0;
}

uint64_t
keel_bdev_get_weighted_io_time(const struct keel_bdev *bdev)
{
	return bdev->internal.qd != NULL ? bdev->internal.qd->weighted_io_time_us : 0;
}
