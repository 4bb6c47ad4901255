/*
 * Unit tests of the generic bdev layer, over a RAM-backed test module that can hold I/O,
 * refuse it with NOMEM, and demand aligned buffers: registration and lookup, the
 * asynchronous contract, splitting, bounce buffers, the I/O pool and its wait queue, hot-remove
 * with I/O in flight, reset, compare and compare-and-write, QoS, statistics across threads and
 * queue-depth sampling.
 */
#include "keel/stdinc.h"
#include "ut.h"

#include "bdev/bdev.c"
#include "bdev/bdev_io.c"
#include "bdev/bdev_lock.c"
#include "bdev/bdev_qd.c"
#include "bdev/bdev_qos.c"
#include "bdev/bdev_reset.c"
#include "bdev/bdev_rpc.c"
#include "bdev/bdev_file.c"

#define UT_BLOCKS 4096
#define UT_BLKLEN 512

/* The test module. */
struct ut_disk {
	struct keel_bdev bdev;
	uint8_t *data;
	bool hold;		/* keep I/O until ut_release() */
	bool reset_aborts_held;	/* its RESET ends the held I/O ABORTED, as a device reset does */
	int nomem_left;		/* answer NOMEM this many times */
	uint32_t max_seen_blocks;
	uint32_t submits;
	bool saw_unaligned;
	bool destructed;
	TAILQ_HEAD(, keel_bdev_io) held;
};

struct ut_channel {
	struct keel_poller *poller;
	TAILQ_HEAD(, keel_bdev_io) done;
};

static struct keel_thread *g_t[2];
static struct ut_disk g_disk;
static int g_ch_dev;

static void
ut_execute(struct ut_disk *d, struct keel_bdev_io *io)
{
	uint64_t off = io->u.bdev.offset_blocks * UT_BLKLEN;
	int i;

	switch (io->type) {
	case KEEL_BDEV_IO_TYPE_READ:
	case KEEL_BDEV_IO_TYPE_WRITE:
		for (i = 0; i < io->u.bdev.iovcnt; i++) {
			struct iovec *v = &io->u.bdev.iovs[i];

			if (d->bdev.required_alignment &&
			    ((uintptr_t)v->iov_base & ((1u << d->bdev.required_alignment) - 1))) {
				d->saw_unaligned = true;
			}
			if (io->type == KEEL_BDEV_IO_TYPE_READ) {
				memcpy(v->iov_base, d->data + off, v->iov_len);
			} else {
				memcpy(d->data + off, v->iov_base, v->iov_len);
			}
			off += v->iov_len;
		}
		break;
	case KEEL_BDEV_IO_TYPE_UNMAP:
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		memset(d->data + off, 0, io->u.bdev.num_blocks * UT_BLKLEN);
		break;
	default:
		break;
	}
}

static int
ut_ch_poll(void *arg)
{
	struct ut_channel *uch = arg;
	struct keel_bdev_io *io;
	int n = 0;

	while ((io = TAILQ_FIRST(&uch->done)) != NULL) {
		TAILQ_REMOVE(&uch->done, io, internal.link);
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_SUCCESS);
		n++;
	}
	return n ? KEEL_POLLER_BUSY : KEEL_POLLER_IDLE;
}

static void
ut_submit(struct keel_io_channel *ch, struct keel_bdev_io *io)
{
	struct ut_disk *d = io->bdev->ctxt;
	struct ut_channel *uch = keel_io_channel_get_ctx(ch);

	d->submits++;
	d->max_seen_blocks = KEEL_MAX(d->max_seen_blocks, (uint32_t)io->u.bdev.num_blocks);
	if (d->nomem_left > 0) {
		d->nomem_left--;
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_NOMEM);
		return;
	}
	if (io->type == KEEL_BDEV_IO_TYPE_RESET && d->reset_aborts_held) {
		struct keel_bdev_io *h;

		while ((h = TAILQ_FIRST(&d->held)) != NULL) {
			TAILQ_REMOVE(&d->held, h, internal.link);
			keel_bdev_io_complete(h, KEEL_BDEV_IO_STATUS_ABORTED);
		}
		TAILQ_INSERT_TAIL(&uch->done, io, internal.link);
		return;
	}
	if (d->hold) {
		TAILQ_INSERT_TAIL(&d->held, io, internal.link);
		return;
	}
	ut_execute(d, io);
	TAILQ_INSERT_TAIL(&uch->done, io, internal.link);
}

/* Complete every held I/O (from the thread that polls it). */
static void
ut_release(struct ut_disk *d)
{
	struct keel_bdev_io *io;

	d->hold = false;
	while ((io = TAILQ_FIRST(&d->held)) != NULL) {
		TAILQ_REMOVE(&d->held, io, internal.link);
		ut_execute(d, io);
		keel_set_thread(keel_bdev_io_get_thread(io));
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_SUCCESS);
	}
}

static bool
ut_supported(void *ctx, enum keel_bdev_io_type type)
{
	return type != KEEL_BDEV_IO_TYPE_COMPARE && type != KEEL_BDEV_IO_TYPE_COMPARE_AND_WRITE;
}

static struct keel_io_channel *
ut_get_io_channel(void *ctx)
{
	return keel_get_io_channel(&g_ch_dev);
}

