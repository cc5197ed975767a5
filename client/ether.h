/*
 * ether.h: libether, the client library of Ether (the one public header).
 *
 * What it is for: producing records to and consuming records from an Ether
 * cluster (reading chosen partitions, or as a member of a consumer group),
 * and administering its topics, groups, users and ACLs. One `struct
 * ether_client` handle does all of it; it connects to the brokers listed in
 * its configuration (over TLS and logging in with SCRAM-SHA-256 when so
 * configured), learns the cluster's metadata (brokers, topics, partition
 * leaders) and routes every partition's requests to that partition's leader
 * (or, for reads with a `rack` configured, to a replica in the same rack).
 *
 * Threading model: every handle owns one internal I/O thread running a libuv
 * loop; that thread does all network I/O, batching, retries and timeouts.
 * Every function below may be called from any application thread at the same
 * time (the handle is protected by a mutex; calls wake the I/O thread) except
 * ether_client_destroy, which must be the last call on a handle. Callbacks
 * (delivery reports, background commit results) never run on the I/O thread:
 * they run on the application thread that calls ether_poll or ether_flush
 * (commit results also in ether_consume; when several threads poll, each
 * serves different reports).
 *
 * Ownership: whatever a function returns through a pointer is the caller's
 * and has its own free function (ether_message_free, ether_cluster_free,
 * ether_topic_partitions_free, ether_group_description_free, ...);
 * buffers passed in (keys, values, names) are copied before the call returns
 * unless a comment says otherwise.
 *
 * Errors: functions return 0 (ETHER_OK) or one of the ETHER_ERR_* codes
 * below, the same numbers Ether uses on the wire; ether_strerror gives a
 * sentence. Functions that can fail for reasons worth explaining also fill a
 * caller-provided `errstr` of `errstr_size` bytes (always NUL-terminated,
 * may be NULL).
 *
 * Invariants worth relying on:
 *   - Every record accepted by ether_produce gets exactly one delivery report
 *     (success with its offset, or an error), unless the handle is destroyed
 *     first.
 *   - Records of one partition are written in the order they were produced,
 *     retries included: an idempotent producer (the default with acks=all)
 *     numbers its batches and resends them unchanged, so a retry is written
 *     once; without idempotence one batch per partition is in flight.
 *   - Nothing blocks longer than its timeout: an unreachable cluster gives
 *     ETHER_ERR_TIMED_OUT with the last connection error in errstr.
 */
#ifndef ETHER_H
#define ETHER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ETHER_API __attribute__((visibility("default")))
#else
#define ETHER_API
#endif

#define ETHER_VERSION_STRING "0.1.0"

/* "0.1.0": the version of the library actually linked. */
ETHER_API const char *ether_version(void);

/* ---- errors --------------------------------------------------------------------------- */

/*
 * XX(NAME, number): the error codes of Ether, the same numbers as on the wire.
 * (Inside the Ether source tree common/error.h defines the same enum; this
 * copy is checked against it at compile time, in client/client.c.)
 */
#define ETHER_PUBLIC_ERRORS(XX)             \
    XX(OK, 0)                               \
    XX(ERR_INVALID_ARGUMENT, 1)             \
    XX(ERR_NO_MEMORY, 2)                    \
    XX(ERR_IO, 3)                           \
    XX(ERR_NO_SPACE, 4)                     \
    XX(ERR_CORRUPT, 5)                      \
    XX(ERR_NOT_FOUND, 6)                    \
    XX(ERR_EXISTS, 7)                       \
    XX(ERR_TRUNCATED, 8)                    \
    XX(ERR_TOO_LARGE, 9)                    \
    XX(ERR_CLOSED, 10)                      \
    XX(ERR_BUSY, 11)                        \
    XX(ERR_TIMED_OUT, 12)                   \
    XX(ERR_UNSUPPORTED, 13)                 \
    XX(ERR_OUT_OF_RANGE, 20)                \
    XX(ERR_BELOW_START, 21)                 \
    XX(ERR_LOG_UNTRUSTED, 22)               \
    XX(ERR_LOCKED, 23)                      \
    XX(ERR_NOT_LEADER, 30)                  \
    XX(ERR_TRANSFER_IN_PROGRESS, 31)        \
    XX(ERR_CONFIG_CHANGE_IN_PROGRESS, 32)   \
    XX(ERR_STOPPED, 33)                     \
    XX(ERR_DROPPED, 34)                     \
    XX(ERR_FRAME_TOO_LARGE, 40)             \
    XX(ERR_OUT_OF_ORDER_SEQUENCE, 50)       \
    XX(ERR_PRODUCER_FENCED, 51)             \
    XX(ERR_UNKNOWN_PRODUCER, 52)            \
    XX(ERR_NOT_COORDINATOR, 60)             \
    XX(ERR_COORDINATOR_NOT_AVAILABLE, 61)   \
    XX(ERR_COORDINATOR_LOADING, 62)         \
    XX(ERR_UNKNOWN_MEMBER_ID, 63)           \
    XX(ERR_ILLEGAL_GENERATION, 64)          \
    XX(ERR_REBALANCE_IN_PROGRESS, 65)       \
    XX(ERR_GROUP_NOT_EMPTY, 66)             \
    XX(ERR_INCONSISTENT_GROUP_PROTOCOL, 67) \
    XX(ERR_GROUP_NOT_FOUND, 68)             \
    XX(ERR_TLS_HANDSHAKE, 70)               \
    XX(ERR_AUTHENTICATION_FAILED, 71)       \
    XX(ERR_TOPIC_AUTHORIZATION_FAILED, 72)  \
    XX(ERR_GROUP_AUTHORIZATION_FAILED, 73)  \
    XX(ERR_CLUSTER_AUTHORIZATION_FAILED, 74)

