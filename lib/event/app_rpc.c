/*
 * The framework's RPC methods: start-up control, version, reactors, threads, subsystems and
 * their configuration, and stopping the instance.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/log.h"
#include "keel/rpc.h"
#include "keel/thread.h"

#include <json-c/json.h>

int app_start_init(void);
void app_wait_init_complete(void);

struct wait_init_req {
	struct keel_jsonrpc_request *req;
	TAILQ_ENTRY(wait_init_req) link;
};

static TAILQ_HEAD(, wait_init_req) g_wait_init = TAILQ_HEAD_INITIALIZER(g_wait_init);

static int wait_init_queue(struct keel_jsonrpc_request *req);

/* Answered once the subsystems are up, so that runtime methods work as soon as it returns. */
static void
rpc_framework_start_init(struct keel_jsonrpc_request *req, struct json_object *params)
{
	if (app_start_init() != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_STATE,
					"framework initialisation has already started");
		return;
	}
	if (keel_app_is_running()) {
		keel_jsonrpc_send_bool_response(req, true);
	} else if (wait_init_queue(req) != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
	}
}
KEEL_RPC_REGISTER("framework_start_init", rpc_framework_start_init, NULL, KEEL_RPC_STARTUP)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_framework_start_init, "start_subsystem_init")

void
app_wait_init_complete(void)
{
	struct wait_init_req *w;

	while ((w = TAILQ_FIRST(&g_wait_init)) != NULL) {
		TAILQ_REMOVE(&g_wait_init, w, link);
		keel_jsonrpc_send_bool_response(w->req, true);
		free(w);
	}
}

static int
wait_init_queue(struct keel_jsonrpc_request *req)
{
	struct wait_init_req *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		return -ENOMEM;
	}
	w->req = req;
	TAILQ_INSERT_TAIL(&g_wait_init, w, link);
	return 0;
}

static void
rpc_framework_wait_init(struct keel_jsonrpc_request *req, struct json_object *params)
{
	if (keel_app_is_running()) {
		keel_jsonrpc_send_bool_response(req, true);
	} else if (wait_init_queue(req) != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
	}
}
KEEL_RPC_REGISTER("framework_wait_init", rpc_framework_wait_init, NULL,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_framework_wait_init, "wait_subsystem_init")

static void
rpc_spdk_get_version(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct json_object *res = json_object_new_object(), *fields = json_object_new_object();

	json_object_object_add(res, "version", json_object_new_string(KEEL_VERSION_STRING));
	json_object_object_add(fields, "major", json_object_new_int(KEEL_VERSION_MAJOR));
	json_object_object_add(fields, "minor", json_object_new_int(KEEL_VERSION_MINOR));
	json_object_object_add(fields, "patch", json_object_new_int(KEEL_VERSION_PATCH));
	json_object_object_add(fields, "suffix", json_object_new_string(KEEL_VERSION_SUFFIX));
	json_object_object_add(res, "fields", fields);
	keel_jsonrpc_send_result(req, res);
}
KEEL_RPC_REGISTER("spdk_get_version", rpc_spdk_get_version, NULL,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_spdk_get_version, "get_spdk_version")

static const char *
cpumask_str(const struct keel_cpuset *set, char *buf, size_t len)
{
	return keel_cpuset_fmt(set, buf, len);
}

/* framework_get_reactors: visit every reactor for its counters and threads. */
struct reactors_ctx {
	struct keel_jsonrpc_request *req;
	struct json_object *reactors;
};

static void
reactors_add_thread(struct keel_thread *thread, void *arg)
{
	struct json_object *threads = arg, *t = json_object_new_object();
	char mask[300];

	json_object_object_add(t, "name", json_object_new_string(keel_thread_get_name(thread)));
	json_object_object_add(t, "id", json_object_new_uint64(keel_thread_get_id(thread)));
	json_object_object_add(t, "cpumask", json_object_new_string(
				       cpumask_str(keel_thread_get_cpumask(thread), mask, sizeof(mask))));
	json_object_object_add(t, "elapsed", json_object_new_uint64(
				       keel_get_ticks() - keel_thread_get_last_tsc(thread)));
	json_object_array_add(threads, t);
}

