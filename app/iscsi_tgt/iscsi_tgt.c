/*
 * iscsi_tgt: the keel iSCSI target daemon. main() only parses the options and hands over to
 * the application framework, which starts every registered subsystem. Started with no
 * configuration at all, it serves a built-in one (default_config.c) unless told --empty.
 */
#include "keel/stdinc.h"
#include "keel/event.h"

#include "default_config.h"

#define OPT_EMPTY 1000

static bool g_daemon;
static bool g_empty;

static const struct option g_iscsi_tgt_long_opts[] = {
	{"empty", no_argument, NULL, OPT_EMPTY},
	{NULL, 0, NULL, 0},
};

static int
iscsi_tgt_parse_arg(int ch, char *arg)
{
	switch (ch) {
	case 'b':
		g_daemon = true;
		return 0;
	case OPT_EMPTY:
		g_empty = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static void
iscsi_tgt_usage(void)
{
	printf(" -b                         run as a daemon (in the background)\n");
	printf("     --empty                without -c or --json, start with nothing configured\n"
	       "                            (default: a RAM disk as iqn.2016-06.io.spdk:disk1 on\n"
	       "                            127.0.0.1:3260)\n");
}

/* Once the subsystems are up: the built-in configuration, if no other was given. */
static void
iscsi_tgt_started(void *ctx)
{
	const struct keel_app_opts *opts = keel_app_get_opts();

	if (g_empty || opts->config_file != NULL || opts->json_config_file != NULL ||
	    opts->wait_for_rpc) {
		return;
	}
	iscsi_tgt_default_config();
}

int
main(int argc, char **argv)
{
	struct keel_app_opts opts;
	int rc;

	keel_app_opts_init(&opts);
	opts.name = "iscsi_tgt";
	rc = keel_app_parse_args(argc, argv, &opts, "b", g_iscsi_tgt_long_opts, iscsi_tgt_parse_arg,
				 iscsi_tgt_usage);
	if (rc != KEEL_APP_PARSE_ARGS_SUCCESS) {
		return rc == KEEL_APP_PARSE_ARGS_HELP ? 0 : 1;
	}
	if (g_daemon && daemon(1, 0) != 0) {
		perror("iscsi_tgt: daemon");
		return 1;
	}
	rc = keel_app_start(&opts, iscsi_tgt_started, NULL);
	keel_app_fini();
	return rc;
}
