/*
 * Where the virtio-mmio devices are, in ring 0 at boot: devices with
 * _HID "LNRO0005" in the ACPI DSDT (their _CRS gives the register window
 * and the interrupt; QEMU microvm with ACPI, godwit), and the Linux
 * command-line form virtio_mmio.device=<size>@<base>:<irq>[:<id>] (QEMU
 * microvm without ACPI, or by hand). Both feed virtio_add_window, which
 * drops duplicates.
 *
 * The DSDT is read without an AML interpreter: every Device() whose body
 * holds the bytes of Name(_HID, "LNRO0005") and a Name(_CRS, Buffer)
 * resource template with constant contents. Understood descriptors:
 * Memory32Fixed, DWord and QWord memory address space (the window),
 * Extended Interrupt and IRQ (the GSI and its trigger and polarity).
 */
#include "virtio_mmio.h"

#define AML_NAME_OP 0x08
#define AML_BUFFER_OP 0x11
#define AML_EXT_PREFIX 0x5b
#define AML_DEVICE_OP 0x82

struct crs {
	uint64_t base;
	uint32_t gsi;
	uint16_t flags;
	bool has_base, has_gsi;
};

static uint32_t le(const uint8_t *p, unsigned int n)
{
	uint32_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

static uint64_t le64(const uint8_t *p)
{
	return le(p, 4) | (uint64_t)le(p + 4, 4) << 32;
}

/* AML PkgLength at p (avail bytes): its value and encoded size. */
static bool pkg_length(const uint8_t *p, uint32_t avail, uint32_t *len_out,
		       uint32_t *size_out)
{
	uint32_t n = p[0] >> 6, i, v;

	if (!avail || n + 1 > avail)
		return false;
	v = n ? p[0] & 0x0f : p[0] & 0x3f;
	for (i = 0; i < n; i++)
		v |= (uint32_t)p[1 + i] << (4 + 8 * i);
	*len_out = v;
	*size_out = n + 1;
	return true;
}

/* MPS INTI flags from level/edge and polarity bits. */
static uint16_t inti_flags(bool edge, bool low)
{
	return (uint16_t)((low ? 3 : 1) | (edge ? 1 : 3) << 2);
}

/* The first memory window and the first interrupt count. */
static void large_resource(const uint8_t *r, uint32_t len, struct crs *c)
{
	if ((r[0] == 0x89 && c->has_gsi) || (r[0] != 0x89 && c->has_base))
		return;
	switch (r[0]) {
	case 0x86: /* Memory32Fixed: info, base, length */
		if (len >= 9) {
			c->base = le(r + 4, 4);
			c->has_base = true;
		}
		break;
	case 0x87: /* DWord address space; type 0 is memory */
		if (len >= 23 && r[3] == 0) {
			c->base = le(r + 10, 4);
			c->has_base = true;
		}
		break;
	case 0x8a: /* QWord address space */
		if (len >= 43 && r[3] == 0) {
			c->base = le64(r + 14);
			c->has_base = true;
		}
		break;
	case 0x89: /* Extended Interrupt: flags, count, u32 GSIs */
		if (len >= 6 && r[4] >= 1) {
			c->gsi = le(r + 5, 4);
			c->flags = inti_flags(r[3] & 2, r[3] & 4);
			c->has_gsi = true;
		}
		break;
	}
}

/* Small IRQ descriptor: a 16-bit mask, optional flags (else edge, high). */
static void small_irq(const uint8_t *r, uint32_t len, struct crs *c)
{
	uint32_t mask = le(r + 1, 2), i;
	uint8_t info = len >= 3 ? r[3] : 1;

	if (c->has_gsi)
		return;
	for (i = 0; i < 16; i++) {
		if (mask & (1u << i)) {
			c->gsi = i;
			c->flags = inti_flags(info & 1, info & 8);
			c->has_gsi = true;
			return;
		}
	}
}

/* Walk a resource template of n bytes. */
static void parse_crs(const uint8_t *r, uint32_t n, struct crs *c)
{
	uint32_t at = 0, len;

	while (at < n) {
		if (r[at] & 0x80) {
			if (at + 3 > n)
				return;
			len = le(r + at + 1, 2);
			if (at + 3 + len > n)
				return;
			large_resource(r + at, len, c);
			at += 3 + len;
			continue;
		}
		len = r[at] & 7;
		if ((r[at] >> 3) == 0xf || at + 1 + len > n)
			return; /* end tag */
		if ((r[at] >> 3) == 4 && len >= 2)
			small_irq(r + at, len, c);
		at += 1 + len;
	}
}

/* Offset of pat in p[from, to), or to. */
static uint32_t find(const uint8_t *p, uint32_t from, uint32_t to,
		     const uint8_t *pat, uint32_t n)
{
	uint32_t i;

	for (i = from; i + n <= to; i++)
		if (p[i] == pat[0] && !memcmp(p + i, pat, n))
			return i;
	return to;
}

/* Name(_CRS, Buffer(size) {...}) in p[from, to): the template. */
static bool find_crs(const uint8_t *p, uint32_t from, uint32_t to,
		     struct crs *c)
{
	static const uint8_t name[] = { AML_NAME_OP, '_', 'C',
					'R',	     'S', AML_BUFFER_OP };
	uint32_t at = find(p, from, to, name, sizeof(name)), plen, psize;
	uint32_t size_bytes, start, end;

	if (at == to || !pkg_length(p + at + 6, to - at - 6, &plen, &psize))
		return false;
	at += 6 + psize;
	end = at - psize + plen;
	if (end > to || at >= end)
		return false;
	/* BufferSize: BytePrefix 0x0a, WordPrefix 0x0b or DWordPrefix 0x0c. */
	size_bytes = p[at] == 0x0a ? 1 : p[at] == 0x0b ? 2 : 4;
	if (p[at] < 0x0a || p[at] > 0x0c)
		return false;
	start = at + 1 + size_bytes;
	if (start > end)
		return false;
	parse_crs(p + start, end - start, c);
	return c->has_base;
}

static void dsdt_device(const uint8_t *p, uint32_t from, uint32_t to)
{
	static const uint8_t hid[] = { AML_NAME_OP, '_', 'H', 'I', 'D',
				       0x0d,	    'L', 'N', 'R', 'O',
				       '0',	    '0', '0', '5', 0x00 };
	struct crs c = { 0 };

	if (find(p, from, to, hid, sizeof(hid)) == to)
		return;
	if (find_crs(p, from, to, &c))
		virtio_add_window(c.base, c.gsi, c.flags, c.has_gsi, "acpi");
	else if (debug_enabled())
		con_printf("guest: LNRO0005 device without a usable _CRS\n");
}

static void from_dsdt(void)
{
	uint32_t len, at, plen, psize;
	const uint8_t *p = acpi_dsdt(&len);

	if (!p)
		return;
	for (at = 36; at + 2 < len; at++) {
		if (p[at] != AML_EXT_PREFIX || p[at + 1] != AML_DEVICE_OP)
			continue;
		if (!pkg_length(p + at + 2, len - at - 2, &plen, &psize) ||
		    at + 2 + plen > len)
			continue;
		dsdt_device(p, at + 2 + psize, at + 2 + plen);
	}
}

/* A number: decimal or 0x hex, with an optional K/M/G suffix. */
static bool parse_num(const char **s, uint64_t *v_out)
{
	const char *p = *s;
	unsigned int base = 10;
	uint64_t v = 0;
	bool any = false;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (;; p++) {
		unsigned int d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned int)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned int)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned int)(*p - 'A' + 10);
		else
			break;
		v = v * base + d;
		any = true;
	}
	if (*p == 'K' || *p == 'k')
		v <<= 10, p++;
	else if (*p == 'M' || *p == 'm')
		v <<= 20, p++;
	else if (*p == 'G' || *p == 'g')
		v <<= 30, p++;
	*s = p;
	*v_out = v;
	return any;
}

/* <size>@<base>:<irq>[:<id>] */
static void from_token(const char *t)
{
	uint64_t size, base, irq;

	if (!parse_num(&t, &size) || *t++ != '@' || !parse_num(&t, &base) ||
	    *t++ != ':' || !parse_num(&t, &irq) || (*t && *t != ':') ||
	    size < 0x100)
		con_fail("cmdline virtio_mmio.device= is not "
			 "<size>@<base>:<irq>\n");
	virtio_add_window(base, (uint32_t)irq, inti_flags(false, false), true,
			  "cmdline");
}

static void from_cmdline(void)
{
	char buf[64];
	unsigned int n;

	for (n = 0; cmdline_str_nth("virtio_mmio.device", n, buf, sizeof(buf));
	     n++)
		from_token(buf);
}

void virtio_find_windows(void)
{
	from_dsdt();
	from_cmdline();
}
