/*
 * The generic bdev RPCs: bdev_get_bdevs, bdev_get_iostat, bdev_set_options, bdev_set_qos_limit,
 * bdev_set_qd_sampling_period and the v18 delete_bdev, with SPDK's names, parameters and
 * answers.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/bdev_module.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/rpc.h"
#include "keel/thread.h"

#include "bdev_internal.h"

#include <json-c/json.h>

static void
add_alias(const char *alias, void *arr)
{
	json_object_array_add(arr, json_object_new_string(alias));
}

void
keel_bdev_dump_info_json(struct keel_bdev *bdev, struct json_object *o)
{
	static const struct {
		const char *name;
		enum keel_bdev_io_type type;
	} types[] = {
		{"read", KEEL_BDEV_IO_TYPE_READ},
		{"write", KEEL_BDEV_IO_TYPE_WRITE},
		{"unmap", KEEL_BDEV_IO_TYPE_UNMAP},
		{"write_zeroes", KEEL_BDEV_IO_TYPE_WRITE_ZEROES},
		{"flush", KEEL_BDEV_IO_TYPE_FLUSH},
		{"reset", KEEL_BDEV_IO_TYPE_RESET},
		{"compare", KEEL_BDEV_IO_TYPE_COMPARE},
		{"compare_and_write", KEEL_BDEV_IO_TYPE_COMPARE_AND_WRITE},
	};
	struct json_object *aliases = json_object_new_array(), *io_types = json_object_new_object();
	struct json_object *limits = json_object_new_object(), *drv = json_object_new_object();
	uint64_t qos[KEEL_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	char uuid[KEEL_UUID_STRING_LEN];
	size_t i;

	json_object_object_add(o, "name", json_object_new_string(bdev->name));
	keel_bdev_for_each_alias(bdev, add_alias, aliases);
	json_object_object_add(o, "aliases", aliases);
	json_object_object_add(o, "product_name",
			       json_object_new_string(keel_bdev_get_product_name(bdev)));
	json_object_object_add(o, "block_size", json_object_new_int64(bdev->blocklen));
	json_object_object_add(o, "num_blocks",
			       json_object_new_uint64(keel_bdev_get_num_blocks(bdev)));
	keel_bdev_get_uuid_str(bdev, uuid);
	json_object_object_add(o, "uuid", json_object_new_string(uuid));
	keel_bdev_get_qos_rate_limits(bdev, qos);
	json_object_object_add(limits, "rw_ios_per_sec", json_object_new_uint64(qos[0]));
	json_object_object_add(limits, "rw_mbytes_per_sec",
			       json_object_new_uint64(qos[1] / 1024 / 1024));
	json_object_object_add(limits, "r_mbytes_per_sec",
			       json_object_new_uint64(qos[2] / 1024 / 1024));
	json_object_object_add(limits, "w_mbytes_per_sec",
			       json_object_new_uint64(qos[3] / 1024 / 1024));
	json_object_object_add(o, "assigned_rate_limits", limits);
	json_object_object_add(o, "claimed",
			       json_object_new_boolean(bdev->internal.claim_module != NULL));
	json_object_object_add(o, "zoned", json_object_new_boolean(false));
	json_object_object_add(o, "write_cache", json_object_new_boolean(bdev->write_cache));
	json_object_object_add(o, "optimal_io_boundary",
			       json_object_new_int64(bdev->optimal_io_boundary));
	for (i = 0; i < KEEL_COUNTOF(types); i++) {
		json_object_object_add(io_types, types[i].name, json_object_new_boolean(
					       keel_bdev_io_type_supported(bdev, types[i].type)));
	}
	json_object_object_add(io_types, "zcopy", json_object_new_boolean(bdev->zcopy_read));
	json_object_object_add(o, "supported_io_types", io_types);
	if (bdev->fn_table->dump_info_json != NULL) {
		bdev->fn_table->dump_info_json(bdev->ctxt, drv);
	}
	json_object_object_add(o, "driver_specific", drv);
}

struct get_bdevs_req {
	char *name;
	uint32_t timeout;
};

static const struct keel_rpc_field rpc_get_bdevs_fields[] = {
	KEEL_RPC_STR(struct get_bdevs_req, name, KEEL_OPTIONAL, "bdev name, alias or UUID"),
	KEEL_RPC_U32(struct get_bdevs_req, timeout, KEEL_OPTIONAL, "accepted; bdevs appear at once"),
	KEEL_RPC_END
};

static void
rpc_bdev_get_bdevs(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct get_bdevs_req r = {0};
	struct json_object *res;
	struct keel_bdev *bdev;

	if (keel_rpc_decode_params(req, params, rpc_get_bdevs_fields, &r) != 0) {
		return;
	}
	res = json_object_new_array();
	if (r.name != NULL) {
		bdev = keel_bdev_get_by_name(r.name);
		if (bdev == NULL) {
			keel_jsonrpc_send_error(req, -ENODEV, "No such device: bdev '%s'", r.name);
			json_object_put(res);
			keel_rpc_free_decoded(rpc_get_bdevs_fields, &r);
			return;
		}
		struct json_object *o = json_object_new_object();

		keel_bdev_dump_info_json(bdev, o);
		json_object_array_add(res, o);
	} else {
		pthread_mutex_lock(&g_bdev_mgr.lock);
		TAILQ_FOREACH(bdev, &g_bdev_mgr.bdevs, internal.link) {
			struct json_object *o = json_object_new_object();

			keel_bdev_dump_info_json(bdev, o);
			json_object_array_add(res, o);
		}
		pthread_mutex_unlock(&g_bdev_mgr.lock);
	}
	keel_rpc_free_decoded(rpc_get_bdevs_fields, &r);
	keel_jsonrpc_send_result(req, res);
}
KEEL_RPC_REGISTER("bdev_get_bdevs", rpc_bdev_get_bdevs, rpc_get_bdevs_fields, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_get_bdevs, "get_bdevs")

/* bdev_get_iostat: one bdev after another, each summed over its channels. */
struct iostat_ctx {
	struct keel_jsonrpc_request *req;
	struct json_object *bdevs;
	char **names;
	size_t count;
	size_t idx;
	struct keel_bdev_io_stat stat;
};

