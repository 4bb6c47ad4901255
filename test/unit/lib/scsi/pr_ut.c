/*
 * Unit tests of reservations (pr.c): three initiator ports and two target ports against one
 * LUN, every PERSISTENT RESERVE OUT action and type, the conflict table for reads and writes,
 * PERSISTENT RESERVE IN answers byte by byte, SPEC_I_PT, ALL_TG_PT, REGISTER AND MOVE, the APTPL
 * file, and SPC-2 RESERVE/RELEASE with their interaction with persistent reservations. The rest
 * of the SCSI layer is replaced by small fakes that record what pr.c asks of it.
 */
#include "keel/stdinc.h"
#include "keel/bdev_module.h"
#include "ut.h"

#include "scsi/pr.c"

#define WE KEEL_SCSI_PR_WRITE_EXCLUSIVE
#define EA KEEL_SCSI_PR_EXCLUSIVE_ACCESS
#define WE_RO KEEL_SCSI_PR_WRITE_EXCLUSIVE_REGS_ONLY
#define EA_RO KEEL_SCSI_PR_EXCLUSIVE_ACCESS_REGS_ONLY
#define WE_AR KEEL_SCSI_PR_WRITE_EXCLUSIVE_ALL_REGS
#define EA_AR KEEL_SCSI_PR_EXCLUSIVE_ACCESS_ALL_REGS

#define GOOD KEEL_SCSI_STATUS_GOOD
#define CHECK KEEL_SCSI_STATUS_CHECK_CONDITION
#define CONFLICT KEEL_SCSI_STATUS_RESERVATION_CONFLICT

#define INI_NAME(n) "iqn.2026-01.org.example:host" #n ",i,0x00023d00000" #n
#define TGT0 "iqn.2026-01.io.keel:disk1,t,0x0001"
#define TGT1 "iqn.2026-01.io.keel:disk1,t,0x0002"

/*
 * Fakes of the rest of the SCSI layer.
 */
static int g_completions;
static struct {
	char initiator[KEEL_SCSI_PORT_MAX_NAME + 1];
	uint16_t asc_ascq;
} g_uas[64];
static int g_num_uas;
static struct {
	char initiator[KEEL_SCSI_PORT_MAX_NAME + 1];
	void (*done)(void *ctx);
	void *ctx;
} g_aborts[8];
static int g_num_aborts;

void
scsi_sense_build(uint8_t *buf, uint16_t *len, bool desc_format, int sk, int asc_ascq,
		 const uint8_t *sks, uint64_t info, bool info_valid)
{
	memset(buf, 0, 18);
	buf[0] = 0x70;
	buf[2] = (uint8_t)sk;
	buf[7] = 10;
	buf[12] = (uint8_t)(asc_ascq >> 8);
	buf[13] = (uint8_t)asc_ascq;
	if (sks != NULL) {
		memcpy(&buf[15], sks, 3);
	}
	*len = 18;
}

void
scsi_task_set_sense(struct keel_scsi_task *task, int sk, int asc_ascq, const uint8_t *sks,
		    uint64_t info, bool info_valid)
{
	uint8_t with_sksv[3];

	if (sks != NULL) {
		memcpy(with_sksv, sks, 3);
		with_sksv[0] |= 0x80;
	}
	scsi_sense_build(task->sense_data, &task->sense_data_len, false, sk, asc_ascq,
			 sks != NULL ? with_sksv : NULL, info, info_valid);
	task->status = KEEL_SCSI_STATUS_CHECK_CONDITION;
}

void
keel_scsi_task_set_status(struct keel_scsi_task *task, int sc, int sk, int asc_ascq)
{
	task->status = (uint8_t)sc;
	task->sense_data_len = 0;
	if (sc == KEEL_SCSI_STATUS_CHECK_CONDITION) {
		scsi_sense_build(task->sense_data, &task->sense_data_len, false, sk, asc_ascq, NULL,
				 0, false);
	}
}

void
scsi_task_invalid_field(struct keel_scsi_task *task, int byte, int bit)
{
	uint8_t sks[3] = {(uint8_t)(0xc0 | (bit >= 0 ? 0x08 | bit : 0)), 0, (uint8_t)byte};

	scsi_sense_build(task->sense_data, &task->sense_data_len, false,
			 KEEL_SCSI_SENSE_ILLEGAL_REQUEST, KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB, sks,
			 0, false);
	task->status = KEEL_SCSI_STATUS_CHECK_CONDITION;
}

uint32_t
scsi_task_scatter(struct keel_scsi_task *task, const void *buf, uint32_t len)
{
	uint32_t n = KEEL_MIN(len, task->transfer_len);

	if (n > 0) {
		memcpy(task->iovs[0].iov_base, buf, n);
	}
	task->data_transferred = n;
	return n;
}

uint32_t
scsi_task_gather(struct keel_scsi_task *task, void *buf, uint32_t len)
{
	uint32_t n = KEEL_MIN(len, task->transfer_len);

	if (n > 0) {
		memcpy(buf, task->iovs[0].iov_base, n);
	}
	return n;
}

void
scsi_task_complete(struct keel_scsi_task *task)
{
	g_completions++;
}

void
scsi_lun_queue_ua(struct keel_scsi_lun *lun, const char *only, const char *except,
		  uint16_t asc_ascq)
{
	CU_ASSERT(only != NULL);
	CU_ASSERT(except == NULL);
	if (g_num_uas < (int)KEEL_COUNTOF(g_uas) && only != NULL) {
		keel_strlcpy(g_uas[g_num_uas].initiator, only, sizeof(g_uas[0].initiator));
		g_uas[g_num_uas].asc_ascq = asc_ascq;
		g_num_uas++;
	}
}

void
scsi_lun_abort_all(struct keel_scsi_lun *lun, const char *initiator, void (*done)(void *ctx),
		   void *ctx)
{
	if (g_num_aborts < (int)KEEL_COUNTOF(g_aborts)) {
		keel_strlcpy(g_aborts[g_num_aborts].initiator, initiator != NULL ? initiator : "",
			     sizeof(g_aborts[0].initiator));
		g_aborts[g_num_aborts].done = done;
		g_aborts[g_num_aborts].ctx = ctx;
		g_num_aborts++;
	}
}

/*
 * The device under test: one LUN, two target ports, three initiator ports.
 */
static struct keel_bdev g_bdev;
static struct keel_scsi_dev g_dev;
static struct keel_scsi_lun g_lun;
static struct keel_scsi_port g_ini[3];
static const char *g_ini_names[3] = {INI_NAME(1), INI_NAME(2), INI_NAME(3)};
static char g_pr_tmpdir[64];

static struct keel_scsi_task g_task;
static uint8_t g_buf[128 * 1024];
static int g_sk;
static int g_asc;

static void
ut_reset_lun(void)
{
	scsi_pr_lun_fini(&g_lun);
	memset(&g_lun.pr, 0, sizeof(g_lun.pr));
	TAILQ_INIT(&g_lun.pr.registrants);
	g_lun.pr_active = false;
	g_lun.mode.d_sense = false;
	g_num_uas = 0;
	g_num_aborts = 0;
}

static int
suite_init(void)
{
	int i;

	snprintf(g_pr_tmpdir, sizeof(g_pr_tmpdir), "/tmp/keel_pr_ut.XXXXXX");
	if (mkdtemp(g_pr_tmpdir) == NULL) {
		return 1;
	}
	keel_scsi_set_pr_dir(g_pr_tmpdir);

	for (i = 0; i < 16; i++) {
		g_bdev.uuid[i] = (uint8_t)(0x10 + i);
	}
	g_bdev.name = "ut0";
	keel_strlcpy(g_dev.name, "iqn.2026-01.io.keel:disk1", sizeof(g_dev.name));
	pthread_mutex_init(&g_dev.lock, NULL);
	TAILQ_INIT(&g_dev.luns);
	g_dev.num_ports = 2;
	keel_strlcpy(g_dev.ports[0].name, TGT0, sizeof(g_dev.ports[0].name));
	g_dev.ports[0].index = 1;
	g_dev.ports[0].is_target = true;
	keel_strlcpy(g_dev.ports[1].name, TGT1, sizeof(g_dev.ports[1].name));
	g_dev.ports[1].index = 2;
	g_dev.ports[1].is_target = true;
	for (i = 0; i < 3; i++) {
		keel_strlcpy(g_ini[i].name, g_ini_names[i], sizeof(g_ini[i].name));
		g_ini[i].index = (uint16_t)i;
	}

	g_lun.dev = &g_dev;
	g_lun.id = 0;
	g_lun.bdev = &g_bdev;
	keel_strlcpy(g_lun.bdev_name, "ut0", sizeof(g_lun.bdev_name));
	pthread_mutex_init(&g_lun.lock, NULL);
	TAILQ_INIT(&g_lun.pr.registrants);
	TAILQ_INIT(&g_lun.uas);
	TAILQ_INSERT_TAIL(&g_dev.luns, &g_lun, link);
	return 0;
}

