/*
 * Unit tests for common/tls: client and server sessions in one process, their bytes
 * pumped between them in memory (in chunks as small as one byte), with certificates made
 * by scripts/make-test-certs in a temporary directory for the whole run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/error.h"
#include "common/mem.h"
#include "common/tls.h"
#include "tests/unit/test_repository_root.h"

enum { PATH_BYTES_MAX = 512, PATHS_COUNT_MAX = 32, ERRSTR_BYTES = 512, MEBIBYTE = 1024 * 1024 };

struct certs {
    char dir[PATH_BYTES_MAX];
    char *paths[PATHS_COUNT_MAX]; /* of cert_path, freed at the end */
    size_t paths_count;
};

/* ---- certificates --------------------------------------------------------------------- */

static int make_certs(void **state)
{
    struct certs *certs = ether_calloc(1, sizeof *certs);
    snprintf(certs->dir, sizeof certs->dir, "%s/ether-tls-test-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(certs->dir) == NULL) {
        perror("mkdtemp");
        ether_free(certs);
        return -1;
    }
    char root[PATH_BYTES_MAX];
    test_repository_root(root, sizeof root);
    char command[3 * PATH_BYTES_MAX];
    snprintf(command, sizeof command, "'%s/scripts/make-test-certs' '%s' 2", root, certs->dir);
    if (system(command) != 0) {
        fprintf(stderr, "test_common_tls: '%s' failed\n", command);
        ether_free(certs);
        return -1;
    }
    *state = certs;
    return 0;
}

static int remove_certs(void **state)
{
    struct certs *certs = *state;
    char command[PATH_BYTES_MAX + 16];
    snprintf(command, sizeof command, "rm -rf '%s'", certs->dir);
    int status = system(command);
    for (size_t i = 0; i < certs->paths_count; i++) {
        ether_free(certs->paths[i]);
    }
    ether_free(certs);
    return status == 0 ? 0 : -1;
}

