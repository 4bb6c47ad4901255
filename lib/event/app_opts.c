/*
 * The command-line options every keel application shares (SPDK's names and letters), parsed
 * once. A bad option or value prints one line naming it and fails the parse.
 */
#include "keel/stdinc.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/log.h"
#include "keel/pci.h"
#include "keel/rpc.h"
#include "keel/util.h"

#define OPT_NO_HUGE 256
#define OPT_HUGE_DIR 257
#define OPT_WAIT_FOR_RPC 258
#define OPT_INTERRUPT_MODE 259
#define OPT_JSON 260
#define OPT_IOVA_MODE 261
#define OPT_JSON_IGNORE_ERR 262
#define OPT_SILENCE_NOTICE 263
#define OPT_SYSLOG 264
#define OPT_MSG_POOL 265
#define OPT_DISABLE_CPUMASK_LOCKS 266
#define OPT_NO_RPC_SERVER 267
#define OPT_PRINT_LEVEL 268
#define OPT_ENV_CONTEXT 269

static const char *g_common_getopt = "c:de:ghi:m:n:p:r:s:uvL:RB:A:W:";

static const struct option g_common_long_opts[] = {
	{"config", required_argument, NULL, 'c'},
	{"json", required_argument, NULL, OPT_JSON},
	{"json-ignore-init-errors", no_argument, NULL, OPT_JSON_IGNORE_ERR},
	{"limit-coredump", no_argument, NULL, 'd'},
	{"tpoint-group-mask", required_argument, NULL, 'e'},
	{"tpoint-group", required_argument, NULL, 'e'},
	{"single-file-segments", no_argument, NULL, 'g'},
	{"help", no_argument, NULL, 'h'},
	{"shm-id", required_argument, NULL, 'i'},
	{"cpumask", required_argument, NULL, 'm'},
	{"mem-channels", required_argument, NULL, 'n'},
	{"main-core", required_argument, NULL, 'p'},
	{"master-core", required_argument, NULL, 'p'},
	{"rpc-socket", required_argument, NULL, 'r'},
	{"mem-size", required_argument, NULL, 's'},
	{"no-pci", no_argument, NULL, 'u'},
	{"version", no_argument, NULL, 'v'},
	{"logflag", required_argument, NULL, 'L'},
	{"huge-unlink", no_argument, NULL, 'R'},
	{"pci-blocked", required_argument, NULL, 'B'},
	{"pci-blacklist", required_argument, NULL, 'B'},
	{"pci-allowed", required_argument, NULL, 'A'},
	{"pci-whitelist", required_argument, NULL, 'W'},
	{"no-huge", no_argument, NULL, OPT_NO_HUGE},
	{"huge-dir", required_argument, NULL, OPT_HUGE_DIR},
	{"iova-mode", required_argument, NULL, OPT_IOVA_MODE},
	{"wait-for-rpc", no_argument, NULL, OPT_WAIT_FOR_RPC},
	{"interrupt-mode", no_argument, NULL, OPT_INTERRUPT_MODE},
	{"silence-noticelog", no_argument, NULL, OPT_SILENCE_NOTICE},
	{"syslog", required_argument, NULL, OPT_SYSLOG},
	{"msg-mempool-size", required_argument, NULL, OPT_MSG_POOL},
	{"disable-cpumask-locks", no_argument, NULL, OPT_DISABLE_CPUMASK_LOCKS},
	{"no-rpc-server", no_argument, NULL, OPT_NO_RPC_SERVER},
	{"print-level", required_argument, NULL, OPT_PRINT_LEVEL},
	{"env-context", required_argument, NULL, OPT_ENV_CONTEXT},
	{NULL, 0, NULL, 0},
};

void
keel_app_opts_init(struct keel_app_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->name = "keel";
	opts->rpc_addr = KEEL_DEFAULT_RPC_ADDR;
	opts->shm_id = -1;
	opts->main_core = UINT32_MAX;
	opts->enable_coredump = true;
	opts->print_level = KEEL_LOG_NOTICE;
}

