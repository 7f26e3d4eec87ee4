/* The perf.data reader: files laid out here in memory (a header, one or
 * several attrs with their ids, HEADER_EVENT_DESC, records out of time
 * order) come back as decoded records in time order; every sample field up
 * to STACK_USER is found at its place; several events are told apart by id;
 * malformed files give an error and no crash; and a real `perf record`
 * file, when present, gives what perf script gave for it. */
#include "perfdata.h"
#include "testhelp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_IP (1ULL << 0)
#define S_TID (1ULL << 1)
#define S_TIME (1ULL << 2)
#define S_ADDR (1ULL << 3)
#define S_READ (1ULL << 4)
#define S_CALLCHAIN (1ULL << 5)
#define S_ID (1ULL << 6)
#define S_CPU (1ULL << 7)
#define S_PERIOD (1ULL << 8)
#define S_STREAM_ID (1ULL << 9)
#define S_RAW (1ULL << 10)
#define S_BRANCH_STACK (1ULL << 11)
#define S_REGS_USER (1ULL << 12)
#define S_STACK_USER (1ULL << 13)
#define S_IDENTIFIER (1ULL << 16)
#define FLAG_FREQ (1ULL << 10)
#define FLAG_SAMPLE_ID_ALL (1ULL << 18)

enum { R_MMAP = 1, R_LOST = 2, R_COMM = 3, R_EXIT = 4, R_THROTTLE = 5, R_FORK = 7 };
enum { R_SAMPLE = 9, R_MMAP2 = 10, R_FINISHED_ROUND = 68, R_AUXTRACE = 71 };
enum { R_LOST_SAMPLES = 13, R_COMPRESSED = 81, R_COMPRESSED2 = 83 };

/* --- a writer of perf.data files ------------------------------------------- */

struct event_spec {
    uint64_t sample_type, read_format, flags, period, branch_type, regs_user;
    const char *name;
    uint64_t ids[2];
    size_t nids;
};

struct file {
    uint8_t bytes[1 << 16];
    size_t len, record;
    const struct event_spec *events;
    size_t nevents;
};

static void
put(struct file *f, const void *p, size_t n)
{
    if (f->len + n > sizeof f->bytes) {
        abort();
    }
    memcpy(f->bytes + f->len, p, n);
    f->len += n;
}

static void
put_u64(struct file *f, uint64_t v)
{
    put(f, &v, 8);
}

static void
put_u32(struct file *f, uint32_t v)
{
    put(f, &v, 4);
}

static void
set_u64(struct file *f, size_t at, uint64_t v)
{
    memcpy(f->bytes + at, &v, 8);
}

static void
put_zeros(struct file *f, size_t n)
{
    static const uint8_t zeros[256];
    put(f, zeros, n);
}

static void
put_attr(struct file *f, const struct event_spec *e)
{
    size_t at = f->len;
    put_zeros(f, 128);
    uint32_t size = 128;
    memcpy(f->bytes + at + 4, &size, 4);
    set_u64(f, at + 16, e->period);
    set_u64(f, at + 24, e->sample_type);
    set_u64(f, at + 32, e->read_format);
    set_u64(f, at + 40, e->flags);
    set_u64(f, at + 72, e->branch_type);
    set_u64(f, at + 80, e->regs_user);
}

/* The header, the attrs (144 bytes each: attr, ids section) and their ids;
 * the data section starts where this leaves off. */
static void
begin_file(struct file *f, const struct event_spec *events, size_t n)
{
    memset(f, 0, sizeof *f);
    f->events = events;
    f->nevents = n;
    put(f, "PERFILE2", 8);
    put_u64(f, 104);
    put_u64(f, 144);
    put_zeros(f, 104 - 24);
    set_u64(f, 24, 104);
    set_u64(f, 32, 144 * n);
    size_t ids_at = 104 + 144 * n;
    for (size_t i = 0; i < n; i++) {
        put_attr(f, &events[i]);
        put_u64(f, ids_at);
        put_u64(f, 8 * events[i].nids);
        ids_at += 8 * events[i].nids;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < events[i].nids; k++) {
            put_u64(f, events[i].ids[k]);
        }
    }
    set_u64(f, 40, f->len);
}

/* Ends the data section, then the features table, HEADER_EVENT_DESC and,
 * when compression >= 0, HEADER_COMPRESSED of that type. */
static void
end_file_compressed(struct file *f, int compression)
{
    uint64_t data_offset;
    memcpy(&data_offset, f->bytes + 40, 8);
    set_u64(f, 48, f->len - data_offset);
    set_u64(f, 72, (1ULL << 12) | (compression >= 0 ? 1ULL << 27 : 0));
    size_t table = f->len;
    put_zeros(f, compression >= 0 ? 32 : 16);
    size_t desc = f->len;
    put_u32(f, (uint32_t)f->nevents);
    put_u32(f, 128);
    for (size_t i = 0; i < f->nevents; i++) {
        const struct event_spec *e = &f->events[i];
        size_t len = strlen(e->name), padded = (len + 8) / 8 * 8;
        put_attr(f, e);
        put_u32(f, (uint32_t)e->nids);
        put_u32(f, (uint32_t)padded);
        put(f, e->name, len);
        put_zeros(f, padded - len);
        for (size_t k = 0; k < e->nids; k++) {
            put_u64(f, e->ids[k]);
        }
    }
    set_u64(f, table, desc);
    set_u64(f, table + 8, f->len - desc);
    if (compression >= 0) {
        size_t compressed = f->len;
        put_u32(f, 0); /* version, type, level, ratio, mmap_len */
        put_u32(f, (uint32_t)compression);
        put_u32(f, 1);
        put_u32(f, 20);
        put_u32(f, 528384);
        set_u64(f, table + 16, compressed);
        set_u64(f, table + 24, f->len - compressed);
    }
}

static void
end_file(struct file *f)
{
    end_file_compressed(f, -1);
}

static void
begin_record(struct file *f, uint32_t type, uint16_t misc)
{
    f->record = f->len;
    put_u32(f, type);
    put(f, &misc, 2);
    put_zeros(f, 2);
}

