/* main.c - leadpipefs: options, the API key, the start-up check, the session loop.
 *
 * Usage: leadpipefs [SOURCE] MOUNTPOINT [-f] [-d] [-s] [-o OPTION[,OPTION...]]
 * The key comes from $LEADPIPE_API_KEY or -o api_key_file (never argv), and
 * one list request proves key and API before the mount appears.
 */
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <curl/curl.h>
#include <fuse_lowlevel.h>

#include "accesslog.h"
#include "api.h"
#include "defaults.h"
#include "fs.h"
#include "log.h"
#include "lp_config.h"
#include "notify.h"
#include "rcache.h"
#include "records.h"
#include "startup.h"
#include "sync.h"
#include "view.h"

struct options {
    char *base_url;
    char *api_key_file;
    char *api_key_argv; /* only to refuse it */
    char *cafile;       /* CA certificates to trust; else $CURL_CA_BUNDLE, else the system's */
    double cache_timeout;
    char *cache_dir;    /* results cache; default lp_rcache_default_dir */
    char *cache_size;   /* its bound, e.g. 2G */
    char *scratch_size; /* memory for editors' scratch files, e.g. 64M */
    double timeout;
    int tries;
};

#define OPT(t, p)                                                                                  \
    {                                                                                              \
        t, offsetof(struct options, p), 1                                                          \
    }
static const struct fuse_opt opt_spec[] = {
    OPT("base_url=%s", base_url),
    OPT("api_key_file=%s", api_key_file),
    OPT("api_key=%s", api_key_argv), /* only to refuse it */
    OPT("cafile=%s", cafile),
    OPT("cache_timeout=%lf", cache_timeout),
    OPT("timeout=%lf", timeout),
    OPT("tries=%d", tries),
    OPT("cache_dir=%s", cache_dir),
    OPT("cache_size=%s", cache_size),
    OPT("scratch_size=%s", scratch_size),
    FUSE_OPT_END,
};

#define DEFAULT_MAX_THREADS 64

static bool option_given(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (strstr(argv[i], name))
            return true;
    return false;
}

static void usage(const char *prog)
{
    printf("usage: %s [SOURCE] MOUNTPOINT [options]\n\n"
           "Mounts the Leadpipe Intent audiences API as a directory tree.\n\n"
           "leadpipefs options:\n"
           "    -o base_url=URL        API base URL (default $LEADPIPE_BASE_URL, else %s)\n"
           "    -o api_key_file=PATH   file whose first line is the API key (mode 0600);\n"
           "                           else the key is taken from $LEADPIPE_API_KEY\n"
           "    -o cafile=PATH         trust the CA certificates in this PEM file (e.g. of a\n"
           "                           proxy that re-signs TLS), not the system's; default\n"
           "                           $CURL_CA_BUNDLE, else the system's CA certificates\n"
           "    -o cache_timeout=SECS  how long listed data is trusted (default %d)\n"
           "    -o timeout=SECS        limit for one HTTP exchange (default %d)\n"
           "    -o tries=N             HTTP tries per operation (default %d)\n"
           "    -o cache_dir=PATH      where results.csv files are kept (default\n"
           "                           $XDG_CACHE_HOME/leadpipefs, else ~/.cache/leadpipefs)\n"
           "    -o cache_size=BYTES    bound of that cache, K/M/G suffixes (default %s)\n"
           "    -o scratch_size=BYTES  memory all editors' scratch files may take\n"
           "                           together, K/M/G suffixes (default %s)\n\n"
           "FUSE options that matter most here:\n"
           "    -o ro                  read-only mount: no write reaches the API\n"
           "    -o allow_other         let other users in (file modes still apply)\n"
           "    -o default_permissions always on: the kernel checks the modes shown\n\n",
           prog, LP_DEFAULT_BASE_URL, LP_DEFAULT_CACHE_TIMEOUT_S, LP_DEFAULT_TIMEOUT_S,
           LP_DEFAULT_TRIES, LP_DEFAULT_CACHE_SIZE, LP_DEFAULT_SCRATCH_SIZE);
    fuse_cmdline_help();
    fuse_lowlevel_help();
}

static void version(void)
{
    printf("leadpipefs %s\n", LP_VERSION);
    printf("FUSE library %s\n", fuse_pkgversion());
    printf("%s\n", curl_version());
}

