/*
 * Tests of TLS in libether: the TLS files behind the settings, and connections to brokers
 * on loopback that speak TLS. Two kinds of broker: the fake cluster over TLS of
 * test_client_fake_tls.h (the real framing server, broker/server.c, with its TLS
 * sessions) for requests end to end, and a bare socket with a TLS server session of its
 * own (common/tls.h) for what is on the wire: the close_notify a closing client sends,
 * and a TLS alert sent to a client in clear.
 *
 * SCRAM-SHA-256 logins run against the fake cluster over TLS, whose brokers answer
 * AUTHENTICATE with the server side of common/scram.h (through the fake's `intercept`
 * seam) for the users of the fake controller, and refuse every other request of a
 * connection that has not logged in; faults make a broker forge its signature, close the
 * connection (abruptly or after its close_notify), answer BUSY or stay silent during the
 * login. Only a refusal or a forged signature is final; the others are retried.
 *
 * Certificates come from scripts/make-test-certs (test_client_fake_tls.h) in a temporary
 * directory for the whole run (broker-N for the brokers, alice as the client, other-ca /
 * other-alice from an unrelated CA), plus one made here that names only another host.
 * Every wait is bounded by the client's own timeouts or a socket timeout; none sleeps for
 * an outcome.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_client_fake_tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/ether.h"
#include "common/scram.h"
#include "common/tls.h"

enum {
    PATH_BYTES_MAX = 512,
    ERRSTR_BYTES = 512,
    BROKERS = 3,
    PARTITIONS = 3,
    SOCKET_TIMEOUT_S = 10,
    FRAME_BYTES_MAX = 16 * 1024 * 1024,
};

/* ---- certificates ------------------------------------------------------------------------ */

/* The run's certificates (test_client_fake_tls.h), and one more: a broker certificate from
 * the right CA that names only another host. */
static int make_certs(void **state)
{
    struct fake_certs *certs = fake_certs_new(BROKERS);
    if (certs == NULL) {
        return -1;
    }
    char command[4 * PATH_BYTES_MAX];
    snprintf(command, sizeof command,
             "cd '%s' && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
             "-out elsewhere.key 2>/dev/null && "
             "openssl req -new -key elsewhere.key -subj '/O=Ether test/CN=broker-9' "
             "-out elsewhere.csr && "
             "printf 'subjectAltName=DNS:elsewhere.example\\nextendedKeyUsage=serverAuth\\n' "
             ">elsewhere.ext && "
             "openssl x509 -req -in elsewhere.csr -CA ca.crt -CAkey ca.key -set_serial 0x2a "
             "-days 1 -extfile elsewhere.ext -out elsewhere.crt 2>/dev/null",
             certs->dir);
    if (system(command) != 0) {
        fprintf(stderr, "test_client_tls: cannot make elsewhere.crt\n");
        (void)fake_certs_free(certs);
        return -1;
    }
    *state = certs;
    return 0;
}

static int remove_certs(void **state)
{
    return fake_certs_free(*state);
}

static uint64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

/* ---- a bare TLS broker on a socket ------------------------------------------------------- */

/*
 * Serves one connection on a thread with blocking sockets. With `alert_in_clear` it reads
 * once and answers with a TLS alert record (what a TLS port may send a client in clear).
 * Else it runs a TLS server session: answers METADATA requests with one broker (itself)
 * and no topics, ignores other requests, and reads until the client closes the socket,
 * then notes whether the client's close_notify came first.
 */
struct bare_broker {
    int listen_fd;
    uint16_t port;
    pthread_t thread;
    bool alert_in_clear;
    struct ether_tls_config *tls;
    /* results, read after bare_broker_join */
    uint32_t metadata_answered;
    bool peer_closed;
    char failure[256]; /* "" unless the session failed */
};

static bool send_all(int fd, const uint8_t *bytes, size_t bytes_count)
{
    while (bytes_count > 0) {
        ssize_t sent = send(fd, bytes, bytes_count, MSG_NOSIGNAL);
        if (sent <= 0) {
            return false;
        }
        bytes += sent;
        bytes_count -= (size_t)sent;
    }
    return true;
}

static bool flush_session(int fd, struct ether_tls_session *session)
{
    uint8_t chunk[16 * 1024];
    size_t taken;
    while ((taken = ether_tls_session_take_output(session, chunk, sizeof chunk)) > 0) {
        if (!send_all(fd, chunk, taken)) {
            return false;
        }
    }
    return true;
}

/* Answers every whole METADATA request in `input` (consumed from it). */
static void bare_answer_requests(struct bare_broker *bare, struct ether_tls_session *session,
                                 struct ether_buf *input)
{
    size_t consumed = 0;
    for (;;) {
        struct proto_frame_header header;
        const uint8_t *body = NULL;
        size_t frame_bytes = 0;
        if (proto_frame_parse(input->data + consumed, input->length - consumed, FRAME_BYTES_MAX,
                              &header, &body, &frame_bytes) != ETHER_OK) {
            break;
        }
        consumed += frame_bytes;
        if (header.api_key != PROTO_API_METADATA) {
            continue;
        }
        Ether__BrokerAddress self = ETHER__BROKER_ADDRESS__INIT;
        self.broker_id = 1;
        self.host = (char *)"127.0.0.1";
        self.port = bare->port;
        self.rack = (char *)"";
        Ether__BrokerAddress *brokers[] = {&self};
        Ether__MetadataResponse response = ETHER__METADATA_RESPONSE__INIT;
        response.brokers = brokers;
        response.n_brokers = 1;
        response.controller_id = 1;
        response.cluster_id = (char *)"bare";
        struct proto_frame_header answer = {
            .api_key = PROTO_API_METADATA,
            .api_version = proto_api_version_max(PROTO_API_METADATA),
            .is_response = true,
            .correlation_id = header.correlation_id,
        };
        struct ether_buf frame = ETHER_BUF_INIT;
        assert_int_equal(proto_frame_encode(&frame, &answer, &response.base, FRAME_BYTES_MAX),
                         ETHER_OK);
        assert_int_equal(ether_tls_session_write(session, frame.data, frame.length), ETHER_OK);
        ether_buf_free(&frame);
        bare->metadata_answered++;
    }
    memmove(input->data, input->data + consumed, input->length - consumed);
    input->length -= consumed;
}

