/* inode.h - inside the inode view: nodes, their kinds, and the view itself;
 * and the types the file system layer shares with it (inode numbers,
 * directory entries, write rules).
 *
 * Every kind of node is a `struct lp_node_ops` in the file that owns the
 * concern, as kernfs and configfs do it: a directory kind answers lookup and
 * list (and mkdir, rename... where it allows them), a file kind answers stat,
 * show (its content) and store (a complete write). view.c dispatches to them;
 * an op left NULL means the operation does not apply (the view answers the
 * usual errno). Adding a file to a directory is adding one entry to that
 * directory's table; adding a kind of directory is adding one file.
 *
 * Locking: every function declared here is called with the records lock held
 * (LP_ASSERT_LOCKED), and every field below is protected by it. Ops that call
 * into sync (refresh, store, mkdir, rmdir, rename) may drop the lock while the
 * API answers: after them, look nodes up again by inode.
 */
#ifndef LEADPIPEFS_INODE_H
#define LEADPIPEFS_INODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "hashmap.h"
#include "records.h"
#include "sbuf.h"
#include "sync.h"

typedef uint64_t lp_ino;
#define LP_INO_ROOT 1

/* What the kernel must forget: an inode's attributes/data, or a name in a directory. */
struct lp_change {
    bool entry; /* true: the name `name` in `parent`; false: inode `ino` */
    lp_ino parent;
    lp_ino ino;
    const char *name; /* valid during the callback only */
};

struct lp_view_options {
    struct lp_sync *sync; /* and through it the records; both stay the caller's */
    uid_t uid;            /* owner shown for every file */
    gid_t gid;
    /* Called with the records lock held: must only queue the change, never block. */
    void (*notify)(void *ctx, const struct lp_change *change);
    void *notify_ctx;
    uint64_t scratch_max; /* bytes all scratch files may hold together (-o scratch_size) */
};

/* How a file's writes are turned into requests (see wbuf.h). */
enum lp_write_rule {
    LP_WRITE_NONE,     /* read-only: opening for writing is EACCES */
    LP_WRITE_STATUS,   /* a status word, sent when complete */
    LP_WRITE_CONFIG,   /* a JSON config, sent when complete */
    LP_WRITE_IN_PLACE, /* an in-memory file: reads and writes go straight to it */
    LP_WRITE_TRIGGER,  /* any write is a command (store), its bytes ignored; reads empty */
    LP_READ_STREAM,    /* a live stream (the access log): reads wait for new lines */
    LP_READ_FILE,      /* read from a local file (results.csv): open_fd/close_fd */
    LP_WRITE_QUEUE,    /* runs/queue: the word "manual", sent when complete */
};

/* A directory entry as listed. */
struct lp_dirent {
    char *name;
    struct stat st;   /* st_ino and st_mode always; the rest when attrs_valid */
    bool attrs_valid; /* false: not known without a request */
};
void lp_dirents_free(struct lp_dirent *ents, size_t n);

/* setattr: which attributes to change. */
#define LP_SET_MODE (1 << 0)
#define LP_SET_UID (1 << 1)
#define LP_SET_GID (1 << 2)
#define LP_SET_SIZE (1 << 3)
#define LP_SET_ATIME (1 << 4)
#define LP_SET_MTIME (1 << 5)
/* rename flags */
#define LP_RENAME_NOREPLACE 1

struct lp_node;
struct lp_view;

struct lp_node_ops {
    const char *name;        /* a fixed file's name in its directory; NULL otherwise */
    mode_t mode;             /* type and permission bits shown */
    enum lp_write_rule rule; /* files: how writes reach the API */
    /* A live file (the access log): its size and time change by themselves,
     * so the kernel never caches its attributes, and operations on it are
     * not logged (following it would feed it). */
    bool live;

    /* Every kind: what differs from the defaults (size, times, nlink...). */
    void (*stat)(struct lp_view *v, struct lp_node *n, struct stat *st);
    /* Brings the data stat and show need up to date; fetch false: -EAGAIN
     * instead of a request. NULL: always up to date. */
    int (*refresh)(struct lp_view *v, struct lp_node *n, bool fetch);
    /* Kept although the kernel forgot it (a stable inode, a named file). */
    bool (*keep)(struct lp_view *v, struct lp_node *n);
    /* The node is being freed: forget pointers to it. */
    void (*release)(struct lp_view *v, struct lp_node *n);

    /* Files. show: the whole content, malloc'd. store: a complete payload. */
    int (*show)(struct lp_view *v, struct lp_node *n, char **data, size_t *len);
    int (*store)(struct lp_view *v, struct lp_node *n, const char *payload);
    /* In-memory files: read, write, resize, link target, stored attributes. */
    ssize_t (*read)(struct lp_node *n, char *buf, size_t size, off_t off);
    ssize_t (*write)(struct lp_view *v, struct lp_node *n, const char *buf, size_t size, off_t off);
    int (*setattr)(struct lp_view *v, struct lp_node *n, int valid, const struct stat *in);
    int (*readlink)(struct lp_node *n, char **target);
    /* LP_READ_FILE: a descriptor to read from, its size as known, and while
     * it is still being downloaded what reads wait on (lp_view_open_fd);
     * close_fd when done. */
    int (*open_fd)(struct lp_view *v, struct lp_node *n, int *fd, uint64_t *size,
                   struct lp_rcache_live **live);
    void (*close_fd)(struct lp_view *v, struct lp_node *n);

