/* ctl_dir.c - MOUNTPOINT/.leadpipe/, the control directory (SPEC "The
 * control directory"): reachable by name, never listed, so `ls -a`, globs,
 * find and tar of the mount never see it (as JuiceFS keeps .stats and
 * .accesslog at its root). Its files, one ops table each:
 *   account.json, filters.json, topics.tsv   cached API answers (sync_answers.c)
 *   stats                                    this mount's counters (metrics.h)
 *   accesslog                                a log file that grows (accesslog.h, fs_file.c)
 *   refresh                                  write anything: everything is stale
 */
#include "inode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "metrics.h"

/* ---- the cached answers: node->priv is the struct lp_answer ---- */

static void answer_stat(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    (void)v;
    st->st_size = (off_t)lp_sync_answer_len(n->priv);
}

/* Fetched when stale, so stat's size is the size cat gets. */
static int answer_refresh(struct lp_view *v, struct lp_node *n, bool fetch)
{
    if (lp_sync_answer_fresh(v->sync, n->priv))
        return 0;
    if (!fetch)
        return -EAGAIN;
    char *text = NULL;
    size_t len = 0;
    int rc = lp_sync_answer(v->sync, n->priv, &text, &len);
    free(text);
    return rc;
}

static int answer_show(struct lp_view *v, struct lp_node *n, char **data, size_t *len)
{
    return lp_sync_answer(v->sync, n->priv, data, len);
}

/* ---- stats: rendered at each stat and read; sends nothing ---- */

static int stats_show(struct lp_view *v, struct lp_node *n, char **data, size_t *len)
{
    (void)n;
    struct lp_metrics_gauges g = {.audiences = (long)v->r->nlive,
                                  .api_up = !lp_records_holding(v->r)};
    *data = lp_metrics_render(&g, len);
    return *data ? 0 : -ENOMEM;
}

static void stats_stat(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    char *text = NULL;
    size_t len = 0;
    if (stats_show(v, n, &text, &len) == 0)
        st->st_size = (off_t)len;
    free(text);
    clock_gettime(CLOCK_REALTIME, &st->st_mtim);
}

/* ---- accesslog: a log file that grows (accesslog.h) ---- */

static void accesslog_stat(struct lp_view *v, struct lp_node *n, struct stat *st)
{
    (void)v, (void)n;
    st->st_size = (off_t)lp_accesslog_size();
    st->st_mtim = st->st_ctim = lp_accesslog_mtime();
}

/* ---- refresh ---- */

static int refresh_store(struct lp_view *v, struct lp_node *n, const char *payload)
{
    (void)n, (void)payload;
    if (lp_sync_refresh(v->sync))
        lp_notify_all(v);
    return 0;
}

/* ---- the table ---- */

static bool ctl_keep(struct lp_view *v, struct lp_node *n)
{
    (void)v, (void)n;
    return true; /* made once, with a stable inode */
}

static void ctl_file_path(struct lp_view *v, struct lp_node *n, struct lp_sbuf *out)
{
    (void)v;
    lp_sb_adds(out, "/" LP_CONTROL_DIR "/");
    lp_sb_adds(out, n->ops->name);
}

#define ANSWER_FILE(fname)                                                                         \
    {                                                                                              \
        .name = fname, .mode = S_IFREG | 0444, .rule = LP_WRITE_NONE, .stat = answer_stat,         \
        .refresh = answer_refresh, .keep = ctl_keep, .show = answer_show, .path = ctl_file_path,   \
    }

static const struct lp_node_ops ctl_files[] = {
    ANSWER_FILE("account.json"),
    ANSWER_FILE("filters.json"),
    ANSWER_FILE("topics.tsv"),
    {.name = "stats",
     .mode = S_IFREG | 0444,
     .rule = LP_WRITE_NONE,
     .stat = stats_stat,
     .keep = ctl_keep,
     .show = stats_show,
     .path = ctl_file_path},
    {.name = "accesslog",
     .mode = S_IFREG | 0444,
     .rule = LP_READ_STREAM,
     .live = true,
     .stat = accesslog_stat,
     .keep = ctl_keep,
     .path = ctl_file_path},
    {.name = "refresh",
     .mode = S_IFREG | 0200,
     .rule = LP_WRITE_TRIGGER,
     .keep = ctl_keep,
     .store = refresh_store,
     .path = ctl_file_path},
};
#define NFILES (sizeof(ctl_files) / sizeof(ctl_files[0]))

/* The file nodes hang off the directory node's priv. */
static struct lp_node **files_of(struct lp_node *dir)
{
    return dir->priv;
}

static int ctl_lookup(struct lp_view *v, struct lp_node *dir, const char *name, bool fetch,
                      struct lp_node **out)
{
    for (size_t i = 0; i < NFILES; i++) {
        if (strcmp(name, ctl_files[i].name) != 0)
            continue;
        struct lp_node *n = files_of(dir)[i];
        int rc = n->ops->refresh ? n->ops->refresh(v, n, fetch) : 0;
        if (rc == 0)
            *out = n; /* made once: still there after a refresh */
        return rc;
    }
    return -ENOENT;
}

static int ctl_list(struct lp_view *v, struct lp_node *dir, struct lp_dirent **out, size_t *count)
{
    struct lp_dirent *ents = calloc(NFILES, sizeof(*ents));
    size_t n = 0;
    int rc = ents ? 0 : -ENOMEM;
    for (size_t i = 0; i < NFILES && rc == 0; i++) {
        struct lp_node *f = files_of(dir)[i];
        rc = lp_dirent_add(v, ents, &n, ctl_files[i].name, f);
        if (rc == 0 && f->ops->refresh && f->ops->refresh(v, f, false) < 0)
            ents[n - 1].attrs_valid = false; /* a listing sends no request */
    }
    if (rc < 0) {
        lp_dirents_free(ents, n);
        return rc;
    }
    *out = ents;
    *count = n;
    return 0;
}

static void ctl_dir_path(struct lp_view *v, struct lp_node *n, struct lp_sbuf *out)
{
    (void)v, (void)n;
    lp_sb_adds(out, "/" LP_CONTROL_DIR);
}

static void ctl_dir_release(struct lp_view *v, struct lp_node *n)
{
    (void)v;
    free(n->priv);
    n->priv = NULL;
}

const struct lp_node_ops lp_ctl_dir_ops = {
    .mode = S_IFDIR | 0755,
    .stat = lp_stat_dir,
    .keep = ctl_keep,
    .release = ctl_dir_release,
    .lookup = ctl_lookup,
    .list = ctl_list,
    .path = ctl_dir_path,
};

int lp_ctl_init(struct lp_view *v)
{
    struct lp_node **files = calloc(NFILES, sizeof(*files));
    struct lp_node *dir = files ? lp_node_new(v, &lp_ctl_dir_ops, NULL) : NULL;
    if (!dir) {
        free(files);
        return -ENOMEM;
    }
    dir->priv = files;
    struct lp_answer *answers[] = {&v->sync->account, &v->sync->filters, &v->sync->topics};
    for (size_t i = 0; i < NFILES; i++) {
        if (!(files[i] = lp_node_new(v, &ctl_files[i], NULL)))
            return -ENOMEM; /* the nodes made so far go with the view */
        if (i < sizeof(answers) / sizeof(answers[0]))
            files[i]->priv = answers[i];
    }
    v->ctl_dir = dir;
    return 0;
}