static void
end_record(struct file *f)
{
    uint16_t size = (uint16_t)(f->len - f->record);
    memcpy(f->bytes + f->record + 6, &size, 2);
}

/* The sample_id_all trailer of event e. */
static void
put_trailer(struct file *f, const struct event_spec *e, uint32_t pid, uint64_t time,
            uint64_t id)
{
    uint64_t st = e->sample_type;
    if (st & S_TID) {
        put_u32(f, pid);
        put_u32(f, pid);
    }
    if (st & S_TIME) {
        put_u64(f, time);
    }
    if (st & S_ID) {
        put_u64(f, id);
    }
    if (st & S_STREAM_ID) {
        put_u64(f, 0);
    }
    if (st & S_CPU) {
        put_u64(f, 0);
    }
    if (st & S_IDENTIFIER) {
        put_u64(f, id);
    }
}

static void
put_comm(struct file *f, const struct event_spec *e, uint32_t pid, const char *comm,
         uint64_t time, uint64_t id)
{
    begin_record(f, R_COMM, 1 << 13);
    put_u32(f, pid);
    put_u32(f, pid);
    size_t len = strlen(comm), padded = (len + 8) / 8 * 8;
    put(f, comm, len);
    put_zeros(f, padded - len);
    put_trailer(f, e, pid, time, id);
    end_record(f);
}

/* A sample of the fields IDENTIFIER? IP TID TIME ID? PERIOD? */
static void
put_simple_sample(struct file *f, const struct event_spec *e, uint64_t ip, uint32_t pid,
                  uint64_t time, uint64_t id)
{
    begin_record(f, R_SAMPLE, 2);
    if (e->sample_type & S_IDENTIFIER) {
        put_u64(f, id);
    }
    put_u64(f, ip);
    put_u32(f, pid);
    put_u32(f, pid + 1);
    put_u64(f, time);
    if (e->sample_type & S_ID) {
        put_u64(f, id);
    }
    if (e->sample_type & S_PERIOD) {
        put_u64(f, 1000);
    }
    end_record(f);
}

/* --- what the walk gives ---------------------------------------------------- */

struct log {
    char lines[32][200];
    int n;
    struct pt_perf_sample last_sample;
    struct pt_perf_mmap last_mmap;
    int stop_after; /* a handler returns 42 once this many records came (0: never) */
};

static int
add_line(struct log *log, const char *line)
{
    if (log->n < 32) {
        snprintf(log->lines[log->n], sizeof log->lines[0], "%s", line);
    }
    log->n++;
    return log->stop_after != 0 && log->n >= log->stop_after ? 42 : 0;
}

static int
on_sample(void *ctx, const struct pt_perf_sample *s)
{
    struct log *log = ctx;
    char line[200];
    snprintf(line, sizeof line, "S %s %u/%u t%llu p%llu ip%llx cpu%u m%u", s->event,
             s->pid, s->tid, (unsigned long long)s->time, (unsigned long long)s->period,
             (unsigned long long)s->ip, s->cpu, s->cpumode);
    log->last_sample = *s;
    return add_line(log, line);
}

static int
on_mmap(void *ctx, const struct pt_perf_mmap *m)
{
    struct log *log = ctx;
    char line[200];
    snprintf(line, sizeof line, "M %u t%llu %llx+%llx@%llx x%d %s", m->pid,
             (unsigned long long)m->time, (unsigned long long)m->start,
             (unsigned long long)m->len, (unsigned long long)m->pgoff, m->executable,
             m->filename);
    log->last_mmap = *m;
    return add_line(log, line);
}

static int
on_comm(void *ctx, const struct pt_perf_comm *c)
{
    char line[200];
    snprintf(line, sizeof line, "C %u t%llu exec%d %s", c->pid,
             (unsigned long long)c->time, c->exec, c->comm);
    return add_line(ctx, line);
}

static int
on_task(void *ctx, const struct pt_perf_task *t)
{
    char line[200];
    snprintf(line, sizeof line, "%s %u<%u t%llu", t->exit ? "EXIT" : "FORK", t->pid,
             t->ppid, (unsigned long long)t->time);
    return add_line(ctx, line);
}

static const struct pt_perf_handlers HANDLERS = {on_sample, on_mmap, on_comm, on_task};

/* Opens and walks f->bytes into *log; the walk's return (the open's when it
 * fails), err the reason. */
static int
walk(const uint8_t *bytes, size_t len, struct log *log, char *err, size_t err_size,
     struct pt_perf_data **keep)
{
    struct pt_perf_data *pd = NULL;
    int stop_after = log->stop_after;
    memset(log, 0, sizeof *log);
    log->stop_after = stop_after;
    err[0] = '\0';
    int rc = pt_perf_data_open(&pd, bytes, len, err, err_size);
    if (rc != 0) {
        CHECK(pd == NULL);
        return rc;
    }
    rc = pt_perf_data_each(pd, &HANDLERS, log, err, err_size);
    if (keep != NULL) {
        *keep = pd;
    }
    else {
        pt_perf_data_free(pd);
    }
    return rc;
}

#define CHECK_LINE(log, i, text) CHECK(strcmp((log)->lines[i], (text)) == 0)

/* --- one event: every record kind, out of time order ------------------------- */

static const struct event_spec ONE = {
    .sample_type = S_IP | S_TID | S_TIME | S_CPU | S_PERIOD | S_CALLCHAIN | S_REGS_USER |
                   S_STACK_USER,
    .flags = FLAG_SAMPLE_ID_ALL,
    .period = 4000,
    .regs_user = 0x1c0, /* three registers */
    .name = "cycles:u",
    .ids = {7},
    .nids = 1,
};

static void
put_full_sample(struct file *f, uint64_t time)
{
    begin_record(f, R_SAMPLE, 2); /* user */
    put_u64(f, 0x401000);         /* ip */
    put_u32(f, 100);
    put_u32(f, 101);
    put_u64(f, time);
    put_u32(f, 3); /* cpu */
    put_u32(f, 0);
    put_u64(f, 2500); /* period */
    put_u64(f, 3);    /* callchain */
    put_u64(f, (uint64_t)-512);
    put_u64(f, 0x401000);
    put_u64(f, 0x402000);
    put_u64(f, 2); /* regs: abi 64, three of them */
    put_u64(f, 0xa);
    put_u64(f, 0xb);
    put_u64(f, 0xc);
    put_u64(f, 16); /* stack: a 16-byte copy, 12 valid */
    put(f, "stackbytes-0123+", 16);
    put_u64(f, 12);
    end_record(f);
}

