/*
 * Tests of the JSON-RPC server: a real server on a Unix socket in a temporary directory,
 * driven by real client sockets from the test while the test polls the server.
 */
#include "keel/stdinc.h"

#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>

#include "ut.h"
#include "jsonrpc/jsonrpc_server.c"
#include "jsonrpc/jsonrpc_request.c"
#include "ut_client.h"

#define UT_MAX_DEFERRED 256

static char g_dir[128];
static char g_path[192];
static struct keel_jsonrpc_server *g_server;
static int g_calls;
static char g_last_method[64];
static struct keel_jsonrpc_request *g_deferred[UT_MAX_DEFERRED];
static int g_num_deferred;

/* The handler under test: a few methods that answer now, later, or never (notifications). */
static void
ut_handle_request(struct keel_jsonrpc_request *req, const char *method, struct json_object *params)
{
	g_calls++;
	snprintf(g_last_method, sizeof(g_last_method), "%s", method);
	if (strcmp(method, "echo") == 0) {
		keel_jsonrpc_send_result(req, json_object_get(params));
	} else if (strcmp(method, "defer") == 0) {
		CU_ASSERT_FATAL(g_num_deferred < UT_MAX_DEFERRED);
		g_deferred[g_num_deferred++] = req;
	} else if (strcmp(method, "stop") == 0) {
		keel_jsonrpc_send_bool_response(req, true);
		keel_jsonrpc_server_shutdown(g_server);
	} else if (strcmp(method, "true") == 0) {
		keel_jsonrpc_send_bool_response(req, true);
	} else {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_METHOD_NOT_FOUND,
					"Method not found");
	}
}

static void
ut_poll_once(void)
{
	if (keel_jsonrpc_server_poll(g_server) == 0) {
		usleep(100);
	}
}

/* Poll for ms milliseconds, and at least 10 times however slow the machine is. */
static void
ut_poll_for(int ms)
{
	int64_t end = ut_now_ms() + ms;
	int i;

	for (i = 0; i < 10 || ut_now_ms() < end; i++) {
		ut_poll_once();
	}
}

static bool
ut_no_connections(void)
{
	return g_server->num_conns == 0 && TAILQ_EMPTY(&g_server->closed);
}

static bool
ut_poll_until_no_connections(void)
{
	int64_t end = ut_now_ms() + UT_TIMEOUT_MS;

	while (!ut_no_connections() && ut_now_ms() < end) {
		ut_poll_once();
	}
	return ut_no_connections();
}

static struct ut_client *
ut_connect(void)
{
	return ut_connect_path(g_path);
}

/* Send one request, expect one error response with code and the given id (-1: JSON null). */
static void
ut_expect_error(const char *request, int code, int id)
{
	struct ut_client *c = ut_connect();
	struct json_object *resp;

	ut_send(c, request);
	resp = ut_recv(c);
	CU_ASSERT(ut_error_code(resp) == code);
	CU_ASSERT(ut_has(resp, "id"));
	if (id < 0) {
		CU_ASSERT(ut_get(resp, "id") == NULL);
	} else {
		CU_ASSERT(json_object_get_int(ut_get(resp, "id")) == id);
	}
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_get(resp, "jsonrpc")), "2.0");
	json_object_put(resp);
	ut_close(c);
}

static void
ut_answer_deferred(void)
{
	int i;

	for (i = 0; i < g_num_deferred; i++) {
		keel_jsonrpc_send_result(g_deferred[i], json_object_new_int(i));
	}
	g_num_deferred = 0;
}

static int
ut_setup(void)
{
	const char *tmp = getenv("TMPDIR");
	int rc;

	snprintf(g_dir, sizeof(g_dir), "%s/keel_jsonrpc_ut.XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(g_dir) == NULL) {
		return -1;
	}
	snprintf(g_path, sizeof(g_path), "%s/rpc.sock", g_dir);
	g_server = keel_jsonrpc_server_listen(g_path, ut_handle_request, &rc);
	return g_server != NULL ? 0 : -1;
}

static int
ut_teardown(void)
{
	keel_jsonrpc_server_shutdown(g_server);
	g_server = NULL;
	return rmdir(g_dir);
}

/* Tests. */

