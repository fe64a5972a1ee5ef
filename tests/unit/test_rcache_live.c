/* test_rcache_live.c - reading a results file while it is downloaded: each
 * read waits for its own bytes, the read that reaches the announced end only
 * for the whole download, a failed download fails its readers (for good,
 * whatever comes after), a retry starts the count over, a waiting reader is
 * woken by the writer, and a file read while written is pinned like any. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rcache.h"
#include "testutil.h"

static char tmp_root[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static lp_rcache *open_fresh(const char *name, uint64_t limit)
{
    char dir[128], err[256];
    snprintf(dir, sizeof dir, "%s/%s", tmp_root, name);
    lp_rcache *c = lp_rcache_open(dir, limit, err, sizeof err);
    if (!c) {
        fprintf(stderr, "cannot open %s: %s\n", dir, err);
        exit(1);
    }
    return c;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A reader of key while it is written: the fd, *live set. */
static int attach(lp_rcache *c, const char *key, lp_rcache_live **live, uint64_t *size)
{
    int fd = lp_rcache_open_file(c, key, size, live);
    CHECK(fd >= 0);
    CHECK(*live != NULL);
    return fd;
}

static void detach(lp_rcache *c, const char *key, int fd, lp_rcache_live *live)
{
    close(fd);
    lp_rcache_live_put(live);
    lp_rcache_unpin(c, key);
}

static ssize_t wait0(lp_rcache_live *l, uint64_t off, size_t len, uint64_t *size)
{
    return lp_rcache_live_wait(l, off, len, 0, size);
}

/* Reads inside the announced length are served as their bytes arrive; the
 * one that reaches the end waits for the commit. */
static void test_reads_follow_the_writer(void)
{
    lp_rcache *c = open_fresh("follow", 0);
    int e = 0;
    uint64_t size = 7;
    lp_rcache_live *live = NULL;
    lp_rcache_part *p = lp_rcache_begin(c, "k", &e);
    CHECK(p != NULL);
    CHECK_INT(lp_rcache_size(c, "k", &size), -EINPROGRESS); /* no length yet */
    int fd = attach(c, "k", &live, &size);
    CHECK_INT(size, 0);
    CHECK_INT(wait0(live, 0, 4, &size), -EAGAIN);
    lp_rcache_announce(p, 10);
    CHECK_INT(lp_rcache_size(c, "k", &size), 0);
    CHECK_INT(size, 10);
    CHECK_INT(wait0(live, 0, 4, &size), -EAGAIN); /* nothing written */
    CHECK_INT(lp_rcache_write(p, "abcde", 5), 0);
    CHECK_INT(wait0(live, 0, 4, &size), 4);
    CHECK_INT(size, 10);
    char back[16];
    CHECK_INT(pread(fd, back, 4, 0), 4);
    CHECK(memcmp(back, "abcd", 4) == 0);
    CHECK_INT(wait0(live, 3, 4, &size), -EAGAIN); /* its last bytes are not there */
    CHECK_INT(lp_rcache_write(p, "fghij", 5), 0);
    CHECK_INT(wait0(live, 0, 9, &size), 9);
    CHECK_INT(wait0(live, 5, 5, &size), -EAGAIN); /* reaches the end: not yet judged */
    CHECK_INT(wait0(live, 8, 100, &size), -EAGAIN);
    CHECK(!lp_rcache_bytes(c)); /* not complete, not counted */
    CHECK_INT(lp_rcache_commit(p, 10), 0);
    CHECK_INT(wait0(live, 5, 5, &size), 5);
    CHECK_INT(wait0(live, 8, 100, &size), 2);
    CHECK_INT(wait0(live, 10, 4, &size), 0);
    CHECK_INT(wait0(live, 99, 4, &size), 0);
    CHECK_INT(size, 10);
    CHECK_INT(pread(fd, back, sizeof back, 0), 10); /* the same file, now complete */
    CHECK(memcmp(back, "abcdefghij", 10) == 0);
    detach(c, "k", fd, live);
    CHECK_INT(lp_rcache_size(c, "k", &size), 0);
    CHECK_INT(lp_rcache_bytes(c), 10);
    /* Without live, only a complete file is opened, as before. */
    p = lp_rcache_begin(c, "other", &e);
    CHECK_INT(lp_rcache_open_file(c, "other", &size, NULL), -ENOENT);
    lp_rcache_abort(p);
    lp_rcache_close(c);
}

