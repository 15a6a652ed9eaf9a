/* The log line format of STYLE.md, escaping, levels, and the rate limiter
 * driven by a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

static uint64_t fake_ms;
static char *buf;
static size_t len;
static FILE *mem;

static uint64_t fake_clock(void)
{
	return fake_ms;
}

/* 2026-12-07T05:20:01.123Z */
static uint64_t fake_wallclock(void)
{
	return 1796620801123ULL;
}

#define TS "2026-12-07T05:20:01.123Z "

static int setup(void **state)
{
	mem = open_memstream(&buf, &len);
	log_init("riked", LOG_TARGET_STREAM, LOG_DEBUG);
	log_set_stream(mem);
	log_set_clock(fake_clock);
	log_set_wallclock(fake_wallclock);
	log_rl_configure(5, 1, 50, 20);
	fake_ms = 1000;
	return mem ? 0 : -1;
}

static int teardown(void **state)
{
	fclose(mem);
	free(buf);
	log_set_stream(NULL);
	log_set_clock(NULL);
	log_set_wallclock(NULL);
	return 0;
}

/* The output so far, then cleared. */
static char *take(void)
{
	static char out[8192];

	fclose(mem);
	snprintf(out, sizeof(out), "%s", buf ? buf : "");
	free(buf);
	buf = NULL;
	mem = open_memstream(&buf, &len);
	assert_non_null(mem);
	log_set_stream(mem);
	return out;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_sa_line(void **state)
{
	char want[256];

	log_sa(LOG_INFO, "ike", "site-b", 7, 0x0123456789abcdefULL, 0xfedcba9876543210ULL,
	       "established", "proposal %s", "aes256gcm16-prfsha384-ecp384");
	snprintf(want, sizeof(want),
	         TS
	         "riked[%d]: info ike \"site-b\" #7 0123456789abcdef:fedcba9876543210 established "
	         "proposal aes256gcm16-prfsha384-ecp384\n",
	         (int)getpid());
	assert_string_equal(take(), want);

	log_sa(LOG_NOTICE, "child", NULL, 1, 1, 0, "deleted", NULL);
	snprintf(want, sizeof(want),
	         TS "riked[%d]: notice child \"-\" #1 0000000000000001:0000000000000000 deleted\n",
	         (int)getpid());
	assert_string_equal(take(), want);
}

static void test_msg_and_levels(void **state)
{
	char want[128];
	int lvl;

	log_msg(LOG_WARNING, "ctl", "socket %s gone", "/run/x");
	snprintf(want, sizeof(want), TS "riked[%d]: warning ctl socket /run/x gone\n",
	         (int)getpid());
	assert_string_equal(take(), want);

	log_set_level(LOG_NOTICE);
	log_msg(LOG_INFO, "ike", "hidden");
	log_sa(LOG_DEBUG, "ike", "c", 1, 0, 0, "hidden", NULL);
	assert_string_equal(take(), "");
	assert_false(log_enabled(LOG_INFO));
	assert_true(log_enabled(LOG_ERR));
	log_msg(LOG_ERR, "ike", "shown");
	assert_non_null(strstr(take(), "error ike shown"));
	log_set_level(LOG_DEBUG);

	assert_int_equal(log_level_parse("warning", &lvl), 0);
	assert_int_equal(lvl, LOG_WARNING);
	assert_int_equal(log_level_parse("error", &lvl), 0);
	assert_int_equal(lvl, LOG_ERR);
	assert_int_equal(log_level_parse("emerg", &lvl), -1);
	assert_int_equal(log_level_parse("verbose", &lvl), -1);
	assert_string_equal(log_level_name(LOG_DEBUG), "debug");
}

/* A peer-supplied ID with a newline must not start a forged line. */
static void test_escaping(void **state)
{
	char *out;

	log_sa(LOG_INFO, "ike", "c", 2, 0, 0, "auth", "peer id %s", "evil\nriked[1]: info fake\\");
	out = take();
	assert_int_equal(count(out, "\n"), 1);
	assert_non_null(strstr(out, "evil\\x0ariked[1]: info fake\\x5c"));

	char big[4 * LOG_LINE_MAX];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_msg(LOG_INFO, "x", "%s", big);
	out = take();
	assert_true(strlen(out) < LOG_LINE_MAX + 64);
	assert_int_equal(count(out, "\n"), 1);
}

static struct sockaddr_in addr4(const char *s, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};

	inet_pton(AF_INET, s, &a.sin_addr);
	return a;
}

