// tls_urcu: userspace RCU (Debian's liburcu, default flavor) between threads, run natively and
// under weftrun (real_programs.sh, case urcu_threads). liburcu keeps each reader's registration
// in thread-local storage: rcu_register_thread() links the thread's TLS reader record into the
// registry (and asserts it was not registered yet), rcu_read_lock() counts nesting in it, and
// synchronize_rcu() waits until every registered record shows its thread outside a read-side
// critical section. Readers here sleep inside and between critical sections and check, after
// each blocking call, that their own record still says where they are (rcu_read_ongoing()) and
// that the object they hold was not freed; a writer replaces the object, waits for a grace
// period (synchronize_rcu) or hands the old one to call_rcu's worker thread, and poisons it
// before freeing it, so a reader that still holds it sees the poison. The output is
// deterministic: per-thread summaries in a fixed order.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu.h>

enum { kReaders = 6, kRounds = 60, kVersions = 40, kValues = 16 };

struct config {
  struct rcu_head head;
  long version;
  long values[kValues];
};

static struct config* current;
static __thread int who = -1;
static long callbacks;  // call_rcu callbacks run (by call_rcu's thread, one at a time)
static pthread_mutex_t callbacks_lock = PTHREAD_MUTEX_INITIALIZER;

// fail ends the program with a message naming the thread and what went wrong.
static void fail(int id, const char* what) {
  printf("thread %d (TLS says %d): %s\n", id, who, what);
  fflush(stdout);
  exit(1);
}

// pause_us sleeps for a few microseconds: a blocking call, and a chance for others to run.
static void pause_us(long us) {
  struct timespec ts = {0, us * 1000};
  nanosleep(&ts, NULL);
}

// valid tells whether an object is intact (not poisoned, not half written).
static int valid(const struct config* c) {
  for (int i = 0; i < kValues; i++) {
    if (c->values[i] != c->version * kValues + i) return 0;
  }
  return 1;
}

// make returns a new object of version v.
static struct config* make(long v) {
  struct config* c = malloc(sizeof *c);
  c->version = v;
  for (int i = 0; i < kValues; i++) c->values[i] = v * kValues + i;
  return c;
}

// poison_and_free overwrites an object nobody may hold any more, then frees it.
static void poison_and_free(struct config* c) {
  memset(c, 0xdd, sizeof *c);
  free(c);
}

static void free_cb(struct rcu_head* head) {
  pthread_mutex_lock(&callbacks_lock);
  callbacks++;
  pthread_mutex_unlock(&callbacks_lock);
  poison_and_free(caa_container_of(head, struct config, head));
}

struct reader_result {
  long seen_versions;  // version changes observed
  long last_version;
};

static void* reader(void* arg) {
  int id = (int)(long)arg;
  struct reader_result* res = calloc(1, sizeof *res);
  who = id;
  rcu_register_thread();
  long last = -1;
  for (int r = 0; r < kRounds; r++) {
    if (rcu_read_ongoing()) fail(id, "in a read-side critical section before rcu_read_lock");
    rcu_read_lock();
    struct config* c = rcu_dereference(current);
    if (!valid(c)) fail(id, "object invalid at first read");
    if (r % 3 == 0) {
      // Blocking inside the critical section (allowed by this flavor): the writer's grace
      // period must wait for this reader, so the object stays intact across the sleep.
      pause_us(100 + 30 * id);
      if (!rcu_read_ongoing()) fail(id, "not in the critical section after a sleep in it");
      rcu_read_lock();  // nested
      if (!valid(c)) fail(id, "object freed while held across a sleep");
      rcu_read_unlock();
    }
    if (!rcu_read_ongoing()) fail(id, "not in the critical section");
    if (c->version < last) fail(id, "version went back");
    if (c->version != last) res->seen_versions++;
    last = c->version;
    rcu_read_unlock();
    if (rcu_read_ongoing()) fail(id, "still in a critical section after rcu_read_unlock");
    pause_us(200);
    if (who != id) fail(id, "__thread variable changed across a sleep");
  }
  res->last_version = last;
  rcu_unregister_thread();
  return res;
}

static void* writer(void* arg) {
  (void)arg;
  who = 100;
  rcu_register_thread();  // call_rcu wants a registered thread
  for (long v = 1; v <= kVersions; v++) {
    struct config* old = rcu_xchg_pointer(&current, make(v));
    if (v % 2) {
      synchronize_rcu();
      poison_and_free(old);
    } else {
      call_rcu(&old->head, free_cb);
    }
    pause_us(300);
    if (who != 100) fail(100, "__thread variable changed across a sleep");
  }
  rcu_unregister_thread();
  return NULL;
}

int main(void) {
  rcu_register_thread();
  current = make(0);
  pthread_t readers[kReaders], w;
  for (long i = 0; i < kReaders; i++) pthread_create(&readers[i], NULL, reader, (void*)i);
  pthread_create(&w, NULL, writer, NULL);
  pthread_join(w, NULL);
  // Readers may still be running; main reads too, then waits for them.
  rcu_read_lock();
  struct config* c = rcu_dereference(current);
  printf("main sees version %ld, intact %d\n", c->version, valid(c));
  rcu_read_unlock();
  long total = 0;
  for (int i = 0; i < kReaders; i++) {
    struct reader_result* res;
    pthread_join(readers[i], (void**)&res);
    printf("reader %d: %d rounds, last version <= %d: %d\n", i, kRounds, kVersions,
           res->last_version <= kVersions);
    total += res->seen_versions > 0;
    free(res);
  }
  printf("readers that saw versions: %ld\n", total);
  rcu_barrier();  // every call_rcu callback has run
  printf("call_rcu callbacks: %ld, synchronize_rcu frees: %d\n", callbacks, kVersions / 2);
  rcu_unregister_thread();
  return 0;
}
