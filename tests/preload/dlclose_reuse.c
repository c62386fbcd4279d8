/* A stack recorded through a library that replaced, at the same addresses, a
 * library dlclose unloaded: the unwind rules learnt in the first must not be
 * applied to the second. Libraries A and B (dlclose_reuse_lib.h) return to
 * the same address from malloc, in frames of different sizes; A's rule for
 * that address, applied in B, would end B's stack at lib_alloc. The stack of
 * B's block must go on, exactly, into call_lib and main. */
#include <stdio.h>
#include <stdlib.h>

#include "introspect_walk.h"

typedef void *(*alloc_fn)(size_t);

void *volatile sink;

int main(void);

/* One call site for both libraries: the frames above lib_alloc are the same. */
__attribute__((noinline)) void *call_lib(alloc_fn fn, size_t n) {
    void *p = fn(n);
    sink = p;
    return p;
}

struct lib {
    void *handle;
    alloc_fn alloc;
    const uint64_t *malloc_return;
    const uint64_t *caller_return;
    uintptr_t base;
};

static int open_lib(const char *path, struct lib *l) {
    l->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!l->handle) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return 0;
    }
    l->alloc = (alloc_fn)dlsym(l->handle, "lib_alloc");
    l->malloc_return = (const uint64_t *)dlsym(l->handle, "lib_malloc_return");
    l->caller_return = (const uint64_t *)dlsym(l->handle, "lib_caller_return");
    Dl_info info;
    if (!l->alloc || !l->malloc_return || !l->caller_return || !dladdr((const void *)l->alloc, &info)) {
        fprintf(stderr, "%s lacks the symbols of dlclose_reuse_lib.h\n", path);
        return 0;
    }
    l->base = (uintptr_t)info.dli_fbase;
    return 1;
}

/* p's record: `size` bytes, allocated from lib_alloc's call to malloc,
 * called from call_lib, called from main. */
static void check_stack(const memleak_introspect_t *ix, const void *p, uint64_t size, const struct lib *l,
                        const char *which) {
    memleak_record_t rec;
    if (!ml_find(ix, p, &rec)) {
        fprintf(stderr, "%s: no record of the block\n", which);
        ++ml_failures;
        return;
    }
    ML_CHECK(ml_size(&rec) == size);
    const memleak_stack_t *st = ml_stack(ix, rec.stack_id);
    if (!st || st->depth < 3) {
        fprintf(stderr, "%s: a stack of %u frames, not lib_alloc, call_lib, main...\n", which,
                st ? st->depth : 0u);
        ++ml_failures;
        return;
    }
    if (ml_frame(st, 0) != *l->malloc_return || ml_frame(st, 1) != *l->caller_return ||
        !ml_pc_in_function(ml_frame(st, 1), (const void *)call_lib) ||
        !ml_pc_in_function(ml_frame(st, 2), (const void *)main)) {
        fprintf(stderr,
                "%s: frames %#llx %#llx %#llx, expected %#llx (lib_alloc) %#llx (call_lib) then main\n",
                which, (unsigned long long)ml_frame(st, 0), (unsigned long long)ml_frame(st, 1),
                (unsigned long long)ml_frame(st, 2), (unsigned long long)*l->malloc_return,
                (unsigned long long)*l->caller_return);
        ++ml_failures;
    }
}

int main(void) {
    const memleak_introspect_t *ix = ml_root();
    if (!ix) {
        fprintf(stderr, "dlclose_reuse runs with the runtime preloaded only\n");
        return 2;
    }

    struct lib a, b;
    if (!open_lib(DLCLOSE_REUSE_LIB_A, &a))
        return 2;
    /* Twice: the second unwind uses the rules the first one learnt. */
    for (int i = 0; i < 2; ++i) {
        void *p = call_lib(a.alloc, 1000 + i);
        check_stack(ix, p, 1000 + i, &a, "A");
        free(p);
    }
    const uintptr_t a_base = a.base;
    const uint64_t a_return = *a.malloc_return;
    ML_CHECK(dlclose(a.handle) == 0);
    ML_CHECK(dlopen(DLCLOSE_REUSE_LIB_A, RTLD_NOW | RTLD_NOLOAD) == NULL);

    if (!open_lib(DLCLOSE_REUSE_LIB_B, &b))
        return 2;
    if (b.base != a_base || *b.malloc_return != a_return) {
        /* Nothing was reused: this run could not tell a stale rule. */
        fprintf(stderr, "B was mapped at %#lx, A at %#lx: the test needs the same address\n",
                (unsigned long)b.base, (unsigned long)a_base);
        return 1;
    }
    for (int i = 0; i < 2; ++i) {
        void *q = call_lib(b.alloc, 2000 + i);
        check_stack(ix, q, 2000 + i, &b, "B");
        free(q);
    }
    ML_CHECK(dlclose(b.handle) == 0);
    return ml_failures ? 1 : 0;
}
