/*
 * The vfio-pci backend of the PCI device layer: one VFIO container (type 1 IOMMU) for the
 * process, the device's IOMMU group joined to it, BARs and configuration space reached through
 * the device fd, and every piece of lib/env's DMA memory mapped into the container at its IOVA,
 * including memory the environment allocates later.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/pci.h"
#include "keel/util.h"

#include "pci_internal.h"

#include <pthread.h>

#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <rte_config.h>
#include <rte_eal.h>
#include <rte_memory.h>

#define VFIO_SYSFS "/sys/bus/pci/devices"

struct vfio_group {
	int num;
	int fd;
	uint32_t refs;
	TAILQ_ENTRY(vfio_group) link;
};

struct pci_vfio_dev {
	struct keel_pci_dev dev;
	struct keel_pci_addr addr;
	struct vfio_group *group;
	int fd;
	/* eventfd the kernel signals when it wants the device back (hot removal), or -1. */
	int req_fd;
	bool release_requested;
	uint64_t cfg_offset;
	uint64_t bar_size[6];
};

static pthread_mutex_t g_vfio_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_container_fd = -1;
static bool g_iommu_set;
static bool g_mem_callback;
static TAILQ_HEAD(, vfio_group) g_groups = TAILQ_HEAD_INITIALIZER(g_groups);

bool
pci_env_iova_is_pa(void)
{
	return keel_env_is_initialized() && rte_eal_iova_mode() == RTE_IOVA_PA;
}

static int
vfio_dma_map(uint64_t vaddr, uint64_t iova, uint64_t len)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = vaddr,
		.iova = iova,
		.size = len,
	};

	if (ioctl(g_container_fd, VFIO_IOMMU_MAP_DMA, &map) != 0 && errno != EEXIST) {
		KEEL_ERRLOG("vfio: cannot map %" PRIu64 " bytes at IOVA 0x%" PRIx64 ": %s\n", len,
			    iova, keel_strerror(errno));
		return -errno;
	}
	return 0;
}

static int
vfio_dma_unmap(uint64_t iova, uint64_t len)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = len,
	};

	return ioctl(g_container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap) == 0 ? 0 : -errno;
}

static int
vfio_map_memseg(const struct rte_memseg_list *msl, const struct rte_memseg *ms, size_t len,
		void *arg)
{
	(void)msl;
	(void)arg;
	if (ms->iova == RTE_BAD_IOVA) {
		return 0;
	}
	return vfio_dma_map((uint64_t)(uintptr_t)ms->addr, ms->iova, len) == 0 ? 0 : -1;
}

/* Memory the environment adds or frees after the container was set up. */
static void
vfio_mem_event(enum rte_mem_event type, const void *addr, size_t len, void *arg)
{
	rte_iova_t iova = rte_mem_virt2iova(addr);

	(void)arg;
	if (iova == RTE_BAD_IOVA) {
		return;
	}
	pthread_mutex_lock(&g_vfio_lock);
	if (g_container_fd >= 0 && g_iommu_set) {
		if (type == RTE_MEM_EVENT_ALLOC) {
			vfio_dma_map((uint64_t)(uintptr_t)addr, iova, len);
		} else {
			vfio_dma_unmap(iova, len);
		}
	}
	pthread_mutex_unlock(&g_vfio_lock);
}

