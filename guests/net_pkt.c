/*
 * net.elf, ring 0: the protocols, each answered in the receive buffer
 * itself so that no payload is copied in emulated ring 0.
 *   ARP      a request for our IPv4 address gets a reply (RFC 826);
 *   ICMP     an echo request gets an echo reply (RFC 792), its checksum
 *            adjusted for the changed type (RFC 1624), data unchanged;
 *   UDP      a datagram to the echo port comes back from it with the
 *            same payload followed by the guest's sequence number of the
 *            request (8 bytes, big-endian, 1 for the first), so a client
 *            sees loss, duplication and reordering on both paths. The
 *            reply's UDP checksum is 0 (none, allowed in IPv4);
 *            payloads up to 1464 bytes, so the reply fits a 1500 MTU.
 * IPv4 fragments, options-bearing headers with bad checksums and
 * everything else are dropped.
 */
#include "net.h"

#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define IPPROTO_ICMP 1
#define IPPROTO_UDP 17
#define ARP_LEN 28

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void copy(uint8_t *dst, const uint8_t *src, unsigned int n)
{
	while (n--)
		*dst++ = *src++;
}

static bool same(const uint8_t *a, const uint8_t *b, unsigned int n)
{
	while (n--)
		if (*a++ != *b++)
			return false;
	return true;
}

static void swap(uint8_t *a, uint8_t *b, unsigned int n)
{
	while (n--) {
		uint8_t t = *a;

		*a++ = *b;
		*b++ = t;
	}
}

/* Ones' complement sum of n bytes (n even), folded to 16 bits. */
static uint16_t csum(const uint8_t *p, unsigned int n)
{
	uint32_t s = 0;

	for (; n > 1; n -= 2, p += 2)
		s += be16(p);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* RFC 1624: the checksum after a 16-bit word changed from old to new. */
static uint16_t csum_adjust(uint16_t sum, uint16_t old, uint16_t new_word)
{
	uint32_t s = (uint16_t)~sum + (uint32_t)(uint16_t)~old + new_word;

	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Answer from us to whoever sent f. */
static void eth_reply(uint8_t *f, const struct net_addr *me)
{
	copy(f, f + 6, 6);
	copy(f + 6, me->mac, 6);
}

static uint32_t arp(uint8_t *f, uint32_t len, const struct net_addr *me,
		    struct net_counts *c)
{
	uint8_t *a = f + ETH_HLEN;

	if (len < ETH_HLEN + ARP_LEN || be16(a) != 1 ||
	    be16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4 ||
	    be16(a + 6) != 1 || !same(a + 24, me->ip, 4))
		return 0;
	put16(a + 6, 2);
	copy(a + 18, a + 8, 10); /* target: the requester's MAC and IP */
	copy(a + 8, me->mac, 6);
	copy(a + 14, me->ip, 4);
	eth_reply(f, me);
	c->arp++;
	if (len < ETH_MIN_FRAME)
		len = ETH_MIN_FRAME;
	memset(f + ETH_HLEN + ARP_LEN, 0, len - ETH_HLEN - ARP_LEN);
	return len;
}

uint32_t net_garp(uint8_t *f, const struct net_addr *me)
{
	static const uint8_t head[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	uint8_t *a = f + ETH_HLEN;

	memset(f, 0, ETH_MIN_FRAME);
	memset(f, 0xff, 6);
	copy(f + 6, me->mac, 6);
	put16(f + 12, ETH_P_ARP);
	copy(a, head, 8);
	copy(a + 8, me->mac, 6);
	copy(a + 14, me->ip, 4);
	copy(a + 24, me->ip, 4);
	return ETH_MIN_FRAME;
}

/* IP header of the reply: addresses swapped, TTL 64, new length. */
static void ip_reply(uint8_t *ip, uint32_t ihl, uint16_t total)
{
	swap(ip + 12, ip + 16, 4);
	put16(ip + 2, total);
	ip[8] = 64;
	put16(ip + 10, 0);
	put16(ip + 10, (uint16_t)~csum(ip, ihl));
}

static uint32_t icmp(uint8_t *ip, uint32_t ihl, uint16_t total,
		     struct net_counts *c)
{
	uint8_t *m = ip + ihl;

	if (total < ihl + 8 || m[0] != 8 || m[1] != 0)
		return 0;
	m[0] = 0; /* echo reply */
	put16(m + 2, csum_adjust(be16(m + 2), 0x0800, 0x0000));
	ip_reply(ip, ihl, total);
	c->icmp++;
	return ETH_HLEN + total;
}

static uint32_t udp(uint8_t *ip, uint32_t ihl, uint16_t total, uint32_t room,
		    const struct net_addr *me, struct net_counts *c)
{
	uint8_t *u = ip + ihl;
	uint16_t ulen;
	uint64_t seq;
	int i;

	if (total < ihl + 8 || be16(u + 2) != me->udp_port)
		return 0;
	ulen = be16(u + 4);
	if (ulen < 8 || (uint32_t)ulen > total - ihl ||
	    ihl + ulen + NET_UDP_SEQ_BYTES > NET_MTU ||
	    ETH_HLEN + ihl + ulen + NET_UDP_SEQ_BYTES > room) {
		c->dropped++;
		return 0;
	}
	seq = ++c->udp_seq;
	for (i = 0; i < NET_UDP_SEQ_BYTES; i++)
		u[ulen + i] = (uint8_t)(seq >> (56 - 8 * i));
	swap(u, u + 2, 2);
	put16(u + 4, (uint16_t)(ulen + NET_UDP_SEQ_BYTES));
	put16(u + 6, 0);
	ip_reply(ip, ihl, (uint16_t)(ihl + ulen + NET_UDP_SEQ_BYTES));
	c->udp++;
	return ETH_HLEN + ihl + ulen + NET_UDP_SEQ_BYTES;
}

static uint32_t ipv4(uint8_t *f, uint32_t len, uint32_t room,
		     const struct net_addr *me, struct net_counts *c)
{
	uint8_t *ip = f + ETH_HLEN;
	uint32_t ihl, n = 0;
	uint16_t total;

	if (len < ETH_HLEN + 20 || ip[0] >> 4 != 4 || !same(f, me->mac, 6))
		return 0;
	ihl = (ip[0] & 15) * 4u;
	total = be16(ip + 2);
	if (ihl < 20 || total < ihl || ETH_HLEN + (uint32_t)total > len ||
	    (be16(ip + 6) & 0x3fff) || !same(ip + 16, me->ip, 4) ||
	    csum(ip, ihl) != 0xffff)
		return 0;
	if (ip[9] == IPPROTO_ICMP)
		n = icmp(ip, ihl, total, c);
	else if (ip[9] == IPPROTO_UDP)
		n = udp(ip, ihl, total, room, me, c);
	if (n)
		eth_reply(f, me);
	return n;
}

uint32_t net_reply(uint8_t *f, uint32_t len, uint32_t room,
		   const struct net_addr *me, struct net_counts *c)
{
	if (len < ETH_HLEN)
		return 0;
	if (be16(f + 12) == ETH_P_ARP)
		return arp(f, len, me, c);
	if (be16(f + 12) == ETH_P_IP)
		return ipv4(f, len, room, me, c);
	return 0;
}
