/*
 * Reproducer for a library bug found by the Go binding's tests
 * (TestLagExact): under FANLOG_OVERFLOW_DROP_OLDEST a cursor sometimes
 * jumps forward to a much later record with no FANLOG_LAGGED report, so
 * the records in between are lost silently.
 *
 * 4 producers, 4 cursors, 4 KiB segments, 16 KiB budget. Each cursor's
 * calls alternate between two threads (as a goroutine's calls move between
 * OS threads in Go) and it waits on its readiness fd when caught up. With
 * one thread per cursor the same program has not failed in 400 rounds;
 * with two it fails within about a hundred, as does the Go test with its
 * goroutines locked to threads (less often), so thread hopping may only be
 * a way to get the timing.
 *
 *   cargo build --release
 *   cc -O2 -Iinclude bindings/go/testdata/lag_repro.c target/release/libfanlog.a \
 *      -lpthread -ldl -lm -o lag_repro && ./lag_repro
 */
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fanlog.h"

#define PRODUCERS 4
#define CONSUMERS 4
#define PER 20000

static fanlog_log *lg;

static void *produce(void *arg) {
    uint64_t p = (uint64_t)(uintptr_t)arg;
    fanlog_producer *pr = NULL;
    if (fanlog_producer_new(lg, &pr)) abort();
    uint64_t b[8][2];
    fanlog_slice s[8];
    size_t k = 0;
    for (uint64_t i = 0; i < PER; i++) {
        uint64_t one[2] = {p, i};
        fanlog_status st = FANLOG_OK;
        if (p == 3) { /* batches of 8 */
            b[k][0] = p;
            b[k][1] = i;
            s[k].data = (const uint8_t *)b[k];
            s[k].len = 16;
            if (++k == 8 || i == PER - 1) {
                st = fanlog_log_append_batch(lg, 3, s, k, FANLOG_WAIT_FOREVER, NULL);
                k = 0;
            }
        } else if (p == 2) { /* a non-blocking try, then a producer handle */
            st = fanlog_log_append(lg, 2, (const uint8_t *)one, 16, 0, NULL);
            if (st == FANLOG_FULL)
                st = fanlog_producer_append(pr, 2, (const uint8_t *)one, 16, FANLOG_WAIT_FOREVER, NULL);
        } else {
            st = fanlog_log_append(lg, (uint32_t)p, (const uint8_t *)one, 16, FANLOG_WAIT_FOREVER, NULL);
        }
        if (st != FANLOG_OK) abort();
    }
    fanlog_producer_free(pr);
    return NULL;
}

/* A thread that runs fanlog_cursor_next_batch when told to. */
struct worker {
    sem_t go, done;
    fanlog_cursor *c;
    fanlog_record recs[64];
    size_t n;
    uint64_t missed;
    fanlog_status s;
    int quit;
};

static void *work(void *a) {
    struct worker *w = a;
    for (;;) {
        sem_wait(&w->go);
        if (w->quit) return NULL;
        w->n = 0;
        w->missed = 0;
        w->s = fanlog_cursor_next_batch(w->c, 0, w->recs, 64, &w->n, &w->missed);
        sem_post(&w->done);
    }
}

static void *consume(void *arg) {
    fanlog_cursor *c = arg;
    struct worker ws[2];
    pthread_t wt[2];
    for (int i = 0; i < 2; i++) {
        sem_init(&ws[i].go, 0, 0);
        sem_init(&ws[i].done, 0, 0);
        ws[i].c = c;
        ws[i].quit = 0;
        pthread_create(&wt[i], NULL, work, &ws[i]);
    }
    unsigned turn = 0;
    int fd = -1;
    uint64_t next = 0, read = 0, missed = 0;
    for (;;) {
        struct worker *w = &ws[turn++ & 1];
        sem_post(&w->go);
        sem_wait(&w->done);
        if (w->s == FANLOG_EMPTY) {
            if (fd < 0) {
                fanlog_cursor_readiness_fd(c, &fd);
            } else {
                struct pollfd p = {fd, POLLIN, 0};
                poll(&p, 1, -1);
                usleep(300);
            }
            continue;
        }
        if (w->s == FANLOG_LAGGED) {
            next += w->missed;
            missed += w->missed;
            continue;
        }
        if (w->s == FANLOG_CLOSED) break;
        if (w->s != FANLOG_OK) abort();
        for (size_t i = 0; i < w->n; i++, next++, read++) {
            if (w->recs[i].seq != next) {
                printf("FAILED: seq %llu, want %llu (read %llu, reported missed %llu): "
                       "records skipped without FANLOG_LAGGED\n",
                       (unsigned long long)w->recs[i].seq, (unsigned long long)next,
                       (unsigned long long)read, (unsigned long long)missed);
                exit(1);
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        ws[i].quit = 1;
        sem_post(&ws[i].go);
        pthread_join(wt[i], NULL);
    }
    if (read + missed != (uint64_t)PRODUCERS * PER) {
        printf("FAILED: read %llu + missed %llu\n", (unsigned long long)read, (unsigned long long)missed);
        exit(1);
    }
    return NULL;
}

int main(void) {
    for (int round = 0; round < 400; round++) {
        fanlog_log_options o;
        fanlog_log_options_default(&o);
        o.segment_size = 4096;
        o.max_bytes = 4 * 4096;
        o.overflow = FANLOG_OVERFLOW_DROP_OLDEST;
        if (fanlog_log_new(&o, &lg)) abort();
        fanlog_cursor *cs[CONSUMERS];
        pthread_t pt[PRODUCERS], ct[CONSUMERS];
        for (int i = 0; i < CONSUMERS; i++)
            if (fanlog_cursor_new(lg, FANLOG_START_EARLIEST, 0, &cs[i])) abort();
        for (int i = 0; i < CONSUMERS; i++) pthread_create(&ct[i], NULL, consume, cs[i]);
        for (int i = 0; i < PRODUCERS; i++) pthread_create(&pt[i], NULL, produce, (void *)(uintptr_t)i);
        for (int i = 0; i < PRODUCERS; i++) pthread_join(pt[i], NULL);
        fanlog_log_close(lg, 0, NULL);
        for (int i = 0; i < CONSUMERS; i++) pthread_join(ct[i], NULL);
        for (int i = 0; i < CONSUMERS; i++) fanlog_cursor_free(cs[i]);
        fanlog_log_free(lg);
        if (round % 50 == 0) printf("round %d ok\n", round);
    }
    printf("passed 400 rounds\n");
    return 0;
}
