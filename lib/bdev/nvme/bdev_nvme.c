/*
 * The NVMe bdev module: controllers attached through lib/nvme, one bdev per active namespace
 * (<name>n<nsid>), an I/O queue pair per thread and controller, retries, timeouts with abort or
 * reset, resets that disconnect every queue pair and reconnect it, namespace changes from
 * asynchronous events, and the hotplug monitor that attaches new controllers and removes gone
 * ones through the bdev hot-remove path.
 */
#include "keel/stdinc.h"
#include "keel/bdev_module.h"
#include "keel/conf.h"
#include "keel/log.h"
#include "keel/nvme.h"
#include "keel/nvme_sim.h"
#include "keel/thread.h"
#include "keel/util.h"

#include <json-c/json.h>

#include "bdev_nvme.h"

KEEL_LOG_REGISTER_COMPONENT(bdev_nvme)

#define NVME_HOTPLUG_DEFAULT_US 100000
#define NVME_MAX_SKIPPED 64

struct nvme_bdev {
	struct keel_bdev bdev;
	struct bdev_nvme_ctrlr *c;
	struct keel_nvme_ns *ns;
	uint32_t nsid;
};

struct bdev_nvme_ctrlr {
	char *name;
	struct keel_nvme_transport_id trid;
	struct keel_nvme_ctrlr *ctrlr;
	struct keel_thread *thread; /* owner: admin poller, resets, namespace changes */
	struct keel_poller *admin_poller;
	struct nvme_bdev **bdevs; /* by nsid - 1 */
	uint32_t num_ns;
	uint32_t bdev_count;
	bool owns_sim;
	bool destructing;
	bool io_device_unregistering;
	bool in_fini_list;	/* moved to g_fini_ctrlrs by nvme_module_fini */
	bool resetting;
	bool reset_pending;
	int reset_rc;
	uint32_t reset_passes;
	TAILQ_HEAD(, nvme_io) reset_ios;
	keel_bdev_done_cb detach_cb;
	void *detach_arg;
	TAILQ_ENTRY(bdev_nvme_ctrlr) link;
};

struct nvme_channel {
	struct bdev_nvme_ctrlr *c;
	struct keel_nvme_qpair *qpair;
	struct keel_poller *poller;
	bool resetting;
	TAILQ_HEAD(, nvme_io) retry;
};

struct nvme_io {
	struct nvme_channel *ch;
	uint32_t retries;
	int status;
	TAILQ_ENTRY(nvme_io) link;
};

static TAILQ_HEAD(, bdev_nvme_ctrlr) g_ctrlrs = TAILQ_HEAD_INITIALIZER(g_ctrlrs);
/* Controllers shut down by nvme_module_fini whose io_device has not gone yet. */
static TAILQ_HEAD(, bdev_nvme_ctrlr) g_fini_ctrlrs = TAILQ_HEAD_INITIALIZER(g_fini_ctrlrs);
static struct bdev_nvme_opts g_opts = {
	.action_on_timeout = BDEV_NVME_TIMEOUT_ACTION_NONE,
	.timeout_us = 0,
	.retry_count = 4,
	.nvme_adminq_poll_period_us = 100000,
	.nvme_ioq_poll_period_us = 0,
	.io_queue_requests = 0,
};
static bool g_hotplug_enabled;
static uint64_t g_hotplug_period_us = NVME_HOTPLUG_DEFAULT_US;
static struct keel_poller *g_hotplug_poller;
static uint32_t g_hot_index;
/* Controllers detached on request: the hotplug monitor leaves them alone while present. */
static struct keel_nvme_transport_id g_skipped[NVME_MAX_SKIPPED];
static uint32_t g_skipped_count;

static struct keel_bdev_module g_nvme_module;
static const struct keel_bdev_fn_table g_nvme_fn_table;

static void nvme_ctrlr_reset_start(struct bdev_nvme_ctrlr *c);
static void nvme_ctrlr_destruct(struct bdev_nvme_ctrlr *c);
static void nvme_io_start(struct nvme_io *nio);

/* --- Options ------------------------------------------------------------------------------ */

void
bdev_nvme_get_opts(struct bdev_nvme_opts *opts)
{
	*opts = g_opts;
}

int
bdev_nvme_set_opts(const struct bdev_nvme_opts *opts)
{
	if (!TAILQ_EMPTY(&g_ctrlrs)) {
		return -EPERM;
	}
	if (opts->action_on_timeout > BDEV_NVME_TIMEOUT_ACTION_ABORT ||
	    opts->nvme_adminq_poll_period_us == 0 || opts->nvme_adminq_poll_period_us > 60000000 ||
	    opts->nvme_ioq_poll_period_us > 1000000 ||
	    (opts->io_queue_requests != 0 && opts->io_queue_requests < 2)) {
		return -EINVAL;
	}
	g_opts = *opts;
	return 0;
}

int
bdev_nvme_parse_timeout_action(const char *str, enum bdev_nvme_timeout_action *action)
{
	if (strcasecmp(str, "none") == 0) {
		*action = BDEV_NVME_TIMEOUT_ACTION_NONE;
	} else if (strcasecmp(str, "reset") == 0) {
		*action = BDEV_NVME_TIMEOUT_ACTION_RESET;
	} else if (strcasecmp(str, "abort") == 0) {
		*action = BDEV_NVME_TIMEOUT_ACTION_ABORT;
	} else {
		return -EINVAL;
	}
	return 0;
}

const char *
bdev_nvme_timeout_action_name(enum bdev_nvme_timeout_action action)
{
	switch (action) {
	case BDEV_NVME_TIMEOUT_ACTION_RESET:
		return "reset";
	case BDEV_NVME_TIMEOUT_ACTION_ABORT:
		return "abort";
	default:
		return "none";
	}
}

/* --- Controller list ----------------------------------------------------------------------- */

static bool
nvme_ctrlr_valid(struct bdev_nvme_ctrlr *c)
{
	struct bdev_nvme_ctrlr *it;

	TAILQ_FOREACH (it, &g_ctrlrs, link) {
		if (it == c) {
			return true;
		}
	}
	return false;
}

struct bdev_nvme_ctrlr *
bdev_nvme_first_ctrlr(void)
{
	struct bdev_nvme_ctrlr *c = TAILQ_FIRST(&g_ctrlrs);

	while (c != NULL && c->destructing) {
		c = TAILQ_NEXT(c, link);
	}
	return c;
}

