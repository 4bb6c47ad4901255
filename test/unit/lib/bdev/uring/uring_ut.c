/*
 * Unit tests of the uring bdev module (lib/bdev/uring) through the real bdev layer, on real
 * files: the tests shared with the aio module, plus what is particular to io_uring, with
 * io_uring_submit wrapped so that the SQEs of each batch can be looked at.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/util.h"

#include <liburing.h>
#include <linux/fs.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

#include "../bdev_file_ut.h"

#define UT_MAX_SQES 512
#define UT_BATCH 8

/* What io_uring_submit was handed: calls, and a copy of every new SQE. */
static int g_submit_calls;
static unsigned int g_last_batch;
static struct io_uring_sqe g_sqes[UT_MAX_SQES];
static unsigned int g_sqe_count;

static int
ut_io_uring_submit(struct io_uring *ring)
{
	unsigned int i;

	g_submit_calls++;
	g_last_batch = ring->sq.sqe_tail - ring->sq.sqe_head;
	for (i = ring->sq.sqe_head; i != ring->sq.sqe_tail; i++) {
		if (g_sqe_count < UT_MAX_SQES) {
			g_sqes[g_sqe_count++] = ring->sq.sqes[i & *ring->sq.kring_mask];
		}
	}
	return io_uring_submit(ring);
}

#define io_uring_submit ut_io_uring_submit
#include "bdev/uring/bdev_uring.c"
#undef io_uring_submit
#include "bdev/uring/bdev_uring_rpc.c"

static int
ut_uring_create(const char *name, const char *filename, uint32_t block_size,
		struct keel_bdev **bdev, char *err, size_t err_len)
{
	struct uring_bdev_opts opts = {.name = name,
				       .filename = filename,
				       .block_size = block_size};

	return bdev_uring_create(&opts, bdev, err, err_len);
}

static bool
ut_uring_is_direct(struct keel_bdev *bdev)
{
	return ((struct uring_disk *)bdev->ctxt)->file.direct;
}

static const struct ut_file_module g_mod = {
	.name = "uring",
	.product = "URING disk",
	.create_method = "bdev_uring_create",
	.delete_method = "bdev_uring_delete",
	.old_create_method = NULL,
	.old_delete_method = NULL,
	.conf_section = "Uring",
	.conf_key = "Uring",
	.create = ut_uring_create,
	.delete = bdev_uring_delete,
	.module_init = uring_module_init,
	.is_direct = ut_uring_is_direct,
};

/* The module's channel for the bdev on b's thread. */
static struct uring_channel *
ut_uring_channel(struct ut_bdev *b)
{
	struct keel_thread *orig = keel_get_thread();
	struct keel_io_channel *ch;

	keel_set_thread(b->thread);
	ch = keel_get_io_channel(b->bdev->ctxt);
	keel_put_io_channel(ch); /* the bdev's own channel keeps it */
	keel_set_thread(orig);
	return keel_io_channel_get_ctx(ch);
}

static void
ut_uring_open(struct ut_bdev *b, const char *dir, const char *file, const char *name)
{
	char path[128];

	ut_path(path, sizeof(path), dir, file);
	ut_make_file(path, UT_FILE_BYTES);
	CU_ASSERT_FATAL(ut_create(name, path, 0) != NULL);
	ut_bdev_open(b, name);
}

static void
ut_uring_close(struct ut_bdev *b, const char *name)
{
	ut_bdev_close(b);
	ut_delete(name);
}

