/*
 * iSCSI RPC methods for target nodes: create, delete (answered once the target is gone), LUNs,
 * portal/initiator group maps, CHAP, login redirection, logout requests, listing, the command
 * latency histogram; and connections and statistics. SPDK's names, parameters and answers.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/jsonrpc.h"
#include "keel/log.h"
#include "keel/rpc.h"
#include "keel/thread.h"
#include "keel/util.h"

#include <json-c/json.h>

#include "iscsi_objects.h"

#define RPC_MAX_MAPS 1024

/* pg_ig_maps: [{pg_tag, ig_tag}] into two new arrays. Sends the error. */
static int
rpc_decode_maps(struct keel_jsonrpc_request *req, struct json_object *arr, int32_t **pg_tags,
		int32_t **ig_tags, int *n)
{
	static const char *const members[] = {"pg_tag", "ig_tag", NULL};
	size_t i, len = json_object_array_length(arr);
	char err[ISCSI_ERR_LEN];
	int64_t pg = 0, ig = 0;
	int rc;

	if (len > RPC_MAX_MAPS) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'pg_ig_maps': at most %d maps",
					RPC_MAX_MAPS);
		return -EINVAL;
	}
	*pg_tags = calloc(len + 1, sizeof(int32_t));
	*ig_tags = calloc(len + 1, sizeof(int32_t));
	if (*pg_tags == NULL || *ig_tags == NULL) {
		iscsi_rpc_error(req, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < len; i++) {
		struct json_object *m = json_object_array_get_idx(arr, i);

		rc = iscsi_rpc_elem_check(m, members, err, sizeof(err));
		if (rc == 0) {
			rc = iscsi_rpc_elem_int(m, "pg_tag", true, 1, 65535, &pg, err, sizeof(err));
		}
		if (rc == 0) {
			rc = iscsi_rpc_elem_int(m, "ig_tag", true, 1, INT32_MAX, &ig, err,
						sizeof(err));
		}
		if (rc != 0) {
			keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameter 'pg_ig_maps': map %zu: %s", i,
						err);
			return rc;
		}
		(*pg_tags)[i] = (int32_t)pg;
		(*ig_tags)[i] = (int32_t)ig;
	}
	*n = (int)len;
	return 0;
}

/* luns: [{bdev_name, lun_id}]; names are borrowed from the request. Sends the error. */
static int
rpc_decode_luns(struct keel_jsonrpc_request *req, struct json_object *arr, const char ***names,
		int **ids, int *n)
{
	static const char *const members[] = {"bdev_name", "lun_id", NULL};
	size_t i, len = json_object_array_length(arr);
	char err[ISCSI_ERR_LEN];
	int64_t id = 0;
	int rc;

	if (len > ISCSI_MAX_LUN) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'luns': at most %d LUNs", ISCSI_MAX_LUN);
		return -EINVAL;
	}
	*names = calloc(len + 1, sizeof(**names));
	*ids = calloc(len + 1, sizeof(**ids));
	if (*names == NULL || *ids == NULL) {
		iscsi_rpc_error(req, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < len; i++) {
		struct json_object *l = json_object_array_get_idx(arr, i);

		rc = iscsi_rpc_elem_check(l, members, err, sizeof(err));
		if (rc == 0) {
			rc = iscsi_rpc_elem_str(l, "bdev_name", true, &(*names)[i], err,
						sizeof(err));
		}
		if (rc == 0) {
			rc = iscsi_rpc_elem_int(l, "lun_id", true, 0, ISCSI_MAX_LUN - 1, &id, err,
						sizeof(err));
		}
		if (rc != 0) {
			keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameter 'luns': LUN %zu: %s", i, err);
			return rc;
		}
		(*ids)[i] = (int)id;
	}
	*n = (int)len;
	return 0;
}

static struct iscsi_tgt_node *
rpc_find_target(struct keel_jsonrpc_request *req, const char *name)
{
	struct iscsi_tgt_node *target = iscsi_tgt_node_find(name);

	if (target == NULL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'name': no target node '%s'%s", name,
					iscsi_tgt_node_find_any(name) != NULL
						? " (it is being deleted)"
						: "");
	}
	return target;
}