static void
build_one(struct file *f)
{
    begin_file(f, &ONE, 1);
    put_full_sample(f, 300);
    /* an MMAP2 with a build id, at 100 */
    begin_record(f, R_MMAP2, 2 | (1 << 14));
    put_u32(f, 100);
    put_u32(f, 100);
    put_u64(f, 0x400000);
    put_u64(f, 0x3000);
    put_u64(f, 0x1000);
    uint8_t build_id[24] = {20, 0, 0, 0, 0xde, 0xad};
    put(f, build_id, sizeof build_id);
    put_u32(f, 5); /* PROT_READ | PROT_EXEC */
    put_u32(f, 2);
    put(f, "/usr/bin/app\0\0\0\0", 16);
    put_trailer(f, &ONE, 100, 100, 7);
    end_record(f);
    put_comm(f, &ONE, 100, "app", 200, 7);
    begin_record(f, R_FINISHED_ROUND, 0);
    end_record(f);
    begin_record(f, R_THROTTLE, 0); /* a kernel type the reader skips */
    put_u64(f, 1);
    put_u64(f, 7);
    put_u64(f, 1);
    put_trailer(f, &ONE, 100, 250, 7);
    end_record(f);
    begin_record(f, R_LOST, 0);
    put_u64(f, 7);
    put_u64(f, 9); /* samples lost */
    put_trailer(f, &ONE, 100, 260, 7);
    end_record(f);
    begin_record(f, R_LOST_SAMPLES, 0); /* the same losses again: not counted */
    put_u64(f, 9);
    put_trailer(f, &ONE, 100, 0, (uint64_t)-1);
    end_record(f);
    begin_record(f, R_FORK, 0);
    put_u32(f, 100);
    put_u32(f, 1);
    put_u32(f, 100);
    put_u32(f, 1);
    put_u64(f, 49); /* the body's time, a little before the trailer's */
    put_trailer(f, &ONE, 100, 50, 7);
    end_record(f);
    /* a plain MMAP of data (not executable), at 150 */
    begin_record(f, R_MMAP, 2 | (1 << 13));
    put_u32(f, 100);
    put_u32(f, 100);
    put_u64(f, 0x600000);
    put_u64(f, 0x1000);
    put_u64(f, 0);
    put(f, "/data\0\0\0", 8);
    put_trailer(f, &ONE, 100, 150, 7);
    end_record(f);
    put_full_sample(f, 120);
    begin_record(f, R_EXIT, 0);
    put_u32(f, 100);
    put_u32(f, 1);
    put_u32(f, 100);
    put_u32(f, 1);
    put_u64(f, 400);
    put_trailer(f, &ONE, 100, 400, 7);
    end_record(f);
    end_file(f);
}

static void
test_one_event(void)
{
    static struct file f;
    struct log log = {0};
    char err[200];
    struct pt_perf_data *pd = NULL;
    build_one(&f);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, &pd), 0);
    CHECK_EQ_INT(log.n, 7);
    CHECK_LINE(&log, 0, "FORK 100<1 t50");
    CHECK_LINE(&log, 1, "M 100 t100 400000+3000@1000 x1 /usr/bin/app");
    CHECK_LINE(&log, 2, "S cycles:u 100/101 t120 p2500 ip401000 cpu3 m2");
    CHECK_LINE(&log, 3, "M 100 t150 600000+1000@0 x0 /data");
    CHECK_LINE(&log, 4, "C 100 t200 exec1 app");
    CHECK_LINE(&log, 5, "S cycles:u 100/101 t300 p2500 ip401000 cpu3 m2");
    CHECK_LINE(&log, 6, "EXIT 100<1 t400");
    if (pd != NULL) {
        /* FINISHED_ROUND, THROTTLE, LOST_SAMPLES */
        CHECK_EQ_INT(pt_perf_data_skipped(pd), 3);
        CHECK_EQ_INT(pt_perf_data_lost(pd), 9);
        CHECK_EQ_INT(pt_perf_data_events(pd), 1);
        CHECK(strcmp(pt_perf_data_event_name(pd, 0), "cycles:u") == 0);
        CHECK(pt_perf_data_event_name(pd, 1) == NULL);
        pt_perf_data_free(pd);
    }
    /* the last sample's arrays, and the build-id mmap */
    const struct pt_perf_sample *s = &log.last_sample;
    CHECK_EQ_INT(s->callchain_nr, 3);
    CHECK(s->callchain_nr == 3 && pt_perf_u64(s->callchain, 0) == (uint64_t)-512 &&
          pt_perf_u64(s->callchain, 2) == 0x402000);
    CHECK_EQ_INT(s->regs_abi, 2);
    CHECK_EQ_INT(s->regs_mask, 0x1c0);
    CHECK_EQ_INT(s->regs_nr, 3);
    CHECK(s->regs_nr == 3 && pt_perf_u64(s->regs, 0) == 0xa &&
          pt_perf_u64(s->regs, 2) == 0xc);
    CHECK_EQ_INT(s->stack_size, 12);
    CHECK(s->stack != NULL && memcmp(s->stack, "stackbytes-0", 12) == 0);
    const struct pt_perf_mmap *m = &log.last_mmap;
    CHECK_EQ_INT(m->executable, 0);
    CHECK(m->build_id == NULL);
    /* walking again gives the same, counts not doubled */
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, &pd), 0);
    if (pd != NULL) {
        CHECK_EQ_INT(pt_perf_data_lost(pd), 9);
        pt_perf_data_free(pd);
    }
}

