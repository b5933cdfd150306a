// TlsThreads: Java threads, run natively and under weftrun with the JDK's single-file source
// launcher (real_programs.sh, case java_threads). HotSpot finds the running thread's JavaThread
// (Thread.current(), its handles, its allocation buffer, its lock records) through thread-local
// storage, set when a thread attaches, and the launcher compiles this file with javac inside the
// VM first, on the VM's own compiler and GC threads. The threads block in ways Java programs do:
// Thread.sleep, BlockingQueue, synchronized with wait/notifyAll, ReentrantLock with a Condition,
// CountDownLatch, a pipe between threads, an executor's futures, park/unpark. After each, a
// thread checks it is still itself: Thread.currentThread(), its name and id, its ThreadLocal and
// InheritableThreadLocal. The output is deterministic: per-thread summaries in a fixed order.
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

public class TlsThreads {
  static final int WORKERS = 6;
  static final int ROUNDS = 30;

  static final ThreadLocal<String> WHO = new ThreadLocal<>();
  static final InheritableThreadLocal<String> ORIGIN = new InheritableThreadLocal<>();

  // check fails the program unless the current thread is still `me`, named `name`.
  static void check(Thread me, String name, long id, String what) {
    Thread cur = Thread.currentThread();
    if (cur != me || !cur.getName().equals(name) || cur.getId() != id
        || !name.equals(WHO.get()) || !"main".equals(ORIGIN.get())) {
      throw new IllegalStateException(name + " is " + cur.getName() + " (" + WHO.get() + ", "
          + ORIGIN.get() + ") after " + what);
    }
  }

  // Phase is a round barrier made of a monitor: synchronized, wait and notifyAll.
  static final class Phase {
    private final int n;
    private int count;
    private long gen;

    Phase(int n) {
      this.n = n;
    }

    synchronized void await() throws InterruptedException {
      long g = gen;
      if (++count == n) {
        count = 0;
        gen++;
        notifyAll();
      } else {
        while (gen == g) {
          wait();
        }
      }
    }
  }

  // Gate is a one-shot flag on a ReentrantLock and its Condition.
  static final class Gate {
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition opened = lock.newCondition();
    private boolean open;

    void await() throws InterruptedException {
      lock.lock();
      try {
        while (!open) {
          opened.await();
        }
      } finally {
        lock.unlock();
      }
    }

    void open() {
      lock.lock();
      try {
        open = true;
        opened.signalAll();
      } finally {
        lock.unlock();
      }
    }
  }

  public static void main(String[] args) throws Exception {
    ORIGIN.set("main");
    WHO.set("main");
    List<BlockingQueue<Long>> jobs = new ArrayList<>();
    for (int i = 0; i < WORKERS; i++) {
      jobs.add(new LinkedBlockingQueue<>());
    }
    BlockingQueue<int[]> results = new ArrayBlockingQueue<>(2);
    Phase phase = new Phase(WORKERS);
    Gate gate = new Gate();
    CountDownLatch started = new CountDownLatch(WORKERS);
    Pipe pipe = Pipe.open();
    long[] sums = new long[WORKERS];
    String[] errors = new String[WORKERS];

    // The pipe's reader: a thread blocked in read most of the time.
    AtomicLong pipeBytes = new AtomicLong();
    Thread collector = new Thread(() -> {
      ByteBuffer buf = ByteBuffer.allocate(16);
      try {
        int n;
        while ((n = pipe.source().read(buf)) > 0) {
          pipeBytes.addAndGet(n);
          buf.clear();
        }
      } catch (IOException e) {
        throw new RuntimeException(e);
      }
    }, "collector");
    collector.start();

    Thread[] workers = new Thread[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
      final int k = i;
      workers[i] = new Thread(() -> {
        Thread me = Thread.currentThread();
        String name = "worker" + k;
        long id = me.getId();
        WHO.set(name);
        try {
          started.countDown();
          gate.await();
          check(me, name, id, "Condition.await");
          long sum = 0;
          for (int r = 0; r < ROUNDS; r++) {
            Thread.sleep(0, 100000 * (k + 1));
            check(me, name, id, "sleep");
            sum += jobs.get(k).take();
            check(me, name, id, "BlockingQueue.take");
            synchronized (pipe) {
              ByteBuffer b = ByteBuffer.wrap(("w" + k + ":" + r + ";").getBytes());
              while (b.hasRemaining()) {
                pipe.sink().write(b);
              }
            }
            check(me, name, id, "pipe write");
            if (r % 10 == 9) {
              phase.await();
              check(me, name, id, "Object.wait");
            }
            results.put(new int[] {k, r});
            check(me, name, id, "BlockingQueue.put");
          }
          LockSupport.park();
          check(me, name, id, "park");
          sums[k] = sum;
        } catch (Exception e) {
          errors[k] = e.toString();
        }
      }, "worker" + i);
      workers[i].start();
    }

    started.await();
    gate.open();
    for (int r = 0; r < ROUNDS; r++) {
      for (int k = 0; k < WORKERS; k++) {
        jobs.get(k).put((long) r * 100 + k);
      }
    }
    int[] replies = new int[WORKERS];
    for (int n = 0; n < WORKERS * ROUNDS; n++) {
      replies[results.take()[0]]++;
    }
    // Each worker has parked (or will): unpark until it ends.
    for (Thread w : workers) {
      while (w.isAlive()) {
        LockSupport.unpark(w);
        w.join(10);
      }
    }
    for (int k = 0; k < WORKERS; k++) {
      System.out.println("worker" + k + ": sum " + sums[k] + ", replies " + replies[k]
          + (errors[k] == null ? "" : ", error " + errors[k]));
    }
    pipe.sink().close();
    collector.join();
    System.out.println("pipe bytes: " + pipeBytes.get());

    // An executor's threads, each with its own ThreadLocal; the futures are joined in order.
    ExecutorService pool = Executors.newFixedThreadPool(3);
    List<Future<String>> futures = new ArrayList<>();
    for (int t = 0; t < 12; t++) {
      final int task = t;
      futures.add(pool.submit(() -> {
        String mine = Thread.currentThread().getName();
        WHO.set(mine);
        Thread.sleep(1);
        if (!mine.equals(WHO.get()) || !mine.equals(Thread.currentThread().getName())) {
          return "task " + task + " lost its thread: " + WHO.get();
        }
        if (task == 7) {
          throw new IllegalArgumentException("deliberate");
        }
        return "task " + task + " ok";
      }));
    }
    for (Future<String> f : futures) {
      try {
        System.out.println(f.get());
      } catch (java.util.concurrent.ExecutionException e) {
        System.out.println("failed: " + e.getCause());
      }
    }
    pool.shutdown();
    System.out.println("main: " + Thread.currentThread().getName() + " " + WHO.get());
  }
}
