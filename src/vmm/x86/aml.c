/*
 * AML encoder: the byte-level productions of ACPI 6.5 chapter 20 that the
 * DSDT needs (names, integers, strings, PkgLength, Scope, Device, Name,
 * Method, If, OperationRegion, Field) and three resource descriptors of
 * chapter 6.4. acpi.c decides what goes in the DSDT; this file only knows
 * how it is spelled.
 */
#include "vmm/x86/aml.h"

#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "AML integers are little-endian; so must the host be");

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t v)
{
	aml_bytes(a, &v, 1);
}

void aml_nameseg(struct aml *a, const char name[4])
{
	aml_bytes(a, name, 4);
}

void aml_namestring(struct aml *a, const char *path)
{
	size_t len, nseg, i;

	if (*path == '\\') {
		aml_byte(a, AML_ROOT_CHAR);
		path++;
	}
	len = strlen(path);
	nseg = (len + 1) / 5;
	/* "SEG1.SEG2...": 4 characters each, dots between, 1-255 of them. */
	if (!nseg || nseg > 255 || len != nseg * 5 - 1) {
		a->overflow = true;
		return;
	}
	for (i = 1; i < nseg; i++) {
		if (path[i * 5 - 1] != '.') {
			a->overflow = true;
			return;
		}
	}
	if (nseg == 2) {
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	} else if (nseg > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)nseg);
	}
	for (i = 0; i < nseg; i++)
		aml_nameseg(a, path + i * 5);
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO_OP);
	} else if (v == 1) {
		aml_byte(a, AML_ONE_OP);
	} else if (v <= UINT8_MAX) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_bytes(a, &v, 1);
	} else if (v <= UINT16_MAX) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_bytes(a, &v, 2);
	} else if (v <= UINT32_MAX) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_bytes(a, &v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		aml_bytes(a, &v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

static unsigned int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned int)(c - '0');
	return (unsigned int)(c - 'A' + 10);
}

void aml_eisaid(struct aml *a, const char id[7])
{
	uint16_t vendor = (uint16_t)(((id[0] - '@') & 0x1f) << 10 |
				     ((id[1] - '@') & 0x1f) << 5 |
				     ((id[2] - '@') & 0x1f));
	uint16_t product =
		(uint16_t)(hex_digit(id[3]) << 12 | hex_digit(id[4]) << 8 |
			   hex_digit(id[5]) << 4 | hex_digit(id[6]));
	const uint8_t be[4] = { (uint8_t)(vendor >> 8), (uint8_t)vendor,
				(uint8_t)(product >> 8), (uint8_t)product };

	aml_byte(a, AML_DWORD_PREFIX);
	aml_bytes(a, be, sizeof(be));
}

size_t aml_pkg_begin(struct aml *a)
{
	return a->len;
}

/*
 * value in the n-byte PkgLength form (20.2.4): one byte holds up to 63;
 * longer forms keep 4 bits in the lead byte (whose top two bits give the
 * number of following bytes) and 8 bits in each following byte.
 */
