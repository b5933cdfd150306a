// resolve: name lookups run on blocking-pool helper threads while the calling fiber waits.
//
// getaddrinfo and its kin block inside glibc (NSS modules, the DNS resolver's own sockets and
// polls, internal calls no hook reaches), so on a fiber the shim runs libc's function on a
// helper thread of the run's blocking pool (weft::blocking, as gevent's threadpool resolver
// does) and parks only the fiber. What the call leaves in thread-local state on the helper
// (errno for EAI_SYSTEM, h_errno) is copied back to the caller. gethostbyname and
// gethostbyaddr return glibc's static result, shared by the whole process as natively. If no
// helper thread can be started, the lookup runs on the fiber itself and holds its carrier.
#include <netdb.h>
#include <sys/socket.h>
#include <cerrno>

#include "offload.hpp"
#include "real.hpp"
#include "stats.hpp"

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                            addrinfo** res) {
  auto real = WEFT_REAL(getaddrinfo);
  if (real == nullptr) return EAI_SYSTEM;
  return offload(Sym::getaddrinfo, [&] { return real(node, service, hints, res); });
}

WEFT_EXPORT int getnameinfo(const sockaddr* addr, socklen_t addrlen, char* host, socklen_t hostlen,
                            char* serv, socklen_t servlen, int flags) {
  auto real = WEFT_REAL(getnameinfo);
  if (real == nullptr) return EAI_SYSTEM;
  return offload(Sym::getnameinfo,
                 [&] { return real(addr, addrlen, host, hostlen, serv, servlen, flags); });
}

WEFT_EXPORT hostent* gethostbyname(const char* name) {
  auto real = WEFT_REAL(gethostbyname);
  if (real == nullptr) return nullptr;
  return offload(Sym::gethostbyname, [&] { return real(name); });
}

WEFT_EXPORT hostent* gethostbyname2(const char* name, int af) {
  auto real = WEFT_REAL(gethostbyname2);
  if (real == nullptr) return nullptr;
  return offload(Sym::gethostbyname2, [&] { return real(name, af); });
}

WEFT_EXPORT hostent* gethostbyaddr(const void* addr, socklen_t len, int type) {
  auto real = WEFT_REAL(gethostbyaddr);
  if (real == nullptr) return nullptr;
  return offload(Sym::gethostbyaddr, [&] { return real(addr, len, type); });
}

WEFT_EXPORT int gethostbyname_r(const char* name, hostent* ret, char* buf, size_t buflen,
                                hostent** result, int* h_errnop) {
  auto real = WEFT_REAL(gethostbyname_r);
  if (real == nullptr) return ENOSYS;
  return offload(Sym::gethostbyname_r,
                 [&] { return real(name, ret, buf, buflen, result, h_errnop); });
}

WEFT_EXPORT int gethostbyname2_r(const char* name, int af, hostent* ret, char* buf, size_t buflen,
                                 hostent** result, int* h_errnop) {
  auto real = WEFT_REAL(gethostbyname2_r);
  if (real == nullptr) return ENOSYS;
  return offload(Sym::gethostbyname2_r,
                 [&] { return real(name, af, ret, buf, buflen, result, h_errnop); });
}

WEFT_EXPORT int gethostbyaddr_r(const void* addr, socklen_t len, int type, hostent* ret, char* buf,
                                size_t buflen, hostent** result, int* h_errnop) {
  auto real = WEFT_REAL(gethostbyaddr_r);
  if (real == nullptr) return ENOSYS;
  return offload(Sym::gethostbyaddr_r,
                 [&] { return real(addr, len, type, ret, buf, buflen, result, h_errnop); });
}

}  // extern "C"