static void
test_mmap2_build_id(void)
{
    static struct file f;
    struct log log = {0};
    char err[200];
    begin_file(&f, &ONE, 1);
    begin_record(&f, R_MMAP2, 2 | (1 << 14));
    put_u32(&f, 100);
    put_u32(&f, 100);
    put_u64(&f, 0x400000);
    put_u64(&f, 0x3000);
    put_u64(&f, 0x1000);
    uint8_t build_id[24] = {20, 0, 0, 0, 0xde, 0xad, [23] = 0x99};
    put(&f, build_id, sizeof build_id);
    put_u32(&f, 5);
    put_u32(&f, 2);
    put(&f, "/usr/bin/app\0\0\0\0", 16);
    put_trailer(&f, &ONE, 100, 100, 7);
    end_record(&f);
    end_file(&f);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, NULL), 0);
    CHECK_EQ_INT(log.n, 1);
    const struct pt_perf_mmap *m = &log.last_mmap;
    CHECK_EQ_INT(m->build_id_size, 20);
    CHECK(m->build_id != NULL && m->build_id[0] == 0xde && m->build_id[19] == 0x99);
    CHECK_EQ_INT(m->executable, 1);
    CHECK_EQ_INT(m->cpumode, 2);
}

/* --- several events -------------------------------------------------------------- */

/* Two events told apart by PERF_SAMPLE_IDENTIFIER; a third id unknown. */
static void
test_identifier(void)
{
    static const struct event_spec two[2] = {
        {.sample_type = S_IDENTIFIER | S_IP | S_TID | S_TIME | S_PERIOD,
         .flags = FLAG_SAMPLE_ID_ALL | FLAG_FREQ,
         .period = 999,
         .name = "cpu-clock",
         .ids = {11, 12},
         .nids = 2},
        {.sample_type = S_IDENTIFIER | S_IP | S_TID | S_TIME,
         .flags = FLAG_SAMPLE_ID_ALL | FLAG_FREQ,
         .period = 999,
         .name = "dummy:u",
         .ids = {22},
         .nids = 1},
    };
    static struct file f;
    struct log log = {0};
    char err[200];
    struct pt_perf_data *pd = NULL;
    begin_file(&f, two, 2);
    put_simple_sample(&f, &two[1], 0x20, 5, 20, 22);
    put_simple_sample(&f, &two[0], 0x10, 5, 10, 12);
    put_simple_sample(&f, &two[0], 0x30, 5, 30, 99); /* no event has id 99 */
    put_comm(&f, &two[1], 5, "a.out", 5, 22);
    put_comm(&f, &two[1], 5, "b.out", 1, 99);
    end_file(&f);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, &pd), 0);
    CHECK_EQ_INT(log.n, 3);
    CHECK_LINE(&log, 0, "C 5 t5 exec1 a.out");
    CHECK_LINE(&log, 1, "S cpu-clock 5/6 t10 p1000 ip10 cpu0 m2");
    CHECK_LINE(&log, 2, "S dummy:u 5/6 t20 p1 ip20 cpu0 m2"); /* freq: period 1 */
    if (pd != NULL) {
        CHECK_EQ_INT(pt_perf_data_skipped(pd), 2);
        pt_perf_data_free(pd);
    }
}

/* Two events with PERF_SAMPLE_ID (perf's default for -e a,b): the id sits
 * after IP, TID, TIME in a sample and before CPU in the trailer; id 0 (a
 * synthesized record) is the first event's. */
static void
test_sample_id(void)
{
    static const struct event_spec two[2] = {
        {.sample_type = S_IP | S_TID | S_TIME | S_ID | S_PERIOD,
         .flags = FLAG_SAMPLE_ID_ALL,
         .period = 10,
         .name = "cpu-clock",
         .ids = {40},
         .nids = 1},
        {.sample_type = S_IP | S_TID | S_TIME | S_ID | S_PERIOD,
         .flags = FLAG_SAMPLE_ID_ALL,
         .period = 10,
         .name = "task-clock",
         .ids = {41},
         .nids = 1},
    };
    static struct file f;
    struct log log = {0};
    char err[200];
    begin_file(&f, two, 2);
    put_simple_sample(&f, &two[0], 0x1, 9, 3, 41);
    put_simple_sample(&f, &two[0], 0x2, 9, 3, 40);
    put_simple_sample(&f, &two[0], 0x3, 9, 2, 0);
    put_comm(&f, &two[0], 9, "late", 4, 41);
    end_file(&f);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, NULL), 0);
    CHECK_EQ_INT(log.n, 4);
    CHECK_LINE(&log, 0, "S cpu-clock 9/10 t2 p1000 ip3 cpu0 m2");
    CHECK_LINE(&log, 1,
               "S task-clock 9/10 t3 p1000 ip1 cpu0 m2"); /* equal times: file order */
    CHECK_LINE(&log, 2, "S cpu-clock 9/10 t3 p1000 ip2 cpu0 m2");
    CHECK_LINE(&log, 3, "C 9 t4 exec1 late");
}

/* --- every sample field ------------------------------------------------------- */

/* IDENTIFIER IP TID TIME ADDR ID STREAM_ID CPU PERIOD READ CALLCHAIN RAW
 * BRANCH_STACK REGS_USER STACK_USER, with read_format a group and branch
 * records with hw_idx; an event without PERIOD gives its sample_period. */
