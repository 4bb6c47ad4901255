/*
 * Reservations: SPC-2 RESERVE/RELEASE, SPC-4 persistent reservations (PERSISTENT RESERVE IN and
 * OUT), the conflict check that runs before every command, and the file that keeps APTPL state
 * across restarts. The state of a LUN lives in lun->pr under lun->lock; lun->pr_active tells the
 * I/O path, without the lock, whether there is any reservation to check at all.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/util.h"

#include "scsi_internal.h"

KEEL_LOG_REGISTER_COMPONENT(scsi)

#define PR_DEFAULT_DIR "/var/tmp/keel-pr"
#define PR_FILE_MAGIC "keel-pr 1"
/* A PR OUT parameter list: the 24-byte basic list plus TransportIDs for every registrant. */
#define PR_OUT_MAX_PARAM_LEN (28 + SCSI_MAX_PR_REGISTRANTS * 264)
#define PR_TID_MAX (4 + 260)
#define PR_ISID_SEP ",i,0x"

/* Scope and type byte: only the logical unit scope exists (SPC-4 6.16.3.2). */
#define PR_SCOPE_LU 0

/* REPORT CAPABILITIES (SPC-4 6.15.4). */
#define PR_CAP_CRH 0x10
#define PR_CAP_SIP_C 0x08
#define PR_CAP_ATP_C 0x04
#define PR_CAP_PTPL_C 0x01
#define PR_CAP_TMV 0x80
#define PR_CAP_PTPL_A 0x01
/* ALLOW COMMANDS 011b: TEST UNIT READY passes Write Exclusive and Exclusive Access
 * reservations; MODE SENSE, READ BUFFER, RECEIVE COPY RESULTS, RECEIVE DIAGNOSTIC RESULTS,
 * REPORT SUPPORTED OPERATION CODES / TASK MANAGEMENT FUNCTIONS and READ DEFECT DATA pass Write
 * Exclusive ones. pr_classify() implements exactly that. */
#define PR_CAP_ALLOW_COMMANDS (3 << 4)

static pthread_mutex_t g_pr_dir_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_pr_dir[PATH_MAX] = PR_DEFAULT_DIR;
/* Serialises APTPL file writes: each writer stores the state as it is when it gets the lock. */
static pthread_mutex_t g_pr_file_lock = PTHREAD_MUTEX_INITIALIZER;

/* An I_T nexus: initiator port name, target port name and relative target port id. */
struct pr_nexus {
	const char *initiator;
	const char *target;
	uint16_t rel_tgt_port_id;
};

/* How a command fares under a persistent reservation held by someone else. */
enum pr_class {
	PR_CLASS_ALLOWED, /* passes every reservation */
	PR_CLASS_READ,    /* passes Write Exclusive types (reads, or only reports) */
	PR_CLASS_WRITE,   /* only holders, and registrants of RO/AR types */
};

TAILQ_HEAD(pr_reg_list, scsi_pr_registrant);

/* A unit attention to queue once the lock is dropped. */
struct pr_note {
	uint16_t asc_ascq;
	char initiator[KEEL_SCSI_PORT_MAX_NAME + 1];
};

/* One PERSISTENT RESERVE OUT being processed. */
struct pr_out {
	struct keel_scsi_task *task;
	struct keel_scsi_lun *lun;
	struct pr_nexus nx;
	struct scsi_pr_registrant *reg; /* the sender's registration, or NULL */
	const uint8_t *param;
	uint32_t param_len;
	uint8_t sa;
	uint8_t scope;
	uint8_t type;
	uint64_t key;    /* RESERVATION KEY */
	uint64_t sa_key; /* SERVICE ACTION RESERVATION KEY */
	bool spec_i_pt;
	bool all_tg_pt;
	bool aptpl;
	/* Results, acted on after the lock is dropped. */
	struct pr_note *notes;
	size_t num_notes;
	struct pr_reg_list removed;
	bool save;  /* the APTPL file must be rewritten */
	bool abort; /* PREEMPT AND ABORT: abort their tasks */
	int aborts_pending;
};

/*
 * Small helpers.
 */
static struct keel_scsi_lun *
pr_task_lun(const struct keel_scsi_task *task)
{
	if (task->lun_desc != NULL) {
		return task->lun_desc->lun;
	}
	return task->internal.lun;
}

static void
pr_nexus_of(const struct keel_scsi_task *task, struct pr_nexus *nx)
{
	nx->initiator = task->initiator_port != NULL ? task->initiator_port->name : "";
	nx->target = task->target_port != NULL ? task->target_port->name : "";
	nx->rel_tgt_port_id = task->target_port != NULL ? task->target_port->index : 0;
}

/* The state, made usable even if the LUN was created zero-filled. Called with the lock held. */
static struct scsi_pr_state *
pr_state(struct keel_scsi_lun *lun)
{
	if (lun->pr.registrants.tqh_last == NULL) {
		TAILQ_INIT(&lun->pr.registrants);
	}
	return &lun->pr;
}

static bool
pr_type_valid(uint8_t type)
{
	switch (type) {
	case KEEL_SCSI_PR_WRITE_EXCLUSIVE:
	case KEEL_SCSI_PR_EXCLUSIVE_ACCESS:
	case KEEL_SCSI_PR_WRITE_EXCLUSIVE_REGS_ONLY:
	case KEEL_SCSI_PR_EXCLUSIVE_ACCESS_REGS_ONLY:
	case KEEL_SCSI_PR_WRITE_EXCLUSIVE_ALL_REGS:
	case KEEL_SCSI_PR_EXCLUSIVE_ACCESS_ALL_REGS:
		return true;
	default:
		return false;
	}
}

static bool
pr_type_all_regs(uint8_t type)
{
	return type == KEEL_SCSI_PR_WRITE_EXCLUSIVE_ALL_REGS ||
	       type == KEEL_SCSI_PR_EXCLUSIVE_ACCESS_ALL_REGS;
}

static bool
pr_type_regs_only(uint8_t type)
{
	return type == KEEL_SCSI_PR_WRITE_EXCLUSIVE_REGS_ONLY ||
	       type == KEEL_SCSI_PR_EXCLUSIVE_ACCESS_REGS_ONLY;
}

/* lun->pr_active: commands need checking while any reservation (SPC-2 or persistent) exists. */
static void
pr_update_active(struct keel_scsi_lun *lun)
{
	bool active = lun->pr.spc2_reserved || lun->pr.holder != NULL;

	__atomic_store_n(&lun->pr_active, active, __ATOMIC_RELEASE);
}

static void
pr_good(struct keel_scsi_task *task)
{
	task->status = KEEL_SCSI_STATUS_GOOD;
	task->sense_data_len = 0;
}

static void
pr_conflict(struct keel_scsi_task *task)
{
	task->status = KEEL_SCSI_STATUS_RESERVATION_CONFLICT;
	task->sense_data_len = 0;
}

static void
pr_busy(struct keel_scsi_task *task)
{
	task->status = KEEL_SCSI_STATUS_BUSY;
	task->sense_data_len = 0;
}

static void
pr_illegal(struct keel_scsi_task *task, int asc_ascq)
{
	keel_scsi_task_set_status(task, KEEL_SCSI_STATUS_CHECK_CONDITION,
				  KEEL_SCSI_SENSE_ILLEGAL_REQUEST, asc_ascq);
}

/* INVALID FIELD IN PARAMETER LIST pointing at a byte (and bit, or -1) of the parameter list. */
static void
pr_invalid_param(struct keel_scsi_task *task, int byte, int bit)
{
	uint8_t sks[3];

	sks[0] = bit >= 0 ? 0x08 | (bit & 7) : 0; /* C/D 0: the parameter list */
	keel_to_be16(&sks[1], (uint16_t)byte);
	scsi_task_set_sense(task, KEEL_SCSI_SENSE_ILLEGAL_REQUEST,
			    KEEL_SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST, sks, 0, false);
}

/*
 * Initiator port names. An iSCSI initiator port is "<iSCSI name>,i,0x<ISID>"; a registration
 * made through a TransportID of format 00b names only the initiator device ("<iSCSI name>") and
 * then covers every port of it. Names compare without regard to case, ISIDs by value.
 */
static void
pr_name_split(const char *name, size_t *name_len, bool *has_isid, uint64_t *isid)
{
	const char *sep = strcasestr(name, PR_ISID_SEP);

	*has_isid = false;
	*isid = 0;
	if (sep == NULL) {
		*name_len = strlen(name);
		return;
	}
	*name_len = (size_t)(sep - name);
	*has_isid = true;
	*isid = strtoull(sep + strlen(PR_ISID_SEP), NULL, 16);
}

