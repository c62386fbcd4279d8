/*
 * memleak reachability scanner: Valgrind's leak classes for a set of live
 * heap blocks, from memory the caller has read and root ranges it chose.
 *
 * One implementation serves two callers:
 *   - the runtime, in process at exit (linked statically; segments are the
 *     process's own memory, the allocator is the runtime's mmap arena);
 *   - the gdb extension, through libmemleak-scan.so and ctypes (segments are
 *     buffers read in large chunks from a live process or a core file).
 *
 * The scanner trusts nothing it is given: a read outside the segments counts
 * as unreadable and never faults; unsorted or overlapping input is an error
 * code with a one-line message; time is O(scanned bytes + blocks log blocks),
 * memory O(blocks) besides the caller's segments, and nothing recurses.
 *
 * Classes (Valgrind memcheck's meaning):
 *   still reachable  a chain of start pointers leads to it from a root (an
 *                    interior pointer a heuristic accepts counts as a start);
 *   possibly lost    reached from the roots only through at least one
 *                    interior pointer;
 *   indirectly lost  not reached from a root, but pointed to by a lost block;
 *   definitely lost  not reached, and not claimed by another lost block.
 *                    Unreached blocks are grouped as Valgrind does: in address
 *                    order, each block not yet claimed leads a group and
 *                    claims every unclaimed block it reaches (through start
 *                    or interior pointers), earlier leaders included; a block
 *                    is claimed once. In an unreachable cycle one block is
 *                    thus definitely lost and the rest indirectly.
 * Pointers are 8-byte aligned little-endian words; a word points into a block
 * when it lies in [address, address + size), or equals the address of a
 * zero-sized block.
 *
 * MEMLEAK_SCAN_VERSION changes whenever a struct below changes; a caller that
 * binds at run time compares it with memleak_scan_version().
 */
#ifndef MEMLEAK_SCAN_H
#define MEMLEAK_SCAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MEMLEAK_SCAN_VERSION 1u

#if defined(MEMLEAK_SCAN_SHARED_BUILD)
#define MEMLEAK_SCAN_API __attribute__((visibility("default")))
#else
#define MEMLEAK_SCAN_API
#endif

/* Status codes returned by the entry points. */
enum {
    MEMLEAK_SCAN_OK = 0,
    MEMLEAK_SCAN_EINVAL = 1,    /* a required pointer is NULL, or a count is too big */
    MEMLEAK_SCAN_EBLOCKS = 2,   /* blocks unsorted, overlapping or wrapping around */
    MEMLEAK_SCAN_ESEGMENTS = 3, /* segments unsorted, overlapping or wrapping around */
    MEMLEAK_SCAN_EROOTS = 4,    /* a root with an unknown kind or wrapping around */
    MEMLEAK_SCAN_ENOMEM = 5     /* the allocator refused the working memory */
};

/* Leak classes, as written to memleak_scan_result_t.kinds. */
enum {
    MEMLEAK_SCAN_DEFINITELY_LOST = 1,
    MEMLEAK_SCAN_INDIRECTLY_LOST = 2,
    MEMLEAK_SCAN_POSSIBLY_LOST = 3,
    MEMLEAK_SCAN_STILL_REACHABLE = 4
};

/* Valgrind's heuristics: an interior pointer they accept counts as a start
 * pointer. Valgrind 3.19 enables all four by default. */
enum {
    MEMLEAK_SCAN_HEURISTIC_NONE = 0,
    MEMLEAK_SCAN_HEURISTIC_STDSTRING = 1,           /* 3 words past the start of a COW string rep */
    MEMLEAK_SCAN_HEURISTIC_LENGTH64 = 2,            /* 8 bytes past a 64-bit length of the rest */
    MEMLEAK_SCAN_HEURISTIC_NEWARRAY = 3,            /* 8 bytes past a new[] element count */
    MEMLEAK_SCAN_HEURISTIC_MULTIPLE_INHERITANCE = 4 /* a second vtable pointer */
};
#define MEMLEAK_SCAN_HEURISTIC_BIT(h) (1u << (h))
#define MEMLEAK_SCAN_HEURISTICS_ALL                                 \
    (MEMLEAK_SCAN_HEURISTIC_BIT(MEMLEAK_SCAN_HEURISTIC_STDSTRING) | \
     MEMLEAK_SCAN_HEURISTIC_BIT(MEMLEAK_SCAN_HEURISTIC_LENGTH64) |  \
     MEMLEAK_SCAN_HEURISTIC_BIT(MEMLEAK_SCAN_HEURISTIC_NEWARRAY) |  \
     MEMLEAK_SCAN_HEURISTIC_BIT(MEMLEAK_SCAN_HEURISTIC_MULTIPLE_INHERITANCE))

/* Root kinds: the scanner treats them alike; callers use them to describe
 * a chain (`memleak why`). `owner` is the caller's: a thread or module index. */
enum {
    MEMLEAK_SCAN_ROOT_STACK = 1,
    MEMLEAK_SCAN_ROOT_REGISTERS = 2,
    MEMLEAK_SCAN_ROOT_TLS = 3,
    MEMLEAK_SCAN_ROOT_DATA = 4,   /* writable data and bss of a module */
    MEMLEAK_SCAN_ROOT_MAPPING = 5 /* another writable mapping of the program */
};

