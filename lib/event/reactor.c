/*
 * Reactors: one per core of the mask, each a loop that polls the lightweight threads placed on
 * it. New threads go to the least loaded reactor their cpumask allows. In interrupt mode a
 * reactor whose threads are idle sleeps in epoll over their event fds.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/log.h"
#include "keel/thread.h"

#include "event_internal.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>

KEEL_LOG_REGISTER_COMPONENT(reactor)

#define REACTOR_EVENT_RING_SIZE 4096
#define REACTOR_EVENT_BATCH 8
/* Idle time before an interrupt-mode reactor goes to sleep. */
#define REACTOR_IDLE_BEFORE_SLEEP_US 200
/* How long stopping reactors wait for threads to exit by themselves. */
#define REACTOR_STOP_GRACE_S 5

enum reactor_state {
	REACTOR_STATE_RUNNING,
	REACTOR_STATE_STOPPING,
	REACTOR_STATE_EXITED,
};

struct reactor_event {
	void (*fn)(void *arg1, void *arg2);
	void *arg1;
	void *arg2;
};

struct reactor_thread {
	struct keel_thread *thread;
	TAILQ_ENTRY(reactor_thread) link;
};

struct reactor {
	uint32_t lcore;
	TAILQ_HEAD(, reactor_thread) threads;
	uint32_t thread_count;
	struct keel_ring *events;
	struct keel_mempool *event_pool;
	uint64_t busy_tsc;
	uint64_t idle_tsc;
	uint64_t idle_since;
	bool interrupt_mode;
	bool in_interrupt;
	int sleeping;
	int epfd;
	int efd;
	/* Context switches of the reactor's OS thread, read once a second. */
	uint64_t csw_next_tsc;
	long nvcsw;
	long nivcsw;
} __attribute__((aligned(KEEL_CACHE_LINE_SIZE)));

static struct reactor *g_reactors;
static uint32_t g_reactor_count;
static uint32_t g_max_lcore;
static volatile int g_reactor_state;
static uint64_t g_stop_deadline;
static struct keel_mempool *g_event_pool;
static __thread struct reactor *tls_reactor;
static bool g_context_switch_monitor = true;
volatile sig_atomic_t g_app_signal_count;

static struct reactor *
reactor_get(uint32_t lcore)
{
	return lcore <= g_max_lcore && g_reactors[lcore].events != NULL ? &g_reactors[lcore] : NULL;
}

static void
reactor_wake(struct reactor *r)
{
	uint64_t one = 1;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&r->sleeping, __ATOMIC_RELAXED)) {
		if (write(r->efd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
			KEEL_ERRLOG("cannot wake reactor %u\n", r->lcore);
		}
	}
}

void
reactors_signal_wake(void)
{
	uint64_t one = 1;
	struct reactor *r = g_reactors ? reactor_get(keel_env_get_main_core()) : NULL;

	if (r != NULL && write(r->efd, &one, sizeof(one)) < 0) {
		/* Nothing more can be done in a signal handler. */
	}
}

static int
reactor_send_event(struct reactor *r, void (*fn)(void *, void *), void *arg1, void *arg2)
{
	struct reactor_event *ev;

	ev = keel_mempool_get(g_event_pool);
	if (ev == NULL) {
		return -ENOMEM;
	}
	ev->fn = fn;
	ev->arg1 = arg1;
	ev->arg2 = arg2;
	if (keel_ring_enqueue(r->events, (void **)&ev, 1, NULL) != 1) {
		keel_mempool_put(g_event_pool, ev);
		return -ENOMEM;
	}
	reactor_wake(r);
	return 0;
}

static uint32_t
reactor_run_events(struct reactor *r)
{
	void *evs[REACTOR_EVENT_BATCH];
	size_t n, i;

	n = keel_ring_dequeue(r->events, evs, REACTOR_EVENT_BATCH);
	for (i = 0; i < n; i++) {
		struct reactor_event *ev = evs[i];

		ev->fn(ev->arg1, ev->arg2);
	}
	if (n > 0) {
		keel_mempool_put_bulk(g_event_pool, evs, n);
	}
	return (uint32_t)n;
}

/* Runs on the chosen reactor: adopt the thread. */
static void
reactor_add_thread(void *arg1, void *arg2)
{
	struct reactor *r = tls_reactor;
	struct reactor_thread *rt = arg1;
	struct epoll_event ev = {.events = EPOLLIN};

	ev.data.ptr = rt;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, keel_thread_get_interrupt_fd(rt->thread), &ev) != 0) {
		KEEL_ERRLOG("reactor %u: cannot watch thread %s: %s\n", r->lcore,
			    keel_thread_get_name(rt->thread), keel_strerror(errno));
	}
	TAILQ_INSERT_TAIL(&r->threads, rt, link);
}

