/* Every exported snapshot / snapshot-reference function: versions, held
 * references across stores and after the snapshot's free, wait_newer with
 * timeouts and across threads (writers x readers with consistency and
 * per-writer order checks), and every error path. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "check.h"

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Loads the current value; checks it against want (NUL-terminated). */
static uint64_t expect_current(fanlog_snapshot *s, const char *want) {
    fanlog_snapshot_ref *r = NULL;
    OK(fanlog_snapshot_load(s, &r));
    const uint8_t *data = NULL;
    size_t len = 99;
    uint64_t version = 0;
    OK(fanlog_snapshot_ref_data(r, &data, &len, &version));
    CHECK(len == strlen(want));
    CHECK(len == 0 ? data == NULL : memcmp(data, want, len) == 0);
    fanlog_snapshot_ref_release(r);
    return version;
}

static void test_basics(void) {
    fanlog_snapshot *s = NULL;
    EXPECT(fanlog_snapshot_new(NULL, 0, NULL), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_snapshot_new(NULL, 3, &s), FANLOG_NULL_ARGUMENT);
    CHECK(s == NULL); /* out written only on success */
    OK(fanlog_snapshot_new(NULL, 0, &s)); /* empty blob */
    uint64_t v = 99;
    OK(fanlog_snapshot_version(s, &v));
    CHECK(v == 0);
    CHECK(expect_current(s, "") == 0);
    fanlog_snapshot_free(s);

    OK(fanlog_snapshot_new((const uint8_t *)"v0", 2, &s));
    CHECK(expect_current(s, "v0") == 0);
    fanlog_snapshot_ref *r0 = NULL;
    OK(fanlog_snapshot_load(s, &r0));
    OK(fanlog_snapshot_store(s, (const uint8_t *)"config v1", 9, &v));
    CHECK(v == 1);
    OK(fanlog_snapshot_store(s, (const uint8_t *)"config v2", 9, NULL)); /* NULL out */
    OK(fanlog_snapshot_version(s, &v));
    CHECK(v == 2);
    CHECK(expect_current(s, "config v2") == 2);
    v = 42;
    EXPECT(fanlog_snapshot_store(s, NULL, 5, &v), FANLOG_NULL_ARGUMENT);
    CHECK(v == 42);
    OK(fanlog_snapshot_version(s, &v));
    CHECK(v == 2); /* nothing stored */
    OK(fanlog_snapshot_store(s, NULL, 0, &v)); /* empty blob */
    CHECK(v == 3);
    CHECK(expect_current(s, "") == 3);
    EXPECT(fanlog_snapshot_version(s, NULL), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_snapshot_load(s, NULL), FANLOG_NULL_ARGUMENT);

    /* The old reference still sees its own version, unchanged. */
    const uint8_t *data = NULL;
    size_t len = 0;
    uint64_t version = 99;
    OK(fanlog_snapshot_ref_data(r0, &data, &len, &version));
    CHECK(len == 2 && memcmp(data, "v0", 2) == 0 && version == 0);
    OK(fanlog_snapshot_ref_data(r0, NULL, NULL, NULL)); /* every out optional */
    len = 0;
    OK(fanlog_snapshot_ref_data(r0, NULL, &len, NULL));
    CHECK(len == 2);

    /* References outlive the snapshot handle. */
    OK(fanlog_snapshot_store(s, (const uint8_t *)"final", 5, NULL));
    fanlog_snapshot_ref *last = NULL;
    OK(fanlog_snapshot_load(s, &last));
    fanlog_snapshot_free(s);
    OK(fanlog_snapshot_ref_data(last, &data, &len, &version));
    CHECK(len == 5 && memcmp(data, "final", 5) == 0 && version == 4);
    OK(fanlog_snapshot_ref_data(r0, &data, &len, &version));
    CHECK(len == 2 && memcmp(data, "v0", 2) == 0 && version == 0);
    fanlog_snapshot_ref_release(r0);
    fanlog_snapshot_ref_release(last);
    fanlog_snapshot_ref_release(NULL); /* no-op */
    fanlog_snapshot_free(NULL);        /* no-op */
}