static void iostat_next(struct iostat_ctx *c);

static void
iostat_add(struct json_object *arr, const char *name, const struct keel_bdev_io_stat *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "bytes_read", json_object_new_uint64(s->bytes_read));
	json_object_object_add(o, "num_read_ops", json_object_new_uint64(s->num_read_ops));
	json_object_object_add(o, "bytes_written", json_object_new_uint64(s->bytes_written));
	json_object_object_add(o, "num_write_ops", json_object_new_uint64(s->num_write_ops));
	json_object_object_add(o, "bytes_unmapped", json_object_new_uint64(s->bytes_unmapped));
	json_object_object_add(o, "num_unmap_ops", json_object_new_uint64(s->num_unmap_ops));
	json_object_object_add(o, "num_flush_ops", json_object_new_uint64(s->num_flush_ops));
	json_object_object_add(o, "num_failed_ops", json_object_new_uint64(s->num_failed_ops));
	json_object_object_add(o, "read_latency_ticks",
			       json_object_new_uint64(s->read_latency_ticks));
	json_object_object_add(o, "max_read_latency_ticks",
			       json_object_new_uint64(s->max_read_latency_ticks));
	json_object_object_add(o, "min_read_latency_ticks",
			       json_object_new_uint64(s->min_read_latency_ticks));
	json_object_object_add(o, "write_latency_ticks",
			       json_object_new_uint64(s->write_latency_ticks));
	json_object_object_add(o, "max_write_latency_ticks",
			       json_object_new_uint64(s->max_write_latency_ticks));
	json_object_object_add(o, "min_write_latency_ticks",
			       json_object_new_uint64(s->min_write_latency_ticks));
	json_object_object_add(o, "unmap_latency_ticks",
			       json_object_new_uint64(s->unmap_latency_ticks));
	json_object_array_add(arr, o);
}