/* "<dir>/<name>", stable for the whole run (kept in `certs`). */
static const char *cert_path(struct certs *certs, const char *name)
{
    char path[PATH_BYTES_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", certs->dir, name);
    for (size_t i = 0; i < certs->paths_count; i++) {
        if (strcmp(certs->paths[i], path) == 0) {
            return certs->paths[i];
        }
    }
    assert_true(certs->paths_count < PATHS_COUNT_MAX);
    certs->paths[certs->paths_count] = ether_strdup(path);
    return certs->paths[certs->paths_count++];
}

static void copy_file(const char *from, const char *to)
{
    char command[3 * PATH_BYTES_MAX];
    snprintf(command, sizeof command, "cp '%s' '%s'", from, to);
    assert_int_equal(system(command), 0);
}

/* ---- configs and sessions ------------------------------------------------------------- */

static struct ether_tls_config *server_config(struct certs *certs, const char *name,
                                              bool require_client_certificate)
{
    char cert[PATH_BYTES_MAX + 64];
    char key[PATH_BYTES_MAX + 64];
    snprintf(cert, sizeof cert, "%s/%s.crt", certs->dir, name);
    snprintf(key, sizeof key, "%s/%s.key", certs->dir, name);
    struct ether_tls_config_options options = {
        .role = ETHER_TLS_ROLE_SERVER,
        .ca_file = cert_path(certs, "ca.crt"),
        .certificate_file = cert,
        .private_key_file = key,
        .require_client_certificate = require_client_certificate,
    };
    struct ether_tls_config *config = NULL;
    char errstr[ERRSTR_BYTES] = "";
    int rc = ether_tls_config_new(&options, &config, errstr, sizeof errstr);
    if (rc != ETHER_OK) {
        fail_msg("server config: %s", errstr);
    }
    assert_int_equal(ether_tls_config_role(config), ETHER_TLS_ROLE_SERVER);
    return config;
}

/* A client trusting ca.crt; with certificate `name` (NULL: none), TLS versions up to
 * `maximum_version`. */
static struct ether_tls_config *client_config(struct certs *certs, const char *name,
                                              enum ether_tls_version maximum_version)
{
    char cert[PATH_BYTES_MAX + 64] = "";
    char key[PATH_BYTES_MAX + 64] = "";
    if (name != NULL) {
        snprintf(cert, sizeof cert, "%s/%s.crt", certs->dir, name);
        snprintf(key, sizeof key, "%s/%s.key", certs->dir, name);
    }
    struct ether_tls_config_options options = {
        .role = ETHER_TLS_ROLE_CLIENT,
        .ca_file = cert_path(certs, "ca.crt"),
        .certificate_file = name != NULL ? cert : NULL,
        .private_key_file = name != NULL ? key : NULL,
        .maximum_version = maximum_version,
    };
    struct ether_tls_config *config = NULL;
    char errstr[ERRSTR_BYTES] = "";
    int rc = ether_tls_config_new(&options, &config, errstr, sizeof errstr);
    if (rc != ETHER_OK) {
        fail_msg("client config: %s", errstr);
    }
    return config;
}

static struct ether_tls_session *new_session(const struct ether_tls_config *config,
                                             const char *server_name)
{
    struct ether_tls_session *session = NULL;
    char errstr[ERRSTR_BYTES] = "";
    int rc = ether_tls_session_new(config, server_name, &session, errstr, sizeof errstr);
    if (rc != ETHER_OK) {
        fail_msg("session: %s", errstr);
    }
    return session;
}

/* Moves what `from` has to send into `to`, `chunk_bytes` at a time (0: all at once).
 * Returns how many bytes moved. */
static size_t move_bytes(struct ether_tls_session *from, struct ether_tls_session *to,
                         size_t chunk_bytes)
{
    static uint8_t buffer[64 * 1024];
    size_t capacity = chunk_bytes == 0 || chunk_bytes > sizeof buffer ? sizeof buffer : chunk_bytes;
    size_t moved = 0;
    size_t taken;
    while ((taken = ether_tls_session_take_output(from, buffer, capacity)) > 0) {
        moved += taken;
        /* Errors show in the receiver's state, which the tests check. */
        (void)ether_tls_session_receive(to, buffer, taken);
    }
    return moved;
}

/* Pumps both ways until neither side has anything to send. */
static void pump(struct ether_tls_session *a, struct ether_tls_session *b, size_t chunk_bytes)
{
    for (int round = 0; round < 1000; round++) {
        size_t moved = move_bytes(a, b, chunk_bytes) + move_bytes(b, a, chunk_bytes);
        if (moved == 0) {
            return;
        }
    }
    fail_msg("the sessions kept talking for 1000 rounds");
}

/* Reads everything `session` has decrypted into `out`; returns the byte count. */
static size_t read_all(struct ether_tls_session *session, uint8_t *out, size_t out_capacity)
{
    size_t total = 0;
    for (;;) {
        size_t read_bytes = 0;
        assert_int_equal(
            ether_tls_session_read(session, out + total, out_capacity - total, &read_bytes),
            ETHER_OK);
        if (read_bytes == 0) {
            return total;
        }
        total += read_bytes;
    }
}

struct pair {
    struct ether_tls_config *server_config;
    struct ether_tls_config *client_config;
    struct ether_tls_session *server;
    struct ether_tls_session *client;
};

static void pair_free(struct pair *pair)
{
    ether_tls_session_free(pair->server);
    ether_tls_session_free(pair->client);
    ether_tls_config_free(pair->server_config);
    ether_tls_config_free(pair->client_config);
}

/* broker-1 serving a client that dials `server_name`, pumped until both are quiet. */
static struct pair connect_pair(struct certs *certs, bool require_client_certificate,
                                const char *client_certificate,
                                enum ether_tls_version maximum_version, const char *server_name)
{
    struct pair pair = {
        .server_config = server_config(certs, "broker-1", require_client_certificate),
        .client_config = client_config(certs, client_certificate, maximum_version),
    };
    pair.server = new_session(pair.server_config, NULL);
    pair.client = new_session(pair.client_config, server_name);
    assert_int_equal(ether_tls_session_state(pair.server), ETHER_TLS_HANDSHAKING);
    assert_int_equal(ether_tls_session_state(pair.client), ETHER_TLS_HANDSHAKING);
    assert_true(ether_tls_session_output_bytes(pair.client) > 0); /* the ClientHello */
    assert_int_equal(ether_tls_session_output_bytes(pair.server), 0);
    pump(pair.client, pair.server, 0);
    return pair;
}

static void assert_established(const struct pair *pair)
{
    if (ether_tls_session_state(pair->client) != ETHER_TLS_ESTABLISHED ||
        ether_tls_session_state(pair->server) != ETHER_TLS_ESTABLISHED) {
        fail_msg("not established: client '%s', server '%s'",
                 ether_tls_session_error_message(pair->client),
                 ether_tls_session_error_message(pair->server));
    }
}

static void assert_failed(const struct ether_tls_session *session, int error,
                          const char *message_part)
{
    const char *message = ether_tls_session_error_message(session);
    assert_int_equal(ether_tls_session_state(session), ETHER_TLS_FAILED);
    if (ether_tls_session_error(session) != error) {
        fail_msg("expected %s, got %s: %s", ether_error_name(error),
                 ether_error_name(ether_tls_session_error(session)), message);
    }
    if (strstr(message, message_part) == NULL) {
        fail_msg("'%s' does not say '%s'", message, message_part);
    }
    /* The reasons were taken out of this thread's OpenSSL error queue, not left in it. */
    assert_int_equal(ERR_peek_error(), 0);
}

/* ---- handshakes ----------------------------------------------------------------------- */

static void test_handshake_negotiates_tls13_and_verifies_the_server(void **state)
{
    struct pair pair = connect_pair(*state, false, NULL, ETHER_TLS_VERSION_DEFAULT, "127.0.0.1");
    assert_established(&pair);
    assert_string_equal(ether_tls_session_protocol(pair.client), "TLSv1.3");
    assert_string_equal(ether_tls_session_protocol(pair.server), "TLSv1.3");
    assert_string_equal(ether_tls_session_cipher(pair.client), "TLS_AES_256_GCM_SHA384");
    assert_true(ether_tls_session_peer_verified(pair.client));
    assert_string_equal(ether_tls_session_peer_common_name(pair.client), "broker-1");
    /* Without mTLS the server neither asks for nor knows a client identity. */
    assert_false(ether_tls_session_peer_verified(pair.server));
    assert_null(ether_tls_session_peer_common_name(pair.server));
    assert_int_equal(ether_tls_session_error(pair.client), ETHER_OK);
    assert_string_equal(ether_tls_session_error_message(pair.client), "");
    /* No session tickets or other chatter after the handshake. */
    assert_int_equal(ether_tls_session_output_bytes(pair.client), 0);
    assert_int_equal(ether_tls_session_output_bytes(pair.server), 0);
    pair_free(&pair);
}

static void test_handshake_with_tls12_forced_uses_ecdhe_and_aead(void **state)
{
    struct pair pair = connect_pair(*state, false, NULL, ETHER_TLS_VERSION_1_2, "127.0.0.1");
    assert_established(&pair);
    assert_string_equal(ether_tls_session_protocol(pair.client), "TLSv1.2");
    assert_string_equal(ether_tls_session_protocol(pair.server), "TLSv1.2");
    const char *cipher = ether_tls_session_cipher(pair.server);
    assert_true(strncmp(cipher, "ECDHE-", 6) == 0);
    assert_true(strstr(cipher, "GCM") != NULL || strstr(cipher, "CHACHA20") != NULL);
    assert_string_equal(ether_tls_session_peer_common_name(pair.client), "broker-1");
    pair_free(&pair);
}

static void test_handshake_in_one_byte_chunks_completes(void **state)
{
    struct pair pair = {
        .server_config = server_config(*state, "broker-1", true),
        .client_config = client_config(*state, "alice", ETHER_TLS_VERSION_DEFAULT),
    };
    pair.server = new_session(pair.server_config, NULL);
    pair.client = new_session(pair.client_config, "localhost");
    pump(pair.client, pair.server, 1);
    assert_established(&pair);
    assert_string_equal(ether_tls_session_peer_common_name(pair.server), "alice");
    pair_free(&pair);
}

static void test_server_names_match_ip_and_dns_subject_alternative_names(void **state)
{
    const char *names[] = {"127.0.0.1", "::1", "localhost", "broker-1", "LOCALHOST"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct pair pair = connect_pair(*state, false, NULL, ETHER_TLS_VERSION_DEFAULT, names[i]);
        assert_established(&pair);
        pair_free(&pair);
    }
}

static void test_hostname_mismatch_is_refused(void **state)
{
    /* broker-1's certificate names localhost, broker-1, 127.0.0.1 and ::1 only; its CN is
     * never taken for a name. */
    const char *names[] = {"broker-2", "127.0.0.2", "::2", "example.com"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        for (int tls12 = 0; tls12 <= 1; tls12++) {
            struct pair pair =
                connect_pair(*state, false, NULL,
                             tls12 ? ETHER_TLS_VERSION_1_2 : ETHER_TLS_VERSION_DEFAULT, names[i]);
            assert_failed(pair.client, ETHER_ERR_AUTHENTICATION_FAILED,
                          "certificate verify failed");
            const char *message = ether_tls_session_error_message(pair.client);
            assert_true(strstr(message, "mismatch") != NULL);
            /* The client's alert told the server why. */
            assert_failed(pair.server, ETHER_ERR_AUTHENTICATION_FAILED, "alert");
            pair_free(&pair);
        }
    }
}

static void test_server_certificate_from_another_ca_is_refused(void **state)
{
    struct pair pair = {
        .server_config = server_config(*state, "other-alice", false),
        .client_config = client_config(*state, NULL, ETHER_TLS_VERSION_DEFAULT),
    };
    pair.server = new_session(pair.server_config, NULL);
    pair.client = new_session(pair.client_config, "127.0.0.1");
    pump(pair.client, pair.server, 0);
    assert_failed(pair.client, ETHER_ERR_AUTHENTICATION_FAILED, "unable to get local issuer");
    assert_false(ether_tls_session_peer_verified(pair.client));
    assert_null(ether_tls_session_peer_common_name(pair.client));
    assert_failed(pair.server, ETHER_ERR_AUTHENTICATION_FAILED, "unknown ca");
    pair_free(&pair);
}

static void test_client_session_needs_a_server_name_and_server_session_takes_none(void **state)
{
    struct ether_tls_config *client = client_config(*state, NULL, ETHER_TLS_VERSION_DEFAULT);
    struct ether_tls_config *server = server_config(*state, "broker-1", false);
    struct ether_tls_session *session = NULL;
    char errstr[ERRSTR_BYTES] = "";
    assert_int_equal(ether_tls_session_new(client, NULL, &session, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "server's name"));
    assert_int_equal(ether_tls_session_new(client, "", &session, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(ether_tls_session_new(server, "localhost", &session, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_null(session);
    ether_tls_config_free(client);
    ether_tls_config_free(server);
}

/* ---- mTLS ----------------------------------------------------------------------------- */

static void test_mtls_reads_the_verified_client_common_name(void **state)
{
    for (int tls12 = 0; tls12 <= 1; tls12++) {
        struct pair pair =
            connect_pair(*state, true, "alice",
                         tls12 ? ETHER_TLS_VERSION_1_2 : ETHER_TLS_VERSION_DEFAULT, "127.0.0.1");
        assert_established(&pair);
        assert_true(ether_tls_session_peer_verified(pair.server));
        assert_string_equal(ether_tls_session_peer_common_name(pair.server), "alice");
        assert_string_equal(ether_tls_session_peer_common_name(pair.client), "broker-1");
        pair_free(&pair);
    }
}

static void test_mtls_broker_certificate_works_as_a_client_certificate(void **state)
{
    struct pair pair =
        connect_pair(*state, true, "broker-2", ETHER_TLS_VERSION_DEFAULT, "broker-1");
    assert_established(&pair);
    assert_string_equal(ether_tls_session_peer_common_name(pair.server), "broker-2");
    pair_free(&pair);
}

static void test_mtls_client_without_certificate_is_refused(void **state)
{
    for (int tls12 = 0; tls12 <= 1; tls12++) {
        struct pair pair =
            connect_pair(*state, true, NULL,
                         tls12 ? ETHER_TLS_VERSION_1_2 : ETHER_TLS_VERSION_DEFAULT, "127.0.0.1");
        assert_failed(pair.server, ETHER_ERR_AUTHENTICATION_FAILED, "certificate");
        assert_false(ether_tls_session_peer_verified(pair.server));
        assert_null(ether_tls_session_peer_common_name(pair.server));
        /* In TLS 1.3 the client has finished its side before the server decides; the
         * server's alert still reaches it and names the reason. */
        assert_failed(pair.client, ETHER_ERR_AUTHENTICATION_FAILED,
                      tls12 ? "handshake failure" : "certificate required");
        assert_non_null(strstr(ether_tls_session_error_message(pair.client),
                               "asked for a client certificate and none is configured"));
        uint8_t byte = 0;
        size_t read_bytes = 1;
        assert_int_equal(ether_tls_session_read(pair.server, &byte, 1, &read_bytes),
                         ETHER_ERR_AUTHENTICATION_FAILED);
        assert_int_equal(read_bytes, 0);
        pair_free(&pair);
    }
}

static void test_mtls_client_certificate_from_another_ca_is_refused(void **state)
{
    for (int tls12 = 0; tls12 <= 1; tls12++) {
        struct pair pair =
            connect_pair(*state, true, "other-alice",
                         tls12 ? ETHER_TLS_VERSION_1_2 : ETHER_TLS_VERSION_DEFAULT, "127.0.0.1");
        assert_failed(pair.server, ETHER_ERR_AUTHENTICATION_FAILED, "certificate verify failed");
        assert_null(ether_tls_session_peer_common_name(pair.server));
        assert_failed(pair.client, ETHER_ERR_AUTHENTICATION_FAILED, "unknown ca");
        pair_free(&pair);
    }
}

/* ---- requested client certificates ---------------------------------------------------- */

static int config_error(const struct ether_tls_config_options *options, char *errstr,
                        size_t errstr_size);

/* broker-1, asking clients for a certificate signed by ca.crt without requiring one. */
static struct ether_tls_config *requesting_server_config(struct certs *certs)
{
    struct ether_tls_config_options options = {
        .role = ETHER_TLS_ROLE_SERVER,
        .ca_file = cert_path(certs, "ca.crt"),
        .certificate_file = cert_path(certs, "broker-1.crt"),
        .private_key_file = cert_path(certs, "broker-1.key"),
        .request_client_certificate = true,
    };
    struct ether_tls_config *config = NULL;
    char errstr[ERRSTR_BYTES] = "";
    int rc = ether_tls_config_new(&options, &config, errstr, sizeof errstr);
    if (rc != ETHER_OK) {
        fail_msg("requesting server config: %s", errstr);
    }
    return config;
}

static struct pair connect_requesting_pair(struct certs *certs, const char *client_certificate,
                                           enum ether_tls_version maximum_version)
{
    struct pair pair = {
        .server_config = requesting_server_config(certs),
        .client_config = client_config(certs, client_certificate, maximum_version),
    };
    pair.server = new_session(pair.server_config, NULL);
    pair.client = new_session(pair.client_config, "127.0.0.1");
    pump(pair.client, pair.server, 0);
    return pair;
}

static void test_requested_client_certificate_may_be_absent(void **state)
{
    for (int tls12 = 0; tls12 <= 1; tls12++) {
        struct pair pair = connect_requesting_pair(
            *state, NULL, tls12 ? ETHER_TLS_VERSION_1_2 : ETHER_TLS_VERSION_DEFAULT);
        assert_established(&pair);
        assert_false(ether_tls_session_peer_verified(pair.server));
        assert_null(ether_tls_session_peer_common_name(pair.server));
        assert_true(ether_tls_session_peer_verified(pair.client));
        assert_string_equal(ether_tls_session_peer_common_name(pair.client), "broker-1");
        /* The connection carries data both ways, e.g. a SCRAM login. */
        uint8_t out[16];
        assert_int_equal(ether_tls_session_write(pair.client, "hello", 5), ETHER_OK);
        assert_int_equal(ether_tls_session_write(pair.server, "welcome", 7), ETHER_OK);
        pump(pair.client, pair.server, 0);
        assert_int_equal(read_all(pair.server, out, sizeof out), 5);
        assert_memory_equal(out, "hello", 5);
        assert_int_equal(read_all(pair.client, out, sizeof out), 7);
        assert_memory_equal(out, "welcome", 7);
        pair_free(&pair);
    }
}

static void test_requested_client_certificate_is_verified_when_presented(void **state)
{
    const char *names[] = {"alice", "broker-2"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        for (int tls12 = 0; tls12 <= 1; tls12++) {
            struct pair pair = connect_requesting_pair(
                *state, names[i], tls12 ? ETHER_TLS_VERSION_1_2 : ETHER_TLS_VERSION_DEFAULT);
            assert_established(&pair);
            assert_true(ether_tls_session_peer_verified(pair.server));
            assert_string_equal(ether_tls_session_peer_common_name(pair.server), names[i]);
            pair_free(&pair);
        }
    }
}

static void test_requested_client_certificate_from_another_ca_is_refused(void **state)
{
    for (int tls12 = 0; tls12 <= 1; tls12++) {
        struct pair pair = connect_requesting_pair(
            *state, "other-alice", tls12 ? ETHER_TLS_VERSION_1_2 : ETHER_TLS_VERSION_DEFAULT);
        assert_failed(pair.server, ETHER_ERR_AUTHENTICATION_FAILED, "certificate verify failed");
        assert_false(ether_tls_session_peer_verified(pair.server));
        assert_null(ether_tls_session_peer_common_name(pair.server));
        assert_failed(pair.client, ETHER_ERR_AUTHENTICATION_FAILED, "unknown ca");
        pair_free(&pair);
    }
}

/* The client without a certificate was asked for one; that must not colour a later,
 * unrelated failure of the connection. */
static void test_requested_client_certificate_absent_then_tampered_record_is_corrupt(void **state)
{
    struct pair pair = connect_requesting_pair(*state, NULL, ETHER_TLS_VERSION_DEFAULT);
    assert_established(&pair);
    assert_int_equal(ether_tls_session_write(pair.server, "transfer 100", 12), ETHER_OK);
    uint8_t record[256];
    size_t taken = ether_tls_session_take_output(pair.server, record, sizeof record);
    assert_true(taken > 12);
    record[taken - 3] ^= 0x01;
    assert_int_equal(ether_tls_session_receive(pair.client, record, taken), ETHER_ERR_CORRUPT);
    assert_failed(pair.client, ETHER_ERR_CORRUPT, "TLS connection failed: ");
    assert_null(strstr(ether_tls_session_error_message(pair.client), "asked for a client"));
    pair_free(&pair);
}

static void test_request_client_certificate_needs_a_ca_file_and_a_server(void **state)
{
    struct certs *certs = *state;
    char errstr[ERRSTR_BYTES];
    struct ether_tls_config_options options = {
        .role = ETHER_TLS_ROLE_SERVER,
        .certificate_file = cert_path(certs, "broker-1.crt"),
        .private_key_file = cert_path(certs, "broker-1.key"),
        .request_client_certificate = true,
    };
    assert_int_equal(config_error(&options, errstr, sizeof errstr), ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "requesting client certificates needs a CA file"));

    struct ether_tls_config_options client = {
        .role = ETHER_TLS_ROLE_CLIENT,
        .ca_file = cert_path(certs, "ca.crt"),
        .request_client_certificate = true,
    };
    assert_int_equal(config_error(&client, errstr, sizeof errstr), ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "server option"));

    /* With require_client_certificate too, requiring wins: no certificate, no entry. */
    options.ca_file = cert_path(certs, "ca.crt");
    options.require_client_certificate = true;
    struct pair pair = {.client_config = client_config(certs, NULL, ETHER_TLS_VERSION_DEFAULT)};
    assert_int_equal(ether_tls_config_new(&options, &pair.server_config, errstr, sizeof errstr),
                     ETHER_OK);
    pair.server = new_session(pair.server_config, NULL);
    pair.client = new_session(pair.client_config, "127.0.0.1");
    pump(pair.client, pair.server, 0);
    assert_failed(pair.server, ETHER_ERR_AUTHENTICATION_FAILED, "certificate");
    pair_free(&pair);
}

/* ---- data ----------------------------------------------------------------------------- */

static void test_data_written_before_the_handshake_is_sent_after_it(void **state)
{
    struct pair pair = {
        .server_config = server_config(*state, "broker-1", false),
        .client_config = client_config(*state, NULL, ETHER_TLS_VERSION_DEFAULT),
    };
    pair.server = new_session(pair.server_config, NULL);
    pair.client = new_session(pair.client_config, "127.0.0.1");
    assert_int_equal(ether_tls_session_write(pair.client, "hello", 5), ETHER_OK);
    assert_int_equal(ether_tls_session_write(pair.server, "welcome", 7), ETHER_OK);
    uint8_t out[16];
    size_t read_bytes = 1;
    assert_int_equal(ether_tls_session_read(pair.client, out, sizeof out, &read_bytes), ETHER_OK);
    assert_int_equal(read_bytes, 0);
    pump(pair.client, pair.server, 0);
    assert_established(&pair);
    assert_int_equal(read_all(pair.server, out, sizeof out), 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(read_all(pair.client, out, sizeof out), 7);
    assert_memory_equal(out, "welcome", 7);
    pair_free(&pair);
}

static void fill_pattern(uint8_t *data, size_t size_bytes, uint32_t seed)
{
    uint32_t x = seed;
    for (size_t i = 0; i < size_bytes; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
}

/* Writes one MiB each way in writes of varying sizes while the ciphertext moves in chunks
 * of 1..13 bytes and plaintext is read 1000 bytes at a time. */
static void exchange_one_mebibyte_each_way(struct pair *pair)
{
    uint8_t *sent[2] = {ether_malloc(MEBIBYTE), ether_malloc(MEBIBYTE)};
    uint8_t *received[2] = {ether_malloc(MEBIBYTE), ether_malloc(MEBIBYTE)};
    struct ether_tls_session *sessions[2] = {pair->client, pair->server};
    size_t written[2] = {0, 0};
    size_t read_total[2] = {0, 0};
    fill_pattern(sent[0], MEBIBYTE, 1);
    fill_pattern(sent[1], MEBIBYTE, 2);

    size_t step = 0;
    while (read_total[0] < MEBIBYTE || read_total[1] < MEBIBYTE) {
        step++;
        for (int side = 0; side < 2; side++) {
            size_t piece = (step * 7919 + (size_t)side * 104729) % 70000 + 1;
            piece = piece < MEBIBYTE - written[side] ? piece : MEBIBYTE - written[side];
            if (piece > 0) {
                assert_int_equal(
                    ether_tls_session_write(sessions[side], sent[side] + written[side], piece),
                    ETHER_OK);
                written[side] += piece;
            }
        }
        size_t chunk = step % 13 + 1;
        move_bytes(pair->client, pair->server, chunk);
        move_bytes(pair->server, pair->client, chunk);
        for (int side = 0; side < 2; side++) {
            /* sessions[1 - side] receives what `side` sent */
            size_t read_bytes;
            do {
                size_t room = MEBIBYTE - read_total[side];
                room = room < 1000 ? room : 1000;
                assert_int_equal(ether_tls_session_read(sessions[1 - side],
                                                        received[side] + read_total[side], room,
                                                        &read_bytes),
                                 ETHER_OK);
                read_total[side] += read_bytes;
            } while (read_bytes > 0 && read_total[side] < MEBIBYTE);
        }
        assert_true(step < 10 * 1000 * 1000);
    }
    assert_memory_equal(received[0], sent[0], MEBIBYTE);
    assert_memory_equal(received[1], sent[1], MEBIBYTE);
    assert_int_equal(ether_tls_session_output_bytes(pair->client), 0);
    assert_int_equal(ether_tls_session_output_bytes(pair->server), 0);
    for (int side = 0; side < 2; side++) {
        ether_free(sent[side]);
        ether_free(received[side]);
    }
}

static void test_one_mebibyte_each_way_in_tiny_chunks_arrives_intact_over_tls13(void **state)
{
    struct pair pair = connect_pair(*state, true, "alice", ETHER_TLS_VERSION_DEFAULT, "localhost");
    assert_established(&pair);
    exchange_one_mebibyte_each_way(&pair);
    assert_established(&pair);
    pair_free(&pair);
}

static void test_one_mebibyte_each_way_in_tiny_chunks_arrives_intact_over_tls12(void **state)
{
    struct pair pair = connect_pair(*state, true, "alice", ETHER_TLS_VERSION_1_2, "localhost");
    assert_established(&pair);
    exchange_one_mebibyte_each_way(&pair);
    assert_established(&pair);
    pair_free(&pair);
}

static void test_writes_beyond_buffered_bytes_max_wait_for_the_output_to_drain(void **state)
{
    struct certs *certs = *state;
    struct ether_tls_config_options options = {
        .role = ETHER_TLS_ROLE_CLIENT,
        .ca_file = cert_path(certs, "ca.crt"),
        .buffered_bytes_max = 64 * 1024,
    };
    struct pair pair = {.server_config = server_config(certs, "broker-1", false)};
    char errstr[ERRSTR_BYTES];
    assert_int_equal(ether_tls_config_new(&options, &pair.client_config, errstr, sizeof errstr),
                     ETHER_OK);
    pair.server = new_session(pair.server_config, NULL);
    pair.client = new_session(pair.client_config, "127.0.0.1");
    pump(pair.client, pair.server, 0);
    assert_established(&pair);

    static uint8_t data[100 * 1024];
    fill_pattern(data, sizeof data, 3);
    assert_int_equal(ether_tls_session_write(pair.client, data, sizeof data), ETHER_ERR_TOO_LARGE);
    assert_int_equal(ether_tls_session_write(pair.client, data, 40 * 1024), ETHER_OK);
    size_t waiting = ether_tls_session_output_bytes(pair.client);
    assert_true(waiting > 40 * 1024);
    assert_int_equal(ether_tls_session_write(pair.client, data, 40 * 1024), ETHER_ERR_BUSY);
    assert_int_equal(ether_tls_session_output_bytes(pair.client), waiting); /* nothing queued */
    move_bytes(pair.client, pair.server, 0);
    assert_int_equal(ether_tls_session_write(pair.client, data + 40 * 1024, 40 * 1024), ETHER_OK);
    move_bytes(pair.client, pair.server, 0);
    static uint8_t out[100 * 1024];
    assert_int_equal(read_all(pair.server, out, sizeof out), 80 * 1024);
    assert_memory_equal(out, data, 80 * 1024);
    pair_free(&pair);
}

/* ---- failures on the wire ------------------------------------------------------------- */

static void test_plaintext_frame_sent_to_a_server_fails_with_a_named_error(void **state)
{
    struct ether_tls_config *config = server_config(*state, "broker-1", true);
    /* What a client without TLS sends: a length-prefixed protocol frame, then more. */
    static const uint8_t frame[] = {0, 0, 0, 12, 0, 3, 0, 0, 0, 0, 0, 1, 'e', 't', 'h', 'r'};
    const char *http = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
    const void *inputs[] = {frame, http};
    size_t sizes[] = {sizeof frame, strlen(http)};
    for (size_t i = 0; i < 2; i++) {
        struct ether_tls_session *server = new_session(config, NULL);
        assert_int_equal(ether_tls_session_receive(server, inputs[i], sizes[i]),
                         ETHER_ERR_TLS_HANDSHAKE);
        assert_failed(server, ETHER_ERR_TLS_HANDSHAKE, "TLS handshake failed: ");
        /* A failed session stays failed and answers everything with its error. */
        assert_int_equal(ether_tls_session_receive(server, inputs[i], sizes[i]),
                         ETHER_ERR_TLS_HANDSHAKE);
        assert_int_equal(ether_tls_session_write(server, "x", 1), ETHER_ERR_TLS_HANDSHAKE);
        assert_int_equal(ether_tls_session_shutdown(server), ETHER_ERR_TLS_HANDSHAKE);
        uint8_t alert[64];
        (void)ether_tls_session_take_output(server, alert, sizeof alert);
        assert_int_equal(ether_tls_session_output_bytes(server), 0);
        assert_string_equal(ether_tls_session_protocol(server), "");
        ether_tls_session_free(server);
    }
    ether_tls_config_free(config);
}

static void test_random_bytes_sent_to_a_client_fail_with_a_named_error(void **state)
{
    struct ether_tls_config *config = client_config(*state, NULL, ETHER_TLS_VERSION_DEFAULT);
    uint8_t noise[4096];
    for (uint32_t seed = 1; seed <= 50; seed++) {
        struct ether_tls_session *client = new_session(config, "localhost");
        fill_pattern(noise, sizeof noise, seed);
        noise[0] = 22; /* looks like a handshake record, to get past the first check */
        noise[1] = 3;
        noise[2] = (uint8_t)(seed % 4);
        noise[3] = 0x03; /* a complete record of 1000 random bytes */
        noise[4] = 0xe8;
        int rc = ether_tls_session_receive(client, noise, sizeof noise);
        assert_int_equal(rc, ETHER_ERR_TLS_HANDSHAKE);
        assert_failed(client, ETHER_ERR_TLS_HANDSHAKE, "TLS handshake failed: ");
        ether_tls_session_free(client);
    }
    ether_tls_config_free(config);
}

static void test_tampered_record_after_the_handshake_fails_as_corrupt(void **state)
{
    struct pair pair = connect_pair(*state, false, NULL, ETHER_TLS_VERSION_DEFAULT, "127.0.0.1");
    assert_established(&pair);
    assert_int_equal(ether_tls_session_write(pair.client, "transfer 100", 12), ETHER_OK);
    uint8_t record[256];
    size_t taken = ether_tls_session_take_output(pair.client, record, sizeof record);
    assert_true(taken > 12);
    record[taken - 3] ^= 0x01;
    assert_int_equal(ether_tls_session_receive(pair.server, record, taken), ETHER_ERR_CORRUPT);
    assert_failed(pair.server, ETHER_ERR_CORRUPT, "TLS connection failed: ");
    size_t read_bytes = 1;
    assert_int_equal(ether_tls_session_read(pair.server, record, sizeof record, &read_bytes),
                     ETHER_ERR_CORRUPT);
    assert_int_equal(read_bytes, 0);
    pair_free(&pair);
}

/* A bare OpenSSL client, for what our own client configs refuse to be. */
struct raw_client {
    SSL_CTX *context;
    SSL *ssl;
    BIO *in;
    BIO *out;
};

static void raw_client_init(struct raw_client *raw, int minimum_version, int maximum_version,
                            const char *ciphers)
{
    raw->context = SSL_CTX_new(TLS_client_method());
    assert_non_null(raw->context);
    /* OpenSSL 3 refuses to offer TLS 1.1 above security level 0. */
    SSL_CTX_set_security_level(raw->context, 0);
    assert_int_equal(SSL_CTX_set_min_proto_version(raw->context, minimum_version), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(raw->context, maximum_version), 1);
    assert_int_equal(SSL_CTX_set_cipher_list(raw->context, ciphers), 1);
    raw->ssl = SSL_new(raw->context);
    raw->in = BIO_new(BIO_s_mem());
    raw->out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(raw->in, -1);
    SSL_set_bio(raw->ssl, raw->in, raw->out);
    SSL_set_connect_state(raw->ssl);
}

static void raw_client_free(struct raw_client *raw)
{
    SSL_free(raw->ssl);
    SSL_CTX_free(raw->context);
}

/* Runs the raw client's handshake against `server` until neither sends more. */
static void raw_client_handshake(struct raw_client *raw, struct ether_tls_session *server)
{
    uint8_t buffer[16 * 1024];
    for (int round = 0; round < 100; round++) {
        (void)SSL_do_handshake(raw->ssl);
        ERR_clear_error(); /* the raw client's own errors are not under test */
        size_t moved = 0;
        int length;
        while ((length = BIO_read(raw->out, buffer, (int)sizeof buffer)) > 0) {
            (void)ether_tls_session_receive(server, buffer, (size_t)length);
            moved += (size_t)length;
        }
        size_t taken;
        while ((taken = ether_tls_session_take_output(server, buffer, sizeof buffer)) > 0) {
            assert_int_equal(BIO_write(raw->in, buffer, (int)taken), (int)taken);
            moved += taken;
        }
        if (moved == 0) {
            return;
        }
    }
}

static void test_tls11_client_is_refused_by_the_server(void **state)
{
    struct ether_tls_config *config = server_config(*state, "broker-1", false);
    struct ether_tls_session *server = new_session(config, NULL);
    struct raw_client raw;
    raw_client_init(&raw, TLS1_1_VERSION, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0");
    raw_client_handshake(&raw, server);
    assert_failed(server, ETHER_ERR_TLS_HANDSHAKE, "unsupported protocol");
    assert_int_equal(SSL_is_init_finished(raw.ssl), 0);
    raw_client_free(&raw);
    ether_tls_session_free(server);
    ether_tls_config_free(config);
}

static void test_tls12_client_offering_only_cbc_ciphers_is_refused(void **state)
{
    struct ether_tls_config *config = server_config(*state, "broker-1", false);
    struct ether_tls_session *server = new_session(config, NULL);
    struct raw_client raw;
    raw_client_init(&raw, TLS1_2_VERSION, TLS1_2_VERSION,
                    "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:AES128-GCM-SHA256");
    raw_client_handshake(&raw, server);
    assert_failed(server, ETHER_ERR_TLS_HANDSHAKE, "no shared cipher");
    raw_client_free(&raw);
    ether_tls_session_free(server);
    ether_tls_config_free(config);
}

/* ---- close_notify --------------------------------------------------------------------- */

/* `closer` ends a session the other side keeps writing to until the close_notify
 * arrives. */
static void close_from(struct ether_tls_session *closer, struct ether_tls_session *other)
{
    assert_int_equal(ether_tls_session_write(closer, "last words", 10), ETHER_OK);
    assert_int_equal(ether_tls_session_shutdown(closer), ETHER_OK);
    assert_int_equal(ether_tls_session_state(closer), ETHER_TLS_CLOSED);
    assert_int_equal(ether_tls_session_shutdown(closer), ETHER_OK); /* idempotent */
    assert_int_equal(ether_tls_session_write(closer, "more", 4), ETHER_ERR_CLOSED);
    assert_false(ether_tls_session_peer_closed(closer));

    /* Crossing in flight: the other side's data, sent before it heard of the close. */
    assert_int_equal(ether_tls_session_write(other, "in flight", 9), ETHER_OK);
    move_bytes(closer, other, 0);
    assert_int_equal(ether_tls_session_state(other), ETHER_TLS_CLOSED);
    assert_true(ether_tls_session_peer_closed(other));
    assert_int_equal(ether_tls_session_write(other, "too late", 8), ETHER_ERR_CLOSED);
    uint8_t out[32];
    /* Plaintext that came before the close_notify is still there to read. */
    assert_int_equal(read_all(other, out, sizeof out), 10);
    assert_memory_equal(out, "last words", 10);
    assert_int_equal(ether_tls_session_receive(other, "x", 1), ETHER_ERR_CLOSED);

    /* The other side answered with its own close_notify. */
    move_bytes(other, closer, 0);
    assert_int_equal(ether_tls_session_state(closer), ETHER_TLS_CLOSED);
    assert_true(ether_tls_session_peer_closed(closer));
    assert_int_equal(ether_tls_session_error(closer), ETHER_OK);
    assert_int_equal(ether_tls_session_error(other), ETHER_OK);
    assert_int_equal(ether_tls_session_output_bytes(closer), 0);
    assert_int_equal(ether_tls_session_output_bytes(other), 0);
    assert_string_equal(ether_tls_session_protocol(closer), ether_tls_session_protocol(other));
    /* Half-closed: what the other side sent before it heard of the close still arrives. */
    assert_int_equal(read_all(closer, out, sizeof out), 9);
    assert_memory_equal(out, "in flight", 9);
}

static void test_close_notify_from_the_client_closes_both_sides(void **state)
{
    for (int tls12 = 0; tls12 <= 1; tls12++) {
        struct pair pair =
            connect_pair(*state, true, "alice",
                         tls12 ? ETHER_TLS_VERSION_1_2 : ETHER_TLS_VERSION_DEFAULT, "127.0.0.1");
        assert_established(&pair);
        close_from(pair.client, pair.server);
        pair_free(&pair);
    }
}

static void test_close_notify_from_the_server_closes_both_sides(void **state)
{
    for (int tls12 = 0; tls12 <= 1; tls12++) {
        struct pair pair =
            connect_pair(*state, false, NULL,
                         tls12 ? ETHER_TLS_VERSION_1_2 : ETHER_TLS_VERSION_DEFAULT, "127.0.0.1");
        assert_established(&pair);
        close_from(pair.server, pair.client);
        pair_free(&pair);
    }
}

static void test_shutdown_during_the_handshake_closes_without_sending(void **state)
{
    struct ether_tls_config *config = client_config(*state, NULL, ETHER_TLS_VERSION_DEFAULT);
    struct ether_tls_session *client = new_session(config, "localhost");
    assert_int_equal(ether_tls_session_write(client, "queued", 6), ETHER_OK);
    size_t hello = ether_tls_session_output_bytes(client);
    assert_int_equal(ether_tls_session_shutdown(client), ETHER_OK);
    assert_int_equal(ether_tls_session_state(client), ETHER_TLS_CLOSED);
    assert_int_equal(ether_tls_session_output_bytes(client), hello);
    assert_int_equal(ether_tls_session_receive(client, "x", 1), ETHER_ERR_CLOSED);
    assert_int_equal(ether_tls_session_write(client, "x", 1), ETHER_ERR_CLOSED);
    assert_false(ether_tls_session_peer_closed(client));
    ether_tls_session_free(client);
    ether_tls_config_free(config);
}

/* ---- configs -------------------------------------------------------------------------- */

static void test_reload_gives_a_new_config_while_old_sessions_continue(void **state)
{
    struct certs *certs = *state;
    /* The broker's files, which an operator later replaces with broker-2's. */
    copy_file(cert_path(certs, "broker-1.crt"), cert_path(certs, "live.crt"));
    copy_file(cert_path(certs, "broker-1.key"), cert_path(certs, "live.key"));
    struct ether_tls_config *old_config = server_config(certs, "live", true);
    struct ether_tls_config *client = client_config(certs, "alice", ETHER_TLS_VERSION_DEFAULT);
    struct ether_tls_session *old_server = new_session(old_config, NULL);
    struct ether_tls_session *old_client = new_session(client, "127.0.0.1");
    pump(old_client, old_server, 0);
    assert_string_equal(ether_tls_session_peer_common_name(old_client), "broker-1");

    copy_file(cert_path(certs, "broker-2.crt"), cert_path(certs, "live.crt"));
    copy_file(cert_path(certs, "broker-2.key"), cert_path(certs, "live.key"));
    struct ether_tls_config *new_config = NULL;
    char errstr[ERRSTR_BYTES] = "";
    assert_int_equal(ether_tls_config_reload(old_config, &new_config, errstr, sizeof errstr),
                     ETHER_OK);
    assert_ptr_not_equal(new_config, old_config);
    ether_tls_config_free(old_config); /* the old session keeps its context alive */

    uint8_t out[16];
    assert_int_equal(ether_tls_session_write(old_client, "ping", 4), ETHER_OK);
    pump(old_client, old_server, 3);
    assert_int_equal(read_all(old_server, out, sizeof out), 4);
    assert_int_equal(ether_tls_session_write(old_server, "pong", 4), ETHER_OK);
    pump(old_client, old_server, 3);
    assert_int_equal(read_all(old_client, out, sizeof out), 4);
    assert_memory_equal(out, "pong", 4);
    assert_int_equal(ether_tls_session_state(old_server), ETHER_TLS_ESTABLISHED);

    /* A new connection meets the new certificate, with the same mTLS setting. */
    struct ether_tls_session *new_server = new_session(new_config, NULL);
    struct ether_tls_session *new_client = new_session(client, "127.0.0.1");
    pump(new_client, new_server, 0);
    assert_int_equal(ether_tls_session_state(new_server), ETHER_TLS_ESTABLISHED);
    assert_string_equal(ether_tls_session_peer_common_name(new_client), "broker-2");
    assert_string_equal(ether_tls_session_peer_common_name(new_server), "alice");

    ether_tls_session_free(old_server);
    ether_tls_session_free(old_client);
    ether_tls_session_free(new_server);
    ether_tls_session_free(new_client);
    ether_tls_config_free(new_config);
    ether_tls_config_free(client);
}

static void test_reload_of_a_broken_key_fails_and_keeps_the_old_config(void **state)
{
    struct certs *certs = *state;
    copy_file(cert_path(certs, "broker-1.crt"), cert_path(certs, "live2.crt"));
    copy_file(cert_path(certs, "broker-1.key"), cert_path(certs, "live2.key"));
    struct ether_tls_config *config = server_config(certs, "live2", false);
    /* Half a rotation: the key is new, the certificate is not. */
    copy_file(cert_path(certs, "broker-2.key"), cert_path(certs, "live2.key"));
    struct ether_tls_config *reloaded = NULL;
    char errstr[ERRSTR_BYTES] = "";
    assert_int_equal(ether_tls_config_reload(config, &reloaded, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_null(reloaded);
    assert_non_null(strstr(errstr, "live2.key"));
    assert_non_null(strstr(errstr, "match the private key"));

    struct ether_tls_config *client = client_config(certs, NULL, ETHER_TLS_VERSION_DEFAULT);
    struct pair pair = {.server = new_session(config, NULL),
                        .client = new_session(client, "localhost")};
    pump(pair.client, pair.server, 0);
    assert_established(&pair);
    assert_string_equal(ether_tls_session_peer_common_name(pair.client), "broker-1");
    pair_free(&pair);
    ether_tls_config_free(config);
    ether_tls_config_free(client);
}

static int config_error(const struct ether_tls_config_options *options, char *errstr,
                        size_t errstr_size)
{
    struct ether_tls_config *config = NULL;
    errstr[0] = '\0';
    int rc = ether_tls_config_new(options, &config, errstr, errstr_size);
    assert_null(config);
    assert_true(errstr[0] != '\0');
    return rc;
}

static void test_config_errors_name_the_problem_and_the_file(void **state)
{
    struct certs *certs = *state;
    char errstr[ERRSTR_BYTES];
    struct ether_tls_config_options options = {
        .role = ETHER_TLS_ROLE_SERVER,
        .certificate_file = cert_path(certs, "missing.crt"),
        .private_key_file = cert_path(certs, "broker-1.key"),
    };
    assert_int_equal(config_error(&options, errstr, sizeof errstr), ETHER_ERR_IO);
    assert_non_null(strstr(errstr, "missing.crt"));
    assert_non_null(strstr(errstr, "No such file"));

    /* A file that is not PEM: the key where the certificate should be. */
    options.certificate_file = cert_path(certs, "broker-1.key");
    assert_int_equal(config_error(&options, errstr, sizeof errstr), ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "certificate chain"));

    options.certificate_file = cert_path(certs, "broker-1.crt");
    options.private_key_file = cert_path(certs, "alice.key");
    assert_int_equal(config_error(&options, errstr, sizeof errstr), ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "match the private key"));

    /* An encrypted key is refused at once; OpenSSL would otherwise ask the terminal. */
    char command[3 * PATH_BYTES_MAX];
    snprintf(command, sizeof command,
             "openssl pkey -in '%s/broker-1.key' -aes256 -passout pass:secret "
             "-out '%s/encrypted.key' 2>/dev/null",
             certs->dir, certs->dir);
    assert_int_equal(system(command), 0);
    options.private_key_file = cert_path(certs, "encrypted.key");
    assert_int_equal(config_error(&options, errstr, sizeof errstr), ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "load the private key (unencrypted PEM)"));

    options.private_key_file = NULL;
    assert_int_equal(config_error(&options, errstr, sizeof errstr), ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "go together"));

    options.private_key_file = cert_path(certs, "broker-1.key");
    options.require_client_certificate = true;
    assert_int_equal(config_error(&options, errstr, sizeof errstr), ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "CA file"));

    options.ca_file = cert_path(certs, "broker-1.key"); /* holds no certificate */
    assert_int_equal(config_error(&options, errstr, sizeof errstr), ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "CA certificates"));

    options.ca_file = cert_path(certs, "ca.crt");
    options.minimum_version = ETHER_TLS_VERSION_1_3;
    options.maximum_version = ETHER_TLS_VERSION_1_2;
    assert_int_equal(config_error(&options, errstr, sizeof errstr), ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "minimum"));

    options.minimum_version = (enum ether_tls_version)11; /* TLS 1.1 */
    options.maximum_version = ETHER_TLS_VERSION_DEFAULT;
    assert_int_equal(config_error(&options, errstr, sizeof errstr), ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "TLS 1.2 or TLS 1.3"));

    struct ether_tls_config_options client = {.role = ETHER_TLS_ROLE_CLIENT};
    assert_int_equal(config_error(&client, errstr, sizeof errstr), ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "a client needs a CA file"));

    struct ether_tls_config_options no_role = {.ca_file = cert_path(certs, "ca.crt")};
    assert_int_equal(config_error(&no_role, errstr, sizeof errstr), ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "role"));
}

