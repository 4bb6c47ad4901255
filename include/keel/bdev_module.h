/*
 * The block device layer, module side: what a bdev module (malloc, null, aio, uring, nvme)
 * implements and calls. A module registers itself with KEEL_BDEV_MODULE_REGISTER; each bdev
 * it creates is a struct keel_bdev with a function table, registered with keel_bdev_register().
 */
#ifndef KEEL_BDEV_MODULE_H
#define KEEL_BDEV_MODULE_H

#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/thread.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_object;

struct keel_bdev_module {
	const char *name;
	/** Start the module (read its legacy config section via keel_conf_get_default() and
	 * create its bdevs). \return 0 or -errno (fails the bdev subsystem start). */
	int (*module_init)(void);
	/** Stop the module; its bdevs are already unregistered. NULL: nothing to do. */
	void (*module_fini)(void);
	/** Bytes of per-I/O module context (keel_bdev_io->driver_ctx). */
	size_t io_ctx_size;
	/** Append module-wide options as {"method","params"} (not per-bdev ones). NULL: none. */
	void (*config_json)(struct json_object *array);
	/** A bdev of another module was just registered (called from keel_bdev_register, on
	 * its thread): a virtual bdev module builds on it if configured to. NULL: none. */
	void (*examine)(struct keel_bdev *bdev);
	TAILQ_ENTRY(keel_bdev_module) link;
};

void keel_bdev_module_list_add(struct keel_bdev_module *module);

#define KEEL_BDEV_MODULE_REGISTER(_name, _module)                                                  \
	__attribute__((constructor)) static void keel_bdev_module_register_##_name(void)          \
	{                                                                                          \
		keel_bdev_module_list_add(_module);                                                \
	}

struct keel_bdev_module *keel_bdev_module_find(const char *name);

/** What every bdev implements. */
struct keel_bdev_fn_table {
	/** Free the bdev's module state after unregistration. Return 0 if done, 1 if it will
	 * call keel_bdev_destruct_done() later, or a negative errno. */
	int (*destruct)(void *ctx);
	/** Start an I/O; complete it later with keel_bdev_io_complete() on this thread. */
	void (*submit_request)(struct keel_io_channel *ch, struct keel_bdev_io *io);
	bool (*io_type_supported)(void *ctx, enum keel_bdev_io_type type);
	/** The module's channel for this bdev on the calling thread. */
	struct keel_io_channel *(*get_io_channel)(void *ctx);
	/** Add module-specific members to bdev_get_bdevs' driver_specific object. NULL: none. */
	void (*dump_info_json)(void *ctx, struct json_object *obj);
	/** Append the {"method","params"} call that recreates this bdev. NULL: none. */
	void (*write_config_json)(struct keel_bdev *bdev, struct json_object *array);
	/** A reset of the bdev has begun: called on each channel's thread with the module's
	 * channel, before the layer waits for the I/O the module has. A module that holds I/O
	 * which would not complete on its own completes it here (ABORTED). NULL: none held. */
	void (*reset_channel)(void *ctx, struct keel_io_channel *module_ch);
};

struct keel_bdev_alias {
	char *alias;
	TAILQ_ENTRY(keel_bdev_alias) link;
};

/** Filled in by the module before keel_bdev_register(); fields under "internal" are the
 * layer's. */
struct keel_bdev {
	char *name;			/* unique; owned by the module */
	const char *product_name;	/* e.g. "Malloc disk" */
	uint32_t blocklen;		/* bytes, a power of two >= 512 */
	uint64_t blockcnt;
	bool write_cache;		/* volatile cache present: flush matters */
	uint32_t optimal_io_boundary;	/* blocks; I/O is split on it if split_on_optimal_io_boundary */
	bool split_on_optimal_io_boundary;
	uint32_t max_transfer_blocks;	/* split larger I/O; 0 = no limit */
	uint32_t max_unmap_blocks;	/* per unmap request; 0 = default (4194304) */
	uint32_t max_write_zeroes_blocks;
	uint32_t max_compare_and_write_blocks; /* 0 = default (1) */
	uint32_t required_alignment;	/* log2 of the buffer alignment in bytes; 0 = none */
	bool unmap_reads_zeroes;	/* LBPRZ */
	/* A READ with KEEL_BDEV_IO_FLAG_ZCOPY comes with one iovec of the right length and a NULL
	 * base: the module points the base at the blocks in its own memory, which stays valid
	 * while the bdev is open, and completes. */
	bool zcopy_read;
	uint8_t uuid[16];		/* all zero: the layer generates one */
	void *ctxt;			/* the module's bdev context */
	const struct keel_bdev_fn_table *fn_table;
	struct keel_bdev_module *module;

