/*
 * The environment on DPDK: EAL start-up from keel's options, with a fallback to ordinary
 * memory when no hugepages are reserved, and the thin wrappers over DPDK memory, mempools,
 * rings, time and cores that the rest of keel uses. No other library includes DPDK headers.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/util.h"

#include "env_internal.h"

#include <dirent.h>
#include <sched.h>
#include <sys/statfs.h>

#include <rte_config.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_memory.h>
#include <rte_mempool.h>
#include <rte_ring.h>

/* Under AddressSanitizer, an object given back to a mempool is poisoned until it is taken
 * again, so that a use after keel_mempool_put() is reported like a use after free(), and a
 * second put of the same object aborts. */
#if defined(__SANITIZE_ADDRESS__)
#define ENV_MEMPOOL_POISON 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ENV_MEMPOOL_POISON 1
#endif
#endif
#ifdef ENV_MEMPOOL_POISON
#include <sanitizer/asan_interface.h>

static void
mempool_poison(struct rte_mempool *mp, void *obj)
{
	if (__asan_address_is_poisoned(obj)) {
		KEEL_ERRLOG("mempool %s: object %p given back twice\n", mp->name, obj);
		abort();
	}
	ASAN_POISON_MEMORY_REGION(obj, mp->elt_size);
}

static void
mempool_unpoison(struct rte_mempool *mp, void *obj)
{
	ASAN_UNPOISON_MEMORY_REGION(obj, mp->elt_size);
}

static void
mempool_unpoison_iter(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	(void)arg;
	(void)idx;
	mempool_unpoison(mp, obj);
}
#else
#define mempool_poison(mp, obj) ((void)(mp), (void)(obj))
#define mempool_unpoison(mp, obj) ((void)(mp), (void)(obj))
#endif

#define ENV_MAX_ARGS 64
#define ENV_NO_HUGE_DEFAULT_MB 2048
/* Hugepage memory below which a start without -s falls back to ordinary memory: what the
 * default pools (bdev I/O, iSCSI tasks and buffers, messages) take, with some room. */
#define ENV_HUGE_MIN_MB 256
#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

static bool g_env_initialized;
static bool g_env_no_huge;
static uint32_t g_pool_seq;
void (*g_env_dma_fini)(void);

void
keel_env_opts_init(struct keel_env_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->name = "keel";
	keel_cpuset_set(&opts->cpumask, 0, true);
	opts->main_core = KEEL_ENV_CORE_ANY;
	opts->shm_id = -1;
}

uint32_t
keel_env_get_machine_cores(struct keel_cpuset *available)
{
	cpu_set_t set;
	uint32_t cpu, count = 0;

	keel_cpuset_zero(available);
	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		return 0;
	}
	for (cpu = 0; cpu < CPU_SETSIZE && cpu < KEEL_CPUSET_SIZE; cpu++) {
		if (CPU_ISSET(cpu, &set)) {
			keel_cpuset_set(available, cpu, true);
			count++;
		}
	}
	return count;
}

static uint64_t
read_sysfs_u64(const char *path)
{
	char buf[64];
	FILE *f;
	uint64_t val = 0;

	f = fopen(path, "r");
	if (f == NULL) {
		return 0;
	}
	if (fgets(buf, sizeof(buf), f) != NULL) {
		keel_parse_u64(buf, &val);
	}
	fclose(f);
	return val;
}

