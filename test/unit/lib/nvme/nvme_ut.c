/*
 * Unit tests of the NVMe driver against the software controller, both compiled in: bring-up,
 * identify, queue pairs, PRP lists and SGLs, batched doorbells, every I/O command, injected
 * errors, timeouts with abort, fatal status with reset, surprise removal with I/O in flight,
 * namespace-change events and the shutdown notification. DMA memory is lib/env's (--no-huge).
 */
#include "keel/stdinc.h"
#include "ut.h"

#include "keel/env.h"
#include "keel/nvme.h"
#include "keel/nvme_sim.h"
#include "keel/pci.h"

#include "nvme/nvme_ctrlr.c"
#include "nvme/nvme_ns_cmd.c"
#include "nvme/nvme_qpair.c"
#include "nvme/nvme_sim.c"

struct io_result {
	int done;
	struct keel_nvme_cpl cpl;
};

static void
io_done(void *arg, const struct keel_nvme_cpl *cpl)
{
	struct io_result *r = arg;

	r->cpl = *cpl;
	r->done++;
}

static struct keel_nvme_sim *
sim_new(uint32_t index, bool sgl)
{
	struct keel_nvme_sim_opts o;
	struct keel_nvme_sim *sim = NULL;

	keel_nvme_sim_opts_init(&o);
	o.index = index;
	o.ns_size_bytes = 8ull << 20;
	o.sgl = sgl;
	o.max_io_queues = 4;
	o.max_queue_entries = 64;
	CU_ASSERT_FATAL(keel_nvme_sim_create(&o, &sim) == 0);
	return sim;
}

static struct keel_nvme_ctrlr *
ctrlr_attach(uint32_t index)
{
	struct keel_nvme_transport_id trid;
	struct keel_nvme_ctrlr *ctrlr = NULL;
	char str[64];

	snprintf(str, sizeof(str), "trtype:PCIe traddr:sim:%u", index);
	CU_ASSERT_FATAL(keel_nvme_transport_id_parse(&trid, str) == 0);
	CU_ASSERT_FATAL(keel_nvme_ctrlr_attach(&trid, NULL, &ctrlr) == 0);
	return ctrlr;
}

/* Poll the pair until n more commands completed (or 5 s passed). */
static void
wait_done(struct keel_nvme_qpair *qpair, struct io_result *r, int n)
{
	uint64_t deadline = keel_get_ticks() + 5 * keel_get_ticks_hz();

	while (r->done < n && keel_get_ticks() < deadline) {
		keel_nvme_qpair_process_completions(qpair, 0);
	}
	CU_ASSERT(r->done == n);
}

static void *
dma_buf(size_t len, uint8_t fill)
{
	void *buf = keel_dma_zmalloc(len, 4096, NULL);

	CU_ASSERT_FATAL(buf != NULL);
	memset(buf, fill, len);
	return buf;
}

static void
transport_id_parse_accepts_spdk_forms_and_rejects_others(void)
{
	struct keel_nvme_transport_id t, u;

	CU_ASSERT(keel_nvme_transport_id_parse(&t, "trtype:PCIe traddr:0000:01:00.0") == 0);
	CU_ASSERT(strcmp(t.trtype, "PCIe") == 0 && strcmp(t.traddr, "0000:01:00.0") == 0);
	CU_ASSERT(keel_nvme_transport_id_parse(&u, "TrAddr:01:00.0  trtype:pcie") == 0);
	CU_ASSERT(keel_nvme_transport_id_equal(&t, &u));
	CU_ASSERT(keel_nvme_transport_id_parse(&t, "traddr:sim:3") == 0);
	CU_ASSERT(strcmp(t.traddr, "sim:3") == 0 && strcmp(t.trtype, "PCIe") == 0);
	CU_ASSERT(keel_nvme_transport_id_parse(&t, "trtype:RDMA traddr:1.2.3.4") == -EINVAL);
	CU_ASSERT(keel_nvme_transport_id_parse(&t, "trtype:PCIe") == -EINVAL);
	CU_ASSERT(keel_nvme_transport_id_parse(&t, "trtype:PCIe bogus:1 traddr:sim:0") == -EINVAL);
	CU_ASSERT(keel_nvme_transport_id_parse(&t, "") == -EINVAL);
	CU_ASSERT(keel_nvme_transport_id_parse(&t, NULL) == -EINVAL);
}

