#ifndef SHAPES_H
#define SHAPES_H
#include "config.h"
double area_of(const char *kind, double size);
char *name_of(int sides);
#endif
