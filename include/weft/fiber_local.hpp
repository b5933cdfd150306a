// Fiber-local storage: a variable with one value per fiber, like thread_local is per thread.
//
// Each fiber sees its own value, created on the fiber's first get() (default-constructed, or
// from the initializer given to the constructor) and destroyed when the fiber finishes, on the
// fiber itself, so a destructor may still make weft calls. Code that runs on no fiber (before or
// after weft::run(), on a blocking() helper thread, on any other thread) gets one value per
// thread instead, destroyed when that thread exits. Up to 1024 FiberLocals (and, under the shim,
// pthread keys) may exist at once.
#pragma once

#include <functional>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

namespace weft {

namespace detail {
// fls_create makes a process-wide key with a destructor; returns it or -EAGAIN.
int fls_create(void (*dtor)(void*)) noexcept;
// fls_delete frees a key without calling destructors; returns 0 or -EINVAL.
int fls_delete(int key) noexcept;
// fls_get returns the calling fiber's (or thread's) value for key, or null.
void* fls_get(int key) noexcept;
// fls_set sets the calling fiber's (or thread's) value for key; returns 0 or -errno.
int fls_set(int key, const void* value) noexcept;
}  // namespace detail

// FiberLocal holds one T per fiber (one per thread off a fiber). It must outlive the fibers that
// use it, as a global or a variable around weft::run() does: its destructor destroys only the
// caller's own value, and values other fibers or threads still hold are then leaked.
template <class T>
class FiberLocal {
 public:
  // FiberLocal() makes a variable whose value is default-constructed in each fiber on first use;
  // throws std::system_error when all keys are taken.
  template <class U = T, class = std::enable_if_t<std::is_default_constructible_v<U>>>
  FiberLocal() : key_(make_key()) {}
  // FiberLocal(init) makes a variable whose value is init() in each fiber on first use; throws
  // std::system_error when all keys are taken.
  template <class Init, class = std::enable_if_t<std::is_invocable_r_v<T, Init&>>>
  explicit FiberLocal(Init init) : init_(std::move(init)), key_(make_key()) {}
  // ~FiberLocal() destroys the caller's value and frees the key.
  ~FiberLocal() {
    reset();
    detail::fls_delete(key_);
  }
  FiberLocal(const FiberLocal&) = delete;
  FiberLocal& operator=(const FiberLocal&) = delete;

  // get() returns the calling fiber's value, creating it on first use.
  T& get() {
    if (void* p = detail::fls_get(key_)) return *static_cast<T*>(p);
    return make();
  }
  // operator*() returns get().
  T& operator*() { return get(); }
  // operator->() returns &get().
  T* operator->() { return &get(); }
  // has_value() tells whether the calling fiber has created its value yet.
  bool has_value() const noexcept { return detail::fls_get(key_) != nullptr; }
  // reset() destroys the calling fiber's value; the next get() creates a new one.
  void reset() noexcept {
    if (void* p = detail::fls_get(key_)) {
      detail::fls_set(key_, nullptr);
      destroy(p);
    }
  }

 private:
  static void destroy(void* p) noexcept { delete static_cast<T*>(p); }
  static int make_key() {
    int key = detail::fls_create(&destroy);
    if (key < 0) throw std::system_error(-key, std::generic_category(), "weft::FiberLocal");
    return key;
  }
  T& make() {
    std::unique_ptr<T> value;
    if constexpr (std::is_default_constructible_v<T>) {
      value.reset(init_ ? new T(init_()) : new T());
    } else {
      value.reset(new T(init_()));
    }
    int r = detail::fls_set(key_, value.get());
    if (r < 0) throw std::system_error(-r, std::generic_category(), "weft::FiberLocal");
    return *value.release();
  }

  std::function<T()> init_;
  int key_;
};

}  // namespace weft
