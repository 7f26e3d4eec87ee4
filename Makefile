# Everyday verbs.  The README's commands: `make demo`; `make check`, the
# few-minute check of a change; `make test`, every test, which first installs
# and builds what it needs (scripts/prepare.sh) and is all CI runs (.ci/run).
BUILD ?= build
# `make tools` makes this venv of the build and test tools (meson >= 1.1,
# ninja, pytest, ruff, mypy); when it is there, make uses it first.
TOOLS := $(BUILD)/tools
# (whether PYTHON was given, before it gets its default: see `test`)
PYTHON_ORIGIN := $(origin PYTHON)
ifneq ($(wildcard $(TOOLS)/bin/python),)
export PATH := $(abspath $(TOOLS))/bin:$(PATH)
PYTHON ?= $(abspath $(TOOLS))/bin/python
endif
PYTHON ?= python3
export PYTHON
CHECK_TOOLS := scripts/check-tools.sh
CROSS_AARCH64 := tests/c/cross/aarch64-linux-gnu.ini
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=1
PYTEST_ARGS ?= tests/python
# A good neighbour: pytest keeps the temporary directories of failed tests
# only (its default keeps three whole runs in /tmp/pytest-of-USER, gigabytes
# of recordings here).
PYTEST_FLAGS := -ra -o tmp_path_retention_policy=failed
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1

RUFF ?= ruff
C_SOURCES = src/core/*.[ch] src/binding/*.[ch] src/perftramp/include/*.h src/report/*.[ch] tests/c/*.[ch] tests/c/fuzz/*.c
PY_SOURCES = src tests benchmarks scripts examples

.PHONY: all tools demo check prepare test test-matrix test-c test-c-asan test-c-aarch64 test-py test-py-sid test-py-oci \
	test-py-perf7 test-stress-asan test-stress-tsan fuzz fp-python py314 sid-root lint format clean

all: test-c

# Installed again only when this Makefile changes (the list below may have).
tools: $(TOOLS)/.installed
$(TOOLS)/.installed: Makefile
	[ -x $(TOOLS)/bin/python ] || python3 -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check \
		"meson>=1.1" ninja "meson-python>=0.17" pytest ruff mypy
	touch $@

demo:
	scripts/demo.sh

# The pyenv CPythons here, oldest first (check's interpreter, the stress test's).
PYENV_PYTHONS := $(shell ls -d /root/.pyenv/versions/3.*/bin/python3 2>/dev/null | sort -V)

# The check of a change: lint, the C unit tests, and pytest on one
# interpreter with the host's perf, without the tests marked slow (the
# forked-worker and server matrix and the stress run, which `make test`
# runs); under 3 minutes on 2 cores.  CHECK_PYTHON: the newest pyenv CPython
# here, else python3.
CHECK_PYTHON ?= $(or $(lastword $(PYENV_PYTHONS)),$(shell command -v python3))
check: lint test-c
	@$(CHECK_TOOLS) pytest perf
	PERFTRAMP_PYTHONS=$(CHECK_PYTHON) $(PYTHON) -m pytest $(PYTEST_FLAGS) -m "not slow" $(PYTEST_ARGS)

# What `make test` needs, installed or built where missing (Debian packages,
# build/tools, the frame-pointer CPythons, the sid root, CPython's test
# file); a no-op, without root, when everything is there.
prepare:
	scripts/prepare.sh

# Every test, on a machine prepared first.  The matrix runs in a make of its
# own, which sees the build/tools that prepare may just have made (and,
# unless PYTHON was given, takes its python).
test: prepare
	$(if $(filter undefined,$(PYTHON_ORIGIN)),env -u PYTHON )$(MAKE) --no-print-directory test-matrix

# lint, then every test; pytest last (the host's interpreters, then the sid
# root's), so that its summary closes the output.
test-matrix: lint test-c test-c-asan test-c-aarch64 fuzz test-stress-asan test-stress-tsan test-py \
	test-py-sid test-py-oci test-py-perf7

