/*
 * raftsim: the deterministic Raft cluster simulator.
 *
 *   raftsim --seed S [--steps N] [--nodes 3|5] [--trace] [--trace-lines K]
 *       replays one run; on a violation prints the last K events and exits 1.
 *   raftsim --seeds A-B [--steps N] [--nodes 3|5]
 *       sweeps seeds A..B (node count alternates 3/5 unless --nodes is given)
 *       and prints one summary line, plus the replay command of each failure.
 *   raftsim --bench
 *       prints throughput and per-group memory figures.
 * Exit status: 0 when no violation, 1 on a violation, 2 on bad usage.
 */
#include "tests/sim/sim.h"

#include "common/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { FAILURES_LISTED_MAX = 20, CRASH_NOTE_BYTES = 192 };

/*
 * The one piece of process-wide state: when raft (or the simulator) aborts on
 * a broken assertion in the middle of a sweep, the SIGABRT handler prints
 * which seed was running and how to replay it. Everything else lives in
 * struct sim.
 */
static char crash_note[CRASH_NOTE_BYTES];

static void on_abort(int signal_number)
{
    ssize_t ignored = write(STDERR_FILENO, crash_note, strnlen(crash_note, sizeof(crash_note)));
    (void)ignored;
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: raftsim --seed S [--steps N] [--nodes 3|5] [--trace] [--trace-lines K]\n"
                 "       raftsim --seeds A-B [--steps N] [--nodes 3|5]\n"
                 "       (both also take --calm-ticks N)\n"
                 "       raftsim --bench\n");
}

static bool parse_u64(const char *text, uint64_t *value)
{
    if (text == NULL || *text == '\0' || *text == '-') {
        return false;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long parsed = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *value = (uint64_t)parsed;
    return true;
}

static bool parse_range(const char *text, uint64_t *first, uint64_t *last)
{
    const char *dash = text != NULL ? strchr(text, '-') : NULL;
    if (dash == NULL || (size_t)(dash - text) >= 32) {
        return false;
    }
    char head[32];
    memcpy(head, text, (size_t)(dash - text));
    head[dash - text] = '\0';
    return parse_u64(head, first) && parse_u64(dash + 1, last) && *first <= *last;
}

static uint32_t nodes_for_seed(uint32_t nodes_option, uint64_t seed)
{
    if (nodes_option != 0) {
        return nodes_option;
    }
    return seed % 2 == 0 ? 5 : 3;
}

static int sweep(const struct sim_options *base, uint32_t nodes_option, uint64_t first,
                 uint64_t last)
{
    uint64_t start_ns = ether_clock_monotonic_ns(); /* for the summary only */
    uint64_t violations = 0;
    uint64_t steps_total = 0;
    uint64_t failed_seeds[FAILURES_LISTED_MAX];
    uint32_t failed_nodes[FAILURES_LISTED_MAX];
    char first_message[512] = "";
    for (uint64_t seed = first; seed <= last; seed++) {
        struct sim_options options = *base;
        options.seed = seed;
        options.nodes_count = nodes_for_seed(nodes_option, seed);
        options.report = NULL;
        snprintf(crash_note, sizeof(crash_note),
                 "raftsim: aborted in seed %" PRIu64 "; replay with: %s --seed %" PRIu64
                 " --steps %" PRIu64 " --nodes %" PRIu32 "\n",
                 seed, options.program_name, seed, options.steps, options.nodes_count);
        struct sim_result result;
        if (!sim_run(&options, &result)) {
            if (violations < FAILURES_LISTED_MAX) {
                failed_seeds[violations] = seed;
                failed_nodes[violations] = options.nodes_count;
            }
            if (violations == 0) {
                snprintf(first_message, sizeof(first_message), "%s", result.violation);
            }
            violations++;
        }
        steps_total += result.ticks;
        if (seed == UINT64_MAX) {
            break;
        }
    }
    double seconds = (double)(ether_clock_monotonic_ns() - start_ns) / 1e9;
    printf("raftsim: seeds %" PRIu64 "-%" PRIu64 ", %" PRIu64 " runs, %" PRIu64 " ticks, %" PRIu64
           " violations, %.1fs\n",
           first, last, last - first + 1, steps_total, violations, seconds);
    for (uint64_t i = 0; i < violations && i < FAILURES_LISTED_MAX; i++) {
        printf("  FAILED seed %" PRIu64 ": replay with: %s --seed %" PRIu64 " --steps %" PRIu64
               " --nodes %" PRIu32 " --trace\n",
               failed_seeds[i], base->program_name, failed_seeds[i], base->steps, failed_nodes[i]);
    }
    if (violations > 0) {
        printf("  first violation: %s\n", first_message);
    }
    return violations == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct sim_options options;
    sim_options_default(&options);
    const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
    options.program_name = slash != NULL ? slash + 1 : argc > 0 ? argv[0] : "raftsim";
    uint64_t seed = 0;
    uint64_t first = 0;
    uint64_t last = 0;
    uint32_t nodes_option = 0;
    bool have_seed = false;
    bool have_range = false;
    bool bench = false;
    bool live = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t number = 0;
        if (strcmp(arg, "--seed") == 0 && parse_u64(value, &seed)) {
            have_seed = true;
            i++;
        } else if (strcmp(arg, "--seeds") == 0 && parse_range(value, &first, &last)) {
            have_range = true;
            i++;
        } else if (strcmp(arg, "--steps") == 0 && parse_u64(value, &number) && number > 0) {
            options.steps = number;
            i++;
        } else if (strcmp(arg, "--calm-ticks") == 0 && parse_u64(value, &number) && number > 0) {
            options.calm_ticks = number;
            i++;
        } else if (strcmp(arg, "--nodes") == 0 && parse_u64(value, &number) &&
                   (number == 3 || number == 5)) {
            nodes_option = (uint32_t)number;
            i++;
        } else if (strcmp(arg, "--trace-lines") == 0 && parse_u64(value, &number) && number > 0 &&
                   number <= 1000000) {
            options.trace_lines = (size_t)number;
            i++;
        } else if (strcmp(arg, "--trace") == 0) {
            live = true;
        } else if (strcmp(arg, "--bench") == 0) {
            bench = true;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "raftsim: bad or incomplete option '%s'\n", arg);
            usage(stderr);
            return 2;
        }
    }
    if (bench + have_seed + have_range != 1) {
        usage(stderr);
        return 2;
    }
    if (bench) {
        sim_bench(stdout);
        return 0;
    }
    if (have_range) {
        signal(SIGABRT, on_abort);
        return sweep(&options, nodes_option, first, last);
    }
    options.seed = seed;
    options.nodes_count = nodes_for_seed(nodes_option, seed);
    options.trace_live = live ? stdout : NULL;
    options.report = stdout;
    struct sim_result result;
    bool ok = sim_run(&options, &result);
    printf("raftsim: seed %" PRIu64 ", %" PRIu32 " nodes, %" PRIu64 " ticks, commit index %" PRIu64
           ", %" PRIu64 " leader changes, %" PRIu64 " crashes, %" PRIu64
           " snapshots installed, %" PRIu64 " config changes, %" PRIu64 " messages: %s\n",
           seed, options.nodes_count, result.ticks, result.committed_index, result.leader_changes,
           result.crashes, result.snapshots_installed, result.config_changes, result.messages_sent,
           ok ? "ok" : "VIOLATION");
    if (!ok) {
        printf("violation: %s\n", result.violation);
    }
    return ok ? 0 : 1;
}
