/*
 * bdevperf: a load generator on the bdev layer, with SPDK's bdevperf options. Every core of the
 * mask runs one job per bdev on its own thread; a job keeps a fixed number of I/O in flight,
 * resubmitting each from its completion, and counts completions and latency. At the end a table
 * gives runtime, IOPS, MiB/s, failures and latency per job and in total.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/log.h"
#include "keel/thread.h"
#include "keel/util.h"

#define OPT_CORRUPT_AFTER 1000
#define BUF_ALIGN 4096
#define RESET_PERIOD_US 1000000ULL

/* What a workload does with each I/O. */
struct workload {
	const char *name;
	enum keel_bdev_io_type type; /* READ for the mixed ones: chosen per I/O */
	bool random;                 /* random offsets (else sequential, wrapping) */
	bool mixed;                  /* reads and writes in the -M proportion */
	bool verify;                 /* write a pattern, read it back, compare */
	bool reset;                  /* a reset every second while reads run */
	bool writes;                 /* needs a writable descriptor */
};

static const struct workload g_workloads[] = {
	{"read", KEEL_BDEV_IO_TYPE_READ, false, false, false, false, false},
	{"write", KEEL_BDEV_IO_TYPE_WRITE, false, false, false, false, true},
	{"randread", KEEL_BDEV_IO_TYPE_READ, true, false, false, false, false},
	{"randwrite", KEEL_BDEV_IO_TYPE_WRITE, true, false, false, false, true},
	{"rw", KEEL_BDEV_IO_TYPE_READ, false, true, false, false, true},
	{"randrw", KEEL_BDEV_IO_TYPE_READ, true, true, false, false, true},
	{"verify", KEEL_BDEV_IO_TYPE_WRITE, false, false, true, false, true},
	{"reset", KEEL_BDEV_IO_TYPE_READ, false, false, false, true, false},
	{"unmap", KEEL_BDEV_IO_TYPE_UNMAP, false, false, false, false, true},
	{"flush", KEEL_BDEV_IO_TYPE_FLUSH, false, false, false, false, false},
	{"write_zeroes", KEEL_BDEV_IO_TYPE_WRITE_ZEROES, false, false, false, false, true},
};

/* Options. */
static uint32_t g_queue_depth;
static uint64_t g_io_size;
static const struct workload *g_workload;
static int g_rwmixread = -1;
static uint32_t g_time_s;
static const char *g_bdev_name;
static uint32_t g_show_period_s;
static bool g_continue_on_failure;
static uint64_t g_corrupt_after; /* hidden test option: spoil the Nth verified read */

struct job;

/* One slot of the queue: an I/O in flight, its buffers and where it goes. */
struct job_task {
	struct job *job;
	void *buf;  /* data written, or read by the plain workloads */
	void *rbuf; /* where reads land (verify: a second buffer) */
	uint64_t offset_blocks;
	uint64_t submit_tsc;
	uint64_t seq;  /* verify: sequence number of the pattern written */
	uint64_t slot; /* verify: index of the I/O-size unit in the job's range */
	enum keel_bdev_io_type type;
	struct keel_bdev_io_wait_entry wait;
};

/*
 * A job: one bdev driven from one core. The fields the I/O path touches come first; everything
 * is touched only on the job's thread until it reports done to the app thread.
 */
struct job {
	struct keel_bdev_desc *desc;
	struct keel_io_channel *ch;
	const struct workload *wl;
	uint64_t io_blocks;
	uint64_t base_blocks; /* the job's range of the bdev */
	uint64_t num_ios;     /* I/O-size units in the range */
	uint64_t next_io;     /* sequential workloads: the next unit */
	uint64_t rng;
	uint64_t read_threshold; /* mixed: a read when (rand >> 32) < this */
	uint32_t outstanding;    /* tasks in flight (or waiting for an I/O object) */
	bool draining;
	bool finished;
	struct keel_thread *thread;
	uint64_t clock_poll; /* the thread's poll the clock was read in */
	uint64_t clock_now;

	/* Statistics. io_completed is also read by the app thread for progress lines. */
	uint64_t io_completed;
	uint64_t io_failed;
	uint64_t io_aborted;
	uint64_t lat_total_tsc;
	uint64_t lat_min_tsc;
	uint64_t lat_max_tsc;
	uint64_t verify_errors;
	uint64_t verify_reads;
	uint64_t verify_seq;
	uint64_t resets;
	uint64_t start_tsc;
	uint64_t end_tsc;

	struct job_task *tasks;
	uint64_t *inflight; /* verify: one bit per unit of the range */
	struct keel_poller *reset_poller;
	bool reset_outstanding;
	bool removed;
	const char *stop_reason;

	/* Set by the app thread before the job starts. */
	char *bdev_name;
	uint32_t core;
	uint32_t index; /* among the jobs of this bdev */
	uint32_t count; /* jobs on this bdev */
	struct keel_thread *app_thread;
	uint32_t block_size;
	int init_rc; /* job_init's result; 1: skipped (unsupported workload) */
	bool done;   /* app thread: the job reported done */
	TAILQ_ENTRY(job) link;
};

enum run_state {
	RUN_IDLE,
	RUN_INIT,
	RUN_RUNNING,
	RUN_ENDING,
	RUN_DONE,
};

static TAILQ_HEAD(, job) g_jobs = TAILQ_HEAD_INITIALIZER(g_jobs);
static uint32_t g_job_count;
static uint32_t g_jobs_ready;
static uint32_t g_jobs_done;
static uint32_t g_runners;
static enum run_state g_state = RUN_IDLE;
static bool g_abort;
static int g_init_failures;
static struct keel_poller *g_timer;
static struct keel_poller *g_progress;
static uint64_t g_run_start_tsc;
static uint64_t g_progress_last_tsc;
static uint64_t g_progress_last_ios;

static void job_task_start(struct job_task *task, uint64_t now);
static void job_task_issue(struct job_task *task);
static void job_maybe_finish(struct job *job);

