/*
 * PCI access through sysfs: address parsing, enumeration, config space and BAR mapping for
 * devices bound to uio_pci_generic or vfio-pci (or to no driver). This is the layer the
 * userspace NVMe driver attaches controllers with; DPDK's own PCI bus is not used because its
 * driver interface is internal to DPDK.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/log.h"

#include <dirent.h>
#include <sys/mman.h>

#define PCI_SYSFS "/sys/bus/pci/devices"
#define PCI_MAX_BARS 6
#define PCI_COMMAND_OFFSET 0x04
#define PCI_COMMAND_MASTER 0x4

struct keel_pci_device {
	struct keel_pci_addr addr;
	struct keel_pci_id id;
	char driver[64];
	int cfg_fd;
	uint64_t bar_size[PCI_MAX_BARS];
};

int
keel_pci_addr_parse(struct keel_pci_addr *addr, const char *str)
{
	unsigned domain = 0, bus, dev, func;
	char tail;

	/* sscanf's %x would also take blanks, signs and "0x" prefixes: allow none of them. */
	if (str == NULL || str[strspn(str, "0123456789abcdefABCDEF:.")] != '\0') {
		return -EINVAL;
	}
	if (sscanf(str, "%x:%x:%x.%x%c", &domain, &bus, &dev, &func, &tail) == 4) {
		/* domain:bus:dev.func */
	} else if (sscanf(str, "%x:%x.%x%c", &bus, &dev, &func, &tail) == 3) {
		domain = 0;
	} else {
		return -EINVAL;
	}
	if (domain > 0xffff || bus > 0xff || dev > 0x1f || func > 7) {
		return -EINVAL;
	}
	addr->domain = domain;
	addr->bus = (uint8_t)bus;
	addr->dev = (uint8_t)dev;
	addr->func = (uint8_t)func;
	return 0;
}

int
keel_pci_addr_fmt(char *buf, size_t len, const struct keel_pci_addr *addr)
{
	int n = snprintf(buf, len, "%04x:%02x:%02x.%x", addr->domain, addr->bus, addr->dev,
			 addr->func);

	return (n < 0 || (size_t)n >= len) ? -ENOSPC : 0;
}

int
keel_pci_addr_compare(const struct keel_pci_addr *a, const struct keel_pci_addr *b)
{
	uint64_t ka = ((uint64_t)a->domain << 24) | (a->bus << 16) | (a->dev << 8) | a->func;
	uint64_t kb = ((uint64_t)b->domain << 24) | (b->bus << 16) | (b->dev << 8) | b->func;

	return ka < kb ? -1 : (ka > kb ? 1 : 0);
}

static int
pci_read_hex(const char *dir, const char *file, uint32_t *val)
{
	char path[512], buf[64];
	uint64_t v;
	FILE *f;
	int rc = -EIO;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (f == NULL) {
		return -errno;
	}
	if (fgets(buf, sizeof(buf), f) != NULL && keel_parse_u64(buf, &v) == 0 && v <= UINT32_MAX) {
		*val = (uint32_t)v;
		rc = 0;
	}
	fclose(f);
	return rc;
}

int
keel_pci_device_get_id(const struct keel_pci_addr *addr, struct keel_pci_id *id, char *driver,
		       size_t driver_len)
{
	char name[32], dir[64], link[96], target[512];
	uint32_t v;
	ssize_t n;

	keel_pci_addr_fmt(name, sizeof(name), addr);
	snprintf(dir, sizeof(dir), PCI_SYSFS "/%s", name);
	memset(id, 0, sizeof(*id));
	if (pci_read_hex(dir, "vendor", &v) != 0) {
		return -ENOENT;
	}
	id->vendor_id = (uint16_t)v;
	if (pci_read_hex(dir, "device", &v) == 0) {
		id->device_id = (uint16_t)v;
	}
	if (pci_read_hex(dir, "subsystem_vendor", &v) == 0) {
		id->subvendor_id = (uint16_t)v;
	}
	if (pci_read_hex(dir, "subsystem_device", &v) == 0) {
		id->subdevice_id = (uint16_t)v;
	}
	if (pci_read_hex(dir, "class", &v) == 0) {
		id->class_id = v & 0xffffff;
	}
	if (driver != NULL && driver_len > 0) {
		driver[0] = '\0';
		snprintf(link, sizeof(link), "%s/driver", dir);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			const char *slash;

			target[n] = '\0';
			slash = strrchr(target, '/');
			keel_strlcpy(driver, slash ? slash + 1 : target, driver_len);
		}
	}
	return 0;
}

bool
keel_pci_device_present(const struct keel_pci_addr *addr)
{
	char name[32], path[256];

	keel_pci_addr_fmt(name, sizeof(name), addr);
	snprintf(path, sizeof(path), PCI_SYSFS "/%s/vendor", name);
	return access(path, F_OK) == 0;
}

int
keel_pci_enumerate(int (*fn)(void *ctx, const struct keel_pci_addr *addr,
			     const struct keel_pci_id *id, const char *driver),
		   void *ctx)
{
	struct keel_pci_addr addr;
	struct keel_pci_id id;
	struct dirent *de;
	char driver[64];
	int count = 0;
	DIR *dir;

	dir = opendir(PCI_SYSFS);
	if (dir == NULL) {
		return -errno;
	}
	while ((de = readdir(dir)) != NULL) {
		if (keel_pci_addr_parse(&addr, de->d_name) != 0) {
			continue;
		}
		if (keel_pci_device_get_id(&addr, &id, driver, sizeof(driver)) != 0) {
			continue;
		}
		count++;
		if (fn != NULL && fn(ctx, &addr, &id, driver) != 0) {
			break;
		}
	}
	closedir(dir);
	return count;
}

