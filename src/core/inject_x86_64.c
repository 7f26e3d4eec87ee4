/*
 * inject_arch.h on x86_64: the general registers (PTRACE_GETREGS) and the
 * whole XSAVE area (NT_X86_XSTATE; the kernel takes it back only at its
 * full size, which on a CPU with AMX is over 8 KiB: this asks the kernel,
 * where gdb 13 assumes a smaller one and fails), or the FXSAVE area where
 * the CPU has no XSAVE.
 */
#include "inject_arch.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>

/* Larger than any XSAVE layout so far (AMX makes it ~11 KiB). */
#define XSTATE_MAX (64 * 1024)
/* Below the interrupted frame's 128-byte red zone, with room to spare. */
#define CALL_STACK_GAP 512
#define X86_EFLAGS_TF 0x100ULL
#define X86_EFLAGS_DF 0x400ULL
#define X86_EFLAGS_AC 0x40000ULL

struct pt_arch_state {
    struct user_regs_struct regs;
    int have_xstate; /* else fpregs */
    struct user_fpregs_struct fpregs;
    size_t xstate_len;
    unsigned char xstate[];
};

struct pt_arch_state *
pt_arch_save(pid_t tid)
{
    struct pt_arch_state *state = calloc(1, sizeof *state + XSTATE_MAX);
    if (state == NULL) {
        return NULL;
    }
    if (ptrace(PTRACE_GETREGS, tid, 0, &state->regs) < 0) {
        goto fail;
    }
    struct iovec iov = {state->xstate, XSTATE_MAX};
    if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) == 0) {
        state->have_xstate = 1;
        state->xstate_len = iov.iov_len;
        return state;
    }
    if (ptrace(PTRACE_GETFPREGS, tid, 0, &state->fpregs) == 0) {
        return state;
    }
fail:
    free(state);
    return NULL;
}

int
pt_arch_restore(pid_t tid, const struct pt_arch_state *state)
{
    /* the general registers first: whatever fails after, the thread goes
     * on where it was, not in a call */
    int rc = ptrace(PTRACE_SETREGS, tid, 0, &state->regs) < 0 ? -1 : 0;
    int err = errno;
    if (state->have_xstate) {
        struct iovec iov = {(void *)state->xstate, state->xstate_len};
        if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0 && rc == 0) {
            rc = -1;
            err = errno;
        }
    }
    else if (ptrace(PTRACE_SETFPREGS, tid, 0, &state->fpregs) < 0 && rc == 0) {
        rc = -1;
        err = errno;
    }
    errno = err;
    return rc;
}

void
pt_arch_free(struct pt_arch_state *state)
{
    free(state);
}

/* Where prepare_call puts the return address. */
static unsigned long long
call_rsp(const struct pt_arch_state *state)
{
    return ((state->regs.rsp - CALL_STACK_GAP) & ~15ULL) - 8;
}

int
pt_arch_prepare_call(pid_t tid, const struct pt_arch_state *state, uint64_t fn,
                     const uint64_t *args, int nargs)
{
    if (nargs > 6) {
        errno = EINVAL;
        return -1;
    }
    struct user_regs_struct regs = state->regs;
    unsigned long long *arg_regs[6] = {&regs.rdi, &regs.rsi, &regs.rdx,
                                       &regs.rcx, &regs.r8,  &regs.r9};
    for (int i = 0; i < nargs; i++) {
        *arg_regs[i] = args[i];
    }
    /* as after a call instruction: rsp + 8 is 16-byte aligned */
    regs.rsp = call_rsp(state);
    if (ptrace(PTRACE_POKEDATA, tid, (void *)(uintptr_t)regs.rsp, (void *)0) < 0) {
        return -1;
    }
    regs.rip = fn;
    regs.rax = 0;          /* no vector arguments (varargs convention) */
    regs.orig_rax = -1ULL; /* not in a system call: nothing to restart */
    /* the ABI's state at a call: no string ops backwards, no single-step
     * or alignment traps the interrupted code may have had on */
    regs.eflags &= ~(X86_EFLAGS_DF | X86_EFLAGS_TF | X86_EFLAGS_AC);
    return ptrace(PTRACE_SETREGS, tid, 0, &regs) < 0 ? -1 : 0;
}

int
pt_arch_returned(pid_t tid, const struct pt_arch_state *state, uint64_t *value)
{
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid, 0, &regs) < 0) {
        return -1;
    }
    *value = regs.rax;
    /* returned from our frame: its return address popped */
    return regs.rip == 0 && regs.rsp == call_rsp(state) + 8;
}
