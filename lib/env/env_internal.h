/*
 * Declarations shared by the files of lib/env only.
 */
#ifndef KEEL_ENV_INTERNAL_H
#define KEEL_ENV_INTERNAL_H

/*
 * Set by dma.c once it has started a DMA device; keel_env_fini() calls it before tearing down
 * the EAL, whose memory a running device could still be reading or writing.
 */
extern void (*g_env_dma_fini)(void);

#endif /* KEEL_ENV_INTERNAL_H */