#ifndef ETHER_COMMON_ERROR_H
enum ether_error {
#define ETHER_PUBLIC_ERROR_ENUM(name, number) ETHER_##name = number,
    ETHER_PUBLIC_ERRORS(ETHER_PUBLIC_ERROR_ENUM)
#undef ETHER_PUBLIC_ERROR_ENUM
};
#endif

/* A human sentence for `code` ("operation timed out"); "unknown error" if unknown. */
ETHER_API const char *ether_strerror(int code);

/* The symbolic name of `code` ("ETHER_ERR_TIMED_OUT"); "ETHER_ERR_UNKNOWN" if unknown. */
ETHER_API const char *ether_error_name(int code);

/* ---- configuration -------------------------------------------------------------------- */

struct ether_config;
struct ether_client;

/*
 * One delivery report: the outcome of one produced record. Valid only during
 * the callback; `topic` and `error_message` point into library memory.
 */
struct ether_delivery {
    int error;                 /* ETHER_OK or why the record was not written */
    const char *error_message; /* a sentence with details; "" on success */
    const char *topic;
    int32_t partition; /* -1 when the record never got a partition */
    int64_t offset;    /* the record's offset; -1 with acks=0 or on error */
    int64_t timestamp_ms;
    size_t key_bytes;
    size_t value_bytes;
    void *record_context; /* what was passed to ether_produce */
};

typedef void ether_delivery_fn(void *callback_context, const struct ether_delivery *delivery);

/* A configuration with every default (see ether_config_set). Free with ether_config_free. */
ETHER_API struct ether_config *ether_config_new(void);

ETHER_API void ether_config_free(struct ether_config *config);

