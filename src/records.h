/* records.h - the audiences this mount knows: one record per audience, with
 * the fields the API last confirmed and what the cache needs to know about
 * them (when the config was fetched, a write in flight, the last error).
 *
 * The record store holds the cache lock that every layer above shares. It
 * knows the model, never the API (sync.h asks the API) nor inodes (the view
 * above is told of added, changed and removed records through a listener, as
 * the kernel is told through notify.h). Lifetime: a record is freed once it is
 * gone (deleted, or vanished from a listing) and neither the view's references
 * nor sync's pins hold it.
 */
#ifndef LEADPIPEFS_RECORDS_H
#define LEADPIPEFS_RECORDS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "debug.h"
#include "hashmap.h"
#include "model.h"
#include "runs.h"

/* Where a pending audience's POST stands. While it is sent, a listing that
 * already carries the audience it made must not show it a second time; once
 * its answer is lost, the audience the API lists under that name is adopted
 * rather than POSTed again. */
enum lp_create {
    LP_CREATE_NONE,
    LP_CREATE_SENT, /* the POST is on its way: its answer adopts what it made */
    LP_CREATE_LOST, /* its answer was lost: the API may have made it, or not */
};

/* One audience. Every field is protected by the store's lock. */
struct lp_aud {
    struct lp_audience rec; /* the last state the API confirmed (or pending values) */
    bool pending;           /* made by mkdir, not yet POSTed */
    enum lp_create create;  /* a pending one's POST (lp_aud_set_create) */
    time_t create_sent;     /* wall clock when that POST was sent, to compare with createdAt */
    char *create_config;    /* LP_CREATE_LOST: the config that POST carried */
    bool gone;              /* deleted or vanished; freed when no one holds it */
    bool busy;              /* a write-through is in flight (they are serialised) */
    bool fetching;          /* a GET of the config is in flight */
    unsigned view_refs;     /* the view's nodes that point here */
    unsigned pins;          /* held by sync across an API call */
    uint64_t seen_gen;      /* last listing generation that carried it */
    uint64_t changed_seq;   /* local mutation counter when it last changed here */
    double config_time;     /* monotonic time rec.config was fetched; 0: never */
    char *config_text;      /* pretty config.json, made from rec.config on demand */
    char *last_error;
    struct lp_runs *runs;       /* its runs (runs.h); NULL until asked for */
    void *view;                 /* the view's object for this audience; records never look */
    struct lp_aud *prev, *next; /* the live list, newest first */
};

/* What happened to a record; the view turns it into nodes and invalidations. */
enum lp_rec_event {
    LP_REC_ADDED,   /* a new live record (listing, mkdir) */
    LP_REC_CHANGED, /* fields changed: what the kernel caches of it is stale */
    LP_REC_REMOVED, /* gone: a reference is held for the callback's duration */
    LP_REC_NAMES,   /* the set of names changed (a == NULL): names must be reassigned */
    LP_REC_RUNS,    /* a's runs changed (listed, queued, cancelled) */
    LP_REC_FREED,   /* a is about to be freed: the view drops its object */
};

struct lp_records_listener {
    /* Called with the lock held: must not block nor call back into sync. */
    void (*event)(void *ctx, struct lp_aud *a, enum lp_rec_event ev);
    void *ctx;
};

/* An audience this mount deleted or found gone, kept until a listing asked
 * for after that has landed: a listing asked for before may still carry it. */
struct lp_tomb {
    char *id;
    uint64_t seq; /* the mutation counter when it went */
    struct lp_tomb *next;
};

struct lp_records {
    pthread_mutex_t lock; /* the cache lock: everything below, and every record */
    pthread_cond_t cond;  /* a fetch, listing or write-through ended */
    pthread_t owner;      /* who holds lock (for LP_ASSERT_LOCKED) */
    bool owned;
    struct lp_map by_id; /* id -> record (not pending ones) */
    struct lp_aud *live; /* every record not gone, newest first */
    size_t nlive;
    uint64_t gen;         /* listing generation */
    uint64_t seq;         /* local mutation counter */
    double cache_timeout; /* seconds listed data is trusted */
    double fail_hold;     /* see lp_records_failed */
    double api_hold;      /* after a failed request: serve the cache until then */
    size_t creating;      /* records whose create is not LP_CREATE_NONE */
    struct lp_tomb *tombs;
    int hold_err;         /* what a read the cache cannot serve gets meanwhile */
    struct lp_records_listener listener;
};

