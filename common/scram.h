/*
 * scram.h: SCRAM-SHA-256 (RFC 5802 with the SHA-256 of RFC 7677), the SASL
 * mechanism clients log in with when they have no certificate.
 *
 * What it is for. A user's password is never stored and never sent to the
 * broker during a login: the controller state keeps a credential (salt,
 * iteration count, StoredKey, ServerKey), the client proves it knows the
 * password with a proof computed from a nonce both sides contributed, and the
 * server proves it holds the credential with its signature. Both sides run
 * here as small state machines that turn one received message into the next
 * message to send; they do no I/O, so the broker and libether drive them from
 * their own request handling. OpenSSL does the hashing (SHA-256, HMAC,
 * PBKDF2) and the randomness (RAND_bytes).
 *
 * Messages (RFC 5802 section 7; no channel binding, gs2 header "n,,"):
 *   client-first  n,,n=<user>,r=<client nonce>
 *   server-first  r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
 *   client-final  c=biws,r=<nonce>,p=<base64 ClientProof>
 *   server-final  v=<base64 ServerSignature>
 * User names are SASLprep'ed only in the trivial sense: printable ASCII
 * (0x21..0x7E, so no space), ',' and '=' included (they travel escaped as =2C
 * and =3D; the escaping is done here), 1 to ETHER_SCRAM_USER_BYTES_MAX bytes;
 * anything else is ETHER_ERR_INVALID_ARGUMENT.
 *
 * Owns: each exchange owns its nonces, user name and the messages it must
 * keep for the AuthMessage; ether_scram_*_free wipes secrets before freeing.
 *
 * Invariants:
 *   - every message from the peer is untrusted: a malformed one is
 *     ETHER_ERR_AUTHENTICATION_FAILED with a sentence, never a crash or a read
 *     past its length;
 *   - an exchange moves forward only: calling a step out of order is
 *     ETHER_ERR_INVALID_ARGUMENT and the exchange is then failed for good;
 *   - the server treats an unknown user exactly like a wrong password (it
 *     answers server-first with a salt derived from the user name and a secret,
 *     the caller's through ether_scram_credential_for_unknown_user or else a
 *     per-process one, and fails at client-final), so a client cannot tell
 *     which users exist (but for users created with a non-default iteration
 *     count, which server-first shows);
 *   - comparisons of proofs and signatures take constant time.
 */
#ifndef ETHER_COMMON_SCRAM_H
#define ETHER_COMMON_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define ETHER_SCRAM_MECHANISM "SCRAM-SHA-256"

enum {
    ETHER_SCRAM_KEY_BYTES = 32,            /* SHA-256 output */
    ETHER_SCRAM_SALT_BYTES = 16,           /* what ether_scram_credential_new draws */
    ETHER_SCRAM_SALT_BYTES_MAX = 64,       /* the longest salt accepted anywhere */
    ETHER_SCRAM_ITERATIONS_DEFAULT = 4096, /* RFC 7677's minimum, Kafka's default */
    ETHER_SCRAM_ITERATIONS_MIN = 4096,     /* fewer is refused on both sides */
    ETHER_SCRAM_ITERATIONS_MAX = 1000000,  /* more is refused (a client-side DoS guard) */
    /* The most a new user may get: a broker hashes the password on its event loop. */
    ETHER_SCRAM_ITERATIONS_CREATE_MAX = 100000,
    ETHER_SCRAM_USER_BYTES_MAX = 128,
    ETHER_SCRAM_PASSWORD_BYTES_MAX = 1024,
    ETHER_SCRAM_MESSAGE_BYTES_MAX = 1024, /* longer peer messages are refused */
    ETHER_SCRAM_ERROR_BYTES = 160,
};

/* What the controller state stores for a user. */
struct ether_scram_credential {
    uint32_t iterations;
    size_t salt_bytes;
    uint8_t salt[ETHER_SCRAM_SALT_BYTES_MAX];
    uint8_t stored_key[ETHER_SCRAM_KEY_BYTES];
    uint8_t server_key[ETHER_SCRAM_KEY_BYTES];
};

