/*
 * The control socket's server (see ctl.h). It owns the listening unix
 * socket and one small record per client; a client is a libevent
 * bufferevent that reads one capped request line, runs the handler into a
 * memory FILE (open_memstream) and, with --json, a json-c object, wraps
 * the latter in the versioned envelope, queues "OK"/"ERR code message"
 * plus the body and
 * is freed once the output has drained. Every client has a deadline, and
 * at most CTL_MAX_CLIENTS are served at once, so a stuck or hostile client
 * costs a bounded amount of memory and never blocks the IKE loop.
 */
#include "daemon/ctl.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"

struct ctl_client {
	struct ctl *ctl;
	struct bufferevent *bev;
	struct event *deadline; /* to send the whole request, then to take the reply */
	struct ctl_client *prev, *next;
	bool replied;
};

struct ctl {
	struct event_base *base;
	struct evconnlistener *lev;
	const struct ctl_ops *ops;
	void *ctx;
	struct ctl_client *clients;
	unsigned nclients;
	unsigned timeout_sec;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static void client_free(struct ctl_client *cl)
{
	struct ctl *ctl = cl->ctl;

	if (cl->prev)
		cl->prev->next = cl->next;
	else
		ctl->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	ctl->nclients--;
	if (cl->deadline)
		event_free(cl->deadline);
	bufferevent_free(cl->bev);
	free(cl);
}

int ctl_parse_request(char *line, char **argv, bool *json, const char **why)
{
	int argc = 0;
	char *save = NULL;

	*json = false;
	for (const char *p = line; *p; p++) {
		if ((unsigned char)*p < 0x20 && *p != ' ' && *p != '\t') {
			*why = "control character in request";
			return -1;
		}
	}
	for (char *w = strtok_r(line, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (!strcmp(w, "--json")) {
			*json = true;
			continue;
		}
		if (argc == CTL_MAX_ARGS) {
			*why = "too many arguments";
			return -1;
		}
		argv[argc++] = w;
	}
	if (argc == 0)
		*why = "empty request";
	return argc ? argc : -1;
}

const char *ctl_err_code(enum ctl_err e)
{
	static const char *const codes[] = {
	    [CTL_OK] = "ok",
	    [CTL_E_USAGE] = "usage",
	    [CTL_E_UNKNOWN] = "unknown-command",
	    [CTL_E_NOT_FOUND] = "not-found",
	    [CTL_E_NO_SA] = "no-sa",
	    [CTL_E_REFUSED] = "refused",
	    [CTL_E_FAILED] = "failed",
	    [CTL_E_UNSUPPORTED] = "unsupported",
	    [CTL_E_INTERNAL] = "internal",
	};

	return (size_t)e < sizeof(codes) / sizeof(codes[0]) ? codes[e] : "failed";
}

static void arm_deadline(struct ctl_client *cl)
{
	struct timeval tv = {.tv_sec = cl->ctl->timeout_sec};

	evtimer_add(cl->deadline, &tv);
}

/* Queues "OK\n<body>" or "ERR <code> <message>\n<body>" and stops reading. */
static void reply(struct ctl_client *cl, const char *code, const char *msg, const char *body,
                  size_t len)
{
	struct evbuffer *o = bufferevent_get_output(cl->bev);

	if (!code)
		evbuffer_add(o, "OK\n", 3);
	else
		evbuffer_add_printf(o, "ERR %s %s\n", code, msg && msg[0] ? msg : "failed");
	evbuffer_add(o, body, len);
	cl->replied = true;
	bufferevent_disable(cl->bev, EV_READ);
	arm_deadline(cl); /* a fresh period to take the reply */
}

static void reply_err(struct ctl_client *cl, const char *code, const char *why)
{
	reply(cl, code, why, "", 0);
}

/* The versioned JSON envelope (ctl.h, rikectl(8) "JSON"). */
static char *json_envelope(const char *cmd, enum ctl_err rc, struct json_object *result,
                           const char *msg)
{
	struct json_object *o = json_object_new_object(), *e;
	char *s;

	json_object_object_add(o, "schema", json_object_new_int(CTL_SCHEMA));
	json_object_object_add(o, "command", cmd ? json_object_new_string(cmd) : NULL);
	json_object_object_add(o, "ok", json_object_new_boolean(rc == CTL_OK));
	if (rc == CTL_OK) {
		json_object_object_add(o, "result", json_object_get(result));
	} else {
		e = json_object_new_object();
		json_object_object_add(e, "code", json_object_new_string(ctl_err_code(rc)));
		json_object_object_add(e, "message", json_object_new_string(msg));
		json_object_object_add(o, "error", e);
	}
	if (asprintf(&s, "%s\n",
	             json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                                   JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
		s = NULL;
	json_object_put(o);
	return s;
}

/* The error message is the first line of the handler's text. */
static void split_message(char *body, size_t len, char **msg, char **rest)
{
	char *nl = memchr(body, '\n', len);

	*msg = body;
	*rest = nl ? nl + 1 : body + len;
	if (nl)
		*nl = '\0';
}

static void handle_line(struct ctl_client *cl, char *line)
{
	char *argv[CTL_MAX_ARGS], *body = NULL, *msg, *rest, *js = NULL;
	struct ctl_reply r = {0};
	size_t len = 0;
	const char *why;
	bool json;
	int argc = ctl_parse_request(line, argv, &json, &why);
	enum ctl_err rc;

	if (argc < 0) {
		reply_err(cl, "bad-request", why);
		return;
	}
	r.text = open_memstream(&body, &len);
	r.json = json ? json_object_new_object() : NULL;
	if (!r.text || (json && !r.json)) {
		if (r.text)
			fclose(r.text);
		free(body);
		json_object_put(r.json);
		reply_err(cl, "internal", "out of memory");
		return;
	}
	if (cl->ctl->ops->command) {
		rc = cl->ctl->ops->command(cl->ctl->ctx, argc, argv, &r);
	} else {
		fprintf(r.text, "%s is not supported\n", argv[0]);
		rc = CTL_E_UNSUPPORTED;
	}
	if (fclose(r.text) != 0 || !body) {
		reply_err(cl, "internal", "out of memory");
	} else if (len > CTL_MAX_REPLY) {
		reply_err(cl, "internal", "reply too large");
	} else {
		msg = rest = body + len;
		if (rc)
			split_message(body, len, &msg, &rest);
		if (json)
			js = json_envelope(argv[0], rc, r.json, rc ? msg : NULL);
		if (json && !js)
			reply_err(cl, "internal", "out of memory");
		else if (json)
			reply(cl, rc ? ctl_err_code(rc) : NULL, msg, js, strlen(js));
		else if (rc)
			reply(cl, ctl_err_code(rc), msg, rest, len - (size_t)(rest - body));
		else
			reply(cl, NULL, NULL, body, len);
		free(js);
	}
	json_object_put(r.json);
	free(body);
}

/* One line, capped at CTL_MAX_REQUEST octets; `eof` takes what is there. */
static void client_try_request(struct ctl_client *cl, bool eof)
{
	struct evbuffer *in = bufferevent_get_input(cl->bev);
	size_t n = 0;
	char *line;

	if (cl->replied)
		return;
	line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
	if (!line && evbuffer_get_length(in) >= CTL_MAX_REQUEST) {
		reply_err(cl, "bad-request", "request too long");
		log_ratelimited(LOG_WARNING, LOG_RL_CTL, NULL, "ctl", "request too long");
		return;
	}
	if (!line && eof && evbuffer_get_length(in) > 0) {
		n = evbuffer_get_length(in);
		line = calloc(1, n + 1);
		if (line && evbuffer_remove(in, line, n) != (int)n) {
			free(line);
			line = NULL;
		}
	}
	if (!line)
		return;
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	if (n >= CTL_MAX_REQUEST || memchr(line, '\0', n))
		reply_err(cl, "bad-request",
		          n >= CTL_MAX_REQUEST ? "request too long" : "NUL in request");
	else
		handle_line(cl, line);
	free(line);
}

/* The bufferevent's timeouts restart with every read or write, so a
 * client trickling one octet at a time would never hit them: the whole
 * request, and then the whole reply, each get one deadline. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_client *cl = arg;

	if (cl->replied) {
		client_free(cl);
		return;
	}
	log_ratelimited(LOG_WARNING, LOG_RL_CTL, NULL, "ctl", "request not complete within %u s",
	                cl->ctl->timeout_sec);
	reply_err(cl, "timeout", "request timed out");
}

static void on_read(struct bufferevent *bev, void *arg)
{
	client_try_request(arg, false);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct ctl_client *cl = arg;

	if (cl->replied)
		client_free(cl);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_client *cl = arg;

	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) && cl->replied)
		return; /* the client only shut its side; the reply is still going out */
	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) && !cl->replied) {
		client_try_request(cl, true);
		if (cl->replied)
			return; /* on_write frees it once the reply is out */
	}
	client_free(cl);
}

/* Only root and the daemon's own user may drive it, whatever the mode
 * bits of the socket's directory say. */
static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

/* Answers a client that will not be served with one complete "ERR" line
 * and closes, without holding a client slot. Closing a unix socket with
 * unread input resets the connection (the client's next recv fails with
 * ECONNRESET), so the request that has arrived is read and dropped first;
 * a request sent after the close fails with EPIPE, and rikectl then still
 * reads the refusal. */
static void refuse(int fd, const char *msg)
{
	char sink[CTL_MAX_REQUEST];
	size_t len = strlen(msg);
	ssize_t n;

	/* A fresh socket's buffer always takes a short line at once. */
	n = send(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n != (ssize_t)len)
		log_ratelimited(LOG_DEBUG, LOG_RL_CTL, NULL, "ctl", "refusal not sent: %s",
		                n < 0 ? strerror(errno) : "short write");
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 4 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	close(fd);
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
	struct ctl *ctl = arg;
	struct timeval tv = {.tv_sec = ctl->timeout_sec};
	struct ctl_client *cl;

	if (!peer_allowed(fd)) {
		log_ratelimited(LOG_WARNING, LOG_RL_CTL, NULL, "ctl", "client refused: wrong user");
		refuse(fd, "ERR permission-denied permission denied\n");
		return;
	}
	if (ctl->nclients >= CTL_MAX_CLIENTS) {
		log_ratelimited(LOG_WARNING, LOG_RL_CTL, NULL, "ctl", "client refused: busy");
		refuse(fd, "ERR busy too many clients\n");
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (cl)
		cl->deadline = evtimer_new(ctl->base, on_deadline, cl);
	if (cl && cl->deadline)
		cl->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!cl || !cl->bev) {
		if (cl && cl->deadline)
			event_free(cl->deadline);
		free(cl);
		refuse(fd, "ERR internal out of memory\n");
		return;
	}
	cl->ctl = ctl;
	cl->next = ctl->clients;
	if (cl->next)
		cl->next->prev = cl;
	ctl->clients = cl;
	ctl->nclients++;
	bufferevent_setcb(cl->bev, on_read, on_write, on_event, cl);
	bufferevent_setwatermark(cl->bev, EV_READ, 0, CTL_MAX_REQUEST);
	bufferevent_set_timeouts(cl->bev, &tv, &tv);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
	arm_deadline(cl);
}

/* mkdir -m 0700 of the socket's directory, if it is missing. */
static int make_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	dirname(dir);
	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (stat(dir, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* A socket file left by a dead daemon is removed; a live one is kept. */
static int clear_stale(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		errno = EADDRINUSE;
		return -1;
	}
	return unlink(sun->sun_path);
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	mode_t old;
	int fd = -1, rc;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if (make_dir(path) < 0 || clear_stale(&sun) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	old = umask(0177); /* the socket is born 0600 */
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, CTL_MAX_CLIENTS) < 0)
		goto fail;
	return fd;
fail:
	rc = errno;
	close(fd);
	errno = rc;
	return -1;
}

struct ctl *ctl_new(struct event_base *base, const char *path, const struct ctl_ops *ops, void *ctx)
{
	struct ctl *ctl = calloc(1, sizeof(*ctl));
	int fd = -1, saved;

	if (!ctl)
		goto fail;
	fd = listen_unix(path);
	if (fd < 0)
		goto fail;
	ctl->base = base;
	ctl->timeout_sec = CTL_TIMEOUT_SEC;
	ctl->ops = ops;
	ctl->ctx = ctx;
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	ctl->lev = evconnlistener_new(base, on_accept, ctl, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!ctl->lev)
		goto fail;
	log_msg(LOG_INFO, "ctl", "listening on %s", path);
	return ctl;
fail:
	saved = errno;
	log_msg(LOG_ERR, "ctl", "cannot listen on %s: %s", path, strerror(saved));
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(ctl);
	errno = saved;
	return NULL;
}

void ctl_free(struct ctl *ctl)
{
	if (!ctl)
		return;
	while (ctl->clients)
		client_free(ctl->clients);
	evconnlistener_free(ctl->lev);
	unlink(ctl->path);
	free(ctl);
}

unsigned ctl_nclients(const struct ctl *ctl)
{
	return ctl->nclients;
}

void ctl_set_timeout(struct ctl *ctl, unsigned sec)
{
	ctl->timeout_sec = sec;
}
