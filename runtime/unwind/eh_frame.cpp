#include "unwind/eh_frame.h"

#include <dlfcn.h>
#include <link.h>

#include <cstddef>

#include <cstring>

#include "unwind/fork_gate.h"
#include "unwind/step_rule.h"

namespace memleak::unwind {

namespace {

// DW_EH_PE pointer encodings (Linux Standard Base, "Exception Frames").
constexpr uint8_t kPeOmit = 0xff;
constexpr uint8_t kPeAbsptr = 0x00;
constexpr uint8_t kPeUleb128 = 0x01;
constexpr uint8_t kPeUdata2 = 0x02;
constexpr uint8_t kPeUdata4 = 0x03;
constexpr uint8_t kPeUdata8 = 0x04;
constexpr uint8_t kPeSleb128 = 0x09;
constexpr uint8_t kPeSdata2 = 0x0a;
constexpr uint8_t kPeSdata4 = 0x0b;
constexpr uint8_t kPeSdata8 = 0x0c;
constexpr uint8_t kPePcrel = 0x10;
constexpr uint8_t kPeDatarel = 0x30;
constexpr uint8_t kPeIndirect = 0x80;

// A bounded cursor: a read past the end sets a flag instead of reading.
class Cursor {
public:
    Cursor(const uint8_t *p, const uint8_t *end) : p_(p), end_(end) {}

    bool ok() const { return ok_; }
    bool more() const { return ok_ && p_ < end_; }
    const uint8_t *pos() const { return p_; }
    void fail() { ok_ = false; }

    void skip(uint64_t n) {
        if (n > static_cast<uint64_t>(end_ - p_))
            fail();
        else
            p_ += n;
    }

    template <typename T>
    T fixed() {
        T v{};
        if (sizeof(T) > static_cast<size_t>(end_ - p_)) {
            fail();
            return v;
        }
        std::memcpy(&v, p_, sizeof(T));
        p_ += sizeof(T);
        return v;
    }

    uint8_t u8() { return fixed<uint8_t>(); }

    uint64_t uleb() {
        uint64_t v = 0;
        unsigned shift = 0;
        for (;;) {
            const uint8_t b = u8();
            if (!ok_)
                return 0;
            if (shift < 64)
                v |= static_cast<uint64_t>(b & 0x7f) << shift;
            shift += 7;
            if (!(b & 0x80))
                return v;
        }
    }

    int64_t sleb() {
        uint64_t v = 0;
        unsigned shift = 0;
        uint8_t b;
        do {
            b = u8();
            if (!ok_)
                return 0;
            if (shift < 64)
                v |= static_cast<uint64_t>(b & 0x7f) << shift;
            shift += 7;
        } while (b & 0x80);
        if (shift < 64 && (b & 0x40))
            v |= ~UINT64_C(0) << shift;
        return static_cast<int64_t>(v);
    }

    // The value of an encoded pointer's format alone (no base applied).
    uint64_t value(uint8_t enc) {
        switch (enc & 0x0f) {
        case kPeAbsptr:
        case kPeUdata8:
        case kPeSdata8:
            return fixed<uint64_t>();
        case kPeUleb128:
            return uleb();
        case kPeUdata2:
            return fixed<uint16_t>();
        case kPeUdata4:
            return fixed<uint32_t>();
        case kPeSleb128:
            return static_cast<uint64_t>(sleb());
        case kPeSdata2:
            return static_cast<uint64_t>(static_cast<int64_t>(fixed<int16_t>()));
        case kPeSdata4:
            return static_cast<uint64_t>(static_cast<int64_t>(fixed<int32_t>()));
        default:
            fail();
            return 0;
        }
    }

