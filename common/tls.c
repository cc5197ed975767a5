/*
 * tls.c: the TLS engine of tls.h on OpenSSL memory BIOs.
 *
 * Each session is an SSL object between two memory BIOs: `network_in` holds ciphertext
 * the caller received, `network_out` ciphertext for the caller to send. Plaintext has
 * two queues of our own: `plaintext_in` (decrypted, waiting for read) and
 * `plaintext_out` (written before the handshake ended, waiting to be encrypted).
 *
 * Happy path: receive() appends to network_in and calls advance(), which runs
 * SSL_do_handshake until it completes, then encrypts plaintext_out and decrypts every
 * complete record into plaintext_in. Memory BIOs never block: "want read" only means
 * that the next record has not fully arrived, and "want write" cannot happen because
 * network_out grows as needed (its size is bounded by buffered_bytes_max instead).
 *
 * Failure modes: every OpenSSL error moves the session to FAILED once, with the error
 * code chosen by classify() and a sentence built from OpenSSL's error queue, which is
 * drained so that no error leaks into the next OpenSSL call of this thread (the queue is
 * per thread and shared by every library in it). Each call into OpenSSL starts with an
 * empty queue for the same reason.
 */
#include "common/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "common/tls.c needs OpenSSL 3.0 or newer (Debian: libssl-dev)"
#endif

/* TLS 1.2: forward secrecy (ECDHE) and authenticated encryption (GCM, ChaCha20-Poly1305)
 * only, strongest first. */
static const char CIPHERS_TLS12[] = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                                    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
/* TLS 1.3's suites are all AEAD; the list only fixes the order. */
static const char CIPHERSUITES_TLS13[] =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
static const char GROUPS[] = "X25519:P-256:P-384";

enum {
    SECURITY_LEVEL = 2,       /* 112-bit security: RSA and DH of 2048 bits or more */
    VERIFY_DEPTH_MAX = 8,     /* certificates between a peer's and its root */
    READ_CHUNK_BYTES = 16384, /* one TLS record's plaintext at most */
    REASONS_COUNT_MAX = 3,    /* OpenSSL reasons quoted in one sentence */
};

struct ether_tls_config {
    SSL_CTX *context;
    /* A copy of the options it was built from, for reload; its strings point to the
     * copies below, which the config owns. */
    struct ether_tls_config_options options;
    char *ca_file;
    char *certificate_file;
    char *private_key_file;
};

/* Bytes waiting in order: data[start, buf.length). */
struct byte_queue {
    struct ether_buf buf;
    size_t start;
};

struct ether_tls_session {
    SSL *ssl;
    BIO *network_in;  /* owned by ssl */
    BIO *network_out; /* owned by ssl */
    enum ether_tls_role role;
    enum ether_tls_state state;
    int error;
    bool handshake_complete;
    bool peer_closed;
    bool close_notify_sent;
    bool peer_verified;
    bool certificate_requested; /* a client without a certificate was asked for one */
    char *peer_common_name;     /* NULL unless peer_verified and the subject has one CN */
    size_t buffered_bytes_max;
    struct byte_queue plaintext_in;
    struct byte_queue plaintext_out;
    char error_message[ETHER_TLS_ERROR_MESSAGE_BYTES_MAX];
};

/* ---- byte queues ---------------------------------------------------------------------- */

static size_t queue_bytes(const struct byte_queue *queue)
{
    ETHER_ASSERT(queue->start <= queue->buf.length);
    return queue->buf.length - queue->start;
}

static const uint8_t *queue_head(const struct byte_queue *queue)
{
    return queue->buf.data + queue->start;
}

static void queue_consume(struct byte_queue *queue, size_t size_bytes)
{
    ETHER_ASSERT(size_bytes <= queue_bytes(queue));
    queue->start += size_bytes;
    if (queue->start == queue->buf.length) {
        ether_buf_clear(&queue->buf);
        queue->start = 0;
    } else if (queue->start > queue->buf.length / 2) {
        /* Moving the tail costs less than what was consumed, so compaction is amortised. */
        size_t left = queue_bytes(queue);
        memmove(queue->buf.data, queue_head(queue), left);
        queue->buf.length = left;
        queue->start = 0;
    }
}

