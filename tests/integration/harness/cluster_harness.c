#include "tests/integration/harness/cluster_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "common/tls.h"

enum {
    CALL_TIMEOUT_MS = 10000,
    RECEIVE_BUFFER_BYTES = 16 * 1024 * 1024,
    TLS_CONNECTIONS_MAX = 64,
    TLS_CHUNK_BYTES = 16 * 1024,
};

/* The TLS session of each TLS connection's fd (harness_connect_tls). An fd number that
 * comes back from the kernel was closed, so its old entry is dropped then. */
static struct tls_connection {
    int fd; /* -1: free */
    struct ether_tls_session *session;
} tls_connections[TLS_CONNECTIONS_MAX];
static bool tls_connections_ready;

static struct tls_connection *tls_find(int fd)
{
    for (size_t i = 0; tls_connections_ready && i < TLS_CONNECTIONS_MAX; i++) {
        if (tls_connections[i].fd == fd) {
            return &tls_connections[i];
        }
    }
    return NULL;
}

static void tls_forget(int fd)
{
    struct tls_connection *connection = tls_find(fd);
    if (connection != NULL) {
        ether_tls_session_free(connection->session);
        connection->session = NULL;
        connection->fd = -1;
    }
}

static void tls_remember(int fd, struct ether_tls_session *session)
{
    if (!tls_connections_ready) {
        for (size_t i = 0; i < TLS_CONNECTIONS_MAX; i++) {
            tls_connections[i].fd = -1;
        }
        tls_connections_ready = true;
    }
    tls_forget(fd); /* a stale entry of a closed fd with the same number */
    struct tls_connection *free_entry = tls_find(-1);
    ETHER_ASSERT(free_entry != NULL); /* raise TLS_CONNECTIONS_MAX, or harness_close more */
    free_entry->fd = fd;
    free_entry->session = session;
}

/* Sends everything the session has for the peer; -1 when the socket fails. */
static int tls_flush(int fd, struct ether_tls_session *session)
{
    uint8_t chunk[TLS_CHUNK_BYTES];
    size_t taken;
    while ((taken = ether_tls_session_take_output(session, chunk, sizeof chunk)) > 0) {
        size_t sent_total = 0;
        while (sent_total < taken) {
            ssize_t sent = send(fd, chunk + sent_total, taken - sent_total, MSG_NOSIGNAL);
            if (sent <= 0) {
                return -1;
            }
            sent_total += (size_t)sent;
        }
    }
    return 0;
}

/* Reads ciphertext once and feeds it to the session; -1 on EOF, error or a failed session. */
static int tls_pump(int fd, struct ether_tls_session *session)
{
    uint8_t chunk[TLS_CHUNK_BYTES];
    ssize_t received = recv(fd, chunk, sizeof chunk, 0);
    if (received <= 0) {
        return -1;
    }
    int rc = ether_tls_session_receive(session, chunk, (size_t)received);
    if (tls_flush(fd, session) != 0 || (rc != ETHER_OK && rc != ETHER_ERR_CLOSED)) {
        return -1;
    }
    return 0;
}

/* Up to `capacity` bytes of the stream, plaintext or through the fd's TLS session; like recv,
 * 0 at the end and -1 on errors and timeouts. */
static ssize_t receive_some(int fd, void *out, size_t capacity)
{
    struct tls_connection *connection = tls_find(fd);
    if (connection == NULL) {
        return recv(fd, out, capacity, 0);
    }
    for (;;) {
        size_t read_bytes = 0;
        if (ether_tls_session_read(connection->session, out, capacity, &read_bytes) != ETHER_OK) {
            return -1;
        }
        if (read_bytes > 0) {
            return (ssize_t)read_bytes;
        }
        if (ether_tls_session_peer_closed(connection->session)) {
            return 0;
        }
        if (tls_pump(fd, connection->session) != 0) {
            return -1;
        }
    }
}

uint64_t harness_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec duration = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&duration, NULL);
}

uint16_t harness_port(const struct harness *harness, int broker_id)
{
    return (uint16_t)(harness->base_port + broker_id - 1);
}

