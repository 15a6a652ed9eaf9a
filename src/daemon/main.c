/*
 * riked(8): the IKEv2 daemon's main program. It owns the process: command
 * line, configuration (and its reload), daemonizing and the pid file,
 * signals, and the libevent loop that connects the IKE engine (which does
 * no I/O and reads no clock, see ike/ike.h) to its UDP sockets (net.c),
 * its timer, the control socket (ctl.c) and the data plane (dpglue.c).
 * The protocol itself (RFC 7296 and its extensions) lives in src/ike.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "daemon/addrmon.h"
#include "daemon/config.h"
#include "daemon/ctl.h"
#include "daemon/ctlcmd.h"
#include "daemon/dpglue.h"
#include "daemon/keylog.h"
#include "daemon/metrics.h"
#include "util/log.h"
#include "daemon/net.h"
#include "daemon/resolve.h"
#include "dataplane/dp.h"
#include "ike/ike.h"
#include "store/spimap.h"

#include "rike_version.h" /* generated: cmake/version.cmake */

#define RIKED_DEFAULT_CONFIG "/etc/riked/riked.conf"
#define RIKED_RUN_DIR        "/run/riked"
#define RIKED_SHUTDOWN_MS    3000 /* wait this long for peers to answer our deletes */
#define RIKED_RL_FLUSH_SEC   10   /* report suppressed log lines this often */

struct riked_opts {
	const char *config;
	bool foreground, check, debug;
};

struct riked {
	struct riked_opts opt;
	struct event_base *base;
	struct cfg *cfg; /* owned; borrowed by the engine */
	struct ike *ike;
	struct net *net;
	struct dpglue *dpg;
	struct ctl *ctl;
	struct ctlcmd_host ctlh; /* what the control commands see (ctlcmd.c) */
	struct resolver *res;
	struct addrmon *am;      /* NULL: addresses not followed */
	struct metrics *metrics; /* NULL: off (riked.conf metrics) */
	struct keylog *keylog;   /* NULL: off (riked.conf keylog) */
	struct event *timer, *rl_timer, *stop_timer, *wd_timer;
	struct event *work; /* the engine's crypto workers are done (ike_work_fd) */
	struct event *sig_hup, *sig_term, *sig_int;
	bool stopping;
	uint64_t stop_deadline;
	char pidfile[4096];
	int pid_fd;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the engine's timer ---- */

/* Re-arm the one libevent timer after every engine call. */
static void rearm(struct riked *rd)
{
	int64_t ms;
	struct timeval tv;

	if (!rd->ike)
		return;
	ms = ike_next_timeout(rd->ike);
	if (ms < 0) {
		evtimer_del(rd->timer);
		return;
	}
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(rd->timer, &tv);
}

static void rearm_cb(void *ctx)
{
	rearm(ctx);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct riked *rd = arg;

	(void)fd;
	(void)what;
	ike_run_timers(rd->ike);
	rearm(rd);
}

static void work_cb(evutil_socket_t fd, short what, void *arg)
{
	struct riked *rd = arg;

	(void)fd;
	(void)what;
	ike_work_done(rd->ike);
	rearm(rd);
}

static void rl_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_rl_flush();
}

/* ---- the engine's host hooks ---- */

static int host_send(void *ctx, const struct ike_addr *from, const struct ike_addr *to,
                     const uint8_t *buf, size_t len)
{
	struct riked *rd = ctx;
	struct sockaddr_storage f, t;

	addr_to_ss(from, &f);
	addr_to_ss(to, &t);
	if (net_send(rd->net, &f, &t, buf, len) == 0)
		return 0;
	log_ratelimited(LOG_WARNING, LOG_RL_OTHER, (const struct sockaddr *)&to->ss, "net",
	                "sending %zu octets failed: %s", len, strerror(errno));
	return -1;
}

static uint64_t host_now(void *ctx)
{
	(void)ctx;
	return mono_ms();
}

static int host_child_up(void *ctx, const struct ike_child_info *c)
{
	keylog_child(((struct riked *)ctx)->keylog, c);
	return dpglue_child_up(((struct riked *)ctx)->dpg, c);
}

static void host_ike_keys(void *ctx, const struct ike_keys_info *k)
{
	keylog_ike(((struct riked *)ctx)->keylog, k);
}

