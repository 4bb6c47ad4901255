/*
 * Portal groups: sets of listening portals ("host:port", IPv6 as "[addr]:port", an optional
 * cpumask), each with an acceptor poller on the app thread that hands new connections to the
 * poll groups.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/sock.h"
#include "keel/thread.h"
#include "keel/util.h"

#include "iscsi_internal.h"

#define ACCEPT_POLL_US 1000

struct iscsi_portal_grp *
iscsi_portal_grp_find(int32_t tag)
{
	struct iscsi_portal_grp *pg;

	TAILQ_FOREACH(pg, &g_iscsi.portal_grps, link) {
		if (pg->tag == tag) {
			return pg;
		}
	}
	return NULL;
}

/*
 * Parse "host[:port][@cpumask]" or "[v6addr][:port][@cpumask]".
 * \return 0; -EINVAL with a message.
 */
int iscsi_portal_parse(const char *str, char *host, size_t hostlen, uint16_t *port,
		       struct keel_cpuset *mask);
int
iscsi_portal_parse(const char *str, char *host, size_t hostlen, uint16_t *port,
		   struct keel_cpuset *mask)
{
	char buf[KEEL_SOCK_ADDR_LEN + 64], *at, *p, *colon;
	uint32_t v;

	if (str == NULL || strlen(str) >= sizeof(buf) || str[0] == '\0') {
		return -EINVAL;
	}
	keel_strlcpy(buf, str, sizeof(buf));
	keel_cpuset_zero(mask);
	at = strchr(buf, '@');
	if (at != NULL) {
		*at++ = '\0';
		if (keel_cpuset_parse(mask, at) != 0) {
			return -EINVAL;
		}
	}
	*port = KEEL_ISCSI_DEFAULT_PORT;
	if (buf[0] == '[') {
		p = strchr(buf, ']');
		if (p == NULL || p == buf + 1) {
			return -EINVAL;
		}
		*p = '\0';
		if ((size_t)(p - buf) >= hostlen) {
			return -EINVAL;
		}
		keel_strlcpy(host, buf + 1, hostlen);
		p++;
		if (*p == ':') {
			if (keel_parse_u32(p + 1, &v) != 0 || v == 0 || v > 65535) {
				return -EINVAL;
			}
			*port = (uint16_t)v;
		} else if (*p != '\0') {
			return -EINVAL;
		}
		return 0;
	}
	colon = strrchr(buf, ':');
	if (colon != NULL && strchr(buf, ':') != colon) {
		/* A bare IPv6 address without brackets and without a port. */
		colon = NULL;
	}
	if (colon != NULL) {
		*colon = '\0';
		if (keel_parse_u32(colon + 1, &v) != 0 || v == 0 || v > 65535) {
			return -EINVAL;
		}
		*port = (uint16_t)v;
	}
	if (buf[0] == '\0' || strlen(buf) >= hostlen) {
		return -EINVAL;
	}
	keel_strlcpy(host, buf, hostlen);
	return 0;
}

static int
iscsi_portal_accept(void *arg)
{
	struct iscsi_portal *p = arg;
	struct keel_sock *sock;
	int n = 0;

	if (!p->group->started) {
		return KEEL_POLLER_IDLE;
	}
	while (n < 32 && (sock = keel_sock_accept(p->sock)) != NULL) {
		n++;
		if (iscsi_conn_construct(p, sock) != 0) {
			KEEL_ERRLOG("portal %s:%u: cannot take a new connection\n", p->host, p->port);
			keel_sock_close(&sock);
		}
	}
	return n > 0 ? KEEL_POLLER_BUSY : KEEL_POLLER_IDLE;
}

struct iscsi_portal_grp *iscsi_portal_grp_create(int32_t tag, bool is_private);
int iscsi_portal_grp_add_portal(struct iscsi_portal_grp *pg, const char *host, uint16_t port,
				const struct keel_cpuset *mask);
