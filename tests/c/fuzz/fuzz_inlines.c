/* Inline chains from DWARF: any bytes must give an error or answers
 * without a fault, and every name lies in readable memory without a NUL.
 *
 * An input starting with the ELF magic is the file itself (a seed can be
 * a real object with DWARF); any other is cut into the DWARF sections of
 * an ELF made here: a 16-bit word then the bytes, for .debug_info,
 * .debug_abbrev, .debug_str, .debug_str_offsets, .debug_addr,
 * .debug_ranges, .debug_rnglists, .debug_line_str in turn (the word's
 * low 15 bits the length, its top bit SHF_COMPRESSED), so that the fuzzer
 * spends its time on DWARF rather than on ELF headers. */
#include "inlines.h"

#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint8_t sink;

static const char *const dwarf_sections[] = {
    ".debug_info", ".debug_abbrev", ".debug_str",      ".debug_str_offsets",
    ".debug_addr", ".debug_ranges", ".debug_rnglists", ".debug_line_str",
};
enum { NDWARF = sizeof(dwarf_sections) / sizeof(dwarf_sections[0]) };

/* An ELF of the DWARF sections cut from data; its size in *len. */
static uint8_t *
make_elf(const uint8_t *data, size_t size, size_t *len)
{
    enum { NSECT = NDWARF + 2 }; /* the null section, the names */
    size_t names_len = 1;
    for (size_t i = 0; i < NDWARF; i++) {
        names_len += strlen(dwarf_sections[i]) + 1;
    }
    size_t cap = sizeof(Elf64_Ehdr) + size + names_len + NSECT * sizeof(Elf64_Shdr) + 8;
    uint8_t *elf = calloc(1, cap);
    if (elf == NULL) {
        return NULL;
    }
    Elf64_Shdr sh[NSECT];
    memset(sh, 0, sizeof(sh));
    size_t at = sizeof(Elf64_Ehdr), in = 0, name_at = 1;
    char names[256] = "";
    for (size_t i = 0; i < NDWARF; i++) {
        size_t n = 0;
        uint64_t flags = 0;
        if (size - in >= 2) {
            n = (size_t)data[in] | (size_t)(data[in + 1] & 0x7f) << 8;
            flags = data[in + 1] & 0x80 ? SHF_COMPRESSED : 0;
            in += 2;
        }
        n = n < size - in ? n : size - in;
        Elf64_Shdr *s = &sh[i + 1];
        s->sh_name = (uint32_t)name_at;
        s->sh_type = SHT_PROGBITS;
        s->sh_flags = flags;
        s->sh_offset = at;
        s->sh_size = n;
        memcpy(elf + at, data + in, n);
        at += n;
        in += n;
        memcpy(names + name_at, dwarf_sections[i], strlen(dwarf_sections[i]) + 1);
        name_at += strlen(dwarf_sections[i]) + 1;
    }
    Elf64_Shdr *s = &sh[NSECT - 1];
    s->sh_type = SHT_STRTAB;
    s->sh_offset = at;
    s->sh_size = names_len;
    memcpy(elf + at, names, names_len);
    at = (at + names_len + 7) & ~(size_t)7;
    memcpy(elf + at, sh, sizeof(sh));
    Elf64_Ehdr eh = {
        .e_type = ET_DYN,
        .e_machine = EM_X86_64,
        .e_version = EV_CURRENT,
        .e_shoff = at,
        .e_ehsize = sizeof(Elf64_Ehdr),
        .e_shentsize = sizeof(Elf64_Shdr),
        .e_shnum = NSECT,
        .e_shstrndx = NSECT - 1,
    };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    memcpy(elf, &eh, sizeof(eh));
    *len = at + sizeof(sh);
    return elf;
}

static void
check_at(struct pt_inlines *in, uint64_t vaddr)
{
    const char *names[8];
    size_t lens[8];
    int n = pt_inlines_at(in, vaddr, names, lens, 8);
    if (n > 8) {
        abort();
    }
    for (int i = 0; i < n; i++) {
        if (memchr(names[i], '\0', lens[i]) != NULL) {
            abort();
        }
        for (size_t k = 0; k < lens[i]; k++) {
            sink ^= (uint8_t)names[i][k];
        }
    }
}

/* An address to ask about: one of the input's own 8-byte words. */
static uint64_t
word_at(const uint8_t *data, size_t size, size_t at)
{
    uint64_t v = 0;
    if (size >= sizeof(v)) {
        memcpy(&v, data + at % (size - sizeof(v) + 1), sizeof(v));
    }
    return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *made = NULL;
    const uint8_t *elf = data;
    size_t elf_len = size;
    if (size < SELFMAG || memcmp(data, ELFMAG, SELFMAG) != 0) {
        made = make_elf(data, size, &elf_len);
        if (made == NULL) {
            return 0;
        }
        elf = made;
    }
    struct pt_elf_file *f;
    struct pt_inlines *in;
    char err[64];
    if (pt_elf_file_from_memory(&f, elf, elf_len, err, sizeof(err)) == 0) {
        if (pt_inlines_new(&in, f) == 0) {
            for (size_t i = 0; i < 16; i++) {
                check_at(in, word_at(data, size, i * 8));
                check_at(in, i * 0x10);
            }
            check_at(in, word_at(data, size, 0)); /* again, from the cache */
            pt_inlines_free(in);
        }
        pt_elf_file_free(f);
    }
    free(made);
    return 0;
}
