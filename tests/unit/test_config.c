/* riked.conf: the full examples, defaults, every validation error with its
 * line number, identities and traffic selectors, and the reload diff. */
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

#include "daemon/config.h"
#include "wire/ikev2.h"

static char *example_path(const char *name)
{
	const char *src = getenv("RIKE_SRC");
	char *p = NULL;

	if (!src || asprintf(&p, "%s/examples/%s", src, name) < 0 || access(p, R_OK) < 0) {
		printf("RIKE_SRC/examples/%s not readable; skipping\n", name);
		exit(77);
	}
	return p;
}

static void load_ok(const char *text, struct cfg *cfg)
{
	char err[512] = "";

	if (cfg_load_string(text, "t.conf", cfg, err, sizeof(err)) != 0)
		fail_msg("load failed: %s", err);
}

static void test_example_full(void **state)
{
	char *path = example_path("riked.conf");
	struct cfg cfg;
	char err[512] = "", buf[128];
	const struct cfg_conn *c;

	if (cfg_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg.path, path);
	assert_int_equal(cfg.log_target, LOG_TARGET_STDERR);
	assert_int_equal(cfg.log_level, LOG_INFO);
	assert_string_equal(cfg.control_socket, "/run/riked/riked.sock");
	assert_string_equal(cfg.state_dir, "/var/lib/riked");
	assert_int_equal(cfg.dataplane, CFG_DP_USERSPACE); /* runs on kernels without ESP */
	assert_int_equal(cfg.ike_port, 500);
	assert_int_equal(cfg.natt_port, 4500);
	assert_int_equal(cfg.half_open_cookie_threshold, 64);
	assert_int_equal(cfg.half_open_timeout, 30);
	assert_int_equal(cfg.half_open_max, 20000);
	assert_int_equal(cfg.half_open_per_source, 32);
	assert_int_equal(cfg.half_open_memory, 131072);
	assert_true(cfg.qcd_enabled);
	assert_int_equal(cfg.attack_half_open_timeout, 5);
	assert_int_equal(cfg.dh_per_second, 0);
	assert_false(cfg.puzzles);
	assert_int_equal(cfg.puzzle_difficulty, 8);
	assert_int_equal(cfg.puzzle_solve_work, 16384);
	assert_int_equal(cfg.puzzle_auth_difficulty, 8);
	assert_int_equal(cfg.auth_fail_max, 5);
	assert_int_equal(cfg.auth_fail_window, 60);
	assert_int_equal(cfg.auth_fail_block, 300);
	assert_int_equal(cfg.nconns, 2);

	c = conf_conn_lookup(&cfg, "site-b");
	assert_non_null(c);
	assert_int_equal(c->line, 18);
	assert_int_equal(c->local.ss_family, AF_INET);
	cfg_addr_format(&c->remote, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.2");
	assert_int_equal(ntohs(((const struct sockaddr_in *)&c->remote)->sin_port), 500);
	assert_int_equal(c->local_id.type, IKEV2_ID_FQDN);
	assert_int_equal(c->local_id.len, strlen("gw-a.example"));
	assert_memory_equal(c->local_id.data, "gw-a.example", c->local_id.len);
	assert_int_equal(c->remote_id.type, IKEV2_ID_FQDN);
	assert_int_equal(c->auth.method, CFG_AUTH_PSK);
	assert_true(c->auth.psk_len > 10);
	assert_int_equal(c->n_ike_proposals, 2);
	assert_int_equal(c->ike_proposals[0].encr[0].id, IKEV2_ENCR_AES_GCM_16);
	assert_int_equal(c->ike_proposals[1].prf[0], IKEV2_PRF_HMAC_SHA2_256);
	assert_int_equal(c->n_esp_proposals, 2);
	assert_int_equal(c->n_local_ts, 1);
	cfg_ts_format(&c->local_ts[0], buf, sizeof(buf));
	assert_string_equal(buf, "10.10.1.0/24");
	assert_int_equal(c->mode, CFG_MODE_TUNNEL);
	assert_int_equal(c->ike_lifetime, 14400);
	assert_int_equal(c->child_lifetime, 3600);
	assert_int_equal(c->rekey_margin, 540);
	assert_int_equal(c->rekey_fuzz, 100);
	assert_int_equal(c->dpd_interval, 30);
	assert_int_equal(c->start, CFG_START_START);
	assert_true(c->keep_up);
	assert_true(c->retransmit.timeout == 1.0 && c->retransmit.base == 1.8);
	assert_int_equal(c->retransmit.tries, 5);
	assert_true(c->qcd && !c->qcd_bind_address && c->mobike && c->redirect.accept);
	assert_true(c->fragmentation && !c->encap);

	c = conf_conn_lookup(&cfg, "backup-host");
	assert_non_null(c);
	assert_int_equal(c->local.ss_family, AF_INET6);
	assert_int_equal(c->local_id.type, IKEV2_ID_RFC822_ADDR);
	assert_int_equal(c->remote_id.type, IKEV2_ID_KEY_ID);
	assert_int_equal(c->remote_id.len, 4);
	assert_int_equal(c->auth.psk_len, 16);
	assert_int_equal(c->auth.psk[0], 0x6b);
	assert_int_equal(c->mode, CFG_MODE_TRANSPORT);
	assert_int_equal(c->start, CFG_START_TRAP);
	assert_int_equal(c->n_ike_proposals, 2); /* defaults */
	assert_int_equal(c->local_ts[0].ip_proto, IPPROTO_TCP);
	assert_int_equal(c->local_ts[0].start_port, 873);
	assert_int_equal(c->remote_ts[0].end_port, 65535);
	cfg_free(&cfg);
	cfg_free(&cfg); /* idempotent */
	free(path);
}

static void test_example_responder(void **state)
{
	char *path = example_path("responder.conf");
	struct cfg cfg;
	char err[512] = "";
	const struct cfg_conn *c;

	if (cfg_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(cfg.log_target, LOG_TARGET_SYSLOG);
	assert_int_equal(cfg.log_level, LOG_NOTICE);
	c = conf_conn_lookup(&cfg, "laptop-alice");
	assert_int_equal(c->remote.ss_family, AF_UNSPEC);
	assert_int_equal(c->start, CFG_START_WAIT);
	assert_int_equal(c->remote_id.type, IKEV2_ID_RFC822_ADDR);
	c = conf_conn_lookup(&cfg, "lab-gw");
	assert_int_equal(c->auth.method, CFG_AUTH_PSK);
	assert_int_equal(c->auth.psk_len, 14);
	assert_int_equal(c->redirect.n_to, 1);
	assert_string_equal(c->redirect.to[0], "vpn2.example.com");
	assert_int_equal(c->redirect.grace, 20);
	assert_false(c->redirect.accept);
	assert_int_equal(c->n_remote_ts, 2);
	assert_int_equal(c->remote_ts[1].ip_proto, IPPROTO_UDP);
	cfg_free(&cfg);
	free(path);
}

static void test_defaults(void **state)
{
	struct cfg cfg;
	const struct cfg_conn *c;

	load_ok("connections = ( { name = \"a\"; remote = \"192.0.2.1\";\n"
	        "  auth = { method = \"psk\"; secret = \"x\"; }; } );",
	        &cfg);
	assert_string_equal(cfg.control_socket, "/run/riked/riked.sock");
	assert_int_equal(cfg.dataplane, CFG_DP_USERSPACE);
	assert_int_equal(cfg.log_target, LOG_TARGET_STDERR);
	c = &cfg.conns[0];
	assert_int_equal(c->local.ss_family, AF_UNSPEC);
	assert_int_equal(c->remote_id.type, IKEV2_ID_IPV4_ADDR); /* from the address */
	assert_int_equal(c->remote_id.len, 4);
	assert_int_equal(c->n_ike_proposals, 2);
	assert_int_equal(c->n_esp_proposals, 2);
	assert_int_equal(c->n_local_ts, 0); /* dynamic */
	assert_int_equal(c->start, CFG_START_START);
	assert_false(c->keep_up);
	assert_true(c->qcd && c->mobike && c->fragmentation && c->redirect.accept);
	assert_int_equal(c->redirect.max, 5);
	assert_int_equal(c->redirect.period, 300);
	assert_int_equal(c->redirect.grace, 10);
	assert_int_equal(c->redirect.n_to, 0);
	assert_int_equal(c->fragment_size, 1280);
	cfg_free(&cfg);

	load_ok("", &cfg); /* no connections at all is valid */
	assert_int_equal(cfg.nconns, 0);
	assert_int_equal(cfg.ike_port, 500);
	cfg_free(&cfg);
}

/* A connection whose extra lines start at line 5. */
#define CONN_HEAD                                                                                  \
	"connections = ( {\n"                                                                      \
	"  name = \"c\";\n"                                                                        \
	"  local = \"10.0.0.1\"; remote = \"10.0.0.2\";\n"                                         \
	"  auth = { method = \"psk\"; secret = \"s3cret\"; };\n"
#define CONN_TAIL "\n} );\n"

static void expect_err(const char *text, const char *want)
{
	struct cfg cfg;
	char err[512] = "";

	assert_int_equal(cfg_load_string(text, "t.conf", &cfg, err, sizeof(err)), -1);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got '%s', want prefix '%s'", err, want);
	assert_null(strstr(err, "s3cret")); /* secrets never appear in messages */
	assert_null(cfg.conns);
	assert_null(cfg.path);
}

/* riked.conf(5) METRICS and KEY EXPORT: off by default; a loopback
 * listen address, another only with allow_remote; an absolute directory. */
static void test_metrics_keylog(void **state)
{
	struct cfg cfg;
	const struct sockaddr_in6 *s6;

	(void)state;
	load_ok("", &cfg);
	assert_int_equal(cfg.metrics_addr.ss_family, 0);
	assert_null(cfg.keylog_dir);
	cfg_free(&cfg);
	load_ok("riked = { metrics = { listen = \"127.0.0.2:9466\"; };\n"
	        "  keylog = { directory = \"/var/lib/riked/keys\"; }; };",
	        &cfg);
	assert_int_equal(cfg.metrics_addr.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&cfg.metrics_addr)->sin_port), 9466);
	assert_string_equal(cfg.keylog_dir, "/var/lib/riked/keys");
	cfg_free(&cfg);
	load_ok("riked = { metrics = { listen = \"[::1]:80\"; }; };", &cfg);
	s6 = (const struct sockaddr_in6 *)&cfg.metrics_addr;
	assert_int_equal(s6->sin6_family, AF_INET6);
	assert_true(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));
	assert_int_equal(ntohs(s6->sin6_port), 80);
	cfg_free(&cfg);
	load_ok("riked = { metrics = { listen = \"[2001:db8::1]:9466\"; allow_remote = true; }; };",
	        &cfg);
	assert_int_equal(cfg.metrics_addr.ss_family, AF_INET6);
	cfg_free(&cfg);
	expect_err("riked = {\n  metrics = { listen = \"192.0.2.1:9466\"; };\n};",
	           "t.conf:2: 'listen' = \"192.0.2.1:9466\" is not a loopback address");
	expect_err("riked = {\n  metrics = { listen = \"::1:9466\"; };\n};",
	           "t.conf:2: 'listen' = \"::1:9466\" is not a numeric ADDRESS:PORT");
	expect_err("riked = {\n  metrics = { listen = \"[127.0.0.1]:9466\"; };\n};",
	           "t.conf:2: 'listen' = \"[127.0.0.1]:9466\" is not a numeric");
	expect_err("riked = {\n  metrics = { listen = \"127.0.0.1:65536\"; };\n};",
	           "t.conf:2: 'listen' = \"127.0.0.1:65536\" is not a numeric");
	expect_err("riked = {\n  metrics = { listen = \"127.0.0.1\"; };\n};",
	           "t.conf:2: 'listen' = \"127.0.0.1\" is not a numeric");
	expect_err("riked = {\n  metrics = { };\n};", "t.conf:2: 'metrics' needs 'listen'");
	expect_err("riked = {\n  metrics = { listen = \"127.0.0.1:1\"; port = 2; };\n};",
	           "t.conf:2: unknown");
	expect_err("riked = {\n  keylog = { directory = \"keys\"; };\n};",
	           "t.conf:2: 'directory' must be an absolute path");
	expect_err("riked = {\n  keylog = { };\n};", "t.conf:2: 'keylog' needs 'directory'");
}

