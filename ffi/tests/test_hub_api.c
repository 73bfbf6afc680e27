/* Every exported hub/subscription function, kind filters, each overflow
 * policy's accounting, a 4 publishers x 4 subscribers threaded run with
 * per-publisher order checks, close with an error status drained by every
 * subscription, interrupt, poll() on the readiness fd, unsubscribe, and
 * every error path. */
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

static fanlog_subscription *subscribe(fanlog_hub *hub, const uint32_t *kinds, size_t n,
                                      size_t capacity, uint32_t overflow, uint64_t block_ns) {
    fanlog_subscribe_options o;
    OK(fanlog_subscribe_options_default(&o));
    o.capacity = capacity;
    o.overflow = overflow;
    o.block_timeout_ns = block_ns;
    fanlog_subscription *s = NULL;
    OK(fanlog_hub_subscribe(hub, kinds, n, &o, &s));
    CHECK(s != NULL);
    return s;
}

static fanlog_subscription_stats sub_stats(fanlog_subscription *s) {
    fanlog_subscription_stats st;
    OK(fanlog_subscription_get_stats(s, &st));
    return st;
}

static void test_options(void) {
    fanlog_hub_options o;
    EXPECT(fanlog_hub_options_default(NULL), FANLOG_NULL_ARGUMENT);
    OK(fanlog_hub_options_default(&o));
    CHECK(o.default_capacity == FANLOG_HUB_DEFAULT_CAPACITY);
    CHECK(o.default_overflow == FANLOG_HUB_DROP_OLDEST);
    CHECK(o.block_timeout_ns == FANLOG_WAIT_FOREVER);
    CHECK(o.timestamps == FANLOG_TIMESTAMPS_COARSE);
    fanlog_hub *hub = NULL;
    EXPECT(fanlog_hub_new(&o, NULL), FANLOG_NULL_ARGUMENT);
    o.default_overflow = 7;
    EXPECT(fanlog_hub_new(&o, &hub), FANLOG_INVALID_ARGUMENT);
    CHECK(hub == NULL); /* out written only on success */
    OK(fanlog_hub_options_default(&o));
    o.default_capacity = FANLOG_HUB_MAX_CAPACITY + 1;
    EXPECT(fanlog_hub_new(&o, &hub), FANLOG_INVALID_ARGUMENT);
    OK(fanlog_hub_options_default(&o));
    o.timestamps = 9;
    EXPECT(fanlog_hub_new(&o, &hub), FANLOG_INVALID_ARGUMENT);
    CHECK(hub == NULL);

    /* Capacity 0 means the default; a zeroed struct means the defaults. */
    fanlog_hub_options zero;
    memset(&zero, 0, sizeof zero);
    OK(fanlog_hub_new(&zero, &hub));
    fanlog_subscription *s = NULL;
    OK(fanlog_hub_subscribe(hub, NULL, 0, NULL, &s));
    CHECK(sub_stats(s).capacity == FANLOG_HUB_DEFAULT_CAPACITY);
    fanlog_subscription_free(s);
    fanlog_hub_free(hub);
    OK(fanlog_hub_new(NULL, &hub)); /* NULL options: defaults */
    fanlog_hub_free(hub);
    fanlog_hub_free(NULL); /* no-op */

    /* Subscribe options: defaults come from the hub. */
    OK(fanlog_hub_options_default(&o));
    o.default_capacity = 64;
    o.default_overflow = FANLOG_HUB_DROP_NEWEST;
    o.timestamps = FANLOG_TIMESTAMPS_OFF;
    OK(fanlog_hub_new(&o, &hub));
    fanlog_subscribe_options so;
    EXPECT(fanlog_subscribe_options_default(NULL), FANLOG_NULL_ARGUMENT);
    OK(fanlog_subscribe_options_default(&so));
    CHECK(so.capacity == 0 && so.name == NULL && so.overflow == FANLOG_HUB_OVERFLOW_DEFAULT);
    CHECK(so.block_timeout_ns == FANLOG_WAIT_FOREVER);
    char name[16];
    strcpy(name, "indexer");
    so.name = name; /* copied */
    s = NULL;
    OK(fanlog_hub_subscribe(hub, NULL, 0, &so, &s));
    memset(name, 'x', sizeof name - 1);
    fanlog_subscription_stats st = sub_stats(s);
    CHECK(st.capacity == 64);
    /* The hub's default policy (DropNewest) applies. */
    for (uint8_t i = 0; i < 70; i++) OK(fanlog_hub_publish(hub, 0, &i, 1, NULL, NULL));
    fanlog_event ev;
    OK(fanlog_subscription_next(s, 0, &ev));
    CHECK(ev.len == 1 && ev.data[0] == 0 && ev.timestamp_ns == 0); /* timestamps off */
    st = sub_stats(s);
    CHECK(st.delivered == 64 && st.dropped == 6);
    fanlog_subscription_free(s);

    fanlog_subscription *bad = NULL;
    OK(fanlog_subscribe_options_default(&so));
    so.capacity = FANLOG_HUB_MAX_CAPACITY + 1;
    EXPECT(fanlog_hub_subscribe(hub, NULL, 0, &so, &bad), FANLOG_INVALID_ARGUMENT);
    OK(fanlog_subscribe_options_default(&so));
    so.overflow = 9;
    EXPECT(fanlog_hub_subscribe(hub, NULL, 0, &so, &bad), FANLOG_INVALID_ARGUMENT);
    CHECK(bad == NULL);
    /* Zeroed subscribe options: the hub's defaults. */
    memset(&so, 0, sizeof so);
    OK(fanlog_hub_subscribe(hub, NULL, 0, &so, &bad));
    CHECK(sub_stats(bad).capacity == 64);
    fanlog_subscription_free(bad);
    fanlog_hub_free(hub);
}