static int
ut_destruct(void *ctx)
{
	struct ut_disk *d = ctx;

	d->destructed = true;
	return 0;
}

static int
ut_ch_create(void *dev, void *buf)
{
	struct ut_channel *uch = buf;

	TAILQ_INIT(&uch->done);
	uch->poller = keel_poller_register(ut_ch_poll, uch, 0);
	return uch->poller ? 0 : -ENOMEM;
}

static void
ut_ch_destroy(void *dev, void *buf)
{
	struct ut_channel *uch = buf;

	keel_poller_unregister(&uch->poller);
}

static const struct keel_bdev_fn_table g_ut_fn = {
	.destruct = ut_destruct,
	.submit_request = ut_submit,
	.io_type_supported = ut_supported,
	.get_io_channel = ut_get_io_channel,
};

static struct keel_bdev_module g_ut_module = {
	.name = "ut",
};

static void
poll_threads(int rounds)
{
	int i, j;

	for (i = 0; i < rounds; i++) {
		for (j = 0; j < 2; j++) {
			keel_thread_poll(g_t[j], 0, 0);
		}
	}
}

static void
init_done(int rc, void *ctx)
{
	*(int *)ctx = rc;
}

static int
suite_init(void)
{
	struct keel_env_opts opts;
	struct keel_bdev_opts bopts;
	int rc = 1;

	keel_env_opts_init(&opts);
	opts.name = "bdev_ut";
	opts.no_huge = true;
	opts.mem_size_mb = 512;
	if (keel_env_init(&opts) != 0 || keel_thread_lib_init(NULL, 65535) != 0) {
		return 1;
	}
	g_t[0] = keel_thread_create("ut0", NULL);
	g_t[1] = keel_thread_create("ut1", NULL);
	keel_set_thread(g_t[0]);
	keel_bdev_get_opts(&bopts);
	bopts.bdev_io_pool_size = 256;
	bopts.bdev_io_cache_size = 16;
	if (keel_bdev_set_opts(&bopts) != 0) {
		return 1;
	}
	keel_io_device_register(&g_ch_dev, ut_ch_create, ut_ch_destroy, sizeof(struct ut_channel),
				"ut");
	rc = -1;
	keel_subsystem_init(init_done, &rc);
	poll_threads(100);
	keel_set_thread(g_t[0]);
	return rc == 0 ? 0 : 1;
}

static int
suite_fini(void)
{
	return 0;
}

static int
ut_disk_register(const char *name)
{
	memset(&g_disk, 0, sizeof(g_disk));
	TAILQ_INIT(&g_disk.held);
	g_disk.data = calloc(UT_BLOCKS, UT_BLKLEN);
	g_disk.bdev.name = strdup(name);
	g_disk.bdev.product_name = "ut disk";
	g_disk.bdev.blocklen = UT_BLKLEN;
	g_disk.bdev.blockcnt = UT_BLOCKS;
	g_disk.bdev.ctxt = &g_disk;
	g_disk.bdev.fn_table = &g_ut_fn;
	g_disk.bdev.module = &g_ut_module;
	return keel_bdev_register(&g_disk.bdev);
}

static int g_unreg_rc = 1;

static void
unreg_done(void *arg, int rc)
{
	g_unreg_rc = rc;
}

static void
ut_disk_unregister(void)
{
	keel_set_thread(g_t[0]);
	g_unreg_rc = 1;
	keel_bdev_unregister(&g_disk.bdev, unreg_done, NULL);
	poll_threads(50);
	CU_ASSERT(g_unreg_rc == 0);
	CU_ASSERT(g_disk.destructed);
	free(g_disk.bdev.name);
	free(g_disk.data);
}

static int g_events[2];

static void
ut_event(enum keel_bdev_event_type type, struct keel_bdev *bdev, void *ctx)
{
	g_events[type]++;
	if (ctx != NULL) {
		*(bool *)ctx = true;
	}
}

struct io_result {
	int done;
	bool success;
	enum keel_bdev_io_status status;
	uint64_t miscompare;
};

static void
io_done(struct keel_bdev_io *io, bool success, void *arg)
{
	struct io_result *r = arg;

	r->done++;
	r->success = success;
	r->status = keel_bdev_io_get_status(io);
	r->miscompare = keel_bdev_io_get_miscompare_offset(io);
	keel_bdev_free_io(io);
}

