/*
 * producer_table.c: the idempotent-producer table of a partition (see
 * producer_table.h for the semantics and the snapshot layout).
 *
 * Storage. One heap entry per producer id, found through an open-addressing
 * hash table (linear probing, deletion by backward shift, load at most 3/4).
 * An entry has committed state (replicated: epoch, the last batches, last
 * timestamp) and/or in-flight records (the leader's); an entry with neither is
 * freed. Committed entries are also on a doubly linked expiry list ordered by
 * last_timestamp_ms: every apply stamps its producer with the current log
 * time, the largest so far, and moves it to the newest end, so expiring is
 * popping from the oldest end. Hash order never reaches the output: encode and
 * describe sort by producer id.
 *
 * Failure modes: none at run time besides invalid batch fields (a named error
 * from check, ignored by apply); snapshot bytes are validated field by field
 * and a bad one leaves the table untouched.
 */
#include "broker/producer_table.h"

#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

enum {
    SLOTS_MIN = 16,
    SEQUENCE_MODULUS_LOG2 = 31, /* sequences live in [0, 2^31) */
    BATCH_SLOT_BYTES = 16,
    RECORD_BATCHES_OFFSET = 20,
};

_Static_assert(PRODUCER_TABLE_RECORD_BYTES ==
                   RECORD_BATCHES_OFFSET + PRODUCER_TABLE_BATCHES_MAX * BATCH_SLOT_BYTES,
               "the producer record is its fixed fields and the batch slots");
_Static_assert(PRODUCER_TABLE_BATCHES_MAX <= UINT8_MAX, "batches_count is one byte");
_Static_assert((uint64_t)PROTO_BATCH_RECORDS_MAX < ((uint64_t)1 << SEQUENCE_MODULUS_LOG2),
               "a batch covers less than the whole sequence space");

struct committed_batch {
    int32_t first_sequence;
    int32_t last_sequence;
    uint64_t base_offset;
};

struct in_flight_batch {
    int16_t epoch;
    int32_t first_sequence;
    int32_t last_sequence;
    uint64_t raft_index;
};

struct producer_entry {
    int64_t producer_id;
    /* Committed state, meaningful when `committed`. */
    bool committed;
    int16_t epoch;
    uint8_t batches_count;
    struct committed_batch batches[PRODUCER_TABLE_BATCHES_MAX]; /* oldest first */
    int64_t last_timestamp_ms;
    struct producer_entry *older; /* expiry list */
    struct producer_entry *newer;
    /* The leader's proposed batches, in raft index order. */
    uint8_t in_flight_count;
    struct in_flight_batch in_flight[PRODUCER_TABLE_IN_FLIGHT_MAX];
};

/* ---- sequences ------------------------------------------------------------------------ */

static int32_t sequence_add(int32_t sequence, uint64_t increment)
{
    ETHER_ASSERT(sequence >= 0);
    uint64_t mask = ((uint64_t)1 << SEQUENCE_MODULUS_LOG2) - 1;
    return (int32_t)(((uint64_t)sequence + increment) & mask);
}

/* Records from first to last inclusive, across the wrap. */
static uint64_t sequence_span(int32_t first, int32_t last)
{
    ETHER_ASSERT(first >= 0);
    ETHER_ASSERT(last >= 0);
    uint64_t modulus = (uint64_t)1 << SEQUENCE_MODULUS_LOG2;
    return (((uint64_t)last + modulus - (uint64_t)first) & (modulus - 1)) + 1;
}

enum batch_kind { BATCH_NOT_IDEMPOTENT, BATCH_INVALID, BATCH_IDEMPOTENT };

static enum batch_kind batch_classify(const struct producer_batch_info *batch)
{
    if (batch->producer_id == -1) {
        return BATCH_NOT_IDEMPOTENT;
    }
    if (batch->producer_id < 0 || batch->producer_epoch < 0 || batch->base_sequence < 0 ||
        batch->record_count == 0 || batch->record_count > PROTO_BATCH_RECORDS_MAX) {
        return BATCH_INVALID;
    }
    return BATCH_IDEMPOTENT;
}

