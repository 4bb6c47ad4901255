/*
 * INQUIRY (SPC-4 6.6): the standard data and the vital product data pages keel offers. The
 * identifiers come from the bdev UUID, which the saved configuration keeps, so a LUN reads the
 * same serial number and NAA name after a restart.
 */
#include "keel/stdinc.h"
#include "keel/util.h"

#include "scsi_internal.h"

#define VPD_STD_INQUIRY_LEN 96
#define VPD_BUF_LEN 1024
#define VPD_PQ_NOT_CONNECTED 0x7f /* peripheral qualifier 011b, device type 1Fh */
#define VPD_SCSI_NAME_MAX 256

/* Version descriptors (SPC-4 table 141 and its references). */
#define VPD_VERSION_SAM5 0x00a0
#define VPD_VERSION_ISCSI 0x0960
#define VPD_VERSION_SPC4 0x0460
#define VPD_VERSION_SBC3 0x04c0

/* Designator fields (SPC-4 7.8.6). */
#define VPD_CODE_SET_BINARY 1
#define VPD_CODE_SET_ASCII 2
#define VPD_CODE_SET_UTF8 3
#define VPD_ASSOC_LU 0x00
#define VPD_ASSOC_PORT 0x10
#define VPD_ASSOC_TARGET 0x20
#define VPD_PIV 0x80
#define VPD_DESIG_T10 0x1
#define VPD_DESIG_NAA 0x3
#define VPD_DESIG_REL_PORT 0x4
#define VPD_DESIG_TPG 0x5
#define VPD_DESIG_SCSI_NAME 0x8

/* Space-padded ASCII field (SPC-4 4.4.1): other bytes than 20h-7Eh become spaces. */
static void
vpd_put_ascii(uint8_t *dst, size_t len, const char *src)
{
	size_t i, n = strlen(src);

	for (i = 0; i < len; i++) {
		char c = i < n ? src[i] : ' ';

		dst[i] = (c >= 0x20 && c <= 0x7e) ? (uint8_t)c : ' ';
	}
}

static bool
vpd_unmap_supported(struct keel_scsi_lun *lun)
{
	return keel_bdev_io_type_supported(lun->bdev, KEEL_BDEV_IO_TYPE_UNMAP);
}

/* EXTENDED COPY is offered when xcopy.c has third-party copy descriptors for the LUN. */
static bool
vpd_xcopy_offered(struct keel_scsi_lun *lun)
{
	uint8_t probe[4];

	return scsi_xcopy_vpd_8f(lun, probe, sizeof(probe)) > 0;
}

static uint32_t
vpd_standard(struct keel_scsi_lun *lun, uint8_t *buf)
{
	static const uint16_t versions[] = {
		VPD_VERSION_SAM5,
		VPD_VERSION_ISCSI,
		VPD_VERSION_SPC4,
		VPD_VERSION_SBC3,
	};
	size_t i;

	memset(buf, 0, VPD_STD_INQUIRY_LEN);
	buf[0] = lun != NULL ? 0x00 : VPD_PQ_NOT_CONNECTED;
	buf[2] = 0x06;        /* VERSION: SPC-4 */
	buf[3] = 0x10 | 0x02; /* HISUP, RESPONSE DATA FORMAT 2 */
	buf[4] = VPD_STD_INQUIRY_LEN - 5;
	if (lun != NULL && vpd_xcopy_offered(lun)) {
		buf[5] = 0x08; /* 3PC: EXTENDED COPY */
	}
	buf[7] = 0x02; /* CMDQUE */
	memcpy(&buf[8], SCSI_VENDOR_ID, 8);
	vpd_put_ascii(&buf[16], 16, lun != NULL ? keel_bdev_get_product_name(lun->bdev) : "");
	vpd_put_ascii(&buf[32], 4, SCSI_PRODUCT_REV);
	for (i = 0; i < KEEL_COUNTOF(versions); i++) {
		keel_to_be16(&buf[58 + 2 * i], versions[i]);
	}
	return VPD_STD_INQUIRY_LEN;
}

/* Unit serial number (80h): the UUID's 32 hex digits. */
static uint32_t
vpd_unit_serial(struct keel_scsi_lun *lun, uint8_t *buf)
{
	char uuid[KEEL_UUID_STRING_LEN];
	uint32_t pos = 4;
	size_t i;

	keel_bdev_get_uuid_str(lun->bdev, uuid);
	for (i = 0; uuid[i] != '\0'; i++) {
		if (uuid[i] != '-') {
			buf[pos++] = (uint8_t)uuid[i];
		}
	}
	return pos;
}

static uint8_t *
vpd_designator(uint8_t *d, uint8_t proto_codeset, uint8_t piv_assoc_type, uint8_t len)
{
	d[0] = proto_codeset;
	d[1] = piv_assoc_type;
	d[2] = 0;
	d[3] = len;
	return &d[4];
}

