/*
 * Unit tests of task execution and task management (task.c): commands without a LUN, unknown
 * operation codes, reservation and sanitize checks, task attributes (ORDERED, HEAD OF QUEUE),
 * -ENOMEM retries, and every task management function, with I/O held at the bdev so that
 * aborts race real completions on two threads.
 */
#include "scsi_ut_common.h"

static const uint8_t g_tur[6] = {KEEL_SCSI_TEST_UNIT_READY};
static const uint8_t g_read10[10] = {KEEL_SCSI_READ_10, 0, 0, 0, 0, 0, 0, 0, 8, 0};
static const uint8_t g_write10[10] = {KEEL_SCSI_WRITE_10, 0, 0, 0, 0, 0, 0, 0, 8, 0};

/* A task management request on desc from initiator ini. */
static struct ut_task *
ut_tmf_new(struct keel_scsi_dev *dev, struct keel_scsi_lun_desc *desc, int ini,
	   enum keel_scsi_tmf function, struct keel_scsi_task *ref)
{
	struct ut_task *ut = ut_task_new(dev, desc, ini, g_tur, 6, 0, 1);

	ut->t.function = function;
	ut->t.abort_task = ref;
	ut->t.response = 0xff;
	return ut;
}

static void
ut_tmf_start(struct ut_task *ut)
{
	keel_set_thread(ut->t.lun_desc != NULL ? ut->t.lun_desc->thread : g_t[0]);
	keel_scsi_task_mgmt(&ut->t);
	CU_ASSERT(ut->done == 0); /* never inline */
	keel_set_thread(g_t[0]);
}

static enum keel_scsi_tmf_resp
ut_tmf(struct keel_scsi_dev *dev, struct keel_scsi_lun_desc *desc, int ini,
       enum keel_scsi_tmf function, struct keel_scsi_task *ref)
{
	struct ut_task *ut = ut_tmf_new(dev, desc, ini, function, ref);
	enum keel_scsi_tmf_resp resp;

	ut_tmf_start(ut);
	poll_until(&ut->done);
	CU_ASSERT(ut->done == 1);
	resp = ut->t.response;
	ut_task_free(ut);
	return resp;
}

static void
command_without_lun_gets_logical_unit_not_supported_but_inquiry_answers(void)
{
	static const uint8_t inquiry[6] = {KEEL_SCSI_INQUIRY, 0, 0, 0, 96, 0};
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct ut_task *ut;

	ut = ut_cmd(dev, NULL, 0, g_tur, 6, 0);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_LOGICAL_UNIT_NOT_SUPPORTED));
	ut_task_free(ut);
	ut = ut_cmd(dev, NULL, 0, g_read10, 10, 4096);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_LOGICAL_UNIT_NOT_SUPPORTED));
	CU_ASSERT(ut->t.data_transferred == 0);
	ut_task_free(ut);
	ut = ut_cmd(dev, NULL, 0, inquiry, 6, 96);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(ut->buf[0] == 0x7f);
	ut_task_free(ut);
	ut_dev_teardown(dev);
}

static void
unknown_operation_code_is_invalid_command_operation_code(void)
{
	static const uint8_t bogus[6] = {0xc5};
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct ut_task *ut;

	ut_clear_ua(dev, d0, 0);
	ut = ut_cmd(dev, d0, 0, bogus, 6, 0);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_INVALID_COMMAND_OPERATION_CODE));
	ut_task_free(ut);
	/* Descriptor format when the transport asks for it. */
	ut = ut_task_new(dev, d0, 0, bogus, 6, 0, 1);
	ut->t.desc_sense = true;
	ut_run(ut);
	CU_ASSERT(ut->t.sense_data[0] == 0x72);
	CU_ASSERT(ut_asc(&ut->t) == KEEL_SCSI_ASC_INVALID_COMMAND_OPERATION_CODE);
	ut_task_free(ut);
	ut_close(d0);
	ut_dev_teardown(dev);
}

