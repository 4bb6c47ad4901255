/*
 * The userspace NVMe driver over PCIe: controllers attached through the PCI device layer
 * (vfio-pci, uio_pci_generic, or the software controller of keel/nvme_sim.h), brought up as the
 * NVMe specification lays it out, with I/O queue pairs that one thread each owns and polls.
 *
 * Threads: an I/O queue pair is used from one thread only (submission and completion). The admin
 * queue is shared and locked; keel_nvme_ctrlr_process_admin_completions() is called by one
 * thread (the owner of the controller), which also gets the AER and timeout callbacks of the
 * admin queue. Callbacks never run inside the call that submitted the command.
 */
#ifndef KEEL_NVME_H
#define KEEL_NVME_H

#include "keel/stdinc.h"
#include "keel/nvme_spec.h"
#include "keel/pci.h"

#ifdef __cplusplus
extern "C" {
#endif

struct keel_nvme_ctrlr;
struct keel_nvme_ns;
struct keel_nvme_qpair;

#define KEEL_NVME_TRTYPE_PCIE "PCIe"

/** Where a controller is: only the PCIe transport (a sysfs address or "sim:<n>"). */
struct keel_nvme_transport_id {
	char trtype[16];
	char traddr[KEEL_PCI_ADDR_LEN];
};

/**
 * Parse "trtype:PCIe traddr:0000:01:00.0" (keys in any case and order, separated by blanks).
 * \return 0; -EINVAL (unknown key, transport other than PCIe, missing traddr).
 */
int keel_nvme_transport_id_parse(struct keel_nvme_transport_id *trid, const char *str);
/** Same controller? Short and long forms of a sysfs address compare equal. */
bool keel_nvme_transport_id_equal(const struct keel_nvme_transport_id *a,
				  const struct keel_nvme_transport_id *b);

struct keel_nvme_ctrlr_opts {
	/** I/O queue pairs to ask for (the controller may grant fewer). Default 64. */
	uint32_t num_io_queues;
	/** Entries per I/O queue (clamped to the controller's maximum). Default 256. */
	uint32_t io_queue_size;
	/** Entries of the admin queue. Default 32. */
	uint32_t admin_queue_size;
	/** Use PRPs even where the controller takes SGLs. Default false. */
	bool no_sgl;
};

void keel_nvme_ctrlr_opts_init(struct keel_nvme_ctrlr_opts *opts);

typedef void (*keel_nvme_cmd_cb)(void *cb_arg, const struct keel_nvme_cpl *cpl);
/** An asynchronous event completed (cpl->cdw0 holds type, information and log page). */
typedef void (*keel_nvme_aer_cb)(void *ctx, const struct keel_nvme_cpl *cpl);
/** A command ran past the timeout: qpair NULL for the admin queue. Called once per command. */
typedef void (*keel_nvme_timeout_cb)(void *ctx, struct keel_nvme_ctrlr *ctrlr,
				     struct keel_nvme_qpair *qpair, uint16_t cid);
typedef int (*keel_nvme_probe_fn)(void *ctx, const struct keel_nvme_transport_id *trid);

/**
 * Call fn for every NVMe controller (PCI class 01:08:02) that is present and let through by the
 * allowed/blocked lists, software controllers included. fn returns non-zero to stop.
 * \return the number of controllers visited.
 */
int keel_nvme_probe(keel_nvme_probe_fn fn, void *ctx);

/**
 * Attach and bring up a controller: map BAR0, enable bus mastering, disable it if enabled, set up
 * the admin queue, enable it (CAP.TO bounds each wait), Identify controller and namespaces, Set
 * Features number of queues, enable namespace-change events and post asynchronous event requests.
 * Synchronous (it polls the admin queue).
 *
 * \return 0; -EINVAL (bad trid or opts); -ENOENT (no such device); -EPERM (blocked);
 *         -ETIMEDOUT (the controller did not become ready); -EIO (fatal status, failed command);
 *         -ENOMEM.
 */
int keel_nvme_ctrlr_attach(const struct keel_nvme_transport_id *trid,
			   const struct keel_nvme_ctrlr_opts *opts, struct keel_nvme_ctrlr **ctrlr);
/**
 * Detach: notify an orderly shutdown (CC.SHN) if the controller is still there, wait for it
 * (bounded), release the device. I/O queue pairs still allocated are freed first (their
 * outstanding commands complete as aborted). NULL is a no-op.
 */
void keel_nvme_ctrlr_detach(struct keel_nvme_ctrlr *ctrlr);

const struct keel_nvme_ctrlr_data *keel_nvme_ctrlr_get_data(const struct keel_nvme_ctrlr *ctrlr);
const struct keel_nvme_transport_id *keel_nvme_ctrlr_get_trid(const struct keel_nvme_ctrlr *ctrlr);
/** Largest namespace id (Identify NN). */
uint32_t keel_nvme_ctrlr_get_num_ns(const struct keel_nvme_ctrlr *ctrlr);
/** Namespace nsid (1..NN) whether active or not; NULL if out of range. */
struct keel_nvme_ns *keel_nvme_ctrlr_get_ns(struct keel_nvme_ctrlr *ctrlr, uint32_t nsid);
/** Bytes one command may move (MDTS, and the driver's own PRP/SGL limit). */
uint32_t keel_nvme_ctrlr_get_max_xfer_size(const struct keel_nvme_ctrlr *ctrlr);
/** I/O queue pairs granted by the controller. */
uint32_t keel_nvme_ctrlr_get_num_io_queues(const struct keel_nvme_ctrlr *ctrlr);
/** True once the controller is known to be gone (registers all ones, device left). */
bool keel_nvme_ctrlr_is_removed(const struct keel_nvme_ctrlr *ctrlr);
/** True once the controller reported a fatal status or a reset failed; a reset may cure it. */
bool keel_nvme_ctrlr_is_failed(const struct keel_nvme_ctrlr *ctrlr);
/** Check presence now (device gone or registers all ones) and mark the controller removed. */
bool keel_nvme_ctrlr_check_removed(struct keel_nvme_ctrlr *ctrlr);

void keel_nvme_ctrlr_register_aer_callback(struct keel_nvme_ctrlr *ctrlr, keel_nvme_aer_cb cb,
					   void *ctx);
/** Report commands older than timeout_us (0: off) to cb. */
void keel_nvme_ctrlr_register_timeout_callback(struct keel_nvme_ctrlr *ctrlr, uint64_t timeout_us,
					       keel_nvme_timeout_cb cb, void *ctx);

/**
 * Reap admin completions, check CSTS for removal and fatal status, report admin timeouts and
 * asynchronous events (re-posting the request).
 * \return completions reaped; -ENXIO if the controller is gone; -EIO if it is failed.
 */
int32_t keel_nvme_ctrlr_process_admin_completions(struct keel_nvme_ctrlr *ctrlr);

/**
 * Ask the controller to abort command cid of qpair (NULL: the admin queue). cb runs from
 * keel_nvme_ctrlr_process_admin_completions(); cpl->cdw0 bit 0 clear means it was aborted.
 * \return 0; -ENOMEM (no admin slot); -ENXIO (controller gone).
 */
int keel_nvme_ctrlr_cmd_abort(struct keel_nvme_ctrlr *ctrlr, struct keel_nvme_qpair *qpair,
			      uint16_t cid, keel_nvme_cmd_cb cb, void *cb_arg);

/**
 * Reset the controller (CC.EN 0 then 1) and set its admin queue up again. Every I/O queue pair
 * must have been disconnected (keel_nvme_qpair_disconnect()) by its thread first; reconnect
 * them afterwards. Outstanding admin commands complete as aborted. Synchronous.
 * \return 0; -EBUSY (a queue pair is still connected); -ENXIO (gone); -ETIMEDOUT; -EIO.
 */
int keel_nvme_ctrlr_reset(struct keel_nvme_ctrlr *ctrlr);

/**
 * Identify every namespace again (after a namespace-change event). changed_cb is called for
 * each namespace whose active state or size changed. Synchronous. \return 0; -errno.
 */
int keel_nvme_ctrlr_update_namespaces(struct keel_nvme_ctrlr *ctrlr,
				      void (*changed_cb)(void *ctx, struct keel_nvme_ns *ns),
				      void *ctx);

uint32_t keel_nvme_ns_get_id(const struct keel_nvme_ns *ns);
bool keel_nvme_ns_is_active(const struct keel_nvme_ns *ns);
uint32_t keel_nvme_ns_get_sector_size(const struct keel_nvme_ns *ns);
uint64_t keel_nvme_ns_get_num_sectors(const struct keel_nvme_ns *ns);
const struct keel_nvme_ns_data *keel_nvme_ns_get_data(const struct keel_nvme_ns *ns);
struct keel_nvme_ctrlr *keel_nvme_ns_get_ctrlr(const struct keel_nvme_ns *ns);

/**
 * Create an I/O queue pair (completion and submission queue) on the controller, for the calling
 * thread. Synchronous admin commands. \return the pair, or NULL (no queue left, controller gone,
 * no memory).
 */
struct keel_nvme_qpair *keel_nvme_ctrlr_alloc_io_qpair(struct keel_nvme_ctrlr *ctrlr);
/**
 * Delete the queues from the controller (if it is there) and free the pair; outstanding commands
 * complete first, as aborted (SQ deletion). NULL is a no-op.
 */
void keel_nvme_ctrlr_free_io_qpair(struct keel_nvme_qpair *qpair);
/**
 * Complete every outstanding command as aborted (SQ deletion, no retry hint) and stop using the
 * queues, without telling the controller (it is being reset or is gone).
 */
void keel_nvme_qpair_disconnect(struct keel_nvme_qpair *qpair);
/** Create the queues again on a reset controller. \return 0; -errno. */
int keel_nvme_qpair_reconnect(struct keel_nvme_qpair *qpair);
bool keel_nvme_qpair_is_connected(const struct keel_nvme_qpair *qpair);
uint16_t keel_nvme_qpair_get_id(const struct keel_nvme_qpair *qpair);
/** Commands submitted and not yet completed. */
uint32_t keel_nvme_qpair_get_outstanding(const struct keel_nvme_qpair *qpair);

/**
 * Ring the submission doorbell once for everything submitted since the last call, reap up to
 * max completions (0: all) by phase bit, ring the completion doorbell once, report timeouts.
 * If the controller is gone, every outstanding command completes as aborted.
 * \return completions reaped; -ENXIO if the pair is disconnected or the controller gone.
 */
int32_t keel_nvme_qpair_process_completions(struct keel_nvme_qpair *qpair, uint32_t max);

/*
 * I/O commands. Each returns 0 and then calls cb exactly once from a later
 * keel_nvme_qpair_process_completions() on the same pair; or returns a negative errno and never
 * calls cb: -EINVAL (bad range or buffers, more than the transfer size), -ENOMEM (no free slot:
 * retry after completions), -ENXIO (disconnected or gone). Buffers must be DMA-safe memory from
 * lib/env, dword aligned; with PRPs, every buffer but the first must start on a 4 KiB page and
 * every buffer but the last end on one (SGL-capable controllers take any layout).
 */
int keel_nvme_ns_cmd_readv(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair, uint64_t lba,
			   uint32_t nlb, struct iovec *iov, int iovcnt, uint32_t io_flags,
			   keel_nvme_cmd_cb cb, void *cb_arg);
int keel_nvme_ns_cmd_writev(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair, uint64_t lba,
			    uint32_t nlb, struct iovec *iov, int iovcnt, uint32_t io_flags,
			    keel_nvme_cmd_cb cb, void *cb_arg);
int keel_nvme_ns_cmd_comparev(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair, uint64_t lba,
			      uint32_t nlb, struct iovec *iov, int iovcnt, keel_nvme_cmd_cb cb,
			      void *cb_arg);
/**
 * Fused compare and write: the write happens only if the compare matches. cb gets the compare's
 * completion if it failed (COMPARE FAILURE: media error 85h), else the write's.
 */
int keel_nvme_ns_cmd_compare_and_writev(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair,
					uint64_t lba, uint32_t nlb, struct iovec *cmp_iov,
					int cmp_iovcnt, struct iovec *write_iov, int write_iovcnt,
					uint32_t io_flags, keel_nvme_cmd_cb cb, void *cb_arg);
int keel_nvme_ns_cmd_flush(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair,
			   keel_nvme_cmd_cb cb, void *cb_arg);
/** nlb 1..65536. */
int keel_nvme_ns_cmd_write_zeroes(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair,
				  uint64_t lba, uint32_t nlb, uint32_t io_flags,
				  keel_nvme_cmd_cb cb, void *cb_arg);
/** Dataset management with deallocate; 1..256 ranges, copied. */
int keel_nvme_ns_cmd_deallocate(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair,
				const struct keel_nvme_dsm_range *ranges, uint16_t num_ranges,
				keel_nvme_cmd_cb cb, void *cb_arg);

/** Short name of a status ("SUCCESS", "LBA OUT OF RANGE", ...). */
const char *keel_nvme_cpl_status_string(const struct keel_nvme_cpl *cpl);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_NVME_H */