static void host_child_down(void *ctx, const struct ike_child_info *c)
{
	dpglue_child_down(((struct riked *)ctx)->dpg, c);
}

static void host_child_moved(void *ctx, const struct ike_child_info *c)
{
	keylog_child(((struct riked *)ctx)->keylog, c); /* the rows name the addresses */
	dpglue_child_moved(((struct riked *)ctx)->dpg, c);
}

/* RFC 5685 9.2: the engine names a gateway by FQDN; c-ares resolves it
 * on the loop (resolve.c) and the answer goes back once, from the loop. */
static int host_resolve(void *ctx, const char *name, uint64_t id)
{
	struct riked *rd = ctx;

	if (!rd->res)
		return -1;
	return resolver_lookup(rd->res, name, id);
}

static void resolved(void *ctx, uint64_t id, const char *name, const struct sockaddr_storage *ss,
                     size_t n, const char *why)
{
	struct riked *rd = ctx;
	struct ike_addr addrs[RESOLVER_MAX_ADDRS];

	(void)name;
	(void)why; /* logged by the resolver */
	if (!rd->ike)
		return;
	for (size_t i = 0; i < n && i < RESOLVER_MAX_ADDRS; i++)
		addr_set_ss(&addrs[i], &ss[i]);
	ike_resolved(rd->ike, id, addrs, n < RESOLVER_MAX_ADDRS ? n : RESOLVER_MAX_ADDRS);
	rearm(rd);
}

/* RFC 4555 3.5: the kernel's source address towards dst. */
/* Receive steering picks a packet worker by SPI: the engine asks which
 * residue a new inbound SPI must have (dp_spi_residue). */
static int host_spi_residue(void *ctx, uint32_t rekey_reqid, uint32_t *mod, uint32_t *residue)
{
	return dpglue_spi_residue(((struct riked *)ctx)->dpg, rekey_reqid, mod, residue);
}

static int host_route(void *ctx, const struct ike_addr *dst, struct ike_addr *src)
{
	struct riked *rd = ctx;

	return rd->am ? addrmon_route(rd->am, dst, src) : -1;
}

/* The usable local addresses changed (addrmon.c): the engine decides what moves. */
static void on_addresses(void *ctx, const struct ike_addr *addrs, size_t n)
{
	struct riked *rd = ctx;

	ike_local_addresses(rd->ike, addrs, n);
	rearm(rd);
}

/* ---- sockets ---- */

static void on_ike(void *ctx, const struct sockaddr_storage *local,
                   const struct sockaddr_storage *remote, const uint8_t *buf, size_t len)
{
	struct riked *rd = ctx;
	struct ike_addr l, r;

	addr_set_ss(&l, local);
	addr_set_ss(&r, remote);
	ike_input(rd->ike, &l, &r, buf, len);
	rearm(rd);
}

static void on_esp(void *ctx, uint8_t *buf, size_t len, const struct sockaddr_storage *local,
                   const struct sockaddr_storage *remote)
{
	struct riked *rd = ctx;

	if (dpglue_wants_udp(rd->dpg))
		dpglue_input_udp(rd->dpg, buf, len, local, remote);
}

/* net_sync or net_free closes a NAT-T socket: the packet workers'
 * sockets in its reuseport group go first (dp_udp_unsteer). */
static void on_natt_closing(void *ctx, int fd)
{
	struct riked *rd = ctx;

	if (rd->dpg)
		dpglue_unsteer(rd->dpg, fd);
}

/* The data plane sends ESP-in-UDP (RFC 3948) from our NAT-T sockets. */
static int give_sockets(struct riked *rd)
{
	/* RFC 3948 with XFRM: the kernel decapsulates ESP from these sockets. */
	if (dpglue_wants_udp_encap(rd->dpg) && net_set_udp_encap(rd->net, true) < 0) {
		log_msg(LOG_ERR, "daemon", "UDP_ENCAP on the NAT-T sockets: %s", strerror(errno));
		return -1;
	}
	if (!dpglue_wants_udp(rd->dpg))
		return 0;
	if (dpglue_set_sockets(rd->dpg, net_natt_fd(rd->net, AF_INET),
	                       net_natt_fd(rd->net, AF_INET6)) < 0) {
		log_msg(LOG_ERR, "daemon", "data plane refused the NAT-T sockets: %s",
		        strerror(errno));
		return -1;
	}
	if (dpglue_steers(rd->dpg)) {
		/* The packet workers read ESP beside every NAT-T socket; where
		 * they cannot (logged), the loop hands ESP over as before. */
		int fds[NET_MAX_SOCKETS];
		size_t n = net_natt_fds(rd->net, fds, NET_MAX_SOCKETS);
		(void)dpglue_steer(rd->dpg, fds, n < NET_MAX_SOCKETS ? n : NET_MAX_SOCKETS);
	}
	return 0;
}

