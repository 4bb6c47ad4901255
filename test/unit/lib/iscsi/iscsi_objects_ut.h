/*
 * What the iSCSI configuration object tests share: the sources under test (options, portal,
 * initiator, auth groups, target nodes, the legacy config) and stand-ins for what they call
 * outside them: a fake SCSI device that records LUNs and ports, fake bdevs (every name that
 * starts with "Malloc" exists), a message queue the test runs by hand, a fake clock, and a log
 * that keeps the last error messages so that tests can check what they name.
 */
#ifndef KEEL_ISCSI_OBJECTS_UT_H
#define KEEL_ISCSI_OBJECTS_UT_H

#include "keel/stdinc.h"
#include "keel/bdev.h"
#include "keel/conf.h"
#include "keel/event.h"
#include "keel/sock.h"
#include "ut.h"

#include "iscsi/iscsi.c"
#include "iscsi/portal_grp.c"
#include "iscsi/init_grp.c"
#include "iscsi/auth_grp.c"
#include "iscsi/tgt_node.c"
#include "iscsi/config.c"

#include <json-c/json.h>

/*
 * Log: keep the text of everything logged, for the tests to search.
 */
static char g_ut_log[16384];

void
keel_vlog(enum keel_log_level level, const char *file, int line, const char *func, const char *fmt,
	  va_list ap)
{
	size_t used = strlen(g_ut_log);

	if (used + 1 < sizeof(g_ut_log)) {
		vsnprintf(g_ut_log + used, sizeof(g_ut_log) - used, fmt, ap);
	}
}

void
keel_log(enum keel_log_level level, const char *file, int line, const char *func, const char *fmt,
	 ...)
{
	va_list ap;

	va_start(ap, fmt);
	keel_vlog(level, file, line, func, fmt, ap);
	va_end(ap);
}

void
keel_log_register_flag(struct keel_log_flag *flag)
{
}

__attribute__((unused)) static bool
ut_log_has(const char *text)
{
	return strstr(g_ut_log, text) != NULL;
}

static void
ut_log_clear(void)
{
	g_ut_log[0] = '\0';
}

/*
 * Messages and pollers: queued, run by the test.
 */
struct ut_msg {
	keel_msg_fn fn;
	void *ctx;
};

static struct ut_msg g_ut_msgs[256];
static int g_ut_num_msgs;
static uint64_t g_ut_ticks;

int
keel_thread_send_msg(const struct keel_thread *thread, keel_msg_fn fn, void *ctx)
{
	if (g_ut_num_msgs == (int)KEEL_COUNTOF(g_ut_msgs)) {
		return -ENOMEM;
	}
	g_ut_msgs[g_ut_num_msgs].fn = fn;
	g_ut_msgs[g_ut_num_msgs++].ctx = ctx;
	return 0;
}

static void
ut_run_msgs(void)
{
	while (g_ut_num_msgs > 0) {
		struct ut_msg m = g_ut_msgs[0];

		memmove(g_ut_msgs, g_ut_msgs + 1, (size_t)--g_ut_num_msgs * sizeof(g_ut_msgs[0]));
		m.fn(m.ctx);
	}
}

struct keel_poller {
	keel_poller_fn fn;
	void *ctx;
	uint64_t period_us;
	bool live;
};

static struct keel_poller g_ut_pollers[64];

struct keel_poller *
keel_poller_register_named(keel_poller_fn fn, void *ctx, uint64_t period_us, const char *name)
{
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(g_ut_pollers); i++) {
		if (!g_ut_pollers[i].live) {
			g_ut_pollers[i] = (struct keel_poller){fn, ctx, period_us, true};
			return &g_ut_pollers[i];
		}
	}
	return NULL;
}

void
keel_poller_unregister(struct keel_poller **pp)
{
	if (*pp != NULL) {
		(*pp)->live = false;
		*pp = NULL;
	}
}

int
keel_poller_set_interrupt_fd(struct keel_poller *poller, int fd, uint32_t events)
{
	return 0;
}

/* Run every timed poller (period > 0) once. */
__attribute__((unused)) static void
ut_run_timed_pollers(void)
{
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(g_ut_pollers); i++) {
		if (g_ut_pollers[i].live && g_ut_pollers[i].period_us > 0) {
			g_ut_pollers[i].fn(g_ut_pollers[i].ctx);
		}
	}
}

uint64_t
keel_get_ticks(void)
{
	return g_ut_ticks;
}

uint64_t
keel_get_ticks_hz(void)
{
	return 1000;
}

/*
 * Sockets: listening always works except on port 1 (busy).
 */
static int g_ut_listening;

void
keel_sock_opts_init(struct keel_sock_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
}

