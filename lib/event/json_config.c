/*
 * Replay of a JSON configuration file (--json): the list of RPC calls save_config wrote,
 * grouped by subsystem. Calls allowed before subsystem start-up run first; the others after.
 */
#include "keel/stdinc.h"
#include "keel/event.h"
#include "keel/log.h"
#include "keel/rpc.h"
#include "keel/thread.h"

#include <json-c/json.h>

void app_json_config_load(const char *file, uint32_t state, bool ignore_errors,
			  void (*cb)(int rc, void *ctx), void *ctx);

struct json_config_ctx {
	char *file;
	uint32_t state;
	bool ignore_errors;
	struct json_object *root;
	struct json_object *subsystems;
	size_t subsystem_idx;
	size_t call_idx;
	void (*cb)(int rc, void *ctx);
	void *cb_ctx;
	struct keel_thread *thread;
};

static void json_config_next(void *arg);

static void
json_config_finish(struct json_config_ctx *c, int rc)
{
	c->cb(rc, c->cb_ctx);
	json_object_put(c->root);
	free(c->file);
	free(c);
}

static void
json_config_call_done(struct json_object *response, void *arg)
{
	struct json_config_ctx *c = arg;
	struct json_object *err, *msg;

	if (json_object_object_get_ex(response, "error", &err)) {
		const char *text = json_object_object_get_ex(err, "message", &msg) ?
				   json_object_get_string(msg) : json_object_to_json_string(err);

		KEEL_ERRLOG("%s: subsystem %zu, call %zu failed: %s\n", c->file, c->subsystem_idx,
			    c->call_idx, text);
		if (!c->ignore_errors) {
			json_object_put(response);
			json_config_finish(c, -EINVAL);
			return;
		}
	}
	json_object_put(response);
	c->call_idx++;
	/* Continue from a fresh stack, and after any message the call itself queued. */
	if (keel_thread_send_msg(c->thread, json_config_next, c) != 0) {
		json_config_finish(c, -ENOMEM);
	}
}

/* True if the call belongs to the pass that is running. */
static bool
json_config_in_pass(const struct json_config_ctx *c, const char *method)
{
	const struct keel_rpc_method *m = keel_rpc_find_method(method);

	if (m == NULL) {
		/* Unknown methods run in the runtime pass, where their error is reported. */
		return c->state == KEEL_RPC_RUNTIME;
	}
	if (c->state == KEEL_RPC_STARTUP) {
		return (m->state_mask & KEEL_RPC_STARTUP) != 0;
	}
	return (m->state_mask & KEEL_RPC_STARTUP) == 0;
}

static void
json_config_next(void *arg)
{
	struct json_config_ctx *c = arg;
	struct json_object *sub, *config, *call, *method, *params;

	while (c->subsystem_idx < json_object_array_length(c->subsystems)) {
		sub = json_object_array_get_idx(c->subsystems, c->subsystem_idx);
		if (!json_object_object_get_ex(sub, "config", &config) ||
		    !json_object_is_type(config, json_type_array) ||
		    c->call_idx >= json_object_array_length(config)) {
			c->subsystem_idx++;
			c->call_idx = 0;
			continue;
		}
		call = json_object_array_get_idx(config, c->call_idx);
		if (!json_object_is_type(call, json_type_object) ||
		    !json_object_object_get_ex(call, "method", &method) ||
		    !json_object_is_type(method, json_type_string)) {
			KEEL_ERRLOG("%s: subsystem %zu, call %zu: no \"method\" string\n", c->file,
				    c->subsystem_idx, c->call_idx);
			if (!c->ignore_errors) {
				json_config_finish(c, -EINVAL);
				return;
			}
			c->call_idx++;
			continue;
		}
		if (!json_config_in_pass(c, json_object_get_string(method))) {
			c->call_idx++;
			continue;
		}
		if (!json_object_object_get_ex(call, "params", &params)) {
			params = NULL;
		}
		keel_rpc_call_local(json_object_get_string(method), params, json_config_call_done, c);
		return;
	}
	json_config_finish(c, 0);
}

void
app_json_config_load(const char *file, uint32_t state, bool ignore_errors,
		     void (*cb)(int rc, void *ctx), void *ctx)
{
	struct json_config_ctx *c;

	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->file = strdup(file)) == NULL) {
		free(c);
		cb(-ENOMEM, ctx);
		return;
	}
	c->state = state;
	c->ignore_errors = ignore_errors;
	c->cb = cb;
	c->cb_ctx = ctx;
	c->thread = keel_get_thread();
	c->root = json_object_from_file(file);
	if (c->root == NULL) {
		KEEL_ERRLOG("%s: not valid JSON: %s\n", file, json_util_get_last_err());
		json_config_finish(c, -EINVAL);
		return;
	}
	if (!json_object_object_get_ex(c->root, "subsystems", &c->subsystems) ||
	    !json_object_is_type(c->subsystems, json_type_array)) {
		KEEL_ERRLOG("%s: expected an object with a \"subsystems\" array\n", file);
		json_config_finish(c, -EINVAL);
		return;
	}
	json_config_next(c);
}