static void
pci_lists_filter_sysfs_addresses_only(void)
{
	keel_pci_lists_clear();
	CU_ASSERT(keel_pci_addr_allowed("0000:01:00.0"));
	CU_ASSERT(keel_pci_blocked_add("01:00.0") == 0);
	CU_ASSERT(!keel_pci_addr_allowed("0000:01:00.0"));
	CU_ASSERT(keel_pci_addr_allowed("0000:02:00.0"));
	CU_ASSERT(keel_pci_allowed_add("0000:03:00.0") == 0);
	CU_ASSERT(!keel_pci_addr_allowed("0000:02:00.0"));
	CU_ASSERT(keel_pci_addr_allowed("0000:03:00.0"));
	CU_ASSERT(keel_pci_addr_allowed("sim:0"));
	CU_ASSERT(keel_pci_allowed_add("not-an-address") == -EINVAL);
	CU_ASSERT(keel_pci_dev_attach("0000:01:00.0", &(struct keel_pci_dev *){NULL}) == -EPERM);
	keel_pci_lists_clear();
	CU_ASSERT(keel_pci_dev_attach("bogus", &(struct keel_pci_dev *){NULL}) == -EINVAL);
}

static int
count_probe(void *ctx, const struct keel_nvme_transport_id *trid)
{
	if (strncmp(trid->traddr, "sim:", 4) == 0) {
		(*(int *)ctx)++;
	}
	return 0;
}

static void
probe_finds_software_controllers_and_skips_removed_ones(void)
{
	struct keel_nvme_sim *a = sim_new(10, false), *b = sim_new(11, false);
	int n = 0;

	keel_nvme_probe(count_probe, &n);
	CU_ASSERT(n == 2);
	keel_nvme_sim_remove(b);
	n = 0;
	keel_nvme_probe(count_probe, &n);
	CU_ASSERT(n == 1);
	CU_ASSERT(keel_pci_addr_present("sim:10") && !keel_pci_addr_present("sim:11"));
	keel_nvme_sim_destroy(a);
	keel_nvme_sim_destroy(b);
	CU_ASSERT(!keel_pci_addr_present("sim:10"));
}

static void
attach_brings_up_identifies_and_shutdown_is_notified_on_detach(void)
{
	struct keel_nvme_sim *sim = sim_new(0, false);
	struct keel_nvme_sim_stats st;
	struct keel_nvme_ctrlr *ctrlr = ctrlr_attach(0);
	struct keel_nvme_transport_id trid;
	struct keel_nvme_ctrlr *again = NULL;
	struct keel_nvme_ns *ns;

	CU_ASSERT(strncmp(keel_nvme_ctrlr_get_data(ctrlr)->mn, "keel simulated", 14) == 0);
	CU_ASSERT(keel_nvme_ctrlr_get_num_ns(ctrlr) == KEEL_NVME_SIM_MAX_NS);
	CU_ASSERT(keel_nvme_ctrlr_get_num_io_queues(ctrlr) == 4);
	CU_ASSERT(keel_nvme_ctrlr_get_max_xfer_size(ctrlr) == 1u << 20);
	ns = keel_nvme_ctrlr_get_ns(ctrlr, 1);
	CU_ASSERT_FATAL(ns != NULL);
	CU_ASSERT(keel_nvme_ns_is_active(ns));
	CU_ASSERT(keel_nvme_ns_get_sector_size(ns) == 512);
	CU_ASSERT(keel_nvme_ns_get_num_sectors(ns) == (8u << 20) / 512);
	CU_ASSERT(!keel_nvme_ns_is_active(keel_nvme_ctrlr_get_ns(ctrlr, 2)));
	CU_ASSERT(keel_nvme_ctrlr_get_ns(ctrlr, 0) == NULL);
	CU_ASSERT(keel_nvme_ctrlr_get_ns(ctrlr, KEEL_NVME_SIM_MAX_NS + 1) == NULL);
	/* One driver at a time. */
	keel_nvme_transport_id_parse(&trid, "traddr:sim:0");
	CU_ASSERT(keel_nvme_ctrlr_attach(&trid, NULL, &again) == -EBUSY);
	keel_nvme_transport_id_parse(&trid, "traddr:sim:9");
	CU_ASSERT(keel_nvme_ctrlr_attach(&trid, NULL, &again) == -ENOENT);
	keel_nvme_sim_get_stats(sim, &st);
	CU_ASSERT(st.enables == 1 && st.shutdowns == 0);
	keel_nvme_ctrlr_detach(ctrlr);
	keel_nvme_sim_get_stats(sim, &st);
	CU_ASSERT(st.shutdowns == 1);
	keel_nvme_sim_destroy(sim);
}

