/*
 * Lightweight threads: creation and placement, message passing over lock-free rings, active
 * and timed pollers with busy/idle accounting, and the file descriptors that let an idle
 * thread sleep in interrupt mode. I/O channels live in io_channel.c.
 */
#include "keel/stdinc.h"
#include "keel/thread.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/util.h"

#include "thread_internal.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

KEEL_LOG_REGISTER_COMPONENT(thread)

static pthread_mutex_t g_thread_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, keel_thread) g_threads = TAILQ_HEAD_INITIALIZER(g_threads);
static uint32_t g_thread_count;
static uint64_t g_thread_next_id = 1;
static struct keel_thread *g_app_thread;
static keel_new_thread_fn g_new_thread_fn;
static size_t g_ctx_size;
static struct keel_mempool *g_msg_pool;
static __thread struct keel_thread *tls_thread;

int
keel_thread_lib_init_ext(keel_new_thread_fn new_thread_fn, size_t ctx_size, size_t msg_pool_size)
{
	if (g_msg_pool != NULL) {
		return -EALREADY;
	}
	g_new_thread_fn = new_thread_fn;
	g_ctx_size = ctx_size;
	g_msg_pool = keel_mempool_create("msgpool", msg_pool_size ? msg_pool_size :
					 THREAD_DEFAULT_MSG_POOL, sizeof(struct thread_msg),
					 KEEL_MEMPOOL_DEFAULT_CACHE_SIZE, KEEL_ENV_SOCKET_ID_ANY);
	if (g_msg_pool == NULL) {
		KEEL_ERRLOG("cannot create the message pool\n");
		return -ENOMEM;
	}
	return 0;
}

int
keel_thread_lib_init(keel_new_thread_fn new_thread_fn, size_t msg_pool_size)
{
	return keel_thread_lib_init_ext(new_thread_fn, 0, msg_pool_size);
}

void
keel_thread_lib_fini(void)
{
	struct keel_thread *thread;

	TAILQ_FOREACH(thread, &g_threads, link) {
		KEEL_ERRLOG("thread %s is still alive at library shutdown\n", thread->name);
	}
	keel_mempool_free(g_msg_pool);
	g_msg_pool = NULL;
	g_app_thread = NULL;
	g_new_thread_fn = NULL;
	g_ctx_size = 0;
}

static void
thread_close_fds(struct keel_thread *thread)
{
	if (thread->timerfd >= 0) {
		close(thread->timerfd);
	}
	if (thread->msg_efd >= 0) {
		close(thread->msg_efd);
	}
	if (thread->epfd >= 0) {
		close(thread->epfd);
	}
}

static int
thread_open_fds(struct keel_thread *thread)
{
	struct epoll_event ev = {.events = EPOLLIN};

	thread->epfd = epoll_create1(EPOLL_CLOEXEC);
	thread->msg_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	thread->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (thread->epfd < 0 || thread->msg_efd < 0 || thread->timerfd < 0) {
		return -errno;
	}
	ev.data.fd = thread->msg_efd;
	if (epoll_ctl(thread->epfd, EPOLL_CTL_ADD, thread->msg_efd, &ev) != 0) {
		return -errno;
	}
	ev.data.fd = thread->timerfd;
	if (epoll_ctl(thread->epfd, EPOLL_CTL_ADD, thread->timerfd, &ev) != 0) {
		return -errno;
	}
	return 0;
}

