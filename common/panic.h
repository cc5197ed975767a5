/*
 * panic.h: the project's one assertion macro and its abort path.
 *
 * ETHER_ASSERT states an executable invariant. It is on in every build
 * (release included): a broken invariant in a replicated log means the node's
 * state can no longer be trusted, and stopping is the only safe answer.
 * It is never used on bytes that came from the network or the disk; those get
 * a named error (see error.h) instead.
 *
 * The expression must have no side effects: it is evaluated exactly once, but
 * readers should be able to delete the line without changing behaviour.
 */
#ifndef ETHER_COMMON_PANIC_H
#define ETHER_COMMON_PANIC_H

#if defined(__GNUC__)
#define ETHER_NORETURN    __attribute__((noreturn))
#define ETHER_LIKELY(x)   __builtin_expect(!!(x), 1)
#define ETHER_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define ETHER_NORETURN
#define ETHER_LIKELY(x)   (x)
#define ETHER_UNLIKELY(x) (x)
#endif

/* Prints "file:line: function: assertion `expression' failed" and aborts. */
ETHER_NORETURN void ether_panic_assert(const char *expression, const char *file, int line,
                                       const char *function);

/* Prints "file:line: function: panic: message" and aborts. */
ETHER_NORETURN void ether_panic(const char *file, int line, const char *function,
                                const char *message);

#define ETHER_ASSERT(expression)                                           \
    do {                                                                   \
        if (ETHER_UNLIKELY(!(expression))) {                               \
            ether_panic_assert(#expression, __FILE__, __LINE__, __func__); \
        }                                                                  \
    } while (0)

#define ETHER_PANIC(message) ether_panic(__FILE__, __LINE__, __func__, (message))

#endif
