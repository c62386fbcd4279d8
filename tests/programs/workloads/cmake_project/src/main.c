#include <stdio.h>
#include <stdlib.h>

#include "shapes.h"

int main(void) {
    for (int sides = 0; sides < 8; ++sides) {
        char *name = name_of(sides);
        printf("%-8s %10.4f\n", name, area_of(name, 1.0 + sides));
        free(name);
    }
    return 0;
}
