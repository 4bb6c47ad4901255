/*
 * Initiator groups: who may log in. A group lists initiator names ("ANY" or an iSCSI name)
 * and netmasks ("ANY", an IPv4 or IPv6 address with an optional prefix length); an entry
 * written "!entry" denies, and a matching deny always wins over an allow.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/util.h"

#include <arpa/inet.h>

#include "iscsi_objects.h"

struct iscsi_init_grp *
iscsi_init_grp_find(int32_t tag)
{
	struct iscsi_init_grp *ig;

	TAILQ_FOREACH (ig, &g_iscsi.init_grps, link) {
		if (ig->tag == tag) {
			return ig;
		}
	}
	return NULL;
}

struct iscsi_init_grp *
iscsi_init_grp_create(int32_t tag)
{
	struct iscsi_init_grp *ig = calloc(1, sizeof(*ig));

	if (ig == NULL) {
		return NULL;
	}
	ig->tag = tag;
	TAILQ_INIT(&ig->initiators);
	TAILQ_INIT(&ig->netmasks);
	return ig;
}

void
iscsi_init_grp_destroy(struct iscsi_init_grp *ig)
{
	struct iscsi_initiator_name *n;
	struct iscsi_netmask *m;

	if (ig == NULL) {
		return;
	}
	while ((n = TAILQ_FIRST(&ig->initiators)) != NULL) {
		TAILQ_REMOVE(&ig->initiators, n, link);
		free(n);
	}
	while ((m = TAILQ_FIRST(&ig->netmasks)) != NULL) {
		TAILQ_REMOVE(&ig->netmasks, m, link);
		free(m);
	}
	free(ig);
}

int
iscsi_init_grp_register(struct iscsi_init_grp *ig)
{
	int rc = 0;

	pthread_mutex_lock(&g_iscsi.lock);
	if (iscsi_init_grp_find(ig->tag) != NULL) {
		rc = -EEXIST;
	} else {
		TAILQ_INSERT_TAIL(&g_iscsi.init_grps, ig, link);
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	return rc;
}

int
iscsi_init_grp_unregister(struct iscsi_init_grp *ig)
{
	pthread_mutex_lock(&g_iscsi.lock);
	if (ig->refs > 0) {
		pthread_mutex_unlock(&g_iscsi.lock);
		return -EBUSY;
	}
	TAILQ_REMOVE(&g_iscsi.init_grps, ig, link);
	pthread_mutex_unlock(&g_iscsi.lock);
	iscsi_init_grp_destroy(ig);
	return 0;
}

void
iscsi_init_grps_destroy_all(void)
{
	struct iscsi_init_grp *ig;

	pthread_mutex_lock(&g_iscsi.lock);
	while ((ig = TAILQ_FIRST(&g_iscsi.init_grps)) != NULL) {
		TAILQ_REMOVE(&g_iscsi.init_grps, ig, link);
		iscsi_init_grp_destroy(ig);
	}
	pthread_mutex_unlock(&g_iscsi.lock);
}

/*
 * Addresses.
 */
int
iscsi_host_unbracket(const char *host, char *out, size_t out_len)
{
	size_t len;

	if (host == NULL || host[0] == '\0') {
		return -EINVAL;
	}
	len = strlen(host);
	if (host[0] == '[') {
		if (len < 3 || host[len - 1] != ']' || len - 2 >= out_len) {
			return -EINVAL;
		}
		memcpy(out, host + 1, len - 2);
		out[len - 2] = '\0';
		return 0;
	}
	if (len >= out_len || strchr(host, '[') != NULL || strchr(host, ']') != NULL) {
		return -EINVAL;
	}
	memcpy(out, host, len + 1);
	return 0;
}

void
iscsi_host_bracket(const char *host, char *out, size_t out_len)
{
	if (strchr(host, ':') != NULL && host[0] != '[') {
		snprintf(out, out_len, "[%s]", host);
	} else {
		snprintf(out, out_len, "%s", host);
	}
}

/* A parsed address or netmask: family 0 means ANY. */
struct ig_addr {
	int family;
	uint8_t bytes[16];
	uint32_t prefix;
};

/*
 * Parse a numeric address ("1.2.3.4", "::1", "[::1]", "fe80::1%eth0"). An IPv4-mapped IPv6
 * address becomes the IPv4 address, so that IPv4 netmasks match it.
 */
