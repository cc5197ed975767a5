/*
 * cluster_harness.h: real etherd processes on loopback for integration tests,
 * and a blocking client that speaks the wire protocol directly (proto/).
 *
 * Each harness gets its own temporary data root and a port range derived from
 * its pid, so tests can run next to `make run`. Broker logs go to
 * <data root>/broker-N.log and are printed when a test fails.
 *
 * TLS (harness_start_with, options.tls): scripts/make-test-certs writes
 * certificates to <data root>/certs; broker N presents broker-N's on its
 * client port and to the other brokers (mTLS), and the harness's own
 * connections become TLS clients presenting alice's (bob and carol are two more client
 * certificates, for tests of principals). A connection is a plain
 * fd either way: harness_call, harness_send_raw and harness_receive go
 * through the fd's TLS session when it has one (a table in the harness, so
 * close such fds with harness_close).
 */
#ifndef ETHER_TESTS_CLUSTER_HARNESS_H
#define ETHER_TESTS_CLUSTER_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "proto/proto.h"

enum { HARNESS_BROKERS_MAX = 5, HARNESS_EXTRA_ARGUMENTS_MAX = 16 };

struct harness_options {
    /* TLS on every broker (see above); the certificates are in harness->certs_dir. */
    bool tls;
    /* More arguments for every broker ("--option", "value", ...), NULL-terminated; the
     * strings must outlive the harness. NULL: none. */
    const char *const *extra_arguments;
    /* Broker N runs with --rack rack-N. */
    bool racks;
};

struct harness {
    char etherd_path[512];
    char data_root[256];
    int brokers_count;
    uint16_t base_port;
    pid_t pids[HARNESS_BROKERS_MAX + 1]; /* by broker id; 0 when not running */
    bool tls;
    char certs_dir[300]; /* with tls: <data root>/certs */
    const char *const *extra_arguments;
    bool racks;
};

/* Starts `brokers_count` brokers (ids 1..n) and waits until every one answers. */
void harness_start(struct harness *harness, int brokers_count);
/* The same with options (NULL: as harness_start). */
void harness_start_with(struct harness *harness, int brokers_count,
                        const struct harness_options *options);
/* SIGTERM every broker, wait, remove data; returns how many did not exit 0. */
int harness_stop(struct harness *harness);
void harness_start_broker(struct harness *harness, int broker_id);
/* Sends the signal and waits; returns the waitpid status (0 if it was not running). */
int harness_kill_broker(struct harness *harness, int broker_id, int signal_number);
uint16_t harness_port(const struct harness *harness, int broker_id);
void harness_print_logs(const struct harness *harness);

/* A blocking plaintext connection with a receive timeout; -1 on failure. */
int harness_connect(uint16_t port);

/*
 * A blocking TLS connection whose handshake is done, as the client `identity` (the name of
 * a certificate in harness->certs_dir: "alice", "broker-2", "other-alice"; NULL presents
 * none), trusting the harness's CA and checking the broker's certificate for 127.0.0.1.
 * -1 when the connection or the handshake fails (why goes to stderr). In TLS 1.3 a server
 * refuses a client certificate only after the client's handshake is done: the first
 * call then fails instead.
 */
int harness_connect_tls(const struct harness *harness, uint16_t port, const char *identity);

/* What the harness's own helpers use: harness_connect_tls as alice with TLS, else
 * harness_connect. */
int harness_client_connect(const struct harness *harness, uint16_t port);

/* Closes a connection of any kind, with its TLS session. */
void harness_close(int fd);

/* The common name of the broker certificate a TLS connection verified; NULL without TLS. */
const char *harness_tls_peer_common_name(int fd);

/*
 * Sends one request and waits for its response. Returns 0 with *response
 * (free with proto_message_free) or an error (ETHER_ERR_CLOSED, TIMED_OUT,
 * or the ErrorResponse's code when the broker answered with one).
 */
int harness_call(int fd, uint16_t api_key, const ProtobufCMessage *request,
                 ProtobufCMessage **response);

/* Sends bytes as they are. */
void harness_send_raw(int fd, const void *data, size_t size_bytes);

/* Reads one frame; 0 with header and unpacked body, or -1 on EOF/timeout. */
int harness_receive(int fd, struct proto_frame_header *header, ProtobufCMessage **body);

/* How many lines of broker `broker_id`'s log contain `text`. */
int harness_log_count(const struct harness *harness, int broker_id, const char *text);

/* One metadata call to `broker_id`; NULL when it does not answer. */
Ether__MetadataResponse *harness_metadata(struct harness *harness, int broker_id,
                                          const char *topic);

/* Creates a topic through whichever broker is the controller (retries while electing). */
int harness_create_topic(struct harness *harness, const char *name, uint32_t partitions,
                         uint32_t replication_factor);

/* Waits until every partition of `topic` has a leader known to `broker_id`. */
bool harness_wait_for_leaders(struct harness *harness, int broker_id, const char *topic,
                              uint32_t partitions, int timeout_ms);

/* Builds an uncompressed batch of `count` records "key-<n>"/"value-<n>" for n from first. */
void harness_build_batch(struct ether_buf *batch, uint64_t first, uint32_t count);

/* The same, stamped with an idempotent producer's id, epoch and base sequence. */
void harness_build_producer_batch(struct ether_buf *batch, uint64_t first, uint32_t count,
                                  int64_t producer_id, int16_t producer_epoch,
                                  int32_t base_sequence);

/*
 * Produces `batch` to one partition over `fd` and waits for the answer: the partition's
 * error, or the call's (an ErrorResponse's code, ETHER_ERR_CLOSED, ...). base_offset and
 * leader_hint (NULL: not wanted) get the partition's answer.
 */
int harness_produce_batch(int fd, const char *topic, uint32_t partition,
                          const struct ether_buf *batch, Ether__Acks acks, uint64_t *base_offset,
                          uint32_t *leader_hint);

/* Fetches one partition from `offset` over `fd`, waiting up to max_wait_ms for data; the
 * call's result, with *response (free with proto_message_free) when it is ETHER_OK. */
int harness_fetch_partition(int fd, const char *topic, uint32_t partition, uint64_t offset,
                            uint32_t max_wait_ms, Ether__FetchResponse **response);

/* Sends `request` to whichever broker is the controller leader (retrying while electing). */
int harness_call_controller(struct harness *harness, uint16_t api_key,
                            const ProtobufCMessage *request, ProtobufCMessage **response);

uint64_t harness_now_ms(void);

/* Lines containing `text` in every broker's log together. */
int harness_log_count_all(const struct harness *harness, const char *text);

/* Runs `command` through the shell; returns its exit status (128 when it did not exit), its
 * output (stdout, and stderr if the command redirects it) in `output`. -1 when it cannot
 * start. */
int harness_run_command(const char *command, char *output, size_t output_size);

/* Sends `request` (a whole HTTP/1.1 request) to broker `broker_id`'s HTTP port (its client
 * port + 100) and reads the answer into `response` until the broker closes; the bytes read,
 * -1 when it cannot connect. */
int harness_http_exchange(const struct harness *harness, int broker_id, const char *request,
                          char *response, size_t response_bytes_max);

/* The value of the sample `series` (name and labels) in a /metrics answer; false if absent. */
bool harness_metric_value(const char *response, const char *series, uint64_t *value);

#endif