struct keel_sock *
keel_sock_listen(const char *host, uint16_t port, const struct keel_sock_opts *opts, int *rc)
{
	struct keel_sock *s;

	if (port == 1) {
		*rc = -EADDRINUSE;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	g_ut_listening++;
	*rc = 0;
	return s;
}

struct keel_sock *
keel_sock_accept(struct keel_sock *sock)
{
	return NULL;
}

int
keel_sock_close(struct keel_sock **sock)
{
	if (*sock != NULL) {
		g_ut_listening--;
		free(*sock);
		*sock = NULL;
	}
	return 0;
}

int
keel_sock_get_fd(struct keel_sock *sock)
{
	return -1;
}

/*
 * Bdevs: every name starting with "Malloc" exists.
 */
struct keel_bdev *
keel_bdev_get_by_name(const char *name)
{
	return strncmp(name, "Malloc", 6) == 0 ? (struct keel_bdev *)(uintptr_t)1 : NULL;
}

/*
 * SCSI devices.
 */
struct keel_scsi_lun {
	bool used;
	uint64_t id;
	char bdev[64];
	struct keel_scsi_dev *dev;
};

struct keel_scsi_dev {
	char name[KEEL_SCSI_DEV_MAX_NAME + 1];
	struct keel_scsi_lun luns[ISCSI_MAX_LUN];
	uint64_t port_ids[KEEL_SCSI_DEV_MAX_PORTS];
	char port_names[KEEL_SCSI_DEV_MAX_PORTS][KEEL_SCSI_PORT_MAX_NAME + 1];
	int num_ports;
};

static int g_ut_devs_alive;
static bool g_ut_dev_construct_fails;

struct keel_scsi_dev *
keel_scsi_dev_construct(const char *name, const char *const *bdev_names, const int *lun_ids,
			int num_luns, uint8_t protocol_id, keel_scsi_dev_lun_removed_cb cb,
			void *ctx)
{
	struct keel_scsi_dev *dev;
	int i;

	if (g_ut_dev_construct_fails) {
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	for (i = 0; i < num_luns; i++) {
		struct keel_scsi_lun *lun = &dev->luns[lun_ids[i]];

		lun->used = true;
		lun->id = (uint64_t)lun_ids[i];
		lun->dev = dev;
		snprintf(lun->bdev, sizeof(lun->bdev), "%s", bdev_names[i]);
	}
	g_ut_devs_alive++;
	return dev;
}

struct ut_destruct {
	struct keel_scsi_dev *dev;
	void (*cb)(void *cb_arg, int rc);
	void *cb_arg;
};

static void
ut_destruct_msg(void *arg)
{
	struct ut_destruct *d = arg;

	free(d->dev);
	g_ut_devs_alive--;
	d->cb(d->cb_arg, 0);
	free(d);
}

void
keel_scsi_dev_destruct(struct keel_scsi_dev *dev, void (*cb)(void *cb_arg, int rc), void *cb_arg)
{
	struct ut_destruct *d = calloc(1, sizeof(*d));

	d->dev = dev;
	d->cb = cb;
	d->cb_arg = cb_arg;
	keel_thread_send_msg(NULL, ut_destruct_msg, d);
}

static int
ut_port_index(struct keel_scsi_dev *dev, uint64_t id)
{
	int i;

	for (i = 0; i < dev->num_ports; i++) {
		if (dev->port_ids[i] == id) {
			return i;
		}
	}
	return -1;
}

int
keel_scsi_dev_add_port(struct keel_scsi_dev *dev, uint64_t id, const char *name)
{
	if (ut_port_index(dev, id) >= 0) {
		return -EEXIST;
	}
	dev->port_ids[dev->num_ports] = id;
	snprintf(dev->port_names[dev->num_ports++], KEEL_SCSI_PORT_MAX_NAME + 1, "%s", name);
	return 0;
}

int
keel_scsi_dev_delete_port(struct keel_scsi_dev *dev, uint64_t id)
{
	int i = ut_port_index(dev, id);

	if (i < 0) {
		return -ENOENT;
	}
	dev->num_ports--;
	dev->port_ids[i] = dev->port_ids[dev->num_ports];
	memcpy(dev->port_names[i], dev->port_names[dev->num_ports], sizeof(dev->port_names[i]));
	return 0;
}

struct keel_scsi_lun *
keel_scsi_dev_get_lun(struct keel_scsi_dev *dev, uint64_t id)
{
	return id < ISCSI_MAX_LUN && dev->luns[id].used ? &dev->luns[id] : NULL;
}

int
keel_scsi_dev_add_lun(struct keel_scsi_dev *dev, const char *bdev_name, int lun_id)
{
	if (dev->luns[lun_id].used) {
		return -EEXIST;
	}
	dev->luns[lun_id].used = true;
	dev->luns[lun_id].id = (uint64_t)lun_id;
	dev->luns[lun_id].dev = dev;
	snprintf(dev->luns[lun_id].bdev, sizeof(dev->luns[lun_id].bdev), "%s", bdev_name);
	return lun_id;
}

static struct keel_scsi_lun *
ut_lun_from(struct keel_scsi_dev *dev, uint64_t start)
{
	uint64_t i;

	for (i = start; i < ISCSI_MAX_LUN; i++) {
		if (dev->luns[i].used) {
			return &dev->luns[i];
		}
	}
	return NULL;
}

struct keel_scsi_lun *
keel_scsi_dev_get_first_lun(struct keel_scsi_dev *dev)
{
	return ut_lun_from(dev, 0);
}

struct keel_scsi_lun *
keel_scsi_dev_get_next_lun(struct keel_scsi_lun *prev)
{
	return ut_lun_from(prev->dev, prev->id + 1);
}

const char *
keel_scsi_lun_get_bdev_name(const struct keel_scsi_lun *lun)
{
	return lun->bdev;
}

uint64_t
keel_scsi_lun_get_id(const struct keel_scsi_lun *lun)
{
	return lun->id;
}

/*
 * The rest of the iSCSI target and the framework.
 */
static int g_ut_logout_requests;
static int32_t g_ut_logout_pg_tag;
static int g_ut_ua_reports;
static int g_ut_drops;

void
iscsi_conns_request_logout(struct iscsi_tgt_node *target, int32_t pg_tag)
{
	g_ut_logout_requests++;
	g_ut_logout_pg_tag = pg_tag;
}

void
iscsi_tgt_node_report_ua(struct iscsi_tgt_node *target)
{
	g_ut_ua_reports++;
}

void
iscsi_conn_drop(struct iscsi_conn *conn, const char *why)
{
	g_ut_drops++;
	TAILQ_REMOVE(&conn->pg->conns, conn, pg_link);
}

int
iscsi_conn_construct(struct iscsi_portal *portal, struct keel_sock *sock)
{
	return -ENOMEM;
}

int
iscsi_poll_groups_init(void)
{
	return 0;
}

void
iscsi_poll_groups_fini(void (*done)(void *ctx), void *ctx)
{
	done(ctx);
}

int
iscsi_text_append(char **buf, uint32_t *len, uint32_t *cap, const char *key, const char *value)
{
	size_t need = strlen(key) + strlen(value) + 2;
	char *p;

	if (*len + need > *cap) {
		p = realloc(*buf, *len + need + 256);
		if (p == NULL) {
			return -ENOMEM;
		}
		*buf = p;
		*cap = *len + (uint32_t)need + 256;
	}
	sprintf(*buf + *len, "%s=%s", key, value);
	*len += (uint32_t)need;
	return 0;
}

struct keel_mempool *
keel_mempool_create(const char *name, size_t count, size_t elt_size, size_t cache_size,
		    int socket_id)
{
	return NULL;
}

void
keel_mempool_free(struct keel_mempool *mp)
{
}

void
keel_add_subsystem(struct keel_subsystem *subsystem)
{
}

void
keel_add_subsystem_depend(struct keel_subsystem_depend *depend)
{
}

void
keel_subsystem_init_next(int rc)
{
}

void
keel_subsystem_fini_next(void)
{
}

/*
 * Fixtures.
 */
/* Forget every object and start from the default options. */
__attribute__((unused)) static void
ut_reset(void)
{
	iscsi_objects_fini();
	ut_run_msgs();
	iscsi_opts_init(&g_iscsi.opts);
	g_iscsi.opts_set = false;
	g_ut_dev_construct_fails = false;
	g_ut_logout_requests = 0;
	g_ut_ua_reports = 0;
	g_ut_drops = 0;
	g_ut_ticks = 0;
	keel_conf_set_default(NULL);
	ut_log_clear();
}

__attribute__((unused)) static struct iscsi_portal_grp *
ut_add_pg(int32_t tag, bool is_private, const char *host, uint16_t port)
{
	struct iscsi_portal_grp *pg = iscsi_portal_grp_create(tag, is_private);
	struct keel_cpuset mask;

	keel_cpuset_zero(&mask);
	CU_ASSERT_FATAL(pg != NULL);
	CU_ASSERT_FATAL(iscsi_portal_grp_add_portal(pg, host, port, &mask) == 0);
	CU_ASSERT_FATAL(iscsi_portal_grp_register(pg) == 0);
	return pg;
}

__attribute__((unused)) static struct iscsi_init_grp *
ut_add_ig(int32_t tag, const char *name, const char *mask)
{
	struct iscsi_init_grp *ig = iscsi_init_grp_create(tag);
	const char *names[] = {name}, *masks[] = {mask}, *bad;
	char err[ISCSI_ERR_LEN];

	CU_ASSERT_FATAL(ig != NULL);
	CU_ASSERT_FATAL(
		iscsi_init_grp_change(ig, true, names, 1, masks, 1, &bad, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(iscsi_init_grp_register(ig) == 0);
	return ig;
}

/* A target on LUN0 = Malloc0 mapped pg_tag:ig_tag; returns the rc of the creation. */
__attribute__((unused)) static int
ut_add_target(const char *name, int32_t pg_tag, int32_t ig_tag, struct iscsi_tgt_node **out)
{
	static const char *bdevs[] = {"Malloc0"};
	static const int ids[] = {0};
	struct iscsi_tgt_node_params p = {0};
	char err[ISCSI_ERR_LEN];

	p.name = name;
	p.alias = "alias";
	p.num_maps = 1;
	p.pg_tags = &pg_tag;
	p.ig_tags = &ig_tag;
	p.num_luns = 1;
	p.bdev_names = bdevs;
	p.lun_ids = ids;
	p.queue_depth = 32;
	return iscsi_tgt_node_create(&p, err, sizeof(err), out);
}

#endif /* KEEL_ISCSI_OBJECTS_UT_H */
