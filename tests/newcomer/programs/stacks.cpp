// Leaks through the standard library, libc and a lambda, on the main
// thread and on a thread of its own, so the tests can check how stacks read:
// frames below main and below the thread's start routine, library frames,
// names. The leaking lines carry LEAK marks the tests look up.
//
// Usage: stacks [wait|exit|crash|handled]
//   wait    (default) print "pid N" and wait for SIGTERM
//   exit    return from main (the exit report sees every leak)
//   crash   leak, then die of SIGSEGV
//   handled leak, then fault in a SIGSEGV handler of its own, which
//           prints "handled" and exits 3
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace app {

std::vector<std::string> *g_names;
char *g_copies[4];
void *g_lambda_blocks[3];
void *g_worker_block;

__attribute__((noinline)) void load_names() {
    g_names = new std::vector<std::string>;
    for (int i = 0; i < 8; ++i)
        g_names->push_back(std::string(100 + i, 'n'));  // LEAK names
}

__attribute__((noinline)) void copy_names() {
    for (int i = 0; i < 4; ++i)
        g_copies[i] = strdup("a name copied with strdup, long enough");  // LEAK strdup
}

// Stores what `make` returns (no tail call: the frame stays on the stack).
template <class Make>
__attribute__((noinline)) void apply(Make make, std::size_t n, void **out) {
    *out = make(n);
}

__attribute__((noinline)) void fill_with_lambda() {
    auto make = [](std::size_t n) {
        return std::malloc(n);  // LEAK lambda
    };
    for (int i = 0; i < 3; ++i)
        apply(make, 300, &g_lambda_blocks[i]);
}

void *worker(void *) {
    g_worker_block = std::malloc(777);  // LEAK worker
    return nullptr;
}

void on_fault(int) {
    static const char kText[] = "handled\n";
    if (write(STDOUT_FILENO, kText, sizeof kText - 1) < 0) {
    }
    _exit(3);
}

}  // namespace app

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "wait";
    app::load_names();
    app::copy_names();
    app::fill_with_lambda();
    pthread_t thread;
    pthread_create(&thread, nullptr, app::worker, nullptr);
    pthread_join(thread, nullptr);
    if (!std::strcmp(mode, "exit")) {
        // Forget every block, so the exit report counts them lost.
        *static_cast<std::vector<std::string> *volatile *>(&app::g_names) = nullptr;
        std::memset(static_cast<void *>(app::g_copies), 0, sizeof app::g_copies);
        std::memset(static_cast<void *>(app::g_lambda_blocks), 0, sizeof app::g_lambda_blocks);
        *static_cast<void *volatile *>(&app::g_worker_block) = nullptr;
        return 0;
    }
    if (!std::strcmp(mode, "handled"))
        signal(SIGSEGV, app::on_fault);
    if (!std::strcmp(mode, "crash") || !std::strcmp(mode, "handled")) {
        volatile int *nowhere = nullptr;
        return *nowhere;
    }
    std::printf("pid %d\n", static_cast<int>(getpid()));
    std::fflush(stdout);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    int sig = 0;
    sigwait(&set, &sig);
    return 0;
}
