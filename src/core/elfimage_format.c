/*
 * The bytes of the perf_elf image's fixed parts: headers, CIE, FDEs and the
 * .eh_frame_hdr index (layout in elfimage.h).  No I/O here.
 */
#include "elfimage.h"
#include "align.h"
#include "cfi.h"

#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#define N_PHDRS 3
#define NOTE_GNU "GNU"
#define NOTE_OWNER "perftramp"
#define NT_PERFTRAMP_OWNER 0x7074

/* Section names, in .shstrtab order, indexed like the sections. */
static const char *const section_names[PT_ELF_SECTIONS] = {
    "",
    ".note.gnu.build-id",
    ".note.perftramp",
    ".text",
    ".eh_frame_hdr",
    ".eh_frame",
    ".symtab",
    ".strtab",
    ".shstrtab",
};

/* Offsets inside the header region. */
#define PHDRS_AT sizeof(Elf64_Ehdr)
#define NOTES_AT (PHDRS_AT + N_PHDRS * sizeof(Elf64_Phdr))
#define BUILD_ID_NOTE (sizeof(Elf64_Nhdr) + 4 + PT_ELF_BUILD_ID_LEN)
#define OWNER_NOTE (sizeof(Elf64_Nhdr) + 12 + sizeof(struct pt_elf_owner))
#define SHSTRTAB_AT (NOTES_AT + BUILD_ID_NOTE + OWNER_NOTE)

static size_t
shstrtab_size(void)
{
    size_t n = 0;
    for (int i = 0; i < PT_ELF_SECTIONS; i++) {
        n += strlen(section_names[i]) + 1;
    }
    return n;
}

static size_t
shdrs_at(void)
{
    return pt_round_up(SHSTRTAB_AT + shstrtab_size(), 8);
}

size_t
pt_elf_headers_size(void)
{
    return shdrs_at() + PT_ELF_SECTIONS * sizeof(Elf64_Shdr);
}

size_t
pt_elf_fde_size(void)
{
    return pt_cfi_fde_size(PT_CFI_PCREL4);
}

size_t
pt_elf_cie_size(void)
{
    return pt_cfi_cie_size();
}

void
pt_elf_layout_for(struct pt_elf_layout *l, size_t slots, size_t str_cap)
{
    l->slots = slots;
    l->text_off = PT_ELF_ALIGN;
    l->text_cap = slots * PT_ELF_MIN_STRIDE;
    l->hdr_off = l->text_off + pt_round_up(l->text_cap, PT_ELF_ALIGN);
    l->hdr_cap = PT_ELF_HDR_FIXED + 8 * slots;
    l->eh_off = l->hdr_off + pt_round_up(l->hdr_cap, PT_ELF_ALIGN);
    l->eh_cap = pt_elf_cie_size() + slots * pt_elf_fde_size() + 4;
    l->exec_end = l->eh_off + pt_round_up(l->eh_cap, PT_ELF_ALIGN);
    l->sym_off = l->exec_end;
    l->sym_cap = (slots + 1) * sizeof(Elf64_Sym);
    l->str_off = l->sym_off + pt_round_up(l->sym_cap, PT_ELF_ALIGN);
    l->str_cap = str_cap;
    l->file_size = l->str_off + pt_round_up(str_cap, PT_ELF_ALIGN);
}

static uint8_t *
put_note(uint8_t *p, const char *name, uint32_t type, const void *desc, size_t desc_len)
{
    Elf64_Nhdr n = {.n_namesz = (Elf64_Word)(strlen(name) + 1),
                    .n_descsz = (Elf64_Word)desc_len,
                    .n_type = type};
    memcpy(p, &n, sizeof(n));
    p += sizeof(n);
    memset(p, 0, pt_round_up(n.n_namesz, 4));
    memcpy(p, name, n.n_namesz);
    p += pt_round_up(n.n_namesz, 4);
    memcpy(p, desc, desc_len);
    return p + pt_round_up(desc_len, 4);
}

static Elf64_Shdr
section(Elf64_Word name, Elf64_Word type, Elf64_Xword flags, size_t off, size_t size,
        Elf64_Xword align)
{
    Elf64_Shdr s = {
        .sh_name = name,
        .sh_type = type,
        .sh_flags = flags,
        /* allocated sections sit at their file offset; the others at 0 */
        .sh_addr = (flags & SHF_ALLOC) ? off : 0,
        .sh_offset = off,
        .sh_size = size,
        .sh_addralign = align,
    };
    return s;
}

