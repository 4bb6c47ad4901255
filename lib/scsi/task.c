/*
 * Task execution and task management. keel_scsi_task_execute() checks the LUN, unit attentions
 * (SPC-4 5.14), sanitize and reservations, applies the task attribute (SAM-5 8.6) per
 * descriptor, and hands the command to the first command set that takes it. Completion always
 * reaches cpl_fn later, on the task's thread. Task management aborts tasks on every descriptor of
 * a LUN (by message to each descriptor's thread) and answers once the aborted tasks have ended.
 */
#include "keel/stdinc.h"
#include "keel/log.h"

#include "scsi_internal.h"

static void task_finish(struct keel_scsi_task *task);

const char *
scsi_task_initiator(const struct keel_scsi_task *task)
{
	return task->initiator_port != NULL ? task->initiator_port->name : "";
}

uint32_t
scsi_task_scatter(struct keel_scsi_task *task, const void *buf, uint32_t len)
{
	const uint8_t *src = buf;
	uint32_t total = 0, n;
	int i;

	if (len > task->transfer_len) {
		len = task->transfer_len;
	}
	for (i = 0; i < task->iovcnt && total < len; i++) {
		n = (uint32_t)task->iovs[i].iov_len;
		if (n > len - total) {
			n = len - total;
		}
		memcpy(task->iovs[i].iov_base, src + total, n);
		total += n;
	}
	task->data_transferred = total;
	return total;
}

uint32_t
scsi_task_gather(struct keel_scsi_task *task, void *buf, uint32_t len)
{
	uint8_t *dst = buf;
	uint32_t total = 0, n;
	int i;

	if (len > task->transfer_len) {
		len = task->transfer_len;
	}
	for (i = 0; i < task->iovcnt && total < len; i++) {
		n = (uint32_t)task->iovs[i].iov_len;
		if (n > len - total) {
			n = len - total;
		}
		memcpy(dst + total, task->iovs[i].iov_base, n);
		total += n;
	}
	return total;
}

/*
 * Completion.
 */
static void
task_complete_msg(void *arg)
{
	task_finish(arg);
}

/* Always by message (abort paths, and completions requested while dispatching). */
static void
task_complete_later(struct keel_scsi_task *task)
{
	task->internal.flags |= SCSI_TASK_F_COMPLETING;
	if (keel_thread_send_msg(task->internal.thread, task_complete_msg, task) != 0) {
		KEEL_ERRLOG("cannot queue the completion of a task: completing it now\n");
		task_finish(task);
	}
}

void
scsi_task_complete(struct keel_scsi_task *task)
{
	if (task->internal.flags & SCSI_TASK_F_COMPLETING) {
		KEEL_ERRLOG("task 0x%" PRIx64 " (opcode 0x%02x) completed twice\n", task->tag,
			    task->cdb[0]);
		assert(false);
		return;
	}
	if ((task->internal.flags & SCSI_TASK_F_IN_EXECUTE) ||
	    keel_get_thread() != task->internal.thread) {
		task_complete_later(task);
		return;
	}
	task_finish(task);
}

static void task_dispatch(struct keel_scsi_task *task);

/* Start blocked tasks that may run now: SIMPLE ones while no ORDERED task runs, an ORDERED one
 * once nothing runs (SAM-5 8.6). */
static void
desc_release_blocked(struct keel_scsi_lun_desc *desc)
{
	struct keel_scsi_task *task;

	while ((task = TAILQ_FIRST(&desc->blocked)) != NULL && desc->ordered == NULL) {
		if (task->attr == KEEL_SCSI_TASK_ATTR_ORDERED &&
		    (!TAILQ_EMPTY(&desc->tasks) || desc->data_refs > 0)) {
			break;
		}
		TAILQ_REMOVE(&desc->blocked, task, internal.link);
		TAILQ_INSERT_TAIL(&desc->tasks, task, internal.link);
		task->internal.flags &= ~SCSI_TASK_F_BLOCKED;
		if (task->attr == KEEL_SCSI_TASK_ATTR_ORDERED) {
			desc->ordered = task;
		}
		task->internal.flags |= SCSI_TASK_F_IN_EXECUTE;
		task_dispatch(task);
		task->internal.flags &= ~SCSI_TASK_F_IN_EXECUTE;
	}
}

