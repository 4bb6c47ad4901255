/*
 * The RPC method table: methods and their deprecated aliases register at load time, requests
 * from the JSON-RPC server are dispatched by name and state, and parameters are checked and
 * decoded into C structs from each method's field table.
 */
#include "keel/stdinc.h"
#include "keel/jsonrpc.h"
#include "keel/log.h"
#include "keel/rpc.h"
#include "keel/thread.h"

#include <json.h>

KEEL_LOG_REGISTER_COMPONENT(rpc)

/* How often the server is polled; its fd wakes the thread sooner in interrupt mode. */
#define RPC_POLL_PERIOD_US 1000

static TAILQ_HEAD(, keel_rpc_method) g_rpc_methods = TAILQ_HEAD_INITIALIZER(g_rpc_methods);
static uint32_t g_rpc_state = KEEL_RPC_STARTUP;
static struct keel_jsonrpc_server *g_rpc_server;
static struct keel_poller *g_rpc_poller;

static struct keel_rpc_method *
rpc_lookup(const char *name)
{
	struct keel_rpc_method *m;

	TAILQ_FOREACH (m, &g_rpc_methods, link) {
		if (strcmp(m->name, name) == 0) {
			return m;
		}
	}
	return NULL;
}

void
keel_rpc_register_method(struct keel_rpc_method *method)
{
	if (method->name == NULL || (method->fn == NULL && method->alias_of == NULL)) {
		KEEL_ERRLOG("RPC method registration without a name or a handler ignored\n");
		return;
	}
	if (rpc_lookup(method->name) != NULL) {
		KEEL_ERRLOG("duplicate RPC method %s ignored\n", method->name);
		return;
	}
	TAILQ_INSERT_TAIL(&g_rpc_methods, method, link);
}

/* The method an entry stands for: itself, or the target of an alias (NULL if missing). */
static const struct keel_rpc_method *
rpc_resolve(const struct keel_rpc_method *m)
{
	const struct keel_rpc_method *target;

	if (m == NULL || m->alias_of == NULL) {
		return m;
	}
	target = rpc_lookup(m->alias_of);
	if (target == NULL || target->alias_of != NULL) {
		return NULL;
	}
	return target;
}

const struct keel_rpc_method *
keel_rpc_find_method(const char *name)
{
	return rpc_resolve(rpc_lookup(name));
}

const struct keel_rpc_method *
keel_rpc_first_method(void)
{
	return TAILQ_FIRST(&g_rpc_methods);
}

const struct keel_rpc_method *
keel_rpc_next_method(const struct keel_rpc_method *m)
{
	return TAILQ_NEXT(m, link);
}

void
keel_rpc_set_state(uint32_t state)
{
	g_rpc_state = state;
}

uint32_t
keel_rpc_get_state(void)
{
	return g_rpc_state;
}

static bool
rpc_params_empty(struct json_object *params)
{
	if (params == NULL) {
		return true;
	}
	if (json_object_is_type(params, json_type_object)) {
		return json_object_object_length(params) == 0;
	}
	if (json_object_is_type(params, json_type_array)) {
		return json_object_array_length(params) == 0;
	}
	return false;
}

void
keel_rpc_handle_request(struct keel_jsonrpc_request *req, const char *method,
			struct json_object *params)
{
	struct keel_rpc_method *entry;
	const struct keel_rpc_method *m;

	entry = rpc_lookup(method);
	m = rpc_resolve(entry);
	if (m == NULL) {
		KEEL_INFOLOG(rpc, "RPC method %s not found\n", method);
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_METHOD_NOT_FOUND,
					"Method not found");
		return;
	}
	if (entry != m && !entry->deprecation_warned) {
		KEEL_WARNLOG("RPC method %s is deprecated, use %s\n", entry->name, m->name);
		entry->deprecation_warned = true;
	}
	if ((m->state_mask & g_rpc_state) == 0) {
		if (g_rpc_state == KEEL_RPC_STARTUP) {
			keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_STATE,
						"Method may only be called after framework is "
						"initialized using framework_start_init RPC.");
		} else {
			keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_STATE,
						"Method may only be called before framework is "
						"initialized. Start with --wait-for-rpc and "
						"call it before framework_start_init RPC.");
		}
		return;
	}
	if (m->fields == NULL && !rpc_params_empty(params)) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"%s takes no parameters", m->name);
		return;
	}
	m->fn(req, params);
}

/*
 * Parameter decoding.
 */

const char *
keel_rpc_type_name(enum keel_rpc_type type)
{
	switch (type) {
	case KEEL_RPC_TYPE_STRING:
		return "string";
	case KEEL_RPC_TYPE_BOOL:
		return "bool";
	case KEEL_RPC_TYPE_INT32:
		return "int32";
	case KEEL_RPC_TYPE_UINT32:
		return "uint32";
	case KEEL_RPC_TYPE_INT64:
		return "int64";
	case KEEL_RPC_TYPE_UINT64:
		return "uint64";
	case KEEL_RPC_TYPE_DOUBLE:
		return "double";
	case KEEL_RPC_TYPE_OBJECT:
		return "object";
	case KEEL_RPC_TYPE_ARRAY:
		return "array";
	case KEEL_RPC_TYPE_ANY:
		return "any";
	}
	return "unknown";
}

