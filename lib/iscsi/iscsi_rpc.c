/*
 * iSCSI RPC methods for options, discovery CHAP, auth groups, portal groups and initiator
 * groups, with SPDK's names (old and new), parameters and answers. Target nodes, connections
 * and statistics are in iscsi_rpc_tgt.c. Handlers run on the app thread.
 */
#include "keel/stdinc.h"
#include "keel/jsonrpc.h"
#include "keel/log.h"
#include "keel/rpc.h"
#include "keel/thread.h"
#include "keel/util.h"

#include <json-c/json.h>

#include "iscsi_objects.h"

/*
 * Helpers shared with iscsi_rpc_tgt.c.
 */
void
iscsi_rpc_error(struct keel_jsonrpc_request *req, int rc, const char *msg)
{
	keel_jsonrpc_send_error(req,
				rc == -ENOMEM ? KEEL_JSONRPC_ERROR_INTERNAL_ERROR
					      : KEEL_JSONRPC_ERROR_INVALID_PARAMS,
				"%s", msg);
}

/* Members of an array element other than those named in allowed (NULL-terminated). */
int
iscsi_rpc_elem_check(struct json_object *elem, const char *const *allowed, char *err,
		     size_t err_len)
{
	size_t i;

	if (!json_object_is_type(elem, json_type_object)) {
		snprintf(err, err_len, "expected an object");
		return -EINVAL;
	}
	json_object_object_foreach (elem, key, val) {
		(void)val;
		for (i = 0; allowed[i] != NULL; i++) {
			if (strcmp(key, allowed[i]) == 0) {
				break;
			}
		}
		if (allowed[i] == NULL) {
			snprintf(err, err_len, "unknown member '%s'", key);
			return -EINVAL;
		}
	}
	return 0;
}

int
iscsi_rpc_elem_int(struct json_object *elem, const char *key, bool required, int64_t min,
		   int64_t max, int64_t *out, char *err, size_t err_len)
{
	struct json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(elem, key, &v)) {
		if (required) {
			snprintf(err, err_len, "'%s' is missing", key);
			return -EINVAL;
		}
		return 0;
	}
	if (!json_object_is_type(v, json_type_int)) {
		snprintf(err, err_len, "'%s' must be an integer", key);
		return -EINVAL;
	}
	n = json_object_get_int64(v);
	if (n < min || n > max) {
		snprintf(err, err_len, "'%s' must be %" PRId64 " to %" PRId64, key, min, max);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

int
iscsi_rpc_elem_str(struct json_object *elem, const char *key, bool required, const char **out,
		   char *err, size_t err_len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(elem, key, &v)) {
		if (required) {
			snprintf(err, err_len, "'%s' is missing", key);
			return -EINVAL;
		}
		*out = NULL;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, err_len, "'%s' must be a string", key);
		return -EINVAL;
	}
	*out = json_object_get_string(v);
	return 0;
}

/* An array of strings (borrowed from the request) into a new array; NULL array: none. */
static int
rpc_str_array(struct json_object *arr, const char *name, const char ***out, int *n, char *err,
	      size_t err_len)
{
	size_t i, len;

	*out = NULL;
	*n = 0;
	if (arr == NULL) {
		return 0;
	}
	len = json_object_array_length(arr);
	if (len > 1024) {
		snprintf(err, err_len, "Invalid parameter '%s': too many entries", name);
		return -EINVAL;
	}
	*out = calloc(len + 1, sizeof(**out));
	if (*out == NULL) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < len; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(v, json_type_string)) {
			snprintf(err, err_len, "Invalid parameter '%s': entry %zu is not a string",
				 name, i);
			free(*out);
			*out = NULL;
			return -EINVAL;
		}
		(*out)[i] = json_object_get_string(v);
	}
	*n = (int)len;
	return 0;
}

/*
 * Options.
 */
struct rpc_set_options {
	char *auth_file;
	char *node_base;
	uint32_t nop_timeout;
	uint32_t nop_in_interval;
	bool disable_chap;
	bool require_chap;
	bool mutual_chap;
	int32_t chap_group;
	uint32_t max_sessions;
	uint32_t max_queue_depth;
	uint32_t max_connections_per_session;
	uint32_t default_time2wait;
	uint32_t default_time2retain;
	uint32_t first_burst_length;
	bool immediate_data;
	uint32_t error_recovery_level;
	bool allow_duplicated_isid;
	uint32_t max_large_datain_per_connection;
	uint32_t max_r2t_per_connection;
	uint32_t pdu_pool_size;
	uint32_t immediate_data_pool_size;
	uint32_t data_out_pool_size;
	uint32_t min_connections_per_core;
	/* Older names of the discovery CHAP settings. */
	bool no_discovery_auth;
	bool req_discovery_auth;
	bool req_discovery_auth_mutual;
	int32_t discovery_auth_group;
	/* keel's own. */
	uint32_t max_burst_length;
	uint32_t max_recv_data_segment_length;
	bool initial_r2t;
};

