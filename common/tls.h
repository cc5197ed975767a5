/*
 * tls.h: TLS for Ether's connections, as a byte-in/byte-out engine (OpenSSL memory BIOs).
 *
 * The module does no I/O, starts no threads and never blocks: the caller moves bytes
 * between its socket (a libuv stream, a test's memory pipe) and a session. One loop
 * iteration of a caller looks like this:
 *
 *     bytes arrived on the socket  -> ether_tls_session_receive(session, bytes, n)
 *     plaintext for the protocol   <- ether_tls_session_read(session, ...) until 0 bytes
 *     plaintext to send            -> ether_tls_session_write(session, frame, n)
 *     ciphertext for the socket    <- ether_tls_session_take_output(session, ...)
 *                                     whenever ether_tls_session_output_bytes() > 0
 *
 * The handshake is driven by the same calls: a client session has its ClientHello ready
 * in the output as soon as it is created; plaintext written before the handshake ends is
 * kept and encrypted once it does.
 *
 * Two objects:
 *
 *   struct ether_tls_config   what one side of every connection presents and trusts:
 *                             the CA bundle, the certificate chain and private key, the
 *                             role, mTLS. Built from files; ether_tls_config_reload builds
 *                             a new one from the same files (for SIGHUP). Immutable after
 *                             creation, so it may be shared by threads.
 *   struct ether_tls_session  one connection. Used by one thread at a time.
 *
 * Ownership: a session keeps the OpenSSL context of the config it was made from alive by
 * itself (OpenSSL reference counts it), so a config may be freed, or replaced by a
 * reloaded one, while its sessions go on: they keep the certificates they started with.
 *
 * Policy, the same for every config (not options, so that no deployment weakens it):
 * TLS 1.2 at least, TLS 1.3 preferred; TLS 1.2 only with ECDHE key exchange and AEAD
 * ciphers (AES-GCM, ChaCha20-Poly1305); no compression, no renegotiation, no session
 * tickets or resumption; OpenSSL security level 2 (RSA keys of 2048 bits or more).
 * A client always verifies the server's chain against its CA bundle and the server's
 * name (a SAN of type IP or DNS, never the subject CN) against the name it dialled.
 * A server asks clients for a certificate in one of two modes, else not at all:
 *   require_client_certificate   (mTLS) refuses a client that has no certificate or one
 *                                that does not verify;
 *   request_client_certificate   verifies a certificate when the client presents one and
 *                                refuses it when it does not verify, but also accepts a
 *                                client that presents none (peer_verified is then false
 *                                and there is no peer common name), so that clients
 *                                without a certificate can authenticate otherwise (SCRAM)
 *                                while brokers and mTLS clients still present theirs.
 *
 * Session states:
 *
 *     HANDSHAKING --handshake done--> ESTABLISHED --close_notify sent or received--> CLOSED
 *          |  |                            |
 *          |  +---- shutdown (sends nothing) -------------------------------------> CLOSED
 *          +---------- any error ----------+--> FAILED   (terminal; one named error)
 *
 * A close_notify received is answered with ours at once (it waits in the output).
 *
 * Invariants: FAILED and CLOSED are never left. In FAILED, ether_tls_session_error is
 * not ETHER_OK and ether_tls_session_error_message is a sentence; the output may hold an
 * alert for the peer, which the caller should send before closing the socket. No
 * plaintext is read before the handshake has completed with every check the config asks
 * for, and none is written before that either (it waits in the session).
 *
 * OpenSSL's error queue is per thread: every call here that reaches OpenSSL clears it
 * first and leaves it empty, having turned what it held into a sentence.
 *
 * Errors of sessions: ETHER_ERR_AUTHENTICATION_FAILED when a certificate is missing,
 * untrusted, expired or for another name (ours refused by the peer, or the peer's by
 * us); ETHER_ERR_TLS_HANDSHAKE for any other handshake failure (no common protocol
 * version or cipher, bytes that are not TLS); ETHER_ERR_CORRUPT for a bad record after
 * the handshake; ETHER_ERR_CLOSED for writes after CLOSED; ETHER_ERR_BUSY when more than
 * buffered_bytes_max would be waiting in the session (back-pressure: drain and retry);
 * ETHER_ERR_TOO_LARGE for one write larger than buffered_bytes_max.
 */
#ifndef ETHER_COMMON_TLS_H
#define ETHER_COMMON_TLS_H

#include <stdbool.h>
#include <stddef.h>