/* SCSI name string designator: UTF-8, NUL terminated, padded to a multiple of 4 bytes. */
static uint32_t
vpd_scsi_name(uint8_t *d, uint8_t proto, uint8_t assoc, const char *name)
{
	size_t n = KEEL_MIN(strlen(name), (size_t)VPD_SCSI_NAME_MAX - 1);
	size_t padded = (n + 1 + 3) & ~(size_t)3;
	uint8_t *p;

	p = vpd_designator(d, (uint8_t)(proto << 4 | VPD_CODE_SET_UTF8),
			   VPD_PIV | assoc | VPD_DESIG_SCSI_NAME, (uint8_t)padded);
	memset(p, 0, padded);
	memcpy(p, name, n);
	return 4 + (uint32_t)padded;
}

/*
 * Device identification (83h): NAA 6 and a T10 vendor id for the logical unit, the target
 * device's SCSI name, then the target port the command came through: relative port, port group
 * and SCSI name.
 */
static uint32_t
vpd_device_id(struct keel_scsi_task *task, struct keel_scsi_lun *lun, uint8_t *buf)
{
	struct keel_scsi_port *port = task->target_port;
	struct keel_scsi_dev *dev = lun->dev;
	uint8_t proto = dev != NULL ? dev->protocol_id : KEEL_SCSI_PROTOCOL_ISCSI;
	char uuid_str[KEEL_UUID_STRING_LEN];
	uint8_t *p;
	uint32_t pos = 4;

	/* NAA IEEE Registered Extended from the UUID: the name EXTENDED COPY looks LUNs up by. */
	p = vpd_designator(&buf[pos], VPD_CODE_SET_BINARY, VPD_ASSOC_LU | VPD_DESIG_NAA,
			   SCSI_NAA_LEN);
	scsi_lun_naa(lun, p);
	pos += 4 + SCSI_NAA_LEN;

	keel_bdev_get_uuid_str(lun->bdev, uuid_str);
	p = vpd_designator(&buf[pos], VPD_CODE_SET_ASCII, VPD_ASSOC_LU | VPD_DESIG_T10,
			   (uint8_t)(8 + strlen(uuid_str)));
	memcpy(p, SCSI_VENDOR_ID, 8);
	memcpy(p + 8, uuid_str, strlen(uuid_str));
	pos += 4 + 8 + (uint32_t)strlen(uuid_str);

	if (dev != NULL) {
		pos += vpd_scsi_name(&buf[pos], proto, VPD_ASSOC_TARGET, dev->name);
	}
	if (port != NULL) {
		p = vpd_designator(&buf[pos], (uint8_t)(proto << 4 | VPD_CODE_SET_BINARY),
				   VPD_PIV | VPD_ASSOC_PORT | VPD_DESIG_REL_PORT, 4);
		memset(p, 0, 4);
		keel_to_be16(&p[2], port->index);
		pos += 8;

		p = vpd_designator(&buf[pos], (uint8_t)(proto << 4 | VPD_CODE_SET_BINARY),
				   VPD_PIV | VPD_ASSOC_PORT | VPD_DESIG_TPG, 4);
		memset(p, 0, 4);
		keel_to_be16(&p[2], 1);
		pos += 8;

		pos += vpd_scsi_name(&buf[pos], proto, VPD_ASSOC_PORT, port->name);
	}
	return pos;
}

/* Extended INQUIRY data (86h): HEADSUP, ORDSUP, SIMPSUP; no protection, no V_SUP. */
static uint32_t
vpd_extended_inquiry(uint8_t *buf)
{
	buf[5] = 0x04 | 0x02 | 0x01;
	return 4 + 0x3c;
}

/* Block limits (B0h, SBC-3 6.5.3). */
static uint32_t
vpd_block_limits(struct keel_scsi_lun *lun, uint8_t *buf)
{
	struct keel_bdev *bdev = lun->bdev;
	uint32_t block_size = keel_bdev_get_block_size(bdev);
	uint32_t max_caw = 0;

	if (keel_bdev_io_type_supported(bdev, KEEL_BDEV_IO_TYPE_COMPARE_AND_WRITE)) {
		max_caw = KEEL_MIN(keel_bdev_get_max_compare_and_write_blocks(bdev), 255u);
	}
	buf[4] = 0x01; /* WSNZ */
	buf[5] = (uint8_t)max_caw;
	keel_to_be16(&buf[6], (uint16_t)KEEL_MAX(4096 / block_size, 1u));
	keel_to_be32(&buf[8], SCSI_MAX_TRANSFER_BYTES / block_size);
	keel_to_be32(&buf[12], keel_bdev_get_optimal_io_boundary(bdev));
	if (vpd_unmap_supported(lun)) {
		keel_to_be32(&buf[20], SCSI_MAX_UNMAP_LBA_COUNT);
		keel_to_be32(&buf[24], SCSI_MAX_UNMAP_DESCRIPTORS);
		keel_to_be32(&buf[28], 1); /* OPTIMAL UNMAP GRANULARITY */
	}
	keel_to_be64(&buf[36], SCSI_MAX_WRITE_SAME_BYTES / block_size);
	return 4 + 0x3c;
}