struct keel_thread *
keel_thread_create(const char *name, const struct keel_cpuset *cpumask)
{
	struct keel_thread *thread;
	size_t size;
	int rc;

	if (g_msg_pool == NULL) {
		KEEL_ERRLOG("thread library is not initialised\n");
		return NULL;
	}
	size = sizeof(*thread) + KEEL_ALIGN_CEIL(g_ctx_size, KEEL_CACHE_LINE_SIZE);
	thread = aligned_alloc(KEEL_CACHE_LINE_SIZE, KEEL_ALIGN_CEIL(size, KEEL_CACHE_LINE_SIZE));
	if (thread == NULL) {
		return NULL;
	}
	memset(thread, 0, size);
	thread->epfd = thread->msg_efd = thread->timerfd = -1;
	TAILQ_INIT(&thread->active_pollers);
	TAILQ_INIT(&thread->timed_pollers);
	TAILQ_INIT(&thread->paused_pollers);
	TAILQ_INIT(&thread->io_channels);
	if (cpumask != NULL) {
		thread->cpumask = *cpumask;
	} else {
		uint32_t i;

		for (i = 0; i < KEEL_CPUSET_SIZE; i++) {
			keel_cpuset_set(&thread->cpumask, i, true);
		}
	}
	thread->messages = keel_ring_create(KEEL_RING_TYPE_MP_SC, THREAD_MSG_RING_SIZE,
					    KEEL_ENV_SOCKET_ID_ANY);
	if (thread->messages == NULL) {
		KEEL_ERRLOG("cannot create a message ring\n");
		goto err_free;
	}
	rc = thread_open_fds(thread);
	if (rc != 0) {
		KEEL_ERRLOG("cannot create the thread's event fds: %s\n", keel_strerror(-rc));
		goto err_free;
	}
	thread->tsc_last = keel_get_ticks();

	pthread_mutex_lock(&g_thread_lock);
	thread->id = g_thread_next_id++;
	if (name != NULL) {
		keel_strlcpy(thread->name, name, sizeof(thread->name));
	} else {
		snprintf(thread->name, sizeof(thread->name), "thread%" PRIu64, thread->id);
	}
	TAILQ_INSERT_TAIL(&g_threads, thread, link);
	g_thread_count++;
	if (g_app_thread == NULL) {
		g_app_thread = thread;
	}
	pthread_mutex_unlock(&g_thread_lock);

	if (g_new_thread_fn != NULL) {
		rc = g_new_thread_fn(thread);
		if (rc != 0) {
			KEEL_ERRLOG("could not schedule thread %s: %s\n", thread->name,
				    keel_strerror(-rc));
			thread->state = THREAD_STATE_EXITED;
			keel_thread_destroy(thread);
			return NULL;
		}
	}
	return thread;

err_free:
	thread_close_fds(thread);
	keel_ring_free(thread->messages);
	free(thread);
	return NULL;
}

static void
thread_free_pollers(struct keel_thread *thread)
{
	struct keel_poller *p;

	while ((p = TAILQ_FIRST(&thread->active_pollers)) != NULL) {
		TAILQ_REMOVE(&thread->active_pollers, p, link);
		free(p);
	}
	while ((p = TAILQ_FIRST(&thread->timed_pollers)) != NULL) {
		TAILQ_REMOVE(&thread->timed_pollers, p, link);
		free(p);
	}
	while ((p = TAILQ_FIRST(&thread->paused_pollers)) != NULL) {
		TAILQ_REMOVE(&thread->paused_pollers, p, link);
		free(p);
	}
}

void
keel_thread_destroy(struct keel_thread *thread)
{
	void *msgs[THREAD_MSG_BATCH];
	size_t n;

	if (thread == NULL) {
		return;
	}
	assert(thread->state == THREAD_STATE_EXITED);
	pthread_mutex_lock(&g_thread_lock);
	TAILQ_REMOVE(&g_threads, thread, link);
	g_thread_count--;
	if (g_app_thread == thread) {
		g_app_thread = NULL;
	}
	pthread_mutex_unlock(&g_thread_lock);
	if (tls_thread == thread) {
		tls_thread = NULL;
	}
	thread_free_pollers(thread);
	while ((n = keel_ring_dequeue(thread->messages, msgs, THREAD_MSG_BATCH)) > 0) {
		keel_mempool_put_bulk(g_msg_pool, msgs, n);
	}
	keel_ring_free(thread->messages);
	thread_close_fds(thread);
	free(thread);
}

void
keel_set_thread(struct keel_thread *thread)
{
	tls_thread = thread;
}

struct keel_thread *
keel_get_thread(void)
{
	return tls_thread;
}

struct keel_thread *
keel_thread_get_app_thread(void)
{
	return g_app_thread;
}

const char *
keel_thread_get_name(const struct keel_thread *thread)
{
	return thread->name;
}

uint64_t
keel_thread_get_id(const struct keel_thread *thread)
{
	return thread->id;
}

const struct keel_cpuset *
keel_thread_get_cpumask(const struct keel_thread *thread)
{
	return &thread->cpumask;
}

void *
keel_thread_get_ctx(struct keel_thread *thread)
{
	return g_ctx_size ? thread->ctx : NULL;
}

struct keel_thread *
keel_thread_get_from_ctx(void *ctx)
{
	return KEEL_CONTAINEROF(ctx, struct keel_thread, ctx);
}

