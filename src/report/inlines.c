/*
 * Inline chains from DWARF; the contract is in inlines.h.
 *
 * The shape of the data:
 *
 *   .debug_info is a list of units, each a header then a tree of DIEs
 *   (debugging information entries) written depth first: a DIE is an
 *   abbreviation code (ULEB128) naming an entry of .debug_abbrev that
 *   gives its tag, whether it has children, and the (attribute, form) list
 *   of the values that follow; a code of 0 closes a list of children.  A
 *   function is a DW_TAG_subprogram with an address range; a call inlined
 *   into it is a DW_TAG_inlined_subroutine DIE below it (maybe inside
 *   lexical blocks, maybe inside another inlined subroutine) with its own
 *   ranges, naming the inlined function through DW_AT_abstract_origin, a
 *   reference to the abstract subprogram DIE that holds DW_AT_name (or
 *   refers on through DW_AT_specification).
 *
 *   A range is DW_AT_low_pc with DW_AT_high_pc (an address, or since
 *   DWARF 4 a length), or DW_AT_ranges: an offset into .debug_ranges
 *   (DWARF 4: address pairs) or .debug_rnglists (DWARF 5: tagged entries,
 *   maybe through an index relative to DW_AT_rnglists_base).  DWARF 5 also
 *   names strings and addresses by index (DW_FORM_strx*, DW_FORM_addrx*)
 *   into .debug_str_offsets and .debug_addr, from the unit DIE's
 *   DW_AT_str_offsets_base and DW_AT_addr_base.
 *
 * The design: pt_inlines_new reads the unit headers and each unit DIE's
 * ranges into one sorted table (address -> unit).  The first lookup in a
 * unit walks its DIEs once, iteratively with an explicit stack, and keeps
 * every subprogram and inlined subroutine with a range as a node (its DIE
 * offset and the node enclosing it) and its ranges in a table sorted by
 * start.  Ranges nest, so the innermost function at an address is the
 * covering range that starts last: the search walks back from the last
 * range starting at or before the address, cut short by a running maximum
 * of range ends, and the chain is that node's ancestors.  Names are
 * resolved at lookup time and every answer is cached per address.
 */
#include "inlines.h"

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#ifdef PT_HAVE_ZLIB
#    include <zlib.h>
#endif

/* Limits against hostile input, far above what compilers write. */
#define MAX_DEPTH 512       /* DIE nesting in a unit */
#define MAX_ORIGIN_CHAIN 16 /* abstract_origin / specification hops */
#define MAX_CHAIN 64        /* names kept per address */
#define MAX_INFLATED (1u << 30)

enum {
    DW_TAG_compile_unit = 0x11,
    DW_TAG_inlined_subroutine = 0x1d,
    DW_TAG_subprogram = 0x2e,
    DW_TAG_partial_unit = 0x3c,

    DW_AT_name = 0x03,
    DW_AT_low_pc = 0x11,
    DW_AT_high_pc = 0x12,
    DW_AT_abstract_origin = 0x31,
    DW_AT_specification = 0x47,
    DW_AT_ranges = 0x55,
    DW_AT_linkage_name = 0x6e,
    DW_AT_MIPS_linkage_name = 0x2007,
    DW_AT_str_offsets_base = 0x72,
    DW_AT_addr_base = 0x73,
    DW_AT_rnglists_base = 0x74,
    DW_AT_GNU_addr_base = 0x2133,
    DW_AT_GNU_ranges_base = 0x2132,

    DW_FORM_addr = 0x01,
    DW_FORM_block2 = 0x03,
    DW_FORM_block4 = 0x04,
    DW_FORM_data2 = 0x05,
    DW_FORM_data4 = 0x06,
    DW_FORM_data8 = 0x07,
    DW_FORM_string = 0x08,
    DW_FORM_block = 0x09,
    DW_FORM_block1 = 0x0a,
    DW_FORM_data1 = 0x0b,
    DW_FORM_flag = 0x0c,
    DW_FORM_sdata = 0x0d,
    DW_FORM_strp = 0x0e,
    DW_FORM_udata = 0x0f,
    DW_FORM_ref_addr = 0x10,
    DW_FORM_ref1 = 0x11,
    DW_FORM_ref2 = 0x12,
    DW_FORM_ref4 = 0x13,
    DW_FORM_ref8 = 0x14,
    DW_FORM_ref_udata = 0x15,
    DW_FORM_indirect = 0x16,
    DW_FORM_sec_offset = 0x17,
    DW_FORM_exprloc = 0x18,
    DW_FORM_flag_present = 0x19,
    DW_FORM_strx = 0x1a,
    DW_FORM_addrx = 0x1b,
    DW_FORM_ref_sup4 = 0x1c,
    DW_FORM_strp_sup = 0x1d,
    DW_FORM_data16 = 0x1e,
    DW_FORM_line_strp = 0x1f,
    DW_FORM_ref_sig8 = 0x20,
    DW_FORM_implicit_const = 0x21,
    DW_FORM_loclistx = 0x22,
    DW_FORM_rnglistx = 0x23,
    DW_FORM_ref_sup8 = 0x24,
    DW_FORM_strx1 = 0x25,
    DW_FORM_strx2 = 0x26,
    DW_FORM_strx3 = 0x27,
    DW_FORM_strx4 = 0x28,
    DW_FORM_addrx1 = 0x29,
    DW_FORM_addrx2 = 0x2a,
    DW_FORM_addrx3 = 0x2b,
    DW_FORM_addrx4 = 0x2c,
    DW_FORM_GNU_addr_index = 0x1f01,
    DW_FORM_GNU_str_index = 0x1f02,
    DW_FORM_GNU_ref_alt = 0x1f20,
    DW_FORM_GNU_strp_alt = 0x1f21,

    DW_UT_compile = 0x01,
    DW_UT_type = 0x02,
    DW_UT_partial = 0x03,

    DW_RLE_end_of_list = 0,
    DW_RLE_base_addressx = 1,
    DW_RLE_startx_endx = 2,
    DW_RLE_startx_length = 3,
    DW_RLE_offset_pair = 4,
    DW_RLE_base_address = 5,
    DW_RLE_start_end = 6,
    DW_RLE_start_length = 7,
};