static void
io_queue_pairs_are_limited_to_what_the_controller_grants(void)
{
	struct keel_nvme_sim *sim = sim_new(1, false);
	struct keel_nvme_ctrlr *ctrlr = ctrlr_attach(1);
	struct keel_nvme_qpair *q[5];
	struct keel_nvme_sim_stats st;
	int i;

	for (i = 0; i < 4; i++) {
		q[i] = keel_nvme_ctrlr_alloc_io_qpair(ctrlr);
		CU_ASSERT_FATAL(q[i] != NULL);
		CU_ASSERT(keel_nvme_qpair_get_id(q[i]) == i + 1);
	}
	CU_ASSERT(keel_nvme_ctrlr_alloc_io_qpair(ctrlr) == NULL);
	keel_nvme_sim_get_stats(sim, &st);
	CU_ASSERT(st.io_queues == 4);
	keel_nvme_ctrlr_free_io_qpair(q[1]);
	keel_nvme_sim_get_stats(sim, &st);
	CU_ASSERT(st.io_queues == 3);
	q[1] = keel_nvme_ctrlr_alloc_io_qpair(ctrlr);
	CU_ASSERT(q[1] != NULL && keel_nvme_qpair_get_id(q[1]) == 2);
	/* Detach frees the pairs still allocated. */
	keel_nvme_ctrlr_detach(ctrlr);
	keel_nvme_sim_destroy(sim);
}

static void
doorbell_is_rung_once_per_poll_and_completions_follow_the_phase(void)
{
	struct keel_nvme_sim *sim = sim_new(2, false);
	struct keel_nvme_ctrlr *ctrlr = ctrlr_attach(2);
	struct keel_nvme_qpair *qpair = keel_nvme_ctrlr_alloc_io_qpair(ctrlr);
	struct keel_nvme_ns *ns = keel_nvme_ctrlr_get_ns(ctrlr, 1);
	struct io_result r = {0};
	uint8_t *buf = dma_buf(4096, 0x5a), check[512];
	struct iovec iov = {buf, 512};
	int i, round;

	CU_ASSERT_FATAL(qpair != NULL);
	keel_nvme_sim_set_paused(sim, true);
	/* More rounds than queue entries, so the phase bit flips several times. */
	for (round = 0; round < 40; round++) {
		for (i = 0; i < 3; i++) {
			CU_ASSERT(keel_nvme_ns_cmd_writev(ns, qpair, (uint64_t)round * 3 + i, 1,
							  &iov, 1, 0, io_done, &r) == 0);
		}
		CU_ASSERT(*qpair->sq_db == (uint32_t)(round * 3) % 64);
		CU_ASSERT(!keel_nvme_sim_poll(sim)); /* nothing rung yet */
		CU_ASSERT(keel_nvme_qpair_process_completions(qpair, 0) == 0);
		CU_ASSERT(*qpair->sq_db == (uint32_t)(round * 3 + 3) % 64);
		CU_ASSERT(keel_nvme_sim_poll(sim));
		CU_ASSERT(r.done == round * 3); /* completions wait for the next poll */
		CU_ASSERT(keel_nvme_qpair_process_completions(qpair, 0) == 3);
		CU_ASSERT(r.done == round * 3 + 3);
		CU_ASSERT(*qpair->cq_db == qpair->cq_head);
	}
	CU_ASSERT(!KEEL_NVME_CPL_IS_ERROR(&r.cpl));
	CU_ASSERT(keel_nvme_sim_ns_access(sim, 1, 119 * 512, check, 512, false) == 0);
	CU_ASSERT(check[0] == 0x5a && check[511] == 0x5a);
	keel_nvme_sim_set_paused(sim, false);
	keel_nvme_ctrlr_detach(ctrlr);
	keel_nvme_sim_destroy(sim);
	keel_dma_free(buf);
}

static void
one_mib_read_and_write_use_a_prp_list(void)
{
	struct keel_nvme_sim *sim = sim_new(3, false);
	struct keel_nvme_ctrlr *ctrlr = ctrlr_attach(3);
	struct keel_nvme_qpair *qpair = keel_nvme_ctrlr_alloc_io_qpair(ctrlr);
	struct keel_nvme_ns *ns = keel_nvme_ctrlr_get_ns(ctrlr, 1);
	size_t len = 1u << 20;
	uint8_t *wbuf = dma_buf(len, 0), *rbuf = dma_buf(len, 0);
	struct iovec wiov[2] = {{wbuf, len / 2}, {wbuf + len / 2, len / 2}};
	struct iovec riov = {rbuf, len};
	struct io_result r = {0};
	size_t i;

	for (i = 0; i < len; i++) {
		wbuf[i] = (uint8_t)(i * 7 + i / 4096);
	}
	CU_ASSERT(keel_nvme_ns_cmd_writev(ns, qpair, 2048, len / 512, wiov, 2, 0, io_done, &r) ==
		  0);
	wait_done(qpair, &r, 1);
	CU_ASSERT(!KEEL_NVME_CPL_IS_ERROR(&r.cpl));
	CU_ASSERT(keel_nvme_ns_cmd_readv(ns, qpair, 2048, len / 512, &riov, 1, 0, io_done, &r) ==
		  0);
	wait_done(qpair, &r, 2);
	CU_ASSERT(!KEEL_NVME_CPL_IS_ERROR(&r.cpl));
	CU_ASSERT(memcmp(wbuf, rbuf, len) == 0);
	/* Past the transfer size, past the end, or a buffer layout PRPs cannot describe. */
	riov.iov_len = 2 * len;
	CU_ASSERT(keel_nvme_ns_cmd_readv(ns, qpair, 0, 2 * len / 512, &riov, 1, 0, io_done, &r) ==
		  -EINVAL);
	CU_ASSERT(keel_nvme_ns_cmd_readv(ns, qpair, (8u << 20) / 512, 1, &riov, 1, 0, io_done,
					 &r) == -EINVAL);
	wiov[0].iov_len = 512;
	wiov[1].iov_base = wbuf + 4096 + 512;
	CU_ASSERT(keel_nvme_ns_cmd_writev(ns, qpair, 0, 2, wiov, 2, 0, io_done, &r) == -EINVAL);
	keel_nvme_ctrlr_detach(ctrlr);
	keel_nvme_sim_destroy(sim);
	keel_dma_free(wbuf);
	keel_dma_free(rbuf);
}

