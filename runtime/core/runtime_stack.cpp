#include "core/runtime_stack.h"

#include <pthread.h>
#include <sys/mman.h>

#include "table/internal_alloc.h"

namespace memleak {

namespace {

pthread_key_t g_stack_key;
bool g_stack_key_ok;
pthread_once_t g_stack_key_once = PTHREAD_ONCE_INIT;

// Thread exit: the stack is unmapped; an allocation in a later key
// destructor of the same thread runs on the program's stack.
void release_stack(void *base) {
    ErrnoSaver saved;
    t_thread_state.runtime_stack = kNoRuntimeStack;
    munmap(base, kRuntimeStackBytes + kPageSize);
    unpublish_region(base, kRuntimeStackBytes + kPageSize);
}

void make_key() { g_stack_key_ok = pthread_key_create(&g_stack_key, release_stack) == 0; }

}  // namespace

void *make_runtime_stack() {
    ErrnoSaver saved;
    t_thread_state.runtime_stack = kNoRuntimeStack;
    pthread_once(&g_stack_key_once, make_key);
    if (!g_stack_key_ok)
        return kNoRuntimeStack;
    // One guard page below: an overflow faults instead of writing over
    // whatever is mapped there.
    void *base = mmap(nullptr, kRuntimeStackBytes + kPageSize, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return kNoRuntimeStack;
    // The runtime's own memory: stale copies of block addresses stay on it,
    // and no reachability reader may take them for roots.
    if (!publish_region(base, kRuntimeStackBytes + kPageSize, MEMLEAK_REGION_STACK)) {
        munmap(base, kRuntimeStackBytes + kPageSize);
        return kNoRuntimeStack;
    }
    if (mprotect(base, kPageSize, PROT_NONE) != 0 || pthread_setspecific(g_stack_key, base) != 0) {
        munmap(base, kRuntimeStackBytes + kPageSize);
        unpublish_region(base, kRuntimeStackBytes + kPageSize);
        return kNoRuntimeStack;
    }
    void *top = static_cast<char *>(base) + kPageSize + kRuntimeStackBytes;
    t_thread_state.runtime_stack = top;
    return top;
}

}  // namespace memleak

// rdi: fn, rsi: arg, rdx: top. A frame-pointer frame on the caller's stack,
// then the call on the new one; the CFA stays %rbp + 16 throughout, so an
// unwinder inside fn steps from here to the caller's stack.
__asm__(R"(
    .text
    .globl memleak_call_on_stack
    .hidden memleak_call_on_stack
    .type memleak_call_on_stack, @function
    .p2align 4
memleak_call_on_stack:
    .cfi_startproc
    endbr64
    pushq %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq %rsp, %rbp
    .cfi_def_cfa_register %rbp
    movq %rdx, %rsp
    movq %rdi, %rax
    movq %rsi, %rdi
    movq %rbp, %rsi
    callq *%rax
    movq %rbp, %rsp
    .cfi_def_cfa_register %rsp
    popq %rbp
    .cfi_def_cfa_offset 8
    .cfi_restore %rbp
    retq
    .cfi_endproc
    .size memleak_call_on_stack, .-memleak_call_on_stack
)");
