/*
 * JSON-RPC methods of the NVMe bdev module, with SPDK's names and parameters (old names as
 * deprecated aliases): attach, detach and list controllers, module options, hotplug. Also the
 * software controller's methods, a test facility: create one, remove it by surprise, inject
 * errors, timeouts or a fatal status, and change its namespaces.
 */
#include "keel/stdinc.h"
#include "keel/bdev_module.h"
#include "keel/log.h"
#include "keel/nvme.h"
#include "keel/nvme_sim.h"
#include "keel/rpc.h"
#include "keel/util.h"

#include <json-c/json.h>

#include "bdev_nvme.h"

/* --- bdev_nvme_attach_controller ----------------------------------------------------------------
 */

struct rpc_attach {
	char *name;
	char *trtype;
	char *traddr;
	char *adrfam;
	char *trsvcid;
	char *subnqn;
	char *hostnqn;
	char *hostaddr;
	char *hostsvcid;
	char *priority;
	bool prchk_reftag;
	bool prchk_guard;
};

static const struct keel_rpc_field rpc_attach_fields[] = {
	KEEL_RPC_STR(struct rpc_attach, name, KEEL_REQUIRED,
		     "controller name; bdevs <name>n<nsid>"),
	KEEL_RPC_STR(struct rpc_attach, trtype, KEEL_REQUIRED, "transport type: PCIe"),
	KEEL_RPC_STR(struct rpc_attach, traddr, KEEL_REQUIRED,
		     "PCI address (0000:01:00.0), or sim:<n> for a software controller"),
	KEEL_RPC_STR(struct rpc_attach, adrfam, KEEL_OPTIONAL, "fabrics only; ignored for PCIe"),
	KEEL_RPC_STR(struct rpc_attach, trsvcid, KEEL_OPTIONAL, "fabrics only; ignored for PCIe"),
	KEEL_RPC_STR(struct rpc_attach, subnqn, KEEL_OPTIONAL, "fabrics only; ignored for PCIe"),
	KEEL_RPC_STR(struct rpc_attach, hostnqn, KEEL_OPTIONAL, "fabrics only; ignored for PCIe"),
	KEEL_RPC_STR(struct rpc_attach, hostaddr, KEEL_OPTIONAL, "fabrics only; ignored for PCIe"),
	KEEL_RPC_STR(struct rpc_attach, hostsvcid, KEEL_OPTIONAL, "fabrics only; ignored for PCIe"),
	KEEL_RPC_STR(struct rpc_attach, priority, KEEL_OPTIONAL, "accepted, ignored"),
	KEEL_RPC_BOOL(struct rpc_attach, prchk_reftag, KEEL_OPTIONAL, "protection info; ignored"),
	KEEL_RPC_BOOL(struct rpc_attach, prchk_guard, KEEL_OPTIONAL, "protection info; ignored"),
	KEEL_RPC_END};

#define RPC_ATTACH_MAX_BDEVS 128

static void
rpc_bdev_nvme_attach_controller(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_attach r = {0};
	struct keel_nvme_transport_id trid;
	const char *names[RPC_ATTACH_MAX_BDEVS];
	struct json_object *result;
	size_t count = 0, i;
	char err[256];
	int rc;

	if (keel_rpc_decode_params(req, params, rpc_attach_fields, &r) != 0) {
		return;
	}
	memset(&trid, 0, sizeof(trid));
	if (strcasecmp(r.trtype, KEEL_NVME_TRTYPE_PCIE) != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'trtype': %s (only PCIe)", r.trtype);
		goto out;
	}
	keel_strlcpy(trid.trtype, KEEL_NVME_TRTYPE_PCIE, sizeof(trid.trtype));
	if (r.traddr[0] == '\0' || strlen(r.traddr) >= sizeof(trid.traddr)) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'traddr': %s", r.traddr);
		goto out;
	}
	keel_strlcpy(trid.traddr, r.traddr, sizeof(trid.traddr));
	rc = bdev_nvme_attach(r.name, &trid, names, KEEL_COUNTOF(names), &count, err, sizeof(err));
	if (rc != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS, "%s", err);
		goto out;
	}
	result = json_object_new_array();
	for (i = 0; i < count; i++) {
		json_object_array_add(result, json_object_new_string(names[i]));
	}
	keel_jsonrpc_send_result(req, result);
