/*
 * The jitdump format (Linux tools/perf/Documentation/jitdump-specification.txt)
 * as data, and what the jitdump writer needs from the arena.
 *
 * A jitdump is /tmp/jit-PID.dump: a file header, then records.  perf record
 * notices the file because the process maps it executable; perf inject --jit
 * reads it and, for every code-load record, writes a small ELF file
 * (jitted-PID-N.so) holding the code and, from the unwinding-info record
 * before it, an .eh_frame_hdr and .eh_frame, then adds an mmap of that ELF at
 * the code's address to perf.data.  The ELF's mapping covers the code and
 * then `mapped_size` bytes of unwinding data, so two stubs closer together
 * than that would have overlapping mappings and perf would pick the wrong
 * one: pt_jitdump_slot_size() is the stub spacing that avoids it.
 */
#ifndef PERFTRAMP_CORE_JITDUMP_H
#define PERFTRAMP_CORE_JITDUMP_H

#include <stddef.h>
#include <stdint.h>

#define PT_JITDUMP_MAGIC 0x4A695444u /* "JiTD" read as a little-endian u32 */
#define PT_JITDUMP_VERSION 1

enum pt_jitdump_record_id {
    PT_JIT_CODE_LOAD = 0,
    PT_JIT_CODE_MOVE = 1,
    PT_JIT_CODE_DEBUG_INFO = 2,
    PT_JIT_CODE_CLOSE = 3,
    PT_JIT_CODE_UNWINDING_INFO = 4,
};

struct pt_jitdump_header {
    uint32_t magic;
    uint32_t version;
    uint32_t total_size; /* of this header */
    uint32_t elf_mach;
    uint32_t pad1;
    uint32_t pid;
    uint64_t timestamp;
    uint64_t flags;
};
_Static_assert(sizeof(struct pt_jitdump_header) == 40, "jitdump file header");

struct pt_jitdump_record {
    uint32_t id;
    uint32_t total_size; /* of the record, payload included */
    uint64_t timestamp;  /* CLOCK_MONOTONIC, ns: what perf record -k 1 uses */
};
_Static_assert(sizeof(struct pt_jitdump_record) == 16, "jitdump record header");

/* Followed by the NUL-terminated name and code_size bytes of code. */
struct pt_jitdump_code_load {
    struct pt_jitdump_record head;
    uint32_t pid;
    uint32_t tid;
    uint64_t vma;
    uint64_t code_addr;
    uint64_t code_size;
    uint64_t code_index;
};
_Static_assert(sizeof(struct pt_jitdump_code_load) == 56, "jitdump code load record");

/* Followed by unwinding_size bytes: .eh_frame, then .eh_frame_hdr (the last
 * eh_frame_hdr_size bytes); padded to 8.  Applies to the next code load. */
struct pt_jitdump_unwinding {
    struct pt_jitdump_record head;
    uint64_t unwinding_size;
    uint64_t eh_frame_hdr_size;
    uint64_t mapped_size;
};
_Static_assert(sizeof(struct pt_jitdump_unwinding) == 40, "jitdump unwinding record");

/* .eh_frame_hdr with a one-entry binary search table. */
struct __attribute__((packed)) pt_eh_frame_hdr {
    uint8_t version;
    uint8_t eh_frame_ptr_enc;
    uint8_t fde_count_enc;
    uint8_t table_enc;
    int32_t eh_frame_ptr; /* pc-relative */
    uint32_t fde_count;
    int32_t initial_loc; /* relative to the start of this header */
    int32_t fde;         /* likewise */
};
_Static_assert(sizeof(struct pt_eh_frame_hdr) == 20, "eh_frame_hdr");

/* Bytes described as code for each stub: the stub and an 8-byte salt that
 * makes every record's code unique (see jitdump.c). */
size_t pt_jitdump_code_size(void);

/* Bytes of .eh_frame + .eh_frame_hdr per stub, and the mapped size perf
 * reserves for them. */
size_t pt_jitdump_unwinding_size(void);
size_t pt_jitdump_mapped_size(void);

/* The arena slot size that keeps the ELF mappings perf inject makes from
 * neighbouring stubs apart. */
size_t pt_jitdump_slot_size(void);

#endif
