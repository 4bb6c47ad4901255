/*
 * The SCSI primary commands (SPC-4) that every logical unit answers, and the sense data they
 * and the other command sets return: a dispatcher that checks each CDB against its usage map
 * before the handler runs, REQUEST SENSE, REPORT LUNS, the log, diagnostic and defect commands,
 * and REPORT SUPPORTED OPERATION CODES / TASK MANAGEMENT FUNCTIONS.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/util.h"

#include "scsi_internal.h"

KEEL_LOG_REGISTER_COMPONENT(scsi)

#define SPC_SENSE_FIXED_LEN 18
#define SPC_SENSE_DESC_MAX_LEN 28 /* header, information and sense-key specific descriptors */
#define SPC_MAX_OPCODE_ROWS 256
#define SPC_RSOC_ALL_DESC_LEN 8
#define SPC_RSOC_TIMEOUTS_LEN 12

/*
 * Sense data (SPC-4 4.5).
 */
void
scsi_sense_build(uint8_t *buf, uint16_t *len, bool desc_format, int sk, int asc_ascq,
		 const uint8_t *sks, uint64_t info, bool info_valid)
{
	uint8_t *d;

	if (!desc_format) {
		/* Fixed format (70h): INFORMATION is 32 bits, VALID only when it fits. */
		memset(buf, 0, SPC_SENSE_FIXED_LEN);
		buf[0] = 0x70;
		if (info_valid && info <= UINT32_MAX) {
			buf[0] |= 0x80;
			keel_to_be32(&buf[3], (uint32_t)info);
		}
		buf[2] = (uint8_t)(sk & 0x0f);
		buf[7] = SPC_SENSE_FIXED_LEN - 8;
		buf[12] = (uint8_t)(asc_ascq >> 8);
		buf[13] = (uint8_t)asc_ascq;
		if (sks != NULL) {
			buf[15] = sks[0] | 0x80;
			buf[16] = sks[1];
			buf[17] = sks[2];
		}
		*len = SPC_SENSE_FIXED_LEN;
		return;
	}

	/* Descriptor format (72h) with the information (00h) and sense-key specific (02h)
	 * descriptors when there is something to put in them. */
	memset(buf, 0, SPC_SENSE_DESC_MAX_LEN);
	buf[0] = 0x72;
	buf[1] = (uint8_t)(sk & 0x0f);
	buf[2] = (uint8_t)(asc_ascq >> 8);
	buf[3] = (uint8_t)asc_ascq;
	d = &buf[8];
	if (info_valid) {
		d[0] = 0x00;
		d[1] = 0x0a;
		d[2] = 0x80;
		keel_to_be64(&d[4], info);
		d += 12;
	}
	if (sks != NULL) {
		d[0] = 0x02;
		d[1] = 0x06;
		d[4] = sks[0] | 0x80;
		d[5] = sks[1];
		d[6] = sks[2];
		d += 8;
	}
	buf[7] = (uint8_t)(d - buf - 8);
	*len = (uint16_t)(d - buf);
}

static struct keel_scsi_lun *
spc_task_lun(const struct keel_scsi_task *task)
{
	return task->lun_desc != NULL ? task->lun_desc->lun : NULL;
}

/* Descriptor format when the initiator asked for it or the LUN's D_SENSE bit is set. */
static bool
spc_wants_desc_sense(const struct keel_scsi_task *task)
{
	struct keel_scsi_lun *lun = spc_task_lun(task);

	return task->desc_sense ||
	       (lun != NULL && __atomic_load_n(&lun->mode.d_sense, __ATOMIC_RELAXED));
}

void
scsi_task_set_sense(struct keel_scsi_task *task, int sk, int asc_ascq, const uint8_t *sks,
		    uint64_t info, bool info_valid)
{
	KEEL_STATIC_ASSERT(KEEL_SCSI_SENSE_BUF_LEN >= SPC_SENSE_DESC_MAX_LEN, "sense buffer");
	task->status = KEEL_SCSI_STATUS_CHECK_CONDITION;
	scsi_sense_build(task->sense_data, &task->sense_data_len, spc_wants_desc_sense(task), sk,
			 asc_ascq, sks, info, info_valid);
}

