/*
 * Stack folding; the contract is in fold.h.
 *
 * Memory: one growable line buffer, one scratch buffer for the current
 * sample's frames, and an open-addressing hash table of distinct stacks whose
 * keys live in one growable arena.
 */
#include "fold.h"

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
    int rc = buf_reserve(b, n);
    if (rc == 0) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
    }
    return rc;
}

/* A frame of the current sample: offsets into fold->frames_text. */
struct frame {
    size_t ip, ip_len, sym, sym_len, dso, dso_len;
    int inlined;
};

struct entry {
    uint64_t hash;
    size_t key; /* offset into keys; SIZE_MAX when empty */
    size_t key_len;
    uint64_t count;
};

struct pt_fold {
    int keep_internal;
    const char *const *internal;
    struct buf line;
    struct buf comm;
    struct buf frames_text;
    struct frame *frames;
    size_t nframes, frames_cap;
    int in_sample;
    struct buf key;
    struct buf keys;
    struct entry *table;
    size_t table_cap, table_used;
    uint64_t samples;
};

static const char *const default_internal[] = {"python", "libpython", "_perftramp", NULL};

int
pt_fold_new(struct pt_fold **out, const struct pt_fold_options *options)
{
    struct pt_fold *fold = calloc(1, sizeof(*fold));
    if (fold == NULL) {
        return -ENOMEM;
    }
    fold->keep_internal = options ? options->keep_internal : 0;
    fold->internal = options && options->internal_prefixes ? options->internal_prefixes
                                                           : default_internal;
    fold->table_cap = 1024;
    fold->table = malloc(fold->table_cap * sizeof(*fold->table));
    if (fold->table == NULL) {
        free(fold);
        return -ENOMEM;
    }
    for (size_t i = 0; i < fold->table_cap; i++) {
        fold->table[i].key = SIZE_MAX;
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
grow_table(struct pt_fold *fold)
{
    size_t cap = fold->table_cap * 2;
    struct entry *table = malloc(cap * sizeof(*table));
    if (table == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < cap; i++) {
        table[i].key = SIZE_MAX;
    }
    for (size_t i = 0; i < fold->table_cap; i++) {
        struct entry *e = &fold->table[i];
        if (e->key == SIZE_MAX) {
            continue;
        }
        size_t j = e->hash & (cap - 1);
        while (table[j].key != SIZE_MAX) {
            j = (j + 1) & (cap - 1);
        }
        table[j] = *e;
    }
    free(fold->table);
    fold->table = table;
    fold->table_cap = cap;
    return 0;
}

static int
count_stack(struct pt_fold *fold, const char *key, size_t len)
{
    if ((fold->table_used + 1) * 4 > fold->table_cap * 3) {
        int rc = grow_table(fold);
        if (rc != 0) {
            return rc;
        }
    }
    uint64_t h = fnv1a(key, len);
    size_t j = h & (fold->table_cap - 1);
    while (fold->table[j].key != SIZE_MAX) {
        struct entry *e = &fold->table[j];
        if (e->hash == h && e->key_len == len &&
            memcmp(fold->keys.data + e->key, key, len) == 0) {
            e->count++;
            return 0;
        }
        j = (j + 1) & (fold->table_cap - 1);
    }
    size_t at = fold->keys.len;
    int rc = buf_append(&fold->keys, key, len);
    if (rc != 0) {
        return rc;
    }
    fold->table[j] = (struct entry){.hash = h, .key = at, .key_len = len, .count = 1};
    fold->table_used++;
    return 0;
}

static int
starts_with(const char *s, size_t n, const char *prefix)
{
    size_t p = strlen(prefix);
    return n >= p && memcmp(s, prefix, p) == 0;
}

static int
is_internal(const struct pt_fold *fold, const char *dso, size_t len)
{
    if (len == 0 || (len == 9 && memcmp(dso, "[unknown]", 9) == 0)) {
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

/* Appends one frame (the command name included) to the key, after a ';'
 * unless it is the first (`first`).  The collapsed format gives ';' and the line's
 * end a meaning and has no escape: a ';' inside a name becomes ':', and a
 * byte that would end or cut the line for a reader (NUL, CR, any other
 * control byte; a newline cannot reach here) becomes '?'. */
static int
append_name(struct buf *key, const char *name, size_t len, int first)
{
    int rc = buf_reserve(key, len + 1);
    if (rc != 0) {
        return rc;
    }
    if (!first) {
        key->data[key->len++] = ';';
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        int breaks_line = (c < 0x20 && c != '\t') || c == 0x7f;
        key->data[key->len++] = c == ';' ? ':' : breaks_line ? '?' : (char)c;
    }
    return 0;
}

static int
end_sample(struct pt_fold *fold)
{
    if (!fold->in_sample) {
        return 0;
    }
    fold->in_sample = 0;
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
    fold->key.len = 0;
    int rc = append_name(&fold->key, fold->comm.data ? fold->comm.data : "?",
                         fold->comm.data ? fold->comm.len : 1, 1);
    for (size_t k = n; rc == 0 && k-- > 0;) {
        const struct frame *f = &fold->frames[k];
        int between = inner_py != n && k > inner_py && k < outer_py;
        if (between && !fold->keep_internal &&
            is_internal(fold, text + f->dso, f->dso_len)) {
            continue;
        }
        rc = append_name(&fold->key, text + f->sym, f->sym_len, 0);
    }
    if (rc == 0) {
        rc = count_stack(fold, fold->key.data, fold->key.len);
        fold->samples++;
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

static int
add_frame(struct pt_fold *fold, const char *s, size_t n)
{
    trim(&s, &n);
    /* ip */
    size_t i = 0;
    while (i < n && s[i] != ' ') {
        i++;
    }
    const char *rest = s + i;
    size_t rest_len = n - i;
    trim(&rest, &rest_len);
    /* "sym (dso)": the object is in the last parentheses. */
    const char *sym = rest;
    size_t sym_len = rest_len;
    const char *dso = "";
    size_t dso_len = 0;
    if (rest_len > 0 && rest[rest_len - 1] == ')') {
        for (size_t k = rest_len - 1; k-- > 0;) {
            if (rest[k] == '(' && (k == 0 || rest[k - 1] == ' ')) {
                dso = rest + k + 1;
                dso_len = rest_len - k - 2;
                sym_len = k;
                break;
            }
        }
    }
    trim(&sym, &sym_len);
    /* "+0x1f" offsets (-F symoff) do not make a different function. */
    for (size_t k = sym_len; k-- > 0;) {
        if (sym[k] == '+' && k + 2 < sym_len && sym[k + 1] == '0' && sym[k + 2] == 'x') {
            sym_len = k;
            break;
        }
    }
    if (sym_len == 0) {
        sym = "[unknown]";
        sym_len = 9;
    }
    if (fold->nframes == fold->frames_cap) {
        size_t cap = fold->frames_cap ? fold->frames_cap * 2 : 64;
        struct frame *frames = realloc(fold->frames, cap * sizeof(*frames));
        if (frames == NULL) {
            return -ENOMEM;
        }
        fold->frames = frames;
        fold->frames_cap = cap;
    }
    struct frame *f = &fold->frames[fold->nframes];
    f->inlined = dso_len == 7 && memcmp(dso, "inlined", 7) == 0;
    f->ip = fold->frames_text.len;
    f->ip_len = i;
    int rc = buf_append(&fold->frames_text, s, i);
    f->sym = fold->frames_text.len;
    f->sym_len = sym_len;
    if (rc == 0) {
        rc = buf_append(&fold->frames_text, sym, sym_len);
    }
    f->dso = fold->frames_text.len;
    f->dso_len = dso_len;
    if (rc == 0) {
        rc = buf_append(&fold->frames_text, dso, dso_len);
    }
    if (rc == 0) {
        fold->nframes++;
    }
    return rc;
}

static int
start_sample(struct pt_fold *fold, const char *s, size_t n)
{
    trim(&s, &n);
    /* "comm tid": the command may hold spaces; the thread id is last. */
    size_t end = n;
    while (end > 0 && s[end - 1] != ' ') {
        end--;
    }
    size_t comm_len = end > 0 ? end - 1 : n;
    while (comm_len > 0 && s[comm_len - 1] == ' ') {
        comm_len--;
    }
    fold->comm.len = 0;
    fold->frames_text.len = 0;
    fold->nframes = 0;
    fold->in_sample = 1;
    return buf_append(&fold->comm, s, comm_len);
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
pt_fold_each(const struct pt_fold *fold,
             void (*fn)(void *ctx, const char *stack, size_t len, uint64_t count),
             void *ctx)
{
    for (size_t i = 0; i < fold->table_cap; i++) {
        const struct entry *e = &fold->table[i];
        if (e->key != SIZE_MAX) {
            fn(ctx, fold->keys.data + e->key, e->key_len, e->count);
        }
    }
}

uint64_t
pt_fold_samples(const struct pt_fold *fold)
{
    return fold->samples;
}

void
pt_fold_free(struct pt_fold *fold)
{
    if (fold == NULL) {
        return;
    }
    free(fold->line.data);
    free(fold->comm.data);
    free(fold->frames_text.data);
    free(fold->frames);
    free(fold->key.data);
    free(fold->keys.data);
    free(fold->table);
    free(fold);
}
