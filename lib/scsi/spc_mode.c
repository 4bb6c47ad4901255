/*
 * MODE SENSE and MODE SELECT (SPC-4 6.11-6.14, SBC-3 6.4): the mode pages a LUN offers, their
 * current, changeable and default values, and the few parameters an initiator may change (WCE,
 * D_SENSE, SWP, DEXCPT, MRIE), which the LUN keeps in lun->mode under lun->lock.
 */
#include "keel/stdinc.h"
#include "keel/util.h"

#include "scsi_internal.h"

#define MODE_PC_CURRENT 0
#define MODE_PC_CHANGEABLE 1
#define MODE_PC_DEFAULT 2
#define MODE_PC_SAVED 3
#define MODE_SUBPAGE_ALL 0xff
#define MODE_PAGE_MAX_LEN 20
#define MODE_SENSE_BUF_LEN 256
#define MODE_SELECT_MAX_LEN 1024
#define MODE_DEVSPEC_WP 0x80
#define MODE_DEVSPEC_DPOFUA 0x10

/* The pages, in the order a request for all pages returns them. */
static const uint8_t g_mode_pages[] = {
	KEEL_SCSI_MODE_PAGE_RW_ERROR_RECOVERY,
	KEEL_SCSI_MODE_PAGE_DISCONNECT_RECONNECT,
	KEEL_SCSI_MODE_PAGE_CACHING,
	KEEL_SCSI_MODE_PAGE_CONTROL,
	KEEL_SCSI_MODE_PAGE_INFORMATIONAL_EXCEPTIONS,
};

static void
mode_defaults(struct keel_scsi_lun *lun, struct scsi_mode_state *st)
{
	memset(st, 0, sizeof(*st));
	st->wce = lun->bdev != NULL && keel_bdev_has_write_cache(lun->bdev);
}

void
scsi_spc_mode_init(struct keel_scsi_lun *lun)
{
	mode_defaults(lun, &lun->mode);
}

/*
 * One page in page_0 format; changeable values are the mask of what MODE SELECT may change.
 * Returns its length, 0 for a page keel does not have.
 */
static size_t
mode_page_len(uint8_t code)
{
	switch (code) {
	case KEEL_SCSI_MODE_PAGE_RW_ERROR_RECOVERY:
	case KEEL_SCSI_MODE_PAGE_CONTROL:
	case KEEL_SCSI_MODE_PAGE_INFORMATIONAL_EXCEPTIONS:
		return 12;
	case KEEL_SCSI_MODE_PAGE_DISCONNECT_RECONNECT:
		return 16;
	case KEEL_SCSI_MODE_PAGE_CACHING:
		return 20;
	default:
		return 0;
	}
}

static size_t
mode_page_build(uint8_t code, int pc, const struct scsi_mode_state *st, uint8_t *p)
{
	bool mask = pc == MODE_PC_CHANGEABLE;
	size_t len = mode_page_len(code);

	if (len == 0) {
		return 0;
	}
	memset(p, 0, len);
	p[0] = code;
	p[1] = (uint8_t)(len - 2);
	switch (code) {
	case KEEL_SCSI_MODE_PAGE_CACHING:
		if (mask || st->wce) {
			p[2] |= 0x04; /* WCE */
		}
		if (!mask && st->rcd) {
			p[2] |= 0x01; /* RCD */
		}
		break;
	case KEEL_SCSI_MODE_PAGE_CONTROL:
		if (mask || st->d_sense) {
			p[2] |= 0x04; /* D_SENSE */
		}
		if (mask || st->swp) {
			p[4] |= 0x08; /* SWP */
		}
		if (!mask) {
			p[3] = 0x10;                 /* QUEUE ALGORITHM MODIFIER 1: unrestricted */
			keel_to_be16(&p[8], 0xffff); /* BUSY TIMEOUT PERIOD: unlimited */
		}
		break;
	case KEEL_SCSI_MODE_PAGE_INFORMATIONAL_EXCEPTIONS:
		if (mask || st->dexcpt) {
			p[2] |= 0x08; /* DEXCPT */
		}
		p[3] = mask ? 0x0f : (st->mrie & 0x0f);
		break;
	default:
		/* Read-write error recovery and disconnect-reconnect: all zero, none changeable. */
		break;
	}
	return len;
}

