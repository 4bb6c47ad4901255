/*
 * Requests and their answers. A response is built and serialised on whichever thread answers,
 * then handed to the polling thread through a mutex-protected completion queue (with an
 * eventfd kick); batch elements gather into one array; local requests answer a callback.
 */
#include "keel/stdinc.h"
#include "keel/jsonrpc.h"
#include "keel/log.h"
#include "keel/util.h"

#include <sys/eventfd.h>

#include "jsonrpc_internal.h"

/* Compact output, and "/" left as is (paths are common in answers). */
#define JSONRPC_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static uint64_t g_local_request_id;

static struct json_object *
request_copy_id(struct json_object *id)
{
	struct json_object *copy = NULL;

	if (id == NULL) {
		return NULL;
	}
	if (json_object_deep_copy(id, &copy, NULL) != 0) {
		KEEL_ERRLOG("out of memory copying a request id; answering with a null id\n");
		return NULL;
	}
	return copy;
}

/* Account one more unanswered unit (request or batch) on conn; called on the polling thread. */
static void
request_unit_get(struct jsonrpc_conn *conn)
{
	struct keel_jsonrpc_server *server = conn->server;

	conn->refs++;
	pthread_mutex_lock(&server->mutex);
	server->outstanding++;
	pthread_mutex_unlock(&server->mutex);
}

struct jsonrpc_outmsg *
jsonrpc_outmsg_create(struct jsonrpc_conn *conn)
{
	struct jsonrpc_outmsg *msg;

	msg = calloc(1, sizeof(*msg));
	if (msg != NULL) {
		msg->conn = conn;
	}
	return msg;
}

struct jsonrpc_outmsg *
jsonrpc_outmsg_from_json(struct jsonrpc_conn *conn, struct json_object *obj)
{
	struct jsonrpc_outmsg *msg;
	const char *text;
	size_t len = 0;

	text = json_object_to_json_string_length(obj, JSONRPC_JSON_FLAGS, &len);
	if (text == NULL) {
		return NULL;
	}
	msg = malloc(sizeof(*msg) + len + 1);
	if (msg == NULL) {
		return NULL;
	}
	memcpy(msg->data, text, len);
	msg->data[len] = '\n';
	msg->len = len + 1;
	msg->sent = 0;
	msg->conn = conn;
	return msg;
}

struct keel_jsonrpc_request *
jsonrpc_request_create(struct jsonrpc_conn *conn, struct json_object *root, struct json_object *id,
		       bool is_notification)
{
	struct keel_jsonrpc_request *req;

	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		return NULL;
	}
	req->msg = jsonrpc_outmsg_create(conn);
	if (req->msg == NULL) {
		free(req);
		return NULL;
	}
	req->server = conn->server;
	req->conn = conn;
	req->root = root;
	req->id = request_copy_id(id);
	req->is_notification = is_notification;
	request_unit_get(conn);
	return req;
}

struct jsonrpc_batch *
jsonrpc_batch_create(struct jsonrpc_conn *conn, struct json_object *root, uint32_t count)
{
	struct jsonrpc_batch *batch;

	batch = calloc(1, sizeof(*batch) + (size_t)count * sizeof(batch->reqs[0]));
	if (batch == NULL) {
		return NULL;
	}
	batch->responses = json_object_new_array();
	batch->msg = jsonrpc_outmsg_create(conn);
	if (batch->responses == NULL || batch->msg == NULL) {
		json_object_put(batch->responses);
		free(batch->msg);
		free(batch);
		return NULL;
	}
	batch->server = conn->server;
	batch->conn = conn;
	batch->root = root;
	batch->remaining = count;
	batch->count = count;
	request_unit_get(conn);
	return batch;
}

struct keel_jsonrpc_request *
jsonrpc_batch_element(struct jsonrpc_batch *batch, uint32_t i, struct json_object *id,
		      bool is_notification)
{
	struct keel_jsonrpc_request *req = &batch->reqs[i];

	assert(i < batch->count);
	req->server = batch->server;
	req->conn = batch->conn;
	req->batch = batch;
	req->id = request_copy_id(id);
	req->is_notification = is_notification;
	return req;
}

