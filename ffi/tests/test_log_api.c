/* Every exported log/producer/cursor function, and every error path. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static fanlog_log *small_log(uint32_t overflow, size_t segments) {
    fanlog_log_options o;
    OK(fanlog_log_options_default(&o));
    o.segment_size = 256;
    o.max_bytes = 256 * segments;
    o.overflow = overflow;
    fanlog_log *log = NULL;
    OK(fanlog_log_new(&o, &log));
    CHECK(log != NULL);
    return log;
}

static void test_versions_and_strings(void) {
    CHECK(fanlog_abi_version() == FANLOG_ABI_VERSION);
    CHECK(strlen(fanlog_version_string()) > 0);
    CHECK(strcmp(fanlog_status_str(FANLOG_OK), "ok") == 0);
    CHECK(strstr(fanlog_status_str(FANLOG_LAGGED), "lagged") != NULL);
    CHECK(strcmp(fanlog_status_str(12345), "unknown status code") == 0);
    CHECK(strstr(fanlog_status_str(FANLOG_SYNC_FAILED), "were appended") != NULL);
}

static void test_options(void) {
    fanlog_log_options o;
    EXPECT(fanlog_log_options_default(NULL), FANLOG_NULL_ARGUMENT);
    OK(fanlog_log_options_default(&o));
    CHECK(o.segment_size == 1u << 20);
    CHECK(o.overflow == FANLOG_OVERFLOW_BLOCK);
    fanlog_log *log = NULL;
    EXPECT(fanlog_log_new(&o, NULL), FANLOG_NULL_ARGUMENT);
    o.segment_size = 1000; /* not a power of two */
    EXPECT(fanlog_log_new(&o, &log), FANLOG_INVALID_ARGUMENT);
    CHECK(log == NULL); /* out written only on success */
    OK(fanlog_log_options_default(&o));
    o.overflow = 7;
    EXPECT(fanlog_log_new(&o, &log), FANLOG_INVALID_ARGUMENT);
    OK(fanlog_log_options_default(&o));
    o.wait_strategy = 9;
    EXPECT(fanlog_log_new(&o, &log), FANLOG_INVALID_ARGUMENT);
    OK(fanlog_log_options_default(&o));
    o.timestamps = 9;
    EXPECT(fanlog_log_new(&o, &log), FANLOG_INVALID_ARGUMENT);
    OK(fanlog_log_options_default(&o));
    o.max_bytes = o.segment_size; /* fewer than two segments */
    EXPECT(fanlog_log_new(&o, &log), FANLOG_INVALID_ARGUMENT);
    OK(fanlog_log_options_default(&o));
    /* a pool too large to allocate its slots: an error, not an abort */
    o.segment_size = 256;
    o.max_bytes = SIZE_MAX;
    o.pool_segments = UINT32_MAX;
    EXPECT(fanlog_log_new(&o, &log), FANLOG_INVALID_ARGUMENT);
    o.pool_segments = 65536; /* the largest accepted */
    OK(fanlog_log_new(&o, &log));
    fanlog_log_free(log);
    log = NULL;
    OK(fanlog_log_new(NULL, &log)); /* NULL options: defaults */
    fanlog_log_free(log);
    fanlog_log_free(NULL); /* no-op */
}

