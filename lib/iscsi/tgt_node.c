/*
 * Target nodes: an iSCSI name over a SCSI device (its LUNs are bdevs), reachable through
 * (portal group, initiator group) maps, with CHAP and digest requirements. Also SendTargets
 * (RFC 7143 Appendix C), login redirection, the latency histogram, and deletion, which asks
 * initiators to log out and waits for them before the SCSI device goes.
 */
#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/scsi.h"
#include "keel/util.h"

#include <arpa/inet.h>

#include "iscsi_objects.h"

/* How often a deletion looks whether the target's connections are gone, and how long it
 * waits for initiators to log out before dropping what is left. */
#define TGT_DELETE_POLL_US (100 * 1000)
#define TGT_DELETE_DROP_AFTER_S (ISCSI_LOGOUT_REQUEST_TIMEOUT_S + 5)

/*
 * Names.
 */
static bool
name_has_type_prefix(const char *name)
{
	return strncasecmp(name, "iqn.", 4) == 0 || strncasecmp(name, "eui.", 4) == 0 ||
	       strncasecmp(name, "naa.", 4) == 0;
}

void
iscsi_full_target_name(const char *name, char *out, size_t len)
{
	if (strchr(name, ':') != NULL || name_has_type_prefix(name)) {
		snprintf(out, len, "%s", name);
	} else {
		snprintf(out, len, "%s:%s", g_iscsi.opts.nodebase, name);
	}
}

static bool
all_hex(const char *s, size_t n)
{
	size_t i;

	if (strlen(s) != n) {
		return false;
	}
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

/* RFC 3720 3.2.6.3: iqn.yyyy-mm.<reversed domain>[:<anything>], eui.<16 hex>, naa.<16 or 32
 * hex>. Characters: letters, digits, '-', '.', ':' (and UTF-8 beyond ASCII). */
bool
iscsi_name_is_valid(const char *name)
{
	const unsigned char *p;
	size_t len;

	if (name == NULL) {
		return false;
	}
	len = strlen(name);
	if (len == 0 || len > ISCSI_MAX_NAME) {
		return false;
	}
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if (!isalnum(*p) && *p != '-' && *p != '.' && *p != ':' && *p < 0x80) {
			return false;
		}
	}
	if (strncasecmp(name, "iqn.", 4) == 0) {
		p = (const unsigned char *)name + 4;
		return len > 12 && isdigit(p[0]) && isdigit(p[1]) && isdigit(p[2]) &&
		       isdigit(p[3]) && p[4] == '-' && isdigit(p[5]) && isdigit(p[6]) &&
		       p[7] == '.';
	}
	if (strncasecmp(name, "eui.", 4) == 0) {
		return all_hex(name + 4, 16);
	}
	if (strncasecmp(name, "naa.", 4) == 0) {
		return all_hex(name + 4, 16) || all_hex(name + 4, 32);
	}
	return true;
}

/*
 * Lookup and access.
 */
struct iscsi_tgt_node *
iscsi_tgt_node_find_any(const char *name)
{
	char full[2 * ISCSI_MAX_NAME + 2];
	struct iscsi_tgt_node *target;

	if (name == NULL || strlen(name) > ISCSI_MAX_NAME) {
		return NULL;
	}
	iscsi_full_target_name(name, full, sizeof(full));
	TAILQ_FOREACH (target, &g_iscsi.target_nodes, link) {
		if (strcasecmp(target->name, full) == 0) {
			return target;
		}
	}
	return NULL;
}

struct iscsi_tgt_node *
iscsi_tgt_node_find(const char *name)
{
	struct iscsi_tgt_node *target = iscsi_tgt_node_find_any(name);

	return target != NULL && !target->destructing ? target : NULL;
}

bool
iscsi_tgt_node_has_pg(struct iscsi_tgt_node *target, int32_t pg_tag)
{
	struct iscsi_pg_map *map;

	TAILQ_FOREACH (map, &target->pg_maps, link) {
		if (map->pg_tag == pg_tag) {
			return true;
		}
	}
	return false;
}

/*
 * Through portal group pg_tag, the initiator is refused if any initiator group mapped with it
 * denies its name or address ("!entry"); otherwise it is let in if one of those groups
 * allows both its name and its address.
 */
bool
iscsi_tgt_node_access(struct iscsi_tgt_node *target, int32_t pg_tag, const char *iqn,
		      const char *addr)
{
	struct iscsi_pg_map *map;
	struct iscsi_init_grp *ig;
	bool allowed = false;

	if (target == NULL || target->destructing) {
		return false;
	}
	TAILQ_FOREACH (map, &target->pg_maps, link) {
		if (map->pg_tag != pg_tag) {
			continue;
		}
		ig = iscsi_init_grp_find(map->ig_tag);
		if (ig == NULL) {
			continue;
		}
		if (iscsi_init_grp_match_name(ig, iqn) == ISCSI_IG_DENY ||
		    iscsi_init_grp_match_addr(ig, addr) == ISCSI_IG_DENY) {
			return false;
		}
		if (iscsi_init_grp_allows(ig, iqn, addr)) {
			allowed = true;
		}
	}
	return allowed;
}

