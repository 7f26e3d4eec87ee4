/* ELF files: symbols named as perf names them (in a small ELF made here,
 * in this test binary, in libc, at a PLT entry), file offsets to virtual
 * addresses, sections, the build-id; malformed files give errors. */
#include "elffile.h"
#include "testhelp.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a small ELF, laid out here ---- */

enum { S_NULL, S_TEXT, S_DATA, S_RODATA, S_NOTE, S_SYMTAB, S_STRTAB, S_SHSTRTAB, NSECT };

#define TEXT_ADDR 0x1000
#define DATA_ADDR 0x800
#define RODATA_ADDR 0x5000
#define LOAD_VADDR 0x400000
#define BUILD_ID "\x01\x02\x03\x04\x05\x06\x07\x08"

struct image {
    uint8_t bytes[4096];
    size_t len;
    char strtab[512];
    size_t strtab_len;
    Elf64_Sym syms[32];
    size_t nsyms;
};

static uint32_t
add_string(char *table, size_t *len, const char *s)
{
    uint32_t at = (uint32_t)*len;
    memcpy(table + at, s, strlen(s) + 1);
    *len += strlen(s) + 1;
    return at;
}

static void
add_symbol(struct image *im, const char *name, unsigned type, unsigned bind, unsigned vis,
           uint16_t shndx, uint64_t value, uint64_t size)
{
    Elf64_Sym *s = &im->syms[im->nsyms++];
    memset(s, 0, sizeof(*s));
    s->st_name = add_string(im->strtab, &im->strtab_len, name);
    s->st_info = ELF64_ST_INFO(bind, type);
    s->st_other = ELF64_ST_VISIBILITY(vis);
    s->st_shndx = shndx;
    s->st_value = value;
    s->st_size = size;
}

/* What perf's rules must make of these is checked in test_symbols. */
static void
add_symbols(struct image *im)
{
    im->strtab_len = 1; /* "" */
    im->nsyms = 1;      /* the null symbol */
    add_symbol(im, "sized", STT_FUNC, STB_GLOBAL, STV_DEFAULT, S_TEXT, 0x1000, 0x10);
    add_symbol(im, "zero", STT_FUNC, STB_LOCAL, STV_DEFAULT, S_TEXT, 0x1010, 0);
    add_symbol(im, "label", STT_NOTYPE, STB_GLOBAL, STV_DEFAULT, S_TEXT, 0x1020, 0);
    add_symbol(im, "hidden_label", STT_NOTYPE, STB_LOCAL, STV_HIDDEN, S_TEXT, 0x1028, 0);
    /* aliases: not weak beats weak, global beats local, fewer leading
     * underscores beat more */
    add_symbol(im, "__alias", STT_FUNC, STB_GLOBAL, STV_DEFAULT, S_TEXT, 0x1030, 0x10);
    add_symbol(im, "alias_weak", STT_FUNC, STB_WEAK, STV_DEFAULT, S_TEXT, 0x1030, 0x10);
    add_symbol(im, "alias", STT_FUNC, STB_GLOBAL, STV_DEFAULT, S_TEXT, 0x1030, 0x10);
    add_symbol(im, "alias_local", STT_FUNC, STB_LOCAL, STV_DEFAULT, S_TEXT, 0x1030, 0x10);
    /* then the longer name, then the first */
    add_symbol(im, "ab", STT_FUNC, STB_GLOBAL, STV_DEFAULT, S_TEXT, 0x1040, 0x10);
    add_symbol(im, "abc", STT_FUNC, STB_GLOBAL, STV_DEFAULT, S_TEXT, 0x1040, 0x10);
    add_symbol(im, "xyz", STT_FUNC, STB_GLOBAL, STV_DEFAULT, S_TEXT, 0x1040, 0x10);
    /* a size beats everything else */
    add_symbol(im, "nosize", STT_FUNC, STB_GLOBAL, STV_DEFAULT, S_TEXT, 0x1050, 0);
    add_symbol(im, "_weak_sized", STT_FUNC, STB_WEAK, STV_DEFAULT, S_TEXT, 0x1050, 0x10);
    add_symbol(im, "ifunc", STT_GNU_IFUNC, STB_GLOBAL, STV_DEFAULT, S_TEXT, 0x1060, 0x10);
    /* not symbols perf counts */
    add_symbol(im, "undefined", STT_FUNC, STB_GLOBAL, STV_DEFAULT, SHN_UNDEF, 0x1070,
               0x10);
    add_symbol(im, "absolute", STT_FUNC, STB_GLOBAL, STV_DEFAULT, SHN_ABS, 0x1070, 0x10);
    add_symbol(im, "a_file", STT_FILE, STB_LOCAL, STV_DEFAULT, S_TEXT, 0x1070, 0x10);
    add_symbol(im, "bad_section", STT_FUNC, STB_GLOBAL, STV_DEFAULT, 999, 0x1070, 0x10);
    add_symbol(im, "ro_label", STT_NOTYPE, STB_GLOBAL, STV_DEFAULT, S_RODATA, RODATA_ADDR,
               0);
    /* the last one, of no size: to the end of the page after its own */
    add_symbol(im, "tail", STT_FUNC, STB_GLOBAL, STV_DEFAULT, S_TEXT, 0x10f0, 0);
    add_symbol(im, "object", STT_OBJECT, STB_GLOBAL, STV_DEFAULT, S_DATA, DATA_ADDR, 8);
    /* a name past the string table */
    add_symbol(im, "lost", STT_FUNC, STB_GLOBAL, STV_DEFAULT, S_TEXT, 0x1080, 0x10);
    im->syms[im->nsyms - 1].st_name = 100000;
}

