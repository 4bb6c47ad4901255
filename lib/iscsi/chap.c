/*
 * CHAP authentication of the security stage (RFC 7143 12.1.3, RFC 1994): the algorithm is
 * chosen from the initiator's CHAP_A list (MD5, SHA-1, SHA-256, SHA3-256 through OpenSSL), a
 * random identifier and challenge go out, and the initiator's CHAP_R is checked against the
 * auth group's secret for its CHAP_N. With mutual CHAP the target answers the initiator's own
 * challenge. Any failure ends the login with 02/01 and tells the initiator nothing more.
 */
#include "keel/stdinc.h"
#include "keel/log.h"
#include "keel/util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "login_internal.h"

#define CHAP_MAX_DIGEST 64

static const EVP_MD *
chap_md(int alg)
{
	switch (alg) {
	case ISCSI_CHAP_MD5:
		return EVP_md5();
	case ISCSI_CHAP_SHA1:
		return EVP_sha1();
	case ISCSI_CHAP_SHA256:
		return EVP_sha256();
	case ISCSI_CHAP_SHA3_256:
		return EVP_sha3_256();
	default:
		return NULL;
	}
}

unsigned int
iscsi_chap_digest_len(int alg)
{
	const EVP_MD *md = chap_md(alg);

	return md != NULL ? (unsigned int)EVP_MD_size(md) : 0;
}

int
iscsi_chap_hash(int alg, uint8_t id, const char *secret, const uint8_t *challenge,
		size_t challenge_len, uint8_t *out, unsigned int *out_len)
{
	const EVP_MD *md = chap_md(alg);
	EVP_MD_CTX *ctx;
	int ok;

	if (md == NULL) {
		return -EINVAL;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL) {
		return -EIO;
	}
	/* RFC 1994 4.1: the digest of identifier, secret and challenge, in that order. */
	ok = EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, &id, 1) == 1 &&
	     EVP_DigestUpdate(ctx, secret, strlen(secret)) == 1 &&
	     EVP_DigestUpdate(ctx, challenge, challenge_len) == 1 &&
	     EVP_DigestFinal_ex(ctx, out, out_len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

/* True if this build of the crypto library computes alg (a FIPS provider has no MD5). */
static bool
chap_alg_usable(int alg)
{
	uint8_t out[CHAP_MAX_DIGEST];
	unsigned int len;

	return iscsi_chap_hash(alg, 0, "", (const uint8_t *)"", 0, out, &len) == 0;
}

static int
chap_hex_digit(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

static int
chap_b64_digit(char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == '+') {
		return 62;
	}
	if (c == '/') {
		return 63;
	}
	return -1;
}

/* Hex digits after "0x"; an odd count has an implied leading zero (RFC 7143 6.1). */
static int
chap_decode_hex(const char *s, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(s), i, o = 0;
	int hi, lo;

	if (n == 0 || (n + 1) / 2 > max) {
		return -EINVAL;
	}
	i = 0;
	if (n % 2 == 1) {
		lo = chap_hex_digit(s[0]);
		if (lo < 0) {
			return -EINVAL;
		}
		out[o++] = (uint8_t)lo;
		i = 1;
	}
	for (; i < n; i += 2) {
		hi = chap_hex_digit(s[i]);
		lo = chap_hex_digit(s[i + 1]);
		if (hi < 0 || lo < 0) {
			return -EINVAL;
		}
		out[o++] = (uint8_t)(hi << 4 | lo);
	}
	*len = o;
	return 0;
}

/* Base64 after "0b" (RFC 4648 alphabet, '=' padding). */
static int
chap_decode_b64(const char *s, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(s), i, o = 0, pad = 0;
	uint32_t acc = 0;
	int d, bits = 0;

	if (n == 0 || n % 4 != 0) {
		return -EINVAL;
	}
	while (pad < 2 && s[n - 1 - pad] == '=') {
		pad++;
	}
	for (i = 0; i < n - pad; i++) {
		d = chap_b64_digit(s[i]);
		if (d < 0) {
			return -EINVAL;
		}
		acc = (acc << 6) | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == max) {
				return -EINVAL;
			}
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (o == 0) {
		return -EINVAL;
	}
	*len = o;
	return 0;
}

int
iscsi_chap_decode(const char *value, uint8_t *out, size_t max, size_t *len)
{
	if (value[0] == '0' && (value[1] == 'x' || value[1] == 'X')) {
		return chap_decode_hex(value + 2, out, max, len);
	}
	if (value[0] == '0' && (value[1] == 'b' || value[1] == 'B')) {
		return chap_decode_b64(value + 2, out, max, len);
	}
	return -EINVAL;
}

/* "0x" and lowercase hex of len bytes into out (2 * len + 3 bytes). */
static void
chap_encode_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	out[0] = '0';
	out[1] = 'x';
	for (i = 0; i < len; i++) {
		out[2 + 2 * i] = digits[in[i] >> 4];
		out[3 + 2 * i] = digits[in[i] & 0xf];
	}
	out[2 + 2 * len] = '\0';
}

