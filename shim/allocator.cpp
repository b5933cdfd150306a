#include "allocator.hpp"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <link.h>

namespace weft::shim {

std::uintptr_t g_alloc_lo = 0;
std::uintptr_t g_alloc_len = 0;

namespace {

// Code is what dl_iterate_phdr looks for: the object loaded at base, and its executable segments.
struct Code {
  ElfW(Addr) base;
  std::uintptr_t lo = ~std::uintptr_t{0};
  std::uintptr_t hi = 0;
};

int find_code(dl_phdr_info* info, std::size_t, void* arg) {
  auto* code = static_cast<Code*>(arg);
  if (info->dlpi_addr != code->base) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
    std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    if (lo < code->lo) code->lo = lo;
    if (lo + ph.p_memsz > code->hi) code->hi = lo + ph.p_memsz;
  }
  return 1;
}

// object_of() is the link map of the object whose code holds fn, or nullptr.
link_map* object_of(const void* fn) noexcept {
  Dl_info info;
  link_map* map = nullptr;
  if (fn == nullptr || ::dladdr1(fn, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0) {
    return nullptr;
  }
  return map;
}

}  // namespace

void allocator_init() noexcept {
  link_map* map = object_of(::dlsym(RTLD_DEFAULT, "malloc"));
  if (map == nullptr) return;
  // The program itself (its code is the program's) and glibc (whose malloc calls no hook, and
  // whose other functions must not pass for an allocator's) are not told apart.
  if (map->l_name == nullptr || map->l_name[0] == '\0') return;
  if (map == object_of(reinterpret_cast<const void*>(&::gnu_get_libc_version))) return;
  Code code{map->l_addr};
  if (::dl_iterate_phdr(&find_code, &code) == 0 || code.hi <= code.lo) return;
  g_alloc_lo = code.lo;
  g_alloc_len = code.hi - code.lo;
}

}  // namespace weft::shim
