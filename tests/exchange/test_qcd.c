/*
 * Exchange tests of Quick Crash Detection (RFC 6290), both roles, between
 * two in-process engines: tokens in IKE_AUTH (4.2), the unprotected
 * N(INVALID_IKE_SPI), N(QCD_TOKEN)+ answer after the maker lost its state
 * (4.5) and the taker's silent delete and re-initiation (3), tampered and
 * absent tokens (4.5, 2.21.1 of RFC 7296), secret rollover with four
 * tokens (4.3, 5.1), replacement after IKE rekeys (4.3), no valid token in
 * the clear for a live SA (9.2), answer and verification budgets (8.1),
 * INVALID_SPI with tokens from the persistent Child SPI map (8.2), a backup
 * gateway with the same secret (6), and a peer that ignores QCD. QCD is
 * also the extension that exercises the contract's extension-owned
 * requests and their collisions (ike/ext.h 4.): a token request waits for
 * the window, moves to the new SA on an IKE rekey, and is dropped by a
 * delete.
 *
 * A "crash" frees the engine without a word on the wire and puts its state
 * directory back as it was on disk at that instant (the SQLite files
 * included); the rebooted engine loads the same secret file.
 *
 * The harness (harness.h) is shared; what QCD needs beyond it (a state
 * directory per engine, QCD switched on, restarting one engine, log
 * capture) is the qx_ layer below.
 */
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "ike/ext.h"
#include "store/qcd_secret.h"

#define QX_TOK     32 /* rike's tokens: HMAC-SHA-256 (5.1) */
#define QX_MAX_TOK 8

/* ---- local harness additions: QCD config, state dirs, crash, logs ---- */

struct qx_side {
	bool off;          /* riked.qcd.enabled = false */
	unsigned rollover; /* riked.qcd.rollover_interval */
	char dir[64];      /* state_dir, a fresh mkdtemp() */
};

struct qx {
	struct hx_net *n;
	struct hx_conf conf[2];
	struct qx_side side[2];
	char spare[64]; /* the backup gateway's state dir (6) */
	FILE *log;
};

static char *qx_conf_text(struct qx *q, int s, const char *dir)
{
	static const char off[] = "  qcd = { enabled = false; }; };\n";
	char *base = hx_conf_text(&q->conf[s], s), *at, *out = NULL;

	assert_non_null(base);
	at = strstr(base, off);
	assert_non_null(at);
	if (asprintf(&out,
	             "%.*s  qcd = { enabled = %s; rollover_interval = %u; };\n"
	             "  state_dir = \"%s\"; };\n%s",
	             (int)(at - base), base, q->side[s].off ? "false" : "true", q->side[s].rollover,
	             dir, at + strlen(off)) < 0)
		out = NULL;
	free(base);
	assert_non_null(out);
	return out;
}

/* (Re)start engine s with its QCD config and the given state dir. */
static void qx_engine(struct qx *q, int s, const char *dir)
{
	struct hx_peer *p = &q->n->p[s];
	char err[512] = "";
	char *text = qx_conf_text(q, s, dir);

	ike_free(p->ike);
	p->ike = NULL;
	if (p->cfg_loaded)
		cfg_free(&p->cfg);
	p->cfg_loaded = false;
	if (cfg_load_string(text, s == HX_A ? "a.conf" : "b.conf", &p->cfg, err, sizeof(err)))
		fail_msg("config does not load: %s\n%s", err, text);
	free(text);
	p->cfg_loaded = true;
	p->ike = ike_new(&p->cfg, &p->host);
	assert_non_null(p->ike);
}

static struct qx *qx_new(void **state, const struct hx_conf *ca, const struct hx_conf *cb,
                         const struct qx_side *qa, const struct qx_side *qb)
{
	static const struct hx_conf none;
	static const struct qx_side on;
	struct qx *q = calloc(1, sizeof(*q));

	assert_non_null(q);
	*state = q;
	q->conf[HX_A] = ca ? *ca : none;
	q->conf[HX_B] = cb ? *cb : none;
	q->side[HX_A] = qa ? *qa : on;
	q->side[HX_B] = qb ? *qb : on;
	for (int s = 0; s < 2; s++) {
		snprintf(q->side[s].dir, sizeof(q->side[s].dir), "/tmp/rike-qcd-%c-XXXXXX",
		         s == HX_A ? 'a' : 'b');
		assert_non_null(mkdtemp(q->side[s].dir));
	}
	q->n = hx_new(&q->conf[HX_A], &q->conf[HX_B]);
	/* Capture the log (the tests count event lines). */
	q->log = tmpfile();
	assert_non_null(q->log);
	log_set_stream(q->log);
	log_init("rike-exchange", LOG_TARGET_STREAM, LOG_INFO);
	qx_engine(q, HX_A, q->side[HX_A].dir);
	qx_engine(q, HX_B, q->side[HX_B].dir);
	return q;
}

static int qx_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int qx_teardown(void **state)
{
	struct qx *q = *state;
	char line[2048];

	if (!q)
		return 0;
	hx_free(q->n);
	if (q->log && getenv("RIKE_EXCHANGE_LOG")) {
		rewind(q->log);
		while (fgets(line, sizeof(line), q->log))
			fputs(line, stderr);
	}
	log_set_stream(NULL);
	log_init("rike-exchange", LOG_TARGET_STDERR, LOG_WARNING);
	if (q->log)
		fclose(q->log);
	for (int s = 0; s < 2; s++)
		(void)nftw(q->side[s].dir, qx_rm, 8, FTW_DEPTH | FTW_PHYS);
	if (q->spare[0])
		(void)nftw(q->spare, qx_rm, 8, FTW_DEPTH | FTW_PHYS);
	free(q);
	*state = NULL;
	return 0;
}

/* Lines of the captured log that contain needle. */
static size_t qx_log_count(struct qx *q, const char *needle)
{
	char line[2048];
	size_t k = 0;

	fflush(q->log);
	rewind(q->log);
	while (fgets(line, sizeof(line), q->log))
		if (strstr(line, needle))
			k++;
	fseek(q->log, 0, SEEK_END);
	return k;
}

struct qx_file {
	char path[128];
	uint8_t *buf;
	size_t len;
	bool present;
};

static void qx_snap(struct qx_file *f, const char *dir, const char *name)
{
	struct stat st;
	int fd;

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s/%s", dir, name);
	fd = open(f->path, O_RDONLY);
	if (fd < 0)
		return;
	assert_int_equal(fstat(fd, &st), 0);
	f->len = (size_t)st.st_size;
	f->buf = malloc(f->len ? f->len : 1);
	assert_non_null(f->buf);
	assert_int_equal(read(fd, f->buf, f->len), (ssize_t)f->len);
	close(fd);
	f->present = true;
}

static void qx_restore(struct qx_file *f)
{
	int fd;

	if (!f->present) {
		(void)unlink(f->path);
		return;
	}
	fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, f->buf, f->len), (ssize_t)f->len);
	close(fd);
	free(f->buf);
}

/*
 * Engine s crashes: it vanishes without sending anything, and its disk is
 * what it was at that instant (a graceful ike_free would flush and prune
 * the Child SPI map, which a crash does not).
 */
static void qx_crash(struct qx *q, int s)
{
	static const char *const names[] = {"qcd.secret", "qcd-spi.db", "qcd-spi.db-wal"};
	struct qx_file f[3];
	char shm[128];

	for (size_t i = 0; i < 3; i++)
		qx_snap(&f[i], q->side[s].dir, names[i]);
	ike_free(q->n->p[s].ike);
	q->n->p[s].ike = NULL;
	for (size_t i = 0; i < 3; i++)
		qx_restore(&f[i]);
	snprintf(shm, sizeof(shm), "%s/qcd-spi.db-shm", q->side[s].dir);
	(void)unlink(shm);
}

/* Crash and reboot with the same state dir. */
static void qx_crash_reboot(struct qx *q, int s)
{
	qx_crash(q, s);
	qx_engine(q, s, q->side[s].dir);
}

