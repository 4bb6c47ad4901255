/*
 * Unit tests of lib/env on ordinary memory (--no-huge): start-up option errors, DMA-safe
 * memory, vtophys, mempools, rings, time, cores, and PCI addresses and enumeration through
 * sysfs (read only: no device is attached or mapped). DPDK starts once per process, so the
 * start-up errors, which fail before the EAL is touched, run first.
 */
#include "keel/stdinc.h"
#include "ut.h"

#include <dirent.h>

#include "env/env.c"
#include "env/pci.c"

static void
test_opts(struct keel_env_opts *opts)
{
	keel_env_opts_init(opts);
	opts->name = "env_ut";
	opts->no_huge = true;
	opts->no_pci = true;
	opts->mem_size_mb = 256;
}

/* First core this process may run on, and the second (or UINT32_MAX). */
static void
machine_cores(uint32_t *first, uint32_t *second)
{
	struct keel_cpuset avail;

	keel_env_get_machine_cores(&avail);
	*first = keel_cpuset_next(&avail, 0);
	*second = *first == UINT32_MAX ? UINT32_MAX : keel_cpuset_next(&avail, *first + 1);
}

static void
opts_init_gives_core_zero_and_private_memory(void)
{
	struct keel_env_opts opts;

	memset(&opts, 0xa5, sizeof(opts));
	keel_env_opts_init(&opts);
	CU_ASSERT(opts.name != NULL && strcmp(opts.name, "keel") == 0);
	CU_ASSERT(keel_cpuset_count(&opts.cpumask) == 1);
	CU_ASSERT(keel_cpuset_get(&opts.cpumask, 0));
	CU_ASSERT(opts.main_core == KEEL_ENV_CORE_ANY);
	CU_ASSERT(opts.shm_id == -1);
	CU_ASSERT(opts.mem_size_mb == 0);
	CU_ASSERT(!opts.no_huge && !opts.no_pci && !opts.verbose);
	CU_ASSERT(opts.hugedir == NULL && opts.iova_mode == NULL);
}

static void
machine_cores_are_counted_and_listed(void)
{
	struct keel_cpuset avail;
	uint32_t n;

	n = keel_env_get_machine_cores(&avail);
	CU_ASSERT(n >= 1);
	CU_ASSERT(n == keel_cpuset_count(&avail));
}

static void
init_with_empty_core_mask_is_einval(void)
{
	struct keel_env_opts opts;

	test_opts(&opts);
	keel_cpuset_zero(&opts.cpumask);
	CU_ASSERT(keel_env_init(&opts) == -EINVAL);
	CU_ASSERT(!keel_env_is_initialized());
}

static void
init_with_core_the_machine_lacks_is_einval(void)
{
	struct keel_env_opts opts;

	test_opts(&opts);
	keel_cpuset_set(&opts.cpumask, KEEL_CPUSET_SIZE - 1, true);
	CU_ASSERT(keel_env_init(&opts) == -EINVAL);
	CU_ASSERT(!keel_env_is_initialized());
}

static void
init_with_main_core_outside_mask_is_einval(void)
{
	struct keel_env_opts opts;
	uint32_t first, second;

	machine_cores(&first, &second);
	test_opts(&opts);
	keel_cpuset_zero(&opts.cpumask);
	keel_cpuset_set(&opts.cpumask, first, true);
	opts.main_core = first + 1;
	CU_ASSERT(keel_env_init(&opts) == -EINVAL);
	CU_ASSERT(!keel_env_is_initialized());
}

static void
init_with_unknown_iova_mode_is_einval(void)
{
	struct keel_env_opts opts;
	uint32_t first, second;

	machine_cores(&first, &second);
	test_opts(&opts);
	keel_cpuset_zero(&opts.cpumask);
	keel_cpuset_set(&opts.cpumask, first, true);
	opts.iova_mode = "vp";
	CU_ASSERT(keel_env_init(&opts) == -EINVAL);
	opts.iova_mode = "";
	CU_ASSERT(keel_env_init(&opts) == -EINVAL);
	CU_ASSERT(!keel_env_is_initialized());
}

static void
init_with_huge_dir_that_is_not_hugetlbfs_is_einval(void)
{
	struct keel_env_opts opts;
	uint32_t first, second;

	machine_cores(&first, &second);
	test_opts(&opts);
	keel_cpuset_zero(&opts.cpumask);
	keel_cpuset_set(&opts.cpumask, first, true);
	opts.no_huge = false;
	opts.hugedir = "/";
	CU_ASSERT(keel_env_init(&opts) == -EINVAL);
	opts.hugedir = "/nonexistent-keel-huge-dir";
	CU_ASSERT(keel_env_init(&opts) == -EINVAL);
	CU_ASSERT(!keel_env_is_initialized());
}

/* From here on the environment runs; every later test needs it. */
static uint32_t g_cores[2];
static uint32_t g_core_count;