    // An encoded address: absolute, pc-relative or relative to
    // `datarel_base`. Other bases and indirection do not occur in the
    // places this is used for (FDE ranges, .eh_frame_hdr).
    uint64_t address(uint8_t enc, uintptr_t datarel_base) {
        const uintptr_t here = reinterpret_cast<uintptr_t>(p_);
        uint64_t v = value(enc);
        switch (enc & 0x70) {
        case 0:
            break;
        case kPePcrel:
            v += here;
            break;
        case kPeDatarel:
            if (!datarel_base)
                fail();
            v += datarel_base;
            break;
        default:
            fail();
        }
        if (enc & kPeIndirect)
            fail();
        return v;
    }

private:
    const uint8_t *p_;
    const uint8_t *end_;
    bool ok_ = true;
};

// The extent of a CIE or FDE: its length field, then that many bytes.
// Sets *body to the first byte after the length field.
bool entry_bounds(const uint8_t *entry, const uint8_t **body, const uint8_t **end, bool *wide) {
    uint32_t len32;
    std::memcpy(&len32, entry, sizeof len32);
    const uint8_t *p = entry + sizeof len32;
    uint64_t len = len32;
    *wide = false;
    if (len32 == 0xffffffffu) {
        std::memcpy(&len, p, sizeof len);
        p += sizeof len;
        *wide = true;
    }
    if (len == 0 || len > (UINT64_C(1) << 30))
        return false;
    *body = p;
    *end = p + len;
    return true;
}

struct Cie {
    uint64_t code_align;
    int64_t data_align;
    uint8_t fde_encoding;
    bool has_augmentation_data;
    bool signal_frame;
    const uint8_t *insns;
    const uint8_t *insns_end;
};

bool parse_cie(const uint8_t *entry, Cie *cie) {
    const uint8_t *body, *end;
    bool wide;
    if (!entry_bounds(entry, &body, &end, &wide))
        return false;
    Cursor c(body, end);
    const uint64_t id = wide ? c.fixed<uint64_t>() : c.fixed<uint32_t>();
    if (id != 0)
        return false;
    const uint8_t version = c.u8();
    if (version != 1 && version != 3 && version != 4)
        return false;
    char aug[8];
    size_t aug_len = 0;
    for (;;) {
        const uint8_t ch = c.u8();
        if (!c.ok() || ch == 0)
            break;
        if (aug_len + 1 >= sizeof aug)
            return false;
        aug[aug_len++] = static_cast<char>(ch);
    }
    aug[aug_len] = '\0';
    size_t a = 0;
    if (aug[0] == 'e' && aug[1] == 'h') {
        c.skip(sizeof(uint64_t));
        a = 2;
    }
    if (version == 4)
        c.skip(2);  // address_size, segment_selector_size
    cie->code_align = c.uleb();
    cie->data_align = c.sleb();
    const uint64_t ra_column = version == 1 ? c.u8() : c.uleb();
    if (ra_column != kDwarfReturnAddress)
        return false;
    cie->fde_encoding = kPeAbsptr;
    cie->has_augmentation_data = false;
    cie->signal_frame = false;
    if (aug[a] == 'z') {
        cie->has_augmentation_data = true;
        const uint64_t data_len = c.uleb();
        const uint8_t *data_end = c.pos() + data_len;
        for (++a; aug[a]; ++a) {
            switch (aug[a]) {
            case 'R':
                cie->fde_encoding = c.u8();
                break;
            case 'P': {
                const uint8_t enc = c.u8();
                if ((enc & 0x70) == 0x50)  // aligned: never emitted on x86-64
                    return false;
                c.value(enc);
                break;
            }
            case 'L':
                c.u8();
                break;
            case 'S':
                cie->signal_frame = true;
                break;
            default:
                return false;
            }
        }
        if (!c.ok() || data_end > end || data_end < c.pos())
            return false;
        c.skip(static_cast<uint64_t>(data_end - c.pos()));
    } else if (aug[a] != '\0') {
        return false;
    }
    if (!c.ok() || cie->code_align == 0)
        return false;
    cie->insns = c.pos();
    cie->insns_end = end;
    return true;
}

enum class Saved : uint8_t { kSame, kUndefined, kAtOffset, kOther };

struct RegRule {
    Saved how;
    int64_t offset;
};

struct Row {
    unsigned cfa_reg;
    int64_t cfa_offset;
    bool cfa_other;  // a DWARF expression
    bool rsp_other;  // %rsp restored other than as the CFA (hand-written code)
    RegRule rbp;
    RegRule ra;
};

class CfaProgram {
public:
    CfaProgram(const Cie &cie, uintptr_t datarel_base, uint64_t target)
        : cie_(cie), datarel_base_(datarel_base), target_(target) {}