static void test_ratelimit_bucket(void **state)
{
	struct sockaddr_in a = addr4("192.0.2.1", 500), b = addr4("192.0.2.2", 500);
	struct sockaddr_in a2 = addr4("192.0.2.1", 4500);
	int passed = 0;
	char *out;

	log_rl_reset();
	take();
	/* Burst of 5, then nothing until time passes. */
	for (int i = 0; i < 20; i++)
		passed += log_ratelimited(LOG_WARNING, LOG_RL_MALFORMED, (struct sockaddr *)&a,
		                          "wire", "malformed %d", i);
	assert_int_equal(passed, 5);
	out = take();
	assert_int_equal(count(out, "malformed"), 5);
	/* Another port of the same address shares the bucket... */
	assert_false(log_rl_allow(LOG_RL_MALFORMED, (struct sockaddr *)&a2));
	/* ...another address or another kind does not. */
	assert_true(log_rl_allow(LOG_RL_MALFORMED, (struct sockaddr *)&b));
	assert_true(log_rl_allow(LOG_RL_UNKNOWN_SPI, (struct sockaddr *)&a));
	take();

	/* One token per second comes back; the first message after the
	 * quiet spell reports what was dropped (15 + 1). */
	fake_ms += 999;
	assert_false(log_rl_allow(LOG_RL_MALFORMED, (struct sockaddr *)&a));
	fake_ms += 1;
	assert_true(log_ratelimited(LOG_WARNING, LOG_RL_MALFORMED, (struct sockaddr *)&a, "wire",
	                            "malformed again"));
	out = take();
	assert_non_null(strstr(out, "notice log 17 similar messages suppressed (malformed from "
	                            "192.0.2.1)\n"));
	assert_non_null(strstr(out, "warning wire malformed again\n"));
	assert_true(strstr(out, "suppressed") < strstr(out, "malformed again"));
	/* The bucket refills to the burst size, not beyond. */
	fake_ms += 3600 * 1000;
	passed = 0;
	for (int i = 0; i < 10; i++)
		passed += log_rl_allow(LOG_RL_MALFORMED, (struct sockaddr *)&a);
	assert_int_equal(passed, 5);
}

static void test_ratelimit_global_and_flush(void **state)
{
	struct sockaddr_in6 s = {.sin6_family = AF_INET6};
	int passed = 0;
	char *out;

	log_rl_reset();
	take();
	/* Spoofed sources: each has its own bucket, but the global one caps
	 * the total at its burst of 50. */
	for (int i = 0; i < 200; i++) {
		s.sin6_addr.s6_addr[15] = (uint8_t)i;
		s.sin6_addr.s6_addr[14] = (uint8_t)(i >> 8);
		passed += log_rl_allow(LOG_RL_COOKIE, (struct sockaddr *)&s);
	}
	assert_int_equal(passed, 50);
	fake_ms += 1000; /* 20 global tokens */
	passed = 0;
	for (int i = 0; i < 40; i++) {
		s.sin6_addr.s6_addr[15] = (uint8_t)i;
		passed += log_rl_allow(LOG_RL_COOKIE, (struct sockaddr *)&s);
	}
	assert_int_equal(passed, 20);
	take();
	log_rl_flush();
	out = take();
	assert_non_null(strstr(out, "similar messages suppressed"));
	log_rl_flush(); /* nothing pending any more */
	assert_string_equal(take(), "");

	/* No source address: keyed by kind alone. */
	log_rl_reset();
	passed = 0;
	for (int i = 0; i < 10; i++)
		passed += log_rl_allow(LOG_RL_CTL, NULL);
	assert_int_equal(passed, 5);
	log_rl_flush();
	assert_non_null(strstr(take(), "5 similar messages suppressed (ctl)\n"));
}

static void test_ratelimit_level_off(void **state)
{
	log_rl_reset();
	take();
	log_set_level(LOG_ERR);
	/* A disabled level neither prints nor spends tokens. */
	for (int i = 0; i < 10; i++)
		assert_false(log_ratelimited(LOG_INFO, LOG_RL_AUTH, NULL, "ike", "x"));
	log_set_level(LOG_DEBUG);
	assert_true(log_ratelimited(LOG_INFO, LOG_RL_AUTH, NULL, "ike", "x"));
	log_rl_flush();
	assert_null(strstr(take(), "suppressed"));
}

/* systemd.exec(5): riked logs to the journal only when JOURNAL_STREAM
 * names the stream its stderr is (not one a parent passed on). */
static void test_journal_stream(void **state)
{
	struct stat st;
	char v[64];

	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
	log_init("riked", LOG_TARGET_STDERR, LOG_DEBUG);
	assert_int_equal(log_target(), LOG_TARGET_JOURNAL);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", v, 1);
	log_init("riked", LOG_TARGET_STDERR, LOG_DEBUG);
	assert_int_equal(log_target(), LOG_TARGET_STDERR);
	unsetenv("JOURNAL_STREAM");
	log_init("riked", LOG_TARGET_STDERR, LOG_DEBUG);
	assert_int_equal(log_target(), LOG_TARGET_STDERR);
	/* an explicit stream (tests) is never redirected */
	log_init("riked", LOG_TARGET_STREAM, LOG_DEBUG);
	assert_int_equal(log_target(), LOG_TARGET_STREAM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sa_line),
	    cmocka_unit_test(test_journal_stream),
	    cmocka_unit_test(test_msg_and_levels),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_ratelimit_bucket),
	    cmocka_unit_test(test_ratelimit_global_and_flush),
	    cmocka_unit_test(test_ratelimit_level_off),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
