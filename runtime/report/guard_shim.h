#pragma once
namespace memleak::report {
struct ScopedReentry { ScopedReentry() {} };
}
