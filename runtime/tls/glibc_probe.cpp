// glibc_probe: may fibers have thread blocks of their own in this process, and where is
// everything a block needs.
//
// The answer is computed once, under a Lock, by the first available() (the runtime asks before
// its first carrier starts): gates first (sanitizers, architecture, glibc version, CET shadow
// stacks), then the lookups and checks of probe_glibc() below, then calibration.cpp's pthread,
// then self_test.cpp's whole life cycle in a child process. The first failure is the answer,
// with a one-line reason: this code never guesses an offset, because a wrong one corrupts
// another thread's state silently. A refusal is not an error of the program: fibers keep
// sharing their carrier's TLS, as they always did.
//
// Versions: 2.34 moved libpthread into libc (start_thread, keys, __call_tls_dtors all in one
// object) and 2.35 added __rseq_offset; the layer was written against and tested on 2.36. A
// newer glibc passes the same checks if nothing it relies on moved, but "passes the checks" is
// not "tested", so it is refused unless WEFT_TLS_UNTESTED_GLIBC=1.
#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "base/lock.hpp"
#include "base/sanitizer.hpp"
#include "base/sys.hpp"
#include "tls/glibc_layout.hpp"
#include "tls/thread_block.hpp"

namespace weft::rt::tls {

namespace {

GlibcLayout g_glibc;
// g_state is 0 before the probe, 1 when blocks are available, 2 when they are not.
std::atomic<int> g_state{0};
Lock g_probe_lock;
Why g_why;
const char* g_switch_name = "";

void* private_symbol(const char* name) noexcept {
  return dlvsym(RTLD_DEFAULT, name, "GLIBC_PRIVATE");
}

// Desc is one libthread_db descriptor: a field's size in bits, element count and offset.
struct Desc {
  std::uint32_t bits = 0, count = 0, offset = 0;
};

bool descriptor(const char* name, Desc& d, Why& why) noexcept {
  auto p = static_cast<const std::uint32_t*>(private_symbol(name));
  if (p == nullptr) return refuse(why, "glibc does not export %s@GLIBC_PRIVATE", name);
  d = {p[0], p[1], p[2]};
  return true;
}

bool field(const char* name, std::ptrdiff_t& off, Why& why) noexcept {
  Desc d;
  if (!descriptor(name, d, why)) return false;
  off = d.offset;
  return true;
}

bool field(const char* name, std::size_t& off, Why& why) noexcept {
  Desc d;
  if (!descriptor(name, d, why)) return false;
  off = d.offset;
  return true;
}

bool size_of(const char* name, std::size_t& v, Why& why) noexcept {
  auto p = static_cast<const std::uint32_t*>(private_symbol(name));
  if (p == nullptr) return refuse(why, "glibc does not export %s@GLIBC_PRIVATE", name);
  v = *p;
  return true;
}

bool env_is(const char* name, const char* value) noexcept {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, value) == 0;
}

bool check_version(Why& why) noexcept {
  const char* v = gnu_get_libc_version();
  int major = 0, minor = 0;
  if (std::sscanf(v, "%d.%d", &major, &minor) != 2) {
    return refuse(why, "cannot parse the glibc version \"%s\"", v);
  }
  if (major != 2 || minor < kOldestGlibcMinor) {
    return refuse(why, "glibc %s is older than 2.%d", v, kOldestGlibcMinor);
  }
  if (minor > kNewestTestedGlibcMinor && !env_is("WEFT_TLS_UNTESTED_GLIBC", "1")) {
    return refuse(why,
                  "glibc %s is newer than the tested 2.%d (WEFT_TLS_UNTESTED_GLIBC=1 tries it)", v,
                  kNewestTestedGlibcMinor);
  }
  g_glibc.glibc_minor = minor;
  return true;
}

bool look_up_functions(GlibcLayout& g, Why& why) noexcept {
  g.dl_allocate_tls = reinterpret_cast<void* (*)(void*)>(private_symbol("_dl_allocate_tls"));
  g.dl_deallocate_tls =
      reinterpret_cast<void (*)(void*, bool)>(private_symbol("_dl_deallocate_tls"));
  g.dl_get_tls_static_info = reinterpret_cast<void (*)(std::size_t*, std::size_t*)>(
      private_symbol("_dl_get_tls_static_info"));
  g.call_tls_dtors = reinterpret_cast<void (*)()>(private_symbol("__call_tls_dtors"));
  g.ctype_init = reinterpret_cast<void (*)()>(private_symbol("__ctype_init"));
  g.pthread_keys = static_cast<const char*>(private_symbol("__pthread_keys"));
  g.rtld_global = static_cast<const char*>(private_symbol("_rtld_global"));
  if (g.dl_allocate_tls == nullptr || g.dl_deallocate_tls == nullptr ||
      g.dl_get_tls_static_info == nullptr) {
    return refuse(why,
                  "ld.so lacks _dl_allocate_tls, _dl_deallocate_tls or "
                  "_dl_get_tls_static_info@GLIBC_PRIVATE");
  }
  if (g.call_tls_dtors == nullptr) return refuse(why, "libc lacks __call_tls_dtors@GLIBC_PRIVATE");
  if (g.ctype_init == nullptr) return refuse(why, "libc lacks __ctype_init@GLIBC_PRIVATE");
  if (g.pthread_keys == nullptr) return refuse(why, "libc lacks __pthread_keys@GLIBC_PRIVATE");
  if (g.rtld_global == nullptr) return refuse(why, "ld.so lacks _rtld_global@GLIBC_PRIVATE");

  return true;
}

// check_tcb() checks the psABI part of the running thread's TCB, and reads the sizes.
bool check_tcb(GlibcLayout& g, char* tp, Why& why) noexcept {
  auto area = static_cast<const std::uint32_t*>(private_symbol("_thread_db_const_thread_area"));
  if (area == nullptr || *area != 25 /* FS in <sys/reg.h> */) {
    return refuse(why, "_thread_db_const_thread_area is not FS: not x86-64's TLS layout");
  }
  Desc d;
  if (!descriptor("_thread_db_pthread_dtvp", d, why)) return false;
  if (d.offset != kTcbDtv || d.bits != 64) {
    return refuse(why, "_thread_db_pthread_dtvp is at %u, not %td: unexpected tcbhead_t", d.offset,
                  kTcbDtv);
  }
  if (at<char*>(tp, kTcbSelfPtr) != tp || at<char*>(tp, kTcbSelf) != tp) {
    return refuse(why, "%%fs:0 and %%fs:0x10 are not the thread pointer: unexpected TCB layout");
  }
  if (at<std::uintptr_t>(tp, kTcbStackGuard) == 0 ||
      at<std::uintptr_t>(tp, kTcbPointerGuard) == 0) {
    return refuse(why, "the stack guard (%%fs:0x28) or pointer guard (%%fs:0x30) is not set");
  }
  if ((at<std::uint32_t>(tp, kTcbFeature1) & kCetShadowStack) != 0) {
    return refuse(why,
                  "CET shadow stacks are active: fibers would need shadow stacks of their own");
  }
  if (!size_of("_thread_db_sizeof_pthread", g.tcb_size, why)) return false;
  g.dl_get_tls_static_info(&g.static_size, &g.static_align);
  if (g.tcb_size < kTcbHeadSize + 256 || g.tcb_size > 16384) {
    return refuse(why, "implausible sizeof(struct pthread): %zu", g.tcb_size);
  }
  if (g.static_align < 64 || (g.static_align & (g.static_align - 1)) != 0) {
    return refuse(why, "implausible static TLS alignment: %zu", g.static_align);
  }
  if (g.static_size <= g.tcb_size || g.static_size > (std::size_t{64} << 20)) {
    return refuse(why, "implausible static TLS size: %zu", g.static_size);
  }
  g.block_size = (g.static_size + g.static_align - 1) & ~(g.static_align - 1);
  return true;
}

bool check_pthread_fields(GlibcLayout& g, char* tp, Why& why) noexcept {
  Desc d;
  if (!descriptor("_thread_db_pthread_tid", d, why)) return false;
  if (d.bits != 32) return refuse(why, "struct pthread's tid is not 32 bits");
  g.tid = d.offset;
  if (at<pid_t>(tp, g.tid) != static_cast<pid_t>(sys::call(SYS_gettid))) {
    return refuse(why, "struct pthread's tid is not gettid()");
  }
  if (!field("_thread_db_pthread_list", g.list, why) ||
      !field("_thread_db_list_t_next", g.list_next, why) ||
      !field("_thread_db_list_t_prev", g.list_prev, why) ||
      !field("_thread_db_pthread_schedpolicy", g.schedpolicy, why) ||
      !field("_thread_db_pthread_schedparam_sched_priority", g.schedprio, why)) {
    return false;
  }
  if (!descriptor("_thread_db_pthread_specific", d, why)) return false;
  g.specific = d.offset;
  g.key_l1 = d.bits / 64;

  // Keys: __pthread_keys[keys_max] of {seq, destr}; specific[l1] -> blocks of l2 {seq, data}.
  if (!descriptor("_thread_db___pthread_keys", d, why)) return false;
  g.keys_max = d.count;
  std::uint32_t key_bits = d.bits;
  std::size_t level2 = 0;
  if (!size_of("_thread_db_sizeof_pthread_key_struct", g.key_struct_size, why) ||
      !field("_thread_db_pthread_key_struct_seq", g.key_seq, why) ||
      !field("_thread_db_pthread_key_struct_destr", g.key_destr, why) ||
      !size_of("_thread_db_sizeof_pthread_key_data", g.keydata_size, why) ||
      !field("_thread_db_pthread_key_data_seq", g.keydata_seq, why) ||
      !field("_thread_db_pthread_key_data_data", g.keydata_data, why) ||
      !size_of("_thread_db_sizeof_pthread_key_data_level2", level2, why)) {
    return false;
  }
  if (g.keydata_size == 0) return refuse(why, "sizeof(struct pthread_key_data) is 0");
  g.key_l2 = level2 / g.keydata_size;
  if (g.key_l1 * g.key_l2 != g.keys_max || g.key_struct_size * 8 != key_bits) {
    return refuse(why, "the pthread key tables do not have the expected shape");
  }
  // specific[0] points at specific_1stblock, inside the same struct pthread.
  char* first = at<char*>(tp, g.specific);
  if (first <= tp || first >= tp + g.tcb_size) {
    return refuse(why, "specific[0] does not point into struct pthread");
  }
  g.specific_1st = first - tp;

  // robust_head: a thread holding no robust mutex has robust_head.list == &robust_head, the
  // word before it (robust_prev) the same, then futex_offset == -32 and list_op_pending == 0.
  int found = 0;
  for (std::size_t o = kTcbHeadSize + 8; o + 24 <= g.tcb_size; o += 8) {
    auto self = reinterpret_cast<std::uintptr_t>(tp + o);
    if (at<std::uintptr_t>(tp, o) == self && at<std::uintptr_t>(tp, o - 8) == self &&
        at<long>(tp, o + 8) == -32 && at<std::uintptr_t>(tp, o + 16) == 0) {
      g.robust_head = static_cast<std::ptrdiff_t>(o);
      ++found;
    }
  }
  if (found != 1)
    return refuse(why, "robust_head matched %d places in struct pthread, not 1", found);

  auto rseq_offset =
      static_cast<const std::ptrdiff_t*>(dlvsym(RTLD_DEFAULT, "__rseq_offset", "GLIBC_2.35"));
  auto rseq_size = static_cast<const unsigned*>(dlvsym(RTLD_DEFAULT, "__rseq_size", "GLIBC_2.35"));
  if (rseq_offset == nullptr || rseq_size == nullptr) {
    return refuse(why, "ld.so lacks __rseq_offset or __rseq_size@GLIBC_2.35");
  }
  g.rseq = *rseq_offset;
  g.rseq_size = *rseq_size;
  if (g.rseq < static_cast<std::ptrdiff_t>(kTcbHeadSize) ||
      g.rseq + 32 > static_cast<std::ptrdiff_t>(g.tcb_size)) {
    return refuse(why, "__rseq_offset (%td) is not inside struct pthread", g.rseq);
  }
  auto cpu = at<std::int32_t>(tp, g.rseq + 4);
  if (g.rseq_size != 0 ? cpu < 0 : (cpu != -1 && cpu != -2)) {
    return refuse(why, "rseq_area.cpu_id (%d) does not match __rseq_size (%u)", cpu, g.rseq_size);
  }
  return true;
}

bool check_slotinfo(GlibcLayout& g, Why& why) noexcept {
  return field("_thread_db_link_map_l_tls_offset", g.lm_tls_offset, why) &&
         field("_thread_db_link_map_l_tls_modid", g.lm_tls_modid, why) &&
         field("_thread_db_rtld_global__dl_tls_dtv_slotinfo_list", g.rg_slotinfo_list, why) &&
         field("_thread_db_dtv_slotinfo_list_len", g.sil_len, why) &&
         field("_thread_db_dtv_slotinfo_list_next", g.sil_next, why) &&
         field("_thread_db_dtv_slotinfo_list_slotinfo", g.sil_slotinfo, why) &&
         size_of("_thread_db_sizeof_dtv_slotinfo", g.si_size, why) &&
         field("_thread_db_dtv_slotinfo_gen", g.si_gen, why) &&
         field("_thread_db_dtv_slotinfo_map", g.si_map, why);
}

// find_generation() finds _rtld_global._dl_tls_generation, which ld.so bumps whenever dlopen or
// dlclose changes the modules with TLS: a load of it tells a switch whether blocks need catching
// up (thread_block.hpp, stale()). No descriptor names it; glibc 2.34..2.36 declare it right after
// _dl_initial_dtv, the main thread's first DTV, found here through the main thread's control
// block on _dl_stack_user (whose offset libthread_db's descriptor gives). The pair must occur
// exactly once in _rtld_global (its size from the dynamic symbol table), and the generation must
// be at least every slotinfo entry's. Not found (the main thread's DTV was resized since): blocks
// catch up only when the next one is made (create()), and docs/design.md says so.
void find_generation(GlibcLayout& g) noexcept {
  std::ptrdiff_t user = -1;
  Why ignored;
  if (!field("_thread_db_rtld_global__dl_stack_user", user, ignored)) return;
  Dl_info info;
  void* entry = nullptr;
  if (dladdr1(g.rtld_global, &info, &entry, RTLD_DL_SYMENT) == 0 || entry == nullptr) return;
  const auto* sym = static_cast<const ElfW(Sym)*>(entry);
  if (sym->st_size < 64) return;
  std::size_t words = sym->st_size / sizeof(void*);
  auto head = reinterpret_cast<const char*>(g.rtld_global + user);
  const char* main_dtv = nullptr;
  auto pid = static_cast<pid_t>(sys::call(SYS_getpid));
  int hops = 0;
  for (auto p = load<const char*>(head, 0); p != head && p != nullptr && hops < 100000;
       p = load<const char*>(p, 0), ++hops) {
    const char* pd = p - g.list;
    if (load<pid_t>(pd, g.tid) == pid) main_dtv = load<const char*>(pd, kTcbDtv);
  }
  if (main_dtv == nullptr) return;
  auto w = reinterpret_cast<const std::uintptr_t*>(g.rtld_global);
  const std::size_t* found = nullptr;
  int matches = 0;
  for (std::size_t i = 0; i + 1 < words; ++i) {
    if (w[i] == reinterpret_cast<std::uintptr_t>(main_dtv)) {
      found = reinterpret_cast<const std::size_t*>(&w[i + 1]);
      ++matches;
    }
  }
  if (matches != 1) return;
  std::uint64_t newest = 0;
  for (auto list = load<const char*>(g.rtld_global, g.rg_slotinfo_list); list != nullptr;
       list = load<const char*>(list, g.sil_next)) {
    auto len = load<std::size_t>(list, g.sil_len);
    for (std::size_t i = 0; i < len; ++i) {
      const char* slot = list + g.sil_slotinfo + static_cast<std::ptrdiff_t>(i * g.si_size);
      newest = std::max<std::uint64_t>(newest, load<std::uint64_t>(slot, g.si_gen));
    }
  }
  if (*found < newest || *found > (std::size_t{1} << 40)) return;
  g.dl_tls_generation = found;
}

// LibcObject is libc.so as dl_iterate_phdr shows it: found by its load address.
struct LibcObject {
  std::uintptr_t base = 0;
  const ElfW(Dyn) * dynamic = nullptr;
  char* tls_data = nullptr;
  std::size_t tls_size = 0;
};

int find_libc(dl_phdr_info* info, std::size_t, void* arg) noexcept {
  auto q = static_cast<LibcObject*>(arg);
  if (info->dlpi_addr != q->base) return 0;
  for (int k = 0; k < info->dlpi_phnum; ++k) {
    const auto& ph = info->dlpi_phdr[k];
    if (ph.p_type == PT_TLS) {
      q->tls_data = static_cast<char*>(info->dlpi_tls_data);
      q->tls_size = ph.p_memsz;
    } else if (ph.p_type == PT_DYNAMIC) {
      q->dynamic = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + ph.p_vaddr);
    }
  }
  return 1;
}

