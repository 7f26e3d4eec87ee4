/*
 * The perf_elf backend's file: one ELF shared-object image per process that
 * holds the trampolines themselves.
 *
 * perf names a sampled address in a file-backed executable mapping from the
 * file's .symtab, and its DWARF unwinder (libunwind or libdw) walks through
 * it with the file's .eh_frame_hdr/.eh_frame, exactly as for any shared
 * library: no perf map, no jitdump, no `perf inject`.  So the arena's code
 * pages are mapped from this file (arena.h's code source), and every stub
 * gets a symbol and an FDE in it.
 *
 * Layout: file offsets equal virtual addresses (as in a shared object's first
 * segment), every region at a fixed offset computed from the capacity, the
 * file sparse and ftruncate'd to its full size at creation, so that no
 * header ever changes after it is written:
 *
 *   [0, 64K)   ELF header, program headers, notes (GNU build-id, perftramp
 *              owner), section headers, .shstrtab
 *   .text      capacity slots x 16 bytes; filled a chunk at a time
 *   .eh_frame_hdr  version/encodings, eh_frame pointer, fde_count (the one
 *              field that changes: published after each chunk's FDEs), then
 *              one sorted (initial_loc, fde) pair per FDE
 *   .eh_frame  one CIE, then one FDE per stub slot, a zero word after the
 *              last (the unwritten rest is zeros)
 *      -- everything above is mapped once, PROT_READ|PROT_EXEC, MAP_SHARED:
 *         one mmap event, and the unwind tables inside it, where
 *         perf's libunwind reads them through the mapping --
 *   .symtab    capacity + 1 entries: local FUNC symbols, then zero entries
 *              (NOTYPE, which perf and readelf skip)
 *   .strtab    names, "py::qualname:filename", escaped as in perf maps
 *
 * Every section's size is its capacity, except .symtab's and .strtab's:
 * theirs is the part with blocks reserved (64 KiB steps), published in the
 * section header before anything is stored past the old size, so that a
 * reader at any instant (perf maps the file, ends a record, reports) sees
 * every symbol written, and reads the tables a worker used rather than their
 * capacity (perf reads both sections whole: 150 MiB per image at capacity).
 * A process killed at any instant leaves a valid file: a symbol becomes
 * visible when its st_info byte, written last, turns from 0 to FUNC.
 */
#ifndef PERFTRAMP_CORE_ELFIMAGE_H
#define PERFTRAMP_CORE_ELFIMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Every region starts on this boundary: a page on every supported kernel
 * configuration (aarch64 may use 64 KiB pages). */
#define PT_ELF_ALIGN ((size_t)0x10000)
#define PT_ELF_MIN_STRIDE 8
#define PT_ELF_BUILD_ID_LEN 20
/* Default capacity: stubs, and bytes of names. */
#define PT_ELF_SLOTS ((size_t)1 << 20)
#define PT_ELF_STRTAB ((size_t)128 << 20)
/* A name longer than this, escaped, is cut (hostile names can be any size). */
#define PT_ELF_NAME_MAX 4096

/* Section indices (for st_shndx and the readers). */
enum {
    PT_ELF_SEC_BUILD_ID = 1,
    PT_ELF_SEC_OWNER,
    PT_ELF_SEC_TEXT,
    PT_ELF_SEC_EH_FRAME_HDR,
    PT_ELF_SEC_EH_FRAME,
    PT_ELF_SEC_SYMTAB,
    PT_ELF_SEC_STRTAB,
    PT_ELF_SEC_SHSTRTAB,
    PT_ELF_SECTIONS
};

struct pt_elf_layout {
    size_t slots; /* FDE and symbol capacity */
    size_t text_off, text_cap;
    size_t hdr_off, hdr_cap;
    size_t eh_off, eh_cap;
    size_t exec_end; /* [0, exec_end) is the executable mapping */
    size_t sym_off, sym_cap;
    size_t str_off, str_cap;
    size_t file_size;
};

/* Who made the file, in its perftramp note: an exec'd image of the same
 * process (same pid, same start time) continues the file; anything else
 * starts a new one. */
struct pt_elf_owner {
    uint64_t pid;
    uint64_t start_ticks; /* /proc/self/stat field 22 */
    uint64_t slots;
    uint64_t str_cap;
};

void pt_elf_layout_for(struct pt_elf_layout *l, size_t slots, size_t str_cap);

/* Size of the header region's content (< PT_ELF_ALIGN). */
size_t pt_elf_headers_size(void);

/* Writes the header region's content (pt_elf_headers_size() bytes). */
void pt_elf_write_headers(uint8_t *buf, const struct pt_elf_layout *l,
                          const uint8_t build_id[PT_ELF_BUILD_ID_LEN],
                          const struct pt_elf_owner *owner);

/* The bytes of a table's section header that change as it grows (sh_size,
 * and for .symtab sh_link and sh_info), for `bytes` of `section`
 * (PT_ELF_SEC_SYMTAB or PT_ELF_SEC_STRTAB), and where they go in the file. */
struct pt_elf_extent {
    size_t off;
    uint8_t bytes[16];
};
void pt_elf_table_extent(int section, size_t bytes, struct pt_elf_extent *out);

/* Reads the owner note back from a header region written by the above; 0,
 * or -EINVAL when buf is not such a region. */
int pt_elf_read_owner(const uint8_t *buf, size_t len, struct pt_elf_owner *owner);

/* Bytes before the first FDE in .eh_frame (the CIE), one FDE, and the
 * .eh_frame_hdr fixed part (fde_count at offset 8). */
size_t pt_elf_fde_size(void);
size_t pt_elf_cie_size(void);
#define PT_ELF_HDR_FIXED 12
#define PT_ELF_HDR_COUNT_AT 8

/* The CIE, and .eh_frame_hdr's fixed part (fde_count 0). */
void pt_elf_write_cie(uint8_t *buf, const struct pt_elf_layout *l);
void pt_elf_write_hdr_fixed(uint8_t *buf, const struct pt_elf_layout *l);

/* FDEs (slots x pt_elf_fde_size() bytes) and .eh_frame_hdr table entries
 * (slots x 8) for a chunk of `slots` stubs `stride` apart at file offset
 * code_off, whose first FDE is number `first`. */
void pt_elf_write_chunk_fdes(uint8_t *buf, const struct pt_elf_layout *l, size_t first,
                             size_t code_off, size_t slots, size_t stride);
void pt_elf_write_chunk_index(uint8_t *buf, const struct pt_elf_layout *l, size_t first,
                              size_t code_off, size_t slots, size_t stride);

#endif
