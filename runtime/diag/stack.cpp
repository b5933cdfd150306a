#include "diag/stack.hpp"

// /proc/self/maps is read once per stack, in 4 KiB pieces, and each line is matched against
// every frame not placed yet; the file an address lies in is then known, and its ELF header
// (mapped at the start of its offset-0 mapping, which the kernel lists first) says whether the
// file is position-independent (ET_DYN: offsets are from its load address) or fixed (ET_EXEC:
// its addresses are the file's own). The header is read with process_vm_readv, which fails
// where a plain load would fault. A program's first PT_LOAD at address 0 (every shared object
// and PIE the GNU and LLVM linkers make) is assumed: that is what makes the load address the bias.
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <cstring>

#include "base/sys.hpp"

namespace weft::rt::diag {
namespace {

constexpr int kMaxPaths = 16;
constexpr std::size_t kPathSize = 256;

// Line is one line of a report.
using Line = Text<kPathSize + 128>;

// Where is what the maps say of one frame.
struct Where {
  int path = -1;  // index into Maps::paths, or -1: no file
  std::uintptr_t off = 0;
};

struct Maps {
  char paths[kMaxPaths][kPathSize];
  int npaths = 0;
  // The file whose offset-0 mapping was seen last, and its bias (0 when not an ELF file).
  char cur[kPathSize];
  std::uintptr_t cur_bias = 0;
  bool cur_elf = false;

  int intern(const char* p) noexcept {
    for (int i = 0; i < npaths; ++i) {
      if (std::strcmp(paths[i], p) == 0) return i;
    }
    if (npaths == kMaxPaths) return -1;
    std::size_t i = 0;
    for (; p[i] != '\0' && i + 1 < kPathSize; ++i) paths[npaths][i] = p[i];
    paths[npaths][i] = '\0';
    return npaths++;
  }
};

std::uintptr_t parse_hex(const char*& p, const char* end) noexcept {
  std::uintptr_t v = 0;
  for (; p < end; ++p) {
    char c = *p;
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) break;
    v = v << 4 | static_cast<std::uintptr_t>(d);
  }
  return v;
}

void skip_field(const char*& p, const char* end) noexcept {
  while (p < end && *p != ' ') ++p;
  while (p < end && *p == ' ') ++p;
}

// elf_bias() is the bias of the ELF file whose header is mapped at start, or false if none is.
bool elf_bias(std::uintptr_t start, std::uintptr_t* bias) noexcept {
  unsigned char hdr[18];
  iovec local{hdr, sizeof hdr};
  iovec remote{reinterpret_cast<void*>(start), sizeof hdr};
  long n = sys::call(SYS_process_vm_readv, sys::call(SYS_getpid), &local, 1, &remote, 1, 0);
  if (n != static_cast<long>(sizeof hdr) || std::memcmp(hdr,
                                                        "\x7f"
                                                        "ELF",
                                                        4) != 0)
    return false;
  unsigned type = hdr[16] | unsigned{hdr[17]} << 8;  // e_type, little-endian on the hosts weft runs
  *bias = type == 2 /* ET_EXEC */ ? 0 : start;
  return true;
}

void match_line(const char* p, const char* end, const RawStack& s, Where* where, Maps& maps) {
  std::uintptr_t start = parse_hex(p, end);
  if (p < end && *p == '-') ++p;
  std::uintptr_t stop = parse_hex(p, end);
  skip_field(p, end);  // end address's tail, perms
  skip_field(p, end);
  std::uintptr_t offset = parse_hex(p, end);
  skip_field(p, end);
  skip_field(p, end);  // dev
  skip_field(p, end);  // inode
  char path[kPathSize];
  std::size_t len = 0;
  while (p < end && len + 1 < sizeof path) path[len++] = *p++;
  path[len] = '\0';
  if (offset == 0 && path[0] == '/') {
    std::memcpy(maps.cur, path, len + 1);
    maps.cur_elf = elf_bias(start, &maps.cur_bias);
  }
  for (int i = 0; i < s.n; ++i) {
    std::uintptr_t pc = s.pc[i];
    if (where[i].path >= 0 || pc < start || pc >= stop || path[0] == '\0') continue;
    bool same = maps.cur_elf && std::strcmp(path, maps.cur) == 0;
    where[i].off = same ? pc - maps.cur_bias : pc - start + offset;
    where[i].path = maps.intern(path);
  }
}

void locate(const RawStack& s, Where* where, Maps& maps) noexcept {
  long fd = sys::call(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[4096];
  std::size_t have = 0;
  bool skipping = false;  // inside a line longer than buf, dropped
  for (;;) {
    long n = sys::call(SYS_read, fd, buf + have, sizeof buf - have);
    if (n == -EINTR) continue;
    if (n <= 0) break;
    have += static_cast<std::size_t>(n);
    std::size_t from = 0;
    for (std::size_t i = 0; i < have; ++i) {
      if (buf[i] != '\n') continue;
      if (!skipping) match_line(buf + from, buf + i, s, where, maps);
      skipping = false;
      from = i + 1;
    }
    if (from == 0 && have == sizeof buf) {
      skipping = true;
      have = 0;
      continue;
    }
    std::memmove(buf, buf + from, have - from);
    have -= from;
  }
  sys::call(SYS_close, fd);
}

}  // namespace

void write_module_offsets(const RawStack& s, const char* indent, LineSink sink,
                          void* arg) noexcept {
  Maps maps;
  Where where[kMaxFrames];
  locate(s, where, maps);
  for (int i = 0; i < s.n; ++i) {
    Line line;
    line.add(indent);
    line.add("#");
    line.add_dec(static_cast<std::uint64_t>(i));
    line.add(" ");
    line.add_hex(s.pc[i]);
    if (where[i].path >= 0) {
      line.add(" in ");
      line.add(maps.paths[where[i].path]);
      line.add("+");
      line.add_hex(where[i].off);
    }
    line.add("\n");
    sink(line.buf, arg);
    if (int more = repeats(s, i)) {
      Line same;
      same.add(indent);
      same.add("#");
      same.add_dec(static_cast<std::uint64_t>(i + 1));
      same.add("-#");
      same.add_dec(static_cast<std::uint64_t>(i + more));
      same.add(": the same as #");
      same.add_dec(static_cast<std::uint64_t>(i));
      same.add("\n");
      sink(same.buf, arg);
      i += more;
    }
  }
}

}  // namespace weft::rt::diag
