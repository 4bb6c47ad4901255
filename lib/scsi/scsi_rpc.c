/*
 * The SCSI layer's JSON-RPC method: scsi_get_devices (formerly get_scsi_devices) lists every
 * SCSI device as {"id", "device_name"}.
 */
#include "keel/stdinc.h"
#include "keel/jsonrpc.h"
#include "keel/rpc.h"
#include "keel/scsi.h"

#include <json-c/json.h>

static void
rpc_scsi_get_devices(struct keel_jsonrpc_request *req, struct json_object *params)
{
	struct json_object *res = json_object_new_array(), *obj;
	struct keel_scsi_dev *dev;

	if (res == NULL) {
		keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
		return;
	}
	for (dev = keel_scsi_dev_get_first(); dev != NULL; dev = keel_scsi_dev_get_next(dev)) {
		obj = json_object_new_object();
		if (obj == NULL) {
			json_object_put(res);
			keel_jsonrpc_send_error(req, KEEL_JSONRPC_ERROR_INTERNAL_ERROR,
						"out of memory");
			return;
		}
		json_object_object_add(obj, "id", json_object_new_int(keel_scsi_dev_get_id(dev)));
		json_object_object_add(obj, "device_name",
				       json_object_new_string(keel_scsi_dev_get_name(dev)));
		json_object_array_add(res, obj);
	}
	keel_jsonrpc_send_result(req, res);
}
KEEL_RPC_REGISTER("scsi_get_devices", rpc_scsi_get_devices, NULL, KEEL_RPC_RUNTIME)
KEEL_RPC_REGISTER_ALIAS_DEPRECATED(rpc_scsi_get_devices, "get_scsi_devices")
