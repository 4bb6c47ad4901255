/*
 * The generic socket layer: the implementation registry, address helpers shared by the
 * implementations, and the calls that forward to the socket's implementation.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/sock.h"
#include "keel/util.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define SOCK_GROUP_MAX_EVENTS 64

static TAILQ_HEAD(, keel_sock_impl_ops) g_impls = TAILQ_HEAD_INITIALIZER(g_impls);
static const struct keel_sock_impl_ops *g_default_impl;

void
keel_sock_impl_register(struct keel_sock_impl_ops *ops)
{
	TAILQ_INSERT_TAIL(&g_impls, ops, link);
}

static const struct keel_sock_impl_ops *
sock_find_impl(const char *name)
{
	struct keel_sock_impl_ops *ops;

	TAILQ_FOREACH(ops, &g_impls, link) {
		if (strcmp(ops->name, name) == 0) {
			return ops;
		}
	}
	return NULL;
}

const struct keel_sock_impl_ops *
keel_sock_impl_get(const char *name)
{
	return sock_find_impl(name);
}

static const struct keel_sock_impl_ops *
sock_default_impl(void)
{
	if (g_default_impl == NULL) {
		g_default_impl = sock_find_impl("posix");
	}
	return g_default_impl;
}

int
keel_sock_set_default_impl(const char *name)
{
	const struct keel_sock_impl_ops *ops = sock_find_impl(name);

	if (ops == NULL) {
		return -ENOENT;
	}
	g_default_impl = ops;
	return 0;
}

const char *
keel_sock_get_default_impl(void)
{
	const struct keel_sock_impl_ops *ops = sock_default_impl();

	return ops ? ops->name : "";
}

void
keel_sock_opts_init(struct keel_sock_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->no_delay = true;
}

/* "[::1]" -> "::1"; others unchanged. */
static void
sock_strip_brackets(const char *host, char *out, size_t len)
{
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		keel_strlcpy(out, host + 1, KEEL_MIN(len, n - 1));
	} else {
		keel_strlcpy(out, host, len);
	}
}

int
keel_sock_resolve(const char *host, uint16_t port, bool passive, void *sa, size_t *salen,
		  int *family)
{
	struct addrinfo hints = {0}, *res;
	char h[256], p[8];
	int rc;

	sock_strip_brackets(host, h, sizeof(h));
	snprintf(p, sizeof(p), "%u", port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	rc = getaddrinfo(h, p, &hints, &res);
	if (rc != 0) {
		KEEL_ERRLOG("cannot resolve '%s': %s\n", host, gai_strerror(rc));
		return -EINVAL;
	}
	if (res->ai_addrlen > *salen) {
		freeaddrinfo(res);
		return -EINVAL;
	}
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	*salen = res->ai_addrlen;
	*family = res->ai_family;
	freeaddrinfo(res);
	return 0;
}

int
keel_sock_apply_opts(int fd, const struct keel_sock_opts *opts)
{
	struct keel_sock_opts def;
	int one = 1;

	if (opts == NULL) {
		keel_sock_opts_init(&def);
		opts = &def;
	}
	if (opts->no_delay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
		return -errno;
	}
	if (opts->recv_buf_size > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opts->recv_buf_size, sizeof(int)) != 0) {
		return -errno;
	}
	if (opts->send_buf_size > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &opts->send_buf_size, sizeof(int)) != 0) {
		return -errno;
	}
	return 0;
}

static int
sock_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len, uint16_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)len);
		*port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)len);
		*port = ntohs(in6->sin6_port);
	} else {
		return -EINVAL;
	}
	return 0;
}

int
keel_sock_fill_addrs(struct keel_sock *sock)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(sock->fd, (struct sockaddr *)&ss, &sl) != 0) {
		return -errno;
	}
	sock->ipv6 = ss.ss_family == AF_INET6;
	sock_addr_str(&ss, sock->saddr, sizeof(sock->saddr), &sock->sport);
	sl = sizeof(ss);
	if (getpeername(sock->fd, (struct sockaddr *)&ss, &sl) == 0) {
		sock_addr_str(&ss, sock->caddr, sizeof(sock->caddr), &sock->cport);
	}
	return 0;
}

struct keel_sock *
keel_sock_listen(const char *host, uint16_t port, const struct keel_sock_opts *opts, int *rc)
{
	const struct keel_sock_impl_ops *ops = sock_default_impl();

	if (ops == NULL) {
		*rc = -ENOENT;
		return NULL;
	}
	return ops->listen(host, port, opts, rc);
}

struct keel_sock *
keel_sock_connect(const char *host, uint16_t port, const struct keel_sock_opts *opts, int *rc)
{
	const struct keel_sock_impl_ops *ops = sock_default_impl();

	if (ops == NULL) {
		*rc = -ENOENT;
		return NULL;
	}
	return ops->connect(host, port, opts, rc);
}

