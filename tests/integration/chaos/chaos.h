/*
 * chaos.h: the chaos test of a three-broker Ether cluster in containers
 * (tests/integration/chaos/run.sh starts the cluster and runs ether-chaos).
 *
 * What it is for: finding lost, duplicated, reordered or invented records and
 * slow recoveries under real faults -- SIGKILL, SIGSTOP (docker pause), a
 * broker cut off the network -- injected one at a time by a seeded nemesis,
 * while idempotent producers (acks=all) write, consumers read every
 * partition from the beginning and the members of a consumer group share the
 * partitions and commit what they processed, through libether
 * (client/ether.h) only.
 *
 * Modules, each owning its part of the history:
 *   workload.c  producer and consumer threads; each thread owns its own
 *               history array and nobody else touches it until it is joined.
 *   nemesis.c   the faults (docker commands), the waits for recovery, and
 *               the fault log (owned by the main thread).
 *   checker.c   the final read of every partition from every replica, the
 *               checks, the report.
 *
 * Times are milliseconds of CLOCK_MONOTONIC since the run started
 * (chaos_now_ms); a record's value carries its send time, so a consumer knows
 * when a record it reads was sent without sharing memory with producers.
 *
 * Record identity: producer p (0-based) and its sequence s (0-based, one per
 * ether_produce call that was accepted) make the id ((p + 1) << 40) | s; 0 is
 * "not a record this test sent in this form" (a garbled value).
 */
#ifndef CHAOS_H
#define CHAOS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/ether.h"

enum {
    CHAOS_BROKERS_COUNT = 3,
    CHAOS_PRODUCERS_MAX = 16,
    CHAOS_CONSUMERS_MAX = 16,
    CHAOS_GROUP_MEMBERS_MAX = 16,
    CHAOS_PARTITIONS_MAX = 32,
    CHAOS_VALUE_BYTES_MIN = 48,
    CHAOS_VALUE_BYTES_MAX = 4096,
    CHAOS_SEQUENCE_BITS = 40,
    CHAOS_ERRSTR_BYTES = 512,
    CHAOS_ERROR_CODES_MAX = 128,
};

_Static_assert(CHAOS_PRODUCERS_MAX < (1 << (64 - CHAOS_SEQUENCE_BITS)) - 1,
               "producer numbers fit above the sequence bits");

struct chaos_options {
    const char *net;              /* "172.28.91": broker N is at <net>.1N */
    const char *container_prefix; /* broker N is the container <prefix>-N */
    const char *network;          /* the docker network the brokers are on */
    const char *topic;
    unsigned client_port;
    unsigned http_port;
    uint64_t seed;
    int duration_s;          /* faults are injected for this long */
    int producers_count;     /* idempotent producers, one client each */
    int consumers_count;     /* consumer k reads through the replica in rack r(k % 3 + 1) */
    int group_members_count; /* members of the consumer group (groups.c); 0: no group */
    int partitions_count;    /* of the topic, replication factor 3 */
    int rate_per_producer;   /* records per second */
    int value_bytes;         /* each record's value */
    int fault_min_ms;        /* how long one fault lasts before it is healed */
    int fault_max_ms;
    int quiet_min_ms; /* pause between recovering from a fault and the next */
    int quiet_max_ms;
    int recover_max_ms; /* bound: every partition acks and is read within this after a heal */
    int healthy_max_ms; /* bound: all brokers healthy, every ISR full, within this after a heal */
    int delivery_timeout_ms;  /* libether's, for the producers */
    const char *history_path; /* when not NULL, every produce and read event is written there */
    char brokers[256];        /* "<net>.11:port,..." */
};

/* ---- clock and randomness ---------------------------------------------------------------- */

/* Milliseconds since chaos_clock_start. */
int64_t chaos_now_ms(void);
void chaos_clock_start(void);
void chaos_sleep_ms(int64_t ms);

/* splitmix64: one state word, seeded, reproducible across machines. */
uint64_t chaos_random(uint64_t *state);
/* Uniform in [low, high] (high >= low). */
int64_t chaos_random_between(uint64_t *state, int64_t low, int64_t high);

/* ---- records ----------------------------------------------------------------------------- */

static inline uint64_t chaos_record_id(int producer, uint64_t sequence)
{
    return ((uint64_t)(producer + 1) << CHAOS_SEQUENCE_BITS) | sequence;
}

static inline int chaos_record_producer(uint64_t id)
{
    return (int)(id >> CHAOS_SEQUENCE_BITS) - 1;
}

static inline uint64_t chaos_record_sequence(uint64_t id)
{
    return id & ((UINT64_C(1) << CHAOS_SEQUENCE_BITS) - 1);
}

/* Writes the value of record (producer, sequence, sent at send_ms) into value[value_bytes]. */
void chaos_value_format(char *value, size_t value_bytes, int producer, uint64_t sequence,
                        int64_t send_ms);
