/*
 * Unit tests for broker/server: the server runs its libuv loop on a thread;
 * the test speaks to it through plain blocking sockets, as a client would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "broker/server.h"
#include "common/buf.h"
#include "common/error.h"

enum { CORRELATION_CLOSE_ME = 99, TEST_FRAME_BYTES_MAX = 4096 };

struct fixture {
    uv_loop_t loop;
    uv_async_t stop_signal;
    pthread_t thread;
    struct broker_server *server;
    uint16_t port;
    atomic_int requests_seen;
    atomic_int respond_after_close_result;
};

/* Answers every METADATA request with controller_id = its correlation id. */
static void on_request(void *context, struct broker_server *server, uint64_t connection_id,
                       const struct proto_frame_header *header, ProtobufCMessage *request)
{
    struct fixture *fixture = context;
    atomic_fetch_add(&fixture->requests_seen, 1);
    proto_message_free(request);
    Ether__MetadataResponse response = ETHER__METADATA_RESPONSE__INIT;
    response.controller_id = header->correlation_id;
    if (header->correlation_id == CORRELATION_CLOSE_ME) {
        broker_server_close_connection(server, connection_id);
        atomic_store(&fixture->respond_after_close_result,
                     broker_server_respond(server, connection_id, header->api_key,
                                           header->correlation_id, &response.base));
        return;
    }
    /* No cmocka asserts on the loop thread: a failed answer shows as a missing response. */
    (void)broker_server_respond(server, connection_id, header->api_key, header->correlation_id,
                                &response.base);
}

static void on_stop_signal(uv_async_t *async)
{
    struct fixture *fixture = async->data;
    broker_server_stop(fixture->server, NULL, NULL);
    uv_close((uv_handle_t *)async, NULL);
}

static void *loop_thread(void *argument)
{
    struct fixture *fixture = argument;
    uv_run(&fixture->loop, UV_RUN_DEFAULT);
    return NULL;
}

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    assert_int_equal(uv_loop_init(&fixture->loop), 0);
    struct broker_server_options options;
    broker_server_options_init(&options);
    options.port = 0;
    options.frame_bytes_max = TEST_FRAME_BYTES_MAX;
    options.connections_max = 4;
    options.on_request = on_request;
    options.handler_context = fixture;
    char errbuf[256];
    assert_int_equal(
        broker_server_start(&fixture->loop, &options, &fixture->server, errbuf, sizeof errbuf),
        ETHER_OK);
    fixture->port = broker_server_port(fixture->server);
    assert_true(fixture->port != 0);
    uv_async_init(&fixture->loop, &fixture->stop_signal, on_stop_signal);
    fixture->stop_signal.data = fixture;
    assert_int_equal(pthread_create(&fixture->thread, NULL, loop_thread, fixture), 0);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    uv_async_send(&fixture->stop_signal);
    pthread_join(fixture->thread, NULL);
    assert_int_equal(uv_loop_close(&fixture->loop), 0);
    free(fixture);
    return 0;
}

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval timeout = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof address), 0);
    return fd;
}

static void append_metadata_request(struct ether_buf *out, uint32_t correlation_id)
{
    Ether__MetadataRequest request = ETHER__METADATA_REQUEST__INIT;
    struct proto_frame_header header = {
        .api_key = PROTO_API_METADATA, .api_version = 1, .correlation_id = correlation_id};
    assert_int_equal(proto_frame_encode(out, &header, &request.base, TEST_FRAME_BYTES_MAX),
                     ETHER_OK);
}

static void send_all(int fd, const uint8_t *data, size_t size_bytes)
{
    while (size_bytes > 0) {
        ssize_t sent = send(fd, data, size_bytes, MSG_NOSIGNAL);
        assert_true(sent > 0);
        data += sent;
        size_bytes -= (size_t)sent;
    }
}

struct response {
    bool is_error;
    uint32_t error;         /* with is_error */
    uint32_t controller_id; /* without */
};

