/*
 * Unit tests of CHAP (chap.c): algorithm choice, challenges, responses checked against answers
 * computed here independently (OpenSSL one-shot digests and fixed vectors), wrong secrets and
 * users, hex and base64 encodings, mutual CHAP, reflection, over-long challenges, keys out of
 * order, and that no secret ever reaches the log.
 */
#include "login_ut_common.h"

/* A connection whose AuthMethod=CHAP was just agreed (auth group 1). */
static struct iscsi_conn *
chap_conn(void)
{
	struct iscsi_conn *conn = ut_conn_new(0);

	conn->login.first_pdu_seen = true;
	conn->login.initiator_name_seen = true;
	conn->login.csg = UT_SEC;
	iscsi_params_login_init(conn);
	conn->login.auth_group = 1;
	conn->login.chap_state = ISCSI_AUTH_CHAP_WAIT_A;
	keel_strlcpy(conn->initiator_name, UT_INITIATOR, sizeof(conn->initiator_name));
	return conn;
}

static const char *
answer(struct iscsi_conn *conn, const char *key)
{
	return ut_text_value(conn->login.rsp_text, conn->login.rsp_len, key);
}

static const char *
md_name(int alg)
{
	switch (alg) {
	case 5:
		return "MD5";
	case 6:
		return "SHA1";
	case 7:
		return "SHA256";
	default:
		return "SHA3-256";
	}
}

/* H(id || secret || challenge), computed without chap.c. */
static void
ref_hash(int alg, uint8_t id, const char *secret, const uint8_t *c, size_t clen, uint8_t *out,
	 unsigned int *out_len)
{
	uint8_t buf[2048];
	size_t sl = strlen(secret);

	buf[0] = id;
	memcpy(buf + 1, secret, sl);
	memcpy(buf + 1 + sl, c, clen);
	CU_ASSERT_FATAL(EVP_Digest(buf, 1 + sl + clen, out, out_len,
				   EVP_get_digestbyname(md_name(alg)), NULL) == 1);
}

static void
to_hex(const uint8_t *in, size_t len, char *out)
{
	size_t i;

	out[0] = '0';
	out[1] = 'x';
	for (i = 0; i < len; i++) {
		sprintf(out + 2 + 2 * i, "%02X", in[i]);
	}
}

static void
to_b64(const uint8_t *in, size_t len, char *out)
{
	out[0] = '0';
	out[1] = 'b';
	EVP_EncodeBlock((unsigned char *)out + 2, in, (int)len);
}

/* The challenge the target sent (CHAP_I and CHAP_C parsed back). */
static void
sent_challenge(struct iscsi_conn *conn, uint8_t *id, uint8_t *c, size_t *clen)
{
	uint64_t v;

	CU_ASSERT_FATAL(answer(conn, "CHAP_I") != NULL && answer(conn, "CHAP_C") != NULL);
	CU_ASSERT_FATAL(iscsi_text_parse_number(answer(conn, "CHAP_I"), &v) == 0 && v <= 255);
	*id = (uint8_t)v;
	CU_ASSERT_FATAL(strncmp(answer(conn, "CHAP_C"), "0x", 2) == 0);
	CU_ASSERT_FATAL(iscsi_chap_decode(answer(conn, "CHAP_C"), c, 64, clen) == 0);
}

/* A full exchange for algorithm alg with the given secret; returns the final status. */
static int
exchange(int alg, const char *user, const char *secret, bool base64)
{
	struct iscsi_conn *conn = chap_conn();
	struct iscsi_chap_keys k = {0};
	uint8_t id, c[64], r[64];
	char a[8], rhex[200];
	unsigned int rlen;
	size_t clen;
	int status;

	snprintf(a, sizeof(a), "%d", alg);
	k.a = a;
	CU_ASSERT_FATAL(iscsi_chap_negotiate(conn, &k) == 0);
	CU_ASSERT(strcmp(answer(conn, "CHAP_A"), a) == 0);
	sent_challenge(conn, &id, c, &clen);
	CU_ASSERT(clen == KEEL_MAX(iscsi_chap_digest_len(alg), 16u));
	ref_hash(alg, id, secret, c, clen, r, &rlen);
	if (base64) {
		to_b64(r, rlen, rhex);
	} else {
		to_hex(r, rlen, rhex);
	}
	memset(&k, 0, sizeof(k));
	k.n = user;
	k.r = rhex;
	status = iscsi_chap_negotiate(conn, &k);
	if (status == 0) {
		CU_ASSERT(conn->login.chap_state == ISCSI_AUTH_DONE);
		CU_ASSERT(conn->login.authenticated);
		CU_ASSERT(strcmp(conn->login.chap_user, user) == 0);
	}
	ut_conn_free(conn);
	return status;
}

