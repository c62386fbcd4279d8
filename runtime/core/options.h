// The runtime's settings, read once from the environment at start.
// Every option (type, name, default, range, help) is one row of
// options.inc, which makes this struct and its defaults, the parser's table
// and `libmemleak.so`'s help text (MEMLEAK_HELP), against which the README
// table is checked.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memleak {

constexpr unsigned kMaxDepthLimit = 256;

// Each option's default, as option_default::<field>.
namespace option_default {
#define MEMLEAK_NUMBER_OPTION(type, field, name, def, lo, hi, help) constexpr type field = def;
#define MEMLEAK_TEXT_OPTION(field, name, size, help)
#include "core/options.inc"
#undef MEMLEAK_NUMBER_OPTION
#undef MEMLEAK_TEXT_OPTION
}  // namespace option_default

struct Options {
#define MEMLEAK_NUMBER_OPTION(type, field, name, def, lo, hi, help) type field = option_default::field;
#define MEMLEAK_TEXT_OPTION(field, name, size, help) char field[size] = {};
#include "core/options.inc"
#undef MEMLEAK_NUMBER_OPTION
#undef MEMLEAK_TEXT_OPTION
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
