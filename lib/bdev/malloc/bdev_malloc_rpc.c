/*
 * RPC methods of the malloc bdev module: bdev_malloc_create (construct_malloc_bdev) and
 * bdev_malloc_delete (delete_malloc_bdev), with SPDK's parameter names.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/jsonrpc.h"
#include "keel/rpc.h"
#include "keel/util.h"

#include <json-c/json.h>

#include "bdev_malloc.h"

struct rpc_malloc_create {
	char *name;
	uint64_t num_blocks;
	uint32_t block_size;
	char *uuid;
	uint32_t optimal_io_boundary;
	/* Accepted from newer SPDK configurations, only with the value that means "none". */
	uint32_t md_size;
	uint32_t dif_type;
	bool dif_is_head_of_md;
	bool md_interleave;
};

static const struct keel_rpc_field g_malloc_create_fields[] = {
	KEEL_RPC_STR(struct rpc_malloc_create, name, KEEL_OPTIONAL,
		     "bdev name (default: the lowest free MallocN)"),
	KEEL_RPC_U64(struct rpc_malloc_create, num_blocks, KEEL_REQUIRED, "size in blocks"),
	KEEL_RPC_U32(struct rpc_malloc_create, block_size, KEEL_REQUIRED,
		     "bytes per block, a power of two from 512 to 65536"),
	KEEL_RPC_STR(struct rpc_malloc_create, uuid, KEEL_OPTIONAL, "UUID (default: generated)"),
	KEEL_RPC_U32(struct rpc_malloc_create, optimal_io_boundary, KEEL_OPTIONAL,
		     "split I/O on this boundary, in blocks (default 0: no split)"),
	KEEL_RPC_U32(struct rpc_malloc_create, md_size, KEEL_OPTIONAL, "metadata size: only 0"),
	KEEL_RPC_U32(struct rpc_malloc_create, dif_type, KEEL_OPTIONAL, "protection: only 0"),
	KEEL_RPC_BOOL(struct rpc_malloc_create, dif_is_head_of_md, KEEL_OPTIONAL, "ignored"),
	KEEL_RPC_BOOL(struct rpc_malloc_create, md_interleave, KEEL_OPTIONAL, "ignored"),
	KEEL_RPC_END,
};

/* -EINVAL is a bad parameter (JSON-RPC invalid params); other errors keep their errno. */
static int
rpc_malloc_error_code(int rc)
{
	return rc == -EINVAL ? KEEL_JSONRPC_ERROR_INVALID_PARAMS : rc;
}

static void
rpc_bdev_malloc_create(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_malloc_create r = {0};
	struct malloc_bdev_opts opts = {0};
	struct keel_bdev *bdev;
	char err[300];
	int rc;

	if (keel_rpc_decode_params(req, params, g_malloc_create_fields, &r) != 0) {
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
	opts.name = r.name;
	opts.uuid = r.uuid;
	opts.num_blocks = r.num_blocks;
	opts.block_size = r.block_size;
	opts.optimal_io_boundary = r.optimal_io_boundary;
	rc = bdev_malloc_create(&opts, &bdev, err, sizeof(err));
	if (rc != 0) {
		keel_jsonrpc_send_error(req, rpc_malloc_error_code(rc), "%s", err);
		goto out;
	}
	keel_jsonrpc_send_result(req, json_object_new_string(keel_bdev_get_name(bdev)));
out:
	keel_rpc_free_decoded(g_malloc_create_fields, &r);
}
KEEL_RPC_REGISTER("bdev_malloc_create", rpc_bdev_malloc_create, g_malloc_create_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_malloc_create, "construct_malloc_bdev")

struct rpc_malloc_delete {
	char *name;
};

static const struct keel_rpc_field g_malloc_delete_fields[] = {
	KEEL_RPC_STR(struct rpc_malloc_delete, name, KEEL_REQUIRED, "malloc bdev name"),
	KEEL_RPC_END,
};

static void
rpc_malloc_delete_done(void *cb_arg, int rc)
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
rpc_bdev_malloc_delete(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_malloc_delete r = {0};
	int rc;

	if (keel_rpc_decode_params(req, params, g_malloc_delete_fields, &r) != 0) {
		return;
	}
	rc = bdev_malloc_delete(r.name, rpc_malloc_delete_done, req);
	if (rc != 0) {
		keel_jsonrpc_send_error(req, rc, "Invalid parameter 'name': no malloc bdev '%s'",
					r.name);
	}
	keel_rpc_free_decoded(g_malloc_delete_fields, &r);
}
KEEL_RPC_REGISTER("bdev_malloc_delete", rpc_bdev_malloc_delete, g_malloc_delete_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_malloc_delete, "delete_malloc_bdev")
