/* Inline chains from DWARF: a small ELF whose DWARF 5 and DWARF 4 units
 * are written here (every form and range kind the reader knows, then the
 * same with .debug_info zlib-compressed), malformed variants of it, and
 * real files (pyenv's libpython, libc's debug file) checked against
 * `addr2line -i -f` when they and addr2line are present. */
#include "inlines.h"
#include "testhelp.h"

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- byte buffers ---- */

struct bytes {
    uint8_t data[8192];
    size_t len;
};

static void
put(struct bytes *b, const void *p, size_t n)
{
    if (b->len + n > sizeof(b->data)) {
        abort(); /* a test bug, not a finding */
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void
put_uint(struct bytes *b, uint64_t v, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        uint8_t byte = i < 8 ? (uint8_t)(v >> (8 * i)) : 0;
        put(b, &byte, 1);
    }
}

static void
put_uleb(struct bytes *b, uint64_t v)
{
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        put_uint(b, byte | (v ? 0x80 : 0), 1);
    } while (v);
}

static void
put_str(struct bytes *b, const char *s)
{
    put(b, s, strlen(s) + 1);
}

/* Patches a 4-byte unit length at `at` to cover up to the end. */
static void
end_unit(struct bytes *b, size_t at)
{
    uint32_t len = (uint32_t)(b->len - at - 4);
    memcpy(b->data + at, &len, 4);
}

/* ---- the DWARF ---- */

enum {
    AB_CU = 1,
    AB_ABSTRACT,
    AB_OUTER,
    AB_INL_RANGES,
    AB_BLOCK,
    AB_INL_LEAF,
    AB_DECL,
    AB_DEFN,
    AB_NEST,
};

struct dwarf {
    struct bytes info, abbrev, str, str_offsets, addr, ranges, rnglists;
    size_t leaf_ref; /* .debug_info offset of the leaf's inlined_subroutine's origin */
};

static void
abbrev(struct bytes *b, unsigned code, unsigned tag, bool children, const unsigned *specs)
{
    put_uleb(b, code);
    put_uleb(b, tag);
    put_uint(b, children, 1);
    for (; specs[0] != 0; specs += 2) {
        put_uleb(b, specs[0]);
        put_uleb(b, specs[1]);
        if (specs[1] == 0x21) { /* implicit_const: the high_pc length 4 */
            put_uleb(b, 4);
        }
    }
    put_uleb(b, 0);
    put_uleb(b, 0);
}

/* Abbreviations of the DWARF 5 unit at 0, of the DWARF 4 unit after. */
static size_t
write_abbrevs(struct bytes *b)
{
    static const unsigned cu[] = {0x03, 0x0e, 0x11, 0x01, 0x12, 0x06, 0x72,
                                  0x17, 0x73, 0x17, 0x74, 0x17, 0};
    static const unsigned abstract[] = {0x03, 0x25, 0x20, 0x0b, 0};
    static const unsigned outer[] = {0x03, 0x0e, 0x11, 0x1b, 0x12, 0x06, 0};
    static const unsigned inl_ranges[] = {0x31, 0x13, 0x55, 0x23, 0};
    static const unsigned block[] = {0x11, 0x01, 0x12, 0x01, 0};
    static const unsigned inl_leaf[] = {0x31, 0x15, 0x11, 0x29, 0x12, 0x21, 0};
    static const unsigned decl[] = {0x03, 0x08, 0x6e, 0x25, 0x3c, 0x19, 0};
    static const unsigned defn[] = {0x47, 0x10, 0x11, 0x01, 0x12, 0x01, 0};
    static const unsigned nest[] = {0};
    abbrev(b, AB_CU, 0x11, true, cu);
    abbrev(b, AB_ABSTRACT, 0x2e, false, abstract);
    abbrev(b, AB_OUTER, 0x2e, true, outer);
    abbrev(b, AB_INL_RANGES, 0x1d, true, inl_ranges);
    abbrev(b, AB_BLOCK, 0x0b, true, block);
    abbrev(b, AB_INL_LEAF, 0x1d, false, inl_leaf);
    abbrev(b, AB_DECL, 0x2e, false, decl);
    abbrev(b, AB_DEFN, 0x2e, false, defn);
    abbrev(b, AB_NEST, 0x0b, true, nest);
    put_uleb(b, 0);
    size_t v4 = b->len;
    static const unsigned cu4[] = {0x03, 0x08, 0x11, 0x01, 0x55, 0x17, 0};
    static const unsigned fn4[] = {0x03, 0x08, 0x55, 0x17, 0};
    abbrev(b, 1, 0x11, true, cu4);
    abbrev(b, 2, 0x2e, false, fn4);
    put_uleb(b, 0);
    return v4;
}

