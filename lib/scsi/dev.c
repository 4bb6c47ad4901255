/*
 * SCSI devices: the global list (ids from 0), construction with LUNs on bdevs, adding and
 * deleting LUNs, destruction (every LUN removed the way a hot-remove does it), and the
 * device-wide side of unit attentions and I_T nexus loss.
 */
#include "keel/stdinc.h"
#include "keel/log.h"

#include "scsi_internal.h"

static TAILQ_HEAD(, keel_scsi_dev) g_devs = TAILQ_HEAD_INITIALIZER(g_devs);
static pthread_mutex_t g_devs_lock = PTHREAD_MUTEX_INITIALIZER;

/* The lowest id no device has. Under g_devs_lock. */
static int
dev_free_id(void)
{
	struct keel_scsi_dev *dev;
	int id;

	for (id = 0;; id++) {
		TAILQ_FOREACH (dev, &g_devs, link) {
			if (dev->id == id) {
				break;
			}
		}
		if (dev == NULL) {
			return id;
		}
	}
}

/* Any LUN with that id, removing ones included. Under dev->lock. */
static struct keel_scsi_lun *
dev_find_lun_locked(struct keel_scsi_dev *dev, uint64_t id)
{
	struct keel_scsi_lun *lun;

	TAILQ_FOREACH (lun, &dev->luns, link) {
		if (lun->id == id) {
			return lun;
		}
	}
	return NULL;
}

/* Keep dev->luns sorted by id. Under dev->lock. */
static void
dev_insert_lun_locked(struct keel_scsi_dev *dev, struct keel_scsi_lun *lun)
{
	struct keel_scsi_lun *it;

	TAILQ_FOREACH (it, &dev->luns, link) {
		if (it->id > lun->id) {
			TAILQ_INSERT_BEFORE(it, lun, link);
			return;
		}
	}
	TAILQ_INSERT_TAIL(&dev->luns, lun, link);
}

