/*
 * The control socket (server side): a unix stream socket on the daemon's
 * libevent loop. A client sends one line
 *     <command> [args...] [--json]\n
 * and the server answers and closes. The answer's first line is "OK" or
 * "ERR <reason>"; the body follows. rikectl(8) is the client.
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

/*
 * The daemon's handlers. Each writes its output (text, or JSON when `json`)
 * to `out` and returns 0 for OK or -1 for ERR; on ERR the first line written
 * to `out` becomes the reason ("ERR <reason>") and the rest the body. Any
 * handler may be NULL ("ERR not supported"). `command` receives every
 * command not listed here (e.g. "qcd rollover", "redirect NAME GW") with
 * argv[0] the command; NULL means "ERR unknown command". Handlers run on
 * the loop and must not block; `argv` strings are valid only for the call.
 */
struct ctl_ops {
	int (*up)(void *ctx, const char *name, FILE *out);
	int (*down)(void *ctx, const char *name, FILE *out);
	int (*status)(void *ctx, bool json, FILE *out);
	int (*list_sas)(void *ctx, bool json, FILE *out);
	int (*reload)(void *ctx, FILE *out);
	int (*command)(void *ctx, int argc, char **argv, bool json, FILE *out);
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
