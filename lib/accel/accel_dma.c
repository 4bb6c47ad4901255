/*
 * The DMA side of the copy engine: one queue per dmadev virtual channel, shared out among the
 * threads' channels, the translation of buffers into device addresses (split where IOVAs are
 * not contiguous), and the reaping of completions in queue order. Every dmadev call goes through
 * lib/env.
 */
#include "keel/stdinc.h"
#include "keel/accel.h"
#include "keel/env.h"
#include "keel/log.h"
#include "keel/thread.h"
#include "keel/util.h"

#include "accel_internal.h"

#define ACCEL_DMA_MAX_QUEUES 128
#define ACCEL_DMA_MAX_DEVS 64

static pthread_mutex_t g_dma_lock = PTHREAD_MUTEX_INITIALIZER;
static struct accel_dma_queue *g_dma_queues[ACCEL_DMA_MAX_QUEUES];
static uint32_t g_dma_nb_queues;
static int g_dma_devs[ACCEL_DMA_MAX_DEVS];
static uint32_t g_dma_nb_devs;

static uint32_t
dma_pow2_floor(uint32_t v)
{
	uint32_t p = 1;

	while (p * 2 <= v && p < (1u << 30)) {
		p *= 2;
	}
	return p;
}

/* Descriptors per vchan: ACCEL_DMA_DESC within the device's limits, a power of two if possible
 * (some drivers require one). */
static uint16_t
dma_pick_desc(const struct keel_env_dma_info *info)
{
	uint32_t min = info->min_desc ? info->min_desc : 1;
	uint32_t max = info->max_desc ? info->max_desc : ACCEL_DMA_DESC;
	uint32_t want = ACCEL_DMA_DESC;

	if (want > max) {
		want = dma_pow2_floor(max);
	}
	if (want < min) {
		want = dma_pow2_floor(min);
		if (want < min) {
			want *= 2;
		}
		if (want > max) {
			want = min;
		}
	}
	return (uint16_t)KEEL_MIN(want, UINT16_MAX);
}

static void
dma_queue_free(struct accel_dma_queue *q)
{
	if (q == NULL) {
		return;
	}
	pthread_spin_destroy(&q->lock);
	free(q->slots);
	free(q);
}

static struct accel_dma_queue *
dma_queue_alloc(int dev_id, uint16_t vchan, const struct keel_env_dma_info *info, uint16_t nb_desc)
{
	struct accel_dma_queue *q;

	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		return NULL;
	}
	/* Enough slots for every descriptor; a power of two so that indexes can be masked. */
	q->nb_slots = dma_pow2_floor(nb_desc);
	if (q->nb_slots < nb_desc) {
		q->nb_slots *= 2;
	}
	q->slots = calloc(q->nb_slots, sizeof(*q->slots));
	if (q->slots == NULL || pthread_spin_init(&q->lock, PTHREAD_PROCESS_PRIVATE) != 0) {
		free(q->slots);
		free(q);
		return NULL;
	}
	q->dev_id = dev_id;
	q->vchan = vchan;
	q->sva = info->sva;
	q->fill = info->fill;
	snprintf(q->name, sizeof(q->name), "%.40s/%u", info->name, vchan);
	return q;
}

/* Configure one device with up to one vchan per core and add its queues. */
static void
dma_setup_device(int dev_id, uint32_t nb_cores)
{
	struct keel_env_dma_info info;
	struct accel_dma_queue *q;
	uint16_t nb_vchans, nb_desc, v;
	int rc;

	if (keel_env_dma_get_info(dev_id, &info) != 0 || info.max_vchans == 0) {
		return;
	}
	nb_vchans = (uint16_t)KEEL_MIN((uint32_t)info.max_vchans, KEEL_MAX(nb_cores, 1u));
	nb_vchans = (uint16_t)KEEL_MIN((uint32_t)nb_vchans, ACCEL_DMA_MAX_QUEUES - g_dma_nb_queues);
	if (nb_vchans == 0 || g_dma_nb_devs == ACCEL_DMA_MAX_DEVS) {
		return;
	}
	nb_desc = dma_pick_desc(&info);
	rc = keel_env_dma_configure(dev_id, nb_vchans, nb_desc);
	if (rc != 0) {
		KEEL_WARNLOG("DMA device %s not used: %s\n", info.name, keel_strerror(-rc));
		return;
	}
	g_dma_devs[g_dma_nb_devs++] = dev_id;
	for (v = 0; v < nb_vchans; v++) {
		q = dma_queue_alloc(dev_id, v, &info, nb_desc);
		if (q == NULL) {
			KEEL_WARNLOG("DMA device %s: out of memory for vchan %u\n", info.name, v);
			break;
		}
		g_dma_queues[g_dma_nb_queues++] = q;
	}
}

