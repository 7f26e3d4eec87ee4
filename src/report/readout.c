#include "readout.h"
#include "addrspace.h"
#include "ehframe.h"
#include "elffile.h"
#include "grow.h"
#include "inlines.h"
#include "perfdata.h"
#include "textsyms.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_STACK 8192
/* perf's PERF_CONTEXT_* callchain markers are the top values of a u64. */
#define CONTEXT_MAX ((uint64_t)-4095)
#define CONTEXT_KERNEL ((uint64_t)-128)
#define CONTEXT_USER ((uint64_t)-512)
#define CPUMODE_KERNEL 1
/* Text handed to the folder at a time. */
#define FLUSH_AT (1u << 20)

enum object_kind { OBJ_FILE, OBJ_PERF_MAP, OBJ_VDSO, OBJ_NONE };

/* An object a mapping names: loaded on first use, once. */
struct object {
    char *name; /* as perf prints it (the mapping's file, or the perf map) */
    enum object_kind kind;
    uint8_t build_id[20];
    uint8_t build_id_size;
    int tried;
    struct pt_elf_file *elf;
    struct pt_elf_file *debug;  /* its separate debug file, for symbols */
    struct pt_inlines *inlines; /* its DWARF's inline chains, or NULL */
    int inlines_tried;
    struct pt_cfi_index *cfi;
    struct pt_textsyms *syms; /* a perf map's */
    void *image;              /* the vDSO's copy */
    size_t image_len;
};

struct comm {
    uint32_t tid;
    char *name;
};

struct text {
    char *data;
    size_t len, cap;
};

struct frame {
    uint64_t ip; /* as printed: a return address less one */
    int kernel;
    /* unwound from the stack copy (perf 6.1 lists the functions inlined at
     * such a frame's address only: options.libdw_inlines) */
    int unwound;
};

struct readout {
    const struct pt_readout_options *options;
    struct pt_fold *fold;
    struct pt_readout_stats *stats;
    struct pt_addrspaces *spaces;
    struct object *objects;
    size_t nobjects, objects_cap;
    struct comm *comms;
    size_t ncomms, comms_cap;
    struct pt_textsyms *kallsyms;
    int kallsyms_tried;
    struct frame *frames;
    size_t max_frames;
    struct text text;
};

static int
text_reserve(struct text *t, size_t extra)
{
    return pt_grow((void **)&t->data, &t->cap, t->len + extra, 1);
}

__attribute__((format(printf, 2, 3))) static int
text_printf(struct text *t, const char *format, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, format);
        int n = vsnprintf(t->data + t->len, t->cap - t->len, format, ap);
        va_end(ap);
        if (n < 0) {
            return -EINVAL;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return 0;
        }
        int rc = text_reserve(t, (size_t)n + 1);
        if (rc != 0) {
            return rc;
        }
    }
}

static int
text_append(struct text *t, const char *s, size_t n)
{
    int rc = text_reserve(t, n + 1);
    if (rc == 0) {
        memcpy(t->data + t->len, s, n);
        t->len += n;
    }
    return rc;
}

static int
flush(struct readout *r, int force)
{
    if (r->text.len == 0 || (!force && r->text.len < FLUSH_AT)) {
        return 0;
    }
    int rc = pt_fold_feed(r->fold, r->text.data, r->text.len);
    r->text.len = 0;
    return rc;
}

/* ---- objects ---- */

/* Memory perf names from the process's perf map when it is executable
 * (perf's is_anon_memory() and is_no_dso_memory()). */
static int
anonymous(const char *name)
{
    return strcmp(name, "//anon") == 0 || strncmp(name, "/dev/zero", 9) == 0 ||
           strncmp(name, "/anon_hugepage", 14) == 0 || strncmp(name, "[stack", 6) == 0 ||
           strncmp(name, "/SYSV", 5) == 0 || strcmp(name, "[heap]") == 0;
}

