/* Library B of dlclose_reuse (see dlclose_reuse_lib.h): a 40-byte frame whose
 * word at 8(%rsp) is zero at the call (movq $0, 8(%rsp) takes 9 bytes). */
#include "dlclose_reuse_lib.h"

DLCLOSE_REUSE_LIBRARY(40, "    movq $0, 8(%rsp)\n");