	struct {
		TAILQ_ENTRY(keel_bdev) link;
		TAILQ_HEAD(, keel_bdev_alias) aliases;
		TAILQ_HEAD(, keel_bdev_desc) open_descs;
		int status; /* 0 ready, 1 removing */
		keel_bdev_done_cb unregister_cb;
		void *unregister_ctx;
		struct keel_thread *unregister_thread;
		struct bdev_qos *qos;
		struct bdev_qd *qd; /* queue-depth sampling; NULL if never set */
		struct keel_bdev_io_stat stat_retired; /* of channels that were destroyed */
		pthread_mutex_t lock;
		struct keel_bdev_module *claim_module;
		uint64_t reset_in_progress;
		TAILQ_HEAD(, bdev_range_lock) locked_ranges;
	} internal;
};

/** The I/O object a module receives. */
struct keel_bdev_io {
	struct keel_bdev *bdev;
	enum keel_bdev_io_type type;
	union {
		struct {
			struct iovec *iovs;	/* data (write data for COMPARE_AND_WRITE) */
			int iovcnt;
			struct iovec *cmp_iovs; /* COMPARE_AND_WRITE: compare data */
			int cmp_iovcnt;
			uint64_t offset_blocks;
			uint64_t num_blocks;
			uint32_t flags;		/* KEEL_BDEV_IO_FLAG_* */
			struct iovec iov;	/* single-buffer helper */
		} bdev;
	} u;

	struct {
		enum keel_bdev_io_status status;
		uint64_t miscompare_offset;
		struct keel_bdev_desc *desc;
		struct bdev_channel *ch;
		keel_bdev_io_cb cb;
		void *cb_arg;
		uint64_t submit_tsc;
		struct keel_bdev_io *parent;	/* split or emulated child: its parent */
		uint32_t children_outstanding;
		uint64_t split_offset;		/* next block to split off */
		uint64_t split_remaining;
		int split_iov_idx;
		size_t split_iov_off;
		bool split_failed;
		bool in_submit;
		bool queued;			/* on a QoS or nomem queue */
		void *bounce_buf;		/* aligned copy of the caller's buffers */
		struct iovec bounce_iov;
		struct iovec *orig_iovs;
		int orig_iovcnt;
		struct iovec child_iovs[32];
		int step;			/* compare-and-write emulation step */
		bool qos_hop;			/* sent through the QoS thread */
		struct bdev_channel *orig_ch;	/* QoS: the submitter's channel */
		keel_bdev_io_cb orig_cb;
		void *orig_cb_arg;
		struct keel_thread *orig_thread;
		TAILQ_ENTRY(keel_bdev_io) link;
		TAILQ_ENTRY(keel_bdev_io) ch_link; /* outstanding list of the channel */
	} internal;

	/** io_ctx_size bytes of the module's context. */
	uint8_t driver_ctx[] __attribute__((aligned(16)));
};

/**
 * Register a bdev: it becomes visible to keel_bdev_open_ext().
 * \return 0; -EINVAL (bad geometry, missing fields); -EEXIST (name, alias or UUID taken).
 */
int keel_bdev_register(struct keel_bdev *bdev);
/**
 * Unregister: every open descriptor gets KEEL_BDEV_EVENT_REMOVE on its thread; new I/O fails
 * at once; when the last descriptor closes, fn_table->destruct runs and cb(cb_arg, rc) follows
 * on the calling thread.
 */
void keel_bdev_unregister(struct keel_bdev *bdev, keel_bdev_done_cb cb, void *cb_arg);
/** Unregister by name (bdev_*_delete RPCs). \return 0; -ENODEV. */
int keel_bdev_unregister_by_name(const char *name, struct keel_bdev_module *module,
				 keel_bdev_done_cb cb, void *cb_arg);