#define SO(m, t, h) KEEL_RPC_FIELD(struct rpc_set_options, m, t, KEEL_OPTIONAL, h)
static const struct keel_rpc_field g_set_options_fields[] = {
	SO(auth_file, KEEL_RPC_TYPE_STRING, "file of [AuthGroupN] CHAP secrets"),
	SO(node_base, KEEL_RPC_TYPE_STRING, "prefix of short target names"),
	SO(nop_timeout, KEEL_RPC_TYPE_UINT32, "s to wait for a NOP-Out answer (0: forever)"),
	SO(nop_in_interval, KEEL_RPC_TYPE_UINT32, "s of idleness before a NOP-In (0 to 60)"),
	SO(disable_chap, KEEL_RPC_TYPE_BOOL, "discovery: no CHAP"),
	SO(require_chap, KEEL_RPC_TYPE_BOOL, "discovery: CHAP required"),
	SO(mutual_chap, KEEL_RPC_TYPE_BOOL, "discovery: mutual CHAP"),
	SO(chap_group, KEEL_RPC_TYPE_INT32, "discovery: auth group tag (0: none)"),
	SO(max_sessions, KEEL_RPC_TYPE_UINT32, "1 to 65535"),
	SO(max_queue_depth, KEEL_RPC_TYPE_UINT32, "commands per connection, 1 to 256"),
	SO(max_connections_per_session, KEEL_RPC_TYPE_UINT32, "MaxConnections"),
	SO(default_time2wait, KEEL_RPC_TYPE_UINT32, "DefaultTime2Wait, 0 to 3600"),
	SO(default_time2retain, KEEL_RPC_TYPE_UINT32, "DefaultTime2Retain, 0 to 3600"),
	SO(first_burst_length, KEEL_RPC_TYPE_UINT32, "FirstBurstLength"),
	SO(immediate_data, KEEL_RPC_TYPE_BOOL, "ImmediateData"),
	SO(error_recovery_level, KEEL_RPC_TYPE_UINT32, "ErrorRecoveryLevel, 0 to 2"),
	SO(allow_duplicated_isid, KEEL_RPC_TYPE_BOOL, "let new logins join a session"),
	SO(max_large_datain_per_connection, KEEL_RPC_TYPE_UINT32, "accepted, not used"),
	SO(max_r2t_per_connection, KEEL_RPC_TYPE_UINT32, "MaxOutstandingR2T offered"),
	SO(pdu_pool_size, KEEL_RPC_TYPE_UINT32, "accepted, not used"),
	SO(immediate_data_pool_size, KEEL_RPC_TYPE_UINT32, "accepted, not used"),
	SO(data_out_pool_size, KEEL_RPC_TYPE_UINT32, "accepted, not used"),
	SO(min_connections_per_core, KEEL_RPC_TYPE_UINT32, "accepted, not used"),
	SO(no_discovery_auth, KEEL_RPC_TYPE_BOOL, "old name of disable_chap"),
	SO(req_discovery_auth, KEEL_RPC_TYPE_BOOL, "old name of require_chap"),
	SO(req_discovery_auth_mutual, KEEL_RPC_TYPE_BOOL, "old name of mutual_chap"),
	SO(discovery_auth_group, KEEL_RPC_TYPE_INT32, "old name of chap_group"),
	SO(max_burst_length, KEEL_RPC_TYPE_UINT32, "MaxBurstLength (keel)"),
	SO(max_recv_data_segment_length, KEEL_RPC_TYPE_UINT32,
	   "MaxRecvDataSegmentLength the target declares (keel)"),
	SO(initial_r2t, KEEL_RPC_TYPE_BOOL, "InitialR2T (keel)"),
	KEEL_RPC_END,
};
#undef SO

static bool
rpc_has(struct json_object *params, const char *key)
{
	return params != NULL && json_object_object_get_ex(params, key, NULL);
}

static void
rpc_opts_from_request(struct iscsi_opts *o, const struct rpc_set_options *r,
		      struct json_object *params)
{
	if (r->node_base != NULL) {
		keel_strlcpy(o->nodebase, r->node_base, sizeof(o->nodebase));
	}
	if (r->auth_file != NULL) {
		keel_strlcpy(o->authfile, r->auth_file, sizeof(o->authfile));
	}
	o->nop_timeout = r->nop_timeout;
	o->nop_in_interval = r->nop_in_interval;
	o->disable_chap =
		rpc_has(params, "no_discovery_auth") ? r->no_discovery_auth : r->disable_chap;
	o->require_chap =
		rpc_has(params, "req_discovery_auth") ? r->req_discovery_auth : r->require_chap;
	o->mutual_chap = rpc_has(params, "req_discovery_auth_mutual") ? r->req_discovery_auth_mutual
								      : r->mutual_chap;
	o->chap_group =
		rpc_has(params, "discovery_auth_group") ? r->discovery_auth_group : r->chap_group;
	o->max_sessions = r->max_sessions;
	o->max_queue_depth = r->max_queue_depth;
	o->max_connections_per_session = r->max_connections_per_session;
	o->default_time2wait = r->default_time2wait;
	o->default_time2retain = r->default_time2retain;
	o->first_burst_length = r->first_burst_length;
	o->immediate_data = r->immediate_data;
	o->error_recovery_level = r->error_recovery_level;
	o->allow_duplicated_isid = r->allow_duplicated_isid;
	o->max_r2t_per_connection = r->max_r2t_per_connection;
	o->max_burst_length = r->max_burst_length;
	o->max_recv_data_segment_length = r->max_recv_data_segment_length;
	o->initial_r2t = r->initial_r2t;
}