void
keel_scsi_task_set_status(struct keel_scsi_task *task, int sc, int sk, int asc_ascq)
{
	if (sc == KEEL_SCSI_STATUS_CHECK_CONDITION) {
		scsi_task_set_sense(task, sk, asc_ascq, NULL, 0, false);
		return;
	}
	task->status = (uint8_t)sc;
	task->sense_data_len = 0;
}

/* Sense-key specific field pointer (SPC-4 4.5.2.4.2): C/D, BPV and bit, then the byte. */
static void
spc_field_pointer(uint8_t sks[3], bool in_cdb, int byte, int bit)
{
	sks[0] = in_cdb ? 0x40 : 0x00;
	if (bit >= 0) {
		sks[0] |= 0x08 | (uint8_t)(bit & 0x07);
	}
	keel_to_be16(&sks[1], (uint16_t)byte);
}

void
scsi_task_invalid_field(struct keel_scsi_task *task, int byte, int bit)
{
	uint8_t sks[3];

	spc_field_pointer(sks, true, byte, bit);
	scsi_task_set_sense(task, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			    KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB, sks, 0, false);
}

void
scsi_spc_data_in(struct keel_scsi_task *task, const void *buf, uint32_t len, uint32_t alloc_len)
{
	scsi_task_scatter(task, buf, KEEL_MIN(len, alloc_len));
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
}

static int
spc_msb(uint8_t v)
{
	int bit = 7;

	while (bit > 0 && !(v & (1u << bit))) {
		bit--;
	}
	return bit;
}

/*
 * The commands of this file, with their CDB usage data (SPC-4 6.35.3): a bit set means the
 * device server looks at it, so any other bit set in a CDB is a reserved bit and an error.
 * REPORT SUPPORTED OPERATION CODES publishes the same rows.
 */
/* clang-format off */
#define SPC_CMD(op, sa, has_sa_, len, ...)                                                         \
	{ .opcode = (op), .service_action = (sa), .has_sa = (has_sa_), .cdb_len = (len),           \
	  .usage = { (op), __VA_ARGS__ } }
/* clang-format on */
#define SPC_ROW(op, len, ...) SPC_CMD(op, 0, false, len, __VA_ARGS__)
/* A service action of MAINTENANCE IN: byte 1 holds only the service action. */
#define SPC_ROW_MI(sa, ...) SPC_CMD(KEEL_SCSI_MAINTENANCE_IN, sa, true, 12, (sa), __VA_ARGS__)

static const struct scsi_opcode_info g_spc_opcodes[] = {
	SPC_ROW(KEEL_SCSI_TEST_UNIT_READY, 6, 0x00, 0x00, 0x00, 0x00, 0x00),
	SPC_ROW(KEEL_SCSI_REQUEST_SENSE, 6, 0x01, 0x00, 0x00, 0xff, 0x00),
	SPC_ROW(KEEL_SCSI_INQUIRY, 6, 0x01, 0xff, 0xff, 0xff, 0x00),
	SPC_ROW(KEEL_SCSI_MODE_SELECT_6, 6, 0x11, 0x00, 0x00, 0xff, 0x00),
	SPC_ROW(KEEL_SCSI_MODE_SENSE_6, 6, 0x08, 0xff, 0xff, 0xff, 0x00),
	SPC_ROW(KEEL_SCSI_START_STOP_UNIT, 6, 0x01, 0x00, 0x0f, 0xf7, 0x00),
	SPC_ROW(KEEL_SCSI_RECEIVE_DIAGNOSTIC, 6, 0x01, 0xff, 0xff, 0xff, 0x00),
	SPC_ROW(KEEL_SCSI_SEND_DIAGNOSTIC, 6, 0xf7, 0x00, 0xff, 0xff, 0x00),
	SPC_ROW(KEEL_SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL, 6, 0x00, 0x00, 0x00, 0x03, 0x00),
	SPC_ROW(KEEL_SCSI_READ_DEFECT_DATA_10, 10, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
		0x00),
	SPC_ROW(KEEL_SCSI_LOG_SELECT, 10, 0x03, 0xff, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00),
	SPC_ROW(KEEL_SCSI_LOG_SENSE, 10, 0x03, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00),
	SPC_ROW(KEEL_SCSI_MODE_SELECT_10, 10, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00),
	SPC_ROW(KEEL_SCSI_MODE_SENSE_10, 10, 0x18, 0xff, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00),
	SPC_ROW(KEEL_SCSI_REPORT_LUNS, 12, 0x00, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
		0x00, 0x00),
	SPC_ROW_MI(KEEL_SCSI_MI_REPORT_SUPPORTED_OPCODES, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		   0xff, 0x00, 0x00),
	SPC_ROW_MI(KEEL_SCSI_MI_REPORT_SUPPORTED_TMFS, 0x80, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
		   0xff, 0x00, 0x00),
	SPC_ROW(KEEL_SCSI_READ_DEFECT_DATA_12, 12, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0x00, 0x00),
};