static bool
mode_page_known(uint8_t code)
{
	size_t i;

	for (i = 0; i < sizeof(g_mode_pages); i++) {
		if (g_mode_pages[i] == code) {
			return true;
		}
	}
	return false;
}

static void
mode_snapshot(struct keel_scsi_lun *lun, struct scsi_mode_state *st)
{
	pthread_mutex_lock(&lun->lock);
	*st = lun->mode;
	pthread_mutex_unlock(&lun->lock);
}

/* The block descriptor (SBC-3 6.4.2): short (8 bytes) or, with LLBAA, long (16 bytes). */
static size_t
mode_block_descriptor(struct keel_scsi_lun *lun, bool llbaa, bool mask, uint8_t *p)
{
	uint64_t blocks = keel_bdev_get_num_blocks(lun->bdev);
	uint32_t block_size = keel_bdev_get_block_size(lun->bdev);

	if (llbaa) {
		memset(p, 0, 16);
		if (!mask) {
			keel_to_be64(&p[0], blocks);
			keel_to_be32(&p[12], block_size);
		}
		return 16;
	}
	memset(p, 0, 8);
	if (!mask) {
		keel_to_be32(&p[0], blocks > UINT32_MAX ? UINT32_MAX : (uint32_t)blocks);
		keel_to_be24(&p[5], block_size);
	}
	return 8;
}

void
scsi_spc_mode_sense(struct keel_scsi_task *task, struct keel_scsi_lun *lun)
{
	uint8_t buf[MODE_SENSE_BUF_LEN];
	struct scsi_mode_state st;
	bool ten = task->cdb[0] == KEEL_SCSI_MODE_SENSE_10;
	bool dbd = (task->cdb[1] & 0x08) != 0;
	bool llbaa = ten && (task->cdb[1] & 0x10) != 0;
	int pc = task->cdb[2] >> 6;
	uint8_t page = task->cdb[2] & 0x3f;
	uint8_t subpage = task->cdb[3];
	uint32_t alloc_len = ten ? keel_from_be16(&task->cdb[7]) : task->cdb[4];
	size_t hdr_len = ten ? 8 : 4;
	size_t pos, bd_len = 0, i;
	uint8_t devspec;

	if (pc == MODE_PC_SAVED) {
		uint8_t sks[3] = {0x40 | 0x08 | 7, 0, 2};

		scsi_task_set_sense(task, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
				    KEEL_SCSI_ASC_SAVING_PARAMETERS_NOT_SUPPORTED, sks, 0, false);
		return;
	}
	if (page != KEEL_SCSI_MODE_PAGE_ALL && !mode_page_known(page)) {
		scsi_task_invalid_field(task, 2, 5);
		return;
	}
	if (subpage != 0 && subpage != MODE_SUBPAGE_ALL) {
		scsi_task_invalid_field(task, 3, 7);
		return;
	}

	if (pc == MODE_PC_DEFAULT) {
		mode_defaults(lun, &st);
	} else {
		mode_snapshot(lun, &st);
	}
	memset(buf, 0, hdr_len);
	pos = hdr_len;
	if (!dbd) {
		bd_len = mode_block_descriptor(lun, llbaa, pc == MODE_PC_CHANGEABLE, &buf[pos]);
		pos += bd_len;
	}
	for (i = 0; i < sizeof(g_mode_pages); i++) {
		if (page == KEEL_SCSI_MODE_PAGE_ALL || page == g_mode_pages[i]) {
			pos += mode_page_build(g_mode_pages[i], pc, &st, &buf[pos]);
		}
	}

	devspec = MODE_DEVSPEC_DPOFUA;
	if (st.swp && pc != MODE_PC_CHANGEABLE) {
		devspec |= MODE_DEVSPEC_WP;
	}
	if (ten) {
		keel_to_be16(&buf[0], (uint16_t)(pos - 2));
		buf[3] = devspec;
		buf[4] = bd_len == 16 ? 0x01 : 0x00; /* LONGLBA */
		keel_to_be16(&buf[6], (uint16_t)bd_len);
	} else {
		buf[0] = (uint8_t)(pos - 1);
		buf[2] = devspec;
		buf[3] = (uint8_t)bd_len;
	}
	scsi_spc_data_in(task, buf, (uint32_t)pos, alloc_len);
}