static size_t
place(struct image *im, const void *data, size_t size)
{
    size_t at = (im->len + 7) & ~(size_t)7;
    memcpy(im->bytes + at, data, size);
    im->len = at + size;
    return at;
}

static void
set_section(Elf64_Shdr *sh, uint32_t name, uint32_t type, uint64_t flags, uint64_t addr,
            uint64_t offset, uint64_t size)
{
    memset(sh, 0, sizeof(*sh));
    sh->sh_name = name;
    sh->sh_type = type;
    sh->sh_flags = flags;
    sh->sh_addr = addr;
    sh->sh_offset = offset;
    sh->sh_size = size;
}

static void
build_image(struct image *im)
{
    memset(im, 0, sizeof(*im));
    add_symbols(im);
    im->len = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr);

    uint8_t note[sizeof(Elf64_Nhdr) + 4 + 8];
    Elf64_Nhdr nh = {.n_namesz = 4, .n_descsz = 8, .n_type = NT_GNU_BUILD_ID};
    memcpy(note, &nh, sizeof(nh));
    memcpy(note + sizeof(nh), "GNU", 4);
    memcpy(note + sizeof(nh) + 4, BUILD_ID, 8);
    size_t note_at = place(im, note, sizeof(note));
    size_t text_at = place(im, "\x90\x90\x90\x90", 4);
    size_t sym_at = place(im, im->syms, im->nsyms * sizeof(Elf64_Sym));
    size_t str_at = place(im, im->strtab, im->strtab_len);
    char names[128];
    size_t names_len = 1;
    uint32_t name[NSECT] = {0};
    static const char *const section_names[NSECT] = {
        "",        ".text",   ".data",    ".consts", ".note.gnu.build-id",
        ".symtab", ".strtab", ".shstrtab"};
    names[0] = '\0';
    for (int i = 1; i < NSECT; i++) {
        name[i] = add_string(names, &names_len, section_names[i]);
    }
    size_t names_at = place(im, names, names_len);

    Elf64_Shdr sh[NSECT];
    set_section(&sh[S_NULL], 0, SHT_NULL, 0, 0, 0, 0);
    set_section(&sh[S_TEXT], name[S_TEXT], SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR,
                TEXT_ADDR, text_at, 0x100);
    set_section(&sh[S_DATA], name[S_DATA], SHT_NOBITS, SHF_ALLOC | SHF_WRITE, DATA_ADDR,
                0, 0x100);
    set_section(&sh[S_RODATA], name[S_RODATA], SHT_PROGBITS, SHF_ALLOC, RODATA_ADDR,
                text_at, 4);
    set_section(&sh[S_NOTE], name[S_NOTE], SHT_NOTE, SHF_ALLOC, 0, note_at, sizeof(note));
    set_section(&sh[S_SYMTAB], name[S_SYMTAB], SHT_SYMTAB, 0, 0, sym_at,
                im->nsyms * sizeof(Elf64_Sym));
    sh[S_SYMTAB].sh_link = S_STRTAB;
    sh[S_SYMTAB].sh_entsize = sizeof(Elf64_Sym);
    set_section(&sh[S_STRTAB], name[S_STRTAB], SHT_STRTAB, 0, 0, str_at, im->strtab_len);
    set_section(&sh[S_SHSTRTAB], name[S_SHSTRTAB], SHT_STRTAB, 0, 0, names_at, names_len);
    size_t sh_at = place(im, sh, sizeof(sh));

    Elf64_Phdr ph[2] = {
        {.p_type = PT_LOAD, .p_offset = 0, .p_vaddr = LOAD_VADDR, .p_filesz = 0x100},
        {.p_type = PT_LOAD, .p_offset = 0x100, .p_vaddr = 0x800000, .p_filesz = 0x100},
    };
    Elf64_Ehdr eh = {
        .e_type = ET_DYN,
        .e_machine = EM_X86_64,
        .e_version = EV_CURRENT,
        .e_phoff = sizeof(Elf64_Ehdr),
        .e_shoff = sh_at,
        .e_ehsize = sizeof(Elf64_Ehdr),
        .e_phentsize = sizeof(Elf64_Phdr),
        .e_phnum = 2,
        .e_shentsize = sizeof(Elf64_Shdr),
        .e_shnum = NSECT,
        .e_shstrndx = S_SHSTRTAB,
    };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    memcpy(im->bytes, &eh, sizeof(eh));
    memcpy(im->bytes + sizeof(eh), ph, sizeof(ph));
}