static void
chap_hash_matches_fixed_vectors_for_each_algorithm(void)
{
	static const struct {
		int alg;
		const char *hex;
	} v[] = {
		{5, "7d8ac255d113931a533a15e65af5b5e4"},
		{6, "d1c6b76ef5310a3e4a59fa8d1e9c1e46ef4c0381"},
		{7, "6d26e57f40d155d25e7cb58773e94e731d70c2e176ea26eddbf001a8ac5ad0c1"},
		{8, "8f2b2cc4ef003d4b61988af575bc4f7d182a64835aa274f6af15b1d22fcd6f46"},
	};
	uint8_t c[16], out[64], want[64];
	unsigned int len;
	size_t i, wlen;
	char hex[80];

	for (i = 0; i < sizeof(c); i++) {
		c[i] = (uint8_t)i;
	}
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(hex, sizeof(hex), "0x%s", v[i].hex);
		CU_ASSERT_FATAL(iscsi_chap_decode(hex, want, sizeof(want), &wlen) == 0);
		CU_ASSERT(iscsi_chap_hash(v[i].alg, 0x2a, "alice-secret-1234", c, sizeof(c), out,
					  &len) == 0);
		CU_ASSERT(len == wlen && len == iscsi_chap_digest_len(v[i].alg));
		CU_ASSERT(memcmp(out, want, wlen) == 0);
	}
	CU_ASSERT(iscsi_chap_hash(4, 0, "x", c, 1, out, &len) == -EINVAL);
	CU_ASSERT(iscsi_chap_digest_len(9) == 0);
}

static void
a_right_response_authenticates_with_each_algorithm(void)
{
	int alg;

	for (alg = 5; alg <= 8; alg++) {
		CU_ASSERT(exchange(alg, UT_USER, UT_SECRET, false) == 0);
		CU_ASSERT(exchange(alg, UT_USER2, UT_SECRET2, true) == 0);
	}
}