static void add_option(const char **arguments, size_t *count, size_t capacity, const char *name,
                       const char *value)
{
    ETHER_ASSERT(*count + 2 <= capacity);
    arguments[(*count)++] = name;
    arguments[(*count)++] = value;
}

void harness_start_broker(struct harness *harness, int broker_id)
{
    ETHER_ASSERT(broker_id >= 1 && broker_id <= harness->brokers_count);
    char seeds[512] = "";
    for (int id = 1; id <= harness->brokers_count; id++) {
        char seed[64];
        snprintf(seed, sizeof seed, "%s%d@127.0.0.1:%u", id > 1 ? "," : "", id,
                 harness_port(harness, id));
        strncat(seeds, seed, sizeof seeds - strlen(seeds) - 1);
    }
    char data_dir[300];
    char log_path[320];
    char broker_id_text[16];
    char client_port[16];
    char http_port[16];
    snprintf(data_dir, sizeof data_dir, "%s/broker-%d", harness->data_root, broker_id);
    snprintf(log_path, sizeof log_path, "%s/broker-%d.log", harness->data_root, broker_id);
    snprintf(broker_id_text, sizeof broker_id_text, "%d", broker_id);
    snprintf(client_port, sizeof client_port, "%u", harness_port(harness, broker_id));
    snprintf(http_port, sizeof http_port, "%u", harness_port(harness, broker_id) + 100);
    const char *arguments[32 + HARNESS_EXTRA_ARGUMENTS_MAX] = {"etherd"};
    size_t arguments_count = 1;
    const size_t capacity = sizeof arguments / sizeof arguments[0] - 1; /* room for NULL */
    add_option(arguments, &arguments_count, capacity, "--broker-id", broker_id_text);
    add_option(arguments, &arguments_count, capacity, "--data-dir", data_dir);
    add_option(arguments, &arguments_count, capacity, "--client-port", client_port);
    add_option(arguments, &arguments_count, capacity, "--http-port", http_port);
    add_option(arguments, &arguments_count, capacity, "--seeds", seeds);
    add_option(arguments, &arguments_count, capacity, "--tick-ms", "20");
    add_option(arguments, &arguments_count, capacity, "--election-ticks", "10");
    add_option(arguments, &arguments_count, capacity, "--heartbeat-ticks", "2");
    add_option(arguments, &arguments_count, capacity, "--retention-check-ms", "500");
    char rack[32];
    if (harness->racks) {
        snprintf(rack, sizeof rack, "rack-%d", broker_id);
        add_option(arguments, &arguments_count, capacity, "--rack", rack);
    }
    char ca_file[400];
    char certificate_file[400];
    char private_key_file[400];
    if (harness->tls) {
        snprintf(ca_file, sizeof ca_file, "%s/ca.crt", harness->certs_dir);
        snprintf(certificate_file, sizeof certificate_file, "%s/broker-%d.crt", harness->certs_dir,
                 broker_id);
        snprintf(private_key_file, sizeof private_key_file, "%s/broker-%d.key", harness->certs_dir,
                 broker_id);
        add_option(arguments, &arguments_count, capacity, "--tls-ca-file", ca_file);
        add_option(arguments, &arguments_count, capacity, "--tls-certificate-file",
                   certificate_file);
        add_option(arguments, &arguments_count, capacity, "--tls-private-key-file",
                   private_key_file);
    }
    for (size_t i = 0; harness->extra_arguments != NULL && harness->extra_arguments[i] != NULL;
         i++) {
        ETHER_ASSERT(i < HARNESS_EXTRA_ARGUMENTS_MAX);
        ETHER_ASSERT(arguments_count < capacity);
        arguments[arguments_count++] = harness->extra_arguments[i];
    }
    arguments[arguments_count] = NULL;
    pid_t pid = fork();
    ETHER_ASSERT(pid >= 0);
    if (pid == 0) {
        FILE *log = freopen(log_path, "a", stderr);
        (void)log;
        execv(harness->etherd_path, (char *const *)(uintptr_t)arguments);
        fprintf(stderr, "exec %s: %s\n", harness->etherd_path, strerror(errno));
        _exit(127);
    }
    harness->pids[broker_id] = pid;
    /* Wait until it accepts connections (an ASan build under load can take seconds). */
    for (int attempt = 0; attempt < 1200; attempt++) {
        int fd = harness_connect(harness_port(harness, broker_id));
        if (fd >= 0) {
            close(fd);
            return;
        }
        sleep_ms(25);
    }
    fprintf(stderr, "harness: broker %d did not start listening\n", broker_id);
    harness_print_logs(harness);
    for (int id = 1; id <= harness->brokers_count; id++) {
        harness_kill_broker(harness, id, SIGKILL); /* leave no broker behind */
    }
    abort();
}

