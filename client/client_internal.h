/*
 * client_internal.h: what the files of libether share and the public header
 * does not show. Internal symbols carry the `client_` prefix and are hidden
 * from libether.so by client/libether.map.
 *
 * Layout of the library:
 *   settings.c     configuration properties and the broker list parser (pure)
 *   backoff.c      retry delays: exponential, bounded, jittered by a seeded PRNG (pure)
 *   batch.c        record queues, the batch builder (records -> LZ4 batch) and
 *                  the batch reader (batch -> records) (pure)
 *   partitioner.c  key -> partition (pure, public)
 *   window.c       a partition's send window: order, in-flight limit, sequence
 *                  numbers and what an answer means for a batch (pure)
 *   client.c       the handle, its I/O thread, the queues between the threads
 *   conn.c         one TCP connection to one broker: TLS (common/tls.h), framing,
 *                  correlation, timeouts
 *   metadata.c     the metadata cache and its refresh
 *   producer.c     routing, batching, sending, retrying and reporting records
 *   producer_id.c  the idempotent producer's id and epoch (INIT_PRODUCER_ID)
 *   consumer.c     assignments, offset resolution, fetching, the message queue
 *   group.c        consumer group membership: coordinator, join, sync, heartbeats,
 *                  rebalances, leaving; ether_subscribe and friends
 *   group_commit.c committing offsets (auto-commit, sync, async, one offset)
 *   admin.c        the synchronous requests (ops): admin, offsets, ping, describe
 *   group_admin.c  ops about groups: committed offset, list, describe, reset, delete
 *   security_admin.c  ops about users and ACLs (at the controller)
 *
 * Threading: fields marked [mutex] are read and written with client->mutex
 * held, from any thread; fields marked [io] belong to the I/O thread alone;
 * fields without a mark are set before the I/O thread starts and then only read.
 *
 * Every .c file of the library includes this header first: it includes
 * common/error.h before ether.h so that both agree on `enum ether_error`.
 */
#ifndef ETHER_CLIENT_INTERNAL_H
#define ETHER_CLIENT_INTERNAL_H

#include "common/error.h"

#include "client/ether.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "common/mem.h"
#include "proto/proto.h"

/* protobuf-c string fields are not const; packing only reads them. */
static inline char *client_unconst(const char *text)
{
    return (char *)(uintptr_t)text;
}

/* A public call's timeout_ms as a request's timeout field: negative means "no limit". */
static inline uint32_t client_op_timeout(int timeout_ms)
{
    return timeout_ms < 0 ? UINT32_MAX / 2 : (uint32_t)timeout_ms;
}

/* A copy the caller owns; NULL becomes "". */
static inline char *client_copy_string(const char *text)
{
    return ether_strdup(text != NULL ? text : "");
}

/* Frees what libether allocated behind a const pointer. */
static inline void client_free_const(const void *pointer)
{
    ether_free((void *)(uintptr_t)pointer);
}

/* ---- settings (settings.c) ------------------------------------------------------------- */

enum {
    CLIENT_ERROR_MESSAGE_BYTES = 256,
    CLIENT_BATCH_BYTES_MAX = 4 * 1024 * 1024,                 /* bound on batch_bytes */
    CLIENT_FRAME_BYTES_MAX = 16 * 1024 * 1024,                /* largest response accepted */
    CLIENT_RECORDS_UNCOMPRESSED_BYTES_MAX = 64 * 1024 * 1024, /* bound on decompression */
    CLIENT_TICK_MS = 5,
    CLIENT_BROKERS_MAX = 256,
    CLIENT_PRODUCER_NAME_BYTES_MAX = 255,
    CLIENT_GROUP_ID_BYTES_MAX = 255, /* the coordinator's bound on a group name */
};

#define CLIENT_DEFAULT_BROKERS "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"

enum client_acks { CLIENT_ACKS_NONE = 0, CLIENT_ACKS_LEADER = 1, CLIENT_ACKS_ALL = -1 };

/* Which replica a consumer fetches from (rack, when set, wins over both). */
/*
 * enable_idempotence as set. DEFAULT means "on with acks=all, off with acks
 * 0 or 1, and off when the cluster does not know INIT_PRODUCER_ID";
 * explicit ON means on with acks 1 or all (refused with acks=0, which gets
 * no answers to check sequences against) and fails records when the cluster
 * cannot do it.
 */
enum client_idempotence {
    CLIENT_IDEMPOTENCE_DEFAULT = 0,
    CLIENT_IDEMPOTENCE_ON = 1,
    CLIENT_IDEMPOTENCE_OFF = 2,
};

enum client_fetch_from {
    CLIENT_FETCH_FROM_LEADER = 0,
    CLIENT_FETCH_FROM_FOLLOWER = 1, /* a replica that is not the leader, when there is one */
};

/* How a consumer group shares partitions (computed by the coordinator). */
enum client_assignor {
    CLIENT_ASSIGNOR_RANGE = 0,
    CLIENT_ASSIGNOR_ROUNDROBIN = 1,
    CLIENT_ASSIGNOR_STICKY = 2,
};

/* Where a group member starts a partition that has no committed offset. */
enum client_offset_reset {
    CLIENT_OFFSET_RESET_LATEST = 0,
    CLIENT_OFFSET_RESET_EARLIEST = 1,
};

