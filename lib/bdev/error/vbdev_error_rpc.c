/*
 * JSON-RPC methods of the error injection module: bdev_error_create, bdev_error_delete and
 * bdev_error_inject_error, with their old names construct_error_bdev, delete_error_bdev and
 * bdev_inject_error.
 */
#include "keel/stdinc.h"
#include "keel/bdev_module.h"
#include "keel/log.h"
#include "keel/rpc.h"
#include "keel/util.h"

#include <json-c/json.h>

#include "vbdev_error.h"

struct rpc_error_create {
	char *base_name;
	char *uuid;
};

static const struct keel_rpc_field rpc_error_create_fields[] =
	{KEEL_RPC_STR(struct rpc_error_create, base_name, KEEL_REQUIRED,
		      "bdev to build EE_<base_name> on"),
	 KEEL_RPC_STR(struct rpc_error_create, uuid, KEEL_OPTIONAL,
		      "UUID of the new bdev; default: generated"),
	 KEEL_RPC_END};

static void
rpc_bdev_error_create(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_error_create r = {0};
	uint8_t uuid[16];
	char err[512];
	int rc;

	if (keel_rpc_decode_params(req, params, rpc_error_create_fields, &r) != 0) {
		return;
	}
	if (r.uuid != NULL && keel_uuid_parse(uuid, r.uuid) != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'uuid': '%s' is not a UUID", r.uuid);
		goto out;
	}
	rc = vbdev_error_create(r.base_name, r.uuid != NULL ? uuid : NULL, err, sizeof(err));
	if (rc != 0) {
		keel_jsonrpc_send_error(req, rc == -EINVAL ? KEEL_JSONRPC_ERROR_INVALID_PARAMS : rc,
					"%s", err);
	} else {
		/* SPDK answers true: the bdev may come later, with its base. */
		keel_jsonrpc_send_bool_response(req, true);
	}
out:
	keel_rpc_free_decoded(rpc_error_create_fields, &r);
}
KEEL_RPC_REGISTER("bdev_error_create", rpc_bdev_error_create, rpc_error_create_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_error_create, "construct_error_bdev")

struct rpc_error_delete {
	char *name;
};

static const struct keel_rpc_field rpc_error_delete_fields[] =
	{KEEL_RPC_STR(struct rpc_error_delete, name, KEEL_REQUIRED, "error bdev (EE_<base>)"),
	 KEEL_RPC_END};

static void
rpc_bdev_error_delete(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_error_delete r = {0};

	if (keel_rpc_decode_params(req, params, rpc_error_delete_fields, &r) != 0) {
		return;
	}
	if (vbdev_error_delete(r.name, keel_jsonrpc_send_done, req) != 0) {
		keel_jsonrpc_send_error(req, -ENODEV, "No such device: no error bdev '%s'", r.name);
	}
	keel_rpc_free_decoded(rpc_error_delete_fields, &r);
}
KEEL_RPC_REGISTER("bdev_error_delete", rpc_bdev_error_delete, rpc_error_delete_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_error_delete, "delete_error_bdev")

struct rpc_error_inject {
	char *name;
	char *io_type;
	char *error_type;
	uint32_t num;
	uint64_t queue_depth;
	uint64_t corrupt_offset;
	uint32_t corrupt_value;
};

static const struct keel_rpc_field rpc_error_inject_fields[] =
	{KEEL_RPC_STR(struct rpc_error_inject, name, KEEL_REQUIRED, "error bdev"),
	 KEEL_RPC_STR(struct rpc_error_inject, io_type, KEEL_REQUIRED,
		      "read, write, unmap, flush, all, or clear (forget every injection)"),
	 KEEL_RPC_STR(struct rpc_error_inject, error_type, KEEL_REQUIRED,
		      "failure, pending, corrupt_data or nomem"),
	 KEEL_RPC_U32(struct rpc_error_inject, num, KEEL_OPTIONAL,
		      "I/Os to hit, default 1; 0 disables the injection"),
	 KEEL_RPC_U64(struct rpc_error_inject, queue_depth, KEEL_OPTIONAL,
		      "hit only while this many I/Os of the thread are at the base, default 0"),
	 KEEL_RPC_U64(struct rpc_error_inject, corrupt_offset, KEEL_OPTIONAL,
		      "corrupt_data: byte of the I/O's data to change, default 0"),
	 KEEL_RPC_U32(struct rpc_error_inject, corrupt_value, KEEL_OPTIONAL,
		      "corrupt_data: XORed into that byte, 1 to 255"),
	 KEEL_RPC_END};

