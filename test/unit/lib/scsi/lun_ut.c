/*
 * Unit tests of logical units (lun.c): unit attentions (POWER ON for a new initiator port,
 * one record per known port, the commands they do not stop, merging and the queue bound,
 * CAPACITY DATA HAS CHANGED on resize, eviction of lost ports), descriptors, and hot-remove
 * with 1 MiB reads and writes held at the bdev on two threads.
 */
#include "scsi_ut_common.h"

static const uint8_t g_tur[6] = {KEEL_SCSI_TEST_UNIT_READY};

static void
new_initiator_sees_power_on_once(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);

	CU_ASSERT(ut_next_ua(dev, d0, 0) == KEEL_SCSI_ASC_POWER_ON_OR_RESET);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == -1);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == -1);
	/* Another initiator on the same descriptor's thread is new to the LUN too. */
	CU_ASSERT(ut_next_ua(dev, d0, 1) == KEEL_SCSI_ASC_POWER_ON_OR_RESET);
	CU_ASSERT(ut_next_ua(dev, d0, 1) == -1);
	ut_close(d0);
	ut_dev_teardown(dev);
}

static void
inquiry_and_report_luns_pass_a_pending_ua_and_request_sense_returns_it(void)
{
	static const uint8_t inquiry[6] = {KEEL_SCSI_INQUIRY, 0, 0, 0, 96, 0};
	static const uint8_t report_luns[12] = {KEEL_SCSI_REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	static const uint8_t request_sense[6] = {KEEL_SCSI_REQUEST_SENSE, 0, 0, 0, 18, 0};
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct ut_task *ut;

	ut = ut_cmd(dev, d0, 0, inquiry, 6, 96);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	ut = ut_cmd(dev, d0, 0, report_luns, 12, 256);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	ut_task_free(ut);
	/* REQUEST SENSE hands the UA over as its data and clears it. */
	ut = ut_cmd(dev, d0, 0, request_sense, 6, 18);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT((ut->buf[2] & 0xf) == KEEL_SCSI_SENSE_UNIT_ATTENTION);
	CU_ASSERT(ut->buf[12] == 0x29 && ut->buf[13] == 0x00);
	ut_task_free(ut);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == -1);
	ut_close(d0);
	ut_dev_teardown(dev);
}

static void
ua_for_every_initiator_reaches_each_known_one_once(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct keel_scsi_lun_desc *d1 = ut_open(dev, 0, 1, true);
	struct keel_scsi_lun *lun = d0->lun;

	ut_clear_ua(dev, d0, 0);
	ut_clear_ua(dev, d1, 1);
	scsi_lun_queue_ua(lun, NULL, NULL, KEEL_SCSI_ASC_MODE_PARAMETERS_CHANGED);
	scsi_lun_queue_ua(lun, NULL, UT_INI0, KEEL_SCSI_ASC_RESERVATIONS_PREEMPTED);
	scsi_lun_queue_ua(lun, UT_INI0, NULL, KEEL_SCSI_ASC_RESERVATIONS_RELEASED);
	/* A port the LUN has never seen gets nothing queued (it will see POWER ON). */
	scsi_lun_queue_ua(lun, "iqn.never,i,0x1", NULL, KEEL_SCSI_ASC_RESERVATIONS_RELEASED);
	CU_ASSERT(!scsi_lun_has_ua(lun, "iqn.never,i,0x1"));
	CU_ASSERT(scsi_lun_has_ua(lun, UT_INI0));
	/* Reported oldest first. */
	CU_ASSERT(ut_next_ua(dev, d0, 0) == KEEL_SCSI_ASC_MODE_PARAMETERS_CHANGED);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == KEEL_SCSI_ASC_RESERVATIONS_RELEASED);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == -1);
	CU_ASSERT(ut_next_ua(dev, d1, 1) == KEEL_SCSI_ASC_MODE_PARAMETERS_CHANGED);
	CU_ASSERT(ut_next_ua(dev, d1, 1) == KEEL_SCSI_ASC_RESERVATIONS_PREEMPTED);
	CU_ASSERT(ut_next_ua(dev, d1, 1) == -1);
	CU_ASSERT(!scsi_lun_has_ua(lun, UT_INI0));
	ut_close(d0);
	ut_close(d1);
	ut_dev_teardown(dev);
}

