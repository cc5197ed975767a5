#include "tests/sim/trace.h"

#include "common/mem.h"
#include "common/panic.h"

#include <inttypes.h>

static const char *kind_name(enum sim_trace_kind kind)
{
    switch (kind) {
#define SIM_TRACE_NAME(name, text) \
    case SIM_TRACE_##name:         \
        return text;
        SIM_TRACE_KIND_MAP(SIM_TRACE_NAME)
#undef SIM_TRACE_NAME
    }
    return "?";
}

void sim_trace_init(struct sim_trace *trace, size_t capacity, FILE *live)
{
    ETHER_ASSERT(capacity > 0);
    trace->events = ether_calloc(capacity, sizeof(*trace->events));
    trace->capacity = capacity;
    trace->next = 0;
    trace->total_count = 0;
    trace->live = live;
}

void sim_trace_free(struct sim_trace *trace)
{
    ether_free(trace->events);
    trace->events = NULL;
    trace->capacity = 0;
}

void sim_trace_add(struct sim_trace *trace, uint64_t tick, enum sim_trace_kind kind, uint32_t node,
                   uint32_t peer, const char *label, uint64_t a, uint64_t b, uint64_t c)
{
    struct sim_trace_event *event = &trace->events[trace->next];
    event->tick = tick;
    event->kind = kind;
    event->node = node;
    event->peer = peer;
    event->label = label != NULL ? label : "";
    event->a = a;
    event->b = b;
    event->c = c;
    trace->next = (trace->next + 1) % trace->capacity;
    trace->total_count++;
    if (trace->live != NULL) {
        sim_trace_print_event(event, trace->live);
    }
}

void sim_trace_print_event(const struct sim_trace_event *e, FILE *out)
{
    fprintf(out, "t=%-6" PRIu64 " %-9s ", e->tick, kind_name(e->kind));
    switch (e->kind) {
    case SIM_TRACE_SEND:
    case SIM_TRACE_DELIVER:
    case SIM_TRACE_DUPLICATE:
        fprintf(out, "%-22s %u->%u term=%" PRIu64 " index=%" PRIu64, e->label, e->node, e->peer,
                e->a, e->b);
        if (e->c == SIM_TRACE_REJECTED) {
            fprintf(out, " REJECT");
        } else if (e->c > 0) {
            fprintf(out, " n=%" PRIu64, e->c);
        }
        break;
    case SIM_TRACE_DROP:
        fprintf(out, "%u->%u term=%" PRIu64 " index=%" PRIu64 " (%s)", e->node, e->peer, e->a, e->b,
                e->label);
        break;
    case SIM_TRACE_ROLE:
        fprintf(out, "node %u is %s in term %" PRIu64, e->node, e->label, e->a);
        break;
    case SIM_TRACE_CRASH:
        fprintf(out, "node %u crashes (%s), durable log ends at %" PRIu64, e->node, e->label, e->a);
        break;
    case SIM_TRACE_RESTART:
        fprintf(out, "node %u restarts: term=%" PRIu64 " last=%" PRIu64 " snapshot=%" PRIu64,
                e->node, e->a, e->b, e->c);
        break;
    case SIM_TRACE_PARTITION:
        fprintf(out, "%u -/-> %u (%s)", e->node, e->peer, e->label);
        break;
    case SIM_TRACE_HEAL:
        fprintf(out, "all links restored");
        break;
    case SIM_TRACE_PROPOSE:
        if (e->a != 0) {
            fprintf(out, "node %u accepts proposal at index %" PRIu64, e->node, e->a);
        } else {
            fprintf(out, "node %u refuses proposal (%s)", e->node, e->label);
        }
        break;
    case SIM_TRACE_COMMIT:
        fprintf(out, "node %u commit=%" PRIu64 " term=%" PRIu64, e->node, e->a, e->b);
        break;
    case SIM_TRACE_APPLY:
        fprintf(out, "node %u applies index=%" PRIu64 " term=%" PRIu64 " %s", e->node, e->a, e->b,
                e->label);
        break;
    case SIM_TRACE_PERSIST:
        fprintf(out, "node %u %s entries [%" PRIu64 ", +%" PRIu64 ") term=%" PRIu64, e->node,
                e->label, e->a, e->b, e->c);
        break;
    case SIM_TRACE_SNAPSHOT:
        fprintf(out, "node %u %s snapshot index=%" PRIu64 " term=%" PRIu64, e->node, e->label, e->a,
                e->b);
        break;
    case SIM_TRACE_CONFIG:
        fprintf(out, "node %u: %s node %u -> %s", e->node, e->label, e->peer,
                e->a == 0 ? "ok" : "refused");
        break;
    case SIM_TRACE_TRANSFER:
        fprintf(out, "node %u transfers leadership to %u -> %s", e->node, e->peer,
                e->a == 0 ? "ok" : "refused");
        break;
    case SIM_TRACE_DISK:
        fprintf(out, "node %u disk: %s", e->node, e->label);
        break;
    case SIM_TRACE_PHASE:
        fprintf(out, "%s", e->label);
        break;
    case SIM_TRACE_VIOLATION:
        fprintf(out, "node %u: %s", e->node, e->label);
        break;
    }
    fputc('\n', out);
}

void sim_trace_print(const struct sim_trace *trace, FILE *out)
{
    size_t count =
        trace->total_count < trace->capacity ? (size_t)trace->total_count : trace->capacity;
    size_t start = (trace->next + trace->capacity - count) % trace->capacity;
    if (trace->total_count > count) {
        fprintf(out, "... %" PRIu64 " earlier events not shown ...\n", trace->total_count - count);
    }
    for (size_t i = 0; i < count; i++) {
        sim_trace_print_event(&trace->events[(start + i) % trace->capacity], out);
    }
}
