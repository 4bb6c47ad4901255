/*
 * Unit tests of SCSI devices and ports (dev.c, port.c): construction and its errors, the global
 * list and its ids, adding and deleting LUNs (ids, REPORTED LUNS DATA HAS CHANGED), target
 * ports and their relative ids, initiator TransportIDs, destruction with descriptors open,
 * I_T nexus loss, pending UAs for asynchronous events, and the scsi_get_devices RPC.
 */
#include "scsi_ut_common.h"

#include <json-c/json.h>

static void
construct_builds_luns_in_id_order_and_lists_the_device(void)
{
	const char *names[] = {"ut1", "ut0"};
	int ids[] = {5, 2};
	struct keel_scsi_dev *dev, *it;
	struct keel_scsi_lun *lun;
	bool found = false;

	CU_ASSERT_FATAL(ut_disk_register(0, "ut0", UT_BLOCKS, UT_BLKLEN) != NULL);
	CU_ASSERT_FATAL(ut_disk_register(1, "ut1", UT_BLOCKS, UT_BLKLEN) != NULL);
	dev = keel_scsi_dev_construct("iqn.2016-06.io.spdk:disk1", names, ids, 2,
				      KEEL_SCSI_PROTOCOL_ISCSI, ut_lun_removed, NULL);
	CU_ASSERT_FATAL(dev != NULL);
	CU_ASSERT(strcmp(keel_scsi_dev_get_name(dev), "iqn.2016-06.io.spdk:disk1") == 0);
	CU_ASSERT(keel_scsi_dev_get_id(dev) == 0);
	lun = keel_scsi_dev_get_first_lun(dev);
	CU_ASSERT_FATAL(lun != NULL);
	CU_ASSERT(keel_scsi_lun_get_id(lun) == 2);
	CU_ASSERT(strcmp(keel_scsi_lun_get_bdev_name(lun), "ut0") == 0);
	CU_ASSERT(keel_scsi_lun_get_dev(lun) == dev);
	lun = keel_scsi_dev_get_next_lun(lun);
	CU_ASSERT_FATAL(lun != NULL);
	CU_ASSERT(keel_scsi_lun_get_id(lun) == 5);
	CU_ASSERT(keel_scsi_dev_get_next_lun(lun) == NULL);
	CU_ASSERT(keel_scsi_dev_get_lun(dev, 5) == lun);
	CU_ASSERT(keel_scsi_dev_get_lun(dev, 3) == NULL);
	for (it = keel_scsi_dev_get_first(); it != NULL; it = keel_scsi_dev_get_next(it)) {
		found |= it == dev;
	}
	CU_ASSERT(found);
	ut_dev_destruct(dev);
	CU_ASSERT(keel_scsi_dev_get_first() == NULL);
	ut_disk_free(&g_disks[0]);
	ut_disk_free(&g_disks[1]);
}

static void
construct_refuses_bad_input_and_leaves_nothing_open(void)
{
	const char *names[] = {"ut0", "nope"};
	const char *dup_names[] = {"ut0", "ut0"};
	int ids[] = {0, 1}, dup_ids[] = {1, 1}, bad_ids[] = {256, 0};
	char long_name[KEEL_SCSI_DEV_MAX_NAME + 2];
	struct keel_scsi_dev *dev;

	CU_ASSERT_FATAL(ut_disk_register(0, "ut0", UT_BLOCKS, UT_BLKLEN) != NULL);
	/* Unknown bdev: the LUN opened before it is closed again. */
	CU_ASSERT(keel_scsi_dev_construct("d", names, ids, 2, 5, NULL, NULL) == NULL);
	CU_ASSERT(keel_scsi_dev_construct("d", dup_names, dup_ids, 2, 5, NULL, NULL) == NULL);
	CU_ASSERT(keel_scsi_dev_construct("d", dup_names, bad_ids, 1, 5, NULL, NULL) == NULL);
	CU_ASSERT(keel_scsi_dev_construct("", names, ids, 1, 5, NULL, NULL) == NULL);
	CU_ASSERT(keel_scsi_dev_construct(NULL, names, ids, 1, 5, NULL, NULL) == NULL);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	CU_ASSERT(keel_scsi_dev_construct(long_name, names, ids, 1, 5, NULL, NULL) == NULL);
	CU_ASSERT(keel_scsi_dev_get_first() == NULL);
	CU_ASSERT(TAILQ_EMPTY(&g_disks[0].bdev.internal.open_descs));
	/* No LUN at all is fine. */
	dev = keel_scsi_dev_construct("empty", NULL, NULL, 0, 5, NULL, NULL);
	CU_ASSERT_FATAL(dev != NULL);
	CU_ASSERT(keel_scsi_dev_get_first_lun(dev) == NULL);
	ut_dev_destruct(dev);
	ut_disk_free(&g_disks[0]);
}

