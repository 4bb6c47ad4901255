/*
 * JSON-RPC methods of the uring bdev module: bdev_uring_create and bdev_uring_delete (they have
 * no older names).
 */
#include "keel/stdinc.h"
#include "keel/bdev_module.h"
#include "keel/log.h"
#include "keel/rpc.h"
#include "keel/util.h"

#include <json-c/json.h>

#include "bdev_uring.h"

struct rpc_uring_create {
	char *filename;
	char *name;
	uint32_t block_size;
};

static const struct keel_rpc_field rpc_uring_create_fields[] =
	{KEEL_RPC_STR(struct rpc_uring_create, filename, KEEL_REQUIRED, "file or block device"),
	 KEEL_RPC_STR(struct rpc_uring_create, name, KEEL_REQUIRED, "bdev name"),
	 KEEL_RPC_U32(struct rpc_uring_create, block_size, KEEL_OPTIONAL,
		      "bytes; default: the device's logical block size, 512 for a file"),
	 KEEL_RPC_END};

static void
rpc_bdev_uring_create(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_uring_create r = {0};
	struct uring_bdev_opts opts;
	struct keel_bdev *bdev;
	char err[512];
	int rc;

	if (keel_rpc_decode_params(req, params, rpc_uring_create_fields, &r) != 0) {
		return;
	}
	opts.filename = r.filename;
	opts.name = r.name;
	opts.block_size = r.block_size;
	rc = bdev_uring_create(&opts, &bdev, err, sizeof(err));
	if (rc != 0) {
		/* A bad value is -32602; otherwise the errno, as SPDK answers (-2 for a missing
		 * file, -17 for a name in use). The message names the parameter either way. */
		keel_jsonrpc_send_error(req, rc == -EINVAL ? KEEL_JSONRPC_ERROR_INVALID_PARAMS : rc,
					"%s", err);
	} else {
		keel_jsonrpc_send_result(req, json_object_new_string(keel_bdev_get_name(bdev)));
	}
	keel_rpc_free_decoded(rpc_uring_create_fields, &r);
}
KEEL_RPC_REGISTER("bdev_uring_create", rpc_bdev_uring_create, rpc_uring_create_fields,
		  KEEL_RPC_RUNTIME)

struct rpc_uring_delete {
	char *name;
};

static const struct keel_rpc_field rpc_uring_delete_fields[] =
	{KEEL_RPC_STR(struct rpc_uring_delete, name, KEEL_REQUIRED, "bdev name"), KEEL_RPC_END};

static void
rpc_bdev_uring_delete(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_uring_delete r = {0};
	int rc;

	if (keel_rpc_decode_params(req, params, rpc_uring_delete_fields, &r) != 0) {
		return;
	}
	rc = bdev_uring_delete(r.name, keel_jsonrpc_send_done, req);
	if (rc != 0) {
		keel_jsonrpc_send_error(req, -ENODEV, "No such device: no uring bdev named '%s'",
					r.name);
	}
	keel_rpc_free_decoded(rpc_uring_delete_fields, &r);
}
KEEL_RPC_REGISTER("bdev_uring_delete", rpc_bdev_uring_delete, rpc_uring_delete_fields,
		  KEEL_RPC_RUNTIME)