static void
init_without_hugepages_starts_once(void)
{
	struct keel_env_opts opts;
	uint32_t first, second;

	machine_cores(&first, &second);
	test_opts(&opts);
	keel_cpuset_zero(&opts.cpumask);
	keel_cpuset_set(&opts.cpumask, first, true);
	g_cores[0] = first;
	g_core_count = 1;
	if (second != UINT32_MAX) {
		keel_cpuset_set(&opts.cpumask, second, true);
		g_cores[1] = second;
		g_core_count = 2;
	}
	/* With no_huge set, a hugedir is not looked at. */
	opts.hugedir = "/";
	CU_ASSERT_FATAL(keel_env_init(&opts) == 0);
	CU_ASSERT(keel_env_is_initialized());
	CU_ASSERT(keel_env_no_huge());
	CU_ASSERT(keel_env_init(&opts) == -EALREADY);
	CU_ASSERT(keel_env_is_initialized());
}

static bool
aligned(const void *p, size_t align)
{
	return ((uintptr_t)p & (align - 1)) == 0;
}

static void
dma_malloc_honours_alignment_and_reports_iova(void)
{
	static const size_t aligns[] = {0, 8, 64, 512, 4096, 65536};
	uint64_t iova;
	void *buf;
	size_t i;

	CU_ASSERT_FATAL(keel_env_is_initialized());
	for (i = 0; i < KEEL_COUNTOF(aligns); i++) {
		iova = KEEL_VTOPHYS_ERROR;
		buf = keel_dma_malloc(1000, aligns[i], &iova);
		CU_ASSERT_FATAL(buf != NULL);
		CU_ASSERT(aligned(buf, aligns[i] ? aligns[i] : 64));
		CU_ASSERT(iova != KEEL_VTOPHYS_ERROR);
		CU_ASSERT(iova == keel_vtophys(buf, NULL));
		memset(buf, 0xff, 1000);
		keel_dma_free(buf);
	}
	/* iova may be NULL. */
	buf = keel_dma_malloc(16, 0, NULL);
	CU_ASSERT(buf != NULL);
	keel_dma_free(buf);
}

static void
dma_zmalloc_returns_zeroed_memory(void)
{
	unsigned char *buf;
	uint64_t iova = 0;
	size_t i, nonzero = 0;
	int round;

	CU_ASSERT_FATAL(keel_env_is_initialized());
	/* Dirty some memory first, so that zeroing is not a given. */
	for (round = 0; round < 2; round++) {
		buf = keel_dma_zmalloc(8192, 4096, &iova);
		CU_ASSERT_FATAL(buf != NULL);
		CU_ASSERT(aligned(buf, 4096));
		CU_ASSERT(iova == keel_vtophys(buf, NULL));
		for (i = 0; i < 8192; i++) {
			nonzero += buf[i] != 0;
		}
		memset(buf, 0x5a, 8192);
		keel_dma_free(buf);
	}
	CU_ASSERT(nonzero == 0);
}

static void
dma_realloc_keeps_contents_and_alignment(void)
{
	unsigned char *buf, *big, *small;
	size_t i, bad = 0;

	CU_ASSERT_FATAL(keel_env_is_initialized());
	buf = keel_dma_malloc(256, 0, NULL);
	CU_ASSERT_FATAL(buf != NULL);
	for (i = 0; i < 256; i++) {
		buf[i] = (unsigned char)i;
	}
	big = keel_dma_realloc(buf, 1 << 20, 4096);
	CU_ASSERT_FATAL(big != NULL);
	CU_ASSERT(aligned(big, 4096));
	for (i = 0; i < 256; i++) {
		bad += big[i] != (unsigned char)i;
	}
	CU_ASSERT(bad == 0);
	memset(big + 256, 0xee, (1 << 20) - 256);
	small = keel_dma_realloc(big, 100, 0);
	CU_ASSERT_FATAL(small != NULL);
	for (i = 0; i < 100; i++) {
		bad += small[i] != (unsigned char)i;
	}
	CU_ASSERT(bad == 0);
	CU_ASSERT(keel_vtophys(small, NULL) != KEEL_VTOPHYS_ERROR);
	keel_dma_free(small);
	/* Freeing NULL does nothing. */
	keel_dma_free(NULL);
}

static void
vtophys_translates_dma_memory_and_clamps_size(void)
{
	unsigned char *buf;
	uint64_t iova, iova_mid, size;

	CU_ASSERT_FATAL(keel_env_is_initialized());
	buf = keel_dma_malloc(65536, 4096, &iova);
	CU_ASSERT_FATAL(buf != NULL);
	size = 65536;
	CU_ASSERT(keel_vtophys(buf, &size) == iova);
	CU_ASSERT(size > 0 && size <= 65536);
	size = 100;
	iova_mid = keel_vtophys(buf + 1000, &size);
	CU_ASSERT(iova_mid == iova + 1000);
	CU_ASSERT(size > 0 && size <= 100);
	keel_dma_free(buf);
}

