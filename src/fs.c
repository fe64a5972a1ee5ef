/* fs.c - the FUSE low-level operations table of leadpipefs: each request
 * becomes a call on the inode view (view.h), which dispatches it to the
 * node's kind. Operations on files are in fs_file.c, listings in fs_dir.c;
 * the namespace, extended attributes and statfs are here.
 */
#include "fs.h"

#include <errno.h>
#include <stdio.h> /* RENAME_NOREPLACE */
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fs_dir.h"
#include "fs_file.h"
#include "fs_reply.h"

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    double t0 = lp_op_start("lookup");
    struct lp_fs *fs = lp_fs_of(req);
    struct stat st;
    int rc = lp_view_lookup(fs->view, parent, name, true, &st);
    lp_op_log(fs, "lookup", t0, parent, name, rc);
    if (rc == -ENOENT) {
        /* A negative entry that is not cached: new audiences show at once. */
        struct fuse_entry_param e;
        memset(&e, 0, sizeof(e));
        fuse_reply_entry(req, &e);
        return;
    }
    lp_fs_reply_entry(req, rc, &st);
}

/* FORGET is not logged: the kernel sends it in bulk, with no answer. */
static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    lp_view_forget(lp_fs_of(req)->view, ino, nlookup);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        lp_view_forget(lp_fs_of(req)->view, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void)mode;
    double t0 = lp_op_start("mkdir");
    struct lp_fs *fs = lp_fs_of(req);
    struct stat st;
    int rc = lp_view_mkdir(fs->view, parent, name, &st);
    lp_op_log(fs, "mkdir", t0, parent, name, rc);
    lp_fs_reply_entry(req, rc, &st);
}

/* Logs an operation on (parent, name) that answers with an errno only. */
static void reply_logged(fuse_req_t req, const char *op, double t0, fuse_ino_t parent,
                         const char *name, int rc)
{
    lp_op_log(lp_fs_of(req), op, t0, parent, name, rc);
    fuse_reply_err(req, -rc);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    double t0 = lp_op_start("rmdir");
    int rc = lp_view_rmdir(lp_fs_of(req)->view, parent, name);
    reply_logged(req, "rmdir", t0, parent, name, rc);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    double t0 = lp_op_start("unlink");
    int rc = lp_view_unlink(lp_fs_of(req)->view, parent, name);
    reply_logged(req, "unlink", t0, parent, name, rc);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    double t0 = lp_op_start("rename");
    unsigned lflags = (flags & RENAME_NOREPLACE) ? LP_RENAME_NOREPLACE : 0;
    int rc = (flags & ~RENAME_NOREPLACE)
                 ? -EINVAL /* RENAME_EXCHANGE, RENAME_WHITEOUT */
                 : lp_view_rename(lp_fs_of(req)->view, parent, name, newparent, newname, lflags);
    reply_logged(req, "rename", t0, parent, name, rc);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    double t0 = lp_op_start("symlink");
    struct lp_fs *fs = lp_fs_of(req);
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct stat st;
    int rc = lp_view_symlink(fs->view, parent, name, link, ctx->uid, ctx->gid, &st);
    lp_op_log(fs, "symlink", t0, parent, name, rc);
    lp_fs_reply_entry(req, rc, &st);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    double t0 = lp_op_start("readlink");
    struct lp_fs *fs = lp_fs_of(req);
    char *target = NULL;
    int rc = lp_view_readlink(fs->view, ino, &target);
    lp_op_log(fs, "readlink", t0, ino, NULL, rc);
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_readlink(req, target);
    free(target);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void)mode, (void)rdev;
    reply_logged(req, "mknod", lp_op_start("mknod"), parent, name, -EPERM);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino;
    reply_logged(req, "link", lp_op_start("link"), newparent, newname, -EPERM);
}

/* ---- extended attributes, statfs ---- */

