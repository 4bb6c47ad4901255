/*
 * iscsi_load: an iSCSI load generator on libiscsi's asynchronous API, used by keel's benchmark
 * (test/perf/iscsi.sh: random writes, which qemu-img bench cannot do, and runs with many
 * sessions) and by the instruction-count guard (a fixed number of I/Os on command). It logs N
 * sessions in to one LUN, keeps a queue of commands in flight on each from one thread, and
 * prints IOPS and MiB/s.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define LOAD_MAX_SESSIONS 256
#define LOAD_MAX_QD 1024

struct load_session;

/* One command slot: a buffer and its place in a session. */
struct load_slot {
	struct load_session *sess;
	struct scsi_iovec iov;
	bool busy;
};

struct load_session {
	struct iscsi_context *ctx;
	int lun;
	struct load_slot *slots;
	uint32_t inflight;
	uint64_t next_lba;
	uint64_t rand_state;
};

enum load_pattern {
	LOAD_READ,
	LOAD_WRITE,
	LOAD_RANDREAD,
	LOAD_RANDWRITE,
};

static const char *g_pattern_names[] = {"read", "write", "randread", "randwrite"};

static struct load_session g_sessions[LOAD_MAX_SESSIONS];
static uint32_t g_nsessions = 1;
static uint32_t g_qd = 32;
static uint32_t g_io_bytes = 4096;
static uint32_t g_block_bytes;
static uint64_t g_lun_blocks;
static enum load_pattern g_pattern = LOAD_RANDWRITE;

/* The current run: I/Os left to submit (UINT64_MAX when the run is timed), done, failed. */
static uint64_t g_to_submit;
static uint64_t g_done;
static uint64_t g_failed;
static bool g_stopping;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
rand_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

static bool
pattern_is_write(void)
{
	return g_pattern == LOAD_WRITE || g_pattern == LOAD_RANDWRITE;
}

static int
pattern_parse(const char *name, enum load_pattern *out)
{
	size_t i;

	for (i = 0; i < sizeof(g_pattern_names) / sizeof(g_pattern_names[0]); i++) {
		if (strcmp(name, g_pattern_names[i]) == 0) {
			*out = (enum load_pattern)i;
			return 0;
		}
	}
	return -EINVAL;
}

static uint64_t
session_pick_lba(struct load_session *s)
{
	uint64_t blocks_per_io = g_io_bytes / g_block_bytes;
	uint64_t slots = g_lun_blocks / blocks_per_io;
	uint64_t lba;

	if (g_pattern == LOAD_RANDREAD || g_pattern == LOAD_RANDWRITE) {
		return (rand_next(&s->rand_state) % slots) * blocks_per_io;
	}
	lba = s->next_lba;
	s->next_lba += blocks_per_io;
	if (s->next_lba + blocks_per_io > g_lun_blocks) {
		s->next_lba = 0;
	}
	return lba;
}

static void
io_done(struct iscsi_context *ctx, int status, void *command_data, void *private_data)
{
	struct load_slot *slot = private_data;
	struct scsi_task *task = command_data;

	if (status != SCSI_STATUS_GOOD) {
		if (g_failed == 0) {
			fprintf(stderr, "iscsi_load: I/O failed: status %d: %s\n", status,
				iscsi_get_error(ctx));
		}
		g_failed++;
	}
	if (task != NULL) {
		scsi_free_scsi_task(task);
	}
	slot->busy = false;
	slot->sess->inflight--;
	g_done++;
}

static int
session_submit(struct load_session *s)
{
	struct load_slot *slot = NULL;
	struct scsi_task *task;
	uint64_t lba;
	uint32_t i;

	for (i = 0; i < g_qd; i++) {
		if (!s->slots[i].busy) {
			slot = &s->slots[i];
			break;
		}
	}
	if (slot == NULL) {
		return -EBUSY;
	}
	lba = session_pick_lba(s);
	if (pattern_is_write()) {
		task = iscsi_write16_task(s->ctx, s->lun, lba, slot->iov.iov_base, g_io_bytes,
					  (int)g_block_bytes, 0, 0, 0, 0, 0, io_done, slot);
	} else {
		task = iscsi_read16_iov_task(s->ctx, s->lun, lba, g_io_bytes, (int)g_block_bytes, 0,
					     0, 0, 0, 0, io_done, slot, &slot->iov, 1);
	}
	if (task == NULL) {
		fprintf(stderr, "iscsi_load: cannot queue a command: %s\n",
			iscsi_get_error(s->ctx));
		return -EIO;
	}
	slot->busy = true;
	s->inflight++;
	return 0;
}

/*
 * Run the current workload until g_to_submit I/Os are submitted and done, or until the
 * deadline (when deadline_s > 0). Returns 0, or -EIO when a session failed.
 */
