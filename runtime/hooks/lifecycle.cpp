// Start and end of the runtime, and fork: the one place that puts the
// tracker and the unwinder together. Recording begins in a priority-101
// constructor, before the program's own constructors, once libunwind and
// the options are ready; the exit report runs from a destructor with the
// guard raised so the report's own allocations are not recorded.
#include <pthread.h>

#include "core/reentry_guard.h"
#include "core/runtime_stack.h"
#include "core/tracker.h"
#include "hooks/real_fns.h"
#include "report/report.h"
#include "unwind/rule_cache.h"
#include "unwind/unwinder.h"

namespace {

using namespace memleak;

// Fork: the forking thread closes the unwinder's gate (no thread inside
// libunwind or the loader's lock through the runtime), then holds the
// unwinder's locks, the depot lock and every shard lock (in this fixed
// order) across fork(), so parent and child both get a table no thread was
// halfway through changing. Its guard is raised meanwhile so an
// atfork handler that allocates passes through instead of deadlocking.
void fork_prepare() {
    ++t_thread_state.guard_depth;
    // On the runtime stack too: fork() must not need more of the program's.
    if (void *top = runtime_stack())
        memleak_call_on_stack([](void *, const uintptr_t *) { unwind::prepare_fork_unwind(); }, nullptr, top);
    else
        unwind::prepare_fork_unwind();
    unwind::gate_close_for_fork();
    unwind::lock_rules();
    unwind::lock_memos();
    tracker::lock_for_fork();
}

void fork_parent() {
    tracker::unlock_after_fork();
    unwind::unlock_memos();
    unwind::unlock_rules();
    unwind::gate_open_in_parent();
    --t_thread_state.guard_depth;
}

void fork_child() {
    tracker::reset_in_child();
    unwind::reset_rules_lock();
    unwind::reset_memos_lock();
    unwind::gate_open_in_child();
    --t_thread_state.guard_depth;
}

__attribute__((constructor(101))) void memleak_start() {
    ReentryGuard guard;
    ErrnoSaver saved;
    real_fns_ready();
    tracker::start();
    unwind::init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    tracker::begin_recording();
}

__attribute__((destructor(101))) void memleak_finish() {
    ReentryGuard guard;
    unwind::finish_unwind_check();
    report::exit_report();
}

}  // namespace