size_t
scsi_spc_opcodes(const struct scsi_opcode_info **rows)
{
	*rows = g_spc_opcodes;
	return KEEL_COUNTOF(g_spc_opcodes);
}

static const struct scsi_opcode_info *
spc_find_row(const struct keel_scsi_task *task)
{
	uint8_t sa = task->cdb[1] & 0x1f;
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(g_spc_opcodes); i++) {
		const struct scsi_opcode_info *row = &g_spc_opcodes[i];

		if (row->opcode == task->cdb[0] && (!row->has_sa || row->service_action == sa)) {
			return row;
		}
	}
	return NULL;
}

/* Reject a CDB with a bit set outside the command's usage map; true if it is clean. */
static bool
spc_check_cdb(struct keel_scsi_task *task, const struct scsi_opcode_info *row)
{
	int i;

	for (i = 1; i < row->cdb_len; i++) {
		uint8_t bad = task->cdb[i] & (uint8_t)~row->usage[i];

		if (bad != 0) {
			scsi_task_invalid_field(task, i, spc_msb(bad));
			return false;
		}
	}
	return true;
}

/*
 * REQUEST SENSE (SPC-4 6.39): a pending unit attention for this I_T nexus, else NO SENSE, as
 * parameter data in the format the DESC bit asks for.
 */
static void
spc_sense_parse(const uint8_t *sense, uint16_t len, int *sk, int *asc_ascq)
{
	*sk = KEEL_SCSI_SENSE_NO_SENSE;
	*asc_ascq = KEEL_SCSI_ASC_NO_ADDITIONAL_SENSE;
	if (len >= 4 && (sense[0] & 0x7e) == 0x72) {
		*sk = sense[1] & 0x0f;
		*asc_ascq = (sense[2] << 8) | sense[3];
	} else if (len >= 14 && (sense[0] & 0x7e) == 0x70) {
		*sk = sense[2] & 0x0f;
		*asc_ascq = (sense[12] << 8) | sense[13];
	}
}

static void
spc_request_sense(struct keel_scsi_task *task, struct keel_scsi_lun *lun)
{
	uint8_t buf[SPC_SENSE_DESC_MAX_LEN];
	uint16_t len;
	int sk = KEEL_SCSI_SENSE_NO_SENSE;
	int asc_ascq = KEEL_SCSI_ASC_NO_ADDITIONAL_SENSE;

	if (lun == NULL) {
		sk = KEEL_SCSI_SENSE_ILLEGAL_REQUEST;
		asc_ascq = KEEL_SCSI_ASC_LOGICAL_UNIT_NOT_SUPPORTED;
	} else if (scsi_lun_take_ua(lun, task)) {
		/* The UA was put on the task as CHECK CONDITION: move it to the data. */
		spc_sense_parse(task->sense_data, task->sense_data_len, &sk, &asc_ascq);
	}
	scsi_sense_build(buf, &len, (task->cdb[1] & 0x01) != 0, sk, asc_ascq, NULL, 0, false);
	scsi_spc_data_in(task, buf, len, task->cdb[4]);
}