/* Does the registered name reg_name cover the initiator port port_name? */
static bool
pr_name_covers(const char *reg_name, const char *port_name)
{
	size_t rlen, plen;
	bool rhas, phas;
	uint64_t risid, pisid;

	pr_name_split(reg_name, &rlen, &rhas, &risid);
	pr_name_split(port_name, &plen, &phas, &pisid);
	if (rlen != plen || strncasecmp(reg_name, port_name, rlen) != 0) {
		return false;
	}
	if (!rhas) {
		return true;
	}
	return phas && risid == pisid;
}

/* Do two names cover a common initiator port? */
static bool
pr_names_overlap(const char *a, const char *b)
{
	return pr_name_covers(a, b) || pr_name_covers(b, a);
}

static bool
pr_reg_matches(const struct scsi_pr_registrant *reg, const struct pr_nexus *nx)
{
	if (!reg->all_tg_pt && strcmp(reg->target, nx->target) != 0) {
		return false;
	}
	return pr_name_covers(reg->initiator, nx->initiator);
}

/* The registration of an I_T nexus: an initiator port's own before one of its device. */
static struct scsi_pr_registrant *
pr_find_reg(struct scsi_pr_state *pr, const struct pr_nexus *nx)
{
	struct scsi_pr_registrant *reg, *device_reg = NULL;

	TAILQ_FOREACH (reg, &pr->registrants, link) {
		if (!pr_reg_matches(reg, nx)) {
			continue;
		}
		if (strcasestr(reg->initiator, PR_ISID_SEP) != NULL) {
			return reg;
		}
		if (device_reg == NULL) {
			device_reg = reg;
		}
	}
	return device_reg;
}

/* Would a registration of (initiator, target, all_tg_pt) cover an I_T nexus reg covers? */
static bool
pr_reg_overlaps(const struct scsi_pr_registrant *reg, const char *initiator, const char *target,
		bool all_tg_pt)
{
	if (!reg->all_tg_pt && !all_tg_pt && strcmp(reg->target, target) != 0) {
		return false;
	}
	return pr_names_overlap(reg->initiator, initiator);
}

static size_t
pr_count(struct scsi_pr_state *pr)
{
	struct scsi_pr_registrant *reg;
	size_t n = 0;

	TAILQ_FOREACH (reg, &pr->registrants, link) {
		n++;
	}
	return n;
}

/* Is reg (possibly NULL) a holder of the persistent reservation? */
static bool
pr_is_holder(const struct scsi_pr_state *pr, const struct scsi_pr_registrant *reg)
{
	if (pr->holder == NULL || reg == NULL) {
		return false;
	}
	return reg == pr->holder || pr_type_all_regs(pr->type);
}

static struct scsi_pr_registrant *
pr_reg_alloc(uint64_t key, const char *initiator, const char *target, uint16_t rel_tgt_port_id,
	     bool all_tg_pt)
{
	struct scsi_pr_registrant *reg;

	reg = calloc(1, sizeof(*reg));
	if (reg == NULL) {
		return NULL;
	}
	reg->key = key;
	keel_strlcpy(reg->initiator, initiator, sizeof(reg->initiator));
	keel_strlcpy(reg->target, all_tg_pt ? "" : target, sizeof(reg->target));
	reg->rel_tgt_port_id = rel_tgt_port_id;
	reg->all_tg_pt = all_tg_pt;
	return reg;
}

/*
 * The iSCSI TransportID (SPC-4 7.6.4.6) of a registered name: format 01b for an initiator port
 * ("name,i,0xISID"), 00b for a device. The name is NUL-terminated and padded to a multiple of
 * four bytes, at least 20. buf holds PR_TID_MAX bytes. Returns the TransportID length.
 */
static size_t
pr_transport_id(const char *name, uint8_t *buf)
{
	size_t len = strnlen(name, KEEL_SCSI_PORT_MAX_NAME);
	size_t padded = KEEL_MAX(KEEL_ALIGN_CEIL(len + 1, 4), 20);

	memset(buf, 0, 4 + padded);
	buf[0] = (strcasestr(name, PR_ISID_SEP) != NULL ? 0x40 : 0x00) | KEEL_SCSI_PROTOCOL_ISCSI;
	keel_to_be16(&buf[2], (uint16_t)padded);
	memcpy(&buf[4], name, len);
	return 4 + padded;
}

/*
 * Parse an iSCSI TransportID at p (avail bytes) into name. Returns its length, or -1 if it is
 * malformed, not iSCSI, or of a format other than 00b and 01b.
 */
static int
pr_parse_transport_id(const uint8_t *p, size_t avail, char *name, size_t name_size)
{
	uint8_t format;
	size_t len, nlen;
	const char *sep;

	if (avail < 4) {
		return -1;
	}
	format = p[0] >> 6;
	if ((p[0] & 0x0f) != KEEL_SCSI_PROTOCOL_ISCSI || format > 1) {
		return -1;
	}
	len = keel_from_be16(&p[2]);
	if (len == 0 || len % 4 != 0 || 4 + len > avail) {
		return -1;
	}
	nlen = strnlen((const char *)&p[4], len);
	if (nlen == 0 || nlen == len || nlen >= name_size) {
		return -1;
	}
	memcpy(name, &p[4], nlen);
	name[nlen] = '\0';
	sep = strcasestr(name, PR_ISID_SEP);
	if (format == 1) {
		const char *isid = sep != NULL ? sep + strlen(PR_ISID_SEP) : NULL;

		if (sep == NULL || sep == name || *isid == '\0' ||
		    strspn(isid, "0123456789abcdefABCDEF") != strlen(isid)) {
			return -1;
		}
	} else if (sep != NULL) {
		return -1;
	}
	return (int)(4 + len);
}

/*
 * APTPL: the state of a LUN in <dir>/<bdev uuid>.pr, as text lines. Names are written with
 * bytes outside printable ASCII, blanks and '%' escaped as %XX.
 */
void
keel_scsi_set_pr_dir(const char *dir)
{
	pthread_mutex_lock(&g_pr_dir_lock);
	keel_strlcpy(g_pr_dir, dir != NULL && dir[0] != '\0' ? dir : PR_DEFAULT_DIR,
		     sizeof(g_pr_dir));
	pthread_mutex_unlock(&g_pr_dir_lock);
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int
pr_mkdirs(const char *dir)
{
	char path[PATH_MAX];
	char *p;

	keel_strlcpy(path, dir, sizeof(path));
	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/') {
			continue;
		}
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			return -errno;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		return -errno;
	}
	return 0;
}

static int
pr_file_path(struct keel_scsi_lun *lun, char *path, size_t size, bool create_dir)
{
	char dir[PATH_MAX];
	char uuid[KEEL_UUID_STRING_LEN];
	int n;

	if (lun->bdev == NULL) {
		return -ENODEV;
	}
	pthread_mutex_lock(&g_pr_dir_lock);
	keel_strlcpy(dir, g_pr_dir, sizeof(dir));
	pthread_mutex_unlock(&g_pr_dir_lock);
	if (create_dir) {
		int rc = pr_mkdirs(dir);

		if (rc != 0) {
			return rc;
		}
	}
	keel_bdev_get_uuid_str(lun->bdev, uuid);
	n = snprintf(path, size, "%s/%s.pr", dir, uuid);
	if (n < 0 || (size_t)n >= size) {
		return -ENAMETOOLONG;
	}
	return 0;
}

static void
pr_escape(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || c == '%') {
			fprintf(f, "%%%02X", c);
		} else {
			fputc(c, f);
		}
	}
}

