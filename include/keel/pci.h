/*
 * PCI device access for userspace drivers: one interface over devices bound to vfio-pci or
 * uio_pci_generic (found through sysfs) and over software devices (a simulated NVMe controller)
 * that register a provider of their own. Also the allowed and blocked address lists (-A/-B).
 */
#ifndef KEEL_PCI_H
#define KEEL_PCI_H

#include "keel/stdinc.h"
#include "keel/env.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest device address string, NUL included ("0000:01:00.0", "sim:3"). */
#define KEEL_PCI_ADDR_LEN 32

struct keel_pci_dev;

/** What a device implementation provides; every member is required. */
struct keel_pci_dev_ops {
	/** Map BAR bar into the process: *addr (virtual), *size (bytes). \return 0; -errno. */
	int (*map_bar)(struct keel_pci_dev *dev, uint32_t bar, void **addr, uint64_t *size);
	/** Undo map_bar. */
	void (*unmap_bar)(struct keel_pci_dev *dev, uint32_t bar, void *addr);
	/** Read len bytes of configuration space at offset. \return 0; -errno. */
	int (*cfg_read)(struct keel_pci_dev *dev, void *buf, uint32_t len, uint32_t offset);
	/** Write len bytes of configuration space at offset. \return 0; -errno. */
	int (*cfg_write)(struct keel_pci_dev *dev, const void *buf, uint32_t len, uint32_t offset);
	/**
	 * Bus address the device must be given for DMA to buf (DMA-safe memory from lib/env).
	 * \param size  In: bytes wanted; out: bytes contiguous from buf in bus space.
	 * \return the address, or KEEL_VTOPHYS_ERROR.
	 */
	uint64_t (*dma_translate)(struct keel_pci_dev *dev, const void *buf, uint64_t *size);
	/** True while the device is there (false after a surprise removal). */
	bool (*present)(struct keel_pci_dev *dev);
	/** Release the device and free dev. */
	void (*detach)(struct keel_pci_dev *dev);
};

/** An attached device. Filled in by its provider. */
struct keel_pci_dev {
	char addr[KEEL_PCI_ADDR_LEN];
	struct keel_pci_id id;
	const struct keel_pci_dev_ops *ops;
	/** The provider's own state. */
	void *ctx;
};

typedef int (*keel_pci_enum_fn)(void *ctx, const char *addr, const struct keel_pci_id *id);

/**
 * A source of devices. The built-in one ("pcie") serves sysfs addresses ("0000:01:00.0");
 * a software device registers one that owns an address prefix (e.g. "sim:").
 */
struct keel_pci_provider {
	const char *name;
	/** True if addr is one of this provider's addresses (whether or not present). */
	bool (*owns)(const char *addr);
	/** Call fn for every device present; stop when fn returns non-zero. \return count. */
	int (*enumerate)(keel_pci_enum_fn fn, void *ctx);
	/** Attach the device at addr. \return 0; -ENOENT; -EBUSY; -errno. */
	int (*attach)(const char *addr, struct keel_pci_dev **dev);
	/** True if a device answers at addr. */
	bool (*present)(const char *addr);
	TAILQ_ENTRY(keel_pci_provider) link;
};

/** Add a provider (at start-up, or by a library that creates software devices). */
void keel_pci_provider_register(struct keel_pci_provider *provider);
/** Remove a provider added with keel_pci_provider_register(). */
void keel_pci_provider_unregister(struct keel_pci_provider *provider);

/**
 * Attach the device at addr for userspace access through the provider that owns the address.
 * A sysfs device must be bound to vfio-pci or uio_pci_generic; with vfio-pci, lib/env's DMA
 * memory is mapped into the device's IOMMU container.
 *
 * \return 0; -EINVAL for an address no provider knows; -EPERM if the allowed/blocked lists
 *         exclude it; -ENOENT if absent; -EBUSY if a kernel driver owns it; other -errno.
 */
int keel_pci_dev_attach(const char *addr, struct keel_pci_dev **dev);
/** Detach a device (unmapped BARs first). NULL is a no-op. */
void keel_pci_dev_detach(struct keel_pci_dev *dev);

/**
 * Visit every device of class class_id (24 bits; UINT32_MAX: any) of every provider that the
 * allowed/blocked lists let through. fn returns non-zero to stop. \return devices visited.
 */
int keel_pci_dev_enumerate(uint32_t class_id, keel_pci_enum_fn fn, void *ctx);
/** True if a device answers at addr (false for an address no provider owns). */
bool keel_pci_addr_present(const char *addr);

/** Map/unmap a BAR (see struct keel_pci_dev_ops). */
int keel_pci_dev_map_bar(struct keel_pci_dev *dev, uint32_t bar, void **addr, uint64_t *size);
void keel_pci_dev_unmap_bar(struct keel_pci_dev *dev, uint32_t bar, void *addr);
/** Configuration space access, 32 bits. \return 0; -errno. */
int keel_pci_dev_cfg_read32(struct keel_pci_dev *dev, uint32_t *value, uint32_t offset);
int keel_pci_dev_cfg_write32(struct keel_pci_dev *dev, uint32_t value, uint32_t offset);
/** Set the bus master bit of the command register. \return 0; -errno. */
int keel_pci_dev_enable_bus_master(struct keel_pci_dev *dev);
/** Bus address for DMA (see struct keel_pci_dev_ops.dma_translate). */
uint64_t keel_pci_dev_dma_translate(struct keel_pci_dev *dev, const void *buf, uint64_t *size);
/** True while the device is present. */
bool keel_pci_dev_present(struct keel_pci_dev *dev);

/**
 * Add a sysfs address ("0000:01:00.0" or "01:00.0") to the allowed list: once the list has an
 * entry, only listed sysfs devices are used. \return 0; -EINVAL; -ENOMEM.
 */
int keel_pci_allowed_add(const char *addr);
/** Add an address to the blocked list: that device is never used. \return 0; -EINVAL; -ENOMEM. */
int keel_pci_blocked_add(const char *addr);
/** Empty both lists. */
void keel_pci_lists_clear(void);
/**
 * True if the lists let addr through. Only sysfs addresses are filtered: software devices
 * are always allowed.
 */
bool keel_pci_addr_allowed(const char *addr);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_PCI_H */