static void test_global_errors(void **state)
{
	expect_err("riked = { log = ; };", "t.conf:1: syntax error");
	expect_err("riked = { };\nbogus = 1;",
	           "t.conf:2: unknown setting 'bogus' in the top level");
	expect_err("riked = {\n  log_levl = \"info\";\n};",
	           "t.conf:2: unknown setting 'log_levl' in riked");
	expect_err("riked = {\n\n  log_level = \"verbose\";\n};",
	           "t.conf:3: 'log_level' = \"verbose\" is not debug");
	expect_err("riked = {\n  log = 1;\n};", "t.conf:2: 'log' must be a string");
	expect_err("riked = {\n  dataplane = \"dpdk\";\n};",
	           "t.conf:2: 'dataplane' = \"dpdk\" is not one of");
	expect_err("riked = {\n  ike_port = 70000;\n};",
	           "t.conf:2: 'ike_port' = 70000 is out of range");
	expect_err("riked = {\n  ike_port = 500;\n  natt_port = 500;\n};",
	           "t.conf:3: 'natt_port' must differ");
	/* The clash is reported at the setting that exists, never at line 0. */
	expect_err("riked = {\n  ike_port = 4500;\n};",
	           "t.conf:2: 'ike_port' must differ from 'natt_port' (default 4500)");
	expect_err("riked = {\n  natt_port = 500;\n};",
	           "t.conf:2: 'natt_port' must differ from 'ike_port' (500)");
	expect_err("riked = {\n  control_socket = \"riked.sock\";\n};",
	           "t.conf:2: 'control_socket' must be an absolute path");
	expect_err("riked = {\n  state_dir = 5;\n};", "t.conf:2: 'state_dir' must be a string");
	expect_err("riked = {\n  qcd = { enabled = true; rollover = 5; };\n};",
	           "t.conf:2: unknown setting 'rollover' in riked.qcd");
	expect_err("riked = {\n  qcd = true;\n};", "t.conf:2: 'qcd' must be a group");
	expect_err("riked = { half_open_cookie_threshold = -1; };",
	           "t.conf:1: 'half_open_cookie_threshold' = -1 is out of range");
	expect_err("riked = { half_open_timeout = 0; };",
	           "t.conf:1: 'half_open_timeout' = 0 is out of range");
	expect_err("riked = { half_open_memory = 63; };",
	           "t.conf:1: 'half_open_memory' = 63 is out of range");
	expect_err("riked = { log = \"a\"; log = \"b\"; };", "t.conf:1: duplicate setting name");
	/* RFC 8019: under_attack, puzzles, auth_failures. */
	expect_err("riked = {\n  under_attack = { half_open_timeout = 1; };\n};",
	           "t.conf:2: 'half_open_timeout' = 1 is out of range 2..3600");
	expect_err("riked = {\n  half_open_timeout = 10;\n  under_attack = {\n"
	           "    half_open_timeout = 20; };\n};",
	           "t.conf:4: 'under_attack.half_open_timeout' (20) must not exceed "
	           "'half_open_timeout' (10)");
	expect_err("riked = { under_attack = { dh_per_second = -5; }; };",
	           "t.conf:1: 'dh_per_second' = -5 is out of range");
	expect_err("riked = { under_attack = { dh_rate = 5; }; };",
	           "t.conf:1: unknown setting 'dh_rate' in riked.under_attack");
	expect_err("riked = { puzzles = { enabled = 1; }; };", "t.conf:1: 'enabled' must be");
	expect_err("riked = { puzzles = { difficulty = 0; }; };",
	           "t.conf:1: 'difficulty' = 0 is out of range 1..20");
	expect_err("riked = { puzzles = { difficulty = 21; }; };",
	           "t.conf:1: 'difficulty' = 21 is out of range 1..20");
	expect_err("riked = { puzzles = { solve_work = 16777217; }; };",
	           "t.conf:1: 'solve_work' = 16777217 is out of range 0..16777216");
	expect_err("riked = { puzzles = true; };", "t.conf:1: 'puzzles' must be a group");
	expect_err("riked = { auth_failures = { max = 1001; }; };",
	           "t.conf:1: 'max' = 1001 is out of range 0..1000");
	expect_err("riked = { auth_failures = { window = 0; }; };",
	           "t.conf:1: 'window' = 0 is out of range 1..86400");
	expect_err("riked = { auth_failures = { block = 86401; }; };",
	           "t.conf:1: 'block' = 86401 is out of range 1..86400");
	{
		/* The under-attack timeout's default follows a shorter half_open_timeout. */
		struct cfg cfg;
		char err[512] = "";

		assert_int_equal(
		    cfg_load_string("riked = { half_open_timeout = 3; puzzles = { "
		                    "enabled = true; difficulty = 12; solve_work = 0; "
		                    "auth_difficulty = 0; }; auth_failures = { max = 0; "
		                    "}; };",
		                    "t.conf", &cfg, err, sizeof(err)),
		    0);
		assert_int_equal(cfg.attack_half_open_timeout, 3);
		assert_true(cfg.puzzles);
		assert_int_equal(cfg.puzzle_difficulty, 12);
		assert_int_equal(cfg.puzzle_solve_work, 0);
		assert_int_equal(cfg.puzzle_auth_difficulty, 0);
		assert_int_equal(cfg.auth_fail_max, 0);
		cfg_free(&cfg);
	}
	expect_err("connections = { };", "t.conf:1: 'connections' must be a list");
}