static void
rpc_iscsi_set_options(struct keel_jsonrpc_request *req, struct json_object *params)
{
	const struct iscsi_opts *cur = &g_iscsi.opts;
	struct rpc_set_options r = {
		.nop_timeout = cur->nop_timeout,
		.nop_in_interval = cur->nop_in_interval,
		.disable_chap = cur->disable_chap,
		.require_chap = cur->require_chap,
		.mutual_chap = cur->mutual_chap,
		.chap_group = cur->chap_group,
		.max_sessions = cur->max_sessions,
		.max_queue_depth = cur->max_queue_depth,
		.max_connections_per_session = cur->max_connections_per_session,
		.default_time2wait = cur->default_time2wait,
		.default_time2retain = cur->default_time2retain,
		.first_burst_length = cur->first_burst_length,
		.immediate_data = cur->immediate_data,
		.error_recovery_level = cur->error_recovery_level,
		.allow_duplicated_isid = cur->allow_duplicated_isid,
		.max_r2t_per_connection = cur->max_r2t_per_connection,
		.max_burst_length = cur->max_burst_length,
		.max_recv_data_segment_length = cur->max_recv_data_segment_length,
		.initial_r2t = cur->initial_r2t,
	};
	struct iscsi_opts o = *cur;
	const char *json, *ini;
	char err[ISCSI_ERR_LEN];

	if (g_iscsi.opts_set) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_STATE,
					"iscsi_set_options may be called only once");
		return;
	}
	if (keel_rpc_decode_params(req, params, g_set_options_fields, &r) != 0) {
		return;
	}
	if ((r.node_base != NULL && strlen(r.node_base) >= sizeof(o.nodebase)) ||
	    (r.auth_file != NULL && strlen(r.auth_file) >= sizeof(o.authfile))) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter '%s': too long",
					r.auth_file != NULL &&
							strlen(r.auth_file) >= sizeof(o.authfile)
						? "auth_file"
						: "node_base");
		goto out;
	}
	rpc_opts_from_request(&o, &r, params);
	if (iscsi_opts_check(&o, &json, &ini, err, sizeof(err)) != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter '%s': %s", json, err);
		goto out;
	}
	pthread_mutex_lock(&g_iscsi.lock);
	g_iscsi.opts = o;
	g_iscsi.opts_set = true;
	pthread_mutex_unlock(&g_iscsi.lock);
	keel_jsonrpc_send_bool_response(req, true);
out:
	keel_rpc_free_decoded(g_set_options_fields, &r);
}
KEEL_RPC_REGISTER("iscsi_set_options", rpc_iscsi_set_options, g_set_options_fields,
		  KEEL_RPC_STARTUP)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_set_options, "set_iscsi_options")

static void
rpc_iscsi_get_options(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct json_object *res;

	pthread_mutex_lock(&g_iscsi.lock);
	res = iscsi_opts_to_json(&g_iscsi.opts);
	pthread_mutex_unlock(&g_iscsi.lock);
	keel_jsonrpc_send_result(req, res);
}
KEEL_RPC_REGISTER("iscsi_get_options", rpc_iscsi_get_options, NULL,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_get_options, "get_iscsi_global_params")

/* CHAP settings: discovery, a portal group or a target; each omitted one is false / 0. */
struct rpc_chap {
	char *name;
	int32_t tag;
	bool disable_chap;
	bool require_chap;
	bool mutual_chap;
	int32_t chap_group;
};

static const struct keel_rpc_field g_discovery_auth_fields[] = {
	KEEL_RPC_BOOL(struct rpc_chap, disable_chap, KEEL_OPTIONAL, "no CHAP"),
	KEEL_RPC_BOOL(struct rpc_chap, require_chap, KEEL_OPTIONAL, "CHAP required"),
	KEEL_RPC_BOOL(struct rpc_chap, mutual_chap, KEEL_OPTIONAL, "mutual CHAP"),
	KEEL_RPC_I32(struct rpc_chap, chap_group, KEEL_OPTIONAL, "auth group tag (0: none)"),
	KEEL_RPC_END,
};

/* Checked as the target node's; sends the error. */
static int
rpc_chap_check(struct keel_jsonrpc_request *req, const struct rpc_chap *r)
{
	const char *bad;
	char err[ISCSI_ERR_LEN];

	if (iscsi_chap_params_check(r->disable_chap, r->require_chap, r->mutual_chap, r->chap_group,
				    true, &bad, err, sizeof(err)) != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter '%s': %s", bad, err);
		return -EINVAL;
	}
	return 0;
}

static void
rpc_iscsi_set_discovery_auth(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_chap r = {0};

	if (keel_rpc_decode_params(req, params, g_discovery_auth_fields, &r) != 0 ||
	    rpc_chap_check(req, &r) != 0) {
		return;
	}
	pthread_mutex_lock(&g_iscsi.lock);
	g_iscsi.opts.disable_chap = r.disable_chap;
	g_iscsi.opts.require_chap = r.require_chap;
	g_iscsi.opts.mutual_chap = r.mutual_chap;
	g_iscsi.opts.chap_group = r.chap_group;
	pthread_mutex_unlock(&g_iscsi.lock);
	keel_jsonrpc_send_bool_response(req, true);
}
KEEL_RPC_REGISTER("iscsi_set_discovery_auth", rpc_iscsi_set_discovery_auth, g_discovery_auth_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_set_discovery_auth, "set_iscsi_discovery_auth")