/* Wiped first: the plaintext may hold a secret (a new user's password). */
static void queue_free(struct byte_queue *queue)
{
    if (queue->buf.data != NULL) {
        OPENSSL_cleanse(queue->buf.data, queue->buf.capacity);
    }
    ether_buf_free(&queue->buf);
    queue->start = 0;
}

/* ---- OpenSSL's error queue ------------------------------------------------------------ */

/* Whether an OpenSSL error says that a certificate was missing or refused (by us or, in
 * an alert, by the peer) rather than that the protocol could not be agreed. */
static bool is_authentication_reason(unsigned long code)
{
    if (ERR_GET_LIB(code) != ERR_LIB_SSL) {
        return false;
    }
    switch (ERR_GET_REASON(code)) {
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_NO_CERTIFICATES_RETURNED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return true;
    default:
        return false;
    }
}

/*
 * Empties this thread's OpenSSL error queue into `out` as "reason, reason" (the first
 * REASONS_COUNT_MAX distinct reasons, root cause first; "no details from OpenSSL" when
 * empty). Returns whether one of them is an authentication reason.
 */
static bool drain_openssl_errors(char *out, size_t out_size)
{
    ETHER_ASSERT(out_size > 0);
    bool authentication = false;
    unsigned long reasons[REASONS_COUNT_MAX];
    size_t reasons_count = 0;
    size_t used = 0;
    out[0] = '\0';
    unsigned long code;
    while ((code = ERR_get_error()) != 0) {
        authentication = authentication || is_authentication_reason(code);
        bool seen = false;
        for (size_t i = 0; i < reasons_count; i++) {
            seen = seen || ERR_GET_REASON(reasons[i]) == ERR_GET_REASON(code);
        }
        if (seen || reasons_count == REASONS_COUNT_MAX) {
            continue;
        }
        reasons[reasons_count++] = code;
        const char *reason = ERR_reason_error_string(code);
        char fallback[128];
        if (reason == NULL) {
            ERR_error_string_n(code, fallback, sizeof fallback);
            reason = fallback;
        }
        int printed = snprintf(out + used, out_size - used, "%s%s", used > 0 ? ", " : "", reason);
        if (printed > 0) {
            used += (size_t)printed;
            used = used < out_size ? used : out_size - 1;
        }
    }
    if (used == 0) {
        snprintf(out, out_size, "no details from OpenSSL");
    }
    return authentication;
}

/* ---- configs -------------------------------------------------------------------------- */

static int version_number(enum ether_tls_version version, int fallback)
{
    switch (version) {
    case ETHER_TLS_VERSION_DEFAULT:
        return fallback;
    case ETHER_TLS_VERSION_1_2:
        return TLS1_2_VERSION;
    case ETHER_TLS_VERSION_1_3:
        return TLS1_3_VERSION;
    }
    return -1;
}

static bool is_set(const char *string)
{
    return string != NULL && string[0] != '\0';
}

static int check_options(const struct ether_tls_config_options *options, char *errstr,
                         size_t errstr_size)
{
    const char *problem = NULL;
    int minimum = version_number(options->minimum_version, TLS1_2_VERSION);
    int maximum = version_number(options->maximum_version, TLS1_3_VERSION);
    if (options->role != ETHER_TLS_ROLE_SERVER && options->role != ETHER_TLS_ROLE_CLIENT) {
        problem = "the role must be server or client";
    } else if (minimum < 0 || maximum < 0) {
        problem = "protocol versions must be TLS 1.2 or TLS 1.3";
    } else if (minimum > maximum) {
        problem = "the minimum protocol version is above the maximum";
    } else if (is_set(options->certificate_file) != is_set(options->private_key_file)) {
        problem = "a certificate file and a private key file go together";
    } else if (options->role == ETHER_TLS_ROLE_SERVER && !is_set(options->certificate_file)) {
        problem = "a server needs a certificate file and a private key file";
    } else if (options->role == ETHER_TLS_ROLE_CLIENT && !is_set(options->ca_file)) {
        problem = "a client needs a CA file to verify servers with";
    } else if (options->role == ETHER_TLS_ROLE_SERVER && options->require_client_certificate &&
               !is_set(options->ca_file)) {
        problem = "requiring client certificates needs a CA file to verify them with";
    } else if (options->role == ETHER_TLS_ROLE_SERVER && options->request_client_certificate &&
               !is_set(options->ca_file)) {
        problem = "requesting client certificates needs a CA file to verify them with";
    } else if (options->role == ETHER_TLS_ROLE_CLIENT && options->require_client_certificate) {
        problem = "require_client_certificate is a server option";
    } else if (options->role == ETHER_TLS_ROLE_CLIENT && options->request_client_certificate) {
        problem = "request_client_certificate is a server option";
    }
    if (problem != NULL) {
        snprintf(errstr, errstr_size, "TLS configuration: %s", problem);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    return ETHER_OK;
}

/* ETHER_ERR_IO with a sentence unless `path` can be opened for reading, so that a missing
 * file is told apart from one OpenSSL cannot parse. */
static int check_readable(const char *what, const char *path, char *errstr, size_t errstr_size)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        snprintf(errstr, errstr_size, "TLS configuration: cannot read the %s '%s': %s", what, path,
                 strerror(errno));
        return ETHER_ERR_IO;
    }
    fclose(file);
    return ETHER_OK;
}

