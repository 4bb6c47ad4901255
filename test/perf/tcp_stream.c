/*
 * tcp_stream: the ceiling of one TCP stream over loopback on this machine, to compare the
 * iSCSI target's large reads with. A sender pinned to one core writes a buffer to a loopback
 * connection as fast as it can; a receiver pinned to another reads it. Prints the rate and the
 * sender's CPU time per MiB.
 *
 * Usage: tcp_stream [-s SECONDS] [-b BYTES per write] [-r BYTES of source memory]
 *                   [-S sender core] [-R receiver core]
 * The sender cycles through -r bytes of memory (default 1 MiB, which stays in the cache; 256 MiB
 * reads it from memory, as a target reading a large RAM disk does).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double g_secs = 5;
static size_t g_chunk = 1 << 20;
static size_t g_region = 1 << 20;
static int g_send_core;
static int g_recv_core = 1;
static volatile int g_stop;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
pin(int core)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(core, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
		fprintf(stderr, "cannot pin to core %d\n", core);
	}
}

static void *
receiver(void *arg)
{
	int fd = *(int *)arg;
	size_t len = 4 << 20;
	char *buf = malloc(len);

	pin(g_recv_core);
	while (buf != NULL) {
		ssize_t n = recv(fd, buf, len, 0);

		if (n <= 0) {
			break;
		}
	}
	free(buf);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t alen = sizeof(addr);
	int opt, lfd, sfd, rfd, one = 1;
	double t0, c0, t, c;
	uint64_t sent = 0, writes = 0;
	size_t off = 0;
	pthread_t th;
	char *src;

	while ((opt = getopt(argc, argv, "s:b:r:S:R:h")) != -1) {
		switch (opt) {
		case 's':
			g_secs = atof(optarg);
			break;
		case 'b':
			g_chunk = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			g_region = strtoull(optarg, NULL, 0);
			break;
		case 'S':
			g_send_core = atoi(optarg);
			break;
		case 'R':
			g_recv_core = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: tcp_stream [-s SECONDS] [-b BYTES] [-r BYTES] "
					"[-S core] [-R core]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (g_chunk == 0 || g_region < g_chunk) {
		fprintf(stderr, "-r must be at least -b, and -b more than 0\n");
		return 2;
	}
	src = malloc(g_region);
	if (src == NULL) {
		return 1;
	}
	memset(src, 0x5a, g_region);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(lfd, 1) != 0 || getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0) {
		perror("listen");
		return 1;
	}
	sfd = socket(AF_INET, SOCK_STREAM, 0);
	if (sfd < 0 || connect(sfd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		perror("connect");
		return 1;
	}
	rfd = accept(lfd, NULL, NULL);
	if (rfd < 0) {
		perror("accept");
		return 1;
	}
	setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pthread_create(&th, NULL, receiver, &rfd);
	pin(g_send_core);
	t0 = now();
	c0 = thread_cpu();
	do {
		ssize_t n = send(sfd, src + off, g_chunk, 0);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			perror("send");
			return 1;
		}
		sent += (uint64_t)n;
		off += g_chunk;
		if (off + g_chunk > g_region) {
			off = 0;
		}
		/* The clock only every 64 writes. */
	} while (++writes % 64 != 0 || now() - t0 < g_secs);
	t = now() - t0;
	c = thread_cpu() - c0;
	shutdown(sfd, SHUT_WR);
	pthread_join(th, NULL);
	printf("%.0f MB/s (%.2f GB/s), sender CPU %.2f us per MiB (%.0f%% of its core), "
	       "%zu-byte writes from %zu bytes of memory\n",
	       sent / t / 1e6, sent / t / 1e9, c * 1e6 / (sent / 1048576.0), c / t * 100, g_chunk,
	       g_region);
	close(sfd);
	close(rfd);
	close(lfd);
	free(src);
	return 0;
}