static int
suite_fini(void)
{
	char cmd[128];

	scsi_pr_lun_fini(&g_lun);
	keel_scsi_set_pr_dir(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_pr_tmpdir);
	return system(cmd) == 0 ? 0 : 1;
}

/*
 * Run one command from initiator ini through target port tgt as the core would: the conflict
 * check first, then pr.c if it takes the opcode (anything else simply succeeds). Returns the
 * status; the sense key and ASC land in g_sk/g_asc and Data-In in g_buf.
 */
static int
run(int ini, int tgt, const uint8_t *cdb, size_t cdb_len, const void *out, uint32_t len)
{
	struct iovec iov;

	memset(&g_task, 0, sizeof(g_task));
	g_task.dev = &g_dev;
	g_task.internal.lun = &g_lun;
	g_task.initiator_port = &g_ini[ini];
	g_task.target_port = &g_dev.ports[tgt];
	memcpy(g_task.cdb, cdb, cdb_len);
	g_task.cdb_len = (uint8_t)cdb_len;
	if (out != NULL) {
		memcpy(g_buf, out, len);
		g_task.dxfer_dir = KEEL_SCSI_DIR_TO_DEV;
	} else {
		memset(g_buf, 0xee, sizeof(g_buf));
		g_task.dxfer_dir = len > 0 ? KEEL_SCSI_DIR_FROM_DEV : KEEL_SCSI_DIR_NONE;
	}
	iov.iov_base = g_buf;
	iov.iov_len = len;
	g_task.iovs = &iov;
	g_task.iovcnt = 1;
	g_task.transfer_len = len;
	g_completions = 0;
	g_sk = -1;
	g_asc = -1;
	if (scsi_pr_check(&g_task) == 0) {
		if (scsi_pr_execute(&g_task)) {
			CU_ASSERT(g_completions == 1);
		}
	} else {
		CU_ASSERT(g_task.status == CONFLICT);
	}
	if (g_task.status == CHECK) {
		g_sk = g_task.sense_data[2] & 0x0f;
		g_asc = g_task.sense_data[12] << 8 | g_task.sense_data[13];
	}
	g_task.iovs = NULL;
	return g_task.status;
}

/* PERSISTENT RESERVE OUT with a basic 24-byte parameter list; flags is its byte 20. */
static int
prout(int ini, int tgt, uint8_t sa, uint8_t type, uint64_t key, uint64_t sa_key, uint8_t flags)
{
	uint8_t cdb[10] = {0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0};
	uint8_t p[24] = {0};

	keel_to_be64(&p[0], key);
	keel_to_be64(&p[8], sa_key);
	p[20] = flags;
	return run(ini, tgt, cdb, sizeof(cdb), p, sizeof(p));
}

static int
prin(int ini, uint8_t sa, uint16_t alloc_len)
{
	uint8_t cdb[10] = {0x5e, sa, 0, 0, 0, 0, 0, 0, 0, 0};

	keel_to_be16(&cdb[7], alloc_len);
	return run(ini, 0, cdb, sizeof(cdb), NULL, alloc_len);
}

static int
read10(int ini, int tgt)
{
	uint8_t cdb[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};

	return run(ini, tgt, cdb, sizeof(cdb), NULL, 512);
}

static int
write10(int ini, int tgt)
{
	uint8_t cdb[10] = {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	uint8_t data[512] = {0};

	return run(ini, tgt, cdb, sizeof(cdb), data, sizeof(data));
}

static int
cmd6(int ini, int tgt, uint8_t op, uint8_t byte1, uint8_t byte4)
{
	uint8_t cdb[6] = {op, byte1, 0, 0, byte4, 0};

	return run(ini, tgt, cdb, sizeof(cdb), NULL, byte4);
}

static int
reserve_release10(int ini, int tgt, uint8_t op, uint8_t byte1)
{
	uint8_t cdb[10] = {op, byte1, 0, 0, 0, 0, 0, 0, 0, 0};

	return run(ini, tgt, cdb, sizeof(cdb), NULL, 0);
}

static uint32_t
generation(void)
{
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 8) == GOOD);
	return keel_from_be32(&g_buf[0]);
}

static bool
ua_queued(int ini, uint16_t asc_ascq)
{
	int i;

	for (i = 0; i < g_num_uas; i++) {
		if (strcmp(g_uas[i].initiator, g_ini_names[ini]) == 0 &&
		    g_uas[i].asc_ascq == asc_ascq) {
			return true;
		}
	}
	return false;
}

/*
 * Registration.
 */
static void
register_and_read_keys_lists_every_key_with_the_generation(void)
{
	ut_reset_lun();
	CU_ASSERT(generation() == 0);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
	CU_ASSERT(prin(2, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	CU_ASSERT(g_task.data_transferred == 24);
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 2);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 16);
	CU_ASSERT(keel_from_be64(&g_buf[8]) == 0x1111);
	CU_ASSERT(keel_from_be64(&g_buf[16]) == 0x2222);
	/* Registrations alone do not make commands go through the check. */
	CU_ASSERT(!g_lun.pr_active);
	CU_ASSERT(write10(2, 0) == GOOD);
}

static void
read_keys_truncated_to_allocation_length_keeps_the_full_additional_length(void)
{
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0xa, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0xb, 0) == GOOD);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 12) == GOOD);
	CU_ASSERT(g_task.data_transferred == 12);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 16);
	CU_ASSERT(g_buf[12] == 0xee);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 0) == GOOD);
	CU_ASSERT(g_task.data_transferred == 0);
}

static void
register_checks_the_reservation_key(void)
{
	ut_reset_lun();
	/* Not registered: a non-zero reservation key conflicts. */
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0x99, 0x1111, 0) == CONFLICT);
	/* Not registered, service action key zero: GOOD and nothing happens. */
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0, 0) == GOOD);
	CU_ASSERT(generation() == 0);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	/* Registered: the key must match to change it. */
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0x2222, 0x3333, 0) == CONFLICT);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0x1111, 0x3333, 0) == GOOD);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 8);
	CU_ASSERT(keel_from_be64(&g_buf[8]) == 0x3333);
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 2);
	/* Service action key zero unregisters. */
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0x3333, 0, 0) == GOOD);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 0);
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 3);
}

static void
register_and_ignore_existing_key_replaces_any_key(void)
{
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REG_AND_IGNORE_KEY, 0, 0x77, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REG_AND_IGNORE_KEY, 0, 0x55, 0x2222, 0) == GOOD);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 8);
	CU_ASSERT(keel_from_be64(&g_buf[8]) == 0x2222);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REG_AND_IGNORE_KEY, 0, 0, 0, 0) == GOOD);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 0);
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 3);
}

