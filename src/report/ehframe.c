/*
 * DWARF CFI reading and one unwinding step; the contract is in ehframe.h.
 *
 * Formats (DWARF 5 §6.4, LSB "Exception Frame" and ".eh_frame_hdr"):
 *
 *   entry:  length u32 (0xffffffff: a u64 length follows; 0 in .eh_frame:
 *           the end) | id (u32, or u64 in 64-bit DWARF) | body
 *   CIE:    id 0 (.eh_frame) or all ones (.debug_frame) | version u8 (1,3,4) |
 *           augmentation "z R P L S B G" NUL | [v4: address size u8,
 *           segment size u8] | code_align uleb | data_align sleb |
 *           return column (u8 in v1, uleb after) | ['z': aug length uleb,
 *           R: FDE encoding, P: encoding + personality, L: LSDA encoding] |
 *           initial instructions
 *   FDE:    CIE pointer (.eh_frame: back from this field; .debug_frame: a
 *           section offset) | pc_begin, pc_range (the CIE's 'R' encoding;
 *           absolute in .debug_frame) | ['z': aug length uleb, data] |
 *           instructions
 *   hdr:    version 1 | eh_frame_ptr enc | fde_count enc | table enc |
 *           eh_frame_ptr | fde_count | table of (initial loc, FDE address)
 *
 * Reading goes through a cursor with a sticky error: every read past its
 * end yields 0 and marks the cursor bad, and callers check it once where a
 * value matters.  Each CFA instruction and each expression op consumes at
 * least one byte, so programs end with their bytes; branches in expressions
 * are bounded by MAX_EXPR_STEPS.
 */
#include "ehframe.h"

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define REMEMBER_DEPTH 16   /* DW_CFA_remember_state nesting */
#define EXPR_STACK 64       /* DWARF expression stack entries */
#define MAX_EXPR_STEPS 4096 /* ops an expression may run, loops included */
#define NO_REG 0xffff

/* ---- reading bytes ---- */

struct cursor {
    const uint8_t *buf;
    size_t pos, end;
    bool bad;
};

static bool
take(struct cursor *c, void *out, size_t n)
{
    if (c->bad || c->end - c->pos < n) {
        c->bad = true;
        memset(out, 0, n);
        return false;
    }
    memcpy(out, c->buf + c->pos, n);
    c->pos += n;
    return true;
}

static uint8_t
u8(struct cursor *c)
{
    uint8_t v;
    take(c, &v, 1);
    return v;
}

static uint16_t
u16(struct cursor *c)
{
    uint16_t v;
    take(c, &v, 2);
    return v;
}

static uint32_t
u32(struct cursor *c)
{
    uint32_t v;
    take(c, &v, 4);
    return v;
}

static uint64_t
u64(struct cursor *c)
{
    uint64_t v;
    take(c, &v, 8);
    return v;
}

static void
skip(struct cursor *c, uint64_t n)
{
    if (c->bad || c->end - c->pos < n) {
        c->bad = true;
        return;
    }
    c->pos += (size_t)n;
}

/* LEB128: bits past 64 are dropped; more than 10 bytes is malformed. */
static uint64_t
leb(struct cursor *c, bool is_signed)
{
    uint64_t v = 0;
    unsigned shift = 0;
    for (int i = 0; i < 10; i++) {
        uint8_t b = u8(c);
        if (c->bad) {
            return 0;
        }
        if (shift < 64) {
            v |= (uint64_t)(b & 0x7f) << shift;
        }
        shift += 7;
        if (!(b & 0x80)) {
            if (is_signed && (b & 0x40) && shift < 64) {
                v |= ~(uint64_t)0 << shift;
            }
            return v;
        }
    }
    c->bad = true;
    return 0;
}

static uint64_t
uleb(struct cursor *c)
{
    return leb(c, false);
}

static int64_t
sleb(struct cursor *c)
{
    return (int64_t)leb(c, true);
}

/* An unsigned operand times a (data alignment) factor, without overflow. */
static int64_t
scaled(uint64_t v, int64_t factor)
{
    return (int64_t)(v * (uint64_t)factor);
}

/* A register number as the row holds it. */
static uint16_t
reg_of(uint64_t r)
{
    return r < NO_REG ? (uint16_t)r : NO_REG;
}

/* ---- pointer encodings (DW_EH_PE_*) ---- */

#define PE_OMIT 0xff
#define PE_ABSPTR 0x00
#define PE_ULEB128 0x01
#define PE_UDATA2 0x02
#define PE_UDATA4 0x03
#define PE_UDATA8 0x04
#define PE_SLEB128 0x09
#define PE_SDATA2 0x0a
#define PE_SDATA4 0x0b
#define PE_SDATA8 0x0c
#define PE_PCREL 0x10
#define PE_DATAREL 0x30
#define PE_INDIRECT 0x80

/* Bytes of a fixed-size encoded value; 0 for LEB128s or unknown formats. */
static size_t
encoded_size(uint8_t enc)
{
    switch (enc & 0x0f) {
    case PE_ABSPTR:
    case PE_UDATA8:
    case PE_SDATA8:
        return 8; /* both machines are 64-bit */
    case PE_UDATA2:
    case PE_SDATA2:
        return 2;
    case PE_UDATA4:
    case PE_SDATA4:
        return 4;
    default:
        return 0;
    }
}

/* Where the cursor's bytes are loaded (for pcrel) and the data base (for
 * datarel: .eh_frame_hdr's start). */
struct bases {
    uint64_t section_vaddr;
    uint64_t data;
};