/* The string sections: .debug_str_offsets' entries 0.. are "test.c",
 * "leaf", "middle", "__GI_spec"; "outer" is reached by DW_FORM_strp. */
static size_t
write_strings(struct dwarf *d)
{
    static const char *const indexed[] = {"test.c", "leaf", "middle", "__GI_spec"};
    put_uint(&d->str, 0, 1);
    put_uint(&d->str_offsets, 0, 4); /* the header: length, version 5, padding */
    put_uint(&d->str_offsets, 5, 2);
    put_uint(&d->str_offsets, 0, 2);
    for (size_t i = 0; i < 4; i++) {
        put_uint(&d->str_offsets, d->str.len, 4);
        put_str(&d->str, indexed[i]);
    }
    end_unit(&d->str_offsets, 0);
    size_t outer = d->str.len;
    put_str(&d->str, "outer");
    return outer;
}

/* .debug_addr: [0] 0x1000, [1] 0x1020, from base 8.  .debug_rnglists:
 * one offset (base 12) to the list {offset_pair 0x10..0x30 from the unit's
 * 0x1000, start_length 0x1080 + 0x10}.  .debug_ranges (DWARF 4): the
 * unit's list at 0, the function's at 32 with a base selection. */
static void
write_ranges(struct dwarf *d)
{
    put_uint(&d->addr, 0, 4);
    put_uint(&d->addr, 5, 2);
    put_uint(&d->addr, 8, 1);
    put_uint(&d->addr, 0, 1);
    put_uint(&d->addr, 0x1000, 8);
    put_uint(&d->addr, 0x1020, 8);
    end_unit(&d->addr, 0);

    put_uint(&d->rnglists, 0, 4);
    put_uint(&d->rnglists, 5, 2);
    put_uint(&d->rnglists, 8, 1);
    put_uint(&d->rnglists, 0, 1);
    put_uint(&d->rnglists, 1, 4); /* offset_entry_count */
    put_uint(&d->rnglists, 4, 4); /* the list, 4 bytes after the base */
    put_uint(&d->rnglists, 4, 1); /* DW_RLE_offset_pair */
    put_uleb(&d->rnglists, 0x10);
    put_uleb(&d->rnglists, 0x30);
    put_uint(&d->rnglists, 7, 1); /* DW_RLE_start_length */
    put_uint(&d->rnglists, 0x1080, 8);
    put_uleb(&d->rnglists, 0x10);
    put_uint(&d->rnglists, 0, 1);
    end_unit(&d->rnglists, 0);

    put_uint(&d->ranges, 0, 8); /* the v4 unit: 0x3000 + [0, 0x100) */
    put_uint(&d->ranges, 0x100, 8);
    put_uint(&d->ranges, 0, 16);
    put_uint(&d->ranges, UINT64_MAX, 8); /* base 0x3000, then two ranges */
    put_uint(&d->ranges, 0x3000, 8);
    put_uint(&d->ranges, 0x10, 8);
    put_uint(&d->ranges, 0x20, 8);
    put_uint(&d->ranges, 0x40, 8);
    put_uint(&d->ranges, 0x50, 8);
    put_uint(&d->ranges, 0, 16);
}

/* The DWARF 5 unit: outer() at [0x1000, 0x1100) with middle() inlined at
 * [0x1010, 0x1030) + [0x1080, 0x1090), a lexical block in it holding
 * leaf() inlined at [0x1020, 0x1024); spec() (linkage name __GI_spec)
 * defined at [0x1200, 0x1210) through DW_AT_specification; then `nesting`
 * lexical blocks, one in another. */
