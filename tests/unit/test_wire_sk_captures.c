/*
 * SK payloads of real captures (RFC 7296 3.14, RFC 5282) against
 * Wireshark's decryption: for every capture that comes with keys
 * ($RIKE_SHARED/captures/{wireshark,openswan,tcpdump}), decrypt each SK
 * payload with the key table, verify its ICV, compare the plaintext and
 * ICV with expected_decrypted.tsv, re-encrypt the plaintext with the
 * frame's IV and compare the whole message byte for byte, and decode the
 * inner chain.
 *
 * Exceptions, both documented in the captures README: tcpdump/ikev2pI2's
 * ICV is known bad (it is decrypted without checking, and its ICV left
 * out of the byte comparison); ccm12-2 uses tests/vectors' corrected
 * AES-CCM-12 row instead of Wireshark's CTR test row, and must verify.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/keytable.h"
#include "util/pcapread.h"
#include "wire/sk.h"

#define MAX_ROWS 64
#define MAX_HEX  8192

struct tsv_row {
	char file[128];
	unsigned frame;
	char plain[MAX_HEX];
	char icv[256];
	bool seen;
};

struct capture {
	const char *dir;
	const char *file;
	const char *table; /* relative to captures/, or NULL for the corrected one */
	bool icv_bad;
	unsigned expect_sk; /* SK payloads in the capture */
};

static const struct capture captures[] = {
    {"wireshark", "ikev2-decrypt-3des-sha1_160.pcap", "wireshark/ikev2_decryption_table", false, 4},
    {"wireshark", "ikev2-decrypt-aes128ccm12.pcap", "wireshark/ikev2_decryption_table", false, 4},
    {"wireshark", "ikev2-decrypt-aes128ccm12-2.pcap", NULL, false, 4},
    {"wireshark", "ikev2-decrypt-aes192ctr.pcap", "wireshark/ikev2_decryption_table", false, 4},
    {"wireshark", "ikev2-decrypt-aes256cbc.pcapng", "wireshark/ikev2_decryption_table", false, 2},
    {"wireshark", "ikev2-decrypt-aes256ccm16.pcapng", "wireshark/ikev2_decryption_table", false, 2},
    {"wireshark", "ikev2-decrypt-aes256gcm16.pcap", "wireshark/ikev2_decryption_table", false, 4},
    {"wireshark", "ikev2-decrypt-aes256gcm8.pcap", "wireshark/ikev2_decryption_table", false, 4},
    {"openswan", "ct12-parentI1.pcap", "openswan/ikev2_decryption_table", false, 0},
    {"openswan", "ct12-parentI2.pcap", "openswan/ikev2_decryption_table", false, 1},
    {"tcpdump", "ikev2pI2.pcap", "tcpdump/ikev2_decryption_table", true, 1},
};

static char capdir[1024];
static char srcdir[1024];
static struct tsv_row rows[MAX_ROWS];
static size_t nrows;
/* Totals over all captures, checked by the last test. */
static unsigned tot_sk, tot_verified, tot_identical, tot_inner;

static void load_tsv(const char *dir)
{
	char path[1200], line[MAX_HEX + 512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/expected_decrypted.tsv", capdir, dir);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		struct tsv_row *r = &rows[nrows];

		if (line[0] == '#')
			continue;
		assert_true(nrows < MAX_ROWS);
		assert_int_equal(sscanf(line,
		                        "%127[^\t]\t%u\t%*s\t%*s\t%*s\t%*s\t%*s\t%8191s\t%255s",
		                        r->file, &r->frame, r->plain, r->icv),
		                 4);
		nrows++;
	}
	fclose(f);
}

static int setup(void **state)
{
	nrows = 0;
	load_tsv("wireshark");
	load_tsv("openswan");
	load_tsv("tcpdump");
	return 0;
}

static struct tsv_row *find_row(const char *file, unsigned frame)
{
	for (size_t i = 0; i < nrows; i++)
		if (!strcmp(rows[i].file, file) && rows[i].frame == frame)
			return &rows[i];
	return NULL;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = '\0';
}

