// A malloc-heavy workload shaped like a service rather than a malloc loop:
// a working set of live blocks (a cache) replaced at random, every block
// allocated 15 to 25 frames below main through a chain of non-inlined functions
// (many distinct stacks, as handlers and layers give a real program), sizes
// mostly 16 B - 4 KiB with a tail up to 64 KiB, every block filled when made
// and checked when dropped, and some blocks resized with realloc.
//
// Sizes follow call sites, as in a real program: most sites allocate one
// type, so each has a fixed object size, drawn once from the distribution
// above; about one site in eight allocates a growable buffer, whose capacity
// doubles from a small base as std::vector's and std::string's do. A tool
// therefore sees a few thousand distinct (size, stack) pairs, however many
// operations run, rather than a new pair for nearly every block.
//
//   churn [--threads 1|2] [--ops N] [--live N] [--seed N]
//
// --threads 2 runs a producer that allocates and fills blocks and a consumer
// that owns the working set: every free and realloc then happens on another
// thread than the allocation. Both modes do the same work and print the same
// kind of checksum line, which is identical from run to run for given
// arguments (a tool that changes it has corrupted the program).
#include <array>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace {

constexpr int kMinDepth = 12;
constexpr int kMaxDepth = 22;

struct Rng {
    uint64_t state;
    uint64_t next() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    }
};

// Every block starts with this header; the rest is filled with a pattern
// derived from it, so a dropped block can be checked cheaply.
struct Header {
    uint64_t size;
    uint64_t tag;
};

size_t pick_size(Rng &rng) {
    uint64_t r = rng.next();
    unsigned bucket = r % 1000;
    r >>= 10;
    if (bucket < 600)
        return 16 + r % 241;  // 16 B - 256 B
    if (bucket < 900)
        return 257 + r % 768;  // - 1 KiB
    if (bucket < 990)
        return 1025 + r % 3072;     // - 4 KiB
    return 4097 + r % (60 * 1024);  // - 64 KiB
}

constexpr int kRoutes = 64;
constexpr int kSites = kRoutes * (kMaxDepth - kMinDepth + 1);
constexpr size_t kMaxBlock = 64 * 1024;

// An allocation site is a (route, depth) pair, that is one path of calls.
// Its sizes belong to the program, not to a run, so they ignore --seed.
struct Site {
    size_t size;  // the object's size, or the buffer's smallest capacity
    bool buffer;
};

std::array<Site, kSites> make_sites() {
    std::array<Site, kSites> sites{};
    Rng rng{0x51735};
    for (Site &site : sites) {
        site.buffer = rng.next() % 8 == 0;
        site.size = site.buffer ? 16 + rng.next() % 241 : pick_size(rng);
    }
    return sites;
}

const std::array<Site, kSites> kSiteTable = make_sites();

// A buffer has grown k times with probability 2^-(k+1): most stay small, a
// few reach the 64 KiB tail.
size_t site_size(const Site &site, Rng &rng) {
    if (!site.buffer)
        return site.size;
    size_t size = site.size;
    for (uint64_t r = rng.next(); (r & 1) && size * 2 <= kMaxBlock; r >>= 1)
        size *= 2;
    return size;
}

void fill(void *p, size_t size, uint64_t tag) {
    if (size >= sizeof(Header)) {
        Header h{size, tag};
        std::memcpy(p, &h, sizeof h);
        std::memset(static_cast<char *>(p) + sizeof h, static_cast<int>(tag & 0xff), size - sizeof h);
    } else {
        std::memset(p, static_cast<int>(tag & 0xff), size);
    }
}

// Reads the header and a byte from each end; returns a value folded into
// the checksum, so a block that was corrupted changes the output.
uint64_t inspect(const void *p) {
    Header h;
    std::memcpy(&h, p, sizeof h);
    const unsigned char *bytes = static_cast<const unsigned char *>(p);
    size_t body = h.size > sizeof h ? sizeof h : 0;
    return h.tag * 31 + h.size + bytes[body] + bytes[h.size - 1];
}

struct Request {
    size_t size;
    uint64_t route;  // picks one of two functions at each level
    int depth;       // level at which the allocation happens
    void *old;       // non-null: realloc this block
    uint64_t tag;
    uint64_t trail;  // written after each call, so no call is a tail call
};

__attribute__((noinline)) void *make_block(Request &rq) {
    void *p;
    if (rq.old) {
        p = std::realloc(rq.old, rq.size);
    } else if ((rq.tag & 31) == 0) {
        p = std::calloc(1, rq.size);
    } else {
        p = std::malloc(rq.size);
    }
    if (!p) {
        std::fprintf(stderr, "churn: out of memory for %zu bytes\n", rq.size);
        std::exit(1);
    }
    fill(p, rq.size, rq.tag);
    return p;
}

template <int N, bool Alt>
__attribute__((noinline)) void *layer(Request &rq) {
    void *p;
    if constexpr (N >= kMaxDepth) {
        p = make_block(rq);
    } else {
        if (N >= rq.depth)
            p = make_block(rq);
        else if ((rq.route >> (N % 16)) & 1)
            p = layer<N + 1, true>(rq);
        else
            p = layer<N + 1, false>(rq);
    }
    rq.trail = rq.trail * 31 + N * 2 + Alt;
    return p;
}

