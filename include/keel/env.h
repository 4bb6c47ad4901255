/*
 * The environment: the only interface to DPDK. EAL start-up from the application options,
 * DMA-safe memory, mempools with per-core caches, rings, virtual-to-IOVA translation, TSC
 * time, cores and the PCI hooks the userspace NVMe driver builds on.
 */
#ifndef KEEL_ENV_H
#define KEEL_ENV_H

#include "keel/stdinc.h"
#include "keel/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KEEL_ENV_SOCKET_ID_ANY (-1)
#define KEEL_VTOPHYS_ERROR UINT64_MAX
#define KEEL_ENV_CORE_ANY UINT32_MAX

struct keel_env_opts {
	/** Program name, used in EAL messages. */
	const char *name;
	/** Cores to run on; must not be empty. */
	struct keel_cpuset cpumask;
	/** Main core (runs the application thread); KEEL_ENV_CORE_ANY: the first core of the mask. */
	uint32_t main_core;
	/** Shared memory id (-1: none; the memory is private to this process). */
	int shm_id;
	/** Memory to reserve at start in MiB (0: grow on demand; without hugepages: 2048). */
	uint32_t mem_size_mb;
	/** Do not scan or use PCI devices. */
	bool no_pci;
	/** Do not use hugepages even if some are reserved. */
	bool no_huge;
	/** Hugetlbfs mount to use (NULL: any). */
	const char *hugedir;
	/** "pa", "va" or NULL (let DPDK choose). */
	const char *iova_mode;
	/** Verbose EAL messages. */
	bool verbose;
	/**
	 * Extra EAL arguments, separated by spaces, appended after keel's own (NULL: none), e.g.
	 * "--vdev dma_skeleton". Copied at keel_env_init().
	 */
	const char *env_context;
};

/** Fill opts with the defaults (core 0, no shm id, grow memory on demand). */
void keel_env_opts_init(struct keel_env_opts *opts);

/**
 * Start the environment (DPDK's EAL). Without reserved hugepages (or with opts->no_huge) it
 * runs on ordinary memory, with one warning in the first case.
 *
 * \return 0; -EINVAL for a bad option (a core the machine lacks, a main core outside the mask);
 *         -EALREADY if already started; -ENOMEM or -EIO if the EAL failed to start.
 */
int keel_env_init(const struct keel_env_opts *opts);
/** Stop the environment and release all its memory (hugepages included). */
void keel_env_fini(void);
/** True once keel_env_init() succeeded. */
bool keel_env_is_initialized(void);
/** True if the environment runs without hugepages. */
bool keel_env_no_huge(void);
/** Free hugepages of all sizes reserved on the machine, in bytes. */
uint64_t keel_env_free_hugepage_bytes(void);

/* DMA-safe memory: physically pinned, usable for device DMA, aligned to align (0: cache line). */
void *keel_dma_malloc(size_t size, size_t align, uint64_t *iova);
void *keel_dma_zmalloc(size_t size, size_t align, uint64_t *iova);
/** Resize; contents kept up to the smaller size. NULL on failure (buf is then untouched). */
void *keel_dma_realloc(void *buf, size_t size, size_t align);
/** Free; NULL is a no-op. */
void keel_dma_free(void *buf);
/**
 * IOVA of a virtual address in DMA-safe memory.
 * \param size  If not NULL: in, the length wanted; out, how many bytes from buf are contiguous
 *              in IOVA space (at most the length wanted).
 * \return the IOVA, or KEEL_VTOPHYS_ERROR if buf is not DMA-safe memory.
 */
uint64_t keel_vtophys(const void *buf, uint64_t *size);

/* Object pools with per-core caches. */
struct keel_mempool;
#define KEEL_MEMPOOL_DEFAULT_CACHE_SIZE 256
/**
 * Create a pool of count objects of elt_size bytes, DMA-safe.
 * \param name        Unique name (a suffix is added when needed; copied).
 * \param cache_size  Objects cached per core (0: none; at most 512).
 * \return the pool, or NULL.
 */
struct keel_mempool *keel_mempool_create(const char *name, size_t count, size_t elt_size,
					 size_t cache_size, int socket_id);
/** Create and call obj_init(pool, ctx, obj, index) on each object. */
struct keel_mempool *keel_mempool_create_ctor(const char *name, size_t count, size_t elt_size,
		size_t cache_size, int socket_id,
		void (*obj_init)(struct keel_mempool *pool, void *ctx, void *obj, unsigned index),
		void *ctx);
