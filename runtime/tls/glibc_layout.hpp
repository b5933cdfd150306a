// glibc_layout: what the tls layer learned about this process's glibc, and how it reads it.
//
// A thread block is glibc's struct pthread plus the static TLS below it, and only the first
// 0x50 bytes of that (tcbhead_t: self pointers, DTV, the stack and pointer guards, feature_1)
// are ABI. Every other field the layer writes or reads is an offset found at run time, from three
// sources, each cross-checked against the running thread before it is believed:
// - the descriptors glibc exports for libthread_db (_thread_db_pthread_tid = {bits, count,
//   offset}, _thread_db_sizeof_pthread, ...), GLIBC_PRIVATE but stable since they exist for gdb;
// - GLIBC_PRIVATE functions and data found with dlvsym (_dl_allocate_tls, __call_tls_dtors,
//   __pthread_keys, _rtld_global) and the public __rseq_offset;
// - a calibration pthread run on a stack of ours, whose struct pthread and TLS we read after it
//   exits: that locates what no descriptor names (stackblock, res, tls_state, and malloc's
//   hidden tcache, tcache_shutting_down and thread_arena in libc's static TLS).
// glibc_probe.cpp fills one GlibcLayout (calibration.cpp and self_test.cpp help); after
// available() returned true it is read-only, and thread_block.cpp and thread_exit.cpp use it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace weft::rt::tls {

// kTcbSelfPtr is tcbhead_t.tcb, the thread pointer's own value (%fs:0), psABI.
inline constexpr std::ptrdiff_t kTcbSelfPtr = 0x00;
// kTcbDtv is tcbhead_t.dtv, the dynamic thread vector (%fs:8), psABI.
inline constexpr std::ptrdiff_t kTcbDtv = 0x08;
// kTcbSelf is tcbhead_t.self, glibc's THREAD_SELF and pthread_self() (%fs:0x10).
inline constexpr std::ptrdiff_t kTcbSelf = 0x10;
// kTcbMultipleThreads is tcbhead_t.multiple_threads: libc's catomic_* skip the lock prefix at 0.
inline constexpr std::ptrdiff_t kTcbMultipleThreads = 0x18;
// kTcbStackGuard is the canary gcc's -fstack-protector reads (%fs:0x28), psABI.
inline constexpr std::ptrdiff_t kTcbStackGuard = 0x28;
// kTcbPointerGuard is the key of glibc's PTR_MANGLE (setjmp buffers, atexit handlers).
inline constexpr std::ptrdiff_t kTcbPointerGuard = 0x30;
// kTcbFeature1 is tcbhead_t.feature_1, the CET state (bit 1: shadow stack active).
inline constexpr std::ptrdiff_t kTcbFeature1 = 0x48;
// kTcbHeadSize is sizeof(tcbhead_t) with its padding: struct pthread's own fields follow it.
inline constexpr std::size_t kTcbHeadSize = 704;
// kCetShadowStack is feature_1's bit for an active shadow stack.
inline constexpr std::uint32_t kCetShadowStack = 2;
// kRseqCpuIdRegistrationFailed is RSEQ_CPU_ID_REGISTRATION_FAILED: glibc's sched_getcpu() then
// asks the vDSO instead of the rseq area.
inline constexpr std::uint32_t kRseqCpuIdRegistrationFailed = static_cast<std::uint32_t>(-2);
// kTcacheMaxBins is malloc.c's TCACHE_MAX_BINS; tcache_perthread_struct is uint16_t
// counts[64] followed by tcache_entry* entries[64] (glibc 2.30 and later).
inline constexpr std::size_t kTcacheMaxBins = 64;
// kTcacheStructChunk is the malloc chunk size of a tcache_perthread_struct (0x280 + header).
inline constexpr std::size_t kTcacheStructChunk = 0x290;
// kOldestGlibcMinor is the oldest glibc 2.x supported: 2.35 added __rseq_offset.
inline constexpr int kOldestGlibcMinor = 35;
// kNewestTestedGlibcMinor is the newest glibc 2.x the layer was tested on; newer ones are
// refused unless WEFT_TLS_UNTESTED_GLIBC=1.
inline constexpr int kNewestTestedGlibcMinor = 36;