# C unit tests of the core, natively, under ASan/UBSan, and for aarch64 under
# qemu-user.  The ASan build also has the test-only "test_map" backend, so
# the table of backends is tested both with and without it.
test-c:
	@$(CHECK_TOOLS) meson ninja
	@[ -d $(BUILD)/c ] || meson setup $(BUILD)/c -Dpython=false -Dtests=true
	meson test -C $(BUILD)/c --print-errorlogs

test-c-asan:
	@$(CHECK_TOOLS) meson ninja
	@[ -d $(BUILD)/c-asan ] || meson setup $(BUILD)/c-asan -Dpython=false -Dtests=true -Dtest_backend=true \
		-Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
	meson test -C $(BUILD)/c-asan --print-errorlogs

test-c-aarch64:
	@if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then \
		echo "SKIPPED test-c-aarch64: needs gcc-aarch64-linux-gnu and qemu-user-static (make prepare installs them)"; \
	else \
		[ -d $(BUILD)/c-aarch64 ] || meson setup $(BUILD)/c-aarch64 --cross-file $(CROSS_AARCH64) \
			-Dpython=false -Dtests=true; \
		meson test -C $(BUILD)/c-aarch64 --print-errorlogs; \
	fi

# pytest over every CPython >= 3.8 on the machine, each in its own venv
# (the real container runtime's tests apart: test-py-oci).
test-py:
	@$(CHECK_TOOLS) pytest perf
	$(PYTHON) -m pytest $(PYTEST_FLAGS) --ignore=tests/python/test_oci.py $(PYTEST_ARGS)

# A real container runtime (crun) whose containers' root filesystem is the
# sid root: after test-py-sid, which makes the sid root's venvs and the work
# tree's mount point in it; with the sid root's perf 7.x bundled for the host
# (sid's own python3.14 is unwound by perf 7.x only).
test-py-oci:
	@$(CHECK_TOOLS) pytest perf
	@if [ -f $(SID_ROOT)/.perftramp-sid ]; then scripts/perf-bundle.sh --from $(SID_ROOT) $(SID_PERF); fi
	$(PYTHON) -m pytest $(PYTEST_FLAGS) tests/python/test_oci.py

# The same suite inside the Debian sid root (scripts/debian-sid-root.sh):
# its python3.14 and python3.15 and the free-threaded 3.14t of
# scripts/build-python314.sh (mounted in), with the root's perf 7.x; then the
# end-to-end tests again with the host's perf 6.1 (scripts/perf-bundle.sh),
# so that 3.15 meets both perfs.  pytest runs from a venv of the root's
# python3.14 kept in build/sid-tools; PYTEST_ARGS narrows the first pass,
# SID_PERF61_TESTS the second.
# /tmp there is build/sid-tmp, private to the run: a test run elsewhere on
# the machine that tidies /tmp/perf-*.map cannot take our maps away.
SID_TOOLS := $(BUILD)/sid-tools
SID_ROOT ?= /opt/perftramp-sid
PY314_PREFIX ?= /opt/perftramp-py314
HOST_PERF := $(BUILD)/host-perf
SID_PERF61_TESTS ?= tests/python/test_perf_e2e.py tests/python/test_cli.py tests/python/test_fork_matrix.py \
	-k "chain or perf_e2e or plain_perf"
# CPython's source tarball beside the repository, for the conformance suite
# (tests/python/test_cpython_perf_suite.py), is mounted in too.
SHARED_CPYTHON := $(abspath $(CURDIR)/../shared/cpython)
SID_RUN = PERFTRAMP_SID_ROOT=$(SID_ROOT) PERFTRAMP_SID_TMP=$(CURDIR)/$(BUILD)/sid-tmp \
	PERFTRAMP_SID_BIND=$(wildcard $(PY314_PREFIX)):$(wildcard $(SHARED_CPYTHON)) \
	PERFTRAMP_PY314_PREFIX=$(PY314_PREFIX) scripts/in-sid.sh
