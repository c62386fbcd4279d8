// LeakSanitizer-style suppressions: a file of `leak:PATTERN` lines (blank
// lines and `#` comments allowed). A pattern matches a substring of a
// frame's function, source file or object path; `*` matches any run of
// characters, a leading `^` anchors at the start, a trailing `$` at the end.
#pragma once

#include <cstddef>
#include <cstdint>

#include "report/scratch.h"

namespace memleak::report {

class Writer;

// True if `pattern` (pattern_len bytes, anchors included) matches `text`.
bool pattern_match(const char *pattern, size_t pattern_len, const char *text);

class Suppressions {
public:
    Suppressions() = default;
    ~Suppressions();
    Suppressions(const Suppressions &) = delete;
    Suppressions &operator=(const Suppressions &) = delete;

    // Reads `path`. On a malformed or unreadable file writes one line
    // `memleak: MEMLEAK_SUPPRESSIONS=PATH: ...` to `err`, keeps no pattern
    // and returns false.
    bool load(const char *path, Writer &err);

    size_t count() const { return patterns_.size(); }
    bool empty() const { return patterns_.size() == 0; }

    // Index of the first pattern matching any of the strings (nulls are
    // skipped), or -1.
    int match(const char *function, const char *file, const char *object) const;

private:
    struct Pattern {
        uint32_t offset;  // into text_
        uint32_t length;
    };
    char *text_ = nullptr;
    size_t text_size_ = 0;
    Scratch<Pattern> patterns_;
};

}  // namespace memleak::report
