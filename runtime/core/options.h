// The runtime's settings, read once from the environment at start.
// The table of options (name, default, range, help) lives in options.cpp
// and feeds the parser, `libmemleak.so`'s help text and the README table.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memleak {

constexpr unsigned kMaxDepthLimit = 256;

struct Options {
    unsigned depth = 32;              // MEMLEAK_DEPTH: frames kept per stack, 1..256
    char report[4096] = {};           // MEMLEAK_REPORT: "" (off), "stderr", or a path with %p
    unsigned report_groups = 20;      // MEMLEAK_REPORT_GROUPS: stacks shown in the report
    unsigned report_frames = 32;      // MEMLEAK_REPORT_FRAMES: frames shown per stack
    char suppressions[4096] = {};     // MEMLEAK_SUPPRESSIONS: file of `leak:PATTERN` lines
    int exitcode = 0;                 // MEMLEAK_EXITCODE: exit status when leaks remain (0: keep)
    unsigned fast_unwind = 1;         // MEMLEAK_FAST_UNWIND: 0 libunwind only, 2 checks against it
    unsigned help = 0;                // MEMLEAK_HELP: 1 lists the options on stderr at start
};

// Parses `environ`-style lookups through `getenv_fn` (so tests can feed
// their own). Invalid values keep the default and write one line to
// `err_fd` naming the option. Never allocates.
void parse_options(Options *out, const char *(*getenv_fn)(const char *), int err_fd);

// The settings in force, parsed once when the runtime starts.
const Options &options();

}  // namespace memleak

namespace memleak {

// Reads the process environment into options(); called once at start.
void load_options();

// One line per option (name, default, range, meaning), as the README shows.
void write_option_help(int fd);

}  // namespace memleak
