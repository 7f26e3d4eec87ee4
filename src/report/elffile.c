/*
 * ELF files for the unwinder and the symboliser; the contract is in
 * elffile.h.
 *
 * Nothing is trusted: the headers are checked once at open (the program and
 * section header tables lie in the bytes), and every other read goes
 * through range_ok()/read_at(), which copy with memcpy (no unaligned
 * pointer casts).  A string is used only when its NUL lies inside its
 * table.  Loops run over counts bounded by the file's size.
 *
 * The symbol table is perf's, rebuilt here (tools/perf/util/symbol-elf.c:
 * dso__load_sym, dso__synthesize_plt_symbols; symbol.c: symbols__fixup_end,
 * symbols__fixup_duplicate, choose_best_symbol), but in virtual addresses
 * where perf works in file offsets: the two agree for any address that a
 * PT_LOAD segment maps, which is every address a sample can have.  It is
 * one array sorted by start, built on the first lookup; names point into
 * the file's string tables, or, for the PLT's synthesized ones, into one
 * growable arena of ours.
 */
#include "elffile.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE_SIZE ((uint64_t)2 << 30)
/* perf formats a PLT name into a buffer this big, cutting longer ones. */
#define PLT_NAME_MAX 1024
/* Synthesized names stop here: a hostile .rela.plt naming one long string
 * many times must not take gigabytes. */
#define MAX_SYNTH_NAMES ((size_t)64 << 20)
#define PAGE 4096u

struct sym {
    uint64_t start, end;
    uint64_t name_off; /* in the file, or in f->names when synth */
    uint32_t name_len;
    uint32_t order; /* position in the table: ties keep the first */
    uint8_t bind, type;
    bool synth;
    bool ifunc_alias; /* an alias of an IFUNC symbol perf dropped */
};

struct pt_elf_file {
    const uint8_t *data;
    size_t len;
    void *mapped; /* when we mmapped data */
    uint16_t machine;
    uint64_t phoff, shoff;
    size_t phnum, shnum;
    uint64_t shstr_off, shstr_size; /* 0 size: sections have no names */

    bool legacy_plt;
    int symbols_built; /* 0 not yet, 1 built, negative errno */
    struct sym *syms;
    size_t nsyms, syms_cap;
    char *names;
    size_t names_len, names_cap;
};