static void
vtophys_of_stack_or_heap_memory_is_an_error(void)
{
	uint64_t on_stack = 0, size = 8;
	void *heap;

	CU_ASSERT_FATAL(keel_env_is_initialized());
	CU_ASSERT(keel_vtophys(&on_stack, NULL) == KEEL_VTOPHYS_ERROR);
	CU_ASSERT(keel_vtophys(&on_stack, &size) == KEEL_VTOPHYS_ERROR);
	heap = malloc(4096);
	CU_ASSERT_FATAL(heap != NULL);
	CU_ASSERT(keel_vtophys(heap, NULL) == KEEL_VTOPHYS_ERROR);
	free(heap);
	CU_ASSERT(keel_vtophys(NULL, NULL) == KEEL_VTOPHYS_ERROR);
}

#define POOL_COUNT 64
#define POOL_ELT 200

struct ctor_ctx {
	struct keel_mempool *pool;
	unsigned calls;
	unsigned seen[POOL_COUNT];
	bool misaligned;
};

static void
pool_ctor(struct keel_mempool *pool, void *arg, void *obj, unsigned index)
{
	struct ctor_ctx *ctx = arg;

	ctx->calls++;
	if (index < POOL_COUNT) {
		ctx->seen[index]++;
	}
	if (((uintptr_t)obj & 7) != 0) {
		ctx->misaligned = true;
	}
	memset(obj, 0, POOL_ELT);
	*(uint32_t *)obj = 0xc0de0000u | index;
}

struct iter_ctx {
	struct keel_mempool *pool;
	unsigned calls;
	unsigned marked;
	bool wrong_pool;
};

static void
pool_iter(struct keel_mempool *pool, void *arg, void *obj, uint32_t idx)
{
	struct iter_ctx *ctx = arg;

	ctx->calls++;
	if (pool != ctx->pool) {
		ctx->wrong_pool = true;
	}
	if (*(uint32_t *)obj == (0xc0de0000u | idx)) {
		ctx->marked++;
	}
}

static void
mempool_ctor_runs_once_per_object_and_iter_visits_all(void)
{
	struct ctor_ctx cctx = {0};
	struct iter_ctx ictx = {0};
	struct keel_mempool *pool;
	unsigned i, once = 0;

	CU_ASSERT_FATAL(keel_env_is_initialized());
	pool = keel_mempool_create_ctor("ut_ctor", POOL_COUNT, POOL_ELT, 0, KEEL_ENV_SOCKET_ID_ANY,
					pool_ctor, &cctx);
	CU_ASSERT_FATAL(pool != NULL);
	CU_ASSERT(cctx.calls == POOL_COUNT);
	for (i = 0; i < POOL_COUNT; i++) {
		once += cctx.seen[i] == 1;
	}
	CU_ASSERT(once == POOL_COUNT);
	CU_ASSERT(!cctx.misaligned);
	ictx.pool = pool;
	CU_ASSERT(keel_mempool_obj_iter(pool, pool_iter, &ictx) == POOL_COUNT);
	CU_ASSERT(ictx.calls == POOL_COUNT);
	CU_ASSERT(ictx.marked == POOL_COUNT);
	CU_ASSERT(!ictx.wrong_pool);
	keel_mempool_free(pool);
}

/* Take every object one by one, check exhaustion, give them back. */
static void
mempool_drain_and_refill(size_t cache_size)
{
	void *objs[POOL_COUNT], *extra;
	struct keel_mempool *pool;
	size_t i, distinct = 0, dma_ok = 0;

	pool = keel_mempool_create("ut_pool", POOL_COUNT, POOL_ELT, cache_size,
				   KEEL_ENV_SOCKET_ID_ANY);
	CU_ASSERT_FATAL(pool != NULL);
	CU_ASSERT(keel_mempool_count(pool) == POOL_COUNT);
	for (i = 0; i < POOL_COUNT; i++) {
		objs[i] = keel_mempool_get(pool);
		CU_ASSERT_FATAL(objs[i] != NULL);
		memset(objs[i], 0x77, POOL_ELT);
		dma_ok += keel_vtophys(objs[i], NULL) != KEEL_VTOPHYS_ERROR;
		CU_ASSERT(keel_mempool_count(pool) == POOL_COUNT - i - 1);
	}
	CU_ASSERT(dma_ok == POOL_COUNT);
	CU_ASSERT(keel_mempool_get(pool) == NULL);
	CU_ASSERT(keel_mempool_count(pool) == 0);
	for (i = 1; i < POOL_COUNT; i++) {
		distinct += objs[i] != objs[i - 1];
	}
	CU_ASSERT(distinct == POOL_COUNT - 1);
	for (i = 0; i < POOL_COUNT; i++) {
		keel_mempool_put(pool, objs[i]);
	}
	CU_ASSERT(keel_mempool_count(pool) == POOL_COUNT);
	extra = keel_mempool_get(pool);
	CU_ASSERT(extra != NULL);
	keel_mempool_put(pool, extra);
	keel_mempool_free(pool);
}

