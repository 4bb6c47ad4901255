# Build one application, $(APP), from C_SRCS, linked against KEEL_LIBS (default: all).

include $(KEEL_ROOT_DIR)/mk/keel.common.mk

KEEL_LIBS ?= $(KEEL_ALL_LIBS)
OBJS := $(C_SRCS:.c=.o)

all: $(APP)

$(APP): $(OBJS) $(call keel_lib_files,$(KEEL_LIBS))
	@$(if $(Q),echo "  LINK $(subst $(KEEL_ROOT_DIR)/,,$(abspath $@))")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(OBJS) $(call keel_link_libs,$(KEEL_LIBS))

clean:
	$(Q)rm -f $(OBJS) $(OBJS:.o=.d) $(OBJS:.o=.gcno) $(OBJS:.o=.gcda) $(APP)

-include $(OBJS:.o=.d)
