/*
 * Reading an ELF file for an unwinder and a symboliser: where a file offset
 * is loaded, which function covers an address, where a section is, and the
 * GNU build-id.
 *
 * Only ELF64 little-endian files (x86_64, aarch64 shared objects and
 * executables, perftramp's own images).  The file is untrusted: every
 * header, table and string is bounds-checked against the bytes, and a
 * malformed part gives an error or is left out, never a fault.
 *
 * Symbols are named as perf (tools/perf/util/symbol-elf.c, symbol.c) names
 * them, so that stacks built here fold like `perf script`'s:
 *
 *   - the table is .symtab when the file has one, else .dynsym;
 *   - it holds STT_FUNC, STT_GNU_IFUNC and STT_OBJECT symbols, and
 *     STT_NOTYPE "labels" (not hidden or internal) in a section whose name
 *     says "text" or "data"; never undefined, absolute or non-SHF_ALLOC
 *     ones, nor aarch64 mapping symbols ($x, $d...);
 *   - a zero-size symbol ends where the next one starts (the last one at
 *     the end of the page after the one it starts in);
 *   - of several symbols starting at one address one stays: one with a
 *     size, then not weak, then global, then fewer leading underscores,
 *     then the longer name, then the first in the table;
 *   - names are the string table's bytes as they are: no demangling (C++
 *     names stay mangled), no symbol version added or removed (a .symtab
 *     written by binutils >= 2.37 says "__libc_start_main@@GLIBC_2.34", a
 *     .dynsym says "__libc_start_main", as perf prints them);
 *   - PLT entries are "name@plt" from .rela.plt (x86_64: .plt, or .plt.sec
 *     when the file has one, and .plt.got through .rela.dyn; aarch64:
 *     .plt after its 32-byte header), the PLT's header is ".plt", an
 *     entry with no name "offset_0x<file offset>@plt", as perf >= 6.3
 *     (older perf: pt_elf_file_set_legacy_plt); such names are cut at
 *     1023 bytes as perf cuts them.
 *
 * A lookup answers with the last symbol starting at or before the address
 * if it covers it, else nothing: where one symbol lies inside another
 * (hand-written assembly) perf's answer depends on the shape of its tree,
 * and no rule here can match it.  For a stripped file whose .symtab is in a
 * separate debug file, perf takes the symbols from the debug file and the
 * PLT's from the runtime file (a debug file's .plt is NOBITS, so it gives
 * none here): the caller asks the runtime file for addresses in its .plt,
 * .plt.sec and .plt.got sections.
 */
#ifndef PERFTRAMP_REPORT_ELFFILE_H
#define PERFTRAMP_REPORT_ELFFILE_H

#include <stddef.h>
#include <stdint.h>

struct pt_elf_file;

/* Opens path read-only (a regular file of at most 2 GiB, mmapped) or adopts
 * data[0..len) (not copied: it must outlive the file).  0 or a negative
 * errno, with a one-line reason in err ("not an ELF file", "not ELF64
 * little-endian", "truncated program headers"...). */
int pt_elf_file_open(struct pt_elf_file **out, const char *path, char *err,
                     size_t err_size);
int pt_elf_file_from_memory(struct pt_elf_file **out, const void *data, size_t len,
                            char *err, size_t err_size);
void pt_elf_file_free(struct pt_elf_file *f);

/* PLT entries named as perf before 6.3 names them (Debian 12's perf 6.1):
 * x86 entries after a header of one entry, in .rela.plt's order (not the
 * GOT's), an unnamed (IFUNC) one "@plt"; no ".plt" header symbol, no
 * .plt.got, no .plt.sec.  For matching that perf's output; call before the
 * first pt_elf_file_symbol(). */
void pt_elf_file_set_legacy_plt(struct pt_elf_file *f, int legacy);

/* e_machine: EM_X86_64, EM_AARCH64... */
uint16_t pt_elf_file_machine(const struct pt_elf_file *f);

/* The virtual address the byte at file offset `offset` is loaded at, from
 * the first PT_LOAD segment whose file range holds it; -ENOENT if none. */
int pt_elf_file_offset_to_vaddr(const struct pt_elf_file *f, uint64_t offset,
                                uint64_t *vaddr);

/* The symbol covering vaddr, as perf names it: 0 with *name (NOT
 * NUL-terminated; *name_len bytes, valid until the file is freed) and
 * *start (its vaddr); -ENOENT when none covers it, -ENOMEM.  The table is
 * built on the first call, then each lookup is a binary search. */
int pt_elf_file_symbol(struct pt_elf_file *f, uint64_t vaddr, const char **name,
                       size_t *name_len, uint64_t *start);

/* The first section named `name`: its bytes in the file and its sh_addr.
 * -ENOENT when there is none, it is SHT_NOBITS, or its bytes are not all in
 * the file.  vaddr may be NULL. */
int pt_elf_file_section(const struct pt_elf_file *f, const char *name,
                        const uint8_t **data, size_t *size, uint64_t *vaddr);

/* The sh_flags of that same section (SHF_COMPRESSED: its bytes start with
 * an Elf64_Chdr); -ENOENT as pt_elf_file_section. */
int pt_elf_file_section_flags(const struct pt_elf_file *f, const char *name,
                              uint64_t *flags);

/* The GNU build-id (the NT_GNU_BUILD_ID note of .note.gnu.build-id,
 * .notes or .note, as perf looks, else of a PT_NOTE segment); -ENOENT if
 * none. */
int pt_elf_file_build_id(const struct pt_elf_file *f, const uint8_t **id, size_t *size);

#endif
