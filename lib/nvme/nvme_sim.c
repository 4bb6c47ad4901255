/*
 * The software NVMe controller: a BAR0 register file in ordinary memory that the driver maps
 * through the PCI device interface, queues in the driver's memory walked by a thread of the
 * controller (or by keel_nvme_sim_poll()), and namespaces in RAM. Bus addresses are the
 * driver's virtual addresses (the device's dma_translate is the identity).
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/nvme_sim.h"
#include "keel/nvme_spec.h"
#include "keel/pci.h"
#include "keel/util.h"

#include <pthread.h>
#include <sys/mman.h>

#define SIM_BAR_SIZE 16384
#define SIM_MAX_QUEUES 64 /* admin + 63 */
#define SIM_PAGE 4096u
#define SIM_MAX_AER 4
#define SIM_MAX_HELD 256
#define SIM_MAX_INJECT 16
#define SIM_MAX_SEGS 1024

struct sim_sq {
	struct keel_nvme_cmd *base;
	uint32_t size;
	uint32_t head;
	uint16_t cqid;
	bool valid;
};

struct sim_cq {
	struct keel_nvme_cpl *base;
	uint32_t size;
	uint32_t tail;
	uint16_t phase;
	bool valid;
};

struct sim_ns {
	uint8_t *data;
	uint64_t size_bytes;
	uint64_t mapped_bytes;
	bool active;
};

struct sim_held {
	uint16_t sqid;
	uint16_t cid;
};

struct sim_inject {
	bool admin;
	bool timeout;
	uint8_t opc;
	uint16_t status;
	uint32_t count;
};

struct sim_seg {
	uint8_t *ptr;
	uint32_t len;
};

struct keel_nvme_sim {
	struct keel_nvme_sim_opts opts;
	volatile uint8_t *bar; /* what the driver maps */
	uint32_t last_cc;
	bool enabled;
	bool fatal;
	bool removed;
	bool attached;
	bool destroy_on_detach;
	struct sim_sq sq[SIM_MAX_QUEUES];
	struct sim_cq cq[SIM_MAX_QUEUES];
	struct sim_ns ns[KEEL_NVME_SIM_MAX_NS + 1];
	uint16_t io_queues_granted;
	uint16_t aer_cid[SIM_MAX_AER];
	uint32_t aer_count;
	bool event_pending;
	uint32_t changed_ns[KEEL_NVME_SIM_MAX_NS];
	uint32_t changed_count;
	struct sim_held held[SIM_MAX_HELD];
	uint32_t held_count;
	struct sim_inject inject[SIM_MAX_INJECT];
	uint32_t inject_count;
	struct keel_nvme_sim_stats stats;
	pthread_mutex_t lock;
	pthread_t thread;
	bool thread_running;
	bool stop;
	bool paused;
};

static pthread_mutex_t g_sims_lock = PTHREAD_MUTEX_INITIALIZER;
static struct keel_nvme_sim *g_sims[KEEL_NVME_SIM_MAX];

/* --- Registers ---------------------------------------------------------------------------- */

static uint32_t
reg_get32(struct keel_nvme_sim *sim, uint32_t off)
{
	return __atomic_load_n((volatile uint32_t *)(sim->bar + off), __ATOMIC_ACQUIRE);
}

static void
reg_set32(struct keel_nvme_sim *sim, uint32_t off, uint32_t v)
{
	__atomic_store_n((volatile uint32_t *)(sim->bar + off), v, __ATOMIC_RELEASE);
}

static uint64_t
reg_get64(struct keel_nvme_sim *sim, uint32_t off)
{
	return (uint64_t)reg_get32(sim, off) | ((uint64_t)reg_get32(sim, off + 4) << 32);
}

static void
reg_set64(struct keel_nvme_sim *sim, uint32_t off, uint64_t v)
{
	reg_set32(sim, off, (uint32_t)v);
	reg_set32(sim, off + 4, (uint32_t)(v >> 32));
}

static uint32_t
sim_sq_tail(struct keel_nvme_sim *sim, uint16_t qid)
{
	return reg_get32(sim, KEEL_NVME_REG_DBS + 8u * qid);
}

static uint32_t
sim_cq_head(struct keel_nvme_sim *sim, uint16_t qid)
{
	return reg_get32(sim, KEEL_NVME_REG_DBS + 8u * qid + 4);
}

static void
sim_regs_init(struct keel_nvme_sim *sim)
{
	uint64_t cap;

	memset((void *)sim->bar, 0, SIM_BAR_SIZE);
	cap = (uint64_t)(sim->opts.max_queue_entries - 1) | (1ull << 16) | (10ull << 24) |
	      (1ull << 37);
	reg_set64(sim, KEEL_NVME_REG_CAP, cap);
	reg_set32(sim, KEEL_NVME_REG_VS, 0x00010400);
}

/* --- Data transfer ------------------------------------------------------------------------ */

static int
sim_prp_segs(const struct keel_nvme_cmd *cmd, uint64_t len, struct sim_seg *segs, uint32_t *nsegs)
{
	uint64_t prp1 = cmd->dptr.prp.prp1, prp2 = cmd->dptr.prp.prp2, first, left;
	const uint64_t *list;
	uint32_t n = 0, i = 0, per_page;

	first = KEEL_MIN(len, SIM_PAGE - (prp1 & (SIM_PAGE - 1)));
	if (prp1 == 0 || (prp1 & 3) != 0) {
		return -1;
	}
	segs[n++] = (struct sim_seg){(uint8_t *)(uintptr_t)prp1, (uint32_t)first};
	left = len - first;
	if (left == 0) {
		*nsegs = n;
		return 0;
	}
	if (left <= SIM_PAGE) {
		if (prp2 == 0 || (prp2 & (SIM_PAGE - 1)) != 0) {
			return -1;
		}
		segs[n++] = (struct sim_seg){(uint8_t *)(uintptr_t)prp2, (uint32_t)left};
		*nsegs = n;
		return 0;
	}
	/* A PRP list; its last entry chains to the next list page when more follow. */
	if (prp2 == 0 || (prp2 & 7) != 0) {
		return -1;
	}
	list = (const uint64_t *)(uintptr_t)prp2;
	per_page = (SIM_PAGE - (prp2 & (SIM_PAGE - 1))) / 8;
	while (left > 0) {
		uint64_t e;

		if (n >= SIM_MAX_SEGS) {
			return -1;
		}
		if (i == per_page - 1 && left > SIM_PAGE) {
			list = (const uint64_t *)(uintptr_t)list[i];
			if (list == NULL || ((uintptr_t)list & (SIM_PAGE - 1)) != 0) {
				return -1;
			}
			i = 0;
			per_page = SIM_PAGE / 8;
			continue;
		}
		e = list[i++];
		if (e == 0 || (e & (SIM_PAGE - 1)) != 0) {
			return -1;
		}
		segs[n].ptr = (uint8_t *)(uintptr_t)e;
		segs[n].len = (uint32_t)KEEL_MIN(left, SIM_PAGE);
		left -= segs[n].len;
		n++;
	}
	*nsegs = n;
	return 0;
}