int iscsi_portal_grp_open(struct iscsi_portal_grp *pg);
void iscsi_portal_grp_destroy(struct iscsi_portal_grp *pg);

struct iscsi_portal_grp *
iscsi_portal_grp_create(int32_t tag, bool is_private)
{
	struct iscsi_portal_grp *pg = calloc(1, sizeof(*pg));

	if (pg == NULL) {
		return NULL;
	}
	pg->tag = tag;
	pg->is_private = is_private;
	pg->started = true;
	pg->chap_group = -1;
	TAILQ_INIT(&pg->portals);
	return pg;
}

int
iscsi_portal_grp_add_portal(struct iscsi_portal_grp *pg, const char *host, uint16_t port,
			    const struct keel_cpuset *mask)
{
	struct iscsi_portal *p, *it;
	int n = 0;

	TAILQ_FOREACH(it, &pg->portals, link) {
		if (strcmp(it->host, host) == 0 && it->port == port) {
			return -EEXIST;
		}
		n++;
	}
	if (n >= ISCSI_MAX_PORTALS) {
		return -ENOSPC;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		return -ENOMEM;
	}
	p->group = pg;
	keel_strlcpy(p->host, host, sizeof(p->host));
	p->port = port;
	if (mask != NULL) {
		p->cpumask = *mask;
	}
	TAILQ_INSERT_TAIL(&pg->portals, p, link);
	return 0;
}

/* Listen on every portal of the group (on the app thread). A portal already used by another
 * group, or an address that cannot be bound, fails the whole group. */
int
iscsi_portal_grp_open(struct iscsi_portal_grp *pg)
{
	struct iscsi_portal *p;
	int rc = 0;

	TAILQ_FOREACH(p, &pg->portals, link) {
		struct keel_sock_opts opts;

		keel_sock_opts_init(&opts);
		p->sock = keel_sock_listen(p->host, p->port, &opts, &rc);
		if (p->sock == NULL) {
			KEEL_ERRLOG("portal group %d: cannot listen on %s:%u: %s\n", pg->tag, p->host,
				    p->port, keel_strerror(-rc));
			goto err;
		}
		p->acceptor = keel_poller_register(iscsi_portal_accept, p, ACCEPT_POLL_US);
		if (p->acceptor == NULL) {
			rc = -ENOMEM;
			goto err;
		}
		keel_poller_set_interrupt_fd(p->acceptor, keel_sock_get_fd(p->sock), 0);
		KEEL_NOTICELOG("iSCSI portal group %d listening on %s:%u\n", pg->tag, p->host,
			       p->port);
	}
	return 0;
err:
	TAILQ_FOREACH(p, &pg->portals, link) {
		keel_poller_unregister(&p->acceptor);
		keel_sock_close(&p->sock);
	}
	return rc ? rc : -EIO;
}

static void
iscsi_portal_grp_close(struct iscsi_portal_grp *pg)
{
	struct iscsi_portal *p;

	TAILQ_FOREACH(p, &pg->portals, link) {
		keel_poller_unregister(&p->acceptor);
		keel_sock_close(&p->sock);
	}
}

void
iscsi_portal_grp_destroy(struct iscsi_portal_grp *pg)
{
	struct iscsi_portal *p;

	if (pg == NULL) {
		return;
	}
	iscsi_portal_grp_close(pg);
	while ((p = TAILQ_FIRST(&pg->portals)) != NULL) {
		TAILQ_REMOVE(&pg->portals, p, link);
		free(p);
	}
	free(pg);
}

void iscsi_portals_stop(void);

void
iscsi_portals_stop(void)
{
	struct iscsi_portal_grp *pg;

	pthread_mutex_lock(&g_iscsi.lock);
	TAILQ_FOREACH(pg, &g_iscsi.portal_grps, link) {
		iscsi_portal_grp_close(pg);
	}
	pthread_mutex_unlock(&g_iscsi.lock);
}
