/*
 * Unit tests of the primary commands (spc.c, spc_vpd.c, spc_mode.c): sense data in both
 * formats, the CDB checks, INQUIRY and every VPD page byte by byte, REPORT LUNS, MODE SENSE and
 * MODE SELECT, the log, defect and diagnostic commands, and REPORT SUPPORTED OPERATION CODES /
 * TASK MANAGEMENT FUNCTIONS. Tasks are built here; the rest of the SCSI layer is stubbed.
 */
#include "keel/stdinc.h"
#include "keel/bdev_module.h"
#include "ut.h"

#include "scsi/spc.c"
#include "scsi/spc_vpd.c"
#include "scsi/spc_mode.c"

#define UT_BLOCKS 8192
#define UT_BLKLEN 512
#define UT_DEV_NAME "iqn.2016-06.io.keel:disk1"
#define UT_TGT_PORT_NAME "iqn.2016-06.io.keel:disk1,t,0x0001"
#define UT_INI_PORT_NAME "iqn.1994-05.com.example:host,i,0x00023d000001"

/*
 * Stand-ins for the rest of the layer.
 */
static int g_completed;
static int g_ua_queued;
static char g_ua_except[KEEL_SCSI_PORT_MAX_NAME + 1];
static uint16_t g_ua_asc;
static int g_ua_pending_asc = -1;
static size_t g_xcopy_len;

void
scsi_task_complete(struct keel_scsi_task *task)
{
	g_completed++;
}

uint32_t
scsi_task_scatter(struct keel_scsi_task *task, const void *buf, uint32_t len)
{
	uint32_t n = KEEL_MIN(len, task->transfer_len), done = 0;
	int i;

	for (i = 0; i < task->iovcnt && done < n; i++) {
		uint32_t part = KEEL_MIN((uint32_t)task->iovs[i].iov_len, n - done);

		memcpy(task->iovs[i].iov_base, (const uint8_t *)buf + done, part);
		done += part;
	}
	task->data_transferred = done;
	return done;
}

uint32_t
scsi_task_gather(struct keel_scsi_task *task, void *buf, uint32_t len)
{
	uint32_t n = KEEL_MIN(len, task->transfer_len), done = 0;
	int i;

	for (i = 0; i < task->iovcnt && done < n; i++) {
		uint32_t part = KEEL_MIN((uint32_t)task->iovs[i].iov_len, n - done);

		memcpy((uint8_t *)buf + done, task->iovs[i].iov_base, part);
		done += part;
	}
	return done;
}

void
scsi_lun_queue_ua(struct keel_scsi_lun *lun, const char *only, const char *except,
		  uint16_t asc_ascq)
{
	g_ua_queued++;
	g_ua_asc = asc_ascq;
	keel_strlcpy(g_ua_except, except != NULL ? except : "", sizeof(g_ua_except));
	CU_ASSERT(only == NULL);
}

bool
scsi_lun_take_ua(struct keel_scsi_lun *lun, struct keel_scsi_task *task)
{
	if (g_ua_pending_asc < 0) {
		return false;
	}
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
				  KEEL_SCSI_SENSE_UNIT_ATTENTION, g_ua_pending_asc);
	g_ua_pending_asc = -1;
	return true;
}

size_t
scsi_xcopy_vpd_8f(struct keel_scsi_lun *lun, uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < KEEL_MIN(len, g_xcopy_len); i++) {
		buf[i] = (uint8_t)(0xc0 + i);
	}
	return g_xcopy_len;
}

void
scsi_lun_naa(const struct keel_scsi_lun *lun, uint8_t naa[SCSI_NAA_LEN])
{
	int i;

	for (i = 0; i < SCSI_NAA_LEN; i++) {
		naa[i] = (uint8_t)(0x60 + i);
	}
}

/* Other command sets' rows: one duplicates a row of spc.c, to be reported once. */
static const struct scsi_opcode_info g_ut_sbc_rows[] = {
	{.opcode = 0x28,
	 .cdb_len = 10,
	 .usage = {0x28, 0xfa, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x00}},
	{.opcode = 0x9e,
	 .service_action = 0x12,
	 .has_sa = true,
	 .cdb_len = 16,
	 .usage = {0x9e, 0x12}},
	{.opcode = 0x9e,
	 .service_action = 0x10,
	 .has_sa = true,
	 .cdb_len = 16,
	 .usage = {0x9e, 0x10},
	 .nominal_timeout_s = 5,
	 .recommended_timeout_s = 30},
	{.opcode = 0x00, .cdb_len = 6, .usage = {0x00}},
};
static const struct scsi_opcode_info g_ut_pr_rows[] = {
	{.opcode = 0x5e,
	 .service_action = 0x00,
	 .has_sa = true,
	 .cdb_len = 10,
	 .usage = {0x5e, 0x00}},
	{.opcode = 0x16, .cdb_len = 6, .usage = {0x16}},
};

size_t
scsi_sbc_opcodes(const struct scsi_opcode_info **rows)
{
	*rows = g_ut_sbc_rows;
	return KEEL_COUNTOF(g_ut_sbc_rows);
}

size_t
scsi_pr_opcodes(const struct scsi_opcode_info **rows)
{
	*rows = g_ut_pr_rows;
	return KEEL_COUNTOF(g_ut_pr_rows);
}

size_t
scsi_xcopy_opcodes(const struct scsi_opcode_info **rows)
{
	*rows = NULL;
	return 0;
}

/*
 * A device with LUN 0 on a RAM-less bdev (no I/O is needed here), LUN 300 and a LUN being
 * removed, a target port and an initiator port.
 */
static bool g_unmap = true;

static bool
ut_io_type_supported(void *ctx, enum keel_bdev_io_type type)
{
	return type != KEEL_BDEV_IO_TYPE_UNMAP || g_unmap;
}

static const struct keel_bdev_fn_table g_ut_fn = {
	.io_type_supported = ut_io_type_supported,
};

static const uint8_t g_uuid[16] = {
	0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef,
	0x81, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
};

static struct keel_bdev g_bdev;
static struct keel_scsi_dev g_dev;
static struct keel_scsi_lun g_lun, g_lun300, g_lun_gone;
static struct keel_scsi_lun_desc g_desc;
static struct keel_scsi_port g_tgt_port, g_ini_port;
static struct keel_scsi_task g_task;
static uint8_t g_buf[16384];
static struct iovec g_iov;

static void
ut_lun_init(struct keel_scsi_lun *lun, uint64_t id)
{
	memset(lun, 0, sizeof(*lun));
	lun->dev = &g_dev;
	lun->id = id;
	lun->bdev = &g_bdev;
	pthread_mutex_init(&lun->lock, NULL);
	TAILQ_INSERT_TAIL(&g_dev.luns, lun, link);
}

static void
ut_setup(void)
{
	memset(&g_bdev, 0, sizeof(g_bdev));
	g_bdev.name = "ut0";
	g_bdev.product_name = "ut disk\tpadded";
	g_bdev.blocklen = UT_BLKLEN;
	g_bdev.blockcnt = UT_BLOCKS;
	g_bdev.write_cache = true;
	g_bdev.max_unmap_blocks = 4194304;
	g_bdev.max_compare_and_write_blocks = 1;
	g_bdev.unmap_reads_zeroes = true;
	g_bdev.fn_table = &g_ut_fn;
	memcpy(g_bdev.uuid, g_uuid, sizeof(g_uuid));
	g_unmap = true;
	g_xcopy_len = 0;

	memset(&g_dev, 0, sizeof(g_dev));
	snprintf(g_dev.name, sizeof(g_dev.name), "%s", UT_DEV_NAME);
	g_dev.protocol_id = KEEL_SCSI_PROTOCOL_ISCSI;
	pthread_mutex_init(&g_dev.lock, NULL);
	TAILQ_INIT(&g_dev.luns);
	ut_lun_init(&g_lun, 0);
	ut_lun_init(&g_lun_gone, 7);
	g_lun_gone.removing = true;
	ut_lun_init(&g_lun300, 300);
	scsi_spc_mode_init(&g_lun);

	memset(&g_desc, 0, sizeof(g_desc));
	g_desc.lun = &g_lun;

	memset(&g_tgt_port, 0, sizeof(g_tgt_port));
	g_tgt_port.index = 1;
	g_tgt_port.is_target = true;
	snprintf(g_tgt_port.name, sizeof(g_tgt_port.name), "%s", UT_TGT_PORT_NAME);
	memset(&g_ini_port, 0, sizeof(g_ini_port));
	snprintf(g_ini_port.name, sizeof(g_ini_port.name), "%s", UT_INI_PORT_NAME);

	g_ua_queued = 0;
	g_ua_pending_asc = -1;
}

/* A task for cdb, with a Data-In (or, for MODE SELECT, Data-Out) buffer of xfer bytes. */
static struct keel_scsi_task *
ut_task(const uint8_t *cdb, size_t cdb_len, uint32_t xfer)
{
	memset(&g_task, 0, sizeof(g_task));
	memcpy(g_task.cdb, cdb, cdb_len);
	g_task.cdb_len = 16;
	g_task.dev = &g_dev;
	g_task.lun_desc = &g_desc;
	g_task.target_port = &g_tgt_port;
	g_task.initiator_port = &g_ini_port;
	g_task.dxfer_dir = xfer ? KEEL_SCSI_DIR_FROM_DEV : KEEL_SCSI_DIR_NONE;
	g_task.transfer_len = xfer;
	g_iov.iov_base = g_buf;
	g_iov.iov_len = xfer;
	g_task.iovs = &g_iov;
	g_task.iovcnt = 1;
	g_task.status = 0xff; /* whatever a reused task held */
	g_task.data_transferred = 0xdead;
	return &g_task;
}

static struct keel_scsi_task *
ut_exec(const uint8_t *cdb, size_t cdb_len, uint32_t xfer)
{
	struct keel_scsi_task *t = ut_task(cdb, cdb_len, xfer);
	int before = g_completed;

	memset(g_buf, 0xa5, sizeof(g_buf));
	CU_ASSERT(scsi_spc_execute(t));
	CU_ASSERT(g_completed == before + 1);
	return t;
}

#define CDB(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})
#define RUN(xfer, ...) ut_exec(CDB(__VA_ARGS__), (xfer))

/* Data-Out for MODE SELECT: the parameter list is put in the buffer first. */
static struct keel_scsi_task *
ut_exec_out(const uint8_t *cdb, size_t cdb_len, const uint8_t *list, uint32_t len)
{
	struct keel_scsi_task *t = ut_task(cdb, cdb_len, len);
	int before = g_completed;

	t->dxfer_dir = KEEL_SCSI_DIR_TO_DEV;
	memcpy(g_buf, list, len);
	CU_ASSERT(scsi_spc_execute(t));
	CU_ASSERT(g_completed == before + 1);
	return t;
}