static void test_tls13_only_server_refuses_a_tls12_client(void **state)
{
    struct certs *certs = *state;
    struct ether_tls_config_options options = {
        .role = ETHER_TLS_ROLE_SERVER,
        .certificate_file = cert_path(certs, "broker-1.crt"),
        .private_key_file = cert_path(certs, "broker-1.key"),
        .minimum_version = ETHER_TLS_VERSION_1_3,
    };
    struct pair pair = {.client_config = client_config(certs, NULL, ETHER_TLS_VERSION_1_2)};
    char errstr[ERRSTR_BYTES];
    assert_int_equal(ether_tls_config_new(&options, &pair.server_config, errstr, sizeof errstr),
                     ETHER_OK);
    pair.server = new_session(pair.server_config, NULL);
    pair.client = new_session(pair.client_config, "localhost");
    pump(pair.client, pair.server, 0);
    assert_failed(pair.server, ETHER_ERR_TLS_HANDSHAKE, "unsupported protocol");
    assert_failed(pair.client, ETHER_ERR_TLS_HANDSHAKE, "protocol version");
    pair_free(&pair);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_negotiates_tls13_and_verifies_the_server),
        cmocka_unit_test(test_handshake_with_tls12_forced_uses_ecdhe_and_aead),
        cmocka_unit_test(test_handshake_in_one_byte_chunks_completes),
        cmocka_unit_test(test_server_names_match_ip_and_dns_subject_alternative_names),
        cmocka_unit_test(test_hostname_mismatch_is_refused),
        cmocka_unit_test(test_server_certificate_from_another_ca_is_refused),
        cmocka_unit_test(test_client_session_needs_a_server_name_and_server_session_takes_none),
        cmocka_unit_test(test_mtls_reads_the_verified_client_common_name),
        cmocka_unit_test(test_mtls_broker_certificate_works_as_a_client_certificate),
        cmocka_unit_test(test_mtls_client_without_certificate_is_refused),
        cmocka_unit_test(test_mtls_client_certificate_from_another_ca_is_refused),
        cmocka_unit_test(test_requested_client_certificate_may_be_absent),
        cmocka_unit_test(test_requested_client_certificate_is_verified_when_presented),
        cmocka_unit_test(test_requested_client_certificate_from_another_ca_is_refused),
        cmocka_unit_test(test_requested_client_certificate_absent_then_tampered_record_is_corrupt),
        cmocka_unit_test(test_request_client_certificate_needs_a_ca_file_and_a_server),
        cmocka_unit_test(test_data_written_before_the_handshake_is_sent_after_it),
        cmocka_unit_test(test_one_mebibyte_each_way_in_tiny_chunks_arrives_intact_over_tls13),
        cmocka_unit_test(test_one_mebibyte_each_way_in_tiny_chunks_arrives_intact_over_tls12),
        cmocka_unit_test(test_writes_beyond_buffered_bytes_max_wait_for_the_output_to_drain),
        cmocka_unit_test(test_plaintext_frame_sent_to_a_server_fails_with_a_named_error),
        cmocka_unit_test(test_random_bytes_sent_to_a_client_fail_with_a_named_error),
        cmocka_unit_test(test_tampered_record_after_the_handshake_fails_as_corrupt),
        cmocka_unit_test(test_tls11_client_is_refused_by_the_server),
        cmocka_unit_test(test_tls12_client_offering_only_cbc_ciphers_is_refused),
        cmocka_unit_test(test_tls13_only_server_refuses_a_tls12_client),
        cmocka_unit_test(test_close_notify_from_the_client_closes_both_sides),
        cmocka_unit_test(test_close_notify_from_the_server_closes_both_sides),
        cmocka_unit_test(test_shutdown_during_the_handshake_closes_without_sending),
        cmocka_unit_test(test_reload_gives_a_new_config_while_old_sessions_continue),
        cmocka_unit_test(test_reload_of_a_broken_key_fails_and_keeps_the_old_config),
        cmocka_unit_test(test_config_errors_name_the_problem_and_the_file),
    };
    return cmocka_run_group_tests(tests, make_certs, remove_certs);
}
