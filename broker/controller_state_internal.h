/*
 * controller_state_internal.h: shared between the files of the controller
 * state machine (controller_state.c, assignment.c); not for other modules.
 */
#ifndef ETHER_BROKER_CONTROLLER_STATE_INTERNAL_H
#define ETHER_BROKER_CONTROLLER_STATE_INTERNAL_H

#include <stdint.h>

#include "broker/controller_state.h"

/*
 * Fills partitions[0, partitions_count) with replication_factor replicas each,
 * chosen among the live brokers of `state` by assignment version
 * CONTROLLER_ASSIGNMENT_VERSION (see controller_state.h). The caller has
 * checked 1 <= replication_factor <= live brokers. Pure: the same state and
 * arguments give the same assignment on every broker.
 */
void controller_assign(const struct controller_state *state, uint32_t partitions_count,
                       uint32_t replication_factor, struct controller_partition *partitions);

/* The number of registered brokers that are not fenced. */
uint32_t controller_live_brokers_count(const struct controller_state *state);

#endif
