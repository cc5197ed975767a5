/*
 * ether-chaos: the workload, the nemesis and the checker against a running
 * three-broker cluster in containers (tests/integration/chaos/run.sh starts
 * one and runs this). `ether-chaos --help` lists the options.
 *
 * Happy path: create the topic -> wait until healthy -> start producers and
 * consumers -> faults for --duration seconds -> wait until healthy -> stop
 * producers (every record reported) -> note each partition's end (the
 * leader's high watermark) -> let consumers read up to it -> read every
 * partition through every replica -> check -> report.
 *
 * Exit status: 0 when every check passed, 1 on any violation, 2 when the
 * cluster could not be set up (nothing was checked).
 */
#include "tests/integration/chaos/chaos.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    SETUP_TIMEOUT_MS = 90000,
    END_OFFSET_TIMEOUT_MS = 30000,
    CONSUMERS_FINISH_TIMEOUT_MS = 120000,
    EXIT_VIOLATION = 1,
    EXIT_HARNESS = 2,
};

/*
 * A libether application must not be killed by SIGPIPE when a broker dies while a request
 * is being written: libether's I/O thread blocks it (before it did, the first runs of this
 * test died with status 141). The handler counts any SIGPIPE that still reaches this
 * process, and more than none is a violation.
 */
static atomic_uint sigpipes_count;

static void on_sigpipe(int signal_number)
{
    (void)signal_number;
    atomic_fetch_add(&sigpipes_count, 1);
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: ether-chaos [options]\n"
        "  against brokers 1..3 at <net>.11..13 in containers <prefix>-1..3:\n"
        "  --net A.B.C              first three octets of the brokers' /24 (172.28.91)\n"
        "  --containers PREFIX      container name prefix (etherchaos)\n"
        "  --network NAME           their docker network (etherchaos_ether)\n"
        "  --client-port N          (9092)     --http-port N     (9644)\n"
        "  --topic NAME             (chaos)\n"
        "  --seed N                 the nemesis's and producers' random seed (time)\n"
        "  --duration S             seconds of faults (60)\n"
        "  --producers N (3)  --consumers N (3)  --partitions N (4)\n"
        "  --group-members N        members of the consumer group (3; 0: none); odd seeds\n"
        "                           rebalance cooperatively (sticky), even ones eagerly (range)\n"
        "  --rate N                 records per second per producer (200)\n"
        "  --value-bytes N          (64)\n"
        "  --fault-min-ms N (500)   --fault-max-ms N (8000)    how long a fault is held\n"
        "  --quiet-min-ms N (1000)  --quiet-max-ms N (4000)    pause between faults\n"
        "  --recover-max-ms N       bound: produce and fetch served after a heal (30000)\n"
        "  --healthy-max-ms N       bound: healthy, every ISR full after a heal (60000)\n"
        "  --delivery-timeout-ms N  the producers' delivery timeout (60000)\n"
        "  --history FILE           write every event there\n"
        "  --self-test              check the checker on made-up histories (no cluster)\n");
}

static int parse_int(const char *text, const char *name, int low, int high, int *out)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || value < low || value > high) {
        fprintf(stderr, "ether-chaos: %s must be an integer in [%d, %d], not \"%s\"\n", name, low,
                high, text);
        return -1;
    }
    *out = (int)value;
    return 0;
}