/* TOKEN_SECRET_DATA = HMAC-SHA-256(QCD_SECRET[gen], SPIi | SPIr), from the file on disk (5.1). */
static void qx_token(const char *dir, size_t gen, const uint8_t spi_i[8], const uint8_t spi_r[8],
                     uint8_t out[QX_TOK])
{
	char path[128], why[256] = "";
	struct qcd_secret s;
	struct crypto_chunk in[] = {{spi_i, 8}, {spi_r, 8}};

	snprintf(path, sizeof(path), "%s/qcd.secret", dir);
	assert_int_equal(qcd_secret_load(path, &s, why, sizeof(why)), QCD_LOADED);
	assert_true(gen < s.n);
	assert_int_equal(
	    crypto_prf(IKEV2_PRF_HMAC_SHA2_256, s.key[gen], QCD_SECRET_LEN, in, 2, out), 0);
	qcd_secret_wipe(&s);
}

static size_t qx_generations(const char *dir)
{
	char path[128], why[256] = "";
	struct qcd_secret s;
	size_t n;

	snprintf(path, sizeof(path), "%s/qcd.secret", dir);
	assert_int_equal(qcd_secret_load(path, &s, why, sizeof(why)), QCD_LOADED);
	n = s.n;
	qcd_secret_wipe(&s);
	return n;
}

/* What a message says, for the unprotected ones (or the inside of protected ones). */
struct qx_msg {
	struct wire_hdr h;
	bool prot;           /* last payload is SK */
	size_t npl;          /* payloads (after opening) */
	uint8_t types[32];   /* payload types in order */
	uint16_t ntypes[32]; /* notify types in order (0 for other payloads) */
	size_t ntok;         /* QCD_TOKEN notifies */
	uint8_t tok[QX_MAX_TOK][QX_TOK];
	size_t toklen[QX_MAX_TOK];
	uint8_t tokproto[QX_MAX_TOK], tokspisize[QX_MAX_TOK];
	bool invalid_ike_spi, invalid_spi;
	uint32_t invalid_spi_val;
};

static void qx_fill(struct qx_msg *u, const struct wire_msg *m)
{
	memset(u, 0, sizeof(*u));
	u->h = m->hdr;
	u->npl = m->npayloads;
	for (size_t i = 0; i < m->npayloads; i++) {
		const struct wire_payload *p = &m->payloads[i];

		if (i < 32)
			u->types[i] = p->type;
		if (p->type == IKEV2_PL_SK)
			u->prot = true;
		if (p->type != IKEV2_PL_N)
			continue;
		if (i < 32)
			u->ntypes[i] = p->u.notify.type;
		if (p->u.notify.type == IKEV2_N_INVALID_IKE_SPI)
			u->invalid_ike_spi = true;
		if (p->u.notify.type == IKEV2_N_INVALID_SPI && p->u.notify.len == 4) {
			const uint8_t *d = p->u.notify.data;

			u->invalid_spi = true;
			u->invalid_spi_val = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
			                     (uint32_t)d[2] << 8 | d[3];
		}
		if (p->u.notify.type == IKEV2_N_QUICK_CRASH_DETECTION && u->ntok < QX_MAX_TOK) {
			size_t l = p->u.notify.len < QX_TOK ? p->u.notify.len : QX_TOK;

			memcpy(u->tok[u->ntok], p->u.notify.data, l);
			u->toklen[u->ntok] = p->u.notify.len;
			u->tokproto[u->ntok] = p->u.notify.protocol;
			u->tokspisize[u->ntok] = p->u.notify.spi_size;
			u->ntok++;
		}
	}
}

/* Queued datagram i, opened with the receiver's keys when protected. */
static void qx_parse(struct hx_net *n, size_t i, struct qx_msg *u)
{
	struct wire_msg *m = malloc(sizeof(*m));

	assert_non_null(m);
	if (hx_decode(n, i, m) < 0) {
		wire_msg_free(m);
		free(m);
		fail_msg("datagram %zu does not decode/open", i);
	}
	qx_fill(u, m);
	wire_msg_free(m);
	free(m);
}

/* Any datagram, without opening SK. */
static void qx_parse_raw(const struct hx_dgram *d, struct qx_msg *u)
{
	struct wire_msg *m = malloc(sizeof(*m));
	struct wire_error err;
	const uint8_t *p;
	size_t len;

	assert_non_null(m);
	wire_msg_init(m);
	hx_ike_bytes(d, &p, &len);
	if (wire_decode(p, len, m, &err) < 0)
		fail_msg("datagram does not decode: %s", err.reason ? err.reason : "?");
	qx_fill(u, m);
	wire_msg_free(m);
	free(m);
}

static ssize_t qx_index(const struct qx_msg *u, uint8_t type, uint16_t ntype)
{
	for (size_t i = 0; i < u->npl && i < 32; i++)
		if (u->types[i] == type && (!ntype || u->ntypes[i] == ntype))
			return (ssize_t)i;
	return -1;
}

static void qx_ip(struct ike_addr *a, const char *ip, uint16_t port)
{
	hx_addr(a, ip, port);
}

/* Hand a datagram to engine dst as if it came from `from` (port 500 unless from says). */
static void qx_inject(struct hx_net *n, int dst, const struct ike_addr *from, const uint8_t *buf,
                      size_t len)
{
	struct ike_addr to;

	qx_ip(&to, dst == HX_A ? HX_ADDR_A : HX_ADDR_B, 500);
	hx_input(n, from, &to, buf, len);
}

static bool qx_memmem(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen)
{
	return hlen >= nlen && memmem(hay, hlen, needle, nlen) != NULL;
}

static void qx_put_hdr_spis(uint8_t *buf, const uint8_t spi_i[8], const uint8_t spi_r[8])
{
	memcpy(buf, spi_i, 8);
	memcpy(buf + 8, spi_r, 8);
}

/* Common start: both sides QCD makers and takers; a keeps the connection up. */
static struct qx *qx_up(void **state, const struct qx_side *qa, const struct qx_side *qb)
{
	struct hx_conf ca = {.keep_up = true, .start = "start"};
	struct qx *q = qx_new(state, &ca, NULL, qa, qb);

	hx_establish(q->n);
	return q;
}

/* a asks b for a liveness check (HDR, SK {} -->); returns a's request header. */
static void qx_dpd(struct qx *q, struct wire_hdr *req)
{
	assert_int_equal(ike_dpd_now(hx_ike(q->n, HX_A), HX_CONN), 0);
	assert_int_equal(q->n->nq, 1);
	hx_expect(q->n, 0, HX_A, IKEV2_EXCH_INFORMATIONAL, false);
	hx_hdr(q->n, 0, req);
}

/* Check an unprotected answer to a protected request (4.5, RFC 7296 2.21.1). */
static void qx_expect_unprotected_answer(struct hx_net *n, size_t i, const struct wire_hdr *req,
                                         struct qx_msg *u)
{
	qx_parse(n, i, u);
	assert_int_equal(n->q[i].src, HX_B);
	assert_false(u->prot);
	assert_int_equal(u->h.exchange, IKEV2_EXCH_INFORMATIONAL);
	assert_true(u->h.flags & IKEV2_FLAG_RESPONSE);
	/* "the IKE SPI and message ID fields ... are taken from the protected IKE request" */
	assert_memory_equal(u->h.spi_i, req->spi_i, 8);
	assert_memory_equal(u->h.spi_r, req->spi_r, 8);
	assert_int_equal(u->h.msg_id, req->msg_id);
	/* The I flag says who sends: b is not the original initiator here. */
	assert_int_equal(!!(u->h.flags & IKEV2_FLAG_INITIATOR),
	                 !(req->flags & IKEV2_FLAG_INITIATOR));
	assert_true(u->invalid_ike_spi);
	/* N(INVALID_IKE_SPI) comes first, the tokens after it. */
	assert_int_equal(qx_index(u, IKEV2_PL_N, IKEV2_N_INVALID_IKE_SPI), 0);
	for (size_t t = 0; t < u->ntok; t++) {
		/* 4.1: protocol 1 (IKE), SPI size 0, 16..128 octets (rike: 32). */
		assert_int_equal(u->tokproto[t], IKEV2_PROTO_IKE);
		assert_int_equal(u->tokspisize[t], 0);
		assert_int_equal(u->toklen[t], QX_TOK);
	}
}

