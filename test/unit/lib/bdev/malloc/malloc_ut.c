/*
 * Unit tests of the malloc bdev module over the real bdev layer and copy engine, with two
 * threads polled by the test: data written reads back, unmap and write-zeroes read back zero,
 * compare finds the first differing byte, hot-remove, the [Malloc] section, the JSON config
 * and the RPC methods with every error they answer.
 */
#include "keel/stdinc.h"
#include "keel/accel.h"
#include "keel/bdev.h"
#include "keel/conf.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/rpc.h"
#include "keel/thread.h"
#include "ut.h"

#include <json-c/json.h>

#include "bdev/malloc/bdev_malloc.c"
#include "bdev/malloc/bdev_malloc_rpc.c"
#include "bdev/null/bdev_null.h"

static struct keel_thread *g_t[2];

static void
poll_threads(int rounds)
{
	int i, j;

	for (i = 0; i < rounds; i++) {
		for (j = 0; j < 2; j++) {
			keel_thread_poll(g_t[j], 0, 0);
		}
	}
	keel_set_thread(g_t[0]);
}

/* Poll until *counter reaches want, for at most a second of real time (timed pollers). */
static void
poll_until(const int *counter, int want)
{
	uint64_t end = keel_get_ticks() + keel_get_ticks_hz();

	while (*counter < want && keel_get_ticks() < end) {
		poll_threads(1);
	}
	CU_ASSERT(*counter >= want);
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
	int rc = -1;

	keel_env_opts_init(&opts);
	opts.name = "malloc_ut";
	opts.no_huge = true;
	opts.no_pci = true;
	opts.mem_size_mb = 256;
	if (keel_env_init(&opts) != 0 || keel_thread_lib_init(NULL, 65535) != 0) {
		return 1;
	}
	g_t[0] = keel_thread_create("ut0", NULL);
	g_t[1] = keel_thread_create("ut1", NULL);
	if (g_t[0] == NULL || g_t[1] == NULL) {
		return 1;
	}
	keel_set_thread(g_t[0]);
	keel_subsystem_init(init_done, &rc);
	poll_threads(100);
	keel_rpc_set_state(KEEL_RPC_RUNTIME);
	return rc == 0 ? 0 : 1;
}

static int
suite_fini(void)
{
	return 0;
}

static int
count_bdevs(void)
{
	struct keel_bdev *b;
	int n = 0;

	for (b = keel_bdev_first(); b != NULL; b = keel_bdev_next(b)) {
		n++;
	}
	return n;
}

static struct keel_bdev *
create_malloc(const char *name, uint64_t num_blocks, uint32_t block_size)
{
	struct malloc_bdev_opts opts = {.name = name,
					.num_blocks = num_blocks,
					.block_size = block_size};
	struct keel_bdev *bdev = NULL;
	char err[300];

	CU_ASSERT_FATAL(bdev_malloc_create(&opts, &bdev, err, sizeof(err)) == 0);
	return bdev;
}

static int g_delete_rc;
static int g_delete_calls;

static void
delete_done(void *arg, int rc)
{
	g_delete_rc = rc;
	g_delete_calls++;
}

static void
delete_malloc(const char *name)
{
	g_delete_calls = 0;
	CU_ASSERT(bdev_malloc_delete(name, delete_done, NULL) == 0);
	poll_threads(20);
	CU_ASSERT(g_delete_calls == 1);
	CU_ASSERT(g_delete_rc == 0);
	CU_ASSERT(keel_bdev_get_by_name(name) == NULL);
}

static int g_remove_events;

static void
bdev_event(enum keel_bdev_event_type type, struct keel_bdev *bdev, void *ctx)
{
	if (type == KEEL_BDEV_EVENT_REMOVE) {
		g_remove_events++;
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

/* An open descriptor and channel on thread 0. */
struct ut_open {
	struct keel_bdev_desc *desc;
	struct keel_io_channel *ch;
};

static struct ut_open
ut_open(const char *name)
{
	struct ut_open o = {0};

	CU_ASSERT_FATAL(keel_bdev_open_ext(name, true, bdev_event, NULL, &o.desc) == 0);
	o.ch = keel_bdev_get_io_channel(o.desc);
	CU_ASSERT_FATAL(o.ch != NULL);
	return o;
}

static void
ut_close(struct ut_open *o)
{
	keel_put_io_channel(o->ch);
	keel_bdev_close(o->desc);
	poll_threads(10);
}

static void
fill_pattern(uint8_t *buf, size_t len, uint8_t seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		buf[i] = (uint8_t)(seed + i * 7 + (i >> 9));
	}
}

static bool
all_bytes(const uint8_t *buf, size_t len, uint8_t value)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (buf[i] != value) {
			return false;
		}
	}
	return true;
}