/*
 * Auth groups.
 */
struct rpc_auth_group {
	int32_t tag;
	struct json_object *secrets;
	char *user;
	char *secret;
	char *muser;
	char *msecret;
};

static const struct keel_rpc_field g_create_auth_group_fields[] = {
	KEEL_RPC_I32(struct rpc_auth_group, tag, KEEL_REQUIRED, "auth group tag, > 0"),
	KEEL_RPC_ARRAY(struct rpc_auth_group, secrets, KEEL_OPTIONAL,
		       "[{user, secret, muser?, msecret?}]"),
	KEEL_RPC_END,
};

static int
rpc_auth_group_add_secrets(struct iscsi_auth_grp *ag, struct json_object *secrets, char *err,
			   size_t err_len)
{
	static const char *const members[] = {"user", "secret", "muser", "msecret", NULL};
	const char *user, *secret, *muser, *msecret;
	char why[ISCSI_ERR_LEN];
	size_t i, n = secrets ? json_object_array_length(secrets) : 0;
	int rc;

	for (i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(secrets, i);

		rc = iscsi_rpc_elem_check(s, members, why, sizeof(why));
		if (rc == 0) {
			rc = iscsi_rpc_elem_str(s, "user", true, &user, why, sizeof(why));
		}
		if (rc == 0) {
			rc = iscsi_rpc_elem_str(s, "secret", true, &secret, why, sizeof(why));
		}
		if (rc == 0) {
			rc = iscsi_rpc_elem_str(s, "muser", false, &muser, why, sizeof(why));
		}
		if (rc == 0) {
			rc = iscsi_rpc_elem_str(s, "msecret", false, &msecret, why, sizeof(why));
		}
		if (rc == 0) {
			rc = iscsi_auth_grp_add_secret(ag, user, secret, muser, msecret, why,
						       sizeof(why));
		}
		if (rc != 0) {
			snprintf(err, err_len, "Invalid parameter 'secrets': secret %zu: %s", i,
				 why);
			return rc;
		}
	}
	return 0;
}

static void
rpc_iscsi_create_auth_group(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_auth_group r = {0};
	struct iscsi_auth_grp *ag;
	char err[ISCSI_ERR_LEN * 2];
	int rc;

	if (keel_rpc_decode_params(req, params, g_create_auth_group_fields, &r) != 0) {
		return;
	}
	if (r.tag <= 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'tag': %d is not > 0", r.tag);
		return;
	}
	if (iscsi_auth_grp_find(r.tag) != NULL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'tag': auth group %d already exists",
					r.tag);
		return;
	}
	ag = iscsi_auth_grp_create(r.tag);
	if (ag == NULL) {
		iscsi_rpc_error(req, -ENOMEM, "out of memory");
		return;
	}
	rc = rpc_auth_group_add_secrets(ag, r.secrets, err, sizeof(err));
	if (rc == 0) {
		rc = iscsi_auth_grp_register(ag);
		snprintf(err, sizeof(err), "Invalid parameter 'tag': auth group %d already exists",
			 r.tag);
	}
	if (rc != 0) {
		iscsi_auth_grp_destroy(ag);
		iscsi_rpc_error(req, rc, err);
		return;
	}
	keel_jsonrpc_send_bool_response(req, true);
}
KEEL_RPC_REGISTER("iscsi_create_auth_group", rpc_iscsi_create_auth_group,
		  g_create_auth_group_fields, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_create_auth_group, "add_iscsi_auth_group")

static const struct keel_rpc_field g_tag_fields[] = {
	KEEL_RPC_I32(struct rpc_auth_group, tag, KEEL_REQUIRED, "tag"),
	KEEL_RPC_END,
};

static struct iscsi_auth_grp *
rpc_find_auth_group(struct keel_jsonrpc_request *req, int32_t tag)
{
	struct iscsi_auth_grp *ag = iscsi_auth_grp_find(tag);

	if (ag == NULL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'tag': no auth group %d", tag);
	}
	return ag;
}

static void
rpc_iscsi_delete_auth_group(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_auth_group r = {0};
	struct iscsi_auth_grp *ag;

	if (keel_rpc_decode_params(req, params, g_tag_fields, &r) != 0) {
		return;
	}
	ag = rpc_find_auth_group(req, r.tag);
	if (ag == NULL) {
		return;
	}
	if (iscsi_auth_grp_unregister(ag) != 0) {
		keel_jsonrpc_send_error(
			req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameter 'tag': auth group %d is used by discovery,"
			" a portal group or a target node",
			r.tag);
		return;
	}
	keel_jsonrpc_send_bool_response(req, true);
}
KEEL_RPC_REGISTER("iscsi_delete_auth_group", rpc_iscsi_delete_auth_group, g_tag_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_delete_auth_group, "delete_iscsi_auth_group")