/* ---- bounded reading ---- */

struct span {
    const uint8_t *p;
    size_t n;
};

/* A read position in a span; `bad` sticks once a read runs off the end. */
struct cursor {
    const uint8_t *p;
    size_t n, at;
    bool bad;
};

static struct cursor
cursor_at(struct span s, uint64_t at)
{
    struct cursor c = {s.p, s.n, 0, at > s.n};
    c.at = c.bad ? s.n : (size_t)at;
    return c;
}

static bool
cursor_take(struct cursor *c, size_t n, const uint8_t **p)
{
    if (c->bad || n > c->n - c->at) {
        c->bad = true;
        return false;
    }
    *p = c->p + c->at;
    c->at += n;
    return true;
}

static void
cursor_skip(struct cursor *c, uint64_t n)
{
    const uint8_t *p;
    if (n > SIZE_MAX) {
        c->bad = true;
        return;
    }
    (void)cursor_take(c, (size_t)n, &p);
}

/* A little-endian unsigned integer of 1..8 bytes. */
static uint64_t
read_uint(struct cursor *c, size_t size)
{
    const uint8_t *p;
    uint64_t v = 0;
    if (!cursor_take(c, size, &p)) {
        return 0;
    }
    for (size_t i = size; i-- > 0;) {
        v = v << 8 | p[i];
    }
    return v;
}

static uint64_t
read_uleb(struct cursor *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        const uint8_t *p;
        if (!cursor_take(c, 1, &p)) {
            return 0;
        }
        if (shift < 64) {
            v |= (uint64_t)(*p & 0x7f) << shift;
        }
        if (!(*p & 0x80)) {
            return v;
        }
    }
}

static int64_t
read_sleb(struct cursor *c)
{
    uint64_t v = 0;
    unsigned shift = 0;
    const uint8_t *p;
    do {
        if (!cursor_take(c, 1, &p)) {
            return 0;
        }
        if (shift < 64) {
            v |= (uint64_t)(*p & 0x7f) << shift;
        }
        shift += 7;
    } while (*p & 0x80);
    if (shift < 64 && (*p & 0x40)) {
        v |= ~(uint64_t)0 << shift;
    }
    return (int64_t)v;
}

/* The NUL-terminated string at `at` of a string section, or false. */
static bool
string_at(struct span s, uint64_t at, const char **str, size_t *len)
{
    if (at >= s.n) {
        return false;
    }
    const uint8_t *end = memchr(s.p + at, '\0', s.n - (size_t)at);
    if (end == NULL) {
        return false;
    }
    *str = (const char *)s.p + at;
    *len = (size_t)(end - (s.p + at));
    return true;
}

/* ---- the file's sections ---- */

enum {
    SEC_INFO,
    SEC_ABBREV,
    SEC_STR,
    SEC_LINE_STR,
    SEC_STR_OFFSETS,
    SEC_ADDR,
    SEC_RANGES,
    SEC_RNGLISTS,
    SEC_COUNT
};

static const char *const section_names[SEC_COUNT] = {
    ".debug_info",        ".debug_abbrev", ".debug_str",    ".debug_line_str",
    ".debug_str_offsets", ".debug_addr",   ".debug_ranges", ".debug_rnglists",
};

/* ---- abbreviations ---- */

struct attr_spec {
    uint32_t name, form;
    int64_t implicit; /* DW_FORM_implicit_const's value */
};

struct abbrev {
    uint64_t code;
    uint32_t tag;
    bool children;
    uint32_t first, count; /* into abbrevs.specs */
};

struct abbrevs {
    struct abbrev *list; /* sorted by code */
    size_t n;
    struct attr_spec *specs;
    size_t n_specs;
};

/* ---- per unit ---- */

/* A function DIE with a range: a subprogram or an inlined subroutine. */
struct fn_node {
    uint64_t die; /* offset in .debug_info */
    int32_t parent;
};

struct fn_range {
    uint64_t lo, hi; /* [lo, hi) */
    uint32_t node;
};

struct unit {
    uint64_t off, die, end; /* header, first DIE, end in .debug_info */
    uint64_t abbrev_off;
    uint8_t version, addr_size, offset_size;
    uint64_t str_offsets_base, addr_base, rnglists_base, base_address;
    bool abbrevs_read, indexed;
    int error; /* of reading abbrevs or indexing: answered ever after */
    struct abbrevs abbrevs;
    struct fn_node *nodes;
    size_t n_nodes;
    struct fn_range *ranges; /* sorted by lo, then node */
    uint64_t *max_hi;        /* max_hi[i]: the largest hi of ranges[0..i] */
    size_t n_ranges;
};

/* A unit's ranges in the file-wide table. */
struct unit_range {
    uint64_t lo, hi;
    uint32_t unit;
};

struct name_ref {
    const char *s;
    size_t len;
};

struct cache_slot {
    uint64_t addr;
    uint32_t first; /* into pt_inlines.pool */
    int32_t count;  /* names there; -1: the slot is empty */
    int error;      /* the lookup's error, answered again */
};

struct pt_inlines {
    struct span sec[SEC_COUNT];
    void *owned[SEC_COUNT]; /* inflated sections */
    struct unit *units;
    size_t n_units;
    struct unit_range *unit_ranges;
    uint64_t *unit_max_hi;
    size_t n_unit_ranges;
    struct cache_slot *cache;
    size_t cache_cap, cache_used;
    struct name_ref *pool;
    size_t pool_len, pool_cap;
};

/* ---- growable arrays ---- */

static int
grow(void **items, size_t *cap, size_t need, size_t item_size)
{
    if (need <= *cap) {
        return 0;
    }
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2 / item_size) {
            return -ENOMEM;
        }
        n *= 2;
    }
    void *p = realloc(*items, n * item_size);
    if (p == NULL) {
        return -ENOMEM;
    }
    *items = p;
    *cap = n;
    return 0;
}

/* ---- sections, inflated when compressed ---- */

