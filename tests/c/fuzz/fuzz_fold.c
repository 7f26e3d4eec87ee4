/* The folder: any perf script output, fed in pieces whose sizes come from
 * the input, must fold without a fault, count every sample once in each
 * view, and give stacks that stay one line with no control bytes. */
#include "fold.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t total;

static void
check(void *ctx, const struct pt_fold_stack *s)
{
    (void)ctx;
    for (size_t i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)s->stack[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            abort();
        }
    }
    if (memchr(s->event, '\n', s->event_len) != NULL || s->count == 0) {
        abort();
    }
    total += s->count;
}

static void
check_frame(void *ctx, const char *name, size_t len, const char *dso, size_t dso_len,
            uint64_t address)
{
    (void)ctx;
    (void)address;
    if (memchr(name, '\n', len) != NULL || memchr(dso, '\n', dso_len) != NULL) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    /* the input's first byte also asks for the frames table, a time window
     * (a second from the first sample on) and off-CPU waits */
    struct pt_fold_options opt = {.max_stack = data[0] % 8,
                                  .frames = (data[0] >> 3) & 1,
                                  .start_ns = (data[0] & 0x10) ? 1000000000u : 0,
                                  .end_ns = (data[0] & 0x20) ? 2000000000u : 0,
                                  .offcpu = (data[0] >> 6) & 1};
    size_t piece = 1 + data[1] % 64;
    data += 2;
    size -= 2;
    struct pt_fold *fold = NULL;
    if (pt_fold_new(&fold, &opt) != 0) {
        abort();
    }
    for (size_t at = 0; at < size; at += piece) {
        size_t n = size - at < piece ? size - at : piece;
        if (pt_fold_feed(fold, (const char *)data + at, n) != 0) {
            abort();
        }
    }
    if (pt_fold_finish(fold) != 0) {
        abort();
    }
    for (int view = PT_FOLD_DEFAULT; view <= PT_FOLD_INTERNAL; view++) {
        total = 0;
        pt_fold_each(fold, (enum pt_fold_view)view, check, NULL);
        if (total != pt_fold_samples(fold)) {
            abort();
        }
    }
    pt_fold_each_frame(fold, check_frame, NULL);
    if (pt_fold_truncated(fold) > pt_fold_samples(fold)) {
        abort();
    }
    pt_fold_free(fold);
    return 0;
}
