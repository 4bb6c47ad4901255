/*
 * Fuzz target for the INI configuration parser (lib/conf): the input is an iscsi.conf file.
 * A file that parses is walked through every getter the legacy config readers use, then parsed
 * again into the same object, which must give the same sections and items.
 */
#include "keel/stdinc.h"
#include "keel/conf.h"
#include "keel/log.h"

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_setup_log();
	return 0;
}

/* Read every value of the section through each getter; returns the number of items. */
static unsigned int
walk_section(struct keel_conf_section *sp)
{
	struct keel_conf_item *item;
	unsigned int items = 0;
	const char *key, *val;
	int64_t ival;
	bool bval;
	int i, n;

	(void)keel_conf_section_get_name(sp);
	(void)keel_conf_section_get_num(sp);
	(void)keel_conf_section_get_line(sp);
	(void)keel_conf_section_match_prefix(sp, "PortalGroup");
	for (item = keel_conf_section_first_item(sp); item != NULL;
	     item = keel_conf_item_next(item)) {
		items++;
		key = keel_conf_item_get_key(item);
		n = keel_conf_item_get_val_count(item);
		FUZZ_CHECK(key != NULL && n >= 0);
		for (i = 0; i <= n; i++) {
			val = keel_conf_item_get_val(item, i);
			/* Exactly n values, and each one a C string. */
			FUZZ_CHECK((val == NULL) == (i == n));
			if (val != NULL) {
				(void)strlen(val);
			}
		}
		(void)keel_conf_item_get_line(item);
		(void)keel_conf_section_get_val(sp, key);
		(void)keel_conf_section_get_nval(sp, key, 1);
		(void)keel_conf_section_get_nmval(sp, key, 0, n);
		(void)keel_conf_section_get_nmval(sp, key, 0, -1);
		(void)keel_conf_section_get_intval(sp, key, &ival);
		(void)keel_conf_section_get_boolval(sp, key, false, &bval);
		(void)keel_conf_section_get_item_line(sp, key, 0);
	}
	return items;
}

static unsigned int
walk_conf(struct keel_conf *conf, unsigned int *items)
{
	struct keel_conf_section *sp;
	unsigned int sections = 0;

	*items = 0;
	for (sp = keel_conf_first_section(conf); sp != NULL; sp = keel_conf_next_section(sp)) {
		sections++;
		*items += walk_section(sp);
		FUZZ_CHECK(keel_conf_find_section(conf, keel_conf_section_get_name(sp)) != NULL);
	}
	return sections;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int sections, items, items2;
	struct keel_conf *conf;
	int rc;

	conf = keel_conf_create();
	if (conf == NULL) {
		return 0;
	}
	rc = keel_conf_parse(conf, (const char *)data, size, "fuzz.conf");
	sections = walk_conf(conf, &items);
	if (rc != 0) {
		/* A failed parse leaves nothing behind. */
		FUZZ_CHECK(sections == 0);
	} else {
		rc = keel_conf_parse(conf, (const char *)data, size, "fuzz.conf");
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(walk_conf(conf, &items2) == sections && items2 == items);
	}
	(void)keel_conf_find_section(conf, "Global");
	keel_conf_destroy(conf);
	return 0;
}
