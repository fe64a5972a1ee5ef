/* forbid/fuse.h - forced into every layer below the file system one: any use
 * of libfuse there, its header included, fails to build. */
#pragma GCC poison fuse_req_t fuse_session fuse_ino_t fuse_file_info fuse_lowlevel_ops
