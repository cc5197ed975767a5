/*
 * discovery.c: happy path: every round, one short TCP exchange per seed
 * peer (connect, METADATA request, one response frame, close); the answers
 * decide the incarnation as discovery.h describes.
 *
 * With TLS the request is written into the exchange's client session right
 * after connect (the session keeps it until the handshake is done) and every
 * read goes through the session.
 *
 * Failure modes: a peer that refuses, times out, fails the TLS handshake or
 * answers garbage simply has not answered this round; nothing is decided on partial knowledge
 * except "a running cluster lists me", which one peer is enough to tell.
 */
#include "broker/discovery.h"

#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "proto/proto.h"

#include <stdbool.h>
#include <string.h>

enum {
    DISCOVERY_ROUND_MS = 500,
    DISCOVERY_LOG_EVERY_ROUNDS = 10,
    RESPONSE_BYTES_MAX = 4 * 1024 * 1024,
    TLS_READ_BYTES = 16 * 1024,
};

enum peer_answer {
    ANSWER_NONE,
    ANSWER_FRESH,
    ANSWER_EXISTING_UNDECIDED, /* a cluster exists, but this peer is still catching up */
    ANSWER_LISTS_ME,           /* a caught-up peer lists this broker (incarnation kept) */
    ANSWER_NEVER_HEARD,        /* a caught-up peer does not list this broker */
};

struct exchange;

struct broker_discovery {
    uv_loop_t *loop;
    const struct broker_config *config;
    const struct ether_logger *logger;
    const struct ether_tls_config *tls_config; /* borrowed; NULL: plaintext */
    bool tls_failure_logged[BROKER_SEEDS_MAX];
    broker_discovered_fn *done;
    void *context;
    uv_timer_t timer;
    enum peer_answer answers[BROKER_SEEDS_MAX];
    uint64_t listed_incarnation[BROKER_SEEDS_MAX]; /* with ANSWER_LISTS_ME */
    bool in_flight[BROKER_SEEDS_MAX];
    uint32_t exchanges_open;
    uint32_t rounds;
    bool finished;
    uint32_t incarnation;
};

struct exchange {
    struct broker_discovery *discovery;
    size_t seed_index;
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    struct ether_buf request;
    struct ether_buf response; /* plaintext */
    struct ether_tls_session *tls;
    uint8_t tls_read_buffer[TLS_READ_BYTES];
};

/* One write of a TLS session's output. */
struct tls_write {
    uv_write_t request;
    struct exchange *exchange;
    uint8_t *bytes;
};

static void maybe_free(struct broker_discovery *discovery);

static void on_timer_closed(uv_handle_t *handle)
{
    struct broker_discovery *discovery = handle->data;
    discovery->timer.data = NULL;
    maybe_free(discovery);
}

/* Frees the discovery once it is finished and nothing of it is on the loop. */
static void maybe_free(struct broker_discovery *discovery)
{
    if (discovery->finished && discovery->exchanges_open == 0 && discovery->timer.data == NULL) {
        ether_free(discovery);
    }
}

static void finish(struct broker_discovery *discovery, uint32_t incarnation)
{
    if (discovery->finished) {
        return;
    }
    discovery->finished = true;
    discovery->incarnation = incarnation;
    uv_timer_stop(&discovery->timer);
    uv_close((uv_handle_t *)&discovery->timer, on_timer_closed);
    if (discovery->done != NULL) {
        discovery->done(discovery->context, incarnation);
    }
}

static void on_exchange_closed(uv_handle_t *handle)
{
    struct exchange *exchange = handle->data;
    struct broker_discovery *discovery = exchange->discovery;
    discovery->in_flight[exchange->seed_index] = false;
    ether_buf_free(&exchange->request);
    ether_buf_free(&exchange->response);
    ether_tls_session_free(exchange->tls);
    ether_free(exchange);
    ETHER_ASSERT(discovery->exchanges_open > 0);
    discovery->exchanges_open--;
    maybe_free(discovery);
}

static void exchange_close(struct exchange *exchange)
{
    if (!uv_is_closing((uv_handle_t *)&exchange->tcp)) {
        uv_close((uv_handle_t *)&exchange->tcp, on_exchange_closed);
    }
}

/*
 * Reads one peer's metadata answer. A peer reports its controller only once it
 * has applied everything it knows to be committed, so only such answers are
 * used to decide; the decision itself waits for a majority of the peers
 * (on_round), taking the highest incarnation any of them lists.
 */
