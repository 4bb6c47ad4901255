/*
 * NVMe wire definitions (NVM Express Base Specification 1.4 and the NVM Command Set): the
 * controller registers, submission and completion queue entries, the identify data the driver
 * reads, status codes and opcodes. Wire structs only; no functions.
 */
#ifndef KEEL_NVME_SPEC_H
#define KEEL_NVME_SPEC_H

#include "keel/stdinc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Controller registers (BAR0), byte offsets (spec 3.1). */
#define KEEL_NVME_REG_CAP 0x00 /* 64-bit capabilities */
#define KEEL_NVME_REG_VS 0x08  /* version */
#define KEEL_NVME_REG_INTMS 0x0c
#define KEEL_NVME_REG_INTMC 0x10
#define KEEL_NVME_REG_CC 0x14    /* controller configuration */
#define KEEL_NVME_REG_CSTS 0x1c  /* controller status */
#define KEEL_NVME_REG_AQA 0x24   /* admin queue attributes */
#define KEEL_NVME_REG_ASQ 0x28   /* 64-bit admin submission queue base */
#define KEEL_NVME_REG_ACQ 0x30   /* 64-bit admin completion queue base */
#define KEEL_NVME_REG_DBS 0x1000 /* first doorbell */

/* CAP fields. */
#define KEEL_NVME_CAP_MQES(cap) ((uint32_t)((cap)&0xffff))         /* max entries - 1 */
#define KEEL_NVME_CAP_CQR(cap) ((uint32_t)(((cap) >> 16) & 0x1))   /* contiguous queues */
#define KEEL_NVME_CAP_TO(cap) ((uint32_t)(((cap) >> 24) & 0xff))   /* 500 ms units */
#define KEEL_NVME_CAP_DSTRD(cap) ((uint32_t)(((cap) >> 32) & 0xf)) /* doorbell stride */
#define KEEL_NVME_CAP_CSS_NVM(cap) ((((cap) >> 37) & 0x1) != 0)
#define KEEL_NVME_CAP_MPSMIN(cap) ((uint32_t)(((cap) >> 48) & 0xf)) /* 2^(12+n) */
#define KEEL_NVME_CAP_MPSMAX(cap) ((uint32_t)(((cap) >> 52) & 0xf))

/* CC fields. */
#define KEEL_NVME_CC_EN (1u << 0)
#define KEEL_NVME_CC_CSS_SHIFT 4
#define KEEL_NVME_CC_MPS_SHIFT 7
#define KEEL_NVME_CC_AMS_SHIFT 11
#define KEEL_NVME_CC_SHN_SHIFT 14
#define KEEL_NVME_CC_SHN_MASK (3u << KEEL_NVME_CC_SHN_SHIFT)
#define KEEL_NVME_CC_SHN_NORMAL (1u << KEEL_NVME_CC_SHN_SHIFT)
#define KEEL_NVME_CC_SHN_ABRUPT (2u << KEEL_NVME_CC_SHN_SHIFT)
#define KEEL_NVME_CC_IOSQES_SHIFT 16
#define KEEL_NVME_CC_IOCQES_SHIFT 20

/* CSTS fields. */
#define KEEL_NVME_CSTS_RDY (1u << 0)
#define KEEL_NVME_CSTS_CFS (1u << 1) /* controller fatal status */
#define KEEL_NVME_CSTS_SHST_SHIFT 2
#define KEEL_NVME_CSTS_SHST_MASK (3u << KEEL_NVME_CSTS_SHST_SHIFT)
#define KEEL_NVME_CSTS_SHST_OCCURRING (1u << KEEL_NVME_CSTS_SHST_SHIFT)
#define KEEL_NVME_CSTS_SHST_COMPLETE (2u << KEEL_NVME_CSTS_SHST_SHIFT)

/* PCI class code of an NVMe controller (mass storage, non-volatile memory, NVMe). */
#define KEEL_NVME_PCI_CLASS 0x010802u

