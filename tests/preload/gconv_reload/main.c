/* glibc loads and unloads iconv converters itself, without dlopen or
   dlclose. A converter that allocates from a 128 KiB frame is unloaded, and
   one whose same code allocates from a 136-byte frame is loaded at the same
   address: unwinding its allocation with what was learnt from the first
   must not fault or misstep. Exit 0 and "ok" when the second converter took
   the first one's address and the program ran through; 77 (skipped) when
   the loader put it elsewhere, since then nothing was tested. */
#include <iconv.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

struct lookup {
    const char *name;
    ElfW(Addr) base;
};

static int find(struct dl_phdr_info *info, size_t size, void *data) {
    struct lookup *q = data;
    (void)size;
    if (strstr(info->dlpi_name, q->name))
        q->base = info->dlpi_addr;
    return 0;
}

/* Opens and closes a conversion from `charset`, returning the base address
   its converter had while open (0 if it failed). */
static ElfW(Addr) use(const char *charset, const char *module) {
    iconv_t cd = iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1) {
        perror(charset);
        return 0;
    }
    struct lookup q = {module, 0};
    dl_iterate_phdr(find, &q);
    iconv_close(cd);
    return q.base;
}

int main(void) {
    const ElfW(Addr) big = use("BIGFRAME//", "/bigframe.so");
    /* glibc keeps an unused converter for a while; other conversions make
       it let go. */
    for (int i = 0; i < 3; ++i)
        use("OTHER//", "/other.so");
    const ElfW(Addr) small = use("SMALLFRAME//", "/smallframe.so");
    if (!big || !small)
        return 1;
    if (big != small) {
        fprintf(stderr, "the second converter was loaded elsewhere; nothing tested\n");
        return 77;
    }
    puts("ok");
    return 0;
}