/* A parameter list error with a field pointer into the list (C/D = 0). */
static void
mode_param_error(struct keel_scsi_task *task, int asc_ascq, size_t byte, int bit)
{
	uint8_t sks[3];

	sks[0] = bit >= 0 ? (uint8_t)(0x08 | (bit & 0x07)) : 0x00;
	keel_to_be16(&sks[1], (uint16_t)byte);
	scsi_task_set_sense(task, KEEL_SCSI_SENSE_ILLEGAL_REQUEST, asc_ascq, sks, 0, false);
}

static void
mode_list_length_error(struct keel_scsi_task *task)
{
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
				  KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
				  KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
}

static int
mode_msb(uint8_t v)
{
	int bit = 7;

	while (bit > 0 && !(v & (1u << bit))) {
		bit--;
	}
	return bit;
}

/* The block descriptor may only restate the LUN's geometry (or leave it as 0). */
static bool
mode_select_block_descriptor(struct keel_scsi_task *task, struct keel_scsi_lun *lun,
			     const uint8_t *bd, size_t bd_len, size_t off)
{
	uint64_t cur_blocks = keel_bdev_get_num_blocks(lun->bdev);
	uint32_t cur_len = keel_bdev_get_block_size(lun->bdev);
	uint64_t blocks;
	uint32_t len;

	if (bd_len == 16) {
		blocks = keel_from_be64(&bd[0]);
		len = keel_from_be32(&bd[12]);
		if (blocks != 0 && blocks != cur_blocks) {
			mode_param_error(task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST, off,
					 7);
			return false;
		}
		if (len != cur_len) {
			mode_param_error(task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST,
					 off + 12, 7);
			return false;
		}
		return true;
	}
	blocks = keel_from_be32(&bd[0]);
	len = keel_from_be24(&bd[5]);
	if (blocks != 0 && blocks != KEEL_MIN(cur_blocks, (uint64_t)UINT32_MAX)) {
		mode_param_error(task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST, off, 7);
		return false;
	}
	if (len != cur_len) {
		mode_param_error(task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST, off + 5, 7);
		return false;
	}
	return true;
}

/*
 * Check one page of the list against the current values: only changeable bits may differ.
 * On success the new values go into *next. Returns the page length, 0 after an error.
 */
static size_t
mode_select_page(struct keel_scsi_task *task, const uint8_t *p, size_t off, size_t avail,
		 const struct scsi_mode_state *cur, struct scsi_mode_state *next)
{
	uint8_t cur_page[MODE_PAGE_MAX_LEN], mask[MODE_PAGE_MAX_LEN];
	uint8_t code = p[0] & 0x3f;
	size_t len, i;

	if (avail < 2) {
		mode_list_length_error(task);
		return 0;
	}
	if (p[0] & 0x40) {
		/* SPF: keel has no subpages. */
		mode_param_error(task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST, off, 6);
		return 0;
	}
	len = mode_page_build(code, MODE_PC_CURRENT, cur, cur_page);
	if (len == 0) {
		mode_param_error(task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST, off, 5);
		return 0;
	}
	if ((size_t)p[1] + 2 != len) {
		mode_param_error(task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST, off + 1, 7);
		return 0;
	}
	if (avail < len) {
		mode_list_length_error(task);
		return 0;
	}
	mode_page_build(code, MODE_PC_CHANGEABLE, cur, mask);
	for (i = 2; i < len; i++) {
		uint8_t bad = (p[i] ^ cur_page[i]) & (uint8_t)~mask[i];

		if (bad != 0) {
			mode_param_error(task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST,
					 off + i, mode_msb(bad));
			return 0;
		}
	}

	switch (code) {
	case KEEL_SCSI_MODE_PAGE_CACHING:
		next->wce = (p[2] & 0x04) != 0;
		break;
	case KEEL_SCSI_MODE_PAGE_CONTROL:
		next->d_sense = (p[2] & 0x04) != 0;
		next->swp = (p[4] & 0x08) != 0;
		break;
	case KEEL_SCSI_MODE_PAGE_INFORMATIONAL_EXCEPTIONS:
		/* MRIE 0h and 2h-6h (SPC-4 7.5.9); 1h is obsolete, the rest reserved or vendor. */
		if ((p[3] & 0x0f) == 1 || (p[3] & 0x0f) > 6) {
			mode_param_error(task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST,
					 off + 3, 3);
			return 0;
		}
		next->dexcpt = (p[2] & 0x08) != 0;
		next->mrie = p[3] & 0x0f;
		break;
	default:
		break;
	}
	return len;
}