static int
ig_addr_parse(const char *str, struct ig_addr *a)
{
	char buf[KEEL_SOCK_ADDR_LEN + 8], *pct;
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (iscsi_host_unbracket(str, buf, sizeof(buf)) != 0) {
		return -EINVAL;
	}
	pct = strchr(buf, '%');
	if (pct != NULL) {
		*pct = '\0';
	}
	memset(a, 0, sizeof(*a));
	if (strchr(buf, ':') == NULL) {
		if (inet_pton(AF_INET, buf, a->bytes) != 1) {
			return -EINVAL;
		}
		a->family = AF_INET;
		a->prefix = 32;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, a->bytes) != 1) {
		return -EINVAL;
	}
	a->family = AF_INET6;
	a->prefix = 128;
	if (memcmp(a->bytes, mapped, sizeof(mapped)) == 0) {
		memmove(a->bytes, a->bytes + 12, 4);
		memset(a->bytes + 4, 0, 12);
		a->family = AF_INET;
		a->prefix = 32;
	}
	return 0;
}

/*
 * Parse a netmask without its "!": "ANY", "a.b.c.d", "a.b.c.d/n", "[v6]", "[v6]/n", "v6",
 * "v6/n". The address keeps its host bits; matching compares only the prefix.
 */
static int
ig_netmask_parse(const char *str, struct ig_addr *m)
{
	char buf[KEEL_SOCK_ADDR_LEN + 8], *slash, *close;
	uint32_t prefix = 0, max;
	bool has_prefix = false;

	if (strcasecmp(str, "ANY") == 0) {
		memset(m, 0, sizeof(*m));
		return 0;
	}
	if (strlen(str) >= sizeof(buf) || str[0] == '\0') {
		return -EINVAL;
	}
	keel_strlcpy(buf, str, sizeof(buf));
	close = strchr(buf, ']');
	slash = strrchr(buf, '/');
	if (slash != NULL && (close == NULL || slash > close)) {
		*slash = '\0';
		if (keel_parse_u32(slash + 1, &prefix) != 0) {
			return -EINVAL;
		}
		has_prefix = true;
	}
	if (strchr(buf, '%') != NULL || ig_addr_parse(buf, m) != 0) {
		return -EINVAL;
	}
	/* "::ffff:10.0.0.0/104" was turned into an IPv4 address: shift its prefix too. */
	max = m->family == AF_INET ? 32 : 128;
	if (has_prefix && m->family == AF_INET && strchr(buf, ':') != NULL) {
		if (prefix < 96) {
			return -EINVAL;
		}
		prefix -= 96;
	}
	if (has_prefix) {
		if (prefix > max) {
			return -EINVAL;
		}
		m->prefix = prefix;
	}
	return 0;
}