static void
simple_call_returns_result_with_id(void)
{
	struct ut_client *c = ut_connect();
	struct json_object *resp;
	char *line;

	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\","
		   "\"params\":{\"path\":\"/a/b\"}}");
	line = ut_recv_line_text(c, UT_TIMEOUT_MS);
	CU_ASSERT_FATAL(line != NULL);
	/* Compact, one line, slashes left alone. */
	CU_ASSERT_STRING_EQUAL(line,
			       "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"path\":\"/a/b\"}}");
	free(line);

	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"true\"}");
	resp = ut_recv(c);
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_get(resp, "id")), "abc");
	CU_ASSERT(json_object_get_boolean(ut_get(resp, "result")) == true);
	json_object_put(resp);

	/* Absent params reach the handler as NULL and come back as null. */
	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":2.5,\"method\":\"echo\"}");
	resp = ut_recv(c);
	CU_ASSERT(json_object_get_double(ut_get(resp, "id")) == 2.5);
	CU_ASSERT(ut_has(resp, "result") && ut_get(resp, "result") == NULL);
	json_object_put(resp);
	ut_close(c);
	CU_ASSERT(ut_poll_until_no_connections());
}

static void
null_id_is_answered_with_null_id(void)
{
	struct ut_client *c = ut_connect();
	struct json_object *resp;

	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"true\"}");
	resp = ut_recv(c);
	CU_ASSERT(ut_has(resp, "id") && ut_get(resp, "id") == NULL);
	CU_ASSERT(json_object_get_boolean(ut_get(resp, "result")));
	json_object_put(resp);
	ut_close(c);
}

static void
request_split_byte_by_byte_is_parsed(void)
{
	const char *req = "  {\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\","
			  "\"params\":[1,\"x\\u00e9\",12345]}";
	struct ut_client *c = ut_connect();
	struct json_object *resp;
	size_t i;

	g_calls = 0;
	for (i = 0; i < strlen(req); i++) {
		ut_send_len(c, req + i, 1);
		ut_poll_once();
		ut_poll_once();
	}
	resp = ut_recv(c);
	CU_ASSERT(g_calls == 1);
	CU_ASSERT(json_object_get_int(ut_get(resp, "id")) == 7);
	CU_ASSERT(json_object_array_length(ut_get(resp, "result")) == 3);
	CU_ASSERT(json_object_get_int(json_object_array_get_idx(ut_get(resp, "result"), 2)) ==
		  12345);
	json_object_put(resp);
	ut_close(c);
}

static void
two_pipelined_requests_in_one_write_are_both_answered(void)
{
	struct ut_client *c = ut_connect();
	struct json_object *resp;

	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[1]}\n\n "
		   "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\",\"params\":[2]}"
		   "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\",\"params\":[3]}\n");
	resp = ut_recv(c);
	CU_ASSERT(json_object_get_int(ut_get(resp, "id")) == 1);
	json_object_put(resp);
	resp = ut_recv(c);
	CU_ASSERT(json_object_get_int(ut_get(resp, "id")) == 2);
	json_object_put(resp);
	resp = ut_recv(c);
	CU_ASSERT(json_object_get_int(ut_get(resp, "id")) == 3);
	json_object_put(resp);
	ut_close(c);
}

static void
batch_answers_every_request_but_not_notifications(void)
{
	struct ut_client *c = ut_connect();
	struct json_object *resp, *elem;
	int seen = 0;
	size_t i;

	ut_send(c, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"true\"},"
		   "{\"jsonrpc\":\"2.0\",\"method\":\"true\"},"
		   "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"},"
		   "5,"
		   "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"defer\"}]");
	/* The batch answer waits for the deferred element. */
	CU_ASSERT(ut_recv_nothing(c, 50));
	CU_ASSERT_FATAL(g_num_deferred == 1);
	ut_answer_deferred();

	resp = ut_recv(c);
	CU_ASSERT_FATAL(json_object_is_type(resp, json_type_array));
	CU_ASSERT(json_object_array_length(resp) == 4);
	for (i = 0; i < json_object_array_length(resp); i++) {
		elem = json_object_array_get_idx(resp, i);
		if (ut_get(elem, "id") == NULL) {
			CU_ASSERT(ut_error_code(elem) == KEEL_JSONRPC_ERROR_INVALID_REQUEST);
			seen |= 8;
			continue;
		}
		switch (json_object_get_int(ut_get(elem, "id"))) {
		case 1:
			CU_ASSERT(json_object_get_boolean(ut_get(elem, "result")));
			seen |= 1;
			break;
		case 2:
			CU_ASSERT(ut_error_code(elem) == KEEL_JSONRPC_ERROR_METHOD_NOT_FOUND);
			seen |= 2;
			break;
		case 3:
			CU_ASSERT(json_object_get_int(ut_get(elem, "result")) == 0);
			seen |= 4;
			break;
		default:
			CU_FAIL("unexpected id");
		}
	}
	CU_ASSERT(seen == 15);
	json_object_put(resp);
	ut_close(c);
	CU_ASSERT(ut_poll_until_no_connections());
}