int
keel_thread_get_stats(struct keel_thread_stats *stats)
{
	if (tls_thread == NULL) {
		return -EINVAL;
	}
	*stats = tls_thread->stats;
	return 0;
}

uint64_t
keel_thread_get_last_tsc(struct keel_thread *thread)
{
	return thread->tsc_last;
}

static bool
thread_has_live_pollers(struct keel_thread *thread)
{
	struct keel_poller *p;

	TAILQ_FOREACH(p, &thread->active_pollers, link) {
		if (p->state != POLLER_STATE_UNREGISTERED) {
			return true;
		}
	}
	TAILQ_FOREACH(p, &thread->timed_pollers, link) {
		if (p->state != POLLER_STATE_UNREGISTERED) {
			return true;
		}
	}
	return !TAILQ_EMPTY(&thread->paused_pollers);
}

void
keel_thread_exit(struct keel_thread *thread)
{
	assert(tls_thread == thread);
	if (thread->state == THREAD_STATE_RUNNING) {
		thread->state = THREAD_STATE_EXITING;
	}
}

bool
keel_thread_is_exited(struct keel_thread *thread)
{
	return thread->state == THREAD_STATE_EXITED;
}

/* An exiting thread becomes exited once it owns nothing: no poller, no channel, no message. */
static void
thread_check_exit(struct keel_thread *thread)
{
	if (thread->state != THREAD_STATE_EXITING) {
		return;
	}
	if (thread_has_live_pollers(thread) || !TAILQ_EMPTY(&thread->io_channels) ||
	    keel_ring_count(thread->messages) > 0) {
		return;
	}
	thread->state = THREAD_STATE_EXITED;
}

static uint32_t
thread_run_messages(struct keel_thread *thread, uint32_t max_msgs)
{
	void *msgs[THREAD_MSG_BATCH];
	size_t n, i;

	if (max_msgs == 0 || max_msgs > THREAD_MSG_BATCH) {
		max_msgs = THREAD_MSG_BATCH;
	}
	n = keel_ring_dequeue(thread->messages, msgs, max_msgs);
	for (i = 0; i < n; i++) {
		struct thread_msg *msg = msgs[i];

		msg->fn(msg->ctx);
	}
	if (n > 0) {
		keel_mempool_put_bulk(g_msg_pool, msgs, n);
	}
	return (uint32_t)n;
}

static void
poller_insert_timed(struct keel_thread *thread, struct keel_poller *poller, uint64_t now)
{
	struct keel_poller *it;

	poller->next_run_tick = now + poller->period_ticks;
	/* Keep the list sorted by due time; walk from the tail, as new deadlines are mostly last. */
	TAILQ_FOREACH_REVERSE(it, &thread->timed_pollers, poller_list, link) {
		if (it->next_run_tick <= poller->next_run_tick) {
			TAILQ_INSERT_AFTER(&thread->timed_pollers, it, poller, link);
			return;
		}
	}
	TAILQ_INSERT_HEAD(&thread->timed_pollers, poller, link);
}

static void
poller_release(struct keel_thread *thread, struct keel_poller *poller)
{
	if (poller->intr_fd >= 0) {
		epoll_ctl(thread->epfd, EPOLL_CTL_DEL, poller->intr_fd, NULL);
	}
	free(poller);
}

/* Run one poller; returns its status and settles its state afterwards. */
static int
poller_run(struct keel_poller *poller)
{
	int rc;

	poller->state = POLLER_STATE_RUNNING;
	rc = poller->fn(poller->ctx);
	poller->run_count++;
	if (rc > 0) {
		poller->busy_count++;
	}
	return rc;
}

static int
thread_run_active_pollers(struct keel_thread *thread)
{
	struct keel_poller *poller, *tmp;
	int busy = 0;

	TAILQ_FOREACH_SAFE(poller, &thread->active_pollers, link, tmp) {
		if (poller->state == POLLER_STATE_UNREGISTERED) {
			TAILQ_REMOVE(&thread->active_pollers, poller, link);
			poller_release(thread, poller);
			continue;
		}
		if (poller->state == POLLER_STATE_PAUSING) {
			TAILQ_REMOVE(&thread->active_pollers, poller, link);
			TAILQ_INSERT_TAIL(&thread->paused_pollers, poller, link);
			poller->state = POLLER_STATE_PAUSED;
			continue;
		}
		if (poller_run(poller) > 0) {
			busy = 1;
		}
		if (poller->state == POLLER_STATE_RUNNING) {
			poller->state = POLLER_STATE_WAITING;
		}
		/* The poller may have unregistered pollers after it: re-read the next one. */
		tmp = TAILQ_NEXT(poller, link);
	}
	return busy;
}