static void
registration_is_per_target_port_unless_all_tg_pt(void)
{
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	/* Through the other target port the same initiator port is not registered. */
	CU_ASSERT(prout(0, 1, KEEL_SCSI_PR_OUT_RESERVE, WE, 0x1111, 0, 0) == CONFLICT);
	CU_ASSERT(prout(0, 1, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1112, 0) == GOOD);
	CU_ASSERT(prout(0, 1, KEEL_SCSI_PR_OUT_RESERVE, WE, 0x1112, 0, 0) == GOOD);
	CU_ASSERT(prout(0, 1, KEEL_SCSI_PR_OUT_RELEASE, WE, 0x1112, 0, 0) == GOOD);

	/* ALL_TG_PT: one registration valid through every port. */
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0x04) == GOOD);
	CU_ASSERT(prout(1, 1, KEEL_SCSI_PR_OUT_RESERVE, EA, 0x2222, 0, 0) == GOOD);
	CU_ASSERT(write10(1, 0) == GOOD);
	CU_ASSERT(write10(1, 1) == GOOD);
	CU_ASSERT(read10(0, 0) == CONFLICT);
	/* A second ALL_TG_PT registration of a port already registered conflicts. */
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REG_AND_IGNORE_KEY, 0, 0, 0x3, 0x04) == GOOD);
	CU_ASSERT(prout(2, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x3333, 0) == GOOD);
	CU_ASSERT(prout(2, 1, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x3333, 0x04) == CONFLICT);
}

static void
spec_i_pt_registers_every_listed_transport_id(void)
{
	static const char dev_only[] = "iqn.2026-01.org.example:host3";
	uint8_t cdb[10] = {0x5f, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0, 0, 0, 0, 0, 0};
	uint8_t p[256] = {0};
	size_t off = 28, n;

	ut_reset_lun();
	keel_to_be64(&p[8], 0xabc);
	p[20] = 0x08; /* SPEC_I_PT */
	/* Format 01b: initiator port 2 (ISID in upper case, and a different spelling). */
	p[off] = 0x45;
	n = strlen("iqn.2026-01.org.example:host2,I,0x00023D000002") + 1;
	keel_to_be16(&p[off + 2], (uint16_t)KEEL_ALIGN_CEIL(n, 4));
	memcpy(&p[off + 4], "iqn.2026-01.org.example:host2,I,0x00023D000002", n);
	off += 4 + KEEL_ALIGN_CEIL(n, 4);
	/* Format 00b: the whole initiator device of port 3. */
	p[off] = 0x05;
	n = strlen(dev_only) + 1;
	keel_to_be16(&p[off + 2], (uint16_t)KEEL_ALIGN_CEIL(n, 4));
	memcpy(&p[off + 4], dev_only, n);
	off += 4 + KEEL_ALIGN_CEIL(n, 4);
	keel_to_be32(&p[24], (uint32_t)(off - 28));
	keel_to_be32(&cdb[5], (uint32_t)off);
	CU_ASSERT(run(0, 0, cdb, sizeof(cdb), p, (uint32_t)off) == GOOD);

	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 24);
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 1);
	/* Both listed initiators are registered with the key, through the same target port. */
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_RESERVE, WE_RO, 0xabc, 0, 0) == GOOD);
	CU_ASSERT(write10(2, 0) == GOOD);
	CU_ASSERT(write10(2, 1) == CONFLICT);

	/* Listing a nexus that is registered already conflicts and registers nothing. */
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_RELEASE, WE_RO, 0xabc, 0, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0xabc, 0, 0) == GOOD);
	CU_ASSERT(run(0, 0, cdb, sizeof(cdb), p, (uint32_t)off) == CONFLICT);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 16);

	/* SPEC_I_PT from a registered nexus, or with REGISTER AND IGNORE: invalid field. */
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0xabc, 0x1, 0x08) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	cdb[1] = KEEL_SCSI_PR_OUT_REG_AND_IGNORE_KEY;
	CU_ASSERT(run(0, 0, cdb, sizeof(cdb), p, (uint32_t)off) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	cdb[1] = KEEL_SCSI_PR_OUT_REGISTER;
	keel_to_be64(&p[0], 0xabc);
	CU_ASSERT(run(1, 0, cdb, sizeof(cdb), p, (uint32_t)off) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	CU_ASSERT(g_task.sense_data[15] == (0x80 | 0x08 | 3));
	CU_ASSERT(keel_from_be16(&g_task.sense_data[16]) == 20);
}

static void
spec_i_pt_rejects_bad_transport_ids_and_lengths(void)
{
	uint8_t cdb[10] = {0x5f, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0, 0, 0, 0, 0, 0};
	uint8_t p[64] = {0};

	ut_reset_lun();
	keel_to_be64(&p[8], 0xabc);
	p[20] = 0x08;
	/* A Fibre Channel TransportID. */
	p[28] = 0x00;
	keel_to_be16(&p[30], 20);
	keel_to_be32(&p[24], 24);
	keel_to_be32(&cdb[5], 52);
	CU_ASSERT(run(0, 0, cdb, sizeof(cdb), p, 52) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	/* An iSCSI one without its terminating NUL. */
	p[28] = 0x05;
	memset(&p[32], 'a', 20);
	CU_ASSERT(run(0, 0, cdb, sizeof(cdb), p, 52) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	/* Format 01b without the ISID separator. */
	p[28] = 0x45;
	p[51] = 0;
	CU_ASSERT(run(0, 0, cdb, sizeof(cdb), p, 52) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	/* TransportID length running past the parameter list. */
	keel_to_be32(&p[24], 40);
	CU_ASSERT(run(0, 0, cdb, sizeof(cdb), p, 52) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	/* Shorter than the 28 bytes SPEC_I_PT needs. */
	keel_to_be32(&cdb[5], 24);
	CU_ASSERT(run(0, 0, cdb, sizeof(cdb), p, 24) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	CU_ASSERT(generation() == 0);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 0);
}

static void
parameter_list_length_must_be_24_without_spec_i_pt(void)
{
	uint8_t cdb[10] = {0x5f, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0, 0, 0, 0, 0, 0};
	uint8_t p[32] = {0};

	ut_reset_lun();
	keel_to_be64(&p[8], 0x1);
	keel_to_be32(&cdb[5], 32);
	CU_ASSERT(run(0, 0, cdb, sizeof(cdb), p, 32) == CHECK);
	CU_ASSERT(g_sk == KEEL_SCSI_SENSE_ILLEGAL_REQUEST);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	keel_to_be32(&cdb[5], 20);
	CU_ASSERT(run(0, 0, cdb, sizeof(cdb), p, 20) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	keel_to_be32(&cdb[5], 0);
	CU_ASSERT(run(0, 0, cdb, sizeof(cdb), NULL, 0) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	/* The CDB announces 24 bytes but only 16 arrive. */
	keel_to_be32(&cdb[5], 24);
	CU_ASSERT(run(0, 0, cdb, sizeof(cdb), p, 16) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	/* Far too long. */
	keel_to_be32(&cdb[5], 0x01000000);
	CU_ASSERT(run(0, 0, cdb, sizeof(cdb), p, 24) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
	CU_ASSERT(generation() == 0);
}

static void
bad_cdbs_are_invalid_fields(void)
{
	uint8_t in[10] = {0x5e, 0, 0, 0, 0, 0, 0, 0, 8, 0};
	uint8_t out[10] = {0x5f, 0, 0, 0, 0, 0, 0, 0, 24, 0};
	uint8_t p[24] = {0};

	ut_reset_lun();
	in[1] = 4; /* no such PR IN service action */
	CU_ASSERT(run(0, 0, in, sizeof(in), NULL, 8) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
	CU_ASSERT(g_task.sense_data[17] == 1);
	in[1] = 0x20; /* reserved bit */
	CU_ASSERT(run(0, 0, in, sizeof(in), NULL, 8) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
	in[1] = 0;
	in[4] = 1; /* reserved byte */
	CU_ASSERT(run(0, 0, in, sizeof(in), NULL, 8) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
	CU_ASSERT(g_task.sense_data[17] == 4);

	out[1] = 8; /* no such PR OUT service action */
	CU_ASSERT(run(0, 0, out, sizeof(out), p, 24) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
	out[1] = 0;
	out[3] = 1;
	CU_ASSERT(run(0, 0, out, sizeof(out), p, 24) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
	out[3] = 0;

	/* RESERVE: scope other than LU, and a type that does not exist. */
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, 0x10 | WE, 0x1, 0, 0) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, 2, 0x1, 0, 0) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
	CU_ASSERT(g_task.sense_data[17] == 2);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_RESERVATION, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 0);
}

/*
 * Reservations.
 */
static void
reserve_needs_a_registration_with_the_right_key(void)
{
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, WE, 0x1111, 0, 0) == CONFLICT);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, WE, 0x2222, 0, 0) == CONFLICT);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, WE, 0x1111, 0, 0) == GOOD);
	CU_ASSERT(g_lun.pr_active);
	/* The same reservation again is fine; another type is not. */
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, WE, 0x1111, 0, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, EA, 0x1111, 0, 0) == CONFLICT);
	/* Another registrant cannot reserve over it. */
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_RESERVE, WE, 0x2222, 0, 0) == CONFLICT);
	/* RESERVE and RELEASE do not change the generation. */
	CU_ASSERT(generation() == 2);
}

static void
read_reservation_reports_key_scope_and_type(void)
{
	ut_reset_lun();
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_RESERVATION, 64) == GOOD);
	CU_ASSERT(g_task.data_transferred == 8);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 0);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x0102030405060708ull, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, EA_RO, 0x0102030405060708ull, 0, 0) ==
		  GOOD);
	CU_ASSERT(prin(1, KEEL_SCSI_PR_IN_READ_RESERVATION, 64) == GOOD);
	CU_ASSERT(g_task.data_transferred == 24);
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 1);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 16);
	CU_ASSERT(keel_from_be64(&g_buf[8]) == 0x0102030405060708ull);
	CU_ASSERT(keel_from_be32(&g_buf[16]) == 0);
	CU_ASSERT(g_buf[20] == 0);
	CU_ASSERT(g_buf[21] == EA_RO);
	CU_ASSERT(keel_from_be16(&g_buf[22]) == 0);
	/* All-registrants types report key zero. */
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RELEASE, EA_RO, 0x0102030405060708ull, 0, 0) ==
		  GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, WE_AR, 0x0102030405060708ull, 0, 0) ==
		  GOOD);
	CU_ASSERT(prin(1, KEEL_SCSI_PR_IN_READ_RESERVATION, 64) == GOOD);
	CU_ASSERT(keel_from_be64(&g_buf[8]) == 0);
	CU_ASSERT(g_buf[21] == WE_AR);
}

