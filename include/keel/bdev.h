/*
 * The block device layer, consumer side: find and open block devices, get a per-thread
 * channel, and submit asynchronous I/O on it. Every submit function follows one contract:
 * return 0 and the callback runs exactly once, later, on the calling thread; return < 0 and it
 * never runs. -ENOMEM means no I/O object was free: wait with keel_bdev_queue_io_wait().
 */
#ifndef KEEL_BDEV_H
#define KEEL_BDEV_H

#include "keel/stdinc.h"
#include "keel/thread.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_object;
struct keel_bdev;
struct keel_bdev_desc;
struct keel_bdev_io;

#define KEEL_BDEV_MAX_NAME_LEN 256
#define KEEL_UUID_STRING_LEN 37

enum keel_bdev_io_type {
	KEEL_BDEV_IO_TYPE_INVALID = 0,
	KEEL_BDEV_IO_TYPE_READ,
	KEEL_BDEV_IO_TYPE_WRITE,
	KEEL_BDEV_IO_TYPE_FLUSH,
	KEEL_BDEV_IO_TYPE_UNMAP,
	KEEL_BDEV_IO_TYPE_WRITE_ZEROES,
	KEEL_BDEV_IO_TYPE_RESET,
	KEEL_BDEV_IO_TYPE_COMPARE,
	KEEL_BDEV_IO_TYPE_COMPARE_AND_WRITE,
	KEEL_BDEV_NUM_IO_TYPES,
};

enum keel_bdev_io_status {
	KEEL_BDEV_IO_STATUS_MISCOMPARE = -4, /* compare found a difference (see miscompare offset) */
	KEEL_BDEV_IO_STATUS_ABORTED = -3,    /* aborted by a reset or by removal of the bdev */
	KEEL_BDEV_IO_STATUS_NOMEM = -2,      /* module out of resources: the layer retries it */
	KEEL_BDEV_IO_STATUS_FAILED = -1,
	KEEL_BDEV_IO_STATUS_PENDING = 0,
	KEEL_BDEV_IO_STATUS_SUCCESS = 1,
};

/** Flags of read/write submissions. */
#define KEEL_BDEV_IO_FLAG_FUA 0x1 /* write: on stable storage before completion */
#define KEEL_BDEV_IO_FLAG_ZCOPY 0x2 /* read: data by reference (keel_bdev_read_blocks_zcopy) */

enum keel_bdev_event_type {
	KEEL_BDEV_EVENT_REMOVE, /* the bdev is going away: close the descriptor */
	KEEL_BDEV_EVENT_RESIZE, /* the block count changed */
};

/** Runs on the thread that opened the descriptor. */
typedef void (*keel_bdev_event_cb)(enum keel_bdev_event_type type, struct keel_bdev *bdev,
				   void *event_ctx);
/** I/O completion: free the I/O with keel_bdev_free_io() when done with it. */
typedef void (*keel_bdev_io_cb)(struct keel_bdev_io *io, bool success, void *cb_arg);
typedef void (*keel_bdev_done_cb)(void *cb_arg, int rc);

struct keel_bdev_opts {
	uint32_t bdev_io_pool_size;  /* I/O objects in the global pool (default 65535) */
	uint32_t bdev_io_cache_size; /* I/O objects cached per thread (default 256) */
	bool bdev_auto_examine;      /* accepted for compatibility */
};

void keel_bdev_get_opts(struct keel_bdev_opts *opts);
/** Only before the bdev subsystem starts. \return 0; -EINVAL; -EPERM if already started. */
int keel_bdev_set_opts(const struct keel_bdev_opts *opts);

/* Finding bdevs. */
struct keel_bdev *keel_bdev_get_by_name(const char *name); /* name, alias or UUID */
struct keel_bdev *keel_bdev_first(void);
struct keel_bdev *keel_bdev_next(struct keel_bdev *prev);