bool find_libc(const GlibcLayout& g, LibcObject& libc, Why& why) noexcept {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(g.call_tls_dtors), &info) == 0 || info.dli_fbase == nullptr) {
    return refuse(why, "dladdr cannot name libc");
  }
  libc.base = reinterpret_cast<std::uintptr_t>(info.dli_fbase);
  dl_iterate_phdr(find_libc, &libc);
  if (libc.dynamic == nullptr) return refuse(why, "libc has no dynamic section");
  return true;
}

// own_symbol() is the address of libc's own definition of a function, from libc's GNU hash
// table: dlsym answers the first definition in the search order, which for malloc and free is
// jemalloc's or tcmalloc's where the program brings one, but the chunks in glibc's tcache are
// glibc's.
void* own_symbol(const LibcObject& libc, const char* name) noexcept {
  const std::uint32_t* hash = nullptr;
  const ElfW(Sym)* symtab = nullptr;
  const char* strtab = nullptr;
  // ld.so relocates these in place on x86-64; an unrelocated one is smaller than the base.
  auto address = [&](ElfW(Addr) p) { return p < libc.base ? p + libc.base : p; };
  for (const ElfW(Dyn)* d = libc.dynamic; d->d_tag != DT_NULL; ++d) {
    if (d->d_tag == DT_GNU_HASH)
      hash = reinterpret_cast<const std::uint32_t*>(address(d->d_un.d_ptr));
    if (d->d_tag == DT_SYMTAB) symtab = reinterpret_cast<const ElfW(Sym)*>(address(d->d_un.d_ptr));
    if (d->d_tag == DT_STRTAB) strtab = reinterpret_cast<const char*>(address(d->d_un.d_ptr));
  }
  if (hash == nullptr || symtab == nullptr || strtab == nullptr) return nullptr;
  std::uint32_t h = 5381;
  for (const char* c = name; *c != '\0'; ++c) h = h * 33 + static_cast<unsigned char>(*c);
  const std::uint32_t nbuckets = hash[0], symoffset = hash[1], bloom_words = hash[2];
  const auto* buckets = reinterpret_cast<const std::uint32_t*>(
      reinterpret_cast<const ElfW(Addr)*>(hash + 4) + bloom_words);
  const std::uint32_t* chain = buckets + nbuckets;
  if (nbuckets == 0) return nullptr;
  std::uint32_t i = buckets[h % nbuckets];
  if (i < symoffset) return nullptr;
  for (;; ++i) {
    std::uint32_t ch = chain[i - symoffset];
    const ElfW(Sym)& sym = symtab[i];
    if ((ch | 1) == (h | 1) && sym.st_shndx != SHN_UNDEF &&
        ELF64_ST_TYPE(sym.st_info) == STT_FUNC && std::strcmp(strtab + sym.st_name, name) == 0) {
      return reinterpret_cast<void*>(libc.base + sym.st_value);
    }
    if ((ch & 1) != 0) return nullptr;
  }
}

