#include "core/options.h"

#include <cstddef>
#include <cstdlib>

#include "core/line_writer.h"

namespace memleak {

namespace {

enum class Kind { kNumber, kText };

struct OptionSpec {
    const char *name;
    Kind kind;
    int64_t def;  // numbers only; text options default to ""
    int64_t min;
    int64_t max;
    size_t offset;
    size_t text_size;  // text options: buffer size including the NUL
    const char *help;
};

#define MEMLEAK_NUMBER(field, name, def, lo, hi, help) \
    {name, Kind::kNumber, def, lo, hi, offsetof(Options, field), 0, help}
#define MEMLEAK_TEXT(field, name, help) \
    {name, Kind::kText, 0, 0, 0, offsetof(Options, field), sizeof(Options::field), help}

// The one table: the parser, the help text and the README come from it.
const OptionSpec kOptions[] = {
    MEMLEAK_NUMBER(depth, "MEMLEAK_DEPTH", 32, 1, kMaxDepthLimit,
                   "frames kept per allocation stack"),
    MEMLEAK_TEXT(report, "MEMLEAK_REPORT",
                 "exit report: unset (off), \"stderr\", or a file path (%p: pid)"),
    MEMLEAK_NUMBER(report_groups, "MEMLEAK_REPORT_GROUPS", 20, 1, 1000000,
                   "stacks listed in the exit report"),
    MEMLEAK_NUMBER(report_frames, "MEMLEAK_REPORT_FRAMES", 32, 1, kMaxDepthLimit,
                   "frames shown per stack in the exit report"),
    MEMLEAK_TEXT(suppressions, "MEMLEAK_SUPPRESSIONS",
                 "file of leak:PATTERN lines; matching stacks leave the exit report"),
    MEMLEAK_NUMBER(exitcode, "MEMLEAK_EXITCODE", 0, 0, 255,
                   "exit status when leaks remain at exit (0: keep the program's)"),
    MEMLEAK_NUMBER(fast_unwind, "MEMLEAK_FAST_UNWIND", 1, 0, 2,
                   "1: step frames with cached .eh_frame rules, libunwind for the rest; "
                   "0: libunwind for every stack; 2: as 1, and check every stack against "
                   "libunwind (differences and a count on stderr)"),
    MEMLEAK_NUMBER(help, "MEMLEAK_HELP", 0, 0, 1, "1: list these options on stderr at start"),
};

#undef MEMLEAK_NUMBER
#undef MEMLEAK_TEXT

Options g_options;

// Strict decimal: optional '-', digits, nothing else.
bool parse_number(const char *s, int64_t *out) {
    bool negative = false;
    if (*s == '-') {
        negative = true;
        ++s;
    }
    if (*s == '\0')
        return false;
    uint64_t v = 0;
    for (; *s; ++s) {
        if (*s < '0' || *s > '9')
            return false;
        if (v > (UINT64_C(1) << 62) / 10)
            return false;
        v = v * 10 + static_cast<uint64_t>(*s - '0');
    }
    *out = negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
    return true;
}

void store_number(Options *o, const OptionSpec &spec, int64_t v) {
    char *field = reinterpret_cast<char *>(o) + spec.offset;
    if (spec.min < 0)
        *reinterpret_cast<int *>(field) = static_cast<int>(v);
    else
        *reinterpret_cast<unsigned *>(field) = static_cast<unsigned>(v);
}

void warn_number(int fd, const OptionSpec &spec, const char *value) {
    LineWriter w;
    w.add("memleak: ignoring ").add(spec.name).add("=").add(value);
    w.add(" (expected an integer in ").add_signed(spec.min).add("..").add_signed(spec.max);
    w.add("); keeping ").add_signed(spec.def);
    w.write_line(fd);
}

void warn_text(int fd, const OptionSpec &spec) {
    LineWriter w;
    w.add("memleak: ignoring ").add(spec.name).add(" (longer than ");
    w.add(static_cast<uint64_t>(spec.text_size - 1)).add(" bytes); keeping it unset");
    w.write_line(fd);
}

}  // namespace

void parse_options(Options *out, const char *(*getenv_fn)(const char *), int err_fd) {
    for (const OptionSpec &spec : kOptions) {
        const char *value = getenv_fn(spec.name);
        if (spec.kind == Kind::kNumber) {
            int64_t v = spec.def;
            if (value) {
                int64_t parsed = 0;
                if (parse_number(value, &parsed) && parsed >= spec.min && parsed <= spec.max)
                    v = parsed;
                else
                    warn_number(err_fd, spec, value);
            }
            store_number(out, spec, v);
            continue;
        }
        char *field = reinterpret_cast<char *>(out) + spec.offset;
        size_t n = 0;
        if (value) {
            while (n < spec.text_size && value[n])
                ++n;
            if (n == spec.text_size) {
                warn_text(err_fd, spec);
                n = 0;
            }
        }
        for (size_t i = 0; i < n; ++i)
            field[i] = value[i];
        field[n] = '\0';
    }
}

const Options &options() { return g_options; }

void load_options() {
    // secure_getenv: in a secure-execution process (setuid, setgid, file
    // capabilities) the environment belongs to a less privileged user, so
    // every option keeps its default (report off), as glibc does for MALLOC_*.
    parse_options(&g_options, [](const char *name) -> const char * { return secure_getenv(name); }, 2);
    if (g_options.help)
        write_option_help(2);
}

void write_option_help(int fd) {
    for (const OptionSpec &spec : kOptions) {
        LineWriter w;
        w.add(spec.name).add("  ");
        if (spec.kind == Kind::kNumber)
            w.add("default ").add_signed(spec.def).add(", ").add_signed(spec.min).add("..").add_signed(
                spec.max);
        else
            w.add("default unset");
        w.add(": ").add(spec.help);
        w.write_line(fd);
    }
}

}  // namespace memleak