static bool
pr_unescape(const char *in, char *out, size_t size)
{
	size_t n = 0;

	if (strcmp(in, "-") == 0) {
		out[0] = '\0';
		return true;
	}
	while (*in != '\0') {
		char c = *in;

		if (c == '%') {
			unsigned int v;

			if (!isxdigit((unsigned char)in[1]) || !isxdigit((unsigned char)in[2]) ||
			    sscanf(in + 1, "%2x", &v) != 1) {
				return false;
			}
			c = (char)v;
			in += 3;
		} else {
			in++;
		}
		if (n + 1 >= size) {
			return false;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	return true;
}

/* Write the state (lock held) to f. */
static void
pr_serialize(const struct scsi_pr_state *pr, FILE *f)
{
	const struct scsi_pr_registrant *reg;
	int i = 0, holder = -1;

	fprintf(f, "%s\ngeneration %" PRIu32 "\n", PR_FILE_MAGIC, pr->generation);
	TAILQ_FOREACH (reg, &pr->registrants, link) {
		if (reg == pr->holder) {
			holder = i;
		}
		fprintf(f, "reg 0x%016" PRIx64 " %d %u ", reg->key, reg->all_tg_pt ? 1 : 0,
			reg->rel_tgt_port_id);
		pr_escape(f, reg->initiator);
		fputc(' ', f);
		if (reg->target[0] == '\0') {
			fputc('-', f);
		} else {
			pr_escape(f, reg->target);
		}
		fputc('\n', f);
		i++;
	}
	if (holder >= 0) {
		fprintf(f, "reservation %d %u\n", holder, pr->type);
	}
}

static int
pr_write_file(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX + 8];
	char dir[PATH_MAX];
	char *slash;
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		return -errno;
	}
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			rc = -errno;
			break;
		}
		data += n;
		len -= (size_t)n;
	}
	if (rc == 0 && fsync(fd) != 0) {
		rc = -errno;
	}
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0) {
		rc = -errno;
	}
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	/* Make the rename itself durable. */
	keel_strlcpy(dir, path, sizeof(dir));
	slash = strrchr(dir, '/');
	if (slash != NULL) {
		*slash = '\0';
		fd = open(dir[0] != '\0' ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	return 0;
}

/*
 * Store the LUN's state if APTPL is set, or remove its file if not. Takes the file lock, then
 * the LUN lock only to serialise, so that file I/O never holds up the I/O path.
 */
static void
pr_save(struct keel_scsi_lun *lun)
{
	char path[PATH_MAX];
	char *data = NULL;
	size_t len = 0;
	FILE *f;
	bool aptpl;
	int rc;

	if (lun->bdev == NULL) {
		return; /* nothing to name a file after */
	}
	pthread_mutex_lock(&g_pr_file_lock);
	pthread_mutex_lock(&lun->lock);
	aptpl = pr_state(lun)->aptpl;
	rc = pr_file_path(lun, path, sizeof(path), aptpl);
	if (rc == 0 && aptpl) {
		f = open_memstream(&data, &len);
		if (f == NULL) {
			rc = -ENOMEM;
		} else {
			pr_serialize(&lun->pr, f);
			if (fclose(f) != 0) {
				rc = -ENOMEM;
			}
		}
	}
	pthread_mutex_unlock(&lun->lock);

	if (rc == 0) {
		if (aptpl) {
			rc = pr_write_file(path, data, len);
		} else if (unlink(path) != 0 && errno != ENOENT) {
			rc = -errno;
		}
	}
	if (rc != 0) {
		KEEL_ERRLOG("LUN %" PRIu64 " (%s): persistent reservation file %s: %s\n", lun->id,
			    lun->bdev_name, path, keel_strerror(-rc));
	}
	free(data);
	pthread_mutex_unlock(&g_pr_file_lock);
}

static void
pr_free_all(struct scsi_pr_state *pr)
{
	struct scsi_pr_registrant *reg;

	while ((reg = TAILQ_FIRST(&pr->registrants)) != NULL) {
		TAILQ_REMOVE(&pr->registrants, reg, link);
		free(reg);
	}
	pr->holder = NULL;
	pr->type = 0;
}

/* Parse one "reg" line's fields into a new registrant. */
static struct scsi_pr_registrant *
pr_load_reg(char *fields)
{
	char *key_s, *atp_s, *rel_s, *ini_s, *tgt_s, *save = NULL;
	char initiator[KEEL_SCSI_PORT_MAX_NAME + 1], target[KEEL_SCSI_PORT_MAX_NAME + 1];
	unsigned long long key;
	unsigned long rel;
	char *end;

	key_s = strtok_r(fields, " \n", &save);
	atp_s = strtok_r(NULL, " \n", &save);
	rel_s = strtok_r(NULL, " \n", &save);
	ini_s = strtok_r(NULL, " \n", &save);
	tgt_s = strtok_r(NULL, " \n", &save);
	if (tgt_s == NULL || strtok_r(NULL, " \n", &save) != NULL) {
		return NULL;
	}
	errno = 0;
	key = strtoull(key_s, &end, 0);
	if (errno != 0 || *end != '\0' || key == 0) {
		return NULL;
	}
	rel = strtoul(rel_s, &end, 10);
	if (*end != '\0' || rel > UINT16_MAX || (strcmp(atp_s, "0") != 0 && strcmp(atp_s, "1"))) {
		return NULL;
	}
	if (!pr_unescape(ini_s, initiator, sizeof(initiator)) || initiator[0] == '\0' ||
	    !pr_unescape(tgt_s, target, sizeof(target))) {
		return NULL;
	}
	return pr_reg_alloc(key, initiator, target, (uint16_t)rel, atp_s[0] == '1');
}

/* Read the file into pr (lock held). Returns 0, -ENOENT if there is none, or -EINVAL. */
static int
pr_load_file(struct scsi_pr_state *pr, FILE *f)
{
	char line[2 * 3 * (KEEL_SCSI_PORT_MAX_NAME + 1) + 64];
	struct scsi_pr_registrant *reg;
	unsigned long holder = ULONG_MAX, type = 0, i;
	uint32_t generation = 0;
	size_t count = 0;

	if (fgets(line, sizeof(line), f) == NULL || strcmp(line, PR_FILE_MAGIC "\n") != 0) {
		return -EINVAL;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "generation ", 11) == 0) {
			generation = (uint32_t)strtoul(line + 11, NULL, 10);
		} else if (strncmp(line, "reg ", 4) == 0) {
			if (count >= SCSI_MAX_PR_REGISTRANTS) {
				return -EINVAL;
			}
			reg = pr_load_reg(line + 4);
			if (reg == NULL) {
				return -EINVAL;
			}
			TAILQ_INSERT_TAIL(&pr->registrants, reg, link);
			count++;
		} else if (strncmp(line, "reservation ", 12) == 0) {
			if (sscanf(line + 12, "%lu %lu", &holder, &type) != 2 || type > 0xf ||
			    !pr_type_valid((uint8_t)type)) {
				return -EINVAL;
			}
		} else {
			return -EINVAL;
		}
	}
	pr->generation = generation;
	pr->aptpl = true;
	if (holder != ULONG_MAX) {
		i = 0;
		TAILQ_FOREACH (reg, &pr->registrants, link) {
			if (i++ == holder) {
				pr->holder = reg;
				pr->type = (uint8_t)type;
			}
		}
		if (pr->holder == NULL) {
			return -EINVAL;
		}
	}
	return 0;
}

void
scsi_pr_load(struct keel_scsi_lun *lun)
{
	char path[PATH_MAX];
	struct scsi_pr_state *pr;
	FILE *f;
	int rc;

	pthread_mutex_lock(&lun->lock);
	pr = pr_state(lun);
	rc = pr_file_path(lun, path, sizeof(path), false);
	if (rc == 0) {
		f = fopen(path, "re");
		if (f == NULL) {
			rc = errno == ENOENT ? 0 : -errno;
		} else {
			pr_free_all(pr);
			rc = pr_load_file(pr, f);
			fclose(f);
			if (rc != 0) {
				pr_free_all(pr);
				pr->aptpl = false;
				pr->generation = 0;
			} else {
				KEEL_NOTICELOG("LUN %" PRIu64 " (%s): restored %zu persistent "
					       "reservation registrations from %s\n",
					       lun->id, lun->bdev_name, pr_count(pr), path);
			}
		}
	}
	pr_update_active(lun);
	pthread_mutex_unlock(&lun->lock);
	if (rc != 0) {
		KEEL_ERRLOG("LUN %" PRIu64 " (%s): cannot restore persistent reservations from %s: "
			    "%s\n",
			    lun->id, lun->bdev_name, path, keel_strerror(-rc));
	}
}

void
scsi_pr_lun_fini(struct keel_scsi_lun *lun)
{
	pr_free_all(pr_state(lun));
	__atomic_store_n(&lun->pr_active, false, __ATOMIC_RELEASE);
}

/*
 * SPC-2 reservations end with the nexus that made them, and on a LUN reset.
 */
void
scsi_pr_nexus_lost(struct keel_scsi_lun *lun, const char *initiator, const char *target)
{
	struct scsi_pr_state *pr;

	pthread_mutex_lock(&lun->lock);
	pr = pr_state(lun);
	if (pr->spc2_reserved && strcmp(pr->spc2_initiator, initiator) == 0 &&
	    strcmp(pr->spc2_target, target != NULL ? target : "") == 0) {
		pr->spc2_reserved = false;
		pr->spc2_initiator[0] = '\0';
		pr->spc2_target[0] = '\0';
		pr_update_active(lun);
	}
	pthread_mutex_unlock(&lun->lock);
}