static void
mempool_without_cache_runs_dry_and_refills(void)
{
	CU_ASSERT_FATAL(keel_env_is_initialized());
	mempool_drain_and_refill(0);
}

static void
mempool_with_cache_counts_cached_objects_and_runs_dry(void)
{
	CU_ASSERT_FATAL(keel_env_is_initialized());
	/* More cache than the pool can hold: it is reduced, not refused. */
	mempool_drain_and_refill(KEEL_MEMPOOL_DEFAULT_CACHE_SIZE);
	mempool_drain_and_refill(16);
}

static void
mempool_bulk_get_is_all_or_none(void)
{
	void *objs[POOL_COUNT + 1];
	struct keel_mempool *pool;

	CU_ASSERT_FATAL(keel_env_is_initialized());
	pool = keel_mempool_create("ut_bulk", POOL_COUNT, POOL_ELT, 8, KEEL_ENV_SOCKET_ID_ANY);
	CU_ASSERT_FATAL(pool != NULL);
	CU_ASSERT(keel_mempool_get_bulk(pool, objs, POOL_COUNT + 1) == -ENOENT);
	CU_ASSERT(keel_mempool_count(pool) == POOL_COUNT);
	CU_ASSERT(keel_mempool_get_bulk(pool, objs, 40) == 0);
	CU_ASSERT(keel_mempool_count(pool) == POOL_COUNT - 40);
	CU_ASSERT(keel_mempool_get_bulk(pool, objs + 40, 25) == -ENOENT);
	CU_ASSERT(keel_mempool_count(pool) == POOL_COUNT - 40);
	CU_ASSERT(keel_mempool_get_bulk(pool, objs + 40, POOL_COUNT - 40) == 0);
	CU_ASSERT(keel_mempool_count(pool) == 0);
	keel_mempool_put_bulk(pool, objs, POOL_COUNT);
	CU_ASSERT(keel_mempool_count(pool) == POOL_COUNT);
	keel_mempool_free(pool);
}

static void
mempools_with_the_same_name_can_coexist(void)
{
	struct keel_mempool *a, *b;

	CU_ASSERT_FATAL(keel_env_is_initialized());
	a = keel_mempool_create("same_name_for_both_pools", 16, 64, 0, KEEL_ENV_SOCKET_ID_ANY);
	b = keel_mempool_create("same_name_for_both_pools", 16, 64, 0, KEEL_ENV_SOCKET_ID_ANY);
	CU_ASSERT(a != NULL && b != NULL && a != b);
	keel_mempool_free(a);
	keel_mempool_free(b);
	keel_mempool_free(NULL);
}

static void
mempool_of_zero_objects_or_size_is_refused(void)
{
	CU_ASSERT_FATAL(keel_env_is_initialized());
	CU_ASSERT(keel_mempool_create("ut_zero", 0, 64, 0, KEEL_ENV_SOCKET_ID_ANY) == NULL);
	CU_ASSERT(keel_mempool_create("ut_zero", 16, 0, 0, KEEL_ENV_SOCKET_ID_ANY) == NULL);
}

#define RING_SIZE 8

static void
ring_fifo_and_full(enum keel_ring_type type)
{
	void *in[RING_SIZE + 1], *out[RING_SIZE + 4];
	struct keel_ring *ring;
	size_t i, free_space = 12345, same = 0;

	ring = keel_ring_create(type, RING_SIZE, KEEL_ENV_SOCKET_ID_ANY);
	CU_ASSERT_FATAL(ring != NULL);
	for (i = 0; i < RING_SIZE + 1; i++) {
		in[i] = (void *)(uintptr_t)(0x1000 + i);
	}
	CU_ASSERT(keel_ring_count(ring) == 0);
	CU_ASSERT(keel_ring_dequeue(ring, out, 4) == 0);
	CU_ASSERT(keel_ring_enqueue(ring, in, 3, &free_space) == 3);
	CU_ASSERT(free_space == RING_SIZE - 3);
	CU_ASSERT(keel_ring_count(ring) == 3);
	CU_ASSERT(keel_ring_enqueue(ring, in + 3, RING_SIZE - 3, &free_space) == RING_SIZE - 3);
	CU_ASSERT(free_space == 0);
	CU_ASSERT(keel_ring_count(ring) == RING_SIZE);
	/* Full: nothing more goes in, and what is there stays. */
	CU_ASSERT(keel_ring_enqueue(ring, in + RING_SIZE, 1, NULL) == 0);
	CU_ASSERT(keel_ring_count(ring) == RING_SIZE);
	/* Dequeue returns what there is, in order, even when asked for more. */
	CU_ASSERT(keel_ring_dequeue(ring, out, 5) == 5);
	CU_ASSERT(keel_ring_dequeue(ring, out + 5, RING_SIZE + 4 - 5) == RING_SIZE - 5);
	for (i = 0; i < RING_SIZE; i++) {
		same += out[i] == in[i];
	}
	CU_ASSERT(same == RING_SIZE);
	CU_ASSERT(keel_ring_count(ring) == 0);
	/* Wrap around the end of the ring a few times. */
	same = 0;
	for (i = 0; i < 3 * RING_SIZE; i++) {
		CU_ASSERT(keel_ring_enqueue(ring, &in[i % RING_SIZE], 1, NULL) == 1);
		CU_ASSERT(keel_ring_dequeue(ring, out, 1) == 1);
		same += out[0] == in[i % RING_SIZE];
	}
	CU_ASSERT(same == 3 * RING_SIZE);
	keel_ring_free(ring);
}

