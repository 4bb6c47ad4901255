/*
 * iSCSI wire format (RFC 7143): the Basic Header Segment of every PDU type, opcodes, flags and
 * status codes. Wire structs only; multi-byte fields are big-endian and read with
 * keel_from_be*() from keel/util.h.
 */
#ifndef KEEL_ISCSI_SPEC_H
#define KEEL_ISCSI_SPEC_H

#include "keel/stdinc.h"

#define KEEL_ISCSI_BHS_LEN 48
#define KEEL_ISCSI_DIGEST_LEN 4
#define KEEL_ISCSI_DEFAULT_PORT 3260
#define KEEL_ISCSI_MAX_TEXT_KEY 63	/* RFC 7143 6.1: key names up to 63 bytes */
#define KEEL_ISCSI_MAX_TEXT_VALUE 255	/* simple values; some keys allow 8192 */
#define KEEL_ISCSI_RESERVED_TAG 0xffffffffu

/* Opcodes (RFC 7143 11.2.1.2). Initiator opcodes 0x00-0x1f, target 0x20-0x3f. */
enum keel_iscsi_op {
	KEEL_ISCSI_OP_NOP_OUT = 0x00,
	KEEL_ISCSI_OP_SCSI_CMD = 0x01,
	KEEL_ISCSI_OP_TASK_REQ = 0x02,
	KEEL_ISCSI_OP_LOGIN_REQ = 0x03,
	KEEL_ISCSI_OP_TEXT_REQ = 0x04,
	KEEL_ISCSI_OP_DATA_OUT = 0x05,
	KEEL_ISCSI_OP_LOGOUT_REQ = 0x06,
	KEEL_ISCSI_OP_SNACK = 0x10,
	KEEL_ISCSI_OP_NOP_IN = 0x20,
	KEEL_ISCSI_OP_SCSI_RSP = 0x21,
	KEEL_ISCSI_OP_TASK_RSP = 0x22,
	KEEL_ISCSI_OP_LOGIN_RSP = 0x23,
	KEEL_ISCSI_OP_TEXT_RSP = 0x24,
	KEEL_ISCSI_OP_DATA_IN = 0x25,
	KEEL_ISCSI_OP_LOGOUT_RSP = 0x26,
	KEEL_ISCSI_OP_R2T = 0x31,
	KEEL_ISCSI_OP_ASYNC = 0x32,
	KEEL_ISCSI_OP_REJECT = 0x3f,
};
#define KEEL_ISCSI_OP_COUNT 64
#define KEEL_ISCSI_OPCODE_MASK 0x3f
#define KEEL_ISCSI_IMMEDIATE 0x40	/* byte 0: I bit */

/* Byte 1 flags. */
#define KEEL_ISCSI_FLAG_FINAL 0x80
#define KEEL_ISCSI_SCSI_READ 0x40
#define KEEL_ISCSI_SCSI_WRITE 0x20
#define KEEL_ISCSI_SCSI_ATTR_MASK 0x07
#define KEEL_ISCSI_DATAIN_ACK 0x40
#define KEEL_ISCSI_DATAIN_OVERFLOW 0x04
#define KEEL_ISCSI_DATAIN_UNDERFLOW 0x02
#define KEEL_ISCSI_DATAIN_STATUS 0x01
#define KEEL_ISCSI_RSP_BIDI_OVERFLOW 0x10
#define KEEL_ISCSI_RSP_BIDI_UNDERFLOW 0x08
#define KEEL_ISCSI_RSP_OVERFLOW 0x04
#define KEEL_ISCSI_RSP_UNDERFLOW 0x02
#define KEEL_ISCSI_LOGIN_TRANSIT 0x80
#define KEEL_ISCSI_LOGIN_CONTINUE 0x40
#define KEEL_ISCSI_LOGIN_CSG_MASK 0x0c
#define KEEL_ISCSI_LOGIN_CSG_SHIFT 2
#define KEEL_ISCSI_LOGIN_NSG_MASK 0x03
#define KEEL_ISCSI_TEXT_CONTINUE 0x40

/* Login stages. */
enum keel_iscsi_stage {
	KEEL_ISCSI_SECURITY_NEGOTIATION = 0,
	KEEL_ISCSI_OPERATIONAL_NEGOTIATION = 1,
	KEEL_ISCSI_FULL_FEATURE_PHASE = 3,
};

