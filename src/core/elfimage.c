/*
 * The perf_elf writer: the image of elfimage.h, created per process, its
 * executable part mapped once and handed to the arena a chunk at a time.
 *
 * Writing: a chunk's stubs, FDEs and index entries go into the file with
 * pwrite (no page of ours is ever writable and executable; the kernel keeps
 * the shared executable mapping coherent with the file), then fde_count is
 * published.  Symbols and names are stored through a MAP_SHARED read-write
 * mapping of the (non-executable) tables, whose blocks are fallocate'd ahead
 * of use, so an add() costs no system call and a full filesystem is an error
 * return, never a SIGBUS.
 *
 * Fork: as for the other writers (outfile.h's pt_procfile), a
 * pthread_atfork handler bumps a generation; the child's first call
 * (after_fork, add, or a chunk for its arena) moves it to its own file: the
 * same fixed parts, the FDEs of every chunk it has, the symbols of the stubs
 * it inherited (keep()), then its own file mapped over the executable range
 * at the same address (identical bytes; perf sees the new mapping and names
 * the child's samples from the child's file).
 *
 * Exec and pid reuse: a file already at the path is continued when its owner
 * note says it is this process's (same pid and start time: an exec'd image;
 * its earlier entries still describe the samples before the exec, and the
 * new image appends after them at a new base), and replaced otherwise
 * (unlinked, then created anew with O_EXCL).
 */
#include "elfimage.h"
#include "elfimage_file.h"
#include "align.h"
#include "arena.h"
#include "escape.h"
#include "fileio.h"
#include "outfile.h"
#include "stub.h"
#include "writer.h"

#include <elf.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Blocks for symbols and names are reserved this much at a time. */
#define ALLOC_STEP ((size_t)64 * 1024)

struct elfimage {
    struct pt_procfile file; /* first: pt_procfile_path() reads it there */
    struct pt_elf_layout l;
    unsigned char *exec;         /* [0, exec_end) of the file, PROT_READ|PROT_EXEC */
    unsigned char *tables;       /* [sym_off, file_size), read-write */
    size_t text_used;            /* bytes of .text handed out in chunks */
    size_t chunk_bytes, stride;  /* the arena's, from its first chunk */
    size_t fdes;                 /* FDEs published */
    size_t symbols;              /* symbols written (indices 1..symbols) */
    size_t str_used;             /* .strtab bytes used (byte 0 is the empty name) */
    size_t sym_alloc, str_alloc; /* bytes of each with blocks reserved */
};
_Static_assert(offsetof(struct elfimage, file) == 0, "pt_procfile_path reads it first");

static Elf64_Sym *
symbol(const struct elfimage *img, size_t index)
{
    return (Elf64_Sym *)(void *)img->tables + index;
}

static char *
strtab(const struct elfimage *img)
{
    return (char *)img->tables + (img->l.str_off - img->l.sym_off);
}

/* Reserves blocks so that [0, need) of a table may be stored to, and
 * publishes the table's new size in its section header (elfimage.h). */
static int
reserve(struct elfimage *img, int section, size_t need)
{
    int symtab = section == PT_ELF_SEC_SYMTAB;
    size_t off = symtab ? img->l.sym_off : img->l.str_off;
    size_t cap = symtab ? img->l.sym_cap : img->l.str_cap;
    size_t *alloc = symtab ? &img->sym_alloc : &img->str_alloc;
    if (need <= *alloc) {
        return 0;
    }
    if (need > cap) {
        return -ENOSPC;
    }
    size_t to = pt_round_up(need, ALLOC_STEP);
    to = to > cap ? cap : to;
    int rc = pt_allocate(img->file.fd, off + *alloc, to - *alloc);
    if (rc != 0) {
        return rc;
    }
    struct pt_elf_extent extent;
    pt_elf_table_extent(section, to, &extent);
    rc = pt_pwrite_all(img->file.fd, extent.bytes, sizeof(extent.bytes), extent.off);
    if (rc != 0) {
        return rc;
    }
    *alloc = to;
    return 0;
}

