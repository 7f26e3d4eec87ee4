/* DWARF CFI: unwinding this test's own live stack and one through libc's
 * qsort with the tables the loader mapped (x86_64), glibc's PLT CFA
 * expression on hand-made bytes, and malformed tables giving errors. */
#include "ehframe.h"
#include "elfimage.h"
#include "testhelp.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hand-made tables ---- */

/* A CIE ("zR", pcrel|sdata4 FDE pointers, code_align 1, data_align -8,
 * ra column 16; CFA = rsp+8, ra at CFA-8) and an FDE after it whose
 * instructions are `insns`, for [0x1000, 0x1100) with .eh_frame at 0x4000. */
#define EH_VADDR 0x4000
#define FN_START 0x1000
#define FN_SIZE 0x100

static const uint8_t CIE[] = {
    20,   0,    0,   0, /* length */
    0,    0,    0,   0, /* CIE id */
    1,    'z',  'R', 0, /* version, augmentation */
    1,                  /* code_align */
    0x78,               /* data_align -8 */
    16,                 /* return address column */
    1,    0x1b,         /* augmentation data: FDE encoding pcrel|sdata4 */
    0x0c, 7,    8,      /* def_cfa rsp+8 */
    0x90, 1,            /* offset r16, CFA-8 */
    0,    0,            /* nop padding */
};

/* Builds .eh_frame = CIE | FDE(insns) | terminator into buf; its size. */
static size_t
build_eh_frame(uint8_t *buf, const uint8_t *insns, size_t insns_len)
{
    size_t at = sizeof(CIE);
    memcpy(buf, CIE, at);
    uint32_t len = (uint32_t)(4 + 4 + 4 + 1 + insns_len);
    uint32_t cie_ptr = (uint32_t)(at + 4);
    int32_t pc_begin = (int32_t)(FN_START - (EH_VADDR + at + 8));
    uint32_t range = FN_SIZE;
    memcpy(buf + at, &len, 4);
    memcpy(buf + at + 4, &cie_ptr, 4);
    memcpy(buf + at + 8, &pc_begin, 4);
    memcpy(buf + at + 12, &range, 4);
    buf[at + 16] = 0; /* augmentation data length */
    memcpy(buf + at + 17, insns, insns_len);
    at += 4 + len;
    memset(buf + at, 0, 4);
    return at + 4;
}

static struct pt_cfi_index *
index_of(const uint8_t *eh, size_t size)
{
    struct pt_cfi_tables t = {.eh_frame = eh,
                              .eh_frame_size = size,
                              .eh_frame_vaddr = EH_VADDR,
                              .machine = EM_X86_64};
    struct pt_cfi_index *ix = NULL;
    CHECK_EQ_INT(pt_cfi_index_new(&ix, &t), 0);
    return ix;
}

/* Reads from a fake stack of 8 words at 0x7000. */
struct fake_stack {
    uint64_t base;
    uint64_t words[8];
};

static int
read_fake(void *ctx, uint64_t addr, uint64_t *value)
{
    const struct fake_stack *s = ctx;
    if (addr < s->base || addr - s->base > sizeof(s->words) - 8) {
        return -1;
    }
    memcpy(value, (const uint8_t *)s->words + (addr - s->base), 8);
    return 0;
}

