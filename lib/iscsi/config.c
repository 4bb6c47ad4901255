/*
 * The iSCSI target's configuration as a whole: the legacy INI file's [iSCSI], [AuthGroupN],
 * [PortalGroupN], [InitiatorGroupN] and [TargetNodeN] sections (errors name file, line and
 * key), the option checks shared with iscsi_set_options, the JSON form that save_config
 * writes (the RPC calls that rebuild the state), and freeing everything at shutdown.
 */
#include "keel/stdinc.h"
#include "keel/conf.h"
#include "keel/log.h"
#include "keel/scsi.h"
#include "keel/util.h"

#include <json-c/json.h>

#include "iscsi_objects.h"

/*
 * Options.
 */
int
iscsi_opts_check(struct iscsi_opts *o, const char **json_name, const char **ini_key, char *err,
		 size_t err_len)
{
#define OPT_FAIL(j, i, ...)                                                                        \
	do {                                                                                       \
		*json_name = (j);                                                                  \
		*ini_key = (i);                                                                    \
		snprintf(err, err_len, __VA_ARGS__);                                               \
		return -EINVAL;                                                                    \
	} while (0)
	const char *bad;
	char why[ISCSI_ERR_LEN];

	if (o->nodebase[0] == '\0' || strlen(o->nodebase) >= ISCSI_MAX_NAME - 1 ||
	    strchr(o->nodebase, ':') != NULL || !iscsi_name_is_valid(o->nodebase)) {
		OPT_FAIL("node_base", "NodeBase",
			 "'%s' is not an iSCSI name prefix such as iqn.2016-06.io.spdk",
			 o->nodebase);
	}
	if (o->max_sessions < 1 || o->max_sessions > 65535) {
		OPT_FAIL("max_sessions", "MaxSessions", "%u is not 1 to 65535", o->max_sessions);
	}
	if (o->max_connections_per_session < 1 || o->max_connections_per_session > 65535) {
		OPT_FAIL("max_connections_per_session", "MaxConnectionsPerSession",
			 "%u is not 1 to 65535", o->max_connections_per_session);
	}
	if (o->max_connections_per_session > ISCSI_MAX_CONNS_PER_SESSION) {
		KEEL_NOTICELOG("MaxConnectionsPerSession %u: keel's sessions hold up to %d "
			       "connections, %d is used\n",
			       o->max_connections_per_session, ISCSI_MAX_CONNS_PER_SESSION,
			       ISCSI_MAX_CONNS_PER_SESSION);
		o->max_connections_per_session = ISCSI_MAX_CONNS_PER_SESSION;
	}
	if (o->max_queue_depth < 1 || o->max_queue_depth > ISCSI_MAX_QUEUE_DEPTH) {
		OPT_FAIL("max_queue_depth", "MaxQueueDepth", "%u is not 1 to %d",
			 o->max_queue_depth, ISCSI_MAX_QUEUE_DEPTH);
	}
	if (o->default_time2wait > 3600) {
		OPT_FAIL("default_time2wait", "DefaultTime2Wait", "%u is above 3600",
			 o->default_time2wait);
	}
	if (o->default_time2retain > 3600) {
		OPT_FAIL("default_time2retain", "DefaultTime2Retain", "%u is above 3600",
			 o->default_time2retain);
	}
	if (o->max_burst_length < ISCSI_MIN_DSL || o->max_burst_length > ISCSI_MAX_BURST_LIMIT) {
		OPT_FAIL("max_burst_length", "MaxBurstLength", "%u is not %d to %d",
			 o->max_burst_length, ISCSI_MIN_DSL, ISCSI_MAX_BURST_LIMIT);
	}
	if (o->first_burst_length < ISCSI_MIN_DSL || o->first_burst_length > o->max_burst_length) {
		OPT_FAIL("first_burst_length", "FirstBurstLength",
			 "%u is not %d to MaxBurstLength (%u)", o->first_burst_length,
			 ISCSI_MIN_DSL, o->max_burst_length);
	}
	if (o->max_recv_data_segment_length < ISCSI_MIN_DSL ||
	    o->max_recv_data_segment_length > ISCSI_DEFAULT_MAX_RECV_DSL) {
		OPT_FAIL("max_recv_data_segment_length", "MaxRecvDataSegmentLength",
			 "%u is not %d to %d", o->max_recv_data_segment_length, ISCSI_MIN_DSL,
			 ISCSI_DEFAULT_MAX_RECV_DSL);
	}
	if (o->error_recovery_level > 2) {
		OPT_FAIL("error_recovery_level", "ErrorRecoveryLevel", "%u is not 0 to 2",
			 o->error_recovery_level);
	}
	if (o->nop_in_interval > ISCSI_MAX_NOP_IN_INTERVAL) {
		OPT_FAIL("nop_in_interval", "NopInInterval", "%u is not 0 to %d s",
			 o->nop_in_interval, ISCSI_MAX_NOP_IN_INTERVAL);
	}
	if (o->nop_timeout > 3600) {
		OPT_FAIL("nop_timeout", "Timeout", "%u is not 0 to 3600 s", o->nop_timeout);
	}
	if (o->max_r2t_per_connection < 1 || o->max_r2t_per_connection > ISCSI_MAX_QUEUE_DEPTH) {
		OPT_FAIL("max_r2t_per_connection", "MaxR2T", "%u is not 1 to %d",
			 o->max_r2t_per_connection, ISCSI_MAX_QUEUE_DEPTH);
	}
	if (iscsi_chap_params_check(o->disable_chap, o->require_chap, o->mutual_chap, o->chap_group,
				    false, &bad, why, sizeof(why)) != 0) {
		OPT_FAIL(bad,
			 strcmp(bad, "chap_group") == 0 ? "DiscoveryAuthGroup"
							: "DiscoveryAuthMethod",
			 "%s", why);
	}
	return 0;
#undef OPT_FAIL
}

