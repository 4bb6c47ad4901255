/*
 * Private structures and interfaces of the SCSI layer, shared by its source files: the task
 * dispatcher (task.c) hands each command to the first command set that knows its operation
 * code (spc.c, sbc.c, pr.c, xcopy.c).
 */
#ifndef KEEL_SCSI_INTERNAL_H
#define KEEL_SCSI_INTERNAL_H

#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/scsi.h"
#include "keel/scsi_spec.h"
#include "keel/thread.h"

#include <pthread.h>

#define SCSI_VENDOR_ID "KEEL    "	/* 8 bytes, T10 vendor identification */
#define SCSI_PRODUCT_REV "0001"
#define SCSI_MAX_PR_REGISTRANTS 256
#define SCSI_MAX_UA 32

struct keel_scsi_port {
	uint64_t id;
	uint16_t index;		/* relative target port identifier (1-based) */
	bool is_target;
	bool is_used;		/* dev->ports[] slot in use: slots never move, so a deleted port
				 * leaves a hole; walk 0..num_ports-1 and skip unused slots */
	char name[KEEL_SCSI_PORT_MAX_NAME + 1];
	/* TransportID (SPC-4 7.6.4.6) of an iSCSI initiator port, for PR commands. */
	uint8_t transport_id[KEEL_SCSI_PORT_MAX_NAME + 8];
	uint16_t transport_id_len;
};

/* A pending unit attention for one I_T nexus (NULL initiator: every nexus). */
struct scsi_ua {
	char initiator[KEEL_SCSI_PORT_MAX_NAME + 1];	/* "" = all initiators */
	uint16_t asc_ascq;
	TAILQ_ENTRY(scsi_ua) link;
};

/* A persistent reservation registrant (SPC-4 5.13). */
struct scsi_pr_registrant {
	uint64_t key;
	char initiator[KEEL_SCSI_PORT_MAX_NAME + 1];	/* initiator port name */
	char target[KEEL_SCSI_PORT_MAX_NAME + 1];	/* target port name ("" with ALL_TG_PT) */
	uint16_t rel_tgt_port_id;
	bool all_tg_pt;
	TAILQ_ENTRY(scsi_pr_registrant) link;
};

struct scsi_pr_state {
	uint32_t generation;
	TAILQ_HEAD(, scsi_pr_registrant) registrants;
	struct scsi_pr_registrant *holder;	/* NULL: no persistent reservation */
	uint8_t type;				/* enum keel_scsi_pr_type */
	bool aptpl;
	/* SPC-2 RESERVE(6/10): the initiator and target port that hold it, or "". */
	char spc2_initiator[KEEL_SCSI_PORT_MAX_NAME + 1];
	char spc2_target[KEEL_SCSI_PORT_MAX_NAME + 1];
	bool spc2_reserved;
};

/* Changeable mode parameters that the LUN keeps. */
struct scsi_mode_state {
	bool wce;		/* caching page: write cache enable */
	bool rcd;		/* caching page: read cache disable */
	bool d_sense;		/* control page: descriptor sense */
	bool swp;		/* control page: software write protect */
	uint8_t mrie;		/* informational exceptions page */
	bool dexcpt;
};

struct keel_scsi_lun {
	struct keel_scsi_dev *dev;
	uint64_t id;
	struct keel_bdev *bdev;
	struct keel_bdev_desc *bdev_desc;	/* opened on the app thread */
	char bdev_name[KEEL_BDEV_MAX_NAME_LEN];
	bool removing;
	bool prevent_removal;
	pthread_mutex_t lock;			/* guards everything below */
	TAILQ_HEAD(, keel_scsi_lun_desc) descs;
	TAILQ_HEAD(, scsi_ua) uas;
	struct scsi_pr_state pr;
	struct scsi_mode_state mode;
	bool pr_active;				/* any reservation: commands must be checked */
	uint64_t tasks_outstanding;		/* all threads, atomically */
	/* XCOPY results (RECEIVE COPY RESULTS), per list identifier. */
	void *xcopy_state;
	/* lun.c's own. */
	struct keel_thread *thread;		/* opened bdev_desc; the LUN is freed there */
	uint32_t holds;				/* background work using bdev_desc (scsi_lun_hold) */
	bool free_scheduled;
	bool sanitizing;			/* SANITIZE running: commands get NOT READY */
	uint16_t sanitize_progress;		/* of 65536, for REQUEST SENSE while sanitizing */
	bool deallocated;			/* every block unmapped by SANITIZE, none written since */
	uint64_t ua_gen;			/* bumped (atomically) whenever a UA is queued */
	TAILQ_HEAD(, scsi_lun_itn) itns;	/* initiator ports that addressed the LUN */
	uint32_t num_itns;
	TAILQ_ENTRY(keel_scsi_lun) link;
};