/*
 * REPORT LUNS (SPC-4 6.33): single level LUNs, peripheral device addressing below 256 and flat
 * space addressing above.
 */
static void
spc_report_luns(struct keel_scsi_task *task)
{
	struct keel_scsi_dev *dev = task->dev;
	struct keel_scsi_lun *lun;
	uint8_t buf[8 + 8 * KEEL_SCSI_DEV_MAX_LUN];
	uint32_t alloc_len = keel_from_be32(&task->cdb[6]);
	uint32_t pos = 8;
	uint8_t select = task->cdb[2];

	if (select > 0x02) {
		scsi_task_invalid_field(task, 2, 7);
		return;
	}
	if (alloc_len < 16) {
		scsi_task_invalid_field(task, 6, 7);
		return;
	}
	memset(buf, 0, sizeof(buf));
	/* SELECT REPORT 01h asks for the well-known logical units only: keel has none. */
	if (select != 0x01 && dev != NULL) {
		pthread_mutex_lock(&dev->lock);
		TAILQ_FOREACH (lun, &dev->luns, link) {
			if (lun->removing || pos + 8 > sizeof(buf)) {
				continue;
			}
			if (lun->id < 256) {
				buf[pos + 1] = (uint8_t)lun->id;
			} else if (lun->id < 0x4000) {
				buf[pos] = 0x40 | (uint8_t)(lun->id >> 8);
				buf[pos + 1] = (uint8_t)lun->id;
			} else {
				continue;
			}
			pos += 8;
		}
		pthread_mutex_unlock(&dev->lock);
	}
	keel_to_be32(&buf[0], pos - 8);
	scsi_spc_data_in(task, buf, pos, alloc_len);
}

/*
 * START STOP UNIT (SBC-3 5.25): the medium is not removable, so there is nothing to load or
 * eject; power conditions are accepted and ignored.
 */
static void
spc_start_stop_unit(struct keel_scsi_task *task, struct keel_scsi_lun *lun)
{
	bool prevent;

	if (task->cdb[4] & 0x02) {
		pthread_mutex_lock(&lun->lock);
		prevent = lun->prevent_removal;
		pthread_mutex_unlock(&lun->lock);
		if (prevent) {
			keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
						  KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
						  KEEL_SCSI_ASC_MEDIUM_REMOVAL_PREVENTED);
		} else {
			scsi_task_invalid_field(task, 4, 1);
		}
		return;
	}
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
}

/* PREVENT ALLOW MEDIUM REMOVAL (SBC-3 5.11): 00b allow, 01b prevent; the others are obsolete. */
static void
spc_prevent_allow(struct keel_scsi_task *task, struct keel_scsi_lun *lun)
{
	uint8_t prevent = task->cdb[4] & 0x03;

	if (prevent > 1) {
		scsi_task_invalid_field(task, 4, 1);
		return;
	}
	pthread_mutex_lock(&lun->lock);
	lun->prevent_removal = prevent == 1;
	pthread_mutex_unlock(&lun->lock);
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
}

/* READ DEFECT DATA (10) and (12) (SBC-3 5.14, 5.15): an empty list in the requested format. */
static void
spc_read_defect_data(struct keel_scsi_task *task)
{
	uint8_t buf[8];

	memset(buf, 0, sizeof(buf));
	if (task->cdb[0] == KEEL_SCSI_READ_DEFECT_DATA_10) {
		buf[1] = task->cdb[2] & 0x1f;
		scsi_spc_data_in(task, buf, 4, keel_from_be16(&task->cdb[7]));
	} else {
		buf[1] = task->cdb[1] & 0x1f;
		scsi_spc_data_in(task, buf, 8, keel_from_be32(&task->cdb[6]));
	}
}

/*
 * LOG SENSE / LOG SELECT (SPC-4 6.6, 6.7, 7.3): supported pages, write and read error counters
 * (nothing to count on a bdev) and informational exceptions (never a failure).
 */