static int
object_index(struct readout *r, const char *name, enum object_kind kind,
             const struct pt_perf_mmap *m, uint32_t *index)
{
    for (size_t i = r->nobjects; i-- > 0;) {
        if (r->objects[i].kind == kind && strcmp(r->objects[i].name, name) == 0) {
            *index = (uint32_t)i;
            return 0;
        }
    }
    if (pt_grow((void **)&r->objects, &r->objects_cap, r->nobjects + 1,
                sizeof(*r->objects)) != 0) {
        return -ENOMEM;
    }
    struct object *o = &r->objects[r->nobjects];
    *o = (struct object){.kind = kind, .name = strdup(name)};
    if (o->name == NULL) {
        return -ENOMEM;
    }
    if (m != NULL && m->build_id != NULL && m->build_id_size <= sizeof(o->build_id)) {
        memcpy(o->build_id, m->build_id, m->build_id_size);
        o->build_id_size = m->build_id_size;
    }
    *index = (uint32_t)r->nobjects++;
    return 0;
}

static void
object_release(struct object *o)
{
    pt_inlines_free(o->inlines);
    pt_elf_file_free(o->elf);
    pt_elf_file_free(o->debug);
    pt_cfi_index_free(o->cfi);
    pt_textsyms_free(o->syms);
    free(o->image);
    free(o->name);
}

/* The CFI tables of an ELF file; none is not an error (the walk stops). */
static void
load_cfi(struct object *o)
{
    struct pt_cfi_tables t = {.machine = pt_elf_file_machine(o->elf)};
    uint64_t unused;
    if (pt_elf_file_section(o->elf, ".eh_frame_hdr", &t.eh_frame_hdr,
                            &t.eh_frame_hdr_size, &t.eh_frame_hdr_vaddr) != 0) {
        t.eh_frame_hdr = NULL;
        t.eh_frame_hdr_size = 0;
    }
    if (pt_elf_file_section(o->elf, ".eh_frame", &t.eh_frame, &t.eh_frame_size,
                            &t.eh_frame_vaddr) != 0) {
        t.eh_frame = NULL;
        t.eh_frame_size = 0;
    }
    if (pt_elf_file_section(o->elf, ".debug_frame", &t.debug_frame, &t.debug_frame_size,
                            &unused) != 0) {
        t.debug_frame = NULL;
        t.debug_frame_size = 0;
    }
    if (t.eh_frame_hdr || t.eh_frame || t.debug_frame) {
        if (pt_cfi_index_new(&o->cfi, &t) != 0) {
            o->cfi = NULL;
        }
    }
}

/* dir/.build-id/xx/rest<suffix>: where a build-id cache and a debug
 * directory keep a file by its build-id (perf's and gdb's layout). 0, or
 * -EINVAL / -ENAMETOOLONG. */
static int
build_id_path(char *path, size_t path_size, const char *dir, const uint8_t *id,
              size_t size, const char *suffix)
{
    char hex[41];
    if (size < 2 || size > 20) {
        return -EINVAL;
    }
    for (size_t i = 0; i < size; i++) {
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
    }
    int n =
        snprintf(path, path_size, "%s/.build-id/%.2s/%s%s", dir, hex, hex + 2, suffix);
    return n > 0 && (size_t)n < path_size ? 0 : -ENAMETOOLONG;
}

/* The recording's build-id cache's copy of the object, when it has one. */
static int
open_from_cache(struct readout *r, struct object *o, char *err, size_t err_size)
{
    const char *dir = r->options->build_id_dir;
    char path[4096];
    int rc = dir != NULL ? build_id_path(path, sizeof(path), dir, o->build_id,
                                         o->build_id_size, "")
                         : -ENOENT;
    return rc != 0 ? rc : pt_elf_file_open(&o->elf, path, err, err_size);
}

/* The separate debug file of an object without its own symbol table
 * (Debian's libc: libc6-dbg), found by build-id as perf finds it; perf
 * names functions from its .symtab. */
static void
open_debug_file(struct readout *r, struct object *o)
{
    const char *dir = r->options->debug_dir ? r->options->debug_dir : "/usr/lib/debug";
    const uint8_t *id;
    size_t size;
    const uint8_t *unused_data;
    size_t unused_size;
    char path[4096], err[256];
    if (dir[0] == '\0' || pt_elf_file_build_id(o->elf, &id, &size) != 0 ||
        pt_elf_file_section(o->elf, ".symtab", &unused_data, &unused_size, NULL) == 0 ||
        build_id_path(path, sizeof(path), dir, id, size, ".debug") != 0) {
        return;
    }
    if (pt_elf_file_open(&o->debug, path, err, sizeof(err)) != 0) {
        o->debug = NULL;
    }
    if (o->debug != NULL && r->options->legacy_plt) {
        pt_elf_file_set_legacy_plt(o->debug, 1);
    }
}

