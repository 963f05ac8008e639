/*
 * The command line (src/config.c config_parse) and the option values it
 * hands on (--disk: disk_config_parse, --net: net_config_parse, sizes):
 * the input split on NUL bytes is argv[1..].  On success the config must
 * be one kvmrun can run; on failure the message must be one printable line.
 * The same words go through the QEMU-compatible front (src/qemu_args.c) too.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "kvmrun/config.h"
#include "kvmrun/qemu_args.h"

#define MAX_ARGS	64
#define ERRLEN		256

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_everything();
	return 0;
}

static void check_message(const char *err, size_t errlen)
{
	size_t n = strnlen(err, errlen);

	FUZZ_CHECK(n > 0 && n < errlen, "error message of %zu bytes", n);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)err[i] >= 0x20 && err[i] != 0x7f,
			   "control character 0x%02x in the error message", (unsigned char)err[i]);
	/* A message about an option quotes that option, which starts with a dash. */
	if (!strncmp(err, "unknown option '", 16) || !strncmp(err, "option '", 8))
		FUZZ_CHECK(strchr(err, '\'')[1] == '-', "message names a non-option: %s", err);
}

static void check_config(const struct vm_config *c)
{
	FUZZ_CHECK(c->cmd != CMD_RUN || (c->kernel && *c->kernel), "run without a kernel");
	FUZZ_CHECK(c->cpus >= 1 && c->cpus <= CPUS_MAX, "%u cpus", c->cpus);
	FUZZ_CHECK(c->mem_size >= (2ULL << 20) && c->mem_size <= (1ULL << 40) &&
		   !(c->mem_size & 0xfff), "memory %llu", (unsigned long long)c->mem_size);
	FUZZ_CHECK(c->timeout == 0 || (isfinite(c->timeout) && c->timeout > 0),
		   "timeout %g", c->timeout);
	FUZZ_CHECK(!c->append || strlen(c->append) < CMDLINE_MAX, "append too long");
	FUZZ_CHECK(c->nr_disks <= MAX_DISKS, "%u disks", c->nr_disks);
	for (unsigned i = 0; i < c->nr_disks; i++) {
		const struct disk_config *d = &c->disks[i];

		FUZZ_CHECK(d->path[0] && strnlen(d->path, sizeof(d->path)) < sizeof(d->path) &&
			   strnlen(d->serial, sizeof(d->serial)) < sizeof(d->serial) &&
			   d->num_queues >= 1 && d->num_queues <= 16, "disk %u", i);
	}
	if (c->has_net) {
		size_t n = strnlen(c->net.tap, sizeof(c->net.tap));

		FUZZ_CHECK(n > 0 && n < sizeof(c->net.tap) && !strchr(c->net.tap, '/'),
			   "tap name");
		FUZZ_CHECK(!c->net.mac_given || !(c->net.mac[0] & 1), "multicast MAC");
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A MAC that --net took was written as six pairs of hex digits, and means what they say. */
static void check_mac(const char *arg, const struct net_config *nc)
{
	const char *m = NULL;

	for (const char *p = arg; (p = strstr(p, "mac=")); p++)
		if (p == arg || p[-1] == ',')
			m = p + 4;
	FUZZ_CHECK(m, "MAC taken from '%s' without mac=", arg);
	for (unsigned i = 0; i < 6; i++) {
		int hi = hexval(m[3 * i]), lo = hi < 0 ? -1 : hexval(m[3 * i + 1]);

		FUZZ_CHECK(hi >= 0 && lo >= 0 && (i == 5 ? (m[17] == 0 || m[17] == ',') :
						 m[3 * i + 2] == ':'),
			   "MAC '%.20s' is not xx:xx:xx:xx:xx:xx", m);
		FUZZ_CHECK(nc->mac[i] == (hi << 4 | lo), "MAC '%.17s' byte %u read as 0x%02x", m, i,
			   nc->mac[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *argv[MAX_ARGS + 2], *err = malloc(ERRLEN);
	char arg0[] = "kvmrun";
	struct vm_config cfg;
	struct disk_config dc;
	struct net_config nc;
	int argc = 1;
	uint64_t sz;

	if (!buf || !err)
		abort();
	memcpy(buf, data, size);
	buf[size] = 0;
	argv[0] = arg0;
	for (size_t i = 0; i <= size && argc <= MAX_ARGS; argc++) {
		argv[argc] = buf + i;
		i += strlen(buf + i) + 1;
	}
	argv[argc] = NULL;

	/* Each word on its own through the value parsers (config_parse may reorder argv). */
	for (int i = 1; i < argc; i++) {
		if (disk_config_parse(argv[i], &dc, err, ERRLEN))
			FUZZ_CHECK(err[0] && strnlen(err, ERRLEN) < ERRLEN, "disk message");
		if (net_config_parse(argv[i], &nc, err, ERRLEN))
			FUZZ_CHECK(err[0] && strnlen(err, ERRLEN) < ERRLEN, "net message");
		else if (nc.mac_given)
			check_mac(argv[i], &nc);
		parse_size(argv[i], &sz);
	}

	/* Before config_parse, which may reorder argv; qemu_args_parse only reads it. */
	struct qemu_args *qa = malloc(sizeof(*qa));

	if (!qa)
		abort();
	memset(err, 0, ERRLEN);
	if (qemu_args_parse(qa, argc, argv, 1, err, ERRLEN)) {
		size_t n = strnlen(err, ERRLEN);

		FUZZ_CHECK(n > 0 && n < ERRLEN, "qemu: error message of %zu bytes", n);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK((unsigned char)err[i] >= 0x20 && err[i] != 0x7f,
				   "qemu: control character 0x%02x in the error message",
				   (unsigned char)err[i]);
	} else {
		check_config(&qa->cfg);
	}
	free(qa);

	memset(err, 0, ERRLEN);
	if (config_parse(&cfg, argc, argv, err, ERRLEN))
		check_message(err, ERRLEN);
	else
		check_config(&cfg);
	free(err);
	free(buf);
	return 0;
}