static void
ring_sp_sc_is_fifo_and_holds_exactly_its_size(void)
{
	CU_ASSERT_FATAL(keel_env_is_initialized());
	ring_fifo_and_full(KEEL_RING_TYPE_SP_SC);
}

static void
ring_mp_sc_is_fifo_and_holds_exactly_its_size(void)
{
	CU_ASSERT_FATAL(keel_env_is_initialized());
	ring_fifo_and_full(KEEL_RING_TYPE_MP_SC);
}

static void
ring_mp_mc_is_fifo_and_holds_exactly_its_size(void)
{
	CU_ASSERT_FATAL(keel_env_is_initialized());
	ring_fifo_and_full(KEEL_RING_TYPE_MP_MC);
}

static void
ring_of_unknown_type_is_refused(void)
{
	CU_ASSERT_FATAL(keel_env_is_initialized());
	CU_ASSERT(keel_ring_create((enum keel_ring_type)42, 8, KEEL_ENV_SOCKET_ID_ANY) == NULL);
	keel_ring_free(NULL);
}

#define MP_PER_PRODUCER 20000

struct producer {
	struct keel_ring *ring;
	uintptr_t base;
};

static void *
producer_run(void *arg)
{
	struct producer *p = arg;
	uintptr_t i;
	void *obj;

	for (i = 1; i <= MP_PER_PRODUCER; i++) {
		obj = (void *)(p->base + i);
		while (keel_ring_enqueue(p->ring, &obj, 1, NULL) != 1) {
			sched_yield();
		}
	}
	return NULL;
}

static void
ring_mp_sc_loses_nothing_from_concurrent_producers(void)
{
	struct producer prod[2];
	pthread_t tid[2];
	uintptr_t last[2] = {0, 0};
	void *objs[32];
	size_t got = 0, n, i;
	bool in_order = true;
	int k;

	CU_ASSERT_FATAL(keel_env_is_initialized());
	prod[0].ring = keel_ring_create(KEEL_RING_TYPE_MP_SC, 256, KEEL_ENV_SOCKET_ID_ANY);
	CU_ASSERT_FATAL(prod[0].ring != NULL);
	prod[1].ring = prod[0].ring;
	prod[0].base = 0x10000000;
	prod[1].base = 0x20000000;
	for (k = 0; k < 2; k++) {
		CU_ASSERT_FATAL(pthread_create(&tid[k], NULL, producer_run, &prod[k]) == 0);
	}
	while (got < 2 * MP_PER_PRODUCER) {
		n = keel_ring_dequeue(prod[0].ring, objs, KEEL_COUNTOF(objs));
		if (n == 0) {
			sched_yield();
			continue;
		}
		for (i = 0; i < n; i++) {
			uintptr_t v = (uintptr_t)objs[i];

			k = v >= 0x20000000 ? 1 : 0;
			/* Each producer's objects arrive in the order it sent them. */
			if (v - prod[k].base != last[k] + 1) {
				in_order = false;
			}
			last[k] = v - prod[k].base;
		}
		got += n;
	}
	for (k = 0; k < 2; k++) {
		pthread_join(tid[k], NULL);
	}
	CU_ASSERT(in_order);
	CU_ASSERT(last[0] == MP_PER_PRODUCER && last[1] == MP_PER_PRODUCER);
	CU_ASSERT(keel_ring_count(prod[0].ring) == 0);
	keel_ring_free(prod[0].ring);
}

static void
ticks_advance_at_their_rate_and_delay_waits(void)
{
	uint64_t hz, t0, t1;

	CU_ASSERT_FATAL(keel_env_is_initialized());
	hz = keel_get_ticks_hz();
	CU_ASSERT(hz >= 1000000);
	t0 = keel_get_ticks();
	keel_delay_us(5000);
	t1 = keel_get_ticks();
	CU_ASSERT(t1 > t0);
	/* At least the 5 ms asked for; a generous bound above, for a loaded machine. */
	CU_ASSERT((t1 - t0) * 1000000 / hz >= 5000);
	CU_ASSERT((t1 - t0) / hz < 2);
}

static int g_launched_core;

static int
launched_fn(void *arg)
{
	g_launched_core = (int)keel_env_get_current_core();
	return *(int *)arg;
}

