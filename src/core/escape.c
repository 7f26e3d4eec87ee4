#include "escape.h"

#include <stdint.h>
#include <string.h>

static int
needs_escape(unsigned char c)
{
    return c < 0x20 || c == 0x7f || c == '\\';
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Whether any byte of w is below 0x20, 0x7f or a backslash.  The classic
 * "has a byte below n" test, ((w - n*ONES) & ~w & HIGHS), may flag a byte
 * just after one that borrowed, but only after a true hit, so it is exact
 * as a yes/no for the word. */
static int
word_needs_escape(uint64_t w)
{
    uint64_t del = w ^ (0x7f * ONES), bs = w ^ ('\\' * ONES);
    uint64_t hits =
        ((w - 0x20 * ONES) & ~w) | ((del - ONES) & ~del) | ((bs - ONES) & ~bs);
    return (hits & HIGHS) != 0;
}

/* Whether in[0..len) needs no escape, the common case by far: eight bytes
 * at a time.  The last few bytes are read as the word that ends the text
 * (overlapping the one before), or for a text under eight bytes ("py::", a
 * one-letter function) put into a word in registers, padded with a byte
 * that needs none: copied into a word in memory instead, they would make
 * the load that follows wait for the stores to land (a store-forwarding
 * stall), on every first call's path. */
static int
is_clean(const char *in, size_t len)
{
    uint64_t w;
    if (len < 8) {
        w = 'a' * ONES;
        for (size_t k = 0; k < len; k++) {
            w ^= (uint64_t)((unsigned char)in[k] ^ 'a') << (8 * k);
        }
        return !word_needs_escape(w);
    }
    for (size_t i = 0; i + 8 < len; i += 8) {
        memcpy(&w, in + i, 8);
        if (word_needs_escape(w)) {
            return 0;
        }
    }
    memcpy(&w, in + len - 8, 8);
    return !word_needs_escape(w);
}

size_t
pt_escape_name(const char *in, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    if (len == 0) {
        return 0; /* in and out may be NULL: memcpy must not see them */
    }
    if (len <= cap && is_clean(in, len)) {
        memcpy(out, in, len);
        return len;
    }
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