static void
all_notification_batch_sends_nothing(void)
{
	struct ut_client *c = ut_connect();
	struct json_object *resp;

	g_calls = 0;
	ut_send(c, "[{\"jsonrpc\":\"2.0\",\"method\":\"true\"},"
		   "{\"jsonrpc\":\"2.0\",\"method\":\"x\"}]");
	CU_ASSERT(ut_recv_nothing(c, 50));
	CU_ASSERT(g_calls == 2);
	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"true\"}");
	resp = ut_recv(c);
	CU_ASSERT(json_object_get_int(ut_get(resp, "id")) == 9);
	json_object_put(resp);
	ut_close(c);
}

static void
empty_batch_is_one_invalid_request_error(void)
{
	ut_expect_error("[]", KEEL_JSONRPC_ERROR_INVALID_REQUEST, -1);
	ut_expect_error(" [ ] ", KEEL_JSONRPC_ERROR_INVALID_REQUEST, -1);
}

static void
notification_gets_no_response(void)
{
	struct ut_client *c = ut_connect();
	struct json_object *resp;

	g_calls = 0;
	ut_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1]}");
	ut_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"missing\"}");
	CU_ASSERT(ut_recv_nothing(c, 50));
	CU_ASSERT(g_calls == 2);
	CU_ASSERT_STRING_EQUAL(g_last_method, "missing");
	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"true\"}");
	resp = ut_recv(c);
	CU_ASSERT(json_object_get_int(ut_get(resp, "id")) == 4);
	json_object_put(resp);
	ut_close(c);
}

static void
truncated_json_then_close_frees_the_connection(void)
{
	struct ut_client *c = ut_connect();
	struct json_object *resp;

	g_calls = 0;
	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ec");
	ut_poll_for(20);
	ut_close(c);
	CU_ASSERT(ut_poll_until_no_connections());
	CU_ASSERT(g_calls == 0);

	/* A client that only stops sending hears why, then the server closes. */
	c = ut_connect();
	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ec");
	ut_poll_for(20);
	shutdown(c->fd, SHUT_WR);
	resp = ut_recv(c);
	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_PARSE_ERROR);
	CU_ASSERT(ut_has(resp, "id") && ut_get(resp, "id") == NULL);
	json_object_put(resp);
	CU_ASSERT(ut_wait_eof(c));
	ut_close(c);
	CU_ASSERT(ut_poll_until_no_connections());
	CU_ASSERT(g_calls == 0);
}

static void
half_closed_client_still_gets_its_answers(void)
{
	struct ut_client *c = ut_connect();
	struct json_object *resp;

	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"defer\"}\n");
	shutdown(c->fd, SHUT_WR);
	ut_poll_for(20);
	CU_ASSERT_FATAL(g_num_deferred == 1);
	ut_answer_deferred();
	resp = ut_recv(c);
	CU_ASSERT(json_object_get_int(ut_get(resp, "id")) == 1);
	json_object_put(resp);
	CU_ASSERT(ut_wait_eof(c));
	ut_close(c);
	CU_ASSERT(ut_poll_until_no_connections());
}

