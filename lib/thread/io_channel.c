/*
 * I/O devices and their per-thread channels: a channel is created on a thread's first get,
 * shared by reference on that thread, and destroyed on it after the last put. Unregistering a
 * device completes once its last channel is gone. for_each_channel visits every thread that
 * holds a channel, one at a time, and completes on the caller's thread.
 */
#include "keel/stdinc.h"
#include "keel/thread.h"
#include "keel/log.h"

#include "thread_internal.h"

struct io_device {
	void *io_device;
	keel_io_channel_create_cb create_cb;
	keel_io_channel_destroy_cb destroy_cb;
	keel_io_device_unregister_cb unregister_cb;
	struct keel_thread *unregister_thread;
	uint32_t ctx_size;
	uint32_t channel_count;
	uint32_t for_each_count;
	bool unregistered;
	char name[THREAD_NAME_LEN];
	TAILQ_ENTRY(io_device) link;
};

struct keel_channel_iter {
	void *io_device;
	struct io_device *dev;
	keel_channel_msg fn;
	keel_channel_for_each_cpl cpl;
	void *ctx;
	struct keel_thread *orig_thread;
	struct keel_io_channel *ch;
	uint64_t cur_thread_id;
	int status;
};

pthread_mutex_t *thread_list_lock(void);
struct keel_thread *thread_next_with_id_after(uint64_t id);

static TAILQ_HEAD(, io_device) g_io_devices = TAILQ_HEAD_INITIALIZER(g_io_devices);

/* Caller holds the lock. */
static struct io_device *
io_device_find(void *io_device)
{
	struct io_device *dev;

	TAILQ_FOREACH(dev, &g_io_devices, link) {
		if (dev->io_device == io_device) {
			return dev;
		}
	}
	return NULL;
}

void
keel_io_device_register(void *io_device, keel_io_channel_create_cb create_cb,
			keel_io_channel_destroy_cb destroy_cb, uint32_t ctx_size, const char *name)
{
	struct io_device *dev;

	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		KEEL_ERRLOG("out of memory registering an I/O device\n");
		return;
	}
	dev->io_device = io_device;
	dev->create_cb = create_cb;
	dev->destroy_cb = destroy_cb;
	dev->ctx_size = ctx_size;
	if (name != NULL) {
		keel_strlcpy(dev->name, name, sizeof(dev->name));
	} else {
		snprintf(dev->name, sizeof(dev->name), "%p", io_device);
	}
	pthread_mutex_lock(thread_list_lock());
	if (io_device_find(io_device) != NULL) {
		pthread_mutex_unlock(thread_list_lock());
		KEEL_ERRLOG("I/O device %s (%p) is already registered\n", dev->name, io_device);
		free(dev);
		return;
	}
	TAILQ_INSERT_TAIL(&g_io_devices, dev, link);
	pthread_mutex_unlock(thread_list_lock());
}

static void
io_device_unregister_done(void *arg)
{
	struct io_device *dev = arg;

	if (dev->unregister_cb != NULL) {
		dev->unregister_cb(dev->io_device);
	}
	free(dev);
}

/* Caller holds the lock: finish the unregistration if nothing uses the device any more. */
static void
io_device_try_release(struct io_device *dev)
{
	if (!dev->unregistered || dev->channel_count > 0 || dev->for_each_count > 0) {
		return;
	}
	if (keel_thread_send_msg(dev->unregister_thread, io_device_unregister_done, dev) != 0) {
		KEEL_ERRLOG("cannot complete the unregistration of I/O device %s\n", dev->name);
	}
}

void
keel_io_device_unregister(void *io_device, keel_io_device_unregister_cb unregister_cb)
{
	struct io_device *dev;
	struct keel_thread *thread = keel_get_thread();

	assert(thread != NULL);
	pthread_mutex_lock(thread_list_lock());
	dev = io_device_find(io_device);
	if (dev == NULL) {
		pthread_mutex_unlock(thread_list_lock());
		KEEL_ERRLOG("I/O device %p is not registered\n", io_device);
		return;
	}
	TAILQ_REMOVE(&g_io_devices, dev, link);
	dev->unregistered = true;
	dev->unregister_cb = unregister_cb;
	dev->unregister_thread = thread;
	io_device_try_release(dev);
	pthread_mutex_unlock(thread_list_lock());
}