void lp_records_init(struct lp_records *r, double cache_timeout, double fail_hold);
/* Frees every record, whatever holds it (at unmount, after the view is gone). */
void lp_records_destroy(struct lp_records *r);
void lp_records_set_listener(struct lp_records *r, const struct lp_records_listener *l);

void lp_records_lock(struct lp_records *r);
void lp_records_unlock(struct lp_records *r);
/* Waits on cond; the lock must be held. */
void lp_records_wait(struct lp_records *r);
void lp_records_wake(struct lp_records *r);
/* Debug builds: aborts unless the calling thread holds the lock. */
#define LP_ASSERT_LOCKED(r) LP_DEBUG_ASSERT((r)->owned &&pthread_equal((r)->owner, pthread_self()))

double lp_now(void);

/* Takes over the fields of rec (rec is left empty); the listener hears ADDED.
 * Returns the record or NULL (ENOMEM). */
struct lp_aud *lp_records_add(struct lp_records *r, struct lp_audience *rec, bool pending);
/* The record leaves the store (gone); the listener hears REMOVED. */
void lp_records_remove(struct lp_records *r, struct lp_aud *a);
/* The same, for a record this mount deleted or an answer said is gone: its id
 * is remembered, so a listing asked for before now does not bring it back. */
void lp_records_bury(struct lp_records *r, struct lp_aud *a);
/* Whether id went (lp_records_bury) after the mutation counter was since. */
bool lp_records_buried(const struct lp_records *r, const char *id, uint64_t since);
/* A listing asked for at mutation counter upto has landed: what went before
 * then needs no remembering. */
void lp_records_forget_buried(struct lp_records *r, uint64_t upto);
/* Where a pending record's POST stands (keeps r->creating; NONE frees
 * create_config). */
void lp_aud_set_create(struct lp_records *r, struct lp_aud *a, enum lp_create state);
/* A pending record got its id from the API. Returns 0 or -ENOMEM. */
int lp_records_adopt_id(struct lp_records *r, struct lp_aud *a, char *id);
struct lp_aud *lp_records_by_id(struct lp_records *r, const char *id);
/* The oldest live record, and the next newer one: the API's order. */
struct lp_aud *lp_records_oldest(struct lp_records *r);

/* References: the view's (one per node) and sync's pins, counted apart. */
void lp_aud_hold(struct lp_records *r, struct lp_aud *a);
void lp_aud_drop(struct lp_records *r, struct lp_aud *a);
void lp_aud_pin(struct lp_records *r, struct lp_aud *a);
void lp_aud_unpin(struct lp_records *r, struct lp_aud *a);

/* Merges an API answer into a (got's fields are taken); tells the listener.
 * Returns true when the name changed (names must be reassigned). */
bool lp_aud_apply(struct lp_records *r, struct lp_aud *a, struct lp_audience *got);
/* The listener hears that a changed, or that the names changed. */
void lp_aud_changed(struct lp_records *r, struct lp_aud *a);
void lp_records_names_changed(struct lp_records *r);
void lp_aud_runs_changed(struct lp_records *r, struct lp_aud *a);
/* A local change: bumps the mutation counter so a listing already in flight
 * does not undo it. */
void lp_aud_touch(struct lp_records *r, struct lp_aud *a);

/* The one test of config freshness: true when config.json can be shown
 * without asking the API (pending, or fetched less than cache_timeout ago). */
bool lp_aud_config_fresh(const struct lp_records *r, const struct lp_aud *a);
/* pretty config.json text (never NULL); kept until the config changes. */
const char *lp_aud_config_text(struct lp_aud *a);
/* Records a failure for user.leadpipe.lastError (NULL clears). */
void lp_aud_set_error(struct lp_aud *a, const char *message);

/* The API failed with err (a positive errno): serve the cache for
 * max(cache_timeout, fail_hold) seconds from now, so one dead API costs a
 * reader one wait, not one per step. */
void lp_records_failed(struct lp_records *r, const char *message, int err);
bool lp_records_holding(const struct lp_records *r);
/* The errno of a read the cache cannot serve while holding, sent nowhere:
 * EAGAIN when the API asked us to slow down (429), else EIO (SPEC "Errors"). */
int lp_records_hold_errno(const struct lp_records *r);

#endif
