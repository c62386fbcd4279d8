// One-line error messages without stdio: the scanner also runs inside the
// runtime, where nothing may allocate through the program's allocator.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memleak::scan {

class Message {
public:
    Message(char *buffer, size_t size) : buffer_(buffer), size_(size) {
        if (size_)
            buffer_[0] = '\0';
    }

    Message &text(const char *s) {
        while (*s)
            put(*s++);
        return *this;
    }

    Message &dec(uint64_t v) {
        char digits[20];
        int n = 0;
        do {
            digits[n++] = static_cast<char>('0' + v % 10);
            v /= 10;
        } while (v);
        while (n)
            put(digits[--n]);
        return *this;
    }

    Message &hex(uint64_t v) {
        text("0x");
        int shift = 60;
        while (shift > 0 && ((v >> shift) & 0xf) == 0)
            shift -= 4;
        for (; shift >= 0; shift -= 4)
            put("0123456789abcdef"[(v >> shift) & 0xf]);
        return *this;
    }

private:
    void put(char c) {
        if (length_ + 1 < size_) {
            buffer_[length_++] = c;
            buffer_[length_] = '\0';
        }
    }

    char *buffer_;
    size_t size_;
    size_t length_ = 0;
};

}  // namespace memleak::scan