static void
test_all_fields(void)
{
    static const struct event_spec ev = {
        .sample_type = S_IDENTIFIER | S_IP | S_TID | S_TIME | S_ADDR | S_ID |
                       S_STREAM_ID | S_CPU | S_READ | S_CALLCHAIN | S_RAW |
                       S_BRANCH_STACK | S_REGS_USER | S_STACK_USER,
        .read_format = 1 | 2 | 4 | 8 | 16, /* both times, id, group, lost */
        .branch_type = 1ULL << 17,         /* hw_idx */
        .regs_user = 0x3,
        .period = 5000,
        .name = "branches",
        .ids = {3},
        .nids = 1,
    };
    static struct file f;
    struct log log = {0};
    char err[200];
    begin_file(&f, &ev, 1);
    begin_record(&f, R_SAMPLE, 1); /* kernel */
    put_u64(&f, 3);                /* identifier */
    put_u64(&f, 0xffff0001);       /* ip */
    put_u32(&f, 77);
    put_u32(&f, 78);
    put_u64(&f, 1234); /* time */
    put_u64(&f, 0xadd);
    put_u64(&f, 3); /* id */
    put_u64(&f, 3); /* stream id */
    put_u32(&f, 1); /* cpu */
    put_u32(&f, 0);
    put_u64(&f, 2); /* read: nr, enabled, running, then 2 x (value, id, lost) */
    for (int i = 0; i < 2 + 2 * 3; i++) {
        put_u64(&f, 0xeeee);
    }
    put_u64(&f, 1); /* callchain */
    put_u64(&f, 0xffff0001);
    put_u32(&f, 12); /* raw: 4 + 12 bytes */
    put(&f, "raw-raw-raw!", 12);
    put_u64(&f, 2); /* branch stack: nr, hw_idx, 2 x (from, to, flags) */
    for (int i = 0; i < 1 + 2 * 3; i++) {
        put_u64(&f, 0xbbbb);
    }
    put_u64(&f, 1); /* regs: abi 32, two of them */
    put_u64(&f, 0x11);
    put_u64(&f, 0x22);
    put_u64(&f, 0); /* no stack copy */
    end_record(&f);
    end_file(&f);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, NULL), 0);
    CHECK_EQ_INT(log.n, 1);
    CHECK_LINE(&log, 0, "S branches 77/78 t1234 p5000 ipffff0001 cpu1 m1");
    const struct pt_perf_sample *s = &log.last_sample;
    CHECK_EQ_INT(s->ip, 0xffff0001);
    CHECK_EQ_INT(s->period, 5000);
    CHECK_EQ_INT(s->callchain_nr, 1);
    CHECK_EQ_INT(s->regs_nr, 2);
    CHECK(s->regs_nr == 2 && pt_perf_u64(s->regs, 1) == 0x22);
    CHECK_EQ_INT(s->stack_size, 0);
    CHECK(s->stack == NULL);
    CHECK_EQ_INT(s->cpumode, 1);
}

/* Without times anywhere, records come in file order. */
static void
test_no_times(void)
{
    static const struct event_spec ev = {
        .sample_type = S_IP | S_TID, .period = 1, .name = "x", .ids = {1}, .nids = 1};
    static struct file f;
    struct log log = {0};
    char err[200];
    begin_file(&f, &ev, 1);
    for (uint64_t ip = 3; ip > 0; ip--) {
        begin_record(&f, R_SAMPLE, 2);
        put_u64(&f, ip);
        put_u32(&f, 1);
        put_u32(&f, 1);
        end_record(&f);
    }
    end_file(&f);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, NULL), 0);
    CHECK_EQ_INT(log.n, 3);
    CHECK_LINE(&log, 0, "S x 1/1 t0 p1 ip3 cpu0 m2");
    CHECK_LINE(&log, 2, "S x 1/1 t0 p1 ip1 cpu0 m2");
    /* without HEADER_EVENT_DESC, events have no names */
    set_u64(&f, 72, 0);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, NULL), 0);
    CHECK_EQ_INT(log.n, 3);
    CHECK_LINE(&log, 0, "S  1/1 t0 p1 ip3 cpu0 m2");
}

static void
test_handler_stops(void)
{
    static struct file f;
    struct log log = {.stop_after = 2};
    char err[200];
    build_one(&f);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, NULL), 42);
    CHECK_EQ_INT(log.n, 2);
}

/* --- malformed files ------------------------------------------------------------- */

/* The error of walking f with its byte at `at` patched to the u64 v (or
 * the u16 when width is 2), and the reason. */
static int
walk_patched(const struct file *f, size_t at, uint64_t v, int width, char *err,
             size_t err_size)
{
    static struct file g;
    struct log log = {0};
    memcpy(&g, f, sizeof g);
    if (width == 2) {
        uint16_t v16 = (uint16_t)v;
        memcpy(g.bytes + at, &v16, 2);
    }
    else if (width == 4) {
        uint32_t v32 = (uint32_t)v;
        memcpy(g.bytes + at, &v32, 4);
    }
    else {
        memcpy(g.bytes + at, &v, 8);
    }
    return walk(g.bytes, g.len, &log, err, err_size, NULL);
}

static uint64_t
data_offset_of(const struct file *f)
{
    uint64_t v;
    memcpy(&v, f->bytes + 40, 8);
    return v;
}

static void
test_bad_headers(void)
{
    static struct file f;
    struct log log = {0};
    char err[200];
    build_one(&f);
    CHECK_EQ_INT(walk(f.bytes, 10, &log, err, sizeof err, NULL), -EINVAL);
    CHECK(strcmp(err, "not a perf.data file") == 0);
    CHECK_EQ_INT(walk(f.bytes, 50, &log, err, sizeof err, NULL), -EINVAL);
    CHECK(strcmp(err, "truncated header") == 0);
    CHECK_EQ_INT(
        walk((const uint8_t *)"PERFILE1........", 16, &log, err, sizeof err, NULL),
        -EINVAL);
    CHECK(strcmp(err, "not a perf.data file") == 0);
    CHECK_EQ_INT(walk_patched(&f, 0, 0x50455246494c4532ULL, 8, err, sizeof err),
                 -ENOTSUP);
    CHECK(strcmp(err, "big-endian perf.data is not supported") == 0);
    CHECK_EQ_INT(walk_patched(&f, 8, 16, 8, err, sizeof err), -ENOTSUP);
    CHECK(strcmp(err, "pipe-mode perf.data is not supported") == 0);
    /* sections out of the file */
    CHECK_EQ_INT(walk_patched(&f, 24, f.len, 8, err, sizeof err), -EINVAL); /* attrs */
    CHECK_EQ_INT(walk_patched(&f, 32, 0, 8, err, sizeof err), -EINVAL);     /* no attrs */
    CHECK_EQ_INT(walk_patched(&f, 40, (uint64_t)-8, 8, err, sizeof err),
                 -EINVAL); /* data */
    CHECK_EQ_INT(walk_patched(&f, 48, f.len, 8, err, sizeof err), -EINVAL);
    CHECK_EQ_INT(walk_patched(&f, 16, 3, 8, err, sizeof err), -EINVAL); /* attr size */
    CHECK_EQ_INT(walk_patched(&f, 104 + 128, (uint64_t)-1, 8, err, sizeof err), -EINVAL);
    CHECK_EQ_INT(walk_patched(&f, 104 + 136, 1ULL << 62, 8, err, sizeof err), -EINVAL);
    /* the features table and EVENT_DESC out of the file, or a huge count in it */
    uint64_t table;
    memcpy(&table, f.bytes + 40, 8);
    uint64_t size;
    memcpy(&size, f.bytes + 48, 8);
    table += size;
    CHECK_EQ_INT(walk_patched(&f, table, f.len, 8, err, sizeof err), -EINVAL);
    CHECK_EQ_INT(walk_patched(&f, table + 8, f.len, 8, err, sizeof err), -EINVAL);
    uint64_t desc;
    memcpy(&desc, f.bytes + table, 8);
    CHECK_EQ_INT(walk_patched(&f, desc, 0xffffffff, 4, err, sizeof err), -EINVAL);
    CHECK(strcmp(err, "HEADER_EVENT_DESC truncated") == 0);
    CHECK_EQ_INT(walk_patched(&f, desc + 4, 0xfffffff0, 4, err, sizeof err), -EINVAL);
}

