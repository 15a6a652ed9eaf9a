/*
 * rikectl's control-socket client: every command of rikectl(8) but
 * decode. It checks the syntax of the commands it knows (a usage error
 * exits 2 without asking the daemon), sends one request line to riked's
 * control socket (src/daemon/ctl.h describes the protocol) and prints the
 * reply: text, or with --json the daemon's versioned JSON object. Errors
 * of its own (usage, daemon unreachable, timeout) are JSON objects of the
 * same schema with --json. "up" and "down" then wait for the result by
 * asking "list-conns NAME --json" until the connection is established
 * (or down), failed, or --timeout seconds have passed. Exit status: 0 OK,
 * 1 the daemon refused or the command failed, 2 usage or connection
 * errors.
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/ctl.h"
#include "daemon/redirect_cmd.h"
#include "rikectl.h"
#include "rike_version.h" /* generated: cmake/version.cmake */

#define RIKECTL_DEFAULT_SOCKET "/run/riked/riked.sock"
#define RIKECTL_TIMEOUT_MS     30000 /* to take one reply */
#define RIKECTL_WAIT_DEFAULT   30    /* seconds up/down wait for the result */
#define RIKECTL_POLL_MS        100

static void ctl_usage(FILE *f)
{
	fprintf(f,
	        "usage: rikectl [-s SOCKET] [--json] [--timeout SEC] COMMAND [ARGS...]\n"
	        "commands:\n"
	        "  status              the daemon in summary: version, uptime, counts, data plane\n"
	        "  list-conns [NAME]   configured connections and their state\n"
	        "  list-sas [NAME]     IKE and Child SAs in detail\n"
	        "  up NAME             initiate NAME and wait until it is established\n"
	        "  down NAME           delete NAME's SAs and wait until they are gone\n"
	        "  rekey-ike NAME      rekey NAME's IKE SA now\n"
	        "  rekey-child NAME    rekey NAME's Child SAs now\n"
	        "  dpd NAME            check NAME's peer is alive now\n"
	        "  reload              re-read the configuration and apply it\n"
	        "  config              the configuration as loaded, secrets hidden\n"
	        "  qcd rollover        start a new QCD token secret (RFC 6290)\n"
	        "  qcd reset [--force] replace a corrupt (or, forced, a healthy) QCD secret\n"
	        "  redirect ...        RFC 5685 redirect and drain (see below)\n"
	        "  decode FILE.pcap    decode IKE captures (rikectl decode --help)\n"
	        "the socket is -s SOCKET, else $RIKE_CTL_SOCKET, else " RIKECTL_DEFAULT_SOCKET "\n"
	        "usage: rikectl " REDIRECT_CMD_USAGE);
}

/* Joins the words with single spaces; words must be non-empty and free of
 * whitespace and control characters, since the protocol splits on spaces. */
static int build_request(int argc, char **argv, char *buf, size_t len, char *why, size_t wlen)
{
	size_t off = 0;

	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		for (size_t k = 0; k < n; k++) {
			if ((unsigned char)argv[i][k] <= ' ' || argv[i][k] == 0x7f) {
				snprintf(
				    why, wlen,
				    "argument \"%s\" contains whitespace or control characters",
				    argv[i]);
				return -1;
			}
		}
		if (n == 0 || off + n + 2 > len) {
			snprintf(why, wlen, "%s", n ? "request too long" : "empty argument");
			return -1;
		}
		if (off)
			buf[off++] = ' ';
		memcpy(buf + off, argv[i], n);
		off += n;
	}
	buf[off++] = '\n';
	buf[off] = '\0';
	return 0;
}

