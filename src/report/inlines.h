/*
 * The functions inlined at an address, from a file's DWARF, as
 * `addr2line -i -f` names them (and so as perf script prints a frame's
 * "(inlined)" lines): innermost first, the outermost being the
 * DW_TAG_subprogram holding the address.  A function is named as binutils
 * names it: by its DIE's DW_AT_linkage_name, else its DW_AT_name, else
 * the first of those found along its DW_AT_abstract_origin /
 * DW_AT_specification chain.  So C functions get their source names
 * ("pymain_run_python" where the ELF symbol says
 * "pymain_run_python.constprop.0"), except glibc's with an asm name
 * ("__GI___getdents64"); C++ names stay mangled.  Where no DWARF function
 * covers an address the answer is empty (addr2line falls back to the
 * symbol table there: the caller's symbol).
 *
 * Reads DWARF 4 and 5 compile units of .debug_info (type units, split and
 * supplementary files are not read) with .debug_abbrev, .debug_str,
 * .debug_line_str, .debug_str_offsets, .debug_addr, .debug_ranges and
 * .debug_rnglists; SHF_COMPRESSED (zlib) sections are inflated into owned
 * buffers.  The file is untrusted: every offset is bounds-checked, DIE
 * nesting and name chains are bounded, and a malformed unit answers an
 * error, never a fault.
 */
#ifndef PERFTRAMP_REPORT_INLINES_H
#define PERFTRAMP_REPORT_INLINES_H

#include <stddef.h>
#include <stdint.h>

#include "elffile.h"

/* One ELF file's DWARF: unit headers read at creation, a unit's table of
 * (address range -> function DIE) built on the first lookup inside it,
 * every answer cached per address. */
struct pt_inlines;

/* debug is the file holding .debug_info (the object itself or its separate
 * debug file); it must outlive *out.  0, -ENOENT (no .debug_info), -ENOMEM,
 * -EINVAL (malformed: give up on this file). */
int pt_inlines_new(struct pt_inlines **out, struct pt_elf_file *debug);
void pt_inlines_free(struct pt_inlines *in);

/* The function names at vaddr (an address of the file, as its symbols
 * have), innermost first: up to max of them in names[]/lens[] (NOT
 * NUL-terminated, pointing into the file's string sections, valid while
 * `in` lives).  Returns the count, 0 when no DWARF function covers vaddr,
 * or a negative errno (-EINVAL: the unit covering vaddr is malformed). */
int pt_inlines_at(struct pt_inlines *in, uint64_t vaddr, const char **names, size_t *lens,
                  int max);

#endif
