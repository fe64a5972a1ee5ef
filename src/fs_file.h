/* fs_file.h - the FUSE operations on files: open, read, write, flush, the
 * attributes of an open file, create. */
#ifndef LEADPIPEFS_FS_FILE_H
#define LEADPIPEFS_FS_FILE_H

#include "fs_types.h"

void lp_fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lp_fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                 struct fuse_file_info *fi);
void lp_fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lp_fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void lp_fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lp_fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void lp_fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void lp_fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                  struct fuse_file_info *fi);
void lp_fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                   struct fuse_file_info *fi);
/* Frees the open files whose RELEASE never came (after the session ends). */
void lp_fs_files_cleanup(struct lp_fs *fs);

#endif
