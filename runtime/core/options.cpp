#include "core/options.h"

#include <cstddef>
#include <cstdlib>
#include <type_traits>

#include "core/line_writer.h"

namespace memleak {

namespace {

enum class Kind { kNumber, kText };

struct OptionSpec {
    const char *name;
    Kind kind;
    bool is_signed;  // numbers: the field is an int, not an unsigned
    int64_t def;     // numbers only; text options default to ""
    int64_t min;
    int64_t max;
    size_t offset;
    size_t text_size;  // text options: buffer size including the NUL
    const char *help;
};

// The parser's and the help text's table, from options.inc.
const OptionSpec kOptions[] = {
#define MEMLEAK_NUMBER_OPTION(type, field, name, def, lo, hi, help) \
    {name, Kind::kNumber, std::is_signed<type>::value, def, lo, hi, offsetof(Options, field), 0, help},
#define MEMLEAK_TEXT_OPTION(field, name, size, help) \
    {name, Kind::kText, false, 0, 0, 0, offsetof(Options, field), sizeof(Options::field), help},
#include "core/options.inc"
#undef MEMLEAK_NUMBER_OPTION
#undef MEMLEAK_TEXT_OPTION
};

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
    if (spec.is_signed)
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
    parse_options(
        &g_options, [](const char *name) -> const char * { return secure_getenv(name); }, 2);
    if (g_options.help)
        write_option_help(2);
}

void write_option_help(int fd) {
    for (const OptionSpec &spec : kOptions) {
        LineWriter w;
        w.add(spec.name).add("  ");
        if (spec.kind == Kind::kNumber)
            w.add("default ")
                .add_signed(spec.def)
                .add(", ")
                .add_signed(spec.min)
                .add("..")
                .add_signed(spec.max);
        else
            w.add("default unset");
        w.add(": ").add(spec.help);
        w.write_line(fd);
    }
}

}  // namespace memleak
