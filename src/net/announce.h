/*
 * Telling the network where a VM's MAC addresses now are, after a
 * migration or restore (and on `godwit announce`): RARP frames sent by
 * the host from each NIC's MAC, as QEMU's self-announce does, so every
 * switch and bridge on the way learns the new port at once; the guest
 * is also asked to announce itself (virtio-net GUEST_ANNOUNCE). Rounds
 * repeat on QEMU's schedule, with its parameter names (announce-self):
 * the first at once, then after initial ms, each later gap step ms
 * longer, capped at max, rounds in all.
 */
#ifndef GODWIT_NET_ANNOUNCE_H
#define GODWIT_NET_ANNOUNCE_H

#include <stdint.h>

#define ANNOUNCE_FRAME_LEN 60 /* a minimum Ethernet frame, no FCS */

/* QEMU's defaults (qapi AnnounceParameters). */
#define ANNOUNCE_INITIAL_MS 50
#define ANNOUNCE_MAX_MS 550
#define ANNOUNCE_ROUNDS 5
#define ANNOUNCE_STEP_MS 100
#define ANNOUNCE_LIMIT_MS 100000 /* largest initial, max, step taken */
#define ANNOUNCE_ROUNDS_MAX 1000

struct announce_params {
	uint32_t initial_ms;
	uint32_t max_ms;
	uint32_t rounds;
	uint32_t step_ms;
};

/* QEMU's defaults: rounds at 0, 50, 200, 450 and 800 ms. */
void announce_params_default(struct announce_params *p);
/*
 * The gap in ms after round `done` (1 = the first, sent at once) before
 * the next one; only for done < p->rounds.
 */
uint32_t announce_gap_ms(const struct announce_params *p, uint32_t done);
/*
 * A RARP request "who is mac" from mac to the broadcast address
 * (ethertype 0x8035, QEMU's frame), zero-padded to 60 bytes.
 */
void announce_rarp(uint8_t frame[ANNOUNCE_FRAME_LEN], const uint8_t mac[6]);

#endif