/* Admin opcodes. */
#define KEEL_NVME_OPC_DELETE_IO_SQ 0x00
#define KEEL_NVME_OPC_CREATE_IO_SQ 0x01
#define KEEL_NVME_OPC_GET_LOG_PAGE 0x02
#define KEEL_NVME_OPC_DELETE_IO_CQ 0x04
#define KEEL_NVME_OPC_CREATE_IO_CQ 0x05
#define KEEL_NVME_OPC_IDENTIFY 0x06
#define KEEL_NVME_OPC_ABORT 0x08
#define KEEL_NVME_OPC_SET_FEATURES 0x09
#define KEEL_NVME_OPC_GET_FEATURES 0x0a
#define KEEL_NVME_OPC_ASYNC_EVENT_REQUEST 0x0c
#define KEEL_NVME_OPC_KEEP_ALIVE 0x18

/* NVM command set opcodes. */
#define KEEL_NVME_OPC_FLUSH 0x00
#define KEEL_NVME_OPC_WRITE 0x01
#define KEEL_NVME_OPC_READ 0x02
#define KEEL_NVME_OPC_COMPARE 0x05
#define KEEL_NVME_OPC_WRITE_ZEROES 0x08
#define KEEL_NVME_OPC_DATASET_MANAGEMENT 0x09

/* Command dword 0 flags. */
#define KEEL_NVME_FUSE_FIRST 0x1
#define KEEL_NVME_FUSE_SECOND 0x2
#define KEEL_NVME_PSDT_PRP 0x0
#define KEEL_NVME_PSDT_SGL 0x1 /* SGL, metadata buffer address */

/* Identify CNS values. */
#define KEEL_NVME_CNS_NS 0x00
#define KEEL_NVME_CNS_CTRLR 0x01
#define KEEL_NVME_CNS_ACTIVE_NS_LIST 0x02

/* Features. */
#define KEEL_NVME_FEAT_NUMBER_OF_QUEUES 0x07
#define KEEL_NVME_FEAT_ASYNC_EVENT_CONFIG 0x0b
#define KEEL_NVME_FEAT_VOLATILE_WRITE_CACHE 0x06

/* Log pages. */
#define KEEL_NVME_LOG_ERROR 0x01
#define KEEL_NVME_LOG_CHANGED_NS_LIST 0x04

/* Asynchronous event types and information (completion dword 0). */
#define KEEL_NVME_AER_TYPE(cdw0) ((cdw0)&0x7)
#define KEEL_NVME_AER_INFO(cdw0) (((cdw0) >> 8) & 0xff)
#define KEEL_NVME_AER_LOG_PAGE(cdw0) (((cdw0) >> 16) & 0xff)
#define KEEL_NVME_AER_TYPE_ERROR 0x0
#define KEEL_NVME_AER_TYPE_NOTICE 0x2
#define KEEL_NVME_AER_NOTICE_NS_ATTR_CHANGED 0x00
#define KEEL_NVME_ASYNC_CFG_NS_ATTR (1u << 8)

/* Status code types and the codes the driver tells apart. */
#define KEEL_NVME_SCT_GENERIC 0x0
#define KEEL_NVME_SCT_COMMAND_SPECIFIC 0x1
#define KEEL_NVME_SCT_MEDIA_ERROR 0x2
#define KEEL_NVME_SCT_PATH 0x3
#define KEEL_NVME_SCT_VENDOR 0x7

#define KEEL_NVME_SC_SUCCESS 0x00
#define KEEL_NVME_SC_INVALID_OPCODE 0x01
#define KEEL_NVME_SC_INVALID_FIELD 0x02
#define KEEL_NVME_SC_DATA_TRANSFER_ERROR 0x04
#define KEEL_NVME_SC_INTERNAL_DEVICE_ERROR 0x06
#define KEEL_NVME_SC_ABORTED_BY_REQUEST 0x07
#define KEEL_NVME_SC_ABORTED_SQ_DELETION 0x08
#define KEEL_NVME_SC_ABORTED_FAILED_FUSED 0x09
#define KEEL_NVME_SC_ABORTED_MISSING_FUSED 0x0a
#define KEEL_NVME_SC_INVALID_NAMESPACE 0x0b
#define KEEL_NVME_SC_LBA_OUT_OF_RANGE 0x80
#define KEEL_NVME_SC_NS_NOT_READY 0x82

