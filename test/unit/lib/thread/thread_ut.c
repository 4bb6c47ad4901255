/*
 * Unit tests of lib/thread: messages, pollers, timed pollers, pause/resume, exit, I/O
 * channels across threads, for_each_channel and for_each_thread. The threads are polled by
 * the test itself, on ordinary memory (no hugepages).
 */
#include "keel/stdinc.h"
#include "ut.h"

#include "thread/thread.c"
#include "thread/io_channel.c"

static struct keel_thread *g_t[3];

static int
suite_init(void)
{
	struct keel_env_opts opts;

	keel_env_opts_init(&opts);
	opts.name = "thread_ut";
	opts.no_huge = true;
	opts.no_pci = true;
	opts.mem_size_mb = 256;
	if (keel_env_init(&opts) != 0) {
		return 1;
	}
	return keel_thread_lib_init(NULL, 4096);
}

static int
suite_fini(void)
{
	keel_thread_lib_fini();
	keel_env_fini();
	return 0;
}

/* Poll every live test thread until none does work, at most n rounds. */
static void
poll_all(int n)
{
	int i, j, busy;

	for (i = 0; i < n; i++) {
		busy = 0;
		for (j = 0; j < 3; j++) {
			if (g_t[j] != NULL) {
				busy |= keel_thread_poll(g_t[j], 0, 0);
			}
		}
		if (!busy) {
			return;
		}
	}
}

static void
threads_create(void)
{
	int i;

	for (i = 0; i < 3; i++) {
		g_t[i] = keel_thread_create(NULL, NULL);
		CU_ASSERT_FATAL(g_t[i] != NULL);
	}
}

static void
exit_fn(void *arg)
{
	keel_thread_exit(keel_get_thread());
}

static void
threads_destroy(void)
{
	int i, rounds;

	for (i = 0; i < 3; i++) {
		keel_thread_send_msg(g_t[i], exit_fn, NULL);
	}
	for (rounds = 0; rounds < 100; rounds++) {
		poll_all(10);
	}
	for (i = 0; i < 3; i++) {
		CU_ASSERT(keel_thread_is_exited(g_t[i]));
		if (keel_thread_is_exited(g_t[i])) {
			keel_thread_destroy(g_t[i]);
		}
		g_t[i] = NULL;
	}
	keel_set_thread(NULL);
}

static int g_order[64];
static int g_order_n;

static void
record_fn(void *arg)
{
	g_order[g_order_n++] = (int)(intptr_t)arg;
}

static void
messages_run_in_send_order(void)
{
	int i;

	threads_create();
	g_order_n = 0;
	for (i = 0; i < 40; i++) {
		CU_ASSERT(keel_thread_send_msg(g_t[1], record_fn, (void *)(intptr_t)i) == 0);
	}
	/* Nothing runs inline. */
	CU_ASSERT(g_order_n == 0);
	poll_all(10);
	CU_ASSERT(g_order_n == 40);
	for (i = 0; i < 40; i++) {
		CU_ASSERT(g_order[i] == i);
	}
	threads_destroy();
}

static void
message_to_exited_thread_fails(void)
{
	struct keel_thread *t = keel_thread_create("short", NULL);

	CU_ASSERT_FATAL(t != NULL);
	keel_thread_send_msg(t, exit_fn, NULL);
	keel_thread_poll(t, 0, 0);
	keel_thread_poll(t, 0, 0);
	CU_ASSERT(keel_thread_is_exited(t));
	CU_ASSERT(keel_thread_send_msg(t, record_fn, NULL) == -EIO);
	keel_thread_destroy(t);
}

static int g_poll_count;
static int g_busy_return;

static int
count_poller(void *arg)
{
	g_poll_count++;
	return g_busy_return;
}