/* Writes the fixed parts of a new file: headers, CIE, .eh_frame_hdr. */
static int
write_fixed(struct elfimage *img, pid_t pid)
{
    const struct pt_elf_layout *l = &img->l;
    if (ftruncate(img->file.fd, (off_t)l->file_size) != 0) {
        return -errno;
    }
    size_t head = pt_elf_headers_size();
    size_t cie = pt_elf_cie_size();
    uint8_t *buf = calloc(1, head + cie + PT_ELF_HDR_FIXED);
    if (buf == NULL) {
        return -ENOMEM;
    }
    uint8_t id[PT_ELF_BUILD_ID_LEN];
    pt_elf_new_build_id(id, sizeof(id));
    struct pt_elf_owner owner = {
        .pid = (uint64_t)pid,
        .start_ticks = pt_process_start_ticks(),
        .slots = l->slots,
        .str_cap = l->str_cap,
    };
    pt_elf_write_headers(buf, l, id, &owner);
    pt_elf_write_cie(buf + head, l);
    pt_elf_write_hdr_fixed(buf + head + cie, l);
    int rc = pt_pwrite_all(img->file.fd, buf, head, 0);
    if (rc == 0) {
        rc = pt_pwrite_all(img->file.fd, buf + head, cie, l->eh_off);
    }
    if (rc == 0) {
        rc = pt_pwrite_all(img->file.fd, buf + head + cie, PT_ELF_HDR_FIXED, l->hdr_off);
    }
    free(buf);
    img->text_used = 0;
    img->fdes = 0;
    img->symbols = 0;
    img->str_used = 1;
    img->sym_alloc = 0;
    img->str_alloc = 0;
    /* The first chunk's worth of blocks now, so that a full filesystem
     * refuses the backend at activation rather than at the first call. */
    if (rc == 0) {
        rc = pt_allocate(img->file.fd, l->text_off, PT_ELF_ALIGN);
    }
    if (rc == 0) {
        rc = reserve(img, PT_ELF_SEC_SYMTAB, 2 * sizeof(Elf64_Sym));
    }
    if (rc == 0) {
        rc = reserve(img, PT_ELF_SEC_STRTAB, 1);
    }
    return rc;
}

/* Takes up a file an earlier image of this process wrote (exec): where its
 * chunks, symbols and names end.  -ESTALE when it is not ours to continue. */
static int
continue_file(struct elfimage *img, pid_t pid)
{
    const struct pt_elf_layout *l = &img->l;
    struct stat st;
    if (fstat(img->file.fd, &st) != 0) {
        return -errno;
    }
    uint8_t head[4096];
    size_t head_len = pt_elf_headers_size();
    struct pt_elf_owner owner;
    if ((size_t)st.st_size != l->file_size || head_len > sizeof(head) ||
        pread(img->file.fd, head, head_len, 0) != (ssize_t)head_len ||
        pt_elf_read_owner(head, head_len, &owner) != 0 || owner.pid != (uint64_t)pid ||
        owner.start_ticks == 0 || owner.start_ticks != pt_process_start_ticks() ||
        owner.slots != l->slots || owner.str_cap != l->str_cap) {
        return -ESTALE;
    }
    uint32_t count;
    if (pread(img->file.fd, &count, 4, (off_t)(l->hdr_off + PT_ELF_HDR_COUNT_AT)) != 4 ||
        count > l->slots) {
        return -ESTALE;
    }
    img->fdes = count;
    img->text_used = 0;
    if (count > 0) {
        /* The last FDE's range ends the text handed out. */
        uint32_t fde[4];
        size_t at = l->eh_off + pt_elf_cie_size() + (count - 1) * pt_elf_fde_size();
        if (pread(img->file.fd, fde, sizeof(fde), (off_t)at) != (ssize_t)sizeof(fde)) {
            return -ESTALE;
        }
        size_t begin = at + 8 + (size_t)(int32_t)fde[2];
        img->text_used = pt_round_up(begin + fde[3] - l->text_off, PT_ELF_ALIGN);
        if (img->text_used > l->text_cap) {
            return -ESTALE;
        }
    }
    return 0;
}

