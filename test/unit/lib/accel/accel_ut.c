/*
 * Unit tests of lib/accel: CRC32C against the RFC 3720 B.4 vectors and across every iovec split;
 * copy, copyv and fill on the CPU path and through DPDK's dma_skeleton device (a DMA engine done
 * in software by a DPDK thread, which works on ordinary memory), with callbacks checked to run
 * later, once, on the submitting thread. The test polls its threads itself.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/thread.h"
#include "ut.h"

#include "accel/accel.c"
#include "accel/accel_dma.c"
#include "accel/crc32c.c"

/* The subsystem calls of lib/event, recorded. */
static int g_init_next_calls;
static int g_init_next_rc;
static int g_fini_next_calls;

void
keel_add_subsystem(struct keel_subsystem *subsystem)
{
}

void
keel_subsystem_init_next(int rc)
{
	g_init_next_calls++;
	g_init_next_rc = rc;
}

void
keel_subsystem_fini_next(void)
{
	g_fini_next_calls++;
}

#define NB_THREADS 2
#define POLL_TIMEOUT_US (5 * 1000 * 1000)

static struct keel_thread *g_t[NB_THREADS];
static bool g_env_ok;

static int
suite_init(void)
{
	struct keel_env_opts opts;
	int i;

	keel_env_opts_init(&opts);
	opts.name = "accel_ut";
	opts.no_huge = true;
	opts.no_pci = true;
	opts.mem_size_mb = 256;
	/* A DMA engine that DPDK runs in software: copies are memcpy in a DPDK control thread. */
	opts.env_context = "--vdev dma_skeleton";
	if (keel_env_init(&opts) != 0) {
		return 1;
	}
	g_env_ok = true;
	if (keel_thread_lib_init(NULL, 8192) != 0) {
		return 1;
	}
	for (i = 0; i < NB_THREADS; i++) {
		g_t[i] = keel_thread_create(NULL, NULL);
		if (g_t[i] == NULL) {
			return 1;
		}
	}
	return 0;
}

static void
exit_fn(void *arg)
{
	keel_thread_exit(keel_get_thread());
}

static int
suite_fini(void)
{
	int i, rounds, j;

	for (i = 0; i < NB_THREADS; i++) {
		if (g_t[i] != NULL) {
			keel_thread_send_msg(g_t[i], exit_fn, NULL);
		}
	}
	for (rounds = 0; rounds < 100; rounds++) {
		for (j = 0; j < NB_THREADS; j++) {
			if (g_t[j] != NULL && !keel_thread_is_exited(g_t[j])) {
				keel_thread_poll(g_t[j], 0, 0);
			}
		}
	}
	for (i = 0; i < NB_THREADS; i++) {
		if (g_t[i] != NULL && keel_thread_is_exited(g_t[i])) {
			keel_thread_destroy(g_t[i]);
		}
	}
	keel_set_thread(NULL);
	keel_thread_lib_fini();
	if (g_env_ok) {
		keel_env_fini();
	}
	return 0;
}

/* Poll every test thread once; 1 if any did work. */
static int
poll_all_once(void)
{
	int i, busy = 0;

	for (i = 0; i < NB_THREADS; i++) {
		busy |= keel_thread_poll(g_t[i], 0, 0);
	}
	return busy;
}

/* Poll thread t until *counter reaches want or the timeout passes. */
static void
poll_until(struct keel_thread *t, const int *counter, int want)
{
	uint64_t deadline = keel_get_ticks() + POLL_TIMEOUT_US * keel_get_ticks_hz() / 1000000;

	while (*counter < want && keel_get_ticks() < deadline) {
		keel_thread_poll(t, 0, 0);
	}
}

/* Poll every thread a few more times so that a second callback would show. */
static void
poll_settle(void)
{
	int i;

	for (i = 0; i < 50; i++) {
		poll_all_once();
	}
}

static void stop_done(void);
static int g_stop_done;

static void
stop_done(void)
{
	g_stop_done++;
}

static void
engine_start(bool dma)
{
	keel_set_thread(g_t[0]);
	CU_ASSERT_FATAL(accel_start(dma) == 0);
}

static void
engine_stop(void)
{
	int i;

	g_stop_done = 0;
	keel_set_thread(g_t[0]);
	accel_stop(stop_done);
	for (i = 0; i < 1000 && g_stop_done == 0; i++) {
		poll_all_once();
	}
	CU_ASSERT(g_stop_done == 1);
	keel_set_thread(NULL);
}

/* Get thread t's channel (the calls happen "on" t, as its pollers would). */
static struct keel_io_channel *
channel_on(struct keel_thread *t)
{
	struct keel_io_channel *ch;

	keel_set_thread(t);
	ch = keel_accel_get_io_channel();
	return ch;
}

static void
channel_put(struct keel_thread *t, struct keel_io_channel *ch)
{
	keel_set_thread(t);
	keel_put_io_channel(ch);
	poll_settle();
}

static struct accel_channel *
channel_ctx(struct keel_io_channel *ch)
{
	return keel_io_channel_get_ctx(ch);
}

/* A completion record: every callback checks it runs outside the submit call, on its thread. */
struct cpl {
	int calls;
	int status;
	bool inline_call;
	bool wrong_thread;
	struct keel_thread *thread;
};

static bool g_in_submit;