void
scsi_pr_lun_reset(struct keel_scsi_lun *lun)
{
	struct scsi_pr_state *pr;

	pthread_mutex_lock(&lun->lock);
	pr = pr_state(lun);
	pr->spc2_reserved = false;
	pr->spc2_initiator[0] = '\0';
	pr->spc2_target[0] = '\0';
	pr_update_active(lun);
	pthread_mutex_unlock(&lun->lock);
}

/*
 * The conflict check (SPC-4 5.13.1 and SBC-3 4.17: the tables of commands allowed in the
 * presence of persistent reservations; SPC-2 5.5.1 for RESERVE/RELEASE reservations).
 */
static enum pr_class
pr_classify(const uint8_t *cdb)
{
	switch (cdb[0]) {
	case KEEL_SCSI_INQUIRY:
	case KEEL_SCSI_REPORT_LUNS:
	case KEEL_SCSI_REQUEST_SENSE:
	case KEEL_SCSI_TEST_UNIT_READY:
	case KEEL_SCSI_READ_CAPACITY_10:
	case KEEL_SCSI_LOG_SENSE:
	case KEEL_SCSI_PERSISTENT_RESERVE_IN:
	case KEEL_SCSI_PERSISTENT_RESERVE_OUT: /* each service action checks for itself */
	case KEEL_SCSI_RESERVE_6:              /* refused in execution while PR state exists */
	case KEEL_SCSI_RELEASE_6:
	case KEEL_SCSI_RESERVE_10:
	case KEEL_SCSI_RELEASE_10:
		return PR_CLASS_ALLOWED;
	case KEEL_SCSI_SERVICE_ACTION_IN_16:
		if ((cdb[1] & 0x1f) == KEEL_SCSI_SAI_READ_CAPACITY_16) {
			return PR_CLASS_ALLOWED;
		}
		return (cdb[1] & 0x1f) == KEEL_SCSI_SAI_GET_LBA_STATUS ? PR_CLASS_READ
								       : PR_CLASS_WRITE;
	case KEEL_SCSI_MAINTENANCE_IN:
		switch (cdb[1] & 0x1f) {
		case KEEL_SCSI_MI_REPORT_TARGET_PORT_GROUPS:
			return PR_CLASS_ALLOWED;
		case KEEL_SCSI_MI_REPORT_SUPPORTED_OPCODES:
		case KEEL_SCSI_MI_REPORT_SUPPORTED_TMFS:
			return PR_CLASS_READ;
		default:
			return PR_CLASS_WRITE;
		}
	case KEEL_SCSI_START_STOP_UNIT:
		/* START 1 with POWER CONDITION 0 is allowed; anything else changes state. */
		return (cdb[4] & 0x01) && (cdb[4] >> 4) == 0 ? PR_CLASS_ALLOWED : PR_CLASS_WRITE;
	case KEEL_SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL:
		return (cdb[4] & 0x03) == 0 ? PR_CLASS_ALLOWED : PR_CLASS_WRITE;
	case KEEL_SCSI_READ_6:
	case KEEL_SCSI_READ_10:
	case KEEL_SCSI_READ_12:
	case KEEL_SCSI_READ_16:
	case KEEL_SCSI_VERIFY_10:
	case KEEL_SCSI_VERIFY_12:
	case KEEL_SCSI_VERIFY_16:
	case KEEL_SCSI_PRE_FETCH_10:
	case KEEL_SCSI_PRE_FETCH_16:
	case KEEL_SCSI_READ_DEFECT_DATA_10:
	case KEEL_SCSI_READ_DEFECT_DATA_12:
	case KEEL_SCSI_MODE_SENSE_6:
	case KEEL_SCSI_MODE_SENSE_10:
	case KEEL_SCSI_READ_BUFFER:
	case KEEL_SCSI_RECEIVE_COPY_RESULTS:
	case KEEL_SCSI_RECEIVE_DIAGNOSTIC:
		return PR_CLASS_READ;
	default:
		/* Writes, MODE/LOG SELECT, caches, UNMAP, FORMAT, SANITIZE, EXTENDED COPY, ... */
		return PR_CLASS_WRITE;
	}
}

/* May a command of class cls from a non-holder pass a reservation of this type? */
static bool
pr_type_allows(uint8_t type, bool registered, enum pr_class cls)
{
	if (cls == PR_CLASS_ALLOWED) {
		return true;
	}
	switch (type) {
	case KEEL_SCSI_PR_WRITE_EXCLUSIVE:
		return cls == PR_CLASS_READ;
	case KEEL_SCSI_PR_WRITE_EXCLUSIVE_REGS_ONLY:
	case KEEL_SCSI_PR_WRITE_EXCLUSIVE_ALL_REGS:
		return registered || cls == PR_CLASS_READ;
	case KEEL_SCSI_PR_EXCLUSIVE_ACCESS_REGS_ONLY:
	case KEEL_SCSI_PR_EXCLUSIVE_ACCESS_ALL_REGS:
		return registered;
	case KEEL_SCSI_PR_EXCLUSIVE_ACCESS:
	default:
		return false;
	}
}

/* Commands another I_T nexus may send while an SPC-2 reservation is held. */
static bool
pr_spc2_allows(const uint8_t *cdb)
{
	switch (cdb[0]) {
	case KEEL_SCSI_INQUIRY:
	case KEEL_SCSI_REPORT_LUNS:
	case KEEL_SCSI_REQUEST_SENSE:
	case KEEL_SCSI_LOG_SENSE:
	case KEEL_SCSI_RELEASE_6: /* completes with GOOD and changes nothing */
	case KEEL_SCSI_RELEASE_10:
		return true;
	case KEEL_SCSI_PREVENT_ALLOW_MEDIUM_REMOVAL:
		return (cdb[4] & 0x03) == 0;
	case KEEL_SCSI_MAINTENANCE_IN:
		switch (cdb[1] & 0x1f) {
		case KEEL_SCSI_MI_REPORT_TARGET_PORT_GROUPS:
		case KEEL_SCSI_MI_REPORT_SUPPORTED_OPCODES:
		case KEEL_SCSI_MI_REPORT_SUPPORTED_TMFS:
			return true;
		default:
			return false;
		}
	default:
		return false;
	}
}

static bool
pr_spc2_holds(const struct scsi_pr_state *pr, const struct pr_nexus *nx)
{
	return pr->spc2_reserved && strcmp(pr->spc2_initiator, nx->initiator) == 0 &&
	       strcmp(pr->spc2_target, nx->target) == 0;
}

/* Decide with the lock held. */
static bool
pr_conflicts(struct scsi_pr_state *pr, const struct pr_nexus *nx, const uint8_t *cdb)
{
	struct scsi_pr_registrant *reg;

	if (pr->spc2_reserved) {
		/* PR IN/OUT conflict with an SPC-2 reservation, even its holder's. */
		if (cdb[0] == KEEL_SCSI_PERSISTENT_RESERVE_IN ||
		    cdb[0] == KEEL_SCSI_PERSISTENT_RESERVE_OUT) {
			return true;
		}
		return !pr_spc2_holds(pr, nx) && !pr_spc2_allows(cdb);
	}
	if (pr->holder == NULL) {
		return false;
	}
	reg = pr_find_reg(pr, nx);
	if (pr_is_holder(pr, reg)) {
		return false;
	}
	return !pr_type_allows(pr->type, reg != NULL, pr_classify(cdb));
}

int
scsi_pr_check(struct keel_scsi_task *task)
{
	struct keel_scsi_lun *lun = pr_task_lun(task);
	struct pr_nexus nx;
	bool conflict;

	if (lun == NULL || !__atomic_load_n(&lun->pr_active, __ATOMIC_ACQUIRE)) {
		return 0;
	}
	pr_nexus_of(task, &nx);
	pthread_mutex_lock(&lun->lock);
	conflict = pr_conflicts(pr_state(lun), &nx, task->cdb);
	pthread_mutex_unlock(&lun->lock);
	if (conflict) {
		pr_conflict(task);
		return -EACCES;
	}
	return 0;
}

/*
 * RESERVE(6/10) and RELEASE(6/10) (SPC-2 7.21, 7.13). Third-party reservations are not
 * supported. With persistent reservation state present they conflict (SPC-4 5.13.3; keel
 * reports CRH 0).
 */
