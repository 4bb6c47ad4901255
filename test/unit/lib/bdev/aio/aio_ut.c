/*
 * Unit tests of the aio bdev module (lib/bdev/aio) through the real bdev layer, on real files:
 * the tests shared with the uring module, plus what is particular to libaio, with io_submit
 * wrapped so that the kernel's refusals (no asynchronous fsync, no RWF_DSYNC, EAGAIN) can be
 * played.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/util.h"

#include <libaio.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

#include "../bdev_file_ut.h"

static bool g_refuse_fdsync;     /* FDSYNC iocbs get -EINVAL */
static bool g_refuse_rw_flags;   /* iocbs with aio_rw_flags get -EINVAL */
static int g_submit_errors_left; /* fail this many more io_submit calls ... */
static int g_submit_error;       /* ... with this */
static int g_fdsync_submits;
static int g_write_submits;
static unsigned int g_last_write_flags;

static int
ut_io_submit(io_context_t ctx, long nr, struct iocb *ios[])
{
	long i;

	for (i = 0; i < nr; i++) {
		if (ios[i]->aio_lio_opcode == IO_CMD_FDSYNC) {
			if (g_refuse_fdsync) {
				return -EINVAL;
			}
			g_fdsync_submits++;
		} else if (ios[i]->aio_lio_opcode == IO_CMD_PWRITEV) {
			if (g_refuse_rw_flags && ios[i]->aio_rw_flags != 0) {
				return -EINVAL;
			}
			g_write_submits++;
			g_last_write_flags = ios[i]->aio_rw_flags;
		}
	}
	if (g_submit_errors_left > 0) {
		g_submit_errors_left--;
		return g_submit_error;
	}
	return io_submit(ctx, nr, ios);
}

#define io_submit ut_io_submit
#include "bdev/aio/bdev_aio.c"
#undef io_submit
#include "bdev/aio/bdev_aio_rpc.c"

static int
ut_aio_create(const char *name, const char *filename, uint32_t block_size, struct keel_bdev **bdev,
	      char *err, size_t err_len)
{
	struct aio_bdev_opts opts = {.name = name, .filename = filename, .block_size = block_size};

	return bdev_aio_create(&opts, bdev, err, err_len);
}

static bool
ut_aio_is_direct(struct keel_bdev *bdev)
{
	return ((struct aio_disk *)bdev->ctxt)->file.direct;
}

static const struct ut_file_module g_mod = {
	.name = "aio",
	.product = "AIO disk",
	.create_method = "bdev_aio_create",
	.delete_method = "bdev_aio_delete",
	.old_create_method = "construct_aio_bdev",
	.old_delete_method = "delete_aio_bdev",
	.conf_section = "AIO",
	.conf_key = "AIO",
	.create = ut_aio_create,
	.delete = bdev_aio_delete,
	.module_init = aio_module_init,
	.is_direct = ut_aio_is_direct,
};

/* The module's channel for the bdev on b's thread. */
static struct aio_channel *
ut_aio_channel(struct ut_bdev *b)
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
ut_aio_open(struct ut_bdev *b, const char *file, const char *name)
{
	char path[128];

	ut_path(path, sizeof(path), g_dir, file);
	ut_make_file(path, UT_FILE_BYTES);
	CU_ASSERT_FATAL(ut_create(name, path, 0) != NULL);
	ut_bdev_open(b, name);
}

static void
ut_aio_close(struct ut_bdev *b, const char *name)
{
	ut_bdev_close(b);
	ut_delete(name);
}