/* An initiator port a LUN knows (it sent the LUN a command): unit attentions are queued per
 * known initiator port; a port the LUN has not seen gets POWER ON OCCURRED first. */
struct scsi_lun_itn {
	char name[KEEL_SCSI_PORT_MAX_NAME + 1];
	bool lost;				/* its I_T nexus is gone (may come back) */
	uint32_t num_ua;
	TAILQ_ENTRY(scsi_lun_itn) link;
};

/* task.c: a task management function waiting on one descriptor for aborted tasks to end. */
struct scsi_abort_wait {
	struct keel_scsi_lun_desc *desc;
	void (*fn)(struct scsi_abort_wait *wait);
	void *ctx;
	TAILQ_ENTRY(scsi_abort_wait) link;
};

/* One thread's open of a LUN. */
struct keel_scsi_lun_desc {
	struct keel_scsi_lun *lun;
	struct keel_thread *thread;
	struct keel_io_channel *bdev_ch;
	keel_scsi_lun_remove_cb remove_cb;
	void *remove_ctx;
	bool remove_pending;
	TAILQ_HEAD(, keel_scsi_task) tasks;		/* executing (at the bdev or queued) */
	TAILQ_HEAD(, keel_scsi_task) blocked;		/* waiting for an ORDERED task */
	TAILQ_ENTRY(keel_scsi_lun_desc) link;
	/* On the descriptor's thread only, except refs (atomic, taken under lun->lock). */
	const struct keel_scsi_port *seen_port;		/* registered with the LUN already */
	uint64_t ua_checked_gen;			/* lun->ua_gen when it had no UA */
	struct keel_scsi_task *ordered;			/* the ORDERED task running */
	uint32_t aborted_outstanding;			/* tasks marked aborted, not ended */
	TAILQ_HEAD(, scsi_abort_wait) abort_waiters;
	TAILQ_HEAD(, keel_scsi_task) io_waiters;	/* -ENOMEM: retried when I/O frees up */
	struct keel_bdev_io_wait_entry io_wait;
	bool io_wait_queued;
	uint32_t refs;					/* messages in flight to the desc */
	uint32_t cb_depth;				/* inside a callback of the transport */
	bool closed;
	bool close_requested;				/* closed with tasks left: on drain */
	bool remove_cb_done;
	uint32_t data_refs;				/* completed READs holding bdev memory */
};

struct keel_scsi_dev {
	int id;
	char name[KEEL_SCSI_DEV_MAX_NAME + 1];
	uint8_t protocol_id;
	pthread_mutex_t lock;
	TAILQ_HEAD(, keel_scsi_lun) luns;		/* sorted by id */
	struct keel_scsi_port ports[KEEL_SCSI_DEV_MAX_PORTS];
	int num_ports;
	keel_scsi_dev_lun_removed_cb lun_removed_cb;
	void *lun_removed_ctx;
	bool destructing;
	void (*destruct_cb)(void *cb_arg, int rc);
	void *destruct_ctx;
	TAILQ_ENTRY(keel_scsi_dev) link;
};

/*
 * task.c: dispatch and completion.
 */
/** Complete a task: cpl_fn runs later on the task's thread (never inline). */
void scsi_task_complete(struct keel_scsi_task *task);
/** Copy response data into the task's buffers, at most the transfer length and len; sets
 * data_transferred. Returns the bytes copied. */