/* a's SA was deleted silently and a new one came up at once (3). */
static void qx_expect_reinitiated(struct qx *q, uint64_t old_serial, size_t a_down_before)
{
	struct hx_net *n = q->n;
	uint64_t t0 = n->now;
	struct ike_sa *a;

	/* No Delete, no other message for the old SA: "silently". */
	assert_int_equal(n->nq, 0);
	a = hx_sa(n, HX_A);
	assert_true(!a || a->serial != old_serial);
	/* Its Child SA left the data plane. */
	assert_int_equal(n->p[HX_A].n_child_down, a_down_before + 1);
	assert_int_equal(n->p[HX_A].n_installed, 0);
	/* keep_up: re-initiated at once, on the next timer run (no delay). */
	hx_advance(n, 1);
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_SA_INIT, false);
	/* HDR, SAi1, KEi, Ni -->  <-- HDR, SAr1, KEr, Nr
	 * HDR, SK {IDi, AUTH, N(QCD_TOKEN), SAi2, TSi, TSr} -->
	 * <-- HDR, SK {IDr, AUTH, N(QCD_TOKEN), SAr2, TSi, TSr} */
	assert_int_equal(hx_deliver_all(n, 10), 4);
	assert_true(n->now - t0 <= 5);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	a = hx_sa(n, HX_A);
	assert_true(a->serial != old_serial);
	assert_int_equal(qcd_view(a).n_peer, 1);
	assert_int_equal(qcd_view(hx_sa(n, HX_B)).n_peer, 1);
}

/* ---- 1. tokens in IKE_AUTH (3, 4.2) ---- */

static void test_token_in_ike_auth(void **state)
{
	struct hx_conf ca = {.keep_up = true, .start = "start"};
	struct qx *q = qx_new(state, &ca, NULL, NULL, NULL);
	struct hx_net *n = q->n;
	struct qx_msg req, resp;
	struct ike_sa *a, *b;
	uint8_t tok_a[QX_TOK], tok_b[QX_TOK];
	ssize_t auth, qcd, sa, tsi;
	char *js = NULL;
	size_t jlen = 0;
	FILE *f;

	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	/* HDR, SAi1, KEi, Ni -->  <-- HDR, SAr1, KEr, Nr: no token in the clear */
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_SA_INIT, false);
	assert_false(hx_has_notify(n, 0, IKEV2_N_QUICK_CRASH_DETECTION));
	assert_int_equal(hx_deliver(n), 0);
	assert_false(hx_has_notify(n, 0, IKEV2_N_QUICK_CRASH_DETECTION));
	assert_int_equal(hx_deliver(n), 0);

	/* HDR, SK {IDi, [IDr,] AUTH, N(QCD_TOKEN), [N(INITIAL_CONTACT),] SAi2, TSi, TSr} --> */
	hx_expect(n, 0, HX_A, IKEV2_EXCH_IKE_AUTH, false);
	qx_parse(n, 0, &req);
	assert_true(req.prot);
	assert_int_equal(req.ntok, 1);
	assert_int_equal(req.toklen[0], QX_TOK);
	assert_int_equal(req.tokproto[0], IKEV2_PROTO_IKE);
	assert_int_equal(req.tokspisize[0], 0);
	/* It precedes the Child SA payloads (4.2). */
	qcd = qx_index(&req, IKEV2_PL_N, IKEV2_N_QUICK_CRASH_DETECTION);
	sa = qx_index(&req, IKEV2_PL_SA, 0);
	assert_true(qcd >= 0 && sa > qcd);
	assert_int_equal(hx_deliver(n), 0);

	/* <-- HDR, SK {IDr, AUTH, N(QCD_TOKEN), SAr2, TSi, TSr} */
	hx_expect(n, 0, HX_B, IKEV2_EXCH_IKE_AUTH, true);
	qx_parse(n, 0, &resp);
	assert_true(resp.prot);
	assert_int_equal(resp.ntok, 1);
	assert_int_equal(resp.toklen[0], QX_TOK);
	/* 4.2: "should follow the AUTH payload and precede ... all payloads related to the child
	 * SA" */
	auth = qx_index(&resp, IKEV2_PL_AUTH, 0);
	qcd = qx_index(&resp, IKEV2_PL_N, IKEV2_N_QUICK_CRASH_DETECTION);
	sa = qx_index(&resp, IKEV2_PL_SA, 0);
	tsi = qx_index(&resp, IKEV2_PL_TSI, 0);
	assert_true(auth >= 0 && qcd > auth && sa > qcd && tsi > qcd);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(n->nq, 0);

	hx_assert_ike_up(n);
	a = hx_sa(n, HX_A);
	b = hx_sa(n, HX_B);
	/* 3: each side stores the other's token with the IKE SA. */
	assert_int_equal(qcd_view(a).n_peer, 1);
	assert_int_equal(qcd_view(b).n_peer, 1);
	assert_true(qcd_view(a).token_sent);
	assert_true(qcd_view(b).token_sent);
	assert_int_equal(qcd_view(a).peer_len[0], QX_TOK);
	assert_int_equal(qcd_view(b).peer_len[0], QX_TOK);
	assert_memory_equal(qcd_view(a).peer[0], resp.tok[0], QX_TOK);
	assert_memory_equal(qcd_view(b).peer[0], req.tok[0], QX_TOK);
	/* 5.1: HASH(QCD_SECRET | SPI-I | SPI-R) with each maker's own secret. */
	qx_token(q->side[HX_B].dir, 0, a->spi_i, a->spi_r, tok_b);
	qx_token(q->side[HX_A].dir, 0, a->spi_i, a->spi_r, tok_a);
	assert_memory_equal(qcd_view(a).peer[0], tok_b, QX_TOK);
	assert_memory_equal(qcd_view(b).peer[0], tok_a, QX_TOK);
	assert_memory_not_equal(tok_a, tok_b, QX_TOK);
	/* The engine created each state dir's secret file. */
	assert_int_equal(qx_generations(q->side[HX_A].dir), 1);
	assert_int_equal(qx_generations(q->side[HX_B].dir), 1);
	/* Status: a "qcd" object per SA. */
	f = open_memstream(&js, &jlen);
	assert_non_null(f);
	hx_status_json(hx_ike(n, HX_A), f);
	fclose(f);
	assert_non_null(strstr(js, "\"qcd\""));
	assert_non_null(strstr(js, "\"token_sent\":true"));
	assert_non_null(strstr(js, "\"peer_tokens\":1"));
	free(js);
	assert_true(qx_log_count(q, "qcd-token-stored") >= 2);
}

/* ---- 2. valid token after a crash (3, 4.5) ---- */

static void test_crash_valid_token(void **state)
{
	struct qx *q = qx_up(state, NULL, NULL);
	struct hx_net *n = q->n;
	struct wire_hdr req;
	struct qx_msg ans;
	uint64_t serial = hx_sa(n, HX_A)->serial;
	size_t down = n->p[HX_A].n_child_down;
	uint8_t held[QX_TOK];

	memcpy(held, qcd_view(hx_sa(n, HX_A)).peer[0], QX_TOK);
	/* b loses all state; it reboots with the same qcd.secret. */
	qx_crash_reboot(q, HX_B);
	assert_int_equal(ike_sa_count(hx_ike(n, HX_B)), 0);

	/* HDR, SK {} -->  (a's liveness check on the SA b lost) */
	qx_dpd(q, &req);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, N(INVALID_IKE_SPI), N(QCD_TOKEN)   (unprotected) */
	assert_int_equal(n->nq, 1);
	qx_expect_unprotected_answer(n, 0, &req, &ans);
	assert_int_equal(ans.ntok, 1);
	assert_memory_equal(ans.tok[0], held, QX_TOK);
	assert_int_equal(hx_stats(n, HX_B)->drop_unknown_spi, 1);
	assert_int_equal(hx_deliver(n), 0);
	/* a: the token matches the one stored: delete silently, re-initiate (keep_up). */
	assert_int_equal(qx_log_count(q, "qcd-verified"), 1);
	qx_expect_reinitiated(q, serial, down);
}

/* ---- 3. tampered token (4.5: no answer; liveness check) ---- */