struct rpc_target {
	char *name;
	char *alias_name;
	struct json_object *pg_ig_maps;
	struct json_object *luns;
	int32_t queue_depth;
	bool disable_chap;
	bool require_chap;
	bool mutual_chap;
	int32_t chap_group;
	bool header_digest;
	bool data_digest;
	char *bdev_name;
	int32_t lun_id;
	int32_t pg_tag;
	char *redirect_host;
	struct json_object *redirect_port;
	bool enable;
};

static const struct keel_rpc_field g_create_target_fields[] = {
	KEEL_RPC_STR(struct rpc_target, name, KEEL_REQUIRED, "short name or full iSCSI name"),
	KEEL_RPC_STR(struct rpc_target, alias_name, KEEL_REQUIRED, "alias"),
	KEEL_RPC_ARRAY(struct rpc_target, pg_ig_maps, KEEL_REQUIRED, "[{pg_tag, ig_tag}]"),
	KEEL_RPC_ARRAY(struct rpc_target, luns, KEEL_REQUIRED, "[{bdev_name, lun_id}]"),
	KEEL_RPC_I32(struct rpc_target, queue_depth, KEEL_REQUIRED, "1 to 256"),
	KEEL_RPC_BOOL(struct rpc_target, disable_chap, KEEL_OPTIONAL, "no CHAP"),
	KEEL_RPC_BOOL(struct rpc_target, require_chap, KEEL_OPTIONAL, "CHAP required"),
	KEEL_RPC_BOOL(struct rpc_target, mutual_chap, KEEL_OPTIONAL, "mutual CHAP"),
	KEEL_RPC_I32(struct rpc_target, chap_group, KEEL_OPTIONAL, "auth group tag (0: none)"),
	KEEL_RPC_BOOL(struct rpc_target, header_digest, KEEL_OPTIONAL, "HeaderDigest required"),
	KEEL_RPC_BOOL(struct rpc_target, data_digest, KEEL_OPTIONAL, "DataDigest required"),
	KEEL_RPC_END,
};

static void
rpc_iscsi_create_target_node(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_target r = {0};
	struct iscsi_tgt_node_params p = {0};
	int32_t *pg_tags = NULL, *ig_tags = NULL;
	const char **names = NULL;
	char err[ISCSI_ERR_LEN];
	int *ids = NULL, rc;

	if (keel_rpc_decode_params(req, params, g_create_target_fields, &r) != 0) {
		return;
	}
	if (rpc_decode_maps(req, r.pg_ig_maps, &pg_tags, &ig_tags, &p.num_maps) != 0 ||
	    rpc_decode_luns(req, r.luns, &names, &ids, &p.num_luns) != 0) {
		goto out;
	}
	p.name = r.name;
	p.alias = r.alias_name;
	p.pg_tags = pg_tags;
	p.ig_tags = ig_tags;
	p.bdev_names = names;
	p.lun_ids = ids;
	p.queue_depth = r.queue_depth;
	p.disable_chap = r.disable_chap;
	p.require_chap = r.require_chap;
	p.mutual_chap = r.mutual_chap;
	p.chap_group = r.chap_group;
	p.header_digest = r.header_digest;
	p.data_digest = r.data_digest;
	rc = iscsi_tgt_node_create(&p, err, sizeof(err), NULL);
	if (rc != 0) {
		iscsi_rpc_error(req, rc, err);
	} else {
		keel_jsonrpc_send_bool_response(req, true);
	}
out:
	free(pg_tags);
	free(ig_tags);
	free(names);
	free(ids);
	keel_rpc_free_decoded(g_create_target_fields, &r);
}
KEEL_RPC_REGISTER("iscsi_create_target_node", rpc_iscsi_create_target_node, g_create_target_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_create_target_node, "construct_target_node")

static const struct keel_rpc_field g_name_fields[] = {
	KEEL_RPC_STR(struct rpc_target, name, KEEL_REQUIRED, "target node name"),
	KEEL_RPC_END,
};