/* Reads one response frame; returns its correlation id, or -1 on EOF. */
static int64_t receive_frame(int fd, struct response *response)
{
    uint8_t buffer[TEST_FRAME_BYTES_MAX];
    size_t have = 0;
    for (;;) {
        struct proto_frame_header header;
        const uint8_t *body;
        size_t frame_bytes;
        int rc = proto_frame_parse(buffer, have, sizeof buffer, &header, &body, &frame_bytes);
        if (rc == ETHER_OK) {
            assert_true(header.is_response);
            ProtobufCMessage *message = NULL;
            assert_int_equal(proto_body_unpack(&header, body, &message), ETHER_OK);
            response->is_error = header.is_error;
            if (header.is_error) {
                response->error = ((Ether__ErrorResponse *)message)->error;
            } else {
                response->controller_id = ((Ether__MetadataResponse *)message)->controller_id;
            }
            proto_message_free(message);
            return header.correlation_id;
        }
        assert_int_equal(rc, ETHER_ERR_TRUNCATED);
        /* Read one byte at a time so a second frame stays in the socket for the next call. */
        ssize_t received = recv(fd, buffer + have, 1, 0);
        if (received <= 0) {
            return -1;
        }
        have += (size_t)received;
    }
}

static int64_t receive_response(int fd, uint32_t *controller_id)
{
    struct response response = {0};
    int64_t correlation_id = receive_frame(fd, &response);
    if (correlation_id >= 0) {
        assert_false(response.is_error);
        *controller_id = response.controller_id;
    }
    return correlation_id;
}

/* A frame with the given header fields and body bytes. */
static void send_raw_frame(int fd, uint16_t api_key, uint16_t api_version, uint8_t flags,
                           uint32_t correlation_id, const uint8_t *body, size_t body_bytes)
{
    uint8_t frame[PROTO_FRAME_HEADER_BYTES + 64];
    assert_true(body_bytes <= 64);
    ether_put_u32le(frame, (uint32_t)(PROTO_FRAME_HEADER_BYTES - 4 + body_bytes));
    frame[4] = PROTO_FRAME_VERSION;
    frame[5] = flags;
    ether_put_u16le(frame + 6, api_key);
    ether_put_u16le(frame + 8, api_version);
    ether_put_u16le(frame + 10, 0);
    ether_put_u32le(frame + 12, correlation_id);
    if (body_bytes > 0) {
        memcpy(frame + PROTO_FRAME_HEADER_BYTES, body, body_bytes);
    }
    send_all(fd, frame, PROTO_FRAME_HEADER_BYTES + body_bytes);
}

static void test_each_request_gets_its_response_in_order(void **state)
{
    struct fixture *fixture = *state;
    int fd = connect_to(fixture->port);
    struct ether_buf out = ETHER_BUF_INIT;
    for (uint32_t id = 1; id <= 3; id++) {
        append_metadata_request(&out, id);
    }
    /* Three frames in one write, the last split in two sends. */
    send_all(fd, out.data, out.length - 5);
    usleep(20000);
    send_all(fd, out.data + out.length - 5, 5);
    for (uint32_t id = 1; id <= 3; id++) {
        uint32_t controller_id = 0;
        assert_int_equal(receive_response(fd, &controller_id), id);
        assert_int_equal(controller_id, id);
    }
    assert_int_equal(atomic_load(&fixture->requests_seen), 3);
    ether_buf_free(&out);
    close(fd);
}

static void test_frame_over_the_limit_closes_the_connection(void **state)
{
    struct fixture *fixture = *state;
    int fd = connect_to(fixture->port);
    uint8_t announced[PROTO_FRAME_HEADER_BYTES] = {0};
    ether_put_u32le(announced, TEST_FRAME_BYTES_MAX * 2);
    send_all(fd, announced, sizeof announced);
    uint32_t controller_id;
    assert_int_equal(receive_response(fd, &controller_id), -1);
    assert_int_equal(atomic_load(&fixture->requests_seen), 0);
    close(fd);

    /* The server itself is fine: a new connection is served. */
    fd = connect_to(fixture->port);
    struct ether_buf out = ETHER_BUF_INIT;
    append_metadata_request(&out, 7);
    send_all(fd, out.data, out.length);
    assert_int_equal(receive_response(fd, &controller_id), 7);
    ether_buf_free(&out);
    close(fd);
}