struct keel_sock *
keel_sock_accept(struct keel_sock *lsock)
{
	return lsock->ops->accept(lsock);
}

int
keel_sock_close(struct keel_sock **psock)
{
	struct keel_sock *sock = *psock;

	if (sock == NULL) {
		return 0;
	}
	*psock = NULL;
	if (sock->group != NULL) {
		keel_sock_group_remove_sock(sock->group, sock);
	}
	return sock->ops->close(sock);
}

ssize_t
keel_sock_recv(struct keel_sock *sock, void *buf, size_t len)
{
	return sock->ops->recv(sock, buf, len);
}

ssize_t
keel_sock_readv(struct keel_sock *sock, struct iovec *iov, int iovcnt)
{
	return sock->ops->readv(sock, iov, iovcnt);
}

ssize_t
keel_sock_writev(struct keel_sock *sock, struct iovec *iov, int iovcnt)
{
	ssize_t rc = sock->ops->writev(sock, iov, iovcnt);
	size_t total = 0;
	int i;

	if (rc < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			sock->want_write = true;
		}
		return rc;
	}
	for (i = 0; i < iovcnt; i++) {
		total += iov[i].iov_len;
	}
	if ((size_t)rc < total) {
		/* The send buffer is full: the group reports the socket once it drains. */
		sock->want_write = true;
	}
	return rc;
}

int
keel_sock_getaddr(struct keel_sock *sock, char *saddr, int slen, uint16_t *sport, char *caddr,
		  int clen, uint16_t *cport)
{
	if (saddr != NULL) {
		keel_strlcpy(saddr, sock->saddr, (size_t)slen);
	}
	if (sport != NULL) {
		*sport = sock->sport;
	}
	if (caddr != NULL) {
		keel_strlcpy(caddr, sock->caddr, (size_t)clen);
	}
	if (cport != NULL) {
		*cport = sock->cport;
	}
	return 0;
}

bool
keel_sock_is_ipv6(struct keel_sock *sock)
{
	return sock->ipv6;
}

int
keel_sock_get_fd(struct keel_sock *sock)
{
	return sock->fd;
}

const char *
keel_sock_get_impl_name(struct keel_sock *sock)
{
	return sock->ops->name;
}

struct keel_sock_group *
keel_sock_group_create(void)
{
	const struct keel_sock_impl_ops *ops = sock_default_impl();

	return ops ? ops->group_create() : NULL;
}

int
keel_sock_group_add_sock(struct keel_sock_group *group, struct keel_sock *sock, keel_sock_cb cb,
			 void *cb_arg)
{
	int rc;

	if (sock->group != NULL || cb == NULL) {
		return -EINVAL;
	}
	if (sock->ops != group->ops) {
		return -EINVAL;
	}
	sock->cb = cb;
	sock->cb_arg = cb_arg;
	rc = group->ops->group_add(group, sock);
	if (rc == 0) {
		sock->group = group;
		group->num_socks++;
	}
	return rc;
}

int
keel_sock_group_remove_sock(struct keel_sock_group *group, struct keel_sock *sock)
{
	int rc, i;

	if (sock->group != group) {
		return -EINVAL;
	}
	for (i = 0; i < group->batch_len; i++) {
		if (group->batch[i] == sock) {
			group->batch[i] = NULL;
		}
	}
	rc = group->ops->group_remove(group, sock);
	sock->group = NULL;
	sock->cb = NULL;
	group->num_socks--;
	return rc;
}

int
keel_sock_group_poll(struct keel_sock_group *group, int max_events)
{
	struct keel_sock *ready[SOCK_GROUP_MAX_EVENTS];
	int n, i;

	if (max_events <= 0 || max_events > SOCK_GROUP_MAX_EVENTS) {
		max_events = SOCK_GROUP_MAX_EVENTS;
	}
	n = group->ops->group_poll(group, max_events, ready);
	group->batch = ready;
	group->batch_len = n > 0 ? n : 0;
	for (i = 0; i < n; i++) {
		/* A callback may have removed (and freed) a later socket: it is NULL then. */
		if (ready[i] != NULL) {
			ready[i]->cb(ready[i]->cb_arg, group, ready[i]);
		}
	}
	group->batch = NULL;
	group->batch_len = 0;
	return n < 0 ? 0 : n;
}

int
keel_sock_group_get_fd(struct keel_sock_group *group)
{
	return group->ops->group_get_fd(group);
}

int
keel_sock_group_close(struct keel_sock_group **pgroup)
{
	struct keel_sock_group *group = *pgroup;

	if (group == NULL) {
		return 0;
	}
	if (group->num_socks != 0) {
		return -EBUSY;
	}
	*pgroup = NULL;
	return group->ops->group_close(group);
}