static void
unaligned_buffers_go_as_an_sgl_when_the_controller_takes_them(void)
{
	struct keel_nvme_sim *sim = sim_new(4, true);
	struct keel_nvme_ctrlr *ctrlr = ctrlr_attach(4);
	struct keel_nvme_qpair *qpair = keel_nvme_ctrlr_alloc_io_qpair(ctrlr);
	struct keel_nvme_ns *ns = keel_nvme_ctrlr_get_ns(ctrlr, 1);
	uint8_t *buf = dma_buf(16384, 0x11), *rbuf = dma_buf(16384, 0), check[1536];
	struct iovec iov[3] = {{buf + 4, 500}, {buf + 5000, 1000}, {buf + 9000, 36}};
	struct iovec riov = {rbuf, 1536};
	struct io_result r = {0};

	memset(buf + 5000, 0x22, 1000);
	memset(buf + 9000, 0x33, 36);
	CU_ASSERT(keel_nvme_ns_cmd_writev(ns, qpair, 10, 3, iov, 3, 0, io_done, &r) == 0);
	wait_done(qpair, &r, 1);
	CU_ASSERT(!KEEL_NVME_CPL_IS_ERROR(&r.cpl));
	CU_ASSERT(keel_nvme_sim_ns_access(sim, 1, 10 * 512, check, sizeof(check), false) == 0);
	CU_ASSERT(check[0] == 0x11 && check[499] == 0x11 && check[500] == 0x22 &&
		  check[1499] == 0x22 && check[1500] == 0x33 && check[1535] == 0x33);
	CU_ASSERT(keel_nvme_ns_cmd_readv(ns, qpair, 10, 3, &riov, 1, 0, io_done, &r) == 0);
	wait_done(qpair, &r, 2);
	CU_ASSERT(memcmp(rbuf, check, sizeof(check)) == 0);
	keel_nvme_ctrlr_detach(ctrlr);
	keel_nvme_sim_destroy(sim);
	keel_dma_free(buf);
	keel_dma_free(rbuf);
}

static void
compare_and_fused_compare_and_write_write_only_on_a_match(void)
{
	struct keel_nvme_sim *sim = sim_new(5, false);
	struct keel_nvme_ctrlr *ctrlr = ctrlr_attach(5);
	struct keel_nvme_qpair *qpair = keel_nvme_ctrlr_alloc_io_qpair(ctrlr);
	struct keel_nvme_ns *ns = keel_nvme_ctrlr_get_ns(ctrlr, 1);
	uint8_t *old = dma_buf(4096, 0xaa), *new = dma_buf(4096, 0xbb), check[512];
	struct iovec oiov = {old, 512}, niov = {new, 512};
	struct io_result r = {0};

	keel_nvme_sim_ns_access(sim, 1, 0, old, 512, true);
	CU_ASSERT(keel_nvme_ns_cmd_comparev(ns, qpair, 0, 1, &oiov, 1, io_done, &r) == 0);
	wait_done(qpair, &r, 1);
	CU_ASSERT(!KEEL_NVME_CPL_IS_ERROR(&r.cpl));
	CU_ASSERT(keel_nvme_ns_cmd_comparev(ns, qpair, 0, 1, &niov, 1, io_done, &r) == 0);
	wait_done(qpair, &r, 2);
	CU_ASSERT(KEEL_NVME_CPL_SCT(&r.cpl) == KEEL_NVME_SCT_MEDIA_ERROR &&
		  KEEL_NVME_CPL_SC(&r.cpl) == KEEL_NVME_SC_COMPARE_FAILURE);
	/* Mismatch: nothing written, the compare's status comes back. */
	CU_ASSERT(keel_nvme_ns_cmd_compare_and_writev(ns, qpair, 0, 1, &niov, 1, &niov, 1, 0,
						      io_done, &r) == 0);
	wait_done(qpair, &r, 3);
	CU_ASSERT(KEEL_NVME_CPL_SC(&r.cpl) == KEEL_NVME_SC_COMPARE_FAILURE);
	keel_nvme_sim_ns_access(sim, 1, 0, check, 512, false);
	CU_ASSERT(check[0] == 0xaa);
	/* Match: written. */
	CU_ASSERT(keel_nvme_ns_cmd_compare_and_writev(ns, qpair, 0, 1, &oiov, 1, &niov, 1, 0,
						      io_done, &r) == 0);
	wait_done(qpair, &r, 4);
	CU_ASSERT(!KEEL_NVME_CPL_IS_ERROR(&r.cpl));
	keel_nvme_sim_ns_access(sim, 1, 0, check, 512, false);
	CU_ASSERT(check[0] == 0xbb && check[511] == 0xbb);
	CU_ASSERT(keel_nvme_qpair_get_outstanding(qpair) == 0);
	keel_nvme_ctrlr_detach(ctrlr);
	keel_nvme_sim_destroy(sim);
	keel_dma_free(old);
	keel_dma_free(new);
}

