/*
 * NVMe queue pairs: submission and completion rings in DMA memory, requests (command ids) with a
 * DMA page each, doorbells written once per poll, completions taken by phase bit, timeouts
 * reported in submission order, and every outstanding command failed when the queue goes away.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/nvme.h"

#include "nvme_internal.h"

int
nvme_qpair_init(struct keel_nvme_qpair *qpair, struct keel_nvme_ctrlr *ctrlr, uint16_t qid,
		uint32_t size)
{
	uint32_t nreqs = size - 1, i;
	uint64_t len;

	memset(qpair, 0, sizeof(*qpair));
	qpair->ctrlr = ctrlr;
	qpair->qid = qid;
	qpair->size = size;
	TAILQ_INIT(&qpair->free_reqs);
	TAILQ_INIT(&qpair->outstanding_reqs);
	qpair->sq = keel_dma_zmalloc(size * sizeof(struct keel_nvme_cmd), NVME_PAGE, NULL);
	qpair->cq = keel_dma_zmalloc(size * sizeof(struct keel_nvme_cpl), NVME_PAGE, NULL);
	qpair->reqs = calloc(nreqs, sizeof(*qpair->reqs));
	qpair->pages = keel_dma_zmalloc((size_t)nreqs * NVME_PAGE, NVME_PAGE, NULL);
	if (qpair->sq == NULL || qpair->cq == NULL || qpair->reqs == NULL || qpair->pages == NULL) {
		goto err;
	}
	/* Rings must be physically contiguous (CAP.CQR): check that the bus sees them so. */
	len = size * sizeof(struct keel_nvme_cmd);
	qpair->sq_bus = nvme_dma_bus(ctrlr, qpair->sq, &len);
	if (qpair->sq_bus == KEEL_VTOPHYS_ERROR || len != size * sizeof(struct keel_nvme_cmd)) {
		goto err;
	}
	len = size * sizeof(struct keel_nvme_cpl);
	qpair->cq_bus = nvme_dma_bus(ctrlr, qpair->cq, &len);
	if (qpair->cq_bus == KEEL_VTOPHYS_ERROR || len != size * sizeof(struct keel_nvme_cpl)) {
		goto err;
	}
	for (i = 0; i < nreqs; i++) {
		struct nvme_request *req = &qpair->reqs[i];

		req->qpair = qpair;
		req->cid = (uint16_t)i;
		req->page = (uint8_t *)qpair->pages + (size_t)i * NVME_PAGE;
		len = NVME_PAGE;
		req->page_bus = nvme_dma_bus(ctrlr, req->page, &len);
		if (req->page_bus == KEEL_VTOPHYS_ERROR) {
			goto err;
		}
		TAILQ_INSERT_TAIL(&qpair->free_reqs, req, link);
	}
	qpair->sq_db = (volatile uint32_t *)(ctrlr->regs + KEEL_NVME_REG_DBS +
					     (2u * qid) * ctrlr->doorbell_stride);
	qpair->cq_db = (volatile uint32_t *)(ctrlr->regs + KEEL_NVME_REG_DBS +
					     (2u * qid + 1) * ctrlr->doorbell_stride);
	qpair->phase = 1;
	return 0;

err:
	nvme_qpair_fini(qpair);
	return -ENOMEM;
}

void
nvme_qpair_fini(struct keel_nvme_qpair *qpair)
{
	keel_dma_free(qpair->sq);
	keel_dma_free(qpair->cq);
	keel_dma_free(qpair->pages);
	free(qpair->reqs);
	qpair->sq = NULL;
	qpair->cq = NULL;
	qpair->pages = NULL;
	qpair->reqs = NULL;
}

/* Empty rings, as after the queues were created anew. */
void
nvme_qpair_reset_state(struct keel_nvme_qpair *qpair)
{
	memset(qpair->sq, 0, qpair->size * sizeof(struct keel_nvme_cmd));
	memset(qpair->cq, 0, qpair->size * sizeof(struct keel_nvme_cpl));
	qpair->sq_tail = 0;
	qpair->cq_head = 0;
	qpair->phase = 1;
	qpair->sq_db_pending = false;
}

static void
nvme_request_put(struct keel_nvme_qpair *qpair, struct nvme_request *req)
{
	TAILQ_REMOVE(&qpair->outstanding_reqs, req, link);
	req->active = false;
	qpair->outstanding--;
	TAILQ_INSERT_HEAD(&qpair->free_reqs, req, link);
}

