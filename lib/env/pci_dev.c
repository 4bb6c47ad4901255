/*
 * The PCI device layer userspace drivers attach through: providers of devices (sysfs devices
 * bound to uio_pci_generic or vfio-pci, and software devices that register themselves), the
 * allowed and blocked address lists, and the uio backend, built on the sysfs helpers of pci.c.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/pci.h"
#include "keel/util.h"

#include "pci_internal.h"

#include <pthread.h>

#define PCI_LIST_MAX 128
#define PCI_CFG_SIZE 4096
#define PCI_COMMAND_OFFSET 0x04
#define PCI_COMMAND_MASTER 0x4

static TAILQ_HEAD(, keel_pci_provider) g_providers = TAILQ_HEAD_INITIALIZER(g_providers);
static pthread_mutex_t g_pci_lock = PTHREAD_MUTEX_INITIALIZER;

static struct keel_pci_addr g_allowed[PCI_LIST_MAX];
static uint32_t g_allowed_count;
static struct keel_pci_addr g_blocked[PCI_LIST_MAX];
static uint32_t g_blocked_count;

/* --- Allowed and blocked lists ------------------------------------------------------------ */

static int
pci_list_add(struct keel_pci_addr *list, uint32_t *count, const char *str)
{
	struct keel_pci_addr addr;

	if (keel_pci_addr_parse(&addr, str) != 0) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_pci_lock);
	if (*count >= PCI_LIST_MAX) {
		pthread_mutex_unlock(&g_pci_lock);
		return -ENOMEM;
	}
	list[(*count)++] = addr;
	pthread_mutex_unlock(&g_pci_lock);
	return 0;
}

int
keel_pci_allowed_add(const char *addr)
{
	return pci_list_add(g_allowed, &g_allowed_count, addr);
}

int
keel_pci_blocked_add(const char *addr)
{
	return pci_list_add(g_blocked, &g_blocked_count, addr);
}

void
keel_pci_lists_clear(void)
{
	pthread_mutex_lock(&g_pci_lock);
	g_allowed_count = 0;
	g_blocked_count = 0;
	pthread_mutex_unlock(&g_pci_lock);
}

static bool
pci_list_has(const struct keel_pci_addr *list, uint32_t count, const struct keel_pci_addr *addr)
{
	uint32_t i;

	for (i = 0; i < count; i++) {
		if (keel_pci_addr_compare(&list[i], addr) == 0) {
			return true;
		}
	}
	return false;
}

bool
keel_pci_addr_allowed(const char *str)
{
	struct keel_pci_addr addr;
	bool ok;

	if (keel_pci_addr_parse(&addr, str) != 0) {
		return true; /* not a sysfs address: a software device */
	}
	pthread_mutex_lock(&g_pci_lock);
	ok = !pci_list_has(g_blocked, g_blocked_count, &addr) &&
	     (g_allowed_count == 0 || pci_list_has(g_allowed, g_allowed_count, &addr));
	pthread_mutex_unlock(&g_pci_lock);
	return ok;
}

/* --- Providers ---------------------------------------------------------------------------- */

void
keel_pci_provider_register(struct keel_pci_provider *provider)
{
	pthread_mutex_lock(&g_pci_lock);
	TAILQ_INSERT_TAIL(&g_providers, provider, link);
	pthread_mutex_unlock(&g_pci_lock);
}

void
keel_pci_provider_unregister(struct keel_pci_provider *provider)
{
	struct keel_pci_provider *p;

	pthread_mutex_lock(&g_pci_lock);
	TAILQ_FOREACH (p, &g_providers, link) {
		if (p == provider) {
			TAILQ_REMOVE(&g_providers, provider, link);
			break;
		}
	}
	pthread_mutex_unlock(&g_pci_lock);
}