// A block of the given tag and size, allocated (or, with `old`, resized)
// at a depth and along a path that the tag's generator chose.
void *allocate(Rng &rng, uint64_t tag, void *old) {
    Request rq{};
    rq.route = rng.next() % kRoutes;  // 64 paths per depth: about 700 stacks in all
    rq.depth = kMinDepth + static_cast<int>(rng.next() % (kMaxDepth - kMinDepth + 1));
    rq.size = site_size(kSiteTable[(rq.depth - kMinDepth) * kRoutes + rq.route], rng);
    rq.old = old;
    rq.tag = tag;
    return layer<0, false>(rq);
}

struct Options {
    int threads = 1;
    long ops = 1000000;
    long live = 100000;
    uint64_t seed = 42;
};

// The working set: holds `live` blocks, replaces one at random per
// incoming block, and now and then resizes one in place of a new block.
class Cache {
public:
    Cache(long live, uint64_t seed) : slots_(live, nullptr), rng_{seed * 2654435761u + 1} {}
    ~Cache() {
        for (void *p : slots_)
            if (p) {
                checksum_ += inspect(p);
                std::free(p);
            }
    }
    void put(void *block) {
        size_t i = rng_.next() % slots_.size();
        if (void *old = slots_[i]) {
            checksum_ += inspect(old);
            std::free(old);
        }
        slots_[i] = block;
        if (rng_.next() % 20 == 0) {
            size_t j = rng_.next() % slots_.size();
            if (slots_[j]) {
                checksum_ += inspect(slots_[j]);
                slots_[j] = allocate(rng_, ++resizes_ ^ 0x5eed, slots_[j]);
            }
        }
    }
    uint64_t checksum() const { return checksum_; }

private:
    std::vector<void *> slots_;
    Rng rng_;
    uint64_t checksum_ = 0;
    uint64_t resizes_ = 0;
};

uint64_t run_single(const Options &o) {
    Rng rng{o.seed};
    uint64_t checksum;
    {
        Cache cache(o.live, o.seed);
        for (long i = 0; i < o.ops; ++i)
            cache.put(allocate(rng, static_cast<uint64_t>(i), nullptr));
        checksum = cache.checksum();
    }
    return checksum;
}

// Batches of blocks handed from producer to consumer; bounded so that the
// producer cannot run ahead of the consumer without limit.
class Queue {
public:
    void push(std::vector<void *> batch) {
        std::unique_lock<std::mutex> lock(mu_);
        not_full_.wait(lock, [&] { return batches_.size() < kMaxBatches; });
        batches_.push_back(std::move(batch));
        not_empty_.notify_one();
    }
    std::vector<void *> pop() {
        std::unique_lock<std::mutex> lock(mu_);
        not_empty_.wait(lock, [&] { return !batches_.empty(); });
        std::vector<void *> batch = std::move(batches_.front());
        batches_.pop_front();
        not_full_.notify_one();
        return batch;
    }

private:
    static constexpr size_t kMaxBatches = 32;
    std::mutex mu_;
    std::condition_variable not_full_, not_empty_;
    std::deque<std::vector<void *>> batches_;
};

uint64_t run_threads(const Options &o) {
    constexpr long kBatch = 256;
    Queue queue;
    std::thread producer([&] {
        Rng rng{o.seed};
        for (long i = 0; i < o.ops;) {
            std::vector<void *> batch;
            batch.reserve(kBatch);
            for (long k = 0; k < kBatch && i < o.ops; ++k, ++i)
                batch.push_back(allocate(rng, static_cast<uint64_t>(i), nullptr));
            queue.push(std::move(batch));
        }
        queue.push({});
    });
    uint64_t checksum;
    {
        Cache cache(o.live, o.seed);
        for (;;) {
            std::vector<void *> batch = queue.pop();
            if (batch.empty())
                break;
            for (void *p : batch)
                cache.put(p);
        }
        producer.join();
        checksum = cache.checksum();
    }
    return checksum;
}

bool parse_long(const char *text, long min, long max, long *out) {
    char *end = nullptr;
    long v = std::strtol(text, &end, 10);
    if (!text[0] || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

}  // namespace

int main(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        long v = 0;
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : "";
        bool ok = true;
        if (!std::strcmp(arg, "--threads")) {
            ok = parse_long(val, 1, 2, &v) && (o.threads = static_cast<int>(v), true);
        } else if (!std::strcmp(arg, "--ops")) {
            ok = parse_long(val, 1, 1L << 40, &v) && (o.ops = v, true);
        } else if (!std::strcmp(arg, "--live")) {
            ok = parse_long(val, 1, 1L << 30, &v) && (o.live = v, true);
        } else if (!std::strcmp(arg, "--seed")) {
            ok = parse_long(val, 1, 1L << 62, &v) && (o.seed = static_cast<uint64_t>(v), true);
        } else {
            std::fprintf(stderr, "usage: churn [--threads 1|2] [--ops N] [--live N] [--seed N]\n");
            return 2;
        }
        if (!ok) {
            std::fprintf(stderr, "churn: bad value for %s: '%s'\n", arg, val);
            return 2;
        }
        ++i;
    }
    uint64_t checksum = o.threads == 1 ? run_single(o) : run_threads(o);
    std::printf("churn threads=%d ops=%ld live=%ld checksum=%016llx\n", o.threads, o.ops, o.live,
                static_cast<unsigned long long>(checksum));
    return 0;
}
