/*
 * The file a writer fills, and what happens to it across fork().
 *
 * A forked child must not write into its parent's file: perf reads
 * /tmp/perf-CHILDPID.map for the child's samples, and two processes writing
 * one file without a shared lock corrupt it.  The child may run Python code
 * (at-fork callbacks) before anything tells perftramp it was forked, so the
 * writers notice by themselves: a pthread_atfork handler bumps a generation
 * counter in the child, every write compares it with the file's, and the
 * first write in a new generation moves to the child's own file first,
 * carrying over what the child inherited.  A child that never makes a
 * trampoline (fork + exec) creates no file.
 *
 * Writing: entries go into a shared mapping of the file (MAP_SHARED), a
 * window reserved at the file's end with ftruncate.  An entry costs a few
 * stores and no system call, and is in the page cache, so in the file, the
 * moment it is written: a process killed by any signal leaves every entry it
 * finished, followed by the unused rest of the window as NUL bytes, which
 * both of perf's readers take as the end (a perf map line they skip, a
 * jitdump record of size 0 that ends the file).  A full window is trimmed to
 * its data before the next one is mapped from there, so data has no gaps;
 * pausing (deactivation) and closing trim the last, so that another writer
 * appending to the file (CPython's own backend) appends right after our
 * data.  A process that ends without closing (a crash, os._exit, exec)
 * leaves the NUL rest; whoever opens the file next in this process (after an
 * exec, the new image) cuts it off first (pt_outfile_drop_tail).
 *
 * A window's blocks are allocated before it is used (fallocate), so a full
 * filesystem or RLIMIT_FSIZE is an error from pt_outfile_reserve, never a
 * SIGBUS on a store into the window.  Near the limit windows shrink to what
 * one entry needs, so that everything that fits is written.  Pages are made
 * writable 64 KiB ahead of the data in one system call
 * (MADV_POPULATE_WRITE), not by a fault each.
 *
 * The part that follows the process across fork() (struct pt_procfile: the
 * file's place, descriptor, lock and generation) serves the ELF image's
 * writer too (elfimage.c), whose file is no window.  The lock is the
 * writer's: the pt_outfile functions expect it held.
 */
#ifndef PERFTRAMP_CORE_OUTFILE_H
#define PERFTRAMP_CORE_OUTFILE_H

#include "writer.h"

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

/* A file of one process (perf-PID.map, jit-PID.dump, perf-elf-PID.so) and
 * the lock of its writer: what every writer, this file's and the ELF
 * image's, keeps to move to a forked child's own file. */
struct pt_procfile {
    pthread_mutex_t lock;
    int fd;
    unsigned generation; /* pt_fork_generation() when fd was opened */
    const char *pattern; /* file name with %ld for the pid */
    pt_keep_fn keep;
    void *keep_ctx;
    char dir[PATH_MAX];
    char path[PATH_MAX];
};

/* Increases in a child each time the process forks, once pt_fork_watch()
 * has run (pt_procfile_init calls it; 0 or -errno). */
unsigned pt_fork_generation(void);
int pt_fork_watch(void);

/* Starts the fork watch, remembers dir, pattern and keep for the move after
 * a fork, and makes the lock; no file yet (fd -1).  0 or -errno (nothing to
 * undo). */
int pt_procfile_init(struct pt_procfile *p, const char *dir, const char *pattern,
                     pt_keep_fn keep, void *keep_ctx);

/* Sets p->path to dir/pattern(pid), and name (name_size bytes) to the file's
 * name in dir.  0 or -ENAMETOOLONG. */
int pt_procfile_name(struct pt_procfile *p, pid_t pid, char *name, size_t name_size);

/* Records fd as the file of this process, as it is now (since its last
 * fork). */
void pt_procfile_opened(struct pt_procfile *p, int fd);

/* Whether the process forked since the file was opened. */
static inline int
pt_procfile_stale(const struct pt_procfile *p)
{
    return p->generation != pt_fork_generation();
}

/* The writer's move to a forked child's own file (lock held). */
typedef int (*pt_move_fn)(void *writer);

/* Takes the lock.  In a forked child (the first call there) the lock is made
 * anew first, since its holder may not have come along, and move(writer)
 * runs, once: the generation is brought up to date before it.  0 with the
 * lock held, or -errno without it (-EBADF when there is no file, a move
 * having failed). */
int pt_procfile_lock(struct pt_procfile *p, pt_move_fn move, void *writer);
void pt_procfile_unlock(struct pt_procfile *p);

/* A writer's after_fork: the move, now, if this is a forked child. */
int pt_procfile_after_fork(struct pt_procfile *p, pt_move_fn move, void *writer);

/* A writer's path(), for writers whose state starts with a pt_procfile (or
 * a pt_outfile). */
const char *pt_procfile_path(const void *writer_state);

struct pt_outfile {
    struct pt_procfile proc; /* first: pt_procfile_path() reads it there */
    char *window;            /* MAP_SHARED, [window_off, window_off + window_len) */
    off_t window_off;
    size_t window_len;
    size_t used;      /* bytes of the window holding data */
    size_t populated; /* bytes of the window made writable ahead, and */
    size_t dropped;   /* bytes behind the data let go of (populate_ahead) */
    char gap_fill;    /* written over an abandoned window's rest when the file
                       * cannot be trimmed (another writer appended after it) */
};

/* pt_procfile_init, then opens dir/pattern(pid) with pt_open_private().
 * 0 or -errno (nothing to undo). */
int pt_outfile_open(struct pt_outfile *f, const char *dir, const char *pattern, pid_t pid,
                    pt_keep_fn keep, void *keep_ctx);

/* What a writer's move (pt_move_fn) starts with: opens the forked child's
 * own file and returns the parent's content in a malloc'd buffer (the caller
 * copies what it inherited).  The parent's descriptor is closed in the
 * child.  0 or -errno; on error fd is -1 and every later write fails. */
int pt_outfile_move_to_child(struct pt_outfile *f, char **parent, size_t *parent_len);

/* Room for `need` more bytes: *at is where to write them; pt_outfile_commit
 * then counts the bytes written.  0 or -errno. */
int pt_outfile_reserve(struct pt_outfile *f, size_t need, char **at);

static inline void
pt_outfile_commit(struct pt_outfile *f, size_t len)
{
    f->used += len;
}

/* Where the data of a file ends: given the whole file, the length of its
 * complete entries (what follows is unused window space, or an entry cut
 * short by a crash). */
typedef size_t (*pt_data_end_fn)(const char *data, size_t len);

/* Cuts the file (just opened, lock not needed) down to data_end() of its
 * content.  0 or -errno. */
int pt_outfile_drop_tail(struct pt_outfile *f, pt_data_end_fn data_end);

/* Trims the window's unused rest and lets go of the window, so that another
 * writer may append cleanly; the next reserve maps a new one.  Takes the
 * lock.  Does nothing in a forked child that has not moved yet. */
void pt_outfile_pause(struct pt_outfile *f);

/* Closes the file (trimming the window's unused rest, in the process that
 * opened it) and destroys the lock. */
void pt_outfile_close(struct pt_outfile *f);

#endif
