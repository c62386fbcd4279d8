/*
 * Cycles. An unreachable ring of three nodes: one definitely lost, two
 * indirectly (valgrind's way). A ring of two nodes that a global points
 * into: still reachable. A lost node whose two children hang off it:
 * the node definitely lost, the children indirectly.
 */
#include <stdlib.h>
#include <string.h>

#include "reach_support.h"

struct node {
    struct node *next;
    struct node *child[2];
    char payload[24];
};

static struct node *volatile kept;

KEEP_FRAME static struct node *ring(int n) {
    struct node *first = NULL, *last = NULL;
    for (int i = 0; i < n; i++) {
        // A mark stays on the line it marks, however long.
        // clang-format off
        struct node *x = calloc(1, sizeof *x); /* REACH: definitely_lost blocks=1 bytes=48 | indirectly_lost blocks=2 bytes=96 | still_reachable blocks=2 bytes=96 */
        // clang-format on
        if (last)
            last->next = x;
        else
            first = x;
        last = x;
    }
    last->next = first;
    return first;
}

KEEP_FRAME static void lost_ring(void) { ring(3); }

KEEP_FRAME static void kept_ring(void) { kept = ring(2); }

KEEP_FRAME static void lost_tree(void) {
    struct node *root = calloc(1, sizeof *root); /* REACH: definitely_lost blocks=1 bytes=48 */
    for (int i = 0; i < 2; i++)
        // A mark stays on the line it marks, however long.
        // clang-format off
        reach_store_ptr(root, 8 + 8 * (size_t)i, calloc(1, sizeof *root)); /* REACH: indirectly_lost blocks=2 bytes=96 */
    // clang-format on
}

int main(int argc, char **argv) {
    lost_ring();
    kept_ring();
    lost_tree();
    return reach_finish(argc, argv);
}