static void
device_ids_are_the_lowest_free_from_zero(void)
{
	struct keel_scsi_dev *a, *b, *c;

	a = keel_scsi_dev_construct("a", NULL, NULL, 0, 5, NULL, NULL);
	b = keel_scsi_dev_construct("b", NULL, NULL, 0, 5, NULL, NULL);
	CU_ASSERT_FATAL(a != NULL && b != NULL);
	CU_ASSERT(keel_scsi_dev_get_id(a) == 0);
	CU_ASSERT(keel_scsi_dev_get_id(b) == 1);
	ut_dev_destruct(a);
	c = keel_scsi_dev_construct("c", NULL, NULL, 0, 5, NULL, NULL);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(keel_scsi_dev_get_id(c) == 0);
	ut_dev_destruct(b);
	ut_dev_destruct(c);
}

static void
add_lun_picks_lowest_free_id_and_refuses_taken_ones(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();

	CU_ASSERT_FATAL(ut_disk_register(1, "ut1", UT_BLOCKS, UT_BLKLEN) != NULL);
	CU_ASSERT_FATAL(ut_disk_register(2, "ut2", UT_BLOCKS, UT_BLKLEN) != NULL);
	CU_ASSERT(keel_scsi_dev_add_lun(dev, "ut1", 0) == -EEXIST);
	CU_ASSERT(keel_scsi_dev_add_lun(dev, "nope", 3) == -ENODEV);
	CU_ASSERT(keel_scsi_dev_add_lun(dev, "ut1", 256) == -EINVAL);
	CU_ASSERT(keel_scsi_dev_add_lun(dev, "ut1", -1) == 1);
	CU_ASSERT(keel_scsi_dev_add_lun(dev, "ut2", 7) == 7);
	CU_ASSERT(keel_scsi_dev_get_lun(dev, 7) != NULL);
	/* A deleted LUN's id stays taken until it is gone. */
	CU_ASSERT(keel_scsi_dev_delete_lun(dev, 7) == 0);
	CU_ASSERT(keel_scsi_dev_get_lun(dev, 7) == NULL);
	CU_ASSERT(keel_scsi_dev_delete_lun(dev, 7) == -ENOENT);
	CU_ASSERT(keel_scsi_dev_delete_lun(dev, 9) == -ENOENT);
	poll_until(&g_removed_calls);
	CU_ASSERT(g_removed_calls == 1 && g_removed_lun == 7);
	CU_ASSERT(keel_scsi_dev_add_lun(dev, "ut2", -1) == 2);
	ut_dev_teardown(dev);
	ut_disk_free(&g_disks[1]);
	ut_disk_free(&g_disks[2]);
}

static void
adding_and_deleting_luns_tells_initiators_of_other_luns(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);

	CU_ASSERT_FATAL(ut_disk_register(1, "ut1", UT_BLOCKS, UT_BLKLEN) != NULL);
	CU_ASSERT(ut_clear_ua(dev, d0, 0) == 1); /* POWER ON */
	CU_ASSERT(keel_scsi_dev_add_lun(dev, "ut1", 1) == 1);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == KEEL_SCSI_ASC_REPORTED_LUNS_DATA_HAS_CHANGED);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == -1);
	CU_ASSERT(keel_scsi_dev_delete_lun(dev, 1) == 0);
	poll_until(&g_removed_calls);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == KEEL_SCSI_ASC_REPORTED_LUNS_DATA_HAS_CHANGED);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == -1);
	ut_close(d0);
	ut_dev_teardown(dev);
	ut_disk_free(&g_disks[1]);
}