static void
report_capabilities_answers_byte_by_byte(void)
{
	ut_reset_lun();
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_REPORT_CAPABILITIES, 64) == GOOD);
	CU_ASSERT(g_task.data_transferred == 8);
	CU_ASSERT(keel_from_be16(&g_buf[0]) == 8);
	CU_ASSERT(g_buf[2] == 0x0d); /* CRH 0, SIP_C, ATP_C, PTPL_C */
	CU_ASSERT(g_buf[3] == 0xb0); /* TMV, ALLOW COMMANDS 011b, PTPL_A 0 */
	CU_ASSERT(g_buf[4] == 0xea); /* WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX */
	CU_ASSERT(g_buf[5] == 0x01); /* EX_AC_AR */
	CU_ASSERT(g_buf[6] == 0 && g_buf[7] == 0);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1, 0x01) == GOOD);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_REPORT_CAPABILITIES, 64) == GOOD);
	CU_ASSERT(g_buf[3] == 0xb1); /* PTPL_A follows APTPL */
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0x1, 0x1, 0) == GOOD);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_REPORT_CAPABILITIES, 64) == GOOD);
	CU_ASSERT(g_buf[3] == 0xb0);
}

static void
read_full_status_describes_every_registrant(void)
{
	uint8_t *d;
	size_t off;

	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(1, 1, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0x04) == GOOD);
	CU_ASSERT(prout(1, 1, KEEL_SCSI_PR_OUT_RESERVE, WE, 0x2222, 0, 0) == GOOD);
	CU_ASSERT(prin(2, KEEL_SCSI_PR_IN_READ_FULL_STATUS, 1024) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 2);
	off = 8;
	/* Registrant 1: port 1 of host1 through target port 1, not holding. */
	d = &g_buf[off];
	CU_ASSERT(keel_from_be64(&d[0]) == 0x1111);
	CU_ASSERT(keel_from_be32(&d[8]) == 0);
	CU_ASSERT(d[12] == 0x00);
	CU_ASSERT(d[13] == 0x00);
	CU_ASSERT(keel_from_be16(&d[18]) == 1);
	CU_ASSERT(keel_from_be32(&d[20]) == 4 + KEEL_ALIGN_CEIL(strlen(INI_NAME(1)) + 1, 4));
	CU_ASSERT(d[24] == 0x45); /* format 01b, iSCSI */
	CU_ASSERT(keel_from_be16(&d[26]) == KEEL_ALIGN_CEIL(strlen(INI_NAME(1)) + 1, 4));
	CU_ASSERT(strcmp((const char *)&d[28], INI_NAME(1)) == 0);
	off += 24 + keel_from_be32(&d[20]);
	/* Registrant 2: ALL_TG_PT, reservation holder, scope and type set. */
	d = &g_buf[off];
	CU_ASSERT(keel_from_be64(&d[0]) == 0x2222);
	CU_ASSERT(d[12] == 0x03);
	CU_ASSERT(d[13] == WE);
	CU_ASSERT(keel_from_be16(&d[18]) == 0);
	CU_ASSERT(strcmp((const char *)&d[28], INI_NAME(2)) == 0);
	off += 24 + keel_from_be32(&d[20]);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == off - 8);
	CU_ASSERT(g_task.data_transferred == off);

	/* All-registrants: every registrant is a holder. */
	CU_ASSERT(prout(1, 1, KEEL_SCSI_PR_OUT_RELEASE, WE, 0x2222, 0, 0) == GOOD);
	CU_ASSERT(prout(1, 1, KEEL_SCSI_PR_OUT_RESERVE, EA_AR, 0x2222, 0, 0) == GOOD);
	CU_ASSERT(prin(2, KEEL_SCSI_PR_IN_READ_FULL_STATUS, 1024) == GOOD);
	d = &g_buf[8];
	CU_ASSERT(d[12] == 0x01);
	CU_ASSERT(d[13] == EA_AR);
}

static void
release_follows_holder_and_type_rules(void)
{
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
	/* Nothing reserved: GOOD. */
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RELEASE, WE, 0x1111, 0, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, WE, 0x1111, 0, 0) == GOOD);
	/* Not registered: conflict. Registered non-holder: GOOD, reservation stays. */
	CU_ASSERT(prout(2, 0, KEEL_SCSI_PR_OUT_RELEASE, WE, 0, 0, 0) == CONFLICT);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_RELEASE, WE, 0x2222, 0, 0) == GOOD);
	CU_ASSERT(write10(1, 0) == CONFLICT);
	/* Holder with the wrong key conflicts, with the wrong type is an invalid release. */
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RELEASE, WE, 0x2222, 0, 0) == CONFLICT);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RELEASE, EA, 0x1111, 0, 0) == CHECK);
	CU_ASSERT(g_sk == KEEL_SCSI_SENSE_ILLEGAL_REQUEST);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_RELEASE_OF_PR);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RELEASE, WE, 0x1111, 0, 0) == GOOD);
	CU_ASSERT(!g_lun.pr_active);
	CU_ASSERT(write10(1, 0) == GOOD);
	/* Releasing a Write Exclusive reservation tells nobody. */
	CU_ASSERT(g_num_uas == 0);
}

static void
release_of_registrants_only_or_all_registrants_notifies_the_others(void)
{
	uint8_t type;

	for (type = WE_RO; type <= EA_AR; type++) {
		ut_reset_lun();
		CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
		CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
		CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, type, 0x1111, 0, 0) == GOOD);
		CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RELEASE, type, 0x1111, 0, 0) == GOOD);
		CU_ASSERT(g_num_uas == 1);
		CU_ASSERT(ua_queued(1, KEEL_SCSI_ASC_RESERVATIONS_RELEASED));
		CU_ASSERT(!ua_queued(0, KEEL_SCSI_ASC_RESERVATIONS_RELEASED));
	}
}

