/*
 * The debugging key export (see keylog.h): the two files, their rows in
 * Wireshark's ikev2_decryption_table and esp_sa formats (names from
 * util/keytable.c, so that rikectl decode reads back what is written),
 * and the log warning that repeats while the export is on. Keys are
 * RFC 7296 2.14 SK_e/SK_a (IKE) and 2.17 KEYMAT (ESP), with the salt of
 * CTR and AEAD ciphers appended as the SA uses it (RFC 5282, RFC 4106
 * 8.1, RFC 3686 5.1). Each row is one write(2) on an O_APPEND descriptor,
 * so rows never interleave; the rows' text is wiped after the write.
 */
#include "daemon/keylog.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ike/ike.h"
#include "util/keytable.h"
#include "util/log.h"

#define KEYLOG_ROW_MAX 1024

struct keylog {
	int fd_ike, fd_esp;
	char dir[PATH_MAX];
	struct event *warn;
};

static void warn_line(const struct keylog *k)
{
	log_msg(LOG_WARNING, "keylog",
	        "exporting IKE and ESP keys to %s (keylog in riked.conf): anyone who can read "
	        "these files can decrypt the traffic; turn it off after debugging",
	        k->dir);
}

static void warn_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	warn_line(arg);
}

/* Append-only, 0600 from its creation on (O_CREAT with 0600 never makes it
 * wider than that); an existing file that others may read is narrowed. */
