/*
 * Subsystems: registration, ordering by declared dependencies, and the asynchronous chain
 * that starts them in that order and stops the started ones in reverse.
 */
#include "keel/stdinc.h"
#include "keel/event.h"
#include "keel/log.h"
#include "keel/thread.h"

static TAILQ_HEAD(subsystem_list, keel_subsystem) g_subsystems =
	TAILQ_HEAD_INITIALIZER(g_subsystems);
static TAILQ_HEAD(, keel_subsystem_depend) g_depends = TAILQ_HEAD_INITIALIZER(g_depends);

static struct keel_subsystem *g_next_subsystem;
static struct keel_subsystem *g_last_initialised;
static void (*g_init_cb)(int rc, void *ctx);
static void *g_init_ctx;
static void (*g_fini_cb)(void *ctx);
static void *g_fini_ctx;
static bool g_fini_running;

void
keel_add_subsystem(struct keel_subsystem *subsystem)
{
	TAILQ_INSERT_TAIL(&g_subsystems, subsystem, link);
}

void
keel_add_subsystem_depend(struct keel_subsystem_depend *depend)
{
	TAILQ_INSERT_TAIL(&g_depends, depend, link);
}

struct keel_subsystem *
keel_subsystem_find(const char *name)
{
	struct keel_subsystem *s;

	TAILQ_FOREACH(s, &g_subsystems, link) {
		if (strcmp(s->name, name) == 0) {
			return s;
		}
	}
	return NULL;
}

struct keel_subsystem *
keel_subsystem_first(void)
{
	return TAILQ_FIRST(&g_subsystems);
}

struct keel_subsystem *
keel_subsystem_next(struct keel_subsystem *s)
{
	return TAILQ_NEXT(s, link);
}

void
keel_subsystem_for_each_depend(struct keel_subsystem *s, void (*fn)(const char *dep, void *ctx),
			       void *ctx)
{
	struct keel_subsystem_depend *d;

	TAILQ_FOREACH(d, &g_depends, link) {
		if (strcmp(d->name, s->name) == 0) {
			fn(d->depends_on, ctx);
		}
	}
}

/* True if every dependency of s is already in the sorted list. */
static bool
subsystem_deps_met(struct keel_subsystem *s, struct subsystem_list *sorted)
{
	struct keel_subsystem_depend *d;
	struct keel_subsystem *t;
	bool found;

	TAILQ_FOREACH(d, &g_depends, link) {
		if (strcmp(d->name, s->name) != 0) {
			continue;
		}
		found = false;
		TAILQ_FOREACH(t, sorted, link) {
			if (strcmp(t->name, d->depends_on) == 0) {
				found = true;
				break;
			}
		}
		if (!found) {
			return false;
		}
	}
	return true;
}

int
keel_subsystem_sort(void)
{
	struct subsystem_list sorted = TAILQ_HEAD_INITIALIZER(sorted);
	struct keel_subsystem_depend *d;
	struct keel_subsystem *s, *tmp;
	bool progress;

	TAILQ_FOREACH(d, &g_depends, link) {
		if (keel_subsystem_find(d->name) == NULL) {
			KEEL_ERRLOG("dependency of unknown subsystem '%s'\n", d->name);
			return -ENOENT;
		}
		if (keel_subsystem_find(d->depends_on) == NULL) {
			KEEL_ERRLOG("subsystem '%s' depends on unknown subsystem '%s'\n", d->name,
				    d->depends_on);
			return -ENOENT;
		}
	}
	/* Repeatedly move every subsystem whose dependencies are placed; registration order
	 * breaks ties, so the result is stable. */
	do {
		progress = false;
		TAILQ_FOREACH_SAFE(s, &g_subsystems, link, tmp) {
			if (subsystem_deps_met(s, &sorted)) {
				TAILQ_REMOVE(&g_subsystems, s, link);
				TAILQ_INSERT_TAIL(&sorted, s, link);
				progress = true;
			}
		}
	} while (progress);
	if (!TAILQ_EMPTY(&g_subsystems)) {
		TAILQ_FOREACH(s, &g_subsystems, link) {
			KEEL_ERRLOG("subsystem '%s' is part of a dependency cycle\n", s->name);
		}
		/* Put everything back so that the list stays whole. */
		TAILQ_CONCAT(&sorted, &g_subsystems, link);
		TAILQ_CONCAT(&g_subsystems, &sorted, link);
		return -ELOOP;
	}
	TAILQ_CONCAT(&g_subsystems, &sorted, link);
	return 0;
}

static void
subsystem_init_step(void *arg)
{
	struct keel_subsystem *s = g_next_subsystem;

	if (s == NULL) {
		g_init_cb(0, g_init_ctx);
		return;
	}
	g_next_subsystem = TAILQ_NEXT(s, link);
	g_last_initialised = s;
	if (s->init != NULL) {
		s->init();
	} else {
		keel_subsystem_init_next(0);
	}
}

void
keel_subsystem_init_next(int rc)
{
	if (rc != 0) {
		KEEL_ERRLOG("init of subsystem '%s' failed: %s\n",
			    g_last_initialised ? g_last_initialised->name : "?", keel_strerror(-rc));
		/* The failed one is not initialised: fini starts with the one before it. */
		g_last_initialised = g_last_initialised ? TAILQ_PREV(g_last_initialised, subsystem_list,
							  link) : NULL;
		g_init_cb(rc, g_init_ctx);
		return;
	}
	/* Go through a message so that deep chains do not grow the stack. */
	if (keel_thread_send_msg(keel_get_thread(), subsystem_init_step, NULL) != 0) {
		g_init_cb(-ENOMEM, g_init_ctx);
	}
}

void
keel_subsystem_init(void (*cb)(int rc, void *ctx), void *ctx)
{
	int rc;

	g_init_cb = cb;
	g_init_ctx = ctx;
	g_last_initialised = NULL;
	rc = keel_subsystem_sort();
	if (rc != 0) {
		cb(rc, ctx);
		return;
	}
	g_next_subsystem = TAILQ_FIRST(&g_subsystems);
	subsystem_init_step(NULL);
}

static void
subsystem_fini_step(void *arg)
{
	struct keel_subsystem *s = g_last_initialised;

	if (s == NULL) {
		g_fini_running = false;
		g_fini_cb(g_fini_ctx);
		return;
	}
	g_last_initialised = TAILQ_PREV(s, subsystem_list, link);
	if (s->fini != NULL) {
		s->fini();
	} else {
		keel_subsystem_fini_next();
	}
}

void
keel_subsystem_fini_next(void)
{
	if (keel_thread_send_msg(keel_get_thread(), subsystem_fini_step, NULL) != 0) {
		KEEL_ERRLOG("cannot continue the subsystem shutdown\n");
	}
}

void
keel_subsystem_fini(void (*cb)(void *ctx), void *ctx)
{
	if (g_fini_running) {
		return;
	}
	g_fini_running = true;
	g_fini_cb = cb;
	g_fini_ctx = ctx;
	/* During init, only those whose init began are stopped. */
	g_next_subsystem = NULL;
	subsystem_fini_step(NULL);
}