/* The value (no base applied) of the encoded pointer at the cursor. */
static int
read_encoded_value(struct cursor *c, uint8_t enc, uint64_t *out)
{
    switch (enc & 0x0f) {
    case PE_ABSPTR:
    case PE_UDATA8:
    case PE_SDATA8:
        *out = u64(c);
        break;
    case PE_ULEB128:
        *out = uleb(c);
        break;
    case PE_SLEB128:
        *out = (uint64_t)sleb(c);
        break;
    case PE_UDATA2:
        *out = u16(c);
        break;
    case PE_SDATA2:
        *out = (uint64_t)(int64_t)(int16_t)u16(c);
        break;
    case PE_UDATA4:
        *out = u32(c);
        break;
    case PE_SDATA4:
        *out = (uint64_t)(int64_t)(int32_t)u32(c);
        break;
    default:
        return -EINVAL;
    }
    return c->bad ? -EINVAL : 0;
}

/* An encoded pointer, its base applied; indirect pointers are left as the
 * address they point at (only personality routines use them, and those
 * are skipped). */
static int
read_encoded(struct cursor *c, uint8_t enc, const struct bases *b, uint64_t *out)
{
    if (enc == PE_OMIT) {
        return -EINVAL;
    }
    uint64_t field = b->section_vaddr + c->pos;
    uint64_t v;
    int rc = read_encoded_value(c, enc, &v);
    if (rc != 0) {
        return rc;
    }
    switch (enc & 0x70) {
    case 0:
        break;
    case PE_PCREL:
        v += field;
        break;
    case PE_DATAREL:
        v += b->data;
        break;
    default:
        return -ENOTSUP; /* textrel, funcrel, aligned: not in x86_64/aarch64 CFI */
    }
    *out = v;
    return 0;
}

/* ---- CIEs and FDEs ---- */

struct section {
    const uint8_t *buf;
    size_t size;
    uint64_t vaddr;
    bool is_eh; /* .eh_frame, else .debug_frame */
};

/* An entry's header: where its id field and body are, where it ends. */
struct entry {
    size_t start, id_at, body, end;
    uint64_t id;
    bool is_cie;
    bool dwarf64;
};

/* The entry at off; 1 for .eh_frame's terminator, 0, or -EINVAL. */
static int
read_entry(const struct section *s, size_t off, struct entry *e)
{
    struct cursor c = {s->buf, off, s->size, false};
    if (off > s->size) {
        return -EINVAL;
    }
    uint64_t len = u32(&c);
    e->dwarf64 = len == 0xffffffffu;
    if (e->dwarf64) {
        len = u64(&c);
    }
    if (c.bad) {
        return -EINVAL;
    }
    if (len == 0 && s->is_eh) {
        return 1;
    }
    if (len > s->size - c.pos) {
        return -EINVAL;
    }
    e->start = off;
    e->id_at = c.pos;
    e->end = c.pos + (size_t)len;
    c.end = e->end;
    /* .eh_frame's CIE ids and pointers are 4 bytes even in 64-bit entries */
    e->id = e->dwarf64 && !s->is_eh ? u64(&c) : u32(&c);
    if (c.bad) {
        return -EINVAL;
    }
    e->body = c.pos;
    uint64_t cie_id = s->is_eh ? 0 : (e->dwarf64 ? ~(uint64_t)0 : 0xffffffffu);
    e->is_cie = e->id == cie_id;
    return 0;
}

struct cie {
    uint64_t code_align;
    int64_t data_align;
    uint16_t ra_reg;
    uint8_t fde_enc;
    bool has_z;
    bool signal_frame;
    size_t insns, insns_end; /* initial instructions */
};

/* Augmentation letters after 'z' and their data. */
static int
read_augmentation(struct cursor *c, const char *aug, size_t aug_len,
                  const struct bases *b, struct cie *cie)
{
    if (aug_len == 0) {
        return 0;
    }
    if (aug[0] != 'z') {
        return -ENOTSUP; /* "eh" and other pre-'z' forms */
    }
    cie->has_z = true;
    uint64_t data_len = uleb(c);
    if (c->bad || data_len > c->end - c->pos) {
        return -EINVAL;
    }
    struct cursor data = {c->buf, c->pos, c->pos + (size_t)data_len, false};
    for (size_t i = 1; i < aug_len; i++) {
        uint64_t ignored;
        switch (aug[i]) {
        case 'R':
            cie->fde_enc = u8(&data);
            break;
        case 'P': {
            uint8_t enc = u8(&data);
            if (read_encoded(&data, enc & 0x7f, b, &ignored) != 0) {
                return -EINVAL;
            }
            break;
        }
        case 'L':
            (void)u8(&data); /* the LSDA's encoding: FDE data we skip */
            break;
        case 'S':
            cie->signal_frame = true;
            break;
        case 'B': /* aarch64: return addresses signed with the B key */
        case 'G': /* aarch64: MTE-tagged frames */
            break;
        default:
            return -ENOTSUP;
        }
        if (data.bad) {
            return -EINVAL;
        }
    }
    c->pos = data.end;
    return 0;
}