uint32_t
accel_dma_init(void)
{
	uint32_t nb_cores;
	int id;

	assert(g_dma_nb_queues == 0 && g_dma_nb_devs == 0);
	if (keel_env_dma_count() == 0) {
		return 0;
	}
	nb_cores = keel_env_get_core_count();
	for (id = keel_env_dma_next(0); id >= 0; id = keel_env_dma_next(id + 1)) {
		dma_setup_device(id, nb_cores);
	}
	return g_dma_nb_queues;
}

void
accel_dma_fini(void)
{
	uint32_t i;

	for (i = 0; i < g_dma_nb_devs; i++) {
		keel_env_dma_stop(g_dma_devs[i]);
	}
	g_dma_nb_devs = 0;
	for (i = 0; i < g_dma_nb_queues; i++) {
		assert(g_dma_queues[i]->users == 0);
		dma_queue_free(g_dma_queues[i]);
		g_dma_queues[i] = NULL;
	}
	g_dma_nb_queues = 0;
}

void
accel_dma_describe(char *buf, size_t len)
{
	size_t off = 0;
	uint32_t i;
	int n;

	buf[0] = '\0';
	for (i = 0; i < g_dma_nb_queues && off < len; i++) {
		n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", g_dma_queues[i]->name);
		if (n < 0) {
			break;
		}
		off += (size_t)n;
	}
}

struct accel_dma_queue *
accel_dma_queue_get(void)
{
	struct accel_dma_queue *best = NULL;
	uint32_t i;

	pthread_mutex_lock(&g_dma_lock);
	for (i = 0; i < g_dma_nb_queues; i++) {
		if (best == NULL || g_dma_queues[i]->users < best->users) {
			best = g_dma_queues[i];
		}
	}
	if (best != NULL) {
		best->users++;
	}
	pthread_mutex_unlock(&g_dma_lock);
	return best;
}

void
accel_dma_queue_put(struct accel_dma_queue *q)
{
	if (q == NULL) {
		return;
	}
	pthread_mutex_lock(&g_dma_lock);
	assert(q->users > 0);
	q->users--;
	pthread_mutex_unlock(&g_dma_lock);
}

/*
 * The device address of buf, and in *len how many bytes from it the device may treat as one
 * contiguous range (at most *len). Only DMA-safe memory is handed to the device, even one that
 * takes virtual addresses: such memory is pinned, so the device never waits on a page fault.
 */
static int
dma_addr(const struct accel_dma_queue *q, const void *buf, uint32_t *len, uint64_t *addr)
{
	uint64_t avail = *len;
	uint64_t iova;

	iova = keel_vtophys(buf, &avail);
	if (iova == KEEL_VTOPHYS_ERROR) {
		return -ENOTSUP;
	}
	if (q->sva) {
		*addr = (uint64_t)(uintptr_t)buf;
		return 0;
	}
	if (avail == 0) {
		return -ENOTSUP;
	}
	*addr = iova;
	*len = (uint32_t)KEEL_MIN(avail, (uint64_t)*len);
	return 0;
}