/* The name covering vaddr, "" when none does. */
static const char *
name_at(struct pt_elf_file *f, uint64_t vaddr, uint64_t *start)
{
    static char buf[256];
    const char *name;
    size_t len;
    uint64_t s = 0;
    if (pt_elf_file_symbol(f, vaddr, &name, &len, &s) != 0 || len >= sizeof(buf)) {
        return "";
    }
    memcpy(buf, name, len);
    buf[len] = '\0';
    if (start != NULL) {
        *start = s;
    }
    return buf;
}

static void
test_symbols(void)
{
    struct image im;
    build_image(&im);
    struct pt_elf_file *f;
    char err[128];
    CHECK_EQ_INT(pt_elf_file_from_memory(&f, im.bytes, im.len, err, sizeof(err)), 0);
    CHECK_EQ_INT(pt_elf_file_machine(f), EM_X86_64);
    uint64_t start = 0;
    CHECK(strcmp(name_at(f, 0x1000, &start), "sized") == 0 && start == 0x1000);
    CHECK(strcmp(name_at(f, 0x100f, NULL), "sized") == 0);
    /* zero-size: up to the next symbol */
    CHECK(strcmp(name_at(f, 0x1010, &start), "zero") == 0 && start == 0x1010);
    CHECK(strcmp(name_at(f, 0x101f, NULL), "zero") == 0);
    /* a label in .text counts; a hidden one does not */
    CHECK(strcmp(name_at(f, 0x1020, NULL), "label") == 0);
    CHECK(strcmp(name_at(f, 0x102c, NULL), "label") == 0);
    CHECK(strcmp(name_at(f, 0x1034, &start), "alias") == 0 && start == 0x1030);
    CHECK(strcmp(name_at(f, 0x1040, NULL), "abc") == 0);
    CHECK(strcmp(name_at(f, 0x1050, NULL), "_weak_sized") == 0);
    CHECK(strcmp(name_at(f, 0x1060, NULL), "ifunc") == 0);
    /* undefined, absolute, STT_FILE, bad section, name outside: none */
    CHECK(strcmp(name_at(f, 0x1070, NULL), "") == 0);
    CHECK(strcmp(name_at(f, 0x1080, NULL), "") == 0);
    CHECK(strcmp(name_at(f, 0x0fff, NULL), "") == 0);
    /* the last one: to the end of the page after its own */
    CHECK(strcmp(name_at(f, 0x10f0, NULL), "tail") == 0);
    CHECK(strcmp(name_at(f, 0x2fff, NULL), "tail") == 0);
    CHECK(strcmp(name_at(f, 0x3000, NULL), "") == 0);
    /* objects count; a label in a section not named like text or data
     * (".consts") does not */
    CHECK(strcmp(name_at(f, DATA_ADDR + 4, NULL), "object") == 0);
    CHECK(strcmp(name_at(f, RODATA_ADDR, NULL), "") == 0);

    uint64_t vaddr = 0;
    CHECK_EQ_INT(pt_elf_file_offset_to_vaddr(f, 0x10, &vaddr), 0);
    CHECK_EQ_INT(vaddr, LOAD_VADDR + 0x10);
    CHECK_EQ_INT(pt_elf_file_offset_to_vaddr(f, 0x104, &vaddr), 0);
    CHECK_EQ_INT(vaddr, 0x800004);
    CHECK_EQ_INT(pt_elf_file_offset_to_vaddr(f, 0x200, &vaddr), -ENOENT);

    const uint8_t *data;
    size_t size;
    CHECK_EQ_INT(pt_elf_file_section(f, ".text", &data, &size, &vaddr), 0);
    CHECK_EQ_INT(size, 0x100);
    CHECK_EQ_INT(vaddr, TEXT_ADDR);
    CHECK_EQ_INT(pt_elf_file_section(f, ".data", &data, &size, &vaddr), -ENOENT);
    CHECK_EQ_INT(pt_elf_file_section(f, ".eh_frame", &data, &size, &vaddr), -ENOENT);
    CHECK_EQ_INT(pt_elf_file_section(f, ".consts", &data, &size, NULL), 0);
    CHECK(size == 4 && memcmp(data, "\x90\x90\x90\x90", 4) == 0);
    CHECK_EQ_INT(pt_elf_file_build_id(f, &data, &size), 0);
    CHECK(size == 8 && memcmp(data, BUILD_ID, 8) == 0);
    pt_elf_file_free(f);
}

