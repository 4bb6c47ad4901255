/*
 * The iSCSI target's global state and its "iscsi" subsystem: default options, the PDU, task
 * and data buffer pools, the poll groups, and start-up from the legacy configuration; stop
 * asks initiators to log out, closes the portals and every connection, then frees all.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/log.h"
#include "keel/thread.h"

#include "iscsi_internal.h"

#include <json-c/json.h>

struct iscsi_globals g_iscsi = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.portal_grps = TAILQ_HEAD_INITIALIZER(g_iscsi.portal_grps),
	.init_grps = TAILQ_HEAD_INITIALIZER(g_iscsi.init_grps),
	.auth_grps = TAILQ_HEAD_INITIALIZER(g_iscsi.auth_grps),
	.target_nodes = TAILQ_HEAD_INITIALIZER(g_iscsi.target_nodes),
	.sessions = TAILQ_HEAD_INITIALIZER(g_iscsi.sessions),
	.conns = TAILQ_HEAD_INITIALIZER(g_iscsi.conns),
	.next_tsih = 1,
	.next_conn_id = 1,
};

#define ISCSI_PDU_POOL_SIZE 16384
#define ISCSI_TASK_POOL_SIZE 8192
#define ISCSI_BUF_POOL_SIZE 128
#define ISCSI_BUF_POOL_ELT (256 * 1024)

int iscsi_poll_groups_init(void);
void iscsi_poll_groups_fini(void (*done)(void *ctx), void *ctx);
/* config.c: the legacy [iSCSI], portal, initiator, auth and target sections. */
int iscsi_read_legacy_config(void);
/* Objects: tear everything down (portals closed first). */
void iscsi_objects_fini(void);
void iscsi_portals_stop(void);
void iscsi_write_config_json(struct json_object *array);

void iscsi_opts_init(struct iscsi_opts *opts);

void
iscsi_opts_init(struct iscsi_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	keel_strlcpy(opts->nodebase, ISCSI_DEFAULT_NODEBASE, sizeof(opts->nodebase));
	keel_strlcpy(opts->authfile, ISCSI_DEFAULT_AUTHFILE, sizeof(opts->authfile));
	opts->max_sessions = ISCSI_DEFAULT_MAX_SESSIONS;
	opts->max_connections_per_session = ISCSI_DEFAULT_MAX_CONNS_PER_SESSION;
	opts->max_queue_depth = ISCSI_DEFAULT_MAX_QUEUE_DEPTH;
	opts->default_time2wait = ISCSI_DEFAULT_TIME2WAIT;
	opts->default_time2retain = ISCSI_DEFAULT_TIME2RETAIN;
	opts->first_burst_length = ISCSI_DEFAULT_FIRST_BURST;
	opts->max_burst_length = ISCSI_DEFAULT_MAX_BURST;
	opts->max_recv_data_segment_length = ISCSI_DEFAULT_MAX_RECV_DSL;
	opts->immediate_data = true;
	opts->initial_r2t = false;
	opts->error_recovery_level = 0;
	opts->nop_timeout = ISCSI_DEFAULT_NOP_TIMEOUT;
	opts->nop_in_interval = ISCSI_DEFAULT_NOP_IN_INTERVAL;
	opts->max_r2t_per_connection = ISCSI_DEFAULT_MAX_R2T;
	opts->chap_group = 0;
}

__attribute__((constructor)) static void
iscsi_globals_defaults(void)
{
	iscsi_opts_init(&g_iscsi.opts);
}

static void
iscsi_pools_free(void)
{
	keel_mempool_free(g_iscsi.pdu_pool);
	keel_mempool_free(g_iscsi.task_pool);
	keel_mempool_free(g_iscsi.buf_pool);
	g_iscsi.pdu_pool = NULL;
	g_iscsi.task_pool = NULL;
	g_iscsi.buf_pool = NULL;
}

static int
iscsi_pools_init(void)
{
	g_iscsi.pdu_pool = keel_mempool_create("iscsi_pdu", ISCSI_PDU_POOL_SIZE,
					       sizeof(struct iscsi_pdu), 256,
					       KEEL_ENV_SOCKET_ID_ANY);
	g_iscsi.task_pool = keel_mempool_create("iscsi_task", ISCSI_TASK_POOL_SIZE,
						sizeof(struct iscsi_task), 128,
						KEEL_ENV_SOCKET_ID_ANY);
	g_iscsi.buf_pool_elt_size = ISCSI_BUF_POOL_ELT;
	g_iscsi.buf_pool = keel_mempool_create("iscsi_buf", ISCSI_BUF_POOL_SIZE, ISCSI_BUF_POOL_ELT,
					       32, KEEL_ENV_SOCKET_ID_ANY);
	if (g_iscsi.pdu_pool == NULL || g_iscsi.task_pool == NULL || g_iscsi.buf_pool == NULL) {
		iscsi_pools_free();
		return -ENOMEM;
	}
	return 0;
}

static void
iscsi_subsystem_init(void)
{
	int rc;

	rc = iscsi_pools_init();
	if (rc != 0) {
		KEEL_ERRLOG("cannot create the iSCSI pools\n");
		keel_subsystem_init_next(rc);
		return;
	}
	rc = iscsi_poll_groups_init();
	if (rc != 0) {
		KEEL_ERRLOG("cannot create the iSCSI poll groups\n");
		keel_subsystem_init_next(rc);
		return;
	}
	g_iscsi.initialized = true;
	rc = iscsi_read_legacy_config();
	keel_subsystem_init_next(rc);
}

static void
iscsi_fini_done(void *ctx)
{
	if (!g_iscsi.fini_incomplete) {
		iscsi_objects_fini();
		iscsi_pools_free();
	}
	g_iscsi.initialized = false;
	keel_subsystem_fini_next();
}

static void
iscsi_subsystem_fini(void)
{
	if (!g_iscsi.initialized) {
		keel_subsystem_fini_next();
		return;
	}
	/* No new connections; then every connection goes (its tasks finish first). */
	iscsi_portals_stop();
	iscsi_poll_groups_fini(iscsi_fini_done, NULL);
}

static struct keel_subsystem g_iscsi_subsystem = {
	.name = "iscsi",
	.init = iscsi_subsystem_init,
	.fini = iscsi_subsystem_fini,
	.write_config_json = iscsi_write_config_json,
};
KEEL_SUBSYSTEM_REGISTER(g_iscsi_subsystem)
KEEL_SUBSYSTEM_DEPEND(iscsi, bdev)
