/*
 * Blocks of every leak class at known lines, for the exit report's
 * classification. A line marked `LEAK: name bytes=B blocks=N kind=KIND`
 * allocates N blocks of B bytes in all that end in class KIND (valgrind's
 * classes, spelled as the report's JSON does).
 *
 * Each class is built in a helper whose frame is dead by exit, and the
 * stack below main is wiped before main returns: an exit-time scan takes
 * the live stack for a root, and a stale copy of a pointer left there
 * would keep a block reachable.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP_FRAME __attribute__((noinline, noclone))

struct node {
    struct node *next;
    char payload[40];
};

void *volatile g_kept;     /* a start pointer: still reachable */
char *volatile g_interior; /* only an interior pointer: possibly lost */

/* Writes to the block out of the compiler's sight, so the allocation stays. */
KEEP_FRAME void touch(void *p, size_t n) {
    memset(p, 0x5a, n);
    __asm__ volatile("" : : "r"(p) : "memory");
}

KEEP_FRAME void keep_one(void) {
    void *p = malloc(500); /* LEAK: kept bytes=500 blocks=1 kind=still_reachable */
    touch(p, 500);
    g_kept = p;
}

/* The head is definitely lost, the node only it points to indirectly. */
KEEP_FRAME void lose_list(void) {
    struct node *head = malloc(sizeof *head); /* LEAK: head bytes=48 blocks=1 kind=definitely_lost */
    touch(head, sizeof *head);
    struct node *tail = malloc(sizeof *tail); /* LEAK: tail bytes=48 blocks=1 kind=indirectly_lost */
    touch(tail, sizeof *tail);
    tail->next = NULL;
    head->next = tail;
    __asm__ volatile("" : : "r"(head) : "memory");
}

KEEP_FRAME void lose_behind_interior(void) {
    char *p = malloc(256); /* LEAK: interior bytes=256 blocks=1 kind=possibly_lost */
    touch(p, 256);
    g_interior = p + 100;
}

KEEP_FRAME void lose_plain(void) {
    for (int i = 0; i < 3; ++i) {
        void *p = malloc(64); /* LEAK: plain bytes=192 blocks=3 kind=definitely_lost */
        touch(p, 64);
    }
}

KEEP_FRAME void wipe_stack(void) {
    volatile char area[32768];
    for (size_t i = 0; i < sizeof area; i++)
        area[i] = 0;
}

int main(void) {
    keep_one();
    lose_list();
    lose_behind_interior();
    lose_plain();
    puts("report_lost done");
    wipe_stack();
    return 0;
}