static int
sim_sgl_segs(const struct keel_nvme_cmd *cmd, uint64_t len, struct sim_seg *segs, uint32_t *nsegs)
{
	const struct keel_nvme_sgl_desc *d = &cmd->dptr.sgl1;
	uint32_t n = 0, count = 1, i = 0;
	uint64_t total = 0;

	for (;;) {
		uint8_t type = d[i].type >> 4;

		if (type == KEEL_NVME_SGL_TYPE_DATA_BLOCK) {
			if (n >= SIM_MAX_SEGS || d[i].address == 0) {
				return -1;
			}
			segs[n++] =
				(struct sim_seg){(uint8_t *)(uintptr_t)d[i].address, d[i].length};
			total += d[i].length;
			if (++i < count) {
				continue;
			}
			break;
		}
		if ((type != KEEL_NVME_SGL_TYPE_SEGMENT &&
		     type != KEEL_NVME_SGL_TYPE_LAST_SEGMENT) ||
		    i != count - 1 || d[i].length == 0 || (d[i].length % 16) != 0) {
			return -1;
		}
		count = d[i].length / 16;
		d = (const struct keel_nvme_sgl_desc *)(uintptr_t)d[i].address;
		i = 0;
	}
	if (total < len) {
		return -1;
	}
	*nsegs = n;
	return 0;
}

/* Copy len bytes between the command's data buffers and mem (to_host: mem -> buffers). */
static int
sim_transfer(struct keel_nvme_sim *sim, const struct keel_nvme_cmd *cmd, uint8_t *mem, uint64_t len,
	     bool to_host)
{
	struct sim_seg segs[SIM_MAX_SEGS];
	uint32_t n = 0, i;
	uint64_t done = 0;
	int rc;

	(void)sim;
	if ((cmd->flags >> 6) == KEEL_NVME_PSDT_SGL) {
		rc = sim->opts.sgl ? sim_sgl_segs(cmd, len, segs, &n) : -1;
	} else {
		rc = sim_prp_segs(cmd, len, segs, &n);
	}
	if (rc != 0) {
		return -1;
	}
	for (i = 0; i < n && done < len; i++) {
		uint32_t l = (uint32_t)KEEL_MIN((uint64_t)segs[i].len, len - done);

		if (to_host) {
			memcpy(segs[i].ptr, mem + done, l);
		} else {
			memcpy(mem + done, segs[i].ptr, l);
		}
		done += l;
	}
	return 0;
}

/* --- Completions ---------------------------------------------------------------------------- */

static bool
sim_cq_full(struct keel_nvme_sim *sim, uint16_t cqid)
{
	struct sim_cq *cq = &sim->cq[cqid];

	return (cq->tail + 1) % cq->size == sim_cq_head(sim, cqid) % cq->size;
}

static void
sim_post(struct keel_nvme_sim *sim, uint16_t sqid, uint16_t cid, uint16_t status, uint32_t cdw0)
{
	struct sim_sq *sq = &sim->sq[sqid];
	struct sim_cq *cq = &sim->cq[sq->cqid];
	struct keel_nvme_cpl *e;

	if (!cq->valid) {
		return;
	}
	e = &cq->base[cq->tail];
	e->cdw0 = cdw0;
	e->rsvd1 = 0;
	e->sqhd = (uint16_t)sq->head;
	e->sqid = sqid;
	e->cid = cid;
	/* The phase bit hands the entry over: everything else must be visible first. */
	__atomic_store_n(&e->status, (uint16_t)(status | cq->phase), __ATOMIC_RELEASE);
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase ^= 1;
	}
}

#define SIM_OK 0
#define SIM_HOLD 0xffff

static uint16_t
st(uint8_t sct, uint8_t sc)
{
	return KEEL_NVME_STATUS(sct, sc,
				sct != KEEL_NVME_SCT_GENERIC ||
					sc != KEEL_NVME_SC_ABORTED_BY_REQUEST);
}

/* --- Admin commands ------------------------------------------------------------------------ */

static void
sim_identify_ctrlr(struct keel_nvme_sim *sim, struct keel_nvme_ctrlr_data *cd)
{
	char buf[41];

	memset(cd, 0, sizeof(*cd));
	cd->vid = 0x4b45;
	cd->ssvid = 0x4b45;
	snprintf(buf, sizeof(buf), "KEELSIM%-13u", sim->opts.index);
	memcpy(cd->sn, buf, sizeof(cd->sn));
	snprintf(buf, sizeof(buf), "%-40s", "keel simulated NVMe controller");
	memcpy(cd->mn, buf, sizeof(cd->mn));
	memcpy(cd->fr, "1.0     ", sizeof(cd->fr));
	cd->mdts = sim->opts.mdts;
	cd->cntlid = (uint16_t)(sim->opts.index + 1);
	cd->ver = 0x00010400;
	cd->acl = 3;
	cd->aerl = SIM_MAX_AER - 1;
	cd->sqes = 0x66;
	cd->cqes = 0x44;
	cd->nn = KEEL_NVME_SIM_MAX_NS;
	cd->oncs = KEEL_NVME_ONCS_COMPARE | KEEL_NVME_ONCS_DSM | KEEL_NVME_ONCS_WRITE_ZEROES;
	cd->fuses = 1;
	cd->vwc = 1;
	cd->sgls = sim->opts.sgl ? 1 : 0;
	snprintf(cd->subnqn, sizeof(cd->subnqn), "nqn.2016-06.io.keel:sim%u", sim->opts.index);
}

static void
sim_identify_ns(struct keel_nvme_sim *sim, uint32_t nsid, struct keel_nvme_ns_data *nd)
{
	struct sim_ns *ns = &sim->ns[nsid];

	memset(nd, 0, sizeof(*nd));
	if (!ns->active) {
		return; /* an inactive namespace identifies as all zeroes */
	}
	nd->nsze = ns->size_bytes / sim->opts.block_size;
	nd->ncap = nd->nsze;
	nd->nuse = nd->nsze;
	nd->lbaf[0].lbads = (uint8_t)__builtin_ctz(sim->opts.block_size);
	nd->dlfeat = 1;
	nd->nguid[0] = 0x4b;
	nd->nguid[1] = (uint8_t)sim->opts.index;
	nd->nguid[15] = (uint8_t)nsid;
}