/*
 * Sets one property; unknown names and values that do not parse give
 * ETHER_ERR_INVALID_ARGUMENT and a sentence in errstr. Properties (default):
 *
 *   brokers               "host:port,host:port" to bootstrap from (ETHER_BROKERS
 *                         from the environment, else 127.0.0.1:9092,127.0.0.1:9093,
 *                         127.0.0.1:9094)
 *   client_id             a name for logs ("ether")
 *   acks                  0, 1 or all (all)
 *   linger_ms             how long a partition's records wait for more before
 *                         their batch is sent (5)
 *   batch_bytes           a batch is sent as soon as it holds this much (65536)
 *   compression           lz4 or none (lz4)
 *   in_flight_requests_max  produce requests in flight per connection (5)
 *   queue_records_max     records produced and not yet reported; beyond it
 *                         ether_produce returns ETHER_ERR_BUSY (100000)
 *   request_timeout_ms    one request's answer must arrive within this (10000)
 *   delivery_timeout_ms   a record is reported as failed after this (30000)
 *   retry_backoff_ms      first retry delay; doubles per attempt (100)
 *   retry_backoff_max_ms  the bound on a retry delay (2000)
 *   metadata_max_age_ms   metadata is refreshed at least this often (60000)
 *   fetch_max_wait_ms     how long a broker may hold a fetch for new data (500)
 *   fetch_max_bytes       bytes asked for per partition per fetch (1048576)
 *   consume_queue_max     fetched records buffered before fetching pauses (100000)
 *   rack                  prefer replicas in this rack when consuming ("": leader)
 *   fetch_from            leader or follower: which replica consumers read from when
 *                         no rack is set (leader)
 *   enable_idempotence    true or false (default: true with acks=all, false with
 *                         acks 0 or 1). An idempotent producer asks the cluster for a
 *                         producer id (INIT_PRODUCER_ID) before its first batch, gives
 *                         every batch a per-partition sequence number, keeps up to 5
 *                         batches per partition in flight (at most
 *                         in_flight_requests_max) and resends failed batches unchanged,
 *                         so each record is written exactly once and in order. "true"
 *                         works with acks 1 or all; with acks=0 ether_client_new refuses
 *                         it. When left at its default and the cluster does not know
 *                         INIT_PRODUCER_ID (ETHER_ERR_UNSUPPORTED), the client produces
 *                         without idempotence; when set to true, its records fail with
 *                         ETHER_ERR_UNSUPPORTED instead.
 *   producer_name         a stable name for an idempotent producer ("": none), like
 *                         Kafka's transactional.id: a producer restarted with the same
 *                         name gets the same producer id with a higher epoch, and the
 *                         older instance is fenced (see ether_produce). At most 255 bytes.
 *   seed                  seed of the retry jitter, for reproducible runs (0: from
 *                         the clock)
 *
 * Consumer groups (see ether_subscribe):
 *
 *   group_id              the consumer group this client belongs to ("": none). At most
 *                         255 bytes. Needed by ether_subscribe, the commit functions and
 *                         ether_committed.
 *   group_assignor        range, roundrobin or sticky: how the coordinator shares the
 *                         subscribed topics' partitions among the members (range). Every
 *                         member of a group must ask for the same one.
 *   group_protocol        eager or cooperative (eager). Eager: before every rebalance the
 *                         member commits (with auto-commit) and stops reading all its
 *                         partitions. Cooperative: it keeps reading them during the
 *                         rebalance and afterwards gives up only those it lost. Every
 *                         member of a group must use the same one.
 *   session_timeout_ms    the coordinator removes a member it has not heard from for
 *                         this long (10000); the member likewise considers its partitions
 *                         lost after this long without an answer to its heartbeats
 *   heartbeat_interval_ms how often a member tells the coordinator it is alive (3000);
 *                         must be less than session_timeout_ms
 *   rebalance_timeout_ms  how long a rebalance waits for the members to join again
 *                         (30000); a JoinGroup request may wait this long for its answer
 *   enable_auto_commit    true or false (true): commit the consumed positions every
 *                         auto_commit_interval_ms, before giving up partitions in a
 *                         rebalance, and in ether_unsubscribe / ether_client_destroy
 *   auto_commit_interval_ms  (5000)
 *   auto_offset_reset     earliest or latest (latest): where a member starts a partition
 *                         that has no committed offset, or whose committed offset is no
 *                         longer in the log
 *
 * TLS (all in clear by default; the environment variables are the same as etherd's):
 *
 *   tls_ca_file           PEM file of the CA certificates that sign the brokers'
 *                         certificates ($ETHER_TLS_CA_FILE, else "": in clear). Setting it
 *                         turns TLS on for every connection: TLS 1.2 or 1.3, and each
 *                         broker's certificate must chain to this CA and name (as an IP or
 *                         DNS subject alternative name) the host the client dials: the
 *                         bootstrap host from `brokers`, then the host each broker
 *                         advertises in the metadata. "" turns TLS off.
 *   tls_certificate_file  PEM file of this client's certificate (then any intermediates),
 *                         shown to brokers that require client certificates (mTLS); its
 *                         subject CN is the client's principal ($ETHER_TLS_CERTIFICATE_FILE,
 *                         else "": none). Needs tls_ca_file and tls_private_key_file.
 *   tls_private_key_file  PEM file of that certificate's private key, unencrypted
 *                         ($ETHER_TLS_PRIVATE_KEY_FILE, else "": none)
 *
 * SCRAM-SHA-256 login (none by default; the environment variables are the same as the
 * ether tool's):
 *
 *   sasl_username         the user every connection logs in as ($ETHER_SASL_USERNAME, else
 *                         "": no login). 1 to 128 printable ASCII characters, no spaces.
 *   sasl_password         its password ($ETHER_SASL_PASSWORD, else ""). A login does not
 *                         send it: the client proves that it knows it (RFC 5802) and checks
 *                         that the broker holds the user's credential. Never in any error
 *                         sentence.
 *
 * Both are needed, and TLS (tls_ca_file) as well: ether_client_new refuses one without
 * the other, and a login without TLS. With them, every connection logs in right after
 * its TLS handshake (AUTHENTICATE, two round trips) and sends requests only once the
 * broker accepted the login and proved who it is.
 *
 * A certificate refused on either side (the broker's by the client, or the
 * client's, or its absence, by a broker that requires one) fails the requests on
 * that connection at once with ETHER_ERR_AUTHENTICATION_FAILED; so does a failed
 * SCRAM login (a wrong user name or password, with the broker's reason, or a
 * broker whose proof does not verify; a broker that closes the connection during
 * the login without refusing it is a broken connection, retried);
 * another failed TLS handshake, or a broker that answers a client in clear in TLS, with
 * ETHER_ERR_TLS_HANDSHAKE. errstr and error_message carry the reason ("...: TLS
 * handshake failed: certificate verify failed: ..."). These errors are not retried.
 * A broker that speaks TLS may also just close a connection in clear; requests then
 * time out with a hint in the last error.
 *
 * ether_client_new refuses a configuration whose properties contradict each
 * other (heartbeat_interval_ms >= session_timeout_ms; enable_idempotence=true
 * with acks=0; a TLS certificate without its key or without tls_ca_file; a
 * sasl_username without sasl_password, or either without tls_ca_file) with a
 * sentence in errstr, and TLS files it cannot use (missing, unreadable, not PEM,
 * a key that does not match the certificate) with a sentence naming the file.
 *
 * Delivery errors of an idempotent producer: ETHER_ERR_OUT_OF_ORDER_SEQUENCE
 * or ETHER_ERR_UNKNOWN_PRODUCER when the partition's leader refused a batch's
 * sequence numbers (it lost or expired this producer's state); the records of
 * that partition sent after it in the same epoch fail with the same error,
 * since they could only land after a gap; the producer then takes a new epoch
 * and later records go on normally. Records are never reordered to fill a gap.
 */
ETHER_API int ether_config_set(struct ether_config *config, const char *name, const char *value,
                               char *errstr, size_t errstr_size);

/* The callback ether_poll and ether_flush call for each delivery report (none by default). */
ETHER_API void ether_config_set_delivery_callback(struct ether_config *config,
                                                  ether_delivery_fn *callback,
                                                  void *callback_context);

/*
 * One partition of a topic, with an offset whose meaning depends on the
 * function that returns it (-1 when there is none). Arrays of them returned
 * by libether are the caller's: free them with ether_topic_partitions_free.
 */
struct ether_topic_partition {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int error; /* ETHER_OK, or what went wrong for this partition alone */
};

/* Frees an array of `count` partitions returned by libether (and their topic names). */
ETHER_API void ether_topic_partitions_free(struct ether_topic_partition *partitions, size_t count);

/*
 * The outcome of a background commit (auto-commit or ether_commit_async):
 * `error` ETHER_OK when the coordinator stored every offset, else why not,
 * with a sentence in error_message. `offsets` holds the offsets committed
 * (each with its own `error`). Everything is valid during the call only.
 */
typedef void ether_commit_fn(void *callback_context, int error, const char *error_message,
                             const struct ether_topic_partition *offsets, size_t count);

/*
 * The callback ether_poll and ether_consume call for each finished
 * background commit (none by default). It runs on the application thread
 * that calls ether_poll or ether_consume, never on the I/O thread.
 */
ETHER_API void ether_config_set_commit_callback(struct ether_config *config,
                                                ether_commit_fn *callback, void *callback_context);

