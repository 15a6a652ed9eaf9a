/*
 * riked's resolver (src/daemon/resolve.c) on a real libevent loop: names
 * from a hosts file of ours (A and AAAA), a name that is not there, a DNS
 * server that never answers (the deadline answers, and the loop keeps
 * running meanwhile: a timer fires during the lookup), every answer exactly
 * once and never from inside resolver_lookup, and teardown with lookups in
 * flight. No network beyond a loopback socket of the test's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/resolve.h"
#include "util/log.h"

struct answers {
	int calls, ticks, ticks_at_answer;
	uint64_t id;
	size_t n;
	struct sockaddr_storage addrs[RESOLVER_MAX_ADDRS];
	char why[128];
};

static struct answers ans;
static struct event_base *base;
static struct event *tick;
static char hosts[64];

static void done(void *ctx, uint64_t id, const char *name, const struct sockaddr_storage *addrs,
                 size_t n, const char *why)
{
	(void)ctx;
	(void)name;
	ans.calls++;
	ans.ticks_at_answer = ans.ticks;
	ans.id = id;
	ans.n = n;
	memcpy(ans.addrs, addrs, n * sizeof(*addrs));
	snprintf(ans.why, sizeof(ans.why), "%s", why ? why : "");
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	ans.ticks++;
}

/* Runs the loop until `calls` answers came: at most 200 ticks of 20 ms
 * (about 4 s) and 20000 turns. */
static void run_until(int calls)
{
	for (int i = 0; i < 20000 && ans.calls < calls && ans.ticks < 200; i++)
		event_base_loop(base, EVLOOP_ONCE);
}

static bool has_addr(const char *text)
{
	uint8_t want[16];
	int fam = strchr(text, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(fam, text, want), 1);
	for (size_t i = 0; i < ans.n; i++) {
		const struct sockaddr_storage *ss = &ans.addrs[i];

		if (ss->ss_family != fam)
			continue;
		if (fam == AF_INET && !memcmp(&((const struct sockaddr_in *)ss)->sin_addr, want, 4))
			return ((const struct sockaddr_in *)ss)->sin_port == 0;
		if (fam == AF_INET6 &&
		    !memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, want, 16))
			return ((const struct sockaddr_in6 *)ss)->sin6_port == 0;
	}
	return false;
}

static int setup(void **state)
{
	static const struct timeval period = {0, 20 * 1000};
	FILE *f;
	int fd;

	memset(&ans, 0, sizeof(ans));
	snprintf(hosts, sizeof(hosts), "/tmp/rike-hosts-XXXXXX");
	fd = mkstemp(hosts);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f, "192.0.2.7 gw1.example.net gw1\n"
	           "2001:db8::7 gw1.example.net\n"
	           "198.51.100.9 gw2.example.net\n");
	fclose(f);
	setenv("CARES_HOSTS", hosts, 1);
	base = event_base_new();
	assert_non_null(base);
	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	assert_int_equal(event_add(tick, &period), 0);
	return 0;
}

static int teardown(void **state)
{
	event_free(tick);
	event_base_free(base);
	unlink(hosts);
	return 0;
}

static struct resolver *new_files_only(void)
{
	struct resolver_opts o = {.lookups = "f", .hosts_from_env = true};
	char why[128];
	struct resolver *r = resolver_new(base, &o, done, NULL, why, sizeof(why));

	if (!r)
		fail_msg("resolver_new: %s", why);
	return r;
}