static int
inflate_section(const uint8_t *data, size_t size, void **owned, struct span *out)
{
    Elf64_Chdr ch;
    if (size < sizeof(ch)) {
        return -EINVAL;
    }
    memcpy(&ch, data, sizeof(ch));
    /* deflate expands at most 1032 times: a larger stated size is a lie
     * that would only cost memory */
    if (ch.ch_type != ELFCOMPRESS_ZLIB || ch.ch_size > MAX_INFLATED ||
        size - sizeof(ch) > UINT32_MAX || ch.ch_size / 1032 > size - sizeof(ch)) {
        return -EINVAL;
    }
#ifndef PT_HAVE_ZLIB
    (void)owned;
    (void)out;
    return -ENOTSUP; /* built without zlib */
#else
    uint8_t *buf = malloc(ch.ch_size ? (size_t)ch.ch_size : 1);
    if (buf == NULL) {
        return -ENOMEM;
    }
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit(&z) != Z_OK) {
        free(buf);
        return -ENOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)(data + sizeof(ch));
    z.avail_in = (uInt)(size - sizeof(ch));
    z.next_out = buf;
    z.avail_out = (uInt)ch.ch_size;
    int rc = inflate(&z, Z_FINISH);
    bool whole = rc == Z_STREAM_END && z.total_out == ch.ch_size;
    inflateEnd(&z);
    if (!whole) {
        free(buf);
        return -EINVAL;
    }
    *owned = buf;
    out->p = buf;
    out->n = (size_t)ch.ch_size;
    return 0;
#endif
}

static int
load_section(struct pt_inlines *in, struct pt_elf_file *f, int which)
{
    const uint8_t *data;
    size_t size;
    uint64_t flags = 0;
    if (pt_elf_file_section(f, section_names[which], &data, &size, NULL) != 0) {
        return 0; /* absent: every read from it fails its bounds check */
    }
    (void)pt_elf_file_section_flags(f, section_names[which], &flags);
    if (flags & SHF_COMPRESSED) {
        return inflate_section(data, size, &in->owned[which], &in->sec[which]);
    }
    in->sec[which].p = data;
    in->sec[which].n = size;
    return 0;
}

/* ---- unit headers ---- */

/* Reads the header at *at, setting *at to the next one.  1 for a unit to
 * keep, 0 for one to skip, -EINVAL when the list cannot go on. */
static int
read_unit_header(struct span info, uint64_t *at, struct unit *u)
{
    struct cursor c = cursor_at(info, *at);
    uint64_t len = read_uint(&c, 4);
    u->offset_size = 4;
    if (len == 0xffffffff) {
        len = read_uint(&c, 8);
        u->offset_size = 8;
    }
    else if (len >= 0xfffffff0) {
        return -EINVAL;
    }
    if (c.bad || len > c.n - c.at) {
        return -EINVAL;
    }
    u->off = *at;
    u->end = c.at + len;
    *at = u->end;
    struct cursor h = {c.p, u->end, c.at, false};
    u->version = (uint8_t)read_uint(&h, 2);
    uint8_t type = DW_UT_compile;
    if (u->version >= 5) {
        type = (uint8_t)read_uint(&h, 1);
        u->addr_size = (uint8_t)read_uint(&h, 1);
        u->abbrev_off = read_uint(&h, u->offset_size);
    }
    else {
        u->abbrev_off = read_uint(&h, u->offset_size);
        u->addr_size = (uint8_t)read_uint(&h, 1);
    }
    u->die = h.at;
    if (h.bad || u->version < 2 || u->version > 5 ||
        (type != DW_UT_compile && type != DW_UT_partial) ||
        (u->addr_size != 4 && u->addr_size != 8)) {
        return 0;
    }
    return 1;
}

static int
read_unit_headers(struct pt_inlines *in)
{
    size_t cap = 0;
    uint64_t at = 0;
    while (at < in->sec[SEC_INFO].n) {
        struct unit u;
        memset(&u, 0, sizeof(u));
        int rc = read_unit_header(in->sec[SEC_INFO], &at, &u);
        if (rc < 0) {
            return in->n_units ? 0 : rc; /* keep the units before a broken one */
        }
        if (rc == 0) {
            continue;
        }
        rc = grow((void **)&in->units, &cap, in->n_units + 1, sizeof(*in->units));
        if (rc != 0) {
            return rc;
        }
        in->units[in->n_units++] = u;
    }
    return 0;
}

/* The unit holding .debug_info offset `off`, or NULL. */
static struct unit *
unit_of(struct pt_inlines *in, uint64_t off)
{
    size_t lo = 0, hi = in->n_units;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (in->units[mid].end <= off) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    if (lo < in->n_units && in->units[lo].off <= off && off < in->units[lo].end) {
        return &in->units[lo];
    }
    return NULL;
}

/* ---- abbreviation tables ---- */

static int
compare_abbrev(const void *a, const void *b)
{
    uint64_t x = ((const struct abbrev *)a)->code, y = ((const struct abbrev *)b)->code;
    return x < y ? -1 : x > y;
}

static int
parse_abbrevs(struct span sec, uint64_t off, struct abbrevs *out)
{
    struct cursor c = cursor_at(sec, off);
    size_t cap = 0, specs_cap = 0;
    bool sorted = true;
    for (;;) {
        uint64_t code = read_uleb(&c);
        if (c.bad) {
            return -EINVAL;
        }
        if (code == 0) {
            break;
        }
        struct abbrev a = {code, (uint32_t)read_uleb(&c), false, (uint32_t)out->n_specs,
                           0};
        a.children = read_uint(&c, 1) != 0;
        for (;;) {
            uint64_t name = read_uleb(&c), form = read_uleb(&c);
            if (c.bad || name > UINT32_MAX || form > UINT32_MAX) {
                return -EINVAL;
            }
            if (name == 0 && form == 0) {
                break;
            }
            struct attr_spec s = {(uint32_t)name, (uint32_t)form, 0};
            if (form == DW_FORM_implicit_const) {
                s.implicit = read_sleb(&c);
            }
            if (out->n_specs >= UINT32_MAX ||
                grow((void **)&out->specs, &specs_cap, out->n_specs + 1,
                     sizeof(*out->specs)) != 0) {
                return -ENOMEM;
            }
            out->specs[out->n_specs++] = s;
            a.count++;
        }
        if (grow((void **)&out->list, &cap, out->n + 1, sizeof(*out->list)) != 0) {
            return -ENOMEM;
        }
        if (out->n > 0 && out->list[out->n - 1].code >= code) {
            sorted = false;
        }
        out->list[out->n++] = a;
    }
    if (!sorted) {
        qsort(out->list, out->n, sizeof(*out->list), compare_abbrev);
    }
    return 0;
}