static bool port_free(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return false;
    }
    int reuse = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    bool free_port = bind(fd, (struct sockaddr *)&address, sizeof address) == 0;
    close(fd);
    return free_port;
}

/*
 * A run of free ports below the kernel's ephemeral range (32768 and up), so
 * outgoing connections can never take a broker's port; the pid spreads
 * concurrent test programs apart.
 */
static uint16_t pick_base_port(int brokers_count)
{
    for (int attempt = 0; attempt < 1000; attempt++) {
        uint16_t base = (uint16_t)(20000 + ((getpid() + attempt * 7919) % 1200) * 10);
        bool all_free = true;
        for (int id = 0; id < brokers_count && all_free; id++) {
            all_free = port_free((uint16_t)(base + id)) && port_free((uint16_t)(base + id + 100));
        }
        if (all_free) {
            return base;
        }
    }
    ETHER_PANIC("no free ports for the test cluster");
}

void harness_start(struct harness *harness, int brokers_count)
{
    harness_start_with(harness, brokers_count, NULL);
}

void harness_start_with(struct harness *harness, int brokers_count,
                        const struct harness_options *options)
{
    memset(harness, 0, sizeof *harness);
    ETHER_ASSERT(brokers_count >= 1 && brokers_count <= HARNESS_BROKERS_MAX);
    const char *build = getenv("BUILD");
    snprintf(harness->etherd_path, sizeof harness->etherd_path, "%s/etherd",
             build != NULL ? build : "build/release");
    snprintf(harness->data_root, sizeof harness->data_root, "/tmp/ether-cluster-XXXXXX");
    ETHER_ASSERT(mkdtemp(harness->data_root) != NULL);
    harness->brokers_count = brokers_count;
    harness->base_port = pick_base_port(brokers_count);
    signal(SIGPIPE, SIG_IGN);
    if (options != NULL) {
        harness->extra_arguments = options->extra_arguments;
        harness->tls = options->tls;
        harness->racks = options->racks;
    }
    if (harness->tls) {
        snprintf(harness->certs_dir, sizeof harness->certs_dir, "%s/certs", harness->data_root);
        char command[512];
        snprintf(command, sizeof command,
                 "scripts/make-test-certs '%s' %d --client bob --client carol", harness->certs_dir,
                 brokers_count);
        if (system(command) != 0) {
            ETHER_PANIC("harness: scripts/make-test-certs failed (run from the repository root)");
        }
    }
    for (int id = 1; id <= brokers_count; id++) {
        harness_start_broker(harness, id);
    }
}

int harness_kill_broker(struct harness *harness, int broker_id, int signal_number)
{
    pid_t pid = harness->pids[broker_id];
    if (pid <= 0) {
        return 0;
    }
    kill(pid, signal_number);
    int status = 0;
    waitpid(pid, &status, 0);
    harness->pids[broker_id] = 0;
    return status;
}

void harness_print_logs(const struct harness *harness)
{
    for (int id = 1; id <= harness->brokers_count; id++) {
        char command[400];
        snprintf(command, sizeof command,
                 "echo '--- broker %d log (last 40 lines) ---'; tail -n 40 '%s/broker-%d.log'", id,
                 harness->data_root, id);
        if (system(command) != 0) {
            fprintf(stderr, "harness: no log for broker %d\n", id);
        }
    }
}

int harness_stop(struct harness *harness)
{
    int unclean = 0;
    for (int id = 1; id <= harness->brokers_count; id++) {
        bool running = harness->pids[id] != 0;
        int status = harness_kill_broker(harness, id, SIGTERM);
        if (running && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            fprintf(stderr, "harness: broker %d did not stop cleanly on SIGTERM (status %d)\n", id,
                    status);
            unclean++;
        }
    }
    if (unclean > 0) {
        harness_print_logs(harness);
    }
    if (getenv("HARNESS_KEEP_DATA") == NULL) {
        char command[300];
        snprintf(command, sizeof command, "rm -rf '%s'", harness->data_root);
        if (system(command) != 0) {
            fprintf(stderr, "harness: could not remove %s\n", harness->data_root);
        }
    }
    return unclean;
}

