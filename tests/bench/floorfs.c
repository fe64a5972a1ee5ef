/* floorfs.c - the benchmark's floor: a FUSE file system with leadpipefs's
 * shape (N directories, each with size and status) that answers every request
 * from static memory, with no cache, no locks and no API behind it.
 *
 * What `ls -l` and `cat M/STAR/size M/STAR/status` cost on it is what the
 * kernel's FUSE round trips alone cost on this machine; tests/bench/run sets
 * leadpipefs's figure (2) beside it. Not part of leadpipefs; not installed.
 *
 *   floorfs N MOUNTPOINT [direct]   (stays in the foreground; fusermount3 -u ends it)
 *
 * Reads go through the page cache (one READ per file: the floor of all), or
 * with "direct" bypass it as leadpipefs's must (whose content can change under
 * a reader): then a second READ finds the end of each file.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Inodes: 1 the root; 2 + 3i directory i, 3 + 3i its size, 4 + 3i its status. */
static unsigned long ndirs;
static int direct_io;
static const double forever = 1e6; /* nothing ever changes: cache everything */

static int dir_index(const char *name, unsigned long *i)
{
    char *end;
    unsigned long v = strtoul(name + 2, &end, 10);
    if (strncmp(name, "d ", 2) != 0 || *end || v >= ndirs)
        return -1;
    *i = v;
    return 0;
}

static const char *content(fuse_ino_t ino)
{
    return (ino - 2) % 3 == 1 ? "7\n" : "active\n";
}

static void fill(fuse_ino_t ino, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = ino;
    if (ino == 1 || (ino - 2) % 3 == 0) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
    } else {
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = (off_t)strlen(content(ino));
    }
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino)
{
    struct fuse_entry_param e;
    memset(&e, 0, sizeof(e));
    e.ino = ino;
    e.attr_timeout = e.entry_timeout = forever;
    fill(ino, &e.attr);
    fuse_reply_entry(req, &e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    unsigned long i;
    if (parent == 1 && dir_index(name, &i) == 0)
        reply_entry(req, 2 + 3 * i);
    else if (parent != 1 && strcmp(name, "size") == 0)
        reply_entry(req, parent + 1);
    else if (parent != 1 && strcmp(name, "status") == 0)
        reply_entry(req, parent + 2);
    else
        fuse_reply_err(req, ENOENT);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    struct stat st;
    fill(ino, &st);
    fuse_reply_attr(req, &st, forever);
}

/* READDIRPLUS, as leadpipefs: one entry per directory, with its attributes. */
static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    (void)fi;
    char *buf = malloc(size);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    size_t used = 0;
    unsigned long n = ino == 1 ? ndirs : 2;
    for (unsigned long i = (unsigned long)off; i < n; i++) {
        char name[32];
        struct fuse_entry_param e;
        memset(&e, 0, sizeof(e));
        e.ino = ino == 1 ? 2 + 3 * i : ino + 1 + i;
        e.attr_timeout = e.entry_timeout = forever;
        fill(e.ino, &e.attr);
        if (ino == 1)
            snprintf(name, sizeof(name), "d %05lu", i);
        else
            snprintf(name, sizeof(name), "%s", i ? "status" : "size");
        size_t need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, (off_t)i + 1);
        if (need > size - used)
            break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    fi->direct_io = direct_io;
    fi->keep_cache = 0; /* as leadpipefs: every open reads afresh */
    fi->noflush = 1;
    fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)fi;
    const char *c = content(ino);
    size_t len = strlen(c);
    size_t n = (size_t)off >= len ? 0 : len - (size_t)off;
    fuse_reply_buf(req, c + off, n < size ? n : size);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    (void)ino, (void)name, (void)size;
    fuse_reply_err(req, ENOTSUP);
}

static const struct fuse_lowlevel_ops ops = {
    .lookup = op_lookup,
    .getattr = op_getattr,
    .readdirplus = op_readdirplus,
    .open = op_open,
    .read = op_read,
    .getxattr = op_getxattr,
};

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "direct") != 0)) {
        fprintf(stderr, "usage: %s N MOUNTPOINT [direct]\n", argv[0]);
        return 2;
    }
    ndirs = strtoul(argv[1], NULL, 10);
    direct_io = argc == 4;
    char opt_o[] = "-o", opts[] = "fsname=floorfs,default_permissions";
    char *fargv[] = {argv[0], opt_o, opts, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
    struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
    if (!se || fuse_session_mount(se, argv[2]) != 0)
        return 1;
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, 64);
    int rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    return rc == 0 ? 0 : 1;
}
