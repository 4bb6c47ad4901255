/*
 * Logical units: a LUN owns a read-write open of its bdev (made on the thread that created it),
 * the per-thread descriptors the transport opens on it, its unit attention queues, and the
 * removal sequence that hot-remove, LUN deletion and device destruction share.
 *
 * Removal: the LUN is marked removing (new commands get LOGICAL UNIT NOT SUPPORTED); every
 * descriptor's thread is told by message and, once that descriptor has no task left, its
 * remove_cb runs there; the transport then closes the descriptor (which puts its channel). When
 * no descriptor and no background hold is left, the bdev is closed on the LUN's thread, the
 * LUN is freed and the device's lun_removed_cb runs.
 *
 * Unit attentions: the LUN keeps the initiator ports that have sent it a command. A port it has
 * never seen gets POWER ON, RESET, OR BUS DEVICE RESET OCCURRED on its first command; every
 * other UA is queued, as one record per known port, for the ports it concerns ("every
 * initiator" means every known port, since a port not yet known will see POWER ON first). The
 * records of a port are reported oldest first, at most SCSI_MAX_UA of them, duplicates merged.
 * A port whose I_T nexus is lost is kept (its I_T NEXUS LOSS OCCURRED waits for it) until room
 * is needed for new ports.
 */
#include "keel/stdinc.h"
#include "keel/log.h"

#include "scsi_internal.h"

#define LUN_MAX_ITNS 256

static void lun_try_free(struct keel_scsi_lun *lun);

uint64_t
keel_scsi_lun_get_id(const struct keel_scsi_lun *lun)
{
	return lun->id;
}

const char *
keel_scsi_lun_get_bdev_name(const struct keel_scsi_lun *lun)
{
	return lun->bdev_name;
}

struct keel_scsi_dev *
keel_scsi_lun_get_dev(const struct keel_scsi_lun *lun)
{
	return lun->dev;
}

bool
keel_scsi_lun_is_removing(const struct keel_scsi_lun *lun)
{
	return __atomic_load_n(&lun->removing, __ATOMIC_ACQUIRE);
}

struct keel_scsi_lun *
keel_scsi_lun_desc_get_lun(struct keel_scsi_lun_desc *desc)
{
	return desc->lun;
}

uint32_t
scsi_lun_max_transfer_blocks(const struct keel_scsi_lun *lun)
{
	return SCSI_MAX_TRANSFER_BYTES / keel_bdev_get_block_size(lun->bdev);
}

uint32_t
scsi_lun_max_caw_blocks(const struct keel_scsi_lun *lun)
{
	uint32_t n = keel_bdev_get_max_compare_and_write_blocks(lun->bdev);

	return n < SCSI_MAX_CAW_BLOCKS ? n : SCSI_MAX_CAW_BLOCKS;
}

/*
 * Unit attention records. Everything here runs under lun->lock.
 */
static struct scsi_lun_itn *
itn_find(struct keel_scsi_lun *lun, const char *name)
{
	struct scsi_lun_itn *itn;

	TAILQ_FOREACH (itn, &lun->itns, link) {
		if (strcmp(itn->name, name) == 0) {
			return itn;
		}
	}
	return NULL;
}

static struct scsi_ua *
ua_find(struct keel_scsi_lun *lun, const char *initiator, int asc_ascq /* -1: any */)
{
	struct scsi_ua *ua;

	TAILQ_FOREACH (ua, &lun->uas, link) {
		if (strcmp(ua->initiator, initiator) == 0 &&
		    (asc_ascq < 0 || ua->asc_ascq == (uint16_t)asc_ascq)) {
			return ua;
		}
	}
	return NULL;
}

static void
ua_del(struct keel_scsi_lun *lun, struct scsi_ua *ua)
{
	struct scsi_lun_itn *itn = itn_find(lun, ua->initiator);

	if (itn != NULL && itn->num_ua > 0) {
		itn->num_ua--;
	}
	TAILQ_REMOVE(&lun->uas, ua, link);
	free(ua);
}