bool
iscsi_tgt_nodes_use_auth_grp(int32_t tag)
{
	struct iscsi_tgt_node *target;

	TAILQ_FOREACH (target, &g_iscsi.target_nodes, link) {
		if (target->chap_group == tag) {
			return true;
		}
	}
	return false;
}

/*
 * Creation.
 */
static void
tgt_node_lun_removed(struct keel_scsi_dev *dev, uint64_t lun_id, void *ctx)
{
	struct iscsi_tgt_node *target = ctx;

	if (target->destructing) {
		return;
	}
	KEEL_NOTICELOG("target %s: LUN %" PRIu64 " is gone\n", target->name, lun_id);
	/* Connections learn it from the unit attention the SCSI layer queued; report it now. */
	iscsi_tgt_node_report_ua(target);
}

static int
tgt_node_add_port(struct iscsi_tgt_node *target, int32_t pg_tag)
{
	char name[ISCSI_MAX_NAME + 32];
	int rc;

	snprintf(name, sizeof(name), "%s,t,0x%04x", target->name, (unsigned int)pg_tag);
	rc = keel_scsi_dev_add_port(target->dev, (uint64_t)pg_tag, name);
	/* A port kept for sessions through a group whose last map went is reused. */
	return rc == -EEXIST ? 0 : rc;
}

static void
tgt_node_free(struct iscsi_tgt_node *target)
{
	struct iscsi_pg_map *map;

	while ((map = TAILQ_FIRST(&target->pg_maps)) != NULL) {
		TAILQ_REMOVE(&target->pg_maps, map, link);
		free(map);
	}
	free(target->histogram);
	free(target);
}

/* Maps as arrays: each pg and ig exists, no pair twice. */
static int
tgt_node_check_maps(struct iscsi_tgt_node *target, const int32_t *pg_tags, const int32_t *ig_tags,
		    int n, char *err, size_t err_len)
{
	struct iscsi_pg_map *map;
	int i, j;

	for (i = 0; i < n; i++) {
		if (iscsi_portal_grp_find(pg_tags[i]) == NULL) {
			snprintf(err, err_len,
				 "Invalid parameter 'pg_ig_maps': portal group %d does not exist",
				 pg_tags[i]);
			return -ENODEV;
		}
		if (iscsi_init_grp_find(ig_tags[i]) == NULL) {
			snprintf(err, err_len,
				 "Invalid parameter 'pg_ig_maps': initiator group %d "
				 "does not exist",
				 ig_tags[i]);
			return -ENODEV;
		}
		for (j = 0; j < i; j++) {
			if (pg_tags[j] == pg_tags[i] && ig_tags[j] == ig_tags[i]) {
				break;
			}
		}
		if (j < i) {
			goto dup;
		}
		if (target == NULL) {
			continue;
		}
		TAILQ_FOREACH (map, &target->pg_maps, link) {
			if (map->pg_tag == pg_tags[i] && map->ig_tag == ig_tags[i]) {
				goto dup;
			}
		}
	}
	return 0;
dup:
	snprintf(err, err_len, "Invalid parameter 'pg_ig_maps': %d:%d is mapped twice", pg_tags[i],
		 ig_tags[i]);
	return -EEXIST;
}

static int
tgt_node_check_luns(const struct iscsi_tgt_node_params *p, char *err, size_t err_len)
{
	int i, j;

	if (p->num_luns < 1 || p->num_luns > ISCSI_MAX_LUN) {
		snprintf(err, err_len, "Invalid parameter 'luns': 1 to %d LUNs", ISCSI_MAX_LUN);
		return -EINVAL;
	}
	for (i = 0; i < p->num_luns; i++) {
		if (p->lun_ids[i] < 0 || p->lun_ids[i] >= ISCSI_MAX_LUN) {
			snprintf(err, err_len, "Invalid parameter 'luns': LUN id %d is not 0 to %d",
				 p->lun_ids[i], ISCSI_MAX_LUN - 1);
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			if (p->lun_ids[j] == p->lun_ids[i]) {
				snprintf(err, err_len,
					 "Invalid parameter 'luns': LUN id %d is used twice",
					 p->lun_ids[i]);
				return -EINVAL;
			}
		}
		if (p->bdev_names[i] == NULL || keel_bdev_get_by_name(p->bdev_names[i]) == NULL) {
			snprintf(err, err_len, "Invalid parameter 'luns': bdev '%s' does not exist",
				 p->bdev_names[i] ? p->bdev_names[i] : "");
			return -ENODEV;
		}
	}
	return 0;
}

/* full: room for the NodeBase, ':' and a name, each up to ISCSI_MAX_NAME. */
#define TGT_FULL_NAME_LEN (2 * ISCSI_MAX_NAME + 2)

