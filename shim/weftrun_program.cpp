// weftrun_program: the look weftrun takes at a program before exec (weftrun_program.hpp).
//
// What the kernel and the loader decide is approximated from the file, not asked of them: a
// static ELF has no PT_INTERP (libelf reads the program headers; elfutils' library rather than
// a hand-written ELF reader); secure execution follows the kernel's rules for the bits that
// matter to a launcher (set-user-ID to another owner than our effective uid, set-group-ID, with
// group execute, to another group, or a security.capability attribute for a caller that is not
// root -- for root, file capabilities grant nothing new and AT_SECURE stays off), and nothing of
// it on a nosuid mount. The dynamic loader itself has no PT_INTERP either, but run as a command
// (ld-linux-x86-64.so.2 PROG) it honours LD_PRELOAD: it is recognised by its DT_SONAME.
#include "weftrun_program.hpp"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <cstdlib>
#include <cstring>
#include <string>

namespace weft::launcher {
namespace {

// on_path() is where execvp would find prog: itself when it names a directory, else the first
// executable regular file of that name in PATH (glibc's default "/bin:/usr/bin" when unset).
std::string on_path(const char* prog) {
  if (std::strchr(prog, '/') != nullptr) return prog;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/bin:/usr/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string file = (dir.empty() ? std::string(".") : dir) + "/" + prog;
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(file.c_str(), X_OK) == 0) {
      return file;
    }
    start = end + 1;
  }
  return "";
}

// Kind is what a file is to the loader.
enum class Kind { kOther, kScript, kDynamic, kStatic };

// soname() is the ELF's DT_SONAME, or "".
std::string soname(Elf* elf) {
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_DYNAMIC) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || shdr.sh_entsize == 0) continue;
    for (std::size_t i = 0; i < shdr.sh_size / shdr.sh_entsize; ++i) {
      GElf_Dyn dyn;
      if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr) break;
      if (dyn.d_tag == DT_SONAME) {
        const char* name = elf_strptr(elf, shdr.sh_link, dyn.d_un.d_val);
        return name != nullptr ? name : "";
      }
    }
  }
  return "";
}

// elf_kind_of() reads fd's program headers: kDynamic with a PT_INTERP (or when fd is the
// dynamic loader), kStatic without, kOther when it is no ELF executable libelf can read.
Kind elf_kind_of(int fd) {
  if (elf_version(EV_CURRENT) == EV_NONE) return Kind::kOther;
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  if (elf == nullptr) return Kind::kOther;
  Kind kind = Kind::kOther;
  GElf_Ehdr ehdr;
  std::size_t count = 0;
  if (elf_kind(elf) == ELF_K_ELF && gelf_getehdr(elf, &ehdr) != nullptr &&
      (ehdr.e_type == ET_EXEC || ehdr.e_type == ET_DYN) && elf_getphdrnum(elf, &count) == 0) {
    kind = Kind::kStatic;
    for (std::size_t i = 0; i < count; ++i) {
      GElf_Phdr phdr;
      if (gelf_getphdr(elf, static_cast<int>(i), &phdr) != nullptr && phdr.p_type == PT_INTERP) {
        kind = Kind::kDynamic;
      }
    }
    if (kind == Kind::kStatic && soname(elf).starts_with("ld-")) kind = Kind::kDynamic;
  }
  elf_end(elf);
  return kind;
}

// kind_of() says what file is; for a script, interp gets its interpreter's path.
Kind kind_of(const std::string& file, std::string& interp) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Kind::kOther;
  char head[256];
  ssize_t n = ::pread(fd, head, sizeof head - 1, 0);
  Kind kind = Kind::kOther;
  if (n >= 2 && head[0] == '#' && head[1] == '!') {
    head[n] = '\0';
    const char* p = head + 2;
    while (*p == ' ' || *p == '\t') ++p;
    interp.assign(p, std::strcspn(p, " \t\n"));
    kind = interp.empty() ? Kind::kOther : Kind::kScript;
  } else if (n >= 4 && std::memcmp(head, "\177ELF", 4) == 0) {
    kind = elf_kind_of(fd);
  }
  ::close(fd);
  return kind;
}

// secure_reason() says why the kernel would start file in secure-execution mode, or "".
std::string secure_reason(const std::string& file) {
  struct stat st {};
  struct statvfs vfs {};
  if (::stat(file.c_str(), &st) != 0) return "";
  if (::statvfs(file.c_str(), &vfs) == 0 && (vfs.f_flag & ST_NOSUID) != 0) return "";
  if ((st.st_mode & S_ISUID) != 0 && st.st_uid != ::geteuid()) {
    return "is set-user-ID to uid " + std::to_string(st.st_uid);
  }
  if ((st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) && st.st_gid != ::getegid()) {
    return "is set-group-ID to gid " + std::to_string(st.st_gid);
  }
  if (::getuid() != 0 && ::getxattr(file.c_str(), "security.capability", nullptr, 0) >= 0) {
    return "has file capabilities";
  }
  return "";
}

}  // namespace

std::string unreachable_reason(const char* prog) {
  std::string file = on_path(prog);
  if (file.empty()) return "";
  std::string interp;
  std::string subject = prog;
  Kind kind = kind_of(file, interp);
  if (kind == Kind::kScript) {
    // The kernel runs the interpreter; a set-user-ID bit on the script itself is ignored.
    std::string unused;
    subject = std::string(prog) + " is a script run by " + interp + ", which";
    file = interp;
    kind = kind_of(file, unused);
  }
  if (kind == Kind::kStatic) return subject + " is statically linked: LD_PRELOAD cannot reach it";
  if (kind != Kind::kDynamic) return "";
  std::string secure = secure_reason(file);
  if (secure.empty()) return "";
  return subject + " " + secure +
         ": the loader ignores LD_PRELOAD in such a program (secure-execution mode)";
}

}  // namespace weft::launcher