static char *
ut_nested(int depth)
{
	const char *head = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":";
	size_t len = strlen(head) + 2 * (size_t)depth + 2;
	char *s = malloc(len + 1);
	char *p = s;
	int i;

	p += sprintf(p, "%s", head);
	for (i = 0; i < depth; i++) {
		*p++ = '[';
	}
	for (i = 0; i < depth; i++) {
		*p++ = ']';
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

static void
deeply_nested_json_is_parsed_up_to_a_limit(void)
{
	struct ut_client *c = ut_connect();
	struct json_object *resp;
	char *req;

	req = ut_nested(JSONRPC_MAX_DEPTH - 2);
	ut_send(c, req);
	free(req);
	resp = ut_recv(c);
	CU_ASSERT(json_object_is_type(ut_get(resp, "result"), json_type_array));
	json_object_put(resp);

	req = ut_nested(100000);
	ut_send(c, req);
	free(req);
	resp = ut_recv(c);
	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_PARSE_ERROR);
	json_object_put(resp);
	CU_ASSERT(ut_wait_eof(c));
	ut_close(c);
	CU_ASSERT(ut_poll_until_no_connections());
}

static void
request_over_the_size_limit_is_refused_and_closed(void)
{
	const char *head = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[\"";
	struct ut_client *c;
	struct json_object *resp;
	char req[4096];
	size_t len;

	keel_jsonrpc_server_set_max_request(g_server, 1024);

	/* Just under the limit: fine. */
	c = ut_connect();
	len = strlen(head);
	memcpy(req, head, len);
	memset(req + len, 'a', 1000 - len - 3);
	strcpy(req + 1000 - 3, "\"]}");
	CU_ASSERT(strlen(req) == 1000);
	ut_send(c, req);
	resp = ut_recv(c);
	CU_ASSERT(ut_has(resp, "result"));
	json_object_put(resp);

	/* Over it, sent in pieces: one error, then the connection closes. */
	memset(req + len, 'a', 3000 - len);
	strcpy(req + 3000, "\"]}");
	g_calls = 0;
	ut_send_len(c, req, 500);
	ut_poll_for(10);
	ut_send(c, req + 500);
	resp = ut_recv(c);
	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_INVALID_REQUEST);
	CU_ASSERT_STRING_EQUAL(ut_error_message(resp), "request exceeds 1024 bytes");
	CU_ASSERT(ut_has(resp, "id") && ut_get(resp, "id") == NULL);
	json_object_put(resp);
	CU_ASSERT(ut_wait_eof(c));
	CU_ASSERT(g_calls == 0);
	ut_close(c);
	CU_ASSERT(ut_poll_until_no_connections());

	keel_jsonrpc_server_set_max_request(g_server, 0);
	CU_ASSERT(g_server->max_request_bytes == KEEL_JSONRPC_MAX_REQUEST_BYTES);
}

static void
invalid_json_and_invalid_utf8_are_parse_errors(void)
{
	struct ut_client *c;

	ut_expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\","
			"\"params\":[\"\xff\xfe\"]}",
			KEEL_JSONRPC_ERROR_PARSE_ERROR, -1);
	ut_expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\","
			"\"params\":[\"\xc3\x28\"]}",
			KEEL_JSONRPC_ERROR_PARSE_ERROR, -1);
	ut_expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,,}", KEEL_JSONRPC_ERROR_PARSE_ERROR, -1);
	ut_expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",}",
			KEEL_JSONRPC_ERROR_PARSE_ERROR, -1);
	ut_expect_error("nonsense", KEEL_JSONRPC_ERROR_PARSE_ERROR, -1);

	/* The stream cannot be resynchronised: the server closes it. */
	c = ut_connect();
	ut_send(c, "{]");
	CU_ASSERT(ut_wait_eof(c));
	ut_close(c);
	CU_ASSERT(ut_poll_until_no_connections());
}

static void
wrong_member_types_are_invalid_requests(void)
{
	const int inv = KEEL_JSONRPC_ERROR_INVALID_REQUEST;

	ut_expect_error("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"true\"}", inv, 1);
	ut_expect_error("{\"jsonrpc\":2.0,\"id\":2,\"method\":\"true\"}", inv, 2);
	ut_expect_error("{\"id\":3,\"method\":\"true\"}", inv, 3);
	ut_expect_error("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":5}", inv, 4);
	ut_expect_error("{\"jsonrpc\":\"2.0\",\"id\":5}", inv, 5);
	ut_expect_error("{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"true\",\"params\":\"x\"}", inv,
			6);
	ut_expect_error("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"true\",\"params\":3}", inv, 7);
	ut_expect_error("{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"true\",\"params\":null}", inv,
			8);
	/* An id that cannot be one is answered with a null id. */
	ut_expect_error("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"true\"}", inv, -1);
	ut_expect_error("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"true\"}", inv, -1);
	ut_expect_error("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"true\"}", inv, -1);
	/* Not an object; an invalid request without an id is still answered. A bare number
	 * ends only at the next byte. */
	ut_expect_error("5\n", inv, -1);
	ut_expect_error("\"str\"", inv, -1);
	ut_expect_error("null ", inv, -1);
	ut_expect_error("{\"jsonrpc\":\"2.0\",\"method\":7}", inv, -1);
}