struct bdev_nvme_ctrlr *
bdev_nvme_next_ctrlr(struct bdev_nvme_ctrlr *prev)
{
	struct bdev_nvme_ctrlr *c = TAILQ_NEXT(prev, link);

	while (c != NULL && c->destructing) {
		c = TAILQ_NEXT(c, link);
	}
	return c;
}

struct bdev_nvme_ctrlr *
bdev_nvme_ctrlr_find(const char *name)
{
	struct bdev_nvme_ctrlr *c;

	TAILQ_FOREACH (c, &g_ctrlrs, link) {
		if (!c->destructing && strcmp(c->name, name) == 0) {
			return c;
		}
	}
	return NULL;
}

static struct bdev_nvme_ctrlr *
nvme_ctrlr_find_trid(const struct keel_nvme_transport_id *trid)
{
	struct bdev_nvme_ctrlr *c;

	TAILQ_FOREACH (c, &g_ctrlrs, link) {
		if (keel_nvme_transport_id_equal(&c->trid, trid)) {
			return c;
		}
	}
	return NULL;
}

const char *
bdev_nvme_ctrlr_get_name(const struct bdev_nvme_ctrlr *c)
{
	return c->name;
}

const struct keel_nvme_transport_id *
bdev_nvme_ctrlr_get_trid(const struct bdev_nvme_ctrlr *c)
{
	return &c->trid;
}

struct keel_nvme_ctrlr *
bdev_nvme_ctrlr_get_nvme(const struct bdev_nvme_ctrlr *c)
{
	return c->ctrlr;
}

/* --- I/O ---------------------------------------------------------------------------------- */

static void
nvme_io_done(void *arg, const struct keel_nvme_cpl *cpl)
{
	struct nvme_io *nio = arg;
	struct keel_bdev_io *io = keel_bdev_io_from_ctx(nio);
	struct nvme_channel *ch = nio->ch;

	if (!KEEL_NVME_CPL_IS_ERROR(cpl)) {
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_SUCCESS);
		return;
	}
	if (KEEL_NVME_CPL_SCT(cpl) == KEEL_NVME_SCT_MEDIA_ERROR &&
	    KEEL_NVME_CPL_SC(cpl) == KEEL_NVME_SC_COMPARE_FAILURE) {
		/* NVMe does not say where: the first byte is the best offset to report. */
		keel_bdev_io_complete_miscompare(io, 0);
		return;
	}
	if (!KEEL_NVME_CPL_DNR(cpl) && nio->retries < g_opts.retry_count &&
	    !keel_nvme_ctrlr_is_removed(ch->c->ctrlr)) {
		/* Retried from the channel poller (after the reconnect if a reset is running). */
		nio->retries++;
		TAILQ_INSERT_TAIL(&ch->retry, nio, link);
		return;
	}
	KEEL_INFOLOG(bdev_nvme, "%s: %s of %" PRIu64 " blocks at %" PRIu64 " failed: %s\n",
		     io->bdev->name, io->type == KEEL_BDEV_IO_TYPE_READ ? "read" : "I/O",
		     io->u.bdev.num_blocks, io->u.bdev.offset_blocks,
		     keel_nvme_cpl_status_string(cpl));
	keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_FAILED);
}

static int
nvme_io_unmap(struct nvme_bdev *nb, struct nvme_channel *ch, struct keel_bdev_io *io,
	      struct nvme_io *nio)
{
	struct keel_nvme_dsm_range ranges[256];
	uint64_t lba = io->u.bdev.offset_blocks, left = io->u.bdev.num_blocks;
	uint16_t n = 0;

	while (left > 0) {
		uint32_t len = (uint32_t)KEEL_MIN(left, (uint64_t)UINT32_MAX);

		if (n == KEEL_COUNTOF(ranges)) {
			return -EINVAL;
		}
		ranges[n].attributes = 0;
		ranges[n].starting_lba = lba;
		ranges[n].length = len;
		n++;
		lba += len;
		left -= len;
	}
	return keel_nvme_ns_cmd_deallocate(nb->ns, ch->qpair, ranges, n, nvme_io_done, nio);
}

static int
nvme_io_submit(struct nvme_io *nio)
{
	struct keel_bdev_io *io = keel_bdev_io_from_ctx(nio);
	struct nvme_bdev *nb = io->bdev->ctxt;
	struct nvme_channel *ch = nio->ch;
	uint64_t lba = io->u.bdev.offset_blocks;
	uint32_t nlb = (uint32_t)io->u.bdev.num_blocks;
	uint32_t flags = (io->u.bdev.flags & KEEL_BDEV_IO_FLAG_FUA) ? KEEL_NVME_IO_FLAGS_FUA : 0;

	if (ch->qpair == NULL) {
		return -ENXIO;
	}
	switch (io->type) {
	case KEEL_BDEV_IO_TYPE_READ:
		return keel_nvme_ns_cmd_readv(nb->ns, ch->qpair, lba, nlb, io->u.bdev.iovs,
					      io->u.bdev.iovcnt, 0, nvme_io_done, nio);
	case KEEL_BDEV_IO_TYPE_WRITE:
		return keel_nvme_ns_cmd_writev(nb->ns, ch->qpair, lba, nlb, io->u.bdev.iovs,
					       io->u.bdev.iovcnt, flags, nvme_io_done, nio);
	case KEEL_BDEV_IO_TYPE_COMPARE:
		return keel_nvme_ns_cmd_comparev(nb->ns, ch->qpair, lba, nlb, io->u.bdev.iovs,
						 io->u.bdev.iovcnt, nvme_io_done, nio);
	case KEEL_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		return keel_nvme_ns_cmd_compare_and_writev(nb->ns, ch->qpair, lba, nlb,
							   io->u.bdev.cmp_iovs,
							   io->u.bdev.cmp_iovcnt, io->u.bdev.iovs,
							   io->u.bdev.iovcnt, flags, nvme_io_done,
							   nio);
	case KEEL_BDEV_IO_TYPE_FLUSH:
		return keel_nvme_ns_cmd_flush(nb->ns, ch->qpair, nvme_io_done, nio);
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		return keel_nvme_ns_cmd_write_zeroes(nb->ns, ch->qpair, lba, nlb, flags,
						     nvme_io_done, nio);
	case KEEL_BDEV_IO_TYPE_UNMAP:
		return nvme_io_unmap(nb, ch, io, nio);
	default:
		return -ENOTSUP;
	}
}