static void
generated_names_take_the_lowest_free_number(void)
{
	struct malloc_bdev_opts opts = {.num_blocks = 16, .block_size = 512};
	struct keel_bdev *a, *b, *c;
	char err[300];

	CU_ASSERT_FATAL(bdev_malloc_create(&opts, &a, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(bdev_malloc_create(&opts, &b, err, sizeof(err)) == 0);
	CU_ASSERT(strcmp(keel_bdev_get_name(a), "Malloc0") == 0);
	CU_ASSERT(strcmp(keel_bdev_get_name(b), "Malloc1") == 0);
	delete_malloc("Malloc0");
	CU_ASSERT_FATAL(bdev_malloc_create(&opts, &c, err, sizeof(err)) == 0);
	CU_ASSERT(strcmp(keel_bdev_get_name(c), "Malloc0") == 0);
	delete_malloc("Malloc0");
	delete_malloc("Malloc1");
}

static void
create_sets_geometry_product_and_io_types(void)
{
	struct malloc_bdev_opts opts = {.name = "M",
					.num_blocks = 64,
					.block_size = 4096,
					.optimal_io_boundary = 8};
	struct keel_bdev *bdev;
	char err[300];

	CU_ASSERT_FATAL(bdev_malloc_create(&opts, &bdev, err, sizeof(err)) == 0);
	CU_ASSERT(keel_bdev_get_num_blocks(bdev) == 64);
	CU_ASSERT(keel_bdev_get_block_size(bdev) == 4096);
	CU_ASSERT(strcmp(keel_bdev_get_product_name(bdev), "Malloc disk") == 0);
	CU_ASSERT(strcmp(keel_bdev_get_module_name(bdev), "malloc") == 0);
	CU_ASSERT(!keel_bdev_has_write_cache(bdev));
	CU_ASSERT(keel_bdev_unmap_reads_zeroes(bdev));
	CU_ASSERT(keel_bdev_get_optimal_io_boundary(bdev) == 8);
	CU_ASSERT(bdev->split_on_optimal_io_boundary);
	CU_ASSERT(malloc_io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_READ));
	CU_ASSERT(malloc_io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_WRITE));
	CU_ASSERT(malloc_io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_FLUSH));
	CU_ASSERT(malloc_io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_UNMAP));
	CU_ASSERT(malloc_io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_WRITE_ZEROES));
	CU_ASSERT(malloc_io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_RESET));
	CU_ASSERT(malloc_io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_COMPARE));
	/* The layer emulates compare-and-write; the module does not claim it. */
	CU_ASSERT(!malloc_io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_COMPARE_AND_WRITE));
	CU_ASSERT(keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_COMPARE_AND_WRITE));
	/* A new disk reads as zeroes. */
	CU_ASSERT(all_bytes(((struct malloc_disk *)bdev->ctxt)->buf, 64 * 4096, 0));
	delete_malloc("M");
}

static void
write_then_read_returns_the_data(void)
{
	static const uint32_t sizes[] = {512, 4096};
	struct io_result w = {0}, r = {0};
	struct iovec wiov[3], riov[2];
	uint8_t *wbuf, *rbuf, *disk_buf;
	struct ut_open o;
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(sizes); i++) {
		uint32_t bs = sizes[i];

		create_malloc("MData", 128, bs);
		o = ut_open("MData");
		disk_buf = ((struct malloc_disk *)keel_bdev_desc_get_bdev(o.desc)->ctxt)->buf;
		wbuf = malloc(8 * bs);
		rbuf = malloc(8 * bs);
		fill_pattern(wbuf, 8 * bs, (uint8_t)i);
		memset(rbuf, 0xee, 8 * bs);
		/* Uneven pieces on both sides. */
		wiov[0] = (struct iovec){wbuf, 100};
		wiov[1] = (struct iovec){wbuf + 100, 3 * bs};
		wiov[2] = (struct iovec){wbuf + 100 + 3 * bs, 5 * bs - 100};
		riov[0] = (struct iovec){rbuf, 7 * bs + 1};
		riov[1] = (struct iovec){rbuf + 7 * bs + 1, bs - 1};
		w = (struct io_result){0};
		r = (struct io_result){0};
		CU_ASSERT(keel_bdev_writev_blocks(o.desc, o.ch, wiov, 3, 117, 8, io_done, &w) == 0);
		CU_ASSERT(w.done == 0);
		poll_threads(10);
		CU_ASSERT(w.done == 1 && w.success);
		CU_ASSERT(keel_bdev_readv_blocks(o.desc, o.ch, riov, 2, 117, 8, io_done, &r) == 0);
		CU_ASSERT(r.done == 0);
		poll_threads(10);
		CU_ASSERT(r.done == 1 && r.success);
		CU_ASSERT(memcmp(wbuf, rbuf, 8 * bs) == 0);
		/* The neighbours were not touched. */
		CU_ASSERT(all_bytes(disk_buf + 116 * bs, bs, 0));
		CU_ASSERT(all_bytes(disk_buf + 125 * bs, 3 * bs, 0));
		/* FUA writes are accepted and land as well. */
		w = (struct io_result){0};
		fill_pattern(wbuf, bs, 99);
		wiov[0] = (struct iovec){wbuf, bs};
		CU_ASSERT(keel_bdev_writev_blocks_ext(o.desc, o.ch, wiov, 1, 0, 1,
						      KEEL_BDEV_IO_FLAG_FUA, io_done, &w) == 0);
		poll_threads(10);
		CU_ASSERT(w.done == 1 && w.success);
		CU_ASSERT(memcmp(disk_buf, wbuf, bs) == 0);
		ut_close(&o);
		delete_malloc("MData");
		free(wbuf);
		free(rbuf);
	}
}

static void
io_keep(struct keel_bdev_io *io, bool success, void *arg)
{
	struct keel_bdev_io **kept = arg;

	CU_ASSERT(success);
	*kept = io;
}

/* A zero-copy read gives the blocks where they lie, valid until the I/O is freed; one that the
 * layer would have to split is refused. */