/* Split a copy into device operations. \return the count; -ENOTSUP if it cannot go to DMA. */
static int
dma_build_copy_segs(const struct accel_dma_queue *q, const struct iovec *dst_iovs, int dst_iovcnt,
		    const struct iovec *src_iovs, int src_iovcnt, struct accel_dma_seg *segs)
{
	struct accel_dma_seg *seg;
	size_t soff = 0, doff = 0;
	int si = 0, di = 0, n = 0;
	uint32_t len;

	while (accel_iov_next(src_iovs, src_iovcnt, &si, &soff) &&
	       accel_iov_next(dst_iovs, dst_iovcnt, &di, &doff)) {
		if (n == ACCEL_DMA_MAX_SEGS) {
			return -ENOTSUP;
		}
		seg = &segs[n];
		seg->src = (const char *)src_iovs[si].iov_base + soff;
		seg->dst = (char *)dst_iovs[di].iov_base + doff;
		len = (uint32_t)KEEL_MIN(KEEL_MIN(src_iovs[si].iov_len - soff,
						  dst_iovs[di].iov_len - doff),
					 (size_t)ACCEL_DMA_MAX_SEG_BYTES);
		if (dma_addr(q, seg->src, &len, &seg->src_addr) != 0 ||
		    dma_addr(q, seg->dst, &len, &seg->dst_addr) != 0) {
			return -ENOTSUP;
		}
		seg->len = len;
		soff += len;
		doff += len;
		n++;
	}
	return n;
}

/* Split a fill into device operations. \return the count; -ENOTSUP. */
static int
dma_build_fill_segs(const struct accel_dma_queue *q, void *dst, size_t nbytes,
		    struct accel_dma_seg *segs)
{
	size_t off = 0;
	uint32_t len;
	int n = 0;

	while (off < nbytes) {
		if (n == ACCEL_DMA_MAX_SEGS) {
			return -ENOTSUP;
		}
		segs[n].src = NULL;
		segs[n].src_addr = 0;
		segs[n].dst = (char *)dst + off;
		len = (uint32_t)KEEL_MIN(nbytes - off, (size_t)ACCEL_DMA_MAX_SEG_BYTES);
		if (dma_addr(q, segs[n].dst, &len, &segs[n].dst_addr) != 0) {
			return -ENOTSUP;
		}
		segs[n].len = len;
		off += len;
		n++;
	}
	return n;
}

/* Queue the segments of task and ring the doorbell once; the queue is locked and has room.
 * \return operations queued (fewer than nsegs only if the device refused one all the same). */
static uint32_t
dma_enqueue(struct accel_dma_queue *q, struct accel_task *task, const struct accel_dma_seg *segs,
	    int nsegs, bool fill, uint64_t pattern)
{
	uint32_t queued = 0;
	int i, rc;

	for (i = 0; i < nsegs; i++) {
		if (fill) {
			rc = keel_env_dma_fill(q->dev_id, q->vchan, pattern, segs[i].dst_addr,
					       segs[i].len, false);
		} else {
			rc = keel_env_dma_copy(q->dev_id, q->vchan, segs[i].src_addr,
					       segs[i].dst_addr, segs[i].len, false);
		}
		if (rc < 0) {
			break;
		}
		q->slots[q->head++ & (q->nb_slots - 1)] = task;
		queued++;
	}
	if (queued > 0) {
		keel_env_dma_submit(q->dev_id, q->vchan);
	}
	return queued;
}

static int
dma_submit(struct accel_channel *ch, struct accel_task *task, const struct accel_dma_seg *segs,
	   int nsegs, bool fill, uint64_t pattern)
{
	struct accel_dma_queue *q = ch->dmaq;
	uint32_t room, queued, i;

	pthread_spin_lock(&q->lock);
	room = KEEL_MIN((uint32_t)keel_env_dma_burst_capacity(q->dev_id, q->vchan),
			q->nb_slots - (q->head - q->tail));
	if (room < (uint32_t)nsegs) {
		pthread_spin_unlock(&q->lock);
		return -ENOTSUP;
	}
	queued = dma_enqueue(q, task, segs, nsegs, fill, pattern);
	task->dma_ops_left = queued;
	pthread_spin_unlock(&q->lock);
	if (queued == 0) {
		return -ENOTSUP;
	}
	/* Segments the device refused after all: the CPU does them. The callback cannot run before
	 * this returns, since only this thread completes its tasks. */
	for (i = queued; i < (uint32_t)nsegs; i++) {
		if (fill) {
			memset(segs[i].dst, (int)(pattern & 0xff), segs[i].len);
		} else {
			memcpy(segs[i].dst, segs[i].src, segs[i].len);
		}
	}
	TAILQ_INSERT_TAIL(&ch->dma_inflight, task, link);
	return 0;
}

