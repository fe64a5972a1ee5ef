/* test_accesslog.c - the live access log, a file that grows: line format,
 * size and offsets as a file's (what tail -f relies on), readers that each get
 * every line in order, slow readers told what they lost, writers that never
 * wait, reads at the end that wake on a line, an interrupt, shutdown or a
 * timeout, the key scrubbed, and the ring's memory bounded. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "metrics.h"
#include "sbuf.h"
#include "scrub.h"
#include "testutil.h"

#define KEY "sk_live_SECRET_9f3a"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void add_numbered(int i)
{
    char path[32];
    snprintf(path, sizeof path, "/f%06d", i);
    lp_accesslog_fuse("read", path, 0, 0.001);
}

/* A reader and its file position, as the kernel keeps it for an open file. */
struct rd {
    lp_accesslog_reader *r;
    uint64_t pos;
};

static struct rd rd_open(void)
{
    struct rd d = {.r = lp_accesslog_open()};
    CHECK(d.r != NULL);
    return d;
}

/* One read(2) at the position, which moves by what it returned. */
static ssize_t rd_read(struct rd *d, char *buf, size_t size, int timeout_ms)
{
    ssize_t n = lp_accesslog_read(d->r, buf, size, d->pos, timeout_ms);
    if (n > 0)
        d->pos += (uint64_t)n;
    return n;
}

/* Everything d has now (reads with no wait until one comes back empty),
 * malloc'd; the caller frees it. */
static char *read_all(struct rd *d, size_t bufsize)
{
    struct lp_sbuf all = {0};
    char *buf = malloc(bufsize);
    ssize_t n;

    while ((n = rd_read(d, buf, bufsize, 0)) > 0)
        lp_sb_add(&all, buf, (size_t)n);
    CHECK_INT(n, 0);
    free(buf);
    return lp_sb_finish(&all);
}

static int count_lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* Checks that text holds numbered lines first..last (add_numbered), in order
 * and nothing else; returns how many lines matched. */
static int check_numbered(const char *text, int first, int last)
{
    int want = first, bad = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        const char *f = strstr(line, " fuse read /f");
        int got = -1;
        if (!end || !f || f > end || sscanf(f, " fuse read /f%d", &got) != 1 || got != want) {
            if (!bad++)
                fprintf(stderr, "line %d: %.*s\n", want, end ? (int)(end - line) : 40, line);
        }
        want++;
        line = end ? end + 1 : line + strlen(line);
    }
    CHECK_INT(bad, 0);
    CHECK_INT(want - 1, last);
    return want - first;
}

static void test_format(void)
{
    lp_accesslog_reset();
    struct rd r = rd_open();
    lp_accesslog_fuse("lookup", "/Alpha/config.json", 0, 0.000412);
    lp_accesslog_fuse("getattr", "/Beta", -ENOENT, 0.5);
    lp_accesslog_fuse("write", NULL, -EDQUOT, 0);
    lp_accesslog_fuse("read", "", -ENOTEMPTY, -3);
    lp_accesslog_fuse("open", "/x", -9999, 1.25);
    lp_accesslog_api("GET", "/v1/intent/audiences/ID", 200, 0.021, 1234);
    lp_accesslog_api("PATCH", "/v1/x", 0, 2, 0);

    char *text = read_all(&r, 4096);
    const char *want[] = {
        "fuse lookup /Alpha/config.json 0 0.000412\n",
        "fuse getattr /Beta ENOENT 0.500000\n",
        "fuse write - EDQUOT 0.000000\n",
        "fuse read - ENOTEMPTY 0.000000\n",
        "fuse open /x -9999 1.250000\n",
        "api GET /v1/intent/audiences/ID 200 0.021000 1234\n",
        "api PATCH /v1/x error 2.000000 0\n",
    };
    const char *line = text;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int y, mo, d, h, mi, s, us, used = 0;
        /* 2026-12-02T06:20:14.123456Z */
        CHECK_INT(
            sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ %n", &y, &mo, &d, &h, &mi, &s, &us, &used),
            7);
        CHECK_INT(used, 28);
        CHECK(y >= 2024 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31);
        CHECK(line[19] == '.' && line[26] == 'Z');
        CHECK(strncmp(line + used, want[i], strlen(want[i])) == 0);
        if (strncmp(line + used, want[i], strlen(want[i])) != 0)
            fprintf(stderr, "got: %.*s", (int)strcspn(line, "\n") + 1, line);
        line = strchr(line, '\n');
        if (!line)
            break;
        line++;
    }
    CHECK(line && *line == '\0');
    CHECK(strchr(text, '\t') == NULL);
    free(text);
    lp_accesslog_close(r.r);
}

