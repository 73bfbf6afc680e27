/* The durable log's C ABI: open/reopen, flush, recovery, named cursors,
 * the writer lock, read-only tailing, corruption, and every error path. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

#define SECOND 1000000000ull

static char base_dir[256];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* A fresh path under the test's temporary directory. */
static const char *sub(const char *name) {
    static char buf[4][512];
    static int i;
    char *p = buf[i++ % 4];
    snprintf(p, 512, "%s/%s", base_dir, name);
    return p;
}

static fanlog_open_options small_opts(void) {
    fanlog_open_options o;
    OK(fanlog_open_options_init(&o));
    o.segment_size = 4096;
    o.max_bytes = 1 << 20;
    return o;
}

static fanlog_log *open_ok(const char *dir, const fanlog_open_options *o) {
    char err[512] = "";
    fanlog_log *log = NULL;
    fanlog_status st = fanlog_log_open(dir, o, &log, err, sizeof err);
    if (st != FANLOG_OK) {
        fprintf(stderr, "fanlog_log_open(%s): %s: %s\n", dir, fanlog_status_str(st), err);
        exit(1);
    }
    CHECK(log != NULL);
    return log;
}

static void append_str(fanlog_log *log, const char *s, uint64_t want_seq) {
    uint64_t seq = 0;
    OK(fanlog_log_append(log, 1, (const uint8_t *)s, strlen(s), FANLOG_NO_WAIT, &seq));
    CHECK(seq == want_seq);
}

#define expect_record(c, timeout, seq, s) expect_record_at(__LINE__, c, timeout, seq, s)

static void expect_record_at(int line, fanlog_cursor *c, uint64_t timeout, uint64_t seq,
                             const char *s) {
    fanlog_record r;
    fanlog_status st = fanlog_cursor_next(c, timeout, &r, NULL);
    if (st != FANLOG_OK) {
        char detail[512] = "";
        uint64_t at = 0;
        fanlog_cursor_corruption(c, &at, detail, sizeof detail, NULL);
        fprintf(stderr, "line %d: reading seq %u: %s (at seq %u) %s\n", line, (unsigned)seq,
                fanlog_status_str(st), (unsigned)at, detail);
        exit(1);
    }
    CHECK(r.seq == seq);
    CHECK(r.len == strlen(s) && memcmp(r.data, s, r.len) == 0);
}

static void rec_name(char *buf, size_t cap, uint64_t i) { snprintf(buf, cap, "record-%04u", (unsigned)i); }

