/*
 * The JSON-RPC 2.0 server on a Unix stream socket: guards the socket path against a second
 * instance, accepts clients, parses each byte stream incrementally into requests (split or
 * pipelined, single or batch), validates them, hands them to the handler and writes answers.
 */
#include "keel/stdinc.h"
#include "keel/jsonrpc.h"
#include "keel/log.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "jsonrpc_internal.h"

KEEL_LOG_REGISTER_COMPONENT(rpc)

#define JSONRPC_LISTEN_BACKLOG 128
#define JSONRPC_EPOLL_EVENTS 64
#define JSONRPC_ACCEPTS_PER_POLL 16
/* Strict JSON, several values per stream, and invalid UTF-8 is a parse error. */
#define JSONRPC_TOKENER_FLAGS                                                                      \
	(JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS | JSON_TOKENER_VALIDATE_UTF8)

static void conn_update_events(struct jsonrpc_conn *conn);

/*
 * Socket path ownership.
 */

static int
server_fill_addr(const char *path, struct sockaddr_un *addr)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr->sun_path)) {
		return -ENAMETOOLONG;
	}
	memcpy(addr->sun_path, path, strlen(path) + 1);
	return 0;
}

/*
 * Take PATH.lock for the server's life. Its previous owner unlinks it when it stops, so after
 * locking, check that the file we hold is still the one at that path.
 */
static int
server_lock(struct keel_jsonrpc_server *server)
{
	struct stat held, named;
	int attempt, fd, rc;

	for (attempt = 0; attempt < 5; attempt++) {
		fd = open(server->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			rc = -errno;
			KEEL_ERRLOG("RPC lock file %s: open: %s\n", server->lock_path,
				    strerror(-rc));
			return rc;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			rc = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
			close(fd);
			if (rc == -EADDRINUSE) {
				KEEL_ERRLOG("RPC socket %s is in use by another process "
					    "(%s is locked)\n",
					    server->path, server->lock_path);
			} else {
				KEEL_ERRLOG("RPC lock file %s: flock: %s\n", server->lock_path,
					    strerror(-rc));
			}
			return rc;
		}
		if (fstat(fd, &held) == 0 && stat(server->lock_path, &named) == 0 &&
		    held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
			server->lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	KEEL_ERRLOG("RPC lock file %s keeps being replaced\n", server->lock_path);
	return -EAGAIN;
}

/* A socket file left at path: refuse if someone answers on it, remove it if it is stale. */
static int
server_check_existing(const char *path, const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT) {
			return 0;
		}
		rc = -errno;
		KEEL_ERRLOG("RPC socket %s: %s\n", path, strerror(-rc));
		return rc;
	}
	if (!S_ISSOCK(st.st_mode)) {
		KEEL_ERRLOG("RPC socket path %s exists and is not a socket\n", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	if (rc != 0) {
		rc = -errno;
	}
	close(fd);
	/* EAGAIN: a live server whose backlog is full. */
	if (rc == 0 || rc == -EAGAIN) {
		KEEL_ERRLOG("RPC socket %s is in use by another process\n", path);
		return -EADDRINUSE;
	}
	if (rc != -ECONNREFUSED) {
		KEEL_ERRLOG("RPC socket %s: connect: %s\n", path, strerror(-rc));
		return rc;
	}
	KEEL_NOTICELOG("removing stale RPC socket %s\n", path);
	if (unlink(path) != 0 && errno != ENOENT) {
		rc = -errno;
		KEEL_ERRLOG("RPC socket %s: unlink: %s\n", path, strerror(-rc));
		return rc;
	}
	return 0;
}

static int
server_bind(struct keel_jsonrpc_server *server, const struct sockaddr_un *addr)
{
	mode_t old_umask;
	int fd, rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		KEEL_ERRLOG("RPC socket: %s\n", strerror(-rc));
		return rc;
	}
	/* The socket file is born 0600: nobody else may drive the target. */
	old_umask = umask(0077);
	rc = bind(fd, (const struct sockaddr *)addr, sizeof(*addr));
	if (rc != 0) {
		rc = -errno;
	}
	umask(old_umask);
	if (rc != 0) {
		KEEL_ERRLOG("RPC socket %s: bind: %s\n", server->path, strerror(-rc));
		goto err_close;
	}
	if (chmod(server->path, 0600) != 0) {
		rc = -errno;
		KEEL_ERRLOG("RPC socket %s: chmod: %s\n", server->path, strerror(-rc));
		goto err_unlink;
	}
	if (listen(fd, JSONRPC_LISTEN_BACKLOG) != 0) {
		rc = -errno;
		KEEL_ERRLOG("RPC socket %s: listen: %s\n", server->path, strerror(-rc));
		goto err_unlink;
	}
	server->listen_fd = fd;
	return 0;

err_unlink:
	unlink(server->path);
err_close:
	close(fd);
	return rc;
}

static int
server_setup_epoll(struct keel_jsonrpc_server *server)
{
	struct epoll_event ev = {.events = EPOLLIN};

	server->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (server->epoll_fd < 0) {
		return -errno;
	}
	server->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (server->event_fd < 0) {
		return -errno;
	}
	ev.data.ptr = &server->listen_fd;
	if (epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, server->listen_fd, &ev) != 0) {
		return -errno;
	}
	ev.data.ptr = &server->event_fd;
	if (epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, server->event_fd, &ev) != 0) {
		return -errno;
	}
	return 0;
}