/*
 * Who may read and write under each type: holder, registered non-holder, unregistered
 * (SPC-4 5.13.1 and SBC-3 4.17; the expectations libiscsi's PR access tests hold too).
 */
static void
check_access(uint8_t type, bool reg_read, bool reg_write, bool unreg_read, bool unreg_write)
{
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, type, 0x1111, 0, 0) == GOOD);
	CU_ASSERT(read10(0, 0) == GOOD);
	CU_ASSERT(write10(0, 0) == GOOD);
	CU_ASSERT(read10(1, 0) == (reg_read ? GOOD : CONFLICT));
	CU_ASSERT(write10(1, 0) == (reg_write ? GOOD : CONFLICT));
	CU_ASSERT(read10(2, 0) == (unreg_read ? GOOD : CONFLICT));
	CU_ASSERT(write10(2, 0) == (unreg_write ? GOOD : CONFLICT));
	/* The holder through another target port is another I_T nexus, not registered. */
	CU_ASSERT(write10(0, 1) == (unreg_write ? GOOD : CONFLICT));
	/* Allowed whatever the type. */
	CU_ASSERT(cmd6(2, 0, KEEL_SCSI_INQUIRY, 0, 36) == GOOD);
	CU_ASSERT(cmd6(2, 0, KEEL_SCSI_TEST_UNIT_READY, 0, 0) == GOOD);
	CU_ASSERT(cmd6(2, 0, KEEL_SCSI_REQUEST_SENSE, 0, 18) == GOOD);
	CU_ASSERT(prin(2, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	/* Reads and reports follow the read rule, changes the write rule. */
	CU_ASSERT(cmd6(2, 0, KEEL_SCSI_MODE_SENSE_6, 0, 64) == (unreg_read ? GOOD : CONFLICT));
	CU_ASSERT(cmd6(2, 0, KEEL_SCSI_MODE_SELECT_6, 0x10, 0) == (unreg_write ? GOOD : CONFLICT));
	/* START STOP UNIT with START=1 passes; a stop does not. */
	CU_ASSERT(cmd6(2, 0, KEEL_SCSI_START_STOP_UNIT, 0, 0x01) == GOOD);
	CU_ASSERT(cmd6(2, 0, KEEL_SCSI_START_STOP_UNIT, 0, 0x00) ==
		  (unreg_write ? GOOD : CONFLICT));
	/* Unregistering the other initiator moves it into the unregistered column. */
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0x2222, 0, 0) == GOOD);
	CU_ASSERT(read10(1, 0) == (unreg_read ? GOOD : CONFLICT));
	CU_ASSERT(write10(1, 0) == (unreg_write ? GOOD : CONFLICT));
}

static void
write_exclusive_lets_everyone_read_and_only_the_holder_write(void)
{
	check_access(WE, true, false, true, false);
}

static void
exclusive_access_lets_only_the_holder_in(void)
{
	check_access(EA, false, false, false, false);
}

static void
write_exclusive_registrants_only_lets_registrants_write(void)
{
	check_access(WE_RO, true, true, true, false);
}

static void
exclusive_access_registrants_only_lets_only_registrants_in(void)
{
	check_access(EA_RO, true, true, false, false);
}

static void
write_exclusive_all_registrants_lets_registrants_write(void)
{
	check_access(WE_AR, true, true, true, false);
}

static void
exclusive_access_all_registrants_lets_only_registrants_in(void)
{
	check_access(EA_AR, true, true, false, false);
}

static void
unregistering_the_holder_ends_or_passes_the_reservation(void)
{
	/* Registrants only: the reservation ends and the other registrants are told. */
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, WE_RO, 0x1111, 0, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0x1111, 0, 0) == GOOD);
	CU_ASSERT(ua_queued(1, KEEL_SCSI_ASC_RESERVATIONS_RELEASED));
	CU_ASSERT(!g_lun.pr_active);
	CU_ASSERT(write10(2, 0) == GOOD);

	/* All registrants: the reservation stays while one registrant is left. */
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, EA_AR, 0x1111, 0, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0x1111, 0, 0) == GOOD);
	CU_ASSERT(g_num_uas == 0);
	CU_ASSERT(read10(0, 0) == CONFLICT);
	CU_ASSERT(read10(1, 0) == GOOD);
	CU_ASSERT(prin(2, KEEL_SCSI_PR_IN_READ_RESERVATION, 64) == GOOD);
	CU_ASSERT(g_buf[21] == EA_AR);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0x2222, 0, 0) == GOOD);
	CU_ASSERT(prin(2, KEEL_SCSI_PR_IN_READ_RESERVATION, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 0);
	CU_ASSERT(read10(0, 0) == GOOD);

	/* Write Exclusive: the reservation ends silently. */
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, WE, 0x1111, 0, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REG_AND_IGNORE_KEY, 0, 0, 0, 0) == GOOD);
	CU_ASSERT(g_num_uas == 0);
	CU_ASSERT(write10(1, 0) == GOOD);
}

static void
clear_removes_every_registration_and_tells_the_others(void)
{
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
	CU_ASSERT(prout(2, 1, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x3333, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, EA, 0x1111, 0, 0) == GOOD);
	/* CLEAR needs a registered nexus and its key. */
	CU_ASSERT(prout(2, 0, KEEL_SCSI_PR_OUT_CLEAR, 0, 0x3333, 0, 0) == CONFLICT);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_CLEAR, 0, 0x1111, 0, 0) == CONFLICT);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_CLEAR, 0, 0x2222, 0, 0) == GOOD);
	CU_ASSERT(ua_queued(0, KEEL_SCSI_ASC_RESERVATIONS_PREEMPTED));
	CU_ASSERT(ua_queued(2, KEEL_SCSI_ASC_RESERVATIONS_PREEMPTED));
	CU_ASSERT(!ua_queued(1, KEEL_SCSI_ASC_RESERVATIONS_PREEMPTED));
	CU_ASSERT(!g_lun.pr_active);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 0);
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 4);
	CU_ASSERT(write10(2, 0) == GOOD);
}

/*
 * Preemption.
 */
static void
preempt_of_the_holder_moves_the_reservation(void)
{
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
	CU_ASSERT(prout(2, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x3333, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, WE, 0x1111, 0, 0) == GOOD);
	/* Unregistered senders and wrong keys conflict. */
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_PREEMPT, EA, 0x9999, 0x1111, 0) == CONFLICT);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_PREEMPT, EA, 0x2222, 0x1111, 0) == GOOD);
	/* Holder 0 lost its registration; 1 holds EA now; 2 learns the type changed. */
	CU_ASSERT(ua_queued(0, KEEL_SCSI_ASC_REGISTRATIONS_PREEMPTED));
	CU_ASSERT(ua_queued(2, KEEL_SCSI_ASC_RESERVATIONS_RELEASED));
	CU_ASSERT(!ua_queued(1, KEEL_SCSI_ASC_REGISTRATIONS_PREEMPTED));
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_RESERVATION, 64) == GOOD);
	CU_ASSERT(keel_from_be64(&g_buf[8]) == 0x2222);
	CU_ASSERT(g_buf[21] == EA);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 16);
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 4);
	CU_ASSERT(read10(0, 0) == CONFLICT);
	CU_ASSERT(write10(1, 0) == GOOD);
	/* A new type of the CDB must be valid when it makes a reservation. */
	CU_ASSERT(prout(2, 0, KEEL_SCSI_PR_OUT_PREEMPT, 4, 0x3333, 0x2222, 0) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
}

static void
preempt_of_another_key_removes_only_registrations(void)
{
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
	CU_ASSERT(prout(2, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x3333, 0) == GOOD);
	/* No reservation: a zero service action key is invalid, an unknown one conflicts. */
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_PREEMPT, WE, 0x1111, 0, 0) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_PREEMPT, WE, 0x1111, 0x4444, 0) == CONFLICT);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_PREEMPT, WE, 0x1111, 0x3333, 0) == GOOD);
	CU_ASSERT(ua_queued(2, KEEL_SCSI_ASC_REGISTRATIONS_PREEMPTED));
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_RESERVATION, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 0);
	/* With a reservation held by 0, preempting 1's key leaves the reservation alone. */
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, WE_RO, 0x1111, 0, 0) == GOOD);
	g_num_uas = 0;
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_PREEMPT, EA, 0x1111, 0x2222, 0) == GOOD);
	CU_ASSERT(ua_queued(1, KEEL_SCSI_ASC_REGISTRATIONS_PREEMPTED));
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_RESERVATION, 64) == GOOD);
	CU_ASSERT(g_buf[21] == WE_RO);
	CU_ASSERT(write10(1, 0) == CONFLICT);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 8);
}