static void
ut_sense(const uint8_t *sense, uint16_t len, int *sk, int *asc_ascq)
{
	spc_sense_parse(sense, len, sk, asc_ascq);
}

static bool
ut_check(struct keel_scsi_task *t, int sk, int asc_ascq)
{
	int got_sk, got_asc;

	if (t->status != KEEL_SCSI_STATUS_CHECK_CONDITION) {
		return false;
	}
	ut_sense(t->sense_data, t->sense_data_len, &got_sk, &got_asc);
	return got_sk == sk && got_asc == asc_ascq;
}

static bool
ut_good(struct keel_scsi_task *t)
{
	return t->status == KEEL_SCSI_STATUS_GOOD && t->sense_data_len == 0;
}

/* The field pointer of fixed-format sense: SKSV, C/D, BPV, bit and byte. */
static bool
ut_field(struct keel_scsi_task *t, bool cdb, int byte, int bit)
{
	uint8_t b15 = t->sense_data[15];

	return t->sense_data[0] == 0x70 && (b15 & 0x80) && ((b15 & 0x40) != 0) == cdb &&
	       (bit < 0 ? !(b15 & 0x08) : ((b15 & 0x08) && (b15 & 7) == bit)) &&
	       keel_from_be16(&t->sense_data[16]) == byte;
}

static bool
ut_invalid_cdb(struct keel_scsi_task *t, int byte, int bit)
{
	return ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST, KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB) &&
	       ut_field(t, true, byte, bit);
}

/*
 * Sense data.
 */
static void
sense_fixed_format_has_key_asc_ascq_and_field_pointer(void)
{
	uint8_t buf[KEEL_SCSI_SENSE_BUF_LEN];
	uint8_t sks[3] = {0x40 | 0x08 | 3, 0x00, 0x04};
	uint16_t len = 0;

	memset(buf, 0xee, sizeof(buf));
	scsi_sense_build(buf, &len, false, KEEL_SCSI_SENSE_ILLEGAL_REQUEST, 0x2400, sks, 0, false);
	CU_ASSERT(len == 18);
	CU_ASSERT(buf[0] == 0x70);
	CU_ASSERT(buf[1] == 0);
	CU_ASSERT(buf[2] == 0x05);
	CU_ASSERT(keel_from_be32(&buf[3]) == 0);
	CU_ASSERT(buf[7] == 10);
	CU_ASSERT(keel_from_be32(&buf[8]) == 0);
	CU_ASSERT(buf[12] == 0x24 && buf[13] == 0x00);
	CU_ASSERT(buf[14] == 0);
	CU_ASSERT(buf[15] == (0x80 | 0x40 | 0x08 | 3));
	CU_ASSERT(buf[16] == 0x00 && buf[17] == 0x04);
	CU_ASSERT(buf[18] == 0xee);
}

static void
sense_fixed_format_sets_valid_only_when_information_fits(void)
{
	uint8_t buf[KEEL_SCSI_SENSE_BUF_LEN];
	uint16_t len;

	scsi_sense_build(buf, &len, false, KEEL_SCSI_SENSE_MISCOMPARE, 0x1d00, NULL, 0x1234, true);
	CU_ASSERT(buf[0] == 0xf0);
	CU_ASSERT(keel_from_be32(&buf[3]) == 0x1234);
	CU_ASSERT(buf[15] == 0 && buf[16] == 0 && buf[17] == 0);
	scsi_sense_build(buf, &len, false, KEEL_SCSI_SENSE_MISCOMPARE, 0x1d00, NULL, 0x100000000ull,
			 true);
	CU_ASSERT(buf[0] == 0x70);
	CU_ASSERT(keel_from_be32(&buf[3]) == 0);
}

static void
sense_descriptor_format_has_information_and_sks_descriptors(void)
{
	uint8_t buf[KEEL_SCSI_SENSE_BUF_LEN];
	uint8_t sks[3] = {0x40, 0x00, 0x02};
	uint16_t len;

	scsi_sense_build(buf, &len, true, KEEL_SCSI_SENSE_ILLEGAL_REQUEST, 0x2100, sks,
			 0x0102030405060708ull, true);
	CU_ASSERT(len == 28);
	CU_ASSERT(buf[0] == 0x72);
	CU_ASSERT(buf[1] == 0x05 && buf[2] == 0x21 && buf[3] == 0x00);
	CU_ASSERT(buf[7] == 20);
	/* Information descriptor. */
	CU_ASSERT(buf[8] == 0x00 && buf[9] == 0x0a && buf[10] == 0x80 && buf[11] == 0);
	CU_ASSERT(keel_from_be64(&buf[12]) == 0x0102030405060708ull);
	/* Sense-key specific descriptor. */
	CU_ASSERT(buf[20] == 0x02 && buf[21] == 0x06 && buf[22] == 0 && buf[23] == 0);
	CU_ASSERT(buf[24] == 0xc0 && buf[25] == 0x00 && buf[26] == 0x02 && buf[27] == 0);

	scsi_sense_build(buf, &len, true, KEEL_SCSI_SENSE_UNIT_ATTENTION, 0x2901, NULL, 0, false);
	CU_ASSERT(len == 8);
	CU_ASSERT(buf[0] == 0x72 && buf[1] == 0x06 && buf[2] == 0x29 && buf[3] == 0x01);
	CU_ASSERT(buf[7] == 0);

	scsi_sense_build(buf, &len, true, KEEL_SCSI_SENSE_ILLEGAL_REQUEST, 0x2400, sks, 0, false);
	CU_ASSERT(len == 16);
	CU_ASSERT(buf[7] == 8);
	CU_ASSERT(buf[8] == 0x02 && buf[12] == 0xc0);
}