static void test_undecodable_body_gets_an_error_answer_then_the_connection_closes(void **state)
{
    struct fixture *fixture = *state;
    int fd = connect_to(fixture->port);
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff};
    send_raw_frame(fd, PROTO_API_METADATA, 1, 0, 41, garbage, sizeof garbage);
    struct response response = {0};
    assert_int_equal(receive_frame(fd, &response), 41);
    assert_true(response.is_error);
    assert_int_equal(response.error, ETHER_ERR_CORRUPT);
    assert_int_equal(receive_frame(fd, &response), -1);
    assert_int_equal(atomic_load(&fixture->requests_seen), 0);
    close(fd);
}

static void test_unknown_api_gets_an_error_answer_then_the_connection_closes(void **state)
{
    struct fixture *fixture = *state;
    int fd = connect_to(fixture->port);
    send_raw_frame(fd, 999, 1, 0, 42, NULL, 0);
    struct response response = {0};
    assert_int_equal(receive_frame(fd, &response), 42);
    assert_true(response.is_error);
    assert_int_equal(response.error, ETHER_ERR_UNSUPPORTED);
    assert_int_equal(receive_frame(fd, &response), -1);
    close(fd);
}

static void test_response_frame_from_a_client_is_refused(void **state)
{
    struct fixture *fixture = *state;
    int fd = connect_to(fixture->port);
    send_raw_frame(fd, PROTO_API_METADATA, 1, PROTO_FRAME_FLAG_RESPONSE, 43, NULL, 0);
    struct response response = {0};
    assert_int_equal(receive_frame(fd, &response), 43);
    assert_true(response.is_error);
    assert_int_equal(response.error, ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(receive_frame(fd, &response), -1);
    close(fd);
}

static void test_newer_api_version_is_refused_but_the_connection_stays_usable(void **state)
{
    struct fixture *fixture = *state;
    int fd = connect_to(fixture->port);
    send_raw_frame(fd, PROTO_API_METADATA, 2000, 0, 44, NULL, 0);
    struct response response = {0};
    assert_int_equal(receive_frame(fd, &response), 44);
    assert_true(response.is_error);
    assert_int_equal(response.error, ETHER_ERR_UNSUPPORTED);

    struct ether_buf out = ETHER_BUF_INIT;
    append_metadata_request(&out, 45);
    send_all(fd, out.data, out.length);
    uint32_t controller_id = 0;
    assert_int_equal(receive_response(fd, &controller_id), 45);
    assert_int_equal(controller_id, 45);
    ether_buf_free(&out);
    close(fd);
}

static void test_response_to_a_closed_connection_is_dropped_by_name(void **state)
{
    struct fixture *fixture = *state;
    int fd = connect_to(fixture->port);
    struct ether_buf out = ETHER_BUF_INIT;
    append_metadata_request(&out, CORRELATION_CLOSE_ME);
    send_all(fd, out.data, out.length);
    uint32_t controller_id;
    assert_int_equal(receive_response(fd, &controller_id), -1);
    /* The socket closes inside the handler, before it records its answer: wait for that. */
    for (int waited_ms = 0; waited_ms < 5000; waited_ms++) {
        if (atomic_load(&fixture->respond_after_close_result) != ETHER_OK) {
            break;
        }
        usleep(1000);
    }
    assert_int_equal(atomic_load(&fixture->respond_after_close_result), ETHER_ERR_CLOSED);
    ether_buf_free(&out);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each_request_gets_its_response_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_frame_over_the_limit_closes_the_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_undecodable_body_gets_an_error_answer_then_the_connection_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_unknown_api_gets_an_error_answer_then_the_connection_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_frame_from_a_client_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_newer_api_version_is_refused_but_the_connection_stays_usable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_to_a_closed_connection_is_dropped_by_name,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