static void
cpl_fn(void *arg, int status)
{
	struct cpl *c = arg;

	c->calls++;
	c->status = status;
	if (g_in_submit) {
		c->inline_call = true;
	}
	if (keel_get_thread() != c->thread) {
		c->wrong_thread = true;
	}
}

static void
cpl_init(struct cpl *c, struct keel_thread *t)
{
	memset(c, 0, sizeof(*c));
	c->thread = t;
}

static int
copy(struct keel_io_channel *ch, void *dst, const void *src, size_t n, struct cpl *c)
{
	int rc;

	g_in_submit = true;
	rc = keel_accel_submit_copy(ch, dst, src, n, cpl_fn, c);
	g_in_submit = false;
	return rc;
}

static int
copyv(struct keel_io_channel *ch, struct iovec *dst, int dstcnt, struct iovec *src, int srccnt,
      struct cpl *c)
{
	int rc;

	g_in_submit = true;
	rc = keel_accel_submit_copyv(ch, dst, dstcnt, src, srccnt, cpl_fn, c);
	g_in_submit = false;
	return rc;
}

static int
fill(struct keel_io_channel *ch, void *dst, uint8_t byte, size_t n, struct cpl *c)
{
	int rc;

	g_in_submit = true;
	rc = keel_accel_submit_fill(ch, dst, byte, n, cpl_fn, c);
	g_in_submit = false;
	return rc;
}

static void
pattern_fill(uint8_t *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		buf[i] = (uint8_t)((i * 131 + seed * 7 + (i >> 8)) & 0xff);
	}
}

/* --- CRC32C --- */

