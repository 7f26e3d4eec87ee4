/*
 * Making a function name safe for a line-oriented file.
 *
 * perf reads a map as one entry per line and takes everything after the size
 * as the name.  Python lets a file name or a qualified name hold any
 * character, so a newline in `compile(src, "x\n7fff00000000 10 evil", ...)`
 * would otherwise add an entry of the attacker's choosing.  Control bytes
 * (0x00-0x1f, 0x7f) become \xNN and the backslash itself becomes \\, so the
 * escaped text is one line and maps back to exactly one original.
 */
#ifndef PERFTRAMP_CORE_ESCAPE_H
#define PERFTRAMP_CORE_ESCAPE_H

#include <stddef.h>

/* Writes the escaped form of in[0..len) to out (at most cap bytes, no NUL
 * added) and returns the escaped length; when that exceeds cap, the output is
 * incomplete and the caller retries with a buffer that large.  The escaped
 * form is never longer than PT_ESCAPED_MAX(len). */
#define PT_ESCAPED_MAX(len) (4 * (len))
size_t pt_escape_name(const char *in, size_t len, char *out, size_t cap);

#endif