static int openssl_failed(const char *doing, const char *path, char *errstr, size_t errstr_size)
{
    char reasons[ETHER_TLS_ERROR_MESSAGE_BYTES_MAX];
    drain_openssl_errors(reasons, sizeof reasons);
    if (path != NULL) {
        snprintf(errstr, errstr_size, "TLS configuration: cannot %s '%s': %s", doing, path,
                 reasons);
    } else {
        snprintf(errstr, errstr_size, "TLS configuration: cannot %s: %s", doing, reasons);
    }
    return ETHER_ERR_INVALID_ARGUMENT;
}

/* Encrypted private keys are refused instead of OpenSSL's default of asking for a
 * passphrase on the terminal, which would block a broker's loop. */
static int refuse_passphrase(char *buffer, int size, int rwflag, void *userdata)
{
    (void)buffer;
    (void)size;
    (void)rwflag;
    (void)userdata;
    return 0;
}

/* Clients without a certificate: remembers that the server asked for one, so that a
 * failed handshake can say why (in TLS 1.2 the server's alert is a bare "handshake
 * failure"). Sends none. */
static int note_certificate_request(SSL *ssl, X509 **certificate, EVP_PKEY **key)
{
    (void)certificate;
    (void)key;
    struct ether_tls_session *session = SSL_get_app_data(ssl);
    if (session != NULL) {
        session->certificate_requested = true;
    }
    return 0;
}

