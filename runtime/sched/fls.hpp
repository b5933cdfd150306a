// fls: fiber-local storage, the slots behind weft::FiberLocal and the shim's pthread_key_*.
//
// Model: pthread keys, per fiber. A key is a small process-wide integer (at most kFlsKeys, like
// PTHREAD_KEYS_MAX) with an optional C destructor. Each fiber has its own array of slots, one
// per key, allocated on its first fls_set() and hung off FiberControl::fls_; a fiber that never
// uses one pays nothing. The arrays are weft memory (base/memory.hpp), never the program's malloc:
// an allocator calls pthread_setspecific while it sets a thread up, and the shim's hook for it
// lands here. Off a fiber the calling thread has its own array instead (freed, with
// the destructors run, when the thread exits, through a libc key), so pthread_getspecific keeps
// working on threads that are no fibers.
//
// Stale values: every key carries a generation (odd while the key exists); a slot remembers the
// generation it was set under, so after fls_delete() and a new fls_create() reusing the number, a
// fiber's old value reads as null and its old destructor is not called (POSIX: deleting a key
// calls no destructor; the values it held are the program's to free).
//
// Destructors follow pthread's exit semantics: run_destructors() takes every non-null value whose
// key has a destructor, sets the slot to null, calls the destructor; values set again meanwhile
// are handled in another round, at most kFlsDestructorIterations rounds
// (PTHREAD_DESTRUCTOR_ITERATIONS); what is left after that is dropped. They run on the finishing
// fiber itself (Carrier::finish), so they may use weft calls and FiberLocals.
//
// Locking: the key table is shared and guarded by an rt::Lock for create/delete; lookups read a
// key's generation with one atomic load. A fiber's slots are touched only by that fiber.
#pragma once

#include "fiber/fiber_control.hpp"

namespace weft::rt {

// kFlsKeys is how many keys may exist at once (PTHREAD_KEYS_MAX).
inline constexpr int kFlsKeys = 1024;
// kFlsDestructorIterations is how many destructor rounds run at exit
// (PTHREAD_DESTRUCTOR_ITERATIONS).
inline constexpr int kFlsDestructorIterations = 4;

// fls_create() makes a key with an optional destructor; returns it, or -EAGAIN if none is free.
int fls_create(void (*dtor)(void*)) noexcept;
// fls_delete() frees a key without calling any destructor; returns 0 or -EINVAL.
int fls_delete(int key) noexcept;
// fls_get() returns the caller's value for key (the fiber's, or the thread's off a fiber), or
// null if unset or the key is invalid.
void* fls_get(int key) noexcept;
// fls_set() sets the caller's value for key; returns 0, -EINVAL for an invalid key, or -ENOMEM.
int fls_set(int key, const void* value) noexcept;
// fls_get_thread() is fls_get() for the value of the thread whose __thread data the caller
// sees: the OS thread's on a fiber that shares its carrier's TLS, the fiber's on one with its own
// glibc thread (the shim gives the program's malloc the values that go with its __thread data).
void* fls_get_thread(int key) noexcept;
// fls_set_thread() is fls_set() for the same thread's value as fls_get_thread().
int fls_set_thread(int key, const void* value) noexcept;
// fls_owner() is the running fiber's owner word, or nullptr (unset, or off a fiber): one pointer
// kept outside the keys for a layer that gives fibers an identity (the shim's thread records), so
// it is there while the keys' destructors run, and costs one load to read.
void* fls_owner() noexcept;
// fls_set_owner() sets the running fiber's owner word; the caller must be on a fiber.
void fls_set_owner(void* owner) noexcept;
// fls_after_fork_child() frees the key table's lock in a forked child, where the thread that
// may have held it does not exist.
void fls_after_fork_child() noexcept;
// fls_run_destructors() runs the destructors of f's values and frees its slots; f must be the
// running fiber.
void fls_run_destructors(FiberControl* f) noexcept;
// fiber_exit_storage() runs everything a thread's exit runs for f's storage, in glibc's order:
// the C++ thread_local destructors of its own glibc thread (if it has one), its keys'
// destructors, then glibc's keys and per-thread caches; f must be the running fiber. A second
// call does nothing, so a layer that must finish this before the fiber counts as ended (the
// shim, before joiners wake) calls it first and Carrier::finish() again.
void fiber_exit_storage(FiberControl* f) noexcept;

}  // namespace weft::rt
