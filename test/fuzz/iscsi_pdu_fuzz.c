/*
 * Fuzz target for a whole iSCSI connection (lib/iscsi, with lib/scsi and RAM bdevs behind it):
 * the input is the byte stream one initiator sends. The iSCSI subsystem runs in-process,
 * configured once through the RPC methods (a portal on 127.0.0.1, an initiator group, two target
 * nodes on RAM bdevs, an auth group); each input is sent on a new TCP connection, PDU by PDU
 * (a PDU without the I bit waits until the target is idle, as after an initiator's wait for its
 * answers), then the sending side is shut down and every thread is polled until the target has
 * closed the connection (or has gone quiet, when the client closes it). The connection must then
 * be freed, with no session left and every pool back to its count at start, and what the target
 * sent must be target PDUs with correct digests. The seeds are written by iscsi_pdu_seeds.py.
 *
 * Determinism: each input starts from the same state. The CHAP challenges come from a generator
 * reset per input (RAND_bytes is wrapped at link time, see test/fuzz/Makefile), so recorded
 * streams can answer them; each input connects from its own 127.x.y.z address, so that the
 * back-off after failed logins (per initiator address) never builds up; and after an input that
 * logged in, the target nodes, their RAM bdevs and the reservations directory are made anew.
 */
#include "keel/stdinc.h"
#include "keel/accel.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/jsonrpc.h"
#include "keel/rpc.h"
#include "keel/scsi.h"
#include "keel/thread.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <json-c/json.h>

#include "iscsi/iscsi_internal.h"
#include "fuzz_common.h"

/* Rounds in a row in which no thread works and no byte moves before the target is quiet. */
#define FUZZ_QUIET_ROUNDS 2000
/* The same, before a PDU that waits for the target (and a stream's end). */
#define FUZZ_SETTLE_ROUNDS 20
/* Rounds allowed for a closed connection to be freed and the pools to fill up again (a few
 * dozen are enough; under ASan this many take about a second, within libFuzzer's timeout). */
#define FUZZ_TEARDOWN_ROUNDS 20000
/* Rounds allowed for one RPC to answer. */
#define FUZZ_RPC_ROUNDS 200000
/* Response bytes kept for parsing; a PDU that does not fit ends the checks of that input. */
#define FUZZ_RSP_BUF_BYTES (4 * 1024 * 1024)

#define FUZZ_NODEBASE "iqn.2016-06.io.spdk"
#define FUZZ_PG_TAG 1
#define FUZZ_IG_TAG 1
#define FUZZ_AG_TAG 1

/* What the seed generator (iscsi_pdu_seeds.py) must agree with. */
static const char *const g_create_rpcs[][2] = {
	{"bdev_malloc_create", "{\"name\": \"FuzzMalloc0\", \"num_blocks\": 4096, "
			       "\"block_size\": 512}"},
	{"bdev_malloc_create", "{\"name\": \"FuzzMalloc1\", \"num_blocks\": 256, "
			       "\"block_size\": 4096}"},
	{"bdev_malloc_create", "{\"name\": \"FuzzMalloc2\", \"num_blocks\": 1024, "
			       "\"block_size\": 512}"},
	/* CHAP offered (AuthMethod=CHAP,None both work), one or two LUNs. */
	{"iscsi_create_target_node",
	 "{\"name\": \"fuzz0\", \"alias_name\": \"fuzz0\", "
	 "\"pg_ig_maps\": [{\"pg_tag\": 1, \"ig_tag\": 1}], \"luns\": [{\"bdev_name\": "
	 "\"FuzzMalloc0\", \"lun_id\": 0}, {\"bdev_name\": \"FuzzMalloc1\", \"lun_id\": 1}], "
	 "\"queue_depth\": 32, \"chap_group\": 1}"},
	/* Mutual CHAP required. */
	{"iscsi_create_target_node",
	 "{\"name\": \"fuzzchap\", \"alias_name\": \"fuzzchap\", "
	 "\"pg_ig_maps\": [{\"pg_tag\": 1, \"ig_tag\": 1}], \"luns\": [{\"bdev_name\": "
	 "\"FuzzMalloc2\", \"lun_id\": 0}], \"queue_depth\": 8, \"require_chap\": true, "
	 "\"mutual_chap\": true, \"chap_group\": 1}"},
};