void keel_mempool_free(struct keel_mempool *pool);
/** An object, or NULL if the pool is empty. */
void *keel_mempool_get(struct keel_mempool *pool);
/** count objects, all or none. \return 0; -ENOENT if fewer are available. */
int keel_mempool_get_bulk(struct keel_mempool *pool, void **objs, size_t count);
void keel_mempool_put(struct keel_mempool *pool, void *obj);
void keel_mempool_put_bulk(struct keel_mempool *pool, void **objs, size_t count);
/** Objects available (in the pool and every core cache). */
size_t keel_mempool_count(const struct keel_mempool *pool);
/** Call fn on every object of the pool; returns how many. */
uint32_t keel_mempool_obj_iter(struct keel_mempool *pool,
			       void (*fn)(struct keel_mempool *pool, void *ctx, void *obj, uint32_t idx),
			       void *ctx);

/* Lock-free rings of pointers. */
struct keel_ring;
enum keel_ring_type {
	KEEL_RING_TYPE_SP_SC, /* one producer, one consumer */
	KEEL_RING_TYPE_MP_SC, /* many producers, one consumer */
	KEEL_RING_TYPE_MP_MC, /* many producers, many consumers */
};
/** A ring holding at least count pointers; NULL on failure. */
struct keel_ring *keel_ring_create(enum keel_ring_type type, size_t count, int socket_id);
void keel_ring_free(struct keel_ring *ring);
/** Enqueue up to count objects; returns how many were queued. */
size_t keel_ring_enqueue(struct keel_ring *ring, void **objs, size_t count, size_t *free_space);
/** Dequeue up to count objects; returns how many. */
size_t keel_ring_dequeue(struct keel_ring *ring, void **objs, size_t count);
size_t keel_ring_count(struct keel_ring *ring);

/* Time. */
uint64_t keel_get_ticks(void);
uint64_t keel_get_ticks_hz(void);
void keel_delay_us(unsigned int us);

/* Cores. */
uint32_t keel_env_get_core_count(void);
/** Core the caller runs on (an EAL core), or KEEL_ENV_CORE_ANY for other threads. */
uint32_t keel_env_get_current_core(void);
uint32_t keel_env_get_main_core(void);
uint32_t keel_env_get_first_core(void);
/** Next core after prev, or KEEL_ENV_CORE_ANY after the last. */
uint32_t keel_env_get_next_core(uint32_t prev);
#define KEEL_ENV_FOREACH_CORE(i)                                                                   \
	for ((i) = keel_env_get_first_core(); (i) != KEEL_ENV_CORE_ANY;                            \
	     (i) = keel_env_get_next_core(i))
/** NUMA socket of a core. */
int keel_env_get_socket_id(uint32_t core);
/** Number of online CPUs the process may run on (for option checks before start). */
uint32_t keel_env_get_machine_cores(struct keel_cpuset *available);
/**
 * Run fn(arg) on another core of the mask (an EAL worker), pinned there.
 * \return 0; -EBUSY if that core is already running something; -EINVAL if not a worker core.
 */
int keel_env_thread_launch_pinned(uint32_t core, int (*fn)(void *), void *arg);
/** Wait for every launched worker to return. */
void keel_env_thread_wait_all(void);

/*
 * DMA engines (DPDK dmadev): memory-to-memory copy and fill offload. The EAL finds them at start
 * (a hardware engine, or a virtual one named in keel_env_opts.env_context such as
 * "--vdev dma_skeleton"). Each device offers one or more virtual channels (vchans), each an
 * ordered queue of operations. The calls on one vchan are not thread-safe: one thread at a time.
 * Operations complete in the order they were enqueued on their vchan.
 */
#define KEEL_ENV_DMA_NAME_LEN 64

struct keel_env_dma_info {
	/** Device name, e.g. "dma_skeleton". */
	char name[KEEL_ENV_DMA_NAME_LEN];
	/** Most vchans the device can be configured with. */
	uint16_t max_vchans;
	/** Descriptors per vchan, the least and the most. */
	uint16_t min_desc;
	uint16_t max_desc;
	/** The device can fill memory with a pattern (keel_env_dma_fill()). */
	bool fill;
	/** The device takes virtual addresses (shared virtual addressing), not only IOVAs. */
	bool sva;
};

/** Number of DMA devices the environment found (0 before keel_env_init()). */
uint16_t keel_env_dma_count(void);
/** The first DMA device id that is >= start, or -1 if none. */
int keel_env_dma_next(int start);
/** \return 0; -EINVAL if dev_id is not a DMA device. */
int keel_env_dma_get_info(int dev_id, struct keel_env_dma_info *info);

/**
 * Configure a device with nb_vchans memory-to-memory vchans of nb_desc descriptors each and start
 * it. A started device is stopped first (what was queued on it is lost).
 *
 * \return 0; -EINVAL for a bad device id or a count outside the device's limits; -ENOMEM;
 *         -EIO if the driver refused.
 */
int keel_env_dma_configure(int dev_id, uint16_t nb_vchans, uint16_t nb_desc);

