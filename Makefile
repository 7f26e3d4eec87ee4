# Everyday verbs.  `make demo` and `make test` are the two commands of the
# README; CI runs `make test` after .ci/run has installed what it needs.
PYTHON ?= python3
BUILD ?= build
CROSS_AARCH64 := tests/c/cross/aarch64-linux-gnu.ini
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1

RUFF ?= ruff
C_SOURCES = src/core/*.[ch] src/binding/*.[ch] src/report/*.[ch] tests/c/*.[ch]
PY_SOURCES = src tests benchmarks scripts

.PHONY: all demo test test-c test-c-asan test-c-aarch64 test-py fp-python lint format clean

all: test-c

demo:
	scripts/demo.sh

test: test-c test-c-asan test-c-aarch64 test-py

# C unit tests of the core, natively, under ASan/UBSan, and for aarch64 under
# qemu-user.  The ASan build also has the test-only "test_map" backend, so
# the table of backends is tested both with and without it.
test-c:
	@[ -d $(BUILD)/c ] || meson setup $(BUILD)/c -Dpython=false -Dtests=true
	meson test -C $(BUILD)/c --print-errorlogs

test-c-asan:
	@[ -d $(BUILD)/c-asan ] || meson setup $(BUILD)/c-asan -Dpython=false -Dtests=true -Dtest_backend=true \
		-Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
	meson test -C $(BUILD)/c-asan --print-errorlogs

test-c-aarch64:
	@if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then \
		echo "SKIPPED test-c-aarch64: needs gcc-aarch64-linux-gnu and qemu-user-static (CI installs them)"; \
	else \
		[ -d $(BUILD)/c-aarch64 ] || meson setup $(BUILD)/c-aarch64 --cross-file $(CROSS_AARCH64) \
			-Dpython=false -Dtests=true; \
		meson test -C $(BUILD)/c-aarch64 --print-errorlogs; \
	fi

# pytest over every CPython >= 3.8 on the machine, each in its own venv.
test-py:
	$(PYTHON) -m pytest tests/python -ra

fp-python:
	scripts/build-fp-python.sh

# Checks only: C against .clang-format, Python against pyproject's [tool.ruff].
# Both always run; either failing fails the target.
lint:
	@rc=0; \
	clang-format --dry-run --Werror $(C_SOURCES) || rc=1; \
	$(RUFF) check $(PY_SOURCES) || rc=1; \
	exit $$rc

format:
	clang-format -i $(C_SOURCES)

clean:
	rm -rf $(BUILD)
