/* The perf map and jitdump writers fed names and sizes from the input, with
 * pauses (deactivation) and reopenings (exec) between them.  After closing,
 * the file must hold exactly the entries whose add succeeded, as its reader
 * sees them: one line each, no NUL byte (map); whole records to the end of
 * the file (dump).  Files go to a temporary directory, removed at exit.
 *
 * Input: byte 0 picks the writer; then operations, each a byte:
 *   low 2 bits 0, 1: add a name of (next byte) * (1 + high bits) bytes,
 *                    taken cyclically from the input;
 *              2:    pause;  3: close and reopen. */
#include "jitdump.h"
#include "writer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PID 999999
static char dir[] = "/tmp/perftramp-fuzz-XXXXXX";
static unsigned char code[4096]; /* stands for stubs: a dump copies code */
static char name[64 * 256];

static void
remove_dir(void)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/perf-%d.map", dir, PID);
    unlink(path);
    snprintf(path, sizeof(path), "%s/jit-%d.dump", dir, PID);
    unlink(path);
    rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    atexit(remove_dir);
    return 0;
}

static int
keep_none(void *ctx, uintptr_t addr)
{
    (void)ctx;
    (void)addr;
    return 0;
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        abort();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        abort();
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static size_t
count_entries(const struct pt_writer_ops *w, const char *path)
{
    size_t len, n = 0;
    char *buf = slurp(path, &len);
    if (w == &pt_perfmap_writer) {
        if (memchr(buf, '\0', len) != NULL || (len > 0 && buf[len - 1] != '\n')) {
            abort();
        }
        for (size_t i = 0; i < len; i++) {
            n += buf[i] == '\n';
        }
    }
    else {
        size_t pos = sizeof(struct pt_jitdump_header);
        while (pos < len) {
            struct pt_jitdump_record head;
            if (len - pos < sizeof(head)) {
                abort();
            }
            memcpy(&head, buf + pos, sizeof(head));
            if (head.total_size < sizeof(head) || head.total_size > len - pos) {
                abort();
            }
            n += head.id == PT_JIT_CODE_LOAD;
            pos += head.total_size;
        }
    }
    free(buf);
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const struct pt_writer_ops *w = data[0] & 1 ? &pt_jitdump_writer : &pt_perfmap_writer;
    char path[256];
    const char *pattern = w == &pt_jitdump_writer ? "jit-%ld.dump" : "perf-%ld.map";
    snprintf(path, sizeof(path), "%s/", dir);
    snprintf(path + strlen(path), sizeof(path) - strlen(path), pattern, (long)PID);
    unlink(path);
    void *state = NULL;
    if (w->open(&state, dir, pattern, PID, keep_none, NULL) != 0) {
        abort();
    }
    size_t added = 0;
    for (size_t i = 1; i < size; i++) {
        unsigned op = data[i] & 3;
        if (op == 2) {
            w->pause(state);
        }
        else if (op == 3) {
            w->close(state);
            if (w->open(&state, dir, pattern, PID, keep_none, NULL) != 0) {
                abort();
            }
        }
        else {
            size_t repeat = 1 + (data[i] >> 2);
            size_t len = i + 1 < size ? data[++i] * repeat : 0;
            for (size_t k = 0; k < len; k++) {
                name[k] = (char)data[(i + k) % size];
            }
            struct pt_name n = pt_name_of(name, len);
            uintptr_t addr = (uintptr_t)code + (added % 64) * 32;
            if (w->add(state, addr, 32, &n) != 0) {
                abort();
            }
            added++;
        }
    }
    w->close(state);
    if (count_entries(w, path) != added) {
        abort();
    }
    unlink(path);
    return 0;
}
