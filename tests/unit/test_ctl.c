/* The control socket: server (src/daemon/ctl.c) and rikectl's client
 * (tools/rikectl_ctl.c, compiled in here) in one process. The client runs
 * in a thread because it blocks; the main thread drives the event loop.
 * Raw sockets send the malformed requests a real client never would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "../../tools/rikectl_ctl.c"
#include "daemon/ctl.h"
#include "daemon/redirect_cmd.h"
#include "util/log.h"
#include <json-c/json.h>

struct calls {
	char last_name[64];
	int reloads;
	bool last_json;
	int last_argc;
	char last_req[256]; /* the words of the last "redirect", joined */
};

static struct calls calls;
static struct event_base *base;
static struct ctl *ctl;
static char dir[64], sock_path[128];

/* One fake daemon: the commands rikectl's client knows, answered as
 * riked's ctlcmd.c would in shape (text, or members of the JSON result). */
static enum ctl_err h_command(void *ctx, int argc, char **argv, struct ctl_reply *r)
{
	const char *cmd = argv[0];

	calls.last_argc = argc;
	calls.last_json = r->json != NULL;
	if (!strcmp(cmd, "up") && argc == 2) {
		snprintf(calls.last_name, sizeof(calls.last_name), "%s", argv[1]);
		if (r->json)
			json_object_object_add(r->json, "state",
			                       json_object_new_string("connecting"));
		else
			fprintf(r->text, "initiating %s\n", argv[1]);
		return CTL_OK;
	}
	if (!strcmp(cmd, "up")) {
		fprintf(r->text, "usage: up NAME\n");
		return CTL_E_USAGE;
	}
	if (!strcmp(cmd, "list-conns") && argc == 2) {
		/* what "up" polls: the connection came up */
		struct json_object *a = json_object_new_array(), *c = json_object_new_object();

		json_object_object_add(c, "name", json_object_new_string(argv[1]));
		json_object_object_add(c, "state", json_object_new_string("established"));
		json_object_array_add(a, c);
		json_object_object_add(r->json, "connections", a);
		return CTL_OK;
	}
	if (!strcmp(cmd, "down")) {
		fprintf(r->text, "no such connection '%s'\nknown: site-b\n", argv[1]);
		return CTL_E_NOT_FOUND;
	}
	if (!strcmp(cmd, "status")) {
		if (!r->json) {
			fprintf(r->text, "riked up, 1 connection\n");
			return CTL_OK;
		}
		json_object_object_add(r->json, "connections", json_object_new_int(1));
		json_object_object_add(r->json, "name", json_object_new_string("site-b"));
		return CTL_OK;
	}
	if (!strcmp(cmd, "list-sas")) {
		fprintf(r->text, "no SAs\n");
		return CTL_OK;
	}
	if (!strcmp(cmd, "reload")) {
		calls.reloads++;
		return CTL_OK;
	}
	if (!strcmp(cmd, "big")) {
		for (int i = 0; i < 100000; i++)
			fprintf(r->text, "line %06d of a large reply\n", i);
		return CTL_OK;
	}
	if (!strcmp(cmd, "qcd") && argc == 2 && !strcmp(argv[1], "rollover")) {
		fprintf(r->text, "qcd secret rolled over\n");
		return CTL_OK;
	}
	if (!strcmp(cmd, "silent-fail"))
		return CTL_E_FAILED;
	if (!strcmp(cmd, "redirect")) {
		size_t off = 0;

		for (int i = 0; i < argc; i++)
			off += (size_t)snprintf(calls.last_req + off, sizeof(calls.last_req) - off,
			                        "%s%s", i ? " " : "", argv[i]);
		if (r->json)
			json_object_object_add(r->json, "redirected", json_object_new_int(1));
		else
			fprintf(r->text, "redirected 1 SA(s) to %s\n", argv[2]);
		return CTL_OK;
	}
	fprintf(r->text, "unknown command '%s'\n", cmd);
	return CTL_E_UNKNOWN;
}

static const struct ctl_ops ops = {.command = h_command};

static void tick(evutil_socket_t fd, short what, void *arg)
{
}

static struct event *ticker;