static void bare_serve_tls(struct bare_broker *bare, int fd)
{
    char errstr[ETHER_TLS_ERROR_MESSAGE_BYTES_MAX];
    struct ether_tls_session *session = NULL;
    assert_int_equal(ether_tls_session_new(bare->tls, NULL, &session, errstr, sizeof errstr),
                     ETHER_OK);
    struct ether_buf input = ETHER_BUF_INIT;
    uint8_t chunk[16 * 1024];
    for (;;) {
        ssize_t received = recv(fd, chunk, sizeof chunk, 0);
        if (received <= 0) {
            break; /* the client closed the socket, or the timeout */
        }
        (void)ether_tls_session_receive(session, chunk, (size_t)received);
        if (ether_tls_session_state(session) == ETHER_TLS_FAILED) {
            snprintf(bare->failure, sizeof bare->failure, "%s",
                     ether_tls_session_error_message(session));
            break;
        }
        size_t read_bytes = 0;
        do {
            ether_buf_reserve(&input, sizeof chunk);
            assert_int_equal(ether_tls_session_read(session, input.data + input.length,
                                                    input.capacity - input.length, &read_bytes),
                             ETHER_OK);
            input.length += read_bytes;
        } while (read_bytes > 0);
        if (ether_tls_session_state(session) == ETHER_TLS_ESTABLISHED) {
            bare_answer_requests(bare, session, &input);
        }
        if (!flush_session(fd, session)) {
            break;
        }
    }
    bare->peer_closed = ether_tls_session_peer_closed(session);
    ether_buf_free(&input);
    ether_tls_session_free(session);
}