static void test_append_read(void) {
    fanlog_log *log = small_log(FANLOG_OVERFLOW_BLOCK, 4);
    fanlog_cursor *c = NULL;
    OK(fanlog_cursor_new(log, FANLOG_START_EARLIEST, 0, &c));
    uint64_t seq = 99;
    OK(fanlog_log_append(log, 7, (const uint8_t *)"hello", 5, FANLOG_NO_WAIT, &seq));
    CHECK(seq == 0);
    OK(fanlog_log_append(log, 0, NULL, 0, FANLOG_NO_WAIT, &seq)); /* empty record */
    CHECK(seq == 1);
    EXPECT(fanlog_log_append(log, 0, NULL, 3, FANLOG_NO_WAIT, &seq), FANLOG_NULL_ARGUMENT);
    uint8_t big[300] = {0};
    seq = 42;
    EXPECT(fanlog_log_append(log, 0, big, sizeof big, FANLOG_NO_WAIT, &seq), FANLOG_TOO_LARGE);
    CHECK(seq == 42);

    fanlog_record r;
    uint64_t missed = 0;
    EXPECT(fanlog_cursor_next(c, 0, NULL, &missed), FANLOG_NULL_ARGUMENT);
    OK(fanlog_cursor_next(c, FANLOG_NO_WAIT, &r, &missed));
    CHECK(r.seq == 0 && r.kind == 7 && r.len == 5 && memcmp(r.data, "hello", 5) == 0);
    CHECK(r.timestamp_ns > 0);
    OK(fanlog_cursor_next(c, FANLOG_NO_WAIT, &r, NULL));
    CHECK(r.seq == 1 && r.len == 0);
    EXPECT(fanlog_cursor_next(c, FANLOG_NO_WAIT, &r, NULL), FANLOG_EMPTY);
    EXPECT(fanlog_cursor_next(c, 5 * 1000 * 1000, &r, NULL), FANLOG_TIMEOUT);

    /* Batch append and batch read. */
    fanlog_slice recs[3] = {{(const uint8_t *)"a", 1}, {(const uint8_t *)"bb", 2}, {NULL, 0}};
    uint64_t first = 0;
    OK(fanlog_log_append_batch(log, 3, recs, 3, FANLOG_NO_WAIT, &first));
    CHECK(first == 2);
    fanlog_slice bad[1] = {{NULL, 4}};
    EXPECT(fanlog_log_append_batch(log, 3, bad, 1, FANLOG_NO_WAIT, &first), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_log_append_batch(log, 3, NULL, 2, FANLOG_NO_WAIT, &first), FANLOG_NULL_ARGUMENT);
    fanlog_record out[8];
    size_t n = 0;
    EXPECT(fanlog_cursor_next_batch(c, 0, out, 0, &n, NULL), FANLOG_INVALID_ARGUMENT);
    EXPECT(fanlog_cursor_next_batch(c, 0, out, 8, NULL, NULL), FANLOG_NULL_ARGUMENT);
    OK(fanlog_cursor_next_batch(c, FANLOG_NO_WAIT, out, 8, &n, NULL));
    CHECK(n == 3);
    CHECK(out[0].seq == 2 && out[0].len == 1 && out[0].data[0] == 'a');
    CHECK(out[1].seq == 3 && out[1].len == 2 && memcmp(out[1].data, "bb", 2) == 0);
    CHECK(out[2].seq == 4 && out[2].len == 0 && out[2].kind == 3);

    /* Copy-out read: too small keeps the record. */
    OK(fanlog_log_append(log, 1, (const uint8_t *)"copy me", 7, FANLOG_NO_WAIT, NULL));
    uint8_t buf[16];
    size_t needed = 0;
    EXPECT(fanlog_cursor_next_copy(c, 0, buf, 3, &r, &needed, NULL), FANLOG_BUFFER_TOO_SMALL);
    CHECK(needed == 7);
    EXPECT(fanlog_cursor_next_copy(c, 0, NULL, 3, &r, &needed, NULL), FANLOG_NULL_ARGUMENT);
    OK(fanlog_cursor_next_copy(c, 0, buf, sizeof buf, &r, &needed, NULL));
    CHECK(r.seq == 5 && r.len == 7 && r.data == buf && memcmp(buf, "copy me", 7) == 0);

    /* Stats. */
    fanlog_log_stats ls;
    OK(fanlog_log_get_stats(log, &ls));
    CHECK(ls.records_appended == 6 && ls.cursors == 1 && ls.closed == 0);
    EXPECT(fanlog_log_get_stats(log, NULL), FANLOG_NULL_ARGUMENT);
    fanlog_cursor_stats cs;
    OK(fanlog_cursor_get_stats(c, &cs));
    CHECK(cs.records_read == 6 && cs.position == 6 && cs.lag == 0);

    fanlog_cursor_free(c);
    fanlog_log_free(log);
}

/* Limits: a batch whose frames sum to exactly one segment fits; one more
 * byte of payload does not, and nothing is appended. */
