/*
 * Reading perf.data ourselves, so that a report can unwind the samples' user
 * stack copies without running `perf script` (slow) over them.
 *
 * A perf.data file ("PERFILE2", file mode, little-endian) is
 *
 *     header      magic, the header's size, the size of one attrs entry, then
 *                 where the attrs and data sections are, and a bitmap of the
 *                 features written after the data section
 *     attrs       one entry per event: its perf_event_attr (sample_type says
 *                 which fields a sample of it has) and where its ids are
 *     data        the records, each a perf_event_header {type, misc, size}
 *                 then the body; copied from per-CPU ring buffers one
 *                 buffer at a time, so the file is NOT in time order
 *     features    a table of {offset, size}, one per set feature bit; we read
 *                 HEADER_EVENT_DESC for the events' names, HEADER_COMPRESSED
 *                 for the compression's type
 *
 * `perf record -z` writes nearly every record zstd-compressed, inside
 * PERF_RECORD_COMPRESSED(2) records; built with libzstd (PT_HAVE_ZSTD) the
 * reader decompresses them into a buffer of its own and walks their records
 * with the others, else it refuses them (-ENOTSUP).
 *
 * With several events, a record says which one it belongs to by an id the
 * kernel put in it (PERF_SAMPLE_IDENTIFIER, or PERF_SAMPLE_ID at a position
 * that depends on sample_type; for non-sample records in the sample_id_all
 * trailer, counted from the record's end) and the attrs section lists each
 * event's ids.  This reader decodes the records a stack unwinder needs
 * (SAMPLE up to STACK_USER, MMAP/MMAP2, COMM, FORK/EXIT), counts LOST, skips
 * the rest, and hands them to callbacks sorted by time as perf itself does.
 *
 * The input is untrusted: every offset and count is checked against the
 * buffer before it is used, and every pointer handed out lies inside it (or
 * inside the decompressed copy, whose size is bounded against a bomb).
 */
#ifndef PERFTRAMP_REPORT_PERFDATA_H
#define PERFTRAMP_REPORT_PERFDATA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct pt_perf_data;

/* Reads the header, attrs (with their ids) and the HEADER_EVENT_DESC feature
 * (event names) of a perf.data file ("PERFILE2", little-endian; file mode,
 * not pipe mode) held in data[0..len); data must outlive the reader (the lead
 * mmaps the file).  0, or a negative errno with a one-line reason in err
 * (e.g. "not a perf.data file", "pipe-mode perf.data is not supported",
 * "big-endian perf.data is not supported", "truncated header"). */
int pt_perf_data_open(struct pt_perf_data **out, const void *data, size_t len, char *err,
                      size_t err_size);
void pt_perf_data_free(struct pt_perf_data *pd);

/* One PERF_RECORD_SAMPLE.  The pointers of this and of the other records
 * point into the file's buffer, or for a record of compressed data into the
 * reader's decompressed copy: valid until the reader walks again or is
 * freed. */
struct pt_perf_sample {
    /* the attr's name from HEADER_EVENT_DESC, NUL-terminated; "" when none */
    const char *event;
    uint32_t pid, tid; /* 0 without PERF_SAMPLE_TID */
    uint64_t time;     /* ns; 0 without PERF_SAMPLE_TIME */
    /* PERF_SAMPLE_PERIOD, else the attr's sample_period (1 in freq mode) */
    uint64_t period;
    uint64_t ip; /* PERF_SAMPLE_IP */
    uint32_t cpu;
    uint16_t cpumode; /* header.misc & PERF_RECORD_MISC_CPUMODE_MASK */
    /* PERF_SAMPLE_CALLCHAIN: callchain_nr entries (PERF_CONTEXT_* markers
     * included), little-endian u64, read with pt_perf_u64(callchain, i) */
    uint64_t callchain_nr;
    const uint8_t *callchain;
    /* PERF_SAMPLE_REGS_USER: abi 0 = none (then regs_nr is 0); mask is the
     * attr's sample_regs_user; regs_nr = popcount(regs_mask) when abi != 0,
     * regs_nr u64 in mask bit order (pt_perf_u64) */
    uint64_t regs_abi;
    uint64_t regs_mask;
    uint32_t regs_nr;
    const uint8_t *regs;
    /* PERF_SAMPLE_STACK_USER: the copy, starting at the sampled user SP, of
     * which the first stack_size (dyn_size) bytes are valid (<= the copy's size) */
    uint64_t stack_size;
    const uint8_t *stack;
};
/* PERF_RECORD_MMAP and MMAP2 */
struct pt_perf_mmap {
    uint32_t pid, tid;
    uint64_t start, len, pgoff, time;
    uint16_t cpumode; /* kernel/user (misc) */
    /* MMAP2: prot & PROT_EXEC; MMAP: !(misc & PERF_RECORD_MISC_MMAP_DATA) */
    int executable;
    /* MMAP2 without build id */
    uint32_t maj, min;
    uint64_t ino, ino_generation;
    /* MMAP2 with PERF_RECORD_MISC_MMAP_BUILD_ID, else NULL/0 */
    const uint8_t *build_id;
    uint8_t build_id_size;
    const char *filename; /* NUL-terminated inside the record (checked) */
};
struct pt_perf_comm {
    uint32_t pid, tid;
    uint64_t time;
    int exec;
    const char *comm;
};
/* FORK / EXIT; time is the sample_id_all trailer's when there is one (what
 * perf uses), else the record's own. */