static void
desc_check_abort_waiters(struct keel_scsi_lun_desc *desc)
{
	struct scsi_abort_wait *w;

	if (desc->aborted_outstanding != 0) {
		return;
	}
	while ((w = TAILQ_FIRST(&desc->abort_waiters)) != NULL) {
		TAILQ_REMOVE(&desc->abort_waiters, w, link);
		w->fn(w);
	}
}

static void
task_finish(struct keel_scsi_task *task)
{
	struct keel_scsi_lun_desc *desc = task->internal.desc;
	bool tracked = (task->internal.flags & SCSI_TASK_F_TRACKED) != 0;

	if (tracked) {
		TAILQ_REMOVE(&desc->tasks, task, internal.link);
		__atomic_sub_fetch(&desc->lun->tasks_outstanding, 1, __ATOMIC_RELAXED);
		if (task->internal.flags & SCSI_TASK_F_ABORTED) {
			task->aborted = true;
			desc->aborted_outstanding--;
		}
		if (desc->ordered == task) {
			desc->ordered = NULL;
		}
		desc->cb_depth++;
	} else if (task->internal.flags & SCSI_TASK_F_ABORTED) {
		task->aborted = true;
	}
	task->internal.flags = 0;
	task->cpl_fn(task);
	/* task may be gone now. */
	if (tracked) {
		desc->cb_depth--;
		if (!desc->closed) {
			desc_release_blocked(desc);
			desc_check_abort_waiters(desc);
		}
		scsi_desc_idle(desc);
	}
}

void
keel_scsi_task_put_data(struct keel_scsi_task *task)
{
	struct keel_scsi_lun_desc *desc = task->internal.data_desc;

	if (task->internal.data_io == NULL) {
		return;
	}
	assert(keel_get_thread() == desc->thread);
	keel_bdev_free_io(task->internal.data_io);
	task->internal.data_io = NULL;
	task->internal.data_desc = NULL;
	task->iovs = NULL;
	task->iovcnt = 0;
	if (--desc->data_refs > 0) {
		return;
	}
	/* An ORDERED task may have waited for the data; a close for the last of it. */
	desc->cb_depth++;
	if (!desc->closed) {
		desc_release_blocked(desc);
	}
	desc->cb_depth--;
	scsi_desc_idle(desc);
}

/*
 * Retry after -ENOMEM.
 */
static void
desc_io_wait_cb(void *arg)
{
	struct keel_scsi_lun_desc *desc = arg;
	TAILQ_HEAD(, keel_scsi_task) ready = TAILQ_HEAD_INITIALIZER(ready);
	struct keel_scsi_task *task;

	desc->io_wait_queued = false;
	if (scsi_desc_msg_arrived(desc)) {
		return;
	}
	TAILQ_CONCAT(&ready, &desc->io_waiters, internal.wait_link);
	while ((task = TAILQ_FIRST(&ready)) != NULL) {
		TAILQ_REMOVE(&ready, task, internal.wait_link);
		task->internal.retry_fn(task);
	}
}

int
scsi_task_wait_for_io(struct keel_scsi_task *task, void (*fn)(struct keel_scsi_task *task))
{
	struct keel_scsi_lun_desc *desc = task->internal.desc;

	if (desc == NULL) {
		return -EINVAL;
	}
	task->internal.retry_fn = fn;
	if (!desc->io_wait_queued) {
		desc->io_wait.bdev = desc->lun->bdev;
		desc->io_wait.cb_fn = desc_io_wait_cb;
		desc->io_wait.cb_arg = desc;
		if (keel_bdev_queue_io_wait(desc->lun->bdev, desc->bdev_ch, &desc->io_wait) != 0) {
			return -EINVAL;
		}
		desc->io_wait_queued = true;
		__atomic_add_fetch(&desc->refs, 1, __ATOMIC_ACQ_REL);
	}
	TAILQ_INSERT_TAIL(&desc->io_waiters, task, internal.wait_link);
	return 0;
}

/*
 * Execution.
 */
static void
task_dispatch(struct keel_scsi_task *task)
{
	if (scsi_spc_execute(task) || scsi_sbc_execute(task) || scsi_pr_execute(task) ||
	    scsi_xcopy_execute(task)) {
		return;
	}
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
				  KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
				  KEEL_SCSI_ASC_INVALID_COMMAND_OPERATION_CODE);
	scsi_task_complete(task);
}

/* Commands that a pending unit attention does not stop (SPC-4 5.14), and that run on a LUN
 * that does not exist or is going away, or while a SANITIZE runs. */