static void
rpc_delete_target_done(void *cb_arg, int rc)
{
	struct keel_jsonrpc_request *req = cb_arg;

	if (rc != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INTERNAL_ERROR,
					"cannot delete the target node: %s", keel_strerror(-rc));
		return;
	}
	keel_jsonrpc_send_bool_response(req, true);
}

/* Answered once the target is gone: its initiators logged out (or were dropped after the
 * logout timeout) and its SCSI device is destroyed. */
static void
rpc_iscsi_delete_target_node(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_target r = {0};
	struct iscsi_tgt_node *target;
	int rc;

	if (keel_rpc_decode_params(req, params, g_name_fields, &r) != 0) {
		return;
	}
	target = rpc_find_target(req, r.name);
	if (target != NULL) {
		rc = iscsi_tgt_node_delete(target, rpc_delete_target_done, req);
		if (rc != 0) {
			iscsi_rpc_error(req, rc,
					rc == -EBUSY ? "Invalid parameter 'name': the "
						       "target node is being deleted"
						     : "out of memory");
		}
	}
	keel_rpc_free_decoded(g_name_fields, &r);
}
KEEL_RPC_REGISTER("iscsi_delete_target_node", rpc_iscsi_delete_target_node, g_name_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_delete_target_node, "delete_target_node")

static const struct keel_rpc_field g_add_lun_fields[] = {
	KEEL_RPC_STR(struct rpc_target, name, KEEL_REQUIRED, "target node name"),
	KEEL_RPC_STR(struct rpc_target, bdev_name, KEEL_REQUIRED, "bdev to add as a LUN"),
	KEEL_RPC_I32(struct rpc_target, lun_id, KEEL_OPTIONAL, "LUN id (-1: lowest free)"),
	KEEL_RPC_END,
};

static void
rpc_iscsi_target_node_add_lun(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_target r = {.lun_id = -1};
	struct iscsi_tgt_node *target;
	char err[ISCSI_ERR_LEN];
	int rc;

	if (keel_rpc_decode_params(req, params, g_add_lun_fields, &r) != 0) {
		return;
	}
	target = rpc_find_target(req, r.name);
	if (target != NULL) {
		rc = iscsi_tgt_node_add_lun(target, r.bdev_name, r.lun_id, err, sizeof(err));
		if (rc != 0) {
			iscsi_rpc_error(req, rc, err);
		} else {
			keel_jsonrpc_send_bool_response(req, true);
		}
	}
	keel_rpc_free_decoded(g_add_lun_fields, &r);
}
KEEL_RPC_REGISTER("iscsi_target_node_add_lun", rpc_iscsi_target_node_add_lun, g_add_lun_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_target_node_add_lun, "target_node_add_lun")

static const struct keel_rpc_field g_set_auth_fields[] = {
	KEEL_RPC_STR(struct rpc_target, name, KEEL_REQUIRED, "target node name"),
	KEEL_RPC_BOOL(struct rpc_target, disable_chap, KEEL_OPTIONAL, "no CHAP"),
	KEEL_RPC_BOOL(struct rpc_target, require_chap, KEEL_OPTIONAL, "CHAP required"),
	KEEL_RPC_BOOL(struct rpc_target, mutual_chap, KEEL_OPTIONAL, "mutual CHAP"),
	KEEL_RPC_I32(struct rpc_target, chap_group, KEEL_OPTIONAL, "auth group tag (0: none)"),
	KEEL_RPC_END,
};

static void
rpc_iscsi_target_node_set_auth(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_target r = {0};
	struct iscsi_tgt_node *target;
	char err[ISCSI_ERR_LEN];
	int rc;

	if (keel_rpc_decode_params(req, params, g_set_auth_fields, &r) != 0) {
		return;
	}
	target = rpc_find_target(req, r.name);
	if (target != NULL) {
		rc = iscsi_tgt_node_set_auth(target, r.disable_chap, r.require_chap, r.mutual_chap,
					     r.chap_group, err, sizeof(err));
		if (rc != 0) {
			iscsi_rpc_error(req, rc, err);
		} else {
			keel_jsonrpc_send_bool_response(req, true);
		}
	}
	keel_rpc_free_decoded(g_set_auth_fields, &r);
}
KEEL_RPC_REGISTER("iscsi_target_node_set_auth", rpc_iscsi_target_node_set_auth, g_set_auth_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_target_node_set_auth, "set_iscsi_target_node_auth")

