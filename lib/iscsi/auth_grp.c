/*
 * CHAP auth groups: numbered sets of secrets (user, secret, and for mutual CHAP the target's
 * own muser and msecret) that discovery, portal groups and target nodes point at. They come
 * from RPCs, from [AuthGroupN] sections, or from the AuthFile read at start.
 */
#include "keel/stdinc.h"
#include "keel/conf.h"
#include "keel/log.h"
#include "keel/util.h"

#include <sys/stat.h>

#include "iscsi_objects.h"

/* Tags of the groups read from the AuthFile: the file is read again at every start, so they
 * are not part of the JSON configuration. Changed on the app thread only. */
static int32_t *g_file_tags;
static int g_num_file_tags;

struct iscsi_auth_grp *
iscsi_auth_grp_find(int32_t tag)
{
	struct iscsi_auth_grp *ag;

	TAILQ_FOREACH (ag, &g_iscsi.auth_grps, link) {
		if (ag->tag == tag) {
			return ag;
		}
	}
	return NULL;
}

struct iscsi_auth_grp *
iscsi_auth_grp_create(int32_t tag)
{
	struct iscsi_auth_grp *ag = calloc(1, sizeof(*ag));

	if (ag == NULL) {
		return NULL;
	}
	ag->tag = tag;
	TAILQ_INIT(&ag->secrets);
	return ag;
}

void
iscsi_auth_grp_destroy(struct iscsi_auth_grp *ag)
{
	struct iscsi_chap_secret *s;

	if (ag == NULL) {
		return;
	}
	while ((s = TAILQ_FIRST(&ag->secrets)) != NULL) {
		TAILQ_REMOVE(&ag->secrets, s, link);
		/* Secrets do not linger in freed memory. */
		memset(s, 0, sizeof(*s));
		free(s);
	}
	free(ag);
}

bool
iscsi_auth_grp_is_from_file(int32_t tag)
{
	int i;

	for (i = 0; i < g_num_file_tags; i++) {
		if (g_file_tags[i] == tag) {
			return true;
		}
	}
	return false;
}

static void
auth_file_tag_forget(int32_t tag)
{
	int i;

	for (i = 0; i < g_num_file_tags; i++) {
		if (g_file_tags[i] == tag) {
			g_file_tags[i] = g_file_tags[--g_num_file_tags];
			return;
		}
	}
}

static int
auth_file_tag_remember(int32_t tag)
{
	int32_t *tags = realloc(g_file_tags, (size_t)(g_num_file_tags + 1) * sizeof(*tags));

	if (tags == NULL) {
		return -ENOMEM;
	}
	g_file_tags = tags;
	g_file_tags[g_num_file_tags++] = tag;
	return 0;
}