static void test_conn_errors(void **state)
{
	expect_err(CONN_HEAD "  mobik = true;" CONN_TAIL,
	           "t.conf:5: connection 'c': unknown setting 'mobik' in connection");
	expect_err(CONN_HEAD "},\n{ name = \"c\"; remote = \"10.0.0.3\";\n"
	                     "  auth = { method = \"psk\"; secret = \"s3cret\"; };" CONN_TAIL,
	           "t.conf:6: connection 'c': duplicate connection name \"c\" (first at line 1)");
	expect_err("connections = ( {\n  remote = \"10.0.0.2\";\n} );",
	           "t.conf:1: connection without 'name'");
	expect_err("connections = ( {\n  name = \"a b\";\n} );", "t.conf:2: bad connection name");
	expect_err("connections = ( 5 );", "t.conf:1: each connection must be a group");
	expect_err("connections = ( {\n  name = \"c\";\n  local = \"10.0.0.1\";\n} );",
	           "t.conf:1: connection 'c': missing 'remote'");
	expect_err("connections = ( {\n  name = \"c\";\n  remote = \"10.0.0.300\";\n} );",
	           "t.conf:3: connection 'c': bad address \"10.0.0.300\" for 'remote'");
	expect_err(
	    "connections = ( {\n  name = \"c\";\n  local = \"gw.example\"; remote = \"::1\";\n} );",
	    "t.conf:3: connection 'c': bad address \"gw.example\" for 'local'");
	expect_err("connections = ( {\n  name = \"c\";\n  local = \"10.0.0.1\";\n  remote = "
	           "\"::1\";\n} );",
	           "t.conf:4: connection 'c': 'local' and 'remote' are of different families");
	expect_err(CONN_HEAD "  remote_port = 0;" CONN_TAIL,
	           "t.conf:5: connection 'c': 'remote_port' = 0");
}

