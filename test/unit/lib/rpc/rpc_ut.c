/*
 * Tests of the RPC method table: parameter decoding, dispatch by name and state, aliases,
 * the built-in methods, and the server started by keel_rpc_initialize() (pollers stubbed).
 */
#include "keel/stdinc.h"

#include <sys/socket.h>
#include <sys/un.h>

#include "ut.h"
#include "keel_mock.h"
#include "rpc/rpc.c"
#include "rpc/rpc_builtin.c"

/* lib/thread is not linked: record the poller so the test can run it. */
static keel_poller_fn g_poller_fn;
static void *g_poller_ctx;
static uint64_t g_poller_period_us;
static int g_fake_poller;

struct keel_poller *
keel_poller_register_named(keel_poller_fn fn, void *ctx, uint64_t period_us, const char *name)
{
	g_poller_fn = fn;
	g_poller_ctx = ctx;
	g_poller_period_us = period_us;
	return (struct keel_poller *)&g_fake_poller;
}

void
keel_poller_unregister(struct keel_poller **ppoller)
{
	CU_ASSERT(*ppoller == (struct keel_poller *)&g_fake_poller);
	*ppoller = NULL;
	g_poller_fn = NULL;
}

KEEL_STUB(keel_poller_set_interrupt_fd, int, (struct keel_poller * poller, int fd, uint32_t events),
	  0)

/* Methods registered by the test. */

struct ut_all_types {
	char *str;
	bool flag;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	uint64_t u64;
	double dbl;
	struct json_object *obj;
	struct json_object *arr;
	struct json_object *any;
};

static const struct keel_rpc_field g_all_fields[] = {
	KEEL_RPC_STR(struct ut_all_types, str, KEEL_OPTIONAL, "a string"),
	KEEL_RPC_BOOL(struct ut_all_types, flag, KEEL_OPTIONAL, "a bool"),
	KEEL_RPC_I32(struct ut_all_types, i32, KEEL_OPTIONAL, NULL),
	KEEL_RPC_U32(struct ut_all_types, u32, KEEL_OPTIONAL, NULL),
	KEEL_RPC_I64(struct ut_all_types, i64, KEEL_OPTIONAL, NULL),
	KEEL_RPC_U64(struct ut_all_types, u64, KEEL_OPTIONAL, NULL),
	KEEL_RPC_DOUBLE(struct ut_all_types, dbl, KEEL_OPTIONAL, NULL),
	KEEL_RPC_OBJ(struct ut_all_types, obj, KEEL_OPTIONAL, NULL),
	KEEL_RPC_ARRAY(struct ut_all_types, arr, KEEL_OPTIONAL, NULL),
	KEEL_RPC_ANY(struct ut_all_types, any, KEEL_OPTIONAL, NULL),
	KEEL_RPC_END,
};

struct ut_named {
	char *name;
	uint32_t size;
};

static const struct keel_rpc_field g_named_fields[] = {
	KEEL_RPC_STR(struct ut_named, name, KEEL_REQUIRED, "object name"),
	KEEL_RPC_U32(struct ut_named, size, KEEL_REQUIRED, "size"),
	KEEL_RPC_END,
};

static void
ut_startup_only(struct keel_jsonrpc_request *req, struct json_object *params)
{
	keel_jsonrpc_send_result(req, json_object_new_string("startup"));
}
KEEL_RPC_REGISTER("ut_startup_only", ut_startup_only, NULL, KEEL_RPC_STARTUP);

static void
ut_runtime_only(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct ut_named r = {};

	if (keel_rpc_decode_params(req, params, g_named_fields, &r) != 0) {
		return;
	}
	keel_jsonrpc_send_result(req, json_object_new_string(r.name));
	keel_rpc_free_decoded(g_named_fields, &r);
}
KEEL_RPC_REGISTER("ut_runtime_only", ut_runtime_only, g_named_fields, KEEL_RPC_RUNTIME);
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(ut_runtime_only, "ut_old_runtime_only");

