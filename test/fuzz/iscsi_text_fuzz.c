/*
 * Fuzz target for iSCSI text keys (lib/iscsi): the input is the data segment of a Login or Text
 * Request ("key=value\0..."). It goes through iscsi_text_parse() and the login's key collection
 * (iscsi_params_collect(), twice, as two requests of one login); every value is read as a
 * number and as a CHAP binary value. Pairs that parse are written back with iscsi_text_append()
 * and must parse again to the same pairs.
 */
#include "keel/stdinc.h"

#include "iscsi/iscsi_internal.h"
#include "iscsi/login_internal.h"
#include "fuzz_common.h"

/* Most pairs kept for the round trip; more are only parsed. */
#define FUZZ_MAX_PAIRS 256

struct pairs {
	char *keys[FUZZ_MAX_PAIRS];
	char *values[FUZZ_MAX_PAIRS];
	unsigned int n;
	unsigned int seen;
	bool differ;
};

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_setup_log();
	return 0;
}

/* Each value as the login code reads it: a number, or a CHAP binary value. */
static void
read_value(const char *value)
{
	uint8_t bin[1024];
	uint64_t num;
	size_t len = 0;

	(void)iscsi_text_parse_number(value, &num);
	if (iscsi_chap_decode(value, bin, sizeof(bin), &len) == 0) {
		FUZZ_CHECK(len <= sizeof(bin));
	}
}

static int
keep_pair(void *ctx, const char *key, const char *value)
{
	struct pairs *p = ctx;

	FUZZ_CHECK(key[0] != '\0' && strlen(key) <= KEEL_ISCSI_MAX_TEXT_KEY);
	FUZZ_CHECK(strchr(key, '=') == NULL);
	read_value(value);
	if (p->n < FUZZ_MAX_PAIRS) {
		p->keys[p->n] = strdup(key);
		p->values[p->n] = strdup(value);
		FUZZ_CHECK(p->keys[p->n] != NULL && p->values[p->n] != NULL);
		p->n++;
	}
	return 0;
}

/* The second parse: the same pairs, in the same order. */
static int
compare_pair(void *ctx, const char *key, const char *value)
{
	struct pairs *p = ctx;

	if (p->seen >= p->n || strcmp(p->keys[p->seen], key) != 0 ||
	    strcmp(p->values[p->seen], value) != 0) {
		p->differ = true;
	}
	p->seen++;
	return 0;
}

static void
round_trip(struct pairs *p)
{
	uint32_t len = 0, cap = 0;
	char *buf = NULL;
	unsigned int i;
	int rc = 0;

	for (i = 0; i < p->n && rc == 0; i++) {
		rc = iscsi_text_append(&buf, &len, &cap, p->keys[i], p->values[i]);
	}
	if (rc == 0 && len > 0) {
		FUZZ_CHECK(iscsi_text_parse(buf, len, compare_pair, p) == 0);
		FUZZ_CHECK(!p->differ && p->seen == p->n);
	}
	free(buf);
}

/* Two requests of one login: the keys of the second are checked against the first's. */
static void
collect(const uint8_t *data, size_t size)
{
	struct iscsi_key_set *set;
	struct iscsi_conn *conn;
	char *text;
	int i, round;

	conn = calloc(1, sizeof(*conn));
	set = calloc(1, sizeof(*set));
	text = malloc(size);
	FUZZ_CHECK(conn != NULL && set != NULL && text != NULL);
	for (round = 0; round < 2; round++) {
		memcpy(text, data, size);
		if (iscsi_params_collect(conn, text, (uint32_t)size, set) != 0) {
			break;
		}
		FUZZ_CHECK(set->n >= 0 && set->n <= ISCSI_LOGIN_MAX_KEYS);
		for (i = 0; i < set->n; i++) {
			FUZZ_CHECK((const char *)set->kv[i].key >= text &&
				   (const char *)set->kv[i].value < text + size);
			FUZZ_CHECK(iscsi_params_get(set, set->kv[i].key) != NULL);
		}
	}
	free(text);
	free(set);
	free(conn);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pairs p = {0};
	unsigned int i;
	int rc;

	if (size > ISCSI_TEXT_MAX_LEN) {
		return 0;
	}
	rc = iscsi_text_parse((const char *)data, (uint32_t)size, keep_pair, &p);
	if (rc == 0) {
		round_trip(&p);
	}
	for (i = 0; i < p.n; i++) {
		free(p.keys[i]);
		free(p.values[i]);
	}
	if (size > 0) {
		collect(data, size);
	}
	return 0;
}