static void
reactors_visit(void *arg)
{
	struct reactors_ctx *c = arg;
	struct keel_reactor_info info;
	struct json_object *r = json_object_new_object(), *threads = json_object_new_array();

	keel_reactor_get_info(&info);
	json_object_object_add(r, "lcore", json_object_new_int((int32_t)info.lcore));
	json_object_object_add(r, "busy", json_object_new_uint64(info.busy_tsc));
	json_object_object_add(r, "idle", json_object_new_uint64(info.idle_tsc));
	json_object_object_add(r, "in_interrupt", json_object_new_boolean(info.in_interrupt));
	json_object_object_add(r, "voluntary_context_switches",
			       json_object_new_uint64(info.voluntary_context_switches));
	json_object_object_add(r, "involuntary_context_switches",
			       json_object_new_uint64(info.involuntary_context_switches));
	keel_reactor_for_each_thread(reactors_add_thread, threads);
	json_object_object_add(r, "lw_threads", threads);
	json_object_array_add(c->reactors, r);
}

static void
reactors_done(void *arg)
{
	struct reactors_ctx *c = arg;
	struct json_object *res = json_object_new_object();

	json_object_object_add(res, "tick_rate", json_object_new_uint64(keel_get_ticks_hz()));
	json_object_object_add(res, "reactors", c->reactors);
	keel_jsonrpc_send_result(c->req, res);
	free(c);
}

static void
rpc_framework_get_reactors(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct reactors_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
		return;
	}
	c->req = req;
	c->reactors = json_object_new_array();
	if (keel_for_each_reactor(reactors_visit, c, reactors_done) != 0) {
		json_object_put(c->reactors);
		free(c);
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
	}
}
KEEL_RPC_REGISTER("framework_get_reactors", rpc_framework_get_reactors, NULL, KEEL_RPC_RUNTIME)

/* framework_monitor_context_switch: {"enabled"?: bool} sets the monitor; answers its state. */
struct rpc_csw_monitor {
	bool enabled;
};

static const struct keel_rpc_field rpc_csw_monitor_fields[] = {
	KEEL_RPC_BOOL(struct rpc_csw_monitor, enabled, KEEL_OPTIONAL,
		      "log each reactor's context switches once a second (-L reactor)"),
	KEEL_RPC_END};

static void
rpc_framework_monitor_context_switch(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_csw_monitor r = {0};
	struct json_object *res, *v;

	if (params != NULL) {
		/* Checks the parameters; the value is read from params: absent leaves it as is. */
		if (keel_rpc_decode_params(req, params, rpc_csw_monitor_fields, &r) != 0) {
			return;
		}
		if (json_object_object_get_ex(params, "enabled", &v)) {
			keel_framework_set_context_switch_monitor(json_object_get_boolean(v));
		}
	}
	res = json_object_new_object();
	json_object_object_add(res, "enabled",
			       json_object_new_boolean(keel_framework_context_switch_monitor_enabled()));
	keel_jsonrpc_send_result(req, res);
}
KEEL_RPC_REGISTER("framework_monitor_context_switch", rpc_framework_monitor_context_switch,
		  rpc_csw_monitor_fields, KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_framework_monitor_context_switch, "context_switch_monitor")

/* thread_get_stats: visit every thread for its counters and pollers. */
struct threads_ctx {
	struct keel_jsonrpc_request *req;
	struct json_object *threads;
	pthread_mutex_t lock;
};

struct poller_counts {
	uint64_t active;
	uint64_t timed;
	uint64_t paused;
};

static void
count_poller(const struct keel_poller_info *info, void *arg)
{
	struct poller_counts *pc = arg;

	if (info->paused) {
		pc->paused++;
	} else if (info->period_us == 0) {
		pc->active++;
	} else {
		pc->timed++;
	}
}

static void
threads_visit(void *arg)
{
	struct threads_ctx *c = arg;
	struct keel_thread *thread = keel_get_thread();
	struct keel_thread_stats stats;
	struct poller_counts pc = {0};
	struct json_object *t = json_object_new_object();
	char mask[300];

	keel_thread_get_stats(&stats);
	keel_thread_for_each_poller(thread, count_poller, &pc);
	json_object_object_add(t, "name", json_object_new_string(keel_thread_get_name(thread)));
	json_object_object_add(t, "id", json_object_new_uint64(keel_thread_get_id(thread)));
	json_object_object_add(t, "cpumask", json_object_new_string(
				       cpumask_str(keel_thread_get_cpumask(thread), mask, sizeof(mask))));
	json_object_object_add(t, "busy", json_object_new_uint64(stats.busy_tsc));
	json_object_object_add(t, "idle", json_object_new_uint64(stats.idle_tsc));
	json_object_object_add(t, "active_pollers_count", json_object_new_uint64(pc.active));
	json_object_object_add(t, "timed_pollers_count", json_object_new_uint64(pc.timed));
	json_object_object_add(t, "paused_pollers_count", json_object_new_uint64(pc.paused));
	json_object_array_add(c->threads, t);
}