void
keel_app_usage(const char *name, void (*app_usage)(void))
{
	printf("%s [options]\n\n", name);
	printf("Options:\n");
	printf(" -c, --config <file>        legacy INI configuration file (iscsi.conf)\n");
	printf("     --json <file>          JSON configuration file (as save_config writes it)\n");
	printf("     --json-ignore-init-errors\n"
	       "                            go on when a call of the JSON configuration fails\n");
	printf(" -m, --cpumask <mask>       cores to run on: hex mask (0x3) or list ([0,2-3]);\n"
	       "                            default: [Global] ReactorMask, else core 0\n");
	printf(" -p, --main-core <id>       core of the application thread (default: first of mask)\n");
	printf(" -s, --mem-size <size>      memory to reserve at start, MB (suffix M or G allowed)\n");
	printf(" -r, --rpc-socket <path>    RPC listen socket (default %s)\n", KEEL_DEFAULT_RPC_ADDR);
	printf("     --no-rpc-server        do not start the RPC server\n");
	printf("     --wait-for-rpc         wait for framework_start_init before starting subsystems\n");
	printf(" -i, --shm-id <id>          shared memory id (default: private memory)\n");
	printf(" -u, --no-pci               do not use PCI devices\n");
	printf("     --no-huge              run on ordinary memory instead of hugepages\n");
	printf("     --huge-dir <path>      hugetlbfs mount to use\n");
	printf("     --iova-mode <pa|va>    IOVA mode for device DMA\n");
	printf("     --env-context <args>   extra DPDK EAL arguments, separated by spaces\n"
	       "                            (e.g. \"--vdev dma_skeleton\")\n");
	printf("     --interrupt-mode       idle reactors sleep instead of polling\n");
	printf("     --msg-mempool-size <n> messages in the inter-thread message pool\n");
	printf(" -L, --logflag <flag>       enable a log flag (repeatable; 'all' for every flag)\n");
	printf("     --print-level <level>  stderr level: ERROR, WARNING, NOTICE, INFO, DEBUG\n");
	printf("     --silence-noticelog    print only warnings and errors to stderr\n");
	printf("     --syslog <facility>    also log to syslog (local0..local7, daemon, user)\n");
	printf(" -e, --tpoint-group-mask <mask>\n"
	       "                            accepted for compatibility; tracing is not built in\n");
	printf(" -d, --limit-coredump       do not raise the core dump size limit\n");
	printf(" -n, -g, -R, --disable-cpumask-locks\n"
	       "                            accepted for compatibility, no effect\n");
	printf(" -h, --help                 show this help\n");
	printf(" -v, --version              print the version\n");
	if (app_usage != NULL) {
		printf("\n%s options:\n", name);
		app_usage();
	}
}

/* "1024", "1024M", "2G", "512MB" -> MiB. */
static int
app_parse_mem_size(const char *str, uint32_t *mb)
{
	char buf[64], *end;
	unsigned long long v;
	size_t len;

	keel_strlcpy(buf, str, sizeof(buf));
	len = strlen(buf);
	if (len > 1 && (buf[len - 1] == 'B' || buf[len - 1] == 'b')) {
		buf[--len] = '\0';
	}
	if (len == 0 || !isdigit((unsigned char)buf[0])) {
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno != 0) {
		return -EINVAL;
	}
	if (*end == 'G' || *end == 'g') {
		if (v > UINT32_MAX / 1024) {
			return -EINVAL;
		}
		v *= 1024;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		end++;
	}
	if (*end != '\0' || v == 0 || v > UINT32_MAX) {
		return -EINVAL;
	}
	*mb = (uint32_t)v;
	return 0;
}

/* Every core of set must be one this process may run on. */
static bool
app_cores_exist(const struct keel_app_opts *opts, const struct keel_cpuset *set, const char *arg)
{
	struct keel_cpuset avail;
	uint32_t cpu;

	keel_env_get_machine_cores(&avail);
	KEEL_CPUSET_FOREACH(cpu, set) {
		if (!keel_cpuset_get(&avail, cpu)) {
			fprintf(stderr, "%s: core %u of mask '%s' is not available on this machine "
				"(%u cores)\n", opts->name, cpu, arg, keel_cpuset_count(&avail));
			return false;
		}
	}
	return true;
}

