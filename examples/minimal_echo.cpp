// The README's example: an echo server on port 7000, one fiber per connection.
#include <netinet/in.h>
#include <sys/socket.h>
#include <weft/weft.hpp>

int main() {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{AF_INET, htons(7000), {htonl(INADDR_LOOPBACK)}, {}};
  bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  listen(lfd, 4096);
  weft::run([&] {
    for (int fd; (fd = weft::accept(lfd)) >= 0;) {
      weft::spawn([fd] {
        char buf[4096];
        for (ssize_t n; (n = weft::recv(fd, buf, sizeof buf)) > 0;)
          if (weft::write_all(fd, buf, n) < 0) break;
        weft::close(fd);
      }).detach();
    }
  });
}