/*
 * Derives the credential of `password` with a fresh random salt of
 * ETHER_SCRAM_SALT_BYTES and `iterations` (0: the default). Returns 0;
 * ETHER_ERR_INVALID_ARGUMENT for an empty or too long password or iterations
 * out of [MIN, MAX]; ETHER_ERR_IO when OpenSSL fails (no randomness).
 */
int ether_scram_credential_new(const char *password, uint32_t iterations,
                               struct ether_scram_credential *credential);

/* The same with a given salt (deterministic; for tests and RFC test vectors). */
int ether_scram_credential_derive(const char *password, const uint8_t *salt, size_t salt_bytes,
                                  uint32_t iterations, struct ether_scram_credential *credential);

/*
 * The made-up credential of a user that does not exist: salt, keys derived from `secret` and
 * the user name with HMAC-SHA-256, iterations ETHER_SCRAM_ITERATIONS_DEFAULT. Servers that
 * share the secret (a cluster's brokers) answer such a user identically, and the same every
 * time, as they would a real one; no password matches it. Pass it to ether_scram_server_first
 * in place of the missing user's.
 */
void ether_scram_credential_for_unknown_user(const uint8_t *secret, size_t secret_bytes,
                                             const char *user,
                                             struct ether_scram_credential *credential);

/* True when the user name is one SCRAM carries (see the top of this file). */
bool ether_scram_user_name_valid(const char *user);

/* ---- client ------------------------------------------------------------------------- */

struct ether_scram_client;

/* ETHER_ERR_INVALID_ARGUMENT for an invalid user name or password. */
int ether_scram_client_new(const char *user, const char *password,
                           struct ether_scram_client **client_out);

/* Appends client-first to `out`. */
int ether_scram_client_first(struct ether_scram_client *client, struct ether_buf *out);

/*
 * Takes server-first and appends client-final to `out`. Returns
 * ETHER_ERR_AUTHENTICATION_FAILED (sentence in errbuf) when server-first is
 * malformed, does not extend the client's nonce, or asks for iterations out of
 * [MIN, MAX].
 */
int ether_scram_client_final(struct ether_scram_client *client, const uint8_t *server_first,
                             size_t server_first_bytes, struct ether_buf *out, char *errbuf,
                             size_t errbuf_size);

/*
 * Checks server-final: 0 when the server proved it holds the credential;
 * ETHER_ERR_AUTHENTICATION_FAILED otherwise (a server reporting "e=..." or a
 * wrong signature, which means the server is not who it claims).
 */
int ether_scram_client_verify(struct ether_scram_client *client, const uint8_t *server_final,
                              size_t server_final_bytes, char *errbuf, size_t errbuf_size);

void ether_scram_client_free(struct ether_scram_client *client);

/* ---- server ------------------------------------------------------------------------- */

struct ether_scram_server;

struct ether_scram_server *ether_scram_server_new(void);

/*
 * Parses client-first and copies the (unescaped) user name into user_out. The
 * caller looks the user up and calls ether_scram_server_first. Returns
 * ETHER_ERR_AUTHENTICATION_FAILED for a malformed message, a channel-binding
 * request or an invalid user name.
 */
int ether_scram_server_receive_first(struct ether_scram_server *server, const uint8_t *client_first,
                                     size_t client_first_bytes, char *user_out,
                                     size_t user_out_size, char *errbuf, size_t errbuf_size);

/*
 * Appends server-first to `out`. `credential` is the user's, or NULL when
 * there is no such user: the exchange then goes on with a made-up salt and
 * fails at client-final, as a wrong password does.
 */
int ether_scram_server_first(struct ether_scram_server *server,
                             const struct ether_scram_credential *credential,
                             struct ether_buf *out);

/*
 * Takes client-final. On a correct proof returns 0 and appends server-final to
 * `out`: the client is authenticated as the user of client-first. Otherwise
 * ETHER_ERR_AUTHENTICATION_FAILED with a sentence that does not say whether
 * the user exists ("wrong user name or password" for both).
 */
int ether_scram_server_final(struct ether_scram_server *server, const uint8_t *client_final,
                             size_t client_final_bytes, struct ether_buf *out, char *errbuf,
                             size_t errbuf_size);

void ether_scram_server_free(struct ether_scram_server *server);

#endif
