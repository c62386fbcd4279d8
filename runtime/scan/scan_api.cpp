// The C entry points: check the input, run the query, turn every failure
// into a status and one line.
#include "scan/classify.h"
#include "scan/input_check.h"

namespace memleak::scan {
namespace {

int finish(int status, char *message) {
    if (status == MEMLEAK_SCAN_OK)
        message[0] = '\0';
    return status;
}

}  // namespace
}  // namespace memleak::scan

using memleak::scan::Message;
using memleak::scan::WorkMemory;

extern "C" int memleak_scan_classify(const memleak_scan_input_t *input, memleak_scan_result_t *result) {
    if (!result)
        return MEMLEAK_SCAN_EINVAL;
    Message message(result->message, sizeof result->message);
    int status = memleak::scan::check_input(input, message);
    if (status != MEMLEAK_SCAN_OK)
        return status;
    if (input->block_count && !result->kinds) {
        message.text("no kinds array for ").dec(input->block_count).text(" blocks");
        return MEMLEAK_SCAN_EINVAL;
    }
    WorkMemory work(input->allocator);
    return memleak::scan::finish(memleak::scan::classify(*input, *result, work, message), result->message);
}

extern "C" int memleak_scan_who(const memleak_scan_input_t *input, memleak_scan_who_t *query) {
    if (!query)
        return MEMLEAK_SCAN_EINVAL;
    Message message(query->message, sizeof query->message);
    int status = memleak::scan::check_input(input, message);
    if (status != MEMLEAK_SCAN_OK)
        return status;
    WorkMemory work(input->allocator);
    return memleak::scan::finish(memleak::scan::who(*input, *query, work, message), query->message);
}

extern "C" uint32_t memleak_scan_version(void) { return MEMLEAK_SCAN_VERSION; }