bool look_up_malloc(GlibcLayout& g, const LibcObject& libc, Why& why) noexcept {
  g.libc_malloc = reinterpret_cast<void* (*)(std::size_t)>(own_symbol(libc, "malloc"));
  g.libc_free = reinterpret_cast<void (*)(void*)>(own_symbol(libc, "free"));
  if (g.libc_malloc == nullptr || g.libc_free == nullptr) {
    return refuse(why, "cannot find glibc's own malloc and free in libc's symbol table");
  }
  return true;
}

bool check_libc_tls(GlibcLayout& g, const LibcObject& libc, char* tp, Why& why) noexcept {
  if (libc.tls_data == nullptr) return refuse(why, "libc has no static TLS block on this thread");
  g.libc_tls = libc.tls_data - tp;
  g.libc_tls_size = libc.tls_size;
  if (g.libc_tls >= 0 || -g.libc_tls < static_cast<std::ptrdiff_t>(libc.tls_size) ||
      static_cast<std::size_t>(-g.libc_tls) > g.static_size - g.tcb_size) {
    return refuse(why, "libc's TLS block is not in the static TLS below the TCB");
  }
  auto in_libc = [&](std::ptrdiff_t o, std::size_t n) {
    return o >= g.libc_tls && o + static_cast<std::ptrdiff_t>(n) <=
                                  g.libc_tls + static_cast<std::ptrdiff_t>(libc.tls_size);
  };
  g.errno_off = reinterpret_cast<char*>(__errno_location()) - tp;
  if (!in_libc(g.errno_off, sizeof(int))) return refuse(why, "errno is not in libc's TLS block");
  // dlsym of a TLS symbol answers the calling thread's address of it.
  void* resp = private_symbol("__resp");
  if (resp == nullptr) return refuse(why, "libc lacks __resp@GLIBC_PRIVATE");
  g.resp = static_cast<char*>(resp) - tp;
  if (!in_libc(g.resp, sizeof(void*))) return refuse(why, "__resp is not in libc's TLS block");
  return true;
}

