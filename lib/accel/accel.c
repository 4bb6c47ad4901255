/*
 * The copy engine's front: the per-thread channel with its task objects and its completion
 * poller, the submit calls (DMA when the channel has a queue and the memory allows it, the CPU
 * otherwise), and the "accel" subsystem that picks the engine at start-up.
 */
#include "keel/stdinc.h"
#include "keel/accel.h"
#include "keel/event.h"
#include "keel/log.h"
#include "keel/thread.h"
#include "keel/util.h"

#include "accel_internal.h"

/* How long a channel being destroyed waits for its DMA operations. */
#define ACCEL_DRAIN_TIMEOUT_US (1000 * 1000)

KEEL_LOG_REGISTER_COMPONENT(accel)

static struct {
	bool started;
	/* At least one DMA queue is set up. */
	bool dma;
	void (*stop_cb)(void);
} g_accel;

static struct accel_task *
accel_task_get(struct accel_channel *ch, keel_accel_cb cb, void *cb_arg)
{
	struct accel_task *task = TAILQ_FIRST(&ch->free_tasks);

	if (task == NULL) {
		return NULL;
	}
	TAILQ_REMOVE(&ch->free_tasks, task, link);
	task->cb = cb;
	task->cb_arg = cb_arg;
	task->status = 0;
	task->dma_ops_left = 0;
	return task;
}

/* The CPU did the work: the completion waits for the channel's poller. */
static void
accel_task_sw_done(struct accel_channel *ch, struct accel_task *task)
{
	ch->sw_tasks++;
	TAILQ_INSERT_TAIL(&ch->sw_done, task, link);
	keel_poller_resume(ch->poller);
}

static void
accel_task_dma_queued(struct accel_channel *ch)
{
	ch->dma_tasks++;
	keel_poller_resume(ch->poller);
}

/* Run the callbacks of done's tasks, each task freed before its callback so it can be reused. */
static int
accel_complete_list(struct accel_channel *ch, struct accel_task_list *done)
{
	struct accel_task *task;
	keel_accel_cb cb;
	void *cb_arg;
	int status, count = 0;

	while ((task = TAILQ_FIRST(done)) != NULL) {
		TAILQ_REMOVE(done, task, link);
		cb = task->cb;
		cb_arg = task->cb_arg;
		status = task->status;
		TAILQ_INSERT_HEAD(&ch->free_tasks, task, link);
		cb(cb_arg, status);
		count++;
	}
	return count;
}

static int
accel_channel_poll(void *arg)
{
	struct accel_channel *ch = arg;
	struct accel_task_list done = TAILQ_HEAD_INITIALIZER(done);
	int count;

	/* Callbacks may submit again: what they queue waits for the next poll. */
	TAILQ_CONCAT(&done, &ch->sw_done, link);
	if (ch->dmaq != NULL) {
		accel_dma_poll(ch, &done);
	}
	count = accel_complete_list(ch, &done);
	if (TAILQ_EMPTY(&ch->sw_done) && TAILQ_EMPTY(&ch->dma_inflight)) {
		keel_poller_pause(ch->poller);
	}
	return count > 0 ? KEEL_POLLER_BUSY : KEEL_POLLER_IDLE;
}

static int
accel_channel_create(void *io_device, void *ctx_buf)
{
	struct accel_channel *ch = ctx_buf;
	uint32_t i;

	TAILQ_INIT(&ch->free_tasks);
	TAILQ_INIT(&ch->sw_done);
	TAILQ_INIT(&ch->dma_inflight);
	ch->tasks = calloc(ACCEL_TASKS_PER_CHANNEL, sizeof(*ch->tasks));
	if (ch->tasks == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < ACCEL_TASKS_PER_CHANNEL; i++) {
		ch->tasks[i].ch = ch;
		TAILQ_INSERT_TAIL(&ch->free_tasks, &ch->tasks[i], link);
	}
	ch->poller = keel_poller_register_named(accel_channel_poll, ch, 0, "accel_poll");
	if (ch->poller == NULL) {
		free(ch->tasks);
		return -ENOMEM;
	}
	/* Nothing to complete yet: the poller runs only while tasks are outstanding, so that an
	 * idle thread can still sleep in interrupt mode. */
	keel_poller_pause(ch->poller);
	ch->dmaq = accel_dma_queue_get();
	KEEL_INFOLOG(accel, "thread %s: copy engine channel on %s\n",
		     keel_thread_get_name(keel_get_thread()),
		     ch->dmaq ? ch->dmaq->name : "the CPU");
	return 0;
}

