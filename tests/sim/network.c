#include "tests/sim/network.h"

#include "common/mem.h"
#include "common/panic.h"

#include <string.h>

static bool packet_before(const struct sim_packet *a, const struct sim_packet *b)
{
    if (a->deliver_tick != b->deliver_tick) {
        return a->deliver_tick < b->deliver_tick;
    }
    return a->sequence < b->sequence;
}

static void swap_packets(struct sim_packet *a, struct sim_packet *b)
{
    struct sim_packet tmp = *a;
    *a = *b;
    *b = tmp;
}

static void heap_push(struct sim_network *network, const struct sim_packet *packet)
{
    ETHER_ASSERT(network->count < network->config.in_flight_max);
    size_t i = network->count++;
    network->heap[i] = *packet;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!packet_before(&network->heap[i], &network->heap[parent])) {
            break;
        }
        swap_packets(&network->heap[i], &network->heap[parent]);
        i = parent;
    }
}

static void heap_pop(struct sim_network *network, struct sim_packet *packet)
{
    ETHER_ASSERT(network->count > 0);
    *packet = network->heap[0];
    network->count--;
    network->heap[0] = network->heap[network->count];
    size_t i = 0;
    for (;;) {
        size_t smallest = i;
        size_t left = 2 * i + 1;
        size_t right = left + 1;
        if (left < network->count &&
            packet_before(&network->heap[left], &network->heap[smallest])) {
            smallest = left;
        }
        if (right < network->count &&
            packet_before(&network->heap[right], &network->heap[smallest])) {
            smallest = right;
        }
        if (smallest == i) {
            break;
        }
        swap_packets(&network->heap[i], &network->heap[smallest]);
        i = smallest;
    }
}

void sim_network_init(struct sim_network *network, const struct sim_network_config *config)
{
    ETHER_ASSERT(config->delay_ticks_min <= config->delay_ticks_max);
    ETHER_ASSERT(config->in_flight_max > 0);
    memset(network, 0, sizeof(*network));
    network->config = *config;
    network->heap = ether_calloc(config->in_flight_max, sizeof(*network->heap));
}

void sim_network_free(struct sim_network *network)
{
    ETHER_ASSERT(network->count == 0);
    ether_free(network->heap);
    network->heap = NULL;
}

static uint64_t pick_delay(struct sim_network *network, struct sim_prng *prng)
{
    const struct sim_network_config *config = &network->config;
    uint64_t delay = sim_prng_range(prng, config->delay_ticks_min, config->delay_ticks_max);
    if (sim_prng_chance(prng, config->delay_spike_per_million)) {
        delay += sim_prng_range(prng, 0, 10 * (uint64_t)config->delay_ticks_max);
    }
    return delay;
}

unsigned sim_network_send(struct sim_network *network, struct sim_prng *prng, uint64_t now,
                          uint32_t from_slot, uint32_t to_slot, void *payload,
                          sim_payload_clone_fn *clone, void *clone_context)
{
    ETHER_ASSERT(from_slot < SIM_NODES_MAX);
    ETHER_ASSERT(to_slot < SIM_NODES_MAX);
    network->sent_count++;
    if (sim_prng_chance(prng, network->config.loss_per_million) ||
        network->count >= network->config.in_flight_max) {
        network->lost_count++;
        return 0;
    }
    struct sim_packet packet = {
        .deliver_tick = now + pick_delay(network, prng),
        .sequence = network->next_sequence++,
        .from_slot = from_slot,
        .to_slot = to_slot,
        .payload = payload,
    };
    heap_push(network, &packet);
    if (network->count < network->config.in_flight_max &&
        sim_prng_chance(prng, network->config.duplicate_per_million)) {
        packet.deliver_tick = now + pick_delay(network, prng);
        packet.sequence = network->next_sequence++;
        packet.payload = clone(clone_context, payload);
        heap_push(network, &packet);
        network->duplicated_count++;
        return 2;
    }
    return 1;
}

bool sim_network_pop_due(struct sim_network *network, uint64_t now, struct sim_packet *packet)
{
    if (network->count == 0 || network->heap[0].deliver_tick > now) {
        return false;
    }
    heap_pop(network, packet);
    return true;
}

bool sim_network_pop_any(struct sim_network *network, struct sim_packet *packet)
{
    if (network->count == 0) {
        return false;
    }
    heap_pop(network, packet);
    return true;
}

bool sim_network_is_blocked(const struct sim_network *network, uint32_t from_slot, uint32_t to_slot)
{
    ETHER_ASSERT(from_slot < SIM_NODES_MAX);
    ETHER_ASSERT(to_slot < SIM_NODES_MAX);
    return network->blocked[from_slot][to_slot];
}

void sim_network_block(struct sim_network *network, uint32_t from_slot, uint32_t to_slot)
{
    ETHER_ASSERT(from_slot < SIM_NODES_MAX);
    ETHER_ASSERT(to_slot < SIM_NODES_MAX);
    network->blocked[from_slot][to_slot] = true;
}

void sim_network_heal(struct sim_network *network)
{
    memset(network->blocked, 0, sizeof(network->blocked));
}
