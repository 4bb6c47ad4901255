/*
 * Fuzz target for the JSON-RPC server (lib/jsonrpc) and the method table behind it (lib/rpc):
 * the input is the byte stream one client writes to the RPC socket. A real server listens on a
 * Unix socket in a private directory; each input is sent on a new connection, the write side is
 * closed, and the server is polled until it has answered and closed the connection. Some
 * methods answer only after the poll (as handlers that complete later do); every line the
 * server writes back must be a well-formed JSON-RPC response.
 */
#include "keel/stdinc.h"
#include "keel/jsonrpc.h"
#include "keel/rpc.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <json.h>

#include "fuzz_common.h"

/* Small, so that inputs of fuzzing size reach the "request too large" paths. */
#define FUZZ_MAX_REQUEST_BYTES 4096
/* Requests answered after the poll that received them; more are answered at once. */
#define FUZZ_MAX_DEFERRED 256
/* Polls in a row in which nothing moves before the server is taken to be stuck. */
#define FUZZ_MAX_IDLE_POLLS 10000
/* Response bytes kept for checking; a longer stream is checked up to there. */
#define FUZZ_MAX_RESPONSE_BYTES (1024 * 1024)

static struct keel_jsonrpc_server *g_server;
static char g_dir[64];
static char g_path[sizeof(g_dir) + 16];
static struct keel_jsonrpc_request *g_deferred[FUZZ_MAX_DEFERRED];
static int g_deferred_codes[FUZZ_MAX_DEFERRED];
static unsigned int g_num_deferred;
static bool g_dump; /* KEEL_FUZZ_DUMP set: copy the server's answers to stderr */

/*
 * Methods. "fuzz_echo" returns its value, "fuzz_decode" decodes a parameter of every type and
 * returns what it decoded, "fuzz_later" answers after the poll (an error if given a code), and
 * "fuzz_runtime_only" is refused in the startup state the server stays in. The built-in
 * methods of lib/rpc (rpc_get_methods, log_*, their old names) are there too.
 */

struct echo_req {
	struct json_object *value;
};

static const struct keel_rpc_field g_echo_fields[] = {
	KEEL_RPC_ANY(struct echo_req, value, KEEL_OPTIONAL, "returned as the result"),
	KEEL_RPC_END,
};

static void
rpc_fuzz_echo(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct echo_req r = {0};

	if (keel_rpc_decode_params(req, params, g_echo_fields, &r) != 0) {
		return;
	}
	/* The result outlives the request's parsed value: take a reference. */
	keel_jsonrpc_send_result(req, json_object_get(r.value));
}
KEEL_RPC_REGISTER("fuzz_echo", rpc_fuzz_echo, g_echo_fields, KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME);

struct decode_req {
	char *str;
	bool flag;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	uint64_t u64;
	double dbl;
	struct json_object *obj;
	struct json_object *arr;
};

static const struct keel_rpc_field g_decode_fields[] = {
	KEEL_RPC_STR(struct decode_req, str, KEEL_REQUIRED, "a string"),
	KEEL_RPC_BOOL(struct decode_req, flag, KEEL_OPTIONAL, "a boolean"),
	KEEL_RPC_I32(struct decode_req, i32, KEEL_OPTIONAL, "an int32"),
	KEEL_RPC_U32(struct decode_req, u32, KEEL_OPTIONAL, "a uint32"),
	KEEL_RPC_I64(struct decode_req, i64, KEEL_OPTIONAL, "an int64"),
	KEEL_RPC_U64(struct decode_req, u64, KEEL_OPTIONAL, "a uint64"),
	KEEL_RPC_DOUBLE(struct decode_req, dbl, KEEL_OPTIONAL, "a double"),
	KEEL_RPC_OBJ(struct decode_req, obj, KEEL_OPTIONAL, "an object"),
	KEEL_RPC_ARRAY(struct decode_req, arr, KEEL_OPTIONAL, "an array"),
	KEEL_RPC_END,
};