static void
crc32c_matches_rfc3720_test_vectors(void)
{
	/* RFC 3720 appendix B.4: the digests as numbers (sent little-endian on the wire). */
	static const uint8_t read_pdu[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	uint8_t buf[32];
	uint32_t crc;
	int i;

	memset(buf, 0, sizeof(buf));
	CU_ASSERT(keel_crc32c(buf, sizeof(buf), 0) == 0x8a9136aa);
	memset(buf, 0xff, sizeof(buf));
	CU_ASSERT(keel_crc32c(buf, sizeof(buf), 0) == 0x62a8ab43);
	for (i = 0; i < 32; i++) {
		buf[i] = (uint8_t)i;
	}
	CU_ASSERT(keel_crc32c(buf, sizeof(buf), 0) == 0x46dd794e);
	for (i = 0; i < 32; i++) {
		buf[i] = (uint8_t)(31 - i);
	}
	CU_ASSERT(keel_crc32c(buf, sizeof(buf), 0) == 0x113fdb5c);
	CU_ASSERT(keel_crc32c(read_pdu, sizeof(read_pdu), 0) == 0xd9963a56);
	/* The usual CRC-32C check value. */
	CU_ASSERT(keel_crc32c("123456789", 9, 0) == 0xe3069283);
	/* On the wire, the zero-vector digest is the bytes aa 36 91 8a. */
	crc = keel_crc32c((memset(buf, 0, sizeof(buf)), buf), sizeof(buf), 0);
	CU_ASSERT((crc & 0xff) == 0xaa && (crc >> 24) == 0x8a);
}

static void
crc32c_of_no_bytes_is_the_seed(void)
{
	CU_ASSERT(keel_crc32c(NULL, 0, 0) == 0);
	CU_ASSERT(keel_crc32c(NULL, 0, 0x12345678) == 0x12345678);
	CU_ASSERT(keel_crc32c_iov(NULL, 0, 0xdeadbeef) == 0xdeadbeef);
}

static void
crc32c_seeded_with_a_digest_continues_it(void)
{
	uint8_t buf[300];
	uint32_t flat, first;
	size_t cut;

	pattern_fill(buf, sizeof(buf), 1);
	flat = keel_crc32c(buf, sizeof(buf), 0);
	for (cut = 0; cut <= sizeof(buf); cut++) {
		first = keel_crc32c(buf, cut, 0);
		CU_ASSERT(keel_crc32c(buf + cut, sizeof(buf) - cut, first) == flat);
	}
}

static void
crc32c_iov_equals_flat_at_every_split(void)
{
	uint8_t buf[257];
	struct iovec iov[4];
	uint32_t flat;
	size_t i, j;

	pattern_fill(buf, sizeof(buf), 2);
	flat = keel_crc32c(buf, sizeof(buf), 0);
	/* Two pieces, cut at every offset (an empty piece at either end included). */
	for (i = 0; i <= sizeof(buf); i++) {
		iov[0].iov_base = buf;
		iov[0].iov_len = i;
		iov[1].iov_base = buf + i;
		iov[1].iov_len = sizeof(buf) - i;
		CU_ASSERT(keel_crc32c_iov(iov, 2, 0) == flat);
	}
	/* Three pieces, every pair of cuts, with an empty entry in the middle. */
	for (i = 0; i <= sizeof(buf); i += 3) {
		for (j = i; j <= sizeof(buf); j += 5) {
			iov[0].iov_base = buf;
			iov[0].iov_len = i;
			iov[1].iov_base = buf + i;
			iov[1].iov_len = j - i;
			iov[2].iov_base = NULL;
			iov[2].iov_len = 0;
			iov[3].iov_base = buf + j;
			iov[3].iov_len = sizeof(buf) - j;
			CU_ASSERT(keel_crc32c_iov(iov, 4, 0) == flat);
		}
	}
	/* A seed carries over the iovec form too. */
	iov[0].iov_base = buf + 100;
	iov[0].iov_len = sizeof(buf) - 100;
	CU_ASSERT(keel_crc32c_iov(iov, 1, keel_crc32c(buf, 100, 0)) == flat);
}

static void
crc32c_iov_of_single_bytes_equals_flat(void)
{
	uint8_t buf[64];
	struct iovec iov[64];
	int i;

	pattern_fill(buf, sizeof(buf), 3);
	for (i = 0; i < 64; i++) {
		iov[i].iov_base = &buf[i];
		iov[i].iov_len = 1;
	}
	CU_ASSERT(keel_crc32c_iov(iov, 64, 0) == keel_crc32c(buf, sizeof(buf), 0));
}

/* --- software path --- */

static void
software_engine_is_named_software(void)
{
	engine_start(false);
	CU_ASSERT(strcmp(keel_accel_get_engine_name(), "software") == 0);
	engine_stop();
}

static void
channel_needs_a_started_engine_and_a_thread(void)
{
	keel_set_thread(g_t[0]);
	CU_ASSERT(keel_accel_get_io_channel() == NULL);
	engine_start(false);
	keel_set_thread(NULL);
	CU_ASSERT(keel_accel_get_io_channel() == NULL);
	engine_stop();
}

static void
software_copy_completes_later_exactly_once(void)
{
	struct keel_io_channel *ch;
	uint8_t src[4096], dst[4096];
	struct cpl c;

	engine_start(false);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	pattern_fill(src, sizeof(src), 4);
	memset(dst, 0, sizeof(dst));
	cpl_init(&c, g_t[0]);
	CU_ASSERT(copy(ch, dst, src, sizeof(src), &c) == 0);
	CU_ASSERT(c.calls == 0);
	/* The CPU copied at once; only the completion waits. */
	CU_ASSERT(memcmp(dst, src, sizeof(src)) == 0);
	poll_until(g_t[0], &c.calls, 1);
	poll_settle();
	CU_ASSERT(c.calls == 1);
	CU_ASSERT(c.status == 0);
	CU_ASSERT(!c.inline_call);
	CU_ASSERT(!c.wrong_thread);
	CU_ASSERT(channel_ctx(ch)->sw_tasks == 1);
	channel_put(g_t[0], ch);
	engine_stop();
}

static void
software_copyv_gathers_uneven_iovecs(void)
{
	struct keel_io_channel *ch;
	uint8_t src[4096], dst[4096], check[4096];
	struct iovec siov[3], diov[4];
	struct cpl c;

	engine_start(false);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	pattern_fill(src, sizeof(src), 5);
	memset(dst, 0xee, sizeof(dst));
	/* Source: 100 + 1 + 3995 bytes taken from scattered places of src, in reverse order. */
	siov[0].iov_base = src + 3996;
	siov[0].iov_len = 100;
	siov[1].iov_base = src + 3995;
	siov[1].iov_len = 1;
	siov[2].iov_base = src;
	siov[2].iov_len = 3995;
	memcpy(check, src + 3996, 100);
	memcpy(check + 100, src + 3995, 1);
	memcpy(check + 101, src, 3995);
	/* Destination: 7 + 2048 + 0 + 2041 bytes, laid out in order in dst. */
	diov[0].iov_base = dst;
	diov[0].iov_len = 7;
	diov[1].iov_base = dst + 7;
	diov[1].iov_len = 2048;
	diov[2].iov_base = NULL;
	diov[2].iov_len = 0;
	diov[3].iov_base = dst + 2055;
	diov[3].iov_len = 2041;
	cpl_init(&c, g_t[0]);
	CU_ASSERT(copyv(ch, diov, 4, siov, 3, &c) == 0);
	CU_ASSERT(c.calls == 0);
	poll_until(g_t[0], &c.calls, 1);
	poll_settle();
	CU_ASSERT(c.calls == 1 && c.status == 0 && !c.inline_call && !c.wrong_thread);
	CU_ASSERT(memcmp(dst, check, sizeof(check)) == 0);
	channel_put(g_t[0], ch);
	engine_stop();
}

static void
bad_arguments_are_refused_and_never_complete(void)
{
	struct keel_io_channel *ch;
	uint8_t a[16], b[16];
	struct iovec i1 = {.iov_base = a, .iov_len = 16}, i2 = {.iov_base = b, .iov_len = 8};
	struct iovec inull = {.iov_base = NULL, .iov_len = 4};
	struct cpl c;

	engine_start(false);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	cpl_init(&c, g_t[0]);
	CU_ASSERT(copy(NULL, a, b, 16, &c) == -EINVAL);
	CU_ASSERT(copy(ch, NULL, b, 16, &c) == -EINVAL);
	CU_ASSERT(copy(ch, a, NULL, 16, &c) == -EINVAL);
	CU_ASSERT(keel_accel_submit_copy(ch, a, b, 16, NULL, NULL) == -EINVAL);
	/* Totals that differ, negative counts, a NULL list, a NULL buffer with a length. */
	CU_ASSERT(copyv(ch, &i1, 1, &i2, 1, &c) == -EINVAL);
	CU_ASSERT(copyv(ch, &i1, -1, &i1, 1, &c) == -EINVAL);
	CU_ASSERT(copyv(ch, NULL, 1, &i1, 1, &c) == -EINVAL);
	CU_ASSERT(copyv(ch, &inull, 1, &i1, 1, &c) == -EINVAL);
	CU_ASSERT(fill(ch, NULL, 0, 16, &c) == -EINVAL);
	CU_ASSERT(keel_accel_submit_fill(ch, a, 0, 16, NULL, NULL) == -EINVAL);
	poll_settle();
	CU_ASSERT(c.calls == 0);
	channel_put(g_t[0], ch);
	engine_stop();
}

static void
software_fill_sets_exactly_the_range(void)
{
	struct keel_io_channel *ch;
	uint8_t buf[5000 + 2];
	struct cpl c;
	size_t i;
	bool ok = true;

	engine_start(false);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	memset(buf, 0x11, sizeof(buf));
	cpl_init(&c, g_t[0]);
	CU_ASSERT(fill(ch, buf + 1, 0xa5, 5000, &c) == 0);
	CU_ASSERT(c.calls == 0);
	poll_until(g_t[0], &c.calls, 1);
	poll_settle();
	CU_ASSERT(c.calls == 1 && c.status == 0 && !c.inline_call && !c.wrong_thread);
	for (i = 1; i <= 5000; i++) {
		ok = ok && buf[i] == 0xa5;
	}
	CU_ASSERT(ok);
	CU_ASSERT(buf[0] == 0x11 && buf[5001] == 0x11);
	channel_put(g_t[0], ch);
	engine_stop();
}

static void
zero_length_operations_complete(void)
{
	struct keel_io_channel *ch;
	struct cpl c1, c2, c3;

	engine_start(false);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	cpl_init(&c1, g_t[0]);
	cpl_init(&c2, g_t[0]);
	cpl_init(&c3, g_t[0]);
	CU_ASSERT(copy(ch, NULL, NULL, 0, &c1) == 0);
	CU_ASSERT(fill(ch, NULL, 1, 0, &c2) == 0);
	CU_ASSERT(copyv(ch, NULL, 0, NULL, 0, &c3) == 0);
	poll_until(g_t[0], &c3.calls, 1);
	poll_settle();
	CU_ASSERT(c1.calls == 1 && c2.calls == 1 && c3.calls == 1);
	CU_ASSERT(!c1.inline_call && !c2.inline_call && !c3.inline_call);
	channel_put(g_t[0], ch);
	engine_stop();
}

static struct cpl g_many[ACCEL_TASKS_PER_CHANNEL + 1];

static void
running_out_of_tasks_returns_enomem(void)
{
	struct keel_io_channel *ch;
	uint8_t src[64], dst[64];
	int i, done = 0;

	engine_start(false);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	pattern_fill(src, sizeof(src), 6);
	for (i = 0; i < ACCEL_TASKS_PER_CHANNEL; i++) {
		cpl_init(&g_many[i], g_t[0]);
		CU_ASSERT(copy(ch, dst, src, sizeof(src), &g_many[i]) == 0);
	}
	cpl_init(&g_many[i], g_t[0]);
	CU_ASSERT(copy(ch, dst, src, sizeof(src), &g_many[i]) == -ENOMEM);
	CU_ASSERT(fill(ch, dst, 0, sizeof(dst), &g_many[i]) == -ENOMEM);
	poll_settle();
	for (i = 0; i < ACCEL_TASKS_PER_CHANNEL; i++) {
		done += g_many[i].calls == 1 && g_many[i].status == 0 && !g_many[i].inline_call;
	}
	CU_ASSERT(done == ACCEL_TASKS_PER_CHANNEL);
	/* The refused one never completes; once tasks are back, submissions work again. */
	CU_ASSERT(g_many[ACCEL_TASKS_PER_CHANNEL].calls == 0);
	CU_ASSERT(copy(ch, dst, src, sizeof(src), &g_many[ACCEL_TASKS_PER_CHANNEL]) == 0);
	poll_until(g_t[0], &g_many[ACCEL_TASKS_PER_CHANNEL].calls, 1);
	CU_ASSERT(g_many[ACCEL_TASKS_PER_CHANNEL].calls == 1);
	channel_put(g_t[0], ch);
	engine_stop();
}

/* A callback that submits again from inside the completion. */
struct resubmit {
	struct keel_io_channel *ch;
	uint8_t src[32];
	uint8_t dst[32];
	int calls;
	int left;
	bool nested;
	bool in_cb;
};

static void
resubmit_cb(void *arg, int status)
{
	struct resubmit *r = arg;

	if (r->in_cb) {
		r->nested = true;
	}
	r->in_cb = true;
	r->calls++;
	if (r->left > 0) {
		r->left--;
		CU_ASSERT(keel_accel_submit_copy(r->ch, r->dst, r->src, sizeof(r->src), resubmit_cb,
						 r) == 0);
	}
	r->in_cb = false;
}

static void
callback_may_submit_again(void)
{
	struct resubmit r;

	engine_start(false);
	memset(&r, 0, sizeof(r));
	r.ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(r.ch != NULL);
	r.left = 5;
	CU_ASSERT(keel_accel_submit_copy(r.ch, r.dst, r.src, sizeof(r.src), resubmit_cb, &r) == 0);
	poll_until(g_t[0], &r.calls, 6);
	poll_settle();
	CU_ASSERT(r.calls == 6);
	/* A submission from a callback completes on a later poll, never inside that callback. */
	CU_ASSERT(!r.nested);
	channel_put(g_t[0], r.ch);
	engine_stop();
}

static void
idle_channel_leaves_no_active_poller(void)
{
	struct keel_io_channel *ch;
	uint8_t a[8], b[8] = {0};
	struct cpl c;

	engine_start(false);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	poll_settle();
	/* An idle thread must be able to sleep in interrupt mode. */
	CU_ASSERT(!keel_thread_has_active_pollers(g_t[0]));
	cpl_init(&c, g_t[0]);
	CU_ASSERT(copy(ch, a, b, sizeof(a), &c) == 0);
	CU_ASSERT(keel_thread_has_active_pollers(g_t[0]));
	poll_until(g_t[0], &c.calls, 1);
	poll_settle();
	CU_ASSERT(c.calls == 1);
	CU_ASSERT(!keel_thread_has_active_pollers(g_t[0]));
	channel_put(g_t[0], ch);
	engine_stop();
}

static void
completions_stay_on_the_submitting_thread(void)
{
	struct keel_io_channel *ch0, *ch1;
	uint8_t a[64], b[64], c[64];
	struct cpl c0, c1;
	int i;

	engine_start(false);
	ch0 = channel_on(g_t[0]);
	ch1 = channel_on(g_t[1]);
	CU_ASSERT_FATAL(ch0 != NULL && ch1 != NULL && ch0 != ch1);
	pattern_fill(a, sizeof(a), 7);
	cpl_init(&c0, g_t[0]);
	cpl_init(&c1, g_t[1]);
	keel_set_thread(g_t[0]);
	CU_ASSERT(copy(ch0, b, a, sizeof(a), &c0) == 0);
	keel_set_thread(g_t[1]);
	CU_ASSERT(copy(ch1, c, a, sizeof(a), &c1) == 0);
	for (i = 0; i < 20; i++) {
		keel_thread_poll(g_t[1], 0, 0);
	}
	CU_ASSERT(c1.calls == 1 && c0.calls == 0);
	poll_until(g_t[0], &c0.calls, 1);
	CU_ASSERT(c0.calls == 1 && !c0.wrong_thread && !c1.wrong_thread);
	channel_put(g_t[0], ch0);
	channel_put(g_t[1], ch1);
	engine_stop();
}

static void
closing_a_channel_completes_what_it_owes(void)
{
	struct keel_io_channel *ch;
	uint8_t a[64], b[64];
	struct cpl c;

	engine_start(false);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	cpl_init(&c, g_t[0]);
	CU_ASSERT(copy(ch, b, a, sizeof(a), &c) == 0);
	keel_put_io_channel(ch);
	poll_settle();
	CU_ASSERT(c.calls == 1);
	engine_stop();
}

static void
subsystem_starts_and_stops_the_engine(void)
{
	keel_set_thread(g_t[0]);
	g_init_next_calls = 0;
	g_fini_next_calls = 0;
	accel_subsystem_init();
	CU_ASSERT(g_init_next_calls == 1 && g_init_next_rc == 0);
	/* The environment has a dma_skeleton device. */
	CU_ASSERT(strcmp(keel_accel_get_engine_name(), "dma") == 0);
	CU_ASSERT(g_accel_subsystem.init == accel_subsystem_init);
	CU_ASSERT(strcmp(g_accel_subsystem.name, "accel") == 0);
	accel_subsystem_fini();
	poll_settle();
	CU_ASSERT(g_fini_next_calls == 1);
	CU_ASSERT(strcmp(keel_accel_get_engine_name(), "software") == 0);
	keel_set_thread(g_t[0]);
	CU_ASSERT(keel_accel_get_io_channel() == NULL);
	keel_set_thread(NULL);
}

/* --- DMA through dma_skeleton --- */

static void
env_dma_wrappers_drive_the_skeleton_device(void)
{
	struct keel_env_dma_info info;
	uint64_t src_iova, dst_iova;
	uint8_t *src, *dst;
	bool failed[4] = {true, true, true, true};
	uint16_t n = 0;
	uint64_t deadline;
	int id, rc;

	CU_ASSERT(keel_env_dma_count() == 1);
	id = keel_env_dma_next(0);
	CU_ASSERT_FATAL(id >= 0);
	CU_ASSERT(keel_env_dma_next(id + 1) == -1);
	CU_ASSERT(keel_env_dma_get_info(id, &info) == 0);
	CU_ASSERT(strcmp(info.name, "dma_skeleton") == 0);
	CU_ASSERT(info.max_vchans >= 1);
	CU_ASSERT(keel_env_dma_get_info(63, &info) == -EINVAL);
	CU_ASSERT(keel_env_dma_configure(id, 0, 128) == -EINVAL);
	CU_ASSERT(keel_env_dma_configure(id, 1, (uint16_t)(info.min_desc - 1)) == -EINVAL);
	CU_ASSERT(keel_env_dma_configure(63, 1, 128) == -EINVAL);
	CU_ASSERT_FATAL(keel_env_dma_configure(id, 1, 128) == 0);
	src = keel_dma_malloc(4096, 64, &src_iova);
	dst = keel_dma_zmalloc(4096, 64, &dst_iova);
	CU_ASSERT_FATAL(src != NULL && dst != NULL);
	pattern_fill(src, 4096, 8);
	if (info.sva) {
		src_iova = (uint64_t)(uintptr_t)src;
		dst_iova = (uint64_t)(uintptr_t)dst;
	}
	rc = keel_env_dma_copy(id, 0, src_iova, dst_iova, 4096, false);
	CU_ASSERT(rc >= 0);
	CU_ASSERT(keel_env_dma_submit(id, 0) == 0);
	deadline = keel_get_ticks() + POLL_TIMEOUT_US * keel_get_ticks_hz() / 1000000;
	while (n == 0 && keel_get_ticks() < deadline) {
		n = keel_env_dma_completed(id, 0, 4, failed);
	}
	CU_ASSERT(n == 1 && !failed[0]);
	CU_ASSERT(memcmp(src, dst, 4096) == 0);
	CU_ASSERT(keel_env_dma_stop(id) == 0);
	CU_ASSERT(keel_env_dma_stop(id) == 0);
	keel_dma_free(src);
	keel_dma_free(dst);
}

static void
dma_engine_is_chosen_when_a_device_exists(void)
{
	struct keel_io_channel *ch;

	engine_start(true);
	CU_ASSERT(strcmp(keel_accel_get_engine_name(), "dma") == 0);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	CU_ASSERT(channel_ctx(ch)->dmaq != NULL);
	channel_put(g_t[0], ch);
	engine_stop();
}

static void
dma_copy_of_dma_safe_memory_goes_through_the_device(void)
{
	struct keel_io_channel *ch;
	uint8_t *src, *dst;
	struct cpl c;
	size_t len = 256 * 1024;

	engine_start(true);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	src = keel_dma_malloc(len, 4096, NULL);
	dst = keel_dma_zmalloc(len, 4096, NULL);
	CU_ASSERT_FATAL(src != NULL && dst != NULL);
	pattern_fill(src, len, 9);
	cpl_init(&c, g_t[0]);
	CU_ASSERT(copy(ch, dst, src, len, &c) == 0);
	CU_ASSERT(c.calls == 0);
	CU_ASSERT(channel_ctx(ch)->dma_tasks == 1);
	CU_ASSERT(channel_ctx(ch)->sw_tasks == 0);
	poll_until(g_t[0], &c.calls, 1);
	poll_settle();
	CU_ASSERT(c.calls == 1 && c.status == 0 && !c.inline_call && !c.wrong_thread);
	CU_ASSERT(memcmp(src, dst, len) == 0);
	keel_dma_free(src);
	keel_dma_free(dst);
	channel_put(g_t[0], ch);
	engine_stop();
}

static void
dma_copyv_is_split_into_device_operations(void)
{
	struct keel_io_channel *ch;
	uint8_t *src, *dst;
	struct iovec siov[5], diov[3];
	struct cpl c;
	uint32_t ops_before;

	engine_start(true);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	src = keel_dma_malloc(8192, 64, NULL);
	dst = keel_dma_zmalloc(8192, 64, NULL);
	CU_ASSERT_FATAL(src != NULL && dst != NULL);
	pattern_fill(src, 8192, 10);
	/* 1000 + 1 + 0 + 3095 + 4096 bytes to 4000 + 96 + 4096 bytes. */
	siov[0] = (struct iovec){.iov_base = src, .iov_len = 1000};
	siov[1] = (struct iovec){.iov_base = src + 1000, .iov_len = 1};
	siov[2] = (struct iovec){.iov_base = NULL, .iov_len = 0};
	siov[3] = (struct iovec){.iov_base = src + 1001, .iov_len = 3095};
	siov[4] = (struct iovec){.iov_base = src + 4096, .iov_len = 4096};
	diov[0] = (struct iovec){.iov_base = dst, .iov_len = 4000};
	diov[1] = (struct iovec){.iov_base = dst + 4000, .iov_len = 96};
	diov[2] = (struct iovec){.iov_base = dst + 4096, .iov_len = 4096};
	ops_before = channel_ctx(ch)->dmaq->head;
	cpl_init(&c, g_t[0]);
	CU_ASSERT(copyv(ch, diov, 3, siov, 5, &c) == 0);
	CU_ASSERT(channel_ctx(ch)->dma_tasks == 1);
	/* Pieces: 1000, 1, 2999 | 96 | 4096: five device operations for one task. */
	CU_ASSERT(channel_ctx(ch)->dmaq->head - ops_before == 5);
	poll_until(g_t[0], &c.calls, 1);
	poll_settle();
	CU_ASSERT(c.calls == 1 && c.status == 0 && !c.inline_call);
	CU_ASSERT(memcmp(src, dst, 8192) == 0);
	keel_dma_free(src);
	keel_dma_free(dst);
	channel_put(g_t[0], ch);
	engine_stop();
}

static void
dma_copy_of_ordinary_memory_falls_back_to_the_cpu(void)
{
	struct keel_io_channel *ch;
	uint8_t *src, *dst;
	struct cpl c;

	engine_start(true);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	src = malloc(4096);
	dst = keel_dma_zmalloc(4096, 64, NULL);
	CU_ASSERT_FATAL(src != NULL && dst != NULL);
	pattern_fill(src, 4096, 11);
	cpl_init(&c, g_t[0]);
	CU_ASSERT(copy(ch, dst, src, 4096, &c) == 0);
	CU_ASSERT(channel_ctx(ch)->dma_tasks == 0);
	CU_ASSERT(channel_ctx(ch)->sw_tasks == 1);
	CU_ASSERT(c.calls == 0);
	poll_until(g_t[0], &c.calls, 1);
	poll_settle();
	CU_ASSERT(c.calls == 1 && c.status == 0 && !c.inline_call);
	CU_ASSERT(memcmp(src, dst, 4096) == 0);
	free(src);
	keel_dma_free(dst);
	channel_put(g_t[0], ch);
	engine_stop();
}

static void
dma_fill_uses_the_device_only_if_it_can_fill(void)
{
	struct keel_io_channel *ch;
	struct accel_channel *ach;
	uint8_t *buf;
	struct cpl c;
	size_t i;
	bool ok = true;

	engine_start(true);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	ach = channel_ctx(ch);
	buf = keel_dma_malloc(10000, 64, NULL);
	CU_ASSERT_FATAL(buf != NULL);
	memset(buf, 0x33, 10000);
	cpl_init(&c, g_t[0]);
	CU_ASSERT(fill(ch, buf + 1, 0x5c, 9998, &c) == 0);
	/* DPDK 22.11's dma_skeleton copies but does not fill: then the CPU fills. */
	CU_ASSERT(ach->dma_tasks == (ach->dmaq->fill ? 1u : 0u));
	CU_ASSERT(ach->sw_tasks == (ach->dmaq->fill ? 0u : 1u));
	poll_until(g_t[0], &c.calls, 1);
	poll_settle();
	CU_ASSERT(c.calls == 1 && c.status == 0 && !c.inline_call);
	for (i = 1; i < 9999; i++) {
		ok = ok && buf[i] == 0x5c;
	}
	CU_ASSERT(ok && buf[0] == 0x33 && buf[9999] == 0x33);
	keel_dma_free(buf);
	channel_put(g_t[0], ch);
	engine_stop();
}

static void
dma_full_queue_overflows_to_the_cpu(void)
{
	struct keel_io_channel *ch;
	struct accel_channel *ach;
	uint8_t *src, *dst;
	int i, done = 0, total = 0;
	bool ok = true;

	engine_start(true);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	ach = channel_ctx(ch);
	src = keel_dma_malloc(ACCEL_TASKS_PER_CHANNEL * 64, 64, NULL);
	dst = keel_dma_zmalloc(ACCEL_TASKS_PER_CHANNEL * 64, 64, NULL);
	CU_ASSERT_FATAL(src != NULL && dst != NULL);
	pattern_fill(src, ACCEL_TASKS_PER_CHANNEL * 64, 12);
	/* Every task of the channel at once: more than the device ring holds. */
	for (i = 0; i < ACCEL_TASKS_PER_CHANNEL; i++) {
		cpl_init(&g_many[i], g_t[0]);
		CU_ASSERT(copy(ch, dst + i * 64, src + i * 64, 64, &g_many[i]) == 0);
	}
	CU_ASSERT(ach->dma_tasks + ach->sw_tasks == ACCEL_TASKS_PER_CHANNEL);
	CU_ASSERT(ach->dma_tasks > 0);
	for (i = 0; i < ACCEL_TASKS_PER_CHANNEL; i++) {
		poll_until(g_t[0], &g_many[i].calls, 1);
	}
	poll_settle();
	for (i = 0; i < ACCEL_TASKS_PER_CHANNEL; i++) {
		done += g_many[i].calls == 1 && g_many[i].status == 0 && !g_many[i].inline_call &&
			!g_many[i].wrong_thread;
		total += g_many[i].calls;
	}
	CU_ASSERT(done == ACCEL_TASKS_PER_CHANNEL);
	CU_ASSERT(total == ACCEL_TASKS_PER_CHANNEL);
	ok = memcmp(src, dst, ACCEL_TASKS_PER_CHANNEL * 64) == 0;
	CU_ASSERT(ok);
	CU_ASSERT(TAILQ_EMPTY(&ach->dma_inflight));
	keel_dma_free(src);
	keel_dma_free(dst);
	channel_put(g_t[0], ch);
	engine_stop();
}

static void
dma_threads_sharing_a_queue_complete_their_own_tasks(void)
{
	struct keel_io_channel *ch0, *ch1;
	uint8_t *src, *dst;
	struct cpl c0[8], c1[8];
	int i, n0, n1;

	engine_start(true);
	ch0 = channel_on(g_t[0]);
	ch1 = channel_on(g_t[1]);
	CU_ASSERT_FATAL(ch0 != NULL && ch1 != NULL);
	/* One dma_skeleton vchan, two threads: they share it. */
	CU_ASSERT(channel_ctx(ch0)->dmaq == channel_ctx(ch1)->dmaq);
	src = keel_dma_malloc(16 * 4096, 64, NULL);
	dst = keel_dma_zmalloc(16 * 4096, 64, NULL);
	CU_ASSERT_FATAL(src != NULL && dst != NULL);
	pattern_fill(src, 16 * 4096, 13);
	for (i = 0; i < 8; i++) {
		cpl_init(&c0[i], g_t[0]);
		cpl_init(&c1[i], g_t[1]);
		keel_set_thread(g_t[0]);
		CU_ASSERT(copy(ch0, dst + (2 * i) * 4096, src + (2 * i) * 4096, 4096, &c0[i]) == 0);
		keel_set_thread(g_t[1]);
		CU_ASSERT(copy(ch1, dst + (2 * i + 1) * 4096, src + (2 * i + 1) * 4096, 4096,
			       &c1[i]) == 0);
	}
	/* Thread 1 reaps the whole queue, thread 0's operations included, but only runs its own
	 * callbacks. */
	poll_until(g_t[1], &c1[7].calls, 1);
	for (i = 0, n0 = 0, n1 = 0; i < 8; i++) {
		n0 += c0[i].calls;
		n1 += c1[i].calls;
	}
	CU_ASSERT(n1 == 8 && n0 == 0);
	poll_until(g_t[0], &c0[7].calls, 1);
	poll_settle();
	for (i = 0; i < 8; i++) {
		CU_ASSERT(c0[i].calls == 1 && !c0[i].wrong_thread && !c0[i].inline_call);
		CU_ASSERT(c1[i].calls == 1 && !c1[i].wrong_thread && !c1[i].inline_call);
	}
	CU_ASSERT(memcmp(src, dst, 16 * 4096) == 0);
	CU_ASSERT(channel_ctx(ch0)->dma_tasks == 8 && channel_ctx(ch1)->dma_tasks == 8);
	keel_dma_free(src);
	keel_dma_free(dst);
	channel_put(g_t[0], ch0);
	channel_put(g_t[1], ch1);
	engine_stop();
}

static void
dma_channel_closed_with_operations_in_flight_completes_them(void)
{
	struct keel_io_channel *ch;
	uint8_t *src, *dst;
	struct cpl c;

	engine_start(true);
	ch = channel_on(g_t[0]);
	CU_ASSERT_FATAL(ch != NULL);
	src = keel_dma_malloc(65536, 64, NULL);
	dst = keel_dma_zmalloc(65536, 64, NULL);
	CU_ASSERT_FATAL(src != NULL && dst != NULL);
	pattern_fill(src, 65536, 14);
	cpl_init(&c, g_t[0]);
	CU_ASSERT(copy(ch, dst, src, 65536, &c) == 0);
	CU_ASSERT(channel_ctx(ch)->dma_tasks == 1);
	keel_put_io_channel(ch);
	poll_settle();
	CU_ASSERT(c.calls == 1 && c.status == 0);
	CU_ASSERT(memcmp(src, dst, 65536) == 0);
	keel_dma_free(src);
	keel_dma_free(dst);
	engine_stop();
}

static void
dma_engine_restarts_after_a_stop(void)
{
	struct keel_io_channel *ch;
	uint8_t *src, *dst;
	struct cpl c;
	int round;

	for (round = 0; round < 2; round++) {
		engine_start(true);
		CU_ASSERT(strcmp(keel_accel_get_engine_name(), "dma") == 0);
		ch = channel_on(g_t[0]);
		CU_ASSERT_FATAL(ch != NULL);
		src = keel_dma_malloc(4096, 64, NULL);
		dst = keel_dma_zmalloc(4096, 64, NULL);
		CU_ASSERT_FATAL(src != NULL && dst != NULL);
		pattern_fill(src, 4096, 15 + round);
		cpl_init(&c, g_t[0]);
		CU_ASSERT(copy(ch, dst, src, 4096, &c) == 0);
		CU_ASSERT(channel_ctx(ch)->dma_tasks == 1);
		poll_until(g_t[0], &c.calls, 1);
		CU_ASSERT(c.calls == 1 && memcmp(src, dst, 4096) == 0);
		keel_dma_free(src);
		keel_dma_free(dst);
		channel_put(g_t[0], ch);
		engine_stop();
	}
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(crc32c_matches_rfc3720_test_vectors),
		KEEL_UT_TEST(crc32c_of_no_bytes_is_the_seed),
		KEEL_UT_TEST(crc32c_seeded_with_a_digest_continues_it),
		KEEL_UT_TEST(crc32c_iov_equals_flat_at_every_split),
		KEEL_UT_TEST(crc32c_iov_of_single_bytes_equals_flat),
		KEEL_UT_TEST(software_engine_is_named_software),
		KEEL_UT_TEST(channel_needs_a_started_engine_and_a_thread),
		KEEL_UT_TEST(software_copy_completes_later_exactly_once),
		KEEL_UT_TEST(software_copyv_gathers_uneven_iovecs),
		KEEL_UT_TEST(bad_arguments_are_refused_and_never_complete),
		KEEL_UT_TEST(software_fill_sets_exactly_the_range),
		KEEL_UT_TEST(zero_length_operations_complete),
		KEEL_UT_TEST(running_out_of_tasks_returns_enomem),
		KEEL_UT_TEST(callback_may_submit_again),
		KEEL_UT_TEST(idle_channel_leaves_no_active_poller),
		KEEL_UT_TEST(completions_stay_on_the_submitting_thread),
		KEEL_UT_TEST(closing_a_channel_completes_what_it_owes),
		KEEL_UT_TEST(subsystem_starts_and_stops_the_engine),
		KEEL_UT_TEST(env_dma_wrappers_drive_the_skeleton_device),
		KEEL_UT_TEST(dma_engine_is_chosen_when_a_device_exists),
		KEEL_UT_TEST(dma_copy_of_dma_safe_memory_goes_through_the_device),
		KEEL_UT_TEST(dma_copyv_is_split_into_device_operations),
		KEEL_UT_TEST(dma_copy_of_ordinary_memory_falls_back_to_the_cpu),
		KEEL_UT_TEST(dma_fill_uses_the_device_only_if_it_can_fill),
		KEEL_UT_TEST(dma_full_queue_overflows_to_the_cpu),
		KEEL_UT_TEST(dma_threads_sharing_a_queue_complete_their_own_tasks),
		KEEL_UT_TEST(dma_channel_closed_with_operations_in_flight_completes_them),
		KEEL_UT_TEST(dma_engine_restarts_after_a_stop),
	};

	return keel_ut_run("accel", tests, KEEL_COUNTOF(tests), suite_init, suite_fini);
}
