/*
 * cluster_harness.h: real etherd processes on loopback for integration tests,
 * and a blocking client that speaks the wire protocol directly (proto/).
 *
 * Each harness gets its own temporary data root and a port range derived from
 * its pid, so tests can run next to `make run`. Broker logs go to
 * <data root>/broker-N.log and are printed when a test fails.
 */
#ifndef ETHER_TESTS_CLUSTER_HARNESS_H
#define ETHER_TESTS_CLUSTER_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "proto/proto.h"

enum { HARNESS_BROKERS_MAX = 5 };

struct harness {
    char etherd_path[512];
    char data_root[256];
    int brokers_count;
    uint16_t base_port;
    pid_t pids[HARNESS_BROKERS_MAX + 1]; /* by broker id; 0 when not running */
};

/* Starts `brokers_count` brokers (ids 1..n) and waits until every one answers. */
void harness_start(struct harness *harness, int brokers_count);
/* SIGTERM every broker, wait, remove data; returns how many did not exit 0. */
int harness_stop(struct harness *harness);
void harness_start_broker(struct harness *harness, int broker_id);
/* Sends the signal and waits; returns the waitpid status (0 if it was not running). */
int harness_kill_broker(struct harness *harness, int broker_id, int signal_number);
uint16_t harness_port(const struct harness *harness, int broker_id);
void harness_print_logs(const struct harness *harness);

/* A blocking connection with a receive timeout; -1 on failure. */
int harness_connect(uint16_t port);

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

/* Sends `request` to whichever broker is the controller leader (retrying while electing). */
int harness_call_controller(struct harness *harness, uint16_t api_key,
                            const ProtobufCMessage *request, ProtobufCMessage **response);

uint64_t harness_now_ms(void);

#endif