static int
read_cie(const struct section *s, size_t off, struct cie *cie)
{
    struct entry e;
    int rc = read_entry(s, off, &e);
    if (rc != 0 || !e.is_cie) {
        return -EINVAL;
    }
    memset(cie, 0, sizeof(*cie));
    cie->fde_enc = PE_ABSPTR;
    struct cursor c = {s->buf, e.body, e.end, false};
    uint8_t version = u8(&c);
    if (c.bad) {
        return -EINVAL;
    }
    if (version != 1 && version != 3 && version != 4) {
        return -ENOTSUP;
    }
    const char *aug = (const char *)s->buf + c.pos;
    size_t room = c.end - c.pos;
    const char *nul = memchr(aug, '\0', room);
    if (nul == NULL) {
        return -EINVAL;
    }
    size_t aug_len = (size_t)(nul - aug);
    skip(&c, aug_len + 1);
    if (version == 4) {
        uint8_t address_size = u8(&c);
        uint8_t segment_size = u8(&c);
        if (address_size != 8 || segment_size != 0) {
            return -ENOTSUP;
        }
    }
    cie->code_align = uleb(&c);
    cie->data_align = sleb(&c);
    cie->ra_reg = reg_of(version == 1 ? u8(&c) : uleb(&c));
    if (c.bad) {
        return -EINVAL;
    }
    struct bases b = {s->vaddr, 0};
    rc = read_augmentation(&c, aug, aug_len, &b, cie);
    if (rc != 0) {
        return rc;
    }
    cie->insns = c.pos;
    cie->insns_end = c.end;
    return 0;
}

struct fde {
    struct cie cie;
    uint64_t pc_begin, pc_end;
    size_t insns, insns_end;
};

/* The CIE an FDE points at, as an offset in the section. */
static int
cie_offset(const struct section *s, const struct entry *e, size_t *out)
{
    if (!s->is_eh) {
        if (e->id >= s->size) {
            return -EINVAL;
        }
        *out = (size_t)e->id;
        return 0;
    }
    if (e->id > e->id_at) {
        return -EINVAL;
    }
    *out = e->id_at - (size_t)e->id;
    return 0;
}

static int
read_fde(const struct section *s, size_t off, struct fde *f)
{
    struct entry e;
    int rc = read_entry(s, off, &e);
    if (rc != 0 || e.is_cie) {
        return -EINVAL;
    }
    size_t cie_at;
    rc = cie_offset(s, &e, &cie_at);
    if (rc == 0) {
        rc = read_cie(s, cie_at, &f->cie);
    }
    if (rc != 0) {
        return rc;
    }
    struct cursor c = {s->buf, e.body, e.end, false};
    struct bases b = {s->vaddr, 0};
    uint8_t enc = s->is_eh ? f->cie.fde_enc : PE_ABSPTR;
    uint64_t range;
    if (enc & PE_INDIRECT) {
        return -ENOTSUP;
    }
    rc = read_encoded(&c, enc, &b, &f->pc_begin);
    if (rc != 0) {
        return rc;
    }
    rc = read_encoded_value(&c, enc, &range);
    if (rc != 0) {
        return rc;
    }
    f->pc_end = f->pc_begin + range < f->pc_begin ? UINT64_MAX : f->pc_begin + range;
    if (f->cie.has_z) {
        skip(&c, uleb(&c));
    }
    if (c.bad) {
        return -EINVAL;
    }
    f->insns = c.pos;
    f->insns_end = c.end;
    return 0;
}

/* ---- the index ---- */

struct fde_ref {
    uint64_t pc_begin;
    size_t off;
};

struct sorted {
    struct fde_ref *refs;
    size_t count, cap;
};

struct pt_cfi_index {
    struct pt_cfi_tables t;
    struct section eh, debug;
    /* the usable .eh_frame_hdr table */
    const uint8_t *table;
    size_t table_count, table_entry;
    uint8_t table_enc;
    struct sorted eh_sorted, debug_sorted;
};

static int
sorted_add(struct sorted *s, uint64_t pc_begin, size_t off)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        struct fde_ref *refs = realloc(s->refs, cap * sizeof(*refs));
        if (refs == NULL) {
            return -ENOMEM;
        }
        s->refs = refs;
        s->cap = cap;
    }
    s->refs[s->count++] = (struct fde_ref){pc_begin, off};
    return 0;
}

static int
by_pc(const void *a, const void *b)
{
    const struct fde_ref *x = a, *y = b;
    return x->pc_begin < y->pc_begin ? -1 : x->pc_begin > y->pc_begin;
}

/* Every FDE of a section, sorted by pc_begin.  Each entry is at least 4
 * bytes, so the walk ends; it stops at a length that runs past the
 * section, and leaves out FDEs it can't read. */
static int
scan_section(const struct section *s, struct sorted *out)
{
    size_t off = 0;
    while (s->buf != NULL && off < s->size) {
        struct entry e;
        if (read_entry(s, off, &e) != 0) {
            break;
        }
        struct fde f;
        if (!e.is_cie && read_fde(s, off, &f) == 0 && f.pc_end > f.pc_begin) {
            int rc = sorted_add(out, f.pc_begin, off);
            if (rc != 0) {
                return rc;
            }
        }
        off = e.end;
    }
    if (out->count > 1) {
        qsort(out->refs, out->count, sizeof(*out->refs), by_pc);
    }
    return 0;
}