/* Random numbers: xorshift64*, one generator per job. */
static inline uint64_t
job_rand(struct job *job)
{
	uint64_t x = job->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	job->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t
mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* The verify pattern: 64-bit words derived from the offset and the write's sequence number. */
static inline uint64_t
pattern_base(uint64_t offset_blocks, uint64_t seq)
{
	return mix64(offset_blocks * 0xD6E8FEB86659FD93ULL ^ seq);
}

static void
pattern_fill(void *buf, size_t len, uint64_t offset_blocks, uint64_t seq)
{
	uint64_t *w = buf, base = pattern_base(offset_blocks, seq);
	size_t i;

	for (i = 0; i < len / 8; i++) {
		w[i] = base + i * 0x9E3779B97F4A7C15ULL;
	}
}

/* Byte offset of the first difference from the pattern, or SIZE_MAX. */
static size_t
pattern_check(const void *buf, size_t len, uint64_t offset_blocks, uint64_t seq, uint8_t *expected,
	      uint8_t *got)
{
	const uint64_t *w = buf;
	uint64_t base = pattern_base(offset_blocks, seq), want;
	size_t i, b;

	for (i = 0; i < len / 8; i++) {
		want = base + i * 0x9E3779B97F4A7C15ULL;
		if (keel_unlikely(w[i] != want)) {
			for (b = 0; b < 8; b++) {
				uint8_t e = (uint8_t)(want >> (8 * b));
				uint8_t g = ((const uint8_t *)&w[i])[b];

				if (e != g) {
					*expected = e;
					*got = g;
					return i * 8 + b;
				}
			}
		}
	}
	return SIZE_MAX;
}

/* Verify: units in flight are skipped, so that a read never races a write to its blocks. */
static inline bool
inflight_test_and_set(struct job *job, uint64_t slot)
{
	uint64_t bit = 1ULL << (slot & 63);

	if (job->inflight[slot >> 6] & bit) {
		return true;
	}
	job->inflight[slot >> 6] |= bit;
	return false;
}

static inline void
inflight_clear(struct job *job, uint64_t slot)
{
	job->inflight[slot >> 6] &= ~(1ULL << (slot & 63));
}

/*
 * The clock of the I/O path, read once per poll of the job's thread: a TSC read costs 25-35 ns
 * on some virtual machines, more than the rest of an I/O to a null bdev. Each poll of a thread
 * ends with a new keel_thread_get_last_tsc(), so the first I/O event of a poll reads the TSC and
 * the others of that poll reuse it: a latency is exact to within the length of one poll.
 */
static inline uint64_t
job_now(struct job *job)
{
	uint64_t poll = keel_thread_get_last_tsc(job->thread);

	if (keel_unlikely(poll != job->clock_poll)) {
		job->clock_poll = poll;
		job->clock_now = keel_get_ticks();
	}
	return job->clock_now;
}

/* The clock for the completion of an I/O stamped since: an I/O submitted and completed within
 * one poll reads the TSC again, so that no latency is counted as zero. */
static inline uint64_t
job_now_after(struct job *job, uint64_t since)
{
	uint64_t now = job_now(job);

	if (keel_unlikely(now == since)) {
		now = keel_get_ticks();
		job->clock_now = now;
	}
	return now;
}

static double
tsc_to_us(uint64_t tsc)
{
	return (double)tsc * 1000000.0 / (double)keel_get_ticks_hz();
}

static double
tsc_to_s(uint64_t tsc)
{
	return (double)tsc / (double)keel_get_ticks_hz();
}

/* The job stops issuing I/O; it finishes once what it has in flight is back. */
static void
job_drain(struct job *job, const char *reason)
{
	if (!job->draining) {
		job->draining = true;
		job->end_tsc = keel_get_ticks();
		if (job->stop_reason == NULL) {
			job->stop_reason = reason;
		}
		keel_poller_unregister(&job->reset_poller);
	}
	job_maybe_finish(job);
}

/* A task is done for good (draining, or its submission failed). */
static void
job_task_retire(struct job *job)
{
	job->outstanding--;
	job_maybe_finish(job);
}

static const char *
io_status_name(enum keel_bdev_io_status status)
{
	switch (status) {
	case KEEL_BDEV_IO_STATUS_MISCOMPARE:
		return "miscompare";
	case KEEL_BDEV_IO_STATUS_ABORTED:
		return "aborted";
	case KEEL_BDEV_IO_STATUS_NOMEM:
		return "no memory";
	default:
		return "failed";
	}
}

static void
job_task_failed(struct job_task *task, enum keel_bdev_io_status status)
{
	struct job *job = task->job;

	job->io_failed++;
	if (job->io_failed == 1) {
		fprintf(stderr,
			"bdevperf: %s I/O at block %" PRIu64 " failed on bdev %s (core %u): %s\n",
			job->wl->name, task->offset_blocks, job->bdev_name, job->core,
			io_status_name(status));
	}
	if (!g_continue_on_failure) {
		job_drain(job, "I/O failed");
	}
}

/* Check what a verify read brought back. \return false on a mismatch (reported). */
static bool
job_verify_read(struct job_task *task)
{
	struct job *job = task->job;
	uint8_t expected = 0, got = 0;
	size_t off;

	job->verify_reads++;
	if (keel_unlikely(g_corrupt_after != 0 && job->verify_reads == g_corrupt_after)) {
		((uint8_t *)task->rbuf)[g_io_size / 2] ^= 0x5a;
	}
	off = pattern_check(task->rbuf, g_io_size, task->offset_blocks, task->seq, &expected, &got);
	if (keel_unlikely(off != SIZE_MAX)) {
		job->verify_errors++;
		job->io_failed++;
		fprintf(stderr,
			"bdevperf: verify failed on bdev %s (core %u): I/O at block %" PRIu64
			" (byte offset 0x%" PRIx64 "), byte %zu of the I/O (block %" PRIu64 "): "
			"expected 0x%02x, read 0x%02x (write #%" PRIu64 ")\n",
			job->bdev_name, job->core, task->offset_blocks,
			task->offset_blocks * job->block_size, off,
			task->offset_blocks + off / job->block_size, expected, got, task->seq);
		if (!g_continue_on_failure) {
			job_drain(job, "verify failed");
		}
		return false;
	}
	__atomic_store_n(&job->io_completed, job->io_completed + 1, __ATOMIC_RELAXED);
	return true;
}

static void
job_io_done(struct keel_bdev_io *io, bool success, void *cb_arg)
{
	struct job_task *task = cb_arg;
	struct job *job = task->job;
	uint64_t now, lat;

	if (keel_unlikely(!success)) {
		enum keel_bdev_io_status status = keel_bdev_io_get_status(io);

		keel_bdev_free_io(io);
		if (job->wl->verify) {
			inflight_clear(job, task->slot);
		}
		if (job->wl->reset && status == KEEL_BDEV_IO_STATUS_ABORTED) {
			job->io_aborted++;
		} else {
			job_task_failed(task, status);
		}
		if (job->draining) {
			job_task_retire(job);
		} else {
			job_task_start(task, job_now(job));
		}
		return;
	}
	keel_bdev_free_io(io);
	if (job->wl->verify) {
		if (task->type == KEEL_BDEV_IO_TYPE_WRITE) {
			if (keel_unlikely(job->draining)) {
				inflight_clear(job, task->slot);
				job_task_retire(job);
				return;
			}
			/* Read it back; the latency counted is the write's and the read's. */
			task->type = KEEL_BDEV_IO_TYPE_READ;
			job_task_issue(task);
			return;
		}
		inflight_clear(job, task->slot);
		if (keel_unlikely(!job_verify_read(task))) {
			if (job->draining) {
				job_task_retire(job);
			} else {
				job_task_start(task, job_now(job));
			}
			return;
		}
	} else {
		__atomic_store_n(&job->io_completed, job->io_completed + 1, __ATOMIC_RELAXED);
	}
	now = job_now_after(job, task->submit_tsc);
	lat = now - task->submit_tsc;
	job->lat_total_tsc += lat;
	if (keel_unlikely(lat < job->lat_min_tsc)) {
		job->lat_min_tsc = lat;
	}
	if (keel_unlikely(lat > job->lat_max_tsc)) {
		job->lat_max_tsc = lat;
	}
	if (keel_unlikely(job->draining)) {
		job_task_retire(job);
		return;
	}
	job_task_start(task, now);
}

static void
job_io_wait_done(void *arg)
{
	struct job_task *task = arg;

	if (task->job->draining) {
		if (task->job->wl->verify) {
			inflight_clear(task->job, task->slot);
		}
		job_task_retire(task->job);
		return;
	}
	job_task_issue(task);
}

static void
job_submit_failed(struct job_task *task, int rc)
{
	struct job *job = task->job;

	if (rc == -ENOMEM) {
		/* No I/O object free: resubmit this same I/O when one is. */
		rc = keel_bdev_queue_io_wait(keel_bdev_desc_get_bdev(job->desc), job->ch,
					     &task->wait);
		if (rc == 0) {
			return;
		}
	}
	if (job->wl->verify) {
		inflight_clear(job, task->slot);
	}
	job->io_failed++;
	if (rc == -ENODEV) {
		/* The bdev is going away; its REMOVE event follows. */
		job_drain(job, "bdev removed");
	} else {
		fprintf(stderr,
			"bdevperf: cannot submit %s I/O at block %" PRIu64 " to bdev %s "
			"(core %u): %s\n",
			job->wl->name, task->offset_blocks, job->bdev_name, job->core,
			keel_strerror(-rc));
		job_drain(job, "I/O submission failed");
	}
	job_task_retire(job);
}

static void
job_task_issue(struct job_task *task)
{
	struct job *job = task->job;
	int rc;

	switch (task->type) {
	case KEEL_BDEV_IO_TYPE_READ:
		rc = keel_bdev_read_blocks(job->desc, job->ch, task->rbuf, task->offset_blocks,
					   job->io_blocks, job_io_done, task);
		break;
	case KEEL_BDEV_IO_TYPE_WRITE:
		rc = keel_bdev_write_blocks(job->desc, job->ch, task->buf, task->offset_blocks,
					    job->io_blocks, job_io_done, task);
		break;
	case KEEL_BDEV_IO_TYPE_UNMAP:
		rc = keel_bdev_unmap_blocks(job->desc, job->ch, task->offset_blocks, job->io_blocks,
					    job_io_done, task);
		break;
	case KEEL_BDEV_IO_TYPE_FLUSH:
		rc = keel_bdev_flush_blocks(job->desc, job->ch, task->offset_blocks, job->io_blocks,
					    job_io_done, task);
		break;
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		rc = keel_bdev_write_zeroes_blocks(job->desc, job->ch, task->offset_blocks,
						   job->io_blocks, job_io_done, task);
		break;
	default:
		rc = -EINVAL;
		break;
	}
	if (keel_unlikely(rc != 0)) {
		job_submit_failed(task, rc);
	}
}

/* Pick the next I/O of a task and submit it. No division here: a random unit is the high half
 * of a 64x64-bit product, a sequential one a counter that wraps. */
static void
job_task_start(struct job_task *task, uint64_t now)
{
	struct job *job = task->job;
	const struct workload *wl = job->wl;
	uint64_t unit;

	task->submit_tsc = now;
	if (wl->random) {
		unit = (uint64_t)(((unsigned __int128)job_rand(job) * job->num_ios) >> 64);
	} else {
		unit = job->next_io;
		if (wl->verify) {
			while (inflight_test_and_set(job, unit)) {
				unit = unit + 1 == job->num_ios ? 0 : unit + 1;
			}
			task->slot = unit;
		}
		job->next_io = unit + 1 == job->num_ios ? 0 : unit + 1;
	}
	task->offset_blocks = job->base_blocks + unit * job->io_blocks;
	if (wl->mixed) {
		task->type = (job_rand(job) >> 32) < job->read_threshold ? KEEL_BDEV_IO_TYPE_READ
									 : KEEL_BDEV_IO_TYPE_WRITE;
	} else {
		task->type = wl->type;
	}
	if (wl->verify) {
		task->seq = ++job->verify_seq;
		pattern_fill(task->buf, g_io_size, task->offset_blocks, task->seq);
	}
	job_task_issue(task);
}

/* App thread side. */

static void run_job_done(void *arg);

static void
job_free_resources(struct job *job)
{
	uint32_t i;

	if (job->tasks != NULL) {
		for (i = 0; i < g_queue_depth; i++) {
			keel_dma_free(job->tasks[i].buf);
			if (job->tasks[i].rbuf != job->tasks[i].buf) {
				keel_dma_free(job->tasks[i].rbuf);
			}
		}
		free(job->tasks);
		job->tasks = NULL;
	}
	free(job->inflight);
	job->inflight = NULL;
	if (job->ch != NULL) {
		keel_put_io_channel(job->ch);
		job->ch = NULL;
	}
	if (job->desc != NULL) {
		keel_bdev_close(job->desc);
		job->desc = NULL;
	}
}

static void
job_maybe_finish(struct job *job)
{
	if (!job->draining || job->finished || job->outstanding != 0 || job->reset_outstanding) {
		return;
	}
	job->finished = true;
	job_free_resources(job);
	if (keel_thread_send_msg(job->app_thread, run_job_done, job) != 0) {
		KEEL_ERRLOG("bdevperf: job on core %u cannot report to the app thread\n",
			    job->core);
	}
}

static void
job_reset_done(struct keel_bdev_io *io, bool success, void *cb_arg)
{
	struct job *job = cb_arg;

	keel_bdev_free_io(io);
	job->reset_outstanding = false;
	if (success) {
		job->resets++;
	} else if (!job->draining) {
		fprintf(stderr, "bdevperf: reset of bdev %s (core %u) failed\n", job->bdev_name,
			job->core);
		job->io_failed++;
	}
	job_maybe_finish(job);
}

static int
job_reset_poll(void *arg)
{
	struct job *job = arg;
	int rc;

	if (job->reset_outstanding || job->draining) {
		return KEEL_POLLER_IDLE;
	}
	rc = keel_bdev_reset(job->desc, job->ch, job_reset_done, job);
	if (rc == 0) {
		job->reset_outstanding = true;
	} else if (rc != -ENOMEM && rc != -ENODEV) {
		fprintf(stderr, "bdevperf: cannot reset bdev %s: %s\n", job->bdev_name,
			keel_strerror(-rc));
	}
	return KEEL_POLLER_BUSY;
}

static void
job_event_cb(enum keel_bdev_event_type type, struct keel_bdev *bdev, void *ctx)
{
	struct job *job = ctx;

	if (type != KEEL_BDEV_EVENT_REMOVE) {
		return;
	}
	job->removed = true;
	if (job->finished) {
		return;
	}
	fprintf(stderr,
		"bdevperf: bdev %s is being removed: stopping the job on core %u once its "
		"%u outstanding I/O are back\n",
		job->bdev_name, job->core, job->outstanding);
	job_drain(job, "bdev removed");
}

/* Allocate the task array and one DMA buffer per slot (two for verify). */
static int
job_alloc_tasks(struct job *job)
{
	struct job_task *task;
	uint32_t i;

	job->tasks = calloc(g_queue_depth, sizeof(*job->tasks));
	if (job->tasks == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < g_queue_depth; i++) {
		task = &job->tasks[i];
		task->job = job;
		task->wait.bdev = keel_bdev_desc_get_bdev(job->desc);
		task->wait.cb_fn = job_io_wait_done;
		task->wait.cb_arg = task;
		if (job->wl->type == KEEL_BDEV_IO_TYPE_UNMAP ||
		    job->wl->type == KEEL_BDEV_IO_TYPE_FLUSH ||
		    job->wl->type == KEEL_BDEV_IO_TYPE_WRITE_ZEROES) {
			continue;
		}
		task->buf = keel_dma_malloc(g_io_size, BUF_ALIGN, NULL);
		if (task->buf == NULL) {
			return -ENOMEM;
		}
		/* Something recognisable in what the write workloads send. */
		memset(task->buf, 0xa5 ^ (int)(i & 0xff), g_io_size);
		task->rbuf = task->buf;
		if (job->wl->verify) {
			task->rbuf = keel_dma_malloc(g_io_size, BUF_ALIGN, NULL);
			if (task->rbuf == NULL) {
				return -ENOMEM;
			}
		}
	}
	return 0;
}

/* Geometry of the job's range: the bdev divided between the jobs that drive it. */
static int
job_set_range(struct job *job, struct keel_bdev *bdev)
{
	uint64_t blocks = keel_bdev_get_num_blocks(bdev);
	uint64_t per_job;

	job->block_size = keel_bdev_get_block_size(bdev);
	if (g_io_size % job->block_size != 0) {
		fprintf(stderr,
			"bdevperf: I/O size %" PRIu64 " is not a multiple of the block size "
			"(%u) of bdev %s\n",
			g_io_size, job->block_size, job->bdev_name);
		return -EINVAL;
	}
	job->io_blocks = g_io_size / job->block_size;
	per_job = blocks / job->count;
	job->num_ios = per_job / job->io_blocks;
	job->base_blocks = (uint64_t)job->index * job->num_ios * job->io_blocks;
	if (job->num_ios == 0) {
		fprintf(stderr,
			"bdevperf: bdev %s (%" PRIu64 " blocks) is too small for I/O of %" PRIu64
			" bytes from %u job(s)\n",
			job->bdev_name, blocks, g_io_size, job->count);
		return -EINVAL;
	}
	if (job->wl->verify && job->num_ios < g_queue_depth) {
		fprintf(stderr,
			"bdevperf: verify on bdev %s needs at least %u I/O-size units per "
			"job (the queue depth); its range has %" PRIu64 "\n",
			job->bdev_name, g_queue_depth, job->num_ios);
		return -EINVAL;
	}
	return 0;
}

static int
job_setup(struct job *job)
{
	struct keel_bdev *bdev;
	int rc;

	rc = keel_bdev_open_ext(job->bdev_name, job->wl->writes, job_event_cb, job, &job->desc);
	if (rc != 0) {
		fprintf(stderr, "bdevperf: cannot open bdev %s: %s\n", job->bdev_name,
			keel_strerror(-rc));
		return rc;
	}
	bdev = keel_bdev_desc_get_bdev(job->desc);
	if (!keel_bdev_io_type_supported(bdev, job->wl->type) ||
	    (job->wl->mixed && !keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_WRITE)) ||
	    (job->wl->reset && !keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_RESET))) {
		fprintf(stderr, "bdevperf: bdev %s does not support the %s workload: skipped\n",
			job->bdev_name, job->wl->name);
		return 1;
	}
	rc = job_set_range(job, bdev);
	if (rc != 0) {
		return rc;
	}
	if (job->wl->verify) {
		job->inflight = calloc((job->num_ios + 63) / 64, sizeof(uint64_t));
		if (job->inflight == NULL) {
			return -ENOMEM;
		}
	}
	rc = job_alloc_tasks(job);
	if (rc != 0) {
		fprintf(stderr,
			"bdevperf: out of DMA memory for %u buffers of %" PRIu64 " bytes "
			"(try -s or fewer/smaller I/O)\n",
			g_queue_depth, g_io_size);
		return rc;
	}
	job->ch = keel_bdev_get_io_channel(job->desc);
	if (job->ch == NULL) {
		fprintf(stderr, "bdevperf: cannot get an I/O channel for bdev %s\n",
			job->bdev_name);
		return -ENOMEM;
	}
	return 0;
}

