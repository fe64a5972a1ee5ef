/* rcache.c - the results cache of rcache.h: one directory, an index of its
 * complete files (key -> entry) and a list of them in order of use, least
 * recently used first. Every name is opened relative to the directory's fd,
 * so the files stay in the directory whatever the key or a rename above it.
 *
 * The lock guards the index, the list and the total, and is held across the
 * renames and unlinks that change which files are complete, so the index and
 * the directory agree; writing and fsync of a part happen outside it.
 */
#include "rcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hashmap.h"
#include "log.h"

/* The longest escaped key; with ".part" a name stays within NAME_MAX (255). */
#define NAME_LEN 250
#define PART_SUFFIX ".part"

struct entry {
    char *key; /* decoded; the index borrows it */
    uint64_t size;
    unsigned pins;
    bool complete; /* KEY exists and is in the list */
    bool writing;  /* a part is open for this key */
    struct entry *prev, *next;
};

struct lp_rcache {
    pthread_mutex_t lock;
    int dirfd;
    char *dir; /* for messages */
    uint64_t limit;
    uint64_t total;
    struct lp_map index;
    struct entry *lru, *mru; /* complete entries, least recently used first */
};

struct lp_rcache_part {
    lp_rcache *c;
    struct entry *e; /* kept alive by e->writing */
    int fd;
    int err; /* the first write error (negative), until reset */
    uint64_t len;
    char name[NAME_LEN + 1];
    char part[NAME_LEN + sizeof PART_SUFFIX];
};

static bool plain_byte(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

/* key's file name into out (NAME_LEN + 1 bytes): 0, or -1 when the key is
 * empty or its name would be too long. */
static int escape_key(const char *key, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    if (!key || !*key)
        return -1;
    for (const unsigned char *s = (const unsigned char *)key; *s; s++) {
        if (n + (plain_byte(*s) ? 1 : 3) > NAME_LEN)
            return -1;
        if (plain_byte(*s)) {
            out[n++] = (char)*s;
        } else {
            out[n++] = '%';
            out[n++] = hex[*s >> 4];
            out[n++] = hex[*s & 15];
        }
    }
    out[n] = '\0';
    return 0;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* The key whose file name is the first len bytes of name (malloc'd), or
 * NULL when they are not exactly what escape_key writes for some key. */
static char *unescape_name(const char *name, size_t len)
{
    if (len == 0 || len > NAME_LEN)
        return NULL;
    char *key = malloc(len + 1);
    if (!key)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch == '%' && i + 2 < len) {
            int hi = hex_value(name[i + 1]), lo = hex_value(name[i + 2]);
            if (hi < 0 || lo < 0)
                goto bad;
            ch = (unsigned char)(hi << 4 | lo);
            if (ch == 0 || plain_byte(ch))
                goto bad;
            i += 2;
        } else if (!plain_byte(ch)) {
            goto bad;
        }
        key[n++] = (char)ch;
    }
    key[n] = '\0';
    return key;
bad:
    free(key);
    return NULL;
}

/* -ENOSPC for a full disk or quota, -EIO for anything else. */
static int io_error(int e)
{
    return e == ENOSPC || e == EDQUOT ? -ENOSPC : -EIO;
}

static void warn_file(const lp_rcache *c, const char *what, const char *name, int e)
{
    char why[128];
    lp_log(LP_LOG_WARNING, "results cache: %s %s/%s: %s", what, c->dir, name,
           strerror_r(e, why, sizeof why));
}

/* The list, in order of use. */
static void list_remove(lp_rcache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->lru = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->mru = e->prev;
    e->prev = e->next = NULL;
}

static void list_append(lp_rcache *c, struct entry *e)
{
    e->prev = c->mru;
    e->next = NULL;
    if (c->mru)
        c->mru->next = e;
    else
        c->lru = e;
    c->mru = e;
}

static void mark_used(lp_rcache *c, struct entry *e)
{
    list_remove(c, e);
    list_append(c, e);
}

static void free_entry(struct entry *e)
{
    free(e->key);
    free(e);
}

/* The entry for key, created (not complete, not in the list) when absent.
 * NULL on ENOMEM. */
static struct entry *get_entry(lp_rcache *c, const char *key)
{
    struct entry *e = lp_smap_get(&c->index, key);
    if (e)
        return e;
    e = calloc(1, sizeof *e);
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return NULL;
    }
    if (lp_smap_put(&c->index, e->key, e) != 0) {
        free_entry(e);
        return NULL;
    }
    return e;
}

/* Forgets e once nothing refers to it. */
static void maybe_free(lp_rcache *c, struct entry *e)
{
    if (!e->complete && !e->writing && e->pins == 0) {
        lp_smap_del(&c->index, e->key);
        free_entry(e);
    }
}

