/* Escaped names are single lines, and escaping is reversible. */
#include "escape.h"
#include "testhelp.h"

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

    return TEST_REPORT("test_escape");
}
