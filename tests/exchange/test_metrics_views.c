/*
 * The engine's views for riked's metrics and its key-export hook, with two
 * in-process peers (harness.h): host.ike_keys hands both ends the same
 * SPIs and SK_e/SK_a at IKE_SA_INIT (RFC 7296 2.14) and again, new ones,
 * at an IKE rekey (2.18); metrics_write turns the engine's state into a
 * valid Prometheus exposition whose gauges and Child SA counters say what
 * the engines hold. (tests/interop/test_metrics.sh and test_keylog.sh do
 * the same over real sockets, tshark and HTTP.)
 */
#include "harness.h"

#include "daemon/metrics.h"

#define KX_MAX 8

/* What host.ike_keys reported, per side. */
struct kx_row {
	char conn[CFG_NAME_MAX];
	uint8_t spi_i[8], spi_r[8];
	uint16_t encr, integ;
	uint8_t ei[CRYPTO_MAX_KEY_LEN], er[CRYPTO_MAX_KEY_LEN];
	uint8_t ai[CRYPTO_MAX_PRF_LEN], ar[CRYPTO_MAX_PRF_LEN];
	size_t e_len, a_len;
};
static struct kx_row kx_rows[2][KX_MAX];
static size_t kx_n[2];

static void kx_keys(void *ctx, const struct ike_keys_info *k)
{
	const struct hx_peer *p = ctx;
	struct kx_row *r;

	assert_true(p->idx == HX_A || p->idx == HX_B);
	assert_true(kx_n[p->idx] < KX_MAX);
	assert_true(k->e_len <= CRYPTO_MAX_KEY_LEN && k->a_len <= CRYPTO_MAX_PRF_LEN);
	r = &kx_rows[p->idx][kx_n[p->idx]++];
	snprintf(r->conn, sizeof(r->conn), "%s", k->conn);
	memcpy(r->spi_i, k->spi_i, 8);
	memcpy(r->spi_r, k->spi_r, 8);
	r->encr = k->encr;
	r->integ = k->integ;
	memcpy(r->ei, k->sk_ei, k->e_len);
	memcpy(r->er, k->sk_er, k->e_len);
	memcpy(r->ai, k->sk_ai, k->a_len);
	memcpy(r->ar, k->sk_ar, k->a_len);
	r->e_len = k->e_len;
	r->a_len = k->a_len;
}

/* Two peers with the hook on both (the engine keeps a copy of the host). */
static struct hx_net *kx_net(const struct hx_conf *c)
{
	struct hx_net *n = hx_new(c, c);

	memset(kx_rows, 0, sizeof(kx_rows));
	kx_n[HX_A] = kx_n[HX_B] = 0;
	hx_ike(n, HX_A)->host.ike_keys = kx_keys;
	hx_ike(n, HX_B)->host.ike_keys = kx_keys;
	return n;
}

static void assert_same_row(const struct kx_row *a, const struct kx_row *b)
{
	assert_string_equal(a->conn, b->conn);
	assert_memory_equal(a->spi_i, b->spi_i, 8);
	assert_memory_equal(a->spi_r, b->spi_r, 8);
	assert_int_equal(a->encr, b->encr);
	assert_int_equal(a->integ, b->integ);
	assert_int_equal(a->e_len, b->e_len);
	assert_int_equal(a->a_len, b->a_len);
	assert_memory_equal(a->ei, b->ei, a->e_len);
	assert_memory_equal(a->er, b->er, a->e_len);
	assert_memory_equal(a->ai, b->ai, a->a_len);
	assert_memory_equal(a->ar, b->ar, a->a_len);
}

/*
 * RFC 7296 2.14: both ends derive the same SK_* for the SPIs of the
 * header (original initiator's first); the engine hands them over once
 * per IKE SA. 2.18: a rekey gives a new row with the new SPIs and keys.
 */
static void test_keys_hook(void **state)
{
	static const struct hx_conf c = {.ike = "\"aes128-sha256-prfsha256-ecp256\""};
	struct hx_net *n = kx_net(&c);
	const struct ike_sa *sa;

	*state = n;
	hx_establish(n);
	assert_int_equal(kx_n[HX_A], 1);
	assert_int_equal(kx_n[HX_B], 1);
	assert_same_row(&kx_rows[HX_A][0], &kx_rows[HX_B][0]);
	sa = hx_sa(n, HX_A);
	assert_memory_equal(kx_rows[HX_A][0].spi_i, sa->spi_i, 8);
	assert_memory_equal(kx_rows[HX_A][0].spi_r, sa->spi_r, 8);
	assert_string_equal(kx_rows[HX_A][0].conn, HX_CONN);
	assert_int_equal(kx_rows[HX_A][0].encr, IKEV2_ENCR_AES_CBC);
	assert_int_equal(kx_rows[HX_A][0].e_len, 16);
	assert_int_equal(kx_rows[HX_A][0].a_len, 32); /* HMAC-SHA2-256-128 keys (RFC 4868) */
	assert_null(sa->keys); /* exported at derivation, wiped after IKE_AUTH */
	assert_memory_not_equal(kx_rows[HX_A][0].ei, kx_rows[HX_A][0].er, 16);

	/* HDR, SK {SA, Ni, KEi} -->  <-- HDR, SK {SA, Nr, KEr}; then the old SA's Delete */
	assert_int_equal(ike_rekey_ike(hx_ike(n, HX_B), HX_CONN), 0);
	hx_deliver_all(n, 20);
	hx_settle(n, 1000);
	assert_int_equal(kx_n[HX_A], 2);
	assert_int_equal(kx_n[HX_B], 2);
	assert_same_row(&kx_rows[HX_A][1], &kx_rows[HX_B][1]);
	assert_memory_not_equal(kx_rows[HX_A][1].spi_i, kx_rows[HX_A][0].spi_i, 8);
	assert_memory_not_equal(kx_rows[HX_A][1].ei, kx_rows[HX_A][0].ei, 16);
	sa = hx_sa(n, HX_A);
	assert_memory_equal(kx_rows[HX_A][1].spi_i, sa->spi_i, 8);
	assert_null(sa->keys);
}