static void
write_unit5(struct dwarf *d, size_t outer_name, int nesting)
{
    struct bytes *b = &d->info;
    size_t start = b->len;
    put_uint(b, 0, 4);
    put_uint(b, 5, 2);
    put_uint(b, 1, 1); /* DW_UT_compile */
    put_uint(b, 8, 1);
    put_uint(b, 0, 4); /* abbrev offset */
    put_uleb(b, AB_CU);
    put_uint(b, 0, 4); /* name: strp to "" (any string) */
    put_uint(b, 0x1000, 8);
    put_uint(b, 0x400, 4);
    put_uint(b, 8, 4);  /* str_offsets_base */
    put_uint(b, 8, 4);  /* addr_base */
    put_uint(b, 12, 4); /* rnglists_base */
    size_t leaf = b->len - start;
    put_uleb(b, AB_ABSTRACT);
    put_uint(b, 1, 1);
    put_uint(b, 3, 1);
    size_t middle = b->len - start;
    put_uleb(b, AB_ABSTRACT);
    put_uint(b, 2, 1);
    put_uint(b, 3, 1);
    size_t decl = b->len;
    put_uleb(b, AB_DECL);
    put_str(b, "spec");
    put_uint(b, 3, 1);
    put_uleb(b, AB_OUTER);
    put_uint(b, outer_name, 4);
    put_uleb(b, 0);
    put_uint(b, 0x100, 4);
    put_uleb(b, AB_INL_RANGES);
    put_uint(b, middle, 4);
    put_uleb(b, 0);
    put_uleb(b, AB_BLOCK);
    put_uint(b, 0x1018, 8);
    put_uint(b, 0x1028, 8);
    d->leaf_ref = b->len + 1;
    put_uleb(b, AB_INL_LEAF);
    put_uleb(b, leaf);
    put_uint(b, 1, 1);
    put_uleb(b, 0); /* block's children end */
    put_uleb(b, 0); /* middle's */
    put_uleb(b, 0); /* outer's */
    put_uleb(b, AB_DEFN);
    put_uint(b, decl, 4);
    put_uint(b, 0x1200, 8);
    put_uint(b, 0x1210, 8);
    for (int i = 0; i < nesting; i++) {
        put_uleb(b, AB_NEST);
    }
    for (int i = 0; i < nesting; i++) {
        put_uleb(b, 0);
    }
    put_uleb(b, 0);
    end_unit(b, start);
}

/* The DWARF 4 unit: v4fn() at 0x3010..0x3020 and 0x3040..0x3050. */
static void
write_unit4(struct dwarf *d, size_t abbrevs)
{
    struct bytes *b = &d->info;
    size_t start = b->len;
    put_uint(b, 0, 4);
    put_uint(b, 4, 2);
    put_uint(b, abbrevs, 4);
    put_uint(b, 8, 1);
    put_uleb(b, 1);
    put_str(b, "v4.c");
    put_uint(b, 0x3000, 8);
    put_uint(b, 0, 4);
    put_uleb(b, 2);
    put_str(b, "v4fn");
    put_uint(b, 32, 4);
    put_uleb(b, 0);
    end_unit(b, start);
}

static void
write_dwarf(struct dwarf *d, int nesting)
{
    memset(d, 0, sizeof(*d));
    size_t v4_abbrevs = write_abbrevs(&d->abbrev);
    size_t outer_name = write_strings(d);
    write_ranges(d);
    write_unit5(d, outer_name, nesting);
    write_unit4(d, v4_abbrevs);
}

/* ---- the ELF around it ---- */

enum {
    S_NULL,
    S_INFO,
    S_ABBREV,
    S_STR,
    S_STR_OFFSETS,
    S_ADDR,
    S_RANGES,
    S_RNGLISTS,
    S_SHSTRTAB,
    NSECT
};

struct image {
    uint8_t bytes[32768];
    size_t len;
};

static size_t
place(struct image *im, const void *data, size_t size)
{
    size_t at = (im->len + 7) & ~(size_t)7;
    if (at + size > sizeof(im->bytes)) {
        abort();
    }
    memcpy(im->bytes + at, data, size);
    im->len = at + size;
    return at;
}

/* .debug_info as an SHF_COMPRESSED section's bytes: a zlib stream of one
 * stored (uncompressed) deflate block, which any inflater must take, made
 * here without zlib (whose <limits.h> include would find tests/c's). */
