/*
 * trace.h: what happened in a run, kept as a ring of the last events.
 *
 * Events are stored as small structs and formatted only when printed, so a
 * sweep of thousands of seeds pays a few stores per event. With `live` set
 * (raftsim --trace) every event is also printed as it happens. When a check
 * fails, the last `capacity` events are printed to explain the violation.
 */
#ifndef ETHER_SIM_TRACE_H
#define ETHER_SIM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_TRACE_KIND_MAP(XX)                                            \
    XX(SEND, "send")           /* a=term b=index c=aux */                 \
    XX(DELIVER, "deliver")     /* a=term b=index c=aux */                 \
    XX(DROP, "drop")           /* a=term b=index, label=reason */         \
    XX(DUPLICATE, "duplicate") /* a=term b=index */                       \
    XX(ROLE, "role")           /* a=term, label=new role */               \
    XX(CRASH, "crash")         /* a=durable last index, label=how */      \
    XX(RESTART, "restart")     /* a=term b=last index c=snapshot index */ \
    XX(PARTITION, "partition") /* node->peer blocked, label=kind */       \
    XX(HEAL, "heal")           /* all links restored */                   \
    XX(PROPOSE, "propose")     /* a=index (0: refused) b=error */         \
    XX(COMMIT, "commit")       /* a=commit index b=term */                \
    XX(APPLY, "apply")         /* a=index b=term */                       \
    XX(PERSIST, "persist")     /* a=first index b=count c=term */         \
    XX(SNAPSHOT, "snapshot")   /* a=index b=term, label=what */           \
    XX(CONFIG, "config")       /* peer=subject, label=change, a=result */ \
    XX(TRANSFER, "transfer")   /* peer=target, a=result */                \
    XX(DISK, "disk")           /* label=what changed */                   \
    XX(PHASE, "phase")         /* label=phase name */                     \
    XX(VIOLATION, "VIOLATION") /* label=check name */

enum sim_trace_kind {
#define SIM_TRACE_ENUM(name, text) SIM_TRACE_##name,
    SIM_TRACE_KIND_MAP(SIM_TRACE_ENUM)
#undef SIM_TRACE_ENUM
};

enum { SIM_TRACE_NO_NODE = 0 };

/* `c` of a SEND/DELIVER/DUPLICATE event for a response that rejects. */
#define SIM_TRACE_REJECTED UINT64_MAX

struct sim_trace_event {
    uint64_t tick;
    uint64_t a;
    uint64_t b;
    uint64_t c;
    const char *label; /* static storage: a string literal or a name table */
    enum sim_trace_kind kind;
    uint32_t node; /* raft id; SIM_TRACE_NO_NODE for cluster-wide events */
    uint32_t peer;
};

struct sim_trace {
    struct sim_trace_event *events; /* ring of `capacity` */
    size_t capacity;
    size_t next; /* where the next event goes */
    uint64_t total_count;
    FILE *live; /* print each event as it happens when not NULL */
};

void sim_trace_init(struct sim_trace *trace, size_t capacity, FILE *live);
void sim_trace_free(struct sim_trace *trace);

void sim_trace_add(struct sim_trace *trace, uint64_t tick, enum sim_trace_kind kind, uint32_t node,
                   uint32_t peer, const char *label, uint64_t a, uint64_t b, uint64_t c);

/* Prints the retained events, oldest first. */
void sim_trace_print(const struct sim_trace *trace, FILE *out);

void sim_trace_print_event(const struct sim_trace_event *event, FILE *out);

#endif
