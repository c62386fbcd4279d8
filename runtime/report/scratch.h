// A growable array of plain values in anonymous mmap memory: the report
// runs while other threads allocate and after freeres, so it keeps its
// working sets off the heap it is reporting on. The memory is published as
// the runtime's own (it holds block addresses during the exit scan).
#pragma once

#include <cstddef>
#include <cstring>
#include <type_traits>

#include "table/internal_alloc.h"

namespace memleak::report {

template <typename T>
class Scratch {
    static_assert(std::is_trivially_copyable<T>::value, "plain values only");

public:
    Scratch() = default;
    ~Scratch() {
        if (data_ != nullptr)
            unmap_pages(data_, capacity_ * sizeof(T));
    }
    Scratch(const Scratch &) = delete;
    Scratch &operator=(const Scratch &) = delete;

    // Room for at least `n` elements, growing geometrically when it can;
    // false when the kernel refuses even `n`.
    bool reserve(size_t n) {
        if (n <= capacity_)
            return true;
        return (n < capacity_ * 2 && remap(capacity_ * 2)) || remap(n);
    }

    bool push(const T &v) {
        if (size_ == capacity_ && !reserve(capacity_ < 256 ? 256 : capacity_ * 2))
            return false;
        data_[size_++] = v;
        return true;
    }

    void swap(Scratch &other) {
        T *d = data_;
        data_ = other.data_;
        other.data_ = d;
        size_t n = size_;
        size_ = other.size_;
        other.size_ = n;
        n = capacity_;
        capacity_ = other.capacity_;
        other.capacity_ = n;
    }

    T *data() { return data_; }
    const T *data() const { return data_; }
    size_t size() const { return size_; }
    size_t capacity() const { return capacity_; }
    void resize(size_t n) { size_ = n; }  // n <= capacity()
    T &operator[](size_t i) { return data_[i]; }
    const T &operator[](size_t i) const { return data_[i]; }
    T *begin() { return data_; }
    T *end() { return data_ + size_; }
    const T *begin() const { return data_; }
    const T *end() const { return data_ + size_; }

private:
    bool remap(size_t n) {
        const size_t bytes = (n * sizeof(T) + 65535) & ~static_cast<size_t>(65535);
        void *p = map_pages(bytes, MEMLEAK_REGION_REPORT);
        if (p == nullptr)
            return false;
        if (data_ != nullptr) {
            memcpy(p, data_, size_ * sizeof(T));
            unmap_pages(data_, capacity_ * sizeof(T));
        }
        data_ = static_cast<T *>(p);
        capacity_ = bytes / sizeof(T);
        return true;
    }

    T *data_ = nullptr;
    size_t size_ = 0;
    size_t capacity_ = 0;
};

}  // namespace memleak::report