static void
ua_add(struct keel_scsi_lun *lun, struct scsi_lun_itn *itn, uint16_t asc_ascq)
{
	struct scsi_ua *ua;

	if (ua_find(lun, itn->name, asc_ascq) != NULL) {
		return;
	}
	if (itn->num_ua >= SCSI_MAX_UA) {
		/* A full queue keeps its oldest conditions; the initiator has those to read. */
		return;
	}
	ua = calloc(1, sizeof(*ua));
	if (ua == NULL) {
		return;
	}
	snprintf(ua->initiator, sizeof(ua->initiator), "%s", itn->name);
	ua->asc_ascq = asc_ascq;
	TAILQ_INSERT_TAIL(&lun->uas, ua, link);
	itn->num_ua++;
	__atomic_add_fetch(&lun->ua_gen, 1, __ATOMIC_RELEASE);
}

static void
itn_del(struct keel_scsi_lun *lun, struct scsi_lun_itn *itn)
{
	struct scsi_ua *ua, *tmp;

	TAILQ_FOREACH_SAFE (ua, &lun->uas, link, tmp) {
		if (strcmp(ua->initiator, itn->name) == 0) {
			TAILQ_REMOVE(&lun->uas, ua, link);
			free(ua);
		}
	}
	TAILQ_REMOVE(&lun->itns, itn, link);
	lun->num_itns--;
	free(itn);
}

/* A port the LUN has not seen: remember it, with POWER ON OCCURRED pending. */
static void
itn_add(struct keel_scsi_lun *lun, const char *name)
{
	struct scsi_lun_itn *itn;

	if (lun->num_itns >= LUN_MAX_ITNS) {
		TAILQ_FOREACH (itn, &lun->itns, link) {
			if (itn->lost) {
				itn_del(lun, itn);
				break;
			}
		}
	}
	itn = calloc(1, sizeof(*itn));
	if (itn == NULL) {
		return;
	}
	snprintf(itn->name, sizeof(itn->name), "%s", name);
	TAILQ_INSERT_TAIL(&lun->itns, itn, link);
	lun->num_itns++;
	ua_add(lun, itn, KEEL_SCSI_ASC_POWER_ON_OR_RESET);
}

void
scsi_lun_queue_ua(struct keel_scsi_lun *lun, const char *only, const char *except,
		  uint16_t asc_ascq)
{
	struct scsi_lun_itn *itn;

	pthread_mutex_lock(&lun->lock);
	if (only != NULL) {
		itn = itn_find(lun, only);
		if (itn != NULL) {
			ua_add(lun, itn, asc_ascq);
		}
	} else {
		TAILQ_FOREACH (itn, &lun->itns, link) {
			if (except == NULL || strcmp(itn->name, except) != 0) {
				ua_add(lun, itn, asc_ascq);
			}
		}
	}
	pthread_mutex_unlock(&lun->lock);
}

/* Dequeue the initiator's oldest UA; -1 if none. */
static int
lun_pop_ua(struct keel_scsi_lun *lun, const char *initiator, uint64_t *gen)
{
	struct scsi_ua *ua;
	int asc_ascq = -1;

	pthread_mutex_lock(&lun->lock);
	ua = ua_find(lun, initiator, -1);
	if (ua != NULL) {
		asc_ascq = ua->asc_ascq;
		ua_del(lun, ua);
	}
	if (gen != NULL) {
		*gen = lun->ua_gen;
	}
	pthread_mutex_unlock(&lun->lock);
	return asc_ascq;
}

bool
scsi_lun_take_ua(struct keel_scsi_lun *lun, struct keel_scsi_task *task)
{
	int asc_ascq = lun_pop_ua(lun, scsi_task_initiator(task), NULL);

	if (asc_ascq < 0) {
		return false;
	}
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
				  KEEL_SCSI_SENSE_UNIT_ATTENTION, asc_ascq);
	return true;
}

bool
scsi_lun_has_ua(struct keel_scsi_lun *lun, const char *initiator)
{
	bool found;

	pthread_mutex_lock(&lun->lock);
	found = ua_find(lun, initiator != NULL ? initiator : "", -1) != NULL;
	pthread_mutex_unlock(&lun->lock);
	return found;
}

