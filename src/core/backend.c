/*
 * The table of backends; the contract is in backend.h.
 */
#include "backend.h"
#include "jitdump.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* perf looks for maps here and nowhere else. */
#define PT_MAP_DIR "/tmp"

static const struct pt_backend_info backends[] = {
    {
        .name = "perf",
        .writer = &pt_perfmap_writer,
        .file_pattern = "perf-%ld.map",
        .slot_size = NULL,
        .default_dir = PT_MAP_DIR,
        .dir_env = NULL,
        .unwind = PT_UNWIND_FP,
        .inject = false,
        .xoption = "perf",
        .env = "PYTHONPERFSUPPORT",
    },
    /* perf finds a jitdump through the process's mapping of it, wherever it
     * is, and perf inject writes its jitted-PID-N.so files beside it.  The
     * default keeps them with the maps in /tmp; PERFTRAMP_JITDUMP_DIR puts
     * both elsewhere (a directory that gathers one profiling run, say). */
    {
        .name = "perf_jit",
        .writer = &pt_jitdump_writer,
        .file_pattern = "jit-%ld.dump",
        .slot_size = pt_jitdump_slot_size,
        .default_dir = PT_MAP_DIR,
        .dir_env = "PERFTRAMP_JITDUMP_DIR",
        .unwind = PT_UNWIND_DWARF,
        .inject = true,
        .xoption = "perf_jit",
        .env = "PYTHON_PERF_JIT_SUPPORT",
    },
    /* The trampolines' code in one ELF image per process, which perf reads
     * like any shared library: DWARF unwinding with no inject.  perf opens
     * the file at report time, so it is kept out of /tmp's top level: in
     * /tmp/perftramp-EUID/ (0700, ours) unless PERFTRAMP_ELF_DIR says where
     * (record: the recording). */
    {
        .name = "perf_elf",
        .writer = &pt_elfimage_writer,
        .file_pattern = "perf-elf-%ld.so",
        .slot_size = NULL,
        .default_dir = "/tmp/perftramp",
        .dir_env = "PERFTRAMP_ELF_DIR",
        .per_user_dir = true,
        .unwind = PT_UNWIND_DWARF,
        .inject = false,
        .xoption = NULL,
        .env = NULL,
    },
#ifdef PT_TEST_BACKEND
    /* Built with -Dtest_backend=true only: a perf map under a name and in a
     * directory of the test's choosing, so that tests can check that the
     * binding and the Python package take everything from this table. */
    {
        .name = "test_map",
        .writer = &pt_perfmap_writer,
        .file_pattern = "perftramp-test-%ld.map",
        .slot_size = NULL,
        .default_dir = PT_MAP_DIR,
        .dir_env = "PERFTRAMP_TEST_MAP_DIR",
        .unwind = PT_UNWIND_FP,
        .inject = false,
        .xoption = NULL,
        .env = NULL,
    },
#endif
};

#define N_BACKENDS (sizeof(backends) / sizeof(backends[0]))

const struct pt_backend_info *
pt_backends(size_t *count)
{
    *count = N_BACKENDS;
    return backends;
}

const struct pt_backend_info *
pt_backend_find(const char *name, size_t len)
{
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < N_BACKENDS; i++) {
        /* no row's name holds a NUL, so neither can a name equal to it */
        if (strlen(backends[i].name) == len && memcmp(backends[i].name, name, len) == 0) {
            return &backends[i];
        }
    }
    return NULL;
}

size_t
pt_backend_index(const struct pt_backend_info *backend)
{
    return (size_t)(backend - backends);
}

const char *
pt_backend_dir(const struct pt_backend_info *backend)
{
    if (backend->dir_env != NULL) {
        const char *dir = getenv(backend->dir_env);
        if (dir != NULL && dir[0] != '\0') {
            return dir;
        }
    }
    return pt_backend_default_dir(backend);
}

const char *
pt_backend_default_dir(const struct pt_backend_info *backend)
{
    if (!backend->per_user_dir) {
        return backend->default_dir;
    }
    /* Rewritten only when the effective uid changed since (a concurrent
     * reader then sees the old or the new text being made). */
    static char dirs[N_BACKENDS][64];
    char *dir = dirs[pt_backend_index(backend)];
    char now[sizeof(dirs[0])];
    snprintf(now, sizeof(now), "%s-%lu", backend->default_dir, (unsigned long)geteuid());
    if (strcmp(now, dir) != 0) {
        memcpy(dir, now, sizeof(now));
    }
    return dir;
}

size_t
pt_backend_slot_size(const struct pt_backend_info *backend)
{
    return backend->slot_size != NULL ? backend->slot_size() : 0;
}

const char *
pt_unwind_name(enum pt_unwind unwind)
{
    return unwind == PT_UNWIND_DWARF ? "dwarf" : "fp";
}
