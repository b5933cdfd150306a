// tls_rust: a threaded Rust program whose std keeps each thread's identity in thread-local
// storage, run natively and under weftrun (real_programs.sh, case rust_threads). std records the
// current thread's handle in TLS when a thread starts (spawn aborts if it finds the slot taken:
// "thread_info.is_none()"), parks and unparks through that handle, counts panics per thread in
// TLS, and runs a thread_local!'s destructor when its thread exits (__cxa_thread_atexit_impl).
// Every worker checks, after each blocking call (sleep, channel receive, condition variable,
// TCP read, park), that it is still the thread it was: its name and ThreadId, and its own
// thread_local! values. The output is deterministic: per-thread summaries in a fixed order.
// Compiled by the build with Debian's rustc (tests/shim/meson.build); no crate, no weft.
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

const WORKERS: usize = 8;
const ROUNDS: u64 = 40;

// PANICKED lists the threads whose panic the hook saw.
static PANICKED: Mutex<Vec<String>> = Mutex::new(Vec::new());

// EXITS counts thread_local! destructors run at thread exit.
static EXITS: AtomicUsize = AtomicUsize::new(0);

// Goodbye's drop, run by std at its thread's exit, counts itself.
struct Goodbye(usize);

impl Drop for Goodbye {
    fn drop(&mut self) {
        if self.0 != usize::MAX {
            EXITS.fetch_add(1, Ordering::SeqCst);
        }
    }
}

thread_local! {
    static WHO: RefCell<String> = RefCell::new(String::new());
    static COUNT: Cell<u64> = Cell::new(0);
    static BYE: RefCell<Goodbye> = RefCell::new(Goodbye(usize::MAX));
}

// check() fails the program unless this thread is still `name` with thread id `id`, as std and
// this thread's own thread_local! see it.
fn check(name: &str, id: thread::ThreadId, when: &str) {
    let me = thread::current();
    if me.name() != Some(name) || me.id() != id {
        panic!("{} is {:?} {:?} after {}", name, me.name(), me.id(), when);
    }
    WHO.with(|w| {
        if *w.borrow() != name {
            panic!("{}'s thread_local! says {} after {}", name, w.borrow(), when);
        }
    });
}

// bump() adds to this thread's counter.
fn bump(by: u64) {
    COUNT.with(|c| c.set(c.get() + by));
}

// Phase is a round barrier made of a Mutex and a Condvar.
struct Phase {
    state: Mutex<(usize, u64)>,
    cv: Condvar,
}

impl Phase {
    fn wait(&self, n: usize) {
        let mut s = self.state.lock().unwrap();
        let gen = s.1;
        s.0 += 1;
        if s.0 == n {
            s.0 = 0;
            s.1 += 1;
            self.cv.notify_all();
        } else {
            while s.1 == gen {
                s = self.cv.wait(s).unwrap();
            }
        }
    }
}

