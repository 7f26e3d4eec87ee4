/*
 * Stack folding; the contract is in fold.h.
 *
 * Memory: one growable line buffer, one scratch buffer for the current
 * sample's frames, and per view an open-addressing hash table of distinct
 * stacks; the keys of both live in one growable arena.
 */
#include "fold.h"
#include "waits.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct buf {
    char *data;
    size_t len, cap;
};

static int
buf_reserve(struct buf *b, size_t extra)
{
    if (b->len + extra <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) {
        cap *= 2;
    }
    char *data = realloc(b->data, cap);
    if (data == NULL) {
        return -ENOMEM;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static int
buf_append(struct buf *b, const char *s, size_t n)
{
    if (n == 0) {
        return 0; /* b->data may be NULL yet: no memcpy into it */
    }
    int rc = buf_reserve(b, n);
    if (rc == 0) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
    }
    return rc;
}

/* Room for one more item in an array of `count` items of `size` bytes with
 * room for *cap, doubling it (from `first`) when full: the array, perhaps
 * moved, or NULL with the old one left as it was. */
static void *
room_for_one(void *items, size_t count, size_t *cap, size_t size, size_t first)
{
    if (count < *cap) {
        return items;
    }
    size_t more = *cap ? 2 * *cap : first;
    void *grown = realloc(items, more * size);
    if (grown != NULL) {
        *cap = more;
    }
    return grown;
}

/* A frame of the current sample: offsets into fold->frames_text. */
struct frame {
    size_t ip, ip_len, sym, sym_len, dso, dso_len;
    uint64_t address; /* of its function's start where perf said its offset */
    int inlined;
    int kernel;
};

/* A distinct stack of a view: its key in the keys arena is the event's
 * name then the stack; the thread is part of what makes it distinct.  In
 * the frames table (options.frames), the key is a frame's name, `period`
 * its address and aux/aux_len its object, in the same arena. */
struct entry {
    uint64_t hash;
    size_t key; /* offset into keys; SIZE_MAX when empty */
    size_t key_len, event_len;
    long pid, tid;
    uint64_t count, period;
    size_t aux, aux_len;
};

struct table {
    struct entry *slots;
    size_t cap, used;
};

#define NVIEWS 2

struct pt_fold {
    const char *const *internal;
    size_t max_stack;
    struct buf line;
    struct buf comm;
    struct buf frames_text;
    struct frame *frames;
    size_t nframes, frames_cap;
    int in_sample;
    struct buf key;
    struct buf keys;
    struct table tables[NVIEWS];
    struct table frame_table; /* cap 0 unless options.frames */
    uint64_t samples, truncated;
    long pid;         /* the current sample's process, -1 when its header has none */
    long tid;         /* its thread, -1 when its header has none */
    struct buf event; /* its event's name, "" when its header has none */
    uint64_t period, time_ns; /* its period (1 when none) and time (0: none) */
    uint64_t first_ns, last_ns, start_ns, end_ns;
    int seen_time;
    int offcpu;            /* options.offcpu */
    struct pt_waits waits; /* with it: the threads off the CPU */
    struct pt_fold_process *procs;
    size_t nprocs, procs_cap, last_proc;
};

static const char *const default_internal[] = {"python", "libpython", "_perftramp", NULL};
static const char *const start_frames[] = {PT_FOLD_START_FRAMES, NULL};
static const char *const kept_frames[] = {PT_FOLD_KEPT_FRAMES, NULL};

/* What perf script prints for a function or an object it cannot name. */
#define UNKNOWN "[unknown]"
#define UNKNOWN_LEN (sizeof(UNKNOWN) - 1)

static int
table_init(struct table *t, size_t cap)
{
    t->slots = malloc(cap * sizeof(*t->slots));
    if (t->slots == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < cap; i++) {
        t->slots[i].key = SIZE_MAX;
    }
    t->cap = cap;
    t->used = 0;
    return 0;
}

int
pt_fold_new(struct pt_fold **out, const struct pt_fold_options *options)
{
    struct pt_fold *fold = calloc(1, sizeof(*fold));
    if (fold == NULL) {
        return -ENOMEM;
    }
    fold->internal = options && options->internal_prefixes ? options->internal_prefixes
                                                           : default_internal;
    fold->max_stack = options ? options->max_stack : 0;
    fold->start_ns = options ? options->start_ns : 0;
    fold->end_ns = options ? options->end_ns : 0;
    fold->offcpu = options ? options->offcpu : 0;
    for (int v = 0; v < NVIEWS; v++) {
        if (table_init(&fold->tables[v], 1024) != 0) {
            pt_fold_free(fold);
            return -ENOMEM;
        }
    }
    if (options && options->frames && table_init(&fold->frame_table, 1024) != 0) {
        pt_fold_free(fold);
        return -ENOMEM;
    }
    *out = fold;
    return 0;
}

static uint64_t
fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int
grow_table(struct table *t)
{
    struct table bigger;
    int rc = table_init(&bigger, t->cap * 2);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < t->cap; i++) {
        struct entry *e = &t->slots[i];
        if (e->key == SIZE_MAX) {
            continue;
        }
        size_t j = e->hash & (bigger.cap - 1);
        while (bigger.slots[j].key != SIZE_MAX) {
            j = (j + 1) & (bigger.cap - 1);
        }
        bigger.slots[j] = *e;
    }
    bigger.used = t->used;
    free(t->slots);
    *t = bigger;
    return 0;
}

/* The entry of `key` (len bytes, event_len of them the event's name) and
 * the thread pid/tid in table `t`, added with nothing counted when it is
 * not there yet (*added set); NULL on -ENOMEM. */
