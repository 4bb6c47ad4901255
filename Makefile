# keel top-level Makefile.
#   make            build everything (run ./configure first)
#   make run        install dependencies, build, start iscsi_tgt on its default configuration
#   make test       install dependencies, build, run every unit and integration test
#   make test-asan  the same on an ASan+UBSan debug build, then back to the tree's own options
#   make fuzz       run each libFuzzer target for FUZZ_TIME seconds (default 60; doc/testing.md)
#   make soak       mixed traffic, disconnects and RPC changes for DURATION seconds (default 60)
#   make install    install under the configured prefix
#   make clean      remove build output

KEEL_ROOT_DIR := $(abspath $(CURDIR))
MAKEFLAGS += --no-print-directory
ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all lib app test-build clean install run test test-asan test-unit test-integration \
	format format-check deps fuzz soak

all: app test-build

lib: mk/config.mk
	$(Q)$(MAKE) -C lib all

app: lib
	$(Q)$(MAKE) -C app all

test-build: lib
	$(Q)$(MAKE) -C test all

mk/config.mk:
	@echo "mk/config.mk is missing; running ./configure with the defaults"
	$(Q)./configure

clean:
	$(Q)if [ -f mk/config.mk ]; then \
		$(MAKE) -C lib clean && $(MAKE) -C app clean && $(MAKE) -C test clean; fi
	$(Q)rm -rf build

install: all
	$(Q)scripts/install.sh

deps:
	$(Q)scripts/pkgdep.sh

# Install what is missing, build, then start the target on its built-in configuration.
# Ctrl-C (SIGINT) stops it cleanly.
run: deps
	$(Q)$(MAKE) all
	$(Q)scripts/setup.sh > /dev/null 2>&1 || true
	exec app/iscsi_tgt/iscsi_tgt $(RUN_ARGS)

# Install what is missing, build, then run every test; the last line is "N passed, M failed".
test: deps
	$(Q)$(MAKE) all
	$(Q)test/run_tests.sh

# Reconfigure with AddressSanitizer, UndefinedBehaviorSanitizer and debug, rebuild from clean,
# run every test; then configure and rebuild with the options mk/config.mk's first line records.
# The exit status is the tests'. Sanitizer reports (leaks included) fail the test that hit them.
test-asan: deps
	$(Q)prev=$$(sed -n '1s|^# Written by ./configure *||p' mk/config.mk 2> /dev/null); \
	./configure --enable-asan --enable-ubsan --enable-debug > /dev/null && \
		$(MAKE) clean && $(MAKE) -j2 all && test/run_tests.sh; \
	rc=$$?; \
	echo "test-asan: back to ./configure $$prev"; \
	./configure $$prev > /dev/null && $(MAKE) clean && $(MAKE) -j2 all || rc=1; \
	exit $$rc

# Fuzz each target for FUZZ_TIME seconds (FUZZ_TARGETS="conf_fuzz ..." picks some), in a
# --with-fuzzer copy of the tree under build/fuzz unless the tree is configured so itself.
# Inputs that crash are saved in test/fuzz/crashes/<target>/.
fuzz: deps
	$(Q)scripts/fuzz.sh --time $(or $(FUZZ_TIME),60) $(FUZZ_TARGETS)

# Several clients, random disconnects and reconfiguration against one target for DURATION
# seconds, data verified (test/soak/soak.sh; doc/testing.md).
soak: all
	$(Q)bash test/soak/soak.sh $(or $(DURATION),60)

test-unit: all
	$(Q)test/run_tests.sh unit

test-integration: all
	$(Q)test/run_tests.sh integration

# libiscsi's conformance suite against a fresh target (see test/iscsi_tgt/conformance/README.md);
# `make test` runs it too, with the other integration scripts.
conformance: all
	$(Q)bash test/iscsi_tgt/conformance/conformance.sh

format:
	$(Q)scripts/format.sh

format-check:
	$(Q)scripts/format.sh --check
