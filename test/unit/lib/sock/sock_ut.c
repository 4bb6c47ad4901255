/*
 * Unit tests of lib/sock on loopback, for both implementations: listen, connect and accept over
 * IPv4 and IPv6, addresses, vectored sends and receives, groups that report readable sockets
 * and sockets with room again after a short write, removal while a poll is running, and bad
 * addresses.
 */
#include "keel/stdinc.h"
#include "ut.h"

#include "sock/sock.c"
#include "sock/posix.c"
#include "sock/uring.c"

static const char *g_impl;

struct pair {
	struct keel_sock *l, *c, *a;
};

static int
make_pair(struct pair *p, const char *host)
{
	int rc, i;

	memset(p, 0, sizeof(*p));
	p->l = keel_sock_listen(host, 0, NULL, &rc);
	if (p->l == NULL) {
		return rc;
	}
	p->c = keel_sock_connect(host, p->l->sport, NULL, &rc);
	if (p->c == NULL) {
		return rc;
	}
	for (i = 0; i < 1000 && p->a == NULL; i++) {
		p->a = keel_sock_accept(p->l);
		if (p->a == NULL) {
			usleep(1000);
		}
	}
	return p->a ? 0 : -ETIMEDOUT;
}

static void
free_pair(struct pair *p)
{
	keel_sock_close(&p->a);
	keel_sock_close(&p->c);
	keel_sock_close(&p->l);
}

static void
loopback_connect_and_transfer(const char *host)
{
	struct pair p;
	char saddr[64], caddr[64], buf[16];
	uint16_t sport, cport;
	struct iovec iov[3] = {{"ab", 2}, {"cde", 3}, {"f", 1}};
	ssize_t n;
	int i;

	CU_ASSERT_FATAL(make_pair(&p, host) == 0);
	CU_ASSERT(strcmp(keel_sock_get_impl_name(p.a), g_impl) == 0);
	keel_sock_getaddr(p.a, saddr, sizeof(saddr), &sport, caddr, sizeof(caddr), &cport);
	CU_ASSERT(sport == p.l->sport);
	CU_ASSERT(cport == p.c->sport);
	CU_ASSERT(keel_sock_writev(p.c, iov, 3) == 6);
	n = 0;
	for (i = 0; i < 1000 && n < 6; i++) {
		ssize_t r = keel_sock_recv(p.a, buf + n, sizeof(buf) - (size_t)n);

		if (r > 0) {
			n += r;
		} else {
			usleep(1000);
		}
	}
	CU_ASSERT(n == 6 && memcmp(buf, "abcdef", 6) == 0);
	/* Nothing more: EAGAIN, not end of stream. */
	CU_ASSERT(keel_sock_recv(p.a, buf, sizeof(buf)) == -1 && errno == EAGAIN);
	keel_sock_close(&p.c);
	for (i = 0; i < 1000; i++) {
		if (keel_sock_recv(p.a, buf, sizeof(buf)) == 0) {
			break;
		}
		usleep(1000);
	}
	CU_ASSERT(i < 1000);
	free_pair(&p);
}

static void
ipv4_loopback(void)
{
	loopback_connect_and_transfer("127.0.0.1");
}

static void
ipv6_loopback(void)
{
	loopback_connect_and_transfer("[::1]");
}

static int g_cb_count;

static void
count_cb(void *arg, struct keel_sock_group *group, struct keel_sock *sock)
{
	char buf[64];

	g_cb_count++;
	while (keel_sock_recv(sock, buf, sizeof(buf)) > 0) {
	}
}

static struct keel_sock *g_remove_victim;

static void
remove_other_cb(void *arg, struct keel_sock_group *group, struct keel_sock *sock)
{
	char buf[64];

	g_cb_count++;
	while (keel_sock_recv(sock, buf, sizeof(buf)) > 0) {
	}
	if (g_remove_victim != NULL && g_remove_victim != sock) {
		keel_sock_group_remove_sock(group, g_remove_victim);
		g_remove_victim = NULL;
	}
}

static int
poll_until(struct keel_sock_group *g, int want)
{
	int i;

	for (i = 0; i < 2000 && g_cb_count < want; i++) {
		keel_sock_group_poll(g, 0);
		if (g_cb_count < want) {
			usleep(500);
		}
	}
	return g_cb_count;
}

static void
group_reports_readable_sockets(void)
{
	struct keel_sock_group *g = keel_sock_group_create();
	struct pair p;
	struct iovec iov = {"x", 1};

	CU_ASSERT_FATAL(g != NULL);
	CU_ASSERT(keel_sock_group_get_fd(g) >= 0);
	CU_ASSERT_FATAL(make_pair(&p, "127.0.0.1") == 0);
	CU_ASSERT(keel_sock_group_add_sock(g, p.a, count_cb, NULL) == 0);
	CU_ASSERT(keel_sock_group_add_sock(g, p.a, count_cb, NULL) == -EINVAL);
	g_cb_count = 0;
	keel_sock_group_poll(g, 0);
	CU_ASSERT(g_cb_count == 0);
	keel_sock_writev(p.c, &iov, 1);
	CU_ASSERT(poll_until(g, 1) == 1);
	/* Read, then more data: reported again. */
	keel_sock_writev(p.c, &iov, 1);
	CU_ASSERT(poll_until(g, 2) == 2);
	CU_ASSERT(keel_sock_group_close(&g) == -EBUSY);
	CU_ASSERT(keel_sock_group_remove_sock(g, p.a) == 0);
	CU_ASSERT(keel_sock_group_close(&g) == 0);
	free_pair(&p);
}

