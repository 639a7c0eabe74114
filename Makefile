# Thin wrapper around Meson. `make` builds into build/; demo and check
# install missing Debian packages first so they work on a fresh machine.
BUILD ?= build
FUZZ_BUILD ?= build-fuzz
MESON_TEST = meson test -C $(BUILD) --print-errorlogs

.PHONY: all deps demo check check-unit check-kvm fuzz-smoke fuzz bench clean \
	qcow2-crash faults faults-smoke ping-pong-200

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

deps:
	@scripts/deps.sh

# demo and bench run the binaries in $(BUILD), passed as an absolute
# GODWIT_BUILD (the demo writes guest paths into a config godwitd reads).
demo: deps all
	GODWIT_BUILD=$(abspath $(BUILD)) scripts/demo.sh

check: deps all
	$(MESON_TEST) --suite unit --suite compat --suite kvm
	$(MAKE) fuzz-smoke

check-unit: all
	$(MESON_TEST) --suite unit

check-kvm: all
	$(MESON_TEST) --suite kvm

# The qcow2 crash campaign: QCOW2_CRASH_TRIALS per image (3 images),
# seeded by QCOW2_CRASH_SEED (`make check` runs 8 per image).
qcow2-crash: all
	$(BUILD)/tests/unit/storage/qcow2-crash $${QCOW2_CRASH_TRIALS:-200} \
		$${QCOW2_CRASH_SEED:-1}

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true -Dbuildtype=debugoptimized

# A short libFuzzer run of every target over its seed corpus.
fuzz-smoke: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	meson test -C $(FUZZ_BUILD) --print-errorlogs --suite fuzz

# Long campaign: FUZZ_SECONDS per target (default one hour).
fuzz: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	tests/fuzz/campaign.sh $(FUZZ_BUILD) $${FUZZ_SECONDS:-3600}

# The fault campaign (tests/faults/README.md), as root: FAULTS_TRIALS
# (500), FAULTS_SEED (printed), FAULTS_KINDS. Exit 1 if any trial broke
# a promise. Not part of check; faults-smoke is a 20-trial fixed mix.
faults: deps all
	python3 tests/faults/test_checks.py
	python3 tests/faults/campaign.py $(BUILD)

faults-smoke: deps all
	python3 tests/faults/test_checks.py
	FAULTS_SMOKE=1 python3 tests/faults/campaign.py $(BUILD)

# Campaign: the blk guest writes and checks its disk through 200 live
# migrations between two receivers; a summary at the end (HOPS=n to change).
ping-pong-200: all
	python3 tests/kvm/ping_pong_blk.py $(abspath $(BUILD)) $${HOPS:-200}

bench: deps all
	GODWIT_BUILD=$(abspath $(BUILD)) bench/run-all.sh

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