/* With queue-depth sampling on, what it found (SPDK's members and units). */
static void
iostat_add_qd(struct json_object *arr, const struct keel_bdev *bdev)
{
	struct json_object *o = json_object_array_get_idx(arr, json_object_array_length(arr) - 1);
	uint64_t period = keel_bdev_get_qd_sampling_period(bdev);

	if (period == 0) {
		return;
	}
	json_object_object_add(o, "queue_depth_polling_period", json_object_new_uint64(period));
	json_object_object_add(o, "queue_depth", json_object_new_uint64(keel_bdev_get_qd(bdev)));
	json_object_object_add(o, "io_time", json_object_new_uint64(keel_bdev_get_io_time(bdev)));
	json_object_object_add(o, "weighted_io_time",
			       json_object_new_uint64(keel_bdev_get_weighted_io_time(bdev)));
}

static void
iostat_one_done(void *arg, int rc)
{
	struct iostat_ctx *c = arg;
	struct keel_bdev *bdev;

	if (rc == 0) {
		iostat_add(c->bdevs, c->names[c->idx], &c->stat);
		bdev = keel_bdev_get_by_name(c->names[c->idx]);
		if (bdev != NULL) {
			iostat_add_qd(c->bdevs, bdev);
		}
	}
	c->idx++;
	iostat_next(c);
}

static void
iostat_next(struct iostat_ctx *c)
{
	struct json_object *res;
	struct keel_bdev *bdev;
	size_t i;

	while (c->idx < c->count) {
		bdev = keel_bdev_get_by_name(c->names[c->idx]);
		if (bdev != NULL) {
			memset(&c->stat, 0, sizeof(c->stat));
			keel_bdev_get_device_stat(bdev, &c->stat, iostat_one_done, c);
			return;
		}
		c->idx++; /* removed meanwhile */
	}
	res = json_object_new_object();
	json_object_object_add(res, "tick_rate", json_object_new_uint64(keel_get_ticks_hz()));
	json_object_object_add(res, "ticks", json_object_new_uint64(keel_get_ticks()));
	json_object_object_add(res, "bdevs", c->bdevs);
	keel_jsonrpc_send_result(c->req, res);
	for (i = 0; i < c->count; i++) {
		free(c->names[i]);
	}
	free(c->names);
	free(c);
}

static void
rpc_bdev_get_iostat(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct get_bdevs_req r = {0};
	struct iostat_ctx *c;
	struct keel_bdev *bdev;
	size_t n = 0;

	if (keel_rpc_decode_params(req, params, rpc_get_bdevs_fields, &r) != 0) {
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		goto err_nomem;
	}
	c->req = req;
	if (r.name != NULL) {
		bdev = keel_bdev_get_by_name(r.name);
		if (bdev == NULL) {
			keel_jsonrpc_send_error(req, -ENODEV, "No such device: bdev '%s'", r.name);
			free(c);
			keel_rpc_free_decoded(rpc_get_bdevs_fields, &r);
			return;
		}
		c->names = calloc(1, sizeof(char *));
		if (c->names == NULL || (c->names[0] = strdup(bdev->name)) == NULL) {
			free(c->names);
			free(c);
			goto err_nomem;
		}
		c->count = 1;
	} else {
		pthread_mutex_lock(&g_bdev_mgr.lock);
		TAILQ_FOREACH(bdev, &g_bdev_mgr.bdevs, internal.link) {
			n++;
		}
		c->names = calloc(n ? n : 1, sizeof(char *));
		if (c->names != NULL) {
			TAILQ_FOREACH(bdev, &g_bdev_mgr.bdevs, internal.link) {
				c->names[c->count] = strdup(bdev->name);
				if (c->names[c->count] != NULL) {
					c->count++;
				}
			}
		}
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		if (c->names == NULL) {
			free(c);
			goto err_nomem;
		}
	}
	keel_rpc_free_decoded(rpc_get_bdevs_fields, &r);
	c->bdevs = json_object_new_array();
	iostat_next(c);
	return;
err_nomem:
	keel_rpc_free_decoded(rpc_get_bdevs_fields, &r);
	keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
}
KEEL_RPC_REGISTER("bdev_get_iostat", rpc_bdev_get_iostat, rpc_get_bdevs_fields, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_get_iostat, "get_bdevs_iostat")

struct set_options_req {
	uint32_t bdev_io_pool_size;
	uint32_t bdev_io_cache_size;
	bool bdev_auto_examine;
	uint32_t small_buf_pool_size;
	uint32_t large_buf_pool_size;
};

