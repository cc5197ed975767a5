/*
 * conn.c: one TCP connection from the client to one broker, in clear or over TLS.
 *
 * Happy path: client_send finds or opens the broker's connection (resolve ->
 * connect -> with TLS, handshake), encodes the request frame and writes it (or
 * queues it until the connection is ready); each response frame is matched to
 * its request by correlation id, unpacked and handed to the request's callback.
 *
 * TLS (client->tls_config set): once connected, the connection gets one client
 * session (common/tls.h) whose server name is the broker's host as the client
 * dials it (the bootstrap host, or the advertised host from the metadata), so
 * the broker's certificate must name it. Requests wait until the handshake is
 * done; then each frame is written through the session and its ciphertext
 * replaces it (so the request's write still says when its bytes are out).
 * Ciphertext read from the socket is fed to the session and its plaintext goes
 * to the same frame parser as in clear. The session never holds ciphertext
 * between calls: every call that may produce some (the ClientHello, a receive,
 * a write) is followed by sending it. Closing sends our close_notify (or, for
 * a failed session, its alert) when the socket takes it at once, never waiting.
 *
 * SCRAM-SHA-256 login (sasl_username set; only over TLS): once the handshake is
 * done the connection is AUTHENTICATING and sends, ahead of every queued
 * request, AUTHENTICATE{client-first}; the answer's server-first gives
 * AUTHENTICATE{client-final}; the last answer must say done and carry a
 * server-final that verifies (common/scram.h): only then is it READY and are
 * the requests written. The password stays in the scram exchange, which wipes
 * it; no message here ever holds it.
 *
 * Failure modes: a failed resolve or connect, a read or write error, EOF, a
 * malformed frame, a failed TLS session or a request that outlives its
 * deadline closes the whole connection: every request on it is answered with
 * the error and the broker is not reconnected before its backoff
 * (client->backoff) has passed. A TLS failure answers with the session's
 * error (ETHER_ERR_AUTHENTICATION_FAILED for a refused certificate, ours or
 * the broker's; ETHER_ERR_TLS_HANDSHAKE otherwise) and its sentence; so does a
 * connection in clear whose broker answers with a TLS record (its port needs
 * TLS). A failed login (an error in an answer, a server-final that does not
 * verify, an answer that is not the login's) fails the connection with
 * ETHER_ERR_AUTHENTICATION_FAILED and a
 * sentence with the broker's reason, like a refused certificate: requests are
 * not retried by waiting for it to heal. A login that does not end within
 * request_timeout_ms is ETHER_ERR_TIMED_OUT, and a broker that closes the
 * connection during the login without answering is ETHER_ERR_IO: both are
 * retried like any broken connection.
 * A connection is freed only after libuv closed its handle and its
 * pending resolve finished; a request only after its write completed.
 *
 * Limits: a response frame larger than CLIENT_FRAME_BYTES_MAX breaks the
 * connection with ETHER_ERR_FRAME_TOO_LARGE; a TLS session buffers at most
 * ETHER_TLS_BUFFERED_BYTES_MAX_DEFAULT bytes, which holds any request frame.
 */
#include "client/client_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "common/panic.h"
#include "common/scram.h"
#include "common/tls.h"

/* A request frame always fits in a TLS session (which refuses larger writes). */
_Static_assert((size_t)CLIENT_FRAME_BYTES_MAX <= (size_t)ETHER_TLS_BUFFERED_BYTES_MAX_DEFAULT,
               "a request frame must fit in a TLS session's buffer");

enum { READ_CHUNK_BYTES = 64 * 1024 };

enum conn_state {
    CONN_RESOLVING,
    CONN_CONNECTING,
    CONN_HANDSHAKING,
    CONN_AUTHENTICATING, /* TLS is up; the SCRAM login runs before any request */
    CONN_READY,
    CONN_CLOSING,
};

/* Where a SCRAM login is. */
enum conn_login_step {
    LOGIN_FIRST_SENT, /* client-first sent; server-first awaited */
    LOGIN_FINAL_SENT, /* client-final sent; server-final awaited */
};

struct client_request {
    struct client_request *next;
    struct client_conn *conn;
    uint16_t api_key;
    uint32_t correlation_id;
    bool expects_response;
    bool writing;  /* uv_write has not called back yet */
    bool answered; /* on_response has run */
    uint64_t deadline_ms;
    client_response_fn *on_response;
    void *context;
    struct ether_buf frame; /* with TLS, its ciphertext once written */
    uv_write_t write;
};

struct client_conn {
    uv_tcp_t tcp;
    struct ether_client *client;
    struct client_broker *broker;
    struct client_conn *next;
    enum conn_state state;
    bool resolve_pending;
    bool tcp_open;    /* uv_tcp_init ran and the close callback has not */
    int fail_pending; /* an error seen where callbacks must not run yet */
    bool heard;       /* a whole response frame arrived */
    uv_getaddrinfo_t resolve;
    uv_connect_t connect;
    struct ether_buf input;          /* plaintext received, not yet parsed into frames */
    struct ether_tls_session *tls;   /* NULL in clear, and with TLS until connected */
    char *server_name;               /* the host dialled, which the certificate must name */
    struct client_request *requests; /* waiting to be written or for their answer */
    uint32_t produce_in_flight;
    /* CONN_AUTHENTICATING */
    struct ether_scram_client *scram;
    enum conn_login_step login_step;
    uint32_t login_correlation_id; /* of the AUTHENTICATE whose answer is awaited */
    uint64_t login_deadline_ms;
    char name[CLIENT_ERROR_MESSAGE_BYTES / 2]; /* "broker 2 (127.0.0.1:9093)" */
};

