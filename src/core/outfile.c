#include "outfile.h"
#include "fileio.h"
#include "align.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WINDOW (1u << 20)
/* How far ahead of the data a window's pages are made writable. */
#define POPULATE_STEP (64u * 1024)

#ifndef MADV_POPULATE_WRITE
#    define MADV_POPULATE_WRITE 23 /* Linux 5.14; older headers lack it */
#endif

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

int
pt_fork_watch(void)
{
    pthread_once(&watch_once, watch_forks);
    return -watch_error;
}

/* When this process started, in CLOCK_REALTIME nanoseconds, rounded down to
 * the second (the kernel's boot time has no finer grain); 0 if unknown. */
static long long
process_start_ns(void)
{
    long long boot_s = 0;
    char buf[4096];
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(buf, sizeof(buf), f) != NULL) {
        if (sscanf(buf, "btime %lld", &boot_s) == 1) {
            break;
        }
    }
    fclose(f);
    long long start_ticks = (long long)pt_process_start_ticks();
    long hz = sysconf(_SC_CLK_TCK);
    if (start_ticks == 0 || boot_s == 0 || hz <= 0) {
        return 0;
    }
    return (boot_s + start_ticks / hz) * 1000000000LL;
}

/* A file with this name left by an earlier process that had the same pid
 * would lend its entries to ours: emptied if it was last written before this
 * process began.  One written since (CPython's own backend, in this process)
 * is kept. */
static int
drop_stale_content(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return -errno;
    }
    long long mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    long long start = process_start_ns();
    if (st.st_size > 0 && start > 0 && mtime < start && ftruncate(fd, 0) != 0) {
        return -errno;
    }
    return 0;
}

int
pt_procfile_init(struct pt_procfile *p, const char *dir, const char *pattern,
                 pt_keep_fn keep, void *keep_ctx)
{
    int watched = pt_fork_watch();
    if (watched != 0) {
        return watched;
    }
    size_t len = strlen(dir);
    if (len >= sizeof(p->dir)) {
        return -ENAMETOOLONG;
    }
    memcpy(p->dir, dir, len + 1);
    p->pattern = pattern;
    p->keep = keep;
    p->keep_ctx = keep_ctx;
    p->fd = -1;
    return -pthread_mutex_init(&p->lock, NULL);
}

int
pt_procfile_name(struct pt_procfile *p, pid_t pid, char *name, size_t name_size)
{
    snprintf(name, name_size, p->pattern, (long)pid);
    int n = snprintf(p->path, sizeof(p->path), "%s/%s", p->dir, name);
    if (n < 0 || (size_t)n >= sizeof(p->path)) {
        return -ENAMETOOLONG;
    }
    return 0;
}

void
pt_procfile_opened(struct pt_procfile *p, int fd)
{
    p->fd = fd;
    p->generation = pt_fork_generation();
}

int
pt_procfile_lock(struct pt_procfile *p, pt_move_fn move, void *writer)
{
    int stale = pt_procfile_stale(p);
    if (stale) {
        /* A forked child has one thread: this one. */
        pthread_mutex_init(&p->lock, NULL);
    }
    int rc = pthread_mutex_lock(&p->lock);
    if (rc != 0) {
        return -rc;
    }
    if (stale) {
        p->generation = pt_fork_generation();
        rc = move(writer);
    }
    if (rc == 0 && p->fd < 0) {
        rc = -EBADF;
    }
    if (rc != 0) {
        pthread_mutex_unlock(&p->lock);
    }
    return rc;
}

void
pt_procfile_unlock(struct pt_procfile *p)
{
    pthread_mutex_unlock(&p->lock);
}

int
pt_procfile_after_fork(struct pt_procfile *p, pt_move_fn move, void *writer)
{
    if (!pt_procfile_stale(p)) {
        return 0;
    }
    int rc = pt_procfile_lock(p, move, writer);
    if (rc == 0) {
        pt_procfile_unlock(p);
    }
    return rc;
}