/* Segment flags: only the multiple-inheritance heuristic uses them (a vtable
 * lies in a file mapping; its entries point into executable file mappings). */
enum {
    MEMLEAK_SCAN_SEGMENT_FILE = 1, /* mapped from a file */
    MEMLEAK_SCAN_SEGMENT_EXEC = 2  /* executable */
};

/* A live heap block. Sorted by address, not overlapping. */
typedef struct memleak_scan_block_t {
    uint64_t address;
    uint64_t size;
} memleak_scan_block_t;

/* Memory the caller has: `length` bytes at `address` are `bytes[0..length)`.
 * `bytes` may be NULL: the range exists (its flags count) but is unreadable.
 * Sorted by address, not overlapping. */
typedef struct memleak_scan_segment_t {
    uint64_t address;
    uint64_t length;
    const void *bytes;
    uint32_t flags;
    uint32_t reserved;
} memleak_scan_segment_t;

/* A range whose words are roots. With `bytes` NULL its contents come from the
 * segments, and words inside live blocks are skipped (a block's contents
 * count only through the block, as in Valgrind: memory the program got from
 * malloc, dynamic TLS included, is reached through the pointers to it).
 * Roots may overlap: a word is scanned once, for the lowest-addressed root
 * holding it. With `bytes` set (registers), the root is those `length`
 * bytes, aligned as if they lay at `address`. */
typedef struct memleak_scan_root_t {
    uint64_t address;
    uint64_t length;
    const void *bytes;
    uint32_t kind;
    uint32_t owner;
} memleak_scan_root_t;

/* Working memory for the scanner. NULL in memleak_scan_input_t: anonymous
 * mmap. `allocate` returns NULL on failure; memory need not be zeroed. */
typedef struct memleak_scan_allocator_t {
    void *(*allocate)(void *context, size_t bytes);
    void (*release)(void *context, void *memory, size_t bytes);
    void *context;
} memleak_scan_allocator_t;

typedef struct memleak_scan_input_t {
    const memleak_scan_block_t *blocks;
    uint64_t block_count; /* at most 0xfffffffe */
    const memleak_scan_segment_t *segments;
    uint64_t segment_count;
    const memleak_scan_root_t *roots;
    uint64_t root_count;
    uint32_t heuristics; /* MEMLEAK_SCAN_HEURISTIC_BIT()s; Valgrind's default: _ALL */
    uint32_t reserved;
    const memleak_scan_allocator_t *allocator;
} memleak_scan_input_t;

/* Where a pointer was found and where it points. */
enum {
    MEMLEAK_SCAN_FROM_NONE = 0,
    MEMLEAK_SCAN_FROM_ROOT = 1, /* `index` is a root, `offset` from its address */
    MEMLEAK_SCAN_FROM_BLOCK = 2 /* `index` is a block, `offset` from its address */
};
typedef struct memleak_scan_ref_t {
    uint64_t offset;        /* of the pointer word inside its root or block */
    uint64_t target_offset; /* where it points, from the start of the target block */
    uint32_t index;
    uint16_t from;      /* MEMLEAK_SCAN_FROM_* */
    uint16_t heuristic; /* the heuristic that accepts this interior pointer, or 0 */
} memleak_scan_ref_t;

typedef struct memleak_scan_result_t {
    /* Caller-provided arrays of block_count entries. `kinds` is required. */
    uint8_t *kinds;      /* MEMLEAK_SCAN_* class of each block */
    uint8_t *heuristics; /* NULL, or: the heuristic a still-reachable block was
                            reached by when no start pointer reaches it */
    /* NULL, or the pointer that first gave each block its class: for a still
     * reachable block the last link of a shortest chain of start pointers
     * from a root (breadth first, through still-reachable blocks only); for
     * a possibly lost block the last link of a short chain from a root; for
     * an indirectly lost block a lost block that points to it; FROM_NONE for
     * definitely lost blocks. */
    memleak_scan_ref_t *predecessors;
    /* Filled in: totals per class, indexed by MEMLEAK_SCAN_* class. */
    uint64_t class_blocks[5];
    uint64_t class_bytes[5];
    uint64_t scanned_bytes;    /* root and block bytes read as words */
    uint64_t unreadable_bytes; /* root and block bytes outside the segments */
    char message[256];         /* why a call failed, one line */
} memleak_scan_result_t;

/* Classifies every block. Returns MEMLEAK_SCAN_OK or an error status with
 * `result->message` set; on error `kinds` is unspecified. */
MEMLEAK_SCAN_API int memleak_scan_classify(const memleak_scan_input_t *input, memleak_scan_result_t *result);

typedef struct memleak_scan_who_t {
    uint64_t target;          /* in: index of the block asked about */
    memleak_scan_ref_t *refs; /* in: room for `capacity` references */
    uint64_t capacity;
    uint64_t total; /* out: every reference found (more than capacity: truncated) */
    char message[256];
} memleak_scan_who_t;

/* Every root word and block word that points into block `who->target`:
 * roots given as bytes, then the others by address, then blocks by address.
 * Returns a status as memleak_scan_classify. */
MEMLEAK_SCAN_API int memleak_scan_who(const memleak_scan_input_t *input, memleak_scan_who_t *who);

/* MEMLEAK_SCAN_VERSION of the library actually loaded. */
MEMLEAK_SCAN_API uint32_t memleak_scan_version(void);

#ifdef __cplusplus
}
#endif

#endif