/*
 * The legacy file.
 */
#define CONF_ERR(file, line, sect, key, ...)                                                       \
	do {                                                                                       \
		char conf_msg_[ISCSI_ERR_LEN];                                                     \
		snprintf(conf_msg_, sizeof(conf_msg_), __VA_ARGS__);                               \
		KEEL_ERRLOG("%s:%d: [%s] %s%s%s\n", (file), (line), (sect), (key),                 \
			    (key)[0] != '\0' ? ": " : "", conf_msg_);                              \
	} while (0)

enum ini_kind {
	INI_U32,
	INI_BOOL,
	INI_STR,
};

struct ini_key {
	const char *key;
	enum ini_kind kind;
	size_t offset;
	size_t size;
};

#define INI_OPT(k, kind, member)                                                                   \
	{                                                                                          \
		k, kind, offsetof(struct iscsi_opts, member),                                      \
			sizeof(((struct iscsi_opts *)0)->member)                                   \
	}

static const struct ini_key g_iscsi_keys[] = {
	INI_OPT("NodeBase", INI_STR, nodebase),
	INI_OPT("AuthFile", INI_STR, authfile),
	INI_OPT("MaxSessions", INI_U32, max_sessions),
	INI_OPT("MaxConnectionsPerSession", INI_U32, max_connections_per_session),
	INI_OPT("MaxQueueDepth", INI_U32, max_queue_depth),
	INI_OPT("DefaultTime2Wait", INI_U32, default_time2wait),
	INI_OPT("DefaultTime2Retain", INI_U32, default_time2retain),
	INI_OPT("FirstBurstLength", INI_U32, first_burst_length),
	INI_OPT("MaxBurstLength", INI_U32, max_burst_length),
	INI_OPT("MaxRecvDataSegmentLength", INI_U32, max_recv_data_segment_length),
	INI_OPT("ImmediateData", INI_BOOL, immediate_data),
	INI_OPT("InitialR2T", INI_BOOL, initial_r2t),
	INI_OPT("ErrorRecoveryLevel", INI_U32, error_recovery_level),
	INI_OPT("AllowDuplicateIsid", INI_BOOL, allow_duplicated_isid),
	INI_OPT("Timeout", INI_U32, nop_timeout),
	INI_OPT("NopInInterval", INI_U32, nop_in_interval),
	INI_OPT("MaxR2T", INI_U32, max_r2t_per_connection),
};

/* "AuthGroupN" -> N, "None" -> 0. */
static int
conf_parse_group_ref(const char *val, const char *prefix, int32_t *tag)
{
	size_t plen = strlen(prefix);
	uint32_t v;

	if (strcasecmp(val, "None") == 0) {
		*tag = 0;
		return 0;
	}
	if (strncasecmp(val, prefix, plen) != 0 || keel_parse_u32(val + plen, &v) != 0 || v == 0 ||
	    v > INT32_MAX) {
		return -EINVAL;
	}
	*tag = (int32_t)v;
	return 0;
}

/* AuthMethod values: None, Auto, CHAP, Mutual (Mutual implies CHAP), one or several. */
static int
conf_parse_auth_method(struct keel_conf_item *item, bool *disable, bool *require, bool *mutual)
{
	int i, n = keel_conf_item_get_val_count(item);

	*disable = *require = *mutual = false;
	for (i = 0; i < n; i++) {
		const char *v = keel_conf_item_get_val(item, i);

		if (strcasecmp(v, "None") == 0) {
			*disable = true;
		} else if (strcasecmp(v, "CHAP") == 0) {
			*require = true;
		} else if (strcasecmp(v, "Mutual") == 0) {
			*require = true;
			*mutual = true;
		} else if (strcasecmp(v, "Auto") != 0) {
			return -EINVAL;
		}
	}
	return n > 0 && !(*disable && *require) ? 0 : -EINVAL;
}

