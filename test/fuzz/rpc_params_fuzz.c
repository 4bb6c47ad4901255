/*
 * Fuzz target for RPC parameter decoding (lib/rpc): the input is the JSON "params" value of a
 * request, decoded by keel_rpc_decode_params() with a field table of every type, once with
 * required fields and once with all of them optional. Checks what the API promises: a failed
 * decode leaves the output untouched, a successful one stores each member as given.
 */
#include "keel/stdinc.h"
#include "keel/jsonrpc.h"
#include "keel/rpc.h"

#include <json.h>

#include "fuzz_common.h"

struct all_types {
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

static const struct keel_rpc_field g_required_fields[] = {
	KEEL_RPC_STR(struct all_types, str, KEEL_REQUIRED, "a string"),
	KEEL_RPC_BOOL(struct all_types, flag, KEEL_OPTIONAL, "a boolean"),
	KEEL_RPC_I32(struct all_types, i32, KEEL_OPTIONAL, "an int32"),
	KEEL_RPC_U32(struct all_types, u32, KEEL_REQUIRED, "a uint32"),
	KEEL_RPC_I64(struct all_types, i64, KEEL_OPTIONAL, "an int64"),
	KEEL_RPC_U64(struct all_types, u64, KEEL_OPTIONAL, "a uint64"),
	KEEL_RPC_DOUBLE(struct all_types, dbl, KEEL_OPTIONAL, "a double"),
	KEEL_RPC_OBJ(struct all_types, obj, KEEL_OPTIONAL, "an object"),
	KEEL_RPC_ARRAY(struct all_types, arr, KEEL_OPTIONAL, "an array"),
	KEEL_RPC_ANY(struct all_types, any, KEEL_OPTIONAL, "anything"),
	KEEL_RPC_END,
};

static const struct keel_rpc_field g_optional_fields[] = {
	KEEL_RPC_STR(struct all_types, str, KEEL_OPTIONAL, "a string"),
	KEEL_RPC_BOOL(struct all_types, flag, KEEL_OPTIONAL, "a boolean"),
	KEEL_RPC_I32(struct all_types, i32, KEEL_OPTIONAL, "an int32"),
	KEEL_RPC_U32(struct all_types, u32, KEEL_OPTIONAL, "a uint32"),
	KEEL_RPC_I64(struct all_types, i64, KEEL_OPTIONAL, "an int64"),
	KEEL_RPC_U64(struct all_types, u64, KEEL_OPTIONAL, "a uint64"),
	KEEL_RPC_DOUBLE(struct all_types, dbl, KEEL_OPTIONAL, "a double"),
	KEEL_RPC_OBJ(struct all_types, obj, KEEL_OPTIONAL, "an object"),
	KEEL_RPC_ARRAY(struct all_types, arr, KEEL_OPTIONAL, "an array"),
	KEEL_RPC_ANY(struct all_types, any, KEEL_OPTIONAL, "anything"),
	KEEL_RPC_END,
};

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_setup_log();
	return 0;
}

struct response {
	bool answered;
	bool is_error;
};

static void
local_done(struct json_object *resp, void *cb_arg)
{
	struct response *r = cb_arg;
	struct json_object *v;

	FUZZ_CHECK(!r->answered);
	r->answered = true;
	r->is_error = json_object_object_get_ex(resp, "error", &v);
	if (r->is_error) {
		/* Every error names a code and a message a client can print. */
		FUZZ_CHECK(json_object_object_get_ex(v, "code", NULL));
		FUZZ_CHECK(json_object_object_get_ex(v, "message", &v) &&
			   json_object_is_type(v, json_type_string));
		(void)json_object_to_json_string(resp);
	}
	json_object_put(resp);
}

/* A decoded member equals the JSON value it came from. */
static void
check_stored(const struct all_types *out, struct json_object *params)
{
	struct json_object *v;

	if (json_object_object_get_ex(params, "str", &v)) {
		FUZZ_CHECK(out->str != NULL && strcmp(out->str, json_object_get_string(v)) == 0);
	}
	if (json_object_object_get_ex(params, "flag", &v)) {
		FUZZ_CHECK(out->flag == json_object_get_boolean(v));
	}
	if (json_object_object_get_ex(params, "i32", &v)) {
		FUZZ_CHECK(out->i32 == json_object_get_int64(v));
	}
	if (json_object_object_get_ex(params, "u32", &v)) {
		FUZZ_CHECK(out->u32 == json_object_get_int64(v));
	}
	if (json_object_object_get_ex(params, "i64", &v)) {
		FUZZ_CHECK(out->i64 == json_object_get_int64(v));
	}
	if (json_object_object_get_ex(params, "u64", &v)) {
		FUZZ_CHECK(out->u64 == json_object_get_uint64(v));
	}
	if (json_object_object_get_ex(params, "obj", &v)) {
		FUZZ_CHECK(out->obj == v && json_object_is_type(v, json_type_object));
	}
	if (json_object_object_get_ex(params, "arr", &v)) {
		FUZZ_CHECK(out->arr == v && json_object_is_type(v, json_type_array));
	}
	if (json_object_object_get_ex(params, "any", &v)) {
		FUZZ_CHECK(out->any == v);
	}
}

static bool
same_members(const struct all_types *a, const struct all_types *b)
{
	return a->str == b->str && a->flag == b->flag && a->i32 == b->i32 && a->u32 == b->u32 &&
	       a->i64 == b->i64 && a->u64 == b->u64 && a->dbl == b->dbl && a->obj == b->obj &&
	       a->arr == b->arr && a->any == b->any;
}

static void
decode_with(const struct keel_rpc_field *fields, struct json_object *params)
{
	struct response resp = {0};
	struct keel_jsonrpc_request *req;
	struct all_types out, before;
	int rc;

	memset(&out, 0, sizeof(out));
	out.str = strdup("default");
	out.u32 = 512;
	out.dbl = 1.5;
	if (out.str == NULL) {
		return;
	}
	before = out;
	req = keel_jsonrpc_request_create_local(local_done, &resp);
	if (req == NULL) {
		free(out.str);
		return;
	}
	rc = keel_rpc_decode_params(req, params, fields, &out);
	if (rc == 0) {
		FUZZ_CHECK(!resp.answered);
		check_stored(&out, params);
		keel_jsonrpc_send_result(req, NULL);
		FUZZ_CHECK(resp.answered && !resp.is_error);
	} else {
		FUZZ_CHECK(rc == -EINVAL || rc == -ENOMEM);
		FUZZ_CHECK(resp.answered && resp.is_error);
		FUZZ_CHECK(same_members(&out, &before));
	}
	keel_rpc_free_decoded(fields, &out);
	FUZZ_CHECK(out.str == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tok;
	struct json_object *params;

	if (size > INT_MAX) {
		return 0;
	}
	tok = json_tokener_new();
	if (tok == NULL) {
		return 0;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	params = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	if (json_tokener_get_error(tok) == json_tokener_success) {
		/* A JSON null is a request without params (NULL), as the server hands it over. */
		decode_with(g_required_fields, params);
		decode_with(g_optional_fields, params);
		json_object_put(params);
	}
	json_tokener_free(tok);
	return 0;
}