static const struct keel_rpc_field *
rpc_find_field(const struct keel_rpc_field *fields, const char *name)
{
	for (; fields != NULL && fields->name != NULL; fields++) {
		if (strcmp(fields->name, name) == 0) {
			return fields;
		}
	}
	return NULL;
}

/* Check an integer value for a field of type t; on a problem, describe it in buf. */
static bool
rpc_check_integer(struct json_object *v, enum keel_rpc_type t, char *buf, size_t len)
{
	const char *name = keel_rpc_type_name(t);
	int64_t i;

	if (!json_object_is_type(v, json_type_int)) {
		snprintf(buf, len, "expected %s", name);
		return false;
	}
	i = json_object_get_int64(v);
	if (i < 0 && (t == KEEL_RPC_TYPE_UINT32 || t == KEEL_RPC_TYPE_UINT64)) {
		snprintf(buf, len, "expected %s, got a negative number", name);
		return false;
	}
	/*
	 * json-c saturates what does not fit in 64 bits (keeping values above INT64_MAX as
	 * uint64), so only the 32-bit types need a range check here.
	 */
	if ((t == KEEL_RPC_TYPE_INT32 && (i < INT32_MIN || i > INT32_MAX)) ||
	    (t == KEEL_RPC_TYPE_UINT32 && i > UINT32_MAX)) {
		snprintf(buf, len, "out of range for %s", name);
		return false;
	}
	return true;
}

/* Check v as a value for field; on a problem, describe it in buf. */
static bool
rpc_check_value(const struct keel_rpc_field *field, struct json_object *v, char *buf, size_t len)
{
	json_type want;

	switch (field->type) {
	case KEEL_RPC_TYPE_INT32:
	case KEEL_RPC_TYPE_UINT32:
	case KEEL_RPC_TYPE_INT64:
	case KEEL_RPC_TYPE_UINT64:
		return rpc_check_integer(v, field->type, buf, len);
	case KEEL_RPC_TYPE_DOUBLE:
		if (json_object_is_type(v, json_type_int)) {
			return true;
		}
		want = json_type_double;
		break;
	case KEEL_RPC_TYPE_STRING:
		want = json_type_string;
		break;
	case KEEL_RPC_TYPE_BOOL:
		want = json_type_boolean;
		break;
	case KEEL_RPC_TYPE_OBJECT:
		want = json_type_object;
		break;
	case KEEL_RPC_TYPE_ARRAY:
		want = json_type_array;
		break;
	case KEEL_RPC_TYPE_ANY:
		return true;
	default:
		snprintf(buf, len, "unsupported parameter type");
		return false;
	}
	if (!json_object_is_type(v, want)) {
		snprintf(buf, len, "expected %s", keel_rpc_type_name(field->type));
		return false;
	}
	return true;
}

/* Store an already checked value; strings must have been copied into *str. */
static void
rpc_store_value(const struct keel_rpc_field *field, struct json_object *v, char *str, void *out)
{
	char *dst = (char *)out + field->offset;

	switch (field->type) {
	case KEEL_RPC_TYPE_STRING:
		free(*(char **)dst);
		*(char **)dst = str;
		break;
	case KEEL_RPC_TYPE_BOOL:
		*(bool *)dst = json_object_get_boolean(v);
		break;
	case KEEL_RPC_TYPE_INT32:
		*(int32_t *)dst = (int32_t)json_object_get_int64(v);
		break;
	case KEEL_RPC_TYPE_UINT32:
		*(uint32_t *)dst = (uint32_t)json_object_get_int64(v);
		break;
	case KEEL_RPC_TYPE_INT64:
		*(int64_t *)dst = json_object_get_int64(v);
		break;
	case KEEL_RPC_TYPE_UINT64:
		*(uint64_t *)dst = json_object_get_uint64(v);
		break;
	case KEEL_RPC_TYPE_DOUBLE:
		*(double *)dst = json_object_get_double(v);
		break;
	case KEEL_RPC_TYPE_OBJECT:
	case KEEL_RPC_TYPE_ARRAY:
	case KEEL_RPC_TYPE_ANY:
		*(struct json_object **)dst = v;
		break;
	}
}

/* First pass: every member known and well typed, every required field present. */
static int
rpc_check_params(struct keel_jsonrpc_request *req, struct json_object *params,
		 const struct keel_rpc_field *fields)
{
	const struct keel_rpc_field *field;
	char problem[64];

	if (params != NULL) {
		json_object_object_foreach (params, key, val) {
			field = rpc_find_field(fields, key);
			if (field == NULL) {
				keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
							"Invalid parameter '%s': unknown", key);
				return -EINVAL;
			}
			if (!rpc_check_value(field, val, problem, sizeof(problem))) {
				keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
							"Invalid parameter '%s': %s", key, problem);
				return -EINVAL;
			}
		}
	}
	for (field = fields; field != NULL && field->name != NULL; field++) {
		if (field->required &&
		    (params == NULL || !json_object_object_get_ex(params, field->name, NULL))) {
			keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
						"Missing required parameter '%s'", field->name);
			return -EINVAL;
		}
	}
	return 0;
}