static const struct abbrev *
find_abbrev(const struct abbrevs *t, uint64_t code)
{
    /* gcc numbers them 1, 2, 3...: try the direct slot first */
    if (code >= 1 && code <= t->n && t->list[code - 1].code == code) {
        return &t->list[code - 1];
    }
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->list[mid].code < code) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo < t->n && t->list[lo].code == code ? &t->list[lo] : NULL;
}

/* ---- DIEs ---- */

/* What a DIE says that matters here. */
struct die {
    uint64_t off;
    uint32_t tag;
    bool children;
    bool has_name, has_linkage, has_low, has_high, high_is_addr, has_ranges,
        ranges_is_index;
    bool has_origin;
    const char *name, *linkage;
    size_t name_len, linkage_len;
    uint64_t low, high, ranges, origin;
    uint64_t str_offsets_base, addr_base, rnglists_base; /* ~0: absent */
};

/* The value of one attribute: an integer (constant, address, offset,
 * index, reference) or a string.  DW_FORM_indirect names the form in the
 * data, once. */
struct value {
    uint32_t form;
    uint64_t u;
    const char *s;
    size_t len;
    bool has_string;
};

static int
read_value(struct cursor *c, const struct unit *u, const struct attr_spec *spec,
           struct value *v)
{
    uint32_t form = spec->form;
    memset(v, 0, sizeof(*v));
    if (form == DW_FORM_indirect) {
        uint64_t f = read_uleb(c);
        if (f == DW_FORM_indirect || f == DW_FORM_implicit_const || f > UINT32_MAX) {
            return -EINVAL;
        }
        form = (uint32_t)f;
    }
    v->form = form;
    switch (form) {
    case DW_FORM_addr:
        v->u = read_uint(c, u->addr_size);
        break;
    case DW_FORM_data1:
    case DW_FORM_ref1:
    case DW_FORM_flag:
    case DW_FORM_strx1:
    case DW_FORM_addrx1:
        v->u = read_uint(c, 1);
        break;
    case DW_FORM_data2:
    case DW_FORM_ref2:
    case DW_FORM_strx2:
    case DW_FORM_addrx2:
        v->u = read_uint(c, 2);
        break;
    case DW_FORM_strx3:
    case DW_FORM_addrx3:
        v->u = read_uint(c, 3);
        break;
    case DW_FORM_data4:
    case DW_FORM_ref4:
    case DW_FORM_ref_sup4:
    case DW_FORM_strx4:
    case DW_FORM_addrx4:
        v->u = read_uint(c, 4);
        break;
    case DW_FORM_data8:
    case DW_FORM_ref8:
    case DW_FORM_ref_sig8:
    case DW_FORM_ref_sup8:
        v->u = read_uint(c, 8);
        break;
    case DW_FORM_data16:
        cursor_skip(c, 16);
        break;
    case DW_FORM_sdata:
        v->u = (uint64_t)read_sleb(c);
        break;
    case DW_FORM_udata:
    case DW_FORM_ref_udata:
    case DW_FORM_strx:
    case DW_FORM_addrx:
    case DW_FORM_loclistx:
    case DW_FORM_rnglistx:
    case DW_FORM_GNU_addr_index:
    case DW_FORM_GNU_str_index:
        v->u = read_uleb(c);
        break;
    case DW_FORM_strp:
    case DW_FORM_line_strp:
    case DW_FORM_sec_offset:
    case DW_FORM_strp_sup:
    case DW_FORM_GNU_ref_alt:
    case DW_FORM_GNU_strp_alt:
        v->u = read_uint(c, u->offset_size);
        break;
    case DW_FORM_ref_addr:
        v->u = read_uint(c, u->version <= 2 ? u->addr_size : u->offset_size);
        break;
    case DW_FORM_string: {
        const uint8_t *start = c->p + c->at;
        const uint8_t *nul = c->bad ? NULL : memchr(start, '\0', c->n - c->at);
        if (nul == NULL) {
            return -EINVAL;
        }
        v->s = (const char *)start;
        v->len = (size_t)(nul - start);
        v->has_string = true;
        cursor_skip(c, v->len + 1);
        break;
    }
    case DW_FORM_block1:
        cursor_skip(c, read_uint(c, 1));
        break;
    case DW_FORM_block2:
        cursor_skip(c, read_uint(c, 2));
        break;
    case DW_FORM_block4:
        cursor_skip(c, read_uint(c, 4));
        break;
    case DW_FORM_block:
    case DW_FORM_exprloc:
        cursor_skip(c, read_uleb(c));
        break;
    case DW_FORM_flag_present:
        v->u = 1;
        break;
    case DW_FORM_implicit_const:
        v->u = (uint64_t)spec->implicit;
        break;
    default:
        return -EINVAL; /* unknown size: the rest of the unit cannot be read */
    }
    return c->bad ? -EINVAL : 0;
}

static bool
is_addrx(uint32_t form)
{
    return form == DW_FORM_addrx || form == DW_FORM_GNU_addr_index ||
           (form >= DW_FORM_addrx1 && form <= DW_FORM_addrx4);
}

static bool
is_strx(uint32_t form)
{
    return form == DW_FORM_strx || form == DW_FORM_GNU_str_index ||
           (form >= DW_FORM_strx1 && form <= DW_FORM_strx4);
}

static bool
is_unit_ref(uint32_t form)
{
    return (form >= DW_FORM_ref1 && form <= DW_FORM_ref_udata);
}

