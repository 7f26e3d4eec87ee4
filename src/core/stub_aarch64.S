/*
 * AAPCS64: a = x0, b = x1, c = x2, target = x3.
 * The frame record (x29, x30) is what frame-pointer unwinders follow; it must
 * also keep x30 alive across the blr, which overwrites it.
 */
    .text
    .globl perftramp_stub_start
    .globl perftramp_stub_end
    .type perftramp_stub_start, %function
    .p2align 4
perftramp_stub_start:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    blr x3
    ldp x29, x30, [sp], #16
    ret
perftramp_stub_end:
    .size perftramp_stub_start, perftramp_stub_end - perftramp_stub_start
    .section .note.GNU-stack, "", %progbits