static void
set_err(char *err, size_t err_size, const char *fmt, ...)
{
    if (err == NULL || err_size == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

/* off..off+size lies in a buffer of len bytes (no overflow). */
static bool
range_ok(uint64_t off, uint64_t size, size_t len)
{
    return off <= len && size <= len - off;
}

static int
read_at(const struct pt_elf_file *f, uint64_t off, void *dst, size_t n)
{
    if (!range_ok(off, n, f->len)) {
        return -EINVAL;
    }
    memcpy(dst, f->data + off, n);
    return 0;
}

/* ---- headers ---- */

static int
read_shdr(const struct pt_elf_file *f, size_t i, Elf64_Shdr *sh)
{
    if (i >= f->shnum) {
        return -ENOENT;
    }
    return read_at(f, f->shoff + i * sizeof(Elf64_Shdr), sh, sizeof(*sh));
}

static int
read_phdr(const struct pt_elf_file *f, size_t i, Elf64_Phdr *ph)
{
    return read_at(f, f->phoff + i * sizeof(Elf64_Phdr), ph, sizeof(*ph));
}

/* A NUL-terminated string at `off` of the table table_off..+table_size,
 * or NULL when it does not end inside the table. */
static const char *
string_at(const struct pt_elf_file *f, uint64_t table_off, uint64_t table_size,
          uint64_t off, size_t *len)
{
    if (off >= table_size) {
        return NULL;
    }
    const char *s = (const char *)f->data + table_off + off;
    const char *nul = memchr(s, '\0', table_size - off);
    if (nul == NULL) {
        return NULL;
    }
    *len = (size_t)(nul - s);
    return s;
}

static const char *
section_name(const struct pt_elf_file *f, const Elf64_Shdr *sh)
{
    size_t len;
    return string_at(f, f->shstr_off, f->shstr_size, sh->sh_name, &len);
}

/* The index of the first section named `name`, from 1 as perf looks. */
static int
find_section(const struct pt_elf_file *f, const char *name, Elf64_Shdr *sh, size_t *index)
{
    for (size_t i = 1; i < f->shnum; i++) {
        if (read_shdr(f, i, sh) != 0) {
            return -ENOENT;
        }
        const char *s = section_name(f, sh);
        if (s != NULL && strcmp(s, name) == 0) {
            if (index != NULL) {
                *index = i;
            }
            return 0;
        }
    }
    return -ENOENT;
}

/* The section's bytes, when it has some and they are all in the file. */
static bool
section_in_file(const struct pt_elf_file *f, const Elf64_Shdr *sh)
{
    return sh->sh_type != SHT_NOBITS && range_ok(sh->sh_offset, sh->sh_size, f->len);
}

static int
check_ident(const uint8_t *data, size_t len, char *err, size_t err_size)
{
    if (len < EI_NIDENT || memcmp(data, ELFMAG, SELFMAG) != 0) {
        set_err(err, err_size, "not an ELF file");
        return -ENOEXEC;
    }
    if (data[EI_CLASS] != ELFCLASS64 || data[EI_DATA] != ELFDATA2LSB) {
        set_err(err, err_size, "not ELF64 little-endian");
        return -ENOEXEC;
    }
    if (len < sizeof(Elf64_Ehdr)) {
        set_err(err, err_size, "truncated ELF header");
        return -ENOEXEC;
    }
    return 0;
}

static int
check_program_headers(struct pt_elf_file *f, const Elf64_Ehdr *eh, char *err,
                      size_t err_size)
{
    f->phoff = eh->e_phoff;
    f->phnum = eh->e_phnum;
    if (f->phnum == 0) {
        return 0;
    }
    if (eh->e_phentsize != sizeof(Elf64_Phdr)) {
        set_err(err, err_size, "bad program header size %u", eh->e_phentsize);
        return -ENOEXEC;
    }
    if (!range_ok(f->phoff, (uint64_t)f->phnum * sizeof(Elf64_Phdr), f->len)) {
        set_err(err, err_size, "truncated program headers");
        return -ENOEXEC;
    }
    return 0;
}

/* Section headers, with the extended numbering of files of 65280 or more
 * sections (the count in section 0's sh_size, the names' index in its
 * sh_link). */
static int
check_section_headers(struct pt_elf_file *f, const Elf64_Ehdr *eh, char *err,
                      size_t err_size)
{
    f->shoff = eh->e_shoff;
    if (f->shoff == 0) {
        return 0;
    }
    if (eh->e_shentsize != sizeof(Elf64_Shdr)) {
        set_err(err, err_size, "bad section header size %u", eh->e_shentsize);
        return -ENOEXEC;
    }
    Elf64_Shdr first;
    if (read_at(f, f->shoff, &first, sizeof(first)) != 0) {
        set_err(err, err_size, "truncated section headers");
        return -ENOEXEC;
    }
    uint64_t count = eh->e_shnum ? eh->e_shnum : first.sh_size;
    if (!range_ok(f->shoff, count * sizeof(Elf64_Shdr), f->len) ||
        count > f->len / sizeof(Elf64_Shdr)) {
        set_err(err, err_size, "truncated section headers");
        return -ENOEXEC;
    }
    f->shnum = (size_t)count;
    size_t names = eh->e_shstrndx == SHN_XINDEX ? first.sh_link : eh->e_shstrndx;
    Elf64_Shdr sh;
    if (names != SHN_UNDEF && read_shdr(f, names, &sh) == 0 && section_in_file(f, &sh)) {
        f->shstr_off = sh.sh_offset;
        f->shstr_size = sh.sh_size;
    }
    return 0;
}

int
pt_elf_file_from_memory(struct pt_elf_file **out, const void *data, size_t len, char *err,
                        size_t err_size)
{
    *out = NULL;
    int rc = check_ident(data, len, err, err_size);
    if (rc != 0) {
        return rc;
    }
    struct pt_elf_file *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        set_err(err, err_size, "out of memory");
        return -ENOMEM;
    }
    f->data = data;
    f->len = len;
    Elf64_Ehdr eh;
    memcpy(&eh, data, sizeof(eh));
    f->machine = eh.e_machine;
    rc = check_program_headers(f, &eh, err, err_size);
    if (rc == 0) {
        rc = check_section_headers(f, &eh, err, err_size);
    }
    if (rc != 0) {
        free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int
pt_elf_file_open(struct pt_elf_file **out, const char *path, char *err, size_t err_size)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        set_err(err, err_size, "cannot open %s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        set_err(err, err_size, "cannot stat %s: %s", path, strerror(-rc));
    }
    else if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        set_err(err, err_size, "not a regular file");
    }
    else if ((uint64_t)st.st_size > MAX_FILE_SIZE) {
        rc = -EFBIG;
        set_err(err, err_size, "larger than 2 GiB");
    }
    else if (st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        rc = -ENOEXEC;
        set_err(err, err_size, "not an ELF file");
    }
    void *map = MAP_FAILED;
    size_t len = rc == 0 ? (size_t)st.st_size : 0;
    if (rc == 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            rc = -errno;
            set_err(err, err_size, "cannot map %s: %s", path, strerror(-rc));
        }
    }
    close(fd);
    if (rc != 0) {
        return rc;
    }
    rc = pt_elf_file_from_memory(out, map, len, err, err_size);
    if (rc != 0) {
        munmap(map, len);
        return rc;
    }
    (*out)->mapped = map;
    return 0;
}

