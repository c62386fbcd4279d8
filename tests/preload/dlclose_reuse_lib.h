/*
 * The two libraries of dlclose_reuse, A and B, from one template: lib_alloc(n)
 * returns malloc(n), its call to malloc at the same offset in both, in frames
 * of different sizes. A keeps 8 bytes (CFA = %rsp + 16: the return address at
 * 8(%rsp) at the call); B keeps 40 (CFA = %rsp + 48) and stores zero at
 * 8(%rsp), where A's rule would look for the return address. A rule learnt in
 * A and applied in B ends the stack at lib_alloc. Assembly, so that the
 * offsets are the same whatever the compiler does.
 *
 * Exported besides lib_alloc: lib_malloc_return (the return address of the
 * call to malloc) and lib_caller_return (lib_alloc's own return address, as of
 * its last call).
 */
#ifndef DLCLOSE_REUSE_LIB_H
#define DLCLOSE_REUSE_LIB_H

#define DLCLOSE_REUSE_STR2(x) #x
#define DLCLOSE_REUSE_STR(x) DLCLOSE_REUSE_STR2(x)

/* FRAME: bytes lib_alloc reserves; BEFORE_CALL: 9 bytes of code before the call. */
#define DLCLOSE_REUSE_LIBRARY(FRAME, BEFORE_CALL) \
    __asm__(".text\n"                                                          \
            ".balign 64\n"                                                     \
            ".globl lib_alloc\n"                                               \
            ".type lib_alloc, @function\n"                                     \
            "lib_alloc:\n"                                                     \
            ".cfi_startproc\n"                                                 \
            "    movq (%rsp), %rax\n"                                          \
            "    movq %rax, .Lcaller_return(%rip)\n"                           \
            "    subq $" DLCLOSE_REUSE_STR(FRAME) ", %rsp\n"                   \
            ".cfi_def_cfa_offset " DLCLOSE_REUSE_STR(FRAME) " + 8\n"           \
            BEFORE_CALL                                                        \
            "    call malloc@PLT\n"                                            \
            ".Lmalloc_return:\n"                                               \
            "    addq $" DLCLOSE_REUSE_STR(FRAME) ", %rsp\n"                   \
            ".cfi_def_cfa_offset 8\n"                                          \
            "    ret\n"                                                        \
            ".cfi_endproc\n"                                                   \
            ".size lib_alloc, .-lib_alloc\n"                                   \
            ".section .data.rel.ro,\"aw\"\n"                                   \
            ".balign 8\n"                                                      \
            ".globl lib_malloc_return\n"                                       \
            ".type lib_malloc_return, @object\n"                               \
            "lib_malloc_return:\n"                                             \
            "    .quad .Lmalloc_return\n"                                      \
            ".size lib_malloc_return, 8\n"                                     \
            ".bss\n"                                                           \
            ".balign 8\n"                                                      \
            ".globl lib_caller_return\n"                                       \
            ".type lib_caller_return, @object\n"                               \
            "lib_caller_return:\n"                                             \
            ".Lcaller_return:\n"                                               \
            "    .zero 8\n"                                                    \
            ".size lib_caller_return, 8\n"                                     \
            ".text\n")

#endif