static bool
task_is_ua_exempt(const struct keel_scsi_task *task)
{
	switch (task->cdb[0]) {
	case KEEL_SCSI_INQUIRY:
	case KEEL_SCSI_REPORT_LUNS:
	case KEEL_SCSI_REQUEST_SENSE:
		return true;
	default:
		return false;
	}
}

/* No such LUN (or it is being removed): the device server still answers INQUIRY, REPORT LUNS
 * and REQUEST SENSE for it (SPC-4 6.6, 6.33, 6.39); everything else gets LOGICAL UNIT NOT
 * SUPPORTED. */
static void
task_execute_no_lun(struct keel_scsi_task *task)
{
	struct keel_scsi_lun_desc *saved = task->lun_desc;
	bool took;

	if (task_is_ua_exempt(task)) {
		if (task->cdb[0] == KEEL_SCSI_REPORT_LUNS && task->dev != NULL) {
			scsi_dev_clear_ua(task->dev, scsi_task_initiator(task),
					  KEEL_SCSI_ASC_REPORTED_LUNS_DATA_HAS_CHANGED);
		}
		task->lun_desc = NULL;
		took = scsi_spc_execute_no_lun(task);
		task->lun_desc = saved;
		if (took) {
			return;
		}
	}
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
				  KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
				  KEEL_SCSI_ASC_LOGICAL_UNIT_NOT_SUPPORTED);
	scsi_task_complete(task);
}

/* Checks that come before the task attribute; true if they completed the task. */
static bool
task_precheck(struct keel_scsi_lun_desc *desc, struct keel_scsi_task *task)
{
	struct keel_scsi_lun *lun = desc->lun;
	bool exempt = task_is_ua_exempt(task);

	if (scsi_lun_desc_check_ua(desc, task, !exempt)) {
		return true;
	}
	if (task->cdb[0] == KEEL_SCSI_REPORT_LUNS) {
		scsi_dev_clear_ua(lun->dev, scsi_task_initiator(task),
				  KEEL_SCSI_ASC_REPORTED_LUNS_DATA_HAS_CHANGED);
	}
	if (!exempt && __atomic_load_n(&lun->sanitizing, __ATOMIC_ACQUIRE)) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
					  KEEL_SCSI_SENSE_NOT_READY,
					  KEEL_SCSI_ASC_LUN_NOT_READY_SANITIZE);
		return true;
	}
	if (__atomic_load_n(&lun->pr_active, __ATOMIC_ACQUIRE) && scsi_pr_check(task) != 0) {
		return true;
	}
	return false;
}

/* SAM-5 8.6: true if the task must wait behind what the descriptor runs. */
static bool
task_must_wait(struct keel_scsi_lun_desc *desc, const struct keel_scsi_task *task)
{
	switch (task->attr) {
	case KEEL_SCSI_TASK_ATTR_HEAD_OF_QUEUE:
		return false;
	case KEEL_SCSI_TASK_ATTR_ORDERED:
		/* Older READs whose data is still held by reference count as running: a write
		 * must not change that data before it has been sent. */
		return desc->ordered != NULL || !TAILQ_EMPTY(&desc->tasks) ||
		       !TAILQ_EMPTY(&desc->blocked) || desc->data_refs > 0;
	default:
		return desc->ordered != NULL || !TAILQ_EMPTY(&desc->blocked);
	}
}

void
keel_scsi_task_execute(struct keel_scsi_task *task)
{
	struct keel_scsi_lun_desc *desc = task->lun_desc;
	struct keel_scsi_lun *lun;

	task->internal.thread = keel_get_thread();
	task->internal.desc = NULL;
	task->internal.lun = NULL;
	task->internal.flags = SCSI_TASK_F_IN_EXECUTE;
	task->internal.io_ctx = NULL;
	task->internal.priv = NULL;
	task->internal.step = 0;
	task->internal.bdev_io_outstanding = 0;
	task->internal.retry_fn = NULL;
	task->internal.data_io = NULL;
	task->internal.data_desc = NULL;
	task->status = KEEL_SCSI_STATUS_GOOD;
	task->sense_data_len = 0;
	task->data_transferred = 0;
	task->expected_len = 0;
	task->aborted = false;

	if (desc == NULL || keel_scsi_lun_is_removing(desc->lun)) {
		task_execute_no_lun(task);
		goto out;
	}
	assert(desc->thread == task->internal.thread);
	lun = desc->lun;
	task->internal.lun = lun;
	if (task_precheck(desc, task)) {
		scsi_task_complete(task);
		goto out;
	}
	task->internal.desc = desc;
	task->internal.flags |= SCSI_TASK_F_TRACKED;
	__atomic_add_fetch(&lun->tasks_outstanding, 1, __ATOMIC_RELAXED);
	if (task_must_wait(desc, task)) {
		task->internal.flags |= SCSI_TASK_F_BLOCKED;
		TAILQ_INSERT_TAIL(&desc->blocked, task, internal.link);
		goto out;
	}
	TAILQ_INSERT_TAIL(&desc->tasks, task, internal.link);
	if (task->attr == KEEL_SCSI_TASK_ATTR_ORDERED) {
		desc->ordered = task;
	}
	task_dispatch(task);
out:
	/* The task is still ours: its completion, if any, is only queued. */
	task->internal.flags &= ~SCSI_TASK_F_IN_EXECUTE;
}

