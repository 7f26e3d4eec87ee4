/*
 * The jitdump writer: /tmp/jit-PID.dump (format and layout in jitdump.h).
 *
 * For each stub it writes an unwinding-info record and then a code-load
 * record, straight into the file's shared-mapping window (outfile.h): no
 * system call per stub, nothing waiting in a user-space buffer, so a process
 * that crashes or is killed leaves a dump describing every stub it made; the
 * unused rest of the window reads to perf inject as a record of size 0, the
 * end of the dump.
 *
 * Code bytes: every stub is the same machine code, and perf >= 6.18 names the
 * ELF it makes from a code-load record by a build-id computed from the code
 * bytes, so identical records would collapse into one ELF and every Python
 * frame would get the first one's name.  The dumped copy therefore ends in an
 * 8-byte salt unique to this process and stub.  The salt covers padding after
 * the stub's last instruction, which never runs; the live code is untouched.
 *
 * Fork: see outfile.h.  The child's own dump starts with the record pairs of
 * every stub it inherited, with the child's pid and the current time.
 */
#include "align.h"
#include "cfi.h"
#include "escape.h"
#include "jitdump.h"
#include "outfile.h"
#include "stub.h"
#include "writer.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SALT_BYTES 8

size_t
pt_jitdump_code_size(void)
{
    return pt_round_up(pt_stub_code_size(), 8) + SALT_BYTES;
}

static size_t
eh_frame_size(void)
{
    return pt_cfi_cie_size() + pt_cfi_fde_size(PT_CFI_PCREL4);
}

size_t
pt_jitdump_unwinding_size(void)
{
    return eh_frame_size() + sizeof(struct pt_eh_frame_hdr);
}

size_t
pt_jitdump_mapped_size(void)
{
    return pt_round_up(pt_jitdump_unwinding_size(), 16);
}

size_t
pt_jitdump_slot_size(void)
{
    /* perf maps [code, code + align8(code_size) + mapped_size) per stub. */
    return pt_round_up(pt_round_up(pt_jitdump_code_size(), 8) + pt_jitdump_mapped_size(),
                       16);
}

struct jitdump {
    struct pt_outfile file;
    void *marker; /* the executable mapping that tells perf about the file */
    size_t marker_len;
    uint64_t next_index;
    uint64_t salt;
};
/* pt_procfile_path() reads the state as its first member. */
_Static_assert(offsetof(struct jitdump, file) == 0, "outfile first");

static uint64_t
now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
header_is_ours(int fd, pid_t pid)
{
    struct pt_jitdump_header h;
    ssize_t n = pread(fd, &h, sizeof(h), 0);
    /* CPython 3.13.0's own backend leaves elf_mach 0. */
    return n == (ssize_t)sizeof(h) && h.magic == PT_JITDUMP_MAGIC &&
           (h.elf_mach == pt_stub_cfi.elf_machine || h.elf_mach == 0) &&
           h.pid == (uint32_t)pid;
}

/* The end of the last whole record: what follows (the zeros of an unclosed
 * window, a record cut short) goes before anything is appended, since perf
 * inject stops at a record of size 0. */
static size_t
dump_data_end(const char *data, size_t len)
{
    size_t pos = sizeof(struct pt_jitdump_header);
    if (len < pos) {
        return 0;
    }
    while (len - pos >= sizeof(struct pt_jitdump_record)) {
        struct pt_jitdump_record head;
        memcpy(&head, data + pos, sizeof(head));
        if (head.total_size < sizeof(head) || head.total_size > len - pos) {
            break;
        }
        pos += head.total_size;
    }
    return pos;
}

/* Readies the freshly opened file: a dump this process already started
 * (CPython 3.13's own backend writes the same file) is continued, one left
 * by an earlier process with the same pid restarted; then maps it, which is
 * how perf record notices it. */