/* An address from .debug_addr by index. */
static bool
indexed_address(const struct pt_inlines *in, const struct unit *u, uint64_t index,
                uint64_t *addr)
{
    if (index > (UINT64_MAX - u->addr_base) / u->addr_size) {
        return false;
    }
    struct cursor c = cursor_at(in->sec[SEC_ADDR], u->addr_base + index * u->addr_size);
    *addr = read_uint(&c, u->addr_size);
    return !c.bad;
}

static bool
resolve_string(const struct pt_inlines *in, const struct unit *u, const struct value *v,
               const char **s, size_t *len)
{
    if (v->has_string) {
        *s = v->s;
        *len = v->len;
        return true;
    }
    uint64_t off = v->u;
    if (is_strx(v->form)) {
        if (off > (UINT64_MAX - u->str_offsets_base) / u->offset_size) {
            return false;
        }
        struct cursor c = cursor_at(in->sec[SEC_STR_OFFSETS],
                                    u->str_offsets_base + off * u->offset_size);
        off = read_uint(&c, u->offset_size);
        if (c.bad) {
            return false;
        }
        return string_at(in->sec[SEC_STR], off, s, len);
    }
    if (v->form == DW_FORM_strp) {
        return string_at(in->sec[SEC_STR], off, s, len);
    }
    if (v->form == DW_FORM_line_strp) {
        return string_at(in->sec[SEC_LINE_STR], off, s, len);
    }
    return false; /* a supplementary file's string, or not a string */
}

static void
note_attribute(const struct pt_inlines *in, const struct unit *u, uint32_t name,
               const struct value *v, struct die *d)
{
    switch (name) {
    case DW_AT_name:
        d->has_name = resolve_string(in, u, v, &d->name, &d->name_len);
        break;
    case DW_AT_linkage_name:
    case DW_AT_MIPS_linkage_name:
        d->has_linkage = resolve_string(in, u, v, &d->linkage, &d->linkage_len);
        break;
    case DW_AT_low_pc:
        d->has_low = v->form == DW_FORM_addr ||
                     (is_addrx(v->form) && indexed_address(in, u, v->u, &d->low));
        if (v->form == DW_FORM_addr) {
            d->low = v->u;
        }
        break;
    case DW_AT_high_pc:
        d->high_is_addr = v->form == DW_FORM_addr || is_addrx(v->form);
        d->has_high = !is_addrx(v->form) || indexed_address(in, u, v->u, &d->high);
        if (!is_addrx(v->form)) {
            d->high = v->u;
        }
        break;
    case DW_AT_ranges:
        d->has_ranges = true;
        d->ranges_is_index = v->form == DW_FORM_rnglistx;
        d->ranges = v->u;
        break;
    case DW_AT_abstract_origin:
    case DW_AT_specification:
        if (is_unit_ref(v->form) && v->u <= u->end - u->off) {
            d->has_origin = true;
            d->origin = u->off + v->u;
        }
        else if (v->form == DW_FORM_ref_addr) {
            d->has_origin = true;
            d->origin = v->u;
        }
        break;
    case DW_AT_str_offsets_base:
        d->str_offsets_base = v->u;
        break;
    case DW_AT_addr_base:
    case DW_AT_GNU_addr_base:
        d->addr_base = v->u;
        break;
    case DW_AT_rnglists_base:
    case DW_AT_GNU_ranges_base:
        d->rnglists_base = v->u;
        break;
    default:
        break;
    }
}

/* Reads the DIE at c (its code already known non-zero) into *d. */
static int
read_die(const struct pt_inlines *in, const struct unit *u, struct cursor *c,
         const struct abbrev *a, struct die *d)
{
    d->tag = a->tag;
    d->children = a->children;
    d->str_offsets_base = d->addr_base = d->rnglists_base = UINT64_MAX;
    for (uint32_t i = 0; i < a->count; i++) {
        const struct attr_spec *spec = &u->abbrevs.specs[a->first + i];
        struct value v;
        int rc = read_value(c, u, spec, &v);
        if (rc != 0) {
            return rc;
        }
        note_attribute(in, u, spec->name, &v, d);
    }
    return 0;
}

/* Reads the unit's abbreviations, then its unit DIE's bases (which the
 * unit DIE's own strx/addrx values need: so it is read twice) and base
 * address.  The unit DIE is left in *top. */
static int
open_unit(struct pt_inlines *in, struct unit *u, struct die *top)
{
    if (!u->abbrevs_read) {
        u->abbrevs_read = true;
        u->error = parse_abbrevs(in->sec[SEC_ABBREV], u->abbrev_off, &u->abbrevs);
    }
    if (u->error != 0) {
        return u->error;
    }
    struct cursor c = {in->sec[SEC_INFO].p, (size_t)u->end, (size_t)u->die, false};
    const struct abbrev *a = find_abbrev(&u->abbrevs, read_uleb(&c));
    if (c.bad || a == NULL) {
        return -EINVAL;
    }
    size_t attrs_at = c.at;
    memset(top, 0, sizeof(*top));
    top->off = u->die;
    int rc = read_die(in, u, &c, a, top);
    if (rc != 0) {
        return rc;
    }
    u->str_offsets_base = top->str_offsets_base != UINT64_MAX ? top->str_offsets_base : 0;
    u->addr_base = top->addr_base != UINT64_MAX ? top->addr_base : 0;
    u->rnglists_base = top->rnglists_base != UINT64_MAX ? top->rnglists_base : 0;
    c.at = attrs_at;
    memset(top, 0, sizeof(*top));
    top->off = u->die;
    rc = read_die(in, u, &c, a, top);
    u->base_address = top->has_low ? top->low : 0;
    return rc;
}

/* ---- ranges ---- */

typedef int (*range_fn)(void *ctx, uint64_t lo, uint64_t hi);

/* DWARF 4 .debug_ranges: (start, end) pairs relative to the base address,
 * a pair with start all ones setting the base, (0, 0) ending the list. */
