/*
 * TCP sockets for the iSCSI target: listen, accept and connect over IPv4 and IPv6, non-blocking
 * I/O with vectored sends, and per-thread socket groups that a poller drives. Two
 * implementations sit behind this interface: "posix" (epoll) and "uring" (io_uring).
 */
#ifndef KEEL_SOCK_H
#define KEEL_SOCK_H

#include "keel/stdinc.h"

#ifdef __cplusplus
extern "C" {
#endif

struct keel_sock;
struct keel_sock_group;

#define KEEL_SOCK_ADDR_LEN 64

typedef void (*keel_sock_cb)(void *cb_arg, struct keel_sock_group *group,
			     struct keel_sock *sock);

struct keel_sock_opts {
	int recv_buf_size;	/* SO_RCVBUF, 0 = system default */
	int send_buf_size;	/* SO_SNDBUF, 0 = system default */
	bool no_delay;		/* TCP_NODELAY (default true) */
};

void keel_sock_opts_init(struct keel_sock_opts *opts);

/** Choose the implementation used by later listen/connect calls: "posix" (default), "uring".
 * \return 0; -ENOENT if unknown. */
int keel_sock_set_default_impl(const char *name);
const char *keel_sock_get_default_impl(void);

/**
 * Listen on host:port ("127.0.0.1", "::1", "0.0.0.0", "[::]" or a name); non-blocking.
 * \return the socket, or NULL with *rc: -EADDRINUSE, -EADDRNOTAVAIL, -EINVAL, -errno.
 */
struct keel_sock *keel_sock_listen(const char *host, uint16_t port,
				   const struct keel_sock_opts *opts, int *rc);
/** Accept one connection, or NULL (errno EAGAIN when none is waiting). */
struct keel_sock *keel_sock_accept(struct keel_sock *lsock);
/** Connect (blocking until connected, then non-blocking); for tests and tools. */
struct keel_sock *keel_sock_connect(const char *host, uint16_t port,
				    const struct keel_sock_opts *opts, int *rc);
/** Close; sets *psock to NULL. It must not be in a group. */
int keel_sock_close(struct keel_sock **psock);

/** Receive up to len bytes: > 0 bytes; 0 at end of stream; -1 with errno (EAGAIN: nothing). */
ssize_t keel_sock_recv(struct keel_sock *sock, void *buf, size_t len);
ssize_t keel_sock_readv(struct keel_sock *sock, struct iovec *iov, int iovcnt);
/** Send what the kernel takes now: bytes written (may be partial), or -1 with errno. */
ssize_t keel_sock_writev(struct keel_sock *sock, struct iovec *iov, int iovcnt);
/** Addresses: numeric host strings (KEEL_SOCK_ADDR_LEN) and ports. */
int keel_sock_getaddr(struct keel_sock *sock, char *saddr, int slen, uint16_t *sport,
		      char *caddr, int clen, uint16_t *cport);
bool keel_sock_is_ipv6(struct keel_sock *sock);
int keel_sock_get_fd(struct keel_sock *sock);
const char *keel_sock_get_impl_name(struct keel_sock *sock);

/* Groups: the sockets one thread polls. */
struct keel_sock_group *keel_sock_group_create(void);
/**
 * cb runs from keel_sock_group_poll() when data arrives on sock (or the peer closes it), and
 * when room comes back in its send buffer after a keel_sock_writev() that could not write
 * everything. Reports are edge-triggered: cb must read until a read comes back short (or
 * EAGAIN), or data already there is not reported again.
 */
int keel_sock_group_add_sock(struct keel_sock_group *group, struct keel_sock *sock,
			     keel_sock_cb cb, void *cb_arg);
int keel_sock_group_remove_sock(struct keel_sock_group *group, struct keel_sock *sock);
/** Run the callbacks of ready sockets (at most max_events, 0 = default). Returns how many. */
int keel_sock_group_poll(struct keel_sock_group *group, int max_events);
/** An fd readable when a socket of the group is (for interrupt mode). */
int keel_sock_group_get_fd(struct keel_sock_group *group);
int keel_sock_group_close(struct keel_sock_group **pgroup);

/* Implementations register themselves. */
struct keel_sock_impl_ops {
	const char *name;
	struct keel_sock *(*listen)(const char *host, uint16_t port,
				    const struct keel_sock_opts *opts, int *rc);
	struct keel_sock *(*connect)(const char *host, uint16_t port,
				     const struct keel_sock_opts *opts, int *rc);
	struct keel_sock *(*accept)(struct keel_sock *lsock);
	int (*close)(struct keel_sock *sock);
	ssize_t (*recv)(struct keel_sock *sock, void *buf, size_t len);
	ssize_t (*readv)(struct keel_sock *sock, struct iovec *iov, int iovcnt);
	ssize_t (*writev)(struct keel_sock *sock, struct iovec *iov, int iovcnt);
	struct keel_sock_group *(*group_create)(void);
	int (*group_add)(struct keel_sock_group *group, struct keel_sock *sock);
	int (*group_remove)(struct keel_sock_group *group, struct keel_sock *sock);
	int (*group_poll)(struct keel_sock_group *group, int max_events,
			  struct keel_sock **ready);
	int (*group_get_fd)(struct keel_sock_group *group);
	int (*group_close)(struct keel_sock_group *group);
	TAILQ_ENTRY(keel_sock_impl_ops) link;
};

/** The part of every socket and group that the generic layer owns; implementations embed it
 * first in their own structs. */
struct keel_sock {
	const struct keel_sock_impl_ops *ops;
	int fd;
	keel_sock_cb cb;
	void *cb_arg;
	struct keel_sock_group *group;
	char saddr[KEEL_SOCK_ADDR_LEN];
	char caddr[KEEL_SOCK_ADDR_LEN];
	uint16_t sport;
	uint16_t cport;
	bool ipv6;
	bool want_write;	/* the last write was short: report when there is room again */
};

struct keel_sock_group {
	const struct keel_sock_impl_ops *ops;
	int num_socks;
	/* The ready list of the poll in progress: a socket removed meanwhile is cleared here. */
	struct keel_sock **batch;
	int batch_len;
};

void keel_sock_impl_register(struct keel_sock_impl_ops *ops);
/** A registered implementation by name, or NULL. */
const struct keel_sock_impl_ops *keel_sock_impl_get(const char *name);
#define KEEL_SOCK_REGISTER_IMPL(_name, _ops)                                                       \
	__attribute__((constructor)) static void keel_sock_impl_register_##_name(void)            \
	{                                                                                          \
		keel_sock_impl_register(_ops);                                                     \
	}

/** Helpers for implementations: fill addresses of a connected socket; set options. */
int keel_sock_fill_addrs(struct keel_sock *sock);
int keel_sock_apply_opts(int fd, const struct keel_sock_opts *opts);
/** Resolve host:port for listen/connect; *family gets AF_INET or AF_INET6. */
int keel_sock_resolve(const char *host, uint16_t port, bool passive, void *sa, size_t *salen,
		      int *family);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_SOCK_H */