static void
set_status_picks_descriptor_format_from_task_or_lun(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = ut_task(CDB(0x00, 0, 0, 0, 0, 0), 0);
	keel_scsi_task_set_status(t, KEEL_SCSI_STATUS_CHECK_CONDITION, KEEL_SCSI_SENSE_NOT_READY,
				  0x0401);
	CU_ASSERT(t->status == KEEL_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT(t->sense_data[0] == 0x70 && t->sense_data_len == 18);
	CU_ASSERT(t->sense_data[2] == 0x02 && t->sense_data[12] == 0x04 &&
		  t->sense_data[13] == 0x01);

	t->desc_sense = true;
	keel_scsi_task_set_status(t, KEEL_SCSI_STATUS_CHECK_CONDITION, KEEL_SCSI_SENSE_NOT_READY,
				  0x0401);
	CU_ASSERT(t->sense_data[0] == 0x72 && t->sense_data_len == 8);

	t->desc_sense = false;
	g_lun.mode.d_sense = true;
	keel_scsi_task_set_status(t, KEEL_SCSI_STATUS_CHECK_CONDITION, KEEL_SCSI_SENSE_NOT_READY,
				  0x0401);
	CU_ASSERT(t->sense_data[0] == 0x72);
	CU_ASSERT(t->sense_data[1] == 0x02 && t->sense_data[2] == 0x04 && t->sense_data[3] == 0x01);

	/* Without a LUN only the task decides. */
	t->lun_desc = NULL;
	keel_scsi_task_set_status(t, KEEL_SCSI_STATUS_CHECK_CONDITION, KEEL_SCSI_SENSE_NOT_READY,
				  0x0401);
	CU_ASSERT(t->sense_data[0] == 0x70);

	keel_scsi_task_set_status(t, KEEL_SCSI_STATUS_GOOD, 0, 0);
	CU_ASSERT(t->status == KEEL_SCSI_STATUS_GOOD && t->sense_data_len == 0);
	keel_scsi_task_set_status(t, KEEL_SCSI_STATUS_RESERVATION_CONFLICT, 0, 0);
	CU_ASSERT(t->status == KEEL_SCSI_STATUS_RESERVATION_CONFLICT && t->sense_data_len == 0);
}

static void
invalid_field_points_at_cdb_byte_and_bit(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = ut_task(CDB(0x12, 0, 0, 0, 0, 0), 0);
	scsi_task_invalid_field(t, 4, 6);
	CU_ASSERT(ut_invalid_cdb(t, 4, 6));
	scsi_task_invalid_field(t, 300, -1);
	CU_ASSERT(ut_invalid_cdb(t, 300, -1));
	CU_ASSERT(t->sense_data[15] == 0xc0);
}

/*
 * Dispatch and CDB checks.
 */
static void
unknown_opcodes_are_left_to_other_command_sets(void)
{
	struct keel_scsi_task *t;
	int before;

	ut_setup();
	before = g_completed;
	t = ut_task(CDB(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0), 512);
	CU_ASSERT(!scsi_spc_execute(t));
	t = ut_task(CDB(0x5e, 0, 0, 0, 0, 0, 0, 0, 8, 0), 512);
	CU_ASSERT(!scsi_spc_execute(t));
	t = ut_task(CDB(0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 0);
	CU_ASSERT(!scsi_spc_execute(t));
	CU_ASSERT(g_completed == before);
}

static void
reserved_cdb_bits_are_invalid_field(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(0, 0x00, 0x01, 0, 0, 0, 0);
	CU_ASSERT(ut_invalid_cdb(t, 1, 0));
	t = RUN(0, 0x00, 0, 0, 0, 0x80, 0);
	CU_ASSERT(ut_invalid_cdb(t, 4, 7));
	/* CMDDT (obsolete) in INQUIRY. */
	t = RUN(255, 0x12, 0x02, 0, 0, 255, 0);
	CU_ASSERT(ut_invalid_cdb(t, 1, 1));
	CU_ASSERT(t->data_transferred == 0xdead);
	/* NACA: keel does not offer ACA (NORMACA 0). */
	t = RUN(0, 0x00, 0, 0, 0, 0, 0x04);
	CU_ASSERT(ut_invalid_cdb(t, 5, 2));
	t = RUN(255, 0x5a, 0x20, 0x3f, 0, 0, 0, 0, 0, 255, 0);
	CU_ASSERT(ut_invalid_cdb(t, 1, 5));
}

static void
every_command_row_accepts_its_own_usage_bits(void)
{
	const struct scsi_opcode_info *rows;
	size_t i, n;

	ut_setup();
	n = scsi_spc_opcodes(&rows);
	CU_ASSERT(n >= 18);
	for (i = 0; i < n; i++) {
		struct keel_scsi_task *t = ut_task(rows[i].usage, rows[i].cdb_len, 0);

		CU_ASSERT(rows[i].usage[0] == rows[i].opcode);
		CU_ASSERT(rows[i].usage[rows[i].cdb_len - 1] == 0);
		CU_ASSERT(spc_find_row(t) == &rows[i]);
		CU_ASSERT(spc_check_cdb(t, &rows[i]));
		if (rows[i].has_sa) {
			CU_ASSERT((rows[i].usage[1] & 0x1f) == rows[i].service_action);
		}
	}
}

static void
test_unit_ready_is_good(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(0, 0x00, 0, 0, 0, 0, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 0xdead);
}

static void
maintenance_in_with_unknown_service_action_is_invalid_field(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(512, 0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0);
	CU_ASSERT(ut_invalid_cdb(t, 1, 4));
}

/*
 * REQUEST SENSE.
 */
static void
request_sense_without_unit_attention_is_no_sense(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(252, 0x03, 0, 0, 0, 252, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 18);
	CU_ASSERT(g_buf[0] == 0x70 && g_buf[2] == 0 && g_buf[7] == 10);
	CU_ASSERT(g_buf[12] == 0 && g_buf[13] == 0);

	/* DESC asks for descriptor format. */
	t = RUN(252, 0x03, 0x01, 0, 0, 252, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 8);
	CU_ASSERT(g_buf[0] == 0x72 && g_buf[1] == 0 && g_buf[7] == 0);
}

static void
request_sense_returns_the_pending_unit_attention_as_data(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	g_ua_pending_asc = KEEL_SCSI_ASC_POWER_ON_OR_RESET;
	t = RUN(252, 0x03, 0x01, 0, 0, 252, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 8);
	CU_ASSERT(g_buf[0] == 0x72 && g_buf[1] == 0x06 && g_buf[2] == 0x29 && g_buf[3] == 0x00);
	CU_ASSERT(g_ua_pending_asc == -1);

	/* The UA was built in descriptor format (D_SENSE); the data follow the DESC bit. */
	g_lun.mode.d_sense = true;
	g_ua_pending_asc = KEEL_SCSI_ASC_MODE_PARAMETERS_CHANGED;
	t = RUN(252, 0x03, 0x00, 0, 0, 252, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 18);
	CU_ASSERT(g_buf[0] == 0x70 && g_buf[2] == 0x06 && g_buf[12] == 0x2a && g_buf[13] == 1);

	t = RUN(252, 0x03, 0, 0, 0, 252, 0);
	CU_ASSERT(g_buf[2] == 0 && g_buf[12] == 0);
}

static void
request_sense_honours_the_allocation_length(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(252, 0x03, 0, 0, 0, 8, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 8);
	CU_ASSERT(g_buf[8] == 0xa5);
	t = RUN(252, 0x03, 0, 0, 0, 0, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 0);
}

/*
 * INQUIRY.
 */
static void
inquiry_standard_data_layout(void)
{
	struct keel_scsi_task *t;
	int i;

	ut_setup();
	g_xcopy_len = 16;
	t = RUN(260, 0x12, 0, 0, 0x01, 0x04, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 96);
	CU_ASSERT(g_buf[0] == 0x00); /* qualifier 0, direct access */
	CU_ASSERT(g_buf[1] == 0x00); /* RMB 0 */
	CU_ASSERT(g_buf[2] == 0x06); /* SPC-4 */
	CU_ASSERT(g_buf[3] == 0x12); /* HISUP, format 2, NORMACA 0 */
	CU_ASSERT(g_buf[4] == 91);
	CU_ASSERT(g_buf[5] == 0x08); /* 3PC, TPGS 0 */
	CU_ASSERT(g_buf[6] == 0x00);
	CU_ASSERT(g_buf[7] == 0x02); /* CMDQUE */
	CU_ASSERT(memcmp(&g_buf[8], "KEEL    ", 8) == 0);
	CU_ASSERT(memcmp(&g_buf[16], "ut disk padded  ", 16) == 0);
	CU_ASSERT(memcmp(&g_buf[32], "0001", 4) == 0);
	CU_ASSERT(keel_from_be16(&g_buf[58]) == 0x00a0); /* SAM-5 */
	CU_ASSERT(keel_from_be16(&g_buf[60]) == 0x0960); /* iSCSI */
	CU_ASSERT(keel_from_be16(&g_buf[62]) == 0x0460); /* SPC-4 */
	CU_ASSERT(keel_from_be16(&g_buf[64]) == 0x04c0); /* SBC-3 */
	for (i = 66; i < 96; i++) {
		CU_ASSERT(g_buf[i] == 0);
	}
	CU_ASSERT(g_buf[96] == 0xa5);

	/* Without third-party copy descriptors, no 3PC. */
	g_xcopy_len = 0;
	RUN(260, 0x12, 0, 0, 0x01, 0x04, 0);
	CU_ASSERT(g_buf[5] == 0x00);
}

static void
inquiry_is_cut_to_the_allocation_length(void)
{
	uint8_t full[96];
	struct keel_scsi_task *t;
	uint32_t alloc;

	ut_setup();
	RUN(260, 0x12, 0, 0, 0, 255, 0);
	memcpy(full, g_buf, sizeof(full));
	for (alloc = 0; alloc < 100; alloc += 3) {
		t = RUN(260, 0x12, 0, 0, 0, (uint8_t)alloc, 0);
		CU_ASSERT(ut_good(t));
		CU_ASSERT(t->data_transferred == KEEL_MIN(alloc, 96u));
		CU_ASSERT(memcmp(g_buf, full, KEEL_MIN(alloc, 96u)) == 0);
	}
	/* The allocation length is 16 bits (SPC-3 and later). */
	t = RUN(260, 0x12, 0, 0, 0x01, 0x00, 0);
	CU_ASSERT(t->data_transferred == 96);
	/* A shorter transfer length than the allocation length cuts too. */
	t = RUN(36, 0x12, 0, 0, 0, 255, 0);
	CU_ASSERT(t->data_transferred == 36);
}

static void
inquiry_page_code_without_evpd_is_invalid_field(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(255, 0x12, 0, 0x80, 0, 255, 0);
	CU_ASSERT(ut_invalid_cdb(t, 2, 7));
	CU_ASSERT(t->data_transferred == 0xdead);
}

static void
inquiry_without_lun_reports_no_device_connected(void)
{
	struct keel_scsi_task *t;
	int before;

	ut_setup();
	t = ut_task(CDB(0x12, 0, 0, 0, 96, 0), 96);
	t->lun_desc = NULL;
	before = g_completed;
	CU_ASSERT(scsi_spc_execute_no_lun(t));
	CU_ASSERT(g_completed == before + 1);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 96);
	CU_ASSERT(g_buf[0] == 0x7f);
	CU_ASSERT(memcmp(&g_buf[8], "KEEL    ", 8) == 0);
	CU_ASSERT(memcmp(&g_buf[16], "                ", 16) == 0);

	/* scsi_spc_execute without a LUN goes the same way. */
	t = ut_task(CDB(0x12, 0x01, 0x00, 0, 96, 0), 96);
	t->lun_desc = NULL;
	CU_ASSERT(scsi_spc_execute(t));
	CU_ASSERT(ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_LOGICAL_UNIT_NOT_SUPPORTED));

	t = ut_task(CDB(0x12, 0x02, 0x00, 0, 96, 0), 96);
	t->lun_desc = NULL;
	CU_ASSERT(scsi_spc_execute_no_lun(t));
	CU_ASSERT(ut_invalid_cdb(t, 1, 1));
}

static void
vpd_supported_pages_list_what_the_lun_offers(void)
{
	static const uint8_t all[] = {0x00, 0x80, 0x83, 0x86, 0x8f, 0xb0, 0xb1, 0xb2};
	static const uint8_t plain[] = {0x00, 0x80, 0x83, 0x86, 0xb0, 0xb1};
	struct keel_scsi_task *t;

	ut_setup();
	g_xcopy_len = 32;
	t = RUN(255, 0x12, 0x01, 0x00, 0, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_buf[0] == 0 && g_buf[1] == 0x00);
	CU_ASSERT(keel_from_be16(&g_buf[2]) == sizeof(all));
	CU_ASSERT(memcmp(&g_buf[4], all, sizeof(all)) == 0);
	CU_ASSERT(t->data_transferred == 4 + sizeof(all));

	g_xcopy_len = 0;
	g_unmap = false;
	t = RUN(255, 0x12, 0x01, 0x00, 0, 255, 0);
	CU_ASSERT(keel_from_be16(&g_buf[2]) == sizeof(plain));
	CU_ASSERT(memcmp(&g_buf[4], plain, sizeof(plain)) == 0);
	/* A page that is not listed is refused. */
	t = RUN(255, 0x12, 0x01, 0xb2, 0, 255, 0);
	CU_ASSERT(ut_invalid_cdb(t, 2, 7));
	t = RUN(255, 0x12, 0x01, 0x8f, 0, 255, 0);
	CU_ASSERT(ut_invalid_cdb(t, 2, 7));
}

static void
vpd_unit_serial_is_the_uuid_in_hex(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(255, 0x12, 0x01, 0x80, 0, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 36);
	CU_ASSERT(g_buf[0] == 0 && g_buf[1] == 0x80 && keel_from_be16(&g_buf[2]) == 32);
	CU_ASSERT(memcmp(&g_buf[4], "123456789abc4def8123456789abcdef", 32) == 0);
}

