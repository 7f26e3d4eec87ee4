/* The perf map writer: line format, escaping, refusal of planted files,
 * appending without truncation, crash safety, sharing the file with an
 * O_APPEND writer, and the forked child's own map. */
#include "fileio.h"
#include "limits.h"
#include "writer.h"
#include "testhelp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The perf backend's file name (backend.c). */
#define MAP_PATTERN "perf-%ld.map"

static char dir[] = "/tmp/perftramp-test-XXXXXX";
static char text[1 << 23];
static size_t text_len;

/* Reads a whole file into `text`; NUL bytes are kept (text_len counts them). */
static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    text_len = fread(text, 1, sizeof(text) - 1, f);
    text[text_len] = '\0';
    fclose(f);
    return text;
}

static void
map_path(char *out, size_t cap, pid_t pid)
{
    snprintf(out, cap, "%s/" MAP_PATTERN, dir, (long)pid);
}

/* Lines with content in the whole file read last (blank lines and NUL bytes,
 * unused window space, do not count). */
static int
count_lines(const char *t)
{
    (void)t;
    int n = 0, content = 0;
    for (size_t i = 0; i < text_len; i++) {
        if (text[i] == '\n') {
            n += content;
            content = 0;
        }
        else if (text[i] != '\0') {
            content = 1;
        }
    }
    return n;
}

static const char *
find(const char *needle)
{
    return memmem(text, text_len, needle, strlen(needle));
}

static int
ends_trimmed(void)
{
    return text_len > 0 && text[text_len - 1] == '\n';
}

static int
keep_all(void *ctx, uintptr_t addr)
{
    (void)ctx;
    (void)addr;
    return 1;
}

static int
add(void *state, uintptr_t addr, const char *name)
{
    struct pt_name n = pt_name_of(name, strlen(name));
    return pt_perfmap_writer.add(state, addr, 0x10, &n);
}

static void
test_format_and_escaping(void)
{
    const struct pt_writer_ops *w = &pt_perfmap_writer;
    void *state = NULL;
    CHECK_EQ_INT(w->open(&state, dir, MAP_PATTERN, 1001, keep_all, NULL), 0);
    CHECK_EQ_INT(add(state, 0x7f0000001000, "py::foo:/app.py"), 0);
    const char hostile[] = "py::f:x\n7fff00000000 10 py::forged:f";
    struct pt_name parts = {.part = {"py::", "f", ":", "x\n7fff00000000 10 py::forged:f"},
                            .len = {PT_LITERAL_LEN("py::"), PT_LITERAL_LEN("f"),
                                    PT_LITERAL_LEN(":"),
                                    PT_LITERAL_LEN("x\n7fff00000000 10 py::forged:f")},
                            .count = 4};
    CHECK_EQ_INT(w->add(state, 0x7f0000001010, 0x10, &parts), 0);
    (void)hostile;
    static char long_name[3000000]; /* longer than a window */
    memset(long_name, 'n', sizeof(long_name) - 1);
    CHECK_EQ_INT(add(state, 0x7f0000001020, long_name), 0);
    CHECK_EQ_INT(add(state, 0x7f0000001030, "py::after_long:x"), 0);
    char path[512];
    map_path(path, sizeof(path), 1001);
    CHECK(strcmp(w->path(state), path) == 0);

    /* Before close (as after a crash): every line is there, then NULs. */
    char *t = slurp(path);
    CHECK(t != NULL && strncmp(t, "7f0000001000 10 py::foo:/app.py\n", 32) == 0);
    CHECK(text_len > strlen(t));
    w->close(state);

    t = slurp(path);
    CHECK(t != NULL);
    if (t == NULL) {
        return;
    }
    CHECK(ends_trimmed()); /* no NUL tail after close */
    CHECK_EQ_INT(count_lines(t), 4);
    CHECK(strncmp(t, "7f0000001000 10 py::foo:/app.py\n", 32) == 0);
    CHECK(find("7f0000001010 10 py::f:x\\x0a7fff00000000 10 py::forged:f\n") != NULL);
    CHECK(find("\n7fff00000000") == NULL);
    const char *third = find("7f0000001020 10 nnn");
    CHECK(third != NULL &&
          strchr(third, '\n') - third == 16 + (long)sizeof(long_name) - 1);
    CHECK(find("7f0000001030 10 py::after_long:x\n") != NULL);

    struct stat st;
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);

    /* Reopening appends: nothing a previous writer wrote is lost. */
    CHECK_EQ_INT(w->open(&state, dir, MAP_PATTERN, 1001, keep_all, NULL), 0);
    CHECK_EQ_INT(add(state, 0x7f0000002000, "py::again:x"), 0);
    w->close(state);
    t = slurp(path);
    CHECK(t != NULL && count_lines(t) == 5 && find("py::again:x\n") != NULL &&
          ends_trimmed());
}