static void
write_elf_header(uint8_t *buf)
{
    Elf64_Ehdr eh = {
        .e_ident = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB,
                    EV_CURRENT, ELFOSABI_SYSV},
        .e_type = ET_DYN,
        .e_machine = (Elf64_Half)pt_stub_cfi.elf_machine,
        .e_version = EV_CURRENT,
        .e_phoff = PHDRS_AT,
        .e_shoff = shdrs_at(),
        .e_ehsize = sizeof(Elf64_Ehdr),
        .e_phentsize = sizeof(Elf64_Phdr),
        .e_phnum = N_PHDRS,
        .e_shentsize = sizeof(Elf64_Shdr),
        .e_shnum = PT_ELF_SECTIONS,
        .e_shstrndx = PT_ELF_SEC_SHSTRTAB,
    };
    memcpy(buf, &eh, sizeof(eh));
}

/* The executable range as one segment, the unwind index, and the notes. */
static void
write_program_headers(uint8_t *buf, const struct pt_elf_layout *l)
{
    Elf64_Phdr ph[N_PHDRS] = {
        {.p_type = PT_LOAD,
         .p_flags = PF_R | PF_X,
         .p_offset = 0,
         .p_vaddr = 0,
         .p_paddr = 0,
         .p_filesz = l->exec_end,
         .p_memsz = l->exec_end,
         .p_align = PT_ELF_ALIGN},
        {.p_type = PT_GNU_EH_FRAME,
         .p_flags = PF_R,
         .p_offset = l->hdr_off,
         .p_vaddr = l->hdr_off,
         .p_paddr = l->hdr_off,
         .p_filesz = l->hdr_cap,
         .p_memsz = l->hdr_cap,
         .p_align = 4},
        {.p_type = PT_NOTE,
         .p_flags = PF_R,
         .p_offset = NOTES_AT,
         .p_vaddr = NOTES_AT,
         .p_paddr = NOTES_AT,
         .p_filesz = BUILD_ID_NOTE + OWNER_NOTE,
         .p_memsz = BUILD_ID_NOTE + OWNER_NOTE,
         .p_align = 4},
    };
    memcpy(buf + PHDRS_AT, ph, sizeof(ph));
}

/* Writes .shstrtab and sets names[i] to section i's name's offset in it. */
static void
write_section_names(uint8_t *buf, Elf64_Word names[PT_ELF_SECTIONS])
{
    char *strs = (char *)buf + SHSTRTAB_AT;
    size_t at = 0;
    for (int i = 0; i < PT_ELF_SECTIONS; i++) {
        names[i] = (Elf64_Word)at;
        size_t n = strlen(section_names[i]) + 1;
        memcpy(strs + at, section_names[i], n);
        at += n;
    }
}

static void
write_section_headers(uint8_t *buf, const struct pt_elf_layout *l)
{
    Elf64_Word names[PT_ELF_SECTIONS];
    write_section_names(buf, names);
    Elf64_Shdr sh[PT_ELF_SECTIONS] = {{0}};
    sh[PT_ELF_SEC_BUILD_ID] = section(names[PT_ELF_SEC_BUILD_ID], SHT_NOTE, SHF_ALLOC,
                                      NOTES_AT, BUILD_ID_NOTE, 4);
    sh[PT_ELF_SEC_OWNER] = section(names[PT_ELF_SEC_OWNER], SHT_NOTE, SHF_ALLOC,
                                   NOTES_AT + BUILD_ID_NOTE, OWNER_NOTE, 4);
    sh[PT_ELF_SEC_TEXT] =
        section(names[PT_ELF_SEC_TEXT], SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR,
                l->text_off, l->text_cap, 16);
    sh[PT_ELF_SEC_EH_FRAME_HDR] = section(names[PT_ELF_SEC_EH_FRAME_HDR], SHT_PROGBITS,
                                          SHF_ALLOC, l->hdr_off, l->hdr_cap, 4);
    sh[PT_ELF_SEC_EH_FRAME] = section(names[PT_ELF_SEC_EH_FRAME], SHT_PROGBITS, SHF_ALLOC,
                                      l->eh_off, l->eh_cap, 8);
    sh[PT_ELF_SEC_SYMTAB] =
        section(names[PT_ELF_SEC_SYMTAB], SHT_SYMTAB, 0, l->sym_off, l->sym_cap, 8);
    sh[PT_ELF_SEC_SYMTAB].sh_link = PT_ELF_SEC_STRTAB;
    /* every symbol is local: the first global would come after them all */
    sh[PT_ELF_SEC_SYMTAB].sh_info = (Elf64_Word)(l->slots + 1);
    sh[PT_ELF_SEC_SYMTAB].sh_entsize = sizeof(Elf64_Sym);
    sh[PT_ELF_SEC_STRTAB] =
        section(names[PT_ELF_SEC_STRTAB], SHT_STRTAB, 0, l->str_off, l->str_cap, 1);
    sh[PT_ELF_SEC_SHSTRTAB] = section(names[PT_ELF_SEC_SHSTRTAB], SHT_STRTAB, 0,
                                      SHSTRTAB_AT, shstrtab_size(), 1);
    memcpy(buf + shdrs_at(), sh, sizeof(sh));
}