static void test_limits(void) {
    fanlog_log *log = small_log(FANLOG_OVERFLOW_BLOCK, 4);
    fanlog_log_limits lim;
    EXPECT(fanlog_log_get_limits(NULL, &lim), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_log_get_limits(log, NULL), FANLOG_NULL_ARGUMENT);
    OK(fanlog_log_get_limits(log, &lim));
    CHECK(lim.segment_size == 256);
    CHECK(lim.frame_align == 8);
    CHECK(lim.frame_header == 24); /* default options: coarse timestamps */
    CHECK(lim.max_record_size == 256 - 24);
    /* 8 records of 8 bytes: 8 * (24 + 8) = 256 bytes, one segment. */
    static const uint8_t payload[16] = {0};
    fanlog_slice recs[9];
    for (int i = 0; i < 9; i++) {
        recs[i].data = payload;
        recs[i].len = 8;
    }
    uint64_t first = 99;
    OK(fanlog_log_append_batch(log, 0, recs, 8, FANLOG_NO_WAIT, &first));
    CHECK(first == 0);
    recs[7].len = 9; /* rounds up to 16: 264 bytes */
    EXPECT(fanlog_log_append_batch(log, 0, recs, 8, FANLOG_NO_WAIT, &first), FANLOG_TOO_LARGE);
    EXPECT(fanlog_log_append_batch(log, 0, recs, 9, FANLOG_NO_WAIT, &first), FANLOG_TOO_LARGE);
    fanlog_log_stats ls;
    OK(fanlog_log_get_stats(log, &ls));
    CHECK(ls.records_appended == 8);
    /* The largest record fits alone; one byte more is refused. */
    static uint8_t big[256];
    OK(fanlog_log_append(log, 0, big, lim.max_record_size, FANLOG_NO_WAIT, NULL));
    EXPECT(fanlog_log_append(log, 0, big, lim.max_record_size + 1, FANLOG_NO_WAIT, NULL),
           FANLOG_TOO_LARGE);
    OK(fanlog_log_close(log, 0, NULL));
    OK(fanlog_log_get_limits(log, &lim)); /* still answers after close */
    CHECK(lim.segment_size == 256);
    fanlog_log_free(log);
}

static void test_start_positions(void) {
    fanlog_log *log = small_log(FANLOG_OVERFLOW_DROP_OLDEST, 2);
    for (uint64_t i = 0; i < 100; i++) OK(fanlog_log_append(log, 0, (uint8_t *)&i, 8, 0, NULL));
    fanlog_cursor *c = NULL;
    EXPECT(fanlog_cursor_new(log, FANLOG_START_AT, 0, &c), FANLOG_EVICTED);
    EXPECT(fanlog_cursor_new(log, FANLOG_START_AT, 1000, &c), FANLOG_FUTURE);
    EXPECT(fanlog_cursor_new(log, 17, 0, &c), FANLOG_INVALID_ARGUMENT);
    EXPECT(fanlog_cursor_new(log, FANLOG_START_LATEST, 0, NULL), FANLOG_NULL_ARGUMENT);
    CHECK(c == NULL);
    OK(fanlog_cursor_new(log, FANLOG_START_AT, 99, &c));
    fanlog_record r;
    OK(fanlog_cursor_next(c, 0, &r, NULL));
    CHECK(r.seq == 99);
    fanlog_cursor_free(c);
    OK(fanlog_cursor_new(log, FANLOG_START_LATEST, 0, &c));
    EXPECT(fanlog_cursor_next(c, 0, &r, NULL), FANLOG_EMPTY);
    fanlog_cursor_free(c);
    fanlog_log_free(log);
}

static void test_lagged(void) {
    fanlog_log *log = small_log(FANLOG_OVERFLOW_DROP_OLDEST, 2);
    fanlog_cursor *c = NULL;
    OK(fanlog_cursor_new(log, FANLOG_START_EARLIEST, 0, &c));
    for (uint64_t i = 0; i < 200; i++) OK(fanlog_log_append(log, 0, (uint8_t *)&i, 8, 0, NULL));
    uint64_t read = 0, missed_total = 0, expect = 0;
    int lagged = 0;
    for (;;) {
        fanlog_record r;
        uint64_t missed = 0;
        fanlog_status s = fanlog_cursor_next(c, 0, &r, &missed);
        if (s == FANLOG_OK) {
            uint64_t v;
            memcpy(&v, r.data, 8);
            CHECK(r.seq == expect && v == r.seq);
            expect++;
            read++;
        } else if (s == FANLOG_LAGGED) {
            CHECK(missed > 0);
            missed_total += missed;
            expect += missed;
            lagged++;
        } else {
            CHECK(s == FANLOG_EMPTY);
            break;
        }
    }
    CHECK(lagged == 1);
    CHECK(read + missed_total == 200);
    fanlog_log_stats ls;
    OK(fanlog_log_get_stats(log, &ls));
    CHECK(ls.records_missed == missed_total && ls.segments_evicted > 0);
    fanlog_cursor_free(c);
    fanlog_log_free(log);
}

