/*
 * The only pointer to a block is in a callee-saved register (%r15) of a
 * thread other than main, parked in a system call: the block is still
 * reachable, found only by scanning that thread's registers. A block the
 * same thread dropped is definitely lost.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reach_support.h"

#if !defined(__x86_64__)
#error "thread_register.c parks a pointer in %r15: x86-64 only"
#endif

/*
 * hold_in_r15(hidden, fd): puts hidden ^ REACH_HIDE_KEY in %r15, writes
 * one byte to fd, clears every other general-purpose register but %rsp
 * and waits in pause() forever, without a C frame that could spill %r15.
 */
void hold_in_r15(uint64_t hidden, int fd) __attribute__((noreturn));
__asm__(".text\n"
        ".globl hold_in_r15\n"
        ".type hold_in_r15, @function\n"
        "hold_in_r15:\n"
        "  movabs $0x5a5a5a5a5a5a5a5a, %r15\n"
        "  xor %rdi, %r15\n"
        "  sub $16, %rsp\n"
        "  movq $0x70, (%rsp)\n"
        "  mov %esi, %edi\n"
        "  mov %rsp, %rsi\n"
        "  mov $1, %edx\n"
        "  mov $1, %eax\n" /* write */
        "  syscall\n"
        "  xor %eax, %eax\n"
        "  xor %ebx, %ebx\n"
        "  xor %ecx, %ecx\n"
        "  xor %edx, %edx\n"
        "  xor %esi, %esi\n"
        "  xor %edi, %edi\n"
        "  xor %ebp, %ebp\n"
        "  xor %r8d, %r8d\n"
        "  xor %r9d, %r9d\n"
        "  xor %r10d, %r10d\n"
        "  xor %r11d, %r11d\n"
        "  xor %r12d, %r12d\n"
        "  xor %r13d, %r13d\n"
        "  xor %r14d, %r14d\n"
        "1:\n"
        "  mov $34, %eax\n" /* pause */
        "  syscall\n"
        "  jmp 1b\n"
        ".size hold_in_r15, .-hold_in_r15\n");

KEEP_FRAME static uint64_t make_hidden(void) {
    char *p = malloc(100); /* REACH: still_reachable blocks=1 bytes=100 */
    reach_fill(p, 0x11, 100);
    return (uint64_t)(uintptr_t)p ^ REACH_HIDE_KEY;
}

KEEP_FRAME static void drop_one(void) {
    char *p = malloc(37); /* REACH: definitely_lost blocks=1 bytes=37 */
    reach_fill(p, 0x22, 37);
}

static void *holder(void *arg) {
    (void)arg;
    drop_one();
    uint64_t hidden = make_hidden();
    reach_wipe_stack();
    hold_in_r15(hidden, reach_parked[1]);
}

int main(int argc, char **argv) {
    pthread_t t;
    reach_init_parking();
    if (pthread_create(&t, NULL, holder, NULL) != 0)
        return 1;
    reach_wait_parked(1);
    return reach_finish(argc, argv);
}