static void
nvme_io_start(struct nvme_io *nio)
{
	struct keel_bdev_io *io = keel_bdev_io_from_ctx(nio);
	struct nvme_channel *ch = nio->ch;
	int rc;

	if (ch->resetting) {
		TAILQ_INSERT_TAIL(&ch->retry, nio, link);
		return;
	}
	rc = nvme_io_submit(nio);
	if (rc == 0) {
		return;
	}
	if (rc == -ENOMEM) {
		keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_NOMEM);
		return;
	}
	if (rc != -EINVAL && rc != -ENOTSUP) {
		KEEL_INFOLOG(bdev_nvme, "%s: submission failed: %s\n", io->bdev->name,
			     keel_strerror(-rc));
	} else {
		KEEL_ERRLOG("%s: I/O refused by the driver: %s\n", io->bdev->name,
			    keel_strerror(-rc));
	}
	keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_FAILED);
}

static void
nvme_reset_io_complete_msg(void *arg)
{
	struct nvme_io *nio = arg;

	keel_bdev_io_complete(keel_bdev_io_from_ctx(nio), nio->status == 0
								  ? KEEL_BDEV_IO_STATUS_SUCCESS
								  : KEEL_BDEV_IO_STATUS_FAILED);
}

static void
nvme_reset_io_msg(void *arg)
{
	struct nvme_io *nio = arg;
	struct bdev_nvme_ctrlr *c = nio->ch->c;
	struct keel_bdev_io *io = keel_bdev_io_from_ctx(nio);

	if (c->destructing) {
		nio->status = -ENXIO;
		keel_thread_send_msg(keel_bdev_io_get_thread(io), nvme_reset_io_complete_msg, nio);
		return;
	}
	TAILQ_INSERT_TAIL(&c->reset_ios, nio, link);
	nvme_ctrlr_reset_start(c);
}

static void
bdev_nvme_submit_request(struct keel_io_channel *_ch, struct keel_bdev_io *io)
{
	struct nvme_channel *ch = keel_io_channel_get_ctx(_ch);
	struct nvme_io *nio = (struct nvme_io *)io->driver_ctx;

	nio->ch = ch;
	nio->retries = 0;
	nio->status = 0;
	if (io->type == KEEL_BDEV_IO_TYPE_RESET) {
		/* The controller's owner thread runs resets; the answer comes back here. */
		if (keel_thread_send_msg(ch->c->thread, nvme_reset_io_msg, nio) != 0) {
			keel_bdev_io_complete(io, KEEL_BDEV_IO_STATUS_FAILED);
		}
		return;
	}
	nvme_io_start(nio);
}

static bool
bdev_nvme_io_type_supported(void *ctx, enum keel_bdev_io_type type)
{
	struct nvme_bdev *nb = ctx;
	const struct keel_nvme_ctrlr_data *cd = keel_nvme_ctrlr_get_data(nb->c->ctrlr);

	switch (type) {
	case KEEL_BDEV_IO_TYPE_READ:
	case KEEL_BDEV_IO_TYPE_WRITE:
	case KEEL_BDEV_IO_TYPE_FLUSH:
	case KEEL_BDEV_IO_TYPE_RESET:
		return true;
	case KEEL_BDEV_IO_TYPE_UNMAP:
		return (cd->oncs & KEEL_NVME_ONCS_DSM) != 0;
	case KEEL_BDEV_IO_TYPE_WRITE_ZEROES:
		return (cd->oncs & KEEL_NVME_ONCS_WRITE_ZEROES) != 0;
	case KEEL_BDEV_IO_TYPE_COMPARE:
		return (cd->oncs & KEEL_NVME_ONCS_COMPARE) != 0;
	case KEEL_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		return (cd->fuses & 1) != 0;
	default:
		return false;
	}
}

/* --- Channels ------------------------------------------------------------------------------ */

static void
nvme_channel_fail_retries(struct nvme_channel *ch)
{
	struct nvme_io *nio;

	while ((nio = TAILQ_FIRST(&ch->retry)) != NULL) {
		TAILQ_REMOVE(&ch->retry, nio, link);
		keel_bdev_io_complete(keel_bdev_io_from_ctx(nio), KEEL_BDEV_IO_STATUS_FAILED);
	}
}

static int
nvme_channel_poll(void *arg)
{
	struct nvme_channel *ch = arg;
	TAILQ_HEAD(, nvme_io) again;
	struct nvme_io *nio;
	int32_t n = 0;

	if (ch->resetting || ch->qpair == NULL) {
		return KEEL_POLLER_IDLE;
	}
	if (!keel_nvme_qpair_is_connected(ch->qpair) && !ch->c->resetting &&
	    !keel_nvme_ctrlr_is_removed(ch->c->ctrlr) && !keel_nvme_ctrlr_is_failed(ch->c->ctrlr)) {
		keel_nvme_qpair_reconnect(ch->qpair);
	}
	n = keel_nvme_qpair_process_completions(ch->qpair, 0);
	if (TAILQ_EMPTY(&ch->retry)) {
		return n > 0 ? KEEL_POLLER_BUSY : KEEL_POLLER_IDLE;
	}
	if (keel_nvme_ctrlr_is_removed(ch->c->ctrlr)) {
		nvme_channel_fail_retries(ch);
		return KEEL_POLLER_BUSY;
	}
	/* Take the list first: a retry may land back on it for the next poll. */
	TAILQ_INIT(&again);
	TAILQ_CONCAT(&again, &ch->retry, link);
	while ((nio = TAILQ_FIRST(&again)) != NULL) {
		TAILQ_REMOVE(&again, nio, link);
		nvme_io_start(nio);
	}
	return KEEL_POLLER_BUSY;
}

static int
nvme_channel_create(void *io_device, void *ctx_buf)
{
	struct bdev_nvme_ctrlr *c = io_device;
	struct nvme_channel *ch = ctx_buf;

	ch->c = c;
	TAILQ_INIT(&ch->retry);
	if (c->ctrlr == NULL) {
		return -ENXIO;
	}
	ch->qpair = keel_nvme_ctrlr_alloc_io_qpair(c->ctrlr);
	if (ch->qpair == NULL) {
		KEEL_ERRLOG("nvme %s: no I/O queue pair for thread %s\n", c->name,
			    keel_thread_get_name(keel_get_thread()));
		return -ENOMEM;
	}
	ch->poller = keel_poller_register_named(nvme_channel_poll, ch,
						g_opts.nvme_ioq_poll_period_us, "nvme_ioq");
	if (ch->poller == NULL) {
		keel_nvme_ctrlr_free_io_qpair(ch->qpair);
		return -ENOMEM;
	}
	return 0;
}