uint64_t
keel_env_free_hugepage_bytes(void)
{
	const char *base = "/sys/kernel/mm/hugepages";
	struct dirent *de;
	char path[512];
	uint64_t total = 0, page_kb;
	DIR *dir;

	dir = opendir(base);
	if (dir == NULL) {
		return 0;
	}
	while ((de = readdir(dir)) != NULL) {
		if (sscanf(de->d_name, "hugepages-%" SCNu64 "kB", &page_kb) != 1) {
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s/free_hugepages", base, de->d_name);
		total += read_sysfs_u64(path) * page_kb * 1024;
	}
	closedir(dir);
	return total;
}

/* True if a hugetlbfs is mounted (at hugedir, when one is named). */
static bool
env_hugetlbfs_mounted(const char *hugedir)
{
	struct statfs st;
	char line[1024], dev[256], mnt[512], type[64];
	bool found = false;
	FILE *f;

	if (hugedir != NULL) {
		return statfs(hugedir, &st) == 0 && st.f_type == HUGETLBFS_MAGIC;
	}
	f = fopen("/proc/mounts", "r");
	if (f == NULL) {
		return false;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%255s %511s %63s", dev, mnt, type) == 3 &&
		    strcmp(type, "hugetlbfs") == 0 && access(mnt, W_OK) == 0) {
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

static int
env_check_cores(const struct keel_env_opts *opts)
{
	struct keel_cpuset avail, want;
	char buf[300];
	uint32_t cpu;

	if (keel_cpuset_count(&opts->cpumask) == 0) {
		KEEL_ERRLOG("core mask is empty\n");
		return -EINVAL;
	}
	keel_env_get_machine_cores(&avail);
	want = opts->cpumask;
	KEEL_CPUSET_FOREACH(cpu, &want) {
		if (!keel_cpuset_get(&avail, cpu)) {
			KEEL_ERRLOG("core %u in mask %s is not available on this machine (available: %s)\n",
				    cpu, keel_cpuset_fmt(&opts->cpumask, buf, sizeof(buf)),
				    keel_cpuset_fmt(&avail, buf + 150, 150));
			return -EINVAL;
		}
	}
	if (opts->main_core != KEEL_ENV_CORE_ANY && !keel_cpuset_get(&opts->cpumask, opts->main_core)) {
		KEEL_ERRLOG("main core %u is not in the core mask %s\n", opts->main_core,
			    keel_cpuset_fmt(&opts->cpumask, buf, sizeof(buf)));
		return -EINVAL;
	}
	return 0;
}

/* "0,2-3" from a cpuset, for EAL's -l. */
static void
env_core_list(const struct keel_cpuset *set, char *buf, size_t len)
{
	uint32_t cpu;
	size_t off = 0;

	buf[0] = '\0';
	KEEL_CPUSET_FOREACH(cpu, set) {
		int n = snprintf(buf + off, len - off, "%s%u", off ? "," : "", cpu);

		if (n < 0 || (size_t)n >= len - off) {
			break;
		}
		off += (size_t)n;
	}
}

struct env_args {
	char *argv[ENV_MAX_ARGS];
	int argc;
};

static int __attribute__((format(printf, 2, 3)))
env_arg(struct env_args *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (a->argc >= ENV_MAX_ARGS - 1) {
		return -E2BIG;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		s = NULL;
	}
	va_end(ap);
	if (s == NULL) {
		return -ENOMEM;
	}
	a->argv[a->argc++] = s;
	a->argv[a->argc] = NULL;
	return 0;
}

static void
env_args_free(struct env_args *a)
{
	int i;

	for (i = 0; i < a->argc; i++) {
		free(a->argv[i]);
	}
	a->argc = 0;
}

/* Append the words of env_context (extra EAL arguments separated by blanks). */
static int
env_context_args(const char *env_context, struct env_args *a)
{
	char *copy, *word, *save = NULL;
	int rc = 0;

	if (env_context == NULL) {
		return 0;
	}
	copy = strdup(env_context);
	if (copy == NULL) {
		return -ENOMEM;
	}
	for (word = strtok_r(copy, " \t\n", &save); word != NULL;
	     word = strtok_r(NULL, " \t\n", &save)) {
		rc = env_arg(a, "%s", word);
		if (rc == -E2BIG) {
			KEEL_ERRLOG("env context '%s': too many EAL arguments\n", env_context);
			rc = -EINVAL;
		}
		if (rc != 0) {
			break;
		}
	}
	free(copy);
	return rc;
}

static int
env_build_args(const struct keel_env_opts *opts, bool no_huge, struct env_args *a)
{
	char cores[4096];
	int rc = 0;

	env_core_list(&opts->cpumask, cores, sizeof(cores));
	rc |= env_arg(a, "%s", opts->name ? opts->name : "keel");
	rc |= env_arg(a, "-l");
	rc |= env_arg(a, "%s", cores);
	if (opts->main_core != KEEL_ENV_CORE_ANY) {
		rc |= env_arg(a, "--main-lcore=%u", opts->main_core);
	}
	if (no_huge) {
		rc |= env_arg(a, "--no-huge");
		rc |= env_arg(a, "-m");
		rc |= env_arg(a, "%u", opts->mem_size_mb ? opts->mem_size_mb : ENV_NO_HUGE_DEFAULT_MB);
	} else if (opts->mem_size_mb > 0) {
		rc |= env_arg(a, "-m");
		rc |= env_arg(a, "%u", opts->mem_size_mb);
	}
	if (opts->shm_id >= 0) {
		/* Shared memory with a known name; files are unlinked as soon as they are mapped, so a
		 * killed process leaves no hugepage behind. */
		rc |= env_arg(a, "--file-prefix=keel%d", opts->shm_id);
		if (!no_huge) {
			rc |= env_arg(a, "--huge-unlink");
		}
	} else if (no_huge) {
		/* Ordinary memory: no hugepage files, and no shared configuration either. */
		rc |= env_arg(a, "--no-shconf");
		rc |= env_arg(a, "--file-prefix=keel");
	} else {
		/* Private memory: nothing is left in hugetlbfs or /var/run, whatever ends the process. */
		rc |= env_arg(a, "--in-memory");
	}
	if (opts->hugedir != NULL && !no_huge) {
		rc |= env_arg(a, "--huge-dir=%s", opts->hugedir);
	}
	/* keel reaches PCI devices through sysfs (lib/env/pci.c); DPDK's own PCI bus would probe
	 * every device its drivers know, network cards included, so it stays off. */
	rc |= env_arg(a, "--no-pci");
	if (opts->iova_mode != NULL) {
		rc |= env_arg(a, "--iova-mode=%s", opts->iova_mode);
	} else if (no_huge) {
		rc |= env_arg(a, "--iova-mode=va");
	}
	rc |= env_arg(a, "--no-telemetry");
	rc |= env_arg(a, "--log-level=%s", opts->verbose ? "*:info" : "*:error");
	if (rc != 0) {
		return -ENOMEM;
	}
	return env_context_args(opts->env_context, a);
}

int
keel_env_init(const struct keel_env_opts *opts)
{
	struct env_args args = {0};
	char *argv_copy[ENV_MAX_ARGS];
	bool no_huge = opts->no_huge;
	int rc, i;

	if (g_env_initialized) {
		return -EALREADY;
	}
	rc = env_check_cores(opts);
	if (rc != 0) {
		return rc;
	}
	if (opts->iova_mode != NULL && strcmp(opts->iova_mode, "pa") != 0 &&
	    strcmp(opts->iova_mode, "va") != 0) {
		KEEL_ERRLOG("IOVA mode must be 'pa' or 'va', not '%s'\n", opts->iova_mode);
		return -EINVAL;
	}
	if (opts->hugedir != NULL && !no_huge && !env_hugetlbfs_mounted(opts->hugedir)) {
		KEEL_ERRLOG("huge directory %s is not a hugetlbfs mount\n", opts->hugedir);
		return -EINVAL;
	}
	if (!no_huge && (keel_env_free_hugepage_bytes() == 0 || !env_hugetlbfs_mounted(NULL))) {
		KEEL_WARNLOG("no free hugepages are reserved (see scripts/setup.sh): running on "
			     "ordinary memory; the userspace NVMe driver will not work\n");
		no_huge = true;
	} else if (!no_huge) {
		/* A few free pages are worse than none: the pools would fail half-way through the
		 * start. Fall back as a whole, and say why. */
		uint64_t free_mb = keel_env_free_hugepage_bytes() >> 20;
		uint32_t need_mb = opts->mem_size_mb ? opts->mem_size_mb : ENV_HUGE_MIN_MB;

		if (free_mb < need_mb) {
			KEEL_WARNLOG("only %" PRIu64 " MiB of hugepages are free, %" PRIu32 " MiB are "
				     "needed (see scripts/setup.sh): running on ordinary memory; the "
				     "userspace NVMe driver will not work\n",
				     free_mb, need_mb);
			no_huge = true;
		}
	}
	rc = env_build_args(opts, no_huge, &args);
	if (rc != 0) {
		env_args_free(&args);
		return rc;
	}
	/* rte_eal_init may permute argv: give it a copy of the pointers. */
	for (i = 0; i <= args.argc; i++) {
		argv_copy[i] = args.argv[i];
	}
	if (opts->verbose) {
		for (i = 0; i < args.argc; i++) {
			KEEL_NOTICELOG("EAL argument %d: %s\n", i, args.argv[i]);
		}
	}
	rc = rte_eal_init(args.argc, argv_copy);
	env_args_free(&args);
	if (rc < 0) {
		int err = rte_errno;

		KEEL_ERRLOG("failed to start the DPDK environment: %s\n", rte_strerror(err));
		return err == ENOMEM ? -ENOMEM : (err == EALREADY ? -EALREADY : -EIO);
	}
	g_env_no_huge = no_huge;
	g_env_initialized = true;
	return 0;
}

void
keel_env_fini(void)
{
	if (!g_env_initialized) {
		return;
	}
	if (g_env_dma_fini != NULL) {
		g_env_dma_fini();
		g_env_dma_fini = NULL;
	}
	rte_eal_cleanup();
	g_env_initialized = false;
}

bool
keel_env_is_initialized(void)
{
	return g_env_initialized;
}

bool
keel_env_no_huge(void)
{
	return g_env_no_huge;
}

void *
keel_dma_malloc(size_t size, size_t align, uint64_t *iova)
{
	void *buf = rte_malloc_socket(NULL, size, align, SOCKET_ID_ANY);

	if (buf != NULL && iova != NULL) {
		*iova = rte_malloc_virt2iova(buf);
	}
	return buf;
}

void *
keel_dma_zmalloc(size_t size, size_t align, uint64_t *iova)
{
	void *buf = rte_zmalloc_socket(NULL, size, align, SOCKET_ID_ANY);

	if (buf != NULL && iova != NULL) {
		*iova = rte_malloc_virt2iova(buf);
	}
	return buf;
}

void *
keel_dma_realloc(void *buf, size_t size, size_t align)
{
	return rte_realloc(buf, size, align);
}

void
keel_dma_free(void *buf)
{
	rte_free(buf);
}

uint64_t
keel_vtophys(const void *buf, uint64_t *size)
{
	const struct rte_memseg *ms;
	rte_iova_t iova;
	uint64_t want, avail;

	ms = rte_mem_virt2memseg(buf, NULL);
	if (ms == NULL) {
		return KEEL_VTOPHYS_ERROR;
	}
	iova = rte_mem_virt2iova(buf);
	if (iova == RTE_BAD_IOVA) {
		return KEEL_VTOPHYS_ERROR;
	}
	if (size != NULL) {
		want = *size;
		avail = (uint64_t)((uintptr_t)ms->addr + ms->len - (uintptr_t)buf);
		if (rte_eal_iova_mode() == RTE_IOVA_VA) {
			/* IOVA equals VA: contiguous as far as the caller asks within the heap. */
			avail = want;
		}
		*size = KEEL_MIN(want, avail);
	}
	return iova;
}

struct keel_mempool *
keel_mempool_create_ctor(const char *name, size_t count, size_t elt_size, size_t cache_size,
			 int socket_id,
			 void (*obj_init)(struct keel_mempool *pool, void *ctx, void *obj,
					  unsigned index),
			 void *ctx)
{
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	struct rte_mempool *mp;

	if (count == 0 || elt_size == 0 || count > UINT32_MAX) {
		return NULL;
	}
	if (cache_size > RTE_MEMPOOL_CACHE_MAX_SIZE) {
		cache_size = RTE_MEMPOOL_CACHE_MAX_SIZE;
	}
	/* DPDK requires cache_size * 1.5 <= count. */
	if (cache_size * 3 / 2 > count) {
		cache_size = count * 2 / 3;
	}
	snprintf(pool_name, sizeof(pool_name), "%.14s_%u", name,
		 __atomic_fetch_add(&g_pool_seq, 1, __ATOMIC_RELAXED));
	mp = rte_mempool_create(pool_name, (unsigned)count, (unsigned)elt_size, (unsigned)cache_size,
				0, NULL, NULL, (rte_mempool_obj_cb_t *)obj_init, ctx,
				socket_id == KEEL_ENV_SOCKET_ID_ANY ? SOCKET_ID_ANY : socket_id, 0);
	if (mp == NULL) {
		KEEL_ERRLOG("mempool %s (%zu x %zu bytes): %s\n", name, count, elt_size,
			    rte_strerror(rte_errno));
	}
	return (struct keel_mempool *)mp;
}

struct keel_mempool *
keel_mempool_create(const char *name, size_t count, size_t elt_size, size_t cache_size,
		    int socket_id)
{
	return keel_mempool_create_ctor(name, count, elt_size, cache_size, socket_id, NULL, NULL);
}

void
keel_mempool_free(struct keel_mempool *pool)
{
#ifdef ENV_MEMPOOL_POISON
	if (pool != NULL) {
		rte_mempool_obj_iter((struct rte_mempool *)pool, mempool_unpoison_iter, NULL);
	}
#endif
	rte_mempool_free((struct rte_mempool *)pool);
}

void *
keel_mempool_get(struct keel_mempool *pool)
{
	void *obj;

	if (rte_mempool_get((struct rte_mempool *)pool, &obj) != 0) {
		return NULL;
	}
	mempool_unpoison((struct rte_mempool *)pool, obj);
	return obj;
}

int
keel_mempool_get_bulk(struct keel_mempool *pool, void **objs, size_t count)
{
	size_t i;

	if (rte_mempool_get_bulk((struct rte_mempool *)pool, objs, (unsigned)count) != 0) {
		return -ENOENT;
	}
	for (i = 0; i < count; i++) {
		mempool_unpoison((struct rte_mempool *)pool, objs[i]);
	}
	return 0;
}

void
keel_mempool_put(struct keel_mempool *pool, void *obj)
{
	mempool_poison((struct rte_mempool *)pool, obj);
	rte_mempool_put((struct rte_mempool *)pool, obj);
}

void
keel_mempool_put_bulk(struct keel_mempool *pool, void **objs, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		mempool_poison((struct rte_mempool *)pool, objs[i]);
	}
	rte_mempool_put_bulk((struct rte_mempool *)pool, objs, (unsigned)count);
}

size_t
keel_mempool_count(const struct keel_mempool *pool)
{
	return rte_mempool_avail_count((const struct rte_mempool *)pool);
}

uint32_t
keel_mempool_obj_iter(struct keel_mempool *pool,
		      void (*fn)(struct keel_mempool *pool, void *ctx, void *obj, uint32_t idx),
		      void *ctx)
{
	return rte_mempool_obj_iter((struct rte_mempool *)pool, (rte_mempool_obj_cb_t *)fn, ctx);
}

struct keel_ring *
keel_ring_create(enum keel_ring_type type, size_t count, int socket_id)
{
	char name[RTE_RING_NAMESIZE];
	unsigned flags = RING_F_EXACT_SZ;

	switch (type) {
	case KEEL_RING_TYPE_SP_SC:
		flags |= RING_F_SP_ENQ | RING_F_SC_DEQ;
		break;
	case KEEL_RING_TYPE_MP_SC:
		flags |= RING_F_SC_DEQ;
		break;
	case KEEL_RING_TYPE_MP_MC:
		break;
	default:
		return NULL;
	}
	snprintf(name, sizeof(name), "ring_%u", __atomic_fetch_add(&g_pool_seq, 1, __ATOMIC_RELAXED));
	return (struct keel_ring *)rte_ring_create(name, (unsigned)count,
			socket_id == KEEL_ENV_SOCKET_ID_ANY ? SOCKET_ID_ANY : socket_id, flags);
}

void
keel_ring_free(struct keel_ring *ring)
{
	rte_ring_free((struct rte_ring *)ring);
}

size_t
keel_ring_enqueue(struct keel_ring *ring, void **objs, size_t count, size_t *free_space)
{
	unsigned int space;
	size_t n;

	n = rte_ring_enqueue_bulk((struct rte_ring *)ring, objs, (unsigned)count, &space);
	if (free_space != NULL) {
		*free_space = space;
	}
	return n;
}

size_t
keel_ring_dequeue(struct keel_ring *ring, void **objs, size_t count)
{
	return rte_ring_dequeue_burst((struct rte_ring *)ring, objs, (unsigned)count, NULL);
}

size_t
keel_ring_count(struct keel_ring *ring)
{
	return rte_ring_count((struct rte_ring *)ring);
}

uint64_t
keel_get_ticks(void)
{
	return rte_get_timer_cycles();
}

uint64_t
keel_get_ticks_hz(void)
{
	return rte_get_timer_hz();
}

void
keel_delay_us(unsigned int us)
{
	rte_delay_us(us);
}

uint32_t
keel_env_get_core_count(void)
{
	return rte_lcore_count();
}

uint32_t
keel_env_get_current_core(void)
{
	unsigned id = rte_lcore_id();

	return id == LCORE_ID_ANY ? KEEL_ENV_CORE_ANY : id;
}

uint32_t
keel_env_get_main_core(void)
{
	return rte_get_main_lcore();
}

uint32_t
keel_env_get_first_core(void)
{
	unsigned id = rte_get_next_lcore(-1, 0, 0);

	return id >= RTE_MAX_LCORE ? KEEL_ENV_CORE_ANY : id;
}

uint32_t
keel_env_get_next_core(uint32_t prev)
{
	unsigned id = rte_get_next_lcore(prev, 0, 0);

	return id >= RTE_MAX_LCORE ? KEEL_ENV_CORE_ANY : id;
}

int
keel_env_get_socket_id(uint32_t core)
{
	unsigned id = rte_lcore_to_socket_id(core);

	return id == (unsigned)SOCKET_ID_ANY ? KEEL_ENV_SOCKET_ID_ANY : (int)id;
}

int
keel_env_thread_launch_pinned(uint32_t core, int (*fn)(void *), void *arg)
{
	int rc;

	if (core >= RTE_MAX_LCORE || core == rte_get_main_lcore() || !rte_lcore_is_enabled(core)) {
		return -EINVAL;
	}
	rc = rte_eal_remote_launch(fn, arg, core);
	return rc == 0 ? 0 : -EBUSY;
}

void
keel_env_thread_wait_all(void)
{
	rte_eal_mp_wait_lcore();
}