static void
flush_write_zeroes_and_deallocate_reach_the_controller(void)
{
	struct keel_nvme_sim *sim = sim_new(6, false);
	struct keel_nvme_ctrlr *ctrlr = ctrlr_attach(6);
	struct keel_nvme_qpair *qpair = keel_nvme_ctrlr_alloc_io_qpair(ctrlr);
	struct keel_nvme_ns *ns = keel_nvme_ctrlr_get_ns(ctrlr, 1);
	struct keel_nvme_dsm_range range = {.starting_lba = 8, .length = 8};
	uint8_t ones[8192], check[8192];
	struct io_result r = {0};

	memset(ones, 0xff, sizeof(ones));
	keel_nvme_sim_ns_access(sim, 1, 0, ones, sizeof(ones), true);
	CU_ASSERT(keel_nvme_ns_cmd_write_zeroes(ns, qpair, 0, 4, 0, io_done, &r) == 0);
	CU_ASSERT(keel_nvme_ns_cmd_deallocate(ns, qpair, &range, 1, io_done, &r) == 0);
	CU_ASSERT(keel_nvme_ns_cmd_flush(ns, qpair, io_done, &r) == 0);
	wait_done(qpair, &r, 3);
	CU_ASSERT(!KEEL_NVME_CPL_IS_ERROR(&r.cpl));
	keel_nvme_sim_ns_access(sim, 1, 0, check, sizeof(check), false);
	CU_ASSERT(check[0] == 0 && check[2047] == 0 && check[2048] == 0xff && check[4095] == 0xff &&
		  check[4096] == 0 && check[8191] == 0);
	range.length = (uint32_t)keel_nvme_ns_get_num_sectors(ns);
	CU_ASSERT(keel_nvme_ns_cmd_deallocate(ns, qpair, &range, 1, io_done, &r) == -EINVAL);
	CU_ASSERT(keel_nvme_ns_cmd_deallocate(ns, qpair, &range, 0, io_done, &r) == -EINVAL);
	keel_nvme_ctrlr_detach(ctrlr);
	keel_nvme_sim_destroy(sim);
}

static void
injected_error_status_reaches_the_callback_and_slots_run_out_with_enomem(void)
{
	struct keel_nvme_sim *sim = sim_new(7, false);
	struct keel_nvme_ctrlr *ctrlr = ctrlr_attach(7);
	struct keel_nvme_qpair *qpair = keel_nvme_ctrlr_alloc_io_qpair(ctrlr);
	struct keel_nvme_ns *ns = keel_nvme_ctrlr_get_ns(ctrlr, 1);
	uint8_t *buf = dma_buf(4096, 0);
	struct iovec iov = {buf, 512};
	struct io_result r = {0};
	int i, rc = 0;

	CU_ASSERT(keel_nvme_sim_inject_error(sim, false, KEEL_NVME_OPC_READ,
					     KEEL_NVME_SCT_MEDIA_ERROR,
					     KEEL_NVME_SC_UNRECOVERED_READ_ERROR, 1) == 0);
	CU_ASSERT(keel_nvme_ns_cmd_readv(ns, qpair, 0, 1, &iov, 1, 0, io_done, &r) == 0);
	wait_done(qpair, &r, 1);
	CU_ASSERT(KEEL_NVME_CPL_SCT(&r.cpl) == KEEL_NVME_SCT_MEDIA_ERROR &&
		  KEEL_NVME_CPL_SC(&r.cpl) == KEEL_NVME_SC_UNRECOVERED_READ_ERROR);
	CU_ASSERT(keel_nvme_ns_cmd_readv(ns, qpair, 0, 1, &iov, 1, 0, io_done, &r) == 0);
	wait_done(qpair, &r, 2);
	CU_ASSERT(!KEEL_NVME_CPL_IS_ERROR(&r.cpl));
	/* A 64-entry queue has 63 slots. */
	keel_nvme_sim_set_paused(sim, true);
	for (i = 0; i < 64 && rc == 0; i++) {
		rc = keel_nvme_ns_cmd_readv(ns, qpair, 0, 1, &iov, 1, 0, io_done, &r);
	}
	CU_ASSERT(rc == -ENOMEM && i == 64);
	keel_nvme_sim_set_paused(sim, false);
	wait_done(qpair, &r, 2 + 63);
	keel_nvme_ctrlr_detach(ctrlr);
	keel_nvme_sim_destroy(sim);
	keel_dma_free(buf);
}