static void
zero_copy_read_gives_the_disk_memory(void)
{
	struct malloc_bdev_opts opts = {.name = "MZ",
					.num_blocks = 64,
					.block_size = 512,
					.optimal_io_boundary = 8};
	struct keel_bdev *bdev;
	struct keel_bdev_io *io = NULL;
	struct io_result w = {0};
	struct iovec *iov = NULL;
	uint8_t *disk_buf, wbuf[4 * 512];
	struct ut_open o;
	char err[300];
	int iovcnt = 0;

	CU_ASSERT_FATAL(bdev_malloc_create(&opts, &bdev, err, sizeof(err)) == 0);
	CU_ASSERT(keel_bdev_supports_zcopy(bdev));
	o = ut_open("MZ");
	disk_buf = ((struct malloc_disk *)bdev->ctxt)->buf;
	fill_pattern(wbuf, sizeof(wbuf), 5);
	CU_ASSERT(keel_bdev_write_blocks(o.desc, o.ch, wbuf, 3, 4, io_done, &w) == 0);
	poll_threads(10);
	CU_ASSERT(w.done == 1 && w.success);
	CU_ASSERT(keel_bdev_read_blocks_zcopy(o.desc, o.ch, 3, 4, io_keep, &io) == 0);
	CU_ASSERT(io == NULL); /* never inline */
	poll_threads(10);
	CU_ASSERT_FATAL(io != NULL);
	keel_bdev_io_get_iovec(io, &iov, &iovcnt);
	CU_ASSERT_FATAL(iovcnt == 1);
	CU_ASSERT(iov[0].iov_base == disk_buf + 3 * 512);
	CU_ASSERT(iov[0].iov_len == 4 * 512);
	CU_ASSERT(memcmp(iov[0].iov_base, wbuf, sizeof(wbuf)) == 0);
	keel_bdev_free_io(io);
	/* Across the optimal I/O boundary (8 blocks) the layer would split it. */
	CU_ASSERT(keel_bdev_read_blocks_zcopy(o.desc, o.ch, 6, 4, io_keep, &io) == -ENOTSUP);
	CU_ASSERT(keel_bdev_read_blocks_zcopy(o.desc, o.ch, 62, 4, io_keep, &io) == -EINVAL);
	CU_ASSERT(keel_bdev_read_blocks_zcopy(o.desc, o.ch, 0, 0, io_keep, &io) == -EINVAL);
	/* A bdev that does not keep its blocks in memory refuses. */
	bdev->zcopy_read = false;
	CU_ASSERT(keel_bdev_read_blocks_zcopy(o.desc, o.ch, 0, 1, io_keep, &io) == -ENOTSUP);
	bdev->zcopy_read = true;
	ut_close(&o);
	delete_malloc("MZ");
}

static void
unmap_and_write_zeroes_read_back_zero(void)
{
	struct io_result w = {0}, u = {0}, z = {0}, r = {0};
	uint8_t *buf = malloc(64 * 512);
	struct ut_open o;

	create_malloc("MZero", 64, 512);
	o = ut_open("MZero");
	fill_pattern(buf, 64 * 512, 3);
	CU_ASSERT(keel_bdev_write_blocks(o.desc, o.ch, buf, 0, 64, io_done, &w) == 0);
	poll_threads(10);
	CU_ASSERT(w.success);
	CU_ASSERT(keel_bdev_unmap_blocks(o.desc, o.ch, 4, 10, io_done, &u) == 0);
	CU_ASSERT(keel_bdev_write_zeroes_blocks(o.desc, o.ch, 40, 3, io_done, &z) == 0);
	CU_ASSERT(u.done == 0 && z.done == 0);
	poll_threads(10);
	CU_ASSERT(u.done == 1 && u.success);
	CU_ASSERT(z.done == 1 && z.success);
	memset(buf, 0xee, 64 * 512);
	CU_ASSERT(keel_bdev_read_blocks(o.desc, o.ch, buf, 0, 64, io_done, &r) == 0);
	poll_threads(10);
	CU_ASSERT(r.success);
	CU_ASSERT(all_bytes(buf + 4 * 512, 10 * 512, 0));
	CU_ASSERT(all_bytes(buf + 40 * 512, 3 * 512, 0));
	CU_ASSERT(!all_bytes(buf + 3 * 512, 512, 0));
	CU_ASSERT(!all_bytes(buf + 14 * 512, 512, 0));
	CU_ASSERT(!all_bytes(buf + 43 * 512, 512, 0));
	ut_close(&o);
	delete_malloc("MZero");
	free(buf);
}

