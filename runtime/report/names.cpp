#include "report/names.h"

#include <cctype>
#include <cstring>

namespace memleak::report {
namespace {

struct Alias {
    const char *from;
    const char *to;
};

// Tried in this order at each position, as frames.py replaces them in turn.
constexpr Alias kAliases[] = {
    {"std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string"},
    {"std::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string"},
    {"std::__cxx11::", "std::"},
};

bool starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

// A space run before '>' goes, except after "operator" or '-', '=', '<'
// ("operator> (", "-> ", "<= >" stay as the demangler wrote them).
bool keeps_space_before_close(const char *out, size_t len) {
    if (len == 0)
        return true;
    const char last = out[len - 1];
    if (last == '-' || last == '=' || last == '<')
        return true;
    return len >= 8 && memcmp(out + len - 8, "operator", 8) == 0;
}

}  // namespace

const char *clean_name(const char *name, char *out, size_t cap) {
    if (name == nullptr || cap == 0)
        return name;
    const char *in = name;
    // glibc's internal aliases: __GI___strdup is strdup, __GI___libc_malloc
    // is malloc, __GI__IO_fopen is _IO_fopen.
    if (starts_with(in, "__GI_")) {
        in += 5;
        if (starts_with(in, "__libc_"))
            in += 7;
        else if (in[0] == '_' && in[1] == '_' && in[2] >= 'a' && in[2] <= 'z')
            in += 2;
    }
    size_t len = 0;
    while (*in != '\0') {
        bool replaced = false;
        for (const Alias &a : kAliases) {
            if (starts_with(in, a.from)) {
                const size_t n = strlen(a.to);
                if (len + n >= cap)
                    return name;
                memcpy(out + len, a.to, n);
                len += n;
                in += strlen(a.from);
                replaced = true;
                break;
            }
        }
        if (replaced)
            continue;
        if (*in == ' ') {
            const char *run = in;
            while (*run == ' ')
                ++run;
            if (*run == '>' && !keeps_space_before_close(out, len)) {
                in = run;
                continue;
            }
        }
        if (len + 1 >= cap)
            return name;
        out[len++] = *in++;
    }
    out[len] = '\0';
    return strcmp(out, name) == 0 ? name : out;
}

bool is_lambda_call(const char *name) { return name != nullptr && starts_with(name, "operator()"); }

const char *lambda_name(const char *op, const char *caller, char *out, size_t cap) {
    if (op == nullptr || caller == nullptr)
        return op;
    char owner_buf[2048];
    const char *owner = clean_name(caller, owner_buf, sizeof owner_buf);
    size_t owner_len = strlen(owner);
    // "NAME(ARGS)[ const]::<lambda(" inside the caller's name: NAME(ARGS) is
    // where the lambda was written.
    if (const char *mark = strstr(owner, "::<lambda(")) {
        const char *end = mark;
        if (end - owner >= 6 && memcmp(end - 6, " const", 6) == 0)
            end -= 6;
        if (end > owner && end[-1] == ')') {
            const char *open = end - 1;
            while (open > owner && open[-1] != '(' && open[-1] != ')')
                --open;
            if (open > owner && open[-1] == '(') {
                const char *start = open - 1;
                while (start > owner && (isalnum(static_cast<unsigned char>(start[-1])) || start[-1] == '_' ||
                                         start[-1] == ':' || start[-1] == '~'))
                    --start;
                if (start < open - 1) {
                    owner_len = static_cast<size_t>(mark - start);
                    owner = start;
                }
            }
        }
    }
    static const char kMiddle[] = "::{lambda}::";
    const size_t op_len = strlen(op), middle = sizeof kMiddle - 1;
    if (owner_len + middle + op_len + 1 > cap)
        return op;
    memcpy(out, owner, owner_len);
    memcpy(out + owner_len, kMiddle, middle);
    memcpy(out + owner_len + middle, op, op_len + 1);
    return out;
}

}  // namespace memleak::report