void
pt_elf_file_free(struct pt_elf_file *f)
{
    if (f == NULL) {
        return;
    }
    if (f->mapped != NULL) {
        munmap(f->mapped, f->len);
    }
    free(f->syms);
    free(f->names);
    free(f);
}

void
pt_elf_file_set_legacy_plt(struct pt_elf_file *f, int legacy)
{
    f->legacy_plt = legacy != 0;
}

uint16_t
pt_elf_file_machine(const struct pt_elf_file *f)
{
    return f->machine;
}

int
pt_elf_file_offset_to_vaddr(const struct pt_elf_file *f, uint64_t offset, uint64_t *vaddr)
{
    for (size_t i = 0; i < f->phnum; i++) {
        Elf64_Phdr ph;
        if (read_phdr(f, i, &ph) != 0) {
            return -ENOENT;
        }
        if (ph.p_type == PT_LOAD && offset >= ph.p_offset &&
            offset - ph.p_offset < ph.p_filesz) {
            *vaddr = ph.p_vaddr + (offset - ph.p_offset);
            return 0;
        }
    }
    return -ENOENT;
}

int
pt_elf_file_section(const struct pt_elf_file *f, const char *name, const uint8_t **data,
                    size_t *size, uint64_t *vaddr)
{
    Elf64_Shdr sh;
    if (find_section(f, name, &sh, NULL) != 0 || !section_in_file(f, &sh)) {
        return -ENOENT;
    }
    *data = f->data + sh.sh_offset;
    *size = (size_t)sh.sh_size;
    if (vaddr != NULL) {
        *vaddr = sh.sh_addr;
    }
    return 0;
}

int
pt_elf_file_section_flags(const struct pt_elf_file *f, const char *name, uint64_t *flags)
{
    Elf64_Shdr sh;
    if (find_section(f, name, &sh, NULL) != 0 || !section_in_file(f, &sh)) {
        return -ENOENT;
    }
    *flags = sh.sh_flags;
    return 0;
}

/* ---- build-id ---- */

#define NOTE_ALIGN(n) (((n) + 3) & ~(uint64_t)3)

/* The NT_GNU_BUILD_ID note among the notes at off..off+size. */
static int
find_build_id_note(const struct pt_elf_file *f, uint64_t off, uint64_t size,
                   const uint8_t **id, size_t *id_size)
{
    uint64_t at = 0;
    while (size - at >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr nh;
        memcpy(&nh, f->data + off + at, sizeof(nh));
        uint64_t name_at = at + sizeof(nh);
        uint64_t desc_at = name_at + NOTE_ALIGN((uint64_t)nh.n_namesz);
        if (desc_at > size || nh.n_descsz > size - desc_at) {
            return -ENOENT;
        }
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == sizeof(ELF_NOTE_GNU) &&
            memcmp(f->data + off + name_at, ELF_NOTE_GNU, sizeof(ELF_NOTE_GNU)) == 0) {
            *id = f->data + off + desc_at;
            *id_size = nh.n_descsz;
            return 0;
        }
        uint64_t next = desc_at + NOTE_ALIGN((uint64_t)nh.n_descsz);
        if (next > size) {
            return -ENOENT;
        }
        at = next;
    }
    return -ENOENT;
}

int
pt_elf_file_build_id(const struct pt_elf_file *f, const uint8_t **id, size_t *size)
{
    /* perf reads the first of these sections the file has, and only it. */
    static const char *const sections[] = {".note.gnu.build-id", ".notes", ".note"};
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        Elf64_Shdr sh;
        if (find_section(f, sections[i], &sh, NULL) == 0) {
            if (!section_in_file(f, &sh)) {
                return -ENOENT;
            }
            return find_build_id_note(f, sh.sh_offset, sh.sh_size, id, size);
        }
    }
    /* No section headers (a stripped-to-the-bone file): the segments. */
    for (size_t i = 0; i < f->phnum; i++) {
        Elf64_Phdr ph;
        if (read_phdr(f, i, &ph) == 0 && ph.p_type == PT_NOTE &&
            range_ok(ph.p_offset, ph.p_filesz, f->len) &&
            find_build_id_note(f, ph.p_offset, ph.p_filesz, id, size) == 0) {
            return 0;
        }
    }
    return -ENOENT;
}

