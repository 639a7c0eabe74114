/*
 * The godwit stream format, revision 2 (and what a reader needs of
 * revision 1): every wire layout, type id and limit, in one place. docs/stream-format.md is the specification; this
 * header is that document in C and changes in the same commit.
 *
 * Data only, no code and no dependencies beyond <linux/kvm.h>: device
 * models include it for their saved-state structs, the format library for
 * encoding and validation, the migration drivers for I/O.
 *
 * Rules: little-endian; fixed-width fields; reserved fields are written as
 * zero and checked to be zero; every record body starts 8-byte aligned;
 * never change a layout: add a new record type (or device version).
 */
#ifndef GODWIT_FORMAT_STREAM_FORMAT_H
#define GODWIT_FORMAT_STREAM_FORMAT_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Stream header ---------------------------------------------------- */

/* 0x89 "GDW" CR LF SUB LF: binary, and catches text-mode mangling. */
#define STREAM_MAGIC "\x89GDW\r\n\x1a\n"
#define STREAM_MAGIC_LEN 8
#define STREAM_VERSION 2 /* what writers write */
#define STREAM_VERSION_MIN 1 /* the oldest revision readers read */

/* Header flags; an unknown flag makes the stream unreadable. */
#define STREAM_F_LIVE 0x1u /* live migration: pages may be sent again */
#define STREAM_F_PAUSED 0x2u /* the reader leaves the VM paused (xl -p) */
#define STREAM_F_KNOWN (STREAM_F_LIVE | STREAM_F_PAUSED)

#define STREAM_PAGE_SIZE 4096u
#define STREAM_CONFIG_MAX (128u * 1024)
#define STREAM_MAX_VCPUS 255u
#define STREAM_ID_LEN 16
/* Revision 1's header is the first 64 bytes of revision 2's. */
#define STREAM_HEADER_V1_SIZE 64u

struct stream_header {
	uint8_t magic[8]; /* STREAM_MAGIC */
	uint32_t version; /* STREAM_VERSION (1 in older streams) */
	uint32_t flags; /* STREAM_F_* */
	uint32_t header_size; /* 80 (revision 1: 64) */
	uint32_t config_len; /* bytes of domain config text that follow */
	/* Machine identity: the restoring host must match all of it. */
	uint64_t mem_bytes; /* guest RAM, a multiple of 2 MiB */
	uint32_t nr_vcpus; /* 1..STREAM_MAX_VCPUS */
	uint32_t page_size; /* STREAM_PAGE_SIZE */
	char cpu_vendor[12]; /* CPUID leaf 0 EBX EDX ECX */
	uint32_t cpuid_digest; /* CRC32C of the guest's CPUID table */
	uint32_t reserved; /* 0 */
	/*
	 * CRC32C of the header_size header bytes (with header_crc 0), then
	 * the config text. Revision 2: also the seed of the record chain.
	 */
	uint32_t header_crc;
	/* Revision 2: random, chosen by the writer; names this stream. */
	uint8_t stream_id[STREAM_ID_LEN];
};
_Static_assert(sizeof(struct stream_header) == 80, "stream_header");
_Static_assert(offsetof(struct stream_header, stream_id) ==
		       STREAM_HEADER_V1_SIZE,
	       "stream_header: revision 1 is a prefix");

/* ---- Records ---------------------------------------------------------- */

/*
 * Revision 2 chains the records: each one's CRC continues from the
 * previous record's (the first one's from header_crc), so a record that
 * is missing, repeated, moved or from another stream breaks the chain
 * where it happens; seq says which of these it was.
 */
struct rec_hdr {
	uint32_t type; /* REC_*; bit 31 set: optional */
	uint32_t length; /* body bytes, not counting this header or padding */
	/*
	 * Revision 2: CRC32C continued from the chain value over type,
	 * length, seq (12 bytes), then the body. Revision 1: CRC32C of type
	 * and length (8 bytes), then the body.
	 */
	uint32_t crc;
	/* Revision 2: records before this one, modulo 2^32. Revision 1: 0. */
	uint32_t seq;
};
_Static_assert(sizeof(struct rec_hdr) == 16, "rec_hdr");