static int
walk_ranges_v4(const struct pt_inlines *in, const struct unit *u, uint64_t off,
               range_fn fn, void *ctx)
{
    struct cursor c = cursor_at(in->sec[SEC_RANGES], off);
    uint64_t all_ones = u->addr_size == 8 ? UINT64_MAX : UINT32_MAX;
    uint64_t base = u->base_address;
    for (;;) {
        uint64_t start = read_uint(&c, u->addr_size), end = read_uint(&c, u->addr_size);
        if (c.bad) {
            return -EINVAL;
        }
        if (start == 0 && end == 0) {
            return 0;
        }
        if (start == all_ones) {
            base = end;
            continue;
        }
        int rc = fn(ctx, base + start, base + end);
        if (rc != 0) {
            return rc;
        }
    }
}

/* DWARF 5 .debug_rnglists entries. */
static int
walk_rnglist(const struct pt_inlines *in, const struct unit *u, uint64_t off, range_fn fn,
             void *ctx)
{
    struct cursor c = cursor_at(in->sec[SEC_RNGLISTS], off);
    uint64_t base = u->base_address;
    for (;;) {
        uint8_t kind = (uint8_t)read_uint(&c, 1);
        uint64_t lo = 0, hi = 0, a, b;
        bool ok = true;
        if (c.bad) {
            return -EINVAL;
        }
        switch (kind) {
        case DW_RLE_end_of_list:
            return 0;
        case DW_RLE_base_addressx:
            ok = indexed_address(in, u, read_uleb(&c), &base);
            break;
        case DW_RLE_startx_endx:
            a = read_uleb(&c);
            b = read_uleb(&c);
            ok = indexed_address(in, u, a, &lo) && indexed_address(in, u, b, &hi);
            break;
        case DW_RLE_startx_length:
            a = read_uleb(&c);
            ok = indexed_address(in, u, a, &lo);
            hi = lo + read_uleb(&c);
            break;
        case DW_RLE_offset_pair:
            lo = base + read_uleb(&c);
            hi = base + read_uleb(&c);
            break;
        case DW_RLE_base_address:
            base = read_uint(&c, u->addr_size);
            break;
        case DW_RLE_start_end:
            lo = read_uint(&c, u->addr_size);
            hi = read_uint(&c, u->addr_size);
            break;
        case DW_RLE_start_length:
            lo = read_uint(&c, u->addr_size);
            hi = lo + read_uleb(&c);
            break;
        default:
            return -EINVAL;
        }
        if (!ok || c.bad) {
            return -EINVAL;
        }
        if (hi > lo) {
            int rc = fn(ctx, lo, hi);
            if (rc != 0) {
                return rc;
            }
        }
    }
}

/* Calls fn for each range of the DIE. */
static int
walk_die_ranges(const struct pt_inlines *in, const struct unit *u, const struct die *d,
                range_fn fn, void *ctx)
{
    if (d->has_ranges) {
        if (u->version < 5) {
            return walk_ranges_v4(in, u, d->ranges, fn, ctx);
        }
        uint64_t off = d->ranges;
        if (d->ranges_is_index) {
            if (off > (UINT64_MAX - u->rnglists_base) / u->offset_size) {
                return -EINVAL;
            }
            struct cursor c =
                cursor_at(in->sec[SEC_RNGLISTS], u->rnglists_base + off * u->offset_size);
            off = read_uint(&c, u->offset_size);
            if (c.bad || off > UINT64_MAX - u->rnglists_base) {
                return -EINVAL;
            }
            off += u->rnglists_base;
        }
        return walk_rnglist(in, u, off, fn, ctx);
    }
    if (d->has_low && d->has_high) {
        uint64_t hi = d->high_is_addr ? d->high : d->low + d->high;
        return hi > d->low ? fn(ctx, d->low, hi) : 0;
    }
    return 0;
}

/* ---- the file-wide unit table ---- */

struct unit_ranges_ctx {
    struct pt_inlines *in;
    size_t cap, limit;
    uint32_t unit;
};

/* The most ranges a table may hold: units or functions sharing one long
 * list could otherwise ask for memory quadratic in the file's size, while
 * a real file has fewer ranges than bytes of DWARF. */
static size_t
range_limit(const struct pt_inlines *in)
{
    return in->sec[SEC_INFO].n + in->sec[SEC_RANGES].n + in->sec[SEC_RNGLISTS].n + 16;
}

static int
add_unit_range(void *ctx, uint64_t lo, uint64_t hi)
{
    struct unit_ranges_ctx *x = ctx;
    struct pt_inlines *in = x->in;
    if (in->n_unit_ranges >= x->limit) {
        return -EINVAL;
    }
    if (grow((void **)&in->unit_ranges, &x->cap, in->n_unit_ranges + 1,
             sizeof(*in->unit_ranges)) != 0) {
        return -ENOMEM;
    }
    in->unit_ranges[in->n_unit_ranges++] = (struct unit_range){lo, hi, x->unit};
    return 0;
}

static int
compare_unit_range(const void *a, const void *b)
{
    const struct unit_range *x = a, *y = b;
    if (x->lo != y->lo) {
        return x->lo < y->lo ? -1 : 1;
    }
    return x->unit < y->unit ? -1 : x->unit > y->unit;
}

/* Every unit's ranges.  A unit whose DIE cannot be read keeps its error
 * and has no range: addresses in it find no unit. */
static int
build_unit_table(struct pt_inlines *in)
{
    struct unit_ranges_ctx x = {in, 0, range_limit(in), 0};
    for (size_t i = 0; i < in->n_units; i++) {
        struct die top;
        struct unit *u = &in->units[i];
        int rc = open_unit(in, u, &top);
        if (rc == -ENOMEM) {
            return rc;
        }
        if (rc != 0) {
            u->error = rc;
            continue;
        }
        x.unit = (uint32_t)i;
        size_t before = in->n_unit_ranges;
        rc = walk_die_ranges(in, u, &top, add_unit_range, &x);
        if (rc == -ENOMEM) {
            return rc;
        }
        if (rc != 0) {
            in->n_unit_ranges = before;
        }
    }
    if (in->n_unit_ranges == 0) {
        return 0;
    }
    qsort(in->unit_ranges, in->n_unit_ranges, sizeof(*in->unit_ranges),
          compare_unit_range);
    in->unit_max_hi = malloc(in->n_unit_ranges * sizeof(*in->unit_max_hi));
    if (in->unit_max_hi == NULL) {
        return -ENOMEM;
    }
    uint64_t max = 0;
    for (size_t i = 0; i < in->n_unit_ranges; i++) {
        max = in->unit_ranges[i].hi > max ? in->unit_ranges[i].hi : max;
        in->unit_max_hi[i] = max;
    }
    return 0;
}

