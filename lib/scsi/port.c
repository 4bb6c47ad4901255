/*
 * SCSI ports: the target ports of a device (one per portal group, relative target port
 * identifiers 1..n) and the initiator ports of sessions, which carry the iSCSI TransportID that
 * persistent reservations report (SPC-4 7.6.4.6).
 */
#include "keel/stdinc.h"
#include "keel/log.h"

#include "scsi_internal.h"

/*
 * iSCSI TransportID, FORMAT CODE 00b (SPC-4 7.6.4.6): byte 0 is the format code and protocol
 * identifier, bytes 2-3 the additional length, then the iSCSI name of the initiator node (the
 * port name up to ",i,0x"), NUL-terminated and padded with NULs to a multiple of 4 bytes; the
 * additional length is at least 20.
 */
static void
port_build_transport_id(struct keel_scsi_port *port)
{
	const char *sep = strstr(port->name, ",i,0x");
	size_t name_len = sep != NULL ? (size_t)(sep - port->name) : strlen(port->name);
	size_t add_len = (name_len + 1 + 3) & ~(size_t)3;

	if (add_len < 20) {
		add_len = 20;
	}
	memset(port->transport_id, 0, sizeof(port->transport_id));
	port->transport_id[0] = KEEL_SCSI_PROTOCOL_ISCSI;
	port->transport_id[2] = (uint8_t)(add_len >> 8);
	port->transport_id[3] = (uint8_t)add_len;
	memcpy(&port->transport_id[4], port->name, name_len);
	port->transport_id_len = (uint16_t)(4 + add_len);
}

struct keel_scsi_port *
keel_scsi_port_create(uint64_t id, uint16_t index, const char *name)
{
	struct keel_scsi_port *port;

	if (name == NULL || strlen(name) > KEEL_SCSI_PORT_MAX_NAME) {
		KEEL_ERRLOG("port name %s\n", name == NULL ? "missing" : "too long");
		return NULL;
	}
	port = calloc(1, sizeof(*port));
	if (port == NULL) {
		return NULL;
	}
	port->id = id;
	port->index = index;
	port->is_used = true;
	snprintf(port->name, sizeof(port->name), "%s", name);
	port_build_transport_id(port);
	return port;
}

void
keel_scsi_port_free(struct keel_scsi_port **pport)
{
	if (pport == NULL || *pport == NULL) {
		return;
	}
	free(*pport);
	*pport = NULL;
}

const char *
keel_scsi_port_get_name(const struct keel_scsi_port *port)
{
	return port->name;
}

uint16_t
keel_scsi_port_get_relative_id(const struct keel_scsi_port *port)
{
	return port->index;
}

/* The slot of a target port by id, or NULL. Under dev->lock. */
static struct keel_scsi_port *
port_find_locked(struct keel_scsi_dev *dev, uint64_t id)
{
	int i;

	for (i = 0; i < dev->num_ports; i++) {
		if (dev->ports[i].is_used && dev->ports[i].id == id) {
			return &dev->ports[i];
		}
	}
	return NULL;
}

/* The lowest relative target port identifier no port of dev uses. Under dev->lock. */
static uint16_t
port_free_relative_id(struct keel_scsi_dev *dev)
{
	uint16_t rel;
	int i;

	for (rel = 1;; rel++) {
		for (i = 0; i < dev->num_ports; i++) {
			if (dev->ports[i].is_used && dev->ports[i].index == rel) {
				break;
			}
		}
		if (i == dev->num_ports) {
			return rel;
		}
	}
}

int
keel_scsi_dev_add_port(struct keel_scsi_dev *dev, uint64_t id, const char *name)
{
	struct keel_scsi_port *port = NULL;
	int i, rc = 0;

	if (name == NULL || strlen(name) > KEEL_SCSI_PORT_MAX_NAME) {
		return -EINVAL;
	}
	pthread_mutex_lock(&dev->lock);
	if (port_find_locked(dev, id) != NULL) {
		rc = -EEXIST;
		goto out;
	}
	for (i = 0; i < KEEL_SCSI_DEV_MAX_PORTS; i++) {
		if (!dev->ports[i].is_used) {
			port = &dev->ports[i];
			break;
		}
	}
	if (port == NULL) {
		rc = -ENOSPC;
		goto out;
	}
	memset(port, 0, sizeof(*port));
	port->id = id;
	port->index = port_free_relative_id(dev);
	port->is_target = true;
	snprintf(port->name, sizeof(port->name), "%s", name);
	port->is_used = true;
	if (i >= dev->num_ports) {
		dev->num_ports = i + 1;
	}
out:
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

int
keel_scsi_dev_delete_port(struct keel_scsi_dev *dev, uint64_t id)
{
	struct keel_scsi_port *port;
	int rc = 0;

	pthread_mutex_lock(&dev->lock);
	port = port_find_locked(dev, id);
	if (port == NULL) {
		rc = -ENOENT;
	} else {
		/* Leave nothing that a walk over the slots could match. */
		memset(port, 0, sizeof(*port));
		while (dev->num_ports > 0 && !dev->ports[dev->num_ports - 1].is_used) {
			dev->num_ports--;
		}
	}
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

struct keel_scsi_port *
keel_scsi_dev_find_port_by_id(struct keel_scsi_dev *dev, uint64_t id)
{
	struct keel_scsi_port *port;

	pthread_mutex_lock(&dev->lock);
	port = port_find_locked(dev, id);
	pthread_mutex_unlock(&dev->lock);
	return port;
}
