/*
 * The NAA designator of a logical unit: one derivation shared by VPD page 83h (which reports
 * it) and EXTENDED COPY (which finds the LUN a CSCD descriptor names by it). It depends only on
 * the bdev UUID, so it survives restarts and moves with the bdev.
 */
#include "keel/stdinc.h"

#include "scsi_internal.h"

/*
 * NAA 6, IEEE Registered Extended (SPC-4, NAA designator format): 4-bit NAA, 24-bit IEEE
 * company ID, 36-bit vendor specific identifier, 64-bit extension. keel owns no company ID, so
 * the field is zero, as in other open source targets; the 100 identifier bits are UUID bits: the
 * low nibble of byte 6 (its high nibble is the UUID version), then bytes 0-5 and 10-15.
 */
void
scsi_lun_naa(const struct keel_scsi_lun *lun, uint8_t naa[SCSI_NAA_LEN])
{
	const uint8_t *uuid = keel_bdev_get_uuid(lun->bdev);

	naa[0] = 0x60;
	naa[1] = 0x00;
	naa[2] = 0x00;
	naa[3] = uuid[6] & 0x0f;
	memcpy(&naa[4], &uuid[0], 6);
	memcpy(&naa[10], &uuid[10], 6);
}

bool
scsi_lun_naa_matches(const struct keel_scsi_lun *lun, const uint8_t *designator, size_t len)
{
	uint8_t naa[SCSI_NAA_LEN];

	if (len != SCSI_NAA_LEN || lun->bdev == NULL) {
		return false;
	}
	scsi_lun_naa(lun, naa);
	return memcmp(naa, designator, SCSI_NAA_LEN) == 0;
}
