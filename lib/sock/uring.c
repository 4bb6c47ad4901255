/*
 * The "uring" socket implementation: each group is an io_uring; sockets are watched with
 * multishot poll requests (for data, and for room to write after a short write), so a poll of
 * the group is one look at the completion queue with no system call when nothing happened. Reads and writes go through the same vectored calls as
 * "posix"; the ring's eventfd wakes an idle reactor in interrupt mode.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/sock.h"

#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#define URING_ENTRIES 512
#define URING_CANCEL_TAG 1ULL

struct uring_group {
	struct keel_sock_group base;
	struct io_uring ring;
	int efd;
	uint32_t pending_sqes;
	/* Readiness of other sockets seen while removing one: reported by the next poll. */
	struct keel_sock *deferred[URING_ENTRIES];
	int ndeferred;
};

static struct keel_sock_impl_ops g_uring_ops;

/* Sockets themselves are posix sockets with our ops; the data calls are posix's. */
static const struct keel_sock_impl_ops *
uring_posix(void)
{
	return keel_sock_impl_get("posix");
}

static struct keel_sock *
uring_wrap(struct keel_sock *sock)
{
	if (sock != NULL) {
		sock->ops = &g_uring_ops;
	}
	return sock;
}

static struct keel_sock *
uring_listen(const char *host, uint16_t port, const struct keel_sock_opts *opts, int *rc)
{
	return uring_wrap(uring_posix()->listen(host, port, opts, rc));
}

static struct keel_sock *
uring_connect(const char *host, uint16_t port, const struct keel_sock_opts *opts, int *rc)
{
	return uring_wrap(uring_posix()->connect(host, port, opts, rc));
}

static struct keel_sock *
uring_accept(struct keel_sock *lsock)
{
	return uring_wrap(uring_posix()->accept(lsock));
}

static int
uring_close(struct keel_sock *sock)
{
	return uring_posix()->close(sock);
}

static ssize_t
uring_recv(struct keel_sock *sock, void *buf, size_t len)
{
	return uring_posix()->recv(sock, buf, len);
}

static ssize_t
uring_readv(struct keel_sock *sock, struct iovec *iov, int iovcnt)
{
	return uring_posix()->readv(sock, iov, iovcnt);
}

static ssize_t
uring_writev(struct keel_sock *sock, struct iovec *iov, int iovcnt)
{
	return uring_posix()->writev(sock, iov, iovcnt);
}

static struct keel_sock_group *
uring_group_create(void)
{
	struct uring_group *g = calloc(1, sizeof(*g));

	if (g == NULL) {
		return NULL;
	}
	g->base.ops = &g_uring_ops;
	if (io_uring_queue_init(URING_ENTRIES, &g->ring, 0) != 0) {
		free(g);
		return NULL;
	}
	g->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g->efd < 0 || io_uring_register_eventfd(&g->ring, g->efd) != 0) {
		if (g->efd >= 0) {
			close(g->efd);
		}
		io_uring_queue_exit(&g->ring);
		free(g);
		return NULL;
	}
	return &g->base;
}

static struct io_uring_sqe *
uring_get_sqe(struct uring_group *g)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&g->ring);

	if (sqe == NULL) {
		io_uring_submit(&g->ring);
		g->pending_sqes = 0;
		sqe = io_uring_get_sqe(&g->ring);
	}
	return sqe;
}

static int
uring_arm(struct uring_group *g, struct keel_sock *sock)
{
	struct io_uring_sqe *sqe = uring_get_sqe(g);

	if (sqe == NULL) {
		return -ENOMEM;
	}
	io_uring_prep_poll_multishot(sqe, sock->fd, POLLIN | POLLRDHUP | POLLOUT);
	io_uring_sqe_set_data(sqe, sock);
	g->pending_sqes++;
	io_uring_submit(&g->ring);
	g->pending_sqes = 0;
	return 0;
}

static int
uring_group_add(struct keel_sock_group *group, struct keel_sock *sock)
{
	return uring_arm((struct uring_group *)group, sock);
}

