/*
 * scram.c: the SCRAM-SHA-256 exchanges of scram.h (RFC 5802, RFC 7677).
 *
 * Happy path, client C and server S:
 *
 *   C client_first     -> "n,,n=<user>,r=<cnonce>"         keeps client-first-bare
 *   S receive_first    <- parses it, hands out the user name for the lookup
 *   S server_first     -> "r=<cnonce><snonce>,s=..,i=.."  keeps it and the user's keys
 *   C client_final     <- checks it; PBKDF2 of the password; wipes the password;
 *                      -> "c=biws,r=..,p=<proof>"         keeps the ServerSignature due
 *   S server_final     <- checks the proof against StoredKey -> "v=<ServerSignature>"
 *   C client_verify    <- compares the signature
 *
 *   AuthMessage = client-first-bare "," server-first "," client-final-without-proof
 *   ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage)
 *   ServerSignature = HMAC(ServerKey, AuthMessage)
 *
 * Failure modes: a peer message that is malformed, too long, or proves nothing is
 * ETHER_ERR_AUTHENTICATION_FAILED with a sentence; a step called out of order is
 * ETHER_ERR_INVALID_ARGUMENT; no randomness is ETHER_ERR_IO. After any of them the
 * exchange is FAILED, its secrets are wiped, and every later step is
 * ETHER_ERR_INVALID_ARGUMENT. SHA-256 and HMAC fail only without memory, which the
 * project's allocation policy answers with an abort (mem.h); so do they.
 *
 * Strictness (both ends are Ether, so nothing optional is spoken or accepted):
 *   - attributes come in RFC 5802's order, each once, and no others: no "m=", no
 *     extensions, no authorization identity ("n,a=someone,");
 *   - the gs2 header is "n,," (what our client sends) or "y,," (a client that could
 *     bind to the channel but believes the server cannot; RFC 5802 section 6 lets a
 *     server without channel binding accept it); "p=..." is refused. c= must be the
 *     base64 of exactly the header the client sent ("biws" for "n,,");
 *   - base64 is the standard alphabet with padding, canonical (unused bits zero);
 *   - i= is a decimal without leading zeros in [ITERATIONS_MIN, ITERATIONS_MAX];
 *   - nonces are printable ASCII without ','; a server takes client nonces of at most
 *     NONCE_TEXT_BYTES_MAX characters, and a server nonce must add at least one.
 *
 * Process-wide state, the one exception to "no mutable globals": the secret from which
 * unknown users' made-up salts are derived when the caller has no secret of its own
 * (ether_scram_server_first with a NULL credential). It must be the same for every
 * exchange of the process (a salt that changed from one try to the next would tell that
 * the user does not exist), is drawn once (pthread_once) and never changes afterwards.
 * Servers that must answer alike (the brokers of a cluster) share a secret instead and
 * pass ether_scram_credential_for_unknown_user's credential.
 */
#include "common/scram.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "common/scram_test.h"

enum {
    NONCE_RANDOM_BYTES = 24,
    NONCE_TEXT_BYTES = 32,      /* base64 of NONCE_RANDOM_BYTES */
    NONCE_TEXT_BYTES_MAX = 128, /* longest client nonce a server takes; longest test nonce */
    FAKE_SECRET_BYTES = 32,
    PEER_ERROR_BYTES_MAX = 64, /* of a server's "e=" quoted in our sentence */
};

_Static_assert(NONCE_TEXT_BYTES == (NONCE_RANDOM_BYTES + 2) / 3 * 4, "base64 length");
_Static_assert(NONCE_TEXT_BYTES <= NONCE_TEXT_BYTES_MAX, "our nonces fit the limit");
_Static_assert(ETHER_SCRAM_SALT_BYTES <= ETHER_SCRAM_SALT_BYTES_MAX, "salt limits");
_Static_assert(ETHER_SCRAM_SALT_BYTES <= ETHER_SCRAM_KEY_BYTES, "fake salts are cut from HMACs");
_Static_assert(ETHER_SCRAM_ITERATIONS_MIN <= ETHER_SCRAM_ITERATIONS_DEFAULT, "iteration limits");
_Static_assert(ETHER_SCRAM_ITERATIONS_DEFAULT <= ETHER_SCRAM_ITERATIONS_MAX, "iteration limits");
_Static_assert(ETHER_SCRAM_ITERATIONS_MAX <= 2147483647, "PBKDF2 takes an int");
_Static_assert(ETHER_SCRAM_PASSWORD_BYTES_MAX <= 2147483647, "PBKDF2 takes an int");

static const char CLIENT_KEY_LABEL[] = "Client Key";
static const char SERVER_KEY_LABEL[] = "Server Key";
static const char WRONG_LOGIN[] = "SCRAM: wrong user name or password";

/* ---- small helpers -------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void set_error(char *errbuf, size_t errbuf_size,
                                                            const char *format, ...)
{
    if (errbuf == NULL || errbuf_size == 0) {
        return;
    }
    va_list args;
    va_start(args, format);
    vsnprintf(errbuf, errbuf_size, format, args);
    va_end(args);
}

static void append_string(struct ether_buf *buf, const char *string)
{
    ether_buf_append(buf, string, strlen(string));
}

/* RFC 5802's "printable": what nonces are made of. */
static bool is_nonce_char(uint8_t c)
{
    return c >= 0x21 && c <= 0x7e && c != ',';
}

static bool is_user_char(uint8_t c)
{
    return c >= 0x21 && c <= 0x7e;
}

static bool valid_nonce_text(const char *nonce)
{
    if (nonce == NULL) {
        return false;
    }
    size_t length = strnlen(nonce, NONCE_TEXT_BYTES_MAX + 1);
    if (length == 0 || length > NONCE_TEXT_BYTES_MAX) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        if (!is_nonce_char((uint8_t)nonce[i])) {
            return false;
        }
    }
    return true;
}