static void test_crash_invalid_token(void **state)
{
	struct qx *q = qx_up(state, NULL, NULL);
	struct hx_net *n = q->n;
	struct wire_hdr req, h;
	struct qx_msg ans;
	struct ike_sa *a = hx_sa(n, HX_A);
	uint64_t serial = a->serial, retr;
	size_t down = n->p[HX_A].n_child_down;

	qx_crash_reboot(q, HX_B);
	/* HDR, SK {} --> */
	qx_dpd(q, &req);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, N(INVALID_IKE_SPI), N(QCD_TOKEN')   with the token's last octet changed */
	qx_expect_unprotected_answer(n, 0, &req, &ans);
	assert_int_equal(ans.ntok, 1);
	hx_tamper(n, 0, n->q[0].len - 1, 0x01);
	retr = hx_stats(n, HX_A)->retransmits;
	assert_int_equal(hx_deliver(n), 0);
	/* 4.5: "If the QCD_TOKEN cannot be validated, a response MUST NOT be sent". */
	assert_int_equal(n->nq, 0);
	assert_int_equal(qx_log_count(q, "qcd-rejected"), 1);
	assert_int_equal(qx_log_count(q, "qcd-verified"), 0);
	a = hx_sa(n, HX_A);
	assert_non_null(a);
	assert_int_equal(a->serial, serial);
	assert_int_equal(a->state, IKE_S_ESTABLISHED);
	assert_int_equal(n->p[HX_A].n_child_down, down);
	/* The hint makes the liveness check go on now: the outstanding request is
	 * retransmitted at once rather than after its back-off. */
	hx_advance(n, 0);
	assert_int_equal(n->nq, 1);
	hx_hdr(n, 0, &h);
	assert_int_equal(h.msg_id, req.msg_id);
	assert_int_equal(hx_stats(n, HX_A)->retransmits, retr + 1);
	/* HDR, SK {} -->  <-- HDR, N(INVALID_IKE_SPI), N(QCD_TOKEN) (intact this time) */
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(qx_log_count(q, "qcd-verified"), 1);
	qx_expect_reinitiated(q, serial, down);
}

/* ---- 4. no token: QCD off on b (RFC 7296 2.21.1, 2.4 apply) ---- */

static void no_token(void **state, bool global_off)
{
	struct hx_conf cb = {.extra = global_off ? "" : "qcd = false;"};
	struct hx_conf ca = {.keep_up = false};
	struct qx_side qb = {.off = global_off};
	struct qx *q = qx_new(state, &ca, &cb, NULL, &qb);
	struct hx_net *n = q->n;
	struct wire_hdr req;
	struct qx_msg ans;
	struct ike_sa *a;
	uint64_t serial, retr, t0;

	hx_establish(n);
	a = hx_sa(n, HX_A);
	serial = a->serial;
	/* b sent no token; a's token to b was ignored (b is no taker). */
	assert_int_equal(qcd_view(a).n_peer, 0);
	assert_int_equal(qcd_view(hx_sa(n, HX_B)).n_peer, 0);
	assert_false(qcd_view(hx_sa(n, HX_B)).token_sent);
	assert_true(qcd_view(a).token_sent);
	qx_crash_reboot(q, HX_B);
	/* HDR, SK {} -->  <-- HDR, N(INVALID_IKE_SPI) */
	qx_dpd(q, &req);
	assert_int_equal(hx_deliver(n), 0);
	qx_expect_unprotected_answer(n, 0, &req, &ans);
	assert_int_equal(ans.ntok, 0);
	assert_int_equal(ans.npl, 1);
	retr = hx_stats(n, HX_A)->retransmits;
	assert_int_equal(hx_deliver(n), 0);
	/* a keeps the SA: an unprotected notify proves nothing (RFC 7296 2.21.1) ... */
	a = hx_sa(n, HX_A);
	assert_non_null(a);
	assert_int_equal(a->serial, serial);
	assert_int_equal(a->state, IKE_S_ESTABLISHED);
	assert_int_equal(n->nq, 0);
	/* ... but the liveness check goes on at once. */
	hx_advance(n, 0);
	assert_int_equal(n->nq, 1);
	assert_int_equal(hx_stats(n, HX_A)->retransmits, retr + 1);
	/* Then RFC 7296 2.4: retransmissions with back-off, then give up. */
	t0 = n->now;
	hx_settle(n, 30000);
	assert_null(hx_sa(n, HX_A));
	assert_int_equal(qx_log_count(q, "peer-dead"), 1);
	assert_int_equal(n->p[HX_A].n_installed, 0);
	(void)t0;
}

static void test_no_token_global_off(void **state)
{
	no_token(state, true);
}

static void test_no_token_conn_off(void **state)
{
	no_token(state, false);
}

/* ---- 5. rollover: 4 tokens per answer (4.3, 4.5, 5.1) ---- */

/* 3 rollovers whose INFORMATIONALs are lost: a holds only the first token, which is
 * the oldest of the 4 that b presents after its crash. */
static void test_rollover_old_token_matches(void **state)
{
	struct qx *q = qx_up(state, NULL, NULL);
	struct hx_net *n = q->n;
	struct ike_sa *a = hx_sa(n, HX_A);
	uint64_t serial = a->serial;
	size_t down = n->p[HX_A].n_child_down;
	uint8_t first[QX_TOK], want[QX_TOK];
	uint8_t spi_i[8], spi_r[8];
	struct wire_hdr req;
	struct qx_msg ans, info;

	memcpy(first, qcd_view(a).peer[0], QX_TOK);
	memcpy(spi_i, a->spi_i, 8);
	memcpy(spi_r, a->spi_r, 8);
	for (int r = 0; r < 3; r++) {
		assert_int_equal(ike_qcd_rollover(hx_ike(n, HX_B)), 0);
		/* <-- HDR, SK {N(QCD_TOKEN)} (4.3) ... lost on the way. */
		if (r == 0) {
			assert_int_equal(n->nq, 1);
			hx_expect(n, 0, HX_B, IKEV2_EXCH_INFORMATIONAL, false);
			qx_parse(n, 0, &info);
			assert_int_equal(info.ntok, 1);
		}
		hx_q_clear(n);
	}
	assert_int_equal(qx_generations(q->side[HX_B].dir), 4);
	assert_int_equal(qcd_view(hx_sa(n, HX_A)).n_peer, 1);
	qx_crash_reboot(q, HX_B);
	qx_dpd(q, &req);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, N(INVALID_IKE_SPI), N(QCD_TOKEN) x 4, newest first */
	qx_expect_unprotected_answer(n, 0, &req, &ans);
	assert_int_equal(ans.ntok, 4);
	for (size_t g = 0; g < 4; g++) {
		qx_token(q->side[HX_B].dir, g, spi_i, spi_r, want);
		assert_memory_equal(ans.tok[g], want, QX_TOK);
	}
	assert_memory_equal(ans.tok[3], first, QX_TOK);
	assert_int_equal(hx_deliver(n), 0);
	/* "The token is considered verified if any of the QCD_TOKEN notifications matches." */
	assert_int_equal(qx_log_count(q, "qcd-verified"), 1);
	qx_expect_reinitiated(q, serial, down);
}

/* 4 rollovers with the INFORMATIONALs delivered: the first generation is gone, yet
 * a's newest token (replaced after each rollover) matches. */
static void test_rollover_tokens_replaced(void **state)
{
	struct qx *q = qx_up(state, NULL, NULL);
	struct hx_net *n = q->n;
	struct ike_sa *a = hx_sa(n, HX_A);
	uint64_t serial = a->serial;
	size_t down = n->p[HX_A].n_child_down;
	uint8_t first[QX_TOK], want[QX_TOK];
	struct wire_hdr req;
	struct qx_msg ans, info;

	memcpy(first, qcd_view(a).peer[0], QX_TOK);
	for (size_t r = 1; r <= 4; r++) {
		assert_int_equal(ike_qcd_rollover(hx_ike(n, HX_B)), 0);
		/* <-- HDR, SK {N(QCD_TOKEN)}   HDR, SK {} --> */
		assert_int_equal(n->nq, 1);
		hx_expect(n, 0, HX_B, IKEV2_EXCH_INFORMATIONAL, false);
		qx_parse(n, 0, &info);
		assert_int_equal(info.ntok, 1);
		qx_token(q->side[HX_B].dir, 0, a->spi_i, a->spi_r, want);
		assert_memory_equal(info.tok[0], want, QX_TOK);
		assert_int_equal(hx_deliver_all(n, 4), 2);
		a = hx_sa(n, HX_A);
		assert_int_equal(a->serial, serial);
		assert_int_equal(qcd_view(a).n_peer,
		                 r + 1 < QCD_VIEW_TOKENS ? r + 1 : QCD_VIEW_TOKENS);
		assert_memory_equal(qcd_view(a).peer[0], want, QX_TOK);
	}
	assert_int_equal(qx_generations(q->side[HX_B].dir), 4);
	/* a holds generations 5, 4, 3, 2 now. */
	assert_memory_not_equal(qcd_view(a).peer[3], first, QX_TOK);
	qx_crash_reboot(q, HX_B);
	qx_dpd(q, &req);
	assert_int_equal(hx_deliver(n), 0);
	qx_expect_unprotected_answer(n, 0, &req, &ans);
	assert_int_equal(ans.ntok, 4); /* still 4: the first generation fell out */
	for (size_t g = 0; g < 4; g++) {
		assert_memory_not_equal(ans.tok[g], first, QX_TOK);
		assert_memory_equal(ans.tok[g], qcd_view(a).peer[g], QX_TOK);
	}
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(qx_log_count(q, "qcd-verified"), 1);
	qx_expect_reinitiated(q, serial, down);
}

/* ---- 6. IKE rekey: new tokens for the new SPIs (4.3) ---- */

static void rekey_tokens(void **state, int side)
{
	struct qx *q = qx_up(state, NULL, NULL);
	struct hx_net *n = q->n;
	int other = side == HX_A ? HX_B : HX_A;
	struct ike_sa *a, *b;
	struct qx_msg resp, info;
	uint8_t want[QX_TOK], old_a[QX_TOK], old_b[QX_TOK];
	struct wire_hdr h, req;
	uint64_t serial;
	size_t down;
	bool seen_info = false;

	memcpy(old_a, qcd_view(hx_sa(n, HX_A)).peer[0], QX_TOK);
	memcpy(old_b, qcd_view(hx_sa(n, HX_B)).peer[0], QX_TOK);
	assert_int_equal(ike_rekey_ike(hx_ike(n, side), HX_CONN), 0);
	/* HDR, SK {SA, Ni, KEi} --> */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, side, IKEV2_EXCH_CREATE_CHILD_SA, false);
	assert_false(hx_has_notify(n, 0, IKEV2_N_QUICK_CRASH_DETECTION));
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, SK {SA, Nr, KEr, N(QCD_TOKEN)}   (the rekey responder's token) */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, other, IKEV2_EXCH_CREATE_CHILD_SA, true);
	qx_parse(n, 0, &resp);
	assert_int_equal(resp.ntok, 1);
	assert_int_equal(hx_deliver(n), 0);
	/* The rekey initiator: HDR(new), SK {N(QCD_TOKEN)} -->  and, on the old SA,
	 * HDR(old), SK {D} -->  (in either order). */
	for (size_t i = 0; i < n->nq; i++) {
		struct ike_sa *ns = hx_sa(n, side);

		hx_hdr(n, i, &h);
		if (h.exchange != IKEV2_EXCH_INFORMATIONAL || memcmp(h.spi_i, ns->spi_i, 8))
			continue;
		assert_int_equal(n->q[i].src, side);
		qx_parse(n, i, &info);
		assert_int_equal(info.ntok, 1);
		qx_token(q->side[side].dir, 0, ns->spi_i, ns->spi_r, want);
		assert_memory_equal(info.tok[0], want, QX_TOK);
		seen_info = true;
	}
	assert_true(seen_info);
	hx_settle(n, 1000);
	hx_assert_ike_up(n);
	assert_int_equal(hx_count_sas(n, HX_A), 1);
	assert_int_equal(hx_count_sas(n, HX_B), 1);
	a = hx_sa(n, HX_A);
	b = hx_sa(n, HX_B);
	/* The old tokens went with the old SA (5.3); each side holds the other's new one. */
	assert_int_equal(qcd_view(a).n_peer, 1);
	assert_int_equal(qcd_view(b).n_peer, 1);
	qx_token(q->side[HX_B].dir, 0, a->spi_i, a->spi_r, want);
	assert_memory_equal(qcd_view(a).peer[0], want, QX_TOK);
	assert_memory_not_equal(qcd_view(a).peer[0], old_a, QX_TOK);
	qx_token(q->side[HX_A].dir, 0, a->spi_i, a->spi_r, want);
	assert_memory_equal(qcd_view(b).peer[0], want, QX_TOK);
	assert_memory_not_equal(qcd_view(b).peer[0], old_b, QX_TOK);
	assert_memory_equal(side == HX_A ? qcd_view(a).peer[0] : qcd_view(b).peer[0], resp.tok[0],
	                    QX_TOK);
	assert_true(qcd_view(a).token_sent && qcd_view(b).token_sent);
	/* Crash + valid token on the new SA. */
	serial = a->serial;
	down = n->p[HX_A].n_child_down;
	qx_crash_reboot(q, HX_B);
	qx_dpd(q, &req);
	assert_int_equal(hx_deliver(n), 0);
	qx_expect_unprotected_answer(n, 0, &req, &resp);
	assert_int_equal(resp.ntok, 1);
	assert_memory_equal(resp.tok[0], qcd_view(a).peer[0], QX_TOK);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(qx_log_count(q, "qcd-verified"), 1);
	qx_expect_reinitiated(q, serial, down);
}

static void test_rekey_by_a_replaces_tokens(void **state)
{
	rekey_tokens(state, HX_A);
}

static void test_rekey_by_b_replaces_tokens(void **state)
{
	rekey_tokens(state, HX_B);
}

/* ---- 7. never a valid token in the clear for a live SA (9.2) ---- */

static void test_no_live_token_in_clear(void **state)
{
	struct qx *q = qx_up(state, NULL, NULL);
	struct hx_net *n = q->n;
	struct ike_sa *b = hx_sa(n, HX_B);
	uint8_t live[QX_MAX_TOK][QX_TOK], rnd[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	uint8_t spi_i[8], spi_r[8], *buf;
	struct hx_dgram d;
	struct ike_addr a500, x500;
	size_t answered = 0, len;
	uint32_t b_child_in = n->p[HX_B].installed[0].spi_in;

	memcpy(spi_i, b->spi_i, 8);
	memcpy(spi_r, b->spi_r, 8);
	/* The live SA's token, as a holds it and as any generation would make it. */
	memcpy(live[0], qcd_view(hx_sa(n, HX_A)).peer[0], QX_TOK);
	qx_token(q->side[HX_B].dir, 0, spi_i, spi_r, live[1]);
	assert_memory_equal(live[0], live[1], QX_TOK);
	hx_record(n);
	/* A real protected request of a's, as raw material. */
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	hx_take(n, 0, &d);
	len = d.len;
	buf = malloc(len);
	assert_non_null(buf);
	qx_ip(&a500, HX_ADDR_A, 500);
	qx_ip(&x500, "198.51.100.7", 500);
	for (int k = 0; k < 10; k++) {
		const struct ike_addr *from = k & 1 ? &x500 : &a500;

		memcpy(buf, d.buf, len);
		switch (k / 2) {
		case 0: /* live SPIs, wrong keys: the ICV fails, dropped (RFC 7296 2.21.2) */
			buf[len - 1] ^= 0x80;
			break;
		case 1: /* swapped SPIs */
			qx_put_hdr_spis(buf, spi_r, spi_i);
			break;
		case 2: /* the live SPIr with another SPIi */
			qx_put_hdr_spis(buf, rnd, spi_r);
			break;
		case 3: /* the live SPIs, but the I flag cleared (as if b had initiated) */
			buf[19] &= (uint8_t)~IKEV2_FLAG_INITIATOR;
			break;
		case 4: /* the live SPIs, a bogus message ID and another exchange type */
			buf[18] = IKEV2_EXCH_CREATE_CHILD_SA;
			buf[23] ^= 0x40;
			break;
		}
		/* HDR(forged), SK {...} --> */
		qx_inject(n, HX_B, from, buf, len);
		for (size_t i = 0; i < n->nq; i++)
			if (n->q[i].src == HX_B)
				answered++;
		hx_q_clear(n);
	}
	/* 8.2 path on the live engine: ESP for its own live inbound Child SPI
	 * (e.g. the kernel expired it a moment before IKE did). */
	ike_esp_unknown_spi(hx_ike(n, HX_B), b_child_in, &n->p[HX_B].ip, &a500);
	hx_q_clear(n);
	/* Some forgeries did get unprotected answers (with tokens for other SPIs)... */
	assert_true(answered > 0);
	/* ... but no datagram b ever sent holds the live SA's token in the clear. */
	for (size_t i = 0; i < n->nlog; i++) {
		struct qx_msg u;

		if (n->log[i].src != HX_B)
			continue;
		qx_parse_raw(&n->log[i], &u);
		if (u.prot)
			continue;
		if (qx_memmem(n->log[i].buf, n->log[i].len, live[0], QX_TOK))
			fail_msg("9.2: b sent the live SA's QCD token in the clear (datagram %zu, "
			         "flags %02x)",
			         i, u.h.flags);
	}
	/* The SA is unharmed. */
	free(buf);
	free(d.buf);
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	hx_settle(n, 100);
	hx_assert_ike_up(n);
}

/* ---- 8. budgets (8.1, 9.3) ---- */

/* b's answers to protected requests for unknown SPIs from one and from many sources. */
static void test_answer_budgets(void **state)
{
	struct hx_conf cb = {.remote = "%any"};
	struct hx_conf ca = {.keep_up = false};
	struct qx *q = qx_new(state, &ca, &cb, NULL, NULL);
	struct hx_net *n = q->n;
	struct hx_dgram d;
	struct ike_addr src;
	uint8_t *buf;
	size_t with_tok = 0, plain = 0, silent = 0, one_src = 0;
	char ip[32];

	hx_establish(n);
	qx_crash_reboot(q, HX_B);
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	hx_take(n, 0, &d);
	buf = malloc(d.len);
	assert_non_null(buf);
	/* One source, 40 requests at one instant: the per-source budget stops the answers. */
	qx_ip(&src, "198.51.100.1", 500);
	for (uint32_t k = 0; k < 40; k++) {
		memcpy(buf, d.buf, d.len);
		memcpy(buf, &k, sizeof(k)); /* a fresh SPIi each time */
		qx_inject(n, HX_B, &src, buf, d.len);
		one_src += n->nq;
		hx_q_clear(n);
	}
	/* engine.c answers one source 20 times in a burst (RFC 7296 2.21.1 budget). */
	assert_int_equal(one_src, 20);
	/* Many sources (8 requests each, within the per-source budget): after the global
	 * token budget, the answers fall back to a plain INVALID_IKE_SPI (8.1). */
	for (uint32_t s = 0; s < 200; s++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.9", 100 + s / 250, s % 250);
		qx_ip(&src, ip, 500);
		for (uint32_t k = 0; k < 8; k++) {
			struct qx_msg u;
			uint32_t tag = 0x01000000u + s * 16 + k;

			memcpy(buf, d.buf, d.len);
			memcpy(buf, &tag, sizeof(tag));
			qx_inject(n, HX_B, &src, buf, d.len);
			if (!n->nq) {
				silent++;
				continue;
			}
			assert_int_equal(n->nq, 1);
			qx_parse_raw(&n->q[0], &u);
			assert_true(u.invalid_ike_spi);
			if (u.ntok)
				with_tok++;
			else
				plain++;
			hx_q_clear(n);
		}
	}
	print_message("budgets: one source %zu/40 answered; many sources: %zu with token, %zu "
	              "plain, %zu silent\n",
	              one_src, with_tok, plain, silent);
	/* qcd.c's token budget is a burst of 1000 answers: those to the single
	 * source took 20 of them; the rest are plain INVALID_IKE_SPI. Sources
	 * that share a budget slot lose a few answers altogether. */
	assert_int_equal(with_tok + one_src, 1000);
	assert_true(plain > 500);
	assert_true(silent < 100);
	/* Time refills the token budget. */
	hx_advance(n, 5000);
	hx_q_clear(n); /* a's retransmissions of the request taken off the wire */
	qx_ip(&src, "192.0.2.77", 500);
	memcpy(buf, d.buf, d.len);
	memset(buf, 0x5a, 8);
	qx_inject(n, HX_B, &src, buf, d.len);
	assert_int_equal(n->nq, 1);
	{
		struct qx_msg u;

		qx_parse_raw(&n->q[0], &u);
		assert_int_equal(u.ntok, 1);
	}
	hx_q_clear(n);
	free(buf);
	free(d.buf);
}

/* a verifies tokens from one source at a bounded rate (8.1), and from any source (3). */
static void test_verify_budget(void **state)
{
	struct qx *q = qx_up(state, NULL, NULL);
	struct hx_net *n = q->n;
	struct hx_dgram good;
	struct ike_addr x, y;
	uint8_t *bad;
	uint64_t serial = hx_sa(n, HX_A)->serial;
	size_t down = n->p[HX_A].n_child_down;
	struct wire_hdr req;

	qx_crash_reboot(q, HX_B);
	qx_dpd(q, &req);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, N(INVALID_IKE_SPI), N(QCD_TOKEN): taken off the wire */
	hx_take(n, 0, &good);
	bad = malloc(good.len);
	assert_non_null(bad);
	memcpy(bad, good.buf, good.len);
	bad[good.len - 1] ^= 0xff;
	qx_ip(&x, "198.51.100.20", 500);
	qx_ip(&y, "198.51.100.21", 4500);
	/* 30 bad tokens from x at one instant. */
	for (int k = 0; k < 30; k++)
		qx_inject(n, HX_A, &x, bad, good.len);
	assert_int_equal(hx_sa(n, HX_A)->serial, serial);
	/* Logged a few times, not 30 (rate-limited log, 8.1). */
	assert_true(qx_log_count(q, "qcd-rejected") >= 1);
	assert_true(qx_log_count(q, "qcd-rejected") <= 5);
	/* x's budget is spent: even the good token from x is not looked at now. */
	qx_inject(n, HX_A, &x, good.buf, good.len);
	assert_non_null(hx_sa(n, HX_A));
	assert_int_equal(hx_sa(n, HX_A)->serial, serial);
	assert_int_equal(qx_log_count(q, "qcd-verified"), 0);
	/* From another address and port (a backup gateway, 3): verified. */
	hx_q_clear(n);
	qx_inject(n, HX_A, &y, good.buf, good.len);
	assert_int_equal(qx_log_count(q, "qcd-verified"), 1);
	free(bad);
	free(good.buf);
	qx_expect_reinitiated(q, serial, down);
}

/*
 * Spoofed hints while the peer is alive: an attacker who saw the SPIs sends
 * unprotected INVALID_IKE_SPI notifies (no token) while a's liveness check
 * is in flight. They may speed the check up, but must not make a give up on
 * a live peer before it could answer (RFC 6290 9: no "resetting the session").
 */
static void test_spoofed_hints_do_not_kill(void **state)
{
	struct qx *q = qx_up(state, NULL, NULL);
	struct hx_net *n = q->n;
	struct ike_sa *a = hx_sa(n, HX_A);
	uint64_t serial = a->serial;
	struct wire_hdr req;
	struct wire_msg m;
	struct ike_addr x, a500;
	struct wire_wr w;

	qx_dpd(q, &req);
	/* The attacker's HDR(SPIs, msg ID, R), N(INVALID_IKE_SPI), from another address. */
	wire_msg_init(&m);
	m.hdr = req;
	m.hdr.flags = IKEV2_FLAG_RESPONSE;
	assert_int_equal(build_notify(&m, 0, NULL, 0, IKEV2_N_INVALID_IKE_SPI, NULL, 0), 0);
	wire_wr_init(&w, 1024);
	assert_int_equal(wire_encode(&m, &w), 0);
	qx_ip(&x, "198.51.100.66", 500);
	qx_ip(&a500, HX_ADDR_A, 500);
	/* b's answer is slow (100 ms round trip); meanwhile 8 hints, 1 ms apart. */
	for (int k = 0; k < 8; k++) {
		qx_inject(n, HX_A, &x, w.p, w.len);
		hx_advance(n, 1);
	}
	hx_advance(n, 90);
	/* HDR, SK {} -->  <-- HDR, SK {} */
	hx_settle(n, 1000);
	a = hx_sa(n, HX_A);
	assert_non_null(a);
	assert_int_equal(a->serial, serial);
	assert_int_equal(a->state, IKE_S_ESTABLISHED);
	assert_int_equal(qx_log_count(q, "peer-dead"), 0);
	hx_assert_ike_up(n);
	wire_wr_free(&w);
	wire_msg_free(&m);
	(void)a500;
}

/* ---- 9. INVALID_SPI with tokens from the Child SPI map (8.2) ---- */

static void esp_unknown_spi(void **state, bool flushed)
{
	struct qx *q = qx_up(state, NULL, NULL);
	struct hx_net *n = q->n;
	struct ike_sa *a = hx_sa(n, HX_A);
	uint64_t serial = a->serial;
	size_t down = n->p[HX_A].n_child_down;
	uint32_t spi = n->p[HX_A].installed[0].spi_out; /* b's old inbound SPI */
	struct ike_addr b4500, a4500;
	struct qx_msg u;
	uint8_t spi_i[8], spi_r[8], want[QX_TOK];

	assert_int_equal(spi, n->p[HX_B].installed[0].spi_in);
	memcpy(spi_i, a->spi_i, 8);
	memcpy(spi_r, a->spi_r, 8);
	/* The map is written in batches: past the flush interval it is on disk. */
	if (flushed)
		hx_advance(n, 500);
	qx_crash_reboot(q, HX_B);
	qx_ip(&b4500, HX_ADDR_B, 4500);
	qx_ip(&a4500, HX_ADDR_A, 4500);
	/* ESP(SPI) --> arrives at the rebooted b, which does not know the SPI. */
	ike_esp_unknown_spi(hx_ike(n, HX_B), spi, &b4500, &a4500);
	assert_int_equal(n->nq, 1);
	qx_parse(n, 0, &u);
	assert_int_equal(n->q[0].src, HX_B);
	assert_false(u.prot);
	assert_int_equal(u.h.exchange, IKEV2_EXCH_INFORMATIONAL);
	/* RFC 7296 1.5: a one-way message, I set and R clear; a must not answer it. */
	assert_true(u.h.flags & IKEV2_FLAG_INITIATOR);
	assert_false(u.h.flags & IKEV2_FLAG_RESPONSE);
	assert_true(u.invalid_spi);
	assert_int_equal(u.invalid_spi_val, spi);
	assert_int_equal(qx_index(&u, IKEV2_PL_N, IKEV2_N_INVALID_SPI), 0);
	if (flushed) {
		/* <-- HDR(IKE SPIs from the map), N(INVALID_SPI), N(QCD_TOKEN) */
		assert_memory_equal(u.h.spi_i, spi_i, 8);
		assert_memory_equal(u.h.spi_r, spi_r, 8);
		assert_int_equal(u.ntok, 1);
		qx_token(q->side[HX_B].dir, 0, spi_i, spi_r, want);
		assert_memory_equal(u.tok[0], want, QX_TOK);
		assert_int_equal(hx_deliver(n), 0);
		/* a: verified the same as with the IKE SPIs (8.2): gone, re-initiated. */
		assert_int_equal(qx_log_count(q, "qcd-verified"), 1);
		qx_expect_reinitiated(q, serial, down);
		return;
	}
	/* <-- HDR, N(INVALID_SPI)   (no map entry: no token) */
	assert_int_equal(u.ntok, 0);
	assert_int_equal(hx_deliver(n), 0);
	/* a starts a liveness check at once:  HDR, SK {} --> */
	assert_int_equal(n->nq, 1);
	hx_expect(n, 0, HX_A, IKEV2_EXCH_INFORMATIONAL, false);
	assert_int_equal(hx_sa(n, HX_A)->serial, serial);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, N(INVALID_IKE_SPI), N(QCD_TOKEN) */
	assert_int_equal(n->nq, 1);
	qx_parse(n, 0, &u);
	assert_true(u.invalid_ike_spi);
	assert_int_equal(u.ntok, 1);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(qx_log_count(q, "qcd-verified"), 1);
	qx_expect_reinitiated(q, serial, down);
}

static void test_esp_unknown_spi_mapped(void **state)
{
	esp_unknown_spi(state, true);
}

static void test_esp_unknown_spi_unmapped(void **state)
{
	esp_unknown_spi(state, false);
}

/* ---- 10. backup gateway with the same secret (6) ---- */

static void copy_file(const char *from, const char *to)
{
	struct qx_file f;
	char dir[128];
	const char *slash = strrchr(from, '/');

	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - from), from);
	qx_snap(&f, dir, slash + 1);
	assert_true(f.present);
	snprintf(f.path, sizeof(f.path), "%s", to);
	qx_restore(&f);
}