static int set_policy(SSL_CTX *context, const struct ether_tls_config_options *options,
                      char *errstr, size_t errstr_size)
{
    int minimum = version_number(options->minimum_version, TLS1_2_VERSION);
    int maximum = version_number(options->maximum_version, TLS1_3_VERSION);
    ETHER_ASSERT(minimum >= TLS1_2_VERSION);
    ETHER_ASSERT(minimum <= maximum);
    if (SSL_CTX_set_min_proto_version(context, minimum) != 1 ||
        SSL_CTX_set_max_proto_version(context, maximum) != 1) {
        return openssl_failed("set the protocol versions", NULL, errstr, errstr_size);
    }
    SSL_CTX_set_options(context, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                     SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_set_num_tickets(context, 0) != 1) {
        return openssl_failed("turn session tickets off", NULL, errstr, errstr_size);
    }
    /* Plaintext waits in our own queue between SSL_write retries and may move. */
    SSL_CTX_set_mode(context, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_security_level(context, SECURITY_LEVEL);
    if (SSL_CTX_set_cipher_list(context, CIPHERS_TLS12) != 1 ||
        SSL_CTX_set_ciphersuites(context, CIPHERSUITES_TLS13) != 1) {
        return openssl_failed("set the cipher suites", NULL, errstr, errstr_size);
    }
    if (SSL_CTX_set1_groups_list(context, GROUPS) != 1) {
        return openssl_failed("set the key exchange groups", NULL, errstr, errstr_size);
    }
    SSL_CTX_set_default_passwd_cb(context, refuse_passphrase);
    return ETHER_OK;
}

static int load_files(SSL_CTX *context, const struct ether_tls_config_options *options,
                      char *errstr, size_t errstr_size)
{
    int rc;
    if (is_set(options->certificate_file)) {
        rc = check_readable("certificate file", options->certificate_file, errstr, errstr_size);
        if (rc != ETHER_OK) {
            return rc;
        }
        rc = check_readable("private key file", options->private_key_file, errstr, errstr_size);
        if (rc != ETHER_OK) {
            return rc;
        }
        if (SSL_CTX_use_certificate_chain_file(context, options->certificate_file) != 1) {
            return openssl_failed("load the certificate chain", options->certificate_file, errstr,
                                  errstr_size);
        }
        if (SSL_CTX_use_PrivateKey_file(context, options->private_key_file, SSL_FILETYPE_PEM) !=
            1) {
            unsigned long code = ERR_peek_error();
            bool mismatch = ERR_GET_LIB(code) == ERR_LIB_X509 &&
                            ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH;
            return openssl_failed(mismatch ? "match the private key to the certificate"
                                           : "load the private key (unencrypted PEM)",
                                  options->private_key_file, errstr, errstr_size);
        }
        if (SSL_CTX_check_private_key(context) != 1) {
            return openssl_failed("match the private key to the certificate",
                                  options->private_key_file, errstr, errstr_size);
        }
    }
    bool ask_clients = options->require_client_certificate || options->request_client_certificate;
    bool verify_peers = options->role == ETHER_TLS_ROLE_CLIENT || ask_clients;
    if (verify_peers) {
        rc = check_readable("CA file", options->ca_file, errstr, errstr_size);
        if (rc != ETHER_OK) {
            return rc;
        }
        if (SSL_CTX_load_verify_locations(context, options->ca_file, NULL) != 1) {
            return openssl_failed("load the CA certificates", options->ca_file, errstr,
                                  errstr_size);
        }
        SSL_CTX_set_verify_depth(context, VERIFY_DEPTH_MAX);
    }
    if (options->role == ETHER_TLS_ROLE_CLIENT) {
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
        if (!is_set(options->certificate_file)) {
            SSL_CTX_set_client_cert_cb(context, note_certificate_request);
        }
    } else if (ask_clients) {
        /* Without FAIL_IF_NO_PEER_CERT (request mode) a client may send no certificate;
         * one it does send must still verify, or the handshake fails. */
        int mode = SSL_VERIFY_PEER;
        if (options->require_client_certificate) {
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        }
        SSL_CTX_set_verify(context, mode, NULL);
        /* Tells clients which CAs we accept, so that one with several certificates picks. */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(options->ca_file);
        if (names == NULL) {
            return openssl_failed("read the CA names", options->ca_file, errstr, errstr_size);
        }
        SSL_CTX_set_client_CA_list(context, names);
    } else {
        SSL_CTX_set_verify(context, SSL_VERIFY_NONE, NULL);
    }
    return ETHER_OK;
}

static char *copy_or_null(const char *string)
{
    return string != NULL ? ether_strdup(string) : NULL;
}

int ether_tls_config_new(const struct ether_tls_config_options *options,
                         struct ether_tls_config **config_out, char *errstr, size_t errstr_size)
{
    ETHER_ASSERT(options != NULL);
    ETHER_ASSERT(config_out != NULL);
    int rc = check_options(options, errstr, errstr_size);
    if (rc != ETHER_OK) {
        return rc;
    }
    ERR_clear_error();
    SSL_CTX *context = SSL_CTX_new(options->role == ETHER_TLS_ROLE_SERVER ? TLS_server_method()
                                                                          : TLS_client_method());
    if (context == NULL) {
        return openssl_failed("create an OpenSSL context", NULL, errstr, errstr_size);
    }
    rc = set_policy(context, options, errstr, errstr_size);
    if (rc != ETHER_OK) {
        goto err_after_context;
    }
    rc = load_files(context, options, errstr, errstr_size);
    if (rc != ETHER_OK) {
        goto err_after_context;
    }

    struct ether_tls_config *config = ether_calloc(1, sizeof *config);
    config->context = context;
    config->ca_file = copy_or_null(options->ca_file);
    config->certificate_file = copy_or_null(options->certificate_file);
    config->private_key_file = copy_or_null(options->private_key_file);
    config->options = *options;
    config->options.ca_file = config->ca_file;
    config->options.certificate_file = config->certificate_file;
    config->options.private_key_file = config->private_key_file;
    if (config->options.buffered_bytes_max == 0) {
        config->options.buffered_bytes_max = ETHER_TLS_BUFFERED_BYTES_MAX_DEFAULT;
    }
    *config_out = config;
    ERR_clear_error();
    return ETHER_OK;

err_after_context:
    SSL_CTX_free(context);
    ERR_clear_error();
    return rc;
}

int ether_tls_config_reload(const struct ether_tls_config *config,
                            struct ether_tls_config **config_out, char *errstr, size_t errstr_size)
{
    ETHER_ASSERT(config != NULL);
    return ether_tls_config_new(&config->options, config_out, errstr, errstr_size);
}

void ether_tls_config_free(struct ether_tls_config *config)
{
    if (config == NULL) {
        return;
    }
    /* Drops our reference only: every SSL made from the context holds its own. */
    SSL_CTX_free(config->context);
    ether_free(config->ca_file);
    ether_free(config->certificate_file);
    ether_free(config->private_key_file);
    ether_free(config);
}

enum ether_tls_role ether_tls_config_role(const struct ether_tls_config *config)
{
    return config->options.role;
}

/* ---- sessions: failure ---------------------------------------------------------------- */

/* Moves the session to FAILED after OpenSSL call returned `ssl_error` (SSL_get_error). */
static void fail(struct ether_tls_session *session, int ssl_error)
{
    ETHER_ASSERT(session->state != ETHER_TLS_FAILED);
    /* Leaves room in error_message for the prefix and the certificate check's reason. */
    char reasons[ETHER_TLS_ERROR_MESSAGE_BYTES_MAX / 2];
    bool authentication = drain_openssl_errors(reasons, sizeof reasons);
    if (ssl_error == SSL_ERROR_ZERO_RETURN) {
        snprintf(reasons, sizeof reasons, "the peer closed the connection");
    }

    long verify_result = SSL_get_verify_result(session->ssl);
    bool verified_by_us = SSL_get_verify_mode(session->ssl) != SSL_VERIFY_NONE;
    const char *verify_reason = "";
    const char *separator = "";
    if (verified_by_us && verify_result != X509_V_OK) {
        authentication = true;
        verify_reason = X509_verify_cert_error_string(verify_result);
        separator = ": ";
    }

    /* The likely reason of a failed handshake, or of an authentication alert after it
     * (TLS 1.3); but a server that only requested a certificate accepts a client without
     * one, so a later failure of the connection is not about it. */
    bool handshaking = session->state == ETHER_TLS_HANDSHAKING;
    if (session->certificate_requested && (handshaking || authentication)) {
        authentication = true;
        verify_reason = "the server asked for a client certificate and none is configured";
        separator = "; ";
    }

    if (authentication) {
        session->error = ETHER_ERR_AUTHENTICATION_FAILED;
    } else if (handshaking) {
        session->error = ETHER_ERR_TLS_HANDSHAKE;
    } else {
        session->error = ETHER_ERR_CORRUPT;
    }
    snprintf(session->error_message, sizeof session->error_message, "TLS %s failed: %s%s%s",
             handshaking ? "handshake" : "connection", reasons, separator, verify_reason);
    session->state = ETHER_TLS_FAILED;
    /* What was waiting can no longer be delivered. */
    queue_free(&session->plaintext_out);
    ETHER_ASSERT(session->error != ETHER_OK);
}

/* ---- sessions: driving OpenSSL -------------------------------------------------------- */

/* The common name of a verified peer, if its subject has exactly one without NUL bytes. */
static char *single_common_name(X509 *certificate)
{
    X509_NAME *subject = X509_get_subject_name(certificate);
    int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, index) >= 0) {
        return NULL;
    }
    ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char *utf8 = NULL;
    int length = ASN1_STRING_to_UTF8(&utf8, data);
    if (length < 0) {
        return NULL;
    }
    char *name = NULL;
    if (memchr(utf8, '\0', (size_t)length) == NULL) {
        name = ether_malloc((size_t)length + 1);
        memcpy(name, utf8, (size_t)length);
        name[length] = '\0';
    }
    OPENSSL_free(utf8);
    return name;
}