static int32_t batch_last_sequence(const struct producer_batch_info *batch)
{
    ETHER_ASSERT(batch->record_count >= 1);
    return sequence_add(batch->base_sequence, batch->record_count - 1);
}

/* ---- entries and the hash table ------------------------------------------------------- */

static size_t slot_home(const struct producer_table *table, int64_t producer_id)
{
    /* splitmix64's finaliser: ids handed out in blocks are consecutive. */
    uint64_t z = (uint64_t)producer_id;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (size_t)(z & (table->slots_count - 1));
}

/* The slot holding `producer_id`, or the empty slot that ends its probe. */
static size_t slot_find(const struct producer_table *table, int64_t producer_id)
{
    ETHER_ASSERT(table->slots_count > 0);
    ETHER_ASSERT(table->entries_count < table->slots_count);
    size_t mask = table->slots_count - 1;
    size_t at = slot_home(table, producer_id);
    while (table->slots[at] != NULL && table->slots[at]->producer_id != producer_id) {
        at = (at + 1) & mask;
    }
    return at;
}

static struct producer_entry *entry_find(const struct producer_table *table, int64_t producer_id)
{
    if (table->slots_count == 0) {
        return NULL;
    }
    return table->slots[slot_find(table, producer_id)];
}

static void slots_resize(struct producer_table *table, size_t slots_count)
{
    ETHER_ASSERT(slots_count >= SLOTS_MIN);
    ETHER_ASSERT((slots_count & (slots_count - 1)) == 0);
    ETHER_ASSERT(table->entries_count * 4 <= slots_count * 3);
    struct producer_entry **old_slots = table->slots;
    size_t old_count = table->slots_count;
    table->slots = ether_calloc(slots_count, sizeof *table->slots);
    table->slots_count = slots_count;
    for (size_t i = 0; i < old_count; i++) {
        if (old_slots[i] != NULL) {
            size_t at = slot_find(table, old_slots[i]->producer_id);
            ETHER_ASSERT(table->slots[at] == NULL);
            table->slots[at] = old_slots[i];
        }
    }
    ether_free(old_slots);
}

/* A new entry for `producer_id` (not in the table), with neither committed nor in-flight state. */
static struct producer_entry *entry_insert(struct producer_table *table, int64_t producer_id)
{
    ETHER_ASSERT(producer_id >= 0);
    ETHER_ASSERT(entry_find(table, producer_id) == NULL);
    if ((table->entries_count + 1) * 4 > table->slots_count * 3) {
        slots_resize(table, table->slots_count == 0 ? SLOTS_MIN : table->slots_count * 2);
    }
    struct producer_entry *entry = ether_calloc(1, sizeof *entry);
    entry->producer_id = producer_id;
    size_t at = slot_find(table, producer_id);
    table->slots[at] = entry;
    table->entries_count++;
    return entry;
}

/* True when `at` lies cyclically in (from, to]. */
static bool cyclic_between(size_t from, size_t at, size_t to)
{
    if (from <= to) {
        return from < at && at <= to;
    }
    return from < at || at <= to;
}

/* Removes and frees an entry that holds no committed and no in-flight state. */
static void entry_remove(struct producer_table *table, struct producer_entry *entry)
{
    ETHER_ASSERT(!entry->committed);
    ETHER_ASSERT(entry->in_flight_count == 0);
    size_t mask = table->slots_count - 1;
    size_t hole = slot_find(table, entry->producer_id);
    ETHER_ASSERT(table->slots[hole] == entry);
    table->slots[hole] = NULL;
    /* Backward shift: pull later members of the probe run into the hole. */
    for (size_t next = (hole + 1) & mask; table->slots[next] != NULL; next = (next + 1) & mask) {
        size_t home = slot_home(table, table->slots[next]->producer_id);
        if (cyclic_between(hole, home, next)) {
            continue; /* its probe starts after the hole: it stays */
        }
        table->slots[hole] = table->slots[next];
        table->slots[next] = NULL;
        hole = next;
    }
    table->entries_count--;
    ether_free(entry);
    if (table->slots_count > SLOTS_MIN && table->entries_count * 8 < table->slots_count) {
        slots_resize(table, table->slots_count / 2);
    }
}