static void
register_lookup_and_aliases(void)
{
	struct keel_bdev *b;
	char uuid[KEEL_UUID_STRING_LEN];
	struct ut_disk other;

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	CU_ASSERT(keel_bdev_get_by_name("ut0") == &g_disk.bdev);
	keel_bdev_get_uuid_str(&g_disk.bdev, uuid);
	CU_ASSERT(keel_bdev_get_by_name(uuid) == &g_disk.bdev);
	CU_ASSERT(keel_bdev_alias_add(&g_disk.bdev, "first") == 0);
	CU_ASSERT(keel_bdev_alias_add(&g_disk.bdev, "first") == -EEXIST);
	CU_ASSERT(keel_bdev_alias_add(&g_disk.bdev, "ut0") == -EEXIST);
	b = keel_bdev_get_by_name("first");
	CU_ASSERT(b == &g_disk.bdev);
	/* Same name again is refused. */
	memset(&other, 0, sizeof(other));
	other.bdev = g_disk.bdev;
	other.bdev.name = "ut0";
	memset(other.bdev.uuid, 0, 16);
	CU_ASSERT(keel_bdev_register(&other.bdev) == -EEXIST);
	/* Bad geometry is refused. */
	other.bdev.name = "bad";
	other.bdev.blocklen = 1000;
	CU_ASSERT(keel_bdev_register(&other.bdev) == -EINVAL);
	CU_ASSERT(keel_bdev_get_max_compare_and_write_blocks(&g_disk.bdev) == 1);
	ut_disk_unregister();
	CU_ASSERT(keel_bdev_get_by_name("ut0") == NULL);
	CU_ASSERT(keel_bdev_get_by_name("first") == NULL);
}

/* Open ut0 on thread 0 with a channel. */
static struct keel_bdev_desc *g_desc;
static struct keel_io_channel *g_ch;

static void
open_ut0(void)
{
	keel_set_thread(g_t[0]);
	memset(g_events, 0, sizeof(g_events));
	CU_ASSERT_FATAL(keel_bdev_open_ext("ut0", true, ut_event, NULL, &g_desc) == 0);
	g_ch = keel_bdev_get_io_channel(g_desc);
	CU_ASSERT_FATAL(g_ch != NULL);
}

static void
close_ut0(void)
{
	keel_set_thread(g_t[0]);
	keel_put_io_channel(g_ch);
	keel_bdev_close(g_desc);
	poll_threads(10);
}

static void
write_then_read_completes_later_with_data(void)
{
	struct io_result r = {0};
	uint8_t *w = keel_dma_malloc(8192, 64, NULL), *rd = keel_dma_zmalloc(8192, 64, NULL);

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	open_ut0();
	memset(w, 0xab, 8192);
	CU_ASSERT(keel_bdev_write_blocks(g_desc, g_ch, w, 10, 16, io_done, &r) == 0);
	CU_ASSERT(r.done == 0); /* never inline */
	poll_threads(5);
	CU_ASSERT(r.done == 1 && r.success);
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, rd, 10, 16, io_done, &r) == 0);
	poll_threads(5);
	CU_ASSERT(r.done == 2 && r.success);
	CU_ASSERT(memcmp(w, rd, 8192) == 0);
	/* Out of range and zero length are refused synchronously. */
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, rd, UT_BLOCKS - 1, 2, io_done, &r) == -EINVAL);
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, rd, UINT64_MAX, 1, io_done, &r) == -EINVAL);
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, rd, 0, 0, io_done, &r) == -EINVAL);
	close_ut0();
	ut_disk_unregister();
	keel_dma_free(w);
	keel_dma_free(rd);
}

static void
large_io_is_split_on_transfer_limit_and_boundary(void)
{
	struct io_result r = {0};
	size_t len = 1024 * 1024;
	uint8_t *w = malloc(len), *rd = calloc(1, len);
	struct iovec wv[3], rv[2];
	size_t i;

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	g_disk.bdev.max_transfer_blocks = 64;
	open_ut0();
	for (i = 0; i < len; i++) {
		w[i] = (uint8_t)(i * 7 + i / 512);
	}
	/* Three iovecs that do not end on block boundaries. */
	wv[0].iov_base = w;
	wv[0].iov_len = 1000;
	wv[1].iov_base = w + 1000;
	wv[1].iov_len = 300000;
	wv[2].iov_base = w + 301000;
	wv[2].iov_len = len - 301000;
	CU_ASSERT(keel_bdev_writev_blocks(g_desc, g_ch, wv, 3, 100, len / UT_BLKLEN, io_done,
					  &r) == 0);
	poll_threads(200);
	CU_ASSERT(r.done == 1 && r.success);
	CU_ASSERT(g_disk.max_seen_blocks <= 64);
	CU_ASSERT(memcmp(g_disk.data + 100 * UT_BLKLEN, w, len) == 0);
	/* Optimal boundary: no child crosses a 128-block line. */
	g_disk.bdev.max_transfer_blocks = 0;
	g_disk.bdev.optimal_io_boundary = 128;
	g_disk.bdev.split_on_optimal_io_boundary = true;
	g_disk.max_seen_blocks = 0;
	rv[0].iov_base = rd;
	rv[0].iov_len = 4096;
	rv[1].iov_base = rd + 4096;
	rv[1].iov_len = len - 4096;
	CU_ASSERT(keel_bdev_readv_blocks(g_desc, g_ch, rv, 2, 100, len / UT_BLKLEN, io_done,
					 &r) == 0);
	poll_threads(200);
	CU_ASSERT(r.done == 2 && r.success);
	CU_ASSERT(g_disk.max_seen_blocks <= 128);
	CU_ASSERT(memcmp(rd, w, len) == 0);
	/* The statistics count the user I/O once. */
	{
		struct keel_bdev_io_stat st;

		keel_bdev_get_io_stat(&g_disk.bdev, g_ch, &st);
		CU_ASSERT(st.num_write_ops == 1 && st.num_read_ops == 1);
		CU_ASSERT(st.bytes_read == len && st.bytes_written == len);
	}
	close_ut0();
	ut_disk_unregister();
	free(w);
	free(rd);
}

