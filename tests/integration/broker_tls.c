/*
 * Integration tests of TLS in etherd: three real brokers on loopback with TLS on their
 * client ports and between each other (mTLS), certificates from scripts/make-test-certs
 * (broker-N for broker N, alice as a client, other-alice from an unrelated CA).
 *
 * The openssl CLI checks what a TLS scanner (testssl.sh) would: SSL 3.0, TLS 1.0 and 1.1
 * refused, and every cipher suite the local openssl knows offered alone, of which only
 * ECDHE with AES-GCM or ChaCha20-Poly1305 (TLS 1.2) and TLS 1.3's GCM and ChaCha20 suites
 * may be accepted; the accepted lists are printed.
 *
 * One cluster for the whole file; the tests run in order. The last one sends the cluster a
 * disrupting Raft frame on purpose (to show that the refusal of forged ones is what kept
 * them harmless) and then waits for the cluster to recover.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/raft_wire.h"
#include "broker/transport.h"
#include "common/buf.h"
#include "common/error.h"
#include "tests/integration/harness/cluster_harness.h"

enum {
    BROKERS = 3,
    PARTITIONS = 3,
    RECORDS = 25,
    WAIT_MS = 30000,
    OUTPUT_BYTES_MAX = 16 * 1024,
    FORGED_TERM = 1000000,
    S_CLIENT_TIMEOUT_S = 5, /* one openssl s_client handshake on loopback */
    SCAN_MS_MAX = 60000,    /* one cipher suite scan (a handshake each; 1.3 s here) */
    SUITES_MAX = 512,       /* cipher suites `openssl ciphers -v` may list */
    TLS13_SUITES_MAX = 8,
    CIPHER_LIST_BYTES_MAX = 128 * 1024,
};

static const char *const TOPIC = "secure-orders";