static struct entry *
find_or_add(struct pt_fold *fold, struct table *t, const char *key, size_t len,
            size_t event_len, long pid, long tid, int *added)
{
    *added = 0;
    if ((t->used + 1) * 4 > t->cap * 3 && grow_table(t) != 0) {
        return NULL;
    }
    uint64_t h = fnv1a(key, len) ^ ((uint64_t)pid * 0x9e3779b97f4a7c15ull) ^
                 ((uint64_t)tid * 0xc2b2ae3d27d4eb4full);
    size_t j = h & (t->cap - 1);
    while (t->slots[j].key != SIZE_MAX) {
        struct entry *e = &t->slots[j];
        if (e->hash == h && e->key_len == len && e->event_len == event_len &&
            e->pid == pid && e->tid == tid &&
            memcmp(fold->keys.data + e->key, key, len) == 0) {
            return e;
        }
        j = (j + 1) & (t->cap - 1);
    }
    size_t at = fold->keys.len;
    if (buf_append(&fold->keys, key, len) != 0) {
        return NULL;
    }
    t->slots[j] = (struct entry){.hash = h,
                                 .key = at,
                                 .key_len = len,
                                 .event_len = event_len,
                                 .pid = pid,
                                 .tid = tid};
    t->used++;
    *added = 1;
    return &t->slots[j];
}

/* a + b, at most INT64_MAX */
static uint64_t
add_capped(uint64_t a, uint64_t b)
{
    return a > (uint64_t)INT64_MAX - b || b > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX
                                                                  : a + b;
}

/* Counts a sample of thread pid/tid with `key` (its event's name, event_len
 * bytes, then its stack) once in table `t`, with its period. */
static int
count_key(struct pt_fold *fold, struct table *t, const char *key, size_t len,
          size_t event_len, long pid, long tid, uint64_t period)
{
    int added;
    struct entry *e = find_or_add(fold, t, key, len, event_len, pid, tid, &added);
    if (e == NULL) {
        return -ENOMEM;
    }
    e->count++;
    e->period = add_capped(e->period, period);
    return 0;
}

/* Counts the current sample's stack (fold->key) once in table `t`. */
static int
count_stack(struct pt_fold *fold, struct table *t)
{
    return count_key(fold, t, fold->key.data, fold->key.len, fold->event.len, fold->pid,
                     fold->tid, fold->period);
}

static int
starts_with(const char *s, size_t n, const char *prefix)
{
    size_t p = strlen(prefix);
    return n >= p && memcmp(s, prefix, p) == 0;
}

static int
is_unknown(const char *s, size_t n)
{
    return n == UNKNOWN_LEN && memcmp(s, UNKNOWN, UNKNOWN_LEN) == 0;
}

static int
is_internal(const struct pt_fold *fold, const char *dso, size_t len)
{
    if (len == 0 || is_unknown(dso, len)) {
        return 1;
    }
    const char *base = dso;
    for (size_t i = 0; i < len; i++) {
        if (dso[i] == '/') {
            base = dso + i + 1;
        }
    }
    size_t base_len = len - (size_t)(base - dso);
    for (const char *const *p = fold->internal; *p != NULL; p++) {
        if (starts_with(base, base_len, *p)) {
            return 1;
        }
    }
    return 0;
}

/* Whether a frame is the kernel's: perf names the kernel image's object
 * "[kernel.kallsyms]" (a guest's "[guest.kernel.kallsyms]"), and a module's
 * "[module]" at a kernel address, one with the top bit set on every 64-bit
 * Linux.  An unresolved "[unknown]" stays unknown: a walk that ran off the
 * stack reads garbage such as ffffffffffffffff. */
static int
is_kernel(const char *ip, size_t ip_len, const char *dso, size_t len)
{
    if (starts_with(dso, len, "[kernel.") || starts_with(dso, len, "[guest.kernel.")) {
        return 1;
    }
    int kernel_address = ip_len == 16 && ((ip[0] >= '8' && ip[0] <= '9') ||
                                          (ip[0] >= 'a' && ip[0] <= 'f'));
    int module = len > 2 && dso[0] == '[' && dso[len - 1] == ']' && !is_unknown(dso, len);
    return kernel_address && module;
}

/* Whether `sym`, up to the first `cut` character in it, is one of the
 * NULL-ended `names`. */