/* Helpers. */

static struct json_object *g_response;
static int g_responses;

static void
ut_capture(struct json_object *response, void *cb_arg)
{
	json_object_put(g_response);
	g_response = response;
	g_responses++;
}

static struct json_object *
ut_get(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(obj, key, &v);
	return v;
}

/* Call method with params given as JSON text (NULL: none); returns the response object. */
static struct json_object *
ut_call(const char *method, const char *params_text)
{
	struct json_object *params = NULL;

	if (params_text != NULL) {
		params = json_tokener_parse(params_text);
		CU_ASSERT_FATAL(params != NULL);
	}
	g_responses = 0;
	keel_rpc_call_local(method, params, ut_capture, NULL);
	CU_ASSERT(g_responses == 1);
	json_object_put(params);
	CU_ASSERT_FATAL(g_response != NULL);
	return g_response;
}

static int
ut_error_code(struct json_object *resp)
{
	return json_object_get_int(ut_get(ut_get(resp, "error"), "code"));
}

static const char *
ut_error_message(struct json_object *resp)
{
	const char *msg = json_object_get_string(ut_get(ut_get(resp, "error"), "message"));

	return msg != NULL ? msg : "";
}

static struct json_object *
ut_result(struct json_object *resp)
{
	CU_ASSERT(ut_get(resp, "error") == NULL);
	return ut_get(resp, "result");
}

/*
 * Decode params (JSON text) into out with fields through a local request; returns the decode
 * result. An error response is left in g_response; on success g_response is NULL.
 */
static int
ut_decode(const char *params_text, const struct keel_rpc_field *fields, void *out)
{
	struct keel_jsonrpc_request *req;
	struct json_object *params = NULL;
	int rc;

	json_object_put(g_response);
	g_response = NULL;
	g_responses = 0;
	if (params_text != NULL) {
		params = json_tokener_parse(params_text);
		CU_ASSERT_FATAL(params != NULL);
	}
	req = keel_jsonrpc_request_create_local(ut_capture, NULL);
	CU_ASSERT_FATAL(req != NULL);
	rc = keel_rpc_decode_params(req, params, fields, out);
	if (rc == 0) {
		CU_ASSERT(g_responses == 0);
		keel_jsonrpc_send_result(req, NULL);
		json_object_put(g_response);
		g_response = NULL;
	} else {
		CU_ASSERT(g_responses == 1);
		CU_ASSERT(ut_error_code(g_response) == KEEL_JSONRPC_ERROR_INVALID_PARAMS);
	}
	json_object_put(params);
	return rc;
}

/* Decoding fails with -EINVAL and a message containing each of the given words. */
static void
ut_decode_fails(const char *params_text, const struct keel_rpc_field *fields, const char *word1,
		const char *word2)
{
	struct ut_all_types out = {};

	CU_ASSERT(ut_decode(params_text, fields, &out) == -EINVAL);
	CU_ASSERT(g_response != NULL && strstr(ut_error_message(g_response), word1) != NULL);
	if (word2 != NULL) {
		CU_ASSERT(g_response != NULL &&
			  strstr(ut_error_message(g_response), word2) != NULL);
	}
	/* Nothing decoded, nothing allocated. */
	CU_ASSERT(out.str == NULL);
	CU_ASSERT(out.i32 == 0 && out.u32 == 0 && !out.flag && out.obj == NULL);
}

static bool
ut_array_has_string(struct json_object *arr, const char *s)
{
	size_t i;

	for (i = 0; i < json_object_array_length(arr); i++) {
		if (strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), s) == 0) {
			return true;
		}
	}
	return false;
}

static int
ut_setup(void)
{
	keel_rpc_set_state(KEEL_RPC_STARTUP);
	return 0;
}

static int
ut_teardown(void)
{
	json_object_put(g_response);
	g_response = NULL;
	return 0;
}

/* Tests: decoding. */