out:
	keel_rpc_free_decoded(rpc_attach_fields, &r);
}
KEEL_RPC_REGISTER("bdev_nvme_attach_controller", rpc_bdev_nvme_attach_controller, rpc_attach_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_nvme_attach_controller, "construct_nvme_bdev")

/* --- bdev_nvme_detach_controller -----------------------------------------------------------------
 */

struct rpc_detach {
	char *name;
	char *trtype;
	char *traddr;
	char *adrfam;
	char *trsvcid;
	char *subnqn;
	char *hostaddr;
	char *hostsvcid;
};

static const struct keel_rpc_field rpc_detach_fields[] =
	{KEEL_RPC_STR(struct rpc_detach, name, KEEL_REQUIRED, "controller name"),
	 KEEL_RPC_STR(struct rpc_detach, trtype, KEEL_OPTIONAL, "must match if given"),
	 KEEL_RPC_STR(struct rpc_detach, traddr, KEEL_OPTIONAL, "must match if given"),
	 KEEL_RPC_STR(struct rpc_detach, adrfam, KEEL_OPTIONAL, "ignored"),
	 KEEL_RPC_STR(struct rpc_detach, trsvcid, KEEL_OPTIONAL, "ignored"),
	 KEEL_RPC_STR(struct rpc_detach, subnqn, KEEL_OPTIONAL, "ignored"),
	 KEEL_RPC_STR(struct rpc_detach, hostaddr, KEEL_OPTIONAL, "ignored"),
	 KEEL_RPC_STR(struct rpc_detach, hostsvcid, KEEL_OPTIONAL, "ignored"),
	 KEEL_RPC_END};

static void
rpc_bdev_nvme_detach_controller(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_detach r = {0};
	struct bdev_nvme_ctrlr *c;
	struct keel_nvme_transport_id want;

	if (keel_rpc_decode_params(req, params, rpc_detach_fields, &r) != 0) {
		return;
	}
	c = bdev_nvme_ctrlr_find(r.name);
	if (c == NULL) {
		keel_jsonrpc_send_error(req, -ENODEV,
					"No such device: no NVMe controller named '%s'", r.name);
		goto out;
	}
	if (r.traddr != NULL) {
		memset(&want, 0, sizeof(want));
		keel_strlcpy(want.trtype, r.trtype != NULL ? r.trtype : KEEL_NVME_TRTYPE_PCIE,
			     sizeof(want.trtype));
		keel_strlcpy(want.traddr, r.traddr, sizeof(want.traddr));
		if (!keel_nvme_transport_id_equal(&want, bdev_nvme_ctrlr_get_trid(c))) {
			keel_jsonrpc_send_error(req, -ENODEV,
						"No such device: controller '%s' is not at %s",
						r.name, r.traddr);
			goto out;
		}
	}
	bdev_nvme_detach(r.name, keel_jsonrpc_send_done, req);
out:
	keel_rpc_free_decoded(rpc_detach_fields, &r);
}
KEEL_RPC_REGISTER("bdev_nvme_detach_controller", rpc_bdev_nvme_detach_controller, rpc_detach_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_nvme_detach_controller, "delete_nvme_controller")

/* --- bdev_nvme_get_controllers -------------------------------------------------------------------
 */

struct rpc_get {
	char *name;
};

static const struct keel_rpc_field rpc_get_fields[] = {KEEL_RPC_STR(struct rpc_get, name,
								    KEEL_OPTIONAL,
								    "only this controller"),
						       KEEL_RPC_END};

static struct json_object *
rpc_ctrlr_json(struct bdev_nvme_ctrlr *c)
{
	const struct keel_nvme_transport_id *trid = bdev_nvme_ctrlr_get_trid(c);
	struct json_object *obj = json_object_new_object(), *t = json_object_new_object();

	json_object_object_add(obj, "name", json_object_new_string(bdev_nvme_ctrlr_get_name(c)));
	json_object_object_add(t, "trtype", json_object_new_string(trid->trtype));
	json_object_object_add(t, "traddr", json_object_new_string(trid->traddr));
	json_object_object_add(obj, "trid", t);
	return obj;
}