bool
scsi_lun_take_ua_sense(struct keel_scsi_lun *lun, const char *initiator, uint8_t *sense,
		       uint16_t *sense_len)
{
	int asc_ascq = lun_pop_ua(lun, initiator, NULL);

	if (asc_ascq < 0) {
		return false;
	}
	scsi_sense_build(sense, sense_len, __atomic_load_n(&lun->mode.d_sense, __ATOMIC_RELAXED),
			 KEEL_SCSI_SENSE_UNIT_ATTENTION, asc_ascq, NULL, 0, false);
	return true;
}

void
scsi_lun_clear_ua(struct keel_scsi_lun *lun, const char *initiator, uint16_t asc_ascq)
{
	struct scsi_ua *ua;

	pthread_mutex_lock(&lun->lock);
	while ((ua = ua_find(lun, initiator, asc_ascq)) != NULL) {
		ua_del(lun, ua);
	}
	pthread_mutex_unlock(&lun->lock);
}

/*
 * The I/O path: a descriptor remembers the port it registered and the UA generation at which
 * that port had nothing pending, so that a command takes lun->lock only when a UA may be there.
 */
bool
scsi_lun_desc_check_ua(struct keel_scsi_lun_desc *desc, struct keel_scsi_task *task, bool take)
{
	struct keel_scsi_lun *lun = desc->lun;
	const char *name = scsi_task_initiator(task);
	struct scsi_lun_itn *itn;
	uint64_t gen;
	int asc_ascq;

	if (desc->seen_port == NULL || task->initiator_port != desc->seen_port) {
		pthread_mutex_lock(&lun->lock);
		itn = itn_find(lun, name);
		if (itn == NULL) {
			itn_add(lun, name);
		} else {
			itn->lost = false;
		}
		pthread_mutex_unlock(&lun->lock);
		desc->seen_port = task->initiator_port;
		desc->ua_checked_gen = 0;
	}
	if (!take) {
		return false;
	}
	if (__atomic_load_n(&lun->ua_gen, __ATOMIC_ACQUIRE) == desc->ua_checked_gen) {
		return false;
	}
	asc_ascq = lun_pop_ua(lun, name, &gen);
	if (asc_ascq < 0) {
		desc->ua_checked_gen = gen;
		return false;
	}
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
				  KEEL_SCSI_SENSE_UNIT_ATTENTION, asc_ascq);
	return true;
}

void
scsi_lun_nexus_lost(struct keel_scsi_lun *lun, const char *initiator, const char *target)
{
	struct scsi_lun_itn *itn;

	scsi_pr_nexus_lost(lun, initiator, target);
	pthread_mutex_lock(&lun->lock);
	itn = itn_find(lun, initiator);
	if (itn != NULL) {
		itn->lost = true;
		ua_add(lun, itn, KEEL_SCSI_ASC_I_T_NEXUS_LOSS);
	}
	pthread_mutex_unlock(&lun->lock);
}

/*
 * Creation and destruction.
 */
static void
lun_bdev_event(enum keel_bdev_event_type type, struct keel_bdev *bdev, void *ctx)
{
	struct keel_scsi_lun *lun = ctx;

	switch (type) {
	case KEEL_BDEV_EVENT_REMOVE:
		KEEL_NOTICELOG("device %s: bdev %s of LUN %" PRIu64 " is going away\n",
			       lun->dev->name, lun->bdev_name, lun->id);
		if (scsi_lun_remove(lun)) {
			scsi_dev_queue_ua_all_luns(lun->dev, NULL, NULL,
						   KEEL_SCSI_ASC_REPORTED_LUNS_DATA_HAS_CHANGED);
		}
		break;
	case KEEL_BDEV_EVENT_RESIZE:
		scsi_lun_queue_ua(lun, NULL, NULL, KEEL_SCSI_ASC_CAPACITY_DATA_HAS_CHANGED);
		break;
	}
}