static void
test_bad_records(void)
{
    static struct file f;
    char err[200];
    build_one(&f);
    size_t first = data_offset_of(&f); /* the first record: a full sample */
    CHECK_EQ_INT(walk_patched(&f, first + 6, 0, 2, err, sizeof err),
                 -EINVAL); /* size 0 */
    CHECK(strstr(err, "record at offset ") != NULL && strstr(err, "size 0") != NULL);
    CHECK_EQ_INT(walk_patched(&f, first + 6, 4, 2, err, sizeof err), -EINVAL);
    CHECK_EQ_INT(walk_patched(&f, first + 6, 0xfff8, 2, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "truncated") != NULL);
    /* huge counts: callchain nr, stack size, dyn_size past the copy */
    size_t callchain = first + 8 + 8 + 8 + 8 + 8 + 8;
    CHECK_EQ_INT(walk_patched(&f, callchain, 1ULL << 61, 8, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "callchain") != NULL);
    CHECK_EQ_INT(walk_patched(&f, callchain, (uint64_t)-1, 8, err, sizeof err), -EINVAL);
    size_t stack = callchain + 8 * 4 + 8 * 4;
    CHECK_EQ_INT(walk_patched(&f, stack, (uint64_t)-16, 8, err, sizeof err), -EINVAL);
    CHECK_EQ_INT(walk_patched(&f, stack + 8 + 16, 17, 8, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "dyn_size") != NULL);
    /* the mmap2 after it: its filename's NUL gone, its build id too long */
    uint16_t sample_size;
    memcpy(&sample_size, f.bytes + first + 6, 2);
    size_t mmap2 = first + sample_size;
    CHECK_EQ_INT(walk_patched(&f, mmap2 + 72, 0x4141414141414141ULL, 8, err, sizeof err),
                 0); /* the NUL padding still ends it */
    CHECK_EQ_INT(walk_patched(&f, mmap2 + 80, 0x4141414141414141ULL, 8, err, sizeof err),
                 -EINVAL);
    CHECK(strstr(err, "NUL") != NULL);
    CHECK_EQ_INT(walk_patched(&f, mmap2 + 40, 200, 4, err, sizeof err), -EINVAL);
    /* a record of compressed data that is not zstd (or without libzstd, any),
     * or of AUX area tracing: refused */
#ifdef PT_HAVE_ZSTD
    CHECK_EQ_INT(walk_patched(&f, first, R_COMPRESSED, 4, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "corrupt zstd data") != NULL);
#else
    CHECK_EQ_INT(walk_patched(&f, first, R_COMPRESSED, 4, err, sizeof err), -ENOTSUP);
    CHECK(strstr(err, "perf record -z") != NULL);
#endif
    CHECK_EQ_INT(walk_patched(&f, first, R_AUXTRACE, 4, err, sizeof err), -ENOTSUP);
    /* the data section ending inside a record */
    CHECK_EQ_INT(walk_patched(&f, 48, 12, 8, err, sizeof err), -EINVAL);
    /* a sample of an ip alone, where its event has more fields */
    static struct file g;
    struct log log = {0};
    begin_file(&g, &ONE, 1);
    begin_record(&g, R_SAMPLE, 2);
    put_u64(&g, 0x401000);
    end_record(&g);
    end_file(&g);
    CHECK_EQ_INT(walk(g.bytes, g.len, &log, err, sizeof err, NULL), -EINVAL);
    CHECK(strstr(err, "record at offset ") != NULL);
    CHECK_EQ_INT(log.n, 0);
}

/* --- compressed records (perf record -z) ----------------------------------------- */

/* zstd frames written by hand from raw (stored) and RLE blocks, which any
 * zstd decoder reads: the test needs no compressor, and cuts the stream
 * exactly where it wants. */
#define ZSTD_MAGIC 0xfd2fb528u
enum { ZSTD_RAW = 0, ZSTD_RLE = 1, ZSTD_RESERVED = 3 };
#define ZSTD_BLOCK_MAX (1u << 17)

/* No content size, no checksum, no dictionary; a 128 KiB window. */
static void
put_zstd_frame_header(struct file *f)
{
    static const uint8_t descriptor[2] = {0x00, 0x38};
    put_u32(f, ZSTD_MAGIC);
    put(f, descriptor, sizeof descriptor);
}

/* A block header: last, type, then the size (the regenerated one for RLE). */
static void
put_zstd_block_header(struct file *f, unsigned type, int last, uint32_t size)
{
    uint32_t h = (uint32_t)last | type << 1 | size << 3;
    uint8_t bytes[3] = {h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff};
    put(f, bytes, sizeof bytes);
}

/* The zstd stream of one frame holding records->bytes as one raw block. */
static void
stream_of(struct file *stream, const struct file *records)
{
    memset(stream, 0, sizeof *stream);
    put_zstd_frame_header(stream);
    put_zstd_block_header(stream, ZSTD_RAW, 1, (uint32_t)records->len);
    put(stream, records->bytes, records->len);
}

/* A PERF_RECORD_COMPRESSED of stream[from, to), or a COMPRESSED2 with its
 * data_size and padded to 8 bytes. */