static void run_job_ready(void *arg);

/* Job thread: open the bdev and get everything the run needs. */
static void
job_init(void *arg)
{
	struct job *job = arg;

	job->rng = mix64(keel_get_ticks() ^ ((uint64_t)job->core << 32) ^ job->index) | 1;
	job->lat_min_tsc = UINT64_MAX;
	if (g_rwmixread >= 0) {
		job->read_threshold = ((uint64_t)g_rwmixread << 32) / 100;
	}
	job->init_rc = job_setup(job);
	if (job->init_rc != 0) {
		job_free_resources(job);
		job->finished = true;
	}
	if (keel_thread_send_msg(job->app_thread, run_job_ready, job) != 0) {
		KEEL_ERRLOG("bdevperf: job on core %u cannot report to the app thread\n",
			    job->core);
	}
}

/* Job thread: fill the queue. */
static void
job_start(void *arg)
{
	struct job *job = arg;
	uint64_t now;
	uint32_t i;

	if (job->finished) {
		return;
	}
	now = job_now(job);
	job->start_tsc = now;
	if (job->wl->reset) {
		job->reset_poller = keel_poller_register(job_reset_poll, job, RESET_PERIOD_US);
	}
	for (i = 0; i < g_queue_depth && !job->draining; i++) {
		job->outstanding++;
		job_task_start(&job->tasks[i], now);
	}
}