/* One line of a text exposition: a HELP, a TYPE or "name[{labels}] value". */
static void assert_exposition(const char *text)
{
	const char *line = text;
	size_t nsamples = 0;

	assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
	while (*line) {
		const char *end = strchr(line, '\n'), *sp;

		assert_non_null(end);
		if (!strncmp(line, "# HELP rike_", 12) || !strncmp(line, "# TYPE rike_", 12)) {
			line = end + 1;
			continue;
		}
		if (strncmp(line, "rike_", 5))
			fail_msg("not HELP, TYPE or a sample: %.*s", (int)(end - line), line);
		sp = memrchr(line, ' ', (size_t)(end - line));
		assert_non_null(sp);
		for (const char *d = sp + 1; d < end; d++)
			if (!((*d >= '0' && *d <= '9') || *d == '.'))
				fail_msg("not a number: %.*s", (int)(end - line), line);
		nsamples++;
		line = end + 1;
	}
	assert_true(nsamples > 50);
}

static char *scrape(struct ike *ike)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	metrics_write(ike, NULL, "9.9\"x", 1.5, f);
	assert_int_equal(fclose(f), 0);
	assert_exposition(buf);
	return buf;
}

static void assert_line(const char *text, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(text, want))
		fail_msg("no line '%s' in:\n%s", line, text);
}

/* The gauges follow the engines; the Child SA's counters are the last
 * ones reported (ike_child_counters), one series per SA and direction. */
static void test_exposition(void **state)
{
	struct hx_net *n = kx_net(NULL);
	const struct hx_child *ch;
	char *t, line[256];

	*state = n;
	t = scrape(hx_ike(n, HX_A));
	assert_line(t, "rike_ike_sas{state=\"ESTABLISHED\"} 0");
	assert_line(t, "rike_child_sas 0");
	assert_null(strstr(t, "rike_conn_ike_sas{"));
	assert_line(t, "rike_build_info{version=\"9.9\\\"x\"} 1"); /* label values escaped */
	assert_line(t, "rike_start_time_seconds 1.500");
	free(t);

	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	t = scrape(hx_ike(n, HX_A));
	assert_line(t, "rike_ike_sas{state=\"INIT_SENT\"} 1");
	assert_line(t, "rike_conn_ike_sas{conn=\"t\",state=\"INIT_SENT\"} 1");
	free(t);
	hx_deliver(n); /* b answers IKE_SA_INIT: half-open on b (RFC 8019) */
	t = scrape(hx_ike(n, HX_B));
	assert_line(t, "rike_ike_sas{state=\"INIT_DONE\"} 1");
	assert_line(t, "rike_ike_half_open 1");
	assert_line(t, "rike_ike_dh_computed_total 1");
	free(t);
	hx_deliver_all(n, 20);
	hx_assert_one_child_pair(n);

	ch = &n->p[HX_A].installed[0];
	ike_child_counters(hx_ike(n, HX_A), ch->reqid, 1000, 10, 2000, 20);
	t = scrape(hx_ike(n, HX_A));
	assert_line(t, "rike_ike_sas{state=\"ESTABLISHED\"} 1");
	assert_line(t, "rike_ike_sas{state=\"INIT_SENT\"} 0");
	assert_line(t, "rike_child_sas 1");
	assert_line(t, "rike_conn_ike_sas{conn=\"t\",state=\"ESTABLISHED\"} 1");
	assert_line(t, "rike_conn_child_sas{conn=\"t\"} 1");
	assert_line(t, "rike_ike_sa_established_total 1");
	assert_line(t, "rike_ike_half_open 0");
	assert_line(t, "rike_ike_dropped_total{reason=\"icv\"} 0");
	assert_line(t, "rike_ike_qcd_tokens_verified_total 0");
	snprintf(
	    line, sizeof(line),
	    "rike_child_sa_bytes_total{conn=\"t\",reqid=\"%u\",spi_in=\"%08x\",direction=\"in\"} "
	    "1000",
	    ch->reqid, ch->spi_in);
	assert_line(t, line);
	snprintf(
	    line, sizeof(line),
	    "rike_child_sa_packets_total{conn=\"t\",reqid=\"%u\",spi_in=\"%08x\",direction=\"out\"}"
	    " 20",
	    ch->reqid, ch->spi_in);
	assert_line(t, line);
	/* No data plane here: none of its families. */
	assert_null(strstr(t, "rike_dataplane_"));
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_keys_hook, hx_teardown),
	    cmocka_unit_test_teardown(test_exposition, hx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