static void test_publish_receive(void) {
    fanlog_hub *hub = NULL;
    OK(fanlog_hub_new(NULL, &hub));
    fanlog_subscription *s = NULL;
    OK(fanlog_hub_subscribe(hub, NULL, 0, NULL, &s));
    uint64_t delivered = 9, dropped = 9;
    OK(fanlog_hub_publish(hub, 7, (const uint8_t *)"hello", 5, &delivered, &dropped));
    CHECK(delivered == 1 && dropped == 0);
    OK(fanlog_hub_publish(hub, 8, NULL, 0, NULL, NULL)); /* empty payload */
    delivered = 42;
    EXPECT(fanlog_hub_publish(hub, 0, NULL, 3, &delivered, NULL), FANLOG_NULL_ARGUMENT);
    CHECK(delivered == 42);

    fanlog_event ev;
    EXPECT(fanlog_subscription_next(s, 0, NULL), FANLOG_NULL_ARGUMENT);
    OK(fanlog_subscription_next(s, FANLOG_NO_WAIT, &ev));
    CHECK(ev.seq == 0 && ev.kind == 7 && ev.len == 5 && memcmp(ev.data, "hello", 5) == 0);
    CHECK(ev.timestamp_ns > 0);
    /* The payload stays valid while other events are published. */
    const uint8_t *held = ev.data;
    OK(fanlog_hub_publish(hub, 9, (const uint8_t *)"later", 5, NULL, NULL));
    CHECK(memcmp(held, "hello", 5) == 0);
    OK(fanlog_subscription_next(s, FANLOG_NO_WAIT, &ev));
    CHECK(ev.seq == 1 && ev.kind == 8 && ev.len == 0 && ev.data == NULL);
    OK(fanlog_subscription_next(s, FANLOG_NO_WAIT, &ev));
    CHECK(ev.seq == 2 && memcmp(ev.data, "later", 5) == 0);
    EXPECT(fanlog_subscription_next(s, FANLOG_NO_WAIT, &ev), FANLOG_EMPTY);
    EXPECT(fanlog_subscription_next(s, 5 * 1000 * 1000, &ev), FANLOG_TIMEOUT);

    /* Batch publish and batch receive. */
    fanlog_slice recs[3] = {{(const uint8_t *)"a", 1}, {(const uint8_t *)"bb", 2}, {NULL, 0}};
    OK(fanlog_hub_publish_batch(hub, 3, recs, 3, &delivered, &dropped));
    CHECK(delivered == 3 && dropped == 0);
    fanlog_slice bad[2] = {{(const uint8_t *)"ok", 2}, {NULL, 4}};
    fanlog_hub_stats hs;
    OK(fanlog_hub_get_stats(hub, &hs));
    uint64_t published = hs.published;
    EXPECT(fanlog_hub_publish_batch(hub, 3, bad, 2, NULL, NULL), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_hub_publish_batch(hub, 3, NULL, 2, NULL, NULL), FANLOG_NULL_ARGUMENT);
    OK(fanlog_hub_get_stats(hub, &hs));
    CHECK(hs.published == published); /* nothing published */
    OK(fanlog_hub_publish_batch(hub, 3, NULL, 0, &delivered, NULL)); /* empty batch */
    CHECK(delivered == 0);
    fanlog_event out[8];
    size_t n = 99;
    EXPECT(fanlog_subscription_next_batch(s, 0, out, 0, &n), FANLOG_INVALID_ARGUMENT);
    EXPECT(fanlog_subscription_next_batch(s, 0, out, 8, NULL), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_subscription_next_batch(s, 0, NULL, 8, &n), FANLOG_NULL_ARGUMENT);
    OK(fanlog_subscription_next_batch(s, FANLOG_NO_WAIT, out, 8, &n));
    CHECK(n == 3);
    CHECK(out[0].seq == 3 && out[0].len == 1 && out[0].data[0] == 'a' && out[0].kind == 3);
    CHECK(out[1].seq == 4 && out[1].len == 2 && memcmp(out[1].data, "bb", 2) == 0);
    CHECK(out[2].seq == 5 && out[2].len == 0 && out[2].data == NULL);
    n = 77;
    EXPECT(fanlog_subscription_next_batch(s, FANLOG_NO_WAIT, out, 8, &n), FANLOG_EMPTY);
    CHECK(n == 77); /* not written on error */
    EXPECT(fanlog_subscription_next_batch(s, 2 * 1000 * 1000, out, 8, &n), FANLOG_TIMEOUT);

    /* A backlog larger than cap comes in several batches; every pointer of
     * a batch stays valid until the next receive, even while more events
     * are published (they queue behind, FIFO). */
    char payload[20][16];
    fanlog_slice many[20];
    for (int i = 0; i < 20; i++) {
        snprintf(payload[i], sizeof payload[i], "ev%02d", i);
        many[i] = (fanlog_slice){(const uint8_t *)payload[i], 4};
    }
    OK(fanlog_hub_publish_batch(hub, 1, many, 20, NULL, NULL));
    int seen = 0, noise = 0, noise_published = 0;
    while (seen < 20 || noise < noise_published) {
        OK(fanlog_subscription_next_batch(s, FANLOG_NO_WAIT, out, 8, &n));
        CHECK(n >= 1 && n <= 8);
        if (seen < 20) {
            OK(fanlog_hub_publish(hub, 2, (const uint8_t *)"noise", 5, NULL, NULL));
            noise_published++;
        }
        for (size_t i = 0; i < n; i++) {
            if (out[i].kind == 2) {
                CHECK(seen == 20 && out[i].len == 5 && memcmp(out[i].data, "noise", 5) == 0);
                noise++;
                continue;
            }
            char want[16];
            snprintf(want, sizeof want, "ev%02d", seen);
            CHECK(out[i].kind == 1 && out[i].len == 4 && memcmp(out[i].data, want, 4) == 0);
            seen++;
        }
    }
    EXPECT(fanlog_subscription_next_batch(s, FANLOG_NO_WAIT, out, 8, &n), FANLOG_EMPTY);
    fanlog_subscription_stats st = sub_stats(s);
    CHECK(st.received == 26 + (uint64_t)noise_published && st.depth == 0 && st.dropped == 0);
    CHECK(st.delivered == st.received && st.closed == 0);
    fanlog_subscription_free(s);

    fanlog_hub_stats hs2;
    EXPECT(fanlog_hub_get_stats(hub, NULL), FANLOG_NULL_ARGUMENT);
    OK(fanlog_hub_get_stats(hub, &hs2));
    CHECK(hs2.subscriptions == 0 && hs2.closed == 0 && hs2.published == 26 + (uint64_t)noise_published);
    fanlog_hub_free(hub);
}