#define REC_ALIGN 8u /* bodies are zero-padded to 8 bytes */
#define REC_MAX_LENGTH (16u << 20) /* hard limit on any body */
#define REC_OPTIONAL 0x80000000u

enum rec_type {
	REC_END = 0x00,
	REC_PAGE_DATA = 0x01,
	REC_VCPU_REGS = 0x02,
	REC_VCPU_SREGS = 0x03,
	REC_VCPU_XSAVE = 0x04,
	REC_VCPU_XCRS = 0x05,
	REC_VCPU_MSRS = 0x06,
	REC_VCPU_LAPIC = 0x07,
	REC_VCPU_EVENTS = 0x08,
	REC_VCPU_MP_STATE = 0x09,
	REC_VCPU_DEBUGREGS = 0x0a,
	REC_IRQCHIP = 0x0b,
	REC_PIT = 0x0c,
	REC_CLOCK = 0x0d,
	REC_DEVICE = 0x0e,
	REC_POSTCOPY = 0x12, /* mandatory: a reader must fetch what it lacks */
	/* Optional records: skipped by a reader that does not know them. */
	REC_ROUND = REC_OPTIONAL | 0x0f,
	REC_SAVE_INFO = REC_OPTIONAL | 0x10,
	REC_PADDING = REC_OPTIONAL | 0x11,
};

/*
 * END, revision 2: what the stream was, checked before anything runs.
 * (Revision 1's END has an empty body.)
 */
struct rec_end {
	uint64_t records; /* records before END (END's seq, unwrapped) */
	uint64_t bytes; /* stream bytes before END, from the header's start */
	uint32_t digest; /* the chain value: the CRC of the record before END */
	uint32_t reserved; /* 0 */
};
_Static_assert(sizeof(struct rec_end) == 24, "rec_end");

/*
 * PADDING (optional): zero bytes that put the next PAGE_DATA record's
 * page data at a stream offset that is a multiple of PAGE_DATA_ALIGN, so
 * a writer can send guest pages to disk with direct I/O.
 */
#define PAGE_DATA_ALIGN 4096u
#define PADDING_MAX (2 * PAGE_DATA_ALIGN)

/* PAGE_DATA: a batch of pages. */
#define PAGE_BATCH_MAX 1024u
#define PFN_MASK 0x000fffffffffffffULL /* bits 0..51 */
#define PFN_TYPE_SHIFT 56
#define PFN_TYPE_MASK (0xffULL << PFN_TYPE_SHIFT)
#define PFN_TYPE_NORMAL 0ULL /* 4096 bytes of data follow, in entry order */
#define PFN_TYPE_ZERO 1ULL /* page is all zero; no data */

struct rec_page_data {
	uint32_t count; /* 1..PAGE_BATCH_MAX */
	uint32_t reserved; /* 0 */
	/*
	 * then count u64 entries: pfn | type << PFN_TYPE_SHIFT (bits 52..55
	 * zero); then one STREAM_PAGE_SIZE block per NORMAL entry
	 */
};
_Static_assert(sizeof(struct rec_page_data) == 8, "rec_page_data");

/*
 * Per-vCPU records start with this; vcpu < nr_vcpus. The KVM structs are
 * the Linux UAPI layouts of <linux/kvm.h>, a stable ABI, copied verbatim.
 */
struct rec_vcpu_hdr {
	uint32_t vcpu;
	uint32_t arg; /* record specific: XSAVE size, MSR count, or 0 */
};
_Static_assert(sizeof(struct rec_vcpu_hdr) == 8, "rec_vcpu_hdr");

struct rec_vcpu_regs {
	struct rec_vcpu_hdr h;
	struct kvm_regs regs;
};
_Static_assert(sizeof(struct kvm_regs) == 144, "kvm_regs ABI");
_Static_assert(sizeof(struct rec_vcpu_regs) == 152, "rec_vcpu_regs");

struct rec_vcpu_sregs {
	struct rec_vcpu_hdr h;
	struct kvm_sregs sregs;
};
_Static_assert(sizeof(struct kvm_sregs) == 312, "kvm_sregs ABI");
_Static_assert(sizeof(struct rec_vcpu_sregs) == 320, "rec_vcpu_sregs");