/* Ciphertext that belongs to no request (handshake messages, alerts, answers to the
 * broker's TLS records), on its way to the socket. */
struct conn_write {
    uv_write_t write;
    struct client_conn *conn;
    size_t bytes_count;
    uint8_t bytes[];
};

static void conn_fail(struct client_conn *conn, int error, const char *message);

static void conn_maybe_free(struct client_conn *conn)
{
    if (conn->state == CONN_CLOSING && !conn->resolve_pending && !conn->tcp_open) {
        ETHER_ASSERT(conn->requests == NULL);
        ether_buf_free(&conn->input);
        ether_tls_session_free(conn->tls);
        ether_scram_client_free(conn->scram);
        ether_free(conn->server_name);
        ether_free(conn);
    }
}

/* A frame that carries a password (CREATE_USER) is wiped before its memory is reused or freed. */
static void wipe_if_secret(const struct client_request *request)
{
    if (request->api_key == PROTO_API_CREATE_USER && request->frame.data != NULL) {
        explicit_bzero(request->frame.data, request->frame.capacity);
    }
}

static void request_maybe_free(struct client_request *request)
{
    if (request->answered && !request->writing) {
        wipe_if_secret(request);
        ether_buf_free(&request->frame);
        ether_free(request);
    }
}

static void unlink_request(struct client_conn *conn, struct client_request *request)
{
    for (struct client_request **link = &conn->requests; *link != NULL; link = &(*link)->next) {
        if (*link == request) {
            *link = request->next;
            request->next = NULL;
            return;
        }
    }
    ETHER_PANIC("request is not on its connection");
}

/* Runs the request's callback once; the request must be unlinked already. */
static void answer(struct client_request *request, int error, const char *message,
                   const ProtobufCMessage *response)
{
    ETHER_ASSERT(!request->answered);
    request->answered = true;
    struct client_conn *conn = request->conn;
    if (request->api_key == PROTO_API_PRODUCE) {
        ETHER_ASSERT(conn->produce_in_flight > 0);
        conn->produce_in_flight--;
    }
    request->on_response(conn->client, request->context, error, message, response);
    request_maybe_free(request);
}

static void on_written(uv_write_t *write, int status)
{
    struct client_request *request = write->data;
    struct client_conn *conn = request->conn;
    request->writing = false;
    if (request->answered) {
        request_maybe_free(request);
        return;
    }
    if (status < 0) {
        char message[CLIENT_ERROR_MESSAGE_BYTES];
        snprintf(message, sizeof message, "cannot send to %s: %s", conn->name, uv_strerror(status));
        conn_fail(conn, ETHER_ERR_IO, message);
        return;
    }
    if (!request->expects_response) {
        unlink_request(conn, request);
        answer(request, ETHER_OK, "", NULL);
    }
}

/* Moves the session's waiting ciphertext to the end of `out`. */
static void take_tls_output(struct client_conn *conn, struct ether_buf *out)
{
    size_t waiting = ether_tls_session_output_bytes(conn->tls);
    if (waiting > 0) {
        uint8_t *bytes = ether_buf_extend(out, waiting);
        size_t taken = ether_tls_session_take_output(conn->tls, bytes, waiting);
        ETHER_ASSERT(taken == waiting);
    }
    ETHER_ASSERT(ether_tls_session_output_bytes(conn->tls) == 0);
}

/* Replaces a request's frame by its ciphertext. Never calls back (client_send runs it). */
static int seal_frame(struct client_conn *conn, struct client_request *request)
{
    ETHER_ASSERT(ether_tls_session_output_bytes(conn->tls) == 0);
    struct ether_buf *frame = &request->frame;
    int rc = ether_tls_session_write(conn->tls, frame->data, frame->length);
    if (rc != ETHER_OK) {
        return rc;
    }
    wipe_if_secret(request); /* the buffer is reused, maybe moved, for the ciphertext */
    ether_buf_clear(frame);
    take_tls_output(conn, frame);
    return ETHER_OK;
}

static void write_request(struct client_conn *conn, struct client_request *request)
{
    ETHER_ASSERT(conn->state == CONN_READY);
    ETHER_ASSERT(!request->writing);
    if (conn->tls != NULL) {
        int rc = seal_frame(conn, request);
        if (rc != ETHER_OK) {
            conn->fail_pending = rc; /* answered from the next tick, like a write error */
            return;
        }
    }
    uv_buf_t buffer = uv_buf_init((char *)request->frame.data, (unsigned)request->frame.length);
    request->write.data = request;
    int rc = uv_write(&request->write, (uv_stream_t *)&conn->tcp, &buffer, 1, on_written);
    if (rc < 0) {
        /* Answered from the next tick, never from inside client_send. */
        conn->fail_pending = ETHER_ERR_IO;
        return;
    }
    request->writing = true;
}