/* Counts the symbols and names of a continued file (tables mapped). */
static void
count_symbols(struct elfimage *img)
{
    img->symbols = 0;
    img->str_used = 1;
    while (img->symbols < img->l.slots && symbol(img, img->symbols + 1)->st_info != 0) {
        img->symbols++;
    }
    if (img->symbols > 0) {
        const Elf64_Sym *last = symbol(img, img->symbols);
        const char *names = strtab(img);
        if (last->st_name < img->l.str_cap) {
            size_t n = strnlen(names + last->st_name, img->l.str_cap - last->st_name);
            img->str_used = last->st_name + n + 1;
        }
    }
    img->sym_alloc = (img->symbols + 1) * sizeof(Elf64_Sym);
    img->str_alloc = img->str_used;
}

/* Opens (creating, continuing or replacing) the file for `pid`; fd set. */
static int
open_file(struct elfimage *img, pid_t pid, int *continued)
{
    char name[64];
    int rc = pt_procfile_name(&img->file, pid, name, sizeof(name));
    if (rc != 0) {
        return rc;
    }
    int dirfd = pt_elf_open_dir(img->file.dir);
    if (dirfd < 0) {
        return dirfd;
    }
    *continued = 0;
    int fd = pt_elf_create(dirfd, name);
    if (fd == -EEXIST) {
        fd = pt_elf_open_existing(dirfd, name);
        if (fd >= 0) {
            img->file.fd = fd;
            if (continue_file(img, pid) == 0) {
                *continued = 1;
            }
            else {
                /* Another process's (an earlier one with our pid): ours is
                 * made anew, never written into theirs. */
                close(fd);
                img->file.fd = -1;
                fd = unlinkat(dirfd, name, 0) == 0 ? pt_elf_create(dirfd, name) : -errno;
            }
        }
    }
    close(dirfd);
    if (fd < 0) {
        return fd;
    }
    pt_procfile_opened(&img->file, fd);
    return 0;
}

/* Maps the file as one image: the executable range at `at` (NULL: at a new
 * place) and the tables right after it, where their file offset puts them.
 * perf takes an image's load address from the lowest of the process's
 * mappings of the file (6.1's libunwind glue) or from each mapping's start
 * less its offset (libdw), so every mapping of the file must agree on it, as
 * the dynamic loader's do for a library: a tables mapping anywhere else
 * makes perf read .eh_frame_hdr at a wrong address and cut every stack at
 * the first trampoline.  At a new place, one reservation of the whole range
 * first keeps both parts together.  In a forked child (`at` is the parent's
 * image) each part replaces the parent's file's mapping there. */
