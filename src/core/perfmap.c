/*
 * The perf map writer: /tmp/perf-PID.map, one line per trampoline,
 *
 *     START SIZE NAME\n
 *
 * START and SIZE in hexadecimal without 0x, as perf's map parser reads them.
 *
 * Each line goes to the kernel in one write(2) on an O_APPEND descriptor: a
 * line is complete in the file the moment the trampoline exists, so a program
 * killed by any signal still leaves a map naming every function that ran, and
 * writers in other processes or threads cannot split a line.
 *
 * Fork: the child's samples are looked up in /tmp/perf-CHILDPID.map, and the
 * child still runs inside trampolines it inherited.  after_fork() copies the
 * lines for inherited trampolines (the caller's keep() filter drops lines the
 * parent wrote after the fork, for stubs the child never had) into the
 * child's own file.
 */
#include "escape.h"
#include "fileio.h"
#include "writer.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct perfmap {
    pthread_mutex_t lock;
    int fd;
    char path[PATH_MAX];
};

static int
perfmap_open_file(struct perfmap *map, const char *dir, pid_t pid)
{
    int n = snprintf(map->path, sizeof(map->path), "%s/perf-%ld.map", dir, (long)pid);
    if (n < 0 || (size_t)n >= sizeof(map->path)) {
        return -ENAMETOOLONG;
    }
    int fd = pt_open_private(map->path);
    if (fd < 0) {
        return fd;
    }
    map->fd = fd;
    return 0;
}

static int
perfmap_open(void **state, const char *dir, pid_t pid)
{
    struct perfmap *map = calloc(1, sizeof(*map));
    if (map == NULL) {
        return -ENOMEM;
    }
    int rc = pthread_mutex_init(&map->lock, NULL);
    if (rc != 0) {
        free(map);
        return -rc;
    }
    rc = perfmap_open_file(map, dir, pid);
    if (rc != 0) {
        pthread_mutex_destroy(&map->lock);
        free(map);
        return rc;
    }
    *state = map;
    return 0;
}

/* Longest "START SIZE " prefix: two 16-digit numbers and two spaces. */
#define PREFIX_MAX 40
#define STACK_LINE 512

static int
perfmap_add(void *state, uintptr_t addr, size_t size, const char *name, size_t name_len)
{
    struct perfmap *map = state;
    char stack_line[STACK_LINE];
    char *line = stack_line;
    int prefix = snprintf(line, PREFIX_MAX, "%" PRIxPTR " %zx ", addr, size);
    if (prefix < 0 || prefix >= PREFIX_MAX) {
        return -EINVAL;
    }
    size_t room = sizeof(stack_line) - (size_t)prefix - 1;
    size_t escaped = pt_escape_name(name, name_len, line + prefix, room);
    if (escaped > room) {
        line = malloc((size_t)prefix + escaped + 1);
        if (line == NULL) {
            return -ENOMEM;
        }
        memcpy(line, stack_line, (size_t)prefix);
        pt_escape_name(name, name_len, line + prefix, escaped);
    }
    size_t len = (size_t)prefix + escaped;
    line[len++] = '\n';

    int rc = pthread_mutex_lock(&map->lock);
    if (rc == 0) {
        rc = pt_write_fully(map->fd, line, len);
        pthread_mutex_unlock(&map->lock);
    }
    else {
        rc = -rc;
    }
    if (line != stack_line) {
        free(line);
    }
    return rc;
}

/* Appends to `out` the lines of buf[0..len) whose start address keep() accepts;
 * returns the new length of out (out has room for len bytes). */
static size_t
filter_lines(const char *buf, size_t len, char *out, pt_keep_fn keep, void *ctx)
{
    size_t kept = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (nl == NULL) {
            break; /* a partial last line was still being written */
        }
        size_t line_len = (size_t)(nl - (buf + pos)) + 1;
        char *end = NULL;
        errno = 0;
        unsigned long long addr = strtoull(buf + pos, &end, 16);
        if (errno == 0 && end != buf + pos && *end == ' ' && keep(ctx, (uintptr_t)addr)) {
            memcpy(out + kept, buf + pos, line_len);
            kept += line_len;
        }
        pos += line_len;
    }
    return kept;
}

static int
perfmap_after_fork(void *state, const char *dir, pid_t pid, pt_keep_fn keep, void *ctx)
{
    struct perfmap *map = state;
    /* Only this thread exists in the child: the lock may have been held by a
     * thread that did not come along, so it is made anew. */
    int rc = pthread_mutex_init(&map->lock, NULL);
    if (rc != 0) {
        return -rc;
    }
    int parent_fd = map->fd;
    struct stat st;
    if (fstat(parent_fd, &st) != 0) {
        return -errno;
    }
    char *parent = NULL;
    size_t parent_len = 0;
    rc = pt_read_prefix(parent_fd, (size_t)st.st_size, &parent, &parent_len);
    if (rc != 0) {
        return rc;
    }
    char *inherited = malloc(parent_len ? parent_len : 1);
    if (inherited == NULL) {
        free(parent);
        return -ENOMEM;
    }
    size_t inherited_len = filter_lines(parent, parent_len, inherited, keep, ctx);
    free(parent);

    rc = perfmap_open_file(map, dir, pid);
    if (rc == 0) {
        close(parent_fd);
        rc = pt_write_fully(map->fd, inherited, inherited_len);
    }
    else {
        /* Keep nothing of the parent's: writing on would put the child's
         * entries in the parent's file. */
        close(parent_fd);
        map->fd = -1;
    }
    free(inherited);
    return rc;
}

static const char *
perfmap_path(const void *state)
{
    return ((const struct perfmap *)state)->path;
}

static void
perfmap_close(void *state)
{
    struct perfmap *map = state;
    if (map == NULL) {
        return;
    }
    if (map->fd >= 0) {
        close(map->fd);
    }
    pthread_mutex_destroy(&map->lock);
    free(map);
}

const struct pt_writer_ops pt_perfmap_writer = {
    .name = "perf map",
    .file_pattern = "perf-%ld.map",
    .open = perfmap_open,
    .add = perfmap_add,
    .after_fork = perfmap_after_fork,
    .path = perfmap_path,
    .close = perfmap_close,
};