/*
 * One half of a fused compare-and-write completed. The first half's request holds the pair's
 * state and its slot until both are done, so that nothing submitted in between can take it.
 */
static void
nvme_request_complete_fused(struct keel_nvme_qpair *qpair, struct nvme_request *req,
			    const struct keel_nvme_cpl *cpl)
{
	struct nvme_request *first = req->fused_first;
	struct keel_nvme_cpl result;

	if (KEEL_NVME_CPL_IS_ERROR(cpl) && !first->fused_failed) {
		first->fused_failed = true;
		first->fused_cpl = *cpl;
	} else if (req != first && !first->fused_failed) {
		first->fused_cpl = *cpl;
	}
	TAILQ_REMOVE(&qpair->outstanding_reqs, req, link);
	qpair->outstanding--;
	if (req != first) {
		req->active = false;
		req->fused_first = NULL;
		TAILQ_INSERT_HEAD(&qpair->free_reqs, req, link);
	}
	if (--first->fused_pending > 0) {
		return;
	}
	result = first->fused_cpl;
	first->active = false;
	first->fused_first = NULL;
	TAILQ_INSERT_HEAD(&qpair->free_reqs, first, link);
	if (first->cb != NULL) {
		first->cb(first->cb_arg, &result);
	}
}

static void
nvme_request_complete(struct keel_nvme_qpair *qpair, struct nvme_request *req,
		      const struct keel_nvme_cpl *cpl)
{
	keel_nvme_cmd_cb cb = req->cb;
	void *cb_arg = req->cb_arg;

	if (req->fused_first != NULL) {
		nvme_request_complete_fused(qpair, req, cpl);
		return;
	}
	/* Free the slot first: the callback may submit again. */
	nvme_request_put(qpair, req);
	if (cb != NULL) {
		cb(cb_arg, cpl);
	}
}

void
nvme_qpair_fail_all(struct keel_nvme_qpair *qpair, uint16_t status)
{
	struct keel_nvme_cpl cpl;
	struct nvme_request *req;

	while ((req = TAILQ_FIRST(&qpair->outstanding_reqs)) != NULL) {
		memset(&cpl, 0, sizeof(cpl));
		cpl.cid = req->cid;
		cpl.sqid = qpair->qid;
		cpl.status = status;
		nvme_request_complete(qpair, req, &cpl);
	}
}

int
nvme_qpair_submit_raw(struct keel_nvme_qpair *qpair, struct keel_nvme_cmd *cmd, keel_nvme_cmd_cb cb,
		      void *cb_arg, struct nvme_request **out)
{
	struct nvme_request *req;

	req = TAILQ_FIRST(&qpair->free_reqs);
	if (req == NULL) {
		return -ENOMEM;
	}
	TAILQ_REMOVE(&qpair->free_reqs, req, link);
	req->active = true;
	req->timeout_reported = false;
	req->cb = cb;
	req->cb_arg = cb_arg;
	req->fused_first = NULL;
	/* submit_tsc 0: never times out (asynchronous event requests wait for events). */
	req->submit_tsc = 0;
	if (qpair->ctrlr->timeout_ticks != 0 &&
	    !(qpair->qid == 0 && cmd->opc == KEEL_NVME_OPC_ASYNC_EVENT_REQUEST)) {
		req->submit_tsc = keel_get_ticks();
	}
	TAILQ_INSERT_TAIL(&qpair->outstanding_reqs, req, link);
	qpair->outstanding++;
	cmd->cid = req->cid;
	memcpy(&qpair->sq[qpair->sq_tail], cmd, sizeof(*cmd));
	if (++qpair->sq_tail == qpair->size) {
		qpair->sq_tail = 0;
	}
	qpair->sq_db_pending = true;
	if (out != NULL) {
		*out = req;
	}
	return 0;
}

struct nvme_request *
nvme_qpair_peek_free(struct keel_nvme_qpair *qpair)
{
	return TAILQ_FIRST(&qpair->free_reqs);
}

void
nvme_qpair_ring_sq(struct keel_nvme_qpair *qpair)
{
	if (!qpair->sq_db_pending) {
		return;
	}
	qpair->sq_db_pending = false;
	/* Release: the entries are in memory before the controller hears of them. */
	__atomic_store_n(qpair->sq_db, qpair->sq_tail, __ATOMIC_RELEASE);
}

