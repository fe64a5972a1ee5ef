/* test_rcache.c - the results cache on disk: private modes whatever the
 * umask, only complete files of the announced length served, least recently
 * used files dropped first but never a pinned one, the directory rescanned
 * on open, keys kept inside the directory, a full disk reported as ENOSPC,
 * and the index consistent with the disk under concurrent use. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "rcache.h"
#include "testutil.h"

static char tmp_root[64];

static void make_tmp_root(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/lp_rcache_XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        exit(1);
    }
}

/* A fresh path below the temporary root (not created). */
static const char *tmp_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmp_root, name);
    return buf;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0xffffu;
}

static bool exists_in(const char *dir, const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &st) == 0;
}

/* Names in dir, "." and ".." aside. */
static int count_names(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

static int put_len(lp_rcache *c, const char *key, const char *data, size_t n, uint64_t expected)
{
    int err = 0;
    lp_rcache_part *p = lp_rcache_begin(c, key, &err);
    if (!p)
        return err;
    /* In two pieces, as a download would write. */
    size_t half = n / 2;
    int rc = lp_rcache_write(p, data, half);
    if (rc == 0)
        rc = lp_rcache_write(p, data + half, n - half);
    if (rc < 0) {
        lp_rcache_abort(p);
        return rc;
    }
    return lp_rcache_commit(p, expected);
}

static int put(lp_rcache *c, const char *key, const char *data, size_t n)
{
    return put_len(c, key, data, n, n);
}

/* n bytes of the letter ch. */
static int put_fill(lp_rcache *c, const char *key, char ch, size_t n)
{
    char buf[1024];
    memset(buf, ch, sizeof buf);
    return put(c, key, buf, n);
}

static bool cached(lp_rcache *c, const char *key)
{
    uint64_t size;
    return lp_rcache_size(c, key, &size) == 0;
}

/* Reads key's whole file through lp_rcache_open_file into buf; its length or a negative errno. */
static long read_key(lp_rcache *c, const char *key, char *buf, size_t len)
{
    uint64_t size = 0;
    int fd = lp_rcache_open_file(c, key, &size, NULL);
    if (fd < 0)
        return fd;
    ssize_t n = pread(fd, buf, len, 0);
    close(fd);
    lp_rcache_unpin(c, key);
    return n == (ssize_t)size ? (long)n : -EIO;
}

/* A cache in the fresh directory tmp_root/name (its path into dir). */
static lp_rcache *open_fresh(char *dir, size_t len, const char *name, uint64_t limit)
{
    char err[256] = "";
    tmp_path(dir, len, name);
    lp_rcache *c = lp_rcache_open(dir, limit, err, sizeof err);
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "cannot open %s: %s\n", dir, err);
        exit(1);
    }
    return c;
}

/* The cache directory is 0700 and its files 0600 whatever the umask, with
 * missing parents created. */
static void test_modes_whatever_umask(void)
{
    static const mode_t masks[] = {0, 0277};
    for (size_t i = 0; i < 2; i++) {
        char dir[256], base[128], name[32], file[300];
        snprintf(name, sizeof name, "modes%zu", i);
        tmp_path(base, sizeof base, name);
        snprintf(dir, sizeof dir, "%s/a/b/cache", base);
        mode_t old = umask(masks[i]);
        char err[256] = "";
        lp_rcache *c = lp_rcache_open(dir, 0, err, sizeof err);
        CHECK(c != NULL);
        if (!c) {
            fprintf(stderr, "open: %s\n", err);
            umask(old);
            continue;
        }
        CHECK_INT(mode_of(dir), 0700);
        CHECK_INT(put(c, "run1", "abc", 3), 0);
        snprintf(file, sizeof file, "%s/run1", dir);
        CHECK_INT(mode_of(file), 0600);
        /* A part too, while it is written. */
        int e = 0;
        lp_rcache_part *p = lp_rcache_begin(c, "run2", &e);
        CHECK(p != NULL);
        snprintf(file, sizeof file, "%s/run2.part", dir);
        CHECK_INT(mode_of(file), 0600);
        lp_rcache_abort(p);
        umask(old);
        lp_rcache_close(c);
        rm_rf(base);
    }
}

