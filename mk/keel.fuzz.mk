# Build the fuzz targets named in FUZZ_TARGETS, each from <name>.c, which defines
# LLVMFuzzerTestOneInput() (and may define LLVMFuzzerInitialize()). Every build links each one
# with the replay driver fuzz_main.c as <name>_regress, which runs files and directories of
# inputs once each (the corpora and saved crashes, in `make test`); with CONFIG_FUZZER=y
# (./configure --with-fuzzer) each is also linked with libFuzzer as <name>. A target links the
# libraries listed in <name>_LIBS, in link order (default: all of them); a target is left out
# while one of its libraries is not in KEEL_ALL_LIBS yet. `make print-targets` lists the others.
# <name>_LDFLAGS adds linker flags of its own (e.g. -Wl,--wrap=<function>).

include $(KEEL_ROOT_DIR)/mk/keel.common.mk

LOCAL_CFLAGS += -I$(KEEL_ROOT_DIR)/lib -I$(KEEL_ROOT_DIR)/test/fuzz
FUZZ_MAIN_OBJ := $(KEEL_ROOT_DIR)/test/fuzz/fuzz_main.o

fuzz_libs = $(or $($(1)_LIBS),$(KEEL_ALL_LIBS))
fuzz_available = $(if $(filter-out $(KEEL_ALL_LIBS),$(call fuzz_libs,$(1))),,$(1))
FUZZ_BUILT := $(foreach t,$(FUZZ_TARGETS),$(call fuzz_available,$(t)))
FUZZ_REGRESS := $(FUZZ_BUILT:=_regress)
ifeq ($(CONFIG_FUZZER),y)
FUZZ_FUZZERS := $(FUZZ_BUILT)
endif
OBJS := $(FUZZ_TARGETS:=.o) $(FUZZ_MAIN_OBJ)

.PHONY: print-targets

all: $(FUZZ_REGRESS) $(FUZZ_FUZZERS)

print-targets:
	@echo $(FUZZ_BUILT)

.SECONDEXPANSION:

$(FUZZ_REGRESS): %_regress: %.o $(FUZZ_MAIN_OBJ) $$(call keel_lib_files,$$(call fuzz_libs,$$*))
	@$(if $(Q),echo "  LINK $(subst $(KEEL_ROOT_DIR)/,,$(abspath $@))")
	$(Q)$(CC) $(ALL_LDFLAGS) $($*_LDFLAGS) -o $@ $< $(FUZZ_MAIN_OBJ) \
		$(call keel_link_libs,$(call fuzz_libs,$*))

$(FUZZ_FUZZERS): %: %.o $$(call keel_lib_files,$$(call fuzz_libs,$$*))
	@$(if $(Q),echo "  LINK $(subst $(KEEL_ROOT_DIR)/,,$(abspath $@))")
	$(Q)$(CC) $(ALL_LDFLAGS) $($*_LDFLAGS) -fsanitize=fuzzer -o $@ $< \
		$(call keel_link_libs,$(call fuzz_libs,$*))

clean:
	$(Q)rm -f $(OBJS) $(OBJS:.o=.d) $(OBJS:.o=.gcno) $(OBJS:.o=.gcda) $(FUZZ_TARGETS) \
		$(FUZZ_TARGETS:=_regress)

-include $(OBJS:.o=.d)
