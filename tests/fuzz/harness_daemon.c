/*
 * Fuzz target bodies for the daemon's local inputs: the configuration file
 * (cfg_load_string) and the control socket's request line
 * (ctl_parse_request). Neither is peer input, but both must refuse
 * malformed text without crashing.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h> /* strcasestr: _GNU_SOURCE comes from the build */

#include "daemon/config.h"
#include "daemon/ctl.h"
#include "harness.h"

#define FUZZ_CONFIG_MAX (64u * 1024u)

/* A NUL-terminated copy of the input (the parsers take C strings). */
static char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		return NULL;
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

int fuzz_config_one(const uint8_t *data, size_t size)
{
	struct cfg cfg;
	char err[512];
	char *text;

	if (size > FUZZ_CONFIG_MAX)
		return 0;
	text = fuzz_cstr(data, size);
	if (!text)
		return 0;
	/*
	 * libconfig's @include reads any file named (e.g. /dev/zero); that is
	 * the administrator's business, not the parser's, so it is kept out.
	 */
	if (!strcasestr(text, "@include")) {
		memset(&cfg, 0, sizeof(cfg));
		err[0] = '\0';
		if (cfg_load_string(text, "fuzz.conf", &cfg, err, sizeof(err)) < 0) {
			if (!err[0] || cfg.nconns || cfg.conns)
				abort(); /* failures say why and leave cfg empty */
		}
		cfg_free(&cfg);
	}
	free(text);
	return 0;
}

/* As the server reads it (ctl.c): one line, capped at CTL_MAX_REQUEST octets, no NUL. */
int fuzz_ctl_one(const uint8_t *data, size_t size)
{
	char *argv[CTL_MAX_ARGS];
	const uint8_t *nl = memchr(data, '\n', size);
	const char *why = NULL;
	bool json;
	char *line;
	int argc;

	if (nl)
		size = (size_t)(nl - data);
	if (size >= CTL_MAX_REQUEST || memchr(data, '\0', size))
		return 0;
	line = fuzz_cstr(data, size);
	if (!line)
		return 0;
	argc = ctl_parse_request(line, argv, &json, &why);
	if (argc < 0 && !why)
		abort();
	if (argc == 0 || argc > CTL_MAX_ARGS)
		abort();
	for (int i = 0; i < argc; i++) {
		if (!argv[i][0] || strpbrk(argv[i], " \t") || !strcmp(argv[i], "--json"))
			abort(); /* words are non-empty, split and without the flag */
	}
	free(line);
	return 0;
}
