# Build one static library, build/lib/libkeel_$(LIBNAME).a, from C_SRCS.

include $(KEEL_ROOT_DIR)/mk/keel.common.mk

OBJS := $(C_SRCS:.c=.o)
LIB := $(LIB_DIR)/libkeel_$(LIBNAME).a

all: $(LIB)

$(LIB): $(OBJS)
	@mkdir -p $(LIB_DIR)
	@$(if $(Q),echo "  AR $(subst $(KEEL_ROOT_DIR)/,,$@)")
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $(OBJS)

clean:
	$(Q)rm -f $(OBJS) $(OBJS:.o=.d) $(OBJS:.o=.gcno) $(OBJS:.o=.gcda) $(LIB)

-include $(OBJS:.o=.d)