static void
decode_every_type(void)
{
	struct ut_all_types out = {};

	CU_ASSERT(ut_decode("{\"str\":\"abc\",\"flag\":true,\"i32\":-2147483648,\"u32\":4294967295,"
			    "\"i64\":-9223372036854775807,\"u64\":18446744073709551615,"
			    "\"dbl\":1.5,\"obj\":{\"a\":1},\"arr\":[1,2],\"any\":\"x\"}",
			    g_all_fields, &out) == 0);
	CU_ASSERT_STRING_EQUAL(out.str, "abc");
	CU_ASSERT(out.flag == true);
	CU_ASSERT(out.i32 == INT32_MIN);
	CU_ASSERT(out.u32 == UINT32_MAX);
	CU_ASSERT(out.i64 == -INT64_MAX);
	CU_ASSERT(out.u64 == UINT64_MAX);
	CU_ASSERT(out.dbl == 1.5);
	/* Borrowed objects die with params; only their presence can be checked here. */
	CU_ASSERT(out.obj != NULL);
	CU_ASSERT(out.arr != NULL);
	CU_ASSERT(out.any != NULL);
	keel_rpc_free_decoded(g_all_fields, &out);
	CU_ASSERT(out.str == NULL);

	/* An integer is a fine double; absent members stay as they were. */
	memset(&out, 0, sizeof(out));
	out.u32 = 77;
	CU_ASSERT(ut_decode("{\"dbl\":3,\"i32\":2147483647}", g_all_fields, &out) == 0);
	CU_ASSERT(out.dbl == 3.0);
	CU_ASSERT(out.i32 == INT32_MAX);
	CU_ASSERT(out.u32 == 77);
	CU_ASSERT(out.str == NULL);
}

static void
decode_replaces_a_default_string(void)
{
	struct ut_all_types out = {.str = strdup("default")};

	CU_ASSERT(ut_decode("{}", g_all_fields, &out) == 0);
	CU_ASSERT_STRING_EQUAL(out.str, "default");
	CU_ASSERT(ut_decode("{\"str\":\"given\"}", g_all_fields, &out) == 0);
	CU_ASSERT_STRING_EQUAL(out.str, "given");
	keel_rpc_free_decoded(g_all_fields, &out);
}