test-py-sid:
	@if [ ! -f $(SID_ROOT)/.perftramp-sid ]; then \
		echo "SKIPPED test-py-sid: no Debian sid root in $(SID_ROOT) (scripts/debian-sid-root.sh; make prepare makes it)"; \
	else \
		rm -rf $(BUILD)/sid-tmp && \
		$(SID_RUN) sh -c \
			'[ -x $(SID_TOOLS)/bin/pytest ] || \
			{ python3.14 -m venv $(SID_TOOLS) && $(SID_TOOLS)/bin/pip install -q pytest; } && \
			$(SID_TOOLS)/bin/python -m pytest $(PYTEST_FLAGS) $(PYTEST_ARGS)' && \
		echo "test-py-sid: the end-to-end tests again, with the host's perf (scripts/perf-bundle.sh)" && \
		scripts/perf-bundle.sh $(HOST_PERF) && \
		rm -rf $(BUILD)/sid-tmp && \
		$(SID_RUN) sh -c 'PATH=$(CURDIR)/$(HOST_PERF)/bin:$$PATH; perf version && \
			$(SID_TOOLS)/bin/python -m pytest $(PYTEST_FLAGS) $(SID_PERF61_TESTS)'; \
	fi

# The host's interpreters (3.8-3.13, the system's, the frame-pointer builds)
# with the sid root's perf 7.x (scripts/perf-bundle.sh --from), which they
# meet nowhere else: CPython's suite (its DWARF class needs perf >= 6.6), the
# end-to-end chains of each backend, perf_elf without inject, forked workers
# through plain perf, a worker forked after attach, a container's process
# recorded from the host (frame-pointer builds), pprof read by Go's pprof and
# the per-process views and events (perf 7's perf script output folded),
# off-CPU waits (its switch records).
# PERF7_TESTS narrows it.
SID_PERF := $(BUILD)/sid-perf
PERF7_TESTS ?= tests/python/test_cpython_perf_suite.py tests/python/test_perf_e2e.py \
	tests/python/test_elf.py tests/python/test_cli.py tests/python/test_fork_matrix.py \
	tests/python/test_attach.py tests/python/test_containers.py tests/python/test_profiles.py \
	tests/python/test_offcpu.py \
	-k "cpython_perf_suite or perf_e2e or test_elf or chain or plain_perf or forked_after_attach_unwinds \
	or (container_recorded and (fp- or ft-)) or names_containers or read_by_go_pprof \
	or per_process_views or events_per_python_function or crunch_and_wait or lock_wait"
test-py-perf7:
	@$(CHECK_TOOLS) pytest
	@if [ ! -f $(SID_ROOT)/.perftramp-sid ]; then \
		echo "SKIPPED test-py-perf7: no Debian sid root in $(SID_ROOT) (scripts/debian-sid-root.sh; make prepare makes it)"; \
	else \
		scripts/perf-bundle.sh --from $(SID_ROOT) $(SID_PERF) && \
		PATH=$(CURDIR)/$(SID_PERF)/bin:$$PATH && perf version && \
		$(PYTHON) -m pytest $(PYTEST_FLAGS) $(PERF7_TESTS); \
	fi

# The stress workload (tests/python/stress.py) against the extension built
# with AddressSanitizer + UBSan on the oldest and newest CPython here, and
# with ThreadSanitizer on the newest and on the free-threaded 3.14t when
# there is one (scripts/build-python314.sh; make prepare builds it) (scripts/
# stress-sanitized.sh: options, venvs in build/venvs-asan and
# build/venvs-tsan, tests/tsan.supp).
STRESS_SECONDS ?= 15
STRESS_NEWEST := $(lastword $(PYENV_PYTHONS))
STRESS_OLDEST := $(firstword $(foreach p,$(PYENV_PYTHONS),$(if $(findstring /3.8.,$(p)),$(p))))
ASAN_STRESS_PYTHONS ?= $(or $(strip $(STRESS_NEWEST) $(STRESS_OLDEST)),$(PYTHON))
FT_PYTHON ?= /opt/perftramp-py314/ft/bin/python3.14t
TSAN_STRESS_PYTHON ?= $(or $(STRESS_NEWEST),$(PYTHON)) $(wildcard $(FT_PYTHON))
test-stress-asan:
	scripts/stress-sanitized.sh asan $(STRESS_SECONDS) $(ASAN_STRESS_PYTHONS)

test-stress-tsan:
	scripts/stress-sanitized.sh tsan $(STRESS_SECONDS) $(TSAN_STRESS_PYTHON)