static int
conf_iscsi_item(struct iscsi_opts *o, struct keel_conf_item *item, const char *file)
{
	const char *key = keel_conf_item_get_key(item), *val = keel_conf_item_get_val(item, 0);
	int line = keel_conf_item_get_line(item);
	const struct ini_key *k = NULL;
	uint32_t u;
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(g_iscsi_keys); i++) {
		if (strcasecmp(key, g_iscsi_keys[i].key) == 0) {
			k = &g_iscsi_keys[i];
		}
	}
	if (k != NULL) {
		if (val == NULL) {
			CONF_ERR(file, line, "iSCSI", key, "a value is needed");
			return -EINVAL;
		}
		switch (k->kind) {
		case INI_U32:
			if (keel_parse_u32(val, &u) != 0) {
				CONF_ERR(file, line, "iSCSI", key, "'%s' is not a number", val);
				return -EINVAL;
			}
			memcpy((char *)o + k->offset, &u, sizeof(u));
			break;
		case INI_BOOL:
			if (keel_parse_bool(val, (bool *)((char *)o + k->offset)) != 0) {
				CONF_ERR(file, line, "iSCSI", key, "'%s' is not Yes or No", val);
				return -EINVAL;
			}
			break;
		case INI_STR:
			if (strlen(val) >= k->size) {
				CONF_ERR(file, line, "iSCSI", key, "longer than %zu bytes",
					 k->size - 1);
				return -EINVAL;
			}
			keel_strlcpy((char *)o + k->offset, val, k->size);
			break;
		}
		return 0;
	}
	if (strcasecmp(key, "DiscoveryAuthMethod") == 0) {
		if (conf_parse_auth_method(item, &o->disable_chap, &o->require_chap,
					   &o->mutual_chap) != 0) {
			CONF_ERR(file, line, "iSCSI", key, "expected None, Auto, CHAP or Mutual");
			return -EINVAL;
		}
	} else if (strcasecmp(key, "DiscoveryAuthGroup") == 0) {
		if (val == NULL || conf_parse_group_ref(val, "AuthGroup", &o->chap_group) != 0) {
			CONF_ERR(file, line, "iSCSI", key, "expected AuthGroup<N> or None");
			return -EINVAL;
		}
	} else if (strcasecmp(key, "MinConnectionsPerCore") == 0) {
		KEEL_NOTICELOG("%s:%d: [iSCSI] MinConnectionsPerCore is accepted and ignored: keel "
			       "puts each new connection on the least loaded core of its portal\n",
			       file, line);
	} else if (strcasecmp(key, "DataPDUInOrder") == 0 ||
		   strcasecmp(key, "DataSequenceInOrder") == 0) {
		bool yes = false;

		if (val == NULL || keel_parse_bool(val, &yes) != 0 || !yes) {
			CONF_ERR(file, line, "iSCSI", key, "only Yes is supported");
			return -EINVAL;
		}
	} else if (strcasecmp(key, "Comment") != 0) {
		KEEL_WARNLOG("%s:%d: [iSCSI] %s: unknown key, ignored\n", file, line, key);
	}
	return 0;
}

static int
conf_read_iscsi(struct keel_conf *conf, struct keel_conf_section *sp)
{
	const char *file = keel_conf_get_name(conf), *json, *ini;
	struct iscsi_opts o = g_iscsi.opts;
	struct keel_conf_item *item;
	char err[ISCSI_ERR_LEN];
	int line, rc;

	for (item = keel_conf_section_first_item(sp); item != NULL;
	     item = keel_conf_item_next(item)) {
		rc = conf_iscsi_item(&o, item, file);
		if (rc != 0) {
			return rc;
		}
	}
	rc = iscsi_opts_check(&o, &json, &ini, err, sizeof(err));
	if (rc != 0) {
		line = keel_conf_section_get_item_line(sp, ini, 0);
		CONF_ERR(file, line ? line : keel_conf_section_get_line(sp), "iSCSI", ini, "%s",
			 err);
		return rc;
	}
	g_iscsi.opts = o;
	return 0;
}

/* After the auth groups are known: a discovery group that does not exist is an error when
 * CHAP is required, otherwise it is dropped with a warning. */
static int
conf_check_discovery_group(struct keel_conf *conf, struct keel_conf_section *sp)
{
	struct iscsi_opts *o = &g_iscsi.opts;
	const char *file = conf ? keel_conf_get_name(conf) : "";
	int line = sp ? keel_conf_section_get_item_line(sp, "DiscoveryAuthGroup", 0) : 0;

	if (o->chap_group <= 0 || iscsi_auth_grp_find(o->chap_group) != NULL) {
		return 0;
	}
	if (o->require_chap) {
		KEEL_ERRLOG("%s:%d: [iSCSI] DiscoveryAuthGroup: auth group %d does not exist\n",
			    file, line, o->chap_group);
		return -EINVAL;
	}
	KEEL_WARNLOG("discovery auth group %d does not exist: discovery sessions use none\n",
		     o->chap_group);
	o->chap_group = 0;
	return 0;
}

static int
conf_load_auth_file(void)
{
	int rc = iscsi_auth_file_load(g_iscsi.opts.authfile);

	if (rc == -ENOENT) {
		if (strcmp(g_iscsi.opts.authfile, ISCSI_DEFAULT_AUTHFILE) != 0 &&
		    g_iscsi.opts.authfile[0] != '\0') {
			KEEL_NOTICELOG("AuthFile %s does not exist: no CHAP secrets from it\n",
				       g_iscsi.opts.authfile);
		}
		return 0;
	}
	return rc;
}

static int
conf_section_tag(struct keel_conf_section *sp, const char *file, int max)
{
	int tag = keel_conf_section_get_num(sp);

	if (tag <= 0 || tag > max) {
		CONF_ERR(file, keel_conf_section_get_line(sp), keel_conf_section_get_name(sp), "",
			 "the section number must be 1 to %d", max);
		return -EINVAL;
	}
	return tag;
}

