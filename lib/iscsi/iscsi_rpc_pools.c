/*
 * iscsi_get_pool_stats: what the iSCSI target holds right now, for tests and operators who
 * check that nothing leaks. Objects free in the PDU, task and data buffer pools (per-core caches
 * included), and the sessions and connections that exist; once every initiator has gone, each
 * count is back to its value at start. A keel method; SPDK has none like it.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/jsonrpc.h"
#include "keel/rpc.h"

#include <json-c/json.h>

#include "iscsi_internal.h"

static struct json_object *
pool_stats_count(const struct keel_mempool *pool)
{
	return pool != NULL ? json_object_new_uint64(keel_mempool_count(pool)) : NULL;
}

static void
rpc_iscsi_get_pool_stats(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct json_object *res = json_object_new_object();
	struct iscsi_conn *conn;
	uint64_t conns = 0, sessions;

	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_FOREACH (conn, &g_iscsi.conns, g_link) {
		conns++;
	}
	sessions = g_iscsi.num_sessions;
	pthread_mutex_unlock(&g_iscsi.lock);
	json_object_object_add(res, "pdu_pool_free", pool_stats_count(g_iscsi.pdu_pool));
	json_object_object_add(res, "task_pool_free", pool_stats_count(g_iscsi.task_pool));
	json_object_object_add(res, "buf_pool_free", pool_stats_count(g_iscsi.buf_pool));
	json_object_object_add(res, "sessions", json_object_new_uint64(sessions));
	json_object_object_add(res, "connections", json_object_new_uint64(conns));
	keel_jsonrpc_send_result(req, res);
}
KEEL_RPC_REGISTER("iscsi_get_pool_stats", rpc_iscsi_get_pool_stats, NULL, KEEL_RPC_RUNTIME)