static void
nvme_channel_destroy(void *io_device, void *ctx_buf)
{
	struct bdev_nvme_ctrlr *c = io_device;
	struct nvme_channel *ch = ctx_buf;

	nvme_channel_fail_retries(ch);
	keel_poller_unregister(&ch->poller);
	if (c->ctrlr != NULL) {
		keel_nvme_ctrlr_free_io_qpair(ch->qpair);
	}
	ch->qpair = NULL;
}

static struct keel_io_channel *
bdev_nvme_get_io_channel(void *ctx)
{
	struct nvme_bdev *nb = ctx;

	return keel_get_io_channel(nb->c);
}

/* --- Reset ---------------------------------------------------------------------------------- */

static void
reset_ch_disconnect(struct keel_channel_iter *iter)
{
	struct nvme_channel *ch = keel_io_channel_get_ctx(keel_channel_iter_get_channel(iter));

	ch->resetting = true;
	/* Outstanding commands come back "aborted, SQ deletion" without DNR: they queue for a
	 * retry once the pair is reconnected. */
	if (ch->qpair != NULL) {
		keel_nvme_qpair_disconnect(ch->qpair);
	}
	keel_for_each_channel_continue(iter, 0);
}

static void
reset_ch_reconnect(struct keel_channel_iter *iter)
{
	struct nvme_channel *ch = keel_io_channel_get_ctx(keel_channel_iter_get_channel(iter));
	struct bdev_nvme_ctrlr *c = keel_channel_iter_get_io_device(iter);

	if (c->reset_rc == 0 && ch->qpair != NULL && keel_nvme_qpair_reconnect(ch->qpair) != 0) {
		KEEL_ERRLOG("nvme %s: queue pair not recreated after the reset\n", c->name);
	}
	ch->resetting = false;
	if (c->reset_rc != 0) {
		nvme_channel_fail_retries(ch);
	}
	keel_for_each_channel_continue(iter, 0);
}

static void nvme_ctrlr_unregister_io_device(struct bdev_nvme_ctrlr *c);

static void
reset_done(struct keel_channel_iter *iter, int status)
{
	struct bdev_nvme_ctrlr *c = keel_channel_iter_get_io_device(iter);
	struct nvme_io *nio;

	(void)status;
	c->resetting = false;
	while ((nio = TAILQ_FIRST(&c->reset_ios)) != NULL) {
		TAILQ_REMOVE(&c->reset_ios, nio, link);
		nio->status = c->reset_rc;
		keel_thread_send_msg(keel_bdev_io_get_thread(keel_bdev_io_from_ctx(nio)),
				     nvme_reset_io_complete_msg, nio);
	}
	if (c->destructing) {
		if (c->bdev_count == 0) {
			nvme_ctrlr_unregister_io_device(c);
		}
		return;
	}
	if (c->reset_pending) {
		c->reset_pending = false;
		nvme_ctrlr_reset_start(c);
	}
}

static void
reset_disconnected(struct keel_channel_iter *iter, int status)
{
	struct bdev_nvme_ctrlr *c = keel_channel_iter_get_io_device(iter);

	(void)status;
	c->reset_rc = keel_nvme_ctrlr_reset(c->ctrlr);
	if (c->reset_rc == -EBUSY && c->reset_passes++ < 3) {
		/* A channel was created during the first pass: disconnect it too. */
		keel_for_each_channel(c, reset_ch_disconnect, NULL, reset_disconnected);
		return;
	}
	keel_for_each_channel(c, reset_ch_reconnect, NULL, reset_done);
}

/* On the owner thread. */
static void
nvme_ctrlr_reset_start(struct bdev_nvme_ctrlr *c)
{
	if (c->resetting) {
		c->reset_pending = true;
		return;
	}
	if (c->destructing || keel_nvme_ctrlr_is_removed(c->ctrlr)) {
		struct nvme_io *nio;

		while ((nio = TAILQ_FIRST(&c->reset_ios)) != NULL) {
			TAILQ_REMOVE(&c->reset_ios, nio, link);
			nio->status = -ENXIO;
			keel_thread_send_msg(keel_bdev_io_get_thread(keel_bdev_io_from_ctx(nio)),
					     nvme_reset_io_complete_msg, nio);
		}
		return;
	}
	c->resetting = true;
	c->reset_passes = 0;
	keel_for_each_channel(c, reset_ch_disconnect, NULL, reset_disconnected);
}

static void
nvme_ctrlr_reset_msg(void *arg)
{
	struct bdev_nvme_ctrlr *c = arg;

	if (nvme_ctrlr_valid(c)) {
		nvme_ctrlr_reset_start(c);
	}
}

/* --- Timeouts, events, admin poller -------------------------------------------------------------
 */

static void
nvme_abort_done(void *arg, const struct keel_nvme_cpl *cpl)
{
	struct bdev_nvme_ctrlr *c = arg;

	/* Runs with the admin queue locked: only a message may leave from here. */
	if (KEEL_NVME_CPL_IS_ERROR(cpl) || (cpl->cdw0 & 1) != 0) {
		KEEL_WARNLOG("nvme %s: abort of a timed-out command failed; resetting\n", c->name);
		keel_thread_send_msg(c->thread, nvme_ctrlr_reset_msg, c);
	}
}

static void
nvme_timeout_cb(void *ctx, struct keel_nvme_ctrlr *ctrlr, struct keel_nvme_qpair *qpair,
		uint16_t cid)
{
	struct bdev_nvme_ctrlr *c = ctx;

	KEEL_WARNLOG("nvme %s: command %u on queue %u timed out (action: %s)\n", c->name, cid,
		     qpair != NULL ? keel_nvme_qpair_get_id(qpair) : 0,
		     bdev_nvme_timeout_action_name(g_opts.action_on_timeout));
	if (keel_nvme_ctrlr_is_removed(ctrlr)) {
		return;
	}
	switch (g_opts.action_on_timeout) {
	case BDEV_NVME_TIMEOUT_ACTION_NONE:
		return;
	case BDEV_NVME_TIMEOUT_ACTION_ABORT:
		/* An I/O command is aborted first; an admin one (the queue is locked here) or a
		 * refused abort goes straight to a reset. */
		if (qpair != NULL &&
		    keel_nvme_ctrlr_cmd_abort(ctrlr, qpair, cid, nvme_abort_done, c) == 0) {
			return;
		}
		/* fallthrough */
	case BDEV_NVME_TIMEOUT_ACTION_RESET:
		keel_thread_send_msg(c->thread, nvme_ctrlr_reset_msg, c);
		return;
	}
}

static int nvme_bdev_create(struct bdev_nvme_ctrlr *c, uint32_t nsid);

