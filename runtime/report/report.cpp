#include "report/report.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "table/futex_lock.h"
#include "core/options.h"
#include "core/reentry_guard.h"
#include "report/scratch.h"
#include "report/stop_world.h"
#include "report/suppressions.h"
#include "report/symbolizer.h"
#include "report/writer.h"
#include "memleak/abi.h"
#include "memleak/memleak.h"
#include "memleak/table_reader.h"

namespace memleak::report {
namespace {

using Item = BlockItem;

struct Group {
    uint64_t bytes;
    uint64_t count;
    uint32_t stack_id;
    int32_t suppressed_by;  // pattern index, -1: not suppressed
    uint32_t kind;          // MEMLEAK_SCAN_* class, or kUnclassified
    uint32_t unused;
};

const char *kind_words(uint32_t kind) {
    switch (kind) {
    case MEMLEAK_SCAN_DEFINITELY_LOST:
        return " definitely lost,";
    case MEMLEAK_SCAN_INDIRECTLY_LOST:
        return " indirectly lost,";
    case MEMLEAK_SCAN_POSSIBLY_LOST:
        return " possibly lost,";
    case MEMLEAK_SCAN_STILL_REACHABLE:
        return " still reachable,";
    default:
        return "";
    }
}

// A thread that took the lock and was then interrupted by a signal whose
// handler called exit() would wait forever on futex_lock, so the report
// waits a bounded time and otherwise reads the shard as it is.
bool lock_shard(uint32_t *word) {
    for (int i = 0; i < 3000; ++i) {
        uint32_t expected = 0;
        if (__atomic_compare_exchange_n(word, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return true;
        if (i < 64) {
            cpu_relax();
        } else if (i < 1000) {
            sched_yield();
        } else {
            const timespec pause = {0, 1000000};
            nanosleep(&pause, nullptr);
        }
    }
    return false;
}

// Keeps one block in the copy; stops the shard's walk when the copy is full.
int copy_block(void *p, const memleak_table_block_t *b) {
    Scratch<Item> &items = *static_cast<Scratch<Item> *>(p);
    if (items.size() == items.capacity())
        return 1;
    items.push(Item{b->size, b->stack_id, kUnclassified});
    return 0;
}

// Copies size and stack id of every live record, one shard at a time: lock,
// copy into memory reserved beforehand, unlock. Returns false when memory
// for the copy cannot be had; a table the reader refuses ends the copy with
// its status in *status.
bool snapshot(memleak_table_t *table, Scratch<Item> &items, unsigned *in_flux, int *status) {
    const uint32_t shard_count = table->header.shard_count;
    // One reservation for the whole table as it is now, plus some room for
    // what other threads add meanwhile, so copying rarely has to regrow.
    uint64_t expected = 0;
    memleak_shard_t shard;
    for (uint32_t s = 0; s < shard_count; ++s) {
        if ((*status = memleak_table_shard(table, s, &shard)) != MEMLEAK_TABLE_OK)
            return true;
        expected += shard.live_count;
    }
    if (!items.reserve(expected + expected / 8 + 1024))
        return false;
    for (uint32_t s = 0; s < shard_count; ++s) {
        auto *lock = reinterpret_cast<uint32_t *>(memleak_table_shard_address(table, s) +
                                                  offsetof(memleak_shard_t, lock));
        for (int attempt = 0;; ++attempt) {
            if ((*status = memleak_table_shard(table, s, &shard)) != MEMLEAK_TABLE_OK)
                return true;
            if (!items.reserve(items.size() + shard.live_count + 64))
                return false;
            const bool locked = lock_shard(lock);
            if (!locked)
                ++*in_flux;
            if ((*status = memleak_table_shard(table, s, &shard)) != MEMLEAK_TABLE_OK) {
                if (locked)
                    futex_unlock(lock);
                return true;
            }
            const uint64_t room = items.capacity() - items.size();
            if (locked && shard.live_count > room && attempt < 4) {
                futex_unlock(lock);
                continue;
            }
            *status = memleak_table_shard_blocks(table, s, &shard, copy_block, &items);
            if (locked)
                futex_unlock(lock);
            if (*status == MEMLEAK_TABLE_STOPPED)
                *status = MEMLEAK_TABLE_OK;
            if (*status != MEMLEAK_TABLE_OK)
                return true;
            break;
        }
    }
    return true;
}

// The return addresses of stack `id`, innermost first, where they lie in
// this process; false if the id does not name a complete entry.
bool find_stack(memleak_table_t *table, uint32_t id, const uint64_t **pcs, unsigned *depth, bool *truncated) {
    memleak_table_stack_t stack;
    if (id == 0 || memleak_table_stack(table, id, &stack) != MEMLEAK_TABLE_OK)
        return false;
    *pcs = reinterpret_cast<const uint64_t *>(stack.pcs);
    *depth = stack.depth;
    *truncated = (stack.flags & MEMLEAK_STACK_TRUNCATED) != 0;
    return true;
}

// operator new calls malloc, so its frame comes first in a stack from
// libstdc++; the user's `new` expression is the frame after it.
unsigned first_user_frame(Symbolizer &sym, const uint64_t *pcs, unsigned depth) {
    unsigned i = 0;
    while (i + 1 < depth && sym.in_operator_new(pcs[i]))
        ++i;
    return i;
}

const char *plural(uint64_t n, const char *one, const char *many) { return n == 1 ? one : many; }

// Suppression verdicts per return address: stacks share most of their
// frames, and symbolizing is what costs. Open addressing, pc 0 never stored.
class VerdictCache {
public:
    // Returns the slot for `pc`: `found` tells whether it holds a verdict.
    // Null when memory ran out (the caller then computes without caching).
    int32_t *slot(uint64_t pc, bool *found) {
        if (table_.size() == 0 || (used_ + 1) * 2 > table_.size()) {
            if (!grow())
                return nullptr;
        }
        const size_t mask = table_.size() - 1;
        for (size_t i = hash(pc) & mask;; i = (i + 1) & mask) {
            Entry &e = table_[i];
            if (e.pc == pc) {
                *found = true;
                return &e.verdict;
            }
            if (e.pc == 0) {
                e.pc = pc;
                ++used_;
                *found = false;
                return &e.verdict;
            }
        }
    }

private:
    struct Entry {
        uint64_t pc;
        int32_t verdict;
        int32_t unused;
    };
    static size_t hash(uint64_t pc) { return static_cast<size_t>((pc * 0x9e3779b97f4a7c15ull) >> 20); }

    bool grow() {
        const size_t size = table_.size() == 0 ? 4096 : table_.size() * 2;
        Scratch<Entry> bigger;
        if (!bigger.reserve(size))
            return false;
        bigger.resize(size);  // anonymous mmap memory is zeroed: all empty
        const size_t mask = size - 1;
        for (const Entry &e : table_) {
            if (e.pc == 0)
                continue;
            size_t i = hash(e.pc) & mask;
            while (bigger[i].pc != 0)
                i = (i + 1) & mask;
            bigger[i] = e;
        }
        table_.swap(bigger);
        return true;
    }

    Scratch<Entry> table_;
    size_t used_ = 0;
};

struct SuppressCtx {
    const Suppressions *supp;
    int hit;
};

bool suppress_frame(const Frame &f, void *p) {
    auto *ctx = static_cast<SuppressCtx *>(p);
    // The name as shown and as the demangler spells it: a file written for
    // LeakSanitizer names std::__cxx11::basic_string<...>.
    ctx->hit = ctx->supp->match(f.function, f.file, f.object);
    if (ctx->hit < 0 && f.raw_function != f.function)
        ctx->hit = ctx->supp->match(f.raw_function, nullptr, nullptr);
    return ctx->hit < 0;
}

struct PrintCtx {
    Writer *out;
    unsigned shown;
    unsigned limit;
    uint64_t hidden;
};

bool print_frame(const Frame &f, void *p) {
    auto *ctx = static_cast<PrintCtx *>(p);
    if (ctx->shown >= ctx->limit) {
        ++ctx->hidden;
        return true;
    }
    Writer &w = *ctx->out;
    w.str("    #").dec(ctx->shown++).str(" 0x").hex(f.pc);
    if (f.function != nullptr || f.file != nullptr)
        w.str(" in ").str(f.function ? f.function : "??");
    if (f.file != nullptr) {
        w.ch(' ').str(f.file);
        if (f.line != 0)
            w.ch(':').dec(f.line);
        if (f.inlined)
            w.str(" (inlined)");
    } else if (f.object != nullptr) {
        w.str(" (").str(f.object).str("+0x").hex(f.offset).ch(')');
    }
    w.ch('\n');
    return true;
}

void print_group(Writer &w, memleak_table_t *table, Symbolizer &sym, const Group &g,
                 const Settings &settings) {
    w.dec(g.bytes)
        .str(" bytes in ")
        .dec(g.count)
        .str(" block(s)")
        .str(kind_words(g.kind))
        .str(" allocated from:\n");
    const uint64_t *pcs = nullptr;
    unsigned depth = 0;
    bool truncated = false;
    if (!find_stack(table, g.stack_id, &pcs, &depth, &truncated)) {
        w.str("    (no stack was recorded)\n\n");
        return;
    }
    PrintCtx ctx{&w, 0, settings.frames, 0};
    for (unsigned i = first_user_frame(sym, pcs, depth); i < depth; ++i)
        sym.frames(pcs[i], print_frame, &ctx);
    if (ctx.hidden != 0)
        w.str("    ... ")
            .dec(ctx.hidden)
            .str(plural(ctx.hidden, " more frame", " more frames"))
            .str(" (MEMLEAK_REPORT_FRAMES=")
            .dec(settings.frames)
            .str(")\n");
    else if (truncated)
        w.str("    ... deeper frames were not recorded (MEMLEAK_DEPTH=")
            .dec(table->header.max_depth)
            .str(")\n");
    w.ch('\n');
}

}  // namespace

int write_report(const memleak_introspect_t *ix, int fd, const Settings &settings, Totals *totals) {
    *totals = Totals{};
    Writer w(fd);
    memleak_table_t table;
    int status = memleak_table_open(&table, memleak_table_read_self, nullptr, reinterpret_cast<uint64_t>(ix));
    if (status != MEMLEAK_TABLE_OK) {
        w.str("memleak: the allocation table is not readable: ").str(table.error).ch('\n');
        w.flush();
        return w.error();
    }

    const bool classified =
        settings.scan != nullptr && settings.scan->classified && settings.classified != nullptr;
    Scratch<Item> own_items;
    Scratch<Item> &items = classified ? *settings.classified : own_items;
    unsigned in_flux = classified ? settings.scan->in_flux : 0;
    if (!classified && !snapshot(&table, items, &in_flux, &status)) {
        w.str("memleak: out of memory for the report's copy of the table\n");
        w.flush();
        return w.error();
    }
    if (status != MEMLEAK_TABLE_OK) {
        w.str("memleak: the allocation table is not readable: ").str(table.error).ch('\n');
        w.flush();
        return w.error();
    }
    totals->classified = classified;
    if (items.size() == 0 && settings.at_exit)
        return 0;

    std::sort(items.begin(), items.end(), [](const Item &a, const Item &b) {
        return a.kind != b.kind ? a.kind < b.kind : a.stack_id < b.stack_id;
    });
    Scratch<Group> groups;
    if (!groups.reserve(items.size() + 1)) {
        w.str("memleak: out of memory for the report's copy of the table\n");
        w.flush();
        return w.error();
    }
    for (size_t i = 0; i < items.size(); ++i) {
        if (groups.size() == 0 || groups[groups.size() - 1].stack_id != items[i].stack_id ||
            groups[groups.size() - 1].kind != items[i].kind)
            groups.push(Group{0, 0, items[i].stack_id, -1, items[i].kind, 0});
        Group &g = groups[groups.size() - 1];
        g.bytes += items[i].size;
        g.count += 1;
    }
    std::sort(groups.begin(), groups.end(), [](const Group &a, const Group &b) {
        if (a.kind != b.kind)
            return a.kind < b.kind;
        if (a.bytes != b.bytes)
            return a.bytes > b.bytes;
        if (a.count != b.count)
            return a.count > b.count;
        return a.stack_id < b.stack_id;
    });

    if (classified && settings.at_exit && !settings.show_reachable &&
        std::none_of(groups.begin(), groups.end(),
                     [](const Group &g) { return g.kind != MEMLEAK_SCAN_STILL_REACHABLE; }))
        return 0;

    Symbolizer sym;
    sym.open(settings.debuginfod);

    Suppressions supp;
    unsigned patterns_used = 0;
    if (settings.suppressions != nullptr && settings.suppressions[0] != '\0' && items.size() != 0 &&
        supp.load(settings.suppressions, w) && !supp.empty()) {
        // Which patterns matched, for the "by K patterns" count; anonymous
        // mmap memory starts zeroed.
        Scratch<uint8_t> used;
        const bool count_patterns = used.reserve(supp.count());
        VerdictCache verdicts;
        for (Group &g : groups) {
            const uint64_t *pcs = nullptr;
            unsigned depth = 0;
            bool truncated = false;
            if (!find_stack(&table, g.stack_id, &pcs, &depth, &truncated))
                continue;
            int hit = -1;
            for (unsigned i = first_user_frame(sym, pcs, depth); i < depth && hit < 0; ++i) {
                bool known = false;
                int32_t *cached = pcs[i] != 0 ? verdicts.slot(pcs[i], &known) : nullptr;
                if (known) {
                    hit = *cached;
                    continue;
                }
                SuppressCtx ctx{&supp, -1};
                sym.frames(pcs[i], suppress_frame, &ctx);
                hit = ctx.hit;
                if (cached != nullptr)
                    *cached = hit;
            }
            g.suppressed_by = hit;
            if (hit >= 0 && count_patterns && used.data()[hit] == 0) {
                used.data()[hit] = 1;
                ++patterns_used;
            }
        }
    }

    // Stacks listed (or summed up as not shown), and still-reachable stacks
    // only counted when they are not listed.
    uint64_t stacks = 0, reachable_stacks = 0;
    const auto listed = [&](const Group &g) {
        return g.suppressed_by < 0 &&
               (!classified || settings.show_reachable || g.kind != MEMLEAK_SCAN_STILL_REACHABLE);
    };
    for (const Group &g : groups) {
        if (g.suppressed_by >= 0) {
            totals->suppressed_bytes += g.bytes;
            totals->suppressed_blocks += g.count;
            continue;
        }
        totals->bytes += g.bytes;
        totals->blocks += g.count;
        totals->kind_bytes[g.kind < 5 ? g.kind : 0] += g.bytes;
        totals->kind_blocks[g.kind < 5 ? g.kind : 0] += g.count;
        if (listed(g))
            ++stacks;
        else
            ++reachable_stacks;
    }
    if (classified && settings.at_exit && !settings.show_reachable && totals->failing_blocks() == 0 &&
        totals->suppressed_blocks == 0)
        return 0;

    w.str("==").dec(static_cast<uint64_t>(getpid())).str("== memleak: ");
    w.dec(totals->blocks).str(plural(totals->blocks, " live block (", " live blocks ("));
    w.human(totals->bytes).str(settings.at_exit ? ") at exit" : ") now");
    if (classified) {
        const uint64_t lost = totals->failing_blocks();
        const uint64_t reachable = totals->kind_blocks[MEMLEAK_SCAN_STILL_REACHABLE];
        w.str(": ").dec(lost).str(" lost (").human(totals->bytes -
                                                   totals->kind_bytes[MEMLEAK_SCAN_STILL_REACHABLE]);
        w.str(settings.show_reachable ? "), " : ") in ");
        if (!settings.show_reachable)
            w.dec(stacks).str(plural(stacks, " stack, ", " stacks, "));
        w.dec(reachable)
            .str(" still reachable (")
            .human(totals->kind_bytes[MEMLEAK_SCAN_STILL_REACHABLE])
            .ch(')');
        if (settings.show_reachable)
            w.str(", in ").dec(stacks).str(plural(stacks, " stack", " stacks"));
        w.ch('\n');
    } else {
        w.str(", in ").dec(stacks).str(plural(stacks, " stack\n", " stacks\n"));
    }
    if (settings.scan != nullptr && !classified)
        w.str("memleak: blocks not classified (")
            .str(settings.scan->why_not)
            .str("); every live block is listed and counts for MEMLEAK_EXITCODE\n");
    if (classified)
        w.str("memleak: exit scan: checked ")
            .dec(settings.scan->scanned_bytes)
            .str(" bytes in ")
            .dec(settings.scan->scan_ns / 1000)
            .str(" us (")
            .dec(settings.scan->scan_cpu_ns / 1000)
            .str(" us on the CPU); ")
            .dec(settings.scan->stopped_threads)
            .str(plural(settings.scan->stopped_threads, " other thread", " other threads"))
            .str(" stopped for it\n");
    if (in_flux != 0 && classified)
        w.str("memleak: ")
            .dec(in_flux)
            .str(plural(in_flux, " shard was", " shards were"))
            .str(
                " being changed by a thread stopped for the scan and read as it was; a block may be missing or extra\n");
    else if (in_flux != 0)
        w.str("memleak: ")
            .dec(in_flux)
            .str(plural(in_flux, " shard was", " shards were"))
            .str(" locked for too long and read while changing; a block may be missing or extra\n");
    if (table.header.flags & MEMLEAK_FLAG_DISABLED)
        w.str(
            "memleak: recording stopped early (the runtime ran out of memory); later blocks are not in this report\n");
    if (uint64_t dropped = table.header.dropped_records)
        w.str("memleak: ")
            .dec(dropped)
            .str(plural(dropped, " allocation was", " allocations were"))
            .str(" not recorded (the runtime ran out of memory) and are not in this report\n");

    uint64_t shown = 0, hidden_bytes = 0, hidden_blocks = 0;
    for (const Group &g : groups) {
        if (!listed(g))
            continue;
        if (shown < settings.groups) {
            print_group(w, &table, sym, g, settings);
            ++shown;
        } else {
            hidden_bytes += g.bytes;
            hidden_blocks += g.count;
        }
    }
    if (stacks > shown)
        w.str("... ")
            .dec(stacks - shown)
            .str(plural(stacks - shown, " more stack (", " more stacks ("))
            .dec(hidden_bytes)
            .str(" bytes in ")
            .dec(hidden_blocks)
            .str(" blocks) not shown (MEMLEAK_REPORT_GROUPS=")
            .dec(settings.groups)
            .str(")\n");
    if (classified && !settings.show_reachable && totals->kind_blocks[MEMLEAK_SCAN_STILL_REACHABLE] != 0)
        w.str("Still reachable: ")
            .dec(totals->kind_bytes[MEMLEAK_SCAN_STILL_REACHABLE])
            .str(" bytes in ")
            .dec(totals->kind_blocks[MEMLEAK_SCAN_STILL_REACHABLE])
            .str(" blocks, in ")
            .dec(reachable_stacks)
            .str(plural(reachable_stacks, " stack", " stacks"))
            .str(" (MEMLEAK_REPORT_REACHABLE=1 lists them)\n");
    if (totals->suppressed_blocks != 0)
        w.str("Suppressed: ")
            .dec(totals->suppressed_bytes)
            .str(" bytes in ")
            .dec(totals->suppressed_blocks)
            .str(" blocks (by ")
            .dec(patterns_used)
            .str(plural(patterns_used, " pattern)\n", " patterns)\n"));
    if (classified) {
        const uint64_t *kb = totals->kind_bytes, *kn = totals->kind_blocks;
        w.str("SUMMARY: memleak: ")
            .dec(totals->bytes - kb[MEMLEAK_SCAN_STILL_REACHABLE])
            .str(" bytes lost in ")
            .dec(totals->failing_blocks())
            .str(" blocks (definitely ")
            .dec(kb[MEMLEAK_SCAN_DEFINITELY_LOST])
            .str(" in ")
            .dec(kn[MEMLEAK_SCAN_DEFINITELY_LOST])
            .str(", indirectly ")
            .dec(kb[MEMLEAK_SCAN_INDIRECTLY_LOST])
            .str(" in ")
            .dec(kn[MEMLEAK_SCAN_INDIRECTLY_LOST])
            .str(", possibly ")
            .dec(kb[MEMLEAK_SCAN_POSSIBLY_LOST])
            .str(" in ")
            .dec(kn[MEMLEAK_SCAN_POSSIBLY_LOST])
            .str("); ")
            .dec(kb[MEMLEAK_SCAN_STILL_REACHABLE])
            .str(" bytes still reachable in ")
            .dec(kn[MEMLEAK_SCAN_STILL_REACHABLE])
            .str(" blocks\n");
    } else {
        w.str("SUMMARY: memleak: ").dec(totals->bytes).str(" bytes in ").dec(totals->blocks).str(" blocks\n");
    }
    w.flush();
    return w.error();
}

namespace {

int open_retrying(const char *path, int flags, mode_t mode) {
    int fd;
    do
        fd = open(path, flags, mode);
    while (fd < 0 && errno == EINTR);
    return fd;
}

// The report file, opened the way a careful tool does it in a directory
// others may write to (/tmp): created exclusively when it does not exist;
// an existing one is reused only when it is this user's regular file (then
// emptied) or a FIFO or character device (a pipe reader, /dev/null). A
// symbolic link as the last component is never followed, so a link planted
// by another user cannot send the report over a file of theirs choosing.
int open_report_file(const char *path) {
    constexpr int kFlags = O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC;
    int fd = open_retrying(path, kFlags | O_CREAT | O_EXCL, 0644);
    if (fd >= 0 || errno != EEXIST)
        return fd;
    // Non-blocking: a FIFO nobody reads fails (ENXIO) instead of hanging.
    fd = open_retrying(path, kFlags | O_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct stat st;
    int err = 0;
    if (fstat(fd, &st) != 0)
        err = errno;
    else if (S_ISREG(st.st_mode) && st.st_uid != geteuid())
        err = EPERM;
    else if (S_ISREG(st.st_mode) && ftruncate(fd, 0) != 0)
        err = errno;
    else if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
        err = EINVAL;
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
        err = errno;
    if (err != 0) {
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

// Why the report file was refused, in words that name the rule.
const char *open_error_text(int err) {
    switch (err) {
    case ELOOP:
        return "a symbolic link (not followed)";
    case EPERM:
        return "a file of another user (not overwritten)";
    case EINVAL:
        return "neither a regular file, a FIFO nor a character device";
    default:
        return strerrordesc_np(err);
    }
}

// Opens where the report goes: "stderr", or a path in which %p becomes the
// pid. Returns the fd, or -1 with errno set.
int open_output(const char *spec, bool *close_after) {
    *close_after = false;
    if (strcmp(spec, "stderr") == 0)
        return STDERR_FILENO;
    char path[4096 + 64];
    size_t n = 0;
    for (const char *p = spec; *p != '\0'; ++p) {
        if (n + 24 >= sizeof path) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (p[0] == '%' && p[1] == 'p') {
            char digits[20];
            size_t k = 0;
            for (uint64_t pid = static_cast<uint64_t>(getpid()); pid != 0 || k == 0; pid /= 10)
                digits[k++] = static_cast<char>('0' + pid % 10);
            while (k > 0)
                path[n++] = digits[--k];
            ++p;
        } else {
            path[n++] = *p;
        }
    }
    path[n] = '\0';
    const int fd = open_report_file(path);
    *close_after = fd >= 0;
    return fd;
}

int report_to(const char *spec, bool at_exit, Totals *totals, const ExitScan *scan = nullptr,
              Scratch<BlockItem> *classified = nullptr) {
    const Options &opts = options();
    bool close_after = false;
    const int fd = open_output(spec, &close_after);
    if (fd < 0)
        return errno;
    Settings settings;
    settings.groups = opts.report_groups;
    settings.frames = opts.report_frames;
    settings.suppressions = opts.suppressions;
    settings.at_exit = at_exit;
    settings.debuginfod = opts.debuginfod != 0;
    settings.show_reachable = opts.report_reachable != 0;
    settings.scan = scan;
    settings.classified = classified;
    int err = write_report(&memleak_introspect, fd, settings, totals);
    if (close_after && close(fd) != 0 && err == 0 && errno != EINTR)
        err = errno;
    return err;
}

// glibc and libstdc++ keep some blocks until the process ends (stdio
// buffers, locale data, the thread stack cache, the exception emergency
// pool); valgrind asks them to release those first, and so does this.
//
// Freeing them under a thread that still runs could pull its stdio
// buffer or locale away, so that is only done when this thread is alone.
//
// The caller holds the re-entrancy guard, but these frees must reach the
// table (they release blocks it recorded), so the guard is lowered around
// them.
bool release_library_caches() {
    if (other_threads_alive())
        return false;
    GuardLowered lowered;
    using Fn = void (*)();
    if (auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "_ZN9__gnu_cxx9__freeresEv")))
        fn();
    if (auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "__libc_freeres")))
        fn();
    return true;
}

// __libc_freeres empties the environment (glibc's clearenv), and with
// MEMLEAK_DEBUGINFOD=1 libdebuginfod reads its servers, cache and timeouts
// from there while the report runs; a copy taken before, in the report's
// own memory, stands in for the report.
class EnvironmentCopy {
public:
    void take() {
        size_t count = 0, bytes = 0;
        for (char **e = environ; e != nullptr && *e != nullptr; ++e) {
            ++count;
            bytes += strlen(*e) + 1;
        }
        if (!pointers_.reserve(count + 1) || !text_.reserve(bytes + 1))
            return;
        for (char **e = environ; e != nullptr && *e != nullptr; ++e) {
            const size_t len = strlen(*e) + 1;
            char *at = text_.data() + text_.size();
            memcpy(at, *e, len);
            text_.resize(text_.size() + len);
            pointers_.push(at);
        }
        pointers_.push(nullptr);
        taken_ = true;
    }

    char **get() { return taken_ ? pointers_.data() : nullptr; }

private:
    Scratch<char *> pointers_;
    Scratch<char> text_;
    bool taken_ = false;
};

// _exit() skips the stdio flush that exit() would do after the destructors.
// __libc_freeres flushes when it runs; otherwise every stream is flushed
// here the way exit() does it, without waiting for a lock another thread
// may hold forever (a reader blocked on stdin).
void flush_streams_like_exit() {
    auto *list = static_cast<FILE **>(dlsym(RTLD_DEFAULT, "_IO_list_all"));
    if (list == nullptr) {
        fflush_unlocked(stdout);
        fflush_unlocked(stderr);
        return;
    }
    unsigned guard = 0;
    for (FILE *fp = *list; fp != nullptr && guard < 100000; fp = fp->_chain, ++guard) {
        const bool locked = ftrylockfile(fp) == 0;
        fflush_unlocked(fp);
        if (locked)
            funlockfile(fp);
    }
}

}  // namespace

// The calling thread's live stack starts at this function's frame (the
// frames of exit() and of whatever called it lie above), and its
// callee-saved registers still hold what those frames keep in registers.
__attribute__((noinline)) void exit_report() {
    const Options &opts = options();
    if (opts.report[0] == '\0' && opts.exitcode == 0)
        return;
    CallerState caller;
    caller.sp = reinterpret_cast<uint64_t>(__builtin_frame_address(0));
    caller.tid = static_cast<uint32_t>(syscall(SYS_gettid));
#if defined(__x86_64__)
    __asm__ volatile(
        "mov %%rbx, 0(%0)\n\tmov %%rbp, 8(%0)\n\tmov %%r12, 16(%0)\n\t"
        "mov %%r13, 24(%0)\n\tmov %%r14, 32(%0)\n\tmov %%r15, 40(%0)"
        :
        : "r"(caller.regs)
        : "memory");
    caller.reg_count = 6;
#elif defined(__aarch64__)
    __asm__ volatile(
        "stp x19, x20, [%0]\n\tstp x21, x22, [%0, #16]\n\tstp x23, x24, [%0, #32]\n\t"
        "stp x25, x26, [%0, #48]\n\tstp x27, x28, [%0, #64]\n\tstr x29, [%0, #80]"
        :
        : "r"(caller.regs)
        : "memory");
    caller.reg_count = 11;
#endif
    const int saved_errno = errno;
    EnvironmentCopy environment;
    if (opts.debuginfod != 0)
        environment.take();
    const bool released = release_library_caches();
    char **const after_release = environ;
    if (released && after_release == nullptr && environment.get() != nullptr)
        environ = environment.get();  // this thread is alone (released)
    Scratch<BlockItem> items;
    ExitScan scan;
    classify_at_exit(&memleak_introspect, caller, &items, &scan);
    Totals totals;
    const int err = report_to(opts.report[0] != '\0' ? opts.report : "stderr", true, &totals, &scan, &items);
    environ = after_release;
    if (err != 0 && opts.report[0] != '\0') {
        Writer w(STDERR_FILENO);
        w.str("memleak: MEMLEAK_REPORT=").str(opts.report).str(": ").str(open_error_text(err)).ch('\n');
    }
    if (opts.exitcode != 0 && totals.failing_blocks() != 0) {
        if (!released)
            flush_streams_like_exit();
        _exit(opts.exitcode);
    }
    errno = saved_errno;
}

}  // namespace memleak::report

extern "C" __attribute__((visibility("default"))) int memleak_report(const char *path) {
    memleak::ReentryGuard guard;
    const int saved_errno = errno;
    const memleak::Options &opts = memleak::options();
    const char *spec = path != nullptr ? path : (opts.report[0] != '\0' ? opts.report : "stderr");
    memleak::report::Totals totals;
    const int err = memleak::report::report_to(spec, false, &totals);
    if (err != 0) {
        errno = err;
        return -1;
    }
    errno = saved_errno;
    return 0;
}