/* XSAVE: h.arg = size of the area, 4096..XSAVE_MAX, a multiple of 64. */
#define XSAVE_MIN 4096u
#define XSAVE_MAX (64u * 1024)
struct rec_vcpu_xsave {
	struct rec_vcpu_hdr h;
	uint8_t region[];
};

struct rec_vcpu_xcrs {
	struct rec_vcpu_hdr h;
	struct kvm_xcrs xcrs;
};
_Static_assert(sizeof(struct kvm_xcrs) == 392, "kvm_xcrs ABI");
_Static_assert(sizeof(struct rec_vcpu_xcrs) == 400, "rec_vcpu_xcrs");

/* MSRS: h.arg = count, 1..MSR_MAX. */
#define MSR_MAX 1024u
struct rec_msr {
	uint32_t index;
	uint32_t reserved; /* 0 */
	uint64_t value;
};
_Static_assert(sizeof(struct rec_msr) == 16, "rec_msr");
struct rec_vcpu_msrs {
	struct rec_vcpu_hdr h;
	struct rec_msr msr[];
};

struct rec_vcpu_lapic {
	struct rec_vcpu_hdr h;
	struct kvm_lapic_state lapic;
};
_Static_assert(sizeof(struct kvm_lapic_state) == 1024, "kvm_lapic ABI");
_Static_assert(sizeof(struct rec_vcpu_lapic) == 1032, "rec_vcpu_lapic");

struct rec_vcpu_events {
	struct rec_vcpu_hdr h;
	struct kvm_vcpu_events events;
};
_Static_assert(sizeof(struct kvm_vcpu_events) == 64, "kvm_vcpu_events ABI");
_Static_assert(sizeof(struct rec_vcpu_events) == 72, "rec_vcpu_events");

/* MP_STATE: h.arg = KVM_MP_STATE_* (0..KVM_MP_STATE_MAX_KNOWN). */
#define MP_STATE_MAX_KNOWN 9u
struct rec_vcpu_mp_state {
	struct rec_vcpu_hdr h;
};

struct rec_vcpu_debugregs {
	struct rec_vcpu_hdr h;
	struct kvm_debugregs dregs;
};
_Static_assert(sizeof(struct kvm_debugregs) == 128, "kvm_debugregs ABI");
_Static_assert(sizeof(struct rec_vcpu_debugregs) == 136, "rec_vcpu_debugregs");

/* IRQCHIP: chip 0 PIC master, 1 PIC slave, 2 IOAPIC (KVM_IRQCHIP_*). */
#define IRQCHIP_COUNT 3u
struct rec_irqchip {
	uint32_t chip_id;
	uint32_t reserved; /* 0 */
	uint8_t chip[512]; /* the union of struct kvm_irqchip */
};
_Static_assert(sizeof(struct kvm_irqchip) == 520, "kvm_irqchip ABI");
_Static_assert(sizeof(struct rec_irqchip) == 520, "rec_irqchip");

struct rec_pit {
	struct kvm_pit_state2 pit;
};
_Static_assert(sizeof(struct kvm_pit_state2) == 112, "kvm_pit_state2 ABI");
_Static_assert(sizeof(struct rec_pit) == 112, "rec_pit");

/* CLOCK: guest time when the VM was paused for the final copy. */
struct rec_clock {
	uint64_t guest_tsc; /* TSC value every vCPU had */
	uint64_t kvmclock_ns; /* KVM_GET_CLOCK */
	uint32_t tsc_khz; /* the guest TSC frequency */
	uint32_t reserved; /* 0 */
};
_Static_assert(sizeof(struct rec_clock) == 24, "rec_clock");

/* DEVICE: one device's state; id names it in the VM's configuration. */
#define DEVICE_ID_LEN 16
#define DEVICE_STATE_MAX (64u * 1024)
struct rec_device {
	char id[DEVICE_ID_LEN]; /* NUL-padded, e.g. "serial0" */
	uint32_t version; /* layout version of the state */
	uint32_t length; /* bytes of state that follow */
	uint8_t state[];
};
_Static_assert(sizeof(struct rec_device) == 24, "rec_device");

