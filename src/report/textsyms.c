#include "textsyms.h"
#include "grow.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct entry {
    uint64_t start, end;
    size_t name, name_len, module, module_len; /* offsets into text */
};

struct pt_textsyms {
    struct entry *entries;
    size_t count, cap;
    char *text; /* the names, copied */
    size_t text_len, text_cap;
};

static int
keep_text(struct pt_textsyms *s, const char *text, size_t len, size_t *at)
{
    if (len == 0) {
        *at = s->text_len;
        return 0;
    }
    int rc = pt_grow((void **)&s->text, &s->text_cap, s->text_len + len, 1);
    if (rc == 0) {
        memcpy(s->text + s->text_len, text, len);
        *at = s->text_len;
        s->text_len += len;
    }
    return rc;
}

static int
add(struct pt_textsyms *s, uint64_t start, uint64_t end, const char *name,
    size_t name_len, const char *module, size_t module_len)
{
    if (name_len > PT_TEXTSYMS_NAME_MAX) {
        name_len = PT_TEXTSYMS_NAME_MAX;
    }
    int rc = pt_grow((void **)&s->entries, &s->cap, s->count + 1, sizeof(struct entry));
    struct entry e = {
        .start = start, .end = end, .name_len = name_len, .module_len = module_len};
    if (rc == 0) {
        rc = keep_text(s, name, name_len, &e.name);
    }
    if (rc == 0) {
        rc = keep_text(s, module, module_len, &e.module);
    }
    if (rc == 0) {
        s->entries[s->count++] = e;
    }
    return rc;
}

/* The hexadecimal number at *p (an optional 0x, then 1 to 16 digits),
 * moving *p past it; 0 when there is none. */
static int
read_hex(const char **p, const char *end, uint64_t *value)
{
    const char *s = *p;
    if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
    }
    uint64_t v = 0;
    int digits = 0;
    for (; s < end && isxdigit((unsigned char)*s); s++, digits++) {
        int c = tolower((unsigned char)*s);
        v = v * 16 + (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (digits == 0 || digits > 16) {
        return 0;
    }
    *p = s;
    *value = v;
    return 1;
}

/* Moves *p past spaces and tabs; whether any were there. */
static int
skip_blanks(const char **p, const char *end)
{
    const char *s = *p;
    while (*p < end && (**p == ' ' || **p == '\t')) {
        (*p)++;
    }
    return *p != s;
}

static int
by_start(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int
new_table(struct pt_textsyms **out)
{
    *out = calloc(1, sizeof(**out));
    return *out != NULL ? 0 : -ENOMEM;
}

/* "START SIZE NAME": perf's dso__load_perf_map reads the same. */
static int
perf_map_line(struct pt_textsyms *s, const char *p, const char *end)
{
    uint64_t start, size;
    if (!read_hex(&p, end, &start) || !skip_blanks(&p, end) ||
        !read_hex(&p, end, &size) || !skip_blanks(&p, end) || p == end || size == 0 ||
        start + size < start) {
        return 0;
    }
    return add(s, start, start + size, p, (size_t)(end - p), "", 0);
}

/* "ADDRESS TYPE NAME [MODULE]"; perf keeps the types it files as functions
 * or data (T, W, D, B, either case), and ends each symbol at the next. */
static int
kallsyms_line(struct pt_textsyms *s, const char *p, const char *end)
{
    uint64_t start;
    if (!read_hex(&p, end, &start) || !skip_blanks(&p, end) || p == end) {
        return 0;
    }
    char type = (char)toupper((unsigned char)*p++);
    if (!strchr("TWDB", type) || !skip_blanks(&p, end) || p == end) {
        return 0;
    }
    const char *name = p;
    while (p < end && *p != ' ' && *p != '\t') {
        p++;
    }
    size_t name_len = (size_t)(p - name);
    skip_blanks(&p, end);
    const char *module = "";
    size_t module_len = 0;
    if (end - p >= 2 && *p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (close != NULL) {
            module = p + 1;
            module_len = (size_t)(close - p - 1);
        }
    }
    return add(s, start, start, name, name_len, module, module_len);
}

static int
read_lines(struct pt_textsyms *s, const char *text, size_t len,
           int (*line)(struct pt_textsyms *, const char *, const char *))
{
    const char *end = text + len;
    for (const char *p = text; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        const char *line_end = stop;
        if (line_end > p && line_end[-1] == '\r') {
            line_end--;
        }
        int rc = line(s, p, line_end);
        if (rc != 0) {
            return rc;
        }
        p = stop + 1;
    }
    if (s->count > 0) {
        qsort(s->entries, s->count, sizeof(*s->entries), by_start);
    }
    return 0;
}

int
pt_textsyms_from_perf_map(struct pt_textsyms **out, const char *text, size_t len)
{
    int rc = new_table(out);
    if (rc == 0 && (rc = read_lines(*out, text, len, perf_map_line)) != 0) {
        pt_textsyms_free(*out);
        *out = NULL;
    }
    return rc;
}

int
pt_textsyms_from_kallsyms(struct pt_textsyms **out, const char *text, size_t len)
{
    int rc = new_table(out);
    if (rc == 0 && (rc = read_lines(*out, text, len, kallsyms_line)) != 0) {
        pt_textsyms_free(*out);
        *out = NULL;
        return rc;
    }
    /* Each symbol ends where the next starts; the last, one page on. */
    struct pt_textsyms *s = *out;
    for (size_t i = 0; rc == 0 && i < s->count; i++) {
        uint64_t next = i + 1 < s->count ? s->entries[i + 1].start : s->entries[i].start;
        s->entries[i].end =
            next > s->entries[i].start ? next : s->entries[i].start + 4096;
    }
    return rc;
}

int
pt_textsyms_load(struct pt_textsyms **out, const char *path,
                 int (*reader)(struct pt_textsyms **, const char *, size_t))
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    /* /proc files say size 0: read until the end, in any case */
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 1 << 20, len = 0;
    char *text = malloc(cap);
    int rc = text ? 0 : -ENOMEM;
    while (rc == 0) {
        if (len == cap && (rc = pt_grow((void **)&text, &cap, cap + 1, 1)) != 0) {
            break;
        }
        ssize_t n = read(fd, text + len, cap - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        len += (size_t)n;
        if (len > PT_TEXTSYMS_FILE_MAX) {
            rc = -EFBIG;
        }
    }
    close(fd);
    if (rc == 0) {
        rc = reader(out, text, len);
    }
    free(text);
    return rc;
}

void
pt_textsyms_free(struct pt_textsyms *syms)
{
    if (syms == NULL) {
        return;
    }
    free(syms->entries);
    free(syms->text);
    free(syms);
}

int
pt_textsyms_find(const struct pt_textsyms *syms, uint64_t addr, struct pt_textsym *out)
{
    /* the last entry starting at or before addr */
    size_t lo = 0, hi = syms->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (syms->entries[mid].start <= addr) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    if (lo == 0 || addr >= syms->entries[lo - 1].end) {
        return -ENOENT;
    }
    const struct entry *e = &syms->entries[lo - 1];
    out->name = syms->text + e->name;
    out->name_len = e->name_len;
    out->module = syms->text + e->module;
    out->module_len = e->module_len;
    out->start = e->start;
    return 0;
}