static int
chap_answer(struct iscsi_conn *conn, const char *key, const char *value)
{
	struct iscsi_login_state *ls = &conn->login;

	return iscsi_text_append(&ls->rsp_text, &ls->rsp_len, &ls->rsp_cap, key, value);
}

static int
chap_fail(struct iscsi_conn *conn, const char *why)
{
	ISCSI_CONN_ERRLOG(conn, "login failed: CHAP authentication: %s\n", why);
	return KEEL_ISCSI_LOGIN_AUTH_FAILURE;
}

/* CHAP_A=<list>: choose, then send CHAP_A, CHAP_I and a fresh challenge as long as the digest. */
static int
chap_send_challenge(struct iscsi_conn *conn, const char *list)
{
	struct iscsi_login_state *ls = &conn->login;
	char item[16], buf[2 * sizeof(ls->chap_challenge) + 3];
	const char *p = list;
	uint64_t alg;
	int rc;

	ls->chap_algorithm = 0;
	while (*p != '\0' && ls->chap_algorithm == 0) {
		size_t n = strcspn(p, ",");

		if (n > 0 && n < sizeof(item)) {
			memcpy(item, p, n);
			item[n] = '\0';
			if (iscsi_text_parse_number(item, &alg) == 0 && alg <= INT32_MAX &&
			    iscsi_chap_digest_len((int)alg) > 0 && chap_alg_usable((int)alg)) {
				ls->chap_algorithm = (int)alg;
			}
		}
		p += n;
		if (*p == ',') {
			p++;
		}
	}
	if (ls->chap_algorithm == 0) {
		return chap_fail(conn, "no supported algorithm offered in CHAP_A");
	}
	ls->chap_challenge_len = iscsi_chap_digest_len(ls->chap_algorithm);
	if (ls->chap_challenge_len < 16) {
		ls->chap_challenge_len = 16;
	}
	if (RAND_bytes(&ls->chap_id, 1) != 1 ||
	    RAND_bytes(ls->chap_challenge, (int)ls->chap_challenge_len) != 1) {
		ISCSI_CONN_ERRLOG(conn, "no random bytes for a CHAP challenge\n");
		return KEEL_ISCSI_LOGIN_TARGET_ERROR;
	}
	snprintf(item, sizeof(item), "%d", ls->chap_algorithm);
	rc = chap_answer(conn, "CHAP_A", item);
	if (rc == 0) {
		snprintf(item, sizeof(item), "%u", ls->chap_id);
		rc = chap_answer(conn, "CHAP_I", item);
	}
	if (rc == 0) {
		chap_encode_hex(ls->chap_challenge, ls->chap_challenge_len, buf);
		rc = chap_answer(conn, "CHAP_C", buf);
	}
	if (rc != 0) {
		return rc;
	}
	ls->chap_state = ISCSI_AUTH_CHAP_WAIT_R;
	return 0;
}

/* Mutual CHAP: answer the initiator's CHAP_I and CHAP_C with the group's target secret. */
static int
chap_answer_mutual(struct iscsi_conn *conn, const struct iscsi_chap_keys *k,
		   const struct iscsi_chap_secret *s)
{
	struct iscsi_login_state *ls = &conn->login;
	uint8_t challenge[ISCSI_CHAP_MAX_CHALLENGE], digest[CHAP_MAX_DIGEST];
	char hex[2 * CHAP_MAX_DIGEST + 3];
	unsigned int digest_len;
	size_t clen;
	uint64_t id;
	int rc;

	if (k->i == NULL || k->c == NULL) {
		return chap_fail(conn, "mutual CHAP needs both CHAP_I and CHAP_C");
	}
	if (s->muser[0] == '\0' || s->msecret[0] == '\0') {
		return chap_fail(conn, "mutual CHAP asked for, but the user has no target secret");
	}
	if (iscsi_text_parse_number(k->i, &id) != 0 || id > 255) {
		return chap_fail(conn, "bad CHAP_I");
	}
	if (iscsi_chap_decode(k->c, challenge, sizeof(challenge), &clen) != 0) {
		return chap_fail(conn, "bad or over-long CHAP_C");
	}
	if (clen == ls->chap_challenge_len && memcmp(challenge, ls->chap_challenge, clen) == 0) {
		/* Reflection: the initiator would have us compute its answer for it. */
		return chap_fail(conn, "the initiator's challenge is the target's own");
	}
	rc = iscsi_chap_hash(ls->chap_algorithm, (uint8_t)id, s->msecret, challenge, clen, digest,
			     &digest_len);
	if (rc != 0) {
		return KEEL_ISCSI_LOGIN_TARGET_ERROR;
	}
	chap_encode_hex(digest, digest_len, hex);
	rc = chap_answer(conn, "CHAP_N", s->muser);
	return rc != 0 ? rc : chap_answer(conn, "CHAP_R", hex);
}