/* ---- the expiry list ------------------------------------------------------------------ */

static void list_unlink(struct producer_table *table, struct producer_entry *entry)
{
    if (entry->older != NULL) {
        entry->older->newer = entry->newer;
    } else {
        ETHER_ASSERT(table->oldest == entry);
        table->oldest = entry->newer;
    }
    if (entry->newer != NULL) {
        entry->newer->older = entry->older;
    } else {
        ETHER_ASSERT(table->newest == entry);
        table->newest = entry->older;
    }
    entry->older = NULL;
    entry->newer = NULL;
}

static void list_append_newest(struct producer_table *table, struct producer_entry *entry)
{
    ETHER_ASSERT(entry->older == NULL);
    ETHER_ASSERT(entry->newer == NULL);
    ETHER_ASSERT(table->newest == NULL ||
                 table->newest->last_timestamp_ms <= entry->last_timestamp_ms);
    entry->older = table->newest;
    if (table->newest != NULL) {
        table->newest->newer = entry;
    } else {
        table->oldest = entry;
    }
    table->newest = entry;
}

/* Drops the committed state of `entry`; frees it when nothing is left. */
static void entry_uncommit(struct producer_table *table, struct producer_entry *entry)
{
    ETHER_ASSERT(entry->committed);
    ETHER_ASSERT(table->committed_count > 0);
    list_unlink(table, entry);
    entry->committed = false;
    entry->batches_count = 0;
    table->committed_count--;
    if (entry->in_flight_count == 0) {
        entry_remove(table, entry);
    }
}

static bool expired(const struct producer_table *table, const struct producer_entry *entry)
{
    ETHER_ASSERT(entry->last_timestamp_ms <= table->log_time_ms);
    /* The difference of two int64 with a >= b always fits a uint64. */
    uint64_t idle_ms = (uint64_t)table->log_time_ms - (uint64_t)entry->last_timestamp_ms;
    return idle_ms > table->expiry_ms;
}

static void expire_idle(struct producer_table *table)
{
    while (table->oldest != NULL && expired(table, table->oldest)) {
        entry_uncommit(table, table->oldest);
    }
}

/* ---- lifecycle ------------------------------------------------------------------------ */

void producer_table_init(struct producer_table *table, uint64_t expiry_ms)
{
    memset(table, 0, sizeof *table);
    table->expiry_ms = expiry_ms;
    table->log_time_ms = INT64_MIN;
}

void producer_table_free(struct producer_table *table)
{
    for (size_t i = 0; i < table->slots_count; i++) {
        ether_free(table->slots[i]);
    }
    ether_free(table->slots);
    producer_table_init(table, table->expiry_ms);
}

/* ---- check and in-flight -------------------------------------------------------------- */

static void result_duplicate_committed(struct producer_check_result *out, uint64_t base_offset)
{
    out->verdict = PRODUCER_CHECK_DUPLICATE;
    out->in_flight = false;
    out->base_offset = base_offset;
}