int
iscsi_portal_grp_register(struct iscsi_portal_grp *pg)
{
	int rc = 0;

	pthread_mutex_lock(&g_iscsi.lock);
	if (iscsi_portal_grp_find(pg->tag) != NULL) {
		rc = -EEXIST;
	} else {
		TAILQ_INSERT_TAIL(&g_iscsi.portal_grps, pg, link);
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	return rc;
}

int
iscsi_portal_grp_unregister(struct iscsi_portal_grp *pg)
{
	pthread_mutex_lock(&g_iscsi.lock);
	if (pg->refs > 0) {
		pthread_mutex_unlock(&g_iscsi.lock);
		return -EBUSY;
	}
	TAILQ_REMOVE(&g_iscsi.portal_grps, pg, link);
	pthread_mutex_unlock(&g_iscsi.lock);
	iscsi_portal_grp_destroy(pg);
	return 0;
}

/* [PortalGroupN]: "Portal <label> <host>[:<port>][@<cpumask>]", repeatable. */
static int
conf_read_portal_group(struct keel_conf *conf, struct keel_conf_section *sp)
{
	const char *file = keel_conf_get_name(conf), *sect = keel_conf_section_get_name(sp);
	char host[KEEL_SOCK_ADDR_LEN];
	struct iscsi_portal_grp *pg;
	struct keel_conf_item *item;
	struct keel_cpuset mask;
	uint16_t port;
	int tag, rc, n = 0;

	tag = conf_section_tag(sp, file, 65535);
	if (tag < 0) {
		return tag;
	}
	pg = iscsi_portal_grp_create(tag, false);
	if (pg == NULL) {
		return -ENOMEM;
	}
	for (item = keel_conf_section_first_item(sp); item != NULL;
	     item = keel_conf_item_next(item)) {
		const char *key = keel_conf_item_get_key(item);
		int nv = keel_conf_item_get_val_count(item), line = keel_conf_item_get_line(item);
		const char *val = keel_conf_item_get_val(item, nv - 1);

		if (strcasecmp(key, "Comment") == 0) {
			continue;
		}
		if (strcasecmp(key, "Portal") != 0) {
			KEEL_WARNLOG("%s:%d: [%s] %s: unknown key, ignored\n", file, line, sect,
				     key);
			continue;
		}
		if (nv < 1 || nv > 2 ||
		    iscsi_portal_parse(val, host, sizeof(host), &port, &mask) != 0) {
			CONF_ERR(file, line, sect, key,
				 "expected Portal <label> "
				 "<host>[:<port>][@<cpumask>] (IPv6 as [addr]:port)");
			rc = -EINVAL;
			goto err;
		}
		rc = iscsi_portal_grp_add_portal(pg, host, port, &mask);
		if (rc != 0) {
			CONF_ERR(file, line, sect, key, "%s",
				 rc == -EEXIST ? "this portal is listed twice"
					       : "too many portals");
			goto err;
		}
		n++;
	}
	if (n == 0) {
		CONF_ERR(file, keel_conf_section_get_line(sp), sect, "", "no Portal");
		rc = -EINVAL;
		goto err;
	}
	rc = iscsi_portal_grp_register(pg);
	if (rc != 0) {
		CONF_ERR(file, keel_conf_section_get_line(sp), sect, "",
			 "portal group %d is defined twice", tag);
		goto err;
	}
	return 0;
err:
	iscsi_portal_grp_destroy(pg);
	return rc;
}

/* [InitiatorGroupN]: InitiatorName and Netmask lines (each with one or more values). */
static int
conf_read_initiator_group(struct keel_conf *conf, struct keel_conf_section *sp)
{
	const char *file = keel_conf_get_name(conf), *sect = keel_conf_section_get_name(sp), *bad;
	struct iscsi_init_grp *ig;
	struct keel_conf_item *item;
	char err[ISCSI_ERR_LEN];
	int tag, rc;

	tag = conf_section_tag(sp, file, INT32_MAX);
	if (tag < 0) {
		return tag;
	}
	ig = iscsi_init_grp_create(tag);
	if (ig == NULL) {
		return -ENOMEM;
	}
	for (item = keel_conf_section_first_item(sp); item != NULL;
	     item = keel_conf_item_next(item)) {
		const char *key = keel_conf_item_get_key(item), *vals[64];
		int i, nv = keel_conf_item_get_val_count(item),
		       line = keel_conf_item_get_line(item);
		bool is_name = strcasecmp(key, "InitiatorName") == 0;

		if (strcasecmp(key, "Comment") == 0) {
			continue;
		}
		if (!is_name && strcasecmp(key, "Netmask") != 0) {
			KEEL_WARNLOG("%s:%d: [%s] %s: unknown key, ignored\n", file, line, sect,
				     key);
			continue;
		}
		if (nv < 1 || nv > (int)KEEL_COUNTOF(vals)) {
			CONF_ERR(file, line, sect, key, "1 to %zu values", KEEL_COUNTOF(vals));
			rc = -EINVAL;
			goto err;
		}
		for (i = 0; i < nv; i++) {
			vals[i] = keel_conf_item_get_val(item, i);
		}
		rc = iscsi_init_grp_change(ig, true, is_name ? vals : NULL, is_name ? nv : 0,
					   is_name ? NULL : vals, is_name ? 0 : nv, &bad, err,
					   sizeof(err));
		if (rc != 0) {
			CONF_ERR(file, line, sect, key, "%s", err);
			goto err;
		}
	}
	if (ig->ninitiators == 0 || ig->nnetmasks == 0) {
		CONF_ERR(file, keel_conf_section_get_line(sp), sect, "",
			 "at least one InitiatorName and one Netmask are needed (ANY allows all)");
		rc = -EINVAL;
		goto err;
	}
	rc = iscsi_init_grp_register(ig);
	if (rc != 0) {
		CONF_ERR(file, keel_conf_section_get_line(sp), sect, "",
			 "initiator group %d is defined twice", tag);
		goto err;
	}
	return 0;
err:
	iscsi_init_grp_destroy(ig);
	return rc;
}

/* What a [TargetNodeN] section says, before the target is built. */
struct conf_target {
	struct iscsi_tgt_node_params p;
	int32_t pg_tags[ISCSI_MAX_PORTALS];
	int32_t ig_tags[ISCSI_MAX_PORTALS];
	const char *bdev_names[ISCSI_MAX_LUN];
	int lun_ids[ISCSI_MAX_LUN];
	int auth_group_line;
};

static int
conf_target_lun(struct conf_target *t, struct keel_conf_item *item, const char *key,
		const char *file, const char *sect)
{
	int line = keel_conf_item_get_line(item), i;
	const char *bdev = keel_conf_item_get_val(item, 0);
	uint32_t id;

	if (keel_parse_u32(key + 3, &id) != 0 || id >= ISCSI_MAX_LUN) {
		CONF_ERR(file, line, sect, key, "LUN numbers are LUN0 to LUN%d", ISCSI_MAX_LUN - 1);
		return -EINVAL;
	}
	if (bdev == NULL) {
		CONF_ERR(file, line, sect, key, "expected LUN%u <bdev name>", id);
		return -EINVAL;
	}
	for (i = 0; i < t->p.num_luns; i++) {
		if (t->lun_ids[i] == (int)id) {
			CONF_ERR(file, line, sect, key, "LUN%u is given twice", id);
			return -EINVAL;
		}
	}
	t->bdev_names[t->p.num_luns] = bdev;
	t->lun_ids[t->p.num_luns++] = (int)id;
	return 0;
}

static int
conf_target_mapping(struct conf_target *t, struct keel_conf_item *item, const char *file,
		    const char *sect)
{
	const char *pg = keel_conf_item_get_val(item, 0), *ig = keel_conf_item_get_val(item, 1);
	int line = keel_conf_item_get_line(item);

	if (t->p.num_maps >= ISCSI_MAX_PORTALS) {
		CONF_ERR(file, line, sect, "Mapping", "too many maps");
		return -EINVAL;
	}
	if (pg == NULL || ig == NULL ||
	    conf_parse_group_ref(pg, "PortalGroup", &t->pg_tags[t->p.num_maps]) != 0 ||
	    conf_parse_group_ref(ig, "InitiatorGroup", &t->ig_tags[t->p.num_maps]) != 0 ||
	    t->pg_tags[t->p.num_maps] == 0 || t->ig_tags[t->p.num_maps] == 0) {
		CONF_ERR(file, line, sect, "Mapping",
			 "expected Mapping PortalGroup<N> InitiatorGroup<M>");
		return -EINVAL;
	}
	t->p.num_maps++;
	return 0;
}

static int
conf_target_digest(struct conf_target *t, struct keel_conf_item *item, const char *file,
		   const char *sect)
{
	int i, nv = keel_conf_item_get_val_count(item);

	for (i = 0; i < nv; i++) {
		const char *v = keel_conf_item_get_val(item, i);

		if (strcasecmp(v, "Header") == 0) {
			t->p.header_digest = true;
		} else if (strcasecmp(v, "Data") == 0) {
			t->p.data_digest = true;
		} else if (strcasecmp(v, "Auto") != 0) {
			CONF_ERR(file, keel_conf_item_get_line(item), sect, "UseDigest",
				 "'%s' is not Header, Data or Auto", v);
			return -EINVAL;
		}
	}
	return 0;
}

static int
conf_target_item(struct conf_target *t, struct keel_conf_item *item, const char *file,
		 const char *sect)
{
	const char *key = keel_conf_item_get_key(item), *val = keel_conf_item_get_val(item, 0);
	int line = keel_conf_item_get_line(item);
	uint32_t u;

	if (strcasecmp(key, "TargetName") == 0) {
		t->p.name = val;
	} else if (strcasecmp(key, "TargetAlias") == 0) {
		t->p.alias = val;
	} else if (strcasecmp(key, "Mapping") == 0) {
		return conf_target_mapping(t, item, file, sect);
	} else if (strcasecmp(key, "AuthMethod") == 0) {
		if (conf_parse_auth_method(item, &t->p.disable_chap, &t->p.require_chap,
					   &t->p.mutual_chap) != 0) {
			CONF_ERR(file, line, sect, key, "expected None, Auto, CHAP or Mutual");
			return -EINVAL;
		}
	} else if (strcasecmp(key, "AuthGroup") == 0) {
		if (val == NULL || conf_parse_group_ref(val, "AuthGroup", &t->p.chap_group) != 0) {
			CONF_ERR(file, line, sect, key, "expected AuthGroup<N> or None");
			return -EINVAL;
		}
		t->auth_group_line = line;
	} else if (strcasecmp(key, "UseDigest") == 0) {
		return conf_target_digest(t, item, file, sect);
	} else if (strcasecmp(key, "QueueDepth") == 0) {
		if (val == NULL || keel_parse_u32(val, &u) != 0 || u == 0 ||
		    u > ISCSI_MAX_QUEUE_DEPTH) {
			CONF_ERR(file, line, sect, key, "expected 1 to %d", ISCSI_MAX_QUEUE_DEPTH);
			return -EINVAL;
		}
		t->p.queue_depth = (int32_t)u;
	} else if (strncasecmp(key, "LUN", 3) == 0 && isdigit((unsigned char)key[3])) {
		return conf_target_lun(t, item, key, file, sect);
	} else if (strcasecmp(key, "Comment") != 0) {
		KEEL_WARNLOG("%s:%d: [%s] %s: unknown key, ignored\n", file, line, sect, key);
	}
	return 0;
}

static int
conf_read_target_node(struct keel_conf *conf, struct keel_conf_section *sp)
{
	const char *file = keel_conf_get_name(conf), *sect = keel_conf_section_get_name(sp);
	int sline = keel_conf_section_get_line(sp), i, tag, rc;
	struct keel_conf_item *item;
	char err[ISCSI_ERR_LEN];
	struct conf_target *t;
	bool has_lun0 = false;

	tag = conf_section_tag(sp, file, INT32_MAX);
	if (tag < 0) {
		return tag;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		return -ENOMEM;
	}
	t->p.queue_depth = (int32_t)g_iscsi.opts.max_queue_depth;
	t->p.num = tag;
	t->p.pg_tags = t->pg_tags;
	t->p.ig_tags = t->ig_tags;
	t->p.bdev_names = t->bdev_names;
	t->p.lun_ids = t->lun_ids;
	for (item = keel_conf_section_first_item(sp); item != NULL;
	     item = keel_conf_item_next(item)) {
		rc = conf_target_item(t, item, file, sect);
		if (rc != 0) {
			goto out;
		}
	}
	for (i = 0; i < t->p.num_luns; i++) {
		has_lun0 |= t->lun_ids[i] == 0;
	}
	rc = -EINVAL;
	if (t->p.name == NULL) {
		CONF_ERR(file, sline, sect, "", "TargetName is missing");
	} else if (t->p.num_maps == 0) {
		CONF_ERR(file, sline, sect, "", "no Mapping PortalGroup<N> InitiatorGroup<M>");
	} else if (!has_lun0) {
		CONF_ERR(file, sline, sect, "", "LUN0 is missing");
	} else {
		rc = 0;
	}
	if (rc != 0) {
		goto out;
	}
	if (t->p.chap_group > 0 && iscsi_auth_grp_find(t->p.chap_group) == NULL) {
		if (t->p.require_chap) {
			CONF_ERR(file, t->auth_group_line, sect, "AuthGroup",
				 "auth group %d does not exist (see AuthFile)", t->p.chap_group);
			rc = -EINVAL;
			goto out;
		}
		KEEL_WARNLOG("%s:%d: [%s] AuthGroup: auth group %d does not exist: the target "
			     "uses none\n",
			     file, t->auth_group_line, sect, t->p.chap_group);
		t->p.chap_group = 0;
	}
	rc = iscsi_tgt_node_create(&t->p, err, sizeof(err), NULL);
	if (rc != 0) {
		CONF_ERR(file, sline, sect, "", "%s", err);
	}
out:
	free(t);
	return rc;
}

/* Each section whose name starts with prefix, in file order. */
static int
conf_read_sections(struct keel_conf *conf, const char *prefix,
		   int (*fn)(struct keel_conf *conf, struct keel_conf_section *sp))
{
	struct keel_conf_section *sp;
	int rc;

	for (sp = keel_conf_first_section(conf); sp != NULL; sp = keel_conf_next_section(sp)) {
		if (keel_conf_section_match_prefix(sp, prefix)) {
			rc = fn(conf, sp);
			if (rc != 0) {
				return rc;
			}
		}
	}
	return 0;
}

static int
conf_open_portal_groups(void)
{
	struct iscsi_portal_grp *pg;
	int rc;

	TAILQ_FOREACH (pg, &g_iscsi.portal_grps, link) {
		rc = iscsi_portal_grp_open(pg);
		if (rc != 0) {
			KEEL_ERRLOG("[PortalGroup%d]: cannot listen: %s\n", pg->tag,
				    keel_strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static struct keel_conf_section *
conf_find_iscsi_section(struct keel_conf *conf)
{
	struct keel_conf_section *sp;

	for (sp = keel_conf_first_section(conf); sp != NULL; sp = keel_conf_next_section(sp)) {
		if (strcasecmp(keel_conf_section_get_name(sp), "iSCSI") == 0) {
			return sp;
		}
	}
	return NULL;
}

int
iscsi_read_legacy_config(void)
{
	struct keel_conf *conf = keel_conf_get_default();
	struct keel_conf_section *sp = conf ? conf_find_iscsi_section(conf) : NULL;
	int rc = 0;

	if (sp != NULL) {
		rc = conf_read_iscsi(conf, sp);
	}
	if (rc == 0) {
		rc = conf_load_auth_file();
	}
	if (rc == 0 && conf != NULL) {
		rc = iscsi_auth_grps_from_conf(conf, false);
	}
	if (rc == 0) {
		rc = conf_check_discovery_group(conf, sp);
	}
	if (rc == 0 && conf != NULL) {
		rc = conf_read_sections(conf, "PortalGroup", conf_read_portal_group);
	}
	if (rc == 0 && conf != NULL) {
		rc = conf_read_sections(conf, "InitiatorGroup", conf_read_initiator_group);
	}
	if (rc == 0 && conf != NULL) {
		rc = conf_read_sections(conf, "TargetNode", conf_read_target_node);
	}
	if (rc == 0) {
		rc = conf_open_portal_groups();
	}
	if (rc != 0) {
		iscsi_objects_fini();
		return rc;
	}
	return 0;
}

void
iscsi_objects_fini(void)
{
	struct iscsi_portal_grp *pg;

	iscsi_tgt_nodes_destroy_all();
	for (;;) {
		pthread_mutex_lock(&g_iscsi.lock);
		pg = TAILQ_FIRST(&g_iscsi.portal_grps);
		if (pg != NULL) {
			TAILQ_REMOVE(&g_iscsi.portal_grps, pg, link);
		}
		pthread_mutex_unlock(&g_iscsi.lock);
		if (pg == NULL) {
			break;
		}
		iscsi_portal_grp_destroy(pg);
	}
	iscsi_init_grps_destroy_all();
	iscsi_auth_grps_destroy_all();
}

/*
 * JSON: objects as the RPCs take and show them, and the configuration as RPC calls.
 */
struct json_object *
iscsi_opts_to_json(const struct iscsi_opts *o)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "node_base", json_object_new_string(o->nodebase));
	json_object_object_add(j, "auth_file", json_object_new_string(o->authfile));
	json_object_object_add(j, "max_sessions", json_object_new_int64(o->max_sessions));
	json_object_object_add(j, "max_connections_per_session",
			       json_object_new_int64(o->max_connections_per_session));
	json_object_object_add(j, "max_queue_depth", json_object_new_int64(o->max_queue_depth));
	json_object_object_add(j, "default_time2wait", json_object_new_int64(o->default_time2wait));
	json_object_object_add(j, "default_time2retain",
			       json_object_new_int64(o->default_time2retain));
	json_object_object_add(j, "first_burst_length",
			       json_object_new_int64(o->first_burst_length));
	json_object_object_add(j, "max_burst_length", json_object_new_int64(o->max_burst_length));
	json_object_object_add(j, "max_recv_data_segment_length",
			       json_object_new_int64(o->max_recv_data_segment_length));
	json_object_object_add(j, "immediate_data", json_object_new_boolean(o->immediate_data));
	json_object_object_add(j, "initial_r2t", json_object_new_boolean(o->initial_r2t));
	json_object_object_add(j, "error_recovery_level",
			       json_object_new_int64(o->error_recovery_level));
	json_object_object_add(j, "allow_duplicated_isid",
			       json_object_new_boolean(o->allow_duplicated_isid));
	json_object_object_add(j, "nop_timeout", json_object_new_int64(o->nop_timeout));
	json_object_object_add(j, "nop_in_interval", json_object_new_int64(o->nop_in_interval));
	json_object_object_add(j, "max_r2t_per_connection",
			       json_object_new_int64(o->max_r2t_per_connection));
	json_object_object_add(j, "disable_chap", json_object_new_boolean(o->disable_chap));
	json_object_object_add(j, "require_chap", json_object_new_boolean(o->require_chap));
	json_object_object_add(j, "mutual_chap", json_object_new_boolean(o->mutual_chap));
	json_object_object_add(j, "chap_group", json_object_new_int(o->chap_group));
	return j;
}

struct json_object *
iscsi_auth_grp_to_json(const struct iscsi_auth_grp *ag)
{
	struct json_object *j = json_object_new_object(), *secrets = json_object_new_array();
	const struct iscsi_chap_secret *s;

	json_object_object_add(j, "tag", json_object_new_int(ag->tag));
	TAILQ_FOREACH (s, &ag->secrets, link) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "user", json_object_new_string(s->user));
		json_object_object_add(o, "secret", json_object_new_string(s->secret));
		if (s->muser[0] != '\0') {
			json_object_object_add(o, "muser", json_object_new_string(s->muser));
			json_object_object_add(o, "msecret", json_object_new_string(s->msecret));
		}
		json_object_array_add(secrets, o);
	}
	json_object_object_add(j, "secrets", secrets);
	return j;
}

/* Ports are strings, as in SPDK; IPv6 hosts in brackets. for_config adds "wait". */
struct json_object *
iscsi_portal_grp_to_json(const struct iscsi_portal_grp *pg, bool for_config)
{
	struct json_object *j = json_object_new_object(), *portals = json_object_new_array();
	const struct iscsi_portal *p;
	char host[KEEL_SOCK_ADDR_LEN + 2], port[8], mask[300];

	TAILQ_FOREACH (p, &pg->portals, link) {
		struct json_object *o = json_object_new_object();

		iscsi_host_bracket(p->host, host, sizeof(host));
		snprintf(port, sizeof(port), "%u", p->port);
		json_object_object_add(o, "host", json_object_new_string(host));
		json_object_object_add(o, "port", json_object_new_string(port));
		if (keel_cpuset_count(&p->cpumask) > 0) {
			json_object_object_add(o, "cpumask",
					       json_object_new_string(
						       keel_cpuset_fmt(&p->cpumask, mask,
								       sizeof(mask))));
		}
		json_object_array_add(portals, o);
	}
	json_object_object_add(j, "tag", json_object_new_int(pg->tag));
	json_object_object_add(j, "portals", portals);
	json_object_object_add(j, "private", json_object_new_boolean(pg->is_private));
	if (for_config) {
		json_object_object_add(j, "wait", json_object_new_boolean(!pg->started));
	}
	return j;
}

struct json_object *
iscsi_init_grp_to_json(const struct iscsi_init_grp *ig)
{
	struct json_object *j = json_object_new_object(), *names = json_object_new_array();
	struct json_object *masks = json_object_new_array();
	const struct iscsi_initiator_name *n;
	const struct iscsi_netmask *m;

	TAILQ_FOREACH (n, &ig->initiators, link) {
		json_object_array_add(names, json_object_new_string(n->name));
	}
	TAILQ_FOREACH (m, &ig->netmasks, link) {
		json_object_array_add(masks, json_object_new_string(m->mask));
	}
	json_object_object_add(j, "tag", json_object_new_int(ig->tag));
	json_object_object_add(j, "initiators", names);
	json_object_object_add(j, "netmasks", masks);
	return j;
}

struct json_object *
iscsi_tgt_node_to_json(struct iscsi_tgt_node *target)
{
	struct json_object *j = json_object_new_object(), *maps = json_object_new_array();
	struct json_object *luns = json_object_new_array();
	const struct iscsi_pg_map *map;
	struct keel_scsi_lun *lun;

	json_object_object_add(j, "name", json_object_new_string(target->name));
	json_object_object_add(j, "alias_name", json_object_new_string(target->alias));
	TAILQ_FOREACH (map, &target->pg_maps, link) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "pg_tag", json_object_new_int(map->pg_tag));
		json_object_object_add(o, "ig_tag", json_object_new_int(map->ig_tag));
		json_object_array_add(maps, o);
	}
	json_object_object_add(j, "pg_ig_maps", maps);
	for (lun = keel_scsi_dev_get_first_lun(target->dev); lun != NULL;
	     lun = keel_scsi_dev_get_next_lun(lun)) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "bdev_name",
				       json_object_new_string(keel_scsi_lun_get_bdev_name(lun)));
		json_object_object_add(o, "lun_id",
				       json_object_new_int64((int64_t)keel_scsi_lun_get_id(lun)));
		json_object_array_add(luns, o);
	}
	json_object_object_add(j, "luns", luns);
	json_object_object_add(j, "queue_depth", json_object_new_int64(target->queue_depth));
	json_object_object_add(j, "disable_chap", json_object_new_boolean(target->disable_chap));
	json_object_object_add(j, "require_chap", json_object_new_boolean(target->require_chap));
	json_object_object_add(j, "mutual_chap", json_object_new_boolean(target->mutual_chap));
	json_object_object_add(j, "chap_group", json_object_new_int(target->chap_group));
	json_object_object_add(j, "header_digest", json_object_new_boolean(target->header_digest));
	json_object_object_add(j, "data_digest", json_object_new_boolean(target->data_digest));
	return j;
}