/* A group-readable directory of ours is made 0700; one of another user is refused. */
static void test_existing_dir(void)
{
    char dir[128], err[256] = "";
    tmp_path(dir, sizeof dir, "existing");
    CHECK_INT(mkdir(dir, 0700), 0);
    CHECK_INT(chmod(dir, 0750), 0);
    lp_rcache *c = lp_rcache_open(dir, 0, err, sizeof err);
    CHECK(c != NULL);
    CHECK_INT(mode_of(dir), 0700);
    lp_rcache_close(c);

    if (geteuid() == 0) {
        CHECK_INT(chown(dir, 12345, 12345), 0);
        err[0] = '\0';
        c = lp_rcache_open(dir, 0, err, sizeof err);
        CHECK(c == NULL);
        CHECK(strstr(err, dir) != NULL);
        CHECK(strstr(err, "uid 12345") != NULL);
        CHECK_INT(mode_of(dir), 0700); /* not touched */
        lp_rcache_close(c);
    } else {
        fprintf(stderr, "not root: the foreign-owner case is skipped\n");
    }
    rm_rf(dir);
}

/* Bytes written come back equal, with their size, and count toward the total. */
static void test_round_trip(void)
{
    char dir[128];
    lp_rcache *c = open_fresh(dir, sizeof dir, "roundtrip", 0);
    static char data[100000], back[100001];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 7 + 3);
    CHECK_INT(put(c, "run_abc", data, sizeof data), 0);
    uint64_t size = 0;
    CHECK_INT(lp_rcache_size(c, "run_abc", &size), 0);
    CHECK_INT(size, sizeof data);
    CHECK_INT(read_key(c, "run_abc", back, sizeof back), sizeof data);
    CHECK(memcmp(data, back, sizeof data) == 0);
    CHECK_INT(lp_rcache_bytes(c), sizeof data);
    CHECK(!exists_in(dir, "run_abc.part"));
    CHECK_INT(lp_rcache_size(c, "other", &size), -ENOENT);
    CHECK_INT(lp_rcache_open_file(c, "other", &size, NULL), -ENOENT);
    lp_rcache_unpin(c, "other"); /* harmless */
    lp_rcache_close(c);
    rm_rf(dir);
}

/* A length other than the announced one: -EIO, nothing served, no part left;
 * a complete file of that key from before stays. */
static void test_wrong_length(void)
{
    char dir[128], back[16];
    lp_rcache *c = open_fresh(dir, sizeof dir, "wronglen", 0);
    CHECK_INT(put_len(c, "short", "12345", 5, 6), -EIO);
    CHECK_INT(put_len(c, "long", "12345", 5, 4), -EIO);
    CHECK(!cached(c, "short"));
    CHECK(!cached(c, "long"));
    uint64_t size;
    CHECK_INT(lp_rcache_open_file(c, "short", &size, NULL), -ENOENT);
    CHECK_INT(count_names(dir), 0);
    CHECK_INT(lp_rcache_bytes(c), 0);

    CHECK_INT(put(c, "kept", "good", 4), 0);
    CHECK_INT(put_len(c, "kept", "bad!!", 5, 9), -EIO);
    CHECK_INT(read_key(c, "kept", back, sizeof back), 4);
    CHECK(memcmp(back, "good", 4) == 0);
    CHECK_INT(count_names(dir), 1);
    lp_rcache_close(c);
    rm_rf(dir);
}

/* After a reset only the bytes written since are kept. */
static void test_reset(void)
{
    char dir[128], back[64];
    lp_rcache *c = open_fresh(dir, sizeof dir, "reset", 0);
    int e = 0;
    lp_rcache_part *p = lp_rcache_begin(c, "r", &e);
    CHECK_INT(lp_rcache_write(p, "old and longer bytes", 20), 0);
    CHECK_INT(lp_rcache_reset(p), 0);
    CHECK_INT(lp_rcache_write(p, "new", 3), 0);
    CHECK_INT(lp_rcache_commit(p, 3), 0);
    CHECK_INT(read_key(c, "r", back, sizeof back), 3);
    CHECK(memcmp(back, "new", 3) == 0);
    CHECK_INT(lp_rcache_bytes(c), 3);
    lp_rcache_close(c);
    rm_rf(dir);
}