/* ---- the symbol table ---- */

static const char *
sym_name(const struct pt_elf_file *f, const struct sym *s)
{
    return s->synth ? f->names + s->name_off : (const char *)f->data + s->name_off;
}

static int
add_sym(struct pt_elf_file *f, const struct sym *s)
{
    if (f->nsyms == f->syms_cap) {
        size_t cap = f->syms_cap ? 2 * f->syms_cap : 256;
        struct sym *grown = realloc(f->syms, cap * sizeof(*grown));
        if (grown == NULL) {
            return -ENOMEM;
        }
        f->syms = grown;
        f->syms_cap = cap;
    }
    f->syms[f->nsyms] = *s;
    f->syms[f->nsyms].order = (uint32_t)f->nsyms;
    f->nsyms++;
    return 0;
}

/* A synthesized symbol named `name` (cut at PLT_NAME_MAX - 1 bytes, as perf's
 * buffer cuts it), kept in f->names with a NUL after it. */
static int
add_synth_sym(struct pt_elf_file *f, uint64_t start, uint64_t size, const char *name)
{
    size_t len = strnlen(name, PLT_NAME_MAX - 1);
    if (f->names_len + len + 1 > f->names_cap) {
        if (f->names_len + len + 1 > MAX_SYNTH_NAMES) {
            return -E2BIG;
        }
        size_t cap = f->names_cap ? 2 * f->names_cap : 4096;
        char *grown = realloc(f->names, cap);
        if (grown == NULL) {
            return -ENOMEM;
        }
        f->names = grown;
        f->names_cap = cap;
    }
    memcpy(f->names + f->names_len, name, len);
    f->names[f->names_len + len] = '\0';
    struct sym s = {
        .start = start,
        .end = start + size < start ? UINT64_MAX : start + size,
        .name_off = f->names_len,
        .name_len = (uint32_t)len,
        .bind = STB_GLOBAL,
        .type = STT_FUNC,
        .synth = true,
    };
    f->names_len += len + 1;
    return add_sym(f, &s);
}

/* A symbol table section: its entries and its string table. */
struct symtab {
    uint64_t off, count;
    uint64_t str_off, str_size;
};

static int
open_symtab(const struct pt_elf_file *f, const Elf64_Shdr *sh, struct symtab *t)
{
    Elf64_Shdr str;
    if (!section_in_file(f, sh) || sh->sh_entsize != sizeof(Elf64_Sym) ||
        read_shdr(f, sh->sh_link, &str) != 0 || !section_in_file(f, &str)) {
        return -ENOENT;
    }
    t->off = sh->sh_offset;
    t->count = sh->sh_size / sizeof(Elf64_Sym);
    t->str_off = str.sh_offset;
    t->str_size = str.sh_size;
    return 0;
}

/* Symbol i's name, "" when it has none or it is not inside the strings. */
static const char *
symtab_name(const struct pt_elf_file *f, const struct symtab *t, uint64_t i,
            Elf64_Sym *es, size_t *len)
{
    *len = 0;
    if (i >= t->count) {
        return "";
    }
    memcpy(es, f->data + t->off + i * sizeof(Elf64_Sym), sizeof(*es));
    const char *s = string_at(f, t->str_off, t->str_size, es->st_name, len);
    return s != NULL ? s : "";
}

/* The symbol table perf reads: .symtab when the file has one, else .dynsym;
 * also the section index of each, which a .rela.plt may link to. */
struct tables {
    struct symtab symtab, dynsym;
    size_t symtab_index, dynsym_index; /* 0: none */
};

static void
find_tables(const struct pt_elf_file *f, struct tables *t)
{
    Elf64_Shdr sh;
    memset(t, 0, sizeof(*t));
    if (find_section(f, ".symtab", &sh, &t->symtab_index) != 0 ||
        sh.sh_type != SHT_SYMTAB || open_symtab(f, &sh, &t->symtab) != 0) {
        t->symtab_index = 0;
    }
    if (find_section(f, ".dynsym", &sh, &t->dynsym_index) != 0 ||
        sh.sh_type != SHT_DYNSYM || open_symtab(f, &sh, &t->dynsym) != 0) {
        t->dynsym_index = 0;
    }
}

/* perf's rules for which symbols count (elf_sym__is_function, _is_object,
 * _is_label, and the section checks of dso__load_sym). */
