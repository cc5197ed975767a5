/*
 * Unit tests for storage/ sync tickets: storage_sync_begin / _run / _end let
 * the fdatasync run with no lock held while another thread appends and reads
 * under the owner's lock; what end reports durable never includes entries
 * appended or replaced after begin; a failed sync in run makes the log
 * untrusted at end.
 */
#include "test_storage_fixture.h"

#include <pthread.h>

/* ---- two threads, one pthread mutex standing in for the owner's lock ---- */

enum {
    THREADED_ENTRIES_COUNT = 3000,
    THREADED_BATCH_MAX = 7,
};

struct shared_log {
    pthread_mutex_t mutex;
    struct storage_log *log;
    bool appends_done;
    int append_result;
    int sync_result;
    uint64_t tickets_count;
    uint64_t durable_index; /* highest durable_index any ticket reported */
    bool durable_went_backwards;
    bool durable_above_appended;
};

static void *appender_main(void *context)
{
    struct shared_log *shared = context;
    uint64_t next = 1;
    struct storage_batch batch;
    storage_batch_init(&batch);
    while (next <= THREADED_ENTRIES_COUNT) {
        uint64_t count = 1 + next % THREADED_BATCH_MAX;
        if (next + count - 1 > THREADED_ENTRIES_COUNT) {
            count = THREADED_ENTRIES_COUNT - next + 1;
        }
        pthread_mutex_lock(&shared->mutex);
        int result = append_range(shared->log, next, count, 1);
        if (result == ETHER_OK) {
            /* A reader on the loop would do this while the worker's fdatasync runs. */
            result = storage_read(shared->log, next, 4096, &batch);
        }
        pthread_mutex_unlock(&shared->mutex);
        if (result != ETHER_OK) {
            shared->append_result = result;
            break;
        }
        next += count;
    }
    storage_batch_free(&batch);
    pthread_mutex_lock(&shared->mutex);
    shared->appends_done = true;
    pthread_mutex_unlock(&shared->mutex);
    return NULL;
}

/* One begin / run / end round; returns the result of end. */
static int sync_round(struct shared_log *shared)
{
    struct storage_sync_ticket ticket;
    pthread_mutex_lock(&shared->mutex);
    int result = storage_sync_begin(shared->log, &ticket);
    pthread_mutex_unlock(&shared->mutex);
    if (result != ETHER_OK) {
        return result;
    }
    result = storage_sync_run(&ticket); /* no lock held */
    pthread_mutex_lock(&shared->mutex);
    result = storage_sync_end(shared->log, &ticket, result);
    if (result == ETHER_OK) {
        struct storage_bounds bounds;
        storage_get_bounds(shared->log, &bounds);
        shared->durable_went_backwards |= ticket.durable_index < shared->durable_index;
        shared->durable_above_appended |= ticket.durable_index > bounds.last_index;
        if (ticket.durable_index > shared->durable_index) {
            shared->durable_index = ticket.durable_index;
        }
        shared->tickets_count++;
    }
    pthread_mutex_unlock(&shared->mutex);
    return result;
}

static void *syncer_main(void *context)
{
    struct shared_log *shared = context;
    for (;;) {
        pthread_mutex_lock(&shared->mutex);
        bool done = shared->appends_done;
        pthread_mutex_unlock(&shared->mutex);
        int result = sync_round(shared);
        if (result != ETHER_OK) {
            shared->sync_result = result;
            break;
        }
        if (done) {
            break; /* this round began after the last append */
        }
    }
    return NULL;
}

