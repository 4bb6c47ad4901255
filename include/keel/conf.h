/*
 * The legacy INI-style configuration file (iscsi.conf): [SectionN] headers, "Key value ..."
 * lines, # comments, quoted values and backslash continuation lines.
 */
#ifndef KEEL_CONF_H
#define KEEL_CONF_H

#include "keel/stdinc.h"

#ifdef __cplusplus
extern "C" {
#endif

struct keel_conf;
struct keel_conf_section;
struct keel_conf_item;

/** An empty configuration; NULL if out of memory. */
struct keel_conf *keel_conf_create(void);
/** Free a configuration and everything in it. NULL is a no-op. */
void keel_conf_destroy(struct keel_conf *conf);

/**
 * Read and parse a file. Errors are logged as "FILE:LINE: message".
 * \return 0; -ENOENT/-EACCES/... if the file cannot be read; -EINVAL on a syntax error.
 */
int keel_conf_read(struct keel_conf *conf, const char *path);
/** Parse text already in memory; name is used in error messages. Same returns as keel_conf_read. */
int keel_conf_parse(struct keel_conf *conf, const char *text, size_t len, const char *name);
/** The file name given to read/parse. */
const char *keel_conf_get_name(const struct keel_conf *conf);

/** The configuration the application was started with (set by the framework), or NULL. */
void keel_conf_set_default(struct keel_conf *conf);
struct keel_conf *keel_conf_get_default(void);

struct keel_conf_section *keel_conf_first_section(struct keel_conf *conf);
struct keel_conf_section *keel_conf_next_section(struct keel_conf_section *sp);
/** Case-sensitive section lookup by full name ("Global", "PortalGroup1"). */
struct keel_conf_section *keel_conf_find_section(struct keel_conf *conf, const char *name);
/** True if the section name starts with prefix (case-insensitive, as "[portalgroup1]" works). */
bool keel_conf_section_match_prefix(const struct keel_conf_section *sp, const char *prefix);
const char *keel_conf_section_get_name(const struct keel_conf_section *sp);
/** The number at the end of the section name ("PortalGroup12" -> 12), or -1 if none. */
int keel_conf_section_get_num(const struct keel_conf_section *sp);
/** Line of the section header. */
int keel_conf_section_get_line(const struct keel_conf_section *sp);

/** Value idx2 of the idx-th item named key (keys compare case-insensitively), or NULL. */
const char *keel_conf_section_get_nmval(struct keel_conf_section *sp, const char *key, int idx,
					int idx2);
/** Value 0 of the idx-th item named key. */
const char *keel_conf_section_get_nval(struct keel_conf_section *sp, const char *key, int idx);
/** Value 0 of the first item named key. */
const char *keel_conf_section_get_val(struct keel_conf_section *sp, const char *key);
/**
 * Integer value of the first item named key.
 * \return 0 and *val; -ENOENT if absent; -EINVAL if not an integer.
 */
int keel_conf_section_get_intval(struct keel_conf_section *sp, const char *key, int64_t *val);
/**
 * Yes/No value of the first item named key; *val = def when absent.
 * \return 0; -EINVAL if present but not a boolean.
 */
int keel_conf_section_get_boolval(struct keel_conf_section *sp, const char *key, bool def,
				  bool *val);

/** Items in file order. */
struct keel_conf_item *keel_conf_section_first_item(struct keel_conf_section *sp);
struct keel_conf_item *keel_conf_item_next(struct keel_conf_item *item);
const char *keel_conf_item_get_key(const struct keel_conf_item *item);
/** Value idx of the item, or NULL past the last. */
const char *keel_conf_item_get_val(const struct keel_conf_item *item, int idx);
int keel_conf_item_get_val_count(const struct keel_conf_item *item);
int keel_conf_item_get_line(const struct keel_conf_item *item);
/** Line of the idx-th item named key in sp, or 0 if none (for error messages). */
int keel_conf_section_get_item_line(struct keel_conf_section *sp, const char *key, int idx);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_CONF_H */