/* A retry starts over: its bytes count from zero under its own length; an
 * abort fails every reader, and a new download of the key is not theirs. */
static void test_retry_and_failure(void)
{
    lp_rcache *c = open_fresh("fail", 0);
    int e = 0;
    uint64_t size = 0;
    lp_rcache_live *live = NULL;
    lp_rcache_part *p = lp_rcache_begin(c, "k", &e);
    lp_rcache_announce(p, 8);
    int fd = attach(c, "k", &live, &size);
    CHECK_INT(size, 8);
    CHECK_INT(lp_rcache_write(p, "1234", 4), 0);
    CHECK_INT(wait0(live, 0, 2, &size), 2);
    CHECK_INT(lp_rcache_reset(p), 0);
    CHECK_INT(wait0(live, 0, 2, &size), -EAGAIN); /* the new try has nothing yet */
    CHECK_INT(size, 0);                           /* nor a length */
    lp_rcache_announce(p, 6);
    CHECK_INT(lp_rcache_write(p, "12", 2), 0);
    CHECK_INT(wait0(live, 0, 2, &size), 2);
    CHECK_INT(size, 6);
    CHECK_INT(wait0(live, 0, 4, &size), -EAGAIN);
    lp_rcache_abort(p);
    CHECK_INT(wait0(live, 0, 2, &size), -EIO);
    CHECK_INT(wait0(live, 50, 2, &size), -EIO);
    uint64_t s2;
    CHECK_INT(lp_rcache_size(c, "k", &s2), -ENOENT);
    /* Downloaded again, whole: the old reader still gets EIO, a new one the bytes. */
    p = lp_rcache_begin(c, "k", &e);
    CHECK(p != NULL);
    lp_rcache_announce(p, 3);
    CHECK_INT(lp_rcache_write(p, "new", 3), 0);
    CHECK_INT(lp_rcache_commit(p, 3), 0);
    CHECK_INT(wait0(live, 0, 2, &size), -EIO);
    detach(c, "k", fd, live);
    CHECK_INT(lp_rcache_size(c, "k", &s2), 0);
    CHECK_INT(s2, 3);

    /* A whole download of another length than announced fails its readers. */
    p = lp_rcache_begin(c, "m", &e);
    lp_rcache_announce(p, 10);
    fd = attach(c, "m", &live, &size);
    CHECK_INT(lp_rcache_write(p, "12345678", 8), 0);
    CHECK_INT(lp_rcache_commit(p, 10), -EIO);
    CHECK_INT(wait0(live, 0, 4, &size), -EIO);
    detach(c, "m", fd, live);
    CHECK_INT(lp_rcache_size(c, "m", &s2), -ENOENT);
    lp_rcache_close(c);
}

/* An answer without a length: every read waits for the whole download, and
 * so does the size. */
static void test_no_length(void)
{
    lp_rcache *c = open_fresh("nolength", 0);
    int e = 0;
    uint64_t size = 0;
    lp_rcache_live *live = NULL;
    lp_rcache_part *p = lp_rcache_begin(c, "k", &e);
    lp_rcache_announce(p, -1);
    int fd = attach(c, "k", &live, &size);
    CHECK_INT(lp_rcache_write(p, "0123456789", 10), 0);
    CHECK_INT(wait0(live, 0, 1, &size), -EAGAIN);
    CHECK_INT(lp_rcache_size(c, "k", &size), -EINPROGRESS);
    CHECK_INT(lp_rcache_finish(p, 10), 0); /* checked, not yet synced */
    CHECK_INT(lp_rcache_size(c, "k", &size), 0);
    CHECK_INT(size, 10);
    CHECK_INT(wait0(live, 0, 1, &size), 1);
    CHECK_INT(lp_rcache_commit(p, 10), 0);
    detach(c, "k", fd, live);
    lp_rcache_close(c);
}

struct waiter {
    lp_rcache_live *live;
    uint64_t off;
    size_t len;
    ssize_t got;
    double took;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    uint64_t size;
    double t0 = now_s();
    w->got = lp_rcache_live_wait(w->live, w->off, w->len, 5000, &size);
    w->took = now_s() - t0;
    return NULL;
}