uint32_t scsi_task_scatter(struct keel_scsi_task *task, const void *buf, uint32_t len);
/** Gather the task's Data-Out into buf (a parameter list); returns bytes copied. */
uint32_t scsi_task_gather(struct keel_scsi_task *task, void *buf, uint32_t len);
/** CHECK CONDITION / ILLEGAL REQUEST / INVALID FIELD IN CDB with a sense-key specific field
 * pointer to the byte (and bit, or -1) of the CDB at fault. */
void scsi_task_invalid_field(struct keel_scsi_task *task, int byte, int bit);

/* Each command set returns true if it took the task (it then completes it). */
bool scsi_spc_execute(struct keel_scsi_task *task);	/* spc.c */
bool scsi_sbc_execute(struct keel_scsi_task *task);	/* sbc.c */
bool scsi_pr_execute(struct keel_scsi_task *task);	/* pr.c */
bool scsi_xcopy_execute(struct keel_scsi_task *task);	/* xcopy.c */

/* spc.c: also answers INQUIRY and REPORT LUNS when task->lun_desc is NULL (no such LUN). */
bool scsi_spc_execute_no_lun(struct keel_scsi_task *task);
/* The sense data builder behind keel_scsi_task_set_status(). */
void scsi_sense_build(uint8_t *buf, uint16_t *len, bool desc_format, int sk, int asc_ascq,
		      const uint8_t *sks /* 3 bytes or NULL */, uint64_t info, bool info_valid);
/* CHECK CONDITION with sense in the format keel_scsi_task_set_status() picks, plus an optional
 * sense-key specific field (3 bytes; SKSV is set here) and INFORMATION field. */
void scsi_task_set_sense(struct keel_scsi_task *task, int sk, int asc_ascq, const uint8_t *sks,
			 uint64_t info, bool info_valid);
/* spc_mode.c: default mode parameters of a new LUN (WCE = the bdev's write cache); lun.c calls
 * it when it creates the LUN. */
void scsi_spc_mode_init(struct keel_scsi_lun *lun);
/* spc_vpd.c, spc_mode.c: commands spc.c dispatches; they set status and data, spc.c completes. */
void scsi_spc_inquiry(struct keel_scsi_task *task, struct keel_scsi_lun *lun /* NULL: none */);
void scsi_spc_mode_sense(struct keel_scsi_task *task, struct keel_scsi_lun *lun);
void scsi_spc_mode_select(struct keel_scsi_task *task, struct keel_scsi_lun *lun);
/* spc.c: send len bytes of response data, cut to the allocation length, and set GOOD. */
void scsi_spc_data_in(struct keel_scsi_task *task, const void *buf, uint32_t len,
		      uint32_t alloc_len);

/* Limits that the Block Limits VPD page (B0h, spc_vpd.c) reports and sbc.c enforces. */
#define SCSI_MAX_TRANSFER_BYTES (4u * 1024 * 1024)	/* data of one READ/WRITE/VERIFY */
#define SCSI_MAX_UNMAP_LBA_COUNT (1024u * 1024)	/* blocks in one UNMAP command */
#define SCSI_MAX_UNMAP_DESCRIPTORS 256u		/* block descriptors in one UNMAP */
/* Blocks * block size of one WRITE SAME: no more than one READ may return, so that an
 * initiator can read back in one command what a WRITE SAME wrote or unmapped. */
#define SCSI_MAX_WRITE_SAME_BYTES SCSI_MAX_TRANSFER_BYTES
/* Names of opcodes, for REPORT SUPPORTED OPERATION CODES (spc.c asks each set). */
struct scsi_opcode_info {
	uint8_t opcode;
	uint16_t service_action;
	bool has_sa;
	uint8_t cdb_len;
	uint8_t usage[16];	/* CDB usage data bitmap (SPC-4 6.35.3) */
	uint32_t nominal_timeout_s;
	uint32_t recommended_timeout_s;
};
/* Every operation code keel supports (sbc.c, pr.c, xcopy.c and spc.c contribute rows). */
size_t scsi_sbc_opcodes(const struct scsi_opcode_info **rows);
size_t scsi_spc_opcodes(const struct scsi_opcode_info **rows);
size_t scsi_pr_opcodes(const struct scsi_opcode_info **rows);
size_t scsi_xcopy_opcodes(const struct scsi_opcode_info **rows);