/* ---- configuration ---- */

static void apply_log_config(const struct riked *rd, const struct cfg *cfg, bool detached)
{
	enum log_target t = cfg->log_target;

	/* A detached daemon has no stderr: it logs to syslog instead. */
	if (detached && t == LOG_TARGET_STDERR)
		t = LOG_TARGET_SYSLOG;
	log_init("riked", t, rd->opt.debug ? LOG_DEBUG : cfg->log_level);
}

/* Settings that need a restart keep their old values (config.h). */
static void keep_restart_settings(struct cfg *old_cfg, struct cfg *new_cfg)
{
	char *tmp;

	if (!cfg_needs_restart(old_cfg, new_cfg))
		return;
	log_msg(LOG_WARNING, "daemon",
	        "ports, control socket, state directory, data plane, metrics or keylog "
	        "changed: restart riked to apply; keeping the old values");
	new_cfg->ike_port = old_cfg->ike_port;
	new_cfg->natt_port = old_cfg->natt_port;
	new_cfg->dataplane = old_cfg->dataplane;
	new_cfg->dataplane_workers = old_cfg->dataplane_workers;
	tmp = new_cfg->control_socket;
	new_cfg->control_socket = old_cfg->control_socket;
	old_cfg->control_socket = tmp;
	tmp = new_cfg->state_dir;
	new_cfg->state_dir = old_cfg->state_dir;
	old_cfg->state_dir = tmp;
}

static const char *exposed_secrets_text(const struct cfg *cfg, char *buf, size_t len)
{
	snprintf(buf, len,
	         "%s holds pre-shared keys and is readable by group or others (mode %04o); "
	         "chmod 600 it",
	         cfg->secrets_exposed, cfg->secrets_mode);
	return buf;
}

/* One line per load: at start-up and on every reload. */
static void warn_exposed_secrets(const struct cfg *cfg)
{
	char buf[PATH_MAX + 128];

	if (cfg->secrets_exposed)
		log_msg(LOG_WARNING, "daemon", "%s", exposed_secrets_text(cfg, buf, sizeof(buf)));
}

/* The Child SPI map's state changes (writes failing, with why; writes
 * working again) go to the log like the rest of QCD's. */
static void spimap_report(int level, const char *msg)
{
	log_msg(level, "qcd", "%s", msg);
}

/* SIGHUP and "rikectl reload": on error the old configuration stays.
 * Added connections start, removed ones are deleted towards the peer,
 * changed ones are replaced or changed in place (ctlcmd_reload_plan);
 * `report` (may be NULL) receives which. */
static int reload(struct riked *rd, struct json_object *report, char *err, size_t errlen)
{
	struct cfg *n = calloc(1, sizeof(*n)), *old = rd->cfg;
	struct json_object *plan = json_object_new_object();
	char what[1024];

	if (!n || !plan || cfg_load(rd->opt.config, n, err, errlen) < 0) {
		if (!n || !plan)
			snprintf(err, errlen, "out of memory");
		log_msg(LOG_ERR, "daemon", "reload failed, keeping the old configuration: %s", err);
		free(n);
		json_object_put(plan);
		return -1;
	}
	keep_restart_settings(old, n);
	ctlcmd_reload_plan(old, n, plan);
	apply_log_config(rd, n, !rd->opt.foreground);
	warn_exposed_secrets(n);
	ike_reload(rd->ike, n); /* the engine now borrows n */
	ctlcmd_reload_apply(rd->ike, plan);
	rd->cfg = n;
	cfg_free(old);
	free(old);
	/* net_sync may close the NAT-T sockets the data plane's packet threads
	 * send on: take them away first; give_sockets hands them back. */
	dpglue_drop_sockets(rd->dpg);
	int synced = net_sync(rd->net, n);
	if (give_sockets(rd) < 0 || synced < 0)
		log_msg(LOG_ERR, "daemon",
		        "reload: sockets could not follow the new local addresses");
	rearm(rd);
	ctlcmd_reload_text(plan, what, sizeof(what));
	log_msg(LOG_NOTICE, "daemon", "configuration reloaded from %s (%zu connections): %s",
	        rd->opt.config, n->nconns, what);
	json_object_object_foreach(plan, k, v)
	{
		if (report)
			json_object_object_add(report, k, json_object_get(v));
	}
	json_object_put(plan);
	return 0;
}

