/*
 * nemesis.c: one fault at a time, chosen by a seeded random stream, against
 * the brokers' containers; then a heal and a wait for the cluster to serve.
 *
 * Happy path, repeated until duration_s has passed:
 *   quiet pause -> choose (kind, broker, partition, duration) from the seed
 *   (kinds are dealt from a shuffled deck, so every five faults hold each kind) ->
 *   aim kill-controller / kill-leader at the broker the metadata names ->
 *   inject (docker kill -s KILL | pause | network disconnect) -> hold ->
 *   heal (docker start | unpause | network connect --ip, same address) ->
 *   wait until every partition has acknowledged a record and had a record
 *   sent after the heal read back -> wait until every broker answers
 *   GET /health with 200 and every partition has a leader and three in-sync
 *   replicas.
 *
 * The seed fixes the sequence of choices; which broker leads what, and so
 * where kill-controller and kill-leader land, depends on the cluster.
 *
 * Failure modes: a docker command that fails (or hangs past its timeout) is
 * a harness error: the run stops with what it has. A broker container found
 * exited that the nemesis did not kill has crashed: its logs are printed, it
 * is counted, and it is started again so the run goes on. A cluster not
 * healthy healthy_max_ms after a heal ends the faults (the checker reports it).
 */
#include "tests/integration/chaos/chaos.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum {
    COMMAND_ARGUMENTS_MAX = 16,
    COMMAND_TIMEOUT_S = 60,
    COMMAND_OUTPUT_BYTES = 4096,
    HEAL_ATTEMPTS = 5,
    HEALTH_PROBE_TIMEOUT_MS = 1000,
    WAIT_STEP_MS = 250,
    METADATA_TIMEOUT_MS = 3000,
    FIRST_SERVE_TIMEOUT_MS = 60000,
    NAME_BYTES = 128,
};

/* ---- commands ------------------------------------------------------------------------------ */

/*
 * Runs `docker ARGUMENTS...` (NULL-terminated) under `timeout`, with its
 * stdout and stderr in output. Returns its exit status, or -1 if it could not
 * be started.
 */