/*
 * pr.c: reservations.
 */
/** 0 if the task may run; otherwise RESERVATION CONFLICT is set on it and -EACCES returned. */
int scsi_pr_check(struct keel_scsi_task *task);
/** Load APTPL reservations of a LUN from its file (at LUN creation). */
void scsi_pr_load(struct keel_scsi_lun *lun);
/** The I_T nexus is gone: drop SPC-2 reservations it held. */
void scsi_pr_nexus_lost(struct keel_scsi_lun *lun, const char *initiator, const char *target);
/** LOGICAL UNIT RESET: releases SPC-2 reservations (persistent ones stay). */
void scsi_pr_lun_reset(struct keel_scsi_lun *lun);
/** LUN destruction: free the registrations (the LUN's lock is no longer used). */
void scsi_pr_lun_fini(struct keel_scsi_lun *lun);

/*
 * xcopy.c: EXTENDED COPY (LID1) and RECEIVE COPY RESULTS.
 */
/** The third-party copy descriptors of VPD page 8Fh, i.e. the page after its 4-byte header:
 * writes at most len bytes to buf and returns the full length (a multiple of 4). */
size_t scsi_xcopy_vpd_8f(struct keel_scsi_lun *lun, uint8_t *buf, size_t len);
/** LUN destruction: free the held copy results (lun->xcopy_state). */
void scsi_xcopy_lun_fini(struct keel_scsi_lun *lun);

/*
 * naa.c: the LUN's NAA designator (VPD 83h), also how EXTENDED COPY finds a LUN.
 */
#define SCSI_NAA_LEN 16
/** NAA IEEE Registered Extended designator (NAA 6), derived from the bdev UUID. */
void scsi_lun_naa(const struct keel_scsi_lun *lun, uint8_t naa[SCSI_NAA_LEN]);
/** True if designator (len bytes) is this LUN's NAA designator. */
bool scsi_lun_naa_matches(const struct keel_scsi_lun *lun, const uint8_t *designator, size_t len);

/*
 * lun.c: unit attentions (caller need not hold the lock).
 */
/** Queue a UA for every nexus (initiator NULL) or for every initiator but `except`, or only
 * for `only`. */
void scsi_lun_queue_ua(struct keel_scsi_lun *lun, const char *only, const char *except,
		       uint16_t asc_ascq);
void scsi_dev_queue_ua_all_luns(struct keel_scsi_dev *dev, const char *only, const char *except,
				uint16_t asc_ascq);
/** If a UA is pending for the task's nexus, dequeue it into the task (CHECK CONDITION) and
 * return true. */
bool scsi_lun_take_ua(struct keel_scsi_lun *lun, struct keel_scsi_task *task);
/** Pending UA for an initiator without taking it (REQUEST SENSE and async events take it). */
bool scsi_lun_has_ua(struct keel_scsi_lun *lun, const char *initiator);

/* Tasks of every descriptor of the LUN, for task management across threads. */
void scsi_lun_abort_all(struct keel_scsi_lun *lun, const char *initiator /* NULL: all */,
			void (*done)(void *ctx), void *ctx);

/*
 * dev.c, lun.c, task.c: life cycle of LUNs and descriptors, and more limits.
 */
#define SCSI_MAX_CAW_BLOCKS 255u	/* COMPARE AND WRITE; the bdev's own limit applies too */
#define SCSI_WSNZ 1			/* WRITE SAME with 0 blocks is refused (B0h WSNZ bit) */
/** The LUN's MAXIMUM COMPARE AND WRITE LENGTH (Block Limits VPD page). */
uint32_t scsi_lun_max_caw_blocks(const struct keel_scsi_lun *lun);
/** The LUN's MAXIMUM TRANSFER LENGTH in blocks (SCSI_MAX_TRANSFER_BYTES / block size). */
uint32_t scsi_lun_max_transfer_blocks(const struct keel_scsi_lun *lun);
/** Open the bdev (read-write, on this thread) and build the LUN; not yet on dev->luns. */
struct keel_scsi_lun *scsi_lun_create(struct keel_scsi_dev *dev, const char *bdev_name,
				      uint64_t id, int *rc);