int harness_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct timeval timeout = {.tv_sec = CALL_TIMEOUT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int harness_connect_tls(const struct harness *harness, uint16_t port, const char *identity)
{
    ETHER_ASSERT(harness->tls);
    char ca_file[400];
    char certificate_file[400] = "";
    char private_key_file[400] = "";
    snprintf(ca_file, sizeof ca_file, "%s/ca.crt", harness->certs_dir);
    if (identity != NULL) {
        snprintf(certificate_file, sizeof certificate_file, "%s/%s.crt", harness->certs_dir,
                 identity);
        snprintf(private_key_file, sizeof private_key_file, "%s/%s.key", harness->certs_dir,
                 identity);
    }
    struct ether_tls_config_options options = {
        .role = ETHER_TLS_ROLE_CLIENT,
        .ca_file = ca_file,
        .certificate_file = certificate_file,
        .private_key_file = private_key_file,
        .buffered_bytes_max = 2 * RECEIVE_BUFFER_BYTES,
    };
    struct ether_tls_config *config = NULL;
    char errstr[512];
    if (ether_tls_config_new(&options, &config, errstr, sizeof errstr) != ETHER_OK) {
        fprintf(stderr, "harness: %s\n", errstr);
        return -1;
    }
    struct ether_tls_session *session = NULL;
    int rc = ether_tls_session_new(config, "127.0.0.1", &session, errstr, sizeof errstr);
    ether_tls_config_free(config); /* the session keeps what it needs */
    ETHER_ASSERT(rc == ETHER_OK);
    int fd = harness_connect(port);
    if (fd < 0) {
        ether_tls_session_free(session);
        return -1;
    }
    while (ether_tls_session_state(session) == ETHER_TLS_HANDSHAKING) {
        if (tls_flush(fd, session) != 0 || tls_pump(fd, session) != 0) {
            break;
        }
    }
    if (ether_tls_session_state(session) != ETHER_TLS_ESTABLISHED || tls_flush(fd, session) != 0) {
        fprintf(stderr, "harness: TLS to port %u as %s: %s\n", port,
                identity != NULL ? identity : "(no certificate)",
                ether_tls_session_state(session) == ETHER_TLS_FAILED
                    ? ether_tls_session_error_message(session)
                    : "the connection ended during the handshake");
        ether_tls_session_free(session);
        close(fd);
        return -1;
    }
    tls_remember(fd, session);
    return fd;
}

int harness_client_connect(const struct harness *harness, uint16_t port)
{
    return harness->tls ? harness_connect_tls(harness, port, "alice") : harness_connect(port);
}

void harness_close(int fd)
{
    tls_forget(fd);
    close(fd);
}

const char *harness_tls_peer_common_name(int fd)
{
    struct tls_connection *connection = tls_find(fd);
    return connection != NULL ? ether_tls_session_peer_common_name(connection->session) : NULL;
}

int harness_log_count(const struct harness *harness, int broker_id, const char *text)
{
    char path[320];
    snprintf(path, sizeof path, "%s/broker-%d.log", harness->data_root, broker_id);
    FILE *log = fopen(path, "r");
    if (log == NULL) {
        return 0;
    }
    int count = 0;
    char line[4096];
    while (fgets(line, sizeof line, log) != NULL) {
        count += strstr(line, text) != NULL;
    }
    fclose(log);
    return count;
}

void harness_send_raw(int fd, const void *data, size_t size_bytes)
{
    struct tls_connection *connection = tls_find(fd);
    if (connection != NULL) {
        if (ether_tls_session_write(connection->session, data, size_bytes) == ETHER_OK) {
            (void)tls_flush(fd, connection->session); /* a failure shows as a missing answer */
        }
        return;
    }
    const uint8_t *bytes = data;
    while (size_bytes > 0) {
        ssize_t sent = send(fd, bytes, size_bytes, MSG_NOSIGNAL);
        if (sent <= 0) {
            return;
        }
        bytes += sent;
        size_bytes -= (size_t)sent;
    }
}

int harness_receive(int fd, struct proto_frame_header *header, ProtobufCMessage **body)
{
    uint8_t prefix[4];
    size_t have = 0;
    while (have < 4) {
        ssize_t received = receive_some(fd, prefix + have, 4 - have);
        if (received <= 0) {
            return -1;
        }
        have += (size_t)received;
    }
    uint32_t following = ether_get_u32le(prefix);
    if (following > RECEIVE_BUFFER_BYTES) {
        return -1;
    }
    uint8_t *frame = ether_malloc(following + 4);
    memcpy(frame, prefix, 4);
    have = 0;
    while (have < following) {
        ssize_t received = receive_some(fd, frame + 4 + have, following - have);
        if (received <= 0) {
            ether_free(frame);
            return -1;
        }
        have += (size_t)received;
    }
    const uint8_t *frame_body = NULL;
    size_t frame_bytes = 0;
    int rc = proto_frame_parse(frame, following + 4, RECEIVE_BUFFER_BYTES + 4, header, &frame_body,
                               &frame_bytes);
    if (rc == ETHER_OK) {
        rc = proto_body_unpack(header, frame_body, body);
    }
    ether_free(frame);
    return rc == ETHER_OK ? 0 : -1;
}

int harness_call(int fd, uint16_t api_key, const ProtobufCMessage *request,
                 ProtobufCMessage **response)
{
    static uint32_t next_correlation_id = 1;
    struct proto_frame_header header = {
        .api_key = api_key,
        .api_version = proto_api_version_max(api_key),
        .correlation_id = next_correlation_id++,
    };
    struct ether_buf frame = ETHER_BUF_INIT;
    int rc = proto_frame_encode(&frame, &header, request, RECEIVE_BUFFER_BYTES);
    if (rc != ETHER_OK) {
        ether_buf_free(&frame);
        return rc;
    }
    harness_send_raw(fd, frame.data, frame.length);
    ether_buf_free(&frame);
    struct proto_frame_header answer;
    ProtobufCMessage *body = NULL;
    if (harness_receive(fd, &answer, &body) != 0) {
        return ETHER_ERR_CLOSED;
    }
    if (answer.correlation_id != header.correlation_id) {
        proto_message_free(body);
        return ETHER_ERR_CORRUPT;
    }
    if (answer.is_error) {
        int error = (int)((Ether__ErrorResponse *)body)->error;
        proto_message_free(body);
        return error;
    }
    *response = body;
    return ETHER_OK;
}

Ether__MetadataResponse *harness_metadata(struct harness *harness, int broker_id, const char *topic)
{
    int fd = harness_client_connect(harness, harness_port(harness, broker_id));
    if (fd < 0) {
        return NULL;
    }
    Ether__MetadataRequest request = ETHER__METADATA_REQUEST__INIT;
    char *topics[1] = {(char *)(uintptr_t)topic};
    if (topic != NULL) {
        request.n_topics = 1;
        request.topics = topics;
    }
    ProtobufCMessage *response = NULL;
    int rc = harness_call(fd, PROTO_API_METADATA, &request.base, &response);
    harness_close(fd);
    return rc == ETHER_OK ? (Ether__MetadataResponse *)response : NULL;
}

int harness_create_topic(struct harness *harness, const char *name, uint32_t partitions,
                         uint32_t replication_factor)
{
    uint64_t deadline = harness_now_ms() + 20000;
    int rc = ETHER_ERR_TIMED_OUT;
    while (harness_now_ms() < deadline) {
        int controller = 0;
        for (int id = 1; id <= harness->brokers_count && controller == 0; id++) {
            if (harness->pids[id] == 0) {
                continue;
            }
            Ether__MetadataResponse *metadata = harness_metadata(harness, id, NULL);
            if (metadata != NULL) {
                /* Every seed must be registered before a topic can use it. */
                if (metadata->controller_id != 0 &&
                    metadata->n_brokers >= (size_t)harness->brokers_count) {
                    controller = (int)metadata->controller_id;
                }
                proto_message_free(&metadata->base);
            }
        }
        if (controller == 0) {
            sleep_ms(100);
            continue;
        }
        int fd = harness_client_connect(harness, harness_port(harness, controller));
        if (fd < 0) {
            sleep_ms(100);
            continue;
        }
        Ether__CreateTopicRequest request = ETHER__CREATE_TOPIC_REQUEST__INIT;
        request.name = (char *)(uintptr_t)name;
        request.partitions = partitions;
        request.replication_factor = replication_factor;
        ProtobufCMessage *response = NULL;
        rc = harness_call(fd, PROTO_API_CREATE_TOPIC, &request.base, &response);
        harness_close(fd);
        if (rc == ETHER_OK) {
            rc = (int)((Ether__CreateTopicResponse *)response)->error;
            proto_message_free(response);
        }
        if (rc != ETHER_ERR_NOT_LEADER && rc != ETHER_ERR_CLOSED) {
            return rc;
        }
        sleep_ms(100);
    }
    return rc;
}

bool harness_wait_for_leaders(struct harness *harness, int broker_id, const char *topic,
                              uint32_t partitions, int timeout_ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
    while (harness_now_ms() < deadline) {
        Ether__MetadataResponse *metadata = harness_metadata(harness, broker_id, topic);
        bool all = false;
        if (metadata != NULL && metadata->n_topics == 1 && metadata->topics[0]->error == 0 &&
            metadata->topics[0]->n_partitions == partitions) {
            all = true;
            for (size_t p = 0; p < partitions; p++) {
                all &= metadata->topics[0]->partitions[p]->leader_id != 0;
            }
        }
        if (metadata != NULL) {
            proto_message_free(&metadata->base);
        }
        if (all) {
            return true;
        }
        sleep_ms(50);
    }
    return false;
}

void harness_build_batch(struct ether_buf *batch, uint64_t first, uint32_t count)
{
    harness_build_producer_batch(batch, first, count, -1, -1, -1);
}

int harness_call_controller(struct harness *harness, uint16_t api_key,
                            const ProtobufCMessage *request, ProtobufCMessage **response)
{
    uint64_t deadline = harness_now_ms() + 20000;
    while (harness_now_ms() < deadline) {
        int controller = 0;
        for (int id = 1; id <= harness->brokers_count && controller == 0; id++) {
            if (harness->pids[id] == 0) {
                continue;
            }
            Ether__MetadataResponse *metadata = harness_metadata(harness, id, NULL);
            if (metadata != NULL) {
                controller = (int)metadata->controller_id;
                proto_message_free(&metadata->base);
            }
        }
        if (controller != 0 && harness->pids[controller] != 0) {
            int fd = harness_client_connect(harness, harness_port(harness, controller));
            if (fd >= 0) {
                int rc = harness_call(fd, api_key, request, response);
                harness_close(fd);
                if (rc == ETHER_OK) {
                    return rc;
                }
            }
        }
        sleep_ms(100);
    }
    return ETHER_ERR_TIMED_OUT;
}

void harness_build_producer_batch(struct ether_buf *batch, uint64_t first, uint32_t count,
                                  int64_t producer_id, int16_t producer_epoch,
                                  int32_t base_sequence)
{
    struct ether_buf records = ETHER_BUF_INIT;
    for (uint32_t i = 0; i < count; i++) {
        char key[32];
        char value[64];
        int key_bytes = snprintf(key, sizeof key, "key-%llu", (unsigned long long)(first + i));
        int value_bytes =
            snprintf(value, sizeof value, "value-%llu", (unsigned long long)(first + i));
        proto_record_append(&records, 0, i, key, (size_t)key_bytes, value, (size_t)value_bytes,
                            NULL, 0);
    }
    struct proto_batch_header header = {
        .compression = PROTO_COMPRESSION_NONE,
        .record_count = count,
        .first_timestamp_ms = 1700000000000 + (int64_t)first,
        .max_timestamp_ms = 1700000000000 + (int64_t)first,
        .producer_id = producer_id,
        .producer_epoch = producer_epoch,
        .base_sequence = base_sequence,
        .records_bytes_uncompressed = (uint32_t)records.length,
    };
    int rc = proto_batch_write(batch, &header, records.data, records.length);
    ETHER_ASSERT(rc == ETHER_OK);
    ether_buf_free(&records);
}

int harness_log_count_all(const struct harness *harness, const char *text)
{
    int count = 0;
    for (int id = 1; id <= harness->brokers_count; id++) {
        count += harness_log_count(harness, id, text);
    }
    return count;
}

int harness_run_command(const char *command, char *output, size_t output_size)
{
    FILE *pipe = popen(command, "r");
    if (pipe == NULL) {
        return -1;
    }
    size_t used = 0;
    size_t got;
    while (used + 1 < output_size &&
           (got = fread(output + used, 1, output_size - 1 - used, pipe)) > 0) {
        used += got;
    }
    output[used] = '\0';
    char ignored[256];
    while (fread(ignored, 1, sizeof ignored, pipe) > 0) {
    }
    int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int harness_http_exchange(const struct harness *harness, int broker_id, const char *request,
                          char *response, size_t response_bytes_max)
{
    int fd = harness_connect((uint16_t)(harness_port(harness, broker_id) + 100));
    if (fd < 0) {
        return -1;
    }
    harness_send_raw(fd, request, strlen(request));
    size_t used = 0;
    while (used + 1 < response_bytes_max) {
        ssize_t got = recv(fd, response + used, response_bytes_max - 1 - used, 0);
        if (got <= 0) {
            break;
        }
        used += (size_t)got;
    }
    response[used] = '\0';
    close(fd);
    return (int)used;
}

bool harness_metric_value(const char *response, const char *series, uint64_t *value)
{
    char needle[256];
    snprintf(needle, sizeof needle, "\n%s ", series);
    const char *line = strstr(response, needle);
    if (line == NULL) {
        return false;
    }
    *value = strtoull(line + strlen(needle), NULL, 10);
    return true;
}

int harness_produce_batch(int fd, const char *topic, uint32_t partition,
                          const struct ether_buf *batch, Ether__Acks acks, uint64_t *base_offset,
                          uint32_t *leader_hint)
{
    Ether__ProducePartition part = ETHER__PRODUCE_PARTITION__INIT;
    part.partition = partition;
    part.batch.data = batch->data;
    part.batch.len = batch->length;
    Ether__ProducePartition *parts[1] = {&part};
    Ether__ProduceRequest request = ETHER__PRODUCE_REQUEST__INIT;
    request.topic = (char *)(uintptr_t)topic;
    request.acks = acks;
    request.n_partitions = 1;
    request.partitions = parts;
    ProtobufCMessage *response = NULL;
    int rc = harness_call(fd, PROTO_API_PRODUCE, &request.base, &response);
    if (rc != ETHER_OK) {
        return rc;
    }
    Ether__ProduceResponse *produced = (Ether__ProduceResponse *)response;
    rc = produced->n_partitions == 1 ? (int)produced->partitions[0]->error : ETHER_ERR_CORRUPT;
    if (produced->n_partitions == 1) {
        if (base_offset != NULL) {
            *base_offset = produced->partitions[0]->base_offset;
        }
        if (leader_hint != NULL) {
            *leader_hint = produced->partitions[0]->leader_hint_id;
        }
    }
    proto_message_free(response);
    return rc;
}

int harness_fetch_partition(int fd, const char *topic, uint32_t partition, uint64_t offset,
                            uint32_t max_wait_ms, Ether__FetchResponse **response)
{
    Ether__FetchPartition wanted = ETHER__FETCH_PARTITION__INIT;
    wanted.partition = partition;
    wanted.offset = offset;
    wanted.max_bytes = 256 * 1024;
    Ether__FetchPartition *wanted_list[1] = {&wanted};
    Ether__FetchRequest request = ETHER__FETCH_REQUEST__INIT;
    request.topic = (char *)(uintptr_t)topic;
    request.n_partitions = 1;
    request.partitions = wanted_list;
    request.max_wait_ms = max_wait_ms;
    ProtobufCMessage *body = NULL;
    int rc = harness_call(fd, PROTO_API_FETCH, &request.base, &body);
    *response = rc == ETHER_OK ? (Ether__FetchResponse *)body : NULL;
    return rc;
}
