// C++ allocations that leak at marked lines, for the gdb integration tests.
// Marks as in leaky.c. What matters here: a block from `new` must be shown
// at the user's line, never inside operator new or libstdc++.
//
// Modes (argv[1]): wait (write "ready", pause), break (call stop_here()).
#include <cerrno>
#include <cstring>
#include <unistd.h>

#if defined(__GNUC__) && !defined(__clang__)
#define KEEP_FRAME __attribute__((noipa))
#else
#define KEEP_FRAME __attribute__((noinline))
#endif

namespace {

void *volatile sink[64];
unsigned sink_next;

KEEP_FRAME void keep(void *p) { sink[sink_next++ % 64] = p; }

struct Widget {
    char name[40];
    int id;
};
static_assert(sizeof(Widget) == 44, "the LEAK marks below count 44-byte widgets");

// A destructor makes new[] store the element count before the elements:
// operator new[] is asked for 8 more bytes than the elements take.
struct Node {
    Node *next = nullptr;
    long value = 0;
    ~Node() { next = nullptr; }
};
static_assert(sizeof(Node) == 16, "the LEAK marks below count 16-byte nodes");

KEEP_FRAME void leak_new() {
    Widget *w = new Widget();  // LEAK: widget bytes=44 count=1
    keep(w);
}

KEEP_FRAME void leak_new_array() {
    int *a = new int[25];  // LEAK: ints bytes=100 count=1
    keep(a);
}

KEEP_FRAME void leak_new_array_cookie() {
    Node *n = new Node[3];  // LEAK: nodes bytes=56 count=1
    keep(n);
}

KEEP_FRAME void leak_in_loop() {
    for (int i = 0; i < 4; i++) {
        Widget *w = new Widget();  // LEAK: widgets bytes=176 count=4
        w->id = i;
        keep(w);
    }
}

KEEP_FRAME void freed_new() {
    Widget *w = new Widget();  // FREED
    keep(w);
    delete w;
    Node *n = new Node[5];  // FREED
    keep(n);
    delete[] n;
}

template <typename T>
inline __attribute__((always_inline)) T *make_one() {
    T *p = new T();  // LEAK: made bytes=44 count=1 inlined caller=make_widget
    return p;
}

KEEP_FRAME void leak_via_inline() {
    Widget *w = make_one<Widget>();  // CALLSITE: make_widget
    keep(w);
}

}  // namespace

extern "C" KEEP_FRAME void stop_here() { __asm__ volatile("" ::: "memory"); }

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "wait";

    leak_new();
    leak_new_array();
    leak_new_array_cookie();
    leak_in_loop();
    freed_new();
    leak_via_inline();

    if (std::strcmp(mode, "break") == 0) {
        stop_here();
        return 0;
    }
    static const char ready[] = "ready\n";
    while (write(1, ready, sizeof ready - 1) < 0 && errno == EINTR) {
    }
    for (;;)
        pause();
}
