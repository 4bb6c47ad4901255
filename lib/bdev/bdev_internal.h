/*
 * Private structures of the generic bdev layer, shared by its source files and unit tests.
 */
#ifndef KEEL_BDEV_INTERNAL_H
#define KEEL_BDEV_INTERNAL_H

#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/bdev_module.h"
#include "keel/thread.h"

#include <pthread.h>

#define BDEV_DEFAULT_IO_POOL_SIZE 65535
#define BDEV_DEFAULT_IO_CACHE_SIZE 256
#define BDEV_DEFAULT_MAX_UNMAP_BLOCKS 4194304
#define BDEV_MAX_SPLIT_CHILDREN 32
#define BDEV_CHILD_IOVS 32

enum bdev_status {
	BDEV_STATUS_READY = 0,
	BDEV_STATUS_REMOVING = 1,
};

/* A descriptor: one open of a bdev, on one thread. */
struct keel_bdev_desc {
	struct keel_bdev *bdev;
	struct keel_thread *thread;
	keel_bdev_event_cb event_cb;
	void *event_ctx;
	bool write;
	bool closed;
	bool remove_notified;
	uint32_t refs; /* events in flight that still point at the descriptor */
	TAILQ_ENTRY(keel_bdev_desc) link;
};

/* Per-thread state of the layer: the I/O object cache and the wait queue. */
struct bdev_mgmt_channel {
	TAILQ_HEAD(, keel_bdev_io) cache;
	uint32_t cache_count;
	uint32_t cache_size;
	TAILQ_HEAD(, keel_bdev_io_wait_entry) io_wait_queue;
};

/* A locked LBA range (compare-and-write): I/O overlapping it waits. */
struct bdev_range_lock {
	uint64_t offset;
	uint64_t length;
	void *owner; /* the compare-and-write I/O that holds it */
	TAILQ_ENTRY(bdev_range_lock) link;
};

/* Per-thread, per-bdev channel. */
struct bdev_channel {
	struct keel_bdev *bdev;
	struct keel_io_channel *module_ch;
	struct keel_io_channel *mgmt_io_ch;
	struct bdev_mgmt_channel *mgmt;
	struct keel_bdev_io_stat stat;
	uint64_t io_outstanding;
	TAILQ_HEAD(, keel_bdev_io) nomem_io;  /* module said NOMEM: retried on completions */
	TAILQ_HEAD(, keel_bdev_io) locked_io; /* waiting for a range lock to go */
	TAILQ_HEAD(, keel_bdev_io) qos_io;    /* waiting for QoS budget (QoS thread only) */
	TAILQ_HEAD(, keel_bdev_io) outstanding; /* at the module */
	TAILQ_HEAD(, bdev_range_lock) locked_ranges;
	struct keel_poller *nomem_poller;
	bool qos_enabled;
	/* The I/O path's clock, read once per poll of the thread (see bdev_channel_now()). */
	struct keel_thread *thread;
	uint64_t clock_poll;
	uint64_t clock_now;
};

struct bdev_qos_limit {
	uint64_t limit;		/* per second; 0 = none */
	uint64_t max_per_slice;
	int64_t remaining;
};

/* QoS of one bdev: all its I/O goes through the thread that owns qos->ch. */
struct bdev_qos {
	struct bdev_qos_limit limits[KEEL_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	struct keel_thread *thread;
	struct keel_bdev_desc *desc;
	struct keel_io_channel *ch;
	struct keel_poller *poller;
	uint64_t last_slice_tsc;
	uint64_t slice_tsc;
};

/* Layer-wide state. */
struct bdev_mgr {
	TAILQ_HEAD(bdev_list, keel_bdev) bdevs;
	TAILQ_HEAD(, keel_bdev_module) modules;
	struct keel_mempool *io_pool;
	size_t io_size;
	struct keel_bdev_opts opts;
	bool initialized;
	pthread_mutex_t lock;
};

extern struct bdev_mgr g_bdev_mgr;

static inline void *
bdev_to_io_dev(struct keel_bdev *bdev)
{
	return (uint8_t *)bdev + 1;
}

/* bdev_io.c */
void bdev_channel_abort_queued(struct bdev_channel *ch, struct keel_bdev *bdev);
int bdev_channel_create(void *io_device, void *ctx_buf);
void bdev_channel_destroy(void *io_device, void *ctx_buf);
void bdev_io_complete_to_user(struct keel_bdev_io *io);
void bdev_io_submit(struct keel_bdev_io *io);
void bdev_io_submit_to_module(struct keel_bdev_io *io);
struct keel_bdev_io *bdev_io_get(struct keel_bdev_desc *desc, struct bdev_channel *ch);
void bdev_io_put(struct keel_bdev_io *io);
void bdev_stat_add(struct keel_bdev_io_stat *sum, const struct keel_bdev_io_stat *add);
bool bdev_io_overlaps_lock(struct bdev_channel *ch, struct keel_bdev_io *io);

/* bdev_lock.c */
void bdev_compare_and_write_start(struct keel_bdev_io *io);
void bdev_compare_emulate(struct keel_bdev_io *io);

/* bdev_qd.c */
void bdev_qd_destroy(struct keel_bdev *bdev);

/* bdev_qos.c */
bool bdev_qos_submit(struct keel_bdev_io *io);
void bdev_qos_destroy(struct keel_bdev *bdev);

#endif /* KEEL_BDEV_INTERNAL_H */