static void reply_xattr(fuse_req_t req, size_t size, int rc, const char *value, size_t len)
{
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else if (size == 0)
        fuse_reply_xattr(req, len);
    else if (len > size)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, value, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    /* Only user.* attributes exist. Saying "not supported" (rather than "no such
     * attribute") for ACLs and security labels lets ls -l and cp ask once per
     * mount instead of once per file: they remember the answer for the device. */
    double t0 = lp_op_start("getxattr");
    struct lp_fs *fs = lp_fs_of(req);
    char *value = NULL;
    size_t len = 0;
    int rc = strncmp(name, "user.", 5) != 0 ? -ENOTSUP
                                            : lp_view_getxattr(fs->view, ino, name, &value, &len);
    lp_op_log(fs, "getxattr", t0, ino, NULL, rc);
    reply_xattr(req, size, rc, value, len);
    free(value);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    double t0 = lp_op_start("listxattr");
    struct lp_fs *fs = lp_fs_of(req);
    char *list = NULL;
    size_t len = 0;
    int rc = lp_view_listxattr(fs->view, ino, &list, &len);
    lp_op_log(fs, "listxattr", t0, ino, NULL, rc);
    reply_xattr(req, size, rc, list, len);
    free(list);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    (void)name, (void)value, (void)size, (void)flags;
    /* sed -i copies ACLs with fsetxattr and falls back to fchmod on ENOTSUP. */
    reply_logged(req, "setxattr", lp_op_start("setxattr"), ino, NULL, -ENOTSUP);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    (void)name;
    reply_logged(req, "removexattr", lp_op_start("removexattr"), ino, NULL, -ENOTSUP);
}

/* The only space this file system has is the memory editors' scratch files
 * may take (-o scratch_size): df shows it, and how much of it is in use. */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    double t0 = lp_op_start("statfs");
    struct lp_fs *fs = lp_fs_of(req);
    size_t nodes = lp_view_node_count(fs->view);
    uint64_t used, total;
    lp_view_scratch_space(fs->view, &used, &total);
    lp_op_log(fs, "statfs", t0, ino, NULL, 0);
    struct statvfs sv;
    memset(&sv, 0, sizeof(sv));
    sv.f_bsize = sv.f_frsize = 4096;
    sv.f_blocks = total / sv.f_frsize;
    sv.f_bfree = sv.f_bavail = used < total ? (total - used) / sv.f_frsize : 0;
    sv.f_namemax = LP_FILENAME_MAX;
    sv.f_files = nodes + 1;
    sv.f_ffree = 0;
    fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    struct lp_fs *fs = userdata;
    fs->no_opendir =
        (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) && (conn->capable & FUSE_CAP_AUTO_INVAL_DATA);
    if (fs->no_opendir)
        conn->want |= FUSE_CAP_AUTO_INVAL_DATA; /* re-check the root's mtime */
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want |= FUSE_CAP_READDIRPLUS;
    if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
        conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
    /* results.csv's reads are answered with the cache file's descriptor
     * (read_local): spliced, its pages reach the kernel without a copy into
     * a buffer of ours (libfuse 3.14 leaves this off; without it every READ
     * of 256 KiB was a fresh buffer, a pread into it and a write out of it).
     * Replies from memory are written as before. */
    if (conn->capable & FUSE_CAP_SPLICE_WRITE)
        conn->want |= FUSE_CAP_SPLICE_WRITE;
    if (conn->capable & FUSE_CAP_SPLICE_MOVE)
        conn->want |= FUSE_CAP_SPLICE_MOVE;
    /* Our files have no page cache to write back. */
    conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
    /* The kernel sends INIT once the mount is in place: mountinfo shows it. */
    fs->dev_known = fs->mountpoint && lp_mountinfo_find("/proc/self/mountinfo", fs->mountpoint,
                                                        "fuse.leadpipefs", &fs->dev) == 1;
}

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = lp_fs_getattr,
    .setattr = lp_fs_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .open = lp_fs_open,
    .read = lp_fs_read,
    .write = lp_fs_write,
    .flush = lp_fs_flush,
    .release = lp_fs_release,
    .fsync = lp_fs_fsync,
    .opendir = lp_fs_opendir,
    .readdir = lp_fs_readdir,
    .readdirplus = lp_fs_readdirplus,
    .releasedir = lp_fs_releasedir,
    .statfs = op_statfs,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
    .create = lp_fs_create,
};

void lp_fs_cleanup(struct lp_fs *fs)
{
    lp_fs_files_cleanup(fs);
    lp_fs_dirs_cleanup(fs);
}

const struct fuse_lowlevel_ops *lp_fs_ops(void)
{
    return &ops;
}