static const struct keel_rpc_field g_maps_fields[] = {
	KEEL_RPC_STR(struct rpc_target, name, KEEL_REQUIRED, "target node name"),
	KEEL_RPC_ARRAY(struct rpc_target, pg_ig_maps, KEEL_REQUIRED, "[{pg_tag, ig_tag}]"),
	KEEL_RPC_END,
};

static void
rpc_target_change_maps(struct keel_jsonrpc_request *req, struct json_object *params, bool add)
{
	struct rpc_target r = {0};
	struct iscsi_tgt_node *target;
	int32_t *pg_tags = NULL, *ig_tags = NULL;
	char err[ISCSI_ERR_LEN];
	int n, rc;

	if (keel_rpc_decode_params(req, params, g_maps_fields, &r) != 0) {
		return;
	}
	target = rpc_find_target(req, r.name);
	if (target == NULL || rpc_decode_maps(req, r.pg_ig_maps, &pg_tags, &ig_tags, &n) != 0) {
		goto out;
	}
	if (add) {
		rc = iscsi_tgt_node_add_pg_ig_maps(target, pg_tags, ig_tags, n, err, sizeof(err));
	} else {
		rc = iscsi_tgt_node_remove_pg_ig_maps(target, pg_tags, ig_tags, n, err,
						      sizeof(err));
	}
	if (rc != 0) {
		iscsi_rpc_error(req, rc, err);
	} else {
		keel_jsonrpc_send_bool_response(req, true);
	}
out:
	free(pg_tags);
	free(ig_tags);
	keel_rpc_free_decoded(g_maps_fields, &r);
}

static void
rpc_iscsi_target_node_add_pg_ig_maps(struct keel_jsonrpc_request *req, struct json_object *params)
{
	rpc_target_change_maps(req, params, true);
}
KEEL_RPC_REGISTER("iscsi_target_node_add_pg_ig_maps", rpc_iscsi_target_node_add_pg_ig_maps,
		  g_maps_fields, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_target_node_add_pg_ig_maps, "add_pg_ig_maps")

static void
rpc_iscsi_target_node_remove_pg_ig_maps(struct keel_jsonrpc_request *req,
					struct json_object *params)
{
	rpc_target_change_maps(req, params, false);
}
KEEL_RPC_REGISTER("iscsi_target_node_remove_pg_ig_maps", rpc_iscsi_target_node_remove_pg_ig_maps,
		  g_maps_fields, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_target_node_remove_pg_ig_maps, "delete_pg_ig_maps")

static const struct keel_rpc_field g_redirect_fields[] = {
	KEEL_RPC_STR(struct rpc_target, name, KEEL_REQUIRED, "target node name"),
	KEEL_RPC_I32(struct rpc_target, pg_tag, KEEL_REQUIRED, "public portal group tag"),
	KEEL_RPC_STR(struct rpc_target, redirect_host, KEEL_OPTIONAL, "numeric IP address"),
	KEEL_RPC_ANY(struct rpc_target, redirect_port, KEEL_OPTIONAL, "TCP port"),
	KEEL_RPC_END,
};

/* Both omitted: the redirection is cleared. */
static void
rpc_iscsi_target_node_set_redirect(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_target r = {0};
	struct iscsi_tgt_node *target;
	char err[ISCSI_ERR_LEN];
	const char *port = NULL;
	int rc;

	if (keel_rpc_decode_params(req, params, g_redirect_fields, &r) != 0) {
		return;
	}
	target = rpc_find_target(req, r.name);
	if (target == NULL) {
		goto out;
	}
	if (r.redirect_port != NULL) {
		port = json_object_get_string(r.redirect_port);
	}
	if ((r.redirect_host == NULL) != (port == NULL)) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter '%s': redirect_host and redirect_port "
					"go together",
					r.redirect_host ? "redirect_port" : "redirect_host");
		goto out;
	}
	rc = iscsi_tgt_node_set_redirect(target, r.pg_tag, r.redirect_host, port, err, sizeof(err));
	if (rc != 0) {
		iscsi_rpc_error(req, rc, err);
	} else {
		keel_jsonrpc_send_bool_response(req, true);
	}