    /* Directories. lookup finds a child (may refresh it); list gives them all. */
    int (*lookup)(struct lp_view *v, struct lp_node *dir, const char *name, bool fetch,
                  struct lp_node **out);
    int (*list)(struct lp_view *v, struct lp_node *dir, struct lp_dirent **ents, size_t *n);
    uint64_t (*version)(struct lp_view *v, struct lp_node *dir);
    int (*mkdir)(struct lp_view *v, struct lp_node *dir, const char *name, struct lp_node **out);
    int (*rmdir)(struct lp_view *v, struct lp_node *dir, const char *name);
    /* link: a symlink's target, NULL for a regular file. */
    int (*create)(struct lp_view *v, struct lp_node *dir, const char *name, mode_t mode, uid_t uid,
                  gid_t gid, const char *link, struct lp_node **out);
    int (*unlink)(struct lp_view *v, struct lp_node *dir, const char *name);
    int (*rename)(struct lp_view *v, struct lp_node *dir, const char *name, const char *newname,
                  unsigned flags);
    /* Appends the node's path below the mount (for the access log). */
    void (*path)(struct lp_view *v, struct lp_node *n, struct lp_sbuf *out);
    /* The i-th extended attribute: false past the last. *key is the part
     * after "user.leadpipe."; *value borrowed, NULL when absent. */
    bool (*xattr)(struct lp_node *n, size_t i, const char **key, const char **value);
};

/* 48 bytes: ino and nlookup first, then pointers. */
struct lp_node {
    lp_ino ino;
    uint64_t nlookup;              /* references the kernel holds (LOOKUP minus FORGET) */
    const struct lp_node_ops *ops; /* its kind */
    struct lp_aud *aud;            /* the record it shows (holds a view reference); or NULL */
    void *priv;                    /* the kind's own data (a scratch file) */
    bool linked;                   /* reachable by a name */
};

/* The view of one audience: its directory, the files looked up in it, the
 * editors' scratch files, and the name it shows in the root. Lives as long
 * as the record (freed on LP_REC_FREED); a->view points here. */
#define LP_AUD_NFILES 3
struct lp_adir {
    struct lp_node *dir;                  /* stable while the audience lives */
    struct lp_node *files[LP_AUD_NFILES]; /* config.json, status, size; NULL until looked up */
    struct lp_scratch *scratch;           /* editors' files, newest first */
    struct lp_node *runs_dir;             /* runs/ (runs_dir.c), and in it: */
    struct lp_node *runs_queue, *runs_latest;
    char *dirname;     /* the name shown in the root; NULL once gone */
    char *new_dirname; /* while names are reassigned */
};

/* An editor's file or link: lives in memory, in one audience directory. */
struct lp_scratch {
    char *name;
    char *data; /* content, or a symlink's target */
    size_t len, cap;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    struct timespec atime, mtime, ctime;
    struct lp_node *node;
    struct lp_scratch *next;
};

struct lp_view {
    struct lp_view_options opts;
    struct lp_sync *sync;
    struct lp_records *r;
    struct lp_map by_ino;  /* ino -> node */
    struct lp_map by_name; /* shown name in the root -> record */
    struct lp_node root;
    lp_ino next_ino;
    struct lp_node *ctl_dir;     /* .leadpipe/, made at start, never freed */
    uint64_t names_version;      /* bumped whenever the root's set of names changes */
    struct timespec names_mtime; /* the root's mtime: when its names last changed */
    uint64_t scratch_used;       /* bytes scratch files hold (scratch_space.c) */
};

/* inode.c: nodes. node_new takes a view reference on a (when not NULL). */
struct lp_node *lp_node_new(struct lp_view *v, const struct lp_node_ops *ops, struct lp_aud *a);
struct lp_node *lp_node_get(struct lp_view *v, lp_ino ino);
/* Frees n if the kernel has forgotten it and its kind does not keep it. */
void lp_node_maybe_free(struct lp_view *v, struct lp_node *n);
/* Ops shared by kinds: a directory's two links (no subdirectory counts);
 * kept while it has a name and its audience lives (a stable inode). */
void lp_stat_dir(struct lp_view *v, struct lp_node *n, struct stat *st);
bool lp_keep_while_live(struct lp_view *v, struct lp_node *n);
void lp_node_fill_stat(struct lp_view *v, struct lp_node *n, struct stat *st);
void lp_notify_node(struct lp_view *v, struct lp_node *n);
void lp_notify_entry(struct lp_view *v, lp_ino parent, const char *name);
/* Records that the root's set of names changed (version and mtime). */
void lp_view_names_changed(struct lp_view *v);
/* Appends a dirent for node (its stat); *n grows. Returns 0 or -ENOMEM. */
int lp_dirent_add(struct lp_view *v, struct lp_dirent *ents, size_t *n, const char *name,
                  struct lp_node *node);