    // Runs instructions until the next row would start after the target.
    // False for a malformed or unmodelled program.
    bool run(const uint8_t *p, const uint8_t *end, uint64_t *loc, Row *row, const Row &initial) {
        Cursor c(p, end);
        while (c.more()) {
            const uint8_t op = c.u8();
            const uint8_t low = op & 0x3f;
            switch (op & 0xc0) {
            case 0x40:  // DW_CFA_advance_loc
                if (!advance(loc, low * cie_.code_align))
                    return true;
                continue;
            case 0x80:  // DW_CFA_offset
                set_offset(row, low, static_cast<int64_t>(c.uleb()) * cie_.data_align);
                continue;
            case 0xc0:  // DW_CFA_restore
                restore(row, low, initial);
                continue;
            default:
                break;
            }
            switch (op) {
            case 0x00:  // DW_CFA_nop
                break;
            case 0x01: {  // DW_CFA_set_loc
                const uint64_t to = c.address(cie_.fde_encoding, datarel_base_);
                if (!c.ok() || to < *loc)
                    return false;
                if (!advance(loc, to - *loc))
                    return true;
                break;
            }
            case 0x02:  // DW_CFA_advance_loc1
                if (!advance(loc, c.u8() * cie_.code_align))
                    return c.ok();
                break;
            case 0x03:  // DW_CFA_advance_loc2
                if (!advance(loc, c.fixed<uint16_t>() * cie_.code_align))
                    return c.ok();
                break;
            case 0x04:  // DW_CFA_advance_loc4
                if (!advance(loc, c.fixed<uint32_t>() * cie_.code_align))
                    return c.ok();
                break;
            case 0x05: {  // DW_CFA_offset_extended
                const uint64_t reg = c.uleb();
                set_offset(row, reg, static_cast<int64_t>(c.uleb()) * cie_.data_align);
                break;
            }
            case 0x06:  // DW_CFA_restore_extended
                restore(row, c.uleb(), initial);
                break;
            case 0x07:  // DW_CFA_undefined
                set(row, c.uleb(), RegRule{Saved::kUndefined, 0});
                break;
            case 0x08:  // DW_CFA_same_value
                set(row, c.uleb(), RegRule{Saved::kSame, 0});
                break;
            case 0x09:  // DW_CFA_register
                set(row, c.uleb(), RegRule{Saved::kOther, 0});
                c.uleb();
                break;
            case 0x0a:  // DW_CFA_remember_state
                if (depth_ == kMaxRemembered)
                    return false;
                remembered_[depth_++] = *row;
                break;
            case 0x0b:  // DW_CFA_restore_state
                if (depth_ == 0)
                    return false;
                *row = remembered_[--depth_];
                break;
            case 0x0c:  // DW_CFA_def_cfa
                row->cfa_reg = static_cast<unsigned>(c.uleb());
                row->cfa_offset = static_cast<int64_t>(c.uleb());
                row->cfa_other = false;
                break;
            case 0x0d:  // DW_CFA_def_cfa_register
                row->cfa_reg = static_cast<unsigned>(c.uleb());
                row->cfa_other = false;
                break;
            case 0x0e:  // DW_CFA_def_cfa_offset
                row->cfa_offset = static_cast<int64_t>(c.uleb());
                break;
            case 0x0f:  // DW_CFA_def_cfa_expression
                c.skip(c.uleb());
                row->cfa_other = true;
                break;
            case 0x10: {  // DW_CFA_expression
                const uint64_t reg = c.uleb();
                c.skip(c.uleb());
                set(row, reg, RegRule{Saved::kOther, 0});
                break;
            }
            case 0x11: {  // DW_CFA_offset_extended_sf
                const uint64_t reg = c.uleb();
                set_offset(row, reg, c.sleb() * cie_.data_align);
                break;
            }
            case 0x12:  // DW_CFA_def_cfa_sf
                row->cfa_reg = static_cast<unsigned>(c.uleb());
                row->cfa_offset = c.sleb() * cie_.data_align;
                row->cfa_other = false;
                break;
            case 0x13:  // DW_CFA_def_cfa_offset_sf
                row->cfa_offset = c.sleb() * cie_.data_align;
                break;
            case 0x14:    // DW_CFA_val_offset
            case 0x15: {  // DW_CFA_val_offset_sf
                const uint64_t reg = c.uleb();
                if (op == 0x14)
                    c.uleb();
                else
                    c.sleb();
                set(row, reg, RegRule{Saved::kOther, 0});
                break;
            }
            case 0x16: {  // DW_CFA_val_expression
                const uint64_t reg = c.uleb();
                c.skip(c.uleb());
                set(row, reg, RegRule{Saved::kOther, 0});
                break;
            }
            case 0x2e:  // DW_CFA_GNU_args_size: matters to landing pads only
                c.uleb();
                break;
            case 0x2f: {  // DW_CFA_GNU_negative_offset_extended
                const uint64_t reg = c.uleb();
                set_offset(row, reg, -static_cast<int64_t>(c.uleb()) * cie_.data_align);
                break;
            }
            default:
                return false;
            }
            if (!c.ok())
                return false;
        }
        return c.ok();
    }

private:
    static constexpr int kMaxRemembered = 8;