/* ---- base64 (standard alphabet, padded, canonical) ------------------------------------ */

static const char BASE64_ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t base64_length(size_t bytes)
{
    return (bytes + 2) / 3 * 4;
}

static void base64_append(struct ether_buf *out, const uint8_t *in, size_t in_bytes)
{
    char *text = (char *)ether_buf_extend(out, base64_length(in_bytes));
    size_t used = 0;
    for (size_t i = 0; i < in_bytes; i += 3) {
        size_t left = in_bytes - i;
        uint32_t group = (uint32_t)in[i] << 16;
        if (left > 1) {
            group |= (uint32_t)in[i + 1] << 8;
        }
        if (left > 2) {
            group |= in[i + 2];
        }
        text[used++] = BASE64_ALPHABET[(group >> 18) & 0x3f];
        text[used++] = BASE64_ALPHABET[(group >> 12) & 0x3f];
        text[used++] = left > 1 ? BASE64_ALPHABET[(group >> 6) & 0x3f] : '=';
        text[used++] = left > 2 ? BASE64_ALPHABET[group & 0x3f] : '=';
    }
    ETHER_ASSERT(used == base64_length(in_bytes));
}

static int base64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

/*
 * Decodes `in` into `out`; false unless `in` is non-empty, well-formed, canonical base64
 * of 1 to out_capacity bytes.
 */
static bool base64_decode(const uint8_t *in, size_t in_bytes, uint8_t *out, size_t out_capacity,
                          size_t *out_bytes)
{
    if (in_bytes == 0 || in_bytes % 4 != 0) {
        return false;
    }
    size_t padding = 0;
    if (in[in_bytes - 1] == '=') {
        padding = in[in_bytes - 2] == '=' ? 2 : 1;
    }
    size_t decoded = in_bytes / 4 * 3 - padding;
    if (decoded == 0 || decoded > out_capacity) {
        return false;
    }
    size_t written = 0;
    for (size_t i = 0; i < in_bytes; i += 4) {
        bool last = i + 4 == in_bytes;
        uint32_t group = 0;
        for (size_t j = 0; j < 4; j++) {
            int value = 0;
            if (!last || j < 4 - padding) {
                value = base64_value(in[i + j]);
                if (value < 0) {
                    return false; /* also a '=' anywhere but at the end */
                }
            }
            group = (group << 6) | (uint32_t)value;
        }
        if (last && padding == 1 && (group & 0xff) != 0) {
            return false; /* non-canonical: bits beyond the last byte are set */
        }
        if (last && padding == 2 && (group & 0xffff) != 0) {
            return false;
        }
        for (size_t j = 0; j < 3 && written < decoded; j++) {
            out[written++] = (uint8_t)(group >> (16 - 8 * j));
        }
    }
    ETHER_ASSERT(written == decoded);
    *out_bytes = decoded;
    return true;
}

/* ---- cryptography --------------------------------------------------------------------- */

static void hmac_sha256(const uint8_t *key, size_t key_bytes, const void *data, size_t data_bytes,
                        uint8_t out[ETHER_SCRAM_KEY_BYTES])
{
    ETHER_ASSERT(key_bytes <= 1024);
    unsigned int out_bytes = 0;
    if (HMAC(EVP_sha256(), key, (int)key_bytes, data, data_bytes, out, &out_bytes) == NULL) {
        ETHER_PANIC("HMAC-SHA-256 failed in OpenSSL (out of memory)");
    }
    ETHER_ASSERT(out_bytes == ETHER_SCRAM_KEY_BYTES);
}

static void sha256(const uint8_t *data, size_t data_bytes, uint8_t out[ETHER_SCRAM_KEY_BYTES])
{
    if (SHA256(data, data_bytes, out) == NULL) {
        ETHER_PANIC("SHA-256 failed in OpenSSL");
    }
}

/* A password's keys: ClientKey (the client's secret), StoredKey and ServerKey. */
struct keys {
    uint8_t client_key[ETHER_SCRAM_KEY_BYTES];
    uint8_t stored_key[ETHER_SCRAM_KEY_BYTES];
    uint8_t server_key[ETHER_SCRAM_KEY_BYTES];
};

/* False when OpenSSL refuses (a provider's policy, no memory). */
static bool derive_keys(const char *password, size_t password_bytes, const uint8_t *salt,
                        size_t salt_bytes, uint32_t iterations, struct keys *keys)
{
    ETHER_ASSERT(password_bytes <= ETHER_SCRAM_PASSWORD_BYTES_MAX);
    ETHER_ASSERT(salt_bytes > 0);
    ETHER_ASSERT(salt_bytes <= ETHER_SCRAM_SALT_BYTES_MAX);
    ETHER_ASSERT(iterations >= ETHER_SCRAM_ITERATIONS_MIN);
    ETHER_ASSERT(iterations <= ETHER_SCRAM_ITERATIONS_MAX);
    uint8_t salted_password[ETHER_SCRAM_KEY_BYTES];
    ERR_clear_error();
    int ok =
        PKCS5_PBKDF2_HMAC(password, (int)password_bytes, salt, (int)salt_bytes, (int)iterations,
                          EVP_sha256(), (int)sizeof salted_password, salted_password);
    if (ok != 1) {
        ERR_clear_error();
        OPENSSL_cleanse(salted_password, sizeof salted_password);
        return false;
    }
    hmac_sha256(salted_password, sizeof salted_password, CLIENT_KEY_LABEL, strlen(CLIENT_KEY_LABEL),
                keys->client_key);
    sha256(keys->client_key, sizeof keys->client_key, keys->stored_key);
    hmac_sha256(salted_password, sizeof salted_password, SERVER_KEY_LABEL, strlen(SERVER_KEY_LABEL),
                keys->server_key);
    OPENSSL_cleanse(salted_password, sizeof salted_password);
    return true;
}