/* The id of a value made by chaos_value_format (and its send time), or 0 if garbled. */
uint64_t chaos_value_parse(const void *value, size_t value_bytes, size_t value_bytes_expected,
                           int64_t *send_ms);

/*
 * A client of the cluster for this test (acks=all, idempotent); `stream` makes
 * its retry jitter seed differ from other clients'; rack may be NULL. NULL with
 * errstr on failure.
 */
struct ether_client *chaos_client_new(const struct chaos_options *options, uint64_t stream,
                                      const char *rack, ether_delivery_fn *callback,
                                      void *callback_context, char *errstr, size_t errstr_size);

/* ---- history ----------------------------------------------------------------------------- */

enum { CHAOS_NOT_REPORTED = -1 };

/* One ether_produce call that was accepted, indexed by its sequence. */
struct chaos_sent {
    int64_t send_ms;
    int64_t ack_ms; /* when its delivery report was served; 0 before */
    int64_t offset; /* the acknowledged offset; -1 unless acknowledged */
    int32_t partition;
    int32_t error; /* CHAOS_NOT_REPORTED, ETHER_OK, or the delivery error */
};

struct chaos_producer {
    struct chaos_run *run;
    int index;
    pthread_t thread;
    uint64_t random_state;
    struct chaos_sent *sent; /* sent_count entries, of sent_capacity */
    size_t sent_count;
    size_t sent_capacity;
    size_t acknowledged_count;
    size_t failed_count;
    size_t double_reports_count; /* a second report for one record: a libether bug */
    int fatal_error;             /* ether_produce refused a record other than with BUSY */
    char fatal_message[CHAOS_ERRSTR_BYTES];
};

/* One record a consumer read. */
struct chaos_read {
    int64_t offset;
    uint64_t id; /* 0: garbled value */
    int64_t read_ms;
    int64_t send_ms; /* from the value; -1 when garbled */
    int32_t partition;
};

struct chaos_consumer {
    struct chaos_run *run;
    int index;
    char rack[16];
    pthread_t thread;
    struct chaos_read *reads;
    size_t reads_count;
    size_t reads_capacity;
    int64_t next_offset[CHAOS_PARTITIONS_MAX]; /* one past the highest offset read */
    size_t skips_count;                        /* an offset beyond next_offset: a hole */
    size_t errors_count;                       /* error messages (each re-assigns the partition) */
    int first_error;
    char first_error_message[CHAOS_ERRSTR_BYTES];
    bool finished; /* reached every partition's final end */
    int fatal_error;
    char fatal_message[CHAOS_ERRSTR_BYTES];
};

/* A member of the consumer group (groups.c). */
struct chaos_group_member {
    struct chaos_run *run;
    int index;
    pthread_t thread;
    struct chaos_read *reads;
    size_t reads_count;
    size_t reads_capacity;
    size_t errors_count;
    int fatal_error;
    char fatal_message[CHAOS_ERRSTR_BYTES];
};

/* One committed offset of the group, as the watcher saw it. */
struct chaos_commit_sample {
    int64_t sample_ms;
    int64_t committed;
    int32_t partition;
};

struct chaos_group_watch {
    pthread_t thread;
    bool started;
    bool failed;
    struct chaos_commit_sample *samples; /* the watcher's until joined */
    size_t samples_count;
    size_t samples_capacity;
};

enum chaos_fault_kind {
    CHAOS_FAULT_KILL,            /* docker kill -s KILL, then docker start */
    CHAOS_FAULT_PAUSE,           /* docker pause, then docker unpause */
    CHAOS_FAULT_DISCONNECT,      /* docker network disconnect, then connect --ip */
    CHAOS_FAULT_KILL_CONTROLLER, /* the kill, aimed at the controller leader */
    CHAOS_FAULT_KILL_LEADER,     /* the kill, aimed at the leader of one written partition */
    CHAOS_FAULT_KINDS_COUNT,
};

const char *chaos_fault_name(enum chaos_fault_kind kind);

struct chaos_fault {
    enum chaos_fault_kind kind;
    uint32_t broker_id;
    int32_t partition;  /* the partition whose leader was killed; -1 otherwise */
    int64_t start_ms;   /* fault injected */
    int64_t heal_ms;    /* healed (docker start / unpause / connect returned) */
    int64_t healthy_ms; /* all brokers healthy and ISRs full again; -1 if not within bound */
};

