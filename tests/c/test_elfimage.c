/* The perf_elf writer, read back by independent readers: readelf (binutils)
 * for the headers, symbols and .eh_frame; stubs called through the file's
 * executable mapping; a forked child's own file; 100,000 registrations. */
#include "arena.h"
#include "elfimage.h"
#include "stub.h"
#include "testhelp.h"
#include "writer.h"

#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/perftramp-elf-test-XXXXXX";

static void *
target(void *a, void *b, long c)
{
    (void)b;
    return (char *)a + c;
}

static int
keep_inherited(void *ctx, uintptr_t addr)
{
    return pt_arena_inherited(ctx, addr);
}

/* Lines of `cmd`'s output holding `needle`; -1 when cmd fails. */
static long
count_lines(const char *cmd, const char *needle)
{
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return -1;
    }
    char line[8192];
    long n = 0;
    while (fgets(line, sizeof(line), p)) {
        n += strstr(line, needle) != NULL;
    }
    return pclose(p) == 0 ? n : -1;
}

static long
readelf(const char *args, const char *path, const char *needle)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "readelf -W %s %s 2>&1", args, path);
    return count_lines(cmd, needle);
}

/* How many mappings of `path` this process has, when every one of them puts
 * the file's offset 0 at `base` (start - offset), as perf needs to find the
 * image's load address from any of them; -1 when one does not. */
static int
image_mappings(const char *path, uintptr_t base)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    if (maps == NULL) {
        return -1;
    }
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof(line), maps)) {
        unsigned long lo, hi, off;
        char file[600] = "";
        if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %599s", &lo, &hi, &off, file) == 4 &&
            strcmp(file, path) == 0) {
            n = lo - off == base && n >= 0 ? n + 1 : -1;
        }
    }
    fclose(maps);
    return n;
}

/* sh_size of section `index` of the ELF file at `path`, read from its
 * section header; 0 when it cannot be read. */
static uint64_t
section_size(const char *path, int index)
{
    FILE *f = fopen(path, "rb");
    Elf64_Ehdr eh;
    Elf64_Shdr sh;
    int ok = f != NULL && fread(&eh, sizeof(eh), 1, f) == 1 &&
             fseek(f, (long)(eh.e_shoff + (uint64_t)index * sizeof(sh)), SEEK_SET) == 0 &&
             fread(&sh, sizeof(sh), 1, f) == 1;
    if (f != NULL) {
        fclose(f);
    }
    return ok ? sh.sh_size : 0;
}

/* The distance between stubs, as the arena hands them out (8 bytes on
 * x86_64, 24 on aarch64, whose stub is longer). */
static size_t slot_bytes;

/* The frame register's DWARF name, as readelf prints it: rbp is 6 on x86_64,
 * x29 is 29 on aarch64. */
#if defined(__x86_64__)
#    define FRAME_REGISTER_RULE "DW_CFA_def_cfa_register: r6"
#else
#    define FRAME_REGISTER_RULE "DW_CFA_def_cfa_register: r29"
#endif

static void
add_named(const struct pt_writer_ops *w, void *st, struct pt_arena *arena,
          const char *name, void **stub)
{
    size_t size;
    CHECK_EQ_INT(pt_arena_take_stub(arena, stub, &size), 0);
    slot_bytes = size;
    struct pt_name n = pt_name_of(name, strlen(name));
    CHECK_EQ_INT(w->add(st, (uintptr_t)*stub, size, &n), 0);
}