static void
threads_done(void *arg)
{
	struct threads_ctx *c = arg;
	struct json_object *res = json_object_new_object();

	json_object_object_add(res, "tick_rate", json_object_new_uint64(keel_get_ticks_hz()));
	json_object_object_add(res, "threads", c->threads);
	keel_jsonrpc_send_result(c->req, res);
	free(c);
}

static void
rpc_thread_get_stats(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct threads_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
		return;
	}
	c->req = req;
	c->threads = json_object_new_array();
	if (keel_for_each_thread(threads_visit, c, threads_done) != 0) {
		json_object_put(c->threads);
		free(c);
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
	}
}
KEEL_RPC_REGISTER("thread_get_stats", rpc_thread_get_stats, NULL, KEEL_RPC_RUNTIME)

static void
add_depend(const char *dep, void *arg)
{
	json_object_array_add(arg, json_object_new_string(dep));
}

static void
rpc_framework_get_subsystems(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct json_object *res = json_object_new_array();
	struct keel_subsystem *s;

	for (s = keel_subsystem_first(); s != NULL; s = keel_subsystem_next(s)) {
		struct json_object *o = json_object_new_object(), *deps = json_object_new_array();

		json_object_object_add(o, "subsystem", json_object_new_string(s->name));
		keel_subsystem_for_each_depend(s, add_depend, deps);
		json_object_object_add(o, "depends_on", deps);
		json_object_array_add(res, o);
	}
	keel_jsonrpc_send_result(req, res);
}
KEEL_RPC_REGISTER("framework_get_subsystems", rpc_framework_get_subsystems, NULL,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_framework_get_subsystems, "get_subsystems")

struct get_config_req {
	char *name;
};

static const struct keel_rpc_field rpc_get_config_fields[] = {
	KEEL_RPC_STR(struct get_config_req, name, KEEL_REQUIRED, "subsystem name"),
	KEEL_RPC_END
};

static void
rpc_framework_get_config(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct get_config_req r = {0};
	struct keel_subsystem *s;
	struct json_object *res;

	if (keel_rpc_decode_params(req, params, rpc_get_config_fields, &r) != 0) {
		return;
	}
	s = keel_subsystem_find(r.name);
	if (s == NULL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'name': no subsystem named '%s'", r.name);
		keel_rpc_free_decoded(rpc_get_config_fields, &r);
		return;
	}
	res = json_object_new_array();
	if (s->write_config_json != NULL) {
		s->write_config_json(res);
	}
	keel_jsonrpc_send_result(req, res);
	keel_rpc_free_decoded(rpc_get_config_fields, &r);
}
KEEL_RPC_REGISTER("framework_get_config", rpc_framework_get_config, rpc_get_config_fields,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_framework_get_config, "get_subsystem_config")

struct kill_req {
	char *sig_name;
};

static const struct keel_rpc_field rpc_kill_fields[] = {
	KEEL_RPC_STR(struct kill_req, sig_name, KEEL_REQUIRED,
		     "SIGINT, SIGTERM, SIGQUIT, SIGHUP or SIGKILL (or the bare name)"),
	KEEL_RPC_END
};

static void
rpc_spdk_kill_instance(struct keel_jsonrpc_request *req, struct json_object *params)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {
		{"SIGINT", SIGINT}, {"SIGTERM", SIGTERM}, {"SIGQUIT", SIGQUIT},
		{"SIGHUP", SIGHUP}, {"SIGKILL", SIGKILL},
	};
	struct kill_req r = {0};
	size_t i;

	if (keel_rpc_decode_params(req, params, rpc_kill_fields, &r) != 0) {
		return;
	}
	for (i = 0; i < KEEL_COUNTOF(sigs); i++) {
		if (strcasecmp(r.sig_name, sigs[i].name) == 0 ||
		    strcasecmp(r.sig_name, sigs[i].name + 3) == 0) {
			break;
		}
	}
	if (i == KEEL_COUNTOF(sigs)) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'sig_name': unknown signal '%s'", r.sig_name);
		keel_rpc_free_decoded(rpc_kill_fields, &r);
		return;
	}
	keel_jsonrpc_send_bool_response(req, true);
	keel_rpc_free_decoded(rpc_kill_fields, &r);
	if (sigs[i].sig == SIGINT || sigs[i].sig == SIGTERM) {
		/* The orderly path, without waiting for the signal to come round. */
		keel_app_start_shutdown();
	} else {
		kill(getpid(), sigs[i].sig);
	}
}
KEEL_RPC_REGISTER("spdk_kill_instance", rpc_spdk_kill_instance, rpc_kill_fields,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_spdk_kill_instance, "kill_instance")
