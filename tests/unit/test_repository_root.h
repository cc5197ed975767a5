/*
 * test_repository_root.h: where the repository is, for unit tests that run its scripts
 * (scripts/make-test-certs). Header-only, for the test programs.
 */
#ifndef ETHER_TESTS_UNIT_TEST_REPOSITORY_ROOT_H
#define ETHER_TESTS_UNIT_TEST_REPOSITORY_ROOT_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { TEST_REPOSITORY_PATH_BYTES_MAX = 4096 };

/* The repository's root: four levels above build/<flavour>/tests/unit/<program>, else the
 * working directory (tests/run-checks runs from the root). */
static inline void test_repository_root(char *root, size_t root_size)
{
    char exe[TEST_REPOSITORY_PATH_BYTES_MAX];
    ssize_t length = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (length > 0) {
        exe[length] = '\0';
        for (int up = 0; up < 5; up++) {
            char *slash = strrchr(exe, '/');
            if (slash == NULL) {
                break;
            }
            *slash = '\0';
        }
        char script[TEST_REPOSITORY_PATH_BYTES_MAX + 32];
        snprintf(script, sizeof script, "%s/scripts/make-test-certs", exe);
        size_t exe_bytes = strlen(exe);
        if (access(script, X_OK) == 0 && exe_bytes < root_size) {
            memcpy(root, exe, exe_bytes + 1);
            return;
        }
    }
    snprintf(root, root_size, ".");
}

#endif