/* glibc's x86_64 PLT entries: CFA = rsp + 8 + ((rip & 15) >= 11 ? 8 : 0). */
static void
test_plt_expression(void)
{
    static const uint8_t plt[] = {
        0x0f, 11,         /* def_cfa_expression, 11 bytes: */
        0x77, 8,          /* breg7 (rsp) 8 */
        0x80, 0,          /* breg16 (rip) 0 */
        0x3f, 0x1a,       /* lit15 and */
        0x3b, 0x2a,       /* lit11 ge */
        0x33, 0x24, 0x22, /* lit3 shl plus */
    };
    uint8_t eh[128];
    size_t size = build_eh_frame(eh, plt, sizeof(plt));
    struct pt_cfi_index *ix = index_of(eh, size);
    if (ix == NULL) {
        return;
    }
    struct pt_cfi_row row;
    CHECK_EQ_INT(pt_cfi_find(ix, FN_START + 0x25, &row), 0);
    CHECK_EQ_INT(row.cfa_is_expr, 1);
    CHECK_EQ_INT(row.ra_reg, 16);
    CHECK_EQ_INT(row.pc_begin, FN_START);
    CHECK_EQ_INT(row.pc_end, FN_START + FN_SIZE);
    struct fake_stack stack = {0x7000, {0x1111, 0x2222, 0x3333}};
    /* rip & 15 = 5: one word pushed, the return address at rsp */
    struct pt_cfi_regs regs = {.valid = (1u << 7) | (1u << 16) | (1u << 3)};
    regs.r[7] = 0x7000;
    regs.r[16] = FN_START + 0x25;
    regs.r[3] = 77;
    CHECK_EQ_INT(pt_cfi_step(&row, &regs, read_fake, &stack), 0);
    CHECK_EQ_INT(regs.r[16], 0x1111);
    CHECK_EQ_INT(regs.r[7], 0x7008);
    CHECK_EQ_INT(regs.r[3], 77); /* rbx: callee-saved, no rule */
    CHECK(!(regs.valid & 1));    /* rax: a scratch register */
    /* rip & 15 = 12: past the push, two words */
    regs = (struct pt_cfi_regs){.valid = (1u << 7) | (1u << 16)};
    regs.r[7] = 0x7000;
    regs.r[16] = FN_START + 0x2c;
    CHECK_EQ_INT(pt_cfi_find(ix, FN_START + 0x2c, &row), 0);
    CHECK_EQ_INT(pt_cfi_step(&row, &regs, read_fake, &stack), 0);
    CHECK_EQ_INT(regs.r[16], 0x2222);
    CHECK_EQ_INT(regs.r[7], 0x7010);
    /* no rip: the CFA can't be had */
    regs = (struct pt_cfi_regs){.valid = 1u << 7};
    CHECK_EQ_INT(pt_cfi_step(&row, &regs, read_fake, &stack), -ENODATA);
    CHECK_EQ_INT(pt_cfi_find(ix, FN_START + FN_SIZE, &row), -ENOENT);
    CHECK_EQ_INT(pt_cfi_find(ix, FN_START - 1, &row), -ENOENT);
    pt_cfi_index_free(ix);
}

/* Rows change at advance_loc; remember/restore_state bring rules back. */
static void
test_program_rows(void)
{
    static const uint8_t prog[] = {
        0x41,       /* advance_loc 1 */
        0x0e, 16,   /* def_cfa_offset 16 */
        0x86, 2,    /* offset rbp, CFA-16 */
        0x0a,       /* remember_state */
        0x43,       /* advance_loc 3 (to +4) */
        0x0d, 6,    /* def_cfa_register rbp */
        0x07, 3,    /* undefined rbx */
        0x44,       /* advance_loc 4 (to +8) */
        0x0b,       /* restore_state */
        0x2e, 0x10, /* GNU_args_size: ignored */
    };
    uint8_t eh[128];
    size_t size = build_eh_frame(eh, prog, sizeof(prog));
    struct pt_cfi_index *ix = index_of(eh, size);
    if (ix == NULL) {
        return;
    }
    struct pt_cfi_row row;
    CHECK_EQ_INT(pt_cfi_find(ix, FN_START, &row), 0);
    CHECK_EQ_INT(row.cfa_reg, 7);
    CHECK_EQ_INT(row.cfa_offset, 8);
    CHECK_EQ_INT(row.rules[6].kind, PT_CFI_SAME);
    CHECK_EQ_INT(pt_cfi_find(ix, FN_START + 3, &row), 0);
    CHECK_EQ_INT(row.cfa_offset, 16);
    CHECK_EQ_INT(row.rules[6].kind, PT_CFI_OFFSET);
    CHECK_EQ_INT(row.rules[6].offset, -16);
    CHECK_EQ_INT(pt_cfi_find(ix, FN_START + 4, &row), 0);
    CHECK_EQ_INT(row.cfa_reg, 6);
    CHECK_EQ_INT(row.rules[3].kind, PT_CFI_UNDEFINED);
    CHECK_EQ_INT(pt_cfi_find(ix, FN_START + 8, &row), 0);
    CHECK_EQ_INT(row.cfa_reg, 7);
    CHECK_EQ_INT(row.cfa_offset, 16);
    CHECK_EQ_INT(row.rules[3].kind, PT_CFI_SAME);
    /* the step at +8: rbp and the return address from the stack */
    struct fake_stack stack = {0x7000, {0xbbbb, 0xaaaa}};
    struct pt_cfi_regs regs = {.valid = 1u << 7};
    regs.r[7] = 0x7000;
    CHECK_EQ_INT(pt_cfi_step(&row, &regs, read_fake, &stack), 0);
    CHECK_EQ_INT(regs.r[6], 0xbbbb);
    CHECK_EQ_INT(regs.r[16], 0xaaaa);
    CHECK_EQ_INT(regs.r[7], 0x7010);
    /* the return address outside the stack copy */
    regs = (struct pt_cfi_regs){.valid = 1u << 7};
    regs.r[7] = 0x7040;
    CHECK_EQ_INT(pt_cfi_step(&row, &regs, read_fake, &stack), -ENODATA);
    pt_cfi_index_free(ix);
}