/* Receives everything available now; returns how many, kinds into out. */
static size_t drain_kinds(fanlog_subscription *s, uint32_t *kinds, size_t cap) {
    size_t n = 0;
    fanlog_event ev;
    fanlog_status st;
    while ((st = fanlog_subscription_next(s, FANLOG_NO_WAIT, &ev)) == FANLOG_OK) {
        CHECK(n < cap);
        kinds[n++] = ev.kind;
    }
    CHECK(st == FANLOG_EMPTY);
    return n;
}

static void test_kind_filters(void) {
    fanlog_hub *hub = NULL;
    OK(fanlog_hub_new(NULL, &hub));
    const uint32_t ab[] = {1, 2};
    const uint32_t high[] = {300};
    const uint32_t dup[] = {1, 1, 1000000, 1000000};
    fanlog_subscription *s_ab = subscribe(hub, ab, 2, 0, FANLOG_HUB_OVERFLOW_DEFAULT, 0);
    fanlog_subscription *s_high = subscribe(hub, high, 1, 0, FANLOG_HUB_OVERFLOW_DEFAULT, 0);
    fanlog_subscription *s_dup = subscribe(hub, dup, 4, 0, FANLOG_HUB_OVERFLOW_DEFAULT, 0);
    fanlog_subscription *s_all = NULL;
    OK(fanlog_hub_subscribe(hub, ab, 0, NULL, &s_all)); /* nkinds 0: all kinds */
    fanlog_subscription *bad = NULL;
    EXPECT(fanlog_hub_subscribe(hub, NULL, 2, NULL, &bad), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_hub_subscribe(hub, NULL, 0, NULL, NULL), FANLOG_NULL_ARGUMENT);
    CHECK(bad == NULL);
    fanlog_hub_stats hs;
    OK(fanlog_hub_get_stats(hub, &hs));
    CHECK(hs.subscriptions == 4);

    const uint32_t published[] = {1, 2, 3, 300, 1000000, 64, 1};
    const uint64_t want_delivered[] = {3, 2, 1, 2, 2, 1, 3};
    for (size_t i = 0; i < sizeof published / sizeof published[0]; i++) {
        uint64_t d = 0, x = 0;
        OK(fanlog_hub_publish(hub, published[i], (const uint8_t *)"k", 1, &d, &x));
        CHECK(d == want_delivered[i] && x == 0);
    }
    uint32_t got[16];
    CHECK(drain_kinds(s_ab, got, 16) == 3);
    CHECK(got[0] == 1 && got[1] == 2 && got[2] == 1);
    CHECK(drain_kinds(s_high, got, 16) == 1 && got[0] == 300);
    CHECK(drain_kinds(s_dup, got, 16) == 3);
    CHECK(got[0] == 1 && got[1] == 1000000 && got[2] == 1);
    CHECK(drain_kinds(s_all, got, 16) == 7);
    for (size_t i = 0; i < 7; i++) CHECK(got[i] == published[i]);
    fanlog_subscription_free(s_ab);
    fanlog_subscription_free(s_high);
    fanlog_subscription_free(s_dup);
    fanlog_subscription_free(s_all);
    fanlog_hub_free(hub);
}

static void test_overflow_policies(void) {
    fanlog_hub *hub = NULL;
    OK(fanlog_hub_new(NULL, &hub));
    enum { CAP = 4, N = 10 };
    fanlog_subscription *newest = subscribe(hub, NULL, 0, CAP, FANLOG_HUB_DROP_NEWEST, 0);
    fanlog_subscription *oldest = subscribe(hub, NULL, 0, CAP, FANLOG_HUB_DROP_OLDEST, 0);
    fanlog_subscription *block0 = subscribe(hub, NULL, 0, CAP, FANLOG_HUB_BLOCK, 0);
    fanlog_subscription *block1ms = subscribe(hub, NULL, 0, CAP, FANLOG_HUB_BLOCK, 1000 * 1000);
    fanlog_subscription *dflt = subscribe(hub, NULL, 0, CAP, FANLOG_HUB_OVERFLOW_DEFAULT, 0);
    uint64_t sum_delivered = 0, sum_dropped = 0;
    for (uint8_t i = 0; i < N; i++) {
        uint64_t d = 0, x = 0;
        OK(fanlog_hub_publish(hub, 0, &i, 1, &d, &x));
        sum_delivered += d;
        sum_dropped += x;
    }
    /* DropOldest (twice: explicit and the hub default) delivers every event
     * and evicts one per overflow; the others drop the new one. */
    CHECK(sum_delivered == 2 * N + 3 * CAP);
    CHECK(sum_dropped == 5 * (N - CAP));
    struct {
        fanlog_subscription *s;
        uint8_t first;
    } cases[] = {{newest, 0}, {oldest, N - CAP}, {block0, 0}, {block1ms, 0}, {dflt, N - CAP}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fanlog_subscription_stats st = sub_stats(cases[c].s);
        CHECK(st.delivered + st.dropped == N);
        CHECK(st.delivered == CAP && st.dropped == N - CAP);
        CHECK(st.depth == CAP && st.high_water == CAP && st.capacity == CAP && st.received == 0);
        fanlog_event ev[CAP + 1];
        size_t n = 0;
        OK(fanlog_subscription_next_batch(cases[c].s, 0, ev, CAP + 1, &n));
        CHECK(n == CAP);
        for (size_t i = 0; i < n; i++) CHECK((size_t)ev[i].data[0] == cases[c].first + i);
        st = sub_stats(cases[c].s);
        CHECK(st.received == CAP && st.depth == 0 && st.delivered == CAP);
        fanlog_subscription_free(cases[c].s);
    }
    fanlog_hub_free(hub);
}