void
pt_elf_write_headers(uint8_t *buf, const struct pt_elf_layout *l,
                     const uint8_t build_id[PT_ELF_BUILD_ID_LEN],
                     const struct pt_elf_owner *owner)
{
    memset(buf, 0, pt_elf_headers_size());
    write_elf_header(buf);
    write_program_headers(buf, l);
    uint8_t *p = put_note(buf + NOTES_AT, NOTE_GNU, NT_GNU_BUILD_ID, build_id,
                          PT_ELF_BUILD_ID_LEN);
    put_note(p, NOTE_OWNER, NT_PERFTRAMP_OWNER, owner, sizeof(*owner));
    write_section_headers(buf, l);
}

void
pt_elf_table_extent(int section, size_t bytes, struct pt_elf_extent *out)
{
    Elf64_Shdr sh = {0};
    sh.sh_size = bytes;
    if (section == PT_ELF_SEC_SYMTAB) {
        /* whole entries: libelf refuses a symbol table that ends in one */
        sh.sh_size = bytes / sizeof(Elf64_Sym) * sizeof(Elf64_Sym);
        sh.sh_link = PT_ELF_SEC_STRTAB;
        /* every symbol is local: the first global would come after them all */
        sh.sh_info = (Elf64_Word)(bytes / sizeof(Elf64_Sym));
    }
    out->off =
        shdrs_at() + (size_t)section * sizeof(Elf64_Shdr) + offsetof(Elf64_Shdr, sh_size);
    memcpy(out->bytes, (const uint8_t *)&sh + offsetof(Elf64_Shdr, sh_size),
           sizeof(out->bytes));
}

int
pt_elf_read_owner(const uint8_t *buf, size_t len, struct pt_elf_owner *owner)
{
    if (len < pt_elf_headers_size() || memcmp(buf, ELFMAG, SELFMAG) != 0) {
        return -EINVAL;
    }
    const uint8_t *p = buf + NOTES_AT + BUILD_ID_NOTE;
    Elf64_Nhdr n;
    memcpy(&n, p, sizeof(n));
    if (n.n_type != NT_PERFTRAMP_OWNER || n.n_namesz != sizeof(NOTE_OWNER) ||
        n.n_descsz != sizeof(*owner) ||
        memcmp(p + sizeof(n), NOTE_OWNER, sizeof(NOTE_OWNER)) != 0) {
        return -EINVAL;
    }
    memcpy(owner, p + sizeof(n) + 12, sizeof(*owner));
    return 0;
}

void
pt_elf_write_cie(uint8_t *buf, const struct pt_elf_layout *l)
{
    (void)l;
    pt_cfi_write_cie(buf, PT_CFI_PCREL4);
}

void
pt_elf_write_hdr_fixed(uint8_t *buf, const struct pt_elf_layout *l)
{
    buf[0] = 1; /* version */
    buf[1] = DW_EH_PE_pcrel | DW_EH_PE_sdata4;
    buf[2] = DW_EH_PE_udata4;
    buf[3] = DW_EH_PE_datarel | DW_EH_PE_sdata4;
    int32_t eh_ptr = (int32_t)((intptr_t)l->eh_off - (intptr_t)(l->hdr_off + 4));
    uint32_t count = 0;
    memcpy(buf + 4, &eh_ptr, 4);
    memcpy(buf + PT_ELF_HDR_COUNT_AT, &count, 4);
}

static size_t
fde_off(const struct pt_elf_layout *l, size_t index)
{
    return l->eh_off + pt_elf_cie_size() + index * pt_elf_fde_size();
}

void
pt_elf_write_chunk_fdes(uint8_t *buf, const struct pt_elf_layout *l, size_t first,
                        size_t code_off, size_t slots, size_t stride)
{
    size_t fde = pt_elf_fde_size();
    for (size_t i = 0; i < slots; i++) {
        pt_cfi_write_fde(buf + i * fde, PT_CFI_PCREL4, fde_off(l, first + i), l->eh_off,
                         code_off + i * stride, stride);
    }
}

void
pt_elf_write_chunk_index(uint8_t *buf, const struct pt_elf_layout *l, size_t first,
                         size_t code_off, size_t slots, size_t stride)
{
    /* datarel: relative to the start of .eh_frame_hdr */
    for (size_t i = 0; i < slots; i++) {
        int32_t pair[2] = {
            (int32_t)(code_off + i * stride - l->hdr_off),
            (int32_t)(fde_off(l, first + i) - l->hdr_off),
        };
        memcpy(buf + i * 8, pair, 8);
    }
}