static int
is_one_of(const char *const *names, const char *sym, size_t len, char cut)
{
    const char *at = memchr(sym, cut, len);
    if (at != NULL) {
        len = (size_t)(at - sym);
    }
    for (const char *const *p = names; *p != NULL; p++) {
        if (strlen(*p) == len && memcmp(sym, *p, len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Whether the interpreter's function `sym` stays in the default view:
 * PT_FOLD_KEPT_FRAMES, a compiler's clone too ("take_gil.lto_priv.0"). */
static int
is_kept(const char *sym, size_t len)
{
    return is_one_of(kept_frames, sym, len, '.');
}

/* Whether `sym` is one of PT_FOLD_START_FRAMES, up to a symbol version. */
static int
is_start(const char *sym, size_t len)
{
    return is_one_of(start_frames, sym, len, '@');
}

/* Where the base name of the path `dso` (len bytes) starts. */
static size_t
base_name_at(const char *dso, size_t len)
{
    size_t base = len;
    while (base > 0 && dso[base - 1] != '/') {
        base--;
    }
    return base;
}

/* Whether `dso` is the C library (".../libc.so.6", ".../libc-2.31.so",
 * musl's ".../ld-musl-x86_64.so.1").  A distribution that strips its C
 * library of local symbols (Debian sid's) leaves the start frames
 * __libc_start_call_main and start_thread unnamed (see is_cut). */
static int
in_c_library(const char *dso, size_t len)
{
    size_t base = base_name_at(dso, len);
    return starts_with(dso + base, len - base, "libc.so") ||
           starts_with(dso + base, len - base, "libc-") ||
           starts_with(dso + base, len - base, "ld-musl");
}

/* Whether the C library's frame i calls code of another user-space object:
 * a start frame calls main or a thread's function; a stack cut inside the
 * C library (perf could not unwind out of it) has only the C library's
 * frames, or the kernel's, inner to it. */
static int
called_out_of_c_library(const struct pt_fold *fold, size_t i)
{
    const char *text = fold->frames_text.data;
    while (i-- > 0) {
        const struct frame *f = &fold->frames[i];
        if (!in_c_library(text + f->dso, f->dso_len)) {
            return !f->kernel && f->dso_len > 0;
        }
    }
    return 0;
}

/* Whether perf could not unwind the current sample to where its thread
 * started (fold.h). */
static int
is_cut(const struct pt_fold *fold)
{
    size_t n = fold->nframes;
    if (fold->max_stack > 0 && n >= fold->max_stack) {
        return 1;
    }
    const char *text = fold->frames_text.data;
    for (size_t i = n; i-- > 0;) {
        const struct frame *f = &fold->frames[i];
        if (is_unknown(text + f->sym, f->sym_len)) {
            if (in_c_library(text + f->dso, f->dso_len)) {
                return !called_out_of_c_library(fold, i);
            }
            continue;
        }
        return !is_start(text + f->sym, f->sym_len);
    }
    return 1;
}

/* Appends one frame (the command name included) to the key, after a ';'
 * unless it is the first (`first`), between `prefix` and `suffix` (either
 * may be "").  The collapsed format gives ';' and the line's end a meaning
 * and has no escape: a ';' inside a name becomes ':', and a byte that would
 * end or cut the line for a reader (NUL, CR, any other control byte; a
 * newline cannot reach here) becomes '?'. */
static int
append_name(struct buf *key, const char *prefix, const char *name, size_t len, int first,
            const char *suffix)
{
    size_t prefix_len = strlen(prefix), suffix_len = strlen(suffix);
    int rc = buf_reserve(key, prefix_len + len + 1 + suffix_len);
    if (rc != 0) {
        return rc;
    }
    if (!first) {
        key->data[key->len++] = ';';
    }
    memcpy(key->data + key->len, prefix, prefix_len);
    key->len += prefix_len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        int breaks_line = (c < 0x20 && c != '\t') || c == 0x7f;
        key->data[key->len++] = c == ';' ? ':' : breaks_line ? '?' : (char)c;
    }
    memcpy(key->data + key->len, suffix, suffix_len);
    key->len += suffix_len;
    return 0;
}

/* Appends frame f: its function, with the kernel's suffix when it is the
 * kernel's; an unresolved function in a known object (a stripped library's
 * static function) as "[object]", its file's base name, as flamegraph.pl's
 * stackcollapse-perf does, so that native time in it is seen where it is. */
static int
append_frame(struct pt_fold *fold, const struct frame *f)
{
    const char *text = fold->frames_text.data;
    const char *sym = text + f->sym, *dso = text + f->dso;
    if (is_unknown(sym, f->sym_len) && f->dso_len > 0 && dso[0] != '[') {
        size_t base = base_name_at(dso, f->dso_len);
        if (base < f->dso_len) {
            return append_name(&fold->key, "[", dso + base, f->dso_len - base, 0, "]");
        }
    }
    size_t k_len = strlen(PT_FOLD_KERNEL_SUFFIX);
    int suffixed = f->sym_len >= k_len &&
                   memcmp(sym + f->sym_len - k_len, PT_FOLD_KERNEL_SUFFIX, k_len) == 0;
    return append_name(&fold->key, "", sym, f->sym_len, 0,
                       f->kernel && !suffixed ? PT_FOLD_KERNEL_SUFFIX : "");
}

/* Notes, the first time the frame name just appended to the key (from
 * `at`, after its ';') is seen, frame f's object and address: the frames
 * table (options.frames) that a report naming objects reads. */
static int
note_frame(struct pt_fold *fold, const struct frame *f, size_t at)
{
    int added;
    struct entry *e = find_or_add(fold, &fold->frame_table, fold->key.data + at + 1,
                                  fold->key.len - at - 1, 0, -1, -1, &added);
    if (e == NULL) {
        return -ENOMEM;
    }
    if (!added) {
        return 0;
    }
    e->period = f->address;
    e->aux = fold->keys.len;
    e->aux_len = f->dso_len;
    return buf_append(&fold->keys, fold->frames_text.data + f->dso, f->dso_len);
}

/* Builds the current sample's stack of `view` in fold->key, after its
 * event's name.  inner_py and outer_py are its innermost and outermost
 * Python frames (n: none). */
static int
build_key(struct pt_fold *fold, enum pt_fold_view view, int cut, size_t inner_py,
          size_t outer_py)
{
    size_t n = fold->nframes;
    const char *text = fold->frames_text.data;
    fold->key.len = 0;
    int rc =
        buf_append(&fold->key, fold->event.data ? fold->event.data : "", fold->event.len);
    if (rc == 0) {
        rc = append_name(&fold->key, "", fold->comm.data ? fold->comm.data : "?",
                         fold->comm.data ? fold->comm.len : 1, 1, "");
    }
    if (rc == 0 && cut) {
        rc = append_name(&fold->key, "", PT_FOLD_TRUNCATED, strlen(PT_FOLD_TRUNCATED), 0,
                         "");
    }
    int note = view == PT_FOLD_INTERNAL && fold->frame_table.cap > 0;
    for (size_t k = n; rc == 0 && k-- > 0;) {
        const struct frame *f = &fold->frames[k];
        /* inner to the outermost Python frame: between two of them, or
         * inner to the innermost */
        int folds = inner_py != n && k < outer_py && k != inner_py;
        if (view == PT_FOLD_DEFAULT && folds && !f->kernel &&
            is_internal(fold, text + f->dso, f->dso_len) &&
            !is_kept(text + f->sym, f->sym_len)) {
            continue;
        }
        size_t at = fold->key.len;
        rc = append_frame(fold, f);
        if (rc == 0 && note) {
            rc = note_frame(fold, f, at);
        }
    }
    return rc;
}

/* Counts the current sample for its process.  A recording has a few
 * processes to thousands, and samples come in runs of one process: the last
 * one found is tried first. */
static int
count_process(struct pt_fold *fold, int cut)
{
    size_t i = fold->last_proc;
    if (i >= fold->nprocs || fold->procs[i].pid != fold->pid) {
        for (i = 0; i < fold->nprocs && fold->procs[i].pid != fold->pid; i++) {
        }
    }
    if (i == fold->nprocs) {
        struct pt_fold_process *procs =
            room_for_one(fold->procs, fold->nprocs, &fold->procs_cap, sizeof(*procs), 16);
        if (procs == NULL) {
            return -ENOMEM;
        }
        fold->procs = procs;
        fold->procs[i] = (struct pt_fold_process){.pid = fold->pid};
        fold->nprocs++;
    }
    fold->procs[i].samples++;
    fold->procs[i].truncated += (uint64_t)cut;
    fold->last_proc = i;
    return 0;
}

/* Whether a time is inside the window (options.start_ns, end_ns), which
 * is in time since the first sample. */
static int
in_window(const struct pt_fold *fold, uint64_t time_ns)
{
    uint64_t since = time_ns > fold->first_ns ? time_ns - fold->first_ns : 0;
    return since >= fold->start_ns && (fold->end_ns == 0 || since < fold->end_ns);
}

/* The current sample is its thread's switch-out (options.offcpu): its
 * stacks, named PT_FOLD_OFFCPU_EVENT and ending in PT_FOLD_OFFCPU_FRAME,
 * wait for the thread's switch-in (waits.h). */
static int
open_wait(struct pt_fold *fold, int cut, size_t inner_py, size_t outer_py)
{
    /* the idle task (tid 0, one per CPU) waits for nothing of the
     * program's; a switch-out without a time cannot be timed */
    if (fold->tid <= 0 || fold->time_ns == 0) {
        return 0;
    }
    struct buf keys[NVIEWS] = {{0}};
    const char *texts[NVIEWS];
    size_t lens[NVIEWS];
    fold->event.len = 0;
    int rc = buf_append(&fold->event, PT_FOLD_OFFCPU_EVENT, strlen(PT_FOLD_OFFCPU_EVENT));
    for (int v = 0; rc == 0 && v < NVIEWS; v++) {
        rc = build_key(fold, (enum pt_fold_view)v, cut, inner_py, outer_py);
        if (rc == 0) {
            rc = append_name(&fold->key, "", PT_FOLD_OFFCPU_FRAME,
                             strlen(PT_FOLD_OFFCPU_FRAME), 0, "");
        }
        if (rc == 0) {
            rc = buf_append(&keys[v], fold->key.data, fold->key.len);
        }
        texts[v] = keys[v].data;
        lens[v] = keys[v].len;
    }
    if (rc == 0) {
        rc = pt_waits_open(&fold->waits, fold->pid, fold->tid, fold->time_ns, cut,
                           fold->event.len, texts, lens);
    }
    for (int v = 0; v < NVIEWS; v++) {
        free(keys[v].data);
    }
    return rc;
}

/* Thread pid/tid runs again at time_ns: its open wait, if any, is counted,
 * in both views, with the time it waited inside the window as its period.
 * A wait of another process (its thread ended without a switch-in, and
 * its tid was given again) is dropped. */
static int
close_wait(struct pt_fold *fold, long pid, long tid, uint64_t time_ns)
{
    struct pt_wait wait;
    if (!pt_waits_close(&fold->waits, tid, &wait)) {
        return 0;
    }
    int rc = 0;
    /* the wait's part inside the window [first + start_ns, first + end_ns) */
    uint64_t from = wait.since_ns, to = time_ns;
    uint64_t window_from = fold->first_ns + fold->start_ns;
    if (from < window_from) {
        from = window_from;
    }
    if (fold->end_ns != 0 && to > fold->first_ns + fold->end_ns) {
        to = fold->first_ns + fold->end_ns;
    }
    if ((pid < 0 || wait.pid < 0 || pid == wait.pid) && to > from) {
        for (int v = 0; rc == 0 && v < NVIEWS; v++) {
            /* a preempted wait's stack ends in PT_FOLD_PREEMPTED_FRAME */
            size_t len = wait.lens[v];
            fold->key.len = 0;
            if (wait.preempted) {
                len -= strlen(PT_FOLD_OFFCPU_FRAME);
                rc = buf_append(&fold->key, wait.keys[v], len);
                if (rc == 0) {
                    rc = buf_append(&fold->key, PT_FOLD_PREEMPTED_FRAME,
                                    strlen(PT_FOLD_PREEMPTED_FRAME));
                }
            }
            else {
                rc = buf_append(&fold->key, wait.keys[v], len);
            }
            if (rc == 0) {
                rc = count_key(fold, &fold->tables[v], fold->key.data, fold->key.len,
                               wait.event_len, wait.pid, wait.tid, to - from);
            }
        }
        long current = fold->pid;
        fold->pid = wait.pid;
        if (rc == 0) {
            rc = count_process(fold, wait.cut);
        }
        fold->pid = current;
        if (rc == 0) {
            fold->samples++;
            fold->truncated += (uint64_t)wait.cut;
        }
    }
    pt_wait_release(&wait);
    return rc;
}

static int
end_sample(struct pt_fold *fold)
{
    if (!fold->in_sample) {
        return 0;
    }
    fold->in_sample = 0;
    if (fold->time_ns != 0) {
        if (!fold->seen_time) {
            fold->first_ns = fold->time_ns;
            fold->seen_time = 1;
        }
        fold->last_ns = fold->time_ns;
        /* perf script prints samples in time order; a switch-out is kept
         * whatever its time, its wait is counted or not when it ends */
        int switch_out =
            fold->offcpu && fold->event.len == strlen(PT_FOLD_SWITCH_EVENT) &&
            memcmp(fold->event.data, PT_FOLD_SWITCH_EVENT, fold->event.len) == 0;
        if (!switch_out && !in_window(fold, fold->time_ns)) {
            return 0;
        }
    }
    size_t n = fold->nframes;
    const char *text = fold->frames_text.data;
    /* Inlined frames take the object of the frame they were inlined into,
     * the next one outwards (listed after them) at the same address.  perf
     * 7.x can list every function at an address as inlined, the one they
     * were inlined into too; the frame after such a group is another
     * function's (a caller's, a trampoline), so the group's object is
     * unknown, as for an unresolved address. */
    for (size_t i = n; i-- > 0;) {
        struct frame *f = &fold->frames[i];
        if (!f->inlined) {
            continue;
        }
        const struct frame *outer = i + 1 < n ? &fold->frames[i + 1] : NULL;
        if (outer != NULL && outer->ip_len == f->ip_len &&
            memcmp(text + outer->ip, text + f->ip, f->ip_len) == 0) {
            f->dso = outer->dso;
            f->dso_len = outer->dso_len;
            f->kernel = outer->kernel;
        }
        else {
            f->dso_len = 0;
        }
    }
    /* Outermost and innermost Python frames (indices are innermost-first). */
    size_t inner_py = n, outer_py = n;
    for (size_t i = 0; i < n; i++) {
        if (starts_with(text + fold->frames[i].sym, fold->frames[i].sym_len, "py::")) {
            if (inner_py == n) {
                inner_py = i;
            }
            outer_py = i;
        }
    }
    int cut = is_cut(fold);
    if (fold->offcpu && fold->event.len == strlen(PT_FOLD_SWITCH_EVENT) &&
        memcmp(fold->event.data, PT_FOLD_SWITCH_EVENT, fold->event.len) == 0) {
        return open_wait(fold, cut, inner_py, outer_py);
    }
    int rc = 0;
    for (int v = 0; rc == 0 && v < NVIEWS; v++) {
        rc = build_key(fold, (enum pt_fold_view)v, cut, inner_py, outer_py);
        if (rc == 0) {
            rc = count_stack(fold, &fold->tables[v]);
        }
    }
    if (rc == 0) {
        rc = count_process(fold, cut);
    }
    if (rc == 0) {
        fold->samples++;
        fold->truncated += (uint64_t)cut;
    }
    return rc;
}

static void
trim(const char **s, size_t *n)
{
    while (*n > 0 && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 &&
           ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r')) {
        (*n)--;
    }
}

/* The fields of a frame line, "ip sym+0x1f (dso)", pointing into it. */
struct frame_fields {
    const char *ip, *sym, *dso;
    size_t ip_len, sym_len, dso_len;
    uint64_t address;
};

/* The value of the hexadecimal digits s[0..n) (at most 16 of them), or 0. */
static uint64_t
parse_hex(const char *s, size_t n)
{
    uint64_t v = 0;
    if (n > 16) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) {
            return 0;
        }
        v = v * 16 + (uint64_t)d;
    }
    return v;
}

/* Sets the fields' sym and dso from "sym (dso)": the object is in the last
 * parentheses, and there may be none. */
static void
split_object(const char *rest, size_t rest_len, struct frame_fields *out)
{
    out->sym = rest;
    out->sym_len = rest_len;
    out->dso = "";
    out->dso_len = 0;
    if (rest_len == 0 || rest[rest_len - 1] != ')') {
        return;
    }
    for (size_t k = rest_len - 1; k-- > 0;) {
        if (rest[k] == '(' && (k == 0 || rest[k - 1] == ' ')) {
            out->dso = rest + k + 1;
            out->dso_len = rest_len - k - 2;
            out->sym_len = k;
            return;
        }
    }
}

/* The length of sym without its "+0x1f" offset (-F symoff): an offset does
 * not make a different function. */
static size_t
without_offset(const char *sym, size_t len)
{
    for (size_t k = len; k-- > 0;) {
        if (sym[k] == '+' && k + 2 < len && sym[k + 1] == '0' && sym[k + 2] == 'x') {
            return k;
        }
    }
    return len;
}

/* Splits a sample's frame line (perf script indents it) into its fields; a
 * function perf printed no name for is UNKNOWN. */
static void
split_frame_line(const char *s, size_t n, struct frame_fields *out)
{
    trim(&s, &n);
    size_t ip_len = 0;
    while (ip_len < n && s[ip_len] != ' ') {
        ip_len++;
    }
    const char *rest = s + ip_len;
    size_t rest_len = n - ip_len;
    trim(&rest, &rest_len);
    split_object(rest, rest_len, out);
    out->ip = s;
    out->ip_len = ip_len;
    trim(&out->sym, &out->sym_len);
    size_t whole = out->sym_len;
    out->sym_len = without_offset(out->sym, out->sym_len);
    /* the function's start: the address less the offset (-F symoff) */
    uint64_t offset = out->sym_len + 3 <= whole ? parse_hex(out->sym + out->sym_len + 3,
                                                            whole - out->sym_len - 3)
                                                : 0;
    uint64_t ip = parse_hex(s, ip_len);
    out->address = ip >= offset ? ip - offset : 0;
    if (out->sym_len == 0) {
        out->sym = UNKNOWN;
        out->sym_len = UNKNOWN_LEN;
    }
}

/* Appends text to the buffer; *at is where it starts there. */
static int
append_at(struct buf *b, const char *text, size_t len, size_t *at)
{
    *at = b->len;
    return buf_append(b, text, len);
}

static int
add_frame(struct pt_fold *fold, const char *s, size_t n)
{
    struct frame_fields in;
    split_frame_line(s, n, &in);
    struct frame *frames =
        room_for_one(fold->frames, fold->nframes, &fold->frames_cap, sizeof(*frames), 64);
    if (frames == NULL) {
        return -ENOMEM;
    }
    fold->frames = frames;
    struct frame *f = &frames[fold->nframes];
    f->inlined = in.dso_len == 7 && memcmp(in.dso, "inlined", 7) == 0;
    f->kernel = is_kernel(in.ip, in.ip_len, in.dso, in.dso_len);
    f->address = in.address;
    f->ip_len = in.ip_len;
    f->sym_len = in.sym_len;
    f->dso_len = in.dso_len;
    /* The line is gone by the next one: the frame keeps copies. */
    int rc = append_at(&fold->frames_text, in.ip, in.ip_len, &f->ip);
    if (rc == 0) {
        rc = append_at(&fold->frames_text, in.sym, in.sym_len, &f->sym);
    }
    if (rc == 0) {
        rc = append_at(&fold->frames_text, in.dso, in.dso_len, &f->dso);
    }
    if (rc == 0) {
        fold->nframes++;
    }
    return rc;
}

/* Whether s[0..n) is one or more decimal digits. */
static int
all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return n > 0;
}

