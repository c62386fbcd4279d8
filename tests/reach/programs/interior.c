/*
 * Interior pointers. A global points 40 bytes into a block (no start
 * pointer anywhere): possibly lost, and so is the block that block points
 * to by its start. A block with both an interior and a start pointer is
 * still reachable. Block contents are 0xab bytes, so none looks like what
 * valgrind's heuristics (std::string, new[] cookie, length64, multiple
 * inheritance) would take for a start pointer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reach_support.h"

static char *volatile inner;
static char *volatile both_start;
static char *volatile both_inner;

KEEP_FRAME static char *filled(size_t n) {
    char *p = malloc(n); /* REACH: possibly_lost blocks=2 bytes=144 | still_reachable blocks=1 bytes=96 */
    reach_fill(p, 0xab, n);
    return p;
}

KEEP_FRAME static void build(void) {
    char *outer = filled(64);
    char *child = filled(80);
    reach_store_ptr(outer, 8, child);
    inner = outer + 40;
    char *both = filled(96);
    both_start = both;
    both_inner = both + 48;
}

KEEP_FRAME static void drop_one(void) {
    char *p = malloc(53); /* REACH: definitely_lost blocks=1 bytes=53 */
    reach_fill(p, 0xab, 53);
}

int main(int argc, char **argv) {
    drop_one();
    build();
    return reach_finish(argc, argv);
}