static void test_options(void) {
    fanlog_open_options o;
    EXPECT(fanlog_open_options_init(NULL), FANLOG_NULL_ARGUMENT);
    OK(fanlog_open_options_init(&o));
    CHECK(o.segment_size == 0 && o.max_bytes == 0 && o.retain_bytes == SIZE_MAX);
    CHECK(o.overflow == FANLOG_OVERFLOW_BLOCK && o.sync == FANLOG_SYNC_NONE);
    CHECK(o.verify == FANLOG_VERIFY_FROM_CHECKPOINT && o.read_only == 0 && o.create == 1);
    CHECK(o.max_age_ns == 0 && o.poll_interval_ns == 1000000);

    const char *dir = sub("options");
    fanlog_log *log = NULL;
    char err[256];
    EXPECT(fanlog_log_open(NULL, &o, &log, err, sizeof err), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_log_open(dir, &o, NULL, err, sizeof err), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_log_open("", &o, &log, NULL, 0), FANLOG_INVALID_ARGUMENT);

    /* Every bad option: FANLOG_INVALID_ARGUMENT, a message, out untouched. */
    for (int k = 0; k < 11; k++) {
        o = small_opts();
        switch (k) {
        case 0: o.overflow = 7; break;
        case 1: o.wait_strategy = 9; break;
        case 2: o.timestamps = 9; break;
        case 3: o.sync = 3; break;
        case 4: o.sync = FANLOG_SYNC_INTERVAL; o.sync_interval_ns = 0; break;
        case 5: o.verify = 2; break;
        case 6: o.read_only = 2; break;
        case 7: o.create = 5; break;
        case 8: o.segment_size = 1000; break;         /* not a power of two */
        case 9: o.max_bytes = o.segment_size; break;  /* fewer than two segments */
        case 10: o.retain_bytes = o.max_bytes + 1; break;
        }
        err[0] = 0;
        EXPECT(fanlog_log_open(dir, &o, &log, err, sizeof err), FANLOG_INVALID_ARGUMENT);
        CHECK(log == NULL);
        CHECK(strlen(err) > 0);
    }
    /* The message is cut to the buffer and NUL-terminated. */
    o = small_opts();
    o.sync = 3;
    memset(err, 'x', sizeof err);
    EXPECT(fanlog_log_open(dir, &o, &log, err, 8), FANLOG_INVALID_ARGUMENT);
    CHECK(strlen(err) == 7);
    CHECK(err[9] == 'x');
    /* create = 0 on a missing directory. */
    o = small_opts();
    o.create = 0;
    err[0] = 0;
    EXPECT(fanlog_log_open(sub("missing"), &o, &log, err, sizeof err), FANLOG_IO_ERROR);
    CHECK(strstr(err, "missing") != NULL);
    /* Read-only: a directory that is not a log. */
    CHECK(mkdir(sub("empty"), 0700) == 0);
    o = small_opts();
    o.read_only = 1;
    EXPECT(fanlog_log_open(sub("empty"), &o, &log, err, sizeof err), FANLOG_FORMAT);
    CHECK(log == NULL);
    /* NULL options: the defaults. */
    log = open_ok(sub("defaults"), NULL);
    fanlog_log_stats ls;
    OK(fanlog_log_get_stats(log, &ls));
    CHECK(ls.records_appended == 0);
    fanlog_log_free(log);
}

static void test_in_memory_log_is_not_durable(void) {
    fanlog_log *log = NULL;
    OK(fanlog_log_new(NULL, &log));
    fanlog_recovery rec;
    EXPECT(fanlog_log_flush(log), FANLOG_NOT_DURABLE);
    EXPECT(fanlog_log_recovery(log, &rec), FANLOG_NOT_DURABLE);
    EXPECT(fanlog_log_recovery_text(log, FANLOG_RECOVERY_TRUNCATED_PATH, NULL, 0, NULL),
           FANLOG_NOT_DURABLE);
    fanlog_cursor *c = NULL;
    EXPECT(fanlog_log_cursor_named(log, "x", FANLOG_START_EARLIEST, 0, &c), FANLOG_NOT_DURABLE);
    CHECK(c == NULL);
    EXPECT(fanlog_log_remove_cursor(log, "x", NULL), FANLOG_NOT_DURABLE);
    OK(fanlog_cursor_new(log, FANLOG_START_EARLIEST, 0, &c));
    uint64_t seq = 0;
    EXPECT(fanlog_cursor_commit(c, 0), FANLOG_NOT_NAMED);
    EXPECT(fanlog_cursor_commit_position(c), FANLOG_NOT_NAMED);
    EXPECT(fanlog_cursor_committed(c, &seq), FANLOG_NOT_NAMED);
    EXPECT(fanlog_cursor_set_auto_commit(c, true), FANLOG_NOT_NAMED);
    EXPECT(fanlog_cursor_corruption(c, &seq, NULL, 0, NULL), FANLOG_EMPTY);
    fanlog_cursor_free(c);
    fanlog_log_free(log);
}

