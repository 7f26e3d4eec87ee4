/*
 * The perf map writer: /tmp/perf-PID.map, one line per trampoline,
 *
 *     START SIZE NAME\n
 *
 * START and SIZE in hexadecimal without 0x, as perf's map parser reads them.
 *
 * Lines are written into a shared mapping of the file (MAP_SHARED), a window
 * of WINDOW bytes reserved at the end with ftruncate: a line costs a few
 * stores and no system call, and is in the page cache, so in the file, the
 * moment it is written.  A process killed by any signal leaves a map naming
 * every function that ran, followed by the unused rest of the window as NUL
 * bytes, which perf's parser skips as one malformed line (checked by the
 * tests); close() trims it.  A window given up before it is full has its
 * rest filled with newlines, so the next window's first line starts a line.
 *
 * Another writer may append to the same file (CPython 3.12+'s own backend
 * does, with O_APPEND): a new window always starts at the file's current
 * end, so their lines land after ours, never inside our window, and the file
 * is trimmed at close only if nobody wrote after the window.
 *
 * Fork: see outfile.h.  The child gets a fresh file holding the lines of
 * every stub it inherited (keep() filters out lines the parent wrote after
 * the fork) and drops the window it shares with the parent.
 */
#include "escape.h"
#include "fileio.h"
#include "outfile.h"
#include "writer.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WINDOW (1u << 20)

struct perfmap {
    struct pt_outfile file;
    char *window;
    off_t window_off;
    size_t window_len;
    size_t used; /* bytes of the window holding lines */
};
/* pt_outfile_path() reads the state as its first member. */
_Static_assert(offsetof(struct perfmap, file) == 0, "outfile first");

static size_t
round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

static void
drop_window(struct perfmap *map)
{
    if (map->window != NULL) {
        munmap(map->window, map->window_len);
        map->window = NULL;
    }
}

/* Makes room for `need` bytes, mapping a new window from the file's end (the
 * page holding the end: the window then starts mid-page, right after what is
 * already there). */
static int
reserve(struct perfmap *map, size_t need)
{
    if (map->window != NULL && map->used + need <= map->window_len) {
        return 0;
    }
    long page = sysconf(_SC_PAGESIZE);
    struct stat st;
    if (page <= 0 || fstat(map->file.fd, &st) != 0) {
        return -errno;
    }
    if (map->window != NULL) {
        /* Give up the rest of the full window: newlines, so that it reads as
         * empty lines and whatever follows starts a line. */
        memset(map->window + map->used, '\n', map->window_len - map->used);
        map->used = map->window_len;
    }
    off_t off = st.st_size / page * page;
    size_t start = (size_t)(st.st_size - off);
    size_t len = round_up(start + (need > WINDOW ? need : WINDOW), (size_t)page);
    if (ftruncate(map->file.fd, off + (off_t)len) != 0) {
        return -errno;
    }
    /* MAP_POPULATE: one system call brings in the window's pages, instead of
     * a page fault every hundred lines. */
    void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                     map->file.fd, off);
    if (mem == MAP_FAILED) {
        return -errno;
    }
    drop_window(map);
    map->window = mem;
    map->window_off = off;
    map->window_len = len;
    map->used = start;
    return 0;
}

/* Trims the unused tail of the window, unless someone appended after it. */
static void
trim(struct perfmap *map)
{
    struct stat st;
    if (map->window != NULL && map->file.fd >= 0 && fstat(map->file.fd, &st) == 0 &&
        st.st_size == map->window_off + (off_t)map->window_len) {
        if (ftruncate(map->file.fd, map->window_off + (off_t)map->used) != 0) {
            /* the NUL tail stays; perf skips it */
        }
    }
}

static int
perfmap_open(void **state, const char *dir, pid_t pid, pt_keep_fn keep, void *keep_ctx)
{
    struct perfmap *map = calloc(1, sizeof(*map));
    if (map == NULL) {
        return -ENOMEM;
    }
    int rc = pt_outfile_open(&map->file, dir, "perf-%ld.map", pid, keep, keep_ctx);
    if (rc != 0) {
        free(map);
        return rc;
    }
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
    /* The window is shared with the parent's file: let go of it untouched. */
    if (map->window != NULL) {
        munmap(map->window, map->window_len);
        map->window = NULL;
    }
    char *parent = NULL;
    size_t parent_len = 0;
    int rc = pt_outfile_move_to_child(&map->file, &parent, &parent_len);
    if (rc != 0) {
        return rc;
    }
    rc = reserve(map, parent_len + 1);
    if (rc == 0) {
        map->used += filter_lines(parent, parent_len, map->window + map->used,
                                  map->file.keep, map->file.keep_ctx);
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

    int rc = pt_outfile_lock(&map->file, move_to_child, map);
    if (rc != 0) {
        return rc;
    }
    rc = reserve(map, need);
    if (rc == 0) {
        char *start = map->window + map->used;
        char *p = put_hex(start, addr);
        *p++ = ' ';
        p = put_hex(p, size);
        *p++ = ' ';
        for (int i = 0; i < name->count; i++) {
            p += pt_escape_name(name->part[i], name->len[i], p, PT_ESCAPED_MAX(name->len[i]));
        }
        *p++ = '\n';
        map->used += (size_t)(p - start);
    }
    pt_outfile_unlock(&map->file);
    return rc;
}

static int
perfmap_after_fork(void *state)
{
    struct perfmap *map = state;
    return pt_outfile_after_fork(&map->file, move_to_child, map);
}

static void
perfmap_close(void *state)
{
    struct perfmap *map = state;
    if (map == NULL) {
        return;
    }
    if (!pt_outfile_stale(&map->file)) {
        trim(map);
    }
    drop_window(map);
    pt_outfile_close(&map->file);
    free(map);
}

const struct pt_writer_ops pt_perfmap_writer = {
    .name = "perf map",
    .file_pattern = "perf-%ld.map",
    .open = perfmap_open,
    .add = perfmap_add,
    .after_fork = perfmap_after_fork,
    .path = pt_outfile_path,
    .close = perfmap_close,
};