#define SPC_LOG_SUPPORTED_PAGES 0x00
#define SPC_LOG_WRITE_ERRORS 0x02
#define SPC_LOG_READ_ERRORS 0x03
#define SPC_LOG_INFO_EXCEPTIONS 0x2f
#define SPC_LOG_COUNTERS 7 /* parameters 0000h-0006h of the error counter pages */

static const uint8_t g_spc_log_pages[] = {
	SPC_LOG_SUPPORTED_PAGES,
	SPC_LOG_WRITE_ERRORS,
	SPC_LOG_READ_ERRORS,
	SPC_LOG_INFO_EXCEPTIONS,
};

/* Parameters of a page from code `first` on; returns the page length, -1 if first is past the
 * last parameter. */
static int
spc_log_page_build(uint8_t page, uint16_t first, uint8_t *buf)
{
	uint32_t pos = 4;
	uint16_t code;
	size_t i;

	buf[0] = page;
	switch (page) {
	case SPC_LOG_SUPPORTED_PAGES:
		for (i = 0; i < sizeof(g_spc_log_pages); i++) {
			buf[pos++] = g_spc_log_pages[i];
		}
		break;
	case SPC_LOG_WRITE_ERRORS:
	case SPC_LOG_READ_ERRORS:
		if (first >= SPC_LOG_COUNTERS) {
			return -1;
		}
		for (code = first; code < SPC_LOG_COUNTERS; code++) {
			keel_to_be16(&buf[pos], code);
			buf[pos + 2] = 0x02; /* binary format list */
			buf[pos + 3] = 8;
			memset(&buf[pos + 4], 0, 8);
			pos += 12;
		}
		break;
	case SPC_LOG_INFO_EXCEPTIONS:
		if (first > 0) {
			return -1;
		}
		keel_to_be16(&buf[pos], 0x0000);
		buf[pos + 2] = 0x03;
		buf[pos + 3] = 4;
		buf[pos + 4] = 0; /* INFORMATIONAL EXCEPTION ASC: none */
		buf[pos + 5] = 0;
		buf[pos + 6] = 0xff; /* MOST RECENT TEMPERATURE READING: not available */
		buf[pos + 7] = 0;
		pos += 8;
		break;
	default:
		return -1;
	}
	keel_to_be16(&buf[2], (uint16_t)(pos - 4));
	return (int)pos;
}

static void
spc_log_sense(struct keel_scsi_task *task)
{
	uint8_t buf[4 + SPC_LOG_COUNTERS * 12];
	uint8_t page = task->cdb[2] & 0x3f;
	uint16_t first = keel_from_be16(&task->cdb[5]);
	size_t i;
	int len;

	if (task->cdb[1] & 0x01) {
		/* SP: keel saves no log parameters. */
		scsi_task_invalid_field(task, 1, 0);
		return;
	}
	if (task->cdb[1] & 0x02) {
		/* PPC: parameter pointer control (only changed parameters) is not offered. */
		scsi_task_invalid_field(task, 1, 1);
		return;
	}
	if (task->cdb[3] != 0) {
		scsi_task_invalid_field(task, 3, 7);
		return;
	}
	for (i = 0; i < sizeof(g_spc_log_pages); i++) {
		if (g_spc_log_pages[i] == page) {
			break;
		}
	}
	if (i == sizeof(g_spc_log_pages)) {
		scsi_task_invalid_field(task, 2, 5);
		return;
	}
	memset(buf, 0, sizeof(buf));
	len = spc_log_page_build(page, first, buf);
	if (len < 0) {
		scsi_task_invalid_field(task, 5, 7);
		return;
	}
	scsi_spc_data_in(task, buf, (uint32_t)len, keel_from_be16(&task->cdb[7]));
}

static void
spc_log_select(struct keel_scsi_task *task)
{
	if (task->cdb[1] & 0x01) {
		scsi_task_invalid_field(task, 1, 0);
		return;
	}
	if (keel_from_be16(&task->cdb[7]) != 0) {
		/* No log parameter can be set. */
		scsi_task_invalid_field(task, 7, 7);
		return;
	}
	/* PCR, or PC with no list: reset to defaults, which the counters already are. */
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
}