static struct keel_jsonrpc_server *
server_alloc(const char *path, keel_jsonrpc_handle_request_fn handle_request)
{
	struct keel_jsonrpc_server *server;

	server = calloc(1, sizeof(*server));
	if (server == NULL) {
		return NULL;
	}
	server->listen_fd = -1;
	server->lock_fd = -1;
	server->epoll_fd = -1;
	server->event_fd = -1;
	server->max_request_bytes = KEEL_JSONRPC_MAX_REQUEST_BYTES;
	server->handle_request = handle_request;
	TAILQ_INIT(&server->conns);
	TAILQ_INIT(&server->closed);
	STAILQ_INIT(&server->completed);
	server->path = strdup(path);
	server->lock_path = malloc(strlen(path) + sizeof(".lock"));
	server->read_buf = malloc(JSONRPC_READ_CHUNK_BYTES);
	if (server->path == NULL || server->lock_path == NULL || server->read_buf == NULL ||
	    pthread_mutex_init(&server->mutex, NULL) != 0) {
		free(server->read_buf);
		free(server->lock_path);
		free(server->path);
		free(server);
		return NULL;
	}
	sprintf(server->lock_path, "%s.lock", path);
	return server;
}

struct keel_jsonrpc_server *
keel_jsonrpc_server_listen(const char *path, keel_jsonrpc_handle_request_fn handle_request,
			   int *rc_out)
{
	struct keel_jsonrpc_server *server;
	struct sockaddr_un addr;
	int rc;

	rc = server_fill_addr(path, &addr);
	if (rc != 0) {
		KEEL_ERRLOG("RPC socket path %s is too long\n", path);
		goto err_out;
	}
	server = server_alloc(path, handle_request);
	if (server == NULL) {
		rc = -ENOMEM;
		goto err_out;
	}
	rc = server_lock(server);
	if (rc != 0) {
		goto err_free;
	}
	rc = server_check_existing(path, &addr);
	if (rc != 0) {
		goto err_unlock;
	}
	rc = server_bind(server, &addr);
	if (rc != 0) {
		goto err_unlock;
	}
	rc = server_setup_epoll(server);
	if (rc != 0) {
		KEEL_ERRLOG("RPC server: epoll setup: %s\n", strerror(-rc));
		goto err_close;
	}
	KEEL_INFOLOG(rpc, "RPC server listening on %s\n", path);
	if (rc_out != NULL) {
		*rc_out = 0;
	}
	return server;

err_close:
	if (server->event_fd >= 0) {
		close(server->event_fd);
	}
	if (server->epoll_fd >= 0) {
		close(server->epoll_fd);
	}
	close(server->listen_fd);
	unlink(server->path);
err_unlock:
	unlink(server->lock_path);
	close(server->lock_fd);
err_free:
	jsonrpc_free_server(server);
err_out:
	if (rc_out != NULL) {
		*rc_out = rc;
	}
	return NULL;
}

int
keel_jsonrpc_server_get_fd(struct keel_jsonrpc_server *server)
{
	return server->epoll_fd;
}

