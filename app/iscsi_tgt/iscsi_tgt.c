/*
 * iscsi_tgt: the keel iSCSI target daemon. main() only parses the options and hands over to
 * the application framework, which starts every registered subsystem.
 */
#include "keel/stdinc.h"
#include "keel/event.h"

static bool g_daemon;

static int
iscsi_tgt_parse_arg(int ch, char *arg)
{
	switch (ch) {
	case 'b':
		g_daemon = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static void
iscsi_tgt_usage(void)
{
	printf(" -b                         run as a daemon (in the background)\n");
}

int
main(int argc, char **argv)
{
	struct keel_app_opts opts;
	int rc;

	keel_app_opts_init(&opts);
	opts.name = "iscsi_tgt";
	rc = keel_app_parse_args(argc, argv, &opts, "b", NULL, iscsi_tgt_parse_arg, iscsi_tgt_usage);
	if (rc != KEEL_APP_PARSE_ARGS_SUCCESS) {
		return rc == KEEL_APP_PARSE_ARGS_HELP ? 0 : 1;
	}
	if (g_daemon && daemon(1, 0) != 0) {
		perror("iscsi_tgt: daemon");
		return 1;
	}
	rc = keel_app_start(&opts, NULL, NULL);
	keel_app_fini();
	return rc;
}