static const struct keel_rpc_field rpc_set_options_fields[] = {
	KEEL_RPC_U32(struct set_options_req, bdev_io_pool_size, KEEL_OPTIONAL,
		     "I/O objects in the pool (default 65535)"),
	KEEL_RPC_U32(struct set_options_req, bdev_io_cache_size, KEEL_OPTIONAL,
		     "I/O objects cached per thread (default 256)"),
	KEEL_RPC_BOOL(struct set_options_req, bdev_auto_examine, KEEL_OPTIONAL,
		      "accepted for compatibility"),
	KEEL_RPC_U32(struct set_options_req, small_buf_pool_size, KEEL_OPTIONAL,
		     "accepted for compatibility"),
	KEEL_RPC_U32(struct set_options_req, large_buf_pool_size, KEEL_OPTIONAL,
		     "accepted for compatibility"),
	KEEL_RPC_END
};

static void
rpc_bdev_set_options(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct keel_bdev_opts opts;
	struct set_options_req r;
	int rc;

	keel_bdev_get_opts(&opts);
	memset(&r, 0, sizeof(r));
	r.bdev_io_pool_size = opts.bdev_io_pool_size;
	r.bdev_io_cache_size = opts.bdev_io_cache_size;
	r.bdev_auto_examine = opts.bdev_auto_examine;
	if (keel_rpc_decode_params(req, params, rpc_set_options_fields, &r) != 0) {
		return;
	}
	opts.bdev_io_pool_size = r.bdev_io_pool_size;
	opts.bdev_io_cache_size = r.bdev_io_cache_size;
	opts.bdev_auto_examine = r.bdev_auto_examine;
	rc = keel_bdev_set_opts(&opts);
	if (rc == -EPERM) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_STATE,
					"bdev options can only be set before the bdev layer starts "
					"(use --wait-for-rpc)");
		return;
	}
	if (rc != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'bdev_io_pool_size': must be at least 64 and "
					"at least twice bdev_io_cache_size");
		return;
	}
	keel_jsonrpc_send_bool_response(req, true);
}
KEEL_RPC_REGISTER("bdev_set_options", rpc_bdev_set_options, rpc_set_options_fields,
		  KEEL_RPC_STARTUP)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_set_options, "set_bdev_options")

struct qos_req {
	char *name;
	uint64_t rw_ios_per_sec;
	uint64_t rw_mbytes_per_sec;
	uint64_t r_mbytes_per_sec;
	uint64_t w_mbytes_per_sec;
};

static const struct keel_rpc_field rpc_qos_fields[] = {
	KEEL_RPC_STR(struct qos_req, name, KEEL_REQUIRED, "bdev name"),
	KEEL_RPC_U64(struct qos_req, rw_ios_per_sec, KEEL_OPTIONAL,
		     "I/O per second, 0 = no limit (at least 1000)"),
	KEEL_RPC_U64(struct qos_req, rw_mbytes_per_sec, KEEL_OPTIONAL,
		     "MiB per second, reads and writes, 0 = no limit"),
	KEEL_RPC_U64(struct qos_req, r_mbytes_per_sec, KEEL_OPTIONAL, "MiB per second of reads"),
	KEEL_RPC_U64(struct qos_req, w_mbytes_per_sec, KEEL_OPTIONAL, "MiB per second of writes"),
	KEEL_RPC_END
};

static void
qos_set_done(void *arg, int rc)
{
	struct keel_jsonrpc_request *req = arg;

	if (rc == -EINVAL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter: rw_ios_per_sec must be 0 or at least 1000, "
					"bandwidth limits 0 or at least 1 MiB/s");
	} else if (rc != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INTERNAL_ERROR, "%s",
					keel_strerror(-rc));
	} else {
		keel_jsonrpc_send_bool_response(req, true);
	}
}

static bool
json_has(struct json_object *params, const char *key)
{
	return params != NULL && json_object_object_get_ex(params, key, NULL);
}