/* Fills `out` with a fresh nonce: base64 of NONCE_RANDOM_BYTES random bytes. */
static int random_nonce(char *out, size_t out_size)
{
    ETHER_ASSERT(out_size > NONCE_TEXT_BYTES);
    uint8_t random[NONCE_RANDOM_BYTES];
    ERR_clear_error();
    if (RAND_bytes(random, (int)sizeof random) != 1) {
        ERR_clear_error();
        return ETHER_ERR_IO;
    }
    struct ether_buf text = ETHER_BUF_INIT;
    base64_append(&text, random, sizeof random);
    ETHER_ASSERT(text.length == NONCE_TEXT_BYTES);
    memcpy(out, text.data, text.length);
    out[text.length] = '\0';
    ether_buf_free(&text);
    return ETHER_OK;
}

static bool valid_password(const char *password)
{
    if (password == NULL) {
        return false;
    }
    size_t length = strnlen(password, ETHER_SCRAM_PASSWORD_BYTES_MAX + 1);
    return length > 0 && length <= ETHER_SCRAM_PASSWORD_BYTES_MAX;
}

/* ---- credentials ---------------------------------------------------------------------- */

static bool valid_credential_arguments(const char *password, uint32_t iterations)
{
    return valid_password(password) && iterations >= ETHER_SCRAM_ITERATIONS_MIN &&
           iterations <= ETHER_SCRAM_ITERATIONS_MAX;
}

int ether_scram_credential_derive(const char *password, const uint8_t *salt, size_t salt_bytes,
                                  uint32_t iterations, struct ether_scram_credential *credential)
{
    ETHER_ASSERT(credential != NULL);
    if (iterations == 0) {
        iterations = ETHER_SCRAM_ITERATIONS_DEFAULT;
    }
    if (!valid_credential_arguments(password, iterations) || salt == NULL || salt_bytes == 0 ||
        salt_bytes > ETHER_SCRAM_SALT_BYTES_MAX) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    struct keys keys;
    if (!derive_keys(password, strlen(password), salt, salt_bytes, iterations, &keys)) {
        return ETHER_ERR_IO;
    }
    memset(credential, 0, sizeof *credential);
    credential->iterations = iterations;
    credential->salt_bytes = salt_bytes;
    memcpy(credential->salt, salt, salt_bytes);
    memcpy(credential->stored_key, keys.stored_key, sizeof keys.stored_key);
    memcpy(credential->server_key, keys.server_key, sizeof keys.server_key);
    OPENSSL_cleanse(&keys, sizeof keys);
    return ETHER_OK;
}

int ether_scram_credential_new(const char *password, uint32_t iterations,
                               struct ether_scram_credential *credential)
{
    ETHER_ASSERT(credential != NULL);
    if (iterations == 0) {
        iterations = ETHER_SCRAM_ITERATIONS_DEFAULT;
    }
    if (!valid_credential_arguments(password, iterations)) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    uint8_t salt[ETHER_SCRAM_SALT_BYTES];
    ERR_clear_error();
    if (RAND_bytes(salt, (int)sizeof salt) != 1) {
        ERR_clear_error();
        return ETHER_ERR_IO;
    }
    return ether_scram_credential_derive(password, salt, sizeof salt, iterations, credential);
}

bool ether_scram_user_name_valid(const char *user)
{
    if (user == NULL) {
        return false;
    }
    size_t length = strnlen(user, ETHER_SCRAM_USER_BYTES_MAX + 1);
    if (length == 0 || length > ETHER_SCRAM_USER_BYTES_MAX) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        if (!is_user_char((uint8_t)user[i])) {
            return false;
        }
    }
    return true;
}

/* ---- parsing peer messages ------------------------------------------------------------ */

/* What is left of a peer message. */
struct cursor {
    const uint8_t *at;
    size_t left;
};

struct span {
    const uint8_t *data;
    size_t length;
};

/* Takes "<name>=<value>", the value running to the next ',' or the end (maybe empty). */
static bool take_attribute(struct cursor *cursor, char name, struct span *value)
{
    if (cursor->left < 2 || cursor->at[0] != (uint8_t)name || cursor->at[1] != '=') {
        return false;
    }
    const uint8_t *start = cursor->at + 2;
    size_t rest = cursor->left - 2;
    const uint8_t *comma = memchr(start, ',', rest);
    size_t length = comma != NULL ? (size_t)(comma - start) : rest;
    value->data = start;
    value->length = length;
    cursor->at = start + length;
    cursor->left = rest - length;
    ETHER_ASSERT(cursor->left == 0 || cursor->at[0] == ',');
    return true;
}

static bool take_comma(struct cursor *cursor)
{
    if (cursor->left == 0 || cursor->at[0] != ',') {
        return false;
    }
    cursor->at++;
    cursor->left--;
    return true;
}

static bool span_is_nonce(struct span value)
{
    if (value.length == 0) {
        return false;
    }
    for (size_t i = 0; i < value.length; i++) {
        if (!is_nonce_char(value.data[i])) {
            return false;
        }
    }
    return true;
}

static bool span_equals(struct span value, const void *data, size_t length)
{
    return value.length == length && memcmp(value.data, data, length) == 0;
}

/* RFC 5802's posit-number within the iteration limits. */
static bool parse_iterations(struct span value, uint32_t *iterations)
{
    if (value.length == 0 || value.data[0] < '1' || value.data[0] > '9') {
        return false;
    }
    uint64_t number = 0;
    for (size_t i = 0; i < value.length; i++) {
        uint8_t c = value.data[i];
        if (c < '0' || c > '9') {
            return false;
        }
        number = number * 10 + (uint64_t)(c - '0');
        if (number > ETHER_SCRAM_ITERATIONS_MAX) {
            return false; /* also stops before the number could overflow */
        }
    }
    if (number < ETHER_SCRAM_ITERATIONS_MIN) {
        return false;
    }
    *iterations = (uint32_t)number;
    return true;
}