static int
uring_group_remove(struct keel_sock_group *group, struct keel_sock *sock)
{
	struct uring_group *g = (struct uring_group *)group;
	struct io_uring_sqe *sqe = uring_get_sqe(g);
	struct io_uring_cqe *cqe;
	bool gone = false;
	int i;

	if (sqe == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < g->ndeferred; i++) {
		if (g->deferred[i] == sock) {
			g->deferred[i] = g->deferred[--g->ndeferred];
			i--;
		}
	}
	io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)sock);
	io_uring_sqe_set_data64(sqe, URING_CANCEL_TAG);
	io_uring_submit(&g->ring);
	/* Reap until the poll request is gone, so no completion names the socket later. */
	while (!gone && io_uring_wait_cqe(&g->ring, &cqe) == 0) {
		void *data = io_uring_cqe_get_data(cqe);

		if (data == (void *)sock && !(cqe->flags & IORING_CQE_F_MORE)) {
			gone = true;
		}
		if (cqe->user_data == URING_CANCEL_TAG && cqe->res == -ENOENT) {
			gone = true;
		}
		if (data != NULL && data != (void *)sock && cqe->user_data != URING_CANCEL_TAG &&
		    g->ndeferred < URING_ENTRIES) {
			g->deferred[g->ndeferred++] = data;
		}
		io_uring_cqe_seen(&g->ring, cqe);
	}
	return 0;
}

static int
uring_group_poll(struct keel_sock_group *group, int max_events, struct keel_sock **ready)
{
	struct uring_group *g = (struct uring_group *)group;
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int n = 0, i, j;
	uint64_t val;

	/* Sockets removed since were taken out of the deferred list by uring_group_remove. */
	for (j = 0; j < g->ndeferred && n < max_events; j++) {
		ready[n++] = g->deferred[j];
	}
	g->ndeferred = 0;

	io_uring_for_each_cqe(&g->ring, head, cqe) {
		struct keel_sock *sock = io_uring_cqe_get_data(cqe);

		seen++;
		if (cqe->user_data == URING_CANCEL_TAG || sock == NULL) {
			continue;
		}
		if (!(cqe->flags & IORING_CQE_F_MORE) && sock->group == group) {
			/* The multishot request ended (overflow or error): re-arm it. */
			uring_arm(g, sock);
		}
		if (cqe->res > 0 && !(cqe->res & ~POLLOUT)) {
			/* Room to write: only for a socket whose last write was short. */
			if (!sock->want_write) {
				continue;
			}
			sock->want_write = false;
		} else if (cqe->res > 0 && (cqe->res & POLLOUT)) {
			sock->want_write = false;
		}
		for (i = 0; i < n; i++) {
			if (ready[i] == sock) {
				break;
			}
		}
		if (i == n && n < max_events) {
			ready[n++] = sock;
		}
	}
	io_uring_cq_advance(&g->ring, seen);
	if (seen > 0 && read(g->efd, &val, sizeof(val)) < 0) {
		/* EAGAIN: already read. */
	}
	return n;
}

static int
uring_group_get_fd(struct keel_sock_group *group)
{
	return ((struct uring_group *)group)->efd;
}

static int
uring_group_close(struct keel_sock_group *group)
{
	struct uring_group *g = (struct uring_group *)group;

	io_uring_unregister_eventfd(&g->ring);
	close(g->efd);
	io_uring_queue_exit(&g->ring);
	free(g);
	return 0;
}

static struct keel_sock_impl_ops g_uring_ops = {
	.name = "uring",
	.listen = uring_listen,
	.connect = uring_connect,
	.accept = uring_accept,
	.close = uring_close,
	.recv = uring_recv,
	.readv = uring_readv,
	.writev = uring_writev,
	.group_create = uring_group_create,
	.group_add = uring_group_add,
	.group_remove = uring_group_remove,
	.group_poll = uring_group_poll,
	.group_get_fd = uring_group_get_fd,
	.group_close = uring_group_close,
};
KEEL_SOCK_REGISTER_IMPL(uring, &g_uring_ops)