/* Login status class and detail (RFC 7143 11.13.5), as (class << 8 | detail). */
enum keel_iscsi_login_status {
	KEEL_ISCSI_LOGIN_SUCCESS = 0x0000,
	KEEL_ISCSI_LOGIN_TARGET_MOVED_TEMP = 0x0101,
	KEEL_ISCSI_LOGIN_TARGET_MOVED_PERM = 0x0102,
	KEEL_ISCSI_LOGIN_INITIATOR_ERROR = 0x0200,
	KEEL_ISCSI_LOGIN_AUTH_FAILURE = 0x0201,
	KEEL_ISCSI_LOGIN_AUTHORIZATION_FAILURE = 0x0202,
	KEEL_ISCSI_LOGIN_NOT_FOUND = 0x0203,
	KEEL_ISCSI_LOGIN_TARGET_REMOVED = 0x0204,
	KEEL_ISCSI_LOGIN_UNSUPPORTED_VERSION = 0x0205,
	KEEL_ISCSI_LOGIN_TOO_MANY_CONNECTIONS = 0x0206,
	KEEL_ISCSI_LOGIN_MISSING_PARAMETER = 0x0207,
	KEEL_ISCSI_LOGIN_CANT_INCLUDE_IN_SESSION = 0x0208,
	KEEL_ISCSI_LOGIN_SESSION_TYPE_NOT_SUPPORTED = 0x0209,
	KEEL_ISCSI_LOGIN_SESSION_DOES_NOT_EXIST = 0x020a,
	KEEL_ISCSI_LOGIN_INVALID_DURING_LOGIN = 0x020b,
	KEEL_ISCSI_LOGIN_TARGET_ERROR = 0x0300,
	KEEL_ISCSI_LOGIN_SERVICE_UNAVAILABLE = 0x0301,
	KEEL_ISCSI_LOGIN_OUT_OF_RESOURCES = 0x0302,
};

/* SCSI Response "Response" field. */
#define KEEL_ISCSI_RESPONSE_COMPLETED 0x00
#define KEEL_ISCSI_RESPONSE_TARGET_FAILURE 0x01

/* Reject reasons (RFC 7143 11.17.1). */
enum keel_iscsi_reject_reason {
	KEEL_ISCSI_REJECT_DATA_DIGEST_ERROR = 0x02,
	KEEL_ISCSI_REJECT_SNACK_REJECT = 0x03,
	KEEL_ISCSI_REJECT_PROTOCOL_ERROR = 0x04,
	KEEL_ISCSI_REJECT_COMMAND_NOT_SUPPORTED = 0x05,
	KEEL_ISCSI_REJECT_IMMEDIATE_COMMAND_REJECT = 0x06,
	KEEL_ISCSI_REJECT_TASK_IN_PROGRESS = 0x07,
	KEEL_ISCSI_REJECT_INVALID_DATA_ACK = 0x08,
	KEEL_ISCSI_REJECT_INVALID_PDU_FIELD = 0x09,
	KEEL_ISCSI_REJECT_LONG_OPERATION_REJECT = 0x0a,
	KEEL_ISCSI_REJECT_DEPRECATED = 0x0b,
	KEEL_ISCSI_REJECT_WAITING_FOR_LOGOUT = 0x0c,
};

/* Logout reasons and responses (RFC 7143 11.14, 11.15). */
#define KEEL_ISCSI_LOGOUT_CLOSE_SESSION 0
#define KEEL_ISCSI_LOGOUT_CLOSE_CONNECTION 1
#define KEEL_ISCSI_LOGOUT_REMOVE_CONN_FOR_RECOVERY 2
#define KEEL_ISCSI_LOGOUT_RSP_OK 0
#define KEEL_ISCSI_LOGOUT_RSP_CID_NOT_FOUND 1
#define KEEL_ISCSI_LOGOUT_RSP_RECOVERY_NOT_SUPPORTED 2
#define KEEL_ISCSI_LOGOUT_RSP_CLEANUP_FAILED 3

/* Asynchronous events (RFC 7143 11.9.1). */
#define KEEL_ISCSI_ASYNC_SCSI_EVENT 0
#define KEEL_ISCSI_ASYNC_LOGOUT_REQUEST 1
#define KEEL_ISCSI_ASYNC_DROP_CONNECTION 2
#define KEEL_ISCSI_ASYNC_DROP_ALL_CONNECTIONS 3
#define KEEL_ISCSI_ASYNC_NEGOTIATION_REQUEST 4

