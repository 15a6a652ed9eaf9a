/*
 * rikectl: the control and offline tool. This file only dispatches:
 * `decode` reads captures offline (rikectl_decode.c); the control
 * commands talk to riked over its socket (rikectl_ctl.c).
 */
#include <stdio.h>
#include <string.h>

#include "rikectl.h"

static const char *const ctl_cmds[] = {"up", "down", "status", "list-sas", "reload", "qcd"};

/*
 * Linked only while tools/rikectl_ctl.c is absent: its strong definition
 * replaces this one.
 */
__attribute__((weak)) int rikectl_ctl(int argc, char **argv)
{
	fprintf(stderr, "rikectl: control commands unavailable\n");
	return 2;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: rikectl decode FILE.pcap [--keys TABLE] [--json]\n"
	           "       rikectl up|down|status|list-sas|reload|qcd [ARGS...]\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "decode"))
		return rikectl_decode(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		if (!strcmp(argv[1], ctl_cmds[i]))
			return rikectl_ctl(argc - 1, argv + 1);
	fprintf(stderr, "rikectl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