/* A Block subscription without timeout is lossless: the publisher waits. */
struct block_reader {
    fanlog_subscription *s;
    uint32_t n;
};

static void *read_in_order(void *arg) {
    struct block_reader *r = arg;
    for (uint32_t i = 0; i < r->n; i++) {
        fanlog_event ev;
        OK(fanlog_subscription_next(r->s, FANLOG_WAIT_FOREVER, &ev));
        uint32_t v;
        CHECK(ev.len == sizeof v);
        memcpy(&v, ev.data, sizeof v);
        CHECK(v == i);
    }
    return NULL;
}

static void test_block_is_lossless(void) {
    fanlog_hub *hub = NULL;
    OK(fanlog_hub_new(NULL, &hub));
    struct block_reader r = {subscribe(hub, NULL, 0, 1, FANLOG_HUB_BLOCK, FANLOG_WAIT_FOREVER), 5000};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, read_in_order, &r) == 0);
    for (uint32_t i = 0; i < r.n; i++) {
        uint64_t d = 0, x = 1;
        OK(fanlog_hub_publish(hub, 0, (const uint8_t *)&i, sizeof i, &d, &x));
        CHECK(d == 1 && x == 0);
    }
    CHECK(pthread_join(t, NULL) == 0);
    fanlog_subscription_stats st = sub_stats(r.s);
    CHECK(st.dropped == 0 && st.delivered == r.n && st.received == r.n);
    fanlog_subscription_free(r.s);
    fanlog_hub_free(hub);
}

/* ------------------------------------------------ 4 x 4 threaded run */

#define PUBLISHERS 4
#define SUBSCRIBERS 4
static uint64_t PER_PUBLISHER = 20000;

struct msg {
    uint32_t publisher;
    uint32_t pad;
    uint64_t n;
    uint64_t check;
};

static uint64_t mix(uint32_t p, uint64_t n) { return (p * 0x9E3779B97F4A7C15ull) ^ (n * 0xC2B2AE3D27D4EB4Full); }

struct pub_arg {
    fanlog_hub *hub;
    uint32_t id;
};

static void *publish_all(void *arg) {
    struct pub_arg *a = arg;
    for (uint64_t n = 0; n < PER_PUBLISHER;) {
        if (a->id % 2 == 0) {
            struct msg m = {a->id, 0, n, mix(a->id, n)};
            OK(fanlog_hub_publish(a->hub, a->id, (const uint8_t *)&m, sizeof m, NULL, NULL));
            n++;
        } else {
            struct msg ms[8];
            fanlog_slice sl[8];
            size_t k = 0;
            for (; k < 8 && n < PER_PUBLISHER; k++, n++) {
                ms[k] = (struct msg){a->id, 0, n, mix(a->id, n)};
                sl[k] = (fanlog_slice){(const uint8_t *)&ms[k], sizeof ms[k]};
            }
            OK(fanlog_hub_publish_batch(a->hub, a->id, sl, k, NULL, NULL));
        }
    }
    return NULL;
}

struct sub_arg {
    fanlog_subscription *s;
    int lossy;         /* DropOldest: gaps allowed, order still checked */
    uint32_t kinds;    /* bit mask of the kinds it subscribed to */
    uint64_t count[PUBLISHERS];
    int32_t code;
    char message[64];
};

static void *receive_all(void *arg) {
    struct sub_arg *a = arg;
    uint64_t next_of[PUBLISHERS] = {0};
    uint64_t last_seq[PUBLISHERS] = {0};
    int any[PUBLISHERS] = {0};
    fanlog_event batch[64];
    for (;;) {
        size_t n = 0;
        fanlog_status s = fanlog_subscription_next_batch(a->s, FANLOG_WAIT_FOREVER, batch, 64, &n);
        if (s == FANLOG_CLOSED) break;
        OK(s);
        for (size_t i = 0; i < n; i++) {
            struct msg m;
            CHECK(batch[i].len == sizeof m);
            memcpy(&m, batch[i].data, sizeof m);
            CHECK(m.publisher < PUBLISHERS && batch[i].kind == m.publisher);
            CHECK(a->kinds & (1u << m.publisher));
            CHECK(m.check == mix(m.publisher, m.n));
            if (a->lossy) {
                CHECK(m.n >= next_of[m.publisher]);
            } else {
                CHECK(m.n == next_of[m.publisher]);
            }
            /* Hub sequence numbers grow along one publisher's events. */
            CHECK(!any[m.publisher] || batch[i].seq > last_seq[m.publisher]);
            any[m.publisher] = 1;
            last_seq[m.publisher] = batch[i].seq;
            next_of[m.publisher] = m.n + 1;
            a->count[m.publisher]++;
        }
    }
    size_t len = 0;
    OK(fanlog_subscription_close_status(a->s, &a->code, a->message, sizeof a->message, &len));
    CHECK(len == strlen(a->message));
    return NULL;
}