static void
cores_iterate_over_the_mask_with_the_first_as_main(void)
{
	uint32_t core, n = 0, seen[2] = {UINT32_MAX, UINT32_MAX};
	int arg = 0;

	CU_ASSERT_FATAL(keel_env_is_initialized());
	CU_ASSERT(keel_env_get_core_count() == g_core_count);
	KEEL_ENV_FOREACH_CORE (core) {
		if (n < 2) {
			seen[n] = core;
		}
		n++;
		CU_ASSERT(keel_env_get_socket_id(core) >= 0 ||
			  keel_env_get_socket_id(core) == KEEL_ENV_SOCKET_ID_ANY);
	}
	CU_ASSERT(n == g_core_count);
	CU_ASSERT(seen[0] == g_cores[0]);
	CU_ASSERT(g_core_count < 2 || seen[1] == g_cores[1]);
	CU_ASSERT(keel_env_get_first_core() == g_cores[0]);
	CU_ASSERT(keel_env_get_main_core() == g_cores[0]);
	CU_ASSERT(keel_env_get_next_core(g_cores[g_core_count - 1]) == KEEL_ENV_CORE_ANY);
	/* The test runs on the main core; a thread of its own is on no core. */
	CU_ASSERT(keel_env_get_current_core() == g_cores[0]);
	/* Only workers can be launched on. */
	CU_ASSERT(keel_env_thread_launch_pinned(g_cores[0], launched_fn, &arg) == -EINVAL);
	CU_ASSERT(keel_env_thread_launch_pinned(KEEL_CPUSET_SIZE + 5, launched_fn, &arg) ==
		  -EINVAL);
	if (g_core_count == 2) {
		g_launched_core = -1;
		CU_ASSERT(keel_env_thread_launch_pinned(g_cores[1], launched_fn, &arg) == 0);
		keel_env_thread_wait_all();
		CU_ASSERT(g_launched_core == (int)g_cores[1]);
	}
}

static void *
other_thread_core(void *arg)
{
	*(uint32_t *)arg = keel_env_get_current_core();
	return NULL;
}

static void
thread_outside_the_environment_has_no_core(void)
{
	uint32_t core = 0;
	pthread_t tid;

	CU_ASSERT_FATAL(keel_env_is_initialized());
	CU_ASSERT_FATAL(pthread_create(&tid, NULL, other_thread_core, &core) == 0);
	pthread_join(tid, NULL);
	CU_ASSERT(core == KEEL_ENV_CORE_ANY);
}

static void
fini_stops_the_environment(void)
{
	keel_env_fini();
	CU_ASSERT(!keel_env_is_initialized());
	/* A second fini is harmless. */
	keel_env_fini();
}

struct addr_case {
	const char *str;
	uint32_t domain;
	uint8_t bus, dev, func;
	const char *canonical;
};

static void
pci_addr_parses_full_and_short_forms(void)
{
	static const struct addr_case cases[] = {
		{"0000:01:00.0", 0, 1, 0, 0, "0000:01:00.0"},
		{"01:00.0", 0, 1, 0, 0, "0000:01:00.0"},
		{"0000:00:1f.7", 0, 0, 0x1f, 7, "0000:00:1f.7"},
		{"ffff:ff:1f.7", 0xffff, 0xff, 0x1f, 7, "ffff:ff:1f.7"},
		{"0001:3B:02.1", 1, 0x3b, 2, 1, "0001:3b:02.1"},
		{"5:a:1.2", 5, 0xa, 1, 2, "0005:0a:01.2"},
	};
	struct keel_pci_addr addr, again;
	char buf[32];
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(cases); i++) {
		memset(&addr, 0xcc, sizeof(addr));
		CU_ASSERT_FATAL(keel_pci_addr_parse(&addr, cases[i].str) == 0);
		CU_ASSERT(addr.domain == cases[i].domain);
		CU_ASSERT(addr.bus == cases[i].bus);
		CU_ASSERT(addr.dev == cases[i].dev);
		CU_ASSERT(addr.func == cases[i].func);
		CU_ASSERT(keel_pci_addr_fmt(buf, sizeof(buf), &addr) == 0);
		CU_ASSERT(strcmp(buf, cases[i].canonical) == 0);
		CU_ASSERT(keel_pci_addr_parse(&again, buf) == 0);
		CU_ASSERT(keel_pci_addr_compare(&addr, &again) == 0);
	}
}