/* Unescapes a saslname into `user`; NULL, or what is wrong with it. */
static const char *unescape_user(struct span value, char user[ETHER_SCRAM_USER_BYTES_MAX + 1])
{
    size_t used = 0;
    for (size_t i = 0; i < value.length; i++) {
        uint8_t c = value.data[i];
        if (c == '=') {
            size_t rest = value.length - i - 1;
            if (rest >= 2 && value.data[i + 1] == '2' && value.data[i + 2] == 'C') {
                c = ',';
            } else if (rest >= 2 && value.data[i + 1] == '3' && value.data[i + 2] == 'D') {
                c = '=';
            } else {
                return "the user name has an '=' that is neither =2C nor =3D";
            }
            i += 2;
        } else if (!is_user_char(c)) {
            return "the user name has a character that is not printable ASCII";
        }
        if (used == ETHER_SCRAM_USER_BYTES_MAX) {
            return "the user name is too long";
        }
        user[used++] = (char)c;
    }
    if (used == 0) {
        return "the user name is empty";
    }
    user[used] = '\0';
    ETHER_ASSERT(ether_scram_user_name_valid(user));
    return NULL;
}

static void append_escaped_user(struct ether_buf *out, const char *user)
{
    for (const char *c = user; *c != '\0'; c++) {
        if (*c == ',') {
            append_string(out, "=2C");
        } else if (*c == '=') {
            append_string(out, "=3D");
        } else {
            ether_buf_append(out, c, 1);
        }
    }
}

/* Copies the printable part of a peer's text into `out`, for quoting it in a sentence. */
static void quote_peer_text(struct span value, char *out, size_t out_size)
{
    ETHER_ASSERT(out_size > 0);
    size_t used = 0;
    for (size_t i = 0; i < value.length && used + 1 < out_size; i++) {
        uint8_t c = value.data[i];
        out[used++] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
    }
    out[used] = '\0';
}

/* ---- client --------------------------------------------------------------------------- */

enum client_step {
    CLIENT_NEW = 1,
    CLIENT_FIRST_SENT,
    CLIENT_FINAL_SENT,
    CLIENT_DONE,
    CLIENT_FAILED,
};

struct ether_scram_client {
    enum client_step step;
    char user[ETHER_SCRAM_USER_BYTES_MAX + 1];
    char password[ETHER_SCRAM_PASSWORD_BYTES_MAX + 1]; /* wiped once client-final is built */
    char nonce[NONCE_TEXT_BYTES_MAX + 1];              /* ours; "" until drawn or set */
    struct ether_buf client_first_bare;                /* for the AuthMessage */
    uint8_t server_signature[ETHER_SCRAM_KEY_BYTES];   /* due in server-final */
};

static void client_wipe(struct ether_scram_client *client)
{
    OPENSSL_cleanse(client->password, sizeof client->password);
    OPENSSL_cleanse(client->server_signature, sizeof client->server_signature);
}

static int client_fail(struct ether_scram_client *client, int rc)
{
    ETHER_ASSERT(rc != ETHER_OK);
    client->step = CLIENT_FAILED;
    client_wipe(client);
    return rc;
}

static int client_out_of_order(struct ether_scram_client *client, const char *step, char *errbuf,
                               size_t errbuf_size)
{
    set_error(errbuf, errbuf_size, "SCRAM: %s called out of order", step);
    return client_fail(client, ETHER_ERR_INVALID_ARGUMENT);
}

int ether_scram_client_new(const char *user, const char *password,
                           struct ether_scram_client **client_out)
{
    ETHER_ASSERT(client_out != NULL);
    if (!ether_scram_user_name_valid(user) || !valid_password(password)) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    struct ether_scram_client *client = ether_calloc(1, sizeof *client);
    client->step = CLIENT_NEW;
    memcpy(client->user, user, strlen(user) + 1);
    memcpy(client->password, password, strlen(password) + 1);
    ether_buf_init(&client->client_first_bare);
    *client_out = client;
    return ETHER_OK;
}

int ether_scram_client_set_nonce_for_test(struct ether_scram_client *client, const char *nonce)
{
    ETHER_ASSERT(client != NULL);
    if (client->step != CLIENT_NEW || !valid_nonce_text(nonce)) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    memcpy(client->nonce, nonce, strlen(nonce) + 1);
    return ETHER_OK;
}

int ether_scram_client_first(struct ether_scram_client *client, struct ether_buf *out)
{
    ETHER_ASSERT(client != NULL);
    ETHER_ASSERT(out != NULL);
    if (client->step != CLIENT_NEW) {
        return client_out_of_order(client, "ether_scram_client_first", NULL, 0);
    }
    if (client->nonce[0] == '\0') {
        int rc = random_nonce(client->nonce, sizeof client->nonce);
        if (rc != ETHER_OK) {
            return client_fail(client, rc);
        }
    }
    struct ether_buf *bare = &client->client_first_bare;
    ETHER_ASSERT(bare->length == 0);
    append_string(bare, "n=");
    append_escaped_user(bare, client->user);
    append_string(bare, ",r=");
    append_string(bare, client->nonce);
    append_string(out, "n,,");
    ether_buf_append(out, bare->data, bare->length);
    client->step = CLIENT_FIRST_SENT;
    return ETHER_OK;
}

struct server_first_fields {
    struct span nonce;
    uint8_t salt[ETHER_SCRAM_SALT_BYTES_MAX];
    size_t salt_bytes;
    uint32_t iterations;
};