int producer_table_check(const struct producer_table *table,
                         const struct producer_batch_info *batch, struct producer_check_result *out)
{
    memset(out, 0, sizeof *out);
    switch (batch_classify(batch)) {
    case BATCH_NOT_IDEMPOTENT:
        out->verdict = PRODUCER_CHECK_ACCEPT;
        return ETHER_OK;
    case BATCH_INVALID:
        return ETHER_ERR_INVALID_ARGUMENT;
    case BATCH_IDEMPOTENT:
        break;
    }
    int32_t first = batch->base_sequence;
    int32_t last = batch_last_sequence(batch);
    const struct producer_entry *entry = entry_find(table, batch->producer_id);
    if (entry == NULL) {
        if (first != 0) {
            return ETHER_ERR_UNKNOWN_PRODUCER;
        }
        out->verdict = PRODUCER_CHECK_ACCEPT;
        return ETHER_OK;
    }
    ETHER_ASSERT(entry->committed || entry->in_flight_count > 0);
    ETHER_ASSERT(!entry->committed || entry->batches_count >= 1);

    /* What the producer has sent last: its newest in-flight batch, else its newest committed. */
    int16_t known_epoch;
    int32_t known_last_sequence;
    if (entry->in_flight_count > 0) {
        const struct in_flight_batch *newest = &entry->in_flight[entry->in_flight_count - 1];
        known_epoch = newest->epoch;
        known_last_sequence = newest->last_sequence;
    } else {
        known_epoch = entry->epoch;
        known_last_sequence = entry->batches[entry->batches_count - 1].last_sequence;
    }
    if (batch->producer_epoch < known_epoch) {
        return ETHER_ERR_PRODUCER_FENCED;
    }

    for (uint8_t i = 0; i < entry->in_flight_count; i++) {
        const struct in_flight_batch *record = &entry->in_flight[i];
        if (record->epoch == batch->producer_epoch && record->first_sequence == first &&
            record->last_sequence == last) {
            out->verdict = PRODUCER_CHECK_DUPLICATE;
            out->in_flight = true;
            out->raft_index = record->raft_index;
            return ETHER_OK;
        }
    }
    if (entry->committed && entry->epoch == batch->producer_epoch) {
        for (uint8_t i = 0; i < entry->batches_count; i++) {
            const struct committed_batch *record = &entry->batches[i];
            if (record->first_sequence == first && record->last_sequence == last) {
                result_duplicate_committed(out, record->base_offset);
                return ETHER_OK;
            }
        }
    }

    int32_t expected =
        batch->producer_epoch > known_epoch ? 0 : sequence_add(known_last_sequence, 1);
    if (first != expected) {
        return ETHER_ERR_OUT_OF_ORDER_SEQUENCE;
    }
    if (entry->in_flight_count == PRODUCER_TABLE_IN_FLIGHT_MAX) {
        return ETHER_ERR_BUSY;
    }
    out->verdict = PRODUCER_CHECK_ACCEPT;
    return ETHER_OK;
}

void producer_table_note_in_flight(struct producer_table *table,
                                   const struct producer_batch_info *batch, uint64_t raft_index)
{
    enum batch_kind kind = batch_classify(batch);
    ETHER_ASSERT(kind != BATCH_INVALID);
    if (kind == BATCH_NOT_IDEMPOTENT) {
        return;
    }
    struct producer_check_result check;
    int rc = producer_table_check(table, batch, &check);
    ETHER_ASSERT(rc == ETHER_OK);
    ETHER_ASSERT(check.verdict == PRODUCER_CHECK_ACCEPT);

    struct producer_entry *entry = entry_find(table, batch->producer_id);
    if (entry == NULL) {
        entry = entry_insert(table, batch->producer_id);
    }
    ETHER_ASSERT(entry->in_flight_count < PRODUCER_TABLE_IN_FLIGHT_MAX);
    ETHER_ASSERT(entry->in_flight_count == 0 ||
                 entry->in_flight[entry->in_flight_count - 1].raft_index < raft_index);
    entry->in_flight[entry->in_flight_count++] = (struct in_flight_batch){
        .epoch = batch->producer_epoch,
        .first_sequence = batch->base_sequence,
        .last_sequence = batch_last_sequence(batch),
        .raft_index = raft_index,
    };
}

