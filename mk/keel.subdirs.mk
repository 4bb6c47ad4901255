# Recurse into DIRS-y for all and clean. Directories build in parallel.

.PHONY: all clean $(DIRS-y)

all: $(DIRS-y)

$(DIRS-y):
	$(Q)$(MAKE) -C $@ all

clean:
	$(Q)for d in $(DIRS-y); do $(MAKE) -C $$d clean || exit 1; done