/* NULL, or what is wrong with server-first. */
static const char *parse_server_first(const uint8_t *message, size_t message_bytes,
                                      const char *client_nonce, struct server_first_fields *fields)
{
    struct cursor cursor = {message, message_bytes};
    struct span salt;
    struct span iterations;
    if (!take_attribute(&cursor, 'r', &fields->nonce)) {
        return "it does not start with the nonce (r=)";
    }
    if (!span_is_nonce(fields->nonce)) {
        return "the nonce is empty or not printable ASCII";
    }
    size_t client_nonce_bytes = strlen(client_nonce);
    if (fields->nonce.length <= client_nonce_bytes ||
        memcmp(fields->nonce.data, client_nonce, client_nonce_bytes) != 0) {
        return "the nonce does not extend the client's";
    }
    if (!take_comma(&cursor) || !take_attribute(&cursor, 's', &salt)) {
        return "the salt (s=) does not follow the nonce";
    }
    if (!base64_decode(salt.data, salt.length, fields->salt, sizeof fields->salt,
                       &fields->salt_bytes)) {
        return "the salt is not base64 of 1 to 64 bytes";
    }
    if (!take_comma(&cursor) || !take_attribute(&cursor, 'i', &iterations)) {
        return "the iteration count (i=) does not follow the salt";
    }
    if (!parse_iterations(iterations, &fields->iterations)) {
        return "the iteration count is not a number from 4096 to 1000000";
    }
    if (cursor.left != 0) {
        return "it has attributes after the iteration count";
    }
    return NULL;
}

int ether_scram_client_final(struct ether_scram_client *client, const uint8_t *server_first,
                             size_t server_first_bytes, struct ether_buf *out, char *errbuf,
                             size_t errbuf_size)
{
    ETHER_ASSERT(client != NULL);
    ETHER_ASSERT(out != NULL);
    ETHER_ASSERT(server_first != NULL || server_first_bytes == 0);
    if (client->step != CLIENT_FIRST_SENT) {
        return client_out_of_order(client, "ether_scram_client_final", errbuf, errbuf_size);
    }
    if (server_first_bytes > ETHER_SCRAM_MESSAGE_BYTES_MAX) {
        set_error(errbuf, errbuf_size, "SCRAM: server-first is longer than %d bytes",
                  ETHER_SCRAM_MESSAGE_BYTES_MAX);
        return client_fail(client, ETHER_ERR_AUTHENTICATION_FAILED);
    }
    struct server_first_fields fields;
    const char *problem =
        parse_server_first(server_first, server_first_bytes, client->nonce, &fields);
    if (problem != NULL) {
        set_error(errbuf, errbuf_size, "SCRAM: server-first is malformed: %s", problem);
        return client_fail(client, ETHER_ERR_AUTHENTICATION_FAILED);
    }
    struct keys keys;
    if (!derive_keys(client->password, strlen(client->password), fields.salt, fields.salt_bytes,
                     fields.iterations, &keys)) {
        set_error(errbuf, errbuf_size, "SCRAM: OpenSSL could not derive the salted password");
        return client_fail(client, ETHER_ERR_IO);
    }
    OPENSSL_cleanse(client->password, sizeof client->password);

    size_t without_proof_start = out->length;
    append_string(out, "c=biws,r=");
    ether_buf_append(out, fields.nonce.data, fields.nonce.length);
    struct ether_buf auth_message = ETHER_BUF_INIT;
    ether_buf_append(&auth_message, client->client_first_bare.data,
                     client->client_first_bare.length);
    append_string(&auth_message, ",");
    ether_buf_append(&auth_message, server_first, server_first_bytes);
    append_string(&auth_message, ",");
    ether_buf_append(&auth_message, out->data + without_proof_start,
                     out->length - without_proof_start);

    uint8_t proof[ETHER_SCRAM_KEY_BYTES];
    hmac_sha256(keys.stored_key, sizeof keys.stored_key, auth_message.data, auth_message.length,
                proof);
    for (size_t i = 0; i < sizeof proof; i++) {
        proof[i] ^= keys.client_key[i];
    }
    hmac_sha256(keys.server_key, sizeof keys.server_key, auth_message.data, auth_message.length,
                client->server_signature);
    append_string(out, ",p=");
    base64_append(out, proof, sizeof proof);

    OPENSSL_cleanse(&keys, sizeof keys);
    OPENSSL_cleanse(proof, sizeof proof);
    ether_buf_free(&auth_message);
    ether_buf_free(&client->client_first_bare);
    client->step = CLIENT_FINAL_SENT;
    return ETHER_OK;
}

int ether_scram_client_verify(struct ether_scram_client *client, const uint8_t *server_final,
                              size_t server_final_bytes, char *errbuf, size_t errbuf_size)
{
    ETHER_ASSERT(client != NULL);
    ETHER_ASSERT(server_final != NULL || server_final_bytes == 0);
    if (client->step != CLIENT_FINAL_SENT) {
        return client_out_of_order(client, "ether_scram_client_verify", errbuf, errbuf_size);
    }
    if (server_final_bytes > ETHER_SCRAM_MESSAGE_BYTES_MAX) {
        set_error(errbuf, errbuf_size, "SCRAM: server-final is longer than %d bytes",
                  ETHER_SCRAM_MESSAGE_BYTES_MAX);
        return client_fail(client, ETHER_ERR_AUTHENTICATION_FAILED);
    }
    struct cursor cursor = {server_final, server_final_bytes};
    struct span value;
    if (take_attribute(&cursor, 'e', &value)) {
        char quoted[PEER_ERROR_BYTES_MAX + 1];
        quote_peer_text(value, quoted, sizeof quoted);
        set_error(errbuf, errbuf_size, "SCRAM: the server refused the login: %s", quoted);
        return client_fail(client, ETHER_ERR_AUTHENTICATION_FAILED);
    }
    uint8_t signature[ETHER_SCRAM_KEY_BYTES];
    size_t signature_bytes = 0;
    if (!take_attribute(&cursor, 'v', &value) || cursor.left != 0 ||
        !base64_decode(value.data, value.length, signature, sizeof signature, &signature_bytes) ||
        signature_bytes != sizeof signature) {
        set_error(errbuf, errbuf_size,
                  "SCRAM: server-final is malformed: it is not v= and the base64 of 32 bytes");
        return client_fail(client, ETHER_ERR_AUTHENTICATION_FAILED);
    }
    if (CRYPTO_memcmp(signature, client->server_signature, sizeof signature) != 0) {
        set_error(errbuf, errbuf_size,
                  "SCRAM: the server's signature is wrong: it does not hold this user's "
                  "credential");
        return client_fail(client, ETHER_ERR_AUTHENTICATION_FAILED);
    }
    client_wipe(client);
    client->step = CLIENT_DONE;
    return ETHER_OK;
}