/* e's file is no longer complete: out of the list and the total. */
static void drop_complete(lp_rcache *c, struct entry *e)
{
    list_remove(c, e);
    c->total -= e->size;
    e->complete = false;
    e->size = 0;
}

/* Removes least recently used unpinned files (never keep) until the total
 * is within the bound or nothing more can go. */
static void evict_locked(lp_rcache *c, const struct entry *keep)
{
    struct entry *e = c->lru;
    while (c->limit && c->total > c->limit && e) {
        struct entry *next = e->next;
        if (e->pins == 0 && e != keep) {
            char name[NAME_LEN + 1];
            if (escape_key(e->key, name) == 0 && unlinkat(c->dirfd, name, 0) < 0 && errno != ENOENT)
                warn_file(c, "cannot remove", name, errno);
            drop_complete(c, e);
            maybe_free(c, e);
        }
        e = next;
    }
}

/* Sets the file's atime to now, so the order of use outlives the mount. */
static void touch_used(lp_rcache *c, const char *name)
{
    const struct timespec times[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};
    (void)utimensat(c->dirfd, name, times, AT_SYMLINK_NOFOLLOW);
}

/* mkdir -p: each missing component made 0700 (whatever the umask). */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
    char *path = strdup(dir);
    if (!path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0700) == 0) {
            (void)chmod(path, 0700);
        } else if (errno != EEXIST) {
            char why[128];
            snprintf(err, errlen, "cannot create cache directory %s: %s", path,
                     strerror_r(errno, why, sizeof why));
            rc = -1;
            break;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    free(path);
    return rc;
}

/* Opens dir and makes sure it is ours and exactly 0700. The fd, or -1. */
static int open_private_dir(const char *dir, char *err, size_t errlen)
{
    char why[128];
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open cache directory %s: %s", dir,
                 strerror_r(errno, why, sizeof why));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "cannot stat cache directory %s: %s", dir,
                 strerror_r(errno, why, sizeof why));
        close(fd);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen, "cache directory %s belongs to uid %u, not to us (uid %u)", dir,
                 (unsigned)st.st_uid, (unsigned)geteuid());
        close(fd);
        return -1;
    }
    if ((st.st_mode & 07777) != 0700) {
        if (fchmod(fd, 0700) < 0) {
            snprintf(err, errlen, "cache directory %s has mode %04o and cannot be made 0700: %s",
                     dir, (unsigned)(st.st_mode & 07777), strerror_r(errno, why, sizeof why));
            close(fd);
            return -1;
        }
        if (st.st_mode & 077)
            lp_log(LP_LOG_WARNING, "results cache: %s had mode %04o; made it 0700", dir,
                   (unsigned)(st.st_mode & 07777));
    }
    return fd;
}

struct found {
    struct entry *e;
    struct timespec used;
};

static int timespec_cmp(struct timespec a, struct timespec b)
{
    if (a.tv_sec != b.tv_sec)
        return a.tv_sec < b.tv_sec ? -1 : 1;
    return a.tv_nsec < b.tv_nsec ? -1 : a.tv_nsec > b.tv_nsec;
}

static int found_cmp(const void *pa, const void *pb)
{
    const struct found *a = pa, *b = pb;
    int r = timespec_cmp(a->used, b->used);
    return r ? r : strcmp(a->e->key, b->e->key);
}

/* One directory entry at open: a complete file goes into found (grown as
 * needed), a part is removed, anything else stays. 0, or -1 on ENOMEM. */
