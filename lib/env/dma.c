/*
 * DMA engines through DPDK's dmadev: device discovery, configuration of memory-to-memory
 * virtual channels, and thin wrappers over the enqueue, doorbell and completion calls that the
 * copy engine (lib/accel) drives. Devices this file started are stopped before the EAL is torn
 * down, since a running device may still touch memory that keel_env_fini() releases.
 */
/* The dmadev API is marked experimental in the DPDK releases keel builds against. */
#define ALLOW_EXPERIMENTAL_API

#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/util.h"

#include "env_internal.h"

#include <rte_config.h>
#include <rte_dmadev.h>
#include <rte_errno.h>

#define DMA_MAX_COMPLETIONS 64

/* Devices started by keel_env_dma_configure(), indexed by dmadev id. */
static bool g_dma_started[RTE_DMADEV_DEFAULT_MAX];

static bool
dma_valid(int dev_id)
{
	return dev_id >= 0 && dev_id < RTE_DMADEV_DEFAULT_MAX && rte_dma_is_valid((int16_t)dev_id);
}

static void
dma_stop_all(void)
{
	int i;

	for (i = 0; i < RTE_DMADEV_DEFAULT_MAX; i++) {
		if (g_dma_started[i]) {
			keel_env_dma_stop(i);
		}
	}
}

uint16_t
keel_env_dma_count(void)
{
	if (!keel_env_is_initialized()) {
		return 0;
	}
	return rte_dma_count_avail();
}

int
keel_env_dma_next(int start)
{
	int16_t id;

	if (!keel_env_is_initialized() || start < 0 || start >= RTE_DMADEV_DEFAULT_MAX) {
		return -1;
	}
	id = rte_dma_next_dev((int16_t)start);
	return id < 0 ? -1 : id;
}

int
keel_env_dma_get_info(int dev_id, struct keel_env_dma_info *info)
{
	struct rte_dma_info dinfo;

	if (!dma_valid(dev_id) || rte_dma_info_get((int16_t)dev_id, &dinfo) != 0) {
		return -EINVAL;
	}
	memset(info, 0, sizeof(*info));
	keel_strlcpy(info->name, dinfo.dev_name ? dinfo.dev_name : "", sizeof(info->name));
	info->max_vchans = dinfo.max_vchans;
	info->min_desc = dinfo.min_desc;
	info->max_desc = dinfo.max_desc;
	info->fill = (dinfo.dev_capa & RTE_DMA_CAPA_OPS_FILL) != 0;
	info->sva = (dinfo.dev_capa & RTE_DMA_CAPA_SVA) != 0;
	return 0;
}

int
keel_env_dma_configure(int dev_id, uint16_t nb_vchans, uint16_t nb_desc)
{
	struct rte_dma_vchan_conf vconf;
	struct rte_dma_conf conf;
	struct rte_dma_info dinfo;
	uint16_t v;
	int rc;

	if (!dma_valid(dev_id) || rte_dma_info_get((int16_t)dev_id, &dinfo) != 0) {
		return -EINVAL;
	}
	if (nb_vchans == 0 || nb_vchans > dinfo.max_vchans || nb_desc < dinfo.min_desc ||
	    nb_desc > dinfo.max_desc || (dinfo.dev_capa & RTE_DMA_CAPA_MEM_TO_MEM) == 0) {
		return -EINVAL;
	}
	if (g_dma_started[dev_id]) {
		keel_env_dma_stop(dev_id);
	}
	memset(&conf, 0, sizeof(conf));
	conf.nb_vchans = nb_vchans;
	rc = rte_dma_configure((int16_t)dev_id, &conf);
	if (rc != 0) {
		KEEL_ERRLOG("DMA device %s: configure: %s\n", dinfo.dev_name, keel_strerror(-rc));
		return rc == -ENOMEM ? -ENOMEM : -EIO;
	}
	for (v = 0; v < nb_vchans; v++) {
		memset(&vconf, 0, sizeof(vconf));
		vconf.direction = RTE_DMA_DIR_MEM_TO_MEM;
		vconf.nb_desc = nb_desc;
		rc = rte_dma_vchan_setup((int16_t)dev_id, v, &vconf);
		if (rc != 0) {
			KEEL_ERRLOG("DMA device %s: vchan %u with %u descriptors: %s\n",
				    dinfo.dev_name, v, nb_desc, keel_strerror(-rc));
			return rc == -ENOMEM ? -ENOMEM : -EIO;
		}
	}
	rc = rte_dma_start((int16_t)dev_id);
	if (rc != 0) {
		KEEL_ERRLOG("DMA device %s: start: %s\n", dinfo.dev_name, keel_strerror(-rc));
		return -EIO;
	}
	g_dma_started[dev_id] = true;
	g_env_dma_fini = dma_stop_all;
	return 0;
}

int
keel_env_dma_copy(int dev_id, uint16_t vchan, uint64_t src, uint64_t dst, uint32_t len, bool submit)
{
	int rc;

	rc = rte_dma_copy((int16_t)dev_id, vchan, src, dst, len,
			  submit ? RTE_DMA_OP_FLAG_SUBMIT : 0);
	if (rc < 0) {
		return rc == -ENOSPC ? -ENOSPC : -EINVAL;
	}
	return rc;
}

int
keel_env_dma_fill(int dev_id, uint16_t vchan, uint64_t pattern, uint64_t dst, uint32_t len,
		  bool submit)
{
	int rc;

	rc = rte_dma_fill((int16_t)dev_id, vchan, pattern, dst, len,
			  submit ? RTE_DMA_OP_FLAG_SUBMIT : 0);
	if (rc < 0) {
		return (rc == -ENOSPC || rc == -ENOTSUP) ? rc : -EINVAL;
	}
	return rc;
}

int
keel_env_dma_submit(int dev_id, uint16_t vchan)
{
	return rte_dma_submit((int16_t)dev_id, vchan) == 0 ? 0 : -EINVAL;
}

uint16_t
keel_env_dma_completed(int dev_id, uint16_t vchan, uint16_t max, bool *failed)
{
	enum rte_dma_status_code status[DMA_MAX_COMPLETIONS];
	uint16_t n, i;

	if (max == 0) {
		return 0;
	}
	n = rte_dma_completed_status((int16_t)dev_id, vchan, KEEL_MIN(max, DMA_MAX_COMPLETIONS),
				     NULL, status);
	for (i = 0; i < n; i++) {
		failed[i] = status[i] != RTE_DMA_STATUS_SUCCESSFUL;
	}
	return n;
}

uint16_t
keel_env_dma_burst_capacity(int dev_id, uint16_t vchan)
{
	return rte_dma_burst_capacity((int16_t)dev_id, vchan);
}

int
keel_env_dma_stop(int dev_id)
{
	int rc;

	if (!dma_valid(dev_id)) {
		return -EINVAL;
	}
	if (!g_dma_started[dev_id]) {
		return 0;
	}
	rc = rte_dma_stop((int16_t)dev_id);
	if (rc != 0) {
		return -EIO;
	}
	g_dma_started[dev_id] = false;
	return 0;
}

int
keel_env_dma_close(int dev_id)
{
	if (!dma_valid(dev_id)) {
		return -EINVAL;
	}
	keel_env_dma_stop(dev_id);
	return rte_dma_close((int16_t)dev_id) == 0 ? 0 : -EIO;
}
