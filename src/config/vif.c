/*
 * Network interface specs, as xl-network-configuration(5) writes them:
 *
 *   vif = [ 'mac=00:16:3e:12:34:56, bridge=br0, vifname=web0,
 *            script=vif-custom, ip=10.0.0.2, rate=10Mb/s@20ms' ]
 *
 * mac (generated in Xen's 00:16:3e range when absent, as xl does, so it
 * is written into the canonical text and stays the same across save,
 * restore and migration), bridge, vifname, model, script (xl's vif
 * hotplug script), ip (what the script is told) and rate (a transmit
 * limit). A few harmless xl parameters are ignored with a warning; any
 * other is refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/internal.h"

/* xl vif parameters accepted and ignored. */
static const char *const vif_ignored[] = {
	"type",
	"backend",
	"gatewaydev",
	"mtu",
};

enum vif_key {
	VIF_MAC,
	VIF_BRIDGE,
	VIF_VIFNAME,
	VIF_MODEL,
	VIF_SCRIPT,
	VIF_IP,
	VIF_RATE,
	VIF_NR_KEYS
};

static const char *const vif_keys[VIF_NR_KEYS] = {
	"mac", "bridge", "vifname", "model", "script", "ip", "rate",
};

static int vif_mac(const struct config_spec *sp, struct domain_vif *out,
		   const struct config_item *it)
{
	char text[DOMAIN_MAC_STR_LEN + 1], buf[80];
	static const uint8_t zero[6];

	config_span_shown(buf, sizeof(buf), it->val, it->vlen);
	if (it->vlen > DOMAIN_MAC_STR_LEN)
		return config_spec_error(
			sp, "invalid mac %s (expected xx:xx:xx:xx:xx:xx)", buf);
	memcpy(text, it->val, it->vlen);
	text[it->vlen] = 0;
	if (config_mac_parse(text, out->mac))
		return config_spec_error(
			sp, "invalid mac %s (expected xx:xx:xx:xx:xx:xx)", buf);
	if (out->mac[0] & 1)
		return config_spec_error(sp, "mac %s is a multicast address",
					 buf);
	if (!memcmp(out->mac, zero, sizeof(zero)))
		return config_spec_error(sp, "mac %s is not a valid address",
					 buf);
	return 0;
}

static int vif_ifname(const struct config_spec *sp, const char *what, char *out,
		      const struct config_item *it)
{
	char text[DOMAIN_IFNAME_MAX + 1], buf[80];

	if (it->vlen && it->vlen <= DOMAIN_IFNAME_MAX) {
		memcpy(text, it->val, it->vlen);
		text[it->vlen] = 0;
		if (config_is_plain_word(text))
			return config_span_copy(sp, what, out,
						DOMAIN_IFNAME_MAX, it);
	}
	return config_spec_error(
		sp, "invalid %s %s (1 to %d of A-Z a-z 0-9 _ . -)", what,
		config_span_shown(buf, sizeof(buf), it->val, it->vlen),
		DOMAIN_IFNAME_MAX);
}

static int vif_model(const struct config_spec *sp, struct domain_vif *out,
		     const struct config_item *it)
{
	char buf[80];

	if (config_span_is(it->val, it->vlen, "virtio") ||
	    config_span_is(it->val, it->vlen, "virtio-net")) {
		out->model = DOMAIN_VIF_VIRTIO;
		return 0;
	}
	return config_spec_error(sp, "model %s is not supported (only virtio)",
				 config_span_shown(buf, sizeof(buf), it->val,
						   it->vlen));
}

/* A script name or path: printable bytes, no blanks at either end. */
static int vif_script(const struct config_spec *sp, struct domain_vif *out,
		      const struct config_item *it)
{
	char buf[80];
	size_t i;

	for (i = 0; i < it->vlen; i++) {
		if ((unsigned char)it->val[i] < 0x20 || it->val[i] == 0x7f)
			break;
	}
	if (!it->vlen || i < it->vlen)
		return config_spec_error(sp, "invalid script %s",
					 config_span_shown(buf, sizeof(buf),
							   it->val, it->vlen));
	return config_span_copy(sp, "script", out->script, DOMAIN_SCRIPT_MAX,
				it);
}