/* ROUND (optional): end of a pre-copy round, for progress and inspect. */
struct rec_round {
	uint32_t round;
	uint32_t reserved; /* 0 */
	uint64_t pages_sent; /* in this round */
	uint64_t pages_dirtied; /* during this round */
	uint64_t duration_ns;
};
_Static_assert(sizeof(struct rec_round) == 32, "rec_round");

/*
 * POSTCOPY: the source switched to post-copy. The regions set in the map
 * that follows are not current in this stream: the destination fetches
 * them from the source after the handover (see "Post-copy" in
 * docs/stream-format.md). A region is 2 MiB of guest RAM in RAM order
 * (the order of the memory file: RAM below 3 GiB, then above 4 GiB).
 */
#define POSTCOPY_REGION_PAGES 512u /* 2 MiB */
#define POSTCOPY_REGION_SIZE (POSTCOPY_REGION_PAGES * STREAM_PAGE_SIZE)
struct rec_postcopy {
	uint32_t region_pages; /* POSTCOPY_REGION_PAGES */
	uint16_t port; /* the source's TCP port for post-copy connections */
	uint16_t reserved0; /* 0 */
	uint64_t nr_regions; /* mem_bytes / POSTCOPY_REGION_SIZE */
	uint64_t pending; /* regions set in the map */
	/* then ceil(nr_regions / 64) u64 words: bit r of word r / 64 */
};
_Static_assert(sizeof(struct rec_postcopy) == 24, "rec_postcopy");

/* SAVE_INFO (optional): who wrote the stream and when. */
struct rec_save_info {
	uint64_t time_ns; /* CLOCK_REALTIME at the start of the save */
	char producer[56]; /* "godwit 0.1.0", NUL-padded */
};
_Static_assert(sizeof(struct rec_save_info) == 64, "rec_save_info");

/* ---- Device states (DEVICE record payloads) ----------------------------- */

#define SERIAL_FIFO_SIZE 64
#define SERIAL_STATE_VERSION 1

/* 8250/16550A UART ("serial0"). */
struct serial_state {
	uint8_t ier;
	uint8_t lcr;
	uint8_t mcr;
	uint8_t lsr_extra; /* sticky LSR error bits (overrun) */
	uint8_t msr; /* modem status delta bits */
	uint8_t scr;
	uint8_t dll;
	uint8_t dlm;
	uint8_t fcr;
	uint8_t thr_ipending; /* THR-empty interrupt pending: 0 or 1 */
	uint8_t rx_head; /* < SERIAL_FIFO_SIZE */
	uint8_t rx_count; /* <= SERIAL_FIFO_SIZE */
	uint8_t reserved[4]; /* 0 */
	uint8_t rx_fifo[SERIAL_FIFO_SIZE];
};
_Static_assert(sizeof(struct serial_state) == 80, "serial_state");

#define GED_STATE_VERSION 1

/* ACPI Generic Event Device ("ged0"): events the guest has not cleared. */
struct ged_state {
	uint32_t events; /* bit 0: power button; other bits 0 */
	uint32_t reserved; /* 0 */
};
_Static_assert(sizeof(struct ged_state) == 8, "ged_state");

/*
 * virtio devices on the virtio-mmio transport (virtio 1.2, modern, MMIO
 * register version 2): the transport's registers and every queue, as
 * plain data, at the start of each virtio device's state. Nothing is in
 * flight in a stream: the device completed every request it took before
 * the state was written (docs/stream-format.md, DEVICE).
 */
#define VIRTIO_STATE_QUEUES 8 /* queue slots in every virtio state */
#define VIRTIO_QUEUE_SIZE_MAX 32768u /* split virtqueue limit */

struct virtio_queue_state {
	uint64_t desc; /* QueueDesc: descriptor table address */
	uint64_t driver; /* QueueDriver: available ring address */
	uint64_t device; /* QueueDevice: used ring address */
	uint16_t size; /* QueueNum, as written; checked when ready */
	uint16_t ready; /* QueueReady: 0 or 1 */
	uint16_t next_avail; /* next available-ring index the device reads */
	uint16_t next_used; /* next used-ring index the device writes */
	uint32_t reserved[2]; /* 0 */
};
_Static_assert(sizeof(struct virtio_queue_state) == 40, "virtio_queue_state");

