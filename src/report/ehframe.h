/*
 * DWARF call frame information (CFI): finding the rules of a PC and taking
 * one unwinding step with them.
 *
 * A sample recorded with `perf record --call-graph dwarf` holds the user
 * registers and a copy of the top of the user stack.  To turn that into a
 * call chain, each frame's caller is computed from the module's CFI: a
 * table, per function (FDE, with a shared header CIE), of small programs
 * that say where, at each instruction, the Canonical Frame Address (CFA,
 * the stack pointer before the call) is and where every saved register
 * lives.  The tables come from:
 *
 *   .eh_frame_hdr   (LSB "Exception Frame Header") a binary-search table of
 *                   (initial location, FDE address) pairs, datarel-encoded
 *                   from the start of .eh_frame_hdr; what glibc's loader
 *                   and perftramp's own ELF images (src/core/elfimage_format.c)
 *                   provide through PT_GNU_EH_FRAME.
 *   .eh_frame       CIEs and FDEs (LSB "Exception Frame"; CIE id 0, CIE
 *                   pointers relative, pointers encoded per the CIE's 'R').
 *   .debug_frame    DWARF 5 §6.4 (CIE id all ones, CIE pointers section
 *                   offsets, absolute addresses).
 *
 * When .eh_frame_hdr has no usable table (none, an encoding that can't be
 * binary-searched, or no entries yet, as in a fresh perftramp image),
 * pt_cfi_index_new scans .eh_frame once and sorts its FDEs; .debug_frame is
 * always scanned that way.
 *
 * Every table byte is untrusted: each offset and length is checked against
 * the section, loops are bounded by the input's size, expressions by a step
 * count.  The row's expression pointers point into the caller's tables,
 * which must outlive the rows.  Plain C11, libc only; the index is the one
 * lasting allocation (pt_cfi_find takes and frees its working state, the
 * bounded DW_CFA_remember_state stack).
 */
#ifndef PERFTRAMP_REPORT_EHFRAME_H
#define PERFTRAMP_REPORT_EHFRAME_H

#include <stddef.h>
#include <stdint.h>

/* DWARF register numbers. x86_64: 0..16 (6 = rbp, 7 = rsp, 16 = return
 * address/rip). aarch64: 0..31 (29 fp, 30 lr, 31 sp), 32 = pc. */
#define PT_CFI_REGS 33

/* One module's CFI, as loaded in memory.  Addresses are the module's
 * (link-time vaddrs, or run-time ones if every address given is); the
 * caller keeps the bytes alive as long as the index and its rows. */
struct pt_cfi_tables {
    const uint8_t *eh_frame_hdr; /* may be NULL/0 */
    size_t eh_frame_hdr_size;
    uint64_t eh_frame_hdr_vaddr;
    const uint8_t *eh_frame; /* may be NULL/0 */
    size_t eh_frame_size;
    uint64_t eh_frame_vaddr;
    const uint8_t *debug_frame; /* may be NULL/0; addresses are vaddrs */
    size_t debug_frame_size;
    uint16_t machine; /* EM_X86_64 or EM_AARCH64 */
};

/* Built once per module: a sorted table of (pc_begin, fde) when there is no
 * usable .eh_frame_hdr table (or for .debug_frame). */
struct pt_cfi_index;

/* 0, -ENOMEM, or -ENOTSUP for another machine.  A malformed .eh_frame or
 * .debug_frame is indexed up to where it stops making sense; its broken
 * FDEs are left out. */
int pt_cfi_index_new(struct pt_cfi_index **out, const struct pt_cfi_tables *t);
void pt_cfi_index_free(struct pt_cfi_index *ix);

enum pt_cfi_rule_kind {
    PT_CFI_SAME = 0,
    PT_CFI_UNDEFINED,
    PT_CFI_OFFSET,     /* saved at CFA+off */
    PT_CFI_VAL_OFFSET, /* = CFA+off */
    PT_CFI_REGISTER,   /* = other reg */
    PT_CFI_EXPRESSION,
    PT_CFI_VAL_EXPRESSION
};
struct pt_cfi_rule {
    uint8_t kind;
    uint16_t reg;
    int64_t offset;
    const uint8_t *expr;
    size_t expr_len;
};

/* The rules of a row start from the machine's defaults, so that a step
 * needs no machine knowledge: callee-saved registers and the return address
 * column PT_CFI_SAME, the stack pointer PT_CFI_VAL_OFFSET 0 (the caller's
 * sp is the CFA), every other register PT_CFI_UNDEFINED (a caller's
 * scratch registers can't be known); the CIE's and FDE's programs override
 * them.  A register number the CFA rule can't hold (> 0xffff) is 0xffff,
 * which no step can read. */
struct pt_cfi_row {
    uint64_t pc_begin, pc_end; /* the FDE's range */
    uint8_t cfa_is_expr;
    uint16_t cfa_reg;
    int64_t cfa_offset;
    const uint8_t *cfa_expr;
    size_t cfa_expr_len;
    uint16_t ra_reg;                       /* the CIE's return address column */
    uint8_t signal_frame;                  /* 'S' augmentation */
    struct pt_cfi_rule rules[PT_CFI_REGS]; /* registers >= PT_CFI_REGS are ignored */
};

/* The row in effect at pc. 0; -ENOENT when no FDE covers pc; -EINVAL
 * (malformed), -ENOTSUP (an op or augmentation not supported), -ENOMEM.  For a
 * caller's frame pass its return address - 1 (unless the callee was a
 * signal frame): the call may be a function's last instruction.
 * DW_CFA_GNU_window_save / AArch64 negate_ra_state is ignored (return
 * addresses signed with pointer authentication are not stripped here). */
int pt_cfi_find(const struct pt_cfi_index *ix, uint64_t pc, struct pt_cfi_row *row);

struct pt_cfi_regs {
    uint64_t r[PT_CFI_REGS];
    uint64_t valid; /* bit i: r[i] known */
};
/* 0, or nonzero when addr is outside the stack copy */
typedef int (*pt_cfi_read_fn)(void *ctx, uint64_t addr, uint64_t *value);

/* From the registers of a frame (regs; pc in the return-address column), the
 * caller's: CFA computed, every tracked register per its rule (SAME keeps
 * it; callee-saved registers with no rule keep theirs; UNDEFINED clears its
 * valid bit), the caller's pc = the value of the ra column, the caller's sp
 * = CFA.  0; -ENODATA when a needed register (the CFA's, the ra column's)
 * is unknown or memory can't be read; -EINVAL for a bad expression.
 * Another register whose value can't be had loses its valid bit.  0 with
 * the ra column's bit clear: the CFI says there is no caller (_start).
 * On aarch64 the frame's lr is r[30], the ra column; the pc, r[32], is the
 * caller's to pass to pt_cfi_find and comes out of a step unknown. */
int pt_cfi_step(const struct pt_cfi_row *row, struct pt_cfi_regs *regs,
                pt_cfi_read_fn read, void *ctx);

#endif