/*
 * Aborting tasks of one descriptor, on its thread.
 */
struct abort_filter {
	bool all; /* every initiator */
	const char *initiator;
	const struct keel_scsi_task *only; /* ABORT TASK: that task */
	const char *ua_except;             /* non-NULL: COMMANDS CLEARED BY ANOTHER INITIATOR
					    * for the owners of aborted tasks but this one */
};

static bool
abort_matches(const struct abort_filter *f, const struct keel_scsi_task *task)
{
	if (f->only != NULL) {
		return task == f->only;
	}
	return f->all || strcmp(scsi_task_initiator(task), f->initiator) == 0;
}

static void
abort_mark(struct keel_scsi_lun_desc *desc, struct keel_scsi_task *task,
	   const struct abort_filter *f)
{
	const char *owner = scsi_task_initiator(task);

	if (!(task->internal.flags & SCSI_TASK_F_ABORTED)) {
		task->internal.flags |= SCSI_TASK_F_ABORTED;
		desc->aborted_outstanding++;
	}
	if (f->ua_except != NULL && strcmp(owner, f->ua_except) != 0) {
		scsi_lun_queue_ua(desc->lun, owner, NULL,
				  KEEL_SCSI_ASC_COMMANDS_CLEARED_BY_ANOTHER_INITIATOR);
	}
}

static void
desc_abort_tasks(struct keel_scsi_lun_desc *desc, const struct abort_filter *f)
{
	struct keel_scsi_task *task, *tmp;

	/* Blocked tasks never started: they end now (by message). */
	TAILQ_FOREACH_SAFE (task, &desc->blocked, internal.link, tmp) {
		if (!abort_matches(f, task)) {
			continue;
		}
		TAILQ_REMOVE(&desc->blocked, task, internal.link);
		TAILQ_INSERT_TAIL(&desc->tasks, task, internal.link);
		task->internal.flags &= ~SCSI_TASK_F_BLOCKED;
		abort_mark(desc, task, f);
		task_complete_later(task);
	}
	/* Running tasks end when their I/O does; they report no status. */
	TAILQ_FOREACH (task, &desc->tasks, internal.link) {
		if (abort_matches(f, task) && !(task->internal.flags & SCSI_TASK_F_ABORTED)) {
			abort_mark(desc, task, f);
		}
	}
}

/* Call w->fn(w) once the descriptor's aborted tasks have all ended. */
static void
desc_wait_aborted(struct keel_scsi_lun_desc *desc, struct scsi_abort_wait *w)
{
	w->desc = desc;
	if (desc->aborted_outstanding == 0) {
		w->fn(w);
		return;
	}
	TAILQ_INSERT_TAIL(&desc->abort_waiters, w, link);
}

/*
 * Aborting tasks of every descriptor of a LUN.
 */
struct lun_abort {
	struct keel_thread *origin;
	uint32_t pending;
	uint32_t to_mark;		/* descriptors that have not marked their tasks yet */
	bool all;
	char initiator[KEEL_SCSI_PORT_MAX_NAME + 1];
	bool clear_ua;
	void (*marked)(void *ctx);	/* every task is marked aborted (NULL: not wanted) */
	void (*done)(void *ctx);	/* and they have all ended */
	void *ctx;
};

static void
lun_abort_marked_msg(void *arg)
{
	struct lun_abort *a = arg;

	a->marked(a->ctx);
}

/* The last descriptor to mark its tasks tells the origin, before its done can (messages to a
 * thread arrive in the order they were sent, and done needs every descriptor's put). */