static void
socket_removed_during_poll_is_not_called(void)
{
	struct keel_sock_group *g = keel_sock_group_create();
	struct pair p1, p2;
	struct iovec iov = {"x", 1};
	int i;

	CU_ASSERT_FATAL(make_pair(&p1, "127.0.0.1") == 0);
	CU_ASSERT_FATAL(make_pair(&p2, "127.0.0.1") == 0);
	keel_sock_group_add_sock(g, p1.a, remove_other_cb, NULL);
	keel_sock_group_add_sock(g, p2.a, remove_other_cb, NULL);
	keel_sock_writev(p1.c, &iov, 1);
	keel_sock_writev(p2.c, &iov, 1);
	usleep(20000);
	/* Whichever is called first removes the other: exactly one callback. */
	g_cb_count = 0;
	g_remove_victim = NULL;
	for (i = 0; i < 2 && g_cb_count == 0; i++) {
		g_remove_victim = p1.a;
		keel_sock_group_poll(g, 0);
		if (g_cb_count == 0) {
			usleep(20000);
		}
	}
	CU_ASSERT(g_cb_count == 1 || (g_cb_count == 2 && g_remove_victim == NULL));
	if (p1.a->group != NULL) {
		keel_sock_group_remove_sock(g, p1.a);
	}
	if (p2.a->group != NULL) {
		keel_sock_group_remove_sock(g, p2.a);
	}
	CU_ASSERT(keel_sock_group_close(&g) == 0);
	free_pair(&p1);
	free_pair(&p2);
}

static int g_write_cb_count;

static void
write_count_cb(void *arg, struct keel_sock_group *group, struct keel_sock *sock)
{
	g_write_cb_count++;
}

/* Fill the socket's send buffer (and the peer's receive buffer). Returns the bytes written. */
static size_t
fill_send_buffer(struct keel_sock *sock)
{
	static char chunk[65536];
	struct iovec iov = {chunk, sizeof(chunk)};
	size_t total = 0;
	ssize_t n;
	int i;

	for (i = 0; i < 100000; i++) {
		n = keel_sock_writev(sock, &iov, 1);
		if (n < 0) {
			break;
		}
		total += (size_t)n;
	}
	return total;
}

static void
short_write_is_reported_when_room_comes_back(void)
{
	struct keel_sock_group *g = keel_sock_group_create();
	struct pair p;
	static char buf[65536];
	size_t sent, got = 0;
	ssize_t n;
	int i;

	CU_ASSERT_FATAL(g != NULL);
	CU_ASSERT_FATAL(make_pair(&p, "127.0.0.1") == 0);
	CU_ASSERT_FATAL(keel_sock_group_add_sock(g, p.a, write_count_cb, NULL) == 0);
	/* An idle socket that can be written is not reported. */
	g_write_cb_count = 0;
	for (i = 0; i < 5; i++) {
		keel_sock_group_poll(g, 0);
		usleep(1000);
	}
	CU_ASSERT(g_write_cb_count == 0);
	sent = fill_send_buffer(p.a);
	CU_ASSERT(sent > 0);
	CU_ASSERT(p.a->want_write);
	keel_sock_group_poll(g, 0);
	CU_ASSERT(g_write_cb_count == 0);
	/* The peer reads it all: room again, reported once. */
	for (i = 0; i < 100000 && got < sent; i++) {
		n = keel_sock_recv(p.c, buf, sizeof(buf));
		if (n > 0) {
			got += (size_t)n;
		} else {
			usleep(100);
		}
	}
	CU_ASSERT(got == sent);
	for (i = 0; i < 2000 && g_write_cb_count == 0; i++) {
		keel_sock_group_poll(g, 0);
		if (g_write_cb_count == 0) {
			usleep(500);
		}
	}
	CU_ASSERT(g_write_cb_count == 1);
	CU_ASSERT(!p.a->want_write);
	CU_ASSERT(keel_sock_group_remove_sock(g, p.a) == 0);
	CU_ASSERT(keel_sock_group_close(&g) == 0);
	free_pair(&p);
}

static void
bad_addresses_are_refused(void)
{
	struct pair p;
	int rc = 0;

	CU_ASSERT(keel_sock_listen("no.such.host.invalid", 0, NULL, &rc) == NULL && rc != 0);
	CU_ASSERT_FATAL(make_pair(&p, "127.0.0.1") == 0);
	/* The same port twice. */
	CU_ASSERT(keel_sock_listen("127.0.0.1", p.l->sport, NULL, &rc) == NULL);
	CU_ASSERT(rc == -EADDRINUSE);
	free_pair(&p);
}

static void
run_all(void)
{
	ipv4_loopback();
	ipv6_loopback();
	group_reports_readable_sockets();
	socket_removed_during_poll_is_not_called();
	short_write_is_reported_when_room_comes_back();
	bad_addresses_are_refused();
}

static void
posix_implementation(void)
{
	g_impl = "posix";
	CU_ASSERT_FATAL(keel_sock_set_default_impl("posix") == 0);
	run_all();
}

static void
uring_implementation(void)
{
	g_impl = "uring";
	CU_ASSERT_FATAL(keel_sock_set_default_impl("uring") == 0);
	run_all();
	keel_sock_set_default_impl("posix");
}

static void
unknown_implementation_is_refused(void)
{
	CU_ASSERT(keel_sock_set_default_impl("nonesuch") == -ENOENT);
	CU_ASSERT(strcmp(keel_sock_get_default_impl(), "posix") == 0);
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(posix_implementation),
		KEEL_UT_TEST(uring_implementation),
		KEEL_UT_TEST(unknown_implementation_is_refused),
	};

	return keel_ut_run("sock", tests, KEEL_COUNTOF(tests), NULL, NULL);
}