static void test_threads(void) {
    const char *env = getenv("FANLOG_TEST_RECORDS");
    if (env) PER_PUBLISHER = strtoull(env, NULL, 10);
    fanlog_hub *hub = NULL;
    OK(fanlog_hub_new(NULL, &hub));
    struct sub_arg subs[SUBSCRIBERS];
    memset(subs, 0, sizeof subs);
    const uint32_t even[] = {0, 2};
    /* Two lossless subscriptions (Block, no timeout), one of them on the
     * even publishers' kinds only; one DropOldest; one DropNewest. */
    subs[0].s = subscribe(hub, NULL, 0, 256, FANLOG_HUB_BLOCK, FANLOG_WAIT_FOREVER);
    subs[0].kinds = 0xF;
    subs[1].s = subscribe(hub, even, 2, 64, FANLOG_HUB_BLOCK, FANLOG_WAIT_FOREVER);
    subs[1].kinds = 0x5;
    subs[2].s = subscribe(hub, NULL, 0, 32, FANLOG_HUB_DROP_OLDEST, 0);
    subs[2].kinds = 0xF;
    subs[2].lossy = 1;
    subs[3].s = subscribe(hub, NULL, 0, 32, FANLOG_HUB_DROP_NEWEST, 0);
    subs[3].kinds = 0xF;
    subs[3].lossy = 1;
    pthread_t st[SUBSCRIBERS], pt[PUBLISHERS];
    for (int i = 0; i < SUBSCRIBERS; i++) CHECK(pthread_create(&st[i], NULL, receive_all, &subs[i]) == 0);
    struct pub_arg pubs[PUBLISHERS];
    for (uint32_t i = 0; i < PUBLISHERS; i++) {
        pubs[i] = (struct pub_arg){hub, i};
        CHECK(pthread_create(&pt[i], NULL, publish_all, &pubs[i]) == 0);
    }
    for (int i = 0; i < PUBLISHERS; i++) CHECK(pthread_join(pt[i], NULL) == 0);
    OK(fanlog_hub_close(hub, 42, "publishers done"));
    for (int i = 0; i < SUBSCRIBERS; i++) CHECK(pthread_join(st[i], NULL) == 0);
    for (int i = 0; i < SUBSCRIBERS; i++) {
        CHECK(subs[i].code == 42 && strcmp(subs[i].message, "publishers done") == 0);
        fanlog_subscription_stats ss = sub_stats(subs[i].s);
        uint64_t matching = 0, got = 0;
        for (int p = 0; p < PUBLISHERS; p++) {
            if (subs[i].kinds & (1u << p)) matching += PER_PUBLISHER;
            got += subs[i].count[p];
        }
        CHECK(ss.closed == 1 && ss.depth == 0);
        CHECK(ss.received == got && ss.delivered == got);
        CHECK(ss.delivered + ss.dropped == matching);
        if (!subs[i].lossy) {
            CHECK(ss.dropped == 0);
            for (int p = 0; p < PUBLISHERS; p++)
                CHECK(subs[i].count[p] == ((subs[i].kinds & (1u << p)) ? PER_PUBLISHER : 0));
        }
        fanlog_subscription_free(subs[i].s);
    }
    fanlog_hub_stats hs;
    OK(fanlog_hub_get_stats(hub, &hs));
    CHECK(hs.published == PUBLISHERS * PER_PUBLISHER && hs.closed == 1);
    fanlog_hub_free(hub);
}

/* ------------------------------------------------ close, unsubscribe */

