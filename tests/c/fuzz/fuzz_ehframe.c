/* The CFI reader: any .eh_frame_hdr / .eh_frame / .debug_frame bytes must
 * index, find and step without a fault or a read outside them, and a row
 * found must cover its pc.
 *
 * Input: a 6-byte header (the sizes of hdr, eh_frame and debug_frame, one
 * byte each times 4, and a machine / pc-choice byte pair), the three
 * sections, then the rest as the stack copy the step reads. */
#include "ehframe.h"

#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HDR_VADDR 0x10000
#define STACK_VADDR 0x7ff000

struct stack {
    const uint8_t *bytes;
    size_t len;
};

static int
read_stack(void *ctx, uint64_t addr, uint64_t *value)
{
    const struct stack *s = ctx;
    if (addr < STACK_VADDR || addr - STACK_VADDR > s->len ||
        s->len - (addr - STACK_VADDR) < 8) {
        return -1;
    }
    memcpy(value, s->bytes + (addr - STACK_VADDR), 8);
    return 0;
}

static size_t
take(const uint8_t **data, size_t *size, size_t want, const uint8_t **out)
{
    size_t n = want < *size ? want : *size;
    *out = n ? *data : NULL;
    *data += n;
    *size -= n;
    return n;
}

static uint64_t
word_at(const uint8_t *p, size_t len, size_t i)
{
    uint64_t v = 0;
    if (len >= 8) {
        memcpy(&v, p + (i * 8) % (len - 7), 8);
    }
    return v;
}

static void
try_pc(const struct pt_cfi_index *ix, uint64_t pc, const struct stack *stack,
       const uint8_t *seed, size_t seed_len)
{
    struct pt_cfi_row row;
    int rc = pt_cfi_find(ix, pc, &row);
    if (rc != 0) {
        if (rc != -ENOENT && rc != -EINVAL && rc != -ENOTSUP && rc != -ENOMEM) {
            abort();
        }
        return;
    }
    if (pc < row.pc_begin || pc >= row.pc_end) {
        abort();
    }
    struct pt_cfi_regs regs = {.valid = ~(uint64_t)0 >> (64 - PT_CFI_REGS)};
    for (int i = 0; i < PT_CFI_REGS; i++) {
        regs.r[i] = STACK_VADDR + (word_at(seed, seed_len, (size_t)i) & 0xff);
    }
    /* a few steps, as an unwinder would take them */
    for (int step = 0; step < 4; step++) {
        rc = pt_cfi_step(&row, &regs, read_stack, (void *)stack);
        if (rc != 0) {
            if (rc != -ENODATA && rc != -EINVAL && rc != -ENOTSUP) {
                abort();
            }
            return;
        }
        if (row.ra_reg >= PT_CFI_REGS || !((regs.valid >> row.ra_reg) & 1)) {
            return;
        }
        uint64_t next = regs.r[row.ra_reg];
        if (pt_cfi_find(ix, next - 1, &row) != 0) {
            return;
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6) {
        return 0;
    }
    size_t hdr_want = (size_t)data[0] * 4, eh_want = (size_t)data[1] * 4,
           debug_want = (size_t)data[2] * 4;
    uint16_t machine = (data[3] & 1) ? EM_AARCH64 : EM_X86_64;
    uint8_t pc_choice = data[4];
    data += 6;
    size -= 6;
    struct pt_cfi_tables t = {.machine = machine};
    t.eh_frame_hdr_size = take(&data, &size, hdr_want, &t.eh_frame_hdr);
    t.eh_frame_hdr_vaddr = HDR_VADDR;
    t.eh_frame_size = take(&data, &size, eh_want, &t.eh_frame);
    t.eh_frame_vaddr = HDR_VADDR + t.eh_frame_hdr_size;
    t.debug_frame_size = take(&data, &size, debug_want, &t.debug_frame);
    struct stack stack = {data, size};

    struct pt_cfi_index *ix = NULL;
    int rc = pt_cfi_index_new(&ix, &t);
    if (rc != 0) {
        if (rc != -ENOMEM) {
            abort();
        }
        return 0;
    }
    /* pcs near the sections (pcrel FDEs land there), small absolute ones,
     * and ones read from the input */
    uint64_t pcs[] = {
        HDR_VADDR + pc_choice,
        HDR_VADDR - 0x100 + (uint64_t)pc_choice * 16,
        pc_choice,
        (uint64_t)pc_choice << 8,
        word_at(stack.bytes, stack.len, 0),
        word_at(t.eh_frame, t.eh_frame_size, pc_choice),
    };
    for (size_t i = 0; i < sizeof(pcs) / sizeof(pcs[0]); i++) {
        try_pc(ix, pcs[i], &stack, stack.bytes, stack.len);
    }
    pt_cfi_index_free(ix);
    return 0;
}
