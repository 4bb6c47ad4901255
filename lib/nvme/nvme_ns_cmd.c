/*
 * NVM command set submissions: read, write, compare, fused compare-and-write, flush, write
 * zeroes and deallocate, with the data described by PRPs (a list page per request) or, where the
 * controller takes them and the buffers do not fit PRP rules, by an SGL segment.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/nvme.h"

#include "nvme_internal.h"

#define NVME_PAGE_MASK ((uint64_t)NVME_PAGE - 1)

static int
nvme_ns_check(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair, uint64_t lba, uint32_t nlb)
{
	if (!qpair->connected || nvme_ctrlr_gone(qpair->ctrlr)) {
		return -ENXIO;
	}
	if (!ns->active || nlb == 0 || lba + nlb < lba || lba + nlb > ns->num_sectors) {
		return -EINVAL;
	}
	return 0;
}

/* PRPs fit when every buffer but the first starts on a page and every one but the last ends
 * on one (NVMe 4.3). */
static bool
nvme_iov_prp_compatible(const struct iovec *iov, int iovcnt)
{
	int i;

	for (i = 0; i < iovcnt; i++) {
		uintptr_t b = (uintptr_t)iov[i].iov_base, e = b + iov[i].iov_len;

		if ((b & 3) != 0 || (i > 0 && (b & NVME_PAGE_MASK) != 0) ||
		    (i < iovcnt - 1 && (e & NVME_PAGE_MASK) != 0)) {
			return false;
		}
	}
	return true;
}

static int
nvme_build_prps(struct keel_nvme_ctrlr *ctrlr, struct nvme_request *req, struct keel_nvme_cmd *cmd,
		const struct iovec *iov, int iovcnt, uint64_t len)
{
	uint64_t *list = req->page, left = len, n = 0;
	bool first = true;
	int i;

	for (i = 0; i < iovcnt && left > 0; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;
		uint64_t ilen = KEEL_MIN((uint64_t)iov[i].iov_len, left);
		uintptr_t end = va + ilen;

		while (va < end) {
			uint64_t chunk =
				KEEL_MIN((uint64_t)(end - va), NVME_PAGE - (va & NVME_PAGE_MASK));
			uint64_t want = chunk;
			uint64_t bus = nvme_dma_bus(ctrlr, (void *)va, &want);

			if (bus == KEEL_VTOPHYS_ERROR || want < chunk) {
				return -EINVAL;
			}
			if (first) {
				cmd->dptr.prp.prp1 = bus;
				first = false;
			} else {
				if (n >= NVME_PRP_PER_PAGE) {
					return -EINVAL;
				}
				list[n++] = bus;
			}
			va += chunk;
		}
		left -= ilen;
	}
	if (left > 0) {
		return -EINVAL;
	}
	if (n == 0) {
		cmd->dptr.prp.prp2 = 0;
	} else if (n == 1) {
		cmd->dptr.prp.prp2 = list[0];
	} else {
		cmd->dptr.prp.prp2 = req->page_bus;
	}
	cmd->flags = (uint8_t)(cmd->flags | (KEEL_NVME_PSDT_PRP << 6));
	return 0;
}

static int
nvme_build_sgl(struct keel_nvme_ctrlr *ctrlr, struct nvme_request *req, struct keel_nvme_cmd *cmd,
	       const struct iovec *iov, int iovcnt, uint64_t len)
{
	struct keel_nvme_sgl_desc *d = req->page;
	uint64_t left = len;
	uint32_t n = 0;
	int i;

	for (i = 0; i < iovcnt && left > 0; i++) {
		uintptr_t va = (uintptr_t)iov[i].iov_base;
		uint64_t ilen = KEEL_MIN((uint64_t)iov[i].iov_len, left);

		left -= ilen;
		while (ilen > 0) {
			uint64_t want = ilen, bus = nvme_dma_bus(ctrlr, (void *)va, &want);

			if (bus == KEEL_VTOPHYS_ERROR || want == 0 || n >= NVME_SGL_PER_PAGE ||
			    want > UINT32_MAX) {
				return -EINVAL;
			}
			d[n].address = bus;
			d[n].length = (uint32_t)want;
			memset(d[n].reserved, 0, sizeof(d[n].reserved));
			d[n].type = KEEL_NVME_SGL_TYPE_DATA_BLOCK << 4;
			n++;
			va += want;
			ilen -= want;
		}
	}
	if (left > 0 || n == 0) {
		return -EINVAL;
	}
	if (n == 1) {
		cmd->dptr.sgl1 = d[0];
	} else {
		memset(&cmd->dptr.sgl1, 0, sizeof(cmd->dptr.sgl1));
		cmd->dptr.sgl1.address = req->page_bus;
		cmd->dptr.sgl1.length = n * (uint32_t)sizeof(*d);
		cmd->dptr.sgl1.type = KEEL_NVME_SGL_TYPE_LAST_SEGMENT << 4;
	}
	cmd->flags = (uint8_t)(cmd->flags | (KEEL_NVME_PSDT_SGL << 6));
	return 0;
}