static void test_close_status(void) {
    fanlog_hub *hub = NULL;
    OK(fanlog_hub_new(NULL, &hub));
    fanlog_subscription *a = NULL, *b = NULL;
    OK(fanlog_hub_subscribe(hub, NULL, 0, NULL, &a));
    OK(fanlog_hub_subscribe(hub, NULL, 0, NULL, &b));
    int32_t code = 0;
    char msg[64];
    size_t len = 0;
    EXPECT(fanlog_hub_close_status(hub, &code, msg, sizeof msg, &len), FANLOG_EMPTY);
    EXPECT(fanlog_subscription_close_status(a, &code, msg, sizeof msg, &len), FANLOG_EMPTY);
    OK(fanlog_hub_publish(hub, 0, (const uint8_t *)"x", 1, NULL, NULL));
    OK(fanlog_hub_close(hub, 7, "disk on fire"));
    EXPECT(fanlog_hub_close(hub, 0, NULL), FANLOG_CLOSED); /* idempotent */
    EXPECT(fanlog_hub_publish(hub, 0, (const uint8_t *)"y", 1, NULL, NULL), FANLOG_CLOSED);
    fanlog_slice one = {(const uint8_t *)"z", 1};
    EXPECT(fanlog_hub_publish_batch(hub, 0, &one, 1, NULL, NULL), FANLOG_CLOSED);
    /* Before draining, the subscription reports the hub's status. */
    OK(fanlog_subscription_close_status(b, &code, msg, sizeof msg, &len));
    CHECK(code == 7 && strcmp(msg, "disk on fire") == 0 && len == 12);
    fanlog_subscription *s[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        fanlog_event ev;
        OK(fanlog_subscription_next(s[i], FANLOG_WAIT_FOREVER, &ev)); /* drains first */
        CHECK(ev.len == 1 && ev.data[0] == 'x');
        EXPECT(fanlog_subscription_next(s[i], FANLOG_WAIT_FOREVER, &ev), FANLOG_CLOSED);
        EXPECT(fanlog_subscription_next(s[i], 0, &ev), FANLOG_CLOSED); /* again */
        EXPECT(fanlog_subscription_close_status(s[i], &code, msg, 4, &len), FANLOG_BUFFER_TOO_SMALL);
        CHECK(len == strlen("disk on fire"));
        EXPECT(fanlog_subscription_close_status(s[i], &code, NULL, 4, &len), FANLOG_NULL_ARGUMENT);
        code = 0;
        OK(fanlog_subscription_close_status(s[i], &code, msg, sizeof msg, &len));
        CHECK(code == 7 && strcmp(msg, "disk on fire") == 0);
        CHECK(sub_stats(s[i]).closed == 1);
    }
    OK(fanlog_hub_close_status(hub, &code, NULL, 0, &len)); /* length only */
    CHECK(len == 12);
    EXPECT(fanlog_hub_close_status(hub, &code, msg, 3, &len), FANLOG_BUFFER_TOO_SMALL);
    fanlog_hub_stats hs;
    OK(fanlog_hub_get_stats(hub, &hs));
    CHECK(hs.closed == 1);
    /* Subscribing to a closed hub works and reports CLOSED at once. */
    fanlog_subscription *late = NULL;
    OK(fanlog_hub_subscribe(hub, NULL, 0, NULL, &late));
    fanlog_event ev;
    EXPECT(fanlog_subscription_next(late, FANLOG_WAIT_FOREVER, &ev), FANLOG_CLOSED);
    fanlog_subscription_free(late);
    fanlog_subscription_free(a);
    fanlog_subscription_free(b);
    fanlog_hub_free(hub);

    /* Freeing the hub handle closes it with success; the subscription
     * outlives the handle and drains first. */
    OK(fanlog_hub_new(NULL, &hub));
    OK(fanlog_hub_subscribe(hub, NULL, 0, NULL, &a));
    OK(fanlog_hub_publish(hub, 0, (const uint8_t *)"last", 4, NULL, NULL));
    fanlog_hub_free(hub);
    OK(fanlog_subscription_next(a, FANLOG_WAIT_FOREVER, &ev));
    CHECK(ev.len == 4 && memcmp(ev.data, "last", 4) == 0);
    EXPECT(fanlog_subscription_next(a, FANLOG_WAIT_FOREVER, &ev), FANLOG_CLOSED);
    code = -1;
    OK(fanlog_subscription_close_status(a, &code, msg, sizeof msg, &len));
    CHECK(code == 0 && len == 0 && msg[0] == '\0');
    fanlog_subscription_free(a);
}

struct blocked_publish {
    fanlog_hub *hub;
    fanlog_status status;
    uint64_t delivered;
};

static void *publish_blocking(void *arg) {
    struct blocked_publish *b = arg;
    b->status = fanlog_hub_publish(b->hub, 0, (const uint8_t *)"w", 1, &b->delivered, NULL);
    return NULL;
}

static void test_unsubscribe(void) {
    fanlog_hub *hub = NULL;
    OK(fanlog_hub_new(NULL, &hub));
    fanlog_subscription *s = NULL;
    OK(fanlog_hub_subscribe(hub, NULL, 0, NULL, &s));
    OK(fanlog_hub_publish(hub, 1, (const uint8_t *)"a", 1, NULL, NULL));
    OK(fanlog_subscription_unsubscribe(s));
    OK(fanlog_subscription_unsubscribe(s)); /* idempotent */
    fanlog_hub_stats hs;
    OK(fanlog_hub_get_stats(hub, &hs));
    CHECK(hs.subscriptions == 0);
    uint64_t d = 9;
    OK(fanlog_hub_publish(hub, 1, (const uint8_t *)"b", 1, &d, NULL));
    CHECK(d == 0);
    fanlog_subscription_stats st = sub_stats(s);
    CHECK(st.closed == 1 && st.delivered == 1 && st.dropped == 0);
    fanlog_event ev;
    OK(fanlog_subscription_next(s, 0, &ev)); /* what it held */
    CHECK(ev.data[0] == 'a');
    EXPECT(fanlog_subscription_next(s, FANLOG_WAIT_FOREVER, &ev), FANLOG_CLOSED);
    /* A later hub close does not change what the subscription reported. */
    OK(fanlog_hub_close(hub, 5, "later"));
    int32_t code = -1;
    OK(fanlog_subscription_close_status(s, &code, NULL, 0, NULL));
    CHECK(code == 0);
    fanlog_subscription_free(s);
    fanlog_hub_free(hub);

    /* Unsubscribing releases a publisher blocked on the full mailbox. */
    OK(fanlog_hub_new(NULL, &hub));
    s = subscribe(hub, NULL, 0, 1, FANLOG_HUB_BLOCK, FANLOG_WAIT_FOREVER);
    OK(fanlog_hub_publish(hub, 0, (const uint8_t *)"v", 1, NULL, NULL));
    struct blocked_publish b = {hub, FANLOG_PANIC, 99};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, publish_blocking, &b) == 0);
    sleep_ms(50);
    OK(fanlog_subscription_unsubscribe(s));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(b.status == FANLOG_OK && b.delivered == 0);
    OK(fanlog_subscription_next(s, 0, &ev));
    CHECK(ev.data[0] == 'v');
    EXPECT(fanlog_subscription_next(s, 0, &ev), FANLOG_CLOSED);
    fanlog_subscription_free(s);

    /* So does a hub close (the event counts as dropped). */
    s = subscribe(hub, NULL, 0, 1, FANLOG_HUB_BLOCK, FANLOG_WAIT_FOREVER);
    OK(fanlog_hub_publish(hub, 0, (const uint8_t *)"v", 1, NULL, NULL));
    b = (struct blocked_publish){hub, FANLOG_PANIC, 99};
    CHECK(pthread_create(&t, NULL, publish_blocking, &b) == 0);
    sleep_ms(50);
    OK(fanlog_hub_close(hub, 0, NULL));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(b.status == FANLOG_OK && b.delivered == 0);
    st = sub_stats(s);
    CHECK(st.delivered == 1 && st.dropped == 1);
    fanlog_subscription_free(s);
    fanlog_hub_free(hub);
}

