/*
 * .eh_frame entries for stubs; the contract is in cfi.h.
 *
 * Layout of the two entries (DWARF 4 §6.4.1, LSB .eh_frame):
 *
 *   CIE: length u32 | id u32 = 0 | version u8 = 1 | "zR\0" | code_align uleb |
 *        data_align sleb | return register uleb | aug length uleb = 1 |
 *        FDE encoding u8 | initial rules | DW_CFA_nop padding
 *   FDE: length u32 | CIE pointer u32 (back from this field) |
 *        pc_begin, pc_range (4 or 8 bytes each, by the encoding) |
 *        aug length uleb = 0 | per-instruction rules | DW_CFA_nop padding
 *
 * Every value here is small, so each uleb/sleb is a single byte.
 */
#include "cfi.h"
#include "align.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CIE_FIXED 17 /* length..FDE encoding, with one-byte leb values */

static size_t
address_bytes(enum pt_cfi_addressing addressing)
{
    return addressing == PT_CFI_ABS8 ? 8 : 4;
}

/* length, CIE pointer, pc_begin, pc_range, augmentation length */
static size_t
fde_fixed(enum pt_cfi_addressing addressing)
{
    return 8 + 2 * address_bytes(addressing) + 1;
}

size_t
pt_cfi_cie_size(void)
{
    return pt_round_up(CIE_FIXED + pt_stub_cfi.initial_len, 8);
}

size_t
pt_cfi_fde_size(enum pt_cfi_addressing addressing)
{
    return pt_round_up(fde_fixed(addressing) + pt_stub_cfi.per_insn_len, 8);
}

static void
put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void
put_u64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

void
pt_cfi_write_cie(uint8_t *buf, enum pt_cfi_addressing addressing)
{
    size_t size = pt_cfi_cie_size();
    memset(buf, 0, size); /* 0 is DW_CFA_nop */
    put_u32(buf, (uint32_t)(size - 4));
    put_u32(buf + 4, 0);
    uint8_t *p = buf + 8;
    *p++ = 1;
    *p++ = 'z';
    *p++ = 'R';
    *p++ = '\0';
    *p++ = pt_stub_cfi.code_align;
    *p++ = (uint8_t)(pt_stub_cfi.data_align & 0x7f); /* one-byte sleb */
    *p++ = pt_stub_cfi.return_register;
    *p++ = 1;
    *p++ =
        addressing == PT_CFI_ABS8 ? DW_EH_PE_absptr : (DW_EH_PE_pcrel | DW_EH_PE_sdata4);
    memcpy(p, pt_stub_cfi.initial, pt_stub_cfi.initial_len);
}

/* One FDE for [code_addr, code_addr + code_size) with `rules` after the
 * CIE's initial ones; `size` is its length in bytes, a multiple of 8. */
static void
write_fde_rules(uint8_t *buf, size_t size, enum pt_cfi_addressing addressing,
                uintptr_t buf_addr, uintptr_t cie_addr, uintptr_t code_addr,
                size_t code_size, const uint8_t *rules, size_t rules_len)
{
    memset(buf, 0, size);
    put_u32(buf, (uint32_t)(size - 4));
    put_u32(buf + 4, (uint32_t)(buf_addr + 4 - cie_addr));
    if (addressing == PT_CFI_ABS8) {
        put_u64(buf + 8, code_addr);
        put_u64(buf + 16, code_size);
    }
    else {
        put_u32(buf + 8, (uint32_t)(int32_t)(intptr_t)(code_addr - (buf_addr + 8)));
        put_u32(buf + 12, (uint32_t)code_size);
    }
    size_t fixed = fde_fixed(addressing);
    buf[fixed - 1] = 0;
    memcpy(buf + fixed, rules, rules_len);
}

void
pt_cfi_write_fde(uint8_t *buf, enum pt_cfi_addressing addressing, uintptr_t buf_addr,
                 uintptr_t cie_addr, uintptr_t code_addr, size_t code_size)
{
    write_fde_rules(buf, pt_cfi_fde_size(addressing), addressing, buf_addr, cie_addr,
                    code_addr, code_size, pt_stub_cfi.per_insn, pt_stub_cfi.per_insn_len);
}

/* libgcc's registration entry points: they take a whole .eh_frame section,
 * ended by a zero length word. */
extern void __register_frame(void *begin);
extern void __deregister_frame(void *begin);

/* One FDE for the whole chunk, holding the rules of a stub's return
 * address (pt_stub_cfi.in_call) for every byte of it.  The process's own
 * unwinder meets a stub only as a return address: it unwinds the thread
 * that asks (a C++ exception, glibc's backtrace(), 3.14's faulthandler C
 * stack), and a stub is on the stack then only while inside its call.  One
 * FDE per stub, exact at every instruction, would take 32 bytes of table for
 * each 16-byte stub, and making them for a whole chunk at once would weigh
 * on the first call that maps the chunk; the exact tables are for perf,
 * which samples anywhere (jitdump and the ELF image). */
int
pt_cfi_register_chunk(void **handle, uintptr_t base, size_t slots, size_t stride)
{
    size_t cie = pt_cfi_cie_size();
    size_t fde = pt_round_up(fde_fixed(PT_CFI_ABS8) + pt_stub_cfi.in_call_len, 8);
    uint8_t *table = malloc(cie + fde + 4);
    if (table == NULL) {
        return -ENOMEM;
    }
    pt_cfi_write_cie(table, PT_CFI_ABS8);
    write_fde_rules(table + cie, fde, PT_CFI_ABS8, (uintptr_t)(table + cie),
                    (uintptr_t)table, base, slots * stride, pt_stub_cfi.in_call,
                    pt_stub_cfi.in_call_len);
    put_u32(table + cie + fde, 0);
    __register_frame(table);
    *handle = table;
    return 0;
}

void
pt_cfi_deregister_chunk(void *handle)
{
    if (handle != NULL) {
        __deregister_frame(handle);
        free(handle);
    }
}