static void
fifty_clients_at_once_are_all_served(void)
{
	struct ut_client *c[50];
	struct json_object *resp, *elem;
	char req[128];
	int i;

	for (i = 0; i < 50; i++) {
		c[i] = ut_connect();
	}
	for (i = 0; i < 50; i++) {
		snprintf(req, sizeof(req),
			 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"echo\","
			 "\"params\":[%d]}",
			 1000 + i, i);
		ut_send(c[i], req);
	}
	for (i = 0; i < 1000 && g_server->num_conns < 50; i++) {
		ut_poll_once();
	}
	CU_ASSERT(g_server->num_conns == 50);
	for (i = 49; i >= 0; i--) {
		resp = ut_recv(c[i]);
		CU_ASSERT(json_object_get_int(ut_get(resp, "id")) == 1000 + i);
		elem = json_object_array_get_idx(ut_get(resp, "result"), 0);
		CU_ASSERT(json_object_get_int(elem) == i);
		json_object_put(resp);
	}
	for (i = 0; i < 50; i++) {
		ut_close(c[i]);
	}
	CU_ASSERT(ut_poll_until_no_connections());
}

static void
busy_client_is_throttled_then_resumed(void)
{
	struct ut_client *c = ut_connect();
	struct json_object *resp;
	char *reqs, *p;
	int i, total = JSONRPC_CONN_MAX_OUTSTANDING + 22;

	reqs = malloc((size_t)total * 64);
	p = reqs;
	for (i = 0; i < total; i++) {
		p += sprintf(p, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"defer\"}", i);
	}
	ut_send(c, reqs);
	free(reqs);
	ut_poll_for(50);
	/* Reading stops once the client has too many requests unanswered. */
	CU_ASSERT(g_num_deferred >= JSONRPC_CONN_MAX_OUTSTANDING);
	CU_ASSERT(g_num_deferred < total);
	while (g_num_deferred > 0) {
		ut_answer_deferred();
		ut_poll_for(20);
	}
	for (i = 0; i < total; i++) {
		resp = ut_recv(c);
		CU_ASSERT(json_object_get_int(ut_get(resp, "id")) == i);
		json_object_put(resp);
	}
	ut_close(c);
	CU_ASSERT(ut_poll_until_no_connections());
}

struct ut_thread_ctx {
	struct keel_jsonrpc_request *req;
};

static void *
ut_answer_thread(void *arg)
{
	struct ut_thread_ctx *ctx = arg;

	keel_jsonrpc_send_result(ctx->req, json_object_new_string("from a thread"));
	return NULL;
}

static void
response_sent_from_another_thread_is_delivered(void)
{
	struct ut_client *c = ut_connect();
	struct ut_thread_ctx ctx;
	struct json_object *resp;
	struct pollfd pfd;
	pthread_t thread;

	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"defer\"}");
	ut_poll_for(20);
	CU_ASSERT_FATAL(g_num_deferred == 1);
	g_num_deferred = 0;

	/* Nothing to do: the server fd is not readable. */
	pfd.fd = keel_jsonrpc_server_get_fd(g_server);
	pfd.events = POLLIN;
	CU_ASSERT(poll(&pfd, 1, 0) == 0);

	ctx.req = g_deferred[0];
	CU_ASSERT_FATAL(pthread_create(&thread, NULL, ut_answer_thread, &ctx) == 0);
	pthread_join(thread, NULL);

	/* The answer queued from the other thread wakes the server fd. */
	CU_ASSERT(poll(&pfd, 1, 1000) == 1);
	resp = ut_recv(c);
	CU_ASSERT(json_object_get_int(ut_get(resp, "id")) == 11);
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_get(resp, "result")), "from a thread");
	json_object_put(resp);
	CU_ASSERT(poll(&pfd, 1, 0) == 0);
	ut_close(c);
	CU_ASSERT(ut_poll_until_no_connections());
}

static void
server_fd_is_readable_for_a_new_client_and_its_data(void)
{
	struct pollfd pfd = {.fd = keel_jsonrpc_server_get_fd(g_server), .events = POLLIN};
	struct ut_client *c;
	struct json_object *resp;

	CU_ASSERT(poll(&pfd, 1, 0) == 0);
	c = ut_connect();
	CU_ASSERT(poll(&pfd, 1, 1000) == 1);
	keel_jsonrpc_server_poll(g_server);
	CU_ASSERT(poll(&pfd, 1, 0) == 0);
	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"true\"}");
	CU_ASSERT(poll(&pfd, 1, 1000) == 1);
	resp = ut_recv(c);
	json_object_put(resp);
	ut_close(c);
	CU_ASSERT(ut_poll_until_no_connections());
}