static void
vpd_device_identification_designators(void)
{
	static const char uuid_str[] = "12345678-9abc-4def-8123-456789abcdef";
	struct keel_scsi_task *t;
	uint8_t *d;
	int i;

	ut_setup();
	t = RUN(1024, 0x12, 0x01, 0x83, 0x04, 0x00, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_buf[0] == 0 && g_buf[1] == 0x83);
	CU_ASSERT(keel_from_be16(&g_buf[2]) == 156);
	CU_ASSERT(t->data_transferred == 160);

	/* NAA, binary, logical unit. */
	d = &g_buf[4];
	CU_ASSERT(d[0] == 0x01 && d[1] == 0x03 && d[2] == 0 && d[3] == 16);
	for (i = 0; i < 16; i++) {
		CU_ASSERT(d[4 + i] == 0x60 + i);
	}
	/* T10 vendor id, ASCII, logical unit. */
	d = &g_buf[24];
	CU_ASSERT(d[0] == 0x02 && d[1] == 0x01 && d[3] == 44);
	CU_ASSERT(memcmp(&d[4], "KEEL    ", 8) == 0);
	CU_ASSERT(memcmp(&d[12], uuid_str, 36) == 0);
	/* SCSI name string of the target device: iSCSI, UTF-8, PIV, association 10b. */
	d = &g_buf[72];
	CU_ASSERT(d[0] == 0x53 && d[1] == 0xa8 && d[3] == 28);
	CU_ASSERT(memcmp(&d[4], UT_DEV_NAME, strlen(UT_DEV_NAME)) == 0);
	CU_ASSERT(d[4 + 25] == 0 && d[4 + 26] == 0 && d[4 + 27] == 0);
	/* Relative target port, association 01b. */
	d = &g_buf[104];
	CU_ASSERT(d[0] == 0x51 && d[1] == 0x94 && d[3] == 4);
	CU_ASSERT(keel_from_be32(&d[4]) == 1);
	/* Target port group 1. */
	d = &g_buf[112];
	CU_ASSERT(d[0] == 0x51 && d[1] == 0x95 && d[3] == 4);
	CU_ASSERT(keel_from_be32(&d[4]) == 1);
	/* SCSI name string of the target port. */
	d = &g_buf[120];
	CU_ASSERT(d[0] == 0x53 && d[1] == 0x98 && d[3] == 36);
	CU_ASSERT(memcmp(&d[4], UT_TGT_PORT_NAME, strlen(UT_TGT_PORT_NAME)) == 0);
	CU_ASSERT(d[4 + 34] == 0 && d[4 + 35] == 0);
	CU_ASSERT(g_buf[160] == 0xa5);

	/* Another port: its own relative id and name. */
	g_tgt_port.index = 3;
	snprintf(g_tgt_port.name, sizeof(g_tgt_port.name), "%s,t,0x0002", UT_DEV_NAME);
	RUN(1024, 0x12, 0x01, 0x83, 0x04, 0x00, 0);
	CU_ASSERT(keel_from_be16(&g_buf[108 + 2]) == 3);
	CU_ASSERT(memcmp(&g_buf[124], UT_DEV_NAME ",t,0x0002", strlen(UT_TGT_PORT_NAME)) == 0);
}

static void
vpd_device_identification_without_target_port_has_no_port_designators(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = ut_task(CDB(0x12, 0x01, 0x83, 0x04, 0x00, 0), 1024);
	t->target_port = NULL;
	CU_ASSERT(scsi_spc_execute(t));
	CU_ASSERT(ut_good(t));
	CU_ASSERT(keel_from_be16(&g_buf[2]) == 100);
	CU_ASSERT(t->data_transferred == 104);
}

static void
vpd_extended_inquiry_offers_task_attributes_only(void)
{
	struct keel_scsi_task *t;
	int i;

	ut_setup();
	t = RUN(255, 0x12, 0x01, 0x86, 0, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 64);
	CU_ASSERT(g_buf[1] == 0x86 && keel_from_be16(&g_buf[2]) == 0x3c);
	CU_ASSERT(g_buf[4] == 0x00);
	CU_ASSERT(g_buf[5] == 0x07); /* HEADSUP ORDSUP SIMPSUP */
	for (i = 6; i < 64; i++) {
		CU_ASSERT(g_buf[i] == 0);
	}
}

static void
vpd_block_limits_follow_the_bdev_and_unmap_support(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	g_bdev.optimal_io_boundary = 128;
	t = RUN(255, 0x12, 0x01, 0xb0, 0, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 64);
	CU_ASSERT(g_buf[1] == 0xb0 && keel_from_be16(&g_buf[2]) == 0x3c);
	CU_ASSERT(g_buf[4] == 0x01);               /* WSNZ */
	CU_ASSERT(g_buf[5] == 1);                  /* MAX COMPARE AND WRITE */
	CU_ASSERT(keel_from_be16(&g_buf[6]) == 8); /* 4 KiB granularity */
	CU_ASSERT(keel_from_be32(&g_buf[8]) == SCSI_MAX_TRANSFER_BYTES / UT_BLKLEN);
	CU_ASSERT(keel_from_be32(&g_buf[12]) == 128);
	CU_ASSERT(keel_from_be32(&g_buf[16]) == 0);
	CU_ASSERT(keel_from_be32(&g_buf[20]) == SCSI_MAX_UNMAP_LBA_COUNT);
	CU_ASSERT(keel_from_be32(&g_buf[20]) <= 1024 * 1024);
	CU_ASSERT(keel_from_be32(&g_buf[24]) == SCSI_MAX_UNMAP_DESCRIPTORS);
	CU_ASSERT(keel_from_be32(&g_buf[28]) == 1);
	CU_ASSERT(keel_from_be32(&g_buf[32]) == 0);
	CU_ASSERT(keel_from_be64(&g_buf[36]) == SCSI_MAX_WRITE_SAME_BYTES / UT_BLKLEN);

	/* Without UNMAP the unmap limits are 0; 4 KiB blocks have granularity 1. */
	g_unmap = false;
	g_bdev.blocklen = 4096;
	g_bdev.max_compare_and_write_blocks = 1000;
	RUN(255, 0x12, 0x01, 0xb0, 0, 255, 0);
	CU_ASSERT(g_buf[5] == 255);
	CU_ASSERT(keel_from_be16(&g_buf[6]) == 1);
	CU_ASSERT(keel_from_be32(&g_buf[8]) == SCSI_MAX_TRANSFER_BYTES / 4096);
	CU_ASSERT(keel_from_be32(&g_buf[20]) == 0);
	CU_ASSERT(keel_from_be32(&g_buf[24]) == 0);
	CU_ASSERT(keel_from_be32(&g_buf[28]) == 0);
	CU_ASSERT(keel_from_be64(&g_buf[36]) == SCSI_MAX_WRITE_SAME_BYTES / 4096);
}

/* A WRITE SAME covers no more blocks than one READ may return, so that an initiator can read
 * back what it wrote (or unmapped) in one command: MAXIMUM WRITE SAME LENGTH is at most
 * MAXIMUM TRANSFER LENGTH, for every block size. */
static void
vpd_block_limits_write_same_fits_one_transfer(void)
{
	static const uint32_t sizes[] = {512, 4096};
	size_t i;

	ut_setup();
	for (i = 0; i < KEEL_COUNTOF(sizes); i++) {
		g_bdev.blocklen = sizes[i];
		CU_ASSERT(ut_good(RUN(255, 0x12, 0x01, 0xb0, 0, 255, 0)));
		CU_ASSERT(keel_from_be64(&g_buf[36]) > 0);
		CU_ASSERT(keel_from_be64(&g_buf[36]) <= keel_from_be32(&g_buf[8]));
	}
}

static void
vpd_block_characteristics_say_non_rotating(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(255, 0x12, 0x01, 0xb1, 0, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 64);
	CU_ASSERT(g_buf[1] == 0xb1 && keel_from_be16(&g_buf[2]) == 0x3c);
	CU_ASSERT(keel_from_be16(&g_buf[4]) == 1);
	CU_ASSERT(g_buf[6] == 0);
	CU_ASSERT((g_buf[7] & 0x0f) == 0); /* form factor not reported */
}

/* SANITIZE BLOCK ERASE is offered, so WABEREQ says what a read after it does: 01b, GOOD (the
 * erase leaves zeroes); WACEREQ stays 0 (no CRYPTO ERASE). */
static void
vpd_block_characteristics_say_reads_after_block_erase_are_good(void)
{
	ut_setup();
	CU_ASSERT(ut_good(RUN(255, 0x12, 0x01, 0xb1, 0, 255, 0)));
	CU_ASSERT(g_buf[7] >> 6 == 1);
	CU_ASSERT(((g_buf[7] >> 4) & 0x3) == 0);
}

static void
vpd_logical_block_provisioning_is_thin_with_lbprz_from_the_bdev(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(255, 0x12, 0x01, 0xb2, 0, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 8);
	CU_ASSERT(g_buf[1] == 0xb2 && keel_from_be16(&g_buf[2]) == 4);
	CU_ASSERT(g_buf[4] == 0);
	CU_ASSERT(g_buf[5] == 0xe4); /* LBPU LBPWS LBPWS10 LBPRZ */
	CU_ASSERT(g_buf[6] == 0x02); /* thin */
	g_bdev.unmap_reads_zeroes = false;
	RUN(255, 0x12, 0x01, 0xb2, 0, 255, 0);
	CU_ASSERT(g_buf[5] == 0xe0);
}

static void
vpd_third_party_copy_carries_the_xcopy_descriptors(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	g_xcopy_len = 12;
	t = RUN(255, 0x12, 0x01, 0x8f, 0, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 16);
	CU_ASSERT(g_buf[0] == 0 && g_buf[1] == 0x8f && keel_from_be16(&g_buf[2]) == 12);
	CU_ASSERT(g_buf[4] == 0xc0 && g_buf[15] == 0xcb);
}

static void
vpd_unknown_page_is_invalid_field(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(255, 0x12, 0x01, 0x87, 0, 255, 0);
	CU_ASSERT(ut_invalid_cdb(t, 2, 7));
	t = RUN(255, 0x12, 0x01, 0xc0, 0, 255, 0);
	CU_ASSERT(ut_invalid_cdb(t, 2, 7));
}

static void
vpd_page_is_cut_to_the_allocation_length(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(255, 0x12, 0x01, 0x83, 0, 10, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 10);
	CU_ASSERT(keel_from_be16(&g_buf[2]) == 156);
	CU_ASSERT(g_buf[10] == 0xa5);
	t = RUN(255, 0x12, 0x01, 0xb0, 0, 0, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 0);
}

/*
 * REPORT LUNS.
 */
static void
report_luns_lists_peripheral_and_flat_addresses(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(256, 0xa0, 0, 0x00, 0, 0, 0, 0, 0, 1, 0, 0, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 24);
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 16);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 0);
	CU_ASSERT(keel_from_be64(&g_buf[8]) == 0);         /* LUN 0; LUN 7 is going away */
	CU_ASSERT(g_buf[16] == 0x41 && g_buf[17] == 0x2c); /* flat space, 300 */
	CU_ASSERT(keel_from_be16(&g_buf[18]) == 0 && keel_from_be32(&g_buf[20]) == 0);

	t = RUN(256, 0xa0, 0, 0x02, 0, 0, 0, 0, 0, 1, 0, 0, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 16);
	/* Well-known logical units only: none. */
	t = RUN(256, 0xa0, 0, 0x01, 0, 0, 0, 0, 0, 1, 0, 0, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 8);
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 0);
	t = RUN(256, 0xa0, 0, 0x10, 0, 0, 0, 0, 0, 1, 0, 0, 0);
	CU_ASSERT(ut_invalid_cdb(t, 2, 7));
}

static void
report_luns_cuts_to_the_allocation_length_but_refuses_less_than_16(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(256, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 16);
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 16);
	t = RUN(256, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 0, 0);
	CU_ASSERT(ut_invalid_cdb(t, 6, 7));
	t = RUN(256, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	CU_ASSERT(ut_invalid_cdb(t, 6, 7));
}