struct virtio_mmio_state {
	uint64_t mmio_base; /* the 512-byte register window, as configured */
	uint32_t gsi; /* its interrupt line, as configured */
	uint32_t device_id; /* virtio device id, as the model has it */
	uint64_t driver_features; /* acknowledged: within the offered ones */
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t status; /* device status bits */
	uint32_t interrupt_status; /* bit 0 used buffer, bit 1 config change */
	uint32_t config_generation;
	uint32_t num_queues; /* the model's queue count, <= VIRTIO_STATE_QUEUES */
	uint32_t reserved; /* 0 */
	struct virtio_queue_state queue[VIRTIO_STATE_QUEUES]; /* unused: 0 */
};
_Static_assert(sizeof(struct virtio_mmio_state) == 376, "virtio_mmio_state");

#define VIRTIO_CONSOLE_STATE_VERSION 1
#define VIRTIO_CONSOLE_RX_MAX 256
#define VIRTIO_CONSOLE_F_GUEST_WROTE 0x1u /* port 0 in use: input goes here */

/* virtio-console, port 0 only ("console0"). */
struct virtio_console_state {
	struct virtio_mmio_state vio;
	uint16_t cols; /* config space: 0 (VIRTIO_CONSOLE_F_SIZE not offered) */
	uint16_t rows; /* 0 */
	uint32_t max_nr_ports; /* 1 */
	uint32_t flags; /* VIRTIO_CONSOLE_F_* */
	uint32_t rx_count; /* input accepted, not yet in the guest */
	uint8_t rx[VIRTIO_CONSOLE_RX_MAX]; /* rx[0..rx_count), rest 0 */
};
_Static_assert(sizeof(struct virtio_console_state) == 648,
	       "virtio_console_state");

#define VIRTIO_BLK_STATE_VERSION 1
#define VIRTIO_BLK_ID_BYTES 20 /* GET_ID: the serial, NUL-padded */

/*
 * virtio-blk (id: the disk's vdev, "xvda"). After the transport, what
 * the device showed the guest: its config space and offered features,
 * checked on load against what the disk opened here gives (the guest
 * may already have read them). Nothing else: no request is in flight.
 */
struct virtio_blk_state {
	struct virtio_mmio_state vio;
	uint64_t capacity; /* 512-byte sectors: the disk's configured size */
	uint64_t features; /* offered, all 64 bits (the transport's too) */
	uint32_t seg_max; /* data segments per request */
	uint32_t blk_size; /* logical block size, bytes */
	uint32_t max_discard_sectors; /* 0 without DISCARD offered */
	uint32_t max_write_zeroes_sectors; /* 0 without WRITE_ZEROES */
	uint16_t num_queues; /* config num_queues: one per vCPU, <= 8 */
	uint16_t reserved0; /* 0 */
	uint32_t reserved1; /* 0 */
	char serial[VIRTIO_BLK_ID_BYTES]; /* what GET_ID answers */
	uint32_t reserved2; /* 0 */
};
_Static_assert(sizeof(struct virtio_blk_state) == 440, "virtio_blk_state");

#define VIRTIO_NET_STATE_VERSION 1
/* Config space status bits (virtio 1.2, 5.1.4). */
#define VIRTIO_NET_S_LINK_UP 0x1u
#define VIRTIO_NET_S_ANNOUNCE 0x2u

/*
 * virtio-net ("vif-0", "vif-1", ...: the vif list's order), one queue pair
 * and the control queue. Host-side things (the tap, its offloads, the
 * rate limit, a frame read from the tap but not yet delivered) are not
 * state: the destination has its own tap, and a frame lost in the move
 * is one the network may drop.
 */
struct virtio_net_state {
	struct virtio_mmio_state vio;
	uint8_t mac[6]; /* config space: the interface's MAC (the config's) */
	uint16_t status; /* config space: VIRTIO_NET_S_* */
	uint16_t max_virtqueue_pairs; /* config space: 1 */
	uint16_t reserved0; /* 0 */
	uint32_t reserved1; /* 0 */
	uint64_t features; /* device-specific features the device offered */
};
_Static_assert(sizeof(struct virtio_net_state) == 400, "virtio_net_state");