static void
response_to_a_disconnected_client_is_dropped(void)
{
	struct ut_client *c = ut_connect();

	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"defer\"}"
		   "[{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"defer\"}]");
	ut_poll_for(20);
	CU_ASSERT_FATAL(g_num_deferred == 2);
	ut_close(c);
	ut_poll_for(20);
	/* Closed, but kept until its answers come back. */
	CU_ASSERT(g_server->num_conns == 0);
	CU_ASSERT(!TAILQ_EMPTY(&g_server->closed));
	ut_answer_deferred();
	CU_ASSERT(ut_poll_until_no_connections());
	CU_ASSERT(g_server->outstanding == 0);
}

static void
ut_local_cb(struct json_object *response, void *cb_arg)
{
	*(struct json_object **)cb_arg = response;
}

static void
local_request_answers_its_callback(void)
{
	struct json_object *resp = NULL;
	struct keel_jsonrpc_request *req;

	req = keel_jsonrpc_request_create_local(ut_local_cb, &resp);
	CU_ASSERT_FATAL(req != NULL);
	CU_ASSERT(!keel_jsonrpc_request_is_notification(req));
	keel_jsonrpc_send_result(req, json_object_new_int(42));
	CU_ASSERT_FATAL(resp != NULL);
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_get(resp, "jsonrpc")), "2.0");
	CU_ASSERT(ut_has(resp, "id"));
	CU_ASSERT(json_object_get_int(ut_get(resp, "result")) == 42);
	json_object_put(resp);

	resp = NULL;
	req = keel_jsonrpc_request_create_local(ut_local_cb, &resp);
	CU_ASSERT_FATAL(req != NULL);
	keel_jsonrpc_send_error(req, -32602, "Invalid parameter '%s'", "x");
	CU_ASSERT_FATAL(resp != NULL);
	CU_ASSERT(ut_error_code(resp) == -32602);
	CU_ASSERT_STRING_EQUAL(ut_error_message(resp), "Invalid parameter 'x'");
	json_object_put(resp);
}

static void
socket_and_lock_file_are_mode_0600(void)
{
	char lock[256];
	struct stat st;

	CU_ASSERT_FATAL(stat(g_path, &st) == 0);
	CU_ASSERT(S_ISSOCK(st.st_mode));
	CU_ASSERT((st.st_mode & 0777) == 0600);
	snprintf(lock, sizeof(lock), "%s.lock", g_path);
	CU_ASSERT_FATAL(stat(lock, &st) == 0);
	CU_ASSERT((st.st_mode & 0077) == 0);
}

/* Child: become uid/gid 65534, connect, send a request and report what came back:
 * 0 the server closed without answering, 1 an answer came, 2 no connection, 3 timeout. */
static int
ut_foreign_client(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}";
	struct pollfd pfd;
	char buf[256];
	ssize_t n;
	int fd;

	if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
		return 2;
	}
	if (strlen(g_path) >= sizeof(addr.sun_path)) {
		return 2;
	}
	memcpy(addr.sun_path, g_path, strlen(g_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		return 2;
	}
	if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		return 0; /* already closed on us */
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, UT_TIMEOUT_MS) != 1) {
		return 3;
	}
	n = read(fd, buf, sizeof(buf));
	return n > 0 ? 1 : 0;
}

static void
only_the_servers_user_and_root_are_allowed_as_peers(void)
{
	CU_ASSERT(server_peer_allowed(1000, 1000));
	CU_ASSERT(server_peer_allowed(0, 1000));
	CU_ASSERT(!server_peer_allowed(1001, 1000));
	CU_ASSERT(!server_peer_allowed(1000, 0));
	CU_ASSERT(server_peer_allowed(0, 0));
}

