/*
 * Private to lib/nvme: the controller, namespace, queue pair and request structures shared by
 * the controller code (nvme_ctrlr.c) and the queue code (nvme_qpair.c).
 */
#ifndef KEEL_NVME_INTERNAL_H
#define KEEL_NVME_INTERNAL_H

#include "keel/stdinc.h"
#include "keel/nvme.h"
#include "keel/pci.h"

#include <pthread.h>

#define NVME_PAGE 4096u
#define NVME_PRP_PER_PAGE (NVME_PAGE / 8)
#define NVME_SGL_PER_PAGE (NVME_PAGE / 16)
#define NVME_MAX_AER 4
#define NVME_MAX_IO_QUEUES 64
/* A request's PRP list is one page: the first buffer page plus 512 listed ones. */
#define NVME_DRIVER_MAX_XFER ((NVME_PRP_PER_PAGE - 1) * NVME_PAGE)

struct nvme_request {
	struct keel_nvme_qpair *qpair;
	uint16_t cid;
	bool active;
	bool timeout_reported;
	keel_nvme_cmd_cb cb;
	void *cb_arg;
	uint64_t submit_tsc;
	void *page; /* one DMA page: PRP list, SGL segment or DSM ranges */
	uint64_t page_bus;
	/* Fused compare-and-write: the compare half keeps the state. */
	struct nvme_request *fused_first;
	uint8_t fused_pending;
	bool fused_failed;
	struct keel_nvme_cpl fused_cpl;
	TAILQ_ENTRY(nvme_request) link; /* free list, or outstanding in submission order */
};

struct keel_nvme_qpair {
	struct keel_nvme_ctrlr *ctrlr;
	uint16_t qid;
	uint32_t size; /* entries */
	struct keel_nvme_cmd *sq;
	struct keel_nvme_cpl *cq;
	uint64_t sq_bus;
	uint64_t cq_bus;
	volatile uint32_t *sq_db;
	volatile uint32_t *cq_db;
	uint32_t sq_tail;
	uint32_t cq_head;
	uint16_t phase;
	bool sq_db_pending;
	bool connected;
	uint32_t outstanding;
	struct nvme_request *reqs;
	void *pages;
	TAILQ_HEAD(, nvme_request) free_reqs;
	TAILQ_HEAD(, nvme_request) outstanding_reqs;
	TAILQ_ENTRY(keel_nvme_qpair) link;
};

struct keel_nvme_ns {
	struct keel_nvme_ctrlr *ctrlr;
	uint32_t id;
	bool active;
	uint32_t sector_size;
	uint64_t num_sectors;
	struct keel_nvme_ns_data data;
};

struct keel_nvme_ctrlr {
	struct keel_nvme_transport_id trid;
	struct keel_nvme_ctrlr_opts opts;
	struct keel_pci_dev *dev;
	volatile uint8_t *regs;
	uint64_t regs_size;
	uint64_t cap;
	uint32_t doorbell_stride; /* bytes */
	uint64_t ready_timeout_ms;
	struct keel_nvme_ctrlr_data cdata;
	uint32_t max_xfer_size;
	bool sgl;
	uint32_t num_io_queues;
	uint32_t io_queue_size;
	bool qid_used[NVME_MAX_IO_QUEUES + 1];
	struct keel_nvme_ns *ns; /* [0..nn-1] for ids 1..nn */
	uint32_t num_ns;
	struct keel_nvme_qpair *adminq;
	pthread_mutex_t lock; /* the admin queue and the queue pair list */
	TAILQ_HEAD(, keel_nvme_qpair) io_qpairs;
	bool removed;
	bool failed;
	bool resetting;
	uint32_t aer_posted;
	struct keel_nvme_cpl aer_cpl[NVME_MAX_AER * 2];
	uint32_t aer_cpl_count;
	keel_nvme_aer_cb aer_cb;
	void *aer_ctx;
	uint64_t timeout_ticks;
	keel_nvme_timeout_cb timeout_cb;
	void *timeout_ctx;
	void *scratch; /* one DMA page for identify and log pages */
	uint64_t scratch_bus;
};

/* nvme_qpair.c */
int nvme_qpair_init(struct keel_nvme_qpair *qpair, struct keel_nvme_ctrlr *ctrlr, uint16_t qid,
		    uint32_t size);
void nvme_qpair_fini(struct keel_nvme_qpair *qpair);
void nvme_qpair_reset_state(struct keel_nvme_qpair *qpair);
void nvme_qpair_fail_all(struct keel_nvme_qpair *qpair, uint16_t status);
int nvme_qpair_submit_raw(struct keel_nvme_qpair *qpair, struct keel_nvme_cmd *cmd,
			  keel_nvme_cmd_cb cb, void *cb_arg, struct nvme_request **out);
/* The request the next submission will use (its page can be filled first), or NULL. */
struct nvme_request *nvme_qpair_peek_free(struct keel_nvme_qpair *qpair);
int32_t nvme_qpair_reap(struct keel_nvme_qpair *qpair, uint32_t max);
void nvme_qpair_ring_sq(struct keel_nvme_qpair *qpair);
void nvme_qpair_check_timeouts(struct keel_nvme_qpair *qpair);

/* nvme_ctrlr.c */
uint32_t nvme_reg_read32(struct keel_nvme_ctrlr *ctrlr, uint32_t off);
void nvme_reg_write32(struct keel_nvme_ctrlr *ctrlr, uint32_t off, uint32_t v);
uint64_t nvme_dma_bus(struct keel_nvme_ctrlr *ctrlr, const void *buf, uint64_t *len);
bool nvme_ctrlr_gone(const struct keel_nvme_ctrlr *ctrlr);

#endif /* KEEL_NVME_INTERNAL_H */
