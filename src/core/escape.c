#include "escape.h"

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
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        char seq[4];
        size_t seq_len;
        if (!needs_escape(c)) {
            seq[0] = (char)c;
            seq_len = 1;
        }
        else if (c == '\\') {
            seq[0] = '\\';
            seq[1] = '\\';
            seq_len = 2;
        }
        else {
            seq[0] = '\\';
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