static void
test_shares_file_with_append_writer(void)
{
    const struct pt_writer_ops *w = &pt_perfmap_writer;
    void *state = NULL;
    char path[512];
    map_path(path, sizeof(path), 1002);
    CHECK_EQ_INT(w->open(&state, dir, MAP_PATTERN, 1002, keep_all, NULL), 0);
    CHECK_EQ_INT(add(state, 0x1000, "py::ours_1:x"), 0);
    /* CPython's own backend appends to the same file. */
    int other = open(path, O_WRONLY | O_APPEND);
    CHECK(other >= 0 && write(other, "2000 10 py::theirs:x\n", 21) == 21);
    CHECK_EQ_INT(add(state, 0x1010, "py::ours_2:x"), 0);
    w->close(state);
    CHECK(write(other, "3000 10 py::theirs_later:x\n", 27) == 27);
    close(other);
    char *t = slurp(path);
    CHECK(t != NULL);
    /* Lines never interleave; theirs survive our close. */
    CHECK(find("1000 10 py::ours_1:x\n") != NULL);
    CHECK(find("1010 10 py::ours_2:x\n") != NULL);
    const char *theirs = find("2000 10 py::theirs:x\n");
    CHECK(theirs != NULL && theirs > text && (theirs[-1] == '\n' || theirs[-1] == '\0'));
    CHECK(find("3000 10 py::theirs_later:x\n") != NULL);
    CHECK_EQ_INT(count_lines(t), 4);
}

static void
test_refuses_planted_files(void)
{
    const struct pt_writer_ops *w = &pt_perfmap_writer;
    void *state = NULL;
    char victim[512], path[512], other[512];
    snprintf(victim, sizeof(victim), "%s/victim", dir);
    FILE *f = fopen(victim, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs("precious\n", f);
        fclose(f);
    }

    map_path(path, sizeof(path), 2002);
    CHECK_EQ_INT(symlink(victim, path), 0);
    CHECK_EQ_INT(w->open(&state, dir, MAP_PATTERN, 2002, keep_all, NULL), -ELOOP);

    map_path(path, sizeof(path), 2003);
    CHECK_EQ_INT(link(victim, path), 0);
    CHECK_EQ_INT(w->open(&state, dir, MAP_PATTERN, 2003, keep_all, NULL), -EPERM);

    map_path(path, sizeof(path), 2004);
    CHECK_EQ_INT(mkdir(path, 0700), 0);
    CHECK(w->open(&state, dir, MAP_PATTERN, 2004, keep_all, NULL) < 0);

    if (geteuid() == 0) {
        /* Someone else's file: as root we can plant one for "nobody". */
        map_path(other, sizeof(other), 2005);
        int fd = open(other, O_WRONLY | O_CREAT, 0666);
        CHECK(fd >= 0 && fchown(fd, 65534, 65534) == 0);
        if (fd >= 0) {
            close(fd);
        }
        CHECK_EQ_INT(w->open(&state, dir, MAP_PATTERN, 2005, keep_all, NULL), -EPERM);
    }
    char *t = slurp(victim);
    CHECK(t != NULL && strcmp(t, "precious\n") == 0);

    CHECK(w->open(&state, "/nonexistent-dir-for-perftramp", MAP_PATTERN, 1, keep_all,
                  NULL) == -ENOENT);
}

static int
keep_low(void *ctx, uintptr_t addr)
{
    return addr < (uintptr_t)ctx;
}

/* eager: the child calls after_fork(); otherwise its first add() moves it. */
static void
fork_case(int eager)
{
    const struct pt_writer_ops *w = &pt_perfmap_writer;
    void *state = NULL;
    CHECK_EQ_INT(w->open(&state, dir, MAP_PATTERN, getpid(), keep_low, (void *)0x2000),
                 0);
    CHECK_EQ_INT(add(state, 0x1000, "py::inherited_a:x"), 0);
    CHECK_EQ_INT(add(state, 0x1010, "py::inherited_b:x"), 0);
    /* Stands for an entry the parent wrote after the fork. */
    CHECK_EQ_INT(add(state, 0x9000, "py::parent_only:x"), 0);

    pid_t child = fork();
    if (child == 0) {
        int rc = eager ? w->after_fork(state) : 0;
        rc |= add(state, 0x1020, "py::child_new:x");
        rc |= w->after_fork(state); /* a second call does nothing */
        w->close(state);
        _exit(rc == 0 ? 0 : 1);
    }
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ_INT(add(state, 0x1030, "py::parent_after:x"), 0);

    char path[512];
    map_path(path, sizeof(path), child);
    const char *t = slurp(path);
    CHECK(t != NULL);
    if (t != NULL) {
        CHECK(strcmp(t, "1000 10 py::inherited_a:x\n1010 10 py::inherited_b:x\n"
                        "1020 10 py::child_new:x\n") == 0);
    }
    w->close(state);
    map_path(path, sizeof(path), getpid());
    t = slurp(path);
    CHECK(t != NULL && strstr(t, "child_new") == NULL && count_lines(t) == 4);
    unlink(path);
}