const char *
pt_procfile_path(const void *writer_state)
{
    return ((const struct pt_procfile *)writer_state)->path;
}

_Static_assert(offsetof(struct pt_outfile, proc) == 0, "pt_procfile_path reads it first");

static int
open_for_pid(struct pt_outfile *f, pid_t pid)
{
    char name[64];
    int rc = pt_procfile_name(&f->proc, pid, name, sizeof(name));
    if (rc != 0) {
        return rc;
    }
    int fd = pt_open_private(f->proc.path);
    if (fd < 0) {
        return fd;
    }
    rc = pid == getpid() ? drop_stale_content(fd) : 0;
    if (rc != 0) {
        close(fd);
        return rc;
    }
    pt_procfile_opened(&f->proc, fd);
    return 0;
}

int
pt_outfile_open(struct pt_outfile *f, const char *dir, const char *pattern, pid_t pid,
                pt_keep_fn keep, void *keep_ctx)
{
    int rc = pt_procfile_init(&f->proc, dir, pattern, keep, keep_ctx);
    if (rc != 0) {
        return rc;
    }
    rc = open_for_pid(f, pid);
    if (rc != 0) {
        pthread_mutex_destroy(&f->proc.lock);
    }
    return rc;
}

static void
drop_window(struct pt_outfile *f)
{
    if (f->window != NULL) {
        munmap(f->window, f->window_len);
        f->window = NULL;
    }
}

/* Whether nobody wrote past our window (so its rest may be cut off). */
static int
window_is_last(const struct pt_outfile *f, off_t size)
{
    return f->window != NULL && size == f->window_off + (off_t)f->window_len;
}

/* Makes the file `to` bytes long with real blocks behind [from, to), from
 * being its current end (pt_allocate).  A store into a page of a shared
 * mapping that the filesystem has no block for (a hole made by ftruncate)
 * faults when no block can be found: SIGBUS, which kills the program.  A
 * failure leaves the file `from` bytes long again. */
static int
allocate(int fd, off_t from, off_t to)
{
    int rc = pt_allocate(fd, (size_t)from, (size_t)(to - from));
    if (rc != 0 && ftruncate(fd, from) != 0) {
        /* the file stays longer, with zeros the readers take as its end */
    }
    return rc;
}

/* Makes the window's pages up to `end` (and a step beyond) writable in one
 * system call.  A store into a page of a shared file mapping otherwise
 * faults twice on ext4 (in, then page_mkwrite), every 4 KiB, and those
 * faults are a large part of a first call's time.  Stepped rather than the
 * whole window at once, which would make 1 MiB resident for a process that
 * names a few functions.  Where the kernel lacks it (EINVAL before 5.14) or
 * refuses, stores fault a page at a time: nothing is lost, and it is not
 * asked again for this window. */
static void
populate_ahead(struct pt_outfile *f, size_t end)
{
    size_t to = pt_round_up(end, POPULATE_STEP) + POPULATE_STEP;
    if (to > f->window_len) {
        to = f->window_len;
    }
    if (madvise(f->window + f->populated, to - f->populated, MADV_POPULATE_WRITE) != 0) {
        to = f->window_len;
    }
    f->populated = to;
    /* The pages behind the data are finished: unmapped from this process
     * (MADV_DONTNEED on a shared file mapping keeps them, dirty, in the page
     * cache, so in the file), they stop counting as its resident memory, as
     * the lines CPython writes with write() never count as its. */
    size_t done = f->used / POPULATE_STEP * POPULATE_STEP;
    if (done > f->dropped &&
        madvise(f->window + f->dropped, done - f->dropped, MADV_DONTNEED) == 0) {
        f->dropped = done;
    }
}