static void start(pthread_t *t, struct waiter *w, lp_rcache_live *live, uint64_t off, size_t len)
{
    *w = (struct waiter){.live = live, .off = off, .len = len, .got = -999};
    CHECK_INT(pthread_create(t, NULL, waiter_main, w), 0);
}

/* Readers waiting in other threads are woken by the bytes they need, by the
 * commit (the end) and by a failure; none waits for its timeout. */
static void test_waiters_are_woken(void)
{
    lp_rcache *c = open_fresh("wake", 0);
    int e = 0;
    uint64_t size = 0;
    lp_rcache_live *live = NULL;
    lp_rcache_part *p = lp_rcache_begin(c, "k", &e);
    lp_rcache_announce(p, 1000);
    int fd = attach(c, "k", &live, &size);
    pthread_t t[3];
    struct waiter w[3];
    start(&t[0], &w[0], live, 0, 100);
    start(&t[1], &w[1], live, 200, 100);
    start(&t[2], &w[2], live, 900, 100); /* the end */
    static char buf[1000];
    memset(buf, 'x', sizeof buf);
    usleep(100000);
    CHECK_INT(lp_rcache_write(p, buf, 150), 0);
    pthread_join(t[0], NULL);
    CHECK_INT(w[0].got, 100);
    CHECK(w[0].took < 1.0);
    CHECK_INT(lp_rcache_write(p, buf, 850), 0);
    pthread_join(t[1], NULL);
    CHECK_INT(w[1].got, 100);
    usleep(50000);
    CHECK_INT(lp_rcache_commit(p, 1000), 0);
    pthread_join(t[2], NULL);
    CHECK_INT(w[2].got, 100);
    CHECK(w[2].took < 1.0);
    detach(c, "k", fd, live);

    p = lp_rcache_begin(c, "f", &e);
    lp_rcache_announce(p, 1000);
    fd = attach(c, "f", &live, &size);
    start(&t[0], &w[0], live, 0, 100);
    usleep(50000);
    lp_rcache_abort(p);
    pthread_join(t[0], NULL);
    CHECK_INT(w[0].got, -EIO);
    CHECK(w[0].took < 1.0);
    detach(c, "f", fd, live);
    lp_rcache_close(c);
}

/* A file read while it was written is pinned: once complete it is not
 * dropped while its reader holds it, even over the bound. */
static void test_read_while_written_is_pinned(void)
{
    lp_rcache *c = open_fresh("pinned", 300);
    int e = 0;
    uint64_t size = 0;
    lp_rcache_live *live = NULL;
    static char buf[400];
    memset(buf, 'b', sizeof buf);
    lp_rcache_part *p = lp_rcache_begin(c, "big", &e);
    lp_rcache_announce(p, 400);
    int fd = attach(c, "big", &live, &size);
    CHECK_INT(lp_rcache_write(p, buf, 400), 0);
    CHECK_INT(lp_rcache_commit(p, 400), 0);
    for (int i = 0; i < 3; i++) {
        char key[8];
        snprintf(key, sizeof key, "s%d", i);
        p = lp_rcache_begin(c, key, &e);
        CHECK_INT(lp_rcache_write(p, buf, 100), 0);
        CHECK_INT(lp_rcache_commit(p, 100), 0);
    }
    CHECK_INT(lp_rcache_size(c, "big", &size), 0); /* still there */
    char back[4];
    CHECK_INT(pread(fd, back, 4, 396), 4);
    detach(c, "big", fd, live);
    p = lp_rcache_begin(c, "last", &e);
    CHECK_INT(lp_rcache_write(p, buf, 10), 0);
    CHECK_INT(lp_rcache_commit(p, 10), 0);
    CHECK_INT(lp_rcache_size(c, "big", &size), -ENOENT); /* unpinned: dropped */
    lp_rcache_close(c);
}

int main(void)
{
    lp_log_init("test_rcache_live", false, false);
    snprintf(tmp_root, sizeof tmp_root, "/tmp/lp_rlive_XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    test_reads_follow_the_writer();
    test_retry_and_failure();
    test_no_length();
    test_waiters_are_woken();
    test_read_while_written_is_pinned();
    nftw(tmp_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return lp_test_summary();
}
