// Builds one line in a fixed buffer and writes it with write(2): the
// runtime's diagnostics must not use stdio, which allocates.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace memleak {

class LineWriter {
public:
    LineWriter &add(const char *s) {
        while (*s && len_ < sizeof(buf_))
            buf_[len_++] = *s++;
        return *this;
    }
    LineWriter &add(uint64_t v) {
        char tmp[20];
        size_t n = 0;
        do {
            tmp[n++] = static_cast<char>('0' + v % 10);
            v /= 10;
        } while (v);
        while (n && len_ < sizeof(buf_))
            buf_[len_++] = tmp[--n];
        return *this;
    }
    LineWriter &add_hex(uint64_t v) {
        char tmp[16];
        size_t n = 0;
        do {
            tmp[n++] = "0123456789abcdef"[v & 15];
            v >>= 4;
        } while (v);
        add("0x");
        while (n && len_ < sizeof(buf_))
            buf_[len_++] = tmp[--n];
        return *this;
    }
    LineWriter &add_signed(int64_t v) {
        if (v < 0) {
            add("-");
            return add(static_cast<uint64_t>(0) - static_cast<uint64_t>(v));
        }
        return add(static_cast<uint64_t>(v));
    }
    // Writes the line, ending it with a newline (the last byte gives way
    // when the line was too long).
    void write_line(int fd) {
        if (len_ == sizeof(buf_))
            --len_;
        buf_[len_++] = '\n';
        size_t off = 0;
        while (off < len_) {
            ssize_t w = ::write(fd, buf_ + off, len_ - off);
            if (w <= 0)
                break;
            off += static_cast<size_t>(w);
        }
        len_ = 0;
    }

private:
    char buf_[512];
    size_t len_ = 0;
};

}  // namespace memleak