static void
pci_addr_rejects_malformed_and_out_of_range(void)
{
	static const char *const bad[] = {
		"",
		"0000",
		"0000:01",
		"0000:01:00",
		"01:00",
		"0000:01:00.",
		"0000:01:00.0x",
		"0000:01:00.0 trailing",
		"0000:01:00:0",
		"0000.01.00.0",
		"zz:00.0",
		"0000:01:00.8",
		"0000:01:20.0",
		"0000:100:00.0",
		"10000:00:00.0",
		"0000:01:00.0.0",
		"pci",
		" 0000:01:00.0",
		"0x1:00.0",
		"+1:00.0",
		"-1:00.0",
		"0000:01:00.0\n",
	};
	struct keel_pci_addr addr = {.domain = 7, .bus = 7, .dev = 7, .func = 7};
	size_t i;

	for (i = 0; i < KEEL_COUNTOF(bad); i++) {
		if (keel_pci_addr_parse(&addr, bad[i]) != -EINVAL) {
			CU_FAIL("malformed PCI address accepted");
			fprintf(stderr, "accepted: '%s'\n", bad[i]);
		}
	}
	CU_ASSERT(keel_pci_addr_parse(&addr, NULL) == -EINVAL);
	/* A failed parse leaves the address as it was. */
	CU_ASSERT(addr.domain == 7 && addr.bus == 7 && addr.dev == 7 && addr.func == 7);
}

static void
pci_addr_fmt_needs_room_for_the_nul(void)
{
	struct keel_pci_addr addr = {.domain = 0, .bus = 0x3b, .dev = 0, .func = 1};
	char buf[13];

	CU_ASSERT(keel_pci_addr_fmt(buf, 12, &addr) == -ENOSPC);
	CU_ASSERT(keel_pci_addr_fmt(buf, 13, &addr) == 0);
	CU_ASSERT(strcmp(buf, "0000:3b:00.1") == 0);
}

static void
pci_addr_compare_orders_domain_bus_dev_func(void)
{
	static const char *const sorted[] = {
		"0000:00:00.0", "0000:00:00.1", "0000:00:01.0", "0000:00:1f.7",
		"0000:01:00.0", "0000:ff:1f.7", "0001:00:00.0", "ffff:00:00.0",
	};
	struct keel_pci_addr a, b;
	size_t i, j;

	for (i = 0; i < KEEL_COUNTOF(sorted); i++) {
		for (j = 0; j < KEEL_COUNTOF(sorted); j++) {
			int want = i < j ? -1 : (i > j ? 1 : 0);

			CU_ASSERT_FATAL(keel_pci_addr_parse(&a, sorted[i]) == 0);
			CU_ASSERT_FATAL(keel_pci_addr_parse(&b, sorted[j]) == 0);
			CU_ASSERT(keel_pci_addr_compare(&a, &b) == want);
		}
	}
}

/* Devices in sysfs, counted independently of the code under test. */
static int
sysfs_pci_device_count(void)
{
	struct dirent *de;
	char path[512];
	int n = 0;
	DIR *dir;

	dir = opendir("/sys/bus/pci/devices");
	if (dir == NULL) {
		return 0;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.') {
			continue;
		}
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", de->d_name);
		n += access(path, F_OK) == 0;
	}
	closedir(dir);
	return n;
}

struct enum_ctx {
	int calls;
	int stop_after;
	int bad;
	struct keel_pci_addr first;
	struct keel_pci_id first_id;
	char first_driver[64];
};

static int
enum_fn(void *arg, const struct keel_pci_addr *addr, const struct keel_pci_id *id,
	const char *driver)
{
	struct enum_ctx *ctx = arg;
	struct keel_pci_id again;
	char name[16], drv[64];

	if (ctx->calls == 0) {
		ctx->first = *addr;
		ctx->first_id = *id;
		keel_strlcpy(ctx->first_driver, driver, sizeof(ctx->first_driver));
	}
	ctx->calls++;
	if (id->vendor_id == 0 || id->vendor_id == 0xffff || driver == NULL) {
		ctx->bad++;
	}
	if (keel_pci_addr_fmt(name, sizeof(name), addr) != 0 || !keel_pci_device_present(addr)) {
		ctx->bad++;
	}
	if (keel_pci_device_get_id(addr, &again, drv, sizeof(drv)) != 0 ||
	    memcmp(&again, id, sizeof(again)) != 0 || strcmp(drv, driver) != 0) {
		ctx->bad++;
	}
	return ctx->stop_after > 0 && ctx->calls >= ctx->stop_after;
}

static void
pci_enumerate_visits_every_sysfs_device(void)
{
	struct enum_ctx ctx = {0};
	int expected = sysfs_pci_device_count();
	int n;

	n = keel_pci_enumerate(enum_fn, &ctx);
	CU_ASSERT(n == expected);
	CU_ASSERT(ctx.calls == expected);
	CU_ASSERT(ctx.bad == 0);
	/* Without a callback it only counts. */
	CU_ASSERT(keel_pci_enumerate(NULL, NULL) == expected);
	if (access("/sys/bus/pci/devices", F_OK) == 0) {
		/* This machine has PCI devices: a VM without any would be a broken test bed. */
		CU_ASSERT(n > 0);
	}
}