/* A file that grows: its size is every byte logged, with or without a
 * reader; any offset reads the bytes a whole read has there (tail seeks near
 * the end and reads blocks); a reader opened later reads what is kept. */
static void test_file(void)
{
    lp_accesslog_reset();
    CHECK_INT(lp_accesslog_size(), 0);
    struct timespec t0 = lp_accesslog_mtime();
    usleep(2000);
    for (int i = 0; i < 100; i++)
        add_numbered(i);
    uint64_t size = lp_accesslog_size();
    struct timespec t1 = lp_accesslog_mtime();
    CHECK(t1.tv_sec > t0.tv_sec || (t1.tv_sec == t0.tv_sec && t1.tv_nsec > t0.tv_nsec));

    struct rd a = rd_open();
    char *text = read_all(&a, 4096);
    CHECK_INT(strlen(text), size);
    CHECK_INT(check_numbered(text, 0, 99), 100);
    CHECK_INT(a.pos, size);

    /* pread anywhere: the same bytes. */
    char buf[300];
    const uint64_t offs[] = {0, 1, 57, size / 2, size - 300, size - 1};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        struct rd b = rd_open();
        b.pos = offs[i];
        ssize_t n = rd_read(&b, buf, sizeof buf, 0);
        size_t want = size - offs[i] < sizeof buf ? size - offs[i] : sizeof buf;
        CHECK_INT(n, want);
        CHECK(n > 0 && memcmp(buf, text + offs[i], (size_t)n) == 0);
        lp_accesslog_close(b.r);
    }
    /* tail -n 3: from a seek near the end to the end, and no wait there. */
    struct rd t = rd_open();
    t.pos = size - 200;
    char *tail = read_all(&t, 4096);
    CHECK(strcmp(tail, text + size - 200) == 0);
    free(tail);
    double start = now_ms();
    CHECK_INT(rd_read(&t, buf, sizeof buf, 0), 0);
    CHECK(now_ms() - start < 50);
    /* It follows: the next line is there at the old size. */
    add_numbered(100);
    CHECK_INT(lp_accesslog_size() - size, (uint64_t)rd_read(&t, buf, sizeof buf - 1, 0));
    buf[lp_accesslog_size() - size] = '\0';
    check_numbered(buf, 100, 100);
    lp_accesslog_close(t.r);
    free(text);
    lp_accesslog_close(a.r);
}

static void test_two_readers(void)
{
    lp_accesslog_reset();
    struct rd a = rd_open(), b = rd_open();
    for (int i = 0; i < 1000; i++)
        add_numbered(i);
    char *ta = read_all(&a, 65536);
    char *tb = read_all(&b, 333); /* a small buffer: many reads, lines cut between them */
    CHECK_INT(check_numbered(ta, 0, 999), 1000);
    CHECK_INT(check_numbered(tb, 0, 999), 1000);
    CHECK_INT(lp_accesslog_dropped(a.r), 0);
    CHECK_INT(lp_accesslog_dropped(b.r), 0);
    free(ta);
    free(tb);

    /* A reader opened later reads from the start what is kept, then the new. */
    struct rd c = rd_open();
    add_numbered(1000);
    char *tc = read_all(&c, 65536);
    CHECK_INT(check_numbered(tc, 0, 1000), 1001);
    free(tc);
    lp_accesslog_close(a.r);
    lp_accesslog_close(b.r);
    lp_accesslog_close(c.r);
}

