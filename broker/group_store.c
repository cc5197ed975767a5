/*
 * group_store.c: the committed offsets and generations of the consumer groups
 * of one __consumer_offsets partition (see group_store.h for the contract).
 *
 * Record layout. Integers are little-endian; a "string" is a varint length
 * (common/varint.h, minimal encoding) followed by that many bytes, at most
 * GROUP_NAME_BYTES_MAX, never empty, without NUL. Topics follow the same rule.
 *
 *   offset commit key           offset commit value (empty: remove the offset)
 *   SIZE    DESCRIPTION         SIZE    DESCRIPTION
 *      1    type: 1                1    version: 1
 *    var    group string           8    offset (int64)
 *    var    topic string           8    commit timestamp, ms (int64)
 *      4    partition              4    generation
 *                                var    metadata: varint length, at most
 *                                       GROUP_OFFSET_METADATA_BYTES_MAX
 *                                       bytes, no NUL, may be empty
 *
 *   group key                   group value (empty: delete the group)
 *   SIZE    DESCRIPTION         SIZE    DESCRIPTION
 *      1    type: 2                1    version: 1
 *    var    group string           4    generation
 *
 * Anything else is ETHER_ERR_CORRUPT: another type or version, a string
 * that is empty, too long or holds a NUL, metadata too long or holding a NUL,
 * a non-minimal varint, bytes missing or left over.
 *
 * Snapshot layout (group_store_encode):
 *   SIZE    DESCRIPTION
 *      1    version: 1
 *      4    groups count
 *           per group, in strcmp order of names, strictly increasing:
 *    var      name string
 *      4      generation
 *      4      offsets count
 *             per offset, by topic (strcmp) then partition, strictly increasing:
 *    var        topic string
 *      4        partition
 *      8        offset (int64)
 *      8        commit timestamp, ms (int64)
 *      4        generation
 *    var        metadata (as in the record)
 *      4    crc32c of every byte before it
 * Decoding accepts only what encode writes: the order, the minimal varints and
 * the limits are checked, so a decoded snapshot encodes back to the same bytes.
 *
 * Semantics chosen where the contract leaves room:
 *   - an offset commit for an unknown group creates it with generation 0;
 *   - removing an offset never removes its group, even one left with no
 *     offsets and generation 0: only a group tombstone deletes a group;
 *     removing an offset or deleting a group that is not stored is a no-op;
 *   - a group record with a generation lower than the stored one is ignored
 *     (equal or higher is stored); an unknown group is created with it;
 *   - an offset stores whatever the log says (any offset, timestamp,
 *     generation): the coordinator validated it before writing the record.
 *
 * Storage. `groups` is an array of pointers sorted by name (binary search,
 * insertion by memmove); each group holds an array of offset entries sorted
 * by (topic, partition). Every string is owned by the store.
 *
 * Failure modes: none besides ETHER_ERR_CORRUPT. Apply parses the whole
 * record before touching the store and decode builds a separate store, so a
 * refused input changes nothing (allocation failure aborts, see mem.h).
 */
#include "broker/group_store.h"

#include <string.h>

#include "common/crc32c.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "common/varint.h"

enum {
    RECORD_TYPE_OFFSET = 1,
    RECORD_TYPE_GROUP = 2,
    RECORD_VERSION = 1,
    SNAPSHOT_VERSION = 1,
    SNAPSHOT_CRC_BYTES = 4,
    /* The smallest encodings, to bound counts by the bytes that remain. */
    SNAPSHOT_GROUP_BYTES_MIN = 1 + 1 + 4 + 4,
    SNAPSHOT_OFFSET_BYTES_MIN = 1 + 1 + 4 + 8 + 8 + 4 + 1,
    GROUPS_CAPACITY_MIN = 8,
    OFFSETS_CAPACITY_MIN = 4,
};

_Static_assert(GROUP_NAME_BYTES_MAX < GROUP_OFFSET_METADATA_BYTES_MAX,
               "one length check per string kind");

struct offset_entry {
    char *topic;
    uint32_t partition;
    char *metadata;            /* owned, never NULL */
    struct group_offset value; /* value.metadata == metadata */
};

struct group_store_group {
    char *name;
    uint32_t generation;
    struct offset_entry *offsets; /* sorted by (topic, partition) */
    size_t offsets_count;
    size_t offsets_capacity;
};

/* ---- groups and offsets ----------------------------------------------------------------- */