static void
unaligned_buffers_are_bounced(void)
{
	struct io_result r = {0};
	uint8_t *raw = malloc(4096 * 3), *w = raw + 3, *rd = calloc(1, 4096 + 8);
	struct iovec v;

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	g_disk.bdev.required_alignment = 12;
	open_ut0();
	memset(w, 0x5c, 4096);
	CU_ASSERT(keel_bdev_write_blocks(g_desc, g_ch, w, 0, 8, io_done, &r) == 0);
	poll_threads(10);
	CU_ASSERT(r.done == 1 && r.success);
	CU_ASSERT(!g_disk.saw_unaligned);
	v.iov_base = rd + 1;
	v.iov_len = 4096;
	CU_ASSERT(keel_bdev_readv_blocks(g_desc, g_ch, &v, 1, 0, 8, io_done, &r) == 0);
	poll_threads(10);
	CU_ASSERT(r.done == 2 && r.success);
	CU_ASSERT(!g_disk.saw_unaligned);
	CU_ASSERT(memcmp(rd + 1, w, 4096) == 0);
	close_ut0();
	ut_disk_unregister();
	free(raw);
	free(rd);
}

static struct io_result g_many[400];
static int g_waited;
static struct keel_bdev_io_wait_entry g_wait;

static void
wait_cb(void *arg)
{
	g_waited++;
}

static void
pool_exhaustion_queues_waiters_and_loses_nothing(void)
{
	static uint8_t buf[UT_BLKLEN];
	int i, accepted = 0, done = 0;

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	open_ut0();
	g_disk.hold = true;
	memset(g_many, 0, sizeof(g_many));
	for (i = 0; i < 400; i++) {
		int rc = keel_bdev_read_blocks(g_desc, g_ch, buf, (uint64_t)i, 1, io_done,
					       &g_many[i]);

		if (rc == -ENOMEM) {
			break;
		}
		CU_ASSERT(rc == 0);
		accepted++;
	}
	/* The pool holds 256 objects. */
	CU_ASSERT(accepted >= 200 && accepted <= 256);
	g_waited = 0;
	g_wait.bdev = &g_disk.bdev;
	g_wait.cb_fn = wait_cb;
	CU_ASSERT(keel_bdev_queue_io_wait(&g_disk.bdev, g_ch, &g_wait) == 0);
	poll_threads(5);
	CU_ASSERT(g_waited == 0);
	keel_set_thread(g_t[0]);
	ut_release(&g_disk);
	poll_threads(10);
	CU_ASSERT(g_waited == 1);
	for (i = 0; i < accepted; i++) {
		done += g_many[i].done;
	}
	CU_ASSERT(done == accepted);
	close_ut0();
	ut_disk_unregister();
}

static void
module_nomem_is_retried(void)
{
	struct io_result r = {0};
	static uint8_t buf[UT_BLKLEN];
	uint64_t start;

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	open_ut0();
	g_disk.nomem_left = 3;
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 0, 1, io_done, &r) == 0);
	start = keel_get_ticks();
	while (r.done == 0 && keel_get_ticks() - start < keel_get_ticks_hz()) {
		poll_threads(1);
	}
	CU_ASSERT(r.done == 1 && r.success);
	CU_ASSERT(g_disk.submits == 4);
	close_ut0();
	ut_disk_unregister();
}

static void
hot_remove_with_io_in_flight(void)
{
	static uint8_t buf[64 * UT_BLKLEN];
	struct io_result r[8];
	struct keel_bdev_desc *desc1;
	struct keel_io_channel *ch1;
	bool removed1 = false;
	int i;

	memset(r, 0, sizeof(r));
	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	open_ut0();
	keel_set_thread(g_t[1]);
	CU_ASSERT_FATAL(keel_bdev_open_ext("ut0", true, ut_event, &removed1, &desc1) == 0);
	ch1 = keel_bdev_get_io_channel(desc1);
	g_disk.hold = true;
	for (i = 0; i < 4; i++) {
		keel_set_thread(g_t[0]);
		CU_ASSERT(keel_bdev_write_blocks(g_desc, g_ch, buf, (uint64_t)i * 64, 64, io_done,
						 &r[i]) == 0);
		keel_set_thread(g_t[1]);
		CU_ASSERT(keel_bdev_read_blocks(desc1, ch1, buf, (uint64_t)i * 64, 64, io_done,
						&r[4 + i]) == 0);
	}
	keel_set_thread(g_t[0]);
	g_unreg_rc = 1;
	keel_bdev_unregister(&g_disk.bdev, unreg_done, NULL);
	poll_threads(5);
	/* Both holders heard, each on its own thread. */
	CU_ASSERT(g_events[KEEL_BDEV_EVENT_REMOVE] == 2);
	CU_ASSERT(removed1);
	/* New I/O fails at once. */
	keel_set_thread(g_t[0]);
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 0, 1, io_done, &r[0]) == -ENODEV);
	CU_ASSERT(keel_bdev_open_ext("ut0", false, ut_event, NULL, &desc1) == -ENODEV ||
		  desc1 != NULL);
	/* In-flight I/O still completes; unregister waits for the last close. */
	ut_release(&g_disk);
	poll_threads(10);
	for (i = 0; i < 8; i++) {
		CU_ASSERT(r[i].done == 1);
	}
	CU_ASSERT(g_unreg_rc == 1);
	keel_set_thread(g_t[1]);
	keel_put_io_channel(ch1);
	keel_bdev_close(desc1);
	poll_threads(10);
	CU_ASSERT(g_unreg_rc == 1);
	close_ut0();
	poll_threads(20);
	CU_ASSERT(g_unreg_rc == 0);
	CU_ASSERT(g_disk.destructed);
	free(g_disk.bdev.name);
	free(g_disk.data);
}