enum ether_tls_role {
    ETHER_TLS_ROLE_SERVER = 1,
    ETHER_TLS_ROLE_CLIENT = 2,
};

enum ether_tls_version {
    ETHER_TLS_VERSION_DEFAULT = 0, /* minimum: TLS 1.2; maximum: TLS 1.3 */
    ETHER_TLS_VERSION_1_2 = 12,
    ETHER_TLS_VERSION_1_3 = 13,
};

enum ether_tls_state {
    ETHER_TLS_HANDSHAKING = 1,
    ETHER_TLS_ESTABLISHED = 2,
    ETHER_TLS_CLOSED = 3,
    ETHER_TLS_FAILED = 4,
};

enum {
    /* Default cap on bytes waiting inside one session (plaintext not yet encrypted or
     * read, ciphertext not yet taken). */
    ETHER_TLS_BUFFERED_BYTES_MAX_DEFAULT = 16 * 1024 * 1024,
    /* Room for ether_tls_session_error_message's sentence, and for config errors. */
    ETHER_TLS_ERROR_MESSAGE_BYTES_MAX = 256,
};

struct ether_tls_config_options {
    enum ether_tls_role role;
    /* PEM file of the CAs that sign peers' certificates. Required for clients and for
     * servers with require_ or request_client_certificate; ignored otherwise. */
    const char *ca_file;
    /* PEM file: this side's certificate first, then any intermediates. Required for
     * servers; for clients, the certificate presented to servers that ask (mTLS). */
    const char *certificate_file;
    /* PEM file of certificate_file's private key, unencrypted. Required with
     * certificate_file. */
    const char *private_key_file;
    /* Servers: refuse clients without a certificate signed by ca_file. */
    bool require_client_certificate;
    /* Servers: ask for a client certificate, verify it against ca_file when one is
     * presented (refusing one that does not verify), accept a client without one.
     * Ignored with require_client_certificate. */
    bool request_client_certificate;
    /* Narrow the protocol versions (tests, interoperability); never below TLS 1.2. */
    enum ether_tls_version minimum_version;
    enum ether_tls_version maximum_version;
    /* Cap of each session's buffered bytes; 0 means ETHER_TLS_BUFFERED_BYTES_MAX_DEFAULT. */
    size_t buffered_bytes_max;
};

struct ether_tls_config;
struct ether_tls_session;

/*
 * Builds a config from `options`, whose strings are copied. On success returns ETHER_OK
 * and the caller owns *config_out (free with ether_tls_config_free). On failure returns
 * ETHER_ERR_INVALID_ARGUMENT (options that contradict each other or the policy, a key
 * that does not match the certificate, a file that is not PEM) or ETHER_ERR_IO (a file
 * that cannot be read), writes a sentence naming the file and OpenSSL's reason into
 * errstr, and leaves *config_out untouched.
 */
int ether_tls_config_new(const struct ether_tls_config_options *options,
                         struct ether_tls_config **config_out, char *errstr, size_t errstr_size);

/*
 * Builds a new config from the same options and files as `config` (which now hold the
 * renewed certificate or key), for a SIGHUP. Same results as ether_tls_config_new; on
 * failure `config` is still valid and unchanged. `config` stays owned by the caller,
 * who usually frees it after installing the new one; sessions made from it continue.
 */
int ether_tls_config_reload(const struct ether_tls_config *config,
                            struct ether_tls_config **config_out, char *errstr, size_t errstr_size);

/* Frees `config` (NULL is a no-op). Sessions made from it are not affected. */
void ether_tls_config_free(struct ether_tls_config *config);

enum ether_tls_role ether_tls_config_role(const struct ether_tls_config *config);

/*
 * A new session on `config`, in state HANDSHAKING. A client session needs
 * `server_name`, the name it dialled: an IPv4 or IPv6 address is checked against the
 * server certificate's IP SANs, anything else against its DNS SANs and also sent as
 * SNI; a server session takes NULL. On success returns ETHER_OK and the caller owns
 * *session_out (free with ether_tls_session_free); a client session's ClientHello is
 * already in its output. On failure returns ETHER_ERR_INVALID_ARGUMENT with a sentence
 * in errstr.
 */
int ether_tls_session_new(const struct ether_tls_config *config, const char *server_name,
                          struct ether_tls_session **session_out, char *errstr, size_t errstr_size);

/* Frees `session` (NULL is a no-op) without sending anything. */
void ether_tls_session_free(struct ether_tls_session *session);