void
keel_jsonrpc_server_set_max_request(struct keel_jsonrpc_server *server, size_t bytes)
{
	server->max_request_bytes = bytes != 0 ? bytes : KEEL_JSONRPC_MAX_REQUEST_BYTES;
}

/*
 * Connections.
 */

static struct jsonrpc_conn *
conn_create(struct keel_jsonrpc_server *server, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
	struct jsonrpc_conn *conn;

	conn = calloc(1, sizeof(*conn));
	if (conn == NULL) {
		return NULL;
	}
	conn->tok = json_tokener_new_ex(JSONRPC_MAX_DEPTH);
	if (conn->tok == NULL) {
		free(conn);
		return NULL;
	}
	json_tokener_set_flags(conn->tok, JSONRPC_TOKENER_FLAGS);
	conn->server = server;
	conn->fd = fd;
	conn->id = server->next_conn_id++;
	conn->events = ev.events;
	STAILQ_INIT(&conn->sendq);
	ev.data.ptr = conn;
	if (epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		json_tokener_free(conn->tok);
		free(conn);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&server->conns, conn, link);
	server->num_conns++;
	return conn;
}

/* Close the socket now; the structure waits in server->closed for its last answers. */
static void
conn_close(struct jsonrpc_conn *conn)
{
	struct keel_jsonrpc_server *server = conn->server;
	struct jsonrpc_outmsg *msg;

	if (conn->fd < 0) {
		return;
	}
	KEEL_DEBUGLOG(rpc, "RPC conn %u: closed\n", conn->id);
	epoll_ctl(server->epoll_fd, EPOLL_CTL_DEL, conn->fd, NULL);
	close(conn->fd);
	conn->fd = -1;
	while ((msg = STAILQ_FIRST(&conn->sendq)) != NULL) {
		STAILQ_REMOVE_HEAD(&conn->sendq, link);
		free(msg);
	}
	conn->send_bytes = 0;
	free(conn->pending);
	conn->pending = NULL;
	conn->pending_len = 0;
	json_tokener_free(conn->tok);
	conn->tok = NULL;
	TAILQ_REMOVE(&server->conns, conn, link);
	server->num_conns--;
	TAILQ_INSERT_TAIL(&server->closed, conn, link);
}

/* Too much unanswered or unsent for this client: parse and read no more for now. */
static bool
conn_throttled(const struct jsonrpc_conn *conn)
{
	return conn->refs >= JSONRPC_CONN_MAX_OUTSTANDING ||
	       conn->send_bytes >= JSONRPC_CONN_MAX_SEND_BYTES;
}

static void
conn_update_events(struct jsonrpc_conn *conn)
{
	struct epoll_event ev = {.events = 0};

	if (conn->fd < 0) {
		return;
	}
	/* Back-pressure: a client with too much unanswered or unsent stops being read. */
	if (!conn->closing && !conn_throttled(conn) && conn->pending_len == 0) {
		ev.events |= EPOLLIN | EPOLLRDHUP;
	}
	if (!STAILQ_EMPTY(&conn->sendq)) {
		ev.events |= EPOLLOUT;
	}
	if (ev.events == conn->events) {
		return;
	}
	ev.data.ptr = conn;
	if (epoll_ctl(conn->server->epoll_fd, EPOLL_CTL_MOD, conn->fd, &ev) == 0) {
		conn->events = ev.events;
	}
}

/* Write what the socket takes; returns the bytes written. */
static size_t
conn_flush(struct jsonrpc_conn *conn)
{
	struct jsonrpc_outmsg *msg;
	size_t total = 0;
	ssize_t n;

	while (conn->fd >= 0 && (msg = STAILQ_FIRST(&conn->sendq)) != NULL) {
		n = send(conn->fd, msg->data + msg->sent, msg->len - msg->sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno != EAGAIN) {
				KEEL_DEBUGLOG(rpc, "RPC conn %u: send: %s\n", conn->id,
					      strerror(errno));
				conn_close(conn);
			}
			break;
		}
		msg->sent += (size_t)n;
		conn->send_bytes -= (size_t)n;
		total += (size_t)n;
		if (msg->sent == msg->len) {
			STAILQ_REMOVE_HEAD(&conn->sendq, link);
			free(msg);
		}
	}
	conn_update_events(conn);
	return total;
}

