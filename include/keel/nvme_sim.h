/*
 * A software NVMe controller, for tests: a register file in memory, admin and I/O queues
 * executed by a thread of its own (or by explicit polls) against a RAM store, served through the
 * same PCI device interface as real controllers, at addresses "sim:<index>". It can fail
 * commands, swallow them (timeouts), raise the controller fatal status, change namespaces (with
 * asynchronous events) and disappear (surprise removal).
 */
#ifndef KEEL_NVME_SIM_H
#define KEEL_NVME_SIM_H

#include "keel/stdinc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KEEL_NVME_SIM_MAX 64    /* controllers at once */
#define KEEL_NVME_SIM_MAX_NS 16 /* namespace ids 1..16 */

struct keel_nvme_sim;

struct keel_nvme_sim_opts {
	/** Address "sim:<index>"; must be < KEEL_NVME_SIM_MAX and unused. */
	uint32_t index;
	/** Active namespaces at start, ids 1..num_ns (0..KEEL_NVME_SIM_MAX_NS). */
	uint32_t num_ns;
	/** Bytes of each namespace (a multiple of block_size). */
	uint64_t ns_size_bytes;
	/** 512 or 4096. */
	uint32_t block_size;
	/** I/O queue pairs offered (1..63). */
	uint16_t max_io_queues;
	/** Largest queue, entries (2..4096). */
	uint32_t max_queue_entries;
	/** Maximum data transfer as a power of two of 4 KiB pages (0: no limit). */
	uint8_t mdts;
	/** Advertise and accept SGLs besides PRPs. */
	bool sgl;
	/** No thread: the caller runs the controller with keel_nvme_sim_poll(). */
	bool manual;
};

/** Defaults: index 0, one 64 MiB namespace of 512-byte blocks, 15 queues of 1024, MDTS 1 MiB. */
void keel_nvme_sim_opts_init(struct keel_nvme_sim_opts *opts);

/**
 * Create a controller and make it visible at "sim:<index>" (enumeration, attach).
 * \return 0; -EINVAL for bad options; -EEXIST if the index is taken; -ENOMEM.
 */
int keel_nvme_sim_create(const struct keel_nvme_sim_opts *opts, struct keel_nvme_sim **sim);
/**
 * Take the controller away and free it. If a driver still has it attached, the controller
 * behaves as surprise-removed and is freed when the driver detaches. NULL is a no-op.
 */
void keel_nvme_sim_destroy(struct keel_nvme_sim *sim);
/** The controller at "sim:<index>", or NULL. */
struct keel_nvme_sim *keel_nvme_sim_get(uint32_t index);
/** The controller for an address "sim:<index>", or NULL. */
struct keel_nvme_sim *keel_nvme_sim_find(const char *addr);
/** Index of a controller. */
uint32_t keel_nvme_sim_get_index(const struct keel_nvme_sim *sim);

/** Run the controller once (manual mode). \return true if it did anything. */
bool keel_nvme_sim_poll(struct keel_nvme_sim *sim);

/** Stop (true) or restart the controller's thread; keel_nvme_sim_poll() still works. */
void keel_nvme_sim_set_paused(struct keel_nvme_sim *sim, bool paused);

/** Surprise removal: registers read all ones, nothing more is executed, enumeration skips it. */
void keel_nvme_sim_remove(struct keel_nvme_sim *sim);
/** Raise the controller fatal status (CSTS.CFS); commands stop until a controller reset. */
void keel_nvme_sim_set_fatal(struct keel_nvme_sim *sim);

/**
 * Fail the next count commands with opcode opc (admin or I/O) with status sct/sc.
 * \return 0; -EINVAL.
 */
int keel_nvme_sim_inject_error(struct keel_nvme_sim *sim, bool admin, uint8_t opc, uint8_t sct,
			       uint8_t sc, uint32_t count);
/** Never answer the next count commands with opcode opc until aborted or reset. \return 0. */
int keel_nvme_sim_inject_timeout(struct keel_nvme_sim *sim, bool admin, uint8_t opc,
				 uint32_t count);
/** Forget every injection that has not fired yet. */
void keel_nvme_sim_clear_injections(struct keel_nvme_sim *sim);

/**
 * Change a namespace and post a "namespace attribute changed" asynchronous event:
 * size_bytes 0 detaches it; otherwise it is attached (new) or resized, keeping its data.
 * \return 0; -EINVAL; -ENOMEM.
 */
int keel_nvme_sim_ns_set(struct keel_nvme_sim *sim, uint32_t nsid, uint64_t size_bytes);

struct keel_nvme_sim_stats {
	uint64_t admin_cmds;
	uint64_t io_cmds;
	uint64_t aborts;    /* commands ended by an Abort */
	uint64_t enables;   /* CC.EN 0 -> 1 */
	uint64_t shutdowns; /* normal shutdown notifications */
	uint64_t io_queues; /* I/O submission queues that exist now */
	uint64_t held;      /* commands held by a timeout injection now */
};
void keel_nvme_sim_get_stats(struct keel_nvme_sim *sim, struct keel_nvme_sim_stats *stats);

/** Read/write namespace data directly (tests checking what the driver wrote). \return 0. */
int keel_nvme_sim_ns_access(struct keel_nvme_sim *sim, uint32_t nsid, uint64_t offset, void *buf,
			    size_t len, bool write);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_NVME_SIM_H */