/* Command specific. */
#define KEEL_NVME_SC_INVALID_QUEUE_ID 0x01
#define KEEL_NVME_SC_INVALID_QUEUE_SIZE 0x02
#define KEEL_NVME_SC_ABORT_LIMIT_EXCEEDED 0x03
#define KEEL_NVME_SC_ASYNC_EVENT_LIMIT_EXCEEDED 0x05

/* Media errors. */
#define KEEL_NVME_SC_UNRECOVERED_READ_ERROR 0x81
#define KEEL_NVME_SC_COMPARE_FAILURE 0x85

/* SGL descriptor types (high nibble of the identifier byte). */
#define KEEL_NVME_SGL_TYPE_DATA_BLOCK 0x0
#define KEEL_NVME_SGL_TYPE_SEGMENT 0x2
#define KEEL_NVME_SGL_TYPE_LAST_SEGMENT 0x3

/* Dataset management attribute: deallocate. */
#define KEEL_NVME_DSM_ATTR_DEALLOCATE (1u << 2)

/* Write/read dword 12 flags. */
#define KEEL_NVME_IO_FLAGS_FUA (1u << 30)

struct keel_nvme_sgl_desc {
	uint64_t address;
	uint32_t length;
	uint8_t reserved[3];
	uint8_t type; /* type << 4 | subtype */
};
KEEL_STATIC_ASSERT(sizeof(struct keel_nvme_sgl_desc) == 16, "SGL descriptor is 16 bytes");

/* Submission queue entry (spec 4.2). */
struct keel_nvme_cmd {
	uint8_t opc;
	uint8_t flags; /* bits 0-1 FUSE, bits 6-7 PSDT */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	union {
		struct {
			uint64_t prp1;
			uint64_t prp2;
		} prp;
		struct keel_nvme_sgl_desc sgl1;
	} dptr;
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};
KEEL_STATIC_ASSERT(sizeof(struct keel_nvme_cmd) == 64, "submission queue entry is 64 bytes");

/* Completion queue entry (spec 4.6). status: bit 0 phase, 1-8 SC, 9-11 SCT, 14 more, 15 DNR. */
struct keel_nvme_cpl {
	uint32_t cdw0;
	uint32_t rsvd1;
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status;
};
KEEL_STATIC_ASSERT(sizeof(struct keel_nvme_cpl) == 16, "completion queue entry is 16 bytes");

#define KEEL_NVME_CPL_P(cpl) ((cpl)->status & 0x1)
#define KEEL_NVME_CPL_SC(cpl) ((uint8_t)(((cpl)->status >> 1) & 0xff))
#define KEEL_NVME_CPL_SCT(cpl) ((uint8_t)(((cpl)->status >> 9) & 0x7))
#define KEEL_NVME_CPL_DNR(cpl) ((((cpl)->status >> 15) & 0x1) != 0)
#define KEEL_NVME_CPL_IS_ERROR(cpl) ((((cpl)->status >> 1) & 0x7ff) != 0)
#define KEEL_NVME_STATUS(sct, sc, dnr)                                                             \
	((uint16_t)(((sc) << 1) | ((sct) << 9) | ((dnr) ? 0x8000 : 0)))

/* Dataset management range (spec 6.7). */
struct keel_nvme_dsm_range {
	uint32_t attributes;
	uint32_t length; /* logical blocks */
	uint64_t starting_lba;
};
KEEL_STATIC_ASSERT(sizeof(struct keel_nvme_dsm_range) == 16, "DSM range is 16 bytes");

