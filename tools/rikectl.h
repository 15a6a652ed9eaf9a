/* rikectl's subcommands; each returns the process exit status. */
#ifndef RIKE_TOOLS_RIKECTL_H
#define RIKE_TOOLS_RIKECTL_H

/* tools/rikectl_decode.c: rikectl decode FILE.pcap [--keys TABLE] [--json] */
int rikectl_decode(int argc, char **argv);
/* tools/rikectl_ctl.c: up, down, status, list-sas, reload, qcd ... over the control socket */
int rikectl_ctl(int argc, char **argv);

#endif