/* One IPv4 or IPv6 address of an ip= list. */
static bool vif_is_address(const char *s, size_t len)
{
	char text[INET6_ADDRSTRLEN];
	uint8_t bin[16];

	if (!len || len >= sizeof(text))
		return false;
	memcpy(text, s, len);
	text[len] = 0;
	return inet_pton(AF_INET, text, bin) == 1 ||
	       inet_pton(AF_INET6, text, bin) == 1;
}

/* ip=: one address or several separated by blanks (xl's form). */
static int vif_ip(const struct config_spec *sp, struct domain_vif *out,
		  const struct config_item *it)
{
	const char *p = it->val, *end = it->val + it->vlen, *w;
	char buf[80], *o = out->ip;

	if (it->vlen > DOMAIN_VIF_IP_MAX)
		return config_spec_error(sp, "ip too long (max %d bytes)",
					 DOMAIN_VIF_IP_MAX);
	memset(out->ip, 0, sizeof(out->ip));
	while (p < end) {
		for (w = p; w < end && *w != ' ' && *w != '\t'; w++)
			;
		if (!vif_is_address(p, (size_t)(w - p)))
			return config_spec_error(
				sp, "invalid ip %s (IPv4 or IPv6 addresses)",
				config_span_shown(buf, sizeof(buf), it->val,
						  it->vlen));
		if (o != out->ip)
			*o++ = ' ';
		memcpy(o, p, (size_t)(w - p));
		o += w - p;
		for (p = w; p < end && (*p == ' ' || *p == '\t'); p++)
			;
	}
	if (o == out->ip)
		return config_spec_error(sp, "ip is empty");
	return 0;
}

/* RATE "/s": digits, an optional K M G (10^3...), then B (bytes) or b. */
static int rate_amount(const char *s, const char *end, uint64_t *out)
{
	uint64_t v = 0, mult = 1;

	if (s == end || *s < '0' || *s > '9')
		return -EINVAL;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (s < end && strchr("KMG", *s) && *s)
		mult = *s == 'K' ? 1000 : *s == 'M' ? 1000000 : 1000000000;
	s += mult > 1;
	if (end - s != 3 || (s[0] != 'B' && s[0] != 'b') || s[1] != '/' ||
	    s[2] != 's')
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult / (s[0] == 'b' ? 8 : 1);
	return 0;
}