static int setup(void **state)
{
	struct timeval tv = {0, 5000};

	log_init("riked", LOG_TARGET_STREAM, LOG_ERR);
	log_set_stream(stderr);
	snprintf(dir, sizeof(dir), "/tmp/rike-ctl-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/run/riked.sock", dir);
	base = event_base_new();
	ticker = event_new(base, -1, EV_PERSIST, tick, NULL);
	event_add(ticker, &tv);
	ctl = ctl_new(base, sock_path, &ops, NULL);
	memset(&calls, 0, sizeof(calls));
	return ctl ? 0 : -1;
}

static int teardown(void **state)
{
	char sub[160];

	ctl_free(ctl);
	event_free(ticker);
	event_base_free(base);
	snprintf(sub, sizeof(sub), "%s/run", dir);
	rmdir(sub);
	rmdir(dir);
	return 0;
}

/* ---- the real client, in a thread ---- */

struct run {
	int argc;
	char **argv;
	int rc;
	char *out, *err;
	size_t outlen, errlen;
	atomic_bool done;
};

static void *client_thread(void *arg)
{
	struct run *r = arg;
	FILE *out = open_memstream(&r->out, &r->outlen);
	FILE *err = open_memstream(&r->err, &r->errlen);

	r->rc = ctl_run(r->argc, r->argv, out, err);
	fclose(out);
	fclose(err);
	atomic_store(&r->done, true);
	return NULL;
}

/* Runs rikectl with argv (NULL-terminated) while serving the loop. */
static void run_client(struct run *r, char **argv)
{
	pthread_t t;

	memset(r, 0, sizeof(*r));
	while (argv[r->argc])
		r->argc++;
	r->argv = argv;
	assert_int_equal(pthread_create(&t, NULL, client_thread, r), 0);
	for (int i = 0; !atomic_load(&r->done) && i < 4000; i++)
		event_base_loop(base, EVLOOP_ONCE);
	pthread_join(t, NULL);
	assert_true(atomic_load(&r->done));
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static void test_commands(void **state)
{
	struct run r;

	/* up waits for the connection (list-conns NAME) and says so. */
	run_client(&r, (char *[]){"up", "-s", sock_path, "site-b", NULL});
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "'site-b' established\n");
	assert_string_equal(r.err, "");
	assert_string_equal(calls.last_name, "site-b");
	run_free(&r);

	run_client(&r, (char *[]){"rikectl", "-s", sock_path, "down", "nope", NULL});
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "rikectl: no such connection 'nope'\n");
	assert_string_equal(r.out, "");
	run_free(&r);

	run_client(
	    &r, (char *[]){"/usr/sbin/rikectl", "--socket", sock_path, "status", "--json", NULL});
	assert_int_equal(r.rc, 0);
	assert_true(calls.last_json);
	assert_string_equal(r.out, "{\"schema\":1,\"command\":\"status\",\"ok\":true,"
	                           "\"result\":{\"connections\":1,\"name\":\"site-b\"}}\n");
	run_free(&r);

	setenv("RIKE_CTL_SOCKET", sock_path, 1);
	run_client(&r, (char *[]){"list-sas", NULL});
	unsetenv("RIKE_CTL_SOCKET");
	assert_int_equal(r.rc, 0);
	assert_false(calls.last_json);
	assert_string_equal(r.out, "no SAs\n");
	run_free(&r);

	run_client(&r, (char *[]){"reload", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 0);
	assert_int_equal(calls.reloads, 1);
	assert_string_equal(r.out, "");
	run_free(&r);
}

