/*
 * A Linux tap device carrying frames with a virtio-net header in front
 * (virtio/tap.c): opened by name with IFF_VNET_HDR, non-blocking, offloads
 * switched by TUNSETOFFLOAD.
 */
#ifndef KVMRUN_TAP_H
#define KVMRUN_TAP_H

#include <linux/if_tun.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* What the tap can take off the host: checksums and TSO (TUN_F_*). */
#define TAP_OFFLOADS	(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)

struct tap {
	int fd;
	char ifname[IFNAMSIZ];
	bool offloads;		/* TUNSETOFFLOAD works: offloads may be offered to a guest */
	unsigned offload;	/* the TUN_F_* flags the tap was last told */
};

/*
 * Attaches to (or creates) tap name with hdr_len-byte vnet headers, with
 * every offload off.  0, or -errno after one line that says what to do.
 */
int tap_open(struct tap *t, const char *name, int hdr_len);
/*
 * Adopts fd as a tap whose frames already carry the header (a test's
 * socketpair): made non-blocking, no offloads.  0 or -errno.
 */
int tap_adopt_fd(struct tap *t, int fd, const char *name);
void tap_close(struct tap *t);

/* Tells the tap which offloads the reader takes; a refusal only costs speed (logged, debug). */
void tap_set_offload(struct tap *t, unsigned flags);

/* One frame, header first.  Bytes moved, or -errno (-EAGAIN: nothing queued / no room). */
ssize_t tap_read(struct tap *t, const struct iovec *iov, unsigned n);
ssize_t tap_write(struct tap *t, const struct iovec *iov, unsigned n);

#endif
