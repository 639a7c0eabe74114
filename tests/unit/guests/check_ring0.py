#!/usr/bin/python3
"""Check that the test guests' ring-0 code avoids what software KVM cannot
emulate.

On our machines KVM emulates guest ring 0 instruction by instruction and
has no SSE arithmetic, x87, AVX, crc32, popcnt, ldmxcsr/stmxcsr,
xsave/xrstor, cmpxchg16b or software interrupts (int n, int3) there
(shared/guide/KVM-HERE.md). The guests keep ring-3 code in .utext and
ring-0 code in .text (long mode), .text32 (protected mode) and .text16
(real-mode AP trampoline). This check disassembles every ring-0 section
of every guest ELF given on the command line in its CPU mode and fails
on any forbidden instruction, on any code section it cannot classify and
on undecodable bytes. It also checks that the linker script put known
ring-0 and ring-3 functions where they belong, and first tests its own
classifier on a few lines.

Usage: check_ring0.py GUEST.elf...   (Python 3 stdlib + binutils objdump)
"""

import re
import subprocess
import sys

RING0_SECTIONS = {
    ".text": "x86-64",
    ".text32": "i386",
    ".text16": "i8086",
}
RING3_SECTIONS = {".utext"}

RING0_SYMBOLS = ["boot_main", "ap_main", "isr_dispatch", "isr_timer",
                 "isr_common", "pvh_start32", "tramp_start", "con_printf",
                 # the virtio-mmio library and virtio console (every guest)
                 "virtio_irq", "virtio_negotiate", "virtio_queue_init",
                 "virtq_publish_staged", "virtq_kick", "vcon_putc",
                 "vcon_read"]
RING3_SYMBOLS = ["user_start", "guest_user_main", "virtq_stage",
                 "virtq_reap"]
# Guest-specific: checked where the guest has them.
RING3_OPTIONAL = ["blk_fill_sectors", "blk_check_sectors"]

# Vector and x87 registers may not appear in ring 0 at all (ring 0 is
# built with -mgeneral-regs-only); this covers SSE, AVX, AVX-512 and MMX.
FORBIDDEN_OPERAND = re.compile(r"%(xmm|ymm|zmm|mm\d|st\b|st\(|k[0-7]\b)")
FORBIDDEN_MNEMONIC = re.compile(
    r"^("
    r"f\w+"                      # x87 (fld1, fstp, fnstcw, fxsave, ...)
    r"|wait"                     # x87 fwait
    r"|v\w+"                     # VEX/EVEX-encoded (AVX and later)
    r"|crc32\w*|popcnt\w*"
    r"|ldmxcsr|stmxcsr|emms"
    r"|xsave\w*|xrstor\w*"
    r"|cmpxchg16b"
    r"|int|int1|int3|into|icebp"  # software interrupts
    r"|(p|movnt|cvt|sqrt|rcp|rsqrt|min|max|and|or|xor|add|sub|mul|div|"
    r"shuf|unpck|mov|cmp|blend|round|dp|hadd|hsub|ptest|aes|pclmul|sha)"
    r"\w*(ps|pd|ss|sd|dq)"       # SSE arithmetic and moves by suffix
    r"|l?s?fence|mfence"         # SSE2 fences: not verified in ring 0
    r")$")
ALLOWED_V = {"verr", "verw"}
MNEMONIC_PREFIXES = {"rep", "repz", "repe", "repnz", "repne", "lock",
                     "data16", "data32", "addr16", "addr32", "cs", "ds",
                     "es", "ss", "fs", "gs", "notrack", "bnd", "rex",
                     "rex.w", "rex.wb", "rex.b", "rex.r", "rex.x",
                     "rex.wr", "rex.wx", "rex.rb", "rex.rx", "rex.xb"}


def forbidden(insn):
    """Return why a disassembled instruction is forbidden, or None."""
    if insn.startswith("(bad)"):
        return "undecodable bytes"
    words = insn.split()
    while words and words[0] in MNEMONIC_PREFIXES:
        words = words[1:]
    if not words:
        return None
    mnemonic = words[0]
    operands = " ".join(words[1:])
    if mnemonic in ALLOWED_V:
        return None
    if FORBIDDEN_MNEMONIC.match(mnemonic):
        return "forbidden instruction"
    if FORBIDDEN_OPERAND.search(operands):
        return "vector or x87 register"
    return None