static void test_passthrough_and_usage(void **state)
{
	struct run r;

	run_client(&r, (char *[]){"qcd", "rollover", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 0);
	assert_int_equal(calls.last_argc, 2);
	assert_string_equal(r.out, "qcd secret rolled over\n");
	run_free(&r);

	run_client(&r, (char *[]){"silent-fail", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "rikectl: failed\n");
	run_free(&r);

	/* Usage errors exit 2 (rikectl(8)), checked before asking the daemon. */
	run_client(&r, (char *[]){"up", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 2);
	assert_string_equal(r.err, "rikectl: usage: up NAME\n");
	run_free(&r);

	run_client(&r, (char *[]){"status", "extra", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 2);
	assert_string_equal(r.err, "rikectl: usage: status\n");
	run_free(&r);

	/* ... and so do the daemon's own usage errors and unknown commands. */
	run_client(&r, (char *[]){"frob", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 2);
	assert_string_equal(r.err, "rikectl: unknown command 'frob'\n");
	run_free(&r);

	/* A large reply arrives whole through the non-blocking writer. */
	run_client(&r, (char *[]){"big", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.outlen, 100000 * strlen("line 000000 of a large reply\n"));
	run_free(&r);
}

static void test_client_errors(void **state)
{
	struct run r;
	char missing[160];

	snprintf(missing, sizeof(missing), "%s/none.sock", dir);
	run_client(&r, (char *[]){"status", "-s", missing, NULL});
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "cannot connect"));
	run_free(&r);

	run_client(&r, (char *[]){"rikectl", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "usage:"));
	run_free(&r);

	run_client(&r, (char *[]){"rikectl", "-x", "status", NULL});
	assert_int_equal(r.rc, 2);
	run_free(&r);

	run_client(&r, (char *[]){"rikectl", "--help", NULL});
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "list-sas"));
	run_free(&r);

	run_client(&r, (char *[]){"up", "two words", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "whitespace"));
	run_free(&r);
}

/* --json: every answer is one schema-1 object on stdout, errors included,
 * with the exit status the text would have (rikectl(8), JSON). */
static void test_json_errors(void **state)
{
	struct run r;
	char missing[160];

	run_client(&r, (char *[]){"down", "nope", "--json", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.out, "{\"schema\":1,\"command\":\"down\",\"ok\":false,\"error\":{"
	                           "\"code\":\"not-found\",\"message\":\"no such connection "
	                           "'nope'\"}}\n");
	assert_string_equal(r.err, "");
	run_free(&r);

	/* rikectl's own usage error */
	run_client(&r, (char *[]){"--json", "up", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 2);
	assert_string_equal(r.out, "{\"schema\":1,\"command\":\"up\",\"ok\":false,\"error\":{"
	                           "\"code\":\"usage\",\"message\":\"usage: up NAME\"}}\n");
	run_free(&r);

	/* the daemon's unknown command */
	run_client(&r, (char *[]){"frob", "--json", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.out, "\"code\":\"unknown-command\""));
	run_free(&r);

	snprintf(missing, sizeof(missing), "%s/none.sock", dir);
	run_client(&r, (char *[]){"status", "--json", "-s", missing, NULL});
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.out, "\"ok\":false,\"error\":{\"code\":\"unreachable\""));
	run_free(&r);

	/* up --json waits and answers with the final state */
	run_client(&r, (char *[]){"up", "site-b", "--json", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "{\"schema\":1,\"command\":\"up\",\"ok\":true,\"result\":{"
	                              "\"conn\":\"site-b\",\"state\":\"established\","
	                              "\"already_established\":false"));
	run_free(&r);

	/* --timeout 0: up does not wait */
	run_client(&r, (char *[]){"up", "site-b", "--timeout", "0", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "initiating site-b\n");
	run_free(&r);

	run_client(&r, (char *[]){"up", "site-b", "--timeout", "x", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 2);
	run_free(&r);

	run_client(&r, (char *[]){"rikectl", "--version", NULL});
	assert_int_equal(r.rc, 0);
	assert_true(!strncmp(r.out, "rikectl ", 8));
	run_free(&r);
}

/* ---- raw requests ---- */

static int raw_connect(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(sun.sun_path, sock_path, strlen(sock_path));
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Serves the loop until the server closes `fd`; returns what it sent. */
static char *raw_collect(int fd)
{
	static char reply[4096];
	size_t n = 0;

	for (int i = 0; i < 2000; i++) {
		ssize_t r = recv(fd, reply + n, sizeof(reply) - 1 - n, 0);

		if (r == 0)
			break;
		if (r > 0)
			n += (size_t)r;
		else
			event_base_loop(base, EVLOOP_ONCE);
	}
	reply[n] = '\0';
	close(fd);
	return reply;
}

static char *raw(const char *req, size_t len, bool shut)
{
	int fd = raw_connect();

	assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	if (shut)
		shutdown(fd, SHUT_WR);
	return raw_collect(fd);
}

#define RAW(s) raw(s, sizeof(s) - 1, false)

static void test_malformed(void **state)
{
	char big[3000];
	char words[200] = "";

	assert_string_equal(RAW("\n"), "ERR bad-request empty request\n");
	assert_string_equal(RAW("  \t \n"), "ERR bad-request empty request\n");
	assert_string_equal(RAW("--json\n"), "ERR bad-request empty request\n");
	assert_string_equal(RAW("sta\x01tus\n"), "ERR bad-request control character in request\n");
	assert_string_equal(RAW("sta\0tus\n"), "ERR bad-request NUL in request\n");
	assert_string_equal(RAW("status\xff\n"),
	                    "ERR unknown-command unknown command 'status\xff'\n");
	memset(big, 'a', sizeof(big));
	assert_string_equal(raw(big, sizeof(big), false), "ERR bad-request request too long\n");
	/* CTL_MAX_REQUEST octets with the newline pass; one more does not. */
	big[CTL_MAX_REQUEST] = '\n';
	assert_string_equal(raw(big, CTL_MAX_REQUEST + 1, false),
	                    "ERR bad-request request too long\n");
	big[CTL_MAX_REQUEST - 1] = '\n';
	assert_true(!strncmp(raw(big, CTL_MAX_REQUEST, false),
	                     "ERR unknown-command unknown command 'aaa", 40));
	for (int i = 0; i < CTL_MAX_ARGS + 1; i++)
		strcat(words, "w ");
	strcat(words, "\n");
	assert_string_equal(raw(words, strlen(words), false),
	                    "ERR bad-request too many arguments\n");
	/* Without a newline the request ends at EOF; CRLF is accepted. */
	assert_string_equal(raw("status", 6, true), "OK\nriked up, 1 connection\n");
	assert_string_equal(RAW("status\r\n"), "OK\nriked up, 1 connection\n");
	/* A client that sends nothing and shuts down is dropped quietly. */
	assert_string_equal(raw("", 0, true), "");
	/* Anything after the first line is ignored. */
	assert_string_equal(RAW("reload\nup x\n"), "OK\n");
	assert_int_equal(calls.reloads, 1);
	assert_int_equal(ctl_nclients(ctl), 0);
}

static void test_split_request(void **state)
{
	int fd = raw_connect();

	assert_int_equal(send(fd, "up si", 5, 0), 5);
	for (int i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(ctl_nclients(ctl), 1);
	assert_int_equal(send(fd, "te-b\n", 5, 0), 5);
	assert_string_equal(raw_collect(fd), "OK\ninitiating site-b\n");
	assert_string_equal(calls.last_name, "site-b");
}

static void test_client_cap(void **state)
{
	int fds[CTL_MAX_CLIENTS];

	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		fds[i] = raw_connect();
	for (int i = 0; i < 200 && ctl_nclients(ctl) < CTL_MAX_CLIENTS; i++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(ctl_nclients(ctl), CTL_MAX_CLIENTS);
	assert_string_equal(raw_collect(raw_connect()), "ERR busy too many clients\n");
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		close(fds[i]);
	for (int i = 0; i < 200 && ctl_nclients(ctl) > 0; i++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(ctl_nclients(ctl), 0);
	assert_string_equal(RAW("list-sas\n"), "OK\nno SAs\n");
}

/* A client that trickles its request (one octet per second, each well
 * within the per-read timeout) is cut off at the request deadline: the
 * deadline is per request, not per read (rikectl(8): 10 seconds; 2 here). */
static void test_trickle_deadline(void **state)
{
	const char *req = "status\n";
	char reply[128];
	size_t n = 0;
	int fd = raw_connect();
	time_t start = time(NULL);

	ctl_set_timeout(ctl, 2);
	for (size_t i = 0; req[i] && time(NULL) - start < 10; i++) {
		struct timespec next;

		/* A closed connection ends the trickle (send fails: EPIPE). */
		if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1)
			break;
		clock_gettime(CLOCK_MONOTONIC, &next);
		next.tv_sec += 1;
		for (int k = 0; k < 1000; k++) {
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > next.tv_sec ||
			    (now.tv_sec == next.tv_sec && now.tv_nsec >= next.tv_nsec))
				break;
			event_base_loop(base, EVLOOP_ONCE);
		}
	}
	for (int i = 0; i < 2000; i++) {
		ssize_t r = recv(fd, reply + n, sizeof(reply) - 1 - n, 0);

		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			break;
		if (r > 0)
			n += (size_t)r;
		else
			event_base_loop(base, EVLOOP_ONCE);
	}
	reply[n] = '\0';
	close(fd);
	assert_string_equal(reply, "ERR timeout request timed out\n");
	assert_true(time(NULL) - start < 6);
	for (int i = 0; i < 200 && ctl_nclients(ctl) > 0; i++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(ctl_nclients(ctl), 0);
}

/* ---- a client of another user ---- */

static void *client_thread_nobody(void *arg)
{
	struct run *r = arg;

	/* setresuid(2) itself changes only this thread's credentials (glibc's
	 * wrapper would change every thread's); the saved uid stays 0 so the
	 * thread can come back. SO_PEERCRED reports the effective uid. */
	if (syscall(SYS_setresuid, -1, 65534, -1) != 0)
		return NULL;
	client_thread(r);
	if (syscall(SYS_setresuid, -1, 0, -1) != 0)
		abort();
	return NULL;
}

/* A refused user sees the daemon's refusal (exit 1 with its reason), not
 * "no complete reply", whether the refusal arrives before or after the
 * request went out. Repeated because the two orders race. */
static void test_refused_user(void **state)
{
	char *argv[] = {"rikectl", "-s", sock_path, "status", NULL};
	char sub[160];

	if (geteuid() != 0)
		skip();
	snprintf(sub, sizeof(sub), "%s/run", dir);
	assert_int_equal(chmod(dir, 0711), 0);
	assert_int_equal(chmod(sub, 0711), 0);
	assert_int_equal(chmod(sock_path, 0666), 0);
	for (int i = 0; i < 20; i++) {
		struct run r;
		pthread_t t;

		memset(&r, 0, sizeof(r));
		r.argc = 4;
		r.argv = argv;
		assert_int_equal(pthread_create(&t, NULL, client_thread_nobody, &r), 0);
		for (int k = 0; !atomic_load(&r.done) && k < 4000; k++)
			event_base_loop(base, EVLOOP_ONCE);
		pthread_join(t, NULL);
		assert_true(atomic_load(&r.done));
		if (r.rc != 1 || !strstr(r.err, "rikectl: permission denied"))
			fail_msg("run %d: exit %d, stderr '%s'", i, r.rc, r.err ? r.err : "");
		run_free(&r);
	}
	assert_int_equal(ctl_nclients(ctl), 0);
}

static void test_socket_files(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct ctl_ops none = {0};
	struct stat st;
	char sub[160];
	struct ctl *other;
	int fd;

	assert_int_equal(stat(sock_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(sub, sizeof(sub), "%s/run", dir);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* A live daemon's socket is not taken over. */
	assert_null(ctl_new(base, sock_path, &ops, NULL));
	assert_int_equal(errno, EADDRINUSE);

	/* A stale one (its owner died without unlinking) is replaced. */
	ctl_free(ctl);
	assert_int_equal(stat(sock_path, &st), -1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(sun.sun_path, sock_path, strlen(sock_path));
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	ctl = ctl_new(base, sock_path, &none, NULL);
	assert_non_null(ctl);

	/* With no handlers every command fails cleanly. */
	assert_string_equal(RAW("status\n"), "ERR unsupported status is not supported\n");
	assert_string_equal(RAW("up x\n"), "ERR unsupported up is not supported\n");
	assert_string_equal(RAW("status --json\n"),
	                    "ERR unsupported status is not supported\n"
	                    "{\"schema\":1,\"command\":\"status\",\"ok\":false,\"error\":{\"code\":"
	                    "\"unsupported\",\"message\":\"status is not supported\"}}\n");

	/* A regular file in the way is an error, not deleted. */
	ctl_free(ctl);
	fd = open(sock_path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	other = ctl_new(base, sock_path, &ops, NULL);
	assert_null(other);
	assert_int_equal(errno, EEXIST);
	unlink(sock_path);
	ctl = ctl_new(base, sock_path, &ops, NULL);
	assert_non_null(ctl);
}

static void test_parse_request(void **state)
{
	char line[] = "qcd  rollover\t--json x";
	char *argv[CTL_MAX_ARGS];
	const char *why = NULL;
	bool json;

	assert_int_equal(ctl_parse_request(line, argv, &json, &why), 3);
	assert_true(json);
	assert_string_equal(argv[0], "qcd");
	assert_string_equal(argv[1], "rollover");
	assert_string_equal(argv[2], "x");
}

/* ---- redirect (rikectl(8), RFC 5685 5) ---- */

static int parse(struct redirect_cmd *c, char *why, size_t len, const char *const *words)
{
	char *argv[CTL_MAX_ARGS + 1];
	int argc = 0;

	while (words[argc]) {
		argv[argc] = (char *)words[argc];
		argc++;
	}
	return redirect_cmd_parse(argc, argv, c, why, len);
}

#define PARSE(c, why, ...)                                                                         \
	parse(c, why, sizeof(why), (const char *const[]){"redirect", __VA_ARGS__, NULL})

static void test_redirect_parse(void **state)
{
	struct redirect_cmd c;
	char why[160];
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	uint8_t want6[16];

	assert_int_equal(PARSE(&c, why, "--to", "198.51.100.2", "--peer", "192.0.2.0/24"), 0);
	assert_int_equal(c.kind, REDIRECT_CMD_MOVE);
	assert_string_equal(c.to, "198.51.100.2");
	assert_ptr_equal(c.sel.peer, &c.peer);
	assert_int_equal(c.sel.peer_plen, 24);
	sin = (const struct sockaddr_in *)&c.sel.peer->ss;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc0000200u);
	assert_false(c.sel.all);
	assert_null(c.sel.conn);
	assert_null(c.sel.id);
	assert_int_equal(c.sel.serial, 0);

	assert_int_equal(PARSE(&c, why, "--peer", "2001:db8::1", "--to", "gw2.example.net"), 0);
	assert_int_equal(c.sel.peer_plen, 128);
	sin6 = (const struct sockaddr_in6 *)&c.sel.peer->ss;
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", want6), 1);
	assert_memory_equal(sin6->sin6_addr.s6_addr, want6, 16);
	assert_string_equal(c.to, "gw2.example.net");

	assert_int_equal(PARSE(&c, why, "--sa", "12", "--to", "2001:db8::2", "--json"), 0);
	assert_int_equal(c.sel.serial, 12);
	assert_null(c.sel.peer);
	assert_int_equal(PARSE(&c, why, "--to", "gw", "--all"), 0);
	assert_true(c.sel.all);
	assert_int_equal(PARSE(&c, why, "--to", "gw", "--conn", "roadwarriors"), 0);
	assert_string_equal(c.sel.conn, "roadwarriors");
	assert_int_equal(PARSE(&c, why, "--to", "gw", "--id", "*@example.net"), 0);
	assert_string_equal(c.sel.id, "*@example.net");

	assert_int_equal(PARSE(&c, why, "--drain", "--to", "192.0.2.9"), 0);
	assert_int_equal(c.kind, REDIRECT_CMD_DRAIN);
	assert_int_equal(c.rate, REDIRECT_CMD_RATE_DEFAULT);
	assert_int_equal(PARSE(&c, why, "--rate", "7", "--drain", "--to", "192.0.2.9"), 0);
	assert_int_equal(c.rate, 7);
	assert_int_equal(PARSE(&c, why, "--drain", "--stop"), 0);
	assert_int_equal(c.kind, REDIRECT_CMD_STOP);
	assert_int_equal(PARSE(&c, why, "--status"), 0);
	assert_int_equal(c.kind, REDIRECT_CMD_STATUS);

	/* Bad input: refused, with a reason naming the problem. */
	static const struct {
		const char *words[6];
		const char *reason;
	} bad[] = {
	    {{"--to", "gw"}, "which SAs?"},
	    {{"--all"}, "--to GW is missing"},
	    {{"--to", "gw", "--all", "--sa", "3"}, "more than one"},
	    {{"--to", "gw", "--sa", "12x"}, "--sa: '12x' is not"},
	    {{"--to", "gw", "--sa", "0"}, "--sa: '0' is not"},
	    {{"--to", "gw", "--sa", "-1"}, "--sa: '-1'"},
	    {{"--to", "gw", "--sa", "99999999999999999999"}, "--sa:"},
	    {{"--to", "gw", "--peer", "192.0.2.0/33"}, "--peer: '192.0.2.0/33'"},
	    {{"--to", "gw", "--peer", "2001:db8::/129"}, "--peer:"},
	    {{"--to", "gw", "--peer", "192.0.2/24"}, "--peer:"},
	    {{"--to", "gw", "--peer", "gw.example.net"}, "--peer:"},
	    {{"--to", "gw", "--peer", "192.0.2.1/"}, "--peer:"},
	    {{"--to", "gw", "--conn"}, "--conn needs a value"},
	    {{"--to", "--all"}, "--to needs a value"},
	    {{"--to", "gw", "--to", "gw2", "--all"}, "--to given twice"},
	    {{"--to", "gw", "--all", "--force"}, "unknown option '--force'"},
	    {{"gw", "--all"}, "unknown option 'gw'"},
	    {{"--drain"}, "--drain needs --to"},
	    {{"--drain", "--stop", "--to", "gw"}, "--drain --stop takes no"},
	    {{"--drain", "--to", "gw", "--rate", "0"}, "--rate: '0'"},
	    {{"--drain", "--to", "gw", "--rate", "100001"}, "--rate:"},
	    {{"--drain", "--to", "gw", "--all"}, "takes no selector"},
	    {{"--to", "gw", "--all", "--rate", "5"}, "--rate goes with --drain"},
	    {{"--stop"}, "--stop goes with --drain"},
	    {{"--status", "--all"}, "--status takes no other option"},
	    {{"--json"}, "--to GW is missing"},
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		const char *w[8] = {"redirect"};

		for (size_t k = 0; k < 6 && bad[i].words[k]; k++)
			w[k + 1] = bad[i].words[k];
		why[0] = '\0';
		if (parse(&c, why, sizeof(why), w) != -1 || !strstr(why, bad[i].reason))
			fail_msg("case %zu: wanted a refusal with \"%s\", got \"%s\"", i,
			         bad[i].reason, why);
	}
	assert_int_equal(parse(&c, why, sizeof(why), (const char *const[]){"redirect", NULL}), -1);
}

/* rikectl passes a good redirect through and refuses a bad one itself (exit 2). */
static void test_redirect_client(void **state)
{
	struct run r;

	run_client(&r, (char *[]){"rikectl", "-s", sock_path, "redirect", "--to", "192.0.2.9",
	                          "--peer", "2001:db8::/32", "--json", NULL});
	assert_int_equal(r.rc, 0);
	assert_string_equal(calls.last_req, "redirect --to 192.0.2.9 --peer 2001:db8::/32");
	assert_true(calls.last_json);
	assert_string_equal(r.out, "{\"schema\":1,\"command\":\"redirect\",\"ok\":true,"
	                           "\"result\":{\"redirected\":1}}\n");
	run_free(&r);

	memset(&calls, 0, sizeof(calls));
	run_client(&r,
	           (char *[]){"redirect", "--to", "gw", "--sa", "twelve", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "rikectl: --sa: 'twelve' is not"));
	assert_non_null(strstr(r.err, "usage: rikectl redirect --to GW"));
	assert_int_equal(calls.last_argc, 0); /* nothing reached the daemon */
	run_free(&r);

	run_client(&r, (char *[]){"redirect", "--drain", "-s", sock_path, NULL});
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "--drain needs --to GW"));
	assert_int_equal(calls.last_argc, 0);
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_passthrough_and_usage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_split_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trickle_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_files, setup, teardown),
	    cmocka_unit_test(test_parse_request),
	    cmocka_unit_test(test_redirect_parse),
	    cmocka_unit_test_setup_teardown(test_redirect_client, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
