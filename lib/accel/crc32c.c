/*
 * CRC32C (Castagnoli) for iSCSI header and data digests, through ISA-L. ISA-L's crc32_iscsi()
 * only advances the CRC register: the all-ones start and the final complement that RFC 7143
 * section 13.1 (and the RFC 3720 B.4 vectors) call for are applied here.
 */
#include "keel/stdinc.h"
#include "keel/accel.h"

#include <isa-l/crc.h>

/* crc32_iscsi() takes an int length: feed it at most this much at a time. */
#define CRC32C_CHUNK_BYTES (1u << 30)

/* Advance the raw register over len bytes. */
static uint32_t
crc32c_update(const void *buf, size_t len, uint32_t reg)
{
	const unsigned char *p = buf;
	size_t chunk;

	while (len > 0) {
		chunk = KEEL_MIN(len, (size_t)CRC32C_CHUNK_BYTES);
		reg = crc32_iscsi((unsigned char *)p, (int)chunk, reg);
		p += chunk;
		len -= chunk;
	}
	return reg;
}

uint32_t
keel_crc32c(const void *buf, size_t len, uint32_t seed)
{
	/* The register after a digest is its complement, so a digest seeds the next piece. */
	return ~crc32c_update(buf, len, ~seed);
}

uint32_t
keel_crc32c_iov(const struct iovec *iov, int iovcnt, uint32_t seed)
{
	uint32_t reg = ~seed;
	int i;

	for (i = 0; i < iovcnt; i++) {
		reg = crc32c_update(iov[i].iov_base, iov[i].iov_len, reg);
	}
	return ~reg;
}