void ether_scram_client_free(struct ether_scram_client *client)
{
    if (client == NULL) {
        return;
    }
    ether_buf_free(&client->client_first_bare);
    OPENSSL_cleanse(client, sizeof *client);
    ether_free(client);
}

/* ---- server --------------------------------------------------------------------------- */

enum server_step {
    SERVER_NEW = 1,
    SERVER_FIRST_RECEIVED,
    SERVER_FIRST_SENT,
    SERVER_DONE,
    SERVER_FAILED,
};

struct ether_scram_server {
    enum server_step step;
    bool user_known; /* false: the keys are made up and the proof can never be right */
    char user[ETHER_SCRAM_USER_BYTES_MAX + 1];
    char channel_binding[8];                   /* c= due: base64 of the client's gs2 header */
    char test_nonce[NONCE_TEXT_BYTES_MAX + 1]; /* "" unless set for a test */
    struct ether_buf nonce;                    /* the client's, then ours */
    struct ether_buf client_first_bare;        /* for the AuthMessage */
    struct ether_buf server_first;             /* for the AuthMessage */
    uint8_t stored_key[ETHER_SCRAM_KEY_BYTES];
    uint8_t server_key[ETHER_SCRAM_KEY_BYTES];
};

static pthread_once_t fake_secret_once = PTHREAD_ONCE_INIT;
static uint8_t fake_secret[FAKE_SECRET_BYTES];
static bool fake_secret_ready;

static void draw_fake_secret(void)
{
    ERR_clear_error();
    fake_secret_ready = RAND_bytes(fake_secret, (int)sizeof fake_secret) == 1;
    ERR_clear_error();
}

/* HMAC(secret, label NUL user): made-up values that stay the same for a user name. */
static void fake_value(const uint8_t *secret, size_t secret_bytes, const char *label,
                       const char *user, uint8_t out[ETHER_SCRAM_KEY_BYTES])
{
    struct ether_buf input = ETHER_BUF_INIT;
    ether_buf_append(&input, label, strlen(label) + 1);
    append_string(&input, user);
    hmac_sha256(secret, secret_bytes, input.data, input.length, out);
    ether_buf_free(&input);
}

void ether_scram_credential_for_unknown_user(const uint8_t *secret, size_t secret_bytes,
                                             const char *user,
                                             struct ether_scram_credential *credential)
{
    ETHER_ASSERT(secret != NULL && secret_bytes > 0 && user != NULL && credential != NULL);
    uint8_t salt[ETHER_SCRAM_KEY_BYTES];
    memset(credential, 0, sizeof *credential);
    credential->iterations = ETHER_SCRAM_ITERATIONS_DEFAULT;
    credential->salt_bytes = ETHER_SCRAM_SALT_BYTES;
    fake_value(secret, secret_bytes, "salt", user, salt);
    memcpy(credential->salt, salt, ETHER_SCRAM_SALT_BYTES);
    fake_value(secret, secret_bytes, "stored key", user, credential->stored_key);
    fake_value(secret, secret_bytes, "server key", user, credential->server_key);
}

static void server_wipe(struct ether_scram_server *server)
{
    OPENSSL_cleanse(server->stored_key, sizeof server->stored_key);
    OPENSSL_cleanse(server->server_key, sizeof server->server_key);
}

static int server_fail(struct ether_scram_server *server, int rc)
{
    ETHER_ASSERT(rc != ETHER_OK);
    server->step = SERVER_FAILED;
    server_wipe(server);
    return rc;
}

static int server_out_of_order(struct ether_scram_server *server, const char *step, char *errbuf,
                               size_t errbuf_size)
{
    set_error(errbuf, errbuf_size, "SCRAM: %s called out of order", step);
    return server_fail(server, ETHER_ERR_INVALID_ARGUMENT);
}

struct ether_scram_server *ether_scram_server_new(void)
{
    struct ether_scram_server *server = ether_calloc(1, sizeof *server);
    server->step = SERVER_NEW;
    ether_buf_init(&server->nonce);
    ether_buf_init(&server->client_first_bare);
    ether_buf_init(&server->server_first);
    return server;
}

int ether_scram_server_set_nonce_for_test(struct ether_scram_server *server, const char *nonce)
{
    ETHER_ASSERT(server != NULL);
    if (server->step != SERVER_NEW || !valid_nonce_text(nonce)) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    memcpy(server->test_nonce, nonce, strlen(nonce) + 1);
    return ETHER_OK;
}

