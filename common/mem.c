#include "common/mem.h"

#include "common/panic.h"

#include <stdlib.h>
#include <string.h>

static void *checked(void *pointer, size_t size_bytes)
{
    if (ETHER_UNLIKELY(pointer == NULL && size_bytes > 0)) {
        ETHER_PANIC("out of memory");
    }
    return pointer;
}

void *ether_malloc(size_t size_bytes)
{
    return checked(malloc(size_bytes == 0 ? 1 : size_bytes), 1);
}

void *ether_calloc(size_t count, size_t size_bytes)
{
    if (count == 0 || size_bytes == 0) {
        return checked(calloc(1, 1), 1);
    }
    return checked(calloc(count, size_bytes), 1);
}

void *ether_realloc(void *pointer, size_t size_bytes)
{
    return checked(realloc(pointer, size_bytes == 0 ? 1 : size_bytes), 1);
}

char *ether_strdup(const char *string)
{
    size_t length = strlen(string);
    char *copy = ether_malloc(length + 1);
    memcpy(copy, string, length + 1);
    return copy;
}

void ether_free(void *pointer)
{
    free(pointer);
}