    // False when the next row starts beyond the target: the current row is
    // the answer.
    bool advance(uint64_t *loc, uint64_t delta) {
        if (delta > target_ - *loc)
            return false;
        *loc += delta;
        return true;
    }

    static void set(Row *row, uint64_t reg, RegRule rule) {
        if (reg == kDwarfRbp)
            row->rbp = rule;
        else if (reg == kDwarfReturnAddress)
            row->ra = rule;
        else if (reg == kDwarfRsp)
            row->rsp_other = rule.how != Saved::kSame;
    }

    static void set_offset(Row *row, uint64_t reg, int64_t offset) {
        set(row, reg, RegRule{Saved::kAtOffset, offset});
    }

    static void restore(Row *row, uint64_t reg, const Row &initial) {
        if (reg == kDwarfRbp)
            row->rbp = initial.rbp;
        else if (reg == kDwarfReturnAddress)
            row->ra = initial.ra;
        else if (reg == kDwarfRsp)
            row->rsp_other = initial.rsp_other;
    }

    const Cie &cie_;
    uintptr_t datarel_base_;
    uint64_t target_;
    Row remembered_[kMaxRemembered];
    int depth_ = 0;
};

uint64_t pack_row(const Row &row) {
    if (row.cfa_other || row.rsp_other || (row.cfa_reg != kDwarfRsp && row.cfa_reg != kDwarfRbp))
        return kRuleUnsupported;
    if (row.cfa_offset < INT32_MIN || row.cfa_offset > INT32_MAX)
        return kRuleUnsupported;
    if (row.ra.how == Saved::kUndefined)
        return kRuleEnd;
    if (row.ra.how != Saved::kAtOffset)
        return kRuleUnsupported;
    StepRule step{};
    step.cfa_rbp = row.cfa_reg == kDwarfRbp;
    step.cfa_offset = static_cast<int32_t>(row.cfa_offset);
    step.ra_offset = static_cast<int32_t>(row.ra.offset);
    if (row.ra.offset != step.ra_offset)
        return kRuleUnsupported;
    switch (row.rbp.how) {
    case Saved::kSame:
    case Saved::kUndefined:
        break;
    case Saved::kAtOffset:
        step.rbp_saved = true;
        step.rbp_offset = static_cast<int32_t>(row.rbp.offset);
        if (row.rbp.offset != step.rbp_offset)
            return kRuleUnsupported;
        break;
    case Saved::kOther:
        return kRuleUnsupported;
    }
    return pack_step(step);
}

int count_unloads(struct dl_phdr_info *info, size_t size, void *data) {
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs))
        *static_cast<unsigned long long *>(data) = info->dlpi_subs;
    return 1;
}

unsigned long long g_unloads;

}  // namespace