/* Abort leaves nothing; one writer per key at a time. */
static void test_abort_and_one_writer(void)
{
    char dir[128];
    lp_rcache *c = open_fresh(dir, sizeof dir, "abort", 0);
    int e = 0;
    lp_rcache_part *p = lp_rcache_begin(c, "a", &e);
    CHECK(p != NULL);
    CHECK_INT(lp_rcache_write(p, "xyz", 3), 0);
    int e2 = 0;
    CHECK(lp_rcache_begin(c, "a", &e2) == NULL);
    CHECK_INT(e2, -EBUSY);
    lp_rcache_abort(p);
    CHECK_INT(count_names(dir), 0);
    CHECK(!cached(c, "a"));
    CHECK_INT(lp_rcache_bytes(c), 0);
    /* Free again after the abort. */
    CHECK_INT(put(c, "a", "1", 1), 0);
    CHECK(cached(c, "a"));
    lp_rcache_close(c);
    rm_rf(dir);
}

/* A cache in a fresh directory bounded to three files of 100 bytes, holding
 * A, B and C (written in that order). */
static lp_rcache *open_abc(char *dir, size_t len, const char *name)
{
    lp_rcache *c = open_fresh(dir, len, name, 300);
    CHECK_INT(put_fill(c, "A", 'a', 100), 0);
    CHECK_INT(put_fill(c, "B", 'b', 100), 0);
    CHECK_INT(put_fill(c, "C", 'c', 100), 0);
    return c;
}

/* Bound of three files; a fourth drops the least recently used, not the oldest written. */
static void test_lru(void)
{
    char dir[128], back[200];
    lp_rcache *c = open_abc(dir, sizeof dir, "lru");
    CHECK(cached(c, "A")); /* A used: B is now the least recently used */
    CHECK_INT(put_fill(c, "D", 'd', 100), 0);
    CHECK(!cached(c, "B"));
    CHECK(!exists_in(dir, "B"));
    CHECK(cached(c, "A") && cached(c, "C") && cached(c, "D"));
    CHECK_INT(lp_rcache_bytes(c), 300);
    /* A read through open_file is a use too: C (used before A, D) goes next. */
    CHECK_INT(read_key(c, "C", back, sizeof back), 100);
    CHECK(cached(c, "A"));
    CHECK(cached(c, "D"));
    CHECK_INT(put_fill(c, "E", 'e', 100), 0);
    CHECK(!cached(c, "C"));
    CHECK(cached(c, "A") && cached(c, "D") && cached(c, "E"));
    CHECK_INT(lp_rcache_bytes(c), 300);
    CHECK_INT(count_names(dir), 3);
    lp_rcache_close(c);
    rm_rf(dir);
}

/* A pinned file is never dropped, even as the least recently used; it goes
 * at the first commit after its unpin. A file bigger than the bound alone
 * is kept by its own commit and while pinned. */
static void test_pins(void)
{
    char dir[128];
    lp_rcache *c = open_abc(dir, sizeof dir, "pins");
    uint64_t size;
    int fd = lp_rcache_open_file(c, "A", &size, NULL);
    CHECK(fd >= 0);
    /* Pinned twice, unpinned once: still pinned. */
    int fd2 = lp_rcache_open_file(c, "A", &size, NULL);
    CHECK(fd2 >= 0);
    close(fd2);
    lp_rcache_unpin(c, "A");
    CHECK(cached(c, "B"));
    CHECK(cached(c, "C")); /* order of use now A, B, C */
    CHECK_INT(put_fill(c, "D", 'd', 100), 0);
    CHECK(exists_in(dir, "A")); /* not cached(): that would count as a use */
    CHECK(!exists_in(dir, "B"));
    CHECK_INT(put_fill(c, "E", 'e', 100), 0); /* order A(pinned), C, D, E */
    CHECK(!exists_in(dir, "C"));
    CHECK(exists_in(dir, "A"));
    lp_rcache_unpin(c, "A");
    CHECK(exists_in(dir, "A")); /* no eviction at unpin */
    CHECK_INT(put_fill(c, "F", 'f', 100), 0);
    CHECK(!exists_in(dir, "A"));
    CHECK(cached(c, "D") && cached(c, "E") && cached(c, "F"));
    char back[4];
    CHECK_INT(pread(fd, back, 4, 0), 4); /* the open fd still reads */
    CHECK(memcmp(back, "aaaa", 4) == 0);
    close(fd);
    CHECK_INT(lp_rcache_bytes(c), 300);

    /* Too big for the bound alone. */
    CHECK_INT(put_fill(c, "BIG", 'x', 500), 0);
    CHECK(cached(c, "BIG"));
    CHECK_INT(lp_rcache_bytes(c), 500);
    fd = lp_rcache_open_file(c, "BIG", &size, NULL);
    CHECK(fd >= 0);
    CHECK_INT(size, 500);
    CHECK_INT(put_fill(c, "G", 'g', 100), 0);
    CHECK(exists_in(dir, "BIG"));
    CHECK_INT(lp_rcache_bytes(c), 600);
    close(fd);
    lp_rcache_unpin(c, "BIG");
    CHECK_INT(put_fill(c, "H", 'h', 100), 0);
    CHECK(!cached(c, "BIG"));
    CHECK(cached(c, "G") && cached(c, "H"));
    CHECK_INT(lp_rcache_bytes(c), 200);
    lp_rcache_close(c);
    rm_rf(dir);
}