/* Job thread: the run is over. */
static void
job_stop(void *arg)
{
	struct job *job = arg;

	if (job->finished) {
		return;
	}
	if (job->start_tsc == 0) {
		job->start_tsc = keel_get_ticks();
	}
	job_drain(job, NULL);
}

static void
job_exit(void *arg)
{
	keel_thread_exit(keel_get_thread());
}

static void
run_print_row(const char *label, int width, double runtime_s, double iops, double fails,
	      double avg_us, double min_us, double max_us)
{
	char runtime[32];

	if (runtime_s >= 0) {
		snprintf(runtime, sizeof(runtime), "%10.2f", runtime_s);
	} else {
		snprintf(runtime, sizeof(runtime), "%10s", "");
	}
	printf("%-*s : %s %12.2f %10.2f %10.2f %10.2f %10.2f %10.2f\n", width, label, runtime, iops,
	       iops * (double)g_io_size / (1024.0 * 1024.0), fails, avg_us, min_us, max_us);
}

/* The results table, like SPDK's bdevperf. \return the exit status. */
static int
run_print_results(void)
{
	double total_iops = 0, total_fails = 0, min_us = 0, max_us = 0;
	uint64_t total_ios = 0, total_lat = 0, min_tsc = UINT64_MAX, max_tsc = 0;
	uint64_t failed = 0, verify_errors = 0;
	char label[KEEL_BDEV_MAX_NAME_LEN + 64], mask[64];
	struct keel_cpuset set;
	bool removed = false;
	int width = 40;
	struct job *job;

	TAILQ_FOREACH (job, &g_jobs, link) {
		width = KEEL_MAX(width, (int)strlen(job->bdev_name) + 24);
	}
	printf("\n%*s%s\n", width + 56, "", "Latency(us)");
	printf("%-*s : %10s %12s %10s %10s %10s %10s %10s\n", width, "Device Information",
	       "runtime(s)", "IOPS", "MiB/s", "Fail/s", "Average", "min", "max");
	TAILQ_FOREACH (job, &g_jobs, link) {
		double runtime, iops, fails;

		if (job->init_rc != 0) {
			continue;
		}
		runtime = tsc_to_s(job->end_tsc - job->start_tsc);
		iops = runtime > 0 ? (double)job->io_completed / runtime : 0;
		fails = runtime > 0 ? (double)job->io_failed / runtime : 0;
		keel_cpuset_zero(&set);
		keel_cpuset_set(&set, job->core, true);
		snprintf(label, sizeof(label), "Job: %s (Core Mask %s)", job->bdev_name,
			 keel_cpuset_fmt(&set, mask, sizeof(mask)));
		run_print_row(label, width, runtime, iops, fails,
			      job->io_completed
				      ? tsc_to_us(job->lat_total_tsc) / (double)job->io_completed
				      : 0,
			      job->io_completed ? tsc_to_us(job->lat_min_tsc) : 0,
			      tsc_to_us(job->lat_max_tsc));
		printf("\t workload: %s, depth: %u, IO size: %" PRIu64 ", range: block 0x%" PRIx64
		       " length 0x%" PRIx64,
		       job->wl->name, g_queue_depth, g_io_size, job->base_blocks,
		       job->num_ios * job->io_blocks);
		if (job->wl->reset) {
			printf(", resets: %" PRIu64 ", aborted I/O: %" PRIu64, job->resets,
			       job->io_aborted);
		}
		printf("\n");
		total_iops += iops;
		total_fails += fails;
		total_ios += job->io_completed;
		total_lat += job->lat_total_tsc;
		min_tsc = KEEL_MIN(min_tsc, job->lat_min_tsc);
		max_tsc = KEEL_MAX(max_tsc, job->lat_max_tsc);
		failed += job->io_failed;
		verify_errors += job->verify_errors;
		removed |= job->removed;
	}
	if (total_ios > 0) {
		min_us = tsc_to_us(min_tsc);
		max_us = tsc_to_us(max_tsc);
	}
	printf("%.*s\n", width + 81,
	       "========================================================="
	       "============================================================================"
	       "============================================================================");
	run_print_row("Total", width, -1, total_iops, total_fails,
		      total_ios ? tsc_to_us(total_lat) / (double)total_ios : 0, min_us, max_us);
	fflush(stdout);

	TAILQ_FOREACH (job, &g_jobs, link) {
		if (job->init_rc != 0) {
			continue;
		}
		if (job->removed) {
			fprintf(stderr,
				"bdevperf: bdev %s was removed during the run: its job on "
				"core %u stopped after %.2f s\n",
				job->bdev_name, job->core, tsc_to_s(job->end_tsc - job->start_tsc));
		} else if (job->stop_reason != NULL) {
			fprintf(stderr,
				"bdevperf: the job on bdev %s (core %u) stopped after %.2f s: %s\n",
				job->bdev_name, job->core, tsc_to_s(job->end_tsc - job->start_tsc),
				job->stop_reason);
		}
	}
	if (verify_errors > 0) {
		fprintf(stderr, "bdevperf: verify found %" PRIu64 " mismatch(es)\n", verify_errors);
	}
	if (failed > 0) {
		fprintf(stderr, "bdevperf: %" PRIu64 " I/O failed\n", failed);
	}
	return (failed > 0 || verify_errors > 0 || removed) ? 1 : 0;
}