static void
active_poller_runs_every_iteration_and_reports_busy(void)
{
	struct keel_poller *p;
	struct keel_thread_stats st0, st1;

	threads_create();
	keel_set_thread(g_t[0]);
	p = keel_poller_register(count_poller, NULL, 0);
	CU_ASSERT_FATAL(p != NULL);
	g_poll_count = 0;
	g_busy_return = KEEL_POLLER_IDLE;
	CU_ASSERT(keel_thread_poll(g_t[0], 0, 0) == 0);
	CU_ASSERT(keel_thread_poll(g_t[0], 0, 0) == 0);
	CU_ASSERT(g_poll_count == 2);
	g_busy_return = KEEL_POLLER_BUSY;
	keel_set_thread(g_t[0]);
	keel_thread_get_stats(&st0);
	CU_ASSERT(keel_thread_poll(g_t[0], 0, 0) == 1);
	keel_thread_get_stats(&st1);
	CU_ASSERT(st1.busy_tsc >= st0.busy_tsc);
	CU_ASSERT(g_poll_count == 3);
	keel_poller_unregister(&p);
	CU_ASSERT(p == NULL);
	keel_thread_poll(g_t[0], 0, 0);
	CU_ASSERT(g_poll_count == 3);
	threads_destroy();
}

static void
timed_poller_waits_for_its_period(void)
{
	struct keel_poller *p;
	uint64_t start;

	threads_create();
	keel_set_thread(g_t[0]);
	g_poll_count = 0;
	g_busy_return = KEEL_POLLER_BUSY;
	p = keel_poller_register(count_poller, NULL, 20000);
	CU_ASSERT_FATAL(p != NULL);
	keel_thread_poll(g_t[0], 0, 0);
	CU_ASSERT(g_poll_count == 0);
	CU_ASSERT(keel_thread_next_poller_expiration(g_t[0]) != UINT64_MAX);
	start = keel_get_ticks();
	while (g_poll_count == 0 && keel_get_ticks() - start < keel_get_ticks_hz()) {
		keel_thread_poll(g_t[0], 0, 0);
	}
	CU_ASSERT(g_poll_count == 1);
	/* Not before 20 ms went by. */
	CU_ASSERT((keel_get_ticks() - start) * 1000 / keel_get_ticks_hz() >= 15);
	keel_set_thread(g_t[0]);
	keel_poller_unregister(&p);
	threads_destroy();
}

static struct keel_poller *g_self_poller;

static int
self_unregistering_poller(void *arg)
{
	g_poll_count++;
	keel_poller_unregister(&g_self_poller);
	return KEEL_POLLER_BUSY;
}

static void
poller_may_unregister_itself(void)
{
	threads_create();
	keel_set_thread(g_t[0]);
	g_poll_count = 0;
	g_self_poller = keel_poller_register(self_unregistering_poller, NULL, 0);
	keel_thread_poll(g_t[0], 0, 0);
	keel_thread_poll(g_t[0], 0, 0);
	CU_ASSERT(g_poll_count == 1);
	CU_ASSERT(!keel_thread_has_pollers(g_t[0]));
	threads_destroy();
}

static void
paused_poller_does_not_run_until_resumed(void)
{
	struct keel_poller *p;

	threads_create();
	keel_set_thread(g_t[0]);
	g_poll_count = 0;
	p = keel_poller_register(count_poller, NULL, 0);
	keel_poller_pause(p);
	keel_thread_poll(g_t[0], 0, 0);
	keel_thread_poll(g_t[0], 0, 0);
	CU_ASSERT(g_poll_count == 0);
	keel_set_thread(g_t[0]);
	keel_poller_resume(p);
	keel_thread_poll(g_t[0], 0, 0);
	CU_ASSERT(g_poll_count == 1);
	keel_set_thread(g_t[0]);
	keel_poller_unregister(&p);
	threads_destroy();
}

