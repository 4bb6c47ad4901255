/*
 * Unit tests of lib/event/subsystem.c: ordering by declared dependencies whatever the
 * registration order, the asynchronous start chain and the reverse stop chain, failures part
 * way, unknown dependencies and cycles. The chain's messages run on a real keel thread that
 * the test polls itself, on ordinary memory.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "ut.h"

#include "event/subsystem.c"

#define MAX_EVENTS 32

static char g_events[MAX_EVENTS][32];
static int g_event_count;
/* Per-subsystem behaviour, set by each test. */
static int g_init_rc[5];
static bool g_deferred[5];

static void
record(const char *what, const char *name)
{
	if (g_event_count < MAX_EVENTS) {
		snprintf(g_events[g_event_count], sizeof(g_events[0]), "%s %s", what, name);
	}
	g_event_count++;
}

static void
deferred_init_done(void *arg)
{
	keel_subsystem_init_next((int)(intptr_t)arg);
}

static void
deferred_fini_done(void *arg)
{
	keel_subsystem_fini_next();
}

/* Each fake subsystem records its init and fini, and ends them now or from a later message. */
#define UT_SUBSYSTEM(_name, _idx)                                                                  \
	static void _name##_init(void)                                                             \
	{                                                                                          \
		record("init", #_name);                                                            \
		if (g_deferred[_idx]) {                                                            \
			keel_thread_send_msg(keel_get_thread(), deferred_init_done,                \
					     (void *)(intptr_t)g_init_rc[_idx]);                   \
		} else {                                                                           \
			keel_subsystem_init_next(g_init_rc[_idx]);                                 \
		}                                                                                  \
	}                                                                                          \
	static void _name##_fini(void)                                                             \
	{                                                                                          \
		record("fini", #_name);                                                            \
		if (g_deferred[_idx]) {                                                            \
			keel_thread_send_msg(keel_get_thread(), deferred_fini_done, NULL);         \
		} else {                                                                           \
			keel_subsystem_fini_next();                                                \
		}                                                                                  \
	}                                                                                          \
	static struct keel_subsystem _name = {                                                     \
		.name = #_name,                                                                    \
		.init = _name##_init,                                                              \
		.fini = _name##_fini,                                                              \
	};                                                                                         \
	KEEL_SUBSYSTEM_REGISTER(_name)

/*
 * Registered in an order that is not a start order: ut_top needs ut_mid and ut_base, ut_mid
 * needs ut_base, ut_leaf needs ut_top. ut_free depends on nothing and has no init or fini.
 */
UT_SUBSYSTEM(ut_leaf, 0)
UT_SUBSYSTEM(ut_top, 1)
UT_SUBSYSTEM(ut_mid, 2)
UT_SUBSYSTEM(ut_base, 3)

static struct keel_subsystem ut_free = {.name = "ut_free"};
KEEL_SUBSYSTEM_REGISTER(ut_free)

KEEL_SUBSYSTEM_DEPEND(ut_leaf, ut_top)
KEEL_SUBSYSTEM_DEPEND(ut_top, ut_mid)
KEEL_SUBSYSTEM_DEPEND(ut_top, ut_base)
KEEL_SUBSYSTEM_DEPEND(ut_mid, ut_base)

#define IDX_LEAF 0
#define IDX_TOP 1
#define IDX_MID 2
#define IDX_BASE 3

static struct keel_thread *g_thread;

static int
suite_init(void)
{
	struct keel_env_opts opts;

	keel_env_opts_init(&opts);
	opts.name = "subsystem_ut";
	opts.no_huge = true;
	opts.no_pci = true;
	opts.mem_size_mb = 128;
	if (keel_env_init(&opts) != 0) {
		return 1;
	}
	if (keel_thread_lib_init(NULL, 4096) != 0) {
		return 1;
	}
	g_thread = keel_thread_create("app", NULL);
	if (g_thread == NULL) {
		return 1;
	}
	keel_set_thread(g_thread);
	return 0;
}

static void
thread_exit_msg(void *arg)
{
	keel_thread_exit(keel_get_thread());
}

static int
suite_fini(void)
{
	int i;

	keel_thread_send_msg(g_thread, thread_exit_msg, NULL);
	for (i = 0; i < 100 && !keel_thread_is_exited(g_thread); i++) {
		keel_thread_poll(g_thread, 0, 0);
	}
	if (keel_thread_is_exited(g_thread)) {
		keel_thread_destroy(g_thread);
	}
	keel_set_thread(NULL);
	keel_thread_lib_fini();
	keel_env_fini();
	return 0;
}

static void
reset(void)
{
	memset(g_events, 0, sizeof(g_events));
	g_event_count = 0;
	memset(g_init_rc, 0, sizeof(g_init_rc));
	memset(g_deferred, 0, sizeof(g_deferred));
}

/* Poll the app thread until it has nothing left to do. */
static void
poll_thread(void)
{
	int i;

	for (i = 0; i < 1000; i++) {
		if (!keel_thread_poll(g_thread, 0, 0) && !keel_thread_has_messages(g_thread)) {
			return;
		}
	}
}

static int g_init_status;
static int g_init_done;
static int g_fini_done;

static void
init_done(int rc, void *ctx)
{
	CU_ASSERT(ctx == &g_init_done);
	CU_ASSERT(keel_get_thread() == g_thread);
	g_init_status = rc;
	g_init_done++;
}

static void
fini_done(void *ctx)
{
	CU_ASSERT(ctx == &g_fini_done);
	CU_ASSERT(keel_get_thread() == g_thread);
	g_fini_done++;
}

/* Start the subsystems and stop them again, from a message on the app thread. */
static void
start_msg(void *arg)
{
	keel_subsystem_init(init_done, &g_init_done);
}

static void
stop_msg(void *arg)
{
	keel_subsystem_fini(fini_done, &g_fini_done);
}

static void
run_init(void)
{
	g_init_done = 0;
	g_init_status = 12345;
	CU_ASSERT_FATAL(keel_thread_send_msg(g_thread, start_msg, NULL) == 0);
	poll_thread();
	CU_ASSERT(g_init_done == 1);
}

static void
run_fini(void)
{
	g_fini_done = 0;
	CU_ASSERT_FATAL(keel_thread_send_msg(g_thread, stop_msg, NULL) == 0);
	poll_thread();
	CU_ASSERT(g_fini_done == 1);
}

static int
position(const char *name)
{
	struct keel_subsystem *s;
	int i = 0;

	for (s = keel_subsystem_first(); s != NULL; s = keel_subsystem_next(s)) {
		if (strcmp(s->name, name) == 0) {
			return i;
		}
		i++;
	}
	return -1;
}

static int
event_index(const char *what, const char *name)
{
	char want[32];
	int i;

	snprintf(want, sizeof(want), "%s %s", what, name);
	for (i = 0; i < g_event_count && i < MAX_EVENTS; i++) {
		if (strcmp(g_events[i], want) == 0) {
			return i;
		}
	}
	return -1;
}

static void
expect_events(const char *const *want, int n)
{
	int i;

	CU_ASSERT(g_event_count == n);
	for (i = 0; i < n && i < g_event_count; i++) {
		if (strcmp(g_events[i], want[i]) != 0) {
			CU_FAIL("events out of order");
			fprintf(stderr, "event %d: got '%s', want '%s'\n", i, g_events[i], want[i]);
		}
	}
}

static void
find_and_iterate_see_every_registered_subsystem(void)
{
	static const char *const names[] = {"ut_leaf", "ut_top", "ut_mid", "ut_base", "ut_free"};
	struct keel_subsystem *s;
	size_t i;
	int n = 0;

	for (i = 0; i < KEEL_COUNTOF(names); i++) {
		s = keel_subsystem_find(names[i]);
		CU_ASSERT(s != NULL && strcmp(s->name, names[i]) == 0);
	}
	CU_ASSERT(keel_subsystem_find("ut_none") == NULL);
	CU_ASSERT(keel_subsystem_find("ut") == NULL);
	for (s = keel_subsystem_first(); s != NULL; s = keel_subsystem_next(s)) {
		n++;
	}
	CU_ASSERT(n == 5);
}

static void
collect_dep(const char *dep, void *ctx)
{
	char *buf = ctx;

	strcat(buf, dep);
	strcat(buf, ";");
}

static void
for_each_depend_lists_what_a_subsystem_needs(void)
{
	char buf[128] = "";

	keel_subsystem_for_each_depend(&ut_top, collect_dep, buf);
	CU_ASSERT(strcmp(buf, "ut_mid;ut_base;") == 0);
	buf[0] = '\0';
	keel_subsystem_for_each_depend(&ut_base, collect_dep, buf);
	CU_ASSERT(buf[0] == '\0');
}

static void
sort_puts_dependencies_first_whatever_the_registration_order(void)
{
	CU_ASSERT_FATAL(keel_subsystem_sort() == 0);
	CU_ASSERT(position("ut_base") >= 0 && position("ut_free") >= 0);
	CU_ASSERT(position("ut_base") < position("ut_mid"));
	CU_ASSERT(position("ut_mid") < position("ut_top"));
	CU_ASSERT(position("ut_base") < position("ut_top"));
	CU_ASSERT(position("ut_top") < position("ut_leaf"));
	CU_ASSERT(position("ut_leaf") == 4);
	/* Sorting a sorted list changes nothing. */
	CU_ASSERT(keel_subsystem_sort() == 0);
	CU_ASSERT(position("ut_top") < position("ut_leaf"));
}

static void
init_runs_in_dependency_order_and_fini_in_reverse(void)
{
	static const char *const want_init[] = {"init ut_base", "init ut_mid", "init ut_top",
						"init ut_leaf"};
	static const char *const want_fini[] = {"fini ut_leaf", "fini ut_top", "fini ut_mid",
						"fini ut_base"};

	reset();
	run_init();
	CU_ASSERT(g_init_status == 0);
	expect_events(want_init, 4);
	reset();
	run_fini();
	expect_events(want_fini, 4);
}

static void
init_and_fini_may_complete_from_a_later_message(void)
{
	static const char *const want[] = {"init ut_base", "init ut_mid",  "init ut_top",
					   "init ut_leaf", "fini ut_leaf", "fini ut_top",
					   "fini ut_mid",  "fini ut_base"};

	reset();
	g_deferred[IDX_MID] = true;
	g_deferred[IDX_LEAF] = true;
	g_init_done = 0;
	CU_ASSERT_FATAL(keel_thread_send_msg(g_thread, start_msg, NULL) == 0);
	/* One poll starts the chain and stops at the first deferred step. */
	keel_thread_poll(g_thread, 1, 0);
	CU_ASSERT(g_init_done == 0);
	poll_thread();
	CU_ASSERT(g_init_done == 1);
	CU_ASSERT(g_init_status == 0);
	run_fini();
	expect_events(want, 8);
}

static void
failed_init_stops_the_chain_and_fini_covers_only_the_started(void)
{
	static const char *const want[] = {"init ut_base", "init ut_mid", "init ut_top",
					   "fini ut_mid", "fini ut_base"};

	reset();
	g_init_rc[IDX_TOP] = -EIO;
	run_init();
	CU_ASSERT(g_init_status == -EIO);
	CU_ASSERT(event_index("init", "ut_leaf") == -1);
	run_fini();
	expect_events(want, 5);
}

static void
deferred_failure_is_reported_like_an_immediate_one(void)
{
	static const char *const want[] = {"init ut_base", "init ut_mid", "fini ut_base"};

	reset();
	g_init_rc[IDX_MID] = -ENODEV;
	g_deferred[IDX_MID] = true;
	run_init();
	CU_ASSERT(g_init_status == -ENODEV);
	run_fini();
	expect_events(want, 3);
}

static void
failure_of_the_first_subsystem_leaves_nothing_to_fini(void)
{
	CU_ASSERT_FATAL(keel_subsystem_sort() == 0);
	/* Registration order breaks ties, so ut_base (registered before ut_free) comes first. */
	CU_ASSERT_FATAL(keel_subsystem_first() == &ut_base);
	reset();
	g_init_rc[IDX_BASE] = -ENOMEM;
	run_init();
	CU_ASSERT(g_init_status == -ENOMEM);
	run_fini();
	CU_ASSERT(g_event_count == 1);
	CU_ASSERT(event_index("init", "ut_base") == 0);
}

static void
fini_before_any_init_completes_at_once(void)
{
	reset();
	/* Everything was stopped by the previous tests: nothing to do, but cb still runs. */
	run_fini();
	CU_ASSERT(g_event_count == 0);
}

static void
unknown_dependency_is_enoent_and_nothing_starts(void)
{
	struct keel_subsystem_depend bad = {.name = "ut_mid", .depends_on = "ut_missing"};
	struct keel_subsystem_depend orphan = {.name = "ut_missing", .depends_on = "ut_base"};

	reset();
	keel_add_subsystem_depend(&bad);
	CU_ASSERT(keel_subsystem_sort() == -ENOENT);
	run_init();
	CU_ASSERT(g_init_status == -ENOENT);
	CU_ASSERT(g_event_count == 0);
	TAILQ_REMOVE(&g_depends, &bad, link);
	/* A dependency declared by a subsystem that does not exist is as wrong. */
	keel_add_subsystem_depend(&orphan);
	CU_ASSERT(keel_subsystem_sort() == -ENOENT);
	TAILQ_REMOVE(&g_depends, &orphan, link);
	CU_ASSERT(keel_subsystem_sort() == 0);
}

static void
dependency_cycle_is_eloop_and_keeps_every_subsystem(void)
{
	struct keel_subsystem_depend cycle = {.name = "ut_base", .depends_on = "ut_leaf"};
	struct keel_subsystem_depend self = {.name = "ut_free", .depends_on = "ut_free"};
	struct keel_subsystem *s;
	int n = 0;

	reset();
	keel_add_subsystem_depend(&cycle);
	CU_ASSERT(keel_subsystem_sort() == -ELOOP);
	for (s = keel_subsystem_first(); s != NULL; s = keel_subsystem_next(s)) {
		n++;
	}
	CU_ASSERT(n == 5);
	CU_ASSERT(position("ut_free") >= 0 && position("ut_leaf") >= 0);
	run_init();
	CU_ASSERT(g_init_status == -ELOOP);
	CU_ASSERT(g_event_count == 0);
	TAILQ_REMOVE(&g_depends, &cycle, link);
	/* A subsystem that depends on itself is a cycle too. */
	keel_add_subsystem_depend(&self);
	CU_ASSERT(keel_subsystem_sort() == -ELOOP);
	TAILQ_REMOVE(&g_depends, &self, link);
	/* Once the cycle is gone everything starts again. */
	CU_ASSERT(keel_subsystem_sort() == 0);
	CU_ASSERT(position("ut_top") < position("ut_leaf"));
	reset();
	run_init();
	CU_ASSERT(g_init_status == 0);
	CU_ASSERT(g_event_count == 4);
	run_fini();
	CU_ASSERT(g_event_count == 8);
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(find_and_iterate_see_every_registered_subsystem),
		KEEL_UT_TEST(for_each_depend_lists_what_a_subsystem_needs),
		KEEL_UT_TEST(sort_puts_dependencies_first_whatever_the_registration_order),
		KEEL_UT_TEST(init_runs_in_dependency_order_and_fini_in_reverse),
		KEEL_UT_TEST(init_and_fini_may_complete_from_a_later_message),
		KEEL_UT_TEST(failed_init_stops_the_chain_and_fini_covers_only_the_started),
		KEEL_UT_TEST(deferred_failure_is_reported_like_an_immediate_one),
		KEEL_UT_TEST(failure_of_the_first_subsystem_leaves_nothing_to_fini),
		KEEL_UT_TEST(fini_before_any_init_completes_at_once),
		KEEL_UT_TEST(unknown_dependency_is_enoent_and_nothing_starts),
		KEEL_UT_TEST(dependency_cycle_is_eloop_and_keeps_every_subsystem),
	};

	return keel_ut_run("subsystem", tests, KEEL_COUNTOF(tests), suite_init, suite_fini);
}
