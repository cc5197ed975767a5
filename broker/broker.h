/*
 * broker.h: etherd, the Ether broker, as a library: create it on a libuv
 * loop from a configuration, run the loop, shut it down.
 *
 * etherd is made of: server.h (client and peer connections), transport.h
 * (Raft traffic to peers), replica.h (one Raft group on disk), raft_log.h
 * (a group's log in storage/), controller_state.h (the metadata state
 * machine of Raft group 0), and the partition and controller managers in
 * broker_internal.h. Those headers are internal to etherd; this one is what
 * etherd_main.c and the integration tests use.
 *
 * Owns: everything the broker opens: sockets, replicas, files under
 * config->data_dir. Threads: the loop thread, plus libuv's pool for disk work.
 */
#ifndef ETHER_BROKER_BROKER_H
#define ETHER_BROKER_BROKER_H

#include <stddef.h>
#include <uv.h>

#include "broker/config.h"
#include "common/log.h"

struct broker;

/*
 * Opens the data directory, starts listening and joins the cluster described
 * by config->seeds. `config` and `logger` must outlive the broker. Returns 0
 * or an error with a sentence in errbuf.
 */
int broker_start(uv_loop_t *loop, const struct broker_config *config,
                 const struct ether_logger *logger, struct broker **broker_out, char *errbuf,
                 size_t errbuf_size);

/*
 * Called (once) when the broker cannot go on, e.g. it could not join the
 * cluster after deciding its identity; the owner then shuts it down and exits
 * with a failure status. Without it the broker shuts itself down.
 */
void broker_set_on_fatal(struct broker *broker, void (*on_fatal)(void *context), void *context);

/*
 * Reads the TLS certificate, key and CA files again (SIGHUP) into new configs for the
 * client port and for connections to other brokers: connections made from now on use
 * them, open ones keep theirs. Returns 0; or an error with a sentence naming the file in
 * errbuf, and the current configs stay (also when TLS is off or the broker is stopping).
 */
int broker_reload_tls(struct broker *broker, char *errbuf, size_t errbuf_size);

/*
 * Graceful stop: moves leaderships away (bounded by a short timeout), stops
 * accepting requests, waits for disk work, closes everything. `on_stopped`
 * runs once the broker is freed; the loop then has no more broker handles.
 */
void broker_shutdown(struct broker *broker, void (*on_stopped)(void *context), void *context);

#endif
