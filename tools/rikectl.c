/* rikectl: the control and offline tool. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help")) {
		fprintf(stderr, "usage: rikectl decode FILE.pcap [--keys TABLE] [--json]\n");
		return argc < 2 ? 2 : 0;
	}
	fprintf(stderr, "rikectl: unknown command '%s'\n", argv[1]);
	return 2;
}
