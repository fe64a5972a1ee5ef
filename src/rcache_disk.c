/* rcache_disk.c - the results cache's disk side (rcache_disk.h): the private
 * directory, file names of keys, the scan at open and the files written,
 * each error logged with its reason. Never calls back into rcache.c. */
#include "rcache_disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static bool plain_byte(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

int lp_rcache_escape_key(const char *key, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    if (!key || !*key)
        return -1;
    for (const unsigned char *s = (const unsigned char *)key; *s; s++) {
        if (n + (plain_byte(*s) ? 1 : 3) > LP_RCACHE_NAME_LEN)
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
 * NULL when they are not exactly what lp_rcache_escape_key writes for some
 * key. */
static char *unescape_name(const char *name, size_t len)
{
    if (len == 0 || len > LP_RCACHE_NAME_LEN)
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

static void warn_file(const struct lp_rcache_dir *d, const char *what, const char *name, int e)
{
    char why[128];
    lp_log(LP_LOG_WARNING, "results cache: %s %s/%s: %s", what, d->path, name,
           strerror_r(e, why, sizeof why));
}

/* Removes name; a missing file is no error, others are logged. */
static void remove_name(const struct lp_rcache_dir *d, const char *name)
{
    if (unlinkat(d->fd, name, 0) < 0 && errno != ENOENT)
        warn_file(d, "cannot remove", name, errno);
}

int lp_rcache_make_dirs(const char *dir, char *err, size_t errlen)
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

int lp_rcache_open_private_dir(const char *dir, char *err, size_t errlen)
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

static int timespec_cmp(struct timespec a, struct timespec b)
{
    if (a.tv_sec != b.tv_sec)
        return a.tv_sec < b.tv_sec ? -1 : 1;
    return a.tv_nsec < b.tv_nsec ? -1 : a.tv_nsec > b.tv_nsec;
}

static int found_cmp(const void *pa, const void *pb)
{
    const struct lp_rcache_found *a = pa, *b = pb;
    int r = timespec_cmp(a->used, b->used);
    return r ? r : strcmp(a->key, b->key);
}

/* One directory entry at open: a complete file goes into found (grown as
 * needed), a part is removed, anything else stays. 0, or -1 on ENOMEM. */
static int scan_one(const struct lp_rcache_dir *d, const char *name, struct lp_rcache_found **found,
                    size_t *n, size_t *cap)
{
    struct stat st;
    if (fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
        return 0;
    size_t len = strlen(name), slen = strlen(LP_RCACHE_PART_SUFFIX);
    if (len > slen && strcmp(name + len - slen, LP_RCACHE_PART_SUFFIX) == 0) {
        char *key = unescape_name(name, len - slen);
        if (key)
            remove_name(d, name);
        free(key);
        return 0;
    }
    char *key = unescape_name(name, len);
    if (!key)
        return 0;
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct lp_rcache_found *grown = realloc(*found, ncap * sizeof **found);
        if (!grown) {
            free(key);
            return -1;
        }
        *found = grown;
        *cap = ncap;
    }
    struct timespec used = timespec_cmp(st.st_atim, st.st_mtim) > 0 ? st.st_atim : st.st_mtim;
    (*found)[(*n)++] = (struct lp_rcache_found){key, (uint64_t)st.st_size, used};
    return 0;
}

int lp_rcache_scan(const struct lp_rcache_dir *d, struct lp_rcache_found **found, size_t *n,
                   char *err, size_t errlen)
{
    char why[128];
    *found = NULL;
    *n = 0;
    int fd = dup(d->fd);
    DIR *dir = fd < 0 ? NULL : fdopendir(fd);
    if (!dir) {
        snprintf(err, errlen, "cannot list cache directory %s: %s", d->path,
                 strerror_r(errno, why, sizeof why));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    size_t cap = 0;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(dir)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            rc = scan_one(d, de->d_name, found, n, &cap);
    closedir(dir);
    if (rc < 0) {
        lp_rcache_found_free(*found, *n);
        *found = NULL;
        *n = 0;
        return -ENOMEM;
    }
    if (*n > 0)
        qsort(*found, *n, sizeof **found, found_cmp);
    return 0;
}

void lp_rcache_found_free(struct lp_rcache_found *found, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(found[i].key);
    free(found);
}

int lp_rcache_open_read(const struct lp_rcache_dir *d, const char *name)
{
    int fd = openat(d->fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0)
        return fd;
    if (errno == ENOENT) { /* removed behind our back */
        warn_file(d, "lost", name, errno);
        return -ENOENT;
    }
    warn_file(d, "cannot open", name, errno);
    return -EIO;
}

void lp_rcache_touch(const struct lp_rcache_dir *d, const char *name)
{
    const struct timespec times[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};
    (void)utimensat(d->fd, name, times, AT_SYMLINK_NOFOLLOW);
}

void lp_rcache_remove_key(const struct lp_rcache_dir *d, const char *key)
{
    char name[LP_RCACHE_NAME_LEN + 1];
    if (lp_rcache_escape_key(key, name) == 0)
        remove_name(d, name);
}

/* Writing one file. */

int lp_rcache_file_init(struct lp_rcache_file *f, const char *key)
{
    f->fd = -1;
    if (lp_rcache_escape_key(key, f->name) < 0) {
        lp_log(LP_LOG_WARNING, "results cache: refusing an empty or overlong key");
        return -EINVAL;
    }
    snprintf(f->part, sizeof f->part, "%s%s", f->name, LP_RCACHE_PART_SUFFIX);
    return 0;
}

int lp_rcache_file_failed(const struct lp_rcache_dir *d, const struct lp_rcache_file *f,
                          const char *what, int e)
{
    warn_file(d, what, f->part, e);
    return io_error(e);
}

int lp_rcache_file_create(const struct lp_rcache_dir *d, struct lp_rcache_file *f)
{
    /* The part is this writer's alone: a stale one is replaced. */
    remove_name(d, f->part);
    f->fd = openat(d->fd, f->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f->fd < 0 || fchmod(f->fd, 0600) < 0)
        return lp_rcache_file_failed(d, f, "cannot create", errno);
    return 0;
}

int lp_rcache_file_open_reader(const struct lp_rcache_dir *d, const struct lp_rcache_file *f)
{
    int fd = openat(d->fd, f->part, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    return fd >= 0 ? fd : lp_rcache_file_failed(d, f, "cannot open for reading", errno);
}

int lp_rcache_file_write(const struct lp_rcache_dir *d, struct lp_rcache_file *f, const char *buf,
                         size_t n)
{
    if (f->err)
        return f->err;
    while (n > 0) {
        ssize_t w = pwrite(f->fd, buf, n, (off_t)f->len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC; /* 0 bytes written: no room */
            f->err = lp_rcache_file_failed(d, f, "cannot write", e);
            return f->err;
        }
        buf += w;
        n -= (size_t)w;
        f->len += (uint64_t)w;
    }
    if (f->len > f->high)
        f->high = f->len;
    return 0;
}

/* Not truncated: a reader may be reading bytes of the try before (see
 * lp_rcache_reset); lp_rcache_file_check cuts the rest. */
void lp_rcache_file_reset(struct lp_rcache_file *f)
{
    f->len = 0;
    f->err = 0;
}

int lp_rcache_file_sync(const struct lp_rcache_dir *d, struct lp_rcache_file *f)
{
    int rc;
    while ((rc = fsync(f->fd)) < 0 && errno == EINTR)
        ;
    if (rc < 0)
        return lp_rcache_file_failed(d, f, "cannot sync", errno);
    rc = close(f->fd);
    f->fd = -1;
    if (rc < 0 && errno != EINTR)
        return lp_rcache_file_failed(d, f, "cannot close", errno);
    return 0;
}

int lp_rcache_file_check(const struct lp_rcache_dir *d, struct lp_rcache_file *f,
                         uint64_t expected_len)
{
    int rc = f->err;
    if (rc == 0 && f->len != expected_len) {
        lp_log(LP_LOG_WARNING,
               "results cache: %s/%s has %llu bytes where %llu were announced; discarded", d->path,
               f->part, (unsigned long long)f->len, (unsigned long long)expected_len);
        rc = -EIO;
    }
    if (rc == 0 && f->high > f->len) {
        if (ftruncate(f->fd, (off_t)f->len) < 0)
            return lp_rcache_file_failed(d, f, "cannot truncate", errno);
        f->high = f->len;
    }
    return rc;
}

int lp_rcache_file_rename(const struct lp_rcache_dir *d, const struct lp_rcache_file *f)
{
    return renameat(d->fd, f->part, d->fd, f->name) < 0 ? errno : 0;
}

void lp_rcache_file_end(const struct lp_rcache_dir *d, struct lp_rcache_file *f, bool remove_part)
{
    if (f->fd >= 0)
        close(f->fd);
    if (remove_part)
        remove_name(d, f->part);
}
