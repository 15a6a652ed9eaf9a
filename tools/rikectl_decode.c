/*
 * `rikectl decode FILE.pcap [--keys TABLE] [--json] [--dump-dir DIR]`: print every IKE
 * message of a capture (UDP 500, and 4500 behind the non-ESP marker of
 * RFC 3948 2.2) as a tree of payloads (RFC 7296 3). With a Wireshark
 * ikev2_decryption_table, SK payloads are verified and decrypted (RFC 7296
 * 3.14, RFC 5282) and SKF fragments reassembled (RFC 7383 2.6), and the
 * inner payloads printed under them. A malformed message prints the
 * decoder's reason and the notify it maps to. Output is text, or with
 * --json one JSON array of message objects.
 *
 * The printing goes through a small emitter so that the text tree and the
 * JSON document come from the same walk.
 *
 * With --dump-dir nothing is decoded: every IKE datagram (non-ESP marker
 * stripped) is written to DIR as its own file, <capture>-<frame>.ike, to
 * seed the fuzz targets (tests/fuzz/README.md).
 */
#include <arpa/inet.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <pcap/pcap.h>

#include "rikectl.h"
#include "util/keytable.h"
#include "util/pcapread.h"
#include "wire/ikev2.h"
#include "wire/payload.h"
#include "wire/sk.h"

#define NATT_PORT 4500
#define DIR_I     0 /* sent by the original initiator: SK_ei/SK_ai */
#define DIR_R     1

/* ---- emitter: one walk, text tree or JSON ---- */

#define OUT_MAX_DEPTH 32

/*
 * JSON: each frame is built as a json-c tree (stack[0] its object) and
 * written out when it is complete, so memory stays bounded by one frame;
 * the frames are the elements of one top-level array. Text: one line per
 * object, "key=value" pairs, values quoted when they are not a plain word
 * (text_value).
 */
struct out {
	bool json;
	struct json_object *stack[OUT_MAX_DEPTH];
	int depth;
	unsigned nframes;
	FILE *f;
	int indent;
};

/* Adds v to the innermost open object (under key) or array. */
static void put(struct out *o, const char *key, struct json_object *v)
{
	struct json_object *top = o->depth ? o->stack[o->depth - 1] : NULL;

	if (top && json_object_is_type(top, json_type_array))
		json_object_array_add(top, v);
	else if (top)
		json_object_object_add(top, key, v);
	else
		json_object_put(v);
}

static void push(struct out *o, const char *key, struct json_object *v)
{
	if (o->depth == OUT_MAX_DEPTH) { /* deeper than any message nests */
		json_object_put(v);
		return;
	}
	if (o->depth)
		put(o, key, json_object_get(v));
	o->stack[o->depth++] = v;
}