/* CHAP_N, CHAP_R (and for mutual CHAP, CHAP_I, CHAP_C). */
static int
chap_check_response(struct iscsi_conn *conn, const struct iscsi_chap_keys *k)
{
	struct iscsi_login_state *ls = &conn->login;
	uint8_t expected[CHAP_MAX_DIGEST], got[CHAP_MAX_DIGEST];
	struct iscsi_chap_secret s;
	unsigned int expected_len;
	size_t got_len;
	bool found;
	int rc;

	if (strlen(k->n) == 0 || strlen(k->n) > ISCSI_MAX_CHAP_SECRET) {
		return chap_fail(conn, "bad CHAP_N");
	}
	if (iscsi_chap_decode(k->r, got, sizeof(got), &got_len) != 0 ||
	    got_len != iscsi_chap_digest_len(ls->chap_algorithm)) {
		return chap_fail(conn, "bad CHAP_R");
	}
	if (ls->auth_mutual && (k->i == NULL || k->c == NULL)) {
		return chap_fail(conn, "mutual CHAP is required");
	}
	pthread_mutex_lock(&g_iscsi.lock);
	found = ls->auth_group > 0 && iscsi_auth_grp_get_secret(ls->auth_group, k->n, &s);
	pthread_mutex_unlock(&g_iscsi.lock);
	if (!found) {
		ISCSI_CONN_ERRLOG(conn, "login failed: CHAP user %s unknown in auth group %d\n",
				  k->n, ls->auth_group);
		return KEEL_ISCSI_LOGIN_AUTH_FAILURE;
	}
	rc = KEEL_ISCSI_LOGIN_AUTH_FAILURE;
	if (strnlen(s.secret, sizeof(s.secret)) == 0 ||
	    strnlen(s.secret, sizeof(s.secret)) > ISCSI_MAX_CHAP_SECRET) {
		chap_fail(conn, "the user's secret is empty");
		goto out_cleanse;
	}
	if (iscsi_chap_hash(ls->chap_algorithm, ls->chap_id, s.secret, ls->chap_challenge,
			    ls->chap_challenge_len, expected, &expected_len) != 0) {
		rc = KEEL_ISCSI_LOGIN_TARGET_ERROR;
		goto out_cleanse;
	}
	if (expected_len != got_len || CRYPTO_memcmp(expected, got, got_len) != 0) {
		ISCSI_CONN_ERRLOG(conn, "login failed: wrong CHAP response for user %s\n", k->n);
		goto out_cleanse;
	}
	if (k->i != NULL || k->c != NULL) {
		rc = chap_answer_mutual(conn, k, &s);
		if (rc != 0) {
			goto out_cleanse;
		}
	}
	keel_strlcpy(ls->chap_user, k->n, sizeof(ls->chap_user));
	ls->chap_state = ISCSI_AUTH_DONE;
	ls->authenticated = true;
	rc = 0;
out_cleanse:
	OPENSSL_cleanse(&s, sizeof(s));
	OPENSSL_cleanse(expected, sizeof(expected));
	return rc;
}

int
iscsi_chap_negotiate(struct iscsi_conn *conn, const struct iscsi_chap_keys *k)
{
	struct iscsi_login_state *ls = &conn->login;

	switch (ls->chap_state) {
	case ISCSI_AUTH_CHAP_WAIT_A:
		if (k->a == NULL || k->n != NULL || k->r != NULL || k->i != NULL || k->c != NULL) {
			return chap_fail(conn, "expected CHAP_A alone");
		}
		return chap_send_challenge(conn, k->a);
	case ISCSI_AUTH_CHAP_WAIT_R:
		if (k->n == NULL || k->r == NULL || k->a != NULL) {
			return chap_fail(conn, "expected CHAP_N and CHAP_R");
		}
		return chap_check_response(conn, k);
	default:
		return chap_fail(conn, "CHAP keys without AuthMethod=CHAP");
	}
}
