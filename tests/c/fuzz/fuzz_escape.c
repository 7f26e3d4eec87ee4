/* The name escaper: any bytes in, one line out that maps back to exactly
 * the input; never longer than PT_ESCAPED_MAX; a short buffer gets a prefix
 * of the same text and the same length answer. */
#include "escape.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t
unescape(const char *in, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (in[i] != '\\') {
            out[n++] = in[i++];
        }
        else if (in[i + 1] == '\\') {
            out[n++] = '\\';
            i += 2;
        }
        else {
            char hex[3] = {in[i + 2], in[i + 3], 0};
            out[n++] = (char)strtoul(hex, NULL, 16);
            i += 4;
        }
    }
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t max = PT_ESCAPED_MAX(size);
    char *out = malloc(max + 1);
    char *back = malloc(size + 1);
    size_t len = pt_escape_name(in, size, out, max);
    if (len > max || pt_escape_name(in, size, NULL, 0) != len) {
        abort();
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c < 0x20 || c == 0x7f) {
            abort(); /* a control byte would break a line-based format */
        }
    }
    if (unescape(out, len, back) != size || memcmp(back, in, size) != 0) {
        abort();
    }
    if (len > 0) {
        size_t cap = size % len;
        char *part = malloc(cap + 1);
        if (pt_escape_name(in, size, part, cap) != len || memcmp(part, out, cap) != 0) {
            abort();
        }
        free(part);
    }
    free(out);
    free(back);
    return 0;
}