static void
config_add_call(struct json_object *array, const char *method, struct json_object *params)
{
	struct json_object *call = json_object_new_object();

	json_object_object_add(call, "method", json_object_new_string(method));
	json_object_object_add(call, "params", params);
	json_object_array_add(array, call);
}

static void
config_write_portal_grp(struct json_object *array, const struct iscsi_portal_grp *pg)
{
	struct json_object *auth;

	config_add_call(array, "iscsi_create_portal_group", iscsi_portal_grp_to_json(pg, true));
	if (!pg->auth_set) {
		return;
	}
	auth = json_object_new_object();
	json_object_object_add(auth, "tag", json_object_new_int(pg->tag));
	json_object_object_add(auth, "disable_chap", json_object_new_boolean(pg->disable_chap));
	json_object_object_add(auth, "require_chap", json_object_new_boolean(pg->require_chap));
	json_object_object_add(auth, "mutual_chap", json_object_new_boolean(pg->mutual_chap));
	json_object_object_add(auth, "chap_group", json_object_new_int(pg->chap_group));
	config_add_call(array, "iscsi_portal_group_set_auth", auth);
}

static void
config_write_target(struct json_object *array, struct iscsi_tgt_node *target)
{
	const struct iscsi_pg_map *map, *prev;
	struct json_object *r;
	char host[KEEL_SOCK_ADDR_LEN + 2], port[8];

	if (keel_scsi_dev_get_first_lun(target->dev) == NULL) {
		/* Every LUN went away (deleted or hot-removed bdevs). iscsi_create_target_node
		 * needs one, so writing the node would make the whole configuration fail to load. */
		KEEL_WARNLOG("target %s has no LUN left: not written to the configuration\n",
			     target->name);
		return;
	}
	config_add_call(array, "iscsi_create_target_node", iscsi_tgt_node_to_json(target));
	TAILQ_FOREACH (map, &target->pg_maps, link) {
		if (map->redirect_host[0] == '\0') {
			continue;
		}
		for (prev = TAILQ_FIRST(&target->pg_maps); prev != map;
		     prev = TAILQ_NEXT(prev, link)) {
			if (prev->pg_tag == map->pg_tag) {
				break;
			}
		}
		if (prev != map) {
			continue;
		}
		iscsi_host_bracket(map->redirect_host, host, sizeof(host));
		snprintf(port, sizeof(port), "%u", map->redirect_port);
		r = json_object_new_object();
		json_object_object_add(r, "name", json_object_new_string(target->name));
		json_object_object_add(r, "pg_tag", json_object_new_int(map->pg_tag));
		json_object_object_add(r, "redirect_host", json_object_new_string(host));
		json_object_object_add(r, "redirect_port", json_object_new_string(port));
		config_add_call(array, "iscsi_target_node_set_redirect", r);
	}
}

