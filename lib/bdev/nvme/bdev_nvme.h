/*
 * The NVMe bdev module's internal interface, shared by its RPC handlers and its tests: attach and
 * detach controllers (one bdev per active namespace, named <name>n<nsid>), module options, the
 * hotplug monitor, and the listing that bdev_nvme_get_controllers answers from.
 */
#ifndef KEEL_BDEV_NVME_H
#define KEEL_BDEV_NVME_H

#include "keel/stdinc.h"
#include "keel/bdev_module.h"
#include "keel/nvme.h"

enum bdev_nvme_timeout_action {
	BDEV_NVME_TIMEOUT_ACTION_NONE = 0,
	BDEV_NVME_TIMEOUT_ACTION_RESET,
	BDEV_NVME_TIMEOUT_ACTION_ABORT,
};

struct bdev_nvme_opts {
	enum bdev_nvme_timeout_action action_on_timeout;
	uint64_t timeout_us;                 /* 0: commands never time out */
	uint32_t retry_count;                /* retries of a command that failed without DNR */
	uint64_t nvme_adminq_poll_period_us; /* admin queue poller period */
	uint64_t nvme_ioq_poll_period_us;    /* I/O queue poller period; 0: every loop */
	uint32_t io_queue_requests;          /* entries per I/O queue; 0: driver default */
};

struct bdev_nvme_ctrlr;

/** Current options. */
void bdev_nvme_get_opts(struct bdev_nvme_opts *opts);
/** Change options; refused (-EPERM) once a controller is attached. \return 0; -EINVAL; -EPERM. */
int bdev_nvme_set_opts(const struct bdev_nvme_opts *opts);
/** Parse "none", "reset" or "abort" (any case). \return 0; -EINVAL. */
int bdev_nvme_parse_timeout_action(const char *str, enum bdev_nvme_timeout_action *action);
const char *bdev_nvme_timeout_action_name(enum bdev_nvme_timeout_action action);

/**
 * Attach the controller at trid as name and create its bdevs. An address "sim:<n>" with no
 * software controller there creates one with the defaults (a test facility), freed on detach.
 *
 * \param names  Out: bdev names created, max_names entries at most (may be NULL).
 * \param count  Out: how many.
 * \return 0; -EEXIST (name or controller taken); -EINVAL; -ENODEV; other -errno from the
 *         driver, with a message in err.
 */
int bdev_nvme_attach(const char *name, const struct keel_nvme_transport_id *trid,
		     const char **names, size_t max_names, size_t *count, char *err,
		     size_t err_len);
/**
 * Detach controller name: its bdevs are unregistered, then the controller is shut down and
 * detached; cb(cb_arg, 0) runs on this thread afterwards. \return 0; -ENODEV.
 */
int bdev_nvme_detach(const char *name, keel_bdev_done_cb cb, void *cb_arg);

/** Enable/disable the hotplug monitor; period_us 0 keeps the current period. \return 0. */
int bdev_nvme_set_hotplug(bool enable, uint64_t period_us);
void bdev_nvme_get_hotplug(bool *enabled, uint64_t *period_us);

/** Walk attached controllers (not those being detached). */
struct bdev_nvme_ctrlr *bdev_nvme_first_ctrlr(void);
struct bdev_nvme_ctrlr *bdev_nvme_next_ctrlr(struct bdev_nvme_ctrlr *prev);
struct bdev_nvme_ctrlr *bdev_nvme_ctrlr_find(const char *name);
const char *bdev_nvme_ctrlr_get_name(const struct bdev_nvme_ctrlr *c);
const struct keel_nvme_transport_id *bdev_nvme_ctrlr_get_trid(const struct bdev_nvme_ctrlr *c);
struct keel_nvme_ctrlr *bdev_nvme_ctrlr_get_nvme(const struct bdev_nvme_ctrlr *c);

#endif /* KEEL_BDEV_NVME_H */