static void
pr_spc2_execute(struct keel_scsi_task *task, struct keel_scsi_lun *lun, bool reserve)
{
	struct scsi_pr_state *pr;
	struct pr_nexus nx;

	/* Byte 1: 3RDPTY (bit 4), LONGID (bit 1 of the 10-byte form), the rest reserved or
	 * obsolete extent bits: any of them set asks for what keel does not do. */
	if (task->cdb[1] & 0x1f) {
		scsi_task_invalid_field(task, 1, (task->cdb[1] & 0x10) ? 4 : -1);
		return;
	}
	pr_nexus_of(task, &nx);
	pthread_mutex_lock(&lun->lock);
	pr = pr_state(lun);
	if (!TAILQ_EMPTY(&pr->registrants) || pr->holder != NULL) {
		pr_conflict(task);
	} else if (reserve) {
		if (pr->spc2_reserved && !pr_spc2_holds(pr, &nx)) {
			pr_conflict(task);
		} else {
			pr->spc2_reserved = true;
			keel_strlcpy(pr->spc2_initiator, nx.initiator, sizeof(pr->spc2_initiator));
			keel_strlcpy(pr->spc2_target, nx.target, sizeof(pr->spc2_target));
			pr_good(task);
		}
	} else {
		if (pr_spc2_holds(pr, &nx)) {
			pr->spc2_reserved = false;
			pr->spc2_initiator[0] = '\0';
			pr->spc2_target[0] = '\0';
		}
		pr_good(task);
	}
	pr_update_active(lun);
	pthread_mutex_unlock(&lun->lock);
}

/*
 * PERSISTENT RESERVE IN (SPC-4 6.15).
 */
static size_t
pr_in_read_keys(struct scsi_pr_state *pr, uint8_t *buf)
{
	struct scsi_pr_registrant *reg;
	size_t off = 8;

	keel_to_be32(&buf[0], pr->generation);
	TAILQ_FOREACH (reg, &pr->registrants, link) {
		keel_to_be64(&buf[off], reg->key);
		off += 8;
	}
	keel_to_be32(&buf[4], (uint32_t)(off - 8));
	return off;
}

static size_t
pr_in_read_reservation(struct scsi_pr_state *pr, uint8_t *buf)
{
	keel_to_be32(&buf[0], pr->generation);
	if (pr->holder == NULL) {
		keel_to_be32(&buf[4], 0);
		return 8;
	}
	keel_to_be32(&buf[4], 16);
	memset(&buf[8], 0, 16);
	/* All-registrants reservations report a key of zero (SPC-4 6.15.3.3). */
	keel_to_be64(&buf[8], pr_type_all_regs(pr->type) ? 0 : pr->holder->key);
	buf[21] = (uint8_t)(PR_SCOPE_LU << 4 | pr->type);
	return 24;
}

