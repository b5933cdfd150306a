// diff_resolve: name lookups (getaddrinfo, getnameinfo, gethostbyname, gethostbyname_r) give the
// same answers, also from 20 threads at once while another thread keeps sleeping and waking.
// Only localhost and numeric names: no lookup leaves the machine. No weft header.
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int failures, ticks, stop;

static void* lookups(void* arg) {
  (void)arg;
  for (int i = 0; i < 50; ++i) {
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo* res = NULL;
    if (getaddrinfo("localhost", "80", &hints, &res) != 0 || res == NULL) {
      __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
      continue;
    }
    freeaddrinfo(res);
  }
  return NULL;
}

static void* ticker(void* arg) {
  (void)arg;
  while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
    usleep(100);
    __atomic_fetch_add(&ticks, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

int main(void) {
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  struct addrinfo* res = NULL;
  int r = getaddrinfo("localhost", "http", &hints, &res);
  printf("getaddrinfo localhost http -> %d", r);
  for (struct addrinfo* a = res; a != NULL; a = a->ai_next) {
    struct sockaddr_in* in = (struct sockaddr_in*)a->ai_addr;
    char ip[INET_ADDRSTRLEN];
    printf(" %s:%d", inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip), ntohs(in->sin_port));
  }
  printf("\n");
  freeaddrinfo(res);
  hints.ai_flags = AI_NUMERICHOST;
  printf("getaddrinfo of a non-numeric name with AI_NUMERICHOST -> %s\n",
         gai_strerror(getaddrinfo("not-a-number", NULL, &hints, &res)));

  struct sockaddr_in lo = {.sin_family = AF_INET, .sin_port = htons(22)};
  lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  r = getnameinfo((struct sockaddr*)&lo, sizeof lo, host, sizeof host, serv, sizeof serv,
                  NI_NUMERICSERV);
  printf("getnameinfo 127.0.0.1:22 -> %d %s %s\n", r, host, serv);
  printf(
      "getnameinfo with a short buffer -> %s\n",
      gai_strerror(getnameinfo((struct sockaddr*)&lo, sizeof lo, host, 1, NULL, 0, NI_NAMEREQD)));

  struct hostent* h = gethostbyname("localhost");
  printf("gethostbyname localhost -> %s, %d-byte addresses, first %s\n", h ? h->h_name : "(null)",
         h ? h->h_length : 0, h ? inet_ntoa(*(struct in_addr*)h->h_addr_list[0]) : "-");
  struct hostent he, *result = NULL;
  char buf[1024];
  int herr = 0;
  r = gethostbyname_r("localhost", &he, buf, sizeof buf, &result, &herr);
  printf("gethostbyname_r localhost -> %d %s\n", r, result ? result->h_name : "(null)");
  r = gethostbyname_r("localhost", &he, buf, 8, &result, &herr);
  printf("gethostbyname_r with 8 bytes -> %s\n", strerror(r));

  pthread_t t[21];
  pthread_create(&t[20], NULL, ticker, NULL);
  for (int i = 0; i < 20; ++i) pthread_create(&t[i], NULL, lookups, NULL);
  for (int i = 0; i < 20; ++i) pthread_join(t[i], NULL);
  __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
  pthread_join(t[20], NULL);
  printf("1000 concurrent lookups, %d failed\n", failures);
  return 0;
}
