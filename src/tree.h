/* tree.h - the in-memory inode cache of leadpipefs and the operations on it.
 *
 * Maps inode <-> node <-> audience id <-> directory name, holds the listing,
 * the configs and their fetch times, and the in-memory scratch files editors
 * create. Reads are answered from the cache, refreshed from the API at most
 * once per cache_timeout (concurrent callers wait for one request); writes go
 * through to the API and the cache keeps the API's answer. Knows the API and
 * the model, never FUSE: the layer above learns of changes it must tell the
 * kernel about through the notify callback. All functions are thread-safe and
 * return 0 or a negative errno.
 */
#ifndef LEADPIPEFS_TREE_H
#define LEADPIPEFS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "api.h"

typedef uint64_t lp_ino;
#define LP_INO_ROOT 1

#define LP_FILE_CONFIG "config.json"
#define LP_FILE_STATUS "status"
#define LP_FILE_SIZE "size"

enum lp_kind {
    LP_KIND_ROOT,
    LP_KIND_DIR,     /* one audience */
    LP_KIND_CONFIG,  /* config.json */
    LP_KIND_STATUS,  /* status */
    LP_KIND_SIZE,    /* size */
    LP_KIND_SCRATCH, /* an editor's temporary file, in memory only */
    LP_KIND_SYMLINK, /* an editor's lock link, in memory only */
};

/* What the kernel must forget: an inode's attributes/data, or a name in a directory. */
struct lp_change {
    bool entry; /* true: the name `name` in `parent`; false: inode `ino` */
    lp_ino parent;
    lp_ino ino;
    const char *name; /* valid during the callback only */
};

struct lp_tree_options {
    lp_api *api;
    double cache_timeout; /* seconds */
    /* After a failed refresh or fetch, cached data is served without asking the
     * API again for max(cache_timeout, fail_hold) seconds from the end of the
     * failed attempt, so one slow or dead API costs a reader one wait, not one
     * per step of a `cat`; the next attempt comes as soon as the cache would
     * have been refreshed anyway. */
    double fail_hold;
    uid_t uid; /* owner shown for every file */
    gid_t gid;
    /* Called with the tree locked: must only queue the change, never block. */
    void (*notify)(void *ctx, const struct lp_change *change);
    void *notify_ctx;
};

typedef struct lp_tree lp_tree;

/* Returns a new tree or NULL. The api stays owned by the caller. */
lp_tree *lp_tree_new(const struct lp_tree_options *opts);
void lp_tree_free(lp_tree *t);

/* The first listing (start-up check). On failure *err says what the API answered. */
int lp_tree_load(lp_tree *t, struct lp_api_error *err);

/* Fills st for the child `name` of `parent` and counts one kernel reference. */
int lp_tree_lookup(lp_tree *t, lp_ino parent, const char *name, struct stat *st);
/* The same without sending a request (readdirplus entries): -EAGAIN where
 * config.json's text is not cached. */
int lp_tree_lookup_cached(lp_tree *t, lp_ino parent, const char *name, struct stat *st);
void lp_tree_forget(lp_tree *t, lp_ino ino, uint64_t nlookup);
int lp_tree_getattr(lp_tree *t, lp_ino ino, struct stat *st);
int lp_tree_kind(lp_tree *t, lp_ino ino, enum lp_kind *kind);

struct lp_dirent {
    char *name;
    struct stat st;   /* st_ino and st_mode always; the rest when attrs_valid */
    bool attrs_valid; /* false: config.json not fetched yet, size unknown */
};
/* A directory's entries (without "." and ".."), as of now. Caller frees with
 * lp_dirents_free. The root's listing is refreshed first when stale.
 * *version changes whenever the root's names change (0 for other directories,
 * whose names only change through the kernel itself). */
int lp_tree_list(lp_tree *t, lp_ino dir, struct lp_dirent **ents, size_t *n, uint64_t *version);
void lp_dirents_free(struct lp_dirent *ents, size_t n);
/* Checks a directory exists (refreshing the root's listing when stale) and
 * gives the version lp_tree_list would give, without building a listing. */
int lp_tree_dir_version(lp_tree *t, lp_ino dir, uint64_t *version);

/* A file's whole content as of now, for a reader (config.json is fetched when
 * not cached or stale). *data is malloc'd; caller frees. */
int lp_tree_content(lp_tree *t, lp_ino ino, char **data, size_t *len);

/* Scratch files: create (counts a kernel reference), read, write, resize, unlink. */
int lp_tree_create(lp_tree *t, lp_ino parent, const char *name, mode_t mode, uid_t uid, gid_t gid,
                   struct stat *st);
int lp_tree_symlink(lp_tree *t, lp_ino parent, const char *name, const char *target, uid_t uid,
                    gid_t gid, struct stat *st);
/* *target malloc'd; caller frees. */
int lp_tree_readlink(lp_tree *t, lp_ino ino, char **target);
/* Returns bytes read/written or -errno. */
ssize_t lp_tree_scratch_read(lp_tree *t, lp_ino ino, char *buf, size_t size, off_t off);
ssize_t lp_tree_scratch_write(lp_tree *t, lp_ino ino, const char *buf, size_t size, off_t off);
int lp_tree_unlink(lp_tree *t, lp_ino parent, const char *name);

/* Attribute changes: mode/uid/gid/times/size (size only on scratch files here;
 * the write path handles config.json/status sizes itself). valid: FATTR-like mask
 * built from LP_SET_* bits. */
#define LP_SET_MODE (1 << 0)
#define LP_SET_UID (1 << 1)
#define LP_SET_GID (1 << 2)
#define LP_SET_SIZE (1 << 3)
#define LP_SET_ATIME (1 << 4)
#define LP_SET_MTIME (1 << 5)
int lp_tree_setattr(lp_tree *t, lp_ino ino, int valid, const struct stat *in, struct stat *out);

/* Directories. mkdir makes a pending audience (no request) and counts a reference. */
int lp_tree_mkdir(lp_tree *t, lp_ino parent, const char *name, struct stat *st);
int lp_tree_rmdir(lp_tree *t, lp_ino parent, const char *name);
/* flags: 0 or LP_RENAME_NOREPLACE. */
#define LP_RENAME_NOREPLACE 1
int lp_tree_rename(lp_tree *t, lp_ino parent, const char *name, lp_ino newparent,
                   const char *newname, unsigned flags);

/* Write-through of a status word / a validated compact config for the audience
 * owning file `ino`. A pending audience keeps the status and sends the POST with
 * its first config. On success the cache holds the API's answer. */
int lp_tree_commit_status(lp_tree *t, lp_ino ino, const char *word);
int lp_tree_commit_config(lp_tree *t, lp_ino ino, const char *compact);
/* Records a failure the user should find in user.leadpipe.lastError. */
void lp_tree_set_error(lp_tree *t, lp_ino ino, const char *message);

/* Extended attributes of an audience directory (user.leadpipe.*).
 * *value malloc'd (caller frees). -ENODATA when absent. */
int lp_tree_getxattr(lp_tree *t, lp_ino ino, const char *name, char **value, size_t *len);
/* NUL-separated names, malloc'd (caller frees). */
int lp_tree_listxattr(lp_tree *t, lp_ino ino, char **list, size_t *len);

/* Counts for statfs. */
void lp_tree_counts(lp_tree *t, size_t *audiences, size_t *nodes);

#endif
