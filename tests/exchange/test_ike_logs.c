/*
 * The operator's log lines of the initial exchanges (STYLE.md "Logs",
 * issue 14): state lines read "state OLD -> NEW"; the established and
 * failed lines name the peer's address and identity (RFC 7296 3.5); DH
 * groups are logged by their IANA names; and a responder's SA is labelled
 * with its candidate connection and a "?" until IKE_AUTH has matched the
 * initiator's identity (2.15), never as if it were already known.
 */
#include "harness.h"

static FILE *lx_log;

static void log_capture(void)
{
	lx_log = tmpfile();
	assert_non_null(lx_log);
	log_set_stream(lx_log);
	log_init("rike-exchange", LOG_TARGET_STREAM, LOG_INFO);
}

/* Lines of the captured log containing every one of the (NULL-ended) strings. */
static unsigned log_count(const char *s, ...)
{
	char line[2048];
	unsigned k = 0;

	fflush(lx_log);
	rewind(lx_log);
	while (fgets(line, sizeof(line), lx_log)) {
		va_list ap;
		const char *t = s;
		bool all = true;

		va_start(ap, s);
		for (; t && all; t = va_arg(ap, const char *))
			all = strstr(line, t) != NULL;
		va_end(ap);
		if (all)
			k++;
	}
	fseek(lx_log, 0, SEEK_END);
	return k;
}

static void log_dump(void)
{
	char line[2048];

	fflush(lx_log);
	rewind(lx_log);
	while (fgets(line, sizeof(line), lx_log))
		print_message("%s", line);
	fseek(lx_log, 0, SEEK_END);
}

static int lx_teardown(void **state)
{
	hx_teardown(state);
	if (lx_log) {
		log_set_stream(NULL);
		log_init("rike-exchange", LOG_TARGET_STDERR, LOG_WARNING);
		fclose(lx_log);
		lx_log = NULL;
	}
	return 0;
}

/* HDR, SAi1, KEi, Ni -->  <-- HDR, SAr1, KEr, Nr;  IKE_AUTH both ways. */
static void test_established_lines(void **state)
{
	struct hx_conf c = {0};
	struct hx_net *n;

	n = hx_new(&c, &c);
	*state = n;
	log_capture();
	hx_establish(n);
	if (log_count(" -> ESTABLISHED", NULL) != 2)
		log_dump();
	/* Group 31 by its IANA name, on both sides. */
	assert_int_equal(log_count("init-sent group \"Curve25519\"", NULL), 1);
	assert_int_equal(log_count("init-answered group \"Curve25519\"", NULL), 1);
	/* b's connection is a candidate while only IKE_SA_INIT was seen... */
	assert_int_equal(log_count("\"t?\" #", "init-answered", NULL), 1);
	/* ...and final once IKE_AUTH matched a's identity. */
	assert_int_equal(log_count("\"t\" #",
	                           "state INIT_DONE -> ESTABLISHED: authenticated; "
	                           "peer 192.0.2.1:500 id fqdn:a.example",
	                           NULL),
	                 1);
	assert_int_equal(log_count("\"t\" #", "state INIT_SENT -> AUTH_SENT", NULL), 1);
	assert_int_equal(log_count("\"t\" #",
	                           "state AUTH_SENT -> ESTABLISHED: authenticated; "
	                           "peer 192.0.2.2:500 id fqdn:b.example",
	                           NULL),
	                 1);
	/* The old "NEW OLD" order is gone; a label with "?" never says ESTABLISHED. */
	assert_int_equal(log_count("ESTABLISHED INIT", NULL), 0);
	assert_int_equal(log_count("ESTABLISHED AUTH", NULL), 0);
	assert_int_equal(log_count("\"t?\" #", "ESTABLISHED", NULL), 0);
}

/* RFC 7296 2.21.2: b's AUTHENTICATION_FAILED line names whom it refused
 * (address and the identity the initiator claimed), under the candidate
 * label since a was never authenticated; a's line names b. */
static void test_failed_lines(void **state)
{
	struct hx_conf ca = {0};
	struct hx_conf cb = {.psk = "a different secret of reasonable length"};
	struct hx_net *n;

	n = hx_new(&ca, &cb);
	*state = n;
	log_capture();
	assert_int_equal(ike_up(hx_ike(n, HX_A), HX_CONN), 0);
	hx_deliver_all(n, 20);
	hx_settle(n, 60000);
	if (log_count("auth-failed", NULL) != 2)
		log_dump();
	/* b: the identity a claimed, not one AUTH proved */
	assert_int_equal(log_count("\"t?\" #", "auth-failed",
	                           "(claimed id fqdn:a.example); peer 192.0.2.1:500", NULL),
	                 1);
	assert_int_equal(log_count("\"t\" #", "auth-failed", "peer 192.0.2.2:500", NULL), 1);
	assert_int_equal(log_count(" -> DEAD", "peer 192.0.2.", NULL), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_established_lines, lx_teardown),
	    cmocka_unit_test_teardown(test_failed_lines, lx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