static size_t
compress_info(const struct bytes *info, uint8_t *out, size_t cap)
{
    Elf64_Chdr ch = {
        .ch_type = ELFCOMPRESS_ZLIB, .ch_size = info->len, .ch_addralign = 1};
    size_t n = info->len;
    if (n > 0xffff || sizeof(ch) + 2 + 5 + n + 4 > cap) {
        abort();
    }
    uint8_t *p = out;
    memcpy(p, &ch, sizeof(ch));
    p += sizeof(ch);
    *p++ = 0x78; /* deflate, 32 KiB window */
    *p++ = 0x01; /* no dictionary, check bits */
    *p++ = 0x01; /* the final block, stored */
    uint16_t len = (uint16_t)n, nlen = (uint16_t)~len;
    memcpy(p, &len, 2);
    memcpy(p + 2, &nlen, 2);
    memcpy(p + 4, info->data, n);
    p += 4 + n;
    uint32_t a = 1, b = 0; /* Adler-32, big-endian */
    for (size_t i = 0; i < n; i++) {
        a = (a + info->data[i]) % 65521;
        b = (b + a) % 65521;
    }
    uint32_t adler = b << 16 | a;
    for (int i = 3; i >= 0; i--) {
        *p++ = (uint8_t)(adler >> (8 * i));
    }
    return (size_t)(p - out);
}

static void
build_image(struct image *im, const struct dwarf *d, bool compressed)
{
    static const char *const names[NSECT] = {"",
                                             ".debug_info",
                                             ".debug_abbrev",
                                             ".debug_str",
                                             ".debug_str_offsets",
                                             ".debug_addr",
                                             ".debug_ranges",
                                             ".debug_rnglists",
                                             ".shstrtab"};
    const struct bytes *content[NSECT] = {NULL,       &d->info,        &d->abbrev,
                                          &d->str,    &d->str_offsets, &d->addr,
                                          &d->ranges, &d->rnglists,    NULL};
    memset(im, 0, sizeof(*im));
    im->len = sizeof(Elf64_Ehdr);
    Elf64_Shdr sh[NSECT];
    memset(sh, 0, sizeof(sh));
    char shstr[256];
    size_t shstr_len = 0;
    for (int i = 0; i < NSECT; i++) {
        sh[i].sh_name = (uint32_t)shstr_len;
        memcpy(shstr + shstr_len, names[i], strlen(names[i]) + 1);
        shstr_len += strlen(names[i]) + 1;
        sh[i].sh_type = i == 0 ? SHT_NULL : i == S_SHSTRTAB ? SHT_STRTAB : SHT_PROGBITS;
        if (content[i] != NULL && i == S_INFO && compressed) {
            uint8_t z[8192];
            size_t n = compress_info(content[i], z, sizeof(z));
            sh[i].sh_flags = SHF_COMPRESSED;
            sh[i].sh_offset = place(im, z, n);
            sh[i].sh_size = n;
        }
        else if (content[i] != NULL) {
            sh[i].sh_offset = place(im, content[i]->data, content[i]->len);
            sh[i].sh_size = content[i]->len;
        }
    }
    sh[S_SHSTRTAB].sh_offset = place(im, shstr, shstr_len);
    sh[S_SHSTRTAB].sh_size = shstr_len;
    size_t sh_at = place(im, sh, sizeof(sh));
    Elf64_Ehdr eh = {
        .e_type = ET_DYN,
        .e_machine = EM_X86_64,
        .e_version = EV_CURRENT,
        .e_shoff = sh_at,
        .e_ehsize = sizeof(Elf64_Ehdr),
        .e_phentsize = sizeof(Elf64_Phdr),
        .e_shentsize = sizeof(Elf64_Shdr),
        .e_shnum = NSECT,
        .e_shstrndx = S_SHSTRTAB,
    };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    memcpy(im->bytes, &eh, sizeof(eh));
}

/* ---- checks ---- */