static void
nvme_ns_changed(void *ctx, struct keel_nvme_ns *ns)
{
	struct bdev_nvme_ctrlr *c = ctx;
	uint32_t nsid = keel_nvme_ns_get_id(ns);
	struct nvme_bdev *nb = nsid <= c->num_ns ? c->bdevs[nsid - 1] : NULL;

	if (keel_nvme_ns_is_active(ns) && nb == NULL) {
		KEEL_NOTICELOG("nvme %s: namespace %u attached\n", c->name, nsid);
		nvme_bdev_create(c, nsid);
	} else if (!keel_nvme_ns_is_active(ns) && nb != NULL) {
		KEEL_NOTICELOG("nvme %s: namespace %u detached\n", c->name, nsid);
		keel_bdev_unregister(&nb->bdev, NULL, NULL);
	} else if (nb != NULL) {
		KEEL_NOTICELOG("nvme %s: namespace %u resized to %" PRIu64 " blocks\n", c->name,
			       nsid, keel_nvme_ns_get_num_sectors(ns));
		keel_bdev_notify_blockcnt_change(&nb->bdev, keel_nvme_ns_get_num_sectors(ns));
	}
}

static void
nvme_aer_cb(void *ctx, const struct keel_nvme_cpl *cpl)
{
	struct bdev_nvme_ctrlr *c = ctx;

	if (KEEL_NVME_AER_TYPE(cpl->cdw0) == KEEL_NVME_AER_TYPE_NOTICE &&
	    KEEL_NVME_AER_INFO(cpl->cdw0) == KEEL_NVME_AER_NOTICE_NS_ATTR_CHANGED) {
		keel_nvme_ctrlr_update_namespaces(c->ctrlr, nvme_ns_changed, c);
	}
}

static int
nvme_admin_poll(void *arg)
{
	struct bdev_nvme_ctrlr *c = arg;
	int32_t rc;

	if (c->destructing) {
		return KEEL_POLLER_IDLE;
	}
	rc = keel_nvme_ctrlr_process_admin_completions(c->ctrlr);
	if (rc == -ENXIO) {
		KEEL_NOTICELOG("nvme %s: controller %s is gone: removing its bdevs\n", c->name,
			       c->trid.traddr);
		nvme_ctrlr_destruct(c);
		return KEEL_POLLER_BUSY;
	}
	if (rc == -EIO && !c->resetting) {
		nvme_ctrlr_reset_start(c);
		return KEEL_POLLER_BUSY;
	}
	return rc > 0 ? KEEL_POLLER_BUSY : KEEL_POLLER_IDLE;
}

/* --- Bdevs ---------------------------------------------------------------------------------- */

static void
nvme_ctrlr_io_device_gone(void *io_device)
{
	struct bdev_nvme_ctrlr *c = io_device;
	keel_bdev_done_cb cb = c->detach_cb;
	void *cb_arg = c->detach_arg;
	uint32_t sim_index = 0;
	bool owns_sim = c->owns_sim;

	if (owns_sim) {
		owns_sim = sscanf(c->trid.traddr, "sim:%u", &sim_index) == 1;
	}
	keel_poller_unregister(&c->admin_poller);
	keel_nvme_ctrlr_detach(c->ctrlr);
	c->ctrlr = NULL;
	if (owns_sim) {
		keel_nvme_sim_destroy(keel_nvme_sim_get(sim_index));
	}
	if (c->in_fini_list) {
		TAILQ_REMOVE(&g_fini_ctrlrs, c, link);
	} else {
		TAILQ_REMOVE(&g_ctrlrs, c, link);
	}
	KEEL_NOTICELOG("nvme %s: detached\n", c->name);
	free(c->bdevs);
	free(c->name);
	free(c);
	if (cb != NULL) {
		cb(cb_arg, 0);
	}
}

static void
nvme_ctrlr_unregister_io_device(struct bdev_nvme_ctrlr *c)
{
	if (c->resetting || c->io_device_unregistering) {
		return; /* reset_done comes back here */
	}
	c->io_device_unregistering = true;
	keel_io_device_unregister(c, nvme_ctrlr_io_device_gone);
}

static void
nvme_ctrlr_bdev_gone_msg(void *arg)
{
	struct bdev_nvme_ctrlr *c = arg;

	if (c->bdev_count == 0 && c->destructing) {
		nvme_ctrlr_unregister_io_device(c);
	}
}

static int
bdev_nvme_destruct(void *ctx)
{
	struct nvme_bdev *nb = ctx;
	struct bdev_nvme_ctrlr *c = nb->c;

	if (c->bdevs[nb->nsid - 1] == nb) {
		c->bdevs[nb->nsid - 1] = NULL;
	}
	c->bdev_count--;
	free(nb->bdev.name);
	free(nb);
	if (c->bdev_count == 0 && c->destructing) {
		keel_thread_send_msg(c->thread, nvme_ctrlr_bdev_gone_msg, c);
	}
	return 0;
}

static void
nvme_ctrlr_destruct(struct bdev_nvme_ctrlr *c)
{
	uint32_t i;

	if (c->destructing) {
		return;
	}
	c->destructing = true;
	for (i = 0; i < c->num_ns; i++) {
		if (c->bdevs[i] != NULL) {
			/* The SCSI layer takes it from here: the LUN fails new commands, waits for
			 * what it submitted, and closes. */
			keel_bdev_unregister(&c->bdevs[i]->bdev, NULL, NULL);
		}
	}
	if (c->bdev_count == 0) {
		nvme_ctrlr_unregister_io_device(c);
	}
}

static void
bdev_nvme_dump_info_json(void *ctx, struct json_object *obj)
{
	struct nvme_bdev *nb = ctx;
	const struct keel_nvme_ctrlr_data *cd = keel_nvme_ctrlr_get_data(nb->c->ctrlr);
	struct json_object *nvme = json_object_new_object(), *trid, *cdata, *ns;
	char buf[48];

	if (nvme == NULL) {
		return;
	}
	trid = json_object_new_object();
	json_object_object_add(trid, "trtype", json_object_new_string(nb->c->trid.trtype));
	json_object_object_add(trid, "traddr", json_object_new_string(nb->c->trid.traddr));
	json_object_object_add(nvme, "trid", trid);
	json_object_object_add(nvme, "pci_address", json_object_new_string(nb->c->trid.traddr));
	cdata = json_object_new_object();
	snprintf(buf, sizeof(buf), "0x%04x", cd->vid);
	json_object_object_add(cdata, "vendor_id", json_object_new_string(buf));
	snprintf(buf, sizeof(buf), "%.40s", cd->mn);
	keel_strstrip(buf);
	json_object_object_add(cdata, "model_number", json_object_new_string(buf));
	snprintf(buf, sizeof(buf), "%.20s", cd->sn);
	keel_strstrip(buf);
	json_object_object_add(cdata, "serial_number", json_object_new_string(buf));
	snprintf(buf, sizeof(buf), "%.8s", cd->fr);
	keel_strstrip(buf);
	json_object_object_add(cdata, "firmware_revision", json_object_new_string(buf));
	json_object_object_add(nvme, "ctrlr_data", cdata);
	ns = json_object_new_object();
	json_object_object_add(ns, "id", json_object_new_int64(nb->nsid));
	json_object_object_add(nvme, "ns_data", ns);
	json_object_object_add(obj, "nvme", nvme);
}