struct walk {
	const struct capture *cap;
	struct keytable kt;
	struct wire_prot prot[2]; /* initiator's, responder's */
	bool prot_ok[2];
	unsigned sk, verified, identical, inner;
};

static struct wire_prot *walk_prot(struct walk *w, const struct wire_hdr *h)
{
	const struct keytable_entry *e = keytable_lookup(&w->kt, h->spi_i, h->spi_r);
	int d = (h->flags & IKEV2_FLAG_INITIATOR) ? 0 : 1;

	assert_non_null(e);
	if (!w->prot_ok[d]) {
		assert_int_equal(wire_prot_init(&w->prot[d], &e->suite, d ? e->sk_er : e->sk_ei,
		                                e->e_len, d ? e->sk_ar : e->sk_ai, e->a_len),
		                 0);
		w->prot_ok[d] = true;
	}
	return &w->prot[d];
}

/* Re-encrypt with the frame's IV: the whole message must come out identical. */
static void check_reseal(struct walk *w, struct wire_prot *p, const struct wire_msg *m,
                         const struct wire_payload *sk, const struct wire_sk_result *r,
                         const uint8_t *buf, size_t len)
{
	struct wire_sk_params sp = {
	    .type = IKEV2_PL_SK, .flags = sk->flags, .inner_np = sk->u.sk.inner_np};
	struct wire_wr out;
	size_t cmp = w->cap->icv_bad ? len - r->icv_len : len;

	wire_wr_init(&out, WIRE_SK_MAX_MSG);
	assert_int_equal(wire_sk_seal_raw(p, &m->hdr, &sp, r->iv, r->plain, r->plain_len, &out), 0);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.p, buf, cmp);
	if (w->cap->icv_bad)
		assert_memory_not_equal(out.p + cmp, buf + cmp, r->icv_len);
	w->identical++;
	wire_wr_free(&out);
}

/* Decode the inner chain through wire_sk_open on a fresh decode. */
static void check_inner(struct walk *w, struct wire_prot *p, const uint8_t *buf, size_t len)
{
	struct wire_msg m;
	struct wire_error e;
	size_t outer;

	wire_msg_init(&m);
	assert_int_equal(wire_decode(buf, len, &m, &e), 0);
	outer = m.npayloads;
	if (w->cap->icv_bad) {
		assert_int_not_equal(wire_sk_open(p, buf, len, &m, NULL, &e), 0);
		assert_int_equal(e.notify, 0); /* dropped silently */
		m.npayloads = outer;
		assert_int_equal(wire_sk_open_flags(p, buf, len, &m, WIRE_SK_SKIP_ICV, NULL, &e),
		                 0);
	} else {
		assert_int_equal(wire_sk_open(p, buf, len, &m, NULL, &e), 0);
	}
	/* An empty SK (e.g. an INFORMATIONAL response, RFC 7296 1.4.1) has inner NP 0. */
	assert_true((m.npayloads > outer) == (m.payloads[outer - 1].u.sk.inner_np != 0));
	for (size_t i = outer; i < m.npayloads; i++)
		assert_true(m.payloads[i].encrypted);
	w->inner += (unsigned)(m.npayloads - outer);
	wire_msg_free(&m);
}

static void check_sk(struct walk *w, unsigned frame, const uint8_t *buf, size_t len)
{
	char got[MAX_HEX];
	struct wire_msg m;
	struct wire_error e;
	struct wire_wr plain;
	struct wire_sk_result r;
	const struct wire_payload *sk;
	struct wire_prot *p;
	struct tsv_row *row;

	wire_msg_init(&m);
	wire_wr_init(&plain, WIRE_SK_MAX_MSG);
	assert_int_equal(wire_decode(buf, len, &m, &e), 0);
	sk = &m.payloads[m.npayloads - 1];
	if (sk->type != IKEV2_PL_SK)
		goto out;
	w->sk++;
	p = walk_prot(w, &m.hdr);
	row = find_row(w->cap->file, frame);
	assert_non_null(row);
	assert_false(row->seen);
	row->seen = true;
	assert_int_equal(wire_sk_decrypt(p, buf, len, sk, w->cap->icv_bad ? WIRE_SK_SKIP_ICV : 0,
	                                 &plain, &r, &e),
	                 0);
	assert_true(r.icv_verified == !w->cap->icv_bad);
	w->verified += r.icv_verified;
	assert_true(r.plain_len * 2 < sizeof(got));
	hex(r.plain, r.plain_len, got);
	assert_string_equal(got, row->plain);
	hex(r.icv, r.icv_len, got);
	assert_string_equal(got, row->icv);
	check_reseal(w, p, &m, sk, &r, buf, len);
	check_inner(w, p, buf, len);
out:
	wire_wr_free(&plain);
	wire_msg_free(&m);
}