static struct keel_pci_provider *
pci_provider_for(const char *addr)
{
	struct keel_pci_provider *p, *found = NULL;

	pthread_mutex_lock(&g_pci_lock);
	TAILQ_FOREACH (p, &g_providers, link) {
		if (p->owns(addr)) {
			found = p;
			break;
		}
	}
	pthread_mutex_unlock(&g_pci_lock);
	return found;
}

int
keel_pci_dev_attach(const char *addr, struct keel_pci_dev **dev)
{
	struct keel_pci_provider *p;

	if (addr == NULL || strlen(addr) >= KEEL_PCI_ADDR_LEN) {
		return -EINVAL;
	}
	p = pci_provider_for(addr);
	if (p == NULL) {
		return -EINVAL;
	}
	if (!keel_pci_addr_allowed(addr)) {
		KEEL_ERRLOG("PCI device %s is excluded by the allowed/blocked lists\n", addr);
		return -EPERM;
	}
	return p->attach(addr, dev);
}

void
keel_pci_dev_detach(struct keel_pci_dev *dev)
{
	if (dev != NULL) {
		dev->ops->detach(dev);
	}
}

struct pci_enum_ctx {
	uint32_t class_id;
	keel_pci_enum_fn fn;
	void *ctx;
	int count;
	bool stop;
};

static int
pci_enum_filter(void *arg, const char *addr, const struct keel_pci_id *id)
{
	struct pci_enum_ctx *ec = arg;

	if ((ec->class_id != UINT32_MAX && id->class_id != ec->class_id) ||
	    !keel_pci_addr_allowed(addr)) {
		return 0;
	}
	ec->count++;
	if (ec->fn(ec->ctx, addr, id) != 0) {
		ec->stop = true;
		return 1;
	}
	return 0;
}

int
keel_pci_dev_enumerate(uint32_t class_id, keel_pci_enum_fn fn, void *ctx)
{
	struct pci_enum_ctx ec = {.class_id = class_id, .fn = fn, .ctx = ctx};
	struct keel_pci_provider *providers[16];
	struct keel_pci_provider *p;
	int n = 0, i;

	/* Copy the list: fn may attach devices, and attaching takes the lock. */
	pthread_mutex_lock(&g_pci_lock);
	TAILQ_FOREACH (p, &g_providers, link) {
		if (n < (int)KEEL_COUNTOF(providers)) {
			providers[n++] = p;
		}
	}
	pthread_mutex_unlock(&g_pci_lock);
	for (i = 0; i < n && !ec.stop; i++) {
		providers[i]->enumerate(pci_enum_filter, &ec);
	}
	return ec.count;
}

bool
keel_pci_addr_present(const char *addr)
{
	struct keel_pci_provider *p = pci_provider_for(addr);

	return p != NULL && p->present(addr);
}

int
keel_pci_dev_map_bar(struct keel_pci_dev *dev, uint32_t bar, void **addr, uint64_t *size)
{
	return dev->ops->map_bar(dev, bar, addr, size);
}

void
keel_pci_dev_unmap_bar(struct keel_pci_dev *dev, uint32_t bar, void *addr)
{
	dev->ops->unmap_bar(dev, bar, addr);
}

int
keel_pci_dev_cfg_read32(struct keel_pci_dev *dev, uint32_t *value, uint32_t offset)
{
	return dev->ops->cfg_read(dev, value, sizeof(*value), offset);
}

int
keel_pci_dev_cfg_write32(struct keel_pci_dev *dev, uint32_t value, uint32_t offset)
{
	return dev->ops->cfg_write(dev, &value, sizeof(value), offset);
}

int
keel_pci_dev_enable_bus_master(struct keel_pci_dev *dev)
{
	uint16_t cmd;
	int rc;

	/* The command register is 16 bits; the status register above it is write-one-to-clear,
	 * so only the low half is written. */
	rc = dev->ops->cfg_read(dev, &cmd, sizeof(cmd), PCI_COMMAND_OFFSET);
	if (rc != 0) {
		return rc;
	}
	if (cmd & PCI_COMMAND_MASTER) {
		return 0;
	}
	cmd |= PCI_COMMAND_MASTER;
	return dev->ops->cfg_write(dev, &cmd, sizeof(cmd), PCI_COMMAND_OFFSET);
}