static void evaluate(struct exchange *exchange, const Ether__MetadataResponse *metadata)
{
    struct broker_discovery *discovery = exchange->discovery;
    size_t seed = exchange->seed_index;
    if (discovery->finished) {
        return; /* an answer from a round that was already decisive */
    }
    if (metadata->cluster_id == NULL || metadata->cluster_id[0] == '\0') {
        discovery->answers[seed] = ANSWER_FRESH;
        return;
    }
    if (metadata->controller_id == 0) {
        discovery->answers[seed] = ANSWER_EXISTING_UNDECIDED;
        return;
    }
    discovery->answers[seed] = ANSWER_NEVER_HEARD;
    for (size_t i = 0; i < metadata->n_brokers; i++) {
        const Ether__BrokerAddress *broker = metadata->brokers[i];
        if (broker->broker_id == discovery->config->broker_id && broker->incarnation > 0 &&
            broker->incarnation < UINT32_MAX) {
            discovery->answers[seed] = ANSWER_LISTS_ME;
            discovery->listed_incarnation[seed] = broker->incarnation;
        }
    }
}

static void on_alloc(uv_handle_t *handle, size_t suggested_bytes, uv_buf_t *buf)
{
    (void)suggested_bytes;
    struct exchange *exchange = handle->data;
    if (exchange->tls != NULL) {
        buf->base = (char *)exchange->tls_read_buffer;
        buf->len = sizeof exchange->tls_read_buffer;
        return;
    }
    ether_buf_reserve(&exchange->response, 64 * 1024);
    buf->base = (char *)exchange->response.data + exchange->response.length;
    buf->len = exchange->response.capacity - exchange->response.length;
}

static void on_tls_written(uv_write_t *request, int status)
{
    struct tls_write *write = (struct tls_write *)request;
    struct exchange *exchange = write->exchange;
    ether_free(write->bytes);
    ether_free(write);
    if (status != 0) {
        exchange_close(exchange);
    }
}

/* Writes the session's waiting ciphertext; false when that failed and closed the exchange. */
static bool flush_tls_output(struct exchange *exchange)
{
    size_t waiting = ether_tls_session_output_bytes(exchange->tls);
    if (waiting == 0) {
        return true;
    }
    struct tls_write *write = ether_calloc(1, sizeof *write);
    write->exchange = exchange;
    write->bytes = ether_malloc(waiting);
    size_t taken = ether_tls_session_take_output(exchange->tls, write->bytes, waiting);
    ETHER_ASSERT(taken == waiting);
    uv_buf_t buf = uv_buf_init((char *)write->bytes, (unsigned)taken);
    if (uv_write(&write->request, (uv_stream_t *)&exchange->tcp, &buf, 1, on_tls_written) != 0) {
        ether_free(write->bytes);
        ether_free(write);
        exchange_close(exchange);
        return false;
    }
    return true;
}

static void tls_failed(struct exchange *exchange, const char *sentence)
{
    struct broker_discovery *discovery = exchange->discovery;
    const struct broker_seed *seed = &discovery->config->seeds[exchange->seed_index];
    if (!discovery->tls_failure_logged[exchange->seed_index]) {
        discovery->tls_failure_logged[exchange->seed_index] = true;
        ether_log_warn(discovery->logger, "cannot ask broker %u at %s:%u who this broker is: %s",
                       seed->broker_id, seed->host, seed->port, sentence);
    } else {
        ether_log_debug(discovery->logger, "cannot ask broker %u at %s:%u: %s", seed->broker_id,
                        seed->host, seed->port, sentence);
    }
    exchange_close(exchange);
}