static const struct keel_rpc_field g_add_secret_fields[] = {
	KEEL_RPC_I32(struct rpc_auth_group, tag, KEEL_REQUIRED, "auth group tag"),
	KEEL_RPC_STR(struct rpc_auth_group, user, KEEL_REQUIRED, "CHAP name"),
	KEEL_RPC_STR(struct rpc_auth_group, secret, KEEL_REQUIRED, "CHAP secret"),
	KEEL_RPC_STR(struct rpc_auth_group, muser, KEEL_OPTIONAL, "mutual CHAP name"),
	KEEL_RPC_STR(struct rpc_auth_group, msecret, KEEL_OPTIONAL, "mutual CHAP secret"),
	KEEL_RPC_END,
};

static void
rpc_iscsi_auth_group_add_secret(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_auth_group r = {0};
	struct iscsi_auth_grp *ag;
	char err[ISCSI_ERR_LEN];
	int rc;

	if (keel_rpc_decode_params(req, params, g_add_secret_fields, &r) != 0) {
		return;
	}
	ag = rpc_find_auth_group(req, r.tag);
	if (ag != NULL) {
		rc = iscsi_auth_grp_add_secret(ag, r.user, r.secret, r.muser, r.msecret, err,
					       sizeof(err));
		if (rc == -EEXIST) {
			keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameter 'user': %s", err);
		} else if (rc != 0) {
			iscsi_rpc_error(req, rc, err);
		} else {
			keel_jsonrpc_send_bool_response(req, true);
		}
	}
	keel_rpc_free_decoded(g_add_secret_fields, &r);
}
KEEL_RPC_REGISTER("iscsi_auth_group_add_secret", rpc_iscsi_auth_group_add_secret,
		  g_add_secret_fields, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_auth_group_add_secret,
				   "add_secret_to_iscsi_auth_group")

static const struct keel_rpc_field g_remove_secret_fields[] = {
	KEEL_RPC_I32(struct rpc_auth_group, tag, KEEL_REQUIRED, "auth group tag"),
	KEEL_RPC_STR(struct rpc_auth_group, user, KEEL_REQUIRED, "CHAP name"),
	KEEL_RPC_END,
};

static void
rpc_iscsi_auth_group_remove_secret(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_auth_group r = {0};
	struct iscsi_auth_grp *ag;

	if (keel_rpc_decode_params(req, params, g_remove_secret_fields, &r) != 0) {
		return;
	}
	ag = rpc_find_auth_group(req, r.tag);
	if (ag != NULL) {
		if (iscsi_auth_grp_delete_secret(ag, r.user) != 0) {
			keel_jsonrpc_send_error(
				req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
				"Invalid parameter 'user': no secret for '%s' in auth group %d",
				r.user, r.tag);
		} else {
			keel_jsonrpc_send_bool_response(req, true);
		}
	}
	keel_rpc_free_decoded(g_remove_secret_fields, &r);
}
KEEL_RPC_REGISTER("iscsi_auth_group_remove_secret", rpc_iscsi_auth_group_remove_secret,
		  g_remove_secret_fields, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_auth_group_remove_secret,
				   "delete_secret_from_iscsi_auth_group")