uint64_t
keel_pci_dev_dma_translate(struct keel_pci_dev *dev, const void *buf, uint64_t *size)
{
	return dev->ops->dma_translate(dev, buf, size);
}

bool
keel_pci_dev_present(struct keel_pci_dev *dev)
{
	return dev->ops->present(dev);
}

/* --- uio_pci_generic backend ---------------------------------------------------------------- */

struct pci_uio_dev {
	struct keel_pci_dev dev;
	struct keel_pci_device *sysfs;
};

static int
uio_map_bar(struct keel_pci_dev *dev, uint32_t bar, void **addr, uint64_t *size)
{
	struct pci_uio_dev *u = dev->ctx;
	uint64_t phys;

	return keel_pci_device_map_bar(u->sysfs, bar, addr, &phys, size);
}

static void
uio_unmap_bar(struct keel_pci_dev *dev, uint32_t bar, void *addr)
{
	struct pci_uio_dev *u = dev->ctx;

	keel_pci_device_unmap_bar(u->sysfs, bar, addr);
}

static int
uio_cfg_read(struct keel_pci_dev *dev, void *buf, uint32_t len, uint32_t offset)
{
	struct pci_uio_dev *u = dev->ctx;
	uint32_t v;
	int rc;

	/* pci.c reads whole dwords: read the one that holds the bytes and cut them out. */
	if (len == 0 || len > 4 || (offset & 3) + len > 4 || offset >= PCI_CFG_SIZE) {
		return -EINVAL;
	}
	rc = keel_pci_device_cfg_read32(u->sysfs, &v, offset & ~3u);
	if (rc == 0) {
		memcpy(buf, (uint8_t *)&v + (offset & 3), len);
	}
	return rc;
}

static int
uio_cfg_write(struct keel_pci_dev *dev, const void *buf, uint32_t len, uint32_t offset)
{
	struct pci_uio_dev *u = dev->ctx;
	uint32_t v;
	int rc;

	if (len == 0 || len > 4 || (offset & 3) + len > 4 || offset >= PCI_CFG_SIZE) {
		return -EINVAL;
	}
	rc = keel_pci_device_cfg_read32(u->sysfs, &v, offset & ~3u);
	if (rc != 0) {
		return rc;
	}
	if (offset == PCI_COMMAND_OFFSET && len == 2) {
		v &= 0xffff; /* do not write back the write-one-to-clear status bits */
	}
	memcpy((uint8_t *)&v + (offset & 3), buf, len);
	return keel_pci_device_cfg_write32(u->sysfs, v, offset & ~3u);
}

static uint64_t
uio_dma_translate(struct keel_pci_dev *dev, const void *buf, uint64_t *size)
{
	(void)dev;
	return keel_vtophys(buf, size);
}

/* Present while sysfs lists the device bound to uio_pci_generic: on hot removal the kernel
 * unbinds the driver first (which turns bus mastering off: DMA then fails) and removes the
 * device after, so an unbound device is already gone for keel. */
static bool
uio_present(struct keel_pci_dev *dev)
{
	struct pci_uio_dev *u = dev->ctx;
	struct keel_pci_id id;
	char driver[64];

	return keel_pci_device_get_id(keel_pci_device_get_addr(u->sysfs), &id, driver,
				      sizeof(driver)) == 0 &&
	       strcmp(driver, "uio_pci_generic") == 0;
}

static void
uio_detach(struct keel_pci_dev *dev)
{
	struct pci_uio_dev *u = dev->ctx;

	keel_pci_device_detach(u->sysfs);
	free(u);
}