int32_t
nvme_qpair_reap(struct keel_nvme_qpair *qpair, uint32_t max)
{
	struct keel_nvme_cpl *e, cpl;
	struct nvme_request *req;
	uint32_t n = 0, nreqs = qpair->size - 1;
	uint16_t status;

	for (;;) {
		if (max != 0 && n >= max) {
			break;
		}
		e = &qpair->cq[qpair->cq_head];
		status = __atomic_load_n(&e->status, __ATOMIC_ACQUIRE);
		if ((status & 1) != qpair->phase) {
			break;
		}
		cpl = *e;
		cpl.status = status;
		if (++qpair->cq_head == qpair->size) {
			qpair->cq_head = 0;
			qpair->phase ^= 1;
		}
		n++;
		if (cpl.cid >= nreqs || !qpair->reqs[cpl.cid].active) {
			KEEL_ERRLOG("nvme %s: queue %u: completion for command id %u that is not "
				    "outstanding\n",
				    qpair->ctrlr->trid.traddr, qpair->qid, cpl.cid);
			continue;
		}
		req = &qpair->reqs[cpl.cid];
		nvme_request_complete(qpair, req, &cpl);
	}
	if (n > 0) {
		__atomic_store_n(qpair->cq_db, qpair->cq_head, __ATOMIC_RELEASE);
	}
	return (int32_t)n;
}

void
nvme_qpair_check_timeouts(struct keel_nvme_qpair *qpair)
{
	struct keel_nvme_ctrlr *ctrlr = qpair->ctrlr;
	struct nvme_request *req, *next;
	uint64_t now;

	if (ctrlr->timeout_ticks == 0 || ctrlr->timeout_cb == NULL ||
	    TAILQ_EMPTY(&qpair->outstanding_reqs)) {
		return;
	}
	now = keel_get_ticks();
	/* Oldest first: stop at the first command that is still in time. */
	TAILQ_FOREACH_SAFE (req, &qpair->outstanding_reqs, link, next) {
		if (req->submit_tsc == 0 || req->submit_tsc + ctrlr->timeout_ticks > now) {
			if (req->submit_tsc != 0) {
				break;
			}
			continue;
		}
		if (req->timeout_reported) {
			continue;
		}
		req->timeout_reported = true;
		ctrlr->timeout_cb(ctrlr->timeout_ctx, ctrlr, qpair->qid == 0 ? NULL : qpair,
				  req->cid);
	}
}

int32_t
keel_nvme_qpair_process_completions(struct keel_nvme_qpair *qpair, uint32_t max)
{
	int32_t n;

	if (!qpair->connected) {
		return -ENXIO;
	}
	if (nvme_ctrlr_gone(qpair->ctrlr)) {
		/* Nothing more will come from a controller that left: end what it had. */
		if (qpair->outstanding > 0) {
			KEEL_NOTICELOG("nvme %s: queue %u: %u outstanding command(s) failed, the "
				       "controller is gone\n",
				       qpair->ctrlr->trid.traddr, qpair->qid, qpair->outstanding);
		}
		nvme_qpair_fail_all(qpair,
				    KEEL_NVME_STATUS(KEEL_NVME_SCT_GENERIC,
						     KEEL_NVME_SC_ABORTED_SQ_DELETION, true));
		return -ENXIO;
	}
	nvme_qpair_ring_sq(qpair);
	n = nvme_qpair_reap(qpair, max);
	nvme_qpair_check_timeouts(qpair);
	return n;
}

void
keel_nvme_qpair_disconnect(struct keel_nvme_qpair *qpair)
{
	qpair->connected = false;
	nvme_qpair_fail_all(qpair, KEEL_NVME_STATUS(KEEL_NVME_SCT_GENERIC,
						    KEEL_NVME_SC_ABORTED_SQ_DELETION, false));
	nvme_qpair_reset_state(qpair);
}

bool
keel_nvme_qpair_is_connected(const struct keel_nvme_qpair *qpair)
{
	return qpair->connected;
}

uint16_t
keel_nvme_qpair_get_id(const struct keel_nvme_qpair *qpair)
{
	return qpair->qid;
}

uint32_t
keel_nvme_qpair_get_outstanding(const struct keel_nvme_qpair *qpair)
{
	return qpair->outstanding;
}