/* Ciphertext from the peer: through the session; false when the exchange is over. */
static bool receive_tls(struct exchange *exchange, const uint8_t *bytes, size_t bytes_count)
{
    (void)ether_tls_session_receive(exchange->tls, bytes, bytes_count);
    if (!flush_tls_output(exchange)) {
        return false;
    }
    if (ether_tls_session_state(exchange->tls) == ETHER_TLS_FAILED) {
        tls_failed(exchange, ether_tls_session_error_message(exchange->tls));
        return false;
    }
    for (;;) {
        ether_buf_reserve(&exchange->response, TLS_READ_BYTES);
        size_t read_bytes = 0;
        int rc = ether_tls_session_read(
            exchange->tls, exchange->response.data + exchange->response.length,
            exchange->response.capacity - exchange->response.length, &read_bytes);
        if (rc != ETHER_OK || read_bytes == 0) {
            break;
        }
        exchange->response.length += read_bytes;
    }
    return true;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct exchange *exchange = stream->data;
    if (nread < 0) {
        if (exchange->tls != NULL &&
            ether_tls_session_state(exchange->tls) == ETHER_TLS_HANDSHAKING) {
            tls_failed(exchange, "the broker closed the connection during the TLS handshake");
            return;
        }
        exchange_close(exchange);
        return;
    }
    if (exchange->tls != NULL) {
        if (!receive_tls(exchange, (const uint8_t *)buf->base, (size_t)nread)) {
            return;
        }
    } else {
        exchange->response.length += (size_t)nread;
    }
    struct proto_frame_header header;
    const uint8_t *body = NULL;
    size_t frame_bytes = 0;
    int rc = proto_frame_parse(exchange->response.data, exchange->response.length,
                               RESPONSE_BYTES_MAX, &header, &body, &frame_bytes);
    if (rc == ETHER_ERR_TRUNCATED) {
        return;
    }
    ProtobufCMessage *message = NULL;
    if (rc == ETHER_OK && header.is_response && !header.is_error &&
        header.api_key == PROTO_API_METADATA &&
        proto_body_unpack(&header, body, &message) == ETHER_OK) {
        evaluate(exchange, (const Ether__MetadataResponse *)message);
        proto_message_free(message);
    }
    exchange_close(exchange);
}

static void on_written(uv_write_t *request, int status)
{
    struct exchange *exchange = request->data;
    if (status != 0) {
        exchange_close(exchange);
        return;
    }
    uv_read_start((uv_stream_t *)&exchange->tcp, on_alloc, on_read);
}

static void on_connect(uv_connect_t *request, int status)
{
    struct exchange *exchange = request->data;
    if (status != 0 || exchange->discovery->finished) {
        exchange_close(exchange);
        return;
    }
    Ether__MetadataRequest metadata = ETHER__METADATA_REQUEST__INIT;
    struct proto_frame_header header = {
        .api_key = PROTO_API_METADATA,
        .api_version = proto_api_version_max(PROTO_API_METADATA),
        .correlation_id = 1,
    };
    int rc = proto_frame_encode(&exchange->request, &header, &metadata.base, RESPONSE_BYTES_MAX);
    ETHER_ASSERT(rc == ETHER_OK);
    struct broker_discovery *discovery = exchange->discovery;
    if (discovery->tls_config != NULL) {
        const struct broker_seed *seed = &discovery->config->seeds[exchange->seed_index];
        char errstr[ETHER_TLS_ERROR_MESSAGE_BYTES_MAX];
        rc = ether_tls_session_new(discovery->tls_config, seed->host, &exchange->tls, errstr,
                                   sizeof errstr);
        if (rc != ETHER_OK) {
            tls_failed(exchange, errstr);
            return;
        }
        /* Kept in the session until the handshake is done. */
        rc = ether_tls_session_write(exchange->tls, exchange->request.data,
                                     exchange->request.length);
        ETHER_ASSERT(rc == ETHER_OK);
        if (flush_tls_output(exchange)) {
            uv_read_start((uv_stream_t *)&exchange->tcp, on_alloc, on_read);
        }
        return;
    }
    uv_buf_t buf = uv_buf_init((char *)exchange->request.data, (unsigned)exchange->request.length);
    exchange->write.data = exchange;
    if (uv_write(&exchange->write, (uv_stream_t *)&exchange->tcp, &buf, 1, on_written) != 0) {
        exchange_close(exchange);
    }
}

static void ask(struct broker_discovery *discovery, size_t seed_index)
{
    const struct broker_seed *seed = &discovery->config->seeds[seed_index];
    struct sockaddr_storage address;
    if (uv_ip4_addr(seed->host, seed->port, (struct sockaddr_in *)&address) != 0 &&
        uv_ip6_addr(seed->host, seed->port, (struct sockaddr_in6 *)&address) != 0) {
        return;
    }
    struct exchange *exchange = ether_calloc(1, sizeof *exchange);
    exchange->discovery = discovery;
    exchange->seed_index = seed_index;
    ether_buf_init(&exchange->request);
    ether_buf_init(&exchange->response);
    uv_tcp_init(discovery->loop, &exchange->tcp);
    exchange->tcp.data = exchange;
    exchange->connect.data = exchange;
    discovery->exchanges_open++;
    discovery->in_flight[seed_index] = true;
    if (uv_tcp_connect(&exchange->connect, &exchange->tcp, (const struct sockaddr *)&address,
                       on_connect) != 0) {
        exchange_close(exchange);
    }
}