static void test_close_status(void) {
    fanlog_log *log = small_log(FANLOG_OVERFLOW_BLOCK, 4);
    fanlog_cursor *c = NULL;
    OK(fanlog_cursor_new(log, FANLOG_START_EARLIEST, 0, &c));
    int32_t code = 0;
    char msg[64];
    size_t len = 0;
    EXPECT(fanlog_log_close_status(log, &code, msg, sizeof msg, &len), FANLOG_EMPTY);
    OK(fanlog_log_append(log, 0, (const uint8_t *)"x", 1, 0, NULL));
    OK(fanlog_log_close(log, 7, "disk on fire"));
    EXPECT(fanlog_log_close(log, 0, NULL), FANLOG_CLOSED); /* idempotent */
    EXPECT(fanlog_log_append(log, 0, (const uint8_t *)"y", 1, 0, NULL), FANLOG_CLOSED);
    fanlog_record r;
    OK(fanlog_cursor_next(c, FANLOG_WAIT_FOREVER, &r, NULL)); /* drains first */
    EXPECT(fanlog_cursor_next(c, FANLOG_WAIT_FOREVER, &r, NULL), FANLOG_CLOSED);
    EXPECT(fanlog_cursor_close_status(c, &code, msg, 4, &len), FANLOG_BUFFER_TOO_SMALL);
    CHECK(len == strlen("disk on fire"));
    OK(fanlog_cursor_close_status(c, &code, msg, sizeof msg, &len));
    CHECK(code == 7 && strcmp(msg, "disk on fire") == 0);
    OK(fanlog_log_close_status(log, &code, NULL, 0, &len)); /* length only */
    CHECK(len == 12);
    len = 99; /* a NULL buffer with a capacity: refused, nothing written */
    EXPECT(fanlog_log_close_status(log, &code, NULL, 5, &len), FANLOG_NULL_ARGUMENT);
    CHECK(len == 99);
    fanlog_log_stats ls;
    OK(fanlog_log_get_stats(log, &ls));
    CHECK(ls.closed == 1);
    fanlog_cursor_free(c);
    fanlog_log_free(log);
}

static void test_handles(void) {
    fanlog_log *log = small_log(FANLOG_OVERFLOW_BLOCK, 4);
    fanlog_producer *p = NULL;
    fanlog_cursor *c = NULL;
    OK(fanlog_producer_new(log, &p));
    OK(fanlog_cursor_new(log, FANLOG_START_EARLIEST, 0, &c));
    /* NULL handles. */
    EXPECT(fanlog_log_append(NULL, 0, NULL, 0, 0, NULL), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_cursor_next(NULL, 0, &(fanlog_record){0}, NULL), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_producer_append(NULL, 0, NULL, 0, 0, NULL), FANLOG_NULL_ARGUMENT);
    /* Wrong type. */
    EXPECT(fanlog_log_append((const fanlog_log *)(const void *)c, 0, NULL, 0, 0, NULL), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_cursor_interrupt((const fanlog_cursor *)(const void *)log), FANLOG_INVALID_HANDLE);
    /* The producer and cursor outlive the log handle. */
    fanlog_log_free(log);
    uint64_t seq = 9;
    OK(fanlog_producer_append(p, 1, (const uint8_t *)"after", 5, 0, &seq));
    CHECK(seq == 0);
    fanlog_slice one = {(const uint8_t *)"b", 1};
    OK(fanlog_producer_append_batch(p, 1, &one, 1, 0, &seq));
    CHECK(seq == 1);
    fanlog_record r;
    OK(fanlog_cursor_next(c, 0, &r, NULL));
    CHECK(r.len == 5);
    /* Use after free is detected. */
    EXPECT(fanlog_log_append(log, 0, NULL, 0, 0, NULL), FANLOG_INVALID_HANDLE);
    fanlog_log_free(log); /* double free: ignored */
    fanlog_producer_free(p);
    EXPECT(fanlog_producer_append(p, 0, NULL, 0, 0, NULL), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_producer_interrupt(p), FANLOG_INVALID_HANDLE);
    fanlog_cursor_free(c);
    EXPECT(fanlog_cursor_next(c, 0, &r, NULL), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_cursor_interrupt(c), FANLOG_INVALID_HANDLE);
    fanlog_cursor_free(c);
    fanlog_producer_free(NULL);
    fanlog_cursor_free(NULL);
}

struct blocked_read {
    fanlog_cursor *c;
    fanlog_status status;
};

static void *read_forever(void *arg) {
    struct blocked_read *b = arg;
    fanlog_record r;
    b->status = fanlog_cursor_next(b->c, FANLOG_WAIT_FOREVER, &r, NULL);
    return NULL;
}