static int
complete_lines(const char *path)
{
    return slurp(path) != NULL ? count_lines(text) : -1;
}

/* A map left open by this pid (an exec: nothing runs to close it) ends in
 * NULs; whoever opens it next must write right after the last line, and so
 * must a writer appending after a pause (deactivation). */
static void
test_no_nul_before_next_writer(void)
{
    const struct pt_writer_ops *w = &pt_perfmap_writer;
    char path[512];
    map_path(path, sizeof(path), 3001);
    pid_t child = fork();
    if (child == 0) {
        /* the image before the exec: writes, then is gone without closing */
        void *state = NULL;
        int rc = w->open(&state, dir, MAP_PATTERN, 3001, keep_all, NULL);
        rc |= add(state, 0x1000, "py::before_exec:x");
        _exit(rc == 0 ? 0 : 1);
    }
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0);
    CHECK(slurp(path) != NULL && memchr(text, '\0', text_len) != NULL);

    void *state = NULL;
    CHECK_EQ_INT(w->open(&state, dir, MAP_PATTERN, 3001, keep_all, NULL), 0);
    CHECK_EQ_INT(add(state, 0x2000, "py::after_exec:x"), 0);
    /* deactivated: CPython's own backend takes over and appends */
    w->pause(state);
    int other = open(path, O_WRONLY | O_APPEND);
    CHECK(other >= 0 && write(other, "3000 10 py::theirs:x\n", 21) == 21);
    /* reactivated: ours appends after theirs */
    CHECK_EQ_INT(add(state, 0x4000, "py::ours_again:x"), 0);
    w->pause(state);
    CHECK(write(other, "5000 10 py::theirs_again:x\n", 27) == 27);
    close(other);
    w->close(state);
    CHECK(slurp(path) != NULL);
    CHECK(strcmp(text, "1000 10 py::before_exec:x\n2000 10 py::after_exec:x\n"
                       "3000 10 py::theirs:x\n4000 10 py::ours_again:x\n"
                       "5000 10 py::theirs_again:x\n") == 0);
    CHECK(memchr(text, '\0', text_len) == NULL);
    unlink(path);
}

/* The process's resident file pages (RssFile), in KiB; -1 if unknown. */
static long
rss_file_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    long kib = -1;
    char line[256];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "RssFile: %ld", &kib) == 1) {
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kib;
}

/* Many entries, across windows and the 64 KiB steps in which a window's
 * pages are made writable ahead and let go of behind: every line is in the
 * file, in order, and the process does not keep the written pages
 * resident. */
static void
test_many_entries_in_order(void)
{
    const struct pt_writer_ops *w = &pt_perfmap_writer;
    void *state = NULL;
    enum { N = 60000 }; /* about 3.4 MB: four windows */
    CHECK_EQ_INT(w->open(&state, dir, MAP_PATTERN, 1003, keep_all, NULL), 0);
    long before = rss_file_kib(), grown = 0;
    char name[64];
    for (int i = 0; i < N; i++) {
        if (i % 1000 == 0 && rss_file_kib() - before > grown) {
            grown = rss_file_kib() - before;
        }
        snprintf(name, sizeof(name), "py::function_%d:/srv/app/module_%d.py", i, i % 97);
        if (add(state, 0x7f0000000000 + 8 * (uintptr_t)i, name) != 0) {
            CHECK(!"add failed");
            break;
        }
    }
    w->close(state);
    /* at most a step behind and two ahead, never a whole window (1 MiB; where
     * RssFile cannot be read, -1 - -1 passes) */
    CHECK(grown < 512);
    char path[512];
    map_path(path, sizeof(path), 1003);
    CHECK(slurp(path) != NULL);
    CHECK_EQ_INT(count_lines(text), N);
    CHECK(ends_trimmed());
    const char *at = text;
    for (int i = 0; i < N; i++) {
        char want[96];
        int n =
            snprintf(want, sizeof(want), "%lx 10 py::function_%d:/srv/app/module_%d.py\n",
                     (unsigned long)(0x7f0000000000 + 8 * (uintptr_t)i), i, i % 97);
        if (strncmp(at, want, (size_t)n) != 0) {
            CHECK(!"line out of place");
            break;
        }
        at += n;
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
    test_format_and_escaping();
    test_many_entries_in_order();
    test_shares_file_with_append_writer();
    test_refuses_planted_files();
    fork_case(1);
    fork_case(0);
    test_no_nul_before_next_writer();
    limits_case(&pt_perfmap_writer, MAP_PATTERN, dir, LIMITS_FULL_FS, complete_lines);
    limits_case(&pt_perfmap_writer, MAP_PATTERN, dir, LIMITS_FSIZE, complete_lines);

    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_EQ_INT(system(cmd), 0);
    return TEST_REPORT("test_perfmap");
}