/* The decimal number s[0..n), or -1 when it is not one or is above
 * INT64_MAX (every count the folder keeps fits a signed 64-bit number:
 * Python's and pprof's int64). */
static int64_t
parse_decimal(const char *s, size_t n)
{
    if (!all_digits(s, n)) {
        return -1;
    }
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int digit = s[i] - '0';
        if (v > (INT64_MAX - digit) / 10) {
            return -1;
        }
        v = v * 10 + digit;
    }
    return v;
}

/* The pid and tid of perf script's "pid/tid", or of a lone "tid" (pid -1);
 * 0 when the word is neither. */
static int
parse_ids(const char *s, size_t n, long *pid, long *tid)
{
    const char *slash = memchr(s, '/', n);
    int64_t p = -1, t;
    if (slash != NULL) {
        p = parse_decimal(s, (size_t)(slash - s));
        t = parse_decimal(slash + 1, n - (size_t)(slash - s) - 1);
        if (p < 0 || p > 999999999) {
            p = -1;
        }
    }
    else {
        t = parse_decimal(s, n);
    }
    if (t < 0 || t > 999999999) {
        return 0;
    }
    *pid = (long)p;
    *tid = (long)t;
    return 1;
}

/* "35206.367792:" (seconds.fraction, perf script -F time) in nanoseconds;
 * 0 when the word is not one. */