static void on_round(uv_timer_t *timer)
{
    struct broker_discovery *discovery = timer->data;
    const struct broker_config *config = discovery->config;
    size_t peers = 0;
    size_t fresh = 0;
    for (size_t i = 0; i < config->seeds_count; i++) {
        if (config->seeds[i].broker_id == config->broker_id) {
            continue;
        }
        peers++;
        fresh += discovery->answers[i] == ANSWER_FRESH;
    }
    if (fresh == peers) {
        ether_log_info(discovery->logger,
                       "every seed broker answered and none holds a cluster yet: founding it");
        finish(discovery, 1);
        return;
    }
    size_t decided = 0;
    uint64_t listed_max = 0;
    for (size_t i = 0; i < config->seeds_count; i++) {
        if (discovery->answers[i] == ANSWER_LISTS_ME ||
            discovery->answers[i] == ANSWER_NEVER_HEARD) {
            decided++;
            if (discovery->answers[i] == ANSWER_LISTS_ME &&
                discovery->listed_incarnation[i] > listed_max) {
                listed_max = discovery->listed_incarnation[i];
            }
        }
    }
    /* Half of the peers, rounded up: with this broker, a majority of the seeds. */
    if (decided > 0 && decided >= (peers + 1) / 2) {
        if (listed_max > 0) {
            ether_log_warn(discovery->logger,
                           "the cluster knows this broker as incarnation %llu but its data "
                           "directory is empty: rejoining as incarnation %llu, a new member "
                           "that is refilled from the others",
                           (unsigned long long)listed_max, (unsigned long long)listed_max + 1);
            finish(discovery, (uint32_t)listed_max + 1);
        } else {
            ether_log_info(discovery->logger, "joining a running cluster for the first time");
            finish(discovery, 1);
        }
        return;
    }
    discovery->rounds++;
    if (discovery->rounds % DISCOVERY_LOG_EVERY_ROUNDS == 0) {
        ether_log_info(discovery->logger,
                       "empty data directory: waiting for the seed brokers to tell whether "
                       "this broker was a member before (%zu of %zu answered)",
                       fresh, peers);
    }
    for (size_t i = 0; i < config->seeds_count; i++) {
        if (config->seeds[i].broker_id != config->broker_id && !discovery->in_flight[i] &&
            discovery->answers[i] != ANSWER_FRESH) {
            ask(discovery, i);
        }
    }
}

void broker_discovery_start(uv_loop_t *loop, const struct broker_config *config,
                            const struct ether_logger *logger,
                            const struct ether_tls_config *tls_config, broker_discovered_fn *done,
                            void *context, struct broker_discovery **discovery_out)
{
    ETHER_ASSERT(config->seeds_count <= BROKER_SEEDS_MAX);
    ETHER_ASSERT(tls_config == NULL || ether_tls_config_role(tls_config) == ETHER_TLS_ROLE_CLIENT);
    struct broker_discovery *discovery = ether_calloc(1, sizeof *discovery);
    discovery->loop = loop;
    discovery->config = config;
    discovery->logger = logger;
    discovery->tls_config = tls_config;
    discovery->done = done;
    discovery->context = context;
    uv_timer_init(loop, &discovery->timer);
    discovery->timer.data = discovery;
    /* The first round asks at once; later rounds decide on what came back. */
    for (size_t i = 0; i < config->seeds_count; i++) {
        if (config->seeds[i].broker_id != config->broker_id) {
            ask(discovery, i);
        }
    }
    uv_timer_start(&discovery->timer, on_round, DISCOVERY_ROUND_MS, DISCOVERY_ROUND_MS);
    *discovery_out = discovery;
}

void broker_discovery_set_tls_config(struct broker_discovery *discovery,
                                     const struct ether_tls_config *tls_config)
{
    ETHER_ASSERT(tls_config != NULL);
    ETHER_ASSERT(ether_tls_config_role(tls_config) == ETHER_TLS_ROLE_CLIENT);
    discovery->tls_config = tls_config;
}

void broker_discovery_cancel(struct broker_discovery *discovery)
{
    discovery->done = NULL;
    finish(discovery, 0);
}