static void
client_of_another_uid_is_refused_even_if_the_socket_mode_allows_it(void)
{
	int calls = g_calls, status = -1, i;
	pid_t pid;

	if (geteuid() != 0) {
		printf("  (needs root to connect as another user; only the rule is checked)\n");
		return;
	}
	/* Open the path to everyone, as a careless chmod would. */
	CU_ASSERT_FATAL(chmod(g_dir, 0711) == 0);
	CU_ASSERT_FATAL(chmod(g_path, 0666) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		_exit(ut_foreign_client());
	}
	for (i = 0; i < 2 * UT_TIMEOUT_MS; i++) {
		ut_poll_once();
		if (waitpid(pid, &status, WNOHANG) == pid) {
			break;
		}
		usleep(1000);
	}
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT(g_calls == calls);
	CU_ASSERT(ut_poll_until_no_connections());
	CU_ASSERT(chmod(g_path, 0600) == 0);
	CU_ASSERT(chmod(g_dir, 0700) == 0);
	/* Our own user is still served. */
	simple_call_returns_result_with_id();
}

static void
second_server_on_a_live_socket_is_refused(void)
{
	struct keel_jsonrpc_server *other;
	int rc = 0;

	/* Same path while this server holds the lock. */
	other = keel_jsonrpc_server_listen(g_path, ut_handle_request, &rc);
	CU_ASSERT(other == NULL);
	CU_ASSERT(rc == -EADDRINUSE);
	/* The live server is untouched. */
	simple_call_returns_result_with_id();
}

static int
ut_bind_raw(const char *path, bool do_listen)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	if (do_listen) {
		CU_ASSERT_FATAL(listen(fd, 4) == 0);
	}
	return fd;
}

static void
live_socket_without_lock_is_refused(void)
{
	struct keel_jsonrpc_server *server;
	char path[256], lock[264];
	int fd, rc = 0;

	/* Another program listens there (one that does not use the lock file). */
	snprintf(path, sizeof(path), "%s/live.sock", g_dir);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	fd = ut_bind_raw(path, true);
	server = keel_jsonrpc_server_listen(path, ut_handle_request, &rc);
	CU_ASSERT(server == NULL);
	CU_ASSERT(rc == -EADDRINUSE);
	CU_ASSERT(access(path, F_OK) == 0);
	CU_ASSERT(access(lock, F_OK) != 0);
	close(fd);
	unlink(path);
}

static void
stale_socket_is_replaced(void)
{
	struct keel_jsonrpc_server *saved = g_server;
	struct ut_client *c;
	struct json_object *resp;
	char path[256], lock[264];
	int fd, rc = -1;

	/* A socket file nobody listens on, as a killed server leaves behind. */
	snprintf(path, sizeof(path), "%s/stale.sock", g_dir);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	fd = ut_bind_raw(path, false);
	close(fd);
	CU_ASSERT(access(path, F_OK) == 0);

	g_server = keel_jsonrpc_server_listen(path, ut_handle_request, &rc);
	CU_ASSERT_FATAL(g_server != NULL);
	CU_ASSERT(rc == 0);
	c = ut_connect_path(path);
	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"true\"}");
	resp = ut_recv(c);
	CU_ASSERT(json_object_get_boolean(ut_get(resp, "result")));
	json_object_put(resp);
	ut_close(c);

	keel_jsonrpc_server_shutdown(g_server);
	g_server = saved;
	CU_ASSERT(access(path, F_OK) != 0);
	CU_ASSERT(access(lock, F_OK) != 0);
}

static void
bad_paths_are_refused(void)
{
	struct keel_jsonrpc_server *server;
	char path[300];
	int fd, rc = 0;

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	server = keel_jsonrpc_server_listen(path, ut_handle_request, &rc);
	CU_ASSERT(server == NULL);
	CU_ASSERT(rc == -ENAMETOOLONG);

	snprintf(path, sizeof(path), "%s/regular", g_dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	server = keel_jsonrpc_server_listen(path, ut_handle_request, &rc);
	CU_ASSERT(server == NULL);
	CU_ASSERT(rc == -EEXIST);
	CU_ASSERT(access(path, F_OK) == 0);
	unlink(path);
	snprintf(path, sizeof(path), "%s/regular.lock", g_dir);
	CU_ASSERT(access(path, F_OK) != 0);

	snprintf(path, sizeof(path), "%s/no/such/dir.sock", g_dir);
	server = keel_jsonrpc_server_listen(path, ut_handle_request, &rc);
	CU_ASSERT(server == NULL);
	CU_ASSERT(rc == -ENOENT);
}

static void
shutdown_with_requests_in_flight_frees_on_last_answer(void)
{
	struct keel_jsonrpc_server *saved = g_server;
	struct ut_client *c;
	char path[256];
	int rc;

	snprintf(path, sizeof(path), "%s/inflight.sock", g_dir);
	g_server = keel_jsonrpc_server_listen(path, ut_handle_request, &rc);
	CU_ASSERT_FATAL(g_server != NULL);
	c = ut_connect_path(path);
	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"defer\"}"
		   "[{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"defer\"},"
		   "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"defer\"}]");
	ut_poll_for(20);
	CU_ASSERT_FATAL(g_num_deferred == 3);
	keel_jsonrpc_server_shutdown(g_server);
	g_server = saved;
	CU_ASSERT(access(path, F_OK) != 0);
	CU_ASSERT(ut_wait_eof(c));
	ut_close(c);
	/* The answers go nowhere; the last one frees the server (checked under valgrind/ASan). */
	ut_answer_deferred();
}

