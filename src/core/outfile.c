#include "outfile.h"
#include "fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile unsigned fork_generation;
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;
static int watch_error;

static void
bump_generation(void)
{
    fork_generation++;
}

static void
watch_forks(void)
{
    watch_error = pthread_atfork(NULL, NULL, bump_generation);
}

unsigned
pt_fork_generation(void)
{
    return fork_generation;
}

static int
open_for_pid(struct pt_outfile *f, pid_t pid)
{
    char name[64];
    snprintf(name, sizeof(name), f->pattern, (long)pid);
    int n = snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
    if (n < 0 || (size_t)n >= sizeof(f->path)) {
        return -ENAMETOOLONG;
    }
    int fd = pt_open_private(f->path);
    if (fd < 0) {
        return fd;
    }
    f->fd = fd;
    f->generation = pt_fork_generation();
    return 0;
}

int
pt_outfile_open(struct pt_outfile *f, const char *dir, const char *pattern, pid_t pid,
                pt_keep_fn keep, void *keep_ctx)
{
    pthread_once(&watch_once, watch_forks);
    if (watch_error != 0) {
        return -watch_error;
    }
    size_t len = strlen(dir);
    if (len >= sizeof(f->dir)) {
        return -ENAMETOOLONG;
    }
    memcpy(f->dir, dir, len + 1);
    f->pattern = pattern;
    f->keep = keep;
    f->keep_ctx = keep_ctx;
    f->fd = -1;
    return open_for_pid(f, pid);
}

int
pt_outfile_move_to_child(struct pt_outfile *f, char **parent, size_t *parent_len)
{
    int parent_fd = f->fd;
    f->fd = -1;
    f->generation = pt_fork_generation();
    if (parent_fd < 0) {
        return -EBADF;
    }
    struct stat st;
    int rc = fstat(parent_fd, &st) == 0 ? 0 : -errno;
    if (rc == 0) {
        rc = pt_read_prefix(parent_fd, (size_t)st.st_size, parent, parent_len);
    }
    close(parent_fd);
    if (rc == 0) {
        rc = open_for_pid(f, getpid());
        if (rc != 0) {
            free(*parent);
            *parent = NULL;
        }
    }
    return rc;
}

void
pt_outfile_close(struct pt_outfile *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
}