static int docker(char *output, size_t output_bytes, ...)
{
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", COMMAND_TIMEOUT_S);
    char *argv[COMMAND_ARGUMENTS_MAX] = {"timeout", "-k", "5", timeout, "docker"};
    int argc = 5;
    va_list arguments;
    va_start(arguments, output_bytes);
    for (char *argument = va_arg(arguments, char *); argument != NULL;
         argument = va_arg(arguments, char *)) {
        if (argc < COMMAND_ARGUMENTS_MAX - 1) {
            argv[argc++] = argument;
        }
    }
    va_end(arguments);
    argv[argc] = NULL;
    output[0] = '\0';

    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) {
        return -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
    pid_t pid;
    int rc = posix_spawnp(&pid, "timeout", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[1]);
    if (rc != 0) {
        close(pipe_fds[0]);
        return -1;
    }
    size_t length = 0;
    for (;;) {
        char chunk[512];
        ssize_t got = read(pipe_fds[0], chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        size_t keep =
            (size_t)got < output_bytes - 1 - length ? (size_t)got : output_bytes - 1 - length;
        memcpy(output + length, chunk, keep);
        length += keep;
    }
    output[length] = '\0';
    close(pipe_fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void container_name(const struct chaos_run *run, uint32_t broker_id, char *name)
{
    snprintf(name, NAME_BYTES, "%s-%u", run->options.container_prefix, broker_id);
}

static void broker_ip(const struct chaos_run *run, uint32_t broker_id, char *ip)
{
    snprintf(ip, NAME_BYTES, "%s.1%u", run->options.net, broker_id);
}

static void say(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *format, ...)
{
    char line[1024];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(line, sizeof line, format, arguments);
    va_end(arguments);
    printf("chaos: %7.1fs %s\n", (double)chaos_now_ms() / 1000.0, line);
    fflush(stdout);
}

/* "running", "paused", "exited", ...; and the exit code. Empty when docker cannot tell. */
static void container_state(const struct chaos_run *run, uint32_t broker_id, char *state,
                            size_t state_bytes, int *exit_code)
{
    char name[NAME_BYTES];
    container_name(run, broker_id, name);
    char output[COMMAND_OUTPUT_BYTES];
    *exit_code = -1;
    state[0] = '\0';
    if (docker(output, sizeof output, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}",
               name, NULL) != 0) {
        return;
    }
    char status[32];
    if (sscanf(output, "%31s %d", status, exit_code) == 2) {
        snprintf(state, state_bytes, "%s", status);
    }
}

/*
 * A container that is not running (nor paused) although the nemesis did not
 * take it down (down_id) crashed: report it with its last log lines and start
 * it again. Returns how many crashed.
 */
static size_t restart_crashed(struct chaos_run *run, uint32_t down_id)
{
    size_t crashed = 0;
    for (uint32_t id = 1; id <= CHAOS_BROKERS_COUNT; id++) {
        if (id == down_id) {
            continue;
        }
        char state[32];
        int exit_code;
        container_state(run, id, state, sizeof state, &exit_code);
        if (state[0] == '\0' || strcmp(state, "running") == 0 || strcmp(state, "paused") == 0 ||
            strcmp(state, "restarting") == 0) {
            continue;
        }
        char name[NAME_BYTES];
        container_name(run, id, name);
        char output[COMMAND_OUTPUT_BYTES * 4];
        docker(output, sizeof output, "logs", "--tail", "40", name, NULL);
        say("VIOLATION: broker %u crashed (container %s, exit code %d); its last log lines:\n%s",
            id, state, exit_code, output);
        run->crashes_count++;
        crashed++;
        docker(output, sizeof output, "start", name, NULL);
    }
    return crashed;
}

/* ---- health -------------------------------------------------------------------------------- */

/* The HTTP status of GET /health at ip:port, or -1 when there is no answer in time. */
static int health_status(const char *ip, unsigned port)
{
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &address.sin_addr) != 1) {
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int status = -1;
    int64_t deadline_ms = chaos_now_ms() + HEALTH_PROBE_TIMEOUT_MS;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0 && errno != EINPROGRESS) {
        goto done;
    }
    struct pollfd poll_fd = {.fd = fd, .events = POLLOUT};
    if (poll(&poll_fd, 1, HEALTH_PROBE_TIMEOUT_MS) != 1) {
        goto done;
    }
    int socket_error = 0;
    socklen_t error_bytes = sizeof socket_error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &socket_error, &error_bytes) != 0 ||
        socket_error != 0) {
        goto done;
    }
    static const char request[] = "GET /health HTTP/1.0\r\nHost: chaos\r\n\r\n";
    if (send(fd, request, sizeof request - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof request - 1)) {
        goto done;
    }
    char answer[64];
    size_t length = 0;
    while (length < sizeof answer - 1) {
        int left_ms = (int)(deadline_ms - chaos_now_ms());
        poll_fd.events = POLLIN;
        if (left_ms <= 0 || poll(&poll_fd, 1, left_ms) != 1) {
            break;
        }
        ssize_t got = recv(fd, answer + length, sizeof answer - 1 - length, 0);
        if (got <= 0) {
            break;
        }
        length += (size_t)got;
    }
    answer[length] = '\0';
    int code;
    if (sscanf(answer, "HTTP/1.%*d %d", &code) == 1) {
        status = code;
    }
done:
    close(fd);
    return status;
}