static void
put_compressed(struct file *f, int v2, const struct file *stream, size_t from, size_t to)
{
    begin_record(f, v2 ? R_COMPRESSED2 : R_COMPRESSED, 0);
    if (v2) {
        put_u64(f, to - from);
    }
    put(f, stream->bytes + from, to - from);
    if (v2) {
        put_zeros(f, (8 - (to - from) % 8) % 8);
    }
    end_record(f);
}

/* The records of build_compressed's stream: a sample at 300, comms
 * "packed" at 200 and "late" at 100; *cut falls inside "packed". */
static void
compressed_records(struct file *records, size_t *cut)
{
    memset(records, 0, sizeof *records);
    put_full_sample(records, 300);
    *cut = records->len + 10;
    put_comm(records, &ONE, 100, "packed", 200, 7);
    put_comm(records, &ONE, 100, "late", 100, 7);
}

/* A file whose stream is cut in two compressed records, in the middle of a
 * record of it, with file records before and between: comm "first" at 100,
 * then the first part, a sample at 250, the rest. */
static void
build_compressed(struct file *f, int v2, int compression)
{
    static struct file records, stream;
    size_t cut;
    compressed_records(&records, &cut);
    stream_of(&stream, &records);
    cut += stream.len - records.len; /* past the frame and block headers */
    begin_file(f, &ONE, 1);
    put_comm(f, &ONE, 100, "first", 100, 7);
    put_compressed(f, v2, &stream, 0, cut);
    put_full_sample(f, 250);
    put_compressed(f, v2, &stream, cut, stream.len);
    end_file_compressed(f, compression);
}

#ifdef PT_HAVE_ZSTD
/* A file of one compressed record of `stream`. */
static void
build_one_compressed(struct file *f, const struct file *stream)
{
    begin_file(f, &ONE, 1);
    put_compressed(f, 0, stream, 0, stream->len);
    end_file(f);
}

/* Records of both places come back in one time order, equal times in the
 * order they were completed; the pointers into the decompressed data hold. */
static void
test_compressed(int v2)
{
    static struct file f;
    struct log log = {0};
    struct pt_perf_data *pd = NULL;
    char err[200];
    build_compressed(&f, v2, 1);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, &pd), 0);
    CHECK_EQ_INT(log.n, 5);
    CHECK_LINE(&log, 0, "C 100 t100 exec1 first");
    CHECK_LINE(&log, 1, "C 100 t100 exec1 late");
    CHECK_LINE(&log, 2, "C 100 t200 exec1 packed");
    CHECK_LINE(&log, 3, "S cycles:u 100/101 t250 p2500 ip401000 cpu3 m2");
    CHECK_LINE(&log, 4, "S cycles:u 100/101 t300 p2500 ip401000 cpu3 m2");
    if (pd != NULL) {
        /* the last sample is the decompressed one: its fields lie in the
         * reader's copy, valid until the reader is freed */
        const struct pt_perf_sample *s = &log.last_sample;
        CHECK(s->stack != NULL && memcmp(s->stack, "stackbytes-0", 12) == 0);
        CHECK(s->regs != NULL && pt_perf_u64(s->regs, 2) == 0xc);
        CHECK(s->callchain != NULL && pt_perf_u64(s->callchain, 2) == 0x402000);
        CHECK_EQ_INT(pt_perf_data_skipped(pd), 0);
        /* a second walk decompresses again and gives the same */
        CHECK_EQ_INT(pt_perf_data_each(pd, &HANDLERS, &log, err, sizeof err), 0);
        CHECK_EQ_INT(log.n, 10);
        pt_perf_data_free(pd);
    }
}

static void
test_bad_compressed(void)
{
    static struct file f, records, stream;
    char err[200];
    struct log log = {0};
    size_t cut;
    /* HEADER_COMPRESSED names a type other than zstd */
    build_compressed(&f, 0, 2);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, NULL), -ENOTSUP);
    CHECK(strstr(err, "compression type 2") != NULL);
    /* a block of the reserved type */
    memset(&stream, 0, sizeof stream);
    put_zstd_frame_header(&stream);
    put_zstd_block_header(&stream, ZSTD_RESERVED, 1, 8);
    put_zeros(&stream, 8);
    build_one_compressed(&f, &stream);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, NULL), -EINVAL);
    CHECK(strstr(err, "corrupt zstd data") != NULL);
    CHECK(strstr(err, "record at offset ") == err);
    /* a bomb: 32 RLE blocks of 128 KiB from a file of a few hundred bytes */
    memset(&stream, 0, sizeof stream);
    put_zstd_frame_header(&stream);
    for (int i = 0; i < 32; i++) {
        put_zstd_block_header(&stream, ZSTD_RLE, i == 31, ZSTD_BLOCK_MAX);
        put_zeros(&stream, 1);
    }
    build_one_compressed(&f, &stream);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, NULL), -EFBIG);
    CHECK(strstr(err, "decompresses to more than") != NULL);
    /* the stream ends inside a record */
    compressed_records(&records, &cut);
    stream_of(&stream, &records);
    cut += stream.len - records.len;
    begin_file(&f, &ONE, 1);
    put_compressed(&f, 0, &stream, 0, cut);
    end_file(&f);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, NULL), -EINVAL);
    CHECK(strstr(err, "decompressed record at offset ") == err &&
          strstr(err, "truncated") != NULL);
    CHECK_EQ_INT(log.n, 0);
    /* a record of size 4 in the decompressed data */
    memset(&records, 0, sizeof records);
    begin_record(&records, R_COMM, 0);
    end_record(&records);
    records.bytes[6] = 4;
    stream_of(&stream, &records);
    build_one_compressed(&f, &stream);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, NULL), -EINVAL);
    CHECK(strcmp(err, "decompressed record at offset 0: size 4") == 0);
    /* a compressed record inside the decompressed data */
    memset(&records, 0, sizeof records);
    begin_record(&records, R_COMPRESSED, 0);
    put_zeros(&records, 8);
    end_record(&records);
    stream_of(&stream, &records);
    build_one_compressed(&f, &stream);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, NULL), -EINVAL);
    CHECK(strstr(err, "inside compressed data") != NULL);
    /* COMPRESSED2 whose data_size runs past the record */
    build_compressed(&f, 1, 1);
    uint16_t first_size; /* the comm before the first compressed record */
    memcpy(&first_size, f.bytes + data_offset_of(&f) + 6, 2);
    size_t data_size = data_offset_of(&f) + first_size + 8;
    CHECK_EQ_INT(walk_patched(&f, data_size, 1ULL << 40, 8, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "past the record's end") != NULL);
}
#else
/* Without libzstd, a compressed record is refused with the reason. */
static void
test_compressed(int v2)
{
    static struct file f;
    struct log log = {0};
    char err[200];
    build_compressed(&f, v2, 1);
    CHECK_EQ_INT(walk(f.bytes, f.len, &log, err, sizeof err, NULL), -ENOTSUP);
    CHECK(strstr(err, "perf record -z") != NULL);
    CHECK_EQ_INT(log.n, 0);
}