/* I/O the device never completes: after the drain time (a second) the module's own reset runs
 * anyway, and it is what ends that I/O. */
static void
reset_resets_the_device_under_io_that_never_drains(void)
{
	static uint8_t buf[UT_BLKLEN];
	struct io_result held = {0}, reset = {0};
	uint64_t start;

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	open_ut0();
	g_disk.hold = true;
	g_disk.reset_aborts_held = true;
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 0, 1, io_done, &held) == 0);
	CU_ASSERT(keel_bdev_reset(g_desc, g_ch, io_done, &reset) == 0);
	start = keel_get_ticks();
	while (keel_get_ticks() - start < keel_get_ticks_hz() / 2) {
		poll_threads(1);
	}
	CU_ASSERT(held.done == 0 && reset.done == 0); /* still draining */
	while (reset.done == 0 && keel_get_ticks() - start < 3 * keel_get_ticks_hz()) {
		poll_threads(1);
	}
	CU_ASSERT(reset.done == 1 && reset.success);
	CU_ASSERT(held.done == 1 && held.status == KEEL_BDEV_IO_STATUS_ABORTED);
	g_disk.hold = false;
	g_disk.reset_aborts_held = false;
	close_ut0();
	ut_disk_unregister();
}

static void
reset_aborts_queued_and_new_io_and_waits_for_outstanding(void)
{
	static uint8_t buf[UT_BLKLEN];
	struct io_result held = {0}, queued = {0}, reset = {0}, late = {0}, after = {0};
	uint64_t start;

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	open_ut0();
	g_disk.hold = true;
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 0, 1, io_done, &held) == 0);
	g_disk.nomem_left = 1;
	g_disk.hold = false;
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 1, 1, io_done, &queued) == 0);
	g_disk.hold = true;
	CU_ASSERT(keel_bdev_reset(g_desc, g_ch, io_done, &reset) == 0);
	poll_threads(20);
	CU_ASSERT(queued.done == 1 && queued.status == KEEL_BDEV_IO_STATUS_ABORTED);
	CU_ASSERT(reset.done == 0);
	/* I/O submitted while the reset waits is aborted, not sent: it would starve the reset. */
	keel_set_thread(g_t[0]);
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 2, 1, io_done, &late) == 0);
	CU_ASSERT(late.done == 0); /* never inline */
	poll_threads(5);
	CU_ASSERT(late.done == 1 && late.status == KEEL_BDEV_IO_STATUS_ABORTED);
	CU_ASSERT(reset.done == 0);
	keel_set_thread(g_t[0]);
	ut_release(&g_disk);
	start = keel_get_ticks();
	while (reset.done == 0 && keel_get_ticks() - start < keel_get_ticks_hz()) {
		poll_threads(1);
	}
	CU_ASSERT(held.done == 1 && held.success);
	CU_ASSERT(reset.done == 1 && reset.success);
	/* Once it is done, I/O goes through again. */
	g_disk.hold = false;
	keel_set_thread(g_t[0]);
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 2, 1, io_done, &after) == 0);
	poll_threads(5);
	CU_ASSERT(after.done == 1 && after.success);
	close_ut0();
	ut_disk_unregister();
}