int
keel_pci_device_attach(const struct keel_pci_addr *addr, struct keel_pci_device **out)
{
	struct keel_pci_device *dev;
	char name[32], path[256];
	int rc;

	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		return -ENOMEM;
	}
	dev->addr = *addr;
	rc = keel_pci_device_get_id(addr, &dev->id, dev->driver, sizeof(dev->driver));
	if (rc != 0) {
		goto err_free;
	}
	if (dev->driver[0] != '\0' && strcmp(dev->driver, "uio_pci_generic") != 0 &&
	    strcmp(dev->driver, "vfio-pci") != 0) {
		keel_pci_addr_fmt(name, sizeof(name), addr);
		KEEL_ERRLOG("PCI device %s is bound to the kernel driver %s; bind it to "
			    "uio_pci_generic or vfio-pci first\n", name, dev->driver);
		rc = -EBUSY;
		goto err_free;
	}
	keel_pci_addr_fmt(name, sizeof(name), addr);
	snprintf(path, sizeof(path), PCI_SYSFS "/%s/config", name);
	dev->cfg_fd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->cfg_fd < 0) {
		rc = -errno;
		goto err_free;
	}
	*out = dev;
	return 0;

err_free:
	free(dev);
	return rc;
}

void
keel_pci_device_detach(struct keel_pci_device *dev)
{
	if (dev == NULL) {
		return;
	}
	close(dev->cfg_fd);
	free(dev);
}

int
keel_pci_device_map_bar(struct keel_pci_device *dev, uint32_t bar, void **addr, uint64_t *phys,
			uint64_t *size)
{
	char name[32], path[256], line[256];
	uint64_t start = 0, end = 0, flags = 0;
	struct stat st;
	uint32_t i;
	void *map;
	FILE *f;
	int fd;

	if (bar >= PCI_MAX_BARS) {
		return -EINVAL;
	}
	keel_pci_addr_fmt(name, sizeof(name), &dev->addr);
	snprintf(path, sizeof(path), PCI_SYSFS "/%s/resource", name);
	f = fopen(path, "r");
	if (f == NULL) {
		return -errno;
	}
	for (i = 0; i <= bar && fgets(line, sizeof(line), f) != NULL; i++) {
		if (i == bar && sscanf(line, "%" SCNx64 " %" SCNx64 " %" SCNx64, &start, &end,
				       &flags) != 3) {
			fclose(f);
			return -EIO;
		}
	}
	fclose(f);
	if (i <= bar || end <= start) {
		return -ENOENT;
	}
	snprintf(path, sizeof(path), PCI_SYSFS "/%s/resource%u", name, bar);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &st) != 0 || st.st_size == 0) {
		close(fd);
		return -EIO;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		return -errno;
	}
	dev->bar_size[bar] = (uint64_t)st.st_size;
	*addr = map;
	*phys = start;
	*size = (uint64_t)st.st_size;
	return 0;
}

int
keel_pci_device_unmap_bar(struct keel_pci_device *dev, uint32_t bar, void *addr)
{
	if (bar >= PCI_MAX_BARS || dev->bar_size[bar] == 0) {
		return -EINVAL;
	}
	if (munmap(addr, dev->bar_size[bar]) != 0) {
		return -errno;
	}
	dev->bar_size[bar] = 0;
	return 0;
}

int
keel_pci_device_cfg_read32(struct keel_pci_device *dev, uint32_t *value, uint32_t offset)
{
	ssize_t n = pread(dev->cfg_fd, value, sizeof(*value), offset);

	return n == sizeof(*value) ? 0 : (n < 0 ? -errno : -EIO);
}

int
keel_pci_device_cfg_write32(struct keel_pci_device *dev, uint32_t value, uint32_t offset)
{
	ssize_t n = pwrite(dev->cfg_fd, &value, sizeof(value), offset);

	return n == sizeof(value) ? 0 : (n < 0 ? -errno : -EIO);
}

int
keel_pci_device_enable_bus_master(struct keel_pci_device *dev)
{
	uint32_t cmd;
	int rc;

	rc = keel_pci_device_cfg_read32(dev, &cmd, PCI_COMMAND_OFFSET);
	if (rc != 0) {
		return rc;
	}
	if (cmd & PCI_COMMAND_MASTER) {
		return 0;
	}
	/* Only the low 16 bits are the command register; leave the status bits as read (they are
	 * write-one-to-clear, so write zeros there). */
	cmd = (cmd & 0xffff) | PCI_COMMAND_MASTER;
	return keel_pci_device_cfg_write32(dev, cmd, PCI_COMMAND_OFFSET);
}

const struct keel_pci_addr *
keel_pci_device_get_addr(const struct keel_pci_device *dev)
{
	return &dev->addr;
}

const struct keel_pci_id *
keel_pci_device_get_id_ptr(const struct keel_pci_device *dev)
{
	return &dev->id;
}
