# Makefile is the front door to weft: short names for the meson commands a newcomer needs.
# The real build lives in meson.build; nothing here compiles anything itself.
#
#   make            build into ./build (release)
#   make deps       install the Debian packages the project needs (scripts/deps.sh)
#   make test       deps + build, then the whole test suite; ends with "N passed, N failed, ..."
#   make demo       deps + build, then the echo server under load (scripts/demo.sh)
#   make bench      deps + build, then the benchmarks (bench/run.sh)
#   make soak       deps + build, then both echo servers under load and fault injection for
#                   SOAK_MINUTES (10) minutes, failing on growth (bench/soak.sh)
#   make test-asan  the test suite built with ASan + UBSan (LeakSanitizer on) in ./build-asan
#   make test-tsan  the test suite built with ThreadSanitizer in ./build-tsan
#   make install    install libweft, its headers, weft.pc, the CMake package, weftrun, its
#                   preload library and man page (DESTDIR=... is honoured; README: Installing)
#   make clean      remove ./build, ./build-asan, ./build-tsan and bench results
#
# MESON_ARGS adds options to `meson setup`, e.g. make MESON_ARGS=-Dbench=disabled. Giving it to an
# already configured build dir reconfigures that dir with them.

BUILD_DIR ?= build
MESON_ARGS ?=
# Release unless MESON_ARGS picks a build type (meson refuses to be given two).
BUILDTYPE_ARG := $(if $(findstring buildtype,$(MESON_ARGS)),,--buildtype=release)

# The steps depend on each other in order; ninja does the parallel work.
.NOTPARALLEL:
.PHONY: all build deps test test-asan test-tsan demo bench soak clean install

all: build

deps:
	@bash scripts/deps.sh

# build configures BUILD_DIR on first use, reconfigures it when MESON_ARGS are given, and
# otherwise lets ninja rerun meson by itself when a meson.build changed.
build:
	@set -e; \
	if [ ! -f "$(BUILD_DIR)/build.ninja" ]; then \
	  wipe=; [ -f "$(BUILD_DIR)/meson-private/coredata.dat" ] && wipe=--wipe; \
	  meson setup $$wipe "$(BUILD_DIR)" $(BUILDTYPE_ARG) $(MESON_ARGS) || { \
	    echo "make: meson setup failed; if a dependency is missing, run: make deps" >&2; exit 1; }; \
	elif [ -n "$(strip $(MESON_ARGS))" ]; then \
	  meson setup --reconfigure "$(BUILD_DIR)" $(MESON_ARGS); \
	fi; \
	ninja -C "$(BUILD_DIR)"

# test always ends with the summary line, even when the build breaks, so CI can read it.
test:
	@$(MAKE) --no-print-directory deps build || { \
	  echo "make test: installing dependencies or building failed (see above)" >&2; \
	  echo "0 passed, 1 failed"; exit 1; }
	@bash scripts/run_tests.sh "$(BUILD_DIR)"

# Sanitizer suites: own build dirs, LTO off (the sanitizers' instrumentation and LTO do not mix
# well), -O2 -g for readable reports. Sanitized code is slow, hence the longer timeouts
# (WEFT_TEST_TIMEOUT_MULTIPLIER in the environment overrides them). halt_on_error makes UBSan
# fail the test instead of printing and going on.
SAN_MESON_ARGS := --buildtype=debugoptimized -Db_lto=false -Dbench=disabled
ASAN_RUN_ENV := ASAN_OPTIONS=$${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=1:print_summary=1} \
  UBSAN_OPTIONS=$${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:print_summary=1} \
  WEFT_TEST_TIMEOUT_MULTIPLIER=$${WEFT_TEST_TIMEOUT_MULTIPLIER:-4}
TSAN_RUN_ENV := TSAN_OPTIONS=$${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:print_summary=1} \
  WEFT_TEST_TIMEOUT_MULTIPLIER=$${WEFT_TEST_TIMEOUT_MULTIPLIER:-10}

test-asan:
	@$(MAKE) --no-print-directory deps build BUILD_DIR=build-asan \
	  MESON_ARGS="$(SAN_MESON_ARGS) -Db_sanitize=address,undefined" || { \
	  echo "make test-asan: installing dependencies or building failed (see above)" >&2; \
	  echo "0 passed, 1 failed"; exit 1; }
	@$(ASAN_RUN_ENV) bash scripts/run_tests.sh build-asan

test-tsan:
	@$(MAKE) --no-print-directory deps build BUILD_DIR=build-tsan \
	  MESON_ARGS="$(SAN_MESON_ARGS) -Db_sanitize=thread" || { \
	  echo "make test-tsan: installing dependencies or building failed (see above)" >&2; \
	  echo "0 passed, 1 failed"; exit 1; }
	@$(TSAN_RUN_ENV) bash scripts/run_tests.sh build-tsan

demo: deps build
	@bash scripts/demo.sh "$(BUILD_DIR)"

bench: deps build
	bash bench/run.sh "$(BUILD_DIR)"

# soak: both echo servers under load and fault injection for SOAK_MINUTES (default 10).
SOAK_MINUTES ?= 10
soak: deps build
	bash bench/soak.sh "$(SOAK_MINUTES)" "$(BUILD_DIR)"

install: build
	meson install -C "$(BUILD_DIR)"

clean:
	rm -rf "$(BUILD_DIR)" build-asan build-tsan bench/out
