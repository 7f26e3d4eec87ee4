/* The perf.data reader: any bytes must open and walk without a fault, and
 * every pointer a handler gets must lie inside the input, or (records of
 * compressed ones, built with -DPT_HAVE_ZSTD=1) inside the reader's
 * decompressed copy, which it trims to its length; the handlers read each
 * to its last byte so that ASan sees any that does not.  The input is tried
 * as it is and with the magic forced to "PERFILE2", so the fuzzer spends its
 * time past the first eight bytes. */
#include "perfdata.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t *input;
static size_t input_len;
static uint64_t sum;

static void
touch(const void *p, uint64_t n)
{
    const uint8_t *bytes = p;
    if (n == 0) {
        return;
    }
    int in_input = bytes >= input && bytes - input <= (ptrdiff_t)input_len;
    if (in_input && (n > input_len || (size_t)(bytes - input) > input_len - n)) {
        abort();
    }
    for (uint64_t i = 0; i < n; i++) {
        sum += bytes[i];
    }
}

static void
touch_string(const char *s)
{
    touch(s, strlen(s) + 1);
}

static int
on_sample(void *ctx, const struct pt_perf_sample *s)
{
    (void)ctx;
    sum += strlen(s->event);
    touch(s->callchain, 8 * s->callchain_nr);
    for (uint64_t i = 0; i < s->callchain_nr; i++) {
        sum += pt_perf_u64(s->callchain, i);
    }
    if (s->regs_abi == 0 && s->regs_nr != 0) {
        abort();
    }
    touch(s->regs, 8 * (uint64_t)s->regs_nr);
    touch(s->stack, s->stack_size);
    return 0;
}

static int
on_mmap(void *ctx, const struct pt_perf_mmap *m)
{
    (void)ctx;
    if (m->build_id_size > 20) {
        abort();
    }
    touch(m->build_id, m->build_id_size);
    touch_string(m->filename);
    return 0;
}

static int
on_comm(void *ctx, const struct pt_perf_comm *c)
{
    (void)ctx;
    touch_string(c->comm);
    return 0;
}

static int
on_task(void *ctx, const struct pt_perf_task *t)
{
    (void)ctx;
    sum += t->pid + t->time;
    return 0;
}

static void
open_and_walk(const uint8_t *data, size_t size)
{
    static const struct pt_perf_handlers h = {on_sample, on_mmap, on_comm, on_task};
    struct pt_perf_data *pd = NULL;
    char err[128];
    input = data;
    input_len = size;
    if (pt_perf_data_open(&pd, data, size, err, sizeof err) != 0) {
        if (pd != NULL) {
            abort();
        }
        return;
    }
    for (size_t i = 0; i < pt_perf_data_events(pd); i++) {
        sum += strlen(pt_perf_data_event_name(pd, i));
    }
    pt_perf_data_each(pd, &h, NULL, err, sizeof err);
    pt_perf_data_free(pd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    open_and_walk(data, size);
    if (size >= 8 && memcmp(data, "PERFILE2", 8) != 0) {
        uint8_t *copy = malloc(size);
        if (copy == NULL) {
            return 0;
        }
        memcpy(copy, data, size);
        memcpy(copy, "PERFILE2", 8);
        open_and_walk(copy, size);
        free(copy);
    }
    return 0;
}