static uint16_t
sim_identify(struct keel_nvme_sim *sim, const struct keel_nvme_cmd *cmd)
{
	uint8_t buf[4096];
	uint32_t cns = cmd->cdw10 & 0xff, i, n = 0;

	switch (cns) {
	case KEEL_NVME_CNS_CTRLR:
		sim_identify_ctrlr(sim, (struct keel_nvme_ctrlr_data *)buf);
		break;
	case KEEL_NVME_CNS_NS:
		if (cmd->nsid == 0 || cmd->nsid > KEEL_NVME_SIM_MAX_NS) {
			return st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_INVALID_NAMESPACE);
		}
		sim_identify_ns(sim, cmd->nsid, (struct keel_nvme_ns_data *)buf);
		break;
	case KEEL_NVME_CNS_ACTIVE_NS_LIST:
		memset(buf, 0, sizeof(buf));
		for (i = cmd->nsid + 1; i <= KEEL_NVME_SIM_MAX_NS; i++) {
			if (sim->ns[i].active) {
				((uint32_t *)buf)[n++] = i;
			}
		}
		break;
	default:
		return st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_INVALID_FIELD);
	}
	return sim_transfer(sim, cmd, buf, sizeof(buf), true) == 0
		       ? SIM_OK
		       : st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_DATA_TRANSFER_ERROR);
}

static uint16_t
sim_create_cq(struct keel_nvme_sim *sim, const struct keel_nvme_cmd *cmd)
{
	uint16_t qid = cmd->cdw10 & 0xffff;
	uint32_t size = (cmd->cdw10 >> 16) + 1;

	if (qid == 0 || qid > sim->io_queues_granted || sim->cq[qid].valid) {
		return st(KEEL_NVME_SCT_COMMAND_SPECIFIC, KEEL_NVME_SC_INVALID_QUEUE_ID);
	}
	if (size < 2 || size > sim->opts.max_queue_entries) {
		return st(KEEL_NVME_SCT_COMMAND_SPECIFIC, KEEL_NVME_SC_INVALID_QUEUE_SIZE);
	}
	if (cmd->dptr.prp.prp1 == 0 || !(cmd->cdw11 & 1)) {
		return st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_INVALID_FIELD);
	}
	sim->cq[qid] = (struct sim_cq){(struct keel_nvme_cpl *)(uintptr_t)cmd->dptr.prp.prp1, size,
				       0, 1, true};
	reg_set32(sim, KEEL_NVME_REG_DBS + 8u * qid + 4, 0);
	return SIM_OK;
}

static uint16_t
sim_create_sq(struct keel_nvme_sim *sim, const struct keel_nvme_cmd *cmd)
{
	uint16_t qid = cmd->cdw10 & 0xffff, cqid = cmd->cdw11 >> 16;
	uint32_t size = (cmd->cdw10 >> 16) + 1;

	if (qid == 0 || qid > sim->io_queues_granted || sim->sq[qid].valid) {
		return st(KEEL_NVME_SCT_COMMAND_SPECIFIC, KEEL_NVME_SC_INVALID_QUEUE_ID);
	}
	if (cqid == 0 || cqid >= SIM_MAX_QUEUES || !sim->cq[cqid].valid) {
		return st(KEEL_NVME_SCT_COMMAND_SPECIFIC, 0x00 /* completion queue invalid */);
	}
	if (size < 2 || size > sim->opts.max_queue_entries) {
		return st(KEEL_NVME_SCT_COMMAND_SPECIFIC, KEEL_NVME_SC_INVALID_QUEUE_SIZE);
	}
	sim->sq[qid] = (struct sim_sq){(struct keel_nvme_cmd *)(uintptr_t)cmd->dptr.prp.prp1, size,
				       0, cqid, true};
	reg_set32(sim, KEEL_NVME_REG_DBS + 8u * qid, 0);
	sim->stats.io_queues++;
	return SIM_OK;
}

/* Commands held for a deleted queue or an abort are answered "aborted". */
static void
sim_drop_held(struct keel_nvme_sim *sim, uint16_t sqid, bool post)
{
	uint32_t i = 0;

	while (i < sim->held_count) {
		if (sim->held[i].sqid == sqid) {
			if (post) {
				sim_post(sim, sqid, sim->held[i].cid,
					 st(KEEL_NVME_SCT_GENERIC,
					    KEEL_NVME_SC_ABORTED_SQ_DELETION),
					 0);
			}
			sim->held[i] = sim->held[--sim->held_count];
		} else {
			i++;
		}
	}
}

static uint16_t
sim_delete_sq(struct keel_nvme_sim *sim, const struct keel_nvme_cmd *cmd)
{
	uint16_t qid = cmd->cdw10 & 0xffff;

	if (qid == 0 || qid >= SIM_MAX_QUEUES || !sim->sq[qid].valid) {
		return st(KEEL_NVME_SCT_COMMAND_SPECIFIC, KEEL_NVME_SC_INVALID_QUEUE_ID);
	}
	sim_drop_held(sim, qid, true);
	sim->sq[qid].valid = false;
	sim->stats.io_queues--;
	return SIM_OK;
}

static uint16_t
sim_delete_cq(struct keel_nvme_sim *sim, const struct keel_nvme_cmd *cmd)
{
	uint16_t qid = cmd->cdw10 & 0xffff, i;

	if (qid == 0 || qid >= SIM_MAX_QUEUES || !sim->cq[qid].valid) {
		return st(KEEL_NVME_SCT_COMMAND_SPECIFIC, KEEL_NVME_SC_INVALID_QUEUE_ID);
	}
	for (i = 1; i < SIM_MAX_QUEUES; i++) {
		if (sim->sq[i].valid && sim->sq[i].cqid == qid) {
			return st(KEEL_NVME_SCT_COMMAND_SPECIFIC,
				  0x0c /* invalid queue deletion */);
		}
	}
	sim->cq[qid].valid = false;
	return SIM_OK;
}

static uint16_t
sim_abort(struct keel_nvme_sim *sim, const struct keel_nvme_cmd *cmd, uint32_t *cdw0)
{
	uint16_t sqid = cmd->cdw10 & 0xffff, cid = cmd->cdw10 >> 16;
	uint32_t i;

	*cdw0 = 1; /* not aborted */
	for (i = 0; i < sim->held_count; i++) {
		if (sim->held[i].sqid == sqid && sim->held[i].cid == cid) {
			sim_post(sim, sqid, cid,
				 st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_ABORTED_BY_REQUEST), 0);
			sim->held[i] = sim->held[--sim->held_count];
			sim->stats.aborts++;
			*cdw0 = 0;
			break;
		}
	}
	return SIM_OK;
}