/*
 * SEND DIAGNOSTIC / RECEIVE DIAGNOSTIC RESULTS (SPC-4 6.32, 6.42): the default self-test
 * passes at once; the only diagnostic page is the list of supported pages.
 */
static void
spc_send_diagnostic(struct keel_scsi_task *task)
{
	uint8_t self_test_code = task->cdb[1] >> 5;

	if (!(task->cdb[1] & 0x04) || self_test_code != 0) {
		scsi_task_invalid_field(task, 1, self_test_code != 0 ? 7 : 2);
		return;
	}
	if (keel_from_be16(&task->cdb[3]) != 0) {
		scsi_task_invalid_field(task, 3, 7);
		return;
	}
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
}

static void
spc_receive_diagnostic(struct keel_scsi_task *task)
{
	uint8_t buf[5] = {0x00, 0x00, 0x00, 0x01, 0x00};

	if ((task->cdb[1] & 0x01) && task->cdb[2] != 0x00) {
		scsi_task_invalid_field(task, 2, 7);
		return;
	}
	scsi_spc_data_in(task, buf, sizeof(buf), keel_from_be16(&task->cdb[3]));
}

/*
 * REPORT SUPPORTED OPERATION CODES (SPC-4 6.35): the rows of every command set, in opcode and
 * service action order.
 */
static int
spc_row_cmp(const void *a, const void *b)
{
	const struct scsi_opcode_info *x = *(const struct scsi_opcode_info *const *)a;
	const struct scsi_opcode_info *y = *(const struct scsi_opcode_info *const *)b;

	if (x->opcode != y->opcode) {
		return x->opcode < y->opcode ? -1 : 1;
	}
	if (x->service_action != y->service_action) {
		return x->service_action < y->service_action ? -1 : 1;
	}
	return 0;
}

static size_t
spc_collect_rows(const struct scsi_opcode_info **out, size_t max)
{
	size_t (*const sets[])(const struct scsi_opcode_info **) = {
		scsi_spc_opcodes,
		scsi_sbc_opcodes,
		scsi_pr_opcodes,
		scsi_xcopy_opcodes,
	};
	const struct scsi_opcode_info *rows;
	size_t i, j, n, count = 0, uniq = 0;

	for (i = 0; i < KEEL_COUNTOF(sets); i++) {
		n = sets[i](&rows);
		for (j = 0; j < n && count < max; j++) {
			out[count++] = &rows[j];
		}
	}
	qsort(out, count, sizeof(out[0]), spc_row_cmp);
	/* A command two sets both list is reported once. */
	for (i = 0; i < count; i++) {
		if (uniq == 0 || spc_row_cmp(&out[uniq - 1], &out[i]) != 0) {
			out[uniq++] = out[i];
		}
	}
	return uniq;
}

static uint32_t
spc_put_timeouts(uint8_t *p, const struct scsi_opcode_info *row)
{
	memset(p, 0, SPC_RSOC_TIMEOUTS_LEN);
	keel_to_be16(&p[0], SPC_RSOC_TIMEOUTS_LEN - 2);
	keel_to_be32(&p[4], row->nominal_timeout_s);
	keel_to_be32(&p[8], row->recommended_timeout_s);
	return SPC_RSOC_TIMEOUTS_LEN;
}

static void
spc_rsoc_all(struct keel_scsi_task *task, const struct scsi_opcode_info **rows, size_t n, bool rctd,
	     uint32_t alloc_len)
{
	uint8_t buf[4 + SPC_MAX_OPCODE_ROWS * (SPC_RSOC_ALL_DESC_LEN + SPC_RSOC_TIMEOUTS_LEN)];
	uint32_t pos = 4;
	size_t i;

	memset(buf, 0, 4);
	for (i = 0; i < n; i++) {
		uint8_t *d = &buf[pos];

		memset(d, 0, SPC_RSOC_ALL_DESC_LEN);
		d[0] = rows[i]->opcode;
		if (rows[i]->has_sa) {
			keel_to_be16(&d[2], rows[i]->service_action);
			d[5] |= 0x01; /* SERVACTV */
		}
		keel_to_be16(&d[6], rows[i]->cdb_len);
		pos += SPC_RSOC_ALL_DESC_LEN;
		if (rctd) {
			d[5] |= 0x02; /* CTDP */
			pos += spc_put_timeouts(&buf[pos], rows[i]);
		}
	}
	keel_to_be32(&buf[0], pos - 4);
	scsi_spc_data_in(task, buf, pos, alloc_len);
}