static void
lun_abort_marked_put(struct lun_abort *a)
{
	if (a->marked == NULL || __atomic_sub_fetch(&a->to_mark, 1, __ATOMIC_ACQ_REL) != 0) {
		return;
	}
	if (keel_thread_send_msg(a->origin, lun_abort_marked_msg, a) != 0) {
		KEEL_ERRLOG("cannot report the tasks of an abort marked\n");
	}
}

static void
lun_abort_done_msg(void *arg)
{
	struct lun_abort *a = arg;

	a->done(a->ctx);
	free(a);
}

static void
lun_abort_put(struct lun_abort *a)
{
	if (__atomic_sub_fetch(&a->pending, 1, __ATOMIC_ACQ_REL) != 0) {
		return;
	}
	if (keel_thread_send_msg(a->origin, lun_abort_done_msg, a) != 0) {
		KEEL_ERRLOG("cannot report the end of an abort\n");
	}
}

static void
lun_abort_desc_done(struct scsi_abort_wait *w)
{
	struct lun_abort *a = w->ctx;

	free(w);
	lun_abort_put(a);
}

static void
lun_abort_desc_msg(void *arg)
{
	struct scsi_abort_wait *w = arg;
	struct lun_abort *a = w->ctx;
	struct keel_scsi_lun_desc *desc = w->desc;
	struct abort_filter f = {
		.all = a->all,
		.initiator = a->initiator,
		.ua_except = a->clear_ua ? a->initiator : NULL,
	};

	if (scsi_desc_msg_arrived(desc)) {
		lun_abort_marked_put(a);
		lun_abort_desc_done(w);
		return;
	}
	desc_abort_tasks(desc, &f);
	lun_abort_marked_put(a);
	desc_wait_aborted(desc, w);
}

/* Abort the tasks of one initiator (or all: initiator NULL) on every descriptor of the LUN;
 * clear_ua: COMMANDS CLEARED BY ANOTHER INITIATOR for the other owners (CLEAR TASK SET, where
 * initiator names the one that asked). marked(ctx), if not NULL, runs on this thread once every
 * descriptor has marked its tasks (they may still be at the bdev), then done(ctx) once they have
 * ended; done alone if memory is short. */
static void
lun_abort_marked(struct keel_scsi_lun *lun, const char *initiator, bool all, bool clear_ua,
		 void (*marked)(void *ctx), void (*done)(void *ctx), void *ctx)
{
	struct keel_scsi_lun_desc *desc;
	struct scsi_abort_wait *w;
	struct lun_abort *a;

	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		KEEL_ERRLOG("LUN %" PRIu64 ": out of memory for an abort\n", lun->id);
		keel_thread_send_msg(keel_get_thread(), done, ctx);
		return;
	}
	a->origin = keel_get_thread();
	a->pending = 1;
	a->to_mark = 1;
	a->marked = marked;
	a->all = all;
	snprintf(a->initiator, sizeof(a->initiator), "%s", initiator != NULL ? initiator : "");
	a->clear_ua = clear_ua;
	a->done = done;
	a->ctx = ctx;
	pthread_mutex_lock(&lun->lock);
	TAILQ_FOREACH (desc, &lun->descs, link) {
		w = calloc(1, sizeof(*w));
		if (w == NULL) {
			KEEL_ERRLOG("LUN %" PRIu64 ": out of memory for an abort\n", lun->id);
			continue;
		}
		w->desc = desc;
		w->ctx = a;
		w->fn = lun_abort_desc_done;
		__atomic_add_fetch(&desc->refs, 1, __ATOMIC_ACQ_REL);
		__atomic_add_fetch(&a->pending, 1, __ATOMIC_ACQ_REL);
		__atomic_add_fetch(&a->to_mark, 1, __ATOMIC_ACQ_REL);
		if (keel_thread_send_msg(desc->thread, lun_abort_desc_msg, w) != 0) {
			__atomic_sub_fetch(&desc->refs, 1, __ATOMIC_ACQ_REL);
			__atomic_sub_fetch(&a->pending, 1, __ATOMIC_ACQ_REL);
			__atomic_sub_fetch(&a->to_mark, 1, __ATOMIC_ACQ_REL);
			free(w);
		}
	}
	pthread_mutex_unlock(&lun->lock);
	lun_abort_marked_put(a);
	lun_abort_put(a);
}