static int on_datagram(void *ctx, const struct pcap_udp *d)
{
	const uint8_t *buf = d->payload;
	size_t len = d->len;

	if ((d->sport == 4500 || d->dport == 4500) && wire_udp4500_classify(&buf, &len) != 1)
		return 0;
	check_sk(ctx, d->frame, buf, len);
	return 0;
}

static void test_capture(void **state)
{
	const struct capture *cap = *state;
	char path[1400], table[1400], err[512];
	struct walk w;

	memset(&w, 0, sizeof(w));
	w.cap = cap;
	if (cap->table)
		snprintf(table, sizeof(table), "%s/%s", capdir, cap->table);
	else
		snprintf(table, sizeof(table), "%s/tests/vectors/ikev2-ccm12-2_decryption_table",
		         srcdir);
	if (keytable_load(table, &w.kt, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	snprintf(path, sizeof(path), "%s/%s/%s", capdir, cap->dir, cap->file);
	assert_int_equal(pcapread_udp(path, on_datagram, &w, err), 0);
	assert_int_equal(w.sk, cap->expect_sk);
	assert_int_equal(w.identical, w.sk);
	assert_int_equal(w.verified, cap->icv_bad ? 0 : w.sk);
	tot_sk += w.sk;
	tot_verified += w.verified;
	tot_identical += w.identical;
	tot_inner += w.inner;
	wire_prot_clear(&w.prot[0]);
	wire_prot_clear(&w.prot[1]);
	keytable_free(&w.kt);
}

/* Every TSV row was matched by a frame, and the totals are what the README says. */
static void test_totals(void **state)
{
	for (size_t i = 0; i < nrows; i++)
		if (!rows[i].seen)
			fail_msg("no SK payload matched %s frame %u", rows[i].file, rows[i].frame);
	assert_int_equal(nrows, 30);
	assert_int_equal(tot_sk, 30);
	assert_int_equal(tot_verified, 29);
	assert_int_equal(tot_identical, 30);
	assert_true(tot_inner >= 100);
	printf("SK payloads: %u decrypted, %u ICVs verified, %u re-encrypted identically, "
	       "%u inner payloads\n",
	       tot_sk, tot_verified, tot_identical, tot_inner);
}

int main(void)
{
	const char *shared = getenv("RIKE_SHARED"), *src = getenv("RIKE_SRC");
	struct CMUnitTest tests[ARRAY_LEN(captures) + 1];

	if (!shared || !src) {
		printf("RIKE_SHARED/RIKE_SRC not set: skipping\n");
		return 77;
	}
	snprintf(capdir, sizeof(capdir), "%s/captures", shared);
	snprintf(srcdir, sizeof(srcdir), "%s", src);
	if (access(capdir, R_OK | X_OK) != 0) {
		printf("%s absent: skipping\n", capdir);
		return 77;
	}
	for (size_t i = 0; i < ARRAY_LEN(captures); i++) {
		memset(&tests[i], 0, sizeof(tests[i]));
		tests[i].name = captures[i].file;
		tests[i].test_func = test_capture;
		tests[i].initial_state = (void *)&captures[i];
	}
	memset(&tests[ARRAY_LEN(captures)], 0, sizeof(tests[0]));
	tests[ARRAY_LEN(captures)].name = "totals";
	tests[ARRAY_LEN(captures)].test_func = test_totals;
	return _cmocka_run_group_tests("wire_sk_captures", tests, ARRAY_LEN(tests), setup, NULL);
}