static int
vfio_container_open(void)
{
	if (g_container_fd >= 0) {
		return 0;
	}
	g_container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (g_container_fd < 0) {
		KEEL_ERRLOG("vfio: cannot open /dev/vfio/vfio: %s\n", keel_strerror(errno));
		return -errno;
	}
	if (ioctl(g_container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(g_container_fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0) {
		KEEL_ERRLOG("vfio: the kernel offers no type 1 IOMMU\n");
		close(g_container_fd);
		g_container_fd = -1;
		return -ENOTSUP;
	}
	return 0;
}

/* The first group makes the container usable: set the IOMMU type and map all DMA memory. */
static int
vfio_container_setup_iommu(void)
{
	if (g_iommu_set) {
		return 0;
	}
	if (ioctl(g_container_fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) != 0) {
		KEEL_ERRLOG("vfio: cannot set the type 1 IOMMU: %s\n", keel_strerror(errno));
		return -errno;
	}
	g_iommu_set = true;
	if (rte_memseg_contig_walk(vfio_map_memseg, NULL) != 0) {
		return -EIO;
	}
	if (!g_mem_callback) {
		/* -ENOTSUP without dynamic memory (--legacy-mem): nothing can be added then. */
		rte_mem_event_callback_register("keel_vfio", vfio_mem_event, NULL);
		g_mem_callback = true;
	}
	return 0;
}

static int
vfio_group_number(const struct keel_pci_addr *addr)
{
	char name[KEEL_PCI_ADDR_LEN], path[256], target[256];
	const char *slash;
	ssize_t n;

	keel_pci_addr_fmt(name, sizeof(name), addr);
	snprintf(path, sizeof(path), VFIO_SYSFS "/%s/iommu_group", name);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0) {
		return -ENOENT;
	}
	target[n] = '\0';
	slash = strrchr(target, '/');
	return atoi(slash != NULL ? slash + 1 : target);
}

static int
vfio_group_get(int num, struct vfio_group **out)
{
	struct vfio_group_status status = {.argsz = sizeof(status)};
	struct vfio_group *g;
	char path[64];
	int rc;

	TAILQ_FOREACH (g, &g_groups, link) {
		if (g->num == num) {
			g->refs++;
			*out = g;
			return 0;
		}
	}
	g = calloc(1, sizeof(*g));
	if (g == NULL) {
		return -ENOMEM;
	}
	g->num = num;
	snprintf(path, sizeof(path), "/dev/vfio/%d", num);
	g->fd = open(path, O_RDWR | O_CLOEXEC);
	if (g->fd < 0) {
		rc = -errno;
		KEEL_ERRLOG("vfio: cannot open %s: %s\n", path, keel_strerror(-rc));
		goto err_free;
	}
	if (ioctl(g->fd, VFIO_GROUP_GET_STATUS, &status) != 0 ||
	    !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		KEEL_ERRLOG("vfio: group %d is not viable (bind every device of the group to "
			    "vfio-pci)\n",
			    num);
		rc = -EBUSY;
		goto err_close;
	}
	if (ioctl(g->fd, VFIO_GROUP_SET_CONTAINER, &g_container_fd) != 0) {
		rc = -errno;
		goto err_close;
	}
	rc = vfio_container_setup_iommu();
	if (rc != 0) {
		goto err_unset;
	}
	g->refs = 1;
	TAILQ_INSERT_TAIL(&g_groups, g, link);
	*out = g;
	return 0;

err_unset:
	ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER);
err_close:
	close(g->fd);
err_free:
	free(g);
	return rc;
}

static void
vfio_group_put(struct vfio_group *g)
{
	if (--g->refs > 0) {
		return;
	}
	TAILQ_REMOVE(&g_groups, g, link);
	ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER);
	close(g->fd);
	free(g);
	if (TAILQ_EMPTY(&g_groups)) {
		/* The last group leaving the container also drops its IOMMU mappings. */
		g_iommu_set = false;
	}
}

static int
vfio_map_bar(struct keel_pci_dev *dev, uint32_t bar, void **addr, uint64_t *size)
{
	struct pci_vfio_dev *v = dev->ctx;
	struct vfio_region_info reg = {.argsz = sizeof(reg), .index = bar};
	void *map;

	if (bar >= KEEL_COUNTOF(v->bar_size)) {
		return -EINVAL;
	}
	if (ioctl(v->fd, VFIO_DEVICE_GET_REGION_INFO, &reg) != 0) {
		return -errno;
	}
	if (reg.size == 0 || !(reg.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		return -ENOENT;
	}
	map = mmap(NULL, reg.size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, (off_t)reg.offset);
	if (map == MAP_FAILED) {
		return -errno;
	}
	v->bar_size[bar] = reg.size;
	*addr = map;
	*size = reg.size;
	return 0;
}

static void
vfio_unmap_bar(struct keel_pci_dev *dev, uint32_t bar, void *addr)
{
	struct pci_vfio_dev *v = dev->ctx;

	if (bar < KEEL_COUNTOF(v->bar_size) && v->bar_size[bar] != 0) {
		munmap(addr, v->bar_size[bar]);
		v->bar_size[bar] = 0;
	}
}

static int
vfio_cfg_read(struct keel_pci_dev *dev, void *buf, uint32_t len, uint32_t offset)
{
	struct pci_vfio_dev *v = dev->ctx;
	ssize_t n = pread(v->fd, buf, len, (off_t)(v->cfg_offset + offset));

	return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

static int
vfio_cfg_write(struct keel_pci_dev *dev, const void *buf, uint32_t len, uint32_t offset)
{
	struct pci_vfio_dev *v = dev->ctx;
	ssize_t n = pwrite(v->fd, buf, len, (off_t)(v->cfg_offset + offset));

	return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

static uint64_t
vfio_dma_translate(struct keel_pci_dev *dev, const void *buf, uint64_t *size)
{
	(void)dev;
	/* Memory is mapped into the container at the IOVA lib/env reports for it. */
	return keel_vtophys(buf, size);
}

/*
 * The device request interrupt: on hot removal, vfio-pci's remove waits for the process to
 * close the device and signals this eventfd meanwhile (the device stays in sysfs until then),
 * so a device that is asked for counts as gone. Without it the removal would wait forever.
 */
static void
vfio_req_irq_setup(struct pci_vfio_dev *v)
{
	struct vfio_irq_info info = {.argsz = sizeof(info), .index = VFIO_PCI_REQ_IRQ_INDEX};
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;
	int32_t fd;

	v->req_fd = -1;
	if (ioctl(v->fd, VFIO_DEVICE_GET_IRQ_INFO, &info) != 0 || info.count == 0) {
		KEEL_WARNLOG("vfio: %s has no device request interrupt: hot removal will wait "
			     "until the device is detached\n",
			     v->dev.addr);
		return;
	}
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0) {
		return;
	}
	memset(buf, 0, sizeof(buf));
	set->argsz = sizeof(buf);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_REQ_IRQ_INDEX;
	set->start = 0;
	set->count = 1;
	memcpy(set->data, &fd, sizeof(fd));
	if (ioctl(v->fd, VFIO_DEVICE_SET_IRQS, set) != 0) {
		KEEL_WARNLOG("vfio: cannot set the device request interrupt of %s: %s\n",
			     v->dev.addr, keel_strerror(errno));
		close(fd);
		return;
	}
	v->req_fd = fd;
}

static void
vfio_req_irq_teardown(struct pci_vfio_dev *v)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_REQ_IRQ_INDEX,
		.start = 0,
		.count = 0,
	};

	if (v->req_fd < 0) {
		return;
	}
	ioctl(v->fd, VFIO_DEVICE_SET_IRQS, &set);
	close(v->req_fd);
	v->req_fd = -1;
}