/* ---- Migration handover (on the socket, after the stream's END) -------- */

#define HANDOVER_MAGIC 0x48574447u /* "GDWH" */

enum handover_type {
	HANDOVER_RECEIVED = 1, /* dest -> src: VM restored, paused, ready */
	HANDOVER_YOURS = 2, /* src -> dest: ownership passes; resume */
	HANDOVER_CONFIRMED = 3, /* dest -> src: VM running at the dest */
	HANDOVER_FAILED = 4, /* dest -> src: restore failed (why in text) */
	HANDOVER_ROUND_ACK = 5, /* dest -> src: all up to ROUND value applied */
	HANDOVER_QUERY = 6, /* src -> dest, new connection: arrival value? */
	HANDOVER_OUTCOME = 7, /* dest -> src: what became of arrival value */
};

/* OUTCOME's arg: what the destination did with an arrival. */
enum handover_outcome {
	HANDOVER_OUTCOME_RUNNING = 1, /* resumed after YOURS: it owns the VM */
	HANDOVER_OUTCOME_DISCARDED = 2, /* never resumed it, never will */
	HANDOVER_OUTCOME_PENDING = 3, /* holds it paused, waiting for YOURS */
	HANDOVER_OUTCOME_UNKNOWN = 4, /* no record of that arrival */
};

struct handover_msg {
	uint32_t magic; /* HANDOVER_MAGIC */
	uint32_t type; /* enum handover_type */
	uint64_t time_ns; /* sender's CLOCK_REALTIME at the event */
	int32_t error; /* FAILED: -errno; else 0 */
	uint32_t arg; /* OUTCOME: enum handover_outcome; else 0 */
	/*
	 * YOURS: source pause time; ROUND_ACK: round; RECEIVED, QUERY,
	 * OUTCOME: the arrival id (the destination's name for this
	 * migration, random, never 0); else 0.
	 */
	uint64_t value;
	char text[96]; /* FAILED: one line, NUL-terminated */
	uint32_t reserved2; /* 0 */
	uint32_t crc; /* CRC32C of the message with crc 0 */
};
_Static_assert(sizeof(struct handover_msg) == 136, "handover_msg");

/* ---- Post-copy (new connections, destination to source) ------------- */

#define POSTCOPY_MAGIC 0x50574447u /* "GDWP" */

enum postcopy_type {
	POSTCOPY_HELLO = 1, /* dest -> src: first on each connection */
	POSTCOPY_REQUEST = 2, /* dest -> src (faults): region, at once */
	POSTCOPY_REGION = 3, /* src -> dest: one region's contents */
	POSTCOPY_DONE = 4, /* src -> dest (pages): all asked for was sent */
	POSTCOPY_COMPLETE = 5, /* dest -> src (faults): it has every region */
	POSTCOPY_BYE = 6, /* src -> dest (faults): the source lets go */
};

/* HELLO's arg: which of the destination's two connections this is. */
enum postcopy_role {
	POSTCOPY_ROLE_PAGES = 1, /* the source streams regions on it */
	POSTCOPY_ROLE_FAULTS = 2, /* requests, and their answers */
};

#define POSTCOPY_F_ZERO 0x1u /* REGION: all zero, no data follows */

struct postcopy_msg {
	uint32_t magic; /* POSTCOPY_MAGIC */
	uint32_t type; /* enum postcopy_type */
	uint64_t region; /* REQUEST, REGION: the region; else 0 */
	/*
	 * Bytes that follow: HELLO: the stream id (16), and for the pages
	 * role the map of regions still missing; REGION: the region's 2 MiB,
	 * or 0 with POSTCOPY_F_ZERO; else 0.
	 */
	uint32_t length;
	uint32_t arg; /* HELLO: enum postcopy_role; REGION: POSTCOPY_F_* */
	uint32_t data_crc; /* CRC32C of the bytes that follow (0 if none) */
	uint32_t crc; /* CRC32C of this message with crc 0 */
};
_Static_assert(sizeof(struct postcopy_msg) == 32, "postcopy_msg");

#endif