/* Placement: the least loaded reactor in the thread's mask, the main core for the first. */
static int
reactor_schedule_thread(struct keel_thread *thread)
{
	const struct keel_cpuset *mask = keel_thread_get_cpumask(thread);
	struct reactor *best = NULL, *r;
	struct reactor_thread *rt;
	uint32_t lcore;
	int rc;

	if (keel_thread_get_app_thread() == thread) {
		best = reactor_get(keel_env_get_main_core());
	} else {
		KEEL_ENV_FOREACH_CORE(lcore) {
			r = reactor_get(lcore);
			if (r == NULL || !keel_cpuset_get(mask, lcore)) {
				continue;
			}
			if (best == NULL || __atomic_load_n(&r->thread_count, __ATOMIC_RELAXED) <
			    __atomic_load_n(&best->thread_count, __ATOMIC_RELAXED)) {
				best = r;
			}
		}
	}
	if (best == NULL) {
		KEEL_ERRLOG("thread %s: no reactor in its cpumask\n", keel_thread_get_name(thread));
		return -EINVAL;
	}
	rt = calloc(1, sizeof(*rt));
	if (rt == NULL) {
		return -ENOMEM;
	}
	rt->thread = thread;
	__atomic_fetch_add(&best->thread_count, 1, __ATOMIC_RELAXED);
	rc = reactor_send_event(best, reactor_add_thread, rt, NULL);
	if (rc != 0) {
		__atomic_fetch_sub(&best->thread_count, 1, __ATOMIC_RELAXED);
		free(rt);
	}
	return rc;
}

int
reactors_init(bool interrupt_mode)
{
	struct epoll_event ev = {.events = EPOLLIN};
	uint32_t lcore;
	struct reactor *r;
	int rc;

	g_max_lcore = 0;
	KEEL_ENV_FOREACH_CORE(lcore) {
		g_max_lcore = KEEL_MAX(g_max_lcore, lcore);
	}
	g_reactors = aligned_alloc(KEEL_CACHE_LINE_SIZE, sizeof(*g_reactors) * (g_max_lcore + 1));
	if (g_reactors == NULL) {
		return -ENOMEM;
	}
	memset(g_reactors, 0, sizeof(*g_reactors) * (g_max_lcore + 1));
	g_event_pool = keel_mempool_create("evtpool", 16383, sizeof(struct reactor_event), 32,
					   KEEL_ENV_SOCKET_ID_ANY);
	if (g_event_pool == NULL) {
		free(g_reactors);
		g_reactors = NULL;
		return -ENOMEM;
	}
	KEEL_ENV_FOREACH_CORE(lcore) {
		r = &g_reactors[lcore];
		r->lcore = lcore;
		TAILQ_INIT(&r->threads);
		r->interrupt_mode = interrupt_mode;
		r->epfd = epoll_create1(EPOLL_CLOEXEC);
		r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		r->events = keel_ring_create(KEEL_RING_TYPE_MP_SC, REACTOR_EVENT_RING_SIZE,
					     keel_env_get_socket_id(lcore));
		if (r->epfd < 0 || r->efd < 0 || r->events == NULL) {
			rc = -ENOMEM;
			goto err;
		}
		ev.data.ptr = NULL;
		if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->efd, &ev) != 0) {
			rc = -errno;
			goto err;
		}
		g_reactor_count++;
	}
	g_reactor_state = REACTOR_STATE_RUNNING;
	rc = keel_thread_lib_init_ext(reactor_schedule_thread, 0,
				      keel_app_get_opts() ? keel_app_get_opts()->msg_mempool_size : 0);
	if (rc != 0) {
		goto err;
	}
	return 0;
err:
	reactors_fini();
	return rc;
}

void
reactors_fini(void)
{
	uint32_t lcore;
	struct reactor *r;
	struct reactor_thread *rt;

	if (g_reactors == NULL) {
		return;
	}
	for (lcore = 0; lcore <= g_max_lcore; lcore++) {
		r = &g_reactors[lcore];
		while ((rt = TAILQ_FIRST(&r->threads)) != NULL) {
			TAILQ_REMOVE(&r->threads, rt, link);
			free(rt);
		}
		if (r->events != NULL) {
			void *evs[REACTOR_EVENT_BATCH];
			size_t n;

			while ((n = keel_ring_dequeue(r->events, evs, REACTOR_EVENT_BATCH)) > 0) {
				keel_mempool_put_bulk(g_event_pool, evs, n);
			}
			keel_ring_free(r->events);
		}
		if (r->epfd > 0) {
			close(r->epfd);
		}
		if (r->efd > 0) {
			close(r->efd);
		}
	}
	keel_thread_lib_fini();
	keel_mempool_free(g_event_pool);
	g_event_pool = NULL;
	free(g_reactors);
	g_reactors = NULL;
	g_reactor_count = 0;
}