static void
identical_uas_merge_and_the_queue_is_bounded(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct keel_scsi_lun *lun = d0->lun;
	int i;

	ut_clear_ua(dev, d0, 0);
	scsi_lun_queue_ua(lun, NULL, NULL, KEEL_SCSI_ASC_MODE_PARAMETERS_CHANGED);
	scsi_lun_queue_ua(lun, NULL, NULL, KEEL_SCSI_ASC_MODE_PARAMETERS_CHANGED);
	CU_ASSERT(ut_clear_ua(dev, d0, 0) == 1);
	for (i = 0; i < 3 * SCSI_MAX_UA; i++) {
		scsi_lun_queue_ua(lun, UT_INI0, NULL, (uint16_t)(0x8000 + i));
	}
	CU_ASSERT(ut_clear_ua(dev, d0, 0) == SCSI_MAX_UA);
	ut_close(d0);
	ut_dev_teardown(dev);
}

static void
bdev_resize_queues_capacity_data_has_changed(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);

	ut_clear_ua(dev, d0, 0);
	CU_ASSERT(keel_bdev_notify_blockcnt_change(&g_disks[0].bdev, UT_BLOCKS / 2) == 0);
	poll_threads(5);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == KEEL_SCSI_ASC_CAPACITY_DATA_HAS_CHANGED);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == -1);
	ut_close(d0);
	ut_dev_teardown(dev);
}

static void
lost_initiators_are_forgotten_when_room_is_needed(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct keel_scsi_port *saved = g_ini[1];
	struct keel_scsi_port *p;
	char name[64];
	int i;

	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "iqn.many,i,0x%06x", i);
		p = keel_scsi_port_create((uint64_t)i, 0, name);
		g_ini[1] = p;
		ut_clear_ua(dev, d0, 1);
		keel_scsi_dev_nexus_lost(dev, p, g_tgt);
		keel_scsi_port_free(&p);
	}
	g_ini[1] = saved;
	CU_ASSERT(d0->lun->num_itns <= 256);
	ut_close(d0);
	ut_dev_teardown(dev);
}

static void
open_fails_on_a_removing_lun_and_commands_see_no_lun(void)
{
	static const uint8_t inquiry[6] = {KEEL_SCSI_INQUIRY, 0, 0, 0, 96, 0};
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, false), *other = NULL;
	struct keel_scsi_lun *lun = d0->lun;
	struct ut_task *ut;

	g_desc_removed = 0;
	CU_ASSERT(keel_scsi_dev_delete_lun(dev, 0) == 0);
	CU_ASSERT(keel_scsi_lun_is_removing(lun));
	CU_ASSERT(keel_scsi_lun_open(lun, NULL, NULL, &other) == -ENODEV);
	ut = ut_cmd(dev, d0, 0, g_tur, 6, 0);
	CU_ASSERT(ut_check(&ut->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_LOGICAL_UNIT_NOT_SUPPORTED));
	ut_task_free(ut);
	/* INQUIRY still answers, with "no logical unit" as peripheral qualifier. */
	ut = ut_cmd(dev, d0, 0, inquiry, 6, 96);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT((ut->buf[0] >> 5) == 0x3);
	ut_task_free(ut);
	CU_ASSERT(g_desc_removed == 1);
	CU_ASSERT(g_removed_calls == 0);
	ut_close(d0);
	poll_until(&g_removed_calls);
	CU_ASSERT(g_removed_calls == 1);
	CU_ASSERT(keel_scsi_dev_get_first_lun(dev) == NULL);
	ut_dev_teardown(dev);
}

static void
close_with_tasks_outstanding_waits_for_them(void)
{
	static const uint8_t read10[10] = {KEEL_SCSI_READ_10, 0, 0, 0, 0, 0, 0, 0, 8, 0};
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, false);
	struct ut_task *ut;

	ut_clear_ua(dev, d0, 0);
	g_disks[0].hold = true;
	ut = ut_task_new(dev, d0, 0, read10, 10, 4096, 1);
	ut_start(ut);
	poll_threads(5);
	keel_scsi_lun_close(d0);
	CU_ASSERT(!TAILQ_EMPTY(&d0->lun->descs));
	ut_release(&g_disks[0]);
	poll_until(&ut->done);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	poll_threads(5);
	CU_ASSERT(TAILQ_EMPTY(&dev->luns.tqh_first->descs));
	ut_task_free(ut);
	ut_dev_teardown(dev);
}

static void
held_lun_is_freed_only_after_release(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun *lun = keel_scsi_dev_get_lun(dev, 0);

	CU_ASSERT(scsi_lun_hold(lun));
	CU_ASSERT(keel_scsi_dev_delete_lun(dev, 0) == 0);
	CU_ASSERT(!scsi_lun_hold(lun));
	poll_threads(10);
	CU_ASSERT(g_removed_calls == 0);
	scsi_lun_release(lun);
	poll_until(&g_removed_calls);
	CU_ASSERT(g_removed_calls == 1);
	ut_dev_teardown(dev);
}