/* An .eh_frame_hdr over the hand-made .eh_frame, as perftramp's images
 * write it: datarel sdata4 pairs from the start of the header. */
static void
test_hdr_table(void)
{
    static const uint8_t prog[] = {0x41, 0x0e, 16};
    uint8_t eh[128];
    size_t size = build_eh_frame(eh, prog, sizeof(prog));
    const uint64_t hdr_vaddr = 0x3000;
    uint8_t hdr[20] = {1, 0x1b, 0x03, 0x3b};
    int32_t eh_ptr = (int32_t)(EH_VADDR - (hdr_vaddr + 4));
    uint32_t count = 1;
    int32_t pair[2] = {(int32_t)(FN_START - hdr_vaddr),
                       (int32_t)(EH_VADDR + sizeof(CIE) - hdr_vaddr)};
    memcpy(hdr + 4, &eh_ptr, 4);
    memcpy(hdr + 8, &count, 4);
    memcpy(hdr + 12, pair, 8);
    struct pt_cfi_tables t = {.eh_frame_hdr = hdr,
                              .eh_frame_hdr_size = sizeof(hdr),
                              .eh_frame_hdr_vaddr = hdr_vaddr,
                              .eh_frame = eh,
                              .eh_frame_size = size,
                              .eh_frame_vaddr = EH_VADDR,
                              .machine = EM_X86_64};
    struct pt_cfi_index *ix = NULL;
    struct pt_cfi_row row;
    CHECK_EQ_INT(pt_cfi_index_new(&ix, &t), 0);
    CHECK_EQ_INT(pt_cfi_find(ix, FN_START + 1, &row), 0);
    CHECK_EQ_INT(row.cfa_offset, 16);
    CHECK_EQ_INT(pt_cfi_find(ix, FN_START - 1, &row), -ENOENT);
    CHECK_EQ_INT(pt_cfi_find(ix, FN_START + FN_SIZE, &row), -ENOENT);
    pt_cfi_index_free(ix);
    /* the table's FDE address points past .eh_frame */
    pair[1] = (int32_t)(EH_VADDR + 4096 - hdr_vaddr);
    memcpy(hdr + 12, pair, 8);
    CHECK_EQ_INT(pt_cfi_index_new(&ix, &t), 0);
    CHECK_EQ_INT(pt_cfi_find(ix, FN_START + 1, &row), -EINVAL);
    /* ... at the CIE */
    pt_cfi_index_free(ix);
    pair[1] = (int32_t)(EH_VADDR - hdr_vaddr);
    memcpy(hdr + 12, pair, 8);
    CHECK_EQ_INT(pt_cfi_index_new(&ix, &t), 0);
    CHECK_EQ_INT(pt_cfi_find(ix, FN_START + 1, &row), -EINVAL);
    pt_cfi_index_free(ix);
    /* no entries yet (a fresh perftramp image): .eh_frame is scanned */
    count = 0;
    memcpy(hdr + 8, &count, 4);
    CHECK_EQ_INT(pt_cfi_index_new(&ix, &t), 0);
    CHECK_EQ_INT(pt_cfi_find(ix, FN_START + 1, &row), 0);
    pt_cfi_index_free(ix);
}

