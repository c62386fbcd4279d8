/* A do-nothing iconv converter whose set-up allocates through grab(), so
   the allocation's stack runs through this module. Built three times with
   different FRAME sizes: the same code at the same address unwinds
   differently in each. */
#include <gconv.h>
#include <stddef.h>

#define STR2(x) #x
#define STR(x) STR2(x)

/* grab(size): malloc called from a frame of FRAME bytes. */
void *grab(size_t size);
__asm__(".text\n"
        ".globl grab\n"
        ".type grab, @function\n"
        "grab:\n"
        ".cfi_startproc\n"
        "subq $" STR(FRAME) ", %rsp\n"
        ".cfi_def_cfa_offset " STR(FRAME) " + 8\n"
        "call malloc@PLT\n"
        "addq $" STR(FRAME) ", %rsp\n"
        ".cfi_def_cfa_offset 8\n"
        "ret\n"
        ".cfi_endproc\n"
        ".size grab, . - grab\n");

int gconv_init(struct __gconv_step *step) {
    step->__data = grab(64);
    step->__min_needed_from = step->__max_needed_from = 1;
    step->__min_needed_to = step->__max_needed_to = 4;
    step->__stateful = 0;
    return __GCONV_OK;
}

void gconv_end(struct __gconv_step *step) { (void)step; }

int gconv(struct __gconv_step *step, struct __gconv_step_data *data, const unsigned char **inptrp,
          const unsigned char *inend, unsigned char **outbufstart, size_t *irreversible, int do_flush,
          int consume_incomplete) {
    (void)step, (void)data, (void)inptrp, (void)inend, (void)outbufstart, (void)irreversible;
    (void)do_flush, (void)consume_incomplete;
    return __GCONV_EMPTY_INPUT;
}