static void
spc_rsoc_one(struct keel_scsi_task *task, const struct scsi_opcode_info *row, bool rctd,
	     uint32_t alloc_len)
{
	uint8_t buf[4 + sizeof(row->usage) + SPC_RSOC_TIMEOUTS_LEN];
	uint32_t pos = 4;

	memset(buf, 0, sizeof(buf));
	if (row == NULL) {
		buf[1] = 0x01; /* SUPPORT: not supported */
		scsi_spc_data_in(task, buf, pos, alloc_len);
		return;
	}
	buf[1] = 0x03; /* SUPPORT: supported as the standard says */
	keel_to_be16(&buf[2], row->cdb_len);
	memcpy(&buf[pos], row->usage, row->cdb_len);
	pos += row->cdb_len;
	if (rctd) {
		buf[1] |= 0x80;
		pos += spc_put_timeouts(&buf[pos], row);
	}
	scsi_spc_data_in(task, buf, pos, alloc_len);
}

static void
spc_report_supported_opcodes(struct keel_scsi_task *task)
{
	const struct scsi_opcode_info *rows[SPC_MAX_OPCODE_ROWS];
	const struct scsi_opcode_info *row = NULL;
	bool rctd = (task->cdb[2] & 0x80) != 0;
	uint8_t options = task->cdb[2] & 0x07;
	uint8_t opcode = task->cdb[3];
	uint16_t sa = keel_from_be16(&task->cdb[4]);
	uint32_t alloc_len = keel_from_be32(&task->cdb[6]);
	bool opcode_has_sa = false;
	size_t i, n;

	n = spc_collect_rows(rows, KEEL_COUNTOF(rows));
	if (options == 0) {
		spc_rsoc_all(task, rows, n, rctd, alloc_len);
		return;
	}
	if (options > 3) {
		scsi_task_invalid_field(task, 2, 2);
		return;
	}
	for (i = 0; i < n; i++) {
		if (rows[i]->opcode != opcode) {
			continue;
		}
		opcode_has_sa = rows[i]->has_sa;
		if (!rows[i]->has_sa || rows[i]->service_action == sa) {
			row = rows[i];
			break;
		}
	}
	/* 001b names an opcode without service actions, 010b one with them; 011b either. */
	if ((options == 1 && opcode_has_sa) || (options == 2 && row != NULL && !row->has_sa)) {
		scsi_task_invalid_field(task, 2, 2);
		return;
	}
	spc_rsoc_one(task, row, rctd, alloc_len);
}

/*
 * REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 6.36): ABORT TASK, ABORT TASK SET,
 * CLEAR TASK SET, LOGICAL UNIT RESET, QUERY TASK, QUERY TASK SET, QUERY ASYNCHRONOUS EVENT,
 * I_T NEXUS RESET; REPD asks for the extended format (no timeouts reported).
 */
static void
spc_report_supported_tmfs(struct keel_scsi_task *task)
{
	uint8_t buf[16];
	bool repd = (task->cdb[2] & 0x80) != 0;

	memset(buf, 0, sizeof(buf));
	buf[0] = 0x80 | 0x40 | 0x10 | 0x08 | 0x04; /* ATS ATSS CTSS LURS QTS */
	buf[1] = 0x04 | 0x02 | 0x01;               /* QAES QTSS ITNRS */
	if (repd) {
		buf[3] = 0x0c;
	}
	scsi_spc_data_in(task, buf, repd ? 16 : 4, keel_from_be32(&task->cdb[6]));
}

