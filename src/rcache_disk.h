/* rcache_disk.h - what the results cache (rcache.c) does on disk: its private
 * directory, keys escaped to file names and back, the scan at open, and the
 * files written as KEY.part and renamed to KEY. Not for other files. */
#ifndef LEADPIPEFS_RCACHE_DISK_H
#define LEADPIPEFS_RCACHE_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The longest escaped key; with ".part" a name stays within NAME_MAX (255). */
#define LP_RCACHE_NAME_LEN 250
#define LP_RCACHE_PART_SUFFIX ".part"

/* The cache's directory: every name is opened relative to fd, so the files
 * stay in the directory whatever the key or a rename above it. */
struct lp_rcache_dir {
    int fd;
    char *path; /* for messages */
};

/* key's file name into out (LP_RCACHE_NAME_LEN + 1 bytes): 0, or -1 when
 * the key is empty or its name would be too long. */
int lp_rcache_escape_key(const char *key, char *out);

/* mkdir -p: each missing component made 0700 (whatever the umask). 0, or -1
 * with a reason in err. */
int lp_rcache_make_dirs(const char *dir, char *err, size_t errlen);
/* Opens dir and makes sure it is ours and exactly 0700. The fd, or -1 with a
 * reason in err. */
int lp_rcache_open_private_dir(const char *dir, char *err, size_t errlen);

/* A complete file found by the scan. */
struct lp_rcache_found {
    char *key; /* decoded, malloc'd */
    uint64_t size;
    struct timespec used; /* the later of atime and mtime */
};
/* Lists the directory at open: leftover parts are removed, complete files
 * returned in *found (*n of them, least recently used first; free with
 * lp_rcache_found_free), anything else left alone. 0; -1 with a reason in
 * err when the directory cannot be listed; -ENOMEM (err untouched). */
int lp_rcache_scan(const struct lp_rcache_dir *d, struct lp_rcache_found **found, size_t *n,
                   char *err, size_t errlen);
void lp_rcache_found_free(struct lp_rcache_found *found, size_t n);

/* Opens name read-only: the fd, -ENOENT (removed behind our back) or -EIO,
 * the errors logged. */
int lp_rcache_open_read(const struct lp_rcache_dir *d, const char *name);
/* Sets the file's atime to now, so the order of use outlives the mount. */
void lp_rcache_touch(const struct lp_rcache_dir *d, const char *name);
/* Removes key's complete file (a missing one is no error; others logged). */
void lp_rcache_remove_key(const struct lp_rcache_dir *d, const char *key);

/* One file being written. */
struct lp_rcache_file {
    int fd;
    int err;       /* the first write error (negative), until reset */
    uint64_t len;  /* bytes of the current try */
    uint64_t high; /* bytes on disk: the most any try wrote */
    char name[LP_RCACHE_NAME_LEN + 1];
    char part[LP_RCACHE_NAME_LEN + sizeof LP_RCACHE_PART_SUFFIX];
};

/* Names f after key (no fd yet): 0, or -EINVAL (logged) for an unusable
 * key. */
int lp_rcache_file_init(struct lp_rcache_file *f, const char *key);
/* Creates the part (0600; a stale one is replaced): 0, or -EIO/-ENOSPC
 * (logged); f->fd may then be open, for lp_rcache_file_end. */
int lp_rcache_file_create(const struct lp_rcache_dir *d, struct lp_rcache_file *f);
/* The part opened again, read-only, for its readers: the fd, or -EIO
 * (logged). */
int lp_rcache_file_open_reader(const struct lp_rcache_dir *d, const struct lp_rcache_file *f);
/* As lp_rcache_write, lp_rcache_reset of rcache.h. */
int lp_rcache_file_write(const struct lp_rcache_dir *d, struct lp_rcache_file *f, const char *buf,
                         size_t n);
void lp_rcache_file_reset(struct lp_rcache_file *f);
/* Checks the length (logged when it is not expected_len: -EIO) and any
 * write error, and cuts what an earlier, longer try left past the length:
 * 0, -EIO or -ENOSPC. */
int lp_rcache_file_check(const struct lp_rcache_dir *d, struct lp_rcache_file *f,
                         uint64_t expected_len);
/* Fsyncs and closes the checked part: 0, -EIO or -ENOSPC. */
int lp_rcache_file_sync(const struct lp_rcache_dir *d, struct lp_rcache_file *f);
/* Renames the part to the file's name: 0, or the errno (not logged: see
 * lp_rcache_file_failed). */
int lp_rcache_file_rename(const struct lp_rcache_dir *d, const struct lp_rcache_file *f);
/* Logs that what failed on the part with errno e; -EIO or -ENOSPC. */
int lp_rcache_file_failed(const struct lp_rcache_dir *d, const struct lp_rcache_file *f,
                          const char *what, int e);
/* Closes the part's fd if open and, with remove_part, removes it. */
void lp_rcache_file_end(const struct lp_rcache_dir *d, struct lp_rcache_file *f, bool remove_part);

#endif