static void
rpc_fuzz_decode(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct decode_req r = {0};
	struct json_object *res;

	if (keel_rpc_decode_params(req, params, g_decode_fields, &r) != 0) {
		return;
	}
	res = json_object_new_object();
	if (res != NULL) {
		json_object_object_add(res, "str", json_object_new_string(r.str));
		json_object_object_add(res, "flag", json_object_new_boolean(r.flag));
		json_object_object_add(res, "i32", json_object_new_int(r.i32));
		json_object_object_add(res, "u32", json_object_new_int64(r.u32));
		json_object_object_add(res, "i64", json_object_new_int64(r.i64));
		json_object_object_add(res, "u64", json_object_new_uint64(r.u64));
		json_object_object_add(res, "dbl", json_object_new_double(r.dbl));
		json_object_object_add(res, "obj", json_object_get(r.obj));
		json_object_object_add(res, "arr", json_object_get(r.arr));
	}
	keel_rpc_free_decoded(g_decode_fields, &r);
	keel_jsonrpc_send_result(req, res);
}
KEEL_RPC_REGISTER("fuzz_decode", rpc_fuzz_decode, g_decode_fields,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME);

struct later_req {
	int32_t code;
};

static const struct keel_rpc_field g_later_fields[] = {
	KEEL_RPC_I32(struct later_req, code, KEEL_OPTIONAL, "error code to answer with"),
	KEEL_RPC_END,
};

static void
answer_later(struct keel_jsonrpc_request *req, int code)
{
	if (code != 0) {
		keel_jsonrpc_send_error(req, code, "error %d, as asked", code);
	} else {
		keel_jsonrpc_send_bool_response(req, true);
	}
}

static void
rpc_fuzz_later(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct later_req r = {0};

	if (keel_rpc_decode_params(req, params, g_later_fields, &r) != 0) {
		return;
	}
	if (g_num_deferred == FUZZ_MAX_DEFERRED) {
		answer_later(req, r.code);
		return;
	}
	g_deferred[g_num_deferred] = req;
	g_deferred_codes[g_num_deferred] = r.code;
	g_num_deferred++;
}
KEEL_RPC_REGISTER("fuzz_later", rpc_fuzz_later, g_later_fields,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME);

static void
rpc_fuzz_runtime_only(struct keel_jsonrpc_request *req, struct json_object *params)
{
	keel_jsonrpc_send_bool_response(req, true);
}
KEEL_RPC_REGISTER("fuzz_runtime_only", rpc_fuzz_runtime_only, NULL, KEEL_RPC_RUNTIME);

/* Answer what fuzz_later kept, oldest first; returns how many. */
static unsigned int
answer_deferred(void)
{
	unsigned int i, n = g_num_deferred;

	/* Answering may not call a handler, but keep the list consistent if it ever did. */
	g_num_deferred = 0;
	for (i = 0; i < n; i++) {
		answer_later(g_deferred[i], g_deferred_codes[i]);
	}
	return n;
}

/*
 * Set-up and the client side.
 */

static void
fuzz_cleanup(void)
{
	answer_deferred();
	keel_jsonrpc_server_shutdown(g_server);
	g_server = NULL;
	rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	int rc;

	fuzz_setup_log();
	g_dump = getenv("KEEL_FUZZ_DUMP") != NULL;
	if (tmp == NULL || strlen(tmp) + sizeof("/keel-fuzz-rpc.XXXXXX") > sizeof(g_dir)) {
		tmp = "/tmp";
	}
	snprintf(g_dir, sizeof(g_dir), "%s/keel-fuzz-rpc.XXXXXX", tmp);
	if (mkdtemp(g_dir) == NULL) {
		fprintf(stderr, "jsonrpc_fuzz: mkdtemp %s: %s\n", g_dir, strerror(errno));
		abort();
	}
	snprintf(g_path, sizeof(g_path), "%s/rpc.sock", g_dir);
	g_server = keel_jsonrpc_server_listen(g_path, keel_rpc_handle_request, &rc);
	if (g_server == NULL) {
		fprintf(stderr, "jsonrpc_fuzz: listen on %s: %s\n", g_path, strerror(-rc));
		rmdir(g_dir);
		abort();
	}
	keel_jsonrpc_server_set_max_request(g_server, FUZZ_MAX_REQUEST_BYTES);
	atexit(fuzz_cleanup);
	return 0;
}