/* ---- a unit's function table ---- */

struct unit_index_ctx {
    struct unit *u;
    size_t ranges_cap, limit;
    uint32_t node;
};

static int
add_fn_range(void *ctx, uint64_t lo, uint64_t hi)
{
    struct unit_index_ctx *x = ctx;
    struct unit *u = x->u;
    if (u->n_ranges >= x->limit) {
        return -EINVAL;
    }
    if (grow((void **)&u->ranges, &x->ranges_cap, u->n_ranges + 1, sizeof(*u->ranges)) !=
        0) {
        return -ENOMEM;
    }
    u->ranges[u->n_ranges++] = (struct fn_range){lo, hi, x->node};
    return 0;
}

static int
compare_fn_range(const void *a, const void *b)
{
    const struct fn_range *x = a, *y = b;
    if (x->lo != y->lo) {
        return x->lo < y->lo ? -1 : 1;
    }
    /* at one start, the deeper node (later depth first) last */
    return x->node < y->node ? -1 : x->node > y->node;
}

/* Walks the unit's DIEs once, keeping each function with a range. */
static int
walk_unit(struct pt_inlines *in, struct unit *u)
{
    struct unit_index_ctx x = {u, 0, 0, 0};
    x.limit = range_limit(in);
    size_t nodes_cap = 0;
    int32_t enclosing[MAX_DEPTH + 1]; /* the function around level d's DIEs */
    int depth = 0;
    enclosing[0] = -1;
    struct cursor c = {in->sec[SEC_INFO].p, (size_t)u->end, (size_t)u->die, false};
    while (c.at < c.n) {
        uint64_t off = c.at;
        uint64_t code = read_uleb(&c);
        if (c.bad) {
            return -EINVAL;
        }
        if (code == 0) {
            if (--depth <= 0) {
                break; /* the unit DIE's children are done */
            }
            continue;
        }
        const struct abbrev *a = find_abbrev(&u->abbrevs, code);
        if (a == NULL) {
            return -EINVAL;
        }
        struct die d;
        memset(&d, 0, sizeof(d));
        d.off = off;
        int rc = read_die(in, u, &c, a, &d);
        if (rc != 0) {
            return rc;
        }
        int32_t self = -1;
        if ((d.tag == DW_TAG_subprogram || d.tag == DW_TAG_inlined_subroutine) &&
            (d.has_ranges || (d.has_low && d.has_high))) {
            if (u->n_nodes >= INT32_MAX || grow((void **)&u->nodes, &nodes_cap,
                                                u->n_nodes + 1, sizeof(*u->nodes)) != 0) {
                return -ENOMEM;
            }
            self = (int32_t)u->n_nodes;
            u->nodes[u->n_nodes++] = (struct fn_node){off, enclosing[depth]};
            x.node = (uint32_t)self;
            rc = walk_die_ranges(in, u, &d, add_fn_range, &x);
            if (rc != 0) {
                return rc;
            }
        }
        if (d.children) {
            if (depth >= MAX_DEPTH) {
                return -EINVAL;
            }
            enclosing[depth + 1] = self >= 0 ? self : enclosing[depth];
            depth++;
        }
        else if (depth == 0) {
            break; /* a unit DIE without children */
        }
    }
    return 0;
}

static int
index_unit(struct pt_inlines *in, struct unit *u)
{
    u->indexed = true;
    int rc = walk_unit(in, u);
    if (rc == 0 && u->n_ranges > 0) {
        qsort(u->ranges, u->n_ranges, sizeof(*u->ranges), compare_fn_range);
        u->max_hi = malloc(u->n_ranges * sizeof(*u->max_hi));
        rc = u->max_hi == NULL ? -ENOMEM : 0;
        uint64_t max = 0;
        for (size_t i = 0; rc == 0 && i < u->n_ranges; i++) {
            max = u->ranges[i].hi > max ? u->ranges[i].hi : max;
            u->max_hi[i] = max;
        }
    }
    if (rc != 0) {
        u->error = rc;
    }
    return rc;
}

/* ---- lookups ---- */

/* The last entry of a table sorted by lo with lo <= addr that covers
 * addr, walking back while the running maximum of his says one may;
 * returns its index or -1.  `lo_of`/`hi_of` read entry i. */
#define FIND_COVERING(table, max_hi, n, addr, result)                                    \
    do {                                                                                 \
        size_t lo_ = 0, hi_ = (n);                                                       \
        while (lo_ < hi_) {                                                              \
            size_t mid_ = lo_ + (hi_ - lo_) / 2;                                         \
            if ((table)[mid_].lo <= (addr)) {                                            \
                lo_ = mid_ + 1;                                                          \
            }                                                                            \
            else {                                                                       \
                hi_ = mid_;                                                              \
            }                                                                            \
        }                                                                                \
        (result) = -1;                                                                   \
        for (size_t i_ = lo_; i_-- > 0 && (max_hi)[i_] > (addr);) {                      \
            if ((table)[i_].hi > (addr)) {                                               \
                (result) = (ptrdiff_t)i_;                                                \
                break;                                                                   \
            }                                                                            \
        }                                                                                \
    } while (0)

/* The name of the function DIE at off as binutils names it: its
 * DW_AT_linkage_name (glibc's C functions have some: "__GI___getdents64"
 * for __getdents64), else its DW_AT_name, else the name of what its
 * abstract origin or specification leads to. */