/* Every cut of the image opens with an error or works without a fault;
 * a few broken fields give the errors the header promises. */
static void
test_malformed(void)
{
    struct image im;
    build_image(&im);
    char err[128];
    struct pt_elf_file *f;
    int opened = 0;
    for (size_t len = 0; len <= im.len; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, im.bytes, len);
        err[0] = '\0';
        if (pt_elf_file_from_memory(&f, copy, len, err, sizeof(err)) == 0) {
            const char *name;
            size_t name_len, size;
            uint64_t start, vaddr;
            const uint8_t *data;
            pt_elf_file_symbol(f, 0x1034, &name, &name_len, &start);
            pt_elf_file_offset_to_vaddr(f, 0x10, &vaddr);
            pt_elf_file_section(f, ".text", &data, &size, &vaddr);
            pt_elf_file_build_id(f, &data, &size);
            pt_elf_file_free(f);
            opened++;
        }
        else {
            CHECK(err[0] != '\0');
        }
        free(copy);
    }
    CHECK(opened == 1); /* only the whole file has its section headers */

    uint8_t bytes[sizeof(im.bytes)];
    memcpy(bytes, im.bytes, im.len);
    CHECK_EQ_INT(pt_elf_file_from_memory(&f,
                                         "\x7f"
                                         "ELG",
                                         4, err, sizeof(err)),
                 -ENOEXEC);
    CHECK(strcmp(err, "not an ELF file") == 0);
    bytes[EI_CLASS] = ELFCLASS32;
    CHECK_EQ_INT(pt_elf_file_from_memory(&f, bytes, im.len, err, sizeof(err)), -ENOEXEC);
    CHECK(strcmp(err, "not ELF64 little-endian") == 0);
    bytes[EI_CLASS] = ELFCLASS64;
    Elf64_Ehdr eh;
    memcpy(&eh, bytes, sizeof(eh));
    eh.e_phoff = UINT64_MAX - 8;
    memcpy(bytes, &eh, sizeof(eh));
    CHECK_EQ_INT(pt_elf_file_from_memory(&f, bytes, im.len, err, sizeof(err)), -ENOEXEC);
    CHECK(strcmp(err, "truncated program headers") == 0);
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_shnum = 0xff00;
    memcpy(bytes, &eh, sizeof(eh));
    CHECK_EQ_INT(pt_elf_file_from_memory(&f, bytes, im.len, err, sizeof(err)), -ENOEXEC);
    CHECK(strcmp(err, "truncated section headers") == 0);

    /* a symbol table linked to a section that is not there, and names past
     * the end: no symbols, no fault */
    memcpy(bytes, im.bytes, im.len);
    Elf64_Shdr sh;
    size_t sym_sh = eh.e_shoff + S_SYMTAB * sizeof(Elf64_Shdr);
    memcpy(&sh, bytes + sym_sh, sizeof(sh));
    sh.sh_link = 0xffffffff;
    memcpy(bytes + sym_sh, &sh, sizeof(sh));
    CHECK_EQ_INT(pt_elf_file_from_memory(&f, bytes, im.len, err, sizeof(err)), 0);
    const char *name;
    size_t name_len;
    uint64_t start;
    CHECK_EQ_INT(pt_elf_file_symbol(f, 0x1000, &name, &name_len, &start), -ENOENT);
    pt_elf_file_free(f);
    sh.sh_link = S_STRTAB;
    sh.sh_size = UINT64_MAX - 16;
    memcpy(bytes + sym_sh, &sh, sizeof(sh));
    CHECK_EQ_INT(pt_elf_file_from_memory(&f, bytes, im.len, err, sizeof(err)), 0);
    CHECK_EQ_INT(pt_elf_file_symbol(f, 0x1000, &name, &name_len, &start), -ENOENT);
    pt_elf_file_free(f);

    CHECK(pt_elf_file_open(&f, "/nonexistent/x", err, sizeof(err)) == -ENOENT);
    CHECK_EQ_INT(pt_elf_file_open(&f, "/proc/self", err, sizeof(err)), -EINVAL);
}

