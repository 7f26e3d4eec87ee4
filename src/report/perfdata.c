/*
 * The perf.data reader; the format and the contract are in perfdata.h.
 *
 * Layouts follow linux/perf_event.h and perf's tools/perf/util/header.c and
 * evsel.c (evsel__parse_sample, the id_pos/is_pos rules).  Nothing is copied
 * out of the file but the events' names (and what compressed records hold,
 * below): records are decoded in place, and the time sort is an index of
 * (time, arrival, place) entries, the arrival keeping equal times in the
 * order the first pass met them (qsort is not stable).
 *
 * Two passes over the data section: the first checks every record's header
 * (a size below 8 would never move on), counts what is not delivered and
 * lists the rest with their times; the second, after the sort, decodes each
 * record as it hands it over.  Every read of a body goes through a cursor
 * that knows where its record ends, so a count or size from the file is
 * compared with the bytes left before any arithmetic that could overflow.
 *
 * perf record -z puts nearly every record inside PERF_RECORD_COMPRESSED
 * (or COMPRESSED2, which adds the payload's size and pads the record) records
 * of the data section.  Their payloads are ONE zstd stream for the whole
 * file, cut into records wherever the writer's buffer ended: a zstd frame
 * goes on in the next compressed record, and so may a record of the
 * decompressed data, across whatever file records lie between (perf decodes
 * them with one ZSTD_DStream per session and carries the unfinished record
 * over).  So the first pass decompresses each compressed record, in file
 * order, onto the end of one buffer the reader owns, and indexes the records
 * completed in it at that point of the file, which is where perf queues them
 * too; the index says which buffer a record lies in, and equal times keep
 * this arrival order.  The buffer only grows, to at most DECOMPRESSED_RATIO
 * times the file (a small file that decompresses to gigabytes is a bomb),
 * and is trimmed to its length after the pass so that the sanitizers catch
 * any read past the records.
 */
#include "perfdata.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef PT_HAVE_ZSTD
#    include <zstd.h>
#endif

/* On-disk constants (linux/perf_event.h, tools/perf/util/header.h, event.h):
 * spelled out here so the reader does not depend on the build host's headers. */
#define MAGIC_LE 0x32454c4946524550ULL /* "PERFILE2" read little-endian */
#define MAGIC_BE 0x50455246494c4532ULL /* the same bytes written big-endian */
#define FILE_HEADER_SIZE 104
#define FILE_HEADER_NO_FEATURES 72 /* before the features bitmap existed */
#define PIPE_HEADER_SIZE 16
#define ATTR_SIZE_VER0 64
#define ATTR_READ_MAX 128 /* the attr fields we read all lie below this */
#define FEAT_EVENT_DESC 12
#define FEAT_COMPRESSED 27
#define COMPRESSION_ZSTD 1 /* HEADER_COMPRESSED's type for zstd */

#define SAMPLE_IP (1ULL << 0)
#define SAMPLE_TID (1ULL << 1)
#define SAMPLE_TIME (1ULL << 2)
#define SAMPLE_ADDR (1ULL << 3)
#define SAMPLE_READ (1ULL << 4)
#define SAMPLE_CALLCHAIN (1ULL << 5)
#define SAMPLE_ID (1ULL << 6)
#define SAMPLE_CPU (1ULL << 7)
#define SAMPLE_PERIOD (1ULL << 8)
#define SAMPLE_STREAM_ID (1ULL << 9)
#define SAMPLE_RAW (1ULL << 10)
#define SAMPLE_BRANCH_STACK (1ULL << 11)
#define SAMPLE_REGS_USER (1ULL << 12)
#define SAMPLE_STACK_USER (1ULL << 13)
#define SAMPLE_IDENTIFIER (1ULL << 16)

#define FORMAT_TOTAL_TIME_ENABLED (1ULL << 0)
#define FORMAT_TOTAL_TIME_RUNNING (1ULL << 1)
#define FORMAT_ID (1ULL << 2)
#define FORMAT_GROUP (1ULL << 3)
#define FORMAT_LOST (1ULL << 4)

#define BRANCH_HW_INDEX (1ULL << 17)
#define BRANCH_COUNTERS (1ULL << 19)

#define ATTR_FLAG_FREQ (1ULL << 10)
#define ATTR_FLAG_SAMPLE_ID_ALL (1ULL << 18)

#define MISC_CPUMODE_MASK 7
#define MISC_MMAP_DATA (1 << 13)
#define MISC_COMM_EXEC (1 << 13)
#define MISC_MMAP_BUILD_ID (1 << 14)
#define PROT_EXEC_BIT 4

enum {
    RECORD_MMAP = 1,
    RECORD_LOST = 2,
    RECORD_COMM = 3,
    RECORD_EXIT = 4,
    RECORD_FORK = 7,
    RECORD_SAMPLE = 9,
    RECORD_MMAP2 = 10,
    RECORD_USER_TYPE_START = 64,
    RECORD_AUXTRACE = 71,
    RECORD_COMPRESSED = 81,
    RECORD_COMPRESSED2 = 83,
};

#define RECORD_HEADER_SIZE 8
#define MMAP_FIXED_SIZE 40  /* header, pid, tid, addr, len, pgoff */
#define MMAP2_FIXED_SIZE 72 /* ... then maj/min/ino/gen or build id, prot, flags */
#define COMM_FIXED_SIZE 16  /* header, pid, tid */
#define TASK_SIZE 32        /* header, pid, ppid, tid, ptid, time */
#define BUILD_ID_MAX 20
#define COMPRESSED2_FIXED_SIZE 16 /* header, data_size */

/* Bounds on the decompressed data of one walk: DECOMPRESSED_RATIO times the
 * file, at most DECOMPRESSED_MAX; the buffer starts at DECOMPRESSED_FIRST and
 * doubles.  perf's level 1 gave 20 to 60 on DWARF recordings here (the
 * zeros past a shallow stack's end compress away), so the ratio leaves room
 * for shallower stacks, while a bomb reaches thousands. */
#define DECOMPRESSED_RATIO 256
#define DECOMPRESSED_MAX (16ULL << 30)
#define DECOMPRESSED_FIRST (1ULL << 20)

/* What we keep of one perf_event_attr. */
struct event {
    uint64_t sample_type, read_format, sample_period, branch_sample_type, regs_user;
    int freq, sample_id_all;
    char *name; /* NULL until HEADER_EVENT_DESC names it */
};

