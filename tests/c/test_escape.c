/* Escaped names are single lines, and escaping is reversible. */
#include "escape.h"
#include "testhelp.h"

#include <stdio.h>
#include <string.h>

static int
escapes_to(const char *in, size_t len, const char *want)
{
    char out[256];
    size_t n = pt_escape_name(in, len, out, sizeof(out));
    return n == strlen(want) && memcmp(out, want, n) == 0;
}

int
main(void)
{
    CHECK(escapes_to("py::foo:/app.py", 15, "py::foo:/app.py"));
    CHECK(escapes_to("a\nb", 3, "a\\x0ab"));
    CHECK(escapes_to("x\n7fff00000000 10 py::forged:f", 30,
                     "x\\x0a7fff00000000 10 py::forged:f"));
    CHECK(escapes_to("tab\there\r", 9, "tab\\x09here\\x0d"));
    CHECK(escapes_to("nul\0byte", 8, "nul\\x00byte"));
    CHECK(escapes_to("del\x7f", 4, "del\\x7f"));
    CHECK(escapes_to("back\\slash", 10, "back\\\\slash"));
    /* UTF-8 and spaces pass through untouched. */
    CHECK(escapes_to("caf\xc3\xa9 name", 10, "caf\xc3\xa9 name"));
    CHECK(escapes_to("", 0, ""));

    /* A short buffer: the return says how much room is needed, and nothing is
     * written past cap. */
    char small[4] = {'#', '#', '#', '#'};
    size_t need = pt_escape_name("\n\n", 2, small, 3);
    CHECK_EQ_INT(need, 8);
    CHECK(small[3] == '#');

    /* Every byte value at every place of names of 1 to 24 bytes (the
     * eight-byte scan and the padded tail): escaped exactly when the rule
     * says, the rest copied. */
    for (int c = 0; c < 256; c++) {
        for (size_t len = 1; len <= 24; len++) {
            for (size_t at = 0; at < len; at++) {
                char in[24], want[32];
                memset(in, 'a', sizeof(in));
                in[at] = (char)c;
                memcpy(want, in, at);
                size_t w = at;
                if (c < 0x20 || c == 0x7f) {
                    w += (size_t)snprintf(want + w, 5, "\\x%02x", c);
                }
                else if (c == '\\') {
                    want[w++] = '\\';
                    want[w++] = '\\';
                }
                else {
                    want[w++] = (char)c;
                }
                memcpy(want + w, in + at + 1, len - at - 1);
                w += len - at - 1;
                char out[128];
                size_t n = pt_escape_name(in, len, out, sizeof(out));
                if (n != w || memcmp(out, want, n) != 0) {
                    CHECK(!"byte escaped wrongly");
                    c = 256;
                    break;
                }
            }
        }
    }

    return TEST_REPORT("test_escape");
}
