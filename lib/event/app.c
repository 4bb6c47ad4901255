/*
 * The application framework's life cycle: start the environment and the reactors, serve RPC,
 * read the configuration, start the subsystems, run the application; and on SIGINT/SIGTERM or
 * keel_app_stop(), stop everything in reverse and release all memory.
 */
#include "keel/stdinc.h"
#include "keel/conf.h"
#include "keel/env.h"
#include "keel/event.h"
#include "keel/log.h"
#include "keel/rpc.h"
#include "keel/thread.h"
#include "keel/util.h"

#include "event_internal.h"

#include <sys/resource.h>

struct json_config_ctx;
void app_json_config_load(const char *file, uint32_t state, bool ignore_errors,
			  void (*cb)(int rc, void *ctx), void *ctx);
void app_wait_init_complete(void);

static struct keel_app_opts g_opts;
static bool g_opts_set;
static struct keel_conf *g_conf;
static keel_app_start_fn g_start_fn;
static void *g_start_ctx;
static int g_app_rc;
static bool g_app_running;
static bool g_app_stopping;
static bool g_init_started;

const struct keel_app_opts *
keel_app_get_opts(void)
{
	return g_opts_set ? &g_opts : NULL;
}

bool
keel_app_is_running(void)
{
	return g_app_running;
}

const char *
keel_app_get_config_file(void)
{
	return g_opts_set ? g_opts.config_file : NULL;
}

/*
 * A signal this soon after the first is the same request delivered twice: a terminal's Ctrl-C
 * and timeout(1) signal the whole process group as well as the process.
 */
#define APP_SIGNAL_REPEAT_NS 1000000000ull

static uint64_t g_first_signal_ns;

/* Async-signal-safe (clock_gettime is). */
static uint64_t
app_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
app_signal_handler(int sig)
{
	static const char msg[] = "second signal: exiting at once\n";
	uint64_t now = app_monotonic_ns();

	if (g_app_signal_count != 0) {
		if (now - g_first_signal_ns < APP_SIGNAL_REPEAT_NS) {
			return;
		}
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
			/* Nothing to do. */
		}
		_exit(1);
	}
	g_first_signal_ns = now;
	g_app_signal_count = 1;
	reactors_signal_wake();
}

static int
app_setup_signals(void)
{
	struct sigaction sa = {0};

	sa.sa_handler = app_signal_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
		return -errno;
	}
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0) {
		return -errno;
	}
	return 0;
}

/* Options from the legacy file's [Global] section, where the command line did not set them. */
static int
app_read_global_section(struct keel_app_opts *opts)
{
	struct keel_conf_section *sp;
	struct keel_cpuset set;
	const char *val;
	int64_t shm;
	bool no_pci;

	sp = keel_conf_find_section(g_conf, "Global");
	if (sp == NULL) {
		return 0;
	}
	val = keel_conf_section_get_val(sp, "ReactorMask");
	if (val != NULL && !opts->mask_given) {
		if (keel_cpuset_parse(&set, val) != 0) {
			KEEL_ERRLOG("%s:%d: [Global] ReactorMask: invalid core mask '%s'\n",
				    keel_conf_get_name(g_conf),
				    keel_conf_section_get_item_line(sp, "ReactorMask", 0), val);
			return -EINVAL;
		}
		opts->reactor_mask = val;
	}
	if (!opts->shm_id_given) {
		int rc = keel_conf_section_get_intval(sp, "SharedMemoryID", &shm);

		if (rc == 0 && shm >= 0 && shm <= INT32_MAX) {
			opts->shm_id = (int)shm;
		} else if (rc != -ENOENT) {
			KEEL_ERRLOG("%s:%d: [Global] SharedMemoryID: not a valid id\n",
				    keel_conf_get_name(g_conf),
				    keel_conf_section_get_item_line(sp, "SharedMemoryID", 0));
			return -EINVAL;
		}
	}
	if (!opts->no_pci_given) {
		if (keel_conf_section_get_boolval(sp, "NoPci", false, &no_pci) != 0) {
			KEEL_ERRLOG("%s:%d: [Global] NoPci: expected Yes or No\n",
				    keel_conf_get_name(g_conf),
				    keel_conf_section_get_item_line(sp, "NoPci", 0));
			return -EINVAL;
		}
		opts->no_pci = no_pci;
	}
	return 0;
}

