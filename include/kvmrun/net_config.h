/* What --net asks for (parsed with the rest of the command line). */
#ifndef KVMRUN_NET_CONFIG_H
#define KVMRUN_NET_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmrun/ratelimit.h"

/* --net tap=NAME[,mac=52:54:00:12:34:56][,pps=N][,bps=N][,pps-burst=N][,bps-burst=N] */
struct net_config {
	char tap[IFNAMSIZ];
	uint8_t mac[6];
	bool mac_given;		/* else a locally administered MAC is made up */
	struct rate_limit_params limit;	/* what the guest sends: frames and bytes per second */
};

#endif