static uint64_t
parse_time(const char *s, size_t n)
{
    if (n < 3 || s[n - 1] != ':') {
        return 0;
    }
    const char *dot = memchr(s, '.', n - 1);
    if (dot == NULL) {
        return 0;
    }
    size_t int_len = (size_t)(dot - s), frac_len = n - 2 - int_len;
    int64_t seconds = parse_decimal(s, int_len);
    int64_t fraction = parse_decimal(dot + 1, frac_len);
    /* nanoseconds that fit INT64_MAX: below 2^63 / 1e9 seconds */
    if (seconds < 0 || seconds >= 9223372036 || fraction < 0 || frac_len > 9) {
        return 0;
    }
    for (size_t i = frac_len; i < 9; i++) {
        fraction *= 10;
    }
    return (uint64_t)seconds * 1000000000ull + (uint64_t)fraction;
}

/* The length of an event's name without the sampling terms perftramp or
 * a user gave it ("cpu-clock/freq=999/": "cpu-clock"; a PMU's own terms,
 * "cpu/event=0x3c/", stay). */
static size_t
without_sampling_terms(const char *s, size_t n)
{
    static const char *const sampling[] = {
        "freq=", "period=", "call-graph=", "stack-size=", "max-stack=", NULL};
    const char *slash = memchr(s, '/', n);
    if (slash == NULL || slash == s || s[n - 1] != '/' || slash == s + n - 1) {
        return n;
    }
    for (const char *term = slash + 1; term < s + n - 1;) {
        const char *end = term;
        while (end < s + n - 1 && *end != ',') {
            end++;
        }
        int known = 0;
        for (const char *const *p = sampling; *p != NULL && !known; p++) {
            known =
                (size_t)(end - term) > strlen(*p) && memcmp(term, *p, strlen(*p)) == 0;
        }
        if (!known) {
            return n;
        }
        term = end + 1;
    }
    return (size_t)(slash - s);
}