static void test_slow_reader(void)
{
    const int total = 10000, dropped = total - LP_ACCESSLOG_LINES;
    struct lp_sbuf fast_all = {0};
    char buf[8192];

    lp_accesslog_reset();
    lp_metrics_reset();
    struct rd fast = rd_open(), slow = rd_open();
    for (int i = 0; i < total; i++) {
        add_numbered(i);
        if (i % 100 == 99) {
            ssize_t n;
            while ((n = rd_read(&fast, buf, sizeof buf, 0)) > 0)
                lp_sb_add(&fast_all, buf, (size_t)n);
        }
    }
    char *ft = lp_sb_finish(&fast_all);
    CHECK_INT(check_numbered(ft, 0, total - 1), total);
    CHECK_INT(lp_accesslog_dropped(fast.r), 0);
    free(ft);

    char *st = read_all(&slow, 65536);
    char want[64];
    snprintf(want, sizeof want, "# %d lines dropped\n", dropped);
    CHECK(strncmp(st, want, strlen(want)) == 0);
    CHECK_INT(check_numbered(st + strlen(want), dropped, total - 1), LP_ACCESSLOG_LINES);
    CHECK_INT(lp_accesslog_dropped(slow.r), dropped);
    free(st);

    char *m = lp_metrics_render(NULL, NULL);
    char series[96];
    snprintf(series, sizeof series, "leadpipefs_accesslog_dropped_lines_total %d\n", dropped);
    CHECK(m && strstr(m, series) != NULL);
    free(m);

    /* Told once: later lines come without another notice. */
    add_numbered(total);
    st = read_all(&slow, 65536);
    CHECK_INT(check_numbered(st, total, total), 1);
    free(st);

    /* Partway through a line when it fell behind: that line counts as lost. */
    struct rd mid = rd_open();
    mid.pos = lp_accesslog_size();
    add_numbered(total + 1);
    CHECK_INT(rd_read(&mid, buf, 10, 0), 10);
    for (int i = 0; i < LP_ACCESSLOG_LINES; i++)
        add_numbered(total + 2 + i);
    st = read_all(&mid, 65536);
    CHECK(strncmp(st, "# 1 lines dropped\n", 18) == 0); /* the rest of that line */
    CHECK_INT(check_numbered(st + 18, total + 2, total + 1 + LP_ACCESSLOG_LINES),
              LP_ACCESSLOG_LINES);
    free(st);
    lp_accesslog_close(mid.r);
    lp_accesslog_close(fast.r);
    lp_accesslog_close(slow.r);
}

/* A seek to bytes no longer kept: one line says so, then the oldest kept. */
static void test_seek_before_kept(void)
{
    lp_accesslog_reset();
    for (int i = 0; i < LP_ACCESSLOG_LINES + 10; i++)
        add_numbered(i);
    struct rd d = rd_open();
    char buf[64];
    d.pos = 5;
    CHECK(rd_read(&d, buf, sizeof buf, 0) > 0); /* positions it: a seek */
    struct rd e = {.r = d.r, .pos = 100}; /* the same open file, seeking again */
    char *text = read_all(&e, 65536);
    const char *marker = "# earlier lines dropped\n";
    CHECK(strncmp(text, marker, strlen(marker)) == 0);
    CHECK_INT(check_numbered(text + strlen(marker), 10, LP_ACCESSLOG_LINES + 9),
              LP_ACCESSLOG_LINES);
    free(text);
    lp_accesslog_close(d.r);
}

struct waiter {
    struct rd d;
    int timeout_ms;
    ssize_t ret;
    char buf[512];
    double returned_ms;
    int reads; /* for the slow follower */
};

/* A waiter positioned at the end of the log, where a read waits. */
static struct waiter *waiter_at_end(int timeout_ms)
{
    struct waiter *w = calloc(1, sizeof *w);
    w->d = rd_open();
    w->d.pos = lp_accesslog_size();
    w->timeout_ms = timeout_ms;
    return w;
}