static void
decode_absent_params(void)
{
	struct ut_all_types out = {};
	struct ut_named named = {};

	/* Nothing required: absent params are fine. */
	CU_ASSERT(ut_decode(NULL, g_all_fields, &out) == 0);
	/* Something required: the message names it. */
	CU_ASSERT(ut_decode(NULL, g_named_fields, &named) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(ut_error_message(g_response), "Missing required parameter 'name'");
	CU_ASSERT(named.name == NULL);
}

static void
decode_missing_required_parameter_is_named(void)
{
	struct ut_named named = {};

	CU_ASSERT(ut_decode("{\"name\":\"x\"}", g_named_fields, &named) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(ut_error_message(g_response), "Missing required parameter 'size'");
	CU_ASSERT(named.name == NULL);
	CU_ASSERT(ut_decode("{\"size\":1}", g_named_fields, &named) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(ut_error_message(g_response), "Missing required parameter 'name'");
	CU_ASSERT(ut_decode("{\"size\":1,\"name\":\"x\"}", g_named_fields, &named) == 0);
	CU_ASSERT_STRING_EQUAL(named.name, "x");
	CU_ASSERT(named.size == 1);
	keel_rpc_free_decoded(g_named_fields, &named);
}

static void
decode_unknown_parameter_is_named(void)
{
	ut_decode_fails("{\"str\":\"a\",\"bogus\":1}", g_all_fields, "Invalid parameter 'bogus'",
			"unknown");
	ut_decode_fails("{\"name\":\"a\",\"size\":1,\"extra\":null}", g_named_fields, "'extra'",
			NULL);
	/* A method without fields takes no parameter at all. */
	ut_decode_fails("{\"x\":1}", NULL, "'x'", "unknown");
}

static void
decode_mistyped_parameter_names_it_and_the_type(void)
{
	ut_decode_fails("{\"str\":1}", g_all_fields, "'str'", "string");
	ut_decode_fails("{\"str\":\"ok\",\"flag\":\"true\"}", g_all_fields, "'flag'", "bool");
	ut_decode_fails("{\"flag\":1}", g_all_fields, "'flag'", "bool");
	ut_decode_fails("{\"i32\":\"1\"}", g_all_fields, "'i32'", "int32");
	ut_decode_fails("{\"i32\":1.5}", g_all_fields, "'i32'", "int32");
	ut_decode_fails("{\"u32\":true}", g_all_fields, "'u32'", "uint32");
	ut_decode_fails("{\"i64\":[]}", g_all_fields, "'i64'", "int64");
	ut_decode_fails("{\"u64\":{}}", g_all_fields, "'u64'", "uint64");
	ut_decode_fails("{\"dbl\":\"1.0\"}", g_all_fields, "'dbl'", "double");
	ut_decode_fails("{\"obj\":[]}", g_all_fields, "'obj'", "object");
	ut_decode_fails("{\"arr\":{}}", g_all_fields, "'arr'", "array");
	ut_decode_fails("{\"str\":null}", g_all_fields, "'str'", "string");
}

static void
decode_out_of_range_integer_is_refused(void)
{
	ut_decode_fails("{\"i32\":2147483648}", g_all_fields, "'i32'", "out of range for int32");
	ut_decode_fails("{\"i32\":-2147483649}", g_all_fields, "'i32'", "out of range");
	ut_decode_fails("{\"u32\":4294967296}", g_all_fields, "'u32'", "out of range for uint32");
	ut_decode_fails("{\"u32\":-1}", g_all_fields, "'u32'", "negative");
	ut_decode_fails("{\"u64\":-1}", g_all_fields, "'u64'", "negative");
}

static void
decode_error_after_a_string_leaves_nothing_allocated(void)
{
	/* "str" comes first and is valid; "u32" fails: out must stay empty. */
	ut_decode_fails("{\"str\":\"abc\",\"u32\":-5}", g_all_fields, "'u32'", NULL);
	ut_decode_fails("{\"str\":\"abc\",\"zzz\":1}", g_all_fields, "'zzz'", NULL);
}

static void
decode_refuses_params_that_are_not_an_object(void)
{
	ut_decode_fails("[1,2]", g_all_fields, "expected an object", NULL);
}

/* Tests: dispatch. */

static void
unknown_method_is_not_found(void)
{
	struct json_object *resp = ut_call("no_such_method", NULL);

	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_METHOD_NOT_FOUND);
	CU_ASSERT_STRING_EQUAL(ut_error_message(resp), "Method not found");
	CU_ASSERT(keel_rpc_find_method("no_such_method") == NULL);
}

static void
state_mask_decides_when_a_method_may_run(void)
{
	struct json_object *resp;

	keel_rpc_set_state(KEEL_RPC_STARTUP);
	CU_ASSERT(keel_rpc_get_state() == KEEL_RPC_STARTUP);
	resp = ut_call("ut_startup_only", NULL);
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_result(resp)), "startup");
	resp = ut_call("ut_runtime_only", "{\"name\":\"n\",\"size\":1}");
	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_INVALID_STATE);
	CU_ASSERT_STRING_EQUAL(ut_error_message(resp),
			       "Method may only be called after framework is initialized using "
			       "framework_start_init RPC.");

	keel_rpc_set_state(KEEL_RPC_RUNTIME);
	resp = ut_call("ut_startup_only", NULL);
	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_INVALID_STATE);
	CU_ASSERT(strstr(ut_error_message(resp),
			 "Method may only be called before framework is initialized") ==
		  ut_error_message(resp));
	resp = ut_call("ut_runtime_only", "{\"name\":\"n\",\"size\":1}");
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_result(resp)), "n");
	keel_rpc_set_state(KEEL_RPC_STARTUP);
}