static void set_times(const char *dir, const char *name, time_t atime, time_t mtime)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct timespec ts[2] = {{.tv_sec = atime}, {.tv_sec = mtime}};
    CHECK_INT(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Reopening: complete files count, in their order of use (atime/mtime);
 * parts are removed; other names are left alone and not counted. */
static void test_reopen(void)
{
    char dir[128], err[256], back[200];
    lp_rcache *c = open_abc(dir, sizeof dir, "reopen");
    /* A use sets the atime, so the order outlives the mount. */
    set_times(dir, "A", 1000, 500);
    CHECK(cached(c, "A"));
    struct stat st;
    char path[512];
    snprintf(path, sizeof path, "%s/A", dir);
    CHECK(stat(path, &st) == 0 && st.st_atime > 1000);
    lp_rcache_close(c);

    /* Order of use: B, C, A (atime, else mtime when newer). */
    set_times(dir, "A", 3000, 500);
    set_times(dir, "B", 100, 1000);
    set_times(dir, "C", 2000, 1500);
    write_file(dir, "X.part", "cut short");
    write_file(dir, "README.txt", "mine");
    write_file(dir, "lower%2fhex", "not canonical");
    write_file(dir, "%41", "not canonical either: A needs no escape");
    write_file(dir, ".part", "no key");
    write_file(dir, "%G1", "not hex");
    write_file(dir, "%2", "cut short escape");
    char sub[256];
    snprintf(sub, sizeof sub, "%s/Subdir", dir);
    CHECK_INT(mkdir(sub, 0700), 0);

    c = lp_rcache_open(dir, 300, err, sizeof err);
    CHECK(c != NULL);
    CHECK_INT(lp_rcache_bytes(c), 300);
    CHECK(!exists_in(dir, "X.part"));
    CHECK(exists_in(dir, "README.txt"));
    CHECK(exists_in(dir, "lower%2fhex"));
    CHECK(exists_in(dir, "%41"));
    CHECK(exists_in(dir, ".part"));
    CHECK(exists_in(dir, "%G1"));
    CHECK(exists_in(dir, "%2"));
    CHECK(exists_in(dir, "Subdir"));
    CHECK(!cached(c, "Subdir"));
    CHECK(!cached(c, "README.txt"));
    CHECK_INT(read_key(c, "C", back, sizeof back), 100);
    CHECK(back[0] == 'c' && back[99] == 'c');
    /* Order now B, A, C: D drops B. */
    CHECK_INT(put_fill(c, "D", 'd', 100), 0);
    CHECK(!exists_in(dir, "B"));
    CHECK(exists_in(dir, "A") && exists_in(dir, "C") && exists_in(dir, "D"));
    lp_rcache_close(c);

    /* A lower bound applies at open. */
    c = lp_rcache_open(dir, 150, err, sizeof err);
    CHECK(c != NULL);
    CHECK(lp_rcache_bytes(c) <= 150);
    CHECK(exists_in(dir, "README.txt"));
    lp_rcache_close(c);
    rm_rf(dir);
}

/* Keys with '/', "..", spaces and other bytes are escaped %XX and stay in the directory. */
static void test_escaping(void)
{
    static const struct {
        const char *key, *name;
    } cases[] = {
        {"a/b", "a%2Fb"},
        {"..", "%2E%2E"},
        {".", "%2E"},
        {"x y", "x%20y"},
        {"../../escaped", "%2E%2E%2F%2E%2E%2Fescaped"},
        {"run_01-Z", "run_01-Z"},
        {"caf\xc3\xa9%", "caf%C3%A9%25"},
    };
    char base[128], dir[256], err[256], back[64];
    tmp_path(base, sizeof base, "escape");
    snprintf(dir, sizeof dir, "%s/cache", base);
    lp_rcache *c = lp_rcache_open(dir, 0, err, sizeof err);
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        CHECK_INT(put(c, cases[i].key, cases[i].key, strlen(cases[i].key)), 0);
        CHECK(exists_in(dir, cases[i].name));
        CHECK_INT(read_key(c, cases[i].key, back, sizeof back), strlen(cases[i].key));
        CHECK(memcmp(back, cases[i].key, strlen(cases[i].key)) == 0);
    }
    CHECK_INT(count_names(dir), n);
    CHECK_INT(count_names(base), 1); /* only the cache directory */
    CHECK(!exists_in(tmp_root, "escaped"));
    /* Empty and overlong keys are refused. */
    int e = 0;
    CHECK(lp_rcache_begin(c, "", &e) == NULL);
    CHECK_INT(e, -EINVAL);
    char longkey[300];
    memset(longkey, '/', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    CHECK(lp_rcache_begin(c, longkey, &e) == NULL);
    CHECK_INT(e, -EINVAL);
    /* The longest names: 250 bytes. */
    char edge[252];
    memset(edge, 'k', 250);
    edge[250] = '\0';
    CHECK_INT(put(c, edge, "e", 1), 0);
    memset(edge, 'k', 251);
    edge[251] = '\0';
    CHECK(lp_rcache_begin(c, edge, &e) == NULL);
    CHECK_INT(e, -EINVAL);
    memset(edge, ' ', 83);
    edge[83] = '\0';
    CHECK_INT(put(c, edge, "e", 1), 0);
    edge[83] = ' ';
    edge[84] = '\0';
    CHECK(lp_rcache_begin(c, edge, &e) == NULL);
    uint64_t size;
    CHECK_INT(lp_rcache_size(c, "", &size), -ENOENT);
    uint64_t bytes = lp_rcache_bytes(c);
    lp_rcache_close(c);
    /* The escaped names are recognised again. */
    c = lp_rcache_open(dir, 0, err, sizeof err);
    CHECK_INT(lp_rcache_bytes(c), bytes);
    for (size_t i = 0; i < n; i++)
        CHECK(cached(c, cases[i].key));
    edge[83] = '\0';
    CHECK(cached(c, edge));
    lp_rcache_close(c);
    rm_rf(base);
}

/* A directory that cannot be made or used: NULL with a reason naming it. */
static void test_unusable_dir(void)
{
    char file[128], below[256], err[256] = "";
    tmp_path(file, sizeof file, "plainfile");
    write_file(tmp_root, "plainfile", "x");
    CHECK(lp_rcache_open(file, 0, err, sizeof err) == NULL);
    CHECK(strstr(err, file) != NULL);
    fprintf(stderr, "(expected) %s\n", err);
    snprintf(below, sizeof below, "%s/sub/cache", file);
    err[0] = '\0';
    CHECK(lp_rcache_open(below, 0, err, sizeof err) == NULL);
    CHECK(strstr(err, "Not a directory") != NULL);
    fprintf(stderr, "(expected) %s\n", err);
    err[0] = '\0';
    CHECK(lp_rcache_open("", 0, err, sizeof err) == NULL);
    CHECK(err[0] != '\0');
    unlink(file);
}

/* A full disk (a 64 KiB tmpfs): -ENOSPC from write and commit, nothing
 * served, no part left; room again once it is gone. */
static void test_enospc(void)
{
    char mnt[128], dir[256], err[256];
    tmp_path(mnt, sizeof mnt, "tiny");
    CHECK_INT(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0) {
        char why[128];
        fprintf(stderr, "cannot mount a tmpfs (%s): the ENOSPC case is skipped\n",
                strerror_r(errno, why, sizeof why));
        rmdir(mnt);
        return;
    }
    snprintf(dir, sizeof dir, "%s/cache", mnt);
    lp_rcache *c = lp_rcache_open(dir, 0, err, sizeof err);
    CHECK(c != NULL);
    static char chunk[16384];
    memset(chunk, 'z', sizeof chunk);
    int e = 0;
    lp_rcache_part *p = lp_rcache_begin(c, "huge", &e);
    CHECK(p != NULL);
    int rc = 0, writes = 0;
    while (rc == 0 && writes < 32) {
        rc = lp_rcache_write(p, chunk, sizeof chunk);
        writes++;
    }
    CHECK_INT(rc, -ENOSPC);
    CHECK_INT(lp_rcache_write(p, chunk, 1), -ENOSPC); /* stays failed */
    CHECK_INT(lp_rcache_commit(p, 32 * sizeof chunk), -ENOSPC);
    CHECK(!cached(c, "huge"));
    CHECK(!exists_in(dir, "huge.part"));
    CHECK_INT(count_names(dir), 0);
    CHECK_INT(lp_rcache_bytes(c), 0);
    /* Through put: the same. */
    char *big = calloc(1, 200000);
    CHECK_INT(put(c, "huge2", big, 200000), -ENOSPC);
    free(big);
    CHECK_INT(count_names(dir), 0);
    /* Space again. */
    CHECK_INT(put(c, "small", chunk, 1000), 0);
    CHECK(cached(c, "small"));
    lp_rcache_close(c);
    CHECK_INT(umount(mnt), 0);
    rmdir(mnt);
}

/* Four threads committing, opening and unpinning private and shared keys. */
#define NTHREADS 4
#define LIMIT 3000

struct worker {
    lp_rcache *c;
    int id;
    int wrong;   /* bytes read that were not the key's */
    int errors;  /* unexpected return codes */
    int commits; /* successful */
};

static size_t key_len(const char *key)
{
    unsigned h = 5381;
    for (const char *s = key; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return 200 + h % 400;
}

static char key_byte(const char *key, size_t i)
{
    return (char)(key[0] + key[strlen(key) - 1] * 3 + i * 31);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    unsigned seed = (unsigned)w->id * 7919u + 1;
    struct {
        int fd;
        char key[16];
    } held[2];
    int nheld = 0;
    char buf[1024];
    for (int step = 0; step < 400; step++) {
        char key[16];
        if (rand_r(&seed) % 2)
            snprintf(key, sizeof key, "s%d", rand_r(&seed) % 4);
        else
            snprintf(key, sizeof key, "t%d_%d", w->id, rand_r(&seed) % 6);
        size_t len = key_len(key);
        if (!cached(w->c, key)) {
            for (size_t i = 0; i < len; i++)
                buf[i] = key_byte(key, i);
            int rc = put(w->c, key, buf, len);
            if (rc == 0)
                w->commits++;
            else if (rc != -EBUSY)
                w->errors++;
        }
        uint64_t size = 0;
        int fd = lp_rcache_open_file(w->c, key, &size, NULL);
        if (fd == -ENOENT)
            continue; /* dropped meanwhile by another commit */
        if (fd < 0) {
            w->errors++;
            continue;
        }
        ssize_t n = pread(fd, buf, sizeof buf, 0);
        if (n != (ssize_t)len || size != len)
            w->wrong++;
        for (ssize_t i = 0; i < n; i++)
            w->wrong += buf[i] != key_byte(key, (size_t)i);
        if (nheld == 2 || rand_r(&seed) % 3 == 0) {
            close(fd);
            lp_rcache_unpin(w->c, key);
        } else {
            held[nheld].fd = fd;
            snprintf(held[nheld].key, sizeof held[nheld].key, "%s", key);
            nheld++;
        }
        if (nheld > 0 && rand_r(&seed) % 2) {
            nheld--;
            close(held[nheld].fd);
            lp_rcache_unpin(w->c, held[nheld].key);
        }
    }
    while (nheld > 0) {
        nheld--;
        close(held[nheld].fd);
        lp_rcache_unpin(w->c, held[nheld].key);
    }
    return NULL;
}

static void test_threads(void)
{
    char dir[128];
    lp_rcache *c = open_fresh(dir, sizeof dir, "threads", LIMIT);
    struct worker w[NTHREADS];
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){.c = c, .id = i};
        CHECK_INT(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    int wrong = 0, errors = 0, commits = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
        wrong += w[i].wrong;
        errors += w[i].errors;
        commits += w[i].commits;
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(errors, 0);
    CHECK(commits > 40); /* the bound made files go and come back */
    /* Nothing is pinned now: one more commit brings the total within the bound. */
    CHECK_INT(put_fill(c, "last", 'l', 10), 0);
    CHECK(lp_rcache_bytes(c) <= LIMIT);

    /* The total is what is on disk, and no part is left. */
    DIR *d = opendir(dir);
    uint64_t on_disk = 0;
    int parts = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISREG(st.st_mode))
            on_disk += (uint64_t)st.st_size;
        parts += strstr(de->d_name, ".part") != NULL;
    }
    if (d)
        closedir(d);
    CHECK_INT(lp_rcache_bytes(c), on_disk);
    CHECK_INT(parts, 0);
    lp_rcache_close(c);
    rm_rf(dir);
}