static void
report_luns_clears_reported_luns_data_has_changed(void)
{
	static const uint8_t report_luns[12] = {KEEL_SCSI_REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct ut_task *ut;

	CU_ASSERT_FATAL(ut_disk_register(1, "ut1", UT_BLOCKS, UT_BLKLEN) != NULL);
	ut_clear_ua(dev, d0, 0);
	CU_ASSERT(keel_scsi_dev_add_lun(dev, "ut1", 1) == 1);
	ut = ut_cmd(dev, d0, 0, report_luns, 12, 256);
	CU_ASSERT(ut->t.status == KEEL_SCSI_STATUS_GOOD);
	CU_ASSERT(keel_from_be32(ut->buf) == 16); /* two LUNs */
	ut_task_free(ut);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == -1);
	ut_close(d0);
	ut_dev_teardown(dev);
	ut_disk_free(&g_disks[1]);
}

static void
target_ports_get_relative_ids_from_one_and_keep_their_slot(void)
{
	struct keel_scsi_dev *dev = keel_scsi_dev_construct("d", NULL, NULL, 0, 5, NULL, NULL);
	struct keel_scsi_port *p1, *p3;

	CU_ASSERT_FATAL(dev != NULL);
	CU_ASSERT(keel_scsi_dev_add_port(dev, 10, "iqn.x,t,0x0001") == 0);
	CU_ASSERT(keel_scsi_dev_add_port(dev, 20, "iqn.x,t,0x0002") == 0);
	CU_ASSERT(keel_scsi_dev_add_port(dev, 30, "iqn.x,t,0x0003") == 0);
	CU_ASSERT(keel_scsi_dev_add_port(dev, 20, "again") == -EEXIST);
	p1 = keel_scsi_dev_find_port_by_id(dev, 10);
	p3 = keel_scsi_dev_find_port_by_id(dev, 30);
	CU_ASSERT_FATAL(p1 != NULL && p3 != NULL);
	CU_ASSERT(keel_scsi_port_get_relative_id(p1) == 1);
	CU_ASSERT(keel_scsi_port_get_relative_id(p3) == 3);
	CU_ASSERT(strcmp(keel_scsi_port_get_name(p3), "iqn.x,t,0x0003") == 0);
	CU_ASSERT(keel_scsi_dev_delete_port(dev, 20) == 0);
	CU_ASSERT(keel_scsi_dev_delete_port(dev, 20) == -ENOENT);
	CU_ASSERT(keel_scsi_dev_find_port_by_id(dev, 20) == NULL);
	/* The others did not move; the freed relative id is reused. */
	CU_ASSERT(keel_scsi_dev_find_port_by_id(dev, 30) == p3);
	CU_ASSERT(keel_scsi_port_get_relative_id(p3) == 3);
	CU_ASSERT(keel_scsi_dev_add_port(dev, 40, "iqn.x,t,0x0004") == 0);
	CU_ASSERT(keel_scsi_port_get_relative_id(keel_scsi_dev_find_port_by_id(dev, 40)) == 2);
	ut_dev_destruct(dev);
}

static void
target_ports_are_limited(void)
{
	struct keel_scsi_dev *dev = keel_scsi_dev_construct("d", NULL, NULL, 0, 5, NULL, NULL);
	char name[32];
	int i;

	CU_ASSERT_FATAL(dev != NULL);
	for (i = 0; i < KEEL_SCSI_DEV_MAX_PORTS; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		CU_ASSERT(keel_scsi_dev_add_port(dev, (uint64_t)i, name) == 0);
	}
	CU_ASSERT(keel_scsi_dev_add_port(dev, 1000, "one too many") == -ENOSPC);
	ut_dev_destruct(dev);
}

static void
initiator_port_has_iscsi_transport_id_of_the_node_name(void)
{
	struct keel_scsi_port *p = keel_scsi_port_create(1, 0, "iqn.a:b,i,0x00023d000001");
	struct keel_scsi_port *q;
	char long_name[KEEL_SCSI_PORT_MAX_NAME + 1];
	uint16_t add_len;

	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT(strcmp(keel_scsi_port_get_name(p), "iqn.a:b,i,0x00023d000001") == 0);
	/* Format 00b, protocol 5; "iqn.a:b" + NUL padded to 20 bytes (the minimum). */
	CU_ASSERT(p->transport_id[0] == 0x05);
	add_len = keel_from_be16(&p->transport_id[2]);
	CU_ASSERT(add_len == 20);
	CU_ASSERT(p->transport_id_len == 24);
	CU_ASSERT(memcmp(&p->transport_id[4], "iqn.a:b", 8) == 0);
	keel_scsi_port_free(&p);
	CU_ASSERT(p == NULL);
	keel_scsi_port_free(&p);
	/* A long name: padded to a multiple of 4 with at least one NUL. */
	memset(long_name, 'n', 24);
	long_name[24] = '\0';
	q = keel_scsi_port_create(2, 0, long_name);
	CU_ASSERT_FATAL(q != NULL);
	CU_ASSERT(keel_from_be16(&q->transport_id[2]) == 28);
	CU_ASSERT(q->transport_id[4 + 24] == 0);
	keel_scsi_port_free(&q);
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	q = keel_scsi_port_create(3, 0, long_name);
	CU_ASSERT_FATAL(q != NULL);
	CU_ASSERT(keel_from_be16(&q->transport_id[2]) == 256);
	CU_ASSERT(q->transport_id_len <= sizeof(q->transport_id));
	keel_scsi_port_free(&q);
	CU_ASSERT(keel_scsi_port_create(4, 0, NULL) == NULL);
}