static void pkglen_encode(uint8_t enc[4], size_t n, uint64_t value)
{
	size_t i;

	if (n == 1) {
		enc[0] = (uint8_t)value;
		return;
	}
	enc[0] = (uint8_t)(((n - 1) << 6) | (value & 0xf));
	for (i = 1; i < n; i++)
		enc[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
}

/* A package's PkgLength counts its own bytes too. */
void aml_pkg_end(struct aml *a, size_t start)
{
	size_t body = a->len - start;
	uint8_t enc[4];
	size_t n, total;

	if (a->overflow)
		return;
	for (n = 1; n <= 4; n++) {
		total = body + n;
		if ((n == 1 && total <= 0x3f) ||
		    (n > 1 && total < (1ULL << (4 + 8 * (n - 1)))))
			break;
	}
	if (n > 4 || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	pkglen_encode(enc, n, total);
	memmove(a->buf + start + n, a->buf + start, body);
	memcpy(a->buf + start, enc, n);
	a->len += n;
}

void aml_name(struct aml *a, const char name[4])
{
	aml_byte(a, AML_NAME_OP);
	aml_nameseg(a, name);
}

/* DefBuffer := BufferOp PkgLength BufferSize ByteList. */
void aml_name_buffer(struct aml *a, const char name[4], const void *bytes,
		     size_t n)
{
	size_t pkg;

	aml_name(a, name);
	aml_byte(a, AML_BUFFER_OP);
	pkg = aml_pkg_begin(a);
	aml_integer(a, n);
	aml_bytes(a, bytes, n);
	aml_pkg_end(a, pkg);
}

/* DefScope := ScopeOp PkgLength NameString TermList. */
size_t aml_scope_begin(struct aml *a, const char *path)
{
	size_t pkg;

	aml_byte(a, AML_SCOPE_OP);
	pkg = aml_pkg_begin(a);
	aml_namestring(a, path);
	return pkg;
}

/* DefDevice := DeviceOp PkgLength NameString TermList. */
size_t aml_device_begin(struct aml *a, const char name[4])
{
	size_t pkg;

	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	pkg = aml_pkg_begin(a);
	aml_nameseg(a, name);
	return pkg;
}

/* DefMethod := MethodOp PkgLength NameString MethodFlags TermList. */
size_t aml_method_begin(struct aml *a, const char name[4], unsigned int nargs,
			bool serialized)
{
	size_t pkg;

	if (nargs > 7) {
		a->overflow = true;
		return a->len;
	}
	aml_byte(a, AML_METHOD_OP);
	pkg = aml_pkg_begin(a);
	aml_nameseg(a, name);
	aml_byte(a, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
	return pkg;
}

/* DefIfElse := IfOp PkgLength Predicate TermList (no Else here). */
size_t aml_if_begin(struct aml *a)
{
	aml_byte(a, AML_IF_OP);
	return aml_pkg_begin(a);
}

/*
 * DefOpRegion := OpRegionOp NameString RegionSpace RegionOffset
 * RegionLen; offset and length are TermArgs, written as constants.
 */
void aml_opregion(struct aml *a, const char name[4], uint8_t space,
		  uint64_t offset, uint64_t len)
{
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_OPREGION_OP);
	aml_nameseg(a, name);
	aml_byte(a, space);
	aml_integer(a, offset);
	aml_integer(a, len);
}

/* DefField := FieldOp PkgLength NameString FieldFlags FieldList. */
size_t aml_field_begin(struct aml *a, const char region[4], uint8_t flags)
{
	size_t pkg;

	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_FIELD_OP);
	pkg = aml_pkg_begin(a);
	aml_nameseg(a, region);
	aml_byte(a, flags);
	return pkg;
}

/*
 * NamedField := NameSeg PkgLength: the bit count is written in PkgLength
 * form but is a plain number (it does not count its own bytes).
 */
void aml_field_unit(struct aml *a, const char name[4], uint32_t bits)
{
	uint8_t enc[4];
	size_t n;

	if (bits >= 1u << 28) {
		a->overflow = true;
		return;
	}
	n = bits <= 0x3f ? 1 : bits < 1u << 12 ? 2 : bits < 1u << 20 ? 3 : 4;
	pkglen_encode(enc, n, bits);
	aml_nameseg(a, name);
	aml_bytes(a, enc, n);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* Memory32Fixed (6.4.3.4): tag 0x86, length 9, info bit 0 = read-write. */
size_t aml_res_mem32_fixed(uint8_t *out, bool writable, uint32_t base,
			   uint32_t size)
{
	out[0] = 0x86;
	out[1] = 9;
	out[2] = 0;
	out[3] = writable ? 1 : 0;
	put32(out + 4, base);
	put32(out + 8, size);
	return AML_RES_MEM32_FIXED_LEN;
}

/*
 * Extended Interrupt (6.4.3.6): tag 0x89, length 6 for one interrupt,
 * the AML_IRQ_* flags, the table length 1, the GSI.
 */
size_t aml_res_ext_irq(uint8_t *out, uint8_t flags, uint32_t gsi)
{
	out[0] = 0x89;
	out[1] = 6;
	out[2] = 0;
	out[3] = flags;
	out[4] = 1;
	put32(out + 5, gsi);
	return AML_RES_EXT_IRQ_LEN;
}

/* End Tag (6.4.2.9): tag 0x79, checksum 0. */
size_t aml_res_end(uint8_t *out)
{
	out[0] = 0x79;
	out[1] = 0;
	return AML_RES_END_LEN;
}