/** Start removing the LUN (any thread; takes only its lock); see keel_scsi_dev_delete_lun().
 * Returns false if it was being removed already. */
bool scsi_lun_remove(struct keel_scsi_lun *lun);
/** Free a LUN that was never on dev->luns (construction failed), on its thread. */
void scsi_lun_free_unused(struct keel_scsi_lun *lun);
/** The initiator's I_T nexus is gone: SPC-2 reservations go, I_T NEXUS LOSS is queued. */
void scsi_lun_nexus_lost(struct keel_scsi_lun *lun, const char *initiator, const char *target);
/** Dequeue the initiator's oldest UA as sense data (keel_scsi_dev_get_pending_ua). */
bool scsi_lun_take_ua_sense(struct keel_scsi_lun *lun, const char *initiator, uint8_t *sense,
			    uint16_t *sense_len);
/** Drop the initiator's pending UAs with that code (see scsi_dev_clear_ua). */
void scsi_lun_clear_ua(struct keel_scsi_lun *lun, const char *initiator, uint16_t asc_ascq);
/** dev.c: take the LUN off dev->luns (before it is torn down, so that nobody walking the list
 * meets a LUN whose lock is gone). */
void scsi_dev_unlink_lun(struct keel_scsi_dev *dev, struct keel_scsi_lun *lun);
/** dev.c: the LUN is freed (on its thread): tell the transport, finish a destruct. */
void scsi_dev_lun_gone(struct keel_scsi_dev *dev, uint64_t lun_id);
/** Keep the LUN's bdev open for work that outlives its task (false: it is being removed). */
bool scsi_lun_hold(struct keel_scsi_lun *lun);
void scsi_lun_release(struct keel_scsi_lun *lun);
/** On the descriptor's thread: note the task's initiator port (a new one gets POWER ON), then
 * if take is true and a UA is pending for it, set CHECK CONDITION on the task, return true. */
bool scsi_lun_desc_check_ua(struct keel_scsi_lun_desc *desc, struct keel_scsi_task *task,
			    bool take);
/** Drop pending UAs with that code for the initiator on every LUN (REPORT LUNS clears
 * REPORTED LUNS DATA HAS CHANGED). */
void scsi_dev_clear_ua(struct keel_scsi_dev *dev, const char *initiator, uint16_t asc_ascq);
/** A message to the descriptor has arrived: true if it was closed meanwhile (the handler must
 * not touch it again). */
bool scsi_desc_msg_arrived(struct keel_scsi_lun_desc *desc);
/** After a task of the descriptor ended: run remove_cb or a deferred close, free if closed. */
void scsi_desc_idle(struct keel_scsi_lun_desc *desc);
/** The initiator port name of a task ("" if none). */
const char *scsi_task_initiator(const struct keel_scsi_task *task);
/* task->internal.flags (task.c's). */
#define SCSI_TASK_F_IN_EXECUTE 0x1	/* being dispatched: completion is deferred */
#define SCSI_TASK_F_TRACKED 0x2		/* on its descriptor's tasks or blocked list */
#define SCSI_TASK_F_BLOCKED 0x4		/* waiting behind an ORDERED task */
#define SCSI_TASK_F_ABORTED 0x8		/* aborted by task management: stop early if you can */
#define SCSI_TASK_F_COMPLETING 0x10	/* its completion is queued */
/** A bdev submit said -ENOMEM: call fn(task) again on this thread when an I/O object is free.
 * \return 0; -EINVAL (the task has no descriptor or the wait could not be queued). */
int scsi_task_wait_for_io(struct keel_scsi_task *task, void (*fn)(struct keel_scsi_task *task));

#endif /* KEEL_SCSI_INTERNAL_H */
