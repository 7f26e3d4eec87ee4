#include "escape.h"

#include <string.h>

static int
needs_escape(unsigned char c)
{
    return c < 0x20 || c == 0x7f || c == '\\';
}

size_t
pt_escape_name(const char *in, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    size_t i = 0;
    while (i < len) {
        /* Copy the run of bytes that need nothing, the common case. */
        size_t run = i;
        while (run < len && !needs_escape((unsigned char)in[run])) {
            run++;
        }
        if (run > i) {
            if (n + (run - i) <= cap) {
                memcpy(out + n, in + i, run - i);
            }
            else if (n < cap) {
                memcpy(out + n, in + i, cap - n);
            }
            n += run - i;
            i = run;
            continue;
        }
        unsigned char c = (unsigned char)in[i++];
        char seq[4] = {'\\', '\\', 0, 0};
        size_t seq_len = 2;
        if (c != '\\') {
            seq[1] = 'x';
            seq[2] = hex[c >> 4];
            seq[3] = hex[c & 0xf];
            seq_len = 4;
        }
        for (size_t k = 0; k < seq_len; k++, n++) {
            if (n < cap) {
                out[n] = seq[k];
            }
        }
    }
    return n;
}