static void
lun_abort(struct keel_scsi_lun *lun, const char *initiator, bool all, bool clear_ua,
	  void (*done)(void *ctx), void *ctx)
{
	lun_abort_marked(lun, initiator, all, clear_ua, NULL, done, ctx);
}

void
scsi_lun_abort_all(struct keel_scsi_lun *lun, const char *initiator, void (*done)(void *ctx),
		   void *ctx)
{
	lun_abort(lun, initiator, initiator == NULL, false, done, ctx);
}

/*
 * Task management (SAM-5 7, RFC 7143 11.5). The answer always goes back by message.
 */
static void
tmf_cpl_msg(void *arg)
{
	struct keel_scsi_task *task = arg;

	task->cpl_fn(task);
}

static void
tmf_complete(struct keel_scsi_task *task, enum keel_scsi_tmf_resp resp)
{
	task->response = resp;
	if (keel_thread_send_msg(task->internal.thread, tmf_cpl_msg, task) != 0) {
		KEEL_ERRLOG("cannot queue a task management answer: answering now\n");
		task->cpl_fn(task);
	}
}

static void
tmf_complete_cb(void *arg)
{
	tmf_complete(arg, KEEL_SCSI_TMF_RESP_COMPLETE);
}

static void
tmf_wait_done(struct scsi_abort_wait *w)
{
	struct keel_scsi_task *task = w->ctx;

	free(w);
	tmf_complete(task, KEEL_SCSI_TMF_RESP_COMPLETE);
}

/* The task ABORT TASK or QUERY TASK refers to, if the descriptor still has it. */
static struct keel_scsi_task *
tmf_find_task(struct keel_scsi_lun_desc *desc, const struct keel_scsi_task *tmf)
{
	struct keel_scsi_task *task;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		task = pass == 0 ? TAILQ_FIRST(&desc->tasks) : TAILQ_FIRST(&desc->blocked);
		for (; task != NULL; task = TAILQ_NEXT(task, internal.link)) {
			if (tmf->abort_task != NULL
				    ? task == tmf->abort_task
				    : (task->tag == tmf->abort_tag &&
				       task->initiator_port == tmf->initiator_port)) {
				return task;
			}
		}
	}
	return NULL;
}

/* ABORT TASK: a task the descriptor no longer has has completed already, which RFC 7143
 * 11.5.1 answers FUNCTION COMPLETE; the transport answers TASK DOES NOT EXIST itself for a
 * tag it does not know (abort_task NULL and no task with abort_tag here). */
static void
tmf_abort_task(struct keel_scsi_lun_desc *desc, struct keel_scsi_task *tmf)
{
	struct abort_filter f = {0};
	struct scsi_abort_wait *w;
	struct keel_scsi_task *task = tmf_find_task(desc, tmf);

	if (task == NULL) {
		tmf_complete(tmf, tmf->abort_task != NULL ? KEEL_SCSI_TMF_RESP_COMPLETE
							  : KEEL_SCSI_TMF_RESP_TASK_NOT_FOUND);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		tmf_complete(tmf, KEEL_SCSI_TMF_RESP_REJECTED);
		return;
	}
	f.only = task;
	desc_abort_tasks(desc, &f);
	w->fn = tmf_wait_done;
	w->ctx = tmf;
	desc_wait_aborted(desc, w);
}

static enum keel_scsi_tmf_resp
tmf_query_task_set(struct keel_scsi_lun_desc *desc, const struct keel_scsi_task *tmf)
{
	const char *ini = scsi_task_initiator(tmf);
	struct keel_scsi_task *task;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		task = pass == 0 ? TAILQ_FIRST(&desc->tasks) : TAILQ_FIRST(&desc->blocked);
		for (; task != NULL; task = TAILQ_NEXT(task, internal.link)) {
			if (strcmp(scsi_task_initiator(task), ini) == 0) {
				return KEEL_SCSI_TMF_RESP_SUCCEEDED;
			}
		}
	}
	return KEEL_SCSI_TMF_RESP_COMPLETE;
}

/*
 * Resets: LOGICAL UNIT RESET on one LUN, TARGET WARM RESET on every LUN of the device, and
 * I_T NEXUS RESET on every LUN for one initiator. Each LUN is held while its part runs.
 */
struct tmf_reset {
	struct keel_scsi_task *tmf;
	uint32_t pending;
	bool nexus; /* I_T NEXUS RESET (else a logical unit reset) */
};