static void test_reopen_and_flush(void) {
    const char *dir = sub("reopen");
    fanlog_open_options o = small_opts();
    fanlog_log *log = open_ok(dir, &o);
    fanlog_recovery rec;
    EXPECT(fanlog_log_recovery(log, NULL), FANLOG_NULL_ARGUMENT);
    OK(fanlog_log_recovery(log, &rec));
    CHECK(rec.next_seq == 0 && rec.has_checkpoint == 0); /* a new log: nothing recovered */
    char name[32];
    for (uint64_t i = 0; i < 500; i++) { /* several 4 KiB segments */
        rec_name(name, sizeof name, i);
        append_str(log, name, i);
    }
    fanlog_slice batch[2] = {{(const uint8_t *)"b-0", 3}, {(const uint8_t *)"b-1", 3}};
    uint64_t first = 0;
    OK(fanlog_log_append_batch(log, 2, batch, 2, FANLOG_NO_WAIT, &first));
    CHECK(first == 500);
    OK(fanlog_log_flush(log));
    EXPECT(fanlog_log_flush(NULL), FANLOG_NULL_ARGUMENT);
    append_str(log, "after flush", 502);
    fanlog_log_free(log); /* no close: as after a crash */

    log = open_ok(dir, &o);
    OK(fanlog_log_recovery(log, &rec));
    CHECK(rec.next_seq == 503 && rec.first_seq == 0);
    CHECK(rec.has_checkpoint == 1 && rec.checkpoint_seq == 502);
    CHECK(rec.segments > 1 && rec.dropped_records == 0 && rec.truncated == 0 && rec.corrupt == 0);
    size_t len = 99;
    EXPECT(fanlog_log_recovery_text(log, FANLOG_RECOVERY_TRUNCATED_PATH, NULL, 0, &len),
           FANLOG_EMPTY);
    EXPECT(fanlog_log_recovery_text(log, FANLOG_RECOVERY_CORRUPTION, NULL, 0, &len), FANLOG_EMPTY);
    EXPECT(fanlog_log_recovery_text(log, 7, NULL, 0, &len), FANLOG_INVALID_ARGUMENT);
    fanlog_cursor *c = NULL;
    OK(fanlog_cursor_new(log, FANLOG_START_EARLIEST, 0, &c));
    for (uint64_t i = 0; i < 500; i++) {
        rec_name(name, sizeof name, i);
        expect_record(c, FANLOG_NO_WAIT, i, name);
    }
    expect_record(c, FANLOG_NO_WAIT, 500, "b-0");
    expect_record(c, FANLOG_NO_WAIT, 501, "b-1");
    expect_record(c, FANLOG_NO_WAIT, 502, "after flush");
    fanlog_record r;
    EXPECT(fanlog_cursor_next(c, FANLOG_NO_WAIT, &r, NULL), FANLOG_EMPTY);
    append_str(log, "continues", 503); /* the sequence goes on */
    expect_record(c, FANLOG_NO_WAIT, 503, "continues");

    /* A clean close is remembered; reopening for writing resumes. */
    OK(fanlog_log_close(log, 0, NULL));
    EXPECT(fanlog_cursor_next(c, FANLOG_NO_WAIT, &r, NULL), FANLOG_CLOSED);
    fanlog_cursor_free(c);
    fanlog_log_free(log);
    log = open_ok(dir, &o);
    append_str(log, "reopened", 504);
    fanlog_log_free(log);

    /* The existing log keeps its segment size. */
    o.segment_size = 8192;
    char err[512] = "";
    EXPECT(fanlog_log_open(dir, &o, &log, err, sizeof err), FANLOG_FORMAT);
    CHECK(strlen(err) > 0);
}

