/*
 * rikectl's control-socket client: up, down, status, list-sas, reload and
 * any other command the daemon knows (e.g. "qcd rollover"). It sends one
 * request line to riked's control socket (src/daemon/ctl.h describes the
 * protocol), prints the reply body, and exits 0 on "OK", 1 on "ERR" and 2
 * on usage or connection errors. See rikectl(8).
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/ctl.h"
#include "daemon/redirect_cmd.h"
#include "rikectl.h"

#define RIKECTL_DEFAULT_SOCKET "/run/riked/riked.sock"
#define RIKECTL_TIMEOUT_MS     30000

static void ctl_usage(FILE *f)
{
	fprintf(f,
	        "usage: rikectl [-s SOCKET] COMMAND [ARGS...] [--json]\n"
	        "commands:\n"
	        "  up NAME             initiate connection NAME\n"
	        "  down NAME           delete the SAs of connection NAME\n"
	        "  status [--json]     daemon and connection status\n"
	        "  list-sas [--json]   IKE and Child SAs\n"
	        "  reload              re-read the configuration file\n"
	        "  redirect ...        RFC 5685 redirect and drain (see below)\n"
	        "  other commands are passed to the daemon (e.g. \"qcd rollover\")\n"
	        "the socket is -s SOCKET, else $RIKE_CTL_SOCKET, else " RIKECTL_DEFAULT_SOCKET "\n"
	        "usage: " REDIRECT_CMD_USAGE);
}

/* Joins the words with single spaces; words must be non-empty and free of
 * whitespace and control characters, since the protocol splits on spaces. */
static int build_request(int argc, char **argv, char *buf, size_t len, FILE *err)
{
	size_t off = 0;

	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		for (size_t k = 0; k < n; k++) {
			if ((unsigned char)argv[i][k] <= ' ' || argv[i][k] == 0x7f) {
				fprintf(err,
				        "rikectl: argument \"%s\" contains whitespace or "
				        "control characters\n",
				        argv[i]);
				return -1;
			}
		}
		if (n == 0 || off + n + 2 > len) {
			fprintf(err, "rikectl: %s\n", n ? "request too long" : "empty argument");
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

static int connect_unix(const char *path, FILE *err)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(err, "rikectl: socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	fprintf(err, "rikectl: cannot connect to %s: %s\n", path, strerror(errno));
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

/* Prints the reply; the exit status follows its first line. */
static int print_reply(const char *buf, size_t len, FILE *out, FILE *err)
{
	const char *nl = memchr(buf, '\n', len);
	size_t first = nl ? (size_t)(nl - buf) : len;
	const char *body = nl ? nl + 1 : buf + len;
	size_t blen = len - (size_t)(body - buf);

	if (first == 2 && !memcmp(buf, "OK", 2)) {
		fwrite(body, 1, blen, out);
		return 0;
	}
	if (first >= 3 && !memcmp(buf, "ERR", 3) && (first == 3 || buf[3] == ' ')) {
		fprintf(err, "rikectl: %.*s\n", (int)(first > 4 ? first - 4 : 0), buf + 4);
		fwrite(body, 1, blen, out);
		return 1;
	}
	fprintf(err, "rikectl: malformed reply from the daemon\n");
	return 2;
}

/* One request on `sock`; argv holds the command words only. */
static int ctl_request(const char *sock, int argc, char **argv, FILE *out, FILE *err)
{
	char req[CTL_MAX_REQUEST + 1];
	char *buf = NULL;
	size_t len = 0;
	int fd, rc = 2, sent = 0;

	if (build_request(argc, argv, req, sizeof(req), err) < 0)
		return 2;
	fd = connect_unix(sock, err);
	if (fd < 0)
		return 2;
	if (send_all(fd, req, strlen(req)) < 0)
		sent = errno;
	/* A daemon that refused us may have closed before our request went
	 * out (EPIPE); its answer is waiting all the same. */
	if (!sent || sent == EPIPE || sent == ECONNRESET)
		buf = recv_all(fd, &len);
	if (buf && (len > 0 || !sent))
		rc = print_reply(buf, len, out, err);
	else if (sent)
		fprintf(err, "rikectl: cannot send to %s: %s\n", sock, strerror(sent));
	else
		fprintf(err, "rikectl: no complete reply from the daemon\n");
	free(buf);
	close(fd);
	return rc;
}

/* Takes "-s SOCKET" / "--socket SOCKET" anywhere; before the command also
 * "-h"/"--help". Collects the other words into `words`; returns their count,
 * or -1 (usage error) or -2 (help printed). */
static int ctl_args(int argc, char **argv, int i, const char **sock, char **words, FILE *out,
                    FILE *err)
{
	int n = 0;

	for (; i < argc; i++) {
		if ((!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket")) && i + 1 < argc) {
			*sock = argv[++i];
		} else if (n == 0 && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
			ctl_usage(out);
			return -2;
		} else if (n == 0 && argv[i][0] == '-' && strcmp(argv[i], "--json")) {
			ctl_usage(err);
			return -1;
		} else {
			words[n++] = argv[i];
		}
	}
	if (n == 0)
		ctl_usage(err);
	return n ? n : -1;
}

/* Commands whose syntax rikectl knows check it here, so that a usage
 * error exits 2 (rikectl(8)) without asking the daemon. */
static int check_syntax(int n, char **words, FILE *err)
{
	struct redirect_cmd c;
	char why[160];

	if (strcmp(words[0], "redirect"))
		return 0;
	if (redirect_cmd_parse(n, words, &c, why, sizeof(why)) == 0)
		return 0;
	fprintf(err, "rikectl: %s\nusage: rikectl " REDIRECT_CMD_USAGE, why);
	return -1;
}

/* argv[0] may be the program name ("rikectl", as main() has it) or the
 * command itself (as rikectl.c passes argv + 1). */
static int ctl_run(int argc, char **argv, FILE *out, FILE *err)
{
	const char *sock = getenv("RIKE_CTL_SOCKET");
	const char *base;
	char **words;
	int i = 0, n, rc;

	if (argc > 0) {
		base = strrchr(argv[0], '/');
		base = base ? base + 1 : argv[0];
		if (!strncmp(base, "rikectl", 7))
			i = 1;
	}
	if (!sock || !sock[0])
		sock = RIKECTL_DEFAULT_SOCKET;
	words = calloc((size_t)argc + 1, sizeof(*words));
	if (!words)
		return 2;
	n = ctl_args(argc, argv, i, &sock, words, out, err);
	if (n == -2)
		rc = 0;
	else if (n < 0 || check_syntax(n, words, err) < 0)
		rc = 2;
	else
		rc = ctl_request(sock, n, words, out, err);
	free(words);
	return rc;
}

int rikectl_ctl(int argc, char **argv)
{
	return ctl_run(argc, argv, stdout, stderr);
}