static int
load_run(double deadline_s)
{
	struct pollfd pfds[LOAD_MAX_SESSIONS];
	uint64_t inflight;
	uint32_t i;
	int rc;

	for (;;) {
		if (deadline_s > 0 && !g_stopping && now_s() >= deadline_s) {
			g_stopping = true;
		}
		inflight = 0;
		for (i = 0; i < g_nsessions; i++) {
			struct load_session *s = &g_sessions[i];

			while (!g_stopping && g_to_submit > 0 && s->inflight < g_qd) {
				if (session_submit(s) != 0) {
					return -EIO;
				}
				if (g_to_submit != UINT64_MAX) {
					g_to_submit--;
				}
			}
			inflight += s->inflight;
			pfds[i].fd = iscsi_get_fd(s->ctx);
			pfds[i].events = (short)iscsi_which_events(s->ctx);
			pfds[i].revents = 0;
		}
		if (inflight == 0 && (g_stopping || g_to_submit == 0)) {
			return 0;
		}
		rc = poll(pfds, g_nsessions, 100);
		if (rc < 0) {
			if (errno == EINTR) {
				continue;
			}
			perror("iscsi_load: poll");
			return -EIO;
		}
		for (i = 0; i < g_nsessions; i++) {
			if (pfds[i].revents == 0) {
				continue;
			}
			if (iscsi_service(g_sessions[i].ctx, pfds[i].revents) < 0) {
				fprintf(stderr, "iscsi_load: session %u: %s\n", i,
					iscsi_get_error(g_sessions[i].ctx));
				return -EIO;
			}
		}
	}
}

static int
session_open(struct load_session *s, uint32_t idx, const char *url_str, const char *initiator)
{
	struct scsi_readcapacity16 *rc16;
	struct scsi_task *task;
	struct iscsi_url *url;
	char name[256];
	uint32_t i;

	snprintf(name, sizeof(name), "%s-%u", initiator, idx);
	s->ctx = iscsi_create_context(name);
	if (s->ctx == NULL) {
		fprintf(stderr, "iscsi_load: cannot create an iSCSI context\n");
		return -ENOMEM;
	}
	url = iscsi_parse_full_url(s->ctx, url_str);
	if (url == NULL) {
		fprintf(stderr, "iscsi_load: bad URL %s: %s\n", url_str, iscsi_get_error(s->ctx));
		return -EINVAL;
	}
	iscsi_set_targetname(s->ctx, url->target);
	iscsi_set_session_type(s->ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(s->ctx, ISCSI_HEADER_DIGEST_NONE);
	s->lun = url->lun;
	if (iscsi_full_connect_sync(s->ctx, url->portal, url->lun) != 0) {
		fprintf(stderr, "iscsi_load: login to %s failed: %s\n", url_str,
			iscsi_get_error(s->ctx));
		iscsi_destroy_url(url);
		return -EIO;
	}
	iscsi_destroy_url(url);
	if (idx == 0) {
		task = iscsi_readcapacity16_sync(s->ctx, s->lun);
		if (task == NULL || task->status != SCSI_STATUS_GOOD) {
			fprintf(stderr, "iscsi_load: READ CAPACITY(16) failed: %s\n",
				iscsi_get_error(s->ctx));
			return -EIO;
		}
		rc16 = scsi_datain_unmarshall(task);
		if (rc16 == NULL) {
			fprintf(stderr, "iscsi_load: cannot decode READ CAPACITY(16)\n");
			return -EIO;
		}
		g_block_bytes = rc16->block_length;
		g_lun_blocks = rc16->returned_lba + 1;
		scsi_free_scsi_task(task);
		if (g_block_bytes == 0 || g_io_bytes % g_block_bytes != 0 ||
		    g_lun_blocks < g_io_bytes / g_block_bytes) {
			fprintf(stderr, "iscsi_load: I/O size %u does not fit blocks of %u bytes\n",
				g_io_bytes, g_block_bytes);
			return -EINVAL;
		}
	}
	s->slots = calloc(g_qd, sizeof(*s->slots));
	if (s->slots == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < g_qd; i++) {
		s->slots[i].sess = s;
		s->slots[i].iov.iov_len = g_io_bytes;
		if (posix_memalign(&s->slots[i].iov.iov_base, 4096, g_io_bytes) != 0) {
			return -ENOMEM;
		}
		memset(s->slots[i].iov.iov_base, (int)(0x5a + idx + i), g_io_bytes);
	}
	s->rand_state = 0x9e3779b97f4a7c15ULL * (idx + 1);
	return 0;
}

static void
sessions_close(void)
{
	uint32_t i, j;

	for (i = 0; i < g_nsessions; i++) {
		struct load_session *s = &g_sessions[i];

		if (s->ctx == NULL) {
			continue;
		}
		iscsi_logout_sync(s->ctx);
		iscsi_destroy_context(s->ctx);
		s->ctx = NULL;
		if (s->slots != NULL) {
			for (j = 0; j < g_qd; j++) {
				free(s->slots[j].iov.iov_base);
			}
			free(s->slots);
			s->slots = NULL;
		}
	}
}

/* Set up a run of count I/Os (0: timed) of the current pattern; sessions start apart. */
static void
run_prepare(uint64_t count)
{
	uint64_t blocks_per_io = g_io_bytes / g_block_bytes;
	uint64_t stride = (g_lun_blocks / g_nsessions) / blocks_per_io * blocks_per_io;
	uint32_t i;

	for (i = 0; i < g_nsessions; i++) {
		g_sessions[i].next_lba = stride * i;
	}
	g_to_submit = count > 0 ? count : UINT64_MAX;
	g_done = 0;
	g_failed = 0;
	g_stopping = false;
}

static void
run_report(double seconds)
{
	double iops = seconds > 0 ? (double)g_done / seconds : 0;

	printf("%s %u B, %u session(s) x qd %u: %" PRIu64
	       " I/Os in %.3f s: %.0f IOPS, %.1f MiB/s\n",
	       g_pattern_names[g_pattern], g_io_bytes, g_nsessions, g_qd, g_done, seconds, iops,
	       iops * g_io_bytes / (1024.0 * 1024.0));
	printf("RESULT ios=%" PRIu64 " seconds=%.6f iops=%.1f mibps=%.2f failed=%" PRIu64 "\n",
	       g_done, seconds, iops, iops * g_io_bytes / (1024.0 * 1024.0), g_failed);
	fflush(stdout);
}

/*
 * Control mode: after login print "ready", then for each line "<pattern> <count>" on stdin
 * run count I/Os and print "done <count> <seconds>"; "quit" or the end of input logs out.
 */
static int
control_loop(void)
{
	char line[128], name[32];
	unsigned long long count;
	double start;

	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (strncmp(line, "quit", 4) == 0) {
			break;
		}
		if (sscanf(line, "%31s %llu", name, &count) != 2 ||
		    pattern_parse(name, &g_pattern) != 0 || count == 0) {
			fprintf(stderr, "iscsi_load: bad command: %s", line);
			return -EINVAL;
		}
		run_prepare(count);
		start = now_s();
		if (load_run(0) != 0 || g_failed != 0) {
			return -EIO;
		}
		printf("done %" PRIu64 " %.6f\n", g_done, now_s() - start);
		fflush(stdout);
	}
	return 0;
}