static void
sim_fire_aer(struct keel_nvme_sim *sim)
{
	uint32_t cdw0;

	if (!sim->event_pending || sim->aer_count == 0) {
		return;
	}
	cdw0 = KEEL_NVME_AER_TYPE_NOTICE | (KEEL_NVME_AER_NOTICE_NS_ATTR_CHANGED << 8) |
	       ((uint32_t)KEEL_NVME_LOG_CHANGED_NS_LIST << 16);
	sim_post(sim, 0, sim->aer_cid[--sim->aer_count], SIM_OK, cdw0);
	sim->event_pending = false;
}

static uint16_t
sim_get_log_page(struct keel_nvme_sim *sim, const struct keel_nvme_cmd *cmd)
{
	uint8_t buf[4096];
	uint32_t lid = cmd->cdw10 & 0xff;
	uint64_t len =
		(((uint64_t)(cmd->cdw10 >> 16) | ((uint64_t)(cmd->cdw11 & 0xffff) << 16)) + 1) * 4;

	memset(buf, 0, sizeof(buf));
	if (len > sizeof(buf)) {
		len = sizeof(buf);
	}
	switch (lid) {
	case KEEL_NVME_LOG_CHANGED_NS_LIST:
		memcpy(buf, sim->changed_ns, sim->changed_count * sizeof(uint32_t));
		sim->changed_count = 0;
		break;
	case KEEL_NVME_LOG_ERROR:
		break;
	default:
		return st(KEEL_NVME_SCT_COMMAND_SPECIFIC, 0x09 /* invalid log page */);
	}
	return sim_transfer(sim, cmd, buf, len, true) == 0
		       ? SIM_OK
		       : st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_DATA_TRANSFER_ERROR);
}

static uint16_t
sim_admin(struct keel_nvme_sim *sim, const struct keel_nvme_cmd *cmd, uint32_t *cdw0)
{
	uint32_t want;

	switch (cmd->opc) {
	case KEEL_NVME_OPC_IDENTIFY:
		return sim_identify(sim, cmd);
	case KEEL_NVME_OPC_SET_FEATURES:
		if ((cmd->cdw10 & 0xff) == KEEL_NVME_FEAT_NUMBER_OF_QUEUES) {
			want = KEEL_MIN((cmd->cdw11 & 0xffff) + 1,
					(uint32_t)sim->opts.max_io_queues);
			if (sim->io_queues_granted == 0) {
				sim->io_queues_granted = (uint16_t)want;
			}
			*cdw0 = (uint32_t)(sim->io_queues_granted - 1) |
				((uint32_t)(sim->io_queues_granted - 1) << 16);
		}
		return SIM_OK;
	case KEEL_NVME_OPC_GET_FEATURES:
		return SIM_OK;
	case KEEL_NVME_OPC_CREATE_IO_CQ:
		return sim_create_cq(sim, cmd);
	case KEEL_NVME_OPC_CREATE_IO_SQ:
		return sim_create_sq(sim, cmd);
	case KEEL_NVME_OPC_DELETE_IO_SQ:
		return sim_delete_sq(sim, cmd);
	case KEEL_NVME_OPC_DELETE_IO_CQ:
		return sim_delete_cq(sim, cmd);
	case KEEL_NVME_OPC_ABORT:
		return sim_abort(sim, cmd, cdw0);
	case KEEL_NVME_OPC_ASYNC_EVENT_REQUEST:
		if (sim->aer_count >= SIM_MAX_AER) {
			return st(KEEL_NVME_SCT_COMMAND_SPECIFIC,
				  KEEL_NVME_SC_ASYNC_EVENT_LIMIT_EXCEEDED);
		}
		sim->aer_cid[sim->aer_count++] = cmd->cid;
		sim_fire_aer(sim);
		return SIM_HOLD;
	case KEEL_NVME_OPC_GET_LOG_PAGE:
		return sim_get_log_page(sim, cmd);
	case KEEL_NVME_OPC_KEEP_ALIVE:
		return SIM_OK;
	default:
		return st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_INVALID_OPCODE);
	}
}

/* --- I/O commands -------------------------------------------------------------------------- */

static uint16_t
sim_lba_check(struct keel_nvme_sim *sim, const struct keel_nvme_cmd *cmd, uint64_t *off,
	      uint64_t *len)
{
	struct sim_ns *ns;
	uint64_t slba = (uint64_t)cmd->cdw10 | ((uint64_t)cmd->cdw11 << 32);
	uint64_t nlb = (uint64_t)(cmd->cdw12 & 0xffff) + 1;
	uint64_t bs = sim->opts.block_size;

	if (cmd->nsid == 0 || cmd->nsid > KEEL_NVME_SIM_MAX_NS || !sim->ns[cmd->nsid].active) {
		return st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_INVALID_NAMESPACE);
	}
	ns = &sim->ns[cmd->nsid];
	if (slba + nlb < slba || (slba + nlb) * bs > ns->size_bytes) {
		return st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_LBA_OUT_OF_RANGE);
	}
	if (sim->opts.mdts != 0 && nlb * bs > (SIM_PAGE << sim->opts.mdts) &&
	    cmd->opc != KEEL_NVME_OPC_WRITE_ZEROES) {
		return st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_INVALID_FIELD);
	}
	*off = slba * bs;
	*len = nlb * bs;
	return SIM_OK;
}

static uint16_t
sim_compare(struct keel_nvme_sim *sim, const struct keel_nvme_cmd *cmd, uint8_t *mem, uint64_t len)
{
	uint8_t *tmp = malloc(len);
	uint16_t rc = SIM_OK;

	if (tmp == NULL) {
		return st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_INTERNAL_DEVICE_ERROR);
	}
	if (sim_transfer(sim, cmd, tmp, len, false) != 0) {
		rc = st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_DATA_TRANSFER_ERROR);
	} else if (memcmp(tmp, mem, len) != 0) {
		rc = st(KEEL_NVME_SCT_MEDIA_ERROR, KEEL_NVME_SC_COMPARE_FAILURE);
	}
	free(tmp);
	return rc;
}

static uint16_t
sim_dsm(struct keel_nvme_sim *sim, const struct keel_nvme_cmd *cmd)
{
	struct keel_nvme_dsm_range ranges[256];
	struct sim_ns *ns;
	uint32_t nr = (cmd->cdw10 & 0xff) + 1, i;
	uint64_t bs = sim->opts.block_size;

	if (cmd->nsid == 0 || cmd->nsid > KEEL_NVME_SIM_MAX_NS || !sim->ns[cmd->nsid].active) {
		return st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_INVALID_NAMESPACE);
	}
	ns = &sim->ns[cmd->nsid];
	if (sim_transfer(sim, cmd, (uint8_t *)ranges, nr * sizeof(ranges[0]), false) != 0) {
		return st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_DATA_TRANSFER_ERROR);
	}
	for (i = 0; i < nr; i++) {
		uint64_t end = ranges[i].starting_lba + ranges[i].length;

		if (end < ranges[i].starting_lba || end * bs > ns->size_bytes) {
			return st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_LBA_OUT_OF_RANGE);
		}
	}
	if (cmd->cdw11 & KEEL_NVME_DSM_ATTR_DEALLOCATE) {
		for (i = 0; i < nr; i++) {
			memset(ns->data + ranges[i].starting_lba * bs, 0, ranges[i].length * bs);
		}
	}
	return SIM_OK;
}

