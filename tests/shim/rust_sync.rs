// rust_sync: Rust's std::sync between threads. Its Mutex, Condvar, RwLock and Barrier wait with
// syscall(SYS_futex) (FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, an absolute CLOCK_MONOTONIC time for
// the timed waits) and wake with FUTEX_WAKE | FUTEX_PRIVATE_FLAG; mpsc's receiver parks its thread,
// on a futex too. On one carrier, a wait that slept the carrier in the kernel would never be
// woken: the threads hold their locks across a yield, so the holder runs on that carrier.
//
// The threads are made with pthread_create, as a C library's would be, not std::thread::spawn:
// std keeps each thread's identity in thread-local storage, which under the shim is per carrier
// (docs/shim.md, Limits), and spawn aborts when it finds the carrier's slot taken. Compiled by the
// build with the system's rustc (tests/shim/meson.build); no crate, no weft.
use std::collections::VecDeque;
use std::os::raw::{c_int, c_void};
use std::sync::{mpsc, Arc, Barrier, Condvar, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

type PthreadT = usize;

extern "C" {
    fn pthread_create(
        thread: *mut PthreadT,
        attr: *const c_void,
        start: extern "C" fn(*mut c_void) -> *mut c_void,
        arg: *mut c_void,
    ) -> c_int;
    fn pthread_join(thread: PthreadT, ret: *mut *mut c_void) -> c_int;
}

type Job = Box<dyn FnOnce() + Send>;

extern "C" fn start(arg: *mut c_void) -> *mut c_void {
    let job: Box<Job> = unsafe { Box::from_raw(arg as *mut Job) };
    job();
    std::ptr::null_mut()
}

// spawn() starts f on a new pthread.
fn spawn<F: FnOnce() + Send + 'static>(f: F) -> PthreadT {
    let job: Box<Job> = Box::new(Box::new(f));
    let mut t: PthreadT = 0;
    let arg = Box::into_raw(job) as *mut c_void;
    assert_eq!(
        unsafe { pthread_create(&mut t, std::ptr::null(), start, arg) },
        0
    );
    t
}

fn join(t: PthreadT) {
    assert_eq!(unsafe { pthread_join(t, std::ptr::null_mut()) }, 0);
}

// mutex(): 6 threads add to one counter, holding the lock across a yield now and then.
fn mutex() {
    let counter = Arc::new(Mutex::new(0u64));
    let ts: Vec<_> = (0..6)
        .map(|_| {
            let c = counter.clone();
            spawn(move || {
                for i in 0..2000 {
                    let mut g = c.lock().unwrap();
                    let v = *g;
                    if i % 16 == 0 {
                        thread::yield_now();
                    }
                    *g = v + 1;
                }
            })
        })
        .collect();
    ts.into_iter().for_each(join);
    println!(
        "Mutex: 6 threads x 2000 increments -> {}",
        *counter.lock().unwrap()
    );
}

// condvar(): 3 producers and 3 consumers through a 4-slot queue; consumers wait with a timeout.
fn condvar() {
    struct Q {
        items: VecDeque<u64>,
        done: usize,
    }
    let q = Arc::new((
        Mutex::new(Q {
            items: VecDeque::new(),
            done: 0,
        }),
        Condvar::new(),
        Condvar::new(),
    ));
    let (tx, rx) = mpsc::channel::<u64>();
    let mut ts = vec![];
    for p in 0..3u64 {
        let q = q.clone();
        ts.push(spawn(move || {
            let (m, not_empty, not_full) = &*q;
            for i in 1..=300u64 {
                let mut g = not_full
                    .wait_while(m.lock().unwrap(), |g| g.items.len() == 4)
                    .unwrap();
                g.items.push_back(p * 300 + i);
                not_empty.notify_one();
            }
            let mut g = m.lock().unwrap();
            g.done += 1;
            not_empty.notify_all();
        }));
    }
    for _ in 0..3 {
        let q = q.clone();
        let tx = tx.clone();
        ts.push(spawn(move || {
            let (m, not_empty, not_full) = &*q;
            let mut sum = 0u64;
            let mut g = m.lock().unwrap();
            loop {
                if let Some(v) = g.items.pop_front() {
                    sum += v;
                    not_full.notify_one();
                } else if g.done == 3 {
                    break;
                } else {
                    g = not_empty
                        .wait_timeout(g, Duration::from_secs(30))
                        .unwrap()
                        .0;
                }
            }
            drop(g);
            tx.send(sum).unwrap();
        }));
    }
    drop(tx);
    let total: u64 = rx.iter().sum();
    ts.into_iter().for_each(join);
    println!(
        "Condvar: 900 items through 4 slots, sum {}",
        if total == 900 * 901 / 2 {
            "right"
        } else {
            "WRONG"
        }
    );
}