static bool
vfio_present(struct keel_pci_dev *dev)
{
	struct pci_vfio_dev *v = dev->ctx;
	uint64_t count;

	if (v->req_fd >= 0 && !__atomic_load_n(&v->release_requested, __ATOMIC_ACQUIRE) &&
	    read(v->req_fd, &count, sizeof(count)) == (ssize_t)sizeof(count)) {
		KEEL_NOTICELOG("vfio: the kernel asks for %s back (hot removal)\n", v->dev.addr);
		__atomic_store_n(&v->release_requested, true, __ATOMIC_RELEASE);
	}
	if (__atomic_load_n(&v->release_requested, __ATOMIC_ACQUIRE)) {
		return false;
	}
	return keel_pci_device_present(&v->addr);
}

static void
vfio_detach(struct keel_pci_dev *dev)
{
	struct pci_vfio_dev *v = dev->ctx;

	vfio_req_irq_teardown(v);
	pthread_mutex_lock(&g_vfio_lock);
	close(v->fd);
	vfio_group_put(v->group);
	pthread_mutex_unlock(&g_vfio_lock);
	free(v);
}

static const struct keel_pci_dev_ops g_vfio_ops = {
	.map_bar = vfio_map_bar,
	.unmap_bar = vfio_unmap_bar,
	.cfg_read = vfio_cfg_read,
	.cfg_write = vfio_cfg_write,
	.dma_translate = vfio_dma_translate,
	.present = vfio_present,
	.detach = vfio_detach,
};

int
pci_vfio_attach(const struct keel_pci_addr *addr, const struct keel_pci_id *id,
		struct keel_pci_dev **out)
{
	struct vfio_region_info cfg = {.argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX};
	struct pci_vfio_dev *v;
	int num, rc;

	if (!keel_env_is_initialized()) {
		return -EAGAIN;
	}
	num = vfio_group_number(addr);
	if (num < 0) {
		KEEL_ERRLOG("vfio: device has no IOMMU group (is the IOMMU on?)\n");
		return num;
	}
	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		return -ENOMEM;
	}
	v->addr = *addr;
	keel_pci_addr_fmt(v->dev.addr, sizeof(v->dev.addr), addr);
	pthread_mutex_lock(&g_vfio_lock);
	rc = vfio_container_open();
	if (rc == 0) {
		rc = vfio_group_get(num, &v->group);
	}
	pthread_mutex_unlock(&g_vfio_lock);
	if (rc != 0) {
		free(v);
		return rc;
	}
	v->fd = ioctl(v->group->fd, VFIO_GROUP_GET_DEVICE_FD, v->dev.addr);
	if (v->fd < 0) {
		rc = -errno;
		KEEL_ERRLOG("vfio: cannot get device %s: %s\n", v->dev.addr, keel_strerror(-rc));
		goto err_put_group;
	}
	if (ioctl(v->fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) != 0) {
		rc = -errno;
		goto err_close;
	}
	v->cfg_offset = cfg.offset;
	/* A reset leaves the device as the kernel found it, without stale queues. */
	ioctl(v->fd, VFIO_DEVICE_RESET);
	v->dev.id = *id;
	v->dev.ops = &g_vfio_ops;
	v->dev.ctx = v;
	vfio_req_irq_setup(v);
	*out = &v->dev;
	return 0;

err_close:
	close(v->fd);
err_put_group:
	pthread_mutex_lock(&g_vfio_lock);
	vfio_group_put(v->group);
	pthread_mutex_unlock(&g_vfio_lock);
	free(v);
	return rc;
}