static void
report_luns_and_request_sense_work_without_a_lun(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = ut_task(CDB(0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0), 256);
	t->lun_desc = NULL;
	CU_ASSERT(scsi_spc_execute_no_lun(t));
	CU_ASSERT(ut_good(t));
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 16);

	t = ut_task(CDB(0x03, 0, 0, 0, 252, 0), 252);
	t->lun_desc = NULL;
	CU_ASSERT(scsi_spc_execute_no_lun(t));
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_buf[2] == 0x05 && g_buf[12] == 0x25 && g_buf[13] == 0x00);

	t = ut_task(CDB(0x00, 0, 0, 0, 0, 0), 0);
	t->lun_desc = NULL;
	CU_ASSERT(scsi_spc_execute_no_lun(t));
	CU_ASSERT(ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_LOGICAL_UNIT_NOT_SUPPORTED));
	t = ut_task(CDB(0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0), 512);
	t->lun_desc = NULL;
	CU_ASSERT(scsi_spc_execute_no_lun(t));
	CU_ASSERT(ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_LOGICAL_UNIT_NOT_SUPPORTED));
}

/*
 * MODE SENSE.
 */
static const uint8_t g_caching_cur[20] = {0x08, 0x12, 0x04};
static const uint8_t g_control_cur[12] = {0x0a, 0x0a, 0x00, 0x10, 0, 0, 0, 0, 0xff, 0xff};

static void
mode_sense6_all_pages_with_block_descriptor(void)
{
	static const uint8_t order[] = {0x01, 0x02, 0x08, 0x0a, 0x1c};
	static const uint8_t lens[] = {12, 16, 20, 12, 12};
	struct keel_scsi_task *t;
	size_t pos, i;

	ut_setup();
	t = RUN(255, 0x1a, 0x00, 0x3f, 0x00, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 4 + 8 + 72);
	CU_ASSERT(g_buf[0] == 4 + 8 + 72 - 1);
	CU_ASSERT(g_buf[1] == 0);
	CU_ASSERT(g_buf[2] == 0x10); /* DPOFUA, not write protected */
	CU_ASSERT(g_buf[3] == 8);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == UT_BLOCKS);
	CU_ASSERT(g_buf[8] == 0 && keel_from_be24(&g_buf[9]) == UT_BLKLEN);
	pos = 12;
	for (i = 0; i < sizeof(order); i++) {
		CU_ASSERT(g_buf[pos] == order[i]);
		CU_ASSERT(g_buf[pos + 1] == lens[i] - 2);
		if (order[i] == 0x08) {
			CU_ASSERT(memcmp(&g_buf[pos], g_caching_cur, 20) == 0);
		}
		if (order[i] == 0x0a) {
			CU_ASSERT(memcmp(&g_buf[pos], g_control_cur, 12) == 0);
		}
		pos += lens[i];
	}
	CU_ASSERT(g_buf[pos] == 0xa5);

	/* Every subpage of every page is the same list. */
	t = RUN(255, 0x1a, 0x00, 0x3f, 0xff, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 84);
}

static void
mode_sense6_changeable_values_include_the_control_page(void)
{
	struct keel_scsi_task *t;
	uint8_t *p;

	ut_setup();
	t = RUN(255, 0x1a, 0x08, 0x7f, 0x00, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 4 + 72);
	CU_ASSERT(g_buf[3] == 0);
	p = &g_buf[4 + 12 + 16];
	CU_ASSERT(p[0] == 0x08 && p[2] == 0x04); /* WCE */
	p += 20;
	CU_ASSERT(p[0] == 0x0a && p[2] == 0x04 && p[3] == 0 && p[4] == 0x08); /* D_SENSE, SWP */
	CU_ASSERT(p[8] == 0 && p[9] == 0);
	p += 12;
	CU_ASSERT(p[0] == 0x1c && p[2] == 0x08 && p[3] == 0x0f); /* DEXCPT, MRIE */

	/* The control page alone, as iscsi-test-cu reads it before it sets SWP. */
	t = RUN(255, 0x1a, 0x08, 0x4a, 0x00, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 16);
	CU_ASSERT(g_buf[4] == 0x0a && g_buf[8] == 0x08);
}

static void
mode_sense10_block_descriptors_short_long_and_none(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	g_bdev.blockcnt = 0x123456789ull;
	t = RUN(512, 0x5a, 0x10, 0x08, 0, 0, 0, 0, 0x02, 0x00, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 8 + 16 + 20);
	CU_ASSERT(keel_from_be16(&g_buf[0]) == 8 + 16 + 20 - 2);
	CU_ASSERT(g_buf[2] == 0 && g_buf[3] == 0x10);
	CU_ASSERT(g_buf[4] == 0x01); /* LONGLBA */
	CU_ASSERT(keel_from_be16(&g_buf[6]) == 16);
	CU_ASSERT(keel_from_be64(&g_buf[8]) == 0x123456789ull);
	CU_ASSERT(keel_from_be32(&g_buf[16]) == 0);
	CU_ASSERT(keel_from_be32(&g_buf[20]) == UT_BLKLEN);
	CU_ASSERT(memcmp(&g_buf[24], g_caching_cur, 20) == 0);

	/* Without LLBAA the short descriptor saturates at FFFFFFFFh. */
	t = RUN(512, 0x5a, 0x00, 0x08, 0, 0, 0, 0, 0x02, 0x00, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_buf[4] == 0 && keel_from_be16(&g_buf[6]) == 8);
	CU_ASSERT(keel_from_be32(&g_buf[8]) == 0xffffffff);
	CU_ASSERT(keel_from_be24(&g_buf[13]) == UT_BLKLEN);

	/* DBD: no descriptor, LLBAA then means nothing. */
	t = RUN(512, 0x5a, 0x18, 0x0a, 0, 0, 0, 0, 0x02, 0x00, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 8 + 12);
	CU_ASSERT(g_buf[4] == 0 && keel_from_be16(&g_buf[6]) == 0);
	CU_ASSERT(memcmp(&g_buf[8], g_control_cur, 12) == 0);
}

static void
mode_sense_default_values_follow_the_bdev(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	g_lun.mode.wce = false;
	g_lun.mode.d_sense = true;
	t = RUN(255, 0x1a, 0x08, 0x88, 0x00, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(memcmp(&g_buf[4], g_caching_cur, 20) == 0);
	t = RUN(255, 0x1a, 0x08, 0x8a, 0x00, 255, 0);
	CU_ASSERT(memcmp(&g_buf[4], g_control_cur, 12) == 0);
	/* Current values are the LUN's. */
	t = RUN(255, 0x1a, 0x08, 0x08, 0x00, 255, 0);
	CU_ASSERT(g_buf[6] == 0x00);
	t = RUN(255, 0x1a, 0x08, 0x0a, 0x00, 255, 0);
	CU_ASSERT(g_buf[6] == 0x04);

	g_bdev.write_cache = false;
	scsi_spc_mode_init(&g_lun);
	CU_ASSERT(!g_lun.mode.wce && !g_lun.mode.d_sense && !g_lun.mode.swp);
	RUN(255, 0x1a, 0x08, 0x88, 0x00, 255, 0);
	CU_ASSERT(g_buf[6] == 0x00);
}

static void
mode_sense_saved_values_are_not_supported(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(255, 0x1a, 0x00, 0xff, 0x00, 255, 0);
	CU_ASSERT(ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_SAVING_PARAMETERS_NOT_SUPPORTED));
	CU_ASSERT(ut_field(t, true, 2, 7));
	t = RUN(255, 0x5a, 0x00, 0xc8, 0, 0, 0, 0, 0, 255, 0);
	CU_ASSERT(ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_SAVING_PARAMETERS_NOT_SUPPORTED));
}

static void
mode_sense_unknown_page_or_subpage_is_invalid_field(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(255, 0x1a, 0x00, 0x1a, 0x00, 255, 0);
	CU_ASSERT(ut_invalid_cdb(t, 2, 5));
	t = RUN(255, 0x1a, 0x00, 0x0a, 0x01, 255, 0);
	CU_ASSERT(ut_invalid_cdb(t, 3, 7));
	t = RUN(255, 0x1a, 0x00, 0x0a, 0xff, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 4 + 8 + 12);
}

static void
mode_sense_is_cut_to_the_allocation_length(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(255, 0x1a, 0x00, 0x3f, 0x00, 4, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 4);
	CU_ASSERT(g_buf[0] == 83 && g_buf[4] == 0xa5);
	t = RUN(255, 0x1a, 0x00, 0x3f, 0x00, 0, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 0);
	t = RUN(255, 0x5a, 0x00, 0x3f, 0, 0, 0, 0, 0x00, 10, 0);
	CU_ASSERT(t->data_transferred == 10);
	CU_ASSERT(keel_from_be16(&g_buf[0]) == 8 + 8 + 72 - 2);
}

static void
mode_sense_write_protect_bit_follows_swp(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	g_lun.mode.swp = true;
	t = RUN(255, 0x1a, 0x08, 0x0a, 0x00, 255, 0);
	CU_ASSERT(g_buf[2] == 0x90);
	CU_ASSERT(g_buf[8] == 0x08);
	t = RUN(255, 0x5a, 0x08, 0x0a, 0, 0, 0, 0, 0x00, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_buf[3] == 0x90);
}

/*
 * MODE SELECT.
 */
static struct keel_scsi_task *
ut_mode_select6(const uint8_t *list, uint8_t len)
{
	return ut_exec_out(CDB(0x15, 0x10, 0, 0, len, 0), list, len);
}

static struct keel_scsi_task *
ut_mode_select10(const uint8_t *list, uint16_t len)
{
	return ut_exec_out(CDB(0x55, 0x10, 0, 0, 0, 0, 0, (uint8_t)(len >> 8), (uint8_t)len, 0),
			   list, len);
}

static void
mode_select_round_trip_changes_wce_and_tells_the_other_initiators(void)
{
	uint8_t list[4 + 20];
	struct keel_scsi_task *t;

	ut_setup();
	CU_ASSERT(g_lun.mode.wce);
	/* Read the caching page as an initiator would, clear WCE, send it back. */
	RUN(255, 0x1a, 0x08, 0x08, 0x00, 255, 0);
	memcpy(list, g_buf, sizeof(list));
	list[0] = 0;
	list[2] = 0;
	list[4 + 2] &= ~0x04;
	t = ut_mode_select6(list, sizeof(list));
	CU_ASSERT(ut_good(t));
	CU_ASSERT(!g_lun.mode.wce);
	CU_ASSERT(g_ua_queued == 1);
	CU_ASSERT(g_ua_asc == KEEL_SCSI_ASC_MODE_PARAMETERS_CHANGED);
	CU_ASSERT(strcmp(g_ua_except, UT_INI_PORT_NAME) == 0);
	RUN(255, 0x1a, 0x08, 0x08, 0x00, 255, 0);
	CU_ASSERT(g_buf[6] == 0x00);

	/* The same list again changes nothing and tells no one. */
	t = ut_mode_select6(list, sizeof(list));
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_ua_queued == 1);
}