static void test_id_auth_errors(void **state)
{
	expect_err(CONN_HEAD "  remote_id = \"bad id!\";" CONN_TAIL,
	           "t.conf:5: connection 'c': 'remote_id': bad identity \"bad id!\"");
	expect_err(CONN_HEAD "  local_id = \"keyid:abc\";" CONN_TAIL,
	           "t.conf:5: connection 'c': 'local_id': bad identity");
	expect_err(CONN_HEAD "  local_id = \"email:nobody\";" CONN_TAIL,
	           "t.conf:5: connection 'c': 'local_id': bad identity");
	expect_err(CONN_HEAD "  local_id = \"%any\";" CONN_TAIL,
	           "t.conf:5: connection 'c': 'local_id' cannot be %any");
	expect_err("connections = ( {\n  name = \"c\"; remote = \"%any\";\n"
	           "  auth = { method = \"psk\"; secret = \"s3cret\"; };\n} );",
	           "t.conf:1: connection 'c': 'remote_id' is required when the address is %any");
	expect_err("connections = ( {\n  name = \"c\"; remote = \"10.0.0.2\";\n} );",
	           "t.conf:1: connection 'c': missing 'auth");
	expect_err("connections = ( {\n  name = \"c\"; remote = \"10.0.0.2\";\n"
	           "  auth = { method = \"psk\"; };\n} );",
	           "t.conf:3: connection 'c': auth method psk needs a non-empty 'secret'");
	expect_err("connections = ( {\n  name = \"c\"; remote = \"10.0.0.2\";\n"
	           "  auth = { method = \"psk\";\n    secret = \"0xs3cret\"; };\n} );",
	           "t.conf:4: connection 'c': 'secret' is not valid");
	expect_err("connections = ( {\n  name = \"c\"; remote = \"10.0.0.2\";\n"
	           "  auth = {\n    method = \"eap\"; };\n} );",
	           "t.conf:4: connection 'c': auth method \"eap\" is not supported");
	expect_err("connections = ( {\n  name = \"c\"; remote = \"10.0.0.2\";\n"
	           "  auth = { method = \"psk\"; secret = \"s3cret\";\n    cert = \"x\"; };\n} );",
	           "t.conf:4: connection 'c': unknown setting 'cert' in auth (method psk)");
	expect_err("connections = ( {\n  name = \"c\"; remote = \"10.0.0.2\";\n"
	           "  auth = { method = \"pubkey\"; cert = \"/c.pem\"; };\n} );",
	           "t.conf:3: connection 'c': auth method \"pubkey\" is not supported: riked "
	           "authenticates with pre-shared keys only (method = \"psk\")");
	expect_err(CONN_HEAD "  start = \"wait\";\n  keep_up = true;" CONN_TAIL,
	           "t.conf:6: connection 'c': keep_up needs start = \"start\"");
}