int
iscsi_auth_grp_register(struct iscsi_auth_grp *ag)
{
	int rc = 0;

	pthread_mutex_lock(&g_iscsi.lock);
	if (iscsi_auth_grp_find(ag->tag) != NULL) {
		rc = -EEXIST;
	} else {
		TAILQ_INSERT_TAIL(&g_iscsi.auth_grps, ag, link);
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	return rc;
}

static bool
auth_grp_in_use(int32_t tag)
{
	struct iscsi_portal_grp *pg;

	if (g_iscsi.opts.chap_group == tag) {
		return true;
	}
	TAILQ_FOREACH (pg, &g_iscsi.portal_grps, link) {
		if (pg->auth_set && pg->chap_group == tag) {
			return true;
		}
	}
	return iscsi_tgt_nodes_use_auth_grp(tag);
}

int
iscsi_auth_grp_unregister(struct iscsi_auth_grp *ag)
{
	pthread_mutex_lock(&g_iscsi.lock);
	if (auth_grp_in_use(ag->tag)) {
		pthread_mutex_unlock(&g_iscsi.lock);
		return -EBUSY;
	}
	TAILQ_REMOVE(&g_iscsi.auth_grps, ag, link);
	pthread_mutex_unlock(&g_iscsi.lock);
	auth_file_tag_forget(ag->tag);
	iscsi_auth_grp_destroy(ag);
	return 0;
}

void
iscsi_auth_grps_destroy_all(void)
{
	struct iscsi_auth_grp *ag;

	pthread_mutex_lock(&g_iscsi.lock);
	while ((ag = TAILQ_FIRST(&g_iscsi.auth_grps)) != NULL) {
		TAILQ_REMOVE(&g_iscsi.auth_grps, ag, link);
		iscsi_auth_grp_destroy(ag);
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	free(g_file_tags);
	g_file_tags = NULL;
	g_num_file_tags = 0;
}

static struct iscsi_chap_secret *
auth_grp_find_secret(struct iscsi_auth_grp *ag, const char *user)
{
	struct iscsi_chap_secret *s;

	TAILQ_FOREACH (s, &ag->secrets, link) {
		if (strcmp(s->user, user) == 0) {
			return s;
		}
	}
	return NULL;
}

static bool
auth_field_ok(const char *v, bool required)
{
	if (v == NULL || v[0] == '\0') {
		return !required;
	}
	return strlen(v) <= ISCSI_MAX_CHAP_SECRET;
}

int
iscsi_auth_grp_add_secret(struct iscsi_auth_grp *ag, const char *user, const char *secret,
			  const char *muser, const char *msecret, char *err, size_t err_len)
{
	struct iscsi_chap_secret *s;
	bool has_muser = muser != NULL && muser[0] != '\0';
	bool has_msecret = msecret != NULL && msecret[0] != '\0';

	if (!auth_field_ok(user, true)) {
		snprintf(err, err_len, "Invalid parameter 'user': 1 to %d bytes",
			 ISCSI_MAX_CHAP_SECRET);
		return -EINVAL;
	}
	if (!auth_field_ok(secret, true)) {
		snprintf(err, err_len, "Invalid parameter 'secret': 1 to %d bytes",
			 ISCSI_MAX_CHAP_SECRET);
		return -EINVAL;
	}
	if (!auth_field_ok(muser, false) || (has_msecret && !has_muser)) {
		snprintf(err, err_len,
			 "Invalid parameter 'muser': 1 to %d bytes, required with msecret",
			 ISCSI_MAX_CHAP_SECRET);
		return -EINVAL;
	}
	if (!auth_field_ok(msecret, false) || (has_muser && !has_msecret)) {
		snprintf(err, err_len,
			 "Invalid parameter 'msecret': 1 to %d bytes, required with muser",
			 ISCSI_MAX_CHAP_SECRET);
		return -EINVAL;
	}
	if (auth_grp_find_secret(ag, user) != NULL) {
		snprintf(err, err_len, "user '%s' already has a secret in auth group %d", user,
			 ag->tag);
		return -EEXIST;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	keel_strlcpy(s->user, user, sizeof(s->user));
	keel_strlcpy(s->secret, secret, sizeof(s->secret));
	if (has_muser) {
		keel_strlcpy(s->muser, muser, sizeof(s->muser));
		keel_strlcpy(s->msecret, msecret, sizeof(s->msecret));
	}
	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_INSERT_TAIL(&ag->secrets, s, link);
	pthread_mutex_unlock(&g_iscsi.lock);
	return 0;
}

int
iscsi_auth_grp_delete_secret(struct iscsi_auth_grp *ag, const char *user)
{
	struct iscsi_chap_secret *s;

	pthread_mutex_lock(&g_iscsi.lock);
	s = user != NULL ? auth_grp_find_secret(ag, user) : NULL;
	if (s != NULL) {
		TAILQ_REMOVE(&ag->secrets, s, link);
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	if (s == NULL) {
		return -ENOENT;
	}
	memset(s, 0, sizeof(*s));
	free(s);
	return 0;
}

bool
iscsi_auth_grp_get_secret(int32_t tag, const char *user, struct iscsi_chap_secret *out)
{
	struct iscsi_auth_grp *ag = iscsi_auth_grp_find(tag);
	struct iscsi_chap_secret *s;

	if (ag == NULL || user == NULL) {
		return false;
	}
	s = auth_grp_find_secret(ag, user);
	if (s == NULL) {
		return false;
	}
	*out = *s;
	return true;
}

int
iscsi_chap_params_check(bool disable, bool require, bool mutual, int32_t group, bool check_group,
			const char **bad, char *err, size_t err_len)
{
	if (disable && require) {
		*bad = "require_chap";
		snprintf(err, err_len, "disable_chap and require_chap exclude each other");
		return -EINVAL;
	}
	if (mutual && !require) {
		*bad = "mutual_chap";
		snprintf(err, err_len, "mutual CHAP needs require_chap");
		return -EINVAL;
	}
	if (group < 0) {
		*bad = "chap_group";
		snprintf(err, err_len, "%d is not an auth group tag (0: none)", group);
		return -EINVAL;
	}
	if (check_group && group > 0 && iscsi_auth_grp_find(group) == NULL) {
		*bad = "chap_group";
		snprintf(err, err_len, "auth group %d does not exist", group);
		return -EINVAL;
	}
	return 0;
}

/*
 * [AuthGroupN] sections: "Auth <user> <secret> [<muser> <msecret>]" lines and a Comment.
 */
static int
auth_section_load(struct keel_conf *conf, struct keel_conf_section *sp, bool from_file)
{
	const char *file = keel_conf_get_name(conf);
	int tag = keel_conf_section_get_num(sp);
	struct keel_conf_item *item;
	struct iscsi_auth_grp *ag;
	char err[ISCSI_ERR_LEN];
	int rc;

	if (tag <= 0) {
		KEEL_ERRLOG("%s:%d: [%s]: auth groups are numbered from 1 ([AuthGroup1])\n", file,
			    keel_conf_section_get_line(sp), keel_conf_section_get_name(sp));
		return -EINVAL;
	}
	ag = iscsi_auth_grp_create(tag);
	if (ag == NULL) {
		return -ENOMEM;
	}
	for (item = keel_conf_section_first_item(sp); item != NULL;
	     item = keel_conf_item_next(item)) {
		const char *key = keel_conf_item_get_key(item);
		int n = keel_conf_item_get_val_count(item);

		if (strcasecmp(key, "Comment") == 0) {
			continue;
		}
		if (strcasecmp(key, "Auth") != 0) {
			KEEL_ERRLOG("%s:%d: [%s] %s: unknown key (Auth and Comment are)\n", file,
				    keel_conf_item_get_line(item), keel_conf_section_get_name(sp),
				    key);
			rc = -EINVAL;
			goto err;
		}
		if (n != 2 && n != 4) {
			KEEL_ERRLOG(
				"%s:%d: [%s] Auth: expected <user> <secret> [<muser> <msecret>]\n",
				file, keel_conf_item_get_line(item),
				keel_conf_section_get_name(sp));
			rc = -EINVAL;
			goto err;
		}
		rc = iscsi_auth_grp_add_secret(ag, keel_conf_item_get_val(item, 0),
					       keel_conf_item_get_val(item, 1),
					       n == 4 ? keel_conf_item_get_val(item, 2) : NULL,
					       n == 4 ? keel_conf_item_get_val(item, 3) : NULL, err,
					       sizeof(err));
		if (rc != 0) {
			KEEL_ERRLOG("%s:%d: [%s] Auth: %s\n", file, keel_conf_item_get_line(item),
				    keel_conf_section_get_name(sp), err);
			goto err;
		}
	}
	rc = iscsi_auth_grp_register(ag);
	if (rc != 0) {
		KEEL_ERRLOG("%s:%d: [%s]: auth group %d is defined twice\n", file,
			    keel_conf_section_get_line(sp), keel_conf_section_get_name(sp), tag);
		goto err;
	}
	if (from_file && auth_file_tag_remember(tag) != 0) {
		return -ENOMEM;
	}
	return 0;
err:
	iscsi_auth_grp_destroy(ag);
	return rc;
}

int
iscsi_auth_grps_from_conf(struct keel_conf *conf, bool from_file)
{
	struct keel_conf_section *sp;
	int rc;

	for (sp = keel_conf_first_section(conf); sp != NULL; sp = keel_conf_next_section(sp)) {
		if (!keel_conf_section_match_prefix(sp, "AuthGroup")) {
			continue;
		}
		rc = auth_section_load(conf, sp, from_file);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

int
iscsi_auth_file_load(const char *path)
{
	struct keel_conf *conf;
	struct stat st;
	int rc;

	if (path == NULL || path[0] == '\0' || stat(path, &st) != 0) {
		return -ENOENT;
	}
	if (st.st_mode & S_IROTH) {
		KEEL_WARNLOG("AuthFile %s can be read by every user: it holds CHAP secrets "
			     "(chmod 600 it)\n",
			     path);
	}
	conf = keel_conf_create();
	if (conf == NULL) {
		return -ENOMEM;
	}
	rc = keel_conf_read(conf, path);
	if (rc == 0) {
		rc = iscsi_auth_grps_from_conf(conf, true);
	}
	keel_conf_destroy(conf);
	return rc;
}