static void test_backup_gateway(void **state)
{
	struct qx *q = qx_up(state, NULL, NULL);
	struct hx_net *n = q->n;
	struct ike_sa *a = hx_sa(n, HX_A);
	uint64_t serial = a->serial;
	size_t down = n->p[HX_A].n_child_down;
	char from[128], to[128];
	uint8_t t1[QX_TOK], t2[QX_TOK];
	struct wire_hdr req;
	struct qx_msg ans;

	snprintf(q->spare, sizeof(q->spare), "/tmp/rike-qcd-b2-XXXXXX");
	assert_non_null(mkdtemp(q->spare));
	snprintf(from, sizeof(from), "%s/qcd.secret", q->side[HX_B].dir);
	snprintf(to, sizeof(to), "%s/qcd.secret", q->spare);
	copy_file(from, to);
	/* Same secret => the same token for the same SPIs. */
	qx_token(q->side[HX_B].dir, 0, a->spi_i, a->spi_r, t1);
	qx_token(q->spare, 0, a->spi_i, a->spi_r, t2);
	assert_memory_equal(t1, t2, QX_TOK);
	/* b fails; b2 takes over its address with its own state dir. */
	qx_crash(q, HX_B);
	qx_engine(q, HX_B, q->spare);
	qx_dpd(q, &req);
	assert_int_equal(hx_deliver(n), 0);
	/* <-- HDR, N(INVALID_IKE_SPI), N(QCD_TOKEN)   from b2 */
	qx_expect_unprotected_answer(n, 0, &req, &ans);
	assert_int_equal(ans.ntok, 1);
	assert_memory_equal(ans.tok[0], qcd_view(a).peer[0], QX_TOK);
	assert_int_equal(hx_deliver(n), 0);
	assert_int_equal(qx_log_count(q, "qcd-verified"), 1);
	qx_expect_reinitiated(q, serial, down);
	/* b2 made its Child SPI map in its own dir. */
	snprintf(to, sizeof(to), "%s/qcd-spi.db", q->spare);
	assert_int_equal(access(to, F_OK), 0);
}