/* ---- the client handle ---------------------------------------------------------------- */

/*
 * Starts a client: checks the configuration and starts the I/O thread. No
 * connection is made yet (the first request makes it). `config` stays the
 * caller's: the client copies it. Returns NULL with a sentence in errstr
 * when the configuration is unusable or the thread cannot start.
 */
ETHER_API struct ether_client *ether_client_new(const struct ether_config *config, char *errstr,
                                                size_t errstr_size);

/*
 * Stops the I/O thread, closes every connection and frees the handle.
 * Records not yet reported are dropped without a report (call ether_flush
 * first); messages not yet consumed are freed. Messages returned by
 * ether_consume stay valid until freed, except their `topic`, which
 * belongs to the client. A subscribed client first commits (with
 * enable_auto_commit) and leaves its group, as ether_unsubscribe does,
 * waiting at most request_timeout_ms and never more than 5000 ms. Must not
 * race with any other call on `client`.
 */
ETHER_API void ether_client_destroy(struct ether_client *client);

/* ---- producing ------------------------------------------------------------------------ */

enum { ETHER_PARTITION_ANY = -1 };

/*
 * Queues one record for `topic`. `partition` ETHER_PARTITION_ANY lets the
 * client choose: ether_partition_for_key(key) when key is not NULL, else a
 * "sticky" partition that changes after each batch. key and value (either
 * may be NULL for a null key or value) are copied. timestamp_ms 0 means now.
 * record_context is returned in the record's delivery report.
 *
 * Returns ETHER_OK (the record will get exactly one delivery report),
 * ETHER_ERR_BUSY when queue_records_max records are outstanding (call
 * ether_poll and retry), ETHER_ERR_TOO_LARGE when the record alone exceeds
 * batch_bytes, ETHER_ERR_INVALID_ARGUMENT for a NULL or empty topic.
 *
 * ETHER_ERR_PRODUCER_FENCED: another client initialised the same
 * producer_name (a newer epoch). The producer is unusable from then on:
 * every record not yet written is reported with ETHER_ERR_PRODUCER_FENCED
 * and ether_produce refuses new ones with that code; destroy the handle.
 * (ETHER_ERR_UNSUPPORTED likewise, when enable_idempotence=true and the
 * cluster cannot do it.)
 */
ETHER_API int ether_produce(struct ether_client *client, const char *topic, int32_t partition,
                            const void *key, size_t key_bytes, const void *value,
                            size_t value_bytes, int64_t timestamp_ms, void *record_context);

/*
 * Calls the delivery callback for every report ready (and the commit
 * callback for every finished background commit), waiting up to timeout_ms
 * (0: do not wait, -1: forever) for the first one. Returns how many reports
 * were served.
 */
ETHER_API int ether_poll(struct ether_client *client, int timeout_ms);

/*
 * Sends every queued record now (ignoring linger_ms) and serves reports until
 * none is outstanding. Returns ETHER_OK, or ETHER_ERR_TIMED_OUT when records
 * are still outstanding after timeout_ms (-1: no limit).
 */
ETHER_API int ether_flush(struct ether_client *client, int timeout_ms);

/* Records produced whose report has not been served yet. */
ETHER_API size_t ether_outstanding_count(struct ether_client *client);

/*
 * The partition a key goes to: crc32c(key) mod partition_count, where crc32c
 * is CRC-32C (Castagnoli, as in iSCSI: reflected polynomial 0x82F63B78,
 * initial value and final xor 0xFFFFFFFF). The same key always maps to the
 * same partition while the partition count stays the same; any language
 * can compute it. partition_count must be at least 1.
 */
ETHER_API uint32_t ether_partition_for_key(const void *key, size_t key_bytes,
                                           uint32_t partition_count);

/* ---- consuming ------------------------------------------------------------------------ */

enum {
    ETHER_OFFSET_END = -1,       /* the offset the next produced record will get */
    ETHER_OFFSET_BEGINNING = -2, /* the first offset still stored */
};

/* One consumed record, or a partition's error when `error` is not ETHER_OK. */
struct ether_message {
    int error;
    const char *error_message; /* "" without error */
    const char *topic;         /* owned by the client: valid until ether_client_destroy */
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
    const void *key; /* NULL for a null key */
    size_t key_bytes;
    const void *value; /* NULL for a null value */
    size_t value_bytes;
    int64_t high_watermark; /* the partition's high watermark when it was fetched */
};

/*
 * Starts reading `topic`/`partition` from `offset` (an offset, or
 * ETHER_OFFSET_BEGINNING / ETHER_OFFSET_END, resolved with ListOffsets).
 * Assigning a partition again moves its position. Returns at once; errors
 * (unknown topic, offset out of range) arrive as messages with `error` set,
 * after which that partition is no longer read until assigned again.
 * ETHER_ERR_INVALID_ARGUMENT while subscribed (see ether_subscribe).
 */
ETHER_API int ether_assign(struct ether_client *client, const char *topic, int32_t partition,
                           int64_t offset);

/* Like ether_assign, from the first record whose timestamp is >= timestamp_ms. */
ETHER_API int ether_assign_timestamp(struct ether_client *client, const char *topic,
                                     int32_t partition, int64_t timestamp_ms);

/* Stops reading a partition; ETHER_ERR_NOT_FOUND if it was not assigned. */
ETHER_API int ether_unassign(struct ether_client *client, const char *topic, int32_t partition);

/*
 * The next fetched message of any assigned partition, waiting up to
 * timeout_ms (0: do not wait, -1: forever). NULL when none arrived in time.
 * The caller owns the message and frees it with ether_message_free. Also
 * serves finished background commits to the commit callback meanwhile.
 */