static void
reservation_check_runs_only_when_something_is_reserved(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct ut_task *ut;

	ut_clear_ua(dev, d0, 0);
	g_pr_conflict = 1;
	ut = ut_cmd(dev, d0, 0, g_tur, 6, 0);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	d0->lun->pr_active = true;
	ut = ut_cmd(dev, d0, 0, g_tur, 6, 0);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_RESERVATION_CONFLICT);
	ut_task_free(ut);
	g_pr_conflict = 0;
	d0->lun->pr_active = false;
	ut_close(d0);
	ut_dev_teardown(dev);
}

static void
sanitizing_lun_answers_not_ready_except_inquiry(void)
{
	static const uint8_t inquiry[6] = {KEEL_SCSI_INQUIRY, 0, 0, 0, 96, 0};
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct ut_task *ut;

	ut_clear_ua(dev, d0, 0);
	d0->lun->sanitizing = true;
	ut = ut_cmd(dev, d0, 0, g_tur, 6, 0);
	CU_ASSERT(
		ut_check(&ut->t, KEEL_SCSI_SENSE_NOT_READY, KEEL_SCSI_ASC_LUN_NOT_READY_SANITIZE));
	ut_task_free(ut);
	ut = ut_cmd(dev, d0, 0, inquiry, 6, 96);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	d0->lun->sanitizing = false;
	ut_close(d0);
	ut_dev_teardown(dev);
}

/*
 * Task attributes: a SIMPLE write is held at the bdev; an ORDERED read waits for it and holds
 * back a later SIMPLE read; a HEAD OF QUEUE read runs at once.
 */
