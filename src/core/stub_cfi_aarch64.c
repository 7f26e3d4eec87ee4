/*
 * CFA rules for stub_aarch64.S, instruction by instruction (DWARF registers:
 * 29 = x29/fp, 30 = x30/lr, the return address column, 31 = sp).
 *
 *   0  stp x29, x30, [sp, #-16]!   on entry  CFA = sp, RA in x30
 *   4  mov x29, sp                 after it  CFA = sp+16, x29 at CFA-16,
 *                                            x30 at CFA-8
 *   8  blr x3                      after it  CFA = x29+16
 *   12 ldp x29, x30, [sp], #16
 *   16 ret                         after ldp CFA = sp, x29 and x30 restored
 *
 * DW_CFA_offset takes an unsigned factored offset: with data_align -8,
 * CFA-16 is 2 and CFA-8 is 1.
 */
#include "cfi.h"

#include <elf.h>

static const uint8_t initial[] = {
    0x0c, 31, 0, /* DW_CFA_def_cfa sp, 0 */
};

static const uint8_t per_insn[] = {
    0x41,        /* DW_CFA_advance_loc 1 (4 bytes): after stp */
    0x0e, 16,    /* DW_CFA_def_cfa_offset 16 */
    0x9d, 2,     /* DW_CFA_offset x29, CFA-16 */
    0x9e, 1,     /* DW_CFA_offset x30, CFA-8 */
    0x41,        /* DW_CFA_advance_loc 1: after mov */
    0x0d, 29,    /* DW_CFA_def_cfa_register x29 */
    0x42,        /* DW_CFA_advance_loc 2: after blr and ldp */
    0x0c, 31, 0, /* DW_CFA_def_cfa sp, 0 */
    0xdd,        /* DW_CFA_restore x29 */
    0xde,        /* DW_CFA_restore x30 */
};

static const uint8_t in_call[] = {
    0x0e, 16, /* DW_CFA_def_cfa_offset 16: sp+16, as after the stp */
    0x9d, 2,  /* DW_CFA_offset x29, CFA-16 */
    0x9e, 1,  /* DW_CFA_offset x30, CFA-8 */
};

const struct pt_stub_cfi pt_stub_cfi = {
    .elf_machine = EM_AARCH64,
    .code_align = 4,
    .data_align = -8,
    .return_register = 30,
    .initial = initial,
    .initial_len = sizeof(initial),
    .per_insn = per_insn,
    .per_insn_len = sizeof(per_insn),
    .in_call = in_call,
    .in_call_len = sizeof(in_call),
};