/* The tables of a perftramp image (src/core/elfimage_format.c): four stubs
 * 16 bytes apart, found by the image's .eh_frame_hdr, then by a scan while
 * its fde_count is still 0. */
static void
test_perftramp_image(void)
{
    struct pt_elf_layout l;
    pt_elf_layout_for(&l, 8, 4096);
    uint8_t *image = calloc(1, l.exec_end);
    if (image == NULL) {
        CHECK(image != NULL);
        return;
    }
    const size_t stride = 16, slots = 4;
    pt_elf_write_cie(image + l.eh_off, &l);
    pt_elf_write_hdr_fixed(image + l.hdr_off, &l);
    pt_elf_write_chunk_fdes(image + l.eh_off + pt_elf_cie_size(), &l, 0, l.text_off,
                            slots, stride);
    pt_elf_write_chunk_index(image + l.hdr_off + PT_ELF_HDR_FIXED, &l, 0, l.text_off,
                             slots, stride);
    struct pt_cfi_tables t = {
        .eh_frame_hdr = image + l.hdr_off,
        .eh_frame_hdr_size = l.hdr_cap,
        .eh_frame_hdr_vaddr = l.hdr_off,
        .eh_frame = image + l.eh_off,
        .eh_frame_size = l.eh_cap,
        .eh_frame_vaddr = l.eh_off,
#if defined(__aarch64__)
        .machine = EM_AARCH64
    };
#else
        .machine = EM_X86_64
    };
#endif
    for (uint32_t count = 0; count <= slots; count += slots) {
        memcpy(image + l.hdr_off + PT_ELF_HDR_COUNT_AT, &count, 4);
        struct pt_cfi_index *ix = NULL;
        struct pt_cfi_row row;
        CHECK_EQ_INT(pt_cfi_index_new(&ix, &t), 0);
        if (ix == NULL) {
            continue;
        }
        uint64_t stub2 = l.text_off + 2 * stride;
        CHECK_EQ_INT(pt_cfi_find(ix, stub2 + 5, &row), 0);
        CHECK_EQ_INT(row.pc_begin, stub2);
        CHECK_EQ_INT(row.pc_end, stub2 + stride);
        CHECK_EQ_INT(pt_cfi_find(ix, l.text_off + slots * stride, &row), -ENOENT);
#if defined(__x86_64__)
        /* inside the stub's call: CFA = rbp+16, rbp saved at CFA-16 */
        CHECK_EQ_INT(pt_cfi_find(ix, stub2 + 5, &row), 0);
        struct fake_stack stack = {0x7000, {0, 0, 0x5555, 0x4444}};
        struct pt_cfi_regs regs = {.valid = (1u << 6) | (1u << 7)};
        regs.r[6] = 0x7010;
        regs.r[7] = 0x7000;
        CHECK_EQ_INT(pt_cfi_step(&row, &regs, read_fake, &stack), 0);
        CHECK_EQ_INT(regs.r[16], 0x4444);
        CHECK_EQ_INT(regs.r[6], 0x5555);
        CHECK_EQ_INT(regs.r[7], 0x7020);
#endif
        pt_cfi_index_free(ix);
    }
    free(image);
}