/* Sleep until a thread has work: a message, a due timer, a readable fd or a new thread. */
static void
reactor_sleep(struct reactor *r)
{
	struct epoll_event evs[16];
	struct reactor_thread *rt;
	uint64_t val;
	bool work = false;

	TAILQ_FOREACH(rt, &r->threads, link) {
		if (!keel_thread_can_sleep(rt->thread)) {
			return;
		}
	}
	TAILQ_FOREACH(rt, &r->threads, link) {
		keel_thread_prepare_sleep(rt->thread);
	}
	__atomic_store_n(&r->sleeping, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* A message or event sent before the flags were visible must not be slept through. */
	TAILQ_FOREACH(rt, &r->threads, link) {
		if (keel_thread_has_messages(rt->thread)) {
			work = true;
		}
	}
	if (!work && keel_ring_count(r->events) == 0 && !g_app_signal_count &&
	    g_reactor_state == REACTOR_STATE_RUNNING) {
		r->in_interrupt = true;
		epoll_wait(r->epfd, evs, KEEL_COUNTOF(evs), -1);
		r->in_interrupt = false;
	}
	__atomic_store_n(&r->sleeping, 0, __ATOMIC_RELAXED);
	if (read(r->efd, &val, sizeof(val)) < 0) {
		/* EAGAIN: not woken through the reactor's own fd. */
	}
	TAILQ_FOREACH(rt, &r->threads, link) {
		keel_thread_end_sleep(rt->thread);
	}
}

static bool
reactor_threads_gone(void)
{
	return keel_thread_get_first() == NULL;
}

/*
 * Once a second: how often the kernel took the core from the reactor. A polling reactor that
 * is switched out involuntarily shares its core with something else, which shows as latency
 * spikes; the monitor logs it (-L reactor), and framework_get_reactors reports the totals.
 */
static void
reactor_check_context_switches(struct reactor *r)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) != 0) {
		return;
	}
	if (__atomic_load_n(&g_context_switch_monitor, __ATOMIC_RELAXED) &&
	    (ru.ru_nvcsw != r->nvcsw || ru.ru_nivcsw != r->nivcsw)) {
		KEEL_INFOLOG(reactor,
			     "reactor %u: %ld voluntary and %ld involuntary context switches in the "
			     "last second\n",
			     r->lcore, ru.ru_nvcsw - r->nvcsw, ru.ru_nivcsw - r->nivcsw);
	}
	__atomic_store_n(&r->nvcsw, ru.ru_nvcsw, __ATOMIC_RELAXED);
	__atomic_store_n(&r->nivcsw, ru.ru_nivcsw, __ATOMIC_RELAXED);
}

void
keel_framework_set_context_switch_monitor(bool enabled)
{
	__atomic_store_n(&g_context_switch_monitor, enabled, __ATOMIC_RELAXED);
}

bool
keel_framework_context_switch_monitor_enabled(void)
{
	return __atomic_load_n(&g_context_switch_monitor, __ATOMIC_RELAXED);
}

static int
reactor_run(void *arg)
{
	struct reactor *r = arg;
	struct reactor_thread *rt, *tmp;
	uint64_t now, last, hz = keel_get_ticks_hz();
	int busy;

	tls_reactor = r;
	last = keel_get_ticks();
	r->idle_since = last;
	while (g_reactor_state != REACTOR_STATE_EXITED) {
		busy = reactor_run_events(r) > 0;
		now = keel_get_ticks();
		TAILQ_FOREACH_SAFE(rt, &r->threads, link, tmp) {
			busy |= keel_thread_poll(rt->thread, 0, now);
			if (keel_unlikely(keel_thread_is_exited(rt->thread))) {
				TAILQ_REMOVE(&r->threads, rt, link);
				epoll_ctl(r->epfd, EPOLL_CTL_DEL,
					  keel_thread_get_interrupt_fd(rt->thread), NULL);
				keel_thread_destroy(rt->thread);
				__atomic_fetch_sub(&r->thread_count, 1, __ATOMIC_RELAXED);
				free(rt);
			}
		}
		now = keel_get_ticks();
		if (busy) {
			r->busy_tsc += now - last;
			r->idle_since = now;
		} else {
			r->idle_tsc += now - last;
		}
		last = now;
		if (keel_unlikely(now >= r->csw_next_tsc)) {
			r->csw_next_tsc = now + hz;
			reactor_check_context_switches(r);
		}

		if (keel_unlikely(g_app_signal_count != 0) && r->lcore == keel_env_get_main_core()) {
			struct keel_thread *app = keel_thread_get_app_thread();

			if (app != NULL && g_app_signal_count > 0) {
				g_app_signal_count = -g_app_signal_count;
				keel_thread_send_msg(app, app_signal_shutdown, NULL);
			}
		}
		if (keel_unlikely(g_reactor_state == REACTOR_STATE_STOPPING) &&
		    r->lcore == keel_env_get_main_core()) {
			if (reactor_threads_gone() || now > g_stop_deadline) {
				g_reactor_state = REACTOR_STATE_EXITED;
				break;
			}
		}
		if (r->interrupt_mode && !busy && g_reactor_state == REACTOR_STATE_RUNNING &&
		    (now - r->idle_since) * 1000000 / hz >= REACTOR_IDLE_BEFORE_SLEEP_US) {
			reactor_sleep(r);
			last = keel_get_ticks();
			r->idle_since = last;
		}
	}
	tls_reactor = NULL;
	return 0;
}