const char *keel_bdev_get_name(const struct keel_bdev *bdev);
const char *keel_bdev_get_product_name(const struct keel_bdev *bdev);
const char *keel_bdev_get_module_name(const struct keel_bdev *bdev);
uint32_t keel_bdev_get_block_size(const struct keel_bdev *bdev);
uint64_t keel_bdev_get_num_blocks(const struct keel_bdev *bdev);
/** "xxxxxxxx-xxxx-..." into buf (KEEL_UUID_STRING_LEN bytes). */
void keel_bdev_get_uuid_str(const struct keel_bdev *bdev, char *buf);
const uint8_t *keel_bdev_get_uuid(const struct keel_bdev *bdev); /* 16 bytes */
bool keel_bdev_has_write_cache(const struct keel_bdev *bdev);
uint32_t keel_bdev_get_optimal_io_boundary(const struct keel_bdev *bdev); /* blocks, 0 = none */
uint32_t keel_bdev_get_max_transfer_blocks(const struct keel_bdev *bdev); /* 0 = no limit */
uint32_t keel_bdev_get_max_unmap_blocks(const struct keel_bdev *bdev);
uint32_t keel_bdev_get_max_write_zeroes_blocks(const struct keel_bdev *bdev);
uint32_t keel_bdev_get_max_compare_and_write_blocks(const struct keel_bdev *bdev);
/** True if an unmapped block reads back as zeroes. */
bool keel_bdev_unmap_reads_zeroes(const struct keel_bdev *bdev);
/** Buffer alignment the bdev needs, in bytes (1 = none); the layer bounces unaligned buffers. */
size_t keel_bdev_get_buf_align(const struct keel_bdev *bdev);
bool keel_bdev_io_type_supported(struct keel_bdev *bdev, enum keel_bdev_io_type type);
/** True if keel_bdev_read_blocks_zcopy() works on this bdev (its data is in memory). */
bool keel_bdev_supports_zcopy(const struct keel_bdev *bdev);
/** Aliases: call fn for each. */
void keel_bdev_for_each_alias(const struct keel_bdev *bdev, void (*fn)(const char *alias, void *ctx),
			      void *ctx);
/** Add an alias. \return 0; -EEXIST if any bdev has that name or alias. */
int keel_bdev_alias_add(struct keel_bdev *bdev, const char *alias);
int keel_bdev_alias_del(struct keel_bdev *bdev, const char *alias);

/**
 * Open a bdev.
 * \param name      Name, alias or UUID.
 * \param write     Read-write (true) or read-only.
 * \param event_cb  Called on this thread on REMOVE and RESIZE; must not be NULL.
 * \return 0; -ENODEV if there is no such bdev (or it is being removed); -EPERM if it is
 *         claimed by a module and write was asked; -ENOMEM.
 */
int keel_bdev_open_ext(const char *name, bool write, keel_bdev_event_cb event_cb, void *event_ctx,
		       struct keel_bdev_desc **desc);
/** Close on the thread that opened it. */
void keel_bdev_close(struct keel_bdev_desc *desc);
struct keel_bdev *keel_bdev_desc_get_bdev(struct keel_bdev_desc *desc);
/** The calling thread's channel for I/O through desc; put it with keel_put_io_channel(). */
struct keel_io_channel *keel_bdev_get_io_channel(struct keel_bdev_desc *desc);

/* I/O. offset and num are in blocks. */
int keel_bdev_readv_blocks_ext(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
			       struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			       uint64_t num_blocks, uint32_t flags, keel_bdev_io_cb cb, void *cb_arg);
int keel_bdev_writev_blocks_ext(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
				struct iovec *iov, int iovcnt, uint64_t offset_blocks,
				uint64_t num_blocks, uint32_t flags, keel_bdev_io_cb cb, void *cb_arg);
int keel_bdev_readv_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
			   struct iovec *iov, int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			   keel_bdev_io_cb cb, void *cb_arg);
int keel_bdev_writev_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
			    struct iovec *iov, int iovcnt, uint64_t offset_blocks, uint64_t num_blocks,
			    keel_bdev_io_cb cb, void *cb_arg);
int keel_bdev_read_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch, void *buf,
			  uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb,
			  void *cb_arg);
int keel_bdev_write_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch, void *buf,
			   uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb,
			   void *cb_arg);
/**
 * Read without a buffer of the caller's: when cb runs, keel_bdev_io_get_iovec() gives the data
 * where it lies in the bdev's own memory (one buffer, no copy), valid until
 * keel_bdev_free_io(io). The caller frees the I/O before it puts the channel or closes the
 * descriptor. Nothing orders that memory against later writes: a write to the same blocks that
 * is submitted before the I/O is freed can show through, so a caller that must not see one
 * holds such writes back until then.
 * \return 0; -ENOTSUP if the bdev cannot (keel_bdev_supports_zcopy()) or the read would have
 *         to be split; otherwise as keel_bdev_read_blocks().
 */
int keel_bdev_read_blocks_zcopy(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
				uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb,
				void *cb_arg);
/** The data buffers of an I/O: for a zero-copy read, where the data lies. */
void keel_bdev_io_get_iovec(struct keel_bdev_io *io, struct iovec **iovs, int *iovcnt);
/** Make written data durable (num_blocks 0 = to the end). */
int keel_bdev_flush_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
			   uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb,
			   void *cb_arg);
int keel_bdev_unmap_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
			   uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb,
			   void *cb_arg);
int keel_bdev_write_zeroes_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
				  uint64_t offset_blocks, uint64_t num_blocks, keel_bdev_io_cb cb,
				  void *cb_arg);
/** Compare the blocks with iov; MISCOMPARE status (not FAILED) when they differ. */
int keel_bdev_comparev_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
			      struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			      uint64_t num_blocks, keel_bdev_io_cb cb, void *cb_arg);
/** Atomically (against all other I/O to those blocks): compare with cmp_iov, and only if equal
 * write write_iov. */