# libFuzzer targets (tests/c/fuzz/) under ASan/UBSan, each run for
# FUZZ_SECONDS (seven targets: under 5 minutes); needs clang and its runtime
# (Debian: clang libclang-rt-14-dev).
# Corpora stay in build/fuzz/ between runs; a crash leaves its input there.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 40
FUZZ_ARCH := $(shell uname -m)
FUZZ_FLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Isrc/core -Isrc/report
FUZZ_WRITERS_SRC := src/core/perfmap.c src/core/jitdump.c src/core/outfile.c src/core/fileio.c \
	src/core/escape.c src/core/cfi.c src/core/stub_cfi_$(FUZZ_ARCH).c src/core/stub_$(FUZZ_ARCH).S
fuzz:
	@$(CHECK_TOOLS) clang
	mkdir -p $(BUILD)/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) tests/c/fuzz/fuzz_fold.c src/report/fold.c src/report/waits.c -o $(BUILD)/fuzz/fuzz_fold
	$(FUZZ_CC) $(FUZZ_FLAGS) tests/c/fuzz/fuzz_escape.c src/core/escape.c -o $(BUILD)/fuzz/fuzz_escape
	$(FUZZ_CC) $(FUZZ_FLAGS) tests/c/fuzz/fuzz_writers.c $(FUZZ_WRITERS_SRC) -o $(BUILD)/fuzz/fuzz_writers
	$(FUZZ_CC) $(FUZZ_FLAGS) -DPT_HAVE_ZSTD=1 tests/c/fuzz/fuzz_perfdata.c src/report/perfdata.c -lzstd -o $(BUILD)/fuzz/fuzz_perfdata
	$(FUZZ_CC) $(FUZZ_FLAGS) tests/c/fuzz/fuzz_elffile.c src/report/elffile.c -o $(BUILD)/fuzz/fuzz_elffile
	$(FUZZ_CC) $(FUZZ_FLAGS) tests/c/fuzz/fuzz_ehframe.c src/report/ehframe.c -o $(BUILD)/fuzz/fuzz_ehframe
	$(FUZZ_CC) $(FUZZ_FLAGS) -DPT_HAVE_ZLIB=1 tests/c/fuzz/fuzz_inlines.c src/report/inlines.c src/report/elffile.c -lz -o $(BUILD)/fuzz/fuzz_inlines
	# seeds: real perf.data files (one zstd-compressed) and a real executable
	mkdir -p $(BUILD)/fuzz/corpus-fuzz_perfdata $(BUILD)/fuzz/corpus-fuzz_elffile
	cp tests/c/data/perf-fp-small.data tests/c/data/perf-dwarf-z.data $(BUILD)/fuzz/corpus-fuzz_perfdata/
	cp /bin/true $(BUILD)/fuzz/corpus-fuzz_elffile/
	set -e; for t in fuzz_fold fuzz_escape fuzz_writers fuzz_perfdata fuzz_elffile fuzz_ehframe fuzz_inlines; do \
		mkdir -p $(BUILD)/fuzz/corpus-$$t; \
		(cd $(BUILD)/fuzz && ./$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 corpus-$$t); \
	done

fp-python:
	scripts/build-fp-python.sh

# The frame-pointer 3.14 and the free-threaded 3.14t, and the sid root.
py314:
	scripts/build-python314.sh

sid-root:
	scripts/debian-sid-root.sh

# Checks only: C against .clang-format; Python against pyproject's
# [tool.ruff] (with bugbear, complexity and argument counts) and
# [tool.mypy] (the typed domain layer), and scripts/check-python-shape.py
# (no function over 60 lines, no import cycle in the package, imports inside
# functions counted).  All run; any failing fails the target.
lint:
	@$(CHECK_TOOLS) clang-format ruff mypy
	@rc=0; \
	clang-format --dry-run --Werror $(C_SOURCES) || rc=1; \
	$(RUFF) check $(PY_SOURCES) || rc=1; \
	mypy || rc=1; \
	$(PYTHON) scripts/check-python-shape.py src/perftramp src/_perftramp_startup.py scripts \
		examples benchmarks tests || rc=1; \
	exit $$rc

format:
	clang-format -i $(C_SOURCES)

clean:
	rm -rf $(BUILD)