static void test_proposal_ts_errors(void **state)
{
	expect_err(CONN_HEAD "  ike_proposals = [ \"aes256gcm16-prfsha256-ecp256\",\n"
	                     "                    \"aes256-sha256-modp999\" ];" CONN_TAIL,
	           "t.conf:6: connection 'c': ike_proposals[1]: unknown algorithm 'modp999'");
	expect_err(CONN_HEAD "  esp_proposals = [ \"aes256\" ];" CONN_TAIL,
	           "t.conf:5: connection 'c': esp_proposals[0]: non-AEAD cipher without");
	expect_err(CONN_HEAD "  esp_proposals = [ ];" CONN_TAIL,
	           "t.conf:5: connection 'c': 'esp_proposals' must have 1 to 16 entries");
	expect_err(CONN_HEAD "  esp_proposals = \"aes256gcm16\";" CONN_TAIL,
	           "t.conf:5: connection 'c': 'esp_proposals' must be a list");
	expect_err(CONN_HEAD "  local_ts = [ \"10.1.0.0/33\" ];" CONN_TAIL,
	           "t.conf:5: connection 'c': local_ts[0]: bad traffic selector \"10.1.0.0/33\"");
	expect_err(CONN_HEAD "  remote_ts = [ \"10.1.0.1/24\" ];" CONN_TAIL,
	           "t.conf:5: connection 'c': remote_ts[0]: bad traffic selector");
	expect_err(CONN_HEAD "  remote_ts = [ \"10.1.0.0/24[bogus]\" ];" CONN_TAIL,
	           "t.conf:5: connection 'c': remote_ts[0]: bad traffic selector");
}

static void test_timer_flag_errors(void **state)
{
	expect_err(
	    CONN_HEAD "  child_lifetime = 600;\n  rekey_margin = 400;" CONN_TAIL,
	    "t.conf:6: connection 'c': rekey_margin 400 plus rekey_fuzz 100% (800 s) must be "
	    "less than child_lifetime 600");
	expect_err(
	    CONN_HEAD "  ike_lifetime = 1000;\n  child_lifetime = 900;\n"
	              "  rekey_fuzz = 0; rekey_margin = 1000;" CONN_TAIL,
	    "t.conf:7: connection 'c': rekey_margin 1000 plus rekey_fuzz 0% (1000 s) must be "
	    "less than child_lifetime 900");
	expect_err(CONN_HEAD "  ike_lifetime = 540;\n  rekey_fuzz = 0;" CONN_TAIL,
	           "t.conf:5: connection 'c': rekey_margin 540 plus rekey_fuzz 0% (540 s) must be "
	           "less than ike_lifetime 540");
	expect_err(CONN_HEAD "  ike_lifetime = 10;" CONN_TAIL,
	           "t.conf:5: connection 'c': 'ike_lifetime' = 10 is out of range 60..");
	expect_err(CONN_HEAD "  fragment_size = 511;" CONN_TAIL,
	           "t.conf:5: connection 'c': 'fragment_size' = 511 is out of range 512..65535");
	expect_err(CONN_HEAD "  keep_up = \"yes\";" CONN_TAIL,
	           "t.conf:5: connection 'c': 'keep_up' must be true or false");
	expect_err(CONN_HEAD "  mode = \"tunel\";" CONN_TAIL,
	           "t.conf:5: connection 'c': 'mode' = \"tunel\" is not one of");
	expect_err(CONN_HEAD "  retransmit = { timeout = 1.0; tries = 0; };" CONN_TAIL,
	           "t.conf:5: connection 'c': 'tries' = 0 is out of range");
	expect_err(CONN_HEAD "  retransmit = { timeout = \"1\"; };" CONN_TAIL,
	           "t.conf:5: connection 'c': 'timeout' = \"1\" is not a duration");
	expect_err(CONN_HEAD "  retransmit = { base = 0.5; };" CONN_TAIL,
	           "t.conf:5: connection 'c': 'base' = 0.5 is out of range");
	expect_err(CONN_HEAD "  retransmit = { timout = 1; };" CONN_TAIL,
	           "t.conf:5: connection 'c': unknown setting 'timout' in retransmit");
	expect_err(CONN_HEAD "  qcd = false;\n  qcd_bind_address = true;" CONN_TAIL,
	           "t.conf:6: connection 'c': qcd_bind_address needs qcd = true");
	expect_err(CONN_HEAD "  redirect = { to = [ \"not a host\" ]; };" CONN_TAIL,
	           "t.conf:5: connection 'c': 'to' entry \"not a host\" is not an address or FQDN");
	expect_err(CONN_HEAD "  redirect = { to = \"gw.example\"; };" CONN_TAIL,
	           "t.conf:5: connection 'c': 'to' must be a list of strings [ \"...\", ... ]");
	expect_err(CONN_HEAD "  redirect = { allow = [ \"10.0.0.0/33\" ]; };" CONN_TAIL,
	           "t.conf:5: connection 'c': 'allow' entry \"10.0.0.0/33\" is not an address, "
	           "ADDRESS/LENGTH or FQDN pattern");
	expect_err(CONN_HEAD
	           "  redirect = { to = [ \"gw1\", \"gw2\" ]; weights = [ 1, 2 ]; };" CONN_TAIL,
	           "t.conf:5: connection 'c': 'weights' needs select = \"weight\"");
	expect_err(CONN_HEAD "  redirect = { to = [ \"gw1\", \"gw2\" ]; select = \"weight\"; "
	                     "weights = [ 1 ]; };" CONN_TAIL,
	           "t.conf:5: connection 'c': 'weights' must have one integer per entry of 'to'");
	expect_err(CONN_HEAD "  redirect = { by_id = ( { id = \"*@a.example\"; } ); };" CONN_TAIL,
	           "t.conf:5: connection 'c': 'by_id' entry 'to' must be an address or FQDN");
	expect_err(CONN_HEAD "  redirect = { max = 0; };" CONN_TAIL,
	           "t.conf:5: connection 'c': 'max' = 0 is out of range 1..100");
	expect_err("riked = { redirect_anycast = ( { address = \"192.0.2.10\"; to = "
	           "\"gw.example\"; } ); };",
	           "t.conf:1: 'redirect_anycast' 'to' must be a unicast address");
	expect_err(
	    "connections = ( {\n  name = \"c\"; remote = \"%any\"; remote_id = \"x.example\";\n"
	    "  auth = { method = \"psk\"; secret = \"s3cret\"; };\n  start = \"start\";\n} );",
	    "t.conf:4: connection 'c': start = \"start\" needs a 'remote' address");
	expect_err(
	    "connections = ( {\n  name = \"c\"; remote = \"%any\"; remote_id = \"x.example\";\n"
	    "  auth = { method = \"psk\"; secret = \"s3cret\"; };\n  keep_up = true;\n} );",
	    "t.conf:4: connection 'c': keep_up needs a 'remote' address");
}