static int
nvme_build_data(struct keel_nvme_ctrlr *ctrlr, struct nvme_request *req, struct keel_nvme_cmd *cmd,
		const struct iovec *iov, int iovcnt, uint64_t len)
{
	if (iovcnt <= 0 || len > ctrlr->max_xfer_size) {
		return -EINVAL;
	}
	if (!nvme_iov_prp_compatible(iov, iovcnt)) {
		if (!ctrlr->sgl) {
			return -EINVAL;
		}
		return nvme_build_sgl(ctrlr, req, cmd, iov, iovcnt, len);
	}
	return nvme_build_prps(ctrlr, req, cmd, iov, iovcnt, len);
}

static void
nvme_rw_cmd(struct keel_nvme_cmd *cmd, uint8_t opc, uint32_t nsid, uint64_t lba, uint32_t nlb,
	    uint32_t io_flags)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->opc = opc;
	cmd->nsid = nsid;
	cmd->cdw10 = (uint32_t)lba;
	cmd->cdw11 = (uint32_t)(lba >> 32);
	cmd->cdw12 = (nlb - 1) | (io_flags & KEEL_NVME_IO_FLAGS_FUA);
}

static int
nvme_ns_data_cmd(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair, uint8_t opc, uint64_t lba,
		 uint32_t nlb, struct iovec *iov, int iovcnt, uint32_t io_flags,
		 keel_nvme_cmd_cb cb, void *cb_arg)
{
	struct keel_nvme_cmd cmd;
	struct nvme_request *req;
	int rc;

	rc = nvme_ns_check(ns, qpair, lba, nlb);
	if (rc != 0) {
		return rc;
	}
	if (nlb > 65536) {
		return -EINVAL;
	}
	req = nvme_qpair_peek_free(qpair);
	if (req == NULL) {
		return -ENOMEM;
	}
	nvme_rw_cmd(&cmd, opc, ns->id, lba, nlb, io_flags);
	rc = nvme_build_data(qpair->ctrlr, req, &cmd, iov, iovcnt, (uint64_t)nlb * ns->sector_size);
	if (rc != 0) {
		return rc;
	}
	return nvme_qpair_submit_raw(qpair, &cmd, cb, cb_arg, NULL);
}

int
keel_nvme_ns_cmd_readv(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair, uint64_t lba,
		       uint32_t nlb, struct iovec *iov, int iovcnt, uint32_t io_flags,
		       keel_nvme_cmd_cb cb, void *cb_arg)
{
	return nvme_ns_data_cmd(ns, qpair, KEEL_NVME_OPC_READ, lba, nlb, iov, iovcnt, io_flags, cb,
				cb_arg);
}

int
keel_nvme_ns_cmd_writev(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair, uint64_t lba,
			uint32_t nlb, struct iovec *iov, int iovcnt, uint32_t io_flags,
			keel_nvme_cmd_cb cb, void *cb_arg)
{
	return nvme_ns_data_cmd(ns, qpair, KEEL_NVME_OPC_WRITE, lba, nlb, iov, iovcnt, io_flags, cb,
				cb_arg);
}

int
keel_nvme_ns_cmd_comparev(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair, uint64_t lba,
			  uint32_t nlb, struct iovec *iov, int iovcnt, keel_nvme_cmd_cb cb,
			  void *cb_arg)
{
	if (!(qpair->ctrlr->cdata.oncs & KEEL_NVME_ONCS_COMPARE)) {
		return -ENOTSUP;
	}
	return nvme_ns_data_cmd(ns, qpair, KEEL_NVME_OPC_COMPARE, lba, nlb, iov, iovcnt, 0, cb,
				cb_arg);
}

