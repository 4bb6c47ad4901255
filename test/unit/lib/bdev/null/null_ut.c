/*
 * Unit tests of the null bdev module over the real bdev layer, with two threads polled by the
 * test: I/O completes later and in batches from the channel's poller, reads leave the buffer
 * alone, hot-remove with a descriptor open, the [Null] section and the RPC methods.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/conf.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/rpc.h"
#include "keel/thread.h"
#include "ut.h"

#include <json-c/json.h>

#include "bdev/null/bdev_null.c"
#include "bdev/null/bdev_null_rpc.c"

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
	opts.name = "null_ut";
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
create_null(const char *name, uint64_t num_blocks, uint32_t block_size)
{
	struct null_bdev_opts opts = {.name = name,
				      .num_blocks = num_blocks,
				      .block_size = block_size};
	struct keel_bdev *bdev = NULL;
	char err[300];

	CU_ASSERT_FATAL(bdev_null_create(&opts, &bdev, err, sizeof(err)) == 0);
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
delete_null(const char *name)
{
	g_delete_calls = 0;
	CU_ASSERT(bdev_null_delete(name, delete_done, NULL) == 0);
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
};

static void
io_done(struct keel_bdev_io *io, bool success, void *arg)
{
	struct io_result *r = arg;

	r->done++;
	r->success = success;
	keel_bdev_free_io(io);
}

static void
create_has_the_geometry_and_product_name(void)
{
	struct keel_bdev *bdev = create_null("Null0", 2048, 4096);

	CU_ASSERT(keel_bdev_get_by_name("Null0") == bdev);
	CU_ASSERT(keel_bdev_get_num_blocks(bdev) == 2048);
	CU_ASSERT(keel_bdev_get_block_size(bdev) == 4096);
	CU_ASSERT(strcmp(keel_bdev_get_product_name(bdev), "Null disk") == 0);
	CU_ASSERT(strcmp(keel_bdev_get_module_name(bdev), "null") == 0);
	CU_ASSERT(!keel_bdev_has_write_cache(bdev));
	CU_ASSERT(keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_READ));
	CU_ASSERT(keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_WRITE));
	CU_ASSERT(keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_FLUSH));
	CU_ASSERT(keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_UNMAP));
	CU_ASSERT(keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_WRITE_ZEROES));
	CU_ASSERT(keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_RESET));
	/* Compare is not the module's: a null bdev has no data to compare with. */
	CU_ASSERT(!null_io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_COMPARE));
	CU_ASSERT(!null_io_type_supported(bdev->ctxt, KEEL_BDEV_IO_TYPE_COMPARE_AND_WRITE));
	delete_null("Null0");
}

struct poller_probe {
	int found;
	bool paused;
};

static void
probe_poller(const struct keel_poller_info *info, void *ctx)
{
	struct poller_probe *p = ctx;

	if (strcmp(info->name, "bdev_null") == 0) {
		p->found++;
		p->paused = info->paused;
	}
}

static struct poller_probe
probe_null_poller(void)
{
	struct poller_probe p = {0};

	keel_thread_for_each_poller(g_t[0], probe_poller, &p);
	return p;
}