static void on_tls_output_written(uv_write_t *request, int status)
{
    struct conn_write *write = request->data;
    struct client_conn *conn = write->conn; /* alive: its handle closes after its writes */
    ether_free(write);
    if (status < 0) {
        char message[CLIENT_ERROR_MESSAGE_BYTES];
        snprintf(message, sizeof message, "cannot send to %s: %s", conn->name, uv_strerror(status));
        conn_fail(conn, ETHER_ERR_IO, message);
    }
}

/* Sends the ciphertext waiting in the session. Returns false when that closed the connection. */
static bool send_tls_output(struct client_conn *conn)
{
    size_t waiting = ether_tls_session_output_bytes(conn->tls);
    if (waiting == 0) {
        return true;
    }
    struct conn_write *write = ether_malloc(sizeof *write + waiting);
    write->conn = conn;
    write->bytes_count = ether_tls_session_take_output(conn->tls, write->bytes, waiting);
    ETHER_ASSERT(write->bytes_count == waiting);
    write->write.data = write;
    uv_buf_t buffer = uv_buf_init((char *)write->bytes, (unsigned)write->bytes_count);
    int rc = uv_write(&write->write, (uv_stream_t *)&conn->tcp, &buffer, 1, on_tls_output_written);
    if (rc < 0) {
        ether_free(write);
        char message[CLIENT_ERROR_MESSAGE_BYTES];
        snprintf(message, sizeof message, "cannot send to %s: %s", conn->name, uv_strerror(rc));
        conn_fail(conn, ETHER_ERR_IO, message);
        return false;
    }
    return true;
}

/*
 * The last TLS bytes before the socket closes: our close_notify, or the alert of a failed
 * session. Sent only if the socket takes them at once (uv_try_write): closing never waits
 * for a broker that does not read. Not after a socket error, where nothing goes through.
 */
static void send_tls_goodbye(struct client_conn *conn, int error)
{
    if (conn->tls == NULL || error == ETHER_ERR_IO) {
        return;
    }
    if (ether_tls_session_state(conn->tls) == ETHER_TLS_ESTABLISHED) {
        (void)ether_tls_session_shutdown(conn->tls); /* a failure leaves an alert instead */
    }
    struct ether_buf bytes = ETHER_BUF_INIT;
    take_tls_output(conn, &bytes);
    if (bytes.length > 0) {
        uv_buf_t buffer = uv_buf_init((char *)bytes.data, (unsigned)bytes.length);
        (void)uv_try_write((uv_stream_t *)&conn->tcp, &buffer, 1); /* best effort */
    }
    ether_buf_free(&bytes);
}

static void on_tcp_closed(uv_handle_t *handle)
{
    struct client_conn *conn = (struct client_conn *)handle;
    conn->tcp_open = false;
    conn_maybe_free(conn);
}

static void conn_fail(struct client_conn *conn, int error, const char *message)
{
    if (conn->state == CONN_CLOSING) {
        return;
    }
    struct ether_client *client = conn->client;
    bool was_ready = conn->state == CONN_READY;
    conn->state = CONN_CLOSING;
    for (struct client_conn **link = &client->conns; *link != NULL; link = &(*link)->next) {
        if (*link == conn) {
            *link = conn->next;
            break;
        }
    }
    struct client_broker *broker = conn->broker;
    if (broker != NULL) {
        broker->conn = NULL;
        if (!was_ready || error != ETHER_ERR_TIMED_OUT) {
            broker->connect_failures++;
        }
        uint32_t delay_ms =
            client_backoff_delay_ms(&client->backoff, was_ready ? 1 : broker->connect_failures);
        broker->reconnect_at_ms = client_now_ms() + delay_ms;
        snprintf(broker->last_error, sizeof broker->last_error, "%s", message);
    }
    if (error != ETHER_ERR_CLOSED) {
        snprintf(client->last_connection_error, sizeof client->last_connection_error, "%s",
                 message);
    }
    if (conn->tcp_open && !uv_is_closing((uv_handle_t *)&conn->tcp)) {
        send_tls_goodbye(conn, error);
        uv_close((uv_handle_t *)&conn->tcp, on_tcp_closed);
    }
    struct client_request *requests = conn->requests;
    conn->requests = NULL;
    while (requests != NULL) {
        struct client_request *next = requests->next;
        requests->next = NULL;
        answer(requests, error, message, NULL);
        requests = next;
    }
    conn_maybe_free(conn);
}

static void on_alloc(uv_handle_t *handle, size_t suggested_bytes, uv_buf_t *buffer)
{
    struct client_conn *conn = (struct client_conn *)handle;
    (void)suggested_bytes;
    if (conn->tls != NULL) {
        /* Ciphertext is fed to the session as soon as it is read: one buffer serves all. */
        struct ether_client *client = conn->client;
        if (client->tls_read_buffer == NULL) {
            client->tls_read_buffer = ether_malloc(READ_CHUNK_BYTES);
        }
        buffer->base = (char *)client->tls_read_buffer;
        buffer->len = READ_CHUNK_BYTES;
        return;
    }
    ether_buf_reserve(&conn->input, READ_CHUNK_BYTES);
    buffer->base = (char *)conn->input.data + conn->input.length;
    buffer->len = READ_CHUNK_BYTES;
}