/* Drops a leading SOURCE operand (mount.fuse3 passes "leadpipefs SOURCE MOUNTPOINT"). */
static void drop_source(int *argc, char **argv)
{
    int positional[3], n = 0;
    for (int i = 1; i < *argc && n < 3; i++) {
        if (strcmp(argv[i], "-o") == 0) {
            i++;
            continue;
        }
        if (argv[i][0] != '-')
            positional[n++] = i;
    }
    if (n != 2)
        return;
    for (int i = positional[0]; i < *argc - 1; i++)
        argv[i] = argv[i + 1];
    (*argc)--;
}

/* The results cache; without one the mount works, and results.csv says EIO. */
static lp_rcache *open_results_cache(const struct options *opts, const char *key, uint64_t bound)
{
    char *dir =
        opts->cache_dir ? strdup(opts->cache_dir) : lp_rcache_default_dir(opts->base_url, key);
    char err[256] = "no place for it: set -o cache_dir, $XDG_CACHE_HOME or $HOME";
    lp_rcache *c = dir ? lp_rcache_open(dir, bound, err, sizeof(err)) : NULL;
    if (!c)
        lp_log(LP_LOG_WARNING, "results cache %s unavailable (%s): reading results.csv fails",
               dir ? dir : "", err);
    else
        lp_log(LP_LOG_DEBUG, "results cache in %s", dir);
    free(dir);
    return c;
}

/* -o cafile, else $CURL_CA_BUNDLE (as curl and s3fs read it), checked and
 * made absolute: connections opened after fuse_daemonize's chdir("/") read
 * it too. opts->cafile stays NULL for the system's CAs. 0 or -1 (msg set). */
static int choose_ca_file(struct options *opts, char *msg, size_t msglen)
{
    const char *source = "-o cafile";
    if (!opts->cafile) {
        const char *env = getenv(LP_CA_BUNDLE_ENV);
        if (!env || !*env)
            return 0;
        source = "$" LP_CA_BUNDLE_ENV;
        if (!(opts->cafile = strdup(env))) {
            snprintf(msg, msglen, "out of memory");
            return -1;
        }
    }
    if (lp_check_ca_file(opts->cafile, source, msg, msglen) < 0)
        return -1;
    char *abs = realpath(opts->cafile, NULL);
    if (!abs) {
        snprintf(msg, msglen, "cannot resolve the CA file %s (%s)", opts->cafile, source);
        return -1;
    }
    free(opts->cafile);
    opts->cafile = abs;
    return 0;
}

static int start_check(lp_view *view, const char *base_url)
{
    struct lp_api_error err;
    memset(&err, 0, sizeof(err));
    int rc = lp_view_load(view, &err);
    if (rc == 0)
        return 0;
    if (err.http_status == 401 || err.http_status == 403)
        fprintf(stderr, "leadpipefs: the API rejected the key (%ld%s%s: %s)\n", err.http_status,
                err.code[0] ? " " : "", err.code, err.message);
    else if (err.http_status)
        fprintf(stderr, "leadpipefs: %s answered %ld%s%s: %s\n", base_url, err.http_status,
                err.code[0] ? " " : "", err.code, err.message);
    else /* the client's message already names the URL and the cause */
        fprintf(stderr, "leadpipefs: %s\n", err.message);
    if (err.cert == LP_CERT_UNKNOWN_CA)
        fprintf(stderr,
                "leadpipefs: if a proxy on this network re-signs TLS, trust its CA "
                "certificate with -o cafile=PATH or %s=PATH\n",
                LP_CA_BUNDLE_ENV);
    return -1;
}