/* ------------------------------------------------ waiting */

struct blocked_read {
    fanlog_subscription *s;
    fanlog_status status;
};

static void *read_forever(void *arg) {
    struct blocked_read *b = arg;
    fanlog_event ev;
    b->status = fanlog_subscription_next(b->s, FANLOG_WAIT_FOREVER, &ev);
    return NULL;
}

static void *read_batch_forever(void *arg) {
    struct blocked_read *b = arg;
    fanlog_event ev[4];
    size_t n = 0;
    b->status = fanlog_subscription_next_batch(b->s, FANLOG_WAIT_FOREVER, ev, 4, &n);
    return NULL;
}

static void test_interrupt_and_busy(void) {
    fanlog_hub *hub = NULL;
    OK(fanlog_hub_new(NULL, &hub));
    struct blocked_read b = {NULL, FANLOG_OK};
    OK(fanlog_hub_subscribe(hub, NULL, 0, NULL, &b.s));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, read_forever, &b) == 0);
    sleep_ms(50);
    /* Single consumer: every call that uses the subscription is refused. */
    fanlog_event ev;
    size_t n = 0;
    int fd = -1;
    fanlog_subscription_stats st;
    EXPECT(fanlog_subscription_next(b.s, 0, &ev), FANLOG_BUSY);
    EXPECT(fanlog_subscription_next_batch(b.s, 0, &ev, 1, &n), FANLOG_BUSY);
    EXPECT(fanlog_subscription_readiness_fd(b.s, &fd), FANLOG_BUSY);
    EXPECT(fanlog_subscription_get_stats(b.s, &st), FANLOG_BUSY);
    EXPECT(fanlog_subscription_unsubscribe(b.s), FANLOG_BUSY);
    /* ...except the interrupt and the close status. */
    EXPECT(fanlog_subscription_close_status(b.s, NULL, NULL, 0, NULL), FANLOG_EMPTY);
    OK(fanlog_subscription_interrupt(b.s));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(b.status == FANLOG_INTERRUPTED);
    /* Sticky: an interrupt with nobody waiting hits the next wait. */
    OK(fanlog_subscription_interrupt(b.s));
    EXPECT(fanlog_subscription_next(b.s, FANLOG_WAIT_FOREVER, &ev), FANLOG_INTERRUPTED);
    /* A blocked batch receive is interrupted too. */
    CHECK(pthread_create(&t, NULL, read_batch_forever, &b) == 0);
    sleep_ms(30);
    OK(fanlog_subscription_interrupt(b.s));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(b.status == FANLOG_INTERRUPTED);
    /* A blocked receive is woken by an event... */
    CHECK(pthread_create(&t, NULL, read_forever, &b) == 0);
    sleep_ms(30);
    OK(fanlog_hub_publish(hub, 0, (const uint8_t *)"e", 1, NULL, NULL));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(b.status == FANLOG_OK);
    /* ...and by the close. */
    CHECK(pthread_create(&t, NULL, read_forever, &b) == 0);
    sleep_ms(30);
    OK(fanlog_hub_close(hub, 3, "shutdown"));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(b.status == FANLOG_CLOSED);
    fanlog_subscription_free(b.s);
    fanlog_hub_free(hub);
}

static int readable(int fd, int ms) {
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) == 1;
}

static void test_readiness_fd(void) {
    fanlog_hub *hub = NULL;
    OK(fanlog_hub_new(NULL, &hub));
    fanlog_subscription *s = NULL;
    OK(fanlog_hub_subscribe(hub, NULL, 0, NULL, &s));
    int fd = -1, fd2 = -2;
    EXPECT(fanlog_subscription_readiness_fd(s, NULL), FANLOG_NULL_ARGUMENT);
    OK(fanlog_subscription_readiness_fd(s, &fd));
    OK(fanlog_subscription_readiness_fd(s, &fd2));
    CHECK(fd >= 0 && fd == fd2);
    CHECK(!readable(fd, 0));
    OK(fanlog_hub_publish(hub, 0, (const uint8_t *)"a", 1, NULL, NULL));
    CHECK(readable(fd, 1000));
    fanlog_event ev;
    OK(fanlog_subscription_next(s, 0, &ev));
    EXPECT(fanlog_subscription_next(s, 0, &ev), FANLOG_EMPTY);
    CHECK(!readable(fd, 0));
    /* A publish from another thread while we poll. */
    struct blocked_publish b = {hub, FANLOG_PANIC, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, publish_blocking, &b) == 0);
    CHECK(readable(fd, 5000));
    CHECK(pthread_join(t, NULL) == 0);
    OK(b.status);
    OK(fanlog_subscription_next(s, 0, &ev));
    CHECK(ev.data[0] == 'w');
    EXPECT(fanlog_subscription_next(s, 0, &ev), FANLOG_EMPTY);
    CHECK(!readable(fd, 0));
    OK(fanlog_subscription_interrupt(s));
    CHECK(readable(fd, 1000));
    /* A non-blocking receive reports the pending interrupt (and consumes it). */
    EXPECT(fanlog_subscription_next(s, 0, &ev), FANLOG_INTERRUPTED);
    EXPECT(fanlog_subscription_next(s, 0, &ev), FANLOG_EMPTY);
    CHECK(!readable(fd, 0));
    OK(fanlog_hub_close(hub, 0, NULL));
    CHECK(readable(fd, 1000));
    EXPECT(fanlog_subscription_next(s, 0, &ev), FANLOG_CLOSED);
    fanlog_subscription_free(s);
    fanlog_hub_free(hub);
}