/* Block device characteristics (B1h): non-rotating medium, form factor not reported. WABEREQ
 * 01b: a block not written since a SANITIZE BLOCK ERASE reads GOOD (as zeroes: the erase
 * unmaps or writes zeroes). */
static uint32_t
vpd_block_characteristics(uint8_t *buf)
{
	keel_to_be16(&buf[4], 0x0001);
	buf[7] = 0x40;
	return 4 + 0x3c;
}

/* Logical block provisioning (B2h): thin provisioned, UNMAP and WRITE SAME with UNMAP. */
static uint32_t
vpd_provisioning(struct keel_scsi_lun *lun, uint8_t *buf)
{
	buf[5] = 0x80 | 0x40 | 0x20; /* LBPU LBPWS LBPWS10 */
	if (keel_bdev_unmap_reads_zeroes(lun->bdev)) {
		buf[5] |= 0x04; /* LBPRZ */
	}
	buf[6] = 0x02; /* PROVISIONING TYPE: thin */
	return 4 + 4;
}

static uint32_t
vpd_supported_pages(struct keel_scsi_lun *lun, uint8_t *buf)
{
	uint32_t pos = 4;

	buf[pos++] = KEEL_SCSI_VPD_SUPPORTED_PAGES;
	buf[pos++] = KEEL_SCSI_VPD_UNIT_SERIAL;
	buf[pos++] = KEEL_SCSI_VPD_DEVICE_ID;
	buf[pos++] = KEEL_SCSI_VPD_EXTENDED_INQUIRY;
	if (vpd_xcopy_offered(lun)) {
		buf[pos++] = KEEL_SCSI_VPD_THIRD_PARTY_COPY;
	}
	buf[pos++] = KEEL_SCSI_VPD_BLOCK_LIMITS;
	buf[pos++] = KEEL_SCSI_VPD_BLOCK_CHARACTERISTICS;
	if (vpd_unmap_supported(lun)) {
		buf[pos++] = KEEL_SCSI_VPD_LOGICAL_BLOCK_PROVISIONING;
	}
	return pos;
}

/* Build VPD page `page` into buf (VPD_BUF_LEN bytes, zeroed); 0 if keel does not offer it. */
static uint32_t
vpd_page(struct keel_scsi_task *task, struct keel_scsi_lun *lun, uint8_t page, uint8_t *buf)
{
	uint32_t len;

	switch (page) {
	case KEEL_SCSI_VPD_SUPPORTED_PAGES:
		len = vpd_supported_pages(lun, buf);
		break;
	case KEEL_SCSI_VPD_UNIT_SERIAL:
		len = vpd_unit_serial(lun, buf);
		break;
	case KEEL_SCSI_VPD_DEVICE_ID:
		len = vpd_device_id(task, lun, buf);
		break;
	case KEEL_SCSI_VPD_EXTENDED_INQUIRY:
		len = vpd_extended_inquiry(buf);
		break;
	case KEEL_SCSI_VPD_THIRD_PARTY_COPY:
		/* xcopy.c writes the third-party copy descriptors after the header. */
		len = 4 + (uint32_t)KEEL_MIN(scsi_xcopy_vpd_8f(lun, &buf[4], VPD_BUF_LEN - 4),
					     (size_t)VPD_BUF_LEN - 4);
		if (len == 4) {
			return 0;
		}
		break;
	case KEEL_SCSI_VPD_BLOCK_LIMITS:
		len = vpd_block_limits(lun, buf);
		break;
	case KEEL_SCSI_VPD_BLOCK_CHARACTERISTICS:
		len = vpd_block_characteristics(buf);
		break;
	case KEEL_SCSI_VPD_LOGICAL_BLOCK_PROVISIONING:
		if (!vpd_unmap_supported(lun)) {
			return 0;
		}
		len = vpd_provisioning(lun, buf);
		break;
	default:
		return 0;
	}
	buf[0] = 0x00; /* peripheral qualifier 0, direct access block device */
	buf[1] = page;
	keel_to_be16(&buf[2], (uint16_t)(len - 4));
	return len;
}

void
scsi_spc_inquiry(struct keel_scsi_task *task, struct keel_scsi_lun *lun)
{
	uint8_t buf[VPD_BUF_LEN];
	bool evpd = (task->cdb[1] & 0x01) != 0;
	uint8_t page = task->cdb[2];
	uint32_t alloc_len = keel_from_be16(&task->cdb[3]);
	uint32_t len;

	if (!evpd) {
		if (page != 0) {
			scsi_task_invalid_field(task, 2, 7);
			return;
		}
		len = vpd_standard(lun, buf);
		scsi_spc_data_in(task, buf, len, alloc_len);
		return;
	}
	if (lun == NULL) {
		keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
					  KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
					  KEEL_SCSI_ASC_LOGICAL_UNIT_NOT_SUPPORTED);
		return;
	}
	memset(buf, 0, sizeof(buf));
	len = vpd_page(task, lun, page, buf);
	if (len == 0) {
		scsi_task_invalid_field(task, 2, 7);
		return;
	}
	scsi_spc_data_in(task, buf, len, alloc_len);
}