int
pt_outfile_reserve(struct pt_outfile *f, size_t need, char **at)
{
    if (f->window != NULL && f->used + need <= f->window_len) {
        if (f->used + need > f->populated) {
            populate_ahead(f, f->used + need);
        }
        *at = f->window + f->used;
        return 0;
    }
    long page = sysconf(_SC_PAGESIZE);
    struct stat st;
    if (page <= 0 || fstat(f->proc.fd, &st) != 0) {
        return -errno;
    }
    if (window_is_last(f, st.st_size)) {
        st.st_size = f->window_off + (off_t)f->used;
        if (ftruncate(f->proc.fd, st.st_size) != 0) {
            return -errno;
        }
    }
    else if (f->window != NULL) {
        memset(f->window + f->used, f->gap_fill, f->window_len - f->used);
    }
    drop_window(f);
    /* From the page holding the end: the window starts mid-page, right after
     * what is already there. */
    off_t off = st.st_size / page * page;
    size_t start = (size_t)(st.st_size - off);
    size_t len = pt_round_up(start + (need > WINDOW ? need : WINDOW), (size_t)page);
    int rc = allocate(f->proc.fd, st.st_size, off + (off_t)len);
    if (rc == -ENOSPC || rc == -EFBIG || rc == -EDQUOT) {
        /* Nearly full: as many pages as this entry needs, so that what fits
         * is still written. */
        len = pt_round_up(start + need, (size_t)page);
        rc = allocate(f->proc.fd, st.st_size, off + (off_t)len);
    }
    if (rc != 0) {
        return rc;
    }
    void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f->proc.fd, off);
    if (mem == MAP_FAILED) {
        int err = errno;
        if (ftruncate(f->proc.fd, st.st_size) != 0) {
            /* zeros, as above */
        }
        return -err;
    }
    f->window = mem;
    f->window_off = off;
    f->window_len = len;
    f->used = start;
    f->populated = 0;
    f->dropped = 0;
    populate_ahead(f, start + need);
    *at = f->window + f->used;
    return 0;
}

int
pt_outfile_move_to_child(struct pt_outfile *f, char **parent, size_t *parent_len)
{
    /* The window is shared with the parent's file: let go of it untouched. */
    drop_window(f);
    int parent_fd = f->proc.fd;
    f->proc.fd = -1;
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

/* Ends the window: cut off its unused rest if it is the file's last bytes,
 * or fill it with gap_fill if something was appended after it. */
static void
end_window(struct pt_outfile *f)
{
    struct stat st;
    if (f->window == NULL || f->proc.fd < 0 || fstat(f->proc.fd, &st) != 0) {
        return;
    }
    if (!window_is_last(f, st.st_size) ||
        ftruncate(f->proc.fd, f->window_off + (off_t)f->used) != 0) {
        memset(f->window + f->used, f->gap_fill, f->window_len - f->used);
    }
    drop_window(f);
}

void
pt_outfile_pause(struct pt_outfile *f)
{
    /* A forked child's window is its parent's: left alone. */
    if (pt_procfile_stale(&f->proc) || pthread_mutex_lock(&f->proc.lock) != 0) {
        return;
    }
    end_window(f);
    pthread_mutex_unlock(&f->proc.lock);
}

int
pt_outfile_drop_tail(struct pt_outfile *f, pt_data_end_fn data_end)
{
    struct stat st;
    if (fstat(f->proc.fd, &st) != 0) {
        return -errno;
    }
    if (st.st_size == 0) {
        return 0;
    }
    void *mem = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, f->proc.fd, 0);
    if (mem == MAP_FAILED) {
        return -errno;
    }
    size_t end = data_end(mem, (size_t)st.st_size);
    munmap(mem, (size_t)st.st_size);
    if (end < (size_t)st.st_size && ftruncate(f->proc.fd, (off_t)end) != 0) {
        return -errno;
    }
    return 0;
}

void
pt_outfile_close(struct pt_outfile *f)
{
    if (!pt_procfile_stale(&f->proc)) {
        end_window(f);
    }
    drop_window(f);
    if (f->proc.fd >= 0) {
        close(f->proc.fd);
        f->proc.fd = -1;
    }
    pthread_mutex_destroy(&f->proc.lock);
}