/* The chain at vaddr joined by spaces, or "error <errno>". */
static const char *
chain(struct pt_inlines *in, uint64_t vaddr)
{
    static char buf[1024];
    const char *names[16];
    size_t lens[16];
    int n = pt_inlines_at(in, vaddr, names, lens, 16);
    if (n < 0) {
        snprintf(buf, sizeof(buf), "error %d", n);
        return buf;
    }
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && at < sizeof(buf); i++) {
        at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%.*s", i ? " " : "",
                               (int)lens[i], names[i]);
    }
    return buf;
}

#define CHECK_CHAIN(in, vaddr, want)                                                     \
    do {                                                                                 \
        const char *got_ = chain((in), (vaddr));                                         \
        if (strcmp(got_, (want)) != 0) {                                                 \
            fprintf(stderr, "  at 0x%llx: got \"%s\", want \"%s\"\n",                    \
                    (unsigned long long)(vaddr), got_, (want));                          \
        }                                                                                \
        CHECK(strcmp(got_, (want)) == 0);                                                \
    } while (0)

static int
open_image(const struct image *im, struct pt_elf_file **f, struct pt_inlines **in)
{
    char err[128];
    int rc = pt_elf_file_from_memory(f, im->bytes, im->len, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "  image: %s\n", err);
        return rc;
    }
    rc = pt_inlines_new(in, *f);
    if (rc != 0) {
        pt_elf_file_free(*f);
    }
    return rc;
}

static void
check_chains(struct pt_inlines *in)
{
    CHECK_CHAIN(in, 0x1000, "outer");
    CHECK_CHAIN(in, 0x1010, "middle outer");
    CHECK_CHAIN(in, 0x1019, "middle outer"); /* a lexical block names nothing */
    CHECK_CHAIN(in, 0x1020, "leaf middle outer");
    CHECK_CHAIN(in, 0x1023, "leaf middle outer");
    CHECK_CHAIN(in, 0x1024, "middle outer");
    CHECK_CHAIN(in, 0x1030, "outer");
    CHECK_CHAIN(in, 0x1085, "middle outer"); /* the second range */
    CHECK_CHAIN(in, 0x10ff, "outer");
    CHECK_CHAIN(in, 0x1100, "");
    CHECK_CHAIN(in, 0x1205, "__GI_spec"); /* the linkage name, as binutils */
    CHECK_CHAIN(in, 0x3015, "v4fn");
    CHECK_CHAIN(in, 0x3045, "v4fn");
    CHECK_CHAIN(in, 0x3030, "");
    CHECK_CHAIN(in, 0x999999, "");
    CHECK_CHAIN(in, 0x1020, "leaf middle outer"); /* again, from the cache */
    const char *names[2];
    size_t lens[2];
    CHECK_EQ_INT(pt_inlines_at(in, 0x1020, names, lens, 2), 2); /* cut at max */
    CHECK(lens[0] == 4 && memcmp(names[0], "leaf", 4) == 0);
    CHECK_EQ_INT(pt_inlines_at(in, 0x1020, names, lens, 0), 0);
}

static void
test_small_file(bool compressed)
{
    static struct dwarf d;
    static struct image im;
    write_dwarf(&d, 3);
    build_image(&im, &d, compressed);
    struct pt_elf_file *f;
    struct pt_inlines *in;
    int rc = open_image(&im, &f, &in);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
        return;
    }
    check_chains(in);
    pt_inlines_free(in);
    pt_elf_file_free(f);
}

