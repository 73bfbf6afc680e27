/* fanout.c: one producer thread, three consumer threads (one slow), a clean
 * shutdown with a completion status that every consumer sees after it has
 * drained everything. Build and run (after `cargo build --release`):
 *
 *   cc -O2 -Iinclude ffi/examples/fanout.c target/release/libfanlog.a \
 *      -lpthread -ldl -lm -o fanout && ./fanout
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fanlog.h"

#define RECORDS 1000000
#define CONSUMERS 3

struct consumer {
    fanlog_cursor *cursor;
    int slow;
    uint64_t read;
    uint64_t sum;
    int ok;
};

static void *consume(void *arg) {
    struct consumer *c = arg;
    fanlog_record batch[256];
    uint64_t expect = 0;
    c->ok = 1;
    for (;;) {
        size_t n = 0;
        fanlog_status s = fanlog_cursor_next_batch(c->cursor, FANLOG_WAIT_FOREVER, batch, 256, &n, NULL);
        if (s == FANLOG_CLOSED) break;
        if (s != FANLOG_OK) {
            fprintf(stderr, "consumer: %s\n", fanlog_status_str(s));
            c->ok = 0;
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t v;
            memcpy(&v, batch[i].data, sizeof v);
            if (batch[i].seq != expect || v != expect) c->ok = 0;
            expect++;
            c->sum += v;
        }
        c->read += n;
        if (c->slow) {
            struct timespec ts = {0, 20000}; /* 20 us per batch */
            nanosleep(&ts, NULL);
        }
    }
    /* The producer's completion status, seen after draining. */
    int32_t code = 0;
    char msg[128];
    if (fanlog_cursor_close_status(c->cursor, &code, msg, sizeof msg, NULL) != FANLOG_OK || code != 0) c->ok = 0;
    return NULL;
}

int main(void) {
    if (fanlog_abi_version() != FANLOG_ABI_VERSION) {
        fprintf(stderr, "header/library mismatch\n");
        return 1;
    }
    fanlog_log_options opts;
    fanlog_log_options_default(&opts);
    opts.segment_size = 1 << 20;
    opts.max_bytes = 16 << 20; /* Block: the slow consumer throttles the producer */
    fanlog_log *log = NULL;
    fanlog_status s = fanlog_log_new(&opts, &log);
    if (s != FANLOG_OK) {
        fprintf(stderr, "fanlog_log_new: %s\n", fanlog_status_str(s));
        return 1;
    }
    struct consumer cs[CONSUMERS];
    pthread_t threads[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) {
        memset(&cs[i], 0, sizeof cs[i]);
        cs[i].slow = (i == CONSUMERS - 1);
        fanlog_cursor_new(log, FANLOG_START_EARLIEST, 0, &cs[i].cursor);
        pthread_create(&threads[i], NULL, consume, &cs[i]);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t i = 0; i < RECORDS; i++) {
        s = fanlog_log_append(log, 0, (const uint8_t *)&i, sizeof i, FANLOG_WAIT_FOREVER, NULL);
        if (s != FANLOG_OK) {
            fprintf(stderr, "append: %s\n", fanlog_status_str(s));
            return 1;
        }
    }
    fanlog_log_close(log, 0, NULL); /* success: code 0, no message */
    int ok = 1;
    uint64_t want = (uint64_t)RECORDS * (RECORDS - 1) / 2;
    for (int i = 0; i < CONSUMERS; i++) {
        pthread_join(threads[i], NULL);
        printf("consumer %d%s: %" PRIu64 " records, %s\n", i, cs[i].slow ? " (slow)" : "", cs[i].read,
               cs[i].ok && cs[i].read == RECORDS && cs[i].sum == want ? "verified" : "FAILED");
        ok &= cs[i].ok && cs[i].read == RECORDS && cs[i].sum == want;
        fanlog_cursor_free(cs[i].cursor);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fanlog_log_stats st;
    fanlog_log_get_stats(log, &st);
    printf("%d records to %d consumers in %.3f s (%.1f M records/s appended), peak retained %zu KiB\n", RECORDS,
           CONSUMERS, secs, RECORDS / secs / 1e6, st.peak_bytes_retained / 1024);
    fanlog_log_free(log);
    printf(ok ? "VERIFIED\n" : "FAILED\n");
    return ok ? 0 : 1;
}