static void waiter_free(struct waiter *w)
{
    lp_accesslog_close(w->d.r);
    free(w);
}

static void *wait_read(void *arg)
{
    struct waiter *w = arg;
    w->ret = rd_read(&w->d, w->buf, sizeof w->buf - 1, w->timeout_ms);
    w->returned_ms = now_ms();
    if (w->ret > 0)
        w->buf[w->ret] = '\0';
    return NULL;
}

/* A reader that reads a little at a time, slowly, until shutdown. */
static void *slow_follow(void *arg)
{
    struct waiter *w = arg;
    char small[64];
    for (;;) {
        ssize_t n = rd_read(&w->d, small, sizeof small, -1);
        if (n < 0) {
            w->ret = n;
            return NULL;
        }
        w->reads++;
        usleep(1000);
    }
}

/* A writer is not held up by readers that do not keep up. */
static void test_writer_not_blocked(void)
{
    const int total = 100000;
    struct rd stuck = rd_open();
    struct waiter *w = waiter_at_end(-1);
    pthread_t t;

    CHECK_INT(pthread_create(&t, NULL, slow_follow, w), 0);
    double start = now_ms();
    for (int i = 0; i < total; i++)
        add_numbered(i);
    double took = now_ms() - start;
    /* Loose: sanitizers and valgrind are slow; blocking would never end. */
    CHECK(took < 60000);
    fprintf(stderr, "writer: %d lines in %.0f ms while readers lagged\n", total, took);

    lp_accesslog_shutdown();
    pthread_join(t, NULL);
    CHECK_INT(w->ret, -ESHUTDOWN);
    char buf[64];
    CHECK_INT(rd_read(&stuck, buf, sizeof buf, 0), -ESHUTDOWN);
    lp_accesslog_close(stuck.r);
    waiter_free(w);
    lp_accesslog_reset();
}

static void test_wake_on_line(void)
{
    struct waiter *w = waiter_at_end(-1);
    pthread_t t;

    CHECK_INT(pthread_create(&t, NULL, wait_read, w), 0);
    usleep(50000);
    add_numbered(42);
    pthread_join(t, NULL);
    CHECK(w->ret > 0);
    if (w->ret > 0)
        check_numbered(w->buf, 42, 42);
    waiter_free(w);
}

static void test_wake_on_interrupt(void)
{
    struct waiter *w = waiter_at_end(10000);
    struct waiter *other = waiter_at_end(0);
    pthread_t t;

    CHECK_INT(pthread_create(&t, NULL, wait_read, w), 0);
    usleep(50000);
    lp_accesslog_interrupt(other->d.r); /* someone else's interrupt does not end this read */
    usleep(30000);
    double sent = now_ms();
    lp_accesslog_interrupt(w->d.r);
    pthread_join(t, NULL);
    CHECK_INT(w->ret, -EINTR);
    fprintf(stderr, "interrupt woke the read in %.1f ms\n", w->returned_ms - sent);
    CHECK(w->returned_ms - sent < 100);
    /* Reported once, then cleared. */
    char buf[64];
    CHECK_INT(rd_read(&w->d, buf, sizeof buf, 0), 0);
    CHECK_INT(rd_read(&other->d, buf, sizeof buf, 0), -EINTR);
    waiter_free(w);
    waiter_free(other);
}

static void test_interrupt_before_wait(void)
{
    struct waiter *w = waiter_at_end(0);
    char buf[64];

    lp_accesslog_interrupt(w->d.r);
    double start = now_ms();
    CHECK_INT(rd_read(&w->d, buf, sizeof buf, 5000), -EINTR);
    CHECK(now_ms() - start < 100);
    CHECK_INT(rd_read(&w->d, buf, sizeof buf, 0), 0);
    waiter_free(w);
}