static int connect_unix(const char *path, char *why, size_t wlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(why, wlen, "socket path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	snprintf(why, wlen, "cannot connect to %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A reset after a whole "ERR ..." line still carries the daemon's answer:
 * riked refuses a client (wrong user, busy) with one line and closes,
 * possibly before reading the request, which resets the connection. An
 * "OK" reply is only complete at EOF. */
static bool is_err_line(const char *buf, size_t len)
{
	return len > 3 && !memcmp(buf, "ERR", 3) && (buf[3] == ' ' || buf[3] == '\n') &&
	       memchr(buf, '\n', len);
}

/* Reads until EOF (with a timeout) into a malloc'ed NUL-terminated buffer;
 * NULL if no complete reply came. */
static char *recv_all(int fd, size_t *len)
{
	size_t cap = 4096;
	char *buf = malloc(cap);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	*len = 0;
	while (buf) {
		ssize_t r;

		if (*len + 1 >= cap) {
			char *nb = cap > CTL_MAX_REPLY ? NULL : realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		if (poll(&pfd, 1, RIKECTL_TIMEOUT_MS) <= 0)
			break;
		r = recv(fd, buf + *len, cap - *len - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && !(errno == ECONNRESET && is_err_line(buf, *len)))
			break;
		if (r <= 0) {
			buf[*len] = '\0';
			return buf;
		}
		*len += (size_t)r;
	}
	free(buf);
	return NULL;
}

/* ---- replies ---- */

struct opts {
	const char *sock;
	bool json;
	int timeout; /* up/down: seconds to wait for the result; 0: do not wait */
};

/* Exit status of an error code (rikectl(8), EXIT STATUS). */
static int code_rc(const char *code)
{
	return !strcmp(code, "usage") || !strcmp(code, "unknown-command") ||
	               !strcmp(code, "unreachable") || !strcmp(code, "bad-reply")
	           ? 2
	           : 1;
}

/* An error of rikectl's own, as text or as a schema-1 JSON error object. */
static int client_err(const struct opts *o, const char *cmd, const char *code, FILE *out, FILE *err,
                      const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o && o->json) {
		struct json_object *j = json_object_new_object(), *e = json_object_new_object();

		json_object_object_add(j, "schema", json_object_new_int(CTL_SCHEMA));
		json_object_object_add(j, "command", cmd ? json_object_new_string(cmd) : NULL);
		json_object_object_add(j, "ok", json_object_new_boolean(false));
		json_object_object_add(e, "code", json_object_new_string(code));
		json_object_object_add(e, "message", json_object_new_string(msg));
		json_object_object_add(j, "error", e);
		fprintf(out, "%s\n",
		        json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
		                                              JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else {
		fprintf(err, "rikectl: %s\n", msg);
	}
	return code_rc(code);
}

/* A reply split into its first line and body. */
struct reply {
	char *buf;
	bool ok;
	char code[32];
	const char *msg; /* ERR: the message */
	const char *body;
	size_t blen;
};

/* "OK" or "ERR <code> <message>"; -1 if neither. */
static int parse_reply(char *buf, size_t len, struct reply *r)
{
	char *nl = memchr(buf, '\n', len), *sp;

	r->buf = buf;
	if (!nl)
		return -1;
	*nl = '\0';
	r->body = nl + 1;
	r->blen = len - (size_t)(nl + 1 - buf);
	if (!strcmp(buf, "OK")) {
		r->ok = true;
		return 0;
	}
	if (strncmp(buf, "ERR ", 4))
		return -1;
	sp = strchr(buf + 4, ' ');
	snprintf(r->code, sizeof(r->code), "%.*s", sp ? (int)(sp - buf - 4) : (int)strlen(buf + 4),
	         buf + 4);
	r->msg = sp ? sp + 1 : "failed";
	r->ok = false;
	return 0;
}

/* One request on the socket; argv holds the command words only. 0 with the
 * reply in r, else the exit status (the error printed). */
static int ctl_request(const struct opts *o, int argc, char **argv, struct reply *r, FILE *out,
                       FILE *err)
{
	char req[CTL_MAX_REQUEST + 1];
	char *buf = NULL;
	size_t len = 0;
	int fd, sent = 0, rc = 0;
	char why[CTL_MAX_REQUEST + 64] = "";

	memset(r, 0, sizeof(*r));
	if (build_request(argc, argv, req, sizeof(req), why, sizeof(why)) < 0)
		return client_err(o, argv[0], "usage", out, err, "%s", why);
	fd = connect_unix(o->sock, why, sizeof(why));
	if (fd < 0)
		return client_err(o, argv[0], "unreachable", out, err, "%s", why);
	if (send_all(fd, req, strlen(req)) < 0)
		sent = errno;
	/* A daemon that refused us may have closed before our request went
	 * out (EPIPE); its answer is waiting all the same. */
	if (!sent || sent == EPIPE || sent == ECONNRESET)
		buf = recv_all(fd, &len);
	close(fd);
	if (buf && (len > 0 || !sent) && parse_reply(buf, len, r) == 0)
		return 0;
	if (buf && (len > 0 || !sent))
		rc = client_err(o, argv[0], "bad-reply", out, err,
		                "malformed reply from the daemon");
	else if (sent)
		rc = client_err(o, argv[0], "unreachable", out, err, "cannot send to %s: %s",
		                o->sock, strerror(sent));
	else
		rc = client_err(o, argv[0], "unreachable", out, err,
		                "no complete reply from the daemon");
	free(buf);
	return rc;
}

/* Prints a reply as it came; returns the exit status. */
static int print_reply(const struct opts *o, const struct reply *r, FILE *out, FILE *err)
{
	if (!o->json && !r->ok)
		fprintf(err, "rikectl: %s\n", r->msg);
	fwrite(r->body, 1, r->blen, out);
	return r->ok ? 0 : code_rc(r->code);
}

/* ---- up and down wait for the result ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : "";
}

/* The connection's state and last error, from "list-conns NAME --json";
 * -1 (error printed, *rc set) when the daemon could not tell. */
static int conn_state(const struct opts *o, const char *name, char *state, size_t slen, char *why,
                      size_t wlen, int *rc, FILE *out, FILE *err)
{
	char *words[] = {"list-conns", (char *)name, "--json"};
	struct json_object *j, *res, *conns, *c;
	struct reply r;

	*rc = ctl_request(o, 3, words, &r, out, err);
	if (*rc)
		return -1;
	j = r.ok ? json_tokener_parse(r.body) : NULL;
	if (!j || !json_object_object_get_ex(j, "result", &res) ||
	    !json_object_object_get_ex(res, "connections", &conns) ||
	    !(c = json_object_array_get_idx(conns, 0))) {
		*rc = r.ok ? client_err(o, name, "bad-reply", out, err,
		                        "malformed reply from the daemon")
		           : print_reply(o, &r, out, err);
		json_object_put(j);
		free(r.buf);
		return -1;
	}
	snprintf(state, slen, "%s", jstr(c, "state"));
	snprintf(why, wlen, "%s", jstr(c, "last_error"));
	json_object_put(j);
	free(r.buf);
	return 0;
}

static int print_done(const struct opts *o, const char *cmd, const char *name, const char *state,
                      bool already, uint64_t waited, FILE *out)
{
	struct json_object *j, *res;

	if (!o->json) {
		fprintf(out, "'%s' %s\n", name,
		        already                         ? "already established"
		        : !strcmp(state, "established") ? "established"
		                                        : "down");
		return 0;
	}
	j = json_object_new_object();
	res = json_object_new_object();
	json_object_object_add(j, "schema", json_object_new_int(CTL_SCHEMA));
	json_object_object_add(j, "command", json_object_new_string(cmd));
	json_object_object_add(j, "ok", json_object_new_boolean(true));
	json_object_object_add(res, "conn", json_object_new_string(name));
	json_object_object_add(res, "state", json_object_new_string(state));
	json_object_object_add(res, "already_established", json_object_new_boolean(already));
	json_object_object_add(res, "waited_ms", json_object_new_uint64(waited));
	json_object_object_add(j, "result", res);
	fprintf(out, "%s\n",
	        json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
	                                              JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	return 0;
}

/* After "up"/"down" was accepted: poll until done, failed or timed out. */
static int wait_result(const struct opts *o, const char *cmd, const char *name, FILE *out,
                       FILE *err)
{
	bool up = !strcmp(cmd, "up");
	uint64_t start = now_ms(), deadline = start + (uint64_t)o->timeout * 1000;
	char state[32], why[256];
	int rc;

	for (;;) {
		if (conn_state(o, name, state, sizeof(state), why, sizeof(why), &rc, out, err) < 0)
			return rc;
		if (up && !strcmp(state, "established"))
			return print_done(o, cmd, name, state, false, now_ms() - start, out);
		if (up && (!strcmp(state, "failed") || !strcmp(state, "configured")))
			return client_err(o, cmd, "failed", out, err, "'%s' failed: %s", name,
			                  why[0] ? why : "the SA went away");
		if (!up && strcmp(state, "established") && strcmp(state, "connecting") &&
		    strcmp(state, "deleting"))
			return print_done(o, cmd, name, state, false, now_ms() - start, out);
		if (now_ms() >= deadline)
			return client_err(o, cmd, "timeout", out, err, "'%s' still %s after %d s",
			                  name, state, o->timeout);
		poll(NULL, 0, RIKECTL_POLL_MS);
	}
}

/* Runs one command; up and down wait for their result (--timeout 0: not). */
static int run_command(const struct opts *o, int n, char **words, FILE *out, FILE *err)
{
	char *req[CTL_MAX_ARGS + 1];
	bool waits = (!strcmp(words[0], "up") || !strcmp(words[0], "down")) && o->timeout > 0;
	struct json_object *j = NULL, *res;
	struct reply r;
	int k = 0, rc;

	if (n > CTL_MAX_ARGS)
		return client_err(o, words[0], "usage", out, err, "too many arguments");
	for (int i = 0; i < n; i++)
		req[k++] = words[i];
	if (o->json || waits)
		req[k++] = "--json";
	rc = ctl_request(o, k, req, &r, out, err);
	if (rc)
		return rc;
	if (!waits || !r.ok) {
		if (!waits || o->json) {
			rc = print_reply(o, &r, out, err);
		} else { /* asked in JSON for the wait: only the message */
			fprintf(err, "rikectl: %s\n", r.msg);
			rc = code_rc(r.code);
		}
		free(r.buf);
		return rc;
	}
	/* "up" on an established connection: done, exit 0 (rikectl(8)). */
	j = json_tokener_parse(r.body);
	free(r.buf);
	if (j && json_object_object_get_ex(j, "result", &res) &&
	    !strcmp(jstr(res, "state"), "established")) {
		json_object_put(j);
		return print_done(o, words[0], words[1], "established", true, 0, out);
	}
	json_object_put(j);
	return wait_result(o, words[0], words[1], out, err);
}

/* ---- arguments ---- */

/* The syntax of the commands rikectl knows: NAME-taking, argument-less,
 * optional NAME; others are the daemon's to judge. */
static int check_syntax(const struct opts *o, int n, char **words, FILE *out, FILE *err)
{
	static const struct {
		const char *cmd, *usage;
		int min, max;
	} known[] = {
	    {"up", "up NAME", 1, 1},
	    {"down", "down NAME", 1, 1},
	    {"rekey-ike", "rekey-ike NAME", 1, 1},
	    {"rekey-child", "rekey-child NAME", 1, 1},
	    {"dpd", "dpd NAME", 1, 1},
	    {"status", "status", 0, 0},
	    {"reload", "reload", 0, 0},
	    {"config", "config", 0, 0},
	    {"list-sas", "list-sas [NAME]", 0, 1},
	    {"list-conns", "list-conns [NAME]", 0, 1},
	};
	struct redirect_cmd c;
	char why[160];

	if (!strcmp(words[0], "redirect")) {
		if (redirect_cmd_parse(n, words, &c, why, sizeof(why)) == 0)
			return 0;
		if (!o->json)
			fprintf(err, "rikectl: %s\nusage: rikectl " REDIRECT_CMD_USAGE, why);
		else
			client_err(o, words[0], "usage", out, err, "%s", why);
		return -1;
	}
	if (!strcmp(words[0], "qcd")) {
		if ((n == 2 && (!strcmp(words[1], "rollover") || !strcmp(words[1], "reset"))) ||
		    (n == 3 && !strcmp(words[1], "reset") && !strcmp(words[2], "--force")))
			return 0;
		client_err(o, words[0], "usage", out, err,
		           "usage: qcd rollover | qcd reset [--force]");
		return -1;
	}
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strcmp(words[0], known[i].cmd))
			continue;
		if (n - 1 >= known[i].min && n - 1 <= known[i].max && (n < 2 || words[1][0] != '-'))
			return 0;
		client_err(o, words[0], "usage", out, err, "usage: %s", known[i].usage);
		return -1;
	}
	return 0;
}

/* Options anywhere: -s/--socket SOCKET, --json, --timeout SEC, and before
 * the command -h/--help and -V/--version. The other words are the
 * command's, collected into `words`; returns their count, -1 for a usage
 * error (printed), -2 when help or the version was printed. */
static int ctl_args(int argc, char **argv, int i, struct opts *o, char **words, FILE *out,
                    FILE *err)
{
	int n = 0;

	for (; i < argc; i++) {
		const char *a = argv[i];

		if ((!strcmp(a, "-s") || !strcmp(a, "--socket")) && i + 1 < argc) {
			o->sock = argv[++i];
		} else if (!strcmp(a, "--json")) {
			o->json = true;
		} else if (!strcmp(a, "--timeout") && i + 1 < argc) {
			char *end;
			long t = strtol(argv[++i], &end, 10);

			if (!argv[i][0] || *end || t < 0 || t > 86400) {
				client_err(
				    o, NULL, "usage", out, err,
				    "--timeout wants whole seconds, 0 to 86400 (0: do not wait)");
				return -1;
			}
			o->timeout = (int)t;
		} else if (n == 0 && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
			ctl_usage(out);
			return -2;
		} else if (n == 0 && (!strcmp(a, "-V") || !strcmp(a, "--version"))) {
			fprintf(out, "rikectl %s\n", RIKE_VERSION_FULL);
			return -2;
		} else if (n == 0 && a[0] == '-') {
			client_err(o, NULL, "usage", out, err,
			           "unknown option '%s' (rikectl --help)", a);
			return -1;
		} else if (!strcmp(a, "--force") || a[0] != '-' || n > 0) {
			words[n++] = argv[i];
		}
	}
	if (n == 0 && o->json)
		client_err(o, NULL, "usage", out, err, "no command given (rikectl --help)");
	else if (n == 0)
		ctl_usage(err);
	return n ? n : -1;
}

/* argv[0] may be the program name ("rikectl", as main() has it) or the
 * command itself (as rikectl.c passes argv + 1). */
static int ctl_run(int argc, char **argv, FILE *out, FILE *err)
{
	struct opts o = {.sock = getenv("RIKE_CTL_SOCKET"), .timeout = RIKECTL_WAIT_DEFAULT};
	const char *base;
	char **words;
	int i = 0, n, rc;

	if (argc > 0) {
		base = strrchr(argv[0], '/');
		base = base ? base + 1 : argv[0];
		if (!strncmp(base, "rikectl", 7))
			i = 1;
	}
	if (!o.sock || !o.sock[0])
		o.sock = RIKECTL_DEFAULT_SOCKET;
	words = calloc((size_t)argc + 1, sizeof(*words));
	if (!words)
		return 2;
	n = ctl_args(argc, argv, i, &o, words, out, err);
	if (n == -2)
		rc = 0;
	else if (n < 0 || check_syntax(&o, n, words, out, err) < 0)
		rc = 2;
	else
		rc = run_command(&o, n, words, out, err);
	free(words);
	return rc;
}

int rikectl_ctl(int argc, char **argv)
{
	return ctl_run(argc, argv, stdout, stderr);
}