static void
compare_succeeds_on_equal_data_and_reports_the_first_difference(void)
{
	struct io_result w = {0}, c = {0};
	uint8_t *data = malloc(4 * 512), *cmp = malloc(4 * 512);
	struct iovec iov[2];
	struct ut_open o;

	create_malloc("MCmp", 16, 512);
	o = ut_open("MCmp");
	fill_pattern(data, 4 * 512, 11);
	CU_ASSERT(keel_bdev_write_blocks(o.desc, o.ch, data, 6, 4, io_done, &w) == 0);
	poll_threads(10);
	memcpy(cmp, data, 4 * 512);
	iov[0] = (struct iovec){cmp, 700};
	iov[1] = (struct iovec){cmp + 700, 4 * 512 - 700};
	CU_ASSERT(keel_bdev_comparev_blocks(o.desc, o.ch, iov, 2, 6, 4, io_done, &c) == 0);
	CU_ASSERT(c.done == 0);
	poll_threads(10);
	CU_ASSERT(c.done == 1 && c.success);
	CU_ASSERT(c.status == KEEL_BDEV_IO_STATUS_SUCCESS);
	/* Two differences: the first one (in the second piece) is reported. */
	cmp[777] ^= 0x40;
	cmp[1500] ^= 0x01;
	c = (struct io_result){0};
	CU_ASSERT(keel_bdev_comparev_blocks(o.desc, o.ch, iov, 2, 6, 4, io_done, &c) == 0);
	poll_threads(10);
	CU_ASSERT(c.done == 1 && !c.success);
	CU_ASSERT(c.status == KEEL_BDEV_IO_STATUS_MISCOMPARE);
	CU_ASSERT(c.miscompare == 777);
	/* At byte 0. */
	memcpy(cmp, data, 4 * 512);
	cmp[0] ^= 0xff;
	c = (struct io_result){0};
	CU_ASSERT(keel_bdev_comparev_blocks(o.desc, o.ch, iov, 2, 6, 4, io_done, &c) == 0);
	poll_threads(10);
	CU_ASSERT(c.status == KEEL_BDEV_IO_STATUS_MISCOMPARE);
	CU_ASSERT(c.miscompare == 0);
	ut_close(&o);
	delete_malloc("MCmp");
	free(data);
	free(cmp);
}

static void
compare_and_write_writes_only_when_equal(void)
{
	struct io_result w = {0}, c = {0}, r = {0};
	uint8_t old[512], neu[512], back[512];
	struct iovec cmp_iov = {old, 512}, write_iov = {neu, 512};
	struct ut_open o;

	create_malloc("MCaw", 16, 512);
	o = ut_open("MCaw");
	fill_pattern(old, 512, 1);
	fill_pattern(neu, 512, 2);
	CU_ASSERT(keel_bdev_write_blocks(o.desc, o.ch, old, 5, 1, io_done, &w) == 0);
	poll_threads(10);
	CU_ASSERT(keel_bdev_comparev_and_writev_blocks(o.desc, o.ch, &cmp_iov, 1, &write_iov, 1, 5,
						       1, io_done, &c) == 0);
	poll_until(&c.done, 1);
	CU_ASSERT(c.success);
	CU_ASSERT(keel_bdev_read_blocks(o.desc, o.ch, back, 5, 1, io_done, &r) == 0);
	poll_threads(10);
	CU_ASSERT(memcmp(back, neu, 512) == 0);
	/* The block now holds neu: comparing with old fails and leaves it as it is. */
	c = (struct io_result){0};
	fill_pattern(neu, 512, 3);
	CU_ASSERT(keel_bdev_comparev_and_writev_blocks(o.desc, o.ch, &cmp_iov, 1, &write_iov, 1, 5,
						       1, io_done, &c) == 0);
	poll_until(&c.done, 1);
	CU_ASSERT(!c.success);
	CU_ASSERT(c.status == KEEL_BDEV_IO_STATUS_MISCOMPARE);
	r = (struct io_result){0};
	CU_ASSERT(keel_bdev_read_blocks(o.desc, o.ch, back, 5, 1, io_done, &r) == 0);
	poll_threads(10);
	fill_pattern(neu, 512, 2);
	CU_ASSERT(memcmp(back, neu, 512) == 0);
	ut_close(&o);
	delete_malloc("MCaw");
}

static void
flush_and_reset_succeed_later(void)
{
	struct io_result f = {0}, rs = {0};
	struct ut_open o;

	create_malloc("MFlush", 16, 512);
	o = ut_open("MFlush");
	CU_ASSERT(keel_bdev_flush_blocks(o.desc, o.ch, 0, 16, io_done, &f) == 0);
	CU_ASSERT(keel_bdev_reset(o.desc, o.ch, io_done, &rs) == 0);
	CU_ASSERT(f.done == 0 && rs.done == 0);
	poll_threads(10);
	poll_until(&rs.done, 1);
	CU_ASSERT(f.done == 1 && f.success);
	CU_ASSERT(rs.success);
	ut_close(&o);
	delete_malloc("MFlush");
}

struct thread_io {
	struct keel_bdev_desc *desc;
	struct keel_io_channel *ch;
	struct io_result r;
	uint8_t buf[512];
};

static void
thread_read_start(void *arg)
{
	struct thread_io *t = arg;

	CU_ASSERT(keel_bdev_open_ext("MShare", false, bdev_event, NULL, &t->desc) == 0);
	t->ch = keel_bdev_get_io_channel(t->desc);
	CU_ASSERT(t->ch != NULL);
	CU_ASSERT(keel_bdev_read_blocks(t->desc, t->ch, t->buf, 2, 1, io_done, &t->r) == 0);
}

static void
thread_io_stop(void *arg)
{
	struct thread_io *t = arg;

	keel_put_io_channel(t->ch);
	keel_bdev_close(t->desc);
}

static void
data_written_on_one_thread_reads_back_on_another(void)
{
	struct thread_io t = {0};
	struct io_result w = {0};
	uint8_t buf[512];
	struct ut_open o;

	create_malloc("MShare", 8, 512);
	o = ut_open("MShare");
	fill_pattern(buf, 512, 42);
	CU_ASSERT(keel_bdev_write_blocks(o.desc, o.ch, buf, 2, 1, io_done, &w) == 0);
	poll_threads(10);
	CU_ASSERT(w.success);
	keel_thread_send_msg(g_t[1], thread_read_start, &t);
	poll_threads(10);
	CU_ASSERT(t.r.done == 1 && t.r.success);
	CU_ASSERT(memcmp(t.buf, buf, 512) == 0);
	keel_thread_send_msg(g_t[1], thread_io_stop, &t);
	poll_threads(10);
	ut_close(&o);
	delete_malloc("MShare");
}