static void test_timeout(void)
{
    struct waiter *w = waiter_at_end(0);
    char buf[64];

    double start = now_ms();
    CHECK_INT(rd_read(&w->d, buf, sizeof buf, 80), 0);
    double took = now_ms() - start;
    CHECK(took >= 75 && took < 2000);
    start = now_ms();
    CHECK_INT(rd_read(&w->d, buf, sizeof buf, 0), 0);
    CHECK(now_ms() - start < 50);
    CHECK_INT(rd_read(&w->d, buf, 0, -1), 0); /* no room: nothing to wait for */
    waiter_free(w);
}

static void test_shutdown(void)
{
    struct waiter *w = waiter_at_end(-1);
    pthread_t t;

    CHECK_INT(pthread_create(&t, NULL, wait_read, w), 0);
    usleep(50000);
    double sent = now_ms();
    lp_accesslog_shutdown();
    pthread_join(t, NULL);
    CHECK_INT(w->ret, -ESHUTDOWN);
    CHECK(w->returned_ms - sent < 100);
    /* From now on, even with lines waiting. */
    add_numbered(1);
    char buf[64];
    CHECK_INT(rd_read(&w->d, buf, sizeof buf, 1000), -ESHUTDOWN);
    waiter_free(w);
    lp_accesslog_reset();
    /* reset ends the shutdown (tests) and empties the log */
    struct rd r = rd_open();
    CHECK_INT(rd_read(&r, buf, sizeof buf, 0), 0);
    lp_accesslog_close(r.r);
}

static void test_secret(void)
{
    lp_accesslog_reset();
    struct rd r = rd_open();

    CHECK_INT(lp_accesslog_set_secret(KEY), 0);
    lp_accesslog_fuse("lookup", "/" KEY "/x", 0, 0);
    lp_accesslog_api("GET", "/v1/a?key=" KEY, 200, 0, 1);
    lp_accesslog_api(KEY, KEY, 401, 0, 1);
    /* A key right where a too long line is cut: scrubbed first, so no part
     * of it is left at the cut. */
    for (size_t pad = 8150; pad < 8200; pad += 7) {
        char *path = malloc(pad + 2 * sizeof KEY);
        memset(path, 'p', pad);
        strcpy(path + pad, KEY KEY);
        lp_accesslog_fuse("read", path, 0, 0);
        free(path);
    }
    char *text = read_all(&r, 65536);
    CHECK(strstr(text, "sk_live") == NULL);
    CHECK(strstr(text, "SECRET") == NULL);
    CHECK(strstr(text, "lookup /" LP_SCRUB_MARK "/x 0") != NULL);
    CHECK(strstr(text, "GET /v1/a?key=" LP_SCRUB_MARK " 200") != NULL);
    CHECK_INT(count_lines(text), 3 + 8);
    free(text);

    /* Cleared: text goes through as it is. */
    CHECK_INT(lp_accesslog_set_secret(NULL), 0);
    lp_accesslog_fuse("lookup", "/" KEY, 0, 0);
    text = read_all(&r, 4096);
    CHECK(strstr(text, KEY) != NULL);
    free(text);
    lp_accesslog_close(r.r);
}

static void test_control_chars(void)
{
    lp_accesslog_reset();
    struct rd r = rd_open();

    lp_accesslog_fuse("lookup",
                      "/a\tb\nc\rd\x01"
                      "e\x7f"
                      "f\x1b",
                      -EIO, 0);
    lp_accesslog_api("GET\n", "/x\r\n2026-01-01T00:00:00.000000Z fuse forged / 0 0", 200, 0, 0);
    lp_accesslog_fuse("mk\tdir", "/caf\xc3\xa9", 0, 0); /* UTF-8 stays */
    char *text = read_all(&r, 4096);
    CHECK_INT(count_lines(text), 3);
    CHECK(strstr(text, " fuse lookup /a b c d e f  EIO ") != NULL);
    CHECK(strstr(text, " api GET  /x  2026-01-01T00:00:00.000000Z fuse forged / 0 0 200 ") != NULL);
    CHECK(strstr(text, " fuse mk dir /caf\xc3\xa9 0 ") != NULL);
    CHECK(strchr(text, '\t') == NULL && strchr(text, '\r') == NULL);
    free(text);
    lp_accesslog_close(r.r);
}