/* INTERVAL: digits, then s, ms or us (microseconds without a unit). */
static int rate_interval(const char *s, const char *end, uint32_t *out)
{
	uint64_t v = 0, mult;

	if (s == end || *s < '0' || *s > '9')
		return -EINVAL;
	for (; s < end && *s >= '0' && *s <= '9' && v <= 1000000000; s++)
		v = v * 10 + (uint64_t)(*s - '0');
	if (s == end || (end - s == 2 && !memcmp(s, "us", 2)))
		mult = 1;
	else if (end - s == 2 && !memcmp(s, "ms", 2))
		mult = 1000;
	else if (end - s == 1 && *s == 's')
		mult = 1000000;
	else
		return -EINVAL;
	v *= mult;
	if (!v || v > 60ULL * 1000000)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int config_vif_rate_parse(const char *s, size_t len, uint64_t *bytes_per_s,
			  uint32_t *interval_us)
{
	const char *end = s + len, *at = memchr(s, '@', len);
	uint64_t per_interval;
	int rc;

	*interval_us = DOMAIN_VIF_RATE_INTERVAL_US;
	rc = rate_amount(s, at ? at : end, bytes_per_s);
	if (!rc && at)
		rc = rate_interval(at + 1, end, interval_us);
	if (rc)
		return rc;
	/* As xl: a credit of 1 byte to 4 GiB per interval. */
	per_interval = *bytes_per_s / 1000000 * *interval_us +
		       *bytes_per_s % 1000000 * *interval_us / 1000000;
	if (!per_interval || per_interval > UINT32_MAX)
		return -ERANGE;
	return 0;
}

static int vif_rate(const struct config_spec *sp, struct domain_vif *out,
		    const struct config_item *it)
{
	char buf[80];
	int rc = config_vif_rate_parse(it->val, it->vlen,
				       &out->rate_bytes_per_s,
				       &out->rate_interval_us);

	config_span_shown(buf, sizeof(buf), it->val, it->vlen);
	if (rc == -ERANGE)
		return config_spec_error(
			sp,
			"rate %s is out of range (1 byte to 4 GiB per interval, an interval of 1 us to 60 s)",
			buf);
	if (rc)
		return config_spec_error(
			sp,
			"invalid rate %s (expected RATE/s[@INTERVAL], e.g. 10Mb/s@20ms)",
			buf);
	return 0;
}

static int vif_value(const struct config_spec *sp, struct domain_vif *out,
		     enum vif_key k, const struct config_item *it)
{
	switch (k) {
	case VIF_MAC:
		return vif_mac(sp, out, it);
	case VIF_BRIDGE:
		return vif_ifname(sp, "bridge", out->bridge, it);
	case VIF_VIFNAME:
		return vif_ifname(sp, "vifname", out->vifname, it);
	case VIF_MODEL:
		return vif_model(sp, out, it);
	case VIF_SCRIPT:
		return vif_script(sp, out, it);
	case VIF_IP:
		return vif_ip(sp, out, it);
	default:
		return vif_rate(sp, out, it);
	}
}

/* One key=value of a vif spec; seen has a bit per key already given. */
static int vif_item(const struct config_spec *sp, struct domain_vif *out,
		    const struct config_item *it, unsigned int *seen)
{
	char buf[80];
	int i;

	if (config_spec_ignored(sp, it->key, it->klen, vif_ignored,
				ARRAY_SIZE(vif_ignored)))
		return 0;
	i = config_span_lookup(it->key, it->klen, vif_keys,
			       ARRAY_SIZE(vif_keys));
	if (i < 0)
		return config_spec_error(sp, "unknown parameter %s",
					 config_span_shown(buf, sizeof(buf),
							   it->key, it->klen));
	if (*seen & (1u << i))
		return config_spec_error(sp, "%s given twice", vif_keys[i]);
	*seen |= 1u << i;
	return vif_value(sp, out, (enum vif_key)i, it);
}

int config_parse_vif(const struct config_spec *sp, struct domain_vif *out,
		     bool *generated_out)
{
	struct config_item_iter it = { sp->a->text, 0, false };
	struct config_item item;
	unsigned int seen = 0;
	char buf[80];
	int rc;

	memset(out, 0, sizeof(*out));
	out->model = DOMAIN_VIF_VIRTIO;
	*generated_out = false;
	while (config_item_next(&it, &item)) {
		if (!item.key && !item.vlen)
			continue;
		if (!item.key)
			return config_spec_error(
				sp, "expected key=value, got %s",
				config_span_shown(buf, sizeof(buf), item.val,
						  item.vlen));
		rc = vif_item(sp, out, &item, &seen);
		if (rc)
			return rc;
	}
	if (seen & (1u << VIF_MAC))
		return 0;
	rc = config_mac_generate(out->mac);
	if (rc)
		return config_spec_error(
			sp, "cannot generate a mac address: %s", strerror(-rc));
	*generated_out = true;
	return 0;
}

int domain_config_add_vif(struct domain_config *cfg, const char *where,
			  const char *spec, struct config_diag *diag)
{
	char file[CONFIG_MSG_MAX / 2], shown[80], mac[DOMAIN_MAC_STR_LEN + 1];
	struct config_atom a = {
		CONFIG_STRING, { file, 0, 0 }, spec, strlen(spec)
	};
	struct config_spec sp = { diag, &a, NULL, 0 };
	struct domain_vif vif;
	unsigned int i, tries = 0;
	bool generated;
	int rc;

	config_diag_reset(diag);
	config_excerpt(shown, sizeof(shown), spec);
	snprintf(file, sizeof(file), "%s %s", where, shown);
	if (cfg->nr_vifs >= DOMAIN_VIFS_MAX)
		return config_spec_error(&sp,
					 "too many network interfaces (max %d)",
					 DOMAIN_VIFS_MAX);
again:
	rc = config_parse_vif(&sp, &vif, &generated);
	if (rc)
		return rc;
	for (i = 0; i < cfg->nr_vifs; i++) {
		if (memcmp(cfg->vifs[i].mac, vif.mac, 6))
			continue;
		if (generated && ++tries < 8)
			goto again; /* a drawn MAC clashed: draw again */
		domain_config_mac_format(vif.mac, mac);
		return config_spec_error(
			&sp, "mac %s is already used by vif %u", mac, i + 1);
	}
	cfg->vifs[cfg->nr_vifs++] = vif;
	return 0;
}