static void
destruct_waits_for_descriptors_and_reports_every_lun(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *keep, *auto_close;

	CU_ASSERT_FATAL(ut_disk_register(1, "ut1", UT_BLOCKS, UT_BLKLEN) != NULL);
	CU_ASSERT(keel_scsi_dev_add_lun(dev, "ut1", 1) == 1);
	keep = ut_open(dev, 0, 1, false);
	auto_close = ut_open(dev, 1, 0, true);
	g_desc_removed = 0;
	g_destruct_done = 0;
	keel_scsi_dev_destruct(dev, ut_destruct_done, NULL);
	poll_threads(20);
	/* Both descriptors were told; one closed itself, the other is still open. */
	CU_ASSERT(g_desc_removed == 2);
	CU_ASSERT(g_removed_calls == 1 && g_removed_lun == 1);
	CU_ASSERT(g_destruct_done == 0);
	CU_ASSERT(keel_scsi_lun_open(keep->lun, NULL, NULL, &auto_close) == -ENODEV);
	ut_close(keep);
	poll_until(&g_destruct_done);
	CU_ASSERT(g_destruct_done == 1);
	CU_ASSERT(g_removed_calls == 2);
	CU_ASSERT(keel_scsi_dev_get_first() == NULL);
	CU_ASSERT(TAILQ_EMPTY(&g_disks[0].bdev.internal.open_descs));
	ut_ports_free();
	ut_disk_free(&g_disks[0]);
	ut_disk_free(&g_disks[1]);
}

static void
nexus_loss_queues_i_t_nexus_loss_for_that_initiator_only(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	struct keel_scsi_lun_desc *d1 = ut_open(dev, 0, 1, true);

	ut_clear_ua(dev, d0, 0);
	ut_clear_ua(dev, d1, 1);
	g_pr_nexus_lost_calls = 0;
	keel_scsi_dev_nexus_lost(dev, g_ini[0], g_tgt);
	CU_ASSERT(g_pr_nexus_lost_calls == 1);
	CU_ASSERT(ut_next_ua(dev, d1, 1) == -1);
	/* The same initiator port logs in again on a new descriptor. */
	ut_close(d0);
	d0 = ut_open(dev, 0, 0, true);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == KEEL_SCSI_ASC_I_T_NEXUS_LOSS);
	CU_ASSERT(ut_next_ua(dev, d0, 0) == -1);
	keel_scsi_dev_nexus_lost(dev, NULL, g_tgt);
	ut_close(d0);
	ut_close(d1);
	ut_dev_teardown(dev);
}

static void
pending_ua_is_dequeued_for_an_async_event(void)
{
	struct keel_scsi_dev *dev = ut_dev_setup();
	struct keel_scsi_lun_desc *d0 = ut_open(dev, 0, 0, true);
	uint8_t sense[KEEL_SCSI_SENSE_BUF_LEN];
	uint16_t len = 0;
	uint64_t lun_id = 99;

	ut_clear_ua(dev, d0, 0);
	CU_ASSERT(!keel_scsi_dev_get_pending_ua(dev, g_ini[0], g_tgt, &lun_id, sense, &len));
	scsi_lun_queue_ua(d0->lun, NULL, NULL, KEEL_SCSI_ASC_CAPACITY_DATA_HAS_CHANGED);
	CU_ASSERT(!keel_scsi_dev_get_pending_ua(dev, g_ini[1], g_tgt, &lun_id, sense, &len));
	CU_ASSERT(keel_scsi_dev_get_pending_ua(dev, g_ini[0], g_tgt, &lun_id, sense, &len));
	CU_ASSERT(lun_id == 0);
	CU_ASSERT(len == 18 && sense[0] == 0x70 && (sense[2] & 0xf) == 0x6);
	CU_ASSERT(sense[12] == 0x2a && sense[13] == 0x09);
	CU_ASSERT(!keel_scsi_dev_get_pending_ua(dev, g_ini[0], g_tgt, &lun_id, sense, &len));
	CU_ASSERT(ut_next_ua(dev, d0, 0) == -1);
	ut_close(d0);
	ut_dev_teardown(dev);
}