static void
accel_channel_destroy(void *io_device, void *ctx_buf)
{
	struct accel_channel *ch = ctx_buf;
	struct accel_task_list done = TAILQ_HEAD_INITIALIZER(done);
	bool drained;

	/* Channels should be put with nothing outstanding; if not, what is owed still completes. */
	drained = accel_dma_drain(ch, &done, ACCEL_DRAIN_TIMEOUT_US);
	TAILQ_CONCAT(&done, &ch->sw_done, link);
	accel_complete_list(ch, &done);
	keel_poller_unregister(&ch->poller);
	accel_dma_queue_put(ch->dmaq);
	if (!drained) {
		/* The device may still write to the task objects through its slots: keep them. */
		KEEL_ERRLOG("DMA queue %s did not finish the operations of a closing channel\n",
			    ch->dmaq->name);
		return;
	}
	free(ch->tasks);
}

struct keel_io_channel *
keel_accel_get_io_channel(void)
{
	if (!g_accel.started || keel_get_thread() == NULL) {
		return NULL;
	}
	return keel_get_io_channel(&g_accel);
}

static int
accel_submit_copyv(struct keel_io_channel *ch, const struct iovec *dst_iovs, int dst_iovcnt,
		   const struct iovec *src_iovs, int src_iovcnt, keel_accel_cb cb, void *cb_arg)
{
	struct accel_channel *ach = keel_io_channel_get_ctx(ch);
	struct accel_task *task;
	size_t soff = 0, doff = 0, len;
	int si = 0, di = 0;

	task = accel_task_get(ach, cb, cb_arg);
	if (task == NULL) {
		return -ENOMEM;
	}
	if (ach->dmaq != NULL &&
	    accel_dma_submit_copy(ach, task, dst_iovs, dst_iovcnt, src_iovs, src_iovcnt) == 0) {
		accel_task_dma_queued(ach);
		return 0;
	}
	while (accel_iov_next(src_iovs, src_iovcnt, &si, &soff) &&
	       accel_iov_next(dst_iovs, dst_iovcnt, &di, &doff)) {
		len = KEEL_MIN(src_iovs[si].iov_len - soff, dst_iovs[di].iov_len - doff);
		memcpy((char *)dst_iovs[di].iov_base + doff,
		       (const char *)src_iovs[si].iov_base + soff, len);
		soff += len;
		doff += len;
	}
	accel_task_sw_done(ach, task);
	return 0;
}

/* Total bytes of iovs; false if the list is malformed. */
static bool
accel_iov_total(const struct iovec *iovs, int iovcnt, size_t *total)
{
	size_t sum = 0;
	int i;

	if (iovcnt < 0 || (iovs == NULL && iovcnt > 0)) {
		return false;
	}
	for (i = 0; i < iovcnt; i++) {
		if (iovs[i].iov_base == NULL && iovs[i].iov_len > 0) {
			return false;
		}
		if (sum + iovs[i].iov_len < sum) {
			return false;
		}
		sum += iovs[i].iov_len;
	}
	*total = sum;
	return true;
}

int
keel_accel_submit_copy(struct keel_io_channel *ch, void *dst, const void *src, size_t nbytes,
		       keel_accel_cb cb, void *cb_arg)
{
	struct iovec dst_iov = {.iov_base = dst, .iov_len = nbytes};
	struct iovec src_iov = {.iov_base = (void *)(uintptr_t)src, .iov_len = nbytes};

	if (ch == NULL || cb == NULL || (nbytes > 0 && (dst == NULL || src == NULL))) {
		return -EINVAL;
	}
	return accel_submit_copyv(ch, &dst_iov, 1, &src_iov, 1, cb, cb_arg);
}