static void
io_queued_before_a_poll_goes_to_the_kernel_in_one_submit(void)
{
	struct ut_io r[UT_BATCH];
	struct ut_sg sg[UT_BATCH];
	struct ut_bdev b;
	int i, done;
	uint64_t deadline;

	ut_uring_open(&b, g_dir, "batch", "Batch0");
	memset(r, 0, sizeof(r));
	g_submit_calls = 0;
	for (i = 0; i < UT_BATCH; i++) {
		ut_sg_alloc(&sg[i], 2 * 512);
		ut_sg_pattern(&sg[i], (uint64_t)i * 2 * 512, 30, false);
		CU_ASSERT(ut_submit(&b, UT_WRITE, sg[i].iov, sg[i].cnt, (uint64_t)i * 2, 2, 0,
				    &r[i]) == 0);
	}
	/* Nothing went to the kernel from inside the submit calls. */
	CU_ASSERT(g_submit_calls == 0);
	keel_thread_poll(b.thread, 0, 0);
	CU_ASSERT(g_submit_calls == 1);
	CU_ASSERT(g_last_batch == UT_BATCH);
	deadline = ut_now_ms() + UT_TIMEOUT_MS;
	do {
		ut_poll_threads(1);
		for (i = 0, done = 0; i < UT_BATCH; i++) {
			done += r[i].done;
		}
	} while (done < UT_BATCH && ut_now_ms() < deadline);
	CU_ASSERT(done == UT_BATCH);
	for (i = 0; i < UT_BATCH; i++) {
		CU_ASSERT(r[i].success);
		ut_sg_free(&sg[i]);
	}
	CU_ASSERT(ut_read_check(&b, 0, 2 * UT_BATCH, 30, false));
	ut_uring_close(&b, "Batch0");
}

/* The last SQE handed to io_uring_submit. */
static const struct io_uring_sqe *
ut_last_sqe(void)
{
	CU_ASSERT_FATAL(g_sqe_count > 0);
	return &g_sqes[g_sqe_count - 1];
}

