/*
 * How a trampoline is described to perf.
 *
 * perf learns which address range is which Python function from a file the
 * process writes: a perf map (/tmp/perf-PID.map) or, for DWARF unwinding, a
 * jitdump.  Each format is a writer: one struct of functions, chosen by the
 * backend name, so that the trampoline machinery above never knows which file
 * it is feeding.  Adding a format is adding a file that defines one of these.
 *
 * Every function returns 0 or a negative errno.  A writer serialises its own
 * calls; `add` may be called from several threads.
 */
#ifndef PERFTRAMP_CORE_WRITER_H
#define PERFTRAMP_CORE_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Answers whether the code at `addr` was inherited by a forked child (and so
 * must be described again in the child's own file). */
typedef int (*pt_keep_fn)(void *ctx, uintptr_t addr);

struct pt_arena;

/* A name in pieces, written one after the other ("py::", qualname, ":",
 * file name), so callers need not join them.  Any bytes: the writer escapes
 * what its format needs. */
#define PT_NAME_PARTS 4
struct pt_name {
    const char *part[PT_NAME_PARTS];
    size_t len[PT_NAME_PARTS];
    int count;
};

/* The length of a string literal, counted by the compiler ("" refuses
 * anything but a literal). */
#define PT_LITERAL_LEN(literal) (sizeof("" literal "") - 1)

/* A one-piece name. */
static inline struct pt_name
pt_name_of(const char *text, size_t len)
{
    struct pt_name name = {.part = {text}, .len = {len}, .count = 1};
    return name;
}

struct pt_writer_ops {
    const char *name;
    /* Opens the file for process `pid` in directory `dir`, named by
     * `pattern` with %ld for the pid (the backend's: see backend.h; it must
     * outlive the state, for the move to a forked child's file).  keep()
     * tells, in a forked child, which entries describe inherited code (see
     * outfile.h). */
    int (*open)(void **state, const char *dir, const char *pattern, pid_t pid,
                pt_keep_fn keep, void *keep_ctx);
    /* For a format whose file holds the code itself (NULL for the others):
     * makes the arena's chunks come from the file (pt_arena_set_source),
     * right after open(), before any stub is handed out. */
    int (*attach_arena)(void *state, struct pt_arena *arena);
    /* Describes the code at [addr, addr+size) as `name`. */
    int (*add)(void *state, uintptr_t addr, size_t size, const struct pt_name *name);
    /* In a forked child: moves to the child's own file now, rather than at
     * the first add(), so that inherited code is described even if the
     * child makes none.  Does nothing in the process that opened the file. */
    int (*after_fork)(void *state);
    /* Trims the file to the entries written so far and lets go of what was
     * reserved after them, so that another writer of the same file (CPython's
     * own backend, when ours is switched off) appends right after them.
     * Later adds go on as before. */
    void (*pause)(void *state);
    /* The file being written (for messages). */
    const char *(*path)(const void *state);
    void (*close)(void *state);
};

extern const struct pt_writer_ops pt_perfmap_writer;
extern const struct pt_writer_ops pt_jitdump_writer;
extern const struct pt_writer_ops pt_elfimage_writer;

#endif