/* NULL, or what is wrong with client-first; fills the server's user, nonce and header. */
static const char *parse_client_first(struct ether_scram_server *server, const uint8_t *message,
                                      size_t message_bytes)
{
    struct cursor cursor = {message, message_bytes};
    /* gs2-header: a channel-binding flag, an empty authorization identity. */
    if (cursor.left >= 1 && cursor.at[0] == 'p') {
        return "channel binding (p=) is not supported";
    }
    if (cursor.left < 2 || (cursor.at[0] != 'n' && cursor.at[0] != 'y') || cursor.at[1] != ',') {
        return "it does not start with the gs2 header \"n,,\"";
    }
    if (cursor.left < 3 || cursor.at[2] != ',') {
        return "an authorization identity is not supported";
    }
    snprintf(server->channel_binding, sizeof server->channel_binding, "%s",
             cursor.at[0] == 'n' ? "biws" : "eSws"); /* base64 of "n,," and "y,," */
    cursor.at += 3;
    cursor.left -= 3;

    const uint8_t *bare = cursor.at;
    size_t bare_bytes = cursor.left;
    struct span user;
    struct span nonce;
    if (!take_attribute(&cursor, 'n', &user)) {
        return "the user name (n=) does not follow the gs2 header";
    }
    const char *problem = unescape_user(user, server->user);
    if (problem != NULL) {
        return problem;
    }
    if (!take_comma(&cursor) || !take_attribute(&cursor, 'r', &nonce)) {
        return "the nonce (r=) does not follow the user name";
    }
    if (!span_is_nonce(nonce) || nonce.length > NONCE_TEXT_BYTES_MAX) {
        return "the nonce is not 1 to 128 printable ASCII characters";
    }
    if (cursor.left != 0) {
        return "it has attributes after the nonce";
    }
    ether_buf_append(&server->client_first_bare, bare, bare_bytes);
    ether_buf_append(&server->nonce, nonce.data, nonce.length);
    return NULL;
}

int ether_scram_server_receive_first(struct ether_scram_server *server, const uint8_t *client_first,
                                     size_t client_first_bytes, char *user_out,
                                     size_t user_out_size, char *errbuf, size_t errbuf_size)
{
    ETHER_ASSERT(server != NULL);
    ETHER_ASSERT(client_first != NULL || client_first_bytes == 0);
    ETHER_ASSERT(user_out != NULL);
    ETHER_ASSERT(user_out_size > ETHER_SCRAM_USER_BYTES_MAX);
    user_out[0] = '\0';
    if (server->step != SERVER_NEW) {
        return server_out_of_order(server, "ether_scram_server_receive_first", errbuf, errbuf_size);
    }
    if (client_first_bytes > ETHER_SCRAM_MESSAGE_BYTES_MAX) {
        set_error(errbuf, errbuf_size, "SCRAM: client-first is longer than %d bytes",
                  ETHER_SCRAM_MESSAGE_BYTES_MAX);
        return server_fail(server, ETHER_ERR_AUTHENTICATION_FAILED);
    }
    const char *problem = parse_client_first(server, client_first, client_first_bytes);
    if (problem != NULL) {
        set_error(errbuf, errbuf_size, "SCRAM: client-first is malformed: %s", problem);
        return server_fail(server, ETHER_ERR_AUTHENTICATION_FAILED);
    }
    memcpy(user_out, server->user, strlen(server->user) + 1);
    server->step = SERVER_FIRST_RECEIVED;
    return ETHER_OK;
}

int ether_scram_server_first(struct ether_scram_server *server,
                             const struct ether_scram_credential *credential, struct ether_buf *out)
{
    ETHER_ASSERT(server != NULL);
    ETHER_ASSERT(out != NULL);
    if (server->step != SERVER_FIRST_RECEIVED) {
        return server_out_of_order(server, "ether_scram_server_first", NULL, 0);
    }
    uint8_t fake_salt[ETHER_SCRAM_KEY_BYTES];
    const uint8_t *salt;
    size_t salt_bytes;
    uint32_t iterations;
    if (credential != NULL) {
        /* From the controller state, which came from disk or the network: checked. */
        if (credential->salt_bytes == 0 || credential->salt_bytes > ETHER_SCRAM_SALT_BYTES_MAX ||
            credential->iterations < ETHER_SCRAM_ITERATIONS_MIN ||
            credential->iterations > ETHER_SCRAM_ITERATIONS_MAX) {
            return server_fail(server, ETHER_ERR_INVALID_ARGUMENT);
        }
        server->user_known = true;
        salt = credential->salt;
        salt_bytes = credential->salt_bytes;
        iterations = credential->iterations;
        memcpy(server->stored_key, credential->stored_key, sizeof server->stored_key);
        memcpy(server->server_key, credential->server_key, sizeof server->server_key);
    } else {
        pthread_once(&fake_secret_once, draw_fake_secret);
        if (!fake_secret_ready) {
            return server_fail(server, ETHER_ERR_IO);
        }
        server->user_known = false;
        struct ether_scram_credential made_up;
        ether_scram_credential_for_unknown_user(fake_secret, sizeof fake_secret, server->user,
                                                &made_up);
        memcpy(fake_salt, made_up.salt, made_up.salt_bytes);
        salt = fake_salt;
        salt_bytes = made_up.salt_bytes;
        iterations = made_up.iterations;
        memcpy(server->stored_key, made_up.stored_key, sizeof server->stored_key);
        memcpy(server->server_key, made_up.server_key, sizeof server->server_key);
        OPENSSL_cleanse(&made_up, sizeof made_up);
    }

    char nonce[NONCE_TEXT_BYTES_MAX + 1];
    if (server->test_nonce[0] != '\0') {
        memcpy(nonce, server->test_nonce, sizeof nonce);
    } else {
        int rc = random_nonce(nonce, sizeof nonce);
        if (rc != ETHER_OK) {
            return server_fail(server, rc);
        }
    }
    append_string(&server->nonce, nonce);

    struct ether_buf *message = &server->server_first;
    ETHER_ASSERT(message->length == 0);
    append_string(message, "r=");
    ether_buf_append(message, server->nonce.data, server->nonce.length);
    append_string(message, ",s=");
    base64_append(message, salt, salt_bytes);
    char number[16];
    snprintf(number, sizeof number, ",i=%u", (unsigned)iterations);
    append_string(message, number);
    ETHER_ASSERT(message->length <= ETHER_SCRAM_MESSAGE_BYTES_MAX);
    ether_buf_append(out, message->data, message->length);
    server->step = SERVER_FIRST_SENT;
    return ETHER_OK;
}