static int parse_options(int argc, char **argv, struct chaos_options *options)
{
    *options = (struct chaos_options){
        .net = "172.28.91",
        .container_prefix = "etherchaos",
        .network = "etherchaos_ether",
        .topic = "chaos",
        .client_port = 9092,
        .http_port = 9644,
        .seed = (uint64_t)time(NULL),
        .duration_s = 60,
        .producers_count = 3,
        .consumers_count = 3,
        .group_members_count = 3,
        .partitions_count = 4,
        .rate_per_producer = 200,
        .value_bytes = 64,
        .fault_min_ms = 500,
        .fault_max_ms = 8000,
        .quiet_min_ms = 1000,
        .quiet_max_ms = 4000,
        .recover_max_ms = 30000,
        .healthy_max_ms = 60000,
        .delivery_timeout_ms = 60000,
    };
    enum {
        NET = 256,
        CONTAINERS,
        NETWORK,
        CLIENT_PORT,
        HTTP_PORT,
        TOPIC,
        SEED,
        DURATION,
        PRODUCERS,
        CONSUMERS,
        GROUP_MEMBERS,
        PARTITIONS,
        RATE,
        VALUE_BYTES,
        FAULT_MIN,
        FAULT_MAX,
        QUIET_MIN,
        QUIET_MAX,
        RECOVER_MAX,
        HEALTHY_MAX,
        DELIVERY_TIMEOUT,
        HISTORY,
        SELF_TEST,
        HELP
    };
    static const struct option long_options[] = {
        {"net", required_argument, NULL, NET},
        {"containers", required_argument, NULL, CONTAINERS},
        {"network", required_argument, NULL, NETWORK},
        {"client-port", required_argument, NULL, CLIENT_PORT},
        {"http-port", required_argument, NULL, HTTP_PORT},
        {"topic", required_argument, NULL, TOPIC},
        {"seed", required_argument, NULL, SEED},
        {"duration", required_argument, NULL, DURATION},
        {"producers", required_argument, NULL, PRODUCERS},
        {"consumers", required_argument, NULL, CONSUMERS},
        {"group-members", required_argument, NULL, GROUP_MEMBERS},
        {"partitions", required_argument, NULL, PARTITIONS},
        {"rate", required_argument, NULL, RATE},
        {"value-bytes", required_argument, NULL, VALUE_BYTES},
        {"fault-min-ms", required_argument, NULL, FAULT_MIN},
        {"fault-max-ms", required_argument, NULL, FAULT_MAX},
        {"quiet-min-ms", required_argument, NULL, QUIET_MIN},
        {"quiet-max-ms", required_argument, NULL, QUIET_MAX},
        {"recover-max-ms", required_argument, NULL, RECOVER_MAX},
        {"healthy-max-ms", required_argument, NULL, HEALTHY_MAX},
        {"delivery-timeout-ms", required_argument, NULL, DELIVERY_TIMEOUT},
        {"history", required_argument, NULL, HISTORY},
        {"self-test", no_argument, NULL, SELF_TEST},
        {"help", no_argument, NULL, HELP},
        {NULL, 0, NULL, 0},
    };
    int port;
    int option;
    int rc = 0;
    while (rc == 0 && (option = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (option) {
        case NET:
            options->net = optarg;
            break;
        case CONTAINERS:
            options->container_prefix = optarg;
            break;
        case NETWORK:
            options->network = optarg;
            break;
        case CLIENT_PORT:
            rc = parse_int(optarg, "--client-port", 1, 65535, &port);
            options->client_port = (unsigned)port;
            break;
        case HTTP_PORT:
            rc = parse_int(optarg, "--http-port", 1, 65535, &port);
            options->http_port = (unsigned)port;
            break;
        case TOPIC:
            options->topic = optarg;
            break;
        case SEED: {
            char *end = NULL;
            options->seed = strtoull(optarg, &end, 10);
            if (end == optarg || *end != '\0') {
                fprintf(stderr, "ether-chaos: --seed must be an unsigned integer\n");
                rc = -1;
            }
            break;
        }
        case DURATION:
            rc = parse_int(optarg, "--duration", 0, 7 * 24 * 3600, &options->duration_s);
            break;
        case PRODUCERS:
            rc =
                parse_int(optarg, "--producers", 1, CHAOS_PRODUCERS_MAX, &options->producers_count);
            break;
        case CONSUMERS:
            rc =
                parse_int(optarg, "--consumers", 1, CHAOS_CONSUMERS_MAX, &options->consumers_count);
            break;
        case GROUP_MEMBERS:
            rc = parse_int(optarg, "--group-members", 0, CHAOS_GROUP_MEMBERS_MAX,
                           &options->group_members_count);
            break;
        case PARTITIONS:
            rc = parse_int(optarg, "--partitions", 1, CHAOS_PARTITIONS_MAX,
                           &options->partitions_count);
            break;
        case RATE:
            rc = parse_int(optarg, "--rate", 1, 100000, &options->rate_per_producer);
            break;
        case VALUE_BYTES:
            rc = parse_int(optarg, "--value-bytes", CHAOS_VALUE_BYTES_MIN, CHAOS_VALUE_BYTES_MAX,
                           &options->value_bytes);
            break;
        case FAULT_MIN:
            rc = parse_int(optarg, "--fault-min-ms", 0, 3600000, &options->fault_min_ms);
            break;
        case FAULT_MAX:
            rc = parse_int(optarg, "--fault-max-ms", 0, 3600000, &options->fault_max_ms);
            break;
        case QUIET_MIN:
            rc = parse_int(optarg, "--quiet-min-ms", 0, 3600000, &options->quiet_min_ms);
            break;
        case QUIET_MAX:
            rc = parse_int(optarg, "--quiet-max-ms", 0, 3600000, &options->quiet_max_ms);
            break;
        case RECOVER_MAX:
            rc = parse_int(optarg, "--recover-max-ms", 1, 3600000, &options->recover_max_ms);
            break;
        case HEALTHY_MAX:
            rc = parse_int(optarg, "--healthy-max-ms", 1, 3600000, &options->healthy_max_ms);
            break;
        case DELIVERY_TIMEOUT:
            rc = parse_int(optarg, "--delivery-timeout-ms", 1000, 3600000,
                           &options->delivery_timeout_ms);
            break;
        case HISTORY:
            options->history_path = optarg;
            break;
        case SELF_TEST:
            exit(chaos_self_test() == 0 ? 0 : EXIT_VIOLATION);
        case HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            rc = -1;
        }
    }
    if (rc == 0 && optind != argc) {
        fprintf(stderr, "ether-chaos: unexpected argument \"%s\"\n", argv[optind]);
        rc = -1;
    }
    if (rc == 0 && (options->fault_max_ms < options->fault_min_ms ||
                    options->quiet_max_ms < options->quiet_min_ms)) {
        fprintf(stderr, "ether-chaos: a maximum is below its minimum\n");
        rc = -1;
    }
    snprintf(options->brokers, sizeof options->brokers, "%s.11:%u,%s.12:%u,%s.13:%u", options->net,
             options->client_port, options->net, options->client_port, options->net,
             options->client_port);
    return rc;
}

/* Creates the topic once the cluster answers (a fresh cluster may still be electing). */
static int create_topic(struct chaos_run *run, struct ether_client *admin)
{
    const struct chaos_options *options = &run->options;
    int64_t deadline_ms = chaos_now_ms() + SETUP_TIMEOUT_MS;
    char errstr[CHAOS_ERRSTR_BYTES] = "";
    for (;;) {
        int rc = ether_create_topic(admin, options->topic, (uint32_t)options->partitions_count,
                                    CHAOS_BROKERS_COUNT, NULL, 0, 10000, errstr, sizeof errstr);
        if (rc == ETHER_OK || rc == ETHER_ERR_EXISTS) {
            return 0;
        }
        if (chaos_now_ms() >= deadline_ms) {
            fprintf(stderr, "ether-chaos: cannot create topic %s: %s\n", options->topic, errstr);
            return -1;
        }
        chaos_sleep_ms(1000);
    }
}

static int end_offsets_read(struct chaos_run *run, struct ether_client *admin, int64_t *end_offsets)
{
    const struct chaos_options *options = &run->options;
    for (int p = 0; p < options->partitions_count; p++) {
        char errstr[CHAOS_ERRSTR_BYTES];
        int rc = ether_list_offset(admin, options->topic, p, ETHER_OFFSET_QUERY_LATEST, 0,
                                   END_OFFSET_TIMEOUT_MS, &end_offsets[p], errstr, sizeof errstr);
        if (rc != ETHER_OK) {
            fprintf(stderr, "ether-chaos: the end of partition %d: %s\n", p, errstr);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct chaos_run *run = calloc(1, sizeof *run);
    if (run == NULL) {
        return EXIT_HARNESS;
    }
    if (parse_options(argc, argv, &run->options) != 0) {
        free(run);
        return EXIT_HARNESS;
    }
    atomic_init(&run->stop_producing, false);
    atomic_init(&run->stop_consuming, false);
    for (int p = 0; p < CHAOS_PARTITIONS_MAX; p++) {
        atomic_init(&run->last_ack_ms[p], -1);
        atomic_init(&run->newest_read_send_ms[p], -1);
    }
    const struct chaos_options *options = &run->options;
    struct sigaction sigpipe_action = {.sa_handler = on_sigpipe, .sa_flags = SA_RESTART};
    sigemptyset(&sigpipe_action.sa_mask);
    sigaction(SIGPIPE, &sigpipe_action, NULL);
    chaos_clock_start();
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("chaos: seed %" PRIu64 ", %d s of faults (held %d-%d ms, %d-%d ms apart), brokers %s, "
           "containers %s-1..3 on %s\n",
           options->seed, options->duration_s, options->fault_min_ms, options->fault_max_ms,
           options->quiet_min_ms, options->quiet_max_ms, options->brokers,
           options->container_prefix, options->network);
    printf("chaos: %d idempotent producers (acks=all) at %d records/s each, %d consumers, "
           "%d group members, topic %s with %d partitions x 3 replicas\n",
           options->producers_count, options->rate_per_producer, options->consumers_count,
           options->group_members_count, options->topic, options->partitions_count);

    char errstr[CHAOS_ERRSTR_BYTES];
    struct ether_client *admin =
        chaos_client_new(options, 1, NULL, NULL, NULL, errstr, sizeof errstr);
    if (admin == NULL) {
        fprintf(stderr, "ether-chaos: %s\n", errstr);
        free(run);
        return EXIT_HARNESS;
    }
    if (create_topic(run, admin) != 0 ||
        !chaos_cluster_healthy_wait(run, admin, SETUP_TIMEOUT_MS)) {
        ether_client_destroy(admin);
        free(run);
        return EXIT_HARNESS;
    }
    if (chaos_workload_start(run) != 0 || chaos_groups_start(run) != 0) {
        return EXIT_HARNESS; /* threads are running: no cleanup is safe */
    }

    chaos_nemesis_run(run, admin);

    printf("chaos: %7.1fs faults over; waiting for the cluster, then stopping the producers\n",
           (double)chaos_now_ms() / 1000.0);
    if (!chaos_cluster_healthy_wait(run, admin, options->healthy_max_ms)) {
        run->harness_errors_count++;
    }
    chaos_workload_stop_producers(run);
    int64_t end_offsets[CHAOS_PARTITIONS_MAX] = {0};
    if (end_offsets_read(run, admin, end_offsets) != 0) {
        run->harness_errors_count++;
    }
    printf("chaos: %7.1fs producers stopped; consumers read to the end\n",
           (double)chaos_now_ms() / 1000.0);
    chaos_workload_stop_consumers(run, end_offsets, CONSUMERS_FINISH_TIMEOUT_MS);
    chaos_groups_stop(run, end_offsets);
    chaos_workload_write_history(run);
    printf("chaos: %7.1fs reading every partition through every replica; ends:",
           (double)chaos_now_ms() / 1000.0);
    for (int p = 0; p < options->partitions_count; p++) {
        printf(" %d:%" PRId64, p, end_offsets[p]);
    }
    printf("\n");
    static struct chaos_final_log logs[CHAOS_BROKERS_COUNT][CHAOS_PARTITIONS_MAX];
    for (int r = 0; r < CHAOS_BROKERS_COUNT; r++) {
        if (chaos_final_read(run, r, end_offsets, logs[r]) != 0) {
            run->harness_errors_count++;
        }
    }
    ether_client_destroy(admin);
    struct chaos_counts counts;
    size_t violations = chaos_check(run, logs, &counts);
    violations += chaos_groups_check(run, logs[0], end_offsets);
    for (int r = 0; r < CHAOS_BROKERS_COUNT; r++) {
        for (int p = 0; p < CHAOS_PARTITIONS_MAX; p++) {
            free(logs[r][p].ids);
        }
    }

    unsigned sigpipes = atomic_load(&sigpipes_count);
    printf("chaos: SIGPIPE reached the application %u times\n", sigpipes);
    if (sigpipes > 0) {
        violations++;
    }
    if (violations == 0) {
        printf("chaos: PASS (seed %" PRIu64 ", %.0f s)\n", options->seed,
               (double)chaos_now_ms() / 1000.0);
    } else {
        printf("chaos: FAIL: %zu violations (seed %" PRIu64 "; rerun the same faults with "
               "--seed %" PRIu64 ", or make chaos CHAOS_SEED=%" PRIu64 ")\n",
               violations, options->seed, options->seed, options->seed);
    }
    for (int p = 0; p < options->producers_count; p++) {
        free(run->producers[p].sent);
    }
    for (int c = 0; c < options->consumers_count; c++) {
        free(run->consumers[c].reads);
    }
    chaos_groups_free(run);
    free(run->faults);
    free(run);
    return violations == 0 ? 0 : EXIT_VIOLATION;
}
