/*
 * The RPC method table on top of the JSON-RPC server: methods register themselves with a
 * parameter table and the states they may run in; old method names are aliases.
 */
#ifndef KEEL_RPC_H
#define KEEL_RPC_H

#include "keel/stdinc.h"
#include "keel/jsonrpc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KEEL_DEFAULT_RPC_ADDR "/var/tmp/spdk.sock"

/** States an RPC may run in (bit mask). */
#define KEEL_RPC_STARTUP 0x1 /* before framework_start_init (with --wait-for-rpc) */
#define KEEL_RPC_RUNTIME 0x2 /* after the subsystems are initialised */

enum keel_rpc_type {
	KEEL_RPC_TYPE_STRING,
	KEEL_RPC_TYPE_BOOL,
	KEEL_RPC_TYPE_INT32,
	KEEL_RPC_TYPE_UINT32,
	KEEL_RPC_TYPE_INT64,
	KEEL_RPC_TYPE_UINT64,
	KEEL_RPC_TYPE_DOUBLE,
	KEEL_RPC_TYPE_OBJECT, /* stored as a borrowed struct json_object * */
	KEEL_RPC_TYPE_ARRAY,  /* stored as a borrowed struct json_object * */
	KEEL_RPC_TYPE_ANY,    /* stored as a borrowed struct json_object * */
};

#define KEEL_REQUIRED true
#define KEEL_OPTIONAL false

/** One named parameter of a method: how to check and decode it into a C struct. */
struct keel_rpc_field {
	const char *name;
	enum keel_rpc_type type;
	size_t offset;
	bool required;
	const char *help;
};

#define KEEL_RPC_FIELD(st, member, t, req, h)                                                      \
	{                                                                                          \
		.name = #member, .type = (t), .offset = offsetof(st, member), .required = (req),   \
		.help = (h)                                                                        \
	}
/** Strings are decoded as malloc'd copies; free them with keel_rpc_free_decoded(). */
#define KEEL_RPC_STR(st, m, req, h) KEEL_RPC_FIELD(st, m, KEEL_RPC_TYPE_STRING, req, h)
#define KEEL_RPC_BOOL(st, m, req, h) KEEL_RPC_FIELD(st, m, KEEL_RPC_TYPE_BOOL, req, h)
#define KEEL_RPC_I32(st, m, req, h) KEEL_RPC_FIELD(st, m, KEEL_RPC_TYPE_INT32, req, h)
#define KEEL_RPC_U32(st, m, req, h) KEEL_RPC_FIELD(st, m, KEEL_RPC_TYPE_UINT32, req, h)
#define KEEL_RPC_I64(st, m, req, h) KEEL_RPC_FIELD(st, m, KEEL_RPC_TYPE_INT64, req, h)
#define KEEL_RPC_U64(st, m, req, h) KEEL_RPC_FIELD(st, m, KEEL_RPC_TYPE_UINT64, req, h)
#define KEEL_RPC_DOUBLE(st, m, req, h) KEEL_RPC_FIELD(st, m, KEEL_RPC_TYPE_DOUBLE, req, h)
#define KEEL_RPC_OBJ(st, m, req, h) KEEL_RPC_FIELD(st, m, KEEL_RPC_TYPE_OBJECT, req, h)
#define KEEL_RPC_ARRAY(st, m, req, h) KEEL_RPC_FIELD(st, m, KEEL_RPC_TYPE_ARRAY, req, h)
#define KEEL_RPC_ANY(st, m, req, h) KEEL_RPC_FIELD(st, m, KEEL_RPC_TYPE_ANY, req, h)
#define KEEL_RPC_END                                                                               \
	{                                                                                          \
		.name = NULL                                                                       \
	}

/**
 * A method handler. params is NULL when the request has none. Must end in exactly one
 * keel_jsonrpc_send_* on req, now or later.
 */
typedef void (*keel_rpc_method_fn)(struct keel_jsonrpc_request *req, struct json_object *params);

struct keel_rpc_method {
	const char *name;
	keel_rpc_method_fn fn;
	const struct keel_rpc_field *fields; /* NULL: the method takes no parameters */
	uint32_t state_mask;
	const char *alias_of; /* set for a deprecated alias; fn is then NULL */
	bool is_deprecated;
	bool deprecation_warned; /* internal: the one-time warning was logged */
	TAILQ_ENTRY(keel_rpc_method) link;
};

/** Add a method (or alias) to the table; a name already taken is logged and ignored. */
void keel_rpc_register_method(struct keel_rpc_method *method);

/**
 * Register a method at load time:
 *   KEEL_RPC_REGISTER("bdev_null_create", rpc_bdev_null_create, fields, KEEL_RPC_RUNTIME);
 */
