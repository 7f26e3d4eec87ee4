/* The jitdump writer, read back by an independent reader: header, record
 * pairs, sizes, timestamps, unique code bytes, the eh_frame and its header,
 * the executable mapping perf looks for, and the forked child's dump. */
#include "arena.h"
#include "cfi.h"
#include "jitdump.h"
#include "jitdump_reader.h"
#include "limits.h"
#include "stub.h"
#include "testhelp.h"
#include "writer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The perf_jit backend's file name (backend.c). */
#define DUMP_PATTERN "jit-%ld.dump"

static char dir[] = "/tmp/perftramp-jit-test-XXXXXX";

static int
mapped_executable(const char *path)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[1024];
    int found = 0;
    while (maps && fgets(line, sizeof(line), maps)) {
        if (strstr(line, path) && strstr(line, " r-xp ")) {
            found = 1;
        }
    }
    if (maps) {
        fclose(maps);
    }
    return found;
}

static uintptr_t stubs[3];

static int
keep_first_two(void *ctx, uintptr_t addr)
{
    (void)ctx;
    return addr == stubs[0] || addr == stubs[1];
}

static int
add(void *state, uintptr_t addr, const char *name)
{
    struct pt_name n = pt_name_of(name, strlen(name));
    return pt_jitdump_writer.add(state, addr, 0, &n);
}

static struct jd_file read_back;

static int
complete_records(const char *path)
{
    if (jd_read(path, &read_back) != 0 || read_back.malformed) {
        return -1;
    }
    return read_back.count;
}

/* A dump left open by this pid (exec) ends in zeros, which end the dump for
 * perf inject: reopening continues right after the last record, and a pause
 * leaves nothing after it for another writer to append behind. */
static void
test_no_zeros_before_next_writer(void)
{
    const struct pt_writer_ops *w = &pt_jitdump_writer;
    pid_t me = getpid();
    char path[512];
    snprintf(path, sizeof(path), "%s/jit-%ld.dump", dir, (long)me);
    unlink(path);
    pid_t child = fork();
    if (child == 0) {
        /* the image before the exec (same pid in the header) */
        void *state = NULL;
        int rc = w->open(&state, dir, DUMP_PATTERN, me, keep_first_two, NULL);
        rc |= add(state, stubs[0], "py::before_exec:x");
        _exit(rc == 0 ? 0 : 1);
    }
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0);
    CHECK_EQ_INT(jd_read(path, &read_back), 0);
    CHECK(read_back.zero_tail > 0);

    void *state = NULL;
    CHECK_EQ_INT(w->open(&state, dir, DUMP_PATTERN, me, keep_first_two, NULL), 0);
    CHECK_EQ_INT(add(state, stubs[1], "py::after_exec:x"), 0);
    w->pause(state);
    CHECK_EQ_INT(jd_read(path, &read_back), 0);
    CHECK_EQ_INT(read_back.zero_tail, 0);
    CHECK_EQ_INT(read_back.count, 2);
    CHECK_EQ_INT(add(state, stubs[2], "py::after_pause:x"), 0);
    w->close(state);
    CHECK_EQ_INT(jd_read(path, &read_back), 0);
    CHECK_EQ_INT(read_back.malformed, 0);
    CHECK_EQ_INT(read_back.zero_tail, 0);
    CHECK_EQ_INT(read_back.count, 3);
    if (read_back.count == 3) {
        CHECK(strcmp(read_back.entries[0].name, "py::before_exec:x") == 0);
        CHECK(strcmp(read_back.entries[1].name, "py::after_exec:x") == 0);
        CHECK(strcmp(read_back.entries[2].name, "py::after_pause:x") == 0);
    }
    unlink(path);
}