static void
fua_write_carries_rwf_dsync_and_a_plain_write_does_not(void)
{
	struct ut_bdev b;

	ut_aio_open(&b, "fua", "Fua0");
	CU_ASSERT(ut_write_pattern(&b, 0, 2, 20, KEEL_BDEV_IO_FLAG_FUA) ==
		  KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(g_last_write_flags == RWF_DSYNC);
	CU_ASSERT(ut_write_pattern(&b, 2, 2, 20, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(g_last_write_flags == 0);
	CU_ASSERT(ut_read_check(&b, 0, 4, 20, false));
	ut_aio_close(&b, "Fua0");
}

static void
flush_is_an_aio_fdsync_and_falls_back_to_fdatasync_when_refused(void)
{
	struct aio_disk *disk;
	struct ut_bdev b;
	int before;

	ut_aio_open(&b, "fdsync", "Fds0");
	disk = b.bdev->ctxt;
	before = g_fdsync_submits;
	CU_ASSERT(ut_io(&b, UT_FLUSH, NULL, 0, 0, 0, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(g_fdsync_submits == before + 1);
	CU_ASSERT(!disk->no_aio_fdsync);

	g_refuse_fdsync = true;
	CU_ASSERT(ut_io(&b, UT_FLUSH, NULL, 0, 0, 0, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(disk->no_aio_fdsync);
	g_refuse_fdsync = false;
	/* Learned: later flushes no longer try the iocb. */
	before = g_fdsync_submits;
	CU_ASSERT(ut_io(&b, UT_FLUSH, NULL, 0, 0, 0, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(g_fdsync_submits == before);
	ut_aio_close(&b, "Fds0");
}

static void
fua_write_falls_back_to_write_then_fdatasync_when_rwf_dsync_is_refused(void)
{
	struct aio_disk *disk;
	struct ut_bdev b;

	ut_aio_open(&b, "nodsync", "NoDsync0");
	disk = b.bdev->ctxt;
	g_refuse_rw_flags = true;
	CU_ASSERT(ut_write_pattern(&b, 5, 3, 21, KEEL_BDEV_IO_FLAG_FUA) ==
		  KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(disk->no_rwf_dsync);
	CU_ASSERT(g_last_write_flags == 0);
	CU_ASSERT(ut_write_pattern(&b, 8, 1, 21, KEEL_BDEV_IO_FLAG_FUA) ==
		  KEEL_BDEV_IO_STATUS_SUCCESS);
	g_refuse_rw_flags = false;
	CU_ASSERT(ut_read_check(&b, 5, 4, 21, false));
	ut_aio_close(&b, "NoDsync0");
}

static void
eagain_from_io_submit_is_retried_and_other_errors_fail_the_io(void)
{
	char path[128];
	struct ut_bdev b;
	int before;

	ut_aio_open(&b, "eagain", "Eagain0");
	ut_path(path, sizeof(path), g_dir, "eagain");
	before = g_write_submits;
	g_submit_error = -EAGAIN;
	g_submit_errors_left = 3;
	CU_ASSERT(ut_write_pattern(&b, 12, 6, 22, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	CU_ASSERT(g_submit_errors_left == 0);
	CU_ASSERT(g_write_submits == before + 4);
	CU_ASSERT(ut_file_has_pattern(path, 12 * 512, 6 * 512, 22));

	g_submit_error = -EBADF;
	g_submit_errors_left = 1;
	CU_ASSERT(ut_write_pattern(&b, 20, 1, 23, 0) == KEEL_BDEV_IO_STATUS_FAILED);
	CU_ASSERT(g_submit_errors_left == 0);
	/* The next one goes through. */
	CU_ASSERT(ut_write_pattern(&b, 20, 1, 23, 0) == KEEL_BDEV_IO_STATUS_SUCCESS);
	ut_aio_close(&b, "Eagain0");
}

static void
completion_eventfd_wakes_interrupt_mode_and_is_left_drained(void)
{
	struct aio_channel *ach;
	struct ut_bdev b;
	int i;

	ut_aio_open(&b, "eventfd", "Efd0");
	ach = ut_aio_channel(&b);
	for (i = 0; i < 3; i++) {
		ut_check_interrupt_fd(&b, ach->efd, 0);
	}
	CU_ASSERT(ach->inflight == 0);
	CU_ASSERT(ach->reaped == ach->signals_read);
	ut_aio_close(&b, "Efd0");
}

static int
suite_init(void)
{
	return ut_suite_init("aio_ut");
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		UT_FILE_COMMON_TESTS,
		KEEL_UT_TEST(fua_write_carries_rwf_dsync_and_a_plain_write_does_not),
		KEEL_UT_TEST(flush_is_an_aio_fdsync_and_falls_back_to_fdatasync_when_refused),
		KEEL_UT_TEST(
			fua_write_falls_back_to_write_then_fdatasync_when_rwf_dsync_is_refused),
		KEEL_UT_TEST(eagain_from_io_submit_is_retried_and_other_errors_fail_the_io),
		KEEL_UT_TEST(completion_eventfd_wakes_interrupt_mode_and_is_left_drained),
	};

	return keel_ut_run("bdev_aio", tests, KEEL_COUNTOF(tests), suite_init, ut_suite_fini);
}
