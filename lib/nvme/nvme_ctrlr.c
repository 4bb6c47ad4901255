/*
 * NVMe controllers: transport ids, probing, bring-up as NVMe 1.4 section 7.6.1 describes it
 * (disable, admin queue, enable, identify, number of queues, asynchronous events), the admin
 * queue shared under a lock, timeouts, aborts, reset and re-initialisation, namespace changes,
 * I/O queue pair creation and deletion, and the shutdown notification on detach.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/nvme.h"
#include "keel/util.h"

#include "nvme_internal.h"

KEEL_LOG_REGISTER_COMPONENT(nvme)

#define NVME_ADMIN_TIMEOUT_MS 10000
#define NVME_SHUTDOWN_TIMEOUT_MS 5000

/* --- Registers and DMA ------------------------------------------------------------------------ */

uint32_t
nvme_reg_read32(struct keel_nvme_ctrlr *ctrlr, uint32_t off)
{
	return *(volatile uint32_t *)(ctrlr->regs + off);
}

void
nvme_reg_write32(struct keel_nvme_ctrlr *ctrlr, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(ctrlr->regs + off) = v;
}

static void
nvme_reg_write64(struct keel_nvme_ctrlr *ctrlr, uint32_t off, uint64_t v)
{
	nvme_reg_write32(ctrlr, off, (uint32_t)v);
	nvme_reg_write32(ctrlr, off + 4, (uint32_t)(v >> 32));
}

uint64_t
nvme_dma_bus(struct keel_nvme_ctrlr *ctrlr, const void *buf, uint64_t *len)
{
	return keel_pci_dev_dma_translate(ctrlr->dev, buf, len);
}

bool
nvme_ctrlr_gone(const struct keel_nvme_ctrlr *ctrlr)
{
	return __atomic_load_n(&ctrlr->removed, __ATOMIC_RELAXED);
}

/* why: what showed it (its registers, or the PCI layer saying the device is not present). */
static void
nvme_ctrlr_set_removed(struct keel_nvme_ctrlr *ctrlr, const char *why)
{
	if (!nvme_ctrlr_gone(ctrlr)) {
		KEEL_NOTICELOG("nvme %s: controller removed (%s)\n", ctrlr->trid.traddr, why);
	}
	__atomic_store_n(&ctrlr->removed, true, __ATOMIC_RELEASE);
}

/* The device left: its registers read all ones, or sysfs no longer lists it. Registers first:
 * once the device is gone from sysfs, its BAR mapping may read anything the platform returns
 * for addresses nothing decodes. */
static bool
nvme_ctrlr_probe_removed(struct keel_nvme_ctrlr *ctrlr, uint32_t csts)
{
	if (csts == UINT32_MAX) {
		nvme_ctrlr_set_removed(ctrlr, "registers read all ones");
		return true;
	}
	if (!keel_pci_dev_present(ctrlr->dev)) {
		nvme_ctrlr_set_removed(ctrlr, "the device is leaving or has left sysfs");
		return true;
	}
	return false;
}

bool
keel_nvme_ctrlr_check_removed(struct keel_nvme_ctrlr *ctrlr)
{
	if (nvme_ctrlr_gone(ctrlr)) {
		return true;
	}
	/* A device that left the bus reads all ones; sysfs may lag behind, or lead. */
	return nvme_ctrlr_probe_removed(ctrlr, nvme_reg_read32(ctrlr, KEEL_NVME_REG_CSTS));
}

/* --- Transport ids and probing -----------------------------------------------------------------
 */