/* Why the cluster is not healthy yet (reason filled), or true when it is. */
static bool cluster_healthy(struct chaos_run *run, struct ether_client *admin, char *reason,
                            size_t reason_bytes)
{
    const struct chaos_options *options = &run->options;
    restart_crashed(run, 0);
    for (uint32_t id = 1; id <= CHAOS_BROKERS_COUNT; id++) {
        char ip[NAME_BYTES];
        broker_ip(run, id, ip);
        int status = health_status(ip, options->http_port);
        if (status != 200) {
            snprintf(reason, reason_bytes, "broker %u answers /health with %d", id, status);
            return false;
        }
    }
    const char *topics[] = {options->topic};
    struct ether_cluster *cluster = NULL;
    char errstr[CHAOS_ERRSTR_BYTES];
    int rc = ether_describe_cluster(admin, topics, 1, METADATA_TIMEOUT_MS, &cluster, errstr,
                                    sizeof errstr);
    if (rc != ETHER_OK) {
        snprintf(reason, reason_bytes, "metadata: %.400s", errstr);
        return false;
    }
    bool healthy = false;
    if (cluster->controller_id == 0) {
        snprintf(reason, reason_bytes, "no controller leader");
    } else if (cluster->broker_count != CHAOS_BROKERS_COUNT) {
        snprintf(reason, reason_bytes, "%zu brokers in the metadata", cluster->broker_count);
    } else if (cluster->topic_count != 1 || cluster->topics[0].error != ETHER_OK ||
               cluster->topics[0].partition_count != (size_t)options->partitions_count) {
        snprintf(reason, reason_bytes, "topic %s not described", options->topic);
    } else {
        healthy = true;
        for (size_t p = 0; p < cluster->topics[0].partition_count && healthy; p++) {
            const struct ether_partition_info *partition = &cluster->topics[0].partitions[p];
            if (partition->leader_id == 0) {
                snprintf(reason, reason_bytes, "partition %zu has no leader", p);
                healthy = false;
            } else if (partition->in_sync_replica_count != CHAOS_BROKERS_COUNT) {
                snprintf(reason, reason_bytes, "partition %zu has %zu in-sync replicas", p,
                         partition->in_sync_replica_count);
                healthy = false;
            }
        }
    }
    ether_cluster_free(cluster);
    return healthy;
}

bool chaos_cluster_healthy_wait(struct chaos_run *run, struct ether_client *admin, int timeout_ms)
{
    int64_t deadline_ms = chaos_now_ms() + timeout_ms;
    char reason[CHAOS_ERRSTR_BYTES] = "";
    for (;;) {
        if (cluster_healthy(run, admin, reason, sizeof reason)) {
            return true;
        }
        if (chaos_now_ms() >= deadline_ms) {
            say("cluster not healthy after %.1f s: %s", (double)timeout_ms / 1000.0, reason);
            return false;
        }
        chaos_sleep_ms(WAIT_STEP_MS);
    }
}

/* Waits until every partition has acknowledged a record and had one sent at or after
 * since_ms read back, up to timeout_ms. */
static bool served_wait(struct chaos_run *run, int64_t since_ms, int timeout_ms)
{
    int64_t deadline_ms = chaos_now_ms() + timeout_ms;
    for (;;) {
        bool served = true;
        for (int p = 0; p < run->options.partitions_count && served; p++) {
            served = atomic_load(&run->last_ack_ms[p]) >= since_ms &&
                     atomic_load(&run->newest_read_send_ms[p]) >= since_ms;
        }
        if (served) {
            return true;
        }
        if (chaos_now_ms() >= deadline_ms) {
            return false;
        }
        chaos_sleep_ms(20);
    }
}

/* ---- faults -------------------------------------------------------------------------------- */

/* The controller leader (partition < 0) or the leader of a partition; 0 if unknown. */
static uint32_t leader_of(struct chaos_run *run, struct ether_client *admin, int32_t partition)
{
    const char *topics[] = {run->options.topic};
    struct ether_cluster *cluster = NULL;
    char errstr[CHAOS_ERRSTR_BYTES];
    if (ether_describe_cluster(admin, topics, 1, METADATA_TIMEOUT_MS, &cluster, errstr,
                               sizeof errstr) != ETHER_OK) {
        return 0;
    }
    uint32_t leader = 0;
    if (partition < 0) {
        leader = cluster->controller_id;
    } else if (cluster->topic_count == 1 &&
               (size_t)partition < cluster->topics[0].partition_count) {
        leader = cluster->topics[0].partitions[partition].leader_id;
    }
    ether_cluster_free(cluster);
    return leader >= 1 && leader <= CHAOS_BROKERS_COUNT ? leader : 0;
}