static const char *const g_delete_rpcs[][2] = {
	{"iscsi_delete_target_node", "{\"name\": \"" FUZZ_NODEBASE ":fuzz0\"}"},
	{"iscsi_delete_target_node", "{\"name\": \"" FUZZ_NODEBASE ":fuzzchap\"}"},
	{"bdev_malloc_delete", "{\"name\": \"FuzzMalloc0\"}"},
	{"bdev_malloc_delete", "{\"name\": \"FuzzMalloc1\"}"},
	{"bdev_malloc_delete", "{\"name\": \"FuzzMalloc2\"}"},
};

static struct keel_thread *g_app;
static uint16_t g_port;
static char g_pr_dir[64];
static bool g_dump;       /* KEEL_FUZZ_DUMP set: one line per PDU the target sends */
static bool g_dirty;      /* the last input logged in: the targets may have changed */
static uint32_t g_inputs; /* also picks each input's source address */
static uint32_t g_rand;
static size_t g_start_pdus, g_start_tasks, g_start_bufs;

/*
 * Random bytes: the CHAP identifier and challenge. A xorshift32 generator, reset for each
 * input; each byte is the top byte of the next state.
 */
#define FUZZ_RAND_SEED 0x2545f491u

int __wrap_RAND_bytes(unsigned char *buf, int num);

int
__wrap_RAND_bytes(unsigned char *buf, int num)
{
	int i;

	for (i = 0; i < num; i++) {
		g_rand ^= g_rand << 13;
		g_rand ^= g_rand >> 17;
		g_rand ^= g_rand << 5;
		buf[i] = (unsigned char)(g_rand >> 24);
	}
	return 1;
}

/*
 * Polling. Timed pollers (the portal's acceptor, timers) are run early when nothing else has
 * work, as if their time had come: a run of the target takes no real time waiting.
 */
static int
poll_threads(uint64_t now)
{
	struct keel_thread *t;
	int busy = 0;

	for (t = keel_thread_get_first(); t != NULL; t = keel_thread_get_next(t)) {
		busy |= keel_thread_poll(t, 0, now);
	}
	return busy;
}

static int
poll_round(void)
{
	struct keel_thread *t;
	uint64_t next = UINT64_MAX, now;

	if (poll_threads(0) != 0) {
		return 1;
	}
	for (t = keel_thread_get_first(); t != NULL; t = keel_thread_get_next(t)) {
		next = KEEL_MIN(next, keel_thread_next_poller_expiration(t));
	}
	now = keel_get_ticks();
	if (next != UINT64_MAX && next > now) {
		return poll_threads(next);
	}
	return 0;
}

/*
 * Configuration through the RPC methods, as rpc.py would do it.
 */
struct rpc_wait {
	bool done;
	char *error;
};

static void
rpc_done(struct json_object *resp, void *arg)
{
	struct rpc_wait *w = arg;
	struct json_object *err;

	if (json_object_object_get_ex(resp, "error", &err)) {
		w->error = strdup(json_object_to_json_string(err));
		FUZZ_CHECK(w->error != NULL);
	}
	w->done = true;
	json_object_put(resp);
}

/* Call method with params (JSON text); returns 0, or -1 with the error printed if loud. */
static int
rpc_call(const char *method, const char *params, bool loud)
{
	struct json_object *p = json_tokener_parse(params);
	struct rpc_wait w = {0};
	int i;

	FUZZ_CHECK(p != NULL);
	keel_rpc_call_local(method, p, rpc_done, &w);
	for (i = 0; i < FUZZ_RPC_ROUNDS && !w.done; i++) {
		poll_round();
	}
	if (!w.done) {
		fprintf(stderr, "iscsi_pdu_fuzz: %s %s: no answer\n", method, params);
		abort();
	}
	json_object_put(p);
	if (w.error != NULL) {
		if (loud) {
			fprintf(stderr, "iscsi_pdu_fuzz: %s %s: %s\n", method, params, w.error);
		}
		free(w.error);
		return -1;
	}
	return 0;
}