static void
pci_enumerate_stops_when_the_callback_asks(void)
{
	struct enum_ctx ctx = {.stop_after = 1};

	if (sysfs_pci_device_count() < 2) {
		return;
	}
	CU_ASSERT(keel_pci_enumerate(enum_fn, &ctx) == 1);
	CU_ASSERT(ctx.calls == 1);
}

static void
pci_device_present_and_get_id_follow_sysfs(void)
{
	struct enum_ctx ctx = {.stop_after = 1};
	struct keel_pci_addr absent;
	struct keel_pci_id id;
	char driver[64] = "x";

	CU_ASSERT_FATAL(keel_pci_addr_parse(&absent, "ffff:ff:1f.7") == 0);
	CU_ASSERT(!keel_pci_device_present(&absent));
	CU_ASSERT(keel_pci_device_get_id(&absent, &id, driver, sizeof(driver)) == -ENOENT);
	if (keel_pci_enumerate(enum_fn, &ctx) < 1) {
		return;
	}
	CU_ASSERT(keel_pci_device_present(&ctx.first));
	CU_ASSERT(keel_pci_device_get_id(&ctx.first, &id, driver, sizeof(driver)) == 0);
	CU_ASSERT(memcmp(&id, &ctx.first_id, sizeof(id)) == 0);
	CU_ASSERT(strcmp(driver, ctx.first_driver) == 0);
	/* The driver name is optional and truncated to the room given. */
	CU_ASSERT(keel_pci_device_get_id(&ctx.first, &id, NULL, 0) == 0);
	CU_ASSERT(keel_pci_device_get_id(&ctx.first, &id, driver, 2) == 0);
	CU_ASSERT(strlen(driver) <= 1);
}

int
main(void)
{
	static const struct keel_ut_test tests[] = {
		/* Before the environment starts. */
		KEEL_UT_TEST(opts_init_gives_core_zero_and_private_memory),
		KEEL_UT_TEST(machine_cores_are_counted_and_listed),
		KEEL_UT_TEST(init_with_empty_core_mask_is_einval),
		KEEL_UT_TEST(init_with_core_the_machine_lacks_is_einval),
		KEEL_UT_TEST(init_with_main_core_outside_mask_is_einval),
		KEEL_UT_TEST(init_with_unknown_iova_mode_is_einval),
		KEEL_UT_TEST(init_with_huge_dir_that_is_not_hugetlbfs_is_einval),
		/* PCI through sysfs needs no environment. */
		KEEL_UT_TEST(pci_addr_parses_full_and_short_forms),
		KEEL_UT_TEST(pci_addr_rejects_malformed_and_out_of_range),
		KEEL_UT_TEST(pci_addr_fmt_needs_room_for_the_nul),
		KEEL_UT_TEST(pci_addr_compare_orders_domain_bus_dev_func),
		KEEL_UT_TEST(pci_enumerate_visits_every_sysfs_device),
		KEEL_UT_TEST(pci_enumerate_stops_when_the_callback_asks),
		KEEL_UT_TEST(pci_device_present_and_get_id_follow_sysfs),
		/* The environment, started once. */
		KEEL_UT_TEST(init_without_hugepages_starts_once),
		KEEL_UT_TEST(dma_malloc_honours_alignment_and_reports_iova),
		KEEL_UT_TEST(dma_zmalloc_returns_zeroed_memory),
		KEEL_UT_TEST(dma_realloc_keeps_contents_and_alignment),
		KEEL_UT_TEST(vtophys_translates_dma_memory_and_clamps_size),
		KEEL_UT_TEST(vtophys_of_stack_or_heap_memory_is_an_error),
		KEEL_UT_TEST(mempool_ctor_runs_once_per_object_and_iter_visits_all),
		KEEL_UT_TEST(mempool_without_cache_runs_dry_and_refills),
		KEEL_UT_TEST(mempool_with_cache_counts_cached_objects_and_runs_dry),
		KEEL_UT_TEST(mempool_bulk_get_is_all_or_none),
		KEEL_UT_TEST(mempools_with_the_same_name_can_coexist),
		KEEL_UT_TEST(mempool_of_zero_objects_or_size_is_refused),
		KEEL_UT_TEST(ring_sp_sc_is_fifo_and_holds_exactly_its_size),
		KEEL_UT_TEST(ring_mp_sc_is_fifo_and_holds_exactly_its_size),
		KEEL_UT_TEST(ring_mp_mc_is_fifo_and_holds_exactly_its_size),
		KEEL_UT_TEST(ring_of_unknown_type_is_refused),
		KEEL_UT_TEST(ring_mp_sc_loses_nothing_from_concurrent_producers),
		KEEL_UT_TEST(ticks_advance_at_their_rate_and_delay_waits),
		KEEL_UT_TEST(cores_iterate_over_the_mask_with_the_first_as_main),
		KEEL_UT_TEST(thread_outside_the_environment_has_no_core),
		KEEL_UT_TEST(fini_stops_the_environment),
	};

	return keel_ut_run("env", tests, KEEL_COUNTOF(tests), NULL, NULL);
}