static void pop(struct out *o)
{
	struct json_object *v;

	if (o->depth == 0)
		return;
	v = o->stack[--o->depth];
	if (o->depth == 0) { /* a whole frame */
		fprintf(o->f, "%s\n%s", o->nframes++ ? "," : "[",
		        json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
		                                              JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	json_object_put(v);
}

/* Text values: a word of printable characters other than '"', '\\' and
 * '=' stands as it is; anything else is double-quoted, with '"' and '\\'
 * escaped by a backslash and other octets as \xNN (rikectl(8), "decode"). */
static void text_value(FILE *f, const char *v, size_t n)
{
	bool plain = n > 0;

	for (size_t i = 0; i < n && plain; i++)
		plain = v[i] > 0x20 && v[i] < 0x7f && v[i] != '"' && v[i] != '\\' && v[i] != '=';
	if (plain) {
		fwrite(v, 1, n, f);
		return;
	}
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Begin an object; key names it inside an object, label starts its text line. */
static void ob(struct out *o, const char *key, const char *label)
{
	if (o->json) {
		push(o, key, json_object_new_object());
		return;
	}
	fprintf(o->f, "\n%*s", o->indent * 2, "");
	text_value(o->f, label, strlen(label)); /* "Ni, Nr" is one quoted word */
}

static void oe(struct out *o)
{
	if (o->json)
		pop(o);
}

static void ab(struct out *o, const char *key)
{
	if (o->json) {
		push(o, key, json_object_new_array());
		return;
	}
	o->indent++;
}

static void ae(struct out *o)
{
	if (o->json)
		pop(o);
	else
		o->indent--;
}

static void ks(struct out *o, const char *key, const char *v)
{
	if (!v)
		v = "?";
	if (o->json) {
		put(o, key, json_object_new_string(v));
		return;
	}
	fprintf(o->f, " %s=", key);
	text_value(o->f, v, strlen(v));
}

static void ku(struct out *o, const char *key, uint64_t v)
{
	if (o->json)
		put(o, key, json_object_new_uint64(v));
	else
		fprintf(o->f, " %s=%llu", key, (unsigned long long)v);
}

static void kx(struct out *o, const char *key, const uint8_t *p, size_t n)
{
	char *h = malloc(2 * n + 1);

	for (size_t i = 0; h && i < n; i++)
		snprintf(h + 2 * i, 3, "%02x", p[i]);
	if (h)
		h[2 * n] = '\0';
	if (o->json)
		put(o, key, json_object_new_string(h ? h : "?"));
	else
		fprintf(o->f, " %s=%s", key, h && n ? h : "\"\"");
	free(h);
}

static void kb(struct out *o, const char *key, bool v)
{
	if (o->json)
		put(o, key, json_object_new_boolean(v));
	else if (v)
		fprintf(o->f, " %s", key);
}

/* A string of n octets (JSON escapes what it must; text as text_value). */
static void ktext(struct out *o, const char *key, const uint8_t *p, size_t n)
{
	if (o->json) {
		put(o, key, json_object_new_string_len((const char *)p, (int)n));
		return;
	}
	fprintf(o->f, " %s=", key);
	text_value(o->f, (const char *)p, n);
}

/* Type and its registered name. */
static void kname(struct out *o, const char *key, unsigned v, const char *name)
{
	char k[48];

	ku(o, key, v);
	snprintf(k, sizeof(k), "%s_name", key);
	ks(o, k, name);
}

static void kaddr(struct out *o, const char *key, int family, const uint8_t *a)
{
	char s[INET6_ADDRSTRLEN];

	if (!inet_ntop(family, a, s, sizeof(s)))
		snprintf(s, sizeof(s), "?");
	ks(o, key, s);
}

/* ---- state ---- */

struct dec_sa {
	bool tried[2];
	bool ok[2];
	struct wire_prot prot[2];
	struct wire_skf_reasm reasm[2];
};

struct dec_ctx {
	struct out o;
	struct keytable kt;
	struct dec_sa *sas; /* parallel to kt.rows */
	bool keys;
	const char *dump_dir; /* --dump-dir: write datagrams instead of decoding */
	char dump_base[256];  /* the capture's file name, for the dumped files */
	unsigned dumped;
	unsigned ike, esp, keepalive, malformed, sk_ok, sk_failed, sk_unchecked, sk_nokey;
};

/* The protection for one SA row and direction, built on first use. */
static struct wire_prot *dec_prot(struct dec_ctx *c, const struct wire_hdr *h,
                                  struct wire_skf_reasm **reasm)
{
	const struct keytable_entry *e;
	struct dec_sa *sa;
	int d = (h->flags & IKEV2_FLAG_INITIATOR) ? DIR_I : DIR_R;
	size_t i;

	if (!c->keys || !(e = keytable_lookup(&c->kt, h->spi_i, h->spi_r)))
		return NULL;
	i = (size_t)(e - c->kt.rows);
	sa = &c->sas[i];
	if (!sa->tried[d]) {
		const uint8_t *ke = d == DIR_I ? e->sk_ei : e->sk_er;
		const uint8_t *ka = d == DIR_I ? e->sk_ai : e->sk_ar;

		sa->tried[d] = true;
		if (e->unchecked_icv_len)
			sa->ok[d] = wire_prot_init_unchecked(&sa->prot[d], &e->suite, ke, e->e_len,
			                                     e->unchecked_icv_len) == 0;
		else
			sa->ok[d] = wire_prot_init(&sa->prot[d], &e->suite, ke, e->e_len, ka,
			                           e->a_len) == 0;
		if (!sa->ok[d])
			fprintf(stderr, "rikectl: keys on table line %u unusable\n", e->line);
	}
	*reasm = &sa->reasm[d];
	return sa->ok[d] ? &sa->prot[d] : NULL;
}

/* ---- payload bodies ---- */

static const char *transform_name(uint8_t type, uint16_t id)
{
	switch (type) {
	case IKEV2_TRANS_ENCR:
		return ikev2_encr_name(id);
	case IKEV2_TRANS_PRF:
		return ikev2_prf_name(id);
	case IKEV2_TRANS_INTEG:
		return ikev2_integ_name(id);
	case IKEV2_TRANS_KE:
		return ikev2_dh_name(id);
	case IKEV2_TRANS_SN:
		return ikev2_esn_name(id);
	default:
		return NULL;
	}
}

static void put_transform(struct out *o, const struct wire_transform *t)
{
	ob(o, NULL, "transform");
	kname(o, "type", t->type, ikev2_transform_type_name(t->type));
	kname(o, "id", t->id, transform_name(t->type, t->id));
	for (size_t k = 0; k < t->nattrs; k++) {
		const struct wire_attr *a = &t->attrs[k];

		if (a->tv && a->type == IKEV2_ATTR_KEY_LENGTH)
			ku(o, "key_length", a->value);
		else if (a->tv)
			ku(o, "attr_tv", a->value);
		else
			kx(o, "attr_tlv", a->data, a->len);
	}
	oe(o);
}

static void put_sa(struct out *o, const struct wire_sa *sa)
{
	ab(o, "proposals");
	for (size_t i = 0; i < sa->nproposals; i++) {
		const struct wire_proposal *p = &sa->proposals[i];

		ob(o, NULL, "proposal");
		ku(o, "num", p->num);
		kname(o, "protocol", p->protocol, ikev2_protocol_name(p->protocol));
		kx(o, "spi", p->spi, p->spi_size);
		ab(o, "transforms");
		for (size_t t = 0; t < p->ntransforms; t++)
			put_transform(o, &p->transforms[t]);
		ae(o);
		oe(o);
	}
	ae(o);
}

static void put_id(struct out *o, const struct wire_typed *id)
{
	kname(o, "id_type", id->type, ikev2_id_type_name(id->type));
	if (id->type == IKEV2_ID_IPV4_ADDR && id->len == 4)
		kaddr(o, "value", AF_INET, id->data);
	else if (id->type == IKEV2_ID_IPV6_ADDR && id->len == 16)
		kaddr(o, "value", AF_INET6, id->data);
	else if (id->type == IKEV2_ID_FQDN || id->type == IKEV2_ID_RFC822_ADDR)
		ktext(o, "value", id->data, id->len);
	else
		kx(o, "value", id->data, id->len);
}

static void put_notify(struct out *o, const struct wire_notify *n)
{
	kname(o, "protocol", n->protocol, ikev2_protocol_name(n->protocol));
	kx(o, "spi", n->spi, n->spi_size);
	kname(o, "notify_type", n->type, ikev2_notify_name(n->type));
	ku(o, "data_length", n->len);
	kx(o, "data", n->data, n->len);
}

static void put_delete(struct out *o, const struct wire_delete *d)
{
	kname(o, "protocol", d->protocol, ikev2_protocol_name(d->protocol));
	ku(o, "spi_size", d->spi_size);
	ku(o, "num_spis", d->nspis);
	kx(o, "spis", d->spis, (size_t)d->nspis * d->spi_size);
}

static void put_ts(struct out *o, const struct wire_ts_list *l)
{
	ab(o, "selectors");
	for (size_t i = 0; i < l->nts; i++) {
		const struct wire_ts *t = &l->ts[i];
		int fam = t->type == IKEV2_TS_IPV6_ADDR_RANGE ? AF_INET6 : AF_INET;

		ob(o, NULL, "ts");
		kname(o, "ts_type", t->type, ikev2_ts_type_name(t->type));
		ku(o, "ip_proto", t->ip_proto);
		ku(o, "start_port", t->start_port);
		ku(o, "end_port", t->end_port);
		kaddr(o, "start", fam, t->start);
		kaddr(o, "end", fam, t->end);
		oe(o);
	}
	ae(o);
}

static void put_cp(struct out *o, const struct wire_cp *cp)
{
	kname(o, "cfg_type", cp->cfg_type, ikev2_cfg_type_name(cp->cfg_type));
	ab(o, "attributes");
	for (size_t i = 0; i < cp->nattrs; i++) {
		ob(o, NULL, "attr");
		kname(o, "type", cp->attrs[i].type, ikev2_cp_attr_name(cp->attrs[i].type));
		ku(o, "length", cp->attrs[i].len);
		kx(o, "value", cp->attrs[i].data, cp->attrs[i].len);
		oe(o);
	}
	ae(o);
}

/* RFC 3748 4: Code, Identifier, Length, and Type for requests and responses. */
static void put_eap(struct out *o, const struct wire_blob *b)
{
	struct wire_rd r;
	uint8_t code, id, type;
	uint16_t len;

	wire_rd_init(&r, b->data, b->len);
	if (wire_rd_u8(&r, &code) < 0 || wire_rd_u8(&r, &id) < 0 || wire_rd_u16(&r, &len) < 0)
		return;
	ku(o, "eap_code", code);
	ku(o, "eap_id", id);
	ku(o, "eap_length", len);
	if ((code == 1 || code == 2) && wire_rd_u8(&r, &type) == 0)
		ku(o, "eap_type", type);
}

static void put_body(struct out *o, const struct wire_payload *p)
{
	switch (p->type) {
	case IKEV2_PL_SA:
		put_sa(o, &p->u.sa);
		break;
	case IKEV2_PL_KE:
		kname(o, "group", p->u.ke.group, ikev2_dh_name(p->u.ke.group));
		ku(o, "data_length", p->u.ke.len);
		break;
	case IKEV2_PL_IDI:
	case IKEV2_PL_IDR:
		put_id(o, &p->u.id);
		break;
	case IKEV2_PL_CERT:
	case IKEV2_PL_CERTREQ:
		kname(o, "encoding", p->u.cert.type, ikev2_cert_encoding_name(p->u.cert.type));
		ku(o, "data_length", p->u.cert.len);
		break;
	case IKEV2_PL_AUTH:
		kname(o, "method", p->u.auth.type, ikev2_auth_method_name(p->u.auth.type));
		ku(o, "data_length", p->u.auth.len);
		kx(o, "data", p->u.auth.data, p->u.auth.len);
		break;
	case IKEV2_PL_NI_NR:
		ku(o, "nonce_length", p->u.nonce.len);
		break;
	case IKEV2_PL_N:
		put_notify(o, &p->u.notify);
		break;
	case IKEV2_PL_D:
		put_delete(o, &p->u.del);
		break;
	case IKEV2_PL_V:
		kx(o, "vendor_id", p->u.vendor.data, p->u.vendor.len);
		break;
	case IKEV2_PL_TSI:
	case IKEV2_PL_TSR:
		put_ts(o, &p->u.ts);
		break;
	case IKEV2_PL_CP:
		put_cp(o, &p->u.cp);
		break;
	case IKEV2_PL_EAP:
		put_eap(o, &p->u.eap);
		break;
	case IKEV2_PL_SK:
	case IKEV2_PL_SKF:
		break; /* put_sk */
	default:
		ku(o, "data_length", p->u.raw.len);
		break;
	}
}

static void put_payload_head(struct out *o, const struct wire_payload *p)
{
	const char *name = ikev2_payload_name(p->type);

	ob(o, NULL, name ? name : "payload");
	kname(o, "type", p->type, name);
	kb(o, "critical", p->flags & IKEV2_PL_CRITICAL);
	ku(o, "length", p->len);
}

/* Payloads [from, to) of m whose `encrypted` flag is enc. */
static void put_payloads(struct out *o, const struct wire_msg *m, size_t from, size_t to, bool enc)
{
	for (size_t i = from; i < to; i++) {
		const struct wire_payload *p = &m->payloads[i];

		if (p->encrypted != enc)
			continue;
		put_payload_head(o, p);
		put_body(o, p);
		oe(o);
	}
}

static void put_error(struct out *o, const struct wire_error *e)
{
	ob(o, "error", "error");
	ks(o, "reason", e->reason ? e->reason : "unknown");
	kname(o, "notify", e->notify, e->notify ? ikev2_notify_name(e->notify) : "drop");
	ku(o, "offset", e->offset);
	if (e->payload)
		ku(o, "payload", e->payload);
	oe(o);
}

/* ---- SK and SKF ---- */

static const char *icv_status(const struct wire_prot *p, const struct wire_sk_result *r)
{
	if (r->icv_verified)
		return "verified";
	return p->icv_unchecked ? "unchecked" : "failed";
}

static void put_sk_head(struct out *o, const struct wire_payload *sk)
{
	put_payload_head(o, sk);
	kname(o, "inner_np", sk->u.sk.inner_np, ikev2_payload_name(sk->u.sk.inner_np));
	if (sk->type == IKEV2_PL_SKF) {
		ku(o, "fragment", sk->u.sk.frag_num);
		ku(o, "total_fragments", sk->u.sk.total_frags);
	}
	ku(o, "body_length", sk->u.sk.len);
}

/* SK: verify and decrypt; a failed ICV with a non-AEAD cipher still shows the plaintext. */
static void put_sk(struct dec_ctx *c, const uint8_t *buf, size_t len, struct wire_msg *m,
                   struct wire_prot *p)
{
	size_t before = m->npayloads;
	struct wire_sk_result r;
	struct wire_error e;
	int rc;

	rc = wire_sk_open(p, buf, len, m, &r, &e);
	if (rc < 0 && e.notify == 0 && !p->aead) {
		m->npayloads = before;
		rc = wire_sk_open_flags(p, buf, len, m, WIRE_SK_SKIP_ICV, &r, &e);
	}
	if (rc < 0) {
		c->sk_failed++;
		ks(&c->o, "icv", e.notify == 0 ? "failed" : "verified");
		put_error(&c->o, &e);
		m->npayloads = before;
		return;
	}
	if (r.icv_verified)
		c->sk_ok++;
	else if (p->icv_unchecked)
		c->sk_unchecked++;
	else
		c->sk_failed++;
	ks(&c->o, "icv", icv_status(p, &r));
	ku(&c->o, "pad_length", r.pad_len);
	ab(&c->o, "payloads");
	put_payloads(&c->o, m, before, m->npayloads, true);
	ae(&c->o);
}

/* SKF: queue the fragment; print the reassembled chain under the last one. */
static void put_skf(struct dec_ctx *c, const uint8_t *buf, size_t len, const struct wire_msg *m,
                    struct wire_prot *p, struct wire_skf_reasm *ra)
{
	struct wire_msg whole;
	struct wire_error e;
	int rc = wire_skf_add(ra, p, buf, len, m, &e);

	if (rc < 0) {
		c->sk_failed++;
		ks(&c->o, "fragment_status", "discarded");
		put_error(&c->o, &e);
		return;
	}
	c->sk_ok++;
	ks(&c->o, "icv", "verified");
	ks(&c->o, "fragment_status", rc ? "complete" : "queued");
	if (!rc)
		return;
	wire_msg_init(&whole);
	if (wire_skf_finish(ra, &whole, &e) < 0) {
		put_error(&c->o, &e);
	} else {
		ab(&c->o, "payloads");
		put_payloads(&c->o, &whole, 0, whole.npayloads, true);
		ae(&c->o);
	}
	wire_msg_free(&whole);
}

static void put_protected(struct dec_ctx *c, const uint8_t *buf, size_t len, struct wire_msg *m,
                          const struct wire_payload *sk)
{
	struct wire_skf_reasm *ra = NULL;
	struct wire_prot *p = dec_prot(c, &m->hdr, &ra);

	put_sk_head(&c->o, sk);
	if (!p) {
		c->sk_nokey++;
		ks(&c->o, "icv", "no key");
	} else if (sk->type == IKEV2_PL_SK) {
		put_sk(c, buf, len, m, p);
	} else {
		put_skf(c, buf, len, m, p, ra);
	}
	oe(&c->o);
}

/* ---- messages ---- */

static void put_hdr(struct out *o, const struct wire_hdr *h)
{
	char ver[8];

	ob(o, "ike", "ike");
	kx(o, "spi_i", h->spi_i, 8);
	kx(o, "spi_r", h->spi_r, 8);
	kname(o, "exchange", h->exchange, ikev2_exchange_name(h->exchange));
	snprintf(ver, sizeof(ver), "%u.%u", h->version >> 4, h->version & 0xf);
	ks(o, "version", ver);
	ab(o, "flags");
	if (o->json) {
		if (h->flags & IKEV2_FLAG_INITIATOR)
			put(o, NULL, json_object_new_string("I"));
		if (h->flags & IKEV2_FLAG_RESPONSE)
			put(o, NULL, json_object_new_string("R"));
		if (h->flags & IKEV2_FLAG_VERSION)
			put(o, NULL, json_object_new_string("V"));
	} else {
		fprintf(o->f, " flags=%s%s%s", h->flags & IKEV2_FLAG_INITIATOR ? "I" : "-",
		        h->flags & IKEV2_FLAG_RESPONSE ? "R" : "-",
		        h->flags & IKEV2_FLAG_VERSION ? "V" : "-");
	}
	ae(o);
	ku(o, "msg_id", h->msg_id);
	ku(o, "length", h->length);
	ku(o, "np", h->np);
	oe(o);
}

static void put_message(struct dec_ctx *c, const uint8_t *buf, size_t len)
{
	struct wire_msg m;
	struct wire_hdr h;
	struct wire_error e;
	size_t nplain;

	wire_msg_init(&m);
	if (wire_decode_hdr(buf, len, &h, &e) == 0 || e.notify)
		put_hdr(&c->o, &h);
	if (wire_decode(buf, len, &m, &e) < 0) {
		c->malformed++;
		put_error(&c->o, &e);
		goto out;
	}
	nplain = m.npayloads;
	ab(&c->o, "payloads");
	for (size_t i = 0; i < nplain; i++) {
		const struct wire_payload *p = &m.payloads[i];

		if (p->type == IKEV2_PL_SK || p->type == IKEV2_PL_SKF) {
			put_protected(c, buf, len, &m, p);
			continue;
		}
		put_payload_head(&c->o, p);
		put_body(&c->o, p);
		oe(&c->o);
	}
	ae(&c->o);
out:
	wire_msg_free(&m);
}

/* --dump-dir: one file per IKE datagram, named after the capture and frame. */
static int dump_datagram(struct dec_ctx *c, unsigned frame, const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;
	int rc = -1;

	if (snprintf(path, sizeof(path), "%s/%s-%u.ike", c->dump_dir, c->dump_base, frame) >=
	    (int)sizeof(path)) {
		fprintf(stderr, "rikectl: dump path too long\n");
		return -1;
	}
	f = fopen(path, "wb");
	if (!f) {
		perror(path);
		return -1;
	}
	if (len && fwrite(buf, 1, len, f) != len)
		goto out;
	rc = 0;
	c->dumped++;
out:
	if (fclose(f) != 0)
		rc = -1;
	if (rc < 0)
		fprintf(stderr, "rikectl: cannot write %s\n", path);
	return rc;
}

static int on_datagram(void *ctx, const struct pcap_udp *d)
{
	struct dec_ctx *c = ctx;
	const uint8_t *buf = d->payload;
	size_t len = d->len;
	bool marker = false;

	if (d->sport == NATT_PORT || d->dport == NATT_PORT) {
		int k = wire_udp4500_classify(&buf, &len);

		if (k == 0) {
			c->esp++;
			return 0;
		}
		if (k == 2) {
			c->keepalive++;
			return 0;
		}
		marker = k == 1;
		buf = k == 1 ? buf : d->payload;
		len = k == 1 ? len : d->len;
	}
	c->ike++;
	if (c->dump_dir)
		return dump_datagram(c, d->frame, buf, len);
	ob(&c->o, NULL, "frame");
	ku(&c->o, "frame", d->frame);
	kaddr(&c->o, "src", d->family, d->src);
	ku(&c->o, "sport", d->sport);
	kaddr(&c->o, "dst", d->family, d->dst);
	ku(&c->o, "dport", d->dport);
	kb(&c->o, "non_esp_marker", marker);
	c->o.indent++;
	put_message(c, buf, len);
	c->o.indent--;
	oe(&c->o);
	return 0;
}

/* ---- command ---- */

static int parse_args(int argc, char **argv, const char **file, const char **keys, bool *json,
                      const char **dump_dir)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			*json = true;
		else if (!strcmp(argv[i], "--keys") && i + 1 < argc)
			*keys = argv[++i];
		else if (!strcmp(argv[i], "--dump-dir") && i + 1 < argc)
			*dump_dir = argv[++i];
		else if (argv[i][0] != '-' && !*file)
			*file = argv[i];
		else
			return -1;
	}
	return *file ? 0 : -1;
}

static int load_keys(struct dec_ctx *c, const char *path)
{
	char err[512];

	if (keytable_load(path, &c->kt, err, sizeof(err)) < 0) {
		fprintf(stderr, "rikectl: %s\n", err);
		return -1;
	}
	c->sas = calloc(c->kt.n ? c->kt.n : 1, sizeof(*c->sas));
	if (!c->sas)
		return -1;
	c->keys = true;
	return 0;
}

static void free_keys(struct dec_ctx *c)
{
	for (size_t i = 0; c->sas && i < c->kt.n; i++) {
		for (int d = 0; d < 2; d++) {
			wire_prot_clear(&c->sas[i].prot[d]);
			wire_skf_reasm_clear(&c->sas[i].reasm[d]);
		}
	}
	free(c->sas);
	keytable_free(&c->kt);
}

static void summary(const struct dec_ctx *c)
{
	FILE *f = c->o.json ? stderr : stdout;

	fprintf(f, "%sIKE messages: %u (malformed %u); ESP: %u; NAT-keepalives: %u",
	        c->o.json ? "rikectl: " : "\n\n", c->ike, c->malformed, c->esp, c->keepalive);
	if (c->keys)
		fprintf(f, "; SK verified: %u, failed: %u, unchecked: %u, without keys: %u",
		        c->sk_ok, c->sk_failed, c->sk_unchecked, c->sk_nokey);
	fputc('\n', f);
}

/* --dump-dir: write the datagrams, print how many. */
static int dump_capture(struct dec_ctx *c, const char *file)
{
	char errbuf[PCAP_ERRBUF_SIZE + 256], tmp[sizeof(c->dump_base)];
	char *dot;

	snprintf(tmp, sizeof(tmp), "%s", file);
	snprintf(c->dump_base, sizeof(c->dump_base), "%s", basename(tmp));
	dot = strchr(c->dump_base, '.');
	if (dot && dot != c->dump_base)
		*dot = '\0';
	errbuf[0] = '\0'; /* stays empty when a write failed (already reported) */
	if (pcapread_udp(file, on_datagram, c, errbuf) < 0) {
		if (errbuf[0])
			fprintf(stderr, "rikectl: %s\n", errbuf);
		return 1;
	}
	printf("%s: wrote %u IKE datagrams to %s\n", file, c->dumped, c->dump_dir);
	return 0;
}

int rikectl_decode(int argc, char **argv)
{
	const char *file = NULL, *keys = NULL;
	char errbuf[PCAP_ERRBUF_SIZE + 256];
	struct dec_ctx c;
	bool json = false;
	int rc = 1;

	memset(&c, 0, sizeof(c));
	if (parse_args(argc, argv, &file, &keys, &json, &c.dump_dir) < 0) {
		fprintf(stderr,
		        "usage: rikectl decode FILE.pcap [--keys TABLE] [--json]\n"
		        "       rikectl decode FILE.pcap --dump-dir DIR\n"
		        "  --dump-dir DIR  write each IKE datagram (non-ESP marker stripped)\n"
		        "                  to DIR/<capture>-<frame>.ike instead of decoding\n");
		return 2;
	}
	if (c.dump_dir)
		return dump_capture(&c, file);
	if (keys && load_keys(&c, keys) < 0)
		goto out;
	c.o.json = json;
	c.o.f = stdout;
	if (pcapread_udp(file, on_datagram, &c, errbuf) < 0) {
		if (json)
			printf("%s]\n", c.o.nframes ? "\n" : "[");
		fprintf(stderr, "rikectl: %s\n", errbuf);
		goto out;
	}
	if (json)
		printf("%s]\n", c.o.nframes ? "\n" : "[");
	summary(&c);
	rc = 0;
out:
	free_keys(&c);
	return rc;
}