/* A port nobody listens on now (another process may take it before us: the caller retries). */
static uint16_t
free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	FUZZ_CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void
create_portal_group(void)
{
	char params[128];
	int i;

	for (i = 0; i < 20; i++) {
		g_port = free_port();
		snprintf(params, sizeof(params),
			 "{\"tag\": %d, \"portals\": [{\"host\": \"127.0.0.1\", \"port\": %u}]}",
			 FUZZ_PG_TAG, g_port);
		if (rpc_call("iscsi_create_portal_group", params, i == 19) == 0) {
			return;
		}
	}
	abort();
}

/* Remove what APTPL reservations wrote, so that a new LUN does not load it again. */
static void
clear_pr_dir(void)
{
	char path[sizeof(g_pr_dir) + NAME_MAX + 2];
	struct dirent *de;
	DIR *d;

	d = opendir(g_pr_dir);
	if (d == NULL) {
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", g_pr_dir, de->d_name);
			unlink(path);
		}
	}
	closedir(d);
}

static void
create_targets(void)
{
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(g_create_rpcs); i++) {
		FUZZ_CHECK(rpc_call(g_create_rpcs[i][0], g_create_rpcs[i][1], true) == 0);
	}
}

/* The state an earlier input may have changed (data, reservations, mode pages, unit
 * attentions) lives in the LUNs: make them anew. */
static void
reset_targets(void)
{
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(g_delete_rpcs); i++) {
		FUZZ_CHECK(rpc_call(g_delete_rpcs[i][0], g_delete_rpcs[i][1], true) == 0);
	}
	clear_pr_dir();
	create_targets();
}

static void
fuzz_cleanup(void)
{
	clear_pr_dir();
	rmdir(g_pr_dir);
}

static void
init_done(int rc, void *ctx)
{
	*(int *)ctx = rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct keel_env_opts opts;
	const char *tmp;
	int i, rc = 1;

	fuzz_setup_log();
	g_dump = getenv("KEEL_FUZZ_DUMP") != NULL;
	signal(SIGPIPE, SIG_IGN);
	keel_env_opts_init(&opts);
	opts.name = "iscsi_pdu_fuzz";
	opts.no_huge = true;
	opts.no_pci = true;
	opts.mem_size_mb = 256;
	FUZZ_CHECK(keel_env_init(&opts) == 0);
	FUZZ_CHECK(keel_thread_lib_init(NULL, 65535) == 0);
	g_app = keel_thread_create("fuzz", NULL);
	FUZZ_CHECK(g_app != NULL);
	keel_set_thread(g_app);
	keel_subsystem_init(init_done, &rc);
	for (i = 0; i < FUZZ_RPC_ROUNDS && rc == 1; i++) {
		poll_round();
	}
	FUZZ_CHECK(rc == 0);
	keel_rpc_set_state(KEEL_RPC_RUNTIME);

	tmp = getenv("TMPDIR");
	if (tmp == NULL || strlen(tmp) + sizeof("/keel-fuzz-pr.XXXXXX") > sizeof(g_pr_dir)) {
		tmp = "/tmp";
	}
	snprintf(g_pr_dir, sizeof(g_pr_dir), "%s/keel-fuzz-pr.XXXXXX", tmp);
	FUZZ_CHECK(mkdtemp(g_pr_dir) != NULL);
	keel_scsi_set_pr_dir(g_pr_dir);
	atexit(fuzz_cleanup);

	create_portal_group();
	FUZZ_CHECK(rpc_call("iscsi_create_initiator_group",
			    "{\"tag\": 1, \"initiators\": [\"ANY\"], \"netmasks\": [\"ANY\"]}",
			    true) == 0);
	FUZZ_CHECK(rpc_call("iscsi_create_auth_group",
			    "{\"tag\": 1, \"secrets\": [{\"user\": \"fuzzuser\", "
			    "\"secret\": \"fuzz-secret-1\", \"muser\": \"fuzztarget\", "
			    "\"msecret\": \"fuzz-msecret-2\"}]}",
			    true) == 0);
	/* Discovery offers CHAP too (not required). */
	FUZZ_CHECK(rpc_call("iscsi_set_discovery_auth", "{\"chap_group\": 1}", true) == 0);
	create_targets();
	for (i = 0; i < 1000; i++) {
		poll_round();
	}
	g_start_pdus = keel_mempool_count(g_iscsi.pdu_pool);
	g_start_tasks = keel_mempool_count(g_iscsi.task_pool);
	g_start_bufs = keel_mempool_count(g_iscsi.buf_pool);
	return 0;
}

