// Start and end of the runtime. Recording begins in a priority-101
// constructor, before the program's own constructors, once libunwind and
// the options are ready; the exit report runs from a destructor with the
// guard raised so the report's own allocations are not recorded.
#include "core/reentry_guard.h"
#include "core/tracker.h"
#include "hooks/real_fns.h"
#include "report/report.h"

namespace {

__attribute__((constructor(101))) void memleak_start() {
    memleak::ReentryGuard guard;
    memleak::ErrnoSaver saved;
    memleak::real_fns_ready();
    memleak::tracker::start();
}

__attribute__((destructor(101))) void memleak_finish() {
    memleak::ReentryGuard guard;
    memleak::unwind::finish_unwind_check();
    memleak::report::exit_report();
}

}  // namespace