/*
 * sd_notify(3) around a reload (SIGHUP, `systemctl reload`, `rikectl
 * reload`): RELOADING=1 with the monotonic time systemd 253's
 * Type=notify-reload wants, then READY=1 whether or not the new file was
 * taken. Without NOTIFY_SOCKET these are no-ops.
 */
static int reload_notify(struct riked *rd, struct json_object *report, char *err, size_t errlen)
{
	int rc;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=reloading %s",
	           mono_ms() * 1000, rd->opt.config);
	rc = reload(rd, report, err, errlen);
	sd_notifyf(0, "READY=1\nSTATUS=%s: %zu connections",
	           rc < 0 ? "reload failed, old configuration kept" : "running", rd->cfg->nconns);
	return rc;
}

/* WATCHDOG=1 from the event loop: a loop that stops turning stops them. */
static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

/* WatchdogSec= of the unit (WATCHDOG_USEC): ping at half the interval. */
static int start_watchdog(struct riked *rd)
{
	uint64_t usec = 0;
	struct timeval tv;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	usec /= 2;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	rd->wd_timer = event_new(rd->base, -1, EV_PERSIST, watchdog_cb, rd);
	if (!rd->wd_timer || event_add(rd->wd_timer, &tv) < 0)
		return -1;
	log_msg(LOG_INFO, "daemon", "systemd watchdog: pinging every %" PRIu64 " ms", usec / 1000);
	return 0;
}

static int ctl_reload(void *ctx, struct json_object *report, char *err, size_t errlen)
{
	return reload_notify(ctx, report, err, errlen);
}

static const struct ctl_ops riked_ctl_ops = {.command = ctlcmd_run};

/* ---- shutdown ---- */

static void stop_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct riked *rd = arg;

	(void)fd;
	(void)what;
	if (ike_sa_count(rd->ike) == 0 || mono_ms() >= rd->stop_deadline)
		event_base_loopbreak(rd->base);
}

/* SIGTERM/SIGINT: delete our SAs (RFC 7296 1.4.1), wait briefly for the
 * answers, then leave. A second signal leaves at once. */
static void begin_stop(struct riked *rd, int sig)
{
	static const struct timeval tick = {0, 100 * 1000};

	if (rd->stopping) {
		event_base_loopbreak(rd->base);
		return;
	}
	rd->stopping = true;
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	log_msg(LOG_NOTICE, "daemon", "signal %d: closing %zu IKE SAs and stopping", sig,
	        ike_sa_count(rd->ike));
	ctl_free(rd->ctl);
	rd->ctl = NULL;
	for (size_t i = 0; i < rd->cfg->nconns; i++)
		(void)!ike_down(rd->ike, rd->cfg->conns[i].name);
	rearm(rd);
	rd->stop_deadline = mono_ms() + RIKED_SHUTDOWN_MS;
	rd->stop_timer = event_new(rd->base, -1, EV_PERSIST, stop_check_cb, rd);
	if (!rd->stop_timer || event_add(rd->stop_timer, &tick) < 0)
		event_base_loopbreak(rd->base);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct riked *rd = arg;

	(void)what;
	if (sig == SIGHUP) {
		char err[512];

		log_msg(LOG_NOTICE, "daemon", "SIGHUP: reloading %s", rd->opt.config);
		(void)reload_notify(rd, NULL, err, sizeof(err));
		return;
	}
	begin_stop(rd, (int)sig);
}