/* ---- 11. a peer that ignores QCD (strongSwan-like) ---- */

static void ignoring_peer(void **state, int deaf)
{
	int maker = deaf == HX_A ? HX_B : HX_A;
	struct hx_conf ca = {.keep_up = false};
	struct qx_side off = {.off = true};
	struct qx *q =
	    qx_new(state, &ca, NULL, deaf == HX_A ? &off : NULL, deaf == HX_B ? &off : NULL);
	struct hx_net *n = q->n;
	struct wire_hdr req;

	hx_establish(n);
	/* The maker sent its token; the deaf side stored nothing and sent none (3). */
	assert_true(qcd_view(hx_sa(n, maker)).token_sent);
	assert_false(qcd_view(hx_sa(n, deaf)).token_sent);
	assert_int_equal(qcd_view(hx_sa(n, deaf)).n_peer, 0);
	assert_int_equal(qcd_view(hx_sa(n, maker)).n_peer, 0);
	/* Everything else works: Child rekey, IKE rekey both ways (with the maker's
	 * INFORMATIONAL N(QCD_TOKEN) after its own rekey), liveness. */
	assert_int_equal(ike_rekey_child(hx_ike(n, HX_B), HX_CONN), 0);
	hx_settle(n, 1000);
	assert_int_equal(ike_rekey_ike(hx_ike(n, maker), HX_CONN), 0);
	hx_settle(n, 1000);
	assert_int_equal(ike_rekey_ike(hx_ike(n, deaf), HX_CONN), 0);
	hx_settle(n, 1000);
	assert_int_equal(ike_dpd_now(hx_ike(n, deaf), HX_CONN), 0);
	hx_settle(n, 1000);
	hx_assert_ike_up(n);
	hx_assert_one_child_pair(n);
	assert_int_equal(qcd_view(hx_sa(n, deaf)).n_peer, 0);
	assert_int_equal(hx_count_sas(n, HX_A), 1);
	if (deaf == HX_A) {
		/* b (maker) crashes: its token answer reaches a deaf a, which ignores it. */
		uint64_t serial = hx_sa(n, HX_A)->serial;

		qx_crash_reboot(q, HX_B);
		qx_dpd(q, &req);
		assert_int_equal(hx_deliver(n), 0);
		assert_true(hx_has_notify(n, 0, IKEV2_N_QUICK_CRASH_DETECTION));
		assert_int_equal(hx_deliver(n), 0);
		assert_int_equal(n->nq, 0);
		assert_int_equal(hx_sa(n, HX_A)->serial, serial);
		assert_int_equal(qx_log_count(q, "qcd-verified"), 0);
	}
}