static size_t
pr_in_report_capabilities(struct scsi_pr_state *pr, uint8_t *buf)
{
	memset(buf, 0, 8);
	keel_to_be16(&buf[0], 8);
	buf[2] = PR_CAP_SIP_C | PR_CAP_ATP_C | PR_CAP_PTPL_C; /* CRH 0 */
	buf[3] = PR_CAP_TMV | PR_CAP_ALLOW_COMMANDS | (pr->aptpl ? PR_CAP_PTPL_A : 0);
	/* Type mask: WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX; then EX_AC_AR. */
	buf[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;
	buf[5] = 0x01;
	return 8;
}

static size_t
pr_in_read_full_status(struct scsi_pr_state *pr, uint8_t *buf)
{
	struct scsi_pr_registrant *reg;
	size_t off = 8, tid_len;
	uint8_t *d;

	keel_to_be32(&buf[0], pr->generation);
	TAILQ_FOREACH (reg, &pr->registrants, link) {
		d = &buf[off];
		memset(d, 0, 24);
		keel_to_be64(&d[0], reg->key);
		d[12] = (reg->all_tg_pt ? 0x02 : 0) | (pr_is_holder(pr, reg) ? 0x01 : 0);
		if (pr_is_holder(pr, reg)) {
			d[13] = (uint8_t)(PR_SCOPE_LU << 4 | pr->type);
		}
		keel_to_be16(&d[18], reg->all_tg_pt ? 0 : reg->rel_tgt_port_id);
		tid_len = pr_transport_id(reg->initiator, &d[24]);
		keel_to_be32(&d[20], (uint32_t)tid_len);
		off += 24 + tid_len;
	}
	keel_to_be32(&buf[4], (uint32_t)(off - 8));
	return off;
}

static void
pr_in_execute(struct keel_scsi_task *task, struct keel_scsi_lun *lun)
{
	const uint8_t *cdb = task->cdb;
	struct scsi_pr_state *pr;
	struct pr_nexus nx;
	uint8_t sa = cdb[1] & 0x1f;
	uint16_t alloc_len = keel_from_be16(&cdb[7]);
	uint8_t *buf;
	size_t len = 0;
	int i;

	if (cdb[1] & 0xe0) {
		scsi_task_invalid_field(task, 1, 7);
		return;
	}
	for (i = 2; i <= 6; i++) {
		if (cdb[i] != 0) {
			scsi_task_invalid_field(task, i, -1);
			return;
		}
	}
	if (sa > KEEL_SCSI_PR_IN_READ_FULL_STATUS) {
		scsi_task_invalid_field(task, 1, 4);
		return;
	}
	buf = malloc(8 + SCSI_MAX_PR_REGISTRANTS * (24 + PR_TID_MAX));
	if (buf == NULL) {
		pr_busy(task);
		return;
	}
	pr_nexus_of(task, &nx);
	pthread_mutex_lock(&lun->lock);
	pr = pr_state(lun);
	if (pr->spc2_reserved) {
		pr_conflict(task);
	} else {
		switch (sa) {
		case KEEL_SCSI_PR_IN_READ_KEYS:
			len = pr_in_read_keys(pr, buf);
			break;
		case KEEL_SCSI_PR_IN_READ_RESERVATION:
			len = pr_in_read_reservation(pr, buf);
			break;
		case KEEL_SCSI_PR_IN_REPORT_CAPABILITIES:
			len = pr_in_report_capabilities(pr, buf);
			break;
		default:
			len = pr_in_read_full_status(pr, buf);
			break;
		}
	}
	pthread_mutex_unlock(&lun->lock);
	if (len > 0) {
		pr_good(task);
		scsi_task_scatter(task, buf, (uint32_t)KEEL_MIN(len, (size_t)alloc_len));
	}
	free(buf);
}

/*
 * PERSISTENT RESERVE OUT (SPC-4 5.13, 6.16). The handlers below run with lun->lock held, set
 * the task's status, and record in the pr_out what to do once the lock is dropped.
 */
static void
pr_note(struct pr_out *po, const char *initiator, uint16_t asc_ascq)
{
	size_t i;

	/* Unit attentions go to initiator ports; the sender's own port gets none. */
	if (strcasestr(initiator, PR_ISID_SEP) == NULL ||
	    strcasecmp(initiator, po->nx.initiator) == 0) {
		return;
	}
	if (po->notes == NULL) {
		po->notes = calloc(2 * SCSI_MAX_PR_REGISTRANTS, sizeof(*po->notes));
		if (po->notes == NULL) {
			return;
		}
	}
	for (i = 0; i < po->num_notes; i++) {
		if (po->notes[i].asc_ascq == asc_ascq &&
		    strcmp(po->notes[i].initiator, initiator) == 0) {
			return;
		}
	}
	if (po->num_notes < 2 * SCSI_MAX_PR_REGISTRANTS) {
		po->notes[po->num_notes].asc_ascq = asc_ascq;
		keel_strlcpy(po->notes[po->num_notes].initiator, initiator,
			     sizeof(po->notes[0].initiator));
		po->num_notes++;
	}
}

/* RESERVATIONS RELEASED to every registrant but the sender (and but `except`, if given). */
static void
pr_note_released(struct pr_out *po, struct scsi_pr_state *pr,
		 const struct scsi_pr_registrant *except)
{
	struct scsi_pr_registrant *reg;

	TAILQ_FOREACH (reg, &pr->registrants, link) {
		if (reg != except) {
			pr_note(po, reg->initiator, KEEL_SCSI_ASC_RESERVATIONS_RELEASED);
		}
	}
}

static void
pr_release_reservation(struct scsi_pr_state *pr)
{
	pr->holder = NULL;
	pr->type = 0;
}

/*
 * Remove a registration. If it held the reservation: an all-registrants reservation passes to
 * another registrant, or ends with the last one; any other ends, and for registrants-only types
 * the other registrants learn so (SPC-4 5.13.11.2.3).
 */
static void
pr_unregister(struct pr_out *po, struct scsi_pr_state *pr, struct scsi_pr_registrant *reg)
{
	TAILQ_REMOVE(&pr->registrants, reg, link);
	TAILQ_INSERT_TAIL(&po->removed, reg, link);
	if (pr->holder != reg) {
		return;
	}
	if (pr_type_all_regs(pr->type)) {
		pr->holder = TAILQ_FIRST(&pr->registrants);
		if (pr->holder == NULL) {
			pr->type = 0;
		}
		return;
	}
	if (pr_type_regs_only(pr->type)) {
		pr_note_released(po, pr, NULL);
	}
	pr_release_reservation(pr);
}

/* Parse the SPEC_I_PT TransportIDs into new registrations on the list `out`. */
static bool
pr_spec_i_pt_parse(struct pr_out *po, struct scsi_pr_state *pr, size_t room,
		   struct pr_reg_list *out)
{
	char name[KEEL_SCSI_PORT_MAX_NAME + 1];
	struct scsi_pr_registrant *reg, *other;
	uint32_t tid_len = keel_from_be32(&po->param[24]);
	size_t off = 28, end = 28 + (size_t)tid_len, n = 0;
	int len;

	while (off < end) {
		len = pr_parse_transport_id(&po->param[off], end - off, name, sizeof(name));
		if (len < 0) {
			pr_invalid_param(po->task, (int)off, -1);
			return false;
		}
		off += (size_t)len;
		/* The sender is registered anyway; a repeated TransportID counts once. */
		if (pr_names_overlap(name, po->nx.initiator) &&
		    strcasestr(name, PR_ISID_SEP) != NULL) {
			continue;
		}
		TAILQ_FOREACH (other, out, link) {
			if (strcasecmp(other->initiator, name) == 0) {
				break;
			}
		}
		if (other != NULL) {
			continue;
		}
		TAILQ_FOREACH (other, &pr->registrants, link) {
			if (pr_reg_overlaps(other, name, po->nx.target, po->all_tg_pt)) {
				pr_conflict(po->task);
				return false;
			}
		}
		if (++n > room) {
			pr_illegal(po->task, KEEL_SCSI_ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
			return false;
		}
		reg = pr_reg_alloc(po->sa_key, name, po->nx.target, po->nx.rel_tgt_port_id,
				   po->all_tg_pt);
		if (reg == NULL) {
			pr_illegal(po->task, KEEL_SCSI_ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
			return false;
		}
		TAILQ_INSERT_TAIL(out, reg, link);
	}
	return true;
}

/* REGISTER / REGISTER AND IGNORE EXISTING KEY from a nexus that is not registered. */
static void
pr_register_new(struct pr_out *po, struct scsi_pr_state *pr)
{
	struct pr_reg_list regs = TAILQ_HEAD_INITIALIZER(regs);
	struct scsi_pr_registrant *reg, *other;
	size_t count = pr_count(pr);

	if (po->sa == KEEL_SCSI_PR_OUT_REGISTER && po->key != 0) {
		pr_conflict(po->task);
		return;
	}
	if (po->sa_key == 0) {
		pr_good(po->task); /* nothing to register, nothing done */
		return;
	}
	/* With ALL_TG_PT the new registration must not cover an existing one's nexus. */
	TAILQ_FOREACH (other, &pr->registrants, link) {
		if (pr_reg_overlaps(other, po->nx.initiator, po->nx.target, po->all_tg_pt)) {
			pr_conflict(po->task);
			return;
		}
	}
	if (count >= SCSI_MAX_PR_REGISTRANTS) {
		pr_illegal(po->task, KEEL_SCSI_ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
		return;
	}
	reg = pr_reg_alloc(po->sa_key, po->nx.initiator, po->nx.target, po->nx.rel_tgt_port_id,
			   po->all_tg_pt);
	if (reg == NULL) {
		pr_illegal(po->task, KEEL_SCSI_ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
		return;
	}
	TAILQ_INSERT_TAIL(&regs, reg, link);
	if (po->spec_i_pt &&
	    !pr_spec_i_pt_parse(po, pr, SCSI_MAX_PR_REGISTRANTS - count - 1, &regs)) {
		while ((reg = TAILQ_FIRST(&regs)) != NULL) {
			TAILQ_REMOVE(&regs, reg, link);
			free(reg);
		}
		return;
	}
	while ((reg = TAILQ_FIRST(&regs)) != NULL) {
		TAILQ_REMOVE(&regs, reg, link);
		TAILQ_INSERT_TAIL(&pr->registrants, reg, link);
	}
	pr->generation++;
	pr->aptpl = po->aptpl;
	po->save = true;
	pr_good(po->task);
}

static void
pr_register(struct pr_out *po, struct scsi_pr_state *pr)
{
	if (po->reg == NULL) {
		pr_register_new(po, pr);
		return;
	}
	if (po->sa == KEEL_SCSI_PR_OUT_REGISTER && po->key != po->reg->key) {
		pr_conflict(po->task);
		return;
	}
	if (po->spec_i_pt) {
		/* SPEC_I_PT is only for a nexus that is not registered yet (SPC-4 5.13.7). */
		pr_invalid_param(po->task, 20, 3);
		return;
	}
	if (po->sa_key == 0) {
		pr_unregister(po, pr, po->reg);
	} else {
		po->reg->key = po->sa_key;
	}
	pr->generation++;
	pr->aptpl = po->aptpl;
	po->save = true;
	pr_good(po->task);
}

static void
pr_reserve(struct pr_out *po, struct scsi_pr_state *pr)
{
	if (po->reg == NULL || po->key != po->reg->key) {
		pr_conflict(po->task);
		return;
	}
	if (po->scope != PR_SCOPE_LU) {
		scsi_task_invalid_field(po->task, 2, 7);
		return;
	}
	if (!pr_type_valid(po->type)) {
		scsi_task_invalid_field(po->task, 2, 3);
		return;
	}
	if (pr->holder == NULL) {
		pr->holder = po->reg;
		pr->type = po->type;
		po->save = true;
		pr_good(po->task);
	} else if (pr_is_holder(pr, po->reg) && pr->type == po->type) {
		pr_good(po->task); /* the same reservation again */
	} else {
		pr_conflict(po->task);
	}
}

static void
pr_release(struct pr_out *po, struct scsi_pr_state *pr)
{
	uint8_t type = pr->type;

	if (po->reg == NULL || po->key != po->reg->key) {
		pr_conflict(po->task);
		return;
	}
	if (!pr_is_holder(pr, po->reg)) {
		pr_good(po->task); /* no reservation, or someone else's: nothing happens */
		return;
	}
	if (po->scope != PR_SCOPE_LU || po->type != type) {
		pr_illegal(po->task, KEEL_SCSI_ASC_INVALID_RELEASE_OF_PR);
		return;
	}
	pr_release_reservation(pr);
	if (pr_type_regs_only(type) || pr_type_all_regs(type)) {
		pr_note_released(po, pr, po->reg);
	}
	po->save = true;
	pr_good(po->task);
}

static void
pr_clear(struct pr_out *po, struct scsi_pr_state *pr)
{
	struct scsi_pr_registrant *reg;

	if (po->reg == NULL || po->key != po->reg->key) {
		pr_conflict(po->task);
		return;
	}
	pr_release_reservation(pr);
	while ((reg = TAILQ_FIRST(&pr->registrants)) != NULL) {
		pr_note(po, reg->initiator, KEEL_SCSI_ASC_RESERVATIONS_PREEMPTED);
		TAILQ_REMOVE(&pr->registrants, reg, link);
		TAILQ_INSERT_TAIL(&po->removed, reg, link);
	}
	pr->generation++;
	po->save = true;
	pr_good(po->task);
}

/* Remove every registration with key `key` (but the sender's); returns how many went. */
static size_t
pr_preempt_key(struct pr_out *po, struct scsi_pr_state *pr, uint64_t key)
{
	struct scsi_pr_registrant *reg, *tmp;
	size_t n = 0;

	TAILQ_FOREACH_SAFE (reg, &pr->registrants, link, tmp) {
		if (reg->key != key || reg == po->reg) {
			continue;
		}
		pr_note(po, reg->initiator, KEEL_SCSI_ASC_REGISTRATIONS_PREEMPTED);
		TAILQ_REMOVE(&pr->registrants, reg, link);
		TAILQ_INSERT_TAIL(&po->removed, reg, link);
		if (pr->holder == reg) {
			pr->holder = TAILQ_FIRST(&pr->registrants);
		}
		n++;
	}
	return n;
}

/* A preemption that creates a reservation needs a valid scope and type in the CDB. */
static bool
pr_preempt_cdb_valid(struct pr_out *po)
{
	if (po->scope != PR_SCOPE_LU) {
		scsi_task_invalid_field(po->task, 2, 7);
		return false;
	}
	if (!pr_type_valid(po->type)) {
		scsi_task_invalid_field(po->task, 2, 3);
		return false;
	}
	return true;
}

static void
pr_preempt(struct pr_out *po, struct scsi_pr_state *pr)
{
	struct scsi_pr_registrant *reg, *tmp;
	uint8_t old_type = pr->type;

	if (po->reg == NULL || po->key != po->reg->key) {
		pr_conflict(po->task);
		return;
	}
	po->abort = po->sa == KEEL_SCSI_PR_OUT_PREEMPT_AND_ABORT;
	if (pr->holder != NULL && pr_type_all_regs(pr->type) && po->sa_key == 0) {
		/* All-registrants reservation preempted: only the sender stays. */
		if (!pr_preempt_cdb_valid(po)) {
			return;
		}
		TAILQ_FOREACH_SAFE (reg, &pr->registrants, link, tmp) {
			if (reg != po->reg) {
				pr_note(po, reg->initiator, KEEL_SCSI_ASC_REGISTRATIONS_PREEMPTED);
				TAILQ_REMOVE(&pr->registrants, reg, link);
				TAILQ_INSERT_TAIL(&po->removed, reg, link);
			}
		}
		pr->holder = po->reg;
		pr->type = po->type;
	} else if (pr->holder != NULL && !pr_type_all_regs(pr->type) &&
		   po->sa_key == pr->holder->key) {
		/* The holder's key: remove those registrations, move the reservation. */
		if (!pr_preempt_cdb_valid(po)) {
			return;
		}
		pr_preempt_key(po, pr, po->sa_key);
		pr->holder = po->reg;
		pr->type = po->type;
		if (old_type != po->type) {
			pr_note_released(po, pr, po->reg);
		}
	} else {
		/* No reservation, or another key: only registrations are preempted. */
		if (po->sa_key == 0) {
			pr_invalid_param(po->task, 8, -1);
			return;
		}
		if (pr_preempt_key(po, pr, po->sa_key) == 0) {
			pr_conflict(po->task);
			return;
		}
	}
	pr->generation++;
	po->save = true;
	pr_good(po->task);
}

/* The name of the target port with relative id rel_id, into name. */
static bool
pr_target_port_name(struct keel_scsi_dev *dev, uint16_t rel_id, char *name, size_t size)
{
	bool found = false;
	int i;

	if (dev == NULL) {
		return false;
	}
	pthread_mutex_lock(&dev->lock);
	for (i = 0; i < dev->num_ports; i++) {
		if (dev->ports[i].index == rel_id) {
			keel_strlcpy(name, dev->ports[i].name, size);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&dev->lock);
	return found;
}

/*
 * REGISTER AND MOVE (SPC-4 5.13.8): register the I_T nexus named by the TransportID and the
 * relative target port id, and move the reservation to it. dst_target was looked up before the
 * LUN lock was taken ("" if there is no such port).
 */
static void
pr_register_and_move(struct pr_out *po, struct scsi_pr_state *pr, const char *dst_target)
{
	char name[KEEL_SCSI_PORT_MAX_NAME + 1];
	struct pr_nexus dst;
	struct scsi_pr_registrant *dreg;
	uint32_t tid_len = keel_from_be32(&po->param[20]);
	bool unreg = po->param[17] & 0x02;

	if (po->reg == NULL || po->key != po->reg->key || pr->holder == NULL ||
	    pr_type_all_regs(pr->type) || !pr_is_holder(pr, po->reg)) {
		pr_conflict(po->task);
		return;
	}
	if (po->sa_key == 0) {
		pr_invalid_param(po->task, 8, -1);
		return;
	}
	if (pr_parse_transport_id(&po->param[24], tid_len, name, sizeof(name)) < 0 ||
	    strcasestr(name, PR_ISID_SEP) == NULL) {
		pr_invalid_param(po->task, 24, -1);
		return;
	}
	if (dst_target[0] == '\0') {
		pr_invalid_param(po->task, 18, -1);
		return;
	}
	dst.initiator = name;
	dst.target = dst_target;
	dst.rel_tgt_port_id = keel_from_be16(&po->param[18]);
	if (pr_reg_matches(po->reg, &dst)) {
		/* Moving to the sender's own nexus. */
		pr_invalid_param(po->task, 24, -1);
		return;
	}
	dreg = pr_find_reg(pr, &dst);
	if (dreg == NULL) {
		if (pr_count(pr) >= SCSI_MAX_PR_REGISTRANTS) {
			pr_illegal(po->task, KEEL_SCSI_ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
			return;
		}
		dreg = pr_reg_alloc(po->sa_key, name, dst_target, dst.rel_tgt_port_id, false);
		if (dreg == NULL) {
			pr_illegal(po->task, KEEL_SCSI_ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
			return;
		}
		TAILQ_INSERT_TAIL(&pr->registrants, dreg, link);
	} else {
		dreg->key = po->sa_key;
	}
	pr->holder = dreg;
	if (unreg) {
		TAILQ_REMOVE(&pr->registrants, po->reg, link);
		TAILQ_INSERT_TAIL(&po->removed, po->reg, link);
		po->reg = NULL;
	}
	pr->generation++;
	pr->aptpl = po->param[17] & 0x01;
	po->save = true;
	pr_good(po->task);
}

/* Check the CDB and the parameter list's length and fields that do not depend on the state.
 * Returns false (the task's status set) if the command must end here. */
static bool
pr_out_parse(struct pr_out *po)
{
	const uint8_t *p = po->param;
	uint32_t tid_len;

	if (po->sa == KEEL_SCSI_PR_OUT_REG_AND_MOVE) {
		if (po->param_len < 24 || 24 + (uint64_t)keel_from_be32(&p[20]) > po->param_len) {
			pr_illegal(po->task, KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
			return false;
		}
		po->key = keel_from_be64(&p[0]);
		po->sa_key = keel_from_be64(&p[8]);
		return true;
	}
	if (po->param_len < 24) {
		pr_illegal(po->task, KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		return false;
	}
	po->key = keel_from_be64(&p[0]);
	po->sa_key = keel_from_be64(&p[8]);
	po->spec_i_pt = p[20] & 0x08;
	po->all_tg_pt = p[20] & 0x04;
	po->aptpl = p[20] & 0x01;
	if (!po->spec_i_pt) {
		if (po->param_len != 24) {
			pr_illegal(po->task, KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
			return false;
		}
	} else {
		if (po->sa != KEEL_SCSI_PR_OUT_REGISTER) {
			pr_invalid_param(po->task, 20, 3);
			return false;
		}
		tid_len = po->param_len >= 28 ? keel_from_be32(&p[24]) : 0;
		if (po->param_len < 28 || 28 + (uint64_t)tid_len > po->param_len) {
			pr_illegal(po->task, KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
			return false;
		}
	}
	/* ALL_TG_PT and APTPL mean something only to the registering actions. */
	if (po->sa != KEEL_SCSI_PR_OUT_REGISTER && po->sa != KEEL_SCSI_PR_OUT_REG_AND_IGNORE_KEY) {
		po->all_tg_pt = false;
	}
	return true;
}

static void
pr_abort_done(void *ctx)
{
	struct pr_out *po = ctx;

	if (__atomic_sub_fetch(&po->aborts_pending, 1, __ATOMIC_ACQ_REL) == 0) {
		scsi_task_complete(po->task);
		free(po);
	}
}

/* After the lock: unit attentions, the APTPL file, aborts, then completion. */
static void
pr_out_finish(struct pr_out *po)
{
	struct scsi_pr_registrant *reg, *other;
	size_t i;

	for (i = 0; i < po->num_notes; i++) {
		scsi_lun_queue_ua(po->lun, po->notes[i].initiator, NULL, po->notes[i].asc_ascq);
	}
	free(po->notes);
	po->notes = NULL;
	if (po->save) {
		pr_save(po->lun);
	}
	po->aborts_pending = 1;
	TAILQ_FOREACH (reg, &po->removed, link) {
		if (!po->abort || strcasestr(reg->initiator, PR_ISID_SEP) == NULL ||
		    strcmp(reg->initiator, po->nx.initiator) == 0) {
			continue; /* the sender's own tasks include this command */
		}
		for (other = TAILQ_FIRST(&po->removed); other != reg;
		     other = TAILQ_NEXT(other, link)) {
			if (strcmp(other->initiator, reg->initiator) == 0) {
				break;
			}
		}
		if (other != reg) {
			continue; /* that initiator's tasks are being aborted already */
		}
		__atomic_add_fetch(&po->aborts_pending, 1, __ATOMIC_ACQ_REL);
		scsi_lun_abort_all(po->lun, reg->initiator, pr_abort_done, po);
	}
	while ((reg = TAILQ_FIRST(&po->removed)) != NULL) {
		TAILQ_REMOVE(&po->removed, reg, link);
		free(reg);
	}
	pr_abort_done(po);
}

static void
pr_out_execute(struct keel_scsi_task *task, struct keel_scsi_lun *lun)
{
	const uint8_t *cdb = task->cdb;
	char dst_target[KEEL_SCSI_PORT_MAX_NAME + 1] = "";
	struct scsi_pr_state *pr;
	struct pr_out *po;
	uint8_t *param = NULL;
	uint32_t param_len = keel_from_be32(&cdb[5]);

	if (cdb[1] & 0xe0) {
		scsi_task_invalid_field(task, 1, 7);
		goto complete;
	}
	if (cdb[3] != 0 || cdb[4] != 0) {
		scsi_task_invalid_field(task, cdb[3] != 0 ? 3 : 4, -1);
		goto complete;
	}
	if ((cdb[1] & 0x1f) > KEEL_SCSI_PR_OUT_REG_AND_MOVE) {
		scsi_task_invalid_field(task, 1, 4);
		goto complete;
	}
	if (param_len > PR_OUT_MAX_PARAM_LEN) {
		pr_illegal(task, KEEL_SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR);
		goto complete;
	}
	po = calloc(1, sizeof(*po));
	param = malloc(KEEL_MAX(param_len, 28u));
	if (po == NULL || param == NULL) {
		free(po);
		pr_busy(task);
		goto complete;
	}
	po->task = task;
	po->lun = lun;
	pr_nexus_of(task, &po->nx);
	TAILQ_INIT(&po->removed);
	po->sa = cdb[1] & 0x1f;
	po->scope = cdb[2] >> 4;
	po->type = cdb[2] & 0x0f;
	po->param = param;
	/* Fewer bytes sent than the CDB announces make the list short. */
	po->param_len = param_len > 0 ? scsi_task_gather(task, param, param_len) : 0;
	if (!pr_out_parse(po)) {
		free(po);
		goto complete;
	}
	if (po->sa == KEEL_SCSI_PR_OUT_REG_AND_MOVE &&
	    !pr_target_port_name(lun->dev, keel_from_be16(&param[18]), dst_target,
				 sizeof(dst_target))) {
		dst_target[0] = '\0';
	}

	pthread_mutex_lock(&lun->lock);
	pr = pr_state(lun);
	po->reg = pr_find_reg(pr, &po->nx);
	if (pr->spc2_reserved) {
		pr_conflict(task);
	} else {
		switch (po->sa) {
		case KEEL_SCSI_PR_OUT_REGISTER:
		case KEEL_SCSI_PR_OUT_REG_AND_IGNORE_KEY:
			pr_register(po, pr);
			break;
		case KEEL_SCSI_PR_OUT_RESERVE:
			pr_reserve(po, pr);
			break;
		case KEEL_SCSI_PR_OUT_RELEASE:
			pr_release(po, pr);
			break;
		case KEEL_SCSI_PR_OUT_CLEAR:
			pr_clear(po, pr);
			break;
		case KEEL_SCSI_PR_OUT_PREEMPT:
		case KEEL_SCSI_PR_OUT_PREEMPT_AND_ABORT:
			pr_preempt(po, pr);
			break;
		default:
			pr_register_and_move(po, pr, dst_target);
			break;
		}
	}
	pr_update_active(lun);
	pthread_mutex_unlock(&lun->lock);
	KEEL_INFOLOG(scsi,
		     "LUN %" PRIu64 ": PERSISTENT RESERVE OUT %u from %s via %s: status "
		     "0x%02x\n",
		     lun->id, po->sa, po->nx.initiator, po->nx.target, task->status);

	free(param);
	pr_out_finish(po); /* completes the task */
	return;

complete:
	free(param);
	scsi_task_complete(task);
}

bool
scsi_pr_execute(struct keel_scsi_task *task)
{
	struct keel_scsi_lun *lun = pr_task_lun(task);

	switch (task->cdb[0]) {
	case KEEL_SCSI_PERSISTENT_RESERVE_IN:
	case KEEL_SCSI_PERSISTENT_RESERVE_OUT:
	case KEEL_SCSI_RESERVE_6:
	case KEEL_SCSI_RELEASE_6:
	case KEEL_SCSI_RESERVE_10:
	case KEEL_SCSI_RELEASE_10:
		break;
	default:
		return false;
	}
	if (lun == NULL) {
		return false;
	}
	switch (task->cdb[0]) {
	case KEEL_SCSI_PERSISTENT_RESERVE_IN:
		pr_in_execute(task, lun);
		break;
	case KEEL_SCSI_PERSISTENT_RESERVE_OUT:
		pr_out_execute(task, lun);
		return true; /* completes the task itself, possibly after aborts */
	case KEEL_SCSI_RESERVE_6:
	case KEEL_SCSI_RESERVE_10:
		pr_spc2_execute(task, lun, true);
		break;
	default:
		pr_spc2_execute(task, lun, false);
		break;
	}
	scsi_task_complete(task);
	return true;
}

/*
 * REPORT SUPPORTED OPERATION CODES rows (SPC-4 6.35): the CDB usage bitmaps say which bits
 * keel looks at.
 */
#define PR_CONTROL_USAGE 0x00
#define PR_ROW(op, sa_, has, len, ...)                                                             \
	{                                                                                          \
		.opcode = (op), .service_action = (sa_), .has_sa = (has), .cdb_len = (len),        \
		.usage = {                                                                         \
			__VA_ARGS__                                                                \
		}                                                                                  \
	}
#define PR_IN_ROW(sa_)                                                                             \
	PR_ROW(KEEL_SCSI_PERSISTENT_RESERVE_IN, sa_, true, 10, 0x5e, 0x1f, 0x00, 0x00, 0x00, 0x00, \
	       0x00, 0xff, 0xff, PR_CONTROL_USAGE)
#define PR_OUT_ROW(sa_)                                                                            \
	PR_ROW(KEEL_SCSI_PERSISTENT_RESERVE_OUT, sa_, true, 10, 0x5f, 0x1f, 0xff, 0x00, 0x00,      \
	       0xff, 0xff, 0xff, 0xff, PR_CONTROL_USAGE)

static const struct scsi_opcode_info g_pr_opcodes[] = {
	PR_ROW(KEEL_SCSI_RESERVE_6, 0, false, 6, 0x16, 0x00, 0x00, 0x00, 0x00, PR_CONTROL_USAGE),
	PR_ROW(KEEL_SCSI_RELEASE_6, 0, false, 6, 0x17, 0x00, 0x00, 0x00, 0x00, PR_CONTROL_USAGE),
	PR_ROW(KEEL_SCSI_RESERVE_10, 0, false, 10, 0x56, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	       0x00, PR_CONTROL_USAGE),
	PR_ROW(KEEL_SCSI_RELEASE_10, 0, false, 10, 0x57, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	       0x00, PR_CONTROL_USAGE),
	PR_IN_ROW(KEEL_SCSI_PR_IN_READ_KEYS),
	PR_IN_ROW(KEEL_SCSI_PR_IN_READ_RESERVATION),
	PR_IN_ROW(KEEL_SCSI_PR_IN_REPORT_CAPABILITIES),
	PR_IN_ROW(KEEL_SCSI_PR_IN_READ_FULL_STATUS),
	PR_OUT_ROW(KEEL_SCSI_PR_OUT_REGISTER),
	PR_OUT_ROW(KEEL_SCSI_PR_OUT_RESERVE),
	PR_OUT_ROW(KEEL_SCSI_PR_OUT_RELEASE),
	PR_OUT_ROW(KEEL_SCSI_PR_OUT_CLEAR),
	PR_OUT_ROW(KEEL_SCSI_PR_OUT_PREEMPT),
	PR_OUT_ROW(KEEL_SCSI_PR_OUT_PREEMPT_AND_ABORT),
	PR_OUT_ROW(KEEL_SCSI_PR_OUT_REG_AND_IGNORE_KEY),
	PR_OUT_ROW(KEEL_SCSI_PR_OUT_REG_AND_MOVE),
};

size_t
scsi_pr_opcodes(const struct scsi_opcode_info **rows)
{
	*rows = g_pr_opcodes;
	return KEEL_COUNTOF(g_pr_opcodes);
}