static void
mode_select10_d_sense_switches_sense_to_descriptor_format(void)
{
	uint8_t list[8 + 16 + 12];
	struct keel_scsi_task *t;

	ut_setup();
	/* With a long block descriptor that restates the geometry. */
	RUN(255, 0x5a, 0x10, 0x0a, 0, 0, 0, 0, 0x00, 255, 0);
	CU_ASSERT(g_buf[4] == 0x01 && keel_from_be16(&g_buf[6]) == 16);
	memcpy(list, g_buf, sizeof(list));
	list[0] = list[1] = 0;
	list[3] = 0;
	list[8 + 16 + 2] |= 0x04;
	t = ut_mode_select10(list, sizeof(list));
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_lun.mode.d_sense);
	CU_ASSERT(g_ua_queued == 1);

	t = RUN(255, 0x1a, 0x00, 0x1a, 0x00, 255, 0);
	CU_ASSERT(t->status == KEEL_SCSI_STATUS_CHECK_CONDITION);
	CU_ASSERT(t->sense_data[0] == 0x72 && t->sense_data[1] == 0x05);
	CU_ASSERT(t->sense_data[2] == 0x24 && t->sense_data[3] == 0x00);
	CU_ASSERT(t->sense_data[7] == 8 && t->sense_data[8] == 0x02);
	CU_ASSERT(t->sense_data[12] == (0x80 | 0x40 | 0x08 | 5));
	CU_ASSERT(keel_from_be16(&t->sense_data[13]) == 2);
}

static void
mode_select_applies_every_changeable_field(void)
{
	uint8_t list[4 + 12 + 12];
	struct keel_scsi_task *t;

	ut_setup();
	RUN(255, 0x1a, 0x08, 0x0a, 0x00, 255, 0);
	memcpy(&list[4], &g_buf[4], 12);
	RUN(255, 0x1a, 0x08, 0x1c, 0x00, 255, 0);
	memcpy(&list[16], &g_buf[4], 12);
	memset(list, 0, 4);
	list[4 + 4] |= 0x08;  /* SWP */
	list[16 + 2] |= 0x08; /* DEXCPT */
	list[16 + 3] = 0x04;  /* MRIE 4 */
	t = ut_mode_select6(list, sizeof(list));
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_lun.mode.swp && g_lun.mode.dexcpt && g_lun.mode.mrie == 4);
	CU_ASSERT(!g_lun.mode.d_sense && g_lun.mode.wce);

	/* MRIE 1 (obsolete) and 7 (reserved) are refused, and nothing changes. */
	list[16 + 3] = 0x07;
	list[16 + 2] &= ~0x08;
	t = ut_mode_select6(list, sizeof(list));
	CU_ASSERT(ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST));
	CU_ASSERT(ut_field(t, false, 19, 3));
	CU_ASSERT(g_lun.mode.dexcpt && g_lun.mode.mrie == 4);
	list[16 + 3] = 0x01;
	t = ut_mode_select6(list, sizeof(list));
	CU_ASSERT(t->status == KEEL_SCSI_STATUS_CHECK_CONDITION);
}

static void
mode_select_refuses_a_change_to_a_fixed_field(void)
{
	uint8_t list[4 + 12 + 20];
	struct keel_scsi_task *t;

	ut_setup();
	memset(list, 0, sizeof(list));
	memcpy(&list[4], g_control_cur, 12);
	memcpy(&list[16], g_caching_cur, 20);
	list[16 + 2] = 0x00; /* WCE off: allowed */
	list[4 + 3] = 0x00;  /* QUEUE ALGORITHM MODIFIER 0: fixed */
	t = ut_mode_select6(list, sizeof(list));
	CU_ASSERT(ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST));
	CU_ASSERT(ut_field(t, false, 7, 4));
	/* The whole list is refused: WCE stays on. */
	CU_ASSERT(g_lun.mode.wce);
	CU_ASSERT(g_ua_queued == 0);

	list[4 + 3] = 0x10;
	list[16 + 2] = 0x01; /* RCD: fixed */
	t = ut_mode_select6(list, sizeof(list));
	CU_ASSERT(ut_field(t, false, 18, 0));
	list[16 + 2] = 0x00;
	list[16 + 19] = 0x01;
	t = ut_mode_select6(list, sizeof(list));
	CU_ASSERT(ut_field(t, false, 35, 0));
	list[16 + 19] = 0x00;
	t = ut_mode_select6(list, sizeof(list));
	CU_ASSERT(ut_good(t));
	CU_ASSERT(!g_lun.mode.wce);
}

static void
mode_select_refuses_malformed_lists(void)
{
	uint8_t list[4 + 8 + 20];
	struct keel_scsi_task *t;

	ut_setup();
	memset(list, 0, sizeof(list));
	memcpy(&list[4], g_caching_cur, 20);
	/* Page length other than the page's. */
	list[5] = 0x10;
	t = ut_mode_select6(list, 24);
	CU_ASSERT(ut_field(t, false, 5, 7));
	/* Page longer than the list. */
	list[5] = 0x12;
	t = ut_mode_select6(list, 20);
	CU_ASSERT(ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR));
	/* A lone byte after the header. */
	t = ut_mode_select6(list, 5);
	CU_ASSERT(ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR));
	/* Shorter than the header. */
	t = ut_mode_select6(list, 3);
	CU_ASSERT(ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR));
	/* Unknown page, subpage format. */
	list[4] = 0x1a;
	t = ut_mode_select6(list, 24);
	CU_ASSERT(ut_field(t, false, 4, 5));
	list[4] = 0x48;
	t = ut_mode_select6(list, 24);
	CU_ASSERT(ut_field(t, false, 4, 6));
	list[4] = 0x08;
	/* Medium type. */
	list[1] = 0x01;
	t = ut_mode_select6(list, 24);
	CU_ASSERT(ut_field(t, false, 1, 7));
	list[1] = 0;
	/* Block descriptor length other than 0 or 8. */
	list[3] = 4;
	t = ut_mode_select6(list, 24);
	CU_ASSERT(ut_field(t, false, 3, 7));
	/* A block descriptor with another block length, then with another capacity. */
	memset(list, 0, sizeof(list));
	list[3] = 8;
	keel_to_be24(&list[9], 4096);
	memcpy(&list[12], g_caching_cur, 20);
	t = ut_mode_select6(list, sizeof(list));
	CU_ASSERT(ut_field(t, false, 9, 7));
	keel_to_be24(&list[9], UT_BLKLEN);
	keel_to_be32(&list[4], UT_BLOCKS - 1);
	t = ut_mode_select6(list, sizeof(list));
	CU_ASSERT(ut_field(t, false, 4, 7));
	keel_to_be32(&list[4], UT_BLOCKS);
	t = ut_mode_select6(list, sizeof(list));
	CU_ASSERT(ut_good(t));
	keel_to_be32(&list[4], 0);
	t = ut_mode_select6(list, sizeof(list));
	CU_ASSERT(ut_good(t));
	/* Block descriptor past the end of the list. */
	t = ut_mode_select6(list, 8);
	CU_ASSERT(ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR));
	/* Less Data-Out than the parameter list length says. */
	t = ut_task(CDB(0x15, 0x10, 0, 0, 24, 0), 12);
	t->dxfer_dir = KEEL_SCSI_DIR_TO_DEV;
	CU_ASSERT(scsi_spc_execute(t));
	CU_ASSERT(ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR));
	CU_ASSERT(g_ua_queued == 0);
}

static void
mode_select_save_pages_is_invalid_field_and_empty_list_is_good(void)
{
	uint8_t list[4 + 20] = {0};
	struct keel_scsi_task *t;

	ut_setup();
	memcpy(&list[4], g_caching_cur, 20);
	t = ut_exec_out(CDB(0x15, 0x11, 0, 0, sizeof(list), 0), list, sizeof(list));
	CU_ASSERT(ut_invalid_cdb(t, 1, 0));
	t = ut_exec_out(CDB(0x55, 0x11, 0, 0, 0, 0, 0, 0, sizeof(list), 0), list, sizeof(list));
	CU_ASSERT(ut_invalid_cdb(t, 1, 0));
	t = RUN(0, 0x15, 0x10, 0, 0, 0, 0);
	CU_ASSERT(ut_good(t));
	t = RUN(0, 0x55, 0x10, 0, 0, 0, 0, 0, 0, 0, 0);
	CU_ASSERT(ut_good(t));
	/* Header only. */
	memset(list, 0, sizeof(list));
	t = ut_mode_select10(list, 8);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_ua_queued == 0);
}

/*
 * START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, READ DEFECT DATA.
 */
static void
start_stop_unit_is_good_without_loej(void)
{
	struct keel_scsi_task *t;
	int pc;

	ut_setup();
	t = RUN(0, 0x1b, 0x01, 0, 0, 0x01, 0);
	CU_ASSERT(ut_good(t));
	t = RUN(0, 0x1b, 0x00, 0, 0, 0x04, 0);
	CU_ASSERT(ut_good(t));
	for (pc = 1; pc < 16; pc++) {
		t = RUN(0, 0x1b, 0x00, 0, 0x01, (uint8_t)(pc << 4), 0);
		CU_ASSERT(ut_good(t));
	}
	t = RUN(0, 0x1b, 0x02, 0, 0, 0x01, 0);
	CU_ASSERT(ut_invalid_cdb(t, 1, 1));
	t = RUN(0, 0x1b, 0x00, 0x01, 0, 0x01, 0);
	CU_ASSERT(ut_invalid_cdb(t, 2, 0));
}

static void
start_stop_unit_cannot_eject_a_fixed_medium(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(0, 0x1b, 0x01, 0, 0, 0x02, 0);
	CU_ASSERT(ut_invalid_cdb(t, 4, 1));
	t = RUN(0, 0x1e, 0, 0, 0, 0x01, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_lun.prevent_removal);
	t = RUN(0, 0x1b, 0x00, 0, 0, 0x02, 0);
	CU_ASSERT(ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_MEDIUM_REMOVAL_PREVENTED));
	t = RUN(0, 0x1b, 0x00, 0, 0, 0x03, 0);
	CU_ASSERT(ut_check(t, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			   KEEL_SCSI_ASC_MEDIUM_REMOVAL_PREVENTED));
}

