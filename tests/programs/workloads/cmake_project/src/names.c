#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shapes.h"

char *name_of(int sides) {
    static const char *const names[] = {"circle", "line", "angle", "triangle", "square"};
    char buf[32];
    if (sides >= 0 && sides < 5)
        snprintf(buf, sizeof buf, "%s", names[sides]);
    else
        snprintf(buf, sizeof buf, "%d-gon", sides);
#ifdef HAVE_STRDUP
    return strdup(buf);
#else
    char *p = malloc(strlen(buf) + 1);
    return p ? strcpy(p, buf) : NULL;
#endif
}