static void test_peer_ignores_qcd_b(void **state)
{
	ignoring_peer(state, HX_B);
}

static void test_peer_ignores_qcd_a(void **state)
{
	ignoring_peer(state, HX_A);
}

/* ---- 8. extension-owned requests and their collisions (ike/ext.h 4.) ---- */

/* Index of the first INFORMATIONAL request from side with a QCD token, or -1. */
static int token_info(struct hx_net *n, int side, struct qx_msg *out)
{
	for (size_t i = 0; i < n->nq; i++) {
		struct wire_hdr h;

		hx_hdr(n, i, &h);
		if (n->q[i].src != side || h.exchange != IKEV2_EXCH_INFORMATIONAL ||
		    (h.flags & IKEV2_FLAG_RESPONSE))
			continue;
		qx_parse(n, i, out);
		if (out->ntok)
			return (int)i;
	}
	return -1;
}

/* A rollover while a's liveness check is out: the token request waits its
 * turn (window of one), then goes with the new generation's token. */
static void test_ext_request_waits(void **state)
{
	struct qx *q = qx_up(state, NULL, NULL);
	struct hx_net *n = q->n;
	struct qx_msg info;
	struct ike_sa *a;
	uint8_t want[QX_TOK];

	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(n->nq, 1);
	assert_int_equal(ike_qcd_rollover(hx_ike(n, HX_A)), 0);
	/* Nothing more leaves a while its liveness check is out. */
	assert_int_equal(n->nq, 1);
	assert_int_equal(hx_deliver(n), 0); /* the check; b answers */
	assert_int_equal(hx_deliver(n), 0); /* the answer; a's turn is free */
	assert_int_equal(token_info(n, HX_A, &info), 0);
	a = hx_sa(n, HX_A);
	qx_token(q->side[HX_A].dir, 0, a->spi_i, a->spi_r, want);
	assert_memory_equal(info.tok[0], want, QX_TOK);
	hx_settle(n, 1000);
	hx_assert_ike_up(n);
	assert_memory_equal(qcd_view(hx_sa(n, HX_B)).peer[0], want, QX_TOK);
}