// build_gate() is why no block can work in this build at all, or nullptr.
const char* build_gate() noexcept {
#if defined(WEFT_ASAN)
  return "off in AddressSanitizer builds: ASan's per-thread state is in the TLS a switch would "
         "hide";
#elif defined(WEFT_TSAN)
  return "off in ThreadSanitizer builds: TSan's per-thread state is in the TLS a switch would hide";
#elif !defined(__x86_64__)
  return "per-fiber TLS is implemented for x86-64 only";
#else
  return nullptr;
#endif
}

bool check(Why& why) noexcept {
  if (const char* gate = build_gate()) return refuse(why, "%s", gate);
  if (!check_version(why)) return false;
  GlibcLayout& g = g_glibc;
  char* tp = current_tp();
  LibcObject libc;
  if (!look_up_functions(g, why) || !find_libc(g, libc, why) || !look_up_malloc(g, libc, why) ||
      !check_tcb(g, tp, why) || !check_pthread_fields(g, tp, why) || !check_slotinfo(g, why) ||
      !check_libc_tls(g, libc, tp, why) || !calibrate(why)) {
    return false;
  }
  if (g.glibc_malloc &&
      (g.tcache == g.thread_arena || g.tcache == g.resp || g.thread_arena == g.resp ||
       g.tcache == g.errno_off || g.thread_arena == g.errno_off)) {
    return refuse(why, "calibration: libc TLS offsets overlap");
  }
  find_generation(g);
  bool fsgsbase = (getauxval(AT_HWCAP2) & 2 /* HWCAP2_FSGSBASE */) != 0;
  bool wrfsbase = fsgsbase && !env_is("WEFT_TLS_SWITCH", "syscall") && !under_valgrind();
  use_wrfsbase(wrfsbase);
  g_switch_name = wrfsbase ? "wrfsbase" : "arch_prctl";
  return self_test(why);
}

}  // namespace

