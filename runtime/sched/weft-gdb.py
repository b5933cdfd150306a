# weft-gdb.py: gdb commands for the fibers of a weft program.
#
#   info fibers [LIMIT]     one line per fiber: id, name, state, carrier (and its thread), what it
#                           waits on and for how long; at most LIMIT lines when given.
#   fiber bt N [BT-ARGS]    the backtrace of fiber N (a parked fiber's saved frames, a running
#                           fiber's carrier thread); BT-ARGS go to `bt` (full, -frame-info, 5).
#   fiber bt all [BT-ARGS]  the same for every fiber.
#   fiber N                 gdb's frames become fiber N's: bt, frame, up, info locals work on them.
#   fiber / fiber restore   back to the thread's own frames.
#
# It works on a live process (gdb -p) and on a core file, for a program linked with libweft and
# for one run under weftrun (libweft_preload.so), with or without debug info: it reads nothing
# of DWARF. Where the runtime keeps each field is in the descriptor the runtime exports,
# weft_debug_info (runtime/sched/debug_info.hpp, which describes the walk); this script knows
# only the descriptor's word order, and checks its magic and version.
#
# Loading: gdb auto-loads the installed copy beside the library
# ($datadir/gdb/auto-load/$libdir/libweft.so.VERSION-gdb.py, and the same for
# libweft_preload.so), where gdb's auto-load scripts-directory and safe-path include that
# datadir (they do for /usr); otherwise `source $datadir/weft/weft-gdb.py`.
#
# Showing a parked fiber's frames writes nothing, to the process or to gdb's registers (a core
# file's cannot be written, and a live thread given a fiber's registers would run it if resumed
# before they were put back, the trap of setting $rsp/$rip as Seastar's scylla-gdb.py does): a
# Python frame unwinder makes the fiber's saved context the caller of frame 0 of a thread (its
# carrier's when gdb sees it), so the fiber's frames are frame 1 and up, and a frame filter
# hides frame 0 from `bt`. Resuming the process drops the selection.
import itertools
import struct
import time

import gdb
import gdb.unwinder

# The descriptor's words after its 8-byte magic, in order (weft_debug_info_t, version 1).
_WORDS = [
    "version", "size", "runs", "max_runs", "runs_unlisted", "run_carriers", "run_carrier_count",
    "run_serial", "carrier_index", "carrier_tid", "carrier_running", "carrier_fibers",
    "carrier_fresh", "carrier_run_queue", "carrier_stalled", "fiber_size", "fiber_id",
    "fiber_name", "fiber_name_size", "fiber_state", "fiber_wait_kind", "fiber_wait_what",
    "fiber_wait_fd", "fiber_wait_since", "fiber_cancelled", "fiber_started", "fiber_context",
    "fiber_tp", "fiber_fibers_next", "fiber_queue_next", "fiber_carrier", "state_ready",
    "state_running", "state_blocked", "state_done", "wait_kind_names", "context_layout",
    "ctx_r12", "ctx_r13", "ctx_r14", "ctx_r15", "ctx_rbx", "ctx_rbp", "ctx_rip", "ctx_sp",
]
_MAGIC = b"weftdbg\0"
_VERSION = 1
# A walk stops after this many fibers of one list: a list that long is a corrupt one.
_MAX_WALK = 50_000_000
# CLOCK_MONOTONIC_COARSE, which wait_since_ counts in (Linux's number; Python's time module has
# no name for it).
_CLOCK_MONOTONIC_COARSE = 6
# The registers a suspended context holds, besides the stack pointer and the resume address.
_SAVED = ["r12", "r13", "r14", "r15", "rbx", "rbp"]

class WeftError(gdb.GdbError):
    """WeftError is an error the commands report as gdb errors (no Python traceback)."""


def _inferior():
    return gdb.selected_inferior()


def _read(addr, size):
    return bytes(_inferior().read_memory(addr, size))


def _u64(addr):
    return struct.unpack("<Q", _read(addr, 8))[0]


def _u32(addr):
    return struct.unpack("<I", _read(addr, 4))[0]