/* This machine's vDSO: the recording's, when the report runs where it was
 * made (perf does the same unless its build-id cache has another). */
static int
open_vdso(struct object *o, char *err, size_t err_size)
{
    unsigned long at = getauxval(AT_SYSINFO_EHDR);
    FILE *maps = fopen("/proc/self/maps", "re");
    uint64_t start = 0, end = 0;
    char line[512];
    while (maps != NULL && fgets(line, sizeof(line), maps) != NULL) {
        if (strstr(line, "[vdso]") != NULL &&
            sscanf(line, "%" SCNx64 "-%" SCNx64, &start, &end) == 2) {
            break;
        }
        start = end = 0;
    }
    if (maps != NULL) {
        fclose(maps);
    }
    if (at == 0 || start != at || end <= start) {
        return -ENOENT;
    }
    o->image_len = (size_t)(end - start);
    o->image = malloc(o->image_len);
    if (o->image == NULL) {
        return -ENOMEM;
    }
    memcpy(o->image, (const void *)at, o->image_len);
    return pt_elf_file_from_memory(&o->elf, o->image, o->image_len, err, err_size);
}

static void
load_object(struct readout *r, struct object *o)
{
    char err[256];
    o->tried = 1;
    int rc = -ENOENT;
    if (o->kind == OBJ_PERF_MAP) {
        rc = pt_textsyms_load(&o->syms, o->name, pt_textsyms_from_perf_map);
    }
    else if (o->kind == OBJ_VDSO) {
        rc = open_vdso(o, err, sizeof(err));
    }
    else if (o->kind == OBJ_FILE) {
        rc = open_from_cache(r, o, err, sizeof(err));
        if (rc != 0) {
            rc = pt_elf_file_open(&o->elf, o->name, err, sizeof(err));
        }
    }
    if (rc != 0) {
        o->elf = NULL;
        o->syms = NULL;
        r->stats->objects_missing++;
        return;
    }
    if (o->elf != NULL) {
        if (r->options->legacy_plt) {
            pt_elf_file_set_legacy_plt(o->elf, 1);
        }
        load_cfi(o);
        open_debug_file(r, o);
    }
}

static struct object *
object_of(struct readout *r, uint32_t index)
{
    if (index >= r->nobjects) {
        return NULL;
    }
    struct object *o = &r->objects[index];
    if (!o->tried) {
        load_object(r, o);
    }
    return o;
}

/* ---- threads' commands ---- */

static struct comm *
comm_find(struct readout *r, uint32_t tid)
{
    for (size_t i = r->ncomms; i-- > 0;) {
        if (r->comms[i].tid == tid) {
            return &r->comms[i];
        }
    }
    return NULL;
}

static int
comm_set(struct readout *r, uint32_t tid, const char *name)
{
    char *copy = strdup(name);
    if (copy == NULL) {
        return -ENOMEM;
    }
    struct comm *c = comm_find(r, tid);
    if (c == NULL) {
        if (pt_grow((void **)&r->comms, &r->comms_cap, r->ncomms + 1,
                    sizeof(*r->comms)) != 0) {
            free(copy);
            return -ENOMEM;
        }
        c = &r->comms[r->ncomms++];
        c->tid = tid;
        c->name = NULL;
    }
    free(c->name);
    c->name = copy;
    return 0;
}

/* ---- side-band records ---- */

