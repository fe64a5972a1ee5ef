/* fs_dir.h - the FUSE operations that list directories. */
#ifndef LEADPIPEFS_FS_DIR_H
#define LEADPIPEFS_FS_DIR_H

#include "fs_types.h"

void lp_fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lp_fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi);
void lp_fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi);
void lp_fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* Frees the root's kept listing (after the session ends). */
void lp_fs_dirs_cleanup(struct lp_fs *fs);

#endif