static uint16_t
sim_io(struct keel_nvme_sim *sim, const struct keel_nvme_cmd *cmd)
{
	uint64_t off = 0, len = 0;
	uint16_t rc;

	switch (cmd->opc) {
	case KEEL_NVME_OPC_FLUSH:
		if (cmd->nsid != 0xffffffff &&
		    (cmd->nsid == 0 || cmd->nsid > KEEL_NVME_SIM_MAX_NS ||
		     !sim->ns[cmd->nsid].active)) {
			return st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_INVALID_NAMESPACE);
		}
		return SIM_OK;
	case KEEL_NVME_OPC_DATASET_MANAGEMENT:
		return sim_dsm(sim, cmd);
	case KEEL_NVME_OPC_READ:
	case KEEL_NVME_OPC_WRITE:
	case KEEL_NVME_OPC_COMPARE:
	case KEEL_NVME_OPC_WRITE_ZEROES:
		break;
	default:
		return st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_INVALID_OPCODE);
	}
	rc = sim_lba_check(sim, cmd, &off, &len);
	if (rc != SIM_OK) {
		return rc;
	}
	switch (cmd->opc) {
	case KEEL_NVME_OPC_READ:
		rc = sim_transfer(sim, cmd, sim->ns[cmd->nsid].data + off, len, true);
		break;
	case KEEL_NVME_OPC_WRITE:
		rc = sim_transfer(sim, cmd, sim->ns[cmd->nsid].data + off, len, false);
		break;
	case KEEL_NVME_OPC_COMPARE:
		return sim_compare(sim, cmd, sim->ns[cmd->nsid].data + off, len);
	default:
		memset(sim->ns[cmd->nsid].data + off, 0, len);
		return SIM_OK;
	}
	return rc == 0 ? SIM_OK : st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_DATA_TRANSFER_ERROR);
}

/* --- The execution loop --------------------------------------------------------------------- */

/* An injection that matches: its status (or SIM_HOLD for a timeout), or SIM_OK for none. */
static uint16_t
sim_injected(struct keel_nvme_sim *sim, bool admin, uint8_t opc)
{
	uint32_t i;
	uint16_t status;

	for (i = 0; i < sim->inject_count; i++) {
		struct sim_inject *in = &sim->inject[i];

		if (in->admin == admin && in->opc == opc && in->count > 0) {
			status = in->timeout ? SIM_HOLD : in->status;
			if (--in->count == 0) {
				sim->inject[i] = sim->inject[--sim->inject_count];
			}
			return status;
		}
	}
	return SIM_OK;
}

static void
sim_complete(struct keel_nvme_sim *sim, uint16_t sqid, const struct keel_nvme_cmd *cmd,
	     uint16_t status, uint32_t cdw0)
{
	if (status != SIM_HOLD) {
		sim_post(sim, sqid, cmd->cid, status, cdw0);
		return;
	}
	if (cmd->opc == KEEL_NVME_OPC_ASYNC_EVENT_REQUEST && sqid == 0) {
		return; /* kept in aer_cid */
	}
	if (sim->held_count < SIM_MAX_HELD) {
		sim->held[sim->held_count++] = (struct sim_held){sqid, cmd->cid};
	}
}

static void
sim_exec(struct keel_nvme_sim *sim, uint16_t sqid, const struct keel_nvme_cmd *cmd)
{
	uint16_t status;
	uint32_t cdw0 = 0;

	status = sim_injected(sim, sqid == 0, cmd->opc);
	if (status != SIM_OK) {
		sim_complete(sim, sqid, cmd, status, 0);
		return;
	}
	if (sqid == 0) {
		sim->stats.admin_cmds++;
		status = sim_admin(sim, cmd, &cdw0);
	} else {
		sim->stats.io_cmds++;
		status = sim_io(sim, cmd);
	}
	sim_complete(sim, sqid, cmd, status, cdw0);
}

/* A fused compare and write (the compare first): the write runs only if the compare matched. */
static void
sim_exec_fused(struct keel_nvme_sim *sim, uint16_t sqid, const struct keel_nvme_cmd *first,
	       const struct keel_nvme_cmd *second)
{
	uint16_t status;

	sim->stats.io_cmds += 2;
	if (first->opc != KEEL_NVME_OPC_COMPARE || second->opc != KEEL_NVME_OPC_WRITE ||
	    first->nsid != second->nsid || first->cdw10 != second->cdw10 ||
	    first->cdw11 != second->cdw11 || (first->cdw12 & 0xffff) != (second->cdw12 & 0xffff)) {
		sim_post(sim, sqid, first->cid,
			 st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_INVALID_FIELD), 0);
		sim_post(sim, sqid, second->cid,
			 st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_ABORTED_FAILED_FUSED), 0);
		return;
	}
	status = sim_io(sim, first);
	sim_post(sim, sqid, first->cid, status, 0);
	if (status != SIM_OK) {
		sim_post(sim, sqid, second->cid,
			 st(KEEL_NVME_SCT_GENERIC, KEEL_NVME_SC_ABORTED_FAILED_FUSED), 0);
		return;
	}
	sim_post(sim, sqid, second->cid, sim_io(sim, second), 0);
}

static bool
sim_process_sq(struct keel_nvme_sim *sim, uint16_t sqid)
{
	struct sim_sq *sq = &sim->sq[sqid];
	uint32_t tail = sim_sq_tail(sim, sqid);
	struct keel_nvme_cmd cmd, second;
	bool busy = false;

	if (tail >= sq->size) {
		return false; /* a bad doorbell write: a real controller would post an error */
	}
	while (sq->head != tail && sq->valid) {
		if (sim_cq_full(sim, sq->cqid)) {
			break;
		}
		memcpy(&cmd, &sq->base[sq->head], sizeof(cmd));
		if ((cmd.flags & 3) == KEEL_NVME_FUSE_FIRST && sqid != 0) {
			uint32_t next = (sq->head + 1) % sq->size;

			if (next == tail) {
				break; /* the second half is not there yet */
			}
			memcpy(&second, &sq->base[next], sizeof(second));
			sq->head = (next + 1) % sq->size;
			sim_exec_fused(sim, sqid, &cmd, &second);
		} else {
			sq->head = (sq->head + 1) % sq->size;
			sim_exec(sim, sqid, &cmd);
		}
		busy = true;
	}
	return busy;
}

