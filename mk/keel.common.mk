# Shared build settings for every keel Makefile. Each Makefile sets KEEL_ROOT_DIR first.

ifeq ($(wildcard $(KEEL_ROOT_DIR)/mk/config.mk),)
$(error mk/config.mk is missing: run ./configure first)
endif
include $(KEEL_ROOT_DIR)/mk/config.mk

CC := $(CONFIG_CC)
AR ?= ar
BUILD_DIR := $(KEEL_ROOT_DIR)/build
LIB_DIR := $(BUILD_DIR)/lib
BIN_DIR := $(BUILD_DIR)/bin

# gcc's -Wshadow=local (a local hiding another local); clang has no such flag.
KEEL_WSHADOW := $(shell $(CC) -Werror -Wshadow=local -x c -c /dev/null -o /dev/null \
	> /dev/null 2>&1 && echo -Wshadow=local)

KEEL_CFLAGS := -std=gnu11 -g -fPIC -pthread -Wall -Wextra -Wno-unused-parameter \
	-Wno-missing-field-initializers -Wmissing-declarations -Wstrict-prototypes \
	-Wformat=2 $(KEEL_WSHADOW) -fno-strict-aliasing -D_GNU_SOURCE \
	-I$(KEEL_ROOT_DIR)/include
KEEL_LDFLAGS := -pthread

ifeq ($(CONFIG_DEBUG),y)
KEEL_CFLAGS += -O0 -DDEBUG
else
KEEL_CFLAGS += -O2 -DNDEBUG -D_FORTIFY_SOURCE=2
endif
ifeq ($(CONFIG_WERROR),y)
KEEL_CFLAGS += -Werror
endif
ifeq ($(CONFIG_ASAN),y)
KEEL_CFLAGS += -fsanitize=address -fno-omit-frame-pointer
KEEL_LDFLAGS += -fsanitize=address
endif
ifeq ($(CONFIG_UBSAN),y)
KEEL_CFLAGS += -fsanitize=undefined -fno-sanitize-recover=undefined
KEEL_LDFLAGS += -fsanitize=undefined
endif
# libFuzzer builds (./configure --with-fuzzer, clang): every object carries the fuzzer's
# coverage instrumentation and both sanitizers, at -O1 (fast enough to fuzz, still debuggable);
# everything links the sanitizer runtimes, and only the fuzz targets link libFuzzer itself
# (mk/keel.fuzz.mk).
ifeq ($(CONFIG_FUZZER),y)
KEEL_CFLAGS += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
KEEL_LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(CONFIG_COVERAGE),y)
KEEL_CFLAGS += --coverage
KEEL_LDFLAGS += --coverage
endif

# Only lib/env sees the DPDK headers.
ENV_CFLAGS := $(DPDK_CFLAGS)

ALL_CFLAGS = $(KEEL_CFLAGS) $(SYS_CFLAGS) $(LOCAL_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(KEEL_LDFLAGS) $(LDFLAGS)

# Quiet output unless V=1.
ifeq ($(V),1)
Q :=
else
Q := @
endif

# Objects depend on the configuration too: after ./configure changes an option, 'make'
# rebuilds everything (configure leaves mk/config.mk alone when nothing changed).
%.o: %.c $(KEEL_ROOT_DIR)/mk/config.mk
	@$(if $(Q),echo "  CC $(subst $(KEEL_ROOT_DIR)/,,$(abspath $@))")
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# Libraries linked, in order, by every app and unit test (KEEL_LIBS_DEPS may be overridden).
KEEL_ALL_LIBS := iscsi scsi bdev_malloc bdev_null bdev_aio bdev_uring bdev_nvme bdev_split bdev_error bdev sock event rpc jsonrpc conf \
	accel thread nvme env util log

# Link line: our static libraries whole-archive (so constructor registrations are kept),
# then the system and DPDK libraries.
keel_lib_files = $(foreach l,$(1),$(LIB_DIR)/libkeel_$(l).a)
keel_link_libs = -Wl,--whole-archive $(call keel_lib_files,$(1)) -Wl,--no-whole-archive \
	$(SYS_LIBS) $(DPDK_LIBS) -lnuma -ldl -lm

.PHONY: all clean