static int run_session(struct fuse_session *se, struct fuse_cmdline_opts *cmd, lp_notifier *nf)
{
    int ret = 1;
    if (fuse_set_signal_handlers(se) != 0)
        return 1;
    if (fuse_session_mount(se, cmd->mountpoint) != 0)
        goto out1;
    if (fuse_daemonize(cmd->foreground) != 0)
        goto out2;
    if (!cmd->foreground)
        lp_log_set_syslog(true);
    if (lp_notifier_start(nf, se) < 0)
        goto out2;
    lp_log(LP_LOG_INFO, "mounted on %s", cmd->mountpoint);
    if (cmd->singlethread) {
        ret = fuse_session_loop(se);
    } else {
        struct fuse_loop_config *cfg = fuse_loop_cfg_create();
        if (!cfg)
            goto out2;
        fuse_loop_cfg_set_clone_fd(cfg, (unsigned)cmd->clone_fd);
        if (cmd->max_idle_threads != UINT_MAX) /* UINT_MAX: not given */
            fuse_loop_cfg_set_idle_threads(cfg, cmd->max_idle_threads);
        fuse_loop_cfg_set_max_threads(cfg, cmd->max_threads);
        ret = fuse_session_loop_mt(se, cfg);
        fuse_loop_cfg_destroy(cfg);
    }
    ret = ret != 0;
out2:
    fuse_session_unmount(se);
out1:
    fuse_remove_signal_handlers(se);
    return ret;
}