int
accel_dma_submit_copy(struct accel_channel *ch, struct accel_task *task,
		      const struct iovec *dst_iovs, int dst_iovcnt, const struct iovec *src_iovs,
		      int src_iovcnt)
{
	struct accel_dma_seg segs[ACCEL_DMA_MAX_SEGS];
	int nsegs;

	nsegs = dma_build_copy_segs(ch->dmaq, dst_iovs, dst_iovcnt, src_iovs, src_iovcnt, segs);
	if (nsegs <= 0) {
		return -ENOTSUP;
	}
	return dma_submit(ch, task, segs, nsegs, false, 0);
}

int
accel_dma_submit_fill(struct accel_channel *ch, struct accel_task *task, void *dst, uint8_t fill,
		      size_t nbytes)
{
	struct accel_dma_seg segs[ACCEL_DMA_MAX_SEGS];
	int nsegs;

	if (!ch->dmaq->fill) {
		return -ENOTSUP;
	}
	nsegs = dma_build_fill_segs(ch->dmaq, dst, nbytes, segs);
	if (nsegs <= 0) {
		return -ENOTSUP;
	}
	return dma_submit(ch, task, segs, nsegs, true, 0x0101010101010101ULL * fill);
}

/* Called with the queue locked: count reaped operations against their tasks, whatever channel
 * they belong to, then take this channel's finished tasks off its in-flight list. */
static void
dma_reap_locked(struct accel_channel *ch, struct accel_task_list *done)
{
	struct accel_dma_queue *q = ch->dmaq;
	bool failed[ACCEL_DMA_REAP_BATCH];
	struct accel_task *task;
	uint16_t n, i;

	n = keel_env_dma_completed(q->dev_id, q->vchan, ACCEL_DMA_REAP_BATCH, failed);
	for (i = 0; i < n; i++) {
		assert(q->tail != q->head);
		task = q->slots[q->tail++ & (q->nb_slots - 1)];
		assert(task->dma_ops_left > 0);
		if (failed[i]) {
			task->status = -EIO;
		}
		task->dma_ops_left--;
	}
	/* A vchan finishes in order, so this channel's tasks finish in its submission order. */
	while ((task = TAILQ_FIRST(&ch->dma_inflight)) != NULL && task->dma_ops_left == 0) {
		TAILQ_REMOVE(&ch->dma_inflight, task, link);
		TAILQ_INSERT_TAIL(done, task, link);
	}
}

void
accel_dma_poll(struct accel_channel *ch, struct accel_task_list *done)
{
	struct accel_dma_queue *q = ch->dmaq;

	if (TAILQ_EMPTY(&ch->dma_inflight)) {
		return;
	}
	pthread_spin_lock(&q->lock);
	dma_reap_locked(ch, done);
	pthread_spin_unlock(&q->lock);
}

bool
accel_dma_drain(struct accel_channel *ch, struct accel_task_list *done, uint64_t timeout_us)
{
	uint64_t deadline;

	if (ch->dmaq == NULL) {
		return true;
	}
	deadline = keel_get_ticks() + timeout_us * keel_get_ticks_hz() / 1000000;
	while (!TAILQ_EMPTY(&ch->dma_inflight) && keel_get_ticks() < deadline) {
		accel_dma_poll(ch, done);
	}
	return TAILQ_EMPTY(&ch->dma_inflight);
}