static void
preempt_of_all_registrants_with_zero_key_keeps_only_the_sender(void)
{
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
	CU_ASSERT(prout(2, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x3333, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, WE_AR, 0x1111, 0, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_PREEMPT, EA, 0x2222, 0, 0) == GOOD);
	CU_ASSERT(ua_queued(0, KEEL_SCSI_ASC_REGISTRATIONS_PREEMPTED));
	CU_ASSERT(ua_queued(2, KEEL_SCSI_ASC_REGISTRATIONS_PREEMPTED));
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 8);
	CU_ASSERT(keel_from_be64(&g_buf[8]) == 0x2222);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_RESERVATION, 64) == GOOD);
	CU_ASSERT(keel_from_be64(&g_buf[8]) == 0x2222);
	CU_ASSERT(g_buf[21] == EA);
	CU_ASSERT(read10(0, 0) == CONFLICT);
}

static void
preempt_and_abort_completes_after_the_preempted_tasks_are_aborted(void)
{
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
	CU_ASSERT(prout(2, 1, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_RESERVE, EA, 0x2222, 0, 0) == GOOD);

	g_num_aborts = 0;
	g_completions = 0;
	{
		uint8_t cdb[10] = {0x5f, KEEL_SCSI_PR_OUT_PREEMPT_AND_ABORT, WE, 0, 0, 0, 0, 0, 24};
		uint8_t p[24] = {0};
		struct iovec iov = {.iov_base = p, .iov_len = sizeof(p)};

		keel_to_be64(&p[0], 0x1111);
		keel_to_be64(&p[8], 0x2222);
		memset(&g_task, 0, sizeof(g_task));
		g_task.dev = &g_dev;
		g_task.internal.lun = &g_lun;
		g_task.initiator_port = &g_ini[0];
		g_task.target_port = &g_dev.ports[0];
		memcpy(g_task.cdb, cdb, sizeof(cdb));
		g_task.iovs = &iov;
		g_task.iovcnt = 1;
		g_task.transfer_len = sizeof(p);
		CU_ASSERT(scsi_pr_check(&g_task) == 0);
		CU_ASSERT(scsi_pr_execute(&g_task));
		g_task.iovs = NULL;
	}
	/* Both nexuses with key 0x2222 lost their registration; their tasks are being aborted. */
	CU_ASSERT(g_num_aborts == 2);
	CU_ASSERT(strcmp(g_aborts[0].initiator, INI_NAME(2)) == 0);
	CU_ASSERT(strcmp(g_aborts[1].initiator, INI_NAME(3)) == 0);
	CU_ASSERT(g_completions == 0);
	g_aborts[1].done(g_aborts[1].ctx);
	CU_ASSERT(g_completions == 0);
	g_aborts[0].done(g_aborts[0].ctx);
	CU_ASSERT(g_completions == 1);
	CU_ASSERT(g_task.status == GOOD);
	CU_ASSERT(ua_queued(1, KEEL_SCSI_ASC_REGISTRATIONS_PREEMPTED));
	CU_ASSERT(ua_queued(2, KEEL_SCSI_ASC_REGISTRATIONS_PREEMPTED));
	CU_ASSERT(write10(0, 0) == GOOD);
	CU_ASSERT(write10(1, 0) == CONFLICT);

	/* A plain PREEMPT aborts nothing. */
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x5555, 0) == GOOD);
	g_num_aborts = 0;
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_PREEMPT, WE, 0x1111, 0x5555, 0) == GOOD);
	CU_ASSERT(g_num_aborts == 0);
}

/*
 * REGISTER AND MOVE.
 */
static int
register_and_move(int ini, int tgt, uint64_t key, uint64_t sa_key, uint16_t rel_tgt_port,
		  const char *dst, uint8_t flags)
{
	uint8_t cdb[10] = {0x5f, KEEL_SCSI_PR_OUT_REG_AND_MOVE, 0, 0, 0, 0, 0, 0, 0, 0};
	uint8_t p[512] = {0};
	size_t n = strlen(dst) + 1, padded = KEEL_ALIGN_CEIL(n, 4);

	keel_to_be64(&p[0], key);
	keel_to_be64(&p[8], sa_key);
	p[17] = flags;
	keel_to_be16(&p[18], rel_tgt_port);
	keel_to_be32(&p[20], (uint32_t)(4 + padded));
	p[24] = 0x45;
	keel_to_be16(&p[26], (uint16_t)padded);
	memcpy(&p[28], dst, n);
	keel_to_be32(&cdb[5], (uint32_t)(28 + padded));
	return run(ini, tgt, cdb, sizeof(cdb), p, (uint32_t)(28 + padded));
}

static void
register_and_move_hands_the_reservation_to_another_nexus(void)
{
	ut_reset_lun();
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0) == GOOD);
	/* Without a reservation, or from a non-holder: conflict. */
	CU_ASSERT(register_and_move(0, 0, 0x1111, 0x7777, 2, INI_NAME(3), 0) == CONFLICT);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, EA, 0x1111, 0, 0) == GOOD);
	CU_ASSERT(register_and_move(1, 0, 0x2222, 0x7777, 2, INI_NAME(3), 0) == CONFLICT);
	/* Bad fields: zero key, unknown port, the sender's own nexus. */
	CU_ASSERT(register_and_move(0, 0, 0x1111, 0, 2, INI_NAME(3), 0) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	CU_ASSERT(register_and_move(0, 0, 0x1111, 0x7777, 9, INI_NAME(3), 0) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	CU_ASSERT(register_and_move(0, 0, 0x1111, 0x7777, 1, INI_NAME(1), 0) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST);

	/* Move to host3 through target port 2; the sender stays registered. */
	CU_ASSERT(register_and_move(0, 0, 0x1111, 0x7777, 2, INI_NAME(3), 0) == GOOD);
	CU_ASSERT(write10(2, 1) == GOOD);
	CU_ASSERT(write10(2, 0) == CONFLICT);
	CU_ASSERT(read10(0, 0) == CONFLICT);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_RESERVATION, 64) == GOOD);
	CU_ASSERT(keel_from_be64(&g_buf[8]) == 0x7777);
	CU_ASSERT(g_buf[21] == EA);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 24);

	/* Move on to host2 (registered already: its key changes) and unregister the sender. */
	CU_ASSERT(register_and_move(2, 1, 0x7777, 0x8888, 1, INI_NAME(2), 0x02) == GOOD);
	CU_ASSERT(write10(1, 0) == GOOD);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 64) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[4]) == 16);
	CU_ASSERT(keel_from_be64(&g_buf[8]) == 0x1111);
	CU_ASSERT(keel_from_be64(&g_buf[16]) == 0x8888);

	/* All-registrants reservations cannot be moved. */
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_RELEASE, EA, 0x8888, 0, 0) == GOOD);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_RESERVE, WE_AR, 0x8888, 0, 0) == GOOD);
	CU_ASSERT(register_and_move(1, 0, 0x8888, 0x9, 2, INI_NAME(3), 0) == CONFLICT);
}

/*
 * APTPL.
 */
