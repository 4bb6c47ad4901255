/*
 * Backing files of the file-based bdev modules (aio, uring): argument checks, opening a regular
 * file or block device read-write and O_DIRECT, and its geometry (block size, block count,
 * whether a device takes discards). The modules differ only in how they submit I/O.
 */
#include "keel/stdinc.h"
#include "keel/bdev_module.h"
#include "keel/log.h"
#include "keel/util.h"

#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

#define FILE_MIN_BLOCK_SIZE 512u
#define FILE_MAX_BLOCK_SIZE 65536u
#define FILE_DEFAULT_BLOCK_SIZE 512u /* detected block size of a regular file */

int
keel_bdev_file_check_args(const char *name, const char *filename, char *err, size_t err_len)
{
	if (name == NULL || name[0] == '\0' || strlen(name) >= KEEL_BDEV_MAX_NAME_LEN) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'name': must be 1 to %d characters",
			     KEEL_BDEV_MAX_NAME_LEN - 1);
		return -EINVAL;
	}
	if (filename == NULL || filename[0] == '\0') {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'filename': must not be empty");
		return -EINVAL;
	}
	if (keel_bdev_get_by_name(name) != NULL) {
		keel_bdev_set_err(err, err_len, "Invalid parameter 'name': bdev '%s' already exists",
			     name);
		return -EEXIST;
	}
	return 0;
}

static int
file_open_fd(struct keel_bdev_file *file, const char *name, const char *filename, char *err,
	     size_t err_len)
{
	int fd, rc;

	fd = open(filename, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0 && errno == EINVAL) {
		fd = open(filename, O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			KEEL_WARNLOG("bdev %s: %s does not support O_DIRECT; using buffered I/O "
				     "(only a flush makes writes durable)\n",
				     name, filename);
			file->fd = fd;
			file->direct = false;
			return 0;
		}
	}
	if (fd < 0) {
		rc = -errno;
		keel_bdev_set_err(err, err_len,
			     "Invalid parameter 'filename': cannot open %s: %s (errno %d)",
			     filename, keel_strerror(-rc), -rc);
		return rc;
	}
	file->fd = fd;
	file->direct = true;
	return 0;
}

/* Does the block device take discards? Its queue says so in sysfs (a partition's queue is
 * its parent's). */
static bool
file_blkdev_discard_supported(dev_t rdev)
{
	static const char *const queues[] = {"queue", "../queue"};
	char path[128];
	unsigned long long max = 0;
	size_t i;
	FILE *f;

	for (i = 0; i < KEEL_COUNTOF(queues); i++) {
		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s/discard_max_bytes",
			 major(rdev), minor(rdev), queues[i]);
		f = fopen(path, "re");
		if (f == NULL) {
			continue;
		}
		if (fscanf(f, "%llu", &max) != 1) {
			max = 0;
		}
		fclose(f);
		return max > 0;
	}
	return false;
}

static int
file_geometry(struct keel_bdev_file *file, const char *filename, uint32_t given, char *err,
	      size_t err_len)
{
	uint32_t min_block = FILE_DEFAULT_BLOCK_SIZE, block_size;
	uint64_t size_bytes;
	struct stat st;
	int lbs, rc;

	if (fstat(file->fd, &st) != 0) {
		rc = -errno;
		keel_bdev_set_err(err, err_len, "Invalid parameter 'filename': cannot stat %s: %s",
			     filename, keel_strerror(-rc));
		return rc;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(file->fd, BLKSSZGET, &lbs) != 0 || lbs <= 0 ||
		    ioctl(file->fd, BLKGETSIZE64, &size_bytes) != 0) {
			keel_bdev_set_err(err, err_len,
				     "Invalid parameter 'filename': cannot get the geometry of "
				     "%s: %s",
				     filename, keel_strerror(errno));
			return -EINVAL;
		}
		min_block = KEEL_MAX((uint32_t)lbs, FILE_MIN_BLOCK_SIZE);
		file->is_blkdev = true;
		file->discard = file_blkdev_discard_supported(st.st_rdev);
	} else if (S_ISREG(st.st_mode)) {
		size_bytes = (uint64_t)st.st_size;
	} else {
		keel_bdev_set_err(err, err_len,
			     "Invalid parameter 'filename': %s is neither a regular file nor a "
			     "block device",
			     filename);
		return -EINVAL;
	}
	block_size = given != 0 ? given : min_block;
	if (block_size < FILE_MIN_BLOCK_SIZE || block_size > FILE_MAX_BLOCK_SIZE ||
	    (block_size & (block_size - 1)) != 0) {
		keel_bdev_set_err(err, err_len,
			     "Invalid parameter 'block_size': %" PRIu32 " is not a power of two "
			     "from %u to %u",
			     block_size, FILE_MIN_BLOCK_SIZE, FILE_MAX_BLOCK_SIZE);
		return -EINVAL;
	}
	if (block_size < min_block) {
		keel_bdev_set_err(err, err_len,
			     "Invalid parameter 'block_size': %" PRIu32 " is smaller than the "
			     "logical block size of %s (%" PRIu32 ")",
			     block_size, filename, min_block);
		return -EINVAL;
	}
	if (size_bytes < block_size) {
		keel_bdev_set_err(err, err_len,
			     "Invalid parameter 'filename': %s has %" PRIu64 " bytes, less than "
			     "one block of %" PRIu32,
			     filename, size_bytes, block_size);
		return -EINVAL;
	}
	file->block_size = block_size;
	file->block_count = size_bytes / block_size;
	file->block_size_given = given != 0;
	return 0;
}

int
keel_bdev_file_open(struct keel_bdev_file *file, const char *name, const char *filename,
		    uint32_t block_size, char *err, size_t err_len)
{
	int rc;

	memset(file, 0, sizeof(*file));
	file->fd = -1;
	rc = file_open_fd(file, name, filename, err, err_len);
	if (rc != 0) {
		return rc;
	}
	rc = file_geometry(file, filename, block_size, err, err_len);
	if (rc != 0) {
		keel_bdev_file_close(file);
	}
	return rc;
}

void
keel_bdev_file_close(struct keel_bdev_file *file)
{
	if (file->fd >= 0) {
		close(file->fd);
		file->fd = -1;
	}
}
