/*
 * Small C helpers for the Go binding (static inline, compiled into the cgo
 * preamble). They exist so that no call passes a pointer to a Go variable
 * just to receive an out-parameter: such a pointer would make the variable
 * escape to the heap on every call. Results come back by value instead, and
 * a cursor's read buffer lives in C memory.
 */
#ifndef FANLOG_GO_H
#define FANLOG_GO_H

#include <stdlib.h>

#include "fanlog.h"

/* Records a Go cursor fetches per call (fanlog_cursor_next_batch). */
#define FANLOG_GO_BATCH 64

/* A status and a sequence number, returned by value. */
typedef struct fanlog_go_seq_result {
    fanlog_status status;
    uint64_t seq;
} fanlog_go_seq_result;

static inline fanlog_go_seq_result fanlog_go_log_append(const fanlog_log *log, uint32_t kind,
                                                        const uint8_t *data, size_t len,
                                                        uint64_t timeout_ns) {
    fanlog_go_seq_result r = {FANLOG_OK, 0};
    r.status = fanlog_log_append(log, kind, data, len, timeout_ns, &r.seq);
    return r;
}

static inline fanlog_go_seq_result fanlog_go_log_append_batch(const fanlog_log *log, uint32_t kind,
                                                              const fanlog_slice *records,
                                                              size_t count, uint64_t timeout_ns) {
    fanlog_go_seq_result r = {FANLOG_OK, 0};
    r.status = fanlog_log_append_batch(log, kind, records, count, timeout_ns, &r.seq);
    return r;
}

/* Most records a Writer appends per call of fanlog_go_log_append_packed. */
#define FANLOG_GO_PACKED_MAX 256

/*
 * Appends count (<= FANLOG_GO_PACKED_MAX) records packed back to back in
 * buf, record i ending at ends[i], as one batch. buf and ends are Go memory
 * (without Go pointers in them), passed for the call only: the slices that
 * point into buf live on this C stack, so no copy to C memory is needed.
 */
static inline fanlog_go_seq_result fanlog_go_log_append_packed(const fanlog_log *log,
                                                               uint32_t kind,
                                                               const uint8_t *buf,
                                                               const size_t *ends, size_t count,
                                                               uint64_t timeout_ns) {
    fanlog_go_seq_result r = {FANLOG_INVALID_ARGUMENT, 0};
    fanlog_slice recs[FANLOG_GO_PACKED_MAX];
    if (count > FANLOG_GO_PACKED_MAX) {
        return r;
    }
    size_t start = 0;
    for (size_t i = 0; i < count; i++) {
        recs[i].data = buf != NULL ? buf + start : NULL; /* buf is NULL if every record is empty */
        recs[i].len = ends[i] - start;
        start = ends[i];
    }
    r.status = fanlog_log_append_batch(log, kind, recs, count, timeout_ns, &r.seq);
    return r;
}

static inline fanlog_go_seq_result fanlog_go_producer_append(const fanlog_producer *p,
                                                             uint32_t kind, const uint8_t *data,
                                                             size_t len, uint64_t timeout_ns) {
    fanlog_go_seq_result r = {FANLOG_OK, 0};
    r.status = fanlog_producer_append(p, kind, data, len, timeout_ns, &r.seq);
    return r;
}

static inline fanlog_go_seq_result fanlog_go_producer_append_batch(const fanlog_producer *p,
                                                                   uint32_t kind,
                                                                   const fanlog_slice *records,
                                                                   size_t count,
                                                                   uint64_t timeout_ns) {
    fanlog_go_seq_result r = {FANLOG_OK, 0};
    r.status = fanlog_producer_append_batch(p, kind, records, count, timeout_ns, &r.seq);
    return r;
}

/* A Go cursor's read buffer, in C memory (calloc'd, freed with the cursor). */
typedef struct fanlog_go_cursor_buf {
    fanlog_record recs[FANLOG_GO_BATCH];
    size_t count;
    uint64_t missed;
} fanlog_go_cursor_buf;

/* A non-blocking batch read into the cursor's buffer. */
static inline fanlog_status fanlog_go_cursor_fill(const fanlog_cursor *c, fanlog_go_cursor_buf *b) {
    b->count = 0;
    b->missed = 0;
    return fanlog_cursor_next_batch(c, FANLOG_NO_WAIT, b->recs, FANLOG_GO_BATCH, &b->count,
                                    &b->missed);
}

/* A publish's status and counts, returned by value. */
typedef struct fanlog_go_publish_result {
    fanlog_status status;
    uint64_t delivered;
    uint64_t dropped;
} fanlog_go_publish_result;

static inline fanlog_go_publish_result fanlog_go_hub_publish(const fanlog_hub *hub, uint32_t kind,
                                                             const uint8_t *data, size_t len) {
    fanlog_go_publish_result r = {FANLOG_OK, 0, 0};
    r.status = fanlog_hub_publish(hub, kind, data, len, &r.delivered, &r.dropped);
    return r;
}

static inline fanlog_go_publish_result fanlog_go_hub_publish_batch(const fanlog_hub *hub,
                                                                   uint32_t kind,
                                                                   const fanlog_slice *records,
                                                                   size_t count) {
    fanlog_go_publish_result r = {FANLOG_OK, 0, 0};
    r.status = fanlog_hub_publish_batch(hub, kind, records, count, &r.delivered, &r.dropped);
    return r;
}

/*
 * A non-blocking batch receive from a subscription into a Go cursor
 * buffer: fanlog_event and fanlog_record have the same fields, so the Go
 * side reads both the same way. The events' data pointers keep the
 * subscription's validity rule (until its next receive or free).
 */
static inline fanlog_status fanlog_go_subscription_fill(const fanlog_subscription *sub,
                                                        fanlog_go_cursor_buf *b) {
    fanlog_event ev[FANLOG_GO_BATCH];
    size_t n = 0;
    b->count = 0;
    b->missed = 0;
    fanlog_status st = fanlog_subscription_next_batch(sub, FANLOG_NO_WAIT, ev, FANLOG_GO_BATCH, &n);
    if (st != FANLOG_OK) return st;
    for (size_t i = 0; i < n; i++) {
        b->recs[i].seq = ev[i].seq;
        b->recs[i].timestamp_ns = ev[i].timestamp_ns;
        b->recs[i].data = ev[i].data;
        b->recs[i].len = ev[i].len;
        b->recs[i].kind = ev[i].kind;
    }
    b->count = n;
    return FANLOG_OK;
}

/* A snapshot reference's contents, returned by value. */
typedef struct fanlog_go_ref_data {
    fanlog_status status;
    const uint8_t *data;
    size_t len;
    uint64_t version;
} fanlog_go_ref_data;

static inline fanlog_go_ref_data fanlog_go_snapshot_ref_data(const fanlog_snapshot_ref *ref) {
    fanlog_go_ref_data r = {FANLOG_OK, NULL, 0, 0};
    r.status = fanlog_snapshot_ref_data(ref, &r.data, &r.len, &r.version);
    return r;
}

#endif /* FANLOG_GO_H */