static void
sim_disable(struct keel_nvme_sim *sim)
{
	memset(sim->sq, 0, sizeof(sim->sq));
	memset(sim->cq, 0, sizeof(sim->cq));
	sim->io_queues_granted = 0;
	sim->aer_count = 0;
	sim->held_count = 0;
	sim->stats.io_queues = 0;
	sim->enabled = false;
	sim->fatal = false;
	/* A reset clears the doorbells along with the queues. */
	memset((void *)(sim->bar + KEEL_NVME_REG_DBS), 0, SIM_BAR_SIZE - KEEL_NVME_REG_DBS);
	reg_set32(sim, KEEL_NVME_REG_CSTS,
		  reg_get32(sim, KEEL_NVME_REG_CSTS) & KEEL_NVME_CSTS_SHST_MASK);
}

static void
sim_enable(struct keel_nvme_sim *sim)
{
	uint32_t aqa = reg_get32(sim, KEEL_NVME_REG_AQA);
	uint64_t asq = reg_get64(sim, KEEL_NVME_REG_ASQ), acq = reg_get64(sim, KEEL_NVME_REG_ACQ);
	uint32_t sqs = (aqa & 0xfff) + 1, cqs = ((aqa >> 16) & 0xfff) + 1;

	if (asq == 0 || acq == 0 || sqs < 2 || cqs < 2 || (asq & (SIM_PAGE - 1)) != 0 ||
	    (acq & (SIM_PAGE - 1)) != 0) {
		sim->fatal = true;
		reg_set32(sim, KEEL_NVME_REG_CSTS, KEEL_NVME_CSTS_CFS);
		return;
	}
	sim->sq[0] = (struct sim_sq){(struct keel_nvme_cmd *)(uintptr_t)asq, sqs, 0, 0, true};
	sim->cq[0] = (struct sim_cq){(struct keel_nvme_cpl *)(uintptr_t)acq, cqs, 0, 1, true};
	sim->enabled = true;
	sim->stats.enables++;
	reg_set32(sim, KEEL_NVME_REG_CSTS, KEEL_NVME_CSTS_RDY);
}

static bool
sim_check_cc(struct keel_nvme_sim *sim)
{
	uint32_t cc = reg_get32(sim, KEEL_NVME_REG_CC), old = sim->last_cc;

	if (cc == old) {
		return false;
	}
	sim->last_cc = cc;
	if ((cc & KEEL_NVME_CC_SHN_MASK) != 0 && (old & KEEL_NVME_CC_SHN_MASK) == 0) {
		sim->stats.shutdowns++;
		reg_set32(sim, KEEL_NVME_REG_CSTS,
			  (reg_get32(sim, KEEL_NVME_REG_CSTS) & ~KEEL_NVME_CSTS_SHST_MASK) |
				  KEEL_NVME_CSTS_SHST_COMPLETE);
	}
	if ((old & KEEL_NVME_CC_EN) && !(cc & KEEL_NVME_CC_EN)) {
		sim_disable(sim);
		reg_set32(sim, KEEL_NVME_REG_CSTS, 0);
	} else if (!(old & KEEL_NVME_CC_EN) && (cc & KEEL_NVME_CC_EN)) {
		sim_enable(sim);
	}
	return true;
}

bool
keel_nvme_sim_poll(struct keel_nvme_sim *sim)
{
	bool busy;
	uint16_t q;

	pthread_mutex_lock(&sim->lock);
	if (sim->removed) {
		pthread_mutex_unlock(&sim->lock);
		return false;
	}
	busy = sim_check_cc(sim);
	if (sim->enabled && !sim->fatal) {
		for (q = 0; q < SIM_MAX_QUEUES; q++) {
			if (sim->sq[q].valid) {
				busy |= sim_process_sq(sim, q);
			}
		}
		sim_fire_aer(sim);
	}
	pthread_mutex_unlock(&sim->lock);
	return busy;
}

/* The controller's own thread: spins while there is work, then naps in growing steps so that
 * an idle controller costs next to nothing on a small machine. */
static void *
sim_thread(void *arg)
{
	struct keel_nvme_sim *sim = arg;
	struct timespec nap;
	uint32_t idle = 0;

	while (!__atomic_load_n(&sim->stop, __ATOMIC_ACQUIRE)) {
		if (!__atomic_load_n(&sim->paused, __ATOMIC_ACQUIRE) && keel_nvme_sim_poll(sim)) {
			idle = 0;
			continue;
		}
		idle++;
		if (idle < 64) {
			sched_yield();
			continue;
		}
		nap.tv_sec = 0;
		nap.tv_nsec = idle < 2000 ? 20000 : 200000;
		nanosleep(&nap, NULL);
	}
	return NULL;
}

/* --- The PCI device -------------------------------------------------------------------------- */

static int
simdev_map_bar(struct keel_pci_dev *dev, uint32_t bar, void **addr, uint64_t *size)
{
	struct keel_nvme_sim *sim = dev->ctx;

	if (bar != 0) {
		return -ENOENT;
	}
	*addr = (void *)sim->bar;
	*size = SIM_BAR_SIZE;
	return 0;
}

static void
simdev_unmap_bar(struct keel_pci_dev *dev, uint32_t bar, void *addr)
{
	(void)dev;
	(void)bar;
	(void)addr;
}

static int
simdev_cfg_read(struct keel_pci_dev *dev, void *buf, uint32_t len, uint32_t offset)
{
	struct keel_nvme_sim *sim = dev->ctx;
	uint8_t cfg[64] = {0};

	if (offset + len > sizeof(cfg)) {
		memset(buf, 0xff, len);
		return 0;
	}
	if (sim->removed) {
		memset(buf, 0xff, len);
		return 0;
	}
	cfg[0] = 0x45;
	cfg[1] = 0x4b;
	cfg[9] = 0x02; /* class 01 08 02 */
	cfg[10] = 0x08;
	cfg[11] = 0x01;
	cfg[4] = 0x06; /* memory space and bus master on */
	memcpy(buf, cfg + offset, len);
	return 0;
}

static int
simdev_cfg_write(struct keel_pci_dev *dev, const void *buf, uint32_t len, uint32_t offset)
{
	(void)dev;
	(void)buf;
	(void)len;
	(void)offset;
	return 0;
}

static uint64_t
simdev_dma_translate(struct keel_pci_dev *dev, const void *buf, uint64_t *size)
{
	(void)dev;
	(void)size; /* all of it is contiguous */
	return (uint64_t)(uintptr_t)buf;
}

static bool
simdev_present(struct keel_pci_dev *dev)
{
	struct keel_nvme_sim *sim = dev->ctx;

	return !__atomic_load_n(&sim->removed, __ATOMIC_ACQUIRE);
}

static void sim_free(struct keel_nvme_sim *sim);

