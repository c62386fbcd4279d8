// The .eh_frame decoder on hand-assembled CIEs, FDEs and .eh_frame_hdr
// search tables, and on the unwind tables of real code (this binary, libc).
// Buffers are placed at the end of a readable page followed by an
// inaccessible one, so a read past an entry's declared length faults.
#include <gtest/gtest.h>

#include <alloca.h>
#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "unwind/eh_frame.h"
#include "unwind/step_rule.h"

namespace memleak::unwind {
namespace {

// DW_EH_PE encodings.
constexpr uint8_t kAbsptr = 0x00;
constexpr uint8_t kUdata4 = 0x03;
constexpr uint8_t kPcrelSdata4 = 0x1b;
constexpr uint8_t kDatarelSdata4 = 0x3b;

// DW_CFA opcodes.
constexpr uint8_t kNop = 0x00;
constexpr uint8_t kSetLoc = 0x01;
constexpr uint8_t kAdvanceLoc1 = 0x02;
constexpr uint8_t kAdvanceLoc2 = 0x03;
constexpr uint8_t kAdvanceLoc4 = 0x04;
constexpr uint8_t kRestoreExtended = 0x06;
constexpr uint8_t kUndefined = 0x07;
constexpr uint8_t kRegister = 0x09;
constexpr uint8_t kRememberState = 0x0a;
constexpr uint8_t kRestoreState = 0x0b;
constexpr uint8_t kDefCfa = 0x0c;
constexpr uint8_t kDefCfaRegister = 0x0d;
constexpr uint8_t kDefCfaOffset = 0x0e;
constexpr uint8_t kDefCfaExpression = 0x0f;
constexpr uint8_t kExpression = 0x10;
constexpr uint8_t kValOffset = 0x14;
constexpr uint8_t kGnuArgsSize = 0x2e;
constexpr uint8_t advance(uint8_t delta) { return 0x40 | delta; }
constexpr uint8_t offset(uint8_t reg) { return 0x80 | reg; }
constexpr uint8_t restore(uint8_t reg) { return 0xc0 | reg; }

constexpr uint8_t kRbx = 3;
constexpr uint8_t kRbp = 6;
constexpr uint8_t kRsp = 7;
constexpr uint8_t kR10 = 10;
constexpr uint8_t kRa = 16;

// Pages of which every odd one is inaccessible: bytes placed at the end of
// an even page have nothing readable after them.
class GuardedPages {
public:
    explicit GuardedPages(int readable) : page_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
        bytes_ = page_ * 2 * readable;
        void *p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            std::abort();
        base_ = static_cast<uint8_t *>(p);
        for (int i = 0; i < readable; ++i)
            mprotect(base_ + (2 * i + 1) * page_, page_, PROT_NONE);
    }
    ~GuardedPages() { munmap(base_, bytes_); }
    GuardedPages(const GuardedPages &) = delete;
    GuardedPages &operator=(const GuardedPages &) = delete;

    // The end of readable page i: the first inaccessible byte.
    uint8_t *end(int i) const { return base_ + (2 * i + 1) * page_; }

private:
    size_t page_;
    size_t bytes_;
    uint8_t *base_;
};

// Bytes assembled for a known final address, so that pc-relative fields
// can be computed against the buffer's real location.
struct Writer {
    uintptr_t at;  // where b[0] will live
    std::vector<uint8_t> b;

