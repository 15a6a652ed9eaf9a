/*
 * rikectl: the control and offline tool. This file only dispatches:
 * `decode` reads captures offline (rikectl_decode.c); the control
 * commands talk to riked over its socket (rikectl_ctl.c).
 */
#include <stdio.h>
#include <string.h>

#include "rikectl.h"
#include "rike_version.h" /* generated: cmake/version.cmake */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: rikectl --version\n"
	    "       rikectl decode FILE.pcap [--keys TABLE] [--json] [--dump-dir DIR]\n"
	    "       rikectl [-s SOCKET] up|down NAME\n"
	    "       rikectl [-s SOCKET] status|list-sas [--json]\n"
	    "       rikectl [-s SOCKET] reload\n"
	    "       rikectl [-s SOCKET] rekey-ike|rekey-child|dpd NAME\n"
	    "       rikectl [-s SOCKET] qcd rollover|reset\n"
	    "       rikectl [-s SOCKET] redirect --to GW (--all | --conn NAME | --sa SERIAL |\n"
	    "                           --peer ADDR[/LEN] | --id PATTERN) [--json]\n"
	    "       rikectl [-s SOCKET] redirect --drain (--to GW [--rate N] | --stop) [--json]\n"
	    "       rikectl [-s SOCKET] redirect --status [--json]\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("rikectl %s\n", RIKE_VERSION_FULL);
		return 0;
	}
	if (!strcmp(argv[1], "decode"))
		return rikectl_decode(argc - 1, argv + 1);
	/* Everything else is a control command; riked judges the name. */
	return rikectl_ctl(argc, argv);
}