static void
simdev_detach(struct keel_pci_dev *dev)
{
	struct keel_nvme_sim *sim = dev->ctx;
	bool destroy;

	pthread_mutex_lock(&g_sims_lock);
	sim->attached = false;
	destroy = sim->destroy_on_detach;
	pthread_mutex_unlock(&g_sims_lock);
	free(dev);
	if (destroy) {
		sim_free(sim);
	}
}

static const struct keel_pci_dev_ops g_simdev_ops = {
	.map_bar = simdev_map_bar,
	.unmap_bar = simdev_unmap_bar,
	.cfg_read = simdev_cfg_read,
	.cfg_write = simdev_cfg_write,
	.dma_translate = simdev_dma_translate,
	.present = simdev_present,
	.detach = simdev_detach,
};

static int
sim_addr_index(const char *addr, uint32_t *index)
{
	uint32_t v;

	if (strncmp(addr, "sim:", 4) != 0 || keel_parse_u32(addr + 4, &v) != 0 ||
	    v >= KEEL_NVME_SIM_MAX) {
		return -EINVAL;
	}
	*index = v;
	return 0;
}

static bool
simprov_owns(const char *addr)
{
	return strncmp(addr, "sim:", 4) == 0;
}

static void
sim_id(struct keel_pci_id *id)
{
	memset(id, 0, sizeof(*id));
	id->vendor_id = 0x4b45;
	id->device_id = 0x0001;
	id->subvendor_id = 0x4b45;
	id->class_id = KEEL_NVME_PCI_CLASS;
}

static int
simprov_enumerate(keel_pci_enum_fn fn, void *ctx)
{
	char addrs[KEEL_NVME_SIM_MAX][KEEL_PCI_ADDR_LEN];
	struct keel_pci_id id;
	int n = 0, i;

	pthread_mutex_lock(&g_sims_lock);
	for (i = 0; i < KEEL_NVME_SIM_MAX; i++) {
		if (g_sims[i] != NULL && !g_sims[i]->removed) {
			snprintf(addrs[n++], KEEL_PCI_ADDR_LEN, "sim:%d", i);
		}
	}
	pthread_mutex_unlock(&g_sims_lock);
	sim_id(&id);
	for (i = 0; i < n; i++) {
		if (fn(ctx, addrs[i], &id) != 0) {
			break;
		}
	}
	return n;
}

static int
simprov_attach(const char *addr, struct keel_pci_dev **out)
{
	struct keel_nvme_sim *sim;
	struct keel_pci_dev *dev;
	uint32_t index;
	int rc = 0;

	if (sim_addr_index(addr, &index) != 0) {
		return -EINVAL;
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_sims_lock);
	sim = g_sims[index];
	if (sim == NULL || sim->removed) {
		rc = -ENOENT;
	} else if (sim->attached) {
		rc = -EBUSY;
	} else {
		sim->attached = true;
	}
	pthread_mutex_unlock(&g_sims_lock);
	if (rc != 0) {
		free(dev);
		return rc;
	}
	snprintf(dev->addr, sizeof(dev->addr), "sim:%u", index);
	sim_id(&dev->id);
	dev->ops = &g_simdev_ops;
	dev->ctx = sim;
	*out = dev;
	return 0;
}

static bool
simprov_present(const char *addr)
{
	uint32_t index;
	bool present;

	if (sim_addr_index(addr, &index) != 0) {
		return false;
	}
	pthread_mutex_lock(&g_sims_lock);
	present = g_sims[index] != NULL && !g_sims[index]->removed;
	pthread_mutex_unlock(&g_sims_lock);
	return present;
}

static struct keel_pci_provider g_sim_provider = {
	.name = "sim",
	.owns = simprov_owns,
	.enumerate = simprov_enumerate,
	.attach = simprov_attach,
	.present = simprov_present,
};

__attribute__((constructor)) static void
sim_register_provider(void)
{
	keel_pci_provider_register(&g_sim_provider);
}

/* --- Public API ------------------------------------------------------------------------------ */

void
keel_nvme_sim_opts_init(struct keel_nvme_sim_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->num_ns = 1;
	opts->ns_size_bytes = 64ull << 20;
	opts->block_size = 512;
	opts->max_io_queues = 15;
	opts->max_queue_entries = 1024;
	opts->mdts = 8;
}

static int
sim_ns_alloc(struct keel_nvme_sim *sim, uint32_t nsid, uint64_t size)
{
	struct sim_ns *ns = &sim->ns[nsid];
	uint8_t *data;

	if (size > ns->mapped_bytes) {
		/* Anonymous memory reads as zeroes and is only backed where it is written. */
		data = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (data == MAP_FAILED) {
			return -ENOMEM;
		}
		if (ns->data != NULL) {
			memcpy(data, ns->data, ns->size_bytes);
			munmap(ns->data, ns->mapped_bytes);
		}
		ns->data = data;
		ns->mapped_bytes = size;
	}
	ns->size_bytes = size;
	ns->active = true;
	return 0;
}

static void
sim_free(struct keel_nvme_sim *sim)
{
	uint32_t i;

	if (sim->thread_running) {
		__atomic_store_n(&sim->stop, true, __ATOMIC_RELEASE);
		pthread_join(sim->thread, NULL);
	}
	for (i = 0; i <= KEEL_NVME_SIM_MAX_NS; i++) {
		if (sim->ns[i].data != NULL) {
			munmap(sim->ns[i].data, sim->ns[i].mapped_bytes);
		}
	}
	free((void *)sim->bar);
	pthread_mutex_destroy(&sim->lock);
	free(sim);
}