static void handshake_done(struct ether_tls_session *session)
{
    ETHER_ASSERT(session->state == ETHER_TLS_HANDSHAKING);
    X509 *certificate = SSL_get0_peer_certificate(session->ssl);
    session->peer_verified = certificate != NULL &&
                             SSL_get_verify_mode(session->ssl) != SSL_VERIFY_NONE &&
                             SSL_get_verify_result(session->ssl) == X509_V_OK;
    if (session->peer_verified) {
        session->peer_common_name = single_common_name(certificate);
    }
    /* A client never completes without having verified the server. */
    ETHER_ASSERT(session->role == ETHER_TLS_ROLE_SERVER || session->peer_verified);
    session->handshake_complete = true;
    session->state = ETHER_TLS_ESTABLISHED;
}

/* Encrypts plaintext_out into network_out. */
static void encrypt_waiting(struct ether_tls_session *session)
{
    ETHER_ASSERT(session->state == ETHER_TLS_ESTABLISHED);
    while (queue_bytes(&session->plaintext_out) > 0) {
        size_t written = 0;
        ERR_clear_error();
        int rc = SSL_write_ex(session->ssl, queue_head(&session->plaintext_out),
                              queue_bytes(&session->plaintext_out), &written);
        if (rc != 1) {
            int ssl_error = SSL_get_error(session->ssl, rc);
            if (ssl_error != SSL_ERROR_WANT_READ && ssl_error != SSL_ERROR_WANT_WRITE) {
                fail(session, ssl_error);
            }
            return;
        }
        queue_consume(&session->plaintext_out, written);
    }
}