struct pt_perf_task {
    int exit;
    uint32_t pid, ppid, tid, ptid;
    uint64_t time;
};
/* Any may be NULL; a nonzero return stops the walk and is returned. */
struct pt_perf_handlers {
    int (*sample)(void *ctx, const struct pt_perf_sample *s);
    int (*mmap)(void *ctx, const struct pt_perf_mmap *m);
    int (*comm)(void *ctx, const struct pt_perf_comm *c);
    int (*task)(void *ctx, const struct pt_perf_task *t);
};

/* Walks the data section's records in time order, as perf's ordered events do
 * (records are written per CPU buffer, so the file is not in time order): a
 * stable sort by time of every record that has one (sample_id_all /
 * PERF_SAMPLE_TIME); a record without one sorts with the time of the record
 * before it in the file, so without times it is file order.  0, a handler's
 * nonzero return, or a negative errno for a malformed file (err says where:
 * "record at offset N: ...").  Record types it does not know, and user types
 * >= 64 (PERF_RECORD_FINISHED_ROUND, ID_INDEX, ...), are skipped and counted,
 * as are records whose event is not found by their id.  The records inside
 * PERF_RECORD_COMPRESSED(2) (perf record -z) are decompressed (one zstd
 * stream for the file; a record may continue in the next compressed record)
 * and walked like the file's, sorted with them; "decompressed record at
 * offset N" then counts in the decompressed data.  Refused with -ENOTSUP and
 * a reason, so that the caller can fall back to perf script: compressed
 * records when built without libzstd or of another compression than zstd,
 * and AUXTRACE.  Corrupt zstd data is -EINVAL; more than 256 times the file's
 * size (at most 16 GiB) of decompressed data is -EFBIG.  Every record's
 * header is checked (and those refused) before the first handler is called;
 * a body is decoded as it is delivered, so a malformed one may stop a walk
 * that has begun. */
int pt_perf_data_each(struct pt_perf_data *pd, const struct pt_perf_handlers *h,
                      void *ctx, char *err, size_t err_size);

/* Counts from the last walk: records skipped (types not decoded, unknown
 * ids); samples lost, as PERF_RECORD_LOST says (PERF_RECORD_LOST_SAMPLES,
 * which perf record adds at the end with the kernel's count of the same
 * losses, is skipped). */
uint64_t pt_perf_data_skipped(const struct pt_perf_data *pd);
uint64_t pt_perf_data_lost(const struct pt_perf_data *pd);

/* The events of the file, in the attrs section's order, and the name of one
 * ("" when HEADER_EVENT_DESC gave none; NULL past the end). */
size_t pt_perf_data_events(const struct pt_perf_data *pd);
const char *pt_perf_data_event_name(const struct pt_perf_data *pd, size_t i);

/* The little-endian u64 at p[8*i], without an unaligned access. */
static inline uint64_t
pt_perf_u64(const uint8_t *p, uint64_t i)
{
    uint64_t v;
    memcpy(&v, p + 8 * i, 8);
    return v;
}

#endif