void producer_table_forget_in_flight(struct producer_table *table)
{
    if (table->entries_count == table->committed_count) {
        /* No entry lives only for its in-flight records; clear them in place. */
        for (size_t i = 0; i < table->slots_count; i++) {
            if (table->slots[i] != NULL) {
                table->slots[i]->in_flight_count = 0;
            }
        }
        return;
    }
    /* Rebuild the slots with the committed entries only. */
    struct producer_entry **old_slots = table->slots;
    size_t old_count = table->slots_count;
    table->slots = ether_calloc(old_count, sizeof *table->slots);
    table->entries_count = 0;
    for (size_t i = 0; i < old_count; i++) {
        struct producer_entry *entry = old_slots[i];
        if (entry == NULL) {
            continue;
        }
        entry->in_flight_count = 0;
        if (!entry->committed) {
            ether_free(entry);
            continue;
        }
        size_t at = slot_find(table, entry->producer_id);
        table->slots[at] = entry;
        table->entries_count++;
    }
    ether_free(old_slots);
    ETHER_ASSERT(table->entries_count == table->committed_count);
}

/* ---- apply ---------------------------------------------------------------------------- */

/* Drops the in-flight record of the committed batch and those proposed before it. */
static void in_flight_drop_through(struct producer_entry *entry,
                                   const struct producer_batch_info *batch, int32_t last)
{
    for (uint8_t i = 0; i < entry->in_flight_count; i++) {
        const struct in_flight_batch *record = &entry->in_flight[i];
        if (record->epoch == batch->producer_epoch &&
            record->first_sequence == batch->base_sequence && record->last_sequence == last) {
            uint8_t dropped = (uint8_t)(i + 1);
            memmove(&entry->in_flight[0], &entry->in_flight[dropped],
                    (size_t)(entry->in_flight_count - dropped) * sizeof entry->in_flight[0]);
            entry->in_flight_count = (uint8_t)(entry->in_flight_count - dropped);
            return;
        }
    }
}

static void apply_idempotent(struct producer_table *table, const struct producer_batch_info *batch,
                             uint64_t base_offset)
{
    int32_t last = batch_last_sequence(batch);
    ETHER_ASSERT(base_offset <= UINT64_MAX - (batch->record_count - 1));
    struct producer_entry *entry = entry_find(table, batch->producer_id);
    if (entry != NULL && entry->committed && batch->producer_epoch < entry->epoch) {
        return; /* a fenced epoch's batch made it into the log: it changes nothing */
    }
    if (entry == NULL) {
        entry = entry_insert(table, batch->producer_id);
    }
    in_flight_drop_through(entry, batch, last);

    if (!entry->committed) {
        entry->committed = true;
        entry->epoch = batch->producer_epoch;
        entry->batches_count = 0;
        table->committed_count++;
    } else {
        list_unlink(table, entry);
        const struct committed_batch *newest = &entry->batches[entry->batches_count - 1];
        uint64_t newest_last_offset =
            newest->base_offset +
            (sequence_span(newest->first_sequence, newest->last_sequence) - 1);
        ETHER_ASSERT(base_offset > newest_last_offset); /* the caller applies in log order */
        if (batch->producer_epoch > entry->epoch) {
            entry->epoch = batch->producer_epoch;
            entry->batches_count = 0;
        }
    }
    if (entry->batches_count == PRODUCER_TABLE_BATCHES_MAX) {
        memmove(&entry->batches[0], &entry->batches[1],
                (PRODUCER_TABLE_BATCHES_MAX - 1) * sizeof entry->batches[0]);
        entry->batches_count--;
    }
    entry->batches[entry->batches_count++] = (struct committed_batch){
        .first_sequence = batch->base_sequence,
        .last_sequence = last,
        .base_offset = base_offset,
    };
    entry->last_timestamp_ms = table->log_time_ms;
    list_append_newest(table, entry);
    ETHER_ASSERT(entry->batches_count <= PRODUCER_TABLE_BATCHES_MAX);
}