/* The generic view of a BHS. */
struct keel_iscsi_bhs {
	uint8_t opcode;		/* I bit + opcode */
	uint8_t flags;
	uint8_t rsv2[2];
	uint8_t total_ahs_len;	/* in 4-byte words */
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint8_t itt[4];
	uint8_t specific[28];	/* bytes 20..47: per opcode */
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_bhs) == 48, "BHS is 48 bytes");

struct keel_iscsi_scsi_cmd {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsv2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint8_t itt[4];
	uint8_t expected_data_xfer_len[4];
	uint8_t cmdsn[4];
	uint8_t exp_statsn[4];
	uint8_t cdb[16];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_scsi_cmd) == 48, "SCSI Command BHS");

struct keel_iscsi_scsi_rsp {
	uint8_t opcode;
	uint8_t flags;
	uint8_t response;
	uint8_t status;
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t rsv8[8];
	uint8_t itt[4];
	uint8_t snack_tag[4];
	uint8_t statsn[4];
	uint8_t exp_cmdsn[4];
	uint8_t max_cmdsn[4];
	uint8_t exp_datasn[4];
	uint8_t bidi_residual[4];
	uint8_t residual[4];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_scsi_rsp) == 48, "SCSI Response BHS");

struct keel_iscsi_data_out {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsv2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint8_t itt[4];
	uint8_t ttt[4];
	uint8_t rsv24[4];
	uint8_t exp_statsn[4];
	uint8_t rsv32[4];
	uint8_t datasn[4];
	uint8_t buffer_offset[4];
	uint8_t rsv44[4];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_data_out) == 48, "Data-Out BHS");

struct keel_iscsi_data_in {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsv2;
	uint8_t status;
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint8_t itt[4];
	uint8_t ttt[4];
	uint8_t statsn[4];
	uint8_t exp_cmdsn[4];
	uint8_t max_cmdsn[4];
	uint8_t datasn[4];
	uint8_t buffer_offset[4];
	uint8_t residual[4];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_data_in) == 48, "Data-In BHS");

struct keel_iscsi_r2t {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsv2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint8_t itt[4];
	uint8_t ttt[4];
	uint8_t statsn[4];
	uint8_t exp_cmdsn[4];
	uint8_t max_cmdsn[4];
	uint8_t r2tsn[4];
	uint8_t buffer_offset[4];
	uint8_t desired_data_xfer_len[4];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_r2t) == 48, "R2T BHS");

struct keel_iscsi_nop {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsv2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint8_t itt[4];
	uint8_t ttt[4];
	uint8_t sn[4];		/* NOP-Out: CmdSN; NOP-In: StatSN */
	uint8_t exp_sn[4];	/* NOP-Out: ExpStatSN; NOP-In: ExpCmdSN */
	uint8_t max_cmdsn[4];	/* NOP-In only */
	uint8_t rsv36[12];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_nop) == 48, "NOP BHS");

struct keel_iscsi_task_req {
	uint8_t opcode;
	uint8_t function;	/* F bit + function */
	uint8_t rsv2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint8_t itt[4];
	uint8_t ref_task_tag[4];
	uint8_t cmdsn[4];
	uint8_t exp_statsn[4];
	uint8_t ref_cmdsn[4];
	uint8_t exp_datasn[4];
	uint8_t rsv40[8];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_task_req) == 48, "Task Management Request BHS");

struct keel_iscsi_task_rsp {
	uint8_t opcode;
	uint8_t flags;
	uint8_t response;
	uint8_t rsv3;
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t rsv8[8];
	uint8_t itt[4];
	uint8_t rsv20[4];
	uint8_t statsn[4];
	uint8_t exp_cmdsn[4];
	uint8_t max_cmdsn[4];
	uint8_t rsv36[12];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_task_rsp) == 48, "Task Management Response BHS");

struct keel_iscsi_login_req {
	uint8_t opcode;
	uint8_t flags;		/* T C CSG NSG */
	uint8_t version_max;
	uint8_t version_min;
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t isid[6];
	uint8_t tsih[2];
	uint8_t itt[4];
	uint8_t cid[2];
	uint8_t rsv22[2];
	uint8_t cmdsn[4];
	uint8_t exp_statsn[4];
	uint8_t rsv32[16];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_login_req) == 48, "Login Request BHS");