static bool
sym_counts(const struct pt_elf_file *f, const Elf64_Sym *es, const char *name)
{
    unsigned type = ELF64_ST_TYPE(es->st_info);
    unsigned vis = ELF64_ST_VISIBILITY(es->st_other);
    bool label = type == STT_NOTYPE && vis != STV_HIDDEN && vis != STV_INTERNAL;
    if (es->st_name == 0 || es->st_shndx == SHN_UNDEF || es->st_shndx >= SHN_LORESERVE) {
        return false;
    }
    if (!label && type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_OBJECT) {
        return false;
    }
    /* aarch64 mapping symbols: $x, $d (and $x.42) mark code and data */
    if (f->machine == EM_AARCH64 && name[0] == '$' && name[1] != '\0' &&
        strchr("adtx", name[1]) != NULL && (name[2] == '\0' || name[2] == '.')) {
        return false;
    }
    Elf64_Shdr sec;
    if (read_shdr(f, es->st_shndx, &sec) != 0 || !(sec.sh_flags & SHF_ALLOC)) {
        return false;
    }
    if (label) {
        const char *sname = section_name(f, &sec);
        return sname != NULL && (strstr(sname, "text") != NULL || strstr(sname, "data"));
    }
    return true;
}

static int
load_symbols(struct pt_elf_file *f, const struct symtab *t)
{
    for (uint64_t i = 0; i < t->count; i++) {
        Elf64_Sym es;
        size_t len;
        const char *name = symtab_name(f, t, i, &es, &len);
        if (len == 0 || !sym_counts(f, &es, name)) {
            continue;
        }
        uint64_t end = es.st_value + es.st_size;
        struct sym s = {
            .start = es.st_value,
            .end = end < es.st_value ? UINT64_MAX : end,
            .name_off = (uint64_t)(name - (const char *)f->data),
            .name_len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len,
            .bind = ELF64_ST_BIND(es.st_info),
            .type = ELF64_ST_TYPE(es.st_info),
        };
        int rc = add_sym(f, &s);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int
by_start(const void *a, const void *b)
{
    const struct sym *x = a, *y = b;
    if (x->start != y->start) {
        return x->start < y->start ? -1 : 1;
    }
    return x->order < y->order ? -1 : x->order > y->order;
}

/* symbols__fixup_end: a zero-size symbol runs to the next one's start, the
 * last one to the end of the page after its own. */
static void
fixup_ends(struct sym *syms, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (syms[i].end == syms[i].start) {
            syms[i].end = syms[i + 1].start;
        }
    }
    if (n > 0 && syms[n - 1].end == syms[n - 1].start) {
        uint64_t start = syms[n - 1].start;
        uint64_t end = (start | (PAGE - 1)) + 1 + PAGE;
        syms[n - 1].end = end < start ? UINT64_MAX : end;
    }
}

static size_t
leading_underscores(const char *s, size_t len)
{
    size_t n = 0;
    while (n < len && s[n] == '_') {
        n++;
    }
    return n;
}

/* choose_best_symbol: true when a stays rather than b. */
static bool
first_is_best(const struct pt_elf_file *f, const struct sym *a, const struct sym *b)
{
    bool a_sized = a->end > a->start, b_sized = b->end > b->start;
    if (a_sized != b_sized) {
        return a_sized;
    }
    bool a_weak = a->bind == STB_WEAK, b_weak = b->bind == STB_WEAK;
    if (a_weak != b_weak) {
        return b_weak;
    }
    bool a_global = a->bind == STB_GLOBAL, b_global = b->bind == STB_GLOBAL;
    if (a_global != b_global) {
        return a_global;
    }
    size_t au = leading_underscores(sym_name(f, a), a->name_len);
    size_t bu = leading_underscores(sym_name(f, b), b->name_len);
    if (au != bu) {
        return au < bu;
    }
    return a->name_len >= b->name_len;
}

/* symbols__fixup_duplicate: of the symbols starting at one address, keep
 * the best, comparing in table order. */
static size_t
drop_aliases(const struct pt_elf_file *f, struct sym *syms, size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        struct sym *last = kept ? &syms[kept - 1] : NULL;
        if (last == NULL || last->start != syms[i].start) {
            syms[kept++] = syms[i];
        }
        else if (first_is_best(f, last, &syms[i])) {
            last->ifunc_alias |= syms[i].type == STT_GNU_IFUNC;
        }
        else {
            bool alias = last->type == STT_GNU_IFUNC;
            *last = syms[i];
            last->ifunc_alias |= alias;
        }
    }
    return kept;
}

/* The index of the last symbol starting at or before vaddr, or n. */
static size_t
last_at_or_before(const struct sym *syms, size_t n, uint64_t vaddr)
{
    size_t lo = 0, hi = n; /* the answer is below hi */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (syms[mid].start <= vaddr) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo == 0 ? n : lo - 1;
}

