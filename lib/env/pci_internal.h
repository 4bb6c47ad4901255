/*
 * Private to lib/env's PCI device layer: the vfio-pci backend used by pci_dev.c, and the IOVA
 * mode query that decides whether uio_pci_generic can be used.
 */
#ifndef KEEL_ENV_PCI_INTERNAL_H
#define KEEL_ENV_PCI_INTERNAL_H

#include "keel/stdinc.h"
#include "keel/pci.h"

/** Attach a sysfs device bound to vfio-pci. \return 0; -errno. */
int pci_vfio_attach(const struct keel_pci_addr *addr, const struct keel_pci_id *id,
		    struct keel_pci_dev **dev);
/** True if lib/env hands out physical addresses as IOVAs (needed by uio_pci_generic). */
bool pci_env_iova_is_pa(void);

#endif /* KEEL_ENV_PCI_INTERNAL_H */