static void
run_exit(int rc)
{
	struct job *job;

	g_state = RUN_DONE;
	keel_poller_unregister(&g_timer);
	keel_poller_unregister(&g_progress);
	TAILQ_FOREACH (job, &g_jobs, link) {
		if (job->thread != NULL) {
			keel_thread_send_msg(job->thread, job_exit, NULL);
		}
	}
	keel_app_stop(rc);
}

/* App thread: a job is finished (its bdev may go away even before the run starts). */
static void
run_job_done(void *arg)
{
	struct job *job = arg;

	job->done = true;
	g_jobs_done++;
	if (g_state == RUN_INIT || g_jobs_done < g_runners) {
		return;
	}
	run_exit(g_abort ? 1 : run_print_results());
}

/* App thread: stop every job that still runs. */
static void
run_end(void)
{
	struct job *job;

	if (g_state != RUN_RUNNING) {
		return;
	}
	g_state = RUN_ENDING;
	keel_poller_unregister(&g_timer);
	keel_poller_unregister(&g_progress);
	TAILQ_FOREACH (job, &g_jobs, link) {
		if (job->init_rc == 0 && !job->done) {
			keel_thread_send_msg(job->thread, job_stop, job);
		}
	}
}

static int
run_timer_poll(void *arg)
{
	run_end();
	return KEEL_POLLER_BUSY;
}