/* The length of an event's name without the modifiers perf prints after
 * it ("cpu-clock:pppH": "cpu-clock"): the part after the last ':' when it
 * is only modifier letters; a tracepoint ("sched:sched_switch") keeps its
 * whole name; and without sampling terms. */
static size_t
without_modifiers(const char *s, size_t n)
{
    n = without_sampling_terms(s, n);
    const char *colon = NULL;
    for (size_t k = n; k-- > 0;) {
        if (s[k] == ':') {
            colon = s + k;
            break;
        }
    }
    if (colon == NULL || colon == s || colon + 1 == s + n) {
        return n;
    }
    for (const char *c = colon + 1; c < s + n; c++) {
        if (*c == '\0' || strchr("ukhIGHpPSDWe", *c) == NULL) {
            return n;
        }
    }
    return (size_t)(colon - s);
}

/* The last word of s[0..*n): where it starts; *n becomes the length of
 * what is before it, trailing spaces taken off. */
static size_t
last_word(const char *s, size_t *n)
{
    size_t end = *n, start = end;
    while (start > 0 && s[start - 1] != ' ') {
        start--;
    }
    size_t before = start;
    while (before > 0 && s[before - 1] == ' ') {
        before--;
    }
    *n = before;
    return start;
}

/* Keeps the current sample's event name: printable ASCII only, anything
 * else '?' (a recording may come from someone else, and the name goes to
 * terminals and stored folds, where a space would split a line). */