static int
client_connect(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fd >= 0);
	memcpy(addr.sun_path, g_path, strlen(g_path) + 1);
	FUZZ_CHECK(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	return fd;
}

/* Read what the server wrote (keeping the first bytes); set *eof once it has closed. */
static size_t
client_read(int fd, char *resp, size_t *got, bool *eof)
{
	size_t total = 0, room;
	char sink[4096], *dst;
	ssize_t n;

	for (;;) {
		if (*got < FUZZ_MAX_RESPONSE_BYTES) {
			dst = resp + *got;
			room = FUZZ_MAX_RESPONSE_BYTES - *got;
		} else {
			dst = sink;
			room = sizeof(sink);
		}
		n = recv(fd, dst, room, 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			*eof = n == 0 || errno != EAGAIN;
			return total;
		}
		if (dst != sink) {
			*got += (size_t)n;
		}
		total += (size_t)n;
	}
}

/* One response: an object with "jsonrpc": "2.0", an "id", and a result or an error. */
static void
check_response(struct json_object *resp)
{
	struct json_object *v;

	FUZZ_CHECK(json_object_is_type(resp, json_type_object));
	FUZZ_CHECK(json_object_object_get_ex(resp, "jsonrpc", &v) &&
		   strcmp(json_object_get_string(v), "2.0") == 0);
	FUZZ_CHECK(json_object_object_get_ex(resp, "id", NULL));
	if (json_object_object_get_ex(resp, "error", &v)) {
		FUZZ_CHECK(!json_object_object_get_ex(resp, "result", NULL));
		FUZZ_CHECK(json_object_object_get_ex(v, "code", NULL));
		FUZZ_CHECK(json_object_object_get_ex(v, "message", NULL));
	} else {
		FUZZ_CHECK(json_object_object_get_ex(resp, "result", NULL));
	}
}

/* Every line the server wrote: a response, or a non-empty array of responses (a batch). */
static void
check_responses(char *buf, size_t len, bool complete)
{
	struct json_object *line;
	char *p = buf, *nl;
	size_t i;

	while ((nl = memchr(p, '\n', (size_t)(buf + len - p))) != NULL) {
		*nl = '\0';
		line = json_tokener_parse(p);
		FUZZ_CHECK(line != NULL);
		if (json_object_is_type(line, json_type_array)) {
			FUZZ_CHECK(json_object_array_length(line) > 0);
			for (i = 0; i < json_object_array_length(line); i++) {
				check_response(json_object_array_get_idx(line, i));
			}
		} else {
			check_response(line);
		}
		json_object_put(line);
		p = nl + 1;
	}
	/* Each response ends with a newline. */
	FUZZ_CHECK(!complete || p == buf + len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t sent = 0, got = 0;
	bool write_done = false, eof = false;
	unsigned int idle = 0;
	char *resp;
	ssize_t n;
	int fd, work;

	resp = malloc(FUZZ_MAX_RESPONSE_BYTES);
	if (resp == NULL) {
		return 0;
	}
	fd = client_connect();
	while (!eof) {
		work = 0;
		if (!write_done && sent < size) {
			n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0) {
				sent += (size_t)n;
				work++;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				/* The server closed the connection early (after a parse error). */
				write_done = true;
			}
		}
		if (!write_done && sent == size) {
			shutdown(fd, SHUT_WR);
			write_done = true;
		}
		work += keel_jsonrpc_server_poll(g_server);
		work += (int)answer_deferred();
		work += client_read(fd, resp, &got, &eof) > 0;
		idle = work > 0 ? 0 : idle + 1;
		/* The connection must end once the client has sent everything: a hang is a bug. */
		FUZZ_CHECK(idle < FUZZ_MAX_IDLE_POLLS);
	}
	close(fd);
	/* Let the server free the closed connection. */
	keel_jsonrpc_server_poll(g_server);
	answer_deferred();
	keel_jsonrpc_server_poll(g_server);
	if (g_dump) {
		fwrite(resp, 1, got, stderr);
	}
	check_responses(resp, got, got < FUZZ_MAX_RESPONSE_BYTES);
	free(resp);

	/* The built-in log methods may have changed the log levels and flags: restore them. */
	fuzz_setup_log();
	return 0;
}