int
main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    size_t code = pt_jitdump_code_size();
    CHECK(code >= pt_stub_code_size() + 8);
    CHECK(pt_jitdump_slot_size() >= ((code + 7) & ~(size_t)7) + pt_jitdump_mapped_size());

    struct pt_arena *arena = NULL;
    CHECK_EQ_INT(pt_arena_new(&arena, 0, pt_jitdump_slot_size()), 0);
    const struct pt_writer_ops *w = &pt_jitdump_writer;
    void *state = NULL;
    pid_t me = getpid();
    CHECK_EQ_INT(w->open(&state, dir, DUMP_PATTERN, me, keep_first_two, NULL), 0);
    CHECK(mapped_executable(w->path(state)));

    const char *names[] = {"py::foo:/app.py", "py::bar:/app.py", "py::x\ny:/f\x01.py"};
    for (int i = 0; i < 3; i++) {
        void *stub;
        size_t size;
        CHECK_EQ_INT(pt_arena_take_stub(arena, &stub, &size), 0);
        stubs[i] = (uintptr_t)stub;
        CHECK_EQ_INT(add(state, stubs[i], names[i]), 0);
    }
    /* Neighbouring stubs are far enough apart for their ELF mappings. */
    CHECK(stubs[1] - stubs[0] >= ((code + 7) & ~(size_t)7) + pt_jitdump_mapped_size());

    static struct jd_file f;
    char path[512];
    snprintf(path, sizeof(path), "%s/" DUMP_PATTERN, dir, (long)me);
    CHECK(strcmp(path, w->path(state)) == 0);
    CHECK_EQ_INT(jd_read(path, &f), 0);
    CHECK_EQ_INT(f.header.magic, PT_JITDUMP_MAGIC);
    CHECK_EQ_INT(f.header.version, 1);
    CHECK_EQ_INT(f.header.total_size, 40);
    CHECK_EQ_INT(f.header.elf_mach, pt_stub_cfi.elf_machine);
    CHECK_EQ_INT(f.header.pid, me);
    CHECK_EQ_INT(f.malformed, 0);
    CHECK_EQ_INT(f.count, 3);
    CHECK(f.zero_tail > 0); /* still open: the window's rest, as after a crash */
    for (int i = 0; i < f.count && i < 3; i++) {
        struct jd_entry *e = &f.entries[i];
        CHECK(e->code_addr == stubs[i]);
        CHECK_EQ_INT(e->code_size, code);
        CHECK_EQ_INT(e->pid, me);
        CHECK(memcmp(e->code, perftramp_stub_start, pt_stub_code_size()) == 0);
        CHECK(e->has_unwind);
        CHECK(e->fde_pc_begin == e->code_addr);
        CHECK_EQ_INT(e->fde_pc_range, code);
        CHECK(e->hdr_initial_loc == e->code_addr);
        CHECK(e->hdr_fde == e->fde_addr);
        CHECK_EQ_INT(e->unwind_mapped, pt_jitdump_mapped_size());
        if (i > 0) {
            CHECK(e->timestamp >= f.entries[i - 1].timestamp);
            CHECK(e->code_index > f.entries[i - 1].code_index);
            /* the salt: no two records carry the same code bytes */
            CHECK(memcmp(e->code, f.entries[i - 1].code, code) != 0);
        }
    }
    CHECK(strcmp(f.entries[0].name, "py::foo:/app.py") == 0);
    CHECK(strcmp(f.entries[2].name, "py::x\\x0ay:/f\\x01.py") == 0);

    /* A fork: the child's own dump holds the two inherited stubs it keeps,
     * with its pid, and then its own. */
    pid_t child = fork();
    if (child == 0) {
        /* no after_fork(): the first add() moves to the child's dump */
        void *stub;
        size_t size;
        int rc = pt_arena_take_stub(arena, &stub, &size);
        rc |= add(state, (uintptr_t)stub, "py::child:x");
        rc |= !mapped_executable(w->path(state));
        w->close(state);
        _exit(rc == 0 ? 0 : 1);
    }
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    snprintf(path, sizeof(path), "%s/" DUMP_PATTERN, dir, (long)child);
    CHECK_EQ_INT(jd_read(path, &f), 0);
    CHECK_EQ_INT(f.header.pid, child);
    CHECK_EQ_INT(f.malformed, 0);
    CHECK_EQ_INT(f.count, 3);
    CHECK(strcmp(f.entries[0].name, "py::foo:/app.py") == 0);
    CHECK(strcmp(f.entries[1].name, "py::bar:/app.py") == 0);
    CHECK(strcmp(f.entries[2].name, "py::child:x") == 0);
    for (int i = 0; i < f.count; i++) {
        CHECK_EQ_INT(f.entries[i].pid, child);
        CHECK(f.entries[i].has_unwind);
        CHECK(f.entries[i].fde_pc_begin == f.entries[i].code_addr);
    }

    /* Closing trims the window: the dump ends with its last record. */
    w->close(state);
    snprintf(path, sizeof(path), "%s/" DUMP_PATTERN, dir, (long)me);
    CHECK_EQ_INT(jd_read(path, &f), 0);
    CHECK_EQ_INT(f.zero_tail, 0);
    CHECK_EQ_INT(f.count, 3);

    /* Reopening in the same process continues the dump, no second header. */
    CHECK_EQ_INT(w->open(&state, dir, DUMP_PATTERN, me, keep_first_two, NULL), 0);
    CHECK_EQ_INT(add(state, stubs[0], "py::again:x"), 0);
    w->close(state);
    snprintf(path, sizeof(path), "%s/" DUMP_PATTERN, dir, (long)me);
    CHECK_EQ_INT(jd_read(path, &f), 0);
    CHECK_EQ_INT(f.malformed, 0);
    CHECK_EQ_INT(f.count, 4);

    test_no_zeros_before_next_writer();
    limits_case(&pt_jitdump_writer, DUMP_PATTERN, dir, LIMITS_FULL_FS, complete_records);
    limits_case(&pt_jitdump_writer, DUMP_PATTERN, dir, LIMITS_FSIZE, complete_records);

    pt_arena_free(arena);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_EQ_INT(system(cmd), 0);
    return TEST_REPORT("test_jitdump");
}
