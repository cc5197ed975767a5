/*
 * sync.c: making appended entries durable, in one call (storage_sync) or in
 * three steps (storage_sync_begin / _run / _end) so that the fdatasync runs
 * with no lock held while the owner keeps appending and reading.
 *
 * Happy path: begin (owner's lock held) dup()s the descriptors of the active
 * segment's dirty files, notes the dirty stamps they had and whether the
 * directory needs an fsync, and links the ticket into the log. Run (no lock)
 * syncs those descriptors and closes them; it reads only the ticket. End
 * (lock held again) unlinks the ticket and clears each dirty flag whose stamp
 * is still the captured one: a file written again after begin stays dirty for
 * the next sync. A suffix cut or reset between begin and end lowers the
 * tickets' durable_index (log_tickets_cut), so what end reports is never an
 * entry appended after begin.
 *
 * Failure modes: dup fails in begin (ETHER_ERR_IO, nothing captured, nothing
 * to end); a sync fails in run (its errno is kept in the ticket; end marks the
 * log untrusted and logs it, exactly like a failed storage_sync). The dup'd
 * descriptors keep a segment's file alive if it is closed or removed
 * meanwhile, so run never syncs a recycled descriptor.
 */
#include "common/error.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/panic.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <string.h>

static void ticket_close_fds(struct storage_sync_ticket *ticket)
{
    if (ticket->data_fd >= 0) {
        ticket->io->close(ticket->io->context, ticket->data_fd);
        ticket->data_fd = -1;
    }
    if (ticket->index_fd >= 0) {
        ticket->io->close(ticket->io->context, ticket->index_fd);
        ticket->index_fd = -1;
    }
    ETHER_ASSERT(ticket->data_fd < 0);
    ETHER_ASSERT(ticket->index_fd < 0);
}

static int ticket_dup(struct storage_log *log, struct storage_sync_ticket *ticket, int fd,
                      int *copy)
{
    int result = log->io->dup(log->io->context, fd);
    if (result < 0) {
        ticket_close_fds(ticket);
        return file_error(result);
    }
    *copy = result;
    return ETHER_OK;
}

int storage_sync_begin(struct storage_log *log, struct storage_sync_ticket *ticket)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    if (ticket == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    memset(ticket, 0, sizeof *ticket);
    ticket->io = log->io;
    ticket->data_fd = -1;
    ticket->index_fd = -1;
    for (size_t i = 0; i + 1 < log->segments_count; i++) {
        ETHER_ASSERT(!log->segments[i].log_dirty); /* a roll syncs the sealed segment */
        ETHER_ASSERT(!log->segments[i].index_dirty);
    }
    struct storage_segment *active = log_active(log);
    ticket->segment_id = active->id;
    ticket->durable_index = active->last_index;
    if (active->log_dirty) {
        result = ticket_dup(log, ticket, active->log_fd, &ticket->data_fd);
        if (result != ETHER_OK) {
            return result;
        }
        ticket->data_stamp = active->log_dirty_stamp;
    }
    if (active->index_dirty && active->index_lag_bytes >= log->options.index_sync_lag_bytes_max) {
        result = ticket_dup(log, ticket, active->index_fd, &ticket->index_fd);
        if (result != ETHER_OK) {
            return result;
        }
        ticket->index_stamp = active->index_dirty_stamp;
        ticket->index_lag_bytes = active->index_lag_bytes;
    }
    if (log->dir_dirty) {
        ticket->dir_path = ether_strdup(log->dir_path);
        ticket->dir_stamp = log->dir_dirty_stamp;
    }
    ticket->next = log->tickets_in_flight;
    log->tickets_in_flight = ticket;
    ETHER_ASSERT(ticket->data_stamp == 0 || ticket->data_fd >= 0);
    ETHER_ASSERT(ticket->durable_index == log_last_index(log));
    return ETHER_OK;
}

static void run_step(struct storage_sync_ticket *ticket, int result, const char *what)
{
    if (result < 0 && ticket->run_errno == 0) {
        ticket->run_errno = -result;
        ticket->run_failure = what;
    }
}

