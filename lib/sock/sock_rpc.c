/*
 * Socket RPCs with SPDK's names: sock_set_default_impl picks the implementation that later
 * listening sockets use ("posix" or "uring"); sock_get_default_impl reports it.
 */
#include "keel/stdinc.h"
#include "keel/rpc.h"
#include "keel/sock.h"

#include <json-c/json.h>

struct set_impl_req {
	char *impl_name;
};

static const struct keel_rpc_field rpc_set_impl_fields[] = {
	KEEL_RPC_STR(struct set_impl_req, impl_name, KEEL_REQUIRED, "posix or uring"),
	KEEL_RPC_END
};

static void
rpc_sock_set_default_impl(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct set_impl_req r = {0};

	if (keel_rpc_decode_params(req, params, rpc_set_impl_fields, &r) != 0) {
		return;
	}
	if (keel_sock_set_default_impl(r.impl_name) != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'impl_name': no socket implementation '%s'",
					r.impl_name);
	} else {
		keel_jsonrpc_send_bool_response(req, true);
	}
	keel_rpc_free_decoded(rpc_set_impl_fields, &r);
}
KEEL_RPC_REGISTER("sock_set_default_impl", rpc_sock_set_default_impl, rpc_set_impl_fields,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME)

static void
rpc_sock_get_default_impl(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct json_object *res = json_object_new_object();

	json_object_object_add(res, "impl_name",
			       json_object_new_string(keel_sock_get_default_impl()));
	keel_jsonrpc_send_result(req, res);
}
KEEL_RPC_REGISTER("sock_get_default_impl", rpc_sock_get_default_impl, NULL,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME)