static void
sqes_name_the_registered_file_and_carry_fua_and_datasync(void)
{
	const struct io_uring_sqe *sqe;
	struct uring_disk *disk;
	struct ut_bdev b;

	ut_uring_open(&b, g_dir, "sqes", "Sqe0");
	disk = b.bdev->ctxt;
	g_sqe_count = 0;
	CU_ASSERT(ut_write_pattern(&b, 4, 2, 31, KEEL_BDEV_IO_FLAG_FUA) ==
		  KEEL_BDEV_IO_STATUS_SUCCESS);
	sqe = ut_last_sqe();
	CU_ASSERT(sqe->opcode == IORING_OP_WRITEV);
	CU_ASSERT(sqe->flags & IOSQE_FIXED_FILE);
	CU_ASSERT(sqe->fd == 0);
	CU_ASSERT(sqe->rw_flags == RWF_DSYNC);
	CU_ASSERT(sqe->off == 4 * 512);

	CU_ASSERT(ut_write_pattern(&b, 6, 1, 31, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_last_sqe()->rw_flags == 0);
	CU_ASSERT(ut_read_check(&b, 4, 3, 31, false));
	CU_ASSERT(ut_last_sqe()->opcode == IORING_OP_READV);

	CU_ASSERT(ut_io(&b, UT_FLUSH, NULL, 0, 0, 0, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	sqe = ut_last_sqe();
	CU_ASSERT(sqe->opcode == IORING_OP_FSYNC);
	CU_ASSERT(sqe->fsync_flags == IORING_FSYNC_DATASYNC);
	CU_ASSERT(sqe->flags & IOSQE_FIXED_FILE);

	if (disk->op_fallocate) {
		CU_ASSERT(ut_io(&b, UT_UNMAP, NULL, 0, 8, 8, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
		sqe = ut_last_sqe();
		CU_ASSERT(sqe->opcode == IORING_OP_FALLOCATE);
		CU_ASSERT(sqe->len == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE));
		CU_ASSERT(sqe->off == 8 * 512);
		CU_ASSERT(sqe->addr == 8 * 512);
	}
	ut_uring_close(&b, "Sqe0");
}

/* tmpfs cannot zero a range: the first WRITE_ZEROES learns it and punches a hole instead. */
static void
write_zeroes_on_tmpfs_falls_back_to_a_hole(void)
{
	struct uring_disk *disk;
	struct ut_bdev b;

	ut_uring_open(&b, g_shm_dir, "zr", "Zr0");
	disk = b.bdev->ctxt;
	CU_ASSERT(ut_write_pattern(&b, 0, 32, 32, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_io(&b, UT_WRITE_ZEROES, NULL, 0, 8, 8, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(disk->no_zero_range);
	CU_ASSERT(ut_io(&b, UT_WRITE_ZEROES, NULL, 0, 20, 2, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(ut_read_check(&b, 8, 8, 0, true));
	CU_ASSERT(ut_read_check(&b, 20, 2, 0, true));
	CU_ASSERT(ut_read_check(&b, 0, 8, 32, false));
	CU_ASSERT(ut_read_check(&b, 16, 4, 32, false));
	CU_ASSERT(ut_read_check(&b, 22, 10, 32, false));
	ut_uring_close(&b, "Zr0");
}

/* Kernels before 5.6 have no IORING_OP_FALLOCATE: fallocate() runs on the reactor. */
static void
unmap_and_write_zeroes_work_without_the_fallocate_opcode(void)
{
	struct uring_disk *disk;
	struct ut_bdev b;
	int dir;

	for (dir = 0; dir < 2; dir++) {
		ut_uring_open(&b, dir == 0 ? g_dir : g_shm_dir, "nofalloc", "NoFalloc0");
		disk = b.bdev->ctxt;
		disk->op_fallocate = false;
		CU_ASSERT(ut_write_pattern(&b, 0, 32, 33, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
		g_sqe_count = 0;
		CU_ASSERT(ut_io(&b, UT_UNMAP, NULL, 0, 4, 4, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
		CU_ASSERT(ut_io(&b, UT_WRITE_ZEROES, NULL, 0, 12, 4, 0) ==
			  KEEL_BDEV_IO_STATUS_SUCCESS);
		CU_ASSERT(g_sqe_count == 0);
		CU_ASSERT(ut_read_check(&b, 4, 4, 0, true));
		CU_ASSERT(ut_read_check(&b, 12, 4, 0, true));
		CU_ASSERT(ut_read_check(&b, 8, 4, 33, false));
		ut_uring_close(&b, "NoFalloc0");
	}
}

static void
ring_fd_wakes_interrupt_mode_and_is_not_left_readable(void)
{
	struct uring_channel *uch;
	struct ut_bdev b;
	int i;

	ut_uring_open(&b, g_dir, "ringfd", "RingFd0");
	uch = ut_uring_channel(&b);
	for (i = 0; i < 3; i++) {
		/* One run of the thread submits the queued SQE. */
		ut_check_interrupt_fd(&b, uch->ring.ring_fd, 1);
	}
	CU_ASSERT(uch->inflight == 0);
	ut_uring_close(&b, "RingFd0");
}

static int
suite_init(void)
{
	return ut_suite_init("uring_ut");
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		UT_FILE_COMMON_TESTS,
		KEEL_UT_TEST(io_queued_before_a_poll_goes_to_the_kernel_in_one_submit),
		KEEL_UT_TEST(sqes_name_the_registered_file_and_carry_fua_and_datasync),
		KEEL_UT_TEST(write_zeroes_on_tmpfs_falls_back_to_a_hole),
		KEEL_UT_TEST(unmap_and_write_zeroes_work_without_the_fallocate_opcode),
		KEEL_UT_TEST(ring_fd_wakes_interrupt_mode_and_is_not_left_readable),
	};
	struct io_uring_probe *probe = io_uring_get_probe();

	if (probe == NULL) {
		/* Kernel older than 5.1, kernel.io_uring_disabled, or a seccomp filter. */
		printf("io_uring is not available on this system: bdev_uring tests skipped\n");
		return 0;
	}
	io_uring_free_probe(probe);
	return keel_ut_run("bdev_uring", tests, KEEL_COUNTOF(tests), suite_init, ut_suite_fini);
}