static void
method_without_fields_refuses_parameters(void)
{
	struct json_object *resp;

	resp = ut_call("ut_startup_only", "{\"x\":1}");
	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT(strstr(ut_error_message(resp), "ut_startup_only") != NULL);
	resp = ut_call("ut_startup_only", "[1]");
	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_INVALID_PARAMS);
	/* Empty params are as good as none. */
	resp = ut_call("ut_startup_only", "{}");
	CU_ASSERT(ut_get(resp, "error") == NULL);
	resp = ut_call("ut_startup_only", "[]");
	CU_ASSERT(ut_get(resp, "error") == NULL);
}

static void
alias_runs_its_target_and_is_flagged_once(void)
{
	const struct keel_rpc_method *m;
	struct json_object *resp;

	m = keel_rpc_find_method("ut_old_runtime_only");
	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_STRING_EQUAL(m->name, "ut_runtime_only");
	CU_ASSERT(!keel_rpc_alias_ut_runtime_only.deprecation_warned);
	CU_ASSERT(keel_rpc_alias_ut_runtime_only.is_deprecated);

	keel_rpc_set_state(KEEL_RPC_RUNTIME);
	resp = ut_call("ut_old_runtime_only", "{\"name\":\"via alias\",\"size\":2}");
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_result(resp)), "via alias");
	CU_ASSERT(keel_rpc_alias_ut_runtime_only.deprecation_warned);
	resp = ut_call("ut_old_runtime_only", "{\"name\":\"again\",\"size\":2}");
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_result(resp)), "again");
	/* The alias has its target's state mask. */
	keel_rpc_set_state(KEEL_RPC_STARTUP);
	resp = ut_call("ut_old_runtime_only", "{\"name\":\"x\",\"size\":2}");
	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_INVALID_STATE);
}

static void
duplicate_registration_is_ignored(void)
{
	static struct keel_rpc_method dup = {.name = "ut_startup_only",
					     .fn = ut_runtime_only,
					     .state_mask = KEEL_RPC_RUNTIME};
	const struct keel_rpc_method *m;
	int count = 0;

	keel_rpc_register_method(&dup);
	for (m = keel_rpc_first_method(); m != NULL; m = keel_rpc_next_method(m)) {
		count += strcmp(m->name, "ut_startup_only") == 0;
	}
	CU_ASSERT(count == 1);
	CU_ASSERT(keel_rpc_find_method("ut_startup_only")->fn == ut_startup_only);
}

/* Tests: rpc_get_methods. */

static void
rpc_get_methods_lists_names(void)
{
	struct json_object *resp, *list;

	resp = ut_call("rpc_get_methods", NULL);
	list = ut_result(resp);
	CU_ASSERT_FATAL(json_object_is_type(list, json_type_array));
	CU_ASSERT(ut_array_has_string(list, "rpc_get_methods"));
	CU_ASSERT(ut_array_has_string(list, "log_set_flag"));
	CU_ASSERT(ut_array_has_string(list, "ut_runtime_only"));
	CU_ASSERT(ut_array_has_string(list, "ut_startup_only"));
	CU_ASSERT(!ut_array_has_string(list, "get_rpc_methods"));
	CU_ASSERT(!ut_array_has_string(list, "ut_old_runtime_only"));

	resp = ut_call("rpc_get_methods", "{\"include_aliases\":true}");
	list = ut_result(resp);
	CU_ASSERT(ut_array_has_string(list, "get_rpc_methods"));
	CU_ASSERT(ut_array_has_string(list, "ut_old_runtime_only"));
	CU_ASSERT(ut_array_has_string(list, "set_trace_flag"));
	CU_ASSERT(ut_array_has_string(list, "rpc_get_methods"));

	/* The old name answers too. */
	resp = ut_call("get_rpc_methods", "{\"current\":true}");
	list = ut_result(resp);
	CU_ASSERT(ut_array_has_string(list, "ut_startup_only"));
	CU_ASSERT(!ut_array_has_string(list, "ut_runtime_only"));

	keel_rpc_set_state(KEEL_RPC_RUNTIME);
	resp = ut_call("rpc_get_methods", "{\"current\":true,\"include_aliases\":true}");
	list = ut_result(resp);
	CU_ASSERT(!ut_array_has_string(list, "ut_startup_only"));
	CU_ASSERT(ut_array_has_string(list, "ut_runtime_only"));
	CU_ASSERT(ut_array_has_string(list, "ut_old_runtime_only"));
	CU_ASSERT(ut_array_has_string(list, "log_get_level"));
	keel_rpc_set_state(KEEL_RPC_STARTUP);

	resp = ut_call("rpc_get_methods", "{\"current\":1}");
	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT(strstr(ut_error_message(resp), "'current'") != NULL);
}