static int
on_mmap(void *ctx, const struct pt_perf_mmap *m)
{
    struct readout *r = ctx;
    if (m->cpumode == CPUMODE_KERNEL) {
        return 0;
    }
    /* Every mapping counts, as in perf: a sample may be in a data one
     * (code run from the heap), and is then named after it. */
    char name[64];
    const char *object_name = m->filename;
    enum object_kind kind = OBJ_FILE;
    if (anonymous(m->filename) && m->executable) {
        snprintf(name, sizeof(name), "%s/perf-%" PRIu32 ".map",
                 r->options->perf_map_dir ? r->options->perf_map_dir : "/tmp", m->pid);
        object_name = name;
        kind = OBJ_PERF_MAP;
    }
    else if (strcmp(m->filename, "[vdso]") == 0) {
        kind = OBJ_VDSO;
    }
    else if (m->filename[0] == '[' || anonymous(m->filename)) {
        kind = OBJ_NONE; /* [vsyscall], [heap], //anon data: nothing to read */
    }
    uint32_t index;
    int rc = object_index(r, object_name, kind, m, &index);
    if (rc == 0) {
        rc = pt_addrspaces_map(r->spaces, m->pid, m->start, m->len, m->pgoff, index);
        if (rc == -EINVAL) {
            rc = 0; /* an empty mapping adds nothing */
        }
    }
    return rc;
}

static int
on_comm(void *ctx, const struct pt_perf_comm *c)
{
    struct readout *r = ctx;
    if (c->exec) {
        pt_addrspaces_clear(r->spaces, c->pid);
    }
    return comm_set(r, c->tid, c->comm);
}

static int
on_task(void *ctx, const struct pt_perf_task *t)
{
    struct readout *r = ctx;
    if (t->exit) {
        return 0;
    }
    struct comm *parent = comm_find(r, t->ptid);
    int rc =
        parent != NULL && parent->name != NULL ? comm_set(r, t->tid, parent->name) : 0;
    if (rc == 0 && t->pid != t->ppid) {
        rc = pt_addrspaces_fork(r->spaces, t->ppid, t->pid);
    }
    return rc;
}

/* ---- naming a frame ---- */

static int
print_unknown(struct readout *r, uint64_t ip, const char *dso)
{
    return text_printf(&r->text, "\t%16" PRIx64 " [unknown] (%s)\n", ip, dso);
}

static int
print_named(struct readout *r, uint64_t ip, const char *name, size_t len, uint64_t offset,
            const char *dso)
{
    int rc = text_printf(&r->text, "\t%16" PRIx64 " ", ip);
    if (rc == 0) {
        rc = text_append(&r->text, name, len);
    }
    return rc != 0 ? rc : text_printf(&r->text, "+0x%" PRIx64 " (%s)\n", offset, dso);
}

static int
print_kernel_frame(struct readout *r, const struct frame *f)
{
    if (!r->kallsyms_tried) {
        r->kallsyms_tried = 1;
        const char *path = r->options->kallsyms ? r->options->kallsyms : "/proc/kallsyms";
        if (path[0] == '\0' ||
            pt_textsyms_load(&r->kallsyms, path, pt_textsyms_from_kallsyms) != 0) {
            r->kallsyms = NULL;
        }
    }
    struct pt_textsym sym;
    if (r->kallsyms == NULL || pt_textsyms_find(r->kallsyms, f->ip, &sym) != 0 ||
        sym.start == 0) {
        return print_unknown(r, f->ip, "[kernel.kallsyms]");
    }
    char dso[80] = "[kernel.kallsyms]";
    if (sym.module_len > 0) {
        snprintf(dso, sizeof(dso), "[%.*s]", (int)sym.module_len, sym.module);
    }
    return print_named(r, f->ip, sym.name, sym.name_len, f->ip - sym.start, dso);
}

/* Whether vaddr is in one of the object's PLT sections: perf names those
 * from the object itself, also when a debug file gives the other names. */
static int
in_plt(const struct pt_elf_file *elf, uint64_t vaddr)
{
    static const char *const sections[] = {".plt", ".plt.sec", ".plt.got"};
    for (size_t i = 0; i < sizeof(sections) / sizeof(*sections); i++) {
        const uint8_t *data;
        size_t size;
        uint64_t start;
        if (pt_elf_file_section(elf, sections[i], &data, &size, &start) == 0 &&
            vaddr >= start && vaddr - start < size) {
            return 1;
        }
    }
    return 0;
}

/* The object's DWARF (its debug file's, else its own), read on first use;
 * NULL when it has none. */