static void
compare_and_compare_and_write(void)
{
	static uint8_t cmp[UT_BLKLEN], wr[UT_BLKLEN];
	struct iovec cv = {cmp, UT_BLKLEN}, wv = {wr, UT_BLKLEN};
	struct io_result r = {0};
	uint64_t start;

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	open_ut0();
	memset(g_disk.data + 5 * UT_BLKLEN, 0x11, UT_BLKLEN);
	memset(cmp, 0x11, sizeof(cmp));
	CU_ASSERT(keel_bdev_comparev_blocks(g_desc, g_ch, &cv, 1, 5, 1, io_done, &r) == 0);
	poll_threads(20);
	CU_ASSERT(r.done == 1 && r.status == KEEL_BDEV_IO_STATUS_SUCCESS);
	cmp[100] = 0x22;
	CU_ASSERT(keel_bdev_comparev_blocks(g_desc, g_ch, &cv, 1, 5, 1, io_done, &r) == 0);
	poll_threads(20);
	CU_ASSERT(r.done == 2 && r.status == KEEL_BDEV_IO_STATUS_MISCOMPARE);
	CU_ASSERT(r.miscompare == 100);
	/* Compare-and-write: miscompare leaves the data alone. */
	memset(wr, 0x33, sizeof(wr));
	CU_ASSERT(keel_bdev_comparev_and_writev_blocks(g_desc, g_ch, &cv, 1, &wv, 1, 5, 1, io_done,
						       &r) == 0);
	start = keel_get_ticks();
	while (r.done < 3 && keel_get_ticks() - start < keel_get_ticks_hz()) {
		poll_threads(1);
	}
	CU_ASSERT(r.done == 3 && r.status == KEEL_BDEV_IO_STATUS_MISCOMPARE && r.miscompare == 100);
	CU_ASSERT(g_disk.data[5 * UT_BLKLEN] == 0x11);
	cmp[100] = 0x11;
	CU_ASSERT(keel_bdev_comparev_and_writev_blocks(g_desc, g_ch, &cv, 1, &wv, 1, 5, 1, io_done,
						       &r) == 0);
	start = keel_get_ticks();
	while (r.done < 4 && keel_get_ticks() - start < keel_get_ticks_hz()) {
		poll_threads(1);
	}
	CU_ASSERT(r.done == 4 && r.status == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(g_disk.data[5 * UT_BLKLEN] == 0x33);
	/* More blocks than the limit is refused. */
	CU_ASSERT(keel_bdev_comparev_and_writev_blocks(g_desc, g_ch, &cv, 1, &wv, 1, 5, 2, io_done,
						       &r) == -EINVAL);
	close_ut0();
	ut_disk_unregister();
}

static void
compare_and_write_waits_for_overlapping_io_on_other_thread(void)
{
	static uint8_t cmp[UT_BLKLEN], wr[UT_BLKLEN], other[UT_BLKLEN];
	struct iovec cv = {cmp, UT_BLKLEN}, wv = {wr, UT_BLKLEN};
	struct io_result caw = {0}, w1 = {0}, w2 = {0};
	struct keel_bdev_desc *desc1;
	struct keel_io_channel *ch1;
	uint64_t start;

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	open_ut0();
	keel_set_thread(g_t[1]);
	CU_ASSERT_FATAL(keel_bdev_open_ext("ut0", true, ut_event, NULL, &desc1) == 0);
	ch1 = keel_bdev_get_io_channel(desc1);
	/* A write from thread 1 is at the module (held) when the CAW starts. */
	g_disk.hold = true;
	memset(other, 0x44, sizeof(other));
	CU_ASSERT(keel_bdev_write_blocks(desc1, ch1, other, 7, 1, io_done, &w1) == 0);
	g_disk.hold = false;
	memset(cmp, 0x44, sizeof(cmp));
	memset(wr, 0x55, sizeof(wr));
	keel_set_thread(g_t[0]);
	CU_ASSERT(keel_bdev_comparev_and_writev_blocks(g_desc, g_ch, &cv, 1, &wv, 1, 7, 1, io_done,
						       &caw) == 0);
	poll_threads(50);
	CU_ASSERT(caw.done == 0); /* waits for the held write */
	/* Release it: the CAW then sees its data and writes. */
	g_disk.hold = true; /* keep ut_release's semantics: completes held ones */
	ut_release(&g_disk);
	start = keel_get_ticks();
	while (caw.done == 0 && keel_get_ticks() - start < keel_get_ticks_hz()) {
		poll_threads(1);
	}
	CU_ASSERT(w1.done == 1);
	CU_ASSERT(caw.done == 1 && caw.status == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(g_disk.data[7 * UT_BLKLEN] == 0x55);
	/* After the lock is gone, a new write goes through. */
	keel_set_thread(g_t[1]);
	CU_ASSERT(keel_bdev_write_blocks(desc1, ch1, other, 7, 1, io_done, &w2) == 0);
	poll_threads(10);
	CU_ASSERT(w2.done == 1);
	keel_set_thread(g_t[1]);
	keel_put_io_channel(ch1);
	keel_bdev_close(desc1);
	close_ut0();
	ut_disk_unregister();
}

static void
qos_done(void *arg, int rc)
{
	*(int *)arg = rc;
}

static void
qos_limits_iops(void)
{
	static uint8_t buf[UT_BLKLEN];
	uint64_t limits[4] = {1000, 0, 0, 0};
	int i, done = 0, rc = 1;
	uint64_t start;

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	open_ut0();
	keel_bdev_set_qos_rate_limits(&g_disk.bdev, limits, qos_done, &rc);
	CU_ASSERT(rc == 0);
	memset(g_many, 0, sizeof(g_many));
	for (i = 0; i < 50; i++) {
		CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 0, 1, io_done, &g_many[i]) == 0);
	}
	/* 1000 IOPS is one per millisecond: after ~5 ms, far fewer than 50. */
	start = keel_get_ticks();
	while (keel_get_ticks() - start < keel_get_ticks_hz() / 200) {
		poll_threads(1);
	}
	for (i = 0; i < 50; i++) {
		done += g_many[i].done;
	}
	CU_ASSERT(done >= 1 && done < 30);
	/* Lifting the limit lets the rest through. */
	limits[0] = 0;
	keel_set_thread(g_t[0]);
	keel_bdev_set_qos_rate_limits(&g_disk.bdev, limits, qos_done, &rc);
	start = keel_get_ticks();
	while (keel_get_ticks() - start < keel_get_ticks_hz() / 10) {
		poll_threads(1);
	}
	done = 0;
	for (i = 0; i < 50; i++) {
		done += g_many[i].done;
	}
	/* The queued ones drain at the old pace or faster; all have finished within 100 ms. */
	CU_ASSERT(done == 50);
	close_ut0();
	ut_disk_unregister();
}