struct timeout_ctx {
	int count;
	uint16_t cid;
	struct keel_nvme_qpair *qpair;
	struct io_result abort;
};

static void
on_timeout(void *ctx, struct keel_nvme_ctrlr *ctrlr, struct keel_nvme_qpair *qpair, uint16_t cid)
{
	struct timeout_ctx *t = ctx;

	t->count++;
	t->cid = cid;
	t->qpair = qpair;
	CU_ASSERT(keel_nvme_ctrlr_cmd_abort(ctrlr, qpair, cid, io_done, &t->abort) == 0);
}

static void
timed_out_command_is_reported_once_and_aborted(void)
{
	struct keel_nvme_sim *sim = sim_new(8, false);
	struct keel_nvme_ctrlr *ctrlr = ctrlr_attach(8);
	struct keel_nvme_qpair *qpair = keel_nvme_ctrlr_alloc_io_qpair(ctrlr);
	struct keel_nvme_ns *ns = keel_nvme_ctrlr_get_ns(ctrlr, 1);
	uint8_t *buf = dma_buf(4096, 0);
	struct iovec iov = {buf, 512};
	struct io_result r = {0};
	struct timeout_ctx t = {0};
	struct keel_nvme_sim_stats st;
	uint64_t deadline = keel_get_ticks() + 5 * keel_get_ticks_hz();

	keel_nvme_ctrlr_register_timeout_callback(ctrlr, 20000, on_timeout, &t);
	keel_nvme_sim_inject_timeout(sim, false, KEEL_NVME_OPC_WRITE, 1);
	CU_ASSERT(keel_nvme_ns_cmd_writev(ns, qpair, 0, 1, &iov, 1, 0, io_done, &r) == 0);
	while (r.done == 0 && keel_get_ticks() < deadline) {
		keel_nvme_qpair_process_completions(qpair, 0);
		keel_nvme_ctrlr_process_admin_completions(ctrlr);
	}
	CU_ASSERT(t.count == 1 && t.qpair == qpair);
	CU_ASSERT(r.done == 1);
	CU_ASSERT(KEEL_NVME_CPL_SC(&r.cpl) == KEEL_NVME_SC_ABORTED_BY_REQUEST);
	while (t.abort.done == 0 && keel_get_ticks() < deadline) {
		keel_nvme_ctrlr_process_admin_completions(ctrlr);
	}
	CU_ASSERT(t.abort.done == 1 && (t.abort.cpl.cdw0 & 1) == 0);
	keel_nvme_sim_get_stats(sim, &st);
	CU_ASSERT(st.aborts == 1 && st.held == 0);
	keel_nvme_ctrlr_detach(ctrlr);
	keel_nvme_sim_destroy(sim);
	keel_dma_free(buf);
}