/* find through the hdr table pointing at the FDE at `fde_off` */
static int
find_via_hdr(const uint8_t *eh, size_t size, size_t fde_off, uint64_t pc)
{
    const uint64_t hdr_vaddr = 0x3000;
    uint8_t hdr[20] = {1, 0x1b, 0x03, 0x3b};
    int32_t eh_ptr = (int32_t)(EH_VADDR - (hdr_vaddr + 4));
    uint32_t count = 1;
    int32_t pair[2] = {(int32_t)(FN_START - hdr_vaddr),
                       (int32_t)(EH_VADDR + fde_off - hdr_vaddr)};
    memcpy(hdr + 4, &eh_ptr, 4);
    memcpy(hdr + 8, &count, 4);
    memcpy(hdr + 12, pair, 8);
    struct pt_cfi_tables t = {.eh_frame_hdr = hdr,
                              .eh_frame_hdr_size = sizeof(hdr),
                              .eh_frame_hdr_vaddr = hdr_vaddr,
                              .eh_frame = eh,
                              .eh_frame_size = size,
                              .eh_frame_vaddr = EH_VADDR,
                              .machine = EM_X86_64};
    struct pt_cfi_index *ix = NULL;
    struct pt_cfi_row row;
    int rc = pt_cfi_index_new(&ix, &t);
    if (rc == 0) {
        rc = pt_cfi_find(ix, pc, &row);
    }
    pt_cfi_index_free(ix);
    return rc;
}

static void
test_malformed(void)
{
    static const uint8_t prog[] = {0x41, 0x0e, 16};
    uint8_t good[128], eh[128];
    size_t size = build_eh_frame(good, prog, sizeof(prog));
    const size_t fde = sizeof(CIE);
    CHECK_EQ_INT(find_via_hdr(good, size, fde, FN_START + 1), 0);

    /* truncated: the FDE's length runs past the section */
    CHECK_EQ_INT(find_via_hdr(good, fde + 10, fde, FN_START + 1), -EINVAL);
    /* truncated: the CIE's length runs past the section */
    memcpy(eh, good, size);
    eh[0] = 200;
    CHECK_EQ_INT(find_via_hdr(eh, size, fde, FN_START + 1), -EINVAL);
    /* the CIE's body cut inside its augmentation string */
    memcpy(eh, good, size);
    eh[0] = 6;
    CHECK_EQ_INT(find_via_hdr(eh, size, fde, FN_START + 1), -EINVAL);
    /* the CIE pointer before the section's start */
    memcpy(eh, good, size);
    uint32_t far = 1000;
    memcpy(eh + fde + 4, &far, 4);
    CHECK_EQ_INT(find_via_hdr(eh, size, fde, FN_START + 1), -EINVAL);
    /* the CIE pointer at something not a CIE (the FDE itself) */
    uint32_t self = 4;
    memcpy(eh + fde + 4, &self, 4);
    CHECK_EQ_INT(find_via_hdr(eh, size, fde, FN_START + 1), -EINVAL);
    /* an unknown augmentation letter */
    memcpy(eh, good, size);
    eh[10] = 'X';
    CHECK_EQ_INT(find_via_hdr(eh, size, fde, FN_START + 1), -ENOTSUP);
    /* augmentation data longer than the CIE */
    memcpy(eh, good, size);
    eh[15] = 100;
    CHECK_EQ_INT(find_via_hdr(eh, size, fde, FN_START + 1), -EINVAL);
    /* a CFA op cut short, an unknown op, restore_state with nothing remembered */
    static const uint8_t cut[] = {0x0c, 7};
    size = build_eh_frame(eh, cut, sizeof(cut));
    CHECK_EQ_INT(find_via_hdr(eh, size, fde, FN_START + 1), -EINVAL);
    static const uint8_t unknown[] = {0x3c};
    size = build_eh_frame(eh, unknown, sizeof(unknown));
    CHECK_EQ_INT(find_via_hdr(eh, size, fde, FN_START + 1), -ENOTSUP);
    static const uint8_t unbalanced[] = {0x0b};
    size = build_eh_frame(eh, unbalanced, sizeof(unbalanced));
    CHECK_EQ_INT(find_via_hdr(eh, size, fde, FN_START + 1), -EINVAL);
    /* remember_state past the bounded stack */
    uint8_t deep[40];
    memset(deep, 0x0a, sizeof(deep));
    size = build_eh_frame(eh, deep, sizeof(deep));
    CHECK_EQ_INT(find_via_hdr(eh, size, fde, FN_START + 1), -ENOTSUP);

    /* a runaway expression: DW_OP_skip -3 jumps back onto itself */
    static const uint8_t loop[] = {0x0f, 4, 0x30, 0x2f, 0xfd, 0xff};
    size = build_eh_frame(eh, loop, sizeof(loop));
    struct pt_cfi_index *ix = index_of(eh, size);
    struct pt_cfi_row row;
    struct fake_stack stack = {0x7000, {0}};
    struct pt_cfi_regs regs = {.valid = 1u << 7};
    if (ix != NULL) {
        CHECK_EQ_INT(pt_cfi_find(ix, FN_START + 1, &row), 0);
        CHECK_EQ_INT(pt_cfi_step(&row, &regs, read_fake, &stack), -EINVAL);
        pt_cfi_index_free(ix);
    }
    /* a branch out of the expression, a stack underflow, a division by 0 */
    static const uint8_t bad_exprs[][6] = {
        {0x0f, 4, 0x31, 0x28, 0x10, 0x00},
        {0x0f, 4, 0x22, 0x96, 0x96, 0x96},
        {0x0f, 4, 0x31, 0x30, 0x1b, 0x96},
    };
    for (size_t i = 0; i < sizeof(bad_exprs) / sizeof(bad_exprs[0]); i++) {
        size = build_eh_frame(eh, bad_exprs[i], sizeof(bad_exprs[i]));
        ix = index_of(eh, size);
        if (ix != NULL) {
            CHECK_EQ_INT(pt_cfi_find(ix, FN_START + 1, &row), 0);
            regs = (struct pt_cfi_regs){.valid = 1u << 7};
            CHECK_EQ_INT(pt_cfi_step(&row, &regs, read_fake, &stack), -EINVAL);
            pt_cfi_index_free(ix);
        }
    }
    /* a scanned .eh_frame cut anywhere: no crash, no row it doesn't hold */
    size = build_eh_frame(good, prog, sizeof(prog));
    for (size_t cut_at = 0; cut_at < size; cut_at++) {
        struct pt_cfi_tables t = {.eh_frame = good,
                                  .eh_frame_size = cut_at,
                                  .eh_frame_vaddr = EH_VADDR,
                                  .machine = EM_X86_64};
        ix = NULL;
        CHECK_EQ_INT(pt_cfi_index_new(&ix, &t), 0);
        int rc = pt_cfi_find(ix, FN_START + 1, &row);
        CHECK(cut_at >= fde + 20 ? rc == 0 : rc == -ENOENT);
        pt_cfi_index_free(ix);
    }
}

