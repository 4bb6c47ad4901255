/*
 * Tests shared by the two file-backed bdev modules (aio and uring): the real bdev layer on real
 * files in /tmp and /dev/shm, driven by two threads that the test polls itself. A test program
 * includes this header before the module's sources, then defines g_mod, the table that names the
 * module's create and delete functions, RPC methods and legacy config section.
 */
#ifndef KEEL_BDEV_FILE_UT_H
#define KEEL_BDEV_FILE_UT_H

#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/bdev_module.h"
#include "keel/conf.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/rpc.h"
#include "keel/thread.h"

#include <dirent.h>
#include <json-c/json.h>
#include <poll.h>

#include "ut.h"

#define UT_FILE_BYTES (1024 * 1024) /* 2048 blocks of 512 */
#define UT_TIMEOUT_MS 5000
#define UT_FLOOD_COUNT 400 /* more I/O at once than a channel queues */

struct ut_file_module {
	const char *name;          /* module name, as keel_bdev_get_module_name() gives it */
	const char *product;       /* product_name of its bdevs */
	const char *create_method; /* RPC methods */
	const char *delete_method;
	const char *old_create_method; /* NULL: none */
	const char *old_delete_method;
	const char *conf_section; /* legacy INI section and its key */
	const char *conf_key;
	int (*create)(const char *name, const char *filename, uint32_t block_size,
		      struct keel_bdev **bdev, char *err, size_t err_len);
	int (*delete)(const char *name, keel_bdev_done_cb cb, void *cb_arg);
	int (*module_init)(void);
	bool (*is_direct)(struct keel_bdev *bdev); /* opened O_DIRECT */
};

/* Defined by the test program, after the module's sources. */
static const struct ut_file_module g_mod;

static struct keel_thread *g_t[2];
static char g_dir[64];      /* on /tmp */
static char g_shm_dir[128]; /* on /dev/shm (tmpfs) */

/* open() as the module sees it: refuses O_DIRECT with EINVAL while g_refuse_direct is set. */
static bool g_refuse_direct;

static bool
ut_refuses(int flags)
{
	if (g_refuse_direct && (flags & O_DIRECT)) {
		errno = EINVAL;
		return true;
	}
	return false;
}

static mode_t
ut_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) ? (mode_t)va_arg(ap, int) : 0;
}

/* The test programs link with -Wl,--wrap=open, so that every open() (the module's, and
 * lib/bdev/bdev_file.c's in the bdev library, which opens the backing file) is this one. */
int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);

int
__wrap_open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = ut_mode(flags, ap);
	va_end(ap);
	return ut_refuses(flags) ? -1 : __real_open(path, flags, mode);
}

static uint64_t
ut_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
ut_poll_threads(int rounds)
{
	int i, j;

	for (i = 0; i < rounds; i++) {
		for (j = 0; j < 2; j++) {
			keel_thread_poll(g_t[j], 0, 0);
		}
	}
}

/* Poll both threads until *counter reaches target; false after UT_TIMEOUT_MS. */
static bool
ut_poll_until(const int *counter, int target)
{
	uint64_t deadline = ut_now_ms() + UT_TIMEOUT_MS;

	while (*counter < target) {
		if (ut_now_ms() > deadline) {
			return false;
		}
		ut_poll_threads(1);
	}
	/* Let what the completion queued (deferred closes, channel puts) run too. */
	ut_poll_threads(10);
	return true;
}

static int
ut_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL) {
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.') {
			n++;
		}
	}
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static void
ut_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	/* Also runs from suite clean-up, where CUnit cannot assert: a path that does not fit
	 * becomes "", which every use then fails on. */
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
	}
}

static void
ut_make_file(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(ftruncate(fd, (off_t)size) == 0);
	close(fd);
}

/* The test pattern: a byte for every offset of the file, different in every block. */
static uint8_t
ut_byte(uint64_t offset, uint8_t seed)
{
	return (uint8_t)((offset * 31) ^ (offset >> 9) ^ seed ^ 0x5a);
}

/* Compare len bytes of the file at offset (read with plain pread) with the pattern. */
static bool
ut_file_has_pattern(const char *path, uint64_t offset, size_t len, uint8_t seed)
{
	uint8_t *buf = malloc(len);
	int fd = open(path, O_RDONLY);
	bool ok = fd >= 0 && buf != NULL && pread(fd, buf, len, (off_t)offset) == (ssize_t)len;
	size_t i;

	for (i = 0; ok && i < len; i++) {
		ok = buf[i] == ut_byte(offset + i, seed);
	}
	if (fd >= 0) {
		close(fd);
	}
	free(buf);
	return ok;
}

/* Scatter list over unaligned heap chunks of uneven sizes, so the layer must bounce. */
struct ut_sg {
	struct iovec iov[3];
	uint8_t *mem[3];
	int cnt;
	size_t total;
};

static void
ut_sg_alloc(struct ut_sg *sg, size_t total)
{
	size_t sizes[3];
	int i;

	sizes[0] = total / 3 + 7;
	sizes[1] = total / 5 + 1;
	sizes[2] = total - sizes[0] - sizes[1];
	sg->cnt = 3;
	sg->total = total;
	for (i = 0; i < 3; i++) {
		sg->mem[i] = malloc(sizes[i] + 8);
		CU_ASSERT_FATAL(sg->mem[i] != NULL);
		sg->iov[i].iov_base = sg->mem[i] + 1 + 2 * i; /* odd addresses */
		sg->iov[i].iov_len = sizes[i];
	}
}

static void
ut_sg_free(struct ut_sg *sg)
{
	int i;

	for (i = 0; i < sg->cnt; i++) {
		free(sg->mem[i]);
	}
}

/* Fill (or, with check, compare) the scatter list with the pattern of file offset onwards. */
static bool
ut_sg_pattern(struct ut_sg *sg, uint64_t offset, uint8_t seed, bool check)
{
	uint64_t off = offset;
	size_t j;
	int i;

	for (i = 0; i < sg->cnt; i++) {
		uint8_t *p = sg->iov[i].iov_base;

		for (j = 0; j < sg->iov[i].iov_len; j++, off++) {
			if (!check) {
				p[j] = ut_byte(off, seed);
			} else if (p[j] != ut_byte(off, seed)) {
				return false;
			}
		}
	}
	return true;
}

static bool
ut_sg_is_zero(struct ut_sg *sg)
{
	size_t j;
	int i;

	for (i = 0; i < sg->cnt; i++) {
		for (j = 0; j < sg->iov[i].iov_len; j++) {
			if (((uint8_t *)sg->iov[i].iov_base)[j] != 0) {
				return false;
			}
		}
	}
	return true;
}

