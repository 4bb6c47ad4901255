/*
 * The legacy INI-style configuration (iscsi.conf): sections, items of whitespace-separated
 * values with quoting, comments and backslash continuation lines. Errors name the file and
 * the line.
 */
#include "keel/stdinc.h"
#include "keel/conf.h"
#include "keel/log.h"
#include "keel/util.h"

#define CONF_MAX_LINE (64 * 1024)

struct keel_conf_item {
	char *key;
	char **vals;
	int nvals;
	int line;
	struct keel_conf_item *next;
};

struct keel_conf_section {
	char *name;
	int num;
	int line;
	struct keel_conf_item *items;
	struct keel_conf_item *last_item;
	struct keel_conf_section *next;
};

struct keel_conf {
	char *name;
	struct keel_conf_section *sections;
	struct keel_conf_section *last_section;
};

static struct keel_conf *g_default_conf;

struct keel_conf *
keel_conf_create(void)
{
	return calloc(1, sizeof(struct keel_conf));
}

static void
conf_free_item(struct keel_conf_item *item)
{
	int i;

	for (i = 0; i < item->nvals; i++) {
		free(item->vals[i]);
	}
	free(item->vals);
	free(item->key);
	free(item);
}

static void
conf_free_sections(struct keel_conf *conf)
{
	struct keel_conf_section *sp, *spn;
	struct keel_conf_item *ip, *ipn;

	for (sp = conf->sections; sp != NULL; sp = spn) {
		spn = sp->next;
		for (ip = sp->items; ip != NULL; ip = ipn) {
			ipn = ip->next;
			conf_free_item(ip);
		}
		free(sp->name);
		free(sp);
	}
	conf->sections = NULL;
	conf->last_section = NULL;
}

void
keel_conf_destroy(struct keel_conf *conf)
{
	if (conf == NULL) {
		return;
	}
	if (g_default_conf == conf) {
		g_default_conf = NULL;
	}
	conf_free_sections(conf);
	free(conf->name);
	free(conf);
}

const char *
keel_conf_get_name(const struct keel_conf *conf)
{
	return conf->name ? conf->name : "(config)";
}

void
keel_conf_set_default(struct keel_conf *conf)
{
	g_default_conf = conf;
}

struct keel_conf *
keel_conf_get_default(void)
{
	return g_default_conf;
}

static int
conf_add_section(struct keel_conf *conf, const char *name, size_t len, int line)
{
	struct keel_conf_section *sp;
	size_t i = len;

	sp = calloc(1, sizeof(*sp));
	if (sp == NULL) {
		return -ENOMEM;
	}
	sp->name = strndup(name, len);
	if (sp->name == NULL) {
		free(sp);
		return -ENOMEM;
	}
	sp->line = line;
	sp->num = -1;
	while (i > 0 && isdigit((unsigned char)name[i - 1])) {
		i--;
	}
	if (i < len && len - i < 10) {
		sp->num = atoi(name + i);
	}
	if (conf->last_section != NULL) {
		conf->last_section->next = sp;
	} else {
		conf->sections = sp;
	}
	conf->last_section = sp;
	return 0;
}

/* Split one logical line into words: blanks separate, double quotes group, # starts a comment
 * (outside quotes, at the start of a word). */
static int
conf_split(const char *s, char ***words_out, int *count_out, const char **err)
{
	char **words = NULL, *buf;
	int count = 0, rc = 0;
	size_t len = strlen(s);

	buf = malloc(len + 1);
	if (buf == NULL) {
		return -ENOMEM;
	}
	while (*s != '\0') {
		size_t n = 0;
		bool quoted = false, any = false;
		char **tmp;

		while (isspace((unsigned char)*s)) {
			s++;
		}
		if (*s == '\0' || *s == '#') {
			break;
		}
		while (*s != '\0' && (quoted || !isspace((unsigned char)*s))) {
			if (*s == '"') {
				quoted = !quoted;
				any = true;
				s++;
				continue;
			}
			buf[n++] = *s++;
			any = true;
		}
		if (quoted) {
			*err = "unterminated quoted value";
			rc = -EINVAL;
			break;
		}
		if (!any) {
			continue;
		}
		tmp = realloc(words, sizeof(*words) * (size_t)(count + 1));
		if (tmp == NULL) {
			rc = -ENOMEM;
			break;
		}
		words = tmp;
		words[count] = strndup(buf, n);
		if (words[count] == NULL) {
			rc = -ENOMEM;
			break;
		}
		count++;
	}
	free(buf);
	if (rc != 0) {
		while (count > 0) {
			free(words[--count]);
		}
		free(words);
		return rc;
	}
	*words_out = words;
	*count_out = count;
	return 0;
}

