/*
 * net.elf: what the virtio-net driver (net.c) and the protocol code
 * (net_pkt.c) share. Both run in ring 0 (see net.c for why).
 */
#ifndef GUEST_NET_H
#define GUEST_NET_H

#include "kernel.h"

#define NET_MTU 1500
#define ETH_HLEN 14
#define ETH_MIN_FRAME 60 /* without FCS */
#define NET_UDP_SEQ_BYTES 8 /* the guest's sequence number, appended */

struct net_addr {
	uint8_t mac[6];
	uint8_t ip[4];
	uint16_t udp_port; /* the echo service */
};

struct net_counts {
	uint64_t arp; /* ARP replies sent */
	uint64_t icmp; /* echo replies sent */
	uint64_t udp; /* UDP echo replies sent */
	uint64_t udp_seq; /* UDP echo requests received (the numbering) */
	uint64_t dropped; /* frames for us that got no reply */
};

/*
 * Turn the frame f (len bytes, in a buffer of room bytes) into its reply
 * in place: ARP requests for our address, ICMP echo requests and UDP
 * datagrams to the echo port. Returns the reply's length, or 0 for a
 * frame that gets none (not for us, malformed, unknown protocol).
 */
uint32_t net_reply(uint8_t *f, uint32_t len, uint32_t room,
		   const struct net_addr *me, struct net_counts *c);
/* A gratuitous ARP (a broadcast request for our own address) at f. */
uint32_t net_garp(uint8_t *f, const struct net_addr *me);

#endif