static void
rpc_bdev_set_qos_limit(struct keel_jsonrpc_request *req, struct json_object *params)
{
	static const char *const keys[] = {"rw_ios_per_sec", "rw_mbytes_per_sec",
					   "r_mbytes_per_sec", "w_mbytes_per_sec"};
	uint64_t limits[KEEL_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	struct qos_req r = {0};
	struct keel_bdev *bdev;
	uint64_t vals[4];
	bool any = false;
	int i;

	if (keel_rpc_decode_params(req, params, rpc_qos_fields, &r) != 0) {
		return;
	}
	vals[0] = r.rw_ios_per_sec;
	vals[1] = r.rw_mbytes_per_sec;
	vals[2] = r.r_mbytes_per_sec;
	vals[3] = r.w_mbytes_per_sec;
	for (i = 0; i < 4; i++) {
		if (json_has(params, keys[i])) {
			any = true;
			if (i > 0 && vals[i] > UINT64_MAX / (1024 * 1024)) {
				keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
							"Invalid parameter '%s': too large", keys[i]);
				keel_rpc_free_decoded(rpc_qos_fields, &r);
				return;
			}
			limits[i] = i == 0 ? vals[i] : vals[i] * 1024 * 1024;
		} else {
			limits[i] = UINT64_MAX;
		}
	}
	if (!any) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameters: give at least one limit");
		keel_rpc_free_decoded(rpc_qos_fields, &r);
		return;
	}
	bdev = keel_bdev_get_by_name(r.name);
	if (bdev == NULL) {
		keel_jsonrpc_send_error(req, -ENODEV, "No such device: bdev '%s'", r.name);
		keel_rpc_free_decoded(rpc_qos_fields, &r);
		return;
	}
	keel_rpc_free_decoded(rpc_qos_fields, &r);
	keel_bdev_set_qos_rate_limits(bdev, limits, qos_set_done, req);
}
KEEL_RPC_REGISTER("bdev_set_qos_limit", rpc_bdev_set_qos_limit, rpc_qos_fields, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_set_qos_limit, "set_bdev_qos_limit")

struct qd_req {
	char *name;
	uint64_t period;
};

static const struct keel_rpc_field rpc_qd_fields[] = {
	KEEL_RPC_STR(struct qd_req, name, KEEL_REQUIRED, "bdev name"),
	KEEL_RPC_U64(struct qd_req, period, KEEL_REQUIRED,
		     "microseconds between queue-depth samples; 0 stops sampling"),
	KEEL_RPC_END
};

static void
rpc_bdev_set_qd_sampling_period(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct qd_req r = {0};
	struct keel_bdev *bdev;
	int rc;

	if (keel_rpc_decode_params(req, params, rpc_qd_fields, &r) != 0) {
		return;
	}
	bdev = keel_bdev_get_by_name(r.name);
	if (bdev == NULL) {
		keel_jsonrpc_send_error(req, -ENODEV, "No such device: bdev '%s'", r.name);
	} else if ((rc = keel_bdev_set_qd_sampling_period(bdev, r.period)) != 0) {
		keel_jsonrpc_send_error(req, rc, "%s", keel_strerror(-rc));
	} else {
		keel_jsonrpc_send_bool_response(req, true);
	}
	keel_rpc_free_decoded(rpc_qd_fields, &r);
}
KEEL_RPC_REGISTER("bdev_set_qd_sampling_period", rpc_bdev_set_qd_sampling_period, rpc_qd_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_set_qd_sampling_period, "set_bdev_qd_sampling_period")

struct delete_req {
	char *name;
};

static const struct keel_rpc_field rpc_delete_fields[] = {
	KEEL_RPC_STR(struct delete_req, name, KEEL_REQUIRED, "bdev name"),
	KEEL_RPC_END
};

static void
rpc_delete_bdev(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct delete_req r = {0};
	int rc;

	if (keel_rpc_decode_params(req, params, rpc_delete_fields, &r) != 0) {
		return;
	}
	rc = keel_bdev_unregister_by_name(r.name, NULL, keel_jsonrpc_send_done, req);
	if (rc != 0) {
		keel_jsonrpc_send_error(req, -ENODEV, "No such device: bdev '%s'", r.name);
	}
	keel_rpc_free_decoded(rpc_delete_fields, &r);
}
KEEL_RPC_REGISTER("delete_bdev", rpc_delete_bdev, rpc_delete_fields, KEEL_RPC_RUNTIME)