/* The connection can carry requests: writes every request queued so far, in order. */
static void conn_ready(struct client_conn *conn)
{
    ETHER_ASSERT(conn->state == CONN_CONNECTING || conn->state == CONN_HANDSHAKING ||
                 conn->state == CONN_AUTHENTICATING);
    ETHER_ASSERT(conn->scram == NULL);
    conn->state = CONN_READY;
    if (conn->broker != NULL) {
        conn->broker->connect_failures = 0;
    }
    for (struct client_request *request = conn->requests; request != NULL;
         request = request->next) {
        write_request(conn, request);
    }
}

/* ---- the SCRAM-SHA-256 login ---------------------------------------------------------- */

/* Fails the connection's login: "<broker>: SCRAM-SHA-256 login as <user> failed: <why>". */
static void login_fail(struct client_conn *conn, const char *why)
{
    if (strncmp(why, "SCRAM: ", 7) == 0) {
        why += 7; /* common/scram.h's sentences say it; ours already did */
    }
    /* Longer than what requests keep (they cut it): the broker's reason comes last. */
    char message[CLIENT_ERROR_MESSAGE_BYTES * 2];
    snprintf(message, sizeof message, "%s: SCRAM-SHA-256 login as %.40s failed: %s", conn->name,
             conn->client->settings.sasl_username, why);
    conn_fail(conn, ETHER_ERR_AUTHENTICATION_FAILED, message);
}

/*
 * Sends one AUTHENTICATE request through the TLS session, outside the request queue
 * (nothing waits for it but the login). Returns false when the connection was closed.
 */
static bool login_send(struct client_conn *conn, struct ether_buf *auth_bytes)
{
    ETHER_ASSERT(conn->state == CONN_AUTHENTICATING);
    ETHER_ASSERT(conn->tls != NULL);
    Ether__AuthenticateRequest request = ETHER__AUTHENTICATE_REQUEST__INIT;
    request.mechanism = (char *)ETHER_SCRAM_MECHANISM;
    request.auth_bytes.data = auth_bytes->data;
    request.auth_bytes.len = auth_bytes->length;
    struct proto_frame_header header = {
        .api_key = PROTO_API_AUTHENTICATE,
        .api_version = proto_api_version_max(PROTO_API_AUTHENTICATE),
        .correlation_id = conn->client->next_correlation_id++,
    };
    struct ether_buf frame = ETHER_BUF_INIT;
    int rc = proto_frame_encode(&frame, &header, &request.base, CLIENT_FRAME_BYTES_MAX);
    if (rc == ETHER_OK) {
        rc = ether_tls_session_write(conn->tls, frame.data, frame.length);
    }
    explicit_bzero(frame.data, frame.capacity);
    ether_buf_free(&frame);
    if (rc != ETHER_OK) {
        /* The session failed or the broker closed it: the connection broke, nobody refused. */
        char message[CLIENT_ERROR_MESSAGE_BYTES];
        snprintf(message, sizeof message, "%s: cannot send AUTHENTICATE: %s", conn->name,
                 ether_strerror(rc));
        conn_fail(conn, rc == ETHER_ERR_CLOSED ? ETHER_ERR_IO : rc, message);
        return false;
    }
    conn->login_correlation_id = header.correlation_id;
    return send_tls_output(conn);
}

/* The TLS handshake is done: log in when a user is configured, else the connection is ready. */
static void conn_established(struct client_conn *conn)
{
    ETHER_ASSERT(conn->state == CONN_HANDSHAKING);
    const struct client_settings *settings = &conn->client->settings;
    if (settings->sasl_username[0] == '\0') {
        conn_ready(conn);
        return;
    }
    conn->state = CONN_AUTHENTICATING;
    conn->login_deadline_ms = client_now_ms() + settings->request_timeout_ms;
    /* The settings were checked (client_settings_check): only randomness can fail. */
    struct ether_buf client_first = ETHER_BUF_INIT;
    int rc = ether_scram_client_new(settings->sasl_username, settings->sasl_password, &conn->scram);
    if (rc == ETHER_OK) {
        rc = ether_scram_client_first(conn->scram, &client_first);
    }
    if (rc != ETHER_OK) {
        ether_buf_free(&client_first);
        login_fail(conn, ether_strerror(rc));
        return;
    }
    conn->login_step = LOGIN_FIRST_SENT;
    (void)login_send(conn, &client_first);
    ether_buf_free(&client_first);
}

/* The answers that refuse this client's login for good (not retried). */
static bool login_refusal(int error)
{
    return error == ETHER_ERR_AUTHENTICATION_FAILED || error == ETHER_ERR_UNSUPPORTED ||
           error == ETHER_ERR_INVALID_ARGUMENT || error == ETHER_ERR_CORRUPT;
}

