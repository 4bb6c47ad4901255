/*
 * JSON-RPC 2.0 server on a Unix stream socket (json-c). The server is polled by the thread
 * that created it; requests are handed to one callback; responses may be sent later, from
 * any thread.
 */
#ifndef KEEL_JSONRPC_H
#define KEEL_JSONRPC_H

#include "keel/stdinc.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_object;
struct keel_jsonrpc_server;
struct keel_jsonrpc_request;

#define KEEL_JSONRPC_ERROR_PARSE_ERROR -32700
#define KEEL_JSONRPC_ERROR_INVALID_REQUEST -32600
#define KEEL_JSONRPC_ERROR_METHOD_NOT_FOUND -32601
#define KEEL_JSONRPC_ERROR_INVALID_PARAMS -32602
#define KEEL_JSONRPC_ERROR_INTERNAL_ERROR -32603
/** The method exists but not in the current state (startup-only or runtime-only). */
#define KEEL_JSONRPC_ERROR_INVALID_STATE -1

/** Default cap on one request's size in bytes (a larger one gets a clear error). */
#define KEEL_JSONRPC_MAX_REQUEST_BYTES (32u * 1024 * 1024)

/**
 * Called for each request (also each element of a batch). params is NULL when absent,
 * otherwise an object or array that stays valid until the response is sent. The handler must
 * eventually call exactly one keel_jsonrpc_send_* on req (for a notification the response is
 * dropped but the call still frees req).
 */
typedef void (*keel_jsonrpc_handle_request_fn)(struct keel_jsonrpc_request *req, const char *method,
					       struct json_object *params);

/**
 * Listen on a Unix socket. The socket is created mode 0600. A stale socket file (nobody
 * listening) is replaced; if another process is listening, fails with -EADDRINUSE.
 *
 * \return the server, or NULL with *rc set: -EADDRINUSE, -ENAMETOOLONG, -errno.
 */
struct keel_jsonrpc_server *
keel_jsonrpc_server_listen(const char *path, keel_jsonrpc_handle_request_fn handle_request,
			   int *rc);
/** Accept, read, dispatch and write. Returns >0 if it did anything, 0 if idle. */
int keel_jsonrpc_server_poll(struct keel_jsonrpc_server *server);
/** An fd that is readable when poll has something to do (for interrupt mode). */
int keel_jsonrpc_server_get_fd(struct keel_jsonrpc_server *server);
/** Change the request-size limit. */
void keel_jsonrpc_server_set_max_request(struct keel_jsonrpc_server *server, size_t bytes);
/**
 * Close every connection and the listening socket; remove the socket file and its lock file.
 * Requests still unanswered may be answered later (from any thread): those answers are dropped
 * and the last one frees what is left. Called from a request handler, the shutdown completes
 * when the current keel_jsonrpc_server_poll() returns (answers already given are flushed
 * first, as far as the sockets take them).
 */
void keel_jsonrpc_server_shutdown(struct keel_jsonrpc_server *server);

/** Send a result; takes ownership of result (NULL sends JSON null). */
void keel_jsonrpc_send_result(struct keel_jsonrpc_request *req, struct json_object *result);
void keel_jsonrpc_send_bool_response(struct keel_jsonrpc_request *req, bool value);
/** A completion callback (void (*)(void *, int)) for a method that answers true, or the error
 * rc (negative errno) with its text: cb_arg is the request. */
void keel_jsonrpc_send_done(void *cb_arg, int rc);
void keel_jsonrpc_send_error(struct keel_jsonrpc_request *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** True for a notification (no "id"): no response will be written. */
bool keel_jsonrpc_request_is_notification(const struct keel_jsonrpc_request *req);

/**
 * A request that does not come from a socket (config replay, tests): cb gets the response
 * object ({"jsonrpc","id","result"} or {..."error"}) and must json_object_put() it.
 */
typedef void (*keel_jsonrpc_local_cb)(struct json_object *response, void *cb_arg);
struct keel_jsonrpc_request *keel_jsonrpc_request_create_local(keel_jsonrpc_local_cb cb,
							       void *cb_arg);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_JSONRPC_H */
