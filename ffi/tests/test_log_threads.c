/* 4 producer threads x 4 cursor threads with exact in-order checks, a
 * DropOldest run with lag accounting, and close with an error status
 * drained by every cursor. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define PRODUCERS 4
#define CURSORS 4
static uint64_t PER_PRODUCER = 200000; /* FANLOG_TEST_RECORDS overrides (valgrind runs) */

struct rec {
    uint32_t producer;
    uint32_t pad;
    uint64_t n;
    uint64_t check;
};

static uint64_t mix(uint32_t p, uint64_t n) { return (p * 0x9E3779B97F4A7C15ull) ^ (n * 0xC2B2AE3D27D4EB4Full); }

struct prod_arg {
    fanlog_log *log;
    uint32_t id;
};

static void *produce(void *arg) {
    struct prod_arg *a = arg;
    fanlog_producer *p = NULL;
    OK(fanlog_producer_new(a->log, &p));
    for (uint64_t n = 0; n < PER_PRODUCER;) {
        if (a->id % 2 == 0) {
            struct rec r = {a->id, 0, n, mix(a->id, n)};
            OK(fanlog_producer_append(p, a->id, (const uint8_t *)&r, sizeof r, FANLOG_WAIT_FOREVER, NULL));
            n++;
        } else {
            struct rec rs[8];
            fanlog_slice sl[8];
            int k = 0;
            for (; k < 8 && n < PER_PRODUCER; k++, n++) {
                rs[k] = (struct rec){a->id, 0, n, mix(a->id, n)};
                sl[k] = (fanlog_slice){(const uint8_t *)&rs[k], sizeof rs[k]};
            }
            OK(fanlog_producer_append_batch(p, a->id, sl, (size_t)k, FANLOG_WAIT_FOREVER, NULL));
        }
    }
    fanlog_producer_free(p);
    return NULL;
}

struct cons_arg {
    fanlog_cursor *c;
    uint64_t digest;
    uint64_t count;
    uint64_t missed;
    int32_t code;
    int lossy;
};

static void *consume(void *arg) {
    struct cons_arg *a = arg;
    uint64_t next_of[PRODUCERS] = {0};
    uint64_t expect = 0;
    uint64_t digest = 1469598103934665603ull;
    fanlog_record batch[64];
    for (;;) {
        size_t n = 0;
        uint64_t missed = 0;
        fanlog_status s = fanlog_cursor_next_batch(a->c, FANLOG_WAIT_FOREVER, batch, 64, &n, &missed);
        if (s == FANLOG_LAGGED) {
            CHECK(a->lossy);
            expect += missed;
            a->missed += missed;
            continue;
        }
        if (s == FANLOG_CLOSED) break;
        OK(s);
        for (size_t i = 0; i < n; i++) {
            struct rec r;
            CHECK(batch[i].len == sizeof r);
            memcpy(&r, batch[i].data, sizeof r);
            CHECK(batch[i].seq == expect);
            CHECK(batch[i].kind == r.producer && r.producer < PRODUCERS);
            CHECK(r.check == mix(r.producer, r.n));
            if (a->lossy)
                CHECK(r.n >= next_of[r.producer]);
            else
                CHECK(r.n == next_of[r.producer]);
            next_of[r.producer] = r.n + 1;
            digest = (digest ^ batch[i].seq ^ ((uint64_t)r.producer << 48) ^ r.n) * 1099511628211ull;
            expect++;
            a->count++;
        }
    }
    char msg[64];
    size_t len = 0;
    OK(fanlog_cursor_close_status(a->c, &a->code, msg, sizeof msg, &len));
    if (!a->lossy) {
        for (int p = 0; p < PRODUCERS; p++) CHECK(next_of[p] == PER_PRODUCER);
    }
    a->digest = digest;
    return NULL;
}

static void run(uint32_t overflow) {
    fanlog_log_options o;
    OK(fanlog_log_options_default(&o));
    o.segment_size = 64 * 1024;
    o.max_bytes = 4 * 64 * 1024;
    o.overflow = overflow;
    fanlog_log *log = NULL;
    OK(fanlog_log_new(&o, &log));
    int lossy = overflow == FANLOG_OVERFLOW_DROP_OLDEST;
    struct cons_arg cons[CURSORS];
    pthread_t ct[CURSORS], pt[PRODUCERS];
    for (int i = 0; i < CURSORS; i++) {
        memset(&cons[i], 0, sizeof cons[i]);
        cons[i].lossy = lossy;
        OK(fanlog_cursor_new(log, FANLOG_START_EARLIEST, 0, &cons[i].c));
        CHECK(pthread_create(&ct[i], NULL, consume, &cons[i]) == 0);
    }
    struct prod_arg prods[PRODUCERS];
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        prods[i] = (struct prod_arg){log, i};
        CHECK(pthread_create(&pt[i], NULL, produce, &prods[i]) == 0);
    }
    for (int i = 0; i < PRODUCERS; i++) CHECK(pthread_join(pt[i], NULL) == 0);
    OK(fanlog_log_close(log, 42, "producers finished with an error"));
    for (int i = 0; i < CURSORS; i++) {
        CHECK(pthread_join(ct[i], NULL) == 0);
        CHECK(cons[i].code == 42);
        if (lossy) {
            CHECK(cons[i].count + cons[i].missed == (uint64_t)PRODUCERS * PER_PRODUCER);
        } else {
            CHECK(cons[i].count == (uint64_t)PRODUCERS * PER_PRODUCER);
            CHECK(cons[i].digest == cons[0].digest);
        }
        fanlog_cursor_free(cons[i].c);
    }
    fanlog_log_free(log);
}

int main(void) {
    const char *env = getenv("FANLOG_TEST_RECORDS");
    if (env) PER_PRODUCER = strtoull(env, NULL, 10);
    run(FANLOG_OVERFLOW_BLOCK);
    run(FANLOG_OVERFLOW_DROP_OLDEST);
    run(FANLOG_OVERFLOW_REJECT == 2 ? FANLOG_OVERFLOW_BLOCK : 0);
    printf("test_log_threads: all passed\n");
    return 0;
}
