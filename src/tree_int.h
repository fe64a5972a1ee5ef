/* tree_int.h - private structures shared by tree.c (nodes, names, scratch files)
 * and sync.c (refresh and write-through against the API). Not for other layers.
 */
#ifndef LEADPIPEFS_TREE_INT_H
#define LEADPIPEFS_TREE_INT_H

#include <pthread.h>
#include <time.h>

#include "hashmap.h"
#include "model.h"
#include "tree.h"

struct lp_aud;

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

/* Fields ordered largest first: 40 bytes, one 48-byte heap chunk instead of 64. */
struct lp_node {
    lp_ino ino;
    uint64_t nlookup;           /* references the kernel holds */
    struct lp_aud *aud;         /* owning audience; NULL for the root */
    struct lp_scratch *scratch; /* SCRATCH and SYMLINK only */
    enum lp_kind kind;
    bool linked; /* reachable by a name */
};

struct lp_aud {
    struct lp_audience rec; /* the last state the API confirmed (or pending values) */
    char *dirname;          /* the name shown in the root; NULL once gone */
    char *new_dirname;      /* scratch slot while names are reassigned */
    bool pending;           /* made by mkdir, not yet POSTed */
    bool gone;              /* deleted; waits for the kernel to forget its nodes */
    bool busy;              /* a write-through is in flight (they are serialised) */
    bool fetching;          /* a GET of the config is in flight */
    uint64_t seen_gen;      /* last listing generation that carried it */
    uint64_t changed_seq;   /* local mutation counter when it last changed here */
    double config_time;     /* monotonic time rec.config was fetched; 0: never */
    int config_err;         /* that failure's errno */
    char *config_text;      /* pretty config.json, made from rec.config on demand */
    char *last_error;
    struct lp_node *dir, *config, *status, *size;
    struct lp_scratch *scratch;
    unsigned nodes;             /* nodes pointing here; a gone audience is freed at 0 */
    struct lp_aud *prev, *next; /* the live list */
};

/* A background sweep that fetches configs in parallel (prefetch.c). */
struct lp_sweep {
    pthread_t thread;
    bool started; /* thread exists and must be joined */
    bool running; /* still fetching */
    bool stop;
    double last_miss;
    char **ids; /* audiences to fetch, oldest first */
    size_t n, next;
};

struct lp_tree {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct lp_tree_options opts;
    struct lp_map by_ino;  /* ino -> node */
    struct lp_map by_id;   /* id -> aud (not pending ones) */
    struct lp_map by_name; /* shown name -> aud */
    struct lp_aud *live;   /* every audience not gone */
    size_t nlive;
    struct lp_node root;
    lp_ino next_ino;
    bool listing;           /* a list request is in flight */
    bool loaded;            /* a listing has ever succeeded */
    double list_time;       /* monotonic time of the last list attempt */
    double api_hold;        /* after a failed refresh or fetch: serve the cache until then */
    uint64_t gen;           /* listing generation */
    uint64_t names_version; /* bumped whenever the root's set of names changes */
    uint64_t seq;           /* local mutation counter */
    unsigned long pending_counter;
    struct timespec names_mtime; /* the root's mtime: when its names last changed */
    struct lp_sweep sweep;
};

double lp_now(void);
/* Records that the root's set of names changed (version and mtime). */
void lp_names_changed(struct lp_tree *t);
/* How long a failure is remembered (see lp_tree_options.fail_hold). */
double lp_fail_hold(const struct lp_tree *t);

/* tree.c internals used by sync.c; the tree lock is held for all of them. */
struct lp_aud *lp_aud_new(struct lp_tree *t, struct lp_audience *rec);
void lp_aud_remove(struct lp_tree *t, struct lp_aud *a);
/* Drops a pin (sync.c holds one across each API call); frees a gone audience at 0. */
void lp_aud_unpin(struct lp_tree *t, struct lp_aud *a);
void lp_assign_names(struct lp_tree *t);
void lp_notify_node(struct lp_tree *t, struct lp_node *n);
void lp_notify_aud(struct lp_tree *t, struct lp_aud *a);
void lp_notify_entry(struct lp_tree *t, lp_ino parent, const char *name);
void lp_set_error(struct lp_aud *a, const char *message);
const char *lp_aud_config_text(struct lp_aud *a);
struct lp_node *lp_node_get(struct lp_tree *t, lp_ino ino);

/* sync.c: keeps the cache fresh; may drop and retake the lock while the API answers. */
int lp_sync_listing(struct lp_tree *t, bool force, struct lp_api_error *err);
int lp_sync_config(struct lp_tree *t, struct lp_aud *a);
/* Applies an API answer to a; returns true when the name changed. */
bool lp_sync_apply(struct lp_tree *t, struct lp_aud *a, struct lp_audience *got);
int lp_sync_status(struct lp_tree *t, struct lp_aud *a, const char *word);
int lp_sync_config_write(struct lp_tree *t, struct lp_aud *a, const char *compact);
int lp_sync_rename(struct lp_tree *t, struct lp_aud *a, const char *newname);
int lp_sync_delete(struct lp_tree *t, struct lp_aud *a);

/* prefetch.c: a config fetch missed the cache; two in a row start a sweep. */
void lp_prefetch_note_miss(struct lp_tree *t);
/* Stops and joins the sweep (tree lock NOT held). */
void lp_prefetch_stop(struct lp_tree *t);

#endif