static void
every_io_type_completes_later_and_reads_leave_the_buffer_alone(void)
{
	struct keel_bdev_desc *desc;
	struct keel_io_channel *ch;
	struct io_result r[6] = {0};
	uint8_t *buf = calloc(8, 512);
	int i;

	create_null("Null0", 1024, 512);
	CU_ASSERT_FATAL(keel_bdev_open_ext("Null0", true, bdev_event, NULL, &desc) == 0);
	ch = keel_bdev_get_io_channel(desc);
	CU_ASSERT_FATAL(ch != NULL);
	memset(buf, 0xab, 8 * 512);
	CU_ASSERT(keel_bdev_write_blocks(desc, ch, buf, 0, 8, io_done, &r[0]) == 0);
	CU_ASSERT(keel_bdev_read_blocks(desc, ch, buf, 1016, 8, io_done, &r[1]) == 0);
	CU_ASSERT(keel_bdev_flush_blocks(desc, ch, 0, 0, io_done, &r[2]) == 0);
	CU_ASSERT(keel_bdev_unmap_blocks(desc, ch, 0, 1024, io_done, &r[3]) == 0);
	CU_ASSERT(keel_bdev_write_zeroes_blocks(desc, ch, 5, 100, io_done, &r[4]) == 0);
	CU_ASSERT(keel_bdev_reset(desc, ch, io_done, &r[5]) == 0);
	/* Nothing completes inside the submit calls. */
	for (i = 0; i < 6; i++) {
		CU_ASSERT(r[i].done == 0);
	}
	poll_threads(10);
	/* The reset waits for the others, on a timed poller. */
	poll_until(&r[5].done, 1);
	for (i = 0; i < 6; i++) {
		CU_ASSERT(r[i].done == 1);
		CU_ASSERT(r[i].success);
	}
	for (i = 0; i < 8 * 512; i++) {
		if (buf[i] != 0xab) {
			CU_FAIL("read changed the buffer");
			break;
		}
	}
	/* Beyond the end is refused by the layer. */
	CU_ASSERT(keel_bdev_read_blocks(desc, ch, buf, 1020, 8, io_done, &r[0]) != 0);
	keel_put_io_channel(ch);
	keel_bdev_close(desc);
	poll_threads(10);
	delete_null("Null0");
	free(buf);
}

static void
a_burst_completes_in_one_poll_without_messages_and_the_poller_pauses(void)
{
	enum {
		N = 64
	};
	struct keel_bdev_desc *desc;
	struct keel_io_channel *ch;
	struct io_result r = {0};
	struct poller_probe p;
	uint8_t *buf = calloc(1, 4096);
	int i;

	create_null("Null0", 1024, 4096);
	CU_ASSERT_FATAL(keel_bdev_open_ext("Null0", true, bdev_event, NULL, &desc) == 0);
	ch = keel_bdev_get_io_channel(desc);
	CU_ASSERT_FATAL(ch != NULL);
	poll_threads(5);
	p = probe_null_poller();
	CU_ASSERT(p.found == 1);
	CU_ASSERT(p.paused);
	for (i = 0; i < N; i++) {
		CU_ASSERT(keel_bdev_read_blocks(desc, ch, buf, (uint64_t)i, 1, io_done, &r) == 0);
	}
	CU_ASSERT(!keel_thread_has_messages(g_t[0]));
	p = probe_null_poller();
	CU_ASSERT(!p.paused);
	keel_thread_poll(g_t[0], 0, 0);
	keel_set_thread(g_t[0]);
	CU_ASSERT(r.done == N);
	CU_ASSERT(r.success);
	poll_threads(3);
	p = probe_null_poller();
	CU_ASSERT(p.paused);
	keel_put_io_channel(ch);
	keel_bdev_close(desc);
	poll_threads(10);
	delete_null("Null0");
	free(buf);
}

struct thread_io {
	struct keel_bdev_desc *desc;
	struct keel_io_channel *ch;
	struct io_result r;
	uint8_t buf[512];
};

static void
thread_io_start(void *arg)
{
	struct thread_io *t = arg;

	CU_ASSERT(keel_bdev_open_ext("Null1", true, bdev_event, NULL, &t->desc) == 0);
	t->ch = keel_bdev_get_io_channel(t->desc);
	CU_ASSERT(t->ch != NULL);
	CU_ASSERT(keel_bdev_write_blocks(t->desc, t->ch, t->buf, 3, 1, io_done, &t->r) == 0);
}

static void
thread_io_stop(void *arg)
{
	struct thread_io *t = arg;

	keel_put_io_channel(t->ch);
	keel_bdev_close(t->desc);
}