static bool
function_name(struct pt_inlines *in, uint64_t off, const char **name, size_t *len)
{
    for (int hop = 0; hop < MAX_ORIGIN_CHAIN; hop++) {
        struct unit *u = unit_of(in, off);
        /* every unit's abbreviations were read by build_unit_table */
        if (u == NULL || off < u->die || u->abbrevs.list == NULL) {
            return false;
        }
        struct cursor c = {in->sec[SEC_INFO].p, (size_t)u->end, (size_t)off, false};
        const struct abbrev *a = find_abbrev(&u->abbrevs, read_uleb(&c));
        struct die d;
        memset(&d, 0, sizeof(d));
        if (c.bad || a == NULL || read_die(in, u, &c, a, &d) != 0) {
            return false;
        }
        if (d.has_linkage) {
            *name = d.linkage;
            *len = d.linkage_len;
            return true;
        }
        if (d.has_name) {
            *name = d.name;
            *len = d.name_len;
            return true;
        }
        if (!d.has_origin) {
            return false;
        }
        off = d.origin;
    }
    return false;
}

/* The chain at addr into the pool: the innermost function node covering
 * it, then its enclosing ones.  A function with no name found is left
 * out (addr2line prints "??"; perf then has no name either). */
static int
chain_at(struct pt_inlines *in, uint64_t addr, uint32_t *first, int *count)
{
    *first = (uint32_t)in->pool_len;
    *count = 0;
    if (in->n_unit_ranges == 0) {
        return 0;
    }
    ptrdiff_t at;
    FIND_COVERING(in->unit_ranges, in->unit_max_hi, in->n_unit_ranges, addr, at);
    if (at < 0) {
        return 0;
    }
    struct unit *u = &in->units[in->unit_ranges[at].unit];
    if (!u->indexed && index_unit(in, u) == -ENOMEM) {
        u->indexed = false; /* out of memory is worth another try */
        free(u->nodes);
        free(u->ranges);
        u->nodes = NULL;
        u->ranges = NULL;
        u->n_nodes = u->n_ranges = 0;
        u->error = 0;
        return -ENOMEM;
    }
    if (u->error != 0) {
        return u->error;
    }
    if (u->n_ranges == 0) {
        return 0;
    }
    FIND_COVERING(u->ranges, u->max_hi, u->n_ranges, addr, at);
    if (at < 0) {
        return 0;
    }
    int32_t node = (int32_t)u->ranges[at].node;
    for (int hop = 0; node >= 0 && hop < MAX_CHAIN; hop++) {
        const struct fn_node *n = &u->nodes[node];
        struct name_ref ref;
        if (function_name(in, n->die, &ref.s, &ref.len)) {
            if (grow((void **)&in->pool, &in->pool_cap, in->pool_len + 1,
                     sizeof(*in->pool)) != 0) {
                in->pool_len = *first;
                return -ENOMEM;
            }
            in->pool[in->pool_len++] = ref;
            (*count)++;
        }
        /* parents come before children in the walk: the chain ends */
        node = n->parent < node ? n->parent : -1;
    }
    return 0;
}

static size_t
hash_addr(uint64_t addr)
{
    addr ^= addr >> 33;
    addr *= 0xff51afd7ed558ccdULL;
    addr ^= addr >> 33;
    return (size_t)addr;
}

static int
cache_grow(struct pt_inlines *in)
{
    size_t cap = in->cache_cap ? in->cache_cap * 2 : 1024;
    struct cache_slot *slots = malloc(cap * sizeof(*slots));
    if (slots == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < cap; i++) {
        slots[i].count = -1;
    }
    for (size_t i = 0; i < in->cache_cap; i++) {
        if (in->cache[i].count >= 0) {
            size_t j = hash_addr(in->cache[i].addr) & (cap - 1);
            while (slots[j].count >= 0) {
                j = (j + 1) & (cap - 1);
            }
            slots[j] = in->cache[i];
        }
    }
    free(in->cache);
    in->cache = slots;
    in->cache_cap = cap;
    return 0;
}

int
pt_inlines_at(struct pt_inlines *in, uint64_t vaddr, const char **names, size_t *lens,
              int max)
{
    if (in->cache_used * 2 >= in->cache_cap && cache_grow(in) != 0) {
        return -ENOMEM;
    }
    size_t i = hash_addr(vaddr) & (in->cache_cap - 1);
    while (in->cache[i].count >= 0 && in->cache[i].addr != vaddr) {
        i = (i + 1) & (in->cache_cap - 1);
    }
    struct cache_slot *slot = &in->cache[i];
    if (slot->count < 0) {
        uint32_t first;
        int count;
        int rc = chain_at(in, vaddr, &first, &count);
        if (rc == -ENOMEM) {
            return rc;
        }
        *slot = (struct cache_slot){vaddr, first, count, rc};
        in->cache_used++;
    }
    if (slot->error != 0) {
        return slot->error;
    }
    int n = slot->count < max ? slot->count : max > 0 ? max : 0;
    for (int k = 0; k < n; k++) {
        names[k] = in->pool[slot->first + (uint32_t)k].s;
        lens[k] = in->pool[slot->first + (uint32_t)k].len;
    }
    return n;
}

/* ---- life ---- */

int
pt_inlines_new(struct pt_inlines **out, struct pt_elf_file *debug)
{
    *out = NULL;
    const uint8_t *data;
    size_t size;
    if (pt_elf_file_section(debug, ".debug_info", &data, &size, NULL) != 0) {
        return -ENOENT;
    }
    struct pt_inlines *in = calloc(1, sizeof(*in));
    if (in == NULL) {
        return -ENOMEM;
    }
    int rc = 0;
    for (int s = 0; s < SEC_COUNT && rc == 0; s++) {
        rc = load_section(in, debug, s);
    }
    if (rc == 0) {
        rc = read_unit_headers(in);
    }
    if (rc == 0) {
        rc = build_unit_table(in);
    }
    if (rc != 0) {
        pt_inlines_free(in);
        return rc;
    }
    *out = in;
    return 0;
}

void
pt_inlines_free(struct pt_inlines *in)
{
    if (in == NULL) {
        return;
    }
    for (size_t i = 0; i < in->n_units; i++) {
        struct unit *u = &in->units[i];
        free(u->abbrevs.list);
        free(u->abbrevs.specs);
        free(u->nodes);
        free(u->ranges);
        free(u->max_hi);
    }
    for (int s = 0; s < SEC_COUNT; s++) {
        free(in->owned[s]);
    }
    free(in->units);
    free(in->unit_ranges);
    free(in->unit_max_hi);
    free(in->cache);
    free(in->pool);
    free(in);
}