struct client_settings {
    char *brokers;
    char *client_id;
    char *rack;
    enum client_acks acks;
    uint32_t linger_ms;
    uint32_t batch_bytes;
    enum proto_compression compression;
    uint32_t in_flight_requests_max;
    uint32_t queue_records_max;
    uint32_t request_timeout_ms;
    uint32_t delivery_timeout_ms;
    uint32_t retry_backoff_ms;
    uint32_t retry_backoff_max_ms;
    uint32_t metadata_max_age_ms;
    uint32_t fetch_max_wait_ms;
    uint32_t fetch_max_bytes;
    uint32_t consume_queue_max;
    enum client_fetch_from fetch_from;
    enum client_idempotence idempotence;
    char *producer_name; /* "" when none */
    uint64_t seed;
    /* consumer groups */
    char *group_id; /* "" when none */
    enum client_assignor group_assignor;
    bool group_cooperative; /* group_protocol=cooperative */
    uint32_t session_timeout_ms;
    uint32_t heartbeat_interval_ms;
    uint32_t rebalance_timeout_ms;
    bool enable_auto_commit;
    uint32_t auto_commit_interval_ms;
    enum client_offset_reset auto_offset_reset;
    /* TLS: on when tls_ca_file is not "" (then every connection is a TLS client session) */
    char *tls_ca_file;          /* "" when plaintext */
    char *tls_certificate_file; /* "" when none; presented to brokers that ask (mTLS) */
    char *tls_private_key_file; /* "" when none; set together with tls_certificate_file */
    /* SCRAM-SHA-256 login on every connection, after the TLS handshake, when both are set */
    char *sasl_username; /* "" when none */
    char *sasl_password; /* "" when none; wiped when freed */
    ether_delivery_fn *delivery_callback;
    void *delivery_context;
    ether_commit_fn *commit_callback;
    void *commit_context;
};

struct ether_config {
    struct client_settings settings;
};

/* Defaults (reads ETHER_BROKERS, ETHER_TLS_* and ETHER_SASL_* from the environment). */
void client_settings_init(struct client_settings *settings);
void client_settings_copy(struct client_settings *to, const struct client_settings *from);
void client_settings_free(struct client_settings *settings);
int client_settings_set(struct client_settings *settings, const char *name, const char *value,
                        char *errstr, size_t errstr_size);
/* The rules between properties (heartbeat_interval_ms < session_timeout_ms, the TLS files
 * that go together, a SCRAM login only with both names and over TLS, ...); files are not
 * opened here (ether_client_new does). */
int client_settings_check(const struct client_settings *settings, char *errstr, size_t errstr_size);
/* "range", "roundrobin" or "sticky". */
const char *client_assignor_name(enum client_assignor assignor);

struct client_address {
    char *host;
    uint16_t port;
};

/*
 * Parses "host:port,host:port" (spaces around items allowed, "[v6]:port" too).
 * On success *addresses (free with client_addresses_free) has *count >= 1 items.
 */
int client_parse_brokers(const char *list, struct client_address **addresses, size_t *count,
                         char *errstr, size_t errstr_size);
void client_addresses_free(struct client_address *addresses, size_t count);

