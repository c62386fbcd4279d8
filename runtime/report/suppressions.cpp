#include "report/suppressions.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "report/writer.h"

namespace memleak::report {
namespace {

constexpr size_t kMaxFileSize = 16u << 20;
constexpr int kPipeWaitMs = 1000;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

uint64_t monotonic_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

void error_prefix(Writer &err, const char *path) {
    err.str("memleak: MEMLEAK_SUPPRESSIONS=").str(path).str(": ");
}

}  // namespace

bool pattern_match(const char *pattern, size_t len, const char *text) {
    if (text == nullptr || text[0] == '\0')
        return false;
    bool anchor_start = false, anchor_end = false;
    if (len > 0 && pattern[0] == '^') {
        anchor_start = true;
        ++pattern;
        --len;
    }
    if (len > 0 && pattern[len - 1] == '$') {
        anchor_end = true;
        --len;
    }
    const size_t text_len = strlen(text);
    size_t pos = 0;
    bool first = true;
    // Segments between `*` are found left to right, each as early as
    // possible, which is enough for a pattern made of literals and `*`.
    while (true) {
        const char *star = static_cast<const char *>(memchr(pattern, '*', len));
        const size_t seg = star ? static_cast<size_t>(star - pattern) : len;
        const bool last = star == nullptr;
        if (seg > 0) {
            if (first && anchor_start) {
                if (seg > text_len || memcmp(text, pattern, seg) != 0)
                    return false;
                if (last && anchor_end)
                    return seg == text_len;
                pos = seg;
            } else if (last && anchor_end) {
                return text_len >= pos + seg && memcmp(text + text_len - seg, pattern, seg) == 0;
            } else {
                const void *hit = memmem(text + pos, text_len - pos, pattern, seg);
                if (hit == nullptr)
                    return false;
                pos = static_cast<size_t>(static_cast<const char *>(hit) - text) + seg;
            }
        } else if (last && anchor_end && first) {
            // "$" or "^$" alone: only an empty text would match, and empty
            // texts never match.
            return false;
        }
        if (last)
            return true;
        first = false;
        pattern += seg + 1;
        len -= seg + 1;
    }
}

Suppressions::~Suppressions() {
    if (text_ != nullptr)
        munmap(text_, text_size_);
}

bool Suppressions::load(const char *path, Writer &err) {
    // Non-blocking: opening a FIFO without a writer would otherwise wait
    // forever, at exit, inside somebody else's program.
    int fd;
    do
        fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    struct stat st;
    int open_errno = 0;
    if (fd < 0 || fstat(fd, &st) != 0)
        open_errno = errno;
    else if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
        open_errno = EINVAL;
    else if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > kMaxFileSize)
        open_errno = EFBIG;
    if (open_errno != 0) {
        if (fd >= 0)
            close(fd);
        error_prefix(err, path);
        if (open_errno == EFBIG)
            err.str("larger than ").dec(kMaxFileSize >> 20).str(" MiB; no suppressions applied\n");
        else
            err.str("cannot read: ")
                .str(open_errno == EINVAL ? "not a regular file or a FIFO" : strerrordesc_np(open_errno))
                .str("; no suppressions applied\n");
        return false;
    }
    const bool fifo = S_ISFIFO(st.st_mode);
    // A FIFO's size is known only once read: room for the largest file
    // accepted, which anonymous memory backs only as it is written.
    text_size_ = (fifo ? kMaxFileSize : static_cast<size_t>(st.st_size)) + 1;
    void *p = mmap(nullptr, text_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        close(fd);
        text_size_ = 0;
        error_prefix(err, path);
        err.str("out of memory; no suppressions applied\n");
        return false;
    }
    text_ = static_cast<char *>(p);
    size_t got = 0;
    // A FIFO is read until its writers close it, waiting at most
    // kPipeWaitMs in all for a writer to connect or to write: one that
    // does neither loses its suppressions rather than holding the
    // program's exit.
    const uint64_t deadline = fifo ? monotonic_ms() + kPipeWaitMs : 0;
    while (got + 1 < text_size_) {
        ssize_t n = read(fd, text_ + got, text_size_ - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        // A FIFO reads as ended while no writer has opened it yet.
        const bool waiting = fifo && ((n < 0 && errno == EAGAIN) || (n == 0 && got == 0));
        if (waiting) {
            const uint64_t now = monotonic_ms();
            if (now < deadline) {
                struct pollfd pfd = {fd, POLLIN, 0};
                if (n < 0)
                    poll(&pfd, 1, static_cast<int>(deadline - now));
                else
                    poll(nullptr, 0, 10);
                continue;
            }
            if (n == 0 || got != 0)
                break;
        }
        if (n < 0) {
            const int read_errno = errno;
            close(fd);
            error_prefix(err, path);
            if (read_errno == EAGAIN)
                err.str("its writer sent nothing for ").dec(kPipeWaitMs).str(" ms");
            else
                err.str("cannot read: ").str(strerrordesc_np(read_errno));
            err.str("; no suppressions applied\n");
            return false;
        }
        if (n == 0)
            break;
        got += static_cast<size_t>(n);
    }
    close(fd);
    if (fifo && got + 1 == text_size_) {
        error_prefix(err, path);
        err.str("larger than ").dec(kMaxFileSize >> 20).str(" MiB; no suppressions applied\n");
        return false;
    }

    unsigned lineno = 0;
    size_t at = 0;
    while (at < got) {
        const char *nl = static_cast<const char *>(memchr(text_ + at, '\n', got - at));
        const size_t end = nl ? static_cast<size_t>(nl - text_) : got;
        ++lineno;
        size_t b = at, e = end;
        at = end + 1;
        while (b < e && is_blank(text_[b]))
            ++b;
        while (e > b && is_blank(text_[e - 1]))
            --e;
        if (b == e || text_[b] == '#')
            continue;
        const size_t line_b = b, line_e = e;
        const char *problem = nullptr;
        if (e - b < 5 || memcmp(text_ + b, "leak:", 5) != 0) {
            problem = "expected `leak:PATTERN`, got `";
        } else {
            b += 5;
            while (b < e && is_blank(text_[b]))
                ++b;
            // Anchors alone leave nothing to match.
            const size_t n = e - b;
            if (n == 0 || (n == 1 && (text_[b] == '^' || text_[b] == '$')) ||
                (n == 2 && text_[b] == '^' && text_[b + 1] == '$'))
                problem = "empty pattern in `";
        }
        if (problem != nullptr) {
            const size_t shown = line_e - line_b < 200 ? line_e - line_b : 200;
            error_prefix(err, path);
            err.str("line ").dec(lineno).str(": ").str(problem);
            err.str(text_ + line_b, shown).str("`; no suppressions applied\n");
            patterns_.resize(0);
            return false;
        }
        if (!patterns_.push(Pattern{static_cast<uint32_t>(b), static_cast<uint32_t>(e - b)})) {
            error_prefix(err, path);
            err.str("out of memory; no suppressions applied\n");
            patterns_.resize(0);
            return false;
        }
    }
    return true;
}

int Suppressions::match(const char *function, const char *file, const char *object) const {
    for (size_t i = 0; i < patterns_.size(); ++i) {
        const char *p = text_ + patterns_[i].offset;
        const size_t n = patterns_[i].length;
        if (pattern_match(p, n, function) || pattern_match(p, n, file) || pattern_match(p, n, object))
            return static_cast<int>(i);
    }
    return -1;
}

}  // namespace memleak::report