struct json_object *
jsonrpc_error_response(struct json_object *id, int code, const char *message)
{
	struct json_object *resp, *err;

	resp = json_object_new_object();
	err = json_object_new_object();
	if (resp == NULL || err == NULL) {
		json_object_put(resp);
		json_object_put(err);
		json_object_put(id);
		return NULL;
	}
	json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	json_object_object_add(resp, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(resp, "id", id);
	json_object_object_add(resp, "error", err);
	return resp;
}

void
jsonrpc_free_server(struct keel_jsonrpc_server *server)
{
	pthread_mutex_destroy(&server->mutex);
	free(server->read_buf);
	free(server->lock_path);
	free(server->path);
	free(server);
}

/*
 * A unit (single request or whole batch) is answered: fill its message with resp (which is
 * consumed; NULL sends nothing) and queue it for the polling thread. Once the server has been
 * shut down the answer is dropped, and the last one frees the server.
 */
static void
request_unit_complete(struct keel_jsonrpc_server *server, struct jsonrpc_outmsg *msg,
		      struct json_object *resp)
{
	struct jsonrpc_outmsg *full;
	uint64_t one = 1;
	bool last;

	if (resp != NULL) {
		full = jsonrpc_outmsg_from_json(msg->conn, resp);
		if (full != NULL) {
			free(msg);
			msg = full;
		} else {
			KEEL_ERRLOG("out of memory serialising an RPC response: dropped\n");
		}
		json_object_put(resp);
	}

	pthread_mutex_lock(&server->mutex);
	assert(server->outstanding > 0);
	server->outstanding--;
	if (server->shut_down) {
		last = server->outstanding == 0;
		pthread_mutex_unlock(&server->mutex);
		free(msg);
		if (last) {
			jsonrpc_free_server(server);
		}
		return;
	}
	if (STAILQ_EMPTY(&server->completed)) {
		/* Wake an interrupt-mode poller; poll reads the counter back when it drains. */
		if (write(server->event_fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
			KEEL_ERRLOG("RPC server: eventfd write failed: %s\n", strerror(errno));
		}
	}
	STAILQ_INSERT_TAIL(&server->completed, msg, link);
	pthread_mutex_unlock(&server->mutex);
}

static void
request_batch_element_done(struct keel_jsonrpc_request *req, struct json_object *resp)
{
	struct jsonrpc_batch *batch = req->batch;
	struct keel_jsonrpc_server *server = batch->server;
	struct json_object *responses;
	bool done;

	pthread_mutex_lock(&server->mutex);
	if (resp != NULL && json_object_array_add(batch->responses, resp) != 0) {
		json_object_put(resp);
	}
	assert(batch->remaining > 0);
	done = --batch->remaining == 0;
	pthread_mutex_unlock(&server->mutex);
	if (!done) {
		return;
	}

	/* Every element has answered: nothing else touches the batch now. */
	responses = batch->responses;
	if (json_object_array_length(responses) == 0) {
		/* Only notifications: nothing is sent. */
		json_object_put(responses);
		responses = NULL;
	}
	json_object_put(batch->root);
	request_unit_complete(server, batch->msg, responses);
	free(batch);
}

/* Answer req with {"result": value} or {"error": value} (key says which); consumes value. */
static void
request_finish(struct keel_jsonrpc_request *req, const char *key, struct json_object *value)
{
	struct json_object *resp = NULL;

	if (!req->is_notification) {
		resp = json_object_new_object();
		if (resp != NULL) {
			json_object_object_add(resp, "jsonrpc", json_object_new_string("2.0"));
			json_object_object_add(resp, "id", req->id);
			req->id = NULL;
			json_object_object_add(resp, key, value);
			value = NULL;
		} else {
			KEEL_ERRLOG("out of memory building an RPC response; response dropped\n");
		}
	}
	json_object_put(value);
	json_object_put(req->id);
	req->id = NULL;

	if (req->server == NULL) {
		if (resp != NULL && req->local_cb != NULL) {
			req->local_cb(resp, req->local_cb_arg);
		} else {
			json_object_put(resp);
		}
		free(req);
	} else if (req->batch != NULL) {
		request_batch_element_done(req, resp);
	} else {
		json_object_put(req->root);
		request_unit_complete(req->server, req->msg, resp);
		free(req);
	}
}

void
keel_jsonrpc_send_result(struct keel_jsonrpc_request *req, struct json_object *result)
{
	if (req == NULL) {
		json_object_put(result);
		return;
	}
	/* json-c stores JSON null as a NULL pointer, so a NULL result is sent as null. */
	request_finish(req, "result", result);
}

void
keel_jsonrpc_send_bool_response(struct keel_jsonrpc_request *req, bool value)
{
	keel_jsonrpc_send_result(req, json_object_new_boolean(value));
}

void
keel_jsonrpc_send_done(void *cb_arg, int rc)
{
	struct keel_jsonrpc_request *req = cb_arg;

	if (rc != 0) {
		keel_jsonrpc_send_error(req, rc, "%s", keel_strerror(-rc));
	} else {
		keel_jsonrpc_send_bool_response(req, true);
	}
}

void
keel_jsonrpc_send_error(struct keel_jsonrpc_request *req, int code, const char *fmt, ...)
{
	struct json_object *err;
	char *message = NULL;
	va_list ap;
	int rc;

	if (req == NULL) {
		return;
	}
	va_start(ap, fmt);
	rc = vasprintf(&message, fmt, ap);
	va_end(ap);

	err = json_object_new_object();
	if (err != NULL) {
		json_object_object_add(err, "code", json_object_new_int(code));
		json_object_object_add(err, "message",
				       json_object_new_string(rc >= 0 ? message : "Out of memory"));
	}
	if (rc >= 0) {
		free(message);
	}
	request_finish(req, "error", err);
}

bool
keel_jsonrpc_request_is_notification(const struct keel_jsonrpc_request *req)
{
	return req->is_notification;
}

struct keel_jsonrpc_request *
keel_jsonrpc_request_create_local(keel_jsonrpc_local_cb cb, void *cb_arg)
{
	struct keel_jsonrpc_request *req;
	uint64_t id;

	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		return NULL;
	}
	id = __atomic_add_fetch(&g_local_request_id, 1, __ATOMIC_RELAXED);
	req->id = json_object_new_uint64(id);
	if (req->id == NULL) {
		free(req);
		return NULL;
	}
	req->local_cb = cb;
	req->local_cb_arg = cb_arg;
	return req;
}