static void
aptpl_state_survives_a_restart_and_goes_when_cleared(void)
{
	char path[PATH_MAX];
	struct stat st;

	ut_reset_lun();
	CU_ASSERT(pr_file_path(&g_lun, path, sizeof(path), false) == 0);
	unlink(path);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0x01) == GOOD);
	CU_ASSERT(prout(1, 1, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2222, 0x05) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, WE_RO, 0x1111, 0, 0) == GOOD);
	CU_ASSERT(stat(path, &st) == 0);
	CU_ASSERT((st.st_mode & 0777) == 0600);
	CU_ASSERT(stat(g_pr_tmpdir, &st) == 0);

	/* A directory that does not exist yet is created, mode 0700, parents too. */
	{
		char dir[128], nested[160];

		snprintf(dir, sizeof(dir), "%s/a", g_pr_tmpdir);
		snprintf(nested, sizeof(nested), "%s/b/", dir);
		keel_scsi_set_pr_dir(nested);
		CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0x1111, 0x1111, 0x01) == GOOD);
		CU_ASSERT(stat(nested, &st) == 0 && S_ISDIR(st.st_mode));
		CU_ASSERT((st.st_mode & 0777) == 0700);
		CU_ASSERT(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
		keel_scsi_set_pr_dir(g_pr_tmpdir);
	}

	/* Power loss: the state is gone from memory, then loaded at LUN creation. */
	scsi_pr_lun_fini(&g_lun);
	memset(&g_lun.pr, 0, sizeof(g_lun.pr));
	scsi_pr_load(&g_lun);
	CU_ASSERT(g_lun.pr_active);
	CU_ASSERT(prin(2, KEEL_SCSI_PR_IN_READ_FULL_STATUS, 1024) == GOOD);
	CU_ASSERT(keel_from_be32(&g_buf[0]) == 2);
	CU_ASSERT(keel_from_be64(&g_buf[8]) == 0x1111);
	CU_ASSERT(g_buf[8 + 12] == 0x01);
	CU_ASSERT(g_buf[8 + 13] == WE_RO);
	CU_ASSERT(prin(2, KEEL_SCSI_PR_IN_REPORT_CAPABILITIES, 8) == GOOD);
	CU_ASSERT(g_buf[3] & PR_CAP_PTPL_A);
	CU_ASSERT(write10(0, 0) == GOOD);
	CU_ASSERT(write10(1, 0) == GOOD); /* registered with ALL_TG_PT */
	CU_ASSERT(write10(2, 0) == CONFLICT);

	/* APTPL cleared by the last REGISTER: the file goes, the state stays in memory. */
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0x2222, 0x2223, 0) == GOOD);
	CU_ASSERT(stat(path, &st) != 0 && errno == ENOENT);
	CU_ASSERT(write10(1, 0) == GOOD);
	scsi_pr_lun_fini(&g_lun);
	memset(&g_lun.pr, 0, sizeof(g_lun.pr));
	scsi_pr_load(&g_lun);
	CU_ASSERT(!g_lun.pr_active);
	CU_ASSERT(generation() == 0);
}

static void
aptpl_file_that_is_damaged_is_ignored(void)
{
	char path[PATH_MAX];
	FILE *f;

	ut_reset_lun();
	CU_ASSERT(pr_file_path(&g_lun, path, sizeof(path), true) == 0);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fprintf(f, "keel-pr 1\ngeneration 7\nreg 0x1 0 1 %s %s\nreservation 4 1\n", INI_NAME(1),
		TGT0);
	fclose(f);
	scsi_pr_load(&g_lun);
	CU_ASSERT(!g_lun.pr_active);
	CU_ASSERT(generation() == 0);

	/* A name with a blank and a percent sign round-trips through the escaping. */
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fprintf(f, "keel-pr 1\ngeneration 7\nreg 0x1 1 1 a%%20b%%25,i,0x1 -\n");
	fclose(f);
	scsi_pr_load(&g_lun);
	CU_ASSERT(generation() == 7);
	CU_ASSERT(strcmp(TAILQ_FIRST(&g_lun.pr.registrants)->initiator, "a b%,i,0x1") == 0);
	CU_ASSERT(TAILQ_FIRST(&g_lun.pr.registrants)->all_tg_pt);
	unlink(path);
}

/*
 * SPC-2 RESERVE and RELEASE.
 */
static void
spc2_reserve_and_release_between_two_nexuses(void)
{
	ut_reset_lun();
	CU_ASSERT(cmd6(0, 0, KEEL_SCSI_RESERVE_6, 0, 0) == GOOD);
	CU_ASSERT(cmd6(0, 0, KEEL_SCSI_RESERVE_6, 0, 0) == GOOD);
	CU_ASSERT(g_lun.pr_active);
	CU_ASSERT(cmd6(1, 0, KEEL_SCSI_RESERVE_6, 0, 0) == CONFLICT);
	/* RELEASE from the other nexus is GOOD and changes nothing. */
	CU_ASSERT(cmd6(1, 0, KEEL_SCSI_RELEASE_6, 0, 0) == GOOD);
	CU_ASSERT(cmd6(0, 0, KEEL_SCSI_MODE_SENSE_6, 0, 64) == GOOD);
	CU_ASSERT(cmd6(1, 0, KEEL_SCSI_MODE_SENSE_6, 0, 64) == CONFLICT);
	CU_ASSERT(read10(1, 0) == CONFLICT);
	CU_ASSERT(cmd6(1, 0, KEEL_SCSI_TEST_UNIT_READY, 0, 0) == CONFLICT);
	/* Still allowed from others. */
	CU_ASSERT(cmd6(1, 0, KEEL_SCSI_INQUIRY, 0, 36) == GOOD);
	CU_ASSERT(cmd6(1, 0, KEEL_SCSI_REQUEST_SENSE, 0, 18) == GOOD);
	CU_ASSERT(cmd6(1, 0, KEEL_SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0) == GOOD);
	CU_ASSERT(cmd6(1, 0, KEEL_SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 1) == CONFLICT);
	/* The same initiator port through another target port is another nexus. */
	CU_ASSERT(read10(0, 1) == CONFLICT);
	CU_ASSERT(read10(0, 0) == GOOD);
	CU_ASSERT(cmd6(0, 0, KEEL_SCSI_RELEASE_6, 0, 0) == GOOD);
	CU_ASSERT(!g_lun.pr_active);
	CU_ASSERT(reserve_release10(1, 0, KEEL_SCSI_RESERVE_10, 0) == GOOD);
	CU_ASSERT(reserve_release10(0, 0, KEEL_SCSI_RESERVE_10, 0) == CONFLICT);
	CU_ASSERT(reserve_release10(1, 0, KEEL_SCSI_RELEASE_10, 0) == GOOD);
	CU_ASSERT(read10(0, 0) == GOOD);
}

static void
spc2_third_party_reservations_are_invalid_fields(void)
{
	ut_reset_lun();
	CU_ASSERT(cmd6(0, 0, KEEL_SCSI_RESERVE_6, 0x10, 0) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
	CU_ASSERT(g_task.sense_data[15] == (0xc0 | 0x08 | 4));
	CU_ASSERT(g_task.sense_data[17] == 1);
	CU_ASSERT(reserve_release10(0, 0, KEEL_SCSI_RESERVE_10, 0x10) == CHECK);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INVALID_FIELD_IN_CDB);
	CU_ASSERT(reserve_release10(0, 0, KEEL_SCSI_RESERVE_10, 0x02) == CHECK);
	CU_ASSERT(reserve_release10(0, 0, KEEL_SCSI_RELEASE_10, 0x10) == CHECK);
	CU_ASSERT(cmd6(0, 0, KEEL_SCSI_RELEASE_6, 0x01, 0) == CHECK);
	CU_ASSERT(!g_lun.pr_active);
}

static void
spc2_reservation_ends_with_its_nexus_and_on_lun_reset(void)
{
	ut_reset_lun();
	CU_ASSERT(cmd6(0, 0, KEEL_SCSI_RESERVE_6, 0, 0) == GOOD);
	scsi_pr_nexus_lost(&g_lun, INI_NAME(1), TGT1); /* another nexus of the same port */
	CU_ASSERT(read10(1, 0) == CONFLICT);
	scsi_pr_nexus_lost(&g_lun, INI_NAME(1), TGT0);
	CU_ASSERT(!g_lun.pr_active);
	CU_ASSERT(read10(1, 0) == GOOD);

	CU_ASSERT(cmd6(1, 0, KEEL_SCSI_RESERVE_6, 0, 0) == GOOD);
	scsi_pr_lun_reset(&g_lun);
	CU_ASSERT(read10(0, 0) == GOOD);
	CU_ASSERT(cmd6(0, 0, KEEL_SCSI_RESERVE_6, 0, 0) == GOOD);
	/* A LUN reset leaves persistent reservations alone. */
	CU_ASSERT(cmd6(0, 0, KEEL_SCSI_RELEASE_6, 0, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_RESERVE, EA, 0x1, 0, 0) == GOOD);
	scsi_pr_lun_reset(&g_lun);
	CU_ASSERT(read10(1, 0) == CONFLICT);
}