static void
prevent_allow_keeps_the_flag_and_refuses_obsolete_values(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(0, 0x1e, 0, 0, 0, 0x01, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_lun.prevent_removal);
	t = RUN(0, 0x1e, 0, 0, 0, 0x00, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(!g_lun.prevent_removal);
	t = RUN(0, 0x1e, 0, 0, 0, 0x02, 0);
	CU_ASSERT(ut_invalid_cdb(t, 4, 1));
	t = RUN(0, 0x1e, 0, 0, 0, 0x04, 0);
	CU_ASSERT(ut_invalid_cdb(t, 4, 2));
	CU_ASSERT(!g_lun.prevent_removal);
}

static void
read_defect_data_returns_an_empty_list_in_the_asked_format(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(512, 0x37, 0, 0x1d, 0, 0, 0, 0, 0x02, 0x00, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 4);
	CU_ASSERT(g_buf[0] == 0 && g_buf[1] == 0x1d && keel_from_be16(&g_buf[2]) == 0);
	t = RUN(512, 0x37, 0, 0x1d, 0, 0, 0, 0, 0x00, 0x02, 0);
	CU_ASSERT(t->data_transferred == 2);
	t = RUN(512, 0x37, 0, 0x20, 0, 0, 0, 0, 0x02, 0x00, 0);
	CU_ASSERT(ut_invalid_cdb(t, 2, 5));

	t = RUN(512, 0xb7, 0x0b, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 8);
	CU_ASSERT(g_buf[1] == 0x0b && keel_from_be16(&g_buf[2]) == 0);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 0);
	t = RUN(512, 0xb7, 0x20, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0);
	CU_ASSERT(ut_invalid_cdb(t, 1, 5));
}

/*
 * LOG SENSE, LOG SELECT.
 */
static void
log_sense_returns_the_supported_pages_and_counters(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(512, 0x4d, 0, 0x40, 0, 0, 0, 0, 0x02, 0x00, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 8);
	CU_ASSERT(g_buf[0] == 0x00 && keel_from_be16(&g_buf[2]) == 4);
	CU_ASSERT(g_buf[4] == 0x00 && g_buf[5] == 0x02 && g_buf[6] == 0x03 && g_buf[7] == 0x2f);

	t = RUN(512, 0x4d, 0, 0x6f, 0, 0, 0, 0, 0x02, 0x00, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 12);
	CU_ASSERT(g_buf[0] == 0x2f && keel_from_be16(&g_buf[2]) == 8);
	CU_ASSERT(keel_from_be16(&g_buf[4]) == 0 && g_buf[7] == 4);
	CU_ASSERT(g_buf[8] == 0 && g_buf[9] == 0); /* no failure predicted */

	t = RUN(512, 0x4d, 0, 0x43, 0, 0, 0, 0, 0x02, 0x00, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 4 + 7 * 12);
	CU_ASSERT(g_buf[0] == 0x03 && keel_from_be16(&g_buf[2]) == 7 * 12);
	CU_ASSERT(keel_from_be16(&g_buf[4 + 6 * 12]) == 6);
	CU_ASSERT(keel_from_be64(&g_buf[4 + 6 * 12 + 4]) == 0);

	/* The parameter pointer skips lower codes; past the last one is refused. */
	t = RUN(512, 0x4d, 0, 0x42, 0, 0, 0x00, 0x05, 0x02, 0x00, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_buf[0] == 0x02 && keel_from_be16(&g_buf[2]) == 2 * 12);
	CU_ASSERT(keel_from_be16(&g_buf[4]) == 5);
	t = RUN(512, 0x4d, 0, 0x42, 0, 0, 0x00, 0x07, 0x02, 0x00, 0);
	CU_ASSERT(ut_invalid_cdb(t, 5, 7));
	t = RUN(512, 0x4d, 0, 0x6f, 0, 0, 0x00, 0x01, 0x02, 0x00, 0);
	CU_ASSERT(ut_invalid_cdb(t, 5, 7));

	t = RUN(512, 0x4d, 0, 0x40, 0, 0, 0, 0, 0x00, 0x05, 0);
	CU_ASSERT(t->data_transferred == 5);
}

static void
log_sense_refuses_unknown_pages_and_unsupported_bits(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(512, 0x4d, 0, 0x4d, 0, 0, 0, 0, 0x02, 0x00, 0);
	CU_ASSERT(ut_invalid_cdb(t, 2, 5));
	t = RUN(512, 0x4d, 0x01, 0x40, 0, 0, 0, 0, 0x02, 0x00, 0);
	CU_ASSERT(ut_invalid_cdb(t, 1, 0));
	t = RUN(512, 0x4d, 0x02, 0x40, 0, 0, 0, 0, 0x02, 0x00, 0);
	CU_ASSERT(ut_invalid_cdb(t, 1, 1));
	t = RUN(512, 0x4d, 0x00, 0x40, 0xff, 0, 0, 0, 0x02, 0x00, 0);
	CU_ASSERT(ut_invalid_cdb(t, 3, 7));
	t = RUN(512, 0x4d, 0x04, 0x40, 0, 0, 0, 0, 0x02, 0x00, 0);
	CU_ASSERT(ut_invalid_cdb(t, 1, 2));
}

static void
log_select_resets_but_sets_nothing(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(0, 0x4c, 0x02, 0x40, 0, 0, 0, 0, 0, 0, 0);
	CU_ASSERT(ut_good(t));
	t = RUN(0, 0x4c, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0);
	CU_ASSERT(ut_good(t));
	t = RUN(0, 0x4c, 0x02, 0x40, 0, 0, 0, 0, 0, 0x10, 0);
	CU_ASSERT(ut_invalid_cdb(t, 7, 7));
	t = RUN(0, 0x4c, 0x03, 0x40, 0, 0, 0, 0, 0, 0, 0);
	CU_ASSERT(ut_invalid_cdb(t, 1, 0));
}

/*
 * REPORT SUPPORTED OPERATION CODES and TASK MANAGEMENT FUNCTIONS.
 */
static struct keel_scsi_task *
ut_rsoc(uint8_t options, uint8_t opcode, uint16_t sa, uint32_t alloc)
{
	return RUN(8192, 0xa3, 0x0c, options, opcode, (uint8_t)(sa >> 8), (uint8_t)sa,
		   (uint8_t)(alloc >> 24), (uint8_t)(alloc >> 16), (uint8_t)(alloc >> 8),
		   (uint8_t)alloc, 0, 0);
}

static void
rsoc_all_lists_every_command_set_in_order_once(void)
{
	const struct scsi_opcode_info *rows;
	struct keel_scsi_task *t;
	size_t n_spc = scsi_spc_opcodes(&rows);
	size_t n = n_spc + 5; /* sbc 3 new rows (+1 duplicate), pr 2 */
	uint32_t prev = 0, key, i;
	bool seen_tur = false, seen_rcap = false, seen_rsoc = false;

	ut_setup();
	t = ut_rsoc(0, 0, 0, 8192);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(keel_from_be32(&g_buf[0]) == n * 8);
	CU_ASSERT(t->data_transferred == 4 + n * 8);
	for (i = 0; i < n; i++) {
		uint8_t *d = &g_buf[4 + i * 8];

		key = (uint32_t)d[0] << 16 | keel_from_be16(&d[2]);
		CU_ASSERT(i == 0 || key > prev);
		prev = key;
		CU_ASSERT((d[5] & ~0x01) == 0); /* no CTDP without RCTD */
		CU_ASSERT(d[5] & 0x01 ? true : keel_from_be16(&d[2]) == 0);
		seen_tur |= d[0] == 0x00;
		if (d[0] == 0x9e && keel_from_be16(&d[2]) == 0x10) {
			seen_rcap = (d[5] & 0x01) && keel_from_be16(&d[6]) == 16;
		}
		if (d[0] == 0xa3 && keel_from_be16(&d[2]) == 0x0c) {
			seen_rsoc = (d[5] & 0x01) && keel_from_be16(&d[6]) == 12;
		}
	}
	CU_ASSERT(seen_tur && seen_rcap && seen_rsoc);

	t = ut_rsoc(0, 0, 0, 10);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 10);
}

static void
rsoc_all_with_rctd_carries_timeout_descriptors(void)
{
	struct keel_scsi_task *t;
	uint32_t len, pos;
	int n = 0;

	ut_setup();
	t = ut_rsoc(0x80, 0, 0, 8192);
	CU_ASSERT(ut_good(t));
	len = keel_from_be32(&g_buf[0]);
	CU_ASSERT(len % 20 == 0);
	for (pos = 4; pos < 4 + len; pos += 20) {
		CU_ASSERT(g_buf[pos + 5] & 0x02);
		CU_ASSERT(keel_from_be16(&g_buf[pos + 8]) == 0x0a);
		if (g_buf[pos] == 0x9e && keel_from_be16(&g_buf[pos + 2]) == 0x10) {
			CU_ASSERT(keel_from_be32(&g_buf[pos + 12]) == 5);
			CU_ASSERT(keel_from_be32(&g_buf[pos + 16]) == 30);
		}
		n++;
	}
	CU_ASSERT(n > 20);
}

static void
rsoc_one_command_reports_support_and_usage(void)
{
	const struct scsi_opcode_info *rows;
	struct keel_scsi_task *t;
	size_t i, n;

	ut_setup();
	t = ut_rsoc(0x01, 0x12, 0, 512);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_buf[0] == 0 && g_buf[1] == 0x03);
	CU_ASSERT(keel_from_be16(&g_buf[2]) == 6);
	CU_ASSERT(t->data_transferred == 10);
	CU_ASSERT(g_buf[4] == 0x12 && g_buf[5] == 0x01 && g_buf[6] == 0xff && g_buf[9] == 0);

	/* With RCTD the timeouts descriptor follows. */
	t = ut_rsoc(0x81, 0x00, 0, 512);
	CU_ASSERT(g_buf[1] == 0x83);
	CU_ASSERT(t->data_transferred == 4 + 6 + 12);
	CU_ASSERT(keel_from_be16(&g_buf[10]) == 0x0a);

	/* An opcode nobody offers. */
	t = ut_rsoc(0x01, 0xc5, 0, 512);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_buf[1] == 0x01 && keel_from_be16(&g_buf[2]) == 0);
	CU_ASSERT(t->data_transferred == 4);

	/* Every row of spc.c reads back with its usage data. */
	n = scsi_spc_opcodes(&rows);
	for (i = 0; i < n; i++) {
		t = ut_rsoc(rows[i].has_sa ? 0x02 : 0x01, rows[i].opcode, rows[i].service_action,
			    512);
		CU_ASSERT(ut_good(t));
		CU_ASSERT(g_buf[1] == 0x03);
		CU_ASSERT(keel_from_be16(&g_buf[2]) == rows[i].cdb_len);
		CU_ASSERT(memcmp(&g_buf[4], rows[i].usage, rows[i].cdb_len) == 0);
	}
}