static int
conf_add_item(struct keel_conf *conf, const char *text, int line, const char **err)
{
	struct keel_conf_section *sp = conf->last_section;
	struct keel_conf_item *item;
	char **words = NULL;
	int count = 0, rc, i;

	rc = conf_split(text, &words, &count, err);
	if (rc != 0) {
		return rc;
	}
	if (count == 0) {
		/* Only quotes around nothing, or a comment: no item. */
		free(words);
		return 0;
	}
	if (sp == NULL) {
		*err = "item before the first [section]";
		rc = -EINVAL;
		goto err_words;
	}
	item = calloc(1, sizeof(*item));
	if (item == NULL) {
		rc = -ENOMEM;
		goto err_words;
	}
	item->key = words[0];
	item->vals = count > 1 ? malloc(sizeof(char *) * (size_t)(count - 1)) : NULL;
	if (count > 1 && item->vals == NULL) {
		free(item);
		rc = -ENOMEM;
		goto err_words;
	}
	for (i = 1; i < count; i++) {
		item->vals[i - 1] = words[i];
	}
	item->nvals = count - 1;
	item->line = line;
	free(words);
	if (sp->last_item != NULL) {
		sp->last_item->next = item;
	} else {
		sp->items = item;
	}
	sp->last_item = item;
	return 0;

err_words:
	for (i = 0; i < count; i++) {
		free(words[i]);
	}
	free(words);
	return rc;
}

/* "[Name]" optionally followed by a comment; s points at the '['. */
static int
conf_parse_section(struct keel_conf *conf, char *s, int lineno, const char **err)
{
	char *name, *end, *e;

	name = s + 1;
	end = strchr(name, ']');
	if (end == NULL) {
		*err = "section header without ']'";
		return -EINVAL;
	}
	while (isspace((unsigned char)*name)) {
		name++;
	}
	e = end;
	while (e > name && isspace((unsigned char)e[-1])) {
		e--;
	}
	if (e == name) {
		*err = "empty section name";
		return -EINVAL;
	}
	end++;
	while (isspace((unsigned char)*end)) {
		end++;
	}
	if (*end != '\0' && *end != '#') {
		*err = "text after the section header";
		return -EINVAL;
	}
	return conf_add_section(conf, name, (size_t)(e - name), lineno);
}

static int
conf_parse_line(struct keel_conf *conf, char *line, int lineno, const char **err)
{
	char *s = line;

	while (isspace((unsigned char)*s)) {
		s++;
	}
	if (*s == '\0' || *s == '#') {
		return 0;
	}
	if (*s == '[') {
		return conf_parse_section(conf, s, lineno, err);
	}
	return conf_add_item(conf, s, lineno, err);
}

/* True if the physical line is blank up to a '#': a comment line never continues. */
static bool
conf_is_comment(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && isspace((unsigned char)p[i])) {
		i++;
	}
	return i < n && p[i] == '#';
}

int
keel_conf_parse(struct keel_conf *conf, const char *text, size_t len, const char *name)
{
	const char *p = text, *end = text + len, *err = NULL;
	char *logical = NULL;
	size_t loglen = 0;
	int lineno = 0, start_line = 0, rc = 0;

	free(conf->name);
	conf->name = strdup(name ? name : "(config)");
	if (conf->name == NULL) {
		return -ENOMEM;
	}
	conf_free_sections(conf);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		bool cont;
		char *tmp;

		lineno++;
		if (logical == NULL) {
			start_line = lineno;
		}
		if (n > 0 && p[n - 1] == '\r') {
			n--;
		}
		if (memchr(p, '\0', n) != NULL) {
			err = "NUL byte in the file";
			rc = -EINVAL;
			break;
		}
		cont = n > 0 && p[n - 1] == '\\' && (logical != NULL || !conf_is_comment(p, n));
		if (cont) {
			n--;
		}
		if (loglen + n > CONF_MAX_LINE) {
			err = "line too long";
			rc = -EINVAL;
			break;
		}
		tmp = realloc(logical, loglen + n + 2);
		if (tmp == NULL) {
			rc = -ENOMEM;
			break;
		}
		logical = tmp;
		memcpy(logical + loglen, p, n);
		loglen += n;
		logical[loglen] = '\0';
		p = nl ? nl + 1 : end;
		if (cont && p < end) {
			/* Words on the continued line are separated from the next one. */
			logical[loglen++] = ' ';
			logical[loglen] = '\0';
			continue;
		}
		rc = conf_parse_line(conf, logical, start_line, &err);
		free(logical);
		logical = NULL;
		loglen = 0;
		if (rc != 0) {
			break;
		}
	}
	if (rc == 0 && logical != NULL) {
		rc = conf_parse_line(conf, logical, start_line, &err);
	}
	free(logical);
	if (rc != 0) {
		if (err != NULL) {
			KEEL_ERRLOG("%s:%d: %s\n", conf->name, start_line, err);
		} else {
			KEEL_ERRLOG("%s:%d: %s\n", conf->name, start_line, keel_strerror(-rc));
		}
		conf_free_sections(conf);
	}
	return rc;
}