struct keel_io_channel *
keel_get_io_channel(void *io_device)
{
	struct keel_thread *thread = keel_get_thread();
	struct keel_io_channel *ch;
	struct io_device *dev;
	int rc;

	if (thread == NULL) {
		KEEL_ERRLOG("an I/O channel can only be got on a keel thread\n");
		return NULL;
	}
	pthread_mutex_lock(thread_list_lock());
	dev = io_device_find(io_device);
	if (dev == NULL) {
		pthread_mutex_unlock(thread_list_lock());
		return NULL;
	}
	TAILQ_FOREACH(ch, &thread->io_channels, link) {
		if (ch->dev == dev) {
			ch->ref++;
			ch->destroy_pending = false;
			pthread_mutex_unlock(thread_list_lock());
			return ch;
		}
	}
	if (thread->state != THREAD_STATE_RUNNING) {
		pthread_mutex_unlock(thread_list_lock());
		return NULL;
	}
	ch = aligned_alloc(KEEL_CACHE_LINE_SIZE,
			   KEEL_ALIGN_CEIL(sizeof(*ch) + dev->ctx_size, KEEL_CACHE_LINE_SIZE));
	if (ch == NULL) {
		pthread_mutex_unlock(thread_list_lock());
		return NULL;
	}
	memset(ch, 0, sizeof(*ch) + dev->ctx_size);
	ch->thread = thread;
	ch->dev = dev;
	ch->ref = 1;
	dev->channel_count++;
	TAILQ_INSERT_TAIL(&thread->io_channels, ch, link);
	pthread_mutex_unlock(thread_list_lock());

	rc = dev->create_cb ? dev->create_cb(io_device, ch->ctx) : 0;
	if (rc != 0) {
		pthread_mutex_lock(thread_list_lock());
		TAILQ_REMOVE(&thread->io_channels, ch, link);
		dev->channel_count--;
		io_device_try_release(dev);
		pthread_mutex_unlock(thread_list_lock());
		free(ch);
		return NULL;
	}
	return ch;
}

static void
put_io_channel_deferred(void *arg)
{
	struct keel_io_channel *ch = arg;
	struct io_device *dev = ch->dev;

	assert(ch->thread == keel_get_thread());
	if (!ch->destroy_pending) {
		/* Got again before the deferred destruction ran. */
		return;
	}
	if (dev->destroy_cb != NULL) {
		dev->destroy_cb(dev->io_device, ch->ctx);
	}
	pthread_mutex_lock(thread_list_lock());
	TAILQ_REMOVE(&ch->thread->io_channels, ch, link);
	dev->channel_count--;
	io_device_try_release(dev);
	pthread_mutex_unlock(thread_list_lock());
	free(ch);
}

void
keel_put_io_channel(struct keel_io_channel *ch)
{
	assert(ch->thread == keel_get_thread());
	assert(ch->ref > 0);
	ch->ref--;
	if (ch->ref == 0 && !ch->destroy_pending) {
		ch->destroy_pending = true;
		/* Destroy later, so that a caller still inside a callback of this channel is safe. */
		if (keel_thread_send_msg(ch->thread, put_io_channel_deferred, ch) != 0) {
			KEEL_ERRLOG("cannot release an I/O channel of %s\n", ch->dev->name);
		}
	}
}

void *
keel_io_channel_get_ctx(struct keel_io_channel *ch)
{
	return ch->ctx;
}

struct keel_io_channel *
keel_io_channel_from_ctx(void *ctx)
{
	return KEEL_CONTAINEROF(ctx, struct keel_io_channel, ctx);
}

void *
keel_io_channel_get_io_device(struct keel_io_channel *ch)
{
	return ch->dev->io_device;
}