/** For a destruct that returned 1. */
void keel_bdev_destruct_done(struct keel_bdev *bdev, int rc);
/** Report a new block count; open descriptors get KEEL_BDEV_EVENT_RESIZE. */
int keel_bdev_notify_blockcnt_change(struct keel_bdev *bdev, uint64_t blockcnt);

/** Write a printf-style message into err (err_len bytes; nothing if err is NULL or err_len 0):
 * the error text a module's create function hands back to its RPC or config reader. */
void keel_bdev_set_err(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** Claim a bdev for a module (no other writer may open it). \return 0; -EPERM. */
int keel_bdev_module_claim_bdev(struct keel_bdev *bdev, struct keel_bdev_desc *desc,
				struct keel_bdev_module *module);
void keel_bdev_module_release_bdev(struct keel_bdev *bdev);

/** Complete an I/O on the thread it was submitted to. NOMEM makes the layer retry it later. */
void keel_bdev_io_complete(struct keel_bdev_io *io, enum keel_bdev_io_status status);
/**
 * For a module that builds on another bdev (split, error): submit io again, the same type, data
 * and flags, to the base through base_desc and base_ch at offset_blocks (a RESET is the base's
 * reset); cb gets the base's I/O, which keel_bdev_io_complete_from() turns into io's outcome.
 * \return as the submit functions; -ENOTSUP for a type that cannot be forwarded.
 */
int keel_bdev_io_forward(struct keel_bdev_io *io, struct keel_bdev_desc *base_desc,
			 struct keel_io_channel *base_ch, uint64_t offset_blocks, keel_bdev_io_cb cb,
			 void *cb_arg);
/** Complete io as its forwarded base_io ended (success, failure, abort or a miscompare at its
 * offset). The caller still frees base_io. */
void keel_bdev_io_complete_from(struct keel_bdev_io *io, struct keel_bdev_io *base_io,
				bool success);
/** Complete a COMPARE/COMPARE_AND_WRITE with MISCOMPARE at byte offset. */
void keel_bdev_io_complete_miscompare(struct keel_bdev_io *io, uint64_t offset_bytes);
struct keel_bdev_io *keel_bdev_io_from_ctx(void *driver_ctx);
struct keel_io_channel *keel_bdev_io_get_io_channel(struct keel_bdev_io *io);
/** The thread the I/O was submitted on. */
struct keel_thread *keel_bdev_io_get_thread(struct keel_bdev_io *io);

/** Parse/format a UUID ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"). \return 0; -EINVAL. */
int keel_uuid_parse(uint8_t uuid[16], const char *str);
void keel_uuid_fmt(const uint8_t uuid[16], char *buf /* KEEL_UUID_STRING_LEN */);
void keel_uuid_generate(uint8_t uuid[16]);

/**
 * A regular file or block device opened as a bdev's backing store (the aio and uring modules).
 * Read-write and O_DIRECT, so that I/O bypasses the page cache; a file system that refuses
 * O_DIRECT gets buffered I/O, with a warning (then only a flush makes writes durable).
 */
struct keel_bdev_file {
	int fd;                /**< -1 when not open */
	bool direct;           /**< opened O_DIRECT */
	bool is_blkdev;        /**< a block device, not a regular file */
	bool discard;          /**< block device whose queue takes discards */
	bool block_size_given; /**< block size from the caller, not detected */
	uint32_t block_size;   /**< bytes per block */
	uint64_t block_count;  /**< whole blocks in the file or device */
};

/**
 * Check a new file bdev's name and filename (name 1 to KEEL_BDEV_MAX_NAME_LEN - 1 characters and
 * not taken, filename not empty). \return 0; -EINVAL or -EEXIST with a message in err.
 */
int keel_bdev_file_check_args(const char *name, const char *filename, char *err,
			      size_t err_len);

/**
 * Open filename for bdev name and find its geometry. block_size 0 detects it (512 for a regular
 * file, the logical block size of a device); otherwise it must be a power of two from 512 to
 * 65536 and not below the device's logical block size. \return 0; a negative errno with a
 * message in err (file->fd is then -1).
 */
int keel_bdev_file_open(struct keel_bdev_file *file, const char *name, const char *filename,
			uint32_t block_size, char *err, size_t err_len);

/** Close what keel_bdev_file_open opened (no-op when fd is -1). */
void keel_bdev_file_close(struct keel_bdev_file *file);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_BDEV_MODULE_H */