/* ---- real files of this machine ---- */

/* The mapped file holding addr, and addr's offset in it, from
 * /proc/self/maps. */
static int
file_offset_of(const void *addr, char *path, size_t path_size, uint64_t *offset)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    if (maps == NULL) {
        return -1;
    }
    char line[1024];
    int rc = -1;
    while (rc != 0 && fgets(line, sizeof(line), maps) != NULL) {
        uint64_t lo, hi, pgoff;
        int at = 0;
        if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %" SCNx64 " %*s %*s %n", &lo, &hi,
                   &pgoff, &at) < 3 ||
            at == 0 || (uintptr_t)addr < lo || (uintptr_t)addr >= hi) {
            continue;
        }
        line[strcspn(line, "\n")] = '\0';
        snprintf(path, path_size, "%s", line + at);
        *offset = (uintptr_t)addr - lo + pgoff;
        rc = path[0] == '/' ? 0 : -1;
    }
    fclose(maps);
    return rc;
}

/* The name perf gives the function at addr in this process, "" if none. */
static const char *
name_of_loaded(const void *addr, uint64_t *start, uint64_t *vaddr)
{
    static char name[256];
    char path[512], err[128];
    uint64_t offset;
    struct pt_elf_file *f;
    name[0] = '\0';
    if (file_offset_of(addr, path, sizeof(path), &offset) != 0 ||
        pt_elf_file_open(&f, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "cannot open the file of %p\n", addr);
        return name;
    }
    const char *s;
    size_t len;
    if (pt_elf_file_offset_to_vaddr(f, offset, vaddr) == 0 &&
        pt_elf_file_symbol(f, *vaddr, &s, &len, start) == 0 && len < sizeof(name)) {
        memcpy(name, s, len);
        name[len] = '\0';
    }
    pt_elf_file_free(f);
    return name;
}