static int
take_event_name(struct pt_fold *fold, const char *name, size_t len)
{
    size_t at = fold->event.len;
    int rc = buf_append(&fold->event, name, len);
    for (size_t i = at; rc == 0 && i < fold->event.len; i++) {
        unsigned char c = (unsigned char)fold->event.data[i];
        if (c <= 0x20 || c >= 0x7f) {
            fold->event.data[i] = '?';
        }
    }
    return rc;
}

/* A sample's header: "comm pid/tid" or "comm tid", then with -F
 * time,period,event "35206.367792:    1001001 cpu-clock:pppH:".  The
 * command may hold spaces; the other fields are read from the end. */
static int
start_sample(struct pt_fold *fold, const char *s, size_t n)
{
    trim(&s, &n);
    size_t rest = n, word = last_word(s, &rest), word_len = n - word;
    fold->event.len = 0;
    fold->period = 1;
    fold->time_ns = 0;
    int rc = 0;
    if (word_len > 1 && s[n - 1] == ':' && parse_time(s + word, word_len) == 0) {
        rc = take_event_name(fold, s + word, without_modifiers(s + word, word_len - 1));
        n = rest;
        word = last_word(s, &rest);
        word_len = n - word;
        if (all_digits(s + word, word_len)) {
            int64_t period = parse_decimal(s + word, word_len);
            fold->period = period >= 0 ? (uint64_t)period : (uint64_t)INT64_MAX;
            n = rest;
            word = last_word(s, &rest);
            word_len = n - word;
        }
    }
    uint64_t time_ns = parse_time(s + word, word_len);
    if (time_ns != 0) {
        fold->time_ns = time_ns;
        n = rest;
        word = last_word(s, &rest);
        word_len = n - word;
    }
    fold->pid = fold->tid = -1;
    size_t comm_len = parse_ids(s + word, word_len, &fold->pid, &fold->tid) ? rest : n;
    fold->comm.len = 0;
    fold->frames_text.len = 0;
    fold->nframes = 0;
    fold->in_sample = 1;
    return rc != 0 ? rc : buf_append(&fold->comm, s, comm_len);
}

/* Where `text` first is in s[0..n), or NULL. */
static const char *
find_text(const char *s, size_t n, const char *text)
{
    size_t len = strlen(text);
    for (size_t i = 0; i + len <= n; i++) {
        if (s[i] == text[0] && memcmp(s + i, text, len) == 0) {
            return s + i;
        }
    }
    return NULL;
}

/* A switch record of perf script --show-switch-events: "comm pid/tid
 * 35206.367792: PERF_RECORD_SWITCH IN" (or _CPU_WIDE: the pid/tid is the
 * thread switching in or out either way; "OUT preempt" when it left
 * runnable).  Whether s[0..n) is one, with *rec its fields: the record's
 * name must follow a valid "pid/tid time:" header, and the last match is
 * taken (a command may hold any text, this one too). */
struct switch_record {
    long pid, tid;
    uint64_t time_ns;
    int in, preempt;
};

static int
parse_switch(const char *s, size_t n, struct switch_record *rec)
{
    static const char name[] = " PERF_RECORD_SWITCH";
    const char *record = NULL;
    for (const char *at = s; (at = find_text(at, n - (size_t)(at - s), name)) != NULL;
         at++) {
        record = at;
    }
    if (record == NULL) {
        return 0;
    }
    const char *word = record + sizeof(name) - 1;
    size_t left = n - (size_t)(word - s);
    if (left >= 9 && memcmp(word, "_CPU_WIDE", 9) == 0) {
        word += 9;
        left -= 9;
    }
    int in = left >= 3 && memcmp(word, " IN", 3) == 0 && (left == 3 || word[3] == ' ');
    int out = left >= 4 && memcmp(word, " OUT", 4) == 0 && (left == 4 || word[4] == ' ');
    size_t head = (size_t)(record - s);
    while (head > 0 && s[head - 1] == ' ') {
        head--;
    }
    size_t before = head, time_at = last_word(s, &before);
    rec->time_ns = parse_time(s + time_at, head - time_at);
    size_t ids_end = before, ids_at = last_word(s, &before);
    if ((!in && !out) || rec->time_ns == 0 ||
        !parse_ids(s + ids_at, ids_end - ids_at, &rec->pid, &rec->tid)) {
        return 0;
    }
    rec->in = in;
    rec->preempt = out && find_text(word, left, " preempt") != NULL;
    return 1;
}