static struct json_object *g_rpc_resp;

static void
rpc_done(struct json_object *resp, void *arg)
{
	g_rpc_resp = resp;
}

static void
scsi_get_devices_lists_id_and_name_under_both_names(void)
{
	struct keel_scsi_dev *a = keel_scsi_dev_construct("iqn.a", NULL, NULL, 0, 5, NULL, NULL);
	struct keel_scsi_dev *b = keel_scsi_dev_construct("iqn.b", NULL, NULL, 0, 5, NULL, NULL);
	const char *methods[] = {"scsi_get_devices", "get_scsi_devices"};
	struct json_object *res, *e, *v;
	int i;

	CU_ASSERT_FATAL(a != NULL && b != NULL);
	keel_rpc_set_state(KEEL_RPC_RUNTIME);
	for (i = 0; i < 2; i++) {
		g_rpc_resp = NULL;
		keel_rpc_call_local(methods[i], NULL, rpc_done, NULL);
		poll_threads(5);
		CU_ASSERT_FATAL(g_rpc_resp != NULL);
		CU_ASSERT_FATAL(json_object_object_get_ex(g_rpc_resp, "result", &res));
		CU_ASSERT_FATAL(json_object_is_type(res, json_type_array));
		CU_ASSERT(json_object_array_length(res) == 2);
		e = json_object_array_get_idx(res, 1);
		CU_ASSERT(json_object_object_get_ex(e, "id", &v) && json_object_get_int(v) == 1);
		CU_ASSERT(json_object_object_get_ex(e, "device_name", &v) &&
			  strcmp(json_object_get_string(v), "iqn.b") == 0);
		json_object_put(g_rpc_resp);
	}
	ut_dev_destruct(a);
	ut_dev_destruct(b);
	g_rpc_resp = NULL;
	keel_rpc_call_local("scsi_get_devices", NULL, rpc_done, NULL);
	poll_threads(5);
	CU_ASSERT_FATAL(g_rpc_resp != NULL);
	CU_ASSERT(json_object_object_get_ex(g_rpc_resp, "result", &res) &&
		  json_object_array_length(res) == 0);
	json_object_put(g_rpc_resp);
}

static int
suite_init(void)
{
	return ut_suite_init("scsi_dev_ut");
}

static int
suite_fini(void)
{
	return 0;
}

static const struct keel_ut_test g_tests[] = {
	KEEL_UT_TEST(construct_builds_luns_in_id_order_and_lists_the_device),
	KEEL_UT_TEST(construct_refuses_bad_input_and_leaves_nothing_open),
	KEEL_UT_TEST(device_ids_are_the_lowest_free_from_zero),
	KEEL_UT_TEST(add_lun_picks_lowest_free_id_and_refuses_taken_ones),
	KEEL_UT_TEST(adding_and_deleting_luns_tells_initiators_of_other_luns),
	KEEL_UT_TEST(report_luns_clears_reported_luns_data_has_changed),
	KEEL_UT_TEST(target_ports_get_relative_ids_from_one_and_keep_their_slot),
	KEEL_UT_TEST(target_ports_are_limited),
	KEEL_UT_TEST(initiator_port_has_iscsi_transport_id_of_the_node_name),
	KEEL_UT_TEST(destruct_waits_for_descriptors_and_reports_every_lun),
	KEEL_UT_TEST(nexus_loss_queues_i_t_nexus_loss_for_that_initiator_only),
	KEEL_UT_TEST(pending_ua_is_dequeued_for_an_async_event),
	KEEL_UT_TEST(scsi_get_devices_lists_id_and_name_under_both_names),
};

int
main(void)
{
	return keel_ut_run("scsi_dev", g_tests, sizeof(g_tests) / sizeof(g_tests[0]), suite_init,
			   suite_fini);
}