int
keel_nvme_transport_id_parse(struct keel_nvme_transport_id *trid, const char *str)
{
	char buf[256], *tok, *save = NULL;
	struct keel_nvme_transport_id t;

	if (str == NULL || strlen(str) >= sizeof(buf)) {
		return -EINVAL;
	}
	memset(&t, 0, sizeof(t));
	keel_strlcpy(buf, str, sizeof(buf));
	for (tok = strtok_r(buf, " \t\n", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		char *colon = strchr(tok, ':'), *val;

		if (colon == NULL) {
			return -EINVAL;
		}
		*colon = '\0';
		val = colon + 1;
		if (strcasecmp(tok, "trtype") == 0) {
			if (strcasecmp(val, KEEL_NVME_TRTYPE_PCIE) != 0) {
				return -EINVAL;
			}
			keel_strlcpy(t.trtype, KEEL_NVME_TRTYPE_PCIE, sizeof(t.trtype));
		} else if (strcasecmp(tok, "traddr") == 0) {
			if (val[0] == '\0' || strlen(val) >= sizeof(t.traddr)) {
				return -EINVAL;
			}
			keel_strlcpy(t.traddr, val, sizeof(t.traddr));
		} else {
			return -EINVAL;
		}
	}
	if (t.traddr[0] == '\0') {
		return -EINVAL;
	}
	if (t.trtype[0] == '\0') {
		keel_strlcpy(t.trtype, KEEL_NVME_TRTYPE_PCIE, sizeof(t.trtype));
	}
	*trid = t;
	return 0;
}

bool
keel_nvme_transport_id_equal(const struct keel_nvme_transport_id *a,
			     const struct keel_nvme_transport_id *b)
{
	struct keel_pci_addr pa, pb;

	if (strcasecmp(a->trtype, b->trtype) != 0) {
		return false;
	}
	if (keel_pci_addr_parse(&pa, a->traddr) == 0 && keel_pci_addr_parse(&pb, b->traddr) == 0) {
		return keel_pci_addr_compare(&pa, &pb) == 0;
	}
	return strcmp(a->traddr, b->traddr) == 0;
}

struct nvme_probe_ctx {
	keel_nvme_probe_fn fn;
	void *ctx;
};

static int
nvme_probe_one(void *arg, const char *addr, const struct keel_pci_id *id)
{
	struct nvme_probe_ctx *pc = arg;
	struct keel_nvme_transport_id trid;

	(void)id;
	memset(&trid, 0, sizeof(trid));
	keel_strlcpy(trid.trtype, KEEL_NVME_TRTYPE_PCIE, sizeof(trid.trtype));
	keel_strlcpy(trid.traddr, addr, sizeof(trid.traddr));
	return pc->fn(pc->ctx, &trid);
}

int
keel_nvme_probe(keel_nvme_probe_fn fn, void *ctx)
{
	struct nvme_probe_ctx pc = {.fn = fn, .ctx = ctx};

	return keel_pci_dev_enumerate(KEEL_NVME_PCI_CLASS, nvme_probe_one, &pc);
}

void
keel_nvme_ctrlr_opts_init(struct keel_nvme_ctrlr_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->num_io_queues = NVME_MAX_IO_QUEUES;
	opts->io_queue_size = 256;
	opts->admin_queue_size = 32;
}

/* --- Synchronous admin commands ------------------------------------------------------------------
 */

struct nvme_sync {
	bool done;
	struct keel_nvme_cpl cpl;
};

static void
nvme_sync_done(void *arg, const struct keel_nvme_cpl *cpl)
{
	struct nvme_sync *s = arg;

	s->cpl = *cpl;
	s->done = true;
}

/* Admin completions with the lock held. AER completions are kept for the owner's next poll. */
static int32_t
nvme_admin_poll_locked(struct keel_nvme_ctrlr *ctrlr)
{
	if (nvme_ctrlr_gone(ctrlr)) {
		nvme_qpair_fail_all(ctrlr->adminq,
				    KEEL_NVME_STATUS(KEEL_NVME_SCT_GENERIC,
						     KEEL_NVME_SC_ABORTED_SQ_DELETION, true));
		return -ENXIO;
	}
	nvme_qpair_ring_sq(ctrlr->adminq);
	return nvme_qpair_reap(ctrlr->adminq, 0);
}

/* Submit cmd on the admin queue and poll until it completes (lock held). \return 0; -errno. */
static int
nvme_admin_sync_locked(struct keel_nvme_ctrlr *ctrlr, struct keel_nvme_cmd *cmd,
		       struct keel_nvme_cpl *cpl_out)
{
	struct nvme_sync s = {0};
	uint64_t deadline;
	int rc;

	if (nvme_ctrlr_gone(ctrlr)) {
		return -ENXIO;
	}
	rc = nvme_qpair_submit_raw(ctrlr->adminq, cmd, nvme_sync_done, &s, NULL);
	if (rc != 0) {
		return rc;
	}
	deadline = keel_get_ticks() + keel_get_ticks_hz() * NVME_ADMIN_TIMEOUT_MS / 1000;
	while (!s.done) {
		if (nvme_admin_poll_locked(ctrlr) < 0 && !s.done) {
			return -ENXIO;
		}
		if (s.done) {
			break;
		}
		if (keel_get_ticks() > deadline) {
			/* Check whether the device left before blaming the command. */
			if (keel_nvme_ctrlr_check_removed(ctrlr)) {
				nvme_admin_poll_locked(ctrlr);
				return -ENXIO;
			}
			KEEL_ERRLOG("nvme %s: admin command %02xh timed out\n", ctrlr->trid.traddr,
				    cmd->opc);
			ctrlr->failed = true;
			return -ETIMEDOUT;
		}
		if (nvme_reg_read32(ctrlr, KEEL_NVME_REG_CSTS) & KEEL_NVME_CSTS_CFS) {
			ctrlr->failed = true;
			return -EIO;
		}
		/* Admin commands are rare: leave the core to others (a software controller's
		 * thread may need it) rather than spin. */
		sched_yield();
	}
	if (cpl_out != NULL) {
		*cpl_out = s.cpl;
	}
	if (KEEL_NVME_CPL_IS_ERROR(&s.cpl)) {
		KEEL_INFOLOG(nvme, "nvme %s: admin command %02xh failed: %s\n", ctrlr->trid.traddr,
			     cmd->opc, keel_nvme_cpl_status_string(&s.cpl));
		return -EIO;
	}
	return 0;
}

static int
nvme_identify_locked(struct keel_nvme_ctrlr *ctrlr, uint8_t cns, uint32_t nsid, void *out)
{
	struct keel_nvme_cmd cmd = {.opc = KEEL_NVME_OPC_IDENTIFY, .nsid = nsid, .cdw10 = cns};
	int rc;

	cmd.dptr.prp.prp1 = ctrlr->scratch_bus;
	rc = nvme_admin_sync_locked(ctrlr, &cmd, NULL);
	if (rc == 0) {
		memcpy(out, ctrlr->scratch, NVME_PAGE);
	}
	return rc;
}

static void
nvme_aer_done(void *arg, const struct keel_nvme_cpl *cpl)
{
	struct keel_nvme_ctrlr *ctrlr = arg;

	ctrlr->aer_posted--;
	if (KEEL_NVME_CPL_SC(cpl) == KEEL_NVME_SC_ABORTED_SQ_DELETION &&
	    KEEL_NVME_CPL_SCT(cpl) == KEEL_NVME_SCT_GENERIC) {
		return; /* reset or removal: not an event */
	}
	if (KEEL_NVME_CPL_IS_ERROR(cpl)) {
		return;
	}
	if (ctrlr->aer_cpl_count < KEEL_COUNTOF(ctrlr->aer_cpl)) {
		ctrlr->aer_cpl[ctrlr->aer_cpl_count++] = *cpl;
	}
}

static void
nvme_post_aers_locked(struct keel_nvme_ctrlr *ctrlr)
{
	uint32_t want = KEEL_MIN((uint32_t)ctrlr->cdata.aerl + 1, (uint32_t)NVME_MAX_AER);
	struct keel_nvme_cmd cmd;

	while (ctrlr->aer_posted < want) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = KEEL_NVME_OPC_ASYNC_EVENT_REQUEST;
		if (nvme_qpair_submit_raw(ctrlr->adminq, &cmd, nvme_aer_done, ctrlr, NULL) != 0) {
			break;
		}
		ctrlr->aer_posted++;
	}
}