__attribute__((noinline)) int
test_elffile_marker(int x)
{
    return x * 3 + 1;
}

static void
test_this_binary(void)
{
    uint64_t start = 0, vaddr = 1;
    const char *name = name_of_loaded((const void *)&test_elffile_marker, &start, &vaddr);
    CHECK(strcmp(name, "test_elffile_marker") == 0);
    CHECK_EQ_INT(start, vaddr);
    /* an address inside it */
    name = name_of_loaded((const char *)&test_elffile_marker + 1, &start, &vaddr);
    CHECK(strcmp(name, "test_elffile_marker") == 0);
    CHECK_EQ_INT(start + 1, vaddr);

    char err[128];
    struct pt_elf_file *f;
    CHECK_EQ_INT(pt_elf_file_open(&f, "/proc/self/exe", err, sizeof(err)), 0);
    const uint8_t *id;
    size_t size;
    CHECK_EQ_INT(pt_elf_file_build_id(f, &id, &size), 0);
    CHECK(size == 20 || size == 16 || size == 8);
    const uint8_t *data;
    CHECK_EQ_INT(pt_elf_file_section(f, ".eh_frame_hdr", &data, &size, NULL), 0);
    CHECK(size >= 4 && data[0] == 1); /* version 1 */
    pt_elf_file_free(f);
}

static void
test_libc(void)
{
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    void *malloc_at = libc ? dlsym(libc, "malloc") : NULL;
    CHECK(malloc_at != NULL);
    if (malloc_at == NULL) {
        return;
    }
    uint64_t start = 0, vaddr = 1;
    /* perf: "malloc" beats its global alias __libc_malloc by underscores */
    CHECK(strcmp(name_of_loaded(malloc_at, &start, &vaddr), "malloc") == 0);
    CHECK_EQ_INT(start, vaddr);
    dlclose(libc);
}

/* A table symbol's name. */
static const char *
dynsym_name(const uint8_t *dynsym, size_t dynsym_size, const uint8_t *dynstr,
            size_t dynstr_size, uint64_t index)
{
    Elf64_Sym s;
    if (index >= dynsym_size / sizeof(s)) {
        return "";
    }
    memcpy(&s, dynsym + index * sizeof(s), sizeof(s));
    if (s.st_name >= dynstr_size ||
        memchr(dynstr + s.st_name, 0, dynstr_size - s.st_name) == NULL) {
        return "";
    }
    return (const char *)dynstr + s.st_name;
}

/* The PLT entry of `function` in section `plt`, found by what it does: on
 * x86_64 an entry jumps through the GOT slot its relocation fills. */
static int
find_plt_entry(struct pt_elf_file *f, const char *plt, uint64_t slot, uint64_t *entry)
{
    const uint8_t *data;
    size_t size;
    uint64_t addr;
    if (pt_elf_file_section(f, plt, &data, &size, &addr) != 0) {
        return -1;
    }
    for (size_t i = 0; i + 6 <= size; i++) {
        int32_t disp;
        if (data[i] != 0xff || data[i + 1] != 0x25) {
            continue;
        }
        memcpy(&disp, data + i + 2, sizeof(disp));
        if (addr + i + 6 + (uint64_t)(int64_t)disp == slot) {
            *entry = addr + (i & ~(size_t)15); /* entries are 16 bytes */
            return 0;
        }
    }
    return -1;
}