struct chaos_run {
    struct chaos_options options;
    struct chaos_producer producers[CHAOS_PRODUCERS_MAX];
    struct chaos_consumer consumers[CHAOS_CONSUMERS_MAX];
    struct chaos_group_member group_members[CHAOS_GROUP_MEMBERS_MAX];
    struct chaos_group_watch group_watch;
    atomic_bool stop_group;
    _Atomic int64_t group_committed[CHAOS_PARTITIONS_MAX]; /* the newest sample of each */
    atomic_bool stop_producing;
    atomic_bool stop_consuming;
    /* Set before stop_consuming: consumers finish once they have read up to these. */
    int64_t end_offsets[CHAOS_PARTITIONS_MAX];
    int64_t consume_deadline_ms;
    /* Live progress for the nemesis's waits (the exact figures come from the history). */
    _Atomic int64_t last_ack_ms[CHAOS_PARTITIONS_MAX];
    _Atomic int64_t newest_read_send_ms[CHAOS_PARTITIONS_MAX];
    struct chaos_fault *faults;
    size_t faults_count;
    size_t faults_capacity;
    size_t crashes_count; /* brokers found exited that the nemesis did not kill */
    size_t harness_errors_count;
};

/* ---- workload.c -------------------------------------------------------------------------- */

/* Starts every producer and consumer thread. 0, or -1 with a message on stderr. */
int chaos_workload_start(struct chaos_run *run);
/* Stops the producers, waits for every report (bounded by the delivery timeout). */
void chaos_workload_stop_producers(struct chaos_run *run);
/* Sets end_offsets, lets consumers finish reading up to them (bounded), joins them. */
void chaos_workload_stop_consumers(struct chaos_run *run, const int64_t *end_offsets,
                                   int timeout_ms);
/* Writes every event to options.history_path (when set). */
void chaos_workload_write_history(const struct chaos_run *run);

/* One replica's copy of a partition: the record id at each offset of [0, end). */
#define CHAOS_NOT_READ UINT64_MAX /* the replica gave nothing for that offset */
struct chaos_final_log {
    uint64_t *ids; /* end entries, the caller's (free) */
    int64_t end;
};

/*
 * Reads [0, end_offsets[p]) of every partition through the replica in rack
 * r<replica + 1> into logs[p] (bounded in time; what was not read stays
 * CHAOS_NOT_READ). 0, or -1 when no client or no memory.
 */
int chaos_final_read(const struct chaos_run *run, int replica, const int64_t *end_offsets,
                     struct chaos_final_log *logs);

/* ---- groups.c ---------------------------------------------------------------------------- */

/* Starts the group's members and its watcher. 0, or -1 with a message on stderr. */
int chaos_groups_start(struct chaos_run *run);
/* Waits (bounded) until the group committed every end offset, then the members leave. */
void chaos_groups_stop(struct chaos_run *run, const int64_t *end_offsets);
/* Checks the group's reads against logs (one replica's) and its commits; prints the
 * report line; returns the number of violations. */
size_t chaos_groups_check(struct chaos_run *run, const struct chaos_final_log *logs,
                          const int64_t *end_offsets);
void chaos_groups_free(struct chaos_run *run);

/* ---- nemesis.c --------------------------------------------------------------------------- */

/* Waits until every broker answers /health with 200 and every partition has a
 * leader and three in-sync replicas, up to timeout_ms. true when it happened. */
bool chaos_cluster_healthy_wait(struct chaos_run *run, struct ether_client *admin, int timeout_ms);
/* Faults one at a time for options.duration_s; ends healed. 0, or -1 on a harness error. */
int chaos_nemesis_run(struct chaos_run *run, struct ether_client *admin);

/* ---- checker.c --------------------------------------------------------------------------- */

/* What the checker counted; every count but the first group must be 0. */
struct chaos_counts {
    size_t attempted;
    size_t acknowledged;
    size_t failed;
    size_t failed_by_error[CHAOS_ERROR_CODES_MAX];
    size_t failed_but_written;
    size_t reads;
    size_t consumer_errors;
    size_t final_records;
    /* violations */
    size_t unreported;
    size_t lost;
    size_t duplicated;
    size_t reordered;
    size_t invented;
    size_t divergent;
    size_t unread;
    size_t phantom;
    size_t skipped;
    size_t unfinished;
    size_t unrecovered;
    size_t stopped_producers;
    bool out_of_memory;
};

/*
 * Checks the history of `run` against the final log as read through each
 * replica (logs[r][p]; logs[0] may be completed from the others) and prints
 * the report. Touches no cluster. Returns the number of violations (0: pass),
 * the run's crashes and harness errors included.
 */
size_t chaos_check(const struct chaos_run *run,
                   struct chaos_final_log logs[CHAOS_BROKERS_COUNT][CHAOS_PARTITIONS_MAX],
                   struct chaos_counts *counts);

/* ---- self_test.c ------------------------------------------------------------------------- */

/* Shows the checker bites: a made-up clean history passes, and each kind of
 * violation planted in it is counted. 0 when so. No cluster needed. */
int chaos_self_test(void);

#endif