int storage_sync_run(struct storage_sync_ticket *ticket)
{
    ETHER_ASSERT(ticket != NULL);
    ETHER_ASSERT(!ticket->run_done);
    const struct storage_io *io = ticket->io;
    /* Order as in storage.h DURABILITY: data, directory, index. Stop at the first failure. */
    if (ticket->data_fd >= 0) {
        run_step(ticket, io->fdatasync(io->context, ticket->data_fd), "segment");
    }
    if (ticket->dir_path != NULL && ticket->run_errno == 0) {
        run_step(ticket, io->fsync_dir(io->context, ticket->dir_path), "directory");
    }
    if (ticket->index_fd >= 0 && ticket->run_errno == 0) {
        run_step(ticket, io->fdatasync(io->context, ticket->index_fd), "index");
    }
    ticket_close_fds(ticket);
    ticket->run_done = true;
    return ticket->run_errno == 0 ? ETHER_OK : ETHER_ERR_LOG_UNTRUSTED;
}

static void unlink_ticket(struct storage_log *log, struct storage_sync_ticket *ticket)
{
    struct storage_sync_ticket **link = &log->tickets_in_flight;
    while (*link != NULL && *link != ticket) {
        link = &(*link)->next;
    }
    ETHER_ASSERT(*link == ticket); /* end without begin, or twice */
    *link = ticket->next;
    ticket->next = NULL;
}

static struct storage_segment *segment_by_id(struct storage_log *log, uint64_t id)
{
    for (size_t i = log->segments_count; i > 0; i--) {
        if (log->segments[i - 1].id == id) {
            return &log->segments[i - 1];
        }
    }
    return NULL;
}

int storage_sync_end(struct storage_log *log, struct storage_sync_ticket *ticket, int run_result)
{
    ETHER_ASSERT(log != NULL);
    ETHER_ASSERT(ticket != NULL);
    unlink_ticket(log, ticket);
    bool run_done = ticket->run_done;
    ticket_close_fds(ticket);
    ether_free(ticket->dir_path);
    ticket->dir_path = NULL;
    if (!run_done) {
        ticket->durable_index = 0;
        return run_result != ETHER_OK ? run_result : ETHER_ERR_INVALID_ARGUMENT;
    }
    if (run_result != ETHER_OK || ticket->run_errno != 0) {
        if (log->untrusted) {
            return ETHER_ERR_LOG_UNTRUSTED;
        }
        int run_errno = ticket->run_errno != 0 ? ticket->run_errno : EIO;
        return file_sync_failed(log, -run_errno,
                                ticket->run_failure != NULL ? ticket->run_failure : "segment");
    }
    if (log->untrusted) {
        return ETHER_ERR_LOG_UNTRUSTED;
    }
    struct storage_segment *segment = segment_by_id(log, ticket->segment_id);
    if (segment != NULL) {
        if (ticket->data_stamp != 0 && segment->log_dirty_stamp == ticket->data_stamp) {
            segment->log_dirty = false;
        }
        if (ticket->index_stamp != 0) {
            segment->index_lag_bytes -= ticket->index_lag_bytes < segment->index_lag_bytes
                                            ? ticket->index_lag_bytes
                                            : segment->index_lag_bytes;
            if (segment->index_dirty_stamp == ticket->index_stamp) {
                segment->index_dirty = false;
                segment->index_lag_bytes = 0;
            }
        }
    }
    if (ticket->dir_stamp != 0 && log->dir_dirty_stamp == ticket->dir_stamp) {
        log->dir_dirty = false;
    }
    ETHER_ASSERT(ticket->durable_index <= log_last_index(log));
    return ETHER_OK;
}

int storage_sync(struct storage_log *log)
{
    struct storage_sync_ticket ticket;
    int result = storage_sync_begin(log, &ticket);
    if (result != ETHER_OK) {
        return result;
    }
    result = storage_sync_run(&ticket);
    result = storage_sync_end(log, &ticket, result);
    ETHER_ASSERT(result != ETHER_OK || !log_active(log)->log_dirty);
    ETHER_ASSERT(result != ETHER_OK || !log->dir_dirty);
    return result;
}
