/* The perf map writer: line format, escaping, refusal of planted files,
 * appending without truncation, and the forked child's own map. */
#include "fileio.h"
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

static char dir[] = "/tmp/perftramp-test-XXXXXX";

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void
map_path(char *out, size_t cap, pid_t pid)
{
    snprintf(out, cap, "%s/perf-%ld.map", dir, (long)pid);
}

static int
count_lines(const char *text)
{
    int n = 0;
    for (; *text; text++) {
        n += *text == '\n';
    }
    return n;
}

static void
test_format_and_escaping(void)
{
    const struct pt_writer_ops *w = &pt_perfmap_writer;
    void *state = NULL;
    CHECK_EQ_INT(w->open(&state, dir, 1001), 0);
    CHECK_EQ_INT(w->add(state, 0x7f0000001000, 0x10, "py::foo:/app.py", 15), 0);
    const char hostile[] = "py::f:x\n7fff00000000 10 py::forged:f";
    CHECK_EQ_INT(w->add(state, 0x7f0000001010, 0x10, hostile, sizeof(hostile) - 1), 0);
    char long_name[3000];
    memset(long_name, 'n', sizeof(long_name));
    CHECK_EQ_INT(w->add(state, 0x7f0000001020, 0x10, long_name, sizeof(long_name)), 0);
    char path[512];
    map_path(path, sizeof(path), 1001);
    CHECK(strcmp(w->path(state), path) == 0);
    w->close(state);

    char *text = slurp(path);
    CHECK(text != NULL);
    if (text == NULL) {
        return;
    }
    CHECK_EQ_INT(count_lines(text), 3);
    CHECK(strncmp(text, "7f0000001000 10 py::foo:/app.py\n", 32) == 0);
    CHECK(strstr(text, "7f0000001010 10 py::f:x\\x0a7fff00000000 10 py::forged:f\n") != NULL);
    CHECK(strstr(text, "\n7fff00000000") == NULL);
    const char *third = strstr(text, "7f0000001020 10 nnn");
    CHECK(third != NULL && strlen(third) == 16 + sizeof(long_name) + 1);

    struct stat st;
    CHECK_EQ_INT(stat(path, &st), 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);

    /* Reopening appends: nothing a previous writer wrote is lost. */
    CHECK_EQ_INT(w->open(&state, dir, 1001), 0);
    CHECK_EQ_INT(w->add(state, 0x7f0000002000, 0x10, "py::again:x", 11), 0);
    w->close(state);
    text = slurp(path);
    CHECK(text != NULL && count_lines(text) == 4);
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
    CHECK_EQ_INT(w->open(&state, dir, 2002), -ELOOP);

    map_path(path, sizeof(path), 2003);
    CHECK_EQ_INT(link(victim, path), 0);
    CHECK_EQ_INT(w->open(&state, dir, 2003), -EPERM);

    map_path(path, sizeof(path), 2004);
    CHECK_EQ_INT(mkdir(path, 0700), 0);
    CHECK(w->open(&state, dir, 2004) < 0);

    if (geteuid() == 0) {
        /* Someone else's file: as root we can plant one for "nobody". */
        map_path(other, sizeof(other), 2005);
        int fd = open(other, O_WRONLY | O_CREAT, 0666);
        CHECK(fd >= 0 && fchown(fd, 65534, 65534) == 0);
        if (fd >= 0) {
            close(fd);
        }
        CHECK_EQ_INT(w->open(&state, dir, 2005), -EPERM);
    }
    CHECK(strcmp(slurp(victim), "precious\n") == 0);

    CHECK(w->open(&state, "/nonexistent-dir-for-perftramp", 1) == -ENOENT);
}

static int
keep_low(void *ctx, uintptr_t addr)
{
    return addr < (uintptr_t)ctx;
}

static void
test_fork_child_gets_inherited_entries(void)
{
    const struct pt_writer_ops *w = &pt_perfmap_writer;
    void *state = NULL;
    CHECK_EQ_INT(w->open(&state, dir, getpid()), 0);
    CHECK_EQ_INT(w->add(state, 0x1000, 0x10, "py::inherited_a:x", 17), 0);
    CHECK_EQ_INT(w->add(state, 0x1010, 0x10, "py::inherited_b:x", 17), 0);
    /* Stands for an entry the parent wrote after the fork. */
    CHECK_EQ_INT(w->add(state, 0x9000, 0x10, "py::parent_only:x", 17), 0);

    pid_t child = fork();
    if (child == 0) {
        int rc = w->after_fork(state, dir, getpid(), keep_low, (void *)0x2000);
        rc |= w->add(state, 0x1020, 0x10, "py::child_new:x", 15);
        w->close(state);
        _exit(rc == 0 ? 0 : 1);
    }
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    char path[512];
    map_path(path, sizeof(path), child);
    const char *text = slurp(path);
    CHECK(text != NULL);
    if (text != NULL) {
        CHECK(strcmp(text, "1000 10 py::inherited_a:x\n1010 10 py::inherited_b:x\n"
                           "1020 10 py::child_new:x\n") == 0);
    }
    map_path(path, sizeof(path), getpid());
    text = slurp(path);
    CHECK(text != NULL && strstr(text, "child_new") == NULL && count_lines(text) == 3);
    w->close(state);
}

int
main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_format_and_escaping();
    test_refuses_planted_files();
    test_fork_child_gets_inherited_entries();

    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_EQ_INT(system(cmd), 0);
    return TEST_REPORT("test_perfmap");
}