/* NULL, or what is wrong with client-final; sets the proof and where it starts. */
static const char *parse_client_final(const struct ether_scram_server *server,
                                      const uint8_t *message, size_t message_bytes,
                                      uint8_t proof[ETHER_SCRAM_KEY_BYTES],
                                      size_t *without_proof_bytes)
{
    struct cursor cursor = {message, message_bytes};
    struct span binding;
    struct span nonce;
    struct span proof_text;
    if (!take_attribute(&cursor, 'c', &binding)) {
        return "it does not start with the channel binding (c=)";
    }
    if (!span_equals(binding, server->channel_binding, strlen(server->channel_binding))) {
        return "the channel binding does not repeat the gs2 header";
    }
    if (!take_comma(&cursor) || !take_attribute(&cursor, 'r', &nonce)) {
        return "the nonce (r=) does not follow the channel binding";
    }
    if (!span_equals(nonce, server->nonce.data, server->nonce.length)) {
        return "the nonce is not the one of server-first";
    }
    *without_proof_bytes = message_bytes - cursor.left;
    if (!take_comma(&cursor) || !take_attribute(&cursor, 'p', &proof_text)) {
        return "the proof (p=) does not follow the nonce";
    }
    size_t proof_bytes = 0;
    if (!base64_decode(proof_text.data, proof_text.length, proof, ETHER_SCRAM_KEY_BYTES,
                       &proof_bytes) ||
        proof_bytes != ETHER_SCRAM_KEY_BYTES) {
        return "the proof is not the base64 of 32 bytes";
    }
    if (cursor.left != 0) {
        return "it has attributes after the proof";
    }
    return NULL;
}

int ether_scram_server_final(struct ether_scram_server *server, const uint8_t *client_final,
                             size_t client_final_bytes, struct ether_buf *out, char *errbuf,
                             size_t errbuf_size)
{
    ETHER_ASSERT(server != NULL);
    ETHER_ASSERT(out != NULL);
    ETHER_ASSERT(client_final != NULL || client_final_bytes == 0);
    if (server->step != SERVER_FIRST_SENT) {
        return server_out_of_order(server, "ether_scram_server_final", errbuf, errbuf_size);
    }
    if (client_final_bytes > ETHER_SCRAM_MESSAGE_BYTES_MAX) {
        set_error(errbuf, errbuf_size, "SCRAM: client-final is longer than %d bytes",
                  ETHER_SCRAM_MESSAGE_BYTES_MAX);
        return server_fail(server, ETHER_ERR_AUTHENTICATION_FAILED);
    }
    uint8_t proof[ETHER_SCRAM_KEY_BYTES];
    size_t without_proof_bytes = 0;
    const char *problem =
        parse_client_final(server, client_final, client_final_bytes, proof, &without_proof_bytes);
    if (problem != NULL) {
        set_error(errbuf, errbuf_size, "SCRAM: client-final is malformed: %s", problem);
        return server_fail(server, ETHER_ERR_AUTHENTICATION_FAILED);
    }
    ETHER_ASSERT(without_proof_bytes < client_final_bytes);

    struct ether_buf auth_message = ETHER_BUF_INIT;
    ether_buf_append(&auth_message, server->client_first_bare.data,
                     server->client_first_bare.length);
    append_string(&auth_message, ",");
    ether_buf_append(&auth_message, server->server_first.data, server->server_first.length);
    append_string(&auth_message, ",");
    ether_buf_append(&auth_message, client_final, without_proof_bytes);

    /* ClientKey = proof XOR HMAC(StoredKey, AuthMessage); it is right when its hash is
     * StoredKey. An unknown user's made-up keys go through the same steps. */
    uint8_t client_key[ETHER_SCRAM_KEY_BYTES];
    uint8_t stored_key[ETHER_SCRAM_KEY_BYTES];
    hmac_sha256(server->stored_key, sizeof server->stored_key, auth_message.data,
                auth_message.length, client_key);
    for (size_t i = 0; i < sizeof client_key; i++) {
        client_key[i] ^= proof[i];
    }
    sha256(client_key, sizeof client_key, stored_key);
    bool proven = CRYPTO_memcmp(stored_key, server->stored_key, sizeof stored_key) == 0;
    OPENSSL_cleanse(client_key, sizeof client_key);
    if (!proven || !server->user_known) {
        ether_buf_free(&auth_message);
        set_error(errbuf, errbuf_size, "%s", WRONG_LOGIN);
        return server_fail(server, ETHER_ERR_AUTHENTICATION_FAILED);
    }

    uint8_t signature[ETHER_SCRAM_KEY_BYTES];
    hmac_sha256(server->server_key, sizeof server->server_key, auth_message.data,
                auth_message.length, signature);
    append_string(out, "v=");
    base64_append(out, signature, sizeof signature);
    ether_buf_free(&auth_message);
    server_wipe(server);
    server->step = SERVER_DONE;
    return ETHER_OK;
}

void ether_scram_server_free(struct ether_scram_server *server)
{
    if (server == NULL) {
        return;
    }
    ether_buf_free(&server->nonce);
    ether_buf_free(&server->client_first_bare);
    ether_buf_free(&server->server_first);
    OPENSSL_cleanse(server, sizeof *server);
    ether_free(server);
}