/* An open bdev: descriptor and channel on one thread. */
struct ut_bdev {
	struct keel_bdev *bdev;
	struct keel_bdev_desc *desc;
	struct keel_io_channel *ch;
	struct keel_thread *thread;
	int removes;
	bool close_on_remove;
};

static void
ut_bdev_close(struct ut_bdev *b)
{
	struct keel_thread *orig = keel_get_thread();

	if (b->desc == NULL) {
		return;
	}
	keel_set_thread(b->thread);
	keel_put_io_channel(b->ch);
	keel_bdev_close(b->desc);
	keel_set_thread(orig);
	b->ch = NULL;
	b->desc = NULL;
}

static void
ut_bdev_event(enum keel_bdev_event_type type, struct keel_bdev *bdev, void *ctx)
{
	struct ut_bdev *b = ctx;

	if (type == KEEL_BDEV_EVENT_REMOVE) {
		b->removes++;
		if (b->close_on_remove) {
			ut_bdev_close(b);
		}
	}
}

/* Open name read-write on thread t, with a channel. */
static void
ut_bdev_open_on(struct ut_bdev *b, const char *name, struct keel_thread *t)
{
	struct keel_thread *orig = keel_get_thread();

	memset(b, 0, sizeof(*b));
	b->thread = t;
	keel_set_thread(t);
	CU_ASSERT_FATAL(keel_bdev_open_ext(name, true, ut_bdev_event, b, &b->desc) == 0);
	b->bdev = keel_bdev_desc_get_bdev(b->desc);
	b->ch = keel_bdev_get_io_channel(b->desc);
	keel_set_thread(orig);
	CU_ASSERT_FATAL(b->ch != NULL);
}

static void
ut_bdev_open(struct ut_bdev *b, const char *name)
{
	ut_bdev_open_on(b, name, g_t[0]);
}

struct ut_io {
	int done;
	bool success;
	enum keel_bdev_io_status status;
};

static void
ut_io_done(struct keel_bdev_io *io, bool success, void *arg)
{
	struct ut_io *r = arg;

	r->done++;
	r->success = success;
	r->status = keel_bdev_io_get_status(io);
	keel_bdev_free_io(io);
}

enum ut_op {
	UT_READ,
	UT_WRITE,
	UT_FLUSH,
	UT_UNMAP,
	UT_WRITE_ZEROES,
	UT_RESET
};

/* Submit one I/O on b's thread; the caller polls r. \return the submit's rc. */
static int
ut_submit(struct ut_bdev *b, enum ut_op op, struct iovec *iov, int iovcnt, uint64_t lba, uint64_t n,
	  uint32_t flags, struct ut_io *r)
{
	struct keel_thread *orig = keel_get_thread();
	int rc = -EINVAL;

	keel_set_thread(b->thread);
	switch (op) {
	case UT_READ:
		rc = keel_bdev_readv_blocks_ext(b->desc, b->ch, iov, iovcnt, lba, n, flags,
						ut_io_done, r);
		break;
	case UT_WRITE:
		rc = keel_bdev_writev_blocks_ext(b->desc, b->ch, iov, iovcnt, lba, n, flags,
						 ut_io_done, r);
		break;
	case UT_FLUSH:
		rc = keel_bdev_flush_blocks(b->desc, b->ch, lba, n, ut_io_done, r);
		break;
	case UT_UNMAP:
		rc = keel_bdev_unmap_blocks(b->desc, b->ch, lba, n, ut_io_done, r);
		break;
	case UT_WRITE_ZEROES:
		rc = keel_bdev_write_zeroes_blocks(b->desc, b->ch, lba, n, ut_io_done, r);
		break;
	case UT_RESET:
		rc = keel_bdev_reset(b->desc, b->ch, ut_io_done, r);
		break;
	}
	keel_set_thread(orig);
	return rc;
}

/* One I/O, waited for; returns its status (FAILED if it could not be submitted). */
static enum keel_bdev_io_status
ut_io(struct ut_bdev *b, enum ut_op op, struct iovec *iov, int iovcnt, uint64_t lba, uint64_t n,
      uint32_t flags)
{
	struct ut_io r = {0};
	int rc = ut_submit(b, op, iov, iovcnt, lba, n, flags, &r);

	CU_ASSERT(rc == 0);
	if (rc != 0) {
		return KEEL_BDEV_IO_STATUS_FAILED;
	}
	CU_ASSERT(r.done == 0); /* never completed inside the submit call */
	CU_ASSERT(ut_poll_until(&r.done, 1));
	CU_ASSERT(r.done == 1);
	CU_ASSERT(r.success == (r.status == KEEL_BDEV_IO_STATUS_SUCCESS));
	return r.status;
}

/* Write the pattern to n blocks at lba through unaligned buffers. */
static enum keel_bdev_io_status
ut_write_pattern(struct ut_bdev *b, uint64_t lba, uint64_t n, uint8_t seed, uint32_t flags)
{
	uint32_t bs = keel_bdev_get_block_size(b->bdev);
	enum keel_bdev_io_status st;
	struct ut_sg sg;

	ut_sg_alloc(&sg, n * bs);
	ut_sg_pattern(&sg, lba * bs, seed, false);
	st = ut_io(b, UT_WRITE, sg.iov, sg.cnt, lba, n, flags);
	ut_sg_free(&sg);
	return st;
}

/* Read n blocks at lba; true if they hold the pattern (or zeroes, with zero). */
static bool
ut_read_check(struct ut_bdev *b, uint64_t lba, uint64_t n, uint8_t seed, bool zero)
{
	uint32_t bs = keel_bdev_get_block_size(b->bdev);
	struct ut_sg sg;
	bool ok;

	ut_sg_alloc(&sg, n * bs);
	memset(sg.iov[0].iov_base, 0xee, sg.iov[0].iov_len);
	ok = ut_io(b, UT_READ, sg.iov, sg.cnt, lba, n, 0) == KEEL_BDEV_IO_STATUS_SUCCESS;
	ok = ok && (zero ? ut_sg_is_zero(&sg) : ut_sg_pattern(&sg, lba * bs, seed, true));
	ut_sg_free(&sg);
	return ok;
}

static struct keel_bdev *
ut_create(const char *name, const char *filename, uint32_t block_size)
{
	struct keel_bdev *bdev = NULL;
	char err[512] = "";
	int rc;

	rc = g_mod.create(name, filename, block_size, &bdev, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "create %s on %s: %s\n", name, filename, err);
	}
	CU_ASSERT(rc == 0);
	return bdev;
}

static int g_delete_rc;
static int g_delete_done;