void producer_table_apply(struct producer_table *table, const struct producer_batch_info *batch,
                          uint64_t base_offset, int64_t max_timestamp_ms)
{
    if (max_timestamp_ms > table->log_time_ms) {
        table->log_time_ms = max_timestamp_ms;
    }
    if (batch_classify(batch) == BATCH_IDEMPOTENT) {
        apply_idempotent(table, batch, base_offset);
    }
    expire_idle(table);
    ETHER_ASSERT(table->committed_count <= table->entries_count);
}

/* ---- queries -------------------------------------------------------------------------- */

int64_t producer_table_log_time_ms(const struct producer_table *table)
{
    return table->log_time_ms;
}

size_t producer_table_count(const struct producer_table *table)
{
    return table->committed_count;
}

static void describe_entry(const struct producer_entry *entry, struct producer_description *out)
{
    ETHER_ASSERT(entry->committed);
    ETHER_ASSERT(entry->batches_count >= 1);
    const struct committed_batch *newest = &entry->batches[entry->batches_count - 1];
    *out = (struct producer_description){
        .producer_id = entry->producer_id,
        .producer_epoch = entry->epoch,
        .last_sequence = newest->last_sequence,
        .last_offset = newest->base_offset +
                       (sequence_span(newest->first_sequence, newest->last_sequence) - 1),
        .last_timestamp_ms = entry->last_timestamp_ms,
    };
}

bool producer_table_lookup(const struct producer_table *table, int64_t producer_id,
                           struct producer_description *out)
{
    const struct producer_entry *entry = entry_find(table, producer_id);
    if (entry == NULL || !entry->committed) {
        return false;
    }
    describe_entry(entry, out);
    return true;
}

static int compare_entry_ids(const void *left, const void *right)
{
    const struct producer_entry *a = *(const struct producer_entry *const *)left;
    const struct producer_entry *b = *(const struct producer_entry *const *)right;
    return (a->producer_id > b->producer_id) - (a->producer_id < b->producer_id);
}

/* The committed entries by producer id; NULL when none. The caller frees the array. */
static const struct producer_entry **committed_sorted(const struct producer_table *table)
{
    if (table->committed_count == 0) {
        return NULL;
    }
    const struct producer_entry **sorted = ether_calloc(table->committed_count, sizeof *sorted);
    size_t count = 0;
    for (const struct producer_entry *entry = table->oldest; entry != NULL; entry = entry->newer) {
        ETHER_ASSERT(count < table->committed_count);
        sorted[count++] = entry;
    }
    ETHER_ASSERT(count == table->committed_count);
    qsort(sorted, count, sizeof *sorted, compare_entry_ids);
    return sorted;
}

void producer_table_describe(const struct producer_table *table,
                             struct producer_description **producers, size_t *count)
{
    const struct producer_entry **sorted = committed_sorted(table);
    struct producer_description *out = NULL;
    if (sorted != NULL) {
        out = ether_calloc(table->committed_count, sizeof *out);
        for (size_t i = 0; i < table->committed_count; i++) {
            describe_entry(sorted[i], &out[i]);
        }
    }
    ether_free(sorted);
    *producers = out;
    *count = table->committed_count;
}

/* ---- snapshots ------------------------------------------------------------------------ */