/* Queued behind a liveness check when b rekeys the IKE SA: the request
 * moves to the new SA and is built there, with the new SA's token. */
static void test_ext_request_moves_on_rekey(void **state)
{
	struct qx *q = qx_up(state, NULL, NULL);
	struct hx_net *n = q->n;
	struct qx_msg info;
	struct ike_sa *na;
	struct wire_hdr h;
	uint64_t old;
	uint8_t want[QX_TOK];
	int i;

	old = hx_sa(n, HX_A)->serial;
	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(ike_qcd_rollover(hx_ike(n, HX_A)), 0);
	assert_int_equal(ike_rekey_ike(hx_ike(n, HX_B), HX_CONN), 0);
	assert_int_equal(n->nq, 2);
	/* b's rekey request reaches a first: a answers, and the new SA exists. */
	hx_expect(n, 1, HX_B, IKEV2_EXCH_CREATE_CHILD_SA, false);
	assert_int_equal(hx_deliver_at(n, 1), 0);
	/* <-- a's answer (b must know the new SA to read what a sends on it) */
	for (size_t k = 0; k < n->nq; k++) {
		hx_hdr(n, k, &h);
		if (h.exchange == IKEV2_EXCH_CREATE_CHILD_SA) {
			assert_int_equal(hx_deliver_at(n, k), 0);
			break;
		}
	}
	i = token_info(n, HX_A, &info);
	if (i < 0)
		fail_msg("the token request queued on the old SA was not sent on the new one");
	hx_hdr(n, (size_t)i, &h);
	na = ike_sa_by_spis(hx_ike(n, HX_A), h.spi_i, h.spi_r);
	assert_non_null(na);
	assert_true(ike_sa_serial(na) != old);
	qx_token(q->side[HX_A].dir, 0, h.spi_i, h.spi_r, want);
	assert_memory_equal(info.tok[0], want, QX_TOK);
	hx_settle(n, 2000);
	hx_assert_ike_up(n);
	assert_memory_equal(qcd_view(hx_sa(n, HX_B)).peer[0], want, QX_TOK);
}

/* Our delete goes before queued extension requests and drops them. */
static void test_ext_request_dropped_by_delete(void **state)
{
	struct qx *q = qx_up(state, NULL, NULL);
	struct hx_net *n = q->n;
	struct qx_msg info;

	assert_int_equal(ike_dpd_now(hx_ike(n, HX_A), HX_CONN), 0);
	assert_int_equal(ike_qcd_rollover(hx_ike(n, HX_A)), 0);
	assert_int_equal(ike_down(hx_ike(n, HX_A), HX_CONN), 0);
	for (int k = 0; k < 20 && n->nq; k++) {
		if (token_info(n, HX_A, &info) >= 0)
			fail_msg("a sent its token request although its delete was queued first");
		assert_int_equal(hx_deliver(n), 0);
	}
	assert_int_equal(n->nq, 0);
	assert_int_equal(hx_count_sas(n, HX_A), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_token_in_ike_auth, qx_teardown),
	    cmocka_unit_test_teardown(test_crash_valid_token, qx_teardown),
	    cmocka_unit_test_teardown(test_crash_invalid_token, qx_teardown),
	    cmocka_unit_test_teardown(test_no_token_global_off, qx_teardown),
	    cmocka_unit_test_teardown(test_no_token_conn_off, qx_teardown),
	    cmocka_unit_test_teardown(test_rollover_old_token_matches, qx_teardown),
	    cmocka_unit_test_teardown(test_rollover_tokens_replaced, qx_teardown),
	    cmocka_unit_test_teardown(test_rekey_by_a_replaces_tokens, qx_teardown),
	    cmocka_unit_test_teardown(test_rekey_by_b_replaces_tokens, qx_teardown),
	    cmocka_unit_test_teardown(test_no_live_token_in_clear, qx_teardown),
	    cmocka_unit_test_teardown(test_answer_budgets, qx_teardown),
	    cmocka_unit_test_teardown(test_verify_budget, qx_teardown),
	    cmocka_unit_test_teardown(test_spoofed_hints_do_not_kill, qx_teardown),
	    cmocka_unit_test_teardown(test_esp_unknown_spi_mapped, qx_teardown),
	    cmocka_unit_test_teardown(test_esp_unknown_spi_unmapped, qx_teardown),
	    cmocka_unit_test_teardown(test_backup_gateway, qx_teardown),
	    cmocka_unit_test_teardown(test_peer_ignores_qcd_b, qx_teardown),
	    cmocka_unit_test_teardown(test_peer_ignores_qcd_a, qx_teardown),
	    cmocka_unit_test_teardown(test_ext_request_waits, qx_teardown),
	    cmocka_unit_test_teardown(test_ext_request_moves_on_rekey, qx_teardown),
	    cmocka_unit_test_teardown(test_ext_request_dropped_by_delete, qx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