/* The binary-search table of .eh_frame_hdr, if it has one we can use. */
static void
read_hdr(struct pt_cfi_index *ix)
{
    const struct pt_cfi_tables *t = &ix->t;
    if (t->eh_frame_hdr == NULL || t->eh_frame == NULL) {
        return;
    }
    struct cursor c = {t->eh_frame_hdr, 0, t->eh_frame_hdr_size, false};
    struct bases b = {t->eh_frame_hdr_vaddr, t->eh_frame_hdr_vaddr};
    uint8_t version = u8(&c);
    uint8_t ptr_enc = u8(&c);
    uint8_t count_enc = u8(&c);
    uint8_t table_enc = u8(&c);
    uint64_t eh_frame_ptr, count;
    if (c.bad || version != 1 || ptr_enc == PE_OMIT || count_enc == PE_OMIT ||
        (ptr_enc & PE_INDIRECT) || (count_enc & PE_INDIRECT) ||
        read_encoded(&c, ptr_enc, &b, &eh_frame_ptr) != 0 ||
        read_encoded(&c, count_enc, &b, &count) != 0) {
        return;
    }
    size_t entry = 2 * encoded_size(table_enc);
    if ((table_enc & 0x70) != PE_DATAREL || (table_enc & PE_INDIRECT) || entry == 0 ||
        count == 0 || count > (c.end - c.pos) / entry) {
        return;
    }
    ix->table = t->eh_frame_hdr + c.pos;
    ix->table_count = (size_t)count;
    ix->table_entry = entry;
    ix->table_enc = table_enc;
}

int
pt_cfi_index_new(struct pt_cfi_index **out, const struct pt_cfi_tables *t)
{
    *out = NULL;
    if (t->machine != EM_X86_64 && t->machine != EM_AARCH64) {
        return -ENOTSUP;
    }
    struct pt_cfi_index *ix = calloc(1, sizeof(*ix));
    if (ix == NULL) {
        return -ENOMEM;
    }
    ix->t = *t;
    ix->eh = (struct section){t->eh_frame, t->eh_frame ? t->eh_frame_size : 0,
                              t->eh_frame_vaddr, true};
    ix->debug = (struct section){t->debug_frame, t->debug_frame ? t->debug_frame_size : 0,
                                 0, false};
    read_hdr(ix);
    int rc = 0;
    if (ix->table == NULL) {
        rc = scan_section(&ix->eh, &ix->eh_sorted);
    }
    if (rc == 0) {
        rc = scan_section(&ix->debug, &ix->debug_sorted);
    }
    if (rc != 0) {
        pt_cfi_index_free(ix);
        return rc;
    }
    *out = ix;
    return 0;
}

void
pt_cfi_index_free(struct pt_cfi_index *ix)
{
    if (ix == NULL) {
        return;
    }
    free(ix->eh_sorted.refs);
    free(ix->debug_sorted.refs);
    free(ix);
}

/* Entry i of the hdr table: its initial location and FDE address. */
static int
table_entry(const struct pt_cfi_index *ix, size_t i, uint64_t *loc, uint64_t *fde)
{
    size_t at = i * ix->table_entry;
    struct cursor c = {ix->table, at, at + ix->table_entry, false};
    struct bases b = {0, ix->t.eh_frame_hdr_vaddr};
    int rc = read_encoded(&c, ix->table_enc, &b, loc);
    return rc != 0 ? rc : read_encoded(&c, ix->table_enc, &b, fde);
}

/* The .eh_frame offset of the FDE whose range may hold pc, by the hdr
 * table: 0, -ENOENT, -EINVAL. */
static int
search_table(const struct pt_cfi_index *ix, uint64_t pc, size_t *off)
{
    size_t lo = 0, hi = ix->table_count;
    uint64_t fde = 0;
    bool found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t loc, addr;
        int rc = table_entry(ix, mid, &loc, &addr);
        if (rc != 0) {
            return -EINVAL;
        }
        if (loc <= pc) {
            fde = addr;
            found = true;
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    if (!found) {
        return -ENOENT;
    }
    if (fde < ix->eh.vaddr || fde - ix->eh.vaddr >= ix->eh.size) {
        return -EINVAL;
    }
    *off = (size_t)(fde - ix->eh.vaddr);
    return 0;
}

static int
search_sorted(const struct sorted *s, uint64_t pc, size_t *off)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->refs[mid].pc_begin <= pc) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    if (lo == 0) {
        return -ENOENT;
    }
    *off = s->refs[lo - 1].off;
    return 0;
}

/* ---- running the CFA program ---- */

/* The CFA rule and register rules at one location. */
struct state {
    uint8_t cfa_is_expr;
    uint16_t cfa_reg;
    int64_t cfa_offset;
    const uint8_t *cfa_expr;
    size_t cfa_expr_len;
    struct pt_cfi_rule rules[PT_CFI_REGS];
};

struct machine_regs {
    uint16_t sp;
    uint64_t callee_saved; /* bit per register, the ra column included */
};

static struct machine_regs
machine_regs(uint16_t machine)
{
    if (machine == EM_AARCH64) {
        /* x19..x29, and x30 (lr) the ra column */
        return (struct machine_regs){31, ((1ull << 12) - 1) << 19};
    }
    /* rbx, rbp, r12..r15, and 16 the ra column */
    return (struct machine_regs){7, (1u << 3) | (1u << 6) | (0xfu << 12) | (1u << 16)};
}

static void
default_state(struct state *st, uint16_t machine)
{
    struct machine_regs m = machine_regs(machine);
    memset(st, 0, sizeof(*st));
    for (int i = 0; i < PT_CFI_REGS; i++) {
        st->rules[i].kind = (m.callee_saved >> i) & 1 ? PT_CFI_SAME : PT_CFI_UNDEFINED;
    }
    st->rules[m.sp].kind = PT_CFI_VAL_OFFSET;
    st->cfa_reg = m.sp;
}