static int
start_dump(struct jitdump *dump, pid_t pid)
{
    int fd = dump->file.proc.fd;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return -errno;
    }
    if (st.st_size > 0 && !header_is_ours(fd, pid)) {
        if (ftruncate(fd, 0) != 0) {
            return -errno;
        }
        st.st_size = 0;
    }
    if (st.st_size > 0) {
        int rc = pt_outfile_drop_tail(&dump->file, dump_data_end);
        if (rc != 0) {
            return rc;
        }
    }
    if (st.st_size == 0) {
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        struct pt_jitdump_header h = {
            .magic = PT_JITDUMP_MAGIC,
            .version = PT_JITDUMP_VERSION,
            .total_size = sizeof(h),
            .elf_mach = pt_stub_cfi.elf_machine,
            .pid = (uint32_t)pid,
            .timestamp =
                (uint64_t)wall.tv_sec * 1000000u + (uint64_t)wall.tv_nsec / 1000u,
        };
        char *at;
        int rc = pt_outfile_reserve(&dump->file, sizeof(h), &at);
        if (rc != 0) {
            return rc;
        }
        memcpy(at, &h, sizeof(h));
        pt_outfile_commit(&dump->file, sizeof(h));
    }
    long page = sysconf(_SC_PAGESIZE);
    void *marker = mmap(NULL, (size_t)page, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    if (marker == MAP_FAILED) {
        return -errno;
    }
    dump->marker = marker;
    dump->marker_len = (size_t)page;
    dump->salt = ((uint64_t)pid << 32) ^ now_ns();
    return 0;
}

static int
jitdump_open(void **state, const char *dir, const char *pattern, pid_t pid,
             pt_keep_fn keep, void *keep_ctx)
{
    struct jitdump *dump = calloc(1, sizeof(*dump));
    if (dump == NULL) {
        return -ENOMEM;
    }
    int rc = pt_outfile_open(&dump->file, dir, pattern, pid, keep, keep_ctx);
    if (rc == 0) {
        rc = start_dump(dump, pid);
        if (rc != 0) {
            pt_outfile_close(&dump->file);
        }
    }
    if (rc != 0) {
        free(dump);
        return rc;
    }
    *state = dump;
    return 0;
}

/* Writes the unwinding record for a stub at code_addr into buf; returns its
 * size.  The .eh_frame is laid out where perf inject will put it: right
 * after the code, at code_addr + align8(code size). */
static size_t
build_unwinding(uint8_t *buf, uintptr_t code_addr, uint64_t timestamp)
{
    size_t code_size = pt_jitdump_code_size();
    size_t eh = eh_frame_size();
    size_t cie = pt_cfi_cie_size();
    size_t payload = pt_jitdump_unwinding_size();
    size_t total = pt_round_up(sizeof(struct pt_jitdump_unwinding) + payload, 8);
    struct pt_jitdump_unwinding rec = {
        .head = {.id = PT_JIT_CODE_UNWINDING_INFO,
                 .total_size = (uint32_t)total,
                 .timestamp = timestamp},
        .unwinding_size = payload,
        .eh_frame_hdr_size = sizeof(struct pt_eh_frame_hdr),
        .mapped_size = pt_jitdump_mapped_size(),
    };
    memset(buf, 0, total);
    memcpy(buf, &rec, sizeof(rec));
    uint8_t *eh_frame = buf + sizeof(rec);
    uintptr_t eh_addr = code_addr + pt_round_up(code_size, 8);
    pt_cfi_write_cie(eh_frame, PT_CFI_PCREL4);
    pt_cfi_write_fde(eh_frame + cie, PT_CFI_PCREL4, eh_addr + cie, eh_addr, code_addr,
                     code_size);
    struct pt_eh_frame_hdr hdr = {
        .version = 1,
        .eh_frame_ptr_enc = DW_EH_PE_pcrel | DW_EH_PE_sdata4,
        .fde_count_enc = DW_EH_PE_udata4,
        .table_enc = DW_EH_PE_datarel | DW_EH_PE_sdata4,
        .eh_frame_ptr = -(int32_t)(eh + 4),
        .fde_count = 1,
        .initial_loc = -(int32_t)(pt_round_up(code_size, 8) + eh),
        .fde = -(int32_t)(eh - cie),
    };
    memcpy(eh_frame + eh, &hdr, sizeof(hdr));
    return total;
}