int keel_bdev_comparev_and_writev_blocks(struct keel_bdev_desc *desc, struct keel_io_channel *ch,
					 struct iovec *cmp_iov, int cmp_iovcnt,
					 struct iovec *write_iov, int write_iovcnt,
					 uint64_t offset_blocks, uint64_t num_blocks,
					 keel_bdev_io_cb cb, void *cb_arg);
/** Abort queued I/O of the bdev (every channel) and wait for what the module has. */
int keel_bdev_reset(struct keel_bdev_desc *desc, struct keel_io_channel *ch, keel_bdev_io_cb cb,
		    void *cb_arg);

void keel_bdev_free_io(struct keel_bdev_io *io);
enum keel_bdev_io_status keel_bdev_io_get_status(const struct keel_bdev_io *io);
/** Byte offset of the first difference, for a MISCOMPARE. */
uint64_t keel_bdev_io_get_miscompare_offset(const struct keel_bdev_io *io);
enum keel_bdev_io_type keel_bdev_io_get_type(const struct keel_bdev_io *io);

/** Wait for an I/O object after a submit returned -ENOMEM. */
struct keel_bdev_io_wait_entry {
	struct keel_bdev *bdev;
	void (*cb_fn)(void *cb_arg);
	void *cb_arg;
	TAILQ_ENTRY(keel_bdev_io_wait_entry) link;
};
/** cb_fn runs on this thread when an I/O object is free. \return 0; -EINVAL. */
int keel_bdev_queue_io_wait(struct keel_bdev *bdev, struct keel_io_channel *ch,
			    struct keel_bdev_io_wait_entry *entry);

/* Statistics. */
struct keel_bdev_io_stat {
	uint64_t bytes_read;
	uint64_t num_read_ops;
	uint64_t bytes_written;
	uint64_t num_write_ops;
	uint64_t bytes_unmapped;
	uint64_t num_unmap_ops;
	uint64_t num_flush_ops;
	uint64_t num_other_ops;
	uint64_t num_failed_ops;
	uint64_t read_latency_ticks;
	uint64_t write_latency_ticks;
	uint64_t unmap_latency_ticks;
	uint64_t max_read_latency_ticks;
	uint64_t min_read_latency_ticks;
	uint64_t max_write_latency_ticks;
	uint64_t min_write_latency_ticks;
};
/** Statistics of one channel. */
void keel_bdev_get_io_stat(struct keel_bdev *bdev, struct keel_io_channel *ch,
			   struct keel_bdev_io_stat *stat);
/** Sum over every channel, then cb(cb_arg, 0) on this thread. */
void keel_bdev_get_device_stat(struct keel_bdev *bdev, struct keel_bdev_io_stat *stat,
			       keel_bdev_done_cb cb, void *cb_arg);

/**
 * Sample the bdev's queue depth (I/Os outstanding at the module, over every channel) every
 * period_us microseconds on the calling thread; 0 stops sampling (the totals are kept). Each
 * sample that finds I/O adds period_us to the io time and period_us times the depth to the
 * weighted io time. \return 0; -ENODEV (the bdev is being removed); -ENOMEM.
 */
int keel_bdev_set_qd_sampling_period(struct keel_bdev *bdev, uint64_t period_us);
/** The sampling period in microseconds; 0: not sampled. */
uint64_t keel_bdev_get_qd_sampling_period(const struct keel_bdev *bdev);
/** The queue depth found by the last sample. */
uint64_t keel_bdev_get_qd(const struct keel_bdev *bdev);
/** Microseconds the samples found the bdev busy. */
uint64_t keel_bdev_get_io_time(const struct keel_bdev *bdev);
/** The io time weighted by the queue depth (microseconds times I/Os). */
uint64_t keel_bdev_get_weighted_io_time(const struct keel_bdev *bdev);

/* Quality of service, changed live. UINT64_MAX in a slot: leave it; 0: no limit. */
enum keel_bdev_qos_rate_limit_type {
	KEEL_BDEV_QOS_RW_IOPS_RATE_LIMIT = 0,
	KEEL_BDEV_QOS_RW_BPS_RATE_LIMIT,
	KEEL_BDEV_QOS_R_BPS_RATE_LIMIT,
	KEEL_BDEV_QOS_W_BPS_RATE_LIMIT,
	KEEL_BDEV_QOS_NUM_RATE_LIMIT_TYPES,
};
void keel_bdev_set_qos_rate_limits(struct keel_bdev *bdev, const uint64_t *limits,
				   keel_bdev_done_cb cb, void *cb_arg);
void keel_bdev_get_qos_rate_limits(struct keel_bdev *bdev, uint64_t *limits);

/** Describe the bdev as bdev_get_bdevs does (adds members to obj). */
void keel_bdev_dump_info_json(struct keel_bdev *bdev, struct json_object *obj);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_BDEV_H */
