/*
 * Machine identity in the configuration: UUIDs (canonical 8-4-4-4-12
 * text, random version 4 when the config has none, as xl does) and MAC
 * addresses (random ones are locally administered unicast, so they never
 * collide with a vendor's). Randomness comes from getrandom(2), or
 * /dev/urandom where that system call is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/util.h"
#include "config/internal.h"

static int urandom_read(void *buf, size_t len)
{
	int fd, rc;

	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = read_full(fd, buf, len);
	close(fd);
	return rc;
}

static int config_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t r;

	while (len) {
		r = getrandom(p, len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == ENOSYS)
			return urandom_read(p, len);
		if (r < 0)
			return -errno;
		p += r;
		len -= r;
	}
	return 0;
}

int config_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Two hex digits at s as one byte; -1 if they are not. */
static int hex_byte(const char *s)
{
	int hi = config_hex_digit((unsigned char)s[0]), lo;

	if (hi < 0)
		return -1;
	lo = config_hex_digit((unsigned char)s[1]);
	return lo < 0 ? -1 : hi << 4 | lo;
}

int domain_config_uuid_parse(const char *s, uint8_t uuid_out[16])
{
	uint8_t uuid[16];
	size_t i, n = 0;
	int byte;

	if (strlen(s) != DOMAIN_UUID_STR_LEN)
		return -EINVAL;
	for (i = 0; i < DOMAIN_UUID_STR_LEN;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -EINVAL;
			continue;
		}
		byte = hex_byte(s + i);
		if (byte < 0)
			return -EINVAL;
		uuid[n++] = (uint8_t)byte;
		i += 2;
	}
	memcpy(uuid_out, uuid, sizeof(uuid));
	return 0;
}

void domain_config_uuid_format(const uint8_t uuid[16],
			       char out[DOMAIN_UUID_STR_LEN + 1])
{
	snprintf(out, DOMAIN_UUID_STR_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 uuid[0], uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6],
		 uuid[7], uuid[8], uuid[9], uuid[10], uuid[11], uuid[12],
		 uuid[13], uuid[14], uuid[15]);
}

int config_mac_parse(const char *s, uint8_t mac_out[6])
{
	uint8_t mac[6];
	int i, byte;

	if (strlen(s) != DOMAIN_MAC_STR_LEN)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		byte = hex_byte(s + 3 * i);
		if (byte < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)byte;
	}
	memcpy(mac_out, mac, sizeof(mac));
	return 0;
}

void domain_config_mac_format(const uint8_t mac[6],
			      char out[DOMAIN_MAC_STR_LEN + 1])
{
	snprintf(out, DOMAIN_MAC_STR_LEN + 1, "%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

int config_mac_generate(uint8_t mac_out[6])
{
	uint8_t r[3];
	int rc = config_random(r, sizeof(r));

	if (rc)
		return rc;
	/*
	 * As xl: Xen's OUI 00:16:3e with three random bytes, the top bit of
	 * the first clear (Xen leaves the upper half of its range unused).
	 */
	mac_out[0] = 0x00;
	mac_out[1] = 0x16;
	mac_out[2] = 0x3e;
	mac_out[3] = r[0] & 0x7f;
	mac_out[4] = r[1];
	mac_out[5] = r[2];
	return 0;
}

int domain_config_uuid_generate(uint8_t uuid_out[16])
{
	int rc = config_random(uuid_out, 16);

	if (rc)
		return rc;
	/* RFC 4122 version 4 (random), variant 10x. */
	uuid_out[6] = (uuid_out[6] & 0x0f) | 0x40;
	uuid_out[8] = (uuid_out[8] & 0x3f) | 0x80;
	return 0;
}