static void
spc_maintenance_in(struct keel_scsi_task *task)
{
	switch (task->cdb[1] & 0x1f) {
	case KEEL_SCSI_MI_REPORT_SUPPORTED_OPCODES:
		spc_report_supported_opcodes(task);
		break;
	case KEEL_SCSI_MI_REPORT_SUPPORTED_TMFS:
		spc_report_supported_tmfs(task);
		break;
	default:
		scsi_task_invalid_field(task, 1, 4);
		break;
	}
}

/* Run the command the row describes; lun may be NULL only for the no-LUN commands. */
static void
spc_run(struct keel_scsi_task *task, struct keel_scsi_lun *lun)
{
	switch (task->cdb[0]) {
	case KEEL_SCSI_TEST_UNIT_READY:
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
		break;
	case KEEL_SCSI_REQUEST_SENSE:
		spc_request_sense(task, lun);
		break;
	case KEEL_SCSI_INQUIRY:
		scsi_spc_inquiry(task, lun);
		break;
	case KEEL_SCSI_REPORT_LUNS:
		spc_report_luns(task);
		break;
	case KEEL_SCSI_MODE_SENSE_6:
	case KEEL_SCSI_MODE_SENSE_10:
		scsi_spc_mode_sense(task, lun);
		break;
	case KEEL_SCSI_MODE_SELECT_6:
	case KEEL_SCSI_MODE_SELECT_10:
		scsi_spc_mode_select(task, lun);
		break;
	case KEEL_SCSI_START_STOP_UNIT:
		spc_start_stop_unit(task, lun);
		break;
	case KEEL_SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL:
		spc_prevent_allow(task, lun);
		break;
	case KEEL_SCSI_READ_DEFECT_DATA_10:
	case KEEL_SCSI_READ_DEFECT_DATA_12:
		spc_read_defect_data(task);
		break;
	case KEEL_SCSI_LOG_SENSE:
		spc_log_sense(task);
		break;
	case KEEL_SCSI_LOG_SELECT:
		spc_log_select(task);
		break;
	case KEEL_SCSI_SEND_DIAGNOSTIC:
		spc_send_diagnostic(task);
		break;
	case KEEL_SCSI_RECEIVE_DIAGNOSTIC:
		spc_receive_diagnostic(task);
		break;
	case KEEL_SCSI_MAINTENANCE_IN:
		spc_maintenance_in(task);
		break;
	default:
		assert(false);
		break;
	}
}

bool
scsi_spc_execute(struct keel_scsi_task *task)
{
	struct keel_scsi_lun *lun = spc_task_lun(task);
	const struct scsi_opcode_info *row;

	if (lun == NULL) {
		return scsi_spc_execute_no_lun(task);
	}
	row = spc_find_row(task);
	if (row == NULL) {
		/* MAINTENANCE IN is all ours: an unknown service action is a bad field. */
		if (task->cdb[0] != KEEL_SCSI_MAINTENANCE_IN) {
			return false;
		}
		scsi_task_invalid_field(task, 1, 4);
	} else if (spc_check_cdb(task, row)) {
		spc_run(task, lun);
	}
	scsi_task_complete(task);
	return true;
}

/*
 * A LUN that does not exist (SPC-4 4.2.2 / SAM-5 5.8.4): INQUIRY says so through its
 * peripheral qualifier, REPORT LUNS and REQUEST SENSE work, everything else is rejected.
 */
bool
scsi_spc_execute_no_lun(struct keel_scsi_task *task)
{
	const struct scsi_opcode_info *row;

	switch (task->cdb[0]) {
	case KEEL_SCSI_INQUIRY:
	case KEEL_SCSI_REPORT_LUNS:
	case KEEL_SCSI_REQUEST_SENSE:
		row = spc_find_row(task);
		if (spc_check_cdb(task, row)) {
			spc_run(task, NULL);
		}
		break;
	default:
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
					  KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
					  KEEL_SCSI_ASC_LOGICAL_UNIT_NOT_SUPPORTED);
		break;
	}
	scsi_task_complete(task);
	return true;
}