static int
thread_run_timed_pollers(struct keel_thread *thread, uint64_t now)
{
	struct keel_poller *poller;
	int busy = 0;

	while ((poller = TAILQ_FIRST(&thread->timed_pollers)) != NULL) {
		if (poller->state == POLLER_STATE_UNREGISTERED) {
			TAILQ_REMOVE(&thread->timed_pollers, poller, link);
			poller_release(thread, poller);
			continue;
		}
		if (poller->state == POLLER_STATE_PAUSING) {
			TAILQ_REMOVE(&thread->timed_pollers, poller, link);
			TAILQ_INSERT_TAIL(&thread->paused_pollers, poller, link);
			poller->state = POLLER_STATE_PAUSED;
			continue;
		}
		if (poller->next_run_tick > now) {
			break;
		}
		TAILQ_REMOVE(&thread->timed_pollers, poller, link);
		if (poller_run(poller) > 0) {
			busy = 1;
		}
		switch (poller->state) {
		case POLLER_STATE_UNREGISTERED:
			poller_release(thread, poller);
			break;
		case POLLER_STATE_PAUSING:
			TAILQ_INSERT_TAIL(&thread->paused_pollers, poller, link);
			poller->state = POLLER_STATE_PAUSED;
			break;
		default:
			poller->state = POLLER_STATE_WAITING;
			poller_insert_timed(thread, poller, now);
			break;
		}
	}
	return busy;
}

/* Remove unregistered pollers that sit where the run loops do not look (paused, or timed ones
 * not yet due), so an exiting thread can finish. */
static void
thread_reap_pollers(struct keel_thread *thread)
{
	struct keel_poller *poller, *tmp;

	TAILQ_FOREACH_SAFE(poller, &thread->timed_pollers, link, tmp) {
		if (poller->state == POLLER_STATE_UNREGISTERED) {
			TAILQ_REMOVE(&thread->timed_pollers, poller, link);
			poller_release(thread, poller);
		}
	}
	TAILQ_FOREACH_SAFE(poller, &thread->active_pollers, link, tmp) {
		if (poller->state == POLLER_STATE_UNREGISTERED) {
			TAILQ_REMOVE(&thread->active_pollers, poller, link);
			poller_release(thread, poller);
		}
	}
}

int
keel_thread_poll(struct keel_thread *thread, uint32_t max_msgs, uint64_t now)
{
	struct keel_thread *orig = tls_thread;
	uint64_t end;
	int busy = 0;

	if (now == 0) {
		now = keel_get_ticks();
	}
	tls_thread = thread;
	if (thread_run_messages(thread, max_msgs) > 0) {
		busy = 1;
	}
	busy |= thread_run_active_pollers(thread);
	if (!TAILQ_EMPTY(&thread->timed_pollers)) {
		busy |= thread_run_timed_pollers(thread, now);
	}
	if (keel_unlikely(thread->state == THREAD_STATE_EXITING)) {
		thread_reap_pollers(thread);
		thread_check_exit(thread);
	}
	end = keel_get_ticks();
	if (busy) {
		thread->stats.busy_tsc += end - now;
	} else {
		thread->stats.idle_tsc += end - now;
	}
	thread->tsc_last = end;
	tls_thread = orig;
	return busy;
}

uint64_t
keel_thread_next_poller_expiration(struct keel_thread *thread)
{
	struct keel_poller *p;

	TAILQ_FOREACH(p, &thread->timed_pollers, link) {
		if (p->state != POLLER_STATE_UNREGISTERED) {
			return p->next_run_tick;
		}
	}
	return UINT64_MAX;
}

bool
keel_thread_has_active_pollers(struct keel_thread *thread)
{
	struct keel_poller *p;

	TAILQ_FOREACH(p, &thread->active_pollers, link) {
		if (p->state == POLLER_STATE_WAITING || p->state == POLLER_STATE_RUNNING) {
			return true;
		}
	}
	return false;
}