static struct pt_inlines *
object_inlines(struct object *o)
{
    if (!o->inlines_tried) {
        o->inlines_tried = 1;
        if ((o->debug == NULL || pt_inlines_new(&o->inlines, o->debug) != 0) &&
            pt_inlines_new(&o->inlines, o->elf) != 0) {
            o->inlines = NULL;
        }
    }
    return o->inlines;
}

/* The frame's lines for the functions its DWARF says are inlined at vaddr,
 * as perf script prints them (util/machine.c append_inlines, srcline.c
 * new_inline_sym): innermost first, all at the same address and with the
 * symbol's offset; a function whose name is the symbol's is the symbol,
 * printed with the object's name, any other prints "(inlined)".  1 when
 * it printed the frame, 0 when no DWARF function covers vaddr (the caller
 * prints the symbol), or a negative errno. */
static int
print_inlined(struct readout *r, struct object *o, uint64_t at, uint64_t vaddr,
              const char *sym, size_t sym_len, uint64_t offset)
{
    enum { MAX_INLINED = 64 };
    const char *names[MAX_INLINED];
    size_t lens[MAX_INLINED];
    struct pt_inlines *in = object_inlines(o);
    int n = in != NULL ? pt_inlines_at(in, vaddr, names, lens, MAX_INLINED) : 0;
    if (n == -ENOMEM) {
        return n;
    }
    if (n > 0 && r->options->libdw_inlines) {
        names[n - 1] = sym;
        lens[n - 1] = sym_len;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        int is_sym = lens[i] == sym_len && memcmp(names[i], sym, sym_len) == 0;
        rc = print_named(r, at, names[i], lens[i], offset, is_sym ? o->name : "inlined");
    }
    return rc != 0 ? rc : n > 0;
}

/* A frame in a file: named from its symbols (or its debug file's); the
 * address perf prints is the mapping's, ip - start + pgoff. */
static int
print_file_frame(struct readout *r, const struct pt_mapping *m, struct object *o,
                 const struct frame *f)
{
    uint64_t at = f->ip - m->start + m->pgoff, vaddr, start;
    const char *name;
    size_t len;
    if (o->elf == NULL || pt_elf_file_offset_to_vaddr(o->elf, at, &vaddr) != 0) {
        return print_unknown(r, at, o->name);
    }
    struct pt_elf_file *names =
        o->debug != NULL && !in_plt(o->elf, vaddr) ? o->debug : o->elf;
    if (pt_elf_file_symbol(names, vaddr, &name, &len, &start) != 0) {
        return print_unknown(r, at, o->name);
    }
    int rc = f->unwound || r->options->libdw_inlines
                 ? print_inlined(r, o, at, vaddr, name, len, vaddr - start)
                 : 0;
    return rc != 0 ? (rc < 0 ? rc : 0)
                   : print_named(r, at, name, len, vaddr - start, o->name);
}

static int
print_frame(struct readout *r, uint32_t pid, const struct frame *f)
{
    if (f->kernel) {
        return print_kernel_frame(r, f);
    }
    const struct pt_mapping *m = pt_addrspaces_find(r->spaces, pid, f->ip);
    struct object *o = m ? object_of(r, m->object) : NULL;
    if (o == NULL || o->kind == OBJ_NONE) {
        return print_unknown(r, f->ip, o ? o->name : "[unknown]");
    }
    if (o->syms != NULL) {
        struct pt_textsym sym;
        return pt_textsyms_find(o->syms, f->ip, &sym) == 0
                   ? print_named(r, f->ip, sym.name, sym.name_len, f->ip - sym.start,
                                 o->name)
                   : print_unknown(r, f->ip, o->name);
    }
    if (o->kind == OBJ_PERF_MAP) {
        return print_unknown(r, f->ip, o->name);
    }
    return print_file_frame(r, m, o, f);
}

/* ---- unwinding ---- */

struct stack_copy {
    uint64_t sp, size;
    const uint8_t *data;
};

static int
read_stack(void *ctx, uint64_t addr, uint64_t *value)
{
    const struct stack_copy *s = ctx;
    if (addr < s->sp || addr - s->sp > s->size || s->size - (addr - s->sp) < 8) {
        return -1;
    }
    memcpy(value, s->data + (addr - s->sp), 8);
    return 0;
}