static void test_file_errors(void **state)
{
	char path[] = "/tmp/rike-test-config-XXXXXX";
	struct cfg cfg;
	char err[512];
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("riked = {\n  log = \"stderr\";\n  oops\n};\n", f);
	fclose(f);
	assert_int_equal(cfg_load(path, &cfg, err, sizeof(err)), -1);
	assert_true(!strncmp(err, path, strlen(path)));
	assert_non_null(strstr(err, ":4: ")); /* libconfig reports where it noticed */
	unlink(path);
	assert_int_equal(cfg_load(path, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot read: No such file"));
}

/* A file holding a PSK that group or others may read is noted (riked
 * warns); one without PSKs, or with mode 0600, is not. */
static void test_exposed_secrets(void **state)
{
	char path[] = "/tmp/rike-test-config-XXXXXX";
	struct cfg cfg;
	char err[512];
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("connections = ( {\n  name = \"c\";\n  remote = \"192.0.2.1\";\n"
	      "  auth = { method = \"psk\"; secret = \"s3cret\"; };\n} );\n",
	      f);
	fclose(f);
	assert_int_equal(chmod(path, 0644), 0);
	if (cfg_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_non_null(cfg.secrets_exposed);
	assert_string_equal(cfg.secrets_exposed, path);
	assert_int_equal(cfg.secrets_mode, 0644);
	cfg_free(&cfg);
	assert_null(cfg.secrets_exposed);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(cfg_load(path, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.secrets_mode, 0640);
	cfg_free(&cfg);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(cfg_load(path, &cfg, err, sizeof(err)), 0);
	assert_null(cfg.secrets_exposed);
	cfg_free(&cfg);
	/* No PSK in it: nothing to warn about whatever the mode. */
	f = fopen(path, "w");
	fputs("riked = { log = \"stderr\"; };\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(cfg_load(path, &cfg, err, sizeof(err)), 0);
	assert_null(cfg.secrets_exposed);
	cfg_free(&cfg);
	unlink(path);
}

/* Errors that libconfig reports without a reason of its own. */
static void test_file_errors_named(void **state)
{
	char dir[] = "/tmp/rike-test-config-XXXXXX";
	char path[sizeof(dir) + 16], want[sizeof(dir) + 64];
	struct cfg cfg;
	char err[512];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	/* A directory is not "I/O error". */
	assert_int_equal(cfg_load(dir, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: cannot read: Is a directory", dir);
	assert_string_equal(err, want);
	/* A missing @include names the file it looked for, and where. */
	snprintf(path, sizeof(path), "%s/riked.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("riked = {\n  log = \"stderr\";\n};\n@include \"conns.conf\"\n", f);
	fclose(f);
	assert_int_equal(cfg_load(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4: cannot include %s/conns.conf: No such file", path, dir);
	if (strncmp(err, want, strlen(want)))
		fail_msg("got '%s', want prefix '%s'", err, want);
	unlink(path);
	rmdir(dir);
}

static void test_ids(void **state)
{
	struct cfg_id id;
	char err[256];

	assert_int_equal(cfg_id_parse("192.0.2.1", &id, err, sizeof(err)), 0);
	assert_int_equal(id.type, IKEV2_ID_IPV4_ADDR);
	assert_memory_equal(id.data, "\xc0\x00\x02\x01", 4);
	assert_int_equal(cfg_id_parse("2001:db8::1", &id, err, sizeof(err)), 0);
	assert_int_equal(id.type, IKEV2_ID_IPV6_ADDR);
	assert_int_equal(id.len, 16);
	assert_int_equal(cfg_id_parse("gw.example.org", &id, err, sizeof(err)), 0);
	assert_int_equal(id.type, IKEV2_ID_FQDN);
	assert_int_equal(cfg_id_parse("a@b.example", &id, err, sizeof(err)), 0);
	assert_int_equal(id.type, IKEV2_ID_RFC822_ADDR);
	assert_int_equal(cfg_id_parse("keyid:00ff10", &id, err, sizeof(err)), 0);
	assert_int_equal(id.type, IKEV2_ID_KEY_ID);
	assert_memory_equal(id.data, "\x00\xff\x10", 3);
	assert_int_equal(cfg_id_parse("fqdn:192.0.2.1", &id, err, sizeof(err)), 0);
	assert_int_equal(id.type, IKEV2_ID_FQDN);
	assert_int_equal(cfg_id_parse("ipv4:192.0.2.1", &id, err, sizeof(err)), 0);
	assert_int_equal(id.type, IKEV2_ID_IPV4_ADDR);
	assert_int_equal(cfg_id_parse("%any", &id, err, sizeof(err)), 0);
	assert_int_equal(id.type, 0);
	assert_int_equal(cfg_id_parse("keyid:zz", &id, err, sizeof(err)), -1);
	assert_int_equal(cfg_id_parse("ipv6:1.2.3.4", &id, err, sizeof(err)), -1);
	assert_int_equal(cfg_id_parse("@b.example", &id, err, sizeof(err)), -1);
	assert_int_equal(cfg_id_parse("a..b", &id, err, sizeof(err)), -1);
	assert_int_equal(cfg_id_parse("", &id, err, sizeof(err)), -1);
}

static void ts_round(const char *in, const char *out)
{
	struct cfg_ts ts;
	char err[256], buf[128];

	if (cfg_ts_parse(in, &ts, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	cfg_ts_format(&ts, buf, sizeof(buf));
	assert_string_equal(buf, out);
}

static void test_ts(void **state)
{
	struct cfg_ts ts;
	char err[256];

	assert_int_equal(cfg_ts_parse("10.1.1.1-10.1.1.9[tcp/80-90]", &ts, err, sizeof(err)), 0);
	assert_int_equal(ts.type, IKEV2_TS_IPV4_ADDR_RANGE);
	assert_memory_equal(ts.start, "\x0a\x01\x01\x01", 4);
	assert_memory_equal(ts.end, "\x0a\x01\x01\x09", 4);
	assert_int_equal(ts.ip_proto, 6);
	assert_int_equal(ts.start_port, 80);
	assert_int_equal(ts.end_port, 90);
	assert_int_equal(cfg_ts_parse("0.0.0.0/0", &ts, err, sizeof(err)), 0);
	assert_memory_equal(ts.end, "\xff\xff\xff\xff", 4);
	assert_int_equal(ts.start_port, 0);
	assert_int_equal(ts.end_port, 65535);
	ts_round("10.10.1.0/24", "10.10.1.0/24");
	ts_round("0.0.0.0/0", "0.0.0.0/0");
	ts_round("::/0", "::/0");
	ts_round("2001:db8::/32[udp/500]", "2001:db8::/32[17/500]");
	ts_round("10.1.1.1", "10.1.1.1/32");
	ts_round("10.1.1.1-10.1.1.9", "10.1.1.1-10.1.1.9");
	ts_round("10.1.1.0-10.1.1.255[sctp]", "10.1.1.0/24[132]");
	ts_round("10.0.0.0/8[47]", "10.0.0.0/8[47]");
	assert_int_equal(cfg_ts_parse("10.1.1.9-10.1.1.1", &ts, err, sizeof(err)), -1);
	assert_int_equal(cfg_ts_parse("10.1.1.1-::1", &ts, err, sizeof(err)), -1);
	assert_int_equal(cfg_ts_parse("10.0.0.0/8[any/80]", &ts, err, sizeof(err)), -1);
	assert_int_equal(cfg_ts_parse("10.0.0.0/8[tcp/90-80]", &ts, err, sizeof(err)), -1);
	assert_int_equal(cfg_ts_parse("10.0.0.0/8[tcp/70000]", &ts, err, sizeof(err)), -1);
	assert_int_equal(cfg_ts_parse("10.0.0.0/8[tcp", &ts, err, sizeof(err)), -1);
	assert_int_equal(cfg_ts_parse("10.0.0.0/", &ts, err, sizeof(err)), -1);
	assert_int_equal(cfg_ts_parse("", &ts, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad traffic selector"));
}

struct diff_rec {
	char log[512];
};

static void diff_cb(void *ctx, enum cfg_change ch, const struct cfg_conn *o,
                    const struct cfg_conn *n)
{
	struct diff_rec *r = ctx;
	static const char *const names[] = {"added", "removed", "changed"};
	size_t off = strlen(r->log);

	snprintf(r->log + off, sizeof(r->log) - off, "%s:%s ", names[ch], n ? n->name : o->name);
}

#define PSK "auth = { method = \"psk\"; secret = \"k\"; };"

static void test_diff(void **state)
{
	struct cfg a, b;
	struct diff_rec r = {""};

	load_ok("connections = (\n"
	        "{ name = \"same\"; remote = \"10.0.0.1\"; " PSK " },\n"
	        "{ name = \"gone\"; remote = \"10.0.0.2\"; " PSK " },\n"
	        "{ name = \"psk\"; remote = \"10.0.0.3\"; " PSK " },\n"
	        "{ name = \"ts\"; remote = \"10.0.0.4\"; " PSK
	        " local_ts = [ \"10.1.0.0/16\" ]; } );",
	        &a);
	load_ok("riked = { ike_port = 5000; natt_port = 5001; };\n"
	        "connections = (\n"
	        "{ name = \"new\"; remote = \"10.0.0.5\"; " PSK " },\n"
	        "{ name = \"ts\"; remote = \"10.0.0.4\"; " PSK
	        " local_ts = [ \"10.2.0.0/16\" ]; },\n"
	        "{ name = \"psk\"; remote = \"10.0.0.3\"; auth = { method = \"psk\"; secret = "
	        "\"K\"; }; },\n"
	        "\n{ name = \"same\"; remote = \"10.0.0.1\"; " PSK " } );",
	        &b);
	assert_int_equal(cfg_diff(&a, &b, diff_cb, &r), 4);
	assert_string_equal(r.log, "removed:gone added:new changed:ts changed:psk ");
	assert_true(cfg_needs_restart(&a, &b));
	assert_false(cfg_needs_restart(&a, &a));
	assert_int_equal(cfg_diff(&b, &b, NULL, NULL), 0);
	assert_true(cfg_conn_equal(conf_conn_lookup(&a, "same"), conf_conn_lookup(&b, "same")));
	assert_null(conf_conn_lookup(&a, "new"));
	cfg_free(&a);
	cfg_free(&b);
}

/* Durations with units for every duration setting; plain numbers keep
 * their unit (seconds); sub-second values only where the setting has them. */
static void test_durations(void **state)
{
	struct cfg cfg;
	uint64_t ms;

	assert_int_equal(cfg_duration_parse("500ms", &ms), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(cfg_duration_parse("30s", &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(cfg_duration_parse("4h", &ms), 0);
	assert_int_equal(ms, 4 * 3600000ull);
	assert_int_equal(cfg_duration_parse("2d", &ms), 0);
	assert_int_equal(ms, 2 * 86400000ull);
	assert_int_equal(cfg_duration_parse("1h30m", &ms), 0);
	assert_int_equal(ms, 5400000);
	assert_int_equal(cfg_duration_parse("1m", &ms), 0);
	assert_int_equal(ms, 60000);
	for (const char *const *b = (const char *const[]){"", "5", "h", "5x", "-5s", "5 s", "1.5h",
	                                                  "400d", "99999999999999s", NULL};
	     *b; b++)
		if (cfg_duration_parse(*b, &ms) == 0)
			fail_msg("'%s' accepted", *b);

	load_ok("riked = { half_open_timeout = \"1m\"; qcd = { rollover_interval = \"2d\"; };\n"
	        "  auth_failures = { window = \"90s\"; block = \"1h\"; }; };\n"
	        "connections = ( { name = \"c\"; remote = \"10.0.0.2\";\n"
	        "  auth = { method = \"psk\"; secret = \"s3cret\"; };\n"
	        "  ike_lifetime = \"4h\"; child_lifetime = \"1h\"; rekey_margin = \"9m\";\n"
	        "  dpd_interval = \"30s\"; retransmit = { timeout = \"500ms\"; };\n"
	        "  redirect = { accept = true; period = \"5m\"; grace = \"10s\"; }; } );",
	        &cfg);
	assert_int_equal(cfg.half_open_timeout, 60);
	assert_int_equal(cfg.qcd_rollover_interval, 2 * 86400);
	assert_int_equal(cfg.auth_fail_window, 90);
	assert_int_equal(cfg.auth_fail_block, 3600);
	assert_int_equal(cfg.conns[0].ike_lifetime, 4 * 3600);
	assert_int_equal(cfg.conns[0].child_lifetime, 3600);
	assert_int_equal(cfg.conns[0].rekey_margin, 540);
	assert_int_equal(cfg.conns[0].dpd_interval, 30);
	assert_true(cfg.conns[0].retransmit.timeout == 0.5);
	assert_int_equal(cfg.conns[0].redirect.period, 300);
	assert_int_equal(cfg.conns[0].redirect.grace, 10);
	cfg_free(&cfg);

	/* plain numbers: seconds, as before */
	load_ok("connections = ( { name = \"c\"; remote = \"10.0.0.2\";\n"
	        "  auth = { method = \"psk\"; secret = \"s3cret\"; }; ike_lifetime = 7200;\n"
	        "  retransmit = { timeout = 0.25; }; } );",
	        &cfg);
	assert_int_equal(cfg.conns[0].ike_lifetime, 7200);
	assert_true(cfg.conns[0].retransmit.timeout == 0.25);
	cfg_free(&cfg);

	expect_err(CONN_HEAD "  dpd_interval = \"1500ms\";" CONN_TAIL,
	           "t.conf:5: connection 'c': 'dpd_interval' must be whole seconds");
	expect_err(
	    CONN_HEAD "  ike_lifetime = \"31d\";" CONN_TAIL,
	    "t.conf:5: connection 'c': 'ike_lifetime' = 31d is out of range 60s..2.592e+06s");
	expect_err(CONN_HEAD "  ike_lifetime = \"4 hours\";" CONN_TAIL,
	           "t.conf:5: connection 'c': 'ike_lifetime' = \"4 hours\" is not a duration");
	expect_err(CONN_HEAD "  ike_lifetime = 10;" CONN_TAIL,
	           "t.conf:5: connection 'c': 'ike_lifetime' = 10 is out of range 60..2592000");
}

/* Reload: what changes a running SA takes up in place, what needs a new SA. */
static void test_in_place(void **state)
{
	struct cfg a, b;
	char line[512];

	load_ok("connections = (\n"
	        "{ name = \"x\"; remote = \"10.0.0.1\"; " PSK " },\n"
	        "{ name = \"y\"; remote = \"10.0.0.2\"; " PSK
	        " local_ts = [ \"10.1.0.0/16\" ]; } );",
	        &a);
	load_ok("connections = (\n"
	        "{ name = \"x\"; remote = \"10.0.0.1\"; " PSK
	        " ike_lifetime = \"2h\"; dpd_interval = 5;"
	        " retransmit = { tries = 3; }; },\n"
	        "{ name = \"y\"; remote = \"10.0.0.2\"; " PSK
	        " local_ts = [ \"10.2.0.0/16\" ]; } );",
	        &b);
	assert_false(cfg_conn_equal(&a.conns[0], &b.conns[0]));
	assert_true(cfg_conn_in_place(&a.conns[0], &b.conns[0]));
	assert_false(cfg_conn_in_place(&a.conns[1], &b.conns[1]));
	cfg_summary(&b, line, sizeof(line));
	assert_non_null(strstr(line, "2 connection(s) (2 start, 0 wait); dataplane"));
	cfg_free(&a);
	cfg_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_example_full),
	    cmocka_unit_test(test_example_responder),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_global_errors),
	    cmocka_unit_test(test_metrics_keylog),
	    cmocka_unit_test(test_conn_errors),
	    cmocka_unit_test(test_id_auth_errors),
	    cmocka_unit_test(test_proposal_ts_errors),
	    cmocka_unit_test(test_timer_flag_errors),
	    cmocka_unit_test(test_file_errors),
	    cmocka_unit_test(test_file_errors_named),
	    cmocka_unit_test(test_exposed_secrets),
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_ts),
	    cmocka_unit_test(test_diff),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_in_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
