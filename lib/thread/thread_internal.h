/*
 * Private structures of the thread library, shared by its source files and its unit tests.
 */
#ifndef KEEL_THREAD_INTERNAL_H
#define KEEL_THREAD_INTERNAL_H

#include "keel/stdinc.h"
#include "keel/thread.h"
#include "keel/env.h"

#include <pthread.h>

#define THREAD_NAME_LEN 64
#define THREAD_MSG_BATCH 32
#define THREAD_DEFAULT_MSG_POOL 65535
#define THREAD_MSG_RING_SIZE 65536

enum poller_state {
	POLLER_STATE_WAITING,
	POLLER_STATE_RUNNING,
	POLLER_STATE_UNREGISTERED,
	POLLER_STATE_PAUSING,
	POLLER_STATE_PAUSED,
};

struct keel_poller {
	TAILQ_ENTRY(keel_poller) link;
	struct keel_thread *thread;
	keel_poller_fn fn;
	void *ctx;
	uint64_t period_ticks;
	uint64_t period_us;
	uint64_t next_run_tick;
	uint64_t run_count;
	uint64_t busy_count;
	enum poller_state state;
	int intr_fd;
	char name[THREAD_NAME_LEN];
};

TAILQ_HEAD(poller_list, keel_poller);

enum thread_state {
	THREAD_STATE_RUNNING,
	THREAD_STATE_EXITING,
	THREAD_STATE_EXITED,
};

struct thread_msg {
	keel_msg_fn fn;
	void *ctx;
};

struct keel_io_channel {
	struct keel_thread *thread;
	struct io_device *dev;
	uint32_t ref;
	bool destroy_pending;
	TAILQ_ENTRY(keel_io_channel) link;
	/* ctx_size bytes of channel context follow, cache-line aligned. */
	uint8_t ctx[] __attribute__((aligned(KEEL_CACHE_LINE_SIZE)));
};

struct keel_thread {
	uint64_t id;
	char name[THREAD_NAME_LEN];
	struct keel_cpuset cpumask;
	enum thread_state state;
	struct keel_ring *messages;
	struct poller_list active_pollers;
	struct poller_list timed_pollers;
	struct poller_list paused_pollers;
	TAILQ_HEAD(, keel_io_channel) io_channels;
	TAILQ_ENTRY(keel_thread) link;
	struct keel_thread_stats stats;
	uint64_t tsc_last;
	uint32_t active_without_fd;
	/* Interrupt mode: an epoll fd over the message eventfd, the timer and poller fds. */
	int epfd;
	int msg_efd;
	int timerfd;
	int sleeping;
	/* Framework data (ctx_size bytes) follows. */
	uint8_t ctx[] __attribute__((aligned(KEEL_CACHE_LINE_SIZE)));
};

#endif /* KEEL_THREAD_INTERNAL_H */