/* ---- live stacks (x86_64) ---- */

#if defined(__x86_64__)

#    define STACK_COPY 16384

/* A snapshot of a frame: its registers and a copy of the stack above its sp. */
struct snapshot {
    struct pt_cfi_regs regs;
    uint8_t stack[STACK_COPY];
    size_t stack_len;
};

static struct snapshot snap;

/* The end of the mapping holding addr (the stack), from /proc/self/maps. */
static uint64_t
mapping_end(uint64_t addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    unsigned long long lo, hi, end = 0;
    char line[512];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%llx-%llx", &lo, &hi) == 2 && lo <= addr && addr < hi) {
            end = hi;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return end;
}

/* Other frames' bytes, read the way perf copies them: ASan's redzones
 * between locals are no bug here. */
__attribute__((no_sanitize_address, noinline)) static void
copy_stack(uint8_t *to, const volatile uint8_t *from, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        to[i] = from[i];
    }
}

__attribute__((noinline)) static void
snapshot_take(struct snapshot *s)
{
    uint64_t rip, rsp, rbp, rbx;
    __asm__ volatile("lea 0(%%rip), %0\n\t"
                     "mov %%rsp, %1\n\t"
                     "mov %%rbp, %2\n\t"
                     "mov %%rbx, %3"
                     : "=&r"(rip), "=&r"(rsp), "=&r"(rbp), "=&r"(rbx));
    s->regs =
        (struct pt_cfi_regs){.valid = (1u << 16) | (1u << 7) | (1u << 6) | (1u << 3)};
    s->regs.r[16] = rip;
    s->regs.r[7] = rsp;
    s->regs.r[6] = rbp;
    s->regs.r[3] = rbx;
    static uint64_t end; /* the stack's mapping stays */
    if (end == 0) {
        end = mapping_end(rsp);
    }
    s->stack_len = end - rsp < STACK_COPY ? (size_t)(end - rsp) : STACK_COPY;
    copy_stack(s->stack, (const volatile uint8_t *)(uintptr_t)rsp, s->stack_len);
}

