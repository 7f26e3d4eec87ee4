/* The CFI describes the stub instruction by instruction: a small DWARF CFA
 * interpreter runs the generated CIE + FDE and compares, at every
 * instruction boundary, the CFA rule and where the saved registers are with
 * what the stub's assembly does. */
#include "cfi.h"
#include "stub.h"
#include "testhelp.h"

#include <stdint.h>
#include <string.h>

struct row {
    unsigned offset; /* bytes into the stub */
    int cfa_reg;
    int cfa_off;
    int fp_saved_at; /* offset from CFA, 0 = not saved (same value) */
    int ra_saved_at; /* offset from CFA, 0 = in its register */
};

#if defined(__x86_64__)
#    define FP_REG 6
#    define SP_REG 7
#    define RA_REG 16
static const struct row expected[] = {
    {0, SP_REG, 8, 0, -8},    {1, SP_REG, 16, -16, -8}, {4, FP_REG, 16, -16, -8},
    {6, FP_REG, 16, -16, -8}, {7, SP_REG, 8, 0, -8},
};
#elif defined(__aarch64__)
#    define FP_REG 29
#    define SP_REG 31
#    define RA_REG 30
static const struct row expected[] = {
    {0, SP_REG, 0, 0, 0},      {4, SP_REG, 16, -16, -8}, {8, FP_REG, 16, -16, -8},
    {12, FP_REG, 16, -16, -8}, {16, SP_REG, 0, 0, 0},
};
#endif

struct state {
    int cfa_reg, cfa_off;
    int saved[64]; /* offset from CFA, 0 = not saved */
};

static unsigned
uleb(const uint8_t **p)
{
    unsigned v = 0, shift = 0;
    uint8_t b;
    do {
        b = *(*p)++;
        v |= (unsigned)(b & 0x7f) << shift;
        shift += 7;
    } while (b & 0x80);
    return v;
}

static int
sleb(const uint8_t **p)
{
    int v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
        b = *(*p)++;
        v |= (int)(b & 0x7f) << shift;
        shift += 7;
    } while (b & 0x80);
    if (shift < 32 && (b & 0x40)) {
        v |= -(1 << shift);
    }
    return v;
}

/* Runs rules until the location passes `target`; returns 0, or -1 on an
 * opcode this interpreter does not know (which the test counts as wrong). */
static int
run(const uint8_t *p, const uint8_t *end, struct state *st, const struct state *initial,
    unsigned code_align, int data_align, unsigned target)
{
    unsigned loc = 0;
    while (p < end) {
        uint8_t op = *p++;
        uint8_t hi = op & 0xc0, lo = op & 0x3f;
        if (hi == 0x40) {
            loc += lo * code_align;
            if (loc > target) {
                return 0;
            }
        }
        else if (hi == 0x80) {
            st->saved[lo] = (int)uleb(&p) * data_align;
        }
        else if (hi == 0xc0) {
            st->saved[lo] = initial->saved[lo];
        }
        else if (op == 0x00) {
            /* DW_CFA_nop */
        }
        else if (op == 0x0c) {
            st->cfa_reg = (int)uleb(&p);
            st->cfa_off = (int)uleb(&p);
        }
        else if (op == 0x0d) {
            st->cfa_reg = (int)uleb(&p);
        }
        else if (op == 0x0e) {
            st->cfa_off = (int)uleb(&p);
        }
        else {
            return -1;
        }
    }
    return 0;
}

int
main(void)
{
    enum pt_cfi_addressing modes[] = {PT_CFI_PCREL4, PT_CFI_ABS8};
    for (size_t m = 0; m < 2; m++) {
        uint8_t buf[256];
        size_t cie_size = pt_cfi_cie_size();
        size_t fde_size = pt_cfi_fde_size(modes[m]);
        CHECK(cie_size % 8 == 0 && fde_size % 8 == 0);
        CHECK(cie_size + fde_size <= sizeof(buf));
        uintptr_t code = (uintptr_t)buf + 4096;
        pt_cfi_write_cie(buf, modes[m]);
        pt_cfi_write_fde(buf + cie_size, modes[m], (uintptr_t)(buf + cie_size),
                         (uintptr_t)buf, code, 48);

        /* CIE header */
        uint32_t len, id;
        memcpy(&len, buf, 4);
        memcpy(&id, buf + 4, 4);
        CHECK_EQ_INT(len + 4, cie_size);
        CHECK_EQ_INT(id, 0);
        CHECK_EQ_INT(buf[8], 1);
        CHECK(memcmp(buf + 9, "zR", 3) == 0);
        const uint8_t *p = buf + 12;
        unsigned code_align = uleb(&p);
        int data_align = sleb(&p);
        unsigned ra = uleb(&p);
        CHECK_EQ_INT(code_align, pt_stub_cfi.code_align);
        CHECK_EQ_INT(data_align, pt_stub_cfi.data_align);
        CHECK_EQ_INT(ra, RA_REG);
        CHECK_EQ_INT(uleb(&p), 1);
        uint8_t enc = *p++;
        CHECK_EQ_INT(enc, modes[m] == PT_CFI_ABS8 ? DW_EH_PE_absptr
                                                  : (DW_EH_PE_pcrel | DW_EH_PE_sdata4));
        const uint8_t *cie_rules = p, *cie_end = buf + cie_size;

        /* FDE header: points back at the CIE and at the code. */
        const uint8_t *fde = buf + cie_size;
        uint32_t fde_len, cie_ptr;
        memcpy(&fde_len, fde, 4);
        memcpy(&cie_ptr, fde + 4, 4);
        CHECK_EQ_INT(fde_len + 4, fde_size);
        CHECK_EQ_INT(cie_ptr, cie_size + 4);
        uintptr_t pc_begin;
        uint64_t pc_range;
        if (modes[m] == PT_CFI_ABS8) {
            memcpy(&pc_begin, fde + 8, 8);
            memcpy(&pc_range, fde + 16, 8);
            p = fde + 24;
        }
        else {
            int32_t rel;
            uint32_t range;
            memcpy(&rel, fde + 8, 4);
            memcpy(&range, fde + 12, 4);
            pc_begin = (uintptr_t)(fde + 8) + (intptr_t)rel;
            pc_range = range;
            p = fde + 16;
        }
        CHECK(pc_begin == code);
        CHECK_EQ_INT(pc_range, 48);
        CHECK_EQ_INT(uleb(&p), 0);
        const uint8_t *fde_rules = p, *fde_end = fde + fde_size;

        struct state initial = {0};
        CHECK_EQ_INT(
            run(cie_rules, cie_end, &initial, &initial, code_align, data_align, ~0u), 0);
        for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
            struct state st = initial;
            CHECK_EQ_INT(run(fde_rules, fde_end, &st, &initial, code_align, data_align,
                             expected[i].offset),
                         0);
            CHECK_EQ_INT(st.cfa_reg, expected[i].cfa_reg);
            CHECK_EQ_INT(st.cfa_off, expected[i].cfa_off);
            CHECK_EQ_INT(st.saved[FP_REG], expected[i].fp_saved_at);
            CHECK_EQ_INT(st.saved[RA_REG], expected[i].ra_saved_at);
        }
    }
    /* The table's last row is the stub's last instruction. */
    CHECK(expected[sizeof(expected) / sizeof(expected[0]) - 1].offset <
          pt_stub_code_size());
    return TEST_REPORT("test_cfi");
}