static void
test_malformed(void)
{
    static struct dwarf d;
    static struct image im;
    struct pt_elf_file *f;
    struct pt_inlines *in;

    /* no .debug_info at all: its name changed */
    write_dwarf(&d, 0);
    build_image(&im, &d, false);
    uint8_t *name = memmem(im.bytes, im.len, ".debug_info", sizeof(".debug_info"));
    CHECK(name != NULL);
    if (name != NULL) {
        name[1] = 'X';
        CHECK_EQ_INT(open_image(&im, &f, &in), -ENOENT);
    }

    /* an empty .debug_info: no unit, no answer */
    write_dwarf(&d, 0);
    d.info.len = 0;
    build_image(&im, &d, false);
    CHECK_EQ_INT(open_image(&im, &f, &in), 0);
    CHECK_CHAIN(in, 0x1020, "");
    pt_inlines_free(in);
    pt_elf_file_free(f);

    /* the first unit longer than the section */
    write_dwarf(&d, 0);
    d.info.len = 20;
    build_image(&im, &d, false);
    CHECK_EQ_INT(open_image(&im, &f, &in), -EINVAL);

    /* nesting deeper than the reader follows: that unit answers an error,
     * the other one still answers */
    write_dwarf(&d, 600);
    build_image(&im, &d, false);
    CHECK_EQ_INT(open_image(&im, &f, &in), 0);
    CHECK_CHAIN(in, 0x1020, "error -22");
    CHECK_CHAIN(in, 0x3015, "v4fn");
    pt_inlines_free(in);
    pt_elf_file_free(f);

    /* leaf's origin refers to itself: no name, no endless chain */
    write_dwarf(&d, 0);
    size_t self = d.leaf_ref - 1; /* the DIE's offset in its unit at 0 */
    CHECK(self < 0x80);           /* so that it is a ULEB of one byte */
    d.info.data[d.leaf_ref] = (uint8_t)(self & 0x7f);
    build_image(&im, &d, false);
    if (self < 0x80) {
        CHECK_EQ_INT(open_image(&im, &f, &in), 0);
        CHECK_CHAIN(in, 0x1020, "middle outer");
        pt_inlines_free(in);
        pt_elf_file_free(f);
    }

    /* a compressed section whose stated size is wrong */
    write_dwarf(&d, 0);
    build_image(&im, &d, true);
    for (size_t at = 0; at + sizeof(Elf64_Chdr) < im.len; at++) {
        Elf64_Chdr ch;
        memcpy(&ch, im.bytes + at, sizeof(ch));
        if (ch.ch_type == ELFCOMPRESS_ZLIB && ch.ch_size == d.info.len) {
            ch.ch_size++;
            memcpy(im.bytes + at, &ch, sizeof(ch));
            break;
        }
    }
#ifdef PT_HAVE_ZLIB
    CHECK_EQ_INT(open_image(&im, &f, &in), -EINVAL);
#else
    CHECK_EQ_INT(open_image(&im, &f, &in), -ENOTSUP); /* cannot inflate at all */
#endif

    /* every single byte of the DWARF changed: no fault (ASan watches) */
    write_dwarf(&d, 2);
    build_image(&im, &d, false);
    size_t dwarf_end = im.len - sizeof(Elf64_Shdr) * NSECT - 64;
    for (size_t at = sizeof(Elf64_Ehdr); at < dwarf_end; at++) {
        static struct image bad;
        bad = im;
        bad.bytes[at] ^= (uint8_t)(0x5a + at);
        if (open_image(&bad, &f, &in) == 0) {
            for (uint64_t a = 0x1000; a < 0x1320; a += 8) {
                (void)chain(in, a);
            }
            (void)chain(in, 0x3015);
            pt_inlines_free(in);
            pt_elf_file_free(f);
        }
    }
}

/* ---- real files against addr2line ---- */

/* addr2line's function names at each of n addresses ("??" left out, as
 * the reader leaves out what has no name), one line per address. */
static int
addr2line_chains(const char *path, const uint64_t *addrs, size_t n, char (*out)[512])
{
    char cmd[1024 + 20 * 64];
    int len = snprintf(cmd, sizeof(cmd), "addr2line -a -i -f -e '%s'", path);
    for (size_t i = 0; i < n; i++) {
        len += snprintf(cmd + len, sizeof(cmd) - (size_t)len, " %llx",
                        (unsigned long long)addrs[i]);
    }
    snprintf(cmd + len, sizeof(cmd) - (size_t)len, " 2>/dev/null");
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return -1;
    }
    char line[4096];
    long at = -1;
    bool function_line = true;
    while (fgets(line, sizeof(line), p) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "0x", 2) == 0) {
            if (++at >= (long)n) {
                break;
            }
            out[at][0] = '\0';
            function_line = true;
            continue;
        }
        if (at >= 0 && function_line && strcmp(line, "??") != 0) {
            size_t used = strlen(out[at]);
            snprintf(out[at] + used, 512 - used, "%s%s", used ? " " : "", line);
        }
        function_line = !function_line;
    }
    return pclose(p) == 0 && at == (long)n - 1 ? 0 : -1;
}