def self_test():
    bad = ["pxor %xmm0,%xmm0", "paddq %xmm1,%xmm2", "fld1", "fninit",
           "fxsave (%rdi)", "vzeroupper", "vpaddq %ymm0,%ymm1,%ymm2",
           "crc32b %al,%eax", "popcnt %rax,%rax", "ldmxcsr (%rax)",
           "stmxcsr (%rsp)", "xsave (%rdi)", "xsaveopt (%rdi)",
           "xrstor (%rdi)", "cmpxchg16b (%rdi)", "lock cmpxchg16b (%rdi)",
           "int3", "int $0x80", "movq %xmm3,%r15", "movd %mm0,%eax",
           "movaps %xmm0,(%rax)", "mfence", "(bad)", "kmovw %k1,%eax"]
    good = ["mov %rax,%rbx", "xsetbv", "iretq", "rdtsc", "rep stos %al,"
            "%es:(%rdi)", "lock xadd %eax,(%rdx)", "outb %al,$0xf4",
            "hlt", "lgdtl %cs:0xf00", "ljmp $0x8,$0x1021c6", "pause",
            "cmpxchg %rdx,(%rdi)", "data16 cs nopw 0x0(%rax,%rax,1)",
            "xchg %ax,%ax", "movabs $0x1,%rax", "movzbl (%rax),%eax",
            "pushq $0x0", "popfq", "movslq %eax,%rax", "cmpsb %es:(%rdi),"
            "%ds:(%rsi)", "andl $0x1,%eax", "subq $0x38,%rsp",
            "lock orq $0x0,(%rsp)", "movzwl 0x2(%rdx),%eax"]
    errors = [i for i in bad if forbidden(i) is None]
    errors += [i for i in good if forbidden(i) is not None]
    if errors:
        print("check_ring0: classifier self-test failed on: %s" % errors)
        return False
    return True


def run(args):
    return subprocess.run(args, check=True, capture_output=True,
                          text=True).stdout


def code_sections(elf):
    """Names and address ranges of all executable sections."""
    out = run(["objdump", "-h", "-w", elf])
    sections = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 7 and f[0].isdigit() and "CODE" in line:
            sections[f[1]] = (int(f[3], 16), int(f[3], 16) + int(f[2], 16))
    return sections


def check_symbols(elf, sections):
    problems = []
    syms = {}
    for line in run(["nm", elf]).splitlines():
        f = line.split()
        if len(f) == 3:
            syms[f[2]] = int(f[0], 16)

    def inside(name, wanted):
        if name not in syms:
            return False
        return any(lo <= syms[name] < hi for s, (lo, hi) in
                   sections.items() if s in wanted)
    for name in RING0_SYMBOLS:
        if not inside(name, RING0_SECTIONS):
            problems.append("%s is not in a ring-0 section" % name)
    for name in RING3_SYMBOLS:
        if not inside(name, RING3_SECTIONS):
            problems.append("%s is not in .utext" % name)
    for name in RING3_OPTIONAL:
        if name in syms and not inside(name, RING3_SECTIONS):
            problems.append("%s is not in .utext" % name)
    return problems


def check_section(elf, section, mode):
    problems = []
    out = run(["objdump", "-d", "-w", "-j", section, "-M", mode, elf])
    func = "?"
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            func = m.group(1)
            continue
        f = line.split("\t")
        if len(f) < 3 or not f[2].strip():
            continue
        why = forbidden(f[2].strip())
        if why:
            problems.append("%s %s <%s> %s: %s" % (
                section, f[0].strip().rstrip(":"), func, f[2].strip(), why))
    return problems


def check_elf(elf):
    sections = code_sections(elf)
    problems = []
    for name in sections:
        if name not in RING0_SECTIONS and name not in RING3_SECTIONS:
            problems.append("code section %s is neither ring 0 nor ring 3"
                            % name)
    for name, mode in RING0_SECTIONS.items():
        if name not in sections:
            problems.append("no %s section" % name)
        else:
            problems += check_section(elf, name, mode)
    problems += check_symbols(elf, sections)
    return problems


def main(argv):
    if len(argv) < 2:
        print("usage: check_ring0.py GUEST.elf...")
        return 2
    if not self_test():
        return 1
    failed = False
    for elf in argv[1:]:
        problems = check_elf(elf)
        for p in problems:
            print("%s: %s" % (elf, p))
        print("%s: %s" % (elf, "FAIL" if problems else
                          "ring-0 code clean"))
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