static void
delete_with_a_descriptor_open_sends_remove_and_waits_for_close(void)
{
	struct keel_bdev_desc *desc2;
	struct ut_open o;

	create_malloc("MGone", 16, 512);
	o = ut_open("MGone");
	g_remove_events = 0;
	g_delete_calls = 0;
	CU_ASSERT(bdev_malloc_delete("MGone", delete_done, NULL) == 0);
	poll_threads(10);
	CU_ASSERT(g_remove_events == 1);
	CU_ASSERT(g_delete_calls == 0);
	CU_ASSERT(keel_bdev_open_ext("MGone", false, bdev_event, NULL, &desc2) == -ENODEV);
	ut_close(&o);
	CU_ASSERT(g_delete_calls == 1);
	CU_ASSERT(g_delete_rc == 0);
	CU_ASSERT(keel_bdev_get_by_name("MGone") == NULL);
	CU_ASSERT(bdev_malloc_delete("MGone", delete_done, NULL) == -ENODEV);
}

static void
create_rejects_bad_options_and_leaves_nothing(void)
{
	struct malloc_bdev_opts opts = {.name = "Bad", .num_blocks = 16, .block_size = 512};
	struct keel_bdev *bdev = NULL;
	char err[300];
	int before = count_bdevs();

	opts.block_size = 1000;
	CU_ASSERT(bdev_malloc_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "block_size") != NULL);
	opts.block_size = 256;
	CU_ASSERT(bdev_malloc_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	opts.block_size = 131072;
	CU_ASSERT(bdev_malloc_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	opts.block_size = 0;
	CU_ASSERT(bdev_malloc_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	opts.block_size = 512;
	opts.num_blocks = 0;
	CU_ASSERT(bdev_malloc_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "num_blocks") != NULL);
	opts.num_blocks = UINT64_MAX / 256;
	CU_ASSERT(bdev_malloc_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "num_blocks") != NULL);
	/* Fits in 64 bits, not in memory. */
	opts.num_blocks = 1ull << 40;
	CU_ASSERT(bdev_malloc_create(&opts, &bdev, err, sizeof(err)) == -ENOMEM);
	CU_ASSERT(strstr(err, "memory") != NULL);
	opts.num_blocks = 16;
	opts.uuid = "0123";
	CU_ASSERT(bdev_malloc_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "uuid") != NULL);
	opts.uuid = NULL;
	opts.name = "";
	CU_ASSERT(bdev_malloc_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "name") != NULL);
	CU_ASSERT(bdev == NULL);
	CU_ASSERT(count_bdevs() == before);
}

static void
duplicate_name_or_uuid_is_refused(void)
{
	struct malloc_bdev_opts opts = {.name = "MDup", .num_blocks = 16, .block_size = 512};
	struct keel_bdev *bdev, *other = NULL;
	char err[300], uuid[KEEL_UUID_STRING_LEN];
	int before;

	CU_ASSERT_FATAL(bdev_malloc_create(&opts, &bdev, err, sizeof(err)) == 0);
	before = count_bdevs();
	CU_ASSERT(bdev_malloc_create(&opts, &other, err, sizeof(err)) == -EEXIST);
	CU_ASSERT(strstr(err, "MDup") != NULL);
	keel_bdev_get_uuid_str(bdev, uuid);
	opts.name = "MDup2";
	opts.uuid = uuid;
	CU_ASSERT(bdev_malloc_create(&opts, &other, err, sizeof(err)) == -EEXIST);
	CU_ASSERT(strstr(err, "uuid") != NULL);
	/* Its UUID is a name too. */
	opts.name = uuid;
	opts.uuid = NULL;
	CU_ASSERT(bdev_malloc_create(&opts, &other, err, sizeof(err)) == -EEXIST);
	CU_ASSERT(other == NULL);
	CU_ASSERT(count_bdevs() == before);
	delete_malloc("MDup");
}

static struct json_object *
param(struct json_object *params, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(params, key, &v);
	return v;
}

static int g_cfg_resp_count;

static void
cfg_capture(struct json_object *response, void *arg)
{
	CU_ASSERT(param(response, "error") == NULL);
	json_object_put(response);
	g_cfg_resp_count++;
}