static struct sym *
covering(struct pt_elf_file *f, uint64_t vaddr)
{
    size_t i = last_at_or_before(f->syms, f->nsyms, vaddr);
    if (i == f->nsyms) {
        return NULL;
    }
    struct sym *s = &f->syms[i];
    bool covers = vaddr < s->end || (vaddr == s->start && s->end == s->start);
    return covers ? s : NULL;
}

/* ---- PLT entries (dso__synthesize_plt_symbols) ---- */

struct plt_sizes {
    uint64_t header, entry;
};

static bool
plt_sizes(uint16_t machine, const Elf64_Shdr *sh, bool legacy, struct plt_sizes *z)
{
    switch (legacy && machine != EM_AARCH64 ? EM_NONE : machine) {
    case EM_AARCH64:
        z->header = 32;
        z->entry = 16;
        return true;
    case EM_386:
    case EM_X86_64:
        z->entry = sh->sh_entsize;
        /* 8 or 16; else the alignment tells */
        if (z->entry != 8 && z->entry != 16) {
            z->entry = sh->sh_addralign == 8 ? 8 : 16;
        }
        z->header = z->entry;
        return true;
    default:
        z->header = z->entry = sh->sh_entsize;
        return z->entry != 0;
    }
}

static bool
is_x86(uint16_t machine)
{
    return machine == EM_386 || machine == EM_X86_64;
}

/* A GOT slot a relocation fills, and the dynamic symbol it names. */
struct slot {
    uint64_t offset;
    uint32_t sym;
};

static int
by_slot(const void *a, const void *b)
{
    const struct slot *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* .rela.dyn's GOT slots with a symbol, sorted, and the table they name. */
struct got_slots {
    struct slot *slots;
    size_t n;
    struct symtab syms;
};

static int
read_got_slots(const struct pt_elf_file *f, struct got_slots *g)
{
    Elf64_Shdr rela, dynsym;
    memset(g, 0, sizeof(*g));
    if (find_section(f, ".rela.dyn", &rela, NULL) != 0 || rela.sh_link == 0 ||
        rela.sh_entsize != sizeof(Elf64_Rela) || !section_in_file(f, &rela) ||
        read_shdr(f, rela.sh_link, &dynsym) != 0 ||
        open_symtab(f, &dynsym, &g->syms) != 0) {
        return 0;
    }
    uint64_t count = rela.sh_size / sizeof(Elf64_Rela);
    g->slots = malloc((count ? count : 1) * sizeof(*g->slots));
    if (g->slots == NULL) {
        return -ENOMEM;
    }
    for (uint64_t i = 0; i < count; i++) {
        Elf64_Rela r;
        memcpy(&r, f->data + rela.sh_offset + i * sizeof(r), sizeof(r));
        if (ELF64_R_SYM(r.r_info) != 0) {
            g->slots[g->n].offset = r.r_offset;
            g->slots[g->n].sym = ELF64_R_SYM(r.r_info);
            g->n++;
        }
    }
    qsort(g->slots, g->n, sizeof(*g->slots), by_slot);
    return 0;
}

/* The GOT slot an x86_64 PLT entry at `p` (avail bytes) jumps through, as
 * a distance from the entry: `[endbr64] [bnd] jmp *disp(%rip)`; 0 if it is
 * not such an entry. */
static int64_t
plt_jump_slot(const uint8_t *p, uint64_t avail)
{
    static const uint8_t endbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};
    uint64_t n = 0;
    if (avail >= sizeof(endbr64) && memcmp(p, endbr64, sizeof(endbr64)) == 0) {
        n += sizeof(endbr64);
    }
    if (n < avail && p[n] == 0xf2) {
        n++;
    }
    if (avail - n < 6 || p[n] != 0xff || p[n + 1] != 0x25) {
        return 0;
    }
    int32_t disp;
    memcpy(&disp, p + n + 2, sizeof(disp));
    return (int64_t)(n + 6) + disp;
}

/* .plt.got (x86_64): entries for functions also called through the GOT,
 * named from .rela.dyn. */
