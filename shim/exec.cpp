// exec: the calls that start a new program hand it the calling thread's signal mask.
//
// The kernel gives a new program the mask of the thread that called execve, and posix_spawn
// (which system and popen use inside glibc) gives its child the caller's mask unless told
// otherwise. Under the shim the calling thread is a fiber and its carrier's kernel mask is the
// set every thread blocks (sigmask.hpp), so each of these calls sets the carrier's kernel mask
// to the fiber's for its duration (ExecMask); posix_spawn gets the mask in its attributes. The
// execl family is variadic and cannot be forwarded: its arguments are gathered into an argv,
// as glibc's own execl does, and passed to the execv form.
#include <alloca.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <cerrno>
#include <cstdlib>

#include "real.hpp"
#include "shim.hpp"
#include "sigmask.hpp"
#include "stats.hpp"

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern char** environ;

namespace {

// count_args() counts the execl arguments after first, up to and including the null.
int count_args(const char* first, va_list ap) {
  int n = 1;
  for (const char* a = first; a != nullptr; a = va_arg(ap, const char*)) ++n;
  return n;
}

// gather() collects the execl arguments after first into argv (null-terminated, n entries, as
// count_args() counted); *envp gets the environment after the null for execle.
void gather(const char* first, va_list ap, int n, char** argv, char*** envp) {
  argv[0] = const_cast<char*>(first);
  for (int i = 1; i < n; ++i) argv[i] = va_arg(ap, char*);
  if (envp != nullptr) *envp = va_arg(ap, char**);
}

// spawn_attr() is attr with the calling fiber's mask in it, unless the program set one.
const posix_spawnattr_t* spawn_attr(const posix_spawnattr_t* attr, posix_spawnattr_t* own) {
  if (!on_fiber()) return attr;
  short flags = 0;
  if (attr != nullptr) {
    if (posix_spawnattr_getflags(attr, &flags) != 0) return attr;
    if ((flags & POSIX_SPAWN_SETSIGMASK) != 0) return attr;
    *own = *attr;  // plain data in glibc: a copy is an independent attribute object
  } else if (posix_spawnattr_init(own) != 0) {
    return attr;
  }
  sigset_t mask;
  sigset_of(fiber_mask(), &mask);
  posix_spawnattr_setsigmask(own, &mask);
  posix_spawnattr_setflags(own, static_cast<short>(flags | POSIX_SPAWN_SETSIGMASK));
  return own;
}

// spawn_with_mask() is posix_spawn or posix_spawnp (real) with the calling fiber's mask.
template <class Real>
int spawn_with_mask(Real real, pid_t* pid, const char* file, const posix_spawn_file_actions_t* acts,
                    const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  posix_spawnattr_t own;
  const posix_spawnattr_t* use = spawn_attr(attr, &own);
  int r = real != nullptr ? real(pid, file, acts, use, argv, envp) : ENOSYS;
  if (use == &own && attr == nullptr) posix_spawnattr_destroy(&own);
  return r;
}

}  // namespace

extern "C" {

WEFT_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
  count(Sym::execve, fiber_route());
  ExecMask mask;
  auto real = WEFT_REAL(execve);
  return real != nullptr ? real(path, argv, envp) : (errno = ENOSYS, -1);
}

WEFT_EXPORT int execv(const char* path, char* const argv[]) {
  count(Sym::execv, fiber_route());
  ExecMask mask;
  auto real = WEFT_REAL(execv);
  return real != nullptr ? real(path, argv) : (errno = ENOSYS, -1);
}

WEFT_EXPORT int execvp(const char* file, char* const argv[]) {
  count(Sym::execvp, fiber_route());
  ExecMask mask;
  auto real = WEFT_REAL(execvp);
  return real != nullptr ? real(file, argv) : (errno = ENOSYS, -1);
}

WEFT_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
  count(Sym::execvpe, fiber_route());
  ExecMask mask;
  auto real = WEFT_REAL(execvpe);
  return real != nullptr ? real(file, argv, envp) : (errno = ENOSYS, -1);
}

WEFT_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) {
  count(Sym::fexecve, fiber_route());
  ExecMask mask;
  auto real = WEFT_REAL(fexecve);
  return real != nullptr ? real(fd, argv, envp) : (errno = ENOSYS, -1);
}

WEFT_EXPORT int execveat(int dirfd, const char* path, char* const argv[], char* const envp[],
                         int flags) {
  count(Sym::execveat, fiber_route());
  ExecMask mask;
  auto real = WEFT_REAL(execveat);
  return real != nullptr ? real(dirfd, path, argv, envp, flags) : (errno = ENOSYS, -1);
}

// The execl family gathers its arguments (and execle its environment) into an array as long as
// they are, as glibc's own execl does, and calls the execv form.
#define WEFT_EXECL(name, first, call, with_env)                   \
  WEFT_EXPORT int name(const char* first, const char* arg, ...) { \
    count(Sym::name, fiber_route());                              \
    va_list ap;                                                   \
    va_start(ap, arg);                                            \
    va_list again;                                                \
    va_copy(again, ap);                                           \
    int n = count_args(arg, again);                               \
    va_end(again);                                                \
    auto** argv = static_cast<char**>(alloca(sizeof(char*) * n)); \
    char** envp = environ;                                        \
    gather(arg, ap, n, argv, with_env ? &envp : nullptr);         \
    va_end(ap);                                                   \
    return call;                                                  \
  }

WEFT_EXECL(execl, path, execv(path, argv), false)
WEFT_EXECL(execlp, file, execvp(file, argv), false)
WEFT_EXECL(execle, path, execve(path, argv, envp), true)

#undef WEFT_EXECL

WEFT_EXPORT int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* acts,
                            const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  count(Sym::posix_spawn, fiber_route());
  return spawn_with_mask(WEFT_REAL(posix_spawn), pid, path, acts, attr, argv, envp);
}

WEFT_EXPORT int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* acts,
                             const posix_spawnattr_t* attr, char* const argv[],
                             char* const envp[]) {
  count(Sym::posix_spawnp, fiber_route());
  return spawn_with_mask(WEFT_REAL(posix_spawnp), pid, file, acts, attr, argv, envp);
}

WEFT_EXPORT int system(const char* command) {
  count(Sym::system, fiber_route());
  ExecMask mask;
  auto real = WEFT_REAL(system);
  return real != nullptr ? real(command) : (errno = ENOSYS, -1);
}

WEFT_EXPORT FILE* popen(const char* command, const char* type) {
  count(Sym::popen, fiber_route());
  ExecMask mask;
  auto real = WEFT_REAL(popen);
  return real != nullptr ? real(command, type) : (errno = ENOSYS, nullptr);
}

}  // extern "C"