static void
conn_queue_msg(struct jsonrpc_conn *conn, struct jsonrpc_outmsg *msg)
{
	if (conn->fd < 0 || msg->len == 0) {
		free(msg);
		return;
	}
	STAILQ_INSERT_TAIL(&conn->sendq, msg, link);
	conn->send_bytes += msg->len;
}

/*
 * The stream cannot go on (parse error, oversized request, end of input inside a value): send
 * one error with a null id, read no more, close once everything is answered and written.
 */
static void
conn_fail(struct jsonrpc_conn *conn, int code, const char *message)
{
	struct json_object *resp;
	struct jsonrpc_outmsg *msg = NULL;

	KEEL_INFOLOG(rpc, "RPC conn %u: %s; closing\n", conn->id, message);
	resp = jsonrpc_error_response(NULL, code, message);
	if (resp != NULL) {
		msg = jsonrpc_outmsg_from_json(conn, resp);
		json_object_put(resp);
	}
	if (msg != NULL) {
		conn_queue_msg(conn, msg);
	}
	conn->closing = true;
	conn_update_events(conn);
}

static void
conn_fail_oversize(struct jsonrpc_conn *conn)
{
	char message[80];

	snprintf(message, sizeof(message), "request exceeds %zu bytes",
		 conn->server->max_request_bytes);
	conn_fail(conn, KEEL_JSONRPC_ERROR_INVALID_REQUEST, message);
}

/*
 * Requests.
 */

/*
 * Check one request object against JSON-RPC 2.0 section 4. On success returns NULL and fills
 * the outputs; otherwise returns what is wrong (with the id filled in when it could be read).
 */
static const char *
request_validate(struct json_object *obj, const char **method, struct json_object **params,
		 struct json_object **id, bool *has_id)
{
	struct json_object *v;

	*method = NULL;
	*params = NULL;
	*id = NULL;
	*has_id = false;
	if (!json_object_is_type(obj, json_type_object)) {
		return "Invalid request: not an object";
	}
	if (json_object_object_get_ex(obj, "id", &v)) {
		switch (json_object_get_type(v)) {
		case json_type_null:
		case json_type_int:
		case json_type_double:
		case json_type_string:
			*id = v;
			*has_id = true;
			break;
		default:
			return "Invalid request: 'id' must be a string, a number or null";
		}
	}
	if (!json_object_object_get_ex(obj, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), "2.0")) {
		return "Invalid request: 'jsonrpc' must be \"2.0\"";
	}
	if (!json_object_object_get_ex(obj, "method", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		return "Invalid request: 'method' must be a string";
	}
	*method = json_object_get_string(v);
	if (json_object_object_get_ex(obj, "params", &v)) {
		if (!json_object_is_type(v, json_type_object) &&
		    !json_object_is_type(v, json_type_array)) {
			return "Invalid request: 'params' must be an object or an array";
		}
		*params = v;
	}
	return NULL;
}

static void
request_handle(struct keel_jsonrpc_server *server, struct keel_jsonrpc_request *req,
	       const char *invalid, const char *method, struct json_object *params)
{
	if (invalid != NULL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_REQUEST, "%s", invalid);
	} else if (server->handle_request == NULL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_METHOD_NOT_FOUND,
					"Method not found");
	} else {
		server->handle_request(req, method, params);
	}
}

static void
conn_dispatch_batch(struct jsonrpc_conn *conn, struct json_object *root)
{
	struct keel_jsonrpc_server *server = conn->server;
	struct json_object *params, *id, *elem;
	struct keel_jsonrpc_request *req;
	struct jsonrpc_batch *batch;
	const char *invalid, *method;
	uint32_t i, count;
	bool has_id;

	count = (uint32_t)json_object_array_length(root);
	batch = jsonrpc_batch_create(conn, root, count);
	if (batch == NULL) {
		json_object_put(root);
		conn_fail(conn, KEEL_JSONRPC_ERROR_INTERNAL_ERROR, "Out of memory");
		return;
	}
	/* The batch may be answered (and freed) inside the last iteration: use locals only. */
	for (i = 0; i < count; i++) {
		elem = json_object_array_get_idx(root, i);
		invalid = request_validate(elem, &method, &params, &id, &has_id);
		req = jsonrpc_batch_element(batch, i, id, invalid == NULL && !has_id);
		request_handle(server, req, invalid, method, params);
	}
}