static void encode_entry(const struct producer_entry *entry, int64_t log_time_ms, uint8_t *out)
{
    ETHER_ASSERT(entry->committed);
    ETHER_ASSERT(entry->producer_id >= 0);
    ETHER_ASSERT(entry->epoch >= 0);
    ETHER_ASSERT(entry->batches_count >= 1);
    ETHER_ASSERT(entry->batches_count <= PRODUCER_TABLE_BATCHES_MAX);
    ETHER_ASSERT(entry->last_timestamp_ms <= log_time_ms);
    memset(out, 0, PRODUCER_TABLE_RECORD_BYTES);
    ether_put_u64le(out, (uint64_t)entry->producer_id);
    ether_put_u16le(out + 8, (uint16_t)entry->epoch);
    out[10] = entry->batches_count;
    ether_put_u64le(out + 12, (uint64_t)entry->last_timestamp_ms);
    for (uint8_t i = 0; i < entry->batches_count; i++) {
        uint8_t *slot = out + RECORD_BATCHES_OFFSET + (size_t)i * BATCH_SLOT_BYTES;
        ether_put_u32le(slot, (uint32_t)entry->batches[i].first_sequence);
        ether_put_u32le(slot + 4, (uint32_t)entry->batches[i].last_sequence);
        ether_put_u64le(slot + 8, entry->batches[i].base_offset);
    }
}

void producer_table_encode(const struct producer_table *table, struct ether_buf *out)
{
    ETHER_ASSERT(table->committed_count <= UINT32_MAX);
    size_t total_bytes =
        PRODUCER_TABLE_SNAPSHOT_HEADER_BYTES + table->committed_count * PRODUCER_TABLE_RECORD_BYTES;
    size_t start = out->length;
    uint8_t *header = ether_buf_extend(out, total_bytes);
    ether_put_u16le(header + 4, PRODUCER_TABLE_SNAPSHOT_VERSION);
    ether_put_u16le(header + 6, 0);
    ether_put_u64le(header + 8, (uint64_t)table->log_time_ms);
    ether_put_u32le(header + 16, (uint32_t)table->committed_count);
    const struct producer_entry **sorted = committed_sorted(table);
    for (size_t i = 0; i < table->committed_count; i++) {
        encode_entry(sorted[i], table->log_time_ms,
                     header + PRODUCER_TABLE_SNAPSHOT_HEADER_BYTES +
                         i * PRODUCER_TABLE_RECORD_BYTES);
    }
    ether_free(sorted);
    ether_put_u32le(header, ether_crc32c(header + 4, total_bytes - 4));
    ETHER_ASSERT(out->length == start + total_bytes);
}

static bool all_zero(const uint8_t *data, size_t size_bytes)
{
    for (size_t i = 0; i < size_bytes; i++) {
        if (data[i] != 0) {
            return false;
        }
    }
    return true;
}

/*
 * Reads one producer record into `entry` (zeroed). Returns false when a field
 * is out of range. `previous_id` is the id of the record before, or -1.
 */
static bool decode_entry(const uint8_t *in, int64_t previous_id, int64_t log_time_ms,
                         struct producer_entry *entry)
{
    entry->producer_id = (int64_t)ether_get_u64le(in);
    entry->epoch = (int16_t)ether_get_u16le(in + 8);
    entry->batches_count = in[10];
    entry->last_timestamp_ms = (int64_t)ether_get_u64le(in + 12);
    if (entry->producer_id <= previous_id || entry->epoch < 0 || entry->batches_count == 0 ||
        entry->batches_count > PRODUCER_TABLE_BATCHES_MAX || in[11] != 0 ||
        entry->last_timestamp_ms > log_time_ms) {
        return false;
    }
    bool have_previous = false;
    uint64_t previous_last_offset = 0;
    for (uint8_t i = 0; i < entry->batches_count; i++) {
        const uint8_t *slot = in + RECORD_BATCHES_OFFSET + (size_t)i * BATCH_SLOT_BYTES;
        int32_t first = (int32_t)ether_get_u32le(slot);
        int32_t last = (int32_t)ether_get_u32le(slot + 4);
        uint64_t base_offset = ether_get_u64le(slot + 8);
        if (first < 0 || last < 0) {
            return false;
        }
        uint64_t records = sequence_span(first, last);
        if (records > PROTO_BATCH_RECORDS_MAX || base_offset > UINT64_MAX - (records - 1) ||
            (have_previous && base_offset <= previous_last_offset)) {
            return false;
        }
        entry->batches[i] = (struct committed_batch){first, last, base_offset};
        previous_last_offset = base_offset + (records - 1);
        have_previous = true;
    }
    size_t used_bytes = RECORD_BATCHES_OFFSET + (size_t)entry->batches_count * BATCH_SLOT_BYTES;
    if (!all_zero(in + used_bytes, PRODUCER_TABLE_RECORD_BYTES - used_bytes)) {
        return false;
    }
    entry->committed = true;
    return true;
}