ETHER_API struct ether_message *ether_consume(struct ether_client *client, int timeout_ms);

ETHER_API void ether_message_free(struct ether_message *message);

/* ---- consumer groups ------------------------------------------------------------------ */
/*
 * Members of a consumer group (the group_id property) share the partitions
 * of the topics they subscribe to: each partition is read by one member,
 * and the group remembers for each partition the offset to continue from
 * (its committed offset). The group's coordinator is a broker (the leader of
 * the group's partition of the internal topic __consumer_offsets); it
 * computes the assignment with the group_assignor, rebalances when members
 * come and go, and stores the commits.
 *
 * Positions and commits follow Kafka: a partition's position is the offset
 * after the last message ether_consume returned for it (before any, where
 * reading started: the committed offset, else per auto_offset_reset). A
 * commit stores positions, so an offset committed is the next one to read;
 * after a crash, messages consumed since the last commit are read again (at
 * least once).
 */

/*
 * Joins the consumer group named by group_id and reads the partitions it
 * assigns to this client, from their committed offsets (from where
 * auto_offset_reset says for a partition without one, or whose committed
 * offset is no longer in the log). `topics` (count >= 1, copied) replaces
 * any earlier subscription, and any partitions given to ether_assign.
 * Returns at once: the I/O thread finds the coordinator, joins, heartbeats
 * every heartbeat_interval_ms, follows rebalances and auto-commits (with
 * enable_auto_commit). Messages then come from ether_consume as usual. When a
 * rebalance takes a partition away, its messages not yet returned by
 * ether_consume are dropped: ether_consume never returns a message of a
 * partition this member is known to have lost.
 *
 * Errors: ETHER_ERR_INVALID_ARGUMENT (no group_id, no topic, an empty topic
 * name) with a sentence in errstr. An error that stops the group later
 * (ETHER_ERR_INCONSISTENT_GROUP_PROTOCOL: members of the group use another
 * group_assignor or group_protocol; ETHER_ERR_INVALID_ARGUMENT: the
 * coordinator refused the group or a setting) arrives from ether_consume as
 * a message with `error` set, topic "" and partition -1; the client then
 * reads nothing until ether_subscribe is called again. While subscribed,
 * ether_assign, ether_assign_timestamp and ether_unassign return
 * ETHER_ERR_INVALID_ARGUMENT (the group decides what is read).
 */
ETHER_API int ether_subscribe(struct ether_client *client, const char *const *topics, size_t count,
                              char *errstr, size_t errstr_size);

/*
 * Leaves the group: stops reading (buffered messages are dropped), commits
 * the positions (with enable_auto_commit), sends LeaveGroup so that the
 * others get the partitions at once, and waits for all of it at most
 * timeout_ms (-1: no limit). Returns ETHER_OK (also when not subscribed),
 * ETHER_ERR_TIMED_OUT, or the commit's error. The client leaves the group
 * locally whatever is returned.
 *
 * ether_client_destroy does the same for a subscribed client, waiting at
 * most request_timeout_ms and never more than 5000 ms.
 */
ETHER_API int ether_unsubscribe(struct ether_client *client, int timeout_ms);

/*
 * Commits the position of every partition assigned to this member (see
 * above: after the last message ether_consume returned) and waits for the
 * coordinator's answer, at most timeout_ms (-1: no limit). Broken
 * connections and a moving coordinator are retried within that time.
 * Returns ETHER_OK (also when there is nothing to commit yet),
 * ETHER_ERR_INVALID_ARGUMENT when not subscribed, ETHER_ERR_TIMED_OUT, or
 * the coordinator's refusal: ETHER_ERR_ILLEGAL_GENERATION or
 * ETHER_ERR_UNKNOWN_MEMBER_ID (a rebalance went on without this member: its
 * partitions are already lost, it joins again by itself) or
 * ETHER_ERR_REBALANCE_IN_PROGRESS (commit again once the rebalance is over).
 */
ETHER_API int ether_commit_sync(struct ether_client *client, int timeout_ms, char *errstr,
                                size_t errstr_size);

/*
 * Like ether_commit_sync without waiting: the outcome goes to the commit
 * callback (ether_config_set_commit_callback), once per call, served by
 * ether_poll or ether_consume. Returns ETHER_ERR_INVALID_ARGUMENT when not
 * subscribed, else ETHER_OK.
 */
ETHER_API int ether_commit_async(struct ether_client *client);

/*
 * Commits `offset` (the next offset to consume) for topic/partition and
 * waits at most timeout_ms. A subscribed member commits as itself; a client
 * that is not subscribed (reading with ether_assign) commits
 * administratively, which the coordinator accepts only while the group has
 * no members (ETHER_ERR_GROUP_NOT_EMPTY otherwise). Needs group_id.
 */
ETHER_API int ether_commit_offset(struct ether_client *client, const char *topic, int32_t partition,
                                  int64_t offset, int timeout_ms, char *errstr, size_t errstr_size);

/*
 * The group's (group_id's) committed offset of topic/partition: the next
 * offset to consume, or -1 when none is committed. Asks the coordinator.
 */
ETHER_API int ether_committed(struct ether_client *client, const char *topic, int32_t partition,
                              int64_t *offset, int timeout_ms, char *errstr, size_t errstr_size);

/*
 * The partitions the group assigned to this member, sorted by topic then
 * partition, each with its position in `offset` (-1 while not known yet).
 * *partitions is the caller's (free with ether_topic_partitions_free; NULL
 * when *count is 0). Empty when not subscribed or between an eager
 * rebalance's start and its end.
 */
