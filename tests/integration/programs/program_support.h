/*
 * What the integration test programs share: test_program.h, and a place
 * to keep pointers.
 */
#ifndef PROGRAM_SUPPORT_H
#define PROGRAM_SUPPORT_H

#include "../../programs/test_program.h"

/* Holding the pointers makes every block reachable, so no compiler may
 * treat an allocation as dead; the tool reports live blocks either way. */
static void *volatile sink[256];
static unsigned sink_next;

KEEP_FRAME static void keep(void *p) { sink[__atomic_fetch_add(&sink_next, 1, __ATOMIC_RELAXED) % 256] = p; }

#endif