/* The calling thread's id: a system call the first time in each thread (and
 * in each forked child), a load after. */
static pid_t
thread_id(void)
{
    static __thread pid_t tid;
    static __thread unsigned generation;
    if (tid == 0 || generation != pt_fork_generation()) {
        tid = (pid_t)syscall(SYS_gettid);
        generation = pt_fork_generation();
    }
    return tid;
}

/* The process id, likewise cached (getpid() is a system call). */
static pid_t
process_id(void)
{
    static pid_t pid;
    static unsigned generation;
    if (pid == 0 || generation != pt_fork_generation()) {
        pid = getpid();
        generation = pt_fork_generation();
    }
    return pid;
}

/* Writes the code-load record into buf, the name escaped in place (its
 * escaped length is name_len); returns its size. */
static size_t
build_code_load(uint8_t *buf, const struct jitdump *dump, pid_t pid, uintptr_t code_addr,
                uint64_t index, const struct pt_name *name, size_t name_len,
                uint64_t timestamp)
{
    size_t code_size = pt_jitdump_code_size();
    size_t total = sizeof(struct pt_jitdump_code_load) + name_len + 1 + code_size;
    struct pt_jitdump_code_load rec = {
        .head = {.id = PT_JIT_CODE_LOAD,
                 .total_size = (uint32_t)total,
                 .timestamp = timestamp},
        .pid = (uint32_t)pid,
        .tid = (uint32_t)thread_id(),
        .vma = code_addr,
        .code_addr = code_addr,
        .code_size = code_size,
        .code_index = index,
    };
    uint8_t *p = buf;
    memcpy(p, &rec, sizeof(rec));
    p += sizeof(rec);
    for (int i = 0; i < name->count; i++) {
        p += pt_escape_name(name->part[i], name->len[i], (char *)p, name_len);
    }
    *p++ = '\0';
    memset(p, 0, code_size);
    memcpy(p, (const void *)code_addr, pt_stub_code_size());
    /* An odd multiplier keeps distinct indices distinct. */
    uint64_t salt = dump->salt + index * 0x9E3779B97F4A7C15ull;
    memcpy(p + code_size - SALT_BYTES, &salt, SALT_BYTES);
    return total;
}

static int move_to_child(void *writer);

static int
jitdump_add(void *state, uintptr_t addr, size_t size, const struct pt_name *name)
{
    (void)size; /* a jitdump describes pt_jitdump_code_size() bytes */
    struct jitdump *dump = state;
    size_t name_len = 0;
    for (int i = 0; i < name->count; i++) {
        name_len += pt_escape_name(name->part[i], name->len[i], NULL, 0);
    }
    size_t need =
        pt_round_up(sizeof(struct pt_jitdump_unwinding) + pt_jitdump_unwinding_size(),
                    8) +
        sizeof(struct pt_jitdump_code_load) + name_len + 1 + pt_jitdump_code_size();
    int rc = pt_procfile_lock(&dump->file.proc, move_to_child, dump);
    if (rc != 0) {
        return rc;
    }
    char *at;
    rc = pt_outfile_reserve(&dump->file, need, &at);
    if (rc == 0) {
        uint8_t *buf = (uint8_t *)at;
        uint64_t ts = now_ns();
        size_t len = build_unwinding(buf, addr, ts);
        len += build_code_load(buf + len, dump, process_id(), addr, dump->next_index++,
                               name, name_len, ts);
        pt_outfile_commit(&dump->file, len);
    }
    pt_procfile_unlock(&dump->file.proc);
    return rc;
}

/* Copies into the child's dump the record pairs of inherited stubs.  buf holds
 * the parent's records (header skipped). */