static void
fatal_status_is_cured_by_reset_with_queued_io_failed_and_queues_recreated(void)
{
	struct keel_nvme_sim *sim = sim_new(9, false);
	struct keel_nvme_ctrlr *ctrlr = ctrlr_attach(9);
	struct keel_nvme_qpair *qpair = keel_nvme_ctrlr_alloc_io_qpair(ctrlr);
	struct keel_nvme_ns *ns = keel_nvme_ctrlr_get_ns(ctrlr, 1);
	uint8_t *buf = dma_buf(4096, 0x77);
	struct iovec iov = {buf, 512};
	struct io_result r = {0};
	struct keel_nvme_sim_stats st;

	keel_nvme_sim_set_fatal(sim);
	CU_ASSERT(keel_nvme_ctrlr_process_admin_completions(ctrlr) == -EIO);
	CU_ASSERT(keel_nvme_ctrlr_is_failed(ctrlr));
	CU_ASSERT(keel_nvme_ns_cmd_writev(ns, qpair, 0, 1, &iov, 1, 0, io_done, &r) == 0);
	CU_ASSERT(keel_nvme_qpair_process_completions(qpair, 0) == 0);
	CU_ASSERT(keel_nvme_ctrlr_reset(ctrlr) == -EBUSY);
	keel_nvme_qpair_disconnect(qpair);
	CU_ASSERT(r.done == 1 && KEEL_NVME_CPL_SC(&r.cpl) == KEEL_NVME_SC_ABORTED_SQ_DELETION &&
		  !KEEL_NVME_CPL_DNR(&r.cpl));
	CU_ASSERT(keel_nvme_ns_cmd_writev(ns, qpair, 0, 1, &iov, 1, 0, io_done, &r) == -ENXIO);
	CU_ASSERT(keel_nvme_qpair_process_completions(qpair, 0) == -ENXIO);
	CU_ASSERT(keel_nvme_ctrlr_reset(ctrlr) == 0);
	CU_ASSERT(!keel_nvme_ctrlr_is_failed(ctrlr));
	CU_ASSERT(keel_nvme_qpair_reconnect(qpair) == 0);
	CU_ASSERT(keel_nvme_ns_cmd_writev(ns, qpair, 0, 1, &iov, 1, 0, io_done, &r) == 0);
	wait_done(qpair, &r, 2);
	CU_ASSERT(!KEEL_NVME_CPL_IS_ERROR(&r.cpl));
	CU_ASSERT(keel_nvme_ctrlr_process_admin_completions(ctrlr) >= 0);
	keel_nvme_sim_get_stats(sim, &st);
	CU_ASSERT(st.enables == 2 && st.io_queues == 1);
	keel_nvme_ctrlr_detach(ctrlr);
	keel_nvme_sim_destroy(sim);
	keel_dma_free(buf);
}

static void
surprise_removal_completes_every_outstanding_command(void)
{
	struct keel_nvme_sim *sim = sim_new(12, false);
	struct keel_nvme_ctrlr *ctrlr = ctrlr_attach(12);
	struct keel_nvme_qpair *qpair = keel_nvme_ctrlr_alloc_io_qpair(ctrlr);
	struct keel_nvme_ns *ns = keel_nvme_ctrlr_get_ns(ctrlr, 1);
	size_t len = 1u << 20;
	uint8_t *buf = dma_buf(len, 0);
	struct iovec iov = {buf, len};
	struct io_result r = {0};
	int i;

	keel_nvme_sim_set_paused(sim, true);
	for (i = 0; i < 32; i++) {
		CU_ASSERT(keel_nvme_ns_cmd_readv(ns, qpair, 0, len / 512, &iov, 1, 0, io_done,
						 &r) == 0);
	}
	keel_nvme_qpair_process_completions(qpair, 0);
	/* The device goes; its memory stays mapped until the driver lets go. */
	keel_nvme_sim_destroy(sim);
	CU_ASSERT(keel_nvme_ctrlr_process_admin_completions(ctrlr) == -ENXIO);
	CU_ASSERT(keel_nvme_ctrlr_is_removed(ctrlr));
	CU_ASSERT(keel_nvme_qpair_process_completions(qpair, 0) == -ENXIO);
	CU_ASSERT(r.done == 32 && KEEL_NVME_CPL_SC(&r.cpl) == KEEL_NVME_SC_ABORTED_SQ_DELETION);
	CU_ASSERT(keel_nvme_qpair_get_outstanding(qpair) == 0);
	CU_ASSERT(keel_nvme_ns_cmd_readv(ns, qpair, 0, 1, &iov, 1, 0, io_done, &r) == -ENXIO);
	CU_ASSERT(keel_nvme_ctrlr_reset(ctrlr) == -EBUSY || keel_nvme_ctrlr_reset(ctrlr) == -ENXIO);
	keel_nvme_ctrlr_detach(ctrlr);
	keel_dma_free(buf);
}

struct ns_events {
	int aers;
	int changed;
	uint32_t last_nsid;
};

static void
on_ns_changed(void *ctx, struct keel_nvme_ns *ns)
{
	struct ns_events *e = ctx;

	e->changed++;
	e->last_nsid = keel_nvme_ns_get_id(ns);
}

static void
on_aer(void *ctx, const struct keel_nvme_cpl *cpl)
{
	struct ns_events *e = ctx;

	CU_ASSERT(KEEL_NVME_AER_TYPE(cpl->cdw0) == KEEL_NVME_AER_TYPE_NOTICE);
	CU_ASSERT(KEEL_NVME_AER_LOG_PAGE(cpl->cdw0) == KEEL_NVME_LOG_CHANGED_NS_LIST);
	e->aers++;
}