static int compare_entry_expiry(const void *left, const void *right)
{
    const struct producer_entry *a = *(const struct producer_entry *const *)left;
    const struct producer_entry *b = *(const struct producer_entry *const *)right;
    if (a->last_timestamp_ms != b->last_timestamp_ms) {
        return a->last_timestamp_ms > b->last_timestamp_ms ? 1 : -1;
    }
    return (a->producer_id > b->producer_id) - (a->producer_id < b->producer_id);
}

int producer_table_decode(const uint8_t *data, size_t size_bytes, struct producer_table *table)
{
    if (size_bytes < PRODUCER_TABLE_SNAPSHOT_HEADER_BYTES) {
        return ETHER_ERR_CORRUPT;
    }
    if (ether_get_u32le(data) != ether_crc32c(data + 4, size_bytes - 4)) {
        return ETHER_ERR_CORRUPT;
    }
    uint16_t version = ether_get_u16le(data + 4);
    if (version != PRODUCER_TABLE_SNAPSHOT_VERSION) {
        return version > PRODUCER_TABLE_SNAPSHOT_VERSION ? ETHER_ERR_UNSUPPORTED
                                                         : ETHER_ERR_CORRUPT;
    }
    int64_t log_time_ms = (int64_t)ether_get_u64le(data + 8);
    uint32_t producers_count = ether_get_u32le(data + 16);
    size_t records_bytes = size_bytes - PRODUCER_TABLE_SNAPSHOT_HEADER_BYTES;
    if (ether_get_u16le(data + 6) != 0 || records_bytes % PRODUCER_TABLE_RECORD_BYTES != 0 ||
        records_bytes / PRODUCER_TABLE_RECORD_BYTES != producers_count) {
        return ETHER_ERR_CORRUPT;
    }

    struct producer_table loaded;
    producer_table_init(&loaded, table->expiry_ms);
    loaded.log_time_ms = log_time_ms;
    struct producer_entry **by_expiry = NULL;
    int rc = ETHER_OK;
    if (producers_count > 0) {
        by_expiry = ether_calloc(producers_count, sizeof *by_expiry);
    }
    int64_t previous_id = -1;
    for (uint32_t i = 0; i < producers_count; i++) {
        const uint8_t *in =
            data + PRODUCER_TABLE_SNAPSHOT_HEADER_BYTES + (size_t)i * PRODUCER_TABLE_RECORD_BYTES;
        struct producer_entry decoded;
        memset(&decoded, 0, sizeof decoded);
        if (!decode_entry(in, previous_id, log_time_ms, &decoded)) {
            rc = ETHER_ERR_CORRUPT;
            goto err_after_loaded_init;
        }
        previous_id = decoded.producer_id;
        struct producer_entry *entry = entry_insert(&loaded, decoded.producer_id);
        *entry = decoded;
        loaded.committed_count++;
        by_expiry[i] = entry;
    }
    if (producers_count > 1) {
        qsort(by_expiry, producers_count, sizeof *by_expiry, compare_entry_expiry);
    }
    for (uint32_t i = 0; i < producers_count; i++) {
        list_append_newest(&loaded, by_expiry[i]);
    }
    ether_free(by_expiry);
    ETHER_ASSERT(loaded.committed_count == producers_count);
    ETHER_ASSERT(loaded.entries_count == producers_count);
    producer_table_free(table);
    *table = loaded;
    return ETHER_OK;

err_after_loaded_init:
    ether_free(by_expiry);
    producer_table_free(&loaded);
    return rc;
}
