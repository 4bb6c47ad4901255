/*
 * The application framework: option parsing shared by every keel application, one reactor per
 * core of the mask, subsystems started in dependency order and stopped in reverse, the RPC
 * server, configuration files and orderly shutdown on SIGINT/SIGTERM.
 */
#ifndef KEEL_EVENT_H
#define KEEL_EVENT_H

#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/thread.h"

#include <getopt.h>

#ifdef __cplusplus
extern "C" {
#endif

struct json_object;

#define KEEL_VERSION_MAJOR 0
#define KEEL_VERSION_MINOR 1
#define KEEL_VERSION_PATCH 0
#define KEEL_VERSION_SUFFIX ""
#define KEEL_VERSION_STRING "keel v0.1.0"

struct keel_app_opts {
	const char *name;
	/** Legacy INI configuration (-c). */
	const char *config_file;
	/** JSON configuration (--json). */
	const char *json_config_file;
	bool json_config_ignore_errors;
	/** Core mask as given (-m); NULL: from [Global] ReactorMask, else core 0. */
	const char *reactor_mask;
	/** RPC socket path (-r); NULL: no RPC server. */
	const char *rpc_addr;
	int shm_id;
	uint32_t mem_size_mb;
	uint32_t main_core;
	bool no_pci;
	bool no_huge;
	const char *hugedir;
	const char *iova_mode;
	/** Extra EAL arguments, separated by spaces (--env-context); NULL: none. */
	const char *env_context;
	bool wait_for_rpc;
	bool interrupt_mode;
	bool enable_coredump;
	const char *tpoint_group_mask;
	const char *syslog_facility;
	enum keel_log_level print_level;
	size_t msg_mempool_size;
	/** Called on the app thread on SIGINT/SIGTERM; NULL: keel_app_stop(0). */
	void (*shutdown_cb)(void);
	/* Set by the parser: which options came from the command line. */
	bool mask_given;
	bool shm_id_given;
	bool no_pci_given;
};

typedef void (*keel_app_start_fn)(void *ctx);

enum keel_app_parse_args_rvals {
	KEEL_APP_PARSE_ARGS_HELP = 0,
	KEEL_APP_PARSE_ARGS_SUCCESS = 1,
	KEEL_APP_PARSE_ARGS_FAIL = 2,
};

void keel_app_opts_init(struct keel_app_opts *opts);

/**
 * Parse the common options plus an application's own (app_getopt_str / app_long_opts handled
 * by app_parse, which returns 0 or -EINVAL). Errors print one line and return FAIL; -h prints
 * the usage (with app_usage's lines) and returns HELP; -v prints the version and returns HELP.
 */
int keel_app_parse_args(int argc, char **argv, struct keel_app_opts *opts,
			const char *app_getopt_str, const struct option *app_long_opts,
			int (*app_parse)(int ch, char *arg), void (*app_usage)(void));
void keel_app_usage(const char *name, void (*app_usage)(void));

/**
 * Start the framework: environment, reactors, RPC server, configuration, subsystems; then
 * start_fn(ctx) on the app thread. Blocks until the application stops.
 * \return the exit status to give to exit(): 0 after an orderly stop.
 */
int keel_app_start(struct keel_app_opts *opts, keel_app_start_fn start_fn, void *ctx);
/** Stop the application (subsystems fini, reactors stop); rc is the exit status. */
void keel_app_stop(int rc);
/** Begin the orderly shutdown, as on SIGINT. Safe from any keel thread. */
void keel_app_start_shutdown(void);
/** Release what keel_app_start left (call after it returns). */
void keel_app_fini(void);
/** True once subsystems are initialised (runtime state). */
bool keel_app_is_running(void);
/** The legacy INI file given with -c, or NULL. */
const char *keel_app_get_config_file(void);
/** The options the application was started with. */
const struct keel_app_opts *keel_app_get_opts(void);

/*
 * Subsystems: each library that needs start-up and shutdown registers one. init must end by
 * calling keel_subsystem_init_next(rc) and fini by keel_subsystem_fini_next(), now or later,
 * on the app thread.
 */
struct keel_subsystem {
	const char *name;
	/** Start; NULL: nothing to do. */
	void (*init)(void);
	/** Stop; NULL: nothing to do. */
	void (*fini)(void);
	/** Append to array one {"method","params"} object per call that recreates the state. */
	void (*write_config_json)(struct json_object *array);
	TAILQ_ENTRY(keel_subsystem) link;
};

struct keel_subsystem_depend {
	const char *name;
	const char *depends_on;
	TAILQ_ENTRY(keel_subsystem_depend) link;
};

void keel_add_subsystem(struct keel_subsystem *subsystem);
void keel_add_subsystem_depend(struct keel_subsystem_depend *depend);

#define KEEL_SUBSYSTEM_REGISTER(_name)                                                             \
	__attribute__((constructor)) static void keel_subsystem_register_##_name(void)            \
	{                                                                                          \
		keel_add_subsystem(&_name);                                                        \
	}

#define KEEL_SUBSYSTEM_DEPEND(_name, _depends_on)                                                  \
	static struct keel_subsystem_depend keel_subsystem_##_name##_depend_##_depends_on = {      \
		.name = #_name, .depends_on = #_depends_on};                                       \
	__attribute__((constructor)) static void keel_subsystem_##_name##_depend_on_##_depends_on(void) \
	{                                                                                          \
		keel_add_subsystem_depend(&keel_subsystem_##_name##_depend_##_depends_on);         \
	}

void keel_subsystem_init_next(int rc);
void keel_subsystem_fini_next(void);
struct keel_subsystem *keel_subsystem_find(const char *name);
/** Subsystems in start order (after keel_subsystem_sort()). */
struct keel_subsystem *keel_subsystem_first(void);
struct keel_subsystem *keel_subsystem_next(struct keel_subsystem *s);
/** Names this subsystem depends on: call fn for each. */
void keel_subsystem_for_each_depend(struct keel_subsystem *s, void (*fn)(const char *dep, void *ctx),
				    void *ctx);
/**
 * Order the registered subsystems so that each comes after what it depends on.
 * \return 0; -ENOENT if a dependency names an unknown subsystem; -ELOOP on a cycle.
 */
int keel_subsystem_sort(void);
/** Init every subsystem in order; cb(rc) when done or at the first failure. */
void keel_subsystem_init(void (*cb)(int rc, void *ctx), void *ctx);
/** Fini the initialised subsystems in reverse order; cb when done. */
void keel_subsystem_fini(void (*cb)(void *ctx), void *ctx);

/** Run fn(ctx) on every reactor in turn, then cpl(ctx) on the calling thread. */
int keel_for_each_reactor(void (*fn)(void *ctx), void *ctx, void (*cpl)(void *ctx));

/** Reactor statistics, for framework_get_reactors. Valid on the reactor itself. */
struct keel_reactor_info {
	uint32_t lcore;
	uint64_t busy_tsc;
	uint64_t idle_tsc;
	bool in_interrupt;
	/** Context switches of the reactor's OS thread, as of the last once-a-second reading. */
	uint64_t voluntary_context_switches;
	uint64_t involuntary_context_switches;
};
/** The reactor the caller runs on (inside keel_for_each_reactor's fn). */
void keel_reactor_get_info(struct keel_reactor_info *info);
/** The context switch monitor (on by default): once a second each reactor logs, with
 * `-L reactor`, the context switches of its OS thread since the last second, if any. */
void keel_framework_set_context_switch_monitor(bool enabled);
bool keel_framework_context_switch_monitor_enabled(void);
/** Call fn for each lightweight thread of the current reactor. */
void keel_reactor_for_each_thread(void (*fn)(struct keel_thread *thread, void *ctx), void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_EVENT_H */
