/*
 * Replay driver for the fuzz targets: a main() that feeds files (and every regular file of the
 * directories given) to the target's LLVMFuzzerTestOneInput(), one call per file, in name order.
 * It is linked with each target as <target>_regress in every build, so the corpora and the
 * saved crash inputs run as regression tests without libFuzzer.
 */
#include "keel/stdinc.h"

#include <dirent.h>

#include "fuzz_common.h"

/* Optional, as with libFuzzer: a target may define it to set itself up once. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned int g_inputs;
static bool g_verbose;

static int
run_file(const char *path)
{
	uint8_t *data = NULL;
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		rc = -errno;
		goto out_close;
	}
	/* Exactly the input's size (as libFuzzer does), so ASan sees a read past its end. */
	data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (data == NULL) {
		rc = -ENOMEM;
		goto out_close;
	}
	while (len < (size_t)st.st_size) {
		n = read(fd, data + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			fprintf(stderr, "%s: short read\n", path);
			rc = -EIO;
			goto out_free;
		}
		len += (size_t)n;
	}
	if (g_verbose) {
		fprintf(stderr, "running %s (%zu bytes)\n", path, len);
	}
	LLVMFuzzerTestOneInput(data, len);
	g_inputs++;

out_free:
	free(data);
out_close:
	if (fd >= 0) {
		close(fd);
	}
	return rc;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file directly in dir, sorted by name; a missing directory has none. */
static int
run_dir(const char *dir)
{
	char **names = NULL, **grown, path[PATH_MAX];
	size_t count = 0, i;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	d = opendir(dir);
	if (d == NULL) {
		return errno == ENOENT ? 0 : -errno;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.') {
			continue;
		}
		grown = realloc(names, (count + 1) * sizeof(*names));
		if (grown == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		names = grown;
		names[count] = strdup(de->d_name);
		if (names[count] == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		count++;
	}
	if (count > 1) {
		qsort(names, count, sizeof(*names), name_cmp);
	}
	for (i = 0; i < count && rc == 0; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			rc = run_file(path);
		}
	}
out:
	for (i = 0; i < count; i++) {
		free(names[i]);
	}
	free(names);
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	struct stat st;
	int i, first, rc = 0;

	first = 1;
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		g_verbose = true;
		first = 2;
	}
	if (argc <= first) {
		fprintf(stderr,
			"usage: %s [-v] FILE|DIR...\n"
			"Runs each file (each file of each directory) through the fuzz target once.\n",
			argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL) {
		LLVMFuzzerInitialize(&argc, &argv);
	}
	for (i = first; i < argc && rc == 0; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			rc = run_dir(argv[i]);
		} else {
			rc = run_file(argv[i]);
		}
	}
	if (rc != 0) {
		fprintf(stderr, "%s: stopped: %s\n", argv[0], strerror(-rc));
		return 1;
	}
	printf("%s: %u inputs ran\n", argv[0], g_inputs);
	return 0;
}