static int
app_parse_common(int ch, const char *arg, struct keel_app_opts *opts)
{
	struct keel_cpuset set;
	enum keel_log_level level;
	uint32_t u32;
	int64_t i64;
	int fac;

	switch (ch) {
	case 'c':
		if (access(arg, R_OK) != 0) {
			fprintf(stderr, "%s: cannot read configuration file '%s': %s\n", opts->name, arg,
				keel_strerror(errno));
			return -EINVAL;
		}
		opts->config_file = arg;
		return 0;
	case OPT_JSON:
		if (access(arg, R_OK) != 0) {
			fprintf(stderr, "%s: cannot read JSON configuration '%s': %s\n", opts->name, arg,
				keel_strerror(errno));
			return -EINVAL;
		}
		opts->json_config_file = arg;
		return 0;
	case OPT_JSON_IGNORE_ERR:
		opts->json_config_ignore_errors = true;
		return 0;
	case 'd':
		opts->enable_coredump = false;
		return 0;
	case 'e':
		opts->tpoint_group_mask = arg;
		return 0;
	case 'g':
	case 'n':
	case 'R':
	case OPT_DISABLE_CPUMASK_LOCKS:
		return 0;
	case 'i':
		if (keel_parse_i64(arg, &i64) != 0 || i64 < 0 || i64 > INT32_MAX) {
			fprintf(stderr, "%s: invalid shared memory id '%s'\n", opts->name, arg);
			return -EINVAL;
		}
		opts->shm_id = (int)i64;
		opts->shm_id_given = true;
		return 0;
	case 'm':
		if (keel_cpuset_parse(&set, arg) != 0) {
			fprintf(stderr, "%s: invalid core mask '%s' (a hex mask such as 0x3, or a list "
				"such as [0,2-3], with at least one core)\n", opts->name, arg);
			return -EINVAL;
		}
		if (!app_cores_exist(opts, &set, arg)) {
			return -EINVAL;
		}
		opts->reactor_mask = arg;
		opts->mask_given = true;
		return 0;
	case 'p':
		if (keel_parse_u32(arg, &u32) != 0 || u32 >= KEEL_CPUSET_SIZE) {
			fprintf(stderr, "%s: invalid main core '%s'\n", opts->name, arg);
			return -EINVAL;
		}
		opts->main_core = u32;
		return 0;
	case 'r':
		if (arg[0] == '\0' || strlen(arg) >= 108) {
			fprintf(stderr, "%s: invalid RPC socket path '%s' (at most 107 bytes)\n",
				opts->name, arg);
			return -EINVAL;
		}
		opts->rpc_addr = arg;
		return 0;
	case OPT_NO_RPC_SERVER:
		opts->rpc_addr = NULL;
		return 0;
	case 's':
		if (app_parse_mem_size(arg, &opts->mem_size_mb) != 0) {
			fprintf(stderr, "%s: invalid memory size '%s' (a number of MB, e.g. 1024 or 2G)\n",
				opts->name, arg);
			return -EINVAL;
		}
		return 0;
	case 'u':
		opts->no_pci = true;
		opts->no_pci_given = true;
		return 0;
	case 'L':
		if (keel_log_set_flag(arg) != 0) {
			fprintf(stderr, "%s: unknown log flag '%s'\n", opts->name, arg);
			return -EINVAL;
		}
		return 0;
	case 'A':
	case 'B':
	case 'W':
		/* PCI allowed/blocked lists, used by the userspace NVMe driver. */
		if ((ch == 'B' ? keel_pci_blocked_add(arg) : keel_pci_allowed_add(arg)) != 0) {
			fprintf(stderr, "%s: invalid PCI address '%s' (e.g. 0000:01:00.0)\n",
				opts->name, arg);
			return -EINVAL;
		}
		return 0;
	case OPT_NO_HUGE:
		opts->no_huge = true;
		return 0;
	case OPT_HUGE_DIR:
		opts->hugedir = arg;
		return 0;
	case OPT_IOVA_MODE:
		if (strcmp(arg, "pa") != 0 && strcmp(arg, "va") != 0) {
			fprintf(stderr, "%s: invalid IOVA mode '%s' (pa or va)\n", opts->name, arg);
			return -EINVAL;
		}
		opts->iova_mode = arg;
		return 0;
	case OPT_ENV_CONTEXT:
		opts->env_context = arg;
		return 0;
	case OPT_WAIT_FOR_RPC:
		opts->wait_for_rpc = true;
		return 0;
	case OPT_INTERRUPT_MODE:
		opts->interrupt_mode = true;
		return 0;
	case OPT_SILENCE_NOTICE:
		opts->print_level = KEEL_LOG_WARN;
		return 0;
	case OPT_PRINT_LEVEL:
		if (keel_log_level_from_name(arg, &level) != 0) {
			fprintf(stderr, "%s: invalid print level '%s'\n", opts->name, arg);
			return -EINVAL;
		}
		opts->print_level = level;
		return 0;
	case OPT_SYSLOG:
		if (keel_log_facility_from_name(arg, &fac) != 0) {
			fprintf(stderr, "%s: invalid syslog facility '%s'\n", opts->name, arg);
			return -EINVAL;
		}
		opts->syslog_facility = arg;
		return 0;
	case OPT_MSG_POOL:
		if (keel_parse_u32(arg, &u32) != 0 || u32 < 1024) {
			fprintf(stderr, "%s: invalid message pool size '%s' (at least 1024)\n", opts->name,
				arg);
			return -EINVAL;
		}
		opts->msg_mempool_size = u32;
		return 0;
	default:
		return -ENOENT;
	}
}