/* Options (discovery CHAP included), then the objects in the order they depend on each
 * other. Auth groups read from the AuthFile are left out: the file is read at start. */
void
iscsi_write_config_json(struct json_object *array)
{
	struct iscsi_portal_grp *pg;
	struct iscsi_init_grp *ig;
	struct iscsi_auth_grp *ag;
	struct iscsi_tgt_node *target;

	pthread_mutex_lock(&g_iscsi.lock);
	config_add_call(array, "iscsi_set_options", iscsi_opts_to_json(&g_iscsi.opts));
	TAILQ_FOREACH (ag, &g_iscsi.auth_grps, link) {
		if (!iscsi_auth_grp_is_from_file(ag->tag)) {
			config_add_call(array, "iscsi_create_auth_group",
					iscsi_auth_grp_to_json(ag));
		}
	}
	TAILQ_FOREACH (pg, &g_iscsi.portal_grps, link) {
		config_write_portal_grp(array, pg);
	}
	TAILQ_FOREACH (ig, &g_iscsi.init_grps, link) {
		config_add_call(array, "iscsi_create_initiator_group", iscsi_init_grp_to_json(ig));
	}
	TAILQ_FOREACH (target, &g_iscsi.target_nodes, link) {
		if (!target->destructing) {
			config_write_target(array, target);
		}
	}
	pthread_mutex_unlock(&g_iscsi.lock);
}
