/*
 * The copy engine: asynchronous copy and fill through a DMA engine when the environment has
 * one (DPDK dmadev), through the CPU otherwise; and the CRC32C that iSCSI header and data
 * digests use (RFC 7143 section 13.1), computed at once with ISA-L.
 */
#ifndef KEEL_ACCEL_H
#define KEEL_ACCEL_H

#include "keel/stdinc.h"

#ifdef __cplusplus
extern "C" {
#endif

struct keel_io_channel;

/**
 * Completion of a copy engine operation.
 *
 * \param cb_arg  The argument given at submission.
 * \param status  0 on success; -EIO if the DMA engine reported a failure (the destination then
 *                holds undefined data).
 */
typedef void (*keel_accel_cb)(void *cb_arg, int status);

/**
 * Get the calling thread's channel to the copy engine. Release it with keel_put_io_channel()
 * once no operation submitted through it is outstanding.
 *
 * \return the channel; NULL if the caller is not on a keel thread, the "accel" subsystem is not
 *         started, or memory is short.
 */
struct keel_io_channel *keel_accel_get_io_channel(void);

/**
 * Copy nbytes from src to dst. The buffers must not overlap and must stay valid until cb runs.
 * A DMA engine is used when the thread's channel has one and both buffers are DMA-safe memory
 * (keel_dma_malloc(), mempools); otherwise the CPU copies at once and only the completion is
 * deferred.
 *
 * \param ch      The calling thread's channel (keel_accel_get_io_channel()).
 * \param dst     Destination.
 * \param src     Source.
 * \param nbytes  Bytes to copy (0 is allowed and completes with status 0).
 * \param cb      Runs later, on the calling thread, exactly once; never from inside this call.
 * \param cb_arg  Handed to cb unchanged.
 *
 * \return 0 if accepted; -EINVAL for a NULL channel, callback or buffer; -ENOMEM if the channel
 *         is out of task objects (cb will not run; retry after a completion).
 */
int keel_accel_submit_copy(struct keel_io_channel *ch, void *dst, const void *src, size_t nbytes,
			   keel_accel_cb cb, void *cb_arg);

/**
 * Copy a scatter list into a gather list: the bytes of src_iovs, in order, to the bytes of
 * dst_iovs, in order. Both lists must describe the same number of bytes; entries of length 0 are
 * allowed. The arrays themselves may be reused as soon as the call returns; the buffers they
 * point to must stay valid until cb runs.
 *
 * \param ch          The calling thread's channel.
 * \param dst_iovs    Destination buffers.
 * \param dst_iovcnt  Entries in dst_iovs.
 * \param src_iovs    Source buffers.
 * \param src_iovcnt  Entries in src_iovs.
 * \param cb          Runs later, on the calling thread, exactly once; never from inside this call.
 * \param cb_arg      Handed to cb unchanged.
 *
 * \return 0 if accepted; -EINVAL for a NULL argument, a negative count or totals that differ;
 *         -ENOMEM if the channel is out of task objects (cb will not run).
 */
int keel_accel_submit_copyv(struct keel_io_channel *ch, struct iovec *dst_iovs, int dst_iovcnt,
			    struct iovec *src_iovs, int src_iovcnt, keel_accel_cb cb, void *cb_arg);

/**
 * Set nbytes at dst to the byte fill. The DMA engine is used when it can fill and dst is
 * DMA-safe memory; otherwise the CPU fills at once and only the completion is deferred.
 *
 * \param ch      The calling thread's channel.
 * \param dst     Destination; must stay valid until cb runs.
 * \param fill    The byte value.
 * \param nbytes  Bytes to set (0 is allowed).
 * \param cb      Runs later, on the calling thread, exactly once; never from inside this call.
 * \param cb_arg  Handed to cb unchanged.
 *
 * \return 0 if accepted; -EINVAL for a NULL argument; -ENOMEM if the channel is out of task
 *         objects (cb will not run).
 */
int keel_accel_submit_fill(struct keel_io_channel *ch, void *dst, uint8_t fill, size_t nbytes,
			   keel_accel_cb cb, void *cb_arg);

/**
 * CRC32C (Castagnoli) of a buffer, as iSCSI digests use it (RFC 7143 section 13.1; test vectors
 * in RFC 3720 appendix B.4): the register starts at all ones and the result is complemented.
 * Synchronous; runs on any thread, without a channel.
 *
 * seed is the result of a previous call, so that a digest can be computed piece by piece:
 * keel_crc32c(b, lb, keel_crc32c(a, la, 0)) equals the digest of a followed by b. Start with 0.
 *
 * \param buf   Bytes to digest (may be NULL if len is 0).
 * \param len   Their count.
 * \param seed  0 for a new digest, or the digest of the bytes that come before buf.
 * \return the digest, as a number: put it on the wire in little-endian byte order (RFC 3720
 *         B.4 shows 32 zero bytes -> 0x8a9136aa, sent as aa 36 91 8a).
 */
uint32_t keel_crc32c(const void *buf, size_t len, uint32_t seed);

/**
 * CRC32C of the bytes of iov, in order; equal to keel_crc32c() of the same bytes laid out flat.
 *
 * \param iov     Buffers (may be NULL if iovcnt is 0).
 * \param iovcnt  Entries in iov.
 * \param seed    As for keel_crc32c().
 * \return the digest.
 */
uint32_t keel_crc32c_iov(const struct iovec *iov, int iovcnt, uint32_t seed);

/**
 * The engine chosen at start-up: "dma" if at least one DMA queue was set up, else "software".
 * With "dma", an operation on memory that is not DMA-safe, one too fragmented, one that finds its
 * queue full, or a fill the device cannot do still goes through the CPU.
 */
const char *keel_accel_get_engine_name(void);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_ACCEL_H */