/* An id the kernel stamps on an event's records, and whose event it is. */
struct event_id {
    uint64_t id;
    size_t event;
};

/* Where a record lies: in the file, or in the data decompressed from it. */
enum source { IN_FILE, IN_DECOMPRESSED };

/* A record to deliver, with its sort key: its time, then its arrival (the
 * order of the first pass, perf's queue order among equal times). */
struct record_ref {
    uint64_t time, arrival, offset;
    enum source source;
};

struct pt_perf_data {
    const uint8_t *data;
    size_t len;
    uint64_t data_offset, data_size;
    struct event *events;
    size_t nevents;
    struct event_id *ids; /* sorted by id */
    size_t nids;
    /* HEADER_COMPRESSED's type, when the file has the feature */
    int has_compression;
    uint32_t compression;
    /* the records decompressed by the last walk (owned; NULL when none) */
    uint8_t *decompressed;
    uint64_t decompressed_len;
    uint64_t skipped, lost;
};

static int
fail(char *err, size_t err_size, int rc, const char *fmt, ...)
{
    if (err != NULL && err_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* True when [offset, offset + size) lies inside a buffer of len bytes. */
static int
in_bounds(uint64_t offset, uint64_t size, uint64_t len)
{
    return offset <= len && size <= len - offset;
}

static uint64_t
u64_at(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint32_t
u32_at(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint16_t
u16_at(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static unsigned
bits_set(uint64_t v)
{
    unsigned n = 0;
    for (; v != 0; v &= v - 1) {
        n++;
    }
    return n;
}

/* --- reading a record's body ---------------------------------------------- */

/* The unread part [pos, end) of one record. */
struct cursor {
    const uint8_t *base;
    uint64_t pos, end;
};

static int
take_bytes(struct cursor *c, uint64_t n, const uint8_t **out)
{
    if (n > c->end - c->pos) {
        return -1;
    }
    if (out != NULL) {
        *out = c->base + c->pos;
    }
    c->pos += n;
    return 0;
}

static int
take_u64(struct cursor *c, uint64_t *out)
{
    const uint8_t *p;
    if (take_bytes(c, 8, &p) != 0) {
        return -1;
    }
    *out = u64_at(p);
    return 0;
}

/* Skips n entries of `each` bytes (n from the file: checked before the product). */
static int
skip_array(struct cursor *c, uint64_t n, uint64_t each)
{
    if (n > (c->end - c->pos) / each) {
        return -1;
    }
    c->pos += n * each;
    return 0;
}

/* --- finding a record's event ---------------------------------------------- */

/* perf's id_pos: the u64 index of a sample's id, or -1 without one. */
static int
sample_id_index(uint64_t st)
{
    if (st & SAMPLE_IDENTIFIER) {
        return 0;
    }
    if (!(st & SAMPLE_ID)) {
        return -1;
    }
    return !!(st & SAMPLE_IP) + !!(st & SAMPLE_TID) + !!(st & SAMPLE_TIME) +
           !!(st & SAMPLE_ADDR);
}

/* perf's is_pos: the id's index counted back from a non-sample record's end
 * (1 is the last u64), or -1 without one. */
static int
trailer_id_index(uint64_t st)
{
    if (st & SAMPLE_IDENTIFIER) {
        return 1;
    }
    if (!(st & SAMPLE_ID)) {
        return -1;
    }
    return 1 + !!(st & SAMPLE_CPU) + !!(st & SAMPLE_STREAM_ID);
}

/* The size of the sample_id_all trailer of a non-sample record of `ev`. */
static uint64_t
trailer_size(const struct event *ev)
{
    if (!ev->sample_id_all) {
        return 0;
    }
    uint64_t st = ev->sample_type;
    return 8 * (uint64_t)(!!(st & SAMPLE_TID) + !!(st & SAMPLE_TIME) +
                          !!(st & SAMPLE_ID) + !!(st & SAMPLE_STREAM_ID) +
                          !!(st & SAMPLE_CPU) + !!(st & SAMPLE_IDENTIFIER));
}

static int
compare_ids(const void *a, const void *b)
{
    uint64_t x = ((const struct event_id *)a)->id, y = ((const struct event_id *)b)->id;
    return x < y ? -1 : x > y;
}

static const struct event *
event_by_id(const struct pt_perf_data *pd, uint64_t id)
{
    struct event_id key = {.id = id};
    const struct event_id *found =
        bsearch(&key, pd->ids, pd->nids, sizeof *pd->ids, compare_ids);
    return found != NULL ? &pd->events[found->event] : NULL;
}

/* The event of the record at rec (size bytes), as perf's evlist__event2evsel
 * finds it: the only one; the first for non-sample records without a
 * trailer, for records without ids, and for synthesized records (id 0);
 * else by the id at the first event's position.  NULL when not found. */
static const struct event *
record_event(const struct pt_perf_data *pd, const uint8_t *rec, uint32_t type,
             uint64_t size)
{
    const struct event *first = &pd->events[0];
    if (pd->nevents == 1 || (type != RECORD_SAMPLE && !first->sample_id_all)) {
        return first;
    }
    uint64_t words = (size - RECORD_HEADER_SIZE) / 8, id;
    if (type == RECORD_SAMPLE) {
        int at = sample_id_index(first->sample_type);
        if (at < 0) {
            return first;
        }
        if ((uint64_t)at >= words) {
            return NULL;
        }
        id = u64_at(rec + RECORD_HEADER_SIZE + 8 * (uint64_t)at);
    }
    else {
        int back = trailer_id_index(first->sample_type);
        if (back < 0) {
            return first;
        }
        if ((uint64_t)back > words) {
            return NULL;
        }
        id = u64_at(rec + size - 8 * (uint64_t)back);
    }
    return id == 0 ? first : event_by_id(pd, id);
}

/* The time of a record of event ev: *has is 0 when it carries none. */
static int
record_time(const struct event *ev, const uint8_t *rec, uint32_t type, uint64_t size,
            uint64_t *time, int *has)
{
    uint64_t st = ev->sample_type;
    *has = 0;
    if (!(st & SAMPLE_TIME)) {
        return 0;
    }
    uint64_t at;
    if (type == RECORD_SAMPLE) {
        uint64_t before =
            !!(st & SAMPLE_IDENTIFIER) + !!(st & SAMPLE_IP) + !!(st & SAMPLE_TID);
        at = RECORD_HEADER_SIZE + 8 * before;
    }
    else {
        uint64_t trailer = trailer_size(ev);
        if (trailer == 0) {
            return 0;
        }
        if (trailer > size - RECORD_HEADER_SIZE) {
            return -1;
        }
        at = size - trailer + 8 * (uint64_t) !!(st & SAMPLE_TID);
    }
    if (!in_bounds(at, 8, size)) {
        return -1;
    }
    *time = u64_at(rec + at);
    *has = 1;
    return 0;
}

/* The trailer's time of a non-sample record already bounds-checked by the
 * index pass (0 without one). */
static uint64_t
trailer_time(const struct event *ev, const uint8_t *rec, uint32_t type, uint64_t size)
{
    uint64_t time = 0;
    int has;
    if (record_time(ev, rec, type, size, &time, &has) != 0 || !has) {
        return 0;
    }
    return time;
}

/* --- decoding records ------------------------------------------------------ */

/* The size of PERF_SAMPLE_READ's values: perf's read_format layout. */
static int
skip_read_values(struct cursor *c, uint64_t read_format)
{
    uint64_t times = !!(read_format & FORMAT_TOTAL_TIME_ENABLED) +
                     !!(read_format & FORMAT_TOTAL_TIME_RUNNING);
    uint64_t per_value = 1 + !!(read_format & FORMAT_ID) + !!(read_format & FORMAT_LOST);
    if (!(read_format & FORMAT_GROUP)) {
        return skip_array(c, 1, 8 * (per_value + times));
    }
    uint64_t nr;
    if (take_u64(c, &nr) != 0 || skip_array(c, times, 8) != 0) {
        return -1;
    }
    return skip_array(c, nr, 8 * per_value);
}

static int
skip_branch_stack(struct cursor *c, uint64_t branch_sample_type)
{
    uint64_t nr;
    if (take_u64(c, &nr) != 0) {
        return -1;
    }
    if ((branch_sample_type & BRANCH_HW_INDEX) && skip_array(c, 1, 8) != 0) {
        return -1;
    }
    if (skip_array(c, nr, 24) != 0) { /* from, to, flags */
        return -1;
    }
    if (branch_sample_type & BRANCH_COUNTERS) {
        return skip_array(c, nr, 8);
    }
    return 0;
}

static int
take_raw(struct cursor *c)
{
    const uint8_t *p;
    if (take_bytes(c, 4, &p) != 0) {
        return -1;
    }
    return take_bytes(c, u32_at(p), NULL);
}

static int
take_regs(struct cursor *c, const struct event *ev, struct pt_perf_sample *s)
{
    if (take_u64(c, &s->regs_abi) != 0) {
        return -1;
    }
    if (s->regs_abi == 0) {
        return 0;
    }
    s->regs_nr = bits_set(ev->regs_user);
    return take_bytes(c, 8 * (uint64_t)s->regs_nr, &s->regs);
}

static int
take_stack(struct cursor *c, struct pt_perf_sample *s, const char **why)
{
    uint64_t size;
    if (take_u64(c, &size) != 0) {
        return -1;
    }
    if (size == 0) {
        return 0;
    }
    if (take_bytes(c, size, &s->stack) != 0 || take_u64(c, &s->stack_size) != 0) {
        return -1;
    }
    if (s->stack_size > size) {
        *why = "user stack dyn_size larger than the copy";
        s->stack = NULL;
        return -1;
    }
    return 0;
}

/* The fields of PERF_RECORD_SAMPLE up to STACK_USER, in the kernel's order;
 * *why says what was wrong when it fails. */
static int
decode_sample(const struct event *ev, const uint8_t *rec, uint64_t size, uint16_t misc,
              struct pt_perf_sample *s, const char **why)
{
    uint64_t st = ev->sample_type, v;
    struct cursor c = {rec, RECORD_HEADER_SIZE, size};
    const uint8_t *p;
    memset(s, 0, sizeof *s);
    s->event = ev->name != NULL ? ev->name : "";
    s->cpumode = misc & MISC_CPUMODE_MASK;
    s->regs_mask = ev->regs_user;
    s->period = ev->freq ? 1 : ev->sample_period;
    *why = "sample shorter than its fields";
    if (((st & SAMPLE_IDENTIFIER) && take_u64(&c, &v) != 0) ||
        ((st & SAMPLE_IP) && take_u64(&c, &s->ip) != 0)) {
        return -1;
    }
    if (st & SAMPLE_TID) {
        if (take_bytes(&c, 8, &p) != 0) {
            return -1;
        }
        s->pid = u32_at(p);
        s->tid = u32_at(p + 4);
    }
    if (((st & SAMPLE_TIME) && take_u64(&c, &s->time) != 0) ||
        ((st & SAMPLE_ADDR) && take_u64(&c, &v) != 0) ||
        ((st & SAMPLE_ID) && take_u64(&c, &v) != 0) ||
        ((st & SAMPLE_STREAM_ID) && take_u64(&c, &v) != 0)) {
        return -1;
    }
    if (st & SAMPLE_CPU) {
        if (take_bytes(&c, 8, &p) != 0) {
            return -1;
        }
        s->cpu = u32_at(p);
    }
    if (((st & SAMPLE_PERIOD) && take_u64(&c, &s->period) != 0) ||
        ((st & SAMPLE_READ) && skip_read_values(&c, ev->read_format) != 0)) {
        return -1;
    }
    if (st & SAMPLE_CALLCHAIN) {
        if (take_u64(&c, &s->callchain_nr) != 0 ||
            skip_array(&c, s->callchain_nr, 8) != 0) {
            *why = "callchain longer than its sample";
            return -1;
        }
        s->callchain = s->callchain_nr ? rec + c.pos - 8 * s->callchain_nr : NULL;
    }
    if (((st & SAMPLE_RAW) && take_raw(&c) != 0) ||
        ((st & SAMPLE_BRANCH_STACK) &&
         skip_branch_stack(&c, ev->branch_sample_type) != 0) ||
        ((st & SAMPLE_REGS_USER) && take_regs(&c, ev, s) != 0) ||
        ((st & SAMPLE_STACK_USER) && take_stack(&c, s, why) != 0)) {
        return -1;
    }
    return 0;
}

/* A NUL-terminated string starting at rec[at], ending before rec[end]. */
static const char *
string_in(const uint8_t *rec, uint64_t at, uint64_t end)
{
    if (at >= end || memchr(rec + at, 0, end - at) == NULL) {
        return NULL;
    }
    return (const char *)rec + at;
}

static int
decode_mmap(const struct event *ev, const uint8_t *rec, uint32_t type, uint64_t size,
            uint16_t misc, struct pt_perf_mmap *m, const char **why)
{
    uint64_t trailer = trailer_size(ev);
    uint64_t fixed = type == RECORD_MMAP2 ? MMAP2_FIXED_SIZE : MMAP_FIXED_SIZE;
    memset(m, 0, sizeof *m);
    if (trailer > size || size - trailer < fixed) {
        *why = "mmap record too short";
        return -1;
    }
    m->pid = u32_at(rec + 8);
    m->tid = u32_at(rec + 12);
    m->start = u64_at(rec + 16);
    m->len = u64_at(rec + 24);
    m->pgoff = u64_at(rec + 32);
    m->time = trailer_time(ev, rec, type, size);
    m->cpumode = misc & MISC_CPUMODE_MASK;
    if (type == RECORD_MMAP) {
        m->executable = !(misc & MISC_MMAP_DATA);
    }
    else if (misc & MISC_MMAP_BUILD_ID) {
        m->build_id_size = rec[40];
        if (m->build_id_size > BUILD_ID_MAX) {
            *why = "mmap2 build id longer than 20 bytes";
            return -1;
        }
        m->build_id = rec + 44;
        m->executable = (u32_at(rec + 64) & PROT_EXEC_BIT) != 0;
    }
    else {
        m->maj = u32_at(rec + 40);
        m->min = u32_at(rec + 44);
        m->ino = u64_at(rec + 48);
        m->ino_generation = u64_at(rec + 56);
        m->executable = (u32_at(rec + 64) & PROT_EXEC_BIT) != 0;
    }
    m->filename = string_in(rec, fixed, size - trailer);
    if (m->filename == NULL) {
        *why = "mmap filename without its NUL";
        return -1;
    }
    return 0;
}

static int
decode_comm(const struct event *ev, const uint8_t *rec, uint64_t size, uint16_t misc,
            struct pt_perf_comm *c, const char **why)
{
    uint64_t trailer = trailer_size(ev);
    memset(c, 0, sizeof *c);
    if (trailer > size || size - trailer < COMM_FIXED_SIZE) {
        *why = "comm record too short";
        return -1;
    }
    c->pid = u32_at(rec + 8);
    c->tid = u32_at(rec + 12);
    c->time = trailer_time(ev, rec, RECORD_COMM, size);
    c->exec = (misc & MISC_COMM_EXEC) != 0;
    c->comm = string_in(rec, COMM_FIXED_SIZE, size - trailer);
    if (c->comm == NULL) {
        *why = "comm without its NUL";
        return -1;
    }
    return 0;
}

/* Its time is the trailer's, as perf uses it (the body's own time may be a
 * microsecond earlier), else the body's. */
static int
decode_task(const struct event *ev, const uint8_t *rec, uint32_t type, uint64_t size,
            struct pt_perf_task *t, const char **why)
{
    memset(t, 0, sizeof *t);
    if (size < TASK_SIZE) {
        *why = "fork/exit record too short";
        return -1;
    }
    t->exit = type == RECORD_EXIT;
    t->pid = u32_at(rec + 8);
    t->ppid = u32_at(rec + 12);
    t->tid = u32_at(rec + 16);
    t->ptid = u32_at(rec + 20);
    t->time = u64_at(rec + 24);
    uint64_t time;
    int has;
    if (record_time(ev, rec, type, size, &time, &has) == 0 && has) {
        t->time = time;
    }
    return 0;
}

/* Decodes the record at rec (its header checked by the first pass) and
 * calls its handler: 0, the handler's return, or -EINVAL with *why saying
 * what is wrong (else left NULL). */
static int
deliver(struct pt_perf_data *pd, const uint8_t *rec, const struct pt_perf_handlers *h,
        void *ctx, const char **why)
{
    uint32_t type = u32_at(rec);
    uint16_t misc = u16_at(rec + 4), size = u16_at(rec + 6);
    const struct event *ev = record_event(pd, rec, type, size);
    const char *reason = "malformed";
    if (ev == NULL) {
        pd->skipped++;
        return 0;
    }
    if (type == RECORD_SAMPLE) {
        struct pt_perf_sample s;
        if (decode_sample(ev, rec, size, misc, &s, &reason) != 0) {
            goto malformed;
        }
        return h->sample != NULL ? h->sample(ctx, &s) : 0;
    }
    if (type == RECORD_MMAP || type == RECORD_MMAP2) {
        struct pt_perf_mmap m;
        if (decode_mmap(ev, rec, type, size, misc, &m, &reason) != 0) {
            goto malformed;
        }
        return h->mmap != NULL ? h->mmap(ctx, &m) : 0;
    }
    if (type == RECORD_COMM) {
        struct pt_perf_comm c;
        if (decode_comm(ev, rec, size, misc, &c, &reason) != 0) {
            goto malformed;
        }
        return h->comm != NULL ? h->comm(ctx, &c) : 0;
    }
    struct pt_perf_task t;
    if (decode_task(ev, rec, type, size, &t, &reason) != 0) {
        goto malformed;
    }
    return h->task != NULL ? h->task(ctx, &t) : 0;
malformed:
    *why = reason;
    return -EINVAL;
}

/* --- the walk --------------------------------------------------------------- */

static int
is_delivered(uint32_t type)
{
    return type == RECORD_SAMPLE || type == RECORD_MMAP || type == RECORD_MMAP2 ||
           type == RECORD_COMM || type == RECORD_FORK || type == RECORD_EXIT;
}

static int
is_compressed(uint32_t type)
{
    return type == RECORD_COMPRESSED || type == RECORD_COMPRESSED2;
}

/* How errors name a record: by its offset in the file, or in the data
 * decompressed from it. */
static const char *
record_noun(enum source source)
{
    return source == IN_FILE ? "record" : "decompressed record";
}

static int
compare_refs(const void *a, const void *b)
{
    const struct record_ref *x = a, *y = b;
    if (x->time != y->time) {
        return x->time < y->time ? -1 : 1;
    }
    return x->arrival < y->arrival ? -1 : x->arrival > y->arrival;
}

/* Lost samples a LOST record reports: {id, lost}.  Not LOST_SAMPLES: perf
 * record writes one at its end with the kernel's count of the same losses. */
static void
count_lost(struct pt_perf_data *pd, const uint8_t *rec, uint64_t size)
{
    if (in_bounds(16, 8, size)) {
        pd->lost += u64_at(rec + 16);
    }
}

/* The records to deliver, in arrival order until sorted. */
struct record_index {
    struct record_ref *refs;
    size_t n, cap;
    uint64_t last_time; /* the last time a record had, for those without one */
};

static int
add_ref(struct record_index *index, uint64_t time, uint64_t offset, enum source source)
{
    if (index->n == index->cap) {
        size_t cap = index->cap ? 2 * index->cap : 1024;
        struct record_ref *refs = realloc(index->refs, cap * sizeof *refs);
        if (refs == NULL) {
            return -ENOMEM;
        }
        index->refs = refs;
        index->cap = cap;
    }
    struct record_ref *ref = &index->refs[index->n];
    ref->time = time;
    ref->arrival = index->n;
    ref->offset = offset;
    ref->source = source;
    index->n++;
    return 0;
}

/* The header of the record at base[offset], which must end by end: 0 with
 * its type and size; 1 when fewer bytes are left than it needs; -1 when its
 * size is below the header's own (0 would never move on). */
static int
record_header(const uint8_t *base, uint64_t offset, uint64_t end, uint32_t *type,
              uint16_t *size)
{
    if (end - offset < RECORD_HEADER_SIZE) {
        return 1;
    }
    *type = u32_at(base + offset);
    *size = u16_at(base + offset + 6);
    if (*size < RECORD_HEADER_SIZE) {
        return -1;
    }
    return *size > end - offset;
}

/* The error for a record header that record_header did not accept. */
static int
bad_header(const uint8_t *base, uint64_t offset, uint64_t end, enum source source,
           char *err, size_t err_size)
{
    const char *noun = record_noun(source);
    if (end - offset < RECORD_HEADER_SIZE) {
        return fail(err, err_size, -EINVAL, "%s at offset %llu: truncated header", noun,
                    (unsigned long long)offset);
    }
    uint16_t size = u16_at(base + offset + 6);
    if (size < RECORD_HEADER_SIZE) {
        return fail(err, err_size, -EINVAL, "%s at offset %llu: size %u", noun,
                    (unsigned long long)offset, (unsigned)size);
    }
    return fail(err, err_size, -EINVAL,
                "%s at offset %llu: truncated (size %u, %llu bytes left)", noun,
                (unsigned long long)offset, (unsigned)size,
                (unsigned long long)(end - offset));
}

/* Counts a record that is not delivered, or lists it with its time; its
 * header is checked, and it is not a compressed one. */
static int
index_record(struct pt_perf_data *pd, struct record_index *index, const uint8_t *rec,
             uint32_t type, uint16_t size, uint64_t offset, enum source source, char *err,
             size_t err_size)
{
    if (type == RECORD_AUXTRACE) {
        return fail(err, err_size, -ENOTSUP,
                    "%s at offset %llu: AUX area tracing data is not supported",
                    record_noun(source), (unsigned long long)offset);
    }
    if (type == RECORD_LOST) {
        count_lost(pd, rec, size);
        return 0;
    }
    if (!is_delivered(type)) {
        pd->skipped++;
        return 0;
    }
    const struct event *ev = record_event(pd, rec, type, size);
    uint64_t time;
    int has = 0;
    if (ev != NULL && record_time(ev, rec, type, size, &time, &has) != 0) {
        return fail(err, err_size, -EINVAL, "%s at offset %llu: too short for its time",
                    record_noun(source), (unsigned long long)offset);
    }
    if (has) {
        index->last_time = time;
    }
    if (add_ref(index, index->last_time, offset, source) != 0) {
        return fail(err, err_size, -ENOMEM, "out of memory for %zu records", index->n);
    }
    return 0;
}

/* The decompression of one walk: the stream, and how far pd->decompressed
 * (of cap bytes, at most limit) has been indexed. */
struct decompressor {
#ifdef PT_HAVE_ZSTD
    ZSTD_DStream *stream;
#endif
    uint64_t cap, limit;
    uint64_t head; /* the first byte not indexed: a record waiting for its end */
};

#ifdef PT_HAVE_ZSTD
/* Indexes the records completed in the decompressed data; an unfinished
 * one at its end waits for the next compressed record. */
static int
index_decompressed(struct pt_perf_data *pd, struct record_index *index,
                   struct decompressor *dc, char *err, size_t err_size)
{
    const uint8_t *base = pd->decompressed;
    uint64_t end = pd->decompressed_len;
    for (;;) {
        uint32_t type;
        uint16_t size;
        int state = record_header(base, dc->head, end, &type, &size);
        if (state > 0) {
            return 0;
        }
        if (state < 0) {
            return bad_header(base, dc->head, end, IN_DECOMPRESSED, err, err_size);
        }
        if (is_compressed(type)) {
            /* perf does not nest them; refusing keeps the reader free of
             * recursion on input */
            return fail(err, err_size, -EINVAL,
                        "decompressed record at offset %llu: compressed record inside "
                        "compressed data",
                        (unsigned long long)dc->head);
        }
        int rc = index_record(pd, index, base + dc->head, type, size, dc->head,
                              IN_DECOMPRESSED, err, err_size);
        if (rc != 0) {
            return rc;
        }
        dc->head += size;
    }
}

/* Room for more decompressed bytes: 0, -EFBIG past the limit, -ENOMEM. */
static int
grow_decompressed(struct pt_perf_data *pd, struct decompressor *dc)
{
    if (pd->decompressed_len < dc->cap) {
        return 0;
    }
    if (dc->cap >= dc->limit) {
        return -EFBIG;
    }
    /* cap < limit <= DECOMPRESSED_MAX: the doubling cannot overflow */
    uint64_t cap = dc->cap < DECOMPRESSED_FIRST ? DECOMPRESSED_FIRST : 2 * dc->cap;
    if (cap > dc->limit) {
        cap = dc->limit;
    }
    if (cap > SIZE_MAX) {
        return -ENOMEM;
    }
    uint8_t *buf = realloc(pd->decompressed, (size_t)cap);
    if (buf == NULL) {
        return -ENOMEM;
    }
    pd->decompressed = buf;
    dc->cap = cap;
    return 0;
}

/* Decompresses src[0..n), the payload of the compressed record at offset,
 * onto the end of pd->decompressed, continuing the stream of the ones
 * before it. */
static int
decompress(struct pt_perf_data *pd, struct decompressor *dc, const uint8_t *src,
           uint64_t n, uint64_t offset, char *err, size_t err_size)
{
    if (dc->stream == NULL) {
        dc->stream = ZSTD_createDStream();
        if (dc->stream == NULL || ZSTD_isError(ZSTD_initDStream(dc->stream))) {
            return fail(err, err_size, -ENOMEM, "out of memory for a zstd stream");
        }
    }
    ZSTD_inBuffer in = {src, (size_t)n, 0};
    int out_full = 1; /* the stream may hold more than it gave: ask once more */
    while (in.pos < in.size || out_full) {
        int rc = grow_decompressed(pd, dc);
        if (rc == -EFBIG) {
            return fail(err, err_size, -EFBIG,
                        "record at offset %llu: decompresses to more than %llu bytes "
                        "(%d times the file)",
                        (unsigned long long)offset, (unsigned long long)dc->limit,
                        DECOMPRESSED_RATIO);
        }
        if (rc != 0) {
            return fail(err, err_size, rc, "out of memory after %llu decompressed bytes",
                        (unsigned long long)dc->cap);
        }
        ZSTD_outBuffer out = {pd->decompressed, (size_t)dc->cap,
                              (size_t)pd->decompressed_len};
        size_t in_before = in.pos, out_before = out.pos;
        size_t ret = ZSTD_decompressStream(dc->stream, &out, &in);
        if (ZSTD_isError(ret)) {
            return fail(err, err_size, -EINVAL,
                        "record at offset %llu: corrupt zstd data (%s)",
                        (unsigned long long)offset, ZSTD_getErrorName(ret));
        }
        pd->decompressed_len = out.pos;
        out_full = out.pos == out.size;
        if (!out_full && in.pos == in_before && out.pos == out_before &&
            in.pos < in.size) {
            /* no progress with room on both sides: never loop on it */
            return fail(err, err_size, -EINVAL,
                        "record at offset %llu: corrupt zstd data",
                        (unsigned long long)offset);
        }
    }
    return 0;
}
#endif

/* A PERF_RECORD_COMPRESSED(2) of the file: decompresses its payload and
 * indexes the records it completes. */
static int
index_compressed(struct pt_perf_data *pd, struct record_index *index,
                 struct decompressor *dc, const uint8_t *rec, uint32_t type,
                 uint16_t size, uint64_t offset, char *err, size_t err_size)
{
    if (pd->has_compression && pd->compression != COMPRESSION_ZSTD) {
        return fail(err, err_size, -ENOTSUP,
                    "record at offset %llu: compression type %u is not supported",
                    (unsigned long long)offset, (unsigned)pd->compression);
    }
#ifdef PT_HAVE_ZSTD
    const uint8_t *src = rec + RECORD_HEADER_SIZE;
    uint64_t n = size - RECORD_HEADER_SIZE;
    if (type == RECORD_COMPRESSED2) {
        /* header, data_size, then data_size bytes and the padding */
        if (size < COMPRESSED2_FIXED_SIZE ||
            u64_at(rec + RECORD_HEADER_SIZE) > (uint64_t)size - COMPRESSED2_FIXED_SIZE) {
            return fail(err, err_size, -EINVAL,
                        "record at offset %llu: compressed data past the record's end",
                        (unsigned long long)offset);
        }
        src = rec + COMPRESSED2_FIXED_SIZE;
        n = u64_at(rec + RECORD_HEADER_SIZE);
    }
    int rc = decompress(pd, dc, src, n, offset, err, err_size);
    return rc != 0 ? rc : index_decompressed(pd, index, dc, err, err_size);
#else
    (void)index;
    (void)dc;
    (void)rec;
    (void)type;
    (void)size;
    return fail(err, err_size, -ENOTSUP,
                "record at offset %llu: compressed records (perf record -z) are not "
                "supported (built without libzstd)",
                (unsigned long long)offset);
#endif
}

/* The bound on a walk's decompressed bytes, for a file of len bytes. */
static uint64_t
decompressed_limit(uint64_t len)
{
    if (len > DECOMPRESSED_MAX / DECOMPRESSED_RATIO) {
        return DECOMPRESSED_MAX;
    }
    return len * DECOMPRESSED_RATIO;
}

/* The first pass: checks every record's header, counts what is not
 * delivered, and lists the rest with their times in the index, the records
 * of compressed ones at the place of the one that completes them. */
static int
index_records(struct pt_perf_data *pd, struct record_index *index,
              struct decompressor *dc, char *err, size_t err_size)
{
    uint64_t offset = pd->data_offset, end = pd->data_offset + pd->data_size;
    while (offset < end) {
        uint32_t type;
        uint16_t size;
        if (record_header(pd->data, offset, end, &type, &size) != 0) {
            return bad_header(pd->data, offset, end, IN_FILE, err, err_size);
        }
        const uint8_t *rec = pd->data + offset;
        int rc = is_compressed(type) ? index_compressed(pd, index, dc, rec, type, size,
                                                        offset, err, err_size)
                                     : index_record(pd, index, rec, type, size, offset,
                                                    IN_FILE, err, err_size);
        if (rc != 0) {
            return rc;
        }
        offset += size;
    }
    if (dc->head < pd->decompressed_len) {
        /* the stream ended inside a record */
        return bad_header(pd->decompressed, dc->head, pd->decompressed_len,
                          IN_DECOMPRESSED, err, err_size);
    }
    return 0;
}

/* Drops what the last walk decompressed. */
static void
drop_decompressed(struct pt_perf_data *pd)
{
    free(pd->decompressed);
    pd->decompressed = NULL;
    pd->decompressed_len = 0;
}

/* The first pass, with its decompressor set up and put away; the
 * decompressed data is trimmed to its length for the second. */
static int
build_index(struct pt_perf_data *pd, struct record_index *index, char *err,
            size_t err_size)
{
    struct decompressor dc = {.limit = decompressed_limit(pd->len)};
    int rc = index_records(pd, index, &dc, err, err_size);
#ifdef PT_HAVE_ZSTD
    ZSTD_freeDStream(dc.stream);
#endif
    if (pd->decompressed_len == 0) {
        drop_decompressed(pd);
    }
    else if (pd->decompressed_len < dc.cap) {
        uint8_t *trimmed = realloc(pd->decompressed, (size_t)pd->decompressed_len);
        if (trimmed != NULL) {
            pd->decompressed = trimmed;
        }
    }
    return rc;
}

int
pt_perf_data_each(struct pt_perf_data *pd, const struct pt_perf_handlers *h, void *ctx,
                  char *err, size_t err_size)
{
    static const struct pt_perf_handlers none;
    if (h == NULL) {
        h = &none;
    }
    pd->skipped = pd->lost = 0;
    drop_decompressed(pd);
    struct record_index index = {0};
    int rc = build_index(pd, &index, err, err_size);
    if (rc == 0 && index.n > 1) {
        qsort(index.refs, index.n, sizeof *index.refs, compare_refs);
    }
    for (size_t i = 0; rc == 0 && i < index.n; i++) {
        const struct record_ref *ref = &index.refs[i];
        const uint8_t *base = ref->source == IN_FILE ? pd->data : pd->decompressed;
        const char *why = NULL;
        rc = deliver(pd, base + ref->offset, h, ctx, &why);
        if (why != NULL) {
            fail(err, err_size, rc, "%s at offset %llu: %s", record_noun(ref->source),
                 (unsigned long long)ref->offset, why);
        }
    }
    free(index.refs);
    return rc;
}

uint64_t
pt_perf_data_skipped(const struct pt_perf_data *pd)
{
    return pd->skipped;
}

uint64_t
pt_perf_data_lost(const struct pt_perf_data *pd)
{
    return pd->lost;
}

size_t
pt_perf_data_events(const struct pt_perf_data *pd)
{
    return pd->nevents;
}

const char *
pt_perf_data_event_name(const struct pt_perf_data *pd, size_t i)
{
    if (i >= pd->nevents) {
        return NULL;
    }
    return pd->events[i].name != NULL ? pd->events[i].name : "";
}

/* --- opening: header, attrs, event names ----------------------------------- */

/* The fields we use of a perf_event_attr of attr_len bytes at p; an older,
 * shorter attr reads as zeros past its end, as the kernel treats it. */
static void
parse_attr(const uint8_t *p, uint64_t attr_len, struct event *ev)
{
    uint8_t a[ATTR_READ_MAX] = {0};
    memcpy(a, p, attr_len < sizeof a ? attr_len : sizeof a);
    ev->sample_period = u64_at(a + 16);
    ev->sample_type = u64_at(a + 24);
    ev->read_format = u64_at(a + 32);
    uint64_t flags = u64_at(a + 40);
    ev->freq = (flags & ATTR_FLAG_FREQ) != 0;
    ev->sample_id_all = (flags & ATTR_FLAG_SAMPLE_ID_ALL) != 0;
    ev->branch_sample_type = u64_at(a + 72);
    ev->regs_user = u64_at(a + 80);
}

/* The attrs section: nevents entries of attr_size bytes, an attr then the
 * {offset, size} of its ids. */
static int
read_attrs(struct pt_perf_data *pd, uint64_t offset, uint64_t size, uint64_t attr_size,
           char *err, size_t err_size)
{
    if (attr_size < ATTR_SIZE_VER0 + 16 || attr_size > 4096) {
        return fail(err, err_size, -EINVAL, "bad attr size %llu",
                    (unsigned long long)attr_size);
    }
    if (!in_bounds(offset, size, pd->len)) {
        return fail(err, err_size, -EINVAL, "attrs section out of the file");
    }
    pd->nevents = (size_t)(size / attr_size);
    if (pd->nevents == 0) {
        return fail(err, err_size, -EINVAL, "no events in the attrs section");
    }
    pd->events = calloc(pd->nevents, sizeof *pd->events);
    if (pd->events == NULL) {
        return fail(err, err_size, -ENOMEM, "out of memory");
    }
    uint64_t total_ids = 0;
    for (size_t i = 0; i < pd->nevents; i++) {
        const uint8_t *entry = pd->data + offset + i * attr_size;
        const uint8_t *ids = entry + attr_size - 16;
        uint64_t ids_offset = u64_at(ids), ids_size = u64_at(ids + 8);
        parse_attr(entry, attr_size - 16, &pd->events[i]);
        if (!in_bounds(ids_offset, ids_size, pd->len)) {
            return fail(err, err_size, -EINVAL, "ids of event %zu out of the file", i);
        }
        total_ids += ids_size / 8; /* each id is 8 bytes of the file: no overflow */
    }
    pd->ids = malloc((total_ids ? total_ids : 1) * sizeof *pd->ids);
    if (pd->ids == NULL) {
        return fail(err, err_size, -ENOMEM, "out of memory for %llu ids",
                    (unsigned long long)total_ids);
    }
    for (size_t i = 0; i < pd->nevents; i++) {
        const uint8_t *ids = pd->data + offset + i * attr_size + attr_size - 16;
        uint64_t ids_offset = u64_at(ids), nr = u64_at(ids + 8) / 8;
        for (uint64_t k = 0; k < nr; k++) {
            pd->ids[pd->nids].id = u64_at(pd->data + ids_offset + 8 * k);
            pd->ids[pd->nids].event = i;
            pd->nids++;
        }
    }
    qsort(pd->ids, pd->nids, sizeof *pd->ids, compare_ids);
    return 0;
}

/* Names the event whose ids include `id` (perf matches an EVENT_DESC entry
 * by its first id), or else the index-th one. */
static int
name_event(struct pt_perf_data *pd, size_t index, int has_id, uint64_t id,
           const uint8_t *name, uint32_t name_len)
{
    const struct event *by_id = has_id ? event_by_id(pd, id) : NULL;
    struct event *ev = by_id != NULL         ? &pd->events[by_id - pd->events]
                       : index < pd->nevents ? &pd->events[index]
                                             : NULL;
    if (ev == NULL || ev->name != NULL) {
        return 0;
    }
    /* The string is NUL-padded to a multiple of 8; stop at its first NUL. */
    const uint8_t *nul = memchr(name, 0, name_len);
    size_t len = nul != NULL ? (size_t)(nul - name) : name_len;
    ev->name = malloc(len + 1);
    if (ev->name == NULL) {
        return -ENOMEM;
    }
    memcpy(ev->name, name, len);
    ev->name[len] = '\0';
    return 0;
}

/* HEADER_EVENT_DESC: u32 nr, u32 attr_size, then nr times {attr, u32
 * nr_ids, u32 len, char name[len], u64 ids[nr_ids]}. */
static int
read_event_desc(struct pt_perf_data *pd, uint64_t offset, uint64_t size, char *err,
                size_t err_size)
{
    struct cursor c = {pd->data, offset, offset + size};
    const uint8_t *p;
    if (take_bytes(&c, 8, &p) != 0) {
        return fail(err, err_size, -EINVAL, "HEADER_EVENT_DESC truncated");
    }
    uint32_t nr = u32_at(p), attr_size = u32_at(p + 4);
    for (uint32_t i = 0; i < nr; i++) {
        const uint8_t *counts, *name, *ids = NULL;
        if (take_bytes(&c, attr_size, NULL) != 0 || take_bytes(&c, 8, &counts) != 0) {
            return fail(err, err_size, -EINVAL, "HEADER_EVENT_DESC truncated");
        }
        uint32_t nr_ids = u32_at(counts), name_len = u32_at(counts + 4);
        if (take_bytes(&c, name_len, &name) != 0 ||
            take_bytes(&c, 8 * (uint64_t)nr_ids, &ids) != 0) {
            return fail(err, err_size, -EINVAL, "HEADER_EVENT_DESC truncated");
        }
        if (name_event(pd, i, nr_ids > 0, nr_ids > 0 ? u64_at(ids) : 0, name, name_len) !=
            0) {
            return fail(err, err_size, -ENOMEM, "out of memory");
        }
    }
    return 0;
}

/* Where the section of feature `bit` (below 64) lies: the features table
 * follows the data section, one {offset, size} per set bit of the bitmap, in
 * bit order.  1 and its place, 0 when the file has none, or -EINVAL. */
static int
find_feature(const struct pt_perf_data *pd, uint64_t low, unsigned bit, uint64_t *offset,
             uint64_t *size)
{
    if (!(low & (1ULL << bit))) {
        return 0;
    }
    uint64_t before = bits_set(low & ((1ULL << bit) - 1));
    uint64_t table = pd->data_offset + pd->data_size; /* in the file: no overflow */
    uint64_t at = table + 16 * before;
    if (!in_bounds(at, 16, pd->len)) {
        return -EINVAL;
    }
    *offset = u64_at(pd->data + at);
    *size = u64_at(pd->data + at + 8);
    return in_bounds(*offset, *size, pd->len) ? 1 : -EINVAL;
}

/* HEADER_COMPRESSED: u32 version, type, level, ratio, mmap_len; we need
 * the type (1, zstd, is all perf writes). */
static int
read_compressed(struct pt_perf_data *pd, uint64_t offset, uint64_t size, char *err,
                size_t err_size)
{
    if (size < 8) {
        return fail(err, err_size, -EINVAL, "HEADER_COMPRESSED truncated");
    }
    pd->has_compression = 1;
    pd->compression = u32_at(pd->data + offset + 4);
    return 0;
}

static int
read_features(struct pt_perf_data *pd, const uint8_t *bitmap, char *err, size_t err_size)
{
    uint64_t low = u64_at(bitmap), offset, size;
    int found = find_feature(pd, low, FEAT_EVENT_DESC, &offset, &size);
    if (found < 0) {
        return fail(err, err_size, -EINVAL, "HEADER_EVENT_DESC out of the file");
    }
    int rc = found ? read_event_desc(pd, offset, size, err, err_size) : 0;
    if (rc != 0) {
        return rc;
    }
    found = find_feature(pd, low, FEAT_COMPRESSED, &offset, &size);
    if (found < 0) {
        return fail(err, err_size, -EINVAL, "HEADER_COMPRESSED out of the file");
    }
    return found ? read_compressed(pd, offset, size, err, err_size) : 0;
}

static int
read_header(struct pt_perf_data *pd, char *err, size_t err_size)
{
    const uint8_t *p = pd->data;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    /* Fields are read with memcpy as host integers, and handed out as such. */
    return fail(err, err_size, -ENOTSUP, "perf.data is read on little-endian hosts only");
#endif
    if (pd->len < 16) {
        return fail(err, err_size, -EINVAL, "not a perf.data file");
    }
    uint64_t magic = u64_at(p), header_size = u64_at(p + 8);
    if (magic == MAGIC_BE) {
        return fail(err, err_size, -ENOTSUP, "big-endian perf.data is not supported");
    }
    if (magic != MAGIC_LE) {
        return fail(err, err_size, -EINVAL, "not a perf.data file");
    }
    if (header_size == PIPE_HEADER_SIZE) {
        return fail(err, err_size, -ENOTSUP, "pipe-mode perf.data is not supported");
    }
    if (header_size != FILE_HEADER_SIZE && header_size != FILE_HEADER_NO_FEATURES) {
        return fail(err, err_size, -EINVAL, "unknown header size %llu",
                    (unsigned long long)header_size);
    }
    if (pd->len < header_size) {
        return fail(err, err_size, -EINVAL, "truncated header");
    }
    pd->data_offset = u64_at(p + 40);
    pd->data_size = u64_at(p + 48);
    if (!in_bounds(pd->data_offset, pd->data_size, pd->len)) {
        return fail(err, err_size, -EINVAL, "data section out of the file");
    }
    int rc =
        read_attrs(pd, u64_at(p + 24), u64_at(p + 32), u64_at(p + 16), err, err_size);
    if (rc == 0 && header_size == FILE_HEADER_SIZE) {
        rc = read_features(pd, p + FILE_HEADER_NO_FEATURES, err, err_size);
    }
    return rc;
}

int
pt_perf_data_open(struct pt_perf_data **out, const void *data, size_t len, char *err,
                  size_t err_size)
{
    *out = NULL;
    struct pt_perf_data *pd = calloc(1, sizeof *pd);
    if (pd == NULL) {
        return fail(err, err_size, -ENOMEM, "out of memory");
    }
    pd->data = data;
    pd->len = len;
    int rc = read_header(pd, err, err_size);
    if (rc != 0) {
        pt_perf_data_free(pd);
        return rc;
    }
    *out = pd;
    return 0;
}

void
pt_perf_data_free(struct pt_perf_data *pd)
{
    if (pd == NULL) {
        return;
    }
    for (size_t i = 0; i < pd->nevents; i++) {
        free(pd->events[i].name);
    }
    free(pd->events);
    free(pd->ids);
    free(pd->decompressed);
    free(pd);
}