// GlibcLayout is everything the layer uses of glibc: entry points, sizes and offsets.
struct GlibcLayout {
  // dl_allocate_tls is ld.so's _dl_allocate_tls: a DTV and the static TLS images for a TCB.
  void* (*dl_allocate_tls)(void*) = nullptr;
  // dl_deallocate_tls is ld.so's _dl_deallocate_tls: frees the DTV and dynamic TLS blocks.
  void (*dl_deallocate_tls)(void*, bool) = nullptr;
  // dl_get_tls_static_info is ld.so's _dl_get_tls_static_info: static TLS size and alignment.
  void (*dl_get_tls_static_info)(std::size_t*, std::size_t*) = nullptr;
  // call_tls_dtors is libc's __call_tls_dtors: the C++ thread_local destructors.
  void (*call_tls_dtors)() = nullptr;
  // ctype_init is libc's __ctype_init: points the ctype tables in TLS at the C locale's.
  void (*ctype_init)() = nullptr;
  // libc_malloc is glibc's own malloc (__libc_malloc of libc.so itself), even where the
  // program brings another allocator: calibration needs glibc's tcache.
  void* (*libc_malloc)(std::size_t) = nullptr;
  // libc_free is glibc's own free: the chunks in glibc's tcache go back through it.
  void (*libc_free)(void*) = nullptr;
  // pthread_keys is libc's __pthread_keys, the table of keys' sequence numbers and destructors.
  const char* pthread_keys = nullptr;
  // rtld_global is ld.so's _rtld_global, where the TLS slotinfo list starts.
  const char* rtld_global = nullptr;
  // dl_tls_generation is _rtld_global._dl_tls_generation, or nullptr if it was not found
  // (glibc_probe.cpp, find_generation()).
  const std::size_t* dl_tls_generation = nullptr;
  // glibc_minor is y of the running glibc 2.y.
  int glibc_minor = 0;
  // glibc_malloc tells whether glibc's malloc keeps per-thread state (tcache, thread_arena) that
  // blocks must set up and shut down; false only under valgrind, which replaces glibc's malloc
  // even for calls to it by address, so no thread ever gets a glibc tcache.
  bool glibc_malloc = true;

  // static_size is _dl_get_tls_static_info's size: all static TLS plus struct pthread.
  std::size_t static_size = 0;
  // static_align is the static TLS alignment, the thread pointer's alignment.
  std::size_t static_align = 0;
  // block_size is static_size rounded up to static_align.
  std::size_t block_size = 0;
  // tcb_size is sizeof(struct pthread) (_thread_db_sizeof_pthread).
  std::size_t tcb_size = 0;

  // list is struct pthread's list_t list (fork's reclaim_stacks unlinks it).
  std::ptrdiff_t list = -1;
  // list_next is list_t.next.
  std::ptrdiff_t list_next = -1;
  // list_prev is list_t.prev.
  std::ptrdiff_t list_prev = -1;
  // tid is struct pthread's pid_t tid, owner word of recursive and errorcheck mutexes.
  std::ptrdiff_t tid = -1;
  // specific is struct pthread's specific[] (level-1 table of pthread key data).
  std::ptrdiff_t specific = -1;
  // specific_1st is specific_1stblock, the level-2 block of keys 0..31 inside struct pthread.
  std::ptrdiff_t specific_1st = -1;
  // schedpolicy is struct pthread's schedpolicy.
  std::ptrdiff_t schedpolicy = -1;
  // schedprio is struct pthread's schedparam.sched_priority.
  std::ptrdiff_t schedprio = -1;
  // robust_head is robust_head.list (robust_prev is the word before it).
  std::ptrdiff_t robust_head = -1;
  // stackblock is struct pthread's stackblock; stackblock_size is the word after it.
  std::ptrdiff_t stackblock = -1;
  // res is struct pthread's struct __res_state res, what __resp points at.
  std::ptrdiff_t res = -1;
  // strsignal_buf is tls_state.strsignal_buf (strsignal of an unknown signal mallocs it).
  std::ptrdiff_t strsignal_buf = -1;
  // strerror_buf is tls_state.strerror_l_buf (strerror of an unknown errno mallocs it).
  std::ptrdiff_t strerror_buf = -1;
  // rseq is rseq_area (__rseq_offset).
  std::ptrdiff_t rseq = -1;
  // rseq_size is __rseq_size: 0 when glibc did not register rseq.
  unsigned rseq_size = 0;