static void
config_json_recreates_the_bdev_with_its_uuid(void)
{
	const char *uuid = "d3a1c0de-5a5a-4bcd-8e0f-0123456789ab";
	struct malloc_bdev_opts opts = {.name = "MCfg",
					.uuid = uuid,
					.num_blocks = 300,
					.block_size = 1024,
					.optimal_io_boundary = 16};
	struct json_object *arr = json_object_new_array(), *call, *params;
	struct keel_bdev *bdev;
	char err[300], got[KEEL_UUID_STRING_LEN];

	CU_ASSERT_FATAL(bdev_malloc_create(&opts, &bdev, err, sizeof(err)) == 0);
	keel_bdev_get_uuid_str(bdev, got);
	CU_ASSERT(strcmp(got, uuid) == 0);
	malloc_write_config_json(bdev, arr);
	CU_ASSERT_FATAL(json_object_array_length(arr) == 1);
	call = json_object_array_get_idx(arr, 0);
	CU_ASSERT(strcmp(json_object_get_string(param(call, "method")), "bdev_malloc_create") == 0);
	params = param(call, "params");
	CU_ASSERT_FATAL(params != NULL);
	CU_ASSERT(strcmp(json_object_get_string(param(params, "name")), "MCfg") == 0);
	CU_ASSERT(json_object_get_int64(param(params, "num_blocks")) == 300);
	CU_ASSERT(json_object_get_int64(param(params, "block_size")) == 1024);
	CU_ASSERT(strcmp(json_object_get_string(param(params, "uuid")), uuid) == 0);
	CU_ASSERT(json_object_get_int64(param(params, "optimal_io_boundary")) == 16);
	delete_malloc("MCfg");

	/* Replayed through the RPC, it comes back the same. */
	json_object_get(params);
	json_object_put(arr);
	g_cfg_resp_count = 0;
	keel_rpc_call_local("bdev_malloc_create", params, cfg_capture, NULL);
	poll_threads(10);
	CU_ASSERT(g_cfg_resp_count == 1);
	json_object_put(params);
	bdev = keel_bdev_get_by_name("MCfg");
	CU_ASSERT_FATAL(bdev != NULL);
	keel_bdev_get_uuid_str(bdev, got);
	CU_ASSERT(strcmp(got, uuid) == 0);
	CU_ASSERT(keel_bdev_get_num_blocks(bdev) == 300);
	CU_ASSERT(keel_bdev_get_block_size(bdev) == 1024);
	CU_ASSERT(keel_bdev_get_optimal_io_boundary(bdev) == 16);
	delete_malloc("MCfg");

	/* Without a boundary the member is left out. */
	bdev = create_malloc("MCfg2", 8, 512);
	arr = json_object_new_array();
	malloc_write_config_json(bdev, arr);
	params = param(json_object_array_get_idx(arr, 0), "params");
	CU_ASSERT(json_object_object_length(params) == 4);
	json_object_put(arr);
	delete_malloc("MCfg2");
}

/* Parse text as the default configuration and run the module's [Malloc] reader. */
static int
read_conf_text(const char *text)
{
	char path[] = "/tmp/malloc_ut.XXXXXX";
	struct keel_conf *conf = keel_conf_create();
	int fd, rc;

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	CU_ASSERT_FATAL(keel_conf_read(conf, path) == 0);
	unlink(path);
	keel_conf_set_default(conf);
	rc = malloc_read_conf();
	keel_conf_set_default(NULL);
	keel_conf_destroy(conf);
	return rc;
}

static void
malloc_section_creates_numbered_luns(void)
{
	struct keel_bdev *b;

	CU_ASSERT(read_conf_text("[Malloc]\n  NumberOfLuns 2\n  LunSizeInMB 1\n"
				 "  BlockSize 4096\n") == 0);
	b = keel_bdev_get_by_name("Malloc0");
	CU_ASSERT_FATAL(b != NULL);
	CU_ASSERT(keel_bdev_get_num_blocks(b) == 256);
	CU_ASSERT(keel_bdev_get_block_size(b) == 4096);
	b = keel_bdev_get_by_name("Malloc1");
	CU_ASSERT_FATAL(b != NULL);
	CU_ASSERT(keel_bdev_get_num_blocks(b) == 256);
	CU_ASSERT(keel_bdev_get_by_name("Malloc2") == NULL);
	delete_malloc("Malloc0");
	delete_malloc("Malloc1");
	/* BlockSize defaults to 512. */
	CU_ASSERT(read_conf_text("[Malloc]\n  NumberOfLuns 1\n  LunSizeInMB 2\n") == 0);
	b = keel_bdev_get_by_name("Malloc0");
	CU_ASSERT_FATAL(b != NULL);
	CU_ASSERT(keel_bdev_get_num_blocks(b) == 4096);
	CU_ASSERT(keel_bdev_get_block_size(b) == 512);
	delete_malloc("Malloc0");
}

static void
malloc_section_without_luns_creates_nothing(void)
{
	int before = count_bdevs();

	CU_ASSERT(read_conf_text("[Global]\n  ReactorMask 0x1\n") == 0);
	CU_ASSERT(read_conf_text("[Malloc]\n  LunSizeInMB 16\n") == 0);
	CU_ASSERT(read_conf_text("[Malloc]\n  NumberOfLuns 0\n") == 0);
	CU_ASSERT(count_bdevs() == before);
}

static void
malloc_section_errors_fail_the_start(void)
{
	static const char *const bad[] = {
		"[Malloc]\n  NumberOfLuns two\n  LunSizeInMB 1\n",
		"[Malloc]\n  NumberOfLuns -1\n  LunSizeInMB 1\n",
		"[Malloc]\n  NumberOfLuns 2\n",
		"[Malloc]\n  NumberOfLuns 2\n  LunSizeInMB 0\n",
		"[Malloc]\n  NumberOfLuns 2\n  LunSizeInMB big\n",
		"[Malloc]\n  NumberOfLuns 2\n  LunSizeInMB 1\n  BlockSize 1000\n",
		"[Malloc]\n  NumberOfLuns 2\n  LunSizeInMB 1\n  BlockSize 256\n",
		"[Malloc]\n  NumberOfLuns 2\n  LunSizeInMB 1\n  BlockSize 131072\n",
	};
	int before = count_bdevs();
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(bad); i++) {
		if (read_conf_text(bad[i]) != -EINVAL) {
			printf("accepted: %s\n", bad[i]);
			CU_FAIL("a bad [Malloc] section was accepted");
		}
	}
	CU_ASSERT(count_bdevs() == before);
	/* A name already taken stops the start. */
	create_malloc("Malloc1", 8, 512);
	CU_ASSERT(read_conf_text("[Malloc]\n  NumberOfLuns 2\n  LunSizeInMB 1\n") == -EEXIST);
	delete_malloc("Malloc0");
	delete_malloc("Malloc1");
}