static void send_close_notify(struct ether_tls_session *session)
{
    ETHER_ASSERT(!session->close_notify_sent);
    ERR_clear_error();
    int rc = SSL_shutdown(session->ssl);
    if (rc < 0) {
        int ssl_error = SSL_get_error(session->ssl, rc);
        if (ssl_error != SSL_ERROR_WANT_READ && ssl_error != SSL_ERROR_WANT_WRITE) {
            fail(session, ssl_error);
            return;
        }
    }
    session->close_notify_sent = true;
    session->state = ETHER_TLS_CLOSED;
}

/* Decrypts every complete record in network_in into plaintext_in. */
static void decrypt_arrived(struct ether_tls_session *session)
{
    while (session->state == ETHER_TLS_ESTABLISHED || session->state == ETHER_TLS_CLOSED) {
        if (!session->handshake_complete || session->peer_closed) {
            return;
        }
        struct ether_buf *buf = &session->plaintext_in.buf;
        ether_buf_reserve(buf, READ_CHUNK_BYTES);
        size_t read_bytes = 0;
        ERR_clear_error();
        int rc = SSL_read_ex(session->ssl, buf->data + buf->length, buf->capacity - buf->length,
                             &read_bytes);
        if (rc == 1) {
            buf->length += read_bytes;
            continue;
        }
        int ssl_error = SSL_get_error(session->ssl, rc);
        if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) {
            return;
        }
        if (ssl_error == SSL_ERROR_ZERO_RETURN) {
            /* The peer's close_notify: answer with ours, as TLS asks. */
            session->peer_closed = true;
            session->state = ETHER_TLS_CLOSED;
            if (!session->close_notify_sent) {
                send_close_notify(session);
            }
            return;
        }
        fail(session, ssl_error);
    }
}

/* Runs the session as far as the bytes it has allow. */
static void advance_steps(struct ether_tls_session *session)
{
    if (session->state == ETHER_TLS_HANDSHAKING) {
        ERR_clear_error();
        int rc = SSL_do_handshake(session->ssl);
        if (rc != 1) {
            int ssl_error = SSL_get_error(session->ssl, rc);
            if (ssl_error != SSL_ERROR_WANT_READ && ssl_error != SSL_ERROR_WANT_WRITE) {
                fail(session, ssl_error);
            }
            return;
        }
        handshake_done(session);
    }
    if (session->state == ETHER_TLS_ESTABLISHED) {
        encrypt_waiting(session);
    }
    decrypt_arrived(session);
}

static void advance(struct ether_tls_session *session)
{
    advance_steps(session);
    ERR_clear_error(); /* failures drained it; "want read" may leave notes that are not */
}

/* ---- sessions: the API ---------------------------------------------------------------- */

static bool is_ip_address(const char *name)
{
    unsigned char address[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, name, address) == 1 || inet_pton(AF_INET6, name, address) == 1;
}