struct waiter {
    fanlog_snapshot *s;
    uint64_t after;
    fanlog_status status;
    uint64_t version;
    char value[32];
};

static void *wait_forever(void *arg) {
    struct waiter *w = arg;
    fanlog_snapshot_ref *r = NULL;
    w->status = fanlog_snapshot_wait_newer(w->s, w->after, FANLOG_WAIT_FOREVER, &r);
    if (w->status == FANLOG_OK) {
        const uint8_t *data = NULL;
        size_t len = 0;
        OK(fanlog_snapshot_ref_data(r, &data, &len, &w->version));
        CHECK(len < sizeof w->value);
        memcpy(w->value, data, len);
        w->value[len] = '\0';
        fanlog_snapshot_ref_release(r);
    }
    return NULL;
}

static void test_wait_newer(void) {
    fanlog_snapshot *s = NULL;
    OK(fanlog_snapshot_new((const uint8_t *)"a", 1, &s));
    fanlog_snapshot_ref *r = NULL;
    EXPECT(fanlog_snapshot_wait_newer(s, 0, FANLOG_NO_WAIT, &r), FANLOG_EMPTY);
    EXPECT(fanlog_snapshot_wait_newer(s, 0, 5 * 1000 * 1000, &r), FANLOG_TIMEOUT);
    CHECK(r == NULL);
    EXPECT(fanlog_snapshot_wait_newer(s, 0, 0, NULL), FANLOG_NULL_ARGUMENT);
    OK(fanlog_snapshot_store(s, (const uint8_t *)"b", 1, NULL));
    /* Something newer is there: no wait, whatever the timeout. */
    OK(fanlog_snapshot_wait_newer(s, 0, FANLOG_NO_WAIT, &r));
    uint64_t version = 0;
    const uint8_t *data = NULL;
    size_t len = 0;
    OK(fanlog_snapshot_ref_data(r, &data, &len, &version));
    CHECK(version == 1 && len == 1 && data[0] == 'b');
    fanlog_snapshot_ref_release(r);
    /* Versions may be skipped: it returns the current one. */
    OK(fanlog_snapshot_store(s, (const uint8_t *)"c", 1, NULL));
    OK(fanlog_snapshot_store(s, (const uint8_t *)"d", 1, NULL));
    OK(fanlog_snapshot_wait_newer(s, 1, FANLOG_WAIT_FOREVER, &r));
    OK(fanlog_snapshot_ref_data(r, &data, &len, &version));
    CHECK(version == 3 && data[0] == 'd');
    fanlog_snapshot_ref_release(r);

    /* Two blocked waiters are woken by one store from this thread. */
    struct waiter w[2] = {{s, 3, FANLOG_PANIC, 0, {0}}, {s, 3, FANLOG_PANIC, 0, {0}}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&t[i], NULL, wait_forever, &w[i]) == 0);
    sleep_ms(50);
    uint64_t stored = 0;
    OK(fanlog_snapshot_store(s, (const uint8_t *)"woken", 5, &stored));
    CHECK(stored == 4);
    for (int i = 0; i < 2; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
        OK(w[i].status);
        CHECK(w[i].version == 4 && strcmp(w[i].value, "woken") == 0);
    }
    /* A finite timeout that a store beats. */
    struct waiter fin = {s, 4, FANLOG_PANIC, 0, {0}};
    CHECK(pthread_create(&t[0], NULL, wait_forever, &fin) == 0);
    sleep_ms(20);
    OK(fanlog_snapshot_store(s, (const uint8_t *)"next", 4, NULL));
    CHECK(pthread_join(t[0], NULL) == 0);
    OK(fin.status);
    CHECK(fin.version == 5 && strcmp(fin.value, "next") == 0);
    fanlog_snapshot_free(s);
}

/* ------------------------------------------------ writers x readers */

#define WRITERS 2
#define READERS 3
static uint64_t PER_WRITER = 20000;

/* A blob: header, then `fill` bytes of a pattern derived from it. */
struct blob_head {
    uint32_t writer;
    uint32_t fill;
    uint64_t n;
};