static void
shutdown_from_a_handler_completes_when_poll_returns(void)
{
	struct keel_jsonrpc_server *saved = g_server;
	struct json_object *resp;
	struct ut_client *c;
	char path[256];
	int rc, i;

	snprintf(path, sizeof(path), "%s/stop.sock", g_dir);
	g_server = keel_jsonrpc_server_listen(path, ut_handle_request, &rc);
	CU_ASSERT_FATAL(g_server != NULL);
	c = ut_connect_path(path);
	g_calls = 0;
	/* The request after "stop" is never run. */
	ut_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"stop\"}"
		   "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"true\"}");
	for (i = 0; i < 1000 && g_calls == 0; i++) {
		keel_jsonrpc_server_poll(g_server);
		usleep(100);
	}
	/* g_server is gone now: read the answer without polling it. */
	g_server = saved;
	CU_ASSERT(g_calls == 1);
	CU_ASSERT(access(path, F_OK) != 0);
	resp = ut_recv(c);
	CU_ASSERT(json_object_get_int(ut_get(resp, "id")) == 1);
	CU_ASSERT(json_object_get_boolean(ut_get(resp, "result")));
	json_object_put(resp);
	CU_ASSERT(ut_wait_eof(c));
	ut_close(c);
}

int
main(int argc, char **argv)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(simple_call_returns_result_with_id),
		KEEL_UT_TEST(null_id_is_answered_with_null_id),
		KEEL_UT_TEST(request_split_byte_by_byte_is_parsed),
		KEEL_UT_TEST(two_pipelined_requests_in_one_write_are_both_answered),
		KEEL_UT_TEST(batch_answers_every_request_but_not_notifications),
		KEEL_UT_TEST(all_notification_batch_sends_nothing),
		KEEL_UT_TEST(empty_batch_is_one_invalid_request_error),
		KEEL_UT_TEST(notification_gets_no_response),
		KEEL_UT_TEST(truncated_json_then_close_frees_the_connection),
		KEEL_UT_TEST(half_closed_client_still_gets_its_answers),
		KEEL_UT_TEST(deeply_nested_json_is_parsed_up_to_a_limit),
		KEEL_UT_TEST(request_over_the_size_limit_is_refused_and_closed),
		KEEL_UT_TEST(invalid_json_and_invalid_utf8_are_parse_errors),
		KEEL_UT_TEST(wrong_member_types_are_invalid_requests),
		KEEL_UT_TEST(fifty_clients_at_once_are_all_served),
		KEEL_UT_TEST(busy_client_is_throttled_then_resumed),
		KEEL_UT_TEST(response_sent_from_another_thread_is_delivered),
		KEEL_UT_TEST(server_fd_is_readable_for_a_new_client_and_its_data),
		KEEL_UT_TEST(response_to_a_disconnected_client_is_dropped),
		KEEL_UT_TEST(local_request_answers_its_callback),
		KEEL_UT_TEST(socket_and_lock_file_are_mode_0600),
		KEEL_UT_TEST(only_the_servers_user_and_root_are_allowed_as_peers),
		KEEL_UT_TEST(client_of_another_uid_is_refused_even_if_the_socket_mode_allows_it),
		KEEL_UT_TEST(second_server_on_a_live_socket_is_refused),
		KEEL_UT_TEST(live_socket_without_lock_is_refused),
		KEEL_UT_TEST(stale_socket_is_replaced),
		KEEL_UT_TEST(bad_paths_are_refused),
		KEEL_UT_TEST(shutdown_with_requests_in_flight_frees_on_last_answer),
		KEEL_UT_TEST(shutdown_from_a_handler_completes_when_poll_returns),
	};

	return keel_ut_run("jsonrpc_server", tests, KEEL_COUNTOF(tests), ut_setup, ut_teardown);
}