struct keel_scsi_lun *
scsi_lun_create(struct keel_scsi_dev *dev, const char *bdev_name, uint64_t id, int *rc)
{
	struct keel_scsi_lun *lun;

	lun = calloc(1, sizeof(*lun));
	if (lun == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	lun->dev = dev;
	lun->id = id;
	lun->thread = keel_get_thread();
	lun->ua_gen = 1;
	pthread_mutex_init(&lun->lock, NULL);
	TAILQ_INIT(&lun->descs);
	TAILQ_INIT(&lun->uas);
	TAILQ_INIT(&lun->itns);
	TAILQ_INIT(&lun->pr.registrants);
	*rc = keel_bdev_open_ext(bdev_name, true, lun_bdev_event, lun, &lun->bdev_desc);
	if (*rc != 0) {
		pthread_mutex_destroy(&lun->lock);
		free(lun);
		return NULL;
	}
	lun->bdev = keel_bdev_desc_get_bdev(lun->bdev_desc);
	snprintf(lun->bdev_name, sizeof(lun->bdev_name), "%s", keel_bdev_get_name(lun->bdev));
	scsi_spc_mode_init(lun);
	scsi_pr_load(lun);
	return lun;
}

/* Everything but the struct itself, on the LUN's thread. */
static void
lun_fini(struct keel_scsi_lun *lun)
{
	struct scsi_lun_itn *itn;

	assert(TAILQ_EMPTY(&lun->descs));
	keel_bdev_close(lun->bdev_desc);
	lun->bdev_desc = NULL;
	while ((itn = TAILQ_FIRST(&lun->itns)) != NULL) {
		itn_del(lun, itn);
	}
	scsi_pr_lun_fini(lun);
	scsi_xcopy_lun_fini(lun);
	pthread_mutex_destroy(&lun->lock);
}

void
scsi_lun_free_unused(struct keel_scsi_lun *lun)
{
	lun_fini(lun);
	free(lun);
}

static void
lun_free_msg(void *arg)
{
	struct keel_scsi_lun *lun = arg;
	struct keel_scsi_dev *dev = lun->dev;
	uint64_t id = lun->id;

	KEEL_NOTICELOG("device %s: LUN %" PRIu64 " (bdev %s) removed\n", dev->name, id,
		       lun->bdev_name);
	scsi_dev_unlink_lun(dev, lun);
	lun_fini(lun);
	free(lun);
	scsi_dev_lun_gone(dev, id);
}

/* The last user is gone: free the LUN on its thread (always by message). */
static void
lun_try_free(struct keel_scsi_lun *lun)
{
	bool go;

	pthread_mutex_lock(&lun->lock);
	go = lun->removing && TAILQ_EMPTY(&lun->descs) && lun->holds == 0 && !lun->free_scheduled;
	if (go) {
		lun->free_scheduled = true;
	}
	pthread_mutex_unlock(&lun->lock);
	if (go && keel_thread_send_msg(lun->thread, lun_free_msg, lun) != 0) {
		KEEL_ERRLOG("LUN %" PRIu64 ": cannot reach its thread to free it\n", lun->id);
	}
}

bool
scsi_lun_hold(struct keel_scsi_lun *lun)
{
	bool ok;

	pthread_mutex_lock(&lun->lock);
	ok = !lun->removing;
	if (ok) {
		lun->holds++;
	}
	pthread_mutex_unlock(&lun->lock);
	return ok;
}

void
scsi_lun_release(struct keel_scsi_lun *lun)
{
	pthread_mutex_lock(&lun->lock);
	assert(lun->holds > 0);
	lun->holds--;
	pthread_mutex_unlock(&lun->lock);
	lun_try_free(lun);
}

/*
 * Descriptors.
 */
static void
desc_maybe_free(struct keel_scsi_lun_desc *desc)
{
	if (desc->closed && desc->cb_depth == 0 &&
	    __atomic_load_n(&desc->refs, __ATOMIC_ACQUIRE) == 0) {
		free(desc);
	}
}

bool
scsi_desc_msg_arrived(struct keel_scsi_lun_desc *desc)
{
	__atomic_sub_fetch(&desc->refs, 1, __ATOMIC_ACQ_REL);
	if (desc->closed) {
		desc_maybe_free(desc);
		return true;
	}
	return false;
}

static void
desc_close_now(struct keel_scsi_lun_desc *desc)
{
	struct keel_scsi_lun *lun = desc->lun;

	keel_put_io_channel(desc->bdev_ch);
	desc->bdev_ch = NULL;
	pthread_mutex_lock(&lun->lock);
	TAILQ_REMOVE(&lun->descs, desc, link);
	desc->closed = true;
	pthread_mutex_unlock(&lun->lock);
	lun_try_free(lun);
	desc_maybe_free(desc);
}

void
scsi_desc_idle(struct keel_scsi_lun_desc *desc)
{
	if (desc->closed) {
		desc_maybe_free(desc);
		return;
	}
	if (TAILQ_EMPTY(&desc->tasks) && TAILQ_EMPTY(&desc->blocked)) {
		if (desc->close_requested && desc->data_refs == 0) {
			desc_close_now(desc);
			return;
		}
		if (desc->remove_pending && !desc->remove_cb_done) {
			desc->remove_cb_done = true;
			if (desc->remove_cb != NULL) {
				desc->cb_depth++;
				desc->remove_cb(desc, desc->remove_ctx);
				desc->cb_depth--;
			}
		}
	}
	desc_maybe_free(desc);
}

static void
desc_remove_msg(void *arg)
{
	struct keel_scsi_lun_desc *desc = arg;

	if (scsi_desc_msg_arrived(desc)) {
		return;
	}
	desc->remove_pending = true;
	scsi_desc_idle(desc);
}

bool
scsi_lun_remove(struct keel_scsi_lun *lun)
{
	struct keel_scsi_lun_desc *desc;

	pthread_mutex_lock(&lun->lock);
	if (lun->removing) {
		pthread_mutex_unlock(&lun->lock);
		return false;
	}
	__atomic_store_n(&lun->removing, true, __ATOMIC_RELEASE);
	TAILQ_FOREACH (desc, &lun->descs, link) {
		__atomic_add_fetch(&desc->refs, 1, __ATOMIC_ACQ_REL);
		if (keel_thread_send_msg(desc->thread, desc_remove_msg, desc) != 0) {
			__atomic_sub_fetch(&desc->refs, 1, __ATOMIC_ACQ_REL);
			KEEL_ERRLOG("LUN %" PRIu64 ": cannot tell a descriptor it is removed\n",
				    lun->id);
		}
	}
	pthread_mutex_unlock(&lun->lock);
	lun_try_free(lun);
	return true;
}

int
keel_scsi_lun_open(struct keel_scsi_lun *lun, keel_scsi_lun_remove_cb remove_cb, void *ctx,
		   struct keel_scsi_lun_desc **descp)
{
	struct keel_scsi_lun_desc *desc;

	if (keel_scsi_lun_is_removing(lun)) {
		return -ENODEV;
	}
	desc = calloc(1, sizeof(*desc));
	if (desc == NULL) {
		return -ENOMEM;
	}
	desc->lun = lun;
	desc->thread = keel_get_thread();
	desc->remove_cb = remove_cb;
	desc->remove_ctx = ctx;
	TAILQ_INIT(&desc->tasks);
	TAILQ_INIT(&desc->blocked);
	TAILQ_INIT(&desc->abort_waiters);
	TAILQ_INIT(&desc->io_waiters);
	desc->bdev_ch = keel_bdev_get_io_channel(lun->bdev_desc);
	if (desc->bdev_ch == NULL) {
		free(desc);
		return -ENOMEM;
	}
	pthread_mutex_lock(&lun->lock);
	if (lun->removing) {
		pthread_mutex_unlock(&lun->lock);
		keel_put_io_channel(desc->bdev_ch);
		free(desc);
		return -ENODEV;
	}
	TAILQ_INSERT_TAIL(&lun->descs, desc, link);
	pthread_mutex_unlock(&lun->lock);
	*descp = desc;
	return 0;
}

void
keel_scsi_lun_close(struct keel_scsi_lun_desc *desc)
{
	if (desc == NULL) {
		return;
	}
	assert(desc->thread == keel_get_thread());
	if (!TAILQ_EMPTY(&desc->tasks) || !TAILQ_EMPTY(&desc->blocked) || desc->data_refs > 0) {
		/* The transport should wait for its tasks; close when they have ended and
		 * released the data they hold (keel_scsi_task_put_data()). */
		desc->close_requested = true;
		return;
	}
	desc_close_now(desc);
}