static void
usage(void)
{
	printf("usage: iscsi_load [options] iscsi://<host>[:<port>]/<target-iqn>/<lun>\n"
	       "  -w PATTERN  read, write, randread or randwrite (default randwrite)\n"
	       "  -o BYTES    I/O size in bytes, a multiple of the LUN's block (default 4096)\n"
	       "  -q N        commands in flight per session (default 32)\n"
	       "  -s N        sessions, each its own connection (default 1, at most %d)\n"
	       "  -t SECONDS  run for this long (default 10)\n"
	       "  -n COUNT    run this many I/Os instead\n"
	       "  -C          control mode: print \"ready\" after login, then run \"<pattern> "
	       "<count>\"\n"
	       "              lines from stdin, answering \"done <count> <seconds>\" to each\n"
	       "  -i NAME     initiator name prefix (\"-<n>\" is appended per session)\n",
	       LOAD_MAX_SESSIONS);
}

int
main(int argc, char **argv)
{
	const char *initiator = "iqn.2024-01.org.keel:iscsi-load";
	unsigned long long count = 0;
	double seconds = 10, start, elapsed;
	bool control = false;
	uint32_t i;
	int opt, rc = 0;

	while ((opt = getopt(argc, argv, "w:o:q:s:t:n:Ci:h")) != -1) {
		switch (opt) {
		case 'w':
			if (pattern_parse(optarg, &g_pattern) != 0) {
				fprintf(stderr, "iscsi_load: unknown pattern %s\n", optarg);
				return 2;
			}
			break;
		case 'o':
			g_io_bytes = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'q':
			g_qd = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 's':
			g_nsessions = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 't':
			seconds = strtod(optarg, NULL);
			break;
		case 'n':
			count = strtoull(optarg, NULL, 0);
			break;
		case 'C':
			control = true;
			break;
		case 'i':
			initiator = optarg;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc - 1 || g_io_bytes == 0 || g_qd == 0 || g_qd > LOAD_MAX_QD ||
	    g_nsessions == 0 || g_nsessions > LOAD_MAX_SESSIONS || seconds <= 0) {
		usage();
		return 2;
	}
	for (i = 0; i < g_nsessions; i++) {
		rc = session_open(&g_sessions[i], i, argv[optind], initiator);
		if (rc != 0) {
			goto out;
		}
	}
	if (control) {
		rc = control_loop();
		goto out;
	}
	run_prepare(count);
	start = now_s();
	rc = load_run(count > 0 ? 0 : start + seconds);
	elapsed = now_s() - start;
	if (rc == 0) {
		run_report(elapsed);
		if (g_failed != 0) {
			rc = -EIO;
		}
	}
out:
	sessions_close();
	return rc == 0 ? 0 : 1;
}