/*
 * The client side: connect, send, and check what comes back.
 */
static int
client_connect(void)
{
	struct sockaddr_in src = {.sin_family = AF_INET};
	struct sockaddr_in dst = {.sin_family = AF_INET,
				  .sin_port = htons(g_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	/* 127.0.0.2 to 127.255.255.254, one per input. */
	uint32_t host = 2 + g_inputs % 0xfffffdu;
	int fd, one = 1;

	src.sin_addr.s_addr = htonl(0x7f000000u | host);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fd >= 0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	FUZZ_CHECK(bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0);
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
		FUZZ_CHECK(errno == EINPROGRESS);
	}
	return fd;
}

struct rsp_stream {
	uint8_t *buf;
	size_t len;
	bool overflow;   /* a PDU bigger than the buffer: checks stop there */
	bool hd_offered; /* the login answered HeaderDigest=CRC32C */
	bool dd_offered;
	bool hd; /* digests in force (full feature phase) */
	bool dd;
	bool logged_in;
	unsigned int pdus;
};

static bool
target_opcode(uint8_t op)
{
	switch (op) {
	case KEEL_ISCSI_OP_NOP_IN:
	case KEEL_ISCSI_OP_SCSI_RSP:
	case KEEL_ISCSI_OP_TASK_RSP:
	case KEEL_ISCSI_OP_LOGIN_RSP:
	case KEEL_ISCSI_OP_TEXT_RSP:
	case KEEL_ISCSI_OP_DATA_IN:
	case KEEL_ISCSI_OP_LOGOUT_RSP:
	case KEEL_ISCSI_OP_R2T:
	case KEEL_ISCSI_OP_ASYNC:
	case KEEL_ISCSI_OP_REJECT:
		return true;
	default:
		return false;
	}
}

static uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static bool
text_has(const uint8_t *text, size_t len, const char *pair)
{
	size_t n = strlen(pair), i = 0;

	while (i < len) {
		const uint8_t *end = memchr(text + i, '\0', len - i);
		size_t item = end != NULL ? (size_t)(end - text) - i : len - i;

		if (item == n && memcmp(text + i, pair, n) == 0) {
			return true;
		}
		i += item + 1;
	}
	return false;
}

/* A Login Response: note the digests agreed on; the last one starts the full feature phase. */
static void
rsp_login(struct rsp_stream *s, const uint8_t *bhs, const uint8_t *data, uint32_t dsl)
{
	if (text_has(data, dsl, "HeaderDigest=CRC32C")) {
		s->hd_offered = true;
	} else if (text_has(data, dsl, "HeaderDigest=None")) {
		s->hd_offered = false;
	}
	if (text_has(data, dsl, "DataDigest=CRC32C")) {
		s->dd_offered = true;
	} else if (text_has(data, dsl, "DataDigest=None")) {
		s->dd_offered = false;
	}
	/* Transit to full feature (NSG 3) with status 0. */
	if ((bhs[1] & 0x80) && (bhs[1] & 0x03) == 3 && bhs[36] == 0 && bhs[37] == 0) {
		s->logged_in = true;
		s->hd = s->hd_offered;
		s->dd = s->dd_offered;
	}
}

static void
rsp_dump(const struct rsp_stream *s, const uint8_t *bhs, uint32_t dsl)
{
	fprintf(stderr,
		"  <- op 0x%02x flags 0x%02x b2 0x%02x b3 0x%02x itt 0x%08x "
		"ttt 0x%08x dsl %u%s%s\n",
		bhs[0] & 0x3f, bhs[1], bhs[2], bhs[3],
		(uint32_t)bhs[16] << 24 | (uint32_t)bhs[17] << 16 | (uint32_t)bhs[18] << 8 |
			bhs[19],
		(uint32_t)bhs[20] << 24 | (uint32_t)bhs[21] << 16 | (uint32_t)bhs[22] << 8 |
			bhs[23],
		dsl, s->hd ? " hd" : "", s->dd ? " dd" : "");
}

/* Check every whole PDU in the buffer and drop it from there. */
static void
rsp_parse(struct rsp_stream *s)
{
	size_t off = 0;

	while (!s->overflow && s->len - off >= KEEL_ISCSI_BHS_LEN) {
		const uint8_t *bhs = s->buf + off;
		uint32_t ahs = bhs[4] * 4u;
		uint32_t dsl = (uint32_t)bhs[5] << 16 | (uint32_t)bhs[6] << 8 | bhs[7];
		size_t hdr = KEEL_ISCSI_BHS_LEN + ahs + (s->hd ? 4 : 0);
		size_t total = hdr + KEEL_ALIGN_CEIL(dsl, 4) + (s->dd && dsl > 0 ? 4 : 0);
		uint8_t op = bhs[0] & 0x3f;

		if (total > FUZZ_RSP_BUF_BYTES) {
			s->overflow = true;
			break;
		}
		if (s->len - off < total) {
			break;
		}
		if (g_dump) {
			rsp_dump(s, bhs, dsl);
		}
		FUZZ_CHECK(target_opcode(op));
		if (s->hd) {
			struct iovec v = {(void *)bhs, hdr - 4};

			FUZZ_CHECK(keel_crc32c_iov(&v, 1, 0) == get_le32(bhs + hdr - 4));
		}
		if (s->dd && dsl > 0) {
			struct iovec v = {(void *)(bhs + hdr), KEEL_ALIGN_CEIL(dsl, 4)};

			FUZZ_CHECK(keel_crc32c_iov(&v, 1, 0) == get_le32(bhs + total - 4));
		}
		if (op == KEEL_ISCSI_OP_LOGIN_RSP) {
			rsp_login(s, bhs, bhs + hdr, dsl);
		}
		s->pdus++;
		off += total;
	}
	if (s->overflow) {
		s->len = 0;
		return;
	}
	memmove(s->buf, s->buf + off, s->len - off);
	s->len -= off;
}

/* Read what the target sent; returns the bytes read, and sets *eof once it has closed. */
static size_t
client_read(int fd, struct rsp_stream *s, bool *eof)
{
	uint8_t sink[4096];
	size_t total = 0;
	ssize_t n;

	for (;;) {
		bool keep = !s->overflow && s->len < FUZZ_RSP_BUF_BYTES;

		n = recv(fd, keep ? s->buf + s->len : sink,
			 keep ? FUZZ_RSP_BUF_BYTES - s->len : sizeof(sink), 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			*eof = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
			break;
		}
		total += (size_t)n;
		if (keep) {
			s->len += (size_t)n;
			rsp_parse(s);
		}
	}
	return total;
}

/* Once the client has gone, the connection must be freed and every pool full again, and the
 * threads idle (no message still on its way to what was freed: it would run during the next
 * input, which would then be blamed for it). */
static void
check_teardown(void)
{
	size_t pdus = 0, tasks = 0, bufs = 0;
	uint32_t sessions = 0;
	unsigned int quiet = 0;
	bool conns = true;
	int i;

	for (i = 0; i < FUZZ_TEARDOWN_ROUNDS; i++) {
		pthread_mutex_lock(&g_iscsi.lock);
		conns = !TAILQ_EMPTY(&g_iscsi.conns);
		sessions = g_iscsi.num_sessions;
		pthread_mutex_unlock(&g_iscsi.lock);
		pdus = keel_mempool_count(g_iscsi.pdu_pool);
		tasks = keel_mempool_count(g_iscsi.task_pool);
		bufs = keel_mempool_count(g_iscsi.buf_pool);
		if (!conns && sessions == 0 && pdus == g_start_pdus && tasks == g_start_tasks &&
		    bufs == g_start_bufs && quiet >= FUZZ_SETTLE_ROUNDS) {
			return;
		}
		quiet = poll_round() != 0 ? 0 : quiet + 1;
	}
	fprintf(stderr,
		"iscsi_pdu_fuzz: leak: after the client closed, %s, %u sessions, "
		"%zu of %zu PDUs, %zu of %zu tasks, %zu of %zu data buffers free\n",
		conns ? "a connection is still there" : "no connection", sessions, pdus,
		g_start_pdus, tasks, g_start_tasks, bufs, g_start_bufs);
	abort();
}

/*
 * Sending. The input is cut where the target's framing would cut it (the length of each PDU
 * from its header, with the digests the target agreed to); before each PDU that is not for
 * immediate delivery (I bit clear) the target is left to finish what it was doing, as an
 * initiator waits for its answers. Immediate PDUs (task management, NOP-Out, and whatever the
 * input marks so) go in the same write as the PDU before them, so that the target reads them
 * together and they can overtake commands still running.
 */
static size_t
input_pdu_len(const uint8_t *p, size_t left, const struct rsp_stream *s)
{
	size_t len, dsl;

	if (left < KEEL_ISCSI_BHS_LEN) {
		return left;
	}
	dsl = (size_t)p[5] << 16 | (size_t)p[6] << 8 | p[7];
	len = KEEL_ISCSI_BHS_LEN + p[4] * 4u + (s->hd ? 4 : 0) + KEEL_ALIGN_CEIL(dsl, 4) +
	      (s->dd && dsl > 0 ? 4 : 0);
	return KEEL_MIN(len, left);
}

/* Poll until nothing moves for rounds rounds, or the target closes. */
static void
settle(int fd, struct rsp_stream *s, unsigned int rounds, bool *eof)
{
	unsigned int quiet = 0;
	int work;

	while (!*eof && quiet < rounds) {
		work = poll_round();
		work += client_read(fd, s, eof) > 0;
		quiet = work > 0 ? 0 : quiet + 1;
	}
}

/* Send len bytes; false if the target closed the connection or stopped reading. */
static bool
send_all(int fd, const uint8_t *p, size_t len, struct rsp_stream *s, bool *eof)
{
	unsigned int quiet = 0;
	size_t sent = 0;
	ssize_t n;
	int work;

	while (sent < len && !*eof && quiet < FUZZ_QUIET_ROUNDS) {
		work = 0;
		n = send(fd, p + sent, len - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			work++;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR && errno != ENOTCONN) {
			return false;
		}
		work += poll_round();
		work += client_read(fd, s, eof) > 0;
		quiet = work > 0 ? 0 : quiet + 1;
	}
	return sent == len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rsp_stream s = {0};
	bool eof = false, immediate = false;
	size_t pos = 0, len;
	int fd;

	if (g_dirty) {
		reset_targets();
		g_dirty = false;
	}
	s.buf = malloc(FUZZ_RSP_BUF_BYTES);
	FUZZ_CHECK(s.buf != NULL);
	g_rand = FUZZ_RAND_SEED;
	fd = client_connect();
	g_inputs++;
	while (pos < size && !eof) {
		if ((data[pos] & KEEL_ISCSI_IMMEDIATE) == 0) {
			settle(fd, &s, FUZZ_SETTLE_ROUNDS, &eof);
		}
		/* This PDU and the immediate ones after it go in one write. */
		len = input_pdu_len(data + pos, size - pos, &s);
		immediate = (data[pos] & KEEL_ISCSI_IMMEDIATE) != 0;
		while (pos + len < size && (data[pos + len] & KEEL_ISCSI_IMMEDIATE) != 0) {
			len += input_pdu_len(data + pos + len, size - pos - len, &s);
			immediate = true;
		}
		if (!send_all(fd, data + pos, len, &s, &eof)) {
			break;
		}
		pos += len;
	}
	/* The end of the stream waits like a PDU that is not immediate. */
	if (!immediate) {
		settle(fd, &s, FUZZ_SETTLE_ROUNDS, &eof);
	}
	shutdown(fd, SHUT_WR);
	settle(fd, &s, FUZZ_QUIET_ROUNDS, &eof);
	/* Closed by the target, or quiet: the client goes (a reset, if bytes are unread). */
	close(fd);
	check_teardown();
	if (s.logged_in) {
		g_dirty = true;
	}
	if (g_dump) {
		fprintf(stderr, "  %u PDUs from the target, %s%s\n", s.pdus,
			eof ? "closed by the target" : "quiet; closed by the client",
			s.logged_in ? ", logged in" : "");
	}
	free(s.buf);
	return 0;
}