static void
thread_with_poller_does_not_exit_until_it_is_gone(void)
{
	struct keel_poller *p;

	threads_create();
	keel_set_thread(g_t[0]);
	p = keel_poller_register(count_poller, NULL, 0);
	keel_thread_exit(g_t[0]);
	keel_thread_poll(g_t[0], 0, 0);
	CU_ASSERT(!keel_thread_is_exited(g_t[0]));
	keel_set_thread(g_t[0]);
	keel_poller_unregister(&p);
	keel_thread_poll(g_t[0], 0, 0);
	CU_ASSERT(keel_thread_is_exited(g_t[0]));
	threads_destroy();
}

/* I/O channels. */
static int g_dev;
static int g_creates, g_destroys, g_unregistered;

static int
ch_create(void *dev, void *ctx)
{
	*(int *)ctx = 0x5a5a;
	g_creates++;
	return 0;
}

static void
ch_destroy(void *dev, void *ctx)
{
	CU_ASSERT(*(int *)ctx == 0x5a5a);
	g_destroys++;
}

static void
dev_unregistered(void *dev)
{
	g_unregistered++;
}

static void
channel_is_shared_per_thread_and_destroyed_after_last_put(void)
{
	struct keel_io_channel *a, *b, *c;

	threads_create();
	g_creates = g_destroys = g_unregistered = 0;
	keel_io_device_register(&g_dev, ch_create, ch_destroy, sizeof(int), "dev");
	keel_set_thread(g_t[0]);
	a = keel_get_io_channel(&g_dev);
	b = keel_get_io_channel(&g_dev);
	CU_ASSERT(a != NULL && a == b);
	CU_ASSERT(g_creates == 1);
	CU_ASSERT(*(int *)keel_io_channel_get_ctx(a) == 0x5a5a);
	CU_ASSERT(keel_io_channel_from_ctx(keel_io_channel_get_ctx(a)) == a);
	keel_set_thread(g_t[1]);
	c = keel_get_io_channel(&g_dev);
	CU_ASSERT(c != NULL && c != a);
	CU_ASSERT(g_creates == 2);
	CU_ASSERT(keel_io_channel_get_thread(c) == g_t[1]);

	keel_set_thread(g_t[0]);
	keel_put_io_channel(a);
	keel_put_io_channel(b);
	CU_ASSERT(g_destroys == 0); /* deferred */
	poll_all(10);
	CU_ASSERT(g_destroys == 1);

	/* Unregister waits for the channel on thread 1. */
	keel_set_thread(g_t[0]);
	keel_io_device_unregister(&g_dev, dev_unregistered);
	poll_all(10);
	CU_ASSERT(g_unregistered == 0);
	keel_set_thread(g_t[1]);
	CU_ASSERT(keel_get_io_channel(&g_dev) == NULL);
	keel_put_io_channel(c);
	poll_all(10);
	CU_ASSERT(g_destroys == 2);
	CU_ASSERT(g_unregistered == 1);
	threads_destroy();
}

static int g_visits[3];
static int g_for_each_status = -1;
static struct keel_thread *g_cpl_thread;

static void
visit_channel(struct keel_channel_iter *iter)
{
	int i;

	for (i = 0; i < 3; i++) {
		if (keel_get_thread() == g_t[i]) {
			g_visits[i]++;
		}
	}
	CU_ASSERT(keel_io_channel_get_thread(keel_channel_iter_get_channel(iter)) ==
		  keel_get_thread());
	CU_ASSERT(keel_channel_iter_get_ctx(iter) == &g_visits);
	keel_for_each_channel_continue(iter, 0);
}

static void
visit_done(struct keel_channel_iter *iter, int status)
{
	g_for_each_status = status;
	g_cpl_thread = keel_get_thread();
}

