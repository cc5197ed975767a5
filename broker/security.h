/*
 * security.h: who is on the other end of a connection, and whether it may do what it asks.
 *
 * Authentication. Each connection gets a session (held by the server as the connection's
 * context) the first time it sends a request. Its principal is:
 *   - the common name of the verified client certificate, mapped by the broker's
 *     tls-principal-rule (broker/principal_rule.h), when that gives one;
 *   - else the user a SCRAM-SHA-256 login (AUTHENTICATE) proved;
 *   - else none: the connection is anonymous.
 * A certificate whose common name is "broker-<id>" (before mapping), for a seed or a
 * registered broker, belongs to a cluster member: brokers are signed by the cluster's CA,
 * so a member may do anything (its Raft traffic is checked separately, against the
 * sender's id, in broker.c). A SCRAM user's name never makes a member.
 * With tls-client-auth=requested a connection must authenticate (certificate or SCRAM)
 * before any other request: the first other request gets AUTHENTICATION_FAILED and the
 * connection closes. A failed login answers AUTHENTICATION_FAILED ("wrong user name or
 * password", never which) and closes the connection. A login on a connection that already
 * has a principal answers INVALID_ARGUMENT and closes it; SCRAM on a plaintext connection,
 * UNSUPPORTED (it would leave the session unprotected). A user who does not exist gets
 * the made-up credential every broker derives from the controller state's secret
 * (common/scram.h), so brokers cannot be compared to learn which users exist.
 *
 * Authorization (with the broker option authorization=true, which needs TLS).
 * broker_security_admit runs before every request is dispatched and checks the request
 * against the ACLs of the controller state (broker/acl.h) and the super-users option:
 *     PRODUCE                   WRITE on the topic
 *     FETCH, DESCRIBE_PRODUCERS READ on the topic
 *     LIST_OFFSETS              DESCRIBE on the topic
 *     CREATE_TOPIC              CREATE on the topic, or CREATE on the cluster
 *     DELETE_TOPIC / ALTER_TOPIC_CONFIG  DELETE / ALTER on the topic
 *     INIT_PRODUCER_ID          WRITE on at least one topic
 *     TRANSFER_LEADER           ALTER on the cluster
 *     FIND_COORDINATOR, DESCRIBE_GROUP  DESCRIBE on the group
 *     OFFSET_FETCH              DESCRIBE on the group and on every topic named; asked for
 *                               every offset, the answer leaves out topics it may not
 *                               DESCRIBE (DESCRIBE_GROUP's offsets likewise)
 *     JOIN_GROUP                READ on the group and DESCRIBE on every subscribed topic
 *                               (the assignment tells of their partitions)
 *     SYNC/HEARTBEAT/LEAVE      READ on the group
 *     OFFSET_COMMIT             READ on the group and on every topic committed
 *     DELETE_GROUP              DELETE on the group
 *     LIST_GROUPS               always answered: every group with DESCRIBE on the cluster,
 *                               else the groups it may DESCRIBE
 *     user and ACL changes      ALTER on the cluster; listing them: DESCRIBE on the cluster
 *     METADATA                  always answered; topics the principal may not DESCRIBE are
 *                               left out of a listing, and a named one gets
 *                               TOPIC_AUTHORIZATION_FAILED (broker_security_may)
 *     AUTHENTICATE              always
 *     an api not listed here    ALTER on the cluster (super users), until it gets its row
 * A denied request is answered with an ErrorResponse carrying TOPIC_, GROUP_ or
 * CLUSTER_AUTHORIZATION_FAILED and a sentence naming only what the client itself sent
 * (a produce with acks=0 gets no answer, as always), gets one WARN line (principal,
 * operation, resource, api, peer) and counts in ether_authorization_denials_total{resource}.
 *
 * Owns: the parsed principal rule and super-user list (broker_security_open/close), each
 * connection's session (freed with the connection).
 */
#ifndef ETHER_BROKER_SECURITY_H
#define ETHER_BROKER_SECURITY_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/acl.h"
#include "proto/proto.h"

struct broker;

/* Parses tls-principal-rule and super-users. ETHER_ERR_INVALID_ARGUMENT with a sentence. */
int broker_security_open(struct broker *broker, char *errbuf, size_t errbuf_size);
void broker_security_close(struct broker *broker);

/*
 * Decides whether the request may be dispatched. True: go on. False: it was answered (or the
 * connection closed) and freed here.
 */
bool broker_security_admit(struct broker *broker, uint64_t connection_id,
                           const struct proto_frame_header *header, ProtobufCMessage *request);

/* Whether the connection's principal may `operation` the resource (true with authorization
 * off). For handlers that filter what they show rather than refuse; logs nothing. */
bool broker_security_may(struct broker *broker, uint64_t connection_id,
                         enum acl_resource_type resource_type, const char *resource_name,
                         enum acl_operation operation);

/* Counts `count` denials of one request that the caller answers itself (named topics of a
 * METADATA request) and logs one line for them, naming the first. */
void broker_security_note_denials(struct broker *broker, uint64_t connection_id, uint16_t api_key,
                                  enum acl_resource_type resource_type, const char *first_name,
                                  size_t count, enum acl_operation operation);

/* Handles AUTHENTICATE (the request is freed). */
void broker_security_handle_authenticate(struct broker *broker, uint64_t connection_id,
                                         const struct proto_frame_header *header,
                                         ProtobufCMessage *request);

#endif
