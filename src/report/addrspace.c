#include "addrspace.h"
#include "grow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One process's mappings, sorted by start, none overlapping. */
struct space {
    uint32_t pid;
    int used;
    struct pt_mapping *maps;
    size_t count, cap;
};

/* Open addressing by pid: a recording sees a few processes to thousands. */
struct pt_addrspaces {
    struct space *slots;
    size_t cap, used;
};

int
pt_addrspaces_new(struct pt_addrspaces **out)
{
    struct pt_addrspaces *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->cap = 64;
    s->slots = calloc(s->cap, sizeof(*s->slots));
    if (s->slots == NULL) {
        free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

void
pt_addrspaces_free(struct pt_addrspaces *spaces)
{
    if (spaces == NULL) {
        return;
    }
    for (size_t i = 0; i < spaces->cap; i++) {
        free(spaces->slots[i].maps);
    }
    free(spaces->slots);
    free(spaces);
}

static size_t
slot_of(const struct pt_addrspaces *s, uint32_t pid)
{
    size_t i = (pid * UINT64_C(0x9E3779B97F4A7C15)) >> 7 & (s->cap - 1);
    while (s->slots[i].used && s->slots[i].pid != pid) {
        i = (i + 1) & (s->cap - 1);
    }
    return i;
}

static int
grow_table(struct pt_addrspaces *s)
{
    struct pt_addrspaces bigger = {.cap = s->cap * 2};
    bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
    if (bigger.slots == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i].used) {
            bigger.slots[slot_of(&bigger, s->slots[i].pid)] = s->slots[i];
        }
    }
    free(s->slots);
    s->slots = bigger.slots;
    s->cap = bigger.cap;
    return 0;
}

/* pid's space, made empty when it is new; NULL when out of memory. */
static struct space *
space_of(struct pt_addrspaces *s, uint32_t pid)
{
    size_t i = slot_of(s, pid);
    if (s->slots[i].used) {
        return &s->slots[i];
    }
    if ((s->used + 1) * 2 > s->cap) {
        if (grow_table(s) != 0) {
            return NULL;
        }
        i = slot_of(s, pid);
    }
    s->slots[i] = (struct space){.pid = pid, .used = 1};
    s->used++;
    return &s->slots[i];
}

static const struct space *
find_space(const struct pt_addrspaces *s, uint32_t pid)
{
    size_t i = slot_of(s, pid);
    return s->slots[i].used ? &s->slots[i] : NULL;
}

static int
reserve(struct space *sp, size_t extra)
{
    return pt_grow((void **)&sp->maps, &sp->cap, sp->count + extra, sizeof(*sp->maps));
}

/* The index of the first mapping ending after addr. */
static size_t
first_ending_after(const struct space *sp, uint64_t addr)
{
    size_t lo = 0, hi = sp->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sp->maps[mid].end <= addr) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo;
}

int
pt_addrspaces_map(struct pt_addrspaces *spaces, uint32_t pid, uint64_t start,
                  uint64_t len, uint64_t pgoff, uint32_t object)
{
    uint64_t end = start + len;
    if (len == 0 || end < start) {
        return -EINVAL;
    }
    struct space *sp = space_of(spaces, pid);
    /* at most one mapping is split in two, and one added */
    if (sp == NULL || reserve(sp, 2) != 0) {
        return -ENOMEM;
    }
    size_t i = first_ending_after(sp, start);
    size_t j = i;
    struct pt_mapping head = {0}, tail = {0};
    int has_head = 0, has_tail = 0;
    while (j < sp->count && sp->maps[j].start < end) {
        const struct pt_mapping *m = &sp->maps[j];
        if (m->start < start) {
            head = *m;
            head.end = start;
            has_head = 1;
        }
        if (m->end > end) {
            tail = *m;
            tail.pgoff += end - m->start;
            tail.start = end;
            has_tail = 1;
        }
        j++;
    }
    /* [i, j) are replaced by head?, the new one, tail? */
    size_t put = (size_t)has_head + 1 + (size_t)has_tail;
    memmove(sp->maps + i + put, sp->maps + j, (sp->count - j) * sizeof(*sp->maps));
    sp->count = sp->count - (j - i) + put;
    size_t k = i;
    if (has_head) {
        sp->maps[k++] = head;
    }
    sp->maps[k++] = (struct pt_mapping){start, end, pgoff, object};
    if (has_tail) {
        sp->maps[k] = tail;
    }
    return 0;
}

int
pt_addrspaces_fork(struct pt_addrspaces *spaces, uint32_t parent, uint32_t child)
{
    if (parent == child) {
        return 0;
    }
    struct space *to = space_of(spaces, child);
    /* looked up after: making the child's may move the table */
    const struct space *from = find_space(spaces, parent);
    if (to == NULL) {
        return -ENOMEM;
    }
    to->count = 0;
    if (from == NULL || from->count == 0) {
        return 0;
    }
    if (reserve(to, from->count) != 0) {
        return -ENOMEM;
    }
    memcpy(to->maps, from->maps, from->count * sizeof(*from->maps));
    to->count = from->count;
    return 0;
}

void
pt_addrspaces_clear(struct pt_addrspaces *spaces, uint32_t pid)
{
    size_t i = slot_of(spaces, pid);
    if (spaces->slots[i].used) {
        spaces->slots[i].count = 0;
    }
}

const struct pt_mapping *
pt_addrspaces_find(const struct pt_addrspaces *spaces, uint32_t pid, uint64_t addr)
{
    const struct space *sp = find_space(spaces, pid);
    if (sp == NULL) {
        return NULL;
    }
    size_t i = first_ending_after(sp, addr);
    return i < sp->count && sp->maps[i].start <= addr ? &sp->maps[i] : NULL;
}