ETHER_API int ether_assignment(struct ether_client *client,
                               struct ether_topic_partition **partitions, size_t *count);

/* ---- synchronous requests: offsets and administration --------------------------------- */
/*
 * These block the calling thread for at most about timeout_ms, retrying on
 * NOT_LEADER and broken connections with backoff. On failure they return
 * the code and a sentence in errstr.
 */

enum ether_offset_query {
    ETHER_OFFSET_QUERY_LATEST = 0,    /* the high watermark */
    ETHER_OFFSET_QUERY_EARLIEST = 1,  /* the log start offset */
    ETHER_OFFSET_QUERY_TIMESTAMP = 2, /* the first offset with timestamp >= timestamp_ms */
};

ETHER_API int ether_list_offset(struct ether_client *client, const char *topic, int32_t partition,
                                enum ether_offset_query query, int64_t timestamp_ms, int timeout_ms,
                                int64_t *offset, char *errstr, size_t errstr_size);

struct ether_config_entry {
    const char *name;
    const char *value;
};

ETHER_API int ether_create_topic(struct ether_client *client, const char *name,
                                 uint32_t partition_count, uint32_t replication_factor,
                                 const struct ether_config_entry *configs, size_t config_count,
                                 int timeout_ms, char *errstr, size_t errstr_size);

ETHER_API int ether_delete_topic(struct ether_client *client, const char *name, int timeout_ms,
                                 char *errstr, size_t errstr_size);

/* Sets `set` and removes `delete_names` from the topic's configuration in one request. */
ETHER_API int ether_alter_topic_config(struct ether_client *client, const char *name,
                                       const struct ether_config_entry *set, size_t set_count,
                                       const char *const *delete_names, size_t delete_count,
                                       int timeout_ms, char *errstr, size_t errstr_size);

/*
 * Asks the broker that leads topic/partition to hand leadership to
 * to_broker_id (a caught-up replica) and waits for its answer.
 */
ETHER_API int ether_transfer_leader(struct ether_client *client, const char *topic,
                                    int32_t partition, uint32_t to_broker_id, int timeout_ms,
                                    char *errstr, size_t errstr_size);

struct ether_broker_info {
    uint32_t broker_id;
    const char *host;
    uint16_t port;
    const char *rack; /* "" when none */
};

struct ether_partition_info {
    uint32_t partition;
    int error;
    uint32_t leader_id; /* 0: no leader */
    uint64_t leader_term;
    const uint32_t *replicas;
    size_t replica_count;
    const uint32_t *in_sync_replicas;
    size_t in_sync_replica_count;
    uint64_t high_watermark;
    uint64_t log_start_offset;
};

struct ether_topic_info {
    const char *name;
    int error;
    const struct ether_partition_info *partitions; /* sorted by partition */
    size_t partition_count;
    const struct ether_config_entry *configs; /* sorted by name */
    size_t config_count;
};

/* A snapshot of the cluster's metadata; everything in it belongs to the snapshot. */
struct ether_cluster {
    const char *cluster_id;
    uint32_t controller_id;                  /* 0: none */
    const struct ether_broker_info *brokers; /* sorted by broker_id */
    size_t broker_count;
    const struct ether_topic_info *topics; /* sorted by name */
    size_t topic_count;
};

/*
 * Fetches the cluster's metadata: every broker and the topics named (all
 * topics when topic_count is 0). On success *cluster is the caller's; free
 * it with ether_cluster_free.
 */
ETHER_API int ether_describe_cluster(struct ether_client *client, const char *const *topics,
                                     size_t topic_count, int timeout_ms,
                                     struct ether_cluster **cluster, char *errstr,
                                     size_t errstr_size);

ETHER_API void ether_cluster_free(struct ether_cluster *cluster);

/*
 * Sends one small request to broker_id (as named in the metadata) and waits
 * for its answer; stores the round trip in *round_trip_us (may be NULL). Does
 * not retry: a broker that does not answer in timeout_ms is down.
 */
ETHER_API int ether_ping_broker(struct ether_client *client, uint32_t broker_id, int timeout_ms,
                                int64_t *round_trip_us, char *errstr, size_t errstr_size);

/* One idempotent producer as a partition replica knows it (ether_describe_producers). */
struct ether_producer_state {
    int64_t producer_id;
    uint32_t producer_epoch;
    int32_t last_sequence;     /* the sequence of the last record of its last batch */
    int64_t last_offset;       /* the offset of that record */
    int64_t last_timestamp_ms; /* its last batch's max timestamp (log time) */
};

/*
 * Asks the leader of topic/partition (DESCRIBE_PRODUCERS) for the producers
 * it tracks. On success *producers is an array of *count entries sorted by
 * producer id (NULL when *count is 0), the caller's: free it with
 * ether_producer_states_free. On failure *producers is NULL.
 */
ETHER_API int ether_describe_producers(struct ether_client *client, const char *topic,
                                       int32_t partition, int timeout_ms,
                                       struct ether_producer_state **producers, size_t *count,
                                       char *errstr, size_t errstr_size);

ETHER_API void ether_producer_states_free(struct ether_producer_state *producers);

/* ---- consumer group administration -------------------------------------------------------- */

/* One group as its coordinator lists it. */
struct ether_group_listing {
    const char *group;
    const char *state; /* "empty", "preparing-rebalance", "completing-rebalance", "stable" */
    uint32_t member_count;
    uint32_t coordinator_id; /* the broker that coordinates it */
};

struct ether_group_list {
    const struct ether_group_listing *groups; /* sorted by name */
    size_t group_count;
    /* Brokers that did not answer: groups they coordinate are missing from `groups`. */
    const uint32_t *unanswered_broker_ids;
    size_t unanswered_broker_count;
};