/* ---- process ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: riked [-f] [-c FILE] [-n] [-d] [-V|--version]\n"
	           "  -f       stay in the foreground\n"
	           "  -c FILE  configuration (default " RIKED_DEFAULT_CONFIG ")\n"
	           "  -n       check the configuration and exit\n"
	           "  -d       debug logging\n"
	           "  -V       print the version and exit\n");
}

static int parse_args(int argc, char **argv, struct riked_opts *o)
{
	static const struct option longopts[] = {
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	o->config = RIKED_DEFAULT_CONFIG;
	while ((ch = getopt_long(argc, argv, "fc:ndhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			o->foreground = true;
			break;
		case 'c':
			o->config = optarg;
			break;
		case 'n':
			o->check = true;
			break;
		case 'd':
			o->debug = true;
			break;
		case 'V':
			printf("riked %s\n", RIKE_VERSION_FULL);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	return optind == argc ? 0 : -1;
}

/*
 * Fork into the background. The parent waits until the child reports that
 * it started (one zero octet on the pipe) and exits 0, or 1 if the child
 * died first, so that "riked && echo ok" tells the truth.
 */
static int daemonize(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char c = 1;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		ssize_t n;

		close(p[1]);
		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 && c == 0 ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0 || chdir("/") < 0)
		return -1;
	umask(022);
	*ready_fd = p[1];
	return 0;
}

static void detach_stdio(int ready_fd)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	char zero = 0;

	if (fd >= 0) {
		(void)!dup2(fd, STDIN_FILENO);
		(void)!dup2(fd, STDOUT_FILENO);
		(void)!dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	(void)!write(ready_fd, &zero, 1);
	close(ready_fd);
}

/* The pid file: /run/riked/riked.pid, else the state directory. Locked
 * while we run, so a second daemon notices the first. */