int
keel_nvme_sim_create(const struct keel_nvme_sim_opts *opts, struct keel_nvme_sim **out)
{
	struct keel_nvme_sim *sim;
	uint32_t i;
	int rc;

	if (opts->index >= KEEL_NVME_SIM_MAX || opts->num_ns > KEEL_NVME_SIM_MAX_NS ||
	    (opts->block_size != 512 && opts->block_size != 4096) ||
	    opts->ns_size_bytes % opts->block_size != 0 ||
	    (opts->num_ns > 0 && opts->ns_size_bytes == 0) || opts->max_io_queues == 0 ||
	    opts->max_io_queues >= SIM_MAX_QUEUES || opts->max_queue_entries < 2 ||
	    opts->max_queue_entries > 4096 || opts->mdts > 12) {
		return -EINVAL;
	}
	sim = calloc(1, sizeof(*sim));
	if (sim == NULL) {
		return -ENOMEM;
	}
	sim->opts = *opts;
	pthread_mutex_init(&sim->lock, NULL);
	sim->bar = aligned_alloc(4096, SIM_BAR_SIZE);
	if (sim->bar == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	sim_regs_init(sim);
	for (i = 1; i <= opts->num_ns; i++) {
		rc = sim_ns_alloc(sim, i, opts->ns_size_bytes);
		if (rc != 0) {
			goto err_free;
		}
	}
	pthread_mutex_lock(&g_sims_lock);
	if (g_sims[opts->index] != NULL) {
		pthread_mutex_unlock(&g_sims_lock);
		rc = -EEXIST;
		goto err_free;
	}
	g_sims[opts->index] = sim;
	pthread_mutex_unlock(&g_sims_lock);
	if (!opts->manual) {
		rc = pthread_create(&sim->thread, NULL, sim_thread, sim);
		if (rc != 0) {
			pthread_mutex_lock(&g_sims_lock);
			g_sims[opts->index] = NULL;
			pthread_mutex_unlock(&g_sims_lock);
			rc = -rc;
			goto err_free;
		}
		sim->thread_running = true;
	}
	*out = sim;
	return 0;

err_free:
	sim_free(sim);
	return rc;
}

void
keel_nvme_sim_destroy(struct keel_nvme_sim *sim)
{
	bool attached;

	if (sim == NULL) {
		return;
	}
	keel_nvme_sim_remove(sim);
	pthread_mutex_lock(&g_sims_lock);
	if (g_sims[sim->opts.index] == sim) {
		g_sims[sim->opts.index] = NULL;
	}
	attached = sim->attached;
	sim->destroy_on_detach = attached;
	pthread_mutex_unlock(&g_sims_lock);
	if (!attached) {
		sim_free(sim);
	}
}

struct keel_nvme_sim *
keel_nvme_sim_get(uint32_t index)
{
	struct keel_nvme_sim *sim;

	if (index >= KEEL_NVME_SIM_MAX) {
		return NULL;
	}
	pthread_mutex_lock(&g_sims_lock);
	sim = g_sims[index];
	pthread_mutex_unlock(&g_sims_lock);
	return sim;
}

struct keel_nvme_sim *
keel_nvme_sim_find(const char *addr)
{
	uint32_t index;

	return sim_addr_index(addr, &index) == 0 ? keel_nvme_sim_get(index) : NULL;
}

uint32_t
keel_nvme_sim_get_index(const struct keel_nvme_sim *sim)
{
	return sim->opts.index;
}

void
keel_nvme_sim_set_paused(struct keel_nvme_sim *sim, bool paused)
{
	__atomic_store_n(&sim->paused, paused, __ATOMIC_RELEASE);
	/* Wait out a poll in progress, so that the caller owns the controller on return. */
	pthread_mutex_lock(&sim->lock);
	pthread_mutex_unlock(&sim->lock);
}

void
keel_nvme_sim_remove(struct keel_nvme_sim *sim)
{
	pthread_mutex_lock(&sim->lock);
	if (!sim->removed) {
		/* A device that left the bus answers every read with all ones. */
		memset((void *)sim->bar, 0xff, SIM_BAR_SIZE);
		__atomic_store_n(&sim->removed, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&sim->lock);
}

void
keel_nvme_sim_set_fatal(struct keel_nvme_sim *sim)
{
	pthread_mutex_lock(&sim->lock);
	if (!sim->removed) {
		sim->fatal = true;
		reg_set32(sim, KEEL_NVME_REG_CSTS,
			  reg_get32(sim, KEEL_NVME_REG_CSTS) | KEEL_NVME_CSTS_CFS);
	}
	pthread_mutex_unlock(&sim->lock);
}

static int
sim_inject(struct keel_nvme_sim *sim, const struct sim_inject *in)
{
	int rc = 0;

	pthread_mutex_lock(&sim->lock);
	if (sim->inject_count >= SIM_MAX_INJECT) {
		rc = -ENOSPC;
	} else {
		sim->inject[sim->inject_count++] = *in;
	}
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

int
keel_nvme_sim_inject_error(struct keel_nvme_sim *sim, bool admin, uint8_t opc, uint8_t sct,
			   uint8_t sc, uint32_t count)
{
	struct sim_inject in = {.admin = admin, .opc = opc, .count = count};

	if (count == 0 || sct > 7 || (sct == 0 && sc == 0)) {
		return -EINVAL;
	}
	in.status = KEEL_NVME_STATUS(sct, sc, false);
	return sim_inject(sim, &in);
}

int
keel_nvme_sim_inject_timeout(struct keel_nvme_sim *sim, bool admin, uint8_t opc, uint32_t count)
{
	struct sim_inject in = {.admin = admin, .opc = opc, .count = count, .timeout = true};

	if (count == 0) {
		return -EINVAL;
	}
	return sim_inject(sim, &in);
}

void
keel_nvme_sim_clear_injections(struct keel_nvme_sim *sim)
{
	pthread_mutex_lock(&sim->lock);
	sim->inject_count = 0;
	pthread_mutex_unlock(&sim->lock);
}

int
keel_nvme_sim_ns_set(struct keel_nvme_sim *sim, uint32_t nsid, uint64_t size_bytes)
{
	int rc = 0;
	uint32_t i;

	if (nsid == 0 || nsid > KEEL_NVME_SIM_MAX_NS || size_bytes % sim->opts.block_size != 0) {
		return -EINVAL;
	}
	pthread_mutex_lock(&sim->lock);
	if (size_bytes == 0) {
		sim->ns[nsid].active = false;
	} else {
		rc = sim_ns_alloc(sim, nsid, size_bytes);
	}
	if (rc == 0) {
		for (i = 0; i < sim->changed_count && sim->changed_ns[i] != nsid; i++) {
		}
		if (i == sim->changed_count && sim->changed_count < KEEL_NVME_SIM_MAX_NS) {
			sim->changed_ns[sim->changed_count++] = nsid;
		}
		sim->event_pending = true;
	}
	pthread_mutex_unlock(&sim->lock);
	return rc;
}

void
keel_nvme_sim_get_stats(struct keel_nvme_sim *sim, struct keel_nvme_sim_stats *stats)
{
	pthread_mutex_lock(&sim->lock);
	*stats = sim->stats;
	stats->held = sim->held_count;
	pthread_mutex_unlock(&sim->lock);
}

int
keel_nvme_sim_ns_access(struct keel_nvme_sim *sim, uint32_t nsid, uint64_t offset, void *buf,
			size_t len, bool write)
{
	int rc = 0;

	if (nsid == 0 || nsid > KEEL_NVME_SIM_MAX_NS) {
		return -EINVAL;
	}
	pthread_mutex_lock(&sim->lock);
	if (!sim->ns[nsid].active || offset + len > sim->ns[nsid].size_bytes) {
		rc = -EINVAL;
	} else if (write) {
		memcpy(sim->ns[nsid].data + offset, buf, len);
	} else {
		memcpy(buf, sim->ns[nsid].data + offset, len);
	}
	pthread_mutex_unlock(&sim->lock);
	return rc;
}