static int
map_image(struct elfimage *img, unsigned char *at)
{
    const struct pt_elf_layout *l = &img->l;
    unsigned char *base = at;
    if (base == NULL) {
        void *range = mmap(NULL, l->file_size, PROT_NONE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (range == MAP_FAILED) {
            return -errno;
        }
        base = range;
    }
    void *exec = mmap(base, l->exec_end, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED,
                      img->file.fd, 0);
    void *tables =
        exec == MAP_FAILED
            ? MAP_FAILED
            : mmap(base + l->sym_off, l->file_size - l->sym_off, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_FIXED, img->file.fd, (off_t)l->sym_off);
    if (tables == MAP_FAILED) {
        int err = errno;
        if (at == NULL) {
            munmap(base, l->file_size);
        }
        return -err;
    }
    img->exec = exec;
    img->tables = tables;
    return 0;
}

static void
close_file(struct elfimage *img)
{
    if (img->tables != NULL) {
        munmap(img->tables, img->l.file_size - img->l.sym_off);
        img->tables = NULL;
    }
    if (img->file.fd >= 0) {
        close(img->file.fd);
        img->file.fd = -1;
    }
}

static int
elf_open(void **state, const char *dir, const char *pattern, pid_t pid, pt_keep_fn keep,
         void *keep_ctx)
{
    struct elfimage *img = calloc(1, sizeof(*img));
    if (img == NULL) {
        return -ENOMEM;
    }
    /* outfile.h: the one fork counter, and the move to a child's file */
    int rc = pt_procfile_init(&img->file, dir, pattern, keep, keep_ctx);
    if (rc != 0) {
        free(img);
        return rc;
    }
    pt_elf_layout_for(&img->l, PT_ELF_SLOTS, PT_ELF_STRTAB);
    int continued = 0;
    rc = open_file(img, pid, &continued);
    if (rc == 0 && !continued) {
        rc = write_fixed(img, pid);
    }
    if (rc == 0) {
        rc = map_image(img, NULL);
    }
    if (rc == 0 && continued) {
        count_symbols(img);
    }
    if (rc != 0) {
        close_file(img);
        pthread_mutex_destroy(&img->file.lock);
        free(img);
        return rc;
    }
    *state = img;
    return 0;
}

/* Writes the stubs, FDEs and index entries of the chunk at .text offset
 * text_at (first FDE `first`), then publishes the FDE count. */
static int
write_chunk(struct elfimage *img, size_t text_at, size_t first, size_t bytes,
            size_t stride)
{
    const struct pt_elf_layout *l = &img->l;
    size_t slots = bytes / stride;
    size_t fde = pt_elf_fde_size();
    uint8_t *buf = calloc(1, bytes + slots * fde + slots * 8);
    if (buf == NULL) {
        return -ENOMEM;
    }
    size_t code_off = l->text_off + text_at;
    for (size_t i = 0; i < slots; i++) {
        memcpy(buf + i * stride, perftramp_stub_start, pt_stub_code_size());
    }
    pt_elf_write_chunk_fdes(buf + bytes, l, first, code_off, slots, stride);
    pt_elf_write_chunk_index(buf + bytes + slots * fde, l, first, code_off, slots,
                             stride);
    int rc = pt_pwrite_all(img->file.fd, buf, bytes, code_off);
    if (rc == 0) {
        rc = pt_pwrite_all(img->file.fd, buf + bytes, slots * fde,
                           l->eh_off + pt_elf_cie_size() + first * fde);
    }
    if (rc == 0) {
        rc = pt_pwrite_all(img->file.fd, buf + bytes + slots * fde, slots * 8,
                           l->hdr_off + PT_ELF_HDR_FIXED + first * 8);
    }
    free(buf);
    if (rc == 0) {
        uint32_t count = (uint32_t)(first + slots);
        rc = pt_pwrite_all(img->file.fd, &count, 4, l->hdr_off + PT_ELF_HDR_COUNT_AT);
    }
    return rc;
}

/* Stores one symbol (lock held, blocks reserved by the caller). */
static void
put_symbol(struct elfimage *img, uint32_t name_at, size_t value, size_t size)
{
    Elf64_Sym *sym = symbol(img, img->symbols + 1);
    sym->st_name = name_at;
    sym->st_value = value;
    sym->st_size = size;
    sym->st_shndx = PT_ELF_SEC_TEXT;
    sym->st_other = STV_DEFAULT;
    /* Last: until it is FUNC the entry is an empty one that readers skip. */
    __atomic_store_n(&sym->st_info, (unsigned char)ELF64_ST_INFO(STB_LOCAL, STT_FUNC),
                     __ATOMIC_RELEASE);
    img->symbols++;
}

/* Room for one more symbol and `name_len` + 1 bytes of name. */
static int
reserve_entry(struct elfimage *img, size_t name_len)
{
    if (img->symbols >= img->l.slots) {
        return -ENOSPC;
    }
    int rc = reserve(img, PT_ELF_SEC_SYMTAB, (img->symbols + 2) * sizeof(Elf64_Sym));
    if (rc == 0) {
        rc = reserve(img, PT_ELF_SEC_STRTAB, img->str_used + name_len + 1);
    }
    return rc;
}

/* The name of old's symbol i when a forked child keeps it (an inherited
 * stub that keep() wants named), else NULL; *len is set. */
static const char *
kept_name(const struct elfimage *img, const struct elfimage *old, size_t i, size_t *len)
{
    const Elf64_Sym *sym = symbol(old, i);
    if (sym->st_info == 0 || sym->st_name >= old->l.str_cap ||
        !img->file.keep(img->file.keep_ctx, (uintptr_t)old->exec + sym->st_value)) {
        return NULL;
    }
    const char *name = strtab(old) + sym->st_name;
    *len = strnlen(name, old->l.str_cap - sym->st_name);
    return name;
}

/* Writes the symbols a forked child keeps from old into its new file with
 * pwrite, names before symbols: the file is mapped only once it is whole
 * (map_image), so that perf never sees a mapping of it elsewhere. */
static int
copy_kept_symbols(struct elfimage *img, const struct elfimage *old)
{
    size_t count = 0, bytes = 0, len = 0;
    for (size_t i = 1; i <= old->symbols; i++) {
        if (kept_name(img, old, i, &len) != NULL) {
            count++;
            bytes += len + 1;
        }
    }
    if (count == 0) {
        return 0;
    }
    int rc = reserve(img, PT_ELF_SEC_SYMTAB, (count + 1) * sizeof(Elf64_Sym));
    if (rc == 0) {
        rc = reserve(img, PT_ELF_SEC_STRTAB, 1 + bytes);
    }
    Elf64_Sym *syms = rc == 0 ? calloc(count, sizeof(*syms)) : NULL;
    char *names = rc == 0 ? malloc(bytes) : NULL;
    if (rc == 0 && (syms == NULL || names == NULL)) {
        rc = -ENOMEM;
    }
    for (size_t i = 1, n = 0, at = 0; rc == 0 && i <= old->symbols; i++) {
        const char *name = kept_name(img, old, i, &len);
        if (name == NULL) {
            continue;
        }
        memcpy(names + at, name, len);
        names[at + len] = '\0';
        syms[n] = *symbol(old, i);
        syms[n].st_name = (uint32_t)(1 + at);
        n++;
        at += len + 1;
    }
    if (rc == 0) {
        rc = pt_pwrite_all(img->file.fd, names, bytes, img->l.str_off + 1);
    }
    if (rc == 0) {
        rc = pt_pwrite_all(img->file.fd, syms, count * sizeof(*syms),
                           img->l.sym_off + sizeof(Elf64_Sym));
    }
    if (rc == 0) {
        img->symbols = count;
        img->str_used = 1 + bytes;
    }
    free(syms);
    free(names);
    return rc;
}

/* pt_move_fn, lock held: in a forked child, to the child's own file, which
 * replaces the parent's at the same addresses (identical code bytes). */
static int
move_to_child(void *writer)
{
    struct elfimage *img = writer;
    if (img->file.fd < 0) {
        return -EBADF; /* an earlier move failed: no file to take over */
    }
    struct elfimage old = *img;
    img->file.fd = -1;
    img->tables = NULL;
    int continued = 0;
    int rc = open_file(img, getpid(), &continued);
    if (rc == 0 && continued) {
        rc = -EEXIST; /* cannot be: a new pid */
    }
    if (rc == 0) {
        rc = write_fixed(img, getpid());
    }
    /* Every chunk this process has, then the inherited stubs' names.  (A
     * continued file whose image made no chunk yet: the arena's defaults.) */
    size_t chunk_bytes = old.chunk_bytes ? old.chunk_bytes : PT_ELF_ALIGN;
    size_t stride = old.stride ? old.stride : PT_ELF_MIN_STRIDE;
    while (rc == 0 && img->text_used < old.text_used) {
        rc = write_chunk(img, img->text_used, img->fdes, chunk_bytes, stride);
        img->text_used += chunk_bytes;
        img->fdes += chunk_bytes / stride;
    }
    img->chunk_bytes = old.chunk_bytes;
    img->stride = old.stride;
    if (rc == 0) {
        rc = copy_kept_symbols(img, &old);
    }
    if (rc == 0) {
        rc = map_image(img, old.exec);
    }
    if (rc == 0) {
        old.tables = NULL; /* replaced by the child's, at the same address */
    }
    close_file(&old);
    if (rc != 0) {
        close_file(img);
        img->exec = old.exec;
    }
    return rc;
}

static int
elf_map_chunk(void *ctx, size_t bytes, size_t stride, void **base)
{
    struct elfimage *img = ctx;
    if (stride < PT_ELF_MIN_STRIDE || bytes % PT_ELF_ALIGN != 0) {
        return -EINVAL;
    }
    int rc = pt_procfile_lock(&img->file, move_to_child, img);
    if (rc != 0) {
        return rc;
    }
    size_t slots = bytes / stride;
    if (img->chunk_bytes != 0 && (img->chunk_bytes != bytes || img->stride != stride)) {
        rc = -EINVAL; /* one arena per file */
    }
    else if (img->text_used + bytes > img->l.text_cap ||
             img->fdes + slots > img->l.slots) {
        rc = -ENOSPC;
    }
    else {
        rc = write_chunk(img, img->text_used, img->fdes, bytes, stride);
    }
    if (rc == 0) {
        *base = img->exec + img->l.text_off + img->text_used;
        img->text_used += bytes;
        img->fdes += slots;
        img->chunk_bytes = bytes;
        img->stride = stride;
    }
    pt_procfile_unlock(&img->file);
    return rc;
}

static int
elf_attach_arena(void *state, struct pt_arena *arena)
{
    struct pt_code_source source = {.map = elf_map_chunk, .ctx = state};
    return pt_arena_set_source(arena, &source);
}

static int
elf_add(void *state, uintptr_t addr, size_t size, const struct pt_name *name)
{
    struct elfimage *img = state;
    size_t escaped = 0;
    for (int i = 0; i < name->count; i++) {
        escaped += pt_escape_name(name->part[i], name->len[i], NULL, 0);
    }
    size_t len = escaped > PT_ELF_NAME_MAX ? PT_ELF_NAME_MAX : escaped;
    int rc = pt_procfile_lock(&img->file, move_to_child, img);
    if (rc != 0) {
        return rc;
    }
    uintptr_t text = (uintptr_t)img->exec + img->l.text_off;
    if (addr < text || addr - text >= img->text_used) {
        rc = -EINVAL;
    }
    else {
        rc = reserve_entry(img, len);
    }
    if (rc == 0) {
        char *out = strtab(img) + img->str_used;
        size_t at = 0;
        for (int i = 0; i < name->count && at < len; i++) {
            size_t n = pt_escape_name(name->part[i], name->len[i], out + at, len - at);
            at += n < len - at ? n : len - at;
        }
        out[len] = '\0';
        put_symbol(img, (uint32_t)img->str_used, addr - (uintptr_t)img->exec, size);
        img->str_used += len + 1;
    }
    pt_procfile_unlock(&img->file);
    return rc;
}

static int
elf_after_fork(void *state)
{
    struct elfimage *img = state;
    return pt_procfile_after_fork(&img->file, move_to_child, img);
}

/* The executable range stays mapped: stubs may still be running (this is
 * called at exit), and the file is complete as it is. */
static void
elf_close(void *state)
{
    struct elfimage *img = state;
    if (img == NULL) {
        return;
    }
    close_file(img);
    pthread_mutex_destroy(&img->file.lock);
    free(img);
}

const struct pt_writer_ops pt_elfimage_writer = {
    .name = "ELF image",
    .open = elf_open,
    .attach_arena = elf_attach_arena,
    .add = elf_add,
    .after_fork = elf_after_fork,
    .pause = NULL,
    .path = pt_procfile_path,
    .close = elf_close,
};