// rwlock(): 2 writers and 4 readers; a reader never sees a half-done write.
fn rwlock() {
    let data = Arc::new(RwLock::new((0u64, 0u64)));
    let torn = Arc::new(Mutex::new(0u32));
    let mut ts = vec![];
    for _ in 0..2 {
        let d = data.clone();
        ts.push(spawn(move || {
            for i in 0..500 {
                let mut g = d.write().unwrap();
                g.0 += 1;
                if i % 8 == 0 {
                    thread::yield_now();
                }
                g.1 += 1;
            }
        }));
    }
    for _ in 0..4 {
        let (d, torn) = (data.clone(), torn.clone());
        ts.push(spawn(move || {
            for i in 0..500 {
                let g = d.read().unwrap();
                if i % 8 == 0 {
                    thread::yield_now();
                }
                if g.0 != g.1 {
                    *torn.lock().unwrap() += 1;
                }
            }
        }));
    }
    ts.into_iter().for_each(join);
    let g = data.read().unwrap();
    println!(
        "RwLock: 2 writers x 500, 4 readers: {} {}, torn reads {}",
        g.0,
        g.1,
        *torn.lock().unwrap()
    );
}

// barrier(): 5 threads meet 40 times; one leader per round, nobody runs ahead.
fn barrier() {
    let b = Arc::new(Barrier::new(5));
    let arrived = Arc::new(Mutex::new(0u32));
    let leaders = Arc::new(Mutex::new(0u32));
    let ahead = Arc::new(Mutex::new(0u32));
    let ts: Vec<_> = (0..5u32)
        .map(|i| {
            let (b, arrived, leaders, ahead) =
                (b.clone(), arrived.clone(), leaders.clone(), ahead.clone());
            spawn(move || {
                for round in 0..40u32 {
                    *arrived.lock().unwrap() += 1;
                    if round % 5 == i {
                        thread::sleep(Duration::from_millis(1)); // one arrives late
                    }
                    if b.wait().is_leader() {
                        *leaders.lock().unwrap() += 1;
                    }
                    if *arrived.lock().unwrap() < (round + 1) * 5 {
                        *ahead.lock().unwrap() += 1;
                    }
                }
            })
        })
        .collect();
    ts.into_iter().for_each(join);
    println!(
        "Barrier: 40 rounds, {} leaders, ran ahead {}",
        *leaders.lock().unwrap(),
        *ahead.lock().unwrap()
    );
}

// timeouts(): a timed wait nobody ends times out, not early; one a thread ends does not.
fn timeouts() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let (m, cv) = &*pair;
    let t0 = Instant::now();
    let (_g, r) = cv
        .wait_timeout(m.lock().unwrap(), Duration::from_millis(50))
        .unwrap();
    println!(
        "Condvar::wait_timeout(50 ms), nobody notifies: timed out {}, not early {}",
        r.timed_out(),
        t0.elapsed() >= Duration::from_millis(50)
    );
    drop(_g);
    let p = pair.clone();
    let t = spawn(move || {
        let (m, cv) = &*p;
        *m.lock().unwrap() = true;
        cv.notify_one();
    });
    let (g, r) = cv
        .wait_timeout_while(m.lock().unwrap(), Duration::from_secs(20), |set| !*set)
        .unwrap();
    println!(
        "Condvar::wait_timeout_while(20 s), set by a thread: timed out {}, set {}",
        r.timed_out(),
        *g
    );
    drop(g);
    join(t);
}

// channel(): 4 threads send 250 numbers each; main receives them all, blocking when none waits.
fn channel() {
    let (tx, rx) = mpsc::channel::<u32>();
    let ts: Vec<_> = (0..4u32)
        .map(|k| {
            let tx = tx.clone();
            spawn(move || {
                for i in 0..250u32 {
                    tx.send(k * 250 + i).unwrap();
                    if i % 32 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut got: Vec<u32> = rx.iter().collect();
    got.sort_unstable();
    ts.into_iter().for_each(join);
    println!(
        "mpsc: {} messages from 4 threads, all distinct and present: {}",
        got.len(),
        got == (0..1000).collect::<Vec<_>>()
    );
}

fn main() {
    mutex();
    condvar();
    rwlock();
    barrier();
    timeouts();
    channel();
}
