/*
 * The control socket (server side): a unix stream socket on the daemon's
 * libevent loop. A client sends one line
 *     <command> [args...] [--json]\n
 * and the server answers and closes. The answer's first line is "OK" or
 * "ERR <code> <message>"; the body (text, or the JSON reply) follows.
 * rikectl(8) is the client.
 */
#ifndef RIKE_DAEMON_CTL_H
#define RIKE_DAEMON_CTL_H

#include <stdbool.h>
#include <stdio.h>

#include "util/compiler.h"

struct event_base;
struct ctl;

#define CTL_MAX_REQUEST 1024 /* octets in a request line, newline included */
#define CTL_MAX_ARGS    16   /* words in a request, command included */
#define CTL_MAX_CLIENTS 16   /* connections served at once; more get "ERR busy" */
#define CTL_TIMEOUT_SEC 10   /* to send the whole request, then to take the whole reply */
#define CTL_MAX_REPLY   (16u << 20)

/* Why a command failed: the code names it in "ERR <code> <message>" and in
 * the JSON error object (rikectl(8) lists them). CTL_E_USAGE makes rikectl
 * exit 2, every other code 1. */
enum ctl_err {
	CTL_OK = 0,
	CTL_E_USAGE,       /* "usage": wrong arguments */
	CTL_E_UNKNOWN,     /* "unknown-command" */
	CTL_E_NOT_FOUND,   /* "not-found": no such connection */
	CTL_E_NO_SA,       /* "no-sa": the connection has no SA to act on */
	CTL_E_REFUSED,     /* "refused": would do harm without --force */
	CTL_E_FAILED,      /* "failed": tried and it did not work */
	CTL_E_UNSUPPORTED, /* "unsupported" */
	CTL_E_INTERNAL,    /* "internal": out of memory and the like */
};
const char *ctl_err_code(enum ctl_err e);

/*
 * What a handler answers into. `text` always exists: the text body, or on
 * error the message (its first line; further lines are a text body). With
 * --json, `json` is an empty json-c object for the result's members
 * (NULL otherwise); the server wraps it (rikectl(8), "JSON"):
 *     {"schema":1,"command":C,"ok":true,"result":{...}}
 *     {"schema":1,"command":C,"ok":false,"error":{"code":...,"message":...}}
 */
struct ctl_reply {
	FILE *text;
	struct json_object *json;
};

#define CTL_SCHEMA 1 /* the JSON replies' "schema"; raised on incompatible changes */

/*
 * The daemon's commands: one handler sees every request, argv[0] being the
 * command ("up", "qcd", ...), "--json" removed. It returns CTL_OK or an
 * error code having written the message to r->text. Handlers run on the
 * loop and must not block; `argv` strings are valid only for the call.
 */
struct ctl_ops {
	enum ctl_err (*command)(void *ctx, int argc, char **argv, struct ctl_reply *r);
};

/*
 * Listens on `path`: creates its directory (mode 0700) if missing, replaces
 * a stale socket (one nobody accepts on), refuses if another daemon answers
 * there, and makes the socket mode 0600. Only clients running as root or
 * as the daemon's user are served (SO_PEERCRED). `ops` and `ctx` are
 * borrowed. Returns NULL with errno set, having logged why, on failure.
 */
struct ctl *ctl_new(struct event_base *base, const char *path, const struct ctl_ops *ops,
                    void *ctx);
/* Closes every client and the socket and unlinks it. NULL-safe. */
void ctl_free(struct ctl *ctl);
/* Clients being served now (tests). */
unsigned ctl_nclients(const struct ctl *ctl);
/* Replaces CTL_TIMEOUT_SEC for clients accepted from now on (tests). */
void ctl_set_timeout(struct ctl *ctl, unsigned sec);

/* Splits a request line in place into at most CTL_MAX_ARGS words, removing
 * "--json" (sets *json). Returns argc, or -1 with a reason in *why if the
 * line is empty, too long, has too many words or has control characters. */
int ctl_parse_request(char *line, char **argv, bool *json, const char **why) WUR;

#endif