fn main() {
    // A panicking thread's message would go to stderr; the hook records the name of the thread
    // that panicked instead (std's TLS record of the current thread), printed sorted at the end.
    panic::set_hook(Box::new(|_| {
        let me = thread::current().name().unwrap_or("?").to_string();
        PANICKED.lock().unwrap().push(me);
    }));

    // An echo server on loopback: one thread accepts, a thread per connection echoes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::Builder::new()
        .name("acceptor".into())
        .spawn(move || {
            let mut conns = Vec::new();
            for i in 0..WORKERS {
                let (mut s, _) = listener.accept().unwrap();
                conns.push(
                    thread::Builder::new()
                        .name(format!("echo{}", i))
                        .spawn(move || {
                            let mut buf = [0u8; 64];
                            let mut total = 0;
                            loop {
                                let n = s.read(&mut buf).unwrap();
                                if n == 0 {
                                    break;
                                }
                                total += n;
                                s.write_all(&buf[..n]).unwrap();
                            }
                            total
                        })
                        .unwrap(),
                );
            }
            conns.into_iter().map(|c| c.join().unwrap()).sum::<usize>()
        })
        .unwrap();

    let phase = Arc::new(Phase { state: Mutex::new((0, 0)), cv: Condvar::new() });
    let (to_main, from_workers) = mpsc::channel::<(usize, u64)>();
    let mut inboxes = Vec::new();
    let mut workers = Vec::new();
    for i in 0..WORKERS {
        let (tx, rx) = mpsc::channel::<u64>();
        inboxes.push(tx);
        let phase = phase.clone();
        let to_main = to_main.clone();
        workers.push(
            thread::Builder::new()
                .name(format!("worker{}", i))
                .spawn(move || {
                    let name = format!("worker{}", i);
                    let id = thread::current().id();
                    WHO.with(|w| *w.borrow_mut() = name.clone());
                    BYE.with(|b| b.borrow_mut().0 = i);
                    let mut conn = TcpStream::connect(addr).unwrap();
                    for r in 0..ROUNDS {
                        thread::sleep(Duration::from_micros(200 + 50 * i as u64));
                        check(&name, id, "sleep");
                        let v = rx.recv().unwrap();
                        check(&name, id, "recv");
                        bump(v);
                        let msg = format!("{}:{};", name, r);
                        conn.write_all(msg.as_bytes()).unwrap();
                        let mut back = vec![0u8; msg.len()];
                        conn.read_exact(&mut back).unwrap();
                        check(&name, id, "tcp read");
                        assert_eq!(back, msg.as_bytes());
                        if r % 10 == 9 {
                            phase.wait(WORKERS);
                            check(&name, id, "condvar");
                        }
                        to_main.send((i, r)).unwrap();
                    }
                    // park until main unparks this thread through its handle.
                    to_main.send((i, u64::MAX)).unwrap();
                    thread::park();
                    check(&name, id, "park");
                    // A panic in this thread, caught here: std counts it in this thread's TLS.
                    let caught = panic::catch_unwind(|| {
                        if COUNT.with(|c| c.get()) > 0 {
                            panic!("deliberate");
                        }
                    });
                    check(&name, id, "panic");
                    (name.clone(), COUNT.with(|c| c.get()), caught.is_err())
                })
                .unwrap(),
        );
    }
    drop(to_main);

    // Feed every worker its rounds, and count their replies.
    let mut replies = vec![0u64; WORKERS];
    let mut parked = 0;
    for r in 0..ROUNDS {
        for (i, tx) in inboxes.iter().enumerate() {
            tx.send(r * 100 + i as u64).unwrap();
        }
    }
    while parked < WORKERS {
        let (i, r) = from_workers.recv().unwrap();
        if r == u64::MAX {
            parked += 1;
        } else {
            replies[i] += 1;
        }
    }
    for w in &workers {
        w.thread().unpark();
    }
    for (i, w) in workers.into_iter().enumerate() {
        let (name, count, panicked) = w.join().unwrap();
        println!(
            "{}: rounds {} sum {} panic caught {} (replies {})",
            name, ROUNDS, count, panicked, replies[i]
        );
    }
    println!("echoed {} bytes", server.join().unwrap());

    // Scoped threads, each with its own thread_local! counter, and one that panics and is joined.
    let totals: Vec<u64> = thread::scope(|s| {
        let hs: Vec<_> = (0..4u64)
            .map(|k| {
                s.spawn(move || {
                    for j in 0..=k * 10 {
                        bump(j);
                        thread::yield_now();
                    }
                    COUNT.with(|c| c.get())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    println!("scoped totals {:?}", totals);
    let r = thread::Builder::new()
        .name("panicker".into())
        .spawn(|| panic!("deliberate"))
        .unwrap()
        .join();
    println!("panicker joined with error: {}", r.is_err());
    let mut panicked = PANICKED.lock().unwrap().clone();
    panicked.sort();
    println!("panics seen by the hook: {}", panicked.join(" "));
    println!("thread_local destructors run: {}", EXITS.load(Ordering::SeqCst));
    println!("main is {:?}, count {}", thread::current().name(), COUNT.with(|c| c.get()));
}