static uint8_t pattern(const struct blob_head *h, size_t i) {
    return (uint8_t)(h->writer * 131u + h->n * 7u + i);
}

static size_t make_blob(uint8_t *buf, uint32_t writer, uint64_t n) {
    struct blob_head h = {writer, (uint32_t)((n * 37u) % 200u), n};
    memcpy(buf, &h, sizeof h);
    for (size_t i = 0; i < h.fill; i++) buf[sizeof h + i] = pattern(&h, i);
    return sizeof h + h.fill;
}

/* Checks a blob's consistency; returns its head. */
static struct blob_head check_blob(const uint8_t *data, size_t len) {
    struct blob_head h;
    CHECK(len >= sizeof h);
    memcpy(&h, data, sizeof h);
    CHECK(h.writer < WRITERS && len == sizeof h + h.fill);
    for (size_t i = 0; i < h.fill; i++) CHECK(data[sizeof h + i] == pattern(&h, i));
    return h;
}

struct writer_arg {
    fanlog_snapshot *s;
    uint32_t id;
    uint64_t last_version;
};

static void *write_all(void *arg) {
    struct writer_arg *a = arg;
    uint8_t buf[sizeof(struct blob_head) + 256];
    for (uint64_t n = 1; n <= PER_WRITER; n++) {
        size_t len = make_blob(buf, a->id, n);
        uint64_t v = 0;
        OK(fanlog_snapshot_store(a->s, buf, len, &v));
        CHECK(v > a->last_version); /* one writer's versions grow */
        a->last_version = v;
    }
    return NULL;
}

struct reader_arg {
    fanlog_snapshot *s;
    uint64_t final_version;
    uint64_t seen;
    int use_load; /* poll with load instead of wait_newer */
};

static void *read_all(void *arg) {
    struct reader_arg *a = arg;
    uint64_t last = 0;
    uint64_t last_n[WRITERS] = {0};
    /* Keep a few references alive across later stores and loads. */
    fanlog_snapshot_ref *kept[4] = {NULL, NULL, NULL, NULL};
    const uint8_t *kept_data[4];
    size_t kept_len[4];
    size_t k = 0;
    while (last < a->final_version) {
        fanlog_snapshot_ref *r = NULL;
        if (a->use_load) {
            OK(fanlog_snapshot_load(a->s, &r));
        } else {
            OK(fanlog_snapshot_wait_newer(a->s, last, FANLOG_WAIT_FOREVER, &r));
        }
        const uint8_t *data = NULL;
        size_t len = 0;
        uint64_t version = 0;
        OK(fanlog_snapshot_ref_data(r, &data, &len, &version));
        if (a->use_load) {
            CHECK(version >= last);
        } else {
            CHECK(version > last);
        }
        if (version > 0) {
            struct blob_head h = check_blob(data, len);
            /* Versions follow store order, so along growing versions one
             * writer's blobs never go back. */
            CHECK(h.n >= last_n[h.writer]);
            last_n[h.writer] = h.n;
        }
        last = version;
        a->seen++;
        if (kept[k] != NULL) {
            check_blob(kept_data[k], kept_len[k]); /* still intact */
            fanlog_snapshot_ref_release(kept[k]);
            kept[k] = NULL;
        }
        if (version > 0) {
            kept[k] = r;
            kept_data[k] = data;
            kept_len[k] = len;
            k = (k + 1) % 4;
        } else {
            fanlog_snapshot_ref_release(r);
        }
    }
    for (size_t i = 0; i < 4; i++) {
        if (kept[i] != NULL) {
            check_blob(kept_data[i], kept_len[i]);
            fanlog_snapshot_ref_release(kept[i]);
        }
    }
    return NULL;
}

