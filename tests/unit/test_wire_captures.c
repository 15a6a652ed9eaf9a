/*
 * The decoder against real traffic: every pcap/pcapng under
 * $RIKE_SHARED/captures (recursively). Port 4500 datagrams go through
 * wire_udp4500_classify (RFC 3948 2.2); IKEv1 (version 0x10) is counted
 * and skipped; every IKEv2 message that decodes must re-encode byte for
 * byte, and the payload rules are run on it for information.
 *
 * The captures the README calls well-formed (wireshark/ (all), openswan/ct12-*,
 * tcpdump/ikev2four, ikev2pI2, ikev2-id-normal) must decode completely.
 * The tcpdump robustness inputs (isakmp-*, *segfault*, ikev2-id-short)
 * only have to be survived: what they are rejected for is printed.
 */
#include <dirent.h>
#include <fnmatch.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "util/pcapread.h"
#include "wire/payload.h"

#define SKIP      77
#define MAX_FILES 512

struct file_stats {
	unsigned datagrams, ikev2, ikev1, esp, keepalive, other, decoded, rejected, mismatched;
	unsigned rules_ok, rules_bad;
	char first_reject[160];
};

struct totals {
	unsigned files, ikev2, ikev1, esp, keepalive, decoded, rejected, rules_ok, rules_bad;
};

static char *files[MAX_FILES];
static size_t nfiles;
static const char *root;

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && strcmp(s + a - b, suf) == 0;
}

static void collect(const char *dir)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);

	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		if (ents[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
				collect(path);
			else if ((has_suffix(path, ".pcap") || has_suffix(path, ".pcapng")) &&
			         nfiles < MAX_FILES)
				files[nfiles++] = strdup(path);
		}
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
}

/* Relative to the captures directory. */
static const char *rel(const char *path)
{
	return path + strlen(root) + 1;
}

static bool well_formed(const char *path)
{
	static const char *const pats[] = {
	    "wireshark/*",
	    "openswan/ct12-*",
	    "tcpdump/ikev2four.pcap",
	    "tcpdump/ikev2pI2.pcap",
	    "tcpdump/ikev2-id-normal.pcap",
	};

	for (size_t i = 0; i < ARRAY_LEN(pats); i++) {
		if (fnmatch(pats[i], rel(path), 0) == 0)
			return true;
	}
	return false;
}

static void check_ikev2(struct file_stats *s, const struct pcap_udp *d, const uint8_t *p,
                        size_t len)
{
	struct wire_msg m;
	struct wire_error err;
	struct wire_wr w;

	wire_msg_init(&m);
	if (wire_decode(p, len, &m, &err) < 0) {
		s->rejected++;
		if (!s->first_reject[0])
			snprintf(s->first_reject, sizeof(s->first_reject),
			         "frame %u: %s (notify %u, payload %u, offset %zu)", d->frame,
			         err.reason, err.notify, err.payload, err.offset);
		goto out;
	}
	s->decoded++;
	wire_wr_init(&w, WIRE_WR_MAX_DEFAULT);
	if (wire_encode(&m, &w) < 0 || w.len != len || memcmp(w.p, p, len) != 0) {
		s->mismatched++;
		print_message("  frame %u: re-encoding differs (%zu vs %zu octets)\n", d->frame,
		              w.len, len);
	}
	wire_wr_free(&w);
	if (wire_rules_check(&m, &err) == 0) {
		s->rules_ok++;
	} else {
		s->rules_bad++;
		print_message("  frame %u: rules: %s (%s, payload %u)\n", d->frame, err.reason,
		              ikev2_exchange_name(m.hdr.exchange) ?: "?", err.payload);
	}
out:
	wire_msg_free(&m);
}

/* IKEv1 (RFC 2408 3.1): version octet 0x10 at the same place. Not ours. */
static bool is_ikev1(const uint8_t *p, size_t len)
{
	struct wire_rd r;
	uint8_t version;

	wire_rd_init(&r, p, len);
	return wire_rd_skip(&r, 17) == 0 && wire_rd_u8(&r, &version) == 0 && version == 0x10;
}