/*
 * Lists the consumer groups: asks every broker of the cluster (each
 * answers for the groups it coordinates, in parallel, one attempt each
 * within timeout_ms) and merges the answers. Succeeds when at least one
 * broker answered; the others are named in unanswered_broker_ids. With
 * authorization on, only groups the client may describe are listed (every
 * group when it may describe the cluster). On success *list is the
 * caller's: free it with ether_group_list_free.
 */
ETHER_API int ether_group_list(struct ether_client *client, int timeout_ms,
                               struct ether_group_list **list, char *errstr, size_t errstr_size);

ETHER_API void ether_group_list_free(struct ether_group_list *list);

struct ether_group_member_info {
    const char *member_id;
    const char *client_id;
    const char *host;          /* "" when the coordinator does not say */
    const char *const *topics; /* the subscription, sorted */
    size_t topic_count;
    const struct ether_topic_partition *assignment; /* sorted; offset -1 */
    size_t assignment_count;
    uint32_t session_timeout_ms;
};

/* One partition of a topic the group subscribes to, owns or has committed offsets in. */
struct ether_group_partition_info {
    const char *topic;
    int32_t partition;
    int64_t committed_offset; /* the next offset to consume; -1: none committed */
    int64_t end_offset;       /* the partition's high watermark; -1 when unknown (see error) */
    int64_t lag;              /* end_offset - committed_offset; -1 when either is unknown */
    const char *member_id;    /* the member it is assigned to; "" when none */
    const char *client_id;    /* that member's client_id; "" when none */
    const char *host;
    int error; /* why end_offset is unknown (ETHER_ERR_NOT_FOUND: no such topic or partition) */
};

/* A snapshot of a consumer group; everything in it belongs to the snapshot. */
struct ether_group_description {
    const char *group;
    const char *state;
    uint32_t generation;
    const char *assignor;
    int cooperative;       /* 1: group_protocol cooperative */
    const char *leader_id; /* "" when the group has no members */
    uint32_t coordinator_id;
    const struct ether_group_member_info *members; /* sorted by member_id */
    size_t member_count;
    const struct ether_group_partition_info *partitions; /* sorted by topic, partition */
    size_t partition_count;
};

/*
 * Describes `group`: its state and members (DescribeGroup at its
 * coordinator), and for every partition of every topic it subscribes to,
 * is assigned or has committed offsets in: the committed offset, the end
 * offset (ListOffsets latest at each partition's leader, in parallel) and
 * the lag. ETHER_ERR_GROUP_NOT_FOUND when the coordinator knows no such
 * group. On success *description is the caller's: free it with
 * ether_group_description_free.
 */
ETHER_API int ether_group_describe(struct ether_client *client, const char *group, int timeout_ms,
                                   struct ether_group_description **description, char *errstr,
                                   size_t errstr_size);

ETHER_API void ether_group_description_free(struct ether_group_description *description);

enum ether_group_reset {
    ETHER_GROUP_RESET_EARLIEST = 0,  /* each partition's log start offset */
    ETHER_GROUP_RESET_LATEST = 1,    /* each partition's end: skip everything stored */
    ETHER_GROUP_RESET_OFFSET = 2,    /* `value`, kept within [log start, end] */
    ETHER_GROUP_RESET_TIMESTAMP = 3, /* the first record with timestamp >= `value` (ms) */
};

/*
 * Moves the committed offsets of `group` for every partition of `topic`:
 * resolves each partition's target with ListOffsets, then commits them all
 * administratively in one OffsetCommit. The coordinator accepts that only
 * while the group has no members: ETHER_ERR_GROUP_NOT_EMPTY otherwise (stop
 * its consumers first). On success *offsets (may be NULL when not wanted)
 * holds *count entries, the new committed offset of each partition; free
 * with ether_topic_partitions_free.
 */
ETHER_API int ether_group_reset_offsets(struct ether_client *client, const char *group,
                                        const char *topic, enum ether_group_reset to, int64_t value,
                                        int timeout_ms, struct ether_topic_partition **offsets,
                                        size_t *count, char *errstr, size_t errstr_size);

/*
 * Deletes an empty group and its committed offsets.
 * ETHER_ERR_GROUP_NOT_EMPTY while it has members, ETHER_ERR_GROUP_NOT_FOUND
 * when there is no such group.
 */
ETHER_API int ether_group_delete(struct ether_client *client, const char *group, int timeout_ms,
                                 char *errstr, size_t errstr_size);

/* ---- users and ACLs ------------------------------------------------------------------------ */
/*
 * Users log in with SCRAM-SHA-256 (the sasl_username and sasl_password
 * properties); ACLs say what each principal (a user name, or the common name
 * of a client certificate) may do when the brokers enforce authorization.
 * Users and ACLs live in the controller state: these calls go to the
 * controller, retrying on NOT_LEADER and broken connections like
 * ether_create_topic. A principal without the right gets
 * ETHER_ERR_CLUSTER_AUTHORIZATION_FAILED.
 */

/*
 * Creates user `name` with a SCRAM-SHA-256 credential for `password`; with
 * `replace` non-zero, an existing user gets the new password instead of
 * ETHER_ERR_EXISTS. `iterations` is the PBKDF2 iteration count: 0 for the
 * broker's default (4096), else 4096 to 100000. The password travels to the
 * controller's broker, so only over TLS (ETHER_ERR_INVALID_ARGUMENT without
 * tls_ca_file); it keeps only a salted hash. The password never appears in
 * errstr. When an attempt got no answer (a broken connection) and the retry of
 * ether_acl_create finds its binding (or of ether_acl_delete finds it gone), that
 * counts as done; a retried ether_user_create may answer
 * ETHER_ERR_EXISTS for the user its first attempt created. User names are 1 to 128 printable ASCII
 * characters without spaces; passwords 1 to 1024 bytes.
 */