/* perf's x86_64 sample register numbers, in the DWARF numbering: ax bx cx
 * dx si di bp sp ip, then r8..r15 from perf's 16. */
static int
dwarf_register(unsigned perf_reg)
{
    static const signed char low[] = {0, 3, 2, 1, 4, 5, 6, 7, 16};
    if (perf_reg < sizeof(low)) {
        return low[perf_reg];
    }
    return perf_reg >= 16 && perf_reg <= 23 ? (int)perf_reg - 8 : -1;
}

static void
initial_registers(const struct pt_perf_sample *s, struct pt_cfi_regs *regs)
{
    memset(regs, 0, sizeof(*regs));
    uint32_t k = 0;
    for (unsigned bit = 0; bit < 64 && k < s->regs_nr; bit++) {
        if (!(s->regs_mask >> bit & 1)) {
            continue;
        }
        int d = dwarf_register(bit);
        if (d >= 0 && d < PT_CFI_REGS) {
            regs->r[d] = pt_perf_u64(s->regs, k);
            regs->valid |= UINT64_C(1) << d;
        }
        k++;
    }
}

static int
add_frame(struct readout *r, size_t *n, uint64_t ip, int kernel, int unwound)
{
    if (*n >= r->max_frames) {
        return 0;
    }
    r->frames[(*n)++] = (struct frame){.ip = ip, .kernel = kernel, .unwound = unwound};
    return 1;
}

/* The CFI row for a frame at pc (a caller's frame: looked up at pc - 1). */
static int
row_at(struct readout *r, uint32_t pid, uint64_t lookup, struct pt_cfi_row *row)
{
    const struct pt_mapping *m = pt_addrspaces_find(r->spaces, pid, lookup);
    struct object *o = m ? object_of(r, m->object) : NULL;
    uint64_t vaddr;
    if (o == NULL || o->cfi == NULL ||
        pt_elf_file_offset_to_vaddr(o->elf, lookup - m->start + m->pgoff, &vaddr) != 0) {
        return -ENOENT;
    }
    return pt_cfi_find(o->cfi, vaddr, row);
}

/* The user frames of a DWARF sample, from its registers and stack copy. */
static void
unwind_user(struct readout *r, const struct pt_perf_sample *s, size_t *n)
{
    struct pt_cfi_regs regs;
    initial_registers(s, &regs);
    if (!(regs.valid >> 16 & 1) || !(regs.valid >> 7 & 1)) {
        return;
    }
    struct stack_copy copy = {.sp = regs.r[7], .size = s->stack_size, .data = s->stack};
    uint64_t pc = regs.r[16];
    int first = 1;
    while (pc != 0 && add_frame(r, n, first ? pc : pc - 1, 0, 1)) {
        uint64_t lookup = first ? pc : pc - 1;
        struct pt_cfi_row row;
        if (row_at(r, s->pid, lookup, &row) != 0) {
            r->stats->no_cfi_stops++;
            return;
        }
        /* Registers stay in memory's addresses (the row was found by the
         * file's): the one rule that reads the pc, glibc's PLT's, looks at
         * its low bits only, the same in both (mappings are whole pages). */
        uint64_t sp = regs.r[7];
        if (pt_cfi_step(&row, &regs, read_stack, &copy) != 0) {
            r->stats->copy_end_stops++;
            return;
        }
        if (!(regs.valid >> 16 & 1) || (regs.r[7] <= sp && !row.signal_frame)) {
            return;
        }
        pc = regs.r[16];
        first = row.signal_frame;
    }
}

/* The callchain's frames: kernel ones, and for a frame-pointer recording
 * the user ones too (a DWARF recording's callchain stops at the kernel). */
static void
callchain_frames(struct readout *r, const struct pt_perf_sample *s, size_t *n, int *user)
{
    int kernel = s->cpumode == CPUMODE_KERNEL;
    *user = 0;
    for (uint64_t i = 0; i < s->callchain_nr; i++) {
        uint64_t ip = pt_perf_u64(s->callchain, i);
        if (ip >= CONTEXT_MAX) {
            kernel = ip == CONTEXT_KERNEL;
            *user |= ip == CONTEXT_USER;
            continue;
        }
        if (!add_frame(r, n, ip, kernel, 0)) {
            return;
        }
    }
}