static void
test_plt(void)
{
    puts("test_elffile: a call through puts@plt");
    char err[128];
    struct pt_elf_file *f;
    CHECK_EQ_INT(pt_elf_file_open(&f, "/proc/self/exe", err, sizeof(err)), 0);
    const uint8_t *rela, *dynsym, *dynstr;
    size_t rela_size, dynsym_size, dynstr_size;
    if (pt_elf_file_machine(f) != EM_X86_64 ||
        pt_elf_file_section(f, ".rela.plt", &rela, &rela_size, NULL) != 0 ||
        pt_elf_file_section(f, ".dynsym", &dynsym, &dynsym_size, NULL) != 0 ||
        pt_elf_file_section(f, ".dynstr", &dynstr, &dynstr_size, NULL) != 0) {
        printf("test_elffile: skip puts@plt (not x86_64 or no lazy PLT)\n");
        pt_elf_file_free(f);
        return;
    }
    /* puts, or when a sanitizer runtime linked into the binary defines it,
     * the first function the binary imports through its PLT */
    uint64_t slot = 0;
    char want[256] = "";
    for (size_t i = 0; i + sizeof(Elf64_Rela) <= rela_size; i += sizeof(Elf64_Rela)) {
        Elf64_Rela r;
        memcpy(&r, rela + i, sizeof(r));
        const char *name =
            dynsym_name(dynsym, dynsym_size, dynstr, dynstr_size, ELF64_R_SYM(r.r_info));
        if (ELF64_R_TYPE(r.r_info) == R_X86_64_JUMP_SLOT && name[0] != '\0' &&
            (slot == 0 || strcmp(name, "puts") == 0) && strlen(name) < 200) {
            slot = r.r_offset;
            snprintf(want, sizeof(want), "%s@plt", name);
        }
    }
    uint64_t entry = 0;
    CHECK(slot != 0);
    CHECK(find_plt_entry(f, ".plt.sec", slot, &entry) == 0 ||
          find_plt_entry(f, ".plt", slot, &entry) == 0);
    uint64_t start = 0;
    CHECK(strcmp(name_at(f, entry + 4, &start), want) == 0);
    CHECK_EQ_INT(start, entry);
    printf("test_elffile: %s at %#" PRIx64 "\n", want, entry);
    /* a lazy .plt's header, which perf >= 6.3 names ".plt" */
    const uint8_t *plt;
    size_t plt_size, sec_size;
    uint64_t plt_addr = 0;
    size_t relocs = rela_size / sizeof(Elf64_Rela);
    bool header = pt_elf_file_section(f, ".plt", &plt, &plt_size, &plt_addr) == 0 &&
                  pt_elf_file_section(f, ".plt.sec", &plt, &sec_size, NULL) != 0 &&
                  plt_size == 16 * (relocs + 1);
    if (header) {
        CHECK(strcmp(name_at(f, plt_addr + 1, &start), ".plt") == 0);
    }
    pt_elf_file_free(f);

    /* as perf 6.1 names them: the same for a JUMP_SLOT in relocation
     * order, and nothing for the header */
    CHECK_EQ_INT(pt_elf_file_open(&f, "/proc/self/exe", err, sizeof(err)), 0);
    pt_elf_file_set_legacy_plt(f, 1);
    CHECK(strcmp(name_at(f, entry + 4, &start), want) == 0);
    if (header) {
        CHECK(strcmp(name_at(f, plt_addr + 1, &start), "") == 0);
    }
    pt_elf_file_free(f);
}

int
main(void)
{
    test_symbols();
    test_malformed();
    test_this_binary();
    test_libc();
    test_plt();
    return TEST_REPORT("test_elffile");
}