/* RPC helpers: call method with params given as JSON text; the response stays in g_resp. */
static struct json_object *g_resp;
static int g_resp_count;

static void
rpc_capture(struct json_object *response, void *arg)
{
	json_object_put(g_resp);
	g_resp = response;
	g_resp_count++;
}

static struct json_object *
rpc_call(const char *method, const char *params_text)
{
	struct json_object *params = params_text ? json_tokener_parse(params_text) : NULL;

	json_object_put(g_resp);
	g_resp = NULL;
	g_resp_count = 0;
	keel_rpc_call_local(method, params, rpc_capture, NULL);
	poll_threads(20);
	json_object_put(params);
	CU_ASSERT(g_resp_count == 1);
	return g_resp;
}

static int
resp_error_code(struct json_object *resp)
{
	return json_object_get_int(param(param(resp, "error"), "code"));
}

static bool
resp_error_mentions(struct json_object *resp, const char *word)
{
	const char *msg = json_object_get_string(param(param(resp, "error"), "message"));

	return msg != NULL && strstr(msg, word) != NULL;
}

static void
rpc_create_and_delete_by_new_and_old_names(void)
{
	struct json_object *resp;
	struct keel_bdev *b;

	resp = rpc_call("construct_malloc_bdev", "{\"name\": \"Malloc0\", \"num_blocks\": 131072, "
						 "\"block_size\": 512}");
	CU_ASSERT(strcmp(json_object_get_string(param(resp, "result")), "Malloc0") == 0);
	b = keel_bdev_get_by_name("Malloc0");
	CU_ASSERT_FATAL(b != NULL);
	CU_ASSERT(keel_bdev_get_num_blocks(b) == 131072);
	/* Without a name: the lowest free MallocN. */
	resp = rpc_call("bdev_malloc_create", "{\"num_blocks\": 16, \"block_size\": 4096, "
					      "\"uuid\": \"a1b2c3d4-0000-4000-8000-000000000001\", "
					      "\"optimal_io_boundary\": 4}");
	CU_ASSERT(strcmp(json_object_get_string(param(resp, "result")), "Malloc1") == 0);
	CU_ASSERT(keel_bdev_get_by_name("a1b2c3d4-0000-4000-8000-000000000001") ==
		  keel_bdev_get_by_name("Malloc1"));
	/* Newer clients' zero metadata fields are accepted. */
	resp = rpc_call("bdev_malloc_create",
			"{\"name\": \"MMd\", \"num_blocks\": 8, "
			"\"block_size\": 512, \"md_size\": 0, \"dif_type\": 0, "
			"\"dif_is_head_of_md\": false, \"md_interleave\": false}");
	CU_ASSERT(param(resp, "result") != NULL);

	resp = rpc_call("bdev_malloc_delete", "{\"name\": \"Malloc0\"}");
	CU_ASSERT(json_object_get_boolean(param(resp, "result")));
	CU_ASSERT(keel_bdev_get_by_name("Malloc0") == NULL);
	resp = rpc_call("delete_malloc_bdev", "{\"name\": \"Malloc1\"}");
	CU_ASSERT(json_object_get_boolean(param(resp, "result")));
	CU_ASSERT(keel_bdev_get_by_name("Malloc1") == NULL);
	resp = rpc_call("bdev_malloc_delete", "{\"name\": \"MMd\"}");
	CU_ASSERT(json_object_get_boolean(param(resp, "result")));
}

static void
rpc_delete_answers_only_after_the_bdev_is_gone(void)
{
	struct json_object *params = json_tokener_parse("{\"name\": \"MSlow\"}");
	struct ut_open o;

	create_malloc("MSlow", 8, 512);
	o = ut_open("MSlow");
	json_object_put(g_resp);
	g_resp = NULL;
	g_resp_count = 0;
	g_remove_events = 0;
	keel_rpc_call_local("bdev_malloc_delete", params, rpc_capture, NULL);
	poll_threads(10);
	CU_ASSERT(g_remove_events == 1);
	CU_ASSERT(g_resp_count == 0);
	ut_close(&o);
	CU_ASSERT(g_resp_count == 1);
	CU_ASSERT(json_object_get_boolean(param(g_resp, "result")));
	CU_ASSERT(keel_bdev_get_by_name("MSlow") == NULL);
	json_object_put(params);
}