int
keel_rpc_decode_params(struct keel_jsonrpc_request *req, struct json_object *params,
		       const struct keel_rpc_field *fields, void *out)
{
	const struct keel_rpc_field *field;
	struct json_object *v;
	char **copies;
	size_t n = 0, i;
	int rc;

	if (params != NULL && !json_object_is_type(params, json_type_object)) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameters: expected an object");
		return -EINVAL;
	}
	rc = rpc_check_params(req, params, fields);
	if (rc != 0 || params == NULL) {
		return rc;
	}

	/* Second pass: copy every string first, so that a failure leaves out untouched. */
	for (field = fields; field != NULL && field->name != NULL; field++) {
		n++;
	}
	copies = calloc(n + 1, sizeof(*copies));
	if (copies == NULL) {
		goto err_nomem;
	}
	for (i = 0; i < n; i++) {
		if (fields[i].type == KEEL_RPC_TYPE_STRING &&
		    json_object_object_get_ex(params, fields[i].name, &v)) {
			copies[i] = strdup(json_object_get_string(v));
			if (copies[i] == NULL) {
				goto err_free_copies;
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (json_object_object_get_ex(params, fields[i].name, &v)) {
			rpc_store_value(&fields[i], v, copies[i], out);
		}
	}
	free(copies);
	return 0;

err_free_copies:
	for (i = 0; i < n; i++) {
		free(copies[i]);
	}
	free(copies);
err_nomem:
	keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INTERNAL_ERROR, "Out of memory");
	return -ENOMEM;
}

void
keel_rpc_free_decoded(const struct keel_rpc_field *fields, void *out)
{
	char **str;

	for (; fields != NULL && fields->name != NULL; fields++) {
		if (fields->type == KEEL_RPC_TYPE_STRING) {
			str = (char **)((char *)out + fields->offset);
			free(*str);
			*str = NULL;
		}
	}
}

/*
 * Server life and local calls.
 */

static int
rpc_server_poll(void *ctx)
{
	return keel_jsonrpc_server_poll(ctx) > 0 ? KEEL_POLLER_BUSY : KEEL_POLLER_IDLE;
}

int
keel_rpc_initialize(const char *path)
{
	int rc;

	if (g_rpc_server != NULL) {
		KEEL_ERRLOG("RPC server already running\n");
		return -EALREADY;
	}
	g_rpc_server = keel_jsonrpc_server_listen(path, keel_rpc_handle_request, &rc);
	if (g_rpc_server == NULL) {
		return rc;
	}
	g_rpc_poller = keel_poller_register(rpc_server_poll, g_rpc_server, RPC_POLL_PERIOD_US);
	if (g_rpc_poller == NULL) {
		KEEL_ERRLOG("RPC server %s: cannot register its poller\n", path);
		keel_jsonrpc_server_shutdown(g_rpc_server);
		g_rpc_server = NULL;
		return -ENOMEM;
	}
	rc = keel_poller_set_interrupt_fd(g_rpc_poller, keel_jsonrpc_server_get_fd(g_rpc_server),
					  0);
	if (rc != 0) {
		/* Still served by the timed poller; only sleeping reactors notice later. */
		KEEL_WARNLOG("RPC server %s: no interrupt fd (%s); polling only\n", path,
			     strerror(-rc));
	}
	KEEL_NOTICELOG("RPC server listening on %s\n", path);
	return 0;
}

void
keel_rpc_finish(void)
{
	if (g_rpc_server == NULL) {
		return;
	}
	keel_poller_unregister(&g_rpc_poller);
	keel_jsonrpc_server_shutdown(g_rpc_server);
	g_rpc_server = NULL;
}

void
keel_rpc_call_local(const char *method, struct json_object *params, keel_jsonrpc_local_cb cb,
		    void *cb_arg)
{
	struct keel_jsonrpc_request *req;
	struct json_object *resp, *err;

	req = keel_jsonrpc_request_create_local(cb, cb_arg);
	if (req != NULL) {
		keel_rpc_handle_request(req, method, params);
		return;
	}
	if (cb == NULL) {
		return;
	}
	/* No request: answer the callback directly, as the request would have. */
	resp = json_object_new_object();
	err = json_object_new_object();
	if (resp == NULL || err == NULL) {
		KEEL_ERRLOG("out of memory calling RPC %s\n", method);
		json_object_put(resp);
		json_object_put(err);
		return;
	}
	json_object_object_add(err, "code", json_object_new_int(KEEL_JSONRPC_ERROR_INTERNAL_ERROR));
	json_object_object_add(err, "message", json_object_new_string("Out of memory"));
	json_object_object_add(resp, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(resp, "id", NULL);
	json_object_object_add(resp, "error", err);
	cb(resp, cb_arg);
}
