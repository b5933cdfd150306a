// LatencyHistogram: a fixed-size log-linear histogram of nanosecond latencies, HDR-style.
//
// Values below 2^kSubBits are counted exactly; above, each power of two is split into
// 2^kSubBits equal buckets, so a reported percentile is within 1/128 (0.8%) of the true value
// at any scale, in 58 KiB of counters whatever the run length. Keeping every sample instead
// would cost memory and cache in proportion to throughput, and slow the client it measures.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace bench {

class LatencyHistogram {
 public:
  // record() counts one latency of ns nanoseconds.
  void record(std::uint64_t ns) noexcept {
    ++counts_[index_of(ns)];
    ++count_;
    sum_ += ns;
    if (ns > max_) max_ = ns;
  }

  // merge() adds other's counts to this histogram.
  void merge(const LatencyHistogram& other) noexcept {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    if (other.max_ > max_) max_ = other.max_;
  }

  // count() returns how many latencies were recorded.
  std::uint64_t count() const noexcept { return count_; }
  // max() returns the largest latency recorded, exactly.
  std::uint64_t max() const noexcept { return max_; }
  // mean() returns the exact mean, or 0 when empty.
  double mean() const noexcept { return count_ ? double(sum_) / double(count_) : 0.0; }

  // percentile() returns the latency that q (0..1) of the samples do not exceed, as the middle
  // of its bucket (never above max()), or 0 when empty.
  std::uint64_t percentile(double q) const noexcept {
    if (count_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * double(count_) + 0.999999);
    if (rank == 0) rank = 1;
    if (rank > count_) rank = count_;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        std::uint64_t mid = lower_bound_of(i) + width_of(i) / 2;
        return mid < max_ ? mid : max_;
      }
    }
    return max_;
  }

 private:
  static constexpr unsigned kSubBits = 7;
  static constexpr std::uint64_t kSub = std::uint64_t{1} << kSubBits;
  // kBuckets covers the exact range plus kSub buckets for each octave from 2^kSubBits to 2^64.
  static constexpr std::size_t kBuckets = kSub + (64 - kSubBits) * kSub;

  static std::size_t index_of(std::uint64_t v) noexcept {
    if (v < kSub) return static_cast<std::size_t>(v);
    unsigned octave = 63 - static_cast<unsigned>(std::countl_zero(v));  // >= kSubBits
    unsigned shift = octave - kSubBits;
    std::uint64_t sub = (v >> shift) - kSub;  // 0 .. kSub-1
    return static_cast<std::size_t>(kSub + shift * kSub + sub);
  }
  static std::uint64_t lower_bound_of(std::size_t i) noexcept {
    if (i < kSub) return i;
    std::size_t shift = (i - kSub) / kSub;
    std::uint64_t sub = (i - kSub) % kSub;
    return (kSub + sub) << shift;
  }
  static std::uint64_t width_of(std::size_t i) noexcept {
    return i < kSub ? 1 : std::uint64_t{1} << ((i - kSub) / kSub);
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace bench
