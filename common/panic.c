#include "common/panic.h"

#include <stdio.h>
#include <stdlib.h>

void ether_panic_assert(const char *expression, const char *file, int line, const char *function)
{
    fprintf(stderr, "%s:%d: %s: assertion `%s' failed\n", file, line, function, expression);
    fflush(stderr);
    abort();
}

void ether_panic(const char *file, int line, const char *function, const char *message)
{
    fprintf(stderr, "%s:%d: %s: panic: %s\n", file, line, function, message);
    fflush(stderr);
    abort();
}