/**
 * Queue a copy of len bytes from src to dst (IOVAs, or virtual addresses if the device is sva).
 * submit true also rings the doorbell, as keel_env_dma_submit() does.
 *
 * \return the operation's ring index (>= 0); -ENOSPC if the vchan is full; -EINVAL.
 */
int keel_env_dma_copy(int dev_id, uint16_t vchan, uint64_t src, uint64_t dst, uint32_t len,
		      bool submit);
/**
 * Queue a fill of len bytes at dst with pattern (its 8 bytes repeated, lowest address first).
 * \return the ring index (>= 0); -ENOSPC if the vchan is full; -ENOTSUP; -EINVAL.
 */
int keel_env_dma_fill(int dev_id, uint16_t vchan, uint64_t pattern, uint64_t dst, uint32_t len,
		      bool submit);
/** Hand every queued operation of the vchan to the device. \return 0; -EINVAL. */
int keel_env_dma_submit(int dev_id, uint16_t vchan);
/**
 * Reap up to max finished operations (at most 64), oldest first.
 *
 * \param failed  Array of at least max entries: failed[i] is set true if operation i of those
 *                reaped failed, false if it succeeded.
 * \return how many were reaped.
 */
uint16_t keel_env_dma_completed(int dev_id, uint16_t vchan, uint16_t max, bool *failed);
/** Operations that can still be queued on the vchan now. */
uint16_t keel_env_dma_burst_capacity(int dev_id, uint16_t vchan);
/** Stop a device (a stopped device is left as it is). \return 0; -EINVAL; -EIO. */
int keel_env_dma_stop(int dev_id);
/** Stop and release a device: it is gone until the environment restarts. \return 0; -EINVAL. */
int keel_env_dma_close(int dev_id);

/* PCI: addresses, enumeration through sysfs, BAR mapping and config space. */
struct keel_pci_addr {
	uint32_t domain;
	uint8_t bus;
	uint8_t dev;
	uint8_t func;
};

struct keel_pci_id {
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t subvendor_id;
	uint16_t subdevice_id;
	uint32_t class_id; /* 24 bits: class, subclass, prog-if */
};

struct keel_pci_device;

/** Parse "0000:01:00.0" or "01:00.0". \return 0; -EINVAL. */
int keel_pci_addr_parse(struct keel_pci_addr *addr, const char *str);
/** Format as "0000:01:00.0" (buf of at least 13 bytes). \return 0; -ENOSPC. */
int keel_pci_addr_fmt(char *buf, size_t len, const struct keel_pci_addr *addr);
int keel_pci_addr_compare(const struct keel_pci_addr *a, const struct keel_pci_addr *b);

/**
 * Walk the PCI devices of the machine (sysfs). fn returns 0 to go on, non-zero to stop.
 * \return the number of devices visited, or a negative errno.
 */
int keel_pci_enumerate(int (*fn)(void *ctx, const struct keel_pci_addr *addr,
				 const struct keel_pci_id *id, const char *driver),
		       void *ctx);
/** Read a device's ids and kernel driver name ("" if none). \return 0; -ENOENT if absent. */
int keel_pci_device_get_id(const struct keel_pci_addr *addr, struct keel_pci_id *id,
			   char *driver, size_t driver_len);
/** True if the device is still present in sysfs (for surprise-removal checks). */
bool keel_pci_device_present(const struct keel_pci_addr *addr);

/**
 * Attach a device for userspace access: open its config space and resources. The device must be
 * bound to uio_pci_generic or vfio-pci (or have no driver).
 * \return 0; -ENOENT; -EBUSY if a kernel driver owns it; -EACCES.
 */
int keel_pci_device_attach(const struct keel_pci_addr *addr, struct keel_pci_device **dev);
void keel_pci_device_detach(struct keel_pci_device *dev);
/** Map BAR bar; *addr, *phys, *size describe it. \return 0; -ENOENT; -errno. */
int keel_pci_device_map_bar(struct keel_pci_device *dev, uint32_t bar, void **addr,
			    uint64_t *phys, uint64_t *size);
int keel_pci_device_unmap_bar(struct keel_pci_device *dev, uint32_t bar, void *addr);
int keel_pci_device_cfg_read32(struct keel_pci_device *dev, uint32_t *value, uint32_t offset);
int keel_pci_device_cfg_write32(struct keel_pci_device *dev, uint32_t value, uint32_t offset);
/** Set the bus-master bit in the command register. */
int keel_pci_device_enable_bus_master(struct keel_pci_device *dev);
const struct keel_pci_addr *keel_pci_device_get_addr(const struct keel_pci_device *dev);
const struct keel_pci_id *keel_pci_device_get_id_ptr(const struct keel_pci_device *dev);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_ENV_H */
