/*
 * Private structures of the JSON-RPC server, shared by the socket side (jsonrpc_server.c) and
 * the request/response side (jsonrpc_request.c).
 */
#ifndef KEEL_JSONRPC_INTERNAL_H
#define KEEL_JSONRPC_INTERNAL_H

#include "keel/stdinc.h"
#include "keel/jsonrpc.h"

#include <pthread.h>
#include <json.h>

/* Bytes read from a socket in one read() call (into the server's shared buffer). */
#define JSONRPC_READ_CHUNK_BYTES (64u * 1024)
/* read() calls per connection per poll, so one busy client cannot starve the others. */
#define JSONRPC_READS_PER_POLL 4
/* Stop reading from a client while it has this many requests (or batches) unanswered... */
#define JSONRPC_CONN_MAX_OUTSTANDING 128
/* ...or this many response bytes not yet written to it. */
#define JSONRPC_CONN_MAX_SEND_BYTES (4u * 1024 * 1024)
/* Connections served at once; more are accepted and closed at once. */
#define JSONRPC_MAX_CONNS 256
/* Nesting depth accepted by the parser (json-c's default is 32). */
#define JSONRPC_MAX_DEPTH 64

/*
 * One serialised response (or batch response) on its way to a client: first on the server's
 * completion queue, then on the connection's send queue. A zero-length message only returns
 * the connection's reference (a notification or an all-notification batch).
 */
struct jsonrpc_outmsg {
	STAILQ_ENTRY(jsonrpc_outmsg) link;
	struct jsonrpc_conn *conn;
	size_t len;
	size_t sent;
	char data[];
};

STAILQ_HEAD(jsonrpc_outmsg_list, jsonrpc_outmsg);

struct jsonrpc_conn {
	struct keel_jsonrpc_server *server;
	int fd;      /* -1 once closed */
	uint32_t id; /* for log messages */
	struct json_tokener *tok;
	char *pending; /* bytes read but not parsed yet (while throttled) */
	size_t pending_len;
	size_t value_bytes; /* bytes fed to the tokener for the value being parsed */
	bool value_started; /* a non-blank byte of that value has been seen */
	bool closing;       /* read no more; close when everything is answered and sent */
	uint32_t events;    /* epoll events currently registered */
	uint32_t refs;      /* requests/batches dispatched and not yet drained */
	size_t send_bytes;  /* bytes waiting in sendq */
	struct jsonrpc_outmsg_list sendq;
	TAILQ_ENTRY(jsonrpc_conn) link;
};

TAILQ_HEAD(jsonrpc_conn_list, jsonrpc_conn);

struct keel_jsonrpc_server {
	char *path;
	char *lock_path;
	int listen_fd;
	int lock_fd;
	int epoll_fd;
	int event_fd;
	size_t max_request_bytes;
	keel_jsonrpc_handle_request_fn handle_request;
	struct jsonrpc_conn_list conns;  /* open connections */
	struct jsonrpc_conn_list closed; /* closed, waiting for their last responses */
	uint32_t num_conns;
	uint32_t next_conn_id;
	char *read_buf;
	bool in_poll;          /* inside keel_jsonrpc_server_poll() */
	bool shutdown_pending; /* shut down from a handler: finish when poll returns */

	/* Shared with the threads that send responses. */
	pthread_mutex_t mutex;
	struct jsonrpc_outmsg_list completed; /* responses waiting for poll */
	uint64_t outstanding;                 /* units dispatched and not yet completed */
	bool shut_down;                       /* fds closed; freed by the last completion */
};

/*
 * One request. A request from a socket owns the parsed value (root) and a message
 * preallocated for its answer, so that answering never fails to give back the connection's
 * reference. Elements of a batch live inside the batch and share its root and message.
 */
struct keel_jsonrpc_request {
	struct keel_jsonrpc_server *server; /* NULL for a local request */
	struct jsonrpc_conn *conn;
	struct jsonrpc_batch *batch; /* NULL unless an element of a batch */
	struct json_object *root;    /* single request: the parsed value */
	struct jsonrpc_outmsg *msg;  /* single request: its answer's message */
	struct json_object *id;      /* owned copy; NULL is JSON null */
	bool is_notification;
	keel_jsonrpc_local_cb local_cb;
	void *local_cb_arg;
};

/* A batch: its elements' responses gather in one array, sent when the last one answers. */
struct jsonrpc_batch {
	struct keel_jsonrpc_server *server;
	struct jsonrpc_conn *conn;
	struct json_object *root;      /* the parsed array (params point into it) */
	struct json_object *responses; /* array of response objects */
	struct jsonrpc_outmsg *msg;
	uint32_t remaining; /* elements that have not answered yet (under server->mutex) */
	uint32_t count;
	struct keel_jsonrpc_request reqs[];
};

/* jsonrpc_request.c */

/* A request from conn that takes over root (a reference) and copies id; NULL if out of memory. */
struct keel_jsonrpc_request *jsonrpc_request_create(struct jsonrpc_conn *conn,
						    struct json_object *root,
						    struct json_object *id, bool is_notification);
/* A batch of count elements from conn that takes over root; NULL if out of memory. */
struct jsonrpc_batch *jsonrpc_batch_create(struct jsonrpc_conn *conn, struct json_object *root,
					   uint32_t count);
/* Set up element i of batch (id copied). */
struct keel_jsonrpc_request *jsonrpc_batch_element(struct jsonrpc_batch *batch, uint32_t i,
						   struct json_object *id, bool is_notification);
/* A zero-length message that carries a response back to conn once filled. */
struct jsonrpc_outmsg *jsonrpc_outmsg_create(struct jsonrpc_conn *conn);
/* Serialise obj as one line into a new message for conn; NULL if out of memory. */
struct jsonrpc_outmsg *jsonrpc_outmsg_from_json(struct jsonrpc_conn *conn, struct json_object *obj);
/* Build {"jsonrpc":"2.0","id":id,"error":{...}}; takes over id. */
struct json_object *jsonrpc_error_response(struct json_object *id, int code, const char *message);
void jsonrpc_free_server(struct keel_jsonrpc_server *server);

#endif /* KEEL_JSONRPC_INTERNAL_H */
