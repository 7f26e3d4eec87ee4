/*
 * CFA rules for stub_x86_64.S, instruction by instruction (DWARF registers:
 * 6 = rbp, 7 = rsp, 16 = return address).
 *
 *   0 push %rbp        on entry  CFA = rsp+8, RA at CFA-8
 *   1 mov %rsp,%rbp    after it  CFA = rsp+16, rbp saved at CFA-16
 *   4 call *%rcx       after it  CFA = rbp+16
 *   6 pop %rbp         (a return address here unwinds by the rule above)
 *   7 ret              after pop CFA = rsp+8, rbp restored
 */
#include "cfi.h"

#include <elf.h>

static const uint8_t initial[] = {
    0x0c, 7, 8, /* DW_CFA_def_cfa rsp, 8 */
    0x90, 1,    /* DW_CFA_offset r16 (RA), CFA-8 */
};

static const uint8_t per_insn[] = {
    0x41,        /* DW_CFA_advance_loc 1: after push */
    0x0e, 16,    /* DW_CFA_def_cfa_offset 16 */
    0x86, 2,     /* DW_CFA_offset rbp, CFA-16 */
    0x43,        /* DW_CFA_advance_loc 3: after mov */
    0x0d, 6,     /* DW_CFA_def_cfa_register rbp */
    0x43,        /* DW_CFA_advance_loc 3: after call (2) and pop (1) */
    0x0c, 7,  8, /* DW_CFA_def_cfa rsp, 8 */
    0xc6,        /* DW_CFA_restore rbp */
};

static const uint8_t in_call[] = {
    0x0e, 16, /* DW_CFA_def_cfa_offset 16: rsp+16, as after the push */
    0x86, 2,  /* DW_CFA_offset rbp, CFA-16 */
};

const struct pt_stub_cfi pt_stub_cfi = {
    .elf_machine = EM_X86_64,
    .code_align = 1,
    .data_align = -8,
    .return_register = 16,
    .initial = initial,
    .initial_len = sizeof(initial),
    .per_insn = per_insn,
    .per_insn_len = sizeof(per_insn),
    .in_call = in_call,
    .in_call_len = sizeof(in_call),
};
