/*
 * A minimal AML encoder (ACPI 6.5, chapter 20 "ACPI Machine Language
 * Specification") for the DSDT godwit writes by hand, and the few ACPI
 * resource descriptors (6.4) its devices need. No interpreter, no
 * parser: each helper appends the bytes of one grammar production and
 * says which.
 *
 * Objects with a PkgLength (Scope, Device, Method, If, Field, Package,
 * Buffer) are written as begin/end pairs: *_begin() returns the offset
 * where the body starts, the caller appends the body, aml_pkg_end()
 * inserts the PkgLength in front of it. Pairs nest.
 *
 * Errors are sticky: once the buffer is full every call is a no-op and
 * aml->overflow stays set; the caller checks it once at the end.
 */
#ifndef GODWIT_VMM_X86_AML_H
#define GODWIT_VMM_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t len;
	size_t cap;
	bool overflow;
};

/* Opcodes and prefixes (20.2). */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_METHOD_OP 0x14
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX 0x5b
#define AML_OPREGION_OP 0x80 /* after AML_EXT_OP_PREFIX */
#define AML_FIELD_OP 0x81 /* after AML_EXT_OP_PREFIX */
#define AML_DEVICE_OP 0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR 0x5c
#define AML_LOCAL0_OP 0x60 /* Local0..Local7: 0x60..0x67 */
#define AML_ARG0_OP 0x68 /* Arg0..Arg6: 0x68..0x6e */
#define AML_STORE_OP 0x70
#define AML_AND_OP 0x7b
#define AML_NOTIFY_OP 0x86
#define AML_IF_OP 0xa0
#define AML_NULL_NAME 0x00 /* Target: discard the result */

/* OperationRegion RegionSpace (19.6.100). */
#define AML_SPACE_SYSTEM_MEMORY 0x00
#define AML_SPACE_SYSTEM_IO 0x01

/* FieldFlags (20.2.5.2): AccessType | LockRule | UpdateRule. */
#define AML_FIELD_ANY_ACC 0x00
#define AML_FIELD_BYTE_ACC 0x01
#define AML_FIELD_NO_LOCK 0x00
#define AML_FIELD_PRESERVE 0x00
#define AML_FIELD_WRITE_AS_ZEROS 0x40

/* Resource descriptor sizes (6.4), for callers sizing a template. */
#define AML_RES_MEM32_FIXED_LEN 12
#define AML_RES_EXT_IRQ_LEN 9 /* with one interrupt number */
#define AML_RES_END_LEN 2

/* Extended Interrupt Descriptor flags (6.4.3.6). */
#define AML_IRQ_CONSUMER 0x01
#define AML_IRQ_EDGE 0x02 /* clear: level-triggered */
#define AML_IRQ_ACTIVE_LOW 0x04 /* clear: active-high */
#define AML_IRQ_SHARED 0x08 /* clear: exclusive */

/* Raw bytes. */
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_byte(struct aml *a, uint8_t v);
/* A NameSeg: exactly four characters, '_'-padded by the caller. */
void aml_nameseg(struct aml *a, const char name[4]);
/*
 * A NameString (20.2.2) from dotted NameSegs: "PWRB", "\\_SB_.PWRB",
 * "\\_SB_.PCI0.S00_". A leading backslash is the root prefix; one
 * segment is written bare, two with DualNamePrefix, more with
 * MultiNamePrefix and a count. Each segment must be four characters
 * (a malformed path sets overflow: it is a programmer error).
 */
void aml_namestring(struct aml *a, const char *path);
/* The shortest encoding of an integer constant (20.2.3). */
void aml_integer(struct aml *a, uint64_t v);
/* A String: StringPrefix, ASCII characters, NUL. */
void aml_string(struct aml *a, const char *s);
/*
 * A compressed EISA ID such as "PNP0C0C" as the DWordConst an ASL
 * EISAID() gives (19.3.4): three upper-case letters of 5 bits each, then
 * four hex digits, stored as two big-endian 16-bit halves.
 */
void aml_eisaid(struct aml *a, const char id[7]);

/* Start the body of an object that is prefixed by a PkgLength. */
size_t aml_pkg_begin(struct aml *a);
/* Insert the PkgLength (20.2.4) in front of the body started at start. */
void aml_pkg_end(struct aml *a, size_t start);

/* NameOp NameSeg: the caller appends the DataRefObject. */
void aml_name(struct aml *a, const char name[4]);
/* Name(name, Buffer(n) { bytes }). */
void aml_name_buffer(struct aml *a, const char name[4], const void *bytes,
		     size_t n);
/* Scope(path) { ... }: end with aml_pkg_end(). */
size_t aml_scope_begin(struct aml *a, const char *path);
/* Device(name) { ... }: end with aml_pkg_end(). */
size_t aml_device_begin(struct aml *a, const char name[4]);
/*
 * Method(name, nargs, serialized) { ... }: end with aml_pkg_end().
 * MethodFlags: ArgCount in bits 0-2, SerializeFlag bit 3, SyncLevel 0.
 */
size_t aml_method_begin(struct aml *a, const char name[4], unsigned int nargs,
			bool serialized);
/* If (predicate) { ... }: the caller appends the predicate, then the
 * body; end with aml_pkg_end(). */
size_t aml_if_begin(struct aml *a);
/* OperationRegion(name, space, offset, len). */
void aml_opregion(struct aml *a, const char name[4], uint8_t space,
		  uint64_t offset, uint64_t len);
/* Field(region, flags) { ... }: add aml_field_unit()s, end with
 * aml_pkg_end(). */
size_t aml_field_begin(struct aml *a, const char region[4], uint8_t flags);
/* A NamedField of bits bits (bits < 2^28). */
void aml_field_unit(struct aml *a, const char name[4], uint32_t bits);

/* Resource descriptors, written to out; each returns its length. */
size_t aml_res_mem32_fixed(uint8_t *out, bool writable, uint32_t base,
			   uint32_t size);
size_t aml_res_ext_irq(uint8_t *out, uint8_t flags, uint32_t gsi);
/* End tag; a zero checksum means "treat as valid". */
size_t aml_res_end(uint8_t *out);

#endif