static void
ut_delete_cb(void *arg, int rc)
{
	g_delete_rc = rc;
	g_delete_done++;
}

/* Delete by name and wait for it. */
static void
ut_delete(const char *name)
{
	g_delete_done = 0;
	g_delete_rc = 1;
	CU_ASSERT_FATAL(g_mod.delete(name, ut_delete_cb, NULL) == 0);
	CU_ASSERT(ut_poll_until(&g_delete_done, 1));
	CU_ASSERT(g_delete_rc == 0);
	CU_ASSERT(keel_bdev_get_by_name(name) == NULL);
}

/* JSON-RPC through a local request, answered now or after polling. */
static struct json_object *g_resp;
static int g_resp_count;

static void
ut_rpc_cb(struct json_object *response, void *arg)
{
	json_object_put(g_resp);
	g_resp = response;
	g_resp_count++;
}

/* Call method with params given as JSON text; returns the response. */
static struct json_object *
ut_rpc_text(const char *method, const char *text)
{
	struct json_object *params = json_tokener_parse(text);

	CU_ASSERT_FATAL(params != NULL);
	g_resp_count = 0;
	keel_rpc_call_local(method, params, ut_rpc_cb, NULL);
	CU_ASSERT(ut_poll_until(&g_resp_count, 1));
	json_object_put(params);
	CU_ASSERT_FATAL(g_resp != NULL);
	return g_resp;
}

static struct json_object *__attribute__((format(printf, 2, 3)))
ut_rpc(const char *method, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return ut_rpc_text(method, text);
}

static struct json_object *
ut_get(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(obj, key, &v);
	return v;
}

static int
ut_rpc_error_code(struct json_object *resp)
{
	return json_object_get_int(ut_get(ut_get(resp, "error"), "code"));
}

static const char *
ut_rpc_error_message(struct json_object *resp)
{
	const char *msg = json_object_get_string(ut_get(ut_get(resp, "error"), "message"));

	return msg != NULL ? msg : "";
}

static struct json_object *
ut_rpc_result(struct json_object *resp)
{
	CU_ASSERT(ut_get(resp, "error") == NULL);
	return ut_get(resp, "result");
}

static void
ut_init_done(int rc, void *ctx)
{
	*(int *)ctx = rc;
}

/* Environment without hugepages, two threads, the bdev layer started through the subsystems. */
static int
ut_suite_init(const char *name)
{
	struct keel_env_opts opts;
	struct keel_bdev_opts bopts;
	uint64_t deadline;
	int rc;

	snprintf(g_dir, sizeof(g_dir), "/tmp/keel_%s.XXXXXX", name);
	snprintf(g_shm_dir, sizeof(g_shm_dir), "/dev/shm/keel_%s.XXXXXX", name);
	if (mkdtemp(g_dir) == NULL) {
		return 1;
	}
	if (mkdtemp(g_shm_dir) == NULL) {
		/* No /dev/shm here: the tmpfs cases run on /tmp's file system. */
		snprintf(g_shm_dir, sizeof(g_shm_dir), "%s/shm", g_dir);
		if (mkdir(g_shm_dir, 0700) != 0) {
			return 1;
		}
	}
	keel_env_opts_init(&opts);
	opts.name = name;
	opts.no_huge = true;
	opts.no_pci = true;
	opts.mem_size_mb = 512;
	if (keel_env_init(&opts) != 0 || keel_thread_lib_init(NULL, 65535) != 0) {
		return 1;
	}
	g_t[0] = keel_thread_create("ut0", NULL);
	g_t[1] = keel_thread_create("ut1", NULL);
	if (g_t[0] == NULL || g_t[1] == NULL) {
		return 1;
	}
	keel_set_thread(g_t[0]);
	keel_bdev_get_opts(&bopts);
	bopts.bdev_io_pool_size = 4096;
	bopts.bdev_io_cache_size = 64;
	if (keel_bdev_set_opts(&bopts) != 0) {
		return 1;
	}
	rc = -1;
	keel_subsystem_init(ut_init_done, &rc);
	deadline = ut_now_ms() + UT_TIMEOUT_MS;
	while (rc == -1 && ut_now_ms() < deadline) {
		ut_poll_threads(1);
	}
	keel_set_thread(g_t[0]);
	keel_rpc_set_state(KEEL_RPC_RUNTIME);
	return rc == 0 ? 0 : 1;
}

static void
ut_rm_dir(const char *dir)
{
	char path[256];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (d == NULL) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.') {
			ut_path(path, sizeof(path), dir, e->d_name);
			unlink(path);
		}
	}
	closedir(d);
	rmdir(dir);
}

static int
ut_suite_fini(void)
{
	json_object_put(g_resp);
	g_resp = NULL;
	ut_rm_dir(g_shm_dir);
	ut_rm_dir(g_dir);
	return 0;
}

/*
 * The tests common to both modules.
 */

static void
regular_file_gets_512_byte_blocks_and_its_size_in_whole_blocks(void)
{
	struct keel_bdev *bdev;
	char path[128];

	ut_path(path, sizeof(path), g_dir, "detect");
	ut_make_file(path, UT_FILE_BYTES + 100); /* the tail short of a block is not used */
	bdev = ut_create("Detect0", path, 0);
	CU_ASSERT_FATAL(bdev != NULL);
	CU_ASSERT(keel_bdev_get_by_name("Detect0") == bdev);
	CU_ASSERT(keel_bdev_get_block_size(bdev) == 512);
	CU_ASSERT(keel_bdev_get_num_blocks(bdev) == UT_FILE_BYTES / 512);
	CU_ASSERT(strcmp(keel_bdev_get_product_name(bdev), g_mod.product) == 0);
	CU_ASSERT(strcmp(keel_bdev_get_module_name(bdev), g_mod.name) == 0);
	CU_ASSERT(keel_bdev_has_write_cache(bdev));
	CU_ASSERT(keel_bdev_unmap_reads_zeroes(bdev));
	CU_ASSERT(keel_bdev_get_buf_align(bdev) == 512);
	CU_ASSERT(g_mod.is_direct(bdev));
	CU_ASSERT(keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_READ));
	CU_ASSERT(keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_WRITE));
	CU_ASSERT(keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_FLUSH));
	CU_ASSERT(keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_UNMAP));
	CU_ASSERT(keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_WRITE_ZEROES));
	CU_ASSERT(keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_RESET));
	ut_delete("Detect0");
}