static void
rpc_bdev_nvme_get_controllers(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_get r = {0};
	struct bdev_nvme_ctrlr *c;
	struct json_object *result;

	if (keel_rpc_decode_params(req, params, rpc_get_fields, &r) != 0) {
		return;
	}
	if (r.name != NULL) {
		c = bdev_nvme_ctrlr_find(r.name);
		if (c == NULL) {
			keel_jsonrpc_send_error(req, -ENODEV, "No such device: controller '%s'",
						r.name);
			goto out;
		}
		result = json_object_new_array();
		json_object_array_add(result, rpc_ctrlr_json(c));
	} else {
		result = json_object_new_array();
		for (c = bdev_nvme_first_ctrlr(); c != NULL; c = bdev_nvme_next_ctrlr(c)) {
			json_object_array_add(result, rpc_ctrlr_json(c));
		}
	}
	keel_jsonrpc_send_result(req, result);
out:
	keel_rpc_free_decoded(rpc_get_fields, &r);
}
KEEL_RPC_REGISTER("bdev_nvme_get_controllers", rpc_bdev_nvme_get_controllers, rpc_get_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_nvme_get_controllers, "get_nvme_controllers")

/* --- bdev_nvme_set_options -----------------------------------------------------------------------
 */

struct rpc_set_options {
	char *action_on_timeout;
	uint64_t timeout_us;
	uint64_t timeout_admin_us;
	uint32_t retry_count;
	uint32_t transport_retry_count;
	int32_t bdev_retry_count;
	uint32_t keep_alive_timeout_ms;
	uint64_t nvme_adminq_poll_period_us;
	uint64_t nvme_ioq_poll_period_us;
	uint32_t io_queue_requests;
	bool delay_cmd_submit;
	uint32_t arbitration_burst;
	uint32_t low_priority_weight;
	uint32_t medium_priority_weight;
	uint32_t high_priority_weight;
};

static const struct keel_rpc_field rpc_set_options_fields[] =
	{KEEL_RPC_STR(struct rpc_set_options, action_on_timeout, KEEL_OPTIONAL,
		      "none, reset or abort"),
	 KEEL_RPC_U64(struct rpc_set_options, timeout_us, KEEL_OPTIONAL, "0: no timeout"),
	 KEEL_RPC_U64(struct rpc_set_options, timeout_admin_us, KEEL_OPTIONAL, "accepted, ignored"),
	 KEEL_RPC_U32(struct rpc_set_options, retry_count, KEEL_OPTIONAL,
		      "retries of a command that failed without DNR"),
	 KEEL_RPC_U32(struct rpc_set_options, transport_retry_count, KEEL_OPTIONAL,
		      "same as retry_count"),
	 KEEL_RPC_I32(struct rpc_set_options, bdev_retry_count, KEEL_OPTIONAL, "accepted, ignored"),
	 KEEL_RPC_U32(struct rpc_set_options, keep_alive_timeout_ms, KEEL_OPTIONAL,
		      "fabrics only; ignored"),
	 KEEL_RPC_U64(struct rpc_set_options, nvme_adminq_poll_period_us, KEEL_OPTIONAL,
		      "admin queue poll period"),
	 KEEL_RPC_U64(struct rpc_set_options, nvme_ioq_poll_period_us, KEEL_OPTIONAL,
		      "I/O queue poll period; 0: every reactor loop"),
	 KEEL_RPC_U32(struct rpc_set_options, io_queue_requests, KEEL_OPTIONAL,
		      "entries per I/O queue; 0: default"),
	 KEEL_RPC_BOOL(struct rpc_set_options, delay_cmd_submit, KEEL_OPTIONAL,
		       "doorbells are always batched per poll; ignored"),
	 KEEL_RPC_U32(struct rpc_set_options, arbitration_burst, KEEL_OPTIONAL, "ignored"),
	 KEEL_RPC_U32(struct rpc_set_options, low_priority_weight, KEEL_OPTIONAL, "ignored"),
	 KEEL_RPC_U32(struct rpc_set_options, medium_priority_weight, KEEL_OPTIONAL, "ignored"),
	 KEEL_RPC_U32(struct rpc_set_options, high_priority_weight, KEEL_OPTIONAL, "ignored"),
	 KEEL_RPC_END};

static bool
rpc_has(struct json_object *params, const char *key)
{
	return params != NULL && json_object_is_type(params, json_type_object) &&
	       json_object_object_get_ex(params, key, NULL);
}