/* Handles the answer to a login step; false when the connection was closed. */
static bool handle_login_frame(struct client_conn *conn, const struct proto_frame_header *header,
                               const uint8_t *body)
{
    ETHER_ASSERT(conn->state == CONN_AUTHENTICATING);
    char why[CLIENT_ERROR_MESSAGE_BYTES];
    if (header->api_key != PROTO_API_AUTHENTICATE ||
        header->correlation_id != conn->login_correlation_id) {
        snprintf(why, sizeof why, "the broker sent a %s answer instead of the login's",
                 proto_api_name(header->api_key) != NULL ? proto_api_name(header->api_key) : "?");
        login_fail(conn, why);
        return false;
    }
    ProtobufCMessage *body_message = NULL;
    if (proto_body_unpack(header, body, &body_message) != ETHER_OK) {
        login_fail(conn, "the broker sent an undecodable AUTHENTICATE answer");
        return false;
    }
    int error;
    const char *said;
    if (header->is_error) { /* a broker that does not know AUTHENTICATE, or refused the frame */
        const Ether__ErrorResponse *refusal = (const Ether__ErrorResponse *)body_message;
        error = refusal->error != 0 ? (int)refusal->error : ETHER_ERR_CORRUPT;
        said = refusal->error_message;
    } else {
        const Ether__AuthenticateResponse *step = (const Ether__AuthenticateResponse *)body_message;
        error = (int)step->error;
        said = step->error_message;
    }
    if (error != ETHER_OK) {
        snprintf(why, sizeof why, "%s",
                 said != NULL && said[0] != '\0' ? said : ether_strerror(error));
        proto_message_free(body_message);
        if (login_refusal(error)) {
            login_fail(conn, why);
        } else { /* BUSY, STOPPED, ...: the broker could not log anyone in just now */
            char message[CLIENT_ERROR_MESSAGE_BYTES];
            snprintf(message, sizeof message, "%.64s: SCRAM-SHA-256 login: %.160s", conn->name,
                     why);
            conn_fail(conn, error, message);
        }
        return false;
    }
    const Ether__AuthenticateResponse *answer = (const Ether__AuthenticateResponse *)body_message;
    char scram_error[ETHER_SCRAM_ERROR_BYTES];
    scram_error[0] = '\0';
    if (conn->login_step == LOGIN_FIRST_SENT) {
        struct ether_buf client_final = ETHER_BUF_INIT;
        int rc = answer->done ? ETHER_ERR_AUTHENTICATION_FAILED
                              : ether_scram_client_final(conn->scram, answer->auth_bytes.data,
                                                         answer->auth_bytes.len, &client_final,
                                                         scram_error, sizeof scram_error);
        proto_message_free(body_message);
        if (rc != ETHER_OK) {
            ether_buf_free(&client_final);
            login_fail(conn, scram_error[0] != '\0'
                                 ? scram_error
                                 : "the broker said done before checking the client's proof");
            return false;
        }
        conn->login_step = LOGIN_FINAL_SENT;
        bool open = login_send(conn, &client_final);
        explicit_bzero(client_final.data, client_final.capacity);
        ether_buf_free(&client_final);
        return open;
    }
    ETHER_ASSERT(conn->login_step == LOGIN_FINAL_SENT);
    int rc = !answer->done ? ETHER_ERR_AUTHENTICATION_FAILED
                           : ether_scram_client_verify(conn->scram, answer->auth_bytes.data,
                                                       answer->auth_bytes.len, scram_error,
                                                       sizeof scram_error);
    proto_message_free(body_message);
    if (rc != ETHER_OK) {
        login_fail(conn, scram_error[0] != '\0' ? scram_error
                                                : "the broker did not say the login was done");
        return false;
    }
    ether_scram_client_free(conn->scram);
    conn->scram = NULL;
    conn_ready(conn);
    return true;
}

/* Handles one whole response frame; false when the connection was closed. */
static bool handle_frame(struct client_conn *conn, const struct proto_frame_header *header,
                         const uint8_t *body)
{
    char message[CLIENT_ERROR_MESSAGE_BYTES];
    if (!header->is_response) {
        snprintf(message, sizeof message, "%s sent a request to the client", conn->name);
        conn_fail(conn, ETHER_ERR_CORRUPT, message);
        return false;
    }
    conn->heard = true;
    if (conn->state == CONN_AUTHENTICATING) {
        return handle_login_frame(conn, header, body);
    }
    struct client_request *request = conn->requests;
    while (request != NULL && (request->correlation_id != header->correlation_id ||
                               !request->expects_response || request->answered)) {
        request = request->next;
    }
    if (request == NULL) {
        return true; /* an answer to a request we gave up on: skip it */
    }
    ProtobufCMessage *body_message = NULL;
    if (proto_body_unpack(header, body, &body_message) != ETHER_OK) {
        snprintf(message, sizeof message, "%s sent an undecodable %s response", conn->name,
                 proto_api_name(header->api_key) != NULL ? proto_api_name(header->api_key) : "?");
        conn_fail(conn, ETHER_ERR_CORRUPT, message);
        return false;
    }
    unlink_request(conn, request);
    if (header->is_error) {
        const Ether__ErrorResponse *error = (const Ether__ErrorResponse *)body_message;
        int code = error->error != 0 ? (int)error->error : ETHER_ERR_CORRUPT;
        snprintf(message, sizeof message, "%s: %s", conn->name,
                 error->error_message != NULL && error->error_message[0] != '\0'
                     ? error->error_message
                     : ether_strerror(code));
        answer(request, code, message, NULL);
    } else {
        answer(request, ETHER_OK, "", body_message);
    }
    proto_message_free(body_message);
    return conn->state != CONN_CLOSING;
}

