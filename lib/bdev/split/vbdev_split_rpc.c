/*
 * JSON-RPC methods of the split module: bdev_split_create and bdev_split_delete, with their
 * old names construct_split_vbdev and destruct_split_vbdev.
 */
#include "keel/stdinc.h"
#include "keel/bdev_module.h"
#include "keel/log.h"
#include "keel/rpc.h"
#include "keel/util.h"

#include <json-c/json.h>

#include "vbdev_split.h"

struct rpc_split_create {
	char *base_bdev;
	uint32_t split_count;
	uint64_t split_size_mb;
};

static const struct keel_rpc_field rpc_split_create_fields[] = {
	KEEL_RPC_STR(struct rpc_split_create, base_bdev, KEEL_REQUIRED, "bdev to split"),
	KEEL_RPC_U32(struct rpc_split_create, split_count, KEEL_REQUIRED, "number of parts"),
	KEEL_RPC_U64(struct rpc_split_create, split_size_mb, KEEL_OPTIONAL,
		     "MiB a part; default: the base divided evenly"),
	KEEL_RPC_END};

static void
rpc_split_add_name(const char *name, void *ctx)
{
	json_object_array_add(ctx, json_object_new_string(name));
}

static void
rpc_bdev_split_create(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_split_create r = {0};
	struct json_object *names;
	char err[512];
	int rc;

	if (keel_rpc_decode_params(req, params, rpc_split_create_fields, &r) != 0) {
		return;
	}
	names = json_object_new_array();
	rc = vbdev_split_create(r.base_bdev, r.split_count, r.split_size_mb, rpc_split_add_name,
				names, err, sizeof(err));
	if (rc != 0) {
		json_object_put(names);
		/* A bad value is -32602; otherwise the errno, the message naming the problem. */
		keel_jsonrpc_send_error(req, rc == -EINVAL ? KEEL_JSONRPC_ERROR_INVALID_PARAMS : rc,
					"%s", err);
	} else {
		keel_jsonrpc_send_result(req, names);
	}
	keel_rpc_free_decoded(rpc_split_create_fields, &r);
}
KEEL_RPC_REGISTER("bdev_split_create", rpc_bdev_split_create, rpc_split_create_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_split_create, "construct_split_vbdev")

struct rpc_split_delete {
	char *base_bdev;
};

static const struct keel_rpc_field rpc_split_delete_fields[] = {
	KEEL_RPC_STR(struct rpc_split_delete, base_bdev, KEEL_REQUIRED, "bdev that was split"),
	KEEL_RPC_END};

static void
rpc_bdev_split_delete(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_split_delete r = {0};
	int rc;

	if (keel_rpc_decode_params(req, params, rpc_split_delete_fields, &r) != 0) {
		return;
	}
	rc = vbdev_split_delete(r.base_bdev, keel_jsonrpc_send_done, req);
	if (rc != 0) {
		keel_jsonrpc_send_error(req, -ENODEV, "No such device: %s is not split",
					r.base_bdev);
	}
	keel_rpc_free_decoded(rpc_split_delete_fields, &r);
}
KEEL_RPC_REGISTER("bdev_split_delete", rpc_bdev_split_delete, rpc_split_delete_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_split_delete, "destruct_split_vbdev")