/* Dispatch one parsed value (consumed): a request or a batch. */
static void
conn_dispatch(struct jsonrpc_conn *conn, struct json_object *root)
{
	struct json_object *params, *id;
	struct keel_jsonrpc_request *req;
	const char *invalid, *method;
	bool has_id;

	if (json_object_is_type(root, json_type_array) && json_object_array_length(root) > 0) {
		conn_dispatch_batch(conn, root);
		return;
	}
	if (json_object_is_type(root, json_type_array)) {
		invalid = "Invalid request: empty batch";
		method = NULL;
		params = NULL;
		id = NULL;
		has_id = false;
	} else {
		invalid = request_validate(root, &method, &params, &id, &has_id);
	}
	/* An invalid request is answered even without an id (with a null one). */
	req = jsonrpc_request_create(conn, root, id, invalid == NULL && !has_id);
	if (req == NULL) {
		json_object_put(root);
		conn_fail(conn, KEEL_JSONRPC_ERROR_INTERNAL_ERROR, "Out of memory");
		return;
	}
	request_handle(conn->server, req, invalid, method, params);
}

static bool
bytes_have_nonblank(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && buf[i] != '\r') {
			return true;
		}
	}
	return false;
}

/*
 * Feed bytes to the connection's tokener. A value may end anywhere in buf and the next one
 * start right after it; the tokener keeps the state of an unfinished one across reads.
 * Returns the bytes consumed: less than len when the client becomes throttled.
 */
static size_t
conn_parse(struct jsonrpc_conn *conn, const char *buf, size_t len)
{
	size_t max = conn->server->max_request_bytes;
	enum json_tokener_error err;
	struct json_object *value;
	size_t off = 0, end;
	char message[96];

	while (off < len && !conn->closing && !conn_throttled(conn) &&
	       !conn->server->shutdown_pending) {
		value = json_tokener_parse_ex(conn->tok, buf + off, (int)(len - off));
		err = json_tokener_get_error(conn->tok);
		if (err == json_tokener_continue) {
			conn->value_bytes += len - off;
			if (!conn->value_started) {
				conn->value_started = bytes_have_nonblank(buf + off, len - off);
			}
			if (conn->value_bytes > max) {
				conn_fail_oversize(conn);
			}
			return len;
		}
		if (err != json_tokener_success) {
			snprintf(message, sizeof(message), "Parse error: %s",
				 json_tokener_error_desc(err));
			conn_fail(conn, KEEL_JSONRPC_ERROR_PARSE_ERROR, message);
			return len;
		}
		end = json_tokener_get_parse_end(conn->tok);
		conn->value_bytes += end;
		off += end;
		if (conn->value_bytes > max) {
			json_object_put(value);
			conn_fail_oversize(conn);
			return len;
		}
		conn->value_bytes = 0;
		conn->value_started = false;
		/* A bare JSON null parses to a NULL value: still an (invalid) request. */
		conn_dispatch(conn, value);
	}
	return conn->closing ? len : off;
}

/* Parse what was kept while throttled; true if all of it is gone. */
static bool
conn_parse_pending(struct jsonrpc_conn *conn)
{
	size_t used;

	if (conn->pending_len == 0) {
		return true;
	}
	used = conn_parse(conn, conn->pending, conn->pending_len);
	conn->pending_len -= used;
	if (conn->pending_len > 0) {
		memmove(conn->pending, conn->pending + used, conn->pending_len);
		return false;
	}
	free(conn->pending);
	conn->pending = NULL;
	return true;
}

/* Keep the bytes of buf not parsed yet; false if out of memory (the client is dropped). */
static bool
conn_keep_pending(struct jsonrpc_conn *conn, const char *buf, size_t len)
{
	assert(conn->pending_len == 0);
	conn->pending = malloc(len);
	if (conn->pending == NULL) {
		KEEL_ERRLOG("RPC conn %u: out of memory; closing\n", conn->id);
		conn_close(conn);
		return false;
	}
	memcpy(conn->pending, buf, len);
	conn->pending_len = len;
	return true;
}