static void test_sync_runs_without_the_lock_while_another_thread_appends(void **state)
{
    struct fixture *fixture = *state;
    fixture->options.io = NULL; /* the fault io's counters are not for two threads */
    fixture->options.segment_bytes_max = 64 * 1024;
    fixture->options.preallocate_bytes = 16 * 1024;
    fixture->options.index_sync_lag_bytes_max = 8 * 1024;
    fixture_open(fixture);
    struct shared_log shared;
    memset(&shared, 0, sizeof shared);
    pthread_mutex_init(&shared.mutex, NULL);
    shared.log = fixture->log;

    pthread_t appender;
    pthread_t syncer;
    assert_int_equal(pthread_create(&appender, NULL, appender_main, &shared), 0);
    assert_int_equal(pthread_create(&syncer, NULL, syncer_main, &shared), 0);
    assert_int_equal(pthread_join(appender, NULL), 0);
    assert_int_equal(pthread_join(syncer, NULL), 0);
    pthread_mutex_destroy(&shared.mutex);

    assert_int_equal(shared.append_result, ETHER_OK);
    assert_int_equal(shared.sync_result, ETHER_OK);
    assert_true(shared.tickets_count > 1);
    assert_false(shared.durable_went_backwards);
    assert_false(shared.durable_above_appended);
    assert_int_equal(shared.durable_index, THREADED_ENTRIES_COUNT);
    assert_true(bounds_of(fixture->log).segments_count > 3);

    /* Everything synced reads back, after a reopen too. */
    assert_log_holds(fixture, 1, THREADED_ENTRIES_COUNT);
    fixture_reopen(fixture);
    assert_log_holds(fixture, 1, THREADED_ENTRIES_COUNT);
    assert_int_equal(fixture->lines.warn_count, 0);
    assert_int_equal(fixture->lines.error_count, 0);
}

/* ---- one thread: what end marks and reports ---- */

static void test_failed_fsync_in_run_marks_the_log_untrusted_at_end(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 10, 1), ETHER_OK);
    struct storage_sync_ticket ticket;
    assert_int_equal(storage_sync_begin(fixture->log, &ticket), ETHER_OK);
    fixture->fault.fdatasync_errno = EIO;
    int result = storage_sync_run(&ticket);
    assert_int_equal(result, ETHER_ERR_LOG_UNTRUSTED);
    /* Run touched no log state: until end, the log has not heard of the failure. */
    assert_int_equal(append_range(fixture->log, 11, 1, 1), ETHER_OK);
    assert_int_equal(fixture->lines.error_count, 0);

    assert_int_equal(storage_sync_end(fixture->log, &ticket, result), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(fixture->lines.error_count, 1);
    assert_int_equal(append_range(fixture->log, 12, 1, 1), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(storage_sync(fixture->log), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(storage_sync_begin(fixture->log, &ticket), ETHER_ERR_LOG_UNTRUSTED);

    fixture->fault.fdatasync_errno = 0;
    fixture_reopen(fixture);
    assert_int_equal(append_range(fixture->log, bounds_of(fixture->log).last_index + 1, 1, 1),
                     ETHER_OK);
}

static void test_writes_after_begin_stay_dirty_for_the_next_sync(void **state)
{
    struct fixture *fixture = *state;
    fixture->options.segment_bytes_max = 1 << 20;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 10, 1), ETHER_OK);
    struct storage_sync_ticket ticket;
    assert_int_equal(storage_sync_begin(fixture->log, &ticket), ETHER_OK);
    assert_int_equal(ticket.durable_index, 10);
    assert_int_equal(append_range(fixture->log, 11, 10, 1), ETHER_OK);
    int calls_before = fixture->fault.fdatasync_calls;
    int result = storage_sync_run(&ticket);
    assert_int_equal(storage_sync_end(fixture->log, &ticket, result), ETHER_OK);
    assert_int_equal(ticket.durable_index, 10);
    assert_true(fixture->fault.fdatasync_calls > calls_before);

    /* Entries 11..20 were written after begin: the next sync still has work to do. */
    calls_before = fixture->fault.fdatasync_calls;
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    assert_true(fixture->fault.fdatasync_calls > calls_before);
    /* And then nothing is dirty. */
    calls_before = fixture->fault.fdatasync_calls;
    assert_int_equal(storage_sync_begin(fixture->log, &ticket), ETHER_OK);
    assert_int_equal(ticket.durable_index, 20);
    result = storage_sync_run(&ticket);
    assert_int_equal(storage_sync_end(fixture->log, &ticket, result), ETHER_OK);
    assert_int_equal(fixture->fault.fdatasync_calls, calls_before);
}

