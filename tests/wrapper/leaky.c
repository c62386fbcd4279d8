/* `leaky leak` keeps three blocks live at exit; `leaky clean` frees all it
 * allocates. The tests read the leaking line from the LEAK mark below. */
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static char *make_record(size_t n) {
    char *p = malloc(n); /* LEAK */
    if (p)
        memset(p, 'r', n);
    return p;
}

__attribute__((noinline)) static void load_records(char **out, int count) {
    for (int i = 0; i < count; ++i)
        out[i] = make_record(1000 + (size_t)i);
}

int main(int argc, char **argv) {
    char *records[3];
    load_records(records, 3);
    if (argc >= 2 && !strcmp(argv[1], "clean"))
        for (int i = 0; i < 3; ++i)
            free(records[i]);
    return 0;
}