static void
rpc_iscsi_get_auth_groups(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct json_object *res = json_object_new_array();
	struct iscsi_auth_grp *ag;

	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_FOREACH (ag, &g_iscsi.auth_grps, link) {
		json_object_array_add(res, iscsi_auth_grp_to_json(ag));
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	keel_jsonrpc_send_result(req, res);
}
KEEL_RPC_REGISTER("iscsi_get_auth_groups", rpc_iscsi_get_auth_groups, NULL, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_get_auth_groups, "get_iscsi_auth_groups")

/*
 * Portal groups.
 */
struct rpc_portal_group {
	int32_t tag;
	struct json_object *portals;
	bool private;
	bool wait;
};

static const struct keel_rpc_field g_create_portal_group_fields[] = {
	KEEL_RPC_I32(struct rpc_portal_group, tag, KEEL_REQUIRED, "portal group tag, 1 to 65535"),
	KEEL_RPC_ARRAY(struct rpc_portal_group, portals, KEEL_REQUIRED,
		       "[{host, port, cpumask?}], not empty"),
	KEEL_RPC_BOOL(struct rpc_portal_group, private, KEEL_OPTIONAL,
		      "not shown by discovery (login redirection targets)"),
	KEEL_RPC_BOOL(struct rpc_portal_group, wait, KEEL_OPTIONAL,
		      "do not listen until iscsi_start_portal_group"),
	KEEL_RPC_END,
};

/* One {host, port, cpumask?} object: port a string or a number, default 3260. */
static int
rpc_portal_parse(struct json_object *p, char *host, size_t host_len, uint16_t *port,
		 struct keel_cpuset *mask, char *err, size_t err_len)
{
	static const char *const members[] = {"host", "port", "cpumask", NULL};
	const char *h, *m;
	struct json_object *v;
	uint32_t n = KEEL_ISCSI_DEFAULT_PORT;
	int rc;

	rc = iscsi_rpc_elem_check(p, members, err, err_len);
	if (rc == 0) {
		rc = iscsi_rpc_elem_str(p, "host", true, &h, err, err_len);
	}
	if (rc == 0) {
		rc = iscsi_rpc_elem_str(p, "cpumask", false, &m, err, err_len);
	}
	if (rc != 0) {
		return rc;
	}
	if (iscsi_host_unbracket(h, host, host_len) != 0) {
		snprintf(err, err_len, "'%s' is not a host", h);
		return -EINVAL;
	}
	if (json_object_object_get_ex(p, "port", &v)) {
		if (json_object_is_type(v, json_type_int)) {
			int64_t i = json_object_get_int64(v);

			n = i >= 1 && i <= 65535 ? (uint32_t)i : 0;
		} else if (!json_object_is_type(v, json_type_string) ||
			   keel_parse_u32(json_object_get_string(v), &n) != 0 || n > 65535) {
			n = 0;
		}
		if (n == 0) {
			snprintf(err, err_len, "port '%s' is not 1 to 65535",
				 json_object_get_string(v));
			return -EINVAL;
		}
	}
	*port = (uint16_t)n;
	keel_cpuset_zero(mask);
	if (m != NULL && keel_cpuset_parse(mask, m) != 0) {
		snprintf(err, err_len, "cpumask '%s' is not a core mask", m);
		return -EINVAL;
	}
	return 0;
}

static int
rpc_portal_group_build(struct iscsi_portal_grp *pg, struct json_object *portals, char *err,
		       size_t err_len)
{
	char host[KEEL_SOCK_ADDR_LEN], why[ISCSI_ERR_LEN];
	size_t i, n = json_object_array_length(portals);
	struct keel_cpuset mask;
	uint16_t port;
	int rc;

	if (n == 0) {
		snprintf(err, err_len, "Invalid parameter 'portals': empty");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		rc = rpc_portal_parse(json_object_array_get_idx(portals, i), host, sizeof(host),
				      &port, &mask, why, sizeof(why));
		if (rc == 0) {
			rc = iscsi_portal_grp_add_portal(pg, host, port, &mask);
			snprintf(why, sizeof(why), "%s",
				 rc == -EEXIST ? "listed twice" : keel_strerror(-rc));
		}
		if (rc != 0) {
			snprintf(err, err_len, "Invalid parameter 'portals': portal %zu: %s", i,
				 why);
			return rc == -ENOMEM ? rc : -EINVAL;
		}
	}
	return 0;
}

static void
rpc_iscsi_create_portal_group(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_portal_group r = {0};
	struct iscsi_portal_grp *pg;
	char err[ISCSI_ERR_LEN * 2];
	int rc;

	if (keel_rpc_decode_params(req, params, g_create_portal_group_fields, &r) != 0) {
		return;
	}
	if (r.tag < 1 || r.tag > 65535) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'tag': %d is not 1 to 65535", r.tag);
		return;
	}
	if (iscsi_portal_grp_find(r.tag) != NULL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'tag': portal group %d already exists",
					r.tag);
		return;
	}
	pg = iscsi_portal_grp_create(r.tag, r.private);
	if (pg == NULL) {
		iscsi_rpc_error(req, -ENOMEM, "out of memory");
		return;
	}
	rc = rpc_portal_group_build(pg, r.portals, err, sizeof(err));
	if (rc == 0 && r.wait) {
		pg->started = false;
	} else if (rc == 0) {
		rc = iscsi_portal_grp_open(pg);
		snprintf(err, sizeof(err), "Invalid parameter 'portals': cannot listen: %s",
			 keel_strerror(-rc));
	}
	if (rc == 0) {
		rc = iscsi_portal_grp_register(pg);
		snprintf(err, sizeof(err),
			 "Invalid parameter 'tag': portal group %d already exists", r.tag);
	}
	if (rc != 0) {
		iscsi_portal_grp_destroy(pg);
		iscsi_rpc_error(req, rc, err);
		return;
	}
	keel_jsonrpc_send_bool_response(req, true);
}
KEEL_RPC_REGISTER("iscsi_create_portal_group", rpc_iscsi_create_portal_group,
		  g_create_portal_group_fields, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_create_portal_group, "add_portal_group")

static struct iscsi_portal_grp *
rpc_find_portal_group(struct keel_jsonrpc_request *req, int32_t tag)
{
	struct iscsi_portal_grp *pg = iscsi_portal_grp_find(tag);

	if (pg == NULL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'tag': no portal group %d", tag);
	}
	return pg;
}

static const struct keel_rpc_field g_pg_tag_fields[] = {
	KEEL_RPC_I32(struct rpc_portal_group, tag, KEEL_REQUIRED, "portal group tag"),
	KEEL_RPC_END,
};

/* Succeeds also when the group is already started. */
static void
rpc_iscsi_start_portal_group(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_portal_group r = {0};
	struct iscsi_portal_grp *pg;
	int rc;

	if (keel_rpc_decode_params(req, params, g_pg_tag_fields, &r) != 0) {
		return;
	}
	pg = rpc_find_portal_group(req, r.tag);
	if (pg == NULL) {
		return;
	}
	if (!pg->started) {
		rc = iscsi_portal_grp_open(pg);
		if (rc != 0) {
			keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameter 'tag': portal group %d cannot "
						"listen: %s",
						r.tag, keel_strerror(-rc));
			return;
		}
		pg->started = true;
	}
	keel_jsonrpc_send_bool_response(req, true);
}
KEEL_RPC_REGISTER("iscsi_start_portal_group", rpc_iscsi_start_portal_group, g_pg_tag_fields,
		  KEEL_RPC_RUNTIME)