/* A bandwidth limit delivers its rate even when the QoS poller runs late (every 4 ms here,
 * as on a loaded reactor): each slice that went by counts, not one per poll. */
static void
qos_bandwidth_limit_holds_when_polled_late(void)
{
	static uint8_t buf[UT_BLKLEN];
	uint64_t limits[4] = {0, 1024 * 1024, 0, 0};
	int i, done = 0, rc = 1;
	uint64_t start;

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	open_ut0();
	keel_bdev_set_qos_rate_limits(&g_disk.bdev, limits, qos_done, &rc);
	CU_ASSERT(rc == 0);
	memset(g_many, 0, sizeof(g_many));
	for (i = 0; i < 200; i++) {
		CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 0, 1, io_done, &g_many[i]) == 0);
	}
	/* 1 MiB/s is 204 reads of 512 bytes in 100 ms; one slice (1 ms) per poll
	 * would be at most 50 (the I/O hops between threads cost some polls too). */
	start = keel_get_ticks();
	while (keel_get_ticks() - start < keel_get_ticks_hz() / 10) {
		poll_threads(1);
		usleep(4000);
	}
	poll_threads(1);
	for (i = 0; i < 200; i++) {
		done += g_many[i].done;
	}
	CU_ASSERT(done >= 100);
	limits[1] = 0;
	keel_set_thread(g_t[0]);
	keel_bdev_set_qos_rate_limits(&g_disk.bdev, limits, qos_done, &rc);
	start = keel_get_ticks();
	while (keel_get_ticks() - start < keel_get_ticks_hz() / 10) {
		poll_threads(1);
	}
	close_ut0();
	ut_disk_unregister();
}

static int g_stat_rc = 1;

static void
stat_done(void *arg, int rc)
{
	g_stat_rc = rc;
}

static void
device_stat_sums_channels_of_all_threads(void)
{
	static uint8_t buf[UT_BLKLEN];
	struct keel_bdev_io_stat st;
	struct keel_bdev_desc *desc1;
	struct keel_io_channel *ch1;
	struct io_result r = {0};

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	open_ut0();
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 0, 1, io_done, &r) == 0);
	keel_set_thread(g_t[1]);
	CU_ASSERT_FATAL(keel_bdev_open_ext("ut0", true, ut_event, NULL, &desc1) == 0);
	ch1 = keel_bdev_get_io_channel(desc1);
	CU_ASSERT(keel_bdev_write_blocks(desc1, ch1, buf, 0, 1, io_done, &r) == 0);
	CU_ASSERT(keel_bdev_read_blocks(desc1, ch1, buf, 0, 1, io_done, &r) == 0);
	poll_threads(10);
	CU_ASSERT(r.done == 3);
	keel_set_thread(g_t[0]);
	g_stat_rc = 1;
	keel_bdev_get_device_stat(&g_disk.bdev, &st, stat_done, NULL);
	poll_threads(10);
	CU_ASSERT(g_stat_rc == 0);
	CU_ASSERT(st.num_read_ops == 2 && st.num_write_ops == 1);
	CU_ASSERT(st.bytes_read == 2 * UT_BLKLEN);
	keel_set_thread(g_t[1]);
	keel_put_io_channel(ch1);
	keel_bdev_close(desc1);
	close_ut0();
	ut_disk_unregister();
}

/* The I/O path reads the TSC once per poll of a thread: a completion in the poll of its
 * submission still gets its true latency, and a later submission gets a fresh stamp. */
static void
latency_stats_use_a_fresh_clock_per_poll_and_are_never_zero(void)
{
	static uint8_t buf[UT_BLKLEN];
	uint64_t ms = keel_get_ticks_hz() / 1000;
	struct keel_bdev_io_stat st;
	struct io_result r = {0};

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	open_ut0();
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 0, 1, io_done, &r) == 0);
	keel_delay_us(20000);
	poll_threads(5);
	CU_ASSERT(r.done == 1);
	keel_delay_us(20000);
	keel_set_thread(g_t[0]);
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 0, 1, io_done, &r) == 0);
	poll_threads(5);
	CU_ASSERT(r.done == 2);
	keel_bdev_get_io_stat(&g_disk.bdev, g_ch, &st);
	CU_ASSERT(st.num_read_ops == 2);
	/* The first waited 20 ms before the poll that completed it. */
	CU_ASSERT(st.max_read_latency_ticks >= 20 * ms);
	/* The second was stamped when it was submitted, not at the end of the previous poll. */
	CU_ASSERT(st.min_read_latency_ticks > 0);
	CU_ASSERT(st.min_read_latency_ticks < 20 * ms);
	close_ut0();
	ut_disk_unregister();
}

/* Poll both threads, with some real time between polls, until the sampling of ut0 has seen
 * I/O at least want times (its timed poller runs every millisecond). */
