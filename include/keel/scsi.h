/*
 * The SCSI layer: devices (one per iSCSI target node) with logical units on bdevs and ports,
 * and tasks that the transport (lib/iscsi) builds from commands and hands over for execution.
 * A task always completes through its cpl_fn, on the thread that queued it.
 */
#ifndef KEEL_SCSI_H
#define KEEL_SCSI_H

#include "keel/stdinc.h"
#include "keel/scsi_spec.h"
#include "keel/thread.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KEEL_SCSI_DEV_MAX_LUN 256
#define KEEL_SCSI_DEV_MAX_NAME 255
#define KEEL_SCSI_PORT_MAX_NAME 255
#define KEEL_SCSI_DEV_MAX_PORTS 64

struct keel_bdev_io;
struct keel_scsi_dev;
struct keel_scsi_lun;
struct keel_scsi_lun_desc;
struct keel_scsi_port;
struct keel_scsi_task;

enum keel_scsi_data_dir {
	KEEL_SCSI_DIR_NONE = 0,
	KEEL_SCSI_DIR_TO_DEV = 1,  /* write: Data-Out */
	KEEL_SCSI_DIR_FROM_DEV = 2, /* read: Data-In */
};

typedef void (*keel_scsi_task_cpl)(struct keel_scsi_task *task);
typedef void (*keel_scsi_task_free)(struct keel_scsi_task *task);

/**
 * A SCSI task. The transport embeds it in its own per-command object, fills the fields marked
 * (in) and calls keel_scsi_task_execute(); the layer fills the fields marked (out) and calls
 * cpl_fn exactly once, later, on the same thread.
 */
struct keel_scsi_task {
	/* (in) */
	struct keel_scsi_dev *dev;
	uint64_t lun_id;			/* SAM LUN, already decoded to an index */
	struct keel_scsi_lun_desc *lun_desc;	/* the caller's open of that LUN, or NULL if none */
	struct keel_scsi_port *target_port;
	struct keel_scsi_port *initiator_port;	/* the I_T nexus is (initiator_port, target_port) */
	uint8_t cdb[32];
	uint8_t cdb_len;
	enum keel_scsi_task_attr attr;
	enum keel_scsi_data_dir dxfer_dir;
	uint32_t transfer_len;			/* Expected Data Transfer Length */
	struct iovec *iovs;			/* data buffers: transfer_len bytes in all */
	int iovcnt;
	uint64_t tag;				/* transport tag (ITT), for task management */
	bool desc_sense;			/* descriptor-format sense wanted (D_SENSE) */
	bool data_by_ref;			/* a READ may answer with the bdev's memory: see
						 * keel_scsi_task_put_data() */
	keel_scsi_task_cpl cpl_fn;

	/* Task management (in): function, and for ABORT TASK / QUERY TASK the task referred to. */
	enum keel_scsi_tmf function;
	struct keel_scsi_task *abort_task;
	uint64_t abort_tag;

	/* (out) */
	uint8_t status;				/* enum keel_scsi_status */
	uint8_t sense_data[KEEL_SCSI_SENSE_BUF_LEN];
	uint16_t sense_data_len;
	uint32_t data_transferred;		/* bytes of data moved (Data-In length for reads) */
	enum keel_scsi_tmf_resp response;	/* task management result */
	bool aborted;				/* ended by task management: send no response */
	uint32_t expected_len;			/* bytes the CDB itself asks to move (SPDTL), for
						 * residuals: above transfer_len is an overflow */

	/* The layer's own. */
	struct {
		TAILQ_ENTRY(keel_scsi_task) link;
		struct keel_scsi_lun *lun;
		void *io_ctx;
		uint64_t submit_tsc;
		uint32_t bdev_io_outstanding;
		int step;
		void *priv;
		uint8_t small_buf[64];
		/* Kept by task.c: where cpl_fn runs, the descriptor the task is tracked on,
		 * state flags, and the retry after an -ENOMEM from the bdev layer. */
		struct keel_thread *thread;
		struct keel_scsi_lun_desc *desc;
		uint32_t flags;
		TAILQ_ENTRY(keel_scsi_task) wait_link;
		void (*retry_fn)(struct keel_scsi_task *task);
		/* A READ answered by reference: the bdev I/O that holds the data, and the
		 * descriptor it counts against until keel_scsi_task_put_data(). */
		struct keel_bdev_io *data_io;
		struct keel_scsi_lun_desc *data_desc;
	} internal;
};

/** Set the status and sense of a task (fixed or descriptor format as task->desc_sense says). */
void keel_scsi_task_set_status(struct keel_scsi_task *task, int sc, int sk, int asc_ascq);

/*
 * Devices.
 */
/** Called when a LUN of the device is gone (hot-removed or deleted), on the app thread. */
typedef void (*keel_scsi_dev_lun_removed_cb)(struct keel_scsi_dev *dev, uint64_t lun_id,
					     void *ctx);

/**
 * Create a device with LUNs lun_ids[i] on bdevs bdev_names[i] (i < num_luns; num_luns may be 0).
 * \return the device, or NULL (bad or duplicate LUN id, unknown bdev, out of memory), logged.
 */
struct keel_scsi_dev *keel_scsi_dev_construct(const char *name, const char *const *bdev_names,
					      const int *lun_ids, int num_luns, uint8_t protocol_id,
					      keel_scsi_dev_lun_removed_cb lun_removed_cb,
					      void *ctx);
/**
 * Destroy: every LUN is closed once its outstanding tasks are done; cb(cb_arg, 0) after.
 * The transport must have closed its LUN descriptors first (or close them on their remove cb).
 */
void keel_scsi_dev_destruct(struct keel_scsi_dev *dev, void (*cb)(void *cb_arg, int rc),
			    void *cb_arg);