/*
 * Whether bytes a connection in clear received start with a TLS record (an alert or a
 * handshake message of TLS 1.0 to 1.3) rather than a frame: a broker whose client port
 * speaks TLS may answer a frame in clear with an alert. Never true of a frame, whose
 * fifth byte is PROTO_FRAME_VERSION (a record's is the low byte of its length).
 */
static bool looks_like_tls(const uint8_t *bytes, size_t bytes_count)
{
    enum { TLS_ALERT = 21, TLS_HANDSHAKE = 22, TLS_MAJOR_VERSION = 3, TLS_MINOR_VERSION_MAX = 4 };
    return bytes_count >= 5 && (bytes[0] == TLS_ALERT || bytes[0] == TLS_HANDSHAKE) &&
           bytes[1] == TLS_MAJOR_VERSION && bytes[2] <= TLS_MINOR_VERSION_MAX &&
           bytes[4] != PROTO_FRAME_VERSION;
}

/* Handles every whole frame in conn->input and keeps the rest for later. */
static void parse_frames(struct client_conn *conn)
{
    char message[CLIENT_ERROR_MESSAGE_BYTES];
    if (conn->tls == NULL && !conn->heard && looks_like_tls(conn->input.data, conn->input.length)) {
        snprintf(message, sizeof message,
                 "%s answered in TLS: its client port needs a TLS client (set tls_ca_file to "
                 "the CA that signs the brokers' certificates)",
                 conn->name);
        conn_fail(conn, ETHER_ERR_TLS_HANDSHAKE, message);
        return;
    }
    size_t consumed = 0;
    while (conn->state != CONN_CLOSING) {
        struct proto_frame_header header;
        const uint8_t *body = NULL;
        size_t frame_bytes = 0;
        int rc = proto_frame_parse(conn->input.data + consumed, conn->input.length - consumed,
                                   CLIENT_FRAME_BYTES_MAX, &header, &body, &frame_bytes);
        if (rc == ETHER_ERR_TRUNCATED) {
            break;
        }
        if (rc == ETHER_ERR_UNSUPPORTED) {
            consumed += frame_bytes; /* an api this client does not know: skip it */
            continue;
        }
        if (rc != ETHER_OK) {
            snprintf(message, sizeof message, "%s sent a bad frame: %s", conn->name,
                     ether_strerror(rc));
            conn_fail(conn, rc, message);
            return;
        }
        consumed += frame_bytes;
        if (!handle_frame(conn, &header, body)) {
            return;
        }
    }
    if (conn->state == CONN_CLOSING) {
        return;
    }
    ETHER_ASSERT(consumed <= conn->input.length);
    memmove(conn->input.data, conn->input.data + consumed, conn->input.length - consumed);
    conn->input.length -= consumed;
}

/* Ciphertext from the broker: through the session, then its plaintext to the frame parser. */
static void receive_tls(struct client_conn *conn, const uint8_t *bytes, size_t bytes_count)
{
    char message[CLIENT_ERROR_MESSAGE_BYTES];
    struct ether_tls_session *session = conn->tls;
    /* ETHER_ERR_BUSY cannot happen: all plaintext is read out below after every receive. */
    int rc = ether_tls_session_receive(session, bytes, bytes_count);
    if (ether_tls_session_state(session) == ETHER_TLS_FAILED) {
        snprintf(message, sizeof message, "%s: %s", conn->name,
                 ether_tls_session_error_message(session));
        conn_fail(conn, ether_tls_session_error(session), message); /* sends the alert */
        return;
    }
    if (!send_tls_output(conn)) {
        return;
    }
    if (rc == ETHER_ERR_CLOSED) {
        /* A refused login is answered before the broker closes; a close without that
         * answer is a broker going away (stopping, restarting): retried like any other. */
        snprintf(message, sizeof message, "%s closed the connection%s", conn->name,
                 conn->state == CONN_HANDSHAKING      ? " during the TLS handshake"
                 : conn->state == CONN_AUTHENTICATING ? " during the SCRAM-SHA-256 login"
                                                      : "");
        conn_fail(conn, ETHER_ERR_IO, message);
        return;
    }
    ETHER_ASSERT(rc == ETHER_OK);
    for (;;) {
        ether_buf_reserve(&conn->input, READ_CHUNK_BYTES);
        size_t read_bytes = 0;
        rc = ether_tls_session_read(session, conn->input.data + conn->input.length,
                                    conn->input.capacity - conn->input.length, &read_bytes);
        ETHER_ASSERT(rc == ETHER_OK); /* only a FAILED session refuses, and it is not */
        if (read_bytes == 0) {
            break;
        }
        conn->input.length += read_bytes;
    }
    if (conn->state == CONN_HANDSHAKING &&
        ether_tls_session_state(session) == ETHER_TLS_ESTABLISHED) {
        conn_established(conn);
    }
    parse_frames(conn);
    if (conn->state != CONN_CLOSING && ether_tls_session_peer_closed(session)) {
        /* Our close_notify answer went out with send_tls_output above. */
        snprintf(message, sizeof message, "%s closed the connection%s", conn->name,
                 conn->state == CONN_AUTHENTICATING ? " during the SCRAM-SHA-256 login" : "");
        conn_fail(conn, ETHER_ERR_IO, message);
    }
}