static const struct keel_bdev_fn_table g_nvme_fn_table = {
	.destruct = bdev_nvme_destruct,
	.submit_request = bdev_nvme_submit_request,
	.io_type_supported = bdev_nvme_io_type_supported,
	.get_io_channel = bdev_nvme_get_io_channel,
	.dump_info_json = bdev_nvme_dump_info_json,
	.write_config_json = NULL, /* the module's config_json re-attaches whole controllers */
};

static int
nvme_bdev_create(struct bdev_nvme_ctrlr *c, uint32_t nsid)
{
	struct keel_nvme_ns *ns = keel_nvme_ctrlr_get_ns(c->ctrlr, nsid);
	const struct keel_nvme_ns_data *nd = keel_nvme_ns_get_data(ns);
	struct nvme_bdev *nb;
	uint32_t max_blocks;
	int rc;

	nb = calloc(1, sizeof(*nb));
	if (nb == NULL) {
		return -ENOMEM;
	}
	nb->c = c;
	nb->ns = ns;
	nb->nsid = nsid;
	if (asprintf(&nb->bdev.name, "%sn%u", c->name, nsid) < 0) {
		free(nb);
		return -ENOMEM;
	}
	nb->bdev.product_name = "NVMe disk";
	nb->bdev.blocklen = keel_nvme_ns_get_sector_size(ns);
	nb->bdev.blockcnt = keel_nvme_ns_get_num_sectors(ns);
	nb->bdev.write_cache = (keel_nvme_ctrlr_get_data(c->ctrlr)->vwc & 1) != 0;
	max_blocks = keel_nvme_ctrlr_get_max_xfer_size(c->ctrlr) / nb->bdev.blocklen;
	nb->bdev.max_transfer_blocks = max_blocks;
	nb->bdev.max_write_zeroes_blocks = 65536;
	nb->bdev.max_compare_and_write_blocks = KEEL_MIN(max_blocks, 255u);
	nb->bdev.required_alignment = 2; /* dword-aligned buffers (NVMe 4.3) */
	nb->bdev.unmap_reads_zeroes = (nd->dlfeat & 7) == 1;
	if (memcmp(nd->nguid, (uint8_t[16]){0}, 16) != 0) {
		memcpy(nb->bdev.uuid, nd->nguid, 16);
	}
	nb->bdev.ctxt = nb;
	nb->bdev.fn_table = &g_nvme_fn_table;
	nb->bdev.module = &g_nvme_module;
	c->bdevs[nsid - 1] = nb;
	c->bdev_count++;
	rc = keel_bdev_register(&nb->bdev);
	if (rc != 0) {
		KEEL_ERRLOG("nvme %s: cannot register bdev %s: %s\n", c->name, nb->bdev.name,
			    keel_strerror(-rc));
		c->bdevs[nsid - 1] = NULL;
		c->bdev_count--;
		free(nb->bdev.name);
		free(nb);
	}
	return rc;
}

/* --- Attach and detach -------------------------------------------------------------------------
 */

static void
nvme_skip_forget(const struct keel_nvme_transport_id *trid)
{
	uint32_t i;

	for (i = 0; i < g_skipped_count; i++) {
		if (keel_nvme_transport_id_equal(&g_skipped[i], trid)) {
			g_skipped[i] = g_skipped[--g_skipped_count];
			return;
		}
	}
}

/* An address "sim:<n>" with nothing there gets a software controller with the defaults. */
static int
nvme_sim_autocreate(const struct keel_nvme_transport_id *trid, bool *created)
{
	struct keel_nvme_sim_opts o;
	struct keel_nvme_sim *sim;
	uint32_t index;

	*created = false;
	if (sscanf(trid->traddr, "sim:%u", &index) != 1 || keel_nvme_sim_get(index) != NULL) {
		return 0;
	}
	keel_nvme_sim_opts_init(&o);
	o.index = index;
	o.sgl = true;
	if (keel_nvme_sim_create(&o, &sim) != 0) {
		return -EINVAL;
	}
	*created = true;
	return 0;
}

int
bdev_nvme_attach(const char *name, const struct keel_nvme_transport_id *trid, const char **names,
		 size_t max_names, size_t *count, char *err, size_t err_len)
{
	struct keel_nvme_ctrlr_opts opts;
	struct bdev_nvme_ctrlr *c;
	bool sim_created = false;
	uint32_t i;
	size_t n = 0;
	int rc;

	if (name == NULL || name[0] == '\0' || strlen(name) > 200) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'name'");
		return -EINVAL;
	}
	if (bdev_nvme_ctrlr_find(name) != NULL) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'name': controller %s exists", name);
		return -EEXIST;
	}
	if (nvme_ctrlr_find_trid(trid) != NULL) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'traddr': %s is already attached",
			     trid->traddr);
		return -EEXIST;
	}
	rc = nvme_sim_autocreate(trid, &sim_created);
	if (rc != 0) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'traddr': %s", trid->traddr);
		return rc;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->name = strdup(name)) == NULL) {
		free(c);
		rc = -ENOMEM;
		keel_bdev_set_err(err, err_len, "out of memory");
		goto err_sim;
	}
	c->trid = *trid;
	c->thread = keel_get_thread();
	c->owns_sim = sim_created;
	TAILQ_INIT(&c->reset_ios);
	keel_nvme_ctrlr_opts_init(&opts);
	if (g_opts.io_queue_requests != 0) {
		opts.io_queue_size = g_opts.io_queue_requests;
	}
	rc = keel_nvme_ctrlr_attach(trid, &opts, &c->ctrlr);
	if (rc != 0) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'traddr': cannot attach %s: %s",
			     trid->traddr, keel_strerror(-rc));
		free(c->name);
		free(c);
		goto err_sim;
	}
	c->num_ns = keel_nvme_ctrlr_get_num_ns(c->ctrlr);
	c->bdevs = calloc(KEEL_MAX(c->num_ns, 1u), sizeof(*c->bdevs));
	c->admin_poller =
		keel_poller_register_named(nvme_admin_poll, c, g_opts.nvme_adminq_poll_period_us,
					   "nvme_admin");
	if (c->bdevs == NULL || c->admin_poller == NULL) {
		keel_poller_unregister(&c->admin_poller);
		keel_nvme_ctrlr_detach(c->ctrlr);
		free(c->bdevs);
		free(c->name);
		free(c);
		rc = -ENOMEM;
		keel_bdev_set_err(err, err_len, "out of memory");
		goto err_sim;
	}
	keel_nvme_ctrlr_register_aer_callback(c->ctrlr, nvme_aer_cb, c);
	keel_nvme_ctrlr_register_timeout_callback(c->ctrlr, g_opts.timeout_us, nvme_timeout_cb, c);
	keel_io_device_register(c, nvme_channel_create, nvme_channel_destroy,
				sizeof(struct nvme_channel), c->name);
	TAILQ_INSERT_TAIL(&g_ctrlrs, c, link);
	nvme_skip_forget(trid);
	for (i = 1; i <= c->num_ns; i++) {
		if (!keel_nvme_ns_is_active(keel_nvme_ctrlr_get_ns(c->ctrlr, i))) {
			continue;
		}
		if (nvme_bdev_create(c, i) == 0 && names != NULL && n < max_names) {
			names[n++] = c->bdevs[i - 1]->bdev.name;
		}
	}
	if (count != NULL) {
		*count = n;
	}
	KEEL_NOTICELOG("nvme %s: attached %s with %u bdev(s)\n", c->name, trid->traddr,
		       c->bdev_count);
	return 0;