int main(int argc, char *argv[])
{
    struct options opts = {.cache_timeout = LP_DEFAULT_CACHE_TIMEOUT_S,
                           .timeout = LP_DEFAULT_TIMEOUT_S,
                           .tries = LP_DEFAULT_TRIES};
    struct fuse_cmdline_opts cmd;
    memset(&cmd, 0, sizeof(cmd));
    drop_source(&argc, argv);
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    int ret = 2;
    char *key = NULL;
    lp_api *api = NULL;
    struct lp_records records;
    struct lp_sync sync;
    bool records_ready = false;
    lp_rcache *rcache = NULL;
    uint64_t cache_bound = 0, scratch_bound = 0;
    char *mountpoint = NULL;
    lp_view *view = NULL;
    lp_notifier *nf = NULL;
    struct fuse_session *se = NULL;

    /* The key lives in this process's memory only: no core dumps, no ptrace by peers. */
    prctl(PR_SET_DUMPABLE, 0);
    /* One malloc arena: the inode cache is behind one lock anyway, and the
     * per-thread arenas of the listing and FUSE threads left the heap ~20%
     * larger (about 1,050 instead of 860 bytes per audience at 100,000). */
    mallopt(M_ARENA_MAX, 1);

    if (fuse_opt_parse(&args, &opts, opt_spec, NULL) != 0 || fuse_parse_cmdline(&args, &cmd) != 0)
        goto out;
    /* libfuse allows 10 worker threads by default; requests stalled on a slow
     * API must not starve the rest, so allow more unless told otherwise. */
    if (!option_given(argc, argv, "max_threads="))
        cmd.max_threads = DEFAULT_MAX_THREADS;
    if (cmd.show_help) {
        usage(argv[0]);
        ret = 0;
        goto out;
    }
    if (cmd.show_version) {
        version();
        ret = 0;
        goto out;
    }
    if (opts.api_key_argv) {
        fprintf(stderr, "leadpipefs: the API key is never taken from the command line; "
                        "use LEADPIPE_API_KEY or -o api_key_file=PATH\n");
        goto out;
    }
    if (!cmd.mountpoint) {
        fprintf(stderr, "usage: %s [SOURCE] MOUNTPOINT [options] (see --help)\n", argv[0]);
        goto out;
    }
    if (opts.cache_timeout < 0 || opts.timeout <= 0 || opts.tries < 1 || opts.tries > 20) {
        fprintf(stderr, "leadpipefs: cache_timeout must be >= 0, timeout > 0, tries 1 to 20\n");
        goto out;
    }
    if (lp_parse_size(opts.cache_size ? opts.cache_size : LP_DEFAULT_CACHE_SIZE, &cache_bound) <
        0) {
        fprintf(stderr,
                "leadpipefs: cache_size must be a number of bytes, with K, M or G "
                "(got %s)\n",
                opts.cache_size);
        goto out;
    }
    if (lp_parse_size(opts.scratch_size ? opts.scratch_size : LP_DEFAULT_SCRATCH_SIZE,
                      &scratch_bound) < 0) {
        fprintf(stderr,
                "leadpipefs: scratch_size must be a number of bytes, with K, M or G "
                "(got %s)\n",
                opts.scratch_size);
        goto out;
    }
    ret = 1;
    lp_log_init("leadpipefs", false, cmd.debug);
    if (!opts.base_url) {
        const char *env = getenv("LEADPIPE_BASE_URL");
        opts.base_url = strdup(env && *env ? env : LP_DEFAULT_BASE_URL);
        if (!opts.base_url)
            goto no_memory;
    }
    char msg[LP_STARTUP_MSG_MAX];
    int checked = lp_check_base_url(opts.base_url, msg, sizeof msg);
    if (checked == 0)
        checked = opts.api_key_file ? lp_read_key_file(opts.api_key_file, &key, msg, sizeof msg)
                                    : lp_take_env_key(&key, msg, sizeof msg);
    if (checked == 0)
        checked = choose_ca_file(&opts, msg, sizeof msg);
    if (checked < 0) {
        fprintf(stderr, "leadpipefs: %s\n", msg);
        goto out;
    }
    /* Without the secret the log could not redact it: no mount then. */
    if (lp_log_set_secret(key) < 0 || lp_accesslog_set_secret(key) < 0)
        goto no_memory;

    struct lp_api_options ao = {.base_url = opts.base_url,
                                .api_key = key,
                                .timeout_ms = (long)(opts.timeout * 1000),
                                .ca_file = opts.cafile,
                                .max_tries = opts.tries};
    api = lp_api_new(&ao);
    nf = lp_notifier_new();
    /* After a failed request the cache is served for max(cache_timeout, 1 s). */
    lp_records_init(&records, opts.cache_timeout, 1.0);
    lp_sync_init(&sync, &records, api);
    records_ready = true;
    rcache = open_results_cache(&opts, key, cache_bound);
    sync.rcache = rcache;
    struct lp_view_options vo = {.sync = &sync,
                                 .uid = getuid(),
                                 .gid = getgid(),
                                 .notify = lp_notifier_queue,
                                 .notify_ctx = nf,
                                 .scratch_max = scratch_bound};
    view = api && nf ? lp_view_new(&vo) : NULL;
    if (!view)
        goto no_memory;
    /* Permission checks by the kernel, with the modes we show (size is 0444). */
    if (fuse_opt_add_arg(&args, "-odefault_permissions") != 0 ||
        fuse_opt_add_arg(&args, "-ofsname=leadpipefs") != 0 ||
        fuse_opt_add_arg(&args, "-osubtype=leadpipefs") != 0)
        goto no_memory;
    /* The session parses the remaining (FUSE) options: an unknown one is a
     * usage error, found before any request is sent. */
    struct lp_fs fs = {
        .view = view, .cache_timeout = opts.cache_timeout, .lock = PTHREAD_MUTEX_INITIALIZER};
    se = fuse_session_new(&args, lp_fs_ops(), sizeof(struct fuse_lowlevel_ops), &fs);
    if (!se) {
        ret = 2;
        goto out;
    }
    fs.se = se;
    /* Absolute, before fuse_daemonize changes directory: a lazy unmount is
     * noticed by looking for it in /proc/self/mountinfo. */
    mountpoint = realpath(cmd.mountpoint, NULL);
    fs.mountpoint = mountpoint;
    /* The start-up check says what went wrong in one line of its own. */
    lp_log_set_quiet(!cmd.debug);
    checked = start_check(view, opts.base_url);
    lp_log_set_quiet(false);
    if (checked < 0)
        goto out;
    ret = run_session(se, &cmd, nf);
    lp_accesslog_shutdown();
    fuse_session_destroy(se);
    se = NULL;
    lp_fs_cleanup(&fs);

    goto out;

no_memory:
    fprintf(stderr, "leadpipefs: out of memory\n");
out:
    if (se)
        fuse_session_destroy(se);
    /* Background fetches first (they still notify), then the view, the records. */
    if (records_ready) {
        lp_sync_stop(&sync);
        lp_view_free(view);
        lp_records_destroy(&records);
    }
    lp_rcache_close(rcache);
    lp_notifier_free(nf);
    if (api)
        lp_log(LP_LOG_DEBUG, "%lu HTTP exchange(s) with the API", lp_api_request_count(api));
    lp_api_free(api);
    if (key) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
    lp_log_set_secret(NULL);
    lp_accesslog_set_secret(NULL);
    free(mountpoint);
    free(opts.base_url);
    free(opts.cache_dir);
    free(opts.cache_size);
    free(opts.scratch_size);
    free(opts.api_key_file);
    free(opts.api_key_argv);
    free(opts.cafile);
    free(cmd.mountpoint);
    fuse_opt_free_args(&args);
    return ret;
}