static int
run_progress_poll(void *arg)
{
	uint64_t now = keel_get_ticks(), ios = 0;
	double period;
	struct job *job;

	TAILQ_FOREACH (job, &g_jobs, link) {
		ios += __atomic_load_n(&job->io_completed, __ATOMIC_RELAXED);
	}
	period = tsc_to_s(now - g_progress_last_tsc);
	if (period > 0) {
		double iops = (double)(ios - g_progress_last_ios) / period;

		printf("%10.2f s: %14.2f IOPS %12.2f MiB/s\n", tsc_to_s(now - g_run_start_tsc),
		       iops, iops * (double)g_io_size / (1024.0 * 1024.0));
		fflush(stdout);
	}
	g_progress_last_tsc = now;
	g_progress_last_ios = ios;
	return KEEL_POLLER_BUSY;
}

/* App thread: every job is set up (or failed to be): start the run, or give up. */
static void
run_start_all(void)
{
	struct job *job;

	g_runners = 0;
	TAILQ_FOREACH (job, &g_jobs, link) {
		if (job->init_rc == 0) {
			g_runners++;
		}
	}
	if (g_runners == 0) {
		if (g_init_failures == 0 && !g_abort) {
			fprintf(stderr, "bdevperf: no bdev supports the %s workload\n",
				g_workload->name);
		}
		run_exit(1);
		return;
	}
	if (g_init_failures > 0 || g_abort) {
		/* Let the jobs that did set up release what they hold, then exit 1. */
		g_abort = true;
		g_state = RUN_ENDING;
	} else {
		g_state = RUN_RUNNING;
		printf("Running I/O for %u seconds...\n", g_time_s);
		fflush(stdout);
		g_run_start_tsc = keel_get_ticks();
		g_progress_last_tsc = g_run_start_tsc;
		g_timer =
			keel_poller_register(run_timer_poll, NULL, (uint64_t)g_time_s * 1000000ULL);
		if (g_show_period_s > 0) {
			g_progress = keel_poller_register(run_progress_poll, NULL,
							  (uint64_t)g_show_period_s * 1000000ULL);
		}
	}
	TAILQ_FOREACH (job, &g_jobs, link) {
		if (job->init_rc == 0 && !job->done) {
			keel_thread_send_msg(job->thread, g_abort ? job_stop : job_start, job);
		}
	}
	if (g_jobs_done == g_runners) {
		/* Every bdev went away while the jobs were being set up. */
		run_exit(g_abort ? 1 : run_print_results());
	}
}