static const struct keel_pci_dev_ops g_uio_ops = {
	.map_bar = uio_map_bar,
	.unmap_bar = uio_unmap_bar,
	.cfg_read = uio_cfg_read,
	.cfg_write = uio_cfg_write,
	.dma_translate = uio_dma_translate,
	.present = uio_present,
	.detach = uio_detach,
};

static int
uio_attach(const struct keel_pci_addr *addr, const struct keel_pci_id *id,
	   struct keel_pci_dev **out)
{
	struct pci_uio_dev *u;
	int rc;

	/* uio_pci_generic gives the device no IOMMU mapping: it must be handed physical
	 * addresses, which only hugepage memory in IOVA mode "pa" provides. */
	if (!pci_env_iova_is_pa()) {
		KEEL_ERRLOG("uio_pci_generic needs physical addresses: run with hugepages and "
			    "--iova-mode=pa, or bind the device to vfio-pci\n");
		return -ENOTSUP;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		return -ENOMEM;
	}
	rc = keel_pci_device_attach(addr, &u->sysfs);
	if (rc != 0) {
		free(u);
		return rc;
	}
	keel_pci_addr_fmt(u->dev.addr, sizeof(u->dev.addr), addr);
	u->dev.id = *id;
	u->dev.ops = &g_uio_ops;
	u->dev.ctx = u;
	*out = &u->dev;
	return 0;
}

/* --- The sysfs provider ---------------------------------------------------------------------- */

static bool
sysfs_owns(const char *str)
{
	struct keel_pci_addr addr;

	return keel_pci_addr_parse(&addr, str) == 0;
}

struct sysfs_enum_ctx {
	keel_pci_enum_fn fn;
	void *ctx;
};

static int
sysfs_enum_one(void *arg, const struct keel_pci_addr *addr, const struct keel_pci_id *id,
	       const char *driver)
{
	struct sysfs_enum_ctx *ec = arg;
	char name[KEEL_PCI_ADDR_LEN];

	/* Only devices userspace can drive: a kernel driver's devices are left alone. */
	if (strcmp(driver, "vfio-pci") != 0 && strcmp(driver, "uio_pci_generic") != 0) {
		return 0;
	}
	keel_pci_addr_fmt(name, sizeof(name), addr);
	return ec->fn(ec->ctx, name, id);
}

static int
sysfs_enumerate(keel_pci_enum_fn fn, void *ctx)
{
	struct sysfs_enum_ctx ec = {.fn = fn, .ctx = ctx};

	return keel_pci_enumerate(sysfs_enum_one, &ec);
}

static int
sysfs_attach(const char *str, struct keel_pci_dev **dev)
{
	struct keel_pci_addr addr;
	struct keel_pci_id id;
	char driver[64];
	int rc;

	if (keel_pci_addr_parse(&addr, str) != 0) {
		return -EINVAL;
	}
	rc = keel_pci_device_get_id(&addr, &id, driver, sizeof(driver));
	if (rc != 0) {
		return rc;
	}
	if (strcmp(driver, "vfio-pci") == 0) {
		return pci_vfio_attach(&addr, &id, dev);
	}
	if (strcmp(driver, "uio_pci_generic") == 0) {
		return uio_attach(&addr, &id, dev);
	}
	KEEL_ERRLOG("PCI device %s is bound to %s; bind it to vfio-pci or uio_pci_generic "
		    "(scripts/setup.sh)\n",
		    str, driver[0] != '\0' ? driver : "no driver");
	return -EBUSY;
}

static bool
sysfs_present(const char *str)
{
	struct keel_pci_addr addr;

	return keel_pci_addr_parse(&addr, str) == 0 && keel_pci_device_present(&addr);
}

static struct keel_pci_provider g_sysfs_provider = {
	.name = "pcie",
	.owns = sysfs_owns,
	.enumerate = sysfs_enumerate,
	.attach = sysfs_attach,
	.present = sysfs_present,
};

__attribute__((constructor)) static void
pci_dev_register_sysfs(void)
{
	keel_pci_provider_register(&g_sysfs_provider);
}