struct program {
    const struct section *s;
    const struct fde *f;
    uint64_t pc, loc;
    const struct state *initial; /* NULL while running the CIE's program */
    struct state remembered[REMEMBER_DEPTH];
    size_t depth;
};

static void
set_rule(struct state *st, uint64_t reg, uint8_t kind, int64_t offset)
{
    if (reg < PT_CFI_REGS) {
        st->rules[reg] = (struct pt_cfi_rule){.kind = kind, .offset = offset};
    }
}

static void
set_expr_rule(struct state *st, uint64_t reg, uint8_t kind, const uint8_t *expr,
              size_t len)
{
    if (reg < PT_CFI_REGS) {
        st->rules[reg] =
            (struct pt_cfi_rule){.kind = kind, .expr = expr, .expr_len = len};
    }
}

/* A block (uleb length, bytes) at the cursor. */
static const uint8_t *
block(struct cursor *c, size_t *len)
{
    uint64_t n = uleb(c);
    const uint8_t *p = c->buf + c->pos;
    skip(c, n);
    *len = c->bad ? 0 : (size_t)n;
    return c->bad ? NULL : p;
}

/* Moves the location by delta code units: false once it passes pc (the
 * row for pc is complete). */
static bool
advance(struct program *p, uint64_t delta)
{
    uint64_t next = p->loc + delta * p->f->cie.code_align;
    if (next < p->loc || next > p->pc) {
        return false;
    }
    p->loc = next;
    return true;
}

static int
restore_reg(struct program *p, struct state *st, uint64_t reg)
{
    if (p->initial == NULL) {
        return -EINVAL; /* DW_CFA_restore in a CIE */
    }
    if (reg < PT_CFI_REGS) {
        st->rules[reg] = p->initial->rules[reg];
    }
    return 0;
}

/* One instruction of the extended (0x00..0x3f) kind; 1 to stop. */
static int
run_extended(struct program *p, struct cursor *c, struct state *st, uint8_t op)
{
    const struct cie *cie = &p->f->cie;
    uint64_t reg;
    size_t len;
    const uint8_t *expr;
    switch (op) {
    case 0x00: /* nop */
        return 0;
    case 0x01: { /* set_loc */
        struct bases b = {p->s->vaddr, 0};
        uint64_t loc;
        uint8_t enc = p->s->is_eh ? cie->fde_enc : PE_ABSPTR;
        if (read_encoded(c, enc, &b, &loc) != 0) {
            return -EINVAL;
        }
        if (loc > p->pc) {
            return 1;
        }
        p->loc = loc;
        return 0;
    }
    case 0x02: /* advance_loc1 */
        return advance(p, u8(c)) ? 0 : 1;
    case 0x03: /* advance_loc2 */
        return advance(p, u16(c)) ? 0 : 1;
    case 0x04: /* advance_loc4 */
        return advance(p, u32(c)) ? 0 : 1;
    case 0x05: /* offset_extended */
        reg = uleb(c);
        set_rule(st, reg, PT_CFI_OFFSET, scaled(uleb(c), cie->data_align));
        return 0;
    case 0x06: /* restore_extended */
        return restore_reg(p, st, uleb(c));
    case 0x07: /* undefined */
        set_rule(st, uleb(c), PT_CFI_UNDEFINED, 0);
        return 0;
    case 0x08: /* same_value */
        set_rule(st, uleb(c), PT_CFI_SAME, 0);
        return 0;
    case 0x09: /* register */
        reg = uleb(c);
        if (reg < PT_CFI_REGS) {
            st->rules[reg] =
                (struct pt_cfi_rule){.kind = PT_CFI_REGISTER, .reg = reg_of(uleb(c))};
        }
        else {
            (void)uleb(c);
        }
        return 0;
    case 0x0a: /* remember_state */
        if (p->depth == REMEMBER_DEPTH) {
            return -ENOTSUP;
        }
        p->remembered[p->depth++] = *st;
        return 0;
    case 0x0b: /* restore_state */
        if (p->depth == 0) {
            return -EINVAL;
        }
        *st = p->remembered[--p->depth];
        return 0;
    case 0x0c: /* def_cfa */
        st->cfa_reg = reg_of(uleb(c));
        st->cfa_offset = (int64_t)uleb(c);
        st->cfa_is_expr = 0;
        return 0;
    case 0x0d: /* def_cfa_register */
        st->cfa_reg = reg_of(uleb(c));
        st->cfa_is_expr = 0;
        return 0;
    case 0x0e: /* def_cfa_offset */
        st->cfa_offset = (int64_t)uleb(c);
        st->cfa_is_expr = 0;
        return 0;
    case 0x0f: /* def_cfa_expression */
        expr = block(c, &len);
        st->cfa_is_expr = 1;
        st->cfa_expr = expr;
        st->cfa_expr_len = len;
        return 0;
    case 0x10: /* expression */
        reg = uleb(c);
        expr = block(c, &len);
        set_expr_rule(st, reg, PT_CFI_EXPRESSION, expr, len);
        return 0;
    case 0x11: /* offset_extended_sf */
        reg = uleb(c);
        set_rule(st, reg, PT_CFI_OFFSET, scaled((uint64_t)sleb(c), cie->data_align));
        return 0;
    case 0x12: /* def_cfa_sf */
        st->cfa_reg = reg_of(uleb(c));
        st->cfa_offset = scaled((uint64_t)sleb(c), cie->data_align);
        st->cfa_is_expr = 0;
        return 0;
    case 0x13: /* def_cfa_offset_sf */
        st->cfa_offset = scaled((uint64_t)sleb(c), cie->data_align);
        st->cfa_is_expr = 0;
        return 0;
    case 0x14: /* val_offset */
        reg = uleb(c);
        set_rule(st, reg, PT_CFI_VAL_OFFSET, scaled(uleb(c), cie->data_align));
        return 0;
    case 0x15: /* val_offset_sf */
        reg = uleb(c);
        set_rule(st, reg, PT_CFI_VAL_OFFSET, scaled((uint64_t)sleb(c), cie->data_align));
        return 0;
    case 0x16: /* val_expression */
        reg = uleb(c);
        expr = block(c, &len);
        set_expr_rule(st, reg, PT_CFI_VAL_EXPRESSION, expr, len);
        return 0;
    case 0x2d: /* GNU_window_save; aarch64 negate_ra_state: see ehframe.h */
        return 0;
    case 0x2e: /* GNU_args_size: the caller's business, not the CFA's */
        (void)uleb(c);
        return 0;
    case 0x2f: /* GNU_negative_offset_extended */
        reg = uleb(c);
        set_rule(st, reg, PT_CFI_OFFSET, scaled(0 - uleb(c), cie->data_align));
        return 0;
    default:
        return -ENOTSUP;
    }
}