/*
 * Feeds `bytes_count` bytes received from the peer's socket. They are consumed entirely
 * (the handshake advances, records are decrypted for ether_tls_session_read, a
 * close_notify moves the session to CLOSED and queues ours) and the caller may reuse
 * `bytes` at once. Returns ETHER_OK; the session's error once it is FAILED (this call may
 * be the one that fails it: then take the output, it may hold an alert); ETHER_ERR_CLOSED
 * after the peer's close_notify (or a shutdown during the handshake); ETHER_ERR_BUSY,
 * consuming nothing, while buffered_bytes_max bytes of plaintext or more wait to be read
 * (so one receive of any size is always accepted after reading everything).
 */
int ether_tls_session_receive(struct ether_tls_session *session, const void *bytes,
                              size_t bytes_count);

/*
 * Copies up to `out_capacity` bytes of decrypted plaintext into `out` and sets *read_bytes
 * (0 when none is waiting). Returns ETHER_OK, also in CLOSED while plaintext is left, or
 * the session's error once it is FAILED.
 */
int ether_tls_session_read(struct ether_tls_session *session, void *out, size_t out_capacity,
                           size_t *read_bytes);

/*
 * Queues `bytes_count` bytes of plaintext for the peer, all or nothing; they become
 * ciphertext in the output at once when ESTABLISHED, else when the handshake ends. The
 * caller may reuse `bytes` at once. Returns ETHER_OK; ETHER_ERR_CLOSED in CLOSED; the
 * session's error in FAILED; ETHER_ERR_BUSY, queueing nothing, when the plaintext and
 * ciphertext waiting in the session would exceed buffered_bytes_max (take the output and
 * retry); ETHER_ERR_TOO_LARGE when bytes_count alone exceeds it.
 */
int ether_tls_session_write(struct ether_tls_session *session, const void *bytes,
                            size_t bytes_count);

/* How many bytes of ciphertext wait to be sent to the peer. */
size_t ether_tls_session_output_bytes(const struct ether_tls_session *session);

/*
 * Moves up to `out_capacity` bytes of ciphertext for the peer into `out` and returns how
 * many; the caller sends them in order. Works in every state (a FAILED session may have
 * an alert to send, a CLOSED one its close_notify).
 */
size_t ether_tls_session_take_output(struct ether_tls_session *session, void *out,
                                     size_t out_capacity);

/*
 * Ends the session cleanly: plaintext already written is encrypted, then our
 * close_notify is queued in the output, and the session is CLOSED (idempotent; in
 * HANDSHAKING nothing can be sent and the session is simply CLOSED). Plaintext that
 * arrives before the peer's close_notify can still be read. Returns ETHER_OK, or the
 * session's error when it is FAILED.
 */
int ether_tls_session_shutdown(struct ether_tls_session *session);

enum ether_tls_state ether_tls_session_state(const struct ether_tls_session *session);

/* ETHER_OK unless FAILED; then ETHER_ERR_AUTHENTICATION_FAILED, _TLS_HANDSHAKE or _CORRUPT. */
int ether_tls_session_error(const struct ether_tls_session *session);

/* A sentence on why the session failed (from OpenSSL's error queue and the certificate
 * check, e.g. "certificate verify failed: hostname mismatch"); "" unless FAILED. Valid
 * until the session is freed. */
const char *ether_tls_session_error_message(const struct ether_tls_session *session);

/* Whether the peer's close_notify arrived (a clean end, as opposed to a cut connection). */
bool ether_tls_session_peer_closed(const struct ether_tls_session *session);

/* Whether the handshake ended with a peer certificate that verified against the CA
 * bundle (and, for clients, matched server_name). False for a server without mTLS, and
 * for a client that presented no certificate to a server that only requested one. */
bool ether_tls_session_peer_verified(const struct ether_tls_session *session);

/* The subject common name of the peer's verified certificate ("alice", "broker-2"), for
 * mapping an mTLS client to a principal; NULL when not peer_verified, or when the subject
 * has no CN, several (ambiguous), or one with a NUL byte. Valid until the session is freed. */
const char *ether_tls_session_peer_common_name(const struct ether_tls_session *session);

/* "TLSv1.3", "TLSv1.2" once the handshake is done, else "". */
const char *ether_tls_session_protocol(const struct ether_tls_session *session);

/* The negotiated cipher suite ("TLS_AES_256_GCM_SHA384") once the handshake is done,
 * else "". */
const char *ether_tls_session_cipher(const struct ether_tls_session *session);

#endif
