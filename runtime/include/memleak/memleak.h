/*
 * Optional program API of memleak-finder.
 *
 * A program may call these whether or not it runs with libmemleak.so
 * preloaded: the declarations are weak, so the program links without the
 * runtime, and each call is guarded by the memleak_*_available() checks
 * below (the address of a missing weak function is null). Build the program
 * as PIE (the default on Debian) so that the address comes from the GOT.
 */
#ifndef MEMLEAK_MEMLEAK_H
#define MEMLEAK_MEMLEAK_H

#include <stdint.h>

/* Weak for programs; the runtime itself defines them strong and exported. */
#ifdef MEMLEAK_BUILDING_RUNTIME
#define MEMLEAK_API __attribute__((visibility("default")))
#else
#define MEMLEAK_API __attribute__((weak))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Records the last allocation sequence number issued so far under `name`
 * (at most 47 bytes; longer names are cut) in the runtime's marks table, so
 * that `memleak since NAME` in gdb, live or on a core, lists only what was
 * allocated after this call. Marking the same name again moves it. Returns
 * the sequence number stored, or 0 when the table is full or name is null.
 */
MEMLEAK_API uint64_t memleak_mark(const char *name);

/*
 * Writes the live-block report (the one MEMLEAK_REPORT writes at exit) now.
 * `path` is "stderr", a file path (`%p` expands to the pid), or null for
 * the MEMLEAK_REPORT setting (stderr when unset). Returns 0, or -1 with
 * errno set when the file cannot be written.
 */
MEMLEAK_API int memleak_report(const char *path);

#ifdef __cplusplus
} /* extern "C" */
#endif

#ifndef MEMLEAK_BUILDING_RUNTIME
/* Safe wrappers: do nothing (and return 0 / -1) without the runtime. */
static inline uint64_t memleak_try_mark(const char *name) { return memleak_mark ? memleak_mark(name) : 0; }
static inline int memleak_try_report(const char *path) { return memleak_report ? memleak_report(path) : -1; }
#endif

#endif /* MEMLEAK_MEMLEAK_H */