struct keel_thread *
keel_io_channel_get_thread(struct keel_io_channel *ch)
{
	return ch->thread;
}

/* Caller holds the lock: the channel of dev on thread, or NULL. */
static struct keel_io_channel *
thread_find_channel(struct keel_thread *thread, struct io_device *dev)
{
	struct keel_io_channel *ch;

	TAILQ_FOREACH(ch, &thread->io_channels, link) {
		if (ch->dev == dev && !ch->destroy_pending) {
			return ch;
		}
	}
	return NULL;
}

static void
for_each_channel_done(void *arg)
{
	struct keel_channel_iter *iter = arg;
	struct io_device *dev = iter->dev;

	iter->ch = NULL;
	if (iter->cpl != NULL) {
		iter->cpl(iter, iter->status);
	}
	pthread_mutex_lock(thread_list_lock());
	dev->for_each_count--;
	io_device_try_release(dev);
	pthread_mutex_unlock(thread_list_lock());
	free(iter);
}

static void for_each_channel_on_thread(void *arg);

/* Send the iterator to the next thread holding a channel, or back to the caller. */
static void
for_each_channel_next(struct keel_channel_iter *iter)
{
	struct keel_thread *t;

	if (iter->status == 0) {
		pthread_mutex_lock(thread_list_lock());
		while ((t = thread_next_with_id_after(iter->cur_thread_id)) != NULL) {
			iter->cur_thread_id = t->id;
			if (thread_find_channel(t, iter->dev) != NULL &&
			    keel_thread_send_msg(t, for_each_channel_on_thread, iter) == 0) {
				pthread_mutex_unlock(thread_list_lock());
				return;
			}
		}
		pthread_mutex_unlock(thread_list_lock());
	}
	if (keel_thread_send_msg(iter->orig_thread, for_each_channel_done, iter) != 0) {
		KEEL_ERRLOG("for_each_channel: cannot return to the caller's thread\n");
	}
}

static void
for_each_channel_on_thread(void *arg)
{
	struct keel_channel_iter *iter = arg;
	struct keel_thread *thread = keel_get_thread();

	pthread_mutex_lock(thread_list_lock());
	iter->ch = thread_find_channel(thread, iter->dev);
	pthread_mutex_unlock(thread_list_lock());
	if (iter->ch == NULL) {
		/* Released since the iterator was sent here. */
		for_each_channel_next(iter);
		return;
	}
	iter->fn(iter);
}

void
keel_for_each_channel(void *io_device, keel_channel_msg fn, void *ctx,
		      keel_channel_for_each_cpl cpl)
{
	struct keel_channel_iter *iter;
	struct io_device *dev;

	iter = calloc(1, sizeof(*iter));
	if (iter == NULL) {
		KEEL_ERRLOG("out of memory in for_each_channel\n");
		return;
	}
	iter->io_device = io_device;
	iter->fn = fn;
	iter->cpl = cpl;
	iter->ctx = ctx;
	iter->orig_thread = keel_get_thread();
	assert(iter->orig_thread != NULL);
	pthread_mutex_lock(thread_list_lock());
	dev = io_device_find(io_device);
	if (dev == NULL) {
		pthread_mutex_unlock(thread_list_lock());
		KEEL_ERRLOG("for_each_channel: I/O device %p is not registered\n", io_device);
		free(iter);
		return;
	}
	iter->dev = dev;
	dev->for_each_count++;
	pthread_mutex_unlock(thread_list_lock());
	for_each_channel_next(iter);
}

void
keel_for_each_channel_continue(struct keel_channel_iter *iter, int status)
{
	iter->status = status;
	iter->ch = NULL;
	for_each_channel_next(iter);
}

struct keel_io_channel *
keel_channel_iter_get_channel(struct keel_channel_iter *iter)
{
	return iter->ch;
}

void *
keel_channel_iter_get_ctx(struct keel_channel_iter *iter)
{
	return iter->ctx;
}

void *
keel_channel_iter_get_io_device(struct keel_channel_iter *iter)
{
	return iter->io_device;
}