/* A line longer than the reader's buffer comes in pieces that join up; a
 * line too long to keep whole is cut to LINE_MAX_BYTES, still one line. */
static void test_long_line(void)
{
    lp_accesslog_reset();
    struct rd r = rd_open();
    char path[301], buf[100];

    memset(path, 'L', 300);
    path[0] = '/';
    path[300] = '\0';
    lp_accesslog_fuse("read", path, 0, 0);
    add_numbered(7);

    struct lp_sbuf all = {0};
    ssize_t n;
    int reads = 0;
    while ((n = rd_read(&r, buf, sizeof buf, 0)) > 0) {
        CHECK(n <= (ssize_t)sizeof buf);
        lp_sb_add(&all, buf, (size_t)n);
        reads++;
    }
    char *text = lp_sb_finish(&all);
    CHECK(reads >= 4);
    CHECK_INT(count_lines(text), 2);
    CHECK(strstr(text, path) != NULL);
    check_numbered(strchr(text, '\n') + 1, 7, 7);
    free(text);

    /* A path far beyond any line the ring keeps: one line, cut, newest kept. */
    size_t huge = 100000;
    char *hp = malloc(huge + 1);
    memset(hp, 'H', huge);
    hp[huge] = '\0';
    lp_accesslog_fuse("read", hp, 0, 0);
    free(hp);
    add_numbered(9);
    text = read_all(&r, 65536);
    CHECK_INT(count_lines(text), 2);
    const char *second = strchr(text, '\n') + 1;
    CHECK((size_t)(second - text) <= 8192);
    check_numbered(second, 9, 9);
    free(text);
    lp_accesslog_close(r.r);
}

/* Long lines: the byte bound, not the line bound, decides what is kept. */
static void test_memory_bounded(void)
{
    const int total = 1000, plen = 4000;
    lp_accesslog_reset();
    struct rd r = rd_open();
    char *path = malloc((size_t)plen + 1);

    memset(path, 'm', (size_t)plen);
    path[plen] = '\0';
    for (int i = 0; i < total; i++) {
        char num[16];
        snprintf(num, sizeof num, "/f%06d/", i);
        memcpy(path, num, strlen(num));
        lp_accesslog_fuse("read", path, 0, 0.001);
    }
    free(path);

    char *text = read_all(&r, 65536);
    unsigned long lost = 0;
    int used = 0;
    CHECK_INT(sscanf(text, "# %lu lines dropped\n%n", &lost, &used), 1);
    CHECK(used > 0);
    const char *kept = text + used;
    size_t kept_bytes = strlen(kept);
    int kept_lines = count_lines(kept);
    size_t line_len = kept_bytes / (size_t)(kept_lines ? kept_lines : 1);
    CHECK(kept_bytes <= LP_ACCESSLOG_BYTES);
    CHECK(kept_bytes + line_len > LP_ACCESSLOG_BYTES); /* and the room is used */
    CHECK_INT(lost + (unsigned long)kept_lines, total);
    CHECK_INT(lp_accesslog_dropped(r.r), lost);
    /* The newest are the ones kept, in order. */
    int first = -1, last = -1;
    sscanf(strstr(kept, " fuse read /f"), " fuse read /f%d", &first);
    const char *lastline = kept + kept_bytes - line_len;
    sscanf(strstr(lastline, " fuse read /f"), " fuse read /f%d", &last);
    CHECK_INT(first, (int)lost);
    CHECK_INT(last, total - 1);
    free(text);
    lp_accesslog_close(r.r);
}

int main(void)
{
    lp_accesslog_reset();
    test_format();
    test_file();
    test_two_readers();
    test_slow_reader();
    test_seek_before_kept();
    test_writer_not_blocked();
    test_wake_on_line();
    test_wake_on_interrupt();
    test_interrupt_before_wait();
    test_timeout();
    test_shutdown();
    test_secret();
    test_control_chars();
    test_long_line();
    test_memory_bounded();
    lp_accesslog_reset();
    return lp_test_summary();
}
