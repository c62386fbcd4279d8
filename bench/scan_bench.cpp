// Scan rate of the reachability scanner against the machine's memory
// bandwidth, measured in the same run on the same bytes.
//
// A synthetic heap of BLOCKS blocks (sizes 16..1024 bytes, 16-byte gaps
// between them as malloc's chunk headers leave) is filled like a real heap:
// POINTERS percent of its words point into blocks (3/4 to a start, 1/8
// interior, 1/8 stale into a chunk header), LOCAL percent of those to a
// block within 256 places, the others anywhere; the rest are zeros, small
// integers, text, doubles and random bits. A data area of root pointers
// keeps most blocks reachable.
//
// The scan runs twice: "in process" (one segment: the memory itself, as
// the runtime scans at exit) and "from a reader" (the same bytes as 1 MiB
// segments, as gdb passes chunks it read). Baselines: a loop summing every
// word of the heap, memcpy of the heap in 64 MiB pieces, and independent
// random 8-byte reads over the heap, as many as the heap has words that may
// be pointers.
//
// Usage: memleak_scan_bench [BLOCKS [REPEAT [POINTERS [LOCAL]]]]
//        (default 1000000 blocks, best of 3, 25% pointer words, 0% local)
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include <memleak/scan.h>

namespace {

// The machine is shared: besides wall time, each figure is also taken in
// this thread's CPU time, which other processes' load changes far less.
struct Timing {
    double wall = 1e30;
    double cpu = 1e30;
};

double now(clockid_t clock) {
    timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

template <typename F>
Timing best_of(int repeat, F &&f) {
    Timing best;
    for (int i = 0; i < repeat; ++i) {
        const double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_THREAD_CPUTIME_ID);
        f();
        best.cpu = std::min(best.cpu, now(CLOCK_THREAD_CPUTIME_ID) - c0);
        best.wall = std::min(best.wall, now(CLOCK_MONOTONIC) - w0);
    }
    return best;
}

struct Heap {
    uint8_t *base = nullptr;
    size_t bytes = 0;
    std::vector<memleak_scan_block_t> blocks;
};

struct Shape {
    uint64_t pointer_percent;  // words that hold a heap pointer
    uint64_t local_percent;    // of those, pointers to a block nearby
};

Heap build_heap(uint64_t count, const Shape &shape, std::mt19937_64 &rng) {
    Heap h;
    std::vector<uint64_t> sizes(count);
    size_t total = 0;
    for (auto &s : sizes) {
        // Mostly small blocks, as heaps have: 16..256 often, up to 1024.
        s = 16 * (1 + (rng() % 4 ? rng() % 16 : rng() % 64));
        total += s + 16;
    }
    h.bytes = total + 16;
    void *p = mmap(nullptr, h.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    h.base = static_cast<uint8_t *>(p);
    uint64_t at = reinterpret_cast<uint64_t>(h.base) + 16;
    h.blocks.reserve(count);
    for (uint64_t s : sizes) {
        h.blocks.push_back({at, s});
        at += s + 16;
    }
    for (size_t i = 0; i < h.blocks.size(); ++i) {
        uint64_t *w = reinterpret_cast<uint64_t *>(h.blocks[i].address);
        for (uint64_t k = 0; k < h.blocks[i].size / 8; ++k) {
            uint64_t r = rng();
            const uint64_t pick = r % 100;
            if (pick < shape.pointer_percent) {
                uint64_t t = (r >> 8) % h.blocks.size();
                if ((r >> 40) % 100 < shape.local_percent)  // a neighbour, as linked data often is
                    t = std::min<uint64_t>(h.blocks.size() - 1,
                                           i + (r >> 48) % 512 - std::min<uint64_t>(i, 256));
                const memleak_scan_block_t &target = h.blocks[t];
                switch ((r >> 20) % 8) {
                case 0:
                    w[k] = target.address + 8 * ((r >> 24) % (target.size / 8));  // interior
                    break;
                case 1:
                    w[k] = target.address - 16;  // stale: into a chunk header
                    break;
                default:
                    w[k] = target.address;
                }
                continue;
            }
            switch (pick % 12) {
            case 0:
            case 1:
            case 2:
            case 3:
            case 4:
            case 5:
                w[k] = 0;
                break;
            case 6:
            case 7:
                w[k] = r >> 50;  // small integers
                break;
            case 8:
                w[k] = 0x6f6c6c6568202c61ull ^ (r >> 40);  // text
                break;
            case 9: {
                double d = static_cast<double>(r >> 11) * 1e-3;
                memcpy(&w[k], &d, 8);
                break;
            }
            default:
                w[k] = r;  // random bits: hashes, ids
            }
        }
    }
    return h;
}

}  // namespace

int main(int argc, char **argv) {
    const uint64_t count = argc > 1 ? strtoull(argv[1], nullptr, 10) : 1000000;
    const int repeat = argc > 2 ? atoi(argv[2]) : 3;
    const Shape shape{argc > 3 ? strtoull(argv[3], nullptr, 10) : 25,
                      argc > 4 ? strtoull(argv[4], nullptr, 10) : 0};
    std::mt19937_64 rng(42);
    const double t0 = now(CLOCK_MONOTONIC);
    Heap heap = build_heap(count, shape, rng);
    std::vector<uint64_t> data(count / 50 + 1);
    for (auto &d : data)
        d = heap.blocks[rng() % heap.blocks.size()].address;
    const double build = now(CLOCK_MONOTONIC) - t0;

    // Baselines over the same heap bytes.
    volatile uint64_t sink = 0;
    const Timing read_s = best_of(repeat, [&] {
        const uint64_t *w = reinterpret_cast<const uint64_t *>(heap.base);
        uint64_t a = 0, b = 0, c = 0, d = 0;
        const size_t n = heap.bytes / 8 / 4 * 4;
        for (size_t i = 0; i < n; i += 4) {
            a += w[i];
            b ^= w[i + 1];
            c += w[i + 2];
            d ^= w[i + 3];
        }
        sink = a + b + c + d;
    });
    const size_t piece = size_t(64) << 20;
    std::vector<uint8_t> target(piece);
    const Timing copy_s = best_of(repeat, [&] {
        for (size_t off = 0; off < heap.bytes; off += piece)
            memcpy(target.data(), heap.base + off, std::min(piece, heap.bytes - off));
        sink = target[piece / 2];
    });
    // Resolving a word that may be a pointer is a few reads at random places
    // (the block index, the block's state): the machine's rate of
    // independent random 8-byte reads over the heap is the other baseline.
    const uint64_t lo = heap.blocks.front().address, hi = heap.blocks.back().address;
    uint64_t candidates = 0;
    for (size_t off = 0; off + 8 <= heap.bytes; off += 8) {
        uint64_t v;
        memcpy(&v, heap.base + off, 8);
        candidates += v - lo <= hi - lo;
    }
    std::vector<uint32_t> places(candidates);
    for (auto &p : places)
        p = static_cast<uint32_t>(rng() % (heap.bytes / 8));
    const Timing random_s = best_of(repeat, [&] {
        const uint64_t *w = reinterpret_cast<const uint64_t *>(heap.base);
        uint64_t a = 0;
        for (uint32_t p : places)
            a += w[p];
        sink = a;
    });

    std::vector<memleak_scan_segment_t> one{
        {reinterpret_cast<uint64_t>(heap.base), heap.bytes, heap.base, 0, 0},
        {reinterpret_cast<uint64_t>(data.data()), data.size() * 8, data.data(), 0, 0}};
    std::sort(one.begin(), one.end(), [](auto &x, auto &y) { return x.address < y.address; });
    std::vector<memleak_scan_segment_t> chunked;
    for (size_t off = 0; off < heap.bytes; off += size_t(1) << 20)
        chunked.push_back({reinterpret_cast<uint64_t>(heap.base) + off,
                           std::min(size_t(1) << 20, heap.bytes - off), heap.base + off, 0, 0});
    chunked.push_back(one[0].address == reinterpret_cast<uint64_t>(heap.base) ? one[1] : one[0]);
    std::sort(chunked.begin(), chunked.end(), [](auto &x, auto &y) { return x.address < y.address; });

    memleak_scan_root_t root{reinterpret_cast<uint64_t>(data.data()), data.size() * 8, nullptr,
                             MEMLEAK_SCAN_ROOT_DATA, 0};
    std::vector<uint8_t> kinds(count);
    std::vector<memleak_scan_ref_t> preds(count);
    memleak_scan_result_t result{};

    auto run = [&](const std::vector<memleak_scan_segment_t> &segments, bool with_preds) {
        memleak_scan_input_t in{};
        in.blocks = heap.blocks.data();
        in.block_count = heap.blocks.size();
        in.segments = segments.data();
        in.segment_count = segments.size();
        in.roots = &root;
        in.root_count = 1;
        in.heuristics = MEMLEAK_SCAN_HEURISTICS_ALL;
        result = memleak_scan_result_t{};
        result.kinds = kinds.data();
        result.predecessors = with_preds ? preds.data() : nullptr;
        if (memleak_scan_classify(&in, &result) != MEMLEAK_SCAN_OK) {
            fprintf(stderr, "scan failed: %s\n", result.message);
            exit(1);
        }
    };
    const Timing in_process = best_of(repeat, [&] { run(one, false); });
    const Timing reader = best_of(repeat, [&] { run(chunked, true); });

    const double gb = 1e9;
    const double heap_gb = heap.bytes / gb;
    const double scanned_gb = result.scanned_bytes / gb;
    printf(
        "blocks %llu, heap %.0f MB (built in %.1f s), %llu%% pointer words (%llu%% local), "
        "scanned %.0f MB per classification\n",
        static_cast<unsigned long long>(count), heap.bytes / 1e6, build,
        (unsigned long long)shape.pointer_percent, (unsigned long long)shape.local_percent,
        result.scanned_bytes / 1e6);
    printf("classes: reachable %llu, possibly %llu, indirectly %llu, definitely %llu\n",
           (unsigned long long)result.class_blocks[MEMLEAK_SCAN_STILL_REACHABLE],
           (unsigned long long)result.class_blocks[MEMLEAK_SCAN_POSSIBLY_LOST],
           (unsigned long long)result.class_blocks[MEMLEAK_SCAN_INDIRECTLY_LOST],
           (unsigned long long)result.class_blocks[MEMLEAK_SCAN_DEFINITELY_LOST]);
    auto rate = [](double gigabytes, const Timing &t, bool cpu) {
        return gigabytes / (cpu ? t.cpu : t.wall);
    };
    printf("words that may be pointers (inside the blocks' span): %llu\n", (unsigned long long)candidates);
    for (bool cpu : {false, true}) {
        const double read = rate(heap_gb, read_s, cpu);
        const double random_reads = candidates / (cpu ? random_s.cpu : random_s.wall);
        printf("%s time: read loop %.2f GB/s, memcpy %.2f GB/s, random reads %.1f M/s\n",
               cpu ? "CPU" : "wall", read, rate(heap_gb, copy_s, cpu), random_reads / 1e6);
        for (int which = 0; which < 2; ++which) {
            const Timing &t = which ? reader : in_process;
            const double secs = cpu ? t.cpu : t.wall;
            printf(
                "  scan %s: %.3f s = %.2f GB/s = %.2f x the read loop; %.1f random reads' time "
                "per word that may be a pointer\n",
                which ? "as a reader (1 MiB segments, with chains)" : "in process (1 segment)", secs,
                scanned_gb / secs, scanned_gb / secs / read, secs * random_reads / candidates);
        }
    }
    return 0;
}
