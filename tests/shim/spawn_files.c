// spawn_files: posix_spawn with file actions (dup2, close) and system(), from the main thread
// (a fiber under the shim). Their children share this process's memory (clone with CLONE_VM)
// until they exec, so a hook running there would run the parent's runtime from the wrong task;
// glibc's child code calls its internal dup2 and close, which no hook sees.
// spawn_no_hooks.sh checks, with --stats, that no dup2 or close hook ran. Exits 0 when the
// children ran as asked.
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

int main(void) {
  int devnull[2];
  if (pipe(devnull) != 0) return 2;
  posix_spawn_file_actions_t fa;
  if (posix_spawn_file_actions_init(&fa) != 0) return 2;
  posix_spawn_file_actions_adddup2(&fa, devnull[1], 1);
  posix_spawn_file_actions_addclose(&fa, devnull[0]);
  posix_spawn_file_actions_addclose(&fa, devnull[1]);
  char* argv[] = {"sh", "-c", "echo to the pipe; exit 9", NULL};
  pid_t pid;
  if (posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ) != 0) return 2;
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 9) return 3;
  status = system("exit 4");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 4) return 4;
  return 0;
}
