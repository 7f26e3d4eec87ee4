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
    int rc = pid == getpid() ? drop_stale_content(fd) : 0;
    if (rc != 0) {
        close(fd);
        return rc;
    }
    f->fd = fd;
    f->generation = pt_fork_generation();
    return 0;
}

int
pt_outfile_open(struct pt_outfile *f, const char *dir, const char *pattern, pid_t pid,
                pt_keep_fn keep, void *keep_ctx)
{
    int watched = pt_fork_watch();
    if (watched != 0) {
        return watched;
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
    int rc = pthread_mutex_init(&f->lock, NULL);
    if (rc != 0) {
        return -rc;
    }
    rc = open_for_pid(f, pid);
    if (rc != 0) {
        pthread_mutex_destroy(&f->lock);
    }
    return rc;
}

int
pt_outfile_lock(struct pt_outfile *f, pt_move_fn move, void *writer)
{
    int stale = pt_outfile_stale(f);
    if (stale) {
        /* A forked child has one thread: this one. */
        pthread_mutex_init(&f->lock, NULL);
    }
    int rc = pthread_mutex_lock(&f->lock);
    if (rc != 0) {
        return -rc;
    }
    if (stale) {
        rc = move(writer);
    }
    if (rc == 0 && f->fd < 0) {
        rc = -EBADF;
    }
    if (rc != 0) {
        pthread_mutex_unlock(&f->lock);
    }
    return rc;
}

void
pt_outfile_unlock(struct pt_outfile *f)
{
    pthread_mutex_unlock(&f->lock);
}

int
pt_outfile_after_fork(struct pt_outfile *f, pt_move_fn move, void *writer)
{
    if (!pt_outfile_stale(f)) {
        return 0;
    }
    int rc = pt_outfile_lock(f, move, writer);
    if (rc == 0) {
        pt_outfile_unlock(f);
    }
    return rc;
}

const char *
pt_outfile_path(const void *writer_state)
{
    return ((const struct pt_outfile *)writer_state)->path;
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
 * being its current end.
 *
 * A store into a page of a shared mapping that the filesystem has no block
 * for (a hole made by ftruncate) faults when no block can be found: SIGBUS,
 * which kills the program.  Blocks reserved here first turn a full disk, a
 * quota or RLIMIT_FSIZE into an error return instead.  fallocate() does it
 * in one call on most filesystems (ext4, xfs, btrfs, tmpfs); where it is not
 * supported (EOPNOTSUPP: e.g. some network and FUSE filesystems) zeros are
 * written, which allocates just as surely.  posix_fallocate() would do that
 * too, but glibc's refuses an O_APPEND descriptor, and ours is one; on it
 * write() appends at the end, which is `from`.  A failure leaves the file
 * `from` bytes long again (fallocate may have grown it part of the way). */
static int
allocate(int fd, off_t from, off_t to)
{
    int err;
    do {
        err = fallocate(fd, 0, from, to - from) == 0 ? 0 : errno;
    } while (err == EINTR);
    if (err == EOPNOTSUPP || err == ENOSYS) {
        static const char zeros[65536];
        err = 0;
        for (off_t at = from; at < to && err == 0;) {
            size_t n = to - at < (off_t)sizeof(zeros) ? (size_t)(to - at) : sizeof(zeros);
            ssize_t put = write(fd, zeros, n);
            if (put > 0) {
                at += put;
            }
            else if (put == 0) {
                err = ENOSPC;
            }
            else if (errno != EINTR) {
                err = errno;
            }
        }
    }
    if (err != 0) {
        if (ftruncate(fd, from) != 0) {
            /* the file stays longer, with zeros the readers take as its end */
        }
        return -err;
    }
    return 0;
}

/* Makes the window's pages up to `end` (and a step beyond) writable in one
 * system call.  A store into a page of a shared file mapping would
 * otherwise fault twice on ext4 (in, then page_mkwrite), every 4 KiB: a
 * fifth of a first call's time was spent there.  Stepped rather than the
 * whole window at once, which would make 1 MiB resident for a process that
 * names a few functions.  Where the kernel lacks it (EINVAL before 5.14) or
 * refuses, stores fault as before: nothing is lost, and it is not asked
 * again for this window. */
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
    if (page <= 0 || fstat(f->fd, &st) != 0) {
        return -errno;
    }
    if (window_is_last(f, st.st_size)) {
        st.st_size = f->window_off + (off_t)f->used;
        if (ftruncate(f->fd, st.st_size) != 0) {
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
    int rc = allocate(f->fd, st.st_size, off + (off_t)len);
    if (rc == -ENOSPC || rc == -EFBIG || rc == -EDQUOT) {
        /* Nearly full: as many pages as this entry needs, so that what fits
         * is still written. */
        len = pt_round_up(start + need, (size_t)page);
        rc = allocate(f->fd, st.st_size, off + (off_t)len);
    }
    if (rc != 0) {
        return rc;
    }
    void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, off);
    if (mem == MAP_FAILED) {
        int err = errno;
        if (ftruncate(f->fd, st.st_size) != 0) {
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

/* Ends the window: cut off its unused rest if it is the file's last bytes,
 * or fill it with gap_fill if something was appended after it. */
static void
end_window(struct pt_outfile *f)
{
    struct stat st;
    if (f->window == NULL || f->fd < 0 || fstat(f->fd, &st) != 0) {
        return;
    }
    if (!window_is_last(f, st.st_size) ||
        ftruncate(f->fd, f->window_off + (off_t)f->used) != 0) {
        memset(f->window + f->used, f->gap_fill, f->window_len - f->used);
    }
    drop_window(f);
}

void
pt_outfile_pause(struct pt_outfile *f)
{
    /* A forked child's window is its parent's: left alone. */
    if (pt_outfile_stale(f) || pthread_mutex_lock(&f->lock) != 0) {
        return;
    }
    end_window(f);
    pthread_mutex_unlock(&f->lock);
}

int
pt_outfile_drop_tail(struct pt_outfile *f, pt_data_end_fn data_end)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        return -errno;
    }
    if (st.st_size == 0) {
        return 0;
    }
    void *mem = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, f->fd, 0);
    if (mem == MAP_FAILED) {
        return -errno;
    }
    size_t end = data_end(mem, (size_t)st.st_size);
    munmap(mem, (size_t)st.st_size);
    if (end < (size_t)st.st_size && ftruncate(f->fd, (off_t)end) != 0) {
        return -errno;
    }
    return 0;
}

void
pt_outfile_close(struct pt_outfile *f)
{
    if (!pt_outfile_stale(f)) {
        end_window(f);
    }
    drop_window(f);
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    pthread_mutex_destroy(&f->lock);
}