/* Fails the test after printing the brokers' logs. */
#define CHECK(harness, condition)                                  \
    do {                                                           \
        if (!(condition)) {                                        \
            harness_print_logs(harness);                           \
            fail_msg("%s:%d: %s", __FILE__, __LINE__, #condition); \
        }                                                          \
    } while (0)

static int setup_cluster(void **state)
{
    struct harness *harness = calloc(1, sizeof *harness);
    struct harness_options options = {.tls = true};
    harness_start_with(harness, BROKERS, &options);
    *state = harness;
    if (harness_create_topic(harness, TOPIC, PARTITIONS, BROKERS) != ETHER_OK) {
        harness_print_logs(harness);
        return -1;
    }
    return 0;
}

static int teardown_cluster(void **state)
{
    struct harness *harness = *state;
    int unclean = harness_stop(harness);
    free(harness);
    return unclean == 0 ? 0 : -1; /* every broker must stop cleanly on SIGTERM */
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

/* Waits until broker `broker_id`'s log has at least `count` lines containing `text`. */
static bool wait_for_log(struct harness *harness, int broker_id, const char *text, int count)
{
    uint64_t deadline = harness_now_ms() + WAIT_MS;
    while (harness_now_ms() < deadline) {
        if (harness_log_count(harness, broker_id, text) >= count) {
            return true;
        }
        sleep_ms(50);
    }
    return false;
}

/* A METADATA call over a TLS connection as alice; true when the broker answered. */
static bool metadata_answers(int fd)
{
    Ether__MetadataRequest request = ETHER__METADATA_REQUEST__INIT;
    ProtobufCMessage *response = NULL;
    if (harness_call(fd, PROTO_API_METADATA, &request.base, &response) != ETHER_OK) {
        return false;
    }
    proto_message_free(response);
    return true;
}

static int leader_of(struct harness *harness, uint32_t partition)
{
    Ether__MetadataResponse *metadata = harness_metadata(harness, 1, TOPIC);
    int leader = 0;
    if (metadata != NULL && metadata->n_topics == 1 &&
        partition < metadata->topics[0]->n_partitions) {
        leader = (int)metadata->topics[0]->partitions[partition]->leader_id;
    }
    if (metadata != NULL) {
        proto_message_free(&metadata->base);
    }
    return leader;
}

/* Produces records first..first+count-1 to the partition's leader with acks=all. */
static int produce(struct harness *harness, uint32_t partition, uint64_t first, uint32_t count)
{
    uint64_t deadline = harness_now_ms() + WAIT_MS;
    int rc = ETHER_ERR_TIMED_OUT;
    while (harness_now_ms() < deadline) {
        int leader = leader_of(harness, partition);
        int fd = leader != 0 ? harness_client_connect(harness, harness_port(harness, leader)) : -1;
        if (fd < 0) {
            sleep_ms(50);
            continue;
        }
        struct ether_buf batch = ETHER_BUF_INIT;
        harness_build_batch(&batch, first, count);
        rc = harness_produce_batch(fd, TOPIC, partition, &batch, ETHER__ACKS__ACKS_ALL, NULL, NULL);
        harness_close(fd);
        ether_buf_free(&batch);
        if (rc == ETHER_OK) {
            return rc;
        }
        sleep_ms(50);
    }
    return rc;
}

/* Fetches the partition from `broker_id` over TLS until `expected` records "value-<n>" have
 * come back in order; returns how many did. */
static uint64_t fetch_all(struct harness *harness, int broker_id, uint32_t partition,
                          uint64_t expected)
{
    int fd = harness_client_connect(harness, harness_port(harness, broker_id));
    if (fd < 0) {
        return 0;
    }
    uint64_t offset = 0;
    uint64_t deadline = harness_now_ms() + WAIT_MS;
    while (offset < expected && harness_now_ms() < deadline) {
        Ether__FetchResponse *fetched = NULL;
        if (harness_fetch_partition(fd, TOPIC, partition, offset, 200, &fetched) != ETHER_OK) {
            break;
        }
        Ether__FetchPartitionResult *result =
            fetched->n_partitions == 1 ? fetched->partitions[0] : NULL;
        for (size_t b = 0; result != NULL && result->error == ETHER_OK && b < result->n_batches;
             b++) {
            struct proto_batch_header header;
            const ProtobufCBinaryData *bytes = &result->batches[b]->batch;
            if (proto_batch_parse(bytes->data, bytes->len, &header) != ETHER_OK ||
                result->batches[b]->base_offset != offset) {
                break;
            }
            struct proto_record_reader reader;
            proto_record_reader_init(&reader, proto_batch_records(bytes->data),
                                     header.records_bytes_uncompressed, header.first_timestamp_ms,
                                     header.record_count);
            struct proto_record record;
            while (proto_record_reader_next(&reader, &record) == ETHER_OK) {
                char value[64];
                int value_bytes =
                    snprintf(value, sizeof value, "value-%llu", (unsigned long long)offset);
                if (record.value_bytes != (size_t)value_bytes ||
                    memcmp(record.value, value, record.value_bytes) != 0) {
                    break;
                }
                offset++;
            }
        }
        proto_message_free(&fetched->base);
        if (offset < expected) {
            sleep_ms(50);
        }
    }
    harness_close(fd);
    return offset;
}

/*
 * A RAFT_MESSAGES frame that claims to come from `from_broker_id` (incarnation 1) and tells
 * broker 1's controller replica that a leader of term FORGED_TERM exists: a replica that took
 * it would become a follower in that term (and say so in its log).
 */
static void build_forged_heartbeat(struct ether_buf *frame, uint32_t from_broker_id)
{
    struct raft_message message = {
        .type = RAFT_MSG_HEARTBEAT_REQ,
        .group_id = 0, /* the controller */
        .from = broker_node_id(from_broker_id, 1),
        .to = broker_node_id(1, 1),
        .term = FORGED_TERM,
    };
    struct broker_raft_wire_scratch scratch;
    broker_raft_wire_scratch_init(&scratch);
    struct ether_buf messages = ETHER_BUF_INIT;
    broker_raft_wire_append(&messages, &scratch, &message);
    assert_int_equal(broker_raft_wire_frame(frame, from_broker_id, 1, &messages, 1 << 20),
                     ETHER_OK);
    ether_buf_free(&messages);
    broker_raft_wire_scratch_free(&scratch);
}

/*
 * Which broker a forged frame to broker 1 should claim to come from so that broker 1 would
 * log it if it took it: replicas log changes of role or leader, not of term alone, so never
 * the broker that broker 1 already follows as the controller's leader.
 */
static uint32_t forged_sender(struct harness *harness)
{
    Ether__MetadataResponse *metadata = harness_metadata(harness, 1, NULL);
    CHECK(harness, metadata != NULL);
    uint32_t controller = metadata->controller_id;
    proto_message_free(&metadata->base);
    return controller == 2 ? 3 : 2;
}

/* Whether the broker closed the connection (EOF or reset) rather than leaving it open. */
static bool closed_by_broker(int fd)
{
    struct proto_frame_header header;
    ProtobufCMessage *body = NULL;
    if (harness_receive(fd, &header, &body) == 0) {
        proto_message_free(body);
        return false;
    }
    return true;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_three_brokers_form_a_cluster_over_mutual_tls(void **state)
{
    struct harness *harness = *state;
    /* Controller elected and every partition led: Raft between brokers works over mTLS. */
    for (int id = 1; id <= BROKERS; id++) {
        CHECK(harness, harness_wait_for_leaders(harness, id, TOPIC, PARTITIONS, WAIT_MS));
        Ether__MetadataResponse *metadata = harness_metadata(harness, id, TOPIC);
        CHECK(harness, metadata != NULL);
        CHECK(harness, metadata->controller_id != 0);
        CHECK(harness, metadata->n_brokers == BROKERS);
        CHECK(harness, metadata->topics[0]->n_partitions == PARTITIONS);
        for (size_t p = 0; p < PARTITIONS; p++) {
            CHECK(harness, metadata->topics[0]->partitions[p]->n_replicas == BROKERS);
        }
        proto_message_free(&metadata->base);
    }
    /* Each broker reached the two others with TLS (the transport logs the protocol). */
    for (int id = 1; id <= BROKERS; id++) {
        CHECK(harness, harness_log_count(harness, id, "connected to broker") >= BROKERS - 1);
        CHECK(harness, harness_log_count(harness, id, "connected to broker") ==
                           harness_log_count(harness, id, " with TLSv1."));
    }
}

static void test_produce_and_fetch_round_trip_over_tls(void **state)
{
    struct harness *harness = *state;
    CHECK(harness, produce(harness, 0, 0, RECORDS) == ETHER_OK);
    /* Every replica serves the records it got from the leader over mTLS. */
    for (int id = 1; id <= BROKERS; id++) {
        CHECK(harness, fetch_all(harness, id, 0, RECORDS) == RECORDS);
    }
    int fd = harness_client_connect(harness, harness_port(harness, 1));
    CHECK(harness, fd >= 0);
    CHECK(harness, strcmp(harness_tls_peer_common_name(fd), "broker-1") == 0);
    harness_close(fd);
}

static void test_plaintext_client_is_disconnected_and_the_broker_keeps_serving(void **state)
{
    struct harness *harness = *state;
    int fd = harness_connect(harness_port(harness, 1));
    CHECK(harness, fd >= 0);
    struct sockaddr_in local;
    socklen_t local_length = sizeof local;
    CHECK(harness, getsockname(fd, (struct sockaddr *)&local, &local_length) == 0);
    char peer[64];
    snprintf(peer, sizeof peer, "from 127.0.0.1:%u:", ntohs(local.sin_port));

    /* A protocol frame in clear, as a client without TLS would send it. */
    Ether__MetadataRequest request = ETHER__METADATA_REQUEST__INIT;
    struct proto_frame_header header = {
        .api_key = PROTO_API_METADATA,
        .api_version = proto_api_version_max(PROTO_API_METADATA),
        .correlation_id = 1,
    };
    struct ether_buf frame = ETHER_BUF_INIT;
    assert_int_equal(proto_frame_encode(&frame, &header, &request.base, 1 << 20), ETHER_OK);
    harness_send_raw(fd, frame.data, frame.length);
    ether_buf_free(&frame);

    /* The broker closes it (at most a TLS alert comes first), well before the read timeout. */
    uint64_t started_ms = harness_now_ms();
    uint8_t bytes[256];
    ssize_t received;
    size_t received_total = 0;
    while ((received = recv(fd, bytes, sizeof bytes, 0)) > 0) {
        received_total += (size_t)received;
    }
    bool reset = received < 0 && errno == ECONNRESET;
    close(fd);
    CHECK(harness, received == 0 || reset);
    CHECK(harness, received_total < 64); /* an alert, never a response frame */
    CHECK(harness, harness_now_ms() - started_ms < 5000);
    /* One WARN line for it, naming the peer. */
    CHECK(harness, wait_for_log(harness, 1, peer, 1));
    CHECK(harness, harness_log_count(harness, 1, peer) == 1);
    CHECK(harness, harness_log_count(harness, 1, "TLS handshake failed") >= 1);

    int tls_fd = harness_client_connect(harness, harness_port(harness, 1));
    CHECK(harness, tls_fd >= 0);
    CHECK(harness, metadata_answers(tls_fd));
    harness_close(tls_fd);
}

static void test_clients_without_a_certificate_of_the_cluster_ca_are_refused(void **state)
{
    struct harness *harness = *state;
    const char *const identities[] = {"other-alice", NULL};
    for (size_t i = 0; i < sizeof identities / sizeof identities[0]; i++) {
        int refusals = harness_log_count(harness, 2, "TLS handshake failed");
        int fd = harness_connect_tls(harness, harness_port(harness, 2), identities[i]);
        if (fd >= 0) {
            /* TLS 1.3: the client's side of the handshake ended before the broker checked
             * the certificate; the broker's refusal arrives instead of an answer. */
            CHECK(harness, !metadata_answers(fd));
            harness_close(fd);
        }
        CHECK(harness, wait_for_log(harness, 2, "TLS handshake failed", refusals + 1));
    }
    int fd = harness_client_connect(harness, harness_port(harness, 2));
    CHECK(harness, fd >= 0);
    CHECK(harness, metadata_answers(fd));
    harness_close(fd);
}

static void test_raft_frames_from_a_certificate_that_is_not_the_senders_are_refused(void **state)
{
    struct harness *harness = *state;
    /* alice's certificate is from the right CA but names no broker; the other one names
     * another broker than the frame's sender. */
    uint32_t sender = forged_sender(harness);
    char other_broker[16];
    snprintf(other_broker, sizeof other_broker, "broker-%u", 5 - sender); /* 2 <-> 3 */
    const char *const identities[] = {"alice", other_broker};
    for (size_t i = 0; i < sizeof identities / sizeof identities[0]; i++) {
        int refusals = harness_log_count(harness, 1, "refusing Raft messages");
        int fd = harness_connect_tls(harness, harness_port(harness, 1), identities[i]);
        CHECK(harness, fd >= 0);
        struct ether_buf frame = ETHER_BUF_INIT;
        build_forged_heartbeat(&frame, sender);
        harness_send_raw(fd, frame.data, frame.length);
        ether_buf_free(&frame);
        CHECK(harness, closed_by_broker(fd));
        harness_close(fd);
        CHECK(harness, wait_for_log(harness, 1, "refusing Raft messages", refusals + 1));
    }
    /* No replica moved to the forged term, and the cluster still has its controller. */
    char forged_term[32];
    snprintf(forged_term, sizeof forged_term, "in term %d", FORGED_TERM);
    sleep_ms(500);
    CHECK(harness, harness_log_count_all(harness, forged_term) == 0);
    Ether__MetadataResponse *metadata = harness_metadata(harness, 1, NULL);
    CHECK(harness, metadata != NULL);
    CHECK(harness, metadata->controller_id != 0);
    proto_message_free(&metadata->base);
}

/* Runs `openssl s_client` against broker 3 as alice with `options` (protocol, ciphers);
 * returns its exit status and what it printed. Bounded by `timeout`, stdin empty, so it
 * ends right after the handshake. */
static int run_s_client(struct harness *harness, const char *options, char *output,
                        size_t output_size)
{
    char command[2048];
    int length = snprintf(
        command, sizeof command,
        "timeout %d openssl s_client -brief -connect 127.0.0.1:%u %s -verify_return_error "
        "-verify_ip 127.0.0.1 -CAfile '%s/ca.crt' -cert '%s/alice.crt' -key '%s/alice.key' "
        "</dev/null 2>&1",
        S_CLIENT_TIMEOUT_S, harness_port(harness, 3), options, harness->certs_dir,
        harness->certs_dir, harness->certs_dir);
    CHECK(harness, length > 0 && (size_t)length < sizeof command);
    return harness_run_command(command, output, output_size);
}

/* Whether `output` of s_client -brief has the line "`label`: `value`". */
static bool has_brief_line(const char *output, const char *label, const char *value)
{
    char line[256];
    snprintf(line, sizeof line, "%s: %s\n", label, value);
    return strstr(output, line) != NULL;
}

static void
test_openssl_cli_is_refused_tls_1_0_and_1_1_and_accepted_with_tls_1_2_and_1_3(void **state)
{
    struct harness *harness = *state;
    static const struct {
        const char *options;
        bool accepted;
        const char *protocol;
    } cases[] = {
        /* @SECLEVEL=0 lets the local OpenSSL offer TLS 1.0 and 1.1 at all, so that the refusal
         * is the broker's (its log says so) and not the client's. */
        {"-tls1 -cipher 'DEFAULT:@SECLEVEL=0'", false, NULL},
        {"-tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'", false, NULL},
        {"-tls1_2", true, "TLSv1.2"},
        {"-tls1_3", true, "TLSv1.3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int refusals = harness_log_count(harness, 3, "TLS handshake failed");
        char output[OUTPUT_BYTES_MAX];
        int status = run_s_client(harness, cases[i].options, output, sizeof output);
        if ((status == 0) != cases[i].accepted ||
            (cases[i].protocol != NULL &&
             !has_brief_line(output, "Protocol version", cases[i].protocol))) {
            fprintf(stderr, "s_client %s: exit status %d:\n%s\n", cases[i].options, status, output);
        }
        CHECK(harness, (status == 0) == cases[i].accepted);
        if (cases[i].accepted) {
            CHECK(harness, has_brief_line(output, "Protocol version", cases[i].protocol));
        } else {
            CHECK(harness, wait_for_log(harness, 3, "TLS handshake failed", refusals + 1));
        }
    }
}

/* SSL 3.0: only where the local openssl still has the flag (OpenSSL 3 builds usually not). */
static void test_openssl_cli_is_refused_ssl_3(void **state)
{
    struct harness *harness = *state;
    char output[OUTPUT_BYTES_MAX];
    harness_run_command("openssl s_client -help 2>&1", output, sizeof output);
    if (strstr(output, " -ssl3 ") == NULL) {
        printf("s_client has no -ssl3 flag here: SSL 3.0 not tried\n");
        skip();
    }
    int refusals = harness_log_count(harness, 3, "TLS handshake failed");
    int status =
        run_s_client(harness, "-ssl3 -cipher 'DEFAULT:@SECLEVEL=0'", output, sizeof output);
    if (status == 0) {
        fprintf(stderr, "s_client -ssl3 was accepted:\n%s\n", output);
    }
    CHECK(harness, status != 0);
    CHECK(harness, wait_for_log(harness, 3, "TLS handshake failed", refusals + 1));
}

/* ---- the cipher suite scan ---------------------------------------------------------------- */

/* One cipher suite as `openssl ciphers -v` describes it. */
struct cipher_suite {
    char name[64];
    char version[16];        /* the oldest protocol that has it: SSLv3, TLSv1, TLSv1.2, TLSv1.3 */
    char key_exchange[16];   /* Kx=: ECDH (ephemeral), DH, RSA (static), PSK, any (TLS 1.3) */
    char authentication[16]; /* Au=: ECDSA, RSA, None (anonymous), ... */
    char encryption[32];     /* Enc=: AESGCM(256), CHACHA20/POLY1305(256), AES(128) (CBC), ... */
    char mac[16];            /* Mac=: AEAD, or the HMAC of a CBC or NULL suite */
};

/* How a broker answered a handshake offering one suite only. */
enum suite_outcome { SUITE_ACCEPTED, SUITE_REFUSED, SUITE_NOT_OFFERED };

/* The suites `openssl ciphers -v ARGUMENTS` lists, in `suites`; returns how many. */
static size_t list_cipher_suites(struct harness *harness, const char *arguments,
                                 struct cipher_suite *suites, size_t suites_max)
{
    char *output = malloc(CIPHER_LIST_BYTES_MAX);
    assert_non_null(output);
    char command[512];
    snprintf(command, sizeof command, "openssl ciphers -v %s 2>&1", arguments);
    CHECK(harness, harness_run_command(command, output, CIPHER_LIST_BYTES_MAX) == 0);
    CHECK(harness, strlen(output) + 1 < CIPHER_LIST_BYTES_MAX); /* the whole list */
    size_t count = 0;
    char *save = NULL;
    for (char *line = strtok_r(output, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        CHECK(harness, count < suites_max);
        struct cipher_suite *suite = &suites[count];
        int fields =
            sscanf(line, "%63s %15s Kx=%15s Au=%15s Enc=%31s Mac=%15s", suite->name, suite->version,
                   suite->key_exchange, suite->authentication, suite->encryption, suite->mac);
        if (fields != 6) {
            fprintf(stderr, "openssl ciphers -v: unexpected line '%s'\n", line);
        }
        CHECK(harness, fields == 6);
        count++;
    }
    free(output);
    return count;
}

/* Offers broker 3 the one suite `suite` of `protocol` (TLSv1.2 or TLSv1.3). */
static enum suite_outcome try_suite(struct harness *harness, const char *protocol,
                                    const struct cipher_suite *suite)
{
    char options[256];
    if (strcmp(protocol, "TLSv1.3") == 0) {
        snprintf(options, sizeof options, "-tls1_3 -ciphersuites '%s'", suite->name);
    } else {
        /* @SECLEVEL=0: the local OpenSSL offers even the weakest suites it has. */
        snprintf(options, sizeof options, "-tls1_2 -cipher '%s:@SECLEVEL=0'", suite->name);
    }
    char output[OUTPUT_BYTES_MAX];
    int status = run_s_client(harness, options, output, sizeof output);
    if (status == 0 && has_brief_line(output, "Protocol version", protocol) &&
        has_brief_line(output, "Ciphersuite", suite->name)) {
        return SUITE_ACCEPTED;
    }
    CHECK(harness, status != 124); /* timeout's: the broker neither finished nor refused */
    /* PSK and SRP suites need a key or password the client does not have. */
    return strstr(output, "no ciphers available") != NULL ? SUITE_NOT_OFFERED : SUITE_REFUSED;
}

/* Authenticated encryption that is still recommended: AES-GCM or ChaCha20-Poly1305. */
static bool is_recommended_aead(const struct cipher_suite *suite)
{
    return strcmp(suite->mac, "AEAD") == 0 &&
           (strncmp(suite->encryption, "AESGCM(", strlen("AESGCM(")) == 0 ||
            strcmp(suite->encryption, "CHACHA20/POLY1305(256)") == 0);
}

/*
 * Offers each suite in `suites` alone and prints the outcome. Moves the accepted suites to
 * the front of `suites` and returns how many there are.
 */
static size_t scan_suites(struct harness *harness, const char *protocol,
                          struct cipher_suite *suites, size_t count)
{
    uint64_t started_ms = harness_now_ms();
    size_t outcomes[3] = {0};
    size_t accepted = 0;
    char accepted_names[2048] = "";
    for (size_t i = 0; i < count; i++) {
        CHECK(harness, harness_now_ms() - started_ms < SCAN_MS_MAX);
        enum suite_outcome outcome = try_suite(harness, protocol, &suites[i]);
        outcomes[outcome]++;
        if (outcome == SUITE_ACCEPTED) {
            size_t used = strlen(accepted_names);
            snprintf(accepted_names + used, sizeof accepted_names - used, " %s", suites[i].name);
            struct cipher_suite moved = suites[accepted];
            suites[accepted] = suites[i];
            suites[i] = moved;
            accepted++;
        }
    }
    printf("%s: %zu suites of the local openssl tried in %llu ms: %zu refused, %zu not offered "
           "(no PSK or SRP key), %zu accepted:%s\n",
           protocol, count, (unsigned long long)(harness_now_ms() - started_ms),
           outcomes[SUITE_REFUSED], outcomes[SUITE_NOT_OFFERED], outcomes[SUITE_ACCEPTED],
           accepted_names);
    CHECK(harness, accepted == outcomes[SUITE_ACCEPTED]);
    return accepted;
}

/* Like testssl.sh's cipher test: every TLS 1.2 suite the local openssl knows, one at a time. */
static void test_tls_1_2_accepts_only_ecdhe_suites_with_aes_gcm_or_chacha20_poly1305(void **state)
{
    struct harness *harness = *state;
    struct cipher_suite *suites = calloc(SUITES_MAX, sizeof *suites);
    assert_non_null(suites);
    size_t listed =
        list_cipher_suites(harness, "'ALL:COMPLEMENTOFALL:@SECLEVEL=0'", suites, SUITES_MAX);
    /* TLS 1.2 can use every suite but TLS 1.3's own. */
    size_t count = 0;
    size_t weak = 0; /* NULL, anonymous, static RSA, CBC, RC4, (3)DES: what must be refused */
    for (size_t i = 0; i < listed; i++) {
        if (strcmp(suites[i].version, "TLSv1.3") != 0) {
            weak += strcmp(suites[i].key_exchange, "ECDH") != 0 ||
                    strcmp(suites[i].authentication, "None") == 0 ||
                    !is_recommended_aead(&suites[i]);
            suites[count++] = suites[i];
        }
    }
    printf("TLS 1.2: %zu suites listed by the local openssl, %zu of them weak\n", count, weak);
    CHECK(harness, weak > 0); /* the scan offers weak suites, so their refusal is tested */

    size_t accepted = scan_suites(harness, "TLSv1.2", suites, count);
    CHECK(harness, accepted > 0);
    for (size_t i = 0; i < accepted; i++) {
        const struct cipher_suite *suite = &suites[i];
        if (strcmp(suite->key_exchange, "ECDH") != 0 || !is_recommended_aead(suite)) {
            fprintf(stderr, "accepted: %s Kx=%s Au=%s Enc=%s Mac=%s\n", suite->name,
                    suite->key_exchange, suite->authentication, suite->encryption, suite->mac);
        }
        CHECK(harness, strncmp(suite->name, "ECDHE-", strlen("ECDHE-")) == 0);
        CHECK(harness, strcmp(suite->key_exchange, "ECDH") == 0); /* ephemeral: ECDHE */
        CHECK(harness, strcmp(suite->authentication, "None") != 0);
        CHECK(harness, is_recommended_aead(suite));
    }
    free(suites);
}

static void test_tls_1_3_accepts_only_aes_gcm_and_chacha20_poly1305(void **state)
{
    struct harness *harness = *state;
    struct cipher_suite suites[TLS13_SUITES_MAX];
    /* RFC 8446's five suites; the local openssl lists those it has. */
    size_t count = list_cipher_suites(
        harness,
        "-s -tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
        "TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256",
        suites, TLS13_SUITES_MAX);
    CHECK(harness, count > 0);
    size_t accepted = scan_suites(harness, "TLSv1.3", suites, count);
    CHECK(harness, accepted > 0);
    for (size_t i = 0; i < accepted; i++) {
        CHECK(harness, strcmp(suites[i].version, "TLSv1.3") == 0);
        CHECK(harness, is_recommended_aead(&suites[i]));
    }
}

/* Runs etherd with `arguments` after the harness's paths; expects `status` and `expected` in
 * what it prints. */
static void expect_etherd_refuses(struct harness *harness, const char *arguments, int status,
                                  const char *expected)
{
    char command[4096];
    int length = snprintf(
        command, sizeof command, "'%s' --data-dir '%s/bad-config' --client-port %u %s 2>&1",
        harness->etherd_path, harness->data_root, harness_port(harness, 1) + 50, arguments);
    CHECK(harness, length > 0 && (size_t)length < sizeof command);
    char output[OUTPUT_BYTES_MAX];
    int exit_status = harness_run_command(command, output, sizeof output);
    if (exit_status != status || strstr(output, expected) == NULL) {
        fprintf(stderr, "%s\nexit status %d, expected %d and '%s':\n%s\n", command, exit_status,
                status, expected, output);
    }
    CHECK(harness, exit_status == status);
    CHECK(harness, strstr(output, expected) != NULL);
}

static void test_bad_tls_options_stop_etherd_with_a_sentence_naming_the_file(void **state)
{
    struct harness *harness = *state;
    char ca[400];
    char arguments[2048];
    char expected[512];
    snprintf(ca, sizeof ca, "--tls-ca-file '%s/ca.crt'", harness->certs_dir);
    expect_etherd_refuses(harness, ca, 2, "tls-certificate-file is empty");

    snprintf(arguments, sizeof arguments,
             "%s --tls-certificate-file '%s/missing.crt' --tls-private-key-file '%s/broker-1.key'",
             ca, harness->certs_dir, harness->certs_dir);
    snprintf(expected, sizeof expected, "tls-certificate-file '%s/missing.crt' cannot be read",
             harness->certs_dir);
    expect_etherd_refuses(harness, arguments, 2, expected);

    /* Whether the files hold a usable certificate and key is found when the broker starts. */
    snprintf(arguments, sizeof arguments,
             "%s --tls-certificate-file '%s/broker-1.crt' --tls-private-key-file '%s/broker-2.key'",
             ca, harness->certs_dir, harness->certs_dir);
    snprintf(expected, sizeof expected, "'%s/broker-2.key'", harness->certs_dir);
    expect_etherd_refuses(harness, arguments, 1, expected);

    snprintf(arguments, sizeof arguments,
             "%s --tls-certificate-file '%s/broker-1.crt' --tls-private-key-file '%s/broker-1.key' "
             "--tls-client-auth none",
             ca, harness->certs_dir, harness->certs_dir);
    expect_etherd_refuses(harness, arguments, 2, "tls-client-auth is none");
}

static void copy_file(struct harness *harness, const char *from, const char *to)
{
    char command[1024];
    snprintf(command, sizeof command, "cp '%s/%s' '%s/%s'", harness->certs_dir, from,
             harness->certs_dir, to);
    CHECK(harness, system(command) == 0);
}

static void write_file(struct harness *harness, const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", harness->certs_dir, name);
    FILE *file = fopen(path, "w");
    CHECK(harness, file != NULL);
    fputs(content, file);
    fclose(file);
}

/* The common name of the certificate broker 1 shows a new connection; "" when none. */
static void broker_1_certificate(struct harness *harness, char *name, size_t name_size)
{
    int fd = harness_client_connect(harness, harness_port(harness, 1));
    CHECK(harness, fd >= 0);
    const char *common_name = harness_tls_peer_common_name(fd);
    snprintf(name, name_size, "%s", common_name != NULL ? common_name : "");
    CHECK(harness, metadata_answers(fd));
    harness_close(fd);
}

static void test_sighup_reloads_certificates_for_new_connections_only(void **state)
{
    struct harness *harness = *state;
    char name[64];
    int old_fd = harness_client_connect(harness, harness_port(harness, 1));
    CHECK(harness, old_fd >= 0);
    copy_file(harness, "broker-1.crt", "broker-1.crt.orig");
    copy_file(harness, "broker-1.key", "broker-1.key.orig");

    /* Renewed files (broker-3's stand in: they differ and carry 127.0.0.1 too). */
    copy_file(harness, "broker-3.crt", "broker-1.crt");
    copy_file(harness, "broker-3.key", "broker-1.key");
    CHECK(harness, kill(harness->pids[1], SIGHUP) == 0);
    CHECK(harness, wait_for_log(harness, 1, "TLS files reloaded", 1));
    broker_1_certificate(harness, name, sizeof name);
    CHECK(harness, strcmp(name, "broker-3") == 0);
    /* The connection from before keeps its session and is still served. */
    CHECK(harness, strcmp(harness_tls_peer_common_name(old_fd), "broker-1") == 0);
    CHECK(harness, metadata_answers(old_fd));

    /* A reload that fails keeps the current certificates and says which file is wrong. */
    write_file(harness, "broker-1.key", "not a key\n");
    CHECK(harness, kill(harness->pids[1], SIGHUP) == 0);
    CHECK(harness, wait_for_log(harness, 1, "cannot reload the TLS files", 1));
    CHECK(harness, harness_log_count(harness, 1, "broker-1.key") >= 1);
    broker_1_certificate(harness, name, sizeof name);
    CHECK(harness, strcmp(name, "broker-3") == 0);

    /* Back to its own certificate. */
    copy_file(harness, "broker-1.crt.orig", "broker-1.crt");
    copy_file(harness, "broker-1.key.orig", "broker-1.key");
    CHECK(harness, kill(harness->pids[1], SIGHUP) == 0);
    CHECK(harness, wait_for_log(harness, 1, "TLS files reloaded", 2));
    broker_1_certificate(harness, name, sizeof name);
    CHECK(harness, strcmp(name, "broker-1") == 0);
    CHECK(harness, metadata_answers(old_fd));
    harness_close(old_fd);
    CHECK(harness, harness->pids[1] != 0 && kill(harness->pids[1], 0) == 0);
    CHECK(harness, harness_wait_for_leaders(harness, 1, TOPIC, PARTITIONS, WAIT_MS));
}

/*
 * The control for the refusals above: the same frame on a connection with the sender's own
 * certificate does reach Raft (broker 1's controller follows the forged term), so it was the
 * certificate check that kept it out. The cluster then elects a controller again.
 */
static void test_the_same_raft_frame_with_the_senders_certificate_reaches_raft(void **state)
{
    struct harness *harness = *state;
    char forged_term[32];
    snprintf(forged_term, sizeof forged_term, "in term %d", FORGED_TERM);
    CHECK(harness, harness_log_count_all(harness, forged_term) == 0);
    int refusals = harness_log_count(harness, 1, "refusing Raft messages");
    uint32_t sender = forged_sender(harness);
    char identity[16];
    snprintf(identity, sizeof identity, "broker-%u", sender);
    int fd = harness_connect_tls(harness, harness_port(harness, 1), identity);
    CHECK(harness, fd >= 0);
    struct ether_buf frame = ETHER_BUF_INIT;
    build_forged_heartbeat(&frame, sender);
    harness_send_raw(fd, frame.data, frame.length);
    ether_buf_free(&frame);
    CHECK(harness, wait_for_log(harness, 1, forged_term, 1));
    CHECK(harness, harness_log_count(harness, 1, "refusing Raft messages") == refusals);
    harness_close(fd);

    uint64_t deadline = harness_now_ms() + WAIT_MS;
    bool recovered = false;
    while (!recovered && harness_now_ms() < deadline) {
        Ether__MetadataResponse *metadata = harness_metadata(harness, 1, NULL);
        recovered = metadata != NULL && metadata->controller_id != 0;
        if (metadata != NULL) {
            proto_message_free(&metadata->base);
        }
        sleep_ms(100);
    }
    CHECK(harness, recovered);
    CHECK(harness, produce(harness, 1, 0, RECORDS) == ETHER_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_brokers_form_a_cluster_over_mutual_tls),
        cmocka_unit_test(test_produce_and_fetch_round_trip_over_tls),
        cmocka_unit_test(test_plaintext_client_is_disconnected_and_the_broker_keeps_serving),
        cmocka_unit_test(test_clients_without_a_certificate_of_the_cluster_ca_are_refused),
        cmocka_unit_test(test_raft_frames_from_a_certificate_that_is_not_the_senders_are_refused),
        cmocka_unit_test(
            test_openssl_cli_is_refused_tls_1_0_and_1_1_and_accepted_with_tls_1_2_and_1_3),
        cmocka_unit_test(test_openssl_cli_is_refused_ssl_3),
        cmocka_unit_test(test_tls_1_2_accepts_only_ecdhe_suites_with_aes_gcm_or_chacha20_poly1305),
        cmocka_unit_test(test_tls_1_3_accepts_only_aes_gcm_and_chacha20_poly1305),
        cmocka_unit_test(test_bad_tls_options_stop_etherd_with_a_sentence_naming_the_file),
        cmocka_unit_test(test_sighup_reloads_certificates_for_new_connections_only),
        cmocka_unit_test(test_the_same_raft_frame_with_the_senders_certificate_reaches_raft),
    };
    return cmocka_run_group_tests(tests, setup_cluster, teardown_cluster);
}
