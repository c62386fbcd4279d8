// new[] of objects with destructors and std::string members. The kept
// array's only pointer is what new[] returned, 8 bytes into the block
// (past the element count): still reachable, as valgrind's new[]
// heuristic has it, and so are its strings; the dropped array is
// definitely lost and its strings indirectly.
#include <cstring>
#include <string>

#include "reach_support.h"

struct Item {
    std::string name;
    long value = 0;
    ~Item() { value = -1; }
};

static Item *volatile kept;

static const char long_text[] = "a string too long for the small-string buffer";

KEEP_FRAME static Item *items(int n) {
    Item *it = new Item[n];  // REACH: still_reachable blocks=1 bytes=168 | definitely_lost blocks=1 bytes=128
    for (int i = 0; i < n; i++)
        // A mark stays on the line it marks, however long.
        // clang-format off
        it[i].name.assign(long_text); // REACH: still_reachable blocks=4 bytes=184 | indirectly_lost blocks=3 bytes=138
    // clang-format on
    return it;
}

KEEP_FRAME static void build() {
    kept = items(4);
    items(3);
}

int main(int argc, char **argv) {
    build();
    return reach_finish(argc, argv);
}
