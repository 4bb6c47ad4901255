/*
 * The "posix" socket implementation: non-blocking TCP sockets, readv/writev system calls, and
 * an epoll instance per group, edge-triggered for data and for room in the send buffer (the
 * latter reported only after a short write).
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/sock.h"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

struct posix_group {
	struct keel_sock_group base;
	int epfd;
};

static struct keel_sock_impl_ops g_posix_ops;

static struct keel_sock *
posix_alloc(int fd)
{
	struct keel_sock *sock = calloc(1, sizeof(*sock));

	if (sock == NULL) {
		return NULL;
	}
	sock->ops = &g_posix_ops;
	sock->fd = fd;
	return sock;
}

static struct keel_sock *
posix_listen(const char *host, uint16_t port, const struct keel_sock_opts *opts, int *rc)
{
	struct sockaddr_storage ss;
	size_t sl = sizeof(ss);
	struct keel_sock *sock;
	int fd, family, one = 1;

	*rc = keel_sock_resolve(host, port, true, &ss, &sl, &family);
	if (*rc != 0) {
		return NULL;
	}
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*rc = -errno;
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)sl) != 0 || listen(fd, 512) != 0) {
		*rc = -errno;
		close(fd);
		return NULL;
	}
	sock = posix_alloc(fd);
	if (sock == NULL) {
		close(fd);
		*rc = -ENOMEM;
		return NULL;
	}
	keel_sock_fill_addrs(sock);
	*rc = 0;
	return sock;
}

static struct keel_sock *
posix_connect(const char *host, uint16_t port, const struct keel_sock_opts *opts, int *rc)
{
	struct sockaddr_storage ss;
	size_t sl = sizeof(ss);
	struct keel_sock *sock;
	int fd, family, flags;

	*rc = keel_sock_resolve(host, port, false, &ss, &sl, &family);
	if (*rc != 0) {
		return NULL;
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*rc = -errno;
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&ss, (socklen_t)sl) != 0) {
		*rc = -errno;
		close(fd);
		return NULL;
	}
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	*rc = keel_sock_apply_opts(fd, opts);
	sock = *rc == 0 ? posix_alloc(fd) : NULL;
	if (sock == NULL) {
		*rc = *rc ? *rc : -ENOMEM;
		close(fd);
		return NULL;
	}
	keel_sock_fill_addrs(sock);
	return sock;
}

static struct keel_sock *
posix_accept(struct keel_sock *lsock)
{
	struct keel_sock *sock;
	int fd;

	fd = accept4(lsock->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		return NULL;
	}
	if (keel_sock_apply_opts(fd, NULL) != 0) {
		KEEL_WARNLOG("accepted socket: cannot set TCP_NODELAY\n");
	}
	sock = posix_alloc(fd);
	if (sock == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	keel_sock_fill_addrs(sock);
	return sock;
}

static int
posix_close(struct keel_sock *sock)
{
	int rc = close(sock->fd);

	free(sock);
	return rc == 0 ? 0 : -errno;
}

static ssize_t
posix_recv(struct keel_sock *sock, void *buf, size_t len)
{
	return recv(sock->fd, buf, len, 0);
}

static ssize_t
posix_readv(struct keel_sock *sock, struct iovec *iov, int iovcnt)
{
	return readv(sock->fd, iov, iovcnt);
}

static ssize_t
posix_writev(struct keel_sock *sock, struct iovec *iov, int iovcnt)
{
	struct msghdr msg = {0};

	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)iovcnt;
	return sendmsg(sock->fd, &msg, MSG_NOSIGNAL);
}

static struct keel_sock_group *
posix_group_create(void)
{
	struct posix_group *g = calloc(1, sizeof(*g));

	if (g == NULL) {
		return NULL;
	}
	g->base.ops = &g_posix_ops;
	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g->epfd < 0) {
		free(g);
		return NULL;
	}
	return &g->base;
}

static int
posix_group_add(struct keel_sock_group *group, struct keel_sock *sock)
{
	struct posix_group *g = (struct posix_group *)group;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLOUT | EPOLLET};

	ev.data.ptr = sock;
	return epoll_ctl(g->epfd, EPOLL_CTL_ADD, sock->fd, &ev) == 0 ? 0 : -errno;
}

static int
posix_group_remove(struct keel_sock_group *group, struct keel_sock *sock)
{
	struct posix_group *g = (struct posix_group *)group;

	return epoll_ctl(g->epfd, EPOLL_CTL_DEL, sock->fd, NULL) == 0 ? 0 : -errno;
}

static int
posix_group_poll(struct keel_sock_group *group, int max_events, struct keel_sock **ready)
{
	struct posix_group *g = (struct posix_group *)group;
	struct epoll_event evs[64];
	int n, i, k = 0;

	n = epoll_wait(g->epfd, evs, KEEL_MIN(max_events, 64), 0);
	for (i = 0; i < n; i++) {
		struct keel_sock *sock = evs[i].data.ptr;
		/* Room to write matters only to a socket whose last write was short. */
		bool out = (evs[i].events & EPOLLOUT) && sock->want_write;

		if (out) {
			sock->want_write = false;
		}
		if (out || (evs[i].events & ~(uint32_t)EPOLLOUT)) {
			ready[k++] = sock;
		}
	}
	return k;
}

static int
posix_group_get_fd(struct keel_sock_group *group)
{
	return ((struct posix_group *)group)->epfd;
}

static int
posix_group_close(struct keel_sock_group *group)
{
	struct posix_group *g = (struct posix_group *)group;

	close(g->epfd);
	free(g);
	return 0;
}

static struct keel_sock_impl_ops g_posix_ops = {
	.name = "posix",
	.listen = posix_listen,
	.connect = posix_connect,
	.accept = posix_accept,
	.close = posix_close,
	.recv = posix_recv,
	.readv = posix_readv,
	.writev = posix_writev,
	.group_create = posix_group_create,
	.group_add = posix_group_add,
	.group_remove = posix_group_remove,
	.group_poll = posix_group_poll,
	.group_get_fd = posix_group_get_fd,
	.group_close = posix_group_close,
};
KEEL_SOCK_REGISTER_IMPL(posix, &g_posix_ops)