static void on_read(uv_stream_t *stream, ssize_t read_bytes, const uv_buf_t *buffer)
{
    struct client_conn *conn = (struct client_conn *)stream;
    if (read_bytes < 0) {
        /* A broker refuses a login with an answer before it closes (handle_login_frame has
         * failed the login then); a close without one is a broker going away: retried. */
        /* Without a word, a broker cannot say it wanted the other protocol: hint at it. */
        const char *hint = "";
        if (conn->state == CONN_AUTHENTICATING) {
            hint = " during the SCRAM-SHA-256 login";
        } else if (conn->state == CONN_HANDSHAKING) {
            hint = " during the TLS handshake (does its client port speak TLS?)";
        } else if (conn->tls == NULL && !conn->heard && conn->input.length == 0) {
            hint = " before answering (if its client port speaks TLS, set tls_ca_file)";
        }
        char message[CLIENT_ERROR_MESSAGE_BYTES];
        snprintf(message, sizeof message, "%s closed the connection%s%s%s", conn->name, hint,
                 read_bytes == UV_EOF ? "" : ": ",
                 read_bytes == UV_EOF ? "" : uv_strerror((int)read_bytes));
        conn_fail(conn, ETHER_ERR_IO, message);
        return;
    }
    if (conn->tls != NULL) {
        if (read_bytes > 0) {
            receive_tls(conn, (const uint8_t *)buffer->base, (size_t)read_bytes);
        }
        return;
    }
    conn->input.length += (size_t)read_bytes;
    parse_frames(conn);
}

static void on_connected(uv_connect_t *connect, int status)
{
    struct client_conn *conn = connect->data;
    if (conn->state == CONN_CLOSING) {
        return;
    }
    char message[CLIENT_ERROR_MESSAGE_BYTES];
    if (status < 0) {
        snprintf(message, sizeof message, "cannot connect to %s: %s", conn->name,
                 uv_strerror(status));
        conn_fail(conn, ETHER_ERR_IO, message);
        return;
    }
    if (conn->client->tls_config != NULL) {
        char errstr[ETHER_TLS_ERROR_MESSAGE_BYTES_MAX];
        int rc = ether_tls_session_new(conn->client->tls_config, conn->server_name, &conn->tls,
                                       errstr, sizeof errstr);
        if (rc != ETHER_OK) {
            snprintf(message, sizeof message, "%s: %.120s", conn->name, errstr);
            conn_fail(conn, ETHER_ERR_TLS_HANDSHAKE, message);
            return;
        }
        conn->state = CONN_HANDSHAKING;
    }
    int rc = uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
    if (rc < 0) {
        snprintf(message, sizeof message, "cannot read from %s: %s", conn->name, uv_strerror(rc));
        conn_fail(conn, ETHER_ERR_IO, message);
        return;
    }
    if (conn->tls != NULL) {
        (void)send_tls_output(conn); /* the ClientHello; requests wait for the handshake */
        return;
    }
    conn_ready(conn);
}

static void on_resolved(uv_getaddrinfo_t *resolve, int status, struct addrinfo *addresses)
{
    struct client_conn *conn = resolve->data;
    conn->resolve_pending = false;
    char message[CLIENT_ERROR_MESSAGE_BYTES];
    if (conn->state == CONN_CLOSING) {
        uv_freeaddrinfo(addresses);
        conn_maybe_free(conn);
        return;
    }
    if (status < 0) {
        snprintf(message, sizeof message, "cannot resolve %s: %s", conn->name, uv_strerror(status));
        conn_fail(conn, ETHER_ERR_IO, message);
        return;
    }
    int rc = uv_tcp_init(&conn->client->loop, &conn->tcp);
    ETHER_ASSERT(rc == 0);
    conn->tcp_open = true;
    uv_tcp_nodelay(&conn->tcp, 1);
    conn->state = CONN_CONNECTING;
    conn->connect.data = conn;
    rc = uv_tcp_connect(&conn->connect, &conn->tcp, addresses->ai_addr, on_connected);
    uv_freeaddrinfo(addresses);
    if (rc < 0) {
        snprintf(message, sizeof message, "cannot connect to %s: %s", conn->name, uv_strerror(rc));
        conn_fail(conn, ETHER_ERR_IO, message);
    }
}