static void
conn_eof(struct jsonrpc_conn *conn)
{
	/* The client is done sending; answer what it sent, then close. */
	if (conn->value_started) {
		conn_fail(conn, KEEL_JSONRPC_ERROR_PARSE_ERROR,
			  "Parse error: end of input inside a request");
	} else {
		conn->closing = true;
	}
}

static int
conn_read(struct jsonrpc_conn *conn)
{
	char *buf = conn->server->read_buf;
	int i, work = 0;
	size_t used;
	ssize_t n;

	for (i = 0; i < JSONRPC_READS_PER_POLL; i++) {
		if (conn->fd < 0 || conn->closing || !conn_parse_pending(conn) ||
		    conn_throttled(conn)) {
			break;
		}
		n = recv(conn->fd, buf, JSONRPC_READ_CHUNK_BYTES, 0);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno != EAGAIN) {
				KEEL_DEBUGLOG(rpc, "RPC conn %u: recv: %s\n", conn->id,
					      strerror(errno));
				conn_close(conn);
				work++;
			}
			break;
		}
		work++;
		if (n == 0) {
			conn_eof(conn);
			break;
		}
		used = conn_parse(conn, buf, (size_t)n);
		if (used < (size_t)n && !conn_keep_pending(conn, buf + used, (size_t)n - used)) {
			break;
		}
	}
	conn_update_events(conn);
	return work;
}

/* After answers went out: a throttled client may go on with what it already sent. */
static void
conn_resume(struct jsonrpc_conn *conn)
{
	if (conn->fd >= 0 && !conn->closing && conn->pending_len > 0 && !conn_throttled(conn)) {
		conn_parse_pending(conn);
	}
	conn_update_events(conn);
}

/*
 * Polling.
 */

/* The socket is mode 0600 already; the peer's credentials are checked as well, so that a
 * socket made reachable by a looser directory or a chmod still serves only the user the
 * server runs as (and root, which may reach it anyway). */
static bool
server_peer_allowed(uid_t peer, uid_t self)
{
	return peer == self || peer == 0;
}

static bool
server_check_peer(struct keel_jsonrpc_server *server, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		KEEL_ERRLOG("RPC server %s: SO_PEERCRED: %s; refusing a client\n", server->path,
			    strerror(errno));
		return false;
	}
	if (!server_peer_allowed(cred.uid, geteuid())) {
		KEEL_ERRLOG("RPC server %s: refusing a client of uid %u (pid %d): only uid %u and "
			    "root may connect\n",
			    server->path, (unsigned int)cred.uid, (int)cred.pid,
			    (unsigned int)geteuid());
		return false;
	}
	return true;
}

static int
server_accept(struct keel_jsonrpc_server *server)
{
	int i, fd, work = 0;

	for (i = 0; i < JSONRPC_ACCEPTS_PER_POLL; i++) {
		fd = accept4(server->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno != EAGAIN) {
				KEEL_ERRLOG("RPC server %s: accept: %s\n", server->path,
					    strerror(errno));
			}
			break;
		}
		work++;
		if (!server_check_peer(server, fd)) {
			close(fd);
			continue;
		}
		if (server->num_conns >= JSONRPC_MAX_CONNS) {
			KEEL_ERRLOG("RPC server %s: too many clients (%u); refusing one\n",
				    server->path, server->num_conns);
			close(fd);
			continue;
		}
		if (conn_create(server, fd) == NULL) {
			KEEL_ERRLOG("RPC server %s: out of memory for a client\n", server->path);
			close(fd);
		}
	}
	return work;
}

static int
conn_handle_events(struct jsonrpc_conn *conn, uint32_t events)
{
	int work = 0;

	if (events & EPOLLOUT) {
		work += conn_flush(conn) > 0;
		conn_resume(conn);
	}
	if (conn->fd >= 0 && conn->closing && (events & (EPOLLHUP | EPOLLERR))) {
		/* Nobody left to answer. */
		conn_close(conn);
		return 1;
	}
	if (conn->fd >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
		work += conn_read(conn);
	}
	return work;
}