static bool
ig_netmask_matches(const struct ig_addr *m, const struct ig_addr *a)
{
	uint32_t full, rest;

	if (m->family == 0) {
		return true;
	}
	if (m->family != a->family) {
		return false;
	}
	full = m->prefix / 8;
	rest = m->prefix % 8;
	if (memcmp(m->bytes, a->bytes, full) != 0) {
		return false;
	}
	if (rest == 0) {
		return true;
	}
	return ((m->bytes[full] ^ a->bytes[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* An iSCSI-ish name: printable, no blanks, not empty, at most 223 bytes. */
static bool
ig_name_chars_ok(const char *name)
{
	const unsigned char *p;

	if (name[0] == '\0' || strlen(name) > ISCSI_MAX_NAME) {
		return false;
	}
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p <= 0x20 || *p == 0x7f || *p == ',' || *p == '!') {
			return false;
		}
	}
	return true;
}

bool
iscsi_init_grp_name_is_valid(const char *name)
{
	if (name == NULL) {
		return false;
	}
	if (name[0] == '!') {
		name++;
	}
	return ig_name_chars_ok(name);
}

bool
iscsi_init_grp_netmask_is_valid(const char *mask)
{
	struct ig_addr m;

	if (mask == NULL) {
		return false;
	}
	if (mask[0] == '!') {
		mask++;
	}
	return ig_netmask_parse(mask, &m) == 0;
}

/*
 * Matching.
 */
enum iscsi_ig_match
iscsi_init_grp_match_name(const struct iscsi_init_grp *ig, const char *iqn)
{
	const struct iscsi_initiator_name *n;
	enum iscsi_ig_match result = ISCSI_IG_NO_MATCH;

	TAILQ_FOREACH (n, &ig->initiators, link) {
		bool deny = n->name[0] == '!';
		const char *entry = deny ? n->name + 1 : n->name;

		/* iSCSI names compare case-insensitively (RFC 3722 normalises them). */
		if (strcasecmp(entry, "ANY") != 0 && (iqn == NULL || strcasecmp(entry, iqn) != 0)) {
			continue;
		}
		if (deny) {
			return ISCSI_IG_DENY;
		}
		result = ISCSI_IG_ALLOW;
	}
	return result;
}

enum iscsi_ig_match
iscsi_init_grp_match_addr(const struct iscsi_init_grp *ig, const char *addr)
{
	const struct iscsi_netmask *nm;
	enum iscsi_ig_match result = ISCSI_IG_NO_MATCH;
	struct ig_addr a, m;
	bool have_addr;

	have_addr = addr != NULL && ig_addr_parse(addr, &a) == 0;
	TAILQ_FOREACH (nm, &ig->netmasks, link) {
		bool deny = nm->mask[0] == '!';

		if (ig_netmask_parse(deny ? nm->mask + 1 : nm->mask, &m) != 0) {
			continue;
		}
		if (m.family != 0 && (!have_addr || !ig_netmask_matches(&m, &a))) {
			continue;
		}
		if (deny) {
			return ISCSI_IG_DENY;
		}
		result = ISCSI_IG_ALLOW;
	}
	return result;
}

bool
iscsi_init_grp_allows(const struct iscsi_init_grp *ig, const char *iqn, const char *addr)
{
	return iscsi_init_grp_match_name(ig, iqn) == ISCSI_IG_ALLOW &&
	       iscsi_init_grp_match_addr(ig, addr) == ISCSI_IG_ALLOW;
}

/*
 * Changing the lists.
 */
static struct iscsi_initiator_name *
ig_find_name(const struct iscsi_init_grp *ig, const char *name)
{
	struct iscsi_initiator_name *n;

	TAILQ_FOREACH (n, &ig->initiators, link) {
		if (strcasecmp(n->name, name) == 0) {
			return n;
		}
	}
	return NULL;
}

static struct iscsi_netmask *
ig_find_mask(const struct iscsi_init_grp *ig, const char *mask)
{
	struct iscsi_netmask *m;

	TAILQ_FOREACH (m, &ig->netmasks, link) {
		if (strcasecmp(m->mask, mask) == 0) {
			return m;
		}
	}
	return NULL;
}

/* Is list[i] also list[j] for some j < i? */
static bool
ig_dup_before(const char *const *list, int i)
{
	int j;

	for (j = 0; j < i; j++) {
		if (strcasecmp(list[j], list[i]) == 0) {
			return true;
		}
	}
	return false;
}

static int
ig_check_names(const struct iscsi_init_grp *ig, bool add, const char *const *names, int n,
	       char *err, size_t err_len)
{
	int i;

	for (i = 0; i < n; i++) {
		if (!add) {
			if (names[i] == NULL || ig_find_name(ig, names[i]) == NULL) {
				snprintf(err, err_len,
					 "initiator '%s' is not in initiator group %d",
					 names[i] ? names[i] : "", ig->tag);
				return -ENOENT;
			}
			continue;
		}
		if (!iscsi_init_grp_name_is_valid(names[i])) {
			snprintf(err, err_len,
				 "'%s' is not ANY or an iSCSI name (at most %d bytes, no blanks)",
				 names[i] ? names[i] : "", ISCSI_MAX_NAME);
			return -EINVAL;
		}
		if (ig_find_name(ig, names[i]) != NULL || ig_dup_before(names, i)) {
			snprintf(err, err_len, "initiator '%s' is already in initiator group %d",
				 names[i], ig->tag);
			return -EEXIST;
		}
	}
	if (add && ig->ninitiators + n > ISCSI_MAX_INITIATORS) {
		snprintf(err, err_len, "an initiator group holds at most %d initiators",
			 ISCSI_MAX_INITIATORS);
		return -ENOSPC;
	}
	return 0;
}

static int
ig_check_masks(const struct iscsi_init_grp *ig, bool add, const char *const *masks, int n,
	       char *err, size_t err_len)
{
	int i;

	for (i = 0; i < n; i++) {
		if (!add) {
			if (masks[i] == NULL || ig_find_mask(ig, masks[i]) == NULL) {
				snprintf(err, err_len, "netmask '%s' is not in initiator group %d",
					 masks[i] ? masks[i] : "", ig->tag);
				return -ENOENT;
			}
			continue;
		}
		if (!iscsi_init_grp_netmask_is_valid(masks[i]) ||
		    strlen(masks[i]) >= sizeof(((struct iscsi_netmask *)0)->mask)) {
			snprintf(err, err_len,
				 "'%s' is not ANY or an address with an optional "
				 "prefix length (192.168.0.0/16, [fd00::]/8)",
				 masks[i] ? masks[i] : "");
			return -EINVAL;
		}
		if (ig_find_mask(ig, masks[i]) != NULL || ig_dup_before(masks, i)) {
			snprintf(err, err_len, "netmask '%s' is already in initiator group %d",
				 masks[i], ig->tag);
			return -EEXIST;
		}
	}
	if (add && ig->nnetmasks + n > ISCSI_MAX_NETMASKS) {
		snprintf(err, err_len, "an initiator group holds at most %d netmasks",
			 ISCSI_MAX_NETMASKS);
		return -ENOSPC;
	}
	return 0;
}

static void
ig_remove(struct iscsi_init_grp *ig, const char *const *names, int num_names,
	  const char *const *masks, int num_masks)
{
	struct iscsi_initiator_name *n;
	struct iscsi_netmask *m;
	int i;

	for (i = 0; i < num_names; i++) {
		n = ig_find_name(ig, names[i]);
		if (n != NULL) {
			TAILQ_REMOVE(&ig->initiators, n, link);
			ig->ninitiators--;
			free(n);
		}
	}
	for (i = 0; i < num_masks; i++) {
		m = ig_find_mask(ig, masks[i]);
		if (m != NULL) {
			TAILQ_REMOVE(&ig->netmasks, m, link);
			ig->nnetmasks--;
			free(m);
		}
	}
}

/* Build every new entry first, so that running out of memory leaves the group unchanged. */
static int
ig_add(struct iscsi_init_grp *ig, const char *const *names, int num_names, const char *const *masks,
       int num_masks)
{
	TAILQ_HEAD(, iscsi_initiator_name) new_names = TAILQ_HEAD_INITIALIZER(new_names);
	TAILQ_HEAD(, iscsi_netmask) new_masks = TAILQ_HEAD_INITIALIZER(new_masks);
	struct iscsi_initiator_name *n;
	struct iscsi_netmask *m;
	int i;

	for (i = 0; i < num_names; i++) {
		n = calloc(1, sizeof(*n));
		if (n == NULL) {
			goto err_free;
		}
		keel_strlcpy(n->name, names[i], sizeof(n->name));
		TAILQ_INSERT_TAIL(&new_names, n, link);
	}
	for (i = 0; i < num_masks; i++) {
		m = calloc(1, sizeof(*m));
		if (m == NULL) {
			goto err_free;
		}
		keel_strlcpy(m->mask, masks[i], sizeof(m->mask));
		TAILQ_INSERT_TAIL(&new_masks, m, link);
	}
	pthread_mutex_lock(&g_iscsi.lock);
	while ((n = TAILQ_FIRST(&new_names)) != NULL) {
		TAILQ_REMOVE(&new_names, n, link);
		TAILQ_INSERT_TAIL(&ig->initiators, n, link);
		ig->ninitiators++;
	}
	while ((m = TAILQ_FIRST(&new_masks)) != NULL) {
		TAILQ_REMOVE(&new_masks, m, link);
		TAILQ_INSERT_TAIL(&ig->netmasks, m, link);
		ig->nnetmasks++;
	}
	pthread_mutex_unlock(&g_iscsi.lock);
	return 0;

err_free:
	while ((n = TAILQ_FIRST(&new_names)) != NULL) {
		TAILQ_REMOVE(&new_names, n, link);
		free(n);
	}
	while ((m = TAILQ_FIRST(&new_masks)) != NULL) {
		TAILQ_REMOVE(&new_masks, m, link);
		free(m);
	}
	return -ENOMEM;
}

int
iscsi_init_grp_change(struct iscsi_init_grp *ig, bool add, const char *const *names, int num_names,
		      const char *const *masks, int num_masks, const char **bad, char *err,
		      size_t err_len)
{
	int rc;

	*bad = "initiators";
	rc = ig_check_names(ig, add, names, num_names, err, err_len);
	if (rc == 0) {
		*bad = "netmasks";
		rc = ig_check_masks(ig, add, masks, num_masks, err, err_len);
	}
	if (rc != 0) {
		return rc;
	}
	if (add) {
		rc = ig_add(ig, names, num_names, masks, num_masks);
		if (rc != 0) {
			snprintf(err, err_len, "out of memory");
		}
		return rc;
	}
	pthread_mutex_lock(&g_iscsi.lock);
	ig_remove(ig, names, num_names, masks, num_masks);
	pthread_mutex_unlock(&g_iscsi.lock);
	return 0;
}