static int
tgt_node_check_params(const struct iscsi_tgt_node_params *p, char *full, char *err, size_t err_len)
{
	const char *bad;
	char why[ISCSI_ERR_LEN];
	int rc;

	if (p->name == NULL || p->name[0] == '\0' || strlen(p->name) > ISCSI_MAX_NAME) {
		snprintf(err, err_len, "Invalid parameter 'name': 1 to %d bytes", ISCSI_MAX_NAME);
		return -EINVAL;
	}
	iscsi_full_target_name(p->name, full, TGT_FULL_NAME_LEN);
	if (!iscsi_name_is_valid(full)) {
		snprintf(err, err_len,
			 "Invalid parameter 'name': '%s' is not a valid iSCSI name "
			 "(at most %d bytes of letters, digits, '-', '.', ':'; iqn.yyyy-mm.domain, "
			 "eui. or naa. form)",
			 full, ISCSI_MAX_NAME);
		return -EINVAL;
	}
	if (iscsi_tgt_node_find_any(full) != NULL) {
		snprintf(err, err_len, "Invalid parameter 'name': target node '%s' already exists",
			 full);
		return -EEXIST;
	}
	if (p->alias != NULL && strlen(p->alias) > ISCSI_MAX_ALIAS) {
		snprintf(err, err_len, "Invalid parameter 'alias_name': at most %d bytes",
			 ISCSI_MAX_ALIAS);
		return -EINVAL;
	}
	if (p->num_maps < 1) {
		snprintf(err, err_len,
			 "Invalid parameter 'pg_ig_maps': at least one map is needed");
		return -EINVAL;
	}
	rc = tgt_node_check_maps(NULL, p->pg_tags, p->ig_tags, p->num_maps, err, err_len);
	if (rc == 0) {
		rc = tgt_node_check_luns(p, err, err_len);
	}
	if (rc != 0) {
		return rc;
	}
	if (p->queue_depth < 1 || p->queue_depth > ISCSI_MAX_QUEUE_DEPTH) {
		snprintf(err, err_len, "Invalid parameter 'queue_depth': %d is not 1 to %d",
			 p->queue_depth, ISCSI_MAX_QUEUE_DEPTH);
		return -EINVAL;
	}
	rc = iscsi_chap_params_check(p->disable_chap, p->require_chap, p->mutual_chap,
				     p->chap_group, true, &bad, why, sizeof(why));
	if (rc != 0) {
		snprintf(err, err_len, "Invalid parameter '%s': %s", bad, why);
	}
	return rc;
}

static int
tgt_node_free_num(void)
{
	struct iscsi_tgt_node *target;
	int num;

	for (num = 1;; num++) {
		TAILQ_FOREACH (target, &g_iscsi.target_nodes, link) {
			if (target->num == num) {
				break;
			}
		}
		if (target == NULL) {
			return num;
		}
	}
}

