/* The table of backends: complete rows, unique names, lookup by name, and each
 * row's writer opening the row's file in the row's directory. */
#include "backend.h"
#include "testhelp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A file name pattern with exactly one conversion, %ld. */
static int
one_pid_conversion(const char *pattern)
{
    const char *pct = strchr(pattern, '%');
    return pct != NULL && strncmp(pct, "%ld", 3) == 0 && strchr(pct + 1, '%') == NULL &&
           strchr(pattern, '/') == NULL;
}

static const struct pt_backend_info *
find(const char *name)
{
    return pt_backend_find(name, strlen(name));
}

static void
test_rows(void)
{
    size_t n = 0;
    const struct pt_backend_info *rows = pt_backends(&n);
    CHECK(rows != NULL);
    CHECK(n >= 2);
    for (size_t i = 0; i < n; i++) {
        const struct pt_backend_info *b = &rows[i];
        CHECK(b->name != NULL && b->name[0] != '\0');
        CHECK(b->writer != NULL);
        CHECK(b->writer->open != NULL && b->writer->add != NULL &&
              b->writer->after_fork != NULL && b->writer->path != NULL &&
              b->writer->close != NULL);
        CHECK(b->file_pattern != NULL && one_pid_conversion(b->file_pattern));
        CHECK(b->default_dir != NULL && b->default_dir[0] == '/');
        CHECK(b->dir_env == NULL || b->dir_env[0] != '\0');
        CHECK(b->unwind == PT_UNWIND_FP || b->unwind == PT_UNWIND_DWARF);
        /* CPython's switches come in pairs */
        CHECK((b->xoption == NULL) == (b->env == NULL));
        CHECK_EQ_INT(pt_backend_index(b), i);
        CHECK(find(b->name) == b);
        for (size_t j = 0; j < i; j++) {
            CHECK(strcmp(rows[j].name, b->name) != 0);
            CHECK(strcmp(rows[j].file_pattern, b->file_pattern) != 0);
        }
    }
}

static void
test_known_rows(void)
{
    const struct pt_backend_info *perf = find("perf");
    const struct pt_backend_info *jit = find("perf_jit");
    CHECK(perf != NULL && jit != NULL);
    if (perf == NULL || jit == NULL) {
        return;
    }
    size_t n = 0;
    const struct pt_backend_info *rows = pt_backends(&n);
    CHECK(perf == &rows[0] && jit == &rows[1]);
    CHECK(perf->writer == &pt_perfmap_writer);
    CHECK(strcmp(perf->file_pattern, "perf-%ld.map") == 0);
    CHECK(strcmp(pt_unwind_name(perf->unwind), "fp") == 0);
    CHECK(!perf->inject);
    CHECK(perf->dir_env == NULL);
    CHECK(strcmp(perf->xoption, "perf") == 0 &&
          strcmp(perf->env, "PYTHONPERFSUPPORT") == 0);
    CHECK_EQ_INT(pt_backend_slot_size(perf), 0);

    CHECK(jit->writer == &pt_jitdump_writer);
    CHECK(strcmp(jit->file_pattern, "jit-%ld.dump") == 0);
    CHECK(strcmp(pt_unwind_name(jit->unwind), "dwarf") == 0);
    CHECK(jit->inject);
    CHECK(strcmp(jit->dir_env, "PERFTRAMP_JITDUMP_DIR") == 0);
    CHECK(strcmp(jit->xoption, "perf_jit") == 0 &&
          strcmp(jit->env, "PYTHON_PERF_JIT_SUPPORT") == 0);
    CHECK(pt_backend_slot_size(jit) > 0);

    const struct pt_backend_info *test = find("test_map");
#ifdef PT_TEST_BACKEND
    CHECK(test != NULL);
    if (test != NULL) {
        CHECK(test->writer == &pt_perfmap_writer);
        CHECK(strcmp(test->file_pattern, "perftramp-test-%ld.map") == 0);
        CHECK(strcmp(test->dir_env, "PERFTRAMP_TEST_MAP_DIR") == 0);
        CHECK(test->unwind == PT_UNWIND_FP && !test->inject);
        CHECK(test->xoption == NULL && test->env == NULL);
    }
#else
    CHECK(test == NULL);
#endif
}

static void
test_bad_names(void)
{
    CHECK(find("") == NULL);
    CHECK(find("nope") == NULL);
    CHECK(find("PERF") == NULL);
    CHECK(find("per") == NULL);
    CHECK(find("perf ") == NULL);
    CHECK(find("perf_jit_") == NULL);
    CHECK(pt_backend_find(NULL, 0) == NULL);
    /* a prefix of a longer buffer is that name, not the buffer's */
    CHECK(pt_backend_find("perf_jit", 4) == find("perf"));
    /* an embedded NUL: neither "perf" nor anything else */
    CHECK(pt_backend_find("perf\0", 5) == NULL);
    CHECK(pt_backend_find("pe\0f", 4) == NULL);
    const char bad_utf8[] = "perf\xff";
    CHECK(pt_backend_find(bad_utf8, sizeof(bad_utf8) - 1) == NULL);
}

static void
test_dirs(void)
{
    const struct pt_backend_info *jit = find("perf_jit");
    const struct pt_backend_info *perf = find("perf");
    unsetenv(jit->dir_env);
    CHECK(strcmp(pt_backend_dir(jit), "/tmp") == 0);
    setenv(jit->dir_env, "", 1);
    CHECK(strcmp(pt_backend_dir(jit), "/tmp") == 0); /* empty means unset */
    setenv(jit->dir_env, "/somewhere/else", 1);
    CHECK(strcmp(pt_backend_dir(jit), "/somewhere/else") == 0);
    CHECK(strcmp(pt_backend_dir(perf), "/tmp") == 0); /* nothing moves maps */
    unsetenv(jit->dir_env);
}

static int
keep_none(void *ctx, uintptr_t addr)
{
    (void)ctx;
    (void)addr;
    return 0;
}

/* Each row's writer, opened the way the binding opens it, makes the row's
 * file and nothing else. */
static void
test_open_each(void)
{
    char dir[] = "/tmp/perftramp-backend-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    size_t n = 0;
    const struct pt_backend_info *rows = pt_backends(&n);
    for (size_t i = 0; i < n; i++) {
        const struct pt_backend_info *b = &rows[i];
        void *state = NULL;
        CHECK_EQ_INT(
            b->writer->open(&state, dir, b->file_pattern, getpid(), keep_none, NULL), 0);
        if (state == NULL) {
            continue;
        }
        char name[128], want[256];
        snprintf(name, sizeof(name), b->file_pattern, (long)getpid());
        snprintf(want, sizeof(want), "%s/%s", dir, name);
        CHECK(strcmp(b->writer->path(state), want) == 0);
        CHECK(access(want, F_OK) == 0);
        b->writer->close(state);
        CHECK_EQ_INT(unlink(want), 0);
    }
    CHECK_EQ_INT(rmdir(dir), 0); /* empty: nothing else was written */
}

int
main(void)
{
    test_rows();
    test_known_rows();
    test_bad_names();
    test_dirs();
    test_open_each();
    return TEST_REPORT("test_backend");
}
