// diff_sigpipe: writing to a pipe or socket whose reader is gone kills the process with SIGPIPE
// when the signal is not handled, as natively. Argument: "pipe", "write-socket" or "send".
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  int fds[2];
  if (strcmp(argv[1], "pipe") == 0) {
    if (pipe(fds) != 0) return 3;
  } else if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    return 3;
  }
  close(fds[0]);
  printf("writing to a closed %s\n", argv[1]);
  fflush(stdout);
  if (strcmp(argv[1], "send") == 0) {
    send(fds[1], "x", 1, 0);
  } else {
    write(fds[1], "x", 1);
  }
  printf("still alive\n");
  return 0;
}
