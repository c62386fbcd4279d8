/*
 * What the reachability test programs share.
 *
 * Each program builds a heap whose blocks fall in known classes (marked in
 * the source with REACH: lines, see tests/reach/reach.py), then reaches a
 * stable point: every thread it started is parked, it writes "ready" to
 * stdout and waits for one line on stdin. gdb attaches or takes a core
 * there. Then it ends the way argv[1] says:
 *   exit   (default) main returns, with the other threads still parked,
 *          so an exit-time leak check (valgrind's, the runtime's) sees the
 *          same heap and the same roots;
 *   abort  abort(), for a core written by the kernel.
 *
 * Pointers that must not stay anywhere by accident are handled with care:
 * the work is done in out-of-line helpers whose frames are dead by the
 * time the program waits, and the dead stack below the waiting frames is
 * wiped, because a reachability scan takes the 128-byte red zone below the
 * stack pointer as live (valgrind does).
 */
#ifndef REACH_SUPPORT_H
#define REACH_SUPPORT_H

#include <stdint.h>
#include <stdlib.h>

#include "../../programs/test_program.h"

/* Helpers not every program calls. */
#define REACH_HELPER KEEP_FRAME __attribute__((unused))

/* Writes n bytes of c at p out of the compiler's sight, so it can neither
 * drop an allocation nobody reads nor fold malloc and memset into calloc:
 * each marked line must allocate exactly as written. */
REACH_HELPER static void reach_fill(void *p, int c, size_t n) { memset(p, c, n); }

/* Stores pointer p at base + offset, also out of sight: a store into a
 * block that is freed next is otherwise dead and may be dropped. The sum
 * is formed in the store's address only, so no register is left holding
 * an interior pointer into base. */
REACH_HELPER static void reach_store_ptr(void *base, size_t offset, const void *p) {
    memcpy((char *)base + offset, &p, sizeof p);
}

/* A pointer XORed with this is no address a scanner could take for one. */
#define REACH_HIDE_KEY UINT64_C(0x5a5a5a5a5a5a5a5a)

/* Zeroes the stack below the caller's frame, where dead frames of the
 * allocator and of the helpers still hold the pointers they handled. */
KEEP_FRAME static void reach_wipe_stack(void) {
    volatile char area[32768];
    for (size_t i = 0; i < sizeof area; i++)
        area[i] = 0;
}

/* A pipe the parked threads write one byte to once they hold their
 * pointers where they will keep them. */
static int reach_parked[2] = {-1, -1};

static inline void reach_init_parking(void) {
    if (pipe(reach_parked) != 0)
        abort();
}

static inline void reach_signal_parked(void) {
    char c = 'p';
    while (write(reach_parked[1], &c, 1) < 0 && errno == EINTR) {
    }
}

static inline void reach_wait_parked(int threads) {
    char c;
    while (threads > 0) {
        ssize_t r = read(reach_parked[0], &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            abort();
        threads--;
    }
}

/*
 * reach_park(hidden, fd): parks the calling thread for good, the process
 * ends around it. Puts hidden ^ REACH_HIDE_KEY in %r15, writes one byte to
 * fd, clears every other general-purpose register but %rsp and waits in
 * pause() without a C frame: what the thread's registers hold at the
 * stable point is decided here, not left over from the calls before.
 * Its call frame information lets a debugger unwind to the callers.
 */
#if !defined(__x86_64__)
#error "the reachability programs park threads with x86-64 system calls"
#endif
void reach_park(uint64_t hidden, int fd) __attribute__((noreturn));
__asm__(
    ".text\n"
    ".globl reach_park\n"
    ".type reach_park, @function\n"
    "reach_park:\n"
    "  .cfi_startproc\n"
    "  movabs $0x5a5a5a5a5a5a5a5a, %r15\n"
    "  xor %rdi, %r15\n"
    "  sub $16, %rsp\n"
    "  .cfi_adjust_cfa_offset 16\n"
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
    "  .cfi_endproc\n"
    ".size reach_park, .-reach_park\n");

/* Parks the calling thread with no pointer in its registers. */
REACH_HELPER static void reach_park_forever(void) { reach_park(REACH_HIDE_KEY, reach_parked[1]); }

/* The stable point, then the end argv[1] asks for; main returns this. */
KEEP_FRAME static int reach_finish(int argc, char **argv) {
    reach_wipe_stack();
    say("ready\n");
    wait_line();
    if (argc > 1 && strcmp(argv[1], "abort") == 0)
        abort();
    return 0;
}

#endif