/* --- Bring-up
 * ------------------------------------------------------------------------------------- */

static int
nvme_wait_csts(struct keel_nvme_ctrlr *ctrlr, uint32_t mask, uint32_t want, uint64_t timeout_ms)
{
	uint64_t deadline = keel_get_ticks() + keel_get_ticks_hz() * timeout_ms / 1000;
	uint32_t csts;

	for (;;) {
		csts = nvme_reg_read32(ctrlr, KEEL_NVME_REG_CSTS);
		if (csts == UINT32_MAX) {
			nvme_ctrlr_set_removed(ctrlr, "registers read all ones");
			return -ENXIO;
		}
		if ((csts & mask) == want) {
			return 0;
		}
		if (keel_get_ticks() > deadline) {
			return -ETIMEDOUT;
		}
		usleep(10);
	}
}

static int
nvme_ctrlr_disable(struct keel_nvme_ctrlr *ctrlr)
{
	uint32_t cc = nvme_reg_read32(ctrlr, KEEL_NVME_REG_CC);
	uint32_t csts = nvme_reg_read32(ctrlr, KEEL_NVME_REG_CSTS);
	int rc;

	if (csts == UINT32_MAX) {
		nvme_ctrlr_set_removed(ctrlr, "registers read all ones");
		return -ENXIO;
	}
	if (!(cc & KEEL_NVME_CC_EN)) {
		/* Spec 7.6.1: wait for RDY to clear before enabling again. */
		return nvme_wait_csts(ctrlr, KEEL_NVME_CSTS_RDY, 0, ctrlr->ready_timeout_ms);
	}
	/* Clearing EN while RDY is still 0 is undefined: wait for RDY first (unless fatal). */
	if (!(csts & KEEL_NVME_CSTS_RDY) && !(csts & KEEL_NVME_CSTS_CFS)) {
		rc = nvme_wait_csts(ctrlr, KEEL_NVME_CSTS_RDY, KEEL_NVME_CSTS_RDY,
				    ctrlr->ready_timeout_ms);
		if (rc != 0) {
			return rc;
		}
	}
	nvme_reg_write32(ctrlr, KEEL_NVME_REG_CC, cc & ~KEEL_NVME_CC_EN);
	return nvme_wait_csts(ctrlr, KEEL_NVME_CSTS_RDY, 0, ctrlr->ready_timeout_ms);
}

static int
nvme_ctrlr_enable(struct keel_nvme_ctrlr *ctrlr)
{
	struct keel_nvme_qpair *aq = ctrlr->adminq;
	uint32_t cc;
	int rc;

	nvme_qpair_reset_state(aq);
	nvme_reg_write32(ctrlr, KEEL_NVME_REG_AQA, (aq->size - 1) | ((aq->size - 1) << 16));
	nvme_reg_write64(ctrlr, KEEL_NVME_REG_ASQ, aq->sq_bus);
	nvme_reg_write64(ctrlr, KEEL_NVME_REG_ACQ, aq->cq_bus);
	/* NVM command set, 4 KiB memory pages, round robin, 64-byte SQ and 16-byte CQ entries. */
	cc = KEEL_NVME_CC_EN | (6u << KEEL_NVME_CC_IOSQES_SHIFT) |
	     (4u << KEEL_NVME_CC_IOCQES_SHIFT);
	nvme_reg_write32(ctrlr, KEEL_NVME_REG_CC, cc);
	rc = nvme_wait_csts(ctrlr, KEEL_NVME_CSTS_RDY | KEEL_NVME_CSTS_CFS, KEEL_NVME_CSTS_RDY,
			    ctrlr->ready_timeout_ms);
	if (rc == -ETIMEDOUT && (nvme_reg_read32(ctrlr, KEEL_NVME_REG_CSTS) & KEEL_NVME_CSTS_CFS)) {
		rc = -EIO;
	}
	if (rc != 0) {
		KEEL_ERRLOG("nvme %s: controller did not become ready: %s\n", ctrlr->trid.traddr,
			    keel_strerror(-rc));
	}
	return rc;
}

static int
nvme_set_num_queues_locked(struct keel_nvme_ctrlr *ctrlr)
{
	struct keel_nvme_cmd cmd = {.opc = KEEL_NVME_OPC_SET_FEATURES,
				    .cdw10 = KEEL_NVME_FEAT_NUMBER_OF_QUEUES};
	struct keel_nvme_cpl cpl;
	uint32_t want = KEEL_MIN(ctrlr->opts.num_io_queues, (uint32_t)NVME_MAX_IO_QUEUES), granted;
	int rc;

	cmd.cdw11 = (want - 1) | ((want - 1) << 16);
	rc = nvme_admin_sync_locked(ctrlr, &cmd, &cpl);
	if (rc != 0) {
		return rc;
	}
	granted = KEEL_MIN(cpl.cdw0 & 0xffff, cpl.cdw0 >> 16) + 1;
	ctrlr->num_io_queues = KEEL_MIN(granted, want);
	return 0;
}