/* Runs insns[from, to) into st; stops at the first location past pc. */
static int
run_program(struct program *p, struct state *st, size_t from, size_t to)
{
    struct cursor c = {p->s->buf, from, to, false};
    while (c.pos < c.end) {
        uint8_t op = u8(&c);
        int rc = 0;
        switch (op >> 6) {
        case 1: /* advance_loc */
            rc = advance(p, op & 0x3f) ? 0 : 1;
            break;
        case 2: /* offset */
            set_rule(st, op & 0x3f, PT_CFI_OFFSET,
                     scaled(uleb(&c), p->f->cie.data_align));
            break;
        case 3: /* restore */
            rc = restore_reg(p, st, op & 0x3f);
            break;
        default:
            rc = run_extended(p, &c, st, op);
            break;
        }
        if (c.bad) {
            return -EINVAL;
        }
        if (rc != 0) {
            return rc < 0 ? rc : 0;
        }
    }
    return 0;
}

static int
run_fde(const struct section *s, const struct fde *f, uint16_t machine, uint64_t pc,
        struct pt_cfi_row *row)
{
    /* large (the remember stack): off the caller's stack */
    struct program *p = malloc(sizeof(*p));
    struct state *states = malloc(2 * sizeof(*states));
    int rc = -ENOMEM;
    if (p != NULL && states != NULL) {
        struct state *initial = &states[0], *st = &states[1];
        /* field by field: zeroing the remember stack (~20 KiB) would cost
         * more than running a typical program */
        p->s = s;
        p->f = f;
        p->pc = pc;
        p->loc = f->pc_begin;
        p->initial = NULL;
        p->depth = 0;
        default_state(initial, machine);
        rc = run_program(p, initial, f->cie.insns, f->cie.insns_end);
        if (rc == 0) {
            *st = *initial;
            p->initial = initial;
            p->depth = 0;
            p->loc = f->pc_begin;
            rc = run_program(p, st, f->insns, f->insns_end);
        }
        if (rc == 0) {
            *row = (struct pt_cfi_row){
                .pc_begin = f->pc_begin,
                .pc_end = f->pc_end,
                .cfa_is_expr = st->cfa_is_expr,
                .cfa_reg = st->cfa_reg,
                .cfa_offset = st->cfa_offset,
                .cfa_expr = st->cfa_expr,
                .cfa_expr_len = st->cfa_expr_len,
                .ra_reg = f->cie.ra_reg,
                .signal_frame = f->cie.signal_frame,
            };
            memcpy(row->rules, st->rules, sizeof(row->rules));
        }
    }
    free(p);
    free(states);
    return rc;
}

/* The FDE at off in s, if it covers pc: its row. */
static int
row_at(const struct pt_cfi_index *ix, const struct section *s, size_t off, uint64_t pc,
       struct pt_cfi_row *row)
{
    struct fde f;
    int rc = read_fde(s, off, &f);
    if (rc != 0) {
        return rc;
    }
    if (pc < f.pc_begin || pc >= f.pc_end) {
        return -ENOENT;
    }
    return run_fde(s, &f, ix->t.machine, pc, row);
}

int
pt_cfi_find(const struct pt_cfi_index *ix, uint64_t pc, struct pt_cfi_row *row)
{
    size_t off;
    int rc = -ENOENT;
    if (ix->table != NULL) {
        rc = search_table(ix, pc, &off);
        if (rc == 0) {
            rc = row_at(ix, &ix->eh, off, pc, row);
        }
    }
    else if (search_sorted(&ix->eh_sorted, pc, &off) == 0) {
        rc = row_at(ix, &ix->eh, off, pc, row);
    }
    if (rc == -ENOENT && search_sorted(&ix->debug_sorted, pc, &off) == 0) {
        rc = row_at(ix, &ix->debug, off, pc, row);
    }
    return rc;
}

/* ---- DWARF expressions ---- */

struct eval {
    const struct pt_cfi_regs *regs;
    pt_cfi_read_fn read;
    void *ctx;
    uint64_t stack[EXPR_STACK];
    size_t depth;
};

static int
push(struct eval *e, uint64_t v)
{
    if (e->depth == EXPR_STACK) {
        return -EINVAL;
    }
    e->stack[e->depth++] = v;
    return 0;
}