static void
a_wrong_secret_or_unknown_user_fails_without_logging_secrets(void)
{
	CU_ASSERT(exchange(5, UT_USER, "not-the-secret", false) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	CU_ASSERT(exchange(7, UT_USER, UT_SECRET2, false) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	CU_ASSERT(exchange(6, "mallory", UT_SECRET, false) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	CU_ASSERT(ut_log_has("wrong CHAP response for user " UT_USER));
	CU_ASSERT(ut_log_has("mallory"));
	CU_ASSERT(!ut_log_has(UT_SECRET));
	CU_ASSERT(!ut_log_has(UT_SECRET2));
	CU_ASSERT(!ut_log_has("not-the-secret"));
	CU_ASSERT(ut_log_has("127.0.0.1"));
}

static void
the_first_supported_algorithm_of_the_initiator_is_chosen(void)
{
	struct iscsi_conn *conn = chap_conn();
	struct iscsi_chap_keys k = {.a = "1,99,7,5"};

	CU_ASSERT(iscsi_chap_negotiate(conn, &k) == 0);
	CU_ASSERT(strcmp(answer(conn, "CHAP_A"), "7") == 0);
	CU_ASSERT(strlen(answer(conn, "CHAP_C")) == 2 + 2 * 32);
	CU_ASSERT(conn->login.chap_state == ISCSI_AUTH_CHAP_WAIT_R);
	ut_conn_free(conn);

	conn = chap_conn();
	k.a = "0x6";
	CU_ASSERT(iscsi_chap_negotiate(conn, &k) == 0);
	CU_ASSERT(strcmp(answer(conn, "CHAP_A"), "6") == 0);
	ut_conn_free(conn);

	conn = chap_conn();
	k.a = "1,2,junk";
	CU_ASSERT(iscsi_chap_negotiate(conn, &k) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	CU_ASSERT(answer(conn, "CHAP_A") == NULL);
	ut_conn_free(conn);
}

static void
challenges_are_fresh_each_time(void)
{
	struct iscsi_conn *c1 = chap_conn(), *c2 = chap_conn();
	struct iscsi_chap_keys k = {.a = "5"};

	CU_ASSERT(iscsi_chap_negotiate(c1, &k) == 0);
	CU_ASSERT(iscsi_chap_negotiate(c2, &k) == 0);
	CU_ASSERT(c1->login.chap_challenge_len == 16 && c2->login.chap_challenge_len == 16);
	CU_ASSERT(memcmp(c1->login.chap_challenge, c2->login.chap_challenge, 16) != 0);
	ut_conn_free(c1);
	ut_conn_free(c2);
}

/* Target challenge out, then CHAP_N/CHAP_R right for alice plus the given extra keys. */
static int
respond_with(struct iscsi_conn *conn, int alg, const char *ci, const char *cc)
{
	struct iscsi_chap_keys k = {0};
	uint8_t id, c[64], r[64];
	char a[8], rhex[200];
	unsigned int rlen;
	size_t clen;

	snprintf(a, sizeof(a), "%d", alg);
	k.a = a;
	CU_ASSERT_FATAL(iscsi_chap_negotiate(conn, &k) == 0);
	sent_challenge(conn, &id, c, &clen);
	ref_hash(alg, id, UT_SECRET, c, clen, r, &rlen);
	to_hex(r, rlen, rhex);
	memset(&k, 0, sizeof(k));
	k.n = UT_USER;
	k.r = rhex;
	k.i = ci;
	k.c = cc;
	conn->login.rsp_len = 0;
	return iscsi_chap_negotiate(conn, &k);
}

static void
mutual_chap_answers_the_initiators_challenge(void)
{
	struct iscsi_conn *conn = chap_conn();
	uint8_t ic[32], want[64], got[64];
	char ihex[80];
	unsigned int wlen;
	size_t glen, i;

	for (i = 0; i < sizeof(ic); i++) {
		ic[i] = (uint8_t)(0xa0 + i);
	}
	to_hex(ic, sizeof(ic), ihex);
	conn->login.auth_mutual = true;
	CU_ASSERT(respond_with(conn, 7, "77", ihex) == 0);
	CU_ASSERT(strcmp(answer(conn, "CHAP_N"), UT_MUSER) == 0);
	ref_hash(7, 77, UT_MSECRET, ic, sizeof(ic), want, &wlen);
	CU_ASSERT(iscsi_chap_decode(answer(conn, "CHAP_R"), got, sizeof(got), &glen) == 0);
	CU_ASSERT(glen == wlen && memcmp(got, want, wlen) == 0);
	CU_ASSERT(conn->login.chap_state == ISCSI_AUTH_DONE);
	CU_ASSERT(!ut_log_has(UT_MSECRET));
	ut_conn_free(conn);
}

static void
mutual_chap_failures(void)
{
	struct iscsi_conn *conn;
	char *huge;

	/* Required, but the initiator sends no challenge. */
	conn = chap_conn();
	conn->login.auth_mutual = true;
	CU_ASSERT(respond_with(conn, 5, NULL, NULL) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	ut_conn_free(conn);

	/* Half of it. */
	conn = chap_conn();
	CU_ASSERT(respond_with(conn, 5, "1", NULL) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	ut_conn_free(conn);

	/* A bad identifier. */
	conn = chap_conn();
	CU_ASSERT(respond_with(conn, 5, "256", "0x0102030405060708") ==
		  KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	ut_conn_free(conn);

	/* Over 1024 bytes of challenge. */
	huge = malloc(2 + 2 * 1025 + 1);
	CU_ASSERT_FATAL(huge != NULL);
	memcpy(huge, "0x", 2);
	memset(huge + 2, 'a', 2 * 1025);
	huge[2 + 2 * 1025] = '\0';
	conn = chap_conn();
	CU_ASSERT(respond_with(conn, 5, "1", huge) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	ut_conn_free(conn);
	huge[2 + 2 * 1024] = '\0';
	conn = chap_conn();
	CU_ASSERT(respond_with(conn, 5, "1", huge) == 0);
	ut_conn_free(conn);
	free(huge);
}

static void
mutual_chap_for_a_user_without_target_secret_fails(void)
{
	struct iscsi_conn *conn = chap_conn();
	struct iscsi_chap_keys k = {.a = "5"};
	uint8_t id, c[64], r[64];
	unsigned int rlen;
	char rhex[200];
	size_t clen;

	CU_ASSERT_FATAL(iscsi_chap_negotiate(conn, &k) == 0);
	sent_challenge(conn, &id, c, &clen);
	ref_hash(5, id, UT_SECRET2, c, clen, r, &rlen);
	to_hex(r, rlen, rhex);
	memset(&k, 0, sizeof(k));
	k.n = UT_USER2;
	k.r = rhex;
	k.i = "3";
	k.c = "0x00112233445566778899aabbccddeeff";
	CU_ASSERT(iscsi_chap_negotiate(conn, &k) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	ut_conn_free(conn);
}

static void
the_targets_own_challenge_reflected_back_is_refused(void)
{
	struct iscsi_conn *conn = chap_conn();
	struct iscsi_chap_keys k = {.a = "5"};
	uint8_t id, c[64], r[64];
	char rhex[200], chex[200];
	unsigned int rlen;
	size_t clen;

	CU_ASSERT_FATAL(iscsi_chap_negotiate(conn, &k) == 0);
	sent_challenge(conn, &id, c, &clen);
	ref_hash(5, id, UT_SECRET, c, clen, r, &rlen);
	to_hex(r, rlen, rhex);
	to_hex(c, clen, chex);
	memset(&k, 0, sizeof(k));
	k.n = UT_USER;
	k.r = rhex;
	k.i = answer(conn, "CHAP_I");
	k.c = chex;
	CU_ASSERT(iscsi_chap_negotiate(conn, &k) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	CU_ASSERT(ut_log_has("challenge is the target's own"));
	ut_conn_free(conn);
}

static void
keys_out_of_order_fail(void)
{
	struct iscsi_conn *conn;
	struct iscsi_chap_keys k = {0};

	/* CHAP_N/CHAP_R before any challenge. */
	conn = chap_conn();
	k.n = UT_USER;
	k.r = "0x00112233445566778899aabbccddeeff";
	CU_ASSERT(iscsi_chap_negotiate(conn, &k) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	ut_conn_free(conn);

	/* CHAP_A together with a response. */
	conn = chap_conn();
	k.a = "5";
	CU_ASSERT(iscsi_chap_negotiate(conn, &k) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	ut_conn_free(conn);

	/* CHAP_A again after the challenge. */
	conn = chap_conn();
	memset(&k, 0, sizeof(k));
	k.a = "5";
	CU_ASSERT(iscsi_chap_negotiate(conn, &k) == 0);
	CU_ASSERT(iscsi_chap_negotiate(conn, &k) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	ut_conn_free(conn);

	/* CHAP keys without AuthMethod=CHAP. */
	conn = chap_conn();
	conn->login.chap_state = ISCSI_AUTH_NONE;
	CU_ASSERT(iscsi_chap_negotiate(conn, &k) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	ut_conn_free(conn);
}

static void
responses_of_the_wrong_length_or_form_fail(void)
{
	struct iscsi_conn *conn;
	struct iscsi_chap_keys k = {0};

	conn = chap_conn();
	k.a = "7";
	CU_ASSERT_FATAL(iscsi_chap_negotiate(conn, &k) == 0);
	memset(&k, 0, sizeof(k));
	k.n = UT_USER;
	/* An MD5-sized response to a SHA-256 challenge. */
	k.r = "0x00112233445566778899aabbccddeeff";
	CU_ASSERT(iscsi_chap_negotiate(conn, &k) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	ut_conn_free(conn);

	conn = chap_conn();
	k.a = "5";
	k.n = NULL;
	k.r = NULL;
	CU_ASSERT_FATAL(iscsi_chap_negotiate(conn, &k) == 0);
	k.a = NULL;
	k.n = UT_USER;
	k.r = "00112233445566778899aabbccddeeff"; /* no 0x */
	CU_ASSERT(iscsi_chap_negotiate(conn, &k) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	ut_conn_free(conn);

	conn = chap_conn();
	k.a = "5";
	k.n = NULL;
	k.r = NULL;
	CU_ASSERT_FATAL(iscsi_chap_negotiate(conn, &k) == 0);
	k.a = NULL;
	k.n = "";
	k.r = "0x00112233445566778899aabbccddeeff";
	CU_ASSERT(iscsi_chap_negotiate(conn, &k) == KEEL_ISCSI_LOGIN_AUTH_FAILURE);
	ut_conn_free(conn);
}

static void
binary_values_decode_from_hex_and_base64(void)
{
	uint8_t out[8];
	size_t len;

	CU_ASSERT(iscsi_chap_decode("0x0102ff", out, sizeof(out), &len) == 0);
	CU_ASSERT(len == 3 && out[0] == 1 && out[1] == 2 && out[2] == 0xff);
	CU_ASSERT(iscsi_chap_decode("0XABC", out, sizeof(out), &len) == 0);
	CU_ASSERT(len == 2 && out[0] == 0x0a && out[1] == 0xbc);
	CU_ASSERT(iscsi_chap_decode("0bAQL/", out, sizeof(out), &len) == 0);
	CU_ASSERT(len == 3 && out[0] == 1 && out[1] == 2 && out[2] == 0xff);
	CU_ASSERT(iscsi_chap_decode("0bAQI=", out, sizeof(out), &len) == 0);
	CU_ASSERT(len == 2 && out[0] == 1 && out[1] == 2);
	CU_ASSERT(iscsi_chap_decode("0BAQ==", out, sizeof(out), &len) == 0);
	CU_ASSERT(len == 1 && out[0] == 1);
	CU_ASSERT(iscsi_chap_decode("0x", out, sizeof(out), &len) == -EINVAL);
	CU_ASSERT(iscsi_chap_decode("0x0g", out, sizeof(out), &len) == -EINVAL);
	CU_ASSERT(iscsi_chap_decode("0bAQI", out, sizeof(out), &len) == -EINVAL);
	CU_ASSERT(iscsi_chap_decode("0bA*I=", out, sizeof(out), &len) == -EINVAL);
	CU_ASSERT(iscsi_chap_decode("1234", out, sizeof(out), &len) == -EINVAL);
	CU_ASSERT(iscsi_chap_decode("0x010203040506070809", out, sizeof(out), &len) == -EINVAL);
}

static const struct keel_ut_test g_tests[] = {
	KEEL_UT_TEST(chap_hash_matches_fixed_vectors_for_each_algorithm),
	KEEL_UT_TEST(a_right_response_authenticates_with_each_algorithm),
	KEEL_UT_TEST(a_wrong_secret_or_unknown_user_fails_without_logging_secrets),
	KEEL_UT_TEST(the_first_supported_algorithm_of_the_initiator_is_chosen),
	KEEL_UT_TEST(challenges_are_fresh_each_time),
	KEEL_UT_TEST(mutual_chap_answers_the_initiators_challenge),
	KEEL_UT_TEST(mutual_chap_failures),
	KEEL_UT_TEST(mutual_chap_for_a_user_without_target_secret_fails),
	KEEL_UT_TEST(the_targets_own_challenge_reflected_back_is_refused),
	KEEL_UT_TEST(keys_out_of_order_fail),
	KEEL_UT_TEST(responses_of_the_wrong_length_or_form_fail),
	KEEL_UT_TEST(binary_values_decode_from_hex_and_base64),
};

int
main(void)
{
	return ut_run("iscsi_chap", g_tests, sizeof(g_tests) / sizeof(g_tests[0]));
}