def _cstring(addr, limit=256):
    if addr == 0:
        return None
    try:
        raw = _read(addr, limit)
    except gdb.MemoryError:
        return "?"
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


class Runtime:
    """Runtime is one copy of weft in the process (libweft.so, libweft_preload.so or a static
    link), as its descriptor says."""

    def __init__(self, addr):
        head = _read(addr, 8 + 8 * 2)
        if head[:8] != _MAGIC:
            raise WeftError(f"weft_debug_info at {addr:#x} has no weft magic")
        version, size = struct.unpack_from("<QQ", head, 8)
        if version != _VERSION:
            raise WeftError(f"weft_debug_info at {addr:#x} is version {version}; this "
                            f"weft-gdb.py reads version {_VERSION}: use the script installed "
                            "with the program's weft")
        want = 8 + 8 * len(_WORDS)
        if size < want:
            raise WeftError(f"weft_debug_info at {addr:#x} is {size} bytes, expected {want}")
        words = struct.unpack_from("<" + "Q" * len(_WORDS), _read(addr, want), 8)
        self.addr = addr
        self.d = dict(zip(_WORDS, words))
        self.wait_kinds = (_cstring(self.d["wait_kind_names"]) or "").split(",")
        self._what = {}

    def runs(self):
        """runs() yields the address of every run in the registry."""
        n = self.d["max_runs"]
        table = _read(self.d["runs"], 8 * n)
        for (run,) in struct.iter_unpack("<Q", table):
            if run != 0:
                yield run

    def unlisted(self):
        """unlisted() is how many runs the registry had no room for."""
        return _u32(self.d["runs_unlisted"])

    def carriers(self, run):
        """carriers() yields (index, address) of every started carrier of run."""
        d = self.d
        count = _u32(run + d["run_carrier_count"])
        if count == 0:
            return
        slots = struct.unpack(f"<{count}Q", _read(run + d["run_carriers"], 8 * count))
        for i, c in enumerate(slots):
            if c != 0:
                yield i, c

    def what(self, addr):
        """what() is the C string at addr, read once per address (the names are literals)."""
        if addr not in self._what:
            self._what[addr] = _cstring(addr, 64)
        return self._what[addr]

    def fiber(self, addr, carrier_index, tid):
        """fiber() reads the control block at addr in one read."""
        d = self.d
        raw = _read(addr, d["fiber_size"])

        def u(off, fmt):
            return struct.unpack_from(fmt, raw, off)[0]

        return Fiber(self, addr, raw, {
            "id": u(d["fiber_id"], "<Q"),
            "name": raw[d["fiber_name"]:d["fiber_name"] + d["fiber_name_size"]]
                    .split(b"\0", 1)[0].decode("utf-8", "replace"),
            "state": u(d["fiber_state"], "<B"),
            "wait_kind": u(d["fiber_wait_kind"], "<B"),
            "wait_what": u(d["fiber_wait_what"], "<Q"),
            "wait_fd": u(d["fiber_wait_fd"], "<i"),
            "wait_since": u(d["fiber_wait_since"], "<q"),
            "cancelled": u(d["fiber_cancelled"], "<B"),
            "started": u(d["fiber_started"], "<B"),
            "ctx": u(d["fiber_context"], "<Q"),
            "tp": u(d["fiber_tp"], "<Q"),
            "all_next": u(d["fiber_fibers_next"], "<Q"),
            "queue_next": u(d["fiber_queue_next"], "<Q"),
        }, carrier_index, tid)

    def fibers(self):
        """fibers() yields every fiber of every run: each carrier's started ones, its running one,
        then those not started yet (fresh queue, then run queue)."""
        d = self.d
        for run in self.runs():
            serial = _u32(run + d["run_serial"])
            for index, c in self.carriers(run):
                tid = _u32(c + d["carrier_tid"])
                seen = set()
                running = _u64(c + d["carrier_running"])
                f = _u64(c + d["carrier_fibers"])
                while f != 0 and f not in seen and len(seen) < _MAX_WALK:
                    seen.add(f)
                    fib = self.fiber(f, index, tid)
                    fib.run = serial
                    yield fib
                    f = fib.v["all_next"]
                if running != 0 and running not in seen:
                    seen.add(running)
                    fib = self.fiber(running, index, tid)
                    fib.run = serial
                    yield fib
                for head in ("carrier_fresh", "carrier_run_queue"):
                    f = _u64(c + d[head])
                    steps = 0
                    while f != 0 and steps < _MAX_WALK:
                        steps += 1
                        fib = self.fiber(f, index, tid)
                        nxt = fib.v["queue_next"]
                        if f not in seen and not fib.v["started"]:
                            seen.add(f)
                            fib.run = serial
                            yield fib
                        f = nxt