int
main(void)
{
    if (system("readelf --version >/dev/null 2>&1") != 0) {
        printf("test_elfimage: SKIPPED, readelf (binutils) not installed\n");
        return 77;
    }
    CHECK(mkdtemp(dir) != NULL);
    const struct pt_writer_ops *w = &pt_elfimage_writer;
    struct pt_arena *arena;
    CHECK_EQ_INT(pt_arena_new(&arena, 0, 0), 0);
    void *st = NULL;
    CHECK_EQ_INT(w->open(&st, dir, "perf-elf-%ld.so", getpid(), keep_inherited, arena),
                 0);
    CHECK_EQ_INT(w->attach_arena(st, arena), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s", w->path(st));

    void *one, *two;
    add_named(w, st, arena, "py::one:a.py", &one);
    add_named(w, st, arena, "py::two\nevil:b.py", &two);
    char buf[8];
    CHECK(((pt_stub_fn)one)(buf, NULL, 3, target) == buf + 3);
    CHECK(((pt_stub_fn)two)(buf, NULL, 5, target) == buf + 5);

    CHECK_EQ_INT(readelf("-h", path, "DYN (Shared object file)"), 1);
    CHECK_EQ_INT(readelf("-n", path, "Build ID"), 1);
    CHECK_EQ_INT(readelf("-s", path, "FUNC    LOCAL  DEFAULT    3 py::one:a.py"), 1);
    CHECK_EQ_INT(readelf("-s", path, "readelf: Error"), 0);
    CHECK_EQ_INT(readelf("-s", path, "readelf: Warning"), 0);
    CHECK_EQ_INT(readelf("-s", path, "py::two\\x0aevil:b.py"), 1);
    CHECK_EQ_INT(readelf("-l", path, "GNU_EH_FRAME"), 1);
    /* the tables' sections are as large as their reserved part, not their
     * capacity: perf reads them whole */
    CHECK_EQ_INT(section_size(path, PT_ELF_SEC_SYMTAB), 65536 / 24 * 24);
    CHECK_EQ_INT(section_size(path, PT_ELF_SEC_STRTAB), 65536);
    /* one FDE per slot of the first chunk (64 KiB / the slot) */
    CHECK(slot_bytes == 8 || slot_bytes == 24);
    CHECK_EQ_INT(readelf("--debug-dump=frames", path, " FDE cie="),
                 (long)(65536 / slot_bytes));
    CHECK_EQ_INT(readelf("--debug-dump=frames", path, FRAME_REGISTER_RULE),
                 (long)(65536 / slot_bytes));
    if (system("command -v eu-readelf >/dev/null 2>&1") == 0) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "eu-readelf -s %s 2>&1", path);
        CHECK_EQ_INT(count_lines(cmd, "py::one:a.py"), 1);
    }

    /* The image's two mappings (code and unwind tables; symbols and names)
     * sit where the file puts them, one below the first stub. */
    uintptr_t base = (uintptr_t)one - 65536;
    CHECK_EQ_INT(image_mappings(path, base), 2);

    /* A forked child: its own file, with what it inherited and its own,
     * mapped where the parent's was (no mapping of it anywhere else). */
    char child[512];
    pid_t pid = fork();
    if (pid == 0) {
        int ok = w->after_fork(st) == 0;
        snprintf(child, sizeof(child), "%s/perf-elf-%ld.so", dir, (long)getpid());
        ok &= image_mappings(child, base) == 2 && image_mappings(path, base) == 0;
        void *three;
        size_t size;
        ok &= pt_arena_after_fork(arena) == 0;
        ok &= pt_arena_take_stub(arena, &three, &size) == 0;
        struct pt_name n = pt_name_of("py::three:c.py", 14);
        ok &= w->add(st, (uintptr_t)three, size, &n) == 0;
        ok &= ((pt_stub_fn)one)(buf, NULL, 1, target) == buf + 1;
        _exit(ok ? 0 : 1);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0);
    snprintf(child, sizeof(child), "%s/perf-elf-%ld.so", dir, (long)pid);
    CHECK_EQ_INT(readelf("-s", child, "py::one:a.py"), 1);
    CHECK_EQ_INT(readelf("-s", child, "py::three:c.py"), 1);
    CHECK_EQ_INT(readelf("-s", path, "py::three:c.py"), 0);

    /* 100,000 functions: the cost of one registration. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fails = 0;
    for (int i = 0; i < 100000; i++) {
        void *stub;
        size_t size;
        char name[64];
        int len = snprintf(name, sizeof(name), "py::function_%d:/srv/app/module.py", i);
        struct pt_name n = pt_name_of(name, (size_t)len);
        fails += pt_arena_take_stub(arena, &stub, &size) != 0 ||
                 w->add(st, (uintptr_t)stub, size, &n) != 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_EQ_INT(fails, 0);
    double ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 100000;
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "du -k %s", path);
    FILE *du = popen(cmd, "r");
    long kb = 0;
    if (du != NULL) {
        CHECK(fscanf(du, "%ld", &kb) == 1);
        pclose(du);
    }
    printf("test_elfimage: 100000 registrations, %.0f ns each, file %ld KiB on disk\n",
           ns, kb);
    CHECK_EQ_INT(readelf("-s", path, "py::function_"), 100000);
    uint64_t symtab = section_size(path, PT_ELF_SEC_SYMTAB);
    CHECK(symtab >= 100003 * sizeof(Elf64_Sym) &&
          symtab < PT_ELF_SLOTS * sizeof(Elf64_Sym));
    CHECK(section_size(child, PT_ELF_SEC_SYMTAB) == 65536 / 24 * 24);

    w->close(st);
    pt_arena_free(arena);
    unlink(child);
    unlink(path);
    rmdir(dir);
    return TEST_REPORT("test_elfimage");
}