static int
reg_value(const struct pt_cfi_regs *regs, uint64_t reg, uint64_t *v)
{
    if (reg >= PT_CFI_REGS || !((regs->valid >> reg) & 1)) {
        return -ENODATA;
    }
    *v = regs->r[reg];
    return 0;
}

static int
deref(struct eval *e, uint64_t addr, size_t size, uint64_t *v)
{
    uint64_t word;
    if (size == 0 || size > 8 || e->read(e->ctx, addr, &word) != 0) {
        return size == 0 || size > 8 ? -EINVAL : -ENODATA;
    }
    /* little-endian machines: the low bytes are the first ones */
    *v = size == 8 ? word : word & ((1ull << (8 * size)) - 1);
    return 0;
}

/* The binary operators: a is the second entry, b the top. */
static int
binary(uint8_t op, uint64_t a, uint64_t b, uint64_t *out)
{
    int64_t sa = (int64_t)a, sb = (int64_t)b;
    switch (op) {
    case 0x1a: /* and */
        *out = a & b;
        return 0;
    case 0x1b: /* div, signed */
        if (b == 0 || (sa == INT64_MIN && sb == -1)) {
            return -EINVAL;
        }
        *out = (uint64_t)(sa / sb);
        return 0;
    case 0x1c: /* minus */
        *out = a - b;
        return 0;
    case 0x1d: /* mod */
        if (b == 0) {
            return -EINVAL;
        }
        *out = a % b;
        return 0;
    case 0x1e: /* mul */
        *out = a * b;
        return 0;
    case 0x21: /* or */
        *out = a | b;
        return 0;
    case 0x22: /* plus */
        *out = a + b;
        return 0;
    case 0x24: /* shl */
        *out = b >= 64 ? 0 : a << b;
        return 0;
    case 0x25: /* shr */
        *out = b >= 64 ? 0 : a >> b;
        return 0;
    case 0x26: /* shra */
        *out = b >= 64 ? (sa < 0 ? ~(uint64_t)0 : 0) : (sa < 0 ? ~(~a >> b) : a >> b);
        return 0;
    case 0x27: /* xor */
        *out = a ^ b;
        return 0;
    case 0x29: /* eq */
        *out = sa == sb;
        return 0;
    case 0x2a: /* ge */
        *out = sa >= sb;
        return 0;
    case 0x2b: /* gt */
        *out = sa > sb;
        return 0;
    case 0x2c: /* le */
        *out = sa <= sb;
        return 0;
    case 0x2d: /* lt */
        *out = sa < sb;
        return 0;
    case 0x2e: /* ne */
        *out = sa != sb;
        return 0;
    default:
        return -ENOTSUP;
    }
}

/* A branch by a signed 16-bit displacement from the cursor. */
static int
branch(struct cursor *c, int16_t by)
{
    int64_t to = (int64_t)c->pos + by;
    if (to < 0 || (uint64_t)to > c->end) {
        return -EINVAL;
    }
    c->pos = (size_t)to;
    return 0;
}

/* One op whose operands are all on the stack or in the bytes. */
static int
eval_op(struct eval *e, struct cursor *c, uint8_t op)
{
    uint64_t v, a;
    int rc;
    if (op >= 0x30 && op <= 0x4f) { /* lit0..31 */
        return push(e, op - 0x30u);
    }
    if (op >= 0x50 && op <= 0x6f) { /* reg0..31: the value, in val_expression */
        rc = reg_value(e->regs, op - 0x50u, &v);
        return rc != 0 ? rc : push(e, v);
    }
    if (op >= 0x70 && op <= 0x8f) { /* breg0..31 */
        int64_t off = sleb(c);
        rc = reg_value(e->regs, op - 0x70u, &v);
        return rc != 0 ? rc : push(e, v + (uint64_t)off);
    }
    switch (op) {
    case 0x03:
        return push(e, u64(c)); /* addr */
    case 0x08:
        return push(e, u8(c)); /* const1u */
    case 0x09:
        return push(e, (uint64_t)(int8_t)u8(c)); /* const1s */
    case 0x0a:
        return push(e, u16(c)); /* const2u */
    case 0x0b:
        return push(e, (uint64_t)(int16_t)u16(c)); /* const2s */
    case 0x0c:
        return push(e, u32(c)); /* const4u */
    case 0x0d:
        return push(e, (uint64_t)(int32_t)u32(c)); /* const4s */
    case 0x0e:
    case 0x0f:
        return push(e, u64(c)); /* const8u/s */
    case 0x10:
        return push(e, uleb(c)); /* constu */
    case 0x11:
        return push(e, (uint64_t)sleb(c)); /* consts */
    case 0x90:                             /* regx */
        rc = reg_value(e->regs, uleb(c), &v);
        return rc != 0 ? rc : push(e, v);
    case 0x92: { /* bregx */
        uint64_t reg = uleb(c);
        int64_t off = sleb(c);
        rc = reg_value(e->regs, reg, &v);
        return rc != 0 ? rc : push(e, v + (uint64_t)off);
    }
    case 0x96: /* nop */
        return 0;
    case 0x2f: /* skip */
        return branch(c, (int16_t)u16(c));
    default:
        break;
    }
    /* the rest need the stack */
    if (e->depth == 0) {
        return -EINVAL;
    }
    uint64_t *top = &e->stack[e->depth - 1];
    switch (op) {
    case 0x06: /* deref */
        return deref(e, *top, 8, top);
    case 0x94: /* deref_size */
        return deref(e, *top, u8(c), top);
    case 0x12: /* dup */
        return push(e, *top);
    case 0x13: /* drop */
        e->depth--;
        return 0;
    case 0x15: { /* pick */
        uint8_t i = u8(c);
        if (i >= e->depth) {
            return -EINVAL;
        }
        return push(e, e->stack[e->depth - 1 - i]);
    }
    case 0x19: /* abs */
        *top = (int64_t)*top < 0 ? -*top : *top;
        return 0;
    case 0x1f: /* neg */
        *top = -*top;
        return 0;
    case 0x20: /* not */
        *top = ~*top;
        return 0;
    case 0x23: /* plus_uconst */
        *top += uleb(c);
        return 0;
    case 0x28: /* bra */
        v = *top;
        e->depth--;
        a = (uint64_t)(int64_t)(int16_t)u16(c);
        return v != 0 ? branch(c, (int16_t)a) : 0;
    default:
        break;
    }
    if (e->depth < 2) {
        return -EINVAL;
    }
    uint64_t *second = &e->stack[e->depth - 2];
    switch (op) {
    case 0x14: /* over */
        return push(e, *second);
    case 0x16: /* swap */
        v = *top;
        *top = *second;
        *second = v;
        return 0;
    case 0x17: /* rot: the top goes third */
        if (e->depth < 3) {
            return -EINVAL;
        }
        v = *top;
        *top = *second;
        *second = e->stack[e->depth - 3];
        e->stack[e->depth - 3] = v;
        return 0;
    default:
        rc = binary(op, *second, *top, &v);
        if (rc == 0) {
            e->depth--;
            e->stack[e->depth - 1] = v;
        }
        return rc == -ENOTSUP ? -EINVAL : rc;
    }
}

