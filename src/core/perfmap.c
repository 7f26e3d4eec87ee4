/*
 * The perf map writer: /tmp/perf-PID.map, one line per trampoline,
 *
 *     START SIZE NAME\n
 *
 * START and SIZE in hexadecimal without 0x, as perf's map parser reads them.
 *
 * Lines go into the file's shared-mapping window (outfile.h): no system
 * call per line, and a killed process leaves every line it wrote.  Another
 * writer may append to the same file (CPython 3.12+'s own backend does, with
 * O_APPEND): windows start at the file's end, so their lines land after
 * ours, never inside a window; a window that could not be trimmed because of
 * them has its rest filled with newlines, empty lines to perf.
 *
 * A map this process left unclosed (exec of the same pid) ends in the NUL
 * rest of its last window: opening cuts it off, down to the last complete
 * line, so that our lines, or another writer's, follow the data directly
 * (perf stops reading a map at a NUL; lines after one are lost).
 *
 * Fork: see outfile.h.  The child gets a fresh file holding the lines of
 * every stub it inherited (keep() filters out lines the parent wrote after
 * the fork) and drops the window it shares with the parent.
 */
#include "escape.h"
#include "outfile.h"
#include "writer.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct perfmap {
    struct pt_outfile file;
};
/* pt_procfile_path() reads the state as its first member. */
_Static_assert(offsetof(struct perfmap, file) == 0, "outfile first");

/* After the last newline: the NUL rest of an unclosed window and any line
 * cut short with it go. */
static size_t
map_data_end(const char *data, size_t len)
{
    while (len > 0 && data[len - 1] != '\n') {
        len--;
    }
    return len;
}

static int
perfmap_open(void **state, const char *dir, const char *pattern, pid_t pid,
             pt_keep_fn keep, void *keep_ctx)
{
    struct perfmap *map = calloc(1, sizeof(*map));
    if (map == NULL) {
        return -ENOMEM;
    }
    int rc = pt_outfile_open(&map->file, dir, pattern, pid, keep, keep_ctx);
    if (rc != 0) {
        free(map);
        return rc;
    }
    rc = pt_outfile_drop_tail(&map->file, map_data_end);
    if (rc != 0) {
        pt_outfile_close(&map->file);
        free(map);
        return rc;
    }
    /* the rest of a window that cannot be cut off reads as empty lines */
    map->file.gap_fill = '\n';
    *state = map;
    return 0;
}

/* Appends to `out` the lines of buf[0..len) whose start address keep()
 * accepts; returns the new length of out (out has room for len bytes).  NUL
 * bytes (unused window space) separate lines like newlines. */
static size_t
filter_lines(const char *buf, size_t len, char *out, pt_keep_fn keep, void *ctx)
{
    size_t kept = 0, pos = 0;
    while (pos < len) {
        if (buf[pos] == '\0' || buf[pos] == '\n') {
            pos++;
            continue;
        }
        size_t end = pos;
        while (end < len && buf[end] != '\n' && buf[end] != '\0') {
            end++;
        }
        if (end == len || buf[end] != '\n') {
            pos = end; /* unterminated: was being written at the fork */
            continue;
        }
        char *num_end = NULL;
        errno = 0;
        unsigned long long addr = strtoull(buf + pos, &num_end, 16);
        if (errno == 0 && num_end != buf + pos && *num_end == ' ' &&
            keep(ctx, (uintptr_t)addr)) {
            memcpy(out + kept, buf + pos, end + 1 - pos);
            kept += end + 1 - pos;
        }
        pos = end + 1;
    }
    return kept;
}

/* Lock held. */
static int
move_to_child(void *writer)
{
    struct perfmap *map = writer;
    char *parent = NULL;
    size_t parent_len = 0;
    int rc = pt_outfile_move_to_child(&map->file, &parent, &parent_len);
    if (rc != 0) {
        return rc;
    }
    char *at;
    rc = pt_outfile_reserve(&map->file, parent_len + 1, &at);
    if (rc == 0) {
        pt_outfile_commit(&map->file,
                          filter_lines(parent, parent_len, at, map->file.proc.keep,
                                       map->file.proc.keep_ctx));
    }
    free(parent);
    return rc;
}

static char *
put_hex(char *p, uint64_t v)
{
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 0xf];
        v >>= 4;
    } while (v != 0);
    while (n > 0) {
        *p++ = tmp[--n];
    }
    return p;
}

/* "START SIZE " at most: two 16-digit numbers and two spaces. */
#define PREFIX_MAX 34

static int
perfmap_add(void *state, uintptr_t addr, size_t size, const struct pt_name *name)
{
    struct perfmap *map = state;
    size_t need = PREFIX_MAX + 1;
    for (int i = 0; i < name->count; i++) {
        need += PT_ESCAPED_MAX(name->len[i]);
    }

    int rc = pt_procfile_lock(&map->file.proc, move_to_child, map);
    if (rc != 0) {
        return rc;
    }
    char *start;
    rc = pt_outfile_reserve(&map->file, need, &start);
    if (rc == 0) {
        char *p = put_hex(start, addr);
        *p++ = ' ';
        p = put_hex(p, size);
        *p++ = ' ';
        for (int i = 0; i < name->count; i++) {
            p += pt_escape_name(name->part[i], name->len[i], p,
                                PT_ESCAPED_MAX(name->len[i]));
        }
        *p++ = '\n';
        pt_outfile_commit(&map->file, (size_t)(p - start));
    }
    pt_procfile_unlock(&map->file.proc);
    return rc;
}

static int
perfmap_after_fork(void *state)
{
    struct perfmap *map = state;
    return pt_procfile_after_fork(&map->file.proc, move_to_child, map);
}

static void
perfmap_pause(void *state)
{
    struct perfmap *map = state;
    pt_outfile_pause(&map->file);
}

static void
perfmap_close(void *state)
{
    struct perfmap *map = state;
    if (map == NULL) {
        return;
    }
    pt_outfile_close(&map->file);
    free(map);
}

const struct pt_writer_ops pt_perfmap_writer = {
    .name = "perf map",
    .open = perfmap_open,
    .add = perfmap_add,
    .after_fork = perfmap_after_fork,
    .pause = perfmap_pause,
    .path = pt_procfile_path,
    .close = perfmap_close,
};