static void
rpc_bdev_nvme_set_options(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_set_options r = {0};
	struct bdev_nvme_opts opts;
	int rc;

	if (keel_rpc_decode_params(req, params, rpc_set_options_fields, &r) != 0) {
		return;
	}
	bdev_nvme_get_opts(&opts);
	if (r.action_on_timeout != NULL &&
	    bdev_nvme_parse_timeout_action(r.action_on_timeout, &opts.action_on_timeout) != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'action_on_timeout': %s (none, reset or "
					"abort)",
					r.action_on_timeout);
		goto out;
	}
	if (rpc_has(params, "timeout_us")) {
		opts.timeout_us = r.timeout_us;
	}
	if (rpc_has(params, "retry_count")) {
		opts.retry_count = r.retry_count;
	} else if (rpc_has(params, "transport_retry_count")) {
		opts.retry_count = r.transport_retry_count;
	}
	if (rpc_has(params, "nvme_adminq_poll_period_us")) {
		opts.nvme_adminq_poll_period_us = r.nvme_adminq_poll_period_us;
	}
	if (rpc_has(params, "nvme_ioq_poll_period_us")) {
		opts.nvme_ioq_poll_period_us = r.nvme_ioq_poll_period_us;
	}
	if (rpc_has(params, "io_queue_requests")) {
		opts.io_queue_requests = r.io_queue_requests;
	}
	rc = bdev_nvme_set_opts(&opts);
	if (rc == -EPERM) {
		keel_jsonrpc_send_error(req, -EPERM,
					"RPC not permitted with nvme controllers already attached");
	} else if (rc != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameters: a poll period out of range "
					"('nvme_adminq_poll_period_us' 1..60000000, "
					"'nvme_ioq_poll_period_us' <= 1000000) or "
					"'io_queue_requests' below 2");
	} else {
		keel_jsonrpc_send_bool_response(req, true);
	}
out:
	keel_rpc_free_decoded(rpc_set_options_fields, &r);
}
KEEL_RPC_REGISTER("bdev_nvme_set_options", rpc_bdev_nvme_set_options, rpc_set_options_fields,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_nvme_set_options, "set_bdev_nvme_options")

/* --- bdev_nvme_set_hotplug
 * ------------------------------------------------------------------------ */

struct rpc_hotplug {
	bool enable;
	uint64_t period_us;
};

static const struct keel_rpc_field rpc_hotplug_fields[] =
	{KEEL_RPC_BOOL(struct rpc_hotplug, enable, KEEL_REQUIRED, "run the hotplug monitor"),
	 KEEL_RPC_U64(struct rpc_hotplug, period_us, KEEL_OPTIONAL,
		      "scan period, microseconds (default 100000)"),
	 KEEL_RPC_END};

static void
rpc_bdev_nvme_set_hotplug(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_hotplug r = {0};

	if (keel_rpc_decode_params(req, params, rpc_hotplug_fields, &r) != 0) {
		return;
	}
	if (r.period_us > 60000000) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameter 'period_us': at most 60000000");
		return;
	}
	if (bdev_nvme_set_hotplug(r.enable, r.period_us) != 0) {
		keel_jsonrpc_send_error(req, -ENOMEM, "cannot start the hotplug monitor");
		return;
	}
	keel_jsonrpc_send_bool_response(req, true);
}
KEEL_RPC_REGISTER("bdev_nvme_set_hotplug", rpc_bdev_nvme_set_hotplug, rpc_hotplug_fields,
		  KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_bdev_nvme_set_hotplug, "set_bdev_nvme_hotplug")

/* --- Software controller (test facility)
 * ------------------------------------------------------------ */

struct rpc_sim_create {
	uint32_t index;
	uint32_t num_ns;
	uint64_t ns_size_mb;
	uint32_t block_size;
	uint32_t max_io_queues;
	bool no_sgl;
};

static const struct keel_rpc_field rpc_sim_create_fields[] =
	{KEEL_RPC_U32(struct rpc_sim_create, index, KEEL_OPTIONAL,
		      "address sim:<index>; default: the first free one"),
	 KEEL_RPC_U32(struct rpc_sim_create, num_ns, KEEL_OPTIONAL, "namespaces, default 1"),
	 KEEL_RPC_U64(struct rpc_sim_create, ns_size_mb, KEEL_OPTIONAL,
		      "MiB per namespace, default 64"),
	 KEEL_RPC_U32(struct rpc_sim_create, block_size, KEEL_OPTIONAL, "512 (default) or 4096"),
	 KEEL_RPC_U32(struct rpc_sim_create, max_io_queues, KEEL_OPTIONAL, "default 15"),
	 KEEL_RPC_BOOL(struct rpc_sim_create, no_sgl, KEEL_OPTIONAL, "PRPs only"),
	 KEEL_RPC_END};