/* The default place: XDG first, then HOME; a hash of base_url and key. */
static void test_default_dir(void)
{
    char *saved_xdg = getenv("XDG_CACHE_HOME") ? strdup(getenv("XDG_CACHE_HOME")) : NULL;
    char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    setenv("HOME", "/home/u", 1);
    char *a = lp_rcache_default_dir("https://api.example", "key1");
    char *b = lp_rcache_default_dir("https://api.example", "key2");
    char *a2 = lp_rcache_default_dir("https://api.example", "key1");
    CHECK(a && b && a2);
    if (a && b && a2) {
        CHECK(strncmp(a, "/xdg/leadpipefs/", 16) == 0);
        CHECK_INT(strlen(a), 16 + 16);
        CHECK(strcmp(a, b) != 0);
        CHECK_STR(a, a2);
        CHECK(strstr(a, "key1") == NULL);
    }
    /* Empty base_url and key: FNV-1a 64 of "\n" alone. */
    uint64_t h = 0xcbf29ce484222325ULL;
    h ^= '\n';
    h *= 0x100000001b3ULL;
    char want[64];
    snprintf(want, sizeof want, "/xdg/leadpipefs/%016llx", (unsigned long long)h);
    char *empty = lp_rcache_default_dir("", "");
    CHECK_STR(empty, want);
    free(empty);
    unsetenv("XDG_CACHE_HOME");
    char *h1 = lp_rcache_default_dir("https://api.example", "key1");
    CHECK(h1 && strncmp(h1, "/home/u/.cache/leadpipefs/", 26) == 0);
    CHECK(h1 && a && strcmp(h1 + 26, a + 16) == 0);
    setenv("XDG_CACHE_HOME", "relative", 1); /* ignored, as XDG says */
    char *h2 = lp_rcache_default_dir("https://api.example", "key1");
    CHECK_STR(h2, h1);
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    CHECK(lp_rcache_default_dir("https://api.example", "key1") == NULL);
    free(a);
    free(b);
    free(a2);
    free(h1);
    free(h2);
    if (saved_xdg)
        setenv("XDG_CACHE_HOME", saved_xdg, 1);
    if (saved_home)
        setenv("HOME", saved_home, 1);
    free(saved_xdg);
    free(saved_home);
}

int main(void)
{
    lp_log_init("leadpipefs", false, false);
    make_tmp_root();
    test_modes_whatever_umask();
    test_existing_dir();
    test_round_trip();
    test_wrong_length();
    test_reset();
    test_abort_and_one_writer();
    test_lru();
    test_pins();
    test_reopen();
    test_escaping();
    test_unusable_dir();
    test_enospc();
    test_threads();
    test_default_dir();
    rm_rf(tmp_root);
    return lp_test_summary();
}