/* snprintf into errstr when it is not NULL; returns `code` for tail calls. */
int client_error(char *errstr, size_t errstr_size, int code, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- retry backoff (backoff.c) --------------------------------------------------------- */

/*
 * Delay before retry number `attempt` (1 = first retry): the exponential
 * step base_ms * 2^(attempt-1), capped at max_ms, then "equal jitter": a
 * uniform draw in [step/2, step]. Never more than max_ms, never less than
 * base_ms/2 (and never 0 when base_ms > 0). The draw comes from
 * `prng_state`, so a given seed gives the same delays.
 */
struct client_backoff {
    uint32_t base_ms;
    uint32_t max_ms;
    uint64_t prng_state;
};

void client_backoff_init(struct client_backoff *backoff, uint32_t base_ms, uint32_t max_ms,
                         uint64_t seed);
uint32_t client_backoff_delay_ms(struct client_backoff *backoff, uint32_t attempt);
/* splitmix64: the one PRNG of the client. */
uint64_t client_prng_next(uint64_t *state);

/* ---- records, queues and batches (batch.c) --------------------------------------------- */

struct client_topic;

/* One produced record, from ether_produce until its report is served. */
struct client_record {
    struct client_record *next;
    struct client_topic *topic;
    int32_t partition; /* requested, then chosen; -1 before routing */
    int64_t timestamp_ms;
    uint64_t enqueued_ms; /* monotonic: linger and delivery timeout start here */
    void *context;
    const uint8_t *key; /* NULL: null key; points into data[] */
    size_t key_bytes;
    const uint8_t *value;
    size_t value_bytes;
    int error;
    char *error_message; /* NULL or owned */
    int64_t offset;
    uint8_t data[]; /* key bytes then value bytes */
};

/* Allocates a record holding copies of key and value. */
struct client_record *client_record_new(const void *key, size_t key_bytes, const void *value,
                                        size_t value_bytes);
void client_record_free(struct client_record *record);
/* An upper bound on the bytes this record adds to a batch's records section. */
size_t client_record_batch_bytes(size_t key_bytes, size_t value_bytes);

/* A FIFO of records; `bytes` sums client_record_batch_bytes of its records. */
struct client_record_queue {
    struct client_record *head;
    struct client_record *tail;
    size_t count;
    size_t bytes;
};

void client_record_queue_push(struct client_record_queue *queue, struct client_record *record);
struct client_record *client_record_queue_pop(struct client_record_queue *queue);
/* Moves every record of `from` to the end of `to`. */
void client_record_queue_append(struct client_record_queue *to, struct client_record_queue *from);

/*
 * The linger rule: a partition's queue is sent when it holds batch_bytes or
 * more, when its oldest record has waited linger_ms, or when flushing.
 */
bool client_record_queue_ready(const struct client_record_queue *queue, uint64_t now_ms,
                               uint32_t linger_ms, size_t batch_bytes, bool flushing);

/* A batch: records taken from a partition's queue and their encoded bytes. */
struct client_batch {
    struct client_batch *next;
    struct client_topic *topic;
    uint32_t partition;
    struct client_record_queue records;
    struct ether_buf bytes; /* the encoded record batch (proto.h layout) */
    uint64_t deadline_ms;   /* the oldest record's delivery deadline */
    uint64_t retry_at_ms;
    uint32_t attempts;
    char last_error[CLIENT_ERROR_MESSAGE_BYTES];
    /* Idempotence: 0 until the batch is stamped (at its first send), then the
     * producer generation whose id, epoch and sequences its header carries. */
    uint64_t generation;
    int32_t base_sequence; /* -1 until stamped */
    uint64_t stamp_index;  /* how many batches its window stamped before it */
};

/*
 * Sequence numbers are int32 and wrap as Kafka's do: after INT32_MAX comes 0.
 * client_sequence_add gives the sequence `count` after `sequence`;
 * client_sequence_before says whether a comes before b in a window of less
 * than 2^30 sequences (serial number arithmetic modulo 2^31).
 */
int32_t client_sequence_add(int32_t sequence, uint32_t count);
bool client_sequence_before(int32_t a, int32_t b);

/*
 * Writes producer_id, producer_epoch and base_sequence into the batch's
 * header and recomputes its CRC (the records stay as they are).
 */
void client_batch_stamp(struct client_batch *batch, int64_t producer_id, int16_t producer_epoch,
                        int32_t base_sequence, uint64_t generation);

/*
 * Takes records from the head of `queue` while the batch stays within
 * batch_bytes_max (always at least one record) and encodes them: records
 * section compressed with `compression` (kept uncompressed when LZ4 would not
 * make it smaller), producer_id, producer_epoch and base_sequence -1 (the
 * idempotence hooks). The queue must not be empty. The batch is the caller's.
 */
struct client_batch *client_batch_seal(struct client_record_queue *queue, size_t batch_bytes_max,
                                       enum proto_compression compression);
/* Frees the batch and every record still in it. */
void client_batch_free(struct client_batch *batch);

/*
 * Checks a batch (proto_batch_parse) and gives its uncompressed records
 * section: either inside `batch` or, for LZ4, decompressed into `scratch`.
 * ETHER_ERR_CORRUPT for a bad CRC, a bad LZ4 stream or a size that does not
 * match; ETHER_ERR_TOO_LARGE when the announced size exceeds the bound.
 */
int client_batch_open(const uint8_t *batch, size_t batch_bytes, struct ether_buf *scratch,
                      struct proto_batch_header *header, const uint8_t **records,
                      size_t *records_bytes);

/* ---- the handle (client.c) -------------------------------------------------------------- */

struct client_conn;
struct client_op;
struct ether_tls_config;

/* A broker the client may connect to: from the metadata, or a bootstrap address (id 0). */
struct client_broker {
    struct client_broker *next;
    uint32_t broker_id;
    char *host;
    uint16_t port;
    char *rack;
    bool in_metadata;
    struct client_conn *conn; /* NULL when not connected or connecting */
    uint32_t connect_failures;
    uint64_t reconnect_at_ms;
    char last_error[CLIENT_ERROR_MESSAGE_BYTES];
};

/* ---- a partition's send window (window.c) ------------------------------------------------ */

enum {
    CLIENT_IN_FLIGHT_BATCHES_MAX = 5, /* per partition, idempotent; the broker remembers 5 */
};

/* The producer id and epoch batches are stamped with; generation counts InitProducerId answers. */
struct client_producer_identity {
    int64_t producer_id;
    int16_t producer_epoch;
    uint64_t generation; /* >= 1 */
};

/*
 * The batches of one partition between sealing and their outcome, in order.
 *
 * Invariants: `sealed` holds first the stamped batches waiting for a retry
 * (in sequence order), then batches never sent; `in_flight` holds sent
 * batches in the order they were sent, which is sequence order. A stamped
 * batch is resent only when every batch in flight comes before it, so the
 * broker always sees a partition's sequences in order: a retry never
 * overtakes, and a batch after a failed one comes back (as OUT_OF_ORDER) and
 * is resent behind it. Without idempotence at most one batch is in flight.
 *
 * The span from the oldest unresolved stamped batch to the newest is at most
 * in_flight_max batches, even when later batches are answered before an
 * earlier one: so when that earlier batch is resent, the broker still
 * remembers it among its producer's last 5 batches if it wrote it.
 *
 * `acked_sequence` is the sequence after the last batch the broker accepted
 * in `generation`: OUT_OF_ORDER or UNKNOWN_PRODUCER for a batch that starts
 * there is the broker's real verdict; for a later batch it only says that an
 * earlier one is missing, so that batch is retried. A stamped batch that ends
 * without success (a fatal error, or its delivery timeout) "poisons" its
 * generation in this partition: its sequence's fate is unknown to the broker's
 * table, so every later stamped batch of that generation fails too, and the
 * producer must get a new epoch before stamping more (client_producer_id).
 */
struct client_window {
    struct client_batch *sealed_head;
    struct client_batch *sealed_tail;
    struct client_batch *in_flight_head;
    struct client_batch *in_flight_tail;
    uint32_t in_flight_count;
    uint64_t generation;
    int32_t next_sequence;
    int32_t acked_sequence;
    uint64_t stamped_count;       /* batches stamped in `generation` */
    uint64_t poisoned_generation; /* 0: none */
    int poison_error;
    char poison_message[CLIENT_ERROR_MESSAGE_BYTES];
};

enum client_window_verdict {
    CLIENT_WINDOW_DELIVERED, /* report the records with the answer's offsets */
    CLIENT_WINDOW_RETRY,     /* back in `sealed`, in order; send again after a backoff */
    CLIENT_WINDOW_FAILED,    /* fail the records; a stamped batch poisoned its generation */
    CLIENT_WINDOW_FOLLOWS,   /* fail the records with poison_error / poison_message */
};

/* Appends a newly sealed (unstamped) batch. */
void client_window_push(struct client_window *window, struct client_batch *batch);

/*
 * The batch to send now, moved to `in_flight` (stamped first with `identity`
 * when it never went out), or NULL: nothing sealed, `in_flight_max` reached,
 * the head's retry_at_ms not reached, a retry that must wait for earlier
 * batches in flight, or (identity NULL while idempotent) no producer id yet.
 */
struct client_batch *client_window_take(struct client_window *window, bool idempotent,
                                        const struct client_producer_identity *identity,
                                        uint32_t in_flight_max, uint64_t now_ms);

/*
 * Reads the answer for `batch` (in flight): `error` from the broker or the
 * connection, `retriable` whether that error is worth a retry, `expired`
 * whether the batch's delivery deadline passed. The batch leaves
 * `in_flight`; with CLIENT_WINDOW_RETRY it is back in `sealed`, otherwise it
 * is the caller's. `message` describes the error (kept as the poison message).
 */
enum client_window_verdict client_window_answer(struct client_window *window,
                                                struct client_batch *batch, int error,
                                                bool retriable, bool expired, const char *message);

/* Marks the batch's generation failed here (a stamped batch given up for good). */
void client_window_poison(struct client_window *window, const struct client_batch *batch, int error,
                          const char *message);

/* Removes and returns the head of `sealed` (NULL when empty). */
struct client_batch *client_window_pop_sealed(struct client_window *window);

/* Moves the stamped sealed batches of the poisoned generation onto `*list` (via ->next). */
void client_window_take_poisoned(struct client_window *window, struct client_batch **list);

/* Batches sealed or in flight. */
size_t client_window_batch_count(const struct client_window *window);

struct client_partition {
    uint32_t leader_id; /* 0: unknown */
    uint32_t *replicas;
    size_t replica_count;
    struct client_record_queue queue; /* records accumulating into the next batch */
    struct client_window window;      /* sealed batches: waiting, in flight, retrying */
};

struct client_topic {
    struct client_topic *next; /* [mutex] insertion; the list only grows */
    char *name;
    /* [io] */
    bool metadata_known;
    int metadata_error;
    uint32_t missing_count; /* metadata answers in a row that did not know the topic */
    uint32_t partition_count;
    struct client_partition *partitions;
    uint32_t sticky_partition;
    struct client_record_queue unrouted; /* waiting for the partition count */
};

enum client_command_kind { CLIENT_COMMAND_ASSIGN, CLIENT_COMMAND_UNASSIGN };

struct client_command {
    struct client_command *next;
    enum client_command_kind kind;
    struct client_topic *topic;
    uint32_t partition;
    int64_t offset;    /* an offset, or ETHER_OFFSET_* */
    bool by_timestamp; /* then timestamp_ms says where */
    int64_t timestamp_ms;
};

struct client_assignment {
    struct client_assignment *next;
    struct client_topic *topic;
    uint32_t partition;
    int64_t offset;     /* next offset to fetch; valid unless needs_resolve */
    bool needs_resolve; /* ask ListOffsets for `resolve` first */
    enum ether_offset_query resolve;
    int64_t resolve_timestamp_ms;
    bool in_flight;
    bool removed; /* unassigned while in flight: freed when the answer comes */
    bool stopped; /* an error was delivered; waits for a new assign */
    uint32_t failures;
    uint64_t retry_at_ms;
    uint32_t fetched_from_broker_id;
    uint64_t followers_avoided_until_ms; /* after a follower failed, read from the leader */
    struct client_owned *owned; /* NULL: assigned by ether_assign; else given by the group */
    bool awaiting_committed;    /* a group's partition waiting for its committed offset */
};

/*
 * A partition the consumer group gave this member, and how far the
 * application got in it. It is on client->owned while the member reads it;
 * when the member gives it up (a rebalance, unsubscribing) it moves to
 * client->given_up, where its position waits for the commit that precedes
 * the next join, and is then freed. Its queued messages are purged when it
 * leaves client->owned, under the same mutex, so ether_consume never returns
 * a message of a partition the member no longer owns.
 */
struct client_owned {
    struct client_owned *next; /* [mutex] */
    struct client_topic *topic;
    uint32_t partition;
    /* [mutex] The next offset to consume: after the last message ether_consume
     * returned, else where reading starts; -1 while not known yet. */
    int64_t consumed_offset;
    int64_t committed_offset;             /* [mutex] the last offset known committed; -1 */
    struct client_assignment *assignment; /* [io] its fetch state; NULL once given up */
};

/* A queued fetched message; the public part first so that it can be handed out. */
struct client_message {
    struct ether_message message;
    struct client_message *next;
    struct client_owned *owned; /* the group partition it belongs to, or NULL */
    uint8_t data[];
};

/* An application thread waiting for the I/O thread (on that thread's stack). [mutex] */
struct client_waiter {
    bool done;
    int result;
    char message[CLIENT_ERROR_MESSAGE_BYTES];
};

enum client_group_call_kind {
    CLIENT_GROUP_SUBSCRIBE,
    CLIENT_GROUP_UNSUBSCRIBE,
    CLIENT_GROUP_COMMIT,
};

/* A request from the application to the group machinery; the I/O thread owns and frees it. */
struct client_group_call {
    struct client_group_call *next;
    enum client_group_call_kind kind;
    char **topics; /* SUBSCRIBE: the subscription (owned) */
    size_t topic_count;
    bool commit_positions;      /* COMMIT: the consumed positions; else the one offset below */
    bool report;                /* COMMIT: report the outcome to the commit callback */
    struct client_topic *topic; /* COMMIT of one offset */
    uint32_t partition;
    int64_t offset;
    uint32_t timeout_ms;          /* UNSUBSCRIBE and waited COMMITs */
    struct client_waiter *waiter; /* NULL: nobody waits */
};

/* A finished background commit for the commit callback. [mutex] */
struct client_commit_report {
    struct client_commit_report *next;
    int error;
    char message[CLIENT_ERROR_MESSAGE_BYTES];
    struct ether_topic_partition *offsets; /* topic names owned */
    size_t count;
};

struct ether_client {
    struct client_settings settings;
    struct client_address *bootstrap;
    size_t bootstrap_count;
    /* NULL: plaintext. Else the client-role TLS config (immutable) every connection's
     * session is made from (conn.c). */
    struct ether_tls_config *tls_config;

    pthread_t thread;
    uv_loop_t loop;
    uv_async_t wakeup;
    uv_timer_t tick;

    pthread_mutex_t mutex;
    pthread_cond_t changed; /* [mutex] signalled on reports, messages, finished ops */
    /* [mutex] */
    struct client_topic *topics;
    struct client_record_queue incoming;
    struct client_record_queue reports;
    size_t outstanding_count;
    struct client_command *commands_head;
    struct client_command *commands_tail;
    struct client_op *ops_incoming;
    uint64_t flush_requests;
    bool stopping;
    struct client_message *messages_head;
    struct client_message *messages_tail;
    size_t messages_count;
    bool subscribed; /* between ether_subscribe and ether_unsubscribe */
    struct client_group_call *group_calls_head;
    struct client_group_call *group_calls_tail;
    struct client_owned *owned;
    struct client_owned *given_up;
    /* The group partition and offset of the message the last ether_consume returned: the
     * application may still be processing it, so auto-commits stop before it. */
    struct client_owned *in_hand_owned;
    int64_t in_hand_offset;
    struct client_commit_report *commit_reports_head;
    struct client_commit_report *commit_reports_tail;
    int producer_error; /* ETHER_OK, or why the producer is unusable (fenced) */
    char producer_error_message[CLIENT_ERROR_MESSAGE_BYTES * 2];

    /* [io] */
    bool io_stopping; /* connections are closing: answers are dropped, nothing is sent */
    struct client_broker *brokers;
    struct client_conn *conns;
    uint32_t next_correlation_id;
    struct client_backoff backoff;
    uint64_t flush_requests_seen;
    bool flushing;
    bool metadata_wanted;
    bool metadata_in_flight;
    uint64_t metadata_refreshed_ms;
    uint64_t metadata_generation; /* refreshes completed */
    uint64_t metadata_retry_at_ms;
    uint32_t metadata_failures;
    uint32_t controller_id;
    uint32_t broker_rotation;
    struct client_producer_id *producer_id;
    struct client_op *ops;
    struct client_assignment *assignments;
    struct client_group *group;
    struct ether_buf scratch;
    uint8_t *tls_read_buffer; /* ciphertext of one socket read (conn.c); NULL until needed */
    char last_connection_error[CLIENT_ERROR_MESSAGE_BYTES];
};

/* Monotonic milliseconds. */
uint64_t client_now_ms(void);

/* [io] Hands finished records to the application thread's report queue. */
void client_report_records(struct ether_client *client, struct client_record_queue *records);
/* [io] Fails every record of `records` with `error` and a sentence. */
void client_fail_records(struct ether_client *client, struct client_record_queue *records,
                         int error, const char *message);
/* [io] Removes the queued messages of a group partition; client->mutex held. */
void client_messages_purge_locked(struct ether_client *client, const struct client_owned *owned);
/* [io] Queues a commit report for ether_poll / ether_consume (takes the mutex). */
void client_commit_report_queue(struct ether_client *client, struct client_commit_report *report);
/* [io] Queues messages for ether_consume. */
void client_deliver_messages(struct ether_client *client, struct client_message *head,
                             struct client_message *tail, size_t count);
/* [io] Whether the consume queue has room for more fetches. */
bool client_messages_have_room(struct ether_client *client);
/* [io] Marks an op finished and wakes its waiting thread. */
void client_op_finish(struct ether_client *client, struct client_op *op);
/* [any] Finds or adds the topic named `name` (takes the mutex). */
struct client_topic *client_topic_get(struct ether_client *client, const char *name);
/* [any] The head of the topic list; the nodes after it never change (takes the mutex). */
struct client_topic *client_topics_head(struct ether_client *client);

/* ---- connections (conn.c) ---------------------------------------------------------------- */

/*
 * The client-role TLS config of `settings` in *config_out (free with ether_tls_config_free),
 * or NULL when tls_ca_file is "" (connections in clear). Reads the files: returns
 * ETHER_ERR_IO or ETHER_ERR_INVALID_ARGUMENT with a sentence naming an unusable file.
 */
int client_tls_config_new(const struct client_settings *settings,
                          struct ether_tls_config **config_out, char *errstr, size_t errstr_size);

/*
 * Called once per request: with the response (valid during the call only)
 * when error is ETHER_OK, or with NULL and an error and a sentence when the
 * request could not be sent, the connection broke or the answer was late.
 * A request sent without expecting a response (acks=0) is answered with
 * ETHER_OK and NULL once its bytes are written.
 */
typedef void client_response_fn(struct ether_client *client, void *context, int error,
                                const char *error_message, const ProtobufCMessage *response);

/*
 * [io] Sends a request to `broker`, connecting first if needed. Returns
 * ETHER_ERR_BUSY without calling `on_response` when the broker is in its
 * reconnect backoff; otherwise ETHER_OK and on_response runs exactly once.
 */
int client_send(struct ether_client *client, struct client_broker *broker, uint16_t api_key,
                const ProtobufCMessage *body, bool expects_response, uint32_t timeout_ms,
                client_response_fn *on_response, void *context);

/* [io] Whether `broker` may be sent a request now (connected or connectable). */
bool client_broker_usable(const struct ether_client *client, const struct client_broker *broker,
                          uint64_t now_ms);
/* [io] Produce requests in flight on the broker's connection. */
uint32_t client_broker_produce_in_flight(const struct client_broker *broker);
/* [io] Fails requests whose time is up (closing their connection). */
void client_conns_check_timeouts(struct ether_client *client, uint64_t now_ms);
/* [io] Closes every connection; their requests fail with ETHER_ERR_CLOSED. */
void client_conns_close_all(struct ether_client *client);

/* ---- metadata (metadata.c) ---------------------------------------------------------------- */

struct client_broker *client_broker_find(struct ether_client *client, uint32_t broker_id);
/*
 * [io] The broker with this address's id, added (not in_metadata) when the
 * metadata does not name it yet: a coordinator can be found before the
 * metadata knows it.
 */
struct client_broker *client_broker_learn(struct ether_client *client,
                                          const Ether__BrokerAddress *address);
/* [io] A broker to ask anything: connected ones first, then rotating through all. */
struct client_broker *client_broker_any(struct ether_client *client, uint64_t now_ms);
/*
 * [io] Applies a metadata response to the cache. `names_every_client_topic`:
 * the request listed every topic the client knows, so a topic missing from
 * the answer does not exist.
 */
void client_metadata_apply(struct ether_client *client, const Ether__MetadataResponse *response,
                           bool names_every_client_topic);
/* [io] Asks for a metadata refresh soon. */
void client_metadata_want(struct ether_client *client);
/* [io] Sends the refresh when wanted or stale. */
void client_metadata_service(struct ether_client *client, uint64_t now_ms);
/* The replica a consumer should read from: same rack as settings.rack if any, else leader. */
uint32_t client_partition_read_replica(struct ether_client *client,
                                       const struct client_partition *partition);

/* ---- the idempotent producer's id (producer_id.c) ---------------------------------------- */

enum client_producer_id_state {
    CLIENT_PRODUCER_ID_OFF,        /* not idempotent */
    CLIENT_PRODUCER_ID_IDLE,       /* idempotent; no record produced yet */
    CLIENT_PRODUCER_ID_WANTED,     /* ask InitProducerId when retry_at_ms comes */
    CLIENT_PRODUCER_ID_REQUESTING, /* one InitProducerId in flight */
    CLIENT_PRODUCER_ID_READY,      /* `identity` may stamp batches */
    CLIENT_PRODUCER_ID_DRAINING,   /* a new epoch is needed: waits until no stamped batch is left */
};

/*
 * [io] The producer's identity. Stamped batches not yet resolved are counted
 * so that a new epoch is asked only when no batch of the old one can still
 * be retried (a retry under the new epoch could land twice; under the old
 * one after the bump it would be fenced).
 */
struct client_producer_id {
    enum client_producer_id_state state;
    struct client_producer_identity identity;
    uint64_t stamped_unresolved;
    uint32_t attempts;
    uint64_t retry_at_ms;
    bool ask_controller; /* the last answer was NOT_LEADER */
    char last_error[CLIENT_ERROR_MESSAGE_BYTES];
};

/* Creates client->producer_id (idempotence resolved from the settings). */
void client_producer_id_init(struct ether_client *client);
void client_producer_id_free(struct ether_client *client);
/* [io] Whether batches are stamped (false once the cluster turned a default idempotence down). */
bool client_producer_id_enabled(const struct ether_client *client);
/* [io] The identity to stamp new batches with, or NULL while there is none (asks for one). */
const struct client_producer_identity *client_producer_id_current(struct ether_client *client);
/* [io] A stamped batch failed for good: a new epoch is needed once the old one drained. */
void client_producer_id_reset(struct ether_client *client);
/* [io] Sends InitProducerId when due. */
void client_producer_id_service(struct ether_client *client, uint64_t now_ms);
/*
 * [io] The producer cannot go on (fenced, or idempotence refused by the
 * cluster): every queued record fails with `error`, ether_produce refuses
 * new ones.
 */
void client_producer_fatal(struct ether_client *client, int error, const char *message);

/* ---- producer (producer.c), consumer (consumer.c), ops (admin.c) ------------------------- */

/* [io] Takes records from ether_produce (the queue is emptied). */
void client_producer_accept(struct ether_client *client, struct client_record_queue *records);
void client_producer_service(struct ether_client *client, uint64_t now_ms);
void client_producer_drop_all(struct ether_client *client);

void client_consumer_command(struct ether_client *client, struct client_command *command);
void client_consumer_service(struct ether_client *client, uint64_t now_ms);
void client_consumer_free_all(struct ether_client *client);
/* [io] Starts fetching a group partition once client_consumer_start gives its offset. */
struct client_assignment *client_consumer_add_owned(struct ether_client *client,
                                                    struct client_owned *owned);
/*
 * [io] A group partition's committed offset arrived: read from it, or from
 * where auto_offset_reset says when it is -1.
 */
void client_consumer_start(struct ether_client *client, struct client_assignment *assignment,
                           int64_t committed_offset);
/* [io] Stops fetching (an answer in flight is dropped when it comes). */
void client_consumer_remove(struct ether_client *client, struct client_assignment *assignment);
/* [io] Stops fetching every partition given to ether_assign. */
void client_consumer_remove_manual(struct ether_client *client);
/* [io] Delivers an error of the group as a message (topic "", partition -1). */
void client_consumer_deliver_error(struct ether_client *client, int error, const char *text);

/* ---- consumer groups (group.c: membership; group_commit.c: offsets) ----------------------- */

enum client_group_state {
    CLIENT_GROUP_UNSUBSCRIBED,
    CLIENT_GROUP_PREPARING, /* about to (re)join: give up (eager) and commit (auto-commit) first */
    CLIENT_GROUP_JOINING,   /* JoinGroup: waits for the join phase of the rebalance */
    CLIENT_GROUP_SYNCING,   /* SyncGroup: fetches this member's assignment */
    CLIENT_GROUP_STABLE,    /* reading the assignment; heartbeats; auto-commits */
    CLIENT_GROUP_LEAVING,   /* unsubscribing: commit, then LeaveGroup */
    CLIENT_GROUP_FAILED,    /* stopped by an error delivered as a message */
};

enum client_commit_origin {
    CLIENT_COMMIT_AUTO,             /* every auto_commit_interval_ms */
    CLIENT_COMMIT_BEFORE_REBALANCE, /* auto-commit before joining again */
    CLIENT_COMMIT_BEFORE_LEAVE,     /* auto-commit when unsubscribing */
    CLIENT_COMMIT_ASYNC,            /* ether_commit_async */
    CLIENT_COMMIT_SYNC,             /* ether_commit_sync */
    CLIENT_COMMIT_OFFSET,           /* ether_commit_offset */
};

struct client_commit_offset {
    struct client_topic *topic;
    uint32_t partition;
    int64_t offset;
    int error;
};

/* One OffsetCommit, from its creation until its answer (never freed while in flight). */
struct client_commit {
    struct client_commit *next;
    enum client_commit_origin origin;
    int64_t generation; /* -1 with member_id "": an administrative commit */
    char *member_id;
    struct client_commit_offset *offsets;
    size_t count;
    uint64_t deadline_ms;
    uint64_t retry_at_ms;
    uint32_t attempts;
    bool in_flight;
    bool report;                  /* to the commit callback when it ends */
    struct client_waiter *waiter; /* NULL once nobody waits */
    char last_error[CLIENT_ERROR_MESSAGE_BYTES];
};

/* A partition named without its fetch state (eager members report what they gave up). */
struct client_topic_partition {
    struct client_topic *topic;
    uint32_t partition;
};

/*
 * [io] The membership of client->settings.group_id. `epoch` grows whenever
 * the membership starts over (rejoin, leave, failure): answers to requests
 * sent in an older epoch are dropped, and the *_in_flight flags belong to
 * the current epoch.
 */
struct client_group {
    enum client_group_state state;
    char **topics; /* the subscription */
    size_t topic_count;
    char *member_id;    /* "" until the coordinator gives one */
    int64_t generation; /* -1: none */
    uint64_t epoch;
    uint32_t coordinator_id; /* 0: unknown */
    bool finding;
    uint32_t find_failures;
    uint64_t find_at_ms;
    bool join_in_flight;
    bool sync_in_flight;
    bool heartbeat_in_flight;
    bool fetch_in_flight;
    bool leave_in_flight;
    bool prepared; /* PREPARING: partitions given up and the commit started */
    uint32_t failures;
    uint64_t retry_at_ms;
    uint64_t heartbeat_at_ms;
    uint64_t heard_ms; /* the coordinator's last answer to a heartbeat (or the sync) */
    uint64_t auto_commit_at_ms;
    uint64_t fetch_at_ms;
    struct client_topic_partition *previous; /* eager: given up before this join */
    size_t previous_count;
    struct client_commit *commits;
    struct client_commit *blocking_commit; /* PREPARING and LEAVING wait for it */
    struct client_group_call *leave_call;  /* LEAVING */
    bool leave_awaits_join; /* LEAVING: a first JoinGroup is out; its answer names the member */
    uint64_t leave_deadline_ms;
    int leave_result;
    char leave_message[CLIENT_ERROR_MESSAGE_BYTES];
};

void client_group_init(struct ether_client *client);
void client_group_free(struct ether_client *client);
/* [io] Takes a call from the application; false: not now (keep it queued, in order). */
bool client_group_accept(struct ether_client *client, struct client_group_call *call,
                         uint64_t now_ms);
void client_group_service(struct ether_client *client, uint64_t now_ms);
/* [any] Frees a call and what it owns (without finishing its waiter). */
void client_group_call_free(struct client_group_call *call);
/* [io] Finishes a waiting application thread. */
void client_waiter_finish(struct ether_client *client, struct client_waiter *waiter, int result,
                          const char *message);

/* group.c, for group_commit.c */
/* [io] The coordinator to send to now, or NULL (a FindCoordinator is then on its way). */
struct client_broker *client_group_coordinator(struct ether_client *client, uint64_t now_ms);
/* [io] The coordinator did not answer as one: find it again after a backoff. */
void client_group_coordinator_lost(struct ether_client *client, uint64_t now_ms);
/* Errors after which the request is sent again to the coordinator, found anew. */
bool client_group_retriable(int error);
/* [io] The member was fenced (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION): its partitions are lost. */
void client_group_fenced(struct ether_client *client, int error, uint64_t now_ms);
/* [io] Asks for a heartbeat at once (the coordinator decides whether to rebalance). */
void client_group_heartbeat_now(struct ether_client *client, uint64_t now_ms);
/* [io] A commit ended: PREPARING and LEAVING wait for theirs. */
void client_group_commit_ended(struct ether_client *client, const struct client_commit *commit,
                               int result, const char *message);
/* [app] ether_client_destroy's bounded commit and leave (see ether.h). */
void client_group_close(struct ether_client *client);

/* group_commit.c */
/*
 * [io] A commit of the consumed positions of client->owned and
 * client->given_up (only those not committed yet with `changed_only`), or
 * NULL when there is nothing to commit. Queued; sent by client_commits_service.
 * Auto-commits (AUTO, BEFORE_REBALANCE) leave out the message the application
 * got last and may still be processing (Kafka's rule: records are committed
 * once the application came back for more), so auto-commit is at least once.
 */
struct client_commit *client_commit_positions(struct ether_client *client,
                                              enum client_commit_origin origin, bool changed_only,
                                              uint64_t deadline_ms);
/* [io] Queues a commit of one offset (the member's when in a generation, else administrative). */
struct client_commit *client_commit_one(struct ether_client *client, struct client_topic *topic,
                                        uint32_t partition, int64_t offset, uint64_t deadline_ms);
/* [io] Sends ready commits, ends those whose deadline passed. */
void client_commits_service(struct ether_client *client, uint64_t now_ms);
/* Frees every commit (at destroy). */
void client_commits_free_all(struct client_group *group);

enum client_target {
    CLIENT_TARGET_ANY,
    CLIENT_TARGET_CONTROLLER,
    CLIENT_TARGET_LEADER,      /* of op->topic / op->partition */
    CLIENT_TARGET_BROKER,      /* op->broker_id */
    CLIENT_TARGET_COORDINATOR, /* of op->group, found with FindCoordinator first */
};

enum client_verdict {
    CLIENT_VERDICT_DONE,
    CLIENT_VERDICT_RETRY,
    CLIENT_VERDICT_RETRY_AFTER_METADATA,
    CLIENT_VERDICT_RETRY_AFTER_COORDINATOR, /* find the coordinator again */
};

/* [io] Reads an op's response: sets op->result / op->message / outputs, says what next. */
typedef enum client_verdict client_op_result_fn(struct ether_client *client, struct client_op *op,
                                                const ProtobufCMessage *response);

/*
 * A synchronous request. It lives on the stack of the application thread
 * that waits for it, so everything it points to stays valid until `done`.
 */
struct client_op {
    struct client_op *next;
    uint16_t api_key;
    const ProtobufCMessage *request;
    enum client_target target;
    const char *topic;
    uint32_t partition;
    uint32_t broker_id;
    const char *group;
    bool retries;
    client_op_result_fn *on_result;
    void *output;
    uint32_t timeout_ms;
    /* [io] */
    uint64_t deadline_ms;
    uint64_t retry_at_ms;
    uint64_t sent_ns;
    uint64_t metadata_generation_accepted; /* client->metadata_generation when accepted */
    uint32_t attempts;
    bool in_flight;
    /* An attempt was sent and got no answer (broken connection, timeout): the broker may
     * have carried it out. */
    bool unanswered_attempt;
    uint32_t coordinator_id; /* CLIENT_TARGET_COORDINATOR: 0 until found */
    int result;
    char message[CLIENT_ERROR_MESSAGE_BYTES];
    int64_t round_trip_us;
    /* [mutex] */
    bool done;
};

/*
 * [io] Reads an error from an answer's body into the op: sets op->result and
 * op->message ("what: sentence") and says whether to retry (NOT_LEADER after
 * a metadata refresh, coordinator errors after finding it again).
 */
enum client_verdict client_op_verdict(struct client_op *op, uint32_t error,
                                      const char *error_message, const char *what);
/* [io] An op's on_result for ListOffsets of op->topic/op->partition: fills the int64_t at
 * op->output with the offset. */
enum client_verdict client_list_offset_result(struct ether_client *client, struct client_op *op,
                                              const ProtobufCMessage *response);
/* [app] Queues `count` ops at once and waits until every one finished (see op->result). */
void client_ops_run_all(struct ether_client *client, struct client_op *ops, size_t count);
/* [app] Queues the op and waits for it to finish; returns op->result. */
int client_op_run(struct ether_client *client, struct client_op *op, char *errstr,
                  size_t errstr_size);
void client_ops_accept(struct ether_client *client, struct client_op *op, uint64_t now_ms);
void client_ops_service(struct ether_client *client, uint64_t now_ms);

#endif