static bool is_kill(enum chaos_fault_kind kind)
{
    return kind == CHAOS_FAULT_KILL || kind == CHAOS_FAULT_KILL_CONTROLLER ||
           kind == CHAOS_FAULT_KILL_LEADER;
}

static int inject(struct chaos_run *run, const struct chaos_fault *fault, char *output,
                  size_t output_bytes)
{
    char name[NAME_BYTES];
    container_name(run, fault->broker_id, name);
    if (is_kill(fault->kind)) {
        return docker(output, output_bytes, "kill", "-s", "KILL", name, NULL);
    }
    if (fault->kind == CHAOS_FAULT_PAUSE) {
        return docker(output, output_bytes, "pause", name, NULL);
    }
    return docker(output, output_bytes, "network", "disconnect", run->options.network, name, NULL);
}

static int heal(struct chaos_run *run, const struct chaos_fault *fault, char *output,
                size_t output_bytes)
{
    char name[NAME_BYTES];
    container_name(run, fault->broker_id, name);
    if (is_kill(fault->kind)) {
        return docker(output, output_bytes, "start", name, NULL);
    }
    if (fault->kind == CHAOS_FAULT_PAUSE) {
        return docker(output, output_bytes, "unpause", name, NULL);
    }
    char ip[NAME_BYTES];
    char alias[NAME_BYTES];
    broker_ip(run, fault->broker_id, ip);
    snprintf(alias, sizeof alias, "ether-%u", fault->broker_id);
    return docker(output, output_bytes, "network", "connect", "--ip", ip, "--alias", alias,
                  run->options.network, name, NULL);
}

static struct chaos_fault *fault_append(struct chaos_run *run)
{
    if (run->faults_count == run->faults_capacity) {
        size_t capacity = run->faults_capacity == 0 ? 64 : run->faults_capacity * 2;
        struct chaos_fault *grown = realloc(run->faults, capacity * sizeof *grown);
        if (grown == NULL) {
            return NULL;
        }
        run->faults = grown;
        run->faults_capacity = capacity;
    }
    struct chaos_fault *fault = &run->faults[run->faults_count++];
    memset(fault, 0, sizeof *fault);
    return fault;
}

static void shuffle(enum chaos_fault_kind *deck, uint64_t *random_state)
{
    for (int i = CHAOS_FAULT_KINDS_COUNT - 1; i > 0; i--) {
        int j = (int)chaos_random_between(random_state, 0, i);
        enum chaos_fault_kind swapped = deck[i];
        deck[i] = deck[j];
        deck[j] = swapped;
    }
}

