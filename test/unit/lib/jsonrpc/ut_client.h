/*
 * A test client for the JSON-RPC server tests: blocking connect, non-blocking sends and
 * reads, and helpers that poll the server (ut_poll_once, defined by the test) while waiting
 * for a response line or the end of the stream.
 */
#ifndef KEEL_JSONRPC_UT_CLIENT_H
#define KEEL_JSONRPC_UT_CLIENT_H

#include "keel/stdinc.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <json.h>

#include "ut.h"

#define UT_TIMEOUT_MS 3000

static void ut_poll_once(void);

struct ut_client {
	int fd;
	char buf[1 << 16];
	size_t len;
};

static int64_t
ut_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct ut_client *
ut_connect_path(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct ut_client *c;

	c = calloc(1, sizeof(*c));
	CU_ASSERT_FATAL(c != NULL);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(c->fd >= 0);
	CU_ASSERT_FATAL(connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	return c;
}

static void
ut_close(struct ut_client *c)
{
	if (c->fd >= 0) {
		close(c->fd);
	}
	free(c);
}

static void
ut_send_len(struct ut_client *c, const char *data, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(c->fd, data + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN) {
			ut_poll_once();
			continue;
		}
		CU_ASSERT_FATAL(n > 0);
		off += (size_t)n;
	}
}

static void
ut_send(struct ut_client *c, const char *data)
{
	ut_send_len(c, data, strlen(data));
}

/* Read without blocking; returns bytes read, 0 at end of stream, -1 if nothing yet. */
static ssize_t
ut_fill(struct ut_client *c)
{
	ssize_t n;

	CU_ASSERT_FATAL(c->len < sizeof(c->buf) - 1);
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);
	if (n < 0 && errno == ECONNRESET) {
		/* The server closed with some of our bytes unread. */
		return 0;
	}
	if (n < 0) {
		CU_ASSERT(errno == EAGAIN);
		return -1;
	}
	c->len += (size_t)n;
	return n;
}

/* Poll the server until one response line arrives on c; returns its text (malloc'd) or NULL. */
static char *
ut_recv_line_text(struct ut_client *c, int timeout_ms)
{
	int64_t end = ut_now_ms() + timeout_ms;
	char *nl, *line;
	size_t n;

	for (;;) {
		nl = memchr(c->buf, '\n', c->len);
		if (nl != NULL) {
			n = (size_t)(nl - c->buf);
			line = strndup(c->buf, n);
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return line;
		}
		if (ut_now_ms() >= end || ut_fill(c) == 0) {
			return NULL;
		}
		ut_poll_once();
	}
}

static struct json_object *
ut_recv(struct ut_client *c)
{
	struct json_tokener *tok = json_tokener_new_ex(256);
	struct json_object *obj;
	char *line;

	line = ut_recv_line_text(c, UT_TIMEOUT_MS);
	CU_ASSERT_FATAL(line != NULL);
	obj = json_tokener_parse_ex(tok, line, (int)strlen(line) + 1);
	CU_ASSERT(obj != NULL);
	json_tokener_free(tok);
	free(line);
	return obj;
}

/* True if nothing arrives on c within ms while the server is polled. */
static bool
ut_recv_nothing(struct ut_client *c, int ms)
{
	char *line = ut_recv_line_text(c, ms);

	free(line);
	return line == NULL && c->len == 0;
}

/* Poll until the server closes c (end of stream); true if it did. */
static bool
ut_wait_eof(struct ut_client *c)
{
	int64_t end = ut_now_ms() + UT_TIMEOUT_MS;
	ssize_t n;

	while (ut_now_ms() < end) {
		n = ut_fill(c);
		if (n == 0) {
			return true;
		}
		c->len = 0;
		ut_poll_once();
	}
	return false;
}

static struct json_object *
ut_get(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(obj, key, &v)) {
		return NULL;
	}
	return v;
}

static bool
ut_has(struct json_object *obj, const char *key)
{
	return json_object_object_get_ex(obj, key, NULL);
}

static int
ut_error_code(struct json_object *resp)
{
	return json_object_get_int(ut_get(ut_get(resp, "error"), "code"));
}

static const char *
ut_error_message(struct json_object *resp)
{
	return json_object_get_string(ut_get(ut_get(resp, "error"), "message"));
}

#endif /* KEEL_JSONRPC_UT_CLIENT_H */