err_sim:
	if (sim_created) {
		uint32_t index;

		if (sscanf(trid->traddr, "sim:%u", &index) == 1) {
			keel_nvme_sim_destroy(keel_nvme_sim_get(index));
		}
	}
	return rc;
}

int
bdev_nvme_detach(const char *name, keel_bdev_done_cb cb, void *cb_arg)
{
	struct bdev_nvme_ctrlr *c = bdev_nvme_ctrlr_find(name);

	if (c == NULL) {
		return -ENODEV;
	}
	if (g_skipped_count < NVME_MAX_SKIPPED && !c->owns_sim) {
		g_skipped[g_skipped_count++] = c->trid;
	}
	c->detach_cb = cb;
	c->detach_arg = cb_arg;
	nvme_ctrlr_destruct(c);
	return 0;
}

/* --- Hotplug monitor
 * ------------------------------------------------------------------------------ */

static bool
nvme_is_skipped(const struct keel_nvme_transport_id *trid)
{
	uint32_t i;

	for (i = 0; i < g_skipped_count; i++) {
		if (keel_nvme_transport_id_equal(&g_skipped[i], trid)) {
			return true;
		}
	}
	return false;
}

static int
hotplug_found(void *ctx, const struct keel_nvme_transport_id *trid)
{
	char name[32], err[256];

	(void)ctx;
	if (nvme_ctrlr_find_trid(trid) != NULL || nvme_is_skipped(trid)) {
		return 0;
	}
	do {
		snprintf(name, sizeof(name), "HotInNvme%u", g_hot_index++);
	} while (bdev_nvme_ctrlr_find(name) != NULL);
	if (bdev_nvme_attach(name, trid, NULL, 0, NULL, err, sizeof(err)) != 0) {
		KEEL_ERRLOG("nvme hotplug: %s\n", err);
	} else {
		KEEL_NOTICELOG("nvme hotplug: %s attached as %s\n", trid->traddr, name);
	}
	return 0;
}

static int
hotplug_poll(void *arg)
{
	struct bdev_nvme_ctrlr *c, *next;
	uint32_t i = 0;

	(void)arg;
	/* Gone: the device left sysfs or its registers read all ones. */
	TAILQ_FOREACH_SAFE (c, &g_ctrlrs, link, next) {
		if (!c->destructing && keel_nvme_ctrlr_check_removed(c->ctrlr)) {
			KEEL_NOTICELOG("nvme hotplug: %s (%s) removed\n", c->name, c->trid.traddr);
			nvme_ctrlr_destruct(c);
		}
	}
	/* Forget detached controllers that left the bus: if they come back, they are new. */
	while (i < g_skipped_count) {
		if (!keel_pci_addr_present(g_skipped[i].traddr)) {
			g_skipped[i] = g_skipped[--g_skipped_count];
		} else {
			i++;
		}
	}
	keel_nvme_probe(hotplug_found, NULL);
	return KEEL_POLLER_BUSY;
}

int
bdev_nvme_set_hotplug(bool enable, uint64_t period_us)
{
	if (period_us != 0) {
		g_hotplug_period_us = period_us;
	}
	keel_poller_unregister(&g_hotplug_poller);
	g_hotplug_enabled = enable;
	if (enable) {
		g_hotplug_poller = keel_poller_register_named(hotplug_poll, NULL,
							      g_hotplug_period_us, "nvme_hotplug");
		if (g_hotplug_poller == NULL) {
			g_hotplug_enabled = false;
			return -ENOMEM;
		}
	}
	return 0;
}

void
bdev_nvme_get_hotplug(bool *enabled, uint64_t *period_us)
{
	*enabled = g_hotplug_enabled;
	*period_us = g_hotplug_period_us;
}

/* --- Configuration -------------------------------------------------------------------------------
 */

static void
nvme_conf_options(struct keel_conf *conf, struct keel_conf_section *sp)
{
	struct bdev_nvme_opts opts = g_opts;
	const char *val;
	int64_t v;
	bool hotplug = false;

	if (keel_conf_section_get_intval(sp, "RetryCount", &v) == 0 && v >= 0) {
		opts.retry_count = (uint32_t)v;
	}
	if (keel_conf_section_get_intval(sp, "TimeoutUsec", &v) == 0 && v >= 0) {
		opts.timeout_us = (uint64_t)v;
	}
	val = keel_conf_section_get_val(sp, "ActionOnTimeout");
	if (val != NULL && bdev_nvme_parse_timeout_action(val, &opts.action_on_timeout) != 0) {
		KEEL_ERRLOG("%s: [Nvme] ActionOnTimeout '%s': None, Reset or Abort\n",
			    keel_conf_get_name(conf), val);
	}
	if (keel_conf_section_get_intval(sp, "AdminPollRate", &v) == 0 && v > 0) {
		opts.nvme_adminq_poll_period_us = (uint64_t)v;
	}
	if (keel_conf_section_get_intval(sp, "IOPollRate", &v) == 0 && v >= 0) {
		opts.nvme_ioq_poll_period_us = (uint64_t)v;
	}
	if (bdev_nvme_set_opts(&opts) != 0) {
		KEEL_ERRLOG("%s: [Nvme] options out of range; defaults kept\n",
			    keel_conf_get_name(conf));
	}
	if (keel_conf_section_get_intval(sp, "HotplugPollRate", &v) == 0 && v > 0) {
		g_hotplug_period_us = (uint64_t)v;
	}
	if (keel_conf_section_get_boolval(sp, "HotplugEnable", false, &hotplug) != 0) {
		KEEL_ERRLOG("%s: [Nvme] HotplugEnable: Yes or No\n", keel_conf_get_name(conf));
	}
	if (hotplug) {
		bdev_nvme_set_hotplug(true, 0);
	}
}