int chaos_nemesis_run(struct chaos_run *run, struct ether_client *admin)
{
    const struct chaos_options *options = &run->options;
    uint64_t random_state = options->seed;
    char output[COMMAND_OUTPUT_BYTES];
    if (!served_wait(run, 0, FIRST_SERVE_TIMEOUT_MS)) {
        say("the workload did not get an acknowledgement and a read on every partition within "
            "%d s of starting",
            FIRST_SERVE_TIMEOUT_MS / 1000);
        run->harness_errors_count++;
        return -1;
    }
    /* Kinds come from a shuffled deck: random order, every kind in each five faults. */
    enum chaos_fault_kind deck[CHAOS_FAULT_KINDS_COUNT];
    for (int k = 0; k < CHAOS_FAULT_KINDS_COUNT; k++) {
        deck[k] = (enum chaos_fault_kind)k;
    }
    int dealt = CHAOS_FAULT_KINDS_COUNT;
    int64_t end_ms = chaos_now_ms() + (int64_t)options->duration_s * 1000;
    say("nemesis: seed %" PRIu64 ", faults for %d s", options->seed, options->duration_s);
    for (;;) {
        /* Every choice is drawn, used or not, so the seed fixes the whole sequence. */
        int64_t quiet_ms =
            chaos_random_between(&random_state, options->quiet_min_ms, options->quiet_max_ms);
        if (dealt == CHAOS_FAULT_KINDS_COUNT) {
            shuffle(deck, &random_state);
            dealt = 0;
        }
        enum chaos_fault_kind kind = deck[dealt++];
        uint32_t victim = (uint32_t)chaos_random_between(&random_state, 1, CHAOS_BROKERS_COUNT);
        int32_t partition =
            (int32_t)chaos_random_between(&random_state, 0, options->partitions_count - 1);
        int64_t hold_ms =
            chaos_random_between(&random_state, options->fault_min_ms, options->fault_max_ms);
        if (chaos_now_ms() + quiet_ms + hold_ms >= end_ms) {
            break;
        }
        chaos_sleep_ms(quiet_ms);

        if (kind == CHAOS_FAULT_KILL_CONTROLLER || kind == CHAOS_FAULT_KILL_LEADER) {
            uint32_t leader =
                leader_of(run, admin, kind == CHAOS_FAULT_KILL_LEADER ? partition : -1);
            if (leader == 0) {
                say("no %s known; killing broker %u instead",
                    kind == CHAOS_FAULT_KILL_LEADER ? "partition leader" : "controller leader",
                    victim);
                kind = CHAOS_FAULT_KILL;
            } else {
                victim = leader;
            }
        }
        restart_crashed(run, 0);
        struct chaos_fault *fault = fault_append(run);
        if (fault == NULL) {
            say("out of memory for the fault log");
            run->harness_errors_count++;
            return -1;
        }
        fault->kind = kind;
        fault->broker_id = victim;
        fault->partition = kind == CHAOS_FAULT_KILL_LEADER ? partition : -1;
        fault->healthy_ms = -1;
        fault->start_ms = chaos_now_ms();
        if (inject(run, fault, output, sizeof output) != 0) {
            say("fault #%zu %s of broker %u: docker failed: %s", run->faults_count,
                chaos_fault_name(kind), victim, output);
            run->harness_errors_count++;
            return -1;
        }
        if (kind == CHAOS_FAULT_KILL_LEADER) {
            say("fault #%zu: %s: broker %u (leader of partition %d) for %.1f s", run->faults_count,
                chaos_fault_name(kind), victim, (int)partition, (double)hold_ms / 1000.0);
        } else {
            say("fault #%zu: %s: broker %u for %.1f s", run->faults_count, chaos_fault_name(kind),
                victim, (double)hold_ms / 1000.0);
        }
        chaos_sleep_ms(hold_ms);
        int rc = -1;
        for (int attempt = 0; attempt < HEAL_ATTEMPTS && rc != 0; attempt++) {
            if (attempt > 0) {
                chaos_sleep_ms(1000);
            }
            rc = heal(run, fault, output, sizeof output);
        }
        fault->heal_ms = chaos_now_ms();
        if (rc != 0) {
            say("fault #%zu: cannot heal broker %u: %s", run->faults_count, victim, output);
            run->harness_errors_count++;
            return -1;
        }
        bool served = served_wait(run, fault->heal_ms, options->recover_max_ms);
        bool healthy = chaos_cluster_healthy_wait(run, admin, options->healthy_max_ms);
        if (healthy) {
            fault->healthy_ms = chaos_now_ms();
        }
        say("healed; %s, %s", served ? "served again" : "NOT served again in time",
            healthy ? "healthy again" : "NOT healthy again in time");
        if (!healthy) {
            say("no more faults: the cluster did not recover from the last one");
            break;
        }
    }
    return 0;
}
