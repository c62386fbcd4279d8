// Leaks through new, new[], std::vector growth and an always-inlined helper.
// Markers as in report_leaks.c; `inlined_into=NAME` says frame #0 is this
// line in an inlined function, marked "(inlined)", and frame #1 (same pc)
// is the line marked `CALL: NAME` in its caller.
#include <cstdio>
#include <vector>

struct Node {
    long payload[5];
};

Node *volatile node_sink;
int *volatile array_sink;
std::vector<int> *volatile vector_sink;
char *volatile inline_sink;

__attribute__((noinline)) void leak_new() {
    node_sink = new Node();  // LEAK: new bytes=40 blocks=1
}

__attribute__((noinline)) void leak_new_array() {
    array_sink = new int[250];  // LEAK: new_array bytes=1000 blocks=1
}

__attribute__((noinline)) void leak_vector() {
    std::vector<int> *v = new std::vector<int>;  // LEAK: vector_object bytes=24 blocks=1
    vector_sink = v;
    // Capacity doubles 1, 2, 4 ... 128: the last buffer, 128 ints, stays.
    for (int i = 0; i < 100; ++i)
        v->push_back(i);  // LEAK: vector_growth bytes=512 blocks=1 frame=any
}

static inline __attribute__((always_inline)) char *make_buffer(unsigned n) {
    char *p = new char[n];  // LEAK: inlined bytes=777 blocks=1 inlined_into=leak_inlined
    p[0] = 1;
    return p;
}

__attribute__((noinline)) void leak_inlined() {
    inline_sink = make_buffer(777);  // CALL: leak_inlined
    inline_sink[1] = 2;
}

__attribute__((noinline)) void no_leak() {
    std::vector<long> *v = new std::vector<long>(1000);
    delete v;
}

int main() {
    leak_new();
    leak_new_array();
    leak_vector();
    leak_inlined();
    no_leak();
    std::printf("report_leaks_cpp done\n");
    return 0;
}
