# The two commands of the README, and the build steps under them.
#   make demo   installs what is missing, builds, runs the main job
#   make test   installs what is missing, builds, runs every test
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 60

.PHONY: all setup build test test-gpu demo bench asan tsan fuzz clean

all: build

setup:
	@scripts/setup.sh

# Configuring every time is cheap and makes CMAKE_FLAGS (CI's -Werror) take
# effect on an existing build folder too.
build: setup
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE gpu

# GPU tests only; run on the GPU machine (they skip with a reason elsewhere).
test-gpu: build
	cd $(BUILD) && ctest --output-on-failure -L gpu

demo: build
	@scripts/demo.sh $(BUILD)

bench: build
	@bench/cpu_vs_onnxruntime.sh $(BUILD)

# The unit tests under AddressSanitizer and UBSan, in their own build folder.
asan: setup
	cmake -S . -B build-asan -DCARAVEL_ASAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build-asan -j $(JOBS) -- --no-print-directory
	cd build-asan && ctest --output-on-failure -j $(JOBS) -LE gpu

# The scheduler's tests (label sched) under ThreadSanitizer, CPU only.
tsan: setup
	cmake -S . -B build-tsan -DCARAVEL_TSAN=ON -DCARAVEL_CUDA=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build-tsan -j $(JOBS) -- --no-print-directory
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --output-on-failure -L sched

# The libFuzzer targets (tests/fuzz/), built with clang, AddressSanitizer and
# UBSan in build-fuzz/, each run FUZZ_SECONDS from the seeds in ../shared and
# the committed corpus, one after the other; a crash is written to
# build-fuzz/crashes/<target>/ and named on the way out (scripts/fuzz.sh).
fuzz: setup
	@FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) scripts/fuzz.sh run

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