static void
given_block_size_sets_geometry_and_alignment(void)
{
	struct keel_bdev *bdev;
	char path[128];

	ut_path(path, sizeof(path), g_dir, "bs4k");
	ut_make_file(path, UT_FILE_BYTES);
	bdev = ut_create("Bs4k", path, 4096);
	CU_ASSERT_FATAL(bdev != NULL);
	CU_ASSERT(keel_bdev_get_block_size(bdev) == 4096);
	CU_ASSERT(keel_bdev_get_num_blocks(bdev) == UT_FILE_BYTES / 4096);
	CU_ASSERT(keel_bdev_get_buf_align(bdev) == 4096);
	ut_delete("Bs4k");
}

/* create fails with rc and a message holding word; no descriptor stays open. */
static void
ut_create_fails(const char *name, const char *filename, uint32_t block_size, int rc,
		const char *word)
{
	struct keel_bdev *bdev = NULL;
	int fds = ut_fd_count();
	char err[512] = "";

	CU_ASSERT(g_mod.create(name, filename, block_size, &bdev, err, sizeof(err)) == rc);
	CU_ASSERT(bdev == NULL);
	CU_ASSERT(strstr(err, word) != NULL);
	if (strstr(err, word) == NULL) {
		fprintf(stderr, "message '%s' lacks '%s'\n", err, word);
	}
	CU_ASSERT(ut_fd_count() == fds);
}

static void
create_errors_name_the_problem_and_leave_nothing_open(void)
{
	char path[128], small[128], missing[128];

	ut_path(path, sizeof(path), g_dir, "errors");
	ut_path(small, sizeof(small), g_dir, "small");
	ut_path(missing, sizeof(missing), g_dir, "missing");
	ut_make_file(path, UT_FILE_BYTES);
	ut_make_file(small, 511);

	ut_create_fails("Err0", missing, 0, -ENOENT, missing);
	ut_create_fails("Err0", missing, 0, -ENOENT, "No such file or directory (errno 2)");
	ut_create_fails("Err0", small, 0, -EINVAL, "less than one block");
	ut_create_fails("Err0", path, 1000, -EINVAL, "block_size");
	ut_create_fails("Err0", path, 256, -EINVAL, "block_size");
	ut_create_fails("Err0", path, 131072, -EINVAL, "block_size");
	ut_create_fails("Err0", g_dir, 0, -EISDIR, "filename");
	ut_create_fails("Err0", "", 0, -EINVAL, "filename");
	ut_create_fails("", path, 0, -EINVAL, "name");
	CU_ASSERT(keel_bdev_get_by_name("Err0") == NULL);

	CU_ASSERT_FATAL(ut_create("Dup0", path, 0) != NULL);
	ut_create_fails("Dup0", path, 0, -EEXIST, "already exists");
	ut_delete("Dup0");
}

static void
unaligned_multi_iovec_io_reads_back_at_several_offsets(void)
{
	static const struct {
		uint64_t lba;
		uint64_t n;
	} spots[] = {{0, 1}, {1, 7}, {100, 33}, {1000, 64}, {2040, 8}};
	static uint8_t block[512];
	struct ut_bdev b;
	char path[128];
	size_t i;

	ut_path(path, sizeof(path), g_dir, "pattern");
	ut_make_file(path, UT_FILE_BYTES);
	CU_ASSERT_FATAL(ut_create("Pat0", path, 0) != NULL);
	ut_bdev_open(&b, "Pat0");
	for (i = 0; i < KEEL_COUNTOF(spots); i++) {
		CU_ASSERT(ut_write_pattern(&b, spots[i].lba, spots[i].n, 1, 0) ==
			  KEEL_BDEV_IO_STATUS_SUCCESS);
	}
	for (i = 0; i < KEEL_COUNTOF(spots); i++) {
		CU_ASSERT(ut_read_check(&b, spots[i].lba, spots[i].n, 1, false));
		/* The data is where it belongs in the file. */
		CU_ASSERT(ut_file_has_pattern(path, spots[i].lba * 512, spots[i].n * 512, 1));
	}
	/* Blocks never written read back as zeroes. */
	CU_ASSERT(ut_read_check(&b, 500, 4, 0, true));
	/* Past the end: refused by the layer. */
	CU_ASSERT(keel_bdev_write_blocks(b.desc, b.ch, block, 2048, 1, ut_io_done, NULL) != 0);
	ut_bdev_close(&b);
	ut_delete("Pat0");
}