/* Validate the whole list and apply it: 1 if that changed a parameter, 0 if not, -1 after an
 * error (the task has its sense data). */
static int
mode_select_list(struct keel_scsi_task *task, struct keel_scsi_lun *lun, const uint8_t *buf,
		 size_t plen, bool ten)
{
	struct scsi_mode_state cur, next;
	size_t hdr_len = ten ? 8 : 4;
	size_t bd_len, pos, len;

	if (buf[ten ? 2 : 1] != 0) {
		/* MEDIUM TYPE: 00h for a direct access block device. */
		mode_param_error(task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST, ten ? 2 : 1,
				 7);
		return -1;
	}
	bd_len = ten ? keel_from_be16(&buf[6]) : buf[3];
	if (bd_len != 0 && bd_len != ((ten && (buf[4] & 0x01)) ? 16u : 8u)) {
		mode_param_error(task, KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST, ten ? 6 : 3,
				 7);
		return -1;
	}
	if (hdr_len + bd_len > plen) {
		mode_list_length_error(task);
		return -1;
	}
	if (bd_len != 0 &&
	    !mode_select_block_descriptor(task, lun, &buf[hdr_len], bd_len, hdr_len)) {
		return -1;
	}

	/* Validate and apply under the lock, so two MODE SELECTs cannot interleave. */
	pthread_mutex_lock(&lun->lock);
	cur = lun->mode;
	next = cur;
	for (pos = hdr_len + bd_len; pos < plen; pos += len) {
		len = mode_select_page(task, &buf[pos], pos, plen - pos, &cur, &next);
		if (len == 0) {
			pthread_mutex_unlock(&lun->lock);
			return -1;
		}
	}
	lun->mode = next;
	pthread_mutex_unlock(&lun->lock);
	return memcmp(&cur, &next, sizeof(cur)) != 0 ? 1 : 0;
}

void
scsi_spc_mode_select(struct keel_scsi_task *task, struct keel_scsi_lun *lun)
{
	uint8_t buf[MODE_SELECT_MAX_LEN];
	bool ten = task->cdb[0] == KEEL_SCSI_MODE_SELECT_10;
	size_t plen = ten ? keel_from_be16(&task->cdb[7]) : task->cdb[4];
	const char *initiator;
	int rc;

	if (task->cdb[1] & 0x01) {
		/* SP: keel has no saved pages. */
		scsi_task_invalid_field(task, 1, 0);
		return;
	}
	if (plen == 0) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
		return;
	}
	if (plen < (ten ? 8u : 4u) || plen > sizeof(buf) ||
	    scsi_task_gather(task, buf, (uint32_t)plen) < plen) {
		mode_list_length_error(task);
		return;
	}
	rc = mode_select_list(task, lun, buf, plen, ten);
	if (rc < 0) {
		return;
	}
	if (rc > 0) {
		/* SPC-4 6.11: every other I_T nexus learns that the parameters changed. */
		initiator = task->initiator_port != NULL ? task->initiator_port->name : NULL;
		scsi_lun_queue_ua(lun, NULL, initiator, KEEL_SCSI_ASC_MODE_PARAMETERS_CHANGED);
	}
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_GOOD, 0, 0);
}
