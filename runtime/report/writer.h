// A buffered writer over write(2) for the report. It allocates nothing and
// touches no stdio, so it works inside the runtime's destructor, after
// freeres, and while other threads hold the allocator.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memleak::report {

class Writer {
public:
    explicit Writer(int fd) : fd_(fd) {}
    ~Writer() { flush(); }
    Writer(const Writer &) = delete;
    Writer &operator=(const Writer &) = delete;

    Writer &str(const char *s);
    Writer &str(const char *s, size_t n);
    Writer &ch(char c);
    Writer &dec(uint64_t v);
    // Lower-case hex digits, no prefix.
    Writer &hex(uint64_t v);
    // "512 bytes", "1.5 KiB", "3.0 MiB": one decimal, rounded to nearest.
    Writer &human(uint64_t bytes);

    // Writes out the buffer; false once any write has failed.
    bool flush();
    // errno of the first failed write, 0 if none.
    int error() const { return error_; }

private:
    int fd_;
    int error_ = 0;
    size_t used_ = 0;
    char buf_[4096];
};

}  // namespace memleak::report
