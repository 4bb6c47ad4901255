/*
 * The built-in configuration of iscsi_tgt started without -c, --json or --wait-for-rpc (what
 * `make run` serves): one RAM disk as LUN 0 of iqn.2016-06.io.spdk:disk1 on 127.0.0.1:3260,
 * built with the same RPC methods a user would call, one after the other.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/rpc.h"

#include <json-c/json.h>

#include "default_config.h"

struct default_step {
	const char *method;
	const char *params;
	const char *undo_method; /* takes back what the step made, NULL: nothing */
	const char *undo_params;
};

/* The portal first: when 3260 is taken nothing else is made. */
static const struct default_step g_steps[] = {
	{"iscsi_create_portal_group",
	 "{\"tag\": 1, \"portals\": [{\"host\": \"127.0.0.1\", \"port\": \"3260\"}]}",
	 "iscsi_delete_portal_group", "{\"tag\": 1}"},
	{"iscsi_create_initiator_group",
	 "{\"tag\": 2, \"initiators\": [\"ANY\"], \"netmasks\": [\"127.0.0.1/32\"]}",
	 "iscsi_delete_initiator_group", "{\"tag\": 2}"},
	{"bdev_malloc_create",
	 "{\"name\": \"Malloc0\", \"num_blocks\": 131072, \"block_size\": 512}",
	 "bdev_malloc_delete", "{\"name\": \"Malloc0\"}"},
	{"iscsi_create_target_node",
	 "{\"name\": \"disk1\", \"alias_name\": \"Data Disk1\", "
	 "\"pg_ig_maps\": [{\"pg_tag\": 1, \"ig_tag\": 2}], "
	 "\"luns\": [{\"bdev_name\": \"Malloc0\", \"lun_id\": 0}], "
	 "\"queue_depth\": 64, \"disable_chap\": true}",
	 NULL, NULL},
};

struct default_ctx {
	size_t step;
	bool undoing;
	struct json_object *params;
};

static void default_next(struct default_ctx *c);

static void
default_done(struct json_object *response, void *arg)
{
	struct default_ctx *c = arg;
	struct json_object *err, *msg;

	json_object_put(c->params);
	c->params = NULL;
	if (!c->undoing && json_object_object_get_ex(response, "error", &err)) {
		msg = json_object_object_get(err, "message");
		KEEL_ERRLOG(
			"built-in configuration: %s: %s; iscsi_tgt goes on without it (configure "
			"it over RPC, or start with -c or --json)\n",
			g_steps[c->step].method, msg ? json_object_get_string(msg) : "failed");
		c->undoing = true;
	} else if (!c->undoing) {
		c->step++;
	}
	json_object_put(response);
	default_next(c);
}

/* One call at a time; the answer may come before keel_rpc_call_local returns. */
static void
default_next(struct default_ctx *c)
{
	const struct default_step *s;
	const char *method, *params;

	if (!c->undoing && c->step == KEEL_COUNTOF(g_steps)) {
		KEEL_NOTICELOG("built-in configuration: target iqn.2016-06.io.spdk:disk1 (LUN 0: "
			       "Malloc0, 64 MiB RAM disk) on 127.0.0.1:3260 for initiators on "
			       "127.0.0.1; iscsi_tgt --empty starts with nothing\n");
		free(c);
		return;
	}
	if (c->undoing) {
		do {
			if (c->step == 0) {
				free(c);
				return;
			}
			s = &g_steps[--c->step];
		} while (s->undo_method == NULL);
		method = s->undo_method;
		params = s->undo_params;
	} else {
		method = g_steps[c->step].method;
		params = g_steps[c->step].params;
	}
	c->params = json_tokener_parse(params);
	keel_rpc_call_local(method, c->params, default_done, c);
}

void
iscsi_tgt_default_config(void)
{
	struct default_ctx *c;

	if (keel_rpc_find_method("iscsi_create_target_node") == NULL ||
	    keel_rpc_find_method("bdev_malloc_create") == NULL) {
		KEEL_NOTICELOG("no built-in configuration: this build has no iSCSI target or no "
			       "malloc bdev\n");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		KEEL_ERRLOG("built-in configuration: out of memory\n");
		return;
	}
	default_next(c);
}