static void
rpc_bdev_nvme_sim_create(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_sim_create r = {0};
	struct keel_nvme_sim_opts o;
	struct keel_nvme_sim *sim;
	char addr[32];
	int rc;

	if (keel_rpc_decode_params(req, params, rpc_sim_create_fields, &r) != 0) {
		return;
	}
	keel_nvme_sim_opts_init(&o);
	o.sgl = !r.no_sgl;
	if (rpc_has(params, "index")) {
		o.index = r.index;
	} else {
		for (o.index = 0; o.index < KEEL_NVME_SIM_MAX && keel_nvme_sim_get(o.index) != NULL;
		     o.index++) {
		}
	}
	if (rpc_has(params, "num_ns")) {
		o.num_ns = r.num_ns;
	}
	if (rpc_has(params, "ns_size_mb")) {
		o.ns_size_bytes = r.ns_size_mb > (1ull << 20) ? 0 : r.ns_size_mb << 20;
	}
	if (rpc_has(params, "block_size")) {
		o.block_size = r.block_size;
	}
	if (rpc_has(params, "max_io_queues")) {
		o.max_io_queues = (uint16_t)KEEL_MIN(r.max_io_queues, 0xffffu);
	}
	rc = keel_nvme_sim_create(&o, &sim);
	if (rc != 0) {
		keel_jsonrpc_send_error(
			req, rc == -EEXIST ? -EEXIST : KEEL_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters for a software controller "
			"('index' < %u and free, 'num_ns' <= %u, 'block_size' 512 or "
			"4096, 'max_io_queues' 1..63): %s",
			KEEL_NVME_SIM_MAX, KEEL_NVME_SIM_MAX_NS, keel_strerror(-rc));
		return;
	}
	snprintf(addr, sizeof(addr), "sim:%u", o.index);
	keel_jsonrpc_send_result(req, json_object_new_string(addr));
}
KEEL_RPC_REGISTER("bdev_nvme_sim_create", rpc_bdev_nvme_sim_create, rpc_sim_create_fields,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME)

struct rpc_sim_ref {
	char *traddr;
	char *kind;
	bool admin;
	uint32_t opc;
	uint32_t sct;
	uint32_t sc;
	uint32_t count;
	uint32_t nsid;
	uint64_t size_mb;
};

static const struct keel_rpc_field rpc_sim_remove_fields[] = {KEEL_RPC_STR(struct rpc_sim_ref,
									   traddr, KEEL_REQUIRED,
									   "sim:<n>"),
							      KEEL_RPC_END};

static struct keel_nvme_sim *
rpc_sim_lookup(struct keel_jsonrpc_request *req, const char *traddr)
{
	struct keel_nvme_sim *sim = keel_nvme_sim_find(traddr);

	if (sim == NULL) {
		keel_jsonrpc_send_error(req, -ENODEV,
					"Invalid parameter 'traddr': no software controller at %s",
					traddr);
	}
	return sim;
}

static void
rpc_bdev_nvme_sim_remove(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_sim_ref r = {0};
	struct keel_nvme_sim *sim;

	if (keel_rpc_decode_params(req, params, rpc_sim_remove_fields, &r) != 0) {
		return;
	}
	sim = rpc_sim_lookup(req, r.traddr);
	if (sim != NULL) {
		/* Surprise removal: gone at once; freed when its driver lets go. */
		keel_nvme_sim_destroy(sim);
		keel_jsonrpc_send_bool_response(req, true);
	}
	keel_rpc_free_decoded(rpc_sim_remove_fields, &r);
}
KEEL_RPC_REGISTER("bdev_nvme_sim_remove", rpc_bdev_nvme_sim_remove, rpc_sim_remove_fields,
		  KEEL_RPC_STARTUP | KEEL_RPC_RUNTIME)