/* App thread: a job reports the result of job_init. */
static void
run_job_ready(void *arg)
{
	struct job *job = arg;

	g_jobs_ready++;
	if (job->init_rc < 0) {
		g_init_failures++;
	}
	if (g_jobs_ready == g_job_count) {
		run_start_all();
	}
}

static int
run_add_job(struct keel_bdev *bdev, uint32_t core, uint32_t index, uint32_t count)
{
	struct keel_cpuset mask;
	char name[64];
	struct job *job;

	job = calloc(1, sizeof(*job));
	if (job == NULL) {
		return -ENOMEM;
	}
	job->bdev_name = strdup(keel_bdev_get_name(bdev));
	if (job->bdev_name == NULL) {
		free(job);
		return -ENOMEM;
	}
	job->wl = g_workload;
	job->core = core;
	job->index = index;
	job->count = count;
	job->app_thread = keel_get_thread();
	keel_cpuset_zero(&mask);
	keel_cpuset_set(&mask, core, true);
	snprintf(name, sizeof(name), "bdevperf_%s_%u", job->bdev_name, core);
	job->thread = keel_thread_create(name, &mask);
	if (job->thread == NULL) {
		free(job->bdev_name);
		free(job);
		return -ENOMEM;
	}
	TAILQ_INSERT_TAIL(&g_jobs, job, link);
	g_job_count++;
	return 0;
}

/* App thread, once the framework and the bdevs are up. */
static void
bdevperf_start(void *ctx)
{
	uint32_t core, index, ncores = 0;
	struct keel_bdev *bdev;
	struct job *job;
	int rc = 0;

	g_state = RUN_INIT;
	if (g_bdev_name != NULL && keel_bdev_get_by_name(g_bdev_name) == NULL) {
		fprintf(stderr, "bdevperf: no bdev named %s\n", g_bdev_name);
		run_exit(1);
		return;
	}
	if (keel_bdev_first() == NULL) {
		fprintf(stderr, "bdevperf: no bdevs: create them with a configuration file (-c or "
				"--json)\n");
		run_exit(1);
		return;
	}
	KEEL_ENV_FOREACH_CORE (core) {
		ncores++;
	}
	for (bdev = keel_bdev_first(); bdev != NULL && rc == 0; bdev = keel_bdev_next(bdev)) {
		if (g_bdev_name != NULL && bdev != keel_bdev_get_by_name(g_bdev_name)) {
			continue;
		}
		index = 0;
		KEEL_ENV_FOREACH_CORE (core) {
			rc = run_add_job(bdev, core, index++, ncores);
			if (rc != 0) {
				break;
			}
		}
	}
	if (rc != 0) {
		fprintf(stderr, "bdevperf: cannot create the job threads: %s\n",
			keel_strerror(-rc));
	}
	if (g_job_count == 0) {
		run_exit(1);
		return;
	}
	/* Jobs created so far report back; a failure to create one aborts the run. */
	g_abort = rc != 0;
	TAILQ_FOREACH (job, &g_jobs, link) {
		if (keel_thread_send_msg(job->thread, job_init, job) != 0) {
			KEEL_ERRLOG("bdevperf: cannot start the job thread on core %u\n",
				    job->core);
		}
	}
}

/* SIGINT/SIGTERM: end the run early, with results. */
static void
bdevperf_shutdown(void)
{
	switch (g_state) {
	case RUN_RUNNING:
		fprintf(stderr, "bdevperf: interrupted: stopping the run\n");
		run_end();
		break;
	case RUN_INIT:
		g_abort = true;
		break;
	case RUN_IDLE:
		keel_app_stop(1);
		break;
	default:
		break;
	}
}

static void
bdevperf_free_jobs(void)
{
	struct job *job;

	while ((job = TAILQ_FIRST(&g_jobs)) != NULL) {
		TAILQ_REMOVE(&g_jobs, job, link);
		free(job->bdev_name);
		free(job);
	}
}

/* Options. */

/* "4096", "4k", "1M", "2g". */
static int
parse_size(const char *arg, uint64_t *out)
{
	char buf[64];
	uint64_t v, mult = 1;
	size_t len;

	keel_strlcpy(buf, arg, sizeof(buf));
	len = strlen(buf);
	if (len > 1) {
		switch (buf[len - 1]) {
		case 'k':
		case 'K':
			mult = 1024;
			break;
		case 'm':
		case 'M':
			mult = 1024 * 1024;
			break;
		case 'g':
		case 'G':
			mult = 1024 * 1024 * 1024;
			break;
		default:
			break;
		}
		if (mult != 1) {
			buf[len - 1] = '\0';
		}
	}
	if (!isdigit((unsigned char)buf[0]) || keel_parse_u64(buf, &v) != 0 || v == 0 ||
	    v > UINT32_MAX / mult) {
		return -EINVAL;
	}
	*out = v * mult;
	return 0;
}

