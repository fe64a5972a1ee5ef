/* stub */ typedef int lp_stub_fs;