static int
copy_inherited(struct jitdump *dump, const uint8_t *buf, size_t len)
{
    pt_keep_fn keep = dump->file.proc.keep;
    void *ctx = dump->file.proc.keep_ctx;
    char *window;
    int rc = pt_outfile_reserve(&dump->file, len, &window);
    if (rc != 0) {
        return rc;
    }
    uint8_t *out = (uint8_t *)window;
    size_t kept = 0, pos = 0, pending_unwind = 0, pending_len = 0;
    uint64_t ts = now_ns();
    pid_t pid = process_id();
    uint32_t tid = (uint32_t)thread_id();
    while (pos + sizeof(struct pt_jitdump_record) <= len) {
        struct pt_jitdump_record head;
        memcpy(&head, buf + pos, sizeof(head));
        if (head.total_size < sizeof(head) || head.total_size > len - pos) {
            break; /* a record still being written when we forked */
        }
        if (head.id == PT_JIT_CODE_UNWINDING_INFO) {
            pending_unwind = pos;
            pending_len = head.total_size;
        }
        else if (head.id == PT_JIT_CODE_LOAD &&
                 head.total_size >= sizeof(struct pt_jitdump_code_load)) {
            struct pt_jitdump_code_load load;
            memcpy(&load, buf + pos, sizeof(load));
            if (keep(ctx, (uintptr_t)load.code_addr)) {
                if (pending_len) {
                    struct pt_jitdump_record unwind_head;
                    memcpy(out + kept, buf + pending_unwind, pending_len);
                    memcpy(&unwind_head, out + kept, sizeof(unwind_head));
                    unwind_head.timestamp = ts;
                    memcpy(out + kept, &unwind_head, sizeof(unwind_head));
                    kept += pending_len;
                }
                load.head.timestamp = ts;
                load.pid = (uint32_t)pid;
                load.tid = tid;
                memcpy(out + kept, &load, sizeof(load));
                memcpy(out + kept + sizeof(load), buf + pos + sizeof(load),
                       head.total_size - sizeof(load));
                kept += head.total_size;
            }
            pending_len = 0;
        }
        pos += head.total_size;
    }
    pt_outfile_commit(&dump->file, kept);
    return 0;
}

/* Lock held. */
static int
move_to_child(void *writer)
{
    struct jitdump *dump = writer;
    /* The parent's mapping stays: munmap would tell perf nothing, and the
     * child's own mapping is what perf inject looks for. */
    dump->marker = NULL;
    char *parent = NULL;
    size_t parent_len = 0;
    int rc = pt_outfile_move_to_child(&dump->file, &parent, &parent_len);
    if (rc != 0) {
        return rc;
    }
    rc = start_dump(dump, getpid());
    if (rc == 0 && parent_len > sizeof(struct pt_jitdump_header)) {
        rc = copy_inherited(dump,
                            (const uint8_t *)parent + sizeof(struct pt_jitdump_header),
                            parent_len - sizeof(struct pt_jitdump_header));
    }
    free(parent);
    return rc;
}

static int
jitdump_after_fork(void *state)
{
    struct jitdump *dump = state;
    return pt_procfile_after_fork(&dump->file.proc, move_to_child, dump);
}

static void
jitdump_pause(void *state)
{
    struct jitdump *dump = state;
    pt_outfile_pause(&dump->file);
}

static void
jitdump_close(void *state)
{
    struct jitdump *dump = state;
    if (dump == NULL) {
        return;
    }
    if (dump->marker != NULL) {
        munmap(dump->marker, dump->marker_len);
    }
    pt_outfile_close(&dump->file);
    free(dump);
}

const struct pt_writer_ops pt_jitdump_writer = {
    .name = "jitdump",
    .open = jitdump_open,
    .add = jitdump_add,
    .after_fork = jitdump_after_fork,
    .pause = jitdump_pause,
    .path = pt_procfile_path,
    .close = jitdump_close,
};
