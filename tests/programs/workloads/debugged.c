/* A small program for gdb to debug while gdb itself runs under the
 * runtime: a breakpoint, a backtrace, locals, a watchpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item {
    int id;
    char label[16];
    struct item *next;
};

static struct item *push(struct item *head, int id) {
    struct item *it = calloc(1, sizeof *it);
    it->id = id;
    snprintf(it->label, sizeof it->label, "item-%d", id);
    it->next = head;
    return it;
}

static int sum(const struct item *head) {
    int total = 0;
    for (const struct item *it = head; it; it = it->next)
        total += it->id;
    return total;
}

int main(void) {
    struct item *head = NULL;
    for (int i = 1; i <= 5; ++i)
        head = push(head, i * i);
    int total = sum(head);
    printf("total %d\n", total);
    while (head) {
        struct item *next = head->next;
        free(head);
        head = next;
    }
    return total == 55 ? 0 : 1; /* gdb_session.sh stops here */
}