static void
app_stop_reactors(void *ctx)
{
	keel_rpc_finish();
	reactors_stop();
}

static void
app_subsystems_stopped(void *ctx)
{
	/* Let the responses of a last RPC (spdk_kill_instance) go out before the server closes. */
	if (keel_thread_send_msg(keel_get_thread(), app_stop_reactors, NULL) != 0) {
		app_stop_reactors(NULL);
	}
}

static void
app_stop_on_app_thread(void *ctx)
{
	g_app_running = false;
	KEEL_NOTICELOG("shutting down\n");
	keel_subsystem_fini(app_subsystems_stopped, NULL);
}

void
keel_app_stop(int rc)
{
	struct keel_thread *app = keel_thread_get_app_thread();

	if (rc != 0 && g_app_rc == 0) {
		g_app_rc = rc;
	}
	if (g_app_stopping || app == NULL) {
		return;
	}
	g_app_stopping = true;
	if (keel_thread_send_msg(app, app_stop_on_app_thread, NULL) != 0) {
		KEEL_ERRLOG("cannot stop the application\n");
	}
}

void
keel_app_start_shutdown(void)
{
	if (g_opts.shutdown_cb != NULL) {
		g_opts.shutdown_cb();
	} else {
		keel_app_stop(0);
	}
}

void
app_signal_shutdown(void *ctx)
{
	KEEL_NOTICELOG("signal received: stopping\n");
	keel_app_start_shutdown();
}

static void
app_runtime_config_done(int rc, void *ctx)
{
	if (rc != 0) {
		keel_app_stop(1);
		return;
	}
	g_app_running = true;
	app_wait_init_complete();
	if (g_start_fn != NULL) {
		g_start_fn(g_start_ctx);
	}
}

static void
app_subsystems_started(int rc, void *ctx)
{
	if (rc != 0) {
		KEEL_ERRLOG("subsystem initialisation failed: %s\n", keel_strerror(-rc));
		keel_app_stop(1);
		return;
	}
	keel_rpc_set_state(KEEL_RPC_RUNTIME);
	if (g_opts.json_config_file != NULL) {
		app_json_config_load(g_opts.json_config_file, KEEL_RPC_RUNTIME,
				     g_opts.json_config_ignore_errors, app_runtime_config_done, NULL);
	} else {
		app_runtime_config_done(0, NULL);
	}
}

/* framework_start_init, or directly at start without --wait-for-rpc. */
int app_start_init(void);
int
app_start_init(void)
{
	if (g_init_started) {
		return -EALREADY;
	}
	g_init_started = true;
	keel_subsystem_init(app_subsystems_started, NULL);
	return 0;
}

static void
app_startup_config_done(int rc, void *ctx)
{
	if (rc != 0) {
		keel_app_stop(1);
		return;
	}
	if (g_opts.wait_for_rpc) {
		KEEL_NOTICELOG("waiting for framework_start_init over RPC\n");
		return;
	}
	app_start_init();
}

static void
app_bootstrap(void *ctx)
{
	int rc;

	keel_rpc_set_state(KEEL_RPC_STARTUP);
	if (g_opts.rpc_addr != NULL) {
		rc = keel_rpc_initialize(g_opts.rpc_addr);
		if (rc != 0) {
			if (rc == -EADDRINUSE) {
				KEEL_ERRLOG("RPC socket %s is in use by another process: is another "
					    "instance running? Use -r to choose another socket\n",
					    g_opts.rpc_addr);
			} else {
				KEEL_ERRLOG("cannot listen on RPC socket %s: %s\n", g_opts.rpc_addr,
					    keel_strerror(-rc));
			}
			keel_app_stop(1);
			return;
		}
	}
	KEEL_NOTICELOG("%s started on %u core(s)%s\n", KEEL_VERSION_STRING, keel_env_get_core_count(),
		       g_opts.interrupt_mode ? " in interrupt mode" : "");
	if (g_opts.json_config_file != NULL) {
		app_json_config_load(g_opts.json_config_file, KEEL_RPC_STARTUP,
				     g_opts.json_config_ignore_errors, app_startup_config_done, NULL);
	} else {
		app_startup_config_done(0, NULL);
	}
}

