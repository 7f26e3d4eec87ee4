/*
 * A jitdump reader for the tests: walks a dump file and checks what perf
 * inject relies on, independently of the writer's code.
 */
#ifndef PERFTRAMP_TEST_JITDUMP_READER_H
#define PERFTRAMP_TEST_JITDUMP_READER_H

#include "cfi.h"
#include "jitdump.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jd_entry {
    uint64_t code_addr, code_size, code_index, timestamp;
    uint32_t pid;
    char name[512];
    uint8_t code[64];
    int has_unwind;
    uint64_t unwind_mapped;
    /* where the FDE (as perf inject will place it after the code) says the
     * code starts, and the FDE's range */
    uint64_t fde_pc_begin, fde_pc_range;
    /* what the eh_frame_hdr's table says */
    uint64_t hdr_initial_loc, hdr_eh_frame, hdr_fde, fde_addr;
};

struct jd_file {
    struct pt_jitdump_header header;
    struct jd_entry entries[256];
    int count;
    int malformed;    /* a record that breaks the format */
    size_t zero_tail; /* NUL bytes after the last record (as after a crash) */
};

static int
jd_read(const char *path, struct jd_file *out)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    static uint8_t buf[1 << 20];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (len < sizeof(out->header)) {
        return -1;
    }
    memcpy(&out->header, buf, sizeof(out->header));
    size_t pos = out->header.total_size;
    struct pt_jitdump_unwinding unwind = {0};
    const uint8_t *unwind_data = NULL;
    while (pos + sizeof(struct pt_jitdump_record) <= len) {
        struct pt_jitdump_record head;
        memcpy(&head, buf + pos, sizeof(head));
        if (head.total_size == 0) {
            /* perf's reader stops here: the rest must be unused (NUL) space */
            size_t z = pos;
            while (z < len && buf[z] == 0) {
                z++;
            }
            if (z != len) {
                out->malformed++;
            }
            out->zero_tail = len - pos;
            pos = len;
            break;
        }
        if (head.total_size < sizeof(head) || pos + head.total_size > len) {
            out->malformed++;
            break;
        }
        if (head.id == PT_JIT_CODE_UNWINDING_INFO) {
            memcpy(&unwind, buf + pos, sizeof(unwind));
            unwind_data = buf + pos + sizeof(unwind);
            if (head.total_size % 8 != 0 ||
                sizeof(unwind) + unwind.unwinding_size > head.total_size ||
                unwind.eh_frame_hdr_size != sizeof(struct pt_eh_frame_hdr) ||
                unwind.mapped_size < unwind.unwinding_size) {
                out->malformed++;
            }
        }
        else if (head.id == PT_JIT_CODE_LOAD && out->count < 256) {
            struct pt_jitdump_code_load load;
            memcpy(&load, buf + pos, sizeof(load));
            struct jd_entry *e = &out->entries[out->count++];
            e->code_addr = load.code_addr;
            e->code_size = load.code_size;
            e->code_index = load.code_index;
            e->timestamp = head.timestamp;
            e->pid = load.pid;
            const char *name = (const char *)buf + pos + sizeof(load);
            size_t name_len = strnlen(name, head.total_size - sizeof(load));
            if (sizeof(load) + name_len + 1 + load.code_size != head.total_size ||
                load.vma != load.code_addr || name_len >= sizeof(e->name)) {
                out->malformed++;
            }
            else {
                memcpy(e->name, name, name_len + 1);
                memcpy(e->code, name + name_len + 1,
                       load.code_size < sizeof(e->code) ? load.code_size
                                                        : sizeof(e->code));
            }
            if (unwind_data != NULL) {
                e->has_unwind = 1;
                e->unwind_mapped = unwind.mapped_size;
                /* perf inject places .eh_frame at code + align8(code_size), the
                 * header at the end of the unwinding data. */
                uint64_t eh_addr = load.code_addr + ((load.code_size + 7) & ~7ull);
                uint64_t eh_size = unwind.unwinding_size - unwind.eh_frame_hdr_size;
                uint32_t cie_len;
                memcpy(&cie_len, unwind_data, 4);
                uint64_t fde_off = 4 + cie_len;
                int32_t pc_rel;
                uint32_t range;
                memcpy(&pc_rel, unwind_data + fde_off + 8, 4);
                memcpy(&range, unwind_data + fde_off + 12, 4);
                e->fde_addr = eh_addr + fde_off;
                e->fde_pc_begin = eh_addr + fde_off + 8 + (int64_t)pc_rel;
                e->fde_pc_range = range;
                struct pt_eh_frame_hdr hdr;
                memcpy(&hdr, unwind_data + eh_size, sizeof(hdr));
                uint64_t hdr_addr = eh_addr + eh_size;
                if (hdr.version != 1 || hdr.fde_count != 1 ||
                    hdr.eh_frame_ptr_enc != (DW_EH_PE_pcrel | DW_EH_PE_sdata4) ||
                    hdr.fde_count_enc != DW_EH_PE_udata4 ||
                    hdr.table_enc != (DW_EH_PE_datarel | DW_EH_PE_sdata4)) {
                    out->malformed++;
                }
                e->hdr_eh_frame = hdr_addr + 4 + (int64_t)hdr.eh_frame_ptr;
                e->hdr_initial_loc = hdr_addr + (int64_t)hdr.initial_loc;
                e->hdr_fde = hdr_addr + (int64_t)hdr.fde;
                if (e->hdr_eh_frame != eh_addr) {
                    out->malformed++;
                }
            }
            unwind_data = NULL;
        }
        pos += head.total_size;
    }
    if (pos != len) {
        out->malformed++;
    }
    return 0;
}

#endif