static void *bare_broker_main(void *argument)
{
    struct bare_broker *bare = argument;
    int fd = accept(bare->listen_fd, NULL, NULL);
    if (fd < 0) {
        snprintf(bare->failure, sizeof bare->failure, "no client connected");
        return NULL;
    }
    struct timeval timeout = {.tv_sec = SOCKET_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (bare->alert_in_clear) {
        uint8_t request[4096];
        if (recv(fd, request, sizeof request, 0) > 0) {
            /* A fatal alert record, TLS 1.2, "protocol_version" (70). */
            static const uint8_t alert[] = {21, 3, 3, 0, 2, 2, 70};
            (void)send_all(fd, alert, sizeof alert);
        }
    } else {
        bare_serve_tls(bare, fd);
    }
    close(fd);
    return NULL;
}

static void bare_broker_start(struct bare_broker *bare, const struct fake_certs *certs,
                              bool alert_in_clear)
{
    memset(bare, 0, sizeof *bare);
    bare->alert_in_clear = alert_in_clear;
    if (!alert_in_clear) {
        char ca_file[PATH_BYTES_MAX + 64];
        char certificate_file[PATH_BYTES_MAX + 64];
        char private_key_file[PATH_BYTES_MAX + 64];
        struct ether_tls_config_options tls = {
            .role = ETHER_TLS_ROLE_SERVER,
            .ca_file = fake_cert_path(certs, "ca.crt", ca_file, sizeof ca_file),
            .certificate_file =
                fake_cert_path(certs, "broker-1.crt", certificate_file, sizeof certificate_file),
            .private_key_file =
                fake_cert_path(certs, "broker-1.key", private_key_file, sizeof private_key_file),
        };
        char errstr[ERRSTR_BYTES];
        assert_int_equal(ether_tls_config_new(&tls, &bare->tls, errstr, sizeof errstr), ETHER_OK);
    }
    bare->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(bare->listen_fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(bare->listen_fd, (struct sockaddr *)&address, sizeof address), 0);
    assert_int_equal(listen(bare->listen_fd, 4), 0);
    socklen_t length = sizeof address;
    assert_int_equal(getsockname(bare->listen_fd, (struct sockaddr *)&address, &length), 0);
    bare->port = ntohs(address.sin_port);
    struct timeval timeout = {.tv_sec = SOCKET_TIMEOUT_S}; /* bounds accept() */
    setsockopt(bare->listen_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    assert_int_equal(pthread_create(&bare->thread, NULL, bare_broker_main, bare), 0);
}

static void bare_broker_join(struct bare_broker *bare)
{
    pthread_join(bare->thread, NULL);
    close(bare->listen_fd);
    ether_tls_config_free(bare->tls);
}

/* ---- settings and files ------------------------------------------------------------------ */

/* ether_client_new's errstr for the config, which it must refuse. */
static void client_refused(struct ether_config *config, char *errstr, size_t errstr_size)
{
    struct ether_client *client = ether_client_new(config, errstr, errstr_size);
    assert_null(client);
    ether_config_free(config);
}

static void test_unusable_tls_files_are_named_when_the_client_is_made(void **state)
{
    struct fake_certs *certs = *state;
    char errstr[ERRSTR_BYTES];
    char path[PATH_BYTES_MAX + 64];
    const char *brokers = "127.0.0.1:1";

    struct ether_config *config = fake_tls_config(certs, brokers, "missing", NULL);
    client_refused(config, errstr, sizeof errstr);
    assert_non_null(strstr(errstr, "CA file"));
    assert_non_null(strstr(errstr, "missing.crt"));
    assert_non_null(strstr(errstr, "No such file"));

    /* A file that holds no certificate, where the CA certificates should be. */
    config = fake_tls_config(certs, brokers, NULL, NULL);
    assert_int_equal(ether_config_set(config, "tls_ca_file",
                                      fake_cert_path(certs, "alice.key", path, sizeof path), errstr,
                                      sizeof errstr),
                     ETHER_OK);
    client_refused(config, errstr, sizeof errstr);
    assert_non_null(strstr(errstr, "alice.key"));

    config = fake_tls_config(certs, brokers, "ca", "nobody");
    client_refused(config, errstr, sizeof errstr);
    assert_non_null(strstr(errstr, "nobody.crt"));

    /* A key that is not the certificate's. */
    config = fake_tls_config(certs, brokers, "ca", "alice");
    assert_int_equal(ether_config_set(config, "tls_private_key_file",
                                      fake_cert_path(certs, "broker-1.key", path, sizeof path),
                                      errstr, sizeof errstr),
                     ETHER_OK);
    client_refused(config, errstr, sizeof errstr);
    assert_non_null(strstr(errstr, "broker-1.key"));
    assert_non_null(strstr(errstr, "match the private key"));

    /* Usable files make a client; none is opened again on connections. */
    struct ether_client *client = fake_tls_client(certs, brokers, "ca", "alice");
    ether_client_destroy(client);
    client = fake_tls_client(certs, brokers, "ca", NULL);
    ether_client_destroy(client);
}

/* ---- requests over TLS ------------------------------------------------------------------- */

struct deliveries {
    int count;
    int failed;
    char last_message[ERRSTR_BYTES];
};

static void on_delivery(void *context, const struct ether_delivery *delivery)
{
    struct deliveries *deliveries = context;
    deliveries->count++;
    if (delivery->error != ETHER_OK) {
        deliveries->failed++;
        snprintf(deliveries->last_message, sizeof deliveries->last_message, "%s",
                 delivery->error_message);
    }
}

/* Record i's value: i in decimal, padded to a size that crosses TLS record boundaries. */
static size_t record_value(int i, char *value, size_t value_size)
{
    size_t bytes = (size_t)(i % 7 == 0 ? 40000 : 10 + i % 300);
    assert_true(bytes <= value_size);
    int prefix = snprintf(value, value_size, "record-%d-", i);
    for (size_t b = (size_t)prefix; b < bytes; b++) {
        value[b] = (char)('a' + (b + (size_t)i) % 26);
    }
    return bytes;
}

static void test_records_produced_and_consumed_over_mtls_arrive_intact(void **state)
{
    struct fake_certs *certs = *state;
    struct fake_cluster *cluster = calloc(1, sizeof *cluster);
    fake_tls_cluster_start(cluster, BROKERS, certs, NULL, true);
    fake_add_topic(cluster, "orders", PARTITIONS);
    /* Bootstrap by name (a DNS SAN); the metadata then says 127.0.0.1 (an IP SAN). */
    char brokers[256];
    fake_cluster_brokers_at(cluster, "localhost", brokers, sizeof brokers);
    struct ether_config *config = fake_tls_config(certs, brokers, "ca", "alice");
    struct deliveries deliveries = {0};
    ether_config_set_delivery_callback(config, on_delivery, &deliveries);
    char errstr[ERRSTR_BYTES];
    struct ether_client *client = ether_client_new(config, errstr, sizeof errstr);
    assert_non_null(client);
    ether_config_free(config);

    enum { COUNT = 600 };
    static char value[40000];
    for (int i = 0; i < COUNT; i++) {
        size_t bytes = record_value(i, value, sizeof value);
        assert_int_equal(
            ether_produce(client, "orders", i % PARTITIONS, NULL, 0, value, bytes, 0, NULL),
            ETHER_OK);
    }
    assert_int_equal(ether_flush(client, 20000), ETHER_OK);
    assert_int_equal(deliveries.count, COUNT);
    if (deliveries.failed != 0) {
        fail_msg("%d records failed: %s", deliveries.failed, deliveries.last_message);
    }
    for (uint32_t id = 1; id <= BROKERS; id++) {
        assert_true(fake_read(cluster, &cluster->produce_requests[id]) >= 1);
    }

    for (int32_t p = 0; p < PARTITIONS; p++) {
        assert_int_equal(ether_assign(client, "orders", p, ETHER_OFFSET_BEGINNING), ETHER_OK);
    }
    int64_t next_offset[PARTITIONS] = {0};
    for (int n = 0; n < COUNT; n++) {
        struct ether_message *message = ether_consume(client, 10000);
        assert_non_null(message);
        if (message->error != ETHER_OK) {
            fail_msg("consume: %s", message->error_message);
        }
        assert_true(message->partition >= 0 && message->partition < PARTITIONS);
        int32_t p = message->partition;
        assert_int_equal(message->offset, next_offset[p]);
        int i = (int)(message->offset * PARTITIONS + p); /* record i went to partition i % 3 */
        size_t bytes = record_value(i, value, sizeof value);
        assert_int_equal(message->value_bytes, bytes);
        assert_memory_equal(message->value, value, bytes);
        next_offset[p]++;
        ether_message_free(message);
    }
    ether_client_destroy(client);
    fake_cluster_stop(cluster);
    free(cluster);
}

static void test_client_without_a_certificate_is_refused_at_once_with_the_reason(void **state)
{
    struct fake_certs *certs = *state;
    struct fake_cluster *cluster = calloc(1, sizeof *cluster);
    fake_tls_cluster_start(cluster, 1, certs, NULL, true);
    char brokers[64];
    fake_cluster_brokers(cluster, cluster->broker_count, brokers, sizeof brokers);
    struct ether_client *client = fake_tls_client(certs, brokers, "ca", NULL);
    struct ether_cluster *description = NULL;
    char errstr[ERRSTR_BYTES];
    uint64_t started_ms = now_ms();
    assert_int_equal(
        ether_describe_cluster(client, NULL, 0, 10000, &description, errstr, sizeof errstr),
        ETHER_ERR_AUTHENTICATION_FAILED);
    /* Not retried until the timeout: a certificate does not appear by waiting. */
    assert_true(now_ms() - started_ms < 5000);
    assert_non_null(strstr(errstr, "127.0.0.1"));
    assert_non_null(strstr(errstr, "certificate required"));
    assert_non_null(strstr(errstr, "the server asked for a client certificate and none is "
                                   "configured"));
    assert_null(description);
    ether_client_destroy(client);

    /* A certificate from another CA is refused by the broker, which says why. */
    client = fake_tls_client(certs, brokers, "ca", "other-alice");
    assert_int_equal(
        ether_describe_cluster(client, NULL, 0, 10000, &description, errstr, sizeof errstr),
        ETHER_ERR_AUTHENTICATION_FAILED);
    assert_non_null(strstr(errstr, "unknown ca"));
    ether_client_destroy(client);
    fake_cluster_stop(cluster);
    free(cluster);
}

static void test_group_member_without_a_certificate_stops_with_the_reason(void **state)
{
    struct fake_certs *certs = *state;
    struct fake_cluster *cluster = calloc(1, sizeof *cluster);
    fake_tls_cluster_start(cluster, 1, certs, NULL, true);
    fake_add_topic(cluster, "orders", 1);
    char brokers[64];
    fake_cluster_brokers(cluster, cluster->broker_count, brokers, sizeof brokers);
    struct ether_config *config = fake_tls_config(certs, brokers, "ca", NULL);
    char errstr[ERRSTR_BYTES];
    assert_int_equal(ether_config_set(config, "group_id", "billing", errstr, sizeof errstr),
                     ETHER_OK);
    struct ether_client *client = ether_client_new(config, errstr, sizeof errstr);
    assert_non_null(client);
    ether_config_free(config);
    const char *topics[] = {"orders"};
    assert_int_equal(ether_subscribe(client, topics, 1, errstr, sizeof errstr), ETHER_OK);
    /* Looking for the coordinator again would not make a certificate appear. */
    struct ether_message *message = ether_consume(client, 5000);
    assert_non_null(message);
    assert_int_equal(message->error, ETHER_ERR_AUTHENTICATION_FAILED);
    assert_non_null(strstr(message->error_message, "consumer group billing stopped"));
    assert_non_null(strstr(message->error_message, "certificate required"));
    ether_message_free(message);
    ether_client_destroy(client);
    fake_cluster_stop(cluster);
    free(cluster);
}

static void test_broker_certificates_the_client_cannot_trust_are_refused(void **state)
{
    struct fake_certs *certs = *state;
    char errstr[ERRSTR_BYTES];
    struct ether_cluster *description = NULL;

    /* Signed by a CA the client does not trust. */
    struct fake_cluster *cluster = calloc(1, sizeof *cluster);
    fake_tls_cluster_start(cluster, 1, certs, NULL, false);
    char brokers[64];
    fake_cluster_brokers(cluster, cluster->broker_count, brokers, sizeof brokers);
    struct ether_client *client = fake_tls_client(certs, brokers, "other-ca", "alice");
    assert_int_equal(
        ether_describe_cluster(client, NULL, 0, 10000, &description, errstr, sizeof errstr),
        ETHER_ERR_AUTHENTICATION_FAILED);
    assert_non_null(strstr(errstr, "TLS handshake failed: certificate verify failed"));
    ether_client_destroy(client);
    fake_cluster_stop(cluster);

    /* Signed by the right CA for another host: the name dialled is what is checked. */
    fake_tls_cluster_start(cluster, 1, certs, "elsewhere", false);
    fake_cluster_brokers(cluster, cluster->broker_count, brokers, sizeof brokers);
    client = fake_tls_client(certs, brokers, "ca", NULL);
    assert_int_equal(
        ether_describe_cluster(client, NULL, 0, 10000, &description, errstr, sizeof errstr),
        ETHER_ERR_AUTHENTICATION_FAILED);
    assert_non_null(strstr(errstr, "mismatch"));
    ether_client_destroy(client);
    fake_cluster_brokers_at(cluster, "localhost", brokers, sizeof brokers);
    client = fake_tls_client(certs, brokers, "ca", NULL);
    assert_int_equal(
        ether_describe_cluster(client, NULL, 0, 10000, &description, errstr, sizeof errstr),
        ETHER_ERR_AUTHENTICATION_FAILED);
    assert_non_null(strstr(errstr, "mismatch"));
    ether_client_destroy(client);
    fake_cluster_stop(cluster);
    free(cluster);
}

/* ---- SCRAM-SHA-256 logins at the fake brokers -------------------------------------------- */

enum { LOGINS_MAX = 64 };

enum login_fault {
    LOGIN_HONEST,
    LOGIN_FORGED_SIGNATURE, /* server-final with another signature: an impostor */
    LOGIN_CLOSE,            /* closes the connection at the first AUTHENTICATE */
    LOGIN_CLOSE_GRACEFULLY, /* the same after its close_notify, as a stopping broker does */
    LOGIN_SILENT,           /* never answers AUTHENTICATE */
    /* BUSY (a broker that cannot log anyone in just now), then honest: */
    LOGIN_BUSY_FIRST_ONCE, /* the cluster's first client-first gets an ErrorResponse */
    LOGIN_BUSY_FINAL_ONCE, /* the cluster's first client-final gets an AuthenticateResponse */
    LOGIN_BUSY,            /* every AUTHENTICATE gets an AuthenticateResponse BUSY */
};

/* One connection's login, at one broker (connection ids are per server). */
struct login {
    uint32_t broker_id;
    uint64_t connection_id;
    struct ether_scram_server *scram;
    bool authenticated;
};

/* The intercept's state; read by the test under the cluster's mutex. */
struct logins {
    enum login_fault fault;
    struct login items[LOGINS_MAX];
    uint32_t count;
    uint32_t authenticate_requests;
    uint32_t succeeded;
    uint32_t refused;
    uint32_t busy_answers;
    uint32_t requests_before_login; /* other apis on a connection not logged in */
    uint32_t requests_after_login;
};

static struct login *login_of(struct logins *logins, uint32_t broker_id, uint64_t connection_id)
{
    for (uint32_t i = 0; i < logins->count; i++) {
        if (logins->items[i].broker_id == broker_id &&
            logins->items[i].connection_id == connection_id) {
            return &logins->items[i];
        }
    }
    assert_true(logins->count < LOGINS_MAX);
    struct login *login = &logins->items[logins->count++];
    login->broker_id = broker_id;
    login->connection_id = connection_id;
    return login;
}

static void login_respond(struct fake_broker *broker, uint64_t connection_id,
                          uint32_t correlation_id, uint32_t error, const char *message,
                          const struct ether_buf *auth_bytes, bool done, const char *principal)
{
    Ether__AuthenticateResponse response = ETHER__AUTHENTICATE_RESPONSE__INIT;
    response.error = error;
    response.error_message = (char *)(uintptr_t)message;
    if (auth_bytes != NULL) {
        response.auth_bytes.data = auth_bytes->data;
        response.auth_bytes.len = auth_bytes->length;
    }
    response.done = done;
    response.principal = (char *)(uintptr_t)principal;
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_AUTHENTICATE,
                                correlation_id, &response.base);
}

/* The fake cluster's intercept: the server side of SCRAM, as a broker runs it. */
static bool login_intercept(struct fake_broker *broker, uint64_t connection_id,
                            const struct proto_frame_header *header,
                            const ProtobufCMessage *request)
{
    struct fake_cluster *cluster = broker->cluster;
    struct logins *logins = cluster->intercept_context;
    struct login *login = login_of(logins, broker->broker_id, connection_id);
    if (header->api_key != PROTO_API_AUTHENTICATE) {
        if (login->authenticated) {
            logins->requests_after_login++;
            return false; /* the fake answers it */
        }
        logins->requests_before_login++;
        broker_server_close_connection(broker->server, connection_id);
        return true;
    }
    logins->authenticate_requests++;
    if (logins->fault == LOGIN_SILENT) {
        return true;
    }
    if (logins->fault == LOGIN_CLOSE) {
        broker_server_close_connection(broker->server, connection_id);
        return true;
    }
    if (logins->fault == LOGIN_CLOSE_GRACEFULLY) {
        broker_server_close_connection_after_writes(broker->server, connection_id);
        return true;
    }
    const char *busy = "the broker is busy; try again";
    if (logins->fault == LOGIN_BUSY || (logins->fault == LOGIN_BUSY_FINAL_ONCE &&
                                        logins->busy_answers == 0 && login->scram != NULL)) {
        logins->busy_answers++;
        login_respond(broker, connection_id, header->correlation_id, ETHER_ERR_BUSY, busy, NULL,
                      false, "");
        return true;
    }
    if (logins->fault == LOGIN_BUSY_FIRST_ONCE && logins->busy_answers == 0) {
        logins->busy_answers++;
        (void)broker_server_respond_error(broker->server, connection_id, header, ETHER_ERR_BUSY,
                                          busy);
        return true;
    }
    const Ether__AuthenticateRequest *authenticate = (const Ether__AuthenticateRequest *)request;
    assert_string_equal(authenticate->mechanism, "SCRAM-SHA-256");
    char errbuf[ETHER_SCRAM_ERROR_BYTES] = "";
    struct ether_buf out = ETHER_BUF_INIT;
    int rc = ETHER_OK;
    bool done = false;
    char user[ETHER_SCRAM_USER_BYTES_MAX + 1] = "";
    if (login->scram == NULL) {
        login->scram = ether_scram_server_new();
        rc = ether_scram_server_receive_first(login->scram, authenticate->auth_bytes.data,
                                              authenticate->auth_bytes.len, user, sizeof user,
                                              errbuf, sizeof errbuf);
        if (rc == ETHER_OK) {
            struct fake_user *known = fake_user_find(cluster, user);
            struct ether_scram_credential credential;
            if (known != NULL) {
                assert_int_equal(
                    ether_scram_credential_new(known->password, known->iterations, &credential),
                    ETHER_OK);
            }
            rc = ether_scram_server_first(login->scram, known != NULL ? &credential : NULL, &out);
        }
    } else {
        rc = ether_scram_server_final(login->scram, authenticate->auth_bytes.data,
                                      authenticate->auth_bytes.len, &out, errbuf, sizeof errbuf);
        done = rc == ETHER_OK;
        if (done && logins->fault == LOGIN_FORGED_SIGNATURE) {
            /* "v=<base64>": another first character is another signature, still well formed. */
            assert_true(out.length > 2);
            out.data[2] = out.data[2] == 'A' ? 'B' : 'A';
        }
    }
    if (rc != ETHER_OK) {
        logins->refused++;
        login_respond(broker, connection_id, header->correlation_id,
                      ETHER_ERR_AUTHENTICATION_FAILED, errbuf, NULL, false, "");
    } else {
        login->authenticated = done;
        logins->succeeded += done ? 1 : 0;
        login_respond(broker, connection_id, header->correlation_id, ETHER_OK, "", &out, done,
                      done ? "alice" : "");
    }
    ether_buf_free(&out);
    return true;
}

/*
 * A fake TLS cluster (no client certificates required) whose brokers log users in:
 * "alice" with password "alice-password". Free with login_cluster_stop.
 */
static struct fake_cluster *login_cluster_start(const struct fake_certs *certs,
                                                uint32_t broker_count, enum login_fault fault)
{
    struct fake_cluster *cluster = calloc(1, sizeof *cluster);
    struct logins *logins = calloc(1, sizeof *logins);
    assert_non_null(cluster);
    assert_non_null(logins);
    logins->fault = fault;
    fake_tls_cluster_start(cluster, broker_count, certs, NULL, false);
    pthread_mutex_lock(&cluster->mutex);
    struct fake_user *alice = &cluster->users[cluster->user_count++];
    snprintf(alice->name, sizeof alice->name, "alice");
    snprintf(alice->password, sizeof alice->password, "alice-password");
    alice->iterations = 4096;
    cluster->intercept_context = logins;
    cluster->intercept = login_intercept;
    pthread_mutex_unlock(&cluster->mutex);
    return cluster;
}

/* A copy of the cluster's login counters. */
static struct logins login_counters(struct fake_cluster *cluster)
{
    pthread_mutex_lock(&cluster->mutex);
    struct logins copy = *(struct logins *)cluster->intercept_context;
    pthread_mutex_unlock(&cluster->mutex);
    return copy;
}

static void login_cluster_stop(struct fake_cluster *cluster)
{
    fake_cluster_stop(cluster);
    struct logins *logins = cluster->intercept_context;
    for (uint32_t i = 0; i < logins->count; i++) {
        ether_scram_server_free(logins->items[i].scram);
    }
    free(logins);
    free(cluster);
}

/* A config trusting the test CA that logs in as `user` with `password`. */
static struct ether_config *login_config(const struct fake_certs *certs,
                                         const struct fake_cluster *cluster, const char *user,
                                         const char *password)
{
    char brokers[256];
    fake_cluster_brokers(cluster, cluster->broker_count, brokers, sizeof brokers);
    struct ether_config *config = fake_tls_config(certs, brokers, "ca", NULL);
    char errstr[ERRSTR_BYTES];
    assert_int_equal(ether_config_set(config, "sasl_username", user, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(ether_config_set(config, "sasl_password", password, errstr, sizeof errstr),
                     ETHER_OK);
    return config;
}

static struct ether_client *login_client(const struct fake_certs *certs,
                                         const struct fake_cluster *cluster, const char *user,
                                         const char *password)
{
    struct ether_config *config = login_config(certs, cluster, user, password);
    char errstr[ERRSTR_BYTES];
    struct ether_client *client = ether_client_new(config, errstr, sizeof errstr);
    if (client == NULL) {
        fail_msg("ether_client_new: %s", errstr);
    }
    ether_config_free(config);
    return client;
}

/* ether_describe_cluster's outcome within `timeout_ms`, and how long it took. */
static int describe_within(struct ether_client *client, int timeout_ms, char *errstr,
                           size_t errstr_size, uint64_t *took_ms)
{
    struct ether_cluster *description = NULL;
    uint64_t started_ms = now_ms();
    int rc = ether_describe_cluster(client, NULL, 0, timeout_ms, &description, errstr, errstr_size);
    *took_ms = now_ms() - started_ms;
    assert_true((rc == ETHER_OK) == (description != NULL));
    ether_cluster_free(description);
    return rc;
}

static void test_scram_login_comes_before_every_request_and_lets_them_flow(void **state)
{
    struct fake_certs *certs = *state;
    struct fake_cluster *cluster = login_cluster_start(certs, BROKERS, LOGIN_HONEST);
    fake_add_topic(cluster, "orders", PARTITIONS);
    struct ether_config *config = login_config(certs, cluster, "alice", "alice-password");
    struct deliveries deliveries = {0};
    ether_config_set_delivery_callback(config, on_delivery, &deliveries);
    char errstr[ERRSTR_BYTES];
    struct ether_client *client = ether_client_new(config, errstr, sizeof errstr);
    assert_non_null(client);
    ether_config_free(config);

    uint64_t took_ms = 0;
    if (describe_within(client, 10000, errstr, sizeof errstr, &took_ms) != ETHER_OK) {
        fail_msg("describe: %s", errstr);
    }
    /* Records to every partition: a connection to every broker, each logged in first. */
    for (int i = 0; i < 30; i++) {
        assert_int_equal(ether_produce(client, "orders", i % PARTITIONS, NULL, 0, "v", 1, 0, NULL),
                         ETHER_OK);
    }
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    assert_int_equal(deliveries.count, 30);
    if (deliveries.failed != 0) {
        fail_msg("%d records failed: %s", deliveries.failed, deliveries.last_message);
    }
    struct ether_user *users = NULL;
    size_t count = 0;
    assert_int_equal(ether_user_list(client, 10000, &users, &count, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(count, 1);
    assert_string_equal(users[0].name, "alice");
    ether_users_free(users, count);
    ether_client_destroy(client);

    struct logins logins = login_counters(cluster);
    assert_int_equal(logins.requests_before_login, 0);
    assert_true(logins.requests_after_login >= 1 + BROKERS);
    assert_true(logins.succeeded >= BROKERS);
    assert_int_equal(logins.refused, 0);
    /* Two steps per login (the bootstrap connection logged in too). */
    assert_true(logins.authenticate_requests >= 2 * logins.succeeded);
    login_cluster_stop(cluster);
}

static void test_wrong_password_fails_at_once_with_the_brokers_reason(void **state)
{
    struct fake_certs *certs = *state;
    struct fake_cluster *cluster = login_cluster_start(certs, 1, LOGIN_HONEST);
    char errstr[ERRSTR_BYTES];
    uint64_t took_ms = 0;
    struct ether_client *client = login_client(certs, cluster, "alice", "not-her-password");
    assert_int_equal(describe_within(client, 10000, errstr, sizeof errstr, &took_ms),
                     ETHER_ERR_AUTHENTICATION_FAILED);
    /* Not retried until the timeout: a password does not become right by waiting. */
    assert_true(took_ms < 5000);
    assert_non_null(strstr(errstr, "127.0.0.1"));
    assert_non_null(strstr(errstr, "SCRAM-SHA-256 login as alice failed: wrong user name or "
                                   "password"));
    assert_null(strstr(errstr, "not-her-password"));
    ether_client_destroy(client);

    /* A user the broker does not know gets the same answer. */
    client = login_client(certs, cluster, "mallory", "alice-password");
    assert_int_equal(describe_within(client, 10000, errstr, sizeof errstr, &took_ms),
                     ETHER_ERR_AUTHENTICATION_FAILED);
    assert_non_null(strstr(errstr, "login as mallory failed: wrong user name or password"));
    ether_client_destroy(client);

    struct logins logins = login_counters(cluster);
    assert_int_equal(logins.requests_before_login, 0);
    assert_true(logins.refused >= 2);
    assert_int_equal(logins.succeeded, 0);
    login_cluster_stop(cluster);
}

static void test_group_member_with_a_wrong_password_stops_with_the_reason(void **state)
{
    struct fake_certs *certs = *state;
    struct fake_cluster *cluster = login_cluster_start(certs, 1, LOGIN_HONEST);
    fake_add_topic(cluster, "orders", 1);
    struct ether_config *config = login_config(certs, cluster, "alice", "wrong");
    char errstr[ERRSTR_BYTES];
    assert_int_equal(ether_config_set(config, "group_id", "billing", errstr, sizeof errstr),
                     ETHER_OK);
    struct ether_client *client = ether_client_new(config, errstr, sizeof errstr);
    assert_non_null(client);
    ether_config_free(config);
    const char *topics[] = {"orders"};
    assert_int_equal(ether_subscribe(client, topics, 1, errstr, sizeof errstr), ETHER_OK);
    struct ether_message *message = ether_consume(client, 5000);
    assert_non_null(message);
    assert_int_equal(message->error, ETHER_ERR_AUTHENTICATION_FAILED);
    assert_non_null(strstr(message->error_message, "consumer group billing stopped"));
    assert_non_null(strstr(message->error_message, "wrong user name or password"));
    ether_message_free(message);
    ether_client_destroy(client);
    login_cluster_stop(cluster);
}

static void test_broker_whose_signature_is_wrong_is_refused_before_any_request(void **state)
{
    struct fake_certs *certs = *state;
    struct fake_cluster *cluster = login_cluster_start(certs, 1, LOGIN_FORGED_SIGNATURE);
    struct ether_client *client = login_client(certs, cluster, "alice", "alice-password");
    char errstr[ERRSTR_BYTES];
    uint64_t took_ms = 0;
    assert_int_equal(describe_within(client, 10000, errstr, sizeof errstr, &took_ms),
                     ETHER_ERR_AUTHENTICATION_FAILED);
    assert_true(took_ms < 5000);
    assert_non_null(strstr(errstr, "SCRAM-SHA-256 login as alice failed: the server's signature "
                                   "is wrong"));
    ether_client_destroy(client);
    struct logins logins = login_counters(cluster);
    /* The broker accepted the proof, but the client never trusted it with a request. */
    assert_true(logins.succeeded >= 1);
    assert_int_equal(logins.requests_before_login, 0);
    assert_int_equal(logins.requests_after_login, 0);
    login_cluster_stop(cluster);
}

/* A broker that goes away mid-login (stopping, crashing) said nothing against the client: the
 * login is tried again until the deadline, which then names what happened. */
static void test_broker_closing_the_connection_during_the_login_is_retried(void **state)
{
    struct fake_certs *certs = *state;
    struct fake_cluster *cluster = login_cluster_start(certs, 1, LOGIN_CLOSE);
    struct ether_client *client = login_client(certs, cluster, "alice", "alice-password");
    char errstr[ERRSTR_BYTES];
    uint64_t took_ms = 0;
    assert_int_equal(describe_within(client, 2000, errstr, sizeof errstr, &took_ms),
                     ETHER_ERR_TIMED_OUT);
    assert_true(took_ms >= 1500);
    assert_non_null(strstr(errstr, "closed the connection during the SCRAM-SHA-256 login"));
    assert_true(login_counters(cluster).authenticate_requests >= 2);
    ether_client_destroy(client);
    assert_int_equal(login_counters(cluster).requests_before_login, 0);
    login_cluster_stop(cluster);
}

/* As above, with the close_notify of a broker that stops cleanly: not a refusal either. */
static void test_broker_closing_gracefully_during_the_login_is_retried(void **state)
{
    struct fake_certs *certs = *state;
    struct fake_cluster *cluster = login_cluster_start(certs, 1, LOGIN_CLOSE_GRACEFULLY);
    struct ether_client *client = login_client(certs, cluster, "alice", "alice-password");
    char errstr[ERRSTR_BYTES];
    uint64_t took_ms = 0;
    assert_int_equal(describe_within(client, 2000, errstr, sizeof errstr, &took_ms),
                     ETHER_ERR_TIMED_OUT);
    assert_true(took_ms >= 1500);
    assert_non_null(strstr(errstr, "closed the connection during the SCRAM-SHA-256 login"));
    assert_null(strstr(errstr, "login as alice failed"));
    ether_client_destroy(client);
    struct logins logins = login_counters(cluster);
    assert_true(logins.authenticate_requests >= 2);
    assert_true(logins.count >= 2); /* each attempt on a new connection */
    assert_int_equal(logins.refused, 0);
    assert_int_equal(logins.requests_before_login, 0);
    login_cluster_stop(cluster);
}

/* BUSY said nothing against the client: a new connection logs in, and the request flows. */
static void test_broker_busy_at_a_login_step_is_retried_on_a_new_connection(void **state)
{
    struct fake_certs *certs = *state;
    const enum login_fault faults[] = {LOGIN_BUSY_FIRST_ONCE, LOGIN_BUSY_FINAL_ONCE};
    for (size_t f = 0; f < sizeof faults / sizeof faults[0]; f++) {
        struct fake_cluster *cluster = login_cluster_start(certs, 1, faults[f]);
        struct ether_client *client = login_client(certs, cluster, "alice", "alice-password");
        char errstr[ERRSTR_BYTES];
        uint64_t took_ms = 0;
        if (describe_within(client, 10000, errstr, sizeof errstr, &took_ms) != ETHER_OK) {
            fail_msg("fault %zu: describe: %s", f, errstr);
        }
        assert_true(took_ms < 5000);
        ether_client_destroy(client);
        struct logins logins = login_counters(cluster);
        assert_int_equal(logins.busy_answers, 1);
        assert_int_equal(logins.refused, 0);
        assert_true(logins.succeeded >= 1);
        assert_true(logins.count >= 2); /* the busy connection was dropped, not reused */
        /* The first login took 1 (first) or 2 (final) steps, the next one 2. */
        assert_true(logins.authenticate_requests >= 3 + f);
        assert_int_equal(logins.requests_before_login, 0);
        assert_true(logins.requests_after_login >= 1);
        login_cluster_stop(cluster);
    }
}

static void test_broker_busy_at_every_login_times_out_with_its_reason(void **state)
{
    struct fake_certs *certs = *state;
    struct fake_cluster *cluster = login_cluster_start(certs, 1, LOGIN_BUSY);
    struct ether_client *client = login_client(certs, cluster, "alice", "alice-password");
    char errstr[ERRSTR_BYTES];
    uint64_t took_ms = 0;
    assert_int_equal(describe_within(client, 1500, errstr, sizeof errstr, &took_ms),
                     ETHER_ERR_TIMED_OUT);
    assert_true(took_ms >= 1000);
    assert_non_null(strstr(errstr, "SCRAM-SHA-256 login: the broker is busy; try again"));
    assert_null(strstr(errstr, "failed"));
    ether_client_destroy(client);
    struct logins logins = login_counters(cluster);
    assert_true(logins.busy_answers >= 2);
    assert_int_equal(logins.succeeded, 0);
    assert_int_equal(logins.requests_before_login, 0);
    login_cluster_stop(cluster);
}

static void test_broker_silent_during_the_login_times_out(void **state)
{
    struct fake_certs *certs = *state;
    struct fake_cluster *cluster = login_cluster_start(certs, 1, LOGIN_SILENT);
    struct ether_client *client = login_client(certs, cluster, "alice", "alice-password");
    char errstr[ERRSTR_BYTES];
    uint64_t took_ms = 0;
    assert_int_equal(describe_within(client, 1000, errstr, sizeof errstr, &took_ms),
                     ETHER_ERR_TIMED_OUT);
    assert_true(took_ms < 4000);
    assert_non_null(strstr(errstr, "did not finish the SCRAM-SHA-256 login in time"));
    ether_client_destroy(client);
    assert_int_equal(login_counters(cluster).requests_before_login, 0);
    login_cluster_stop(cluster);
}

static void test_scram_settings_are_checked_when_the_client_is_made(void **state)
{
    struct fake_certs *certs = *state;
    char errstr[ERRSTR_BYTES];
    const char *brokers = "127.0.0.1:1";
    struct {
        const char *ca;
        const char *user;
        const char *password;
        const char *sentence;
    } refused[] = {
        {NULL, "alice", "alice-password", "SCRAM-SHA-256 logins need TLS: set tls_ca_file"},
        {"ca", "alice", "",
         "sasl_username is set without sasl_password: a SCRAM-SHA-256 login needs both"},
        {"ca", "", "alice-password",
         "sasl_password is set without sasl_username: a SCRAM-SHA-256 login needs both"},
        {"ca", "al ice", "alice-password",
         "sasl_username must be 1 to 128 printable ASCII characters without spaces"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        struct ether_config *config = fake_tls_config(certs, brokers, refused[i].ca, NULL);
        if (refused[i].ca == NULL) { /* whatever ETHER_TLS_CA_FILE says */
            assert_int_equal(ether_config_set(config, "tls_ca_file", "", errstr, sizeof errstr),
                             ETHER_OK);
        }
        assert_int_equal(
            ether_config_set(config, "sasl_username", refused[i].user, errstr, sizeof errstr),
            ETHER_OK);
        assert_int_equal(
            ether_config_set(config, "sasl_password", refused[i].password, errstr, sizeof errstr),
            ETHER_OK);
        client_refused(config, errstr, sizeof errstr);
        assert_string_equal(errstr, refused[i].sentence);
        assert_null(strstr(errstr, "alice-password"));
    }
}

/* ---- the wrong protocol on either side --------------------------------------------------- */

static void test_client_in_clear_against_a_tls_port_fails_within_its_timeout(void **state)
{
    struct fake_certs *certs = *state;
    struct fake_cluster *cluster = calloc(1, sizeof *cluster);
    fake_tls_cluster_start(cluster, 1, certs, NULL, true);
    char brokers[64];
    fake_cluster_brokers(cluster, cluster->broker_count, brokers, sizeof brokers);
    struct ether_client *client = fake_tls_client(certs, brokers, NULL, NULL);
    struct ether_cluster *description = NULL;
    char errstr[ERRSTR_BYTES];
    uint64_t started_ms = now_ms();
    /* The broker closes such a connection without a word: only the timeout can end it. */
    assert_int_equal(
        ether_describe_cluster(client, NULL, 0, 1000, &description, errstr, sizeof errstr),
        ETHER_ERR_TIMED_OUT);
    assert_true(now_ms() - started_ms < 4000);
    assert_non_null(strstr(errstr, "closed the connection before answering"));
    assert_non_null(strstr(errstr, "tls_ca_file"));
    ether_client_destroy(client);
    fake_cluster_stop(cluster);
    free(cluster);
}

static void test_tls_client_against_a_port_in_clear_times_out_in_the_handshake(void **state)
{
    struct fake_certs *certs = *state;
    struct fake_cluster *cluster = calloc(1, sizeof *cluster);
    assert_int_equal(fake_cluster_start(cluster, 1, NULL), 0);
    char brokers[64];
    fake_cluster_brokers(cluster, cluster->broker_count, brokers, sizeof brokers);
    struct ether_client *client = fake_tls_client(certs, brokers, "ca", "alice");
    struct ether_cluster *description = NULL;
    char errstr[ERRSTR_BYTES];
    uint64_t started_ms = now_ms();
    assert_int_equal(
        ether_describe_cluster(client, NULL, 0, 1000, &description, errstr, sizeof errstr),
        ETHER_ERR_TIMED_OUT);
    assert_true(now_ms() - started_ms < 4000);
    /* That broker waits for the rest of what it takes for a long frame, so the client
     * hears nothing: only the timeout ends the handshake, and the error says so. */
    assert_non_null(strstr(errstr, "did not finish the TLS handshake in time (does its client "
                                   "port speak TLS?)"));
    ether_client_destroy(client);
    fake_cluster_stop(cluster);
    free(cluster);
}

static void test_client_in_clear_answered_with_a_tls_alert_fails_at_once(void **state)
{
    struct fake_certs *certs = *state;
    struct bare_broker bare;
    bare_broker_start(&bare, certs, true);
    char brokers[64];
    snprintf(brokers, sizeof brokers, "127.0.0.1:%u", bare.port);
    struct ether_client *client = fake_tls_client(certs, brokers, NULL, NULL);
    struct ether_cluster *description = NULL;
    char errstr[ERRSTR_BYTES];
    uint64_t started_ms = now_ms();
    assert_int_equal(
        ether_describe_cluster(client, NULL, 0, 10000, &description, errstr, sizeof errstr),
        ETHER_ERR_TLS_HANDSHAKE);
    assert_true(now_ms() - started_ms < 5000);
    assert_non_null(strstr(errstr, "answered in TLS"));
    assert_non_null(strstr(errstr, "tls_ca_file"));
    ether_client_destroy(client);
    bare_broker_join(&bare);
}

/* ---- closing ----------------------------------------------------------------------------- */

static void test_closing_a_client_sends_close_notify_before_closing_the_socket(void **state)
{
    struct fake_certs *certs = *state;
    struct bare_broker bare;
    bare_broker_start(&bare, certs, false);
    char brokers[64];
    snprintf(brokers, sizeof brokers, "127.0.0.1:%u", bare.port);
    struct ether_client *client = fake_tls_client(certs, brokers, "ca", NULL);
    struct ether_cluster *description = NULL;
    char errstr[ERRSTR_BYTES];
    if (ether_describe_cluster(client, NULL, 0, 10000, &description, errstr, sizeof errstr) !=
        ETHER_OK) {
        fail_msg("describe: %s", errstr);
    }
    assert_string_equal(description->cluster_id, "bare");
    ether_cluster_free(description);
    ether_client_destroy(client); /* the bare broker reads until the socket closes */
    bare_broker_join(&bare);
    assert_string_equal(bare.failure, "");
    assert_true(bare.metadata_answered >= 1);
    assert_true(bare.peer_closed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unusable_tls_files_are_named_when_the_client_is_made),
        cmocka_unit_test(test_records_produced_and_consumed_over_mtls_arrive_intact),
        cmocka_unit_test(test_client_without_a_certificate_is_refused_at_once_with_the_reason),
        cmocka_unit_test(test_group_member_without_a_certificate_stops_with_the_reason),
        cmocka_unit_test(test_broker_certificates_the_client_cannot_trust_are_refused),
        cmocka_unit_test(test_client_in_clear_against_a_tls_port_fails_within_its_timeout),
        cmocka_unit_test(test_tls_client_against_a_port_in_clear_times_out_in_the_handshake),
        cmocka_unit_test(test_client_in_clear_answered_with_a_tls_alert_fails_at_once),
        cmocka_unit_test(test_closing_a_client_sends_close_notify_before_closing_the_socket),
        cmocka_unit_test(test_scram_login_comes_before_every_request_and_lets_them_flow),
        cmocka_unit_test(test_wrong_password_fails_at_once_with_the_brokers_reason),
        cmocka_unit_test(test_group_member_with_a_wrong_password_stops_with_the_reason),
        cmocka_unit_test(test_broker_whose_signature_is_wrong_is_refused_before_any_request),
        cmocka_unit_test(test_broker_closing_the_connection_during_the_login_is_retried),
        cmocka_unit_test(test_broker_closing_gracefully_during_the_login_is_retried),
        cmocka_unit_test(test_broker_busy_at_a_login_step_is_retried_on_a_new_connection),
        cmocka_unit_test(test_broker_busy_at_every_login_times_out_with_its_reason),
        cmocka_unit_test(test_broker_silent_during_the_login_times_out),
        cmocka_unit_test(test_scram_settings_are_checked_when_the_client_is_made),
    };
    return cmocka_run_group_tests(tests, make_certs, remove_certs);
}