GlibcLayout& glibc() noexcept {
  return g_glibc;
}

// valgrind does not emulate wrfsbase, and replaces glibc's malloc.
bool under_valgrind() noexcept {
  if (san::on_valgrind()) return true;
  const char* preload = std::getenv("LD_PRELOAD");
  return preload != nullptr && std::strstr(preload, "vgpreload") != nullptr;
}

bool refuse(Why& why, const char* fmt, ...) noexcept {
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(why.text, sizeof why.text, fmt, ap);
  va_end(ap);
  return false;
}

bool available() noexcept {
  int state = g_state.load(std::memory_order_acquire);
  if (state == 0) {
    std::lock_guard<Lock> hold(g_probe_lock);
    state = g_state.load(std::memory_order_relaxed);
    if (state == 0) {
      Why why;
      bool ok = check(why);
      if (!ok && why.text[0] == '\0') refuse(why, "a check failed without saying why");
      g_why = why;
      if (!ok) g_switch_name = "";
      if (ok && g_glibc.dl_tls_generation != nullptr) {
        detail::g_caught_up = *g_glibc.dl_tls_generation;
        detail::g_generation = g_glibc.dl_tls_generation;
      }
      state = ok ? 1 : 2;
      g_state.store(state, std::memory_order_release);
    }
  }
  return state == 1;
}

const char* reason() noexcept {
  return available() ? "" : g_why.text;
}

const char* switch_name() noexcept {
  available();
  return g_switch_name;
}

std::size_t block_size() noexcept {
  return available() ? g_glibc.block_size : 0;
}

std::size_t block_align() noexcept {
  return available() ? g_glibc.static_align : 0;
}

std::size_t static_tls_size() noexcept {
  return available() ? g_glibc.static_size - g_glibc.tcb_size : 0;
}

}  // namespace weft::rt::tls