class Fiber:
    """Fiber is one control block, as read."""

    def __init__(self, rt, addr, raw, v, carrier_index, tid):
        self.rt = rt
        self.addr = addr
        self.raw = raw
        self.v = v
        self.carrier = carrier_index
        self.tid = tid
        self.run = 0

    @property
    def id(self):
        return self.v["id"]

    def state(self):
        """state() is running, ready, blocked, finishing or not started."""
        d, s = self.rt.d, self.v["state"]
        if not self.v["started"]:
            return "not started"
        if s == d["state_running"]:
            return "running"
        if s == d["state_ready"]:
            return "ready"
        if s == d["state_blocked"]:
            return "blocked"
        return "finishing"

    def parked(self):
        """parked() tells whether the fiber's registers are in its saved context."""
        return self.state() in ("blocked", "ready") and self.v["ctx"] != 0

    def wait(self):
        """wait() says what a blocked fiber waits in ("read fd 4", "mutex"), or None."""
        if self.state() != "blocked":
            return None
        what = self.rt.what(self.v["wait_what"]) if self.v["wait_what"] else None
        if what is None:
            kinds = self.rt.wait_kinds
            k = self.v["wait_kind"]
            what = kinds[k] if k < len(kinds) else "wait"
        if self.v["wait_fd"] >= 0:
            what += f" fd {self.v['wait_fd']}"
        return what

    def saved_registers(self):
        """saved_registers() is {register: value} of the parked fiber's saved context."""
        d = self.rt.d
        if d["context_layout"] != 1:
            raise WeftError("this weft switches with Boost.Context, whose saved frames this "
                            "script cannot read (only x86-64's own switch is described)")
        h = self.v["ctx"]
        frame = _read(h, d["ctx_sp"])
        regs = {r: struct.unpack_from("<Q", frame, d["ctx_" + r])[0] for r in _SAVED}
        regs["rip"] = struct.unpack_from("<Q", frame, d["ctx_rip"])[0]
        regs["rsp"] = h + d["ctx_sp"]
        return regs


# _addrs caches where the descriptors are: searching every symbol table is slow in a large
# program, and the answer changes only when gdb loads or drops an objfile.
_addrs = None


def _forget_addrs(_event=None):
    global _addrs
    _addrs = None


def runtimes():
    """runtimes() is every copy of weft in the process, found by the descriptor's symbol (in
    .dynsym or .symtab: no debug info needed)."""
    global _addrs
    fresh = _addrs is None
    if fresh:
        _addrs = _find_descriptors()
    if not _addrs:
        _addrs = None
        raise WeftError("no weft_debug_info in this program: not a weft program, libweft.so / "
                        "libweft_preload.so not loaded yet, or a weft without the descriptor")
    try:
        return [Runtime(a) for a in _addrs]
    except (gdb.MemoryError, WeftError):
        _addrs = None
        if fresh:
            raise
        return runtimes()  # the cached addresses are stale (a program relocated since): again


def _find_descriptors():
    out = gdb.execute("info variables -q ^weft_debug_info$", to_string=True)
    addrs = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[-1] == "weft_debug_info" and parts[0].startswith("0x"):
            addrs.append(int(parts[0], 16))
    if not addrs:
        try:
            addrs.append(int(gdb.parse_and_eval("(unsigned long)&weft_debug_info")))
        except gdb.error:
            pass
    return list(dict.fromkeys(addrs))


def all_fibers():
    for rt in runtimes():
        yield from rt.fibers()