void
reactors_start(void)
{
	uint32_t lcore, main_core = keel_env_get_main_core();

	KEEL_ENV_FOREACH_CORE(lcore) {
		if (lcore != main_core) {
			if (keel_env_thread_launch_pinned(lcore, reactor_run, &g_reactors[lcore]) != 0) {
				KEEL_ERRLOG("cannot start the reactor on core %u\n", lcore);
			}
		}
	}
	reactor_run(&g_reactors[main_core]);
	keel_env_thread_wait_all();
}

static void
reactor_exit_thread(void *arg)
{
	keel_thread_exit(keel_get_thread());
}

void
reactors_stop(void)
{
	struct keel_thread *t;
	uint32_t lcore;

	g_stop_deadline = keel_get_ticks() + REACTOR_STOP_GRACE_S * keel_get_ticks_hz();
	/* Every thread is asked to exit; each one goes once it holds nothing. */
	for (t = keel_thread_get_first(); t != NULL; t = keel_thread_get_next(t)) {
		keel_thread_send_msg(t, reactor_exit_thread, NULL);
	}
	g_reactor_state = REACTOR_STATE_STOPPING;
	KEEL_ENV_FOREACH_CORE(lcore) {
		struct reactor *r = reactor_get(lcore);
		uint64_t one = 1;

		if (r != NULL && write(r->efd, &one, sizeof(one)) < 0) {
			KEEL_ERRLOG("cannot wake reactor %u\n", lcore);
		}
	}
}

struct for_each_reactor_ctx {
	void (*fn)(void *ctx);
	void (*cpl)(void *ctx);
	void *ctx;
	struct keel_thread *orig;
	uint32_t lcore;
};

static void
for_each_reactor_cpl(void *arg)
{
	struct for_each_reactor_ctx *c = arg;

	c->cpl(c->ctx);
	free(c);
}

static void
for_each_reactor_step(void *arg1, void *arg2)
{
	struct for_each_reactor_ctx *c = arg1;
	uint32_t next;

	c->fn(c->ctx);
	next = keel_env_get_next_core(c->lcore);
	if (next != KEEL_ENV_CORE_ANY) {
		c->lcore = next;
		if (reactor_send_event(reactor_get(next), for_each_reactor_step, c, NULL) == 0) {
			return;
		}
	}
	if (keel_thread_send_msg(c->orig, for_each_reactor_cpl, c) != 0) {
		KEEL_ERRLOG("for_each_reactor: cannot return to the caller's thread\n");
	}
}

int
keel_for_each_reactor(void (*fn)(void *ctx), void *ctx, void (*cpl)(void *ctx))
{
	struct for_each_reactor_ctx *c;
	int rc;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return -ENOMEM;
	}
	c->fn = fn;
	c->cpl = cpl;
	c->ctx = ctx;
	c->orig = keel_get_thread();
	c->lcore = keel_env_get_first_core();
	rc = reactor_send_event(reactor_get(c->lcore), for_each_reactor_step, c, NULL);
	if (rc != 0) {
		free(c);
	}
	return rc;
}

void
keel_reactor_get_info(struct keel_reactor_info *info)
{
	struct reactor *r = tls_reactor;

	memset(info, 0, sizeof(*info));
	if (r == NULL) {
		return;
	}
	info->lcore = r->lcore;
	info->busy_tsc = r->busy_tsc;
	info->idle_tsc = r->idle_tsc;
	info->in_interrupt = r->interrupt_mode;
	info->voluntary_context_switches = (uint64_t)__atomic_load_n(&r->nvcsw, __ATOMIC_RELAXED);
	info->involuntary_context_switches =
		(uint64_t)__atomic_load_n(&r->nivcsw, __ATOMIC_RELAXED);
}

void
keel_reactor_for_each_thread(void (*fn)(struct keel_thread *thread, void *ctx), void *ctx)
{
	struct reactor_thread *rt;

	if (tls_reactor == NULL) {
		return;
	}
	TAILQ_FOREACH(rt, &tls_reactor->threads, link) {
		fn(rt->thread, ctx);
	}
}