/*
 * Hot-remove: a 1 MiB write on thread 0 and a 1 MiB read on thread 1 are held at the bdev when
 * the bdev goes away.
 */
static void
hot_remove_with_large_io_in_flight_finishes_it_then_frees_the_lun(void)
{
	uint8_t write10[10] = {KEEL_SCSI_WRITE_10, 0, 0, 0, 0, 0, 0, 0x08, 0x00, 0};
	uint8_t read10[10] = {KEEL_SCSI_READ_10, 0, 0, 0, 0x10, 0, 0, 0x08, 0x00, 0};
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct keel_scsi_lun_desc *d1 = ut_open(dev, 0, 1, true);
	struct ut_task *w, *r, *late;
	uint32_t len = 1024 * 1024;

	ut_clear_ua(dev, d0, 0);
	ut_clear_ua(dev, d1, 1);
	g_desc_removed = 0;
	g_disks[0].hold = true;
	w = ut_task_new(dev, d0, 0, write10, 10, len, 4);
	memset(w->buf, 0x5a, len);
	r = ut_task_new(dev, d1, 1, read10, 10, len, 3);
	ut_start(w);
	ut_start(r);
	poll_threads(5);
	CU_ASSERT(ut_held_count(&g_disks[0]) >= 2);
	keel_bdev_unregister(&g_disks[0].bdev, unreg_done, NULL);
	poll_threads(10);
	/* New commands fail; the descriptors are not told to go while their tasks run. */
	late = ut_cmd(dev, d0, 0, g_tur, 6, 0);
	CU_ASSERT(ut_check(&late->t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_LOGICAL_UNIT_NOT_SUPPORTED));
	ut_task_free(late);
	CU_ASSERT(g_desc_removed == 0);
	CU_ASSERT(w->done == 0 && r->done == 0);
	ut_release(&g_disks[0]);
	poll_until(&g_removed_calls);
	CU_ASSERT(w->done == 1 && r->done == 1);
	CU_ASSERT(w->t.status == KEEL_SCSI_STATUS_GOOD && r->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(r->t.data_transferred == len);
	CU_ASSERT(g_desc_removed == 2);
	CU_ASSERT(g_removed_calls == 1 && g_removed_lun == 0);
	poll_threads(20);
	CU_ASSERT(g_unreg_rc == 0);
	CU_ASSERT(memcmp(g_disks[0].data, w->buf, len) == 0);
	g_disks[0].registered = false;
	ut_task_free(w);
	ut_task_free(r);
	ut_dev_teardown(dev);
}

static void
removal_without_descriptors_frees_the_lun_later(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();

	CU_ASSERT(keel_scsi_dev_delete_lun(dev, 0) == 0);
	CU_ASSERT(g_removed_calls == 0); /* never from inside the call */
	poll_until(&g_removed_calls);
	CU_ASSERT(g_removed_calls == 1);
	CU_ASSERT(g_pr_fini_calls > 0 && g_xcopy_fini_calls > 0);
	ut_dev_teardown(dev);
}

static int
suite_init(void)
{
	return ut_suite_init("scsi_lun_ut");
}

static int
suite_fini(void)
{
	return 0;
}

static const struct keel_ut_test g_tests[] = {
	KEEL_UT_TEST(new_initiator_sees_power_on_once),
	KEEL_UT_TEST(inquiry_and_report_luns_pass_a_pending_ua_and_request_sense_returns_it),
	KEEL_UT_TEST(ua_for_every_initiator_reaches_each_known_one_once),
	KEEL_UT_TEST(identical_uas_merge_and_the_queue_is_bounded),
	KEEL_UT_TEST(bdev_resize_queues_capacity_data_has_changed),
	KEEL_UT_TEST(lost_initiators_are_forgotten_when_room_is_needed),
	KEEL_UT_TEST(open_fails_on_a_removing_lun_and_commands_see_no_lun),
	KEEL_UT_TEST(close_with_tasks_outstanding_waits_for_them),
	KEEL_UT_TEST(held_lun_is_freed_only_after_release),
	KEEL_UT_TEST(hot_remove_with_large_io_in_flight_finishes_it_then_frees_the_lun),
	KEEL_UT_TEST(removal_without_descriptors_frees_the_lun_later),
};

int
main(void)
{
	return keel_ut_run("scsi_lun", g_tests, sizeof(g_tests) / sizeof(g_tests[0]), suite_init,
			   suite_fini);
}