static int scan_one(lp_rcache *c, const char *name, struct found **found, size_t *n, size_t *cap)
{
    struct stat st;
    if (fstatat(c->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
        return 0;
    size_t len = strlen(name), slen = strlen(PART_SUFFIX);
    if (len > slen && strcmp(name + len - slen, PART_SUFFIX) == 0) {
        char *key = unescape_name(name, len - slen);
        if (key && unlinkat(c->dirfd, name, 0) < 0 && errno != ENOENT)
            warn_file(c, "cannot remove", name, errno);
        free(key);
        return 0;
    }
    char *key = unescape_name(name, len);
    if (!key)
        return 0;
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct found *grown = realloc(*found, ncap * sizeof **found);
        if (!grown) {
            free(key);
            return -1;
        }
        *found = grown;
        *cap = ncap;
    }
    struct entry *e = get_entry(c, key);
    free(key);
    if (!e)
        return -1;
    e->size = (uint64_t)st.st_size;
    e->complete = true;
    c->total += e->size;
    struct timespec used = timespec_cmp(st.st_atim, st.st_mtim) > 0 ? st.st_atim : st.st_mtim;
    (*found)[(*n)++] = (struct found){e, used};
    return 0;
}

/* Indexes the directory's complete files, least recently used first. */
static int scan(lp_rcache *c, char *err, size_t errlen)
{
    char why[128];
    int fd = dup(c->dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        snprintf(err, errlen, "cannot list cache directory %s: %s", c->dir,
                 strerror_r(errno, why, sizeof why));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct found *found = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            rc = scan_one(c, de->d_name, &found, &n, &cap);
    closedir(d);
    if (rc == 0) {
        if (n > 0)
            qsort(found, n, sizeof *found, found_cmp);
        for (size_t i = 0; i < n; i++)
            list_append(c, found[i].e);
    } else {
        snprintf(err, errlen, "out of memory indexing cache directory %s", c->dir);
    }
    free(found);
    return rc;
}

static void free_value(void *value, void *ctx)
{
    (void)ctx;
    free_entry(value);
}

void lp_rcache_close(lp_rcache *c)
{
    if (!c)
        return;
    lp_map_foreach(&c->index, free_value, NULL);
    lp_map_destroy(&c->index);
    if (c->dirfd >= 0)
        close(c->dirfd);
    pthread_mutex_destroy(&c->lock);
    free(c->dir);
    free(c);
}

lp_rcache *lp_rcache_open(const char *dir, uint64_t limit, char *err, size_t errlen)
{
    if (!dir || !*dir) {
        snprintf(err, errlen, "no cache directory given");
        return NULL;
    }
    if (make_dirs(dir, err, errlen) < 0)
        return NULL;
    lp_rcache *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = strdup(dir))) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    lp_map_init_str(&c->index);
    c->limit = limit;
    c->dirfd = open_private_dir(dir, err, errlen);
    if (c->dirfd < 0 || scan(c, err, errlen) < 0) {
        lp_rcache_close(c);
        return NULL;
    }
    evict_locked(c, NULL); /* the bound may have been lowered since */
    return c;
}

char *lp_rcache_default_dir(const char *base_url, const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const char *parts[3] = {base_url ? base_url : "", "\n", key ? key : ""};
    for (int i = 0; i < 3; i++)
        for (const unsigned char *s = (const unsigned char *)parts[i]; *s; s++) {
            h ^= *s;
            h *= 0x100000001b3ULL;
        }
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char *dir = NULL;
    int n;
    /* XDG: a relative or empty value is ignored. */
    if (xdg && xdg[0] == '/')
        n = asprintf(&dir, "%s/leadpipefs/%016llx", xdg, (unsigned long long)h);
    else if (home && home[0] == '/')
        n = asprintf(&dir, "%s/.cache/leadpipefs/%016llx", home, (unsigned long long)h);
    else
        return NULL;
    return n < 0 ? NULL : dir;
}

/* A use of key's complete file: its size, and with pin an fd and a pin.
 * 0 or the fd, -ENOENT or -EIO. */