static void
io_on_a_second_thread_uses_its_own_channel(void)
{
	struct thread_io t = {0};

	create_null("Null1", 16, 512);
	keel_thread_send_msg(g_t[1], thread_io_start, &t);
	poll_threads(10);
	CU_ASSERT(t.r.done == 1);
	CU_ASSERT(t.r.success);
	keel_thread_send_msg(g_t[1], thread_io_stop, &t);
	poll_threads(10);
	delete_null("Null1");
}

static void
delete_with_a_descriptor_open_sends_remove_and_waits_for_close(void)
{
	struct keel_bdev_desc *desc, *desc2;

	create_null("Null2", 16, 512);
	CU_ASSERT_FATAL(keel_bdev_open_ext("Null2", false, bdev_event, NULL, &desc) == 0);
	g_remove_events = 0;
	g_delete_calls = 0;
	CU_ASSERT(bdev_null_delete("Null2", delete_done, NULL) == 0);
	poll_threads(10);
	CU_ASSERT(g_remove_events == 1);
	CU_ASSERT(g_delete_calls == 0);
	/* Being removed: it cannot be opened again. */
	CU_ASSERT(keel_bdev_open_ext("Null2", false, bdev_event, NULL, &desc2) == -ENODEV);
	keel_bdev_close(desc);
	poll_threads(10);
	CU_ASSERT(g_delete_calls == 1);
	CU_ASSERT(g_delete_rc == 0);
	CU_ASSERT(keel_bdev_get_by_name("Null2") == NULL);
	CU_ASSERT(bdev_null_delete("Null2", delete_done, NULL) == -ENODEV);
}