static void
nvme_ns_fill(struct keel_nvme_ns *ns, const struct keel_nvme_ns_data *nd)
{
	const struct keel_nvme_lbaf *f = &nd->lbaf[nd->flbas & 0xf];

	ns->data = *nd;
	ns->active = nd->nsze != 0 && f->lbads >= 9 && f->lbads <= 16;
	ns->sector_size = ns->active ? 1u << f->lbads : 0;
	ns->num_sectors = ns->active ? nd->nsze : 0;
}

static int
nvme_identify_namespaces_locked(struct keel_nvme_ctrlr *ctrlr,
				void (*changed_cb)(void *ctx, struct keel_nvme_ns *ns), void *ctx)
{
	struct keel_nvme_ns_data *nd;
	uint32_t i;
	int rc = 0;

	nd = malloc(sizeof(*nd));
	if (nd == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < ctrlr->num_ns; i++) {
		struct keel_nvme_ns *ns = &ctrlr->ns[i];
		bool was_active = ns->active;
		uint64_t old_size = ns->num_sectors;

		rc = nvme_identify_locked(ctrlr, KEEL_NVME_CNS_NS, i + 1, nd);
		if (rc != 0) {
			break;
		}
		nvme_ns_fill(ns, nd);
		if (changed_cb != NULL &&
		    (was_active != ns->active || old_size != ns->num_sectors)) {
			changed_cb(ctx, ns);
		}
	}
	free(nd);
	return rc;
}

static int
nvme_ctrlr_init_locked(struct keel_nvme_ctrlr *ctrlr)
{
	struct keel_nvme_cmd cmd;
	int rc;

	rc = nvme_ctrlr_disable(ctrlr);
	if (rc == 0) {
		rc = nvme_ctrlr_enable(ctrlr);
	}
	if (rc == 0) {
		rc = nvme_identify_locked(ctrlr, KEEL_NVME_CNS_CTRLR, 0, &ctrlr->cdata);
	}
	if (rc == 0) {
		rc = nvme_set_num_queues_locked(ctrlr);
	}
	if (rc != 0) {
		return rc;
	}
	/* Namespace attribute notices; a controller that refuses still works without them. */
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = KEEL_NVME_OPC_SET_FEATURES;
	cmd.cdw10 = KEEL_NVME_FEAT_ASYNC_EVENT_CONFIG;
	cmd.cdw11 = KEEL_NVME_ASYNC_CFG_NS_ATTR;
	nvme_admin_sync_locked(ctrlr, &cmd, NULL);
	ctrlr->aer_posted = 0;
	nvme_post_aers_locked(ctrlr);
	return 0;
}

static void
nvme_ctrlr_free(struct keel_nvme_ctrlr *ctrlr)
{
	if (ctrlr->adminq != NULL) {
		nvme_qpair_fini(ctrlr->adminq);
		free(ctrlr->adminq);
	}
	keel_dma_free(ctrlr->scratch);
	if (ctrlr->regs != NULL) {
		keel_pci_dev_unmap_bar(ctrlr->dev, 0, (void *)ctrlr->regs);
	}
	keel_pci_dev_detach(ctrlr->dev);
	free(ctrlr->ns);
	pthread_mutex_destroy(&ctrlr->lock);
	free(ctrlr);
}

static int
nvme_ctrlr_map(struct keel_nvme_ctrlr *ctrlr)
{
	void *regs;
	uint64_t len = NVME_PAGE;
	int rc;

	rc = keel_pci_dev_map_bar(ctrlr->dev, 0, &regs, &ctrlr->regs_size);
	if (rc != 0) {
		return rc;
	}
	ctrlr->regs = regs;
	if (ctrlr->regs_size < KEEL_NVME_REG_DBS + 8) {
		return -EIO;
	}
	rc = keel_pci_dev_enable_bus_master(ctrlr->dev);
	if (rc != 0) {
		return rc;
	}
	ctrlr->cap = (uint64_t)nvme_reg_read32(ctrlr, KEEL_NVME_REG_CAP) |
		     ((uint64_t)nvme_reg_read32(ctrlr, KEEL_NVME_REG_CAP + 4) << 32);
	if (ctrlr->cap == UINT64_MAX) {
		return -ENXIO;
	}
	if (!KEEL_NVME_CAP_CSS_NVM(ctrlr->cap) || KEEL_NVME_CAP_MPSMIN(ctrlr->cap) != 0) {
		KEEL_ERRLOG("nvme %s: controller lacks the NVM command set or 4 KiB pages\n",
			    ctrlr->trid.traddr);
		return -ENOTSUP;
	}
	ctrlr->doorbell_stride = 4u << KEEL_NVME_CAP_DSTRD(ctrlr->cap);
	ctrlr->ready_timeout_ms = KEEL_MAX(1u, KEEL_NVME_CAP_TO(ctrlr->cap)) * 500ull;
	ctrlr->scratch = keel_dma_zmalloc(NVME_PAGE, NVME_PAGE, NULL);
	if (ctrlr->scratch == NULL) {
		return -ENOMEM;
	}
	ctrlr->scratch_bus = nvme_dma_bus(ctrlr, ctrlr->scratch, &len);
	return ctrlr->scratch_bus == KEEL_VTOPHYS_ERROR ? -ENOMEM : 0;
}