static int
add_plt_got(struct pt_elf_file *f)
{
    Elf64_Shdr sh;
    if (find_section(f, ".plt.got", &sh, NULL) != 0 || sh.sh_entsize == 0 ||
        !section_in_file(f, &sh)) {
        return 0;
    }
    struct got_slots g = {0};
    int rc = f->machine == EM_X86_64 ? read_got_slots(f, &g) : 0;
    char name[PLT_NAME_MAX];
    for (uint64_t i = 0; rc == 0 && i < sh.sh_size; i += sh.sh_entsize) {
        int64_t jump = plt_jump_slot(f->data + sh.sh_offset + i, sh.sh_size - i);
        struct slot key = {.offset = sh.sh_addr + i + (uint64_t)jump};
        const struct slot *hit =
            jump && g.n ? bsearch(&key, g.slots, g.n, sizeof(key), by_slot) : NULL;
        Elf64_Sym es;
        size_t len = 0;
        const char *sym = hit ? symtab_name(f, &g.syms, hit->sym, &es, &len) : "";
        if (len > 0) {
            snprintf(name, sizeof(name), "%s@plt", sym);
        }
        else {
            snprintf(name, sizeof(name), "offset_%#llx@plt",
                     (unsigned long long)(sh.sh_offset + i));
        }
        rc = add_synth_sym(f, sh.sh_addr + i, sh.sh_entsize, name);
    }
    free(g.slots);
    return rc;
}

/* Where the named PLT entries are: .plt after its header (lazy binding),
 * all of .plt (no header), or x86's .plt.sec. */
struct plt_run {
    uint64_t addr, offset;
    struct plt_sizes z;
    bool lazy;
};

/* A relocation of .rela.plt / .rel.plt. */
struct plt_rel {
    uint64_t offset, info, addend;
    uint32_t index;
};

static int
by_rel_offset(const void *a, const void *b)
{
    const struct plt_rel *x = a, *y = b;
    if (x->offset != y->offset) {
        return x->offset < y->offset ? -1 : 1;
    }
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Name of an IFUNC's PLT entry, which has no symbol: the IFUNC (or its
 * alias) starting at the relocation's addend, as get_ifunc_name; among the
 * table's symbols, syms[0..nsyms), sorted. */
static bool
ifunc_name(struct pt_elf_file *f, size_t nsyms, const struct plt_rel *r, bool rela,
           char *name, size_t size)
{
    if (f->machine != EM_X86_64 || !rela || ELF64_R_TYPE(r->info) != R_X86_64_IRELATIVE) {
        return false;
    }
    size_t i = last_at_or_before(f->syms, nsyms, r->addend);
    if (i == nsyms || f->syms[i].start != r->addend) {
        return false;
    }
    const struct sym *s = &f->syms[i];
    if (s->type != STT_GNU_IFUNC && !s->ifunc_alias) {
        return false;
    }
    snprintf(name, size, "%.*s@plt", (int)s->name_len, sym_name(f, s));
    return true;
}

static int
add_plt_relocs(struct pt_elf_file *f, const struct tables *tables, const Elf64_Shdr *plt,
               size_t loaded, struct plt_run *run, size_t header)
{
    Elf64_Shdr rel;
    if (find_section(f, ".rela.plt", &rel, NULL) != 0 &&
        find_section(f, ".rel.plt", &rel, NULL) != 0) {
        return 0;
    }
    bool rela = rel.sh_type == SHT_RELA;
    size_t entsize = rela ? sizeof(Elf64_Rela) : sizeof(Elf64_Rel);
    if ((!rela && rel.sh_type != SHT_REL) || rel.sh_link == 0 ||
        rel.sh_entsize != entsize || !section_in_file(f, &rel)) {
        return 0;
    }
    /* a static executable's IFUNC PLT names .symtab (not before perf 6.3) */
    const struct symtab *syms = rel.sh_link == tables->dynsym_index ? &tables->dynsym
                                : rel.sh_link == tables->symtab_index && !f->legacy_plt
                                    ? &tables->symtab
                                    : NULL;
    if (syms == NULL || syms->str_size == 0) {
        return 0;
    }
    uint64_t count = rel.sh_size / entsize;
    if (run->lazy) {
        /* as many entries as relocations: not lazy, no header */
        if (count * run->z.entry == plt->sh_size) {
            f->syms[header] = f->syms[--f->nsyms];
        }
        else {
            run->addr += run->z.header;
            run->offset += run->z.header;
        }
    }
    struct plt_rel *rels = malloc((count ? count : 1) * sizeof(*rels));
    if (rels == NULL) {
        return -ENOMEM;
    }
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *p = f->data + rel.sh_offset + i * entsize;
        Elf64_Rela r = {0};
        memcpy(&r, p, entsize); /* an Elf64_Rel is a Rela's first two fields */
        rels[i] =
            (struct plt_rel){r.r_offset, r.r_info, (uint64_t)r.r_addend, (uint32_t)i};
    }
    /* x86 lists IFUNC relocations out of .plt order */
    if (is_x86(f->machine) && !f->legacy_plt) {
        qsort(rels, count, sizeof(*rels), by_rel_offset);
    }
    char name[PLT_NAME_MAX];
    int rc = 0;
    for (uint64_t i = 0; rc == 0 && i < count; i++) {
        Elf64_Sym es;
        size_t len;
        const char *sym = symtab_name(f, syms, ELF64_R_SYM(rels[i].info), &es, &len);
        if (len > 0 || f->legacy_plt) {
            snprintf(name, sizeof(name), "%s@plt", sym);
        }
        else if (!ifunc_name(f, loaded, &rels[i], rela, name, sizeof(name))) {
            snprintf(name, sizeof(name), "offset_%#llx@plt",
                     (unsigned long long)run->offset);
        }
        rc = add_synth_sym(f, run->addr, run->z.entry, name);
        run->addr += run->z.entry;
        run->offset += run->z.entry;
    }
    free(rels);
    return rc;
}

