// locks: waiting for file locks (flock, lockf, fcntl's F_SETLKW and F_OFD_SETLKW) without
// holding the carrier. locks.cpp has the hooks and the reasoning; fd.cpp's fcntl hook hands its
// lock commands here.
#pragma once

#include "table.hpp"

namespace weft::shim {

// fcntl_lock_cmd() tells whether cmd is one of the record-lock commands fcntl_lock() handles
// (F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW).
bool fcntl_lock_cmd(int cmd) noexcept;

// fcntl_lock() is fcntl(fd, cmd, arg) for a record-lock command, counted as s (fcntl or
// fcntl64), real being libc's function: a waiting command on a fiber tries the non-waiting one
// first and, if the lock is taken, waits on a blocking-pool helper thread.
int fcntl_lock(Sym s, int (*real)(int, int, ...), int fd, int cmd, void* arg);

}  // namespace weft::shim