static void
dev_free(struct keel_scsi_dev *dev)
{
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

static int
dev_check_luns(const char *const *bdev_names, const int *lun_ids, int num_luns)
{
	int i, j;

	for (i = 0; i < num_luns; i++) {
		if (bdev_names == NULL || bdev_names[i] == NULL || lun_ids == NULL ||
		    lun_ids[i] < 0 || lun_ids[i] >= KEEL_SCSI_DEV_MAX_LUN) {
			KEEL_ERRLOG("LUN %d: bad LUN id or bdev name\n", i);
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			if (lun_ids[j] == lun_ids[i]) {
				KEEL_ERRLOG("LUN id %d given twice\n", lun_ids[i]);
				return -EEXIST;
			}
		}
	}
	return 0;
}

struct keel_scsi_dev *
keel_scsi_dev_construct(const char *name, const char *const *bdev_names, const int *lun_ids,
			int num_luns, uint8_t protocol_id,
			keel_scsi_dev_lun_removed_cb lun_removed_cb, void *ctx)
{
	struct keel_scsi_dev *dev;
	struct keel_scsi_lun *lun;
	int i, rc;

	if (name == NULL || name[0] == '\0' || strlen(name) > KEEL_SCSI_DEV_MAX_NAME) {
		KEEL_ERRLOG("device name %s\n", name == NULL ? "missing" : "empty or too long");
		return NULL;
	}
	if (num_luns < 0 || num_luns > KEEL_SCSI_DEV_MAX_LUN ||
	    dev_check_luns(bdev_names, lun_ids, num_luns) != 0) {
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		return NULL;
	}
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	dev->protocol_id = protocol_id;
	dev->lun_removed_cb = lun_removed_cb;
	dev->lun_removed_ctx = ctx;
	pthread_mutex_init(&dev->lock, NULL);
	TAILQ_INIT(&dev->luns);
	for (i = 0; i < num_luns; i++) {
		lun = scsi_lun_create(dev, bdev_names[i], (uint64_t)lun_ids[i], &rc);
		if (lun == NULL) {
			KEEL_ERRLOG("device %s: LUN %d on bdev %s: %s\n", name, lun_ids[i],
				    bdev_names[i], strerror(-rc));
			goto err_free_luns;
		}
		dev_insert_lun_locked(dev, lun);
	}
	pthread_mutex_lock(&g_devs_lock);
	dev->id = dev_free_id();
	TAILQ_INSERT_TAIL(&g_devs, dev, link);
	pthread_mutex_unlock(&g_devs_lock);
	return dev;

err_free_luns:
	while ((lun = TAILQ_FIRST(&dev->luns)) != NULL) {
		TAILQ_REMOVE(&dev->luns, lun, link);
		scsi_lun_free_unused(lun);
	}
	dev_free(dev);
	return NULL;
}

static void
dev_finish_destruct(struct keel_scsi_dev *dev)
{
	void (*cb)(void *cb_arg, int rc) = dev->destruct_cb;
	void *cb_arg = dev->destruct_ctx;

	pthread_mutex_lock(&g_devs_lock);
	TAILQ_REMOVE(&g_devs, dev, link);
	pthread_mutex_unlock(&g_devs_lock);
	dev_free(dev);
	if (cb != NULL) {
		cb(cb_arg, 0);
	}
}

static void
dev_destruct_empty_msg(void *arg)
{
	dev_finish_destruct(arg);
}

void
keel_scsi_dev_destruct(struct keel_scsi_dev *dev, void (*cb)(void *cb_arg, int rc), void *cb_arg)
{
	struct keel_scsi_lun *lun;
	bool empty;

	pthread_mutex_lock(&dev->lock);
	if (dev->destructing) {
		pthread_mutex_unlock(&dev->lock);
		KEEL_ERRLOG("device %s is already being destroyed\n", dev->name);
		return;
	}
	dev->destructing = true;
	dev->destruct_cb = cb;
	dev->destruct_ctx = cb_arg;
	empty = TAILQ_EMPTY(&dev->luns);
	pthread_mutex_unlock(&dev->lock);
	if (empty) {
		/* Never call back from inside the call. */
		if (keel_thread_send_msg(keel_get_thread(), dev_destruct_empty_msg, dev) != 0) {
			dev_finish_destruct(dev);
		}
		return;
	}
	/* scsi_lun_remove() takes only the LUN's lock; the LUN stays listed until it is freed on
	 * its thread (scsi_dev_unlink_lun), which takes dev->lock, so walk under it. */
	pthread_mutex_lock(&dev->lock);
	TAILQ_FOREACH (lun, &dev->luns, link) {
		scsi_lun_remove(lun);
	}
	pthread_mutex_unlock(&dev->lock);
}

void
scsi_dev_unlink_lun(struct keel_scsi_dev *dev, struct keel_scsi_lun *lun)
{
	pthread_mutex_lock(&dev->lock);
	TAILQ_REMOVE(&dev->luns, lun, link);
	pthread_mutex_unlock(&dev->lock);
}

void
scsi_dev_lun_gone(struct keel_scsi_dev *dev, uint64_t lun_id)
{
	bool finish;

	if (dev->lun_removed_cb != NULL) {
		dev->lun_removed_cb(dev, lun_id, dev->lun_removed_ctx);
	}
	pthread_mutex_lock(&dev->lock);
	finish = dev->destructing && TAILQ_EMPTY(&dev->luns);
	pthread_mutex_unlock(&dev->lock);
	if (finish) {
		dev_finish_destruct(dev);
	}
}

const char *
keel_scsi_dev_get_name(const struct keel_scsi_dev *dev)
{
	return dev->name;
}

int
keel_scsi_dev_get_id(const struct keel_scsi_dev *dev)
{
	return dev->id;
}

/* The lowest id no LUN (removing ones included) has, or -ENOSPC. Under dev->lock. */
static int
dev_free_lun_id(struct keel_scsi_dev *dev)
{
	int id;

	for (id = 0; id < KEEL_SCSI_DEV_MAX_LUN; id++) {
		if (dev_find_lun_locked(dev, (uint64_t)id) == NULL) {
			return id;
		}
	}
	return -ENOSPC;
}

int
keel_scsi_dev_add_lun(struct keel_scsi_dev *dev, const char *bdev_name, int lun_id)
{
	struct keel_scsi_lun *lun;
	int rc;

	if (bdev_name == NULL || lun_id >= KEEL_SCSI_DEV_MAX_LUN) {
		return -EINVAL;
	}
	pthread_mutex_lock(&dev->lock);
	if (dev->destructing) {
		rc = -EBUSY;
	} else if (lun_id < 0) {
		rc = dev_free_lun_id(dev);
	} else {
		rc = dev_find_lun_locked(dev, (uint64_t)lun_id) != NULL ? -EEXIST : lun_id;
	}
	pthread_mutex_unlock(&dev->lock);
	if (rc < 0) {
		return rc;
	}
	lun_id = rc;
	lun = scsi_lun_create(dev, bdev_name, (uint64_t)lun_id, &rc);
	if (lun == NULL) {
		return rc;
	}
	pthread_mutex_lock(&dev->lock);
	if (dev_find_lun_locked(dev, (uint64_t)lun_id) != NULL || dev->destructing) {
		/* Lost a race with another add of the same id. */
		pthread_mutex_unlock(&dev->lock);
		scsi_lun_free_unused(lun);
		return -EEXIST;
	}
	dev_insert_lun_locked(dev, lun);
	pthread_mutex_unlock(&dev->lock);
	/* The new LUN knows no initiator yet, so only the others get the UA (SPC-4 6.33). */
	scsi_dev_queue_ua_all_luns(dev, NULL, NULL, KEEL_SCSI_ASC_REPORTED_LUNS_DATA_HAS_CHANGED);
	return lun_id;
}

int
keel_scsi_dev_delete_lun(struct keel_scsi_dev *dev, uint64_t lun_id)
{
	struct keel_scsi_lun *lun;

	pthread_mutex_lock(&dev->lock);
	lun = dev_find_lun_locked(dev, lun_id);
	if (lun == NULL || keel_scsi_lun_is_removing(lun)) {
		pthread_mutex_unlock(&dev->lock);
		return -ENOENT;
	}
	scsi_lun_remove(lun);
	pthread_mutex_unlock(&dev->lock);
	scsi_dev_queue_ua_all_luns(dev, NULL, NULL, KEEL_SCSI_ASC_REPORTED_LUNS_DATA_HAS_CHANGED);
	return 0;
}

struct keel_scsi_lun *
keel_scsi_dev_get_lun(struct keel_scsi_dev *dev, uint64_t lun_id)
{
	struct keel_scsi_lun *lun;

	pthread_mutex_lock(&dev->lock);
	lun = dev_find_lun_locked(dev, lun_id);
	if (lun != NULL && keel_scsi_lun_is_removing(lun)) {
		lun = NULL;
	}
	pthread_mutex_unlock(&dev->lock);
	return lun;
}

/* The first LUN from it on that is not being removed. Under dev->lock. */
static struct keel_scsi_lun *
dev_skip_removing(struct keel_scsi_lun *lun)
{
	while (lun != NULL && keel_scsi_lun_is_removing(lun)) {
		lun = TAILQ_NEXT(lun, link);
	}
	return lun;
}

struct keel_scsi_lun *
keel_scsi_dev_get_first_lun(struct keel_scsi_dev *dev)
{
	struct keel_scsi_lun *lun;

	pthread_mutex_lock(&dev->lock);
	lun = dev_skip_removing(TAILQ_FIRST(&dev->luns));
	pthread_mutex_unlock(&dev->lock);
	return lun;
}

struct keel_scsi_lun *
keel_scsi_dev_get_next_lun(struct keel_scsi_lun *prev)
{
	struct keel_scsi_dev *dev = prev->dev;
	struct keel_scsi_lun *lun;

	pthread_mutex_lock(&dev->lock);
	lun = dev_skip_removing(TAILQ_NEXT(prev, link));
	pthread_mutex_unlock(&dev->lock);
	return lun;
}

struct keel_scsi_dev *
keel_scsi_dev_get_first(void)
{
	struct keel_scsi_dev *dev;

	pthread_mutex_lock(&g_devs_lock);
	dev = TAILQ_FIRST(&g_devs);
	pthread_mutex_unlock(&g_devs_lock);
	return dev;
}

struct keel_scsi_dev *
keel_scsi_dev_get_next(struct keel_scsi_dev *prev)
{
	struct keel_scsi_dev *dev;

	pthread_mutex_lock(&g_devs_lock);
	dev = TAILQ_NEXT(prev, link);
	pthread_mutex_unlock(&g_devs_lock);
	return dev;
}

void
scsi_dev_queue_ua_all_luns(struct keel_scsi_dev *dev, const char *only, const char *except,
			   uint16_t asc_ascq)
{
	struct keel_scsi_lun *lun;

	pthread_mutex_lock(&dev->lock);
	TAILQ_FOREACH (lun, &dev->luns, link) {
		if (!keel_scsi_lun_is_removing(lun)) {
			scsi_lun_queue_ua(lun, only, except, asc_ascq);
		}
	}
	pthread_mutex_unlock(&dev->lock);
}

void
scsi_dev_clear_ua(struct keel_scsi_dev *dev, const char *initiator, uint16_t asc_ascq)
{
	struct keel_scsi_lun *lun;

	pthread_mutex_lock(&dev->lock);
	TAILQ_FOREACH (lun, &dev->luns, link) {
		scsi_lun_clear_ua(lun, initiator, asc_ascq);
	}
	pthread_mutex_unlock(&dev->lock);
}

void
keel_scsi_dev_nexus_lost(struct keel_scsi_dev *dev, struct keel_scsi_port *initiator_port,
			 struct keel_scsi_port *target_port)
{
	struct keel_scsi_lun *lun;

	if (initiator_port == NULL) {
		return;
	}
	pthread_mutex_lock(&dev->lock);
	TAILQ_FOREACH (lun, &dev->luns, link) {
		if (!keel_scsi_lun_is_removing(lun)) {
			scsi_lun_nexus_lost(lun, initiator_port->name,
					    target_port != NULL ? target_port->name : "");
		}
	}
	pthread_mutex_unlock(&dev->lock);
}

bool
keel_scsi_dev_get_pending_ua(struct keel_scsi_dev *dev, struct keel_scsi_port *ini,
			     struct keel_scsi_port *tgt, uint64_t *lun_id, uint8_t *sense,
			     uint16_t *sense_len)
{
	struct keel_scsi_lun *lun;
	bool found = false;

	if (ini == NULL) {
		return false;
	}
	pthread_mutex_lock(&dev->lock);
	TAILQ_FOREACH (lun, &dev->luns, link) {
		if (keel_scsi_lun_is_removing(lun)) {
			continue;
		}
		if (scsi_lun_take_ua_sense(lun, ini->name, sense, sense_len)) {
			*lun_id = lun->id;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&dev->lock);
	return found;
}