static int
read_snapshot(void *ctx, uint64_t addr, uint64_t *value)
{
    const struct snapshot *s = ctx;
    uint64_t base = s->regs.r[7];
    if (addr < base || addr - base > s->stack_len || s->stack_len - (addr - base) < 8) {
        return -1;
    }
    memcpy(value, s->stack + (addr - base), 8);
    return 0;
}

/* The CFI of the loaded object holding a pc, by PT_GNU_EH_FRAME. */
struct module_search {
    uint64_t pc;
    struct pt_cfi_tables t;
    int found;
};

static int
find_module(struct dl_phdr_info *info, size_t size, void *ctx)
{
    (void)size;
    struct module_search *m = ctx;
    const ElfW(Phdr) *eh = NULL, *text = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uint64_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_GNU_EH_FRAME) {
            eh = ph;
        }
        if (ph->p_type == PT_LOAD && m->pc >= start && m->pc - start < ph->p_memsz) {
            text = ph;
        }
    }
    if (eh == NULL || text == NULL) {
        return 0;
    }
    const uint8_t *hdr = (const uint8_t *)(uintptr_t)(info->dlpi_addr + eh->p_vaddr);
    /* .eh_frame is where the header points (pcrel sdata4 in every
     * toolchain's output); its size is bounded by its segment's end */
    int32_t rel;
    memcpy(&rel, hdr + 4, 4);
    if (hdr[1] != 0x1b) {
        return 0;
    }
    uint64_t eh_frame = (uint64_t)(uintptr_t)hdr + 4 + (uint64_t)(int64_t)rel;
    uint64_t seg_end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uint64_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && eh_frame >= start &&
            eh_frame - start < ph->p_memsz) {
            seg_end = start + ph->p_memsz;
        }
    }
    if (seg_end == 0) {
        return 0;
    }
    m->t = (struct pt_cfi_tables){.eh_frame_hdr = hdr,
                                  .eh_frame_hdr_size = eh->p_memsz,
                                  .eh_frame_hdr_vaddr = (uint64_t)(uintptr_t)hdr,
                                  .eh_frame = (const uint8_t *)(uintptr_t)eh_frame,
                                  .eh_frame_size = (size_t)(seg_end - eh_frame),
                                  .eh_frame_vaddr = eh_frame,
                                  .machine = EM_X86_64};
    m->found = 1;
    return 1;
}

/* Unwinds the snapshot: fills pcs (the callers' pcs, innermost first);
 * how many. */
static size_t
unwind_snapshot(struct snapshot *s, uint64_t *pcs, size_t max)
{
    struct pt_cfi_regs regs = s->regs;
    uint64_t pc = regs.r[16];
    size_t n = 0;
    /* the first pc is the snapshot's own; callers' return addresses - 1 */
    for (int first = 1; n < max; first = 0) {
        struct module_search m = {.pc = first ? pc : pc - 1};
        dl_iterate_phdr(find_module, &m);
        if (!m.found) {
            break;
        }
        struct pt_cfi_index *ix = NULL;
        struct pt_cfi_row row;
        int rc = pt_cfi_index_new(&ix, &m.t);
        if (rc == 0) {
            rc = pt_cfi_find(ix, m.pc, &row);
        }
        if (rc == 0) {
            rc = pt_cfi_step(&row, &regs, read_snapshot, s);
        }
        pt_cfi_index_free(ix);
        if (rc != 0 || !(regs.valid & (1u << 16))) {
            break;
        }
        pc = regs.r[16];
        pcs[n++] = pc;
    }
    return n;
}