struct tmf_reset_lun {
	struct tmf_reset *r;
	struct keel_scsi_lun *lun;
	struct keel_io_channel *ch;
	bool reset_started;	/* the bdev reset was submitted */
	bool reset_done;
	bool aborted;		/* the LUN's aborted tasks have ended */
};

static void
tmf_reset_put(struct tmf_reset *r)
{
	if (--r->pending == 0) {
		tmf_complete(r->tmf, KEEL_SCSI_TMF_RESP_COMPLETE);
		free(r);
	}
}

/* SAM-5 6.3: after a logical unit reset every I_T nexus sees BUS DEVICE RESET FUNCTION
 * OCCURRED; after an I_T nexus reset that nexus sees I_T NEXUS LOSS OCCURRED. */
static void
tmf_reset_lun_end(struct tmf_reset_lun *rl)
{
	struct tmf_reset *r = rl->r;
	const char *ini = scsi_task_initiator(r->tmf);
	const char *tgt = r->tmf->target_port != NULL ? r->tmf->target_port->name : "";

	if (r->nexus) {
		scsi_pr_nexus_lost(rl->lun, ini, tgt);
		scsi_lun_queue_ua(rl->lun, ini, NULL, KEEL_SCSI_ASC_I_T_NEXUS_LOSS);
	} else {
		scsi_pr_lun_reset(rl->lun);
		scsi_lun_queue_ua(rl->lun, NULL, NULL, KEEL_SCSI_ASC_BUS_DEVICE_RESET);
	}
	if (rl->ch != NULL) {
		keel_put_io_channel(rl->ch);
	}
	scsi_lun_release(rl->lun);
	free(rl);
	tmf_reset_put(r);
}

/* A LUN's part ends once its aborted tasks have ended and its bdev reset (if any) is done. */
static void
tmf_reset_lun_check(struct tmf_reset_lun *rl)
{
	if (rl->aborted && (!rl->reset_started || rl->reset_done)) {
		tmf_reset_lun_end(rl);
	}
}

static void
tmf_bdev_reset_done(struct keel_bdev_io *io, bool success, void *arg)
{
	struct tmf_reset_lun *rl = arg;

	keel_bdev_free_io(io);
	rl->reset_done = true;
	tmf_reset_lun_check(rl);
}

/* The bdev reset of a logical unit reset starts once the tasks are marked aborted, not after
 * they have ended (as in SPDK): it aborts what the bdev layer queues and what a module holds
 * back, so that tasks whose I/O would not come back by itself end too. */
static void
tmf_reset_lun_marked(void *arg)
{
	struct tmf_reset_lun *rl = arg;
	int rc;

	if (rl->r->nexus || rl->reset_started || rl->aborted) {
		return;
	}
	rl->ch = keel_bdev_get_io_channel(rl->lun->bdev_desc);
	if (rl->ch == NULL) {
		return;
	}
	rl->reset_started = true;
	rc = keel_bdev_reset(rl->lun->bdev_desc, rl->ch, tmf_bdev_reset_done, rl);
	if (rc != 0) {
		KEEL_WARNLOG("LUN %" PRIu64 ": bdev reset: %s\n", rl->lun->id, strerror(-rc));
		rl->reset_done = true;
	}
}

static void
tmf_reset_lun_aborted(void *arg)
{
	struct tmf_reset_lun *rl = arg;

	/* Without the marked step (memory was short), the bdev reset comes now. */
	tmf_reset_lun_marked(rl);
	rl->aborted = true;
	tmf_reset_lun_check(rl);
}

/* Start one LUN's part; the LUN is held by the caller. */
static void
tmf_reset_lun_start(struct tmf_reset *r, struct keel_scsi_lun *lun)
{
	struct tmf_reset_lun *rl = calloc(1, sizeof(*rl));
	const char *ini = scsi_task_initiator(r->tmf);

	if (rl == NULL) {
		scsi_lun_release(lun);
		return;
	}
	rl->r = r;
	rl->lun = lun;
	r->pending++;
	lun_abort_marked(lun, ini, !r->nexus, false, tmf_reset_lun_marked, tmf_reset_lun_aborted,
			 rl);
}

