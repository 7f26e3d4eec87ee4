/*
 * The backends: everything perftramp knows about each one, in one table.
 *
 * A backend is what a user names ("perf", "perf_jit") to say how perf should
 * learn about trampolines.  Each name brings a writer (the file format), the
 * file's name and directory, how far apart stubs must be, and what perf then
 * needs: which unwinder, and whether `perf inject --jit` must run.  All of it
 * is one row of constant data per backend, so that the binding, the CLI and
 * the writers cannot disagree about a backend: the binding reads the rows
 * (and keeps the run-time state beside them, one entry per row), the Python
 * package reads them through it.  Adding a backend is adding a row.
 *
 * The file name lives in the row rather than in the writer: one writer can
 * serve several rows (the test build's "test_map" row writes a perf map under
 * another name), so the row hands it to the writer's open().
 */
#ifndef PERFTRAMP_CORE_BACKEND_H
#define PERFTRAMP_CORE_BACKEND_H

#include "writer.h"

#include <stdbool.h>
#include <stddef.h>

/* How perf must walk the native stack through the trampolines. */
enum pt_unwind {
    PT_UNWIND_FP,    /* frame pointers: perf record -g */
    PT_UNWIND_DWARF, /* copied stack + CFI: perf record --call-graph dwarf */
};

struct pt_backend_info {
    const char *name;
    const struct pt_writer_ops *writer;
    /* The file's name in its directory, with one %ld for the pid; given to
     * writer->open(). */
    const char *file_pattern;
    /* The distance between stubs the format needs (see pt_arena_new()), or
     * NULL for the arena's default packing. */
    size_t (*slot_size)(void);
    /* The file's directory: dir_env's value when that is set and not empty,
     * default_dir otherwise.  dir_env is NULL when nothing overrides it
     * (perf reads maps from /tmp only). */
    const char *default_dir;
    const char *dir_env;
    /* default_dir is a prefix: the directory is default_dir-EUID, one per
     * user (made 0700 by the writer), so that /tmp gets one entry per user
     * and no file of ours. */
    bool per_user_dir;
    enum pt_unwind unwind;
    bool inject; /* perf inject --jit must turn the file into ELF images */
    /* CPython's switches that ask for this backend: the -X option's name and
     * the environment variable (set to a non-empty value).  NULL when CPython
     * has none for it. */
    const char *xoption;
    const char *env;
};

/* Every backend, in a fixed order (the order of the Python-level list);
 * *count receives how many.  The array is never empty. */
const struct pt_backend_info *pt_backends(size_t *count);

/* The row named by exactly the `len` bytes at `name` (which need not be
 * NUL-terminated; no row's name holds a NUL, so a name with one is
 * unknown), or NULL for a name that is no backend's (or a NULL name).  The
 * one place a backend name is parsed. */
const struct pt_backend_info *pt_backend_find(const char *name, size_t len);

/* The row's position in pt_backends(), for arrays kept parallel to it. */
size_t pt_backend_index(const struct pt_backend_info *backend);

/* The directory the backend's file goes in now (reads the environment). */
const char *pt_backend_dir(const struct pt_backend_info *backend);

/* The default directory (default_dir, or default_dir-EUID for a
 * per_user_dir row; that string lives in static storage, one per row). */
const char *pt_backend_default_dir(const struct pt_backend_info *backend);

/* The stub spacing to give pt_arena_new(): 0 for the default. */
size_t pt_backend_slot_size(const struct pt_backend_info *backend);

/* "fp" or "dwarf". */
const char *pt_unwind_name(enum pt_unwind unwind);

#endif
