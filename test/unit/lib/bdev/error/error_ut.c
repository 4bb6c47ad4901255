/*
 * Unit tests of the error injection module over the real bdev layer, with a null bdev as the
 * base (it completes later, from its poller, and leaves read buffers alone): the examine of a
 * base that comes later, the claim, each error type, queue_depth, all and clear, held I/O
 * released by a reset and by delete, the base going away, and the configuration written.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/conf.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/thread.h"
#include "ut.h"

#include <json-c/json.h>

#include "bdev/error/vbdev_error.c"
#include "bdev/null/bdev_null.h"

static struct keel_thread *g_t;

static void
poll_threads(int rounds)
{
	int i;

	for (i = 0; i < rounds; i++) {
		keel_thread_poll(g_t, 0, 0);
	}
}

/* Poll until *counter reaches want, for at most a second of real time (timed pollers). */
static void
poll_until(const int *counter, int want)
{
	uint64_t end = keel_get_ticks() + keel_get_ticks_hz();

	while (*counter < want && keel_get_ticks() < end) {
		poll_threads(1);
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
	int rc = -1;

	keel_env_opts_init(&opts);
	opts.name = "error_ut";
	opts.no_huge = true;
	opts.no_pci = true;
	opts.mem_size_mb = 256;
	if (keel_env_init(&opts) != 0 || keel_thread_lib_init(NULL, 65535) != 0) {
		return 1;
	}
	g_t = keel_thread_create("ut0", NULL);
	if (g_t == NULL) {
		return 1;
	}
	keel_set_thread(g_t);
	keel_subsystem_init(init_done, &rc);
	poll_threads(100);
	return rc == 0 ? 0 : 1;
}

static int
suite_fini(void)
{
	return 0;
}

static void
create_null(const char *name)
{
	struct null_bdev_opts opts = {.name = name, .num_blocks = 1024, .block_size = 512};
	struct keel_bdev *bdev = NULL;
	char err[300];

	CU_ASSERT_FATAL(bdev_null_create(&opts, &bdev, err, sizeof(err)) == 0);
}

static int g_done_calls;
static int g_done_rc;

static void
done_cb(void *arg, int rc)
{
	g_done_calls++;
	g_done_rc = rc;
}

static void
delete_null(const char *name)
{
	g_done_calls = 0;
	CU_ASSERT(bdev_null_delete(name, done_cb, NULL) == 0);
	poll_until(&g_done_calls, 1);
	CU_ASSERT(g_done_calls == 1 && g_done_rc == 0);
}

static void
delete_error(const char *name)
{
	g_done_calls = 0;
	CU_ASSERT(vbdev_error_delete(name, done_cb, NULL) == 0);
	poll_until(&g_done_calls, 1);
	CU_ASSERT(g_done_calls == 1 && g_done_rc == 0);
	CU_ASSERT(keel_bdev_get_by_name(name) == NULL);
}

static void
bdev_event(enum keel_bdev_event_type type, struct keel_bdev *bdev, void *ctx)
{
}

struct io_result {
	int done;
	bool success;
	enum keel_bdev_io_status status;
};

static void
io_done(struct keel_bdev_io *io, bool success, void *arg)
{
	struct io_result *r = arg;

	r->done++;
	r->success = success;
	r->status = keel_bdev_io_get_status(io);
	keel_bdev_free_io(io);
}

/* EE_Null0 over Null0, open, with a channel. */
struct fixture {
	struct keel_bdev_desc *desc;
	struct keel_io_channel *ch;
	struct error_disk *disk;
};

static void
setup(struct fixture *f)
{
	char err[256];

	create_null("Null0");
	CU_ASSERT_FATAL(vbdev_error_create("Null0", NULL, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(keel_bdev_open_ext("EE_Null0", true, bdev_event, NULL, &f->desc) == 0);
	f->ch = keel_bdev_get_io_channel(f->desc);
	CU_ASSERT_FATAL(f->ch != NULL);
	f->disk = error_disk_find("EE_Null0");
	CU_ASSERT_FATAL(f->disk != NULL);
}

static void
teardown(struct fixture *f)
{
	keel_put_io_channel(f->ch);
	keel_bdev_close(f->desc);
	poll_threads(10);
	delete_error("EE_Null0");
	delete_null("Null0");
	CU_ASSERT(TAILQ_EMPTY(&g_error_configs));
}

static void
inject(const char *name, enum vbdev_error_io io, enum vbdev_error_type type, uint32_t num)
{
	struct vbdev_error_inject_opts opts = {.io_type = io, .error_type = type, .num = num};

	CU_ASSERT(vbdev_error_inject(name, &opts) == 0);
}

static void
a_missing_base_waits_and_its_error_bdev_comes_with_it_claiming_it(void)
{
	struct keel_bdev_desc *desc;
	struct keel_bdev *ee;
	char err[256];

	CU_ASSERT(vbdev_error_create("Null0", NULL, err, sizeof(err)) == 0);
	CU_ASSERT(keel_bdev_get_by_name("EE_Null0") == NULL);
	CU_ASSERT(vbdev_error_create("Null0", NULL, err, sizeof(err)) == -EEXIST);
	create_null("Null0");
	ee = keel_bdev_get_by_name("EE_Null0");
	CU_ASSERT_FATAL(ee != NULL);
	CU_ASSERT(keel_bdev_get_num_blocks(ee) == 1024);
	CU_ASSERT(keel_bdev_get_block_size(ee) == 512);
	CU_ASSERT(strcmp(keel_bdev_get_module_name(ee), "error") == 0);
	/* Claimed: nobody else writes to the base. */
	CU_ASSERT(keel_bdev_open_ext("Null0", true, bdev_event, NULL, &desc) == -EPERM);
	delete_error("EE_Null0");
	CU_ASSERT(keel_bdev_open_ext("Null0", true, bdev_event, NULL, &desc) == 0);
	keel_bdev_close(desc);
	CU_ASSERT(TAILQ_EMPTY(&g_error_configs));
	delete_null("Null0");
	CU_ASSERT(vbdev_error_create("", NULL, err, sizeof(err)) == -EINVAL);
}

static void
failure_hits_num_reads_then_they_pass_and_writes_are_untouched(void)
{
	struct fixture f;
	struct io_result r[4] = {0};
	uint8_t buf[512];
	int i;

	setup(&f);
	inject("EE_Null0", VBDEV_ERROR_IO_READ, VBDEV_ERROR_FAILURE, 2);
	CU_ASSERT(keel_bdev_write_blocks(f.desc, f.ch, buf, 0, 1, io_done, &r[3]) == 0);
	for (i = 0; i < 3; i++) {
		CU_ASSERT(keel_bdev_read_blocks(f.desc, f.ch, buf, 0, 1, io_done, &r[i]) == 0);
		poll_until(&r[i].done, 1);
	}
	poll_until(&r[3].done, 1);
	CU_ASSERT(r[0].done == 1 && r[0].status == KEEL_BDEV_IO_STATUS_FAILED);
	CU_ASSERT(r[1].done == 1 && r[1].status == KEEL_BDEV_IO_STATUS_FAILED);
	CU_ASSERT(r[2].done == 1 && r[2].success);
	CU_ASSERT(r[3].done == 1 && r[3].success);
	CU_ASSERT(f.disk->info[VBDEV_ERROR_IO_READ].num == 0);
	teardown(&f);
}

static void
queue_depth_lets_only_the_io_beyond_it_be_hit(void)
{
	struct fixture f;
	struct io_result r[3] = {0};
	struct vbdev_error_inject_opts opts = {.io_type = VBDEV_ERROR_IO_READ,
					       .error_type = VBDEV_ERROR_FAILURE,
					       .num = 1,
					       .queue_depth = 2};
	uint8_t buf[3][512];
	int i;

	setup(&f);
	CU_ASSERT(vbdev_error_inject("EE_Null0", &opts) == 0);
	/* The null base completes from its poller: the first two are still at the base when the
	 * third is submitted. */
	for (i = 0; i < 3; i++) {
		CU_ASSERT(keel_bdev_read_blocks(f.desc, f.ch, buf[i], 0, 1, io_done, &r[i]) == 0);
	}
	poll_until(&r[2].done, 1);
	poll_until(&r[1].done, 1);
	poll_until(&r[0].done, 1);
	CU_ASSERT(r[0].success && r[1].success);
	CU_ASSERT(r[2].done == 1 && r[2].status == KEEL_BDEV_IO_STATUS_FAILED);
	teardown(&f);
}

static void
nomem_is_retried_by_the_layer_until_used_up(void)
{
	struct fixture f;
	struct io_result r = {0};
	uint8_t buf[512];

	setup(&f);
	inject("EE_Null0", VBDEV_ERROR_IO_WRITE, VBDEV_ERROR_NOMEM, 3);
	CU_ASSERT(keel_bdev_write_blocks(f.desc, f.ch, buf, 0, 1, io_done, &r) == 0);
	poll_until(&r.done, 1);
	CU_ASSERT(r.done == 1 && r.success);
	CU_ASSERT(f.disk->info[VBDEV_ERROR_IO_WRITE].num == 0);
	teardown(&f);
}

static void
corrupt_data_xors_one_byte_of_read_data_across_buffers_and_of_write_data(void)
{
	struct fixture f;
	struct io_result r[2] = {0};
	struct vbdev_error_inject_opts opts = {.io_type = VBDEV_ERROR_IO_READ,
					       .error_type = VBDEV_ERROR_CORRUPT_DATA,
					       .num = 1,
					       .corrupt_offset = 700,
					       .corrupt_value = 0x0f};
	uint8_t a[512], b[512];
	struct iovec iov[2] = {{a, sizeof(a)}, {b, sizeof(b)}};

	setup(&f);
	memset(a, 0x11, sizeof(a));
	memset(b, 0x11, sizeof(b));
	CU_ASSERT(vbdev_error_inject("EE_Null0", &opts) == 0);
	CU_ASSERT(keel_bdev_readv_blocks(f.desc, f.ch, iov, 2, 0, 2, io_done, &r[0]) == 0);
	poll_until(&r[0].done, 1);
	CU_ASSERT(r[0].success);
	/* The null base left the buffers alone: only byte 700 (188 of the second) changed. */
	CU_ASSERT(b[188] == (0x11 ^ 0x0f));
	b[188] = 0x11;
	CU_ASSERT(a[0] == 0x11 && memcmp(a, a + 1, sizeof(a) - 1) == 0);
	CU_ASSERT(memcmp(b, a, sizeof(b)) == 0);

	opts.io_type = VBDEV_ERROR_IO_WRITE;
	opts.corrupt_offset = 3;
	opts.corrupt_value = 0xff;
	CU_ASSERT(vbdev_error_inject("EE_Null0", &opts) == 0);
	CU_ASSERT(keel_bdev_write_blocks(f.desc, f.ch, a, 0, 1, io_done, &r[1]) == 0);
	poll_until(&r[1].done, 1);
	CU_ASSERT(r[1].success);
	/* Write data is changed before it goes to the base (in the caller's buffer, as SPDK). */
	CU_ASSERT(a[3] == (0x11 ^ 0xff));
	opts.corrupt_value = 0;
	CU_ASSERT(vbdev_error_inject("EE_Null0", &opts) == -EINVAL);
	teardown(&f);
}

static void
pending_holds_the_io_until_a_reset_aborts_it(void)
{
	struct fixture f;
	struct io_result r = {0}, reset = {0};
	struct keel_io_channel *mch;
	uint8_t buf[512];

	setup(&f);
	inject("EE_Null0", VBDEV_ERROR_IO_READ, VBDEV_ERROR_PENDING, 1);
	CU_ASSERT(keel_bdev_read_blocks(f.desc, f.ch, buf, 0, 1, io_done, &r) == 0);
	poll_threads(2000);
	CU_ASSERT(r.done == 0);
	mch = keel_get_io_channel(f.disk); /* the module's channel of this thread */
	CU_ASSERT_FATAL(mch != NULL);
	CU_ASSERT(!TAILQ_EMPTY(&((struct error_channel *)keel_io_channel_get_ctx(mch))->pending));
	keel_put_io_channel(mch);
	CU_ASSERT(keel_bdev_reset(f.desc, f.ch, io_done, &reset) == 0);
	poll_until(&reset.done, 1);
	CU_ASSERT(r.done == 1 && r.status == KEEL_BDEV_IO_STATUS_ABORTED);
	CU_ASSERT(reset.done == 1 && reset.success);
	teardown(&f);
}

static void
all_arms_every_type_and_clear_disarms_them(void)
{
	struct fixture f;
	struct vbdev_error_inject_opts opts = {.io_type = VBDEV_ERROR_IO_ALL,
					       .error_type = VBDEV_ERROR_FAILURE,
					       .num = 5};
	struct io_result r = {0};
	uint8_t buf[512];
	int i;

	setup(&f);
	CU_ASSERT(vbdev_error_inject("EE_Null0", &opts) == 0);
	for (i = 0; i < VBDEV_ERROR_IO_COUNT; i++) {
		CU_ASSERT(f.disk->info[i].num == 5);
		CU_ASSERT(f.disk->info[i].error_type == VBDEV_ERROR_FAILURE);
	}
	CU_ASSERT(keel_bdev_flush_blocks(f.desc, f.ch, 0, 0, io_done, &r) == 0);
	poll_until(&r.done, 1);
	CU_ASSERT(r.done == 1 && !r.success);
	opts.io_type = VBDEV_ERROR_IO_CLEAR;
	CU_ASSERT(vbdev_error_inject("EE_Null0", &opts) == 0);
	for (i = 0; i < VBDEV_ERROR_IO_COUNT; i++) {
		CU_ASSERT(f.disk->info[i].num == 0);
	}
	r.done = 0;
	CU_ASSERT(keel_bdev_unmap_blocks(f.desc, f.ch, 0, 8, io_done, &r) == 0);
	poll_until(&r.done, 1);
	CU_ASSERT(r.done == 1 && r.success);
	(void)buf;
	CU_ASSERT(vbdev_error_inject("Null0", &opts) == -ENODEV);
	CU_ASSERT(vbdev_error_inject("Nope", &opts) == -ENODEV);
	teardown(&f);
}

static void
delete_aborts_held_io_and_releases_the_base(void)
{
	struct keel_bdev_desc *desc;
	struct io_result r = {0};
	struct fixture f;
	uint8_t buf[512];

	setup(&f);
	inject("EE_Null0", VBDEV_ERROR_IO_READ, VBDEV_ERROR_PENDING, 1);
	CU_ASSERT(keel_bdev_read_blocks(f.desc, f.ch, buf, 0, 1, io_done, &r) == 0);
	poll_threads(100);
	CU_ASSERT(r.done == 0);
	g_done_calls = 0;
	CU_ASSERT(vbdev_error_delete("EE_Null0", done_cb, NULL) == 0);
	CU_ASSERT(vbdev_error_delete("EE_Null0", done_cb, NULL) == -ENODEV); /* under way */
	poll_until(&r.done, 1);
	CU_ASSERT(r.done == 1 && r.status == KEEL_BDEV_IO_STATUS_ABORTED);
	/* The holder closes on REMOVE, as the SCSI layer does. */
	keel_put_io_channel(f.ch);
	keel_bdev_close(f.desc);
	poll_until(&g_done_calls, 1);
	CU_ASSERT(g_done_calls == 1 && g_done_rc == 0);
	CU_ASSERT(keel_bdev_get_by_name("EE_Null0") == NULL);
	CU_ASSERT(TAILQ_EMPTY(&g_error_configs));
	CU_ASSERT(keel_bdev_open_ext("Null0", true, bdev_event, NULL, &desc) == 0);
	keel_bdev_close(desc);
	delete_null("Null0");
}

static void
the_base_going_takes_the_error_bdev_and_its_configuration(void)
{
	char err[256];

	create_null("Null0");
	CU_ASSERT(vbdev_error_create("Null0", NULL, err, sizeof(err)) == 0);
	CU_ASSERT(keel_bdev_get_by_name("EE_Null0") != NULL);
	delete_null("Null0");
	poll_threads(100);
	CU_ASSERT(keel_bdev_get_by_name("EE_Null0") == NULL);
	CU_ASSERT(TAILQ_EMPTY(&g_error_configs));
}

static void
the_configuration_is_written_with_its_uuid_and_a_waiting_one_deleted(void)
{
	static const uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	struct json_object *arr = json_object_new_array();
	struct json_object *call, *params, *v;
	char err[256];

	CU_ASSERT(vbdev_error_create("Later", uuid, err, sizeof(err)) == 0);
	error_config_json(arr);
	CU_ASSERT_FATAL(json_object_array_length(arr) == 1);
	call = json_object_array_get_idx(arr, 0);
	CU_ASSERT(json_object_object_get_ex(call, "method", &v) &&
		  strcmp(json_object_get_string(v), "bdev_error_create") == 0);
	CU_ASSERT_FATAL(json_object_object_get_ex(call, "params", &params));
	CU_ASSERT(json_object_object_get_ex(params, "base_name", &v) &&
		  strcmp(json_object_get_string(v), "Later") == 0);
	CU_ASSERT(json_object_object_get_ex(params, "uuid", &v) &&
		  strcmp(json_object_get_string(v), "01020304-0506-0708-090a-0b0c0d0e0f10") == 0);
	json_object_put(arr);
	g_done_calls = 0;
	CU_ASSERT(vbdev_error_delete("EE_Later", done_cb, NULL) == 0);
	CU_ASSERT(g_done_calls == 1);
	CU_ASSERT(TAILQ_EMPTY(&g_error_configs));
	CU_ASSERT(vbdev_error_delete("EE_Later", done_cb, NULL) == -ENODEV);
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(a_missing_base_waits_and_its_error_bdev_comes_with_it_claiming_it),
		KEEL_UT_TEST(failure_hits_num_reads_then_they_pass_and_writes_are_untouched),
		KEEL_UT_TEST(queue_depth_lets_only_the_io_beyond_it_be_hit),
		KEEL_UT_TEST(nomem_is_retried_by_the_layer_until_used_up),
		KEEL_UT_TEST(
			corrupt_data_xors_one_byte_of_read_data_across_buffers_and_of_write_data),
		KEEL_UT_TEST(pending_holds_the_io_until_a_reset_aborts_it),
		KEEL_UT_TEST(all_arms_every_type_and_clear_disarms_them),
		KEEL_UT_TEST(delete_aborts_held_io_and_releases_the_base),
		KEEL_UT_TEST(the_base_going_takes_the_error_bdev_and_its_configuration),
		KEEL_UT_TEST(the_configuration_is_written_with_its_uuid_and_a_waiting_one_deleted),
	};

	return keel_ut_run("bdev_error", tests, KEEL_COUNTOF(tests), suite_init, suite_fini);
}
