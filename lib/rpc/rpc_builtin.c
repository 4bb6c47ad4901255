/*
 * Methods every keel application answers: rpc_get_methods, which publishes the method table
 * (with each method's states and parameter table on request), and the log methods, under
 * today's SPDK names and their older ones.
 */
#include "keel/stdinc.h"
#include "keel/jsonrpc.h"
#include "keel/log.h"
#include "keel/rpc.h"

#include <json.h>

struct rpc_get_methods_req {
	bool current;
	bool include_aliases;
	bool detailed;
};

static const struct keel_rpc_field rpc_get_methods_fields[] = {
	KEEL_RPC_BOOL(struct rpc_get_methods_req, current, KEEL_OPTIONAL,
		      "only the methods allowed in the current state"),
	KEEL_RPC_BOOL(struct rpc_get_methods_req, include_aliases, KEEL_OPTIONAL,
		      "also list deprecated old names"),
	KEEL_RPC_BOOL(struct rpc_get_methods_req, detailed, KEEL_OPTIONAL,
		      "objects with states and parameters instead of names (keel extension)"),
	KEEL_RPC_END,
};

static struct json_object *
rpc_describe_states(uint32_t mask)
{
	struct json_object *states = json_object_new_array();

	if (mask & KEEL_RPC_STARTUP) {
		json_object_array_add(states, json_object_new_string("startup"));
	}
	if (mask & KEEL_RPC_RUNTIME) {
		json_object_array_add(states, json_object_new_string("runtime"));
	}
	return states;
}

static struct json_object *
rpc_describe_params(const struct keel_rpc_field *fields)
{
	struct json_object *params = json_object_new_array();
	struct json_object *p;
	const char *help;

	for (; fields != NULL && fields->name != NULL; fields++) {
		p = json_object_new_object();
		json_object_object_add(p, "name", json_object_new_string(fields->name));
		json_object_object_add(p, "type",
				       json_object_new_string(keel_rpc_type_name(fields->type)));
		json_object_object_add(p, "required", json_object_new_boolean(fields->required));
		help = fields->help != NULL ? fields->help : "";
		json_object_object_add(p, "help", json_object_new_string(help));
		json_object_array_add(params, p);
	}
	return params;
}

/* {name, states, deprecated_alias_of?, params}: entry is the name called, m what runs. */
static struct json_object *
rpc_describe_method(const struct keel_rpc_method *entry, const struct keel_rpc_method *m)
{
	struct json_object *obj = json_object_new_object();

	json_object_object_add(obj, "name", json_object_new_string(entry->name));
	json_object_object_add(obj, "states", rpc_describe_states(m->state_mask));
	if (entry != m) {
		json_object_object_add(obj, "deprecated_alias_of", json_object_new_string(m->name));
	}
	json_object_object_add(obj, "params", rpc_describe_params(m->fields));
	return obj;
}

static void
rpc_get_methods(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_get_methods_req r = {};
	const struct keel_rpc_method *entry, *m;
	struct json_object *list;

	if (keel_rpc_decode_params(req, params, rpc_get_methods_fields, &r) != 0) {
		return;
	}
	list = json_object_new_array();
	for (entry = keel_rpc_first_method(); entry != NULL; entry = keel_rpc_next_method(entry)) {
		m = keel_rpc_find_method(entry->name);
		if (m == NULL || (entry != m && !r.include_aliases)) {
			continue;
		}
		if (r.current && (m->state_mask & keel_rpc_get_state()) == 0) {
			continue;
		}
		json_object_array_add(list, r.detailed ? rpc_describe_method(entry, m)
						       : json_object_new_string(entry->name));
	}
	keel_jsonrpc_send_result(req, list);
}
KEEL_RPC_REGISTER("rpc_get_methods", rpc_get_methods, rpc_get_methods_fields,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME);
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_get_methods, "get_rpc_methods");

/*
 * Log methods.
 */

struct rpc_log_flag_req {
	char *flag;
};

static const struct keel_rpc_field rpc_log_flag_fields[] = {
	KEEL_RPC_STR(struct rpc_log_flag_req, flag, KEEL_REQUIRED, "log component, or \"all\""),
	KEEL_RPC_END,
};

