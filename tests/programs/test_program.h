/*
 * What every test program a harness drives shares: frames that survive
 * -O2, and line I/O with the harness that allocates nothing (no stdio), so
 * that only the lines a test marks allocate.
 */
#ifndef TEST_PROGRAM_H
#define TEST_PROGRAM_H

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Out of line and out of identical-code folding, so every helper keeps its
 * own frame and call site. */
#if defined(__GNUC__) && !defined(__clang__)
#define KEEP_FRAME __attribute__((noipa))
#else
#define KEEP_FRAME __attribute__((noinline))
#endif

static inline void say(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(1, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static inline void wait_line(void) {
    char c;
    for (;;) {
        ssize_t r = read(0, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || c == '\n')
            return;
    }
}

#endif
