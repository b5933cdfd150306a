// stats_prog: programs for stats.sh, which checks weftrun's stats and report sink (no weft
// header: it runs under weftrun only).
//   sleep        a second thread sleeps 200 ms (nanosleep) and is joined
//   fork         waits for a child that is not there yet (WNOHANG), forks a child that sleeps
//                1 ms and exits, waits for it (blocking)
//   stall PATH   (%p in PATH: the pid) closes fd 2, then holds its carrier (no call that
//                yields) until PATH is not empty, for up to 30 s: exit status 0 if it then
//                holds a stall report, 1 if not
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void* sleeper(void* arg) {
  (void)arg;
  struct timespec t = {0, 200 * 1000 * 1000};
  nanosleep(&t, NULL);
  return NULL;
}

// has_stall() tells whether path holds "stall".
static int has_stall(const char* path) {
  char buf[65536];
  FILE* f = fopen(path, "r");
  if (f == NULL) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return strstr(buf, "stall") != NULL;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "sleep") == 0) {
    pthread_t t;
    if (pthread_create(&t, NULL, sleeper, NULL) != 0) return 2;
    pthread_join(t, NULL);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "fork") == 0) {
    int status = 0;
    if (waitpid(-1, &status, WNOHANG) != -1) return 2;  // no child yet: ECHILD
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) {
      usleep(1000);
      exit(0);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 3;
    return 0;
  }
  if (argc >= 3 && strcmp(argv[1], "stall") == 0) {
    // %p in PATH is this process's pid (a WEFT_LOG pattern).
    char path[4096];
    const char* p = strstr(argv[2], "%p");
    if (p != NULL) {
      snprintf(path, sizeof path, "%.*s%d%s", (int)(p - argv[2]), argv[2], (int)getpid(), p + 2);
    } else {
      snprintf(path, sizeof path, "%s", argv[2]);
    }
    close(2);
    // stat() is no hook: the carrier stays with this thread until a report arrives.
    double until = now() + 30;
    struct stat st;
    while (now() < until && (stat(path, &st) != 0 || st.st_size == 0)) {
    }
    return has_stall(path) ? 0 : 1;
  }
  fprintf(stderr, "usage: stats_prog sleep|fork|stall PATH\n");
  return 2;
}