static int on_datagram(void *ctx, const struct pcap_udp *d)
{
	struct file_stats *s = ctx;
	const uint8_t *p = d->payload;
	size_t len = d->len;

	s->datagrams++;
	if (d->sport == 4500 || d->dport == 4500) {
		switch (wire_udp4500_classify(&p, &len)) {
		case 0:
			s->esp++;
			return 0;
		case 2:
			s->keepalive++;
			return 0;
		case 1:
			break;
		default:
			s->other++;
			return 0;
		}
	}
	if (is_ikev1(p, len)) {
		s->ikev1++;
		return 0;
	}
	s->ikev2++;
	check_ikev2(s, d, p, len);
	return 0;
}

static void run_file(const char *path, struct totals *t, unsigned *wf_files)
{
	struct file_stats s = {0};
	char errbuf[512] = "";
	bool wf = well_formed(path);

	print_message("%s:\n", rel(path));
	if (pcapread_udp(path, on_datagram, &s, errbuf) < 0) {
		print_message("  unreadable: %s\n", errbuf);
		assert_false(wf);
		return;
	}
	print_message("  %u datagrams: %u IKEv2 (%u decoded and re-encoded exactly, %u rejected), "
	              "%u IKEv1, %u ESP, %u keepalive, %u other; rules %u ok, %u not\n",
	              s.datagrams, s.ikev2, s.decoded, s.rejected, s.ikev1, s.esp, s.keepalive,
	              s.other, s.rules_ok, s.rules_bad);
	if (s.rejected)
		print_message("  first rejection: %s\n", s.first_reject);
	/* Every message that decodes re-encodes exactly, in every capture. */
	assert_int_equal(s.mismatched, 0);
	if (wf) {
		(*wf_files)++;
		assert_true(s.ikev2 > 0);
		assert_int_equal(s.rejected, 0);
		assert_int_equal(s.decoded, s.ikev2);
		/* The rules table too, except for this unencrypted IKE_AUTH test frame. */
		if (!strstr(path, "ikev2-id-normal"))
			assert_int_equal(s.rules_bad, 0);
	}
	t->files++;
	t->ikev2 += s.ikev2;
	t->ikev1 += s.ikev1;
	t->esp += s.esp;
	t->keepalive += s.keepalive;
	t->decoded += s.decoded;
	t->rejected += s.rejected;
	t->rules_ok += s.rules_ok;
	t->rules_bad += s.rules_bad;
}

static void test_captures(void **state)
{
	struct totals t = {0};
	unsigned wf_files = 0;

	for (size_t i = 0; i < nfiles; i++)
		run_file(files[i], &t, &wf_files);
	print_message("TOTAL: %u files (%u well-formed); %u IKEv2 messages: %u decoded and "
	              "re-encoded byte for byte, %u rejected; %u IKEv1 skipped; %u ESP, %u "
	              "keepalives; rules: %u pass, %u fail\n",
	              t.files, wf_files, t.ikev2, t.decoded, t.rejected, t.ikev1, t.esp,
	              t.keepalive, t.rules_ok, t.rules_bad);
	/* 8 wireshark, 2 ct12 and 3 tcpdump files: the README's well-formed set. */
	assert_true(wf_files >= 13);
	assert_true(t.decoded > 0);
}

int main(void)
{
	const char *shared = getenv("RIKE_SHARED");
	static char dir[4096];
	struct stat st;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_captures),
	};
	int rc;

	if (!shared) {
		printf("RIKE_SHARED is not set: skipping\n");
		return SKIP;
	}
	snprintf(dir, sizeof(dir), "%s/captures", shared);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		printf("%s is absent: skipping\n", dir);
		return SKIP;
	}
	root = dir;
	collect(dir);
	if (nfiles == 0) {
		printf("no captures under %s: skipping\n", dir);
		return SKIP;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	for (size_t i = 0; i < nfiles; i++)
		free(files[i]);
	return rc;
}