static void
rsoc_service_action_options_match_the_opcode(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	/* 001b on an opcode with service actions, 010b on one without. */
	t = ut_rsoc(0x01, 0x9e, 0x10, 512);
	CU_ASSERT(ut_invalid_cdb(t, 2, 2));
	t = ut_rsoc(0x02, 0x12, 0, 512);
	CU_ASSERT(ut_invalid_cdb(t, 2, 2));
	t = ut_rsoc(0x02, 0x9e, 0x10, 512);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_buf[1] == 0x03 && keel_from_be16(&g_buf[2]) == 16);
	CU_ASSERT(g_buf[4] == 0x9e && g_buf[5] == 0x10);
	/* Unknown service action of a known opcode. */
	t = ut_rsoc(0x02, 0x9e, 0x11, 512);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(g_buf[1] == 0x01);
	t = ut_rsoc(0x02, 0xc5, 0x01, 512);
	CU_ASSERT(g_buf[1] == 0x01);
	/* 011b takes either. */
	t = ut_rsoc(0x03, 0x9e, 0x12, 512);
	CU_ASSERT(g_buf[1] == 0x03 && g_buf[5] == 0x12);
	t = ut_rsoc(0x03, 0x12, 0x55, 512);
	CU_ASSERT(g_buf[1] == 0x03 && g_buf[4] == 0x12);
	/* Reserved reporting options. */
	t = ut_rsoc(0x04, 0x12, 0, 512);
	CU_ASSERT(ut_invalid_cdb(t, 2, 2));
	t = ut_rsoc(0x07, 0x12, 0, 512);
	CU_ASSERT(ut_invalid_cdb(t, 2, 2));
	t = ut_rsoc(0x08, 0x12, 0, 512);
	CU_ASSERT(ut_invalid_cdb(t, 2, 3));
}

static void
report_supported_tmfs_basic_and_extended(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(512, 0xa3, 0x0d, 0x00, 0, 0, 0, 0, 0, 0x02, 0x00, 0, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 4);
	CU_ASSERT(g_buf[0] == 0xdc && g_buf[1] == 0x07 && g_buf[2] == 0 && g_buf[3] == 0);
	t = RUN(512, 0xa3, 0x0d, 0x80, 0, 0, 0, 0, 0, 0x02, 0x00, 0, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 16);
	CU_ASSERT(g_buf[0] == 0xdc && g_buf[1] == 0x07 && g_buf[3] == 0x0c);
	CU_ASSERT(keel_from_be32(&g_buf[8]) == 0 && keel_from_be32(&g_buf[12]) == 0);
	t = RUN(512, 0xa3, 0x0d, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0, 0);
	CU_ASSERT(t->data_transferred == 2);
	t = RUN(512, 0xa3, 0x0d, 0x01, 0, 0, 0, 0, 0, 0x02, 0x00, 0, 0);
	CU_ASSERT(ut_invalid_cdb(t, 2, 0));
}

/*
 * Diagnostics.
 */
static void
send_diagnostic_passes_the_default_self_test_only(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(0, 0x1d, 0x04, 0, 0, 0, 0);
	CU_ASSERT(ut_good(t));
	t = RUN(0, 0x1d, 0x14, 0, 0, 0, 0);
	CU_ASSERT(ut_good(t));
	t = RUN(0, 0x1d, 0x10, 0, 0, 0, 0);
	CU_ASSERT(ut_invalid_cdb(t, 1, 2));
	t = RUN(0, 0x1d, 0x20, 0, 0, 0, 0);
	CU_ASSERT(ut_invalid_cdb(t, 1, 7));
	t = RUN(0, 0x1d, 0x04, 0, 0, 8, 0);
	CU_ASSERT(ut_invalid_cdb(t, 3, 7));
	t = RUN(0, 0x1d, 0x04, 0x01, 0, 0, 0);
	CU_ASSERT(ut_invalid_cdb(t, 2, 0));
}

static void
receive_diagnostic_lists_only_the_supported_pages_page(void)
{
	struct keel_scsi_task *t;

	ut_setup();
	t = RUN(255, 0x1c, 0x01, 0x00, 0, 255, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 5);
	CU_ASSERT(g_buf[0] == 0 && keel_from_be16(&g_buf[2]) == 1 && g_buf[4] == 0);
	t = RUN(255, 0x1c, 0x01, 0x80, 0, 255, 0);
	CU_ASSERT(ut_invalid_cdb(t, 2, 7));
	t = RUN(255, 0x1c, 0x00, 0x00, 0, 2, 0);
	CU_ASSERT(ut_good(t));
	CU_ASSERT(t->data_transferred == 2);
}

static const struct keel_ut_test g_tests[] = {
	KEEL_UT_TEST(sense_fixed_format_has_key_asc_ascq_and_field_pointer),
	KEEL_UT_TEST(sense_fixed_format_sets_valid_only_when_information_fits),
	KEEL_UT_TEST(sense_descriptor_format_has_information_and_sks_descriptors),
	KEEL_UT_TEST(set_status_picks_descriptor_format_from_task_or_lun),
	KEEL_UT_TEST(invalid_field_points_at_cdb_byte_and_bit),
	KEEL_UT_TEST(unknown_opcodes_are_left_to_other_command_sets),
	KEEL_UT_TEST(reserved_cdb_bits_are_invalid_field),
	KEEL_UT_TEST(every_command_row_accepts_its_own_usage_bits),
	KEEL_UT_TEST(test_unit_ready_is_good),
	KEEL_UT_TEST(maintenance_in_with_unknown_service_action_is_invalid_field),
	KEEL_UT_TEST(request_sense_without_unit_attention_is_no_sense),
	KEEL_UT_TEST(request_sense_returns_the_pending_unit_attention_as_data),
	KEEL_UT_TEST(request_sense_honours_the_allocation_length),
	KEEL_UT_TEST(inquiry_standard_data_layout),
	KEEL_UT_TEST(inquiry_is_cut_to_the_allocation_length),
	KEEL_UT_TEST(inquiry_page_code_without_evpd_is_invalid_field),
	KEEL_UT_TEST(inquiry_without_lun_reports_no_device_connected),
	KEEL_UT_TEST(vpd_supported_pages_list_what_the_lun_offers),
	KEEL_UT_TEST(vpd_unit_serial_is_the_uuid_in_hex),
	KEEL_UT_TEST(vpd_device_identification_designators),
	KEEL_UT_TEST(vpd_device_identification_without_target_port_has_no_port_designators),
	KEEL_UT_TEST(vpd_extended_inquiry_offers_task_attributes_only),
	KEEL_UT_TEST(vpd_block_limits_follow_the_bdev_and_unmap_support),
	KEEL_UT_TEST(vpd_block_limits_write_same_fits_one_transfer),
	KEEL_UT_TEST(vpd_block_characteristics_say_non_rotating),
	KEEL_UT_TEST(vpd_block_characteristics_say_reads_after_block_erase_are_good),
	KEEL_UT_TEST(vpd_logical_block_provisioning_is_thin_with_lbprz_from_the_bdev),
	KEEL_UT_TEST(vpd_third_party_copy_carries_the_xcopy_descriptors),
	KEEL_UT_TEST(vpd_unknown_page_is_invalid_field),
	KEEL_UT_TEST(vpd_page_is_cut_to_the_allocation_length),
	KEEL_UT_TEST(report_luns_lists_peripheral_and_flat_addresses),
	KEEL_UT_TEST(report_luns_cuts_to_the_allocation_length_but_refuses_less_than_16),
	KEEL_UT_TEST(report_luns_and_request_sense_work_without_a_lun),
	KEEL_UT_TEST(mode_sense6_all_pages_with_block_descriptor),
	KEEL_UT_TEST(mode_sense6_changeable_values_include_the_control_page),
	KEEL_UT_TEST(mode_sense10_block_descriptors_short_long_and_none),
	KEEL_UT_TEST(mode_sense_default_values_follow_the_bdev),
	KEEL_UT_TEST(mode_sense_saved_values_are_not_supported),
	KEEL_UT_TEST(mode_sense_unknown_page_or_subpage_is_invalid_field),
	KEEL_UT_TEST(mode_sense_is_cut_to_the_allocation_length),
	KEEL_UT_TEST(mode_sense_write_protect_bit_follows_swp),
	KEEL_UT_TEST(mode_select_round_trip_changes_wce_and_tells_the_other_initiators),
	KEEL_UT_TEST(mode_select10_d_sense_switches_sense_to_descriptor_format),
	KEEL_UT_TEST(mode_select_applies_every_changeable_field),
	KEEL_UT_TEST(mode_select_refuses_a_change_to_a_fixed_field),
	KEEL_UT_TEST(mode_select_refuses_malformed_lists),
	KEEL_UT_TEST(mode_select_save_pages_is_invalid_field_and_empty_list_is_good),
	KEEL_UT_TEST(start_stop_unit_is_good_without_loej),
	KEEL_UT_TEST(start_stop_unit_cannot_eject_a_fixed_medium),
	KEEL_UT_TEST(prevent_allow_keeps_the_flag_and_refuses_obsolete_values),
	KEEL_UT_TEST(read_defect_data_returns_an_empty_list_in_the_asked_format),
	KEEL_UT_TEST(log_sense_returns_the_supported_pages_and_counters),
	KEEL_UT_TEST(log_sense_refuses_unknown_pages_and_unsupported_bits),
	KEEL_UT_TEST(log_select_resets_but_sets_nothing),
	KEEL_UT_TEST(rsoc_all_lists_every_command_set_in_order_once),
	KEEL_UT_TEST(rsoc_all_with_rctd_carries_timeout_descriptors),
	KEEL_UT_TEST(rsoc_one_command_reports_support_and_usage),
	KEEL_UT_TEST(rsoc_service_action_options_match_the_opcode),
	KEEL_UT_TEST(report_supported_tmfs_basic_and_extended),
	KEEL_UT_TEST(send_diagnostic_passes_the_default_self_test_only),
	KEEL_UT_TEST(receive_diagnostic_lists_only_the_supported_pages_page),
};

int
main(void)
{
	return keel_ut_run("spc", g_tests, KEEL_COUNTOF(g_tests), NULL, NULL);
}