static void
test_bad_compressed(void)
{
}
#endif

/* --- a real file ----------------------------------------------------------------- */

struct counts {
    unsigned samples, mmaps, comms, tasks, unordered;
    uint64_t last_time, first_sample, last_sample, period_sum;
};

static void
count_time(struct counts *c, uint64_t time)
{
    if (time < c->last_time) {
        c->unordered++;
    }
    c->last_time = time;
}

static int
count_sample(void *ctx, const struct pt_perf_sample *s)
{
    struct counts *c = ctx;
    if (c->samples++ == 0) {
        c->first_sample = s->time;
    }
    c->last_sample = s->time;
    c->period_sum += s->period;
    count_time(c, s->time);
    return 0;
}

static int
count_mmap(void *ctx, const struct pt_perf_mmap *m)
{
    struct counts *c = ctx;
    c->mmaps++;
    count_time(c, m->time);
    return 0;
}

static int
count_comm(void *ctx, const struct pt_perf_comm *cm)
{
    struct counts *c = ctx;
    c->comms++;
    count_time(c, cm->time);
    return 0;
}

static int
count_task(void *ctx, const struct pt_perf_task *t)
{
    struct counts *c = ctx;
    c->tasks++;
    count_time(c, t->time);
    return 0;
}

/* What perf script gives for a file of tests/c/data/ (--show-mmap-events
 * --show-task-events; times in microseconds). */
struct real_file {
    const char *name, *event;
    unsigned samples, mmaps, comms, tasks;
    uint64_t first_us, last_us, period_sum;
};

/* perf-fp-small.data: `perf record -N -F 999 -g -- python3 -c 'sum(i*i for i
 * in range(200000))'` (perf 6.1). */
static const struct real_file FP_SMALL = {
    "perf-fp-small.data", "cpu-clock:pppH", 111,          188, 40, 81,
    76287327135ULL,       76287462757ULL,   111111111ULL,
};

/* perf-dwarf-z.data: `perf record -N -z --call-graph dwarf,4096 -F 999 --
 * python3 -c '<0.3 s of sum(range(1000))>'` (perf 6.1): 13 compressed
 * records, of one zstd stream whose frames and records go on from one to
 * the next; nearly every record is inside them. */
static const struct real_file DWARF_Z = {
    "perf-dwarf-z.data", "cpu-clock:pppH", 377,          1632, 40, 81,
    77028478509ULL,      77028883979ULL,   377377377ULL,
};

/* Walks the file and compares with perf script's numbers; without libzstd,
 * a compressed one is refused.  Found next to this source, as the build
 * compiles it (a relative path from the build directory, where meson runs
 * the test). */
static void
test_real_file(const struct real_file *want, int compressed)
{
    char path[512];
    const char *slash = strrchr(__FILE__, '/');
    int dir_len = slash != NULL ? (int)(slash - __FILE__) : 1;
    snprintf(path, sizeof path, "%.*s/data/%s", dir_len, slash != NULL ? __FILE__ : ".",
             want->name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("test_perfdata: skipping the real file: %s not found\n", path);
        return;
    }
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    CHECK(map != MAP_FAILED);
    if (map == MAP_FAILED) {
        return;
    }
    struct pt_perf_data *pd = NULL;
    char err[200] = "";
    CHECK_EQ_INT(pt_perf_data_open(&pd, map, (size_t)st.st_size, err, sizeof err), 0);
    if (pd != NULL) {
        static const struct pt_perf_handlers h = {count_sample, count_mmap, count_comm,
                                                  count_task};
        struct counts c = {0};
        int rc = pt_perf_data_each(pd, &h, &c, err, sizeof err);
#ifndef PT_HAVE_ZSTD
        if (compressed) {
            CHECK_EQ_INT(rc, -ENOTSUP);
            CHECK(strstr(err, "perf record -z") != NULL);
            pt_perf_data_free(pd);
            munmap(map, (size_t)st.st_size);
            return;
        }
#endif
        (void)compressed;
        CHECK_EQ_INT(rc, 0);
        CHECK(strcmp(pt_perf_data_event_name(pd, 0), want->event) == 0);
        CHECK_EQ_INT(c.samples, want->samples);
        CHECK_EQ_INT(c.mmaps, want->mmaps);
        CHECK_EQ_INT(c.comms, want->comms);
        CHECK_EQ_INT(c.tasks, want->tasks);
        CHECK_EQ_INT(c.unordered, 0);
        CHECK_EQ_INT(c.first_sample / 1000, want->first_us);
        CHECK_EQ_INT(c.last_sample / 1000, want->last_us);
        CHECK_EQ_INT(c.period_sum, want->period_sum);
        CHECK_EQ_INT(pt_perf_data_lost(pd), 0);
        pt_perf_data_free(pd);
    }
    munmap(map, (size_t)st.st_size);
}

int
main(void)
{
    test_one_event();
    test_mmap2_build_id();
    test_identifier();
    test_sample_id();
    test_all_fields();
    test_no_times();
    test_handler_stops();
    test_bad_headers();
    test_bad_records();
    test_compressed(0);
    test_compressed(1);
    test_bad_compressed();
    test_real_file(&FP_SMALL, 0);
    test_real_file(&DWARF_Z, 1);
    return TEST_REPORT("test_perfdata");
}