static void test_named_cursors(void) {
    const char *dir = sub("named");
    fanlog_open_options o = small_opts();
    fanlog_log *log = open_ok(dir, &o);
    char name[32];
    for (uint64_t i = 0; i < 20; i++) {
        rec_name(name, sizeof name, i);
        append_str(log, name, i);
    }
    fanlog_cursor *c = NULL, *c2 = NULL;
    /* Bad names and arguments. */
    EXPECT(fanlog_log_cursor_named(log, NULL, FANLOG_START_EARLIEST, 0, &c), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_log_cursor_named(log, "billing", FANLOG_START_EARLIEST, 0, NULL),
           FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_log_cursor_named(NULL, "billing", FANLOG_START_EARLIEST, 0, &c),
           FANLOG_NULL_ARGUMENT);
    const char *bad[] = {"", ".hidden", "a/b", "sp ace", "\xc3\xa9t\xc3\xa9", "\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT(fanlog_log_cursor_named(log, bad[i], FANLOG_START_EARLIEST, 0, &c),
               FANLOG_INVALID_ARGUMENT);
        EXPECT(fanlog_log_remove_cursor(log, bad[i], NULL), FANLOG_INVALID_ARGUMENT);
    }
    char longname[200];
    memset(longname, 'a', sizeof longname);
    longname[129] = 0;
    EXPECT(fanlog_log_cursor_named(log, longname, FANLOG_START_EARLIEST, 0, &c),
           FANLOG_INVALID_ARGUMENT);
    longname[128] = 0; /* 128 is the longest allowed */
    OK(fanlog_log_cursor_named(log, longname, FANLOG_START_EARLIEST, 0, &c));
    fanlog_cursor_free(c);
    OK(fanlog_log_remove_cursor(log, longname, NULL));
    c = NULL;
    EXPECT(fanlog_log_cursor_named(log, "billing", 9, 0, &c), FANLOG_INVALID_ARGUMENT);
    EXPECT(fanlog_log_cursor_named(log, "billing", FANLOG_START_AT, 999, &c), FANLOG_FUTURE);
    CHECK(c == NULL);

    OK(fanlog_log_cursor_named(log, "billing", FANLOG_START_EARLIEST, 0, &c));
    EXPECT(fanlog_log_cursor_named(log, "billing", FANLOG_START_EARLIEST, 0, &c2),
           FANLOG_CURSOR_IN_USE);
    CHECK(c2 == NULL);
    uint64_t committed = 77;
    EXPECT(fanlog_cursor_committed(c, NULL), FANLOG_NULL_ARGUMENT);
    /* A new name holds retention from where it starts. */
    OK(fanlog_cursor_committed(c, &committed));
    CHECK(committed == 0);
    EXPECT(fanlog_cursor_commit(c, 0), FANLOG_NOT_READ); /* nothing read yet */
    for (uint64_t i = 0; i < 10; i++) {
        rec_name(name, sizeof name, i);
        expect_record(c, FANLOG_NO_WAIT, i, name);
    }
    EXPECT(fanlog_cursor_commit(c, 10), FANLOG_NOT_READ); /* not returned yet */
    EXPECT(fanlog_cursor_commit(c, 19), FANLOG_NOT_READ);
    EXPECT(fanlog_cursor_commit(NULL, 1), FANLOG_NULL_ARGUMENT);
    OK(fanlog_cursor_commit(c, 4));
    OK(fanlog_cursor_committed(c, &committed));
    CHECK(committed == 5);
    EXPECT(fanlog_log_remove_cursor(log, "billing", NULL), FANLOG_CURSOR_IN_USE);
    EXPECT(fanlog_log_remove_cursor(log, NULL, NULL), FANLOG_NULL_ARGUMENT);
    fanlog_cursor_free(c); /* no auto-commit: 5 stays */
    fanlog_log_free(log);

    /* Reopen: the named cursor resumes after the commit. */
    log = open_ok(dir, &o);
    OK(fanlog_log_cursor_named(log, "billing", FANLOG_START_LATEST, 0, &c));
    OK(fanlog_cursor_committed(c, &committed));
    CHECK(committed == 5);
    for (uint64_t i = 5; i < 8; i++) {
        rec_name(name, sizeof name, i);
        expect_record(c, FANLOG_NO_WAIT, i, name);
    }
    OK(fanlog_cursor_commit_position(c));
    OK(fanlog_cursor_committed(c, &committed));
    CHECK(committed == 8);
    /* Auto-commit: each read commits what earlier reads returned; free
     * commits everything returned. */
    OK(fanlog_cursor_set_auto_commit(c, true));
    EXPECT(fanlog_cursor_set_auto_commit(NULL, true), FANLOG_NULL_ARGUMENT);
    expect_record(c, FANLOG_NO_WAIT, 8, "record-0008");
    OK(fanlog_cursor_committed(c, &committed));
    CHECK(committed == 8);
    expect_record(c, FANLOG_NO_WAIT, 9, "record-0009");
    OK(fanlog_cursor_committed(c, &committed));
    CHECK(committed == 9);
    fanlog_cursor_free(c);
    OK(fanlog_log_cursor_named(log, "billing", FANLOG_START_EARLIEST, 0, &c));
    expect_record(c, FANLOG_NO_WAIT, 10, "record-0010");
    OK(fanlog_cursor_commit(c, 3)); /* backwards is allowed */
    fanlog_cursor_free(c);
    OK(fanlog_log_cursor_named(log, "billing", FANLOG_START_EARLIEST, 0, &c));
    expect_record(c, FANLOG_NO_WAIT, 4, "record-0004");
    fanlog_cursor_free(c);

    /* Removal forgets the position. */
    bool removed = false;
    OK(fanlog_log_remove_cursor(log, "billing", &removed));
    CHECK(removed);
    OK(fanlog_log_remove_cursor(log, "billing", &removed));
    CHECK(!removed);
    OK(fanlog_log_cursor_named(log, "billing", FANLOG_START_LATEST, 0, &c));
    OK(fanlog_cursor_committed(c, &committed));
    CHECK(committed == 20); /* starts afresh, at the latest record */
    fanlog_record r;
    EXPECT(fanlog_cursor_next(c, FANLOG_NO_WAIT, &r, NULL), FANLOG_EMPTY);
    fanlog_cursor_free(c);
    fanlog_log_free(log);
}