int
keel_conf_read(struct keel_conf *conf, const char *path)
{
	char *text = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int rc;

	f = fopen(path, "r");
	if (f == NULL) {
		rc = -errno;
		KEEL_ERRLOG("%s: cannot open: %s\n", path, keel_strerror(errno));
		return rc;
	}
	for (;;) {
		size_t n;

		if (len + 4096 > cap) {
			char *tmp = realloc(text, cap + 65536);

			if (tmp == NULL) {
				free(text);
				fclose(f);
				return -ENOMEM;
			}
			text = tmp;
			cap += 65536;
		}
		n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			break;
		}
	}
	rc = ferror(f) ? -EIO : 0;
	fclose(f);
	if (rc == 0) {
		rc = keel_conf_parse(conf, text ? text : "", len, path);
	}
	free(text);
	return rc;
}

struct keel_conf_section *
keel_conf_first_section(struct keel_conf *conf)
{
	return conf ? conf->sections : NULL;
}

struct keel_conf_section *
keel_conf_next_section(struct keel_conf_section *sp)
{
	return sp ? sp->next : NULL;
}

struct keel_conf_section *
keel_conf_find_section(struct keel_conf *conf, const char *name)
{
	struct keel_conf_section *sp;

	for (sp = keel_conf_first_section(conf); sp != NULL; sp = sp->next) {
		if (strcmp(sp->name, name) == 0) {
			return sp;
		}
	}
	return NULL;
}

bool
keel_conf_section_match_prefix(const struct keel_conf_section *sp, const char *prefix)
{
	return strncasecmp(sp->name, prefix, strlen(prefix)) == 0;
}

const char *
keel_conf_section_get_name(const struct keel_conf_section *sp)
{
	return sp->name;
}

int
keel_conf_section_get_num(const struct keel_conf_section *sp)
{
	return sp->num;
}

int
keel_conf_section_get_line(const struct keel_conf_section *sp)
{
	return sp->line;
}

static struct keel_conf_item *
conf_find_item(struct keel_conf_section *sp, const char *key, int idx)
{
	struct keel_conf_item *ip;

	if (sp == NULL || idx < 0) {
		return NULL;
	}
	for (ip = sp->items; ip != NULL; ip = ip->next) {
		if (strcasecmp(ip->key, key) == 0 && idx-- == 0) {
			return ip;
		}
	}
	return NULL;
}

const char *
keel_conf_section_get_nmval(struct keel_conf_section *sp, const char *key, int idx, int idx2)
{
	struct keel_conf_item *ip = conf_find_item(sp, key, idx);

	if (ip == NULL || idx2 < 0 || idx2 >= ip->nvals) {
		return NULL;
	}
	return ip->vals[idx2];
}

const char *
keel_conf_section_get_nval(struct keel_conf_section *sp, const char *key, int idx)
{
	return keel_conf_section_get_nmval(sp, key, idx, 0);
}

const char *
keel_conf_section_get_val(struct keel_conf_section *sp, const char *key)
{
	return keel_conf_section_get_nmval(sp, key, 0, 0);
}

int
keel_conf_section_get_intval(struct keel_conf_section *sp, const char *key, int64_t *val)
{
	const char *v = keel_conf_section_get_val(sp, key);

	if (v == NULL) {
		return -ENOENT;
	}
	return keel_parse_i64(v, val) == 0 ? 0 : -EINVAL;
}

int
keel_conf_section_get_boolval(struct keel_conf_section *sp, const char *key, bool def, bool *val)
{
	const char *v = keel_conf_section_get_val(sp, key);

	if (v == NULL) {
		*val = def;
		return 0;
	}
	return keel_parse_bool(v, val);
}

struct keel_conf_item *
keel_conf_section_first_item(struct keel_conf_section *sp)
{
	return sp->items;
}

struct keel_conf_item *
keel_conf_item_next(struct keel_conf_item *item)
{
	return item->next;
}

const char *
keel_conf_item_get_key(const struct keel_conf_item *item)
{
	return item->key;
}

const char *
keel_conf_item_get_val(const struct keel_conf_item *item, int idx)
{
	return idx >= 0 && idx < item->nvals ? item->vals[idx] : NULL;
}

int
keel_conf_item_get_val_count(const struct keel_conf_item *item)
{
	return item->nvals;
}

int
keel_conf_item_get_line(const struct keel_conf_item *item)
{
	return item->line;
}

int
keel_conf_section_get_item_line(struct keel_conf_section *sp, const char *key, int idx)
{
	struct keel_conf_item *ip = conf_find_item(sp, key, idx);

	return ip ? ip->line : 0;
}