static void
wait_aer(struct keel_nvme_ctrlr *ctrlr, struct ns_events *e, int n)
{
	uint64_t deadline = keel_get_ticks() + 5 * keel_get_ticks_hz();

	while (e->aers < n && keel_get_ticks() < deadline) {
		keel_nvme_ctrlr_process_admin_completions(ctrlr);
	}
	CU_ASSERT(e->aers == n);
}

static void
namespace_changes_arrive_as_events_and_reidentify(void)
{
	struct keel_nvme_sim *sim = sim_new(13, false);
	struct keel_nvme_ctrlr *ctrlr = ctrlr_attach(13);
	struct ns_events e = {0};
	int i;

	keel_nvme_ctrlr_register_aer_callback(ctrlr, on_aer, &e);
	/* Attach namespace 2. */
	CU_ASSERT(keel_nvme_sim_ns_set(sim, 2, 1 << 20) == 0);
	wait_aer(ctrlr, &e, 1);
	CU_ASSERT(keel_nvme_ctrlr_update_namespaces(ctrlr, on_ns_changed, &e) == 0);
	CU_ASSERT(e.changed == 1 && e.last_nsid == 2);
	CU_ASSERT(keel_nvme_ns_is_active(keel_nvme_ctrlr_get_ns(ctrlr, 2)));
	CU_ASSERT(keel_nvme_ns_get_num_sectors(keel_nvme_ctrlr_get_ns(ctrlr, 2)) == 2048);
	/* Grow namespace 1. */
	CU_ASSERT(keel_nvme_sim_ns_set(sim, 1, 16 << 20) == 0);
	wait_aer(ctrlr, &e, 2);
	CU_ASSERT(keel_nvme_ctrlr_update_namespaces(ctrlr, on_ns_changed, &e) == 0);
	CU_ASSERT(e.changed == 2 && e.last_nsid == 1);
	CU_ASSERT(keel_nvme_ns_get_num_sectors(keel_nvme_ctrlr_get_ns(ctrlr, 1)) == 32768);
	/* Detach namespace 2; the requests are re-posted each time, so more events come. */
	for (i = 0; i < 5; i++) {
		CU_ASSERT(keel_nvme_sim_ns_set(sim, 2, i % 2 ? 1 << 20 : 0) == 0);
		wait_aer(ctrlr, &e, 3 + i);
	}
	CU_ASSERT(keel_nvme_ctrlr_update_namespaces(ctrlr, on_ns_changed, &e) == 0);
	CU_ASSERT(!keel_nvme_ns_is_active(keel_nvme_ctrlr_get_ns(ctrlr, 2)));
	keel_nvme_ctrlr_detach(ctrlr);
	keel_nvme_sim_destroy(sim);
}

static int
suite_init(void)
{
	struct keel_env_opts opts;

	keel_env_opts_init(&opts);
	opts.name = "nvme_ut";
	opts.no_huge = true;
	opts.no_pci = true;
	opts.mem_size_mb = 64;
	return keel_env_init(&opts) == 0 ? 0 : -1;
}

static int
suite_fini(void)
{
	keel_env_fini();
	return 0;
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(transport_id_parse_accepts_spdk_forms_and_rejects_others),
		KEEL_UT_TEST(pci_lists_filter_sysfs_addresses_only),
		KEEL_UT_TEST(probe_finds_software_controllers_and_skips_removed_ones),
		KEEL_UT_TEST(attach_brings_up_identifies_and_shutdown_is_notified_on_detach),
		KEEL_UT_TEST(io_queue_pairs_are_limited_to_what_the_controller_grants),
		KEEL_UT_TEST(doorbell_is_rung_once_per_poll_and_completions_follow_the_phase),
		KEEL_UT_TEST(one_mib_read_and_write_use_a_prp_list),
		KEEL_UT_TEST(unaligned_buffers_go_as_an_sgl_when_the_controller_takes_them),
		KEEL_UT_TEST(compare_and_fused_compare_and_write_write_only_on_a_match),
		KEEL_UT_TEST(flush_write_zeroes_and_deallocate_reach_the_controller),
		KEEL_UT_TEST(
			injected_error_status_reaches_the_callback_and_slots_run_out_with_enomem),
		KEEL_UT_TEST(timed_out_command_is_reported_once_and_aborted),
		KEEL_UT_TEST(
			fatal_status_is_cured_by_reset_with_queued_io_failed_and_queues_recreated),
		KEEL_UT_TEST(surprise_removal_completes_every_outstanding_command),
		KEEL_UT_TEST(namespace_changes_arrive_as_events_and_reidentify),
	};

	return keel_ut_run("nvme", tests, KEEL_COUNTOF(tests), suite_init, suite_fini);
}
