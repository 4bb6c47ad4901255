/*
 * Types shared by the files of lib/accel: tasks, per-thread channels and the DMA queues
 * (one per dmadev virtual channel) that channels submit to.
 */
#ifndef KEEL_ACCEL_INTERNAL_H
#define KEEL_ACCEL_INTERNAL_H

#include "keel/stdinc.h"
#include "keel/accel.h"

#include <pthread.h>

/* Task objects per channel: the bound on operations outstanding on one thread. */
#define ACCEL_TASKS_PER_CHANNEL 1024
/* Most DMA operations one task may be split into (iovec pieces, IOVA discontinuities). */
#define ACCEL_DMA_MAX_SEGS 32
/* Largest single DMA operation. */
#define ACCEL_DMA_MAX_SEG_BYTES (1u << 30)
/* Descriptors per DMA vchan (adjusted to the device's limits and a power of two). */
#define ACCEL_DMA_DESC 1024
/* Finished DMA operations reaped per poll. */
#define ACCEL_DMA_REAP_BATCH 64

struct accel_channel;

struct accel_task {
	TAILQ_ENTRY(accel_task) link;
	struct accel_channel *ch;
	keel_accel_cb cb;
	void *cb_arg;
	int status;
	/* DMA operations of this task not reaped yet; read and written under its queue's lock. */
	uint32_t dma_ops_left;
};

TAILQ_HEAD(accel_task_list, accel_task);

/*
 * One dmadev vchan. Channels are spread over the queues; a queue may serve several threads, so
 * its ring and slots are used under its spinlock (uncontended when each thread has its own).
 * Operations finish in the order they were queued: slots[] records, for each operation in flight,
 * the task it belongs to, and whichever thread reaps a completion counts it against that task.
 */
struct accel_dma_queue {
	pthread_spinlock_t lock;
	int dev_id;
	uint16_t vchan;
	/* The device takes virtual addresses rather than IOVAs. */
	bool sva;
	/* The device can fill. */
	bool fill;
	/* Channels using this queue (changed under the queue list lock). */
	uint32_t users;
	/* slots[tail & mask] up to slots[(head - 1) & mask] are the operations in flight. */
	uint32_t nb_slots;
	uint32_t head;
	uint32_t tail;
	struct accel_task **slots;
	char name[48];
};

struct accel_channel {
	/* NULL: this channel has no DMA queue; everything goes through the CPU. */
	struct accel_dma_queue *dmaq;
	/* Completes tasks; paused while the channel has nothing outstanding. */
	struct keel_poller *poller;
	struct accel_task *tasks;
	struct accel_task_list free_tasks;
	/* Tasks done by the CPU at submission, whose callbacks are still to run. */
	struct accel_task_list sw_done;
	/* Tasks handed to the DMA queue, in submission order. */
	struct accel_task_list dma_inflight;
	/* Tasks that went to the DMA engine, and those that the CPU did. */
	uint64_t dma_tasks;
	uint64_t sw_tasks;
};

/* One piece of a DMA copy or fill: addresses for the device and for the CPU. */
struct accel_dma_seg {
	uint64_t src_addr;
	uint64_t dst_addr;
	const void *src;
	void *dst;
	uint32_t len;
};

/* Step over used-up and empty entries of iovs; false once the list is exhausted. */
static inline bool
accel_iov_next(const struct iovec *iovs, int iovcnt, int *idx, size_t *off)
{
	while (*idx < iovcnt && *off >= iovs[*idx].iov_len) {
		(*idx)++;
		*off = 0;
	}
	return *idx < iovcnt;
}

/* accel_dma.c */

/** Configure every DMA device the environment has. \return the number of queues set up. */
uint32_t accel_dma_init(void);
/** Stop the devices and free the queues; no channel may use them any more. */
void accel_dma_fini(void);
/** A description of the queues for the start-up notice. */
void accel_dma_describe(char *buf, size_t len);
/** The least used queue, now used once more; NULL if there is none. */
struct accel_dma_queue *accel_dma_queue_get(void);
void accel_dma_queue_put(struct accel_dma_queue *q);
/**
 * Hand a copy to the channel's DMA queue.
 * \return 0 if queued (task is then in ch->dma_inflight); -ENOTSUP if a buffer is not DMA-safe,
 *         is too fragmented, or the queue is full: the caller then copies with the CPU.
 */
int accel_dma_submit_copy(struct accel_channel *ch, struct accel_task *task,
			  const struct iovec *dst_iovs, int dst_iovcnt,
			  const struct iovec *src_iovs, int src_iovcnt);
/** Hand a fill to the channel's DMA queue. \return 0 if queued; -ENOTSUP as above. */
int accel_dma_submit_fill(struct accel_channel *ch, struct accel_task *task, void *dst,
			  uint8_t fill, size_t nbytes);
/** Reap finished operations; move the channel's tasks that are complete to done, in order. */
void accel_dma_poll(struct accel_channel *ch, struct accel_task_list *done);
/**
 * Wait (at most timeout_us) until every task the channel sent to DMA is complete, moving them to
 * done. \return true if none is left in flight.
 */
bool accel_dma_drain(struct accel_channel *ch, struct accel_task_list *done, uint64_t timeout_us);

#endif /* KEEL_ACCEL_INTERNAL_H */