struct keel_iscsi_login_rsp {
	uint8_t opcode;
	uint8_t flags;
	uint8_t version_max;
	uint8_t version_active;
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t isid[6];
	uint8_t tsih[2];
	uint8_t itt[4];
	uint8_t rsv20[4];
	uint8_t statsn[4];
	uint8_t exp_cmdsn[4];
	uint8_t max_cmdsn[4];
	uint8_t status_class;
	uint8_t status_detail;
	uint8_t rsv38[10];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_login_rsp) == 48, "Login Response BHS");

struct keel_iscsi_text_req {
	uint8_t opcode;
	uint8_t flags;		/* F C */
	uint8_t rsv2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint8_t itt[4];
	uint8_t ttt[4];
	uint8_t cmdsn[4];
	uint8_t exp_statsn[4];
	uint8_t rsv32[16];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_text_req) == 48, "Text Request BHS");

struct keel_iscsi_text_rsp {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsv2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint8_t itt[4];
	uint8_t ttt[4];
	uint8_t statsn[4];
	uint8_t exp_cmdsn[4];
	uint8_t max_cmdsn[4];
	uint8_t rsv36[12];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_text_rsp) == 48, "Text Response BHS");

struct keel_iscsi_logout_req {
	uint8_t opcode;
	uint8_t reason;		/* F bit + reason code */
	uint8_t rsv2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t rsv8[8];
	uint8_t itt[4];
	uint8_t cid[2];
	uint8_t rsv22[2];
	uint8_t cmdsn[4];
	uint8_t exp_statsn[4];
	uint8_t rsv32[16];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_logout_req) == 48, "Logout Request BHS");

struct keel_iscsi_logout_rsp {
	uint8_t opcode;
	uint8_t flags;
	uint8_t response;
	uint8_t rsv3;
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t rsv8[8];
	uint8_t itt[4];
	uint8_t rsv20[4];
	uint8_t statsn[4];
	uint8_t exp_cmdsn[4];
	uint8_t max_cmdsn[4];
	uint8_t rsv36[4];
	uint8_t time2wait[2];
	uint8_t time2retain[2];
	uint8_t rsv44[4];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_logout_rsp) == 48, "Logout Response BHS");

struct keel_iscsi_async {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsv2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint8_t itt[4];		/* 0xffffffff */
	uint8_t rsv20[4];
	uint8_t statsn[4];
	uint8_t exp_cmdsn[4];
	uint8_t max_cmdsn[4];
	uint8_t async_event;
	uint8_t async_vcode;
	uint8_t param1[2];
	uint8_t param2[2];
	uint8_t param3[2];
	uint8_t rsv44[4];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_async) == 48, "Async Message BHS");

struct keel_iscsi_reject {
	uint8_t opcode;
	uint8_t flags;
	uint8_t reason;
	uint8_t rsv3;
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t rsv8[8];
	uint8_t itt[4];		/* 0xffffffff */
	uint8_t rsv20[4];
	uint8_t statsn[4];
	uint8_t exp_cmdsn[4];
	uint8_t max_cmdsn[4];
	uint8_t datasn_r2tsn[4];
	uint8_t rsv40[8];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_reject) == 48, "Reject BHS");

struct keel_iscsi_snack {
	uint8_t opcode;
	uint8_t flags;		/* F + type */
	uint8_t rsv2[2];
	uint8_t total_ahs_len;
	uint8_t data_segment_len[3];
	uint8_t lun[8];
	uint8_t itt[4];
	uint8_t ttt[4];
	uint8_t rsv24[4];
	uint8_t exp_statsn[4];
	uint8_t rsv32[8];
	uint8_t begrun[4];
	uint8_t runlength[4];
};
KEEL_STATIC_ASSERT(sizeof(struct keel_iscsi_snack) == 48, "SNACK BHS");

/* Serial number arithmetic (RFC 1982, 32 bits), as RFC 7143 uses for CmdSN and StatSN. */
static inline bool
keel_iscsi_sn_lt(uint32_t a, uint32_t b)
{
	return a != b && (int32_t)(a - b) < 0;
}

static inline bool
keel_iscsi_sn_gt(uint32_t a, uint32_t b)
{
	return a != b && (int32_t)(a - b) > 0;
}

#endif /* KEEL_ISCSI_SPEC_H */
