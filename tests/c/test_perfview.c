/* Clearing a parent's stale mappings from perf's view (perfview.h): this
 * process's own file mappings stay as they were, and a range its parent has that
 * it has not is covered (taken, then given back). */
#include "perfview.h"
#include "testhelp.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* /proc/self/maps, whole, into buf (static: a heap buffer this large would
 * be a mapping of its own). */
static char before[1 << 18], after[1 << 18];

static int
own_maps(char *buf, size_t cap)
{
    int fd = open("/proc/self/maps", O_RDONLY);
    if (fd < 0) {
        return -1;
    }
    size_t n = 0;
    ssize_t got;
    while (n < cap - 1 && (got = read(fd, buf + n, cap - 1 - n)) > 0) {
        n += (size_t)got;
    }
    buf[n] = '\0';
    close(fd);
    return 0;
}

/* Whether the two listings have the same file mappings (lines with a path;
 * the allocator, ASan's too, may add anonymous ones meanwhile). */
static int
same_file_mappings(char *a, char *b)
{
    char *save_a = NULL, *save_b = NULL;
    char *la = strtok_r(a, "\n", &save_a), *lb = strtok_r(b, "\n", &save_b);
    for (;;) {
        while (la != NULL && strchr(la, '/') == NULL) {
            la = strtok_r(NULL, "\n", &save_a);
        }
        while (lb != NULL && strchr(lb, '/') == NULL) {
            lb = strtok_r(NULL, "\n", &save_b);
        }
        if (la == NULL || lb == NULL) {
            return la == lb;
        }
        if (strcmp(la, lb) != 0) {
            return 0;
        }
        la = strtok_r(NULL, "\n", &save_a);
        lb = strtok_r(NULL, "\n", &save_b);
    }
}

int
main(void)
{
    /* The parent maps a file (this test's binary) where the child has
     * nothing once it has unmapped its copy: a stale range, as after exec. */
    FILE *self = fopen("/proc/self/exe", "r");
    CHECK(self != NULL);
    void *mapped = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fileno(self), 0);
    CHECK(mapped != MAP_FAILED);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int bad = munmap(mapped, 4096) != 0;
        bad |= own_maps(before, sizeof(before)) != 0;
        int covered = pt_perfview_forget_parent(getppid());
        bad |= own_maps(after, sizeof(after)) != 0;
        bad |= (covered < 1) << 1;
        bad |= !same_file_mappings(before, after) << 2;
        bad |= (pt_perfview_forget_parent(999999999) >= 0) << 3; /* no such process */
        _exit(bad);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 0);
    munmap(mapped, 4096);
    fclose(self);
    return TEST_REPORT("test_perfview");
}