/* Addresses spread over .text (of text_path: a debug file's is NOBITS)
 * compared with addr2line's answers for path.  Where
 * no DWARF function covers an address (padding, code without DWARF),
 * addr2line falls back to the ELF symbol: one name, which the caller of
 * this reader prints from the symbol table anyway. */
static void
compare_with_addr2line(const char *path, const char *text_path)
{
    struct pt_elf_file *f, *t;
    struct pt_inlines *in;
    char err[128];
    const uint8_t *text;
    size_t text_size;
    uint64_t text_addr;
    if (pt_elf_file_open(&t, text_path, err, sizeof(err)) != 0) {
        printf("test_inlines: skip %s: %s\n", text_path, err);
        return;
    }
    int rc = pt_elf_file_section(t, ".text", &text, &text_size, &text_addr);
    pt_elf_file_free(t);
    if (rc != 0 || pt_elf_file_open(&f, path, err, sizeof(err)) != 0) {
        printf("test_inlines: skip %s: no .text or cannot open\n", path);
        return;
    }
    rc = pt_inlines_new(&in, f);
    if (rc != 0) {
        printf("test_inlines: skip %s: no DWARF (%d)\n", path, rc);
        pt_elf_file_free(f);
        return;
    }
    enum { BATCH = 60, BATCHES = 10 };
    static uint64_t addrs[BATCH];
    static char want[BATCH][512];
    int agree = 0, fallback = 0, total = 0;
    for (int b = 0; b < BATCHES; b++) {
        for (size_t i = 0; i < BATCH; i++) {
            size_t k = (size_t)b * BATCH + i;
            addrs[i] =
                text_addr + (uint64_t)((k * 7919 + 13) % (text_size ? text_size : 1));
        }
        if (addr2line_chains(path, addrs, BATCH, want) != 0) {
            printf("test_inlines: skip %s: addr2line did not run\n", path);
            break;
        }
        for (size_t i = 0; i < BATCH; i++) {
            const char *got = chain(in, addrs[i]);
            total++;
            if (strcmp(got, want[i]) == 0) {
                agree++;
            }
            else if (got[0] == '\0' && strchr(want[i], ' ') == NULL) {
                fallback++;
            }
            else {
                fprintf(stderr, "  %s 0x%llx: got \"%s\", addr2line \"%s\"\n", path,
                        (unsigned long long)addrs[i], got, want[i]);
            }
        }
    }
    if (total > 0) {
        printf("test_inlines: %s: %d of %d addresses as addr2line, %d by its symbol "
               "fallback\n",
               path, agree, total, fallback);
        CHECK_EQ_INT(agree + fallback, total);
        CHECK(agree > total / 2);
    }
    pt_inlines_free(in);
    pt_elf_file_free(f);
}

/* libc's separate debug file, found by its build-id as perf finds it. */
static void
compare_libc_debug_file(void)
{
    static const char libc_path[] = "/lib/x86_64-linux-gnu/libc.so.6";
    struct pt_elf_file *libc;
    char err[128];
    if (pt_elf_file_open(&libc, libc_path, err, sizeof(err)) != 0) {
        printf("test_inlines: skip libc: %s\n", err);
        return;
    }
    const uint8_t *id;
    size_t id_size;
    char path[256] = "";
    if (pt_elf_file_build_id(libc, &id, &id_size) == 0 && id_size >= 2 && id_size <= 64) {
        int at = snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%02x/", id[0]);
        for (size_t i = 1; i < id_size; i++) {
            at += snprintf(path + at, sizeof(path) - (size_t)at, "%02x", id[i]);
        }
        snprintf(path + at, sizeof(path) - (size_t)at, ".debug");
    }
    pt_elf_file_free(libc);
    compare_with_addr2line(path, libc_path);
}

int
main(void)
{
    test_small_file(false);
#ifdef PT_HAVE_ZLIB
    test_small_file(true);
#else
    printf("SKIPPED compressed .debug_info: built without zlib\n");
#endif
    test_malformed();
    static const char libpython[] =
        "/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0";
    compare_with_addr2line(libpython, libpython);
    compare_libc_debug_file();
    return TEST_REPORT("test_inlines");
}