static void offset_entry_free(struct offset_entry *entry)
{
    ether_free(entry->topic);
    ether_free(entry->metadata);
}

static void group_free(struct group_store_group *group)
{
    for (size_t i = 0; i < group->offsets_count; i++) {
        offset_entry_free(&group->offsets[i]);
    }
    ether_free(group->offsets);
    ether_free(group->name);
    ether_free(group);
}

void group_store_init(struct group_store *store)
{
    store->groups = NULL;
    store->groups_count = 0;
    store->groups_capacity = 0;
}

void group_store_free(struct group_store *store)
{
    for (size_t i = 0; i < store->groups_count; i++) {
        group_free(store->groups[i]);
    }
    ether_free(store->groups);
    group_store_init(store);
}

/* True when found at *index; otherwise *index is where it would be inserted. */
static bool group_search(const struct group_store *store, const char *name, size_t *index)
{
    size_t low = 0;
    size_t high = store->groups_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int order = strcmp(store->groups[middle]->name, name);
        if (order == 0) {
            *index = middle;
            return true;
        }
        if (order < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    *index = low;
    return false;
}

static struct group_store_group *group_find(const struct group_store *store, const char *name)
{
    size_t index;
    return group_search(store, name, &index) ? store->groups[index] : NULL;
}

static int offset_order(const struct offset_entry *entry, const char *topic, uint32_t partition)
{
    int order = strcmp(entry->topic, topic);
    if (order != 0) {
        return order;
    }
    return (entry->partition > partition) - (entry->partition < partition);
}

static bool offset_search(const struct group_store_group *group, const char *topic,
                          uint32_t partition, size_t *index)
{
    size_t low = 0;
    size_t high = group->offsets_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int order = offset_order(&group->offsets[middle], topic, partition);
        if (order == 0) {
            *index = middle;
            return true;
        }
        if (order < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    *index = low;
    return false;
}

/* A new group with `name` at `index` (where group_search placed it), generation 0. */
static struct group_store_group *group_insert(struct group_store *store, size_t index,
                                              const char *name)
{
    ETHER_ASSERT(index <= store->groups_count);
    ETHER_ASSERT(index == 0 || strcmp(store->groups[index - 1]->name, name) < 0);
    ETHER_ASSERT(index == store->groups_count || strcmp(store->groups[index]->name, name) > 0);
    if (store->groups_count == store->groups_capacity) {
        size_t capacity =
            store->groups_capacity == 0 ? GROUPS_CAPACITY_MIN : store->groups_capacity * 2;
        store->groups = ether_realloc(store->groups, capacity * sizeof *store->groups);
        store->groups_capacity = capacity;
    }
    struct group_store_group *group = ether_calloc(1, sizeof *group);
    group->name = ether_strdup(name);
    memmove(&store->groups[index + 1], &store->groups[index],
            (store->groups_count - index) * sizeof *store->groups);
    store->groups[index] = group;
    store->groups_count++;
    return group;
}

static void group_remove(struct group_store *store, size_t index)
{
    ETHER_ASSERT(index < store->groups_count);
    group_free(store->groups[index]);
    memmove(&store->groups[index], &store->groups[index + 1],
            (store->groups_count - index - 1) * sizeof *store->groups);
    store->groups_count--;
}

/* A new entry for (topic, partition) at `index`, holding no value yet. */
static struct offset_entry *offset_insert(struct group_store_group *group, size_t index,
                                          const char *topic, uint32_t partition)
{
    ETHER_ASSERT(index <= group->offsets_count);
    ETHER_ASSERT(index == 0 || offset_order(&group->offsets[index - 1], topic, partition) < 0);
    ETHER_ASSERT(index == group->offsets_count ||
                 offset_order(&group->offsets[index], topic, partition) > 0);
    if (group->offsets_count == group->offsets_capacity) {
        size_t capacity =
            group->offsets_capacity == 0 ? OFFSETS_CAPACITY_MIN : group->offsets_capacity * 2;
        group->offsets = ether_realloc(group->offsets, capacity * sizeof *group->offsets);
        group->offsets_capacity = capacity;
    }
    memmove(&group->offsets[index + 1], &group->offsets[index],
            (group->offsets_count - index) * sizeof *group->offsets);
    struct offset_entry *entry = &group->offsets[index];
    memset(entry, 0, sizeof *entry);
    entry->topic = ether_strdup(topic);
    entry->partition = partition;
    group->offsets_count++;
    return entry;
}

static char *metadata_copy(const uint8_t *bytes, size_t bytes_count)
{
    char *copy = ether_malloc(bytes_count + 1);
    if (bytes_count > 0) {
        memcpy(copy, bytes, bytes_count);
    }
    copy[bytes_count] = '\0';
    return copy;
}

/* ---- reading untrusted bytes -------------------------------------------------------------- */

struct reader {
    const uint8_t *data;
    size_t length;
    size_t at;
};

static size_t reader_left(const struct reader *reader)
{
    ETHER_ASSERT(reader->at <= reader->length);
    return reader->length - reader->at;
}

static bool read_u8(struct reader *reader, uint8_t *value)
{
    if (reader_left(reader) < 1) {
        return false;
    }
    *value = reader->data[reader->at];
    reader->at += 1;
    return true;
}

static bool read_u32(struct reader *reader, uint32_t *value)
{
    if (reader_left(reader) < 4) {
        return false;
    }
    *value = ether_get_u32le(reader->data + reader->at);
    reader->at += 4;
    return true;
}

static bool read_i64(struct reader *reader, int64_t *value)
{
    if (reader_left(reader) < 8) {
        return false;
    }
    *value = (int64_t)ether_get_u64le(reader->data + reader->at);
    reader->at += 8;
    return true;
}

/* A length-prefixed run of at most `bytes_max` bytes without NUL, with a minimal varint. */
static bool read_bytes(struct reader *reader, size_t bytes_max, const uint8_t **bytes,
                       size_t *bytes_count)
{
    uint64_t length;
    size_t consumed;
    if (ether_varint_decode_u64(reader->data + reader->at, reader_left(reader), &length,
                                &consumed) != ETHER_OK ||
        consumed != ether_varint_size_u64(length) || length > bytes_max) {
        return false;
    }
    reader->at += consumed;
    if (reader_left(reader) < length) {
        return false;
    }
    const uint8_t *start = reader->data + reader->at;
    if (length > 0 && memchr(start, '\0', (size_t)length) != NULL) {
        return false;
    }
    reader->at += (size_t)length;
    *bytes = start;
    *bytes_count = (size_t)length;
    return true;
}

/* A group or topic name into `out` (GROUP_NAME_BYTES_MAX + 1 bytes), NUL-terminated. */
static bool read_name(struct reader *reader, char *out)
{
    const uint8_t *bytes;
    size_t bytes_count;
    if (!read_bytes(reader, GROUP_NAME_BYTES_MAX, &bytes, &bytes_count) || bytes_count == 0) {
        return false;
    }
    memcpy(out, bytes, bytes_count);
    out[bytes_count] = '\0';
    return true;
}

/* ---- writing ------------------------------------------------------------------------------ */

static bool name_is_valid(const char *name)
{
    size_t length = strlen(name);
    return length >= 1 && length <= GROUP_NAME_BYTES_MAX;
}

static void append_string(struct ether_buf *out, const char *string, size_t length)
{
    ether_buf_append_varint(out, length);
    ether_buf_append(out, string, length);
}

static void append_name(struct ether_buf *out, const char *name)
{
    ETHER_ASSERT(name_is_valid(name));
    append_string(out, name, strlen(name));
}

static void append_offset_fields(struct ether_buf *out, const struct group_offset *offset)
{
    const char *metadata = offset->metadata != NULL ? offset->metadata : "";
    size_t metadata_length = strlen(metadata);
    ETHER_ASSERT(metadata_length <= GROUP_OFFSET_METADATA_BYTES_MAX);
    ether_buf_append_u64le(out, (uint64_t)offset->offset);
    ether_buf_append_u64le(out, (uint64_t)offset->commit_timestamp_ms);
    ether_buf_append_u32le(out, offset->generation);
    append_string(out, metadata, metadata_length);
}

/* ---- records -------------------------------------------------------------------------------- */

void group_store_offset_record(const char *group, const char *topic, uint32_t partition,
                               const struct group_offset *offset, struct ether_buf *key,
                               struct ether_buf *value)
{
    ETHER_ASSERT(name_is_valid(group));
    ETHER_ASSERT(name_is_valid(topic));
    ether_buf_append_u8(key, RECORD_TYPE_OFFSET);
    append_name(key, group);
    append_name(key, topic);
    ether_buf_append_u32le(key, partition);
    size_t value_start = value->length;
    ether_buf_append_u8(value, RECORD_VERSION);
    append_offset_fields(value, offset);
    ETHER_ASSERT(value->length > value_start); /* never a tombstone */
}

void group_store_group_record(const char *group, uint32_t generation, struct ether_buf *key,
                              struct ether_buf *value)
{
    ETHER_ASSERT(name_is_valid(group));
    ether_buf_append_u8(key, RECORD_TYPE_GROUP);
    append_name(key, group);
    ether_buf_append_u8(value, RECORD_VERSION);
    ether_buf_append_u32le(value, generation);
}

void group_store_group_tombstone(const char *group, struct ether_buf *key)
{
    ETHER_ASSERT(name_is_valid(group));
    ether_buf_append_u8(key, RECORD_TYPE_GROUP);
    append_name(key, group);
}

/* ---- applying the log ----------------------------------------------------------------------- */

struct parsed_key {
    uint8_t type;
    char group[GROUP_NAME_BYTES_MAX + 1];
    char topic[GROUP_NAME_BYTES_MAX + 1]; /* offset commits only */
    uint32_t partition;                   /* offset commits only */
};

struct parsed_offset {
    struct group_offset fields; /* fields.metadata unused: see below */
    const uint8_t *metadata;    /* into the record, not NUL-terminated */
    size_t metadata_bytes;
};

static bool parse_key(const void *key, size_t key_bytes, struct parsed_key *out)
{
    struct reader reader = {key, key_bytes, 0};
    if (!read_u8(&reader, &out->type) || !read_name(&reader, out->group)) {
        return false;
    }
    switch (out->type) {
    case RECORD_TYPE_OFFSET:
        if (!read_name(&reader, out->topic) || !read_u32(&reader, &out->partition)) {
            return false;
        }
        break;
    case RECORD_TYPE_GROUP:
        break;
    default:
        return false;
    }
    return reader_left(&reader) == 0;
}

static bool parse_offset_value(const void *value, size_t value_bytes, struct parsed_offset *out)
{
    struct reader reader = {value, value_bytes, 0};
    uint8_t version;
    memset(out, 0, sizeof *out);
    return read_u8(&reader, &version) && version == RECORD_VERSION &&
           read_i64(&reader, &out->fields.offset) &&
           read_i64(&reader, &out->fields.commit_timestamp_ms) &&
           read_u32(&reader, &out->fields.generation) &&
           read_bytes(&reader, GROUP_OFFSET_METADATA_BYTES_MAX, &out->metadata,
                      &out->metadata_bytes) &&
           reader_left(&reader) == 0;
}

static bool parse_group_value(const void *value, size_t value_bytes, uint32_t *generation)
{
    struct reader reader = {value, value_bytes, 0};
    uint8_t version;
    return read_u8(&reader, &version) && version == RECORD_VERSION &&
           read_u32(&reader, generation) && reader_left(&reader) == 0;
}

static void apply_offset_commit(struct group_store *store, const struct parsed_key *key,
                                const struct parsed_offset *parsed)
{
    size_t index;
    struct group_store_group *group;
    if (group_search(store, key->group, &index)) {
        group = store->groups[index];
    } else {
        group = group_insert(store, index, key->group);
    }
    struct offset_entry *entry;
    if (offset_search(group, key->topic, key->partition, &index)) {
        entry = &group->offsets[index];
        ether_free(entry->metadata);
    } else {
        entry = offset_insert(group, index, key->topic, key->partition);
    }
    entry->metadata = metadata_copy(parsed->metadata, parsed->metadata_bytes);
    entry->value = parsed->fields;
    entry->value.metadata = entry->metadata;
    ETHER_ASSERT(strlen(entry->metadata) == parsed->metadata_bytes);
}

static void apply_offset_removal(struct group_store *store, const struct parsed_key *key)
{
    struct group_store_group *group = group_find(store, key->group);
    size_t index;
    if (group == NULL || !offset_search(group, key->topic, key->partition, &index)) {
        return;
    }
    offset_entry_free(&group->offsets[index]);
    memmove(&group->offsets[index], &group->offsets[index + 1],
            (group->offsets_count - index - 1) * sizeof *group->offsets);
    group->offsets_count--;
}

static void apply_generation(struct group_store *store, const char *name, uint32_t generation)
{
    size_t index;
    if (!group_search(store, name, &index)) {
        group_insert(store, index, name)->generation = generation;
        return;
    }
    struct group_store_group *group = store->groups[index];
    if (generation >= group->generation) {
        group->generation = generation;
    }
}

static void apply_group_deletion(struct group_store *store, const char *name)
{
    size_t index;
    if (group_search(store, name, &index)) {
        group_remove(store, index);
    }
    ETHER_ASSERT(group_find(store, name) == NULL);
}

int group_store_apply(struct group_store *store, const void *key, size_t key_bytes,
                      const void *value, size_t value_bytes)
{
    ETHER_ASSERT(key != NULL || key_bytes == 0);
    ETHER_ASSERT(value != NULL || value_bytes == 0);
    struct parsed_key parsed_key;
    if (!parse_key(key, key_bytes, &parsed_key)) {
        return ETHER_ERR_CORRUPT;
    }
    bool tombstone = value_bytes == 0;
    if (parsed_key.type == RECORD_TYPE_OFFSET) {
        if (tombstone) {
            apply_offset_removal(store, &parsed_key);
            return ETHER_OK;
        }
        struct parsed_offset parsed;
        if (!parse_offset_value(value, value_bytes, &parsed)) {
            return ETHER_ERR_CORRUPT;
        }
        apply_offset_commit(store, &parsed_key, &parsed);
        return ETHER_OK;
    }
    ETHER_ASSERT(parsed_key.type == RECORD_TYPE_GROUP);
    if (tombstone) {
        apply_group_deletion(store, parsed_key.group);
        return ETHER_OK;
    }
    uint32_t generation;
    if (!parse_group_value(value, value_bytes, &generation)) {
        return ETHER_ERR_CORRUPT;
    }
    apply_generation(store, parsed_key.group, generation);
    return ETHER_OK;
}

/* ---- reading -------------------------------------------------------------------------------- */

bool group_store_has_group(const struct group_store *store, const char *group)
{
    return group_find(store, group) != NULL;
}

uint32_t group_store_generation(const struct group_store *store, const char *group)
{
    const struct group_store_group *found = group_find(store, group);
    return found != NULL ? found->generation : 0;
}

const struct group_offset *group_store_offset(const struct group_store *store, const char *group,
                                              const char *topic, uint32_t partition)
{
    const struct group_store_group *found = group_find(store, group);
    size_t index;
    if (found == NULL || !offset_search(found, topic, partition, &index)) {
        return NULL;
    }
    const struct offset_entry *entry = &found->offsets[index];
    ETHER_ASSERT(entry->partition == partition);
    ETHER_ASSERT(entry->value.metadata == entry->metadata);
    return &entry->value;
}

void group_store_for_each_offset(const struct group_store *store, const char *group,
                                 group_store_offset_fn *fn, void *context)
{
    const struct group_store_group *found = group_find(store, group);
    if (found == NULL) {
        return;
    }
    for (size_t i = 0; i < found->offsets_count; i++) {
        const struct offset_entry *entry = &found->offsets[i];
        fn(context, entry->topic, entry->partition, &entry->value);
    }
}

void group_store_for_each_group(const struct group_store *store, group_store_group_fn *fn,
                                void *context)
{
    for (size_t i = 0; i < store->groups_count; i++) {
        fn(context, store->groups[i]->name, store->groups[i]->generation);
    }
}

/* ---- snapshots ------------------------------------------------------------------------------ */

void group_store_encode(const struct group_store *store, struct ether_buf *out)
{
    ETHER_ASSERT(store->groups_count <= UINT32_MAX);
    size_t start = out->length;
    ether_buf_append_u8(out, SNAPSHOT_VERSION);
    ether_buf_append_u32le(out, (uint32_t)store->groups_count);
    for (size_t i = 0; i < store->groups_count; i++) {
        const struct group_store_group *group = store->groups[i];
        ETHER_ASSERT(i == 0 || strcmp(store->groups[i - 1]->name, group->name) < 0);
        ETHER_ASSERT(group->offsets_count <= UINT32_MAX);
        append_name(out, group->name);
        ether_buf_append_u32le(out, group->generation);
        ether_buf_append_u32le(out, (uint32_t)group->offsets_count);
        for (size_t j = 0; j < group->offsets_count; j++) {
            const struct offset_entry *entry = &group->offsets[j];
            ETHER_ASSERT(j == 0 ||
                         offset_order(&group->offsets[j - 1], entry->topic, entry->partition) < 0);
            append_name(out, entry->topic);
            ether_buf_append_u32le(out, entry->partition);
            append_offset_fields(out, &entry->value);
        }
    }
    uint32_t crc = ether_crc32c(out->data + start, out->length - start);
    ether_buf_append_u32le(out, crc);
    ETHER_ASSERT(out->length - start >= 1 + 4 + SNAPSHOT_CRC_BYTES);
}

/* Reads the offsets of `group` (empty) in strictly increasing order. */
static bool decode_offsets(struct reader *reader, uint32_t offsets_count,
                           struct group_store_group *group)
{
    ETHER_ASSERT(group->offsets_count == 0);
    if (offsets_count == 0) {
        return true;
    }
    group->offsets = ether_calloc(offsets_count, sizeof *group->offsets);
    group->offsets_capacity = offsets_count;
    for (uint32_t i = 0; i < offsets_count; i++) {
        char topic[GROUP_NAME_BYTES_MAX + 1];
        uint32_t partition;
        struct parsed_offset parsed;
        memset(&parsed, 0, sizeof parsed);
        if (!read_name(reader, topic) || !read_u32(reader, &partition) ||
            !read_i64(reader, &parsed.fields.offset) ||
            !read_i64(reader, &parsed.fields.commit_timestamp_ms) ||
            !read_u32(reader, &parsed.fields.generation) ||
            !read_bytes(reader, GROUP_OFFSET_METADATA_BYTES_MAX, &parsed.metadata,
                        &parsed.metadata_bytes)) {
            return false;
        }
        if (i > 0 && offset_order(&group->offsets[i - 1], topic, partition) >= 0) {
            return false;
        }
        struct offset_entry *entry = &group->offsets[i];
        entry->topic = ether_strdup(topic);
        entry->partition = partition;
        entry->metadata = metadata_copy(parsed.metadata, parsed.metadata_bytes);
        entry->value = parsed.fields;
        entry->value.metadata = entry->metadata;
        group->offsets_count++;
    }
    ETHER_ASSERT(group->offsets_count == offsets_count);
    return true;
}

/* Reads every group into `loaded` (empty); on false, `loaded` holds what was read. */
static bool decode_groups(struct reader *reader, struct group_store *loaded)
{
    uint8_t version;
    uint32_t groups_count;
    if (!read_u8(reader, &version) || version != SNAPSHOT_VERSION ||
        !read_u32(reader, &groups_count) ||
        groups_count > reader_left(reader) / SNAPSHOT_GROUP_BYTES_MIN) {
        return false;
    }
    if (groups_count > 0) {
        loaded->groups = ether_calloc(groups_count, sizeof *loaded->groups);
        loaded->groups_capacity = groups_count;
    }
    for (uint32_t i = 0; i < groups_count; i++) {
        char name[GROUP_NAME_BYTES_MAX + 1];
        uint32_t generation;
        uint32_t offsets_count;
        if (!read_name(reader, name) || !read_u32(reader, &generation) ||
            !read_u32(reader, &offsets_count) ||
            offsets_count > reader_left(reader) / SNAPSHOT_OFFSET_BYTES_MIN) {
            return false;
        }
        if (i > 0 && strcmp(loaded->groups[i - 1]->name, name) >= 0) {
            return false;
        }
        struct group_store_group *group = ether_calloc(1, sizeof *group);
        group->name = ether_strdup(name);
        group->generation = generation;
        loaded->groups[loaded->groups_count++] = group;
        if (!decode_offsets(reader, offsets_count, group)) {
            return false;
        }
    }
    ETHER_ASSERT(loaded->groups_count == groups_count);
    return reader_left(reader) == 0;
}

int group_store_decode(const void *data, size_t data_bytes, struct group_store *store)
{
    ETHER_ASSERT(data != NULL || data_bytes == 0);
    if (data_bytes < 1 + 4 + SNAPSHOT_CRC_BYTES) {
        return ETHER_ERR_CORRUPT;
    }
    const uint8_t *bytes = data;
    size_t body_bytes = data_bytes - SNAPSHOT_CRC_BYTES;
    if (ether_get_u32le(bytes + body_bytes) != ether_crc32c(bytes, body_bytes)) {
        return ETHER_ERR_CORRUPT;
    }
    struct group_store loaded;
    group_store_init(&loaded);
    struct reader reader = {bytes, body_bytes, 0};
    if (!decode_groups(&reader, &loaded)) {
        goto err_after_loaded_init;
    }
    group_store_free(store);
    *store = loaded;
    return ETHER_OK;

err_after_loaded_init:
    group_store_free(&loaded);
    return ETHER_ERR_CORRUPT;
}