bool
keel_thread_has_pollers(struct keel_thread *thread)
{
	return thread_has_live_pollers(thread);
}

bool
keel_thread_has_messages(struct keel_thread *thread)
{
	return keel_ring_count(thread->messages) > 0;
}

int
keel_thread_send_msg(const struct keel_thread *thread, keel_msg_fn fn, void *ctx)
{
	struct keel_thread *t = (struct keel_thread *)thread;
	struct thread_msg *msg;
	uint64_t one = 1;

	assert(fn != NULL);
	if (keel_unlikely(t->state == THREAD_STATE_EXITED)) {
		return -EIO;
	}
	msg = keel_mempool_get(g_msg_pool);
	if (keel_unlikely(msg == NULL)) {
		KEEL_ERRLOG("message pool is empty\n");
		return -ENOMEM;
	}
	msg->fn = fn;
	msg->ctx = ctx;
	if (keel_unlikely(keel_ring_enqueue(t->messages, (void **)&msg, 1, NULL) != 1)) {
		KEEL_ERRLOG("message ring of thread %s is full\n", t->name);
		keel_mempool_put(g_msg_pool, msg);
		return -ENOMEM;
	}
	/* Pairs with the fence in keel_thread_prepare_sleep(): either the sleeper sees the message
	 * in its ring before it sleeps, or we see it sleeping and wake it. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&t->sleeping, __ATOMIC_RELAXED)) {
		if (write(t->msg_efd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
			KEEL_ERRLOG("cannot wake thread %s: %s\n", t->name, keel_strerror(errno));
		}
	}
	return 0;
}

struct keel_poller *
keel_poller_register_named(keel_poller_fn fn, void *ctx, uint64_t period_us, const char *name)
{
	struct keel_thread *thread = tls_thread;
	struct keel_poller *poller;

	if (thread == NULL) {
		KEEL_ERRLOG("a poller can only be registered on a keel thread\n");
		return NULL;
	}
	if (thread->state != THREAD_STATE_RUNNING) {
		KEEL_ERRLOG("thread %s is exiting: poller refused\n", thread->name);
		return NULL;
	}
	poller = calloc(1, sizeof(*poller));
	if (poller == NULL) {
		return NULL;
	}
	poller->thread = thread;
	poller->fn = fn;
	poller->ctx = ctx;
	poller->intr_fd = -1;
	poller->period_us = period_us;
	poller->state = POLLER_STATE_WAITING;
	if (name != NULL) {
		keel_strlcpy(poller->name, name, sizeof(poller->name));
	} else {
		snprintf(poller->name, sizeof(poller->name), "%p", (void *)(uintptr_t)fn);
	}
	if (period_us == 0) {
		TAILQ_INSERT_TAIL(&thread->active_pollers, poller, link);
		thread->active_without_fd++;
	} else {
		poller->period_ticks = period_us * keel_get_ticks_hz() / 1000000ULL;
		poller_insert_timed(thread, poller, keel_get_ticks());
	}
	return poller;
}

void
keel_poller_unregister(struct keel_poller **ppoller)
{
	struct keel_poller *poller = *ppoller;
	struct keel_thread *thread;

	if (poller == NULL) {
		return;
	}
	*ppoller = NULL;
	thread = poller->thread;
	assert(thread == tls_thread);
	/* The caller may close the fd right after: stop watching it now, not in the run loop,
	 * or a new fd with the same number could be removed in its place. */
	if (poller->intr_fd >= 0) {
		epoll_ctl(thread->epfd, EPOLL_CTL_DEL, poller->intr_fd, NULL);
		poller->intr_fd = -1;
		if (poller->period_us == 0 && poller->state != POLLER_STATE_PAUSED &&
		    poller->state != POLLER_STATE_PAUSING) {
			/* It counted as an fd-backed poller; keep active_without_fd right below. */
			thread->active_without_fd++;
		}
	}
	if (poller->period_us == 0 && poller->intr_fd < 0 && poller->state != POLLER_STATE_PAUSED &&
	    poller->state != POLLER_STATE_PAUSING) {
		thread->active_without_fd--;
	}
	if (poller->state == POLLER_STATE_PAUSED) {
		TAILQ_REMOVE(&thread->paused_pollers, poller, link);
		poller_release(thread, poller);
		return;
	}
	/* Freed by the run loop, which may be walking over it right now. */
	poller->state = POLLER_STATE_UNREGISTERED;
}

