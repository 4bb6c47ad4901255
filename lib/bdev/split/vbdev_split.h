/*
 * The split virtual bdev module: cuts a base bdev into equal parts, each a bdev of its own
 * (<base>p0, <base>p1, ...). Used by the module's RPCs and tests.
 */
#ifndef KEEL_VBDEV_SPLIT_H
#define KEEL_VBDEV_SPLIT_H

#include "keel/stdinc.h"
#include "keel/bdev.h"

/** Most parts one base may be cut into. */
#define SPLIT_MAX_COUNT 1024

/**
 * Split base_name into split_count parts of split_size_mb MiB each (0: the base divided
 * evenly, the remainder unused). The base must exist. The parts' names, in order, are passed
 * to name_fn. \return 0; -EINVAL (bad count or size, with a message in err); -ENODEV (no such
 * base); -EEXIST (the base is split already); -EPERM (the base is claimed by another module);
 * other negative errnos.
 */
int vbdev_split_create(const char *base_name, uint32_t split_count, uint64_t split_size_mb,
		       void (*name_fn)(const char *name, void *ctx), void *ctx, char *err,
		       size_t err_len);

/**
 * Remove the parts of base_name and forget its configuration; cb(cb_arg, rc) runs on this
 * thread once every part is gone. \return 0; -ENODEV if base_name is not split.
 */
int vbdev_split_delete(const char *base_name, keel_bdev_done_cb cb, void *cb_arg);

#endif /* KEEL_VBDEV_SPLIT_H */