/* Move answers from the completion queue to their connections and write them. */
static int
server_drain_completions(struct keel_jsonrpc_server *server)
{
	struct jsonrpc_outmsg_list list = STAILQ_HEAD_INITIALIZER(list);
	struct jsonrpc_outmsg *msg;
	struct jsonrpc_conn *conn;
	uint64_t counter;
	int work = 0;

	pthread_mutex_lock(&server->mutex);
	if (!STAILQ_EMPTY(&server->completed)) {
		STAILQ_CONCAT(&list, &server->completed);
		if (read(server->event_fd, &counter, sizeof(counter)) < 0 && errno != EAGAIN) {
			KEEL_ERRLOG("RPC server: eventfd read failed: %s\n", strerror(errno));
		}
	}
	pthread_mutex_unlock(&server->mutex);

	while ((msg = STAILQ_FIRST(&list)) != NULL) {
		STAILQ_REMOVE_HEAD(&list, link);
		conn = msg->conn;
		assert(conn->refs > 0);
		conn->refs--;
		conn_queue_msg(conn, msg);
		conn_flush(conn);
		conn_resume(conn);
		work++;
	}
	return work;
}

/* Close connections that have finished closing; free closed ones nobody refers to. */
static int
server_reap(struct keel_jsonrpc_server *server)
{
	struct jsonrpc_conn *conn, *next;
	int work = 0;

	for (conn = TAILQ_FIRST(&server->conns); conn != NULL; conn = next) {
		next = TAILQ_NEXT(conn, link);
		if (conn->closing && conn->refs == 0 && STAILQ_EMPTY(&conn->sendq)) {
			conn_close(conn);
			work++;
		}
	}
	for (conn = TAILQ_FIRST(&server->closed); conn != NULL; conn = next) {
		next = TAILQ_NEXT(conn, link);
		if (conn->refs == 0) {
			TAILQ_REMOVE(&server->closed, conn, link);
			free(conn);
		}
	}
	return work;
}

int
keel_jsonrpc_server_poll(struct keel_jsonrpc_server *server)
{
	struct epoll_event events[JSONRPC_EPOLL_EVENTS];
	int i, n, work = 0;

	server->in_poll = true;
	n = epoll_wait(server->epoll_fd, events, JSONRPC_EPOLL_EVENTS, 0);
	for (i = 0; i < n && !server->shutdown_pending; i++) {
		if (events[i].data.ptr == &server->listen_fd) {
			work += server_accept(server);
		} else if (events[i].data.ptr != &server->event_fd) {
			/* The eventfd only wakes us; the drain below reads it back. */
			work += conn_handle_events(events[i].data.ptr, events[i].events);
		}
	}
	work += server_drain_completions(server);
	work += server_reap(server);
	server->in_poll = false;
	if (server->shutdown_pending) {
		keel_jsonrpc_server_shutdown(server);
	}
	return work;
}

void
keel_jsonrpc_server_shutdown(struct keel_jsonrpc_server *server)
{
	struct jsonrpc_outmsg *msg;
	struct jsonrpc_conn *conn;
	bool last;

	if (server == NULL) {
		return;
	}
	if (server->in_poll) {
		/* Called by a handler: the poll in progress still uses the connections. */
		server->shutdown_pending = true;
		return;
	}
	while ((conn = TAILQ_FIRST(&server->conns)) != NULL) {
		conn_close(conn);
	}
	/* Answers still to come are dropped without looking at their connection. */
	while ((conn = TAILQ_FIRST(&server->closed)) != NULL) {
		TAILQ_REMOVE(&server->closed, conn, link);
		free(conn);
	}

	pthread_mutex_lock(&server->mutex);
	server->shut_down = true;
	while ((msg = STAILQ_FIRST(&server->completed)) != NULL) {
		STAILQ_REMOVE_HEAD(&server->completed, link);
		free(msg);
	}
	last = server->outstanding == 0;
	pthread_mutex_unlock(&server->mutex);

	close(server->event_fd);
	close(server->epoll_fd);
	close(server->listen_fd);
	unlink(server->path);
	/* Unlink the lock before releasing it, so a successor never locks a doomed file. */
	unlink(server->lock_path);
	close(server->lock_fd);
	KEEL_INFOLOG(rpc, "RPC server on %s stopped\n", server->path);
	if (last) {
		jsonrpc_free_server(server);
	}
}
