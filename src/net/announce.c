/* RARP announcements and their schedule (announce.h). Pure. */
#include "net/announce.h"

#include <string.h>

void announce_params_default(struct announce_params *p)
{
	*p = (struct announce_params){ ANNOUNCE_INITIAL_MS, ANNOUNCE_MAX_MS,
				       ANNOUNCE_ROUNDS, ANNOUNCE_STEP_MS };
}

uint32_t announce_gap_ms(const struct announce_params *p, uint32_t done)
{
	uint64_t gap = p->initial_ms + (uint64_t)(done - 1) * p->step_ms;

	return gap > p->max_ms ? p->max_ms : (uint32_t)gap;
}

void announce_rarp(uint8_t f[ANNOUNCE_FRAME_LEN], const uint8_t mac[6])
{
	static const uint8_t arp_hdr[8] = {
		0x00, 0x01, /* hardware: Ethernet */
		0x08, 0x00, /* protocol: IPv4 */
		6,    4, /* address lengths */
		0x00, 0x03, /* RARP request reverse */
	};

	memset(f, 0, ANNOUNCE_FRAME_LEN);
	memset(f, 0xff, 6); /* to everyone */
	memcpy(f + 6, mac, 6);
	f[12] = 0x80; /* ethertype RARP */
	f[13] = 0x35;
	memcpy(f + 14, arp_hdr, sizeof(arp_hdr));
	memcpy(f + 22, mac, 6); /* sender hardware address */
	/* sender IP (28..31) 0 */
	memcpy(f + 32, mac, 6); /* target hardware address */
	/* target IP (38..41) 0, then padding */
}