static struct json_object *
ut_find_described(struct json_object *list, const char *name)
{
	struct json_object *obj;
	size_t i;

	for (i = 0; i < json_object_array_length(list); i++) {
		obj = json_object_array_get_idx(list, i);
		if (strcmp(json_object_get_string(ut_get(obj, "name")), name) == 0) {
			return obj;
		}
	}
	return NULL;
}

static void
rpc_get_methods_detailed_describes_states_and_params(void)
{
	struct json_object *resp, *list, *m, *params, *p;

	resp = ut_call("rpc_get_methods", "{\"detailed\":true,\"include_aliases\":true}");
	list = ut_result(resp);
	CU_ASSERT_FATAL(json_object_is_type(list, json_type_array));

	m = ut_find_described(list, "ut_runtime_only");
	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT(json_object_array_length(ut_get(m, "states")) == 1);
	CU_ASSERT(ut_array_has_string(ut_get(m, "states"), "runtime"));
	CU_ASSERT(ut_get(m, "deprecated_alias_of") == NULL);
	params = ut_get(m, "params");
	CU_ASSERT_FATAL(json_object_array_length(params) == 2);
	p = json_object_array_get_idx(params, 0);
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_get(p, "name")), "name");
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_get(p, "type")), "string");
	CU_ASSERT(json_object_get_boolean(ut_get(p, "required")));
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_get(p, "help")), "object name");
	p = json_object_array_get_idx(params, 1);
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_get(p, "type")), "uint32");

	m = ut_find_described(list, "ut_old_runtime_only");
	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_get(m, "deprecated_alias_of")),
			       "ut_runtime_only");
	CU_ASSERT(json_object_array_length(ut_get(m, "params")) == 2);

	m = ut_find_described(list, "log_get_flags");
	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT(json_object_array_length(ut_get(m, "states")) == 2);
	CU_ASSERT(json_object_array_length(ut_get(m, "params")) == 0);
}

/* Tests: log methods. */