static int
rpc_error_io_type(const char *s, enum vbdev_error_io *out)
{
	static const struct {
		const char *name;
		enum vbdev_error_io io;
	} types[] = {
		{"read", VBDEV_ERROR_IO_READ},   {"write", VBDEV_ERROR_IO_WRITE},
		{"unmap", VBDEV_ERROR_IO_UNMAP}, {"flush", VBDEV_ERROR_IO_FLUSH},
		{"all", VBDEV_ERROR_IO_ALL},     {"clear", VBDEV_ERROR_IO_CLEAR},
	};
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(types); i++) {
		if (strcmp(s, types[i].name) == 0) {
			*out = types[i].io;
			return 0;
		}
	}
	return -EINVAL;
}

static int
rpc_error_type(const char *s, enum vbdev_error_type *out)
{
	static const struct {
		const char *name;
		enum vbdev_error_type type;
	} types[] = {
		{"failure", VBDEV_ERROR_FAILURE},
		{"pending", VBDEV_ERROR_PENDING},
		{"corrupt_data", VBDEV_ERROR_CORRUPT_DATA},
		{"nomem", VBDEV_ERROR_NOMEM},
	};
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(types); i++) {
		if (strcmp(s, types[i].name) == 0) {
			*out = types[i].type;
			return 0;
		}
	}
	return -EINVAL;
}

static void
rpc_bdev_error_inject_error(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_error_inject r = {.num = 1};
	struct vbdev_error_inject_opts opts = {0};
	int rc;

	if (keel_rpc_decode_params(req, params, rpc_error_inject_fields, &r) != 0) {
		return;
	}
	if (rpc_error_io_type(r.io_type, &opts.io_type) != 0) {
		keel_jsonrpc_send_error(
			req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameter 'io_type': '%s' is not read, write, unmap, "
			"flush, all or clear",
			r.io_type);
		goto out;
	}
	if (rpc_error_type(r.error_type, &opts.error_type) != 0) {
		keel_jsonrpc_send_error(
			req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameter 'error_type': '%s' is not failure, pending, "
			"corrupt_data or nomem",
			r.error_type);
		goto out;
	}
	if (r.corrupt_value > UINT8_MAX ||
	    (opts.error_type == VBDEV_ERROR_CORRUPT_DATA && opts.io_type != VBDEV_ERROR_IO_CLEAR &&
	     r.corrupt_value == 0)) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'corrupt_value': %" PRIu32
					" is not from 1 to 255",
					r.corrupt_value);
		goto out;
	}
	opts.num = r.num;
	opts.queue_depth = r.queue_depth;
	opts.corrupt_offset = r.corrupt_offset;
	opts.corrupt_value = (uint8_t)r.corrupt_value;
	rc = vbdev_error_inject(r.name, &opts);
	if (rc == -ENODEV) {
		keel_jsonrpc_send_error(req, rc, "No such device: no error bdev '%s'", r.name);
	} else if (rc != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS, "%s",
					keel_strerror(-rc));
	} else {
		keel_jsonrpc_send_bool_response(req, true);
	}
out:
	keel_rpc_free_decoded(rpc_error_inject_fields, &r);
}
KEEL_RPC_REGISTER("bdev_error_inject_error", rpc_bdev_error_inject_error, rpc_error_inject_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_error_inject_error, "bdev_inject_error")