/* The maps, one SCSI target port per portal group. */
static int
tgt_node_build_maps(struct iscsi_tgt_node *target, const int32_t *pg_tags, const int32_t *ig_tags,
		    int n)
{
	struct iscsi_pg_map *map;
	int i, rc;

	for (i = 0; i < n; i++) {
		map = calloc(1, sizeof(*map));
		if (map == NULL) {
			return -ENOMEM;
		}
		map->pg_tag = pg_tags[i];
		map->ig_tag = ig_tags[i];
		TAILQ_INSERT_TAIL(&target->pg_maps, map, link);
		rc = tgt_node_add_port(target, pg_tags[i]);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

/* Count the maps in their groups' refs (lock held). */
static void
tgt_node_ref_map(const struct iscsi_pg_map *map, int delta)
{
	struct iscsi_portal_grp *pg = iscsi_portal_grp_find(map->pg_tag);
	struct iscsi_init_grp *ig = iscsi_init_grp_find(map->ig_tag);

	if (pg != NULL) {
		pg->refs += delta;
	}
	if (ig != NULL) {
		ig->refs += delta;
	}
}

static void
tgt_node_destruct_done(void *cb_arg, int rc)
{
	tgt_node_free(cb_arg);
}

int
iscsi_tgt_node_create(const struct iscsi_tgt_node_params *p, char *err, size_t err_len,
		      struct iscsi_tgt_node **out)
{
	char full[TGT_FULL_NAME_LEN];
	struct iscsi_tgt_node *target;
	struct iscsi_pg_map *map;
	int rc;

	rc = tgt_node_check_params(p, full, err, err_len);
	if (rc != 0) {
		return rc;
	}
	target = calloc(1, sizeof(*target));
	if (target == NULL) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	TAILQ_INIT(&target->pg_maps);
	keel_strlcpy(target->name, full, sizeof(target->name));
	keel_strlcpy(target->alias, p->alias ? p->alias : "", sizeof(target->alias));
	target->queue_depth = (uint32_t)p->queue_depth;
	if (target->queue_depth > g_iscsi.opts.max_queue_depth) {
		KEEL_NOTICELOG("target %s: queue depth %u is above MaxQueueDepth: %u is used\n",
			       target->name, target->queue_depth, g_iscsi.opts.max_queue_depth);
		target->queue_depth = g_iscsi.opts.max_queue_depth;
	}
	target->disable_chap = p->disable_chap;
	target->require_chap = p->require_chap;
	target->mutual_chap = p->mutual_chap;
	target->chap_group = p->chap_group;
	target->header_digest = p->header_digest;
	target->data_digest = p->data_digest;
	target->num = p->num > 0 ? p->num : tgt_node_free_num();
	target->dev =
		keel_scsi_dev_construct(target->name, p->bdev_names, p->lun_ids, p->num_luns,
					KEEL_SCSI_PROTOCOL_ISCSI, tgt_node_lun_removed, target);
	if (target->dev == NULL) {
		snprintf(err, err_len,
			 "Invalid parameter 'luns': cannot open the bdevs as LUNs (see the log)");
		tgt_node_free(target);
		return -EINVAL;
	}
	rc = tgt_node_build_maps(target, p->pg_tags, p->ig_tags, p->num_maps);
	if (rc != 0) {
		snprintf(err, err_len, "cannot add the SCSI target ports: %s", keel_strerror(-rc));
		target->destructing = true;
		keel_scsi_dev_destruct(target->dev, tgt_node_destruct_done, target);
		return rc;
	}
	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_FOREACH (map, &target->pg_maps, link) {
		tgt_node_ref_map(map, 1);
	}
	TAILQ_INSERT_TAIL(&g_iscsi.target_nodes, target, link);
	pthread_mutex_unlock(&g_iscsi.lock);
	if (out != NULL) {
		*out = target;
	}
	return 0;
}

/*
 * Changes.
 */
int
iscsi_tgt_node_add_lun(struct iscsi_tgt_node *target, const char *bdev_name, int lun_id, char *err,
		       size_t err_len)
{
	int rc;

	if (lun_id < -1 || lun_id >= ISCSI_MAX_LUN) {
		snprintf(err, err_len,
			 "Invalid parameter 'lun_id': %d is not 0 to %d (-1: the lowest free)",
			 lun_id, ISCSI_MAX_LUN - 1);
		return -EINVAL;
	}
	if (bdev_name == NULL || keel_bdev_get_by_name(bdev_name) == NULL) {
		snprintf(err, err_len, "Invalid parameter 'bdev_name': bdev '%s' does not exist",
			 bdev_name ? bdev_name : "");
		return -ENODEV;
	}
	if (lun_id == -1) {
		for (lun_id = 0; lun_id < ISCSI_MAX_LUN; lun_id++) {
			if (keel_scsi_dev_get_lun(target->dev, (uint64_t)lun_id) == NULL) {
				break;
			}
		}
		if (lun_id == ISCSI_MAX_LUN) {
			snprintf(err, err_len, "target %s has %d LUNs already", target->name,
				 ISCSI_MAX_LUN);
			return -ENOSPC;
		}
	}
	rc = keel_scsi_dev_add_lun(target->dev, bdev_name, lun_id);
	if (rc < 0) {
		if (rc == -EEXIST) {
			snprintf(err, err_len,
				 "Invalid parameter 'lun_id': target %s has LUN %d already",
				 target->name, lun_id);
		} else {
			snprintf(err, err_len, "cannot add bdev '%s' as LUN %d: %s", bdev_name,
				 lun_id, keel_strerror(-rc));
		}
		return rc;
	}
	iscsi_tgt_node_report_ua(target);
	return 0;
}

int
iscsi_tgt_node_add_pg_ig_maps(struct iscsi_tgt_node *target, const int32_t *pg_tags,
			      const int32_t *ig_tags, int n, char *err, size_t err_len)
{
	TAILQ_HEAD(, iscsi_pg_map) added = TAILQ_HEAD_INITIALIZER(added);
	struct iscsi_pg_map *map;
	int i, rc;

	if (n < 1) {
		snprintf(err, err_len, "Invalid parameter 'pg_ig_maps': empty");
		return -EINVAL;
	}
	rc = tgt_node_check_maps(target, pg_tags, ig_tags, n, err, err_len);
	if (rc != 0) {
		return rc;
	}
	for (i = 0; i < n; i++) {
		map = calloc(1, sizeof(*map));
		if (map == NULL) {
			rc = -ENOMEM;
			goto err_undo;
		}
		map->pg_tag = pg_tags[i];
		map->ig_tag = ig_tags[i];
		TAILQ_INSERT_TAIL(&added, map, link);
		if (!iscsi_tgt_node_has_pg(target, pg_tags[i])) {
			rc = tgt_node_add_port(target, pg_tags[i]);
			if (rc != 0) {
				goto err_undo;
			}
		}
	}
	pthread_mutex_lock(&g_iscsi.lock);
	while ((map = TAILQ_FIRST(&added)) != NULL) {
		TAILQ_REMOVE(&added, map, link);
		tgt_node_ref_map(map, 1);
		TAILQ_INSERT_TAIL(&target->pg_maps, map, link);
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	return 0;

err_undo:
	snprintf(err, err_len, "cannot add the maps: %s", keel_strerror(-rc));
	while ((map = TAILQ_FIRST(&added)) != NULL) {
		TAILQ_REMOVE(&added, map, link);
		if (!iscsi_tgt_node_has_pg(target, map->pg_tag)) {
			keel_scsi_dev_delete_port(target->dev, (uint64_t)map->pg_tag);
		}
		free(map);
	}
	return rc;
}

static struct iscsi_pg_map *
tgt_node_find_map(struct iscsi_tgt_node *target, int32_t pg_tag, int32_t ig_tag)
{
	struct iscsi_pg_map *map;

	TAILQ_FOREACH (map, &target->pg_maps, link) {
		if (map->pg_tag == pg_tag && map->ig_tag == ig_tag) {
			return map;
		}
	}
	return NULL;
}

/* Does a connection of the target use portal group pg_tag? (lock held) */
static bool
tgt_node_pg_in_use(struct iscsi_tgt_node *target, int32_t pg_tag)
{
	struct iscsi_conn *conn;

	TAILQ_FOREACH (conn, &g_iscsi.conns, g_link) {
		if (conn->target == target && conn->pg_tag == pg_tag) {
			return true;
		}
	}
	return false;
}

int
iscsi_tgt_node_remove_pg_ig_maps(struct iscsi_tgt_node *target, const int32_t *pg_tags,
				 const int32_t *ig_tags, int n, char *err, size_t err_len)
{
	int32_t gone[64];
	int i, j, num_gone = 0, count = 0;
	struct iscsi_pg_map *map;

	if (n < 1) {
		snprintf(err, err_len, "Invalid parameter 'pg_ig_maps': empty");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++) {
			if (pg_tags[j] == pg_tags[i] && ig_tags[j] == ig_tags[i]) {
				break;
			}
		}
		if (j < i || tgt_node_find_map(target, pg_tags[i], ig_tags[i]) == NULL) {
			snprintf(err, err_len,
				 "Invalid parameter 'pg_ig_maps': target %s has no map %d:%d%s",
				 target->name, pg_tags[i], ig_tags[i],
				 j < i ? " (given twice)" : "");
			return -ENOENT;
		}
	}
	TAILQ_FOREACH (map, &target->pg_maps, link) {
		count++;
	}
	pthread_mutex_lock(&g_iscsi.lock);
	if (count == n && target->num_active_conns > 0) {
		pthread_mutex_unlock(&g_iscsi.lock);
		snprintf(err, err_len, "target %s has sessions: its last map cannot go",
			 target->name);
		return -EBUSY;
	}
	for (i = 0; i < n; i++) {
		map = tgt_node_find_map(target, pg_tags[i], ig_tags[i]);
		TAILQ_REMOVE(&target->pg_maps, map, link);
		tgt_node_ref_map(map, -1);
		free(map);
		if (!iscsi_tgt_node_has_pg(target, pg_tags[i])) {
			if (!tgt_node_pg_in_use(target, pg_tags[i])) {
				keel_scsi_dev_delete_port(target->dev, (uint64_t)pg_tags[i]);
			} else if (num_gone < (int)KEEL_COUNTOF(gone)) {
				/* The port stays for those sessions; they are asked to leave. */
				gone[num_gone++] = pg_tags[i];
			}
		}
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	for (i = 0; i < num_gone; i++) {
		iscsi_conns_request_logout(target, gone[i]);
	}
	return 0;
}

int
iscsi_tgt_node_set_auth(struct iscsi_tgt_node *target, bool disable, bool require, bool mutual,
			int32_t group, char *err, size_t err_len)
{
	const char *bad;
	char why[ISCSI_ERR_LEN];

	if (iscsi_chap_params_check(disable, require, mutual, group, true, &bad, why,
				    sizeof(why)) != 0) {
		snprintf(err, err_len, "Invalid parameter '%s': %s", bad, why);
		return -EINVAL;
	}
	pthread_mutex_lock(&g_iscsi.lock);
	target->disable_chap = disable;
	target->require_chap = require;
	target->mutual_chap = mutual;
	target->chap_group = group;
	pthread_mutex_unlock(&g_iscsi.lock);
	return 0;
}

/* Same address? Both numeric, brackets allowed. */
static bool
addr_equal(const char *a, const char *b)
{
	char ha[KEEL_SOCK_ADDR_LEN], hb[KEEL_SOCK_ADDR_LEN];
	uint8_t ba[16], bb[16];
	int fa, fb;

	if (iscsi_host_unbracket(a, ha, sizeof(ha)) != 0 ||
	    iscsi_host_unbracket(b, hb, sizeof(hb)) != 0) {
		return false;
	}
	fa = strchr(ha, ':') ? AF_INET6 : AF_INET;
	fb = strchr(hb, ':') ? AF_INET6 : AF_INET;
	if (fa != fb || inet_pton(fa, ha, ba) != 1 || inet_pton(fb, hb, bb) != 1) {
		return strcasecmp(ha, hb) == 0;
	}
	return memcmp(ba, bb, fa == AF_INET ? 4 : 16) == 0;
}

static bool
is_private_portal(const char *host, uint16_t port)
{
	struct iscsi_portal_grp *pg;
	struct iscsi_portal *p;

	TAILQ_FOREACH (pg, &g_iscsi.portal_grps, link) {
		if (!pg->is_private) {
			continue;
		}
		TAILQ_FOREACH (p, &pg->portals, link) {
			if (p->port == port && addr_equal(p->host, host)) {
				return true;
			}
		}
	}
	return false;
}

static int
redirect_parse(const char *host, const char *port, char *h, size_t h_len, uint16_t *p, char *err,
	       size_t err_len)
{
	uint8_t bytes[16];
	uint32_t v;

	if (iscsi_host_unbracket(host, h, h_len) != 0 ||
	    inet_pton(strchr(h, ':') ? AF_INET6 : AF_INET, h, bytes) != 1) {
		snprintf(err, err_len,
			 "Invalid parameter 'redirect_host': '%s' is not a numeric IP address",
			 host ? host : "");
		return -EINVAL;
	}
	if (port == NULL || keel_parse_u32(port, &v) != 0 || v == 0 || v > 65535) {
		snprintf(err, err_len, "Invalid parameter 'redirect_port': '%s' is not a TCP port",
			 port ? port : "");
		return -EINVAL;
	}
	*p = (uint16_t)v;
	return 0;
}

int
iscsi_tgt_node_set_redirect(struct iscsi_tgt_node *target, int32_t pg_tag, const char *host,
			    const char *port, char *err, size_t err_len)
{
	struct iscsi_portal_grp *pg = iscsi_portal_grp_find(pg_tag);
	char h[KEEL_SOCK_ADDR_LEN] = "";
	struct iscsi_pg_map *map;
	uint16_t p = 0;
	int rc;

	if (pg == NULL || !iscsi_tgt_node_has_pg(target, pg_tag)) {
		snprintf(err, err_len,
			 "Invalid parameter 'pg_tag': target %s has no map through portal group %d",
			 target->name, pg_tag);
		return -ENOENT;
	}
	if (pg->is_private) {
		snprintf(err, err_len,
			 "Invalid parameter 'pg_tag': portal group %d is private; "
			 "redirection applies to logins through a public one",
			 pg_tag);
		return -EINVAL;
	}
	if (host != NULL || port != NULL) {
		rc = redirect_parse(host, port, h, sizeof(h), &p, err, err_len);
		if (rc != 0) {
			return rc;
		}
		if (!is_private_portal(h, p)) {
			snprintf(err, err_len,
				 "Invalid parameter 'redirect_host': %s:%u is not a "
				 "portal of a private portal group",
				 h, p);
			return -EINVAL;
		}
	}
	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_FOREACH (map, &target->pg_maps, link) {
		if (map->pg_tag == pg_tag) {
			keel_strlcpy(map->redirect_host, h, sizeof(map->redirect_host));
			map->redirect_port = p;
		}
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	return 0;
}

bool
iscsi_tgt_node_get_redirect(struct iscsi_tgt_node *target, int32_t pg_tag, char *host,
			    size_t host_len, uint16_t *port)
{
	struct iscsi_pg_map *map;

	TAILQ_FOREACH (map, &target->pg_maps, link) {
		if (map->pg_tag == pg_tag && map->redirect_host[0] != '\0') {
			snprintf(host, host_len, "%s", map->redirect_host);
			*port = map->redirect_port;
			return true;
		}
	}
	return false;
}

/*
 * Latency histogram: range 0 holds the values below 2^G one per bucket; range r >= 1 holds
 * [2^(r+G-1), 2^(r+G)) in 2^G equal buckets (G = ISCSI_HISTOGRAM_GRANULARITY).
 */
uint32_t
iscsi_histogram_bucket(uint64_t value)
{
	uint32_t bits = value == 0 ? 0 : 64 - (uint32_t)__builtin_clzll(value);
	uint32_t range, mask = (1u << ISCSI_HISTOGRAM_GRANULARITY) - 1;

	if (bits <= ISCSI_HISTOGRAM_GRANULARITY) {
		return (uint32_t)value;
	}
	range = bits - ISCSI_HISTOGRAM_GRANULARITY;
	return (range << ISCSI_HISTOGRAM_GRANULARITY) + ((uint32_t)(value >> (range - 1)) & mask);
}

int
iscsi_tgt_node_enable_histogram(struct iscsi_tgt_node *target, bool enable)
{
	uint64_t *h;

	if (!enable) {
		__atomic_store_n(&target->histogram_enabled, false, __ATOMIC_RELEASE);
		return 0;
	}
	h = __atomic_load_n(&target->histogram, __ATOMIC_ACQUIRE);
	if (h == NULL) {
		/* Kept until the target goes: connection threads may be writing to it. */
		h = calloc(ISCSI_HISTOGRAM_BUCKETS, sizeof(*h));
		if (h == NULL) {
			return -ENOMEM;
		}
		__atomic_store_n(&target->histogram, h, __ATOMIC_RELEASE);
	} else if (!target->histogram_enabled) {
		memset(h, 0, ISCSI_HISTOGRAM_BUCKETS * sizeof(*h));
	}
	__atomic_store_n(&target->histogram_enabled, true, __ATOMIC_RELEASE);
	return 0;
}

void
iscsi_tgt_node_record_latency(struct iscsi_tgt_node *target, uint64_t ticks)
{
	uint64_t *h;

	if (!__atomic_load_n(&target->histogram_enabled, __ATOMIC_ACQUIRE)) {
		return;
	}
	h = __atomic_load_n(&target->histogram, __ATOMIC_ACQUIRE);
	if (h != NULL) {
		__atomic_fetch_add(&h[iscsi_histogram_bucket(ticks)], 1, __ATOMIC_RELAXED);
	}
}

/*
 * Deletion.
 */
struct tgt_delete_ctx {
	struct iscsi_tgt_node *target;
	void (*cb)(void *cb_arg, int rc);
	void *cb_arg;
	struct keel_poller *poller;
	uint64_t start_tsc;
	bool dropped;
};

struct conn_drop_msg {
	struct iscsi_poll_group *pg;
	uint32_t conn_id;
};

/* On the connection's thread: it may have gone meanwhile, so look it up by id. */
static void
tgt_node_drop_conn_msg(void *arg)
{
	struct conn_drop_msg *m = arg;
	struct iscsi_conn *conn;

	TAILQ_FOREACH (conn, &m->pg->conns, pg_link) {
		if (conn->id == m->conn_id) {
			iscsi_conn_drop(conn, "target node deleted");
			break;
		}
	}
	free(m);
}

/* Drop the target's connections (all, or only those still logging in). */
static void
tgt_node_drop_conns(struct iscsi_tgt_node *target, bool login_only)
{
	struct conn_drop_msg *m;
	struct iscsi_conn *conn;

	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_FOREACH (conn, &g_iscsi.conns, g_link) {
		if (conn->target != target || (login_only && conn->full_feature)) {
			continue;
		}
		m = malloc(sizeof(*m));
		if (m == NULL) {
			continue;
		}
		m->pg = conn->pg;
		m->conn_id = conn->id;
		if (keel_thread_send_msg(conn->thread, tgt_node_drop_conn_msg, m) != 0) {
			free(m);
		}
	}
	pthread_mutex_unlock(&g_iscsi.lock);
}

static void
tgt_delete_dev_done(void *cb_arg, int rc)
{
	struct tgt_delete_ctx *ctx = cb_arg;
	struct iscsi_tgt_node *target = ctx->target;
	struct iscsi_pg_map *map;

	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_REMOVE(&g_iscsi.target_nodes, target, link);
	TAILQ_FOREACH (map, &target->pg_maps, link) {
		tgt_node_ref_map(map, -1);
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	KEEL_NOTICELOG("target %s deleted\n", target->name);
	tgt_node_free(target);
	if (ctx->cb != NULL) {
		ctx->cb(ctx->cb_arg, 0);
	}
	free(ctx);
}

static int
tgt_delete_poll(void *arg)
{
	struct tgt_delete_ctx *ctx = arg;
	struct iscsi_tgt_node *target = ctx->target;
	uint64_t waited_s = (keel_get_ticks() - ctx->start_tsc) / keel_get_ticks_hz();
	int active;

	pthread_mutex_lock(&g_iscsi.lock);
	active = target->num_active_conns;
	pthread_mutex_unlock(&g_iscsi.lock);
	if (active > 0) {
		if (!ctx->dropped && waited_s >= TGT_DELETE_DROP_AFTER_S) {
			KEEL_NOTICELOG("target %s: %d connection(s) did not log out: dropping "
				       "them\n",
				       target->name, active);
			ctx->dropped = true;
			tgt_node_drop_conns(target, false);
		}
		return KEEL_POLLER_IDLE;
	}
	keel_poller_unregister(&ctx->poller);
	keel_scsi_dev_destruct(target->dev, tgt_delete_dev_done, ctx);
	return KEEL_POLLER_BUSY;
}

int
iscsi_tgt_node_delete(struct iscsi_tgt_node *target, void (*cb)(void *cb_arg, int rc), void *cb_arg)
{
	struct tgt_delete_ctx *ctx;

	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_iscsi.lock);
	if (target->destructing) {
		pthread_mutex_unlock(&g_iscsi.lock);
		free(ctx);
		return -EBUSY;
	}
	target->destructing = true;
	pthread_mutex_unlock(&g_iscsi.lock);
	ctx->target = target;
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	ctx->start_tsc = keel_get_ticks();
	ctx->poller = keel_poller_register(tgt_delete_poll, ctx, TGT_DELETE_POLL_US);
	if (ctx->poller == NULL) {
		pthread_mutex_lock(&g_iscsi.lock);
		target->destructing = false;
		pthread_mutex_unlock(&g_iscsi.lock);
		free(ctx);
		return -ENOMEM;
	}
	/* Sessions are asked to log out (RFC 7143 11.9.1, AsyncEvent 1); logins under way
	 * cannot finish any more and go now. */
	iscsi_conns_request_logout(target, -1);
	tgt_node_drop_conns(target, true);
	return 0;
}

void
iscsi_tgt_nodes_destroy_all(void)
{
	TAILQ_HEAD(, iscsi_tgt_node) doomed = TAILQ_HEAD_INITIALIZER(doomed);
	struct iscsi_tgt_node *target, *tmp;

	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_FOREACH_SAFE (target, &g_iscsi.target_nodes, link, tmp) {
		/* One being deleted finishes on its own (its connections are gone). */
		if (target->destructing) {
			continue;
		}
		TAILQ_REMOVE(&g_iscsi.target_nodes, target, link);
		target->destructing = true;
		TAILQ_INSERT_TAIL(&doomed, target, link);
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	while ((target = TAILQ_FIRST(&doomed)) != NULL) {
		TAILQ_REMOVE(&doomed, target, link);
		keel_scsi_dev_destruct(target->dev, tgt_node_destruct_done, target);
	}
}

/*
 * SendTargets (RFC 7143 Appendix C): each target the initiator may reach through a public
 * portal group, with the portals of those groups.
 */
static int
send_portal(struct iscsi_conn *conn, const struct iscsi_portal *p, int32_t tag, char **buf,
	    uint32_t *len, uint32_t *cap)
{
	char host[KEEL_SOCK_ADDR_LEN + 2], addr[KEEL_SOCK_ADDR_LEN + 32];
	const char *h = p->host;

	/* A wildcard portal answers with the address this connection came in on. */
	if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 || strcmp(h, "[::]") == 0) {
		h = conn->target_addr;
	}
	iscsi_host_bracket(h, host, sizeof(host));
	snprintf(addr, sizeof(addr), "%s:%u,%d", host, p->port, tag);
	return iscsi_text_append(buf, len, cap, "TargetAddress", addr);
}

static int
send_target(struct iscsi_conn *conn, struct iscsi_tgt_node *target, char **buf, uint32_t *len,
	    uint32_t *cap)
{
	struct iscsi_pg_map *map, *prev;
	struct iscsi_portal_grp *pg;
	struct iscsi_portal *p;
	bool listed = false;
	int rc;

	TAILQ_FOREACH (map, &target->pg_maps, link) {
		/* A group mapped with several initiator groups is listed once. */
		for (prev = TAILQ_FIRST(&target->pg_maps); prev != map;
		     prev = TAILQ_NEXT(prev, link)) {
			if (prev->pg_tag == map->pg_tag) {
				break;
			}
		}
		if (prev != map) {
			continue;
		}
		pg = iscsi_portal_grp_find(map->pg_tag);
		if (pg == NULL || pg->is_private ||
		    !iscsi_tgt_node_access(target, pg->tag, conn->initiator_name,
					   conn->initiator_addr)) {
			continue;
		}
		if (!listed) {
			rc = iscsi_text_append(buf, len, cap, "TargetName", target->name);
			if (rc != 0) {
				return rc;
			}
			listed = true;
		}
		TAILQ_FOREACH (p, &pg->portals, link) {
			rc = send_portal(conn, p, pg->tag, buf, len, cap);
			if (rc != 0) {
				return rc;
			}
		}
	}
	return 0;
}

int
iscsi_send_targets(struct iscsi_conn *conn, const char *which, char **buf, uint32_t *len,
		   uint32_t *cap)
{
	char full[2 * ISCSI_MAX_NAME + 2];
	struct iscsi_tgt_node *target;
	bool all = strcmp(which, "All") == 0;
	int rc = 0;

	if (!all && which[0] != '\0') {
		iscsi_full_target_name(which, full, sizeof(full));
	}
	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_FOREACH (target, &g_iscsi.target_nodes, link) {
		if (target->destructing) {
			continue;
		}
		if (which[0] == '\0') {
			if (target != conn->target) {
				continue;
			}
		} else if (!all && strcasecmp(target->name, full) != 0) {
			continue;
		}
		rc = send_target(conn, target, buf, len, cap);
		if (rc != 0) {
			break;
		}
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	return rc;
}