static void
log_flag_methods_set_clear_and_list(void)
{
	struct json_object *resp, *flags;

	resp = ut_call("log_set_flag", "{\"flag\":\"rpc\"}");
	CU_ASSERT(json_object_get_boolean(ut_result(resp)));
	CU_ASSERT(keel_log_get_flag("rpc"));
	resp = ut_call("log_get_flags", NULL);
	flags = ut_result(resp);
	CU_ASSERT_FATAL(json_object_is_type(flags, json_type_object));
	CU_ASSERT(json_object_get_boolean(ut_get(flags, "rpc")) == true);

	resp = ut_call("log_clear_flag", "{\"flag\":\"rpc\"}");
	CU_ASSERT(json_object_get_boolean(ut_result(resp)));
	CU_ASSERT(!keel_log_get_flag("rpc"));
	resp = ut_call("get_log_flags", NULL);
	CU_ASSERT(json_object_is_type(ut_get(ut_result(resp), "rpc"), json_type_boolean));
	CU_ASSERT(json_object_get_boolean(ut_get(ut_result(resp), "rpc")) == false);

	/* Old names. */
	resp = ut_call("set_trace_flag", "{\"flag\":\"rpc\"}");
	CU_ASSERT(json_object_get_boolean(ut_result(resp)));
	CU_ASSERT(keel_log_get_flag("rpc"));
	resp = ut_call("clear_log_flag", "{\"flag\":\"rpc\"}");
	CU_ASSERT(!keel_log_get_flag("rpc"));
	resp = ut_call("set_log_flag", "{\"flag\":\"rpc\"}");
	CU_ASSERT(keel_log_get_flag("rpc"));
	resp = ut_call("clear_trace_flag", "{\"flag\":\"rpc\"}");
	CU_ASSERT(!keel_log_get_flag("rpc"));
	resp = ut_call("get_trace_flags", NULL);
	CU_ASSERT(ut_get(ut_result(resp), "rpc") != NULL);

	/* Errors name what is wrong. */
	resp = ut_call("log_set_flag", "{\"flag\":\"no_such_component\"}");
	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT(strstr(ut_error_message(resp), "no_such_component") != NULL);
	resp = ut_call("log_clear_flag", NULL);
	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT_STRING_EQUAL(ut_error_message(resp), "Missing required parameter 'flag'");
	resp = ut_call("log_get_flags", "{\"x\":1}");
	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_INVALID_PARAMS);
}

static void
log_level_methods_set_and_get(void)
{
	enum keel_log_level saved = keel_log_get_level();
	enum keel_log_level saved_print = keel_log_get_print_level();
	struct json_object *resp;

	resp = ut_call("log_set_level", "{\"level\":\"DEBUG\"}");
	CU_ASSERT(json_object_get_boolean(ut_result(resp)));
	CU_ASSERT(keel_log_get_level() == KEEL_LOG_DEBUG);
	resp = ut_call("log_get_level", NULL);
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_result(resp)), "DEBUG");
	resp = ut_call("set_log_level", "{\"level\":\"notice\"}");
	CU_ASSERT(json_object_get_boolean(ut_result(resp)));
	resp = ut_call("get_log_level", NULL);
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_result(resp)), "NOTICE");

	resp = ut_call("log_set_print_level", "{\"level\":\"WARNING\"}");
	CU_ASSERT(json_object_get_boolean(ut_result(resp)));
	CU_ASSERT(keel_log_get_print_level() == KEEL_LOG_WARN);
	resp = ut_call("log_get_print_level", NULL);
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_result(resp)), "WARNING");
	resp = ut_call("set_log_print_level", "{\"level\":\"ERROR\"}");
	CU_ASSERT(json_object_get_boolean(ut_result(resp)));
	resp = ut_call("get_log_print_level", NULL);
	CU_ASSERT_STRING_EQUAL(json_object_get_string(ut_result(resp)), "ERROR");

	resp = ut_call("log_set_level", "{\"level\":\"LOUD\"}");
	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT(strstr(ut_error_message(resp), "'level'") != NULL);
	CU_ASSERT(strstr(ut_error_message(resp), "LOUD") != NULL);
	resp = ut_call("log_set_print_level", "{\"level\":3}");
	CU_ASSERT(ut_error_code(resp) == KEEL_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT(keel_log_get_print_level() == KEEL_LOG_ERROR);

	/* Both states. */
	keel_rpc_set_state(KEEL_RPC_RUNTIME);
	resp = ut_call("log_get_level", NULL);
	CU_ASSERT(ut_get(resp, "error") == NULL);
	keel_rpc_set_state(KEEL_RPC_STARTUP);

	keel_log_set_level(saved);
	keel_log_set_print_level(saved_print);
}

/* Tests: the server. */

