/* Symbols from text: a perf map's entries with their sizes, and kallsyms'
 * functions ending at the next symbol, with their modules; lines that are
 * not entries are skipped, and the real /proc/kallsyms reads. */
#include "testhelp.h"
#include "textsyms.h"

#include <errno.h>
#include <string.h>

static int
named(const struct pt_textsyms *s, uint64_t addr, const char *name)
{
    struct pt_textsym sym;
    return pt_textsyms_find(s, addr, &sym) == 0 && sym.name_len == strlen(name) &&
           memcmp(sym.name, name, sym.name_len) == 0;
}

static void
test_perf_map(void)
{
    static const char text[] = "7f0000001000 10 py::f:/a.py\n"
                               "garbage line\n"
                               "0x7f0000000000 20 py::g:/b.py with space\r\n"
                               "7f0000002000 0 zero sized\n"
                               "7f0000003000 8 py::last:/c.py";
    struct pt_textsyms *s;
    CHECK_EQ_INT(pt_textsyms_from_perf_map(&s, text, strlen(text)), 0);
    CHECK(named(s, 0x7f0000000000, "py::g:/b.py with space"));
    CHECK(named(s, 0x7f000000001f, "py::g:/b.py with space"));
    CHECK(!named(s, 0x7f0000000020, "py::g:/b.py with space"));
    CHECK(named(s, 0x7f0000001008, "py::f:/a.py"));
    CHECK(named(s, 0x7f0000003007, "py::last:/c.py"));
    struct pt_textsym sym;
    CHECK_EQ_INT(pt_textsyms_find(s, 0x7f0000002000, &sym), -ENOENT);
    CHECK_EQ_INT(pt_textsyms_find(s, 0x1000, &sym), -ENOENT);
    pt_textsyms_free(s);
}

static void
test_kallsyms(void)
{
    static const char text[] = "ffffffff81000000 T _stext\n"
                               "ffffffff81000100 t helper\n"
                               "ffffffff81000200 A absolute_skipped\n"
                               "ffffffff81000300 D some_data\n"
                               "ffffffffc0000000 t xfs_thing\t[xfs]\n";
    struct pt_textsyms *s;
    CHECK_EQ_INT(pt_textsyms_from_kallsyms(&s, text, strlen(text)), 0);
    CHECK(named(s, 0xffffffff81000000, "_stext"));
    CHECK(named(s, 0xffffffff810000ff, "_stext"));
    /* the absolute symbol is no end: helper runs to some_data */
    CHECK(named(s, 0xffffffff810002ff, "helper"));
    struct pt_textsym sym;
    CHECK_EQ_INT(pt_textsyms_find(s, 0xffffffffc0000010, &sym), 0);
    CHECK(sym.module_len == 3 && memcmp(sym.module, "xfs", 3) == 0);
    CHECK_EQ_INT(pt_textsyms_find(s, 0xffffffff81000000, &sym), 0);
    CHECK_EQ_INT(sym.module_len, 0);
    pt_textsyms_free(s);
}

static void
test_real_kallsyms(void)
{
    struct pt_textsyms *s;
    int rc = pt_textsyms_load(&s, "/proc/kallsyms", pt_textsyms_from_kallsyms);
    if (rc != 0) {
        printf("SKIPPED the real kallsyms: cannot read /proc/kallsyms (%d)\n", rc);
        return;
    }
    pt_textsyms_free(s);
    CHECK_EQ_INT(pt_textsyms_load(&s, "/nonexistent/kallsyms", pt_textsyms_from_kallsyms),
                 -ENOENT);
    CHECK_EQ_INT(pt_textsyms_load(&s, "/proc", pt_textsyms_from_kallsyms), -EINVAL);
}

int
main(void)
{
    test_perf_map();
    test_kallsyms();
    test_real_kallsyms();
    return TEST_REPORT("test_textsyms");
}