static int
on_sample(void *ctx, const struct pt_perf_sample *s)
{
    struct readout *r = ctx;
    size_t n = 0;
    int user_in_chain;
    callchain_frames(r, s, &n, &user_in_chain);
    int dwarf = !user_in_chain && s->regs_abi != 0 && s->stack != NULL;
    if (dwarf) {
        unwind_user(r, s, &n);
    }
    else if (s->callchain_nr == 0) {
        add_frame(r, &n, s->ip, s->cpumode == CPUMODE_KERNEL, 0);
    }
    r->stats->samples++;
    r->stats->frames += n;
    const struct comm *c = comm_find(r, s->tid);
    char unnamed[16];
    snprintf(unnamed, sizeof(unnamed), ":%" PRIu32, s->tid);
    int rc = text_printf(&r->text, "%s %" PRIu32 "/%" PRIu32,
                         c && c->name ? c->name : unnamed, s->pid, s->tid);
    if (rc == 0 && s->time != 0) {
        rc = text_printf(&r->text, " %" PRIu64 ".%09" PRIu64 ":", s->time / 1000000000u,
                         s->time % 1000000000u);
    }
    if (rc == 0) {
        rc = text_printf(&r->text, " %" PRIu64 " %s:\n", s->period,
                         s->event[0] ? s->event : "-");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = print_frame(r, s->pid, &r->frames[i]);
    }
    if (rc == 0) {
        rc = text_append(&r->text, "\n", 1);
    }
    return rc != 0 ? rc : flush(r, 0);
}

/* ---- the whole walk ---- */

static int
map_file(const char *path, void **data, size_t *len, char *err, size_t err_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(e));
        if (fd >= 0) {
            close(fd);
        }
        return -e;
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        close(fd);
        snprintf(err, err_size, "%s is not a perf.data file", path);
        return -EINVAL;
    }
    *len = (size_t)st.st_size;
    *data = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (*data == MAP_FAILED) {
        snprintf(err, err_size, "cannot map %s: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

static void
readout_release(struct readout *r)
{
    for (size_t i = 0; i < r->nobjects; i++) {
        object_release(&r->objects[i]);
    }
    free(r->objects);
    for (size_t i = 0; i < r->ncomms; i++) {
        free(r->comms[i].name);
    }
    free(r->comms);
    pt_textsyms_free(r->kallsyms);
    pt_addrspaces_free(r->spaces);
    free(r->frames);
    free(r->text.data);
}

int
pt_readout_fold(const char *path, const struct pt_readout_options *options,
                struct pt_fold *fold, struct pt_readout_stats *stats, char *err,
                size_t err_size)
{
    struct pt_readout_stats unused;
    struct readout r = {
        .options = options, .fold = fold, .stats = stats ? stats : &unused};
    memset(r.stats, 0, sizeof(*r.stats));
    r.max_frames = options->max_stack ? options->max_stack : DEFAULT_MAX_STACK;
    void *data = NULL;
    size_t len = 0;
    int rc = map_file(path, &data, &len, err, err_size);
    if (rc != 0) {
        return rc;
    }
    struct pt_perf_data *pd = NULL;
    r.frames = malloc(r.max_frames * sizeof(*r.frames));
    rc = r.frames ? pt_addrspaces_new(&r.spaces) : -ENOMEM;
    if (rc == 0) {
        rc = pt_perf_data_open(&pd, data, len, err, err_size);
    }
    if (rc == 0) {
        const struct pt_perf_handlers handlers = {
            .sample = on_sample, .mmap = on_mmap, .comm = on_comm, .task = on_task};
        rc = pt_perf_data_each(pd, &handlers, &r, err, err_size);
    }
    if (rc == 0) {
        rc = flush(&r, 1);
    }
    if (rc == -ENOMEM) {
        snprintf(err, err_size, "out of memory reading %s", path);
    }
    pt_perf_data_free(pd);
    readout_release(&r);
    munmap(data, len);
    return rc;
}
