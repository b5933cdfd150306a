#include "diag/symbolizer.hpp"

// The library is reached only through the table of function pointers below, filled by dlsym
// once per process; libdw-dev's headers give their types, so a prototype that changed would not
// compile. Where the headers are missing the runtime still builds, and every report takes the
// module+offset form.
#include <cxxabi.h>
#include <dlfcn.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "base/sanitizer.hpp"
#include "base/sys.hpp"

#if __has_include(<elfutils/libdwfl.h>)
#include <elfutils/libdwfl.h>
#define WEFT_HAVE_LIBDW_H 1
#else
#define WEFT_HAVE_LIBDW_H 0
#endif

namespace weft::rt::diag {

#if WEFT_HAVE_LIBDW_H
namespace {

// Dw is libdw's entry points, as dlsym found them.
struct Dw {
  decltype(&dwfl_begin) begin;
  decltype(&dwfl_end) end;
  decltype(&dwfl_report_begin) report_begin;
  decltype(&dwfl_report_end) report_end;
  decltype(&dwfl_linux_proc_report) linux_proc_report;
  decltype(&dwfl_linux_proc_find_elf) linux_proc_find_elf;
  decltype(&dwfl_standard_find_debuginfo) standard_find_debuginfo;
  decltype(&dwfl_addrmodule) addrmodule;
  decltype(&dwfl_module_addrinfo) module_addrinfo;
  decltype(&dwfl_module_getsrc) module_getsrc;
  decltype(&dwfl_lineinfo) lineinfo;
  decltype(&dwfl_module_info) module_info;
  decltype(&dwfl_attach_state) attach_state;
  decltype(&dwfl_getthread_frames) getthread_frames;
  decltype(&dwfl_frame_pc) frame_pc;
  decltype(&dwfl_thread_state_registers) thread_state_registers;
  decltype(&dwfl_thread_state_register_pc) thread_state_register_pc;
};

Dw g_dw;
Dwfl_Callbacks g_callbacks;
bool g_loaded = false;

template <class F>
bool find(void* lib, const char* name, F* out) noexcept {
  void* p = dlsym(lib, name);
  *out = reinterpret_cast<F>(p);
  return p != nullptr;
}

void load() noexcept {
#if defined(WEFT_TSAN)
  // libdw is not instrumented, and under ThreadSanitizer it crashed on the watchdog thread in
  // dwarf_getsrclines (CI): TSan builds print FILE+OFFSET frames.
  return;
#endif
  const char* name = ::secure_getenv("WEFT_LIBDW");
  if (name != nullptr && std::strcmp(name, "none") == 0) return;
  void* lib = dlopen(name != nullptr && *name != '\0' ? name : "libdw.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return;
  bool ok = find(lib, "dwfl_begin", &g_dw.begin) && find(lib, "dwfl_end", &g_dw.end) &&
            find(lib, "dwfl_report_begin", &g_dw.report_begin) &&
            find(lib, "dwfl_report_end", &g_dw.report_end) &&
            find(lib, "dwfl_linux_proc_report", &g_dw.linux_proc_report) &&
            find(lib, "dwfl_linux_proc_find_elf", &g_dw.linux_proc_find_elf) &&
            find(lib, "dwfl_standard_find_debuginfo", &g_dw.standard_find_debuginfo) &&
            find(lib, "dwfl_addrmodule", &g_dw.addrmodule) &&
            find(lib, "dwfl_module_addrinfo", &g_dw.module_addrinfo) &&
            find(lib, "dwfl_module_getsrc", &g_dw.module_getsrc) &&
            find(lib, "dwfl_lineinfo", &g_dw.lineinfo) &&
            find(lib, "dwfl_module_info", &g_dw.module_info) &&
            find(lib, "dwfl_attach_state", &g_dw.attach_state) &&
            find(lib, "dwfl_getthread_frames", &g_dw.getthread_frames) &&
            find(lib, "dwfl_frame_pc", &g_dw.frame_pc) &&
            find(lib, "dwfl_thread_state_registers", &g_dw.thread_state_registers) &&
            find(lib, "dwfl_thread_state_register_pc", &g_dw.thread_state_register_pc);
  if (!ok) {
    dlclose(lib);
    return;
  }
  g_callbacks.find_elf = g_dw.linux_proc_find_elf;
  g_callbacks.find_debuginfo = g_dw.standard_find_debuginfo;
  g_loaded = true;  // the handle stays open for the life of the process
}

bool loaded() noexcept {
  static std::once_flag once;
  std::call_once(once, load);
  return g_loaded;
}

pid_t self_pid() noexcept {
  return static_cast<pid_t>(sys::call(SYS_getpid));
}

}  // namespace

struct SymbolizerState {
  Dwfl* dwfl = nullptr;
  bool attached = false;
  bool attach_failed = false;
  // The unwind in progress: its registers and where its frames go.
  const SavedRegisters* regs = nullptr;
  RawStack* out = nullptr;
};

namespace {

pid_t next_thread(Dwfl*, void* arg, void** thread_arg) {
  if (*thread_arg != nullptr) return 0;
  *thread_arg = arg;
  return self_pid();
}

bool get_thread(Dwfl*, pid_t tid, void* arg, void** thread_arg) {
  *thread_arg = arg;
  return tid == self_pid();
}

// memory_read() reads a word of our own memory: process_vm_readv fails where a load would fault.
bool memory_read(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void*) {
  iovec local{result, sizeof *result};
  iovec remote{reinterpret_cast<void*>(addr), sizeof *result};
  long n = sys::call(SYS_process_vm_readv, sys::call(SYS_getpid), &local, 1, &remote, 1, 0);
  return n == static_cast<long>(sizeof *result);
}

// set_initial_registers() gives the pseudo-thread the saved registers, DWARF-numbered for
// x86-64: 3 rbx, 6 rbp, 7 rsp, 12..15 r12..r15, 16 the return address (the pc).
bool set_initial_registers(Dwfl_Thread* thread, void* arg) {
  const SavedRegisters& r = *static_cast<SymbolizerState*>(arg)->regs;
  Dwarf_Word rbx = r.rbx;
  Dwarf_Word bp_sp[2] = {r.rbp, r.rsp};
  Dwarf_Word high[5] = {r.r12, r.r13, r.r14, r.r15, r.rip};
  if (!g_dw.thread_state_registers(thread, 3, 1, &rbx)) return false;
  if (!g_dw.thread_state_registers(thread, 6, 2, bp_sp)) return false;
  if (!g_dw.thread_state_registers(thread, 12, 5, high)) return false;
  g_dw.thread_state_register_pc(thread, r.rip);
  return true;
}

const Dwfl_Thread_Callbacks kThreadCallbacks = {
    next_thread, get_thread, memory_read, set_initial_registers, nullptr, nullptr,
};

int on_frame(Dwfl_Frame* frame, void* arg) {
  RawStack& out = *static_cast<SymbolizerState*>(arg)->out;
  Dwarf_Addr pc = 0;
  if (!g_dw.frame_pc(frame, &pc, nullptr) || pc == 0) return DWARF_CB_ABORT;
  out.pc[out.n++] = pc;
  return out.n == kMaxFrames ? DWARF_CB_ABORT : DWARF_CB_OK;
}

const char* base_name(const char* path) noexcept {
  const char* slash = std::strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

void append_sink(const char* line, void* arg) {
  *static_cast<std::string*>(arg) += line;
}

}  // namespace

Symbolizer::Symbolizer() noexcept {
  if (!loaded()) return;
  Dwfl* dwfl = g_dw.begin(&g_callbacks);
  if (dwfl == nullptr) return;
  g_dw.report_begin(dwfl);
  int r = g_dw.linux_proc_report(dwfl, self_pid());
  if (g_dw.report_end(dwfl, nullptr, nullptr) != 0 || r != 0) {
    g_dw.end(dwfl);
    return;
  }
  st_ = new (std::nothrow) SymbolizerState;
  if (st_ == nullptr) {
    g_dw.end(dwfl);
    return;
  }
  st_->dwfl = dwfl;
}

Symbolizer::~Symbolizer() {
  if (st_ == nullptr) return;
  g_dw.end(st_->dwfl);
  delete st_;
}

bool Symbolizer::resolves() const noexcept {
  return st_ != nullptr;
}

void Symbolizer::append(const RawStack& s, const char* indent, std::string& out) {
  if (st_ == nullptr) {
    write_module_offsets(s, indent, &append_sink, &out);
    if (!noted_) {
      noted_ = true;
      out += indent;
      out += missing_note();
    }
    return;
  }
  for (int i = 0; i < s.n; ++i) {
    std::uintptr_t pc = s.pc[i];
    // A return address is looked up one byte back: the call may be a function's last bytes.
    Dwarf_Addr at = i == 0 && s.exact_first ? pc : pc - 1;
    out += indent;
    out += "#" + std::to_string(i) + " " + hex(pc);
    Dwfl_Module* m = g_dw.addrmodule(st_->dwfl, at);
    if (m == nullptr) {
      out += "\n";
      continue;
    }
    GElf_Off off = 0;
    GElf_Sym sym{};
    const char* fn = g_dw.module_addrinfo(m, at, &off, &sym, nullptr, nullptr, nullptr);
    if (fn != nullptr) {
      int status = -1;
      char* plain = abi::__cxa_demangle(fn, nullptr, nullptr, &status);
      out += " ";
      out += status == 0 && plain != nullptr ? plain : fn;
      std::free(plain);
      out += "+" + hex(off + (pc - at));
    }
    if (Dwfl_Line* line = g_dw.module_getsrc(m, at)) {
      int lineno = 0;
      const char* file = g_dw.lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr);
      if (file != nullptr) out += " (" + std::string(file) + ":" + std::to_string(lineno) + ")";
    }
    const char* name =
        g_dw.module_info(m, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    if (name != nullptr) {
      out += " in ";
      out += base_name(name);
    }
    out += "\n";
    if (int more = repeats(s, i)) {
      out += indent;
      out += "#" + std::to_string(i + 1) + "-#" + std::to_string(i + more) + ": the same as #" +
             std::to_string(i) + "\n";
      i += more;
    }
  }
}

bool Symbolizer::unwind(const SavedRegisters& regs, RawStack* out) noexcept {
  out->n = 0;
  out->exact_first = false;
#if !defined(__x86_64__)
  (void)regs;
  return false;
#else
  if (st_ == nullptr || st_->attach_failed) return false;
  if (!st_->attached) {
    st_->attached = g_dw.attach_state(st_->dwfl, nullptr, self_pid(), &kThreadCallbacks, st_);
    if (!st_->attached) {
      st_->attach_failed = true;
      return false;
    }
  }
  st_->regs = &regs;
  st_->out = out;
  g_dw.getthread_frames(st_->dwfl, self_pid(), &on_frame, st_);  // its end is often an "error"
  st_->regs = nullptr;
  st_->out = nullptr;
  return out->n > 0;
#endif
}

#else  // no libdw headers: module+offset only

struct SymbolizerState {};

Symbolizer::Symbolizer() noexcept = default;
Symbolizer::~Symbolizer() = default;

bool Symbolizer::resolves() const noexcept {
  return false;
}

void Symbolizer::append(const RawStack& s, const char* indent, std::string& out) {
  write_module_offsets(
      s, indent, [](const char* line, void* arg) { *static_cast<std::string*>(arg) += line; },
      &out);
  if (!noted_) {
    noted_ = true;
    out += indent;
    out += missing_note();
  }
}

bool Symbolizer::unwind(const SavedRegisters&, RawStack* out) noexcept {
  out->n = 0;
  return false;
}

#endif

const char* Symbolizer::missing_note() noexcept {
#if defined(WEFT_TSAN)
  return "(no function names: ThreadSanitizer builds do not load libdw; name a frame by hand with "
         "`addr2line -Cfie FILE OFFSET` or `eu-addr2line -e FILE OFFSET`)\n";
#elif WEFT_HAVE_LIBDW_H
  return "(no function names: weft loads libdw.so.1 for them, and it could not be loaded; install "
         "libdw1 (elfutils), or name a frame by hand with `addr2line -Cfie FILE OFFSET` or "
         "`eu-addr2line -e FILE OFFSET`)\n";
#else
  return "(no function names: this weft was built without libdw's headers (libdw-dev); name a "
         "frame by hand with `addr2line -Cfie FILE OFFSET` or `eu-addr2line -e FILE OFFSET`)\n";
#endif
}

}  // namespace weft::rt::diag