static void
rpc_log_change_flag(struct keel_jsonrpc_request *req, struct json_object *params, bool enable)
{
	struct rpc_log_flag_req r = {};
	int rc;

	if (keel_rpc_decode_params(req, params, rpc_log_flag_fields, &r) != 0) {
		return;
	}
	rc = enable ? keel_log_set_flag(r.flag) : keel_log_clear_flag(r.flag);
	if (rc != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'flag': unknown log flag '%s'", r.flag);
	} else {
		keel_jsonrpc_send_bool_response(req, true);
	}
	keel_rpc_free_decoded(rpc_log_flag_fields, &r);
}

static void
rpc_log_set_flag(struct keel_jsonrpc_request *req, struct json_object *params)
{
	rpc_log_change_flag(req, params, true);
}
KEEL_RPC_REGISTER("log_set_flag", rpc_log_set_flag, rpc_log_flag_fields,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME);
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_log_set_flag, "set_log_flag");
KEEL_RPC_REGISTER_ALIAS_DEPRECATED_EXTRA(rpc_log_set_flag, "set_trace_flag", v18);

static void
rpc_log_clear_flag(struct keel_jsonrpc_request *req, struct json_object *params)
{
	rpc_log_change_flag(req, params, false);
}
KEEL_RPC_REGISTER("log_clear_flag", rpc_log_clear_flag, rpc_log_flag_fields,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME);
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_log_clear_flag, "clear_log_flag");
KEEL_RPC_REGISTER_ALIAS_DEPRECATED_EXTRA(rpc_log_clear_flag, "clear_trace_flag", v18);

static void
rpc_log_add_flag(const struct keel_log_flag *flag, void *ctx)
{
	json_object_object_add(ctx, flag->name, json_object_new_boolean(flag->enabled));
}

static void
rpc_log_get_flags(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct json_object *flags = json_object_new_object();

	keel_log_for_each_flag(rpc_log_add_flag, flags);
	keel_jsonrpc_send_result(req, flags);
}
KEEL_RPC_REGISTER("log_get_flags", rpc_log_get_flags, NULL, KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME);
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_log_get_flags, "get_log_flags");
KEEL_RPC_REGISTER_ALIAS_DEPRECATED_EXTRA(rpc_log_get_flags, "get_trace_flags", v18);

struct rpc_log_level_req {
	char *level;
};

static const struct keel_rpc_field rpc_log_level_fields[] = {
	KEEL_RPC_STR(struct rpc_log_level_req, level, KEEL_REQUIRED,
		     "ERROR, WARNING, NOTICE, INFO or DEBUG"),
	KEEL_RPC_END,
};

static void
rpc_log_change_level(struct keel_jsonrpc_request *req, struct json_object *params,
		     void (*set)(enum keel_log_level level))
{
	struct rpc_log_level_req r = {};
	enum keel_log_level level;

	if (keel_rpc_decode_params(req, params, rpc_log_level_fields, &r) != 0) {
		return;
	}
	if (keel_log_level_from_name(r.level, &level) != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'level': unknown log level '%s'",
					r.level);
	} else {
		set(level);
		keel_jsonrpc_send_bool_response(req, true);
	}
	keel_rpc_free_decoded(rpc_log_level_fields, &r);
}

static void
rpc_log_set_level(struct keel_jsonrpc_request *req, struct json_object *params)
{
	rpc_log_change_level(req, params, keel_log_set_level);
}
KEEL_RPC_REGISTER("log_set_level", rpc_log_set_level, rpc_log_level_fields,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME);
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_log_set_level, "set_log_level");

static void
rpc_log_get_level(struct keel_jsonrpc_request *req, struct json_object *params)
{
	const char *name = keel_log_level_name(keel_log_get_level());

	keel_jsonrpc_send_result(req, json_object_new_string(name));
}
KEEL_RPC_REGISTER("log_get_level", rpc_log_get_level, NULL, KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME);
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_log_get_level, "get_log_level");

static void
rpc_log_set_print_level(struct keel_jsonrpc_request *req, struct json_object *params)
{
	rpc_log_change_level(req, params, keel_log_set_print_level);
}
KEEL_RPC_REGISTER("log_set_print_level", rpc_log_set_print_level, rpc_log_level_fields,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME);
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_log_set_print_level, "set_log_print_level");

static void
rpc_log_get_print_level(struct keel_jsonrpc_request *req, struct json_object *params)
{
	const char *name = keel_log_level_name(keel_log_get_print_level());

	keel_jsonrpc_send_result(req, json_object_new_string(name));
}
KEEL_RPC_REGISTER("log_get_print_level", rpc_log_get_print_level, NULL,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME);
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_log_get_print_level, "get_log_print_level");