/*
 * One line for what getopt_long refused (ch '?' or ':'). A long option has been stepped over
 * (optind moved past it); a short one may sit inside a group, so only optopt names it.
 */
static void
app_report_getopt_error(const struct keel_app_opts *opts, int ch, int argc, char **argv,
			int before)
{
	const char *arg = optind > before && optind <= argc ? argv[optind - 1] : "";
	int len;

	if (strncmp(arg, "--", 2) == 0) {
		len = (int)strcspn(arg, "=");
		if (ch == ':') {
			fprintf(stderr, "%s: option '%s' needs a value (see --help)\n", opts->name, arg);
		} else if (optopt != 0) {
			fprintf(stderr, "%s: option '%.*s' takes no value (see --help)\n", opts->name,
				len, arg);
		} else {
			fprintf(stderr, "%s: unknown option '%.*s' (see --help)\n", opts->name, len, arg);
		}
	} else if (ch == ':') {
		fprintf(stderr, "%s: option '-%c' needs a value (see --help)\n", opts->name, optopt);
	} else if (optopt > 0 && optopt < 256 && isprint(optopt)) {
		fprintf(stderr, "%s: unknown option '-%c' (see --help)\n", opts->name, optopt);
	} else {
		fprintf(stderr, "%s: unknown option (see --help)\n", opts->name);
	}
}

int
keel_app_parse_args(int argc, char **argv, struct keel_app_opts *opts, const char *app_getopt_str,
		    const struct option *app_long_opts, int (*app_parse)(int ch, char *arg),
		    void (*app_usage)(void))
{
	struct option long_opts[128];
	char optstr[256];
	size_t n = 0, i;
	int ch, rc, before;

	snprintf(optstr, sizeof(optstr), ":%s%s", g_common_getopt, app_getopt_str ? app_getopt_str : "");
	for (i = 0; g_common_long_opts[i].name != NULL; i++) {
		long_opts[n++] = g_common_long_opts[i];
	}
	for (i = 0; app_long_opts != NULL && app_long_opts[i].name != NULL && n < 127; i++) {
		long_opts[n++] = app_long_opts[i];
	}
	memset(&long_opts[n], 0, sizeof(long_opts[n]));

	/* 0, not 1: glibc then also forgets a group of short options left half read ("-hu"). */
	optind = 0;
	opterr = 0;
	before = 1;
	while ((ch = getopt_long(argc, argv, optstr, long_opts, NULL)) != -1) {
		if (ch == '?' || ch == ':') {
			app_report_getopt_error(opts, ch, argc, argv, before);
			return KEEL_APP_PARSE_ARGS_FAIL;
		}
		before = optind;
		if (ch == 'h') {
			keel_app_usage(opts->name, app_usage);
			return KEEL_APP_PARSE_ARGS_HELP;
		}
		if (ch == 'v') {
			printf("%s\n", KEEL_VERSION_STRING);
			return KEEL_APP_PARSE_ARGS_HELP;
		}
		rc = app_parse_common(ch, optarg, opts);
		if (rc == -ENOENT) {
			rc = app_parse != NULL ? app_parse(ch, optarg) : -EINVAL;
			if (rc != 0) {
				return KEEL_APP_PARSE_ARGS_FAIL;
			}
		} else if (rc != 0) {
			return KEEL_APP_PARSE_ARGS_FAIL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", opts->name, argv[optind]);
		return KEEL_APP_PARSE_ARGS_FAIL;
	}
	return KEEL_APP_PARSE_ARGS_SUCCESS;
}