  // libc_tls is where libc's static TLS block starts, from the thread pointer (negative).
  std::ptrdiff_t libc_tls = 0;
  // libc_tls_size is the size of libc's static TLS block (PT_TLS p_memsz).
  std::size_t libc_tls_size = 0;
  // errno_off is errno's offset from the thread pointer.
  std::ptrdiff_t errno_off = 0;
  // resp is __resp's offset from the thread pointer (start_thread sets it to &pd->res).
  std::ptrdiff_t resp = 0;
  // tcache is malloc's hidden `tcache` TLS variable's offset from the thread pointer.
  std::ptrdiff_t tcache = 0;
  // tcache_shutting_down is malloc's hidden flag that stops a thread re-creating its tcache.
  std::ptrdiff_t tcache_shutting_down = 0;
  // thread_arena is malloc's hidden `thread_arena` TLS variable's offset.
  std::ptrdiff_t thread_arena = 0;

  // keys_max is PTHREAD_KEYS_MAX as libthread_db describes __pthread_keys.
  std::size_t keys_max = 0;
  // key_struct_size is sizeof(struct pthread_key_struct).
  std::size_t key_struct_size = 0;
  // key_seq is pthread_key_struct.seq.
  std::size_t key_seq = 0;
  // key_destr is pthread_key_struct.destr.
  std::size_t key_destr = 0;
  // keydata_size is sizeof(struct pthread_key_data).
  std::size_t keydata_size = 0;
  // keydata_seq is pthread_key_data.seq.
  std::size_t keydata_seq = 0;
  // keydata_data is pthread_key_data.data.
  std::size_t keydata_data = 0;
  // key_l1 is how many level-1 entries specific[] has.
  std::size_t key_l1 = 0;
  // key_l2 is how many keys one level-2 block holds.
  std::size_t key_l2 = 0;

  // lm_tls_offset is link_map.l_tls_offset (a module's static TLS offset, or none).
  std::ptrdiff_t lm_tls_offset = -1;
  // lm_tls_modid is link_map.l_tls_modid.
  std::ptrdiff_t lm_tls_modid = -1;
  // rg_slotinfo_list is _rtld_global._dl_tls_dtv_slotinfo_list.
  std::ptrdiff_t rg_slotinfo_list = -1;
  // sil_len is dtv_slotinfo_list.len.
  std::ptrdiff_t sil_len = -1;
  // sil_next is dtv_slotinfo_list.next.
  std::ptrdiff_t sil_next = -1;
  // sil_slotinfo is dtv_slotinfo_list.slotinfo, the array of dtv_slotinfo.
  std::ptrdiff_t sil_slotinfo = -1;
  // si_size is sizeof(struct dtv_slotinfo).
  std::size_t si_size = 0;
  // si_gen is dtv_slotinfo.gen, the generation the module was loaded at.
  std::ptrdiff_t si_gen = -1;
  // si_map is dtv_slotinfo.map, the module's link_map.
  std::ptrdiff_t si_map = -1;
};

// glibc() is the process's layout: complete once available() returned true, read-only after.
GlibcLayout& glibc() noexcept;

// Why collects the one-line reason a check failed.
struct Why {
  // text is the reason, "" while every check passed.
  char text[224] = "";
};
// refuse() writes a printf-style reason into why and returns false, for `return refuse(...)`.
bool refuse(Why& why, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

// probe_glibc() looks everything up and checks it on the calling thread (glibc_probe.cpp).
bool probe_glibc(Why& why) noexcept;
// calibrate() runs the calibration pthread and fills the offsets only it can find.
bool calibrate(Why& why) noexcept;
// self_test() runs one block's whole life cycle in a child process, with a time limit.
bool self_test(Why& why) noexcept;
// under_valgrind() tells whether valgrind runs the process.
bool under_valgrind() noexcept;
// use_wrfsbase() makes set_tp() use wrfsbase (true) or arch_prctl (false).
void use_wrfsbase(bool on) noexcept;

// at() is the T at base + off, for the fields the layout names.
template <class T>
T& at(char* base, std::ptrdiff_t off) noexcept {
  return *reinterpret_cast<T*>(base + off);
}
// load() reads a T at base + off from memory that may not be aligned for T.
template <class T>
T load(const void* base, std::ptrdiff_t off) noexcept {
  T v;
  std::memcpy(&v, static_cast<const char*>(base) + off, sizeof v);
  return v;
}

}  // namespace weft::rt::tls