static void
tmf_reset(struct keel_scsi_task *tmf, struct keel_scsi_lun *one, bool nexus)
{
	struct keel_scsi_lun *luns[KEEL_SCSI_DEV_MAX_LUN];
	struct keel_scsi_dev *dev = tmf->dev;
	struct keel_scsi_lun *lun;
	struct tmf_reset *r;
	int n = 0, i;

	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		tmf_complete(tmf, KEEL_SCSI_TMF_RESP_REJECTED);
		return;
	}
	r->tmf = tmf;
	r->nexus = nexus;
	r->pending = 1;
	if (one != NULL) {
		if (scsi_lun_hold(one)) {
			luns[n++] = one;
		}
	} else if (dev != NULL) {
		pthread_mutex_lock(&dev->lock);
		TAILQ_FOREACH (lun, &dev->luns, link) {
			if (n < KEEL_SCSI_DEV_MAX_LUN && scsi_lun_hold(lun)) {
				luns[n++] = lun;
			}
		}
		pthread_mutex_unlock(&dev->lock);
	}
	for (i = 0; i < n; i++) {
		tmf_reset_lun_start(r, luns[i]);
	}
	tmf_reset_put(r);
}

/* A LUN-scoped function needs an open LUN that is not going away. */
static struct keel_scsi_lun_desc *
tmf_desc(struct keel_scsi_task *tmf)
{
	struct keel_scsi_lun_desc *desc = tmf->lun_desc;

	if (desc == NULL || keel_scsi_lun_is_removing(desc->lun)) {
		tmf_complete(tmf, KEEL_SCSI_TMF_RESP_LUN_NOT_FOUND);
		return NULL;
	}
	assert(desc->thread == keel_get_thread());
	return desc;
}

void
keel_scsi_task_mgmt(struct keel_scsi_task *tmf)
{
	struct keel_scsi_lun_desc *desc;
	const char *ini = scsi_task_initiator(tmf);

	tmf->internal.thread = keel_get_thread();
	tmf->internal.flags = 0;
	tmf->response = KEEL_SCSI_TMF_RESP_COMPLETE;

	switch (tmf->function) {
	case KEEL_SCSI_TMF_ABORT_TASK:
		if ((desc = tmf_desc(tmf)) != NULL) {
			tmf_abort_task(desc, tmf);
		}
		break;
	case KEEL_SCSI_TMF_ABORT_TASK_SET:
		if ((desc = tmf_desc(tmf)) != NULL) {
			lun_abort(desc->lun, ini, false, false, tmf_complete_cb, tmf);
		}
		break;
	case KEEL_SCSI_TMF_CLEAR_TASK_SET:
		if ((desc = tmf_desc(tmf)) != NULL) {
			lun_abort(desc->lun, ini, true, true, tmf_complete_cb, tmf);
		}
		break;
	case KEEL_SCSI_TMF_LOGICAL_UNIT_RESET:
		if ((desc = tmf_desc(tmf)) != NULL) {
			tmf_reset(tmf, desc->lun, false);
		}
		break;
	case KEEL_SCSI_TMF_TARGET_WARM_RESET:
		tmf_reset(tmf, NULL, false);
		break;
	case KEEL_SCSI_TMF_I_T_NEXUS_RESET:
		tmf_reset(tmf, NULL, true);
		break;
	case KEEL_SCSI_TMF_QUERY_TASK:
		if ((desc = tmf_desc(tmf)) != NULL) {
			tmf_complete(tmf, tmf_find_task(desc, tmf) != NULL
						  ? KEEL_SCSI_TMF_RESP_SUCCEEDED
						  : KEEL_SCSI_TMF_RESP_COMPLETE);
		}
		break;
	case KEEL_SCSI_TMF_QUERY_TASK_SET:
		if ((desc = tmf_desc(tmf)) != NULL) {
			tmf_complete(tmf, tmf_query_task_set(desc, tmf));
		}
		break;
	case KEEL_SCSI_TMF_QUERY_ASYNC_EVENT:
		if ((desc = tmf_desc(tmf)) != NULL) {
			tmf_complete(tmf, scsi_lun_has_ua(desc->lun, ini)
						  ? KEEL_SCSI_TMF_RESP_SUCCEEDED
						  : KEEL_SCSI_TMF_RESP_COMPLETE);
		}
		break;
	case KEEL_SCSI_TMF_TASK_REASSIGN:
		tmf_complete(tmf, KEEL_SCSI_TMF_RESP_REASSIGN_NOT_SUPPORTED);
		break;
	case KEEL_SCSI_TMF_CLEAR_ACA:
	case KEEL_SCSI_TMF_TARGET_COLD_RESET:
	default:
		tmf_complete(tmf, KEEL_SCSI_TMF_RESP_NOT_SUPPORTED);
		break;
	}
}