static void test_lock_and_read_only_tail(void) {
    const char *dir = sub("tail");
    fanlog_open_options o = small_opts();
    fanlog_log *w = open_ok(dir, &o);
    append_str(w, "first", 0);

    /* A second writer is refused, with the lock file named. */
    fanlog_log *w2 = NULL;
    char err[512] = "";
    EXPECT(fanlog_log_open(dir, &o, &w2, err, sizeof err), FANLOG_LOCKED);
    CHECK(w2 == NULL);
    CHECK(strstr(err, "LOCK") != NULL);

    /* A read-only open tails the writer. */
    fanlog_open_options ro_opts = small_opts();
    ro_opts.read_only = 1;
    ro_opts.poll_interval_ns = 100000;
    fanlog_log *ro = open_ok(dir, &ro_opts);
    EXPECT(fanlog_log_append(ro, 0, (const uint8_t *)"x", 1, FANLOG_NO_WAIT, NULL),
           FANLOG_READ_ONLY);
    fanlog_slice one = {(const uint8_t *)"x", 1};
    EXPECT(fanlog_log_append_batch(ro, 0, &one, 1, FANLOG_NO_WAIT, NULL), FANLOG_READ_ONLY);
    EXPECT(fanlog_log_append_batch(ro, 0, NULL, 0, FANLOG_NO_WAIT, NULL), FANLOG_READ_ONLY); /* empty */
    EXPECT(fanlog_log_flush(ro), FANLOG_READ_ONLY);
    fanlog_recovery rec;
    OK(fanlog_log_recovery(ro, &rec));
    CHECK(rec.next_seq == 1);

    fanlog_cursor *c = NULL;
    OK(fanlog_cursor_new(ro, FANLOG_START_EARLIEST, 0, &c));
    expect_record(c, FANLOG_NO_WAIT, 0, "first");
    fanlog_record r;
    EXPECT(fanlog_cursor_next(c, FANLOG_NO_WAIT, &r, NULL), FANLOG_EMPTY);
    /* A blocking read sees a record appended later (the follower thread). */
    append_str(w, "second", 1);
    expect_record(c, 10 * SECOND, 1, "second");
    /* The readiness fd fires for the writer's records too. */
    int fd = -1;
    OK(fanlog_cursor_readiness_fd(c, &fd));
    EXPECT(fanlog_cursor_next(c, FANLOG_NO_WAIT, &r, NULL), FANLOG_EMPTY); /* re-arms */
    char name[32];
    for (uint64_t i = 2; i < 300; i++) { /* across segments */
        rec_name(name, sizeof name, i);
        append_str(w, name, i);
    }
    struct pollfd p = {fd, POLLIN, 0};
    CHECK(poll(&p, 1, 10000) == 1);
    for (uint64_t i = 2; i < 300; i++) {
        rec_name(name, sizeof name, i);
        expect_record(c, 10 * SECOND, i, name);
    }
    /* The writer's close reaches the reader. */
    OK(fanlog_log_close(w, 3, "done here"));
    EXPECT(fanlog_cursor_next(c, 10 * SECOND, &r, NULL), FANLOG_CLOSED);
    int32_t code = 0;
    char msg[64];
    OK(fanlog_cursor_close_status(c, &code, msg, sizeof msg, NULL));
    CHECK(code == 3 && strcmp(msg, "done here") == 0);
    fanlog_cursor_free(c);
    fanlog_log_free(ro);
    fanlog_log_free(w);

    /* The lock goes with the last handle. */
    w = open_ok(dir, &o);
    fanlog_log_free(w);
}