/* After the table's symbols, syms[0..loaded), sorted and fixed up: perf
 * adds the PLT's after its fixups. */
static int
add_plt(struct pt_elf_file *f, const struct tables *tables)
{
    size_t loaded = f->nsyms;
    Elf64_Shdr plt;
    /* a separate debug file's .plt is NOBITS: perf reads the PLT from the
     * runtime file only */
    if (find_section(f, ".plt", &plt, NULL) != 0 || plt.sh_type == SHT_NOBITS) {
        return 0;
    }
    /* a zero-size symbol before it (_init) was stretched over it */
    struct sym *before = covering(f, plt.sh_addr);
    if (before != NULL && before->start < plt.sh_addr) {
        before->end = plt.sh_addr;
    }
    struct plt_run run = {.addr = plt.sh_addr, .offset = plt.sh_offset, .lazy = true};
    if (!plt_sizes(f->machine, &plt, f->legacy_plt, &run.z)) {
        return 0;
    }
    if (f->legacy_plt) {
        /* perf before 6.3: the entries after a header, no more */
        run.addr += run.z.header;
        run.offset += run.z.header;
        run.lazy = false;
        int rc = add_plt_relocs(f, tables, &plt, loaded, &run, SIZE_MAX);
        return rc == -E2BIG ? 0 : rc;
    }
    size_t header = f->nsyms;
    int rc = add_synth_sym(f, plt.sh_addr, run.z.header, ".plt");
    if (rc == 0 && is_x86(f->machine)) {
        rc = add_plt_got(f);
    }
    Elf64_Shdr sec;
    if (rc == 0 && is_x86(f->machine) && find_section(f, ".plt.sec", &sec, NULL) == 0) {
        plt_sizes(f->machine, &sec, false, &run.z);
        uint64_t end = plt.sh_addr + plt.sh_size;
        f->syms[header].end = end < plt.sh_addr ? UINT64_MAX : end;
        run = (struct plt_run){.addr = sec.sh_addr, .offset = sec.sh_offset, .z = run.z};
    }
    if (rc == 0) {
        rc = add_plt_relocs(f, tables, &plt, loaded, &run, header);
    }
    return rc == -E2BIG ? 0 : rc;
}

static int
build_symbols(struct pt_elf_file *f)
{
    struct tables tables;
    find_tables(f, &tables);
    const struct symtab *t = tables.symtab_index   ? &tables.symtab
                             : tables.dynsym_index ? &tables.dynsym
                                                   : NULL;
    int rc = t != NULL ? load_symbols(f, t) : 0;
    if (rc != 0) {
        return rc;
    }
    if (f->nsyms > 0) {
        qsort(f->syms, f->nsyms, sizeof(*f->syms), by_start);
    }
    fixup_ends(f->syms, f->nsyms);
    f->nsyms = drop_aliases(f, f->syms, f->nsyms);
    size_t loaded = f->nsyms;
    rc = add_plt(f, &tables);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = loaded; i < f->nsyms; i++) {
        f->syms[i].order = (uint32_t)i; /* after the table's, at equal starts */
    }
    if (f->nsyms > 0) {
        qsort(f->syms, f->nsyms, sizeof(*f->syms), by_start);
    }
    return 0;
}

int
pt_elf_file_symbol(struct pt_elf_file *f, uint64_t vaddr, const char **name,
                   size_t *name_len, uint64_t *start)
{
    if (f->symbols_built == 0) {
        int rc = build_symbols(f);
        f->symbols_built = rc == 0 ? 1 : rc;
    }
    if (f->symbols_built < 0) {
        return f->symbols_built;
    }
    const struct sym *s = covering(f, vaddr);
    if (s == NULL) {
        return -ENOENT;
    }
    *name = sym_name(f, s);
    *name_len = s->name_len;
    *start = s->start;
    return 0;
}