#define KEEL_RPC_REGISTER(method_name, func, flds, state)                                          \
	static struct keel_rpc_method keel_rpc_method_##func = {.name = (method_name),             \
								.fn = (func),                      \
								.fields = (flds),                  \
								.state_mask = (state)};            \
	__attribute__((constructor)) static void keel_rpc_register_##func(void)                    \
	{                                                                                          \
		keel_rpc_register_method(&keel_rpc_method_##func);                                 \
	}

/** Register an old name for a method: KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_null_create,
 * "construct_null_bdev"). */
#define KEEL_RPC_REGISTER_ALIAS_DEPRECATED(func, old_name)                                         \
	static struct keel_rpc_method keel_rpc_alias_##func = {.name = (old_name),                 \
							       .alias_of = NULL,                   \
							       .is_deprecated = true};             \
	__attribute__((constructor)) static void keel_rpc_register_alias_##func(void)              \
	{                                                                                          \
		keel_rpc_alias_##func.alias_of = keel_rpc_method_##func.name;                      \
		keel_rpc_register_method(&keel_rpc_alias_##func);                                  \
	}

/**
 * A further old name for the same method (KEEL_RPC_REGISTER_ALIAS_DEPRECATED allows one per
 * function); tag is any identifier unique among the aliases of func:
 *   KEEL_RPC_REGISTER_ALIAS_DEPRECATED_EXTRA(rpc_log_set_flag, "set_trace_flag", v18);
 */
#define KEEL_RPC_REGISTER_ALIAS_DEPRECATED_EXTRA(func, old_name, tag)                              \
	static struct keel_rpc_method keel_rpc_alias_##func##_##tag = {.name = (old_name),         \
								       .alias_of = NULL,           \
								       .is_deprecated = true};     \
	__attribute__((constructor)) static void keel_rpc_register_alias_##func##_##tag(void)      \
	{                                                                                          \
		keel_rpc_alias_##func##_##tag.alias_of = keel_rpc_method_##func.name;              \
		keel_rpc_register_method(&keel_rpc_alias_##func##_##tag);                          \
	}

/**
 * Check params against fields and decode them into out (a struct laid out as the field table
 * says). Unknown, missing or mistyped parameters get a -32602 error that names the parameter,
 * sent on req. params must be an object, or NULL when no field is required. Integers are
 * range-checked for their C type; unsigned fields refuse negative numbers.
 *
 * Members absent from params leave out untouched (set defaults before the call). A string
 * member of out must be NULL or malloc'd: a decoded string replaces (and frees) it.
 * Object, array and "any" fields borrow from params.
 *
 * \return 0; -EINVAL if an error was sent; -ENOMEM if an internal error was sent. On error,
 *         out is unchanged.
 */
int keel_rpc_decode_params(struct keel_jsonrpc_request *req, struct json_object *params,
			   const struct keel_rpc_field *fields, void *out);
/** Free the strings that keel_rpc_decode_params() copied into out (and set them NULL). */
void keel_rpc_free_decoded(const struct keel_rpc_field *fields, void *out);

/** "string", "bool", "int32", "uint32", "int64", "uint64", "double", "object", "array", "any". */
const char *keel_rpc_type_name(enum keel_rpc_type type);

/** Current state (KEEL_RPC_STARTUP or KEEL_RPC_RUNTIME). */
void keel_rpc_set_state(uint32_t state);
uint32_t keel_rpc_get_state(void);

/** Find a method by name (aliases resolve to their target); NULL if unknown. */
const struct keel_rpc_method *keel_rpc_find_method(const char *name);
/** Iterate the method table (aliases included). */
const struct keel_rpc_method *keel_rpc_first_method(void);
const struct keel_rpc_method *keel_rpc_next_method(const struct keel_rpc_method *m);

/**
 * Dispatch one request through the method table: unknown method -32601, wrong state -1,
 * parameters given to a method without a field table -32602, otherwise the handler. The
 * first call through a deprecated alias logs a warning. The JSON-RPC server hands every
 * request to this.
 */
void keel_rpc_handle_request(struct keel_jsonrpc_request *req, const char *method,
			     struct json_object *params);

/**
 * Start the RPC server on the calling thread: listen on path and register a poller that
 * serves it (and its interrupt fd).
 * \return 0; -EADDRINUSE if another live process serves that socket; -EALREADY if the
 *         server already runs; -ENOMEM; -errno.
 */
int keel_rpc_initialize(const char *path);
/** Stop the server and remove the socket. */
void keel_rpc_finish(void);

/**
 * Call a method in-process (for --json config replay): cb gets the response object
 * (it must json_object_put() it), possibly before this returns, possibly later from the
 * thread that answers. params is borrowed and must stay valid until cb runs.
 */
void keel_rpc_call_local(const char *method, struct json_object *params, keel_jsonrpc_local_cb cb,
			 void *cb_arg);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_RPC_H */