/* Flips one byte of `needle` in the file at `path`. */
static void damage(const char *path, const char *needle) {
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    static unsigned char data[1 << 16];
    size_t n = fread(data, 1, sizeof data, f);
    size_t len = strlen(needle);
    long at = -1;
    for (size_t i = 0; i + len <= n; i++) {
        if (memcmp(data + i, needle, len) == 0) {
            at = (long)i;
            break;
        }
    }
    CHECK(at >= 0);
    CHECK(fseek(f, at + (long)len - 1, SEEK_SET) == 0);
    CHECK(fputc(data[at + len - 1] ^ 0x20, f) != EOF);
    CHECK(fclose(f) == 0);
}

static void test_corruption(void) {
    const char *dir = sub("corrupt");
    fanlog_open_options o = small_opts();
    fanlog_log *log = open_ok(dir, &o);
    char name[32];
    for (uint64_t i = 0; i < 10; i++) {
        rec_name(name, sizeof name, i);
        append_str(log, name, i);
    }
    OK(fanlog_log_flush(log));
    fanlog_log_free(log);
    damage(sub("corrupt/00000000000000000000.seg"), "record-0003");

    /* From the checkpoint: the open succeeds; the read of record 3 fails. */
    log = open_ok(dir, &o);
    fanlog_cursor *c = NULL;
    OK(fanlog_cursor_new(log, FANLOG_START_EARLIEST, 0, &c));
    uint64_t seq = 99;
    EXPECT(fanlog_cursor_corruption(c, &seq, NULL, 0, NULL), FANLOG_EMPTY);
    for (uint64_t i = 0; i < 3; i++) {
        rec_name(name, sizeof name, i);
        expect_record(c, FANLOG_NO_WAIT, i, name);
    }
    fanlog_record r;
    uint64_t missed = 42;
    EXPECT(fanlog_cursor_next(c, FANLOG_NO_WAIT, &r, &missed), FANLOG_CORRUPT);
    CHECK(missed == 42);
    EXPECT(fanlog_cursor_next(c, 10 * 1000 * 1000, &r, NULL), FANLOG_CORRUPT); /* stays */
    fanlog_record batch[4];
    size_t n = 0;
    EXPECT(fanlog_cursor_next_batch(c, FANLOG_NO_WAIT, batch, 4, &n, NULL), FANLOG_CORRUPT);
    size_t len = 0;
    char small[4];
    EXPECT(fanlog_cursor_corruption(c, &seq, small, sizeof small, &len), FANLOG_BUFFER_TOO_SMALL);
    CHECK(seq == 99 && len > 0);
    EXPECT(fanlog_cursor_corruption(c, &seq, NULL, 4, &len), FANLOG_NULL_ARGUMENT);
    EXPECT(fanlog_cursor_corruption(NULL, &seq, NULL, 0, &len), FANLOG_NULL_ARGUMENT);
    char detail[512];
    OK(fanlog_cursor_corruption(c, &seq, detail, sizeof detail, &len));
    CHECK(seq == 3 && len == strlen(detail));
    CHECK(strstr(detail, "00000000000000000000.seg") != NULL);
    CHECK(strstr(detail, "offset") != NULL);
    fanlog_cursor_free(c);
    /* A cursor asked to start after the damage in the same segment stops at
     * the damaged record too (the frames after it are found by walking
     * the checked frames from the segment's start). */
    OK(fanlog_cursor_new(log, FANLOG_START_AT, 4, &c));
    EXPECT(fanlog_cursor_next(c, FANLOG_NO_WAIT, &r, NULL), FANLOG_CORRUPT);
    OK(fanlog_cursor_corruption(c, &seq, NULL, 0, NULL));
    CHECK(seq == 3);
    fanlog_cursor_free(c);
    fanlog_log_free(log);

    /* Verifying everything: the open fails and names file and offset. */
    o.verify = FANLOG_VERIFY_ALL;
    char err[512] = "";
    log = NULL;
    EXPECT(fanlog_log_open(dir, &o, &log, err, sizeof err), FANLOG_CORRUPT);
    CHECK(log == NULL);
    CHECK(strstr(err, "00000000000000000000.seg") != NULL && strstr(err, "offset") != NULL);

    /* Read-only with full verification: opens, and reports it. */
    o.read_only = 1;
    log = open_ok(dir, &o);
    fanlog_recovery rec;
    OK(fanlog_log_recovery(log, &rec));
    CHECK(rec.corrupt == 1);
    OK(fanlog_log_recovery_text(log, FANLOG_RECOVERY_CORRUPTION, NULL, 0, &len));
    CHECK(len > 0);
    EXPECT(fanlog_log_recovery_text(log, FANLOG_RECOVERY_CORRUPTION, detail, 2, &len),
           FANLOG_BUFFER_TOO_SMALL);
    OK(fanlog_log_recovery_text(log, FANLOG_RECOVERY_CORRUPTION, detail, sizeof detail, &len));
    CHECK(strstr(detail, ".seg") != NULL);
    OK(fanlog_cursor_new(log, FANLOG_START_EARLIEST, 0, &c));
    for (uint64_t i = 0; i < 3; i++) {
        rec_name(name, sizeof name, i);
        expect_record(c, FANLOG_NO_WAIT, i, name);
    }
    EXPECT(fanlog_cursor_next(c, FANLOG_NO_WAIT, &r, NULL), FANLOG_CORRUPT);
    OK(fanlog_cursor_corruption(c, &seq, NULL, 0, NULL));
    CHECK(seq == 3);
    fanlog_cursor_free(c);
    fanlog_log_free(log);
}

static void test_status_strings(void) {
    CHECK(strstr(fanlog_status_str(FANLOG_LOCKED), "locked") != NULL);
    CHECK(strstr(fanlog_status_str(FANLOG_CORRUPT), "corrupt") != NULL);
    CHECK(strstr(fanlog_status_str(FANLOG_NOT_READ), "not read") != NULL);
    CHECK(strstr(fanlog_status_str(FANLOG_IO_ERROR), "I/O") != NULL);
    const fanlog_status all[] = {FANLOG_NOT_DURABLE, FANLOG_NOT_NAMED, FANLOG_CURSOR_IN_USE,
                                 FANLOG_FORMAT, FANLOG_READ_ONLY};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CHECK(strcmp(fanlog_status_str(all[i]), "unknown status code") != 0);
    }
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(base_dir, sizeof base_dir, "%s/fanlog-c-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(base_dir) != NULL);
    test_status_strings();
    test_options();
    test_in_memory_log_is_not_durable();
    test_reopen_and_flush();
    test_named_cursors();
    test_lock_and_read_only_tail();
    test_corruption();
    rm_rf(base_dir);
    puts("test_store_api: ok");
    return 0;
}