/* malloc'd NUL-terminated copy of text; 0 or -ENOMEM. */
int lp_dup_text(const char *text, size_t len, char **data, size_t *out_len);
/* An audience's time: updatedAt, else createdAt (its directory's mtime). */
struct timespec lp_aud_mtime(const struct lp_aud *a);

/* Tells the kernel to forget what it caches of every node it knows. */
void lp_notify_all(struct lp_view *v);
/* Appends n's path (via its path op; "/" for the root). */
void lp_node_path(struct lp_view *v, struct lp_node *n, struct lp_sbuf *out);
/* Appends the path of name in dir (dir NULL, its directory forgotten: "/name"). */
void lp_node_path_in(struct lp_view *v, struct lp_node *dir, const char *name, struct lp_sbuf *out);

/* ctl_dir.c: the control directory, .leadpipe/ (made by lp_ctl_init). */
extern const struct lp_node_ops lp_ctl_dir_ops;
int lp_ctl_init(struct lp_view *v);

/* root_dir.c: the root, which holds the audiences. */
extern const struct lp_node_ops lp_root_ops;
void lp_names_assign(struct lp_view *v);
void lp_names_withdraw(struct lp_view *v, struct lp_aud *a);

/* aud_dir.c: an audience's directory. */
extern const struct lp_node_ops lp_aud_dir_ops;
struct lp_adir *lp_adir_new(struct lp_view *v, struct lp_aud *a);
void lp_adir_free(struct lp_view *v, struct lp_aud *a);

/* aud_files.c: config.json, status and size (index i of lp_adir.files). */
extern const struct lp_node_ops *const lp_aud_files[LP_AUD_NFILES];
/* The index of a fixed file's name, or -1. */
int lp_aud_file_index(const char *name);
/* Its node, made on demand. */
struct lp_node *lp_aud_file_node(struct lp_view *v, struct lp_aud *a, int i);
/* The slot of a's view that holds file node n, or NULL. */
struct lp_node **lp_aud_file_slot(struct lp_aud *a, const struct lp_node *n);

/* runs_dir.c: an audience's runs/ directory, its queue file and latest link. */
extern const struct lp_node_ops lp_runs_dir_ops;
#define LP_RUNS_DIR "runs"
/* runs/ of a (made on demand); NULL on no memory. */
struct lp_node *lp_runs_dir_node(struct lp_view *v, struct lp_aud *a);

/* run_dir.c: one run's directory and its files. */
struct lp_node *lp_run_dir_node(struct lp_view *v, struct lp_aud *a, struct lp_run_rec *run);
/* The name run shows in runs/ (malloc'd): its dirname, with the run's whole
 * id after U+2053 when a newer run in the list shows the same name. */
char *lp_run_shown_name(struct lp_runs *runs, struct lp_run_rec *run);
/* Tells the kernel what it caches of run's nodes is stale. */
void lp_run_view_notify(struct lp_view *v, struct lp_run_rec *run);
/* Frees the view's objects of a's runs (the audience is being freed). */
void lp_run_views_free(struct lp_aud *a);
/* Tells the kernel what a's runs/ shows changed. */
void lp_runs_notify(struct lp_view *v, struct lp_aud *a);
/* The audience left: frees runs/ and everything in it the kernel no longer
 * holds (each node holds the audience; kept, they would keep it forever). */
void lp_runs_nodes_release(struct lp_view *v, struct lp_aud *a);
/* The same for one run's directory and files (run_dir.c). */
void lp_run_nodes_release(struct lp_view *v, struct lp_run_rec *run);

/* scratch.c: editors' files and links in an audience directory. */
extern const struct lp_node_ops lp_scratch_ops, lp_symlink_ops;
struct lp_scratch *lp_scratch_find(struct lp_adir *d, const char *name);
int lp_scratch_new(struct lp_view *v, struct lp_aud *a, const char *name, mode_t mode, uid_t uid,
                   gid_t gid, const char *link, struct lp_node **out);
void lp_scratch_unlink(struct lp_view *v, struct lp_adir *d, struct lp_scratch *s);
void lp_scratch_free(struct lp_view *v, struct lp_scratch *s);
/* Renames inside one audience directory, fixed files and scratch alike. */
int lp_scratch_rename(struct lp_view *v, struct lp_aud *a, const char *name, const char *newname,
                      unsigned flags);

/* scratch_space.c: the memory scratch files hold, within v->opts.scratch_max.
 * resize: s's content becomes len bytes (zeros added), or -EFBIG (one file's
 * limit), -ENOSPC (the total), -ENOMEM, nothing changed. adopt: a new s
 * (no buffer yet) takes malloc'd data of len bytes, or -ENOSPC (data freed).
 * release: s holds nothing any more. */
int lp_scratch_resize(struct lp_view *v, struct lp_scratch *s, size_t len);
int lp_scratch_adopt(struct lp_view *v, struct lp_scratch *s, char *data, size_t len);
void lp_scratch_release_space(struct lp_view *v, struct lp_scratch *s);

#endif
