#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kvmrun/config.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly xx:xx:xx:xx:xx:xx (sscanf's %x would also take signs, spaces and newlines). */
static int parse_mac(const char *s, uint8_t mac[6])
{
	if (strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	/* A multicast address cannot be a NIC's own. */
	return (mac[0] & 1) ? -EINVAL : 0;
}

int net_config_parse(const char *arg, struct net_config *nc, char *err, size_t errlen)
{
	char buf[256], *save = NULL, *opt;

	memset(nc, 0, sizeof(*nc));
	if (strlen(arg) >= sizeof(buf)) {
		snprintf(err, errlen, "--net: value too long");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", arg);
	for (opt = strtok_r(buf, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		int lim = rate_limit_parse_option(opt, "pps", &nc->limit, "--net", err, errlen);

		if (lim < 0)
			return lim;
		if (lim)
			continue;
		if (!strncmp(opt, "tap=", 4)) {
			size_t n = strlen(opt + 4);

			if (!n || n >= IFNAMSIZ || strchr(opt + 4, '/')) {
				snprintf(err, errlen, "--net: tap name '%s' must be 1-%d characters",
					 opt + 4, IFNAMSIZ - 1);
				return -EINVAL;
			}
			memcpy(nc->tap, opt + 4, n + 1);
		} else if (!strncmp(opt, "mac=", 4)) {
			if (parse_mac(opt + 4, nc->mac)) {
				snprintf(err, errlen, "--net: mac '%s': expected a unicast address "
					 "such as 52:54:00:12:34:56", opt + 4);
				return -EINVAL;
			}
			nc->mac_given = true;
		} else {
			snprintf(err, errlen, "--net: unknown option '%s' (tap=NAME, mac=MAC, pps=N, "
				 "bps=N, pps-burst=N, bps-burst=N)", opt);
			return -EINVAL;
		}
	}
	if (!nc->tap[0]) {
		snprintf(err, errlen, "--net '%s': expected tap=NAME[,mac=MAC]", arg);
		return -EINVAL;
	}
	return 0;
}