static void
qd_wait_samples(uint64_t want_io_time)
{
	int i;

	for (i = 0; i < 1000 && keel_bdev_get_io_time(&g_disk.bdev) < want_io_time; i++) {
		keel_delay_us(200);
		poll_threads(1);
	}
	keel_set_thread(g_t[0]);
}

/* Queue-depth sampling counts the I/O at the module on every thread's channel; io_time grows
 * by a period for each sample that finds I/O, weighted_io_time by the period times the depth. */
static void
qd_sampling_counts_held_io_on_every_thread(void)
{
	static uint8_t buf[UT_BLKLEN];
	struct keel_bdev_desc *desc1;
	struct keel_io_channel *ch1;
	struct io_result r = {0};
	uint64_t t;

	CU_ASSERT_FATAL(ut_disk_register("ut0") == 0);
	open_ut0();
	CU_ASSERT(keel_bdev_get_qd_sampling_period(&g_disk.bdev) == 0);
	g_disk.hold = true;
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 0, 1, io_done, &r) == 0);
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 1, 1, io_done, &r) == 0);
	keel_set_thread(g_t[1]);
	CU_ASSERT_FATAL(keel_bdev_open_ext("ut0", true, ut_event, NULL, &desc1) == 0);
	ch1 = keel_bdev_get_io_channel(desc1);
	CU_ASSERT(keel_bdev_write_blocks(desc1, ch1, buf, 2, 1, io_done, &r) == 0);
	keel_set_thread(g_t[0]);
	CU_ASSERT(keel_bdev_set_qd_sampling_period(&g_disk.bdev, 1000) == 0);
	CU_ASSERT(keel_bdev_get_qd_sampling_period(&g_disk.bdev) == 1000);
	qd_wait_samples(3000);
	CU_ASSERT(keel_bdev_get_qd(&g_disk.bdev) == 3);
	t = keel_bdev_get_io_time(&g_disk.bdev);
	CU_ASSERT(t >= 3000 && t % 1000 == 0);
	CU_ASSERT(keel_bdev_get_weighted_io_time(&g_disk.bdev) == 3 * t);

	/* Nothing outstanding: the depth drops to 0 and the busy time stops growing. */
	ut_release(&g_disk);
	poll_threads(10);
	CU_ASSERT(r.done == 3);
	keel_set_thread(g_t[0]);
	t = keel_bdev_get_io_time(&g_disk.bdev);
	keel_delay_us(5000);
	poll_threads(20);
	CU_ASSERT(keel_bdev_get_qd(&g_disk.bdev) == 0);
	CU_ASSERT(keel_bdev_get_io_time(&g_disk.bdev) - t <= 2000); /* samples under way then */

	/* 0 stops sampling and keeps the totals. */
	keel_set_thread(g_t[0]);
	t = keel_bdev_get_io_time(&g_disk.bdev);
	CU_ASSERT(keel_bdev_set_qd_sampling_period(&g_disk.bdev, 0) == 0);
	CU_ASSERT(keel_bdev_get_qd_sampling_period(&g_disk.bdev) == 0);
	g_disk.hold = true;
	CU_ASSERT(keel_bdev_read_blocks(g_desc, g_ch, buf, 0, 1, io_done, &r) == 0);
	keel_delay_us(5000);
	poll_threads(20);
	CU_ASSERT(keel_bdev_get_io_time(&g_disk.bdev) == t);
	ut_release(&g_disk);
	poll_threads(10);

	/* Unregistered while sampling: the sampling goes with the bdev. */
	keel_set_thread(g_t[0]);
	CU_ASSERT(keel_bdev_set_qd_sampling_period(&g_disk.bdev, 1000) == 0);
	keel_set_thread(g_t[1]);
	keel_put_io_channel(ch1);
	keel_bdev_close(desc1);
	close_ut0();
	ut_disk_unregister();
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(register_lookup_and_aliases),
		KEEL_UT_TEST(write_then_read_completes_later_with_data),
		KEEL_UT_TEST(large_io_is_split_on_transfer_limit_and_boundary),
		KEEL_UT_TEST(unaligned_buffers_are_bounced),
		KEEL_UT_TEST(pool_exhaustion_queues_waiters_and_loses_nothing),
		KEEL_UT_TEST(module_nomem_is_retried),
		KEEL_UT_TEST(hot_remove_with_io_in_flight),
		KEEL_UT_TEST(reset_aborts_queued_and_new_io_and_waits_for_outstanding),
		KEEL_UT_TEST(reset_resets_the_device_under_io_that_never_drains),
		KEEL_UT_TEST(compare_and_compare_and_write),
		KEEL_UT_TEST(compare_and_write_waits_for_overlapping_io_on_other_thread),
		KEEL_UT_TEST(qos_limits_iops),
		KEEL_UT_TEST(qos_bandwidth_limit_holds_when_polled_late),
		KEEL_UT_TEST(device_stat_sums_channels_of_all_threads),
		KEEL_UT_TEST(latency_stats_use_a_fresh_clock_per_poll_and_are_never_zero),
		KEEL_UT_TEST(qd_sampling_counts_held_io_on_every_thread),
	};

	return keel_ut_run("bdev", tests, KEEL_COUNTOF(tests), suite_init, suite_fini);
}
