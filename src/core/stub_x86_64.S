/*
 * x86_64 System V: a = rdi, b = rsi, c = rdx, target = rcx.
 * push/mov makes the frame-pointer frame; it also realigns the stack to
 * 16 bytes for the call, since our return address left it 8 off.
 */
    .text
    .globl perftramp_stub_start
    .globl perftramp_stub_end
    .type perftramp_stub_start, @function
    .p2align 4
perftramp_stub_start:
    push %rbp
    mov %rsp, %rbp
    call *%rcx
    pop %rbp
    ret
perftramp_stub_end:
    .size perftramp_stub_start, perftramp_stub_end - perftramp_stub_start
    .section .note.GNU-stack, "", @progbits
