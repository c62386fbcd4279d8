#include "report/writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace memleak::report {

Writer &Writer::str(const char *s) { return s ? str(s, strlen(s)) : *this; }

Writer &Writer::str(const char *s, size_t n) {
    while (n > 0) {
        if (used_ == sizeof buf_ && !flush())
            return *this;
        size_t take = sizeof buf_ - used_;
        if (take > n)
            take = n;
        memcpy(buf_ + used_, s, take);
        used_ += take;
        s += take;
        n -= take;
    }
    return *this;
}

Writer &Writer::ch(char c) { return str(&c, 1); }

Writer &Writer::dec(uint64_t v) {
    char tmp[20];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return str(tmp + i, sizeof tmp - i);
}

Writer &Writer::hex(uint64_t v) {
    char tmp[16];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0);
    return str(tmp + i, sizeof tmp - i);
}

Writer &Writer::human(uint64_t bytes) {
    if (bytes < 1024)
        return dec(bytes).str(bytes == 1 ? " byte" : " bytes");
    static const char *const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    unsigned unit = 0;
    uint64_t scale = 1024;
    while (unit + 1 < sizeof kUnits / sizeof kUnits[0] && bytes / scale >= 1024) {
        scale <<= 10;
        ++unit;
    }
    // Tenths of the unit, rounded, from the value in 1/1024ths of the unit
    // (below 2^20, so nothing overflows).
    uint64_t tenths = (bytes / (scale >> 10) * 10 + 512) / 1024;
    if (tenths >= 10240 && unit + 1 < sizeof kUnits / sizeof kUnits[0]) {
        ++unit;
        tenths = (tenths + 512) / 1024;
    }
    dec(tenths / 10).ch('.').dec(tenths % 10);
    return ch(' ').str(kUnits[unit]);
}

bool Writer::flush() {
    size_t done = 0;
    while (error_ == 0 && done < used_) {
        ssize_t n = write(fd_, buf_ + done, used_ - done);
        if (n > 0)
            done += static_cast<size_t>(n);
        else if (n < 0 && errno == EINTR)
            continue;
        else
            error_ = n < 0 ? errno : EIO;
    }
    used_ = 0;
    return error_ == 0;
}

}  // namespace memleak::report