static void
aligned_buffers_read_and_write_in_place(void)
{
	struct ut_io r = {0};
	struct ut_bdev b;
	struct iovec iov[2];
	uint8_t *buf = NULL;
	char path[128];
	size_t i;

	ut_path(path, sizeof(path), g_dir, "aligned");
	ut_make_file(path, UT_FILE_BYTES);
	CU_ASSERT_FATAL(ut_create("Al0", path, 4096) != NULL);
	ut_bdev_open(&b, "Al0");
	CU_ASSERT_FATAL(posix_memalign((void **)&buf, 4096, 4 * 4096) == 0);
	for (i = 0; i < 4 * 4096; i++) {
		buf[i] = ut_byte(8 * 4096 + i, 9);
	}
	iov[0].iov_base = buf;
	iov[0].iov_len = 4096;
	iov[1].iov_base = buf + 4096;
	iov[1].iov_len = 3 * 4096;
	CU_ASSERT(ut_io(&b, UT_WRITE, iov, 2, 8, 4, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_file_has_pattern(path, 8 * 4096, 4 * 4096, 9));
	memset(buf, 0, 4 * 4096);
	CU_ASSERT(ut_submit(&b, UT_READ, iov, 2, 8, 4, 0, &r) == 0);
	CU_ASSERT(ut_poll_until(&r.done, 1));
	CU_ASSERT(r.success);
	for (i = 0; i < 4 * 4096 && buf[i] == ut_byte(8 * 4096 + i, 9); i++) {
	}
	CU_ASSERT(i == 4 * 4096);
	free(buf);
	ut_bdev_close(&b);
	ut_delete("Al0");
}

static void
flush_and_fua_write_complete_and_data_reads_back(void)
{
	struct ut_bdev b;
	char path[128];

	ut_path(path, sizeof(path), g_dir, "flush");
	ut_make_file(path, UT_FILE_BYTES);
	CU_ASSERT_FATAL(ut_create("Fl0", path, 0) != NULL);
	ut_bdev_open(&b, "Fl0");
	CU_ASSERT(ut_write_pattern(&b, 10, 16, 3, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_io(&b, UT_FLUSH, NULL, 0, 0, 0, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_io(&b, UT_FLUSH, NULL, 0, 10, 16, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_write_pattern(&b, 40, 3, 4, KEEL_BDEV_IO_FLAG_FUA) ==
		  KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_read_check(&b, 10, 16, 3, false));
	CU_ASSERT(ut_read_check(&b, 40, 3, 4, false));
	CU_ASSERT(ut_file_has_pattern(path, 40 * 512, 3 * 512, 4));
	ut_bdev_close(&b);
	ut_delete("Fl0");
}

/* More I/O at once than a channel's queue holds: the overflow gets NOMEM, the layer retries. */
static void
more_io_than_the_queue_depth_all_completes(void)
{
	static struct ut_io r[UT_FLOOD_COUNT];
	static uint8_t *bufs[UT_FLOOD_COUNT];
	struct iovec iov[UT_FLOOD_COUNT];
	struct ut_bdev b;
	int i, done = 0, ok = 0;
	uint64_t deadline;
	char path[128];
	size_t j;

	ut_path(path, sizeof(path), g_dir, "flood");
	ut_make_file(path, UT_FILE_BYTES);
	CU_ASSERT_FATAL(ut_create("Flood0", path, 0) != NULL);
	ut_bdev_open(&b, "Flood0");
	memset(r, 0, sizeof(r));
	for (i = 0; i < UT_FLOOD_COUNT; i++) {
		CU_ASSERT_FATAL(posix_memalign((void **)&bufs[i], 512, 512) == 0);
		for (j = 0; j < 512; j++) {
			bufs[i][j] = ut_byte((uint64_t)i * 512 + j, 5);
		}
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = 512;
		CU_ASSERT(ut_submit(&b, UT_WRITE, &iov[i], 1, (uint64_t)i, 1, 0, &r[i]) == 0);
	}
	deadline = ut_now_ms() + UT_TIMEOUT_MS;
	while (done < UT_FLOOD_COUNT && ut_now_ms() < deadline) {
		ut_poll_threads(1);
		for (i = 0, done = 0, ok = 0; i < UT_FLOOD_COUNT; i++) {
			done += r[i].done;
			ok += r[i].success;
		}
	}
	CU_ASSERT(done == UT_FLOOD_COUNT);
	CU_ASSERT(ok == UT_FLOOD_COUNT);
	ut_poll_threads(10);
	CU_ASSERT(ut_file_has_pattern(path, 0, UT_FLOOD_COUNT * 512, 5));
	CU_ASSERT(ut_read_check(&b, 0, UT_FLOOD_COUNT, 5, false));
	for (i = 0; i < UT_FLOOD_COUNT; i++) {
		free(bufs[i]);
	}
	ut_bdev_close(&b);
	ut_delete("Flood0");
}

static void
unmap_reads_back_zeroes_and_leaves_the_rest(void)
{
	struct ut_bdev b;
	char path[128];

	ut_path(path, sizeof(path), g_dir, "unmap");
	ut_make_file(path, UT_FILE_BYTES);
	CU_ASSERT_FATAL(ut_create("Un0", path, 0) != NULL);
	ut_bdev_open(&b, "Un0");
	CU_ASSERT(ut_write_pattern(&b, 0, 64, 6, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_io(&b, UT_UNMAP, NULL, 0, 16, 16, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_read_check(&b, 16, 16, 0, true));
	CU_ASSERT(ut_read_check(&b, 0, 16, 6, false));
	CU_ASSERT(ut_read_check(&b, 32, 32, 6, false));
	ut_bdev_close(&b);
	ut_delete("Un0");
}

static void
write_zeroes_zeroes_only_the_range(void)
{
	struct ut_bdev b;
	char path[128];

	ut_path(path, sizeof(path), g_dir, "zeroes");
	ut_make_file(path, UT_FILE_BYTES);
	CU_ASSERT_FATAL(ut_create("Wz0", path, 0) != NULL);
	ut_bdev_open(&b, "Wz0");
	CU_ASSERT(ut_write_pattern(&b, 100, 50, 7, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_io(&b, UT_WRITE_ZEROES, NULL, 0, 110, 5, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_read_check(&b, 110, 5, 0, true));
	CU_ASSERT(ut_read_check(&b, 100, 10, 7, false));
	CU_ASSERT(ut_read_check(&b, 115, 35, 7, false));
	ut_bdev_close(&b);
	ut_delete("Wz0");
}

/* On tmpfs, with and without O_DIRECT (forced off, as a file system that refuses it would):
 * buffered I/O works, flush works, write zeroes falls back to punching a hole. */
static void
tmpfs_files_work_and_buffered_io_is_used_when_o_direct_is_refused(void)
{
	struct keel_bdev *bdev;
	struct ut_bdev b;
	char path[128];
	int pass;

	ut_path(path, sizeof(path), g_shm_dir, "shm");
	ut_make_file(path, UT_FILE_BYTES);
	for (pass = 0; pass < 2; pass++) {
		g_refuse_direct = pass == 1;
		bdev = ut_create("Shm0", path, 0);
		g_refuse_direct = false;
		CU_ASSERT_FATAL(bdev != NULL);
		if (pass == 1) {
			CU_ASSERT(!g_mod.is_direct(bdev));
		}
		ut_bdev_open(&b, "Shm0");
		CU_ASSERT(ut_write_pattern(&b, 3, 20, (uint8_t)(8 + pass), 0) ==
			  KEEL_BDEV_IO_STATUS_SUCCESS);
		CU_ASSERT(ut_write_pattern(&b, 30, 2, (uint8_t)(8 + pass), KEEL_BDEV_IO_FLAG_FUA) ==
			  KEEL_BDEV_IO_STATUS_SUCCESS);
		CU_ASSERT(ut_io(&b, UT_FLUSH, NULL, 0, 0, 0, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
		CU_ASSERT(ut_read_check(&b, 3, 20, (uint8_t)(8 + pass), false));
		CU_ASSERT(ut_file_has_pattern(path, 3 * 512, 20 * 512, (uint8_t)(8 + pass)));
		CU_ASSERT(ut_io(&b, UT_WRITE_ZEROES, NULL, 0, 5, 4, 0) ==
			  KEEL_BDEV_IO_STATUS_SUCCESS);
		CU_ASSERT(ut_read_check(&b, 5, 4, 0, true));
		CU_ASSERT(ut_read_check(&b, 9, 14, (uint8_t)(8 + pass), false));
		CU_ASSERT(ut_io(&b, UT_UNMAP, NULL, 0, 30, 2, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
		CU_ASSERT(ut_read_check(&b, 30, 2, 0, true));
		ut_bdev_close(&b);
		ut_delete("Shm0");
	}
}

static void
reset_completes_once_outstanding_io_is_back(void)
{
	struct ut_io w[8], rr;
	struct ut_sg sg[8];
	struct ut_bdev b;
	char path[128];
	int i, done;
	uint64_t deadline;

	ut_path(path, sizeof(path), g_dir, "reset");
	ut_make_file(path, UT_FILE_BYTES);
	CU_ASSERT_FATAL(ut_create("Rst0", path, 0) != NULL);
	ut_bdev_open(&b, "Rst0");
	memset(w, 0, sizeof(w));
	memset(&rr, 0, sizeof(rr));
	for (i = 0; i < 8; i++) {
		ut_sg_alloc(&sg[i], 4 * 512);
		ut_sg_pattern(&sg[i], (uint64_t)i * 4 * 512, 11, false);
		CU_ASSERT(ut_submit(&b, UT_WRITE, sg[i].iov, sg[i].cnt, (uint64_t)i * 4, 4, 0,
				    &w[i]) == 0);
	}
	CU_ASSERT(ut_submit(&b, UT_RESET, NULL, 0, 0, 0, 0, &rr) == 0);
	deadline = ut_now_ms() + UT_TIMEOUT_MS;
	do {
		ut_poll_threads(1);
		for (i = 0, done = 0; i < 8; i++) {
			done += w[i].done;
		}
	} while ((done < 8 || rr.done == 0) && ut_now_ms() < deadline);
	CU_ASSERT(done == 8);
	CU_ASSERT(rr.done == 1);
	CU_ASSERT(rr.success);
	/* Whatever the reset did to them, every write completed exactly once; I/O goes on. */
	CU_ASSERT(ut_write_pattern(&b, 0, 32, 12, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_read_check(&b, 0, 32, 12, false));
	for (i = 0; i < 8; i++) {
		ut_sg_free(&sg[i]);
	}
	ut_bdev_close(&b);
	ut_delete("Rst0");
}

static void
two_threads_each_get_their_own_channel(void)
{
	struct ut_bdev b0, b1;
	char path[128];

	ut_path(path, sizeof(path), g_dir, "threads");
	ut_make_file(path, UT_FILE_BYTES);
	CU_ASSERT_FATAL(ut_create("Thr0", path, 0) != NULL);
	ut_bdev_open_on(&b0, "Thr0", g_t[0]);
	ut_bdev_open_on(&b1, "Thr0", g_t[1]);
	CU_ASSERT(b0.ch != b1.ch);
	CU_ASSERT(ut_write_pattern(&b1, 200, 10, 13, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_read_check(&b0, 200, 10, 13, false));
	CU_ASSERT(ut_write_pattern(&b0, 300, 10, 14, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_read_check(&b1, 300, 10, 14, false));
	ut_bdev_close(&b1);
	ut_bdev_close(&b0);
	ut_delete("Thr0");
}

/* Deleting a bdev that is open: the holder gets REMOVE and closes; then the file is closed. */
static void
delete_with_an_open_descriptor_sends_remove_and_closes_the_file(void)
{
	struct ut_bdev b;
	char path[128];
	int fds;

	ut_path(path, sizeof(path), g_dir, "remove");
	ut_make_file(path, UT_FILE_BYTES);
	fds = ut_fd_count();
	CU_ASSERT_FATAL(ut_create("Rm0", path, 0) != NULL);
	ut_bdev_open(&b, "Rm0");
	CU_ASSERT(ut_write_pattern(&b, 0, 4, 15, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	b.close_on_remove = true;
	g_delete_done = 0;
	g_delete_rc = 1;
	CU_ASSERT_FATAL(g_mod.delete("Rm0", ut_delete_cb, NULL) == 0);
	/* Removal is visible at once; completion waits for the holder. */
	CU_ASSERT(g_delete_done == 0);
	CU_ASSERT(ut_poll_until(&g_delete_done, 1));
	CU_ASSERT(b.removes == 1);
	CU_ASSERT(b.desc == NULL);
	CU_ASSERT(g_delete_rc == 0);
	CU_ASSERT(keel_bdev_get_by_name("Rm0") == NULL);
	CU_ASSERT(ut_fd_count() == fds);
	/* Unknown, or not of this module: -ENODEV and the callback never runs. */
	CU_ASSERT(g_mod.delete("Rm0", ut_delete_cb, NULL) == -ENODEV);
	ut_poll_threads(10);
	CU_ASSERT(g_delete_done == 1);
}

/* What was written is in the file: a new bdev on it after the first is gone reads it back. */
static void
data_survives_delete_and_reads_back_through_a_second_bdev(void)
{
	struct ut_bdev b;
	char path[128];

	ut_path(path, sizeof(path), g_dir, "durable");
	ut_make_file(path, UT_FILE_BYTES);
	CU_ASSERT_FATAL(ut_create("First0", path, 0) != NULL);
	ut_bdev_open(&b, "First0");
	CU_ASSERT(ut_write_pattern(&b, 77, 40, 16, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_write_pattern(&b, 1, 1, 17, KEEL_BDEV_IO_FLAG_FUA) ==
		  KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_io(&b, UT_FLUSH, NULL, 0, 0, 0, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	ut_bdev_close(&b);
	ut_delete("First0");

	CU_ASSERT_FATAL(ut_create("Second0", path, 0) != NULL);
	ut_bdev_open(&b, "Second0");
	CU_ASSERT(ut_read_check(&b, 77, 40, 16, false));
	CU_ASSERT(ut_read_check(&b, 1, 1, 17, false));
	ut_bdev_close(&b);
	ut_delete("Second0");
}

static void
legacy_config_section_creates_bdevs_and_skips_bad_lines(void)
{
	char conf_path[128], f1[128], f2[128], missing[128], text[2048];
	struct keel_conf *conf;
	struct keel_bdev *bdev;
	FILE *f;
	const char *s = g_mod.conf_section, *k = g_mod.conf_key;

	ut_path(conf_path, sizeof(conf_path), g_dir, "legacy.conf");
	ut_path(f1, sizeof(f1), g_dir, "conf1");
	ut_path(f2, sizeof(f2), g_dir, "conf2");
	ut_path(missing, sizeof(missing), g_dir, "conf-missing");
	ut_make_file(f1, UT_FILE_BYTES);
	ut_make_file(f2, UT_FILE_BYTES);
	snprintf(text, sizeof(text),
		 "# file-backed bdevs\n"
		 "[%s]\n"
		 "  %s %s Conf1\n"
		 "  %s %s Conf2 4096\n"
		 "  %s %s\n"            /* no name: skipped */
		 "  %s %s Conf4\n"      /* no file: skipped */
		 "  %s %s Conf5 4k\n"   /* bad block size: skipped */
		 "  %s %s Conf6 1000\n" /* not a power of two: skipped */
		 "  %s \"%s\" Conf7 512 extra\n",
		 s, k, f1, k, f2, k, f1, k, missing, k, f1, k, f1, k, f2);
	f = fopen(conf_path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
	conf = keel_conf_create();
	CU_ASSERT_FATAL(conf != NULL);
	CU_ASSERT_FATAL(keel_conf_read(conf, conf_path) == 0);
	keel_conf_set_default(conf);

	CU_ASSERT(g_mod.module_init() == 0);
	bdev = keel_bdev_get_by_name("Conf1");
	CU_ASSERT(bdev != NULL && keel_bdev_get_block_size(bdev) == 512 &&
		  strcmp(keel_bdev_get_module_name(bdev), g_mod.name) == 0);
	bdev = keel_bdev_get_by_name("Conf2");
	CU_ASSERT(bdev != NULL && keel_bdev_get_block_size(bdev) == 4096 &&
		  keel_bdev_get_num_blocks(bdev) == UT_FILE_BYTES / 4096);
	CU_ASSERT(keel_bdev_get_by_name("Conf4") == NULL);
	CU_ASSERT(keel_bdev_get_by_name("Conf5") == NULL);
	CU_ASSERT(keel_bdev_get_by_name("Conf6") == NULL);
	CU_ASSERT(keel_bdev_get_by_name("Conf7") != NULL);

	keel_conf_set_default(NULL);
	keel_conf_destroy(conf);
	ut_delete("Conf1");
	ut_delete("Conf2");
	ut_delete("Conf7");
	/* No section: nothing to do. */
	CU_ASSERT(g_mod.module_init() == 0);
}

static void
rpc_create_and_delete_through_local_requests(void)
{
	struct json_object *resp;
	struct keel_bdev *bdev;
	char path[128];

	ut_path(path, sizeof(path), g_dir, "rpc");
	ut_make_file(path, UT_FILE_BYTES);
	resp = ut_rpc(g_mod.create_method, "{\"filename\": \"%s\", \"name\": \"Rpc0\"}", path);
	CU_ASSERT(strcmp(json_object_get_string(ut_rpc_result(resp)), "Rpc0") == 0);
	bdev = keel_bdev_get_by_name("Rpc0");
	CU_ASSERT(bdev != NULL && keel_bdev_get_block_size(bdev) == 512);
	resp = ut_rpc(g_mod.old_create_method ? g_mod.old_create_method : g_mod.create_method,
		      "{\"filename\": \"%s\", \"name\": \"Rpc1\", \"block_size\": 4096}", path);
	CU_ASSERT(strcmp(json_object_get_string(ut_rpc_result(resp)), "Rpc1") == 0);
	bdev = keel_bdev_get_by_name("Rpc1");
	CU_ASSERT(bdev != NULL && keel_bdev_get_block_size(bdev) == 4096);
	/* block_size 0 means "detect", as rpc.py sends when none is given. */
	resp = ut_rpc(g_mod.create_method,
		      "{\"filename\": \"%s\", \"name\": \"Rpc2\", \"block_size\": 0}", path);
	CU_ASSERT(strcmp(json_object_get_string(ut_rpc_result(resp)), "Rpc2") == 0);

	resp = ut_rpc(g_mod.delete_method, "{\"name\": \"Rpc0\"}");
	CU_ASSERT(json_object_get_boolean(ut_rpc_result(resp)));
	CU_ASSERT(keel_bdev_get_by_name("Rpc0") == NULL);
	resp = ut_rpc(g_mod.old_delete_method ? g_mod.old_delete_method : g_mod.delete_method,
		      "{\"name\": \"Rpc1\"}");
	CU_ASSERT(json_object_get_boolean(ut_rpc_result(resp)));
	CU_ASSERT(keel_bdev_get_by_name("Rpc1") == NULL);
	resp = ut_rpc(g_mod.delete_method, "{\"name\": \"Rpc2\"}");
	CU_ASSERT(json_object_get_boolean(ut_rpc_result(resp)));
}

/* An RPC create fails with code and a message holding word; nothing is left behind. */
static void __attribute__((format(printf, 3, 4)))
ut_rpc_create_fails(int code, const char *word, const char *fmt, ...)
{
	struct json_object *resp;
	int fds = ut_fd_count();
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	resp = ut_rpc_text(g_mod.create_method, text);
	CU_ASSERT(ut_rpc_error_code(resp) == code);
	CU_ASSERT(strstr(ut_rpc_error_message(resp), word) != NULL);
	if (strstr(ut_rpc_error_message(resp), word) == NULL) {
		fprintf(stderr, "message '%s' lacks '%s'\n", ut_rpc_error_message(resp), word);
	}
	CU_ASSERT(keel_bdev_get_by_name("RpcErr") == NULL);
	CU_ASSERT(ut_fd_count() == fds);
}

static void
rpc_errors_name_the_parameter_and_leave_nothing_behind(void)
{
	const int inval = KEEL_JSONRPC_ERROR_INVALID_PARAMS;
	struct json_object *resp;
	char path[128], missing[128];

	ut_path(path, sizeof(path), g_dir, "rpcerr");
	ut_path(missing, sizeof(missing), g_dir, "rpc-missing");
	ut_make_file(path, UT_FILE_BYTES);
	ut_rpc_create_fails(inval, "filename", "{\"name\": \"RpcErr\"}");
	ut_rpc_create_fails(inval, "name", "{\"filename\": \"%s\"}", path);
	/* Not a bad value but a failure of the system: the errno, as SPDK answers. */
	ut_rpc_create_fails(-ENOENT, missing, "{\"filename\": \"%s\", \"name\": \"RpcErr\"}",
			    missing);
	ut_rpc_create_fails(-ENOENT, "No such file", "{\"filename\": \"%s\", \"name\": \"RpcErr\"}",
			    missing);
	ut_rpc_create_fails(inval, "block_size",
			    "{\"filename\": \"%s\", \"name\": \"RpcErr\", \"block_size\": 1000}",
			    path);
	ut_rpc_create_fails(inval, "block_size",
			    "{\"filename\": \"%s\", \"name\": \"RpcErr\", \"block_size\": -512}",
			    path);
	ut_rpc_create_fails(inval, "block_size",
			    "{\"filename\": \"%s\", \"name\": \"RpcErr\", \"block_size\": \"4k\"}",
			    path);
	ut_rpc_create_fails(inval, "bogus",
			    "{\"filename\": \"%s\", \"name\": \"RpcErr\", \"bogus\": 1}", path);

	CU_ASSERT_FATAL(ut_create("RpcDup", path, 0) != NULL);
	resp = ut_rpc(g_mod.create_method, "{\"filename\": \"%s\", \"name\": \"RpcDup\"}", path);
	CU_ASSERT(ut_rpc_error_code(resp) == -EEXIST);
	CU_ASSERT(strstr(ut_rpc_error_message(resp), "already exists") != NULL);
	ut_delete("RpcDup");

	resp = ut_rpc(g_mod.delete_method, "{\"name\": \"NoSuchBdev\"}");
	CU_ASSERT(ut_rpc_error_code(resp) == -ENODEV);
	CU_ASSERT(strstr(ut_rpc_error_message(resp), "NoSuchBdev") != NULL);
	resp = ut_rpc(g_mod.delete_method, "{}");
	CU_ASSERT(ut_rpc_error_code(resp) == inval);
	CU_ASSERT(strstr(ut_rpc_error_message(resp), "name") != NULL);
}

/* write_config_json emits the create call, and replaying it rebuilds the same bdev. */
static void
config_json_replays_to_the_same_bdev_and_info_names_the_file(void)
{
	struct json_object *arr, *call, *params, *info, *drv, *resp;
	struct keel_bdev *bdev;
	char path[128];

	ut_path(path, sizeof(path), g_dir, "config");
	ut_make_file(path, UT_FILE_BYTES);
	bdev = ut_create("Cfg0", path, 4096);
	CU_ASSERT_FATAL(bdev != NULL);
	arr = json_object_new_array();
	bdev->fn_table->write_config_json(bdev, arr);
	CU_ASSERT_FATAL(json_object_array_length(arr) == 1);
	call = json_object_array_get_idx(arr, 0);
	CU_ASSERT(strcmp(json_object_get_string(ut_get(call, "method")), g_mod.create_method) == 0);
	params = ut_get(call, "params");
	CU_ASSERT(strcmp(json_object_get_string(ut_get(params, "name")), "Cfg0") == 0);
	CU_ASSERT(strcmp(json_object_get_string(ut_get(params, "filename")), path) == 0);
	CU_ASSERT(json_object_get_int(ut_get(params, "block_size")) == 4096);

	info = json_object_new_object();
	keel_bdev_dump_info_json(bdev, info);
	drv = ut_get(ut_get(info, "driver_specific"), g_mod.name);
	CU_ASSERT(drv != NULL);
	CU_ASSERT(strcmp(json_object_get_string(ut_get(drv, "filename")) ?: "", path) == 0);
	json_object_put(info);

	ut_delete("Cfg0");
	resp = ut_rpc_text(g_mod.create_method, json_object_to_json_string(params));
	CU_ASSERT(strcmp(json_object_get_string(ut_rpc_result(resp)), "Cfg0") == 0);
	bdev = keel_bdev_get_by_name("Cfg0");
	CU_ASSERT(bdev != NULL && keel_bdev_get_block_size(bdev) == 4096 &&
		  keel_bdev_get_num_blocks(bdev) == UT_FILE_BYTES / 4096);
	json_object_put(arr);
	ut_delete("Cfg0");
}

/*
 * Submit one write and let the thread run only submit_polls times (what it takes to hand the
 * I/O to the kernel): the fd must become readable, as it wakes a sleeping thread in interrupt
 * mode. Once the completion is reaped the fd must not stay readable, or the thread could never
 * sleep again.
 */
static void
ut_check_interrupt_fd(struct ut_bdev *b, int fd, int submit_polls)
{
	/* The module's fd, and the thread's own (an epoll set with the fds of its pollers). */
	struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN},
				{.fd = keel_thread_get_interrupt_fd(b->thread), .events = POLLIN}};
	struct ut_io r = {0};
	struct ut_sg sg;
	int i;

	ut_sg_alloc(&sg, 8 * 512);
	ut_sg_pattern(&sg, 0, 18, false);
	ut_poll_threads(20);
	CU_ASSERT(poll(pfd, 2, 0) == 0);
	CU_ASSERT(ut_submit(b, UT_WRITE, sg.iov, sg.cnt, 0, 8, 0, &r) == 0);
	for (i = 0; i < submit_polls; i++) {
		keel_thread_poll(b->thread, 0, 0);
	}
	CU_ASSERT(r.done == 0);
	CU_ASSERT(poll(&pfd[0], 1, UT_TIMEOUT_MS) == 1);
	CU_ASSERT(poll(&pfd[1], 1, 0) == 1);
	CU_ASSERT(ut_poll_until(&r.done, 1));
	CU_ASSERT(r.success);
	ut_poll_threads(20);
	pfd[0].revents = pfd[1].revents = 0;
	CU_ASSERT(poll(pfd, 2, 0) == 0);
	ut_sg_free(&sg);
}

#define UT_FILE_COMMON_TESTS                                                                       \
	KEEL_UT_TEST(regular_file_gets_512_byte_blocks_and_its_size_in_whole_blocks),              \
		KEEL_UT_TEST(given_block_size_sets_geometry_and_alignment),                        \
		KEEL_UT_TEST(create_errors_name_the_problem_and_leave_nothing_open),               \
		KEEL_UT_TEST(unaligned_multi_iovec_io_reads_back_at_several_offsets),              \
		KEEL_UT_TEST(aligned_buffers_read_and_write_in_place),                             \
		KEEL_UT_TEST(flush_and_fua_write_complete_and_data_reads_back),                    \
		KEEL_UT_TEST(more_io_than_the_queue_depth_all_completes),                          \
		KEEL_UT_TEST(unmap_reads_back_zeroes_and_leaves_the_rest),                         \
		KEEL_UT_TEST(write_zeroes_zeroes_only_the_range),                                  \
		KEEL_UT_TEST(tmpfs_files_work_and_buffered_io_is_used_when_o_direct_is_refused),   \
		KEEL_UT_TEST(reset_completes_once_outstanding_io_is_back),                         \
		KEEL_UT_TEST(two_threads_each_get_their_own_channel),                              \
		KEEL_UT_TEST(delete_with_an_open_descriptor_sends_remove_and_closes_the_file),     \
		KEEL_UT_TEST(data_survives_delete_and_reads_back_through_a_second_bdev),           \
		KEEL_UT_TEST(legacy_config_section_creates_bdevs_and_skips_bad_lines),             \
		KEEL_UT_TEST(rpc_create_and_delete_through_local_requests),                        \
		KEEL_UT_TEST(rpc_errors_name_the_parameter_and_leave_nothing_behind),              \
		KEEL_UT_TEST(config_json_replays_to_the_same_bdev_and_info_names_the_file)

#endif /* KEEL_BDEV_FILE_UT_H */