static void
rpc_iscsi_delete_portal_group(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_portal_group r = {0};
	struct iscsi_portal_grp *pg;

	if (keel_rpc_decode_params(req, params, g_pg_tag_fields, &r) != 0) {
		return;
	}
	pg = rpc_find_portal_group(req, r.tag);
	if (pg == NULL) {
		return;
	}
	if (iscsi_portal_grp_unregister(pg) != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'tag': portal group %d is mapped by a "
					"target node",
					r.tag);
		return;
	}
	keel_jsonrpc_send_bool_response(req, true);
}
KEEL_RPC_REGISTER("iscsi_delete_portal_group", rpc_iscsi_delete_portal_group, g_pg_tag_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_delete_portal_group, "delete_portal_group")

static const struct keel_rpc_field g_pg_set_auth_fields[] = {
	KEEL_RPC_I32(struct rpc_chap, tag, KEEL_REQUIRED, "portal group tag"),
	KEEL_RPC_BOOL(struct rpc_chap, disable_chap, KEEL_OPTIONAL, "no CHAP"),
	KEEL_RPC_BOOL(struct rpc_chap, require_chap, KEEL_OPTIONAL, "CHAP required"),
	KEEL_RPC_BOOL(struct rpc_chap, mutual_chap, KEEL_OPTIONAL, "mutual CHAP"),
	KEEL_RPC_I32(struct rpc_chap, chap_group, KEEL_OPTIONAL, "auth group tag (0: none)"),
	KEEL_RPC_END,
};

/* Discovery sessions through this group use these settings instead of the global ones. */
static void
rpc_iscsi_portal_group_set_auth(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_chap r = {0};
	struct iscsi_portal_grp *pg;

	if (keel_rpc_decode_params(req, params, g_pg_set_auth_fields, &r) != 0) {
		return;
	}
	pg = rpc_find_portal_group(req, r.tag);
	if (pg == NULL || rpc_chap_check(req, &r) != 0) {
		return;
	}
	pthread_mutex_lock(&g_iscsi.lock);
	pg->disable_chap = r.disable_chap;
	pg->require_chap = r.require_chap;
	pg->mutual_chap = r.mutual_chap;
	pg->chap_group = r.chap_group;
	pg->auth_set = true;
	pthread_mutex_unlock(&g_iscsi.lock);
	keel_jsonrpc_send_bool_response(req, true);
}
KEEL_RPC_REGISTER("iscsi_portal_group_set_auth", rpc_iscsi_portal_group_set_auth,
		  g_pg_set_auth_fields, KEEL_RPC_RUNTIME)