static int use_file(lp_rcache *c, const char *key, uint64_t *size, bool pin)
{
    char name[NAME_LEN + 1];
    if (escape_key(key, name) < 0)
        return -ENOENT;
    pthread_mutex_lock(&c->lock);
    struct entry *e = lp_smap_get(&c->index, key);
    int rc = -ENOENT;
    if (e && e->complete) {
        rc = pin ? openat(c->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : 0;
        if (rc >= 0) {
            e->pins += pin;
            *size = e->size;
            mark_used(c, e);
            touch_used(c, name);
        } else if (errno == ENOENT) { /* removed behind our back */
            warn_file(c, "lost", name, errno);
            drop_complete(c, e);
            maybe_free(c, e);
            rc = -ENOENT;
        } else {
            warn_file(c, "cannot open", name, errno);
            rc = -EIO;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int lp_rcache_size(lp_rcache *c, const char *key, uint64_t *size)
{
    return use_file(c, key, size, false);
}

int lp_rcache_open_file(lp_rcache *c, const char *key, uint64_t *size)
{
    return use_file(c, key, size, true);
}

void lp_rcache_unpin(lp_rcache *c, const char *key)
{
    pthread_mutex_lock(&c->lock);
    struct entry *e = key ? lp_smap_get(&c->index, key) : NULL;
    if (e && e->pins > 0) {
        e->pins--;
        maybe_free(c, e);
    }
    pthread_mutex_unlock(&c->lock);
}

/* Writing. */

lp_rcache_part *lp_rcache_begin(lp_rcache *c, const char *key, int *err)
{
    lp_rcache_part *p = calloc(1, sizeof *p);
    if (!p) {
        *err = -ENOMEM;
        return NULL;
    }
    p->c = c;
    p->fd = -1;
    if (escape_key(key, p->name) < 0) {
        lp_log(LP_LOG_WARNING, "results cache: refusing an empty or overlong key");
        free(p);
        *err = -EINVAL;
        return NULL;
    }
    snprintf(p->part, sizeof p->part, "%s%s", p->name, PART_SUFFIX);

    pthread_mutex_lock(&c->lock);
    struct entry *e = get_entry(c, key);
    int rc = !e ? -ENOMEM : e->writing ? -EBUSY : 0;
    if (rc == 0)
        e->writing = true;
    pthread_mutex_unlock(&c->lock);
    if (rc < 0) {
        free(p);
        *err = rc;
        return NULL;
    }
    p->e = e;

    /* The part is this writer's alone: a stale one is replaced. */
    if (unlinkat(c->dirfd, p->part, 0) < 0 && errno != ENOENT)
        warn_file(c, "cannot remove", p->part, errno);
    p->fd = openat(c->dirfd, p->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (p->fd < 0 || fchmod(p->fd, 0600) < 0) {
        int e_no = errno;
        warn_file(c, "cannot create", p->part, e_no);
        lp_rcache_abort(p);
        *err = io_error(e_no);
        return NULL;
    }
    *err = 0;
    return p;
}

int lp_rcache_write(lp_rcache_part *p, const char *buf, size_t n)
{
    if (p->err)
        return p->err;
    while (n > 0) {
        ssize_t w = pwrite(p->fd, buf, n, (off_t)p->len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC; /* 0 bytes written: no room */
            warn_file(p->c, "cannot write", p->part, e);
            p->err = io_error(e);
            return p->err;
        }
        buf += w;
        n -= (size_t)w;
        p->len += (uint64_t)w;
    }
    return 0;
}

int lp_rcache_reset(lp_rcache_part *p)
{
    if (ftruncate(p->fd, 0) < 0) {
        int e = errno;
        warn_file(p->c, "cannot truncate", p->part, e);
        p->err = io_error(e);
        return p->err;
    }
    p->len = 0;
    p->err = 0;
    return 0;
}

/* Closes the part's fd, removes it and ends the writer's claim; frees p. */
static void end_part(lp_rcache_part *p, bool remove_part)
{
    lp_rcache *c = p->c;
    if (p->fd >= 0)
        close(p->fd);
    if (remove_part && unlinkat(c->dirfd, p->part, 0) < 0 && errno != ENOENT)
        warn_file(c, "cannot remove", p->part, errno);
    pthread_mutex_lock(&c->lock);
    p->e->writing = false;
    maybe_free(c, p->e);
    pthread_mutex_unlock(&c->lock);
    free(p);
}

void lp_rcache_abort(lp_rcache_part *p)
{
    if (p)
        end_part(p, true);
}

static int sync_and_close(lp_rcache_part *p)
{
    int rc;
    while ((rc = fsync(p->fd)) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        int e = errno;
        warn_file(p->c, "cannot sync", p->part, e);
        return io_error(e);
    }
    rc = close(p->fd);
    p->fd = -1;
    if (rc < 0 && errno != EINTR) {
        int e = errno;
        warn_file(p->c, "cannot close", p->part, e);
        return io_error(e);
    }
    return 0;
}

int lp_rcache_commit(lp_rcache_part *p, uint64_t expected_len)
{
    lp_rcache *c = p->c;
    int rc = p->err;
    if (rc == 0 && p->len != expected_len) {
        lp_log(LP_LOG_WARNING,
               "results cache: %s/%s has %llu bytes where %llu were announced; discarded", c->dir,
               p->part, (unsigned long long)p->len, (unsigned long long)expected_len);
        rc = -EIO;
    }
    if (rc == 0)
        rc = sync_and_close(p);
    if (rc < 0) {
        end_part(p, true);
        return rc;
    }

    pthread_mutex_lock(&c->lock);
    struct entry *e = p->e;
    if (renameat(c->dirfd, p->part, c->dirfd, p->name) < 0) {
        int e_no = errno;
        pthread_mutex_unlock(&c->lock);
        warn_file(c, "cannot rename", p->part, e_no);
        end_part(p, true);
        return io_error(e_no);
    }
    if (e->complete)
        drop_complete(c, e); /* replaced */
    e->complete = true;
    e->size = p->len;
    c->total += e->size;
    list_append(c, e);
    evict_locked(c, e);
    pthread_mutex_unlock(&c->lock);
    end_part(p, false);
    return 0;
}

uint64_t lp_rcache_bytes(lp_rcache *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t n = c->total;
    pthread_mutex_unlock(&c->lock);
    return n;
}