static void
for_each_channel_visits_holders_and_completes_on_caller(void)
{
	struct keel_io_channel *a, *c;

	threads_create();
	memset(g_visits, 0, sizeof(g_visits));
	g_for_each_status = -1;
	keel_io_device_register(&g_dev, ch_create, ch_destroy, sizeof(int), "dev");
	keel_set_thread(g_t[0]);
	a = keel_get_io_channel(&g_dev);
	keel_set_thread(g_t[2]);
	c = keel_get_io_channel(&g_dev);
	keel_set_thread(g_t[1]);
	keel_for_each_channel(&g_dev, visit_channel, &g_visits, visit_done);
	poll_all(20);
	CU_ASSERT(g_visits[0] == 1 && g_visits[1] == 0 && g_visits[2] == 1);
	CU_ASSERT(g_for_each_status == 0);
	CU_ASSERT(g_cpl_thread == g_t[1]);
	keel_set_thread(g_t[0]);
	keel_put_io_channel(a);
	keel_set_thread(g_t[2]);
	keel_put_io_channel(c);
	keel_set_thread(g_t[0]);
	keel_io_device_unregister(&g_dev, NULL);
	poll_all(10);
	threads_destroy();
}

static int g_thread_visits;
static bool g_thread_done;

static void
count_thread(void *arg)
{
	g_thread_visits++;
}

static void
threads_done(void *arg)
{
	g_thread_done = keel_get_thread() == g_t[2];
}

static void
for_each_thread_visits_all_then_completes(void)
{
	threads_create();
	g_thread_visits = 0;
	g_thread_done = false;
	keel_set_thread(g_t[2]);
	CU_ASSERT(keel_for_each_thread(count_thread, NULL, threads_done) == 0);
	poll_all(20);
	CU_ASSERT(g_thread_visits == 3);
	CU_ASSERT(g_thread_done);
	threads_destroy();
}

static void
interrupt_fd_becomes_readable_on_message(void)
{
	struct epoll_event ev;
	int fd;

	threads_create();
	fd = keel_thread_get_interrupt_fd(g_t[0]);
	CU_ASSERT(fd >= 0);
	CU_ASSERT(keel_thread_can_sleep(g_t[0]));
	keel_thread_prepare_sleep(g_t[0]);
	CU_ASSERT(epoll_wait(fd, &ev, 1, 0) == 0);
	keel_thread_send_msg(g_t[0], record_fn, NULL);
	CU_ASSERT(epoll_wait(fd, &ev, 1, 1000) == 1);
	keel_thread_end_sleep(g_t[0]);
	g_order_n = 0;
	keel_thread_poll(g_t[0], 0, 0);
	CU_ASSERT(g_order_n == 1);
	threads_destroy();
}

static void
active_poller_without_fd_keeps_thread_awake(void)
{
	struct keel_poller *p;
	int efd = eventfd(0, EFD_NONBLOCK);

	threads_create();
	keel_set_thread(g_t[0]);
	p = keel_poller_register(count_poller, NULL, 0);
	CU_ASSERT(!keel_thread_can_sleep(g_t[0]));
	CU_ASSERT(keel_poller_set_interrupt_fd(p, efd, 0) == 0);
	CU_ASSERT(keel_thread_can_sleep(g_t[0]));
	keel_poller_unregister(&p);
	threads_destroy();
	close(efd);
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(messages_run_in_send_order),
		KEEL_UT_TEST(message_to_exited_thread_fails),
		KEEL_UT_TEST(active_poller_runs_every_iteration_and_reports_busy),
		KEEL_UT_TEST(timed_poller_waits_for_its_period),
		KEEL_UT_TEST(poller_may_unregister_itself),
		KEEL_UT_TEST(paused_poller_does_not_run_until_resumed),
		KEEL_UT_TEST(thread_with_poller_does_not_exit_until_it_is_gone),
		KEEL_UT_TEST(channel_is_shared_per_thread_and_destroyed_after_last_put),
		KEEL_UT_TEST(for_each_channel_visits_holders_and_completes_on_caller),
		KEEL_UT_TEST(for_each_thread_visits_all_then_completes),
		KEEL_UT_TEST(interrupt_fd_becomes_readable_on_message),
		KEEL_UT_TEST(active_poller_without_fd_keeps_thread_awake),
	};

	return keel_ut_run("thread", tests, KEEL_COUNTOF(tests), suite_init, suite_fini);
}