int
keel_accel_submit_copyv(struct keel_io_channel *ch, struct iovec *dst_iovs, int dst_iovcnt,
			struct iovec *src_iovs, int src_iovcnt, keel_accel_cb cb, void *cb_arg)
{
	size_t dst_total, src_total;

	if (ch == NULL || cb == NULL || !accel_iov_total(dst_iovs, dst_iovcnt, &dst_total) ||
	    !accel_iov_total(src_iovs, src_iovcnt, &src_total) || dst_total != src_total) {
		return -EINVAL;
	}
	return accel_submit_copyv(ch, dst_iovs, dst_iovcnt, src_iovs, src_iovcnt, cb, cb_arg);
}

int
keel_accel_submit_fill(struct keel_io_channel *ch, void *dst, uint8_t fill, size_t nbytes,
		       keel_accel_cb cb, void *cb_arg)
{
	struct accel_channel *ach;
	struct accel_task *task;

	if (ch == NULL || cb == NULL || (nbytes > 0 && dst == NULL)) {
		return -EINVAL;
	}
	ach = keel_io_channel_get_ctx(ch);
	task = accel_task_get(ach, cb, cb_arg);
	if (task == NULL) {
		return -ENOMEM;
	}
	if (ach->dmaq != NULL && nbytes > 0 &&
	    accel_dma_submit_fill(ach, task, dst, fill, nbytes) == 0) {
		accel_task_dma_queued(ach);
		return 0;
	}
	if (nbytes > 0) {
		memset(dst, fill, nbytes);
	}
	accel_task_sw_done(ach, task);
	return 0;
}

const char *
keel_accel_get_engine_name(void)
{
	return g_accel.dma ? "dma" : "software";
}

/* Choose the engine and register the I/O device. use_dma false keeps to the CPU. */
static int
accel_start(bool use_dma)
{
	char queues[256];
	uint32_t nb_queues = 0;

	if (g_accel.started) {
		return -EALREADY;
	}
	if (use_dma) {
		nb_queues = accel_dma_init();
	}
	g_accel.dma = nb_queues > 0;
	keel_io_device_register(&g_accel, accel_channel_create, accel_channel_destroy,
				sizeof(struct accel_channel), "accel");
	g_accel.started = true;
	if (g_accel.dma) {
		accel_dma_describe(queues, sizeof(queues));
		KEEL_NOTICELOG("copy engine: dma, %u queue%s (%s)\n", nb_queues,
			       nb_queues == 1 ? "" : "s", queues);
	} else {
		KEEL_NOTICELOG("copy engine: software (%s)\n",
			       use_dma ? "no DMA device available" : "DMA not requested");
	}
	return 0;
}

static void
accel_unregister_done(void *io_device)
{
	void (*cb)(void) = g_accel.stop_cb;

	accel_dma_fini();
	g_accel.dma = false;
	g_accel.stop_cb = NULL;
	if (cb != NULL) {
		cb();
	}
}

/* Unregister the I/O device; once every channel is gone, stop the DMA devices and call cb. */
static void
accel_stop(void (*cb)(void))
{
	if (!g_accel.started) {
		if (cb != NULL) {
			cb();
		}
		return;
	}
	g_accel.started = false;
	g_accel.stop_cb = cb;
	keel_io_device_unregister(&g_accel, accel_unregister_done);
}

static void
accel_subsystem_init(void)
{
	keel_subsystem_init_next(accel_start(true));
}

static void
accel_subsystem_fini(void)
{
	accel_stop(keel_subsystem_fini_next);
}

static struct keel_subsystem g_accel_subsystem = {
	.name = "accel",
	.init = accel_subsystem_init,
	.fini = accel_subsystem_fini,
};
KEEL_SUBSYSTEM_REGISTER(g_accel_subsystem)