int
keel_nvme_ctrlr_attach(const struct keel_nvme_transport_id *trid,
		       const struct keel_nvme_ctrlr_opts *opts, struct keel_nvme_ctrlr **out)
{
	struct keel_nvme_ctrlr_opts def;
	struct keel_nvme_ctrlr *ctrlr;
	uint32_t mqes, i;
	int rc;

	if (opts == NULL) {
		keel_nvme_ctrlr_opts_init(&def);
		opts = &def;
	}
	if (strcasecmp(trid->trtype, KEEL_NVME_TRTYPE_PCIE) != 0 || opts->num_io_queues == 0 ||
	    opts->io_queue_size < 2 || opts->admin_queue_size < 2 ||
	    opts->admin_queue_size > 4096) {
		return -EINVAL;
	}
	ctrlr = calloc(1, sizeof(*ctrlr));
	if (ctrlr == NULL) {
		return -ENOMEM;
	}
	ctrlr->trid = *trid;
	ctrlr->opts = *opts;
	pthread_mutex_init(&ctrlr->lock, NULL);
	TAILQ_INIT(&ctrlr->io_qpairs);
	rc = keel_pci_dev_attach(trid->traddr, &ctrlr->dev);
	if (rc != 0) {
		ctrlr->dev = NULL;
		goto err_free;
	}
	rc = nvme_ctrlr_map(ctrlr);
	if (rc != 0) {
		goto err_free;
	}
	mqes = KEEL_NVME_CAP_MQES(ctrlr->cap) + 1;
	ctrlr->io_queue_size = KEEL_MIN(opts->io_queue_size, mqes);
	ctrlr->adminq = calloc(1, sizeof(*ctrlr->adminq));
	if (ctrlr->adminq == NULL ||
	    nvme_qpair_init(ctrlr->adminq, ctrlr, 0, KEEL_MIN(opts->admin_queue_size, mqes)) != 0) {
		rc = -ENOMEM;
		goto err_free;
	}
	ctrlr->adminq->connected = true;
	pthread_mutex_lock(&ctrlr->lock);
	rc = nvme_ctrlr_init_locked(ctrlr);
	pthread_mutex_unlock(&ctrlr->lock);
	if (rc != 0) {
		goto err_free;
	}
	ctrlr->max_xfer_size = NVME_DRIVER_MAX_XFER;
	if (ctrlr->cdata.mdts != 0 && ctrlr->cdata.mdts < 20) {
		ctrlr->max_xfer_size =
			KEEL_MIN(ctrlr->max_xfer_size, NVME_PAGE << ctrlr->cdata.mdts);
	}
	ctrlr->sgl = !opts->no_sgl && (ctrlr->cdata.sgls & 3) != 0;
	ctrlr->num_ns = KEEL_MIN(ctrlr->cdata.nn, 1024u);
	ctrlr->ns = calloc(KEEL_MAX(ctrlr->num_ns, 1u), sizeof(*ctrlr->ns));
	if (ctrlr->ns == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	for (i = 0; i < ctrlr->num_ns; i++) {
		ctrlr->ns[i].ctrlr = ctrlr;
		ctrlr->ns[i].id = i + 1;
	}
	pthread_mutex_lock(&ctrlr->lock);
	rc = nvme_identify_namespaces_locked(ctrlr, NULL, NULL);
	pthread_mutex_unlock(&ctrlr->lock);
	if (rc != 0) {
		goto err_free;
	}
	KEEL_NOTICELOG("nvme %s: %.40s, %u namespace ids, %u I/O queues of %u, max transfer %u "
		       "bytes%s\n",
		       ctrlr->trid.traddr, ctrlr->cdata.mn, ctrlr->num_ns, ctrlr->num_io_queues,
		       ctrlr->io_queue_size, ctrlr->max_xfer_size, ctrlr->sgl ? ", SGL" : "");
	*out = ctrlr;
	return 0;

err_free:
	if (ctrlr->regs != NULL && rc != -ENXIO) {
		nvme_reg_write32(ctrlr, KEEL_NVME_REG_CC, 0);
	}
	nvme_ctrlr_free(ctrlr);
	return rc;
}

/* --- Queue pairs -------------------------------------------------------------------------------
 */

static int
nvme_create_io_queues_locked(struct keel_nvme_qpair *qpair)
{
	struct keel_nvme_ctrlr *ctrlr = qpair->ctrlr;
	struct keel_nvme_cmd cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = KEEL_NVME_OPC_CREATE_IO_CQ;
	cmd.dptr.prp.prp1 = qpair->cq_bus;
	cmd.cdw10 = qpair->qid | ((qpair->size - 1) << 16);
	cmd.cdw11 = 1; /* physically contiguous, no interrupts */
	rc = nvme_admin_sync_locked(ctrlr, &cmd, NULL);
	if (rc != 0) {
		return rc;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = KEEL_NVME_OPC_CREATE_IO_SQ;
	cmd.dptr.prp.prp1 = qpair->sq_bus;
	cmd.cdw10 = qpair->qid | ((qpair->size - 1) << 16);
	cmd.cdw11 = 1 | ((uint32_t)qpair->qid << 16);
	rc = nvme_admin_sync_locked(ctrlr, &cmd, NULL);
	if (rc != 0) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = KEEL_NVME_OPC_DELETE_IO_CQ;
		cmd.cdw10 = qpair->qid;
		nvme_admin_sync_locked(ctrlr, &cmd, NULL);
	}
	return rc;
}

struct keel_nvme_qpair *
keel_nvme_ctrlr_alloc_io_qpair(struct keel_nvme_ctrlr *ctrlr)
{
	struct keel_nvme_qpair *qpair;
	uint16_t qid = 0, i;
	int rc;

	if (nvme_ctrlr_gone(ctrlr)) {
		return NULL;
	}
	qpair = calloc(1, sizeof(*qpair));
	if (qpair == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&ctrlr->lock);
	for (i = 1; i <= ctrlr->num_io_queues; i++) {
		if (!ctrlr->qid_used[i]) {
			qid = i;
			break;
		}
	}
	if (qid == 0) {
		pthread_mutex_unlock(&ctrlr->lock);
		KEEL_ERRLOG("nvme %s: no I/O queue left (%u granted)\n", ctrlr->trid.traddr,
			    ctrlr->num_io_queues);
		free(qpair);
		return NULL;
	}
	rc = nvme_qpair_init(qpair, ctrlr, qid, ctrlr->io_queue_size);
	if (rc == 0 && !ctrlr->resetting && !ctrlr->failed) {
		rc = nvme_create_io_queues_locked(qpair);
		qpair->connected = rc == 0;
	}
	if (rc != 0) {
		pthread_mutex_unlock(&ctrlr->lock);
		nvme_qpair_fini(qpair);
		free(qpair);
		return NULL;
	}
	ctrlr->qid_used[qid] = true;
	TAILQ_INSERT_TAIL(&ctrlr->io_qpairs, qpair, link);
	pthread_mutex_unlock(&ctrlr->lock);
	return qpair;
}

void
keel_nvme_ctrlr_free_io_qpair(struct keel_nvme_qpair *qpair)
{
	struct keel_nvme_ctrlr *ctrlr;
	struct keel_nvme_cmd cmd;

	if (qpair == NULL) {
		return;
	}
	ctrlr = qpair->ctrlr;
	pthread_mutex_lock(&ctrlr->lock);
	if (qpair->connected && !nvme_ctrlr_gone(ctrlr) && !ctrlr->failed) {
		/* Deleting the SQ makes the controller end what it still holds (NVMe 5.6). */
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = KEEL_NVME_OPC_DELETE_IO_SQ;
		cmd.cdw10 = qpair->qid;
		if (nvme_admin_sync_locked(ctrlr, &cmd, NULL) == 0) {
			nvme_qpair_ring_sq(qpair);
			nvme_qpair_reap(qpair, 0);
			memset(&cmd, 0, sizeof(cmd));
			cmd.opc = KEEL_NVME_OPC_DELETE_IO_CQ;
			cmd.cdw10 = qpair->qid;
			nvme_admin_sync_locked(ctrlr, &cmd, NULL);
		}
	}
	TAILQ_REMOVE(&ctrlr->io_qpairs, qpair, link);
	ctrlr->qid_used[qpair->qid] = false;
	pthread_mutex_unlock(&ctrlr->lock);
	qpair->connected = false;
	nvme_qpair_fail_all(qpair, KEEL_NVME_STATUS(KEEL_NVME_SCT_GENERIC,
						    KEEL_NVME_SC_ABORTED_SQ_DELETION, true));
	nvme_qpair_fini(qpair);
	free(qpair);
}

int
keel_nvme_qpair_reconnect(struct keel_nvme_qpair *qpair)
{
	struct keel_nvme_ctrlr *ctrlr = qpair->ctrlr;
	int rc;

	if (qpair->connected) {
		return 0;
	}
	pthread_mutex_lock(&ctrlr->lock);
	if (nvme_ctrlr_gone(ctrlr)) {
		rc = -ENXIO;
	} else if (ctrlr->failed || ctrlr->resetting) {
		rc = -EAGAIN;
	} else {
		nvme_qpair_reset_state(qpair);
		rc = nvme_create_io_queues_locked(qpair);
		qpair->connected = rc == 0;
	}
	pthread_mutex_unlock(&ctrlr->lock);
	return rc;
}

/* --- Admin polling, events, timeouts, aborts
 * -------------------------------------------------------- */

int32_t
keel_nvme_ctrlr_process_admin_completions(struct keel_nvme_ctrlr *ctrlr)
{
	struct keel_nvme_cpl events[KEEL_COUNTOF(ctrlr->aer_cpl)];
	uint32_t csts, nevents, i;
	int32_t n;

	pthread_mutex_lock(&ctrlr->lock);
	csts = nvme_reg_read32(ctrlr, KEEL_NVME_REG_CSTS);
	if (nvme_ctrlr_gone(ctrlr) || nvme_ctrlr_probe_removed(ctrlr, csts)) {
		nvme_admin_poll_locked(ctrlr);
		pthread_mutex_unlock(&ctrlr->lock);
		return -ENXIO;
	}
	if ((csts & KEEL_NVME_CSTS_CFS) && !ctrlr->failed && !ctrlr->resetting) {
		KEEL_ERRLOG("nvme %s: controller fatal status\n", ctrlr->trid.traddr);
		ctrlr->failed = true;
	}
	n = nvme_admin_poll_locked(ctrlr);
	if (!ctrlr->failed && !ctrlr->resetting) {
		nvme_post_aers_locked(ctrlr);
		nvme_qpair_ring_sq(ctrlr->adminq);
	}
	nvme_qpair_check_timeouts(ctrlr->adminq);
	nevents = ctrlr->aer_cpl_count;
	memcpy(events, ctrlr->aer_cpl, nevents * sizeof(events[0]));
	ctrlr->aer_cpl_count = 0;
	pthread_mutex_unlock(&ctrlr->lock);
	/* Outside the lock: the callback may issue admin commands of its own. */
	for (i = 0; i < nevents; i++) {
		if (ctrlr->aer_cb != NULL) {
			ctrlr->aer_cb(ctrlr->aer_ctx, &events[i]);
		}
	}
	if (ctrlr->failed) {
		return -EIO;
	}
	return n;
}

void
keel_nvme_ctrlr_register_aer_callback(struct keel_nvme_ctrlr *ctrlr, keel_nvme_aer_cb cb, void *ctx)
{
	ctrlr->aer_cb = cb;
	ctrlr->aer_ctx = ctx;
}

void
keel_nvme_ctrlr_register_timeout_callback(struct keel_nvme_ctrlr *ctrlr, uint64_t timeout_us,
					  keel_nvme_timeout_cb cb, void *ctx)
{
	ctrlr->timeout_cb = cb;
	ctrlr->timeout_ctx = ctx;
	ctrlr->timeout_ticks = timeout_us * keel_get_ticks_hz() / 1000000;
	if (timeout_us != 0 && ctrlr->timeout_ticks == 0) {
		ctrlr->timeout_ticks = 1;
	}
}

int
keel_nvme_ctrlr_cmd_abort(struct keel_nvme_ctrlr *ctrlr, struct keel_nvme_qpair *qpair,
			  uint16_t cid, keel_nvme_cmd_cb cb, void *cb_arg)
{
	struct keel_nvme_cmd cmd = {.opc = KEEL_NVME_OPC_ABORT};
	int rc;

	cmd.cdw10 = (qpair != NULL ? qpair->qid : 0u) | ((uint32_t)cid << 16);
	pthread_mutex_lock(&ctrlr->lock);
	if (nvme_ctrlr_gone(ctrlr)) {
		rc = -ENXIO;
	} else {
		rc = nvme_qpair_submit_raw(ctrlr->adminq, &cmd, cb, cb_arg, NULL);
		nvme_qpair_ring_sq(ctrlr->adminq);
	}
	pthread_mutex_unlock(&ctrlr->lock);
	return rc;
}

/* --- Reset
 * ---------------------------------------------------------------------------------------- */

int
keel_nvme_ctrlr_reset(struct keel_nvme_ctrlr *ctrlr)
{
	struct keel_nvme_qpair *qpair;
	int rc;

	pthread_mutex_lock(&ctrlr->lock);
	TAILQ_FOREACH (qpair, &ctrlr->io_qpairs, link) {
		if (qpair->connected) {
			pthread_mutex_unlock(&ctrlr->lock);
			return -EBUSY;
		}
	}
	if (nvme_ctrlr_gone(ctrlr)) {
		pthread_mutex_unlock(&ctrlr->lock);
		return -ENXIO;
	}
	KEEL_NOTICELOG("nvme %s: resetting controller\n", ctrlr->trid.traddr);
	ctrlr->resetting = true;
	/* What the old admin queue held ends here, as aborted. */
	nvme_qpair_fail_all(ctrlr->adminq,
			    KEEL_NVME_STATUS(KEEL_NVME_SCT_GENERIC,
					     KEEL_NVME_SC_ABORTED_SQ_DELETION, false));
	ctrlr->aer_posted = 0;
	ctrlr->failed = false;
	rc = nvme_ctrlr_init_locked(ctrlr);
	ctrlr->resetting = false;
	if (rc != 0) {
		ctrlr->failed = true;
		KEEL_ERRLOG("nvme %s: reset failed: %s\n", ctrlr->trid.traddr, keel_strerror(-rc));
	}
	pthread_mutex_unlock(&ctrlr->lock);
	return rc;
}

int
keel_nvme_ctrlr_update_namespaces(struct keel_nvme_ctrlr *ctrlr,
				  void (*changed_cb)(void *ctx, struct keel_nvme_ns *ns), void *ctx)
{
	struct keel_nvme_cmd cmd = {.opc = KEEL_NVME_OPC_GET_LOG_PAGE};
	int rc;

	pthread_mutex_lock(&ctrlr->lock);
	/* Reading the changed namespace list clears the event (NVMe 5.14.1.4). */
	cmd.nsid = 0xffffffff;
	cmd.cdw10 = KEEL_NVME_LOG_CHANGED_NS_LIST | ((NVME_PAGE / 4 - 1) << 16);
	cmd.dptr.prp.prp1 = ctrlr->scratch_bus;
	nvme_admin_sync_locked(ctrlr, &cmd, NULL);
	rc = nvme_identify_namespaces_locked(ctrlr, changed_cb, ctx);
	pthread_mutex_unlock(&ctrlr->lock);
	return rc;
}

/* --- Detach
 * ------------------------------------------------------------------------------------------ */

void
keel_nvme_ctrlr_detach(struct keel_nvme_ctrlr *ctrlr)
{
	struct keel_nvme_qpair *qpair;
	uint32_t cc;

	if (ctrlr == NULL) {
		return;
	}
	while ((qpair = TAILQ_FIRST(&ctrlr->io_qpairs)) != NULL) {
		keel_nvme_ctrlr_free_io_qpair(qpair);
	}
	pthread_mutex_lock(&ctrlr->lock);
	nvme_qpair_fail_all(ctrlr->adminq,
			    KEEL_NVME_STATUS(KEEL_NVME_SCT_GENERIC,
					     KEEL_NVME_SC_ABORTED_SQ_DELETION, true));
	if (!keel_nvme_ctrlr_check_removed(ctrlr)) {
		/* Orderly shutdown: the controller flushes its cache and records a clean stop. */
		cc = nvme_reg_read32(ctrlr, KEEL_NVME_REG_CC);
		cc = (cc & ~KEEL_NVME_CC_SHN_MASK) | KEEL_NVME_CC_SHN_NORMAL;
		nvme_reg_write32(ctrlr, KEEL_NVME_REG_CC, cc);
		if (nvme_wait_csts(ctrlr, KEEL_NVME_CSTS_SHST_MASK, KEEL_NVME_CSTS_SHST_COMPLETE,
				   NVME_SHUTDOWN_TIMEOUT_MS) != 0) {
			KEEL_WARNLOG("nvme %s: shutdown did not complete in %u ms\n",
				     ctrlr->trid.traddr, NVME_SHUTDOWN_TIMEOUT_MS);
		}
	}
	pthread_mutex_unlock(&ctrlr->lock);
	nvme_ctrlr_free(ctrlr);
}

/* --- Accessors
 * ------------------------------------------------------------------------------------- */

const struct keel_nvme_ctrlr_data *
keel_nvme_ctrlr_get_data(const struct keel_nvme_ctrlr *ctrlr)
{
	return &ctrlr->cdata;
}

const struct keel_nvme_transport_id *
keel_nvme_ctrlr_get_trid(const struct keel_nvme_ctrlr *ctrlr)
{
	return &ctrlr->trid;
}

uint32_t
keel_nvme_ctrlr_get_num_ns(const struct keel_nvme_ctrlr *ctrlr)
{
	return ctrlr->num_ns;
}

struct keel_nvme_ns *
keel_nvme_ctrlr_get_ns(struct keel_nvme_ctrlr *ctrlr, uint32_t nsid)
{
	if (nsid == 0 || nsid > ctrlr->num_ns) {
		return NULL;
	}
	return &ctrlr->ns[nsid - 1];
}

uint32_t
keel_nvme_ctrlr_get_max_xfer_size(const struct keel_nvme_ctrlr *ctrlr)
{
	return ctrlr->max_xfer_size;
}

uint32_t
keel_nvme_ctrlr_get_num_io_queues(const struct keel_nvme_ctrlr *ctrlr)
{
	return ctrlr->num_io_queues;
}

bool
keel_nvme_ctrlr_is_removed(const struct keel_nvme_ctrlr *ctrlr)
{
	return nvme_ctrlr_gone(ctrlr);
}

bool
keel_nvme_ctrlr_is_failed(const struct keel_nvme_ctrlr *ctrlr)
{
	return ctrlr->failed;
}

uint32_t
keel_nvme_ns_get_id(const struct keel_nvme_ns *ns)
{
	return ns->id;
}

bool
keel_nvme_ns_is_active(const struct keel_nvme_ns *ns)
{
	return ns->active;
}

uint32_t
keel_nvme_ns_get_sector_size(const struct keel_nvme_ns *ns)
{
	return ns->sector_size;
}

uint64_t
keel_nvme_ns_get_num_sectors(const struct keel_nvme_ns *ns)
{
	return ns->num_sectors;
}

const struct keel_nvme_ns_data *
keel_nvme_ns_get_data(const struct keel_nvme_ns *ns)
{
	return &ns->data;
}

struct keel_nvme_ctrlr *
keel_nvme_ns_get_ctrlr(const struct keel_nvme_ns *ns)
{
	return ns->ctrlr;
}

const char *
keel_nvme_cpl_status_string(const struct keel_nvme_cpl *cpl)
{
	uint8_t sct = KEEL_NVME_CPL_SCT(cpl), sc = KEEL_NVME_CPL_SC(cpl);

	if (sct == KEEL_NVME_SCT_GENERIC) {
		switch (sc) {
		case KEEL_NVME_SC_SUCCESS:
			return "SUCCESS";
		case KEEL_NVME_SC_INVALID_OPCODE:
			return "INVALID OPCODE";
		case KEEL_NVME_SC_INVALID_FIELD:
			return "INVALID FIELD";
		case KEEL_NVME_SC_DATA_TRANSFER_ERROR:
			return "DATA TRANSFER ERROR";
		case KEEL_NVME_SC_INTERNAL_DEVICE_ERROR:
			return "INTERNAL DEVICE ERROR";
		case KEEL_NVME_SC_ABORTED_BY_REQUEST:
			return "ABORTED - BY REQUEST";
		case KEEL_NVME_SC_ABORTED_SQ_DELETION:
			return "ABORTED - SQ DELETION";
		case KEEL_NVME_SC_ABORTED_FAILED_FUSED:
			return "ABORTED - FAILED FUSED";
		case KEEL_NVME_SC_INVALID_NAMESPACE:
			return "INVALID NAMESPACE";
		case KEEL_NVME_SC_LBA_OUT_OF_RANGE:
			return "LBA OUT OF RANGE";
		default:
			return "GENERIC ERROR";
		}
	}
	if (sct == KEEL_NVME_SCT_MEDIA_ERROR) {
		switch (sc) {
		case KEEL_NVME_SC_COMPARE_FAILURE:
			return "COMPARE FAILURE";
		case KEEL_NVME_SC_UNRECOVERED_READ_ERROR:
			return "UNRECOVERED READ ERROR";
		default:
			return "MEDIA ERROR";
		}
	}
	return sct == KEEL_NVME_SCT_COMMAND_SPECIFIC ? "COMMAND SPECIFIC ERROR" : "ERROR";
}
