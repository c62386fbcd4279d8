// Validation of the caller's input before any scan: everything the scanner
// later relies on (sorted, disjoint, no address arithmetic that wraps) is
// checked here once, and a failure is one line naming the first bad entry.
#pragma once

#include "scan/message.h"

#include <memleak/scan.h>

namespace memleak::scan {

// MEMLEAK_SCAN_OK, or an error status with the reason in `message`.
int check_input(const memleak_scan_input_t *input, Message &message);

}  // namespace memleak::scan