/* The expression's value, with `initial` pushed first when has_initial. */
static int
evaluate(const uint8_t *expr, size_t len, const struct pt_cfi_regs *regs,
         pt_cfi_read_fn read, void *ctx, bool has_initial, uint64_t initial,
         uint64_t *out)
{
    struct eval e = {.regs = regs, .read = read, .ctx = ctx};
    struct cursor c = {expr, 0, len, false};
    if (expr == NULL && len != 0) {
        return -EINVAL;
    }
    if (has_initial) {
        push(&e, initial);
    }
    for (int steps = 0; c.pos < c.end; steps++) {
        if (steps == MAX_EXPR_STEPS) {
            return -EINVAL;
        }
        int rc = eval_op(&e, &c, u8(&c));
        if (c.bad) {
            return -EINVAL;
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (e.depth == 0) {
        return -EINVAL;
    }
    *out = e.stack[e.depth - 1];
    return 0;
}

/* ---- the step ---- */

static int
cfa_of(const struct pt_cfi_row *row, const struct pt_cfi_regs *regs, pt_cfi_read_fn read,
       void *ctx, uint64_t *cfa)
{
    if (row->cfa_is_expr) {
        return evaluate(row->cfa_expr, row->cfa_expr_len, regs, read, ctx, false, 0, cfa);
    }
    uint64_t base;
    int rc = reg_value(regs, row->cfa_reg, &base);
    if (rc == 0) {
        *cfa = base + (uint64_t)row->cfa_offset;
    }
    return rc;
}

/* The caller's value of one register by its rule: 0, 1 for undefined, or
 * a negative errno. */
static int
caller_value(const struct pt_cfi_rule *rule, uint16_t reg, const struct pt_cfi_regs *old,
             uint64_t cfa, pt_cfi_read_fn read, void *ctx, uint64_t *v)
{
    uint64_t addr;
    int rc;
    switch (rule->kind) {
    case PT_CFI_SAME:
        return reg_value(old, reg, v);
    case PT_CFI_UNDEFINED:
        return 1;
    case PT_CFI_OFFSET:
        return read(ctx, cfa + (uint64_t)rule->offset, v) == 0 ? 0 : -ENODATA;
    case PT_CFI_VAL_OFFSET:
        *v = cfa + (uint64_t)rule->offset;
        return 0;
    case PT_CFI_REGISTER:
        return reg_value(old, rule->reg, v);
    case PT_CFI_EXPRESSION:
        rc = evaluate(rule->expr, rule->expr_len, old, read, ctx, true, cfa, &addr);
        if (rc != 0) {
            return rc;
        }
        return read(ctx, addr, v) == 0 ? 0 : -ENODATA;
    case PT_CFI_VAL_EXPRESSION:
        return evaluate(rule->expr, rule->expr_len, old, read, ctx, true, cfa, v);
    default:
        return -EINVAL;
    }
}

int
pt_cfi_step(const struct pt_cfi_row *row, struct pt_cfi_regs *regs, pt_cfi_read_fn read,
            void *ctx)
{
    const struct pt_cfi_regs old = *regs;
    if (row->ra_reg >= PT_CFI_REGS) {
        return -ENODATA;
    }
    uint64_t cfa;
    int rc = cfa_of(row, &old, read, ctx, &cfa);
    if (rc != 0) {
        return rc;
    }
    struct pt_cfi_regs next = {{0}, 0};
    for (uint16_t i = 0; i < PT_CFI_REGS; i++) {
        uint64_t v;
        rc = caller_value(&row->rules[i], i, &old, cfa, read, ctx, &v);
        if (rc == -EINVAL || (rc < 0 && i == row->ra_reg)) {
            return rc;
        }
        if (rc == 0) {
            next.r[i] = v;
            next.valid |= 1ull << i;
        }
    }
    *regs = next;
    return 0;
}