out:
	keel_rpc_free_decoded(g_redirect_fields, &r);
}
KEEL_RPC_REGISTER("iscsi_target_node_set_redirect", rpc_iscsi_target_node_set_redirect,
		  g_redirect_fields, KEEL_RPC_RUNTIME)

static const struct keel_rpc_field g_logout_fields[] = {
	KEEL_RPC_STR(struct rpc_target, name, KEEL_REQUIRED, "target node name"),
	KEEL_RPC_I32(struct rpc_target, pg_tag, KEEL_OPTIONAL, "only through this portal group"),
	KEEL_RPC_END,
};

static void
rpc_iscsi_target_node_request_logout(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_target r = {.pg_tag = -1};
	struct iscsi_tgt_node *target;

	if (keel_rpc_decode_params(req, params, g_logout_fields, &r) != 0) {
		return;
	}
	target = rpc_find_target(req, r.name);
	if (target == NULL) {
		goto out;
	}
	if (r.pg_tag != -1 && iscsi_portal_grp_find(r.pg_tag) == NULL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'pg_tag': no portal group %d", r.pg_tag);
		goto out;
	}
	iscsi_conns_request_logout(target, r.pg_tag);
	keel_jsonrpc_send_bool_response(req, true);
out:
	keel_rpc_free_decoded(g_logout_fields, &r);
}
KEEL_RPC_REGISTER("iscsi_target_node_request_logout", rpc_iscsi_target_node_request_logout,
		  g_logout_fields, KEEL_RPC_RUNTIME)