static void
app_setup_coredump(bool enable)
{
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};

	if (enable) {
		/* As high as allowed, so that a crash leaves a full core to debug. */
		if (setrlimit(RLIMIT_CORE, &rl) != 0 && getrlimit(RLIMIT_CORE, &rl) == 0) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_CORE, &rl);
		}
	}
}

static int
app_setup_env(const struct keel_app_opts *opts)
{
	struct keel_env_opts env;

	keel_env_opts_init(&env);
	env.name = opts->name;
	keel_cpuset_zero(&env.cpumask);
	if (keel_cpuset_parse(&env.cpumask, opts->reactor_mask ? opts->reactor_mask : "0x1") != 0) {
		KEEL_ERRLOG("invalid core mask '%s'\n", opts->reactor_mask);
		return -EINVAL;
	}
	env.main_core = opts->main_core == UINT32_MAX ? KEEL_ENV_CORE_ANY : opts->main_core;
	env.shm_id = opts->shm_id;
	env.mem_size_mb = opts->mem_size_mb;
	env.no_pci = opts->no_pci;
	env.no_huge = opts->no_huge;
	env.hugedir = opts->hugedir;
	env.iova_mode = opts->iova_mode;
	env.env_context = opts->env_context;
	env.verbose = keel_log_get_flag("env");
	return keel_env_init(&env);
}

int
keel_app_start(struct keel_app_opts *opts, keel_app_start_fn start_fn, void *ctx)
{
	struct keel_thread *app_thread;
	struct keel_cpuset main_mask;
	int rc;

	g_opts = *opts;
	g_opts_set = true;
	g_start_fn = start_fn;
	g_start_ctx = ctx;
	g_app_rc = 0;
	keel_log_set_print_level(g_opts.print_level);
	if (g_opts.syslog_facility != NULL) {
		keel_log_open_syslog(g_opts.syslog_facility);
	}
	app_setup_coredump(g_opts.enable_coredump);

	if (g_opts.config_file != NULL) {
		g_conf = keel_conf_create();
		if (g_conf == NULL) {
			return 1;
		}
		rc = keel_conf_read(g_conf, g_opts.config_file);
		if (rc != 0) {
			KEEL_ERRLOG("cannot load configuration file %s\n", g_opts.config_file);
			return 1;
		}
		keel_conf_set_default(g_conf);
		if (app_read_global_section(&g_opts) != 0) {
			return 1;
		}
	}
	if (g_opts.tpoint_group_mask != NULL) {
		KEEL_NOTICELOG("tracepoint group mask %s accepted; tracing is not built in\n",
			       g_opts.tpoint_group_mask);
	}
	rc = app_setup_env(&g_opts);
	if (rc != 0) {
		return 1;
	}
	rc = reactors_init(g_opts.interrupt_mode);
	if (rc != 0) {
		KEEL_ERRLOG("cannot create the reactors: %s\n", keel_strerror(-rc));
		keel_env_fini();
		return 1;
	}
	rc = app_setup_signals();
	if (rc != 0) {
		KEEL_ERRLOG("cannot install signal handlers: %s\n", keel_strerror(-rc));
		reactors_fini();
		keel_env_fini();
		return 1;
	}
	keel_cpuset_zero(&main_mask);
	keel_cpuset_set(&main_mask, keel_env_get_main_core(), true);
	app_thread = keel_thread_create("app_thread", &main_mask);
	if (app_thread == NULL || keel_thread_send_msg(app_thread, app_bootstrap, NULL) != 0) {
		KEEL_ERRLOG("cannot create the application thread\n");
		reactors_fini();
		keel_env_fini();
		return 1;
	}
	reactors_start();
	reactors_fini();
	keel_env_fini();
	return g_app_rc;
}

void
keel_app_fini(void)
{
	keel_conf_set_default(NULL);
	keel_conf_destroy(g_conf);
	g_conf = NULL;
	keel_log_close_syslog();
	g_opts_set = false;
}