static int
parse_u32_range(const char *arg, uint32_t min, uint32_t max, uint32_t *out)
{
	uint32_t v;

	if (keel_parse_u32(arg, &v) != 0 || v < min || v > max) {
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int
bdevperf_parse_arg(int ch, char *arg)
{
	uint32_t u32;
	size_t i;

	switch (ch) {
	case 'q':
		if (parse_u32_range(arg, 1, 65536, &g_queue_depth) != 0) {
			fprintf(stderr, "bdevperf: invalid queue depth '%s' (1 to 65536)\n", arg);
			return -EINVAL;
		}
		return 0;
	case 'o':
		if (parse_size(arg, &g_io_size) != 0) {
			fprintf(stderr,
				"bdevperf: invalid I/O size '%s' (bytes; k, m, g suffixes "
				"allowed)\n",
				arg);
			return -EINVAL;
		}
		return 0;
	case 'w':
		for (i = 0; i < KEEL_COUNTOF(g_workloads); i++) {
			if (strcmp(arg, g_workloads[i].name) == 0) {
				g_workload = &g_workloads[i];
				return 0;
			}
		}
		fprintf(stderr,
			"bdevperf: unknown workload '%s' (read, write, randread, randwrite, "
			"rw, randrw, verify, reset, unmap, flush, write_zeroes)\n",
			arg);
		return -EINVAL;
	case 'M':
		if (parse_u32_range(arg, 0, 100, &u32) != 0) {
			fprintf(stderr, "bdevperf: invalid read percentage '%s' (0 to 100)\n", arg);
			return -EINVAL;
		}
		g_rwmixread = (int)u32;
		return 0;
	case 't':
		if (parse_u32_range(arg, 1, 86400 * 365, &g_time_s) != 0) {
			fprintf(stderr, "bdevperf: invalid run time '%s' (seconds, at least 1)\n",
				arg);
			return -EINVAL;
		}
		return 0;
	case 'T':
		g_bdev_name = arg;
		return 0;
	case 'S':
		if (parse_u32_range(arg, 1, 86400, &g_show_period_s) != 0) {
			fprintf(stderr, "bdevperf: invalid progress period '%s' (seconds)\n", arg);
			return -EINVAL;
		}
		return 0;
	case 'f':
		g_continue_on_failure = true;
		return 0;
	case 'C':
		/* Every core already runs a job for every bdev. */
		return 0;
	case OPT_CORRUPT_AFTER:
		if (keel_parse_u64(arg, &g_corrupt_after) != 0 || g_corrupt_after == 0) {
			fprintf(stderr, "bdevperf: invalid --corrupt-after '%s'\n", arg);
			return -EINVAL;
		}
		return 0;
	default:
		return -EINVAL;
	}
}

static void
bdevperf_usage(void)
{
	printf(" -q <depth>                 I/O in flight per job (required)\n");
	printf(" -o <size>                  I/O size in bytes; k, m, g suffixes allowed, e.g. 4k "
	       "(required)\n");
	printf(" -w <type>                  workload (required): read, write, randread, randwrite,\n"
	       "                            rw, randrw (with -M), verify, reset, unmap, flush,\n"
	       "                            write_zeroes\n");
	printf(" -M <percent>               share of reads in rw and randrw (0 to 100)\n");
	printf(" -t <seconds>               run time (required)\n");
	printf(" -T <bdev>                  drive only this bdev (default: every bdev)\n");
	printf(" -S <seconds>               print IOPS and MiB/s every <seconds> while running\n");
	printf(" -f                         go on after a failed I/O or verify mismatch\n");
	printf(" -C                         every core drives every bdev (always the case)\n");
	printf("\nOne job runs per bdev per core of -m; the bdevs come from -c or --json.\n");
}

static int
bdevperf_check_opts(void)
{
	const char *missing = NULL;

	if (g_queue_depth == 0) {
		missing = "-q (queue depth)";
	} else if (g_io_size == 0) {
		missing = "-o (I/O size)";
	} else if (g_workload == NULL) {
		missing = "-w (workload)";
	} else if (g_time_s == 0) {
		missing = "-t (run time)";
	}
	if (missing != NULL) {
		fprintf(stderr, "bdevperf: missing option %s (see --help)\n", missing);
		return -EINVAL;
	}
	if (g_workload->mixed && g_rwmixread < 0) {
		fprintf(stderr, "bdevperf: -w %s needs -M (the read percentage, 0 to 100)\n",
			g_workload->name);
		return -EINVAL;
	}
	if (!g_workload->mixed && g_rwmixread >= 0) {
		fprintf(stderr, "bdevperf: -M applies only to rw and randrw: ignored\n");
		g_rwmixread = -1;
	}
	if (g_workload->verify && g_io_size % 8 != 0) {
		fprintf(stderr, "bdevperf: verify needs an I/O size that is a multiple of 8\n");
		return -EINVAL;
	}
	if (g_corrupt_after != 0 && !g_workload->verify) {
		fprintf(stderr, "bdevperf: --corrupt-after applies only to -w verify\n");
		return -EINVAL;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{"corrupt-after", required_argument, NULL, OPT_CORRUPT_AFTER},
		{NULL, 0, NULL, 0},
	};
	struct keel_app_opts opts;
	int rc;

	keel_app_opts_init(&opts);
	opts.name = "bdevperf";
	opts.shutdown_cb = bdevperf_shutdown;
	rc = keel_app_parse_args(argc, argv, &opts, "q:o:w:M:t:T:S:fC", long_opts,
				 bdevperf_parse_arg, bdevperf_usage);
	if (rc != KEEL_APP_PARSE_ARGS_SUCCESS) {
		return rc == KEEL_APP_PARSE_ARGS_HELP ? 0 : 1;
	}
	if (bdevperf_check_opts() != 0) {
		return 1;
	}
	rc = keel_app_start(&opts, bdevperf_start, NULL);
	keel_app_fini();
	bdevperf_free_jobs();
	return rc;
}