void
keel_poller_pause(struct keel_poller *poller)
{
	struct keel_thread *thread = poller->thread;

	assert(thread == tls_thread);
	if (poller->state == POLLER_STATE_WAITING || poller->state == POLLER_STATE_RUNNING) {
		if (poller->period_us == 0 && poller->intr_fd < 0) {
			thread->active_without_fd--;
		}
		poller->state = POLLER_STATE_PAUSING;
	}
}

void
keel_poller_resume(struct keel_poller *poller)
{
	struct keel_thread *thread = poller->thread;

	assert(thread == tls_thread);
	if (poller->state == POLLER_STATE_PAUSING) {
		poller->state = POLLER_STATE_WAITING;
	} else if (poller->state == POLLER_STATE_PAUSED) {
		TAILQ_REMOVE(&thread->paused_pollers, poller, link);
		poller->state = POLLER_STATE_WAITING;
		if (poller->period_us == 0) {
			TAILQ_INSERT_TAIL(&thread->active_pollers, poller, link);
		} else {
			poller_insert_timed(thread, poller, keel_get_ticks());
		}
	} else {
		return;
	}
	if (poller->period_us == 0 && poller->intr_fd < 0) {
		thread->active_without_fd++;
	}
}

int
keel_poller_set_interrupt_fd(struct keel_poller *poller, int fd, uint32_t events)
{
	struct keel_thread *thread = poller->thread;
	struct epoll_event ev = {.events = events ? events : EPOLLIN};

	if (poller->intr_fd >= 0) {
		return -EEXIST;
	}
	ev.data.fd = fd;
	if (epoll_ctl(thread->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		return -errno;
	}
	poller->intr_fd = fd;
	if (poller->period_us == 0 && (poller->state == POLLER_STATE_WAITING ||
				       poller->state == POLLER_STATE_RUNNING)) {
		thread->active_without_fd--;
	}
	return 0;
}

bool
keel_thread_can_sleep(struct keel_thread *thread)
{
	return thread->active_without_fd == 0 && keel_ring_count(thread->messages) == 0;
}

int
keel_thread_get_interrupt_fd(struct keel_thread *thread)
{
	return thread->epfd;
}

/* The next due time of a timed poller that has no fd of its own to wake the thread. */
static uint64_t
thread_next_timer_without_fd(struct keel_thread *thread)
{
	struct keel_poller *p;

	TAILQ_FOREACH(p, &thread->timed_pollers, link) {
		if (p->state != POLLER_STATE_UNREGISTERED && p->intr_fd < 0) {
			return p->next_run_tick;
		}
	}
	return UINT64_MAX;
}

void
keel_thread_prepare_sleep(struct keel_thread *thread)
{
	struct itimerspec its = {0};
	uint64_t next, now, hz, delta;

	/* Timed pollers with an fd are woken by it, not by the timer. */
	next = thread_next_timer_without_fd(thread);
	if (next != UINT64_MAX) {
		now = keel_get_ticks();
		hz = keel_get_ticks_hz();
		delta = next > now ? next - now : 1;
		its.it_value.tv_sec = (time_t)(delta / hz);
		its.it_value.tv_nsec = (long)((delta % hz) * 1000000000ULL / hz);
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) {
			its.it_value.tv_nsec = 1;
		}
	}
	timerfd_settime(thread->timerfd, 0, &its, NULL);
	__atomic_store_n(&thread->sleeping, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void
keel_thread_end_sleep(struct keel_thread *thread)
{
	struct keel_poller *p, *tmp;
	uint64_t val;

	__atomic_store_n(&thread->sleeping, 0, __ATOMIC_RELAXED);
	/* A timed poller with an fd may be why the thread woke: make it due now. */
	TAILQ_FOREACH_SAFE(p, &thread->timed_pollers, link, tmp) {
		if (p->intr_fd >= 0 && p->next_run_tick != 0) {
			TAILQ_REMOVE(&thread->timed_pollers, p, link);
			p->next_run_tick = 0;
			TAILQ_INSERT_HEAD(&thread->timed_pollers, p, link);
		}
	}
	if (read(thread->msg_efd, &val, sizeof(val)) < 0) {
		/* EAGAIN: nobody wrote. */
	}
	if (read(thread->timerfd, &val, sizeof(val)) < 0) {
		/* EAGAIN: the timer did not fire. */
	}
}

void
keel_thread_for_each_poller(struct keel_thread *thread,
			    void (*fn)(const struct keel_poller_info *info, void *ctx), void *ctx)
{
	struct poller_list *lists[] = {&thread->active_pollers, &thread->timed_pollers,
				       &thread->paused_pollers};
	struct keel_poller_info info;
	struct keel_poller *p;
	size_t pass;

	for (pass = 0; pass < KEEL_COUNTOF(lists); pass++) {
		TAILQ_FOREACH(p, lists[pass], link) {
			if (p->state == POLLER_STATE_UNREGISTERED) {
				continue;
			}
			info.name = p->name;
			info.period_us = p->period_us;
			info.run_count = p->run_count;
			info.busy_count = p->busy_count;
			info.paused = p->state == POLLER_STATE_PAUSED || p->state == POLLER_STATE_PAUSING;
			fn(&info, ctx);
		}
	}
}

struct keel_thread *
keel_thread_get_first(void)
{
	struct keel_thread *t;

	pthread_mutex_lock(&g_thread_lock);
	t = TAILQ_FIRST(&g_threads);
	pthread_mutex_unlock(&g_thread_lock);
	return t;
}

struct keel_thread *
keel_thread_get_next(struct keel_thread *prev)
{
	struct keel_thread *t;

	pthread_mutex_lock(&g_thread_lock);
	t = TAILQ_NEXT(prev, link);
	pthread_mutex_unlock(&g_thread_lock);
	return t;
}

/* Walk every thread by id, so that threads created or destroyed meanwhile do no harm. */
struct for_each_thread_ctx {
	keel_msg_fn fn;
	keel_msg_fn cpl;
	void *ctx;
	struct keel_thread *orig;
	uint64_t cur_id;
};

/* Caller holds g_thread_lock. */
static struct keel_thread *
thread_next_after_id_locked(uint64_t id)
{
	struct keel_thread *t, *best = NULL;

	TAILQ_FOREACH(t, &g_threads, link) {
		if (t->id > id && t->state != THREAD_STATE_EXITED && (best == NULL || t->id < best->id)) {
			best = t;
		}
	}
	return best;
}

static struct keel_thread *
thread_next_after_id(uint64_t id)
{
	struct keel_thread *t;

	pthread_mutex_lock(&g_thread_lock);
	t = thread_next_after_id_locked(id);
	pthread_mutex_unlock(&g_thread_lock);
	return t;
}

static void
for_each_thread_cpl(void *arg)
{
	struct for_each_thread_ctx *c = arg;

	c->cpl(c->ctx);
	free(c);
}

static void
for_each_thread_step(void *arg)
{
	struct for_each_thread_ctx *c = arg;
	struct keel_thread *next;

	c->fn(c->ctx);
	next = thread_next_after_id(c->cur_id);
	while (next != NULL) {
		c->cur_id = next->id;
		if (keel_thread_send_msg(next, for_each_thread_step, c) == 0) {
			return;
		}
		next = thread_next_after_id(c->cur_id);
	}
	if (keel_thread_send_msg(c->orig, for_each_thread_cpl, c) != 0) {
		KEEL_ERRLOG("for_each_thread: cannot return to the caller's thread\n");
	}
}

int
keel_for_each_thread(keel_msg_fn fn, void *ctx, keel_msg_fn cpl)
{
	struct for_each_thread_ctx *c;
	struct keel_thread *first;
	int rc;

	if (tls_thread == NULL) {
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return -ENOMEM;
	}
	c->fn = fn;
	c->cpl = cpl;
	c->ctx = ctx;
	c->orig = tls_thread;
	first = thread_next_after_id(0);
	if (first == NULL) {
		rc = keel_thread_send_msg(c->orig, for_each_thread_cpl, c);
	} else {
		c->cur_id = first->id;
		rc = keel_thread_send_msg(first, for_each_thread_step, c);
	}
	if (rc != 0) {
		free(c);
	}
	return rc;
}

/* For io_channel.c: the list lock, and the next thread by id (called with the lock held). */
pthread_mutex_t *thread_list_lock(void);
struct keel_thread *thread_next_with_id_after(uint64_t id);

pthread_mutex_t *
thread_list_lock(void)
{
	return &g_thread_lock;
}

struct keel_thread *
thread_next_with_id_after(uint64_t id)
{
	return thread_next_after_id_locked(id);
}