    uintptr_t here() const { return at + b.size(); }
    void u8(uint8_t v) { b.push_back(v); }
    void raw(const std::vector<uint8_t> &v) { b.insert(b.end(), v.begin(), v.end()); }
    template <typename T>
    void fixed(T v) {
        uint8_t tmp[sizeof(T)];
        std::memcpy(tmp, &v, sizeof v);
        b.insert(b.end(), tmp, tmp + sizeof v);
    }
    template <typename T>
    void fixed_at(size_t off, T v) {
        std::memcpy(b.data() + off, &v, sizeof v);
    }
    void uleb(uint64_t v) {
        do {
            uint8_t byte = v & 0x7f;
            v >>= 7;
            u8(v ? byte | 0x80 : byte);
        } while (v);
    }
    void sleb(int64_t v) {
        for (;;) {
            uint8_t byte = v & 0x7f;
            v >>= 7;
            const bool done = (v == 0 && !(byte & 0x40)) || (v == -1 && (byte & 0x40));
            u8(done ? byte : byte | 0x80);
            if (done)
                return;
        }
    }
    // A pointer in encoding `enc`; `pc_begin` is an address, a pc_range
    // (address = false) only a value of the encoding's format.
    void pointer(uint8_t enc, uint64_t v, bool address = true) {
        switch (enc) {
        case kAbsptr:
            fixed<uint64_t>(v);
            break;
        case kUdata4:
            fixed<uint32_t>(static_cast<uint32_t>(v));
            break;
        case kPcrelSdata4:
            fixed<int32_t>(
                static_cast<int32_t>(address ? static_cast<int64_t>(v - here()) : static_cast<int64_t>(v)));
            break;
        default:
            std::abort();
        }
    }
};

struct CieSpec {
    std::string augmentation = "zR";
    uint8_t fde_encoding = kPcrelSdata4;
    uint8_t version = 1;
    uint64_t code_align = 1;
    int64_t data_align = -8;
    // What GCC's CIEs say: CFA = %rsp + 8, return address at CFA - 8.
    std::vector<uint8_t> insns = {kDefCfa, kRsp, 8, offset(kRa), 1};
};

// Appends a CIE; returns its address.
uintptr_t put_cie(Writer &w, const CieSpec &c) {
    const uintptr_t start = w.here();
    const size_t len_at = w.b.size();
    w.fixed<uint32_t>(0);
    w.fixed<uint32_t>(0);  // CIE id
    w.u8(c.version);
    for (char ch : c.augmentation)
        w.u8(static_cast<uint8_t>(ch));
    w.u8(0);
    w.uleb(c.code_align);
    w.sleb(c.data_align);
    if (c.version == 1)
        w.u8(kRa);
    else
        w.uleb(kRa);
    if (!c.augmentation.empty() && c.augmentation[0] == 'z') {
        Writer data{0, {}};
        for (char ch : c.augmentation.substr(1))
            if (ch == 'R')
                data.u8(c.fde_encoding);
        w.uleb(data.b.size());
        w.raw(data.b);
    }
    w.raw(c.insns);
    w.fixed_at<uint32_t>(len_at, static_cast<uint32_t>(w.b.size() - len_at - 4));
    return start;
}

// Appends an FDE for [begin, begin + range) using the CIE at `cie`;
// returns its address.
uintptr_t put_fde(Writer &w, uintptr_t cie, const CieSpec &c, uint64_t begin, uint64_t range,
                  const std::vector<uint8_t> &insns) {
    const uintptr_t start = w.here();
    const size_t len_at = w.b.size();
    w.fixed<uint32_t>(0);
    w.fixed<uint32_t>(static_cast<uint32_t>(w.here() - cie));
    w.pointer(c.fde_encoding, begin);
    w.pointer(c.fde_encoding, range, false);
    if (!c.augmentation.empty() && c.augmentation[0] == 'z')
        w.uleb(0);
    w.raw(insns);
    w.fixed_at<uint32_t>(len_at, static_cast<uint32_t>(w.b.size() - len_at - 4));
    return start;
}

// A CIE and one FDE, ending where page `page` of `pages` becomes
// inaccessible. `begin` is an offset from the start of the CIE (the
// address a pc-relative pointer can reach); the FDE's and the code's
// addresses come back.
struct Placed {
    const uint8_t *fde;
    uintptr_t code;
};

Placed place(GuardedPages &pages, int page, const CieSpec &c, int64_t begin, uint64_t range,
             const std::vector<uint8_t> &insns) {
    auto build = [&](uintptr_t at, Placed *out) {
        Writer w{at, {}};
        const uintptr_t cie = put_cie(w, c);
        const uintptr_t code = at + begin;
        const uintptr_t fde = put_fde(w, cie, c, code, range, insns);
        out->fde = reinterpret_cast<const uint8_t *>(fde);
        out->code = code;
        return w.b;
    };
    Placed dry{};
    const size_t size = build(0, &dry).size();
    uint8_t *at = pages.end(page) - size;
    Placed out{};
    const std::vector<uint8_t> bytes = build(reinterpret_cast<uintptr_t>(at), &out);
    std::memcpy(at, bytes.data(), bytes.size());
    return out;
}

// Code 1 MiB below the tables, as in a shared object (within the reach of
// a pc-relative 32-bit pointer).
constexpr int64_t kCode = -(int64_t(1) << 20);

std::string show(uint64_t w) {
    const char *kinds[] = {"none", "step", "end", "unsupported"};
    std::string s = kinds[rule_kind(w)];
    if (rule_kind(w) == kRuleStep) {
        const StepRule r = unpack_step(w);
        s += std::string(" cfa=") + (r.cfa_rbp ? "rbp" : "rsp") + std::to_string(r.cfa_offset) + " ra@" +
             std::to_string(r.ra_offset) +
             (r.rbp_saved ? " rbp@" + std::to_string(r.rbp_offset) : std::string(" rbp=same"));
    }
    return s;
}

// A step rule with these fields, or a failure naming what came instead.
::testing::AssertionResult is_step(uint64_t w, bool cfa_rbp, int32_t cfa_offset, int32_t ra_offset,
                                   bool rbp_saved, int32_t rbp_offset = 0) {
    if (rule_kind(w) != kRuleStep)
        return ::testing::AssertionFailure() << show(w);
    const StepRule r = unpack_step(w);
    if (r.cfa_rbp != cfa_rbp || r.cfa_offset != cfa_offset || r.ra_offset != ra_offset ||
        r.rbp_saved != rbp_saved || (rbp_saved && r.rbp_offset != rbp_offset))
        return ::testing::AssertionFailure() << show(w);
    return ::testing::AssertionSuccess() << show(w);
}

uint64_t rule_at(const Placed &p, uint64_t off) { return rule_from_fde(p.fde, p.code + off, 0); }

// push %rbp; mov %rsp,%rbp; ...; leave at 0x2f; ret at 0x30.
// One row of the call frame program per line.
// clang-format off
const std::vector<uint8_t> kFramePointerPrologue = {
    advance(1), kDefCfaOffset, 16, offset(kRbp), 2,  // after push %rbp
    advance(3), kDefCfaRegister, kRbp,               // after mov %rsp,%rbp
    advance(0x2c), kDefCfa, kRsp, 8,                 // after leave
};
// clang-format on

void expect_frame_pointer_rows(const Placed &p) {
    EXPECT_TRUE(is_step(rule_at(p, 0), false, 8, -8, false));
    EXPECT_TRUE(is_step(rule_at(p, 1), false, 16, -8, true, -16));
    EXPECT_TRUE(is_step(rule_at(p, 3), false, 16, -8, true, -16));
    EXPECT_TRUE(is_step(rule_at(p, 4), true, 16, -8, true, -16));
    EXPECT_TRUE(is_step(rule_at(p, 0x2f), true, 16, -8, true, -16));
    // DW_CFA_def_cfa changes the CFA only: %rbp's rule stays.
    EXPECT_TRUE(is_step(rule_at(p, 0x30), false, 8, -8, true, -16));
    EXPECT_TRUE(is_step(rule_at(p, 0x3f), false, 8, -8, true, -16));
}

TEST(EhFrame, FramePointerProloguePcrel) {
    GuardedPages pages(1);
    const Placed p = place(pages, 0, CieSpec{}, kCode, 0x40, kFramePointerPrologue);
    expect_frame_pointer_rows(p);
}

TEST(EhFrame, FramePointerPrologueAbsptr) {
    GuardedPages pages(1);
    CieSpec c;
    c.fde_encoding = kAbsptr;
    const Placed p = place(pages, 0, c, kCode, 0x40, kFramePointerPrologue);
    expect_frame_pointer_rows(p);
}

TEST(EhFrame, CieWithoutAugmentation) {
    GuardedPages pages(1);
    CieSpec c;
    c.augmentation = "";
    c.fde_encoding = kAbsptr;
    const Placed p = place(pages, 0, c, kCode, 0x40, kFramePointerPrologue);
    expect_frame_pointer_rows(p);
}

TEST(EhFrame, CieVersion3) {
    GuardedPages pages(1);
    CieSpec c;
    c.version = 3;
    const Placed p = place(pages, 0, c, kCode, 0x40, kFramePointerPrologue);
    expect_frame_pointer_rows(p);
}

// One pushed register and a stack adjustment, CFA on %rsp throughout, as
// -O2 code without a frame pointer has.
TEST(EhFrame, RspBasedFrame) {
    GuardedPages pages(1);
    const Placed p = place(pages, 0, CieSpec{}, kCode, 0x30,
                           {advance(1), kDefCfaOffset, 16, offset(kRbx), 2,  // push %rbx
                            advance(4), kDefCfaOffset, 48,                   // sub $32,%rsp
                            kGnuArgsSize, 0,                                 // ignored
                            advance(0x20), kDefCfaOffset, 16,                // add $32,%rsp
                            advance(1), kDefCfaOffset, 8});                  // pop %rbx
    EXPECT_TRUE(is_step(rule_at(p, 0), false, 8, -8, false));
    EXPECT_TRUE(is_step(rule_at(p, 1), false, 16, -8, false));
    EXPECT_TRUE(is_step(rule_at(p, 5), false, 48, -8, false));
    EXPECT_TRUE(is_step(rule_at(p, 0x24), false, 48, -8, false));
    EXPECT_TRUE(is_step(rule_at(p, 0x25), false, 16, -8, false));
    EXPECT_TRUE(is_step(rule_at(p, 0x26), false, 8, -8, false));
}

// remember_state before an epilogue in the middle of a function and
// restore_state after its ret: the body's rules again, %rbp included.
TEST(EhFrame, RememberAndRestoreStateAroundEpilogue) {
    GuardedPages pages(1);
    // One row of the call frame program per line.
    // clang-format off
    const Placed p = place(pages, 0, CieSpec{}, kCode, 0x40,
                           {advance(1), kDefCfaOffset, 16, offset(kRbp), 2,  //
                            advance(3), kDefCfaRegister, kRbp,               //
                            advance(0x0b), kRememberState,                   // at 0x0f: pop %rbp
                            kDefCfa, kRsp, 8, restore(kRbp),                 //
                            advance(1), kRestoreState,                       // at 0x10, after ret
                            advance(0x10), kDefCfa, kRsp, 8, restore(kRbp)});
    // clang-format on
    EXPECT_TRUE(is_step(rule_at(p, 0x0e), true, 16, -8, true, -16));
    EXPECT_TRUE(is_step(rule_at(p, 0x0f), false, 8, -8, false));
    EXPECT_TRUE(is_step(rule_at(p, 0x10), true, 16, -8, true, -16));
    EXPECT_TRUE(is_step(rule_at(p, 0x1f), true, 16, -8, true, -16));
    EXPECT_TRUE(is_step(rule_at(p, 0x20), false, 8, -8, false));
}

TEST(EhFrame, NestedRememberState) {
    GuardedPages pages(1);
    const Placed p = place(pages, 0, CieSpec{}, kCode, 0x40,
                           {kRememberState, advance(1), kDefCfaOffset, 16,  //
                            kRememberState, advance(1), kDefCfaOffset, 24,  //
                            advance(1), kRestoreState,                      // 16 again
                            advance(1), kRestoreState});                    // 8 again
    EXPECT_TRUE(is_step(rule_at(p, 1), false, 16, -8, false));
    EXPECT_TRUE(is_step(rule_at(p, 2), false, 24, -8, false));
    EXPECT_TRUE(is_step(rule_at(p, 3), false, 16, -8, false));
    EXPECT_TRUE(is_step(rule_at(p, 4), false, 8, -8, false));
}

TEST(EhFrame, RestoreStateWithoutRememberIsUnsupported) {
    GuardedPages pages(1);
    const Placed p = place(pages, 0, CieSpec{}, kCode, 0x40, {advance(2), kRestoreState});
    EXPECT_TRUE(is_step(rule_at(p, 1), false, 8, -8, false));
    EXPECT_EQ(rule_kind(rule_at(p, 2)), kRuleUnsupported);
}

// DW_CFA_restore goes back to the CIE's rule for the register, not to
// "unchanged".
TEST(EhFrame, RestoreToTheCiesRule) {
    GuardedPages pages(1);
    CieSpec c;
    c.insns = {kDefCfa, kRsp, 8, offset(kRa), 1, offset(kRbp), 3};
    // One row of the call frame program per line.
    // clang-format off
    const Placed p = place(pages, 0, c, kCode, 0x40,
                           {advance(1), offset(kRbp), 2,            //
                            advance(1), restore(kRbp),              //
                            advance(1), offset(kRbp), 4,            //
                            advance(1), kRestoreExtended, kRbp,     //
                            advance(1), offset(kRa), 2,             //
                            advance(1), restore(kRa)});
    // clang-format on
    EXPECT_TRUE(is_step(rule_at(p, 0), false, 8, -8, true, -24));
    EXPECT_TRUE(is_step(rule_at(p, 1), false, 8, -8, true, -16));
    EXPECT_TRUE(is_step(rule_at(p, 2), false, 8, -8, true, -24));
    EXPECT_TRUE(is_step(rule_at(p, 3), false, 8, -8, true, -32));
    EXPECT_TRUE(is_step(rule_at(p, 4), false, 8, -8, true, -24));
    EXPECT_TRUE(is_step(rule_at(p, 5), false, 8, -16, true, -24));
    EXPECT_TRUE(is_step(rule_at(p, 6), false, 8, -8, true, -24));
}

TEST(EhFrame, RestoreOfARegisterTheCieLeftAlone) {
    GuardedPages pages(1);
    const Placed p =
        place(pages, 0, CieSpec{}, kCode, 0x40, {advance(1), offset(kRbp), 2, advance(1), restore(kRbp)});
    EXPECT_TRUE(is_step(rule_at(p, 1), false, 8, -8, true, -16));
    EXPECT_TRUE(is_step(rule_at(p, 2), false, 8, -8, false));
}

// A pc exactly at a row's start belongs to that row, for every width of
// advance and for a code alignment factor other than 1.
TEST(EhFrame, AdvanceLocBoundaries) {
    GuardedPages pages(1);
    // One row of the call frame program per line.
    // clang-format off
    const Placed p = place(pages, 0, CieSpec{}, kCode, 0x20000,
                           {kAdvanceLoc1, 0xff, kDefCfaOffset, 16,                    // 0xff
                            kAdvanceLoc2, 0x34, 0x12, kDefCfaOffset, 24,              // 0x1333
                            kAdvanceLoc4, 0x45, 0x23, 0x01, 0x00, kDefCfaOffset, 32,  // 0x13678
                            advance(63), kDefCfaOffset, 40,                           // 0x136b7
                            kNop, kNop});
    const std::pair<uint64_t, int> rows[] = {
        {0, 8},         {0xfe, 8},      {0xff, 16},     {0x1332, 16},   {0x1333, 24},
        {0x13677, 24},  {0x13678, 32},  {0x136b6, 32},  {0x136b7, 40},  {0x1ffff, 40},
    };
    // clang-format on
    for (const auto &[pc, cfa] : rows)
        EXPECT_TRUE(is_step(rule_at(p, pc), false, cfa, -8, false)) << std::hex << "pc +0x" << pc;
}

TEST(EhFrame, CodeAlignmentFactor) {
    GuardedPages pages(1);
    CieSpec c;
    c.code_align = 4;
    // One row of the call frame program per line.
    // clang-format off
    const Placed p = place(pages, 0, c, kCode, 0x400,
                           {advance(3), kDefCfaOffset, 16,           // 12
                            kAdvanceLoc1, 0x10, kDefCfaOffset, 24,   // 76
                            kAdvanceLoc2, 0x40, 0x00, kDefCfaOffset, 32});  // 332
    const std::pair<uint64_t, int> rows[] = {{11, 8},  {12, 16}, {75, 16},
                                             {76, 24}, {331, 24}, {332, 32}};
    // clang-format on
    for (const auto &[pc, cfa] : rows)
        EXPECT_TRUE(is_step(rule_at(p, pc), false, cfa, -8, false)) << "pc +" << pc;
}

TEST(EhFrame, SetLoc) {
    GuardedPages pages(1);
    CieSpec c;
    c.fde_encoding = kAbsptr;
    // The code's address depends on the FDE's size only: a first placement
    // with a dummy address tells where it will be.
    std::vector<uint8_t> insns = {kSetLoc, 0, 0, 0, 0, 0, 0, 0, 0, kDefCfaOffset, 16};
    const Placed probe = place(pages, 0, c, kCode, 0x100, insns);
    for (int i = 0; i < 8; ++i)
        insns[1 + i] = static_cast<uint8_t>((probe.code + 0x50) >> (8 * i));
    const Placed p = place(pages, 0, c, kCode, 0x100, insns);
    ASSERT_EQ(p.code, probe.code);
    EXPECT_TRUE(is_step(rule_at(p, 0x4f), false, 8, -8, false));
    EXPECT_TRUE(is_step(rule_at(p, 0x50), false, 16, -8, false));
}

// _start and clone3 mark the outermost frame with an undefined return
// address.
TEST(EhFrame, UndefinedReturnAddressEndsTheStack) {
    GuardedPages pages(1);
    const Placed p = place(pages, 0, CieSpec{}, kCode, 0x40, {kUndefined, kRa});
    EXPECT_EQ(rule_kind(rule_at(p, 0)), kRuleEnd);
    EXPECT_EQ(rule_kind(rule_at(p, 0x3f)), kRuleEnd);

    const Placed later = place(pages, 0, CieSpec{}, kCode, 0x40, {advance(8), kUndefined, kRa});
    EXPECT_TRUE(is_step(rule_at(later, 7), false, 8, -8, false));
    EXPECT_EQ(rule_kind(rule_at(later, 8)), kRuleEnd);
}

// A CFA computed by a DWARF expression (PLT entries, realigned stacks) is
// left to libunwind, from the row where it starts.
TEST(EhFrame, CfaExpressionIsUnsupported) {
    GuardedPages pages(1);
    const Placed p = place(pages, 0, CieSpec{}, kCode, 0x40,
                           {advance(6), kDefCfaExpression, 2, 0x77, 0x08,  // DW_OP_breg7 8
                            advance(10), kDefCfa, kRsp, 8});
    EXPECT_TRUE(is_step(rule_at(p, 5), false, 8, -8, false));
    EXPECT_EQ(rule_kind(rule_at(p, 6)), kRuleUnsupported);
    EXPECT_EQ(rule_kind(rule_at(p, 15)), kRuleUnsupported);
    // A later DW_CFA_def_cfa makes the CFA a register again.
    EXPECT_TRUE(is_step(rule_at(p, 16), false, 8, -8, false));
}

TEST(EhFrame, UnmodelledRulesAreUnsupported) {
    GuardedPages pages(1);
    struct Case {
        const char *what;
        std::vector<uint8_t> insns;
    };
    const Case cases[] = {
        {"CFA on %r10", {kDefCfa, kR10, 0}},
        {"return address by expression", {kExpression, kRa, 2, 0x77, 0x08}},
        {"%rbp by expression", {kExpression, kRbp, 2, 0x77, 0x08}},
        {"%rbp in another register", {kRegister, kRbp, kRbx}},
        {"%rbp as a value offset", {kValOffset, kRbp, 2}},
        {"the return address in a register", {kRegister, kRa, kRbx}},
        {"an opcode DWARF does not define", {0x3f}},
    };
    for (const Case &c : cases) {
        const Placed p = place(pages, 0, CieSpec{}, kCode, 0x40, c.insns);
        EXPECT_EQ(rule_kind(rule_at(p, 0)), kRuleUnsupported) << c.what << ": " << show(rule_at(p, 0));
    }
    // Rules for registers a backtrace does not restore do not matter.
    const Placed rbx = place(pages, 0, CieSpec{}, kCode, 0x40, {kExpression, kRbx, 2, 0x77, 0x08});
    EXPECT_TRUE(is_step(rule_at(rbx, 0), false, 8, -8, false));
}

// The 'S' augmentation marks a signal trampoline, whose caller is not
// reached through a return address on the stack.
TEST(EhFrame, SignalFrameIsUnsupported) {
    GuardedPages pages(1);
    CieSpec c;
    c.augmentation = "zRS";
    const Placed p = place(pages, 0, c, kCode, 0x40, {});
    EXPECT_EQ(rule_kind(rule_at(p, 0)), kRuleUnsupported);
    EXPECT_EQ(rule_kind(rule_at(p, 0x20)), kRuleUnsupported);
}

TEST(EhFrame, TargetOutsideTheFdeIsUnsupported) {
    GuardedPages pages(1);
    const Placed p = place(pages, 0, CieSpec{}, kCode, 0x20, {});
    EXPECT_EQ(rule_kind(rule_from_fde(p.fde, p.code - 1, 0)), kRuleUnsupported);
    EXPECT_EQ(rule_kind(rule_from_fde(p.fde, p.code, 0)), kRuleStep);
    EXPECT_EQ(rule_kind(rule_from_fde(p.fde, p.code + 0x1f, 0)), kRuleStep);
    EXPECT_EQ(rule_kind(rule_from_fde(p.fde, p.code + 0x20, 0)), kRuleUnsupported);
    EXPECT_EQ(rule_kind(rule_from_fde(p.fde, 0, 0)), kRuleUnsupported);
    EXPECT_EQ(rule_kind(rule_from_fde(p.fde, UINTPTR_MAX, 0)), kRuleUnsupported);
}

// Instructions cut short by the FDE's end, which is also the end of
// readable memory: no rule, and no fault.
TEST(EhFrame, TruncatedInstructionsAreUnsupported) {
    GuardedPages pages(1);
    struct Case {
        const char *what;
        std::vector<uint8_t> insns;
    };
    const Case cases[] = {
        {"def_cfa without its offset", {advance(1), kDefCfa, kRsp}},
        {"def_cfa without operands", {advance(1), kDefCfa}},
        {"unterminated ULEB128", {advance(1), kDefCfaOffset, 0x80, 0x80, 0x80}},
        {"advance_loc1 without its delta", {advance(1), kAdvanceLoc1}},
        {"advance_loc2 with one byte", {advance(1), kAdvanceLoc2, 0x01}},
        {"advance_loc4 with two bytes", {advance(1), kAdvanceLoc4, 0x01, 0x00}},
        {"expression longer than the FDE", {advance(1), kDefCfaExpression, 0x7f, 0x77}},
        {"offset without its operand", {advance(1), offset(kRbp)}},
        {"set_loc without its address", {advance(1), kSetLoc, 0x01, 0x02}},
    };
    for (const Case &c : cases) {
        const Placed p = place(pages, 0, CieSpec{}, kCode, 0x40, c.insns);
        // Before the damaged row the rules read so far hold.
        EXPECT_TRUE(is_step(rule_at(p, 0), false, 8, -8, false)) << c.what;
        EXPECT_EQ(rule_kind(rule_at(p, 0x3f)), kRuleUnsupported) << c.what << ": " << show(rule_at(p, 0x3f));
    }
}

// A CIE at the end of readable memory, its FDE further on: the CIE's own
// length bounds what is read of it.
TEST(EhFrame, TruncatedCieIsUnsupported) {
    GuardedPages pages(2);
    struct Case {
        const char *what;
        CieSpec cie;
    };
    std::vector<Case> cases;
    cases.push_back({"initial instructions cut short", CieSpec{}});
    cases.back().cie.insns = {kDefCfa, kRsp};
    cases.push_back({"unterminated ULEB128", CieSpec{}});
    cases.back().cie.insns = {kDefCfa, kRsp, 0x88, 0x80};
    for (const Case &c : cases) {
        Writer w{0, {}};
        put_cie(w, c.cie);
        uint8_t *cie = pages.end(0) - w.b.size();
        w = Writer{reinterpret_cast<uintptr_t>(cie), {}};
        put_cie(w, c.cie);
        std::memcpy(cie, w.b.data(), w.b.size());

        Writer f{0, {}};
        put_fde(f, reinterpret_cast<uintptr_t>(cie), c.cie, 0, 0x40, {});
        uint8_t *fde = pages.end(1) - f.b.size();
        const uintptr_t code = reinterpret_cast<uintptr_t>(fde) + kCode;
        f = Writer{reinterpret_cast<uintptr_t>(fde), {}};
        put_fde(f, reinterpret_cast<uintptr_t>(cie), c.cie, code, 0x40, {});
        std::memcpy(fde, f.b.data(), f.b.size());
        EXPECT_EQ(rule_kind(rule_from_fde(fde, code, 0)), kRuleUnsupported) << c.what;
    }

    // Augmentation data longer than the CIE, and an augmentation string
    // that runs to the CIE's end: raw bytes after the length and the id.
    const std::vector<std::vector<uint8_t>> raw_bodies = {
        {1, 'z', 'R', 0, 1, 0x78, 16, 0x7f, kPcrelSdata4},
        {1, 'z', 'R', 'R', 'R'},
    };
    for (const auto &body : raw_bodies) {
        uint8_t *cie = pages.end(0) - 8 - body.size();
        const uint32_t len = static_cast<uint32_t>(4 + body.size()), id = 0;
        std::memcpy(cie, &len, 4);
        std::memcpy(cie + 4, &id, 4);
        std::memcpy(cie + 8, body.data(), body.size());
        Writer f{0, {}};
        put_fde(f, reinterpret_cast<uintptr_t>(cie), CieSpec{}, 0, 0x40, {});
        uint8_t *fde = pages.end(1) - f.b.size();
        const uintptr_t code = reinterpret_cast<uintptr_t>(fde) + kCode;
        f = Writer{reinterpret_cast<uintptr_t>(fde), {}};
        put_fde(f, reinterpret_cast<uintptr_t>(cie), CieSpec{}, code, 0x40, {});
        std::memcpy(fde, f.b.data(), f.b.size());
        EXPECT_EQ(rule_kind(rule_from_fde(fde, code, 0)), kRuleUnsupported);
    }
}

// Random instruction bytes and random CIE bodies, each ending at the edge
// of readable memory: whatever they say, the answer is one of the three
// kinds, and a step rule's fields survive packing.
TEST(EhFrame, GarbageNeverReadsPastTheEntry) {
    GuardedPages pages(2);
    std::mt19937 rng(4242);
    for (int i = 0; i < 4000; ++i) {
        std::vector<uint8_t> insns(rng() % 48);
        for (auto &b : insns)
            b = static_cast<uint8_t>(rng());
        const Placed p = place(pages, 0, CieSpec{}, kCode, 0x10000, insns);
        const uint64_t w = rule_at(p, rng() % 0x10000);
        ASSERT_NE(rule_kind(w), kRuleNone);
        if (rule_kind(w) == kRuleStep) {
            ASSERT_EQ(pack_step(unpack_step(w)), w);
        }
    }
    for (int i = 0; i < 4000; ++i) {
        std::vector<uint8_t> body(1 + rng() % 40);
        for (auto &b : body)
            b = static_cast<uint8_t>(rng());
        if (i % 2)
            body[0] = 1;  // a known version: the parse goes further
        uint8_t *cie = pages.end(0) - 8 - body.size();
        const uint32_t len = static_cast<uint32_t>(4 + body.size()), id = 0;
        std::memcpy(cie, &len, 4);
        std::memcpy(cie + 4, &id, 4);
        std::memcpy(cie + 8, body.data(), body.size());
        Writer f{0, {}};
        put_fde(f, reinterpret_cast<uintptr_t>(cie), CieSpec{}, 0, 0x40, {advance(1), kDefCfaOffset, 16});
        uint8_t *fde = pages.end(1) - f.b.size();
        f = Writer{reinterpret_cast<uintptr_t>(fde), {}};
        put_fde(f, reinterpret_cast<uintptr_t>(cie), CieSpec{}, reinterpret_cast<uintptr_t>(fde) + kCode,
                0x40, {advance(1), kDefCfaOffset, 16});
        std::memcpy(fde, f.b.data(), f.b.size());
        const uint64_t w = rule_from_fde(fde, reinterpret_cast<uintptr_t>(fde) + kCode + rng() % 0x80, 0);
        ASSERT_NE(rule_kind(w), kRuleNone);
    }
}

// ---------------------------------------------------------------------------
// .eh_frame_hdr search tables.

struct HdrEntry {
    int32_t initial;  // from the header
    int32_t fde;      // from the header
};

// A version 1 header with a sorted datarel|sdata4 table, ending at the edge
// of readable memory.
const uint8_t *place_hdr(GuardedPages &pages, const std::vector<HdrEntry> &entries,
                         uint8_t table_enc = kDatarelSdata4, uint8_t version = 1,
                         uint32_t count_override = UINT32_MAX) {
    std::vector<uint8_t> b = {version, kPcrelSdata4, kUdata4, table_enc};
    auto put32 = [&](uint32_t v) {
        for (int i = 0; i < 4; ++i)
            b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    put32(0x100);  // eh_frame_ptr: not followed by find_fde
    put32(count_override != UINT32_MAX ? count_override : static_cast<uint32_t>(entries.size()));
    for (const HdrEntry &e : entries) {
        put32(static_cast<uint32_t>(e.initial));
        put32(static_cast<uint32_t>(e.fde));
    }
    uint8_t *at = pages.end(0) - b.size();
    std::memcpy(at, b.data(), b.size());
    return at;
}

size_t hdr_size(size_t entries) { return 12 + 8 * entries; }

TEST(EhFrameHdr, FindsTheLastEntryAtOrBeforeTheTarget) {
    GuardedPages pages(1);
    // Code before the header (negative offsets) and after it.
    const std::vector<HdrEntry> entries = {
        {-0x3000, 0x100}, {-0x2000, 0x200}, {0x40, 0x300}, {0x5000, 0x400}};
    const uint8_t *hdr = place_hdr(pages, entries);
    const uintptr_t h = reinterpret_cast<uintptr_t>(hdr);
    const size_t size = hdr_size(entries.size());
    EXPECT_EQ(find_fde(hdr, size, h - 0x3001), nullptr);
    EXPECT_EQ(find_fde(hdr, size, 0), nullptr);
    EXPECT_EQ(find_fde(hdr, size, h - 0x3000), hdr + 0x100);
    EXPECT_EQ(find_fde(hdr, size, h - 0x2001), hdr + 0x100);
    EXPECT_EQ(find_fde(hdr, size, h - 0x2000), hdr + 0x200);
    EXPECT_EQ(find_fde(hdr, size, h), hdr + 0x200);
    EXPECT_EQ(find_fde(hdr, size, h + 0x3f), hdr + 0x200);
    EXPECT_EQ(find_fde(hdr, size, h + 0x40), hdr + 0x300);
    EXPECT_EQ(find_fde(hdr, size, h + 0x4fff), hdr + 0x300);
    EXPECT_EQ(find_fde(hdr, size, h + 0x5000), hdr + 0x400);
    // Past the last entry: the last FDE, whose range the caller checks.
    EXPECT_EQ(find_fde(hdr, size, h + 0x7fffffff), hdr + 0x400);
}

TEST(EhFrameHdr, SingleEntry) {
    GuardedPages pages(1);
    const uint8_t *hdr = place_hdr(pages, {{-0x800, -0x400}});
    const uintptr_t h = reinterpret_cast<uintptr_t>(hdr);
    EXPECT_EQ(find_fde(hdr, hdr_size(1), h - 0x801), nullptr);
    EXPECT_EQ(find_fde(hdr, hdr_size(1), h - 0x800), hdr - 0x400);
    EXPECT_EQ(find_fde(hdr, hdr_size(1), h + 0x800), hdr - 0x400);
}

TEST(EhFrameHdr, MalformedHeadersFindNothing) {
    GuardedPages pages(1);
    const std::vector<HdrEntry> entries = {{0x10, 0x100}, {0x20, 0x200}};
    const uint8_t *hdr = place_hdr(pages, entries);
    const uintptr_t target = reinterpret_cast<uintptr_t>(hdr) + 0x18;
    ASSERT_EQ(find_fde(hdr, hdr_size(2), target), hdr + 0x100);

    hdr = place_hdr(pages, {}, kDatarelSdata4, 1, 0);
    EXPECT_EQ(find_fde(hdr, hdr_size(0), target), nullptr) << "no entries";
    hdr = place_hdr(pages, entries, kDatarelSdata4, 1, 3);
    EXPECT_EQ(find_fde(hdr, hdr_size(2), target), nullptr) << "a count the table's size cannot hold";
    hdr = place_hdr(pages, entries, kDatarelSdata4, 1, 0x20000000);
    EXPECT_EQ(find_fde(hdr, hdr_size(2), target), nullptr) << "a huge count";
    hdr = place_hdr(pages, entries, kUdata4);
    EXPECT_EQ(find_fde(hdr, hdr_size(2), target), nullptr) << "another table encoding";
    hdr = place_hdr(pages, entries, kDatarelSdata4, 2);
    EXPECT_EQ(find_fde(hdr, hdr_size(2), target), nullptr) << "another version";
    hdr = place_hdr(pages, entries);
    EXPECT_EQ(find_fde(hdr, 6, target), nullptr) << "a header cut short";
}

// A large table against a linear search, at and around every entry.
TEST(EhFrameHdr, BinarySearchAgreesWithLinearSearch) {
    GuardedPages pages(8);
    std::mt19937 rng(31337);
    std::vector<HdrEntry> entries;
    int32_t at = -0x100000;
    for (int i = 0; i < 300; ++i) {
        at += 1 + static_cast<int32_t>(rng() % 0x400);
        entries.push_back({at, static_cast<int32_t>(i * 24)});
    }
    const uint8_t *hdr = place_hdr(pages, entries);
    const uintptr_t h = reinterpret_cast<uintptr_t>(hdr);
    const size_t size = hdr_size(entries.size());
    auto linear = [&](uintptr_t target) -> const uint8_t * {
        const uint8_t *found = nullptr;
        for (const HdrEntry &e : entries)
            if (h + e.initial <= target)
                found = hdr + e.fde;
        return found;
    };
    for (const HdrEntry &e : entries)
        for (int64_t d : {-1, 0, 1})
            ASSERT_EQ(find_fde(hdr, size, h + e.initial + d), linear(h + e.initial + d)) << e.initial << d;
}

// ---------------------------------------------------------------------------
// Real unwind tables: the rule for a return address steps to the caller's
// frame, where the return address found is the caller's own.

volatile int g_sink;

struct OneStep {
    uintptr_t ra;         // into the caller
    uintptr_t caller_sp;  // the caller's %rsp once the call returns
    uintptr_t caller_rbp;
    uint64_t rule;      // for `ra`
    uintptr_t stepped;  // the caller's return address as the rule finds it
};

// Keeps a frame pointer (__builtin_frame_address), so its frame gives the
// caller's %rsp and %rbp at the call.
__attribute__((noinline)) void probe(OneStep *s) {
    const auto *fp = static_cast<const uintptr_t *>(__builtin_frame_address(0));
    s->caller_rbp = fp[0];
    s->ra = fp[1];
    s->caller_sp = reinterpret_cast<uintptr_t>(fp + 2);
    g_sink = 1;
}

// Applies the rule while the caller's frame is still live.
__attribute__((noinline)) void step_with_rule(OneStep *s) {
    s->rule = rule_for_return_address(s->ra);
    s->stepped = 0;
    if (rule_kind(s->rule) != kRuleStep)
        return;
    const uintptr_t cfa = ((s->rule & kRuleCfaRbp) ? s->caller_rbp : s->caller_sp) + rule_cfa_offset(s->rule);
    s->stepped = *reinterpret_cast<const uintptr_t *>(cfa + rule_ra_offset(s->rule));
    g_sink = 2;
}

__attribute__((noinline)) uintptr_t rsp_caller(OneStep *s) {
    probe(s);
    step_with_rule(s);
    g_sink = 3;
    return reinterpret_cast<uintptr_t>(__builtin_return_address(0));
}

__attribute__((noinline)) uintptr_t rbp_caller(OneStep *s, size_t n) {
    char *scratch = static_cast<char *>(alloca(n));
    std::memset(scratch, 1, n);
    probe(s);
    step_with_rule(s);
    g_sink = scratch[n / 2];
    return reinterpret_cast<uintptr_t>(__builtin_return_address(0));
}

TEST(RuleForReturnAddress, StepsOutOfAnRspBasedFrame) {
    OneStep s{};
    const uintptr_t caller_ra = rsp_caller(&s);
    ASSERT_EQ(rule_kind(s.rule), kRuleStep) << show(s.rule);
    EXPECT_FALSE(s.rule & kRuleCfaRbp) << show(s.rule);
    EXPECT_EQ(s.stepped, caller_ra) << show(s.rule);
}

TEST(RuleForReturnAddress, StepsOutOfAnRbpBasedFrame) {
    OneStep s{};
    const uintptr_t caller_ra = rbp_caller(&s, 100);
    ASSERT_TRUE(is_step(s.rule, true, 16, -8, true, -16));
    EXPECT_EQ(s.stepped, caller_ra) << show(s.rule);
}

struct LibcStep {
    OneStep step;
    void *unw[8];
    int nunw;
    bool done;
};

LibcStep *g_libc;

// Called by libc: its return address is in libc, and libunwind says what
// libc's caller is.
__attribute__((noinline)) int compare_probing(const void *a, const void *b) {
    if (!g_libc->done) {
        g_libc->done = true;
        const auto *fp = static_cast<const uintptr_t *>(__builtin_frame_address(0));
        g_libc->step.caller_rbp = fp[0];
        g_libc->step.ra = fp[1];
        g_libc->step.caller_sp = reinterpret_cast<uintptr_t>(fp + 2);
        step_with_rule(&g_libc->step);
        g_libc->nunw = unw_backtrace(g_libc->unw, 8);
    }
    const int x = *static_cast<const int *>(a), y = *static_cast<const int *>(b);
    g_sink = x;
    return (x > y) - (x < y);
}

void check_libc_step(const LibcStep &l) {
    ASSERT_TRUE(l.done);
    Dl_info info;
    ASSERT_TRUE(dladdr(reinterpret_cast<void *>(l.step.ra), &info));
    EXPECT_NE(std::string(info.dli_fname).find("libc.so"), std::string::npos) << info.dli_fname;
    ASSERT_EQ(rule_kind(l.step.rule), kRuleStep) << show(l.step.rule);
    // libunwind's frames from compare_probing's: the return address into
    // libc, then libc's caller's (with some libunwind releases,
    // unw_backtrace's own frame comes first).
    int at = -1;
    for (int i = 0; i + 1 < l.nunw; ++i)
        if (reinterpret_cast<uintptr_t>(l.unw[i]) == l.step.ra)
            at = i;
    ASSERT_GE(at, 0) << "libunwind's stack lacks the return address into libc";
    EXPECT_EQ(l.step.stepped, reinterpret_cast<uintptr_t>(l.unw[at + 1])) << show(l.step.rule);
}

TEST(RuleForReturnAddress, StepsOutOfQsort) {
    LibcStep l{};
    g_libc = &l;
    int v[32];
    for (int i = 0; i < 32; ++i)
        v[i] = (i * 13) % 32;
    qsort(v, 32, sizeof v[0], compare_probing);
    check_libc_step(l);
    for (int i = 0; i < 32; ++i)
        EXPECT_EQ(v[i], i);
}

TEST(RuleForReturnAddress, StepsOutOfBsearch) {
    LibcStep l{};
    g_libc = &l;
    int v[64];
    for (int i = 0; i < 64; ++i)
        v[i] = i;
    const int key = 40;
    // Through a pointer: <stdlib.h>'s inline bsearch would have no libc frame.
    void *(*volatile search)(const void *, const void *, size_t, size_t,
                             int (*)(const void *, const void *)) = &bsearch;
    EXPECT_EQ(search(&key, v, 64, sizeof v[0], compare_probing), &v[40]);
    check_libc_step(l);
}

TEST(RuleForReturnAddress, OutermostFrameEndsTheStack) {
    void *frames[256];
    const int n = unw_backtrace(frames, 256);
    ASSERT_GT(n, 2);
    ASSERT_LT(n, 256);
    // _start, in this binary.
    EXPECT_EQ(rule_kind(rule_for_return_address(reinterpret_cast<uintptr_t>(frames[n - 1]))), kRuleEnd);
}

TEST(RuleForReturnAddress, AddressesWithoutCodeAreUnsupported) {
    EXPECT_EQ(rule_kind(rule_for_return_address(0)), kRuleUnsupported);
    EXPECT_EQ(rule_kind(rule_for_return_address(1)), kRuleUnsupported);
    void *anon = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(anon, MAP_FAILED);
    EXPECT_EQ(rule_kind(rule_for_return_address(reinterpret_cast<uintptr_t>(anon) + 16)), kRuleUnsupported);
    munmap(anon, 4096);
    // Data of this binary: inside a module, covered by no FDE.
    EXPECT_EQ(rule_kind(rule_for_return_address(reinterpret_cast<uintptr_t>(&g_sink) + 1)), kRuleUnsupported);
}

}  // namespace
}  // namespace memleak::unwind