const char *keel_scsi_dev_get_name(const struct keel_scsi_dev *dev);
int keel_scsi_dev_get_id(const struct keel_scsi_dev *dev);
/**
 * Add a LUN. lun_id < 0: the lowest free id.
 * \return the LUN id (>= 0); -EEXIST; -ENODEV (no such bdev); -ENOSPC; -ENOMEM.
 */
int keel_scsi_dev_add_lun(struct keel_scsi_dev *dev, const char *bdev_name, int lun_id);
/** Remove a LUN as a hot-remove would. \return 0; -ENOENT. */
int keel_scsi_dev_delete_lun(struct keel_scsi_dev *dev, uint64_t lun_id);
/** The LUN with that id, or NULL (also while it is being removed). */
struct keel_scsi_lun *keel_scsi_dev_get_lun(struct keel_scsi_dev *dev, uint64_t lun_id);
/** Iterate the LUNs in id order. */
struct keel_scsi_lun *keel_scsi_dev_get_first_lun(struct keel_scsi_dev *dev);
struct keel_scsi_lun *keel_scsi_dev_get_next_lun(struct keel_scsi_lun *prev);
/** Iterate all devices (for scsi_get_devices). */
struct keel_scsi_dev *keel_scsi_dev_get_first(void);
struct keel_scsi_dev *keel_scsi_dev_get_next(struct keel_scsi_dev *prev);

uint64_t keel_scsi_lun_get_id(const struct keel_scsi_lun *lun);
const char *keel_scsi_lun_get_bdev_name(const struct keel_scsi_lun *lun);
struct keel_scsi_dev *keel_scsi_lun_get_dev(const struct keel_scsi_lun *lun);
bool keel_scsi_lun_is_removing(const struct keel_scsi_lun *lun);

/**
 * Open a LUN on the calling thread (one per transport connection per LUN): it holds that
 * thread's bdev channel. remove_cb runs on this thread when the LUN is going away, after every
 * task queued through this descriptor has completed; the transport then drops pending
 * transfers for it and calls keel_scsi_lun_close().
 * \return 0; -ENODEV if the LUN is being removed; -ENOMEM.
 */
typedef void (*keel_scsi_lun_remove_cb)(struct keel_scsi_lun_desc *desc, void *ctx);
int keel_scsi_lun_open(struct keel_scsi_lun *lun, keel_scsi_lun_remove_cb remove_cb, void *ctx,
		       struct keel_scsi_lun_desc **desc);
void keel_scsi_lun_close(struct keel_scsi_lun_desc *desc);
struct keel_scsi_lun *keel_scsi_lun_desc_get_lun(struct keel_scsi_lun_desc *desc);

/*
 * Ports. A target port per (device, portal group); an initiator port per initiator session
 * (name "iqn...,i,0x<ISID>"). The pair identifies the I_T nexus for reservations and unit
 * attentions.
 */
/** Add a target port to dev. \return 0; -EEXIST; -ENOSPC. */
int keel_scsi_dev_add_port(struct keel_scsi_dev *dev, uint64_t id, const char *name);
int keel_scsi_dev_delete_port(struct keel_scsi_dev *dev, uint64_t id);
struct keel_scsi_port *keel_scsi_dev_find_port_by_id(struct keel_scsi_dev *dev, uint64_t id);
/** An initiator port object (not attached to a device). */
struct keel_scsi_port *keel_scsi_port_create(uint64_t id, uint16_t index, const char *name);
void keel_scsi_port_free(struct keel_scsi_port **pport);
const char *keel_scsi_port_get_name(const struct keel_scsi_port *port);
/** Relative target port id as reported in VPD page 83h. */
uint16_t keel_scsi_port_get_relative_id(const struct keel_scsi_port *port);
/**
 * An I_T nexus ends (session closed): reservations of SPC-2 RESERVE are released and a
 * "I_T nexus loss" unit attention is queued for that initiator (SPC-4 6.x).
 */
void keel_scsi_dev_nexus_lost(struct keel_scsi_dev *dev, struct keel_scsi_port *initiator_port,
			      struct keel_scsi_port *target_port);

/*
 * Tasks.
 */
/** Execute a command task. cpl_fn runs later on this thread (never inline). */
void keel_scsi_task_execute(struct keel_scsi_task *task);
/**
 * Release the data of a task executed with data_by_ref. A READ of a bdev that keeps its blocks
 * in memory (keel_bdev_supports_zcopy()) may complete with iovs and iovcnt pointing at those
 * blocks instead of a copy in the transport's buffers; they stay valid, the LUN stays open and a
 * later ORDERED task on the same descriptor waits, until this call. The transport calls it once
 * it is done with the data (sent, or never to be sent), on the task's thread, before it reuses
 * or frees the task; for any other task it does nothing.
 */
void keel_scsi_task_put_data(struct keel_scsi_task *task);
/** Execute a task management function (task->function); cpl_fn later, after the tasks it
 * affects have completed. */
void keel_scsi_task_mgmt(struct keel_scsi_task *task);

/**
 * Pending unit attention or asynchronous event for an I_T nexus, for an iSCSI Asynchronous
 * Message (SCSI Async Event). Fills sense data and returns true if one was dequeued.
 */
bool keel_scsi_dev_get_pending_ua(struct keel_scsi_dev *dev, struct keel_scsi_port *ini,
				  struct keel_scsi_port *tgt, uint64_t *lun_id, uint8_t *sense,
				  uint16_t *sense_len);

/*
 * Reservations persist (APTPL) in files under this directory (default: next to the config
 * file, or /var/tmp/keel-pr). NULL restores the default.
 */
void keel_scsi_set_pr_dir(const char *dir);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_SCSI_H */