static void test_hosts_file(void **state)
{
	struct resolver *r = new_files_only();

	assert_int_equal(resolver_lookup(r, "gw1.example.net", 41), 0);
	/* c-ares answers hosts-file names at once; the answer waits for the loop. */
	assert_int_equal(ans.calls, 0);
	assert_int_equal(resolver_pending(r), 1);
	run_until(1);
	assert_int_equal(ans.calls, 1);
	assert_int_equal(ans.id, 41);
	assert_int_equal(ans.n, 2);
	assert_true(has_addr("192.0.2.7"));
	assert_true(has_addr("2001:db8::7"));
	assert_int_equal(resolver_pending(r), 0);

	assert_int_equal(resolver_lookup(r, "gw2.example.net", 42), 0);
	run_until(2);
	assert_int_equal(ans.id, 42);
	assert_int_equal(ans.n, 1);
	assert_true(has_addr("198.51.100.9"));

	/* Exactly once: more loop turns bring nothing. */
	for (int i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(ans.calls, 2);
	resolver_free(r);
}

static void test_not_found_and_bad_names(void **state)
{
	struct resolver *r = new_files_only();
	char longname[300];

	assert_int_equal(resolver_lookup(r, "nowhere.example.net", 7), 0);
	assert_int_equal(ans.calls, 0);
	run_until(1);
	assert_int_equal(ans.calls, 1);
	assert_int_equal(ans.id, 7);
	assert_int_equal(ans.n, 0);
	assert_true(strlen(ans.why) > 0);

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	const char *bad[] = {"", ".example.net", "a..b", "gw 1", "gw\n1", longname};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(resolver_lookup(r, bad[i], 8), -1);
		assert_int_equal(errno, EINVAL);
	}
	assert_int_equal(resolver_pending(r), 0);
	resolver_free(r);
	assert_int_equal(ans.calls, 1);
}

/* A DNS server that takes queries and never answers. */
static int silent_server(char *servers, size_t len)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(servers, len, "127.0.0.1:%u", ntohs(sin.sin_port));
	return fd;
}

static void test_silent_server_times_out(void **state)
{
	char servers[64], why[128], q[512];
	int fd = silent_server(servers, sizeof(servers));
	/* c-ares would try for longer than our deadline. */
	struct resolver_opts o = {
	    .lookups = "b", .servers = servers, .timeout_ms = 300, .try_ms = 5000};
	struct resolver *r = resolver_new(base, &o, done, NULL, why, sizeof(why));

	assert_non_null(r);
	assert_int_equal(resolver_lookup(r, "slow.example.net", 99), 0);
	run_until(1);
	assert_int_equal(ans.calls, 1);
	assert_int_equal(ans.id, 99);
	assert_int_equal(ans.n, 0);
	assert_non_null(strstr(ans.why, "no answer within 300 ms"));
	/* The loop was not blocked: the 20 ms timer ran during the lookup. */
	assert_true(ans.ticks_at_answer >= 2);
	/* The query did go out to our server. */
	assert_true(recv(fd, q, sizeof(q), 0) > 12);
	assert_int_equal(resolver_pending(r), 0);
	/* The query is still in c-ares; more loop turns bring no second answer. */
	for (int i = 0; i < 10; i++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(ans.calls, 1);

	/* Teardown with a lookup in flight: no answer, nothing leaks (ASan). */
	assert_int_equal(resolver_lookup(r, "slow2.example.net", 100), 0);
	event_base_loop(base, EVLOOP_ONCE);
	resolver_free(r);
	assert_int_equal(ans.calls, 1);
	close(fd);
}

static void test_in_flight_cap(void **state)
{
	char servers[64], why[128];
	int fd = silent_server(servers, sizeof(servers));
	struct resolver_opts o = {.lookups = "b", .servers = servers, .timeout_ms = 200};
	struct resolver *r = resolver_new(base, &o, done, NULL, why, sizeof(why));

	assert_non_null(r);
	for (int i = 0; i < RESOLVER_MAX_QUERY; i++)
		assert_int_equal(resolver_lookup(r, "slow.example.net", (uint64_t)i), 0);
	errno = 0;
	assert_int_equal(resolver_lookup(r, "one-too-many.example.net", 1000), -1);
	assert_int_equal(errno, EAGAIN);
	run_until(RESOLVER_MAX_QUERY);
	assert_int_equal(ans.calls, RESOLVER_MAX_QUERY);
	assert_int_equal(ans.n, 0);
	assert_true(strlen(ans.why) > 0);
	assert_int_equal(resolver_pending(r), 0);
	assert_int_equal(resolver_lookup(r, "again.example.net", 1001), 0);
	resolver_free(r);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_hosts_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_found_and_bad_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_silent_server_times_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_in_flight_cap, setup, teardown),
	};

	log_init("test_resolve", LOG_TARGET_STDERR, LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
