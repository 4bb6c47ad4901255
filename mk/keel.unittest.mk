# Build the CUnit test programs named in TESTS, each from <name>.c. A test includes the .c file
# under test itself, so it links every library except the one it covers (TEST_LIB). UT_LDFLAGS
# adds link options, such as -Wl,--wrap=<symbol> to interpose on a library's calls.

include $(KEEL_ROOT_DIR)/mk/keel.common.mk

LOCAL_CFLAGS += -I$(KEEL_ROOT_DIR)/test/common -I$(KEEL_ROOT_DIR)/lib $(CUNIT_CFLAGS)
KEEL_LIBS ?= $(filter-out $(TEST_LIB),$(KEEL_ALL_LIBS))
OBJS := $(TESTS:=.o)

all: $(TESTS)

$(TESTS): %: %.o $(call keel_lib_files,$(KEEL_LIBS))
	@$(if $(Q),echo "  LINK $(subst $(KEEL_ROOT_DIR)/,,$(abspath $@))")
	$(Q)$(CC) $(ALL_LDFLAGS) $(UT_LDFLAGS) -o $@ $< $(call keel_link_libs,$(KEEL_LIBS)) $(CUNIT_LIBS)

clean:
	$(Q)rm -f $(OBJS) $(OBJS:.o=.d) $(OBJS:.o=.gcno) $(OBJS:.o=.gcda) $(TESTS)

-include $(OBJS:.o=.d)
