/*
 * The configuration iscsi_tgt builds for itself when it is started with none at all.
 */
#ifndef KEEL_ISCSI_TGT_DEFAULT_CONFIG_H
#define KEEL_ISCSI_TGT_DEFAULT_CONFIG_H

/**
 * Create, through the RPC methods, a 64 MiB RAM disk Malloc0 exported as LUN 0 of
 * iqn.2016-06.io.spdk:disk1 on 127.0.0.1:3260 to initiators on 127.0.0.1. Runs on the app
 * thread once the subsystems are up. If a step fails (the port is taken, say), what was
 * made is taken back, the error is logged, and the target goes on with nothing configured.
 */
void iscsi_tgt_default_config(void);

#endif /* KEEL_ISCSI_TGT_DEFAULT_CONFIG_H */
