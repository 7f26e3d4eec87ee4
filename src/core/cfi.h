/*
 * DWARF call frame information for the trampoline stub.
 *
 * An unwinder that has no frame pointers to follow (perf --call-graph dwarf,
 * libgcc's _Unwind_Backtrace, libunwind) needs, for every return address on
 * the stack, a rule for finding the caller's frame.  Code made at run time has
 * no .eh_frame section, so it is described here: one CIE shared by all stubs
 * and one FDE per stub, in the .eh_frame format ("zR" augmentation).  FDE
 * addresses are either pc-relative in 4 bytes, as in a shared object (what
 * perf's jitdump-made ELF files need), or absolute in 8 (for tables in heap
 * memory, which may lie more than 2 GiB from the code).  The rules themselves, one per
 * instruction of the stub, come from stub_cfi_<arch>.c.
 *
 * Two consumers: the jitdump writer (perf inject turns each record into an ELF
 * whose .eh_frame follows the code) and pt_cfi_register_chunk(), which hands
 * a chunk's FDEs to the process's own unwinder.
 */
#ifndef PERFTRAMP_CORE_CFI_H
#define PERFTRAMP_CORE_CFI_H

#include <stddef.h>
#include <stdint.h>

/* Pointer encodings of .eh_frame and .eh_frame_hdr (LSB, "DWARF Exception
 * Header Encoding"): a format in the low nibble, how it is applied in the
 * high one. */
#define DW_EH_PE_absptr 0x00
#define DW_EH_PE_udata4 0x03
#define DW_EH_PE_sdata4 0x0b
#define DW_EH_PE_pcrel 0x10
#define DW_EH_PE_datarel 0x30

/* What an architecture contributes (stub_cfi_<arch>.c). */
struct pt_stub_cfi {
    uint32_t elf_machine;    /* EM_* of the jitdump header */
    uint8_t code_align;      /* DW_CFA_advance_loc unit, bytes */
    int8_t data_align;       /* DW_CFA_offset unit, bytes */
    uint8_t return_register; /* DWARF number of the return address column */
    const uint8_t *initial;  /* CFA rules at a stub's first instruction */
    size_t initial_len;
    const uint8_t *per_insn; /* rules as each instruction of the stub runs */
    size_t per_insn_len;
    const uint8_t *in_call; /* the rules at the return address of its call */
    size_t in_call_len;
};

extern const struct pt_stub_cfi pt_stub_cfi;

enum pt_cfi_addressing {
    PT_CFI_PCREL4, /* DW_EH_PE_pcrel | DW_EH_PE_sdata4 */
    PT_CFI_ABS8,   /* DW_EH_PE_absptr, 64-bit */
};

/* Bytes of the CIE, and of one FDE; both multiples of 8. */
size_t pt_cfi_cie_size(void);
size_t pt_cfi_fde_size(enum pt_cfi_addressing addressing);

/* Writes the CIE at buf (pt_cfi_cie_size() bytes). */
void pt_cfi_write_cie(uint8_t *buf, enum pt_cfi_addressing addressing);

/* Writes one FDE at buf (pt_cfi_fde_size() bytes) for the code at
 * [code_addr, code_addr + code_size).  The FDE will be read at address
 * buf_addr, which need not be buf's own (a jitdump describes where perf will
 * place it), and its CIE at cie_addr.  With PT_CFI_PCREL4 the code must lie
 * within 2 GiB of buf_addr. */
void pt_cfi_write_fde(uint8_t *buf, enum pt_cfi_addressing addressing, uintptr_t buf_addr,
                      uintptr_t cie_addr, uintptr_t code_addr, size_t code_size);

/* Registers with the process's unwinder (libgcc's __register_frame) a chunk
 * of `slots` stubs `stride` bytes apart from `base`: one FDE for the chunk,
 * right wherever a stub is a return address (see cfi.c).
 * *handle is for pt_cfi_deregister_chunk().  0 or a negative errno. */
int pt_cfi_register_chunk(void **handle, uintptr_t base, size_t slots, size_t stride);
void pt_cfi_deregister_chunk(void *handle);

#endif