static struct client_conn *conn_open(struct ether_client *client, struct client_broker *broker)
{
    struct client_conn *conn = ether_calloc(1, sizeof *conn);
    conn->client = client;
    conn->broker = broker;
    conn->state = CONN_RESOLVING;
    conn->server_name = ether_strdup(broker->host); /* the broker's host may change later */
    if (broker->broker_id != 0) {
        snprintf(conn->name, sizeof conn->name, "broker %u (%s:%u)", broker->broker_id,
                 broker->host, broker->port);
    } else {
        snprintf(conn->name, sizeof conn->name, "%s:%u", broker->host, broker->port);
    }
    conn->next = client->conns;
    client->conns = conn;
    broker->conn = conn;
    char port[8];
    snprintf(port, sizeof port, "%u", broker->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    conn->resolve.data = conn;
    conn->resolve_pending = true;
    int rc = uv_getaddrinfo(&client->loop, &conn->resolve, on_resolved, broker->host, port, &hints);
    if (rc < 0) {
        conn->resolve_pending = false;
        conn->fail_pending = ETHER_ERR_IO;
    }
    return conn;
}

int client_tls_config_new(const struct client_settings *settings,
                          struct ether_tls_config **config_out, char *errstr, size_t errstr_size)
{
    *config_out = NULL;
    if (settings->tls_ca_file[0] == '\0') {
        return ETHER_OK;
    }
    bool certificate = settings->tls_certificate_file[0] != '\0';
    bool private_key = settings->tls_private_key_file[0] != '\0';
    struct ether_tls_config_options options = {
        .role = ETHER_TLS_ROLE_CLIENT,
        .ca_file = settings->tls_ca_file,
        .certificate_file = certificate ? settings->tls_certificate_file : NULL,
        .private_key_file = private_key ? settings->tls_private_key_file : NULL,
    };
    /* Its sentences name the file and what is wrong with it. */
    int rc = ether_tls_config_new(&options, config_out, errstr, errstr_size);
    ETHER_ASSERT((rc == ETHER_OK) == (*config_out != NULL));
    return rc;
}

bool client_broker_usable(const struct ether_client *client, const struct client_broker *broker,
                          uint64_t now_ms)
{
    (void)client;
    return broker->conn != NULL || now_ms >= broker->reconnect_at_ms;
}

uint32_t client_broker_produce_in_flight(const struct client_broker *broker)
{
    return broker->conn != NULL ? broker->conn->produce_in_flight : 0;
}

int client_send(struct ether_client *client, struct client_broker *broker, uint16_t api_key,
                const ProtobufCMessage *body, bool expects_response, uint32_t timeout_ms,
                client_response_fn *on_response, void *context)
{
    ETHER_ASSERT(on_response != NULL);
    if (client->io_stopping) {
        return ETHER_ERR_CLOSED;
    }
    uint64_t now_ms = client_now_ms();
    if (!client_broker_usable(client, broker, now_ms)) {
        return ETHER_ERR_BUSY;
    }
    struct client_request *request = ether_calloc(1, sizeof *request);
    struct proto_frame_header header = {
        .api_key = api_key,
        .api_version = proto_api_version_max(api_key),
        .correlation_id = client->next_correlation_id++,
    };
    int rc = proto_frame_encode(&request->frame, &header, body, CLIENT_FRAME_BYTES_MAX);
    if (rc != ETHER_OK) {
        ether_buf_free(&request->frame);
        ether_free(request);
        return rc;
    }
    struct client_conn *conn = broker->conn != NULL ? broker->conn : conn_open(client, broker);
    request->conn = conn;
    request->api_key = api_key;
    request->correlation_id = header.correlation_id;
    request->expects_response = expects_response;
    request->deadline_ms = now_ms + timeout_ms;
    request->on_response = on_response;
    request->context = context;
    /* Appended at the tail: requests are written in the order they were sent. */
    struct client_request **link = &conn->requests;
    while (*link != NULL) {
        link = &(*link)->next;
    }
    *link = request;
    if (api_key == PROTO_API_PRODUCE) {
        conn->produce_in_flight++;
    }
    if (conn->state == CONN_READY) {
        write_request(conn, request);
    }
    return ETHER_OK;
}

void client_conns_check_timeouts(struct ether_client *client, uint64_t now_ms)
{
    struct client_conn *conn = client->conns;
    while (conn != NULL) {
        struct client_conn *next = conn->next;
        if (conn->fail_pending != ETHER_OK) {
            char message[CLIENT_ERROR_MESSAGE_BYTES];
            if (conn->tls != NULL && ether_tls_session_error(conn->tls) != ETHER_OK) {
                snprintf(message, sizeof message, "%s: %s", conn->name,
                         ether_tls_session_error_message(conn->tls));
            } else {
                snprintf(message, sizeof message, "cannot reach %s", conn->name);
            }
            conn_fail(conn, conn->fail_pending, message);
        } else if (conn->state == CONN_AUTHENTICATING && now_ms >= conn->login_deadline_ms) {
            char message[CLIENT_ERROR_MESSAGE_BYTES];
            snprintf(message, sizeof message,
                     "%s did not finish the SCRAM-SHA-256 login in time (%u ms)", conn->name,
                     client->settings.request_timeout_ms);
            conn_fail(conn, ETHER_ERR_TIMED_OUT, message);
        } else {
            for (struct client_request *request = conn->requests; request != NULL;
                 request = request->next) {
                if (!request->answered && now_ms >= request->deadline_ms) {
                    char message[CLIENT_ERROR_MESSAGE_BYTES];
                    const char *what = "could not be reached in time";
                    if (conn->state == CONN_READY) {
                        what = "did not answer in time";
                    } else if (conn->state == CONN_HANDSHAKING) {
                        what = "did not finish the TLS handshake in time (does its client port "
                               "speak TLS?)";
                    } else if (conn->state == CONN_AUTHENTICATING) {
                        what = "did not finish the SCRAM-SHA-256 login in time";
                    }
                    snprintf(message, sizeof message, "%s %s", conn->name, what);
                    conn_fail(conn, ETHER_ERR_TIMED_OUT, message);
                    break;
                }
            }
        }
        conn = next;
    }
}

void client_conns_close_all(struct ether_client *client)
{
    while (client->conns != NULL) {
        conn_fail(client->conns, ETHER_ERR_CLOSED, "the client is closing");
    }
}
