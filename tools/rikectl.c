/*
 * rikectl: the control and offline tool. This file only dispatches:
 * `decode` reads captures offline (rikectl_decode.c); the control
 * commands talk to riked over its socket (rikectl_ctl.c).
 */
#include <string.h>

#include "rikectl.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "decode"))
		return rikectl_decode(argc - 1, argv + 1);
	/* Everything else (help and --version included) is the control
	 * client's: it knows the commands' syntax, riked judges the rest. */
	return rikectl_ctl(argc, argv);
}
