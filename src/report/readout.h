/*
 * The own reader of a recording: perf.data read and its samples unwound
 * here, without perf script (perfdata.h, addrspace.h, elffile.h,
 * ehframe.h, textsyms.h), the result handed to the folder (fold.h) in the
 * text perf script would have printed for `-F comm,pid,tid,time,period,
 * event,ip,sym,symoff,dso`, so that both readers fold by the same rules.
 *
 * Frames are named as perf names them: a file's function from its ELF
 * symbols, an anonymous executable mapping's from the process's perf map
 * (/tmp/perf-PID.map), the vDSO from this machine's, the kernel's from
 * kallsyms.  A DWARF recording (--call-graph dwarf) is unwound from each
 * sample's registers and stack copy by the objects' CFI (.eh_frame), each
 * return address looked up one byte back, in its call; a frame-pointer one
 * (-g) takes the user part of its callchain as it is.  The walk stops,
 * as perf's does, at a frame no CFI covers, at the end of the copy, or at
 * max_stack frames (then the folder counts the sample as cut).
 *
 * What it does not read yet (compressed data, off-CPU switch events,
 * aarch64 registers) gives -ENOTSUP with the reason: the caller folds with
 * perf script instead and says so.
 */
#ifndef PERFTRAMP_REPORT_READOUT_H
#define PERFTRAMP_REPORT_READOUT_H

#include "fold.h"

#include <stddef.h>
#include <stdint.h>

struct pt_readout_options {
    /* A recording's own build-id cache (DIR/.build-id/xx/rest), or NULL:
     * an object with a build-id found there is read from there. */
    const char *build_id_dir;
    /* Where perf maps are: "/tmp" when NULL. */
    const char *perf_map_dir;
    /* The kernel's symbols: "/proc/kallsyms" when NULL, "" for none. */
    const char *kallsyms;
    /* Frames at most per sample (perf script's --max-stack); 0: 8192. */
    size_t max_stack;
    /* Name PLT entries as perf before 6.3 does (elffile.h). */
    int legacy_plt;
    /* List inlined functions as perf 7.x does (through libdw): at the
     * addresses of frame-pointer callchains too, and the function they are
     * inlined into named by its ELF symbol.  perf 6.1 (addr2line) lists
     * them at DWARF-unwound frames only, every name as DWARF has it. */
    int libdw_inlines;
    /* Where separate debug files are by build-id (DIR/.build-id/xx/rest.debug):
     * "/usr/lib/debug" when NULL, "" for none. */
    const char *debug_dir;
};

struct pt_readout_stats {
    uint64_t samples, frames, objects_missing, no_cfi_stops, copy_end_stops;
};

/* Folds the perf.data at path into fold. 0; -ENOTSUP with the reason in err
 * when it holds what this reader does not read; another negative errno. */
int pt_readout_fold(const char *path, const struct pt_readout_options *options,
                    struct pt_fold *fold, struct pt_readout_stats *stats, char *err,
                    size_t err_size);

#endif