static void
rpc_iscsi_get_target_nodes(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct json_object *res = json_object_new_array();
	struct iscsi_tgt_node *target;

	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_FOREACH (target, &g_iscsi.target_nodes, link) {
		if (!target->destructing) {
			json_object_array_add(res, iscsi_tgt_node_to_json(target));
		}
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	keel_jsonrpc_send_result(req, res);
}
KEEL_RPC_REGISTER("iscsi_get_target_nodes", rpc_iscsi_get_target_nodes, NULL, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_get_target_nodes, "get_target_nodes")

/*
 * Histogram.
 */
static const struct keel_rpc_field g_enable_histogram_fields[] = {
	KEEL_RPC_STR(struct rpc_target, name, KEEL_REQUIRED, "target node name"),
	KEEL_RPC_BOOL(struct rpc_target, enable, KEEL_REQUIRED, "record (true) or stop (false)"),
	KEEL_RPC_END,
};

static void
rpc_iscsi_enable_histogram(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_target r = {0};
	struct iscsi_tgt_node *target;

	if (keel_rpc_decode_params(req, params, g_enable_histogram_fields, &r) != 0) {
		return;
	}
	target = rpc_find_target(req, r.name);
	if (target != NULL) {
		if (iscsi_tgt_node_enable_histogram(target, r.enable) != 0) {
			iscsi_rpc_error(req, -ENOMEM, "out of memory");
		} else {
			keel_jsonrpc_send_bool_response(req, true);
		}
	}
	keel_rpc_free_decoded(g_enable_histogram_fields, &r);
}
KEEL_RPC_REGISTER("iscsi_enable_histogram", rpc_iscsi_enable_histogram, g_enable_histogram_fields,
		  KEEL_RPC_RUNTIME)

static char *
base64_encode(const uint8_t *src, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (out == NULL) {
		return NULL;
	}
	for (i = 0; i + 2 < len; i += 3) {
		*o++ = tab[src[i] >> 2];
		*o++ = tab[((src[i] & 3) << 4) | (src[i + 1] >> 4)];
		*o++ = tab[((src[i + 1] & 15) << 2) | (src[i + 2] >> 6)];
		*o++ = tab[src[i + 2] & 63];
	}
	if (i < len) {
		*o++ = tab[src[i] >> 2];
		if (i + 1 < len) {
			*o++ = tab[((src[i] & 3) << 4) | (src[i + 1] >> 4)];
			*o++ = tab[(src[i + 1] & 15) << 2];
		} else {
			*o++ = tab[(src[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* The buckets, as little-endian 64-bit counts, base64; see iscsi_histogram_bucket(). */
static void
rpc_iscsi_get_histogram(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_target r = {0};
	struct iscsi_tgt_node *target;
	struct json_object *res;
	uint64_t *copy = NULL;
	char *b64;
	size_t i;

	if (keel_rpc_decode_params(req, params, g_name_fields, &r) != 0) {
		return;
	}
	target = rpc_find_target(req, r.name);
	if (target == NULL) {
		goto out;
	}
	if (!target->histogram_enabled || target->histogram == NULL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'name': the histogram of %s is not "
					"enabled (iscsi_enable_histogram)",
					target->name);
		goto out;
	}
	copy = malloc(ISCSI_HISTOGRAM_BUCKETS * sizeof(*copy));
	if (copy == NULL) {
		iscsi_rpc_error(req, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < ISCSI_HISTOGRAM_BUCKETS; i++) {
		copy[i] = htole64(__atomic_load_n(&target->histogram[i], __ATOMIC_RELAXED));
	}
	b64 = base64_encode((const uint8_t *)copy, ISCSI_HISTOGRAM_BUCKETS * sizeof(*copy));
	if (b64 == NULL) {
		iscsi_rpc_error(req, -ENOMEM, "out of memory");
		goto out;
	}
	res = json_object_new_object();
	json_object_object_add(res, "histogram", json_object_new_string(b64));
	json_object_object_add(res, "granularity",
			       json_object_new_int(ISCSI_HISTOGRAM_GRANULARITY));
	json_object_object_add(res, "min_range", json_object_new_int(0));
	json_object_object_add(res, "max_range", json_object_new_int(ISCSI_HISTOGRAM_RANGES));
	json_object_object_add(res, "tsc_rate", json_object_new_uint64(keel_get_ticks_hz()));
	free(b64);
	keel_jsonrpc_send_result(req, res);
out:
	free(copy);
	keel_rpc_free_decoded(g_name_fields, &r);
}
KEEL_RPC_REGISTER("iscsi_get_histogram", rpc_iscsi_get_histogram, g_name_fields, KEEL_RPC_RUNTIME)

/*
 * Connections and statistics: each poll group is visited on its own thread, where its
 * connections live, one after the other; the answer goes from the app thread.
 */
struct pg_visit {
	struct keel_jsonrpc_request *req;
	struct keel_thread *app;
	uint32_t idx;
	void (*visit)(struct pg_visit *v, struct iscsi_poll_group *pg);
	struct json_object *result;
	uint64_t counts[4]; /* iscsi_get_stats: invalid, running, exiting, exited */
};

static void pg_visit_next(void *arg);

static void
pg_visit_on_thread(void *arg)
{
	struct pg_visit *v = arg;

	v->visit(v, &g_iscsi.poll_groups[v->idx]);
	v->idx++;
	if (keel_thread_send_msg(v->app, pg_visit_next, v) != 0) {
		KEEL_ERRLOG("cannot return to the app thread\n");
	}
}

static void
pg_visit_next(void *arg)
{
	struct pg_visit *v = arg;
	struct json_object *res;

	if (v->idx < g_iscsi.num_poll_groups &&
	    keel_thread_send_msg(g_iscsi.poll_groups[v->idx].thread, pg_visit_on_thread, v) == 0) {
		return;
	}
	if (v->result != NULL) {
		keel_jsonrpc_send_result(v->req, v->result);
	} else {
		res = json_object_new_object();
		json_object_object_add(res, "invalid", json_object_new_uint64(v->counts[0]));
		json_object_object_add(res, "running", json_object_new_uint64(v->counts[1]));
		json_object_object_add(res, "exiting", json_object_new_uint64(v->counts[2]));
		json_object_object_add(res, "exited", json_object_new_uint64(v->counts[3]));
		keel_jsonrpc_send_result(v->req, res);
	}
	free(v);
}

static void
pg_visit_start(struct keel_jsonrpc_request *req, struct json_object *result,
	       void (*visit)(struct pg_visit *v, struct iscsi_poll_group *pg))
{
	struct pg_visit *v = calloc(1, sizeof(*v));

	if (v == NULL) {
		json_object_put(result);
		iscsi_rpc_error(req, -ENOMEM, "out of memory");
		return;
	}
	v->req = req;
	v->app = keel_get_thread();
	v->visit = visit;
	v->result = result;
	pg_visit_next(v);
}

static const char *
conn_state_name(enum iscsi_conn_state state)
{
	switch (state) {
	case ISCSI_CONN_STATE_LOGIN:
	case ISCSI_CONN_STATE_RUNNING:
		return "running";
	case ISCSI_CONN_STATE_LOGGED_OUT:
	case ISCSI_CONN_STATE_EXITING:
		return "exiting";
	case ISCSI_CONN_STATE_EXITED:
		return "exited";
	default:
		return "invalid";
	}
}

static const char *
conn_login_phase(const struct iscsi_conn *conn)
{
	if (conn->full_feature) {
		return "full_feature_phase";
	}
	return conn->login.csg == 0 ? "security_negotiation" : "operational_negotiation";
}

static void
visit_connections(struct pg_visit *v, struct iscsi_poll_group *pg)
{
	struct iscsi_conn *conn;

	TAILQ_FOREACH (conn, &pg->conns, pg_link) {
		struct json_object *c = json_object_new_object();

		json_object_object_add(c, "id", json_object_new_int64(conn->id));
		json_object_object_add(c, "cid", json_object_new_int(conn->cid));
		json_object_object_add(c, "tsih",
				       json_object_new_int(conn->sess ? conn->sess->tsih : -1));
		json_object_object_add(c, "state",
				       json_object_new_string(conn_state_name(conn->state)));
		json_object_object_add(c, "login_phase",
				       json_object_new_string(conn_login_phase(conn)));
		json_object_object_add(c, "initiator_name",
				       json_object_new_string(conn->initiator_name));
		json_object_object_add(c, "initiator_addr",
				       json_object_new_string(conn->initiator_addr));
		json_object_object_add(c, "initiator_port",
				       json_object_new_int(conn->initiator_port));
		json_object_object_add(c, "target_addr", json_object_new_string(conn->target_addr));
		json_object_object_add(c, "target_port", json_object_new_int(conn->target_port));
		json_object_object_add(c, "target_node_name",
				       json_object_new_string(conn->target_short_name));
		json_object_object_add(c, "pg_tag", json_object_new_int(conn->pg_tag));
		json_object_object_add(c, "lcore_id", json_object_new_int64(pg->core));
		json_object_object_add(c, "thread_name",
				       json_object_new_string(keel_thread_get_name(pg->thread)));
		json_object_array_add(v->result, c);
	}
}

static void
rpc_iscsi_get_connections(struct keel_jsonrpc_request *req, struct json_object *params)
{
	pg_visit_start(req, json_object_new_array(), visit_connections);
}
KEEL_RPC_REGISTER("iscsi_get_connections", rpc_iscsi_get_connections, NULL, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_get_connections, "get_iscsi_connections")

static void
visit_stats(struct pg_visit *v, struct iscsi_poll_group *pg)
{
	struct iscsi_conn *conn;

	TAILQ_FOREACH (conn, &pg->conns, pg_link) {
		const char *s = conn_state_name(conn->state);

		v->counts[strcmp(s, "running") == 0   ? 1
			  : strcmp(s, "exiting") == 0 ? 2
			  : strcmp(s, "exited") == 0  ? 3
						      : 0]++;
	}
}

static void
rpc_iscsi_get_stats(struct keel_jsonrpc_request *req, struct json_object *params)
{
	pg_visit_start(req, NULL, visit_stats);
}
KEEL_RPC_REGISTER("iscsi_get_stats", rpc_iscsi_get_stats, NULL, KEEL_RPC_RUNTIME)
