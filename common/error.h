/*
 * error.h: Ether's error codes, one table for the whole project.
 *
 * Functions that can fail return 0 (ETHER_OK) or one of these codes. The
 * table below is the single source: it generates the enum, the symbolic name
 * (ether_error_name) and the human sentence (ether_strerror). Codes are stable
 * numbers because they also travel on the wire; add new ones at the end of
 * their group, never renumber.
 */
#ifndef ETHER_COMMON_ERROR_H
#define ETHER_COMMON_ERROR_H

/* XX(NAME, number, "human message") */
#define ETHER_ERROR_MAP(XX)                                                                   \
    XX(OK, 0, "success")                                                                      \
    /* general */                                                                             \
    XX(ERR_INVALID_ARGUMENT, 1, "invalid argument")                                           \
    XX(ERR_NO_MEMORY, 2, "out of memory")                                                     \
    XX(ERR_IO, 3, "input/output error")                                                       \
    XX(ERR_NO_SPACE, 4, "no space left on device")                                            \
    XX(ERR_CORRUPT, 5, "stored or received data is corrupt (checksum or framing mismatch)")   \
    XX(ERR_NOT_FOUND, 6, "not found")                                                         \
    XX(ERR_EXISTS, 7, "already exists")                                                       \
    XX(ERR_TRUNCATED, 8, "input ends in the middle of an item")                               \
    XX(ERR_TOO_LARGE, 9, "item is larger than the configured limit")                          \
    XX(ERR_CLOSED, 10, "handle is closed")                                                    \
    XX(ERR_BUSY, 11, "resource is busy; retry later")                                         \
    XX(ERR_TIMED_OUT, 12, "operation timed out")                                              \
    XX(ERR_UNSUPPORTED, 13, "unsupported version or feature")                                 \
    /* storage */                                                                             \
    XX(ERR_OUT_OF_RANGE, 20, "index or offset is past the end of the log")                    \
    XX(ERR_BELOW_START, 21, "index or offset is below the start of the log (removed)")        \
    XX(ERR_LOG_UNTRUSTED, 22, "a previous sync failed; the log must be reopened")             \
    XX(ERR_LOCKED, 23, "data directory is in use by another process")                         \
    /* consensus */                                                                           \
    XX(ERR_NOT_LEADER, 30, "this replica is not the leader")                                  \
    XX(ERR_TRANSFER_IN_PROGRESS, 31, "a leadership transfer is in progress")                  \
    XX(ERR_CONFIG_CHANGE_IN_PROGRESS, 32, "a membership change is already in progress")       \
    XX(ERR_STOPPED, 33, "the consensus group has stopped")                                    \
    XX(ERR_DROPPED, 34, "the request was dropped (leadership or term changed)")               \
    /* wire */                                                                                \
    XX(ERR_FRAME_TOO_LARGE, 40, "frame is larger than the allowed maximum")                   \
    /* idempotent producers */                                                                \
    XX(ERR_OUT_OF_ORDER_SEQUENCE, 50,                                                         \
       "the batch's sequence number leaves a gap after the producer's last batch")            \
    XX(ERR_PRODUCER_FENCED, 51, "a newer epoch of this producer exists; this one is fenced")  \
    XX(ERR_UNKNOWN_PRODUCER, 52,                                                              \
       "the partition does not know this producer (never seen, or expired after being idle)") \
    /* consumer groups */                                                                     \
    XX(ERR_NOT_COORDINATOR, 60, "this broker is not the coordinator of the group")            \
    XX(ERR_COORDINATOR_NOT_AVAILABLE, 61, "the group's coordinator is not available yet")     \
    XX(ERR_COORDINATOR_LOADING, 62, "the coordinator is still loading the group's offsets")   \
    XX(ERR_UNKNOWN_MEMBER_ID, 63, "the group does not know this member (removed or expired)") \
    XX(ERR_ILLEGAL_GENERATION, 64, "the group has moved to a newer generation")               \
    XX(ERR_REBALANCE_IN_PROGRESS, 65, "the group is rebalancing; join again")                 \
    XX(ERR_GROUP_NOT_EMPTY, 66, "the group still has members")                                \
    XX(ERR_INCONSISTENT_GROUP_PROTOCOL, 67,                                                   \
       "the member's assignor or rebalance mode differs from the group's")                    \
    XX(ERR_GROUP_NOT_FOUND, 68, "no such consumer group")                                     \
    /* security */                                                                            \
    XX(ERR_TLS_HANDSHAKE, 70,                                                                 \
       "the TLS handshake failed (no common protocol version or cipher, or not TLS at all)")  \
    XX(ERR_AUTHENTICATION_FAILED, 71,                                                         \
       "authentication failed (certificate missing, untrusted, expired or for another name, " \
       "or a wrong user name or password)")                                                   \
    XX(ERR_TOPIC_AUTHORIZATION_FAILED, 72, "not authorized to access the topic")              \
    XX(ERR_GROUP_AUTHORIZATION_FAILED, 73, "not authorized to access the consumer group")     \
    XX(ERR_CLUSTER_AUTHORIZATION_FAILED, 74, "not authorized for this cluster operation")

enum ether_error {
#define ETHER_ERROR_ENUM(name, number, message) ETHER_##name = number,
    ETHER_ERROR_MAP(ETHER_ERROR_ENUM)
#undef ETHER_ERROR_ENUM
};

/* "ETHER_ERR_CORRUPT"; "ETHER_ERR_UNKNOWN" for a code not in the table. */
const char *ether_error_name(int code);

/* A human sentence for the code; "unknown error" for a code not in the table. */
const char *ether_strerror(int code);

/* Maps an errno value to the closest Ether code (ENOSPC -> ETHER_ERR_NO_SPACE, ...). */
int ether_error_from_errno(int errno_value);

#endif
