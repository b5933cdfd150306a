// Fiber-aware I/O on regular files: pread/pwrite at offsets, read/write at the file position,
// EOF, an 8 MiB file written by concurrent fibers, error mapping, and calls off a fiber.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <weft/weft.hpp>

#include "support.hpp"

namespace {

// TempFile is an anonymous read-write file in /tmp (O_TMPFILE, or mkstemp + unlink).
struct TempFile {
  int fd = -1;
  TempFile() {
    fd = ::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
      char path[] = "/tmp/weft-test-XXXXXX";
      fd = ::mkostemp(path, O_CLOEXEC);
      if (fd >= 0) ::unlink(path);
    }
  }
  ~TempFile() {
    if (fd >= 0) ::close(fd);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
};

// fnv1a is a checksum of n bytes at p.
std::uint64_t fnv1a(const unsigned char* p, std::size_t n) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

TEST(FileIo, PwritePreadAtOffsets) {
  TempFile t;
  ASSERT_GE(t.fd, 0);
  weft_test::run([&] {
    EXPECT_EQ(weft::pwrite(t.fd, "world", 5, 100), 5);
    EXPECT_EQ(weft::pwrite(t.fd, "hello", 5, 0), 5);
    struct stat st {};
    ASSERT_EQ(::fstat(t.fd, &st), 0);
    EXPECT_EQ(st.st_size, 105);
    char buf[8] = {};
    EXPECT_EQ(weft::pread(t.fd, buf, 5, 100), 5);
    EXPECT_EQ(std::string(buf, 5), "world");
    EXPECT_EQ(weft::pread(t.fd, buf, 5, 0), 5);
    EXPECT_EQ(std::string(buf, 5), "hello");
    // The hole reads back as zeros.
    EXPECT_EQ(weft::pread(t.fd, buf, 8, 50), 8);
    EXPECT_EQ(std::string(buf, 8), std::string(8, '\0'));
    // Short read at the end, 0 past it.
    EXPECT_EQ(weft::pread(t.fd, buf, 8, 102), 3);
    EXPECT_EQ(weft::pread(t.fd, buf, 8, 105), 0);
    EXPECT_EQ(weft::pread(t.fd, buf, 8, 1 << 20), 0);
    // None of this moved the file position.
    EXPECT_EQ(::lseek(t.fd, 0, SEEK_CUR), 0);
  });
}

TEST(FileIo, ReadsOfAFileOutOfThePageCacheAreWhole) {
  // Natively a read of a regular file comes back short only at its end. With the page cache
  // dropped, a non-blocking attempt (epoll's RWF_NOWAIT) stops at the first page not read in yet.
  TempFile t;
  ASSERT_GE(t.fd, 0);
  constexpr std::size_t kSize = 16 << 20;
  std::vector<unsigned char> data(kSize);
  for (std::size_t i = 0; i < kSize; ++i) data[i] = static_cast<unsigned char>((i * 131) >> 7);
  ASSERT_EQ(::pwrite(t.fd, data.data(), kSize, 0), static_cast<ssize_t>(kSize));
  ASSERT_EQ(::fdatasync(t.fd), 0);
  int short_preads = 0, short_reads = 0, wrong = 0;
  weft_test::run([&] {
    std::vector<unsigned char> buf(10000);
    for (int pass = 0; pass < 3; ++pass) {
      ::posix_fadvise(t.fd, 0, 0, POSIX_FADV_DONTNEED);
      constexpr std::size_t kChunk = 6688;  // not a whole number of pages
      for (std::size_t off = 0; off + kChunk <= kSize; off += kChunk) {
        ssize_t n = weft::pread(t.fd, buf.data(), kChunk, static_cast<off_t>(off));
        if (n != static_cast<ssize_t>(kChunk)) ++short_preads;
        if (n > 0 && std::memcmp(buf.data(), &data[off], static_cast<std::size_t>(n)) != 0) ++wrong;
      }
      ::posix_fadvise(t.fd, 0, 0, POSIX_FADV_DONTNEED);
      ASSERT_EQ(::lseek(t.fd, 0, SEEK_SET), 0);
      for (std::size_t off = 0; off + buf.size() <= kSize; off += buf.size()) {
        ssize_t n = weft::read(t.fd, buf.data(), buf.size());
        if (n != static_cast<ssize_t>(buf.size())) ++short_reads;
        if (n > 0 && std::memcmp(buf.data(), &data[off], static_cast<std::size_t>(n)) != 0) ++wrong;
        if (n != static_cast<ssize_t>(buf.size()))
          ASSERT_EQ(::lseek(t.fd, off + buf.size(), SEEK_SET),
                    static_cast<off_t>(off + buf.size()));
      }
    }
  });
  EXPECT_EQ(short_preads, 0);
  EXPECT_EQ(short_reads, 0);
  EXPECT_EQ(wrong, 0);
}

TEST(FileIo, ReadWriteUseAndAdvanceFilePosition) {
  TempFile t;
  ASSERT_GE(t.fd, 0);
  weft_test::run([&] {
    EXPECT_EQ(weft::write(t.fd, "abc", 3), 3);
    EXPECT_EQ(weft::write(t.fd, "def", 3), 3);
    EXPECT_EQ(::lseek(t.fd, 0, SEEK_CUR), 6);
    ASSERT_EQ(::lseek(t.fd, 1, SEEK_SET), 1);
    char buf[16] = {};
    EXPECT_EQ(weft::read(t.fd, buf, 2), 2);
    EXPECT_EQ(std::string(buf, 2), "bc");
    EXPECT_EQ(::lseek(t.fd, 0, SEEK_CUR), 3);
    EXPECT_EQ(weft::read(t.fd, buf, sizeof buf), 3);  // short read: what is there
    EXPECT_EQ(std::string(buf, 3), "def");
    EXPECT_EQ(weft::read(t.fd, buf, sizeof buf), 0);  // EOF
    ASSERT_EQ(::lseek(t.fd, 0, SEEK_SET), 0);
    EXPECT_EQ(weft::read_exact(t.fd, buf, sizeof buf), 6);  // short count at EOF
    EXPECT_EQ(std::string(buf, 6), "abcdef");
  });
}

TEST(FileIo, ReadvWritevAtPosition) {
  TempFile t;
  ASSERT_GE(t.fd, 0);
  weft_test::run([&] {
    char a[] = "12", b[] = "345";
    iovec out[2] = {{a, 2}, {b, 3}};
    EXPECT_EQ(weft::writev(t.fd, out, 2), 5);
    EXPECT_EQ(::lseek(t.fd, 0, SEEK_CUR), 5);
    ASSERT_EQ(::lseek(t.fd, 0, SEEK_SET), 0);
    char x[1], y[10] = {};
    iovec in[2] = {{x, 1}, {y, sizeof y}};
    EXPECT_EQ(weft::readv(t.fd, in, 2), 5);
    EXPECT_EQ(x[0], '1');
    EXPECT_EQ(std::string(y, 4), "2345");
  });
}

TEST(FileIo, AppendMode) {
  TempFile t;
  ASSERT_GE(t.fd, 0);
  ASSERT_EQ(::pwrite(t.fd, "base", 4, 0), 4);
  int fd = ::open(("/proc/self/fd/" + std::to_string(t.fd)).c_str(), O_WRONLY | O_APPEND);
  if (fd < 0) GTEST_SKIP() << "cannot reopen the temp file for O_APPEND";
  weft_test::run([&] {
    EXPECT_EQ(weft::write(fd, "+more", 5), 5);
    char buf[16] = {};
    EXPECT_EQ(weft::pread(t.fd, buf, sizeof buf, 0), 9);
    EXPECT_EQ(std::string(buf, 9), "base+more");
  });
  ::close(fd);
}

TEST(FileIo, EightMiBWrittenConcurrentlyThenReadBack) {
  constexpr std::size_t kBytes = 8u << 20;
  constexpr std::size_t kChunk = 128u << 10;
  TempFile t;
  ASSERT_GE(t.fd, 0);
  std::vector<unsigned char> data(kBytes);
  std::uint32_t x = 12345;
  for (auto& b : data) {
    x = x * 1103515245u + 12345u;
    b = static_cast<unsigned char>(x >> 16);
  }
  std::vector<unsigned char> back(kBytes, 0);
  weft_test::run([&] {
    // 16 fibers each pwrite every 16th chunk, so writes land out of order.
    std::vector<weft::Fiber<bool>> writers;
    for (std::size_t w = 0; w < 16; ++w) {
      writers.push_back(weft::spawn([&, w] {
        for (std::size_t off = w * kChunk; off < kBytes; off += 16 * kChunk) {
          std::size_t done = 0;
          while (done < kChunk) {
            ssize_t n = weft::pwrite(t.fd, data.data() + off + done, kChunk - done,
                                     static_cast<off_t>(off + done));
            if (n <= 0) return false;
            done += static_cast<std::size_t>(n);
          }
        }
        return true;
      }));
    }
    for (auto& w : writers) EXPECT_TRUE(w.join());
    ASSERT_EQ(::lseek(t.fd, 0, SEEK_SET), 0);
    EXPECT_EQ(weft::read_exact(t.fd, back.data(), kBytes), static_cast<ssize_t>(kBytes));
    char extra;
    EXPECT_EQ(weft::read(t.fd, &extra, 1), 0);
  });
  EXPECT_EQ(fnv1a(back.data(), kBytes), fnv1a(data.data(), kBytes));
  EXPECT_TRUE(back == data);
}

TEST(FileIo, WriteAllThenPreadFromManyFibers) {
  constexpr std::size_t kBytes = 4u << 20;
  TempFile t;
  ASSERT_GE(t.fd, 0);
  std::vector<unsigned char> data(kBytes);
  for (std::size_t i = 0; i < kBytes; ++i) data[i] = static_cast<unsigned char>(i * 31 + i / 977);
  weft_test::run([&] {
    ASSERT_EQ(weft::write_all(t.fd, data.data(), kBytes), static_cast<ssize_t>(kBytes));
    EXPECT_EQ(::lseek(t.fd, 0, SEEK_CUR), static_cast<off_t>(kBytes));
    std::vector<weft::Fiber<bool>> readers;
    for (int r = 0; r < 32; ++r) {
      readers.push_back(weft::spawn([&, r] {
        std::size_t off = static_cast<std::size_t>(r) * 99991 % (kBytes - 4096);
        unsigned char buf[4096];
        if (weft::pread(t.fd, buf, sizeof buf, static_cast<off_t>(off)) != 4096) return false;
        return std::equal(buf, buf + 4096, data.begin() + static_cast<std::ptrdiff_t>(off));
      }));
    }
    for (auto& r : readers) EXPECT_TRUE(r.join());
  });
}

TEST(FileIo, ErrorsAreNegativeErrno) {
  TempFile t;
  ASSERT_GE(t.fd, 0);
  int ro = ::open(("/proc/self/fd/" + std::to_string(t.fd)).c_str(), O_RDONLY | O_CLOEXEC);
  weft_test::run([&] {
    char buf[4] = {};
    if (ro >= 0) {
      EXPECT_EQ(weft::write(ro, "x", 1), -EBADF);
      EXPECT_EQ(weft::pwrite(ro, "x", 1, 0), -EBADF);
    }
    EXPECT_EQ(weft::pread(t.fd, buf, sizeof buf, -2), -EINVAL);
    EXPECT_EQ(weft::pread(-1, buf, sizeof buf, 0), -EBADF);
    EXPECT_EQ(weft::pwrite(-1, buf, sizeof buf, 0), -EBADF);
    int dir = ::open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(dir, 0);
    EXPECT_EQ(weft::read(dir, buf, sizeof buf), -EISDIR);
    ::close(dir);
  });
  if (ro >= 0) ::close(ro);
}

TEST(FileOffFiber, BehavesLikeSyscalls) {
  TempFile t;
  ASSERT_GE(t.fd, 0);
  EXPECT_EQ(weft::pwrite(t.fd, "offfiber", 8, 10), 8);
  char buf[16] = {};
  EXPECT_EQ(weft::pread(t.fd, buf, 8, 10), 8);
  EXPECT_EQ(std::string(buf, 8), "offfiber");
  EXPECT_EQ(::lseek(t.fd, 0, SEEK_CUR), 0);
  EXPECT_EQ(weft::write(t.fd, "ab", 2), 2);
  EXPECT_EQ(::lseek(t.fd, 0, SEEK_CUR), 2);
  ASSERT_EQ(::lseek(t.fd, 0, SEEK_SET), 0);
  EXPECT_EQ(weft::read_exact(t.fd, buf, sizeof buf), 16);
  EXPECT_EQ(weft::read(t.fd, buf, sizeof buf), 2);  // 18 bytes in total
  EXPECT_EQ(weft::read(t.fd, buf, sizeof buf), 0);
  EXPECT_EQ(weft::pread(-1, buf, 1, 0), -EBADF);
}

}  // namespace