def find_fiber(fid):
    for f in all_fibers():
        if f.id == fid:
            return f
    raise WeftError(f"no fiber {fid} (info fibers lists them)")


def _live():
    """_live() tells whether the inferior is a running process on this machine, whose clock is
    the one wait_since_ was read from."""
    inf = _inferior()
    if inf.pid == 0:
        return False
    conn = getattr(inf, "connection", None)
    if conn is not None:
        return conn.type == "native"
    return "core" not in gdb.execute("info target", to_string=True).lower()


def _thread_of(tid):
    for t in _inferior().threads():
        if t.ptid[1] == tid:
            return t
    return None


def _ms(ns):
    return f"{ns / 1e6:.0f} ms" if ns < 10_000_000_000 else f"{ns / 1e9:.1f} s"


class InfoFibers(gdb.Command):
    """List the fibers of the weft runs in the program: info fibers [LIMIT]

One line per fiber: its id, name, state (running, ready, blocked, finishing, not started), the
carrier it runs on (its index, kernel thread id and gdb thread number), what a blocked fiber waits
in (and on which fd), and for how long. On a core file the durations are relative to the most
recent wait among the fibers listed, since a core has no clock. LIMIT stops after that many."""

    def __init__(self):
        super().__init__("info fibers", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        arg = arg.strip()
        limit = None
        if arg:
            try:
                limit = int(arg, 0)
            except ValueError:
                raise WeftError(f"info fibers: LIMIT must be a number, not '{arg}'")
        live = _live()
        now = time.clock_gettime_ns(_CLOCK_MONOTONIC_COARSE) if live else None
        threads = {t.ptid[1]: t.num for t in _inferior().threads()}
        rts = runtimes()
        shown = 0
        pending = []  # a core file's lines wait for the newest wait start
        more = False
        blank = 0
        for rt in rts:
            if rt.unlisted():
                gdb.write(f"weft: {rt.unlisted()} runs are not in the registry (more than "
                          f"{rt.d['max_runs']} at once): their fibers are not shown\n")
            for f in rt.fibers():
                if f.id == 0:
                    blank += 1  # ids start at 1: this block is zeros, not a fiber
                    continue
                if limit is not None and shown >= limit:
                    more = True
                    break
                shown += 1
                if live:
                    gdb.write(self.line(f, threads, now) + "\n")
                else:
                    pending.append(f)
            if more:
                break
        if pending:
            newest = max((f.v["wait_since"] for f in pending if f.state() == "blocked"),
                         default=0)
            if newest:
                gdb.write("(a core file has no clock: \"for\" is measured up to the most recent "
                          "wait start below, T; the dump came later)\n")
            for f in pending:
                gdb.write(self.line(f, threads, newest, core=True) + "\n")
        if blank:
            gdb.write(f"weft: {blank} fiber control blocks read as zeros: "
                      + ("this core lacks the fibers' stacks, where the blocks live. gdb's own "
                         "gcore / generate-core-file stops copying a mapping at its first guard "
                         "page (Linux 6.13+ guard regions, which weft's stack slabs use), so take "
                         "the core with the kernel (ulimit -c unlimited; kill -ABRT PID, or "
                         "coredumpctl), or run `info fibers` and `fiber bt all` on the live "
                         "process (gdb -p PID -batch)\n" if not live else
                         "memory that should hold them is not readable\n"))
        if shown == 0:
            gdb.write("No fibers.\n")
        elif more:
            gdb.write(f"(stopped after {limit} fibers: info fibers N shows more)\n")

    @staticmethod
    def line(f, threads, now, core=False):
        c = f"carrier {f.carrier}"
        if f.tid:
            num = threads.get(f.tid)
            c += f" (LWP {f.tid}" + (f", thread {num})" if num is not None else ")")
        if f.run > 1:
            c = f"run {f.run} " + c
        out = f"fiber {f.id} \"{f.v['name']}\" {c}: {f.state()}"
        wait = f.wait()
        if wait is not None:
            out += f" in {wait}"
            since = f.v["wait_since"]
            if since and now:
                out += f" for {_ms(now - since)}" if not core else \
                       f" for {_ms(now - since)} before T"
            if f.v["cancelled"]:
                out += " (cancelled)"
        return out


class _FrameId:
    """_FrameId names a frame to gdb's unwinder API: its stack pointer and pc."""

    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class _Switch:
    """_Switch is the thread whose frames show a parked fiber's, and what to go back to."""

    def __init__(self, thread, regs, prev_thread, prev_frame, fid):
        self.thread = thread
        self.ptid = thread.ptid
        self.regs = regs
        self.prev_thread = prev_thread
        self.prev_frame = prev_frame
        self.fid = fid


_switched = None


def _switched_here():
    s = _switched
    if s is None:
        return None
    t = gdb.selected_thread()
    return s if t is not None and t.ptid == s.ptid else None


class _FiberUnwinder(gdb.unwinder.Unwinder):
    """_FiberUnwinder makes a parked fiber's saved context the caller of the switched thread's
    innermost frame, so gdb unwinds the fiber's frames from frame 1 on. gdb's frame 0 is always
    the thread's own registers, and a core file's cannot be written, so the fiber's frames start
    one level up; the frame filter below hides frame 0 from `bt`."""

    def __init__(self):
        super().__init__("weft-fiber")

    def __call__(self, pending):
        s = _switched_here()
        if s is None or pending.level() != 0:
            return None
        sp = pending.read_register("rsp")
        pc = pending.read_register("rip")
        # Frame 0's id takes a stack address just below the fiber's frames: gdb stops a
        # backtrace whose caller frames lie below their callee's (the fiber's stack may be
        # anywhere, the thread's own stack above or below it).
        info = pending.create_unwind_info(
            _FrameId(gdb.Value(s.regs["rsp"] - 16).cast(sp.type), pc))
        for reg, value in s.regs.items():
            info.add_saved_register(reg, gdb.Value(value).cast(sp.type))
        return info


class _HideThreadFrame:
    """_HideThreadFrame drops frame 0, the thread's own, from `bt` while a fiber is shown."""

    def __init__(self):
        self.name = "weft-fiber"
        self.priority = 100
        self.enabled = True

    def filter(self, frames):
        if _switched_here() is None:
            return frames
        return itertools.islice(frames, 1, None)


def _switch_to(f):
    """_switch_to() makes gdb's frames (from frame 1) fiber f's until _restore()."""
    global _switched
    if not f.parked():
        raise WeftError(f"fiber {f.id} is {f.state()}: it has no saved frames")
    regs = f.saved_registers()
    prev_thread = gdb.selected_thread()
    try:
        prev_frame = gdb.selected_frame()
    except gdb.error:
        prev_frame = None
    thread = _thread_of(f.tid) if f.tid else None
    if thread is None:
        thread = prev_thread
    if thread is None:
        raise WeftError("no thread to show the fiber's frames on")
    thread.switch()
    _switched = _Switch(thread, regs, prev_thread, prev_frame, f.id)
    gdb.invalidate_cached_frames()
    gdb.newest_frame().older().select()


def _restore(quiet=False):
    """_restore() shows the switched thread's own frames again and reselects what was."""
    global _switched
    s = _switched
    if s is None:
        if not quiet:
            gdb.write("No fiber selected.\n")
        return
    _switched = None
    gdb.invalidate_cached_frames()
    if s.prev_thread is not None and s.prev_thread.is_valid():
        s.prev_thread.switch()
        gdb.newest_frame().select()
    if not quiet:
        gdb.write(f"[Back from fiber {s.fid}]\n")


def _forget(_event=None):
    """_forget() drops a fiber selection once the process runs: the fiber may have moved on."""
    global _switched
    if _switched is not None:
        _switched = None
        gdb.invalidate_cached_frames()


class FiberCmd(gdb.Command):
    """Show a fiber's frames: fiber N | fiber bt N [BT-ARGS] | fiber restore

fiber N shows a parked fiber's frames on its carrier's thread, from frame 1 up (frame 0 stays
the thread's own; bt hides it): bt, frame, up, down and info locals work on them until `fiber
restore` (or `fiber` alone, or the process resuming). For a running fiber it selects its
carrier's thread. fiber bt N prints the backtrace of fiber N. Nothing is written to the process
or its registers."""

    def __init__(self):
        super().__init__("fiber", gdb.COMMAND_STACK, prefix=True)

    def invoke(self, arg, from_tty):
        arg = arg.strip()
        if not arg:
            _restore()
            return
        try:
            fid = int(arg, 0)
        except ValueError:
            raise WeftError(f"fiber: expected a fiber id, bt or restore, got '{arg}'")
        _restore(quiet=True)
        f = find_fiber(fid)
        if f.state() == "running":
            t = _thread_of(f.tid)
            if t is None:
                raise WeftError(f"fiber {fid} runs on carrier {f.carrier} (LWP {f.tid}), "
                                "whose thread gdb does not see")
            t.switch()
            gdb.write(f"[Fiber {fid} is running: switching to thread {t.num} (LWP {f.tid})]\n")
            return
        if f.state() == "not started":
            raise WeftError(f"fiber {fid} has not started: it has no frames yet")
        _switch_to(f)
        gdb.write(f"[Switching to fiber {fid} \"{f.v['name']}\" ({f.state()}"
                  + (f" in {f.wait()}" if f.wait() else "") + ") on thread "
                  + f"{_switched.thread.num}; `fiber restore` goes back]\n")
        gdb.execute("frame")


class FiberBt(gdb.Command):
    """Backtrace of a fiber: fiber bt N [BT-ARGS] | fiber bt all [BT-ARGS]

A parked fiber's frames are unwound from its saved context; a running fiber's are its carrier
thread's. BT-ARGS are passed to `bt` (full, a count, -frame-arguments all, ...)."""

    def __init__(self):
        super().__init__("fiber bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        parts = arg.split(None, 1)
        if not parts:
            raise WeftError("usage: fiber bt N [BT-ARGS]")
        if parts[0] == "all":
            rest = parts[1] if len(parts) > 1 else ""
            for f in list(all_fibers()):
                self.show(f, rest)
                gdb.write("\n")
            return
        try:
            fid = int(parts[0], 0)
        except ValueError:
            raise WeftError(f"fiber bt: expected a fiber id or all, got '{parts[0]}'")
        rest = parts[1] if len(parts) > 1 else ""
        self.show(find_fiber(fid), rest)

    @staticmethod
    def show(f, rest):
        """show() prints fiber f's header line and backtrace."""
        fid = f.id
        gdb.write(f"Fiber {fid} \"{f.v['name']}\": {f.state()}"
                  + (f" in {f.wait()}" if f.wait() else "") + "\n")
        if f.state() == "not started":
            gdb.write("(not started: no frames yet)\n")
            return
        if f.state() == "running":
            t = _thread_of(f.tid)
            if t is None:
                raise WeftError(f"carrier thread LWP {f.tid} is not among gdb's threads")
            prev = gdb.selected_thread()
            t.switch()
            try:
                gdb.execute(f"bt {rest}")
            finally:
                if prev is not None and prev.is_valid():
                    prev.switch()
            return
        was = _switched
        if was is not None:
            # Keep the user's selection: show this fiber, then go back to the selected one.
            _restore(quiet=True)
        try:
            _switch_to(f)
            try:
                gdb.execute(f"bt {rest}")
            finally:
                _restore(quiet=True)
        finally:
            if was is not None:
                _switch_to(find_fiber(was.fid))


class FiberRestore(gdb.Command):
    """Go back to the thread's own frames after `fiber N`: fiber restore"""

    def __init__(self):
        super().__init__("fiber restore", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        _restore(quiet="--if-switched" in arg)


InfoFibers()
FiberCmd()
FiberBt()
FiberRestore()
gdb.unwinder.register_unwinder(None, _FiberUnwinder(), replace=True)
gdb.frame_filters["weft-fiber"] = _HideThreadFrame()
gdb.events.cont.connect(_forget)
gdb.events.new_objfile.connect(_forget_addrs)
gdb.events.clear_objfiles.connect(_forget_addrs)
gdb.events.exited.connect(_forget_addrs)
gdb.events.exited.connect(_forget)