static void
create_rejects_bad_options_and_leaves_nothing(void)
{
	struct null_bdev_opts opts = {.name = "Bad", .num_blocks = 16, .block_size = 512};
	struct keel_bdev *bdev = NULL;
	char err[300], longname[300];
	int before = count_bdevs();

	opts.block_size = 1000;
	CU_ASSERT(bdev_null_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "block_size") != NULL);
	opts.block_size = 256;
	CU_ASSERT(bdev_null_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	opts.block_size = 131072;
	CU_ASSERT(bdev_null_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	opts.block_size = 512;
	opts.num_blocks = 0;
	CU_ASSERT(bdev_null_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "num_blocks") != NULL);
	opts.num_blocks = UINT64_MAX / 256;
	CU_ASSERT(bdev_null_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "num_blocks") != NULL);
	opts.num_blocks = 16;
	opts.uuid = "not-a-uuid";
	CU_ASSERT(bdev_null_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "uuid") != NULL);
	opts.uuid = NULL;
	opts.name = "";
	CU_ASSERT(bdev_null_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "name") != NULL);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	opts.name = longname;
	CU_ASSERT(bdev_null_create(&opts, &bdev, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(bdev == NULL);
	CU_ASSERT(count_bdevs() == before);
}

static void
duplicate_name_or_uuid_is_refused(void)
{
	struct null_bdev_opts opts = {.name = "Dup", .num_blocks = 16, .block_size = 512};
	struct keel_bdev *bdev, *other = NULL;
	char err[300], uuid[KEEL_UUID_STRING_LEN];

	CU_ASSERT_FATAL(bdev_null_create(&opts, &bdev, err, sizeof(err)) == 0);
	CU_ASSERT(bdev_null_create(&opts, &other, err, sizeof(err)) == -EEXIST);
	CU_ASSERT(strstr(err, "Dup") != NULL);
	keel_bdev_get_uuid_str(bdev, uuid);
	opts.name = "Dup2";
	opts.uuid = uuid;
	CU_ASSERT(bdev_null_create(&opts, &other, err, sizeof(err)) == -EEXIST);
	CU_ASSERT(strstr(err, "uuid") != NULL);
	CU_ASSERT(other == NULL);
	CU_ASSERT(keel_bdev_get_by_name("Dup2") == NULL);
	delete_null("Dup");
}

static void
given_uuid_is_kept_and_written_to_the_config(void)
{
	const char *uuid = "6f2d9a1e-0c55-4b8e-9e41-5a0f1b2c3d4e";
	struct null_bdev_opts opts = {.name = "NullU",
				      .uuid = uuid,
				      .num_blocks = 100,
				      .block_size = 4096};
	struct json_object *arr = json_object_new_array(), *call, *params, *v;
	struct keel_bdev *bdev;
	char err[300], got[KEEL_UUID_STRING_LEN];

	CU_ASSERT_FATAL(bdev_null_create(&opts, &bdev, err, sizeof(err)) == 0);
	keel_bdev_get_uuid_str(bdev, got);
	CU_ASSERT(strcmp(got, uuid) == 0);
	CU_ASSERT(keel_bdev_get_by_name(uuid) == bdev);
	null_write_config_json(bdev, arr);
	CU_ASSERT_FATAL(json_object_array_length(arr) == 1);
	call = json_object_array_get_idx(arr, 0);
	CU_ASSERT(json_object_object_get_ex(call, "method", &v));
	CU_ASSERT(strcmp(json_object_get_string(v), "bdev_null_create") == 0);
	CU_ASSERT_FATAL(json_object_object_get_ex(call, "params", &params));
	CU_ASSERT(json_object_object_length(params) == 4);
	CU_ASSERT(json_object_object_get_ex(params, "name", &v) &&
		  strcmp(json_object_get_string(v), "NullU") == 0);
	CU_ASSERT(json_object_object_get_ex(params, "num_blocks", &v) &&
		  json_object_get_int64(v) == 100);
	CU_ASSERT(json_object_object_get_ex(params, "block_size", &v) &&
		  json_object_get_int64(v) == 4096);
	CU_ASSERT(json_object_object_get_ex(params, "uuid", &v) &&
		  strcmp(json_object_get_string(v), uuid) == 0);
	json_object_put(arr);
	delete_null("NullU");
}

/* Parse text as the default configuration and run the module's [Null] reader. */
static int
read_conf_text(const char *text)
{
	char path[] = "/tmp/null_ut.XXXXXX";
	struct keel_conf *conf = keel_conf_create();
	int fd, rc;

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	CU_ASSERT_FATAL(keel_conf_read(conf, path) == 0);
	unlink(path);
	keel_conf_set_default(conf);
	rc = null_read_conf();
	keel_conf_set_default(NULL);
	keel_conf_destroy(conf);
	return rc;
}

static void
null_section_creates_each_dev(void)
{
	struct keel_bdev *b;

	CU_ASSERT(read_conf_text("[Null]\n  Dev NullA 16 4096\n  Dev NullB 1 512\n"
				 "  Dev NullC 2\n") == 0);
	b = keel_bdev_get_by_name("NullA");
	CU_ASSERT_FATAL(b != NULL);
	CU_ASSERT(keel_bdev_get_num_blocks(b) == 4096);
	CU_ASSERT(keel_bdev_get_block_size(b) == 4096);
	b = keel_bdev_get_by_name("NullB");
	CU_ASSERT_FATAL(b != NULL);
	CU_ASSERT(keel_bdev_get_num_blocks(b) == 2048);
	/* The block size defaults to 512. */
	b = keel_bdev_get_by_name("NullC");
	CU_ASSERT_FATAL(b != NULL);
	CU_ASSERT(keel_bdev_get_num_blocks(b) == 4096);
	CU_ASSERT(keel_bdev_get_block_size(b) == 512);
	delete_null("NullA");
	delete_null("NullB");
	delete_null("NullC");
	/* No section: nothing to do. */
	CU_ASSERT(read_conf_text("[Global]\n  ReactorMask 0x1\n") == 0);
}

static void
null_section_errors_fail_the_start(void)
{
	int before = count_bdevs();

	CU_ASSERT(read_conf_text("[Null]\n  Dev NullX\n") == -EINVAL);
	CU_ASSERT(read_conf_text("[Null]\n  Dev NullX lots 512\n") == -EINVAL);
	CU_ASSERT(read_conf_text("[Null]\n  Dev NullX 0 512\n") == -EINVAL);
	CU_ASSERT(read_conf_text("[Null]\n  Dev NullX 16 1000\n") == -EINVAL);
	CU_ASSERT(read_conf_text("[Null]\n  Dev NullX 16 -512\n") == -EINVAL);
	CU_ASSERT(count_bdevs() == before);
	CU_ASSERT(read_conf_text("[Null]\n  Dev NullX 1 512\n  Dev NullX 1 512\n") == -EEXIST);
	delete_null("NullX");
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

static struct json_object *
resp_get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (o != NULL) {
		json_object_object_get_ex(o, key, &v);
	}
	return v;
}

static int
resp_error_code(struct json_object *resp)
{
	return json_object_get_int(resp_get(resp_get(resp, "error"), "code"));
}

static bool
resp_error_mentions(struct json_object *resp, const char *word)
{
	const char *msg = json_object_get_string(resp_get(resp_get(resp, "error"), "message"));

	return msg != NULL && strstr(msg, word) != NULL;
}

static void
rpc_create_and_delete_in_both_shapes_and_names(void)
{
	struct json_object *resp;
	struct keel_bdev *b;

	resp = rpc_call("bdev_null_create", "{\"name\": \"RNull0\", \"num_blocks\": 256, "
					    "\"block_size\": 4096}");
	CU_ASSERT(strcmp(json_object_get_string(resp_get(resp, "result")), "RNull0") == 0);
	b = keel_bdev_get_by_name("RNull0");
	CU_ASSERT_FATAL(b != NULL);
	CU_ASSERT(keel_bdev_get_num_blocks(b) == 256);
	/* The oldest clients sent the size in MiB. */
	resp = rpc_call("construct_null_bdev",
			"{\"name\": \"RNull1\", \"total_size\": 4, "
			"\"block_size\": 512, \"uuid\": \"1b4e28ba-2fa1-11d2-883f-0016d3cca427\"}");
	CU_ASSERT(strcmp(json_object_get_string(resp_get(resp, "result")), "RNull1") == 0);
	b = keel_bdev_get_by_name("RNull1");
	CU_ASSERT_FATAL(b != NULL);
	CU_ASSERT(keel_bdev_get_num_blocks(b) == 8192);
	CU_ASSERT(keel_bdev_get_by_name("1b4e28ba-2fa1-11d2-883f-0016d3cca427") == b);
	/* Newer clients' zero metadata fields are accepted. */
	resp = rpc_call("bdev_null_create", "{\"name\": \"RNull2\", \"num_blocks\": 8, "
					    "\"block_size\": 512, \"md_size\": 0, \"dif_type\": 0, "
					    "\"dif_is_head_of_md\": false}");
	CU_ASSERT(resp_get(resp, "result") != NULL);

	resp = rpc_call("bdev_null_delete", "{\"name\": \"RNull0\"}");
	CU_ASSERT(json_object_get_boolean(resp_get(resp, "result")));
	CU_ASSERT(keel_bdev_get_by_name("RNull0") == NULL);
	resp = rpc_call("delete_null_bdev", "{\"name\": \"RNull1\"}");
	CU_ASSERT(json_object_get_boolean(resp_get(resp, "result")));
	resp = rpc_call("bdev_null_delete", "{\"name\": \"RNull2\"}");
	CU_ASSERT(json_object_get_boolean(resp_get(resp, "result")));
	CU_ASSERT(keel_bdev_get_by_name("RNull1") == NULL);
	CU_ASSERT(keel_bdev_get_by_name("RNull2") == NULL);
}

static void
rpc_errors_name_the_parameter_and_leave_nothing(void)
{
	static const struct {
		const char *params;
		const char *word;
	} cases[] = {
		{"{\"name\": \"E\", \"num_blocks\": 0, \"block_size\": 512}", "num_blocks"},
		{"{\"name\": \"E\", \"num_blocks\": 8, \"block_size\": 1000}", "block_size"},
		{"{\"name\": \"E\", \"num_blocks\": 8, \"block_size\": 256}", "block_size"},
		{"{\"name\": \"E\", \"num_blocks\": 8, \"block_size\": 131072}", "block_size"},
		{"{\"name\": \"E\", \"num_blocks\": 36028797018963968, \"block_size\": 4096}",
		 "num_blocks"},
		{"{\"name\": \"E\", \"block_size\": 512}", "num_blocks"},
		{"{\"name\": \"E\", \"num_blocks\": 8, \"total_size\": 1, \"block_size\": 512}",
		 "total_size"},
		{"{\"name\": \"E\", \"total_size\": 0, \"block_size\": 512}", "total_size"},
		{"{\"name\": \"E\", \"num_blocks\": 8}", "block_size"},
		{"{\"num_blocks\": 8, \"block_size\": 512}", "name"},
		{"{\"name\": \"\", \"num_blocks\": 8, \"block_size\": 512}", "name"},
		{"{\"name\": \"E\", \"num_blocks\": 8, \"block_size\": 512, \"uuid\": \"x\"}",
		 "uuid"},
		{"{\"name\": \"E\", \"num_blocks\": 8, \"block_size\": 512, \"md_size\": 8}",
		 "md_size"},
		{"{\"name\": \"E\", \"num_blocks\": -8, \"block_size\": 512}", "num_blocks"},
		{"{\"name\": \"E\", \"num_blocks\": 8, \"block_size\": 512, \"color\": 1}",
		 "color"},
	};
	struct json_object *resp;
	int before = count_bdevs();
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(cases); i++) {
		resp = rpc_call("bdev_null_create", cases[i].params);
		CU_ASSERT(resp_error_code(resp) == KEEL_JSONRPC_ERROR_INVALID_PARAMS);
		if (!resp_error_mentions(resp, cases[i].word)) {
			printf("case %zu: %s\n", i, json_object_to_json_string(resp));
			CU_FAIL("error message does not name the parameter");
		}
	}
	CU_ASSERT(count_bdevs() == before);
	CU_ASSERT(keel_bdev_get_by_name("E") == NULL);

	create_null("Taken", 8, 512);
	resp = rpc_call("bdev_null_create", "{\"name\": \"Taken\", \"num_blocks\": 8, "
					    "\"block_size\": 512}");
	CU_ASSERT(resp_error_code(resp) == -EEXIST);
	CU_ASSERT(resp_error_mentions(resp, "Taken"));
	CU_ASSERT(count_bdevs() == before + 1);
	delete_null("Taken");

	resp = rpc_call("bdev_null_delete", "{\"name\": \"NoSuch\"}");
	CU_ASSERT(resp_error_code(resp) == -ENODEV);
	CU_ASSERT(resp_error_mentions(resp, "name"));
	resp = rpc_call("bdev_null_delete", "{}");
	CU_ASSERT(resp_error_code(resp) == KEEL_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT(resp_error_mentions(resp, "name"));
	json_object_put(g_resp);
	g_resp = NULL;
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(create_has_the_geometry_and_product_name),
		KEEL_UT_TEST(every_io_type_completes_later_and_reads_leave_the_buffer_alone),
		KEEL_UT_TEST(a_burst_completes_in_one_poll_without_messages_and_the_poller_pauses),
		KEEL_UT_TEST(io_on_a_second_thread_uses_its_own_channel),
		KEEL_UT_TEST(delete_with_a_descriptor_open_sends_remove_and_waits_for_close),
		KEEL_UT_TEST(create_rejects_bad_options_and_leaves_nothing),
		KEEL_UT_TEST(duplicate_name_or_uuid_is_refused),
		KEEL_UT_TEST(given_uuid_is_kept_and_written_to_the_config),
		KEEL_UT_TEST(null_section_creates_each_dev),
		KEEL_UT_TEST(null_section_errors_fail_the_start),
		KEEL_UT_TEST(rpc_create_and_delete_in_both_shapes_and_names),
		KEEL_UT_TEST(rpc_errors_name_the_parameter_and_leave_nothing),
	};

	return keel_ut_run("bdev_null", tests, KEEL_COUNTOF(tests), suite_init, suite_fini);
}