int
keel_nvme_ns_cmd_compare_and_writev(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair,
				    uint64_t lba, uint32_t nlb, struct iovec *cmp_iov,
				    int cmp_iovcnt, struct iovec *write_iov, int write_iovcnt,
				    uint32_t io_flags, keel_nvme_cmd_cb cb, void *cb_arg)
{
	struct keel_nvme_cmd cmp, wr;
	struct nvme_request *first, *second;
	uint64_t len = (uint64_t)nlb * ns->sector_size;
	int rc;

	if (!(qpair->ctrlr->cdata.fuses & 1)) {
		return -ENOTSUP;
	}
	rc = nvme_ns_check(ns, qpair, lba, nlb);
	if (rc != 0) {
		return rc;
	}
	if (nlb > 65536) {
		return -EINVAL;
	}
	first = nvme_qpair_peek_free(qpair);
	second = first != NULL ? TAILQ_NEXT(first, link) : NULL;
	if (second == NULL) {
		return -ENOMEM;
	}
	nvme_rw_cmd(&cmp, KEEL_NVME_OPC_COMPARE, ns->id, lba, nlb, 0);
	nvme_rw_cmd(&wr, KEEL_NVME_OPC_WRITE, ns->id, lba, nlb, io_flags);
	cmp.flags = KEEL_NVME_FUSE_FIRST;
	wr.flags = KEEL_NVME_FUSE_SECOND;
	rc = nvme_build_data(qpair->ctrlr, first, &cmp, cmp_iov, cmp_iovcnt, len);
	if (rc == 0) {
		rc = nvme_build_data(qpair->ctrlr, second, &wr, write_iov, write_iovcnt, len);
	}
	if (rc != 0) {
		return rc;
	}
	/* Both halves go in consecutive slots before the doorbell is rung. */
	nvme_qpair_submit_raw(qpair, &cmp, cb, cb_arg, &first);
	nvme_qpair_submit_raw(qpair, &wr, NULL, NULL, &second);
	first->fused_first = first;
	first->fused_pending = 2;
	first->fused_failed = false;
	memset(&first->fused_cpl, 0, sizeof(first->fused_cpl));
	second->fused_first = first;
	return 0;
}

int
keel_nvme_ns_cmd_flush(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair, keel_nvme_cmd_cb cb,
		       void *cb_arg)
{
	struct keel_nvme_cmd cmd = {.opc = KEEL_NVME_OPC_FLUSH, .nsid = ns->id};

	if (!qpair->connected || nvme_ctrlr_gone(qpair->ctrlr)) {
		return -ENXIO;
	}
	if (!ns->active) {
		return -EINVAL;
	}
	return nvme_qpair_submit_raw(qpair, &cmd, cb, cb_arg, NULL);
}

int
keel_nvme_ns_cmd_write_zeroes(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair, uint64_t lba,
			      uint32_t nlb, uint32_t io_flags, keel_nvme_cmd_cb cb, void *cb_arg)
{
	struct keel_nvme_cmd cmd;
	int rc;

	if (!(qpair->ctrlr->cdata.oncs & KEEL_NVME_ONCS_WRITE_ZEROES)) {
		return -ENOTSUP;
	}
	rc = nvme_ns_check(ns, qpair, lba, nlb);
	if (rc != 0) {
		return rc;
	}
	if (nlb > 65536) {
		return -EINVAL;
	}
	nvme_rw_cmd(&cmd, KEEL_NVME_OPC_WRITE_ZEROES, ns->id, lba, nlb, io_flags);
	return nvme_qpair_submit_raw(qpair, &cmd, cb, cb_arg, NULL);
}

int
keel_nvme_ns_cmd_deallocate(struct keel_nvme_ns *ns, struct keel_nvme_qpair *qpair,
			    const struct keel_nvme_dsm_range *ranges, uint16_t num_ranges,
			    keel_nvme_cmd_cb cb, void *cb_arg)
{
	struct keel_nvme_cmd cmd;
	struct nvme_request *req;
	uint16_t i;

	if (!(qpair->ctrlr->cdata.oncs & KEEL_NVME_ONCS_DSM)) {
		return -ENOTSUP;
	}
	if (!qpair->connected || nvme_ctrlr_gone(qpair->ctrlr)) {
		return -ENXIO;
	}
	if (!ns->active || num_ranges == 0 || num_ranges > 256) {
		return -EINVAL;
	}
	for (i = 0; i < num_ranges; i++) {
		uint64_t end = ranges[i].starting_lba + ranges[i].length;

		if (end < ranges[i].starting_lba || end > ns->num_sectors) {
			return -EINVAL;
		}
	}
	req = nvme_qpair_peek_free(qpair);
	if (req == NULL) {
		return -ENOMEM;
	}
	memcpy(req->page, ranges, num_ranges * sizeof(*ranges));
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = KEEL_NVME_OPC_DATASET_MANAGEMENT;
	cmd.nsid = ns->id;
	cmd.dptr.prp.prp1 = req->page_bus;
	cmd.cdw10 = (uint32_t)num_ranges - 1;
	cmd.cdw11 = KEEL_NVME_DSM_ATTR_DEALLOCATE;
	return nvme_qpair_submit_raw(qpair, &cmd, cb, cb_arg, NULL);
}
