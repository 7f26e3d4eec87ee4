/*
 * Chunked executable arena; the contract is in arena.h.
 *
 * Chunks form a singly linked list, newest first, with their bookkeeping in
 * ordinary heap memory so that the executable pages hold nothing but stubs.
 *
 * Fork: every arena is on a list that a pthread_atfork handler walks.  Before
 * the fork it takes each arena's lock (so no stub is half handed out), and in
 * the child it records, per chunk, how many stubs had been handed out: those
 * are the child's inheritance (pt_arena_inherited).  The parent and the child
 * then hand out the same addresses next, each for its own functions, so
 * "handed out" alone cannot tell a child's own stub from the parent's
 * post-fork one when the child copies the parent's entries.  The handlers
 * run for every fork(), Python's os.fork or a C library's.
 *
 * A child hands out no stub from a chunk of anonymous memory it inherited:
 * its first stub starts a chunk of its own.  perf gives a forked child its
 * parent's mappings and names an address in an anonymous mapping from the
 * perf map of the process that mapped it (/tmp/perf-PARENT.map), so a stub
 * the child took from the parent's chunk would be looked up in the parent's
 * map, which names the parent's function at that address or nothing.  A
 * chunk the child maps itself is looked up in its own map.  Chunks from a
 * code source need no such care: the source maps the child's own file over
 * them (elfimage.c), and perf reads the names from that.
 */
#include "arena.h"
#include "align.h"
#include "cfi.h"
#include "stub.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PT_ARENA_DEFAULT_CHUNK (64 * 1024)
/* Slots start on 8-byte boundaries, and a fixed stride keeps "address ->
 * slot" a division.  x86_64's stub is 8 bytes: 8-aligned it never straddles
 * a 16-byte fetch block, and packed at 8 it halves the arena (memory, and
 * page faults per function) against 16; aarch64's 20 bytes take 24. */
#define PT_SLOT_ALIGN 8

struct pt_chunk {
    struct pt_chunk *next;
    void *cfi; /* registration with the process's unwinder */
    unsigned char *base;
    size_t slots;
    size_t used;
    size_t inherited; /* stubs handed out before the last fork (in a child) */
    int from_source;  /* mapped by the arena's code source, which owns it */
};

struct pt_arena {
    pthread_mutex_t lock;
    struct pt_arena *next_arena, *prev_arena; /* on the fork list */
    struct pt_chunk *chunks;
    size_t chunk_bytes;
    size_t stride;
    size_t stubs;
    size_t mapped;
    struct pt_code_source source; /* map NULL: anonymous memory */
    int forked;                   /* a child that has not mapped a chunk since */
};

static pthread_mutex_t arenas_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pt_arena *arenas;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static int fork_error;

static void
before_fork(void)
{
    pthread_mutex_lock(&arenas_lock);
    for (struct pt_arena *a = arenas; a != NULL; a = a->next_arena) {
        pthread_mutex_lock(&a->lock);
    }
}

static void
after_fork_parent(void)
{
    for (struct pt_arena *a = arenas; a != NULL; a = a->next_arena) {
        pthread_mutex_unlock(&a->lock);
    }
    pthread_mutex_unlock(&arenas_lock);
}

static void
after_fork_child(void)
{
    for (struct pt_arena *a = arenas; a != NULL; a = a->next_arena) {
        for (struct pt_chunk *c = a->chunks; c != NULL; c = c->next) {
            c->inherited = c->used;
        }
        a->forked = 1;
        pthread_mutex_unlock(&a->lock);
    }
    pthread_mutex_unlock(&arenas_lock);
}

static void
watch_forks(void)
{
    fork_error = pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

int
pt_arena_new(struct pt_arena **out, size_t chunk_bytes, size_t slot_bytes)
{
    pthread_once(&fork_once, watch_forks);
    if (fork_error != 0) {
        return -fork_error;
    }
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) {
        return -EINVAL;
    }
    struct pt_arena *arena = calloc(1, sizeof(*arena));
    if (arena == NULL) {
        return -ENOMEM;
    }
    int rc = pthread_mutex_init(&arena->lock, NULL);
    if (rc != 0) {
        free(arena);
        return -rc;
    }
    arena->chunk_bytes =
        pt_round_up(chunk_bytes ? chunk_bytes : PT_ARENA_DEFAULT_CHUNK, (size_t)page);
    size_t code = pt_stub_code_size();
    arena->stride = pt_round_up(slot_bytes > code ? slot_bytes : code, PT_SLOT_ALIGN);
    if (arena->stride > arena->chunk_bytes) {
        pthread_mutex_destroy(&arena->lock);
        free(arena);
        return -EINVAL;
    }
    pthread_mutex_lock(&arenas_lock);
    arena->next_arena = arenas;
    if (arenas != NULL) {
        arenas->prev_arena = arena;
    }
    arenas = arena;
    pthread_mutex_unlock(&arenas_lock);
    *out = arena;
    return 0;
}

int
pt_arena_set_source(struct pt_arena *arena, const struct pt_code_source *source)
{
    int rc = pthread_mutex_lock(&arena->lock);
    if (rc != 0) {
        return -rc;
    }
    rc = arena->chunks != NULL ? -EBUSY : 0;
    if (rc == 0) {
        arena->source = *source;
    }
    pthread_mutex_unlock(&arena->lock);
    return rc;
}