ETHER_API int ether_user_create(struct ether_client *client, const char *name, const char *password,
                                uint32_t iterations, int replace, int timeout_ms, char *errstr,
                                size_t errstr_size);

/* Deletes a user (ETHER_ERR_NOT_FOUND when there is none). */
ETHER_API int ether_user_delete(struct ether_client *client, const char *name, int timeout_ms,
                                char *errstr, size_t errstr_size);

/* One user as the controller lists it (never its credential). */
struct ether_user {
    const char *name;
    const char *mechanism; /* "SCRAM-SHA-256" */
    uint32_t iterations;
};

/*
 * Lists the users, sorted by name. On success *users is an array of *count
 * entries (NULL when *count is 0), the caller's: free it with
 * ether_users_free. On failure *users is NULL.
 */
ETHER_API int ether_user_list(struct ether_client *client, int timeout_ms,
                              struct ether_user **users, size_t *count, char *errstr,
                              size_t errstr_size);

ETHER_API void ether_users_free(struct ether_user *users, size_t count);

/* The kinds of resource an ACL is about (the wire's AclResourceType). */
enum ether_acl_resource_type {
    ETHER_ACL_RESOURCE_ANY = 0, /* in ether_acl_list's filter only */
    ETHER_ACL_RESOURCE_TOPIC = 1,
    ETHER_ACL_RESOURCE_GROUP = 2,
    ETHER_ACL_RESOURCE_CLUSTER = 3, /* resource_name "" (the one cluster) */
};

/* How resource_name matches (AclPatternType). */
enum ether_acl_pattern {
    ETHER_ACL_PATTERN_LITERAL = 0,  /* the name itself, or "*" for every name */
    ETHER_ACL_PATTERN_PREFIXED = 1, /* every name that starts with resource_name */
};

/*
 * What is allowed or denied (AclOperation). READ, WRITE, DELETE and ALTER of
 * a resource imply DESCRIBE of it; ALL is every operation.
 */
enum ether_acl_operation {
    ETHER_ACL_OPERATION_ANY = 0, /* never in a binding */
    ETHER_ACL_OPERATION_READ = 1,
    ETHER_ACL_OPERATION_WRITE = 2,
    ETHER_ACL_OPERATION_CREATE = 3,
    ETHER_ACL_OPERATION_DELETE = 4,
    ETHER_ACL_OPERATION_DESCRIBE = 5,
    ETHER_ACL_OPERATION_ALTER = 6,
    ETHER_ACL_OPERATION_ALL = 7,
};

/* AclPermission: a matching DENY wins over a matching ALLOW; no match denies. */
enum ether_acl_permission {
    ETHER_ACL_PERMISSION_ANY = 0, /* never in a binding */
    ETHER_ACL_PERMISSION_ALLOW = 1,
    ETHER_ACL_PERMISSION_DENY = 2,
};

/* One ACL binding: `principal` may (or may not) do `operation` on the resource. */
struct ether_acl {
    const char *principal; /* a user name, or "*" for every principal (anonymous too) */
    enum ether_acl_resource_type resource_type;
    const char *resource_name; /* "" (or NULL when passed in) for the cluster */
    enum ether_acl_pattern pattern;
    enum ether_acl_operation operation;
    enum ether_acl_permission permission;
};

/*
 * Adds one binding (ether_acl_create) or removes the binding equal to it
 * (ether_acl_delete; ETHER_ERR_NOT_FOUND when there is none). `acl` is read
 * during the call only. ETHER_ERR_INVALID_ARGUMENT for a binding without a
 * principal, with a *_ANY value, without a name for a topic or group, with a
 * name or PREFIXED for the cluster.
 */
ETHER_API int ether_acl_create(struct ether_client *client, const struct ether_acl *acl,
                               int timeout_ms, char *errstr, size_t errstr_size);

ETHER_API int ether_acl_delete(struct ether_client *client, const struct ether_acl *acl,
                               int timeout_ms, char *errstr, size_t errstr_size);

/*
 * Lists the bindings that match the filter: `principal` and `resource_name`
 * NULL or "" match any, `resource_type` ETHER_ACL_RESOURCE_ANY matches any;
 * names match exactly (a filter on topic "orders" does not return a PREFIXED
 * binding for "ord"). On success *acls is an array of *count entries sorted
 * by resource type, resource name, pattern, principal, permission and
 * operation (NULL when *count is 0), the caller's: free it with
 * ether_acls_free. On failure *acls is NULL.
 */
ETHER_API int ether_acl_list(struct ether_client *client, const char *principal,
                             enum ether_acl_resource_type resource_type, const char *resource_name,
                             int timeout_ms, struct ether_acl **acls, size_t *count, char *errstr,
                             size_t errstr_size);

/* "read", "allow", "topic", "prefixed" (the CLI's words); "any" for the filters' *_ANY;
 * "unknown" for a value this build does not know. */
ETHER_API const char *ether_acl_operation_name(enum ether_acl_operation operation);
ETHER_API const char *ether_acl_permission_name(enum ether_acl_permission permission);
ETHER_API const char *ether_acl_resource_type_name(enum ether_acl_resource_type resource_type);
ETHER_API const char *ether_acl_pattern_name(enum ether_acl_pattern pattern);

ETHER_API void ether_acls_free(struct ether_acl *acls, size_t count);

#ifdef __cplusplus
}
#endif

#endif