static void
rpc_errors_name_the_parameter_and_leave_nothing(void)
{
	static const struct {
		const char *params;
		int code;
		const char *word;
	} cases[] = {
		{"{\"num_blocks\": 0, \"block_size\": 512}", -32602, "num_blocks"},
		{"{\"num_blocks\": 8, \"block_size\": 1000}", -32602, "block_size"},
		{"{\"num_blocks\": 8, \"block_size\": 256}", -32602, "block_size"},
		{"{\"num_blocks\": 8, \"block_size\": 131072}", -32602, "block_size"},
		{"{\"num_blocks\": 8, \"block_size\": 0}", -32602, "block_size"},
		{"{\"num_blocks\": 36028797018963968, \"block_size\": 4096}", -32602, "num_blocks"},
		{"{\"num_blocks\": 1099511627776, \"block_size\": 512}", -ENOMEM, "memory"},
		{"{\"block_size\": 512}", -32602, "num_blocks"},
		{"{\"num_blocks\": 8}", -32602, "block_size"},
		{"{\"num_blocks\": -8, \"block_size\": 512}", -32602, "num_blocks"},
		{"{\"num_blocks\": \"8\", \"block_size\": 512}", -32602, "num_blocks"},
		{"{\"name\": \"\", \"num_blocks\": 8, \"block_size\": 512}", -32602, "name"},
		{"{\"name\": 5, \"num_blocks\": 8, \"block_size\": 512}", -32602, "name"},
		{"{\"num_blocks\": 8, \"block_size\": 512, \"uuid\": \"nope\"}", -32602, "uuid"},
		{"{\"num_blocks\": 8, \"block_size\": 512, \"md_size\": 8}", -32602, "md_size"},
		{"{\"num_blocks\": 8, \"block_size\": 512, \"dif_type\": 1}", -32602, "dif_type"},
		{"{\"num_blocks\": 8, \"block_size\": 512, \"size\": 1}", -32602, "size"},
		{"{\"name\": \"MTaken\", \"num_blocks\": 8, \"block_size\": 512}", -EEXIST,
		 "MTaken"},
	};
	struct json_object *resp;
	int before;
	size_t i;

	create_malloc("MTaken", 8, 512);
	before = count_bdevs();
	for (i = 0; i < KEEL_COUNTOF(cases); i++) {
		resp = rpc_call("bdev_malloc_create", cases[i].params);
		if (resp_error_code(resp) != cases[i].code ||
		    !resp_error_mentions(resp, cases[i].word)) {
			printf("case %zu: %s\n", i, json_object_to_json_string(resp));
			CU_FAIL("wrong error code or the message does not name the parameter");
		}
	}
	CU_ASSERT(count_bdevs() == before);
	CU_ASSERT(keel_bdev_get_by_name("Malloc0") == NULL);
	delete_malloc("MTaken");

	resp = rpc_call("bdev_malloc_delete", "{\"name\": \"NoSuch\"}");
	CU_ASSERT(resp_error_code(resp) == -ENODEV);
	CU_ASSERT(resp_error_mentions(resp, "name"));
	resp = rpc_call("bdev_malloc_delete", "{\"nam\": \"x\"}");
	CU_ASSERT(resp_error_code(resp) == -32602);
	CU_ASSERT(resp_error_mentions(resp, "nam"));
	json_object_put(g_resp);
	g_resp = NULL;
}

static void
rpc_delete_refuses_a_bdev_of_another_module(void)
{
	struct null_bdev_opts opts = {.name = "NotMalloc", .num_blocks = 8, .block_size = 512};
	struct json_object *resp;
	struct keel_bdev *bdev;
	char err[300];

	CU_ASSERT_FATAL(bdev_null_create(&opts, &bdev, err, sizeof(err)) == 0);
	resp = rpc_call("bdev_malloc_delete", "{\"name\": \"NotMalloc\"}");
	CU_ASSERT(resp_error_code(resp) == -ENODEV);
	CU_ASSERT(keel_bdev_get_by_name("NotMalloc") == bdev);
	g_delete_calls = 0;
	CU_ASSERT(bdev_null_delete("NotMalloc", delete_done, NULL) == 0);
	poll_threads(10);
	CU_ASSERT(g_delete_calls == 1);
	json_object_put(g_resp);
	g_resp = NULL;
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(generated_names_take_the_lowest_free_number),
		KEEL_UT_TEST(create_sets_geometry_product_and_io_types),
		KEEL_UT_TEST(write_then_read_returns_the_data),
		KEEL_UT_TEST(zero_copy_read_gives_the_disk_memory),
	KEEL_UT_TEST(unmap_and_write_zeroes_read_back_zero),
		KEEL_UT_TEST(compare_succeeds_on_equal_data_and_reports_the_first_difference),
		KEEL_UT_TEST(compare_and_write_writes_only_when_equal),
		KEEL_UT_TEST(flush_and_reset_succeed_later),
		KEEL_UT_TEST(data_written_on_one_thread_reads_back_on_another),
		KEEL_UT_TEST(delete_with_a_descriptor_open_sends_remove_and_waits_for_close),
		KEEL_UT_TEST(create_rejects_bad_options_and_leaves_nothing),
		KEEL_UT_TEST(duplicate_name_or_uuid_is_refused),
		KEEL_UT_TEST(config_json_recreates_the_bdev_with_its_uuid),
		KEEL_UT_TEST(malloc_section_creates_numbered_luns),
		KEEL_UT_TEST(malloc_section_without_luns_creates_nothing),
		KEEL_UT_TEST(malloc_section_errors_fail_the_start),
		KEEL_UT_TEST(rpc_create_and_delete_by_new_and_old_names),
		KEEL_UT_TEST(rpc_delete_answers_only_after_the_bdev_is_gone),
		KEEL_UT_TEST(rpc_errors_name_the_parameter_and_leave_nothing),
		KEEL_UT_TEST(rpc_delete_refuses_a_bdev_of_another_module),
	};

	return keel_ut_run("bdev_malloc", tests, KEEL_COUNTOF(tests), suite_init, suite_fini);
}