static const struct keel_rpc_field rpc_sim_inject_fields[] =
	{KEEL_RPC_STR(struct rpc_sim_ref, traddr, KEEL_REQUIRED, "sim:<n>"),
	 KEEL_RPC_STR(struct rpc_sim_ref, kind, KEEL_REQUIRED, "error, timeout, fatal or clear"),
	 KEEL_RPC_BOOL(struct rpc_sim_ref, admin, KEEL_OPTIONAL, "an admin opcode (default I/O)"),
	 KEEL_RPC_U32(struct rpc_sim_ref, opc, KEEL_OPTIONAL, "opcode, e.g. 2 for read"),
	 KEEL_RPC_U32(struct rpc_sim_ref, sct, KEEL_OPTIONAL, "status code type (error)"),
	 KEEL_RPC_U32(struct rpc_sim_ref, sc, KEEL_OPTIONAL, "status code (error)"),
	 KEEL_RPC_U32(struct rpc_sim_ref, count, KEEL_OPTIONAL, "commands affected, default 1"),
	 KEEL_RPC_END};

static void
rpc_bdev_nvme_sim_inject(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_sim_ref r = {0};
	struct keel_nvme_sim *sim;
	int rc = 0;

	if (keel_rpc_decode_params(req, params, rpc_sim_inject_fields, &r) != 0) {
		return;
	}
	sim = rpc_sim_lookup(req, r.traddr);
	if (sim == NULL) {
		goto out;
	}
	if (r.count == 0) {
		r.count = 1;
	}
	if (strcmp(r.kind, "fatal") == 0) {
		keel_nvme_sim_set_fatal(sim);
	} else if (strcmp(r.kind, "clear") == 0) {
		keel_nvme_sim_clear_injections(sim);
	} else if (strcmp(r.kind, "error") == 0 && r.opc <= 0xff && r.sct <= 7 && r.sc <= 0xff) {
		rc = keel_nvme_sim_inject_error(sim, r.admin, (uint8_t)r.opc, (uint8_t)r.sct,
						(uint8_t)r.sc, r.count);
	} else if (strcmp(r.kind, "timeout") == 0 && r.opc <= 0xff) {
		rc = keel_nvme_sim_inject_timeout(sim, r.admin, (uint8_t)r.opc, r.count);
	} else {
		rc = -EINVAL;
	}
	if (rc != 0) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameters: 'kind' error (with 'opc', 'sct', 'sc' "
					"not both 0), timeout (with 'opc'), fatal or clear");
	} else {
		keel_jsonrpc_send_bool_response(req, true);
	}
out:
	keel_rpc_free_decoded(rpc_sim_inject_fields, &r);
}
KEEL_RPC_REGISTER("bdev_nvme_sim_inject", rpc_bdev_nvme_sim_inject, rpc_sim_inject_fields,
		  KEEL_RPC_RUNTIME)

static const struct keel_rpc_field rpc_sim_ns_fields[] =
	{KEEL_RPC_STR(struct rpc_sim_ref, traddr, KEEL_REQUIRED, "sim:<n>"),
	 KEEL_RPC_U32(struct rpc_sim_ref, nsid, KEEL_REQUIRED, "namespace id"),
	 KEEL_RPC_U64(struct rpc_sim_ref, size_mb, KEEL_REQUIRED,
		      "new size in MiB; 0 detaches the namespace"),
	 KEEL_RPC_END};

static void
rpc_bdev_nvme_sim_ns_set(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct rpc_sim_ref r = {0};
	struct keel_nvme_sim *sim;

	if (keel_rpc_decode_params(req, params, rpc_sim_ns_fields, &r) != 0) {
		return;
	}
	sim = rpc_sim_lookup(req, r.traddr);
	if (sim != NULL) {
		if (r.size_mb > (1ull << 20) ||
		    keel_nvme_sim_ns_set(sim, r.nsid, r.size_mb << 20) != 0) {
			keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameter 'nsid' (1..%u) or 'size_mb'",
						KEEL_NVME_SIM_MAX_NS);
		} else {
			keel_jsonrpc_send_bool_response(req, true);
		}
	}
	keel_rpc_free_decoded(rpc_sim_ns_fields, &r);
}
KEEL_RPC_REGISTER("bdev_nvme_sim_ns_set", rpc_bdev_nvme_sim_ns_set, rpc_sim_ns_fields,
		  KEEL_RPC_RUNTIME)
