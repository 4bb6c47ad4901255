/*
 * The uring bdev module's internal interface, shared by its RPC handlers and its tests: create a
 * bdev over a file or block device, delete one by name.
 */
#ifndef KEEL_BDEV_URING_H
#define KEEL_BDEV_URING_H

#include "keel/stdinc.h"
#include "keel/bdev_module.h"

struct uring_bdev_opts {
	const char *name;     /* bdev name */
	const char *filename; /* regular file or block device */
	uint32_t block_size;  /* bytes; 0: detected (the device's logical block size, or 512) */
};

/**
 * Open the file, work out its geometry and register a bdev over it.
 *
 * \param opts     What to create.
 * \param bdev     Out: the new bdev (written only on success).
 * \param err      Out: on failure, a message that names the bad parameter (may be NULL).
 * \param err_len  Size of err.
 * \return 0; -EINVAL for a bad parameter (bad block size, file smaller than a block, not a
 *         file or block device); -ENOENT, -EACCES, ... if the file cannot be opened; -EEXIST if
 *         the name is taken; -ENOMEM. On failure nothing is left open.
 */
int bdev_uring_create(const struct uring_bdev_opts *opts, struct keel_bdev **bdev, char *err,
		      size_t err_len);

/**
 * Unregister a uring bdev; cb(cb_arg, rc) runs on this thread once it is gone (every open
 * descriptor was told to close and did) and its file is closed.
 *
 * \return 0 (cb will run); -ENODEV if no uring bdev has that name (cb will not run).
 */
int bdev_uring_delete(const char *name, keel_bdev_done_cb cb, void *cb_arg);

#endif /* KEEL_BDEV_URING_H */