static int open_table(const char *dir, const char *name, const char *header, char *why,
                      size_t whylen)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		snprintf(why, whylen, "%s/%s: path too long", dir, name);
		return -1;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		snprintf(why, whylen, "%s: not a regular file of ours", path);
		goto fail;
	}
	if ((st.st_mode & 077) && fchmod(fd, 0600) < 0) {
		snprintf(why, whylen, "%s: cannot make it private: %s", path, strerror(errno));
		goto fail;
	}
	if (st.st_size == 0 && write(fd, header, strlen(header)) < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

struct keylog *keylog_new(struct event_base *base, const char *dir, char *why, size_t whylen)
{
	static const struct timeval every = {KEYLOG_WARN_SEC, 0};
	struct keylog *k = calloc(1, sizeof(*k));

	if (!k) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	k->fd_ike = k->fd_esp = -1;
	snprintf(k->dir, sizeof(k->dir), "%s", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	k->fd_ike = open_table(dir, KEYLOG_IKE_FILE,
	                       "# riked IKE SA keys (Wireshark ikev2_decryption_table): SECRET\n",
	                       why, whylen);
	if (k->fd_ike < 0)
		goto fail;
	k->fd_esp = open_table(dir, KEYLOG_ESP_FILE,
	                       "# riked ESP SA keys (Wireshark esp_sa): SECRET\n", why, whylen);
	if (k->fd_esp < 0)
		goto fail;
	k->warn = event_new(base, -1, EV_PERSIST, warn_cb, k);
	if (!k->warn || event_add(k->warn, &every) < 0) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	warn_line(k);
	return k;
fail:
	keylog_free(k);
	return NULL;
}

void keylog_free(struct keylog *k)
{
	if (!k)
		return;
	if (k->warn)
		event_free(k->warn);
	if (k->fd_ike >= 0)
		close(k->fd_ike);
	if (k->fd_esp >= 0)
		close(k->fd_esp);
	free(k);
}

/* Lower-case hex of p into out (2 * n + 1 octets). */
static char *hex(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	out[2 * n] = '\0';
	return out;
}

static void put_row(struct keylog *k, int fd, char *row, int n, const char *what)
{
	if (n < 0 || n >= KEYLOG_ROW_MAX || write(fd, row, (size_t)n) != n)
		log_ratelimited(LOG_ERR, LOG_RL_OTHER, NULL, "keylog",
		                "writing the %s row to %s failed: %s", what, k->dir,
		                n < 0 || n >= KEYLOG_ROW_MAX ? "row too long" : strerror(errno));
	explicit_bzero(row, KEYLOG_ROW_MAX);
}

void keylog_ike(struct keylog *k, const struct ike_keys_info *i)
{
	char row[KEYLOG_ROW_MAX], encr[96], si[17], sr[17];
	char ei[2 * CRYPTO_MAX_KEY_LEN + 1], er[2 * CRYPTO_MAX_KEY_LEN + 1];
	char ai[2 * CRYPTO_MAX_PRF_LEN + 1], ar[2 * CRYPTO_MAX_PRF_LEN + 1];
	const char *integ = keytable_integ_wsname(i->integ);
	int n;

	if (!k)
		return;
	if (keytable_encr_wsname(i->encr, i->encr_keybits, encr, sizeof(encr)) < 0 || !integ ||
	    i->e_len > CRYPTO_MAX_KEY_LEN || i->a_len > CRYPTO_MAX_PRF_LEN) {
		/* Rate-limited: IKE_SA_INIT, unauthenticated, gets here. */
		log_ratelimited(LOG_WARNING, LOG_RL_OTHER, NULL, "keylog",
		                "\"%s\" #%" PRIu64 ": Wireshark has no name for its IKE algorithms "
		                "(encr %u/%u integ %u): keys not exported",
		                i->conn, i->ike_serial, i->encr, i->encr_keybits, i->integ);
		return;
	}
	/* 2.14: SK_ei/SK_er then SK_ai/SK_ar; empty integrity keys for AEAD. */
	n = snprintf(row, sizeof(row), "%s,%s,%s,%s,\"%s\",%s,%s,\"%s\"\n", hex(si, i->spi_i, 8),
	             hex(sr, i->spi_r, 8), hex(ei, i->sk_ei, i->e_len), hex(er, i->sk_er, i->e_len),
	             encr, hex(ai, i->sk_ai, i->a_len), hex(ar, i->sk_ar, i->a_len), integ);
	explicit_bzero(ei, sizeof(ei));
	explicit_bzero(er, sizeof(er));
	explicit_bzero(ai, sizeof(ai));
	explicit_bzero(ar, sizeof(ar));
	put_row(k, k->fd_ike, row, n, "IKE");
}

/* One esp_sa row: "proto","src","dst","0xSPI","cipher","0xkey","integ","0xkey". */
static void esp_row(struct keylog *k, const struct ike_child_info *c, bool in)
{
	char row[KEYLOG_ROW_MAX], src[64], dst[64];
	char ek[2 * CRYPTO_MAX_KEY_LEN + 1], ak[2 * CRYPTO_MAX_PRF_LEN + 1];
	const char *encr = keytable_esp_encr_wsname(c->encr);
	const char *integ = keytable_esp_integ_wsname(c->integ);
	int n;

	addr_format_host(in ? &c->remote : &c->local, src, sizeof(src));
	addr_format_host(in ? &c->local : &c->remote, dst, sizeof(dst));
	hex(ek, in ? c->key_in_e : c->key_out_e, c->key_e_len);
	hex(ak, in ? c->key_in_a : c->key_out_a, c->key_a_len);
	n = snprintf(row, sizeof(row),
	             "\"%s\",\"%s\",\"%s\",\"0x%08" PRIx32 "\",\"%s\",\"%s%s\",\"%s\",\"%s%s\"\n",
	             c->local.ss.sa.sa_family == AF_INET6 ? "IPv6" : "IPv4", src, dst,
	             in ? c->spi_in : c->spi_out, encr, c->key_e_len ? "0x" : "", ek, integ,
	             c->key_a_len ? "0x" : "", ak);
	explicit_bzero(ek, sizeof(ek));
	explicit_bzero(ak, sizeof(ak));
	put_row(k, k->fd_esp, row, n, "ESP");
}

void keylog_child(struct keylog *k, const struct ike_child_info *c)
{
	if (!k)
		return;
	if (!keytable_esp_encr_wsname(c->encr) || !keytable_esp_integ_wsname(c->integ) ||
	    c->key_e_len > CRYPTO_MAX_KEY_LEN || c->key_a_len > CRYPTO_MAX_PRF_LEN) {
		log_ratelimited(LOG_WARNING, LOG_RL_OTHER, NULL, "keylog",
		                "\"%s\" #%" PRIu64 ": Wireshark has no name for its ESP algorithms "
		                "(encr %u integ %u): keys of reqid %u not exported",
		                c->conn, c->ike_serial, c->encr, c->integ, c->reqid);
		return;
	}
	esp_row(k, c, true);
	esp_row(k, c, false);
}