static void
rpc_iscsi_get_portal_groups(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct json_object *res = json_object_new_array();
	struct iscsi_portal_grp *pg;

	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_FOREACH (pg, &g_iscsi.portal_grps, link) {
		json_object_array_add(res, iscsi_portal_grp_to_json(pg, false));
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	keel_jsonrpc_send_result(req, res);
}
KEEL_RPC_REGISTER("iscsi_get_portal_groups", rpc_iscsi_get_portal_groups, NULL, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_get_portal_groups, "get_portal_groups")

/*
 * Initiator groups.
 */
struct rpc_init_group {
	int32_t tag;
	struct json_object *initiators;
	struct json_object *netmasks;
};

static const struct keel_rpc_field g_create_ig_fields[] = {
	KEEL_RPC_I32(struct rpc_init_group, tag, KEEL_REQUIRED, "initiator group tag, > 0"),
	KEEL_RPC_ARRAY(struct rpc_init_group, initiators, KEEL_REQUIRED,
		       "initiator names or ANY, \"!name\" denies; not empty"),
	KEEL_RPC_ARRAY(struct rpc_init_group, netmasks, KEEL_REQUIRED,
		       "ANY, 10.0.0.0/8, [fd00::]/8, \"!mask\" denies; not empty"),
	KEEL_RPC_END,
};

static const struct keel_rpc_field g_change_ig_fields[] = {
	KEEL_RPC_I32(struct rpc_init_group, tag, KEEL_REQUIRED, "initiator group tag"),
	KEEL_RPC_ARRAY(struct rpc_init_group, initiators, KEEL_OPTIONAL, "initiator names"),
	KEEL_RPC_ARRAY(struct rpc_init_group, netmasks, KEEL_OPTIONAL, "netmasks"),
	KEEL_RPC_END,
};

/* Add or remove the request's names and netmasks; sends the answer either way. */
static void
rpc_init_group_change(struct keel_jsonrpc_request *req, struct iscsi_init_grp *ig,
		      const struct rpc_init_group *r, bool add, bool registered)
{
	const char **names = NULL, **masks = NULL, *bad;
	char err[ISCSI_ERR_LEN], msg[ISCSI_ERR_LEN + 32];
	int nn, nm, rc;

	rc = rpc_str_array(r->initiators, "initiators", &names, &nn, msg, sizeof(msg));
	if (rc == 0) {
		rc = rpc_str_array(r->netmasks, "netmasks", &masks, &nm, msg, sizeof(msg));
	}
	if (rc == 0 && !registered && (nn == 0 || nm == 0)) {
		snprintf(msg, sizeof(msg), "Invalid parameter '%s': empty",
			 nn == 0 ? "initiators" : "netmasks");
		rc = -EINVAL;
	}
	if (rc == 0) {
		rc = iscsi_init_grp_change(ig, add, names, nn, masks, nm, &bad, err, sizeof(err));
		if (rc != 0) {
			snprintf(msg, sizeof(msg), "Invalid parameter '%s': %s", bad, err);
		}
	}
	if (rc == 0 && !registered) {
		rc = iscsi_init_grp_register(ig);
		snprintf(msg, sizeof(msg),
			 "Invalid parameter 'tag': initiator group %d already exists", ig->tag);
	}
	free(names);
	free(masks);
	if (rc != 0) {
		if (!registered) {
			iscsi_init_grp_destroy(ig);
		}
		iscsi_rpc_error(req, rc, msg);
		return;
	}
	keel_jsonrpc_send_bool_response(req, true);
}

static void
rpc_iscsi_create_initiator_group(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_init_group r = {0};
	struct iscsi_init_grp *ig;

	if (keel_rpc_decode_params(req, params, g_create_ig_fields, &r) != 0) {
		return;
	}
	if (r.tag <= 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'tag': %d is not > 0", r.tag);
		return;
	}
	if (iscsi_init_grp_find(r.tag) != NULL) {
		keel_jsonrpc_send_error(
			req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameter 'tag': initiator group %d already exists", r.tag);
		return;
	}
	ig = iscsi_init_grp_create(r.tag);
	if (ig == NULL) {
		iscsi_rpc_error(req, -ENOMEM, "out of memory");
		return;
	}
	rpc_init_group_change(req, ig, &r, true, false);
}
KEEL_RPC_REGISTER("iscsi_create_initiator_group", rpc_iscsi_create_initiator_group,
		  g_create_ig_fields, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_create_initiator_group, "add_initiator_group")

static struct iscsi_init_grp *
rpc_find_init_group(struct keel_jsonrpc_request *req, int32_t tag)
{
	struct iscsi_init_grp *ig = iscsi_init_grp_find(tag);

	if (ig == NULL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'tag': no initiator group %d", tag);
	}
	return ig;
}

static void
rpc_iscsi_initiator_group_add_initiators(struct keel_jsonrpc_request *req,
					 struct json_object *params)
{
	struct rpc_init_group r = {0};
	struct iscsi_init_grp *ig;

	if (keel_rpc_decode_params(req, params, g_change_ig_fields, &r) != 0) {
		return;
	}
	ig = rpc_find_init_group(req, r.tag);
	if (ig != NULL) {
		rpc_init_group_change(req, ig, &r, true, true);
	}
}
KEEL_RPC_REGISTER("iscsi_initiator_group_add_initiators", rpc_iscsi_initiator_group_add_initiators,
		  g_change_ig_fields, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_initiator_group_add_initiators,
				   "add_initiators_to_initiator_group")

static void
rpc_iscsi_initiator_group_remove_initiators(struct keel_jsonrpc_request *req,
					    struct json_object *params)
{
	struct rpc_init_group r = {0};
	struct iscsi_init_grp *ig;

	if (keel_rpc_decode_params(req, params, g_change_ig_fields, &r) != 0) {
		return;
	}
	ig = rpc_find_init_group(req, r.tag);
	if (ig != NULL) {
		rpc_init_group_change(req, ig, &r, false, true);
	}
}
KEEL_RPC_REGISTER("iscsi_initiator_group_remove_initiators",
		  rpc_iscsi_initiator_group_remove_initiators, g_change_ig_fields, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_initiator_group_remove_initiators,
				   "delete_initiators_from_initiator_group")

static const struct keel_rpc_field g_ig_tag_fields[] = {
	KEEL_RPC_I32(struct rpc_init_group, tag, KEEL_REQUIRED, "initiator group tag"),
	KEEL_RPC_END,
};

static void
rpc_iscsi_delete_initiator_group(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_init_group r = {0};
	struct iscsi_init_grp *ig;

	if (keel_rpc_decode_params(req, params, g_ig_tag_fields, &r) != 0) {
		return;
	}
	ig = rpc_find_init_group(req, r.tag);
	if (ig == NULL) {
		return;
	}
	if (iscsi_init_grp_unregister(ig) != 0) {
		keel_jsonrpc_send_error(
			req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameter 'tag': initiator group %d is mapped by a target node",
			r.tag);
		return;
	}
	keel_jsonrpc_send_bool_response(req, true);
}
KEEL_RPC_REGISTER("iscsi_delete_initiator_group", rpc_iscsi_delete_initiator_group, g_ig_tag_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_delete_initiator_group, "delete_initiator_group")

static void
rpc_iscsi_get_initiator_groups(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct json_object *res = json_object_new_array();
	struct iscsi_init_grp *ig;

	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_FOREACH (ig, &g_iscsi.init_grps, link) {
		json_object_array_add(res, iscsi_init_grp_to_json(ig));
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	keel_jsonrpc_send_result(req, res);
}
KEEL_RPC_REGISTER("iscsi_get_initiator_groups", rpc_iscsi_get_initiator_groups, NULL,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_iscsi_get_initiator_groups, "get_initiator_groups")