static void
spc2_and_persistent_reservations_exclude_each_other(void)
{
	ut_reset_lun();
	/* Registrations (even without a reservation) make RESERVE and RELEASE conflict. */
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x2, 0) == GOOD);
	CU_ASSERT(cmd6(0, 0, KEEL_SCSI_RESERVE_6, 0, 0) == CONFLICT);
	CU_ASSERT(cmd6(1, 0, KEEL_SCSI_RESERVE_6, 0, 0) == CONFLICT);
	CU_ASSERT(reserve_release10(1, 0, KEEL_SCSI_RELEASE_10, 0) == CONFLICT);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_RESERVE, WE, 0x2, 0, 0) == GOOD);
	CU_ASSERT(cmd6(1, 0, KEEL_SCSI_RESERVE_6, 0, 0) == CONFLICT);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_CLEAR, 0, 0x2, 0, 0) == GOOD);

	/* An SPC-2 reservation makes PERSISTENT RESERVE IN and OUT conflict, even its own. */
	CU_ASSERT(cmd6(0, 0, KEEL_SCSI_RESERVE_6, 0, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1, 0) == CONFLICT);
	CU_ASSERT(prout(1, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1, 0) == CONFLICT);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_KEYS, 64) == CONFLICT);
	CU_ASSERT(cmd6(0, 0, KEEL_SCSI_RELEASE_6, 0, 0) == GOOD);
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1, 0) == GOOD);
}

/*
 * Limits and the opcode table.
 */
static void
registrations_beyond_the_limit_are_refused(void)
{
	struct keel_scsi_port saved = g_ini[2];
	int i;

	ut_reset_lun();
	for (i = 0; i < SCSI_MAX_PR_REGISTRANTS; i++) {
		/* Long names, so that READ FULL STATUS outgrows a 16-bit allocation length. */
		snprintf(g_ini[2].name, sizeof(g_ini[2].name),
			 "iqn.2026-01.org.example:%0200d,i,0x%x", 0, i + 1);
		CU_ASSERT(prout(2, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, (uint64_t)i + 1, 0) == GOOD);
	}
	CU_ASSERT(prout(0, 0, KEEL_SCSI_PR_OUT_REGISTER, 0, 0, 0x1111, 0) == CHECK);
	CU_ASSERT(g_sk == KEEL_SCSI_SENSE_ILLEGAL_REQUEST);
	CU_ASSERT(g_asc == KEEL_SCSI_ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
	CU_ASSERT(prin(0, KEEL_SCSI_PR_IN_READ_FULL_STATUS, 65535) == GOOD);
	CU_ASSERT(g_task.data_transferred == 65535);
	CU_ASSERT(keel_from_be32(&g_buf[4]) > 65535);
	g_ini[2] = saved;
}

static void
opcode_rows_list_every_command_and_service_action(void)
{
	const struct scsi_opcode_info *rows;
	size_t n = scsi_pr_opcodes(&rows), i;
	int in = 0, out = 0, other = 0;

	CU_ASSERT(n == 16);
	for (i = 0; i < n; i++) {
		CU_ASSERT(rows[i].usage[0] == rows[i].opcode);
		switch (rows[i].opcode) {
		case KEEL_SCSI_PERSISTENT_RESERVE_IN:
			CU_ASSERT(rows[i].has_sa && rows[i].service_action == in);
			CU_ASSERT(rows[i].cdb_len == 10);
			in++;
			break;
		case KEEL_SCSI_PERSISTENT_RESERVE_OUT:
			CU_ASSERT(rows[i].has_sa && rows[i].service_action == out);
			CU_ASSERT(rows[i].cdb_len == 10);
			out++;
			break;
		default:
			CU_ASSERT(!rows[i].has_sa);
			other++;
			break;
		}
	}
	CU_ASSERT(in == 4 && out == 8 && other == 4);
	/* Other opcodes are not taken. */
	memset(&g_task, 0, sizeof(g_task));
	g_task.internal.lun = &g_lun;
	g_task.cdb[0] = KEEL_SCSI_READ_10;
	CU_ASSERT(!scsi_pr_execute(&g_task));
}

static const struct keel_ut_test g_tests[] = {
	KEEL_UT_TEST(register_and_read_keys_lists_every_key_with_the_generation),
	KEEL_UT_TEST(read_keys_truncated_to_allocation_length_keeps_the_full_additional_length),
	KEEL_UT_TEST(register_checks_the_reservation_key),
	KEEL_UT_TEST(register_and_ignore_existing_key_replaces_any_key),
	KEEL_UT_TEST(registration_is_per_target_port_unless_all_tg_pt),
	KEEL_UT_TEST(spec_i_pt_registers_every_listed_transport_id),
	KEEL_UT_TEST(spec_i_pt_rejects_bad_transport_ids_and_lengths),
	KEEL_UT_TEST(parameter_list_length_must_be_24_without_spec_i_pt),
	KEEL_UT_TEST(bad_cdbs_are_invalid_fields),
	KEEL_UT_TEST(reserve_needs_a_registration_with_the_right_key),
	KEEL_UT_TEST(read_reservation_reports_key_scope_and_type),
	KEEL_UT_TEST(report_capabilities_answers_byte_by_byte),
	KEEL_UT_TEST(read_full_status_describes_every_registrant),
	KEEL_UT_TEST(release_follows_holder_and_type_rules),
	KEEL_UT_TEST(release_of_registrants_only_or_all_registrants_notifies_the_others),
	KEEL_UT_TEST(write_exclusive_lets_everyone_read_and_only_the_holder_write),
	KEEL_UT_TEST(exclusive_access_lets_only_the_holder_in),
	KEEL_UT_TEST(write_exclusive_registrants_only_lets_registrants_write),
	KEEL_UT_TEST(exclusive_access_registrants_only_lets_only_registrants_in),
	KEEL_UT_TEST(write_exclusive_all_registrants_lets_registrants_write),
	KEEL_UT_TEST(exclusive_access_all_registrants_lets_only_registrants_in),
	KEEL_UT_TEST(unregistering_the_holder_ends_or_passes_the_reservation),
	KEEL_UT_TEST(clear_removes_every_registration_and_tells_the_others),
	KEEL_UT_TEST(preempt_of_the_holder_moves_the_reservation),
	KEEL_UT_TEST(preempt_of_another_key_removes_only_registrations),
	KEEL_UT_TEST(preempt_of_all_registrants_with_zero_key_keeps_only_the_sender),
	KEEL_UT_TEST(preempt_and_abort_completes_after_the_preempted_tasks_are_aborted),
	KEEL_UT_TEST(register_and_move_hands_the_reservation_to_another_nexus),
	KEEL_UT_TEST(aptpl_state_survives_a_restart_and_goes_when_cleared),
	KEEL_UT_TEST(aptpl_file_that_is_damaged_is_ignored),
	KEEL_UT_TEST(spc2_reserve_and_release_between_two_nexuses),
	KEEL_UT_TEST(spc2_third_party_reservations_are_invalid_fields),
	KEEL_UT_TEST(spc2_reservation_ends_with_its_nexus_and_on_lun_reset),
	KEEL_UT_TEST(spc2_and_persistent_reservations_exclude_each_other),
	KEEL_UT_TEST(registrations_beyond_the_limit_are_refused),
	KEEL_UT_TEST(opcode_rows_list_every_command_and_service_action),
};

int
main(void)
{
	return keel_ut_run("scsi_pr", g_tests, KEEL_COUNTOF(g_tests), suite_init, suite_fini);
}
