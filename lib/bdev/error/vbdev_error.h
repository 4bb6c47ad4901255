/*
 * The error injection virtual bdev module: EE_<base> passes I/O to its base bdev and fails,
 * holds back, corrupts or bounces (NOMEM) the next I/Os of a type when told to. Used by the
 * module's RPCs and tests.
 */
#ifndef KEEL_VBDEV_ERROR_H
#define KEEL_VBDEV_ERROR_H

#include "keel/stdinc.h"
#include "keel/bdev.h"

/** What an injected error does to an I/O. */
enum vbdev_error_type {
	VBDEV_ERROR_NONE = 0,
	VBDEV_ERROR_FAILURE,      /* completes FAILED without reaching the base */
	VBDEV_ERROR_PENDING,      /* held, never completed, until a reset or removal aborts it */
	VBDEV_ERROR_CORRUPT_DATA, /* a byte of the write data (before) or read data (after) XORed */
	VBDEV_ERROR_NOMEM,        /* completes NOMEM: the bdev layer retries it */
};

/** Which I/O an injection applies to. */
enum vbdev_error_io {
	VBDEV_ERROR_IO_READ = 0,
	VBDEV_ERROR_IO_WRITE,
	VBDEV_ERROR_IO_UNMAP,
	VBDEV_ERROR_IO_FLUSH,
	VBDEV_ERROR_IO_COUNT,
	VBDEV_ERROR_IO_ALL = VBDEV_ERROR_IO_COUNT, /* every type above */
	VBDEV_ERROR_IO_CLEAR,                      /* forget every injection */
};

struct vbdev_error_inject_opts {
	enum vbdev_error_io io_type;
	enum vbdev_error_type error_type;
	uint32_t num;            /* I/Os to hit; 0 disables the injection */
	uint64_t queue_depth;    /* hit only while this many I/Os of the channel are at the base */
	uint64_t corrupt_offset; /* CORRUPT_DATA: byte of the I/O's data */
	uint8_t corrupt_value;   /* CORRUPT_DATA: XORed into it; not 0 */
};

/**
 * Remember an error bdev over base_name and create EE_<base_name> now if the base exists, else
 * when it appears. uuid: 16 bytes for the new bdev, or NULL for a generated one.
 * \return 0; -EINVAL (empty name, with a message in err); -EEXIST (an error bdev over that base
 * is configured already); -EPERM (the base is claimed by another module); other negative errnos.
 */
int vbdev_error_create(const char *base_name, const uint8_t *uuid, char *err, size_t err_len);

/**
 * Remove error bdev name (held I/O is aborted first) and forget its configuration; cb(cb_arg, rc)
 * runs on this thread once it is gone. A configured error bdev whose base is absent is only
 * forgotten. \return 0; -ENODEV if there is no such error bdev.
 */
int vbdev_error_delete(const char *name, keel_bdev_done_cb cb, void *cb_arg);

/** Set (or clear) an injection on error bdev name. \return 0; -ENODEV; -EINVAL. */
int vbdev_error_inject(const char *name, const struct vbdev_error_inject_opts *opts);

#endif /* KEEL_VBDEV_ERROR_H */
