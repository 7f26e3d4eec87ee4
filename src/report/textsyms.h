/*
 * Symbol tables that come as text: a perf map (/tmp/perf-PID.map, one
 * "START SIZE NAME" line per JIT function, numbers in hexadecimal) and the
 * kernel's /proc/kallsyms ("ADDRESS TYPE NAME [MODULE]").
 *
 * perf names a sample in an anonymous executable mapping from the perf map
 * of its process, and a kernel address from kallsyms; the own reader
 * (readout.h) must name them the same way.  A perf map holds each entry's
 * size; a kallsyms symbol ends where the next one starts, as perf's
 * symbols__fixup_end makes it.
 *
 * Both files may come from someone else: lines that are not entries are
 * skipped, names are kept as they are (at most PT_TEXTSYMS_NAME_MAX bytes),
 * and a file over PT_TEXTSYMS_FILE_MAX bytes is refused.
 */
#ifndef PERFTRAMP_REPORT_TEXTSYMS_H
#define PERFTRAMP_REPORT_TEXTSYMS_H

#include <stddef.h>
#include <stdint.h>

#define PT_TEXTSYMS_NAME_MAX 4096
#define PT_TEXTSYMS_FILE_MAX ((size_t)1 << 30)

struct pt_textsyms;

/* Reads a perf map from text[0..len). 0 or -ENOMEM. */
int pt_textsyms_from_perf_map(struct pt_textsyms **out, const char *text, size_t len);
/* Reads kallsyms text: its function symbols (types t/T/w/W), each ending
 * where the next symbol starts. 0 or -ENOMEM. */
int pt_textsyms_from_kallsyms(struct pt_textsyms **out, const char *text, size_t len);
/* Reads a whole file (regular, at most PT_TEXTSYMS_FILE_MAX bytes) with one
 * of the two readers above. 0 or a negative errno. */
int pt_textsyms_load(struct pt_textsyms **out, const char *path,
                     int (*reader)(struct pt_textsyms **, const char *, size_t));
void pt_textsyms_free(struct pt_textsyms *syms);

/* The entry covering addr: 0 with its name (not NUL-terminated), its
 * start, and for kallsyms the module it belongs to (module_len 0 for the
 * kernel image); -ENOENT when none does. */
struct pt_textsym {
    const char *name, *module;
    size_t name_len, module_len;
    uint64_t start;
};
int pt_textsyms_find(const struct pt_textsyms *syms, uint64_t addr,
                     struct pt_textsym *out);

#endif