const uint8_t *find_fde(const uint8_t *hdr, size_t size, uintptr_t target) {
    Cursor c(hdr, hdr + size);
    const uint8_t version = c.u8();
    const uint8_t frame_ptr_enc = c.u8();
    const uint8_t count_enc = c.u8();
    const uint8_t table_enc = c.u8();
    // The search table is sorted 4-byte offsets from the header in every
    // binutils and LLVM output; any other form is left to libunwind.
    constexpr uint8_t kTableEnc = kPeDatarel | kPeSdata4;
    if (!c.ok() || version != 1 || count_enc == kPeOmit || table_enc != kTableEnc)
        return nullptr;
    const uintptr_t base = reinterpret_cast<uintptr_t>(hdr);
    c.address(frame_ptr_enc, base);
    const uint64_t count = c.address(count_enc, base);
    if (!c.ok() || count == 0 || count > (size - static_cast<size_t>(c.pos() - hdr)) / 8)
        return nullptr;
    const uint8_t *table = c.pos();
    auto initial = [&](uint64_t i) {
        int32_t v;
        std::memcpy(&v, table + i * 8, sizeof v);
        return base + static_cast<intptr_t>(v);
    };
    uint64_t lo = 0, hi = count;
    while (lo < hi) {
        const uint64_t mid = lo + (hi - lo) / 2;
        if (initial(mid) <= target)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return nullptr;
    int32_t fde_offset;
    std::memcpy(&fde_offset, table + (lo - 1) * 8 + 4, sizeof fde_offset);
    return hdr + fde_offset;
}

uint64_t rule_from_fde(const uint8_t *fde, uintptr_t target, uintptr_t datarel_base) {
    const uint8_t *body, *end;
    bool wide;
    if (!entry_bounds(fde, &body, &end, &wide))
        return kRuleUnsupported;
    Cursor c(body, end);
    const uint8_t *id_field = c.pos();
    const uint64_t cie_offset = wide ? c.fixed<uint64_t>() : c.fixed<uint32_t>();
    if (!c.ok() || cie_offset == 0 || cie_offset > reinterpret_cast<uintptr_t>(id_field))
        return kRuleUnsupported;
    Cie cie;
    if (!parse_cie(id_field - cie_offset, &cie) || cie.signal_frame)
        return kRuleUnsupported;
    const uint64_t pc_begin = c.address(cie.fde_encoding, datarel_base);
    const uint64_t pc_range = c.value(cie.fde_encoding);
    if (cie.has_augmentation_data)
        c.skip(c.uleb());
    if (!c.ok() || target < pc_begin || target - pc_begin >= pc_range)
        return kRuleUnsupported;

    // Before any instruction: the CFA is unknown and so is everything else;
    // the CIE's initial instructions set the common case.
    Row row{};
    row.cfa_reg = ~0u;
    row.rbp = RegRule{Saved::kSame, 0};
    row.ra = RegRule{Saved::kOther, 0};
    CfaProgram program(cie, datarel_base, target);
    uint64_t loc = pc_begin;
    if (!program.run(cie.insns, cie.insns_end, &loc, &row, row))
        return kRuleUnsupported;
    const Row initial = row;
    if (!program.run(c.pos(), end, &loc, &row, initial))
        return kRuleUnsupported;
    return pack_row(row);
}

uint64_t rule_for_return_address(uintptr_t pc) {
    if (pc == 0)
        return kRuleUnsupported;
    const uintptr_t target = pc - 1;
    // Lock-free, unlike dl_iterate_phdr: a fork cannot catch another
    // thread holding the loader's lock here.
    struct dl_find_object object;
    if (_dl_find_object(reinterpret_cast<void *>(target), &object) != 0 || !object.dlfo_eh_frame)
        return kRuleUnsupported;
    const auto *hdr = static_cast<const uint8_t *>(object.dlfo_eh_frame);
    const auto *end = static_cast<const uint8_t *>(object.dlfo_map_end);
    if (hdr >= end)
        return kRuleUnsupported;
    const uint8_t *fde = find_fde(hdr, static_cast<size_t>(end - hdr), target);
    if (!fde)
        return kRuleUnsupported;
    return rule_from_fde(fde, target, reinterpret_cast<uintptr_t>(hdr));
}

bool modules_unloaded() {
    unsigned long long unloads = 0;
    {
        GateGuard gate;
        dl_iterate_phdr(count_unloads, &unloads);
    }
    const unsigned long long seen = __atomic_exchange_n(&g_unloads, unloads, __ATOMIC_RELAXED);
    return unloads != seen;
}

}  // namespace memleak::unwind