static void test_threads(void) {
    const char *env = getenv("FANLOG_TEST_RECORDS");
    if (env) PER_WRITER = strtoull(env, NULL, 10);
    fanlog_snapshot *s = NULL;
    OK(fanlog_snapshot_new(NULL, 0, &s));
    struct reader_arg readers[READERS];
    pthread_t rt[READERS], wt[WRITERS];
    for (int i = 0; i < READERS; i++) {
        readers[i] = (struct reader_arg){s, WRITERS * PER_WRITER, 0, i == READERS - 1};
        CHECK(pthread_create(&rt[i], NULL, read_all, &readers[i]) == 0);
    }
    struct writer_arg writers[WRITERS];
    for (uint32_t i = 0; i < WRITERS; i++) {
        writers[i] = (struct writer_arg){s, i, 0};
        CHECK(pthread_create(&wt[i], NULL, write_all, &writers[i]) == 0);
    }
    for (int i = 0; i < WRITERS; i++) CHECK(pthread_join(wt[i], NULL) == 0);
    for (int i = 0; i < READERS; i++) {
        CHECK(pthread_join(rt[i], NULL) == 0);
        CHECK(readers[i].seen >= 1);
    }
    uint64_t v = 0;
    OK(fanlog_snapshot_version(s, &v));
    CHECK(v == WRITERS * PER_WRITER); /* no store lost */
    fanlog_snapshot_free(s);
}

/* ------------------------------------------------ handles */

static void test_handles(void) {
    fanlog_snapshot *s = NULL;
    OK(fanlog_snapshot_new((const uint8_t *)"x", 1, &s));
    fanlog_snapshot_ref *r = NULL, *out = NULL;
    OK(fanlog_snapshot_load(s, &r));
    uint64_t v = 0;
    size_t len = 0;
    /* NULL handles. */
    EXPECT(fanlog_snapshot_store(NULL, NULL, 0, NULL), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_snapshot_version(NULL, &v), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_snapshot_load(NULL, &out), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_snapshot_wait_newer(NULL, 0, 0, &out), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_snapshot_ref_data(NULL, NULL, &len, NULL), FANLOG_NULL_ARGUMENT);
    /* Wrong type. */
    const fanlog_snapshot *not_snap = (const fanlog_snapshot *)(const void *)r;
    const fanlog_snapshot_ref *not_ref = (const fanlog_snapshot_ref *)(const void *)s;
    EXPECT(fanlog_snapshot_version(not_snap, &v), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_snapshot_store(not_snap, NULL, 0, NULL), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_snapshot_ref_data(not_ref, NULL, &len, NULL), FANLOG_INVALID_HANDLE);
    fanlog_hub *hub = NULL;
    OK(fanlog_hub_new(NULL, &hub));
    EXPECT(fanlog_snapshot_load((const fanlog_snapshot *)(const void *)hub, &out), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_hub_publish((const fanlog_hub *)(const void *)s, 0, NULL, 0, NULL, NULL),
           FANLOG_INVALID_HANDLE);
    fanlog_snapshot_ref_release((fanlog_snapshot_ref *)(void *)hub); /* wrong type: ignored */
    fanlog_snapshot_free((fanlog_snapshot *)(void *)r);               /* wrong type: ignored */
    OK(fanlog_hub_publish(hub, 0, NULL, 0, NULL, NULL));
    fanlog_hub_free(hub);
    OK(fanlog_snapshot_ref_data(r, NULL, &len, NULL));
    CHECK(len == 1);
    /* Use after free is detected. */
    fanlog_snapshot_free(s);
    EXPECT(fanlog_snapshot_store(s, (const uint8_t *)"y", 1, NULL), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_snapshot_version(s, &v), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_snapshot_load(s, &out), FANLOG_INVALID_HANDLE);
    EXPECT(fanlog_snapshot_wait_newer(s, 0, 0, &out), FANLOG_INVALID_HANDLE);
    CHECK(out == NULL);
    fanlog_snapshot_free(s); /* double free: ignored */
    fanlog_snapshot_ref_release(r);
    EXPECT(fanlog_snapshot_ref_data(r, NULL, &len, NULL), FANLOG_INVALID_HANDLE);
    fanlog_snapshot_ref_release(r); /* double release: ignored */
}

int main(void) {
    test_basics();
    test_wait_newer();
    test_threads();
    test_handles();
    printf("test_snapshot_api: all passed\n");
    return 0;
}