/*
 * [Nvme] of the legacy configuration file:
 *     TransportID "trtype:PCIe traddr:0000:01:00.0" Nvme0
 * plus the option keys. A line that cannot be used is logged and skipped.
 */
static int
nvme_module_init(void)
{
	struct keel_conf *conf = keel_conf_get_default();
	struct keel_conf_section *sp;
	struct keel_nvme_transport_id trid;
	const char *str, *name;
	char err[256];
	int i;

	sp = conf != NULL ? keel_conf_find_section(conf, "Nvme") : NULL;
	if (sp == NULL) {
		return 0;
	}
	nvme_conf_options(conf, sp);
	for (i = 0; (str = keel_conf_section_get_nmval(sp, "TransportID", i, 0)) != NULL; i++) {
		int line = keel_conf_section_get_item_line(sp, "TransportID", i);

		name = keel_conf_section_get_nmval(sp, "TransportID", i, 1);
		if (keel_nvme_transport_id_parse(&trid, str) != 0) {
			KEEL_ERRLOG("%s:%d: [Nvme] TransportID '%s' is not "
				    "\"trtype:PCIe traddr:<address>\"\n",
				    keel_conf_get_name(conf), line, str);
			continue;
		}
		if (name == NULL) {
			KEEL_ERRLOG("%s:%d: [Nvme] TransportID %s: no controller name\n",
				    keel_conf_get_name(conf), line, str);
			continue;
		}
		if (bdev_nvme_attach(name, &trid, NULL, 0, NULL, err, sizeof(err)) != 0) {
			KEEL_ERRLOG("%s:%d: [Nvme] %s: %s\n", keel_conf_get_name(conf), line, name,
				    err);
		}
	}
	return 0;
}

static void
nvme_module_fini(void)
{
	struct bdev_nvme_ctrlr *c;
	uint32_t i;

	keel_poller_unregister(&g_hotplug_poller);
	g_hotplug_enabled = false;
	/* Every bdev is gone: shut the controllers down now, whatever channel is left. */
	while ((c = TAILQ_FIRST(&g_ctrlrs)) != NULL) {
		/* Kept on a list until its io_device goes (freed then), which may be never if a
		 * channel is still held at exit: the struct stays reachable, not leaked. */
		TAILQ_REMOVE(&g_ctrlrs, c, link);
		TAILQ_INSERT_TAIL(&g_fini_ctrlrs, c, link);
		c->in_fini_list = true;
		keel_poller_unregister(&c->admin_poller);
		keel_nvme_ctrlr_detach(c->ctrlr);
		c->ctrlr = NULL;
		c->owns_sim = false; /* every software controller is destroyed below */
		c->detach_cb = NULL;
		if (!c->io_device_unregistering) {
			c->io_device_unregistering = true;
			keel_io_device_unregister(c, nvme_ctrlr_io_device_gone);
		}
	}
	for (i = 0; i < KEEL_NVME_SIM_MAX; i++) {
		keel_nvme_sim_destroy(keel_nvme_sim_get(i));
	}
	g_skipped_count = 0;
}

static void
nvme_config_json(struct json_object *array)
{
	struct bdev_nvme_ctrlr *c;
	struct json_object *call, *params;

	call = json_object_new_object();
	params = json_object_new_object();
	json_object_object_add(params, "action_on_timeout",
			       json_object_new_string(
				       bdev_nvme_timeout_action_name(g_opts.action_on_timeout)));
	json_object_object_add(params, "timeout_us",
			       json_object_new_int64((int64_t)g_opts.timeout_us));
	json_object_object_add(params, "retry_count", json_object_new_int64(g_opts.retry_count));
	json_object_object_add(params, "nvme_adminq_poll_period_us",
			       json_object_new_int64((int64_t)g_opts.nvme_adminq_poll_period_us));
	json_object_object_add(params, "nvme_ioq_poll_period_us",
			       json_object_new_int64((int64_t)g_opts.nvme_ioq_poll_period_us));
	json_object_object_add(params, "io_queue_requests",
			       json_object_new_int64(g_opts.io_queue_requests));
	json_object_object_add(call, "method", json_object_new_string("bdev_nvme_set_options"));
	json_object_object_add(call, "params", params);
	json_object_array_add(array, call);
	for (c = bdev_nvme_first_ctrlr(); c != NULL; c = bdev_nvme_next_ctrlr(c)) {
		call = json_object_new_object();
		params = json_object_new_object();
		json_object_object_add(params, "name", json_object_new_string(c->name));
		json_object_object_add(params, "trtype", json_object_new_string(c->trid.trtype));
		json_object_object_add(params, "traddr", json_object_new_string(c->trid.traddr));
		json_object_object_add(call, "method",
				       json_object_new_string("bdev_nvme_attach_controller"));
		json_object_object_add(call, "params", params);
		json_object_array_add(array, call);
	}
	call = json_object_new_object();
	params = json_object_new_object();
	json_object_object_add(params, "enable", json_object_new_boolean(g_hotplug_enabled));
	json_object_object_add(params, "period_us",
			       json_object_new_int64((int64_t)g_hotplug_period_us));
	json_object_object_add(call, "method", json_object_new_string("bdev_nvme_set_hotplug"));
	json_object_object_add(call, "params", params);
	json_object_array_add(array, call);
}

static struct keel_bdev_module g_nvme_module = {
	.name = "nvme",
	.module_init = nvme_module_init,
	.module_fini = nvme_module_fini,
	.io_ctx_size = sizeof(struct nvme_io),
	.config_json = nvme_config_json,
};
KEEL_BDEV_MODULE_REGISTER(nvme, &g_nvme_module)