/* Identify controller data: the fields the driver reads, at their offsets. */
struct keel_nvme_ctrlr_data {
	uint16_t vid;           /* 0 */
	uint16_t ssvid;         /* 2 */
	char sn[20];            /* 4 */
	char mn[40];            /* 24 */
	char fr[8];             /* 64 */
	uint8_t rab;            /* 72 */
	uint8_t ieee[3];        /* 73 */
	uint8_t cmic;           /* 76 */
	uint8_t mdts;           /* 77: max transfer 2^mdts minimum pages, 0 = no limit */
	uint16_t cntlid;        /* 78 */
	uint32_t ver;           /* 80 */
	uint8_t rsvd84[172];    /* 84 */
	uint16_t oacs;          /* 256 */
	uint8_t acl;            /* 258: abort command limit, 0's based */
	uint8_t aerl;           /* 259: async event request limit, 0's based */
	uint8_t frmw;           /* 260 */
	uint8_t lpa;            /* 261 */
	uint8_t elpe;           /* 262 */
	uint8_t npss;           /* 263 */
	uint8_t rsvd264[248];   /* 264 */
	uint8_t sqes;           /* 512 */
	uint8_t cqes;           /* 513 */
	uint16_t maxcmd;        /* 514 */
	uint32_t nn;            /* 516: number of namespaces */
	uint16_t oncs;          /* 520: optional NVM commands */
	uint16_t fuses;         /* 522: bit 0 compare and write */
	uint8_t fna;            /* 524 */
	uint8_t vwc;            /* 525: volatile write cache present */
	uint16_t awun;          /* 526 */
	uint16_t awupf;         /* 528 */
	uint8_t nvscc;          /* 530 */
	uint8_t nwpc;           /* 531 */
	uint16_t acwu;          /* 532 */
	uint16_t rsvd534;       /* 534 */
	uint32_t sgls;          /* 536: bits 0-1 SGL support */
	uint8_t rsvd540[228];   /* 540 */
	char subnqn[256];       /* 768 */
	uint8_t rsvd1024[3072]; /* 1024 */
};
KEEL_STATIC_ASSERT(sizeof(struct keel_nvme_ctrlr_data) == 4096, "identify controller is 4 KiB");

/* ONCS bits. */
#define KEEL_NVME_ONCS_COMPARE (1u << 0)
#define KEEL_NVME_ONCS_DSM (1u << 2)
#define KEEL_NVME_ONCS_WRITE_ZEROES (1u << 3)

struct keel_nvme_lbaf {
	uint16_t ms;   /* metadata bytes */
	uint8_t lbads; /* 2^lbads bytes per block */
	uint8_t rp;
};

/* Identify namespace data. */
struct keel_nvme_ns_data {
	uint64_t nsze;                  /* 0: size in blocks */
	uint64_t ncap;                  /* 8 */
	uint64_t nuse;                  /* 16 */
	uint8_t nsfeat;                 /* 24 */
	uint8_t nlbaf;                  /* 25: number of formats, 0's based */
	uint8_t flbas;                  /* 26: bits 0-3 format in use */
	uint8_t mc;                     /* 27 */
	uint8_t dpc;                    /* 28 */
	uint8_t dps;                    /* 29 */
	uint8_t nmic;                   /* 30 */
	uint8_t rescap;                 /* 31 */
	uint8_t fpi;                    /* 32 */
	uint8_t dlfeat;                 /* 33: bits 0-2 = 1: deallocated blocks read zeroes */
	uint8_t rsvd34[70];             /* 34 */
	uint8_t nguid[16];              /* 104 */
	uint8_t eui64[8];               /* 120 */
	struct keel_nvme_lbaf lbaf[16]; /* 128 */
	uint8_t rsvd192[3904];          /* 192 */
};
KEEL_STATIC_ASSERT(sizeof(struct keel_nvme_ns_data) == 4096, "identify namespace is 4 KiB");

#ifdef __cplusplus
}
#endif

#endif /* KEEL_NVME_SPEC_H */