static void
ordered_task_waits_for_earlier_ones_and_blocks_later_ones(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct ut_task *w, *ord, *later, *hoq;
	struct ut_disk *d = &g_disks[0];
	uint32_t submits;

	ut_clear_ua(dev, d0, 0);
	d->hold = true;
	w = ut_task_new(dev, d0, 0, g_write10, 10, 4096, 1);
	ord = ut_task_new(dev, d0, 0, g_read10, 10, 4096, 1);
	ord->t.attr = KEEL_SCSI_TASK_ATTR_ORDERED;
	later = ut_task_new(dev, d0, 0, g_read10, 10, 4096, 1);
	hoq = ut_task_new(dev, d0, 0, g_read10, 10, 4096, 1);
	hoq->t.attr = KEEL_SCSI_TASK_ATTR_HEAD_OF_QUEUE;
	ut_start(w);
	ut_start(ord);
	ut_start(later);
	poll_threads(5);
	submits = d->by_type[KEEL_BDEV_IO_TYPE_READ];
	CU_ASSERT(ut_held_count(d) == 1);
	ut_start(hoq);
	poll_threads(5);
	CU_ASSERT(d->by_type[KEEL_BDEV_IO_TYPE_READ] == submits + 1);
	/* Completing what runs lets the ORDERED read go, and only it. */
	ut_release_held(d, true);
	poll_threads(5);
	CU_ASSERT(w->done == 1 && hoq->done == 1);
	CU_ASSERT(ord->done == 0 && later->done == 0);
	CU_ASSERT(ut_held_count(d) == 1);
	ut_release(d);
	poll_until(&later->done);
	CU_ASSERT(ord->done == 1 && later->done == 1);
	CU_ASSERT(ord->t.status == KEEL_SCSI_STATUS_GOOD &&
		  later->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(w);
	ut_task_free(ord);
	ut_task_free(later);
	ut_task_free(hoq);
	ut_close(d0);
	ut_dev_teardown(dev);
}

/*
 * READs answered by reference (data_by_ref): the data is the bdev's memory until
 * keel_scsi_task_put_data(); an ORDERED task waits for that; a bdev that cannot, an ORDERED READ
 * and a transport that did not ask get a copy.
 */
static void
read_by_reference_points_at_the_bdev_memory_until_put(void)
{
	static const uint8_t read16[16] = {KEEL_SCSI_READ_16, 0, 0, 0, 0, 0, 0, 0, 0, 8,
					   0, 0, 0, 8, 0, 0};
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct ut_disk *d = &g_disks[0];
	struct ut_task *r, *w, *c;
	uint32_t i, writes;

	ut_clear_ua(dev, d0, 0);
	for (i = 0; i < 16 * UT_BLKLEN; i++) {
		d->data[i] = (uint8_t)(i * 7 + 1);
	}
	d->bdev.zcopy_read = true;
	/* LBA 8, 8 blocks: the task's iovecs become the bdev's memory, its buffer stays empty. */
	r = ut_task_new(dev, d0, 0, read16, 16, 4096, 2);
	r->t.data_by_ref = true;
	ut_run(r);
	CU_ASSERT(r->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(r->t.data_transferred == 4096);
	CU_ASSERT_FATAL(r->t.iovcnt == 1);
	CU_ASSERT(r->t.iovs[0].iov_base == d->data + 8 * UT_BLKLEN);
	CU_ASSERT(r->t.iovs[0].iov_len == 4096);
	CU_ASSERT(r->buf[0] == 0 && r->buf[4095] == 0);
	CU_ASSERT(d0->data_refs == 1);
	/* An ORDERED write to those blocks waits for the data to be released. */
	writes = d->by_type[KEEL_BDEV_IO_TYPE_WRITE];
	w = ut_task_new(dev, d0, 0, g_write10, 10, 4096, 1);
	w->t.attr = KEEL_SCSI_TASK_ATTR_ORDERED;
	memset(w->buf, 0xee, 4096);
	ut_start(w);
	poll_threads(10);
	CU_ASSERT(w->done == 0);
	CU_ASSERT(d->by_type[KEEL_BDEV_IO_TYPE_WRITE] == writes);
	CU_ASSERT(d->data[8 * UT_BLKLEN] == (uint8_t)(8 * UT_BLKLEN * 7 + 1));
	keel_scsi_task_put_data(&r->t);
	CU_ASSERT(r->t.iovs == NULL && r->t.iovcnt == 0);
	CU_ASSERT(d0->data_refs == 0);
	poll_until(&w->done);
	CU_ASSERT(w->t.status == KEEL_SCSI_STATUS_GOOD);
	keel_scsi_task_put_data(&w->t); /* nothing held: nothing done */
	ut_task_free(w);
	ut_task_free(r);

	/* No data_by_ref, an ORDERED READ, a bdev without zcopy_read: copies. */
	for (i = 0; i < 3; i++) {
		c = ut_task_new(dev, d0, 0, g_read10, 10, 4096, 1);
		c->t.data_by_ref = i != 0;
		c->t.attr = i == 1 ? KEEL_SCSI_TASK_ATTR_ORDERED : KEEL_SCSI_TASK_ATTR_SIMPLE;
		d->bdev.zcopy_read = i != 2;
		ut_run(c);
		CU_ASSERT(c->t.status == KEEL_SCSI_STATUS_GOOD);
		CU_ASSERT(c->t.iovs == c->iov);
		CU_ASSERT(memcmp(c->buf, d->data, 4096) == 0);
		CU_ASSERT(d0->data_refs == 0);
		keel_scsi_task_put_data(&c->t);
		CU_ASSERT(c->t.iovs == c->iov);
		ut_task_free(c);
	}
	/* A failed READ holds nothing. */
	d->bdev.zcopy_read = true;
	d->fail_left = 1;
	c = ut_task_new(dev, d0, 0, g_read10, 10, 4096, 1);
	c->t.data_by_ref = true;
	ut_run(c);
	CU_ASSERT(ut_sk(&c->t) == KEEL_SCSI_SENSE_MEDIUM_ERROR);
	CU_ASSERT(d0->data_refs == 0 && c->t.internal.data_io == NULL);
	ut_task_free(c);
	d->bdev.zcopy_read = false;
	ut_close(d0);
	ut_dev_teardown(dev);
}

/* Hot removal of the bdev while a READ holds its memory: the descriptor closes, and the bdev
 * goes, only once the data is released. */
static void
held_read_data_keeps_the_bdev_until_put(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct ut_disk *d = &g_disks[0];
	struct ut_task *r;

	ut_clear_ua(dev, d0, 0);
	d->bdev.zcopy_read = true;
	r = ut_task_new(dev, d0, 0, g_read10, 10, 4096, 1);
	r->t.data_by_ref = true;
	ut_run(r);
	CU_ASSERT_FATAL(r->t.internal.data_io != NULL);
	g_desc_removed = 0;
	g_unreg_rc = 1;
	keel_bdev_unregister(&d->bdev, unreg_done, NULL);
	poll_threads(50);
	CU_ASSERT(g_desc_removed == 1); /* and it asked to close */
	CU_ASSERT(g_unreg_rc == 1);	/* the bdev is still there */
	CU_ASSERT(!d0->closed);
	keel_set_thread(d0->thread);
	keel_scsi_task_put_data(&r->t);
	keel_set_thread(g_t[0]);
	poll_threads(50);
	CU_ASSERT(g_unreg_rc == 0);
	d->registered = false;
	ut_task_free(r);
	ut_dev_teardown(dev);
}

static void
bdev_out_of_io_objects_is_retried(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct ut_task *ut;
	uint32_t i;

	ut_clear_ua(dev, d0, 0);
	for (i = 0; i < 4096; i++) {
		g_disks[0].data[i] = (uint8_t)(i * 3);
	}
	g_disks[0].nomem_left = 3;
	ut = ut_cmd(dev, d0, 0, g_read10, 10, 4096);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(memcmp(ut->buf, g_disks[0].data, 4096) == 0);
	ut_task_free(ut);
	ut_close(d0);
	ut_dev_teardown(dev);
}

/*
 * Task management.
 */
static void
abort_task_of_held_io_ends_it_aborted_then_answers(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct ut_task *w, *tmf;

	ut_clear_ua(dev, d0, 0);
	g_disks[0].hold = true;
	w = ut_task_new(dev, d0, 0, g_write10, 10, 4096, 2);
	ut_start(w);
	poll_threads(5);
	tmf = ut_tmf_new(dev, d0, 0, KEEL_SCSI_TMF_ABORT_TASK, &w->t);
	ut_tmf_start(tmf);
	poll_threads(10);
	/* The write is at the bdev: the answer waits for it. */
	CU_ASSERT(tmf->done == 0 && w->done == 0);
	ut_release(&g_disks[0]);
	poll_until(&tmf->done);
	CU_ASSERT(w->done == 1 && w->t.aborted);
	CU_ASSERT(tmf->done == 1 && tmf->t.response == KEEL_SCSI_TMF_RESP_COMPLETE);
	poll_threads(10);
	CU_ASSERT(w->done == 1);
	ut_task_free(w);
	ut_task_free(tmf);
	ut_close(d0);
	ut_dev_teardown(dev);
}

static void
abort_task_answers_complete_for_an_ended_task_and_not_found_for_no_task(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct ut_task *r, *tmf;

	ut_clear_ua(dev, d0, 0);
	r = ut_cmd(dev, d0, 0, g_read10, 10, 4096);
	CU_ASSERT(ut_tmf(dev, d0, 0, KEEL_SCSI_TMF_ABORT_TASK, &r->t) ==
		  KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(!r->t.aborted);
	tmf = ut_tmf_new(dev, d0, 0, KEEL_SCSI_TMF_ABORT_TASK, NULL);
	tmf->t.abort_tag = 0x1234;
	ut_tmf_start(tmf);
	poll_until(&tmf->done);
	CU_ASSERT(tmf->t.response == KEEL_SCSI_TMF_RESP_TASK_NOT_FOUND);
	ut_task_free(tmf);
	ut_task_free(r);
	ut_close(d0);
	ut_dev_teardown(dev);
}

static void
abort_task_by_tag_finds_a_blocked_task_and_ends_it_at_once(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct ut_task *ord, *blocked, *tmf;

	ut_clear_ua(dev, d0, 0);
	g_disks[0].hold = true;
	ord = ut_task_new(dev, d0, 0, g_read10, 10, 4096, 1);
	ord->t.attr = KEEL_SCSI_TASK_ATTR_ORDERED;
	blocked = ut_task_new(dev, d0, 0, g_read10, 10, 4096, 1);
	blocked->t.tag = 77;
	ut_start(ord);
	ut_start(blocked);
	poll_threads(5);
	tmf = ut_tmf_new(dev, d0, 0, KEEL_SCSI_TMF_ABORT_TASK, NULL);
	tmf->t.abort_tag = 77;
	ut_tmf_start(tmf);
	poll_until(&tmf->done);
	CU_ASSERT(tmf->t.response == KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(blocked->done == 1 && blocked->t.aborted);
	CU_ASSERT(ord->done == 0);
	ut_release(&g_disks[0]);
	poll_until(&ord->done);
	CU_ASSERT(ord->t.status == KEEL_SCSI_STATUS_GOOD && !ord->t.aborted);
	CU_ASSERT(blocked->done == 1);
	ut_task_free(ord);
	ut_task_free(blocked);
	ut_task_free(tmf);
	ut_close(d0);
	ut_dev_teardown(dev);
}

/* The I/O completes and the abort arrives in the same round: exactly one completion. */
static void
abort_racing_the_completion_ends_the_task_once(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct ut_task *r, *tmf;
	int i;

	ut_clear_ua(dev, d0, 0);
	for (i = 0; i < 3; i++) {
		g_disks[0].hold = true;
		r = ut_task_new(dev, d0, 0, g_read10, 10, 4096, 1);
		ut_start(r);
		poll_threads(3);
		tmf = ut_tmf_new(dev, d0, 0, KEEL_SCSI_TMF_ABORT_TASK, &r->t);
		if (i == 0) {
			ut_release(&g_disks[0]);
			ut_tmf_start(tmf);
		} else if (i == 1) {
			ut_tmf_start(tmf);
			ut_release(&g_disks[0]);
		} else {
			ut_release(&g_disks[0]);
			poll_threads(1);
			ut_tmf_start(tmf);
		}
		poll_until(&tmf->done);
		poll_threads(10);
		CU_ASSERT(r->done == 1);
		CU_ASSERT(tmf->t.response == KEEL_SCSI_TMF_RESP_COMPLETE);
		ut_task_free(r);
		ut_task_free(tmf);
	}
	ut_close(d0);
	ut_dev_teardown(dev);
}

/* Held reads from two initiators on two threads. */
static void
start_two_initiators(struct keel_scsi_dev *dev, struct keel_scsi_lun_desc *d0,
		     struct keel_scsi_lun_desc *d1, struct ut_task **r0, struct ut_task **r1)
{
	g_disks[0].hold = true;
	*r0 = ut_task_new(dev, d0, 0, g_read10, 10, 4096, 1);
	*r1 = ut_task_new(dev, d1, 1, g_read10, 10, 4096, 1);
	ut_start(*r0);
	ut_start(*r1);
	poll_threads(5);
	CU_ASSERT(ut_held_count(&g_disks[0]) == 2);
}

static void
abort_task_set_aborts_only_that_initiators_tasks(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct keel_scsi_lun_desc *d1 = ut_open(dev, 0, 1, true);
	struct ut_task *r0, *r1, *tmf;

	ut_clear_ua(dev, d0, 0);
	ut_clear_ua(dev, d1, 1);
	start_two_initiators(dev, d0, d1, &r0, &r1);
	tmf = ut_tmf_new(dev, d0, 0, KEEL_SCSI_TMF_ABORT_TASK_SET, NULL);
	ut_tmf_start(tmf);
	poll_threads(10);
	CU_ASSERT(tmf->done == 0);
	ut_release(&g_disks[0]);
	poll_until(&tmf->done);
	poll_threads(5);
	CU_ASSERT(tmf->t.response == KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(r0->done == 1 && r0->t.aborted);
	CU_ASSERT(r1->done == 1 && !r1->t.aborted && r1->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(ut_next_ua(dev, d1, 1) == -1);
	ut_task_free(r0);
	ut_task_free(r1);
	ut_task_free(tmf);
	ut_close(d0);
	ut_close(d1);
	ut_dev_teardown(dev);
}

static void
clear_task_set_aborts_everyones_tasks_and_tells_the_others(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct keel_scsi_lun_desc *d1 = ut_open(dev, 0, 1, true);
	struct ut_task *r0, *r1, *tmf;

	ut_clear_ua(dev, d0, 0);
	ut_clear_ua(dev, d1, 1);
	start_two_initiators(dev, d0, d1, &r0, &r1);
	tmf = ut_tmf_new(dev, d0, 0, KEEL_SCSI_TMF_CLEAR_TASK_SET, NULL);
	ut_tmf_start(tmf);
	poll_threads(10);
	ut_release(&g_disks[0]);
	poll_until(&tmf->done);
	poll_threads(5);
	CU_ASSERT(tmf->t.response == KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(r0->t.aborted && r1->t.aborted);
	CU_ASSERT(ut_next_ua(dev, d1, 1) == KEEL_SCSI_ASC_COMMANDS_CLEARED_BY_ANOTHER_INITIATOR);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == -1);
	ut_task_free(r0);
	ut_task_free(r1);
	ut_task_free(tmf);
	ut_close(d0);
	ut_close(d1);
	ut_dev_teardown(dev);
}

static void
lun_reset_aborts_waits_resets_and_sets_a_ua_for_everyone(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct keel_scsi_lun_desc *d1 = ut_open(dev, 0, 1, true);
	struct ut_task *r0, *r1, *tmf;

	ut_clear_ua(dev, d0, 0);
	ut_clear_ua(dev, d1, 1);
	g_pr_lun_reset_calls = 0;
	start_two_initiators(dev, d0, d1, &r0, &r1);
	tmf = ut_tmf_new(dev, d0, 0, KEEL_SCSI_TMF_LOGICAL_UNIT_RESET, NULL);
	ut_tmf_start(tmf);
	poll_threads(10);
	CU_ASSERT(tmf->done == 0);
	ut_release(&g_disks[0]);
	poll_until(&tmf->done);
	poll_threads(5);
	CU_ASSERT(tmf->t.response == KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(r0->t.aborted && r1->t.aborted);
	CU_ASSERT(g_pr_lun_reset_calls == 1);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == KEEL_SCSI_ASC_BUS_DEVICE_RESET);
	CU_ASSERT(ut_next_ua(dev, d1, 1) == KEEL_SCSI_ASC_BUS_DEVICE_RESET);
	CU_ASSERT(ut_next_ua(dev, d1, 1) == -1);
	ut_task_free(r0);
	ut_task_free(r1);
	ut_task_free(tmf);
	ut_close(d0);
	ut_close(d1);
	ut_dev_teardown(dev);
}

/* The bdev reset starts once the tasks are marked aborted, not after they have ended: I/O the
 * bdev would hold forever (an error bdev's pending I/O) is ended by it, and the reset ends. */
static void
lun_reset_ends_io_the_bdev_would_hold_forever(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct keel_scsi_lun_desc *d1 = ut_open(dev, 0, 1, true);
	struct ut_disk *d = &g_disks[0];
	struct ut_task *r0, *r1, *tmf;

	ut_clear_ua(dev, d0, 0);
	ut_clear_ua(dev, d1, 1);
	start_two_initiators(dev, d0, d1, &r0, &r1);
	d->abort_held_on_reset = true;
	tmf = ut_tmf_new(dev, d0, 0, KEEL_SCSI_TMF_LOGICAL_UNIT_RESET, NULL);
	ut_tmf_start(tmf);
	CU_ASSERT(poll_until(&tmf->done));
	poll_threads(5);
	CU_ASSERT(tmf->t.response == KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(ut_held_count(d) == 0);
	CU_ASSERT(r0->done == 1 && r1->done == 1);
	CU_ASSERT(r0->t.aborted && r1->t.aborted);
	CU_ASSERT(ut_next_ua(dev, d1, 1) == KEEL_SCSI_ASC_BUS_DEVICE_RESET);
	d->abort_held_on_reset = false;
	d->hold = false;
	ut_task_free(r0);
	ut_task_free(r1);
	ut_task_free(tmf);
	ut_close(d0);
	ut_close(d1);
	ut_dev_teardown(dev);
}

static void
target_warm_reset_resets_every_lun_and_nexus_reset_only_one_initiator(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0, *d1, *e0;

	CU_ASSERT_FATAL(ut_disk_register(1, "ut1", UT_BLOCKS, UT_BLKLEN) != NULL);
	CU_ASSERT(keel_scsi_dev_add_lun(dev, "ut1", 1) == 1);
	d0 = ut_open(dev, 0, 0, true);
	d1 = ut_open(dev, 0, 1, true);
	e0 = ut_open(dev, 1, 0, true);
	ut_clear_ua(dev, d0, 0);
	ut_clear_ua(dev, d1, 1);
	ut_clear_ua(dev, e0, 0);
	g_pr_lun_reset_calls = 0;
	CU_ASSERT(ut_tmf(dev, NULL, 0, KEEL_SCSI_TMF_TARGET_WARM_RESET, NULL) ==
		  KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(g_pr_lun_reset_calls == 2);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == KEEL_SCSI_ASC_BUS_DEVICE_RESET);
	CU_ASSERT(ut_next_ua(dev, e0, 0) == KEEL_SCSI_ASC_BUS_DEVICE_RESET);
	CU_ASSERT(ut_next_ua(dev, d1, 1) == KEEL_SCSI_ASC_BUS_DEVICE_RESET);
	g_pr_nexus_lost_calls = 0;
	CU_ASSERT(ut_tmf(dev, NULL, 1, KEEL_SCSI_TMF_I_T_NEXUS_RESET, NULL) ==
		  KEEL_SCSI_TMF_RESP_COMPLETE);
	CU_ASSERT(g_pr_nexus_lost_calls == 2);
	CU_ASSERT(ut_next_ua(dev, d1, 1) == KEEL_SCSI_ASC_I_T_NEXUS_LOSS);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == -1);
	ut_close(d0);
	ut_close(d1);
	ut_close(e0);
	ut_dev_teardown(dev);
	ut_disk_free(&g_disks[1]);
}

static void
query_functions_report_tasks_and_pending_events(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct ut_task *r;

	CU_ASSERT(ut_tmf(dev, d0, 0, KEEL_SCSI_TMF_QUERY_ASYNC_EVENT, NULL) ==
		  KEEL_SCSI_TMF_RESP_COMPLETE);
	ut_clear_ua(dev, d0, 0);
	scsi_lun_queue_ua(d0->lun, NULL, NULL, KEEL_SCSI_ASC_MODE_PARAMETERS_CHANGED);
	CU_ASSERT(ut_tmf(dev, d0, 0, KEEL_SCSI_TMF_QUERY_ASYNC_EVENT, NULL) ==
		  KEEL_SCSI_TMF_RESP_SUCCEEDED);
	ut_clear_ua(dev, d0, 0);
	g_disks[0].hold = true;
	r = ut_task_new(dev, d0, 0, g_read10, 10, 4096, 1);
	ut_start(r);
	poll_threads(5);
	CU_ASSERT(ut_tmf(dev, d0, 0, KEEL_SCSI_TMF_QUERY_TASK, &r->t) ==
		  KEEL_SCSI_TMF_RESP_SUCCEEDED);
	CU_ASSERT(ut_tmf(dev, d0, 0, KEEL_SCSI_TMF_QUERY_TASK_SET, NULL) ==
		  KEEL_SCSI_TMF_RESP_SUCCEEDED);
	CU_ASSERT(ut_tmf(dev, d0, 1, KEEL_SCSI_TMF_QUERY_TASK_SET, NULL) ==
		  KEEL_SCSI_TMF_RESP_COMPLETE);
	ut_release(&g_disks[0]);
	poll_until(&r->done);
	CU_ASSERT(!r->t.aborted);
	CU_ASSERT(ut_tmf(dev, d0, 0, KEEL_SCSI_TMF_QUERY_TASK, &r->t) ==
		  KEEL_SCSI_TMF_RESP_COMPLETE);
	ut_task_free(r);
	ut_close(d0);
	ut_dev_teardown(dev);
}

static void
unsupported_functions_and_missing_luns_are_answered(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, false);

	CU_ASSERT(ut_tmf(dev, d0, 0, KEEL_SCSI_TMF_CLEAR_ACA, NULL) ==
		  KEEL_SCSI_TMF_RESP_NOT_SUPPORTED);
	CU_ASSERT(ut_tmf(dev, d0, 0, KEEL_SCSI_TMF_TARGET_COLD_RESET, NULL) ==
		  KEEL_SCSI_TMF_RESP_NOT_SUPPORTED);
	CU_ASSERT(ut_tmf(dev, d0, 0, KEEL_SCSI_TMF_TASK_REASSIGN, NULL) ==
		  KEEL_SCSI_TMF_RESP_REASSIGN_NOT_SUPPORTED);
	CU_ASSERT(ut_tmf(dev, d0, 0, (enum keel_scsi_tmf)99, NULL) ==
		  KEEL_SCSI_TMF_RESP_NOT_SUPPORTED);
	CU_ASSERT(ut_tmf(dev, NULL, 0, KEEL_SCSI_TMF_LOGICAL_UNIT_RESET, NULL) ==
		  KEEL_SCSI_TMF_RESP_LUN_NOT_FOUND);
	CU_ASSERT(ut_tmf(dev, NULL, 0, KEEL_SCSI_TMF_ABORT_TASK_SET, NULL) ==
		  KEEL_SCSI_TMF_RESP_LUN_NOT_FOUND);
	CU_ASSERT(keel_scsi_dev_delete_lun(dev, 0) == 0);
	CU_ASSERT(ut_tmf(dev, d0, 0, KEEL_SCSI_TMF_ABORT_TASK, NULL) ==
		  KEEL_SCSI_TMF_RESP_LUN_NOT_FOUND);
	ut_close(d0);
	ut_dev_teardown(dev);
}

static int
suite_init(void)
{
	return ut_suite_init("scsi_task_ut");
}

static int
suite_fini(void)
{
	return 0;
}

static const struct keel_ut_test g_tests[] = {
	KEEL_UT_TEST(command_without_lun_gets_logical_unit_not_supported_but_inquiry_answers),
	KEEL_UT_TEST(unknown_operation_code_is_invalid_command_operation_code),
	KEEL_UT_TEST(reservation_check_runs_only_when_something_is_reserved),
	KEEL_UT_TEST(sanitizing_lun_answers_not_ready_except_inquiry),
	KEEL_UT_TEST(ordered_task_waits_for_earlier_ones_and_blocks_later_ones),
	KEEL_UT_TEST(read_by_reference_points_at_the_bdev_memory_until_put),
	KEEL_UT_TEST(held_read_data_keeps_the_bdev_until_put),
	KEEL_UT_TEST(bdev_out_of_io_objects_is_retried),
	KEEL_UT_TEST(abort_task_of_held_io_ends_it_aborted_then_answers),
	KEEL_UT_TEST(abort_task_answers_complete_for_an_ended_task_and_not_found_for_no_task),
	KEEL_UT_TEST(abort_task_by_tag_finds_a_blocked_task_and_ends_it_at_once),
	KEEL_UT_TEST(abort_racing_the_completion_ends_the_task_once),
	KEEL_UT_TEST(abort_task_set_aborts_only_that_initiators_tasks),
	KEEL_UT_TEST(clear_task_set_aborts_everyones_tasks_and_tells_the_others),
	KEEL_UT_TEST(lun_reset_aborts_waits_resets_and_sets_a_ua_for_everyone),
	KEEL_UT_TEST(lun_reset_ends_io_the_bdev_would_hold_forever),
	KEEL_UT_TEST(target_warm_reset_resets_every_lun_and_nexus_reset_only_one_initiator),
	KEEL_UT_TEST(query_functions_report_tasks_and_pending_events),
	KEEL_UT_TEST(unsupported_functions_and_missing_luns_are_answered),
};

int
main(void)
{
	return keel_ut_run("scsi_task", g_tests, sizeof(g_tests) / sizeof(g_tests[0]), suite_init,
			   suite_fini);
}