static int
contains(const uint64_t *pcs, size_t n, uint64_t pc)
{
    for (size_t i = 0; i < n; i++) {
        if (pcs[i] == pc) {
            return (int)i;
        }
    }
    return -1;
}

/* The chain: without frame pointers (gcc honours the attribute; clang
 * keeps them, and CFI must unwind either). */
#    if defined(__clang__)
#        define NO_FP
#    else
#        define NO_FP __attribute__((optimize("omit-frame-pointer")))
#    endif

static void *return_addresses[4];
static volatile int sink;

NO_FP __attribute__((noinline)) static int
chain4(int x)
{
    return_addresses[3] = __builtin_return_address(0);
    snapshot_take(&snap);
    sink = x;
    return x + 1;
}

NO_FP __attribute__((noinline)) static int
chain3(int x)
{
    return_addresses[2] = __builtin_return_address(0);
    volatile char pad[40];
    pad[x & 31] = (char)x;
    return chain4(x + pad[x & 31]) + 1;
}

NO_FP __attribute__((noinline)) static int
chain2(int x)
{
    return_addresses[1] = __builtin_return_address(0);
    return chain3(x * 3) + 1;
}

NO_FP __attribute__((noinline)) static int
chain1(int x)
{
    return_addresses[0] = __builtin_return_address(0);
    return chain2(x + 2) + 1;
}

static void
test_own_stack(void)
{
    CHECK(chain1(1) > 0);
    uint64_t pcs[16];
    size_t n = unwind_snapshot(&snap, pcs, 16);
    /* pcs[0] is chain4's pc after the snapshot_take call */
    CHECK(n >= 5);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(contains(pcs, n, (uint64_t)(uintptr_t)return_addresses[i]), 4 - i);
    }
}

/* qsort's comparator takes the snapshot; unwinding goes through libc's
 * frames (no frame pointer) back to the function that called qsort. */
static int snapped;
static void *sort_return;

static int
compare_ints(const void *a, const void *b)
{
    /* the last call: ASan's qsort interceptor calls the comparator itself
     * before libc's qsort does */
    snapped = 1;
    snapshot_take(&snap);
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

__attribute__((noinline)) static void
sort_some(void)
{
    sort_return = __builtin_return_address(0);
    int v[16];
    for (int i = 0; i < 16; i++) {
        v[i] = (i * 7) % 16;
    }
    qsort(v, 16, sizeof(v[0]), compare_ints);
    sink = v[0];
}

static void
test_through_libc(void)
{
    sort_some();
    CHECK(snapped);
    uint64_t pcs[64];
    size_t n = unwind_snapshot(&snap, pcs, 64);
    /* the comparator, qsort's own frames, sort_some, and its caller */
    int at = contains(pcs, n, (uint64_t)(uintptr_t)sort_return);
    CHECK(at >= 2);
    /* and some of the frames between were libc's */
    struct module_search own = {.pc = (uint64_t)(uintptr_t)sort_return - 1};
    dl_iterate_phdr(find_module, &own);
    int in_libc = 0;
    for (int i = 0; i < at; i++) {
        struct module_search m = {.pc = pcs[i] - 1};
        dl_iterate_phdr(find_module, &m);
        in_libc += m.found && m.t.eh_frame_hdr != own.t.eh_frame_hdr;
    }
    CHECK(own.found && in_libc > 0);
    if (at < 2) {
        fprintf(stderr, "qsort unwind: %zu frames:", n);
        for (size_t i = 0; i < n; i++) {
            fprintf(stderr, " %llx", (unsigned long long)pcs[i]);
        }
        fprintf(stderr, "\n");
    }
}

static void
test_live(void)
{
    test_own_stack();
    test_through_libc();
}

#else

static void
test_live(void)
{
    printf("test_ehframe: live-stack tests need x86_64, skipped\n");
}

#endif

int
main(void)
{
    test_plt_expression();
    test_program_rows();
    test_hdr_table();
    test_perftramp_image();
    test_malformed();
    test_live();
    return TEST_REPORT("test_ehframe");
}
