/*
 * RPC methods of the null bdev module: bdev_null_create (construct_null_bdev) and
 * bdev_null_delete (delete_null_bdev). The size is num_blocks, or, as the oldest clients
 * sent it, total_size in MiB.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/jsonrpc.h"
#include "keel/rpc.h"
#include "keel/util.h"

#include <json-c/json.h>

#include "bdev_null.h"

#define NULL_RPC_NO_VALUE UINT64_MAX

struct rpc_null_create {
	char *name;
	uint64_t num_blocks;
	uint64_t total_size;
	uint32_t block_size;
	char *uuid;
	/* Accepted from newer SPDK configurations, only with the value that means "none". */
	uint32_t md_size;
	uint32_t dif_type;
	bool dif_is_head_of_md;
};

static const struct keel_rpc_field g_null_create_fields[] = {
	KEEL_RPC_STR(struct rpc_null_create, name, KEEL_REQUIRED, "bdev name"),
	KEEL_RPC_U64(struct rpc_null_create, num_blocks, KEEL_OPTIONAL,
		     "size in blocks (this or total_size)"),
	KEEL_RPC_U64(struct rpc_null_create, total_size, KEEL_OPTIONAL,
		     "size in MiB (old form; this or num_blocks)"),
	KEEL_RPC_U32(struct rpc_null_create, block_size, KEEL_REQUIRED,
		     "bytes per block, a power of two from 512 to 65536"),
	KEEL_RPC_STR(struct rpc_null_create, uuid, KEEL_OPTIONAL, "UUID (default: generated)"),
	KEEL_RPC_U32(struct rpc_null_create, md_size, KEEL_OPTIONAL, "metadata size: only 0"),
	KEEL_RPC_U32(struct rpc_null_create, dif_type, KEEL_OPTIONAL, "protection: only 0"),
	KEEL_RPC_BOOL(struct rpc_null_create, dif_is_head_of_md, KEEL_OPTIONAL, "ignored"),
	KEEL_RPC_END,
};

/* num_blocks from either form of the size; sends the error and returns -EINVAL if neither
 * or both are given. */
static int
rpc_null_num_blocks(struct keel_jsonrpc_request *req, const struct rpc_null_create *r,
		    uint64_t *num_blocks)
{
	bool have_blocks = r->num_blocks != NULL_RPC_NO_VALUE;
	bool have_size = r->total_size != NULL_RPC_NO_VALUE;

	if (have_blocks == have_size) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					have_blocks ? "Invalid parameter 'total_size': give "
						      "num_blocks or total_size, not both"
						    : "Missing required parameter 'num_blocks'");
		return -EINVAL;
	}
	if (have_blocks) {
		*num_blocks = r->num_blocks;
		return 0;
	}
	if (r->total_size > UINT64_MAX / (1024 * 1024)) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'total_size': too large");
		return -EINVAL;
	}
	/* block_size is checked by the create call; guard the division only. */
	*num_blocks = r->block_size != 0 ? r->total_size * 1024 * 1024 / r->block_size : 0;
	if (*num_blocks == 0 && r->block_size != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'total_size': must be greater than 0");
		return -EINVAL;
	}
	return 0;
}

static void
rpc_bdev_null_create(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_null_create r = {.num_blocks = NULL_RPC_NO_VALUE,
				    .total_size = NULL_RPC_NO_VALUE};
	struct null_bdev_opts opts = {0};
	struct keel_bdev *bdev;
	char err[300];
	int rc;

	if (keel_rpc_decode_params(req, params, g_null_create_fields, &r) != 0) {
		return;
	}
	if (r.md_size != 0 || r.dif_type != 0) {
		keel_jsonrpc_send_error(
			req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameter '%s': metadata and protection information "
			"are not supported",
			r.md_size != 0 ? "md_size" : "dif_type");
		goto out;
	}
	if (rpc_null_num_blocks(req, &r, &opts.num_blocks) != 0) {
		goto out;
	}
	opts.name = r.name;
	opts.uuid = r.uuid;
	opts.block_size = r.block_size;
	rc = bdev_null_create(&opts, &bdev, err, sizeof(err));
	if (rc != 0) {
		keel_jsonrpc_send_error(req, rc == -EINVAL ? KEEL_JSONRPC_ERROR_INVALID_PARAMS : rc,
					"%s", err);
		goto out;
	}
	keel_jsonrpc_send_result(req, json_object_new_string(keel_bdev_get_name(bdev)));
out:
	keel_rpc_free_decoded(g_null_create_fields, &r);
}
KEEL_RPC_REGISTER("bdev_null_create", rpc_bdev_null_create, g_null_create_fields, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_null_create, "construct_null_bdev")

struct rpc_null_delete {
	char *name;
};

static const struct keel_rpc_field g_null_delete_fields[] = {
	KEEL_RPC_STR(struct rpc_null_delete, name, KEEL_REQUIRED, "null bdev name"),
	KEEL_RPC_END,
};

static void
rpc_null_delete_done(void *cb_arg, int rc)
{
	struct keel_jsonrpc_request *req = cb_arg;

	if (rc != 0) {
		keel_jsonrpc_send_error(req, rc, "cannot delete the bdev: %s", keel_strerror(-rc));
		return;
	}
	keel_jsonrpc_send_bool_response(req, true);
}

/* Answered once the bdev is gone: its open descriptors have been told and have closed. */
static void
rpc_bdev_null_delete(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_null_delete r = {0};
	int rc;

	if (keel_rpc_decode_params(req, params, g_null_delete_fields, &r) != 0) {
		return;
	}
	rc = bdev_null_delete(r.name, rpc_null_delete_done, req);
	if (rc != 0) {
		keel_jsonrpc_send_error(req, rc, "Invalid parameter 'name': no null bdev '%s'",
					r.name);
	}
	keel_rpc_free_decoded(g_null_delete_fields, &r);
}
KEEL_RPC_REGISTER("bdev_null_delete", rpc_bdev_null_delete, g_null_delete_fields, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_null_delete, "delete_null_bdev")