/* ------------------------------------------------ handles */

static void test_handles(void) {
    fanlog_hub *hub = NULL;
    OK(fanlog_hub_new(NULL, &hub));
    fanlog_subscription *s = NULL;
    OK(fanlog_hub_subscribe(hub, NULL, 0, NULL, &s));
    fanlog_event ev;
    fanlog_hub_stats hs;
    fanlog_subscription_stats ss;
    fanlog_subscription *out = NULL;
    size_t n = 0;
    int fd = 0;
    int32_t code = 0;
    /* NULL handles. */
    EXPECT(fanlog_hub_subscribe(NULL, NULL, 0, NULL, &out), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_hub_publish(NULL, 0, NULL, 0, NULL, NULL), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_hub_publish_batch(NULL, 0, NULL, 0, NULL, NULL), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_hub_close(NULL, 0, NULL), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_hub_close_status(NULL, &code, NULL, 0, NULL), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_hub_get_stats(NULL, &hs), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_subscription_next(NULL, 0, &ev), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_subscription_next_batch(NULL, 0, &ev, 1, &n), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_subscription_interrupt(NULL), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_subscription_readiness_fd(NULL, &fd), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_subscription_get_stats(NULL, &ss), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_subscription_get_stats(s, NULL), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_subscription_unsubscribe(NULL), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_subscription_close_status(NULL, &code, NULL, 0, NULL), FANLOG_NULL_ARGUMENT);
    /* Wrong type. */
    const fanlog_hub *not_hub = (const fanlog_hub *)(const void *)s;
    const fanlog_subscription *not_sub = (const fanlog_subscription *)(const void *)hub;
    EXPECT(fanlog_hub_publish(not_hub, 0, NULL, 0, NULL, NULL), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_hub_subscribe(not_hub, NULL, 0, NULL, &out), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_subscription_next(not_sub, 0, &ev), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_subscription_interrupt(not_sub), FANLOG_INVALID_HANDLE);
    fanlog_log *log = NULL;
    OK(fanlog_log_new(NULL, &log));
    EXPECT(fanlog_hub_close((const fanlog_hub *)(const void *)log, 0, NULL), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_log_close((const fanlog_log *)(const void *)hub, 0, NULL), FANLOG_INVALID_HANDLE);
    fanlog_log_free(log);
    /* Use after free is detected. */
    fanlog_hub_free(hub);
    EXPECT(fanlog_hub_subscribe(hub, NULL, 0, NULL, &out), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_hub_publish(hub, 0, NULL, 0, NULL, NULL), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_hub_publish_batch(hub, 0, NULL, 0, NULL, NULL), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_hub_close(hub, 0, NULL), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_hub_close_status(hub, &code, NULL, 0, NULL), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_hub_get_stats(hub, &hs), FANLOG_INVALID_HANDLE);
    fanlog_hub_free(hub); /* double free: ignored */
    CHECK(out == NULL);
    /* The subscription outlived the hub handle (which closed the hub). */
    EXPECT(fanlog_subscription_next(s, FANLOG_WAIT_FOREVER, &ev), FANLOG_CLOSED);
    fanlog_subscription_free(s);
    EXPECT(fanlog_subscription_next(s, 0, &ev), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_subscription_next_batch(s, 0, &ev, 1, &n), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_subscription_interrupt(s), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_subscription_readiness_fd(s, &fd), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_subscription_get_stats(s, &ss), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_subscription_unsubscribe(s), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_subscription_close_status(s, &code, NULL, 0, NULL), FANLOG_INVALID_HANDLE);
    fanlog_subscription_free(s); /* double free: ignored */
    fanlog_subscription_free(NULL);
}

/* The events a receive returned stay readable while the mailbox moves on
 * (DropOldest evicts them from the mailbox; the handle still holds them). */
static void test_event_lifetime(void) {
    fanlog_hub *hub = NULL;
    OK(fanlog_hub_new(NULL, &hub));
    fanlog_subscription *s = subscribe(hub, NULL, 0, 2, FANLOG_HUB_DROP_OLDEST, 0);
    fanlog_subscription *other = subscribe(hub, NULL, 0, 2, FANLOG_HUB_DROP_OLDEST, 0);
    char big[4096];
    memset(big, 'q', sizeof big);
    OK(fanlog_hub_publish(hub, 0, (const uint8_t *)big, sizeof big, NULL, NULL));
    OK(fanlog_hub_publish(hub, 0, (const uint8_t *)"second", 6, NULL, NULL));
    fanlog_event ev[2];
    size_t n = 0;
    OK(fanlog_subscription_next_batch(s, 0, ev, 2, &n));
    CHECK(n == 2);
    /* The other subscription drops its copy; more events evict nothing we hold. */
    fanlog_subscription_free(other);
    for (int i = 0; i < 10; i++) OK(fanlog_hub_publish(hub, 0, (const uint8_t *)"more", 4, NULL, NULL));
    CHECK(ev[0].len == sizeof big && memcmp(ev[0].data, big, sizeof big) == 0);
    CHECK(ev[1].len == 6 && memcmp(ev[1].data, "second", 6) == 0);
    fanlog_subscription_free(s);
    fanlog_hub_free(hub);
}

int main(void) {
    test_options();
    test_publish_receive();
    test_kind_filters();
    test_overflow_policies();
    test_block_is_lossless();
    test_threads();
    test_close_status();
    test_unsubscribe();
    test_interrupt_and_busy();
    test_readiness_fd();
    test_handles();
    test_event_lifetime();
    printf("test_hub_api: all passed\n");
    return 0;
}