static void test_interrupt_and_busy(void) {
    fanlog_log *log = small_log(FANLOG_OVERFLOW_BLOCK, 4);
    struct blocked_read b = {NULL, FANLOG_OK};
    OK(fanlog_cursor_new(log, FANLOG_START_LATEST, 0, &b.c));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, read_forever, &b) == 0);
    sleep_ms(50);
    fanlog_record r;
    EXPECT(fanlog_cursor_next(b.c, 0, &r, NULL), FANLOG_BUSY); /* single consumer */
    OK(fanlog_cursor_interrupt(b.c));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(b.status == FANLOG_INTERRUPTED);
    /* Sticky: an interrupt with nobody waiting hits the next wait. */
    OK(fanlog_cursor_interrupt(b.c));
    EXPECT(fanlog_cursor_next(b.c, FANLOG_WAIT_FOREVER, &r, NULL), FANLOG_INTERRUPTED);
    fanlog_cursor_free(b.c);
    fanlog_log_free(log);
}

struct blocked_append {
    fanlog_producer *p;
    fanlog_status status;
};

static void *append_forever(void *arg) {
    struct blocked_append *b = arg;
    uint8_t x[64] = {0};
    for (;;) {
        fanlog_status s = fanlog_producer_append(b->p, 0, x, sizeof x, FANLOG_WAIT_FOREVER, NULL);
        if (s != FANLOG_OK) {
            b->status = s;
            return NULL;
        }
    }
}

static void test_blocked_producer(void) {
    fanlog_log *log = small_log(FANLOG_OVERFLOW_BLOCK, 2);
    fanlog_cursor *slow = NULL;
    OK(fanlog_cursor_new(log, FANLOG_START_EARLIEST, 0, &slow));
    struct blocked_append b = {NULL, FANLOG_OK};
    OK(fanlog_producer_new(log, &b.p));
    uint8_t x[64] = {0};
    while (fanlog_producer_append(b.p, 0, x, sizeof x, FANLOG_NO_WAIT, NULL) == FANLOG_OK) {
    }
    EXPECT(fanlog_producer_append(b.p, 0, x, sizeof x, FANLOG_NO_WAIT, NULL), FANLOG_FULL);
    EXPECT(fanlog_producer_append(b.p, 0, x, sizeof x, 10 * 1000 * 1000, NULL), FANLOG_TIMEOUT);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, append_forever, &b) == 0);
    sleep_ms(30);
    OK(fanlog_producer_interrupt(b.p));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(b.status == FANLOG_INTERRUPTED);
    /* Close wakes a blocked producer too. */
    b.status = FANLOG_OK;
    CHECK(pthread_create(&t, NULL, append_forever, &b) == 0);
    sleep_ms(30);
    OK(fanlog_log_close(log, 0, NULL));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(b.status == FANLOG_CLOSED);
    fanlog_producer_free(b.p);
    fanlog_cursor_free(slow);
    fanlog_log_free(log);
}

static int readable(int fd, int ms) {
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) == 1;
}

static void test_readiness_fd(void) {
    fanlog_log *log = small_log(FANLOG_OVERFLOW_BLOCK, 4);
    fanlog_cursor *c = NULL;
    OK(fanlog_cursor_new(log, FANLOG_START_LATEST, 0, &c));
    int fd = -1, fd2 = -2;
    EXPECT(fanlog_cursor_readiness_fd(c, NULL), FANLOG_NULL_ARGUMENT);
    OK(fanlog_cursor_readiness_fd(c, &fd));
    OK(fanlog_cursor_readiness_fd(c, &fd2));
    CHECK(fd >= 0 && fd == fd2);
    CHECK(!readable(fd, 0));
    OK(fanlog_log_append(log, 0, (const uint8_t *)"a", 1, 0, NULL));
    CHECK(readable(fd, 1000));
    fanlog_record r;
    OK(fanlog_cursor_next(c, 0, &r, NULL));
    EXPECT(fanlog_cursor_next(c, 0, &r, NULL), FANLOG_EMPTY);
    CHECK(!readable(fd, 0));
    OK(fanlog_cursor_interrupt(c));
    CHECK(readable(fd, 1000));
    /* A non-blocking read reports the pending interrupt (and consumes it). */
    EXPECT(fanlog_cursor_next(c, 0, &r, NULL), FANLOG_INTERRUPTED);
    EXPECT(fanlog_cursor_next(c, 0, &r, NULL), FANLOG_EMPTY);
    OK(fanlog_log_close(log, 0, NULL));
    CHECK(readable(fd, 1000));
    EXPECT(fanlog_cursor_next(c, 0, &r, NULL), FANLOG_CLOSED);
    fanlog_cursor_free(c);
    fanlog_log_free(log);
}

int main(void) {
    test_versions_and_strings();
    test_options();
    test_append_read();
    test_limits();
    test_start_positions();
    test_lagged();
    test_close_status();
    test_handles();
    test_interrupt_and_busy();
    test_blocked_producer();
    test_readiness_fd();
    printf("test_log_api: all passed\n");
    return 0;
}