/* A switch record (options.offcpu): a switch-in ends its thread's wait; a
 * preempting switch-out marks the wait its sample just opened. */
static int
take_switch(struct pt_fold *fold, const struct switch_record *rec)
{
    if (!rec->in) {
        struct pt_wait *wait = pt_waits_find(&fold->waits, rec->tid);
        if (wait != NULL && rec->preempt) {
            wait->preempted = 1;
        }
        return 0;
    }
    if (rec->time_ns > fold->last_ns) {
        fold->last_ns = rec->time_ns;
    }
    return close_wait(fold, rec->pid, rec->tid, rec->time_ns);
}

static int
take_line(struct pt_fold *fold, const char *s, size_t n)
{
    const char *t = s;
    size_t tn = n;
    trim(&t, &tn);
    if (tn == 0) {
        return end_sample(fold);
    }
    /* before the frames' test: perf may indent a record's command */
    struct switch_record rec;
    if (parse_switch(s, n, &rec)) {
        int rc = end_sample(fold);
        return rc != 0 || !fold->offcpu ? rc : take_switch(fold, &rec);
    }
    if (s[0] == ' ' || s[0] == '\t') {
        if (!fold->in_sample) {
            int rc = start_sample(fold, "? 0", 3);
            if (rc != 0) {
                return rc;
            }
        }
        return add_frame(fold, s, n);
    }
    int rc = end_sample(fold);
    return rc != 0 ? rc : start_sample(fold, s, n);
}

int
pt_fold_feed(struct pt_fold *fold, const char *data, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t chunk = nl ? (size_t)(nl - data) : len;
        int rc;
        if (nl != NULL && fold->line.len == 0) {
            rc = take_line(fold, data, chunk);
        }
        else {
            rc = buf_append(&fold->line, data, chunk);
            if (rc == 0 && nl != NULL) {
                rc = take_line(fold, fold->line.data, fold->line.len);
                fold->line.len = 0;
            }
        }
        if (rc != 0) {
            return rc;
        }
        if (nl == NULL) {
            break;
        }
        data += chunk + 1;
        len -= chunk + 1;
    }
    return 0;
}

int
pt_fold_finish(struct pt_fold *fold)
{
    if (fold->line.len > 0) {
        int rc = take_line(fold, fold->line.data, fold->line.len);
        fold->line.len = 0;
        if (rc != 0) {
            return rc;
        }
    }
    return end_sample(fold);
}

void
pt_fold_each(const struct pt_fold *fold, enum pt_fold_view view,
             void (*fn)(void *ctx, const struct pt_fold_stack *stack), void *ctx)
{
    if ((int)view < 0 || (int)view >= NVIEWS) {
        return;
    }
    const struct table *t = &fold->tables[view];
    for (size_t i = 0; i < t->cap; i++) {
        const struct entry *e = &t->slots[i];
        if (e->key != SIZE_MAX) {
            const char *key = fold->keys.data + e->key;
            struct pt_fold_stack stack = {
                .event = key,
                .event_len = e->event_len,
                .pid = e->pid,
                .tid = e->tid,
                .stack = key + e->event_len,
                .len = e->key_len - e->event_len,
                .count = e->count,
                .period = e->period,
            };
            fn(ctx, &stack);
        }
    }
}

void
pt_fold_each_frame(const struct pt_fold *fold,
                   void (*fn)(void *ctx, const char *name, size_t len, const char *dso,
                              size_t dso_len, uint64_t address),
                   void *ctx)
{
    const struct table *t = &fold->frame_table;
    for (size_t i = 0; i < t->cap; i++) {
        const struct entry *e = &t->slots[i];
        if (e->key != SIZE_MAX) {
            fn(ctx, fold->keys.data + e->key, e->key_len, fold->keys.data + e->aux,
               e->aux_len, e->period);
        }
    }
}

void
pt_fold_times(const struct pt_fold *fold, uint64_t *first_ns, uint64_t *last_ns)
{
    *first_ns = fold->first_ns;
    *last_ns = fold->last_ns;
}

uint64_t
pt_fold_samples(const struct pt_fold *fold)
{
    return fold->samples;
}

uint64_t
pt_fold_truncated(const struct pt_fold *fold)
{
    return fold->truncated;
}

const struct pt_fold_process *
pt_fold_processes(const struct pt_fold *fold, size_t *count)
{
    *count = fold->nprocs;
    return fold->procs;
}

void
pt_fold_free(struct pt_fold *fold)
{
    if (fold == NULL) {
        return;
    }
    free(fold->line.data);
    free(fold->comm.data);
    free(fold->event.data);
    free(fold->frame_table.slots);
    pt_waits_release(&fold->waits);
    free(fold->frames_text.data);
    free(fold->frames);
    free(fold->procs);
    free(fold->key.data);
    free(fold->keys.data);
    for (int v = 0; v < NVIEWS; v++) {
        free(fold->tables[v].slots);
    }
    free(fold);
}
