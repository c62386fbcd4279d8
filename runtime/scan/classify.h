// The two queries behind the C entry points, on input already checked.
#pragma once

#include "scan/message.h"
#include "scan/work_memory.h"

#include <memleak/scan.h>

namespace memleak::scan {

int classify(const memleak_scan_input_t &in, memleak_scan_result_t &out, WorkMemory &work, Message &message);

int who(const memleak_scan_input_t &in, memleak_scan_who_t &query, WorkMemory &work, Message &message);

}  // namespace memleak::scan