static void
server_answers_over_its_socket_through_the_poller(void)
{
	const char *req = "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"rpc_get_methods\"}\n";
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct json_object *resp;
	char dir[64], path[100], buf[16384];
	size_t len = 0;
	int fd, i, rc;
	ssize_t n;

	snprintf(dir, sizeof(dir), "%s/keel_rpc_ut.XXXXXX",
		 getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/rpc.sock", dir);

	ut_keel_poller_set_interrupt_fd_calls = 0;
	CU_ASSERT_FATAL(keel_rpc_initialize(path) == 0);
	CU_ASSERT(g_poller_fn != NULL);
	CU_ASSERT(g_poller_period_us == 1000);
	CU_ASSERT(ut_keel_poller_set_interrupt_fd_calls == 1);
	CU_ASSERT(keel_rpc_initialize(path) == -EALREADY);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	CU_ASSERT(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	for (i = 0; i < 2000 && memchr(buf, '\n', len) == NULL; i++) {
		rc = g_poller_fn(g_poller_ctx);
		CU_ASSERT(rc == KEEL_POLLER_BUSY || rc == KEEL_POLLER_IDLE);
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
		if (n > 0) {
			len += (size_t)n;
		} else {
			usleep(500);
		}
	}
	buf[len] = '\0';
	resp = json_tokener_parse(buf);
	CU_ASSERT_FATAL(resp != NULL);
	CU_ASSERT(json_object_get_int(ut_get(resp, "id")) == 5);
	CU_ASSERT(ut_array_has_string(ut_get(resp, "result"), "rpc_get_methods"));
	json_object_put(resp);
	close(fd);

	keel_rpc_finish();
	CU_ASSERT(g_poller_fn == NULL);
	CU_ASSERT(access(path, F_OK) != 0);
	keel_rpc_finish();
	CU_ASSERT(rmdir(dir) == 0);
}

static void
second_initialize_on_a_live_socket_is_refused(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	char dir[64], path[100];
	int fd;

	snprintf(dir, sizeof(dir), "%s/keel_rpc_ut.XXXXXX",
		 getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/rpc.sock", dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	CU_ASSERT_FATAL(listen(fd, 1) == 0);

	CU_ASSERT(keel_rpc_initialize(path) == -EADDRINUSE);
	CU_ASSERT(g_poller_fn == NULL);
	close(fd);
	unlink(path);
	CU_ASSERT(rmdir(dir) == 0);
}

int
main(int argc, char **argv)
{
	static const struct keel_ut_test tests[] = {
		KEEL_UT_TEST(decode_every_type),
		KEEL_UT_TEST(decode_replaces_a_default_string),
		KEEL_UT_TEST(decode_absent_params),
		KEEL_UT_TEST(decode_missing_required_parameter_is_named),
		KEEL_UT_TEST(decode_unknown_parameter_is_named),
		KEEL_UT_TEST(decode_mistyped_parameter_names_it_and_the_type),
		KEEL_UT_TEST(decode_out_of_range_integer_is_refused),
		KEEL_UT_TEST(decode_error_after_a_string_leaves_nothing_allocated),
		KEEL_UT_TEST(decode_refuses_params_that_are_not_an_object),
		KEEL_UT_TEST(unknown_method_is_not_found),
		KEEL_UT_TEST(state_mask_decides_when_a_method_may_run),
		KEEL_UT_TEST(method_without_fields_refuses_parameters),
		KEEL_UT_TEST(alias_runs_its_target_and_is_flagged_once),
		KEEL_UT_TEST(duplicate_registration_is_ignored),
		KEEL_UT_TEST(rpc_get_methods_lists_names),
		KEEL_UT_TEST(rpc_get_methods_detailed_describes_states_and_params),
		KEEL_UT_TEST(log_flag_methods_set_clear_and_list),
		KEEL_UT_TEST(log_level_methods_set_and_get),
		KEEL_UT_TEST(server_answers_over_its_socket_through_the_poller),
		KEEL_UT_TEST(second_initialize_on_a_live_socket_is_refused),
	};

	return keel_ut_run("rpc", tests, KEEL_COUNTOF(tests), ut_setup, ut_teardown);
}