static int write_pidfile(struct riked *rd)
{
	char buf[32];
	int len;

	if (mkdir(RIKED_RUN_DIR, 0755) == 0 || errno == EEXIST)
		snprintf(rd->pidfile, sizeof(rd->pidfile), "%s/riked.pid", RIKED_RUN_DIR);
	else
		snprintf(rd->pidfile, sizeof(rd->pidfile), "%s/riked.pid", rd->cfg->state_dir);
	rd->pid_fd = open(rd->pidfile, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (rd->pid_fd < 0 || lockf(rd->pid_fd, F_TLOCK, 0) < 0) {
		log_msg(LOG_ERR, "daemon", "pid file %s: %s", rd->pidfile,
		        errno == EAGAIN || errno == EACCES ? "another riked is running"
		                                           : strerror(errno));
		rd->pidfile[0] = '\0';
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(rd->pid_fd, 0) < 0 || write(rd->pid_fd, buf, (size_t)len) != len) {
		log_msg(LOG_ERR, "daemon", "pid file %s: %s", rd->pidfile, strerror(errno));
		return -1;
	}
	return 0;
}

static struct event *add_signal(struct riked *rd, int sig)
{
	struct event *ev = evsignal_new(rd->base, sig, signal_cb, rd);

	if (ev && evsignal_add(ev, NULL) < 0) {
		event_free(ev);
		return NULL;
	}
	return ev;
}

static int start_loop(struct riked *rd)
{
	static const struct timeval flush = {RIKED_RL_FLUSH_SEC, 0};

	signal(SIGPIPE, SIG_IGN);
	rd->base = event_base_new();
	if (!rd->base)
		return -1;
	rd->sig_hup = add_signal(rd, SIGHUP);
	rd->sig_term = add_signal(rd, SIGTERM);
	rd->sig_int = add_signal(rd, SIGINT);
	rd->timer = evtimer_new(rd->base, timer_cb, rd);
	rd->rl_timer = event_new(rd->base, -1, EV_PERSIST, rl_flush_cb, NULL);
	if (!rd->sig_hup || !rd->sig_term || !rd->sig_int || !rd->timer || !rd->rl_timer ||
	    event_add(rd->rl_timer, &flush) < 0)
		return -1;
	return 0;
}

static int start_engine(struct riked *rd)
{
	struct net_handlers nh = {.ike = on_ike, .esp = on_esp, .natt_closing = on_natt_closing};
	struct ike_host host = {
	    .ctx = rd,
	    .send = host_send,
	    .now_ms = host_now,
	    .child_up = host_child_up,
	    .child_down = host_child_down,
	    .child_moved = host_child_moved,
	    .resolve = host_resolve,
	    .route = host_route,
	    .ike_keys = host_ike_keys,
	    .spi_residue = host_spi_residue,
	};
	char why[256];

	rd->dpg =
	    dpglue_new_workers(rd->base, rd->cfg->dataplane, rd->cfg->ike_port, rd->cfg->natt_port,
	                       rd->cfg->dataplane_workers, why, sizeof(why));
	if (!rd->dpg) {
		log_msg(LOG_ERR, "daemon", "data plane: %s", why);
		return -1;
	}
	/* A backend that only does ESP-in-UDP (userspace) needs NAT-T on every
	 * SA: the engine forces it (RFC 7296 2.23). */
	host.force_encap = dpglue_requires_encap(rd->dpg);
	/* Without a resolver riked still runs: redirects to FQDNs then fail. */
	rd->res = resolver_new(rd->base, NULL, resolved, rd, why, sizeof(why));
	if (!rd->res)
		log_msg(LOG_ERR, "daemon", "no name resolution (redirects to FQDNs will fail): %s",
		        why);
	nh.natt_reuseport = dpglue_steers(rd->dpg);
	rd->net = net_new(rd->base, rd->cfg, &nh, rd);
	if (!rd->net || give_sockets(rd) < 0)
		return -1;
	/* Without rtnetlink riked still runs, but cannot follow addresses. */
	rd->am = addrmon_new(rd->base, on_addresses, rd);
	if (rd->am && addrmon_ignore_link(rd->am, DP_DEFAULT_IFNAME) < 0)
		return -1;
	dpglue_set_addrmon(rd->dpg, rd->am);
	if (rd->cfg->keylog_dir &&
	    !(rd->keylog = keylog_new(rd->base, rd->cfg->keylog_dir, why, sizeof(why)))) {
		log_msg(LOG_ERR, "keylog", "cannot export keys: %s", why);
		return -1;
	}
	rd->ike = ike_new(rd->cfg, &host);
	if (!rd->ike) {
		log_msg(LOG_ERR, "daemon", "cannot create the IKE engine");
		return -1;
	}
	if (ike_work_fd(rd->ike) >= 0 &&
	    (!(rd->work =
	           event_new(rd->base, ike_work_fd(rd->ike), EV_READ | EV_PERSIST, work_cb, rd)) ||
	     event_add(rd->work, NULL) < 0))
		return -1;
	if (rd->cfg->metrics_addr.ss_family &&
	    !(rd->metrics = metrics_new(rd->base, &rd->cfg->metrics_addr, rd->ike, rd->dpg,
	                                RIKE_VERSION, why, sizeof(why)))) {
		log_msg(LOG_ERR, "metrics", "%s", why);
		return -1;
	}
	if (rd->am)
		addrmon_flush(rd->am); /* the first ike_local_addresses */
	dpglue_set_ike(rd->dpg, rd->ike, rearm_cb, rd);
	rd->ctlh = (struct ctlcmd_host){
	    .ike = &rd->ike,
	    .dpg = &rd->dpg,
	    .cfg = &rd->cfg,
	    .version = RIKE_VERSION,
	    .started = time(NULL),
	    .ctx = rd,
	    .rearm = rearm_cb,
	    .reload = ctl_reload,
	};
	rd->ctl = ctl_new(rd->base, rd->cfg->control_socket, &riked_ctl_ops, &rd->ctlh);
	return rd->ctl ? 0 : -1;
}

/* Teardown in the reverse order: the engine's last child_down calls still
 * reach a live data plane, which then removes whatever is left. */
static void stop_all(struct riked *rd)
{
	ctl_free(rd->ctl);
	metrics_free(rd->metrics);
	if (rd->dpg)
		dpglue_set_addrmon(rd->dpg, NULL);
	addrmon_free(rd->am);
	rd->am = NULL;
	if (rd->work)
		event_free(rd->work);
	ike_free(rd->ike);
	rd->ike = NULL;
	resolver_free(rd->res); /* drops lookups in flight unanswered */
	dpglue_free(rd->dpg);
	rd->dpg = NULL; /* net_free's natt_closing finds none */
	keylog_free(rd->keylog);
	net_free(rd->net);
	if (rd->stop_timer)
		event_free(rd->stop_timer);
	if (rd->rl_timer)
		event_free(rd->rl_timer);
	if (rd->wd_timer)
		event_free(rd->wd_timer);
	if (rd->timer)
		event_free(rd->timer);
	if (rd->sig_hup)
		event_free(rd->sig_hup);
	if (rd->sig_term)
		event_free(rd->sig_term);
	if (rd->sig_int)
		event_free(rd->sig_int);
	if (rd->base)
		event_base_free(rd->base);
	if (rd->pidfile[0])
		unlink(rd->pidfile);
	if (rd->pid_fd >= 0)
		close(rd->pid_fd);
	cfg_free(rd->cfg);
	free(rd->cfg);
}

/* Load (and with -n only check) the configuration; "file:line: reason" on
 * error. A warning about readable secrets goes to stderr with -n; the
 * daemon logs it once its log is set up (warn_exposed_secrets). */
static int load_config(struct riked *rd)
{
	char err[PATH_MAX + 128];

	rd->cfg = calloc(1, sizeof(*rd->cfg));
	if (!rd->cfg)
		return -1;
	if (cfg_load(rd->opt.config, rd->cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (rd->opt.check && rd->cfg->secrets_exposed)
		fprintf(stderr, "riked: warning: %s\n",
		        exposed_secrets_text(rd->cfg, err, sizeof(err)));
	return 0;
}

/* The kernel or the machine cannot run the chosen data plane: say so now. */
static int probe_dataplane(const struct cfg *cfg)
{
	enum dp_backend b = cfg->dataplane == CFG_DP_XFRM ? DP_BACKEND_XFRM : DP_BACKEND_USERSPACE;
	char why[256];

	if (dp_probe(b, why, sizeof(why)) == 0)
		return 0;
	if (b == DP_BACKEND_XFRM)
		fprintf(stderr, "riked: %s; use dataplane = \"userspace\"\n", why);
	else
		fprintf(stderr, "riked: userspace data plane unavailable: %s\n", why);
	return -1;
}

int main(int argc, char **argv)
{
	struct riked rd = {.pid_fd = -1};
	int ready_fd = -1, rc = 1;

	if (parse_args(argc, argv, &rd.opt) < 0) {
		usage(stderr);
		return 2;
	}
	if (load_config(&rd) < 0)
		goto out;
	if (rd.opt.check) {
		char line[PATH_MAX + 256];

		cfg_summary(rd.cfg, line, sizeof(line));
		printf("configuration OK: %s\n", line);
		rc = 0;
		goto out;
	}
	apply_log_config(&rd, rd.cfg, false);
	if (probe_dataplane(rd.cfg) < 0)
		goto out;
	if (!rd.opt.foreground && daemonize(&ready_fd) < 0) {
		fprintf(stderr, "riked: cannot daemonize: %s\n", strerror(errno));
		goto out;
	}
	if (ready_fd >= 0 && write_pidfile(&rd) < 0)
		goto out;
	spimap_set_report(spimap_report);
	if (start_loop(&rd) < 0 || start_engine(&rd) < 0)
		goto out;
	if (ready_fd >= 0) {
		detach_stdio(ready_fd);
		ready_fd = -1;
		apply_log_config(&rd, rd.cfg, true);
	}
	log_msg(LOG_NOTICE, "daemon", "riked %s starting: config %s, dataplane %s, %zu connections",
	        RIKE_VERSION_FULL, rd.opt.config, dpglue_backend_name(rd.cfg->dataplane),
	        rd.cfg->nconns);
	warn_exposed_secrets(rd.cfg);
	ike_start(rd.ike);
	rearm(&rd);
	/* sd_notify(3): the sockets are bound and the configuration loaded. */
	if (start_watchdog(&rd) < 0)
		goto out;
	sd_notifyf(0, "READY=1\nSTATUS=running: %zu connections", rd.cfg->nconns);
	rc = event_base_dispatch(rd.base) < 0 ? 1 : 0;
	log_msg(LOG_NOTICE, "daemon", "riked %s stopped", RIKE_VERSION);
out:
	stop_all(&rd);
	log_rl_flush();
	log_close();
	return rc;
}
