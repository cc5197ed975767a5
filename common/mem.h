/*
 * mem.h: the one allocation policy of Ether.
 *
 * Every heap allocation in the project goes through these wrappers. Running
 * out of memory is not a recoverable condition for a broker (its state would
 * be half-updated), so the wrappers abort with a message instead of returning
 * NULL; callers never check for NULL. ether_free(NULL) is a no-op.
 */
#ifndef ETHER_COMMON_MEM_H
#define ETHER_COMMON_MEM_H

#include <stddef.h>

void *ether_malloc(size_t size_bytes);
void *ether_calloc(size_t count, size_t size_bytes);
void *ether_realloc(void *pointer, size_t size_bytes);
char *ether_strdup(const char *string);
void ether_free(void *pointer);

#endif