/* Client sessions: which name the server's certificate must carry. */
static int set_server_name(SSL *ssl, const char *server_name, char *errstr, size_t errstr_size)
{
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    /* Names are checked against SANs only; "*.example.com" matches, "w*.example.com" not. */
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
                                               X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok;
    if (is_ip_address(server_name)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(param, server_name);
    } else {
        ok = X509_VERIFY_PARAM_set1_host(param, server_name, 0) == 1 &&
             SSL_set_tlsext_host_name(ssl, server_name) == 1;
    }
    if (ok != 1) {
        char reasons[ETHER_TLS_ERROR_MESSAGE_BYTES_MAX];
        drain_openssl_errors(reasons, sizeof reasons);
        snprintf(errstr, errstr_size, "TLS: '%s' is not a valid server name: %s", server_name,
                 reasons);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    return ETHER_OK;
}

int ether_tls_session_new(const struct ether_tls_config *config, const char *server_name,
                          struct ether_tls_session **session_out, char *errstr, size_t errstr_size)
{
    ETHER_ASSERT(config != NULL);
    ETHER_ASSERT(session_out != NULL);
    enum ether_tls_role role = config->options.role;
    if (role == ETHER_TLS_ROLE_CLIENT && !is_set(server_name)) {
        snprintf(errstr, errstr_size, "TLS: a client session needs the server's name");
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (role == ETHER_TLS_ROLE_SERVER && server_name != NULL) {
        snprintf(errstr, errstr_size, "TLS: a server session takes no server name");
        return ETHER_ERR_INVALID_ARGUMENT;
    }

    int rc;
    ERR_clear_error();
    SSL *ssl = SSL_new(config->context); /* takes a reference to the context */
    BIO *network_in = BIO_new(BIO_s_mem());
    BIO *network_out = BIO_new(BIO_s_mem());
    if (ssl == NULL || network_in == NULL || network_out == NULL) {
        ETHER_PANIC("out of memory in OpenSSL");
    }
    /* An empty input BIO means "more bytes later", not end of file. */
    BIO_set_mem_eof_return(network_in, -1);
    SSL_set_bio(ssl, network_in, network_out);
    if (role == ETHER_TLS_ROLE_CLIENT) {
        rc = set_server_name(ssl, server_name, errstr, errstr_size);
        if (rc != ETHER_OK) {
            goto err_after_ssl;
        }
        SSL_set_connect_state(ssl);
    } else {
        SSL_set_accept_state(ssl);
    }

    struct ether_tls_session *session = ether_calloc(1, sizeof *session);
    session->ssl = ssl;
    session->network_in = network_in;
    session->network_out = network_out;
    session->role = role;
    session->state = ETHER_TLS_HANDSHAKING;
    session->error = ETHER_OK;
    session->buffered_bytes_max = config->options.buffered_bytes_max;
    SSL_set_app_data(ssl, session);
    ETHER_ASSERT(session->buffered_bytes_max > 0);
    if (role == ETHER_TLS_ROLE_CLIENT) {
        advance(session); /* the ClientHello */
    }
    *session_out = session;
    return ETHER_OK;

err_after_ssl:
    SSL_free(ssl); /* and the BIOs */
    return rc;
}

void ether_tls_session_free(struct ether_tls_session *session)
{
    if (session == NULL) {
        return;
    }
    SSL_free(session->ssl);
    ether_free(session->peer_common_name);
    queue_free(&session->plaintext_in);
    queue_free(&session->plaintext_out);
    ether_free(session);
}

int ether_tls_session_receive(struct ether_tls_session *session, const void *bytes,
                              size_t bytes_count)
{
    ETHER_ASSERT(session != NULL);
    ETHER_ASSERT(bytes != NULL || bytes_count == 0);
    if (session->state == ETHER_TLS_FAILED) {
        return session->error;
    }
    if (session->peer_closed ||
        (session->state == ETHER_TLS_CLOSED && !session->handshake_complete)) {
        return ETHER_ERR_CLOSED;
    }
    /* Refuse only while unread plaintext is already over the cap, so a caller that reads
     * everything can always feed another chunk of any size. */
    if (queue_bytes(&session->plaintext_in) >= session->buffered_bytes_max) {
        return ETHER_ERR_BUSY;
    }
    if (bytes_count > 0) {
        size_t written = 0;
        if (BIO_write_ex(session->network_in, bytes, bytes_count, &written) != 1) {
            ETHER_PANIC("out of memory in OpenSSL");
        }
        ETHER_ASSERT(written == bytes_count);
    }
    advance(session);
    return session->state == ETHER_TLS_FAILED ? session->error : ETHER_OK;
}

int ether_tls_session_read(struct ether_tls_session *session, void *out, size_t out_capacity,
                           size_t *read_bytes)
{
    ETHER_ASSERT(session != NULL);
    ETHER_ASSERT(read_bytes != NULL);
    *read_bytes = 0;
    if (session->state == ETHER_TLS_FAILED) {
        return session->error;
    }
    size_t waiting = queue_bytes(&session->plaintext_in);
    size_t copied = waiting < out_capacity ? waiting : out_capacity;
    if (copied > 0) {
        memcpy(out, queue_head(&session->plaintext_in), copied);
        queue_consume(&session->plaintext_in, copied);
    }
    *read_bytes = copied;
    return ETHER_OK;
}

int ether_tls_session_write(struct ether_tls_session *session, const void *bytes,
                            size_t bytes_count)
{
    ETHER_ASSERT(session != NULL);
    ETHER_ASSERT(bytes != NULL || bytes_count == 0);
    if (session->state == ETHER_TLS_FAILED) {
        return session->error;
    }
    if (session->state == ETHER_TLS_CLOSED) {
        return ETHER_ERR_CLOSED;
    }
    if (bytes_count > session->buffered_bytes_max) {
        return ETHER_ERR_TOO_LARGE;
    }
    size_t waiting = queue_bytes(&session->plaintext_out) + BIO_ctrl_pending(session->network_out);
    if (waiting > session->buffered_bytes_max - bytes_count) {
        return ETHER_ERR_BUSY;
    }
    ether_buf_append(&session->plaintext_out.buf, bytes, bytes_count);
    if (session->state == ETHER_TLS_ESTABLISHED) {
        encrypt_waiting(session);
        ERR_clear_error();
    }
    return session->state == ETHER_TLS_FAILED ? session->error : ETHER_OK;
}

size_t ether_tls_session_output_bytes(const struct ether_tls_session *session)
{
    return BIO_ctrl_pending(session->network_out);
}

size_t ether_tls_session_take_output(struct ether_tls_session *session, void *out,
                                     size_t out_capacity)
{
    ETHER_ASSERT(session != NULL);
    ETHER_ASSERT(out != NULL || out_capacity == 0);
    size_t taken = 0;
    if (out_capacity > 0 && BIO_ctrl_pending(session->network_out) > 0) {
        if (BIO_read_ex(session->network_out, out, out_capacity, &taken) != 1) {
            taken = 0;
        }
    }
    ETHER_ASSERT(taken <= out_capacity);
    return taken;
}

int ether_tls_session_shutdown(struct ether_tls_session *session)
{
    ETHER_ASSERT(session != NULL);
    switch (session->state) {
    case ETHER_TLS_FAILED:
        return session->error;
    case ETHER_TLS_CLOSED:
        return ETHER_OK;
    case ETHER_TLS_HANDSHAKING:
        /* No keys yet, so nothing to protect a close_notify or the waiting plaintext with. */
        queue_free(&session->plaintext_out);
        session->state = ETHER_TLS_CLOSED;
        return ETHER_OK;
    case ETHER_TLS_ESTABLISHED:
        encrypt_waiting(session);
        if (session->state == ETHER_TLS_FAILED) {
            return session->error;
        }
        send_close_notify(session);
        ERR_clear_error();
        return session->state == ETHER_TLS_FAILED ? session->error : ETHER_OK;
    }
    ETHER_PANIC("unknown TLS session state");
}

enum ether_tls_state ether_tls_session_state(const struct ether_tls_session *session)
{
    return session->state;
}

int ether_tls_session_error(const struct ether_tls_session *session)
{
    return session->error;
}

const char *ether_tls_session_error_message(const struct ether_tls_session *session)
{
    return session->error_message;
}

bool ether_tls_session_peer_closed(const struct ether_tls_session *session)
{
    return session->peer_closed;
}

bool ether_tls_session_peer_verified(const struct ether_tls_session *session)
{
    return session->peer_verified;
}

const char *ether_tls_session_peer_common_name(const struct ether_tls_session *session)
{
    return session->peer_common_name;
}

const char *ether_tls_session_protocol(const struct ether_tls_session *session)
{
    return session->handshake_complete ? SSL_get_version(session->ssl) : "";
}

const char *ether_tls_session_cipher(const struct ether_tls_session *session)
{
    return session->handshake_complete ? SSL_get_cipher_name(session->ssl) : "";
}
