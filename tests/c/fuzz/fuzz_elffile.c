/* ELF files: any bytes must open with an error or answer every query
 * without a fault; a symbol's name lies in readable memory, has no NUL and
 * starts at or before the address it covers. */
#include "elffile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint8_t sink;

static void
touch(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sink ^= p[i];
    }
}

static void
check_symbol(struct pt_elf_file *f, uint64_t vaddr)
{
    const char *name;
    size_t len;
    uint64_t start;
    if (pt_elf_file_symbol(f, vaddr, &name, &len, &start) != 0) {
        return;
    }
    if (start > vaddr || memchr(name, '\0', len) != NULL) {
        abort();
    }
    touch((const uint8_t *)name, len);
}

/* An address to ask about: one of the file's own 8-byte words, so that
 * the fuzzer can steer it. */
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
    static const char *const sections[] = {".eh_frame_hdr",  ".eh_frame", ".debug_frame",
                                           ".gnu_debuglink", ".text",     ".plt",
                                           ".symtab",        ""};
    struct pt_elf_file *f;
    char err[64];
    if (pt_elf_file_from_memory(&f, data, size, err, sizeof(err)) != 0) {
        if (memchr(err, '\0', sizeof(err)) == NULL) {
            abort();
        }
        return 0;
    }
    /* the last byte also picks the PLT names of perf before 6.3 */
    pt_elf_file_set_legacy_plt(f, size > 0 && (data[size - 1] & 1));
    (void)pt_elf_file_machine(f);
    for (size_t i = 0; i < 8; i++) {
        uint64_t vaddr, off = i < 4 ? i * 0x1000 : word_at(data, size, i * 8);
        if (pt_elf_file_offset_to_vaddr(f, off, &vaddr) == 0) {
            check_symbol(f, vaddr);
        }
        check_symbol(f, word_at(data, size, 64 + i * 8));
        check_symbol(f, off);
    }
    check_symbol(f, UINT64_MAX);
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        const uint8_t *bytes;
        size_t n;
        uint64_t vaddr;
        if (pt_elf_file_section(f, sections[i], &bytes, &n, &vaddr) == 0) {
            if (bytes < data || n > size || (size_t)(bytes - data) > size - n) {
                abort();
            }
            touch(bytes, n);
        }
    }
    const uint8_t *id;
    size_t n;
    if (pt_elf_file_build_id(f, &id, &n) == 0) {
        if (id < data || n > size || (size_t)(id - data) > size - n) {
            abort();
        }
        touch(id, n);
    }
    pt_elf_file_free(f);
    return 0;
}