static void test_suffix_cut_between_begin_and_end_lowers_the_durable_index(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 50, 1), ETHER_OK);
    struct storage_sync_ticket ticket;
    assert_int_equal(storage_sync_begin(fixture->log, &ticket), ETHER_OK);
    assert_int_equal(ticket.durable_index, 50);
    /* A Raft conflict replaces 41..50 with entries of term 2, not yet synced. */
    assert_int_equal(storage_truncate_suffix(fixture->log, 40), ETHER_OK);
    assert_int_equal(append_range(fixture->log, 41, 10, 2), ETHER_OK);
    int result = storage_sync_run(&ticket);
    assert_int_equal(storage_sync_end(fixture->log, &ticket, result), ETHER_OK);
    assert_int_equal(ticket.durable_index, 40);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    fixture_reopen(fixture);
    uint64_t term = 0;
    assert_int_equal(storage_term_at(fixture->log, 45, &term), ETHER_OK);
    assert_int_equal(term, 2);
}

static void test_ticket_survives_removal_of_its_segment(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 30, 1), ETHER_OK);
    struct storage_sync_ticket first;
    struct storage_sync_ticket second;
    assert_int_equal(storage_sync_begin(fixture->log, &first), ETHER_OK);
    assert_int_equal(storage_sync_begin(fixture->log, &second), ETHER_OK);
    /* A snapshot install removes every segment while both tickets are in flight. */
    assert_int_equal(storage_reset(fixture->log, 101, 500), ETHER_OK);
    assert_int_equal(first.durable_index, 30);
    assert_int_equal(storage_reset(fixture->log, 21, 500), ETHER_OK); /* and a lower one */
    assert_int_equal(first.durable_index, 20);
    assert_int_equal(storage_reset(fixture->log, 101, 500), ETHER_OK);
    assert_int_equal(storage_sync_run(&first), ETHER_OK); /* its dup'd fds are still valid */
    assert_int_equal(storage_sync_end(fixture->log, &first, ETHER_OK), ETHER_OK);
    assert_int_equal(first.durable_index, 20); /* lowered by the reset to 21, never raised */
    assert_int_equal(storage_sync_run(&second), ETHER_OK);
    assert_int_equal(storage_sync_end(fixture->log, &second, ETHER_OK), ETHER_OK);
    assert_int_equal(second.durable_index, 20);
    assert_int_equal(append_range(fixture->log, 101, 5, 1), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    fixture_reopen(fixture);
    assert_int_equal(bounds_of(fixture->log).last_index, 105);
}

static void test_end_without_run_releases_the_ticket_and_reports_nothing_durable(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 5, 1), ETHER_OK);
    struct storage_sync_ticket ticket;
    assert_int_equal(storage_sync_begin(fixture->log, &ticket), ETHER_OK);
    assert_true(ticket.data_fd >= 0);
    assert_int_equal(storage_sync_end(fixture->log, &ticket, ETHER_OK), ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(ticket.durable_index, 0);
    assert_int_equal(ticket.data_fd, -1);
    /* Nothing was marked clean: the next sync still syncs. */
    int calls_before = fixture->fault.fdatasync_calls;
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    assert_true(fixture->fault.fdatasync_calls > calls_before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
        TEST(test_sync_runs_without_the_lock_while_another_thread_appends),
        TEST(test_failed_fsync_in_run_marks_the_log_untrusted_at_end),
        TEST(test_writes_after_begin_stay_dirty_for_the_next_sync),
        TEST(test_suffix_cut_between_begin_and_end_lowers_the_durable_index),
        TEST(test_ticket_survives_removal_of_its_segment),
        TEST(test_end_without_run_releases_the_ticket_and_reports_nothing_durable),
#undef TEST
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