/* A chunk from the code source: filled and executable already. */
static int
source_chunk(struct pt_arena *arena, struct pt_chunk *chunk)
{
    void *mem;
    int rc =
        arena->source.map(arena->source.ctx, arena->chunk_bytes, arena->stride, &mem);
    if (rc != 0) {
        return rc;
    }
    size_t slots = arena->chunk_bytes / arena->stride;
    unsigned char *base = mem;
    __builtin___clear_cache((char *)base, (char *)base + slots * arena->stride);
    rc = pt_cfi_register_chunk(&chunk->cfi, (uintptr_t)base, slots, arena->stride);
    if (rc != 0) {
        return rc; /* the source's pages stay its own, unused */
    }
    chunk->base = base;
    chunk->slots = slots;
    chunk->from_source = 1;
    return 0;
}

static int
map_chunk(struct pt_arena *arena, struct pt_chunk **out)
{
    struct pt_chunk *chunk = calloc(1, sizeof(*chunk));
    if (chunk == NULL) {
        return -ENOMEM;
    }
    if (arena->source.map != NULL) {
        int rc = source_chunk(arena, chunk);
        if (rc != 0) {
            free(chunk);
            return rc;
        }
        *out = chunk;
        return 0;
    }
    /* MAP_POPULATE: every page is about to be written; one system call
     * instead of a fault per page. */
    void *mem = mmap(NULL, arena->chunk_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (mem == MAP_FAILED) {
        int err = errno;
        free(chunk);
        return -err;
    }
    size_t code = pt_stub_code_size();
    size_t slots = arena->chunk_bytes / arena->stride;
    unsigned char *base = mem;
    for (size_t i = 0; i < slots; i++) {
        memcpy(base + i * arena->stride, perftramp_stub_start, code);
    }
    if (mprotect(mem, arena->chunk_bytes, PROT_READ | PROT_EXEC) != 0) {
        int err = errno;
        munmap(mem, arena->chunk_bytes);
        free(chunk);
        return -err;
    }
    /* aarch64 fetches instructions through a cache that does not see data
     * writes; x86 keeps them coherent and this compiles to nothing. */
    __builtin___clear_cache((char *)base, (char *)base + slots * arena->stride);
    int rc = pt_cfi_register_chunk(&chunk->cfi, (uintptr_t)base, slots, arena->stride);
    if (rc != 0) {
        munmap(mem, arena->chunk_bytes);
        free(chunk);
        return rc;
    }
    chunk->base = base;
    chunk->slots = slots;
    *out = chunk;
    return 0;
}

int
pt_arena_take_stub(struct pt_arena *arena, void **out_stub, size_t *out_size)
{
    int rc = pthread_mutex_lock(&arena->lock);
    if (rc != 0) {
        return -rc;
    }
    struct pt_chunk *chunk = arena->chunks;
    int inherited_anonymous = arena->forked && arena->source.map == NULL;
    if (chunk == NULL || chunk->used == chunk->slots || inherited_anonymous) {
        rc = map_chunk(arena, &chunk);
        if (rc != 0) {
            pthread_mutex_unlock(&arena->lock);
            return rc;
        }
        chunk->next = arena->chunks;
        arena->chunks = chunk;
        arena->mapped += arena->chunk_bytes;
        arena->forked = 0;
    }
    *out_stub = chunk->base + chunk->used * arena->stride;
    *out_size = arena->stride;
    chunk->used++;
    arena->stubs++;
    pthread_mutex_unlock(&arena->lock);
    return 0;
}

/* The chunk whose slots hold `addr`, or NULL. */
static const struct pt_chunk *
chunk_holding(const struct pt_arena *arena, uintptr_t addr)
{
    for (const struct pt_chunk *c = arena->chunks; c != NULL; c = c->next) {
        uintptr_t base = (uintptr_t)c->base;
        if (addr >= base && addr < base + c->slots * arena->stride) {
            return c;
        }
    }
    return NULL;
}

/* Whether `addr`, in chunk c's slots, is the start of one of its first
 * `count` stubs. */
static int
starts_one_of_first(const struct pt_arena *arena, const struct pt_chunk *c,
                    uintptr_t addr, size_t count)
{
    uintptr_t base = (uintptr_t)c->base;
    return addr < base + count * arena->stride && (addr - base) % arena->stride == 0;
}

int
pt_arena_owns(const struct pt_arena *arena, uintptr_t addr)
{
    const struct pt_chunk *c = chunk_holding(arena, addr);
    return c != NULL && starts_one_of_first(arena, c, addr, c->used);
}

int
pt_arena_inherited(const struct pt_arena *arena, uintptr_t addr)
{
    const struct pt_chunk *c = chunk_holding(arena, addr);
    return c != NULL && starts_one_of_first(arena, c, addr, c->inherited);
}

size_t
pt_arena_stub_count(const struct pt_arena *arena)
{
    return arena->stubs;
}

size_t
pt_arena_mapped_bytes(const struct pt_arena *arena)
{
    return arena->mapped;
}

int
pt_arena_after_fork(struct pt_arena *arena)
{
    return -pthread_mutex_init(&arena->lock, NULL);
}

void
pt_arena_free(struct pt_arena *arena)
{
    if (arena == NULL) {
        return;
    }
    pthread_mutex_lock(&arenas_lock);
    if (arena->prev_arena != NULL) {
        arena->prev_arena->next_arena = arena->next_arena;
    }
    else {
        arenas = arena->next_arena;
    }
    if (arena->next_arena != NULL) {
        arena->next_arena->prev_arena = arena->prev_arena;
    }
    pthread_mutex_unlock(&arenas_lock);
    struct pt_chunk *c = arena->chunks;
    while (c != NULL) {
        struct pt_chunk *next = c->next;
        pt_cfi_deregister_chunk(c->cfi);
        if (!c->from_source) {
            munmap(c->base, arena->chunk_bytes);
        }
        free(c);
        c = next;
    }
    pthread_mutex_destroy(&arena->lock);
    free(arena);
}
