/*
 * A minimal test harness: CHECK records a failure and goes on, so one run
 * reports every broken expectation; TEST_REPORT prints the closing line and
 * gives the exit status.
 */
#ifndef PERFTRAMP_TESTHELP_H
#define PERFTRAMP_TESTHELP_H

#include <stdio.h>

static int test_passed;
static int test_failed;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (cond) {                                                                      \
            test_passed++;                                                               \
        }                                                                                \
        else {                                                                           \
            test_failed++;                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
        }                                                                                \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                               \
    do {                                                                                 \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                  \
        if (check_a_ == check_b_) {                                                      \
            test_passed++;                                                               \
        }                                                                                \
        else {                                                                           \
            test_failed++;                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__,  \
                    __LINE__, #a, #b, check_a_, check_b_);                               \
        }                                                                                \
    } while (0)

#define TEST_REPORT(name)                                                                \
    (printf("%s: %d passed, %d failed\n", (name), test_passed, test_failed),             \
     test_failed == 0 && test_passed > 0 ? 0 : 1)

#endif
