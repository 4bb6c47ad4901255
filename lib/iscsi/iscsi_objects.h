/*
 * The iSCSI configuration objects' own interface, shared by init_grp.c, auth_grp.c,
 * tgt_node.c, config.c and the RPC files: creating, changing and checking initiator groups,
 * auth groups and target nodes, and the checks the legacy file and the RPCs have in common.
 * Every list is changed on the app thread under g_iscsi.lock.
 */
#ifndef KEEL_ISCSI_OBJECTS_H
#define KEEL_ISCSI_OBJECTS_H

#include "iscsi_internal.h"

struct keel_conf;
struct json_object;

/* Room for an error message that names the bad parameter. */
#define ISCSI_ERR_LEN 256

/*
 * Initiator groups (init_grp.c).
 */
/** A new group, not yet listed; NULL if out of memory. */
struct iscsi_init_grp *iscsi_init_grp_create(int32_t tag);
/** Free a group that is not listed (or was unlisted). NULL is a no-op. */
void iscsi_init_grp_destroy(struct iscsi_init_grp *ig);
/** List the group. \return 0; -EEXIST if the tag is taken. Takes g_iscsi.lock. */
int iscsi_init_grp_register(struct iscsi_init_grp *ig);
/** Unlist and free the group. \return 0; -EBUSY if a target node maps it. Takes the lock. */
int iscsi_init_grp_unregister(struct iscsi_init_grp *ig);
/** Unlist and free every group (shutdown). */
void iscsi_init_grps_destroy_all(void);

/** "ANY", an iSCSI name (up to 223 bytes), either one after "!" (deny). */
bool iscsi_init_grp_name_is_valid(const char *name);
/** "ANY", "a.b.c.d[/n]", "[v6][/n]" or "v6/n", either one after "!" (deny). */
bool iscsi_init_grp_netmask_is_valid(const char *mask);

/**
 * Add (add = true) or remove names and netmasks, all or nothing: every entry is checked
 * first (syntax, duplicates, the 256 limits, presence when removing).
 * \return 0; -EINVAL (bad entry), -EEXIST (already there), -ENOENT (not there when removing),
 *         -ENOSPC (over 256), -ENOMEM; *bad is "initiators" or "netmasks", err names the entry.
 */
int iscsi_init_grp_change(struct iscsi_init_grp *ig, bool add, const char *const *names,
			  int num_names, const char *const *masks, int num_masks, const char **bad,
			  char *err, size_t err_len);

/** Result of matching one side (name or address) against a group. */
enum iscsi_ig_match {
	ISCSI_IG_NO_MATCH,
	ISCSI_IG_ALLOW,
	ISCSI_IG_DENY,
};
/** The name side: DENY if a "!" entry matches, else ALLOW if an entry matches. */
enum iscsi_ig_match iscsi_init_grp_match_name(const struct iscsi_init_grp *ig, const char *iqn);
/** The address side, the same way (addr: numeric IPv4 or IPv6, brackets allowed). */
enum iscsi_ig_match iscsi_init_grp_match_addr(const struct iscsi_init_grp *ig, const char *addr);
/** True if both the name and the address are allowed and neither is denied. */
bool iscsi_init_grp_allows(const struct iscsi_init_grp *ig, const char *iqn, const char *addr);

/*
 * Auth groups (auth_grp.c).
 */
struct iscsi_auth_grp *iscsi_auth_grp_create(int32_t tag);
void iscsi_auth_grp_destroy(struct iscsi_auth_grp *ag);
/** List the group. \return 0; -EEXIST if the tag is taken. Takes g_iscsi.lock. */
int iscsi_auth_grp_register(struct iscsi_auth_grp *ag);
/** Unlist and free. \return 0; -EBUSY if discovery, a portal group or a target uses it. */
int iscsi_auth_grp_unregister(struct iscsi_auth_grp *ag);
void iscsi_auth_grps_destroy_all(void);
/**
 * Add a secret. user and secret are required, muser and msecret go together (NULL or "" for
 * none); each is at most 255 bytes.
 * \return 0; -EINVAL (err names the field); -EEXIST (user already in the group); -ENOMEM.
 */
int iscsi_auth_grp_add_secret(struct iscsi_auth_grp *ag, const char *user, const char *secret,
			      const char *muser, const char *msecret, char *err, size_t err_len);
/** \return 0; -ENOENT if the user has no secret in the group. */
int iscsi_auth_grp_delete_secret(struct iscsi_auth_grp *ag, const char *user);
/** True if the group was read from the AuthFile (it is not written to the JSON config). */
bool iscsi_auth_grp_is_from_file(int32_t tag);
/**
 * Read [AuthGroupN] sections of a file ("Auth <user> <secret> [<muser> <msecret>]", Comment).
 * Warns when the file can be read by everyone.
 * \return 0; -ENOENT if there is no such file; -EINVAL (logged with file and line); -EEXIST.
 */
int iscsi_auth_file_load(const char *path);
/** Add the [AuthGroupN] sections of a parsed file (from_file: the AuthFile). */
int iscsi_auth_grps_from_conf(struct keel_conf *conf, bool from_file);

/**
 * The CHAP settings rules (targets, discovery, portal groups): not both disable and require;
 * mutual needs require; chap_group >= 0 and, when check_group and > 0, an existing group.
 * \return 0; -EINVAL with *bad naming the parameter and err the reason.
 */
int iscsi_chap_params_check(bool disable, bool require, bool mutual, int32_t group,
			    bool check_group, const char **bad, char *err, size_t err_len);

/*
 * Target nodes (tgt_node.c).
 */
struct iscsi_tgt_node_params {
	const char *name;
	const char *alias;
	int num_maps;
	const int32_t *pg_tags;
	const int32_t *ig_tags;
	int num_luns;
	const char *const *bdev_names;
	const int *lun_ids;
	int32_t queue_depth;
	bool disable_chap;
	bool require_chap;
	bool mutual_chap;
	int32_t chap_group;
	bool header_digest;
	bool data_digest;
	int num; /* [TargetNodeN] number, 0: any */
};

/** True if name is a well-formed iSCSI name (iqn./eui./naa. forms checked), <= 223 bytes. */
bool iscsi_name_is_valid(const char *name);

/**
 * Create a target node: its SCSI device with the LUNs, one SCSI port per portal group.
 * \return 0 and *out; -EINVAL (err names the parameter); -EEXIST (name taken); -ENODEV (a
 *         portal group, initiator group, auth group or bdev does not exist); -ENOMEM.
 */
int iscsi_tgt_node_create(const struct iscsi_tgt_node_params *p, char *err, size_t err_len,
			  struct iscsi_tgt_node **out);
/** Add a LUN (lun_id -1: the lowest free). \return 0; -EINVAL, -ENODEV, -EEXIST, -ENOSPC. */
int iscsi_tgt_node_add_lun(struct iscsi_tgt_node *target, const char *bdev_name, int lun_id,
			   char *err, size_t err_len);
/** Add maps, all or nothing. \return 0; -ENODEV (group missing), -EEXIST, -EINVAL. */
int iscsi_tgt_node_add_pg_ig_maps(struct iscsi_tgt_node *target, const int32_t *pg_tags,
				  const int32_t *ig_tags, int n, char *err, size_t err_len);
/** Remove maps, all or nothing. \return 0; -ENOENT (no such map); -EBUSY (the last map of a
 * target that has sessions). */
int iscsi_tgt_node_remove_pg_ig_maps(struct iscsi_tgt_node *target, const int32_t *pg_tags,
				     const int32_t *ig_tags, int n, char *err, size_t err_len);
/** Change the CHAP settings (checked as iscsi_chap_params_check). */
int iscsi_tgt_node_set_auth(struct iscsi_tgt_node *target, bool disable, bool require, bool mutual,
			    int32_t group, char *err, size_t err_len);
/**
 * Redirect logins that come through public portal group pg_tag to host:port (a portal of a
 * private portal group); host NULL clears it.
 * \return 0; -ENOENT (no such map); -EINVAL (err names the parameter).
 */
int iscsi_tgt_node_set_redirect(struct iscsi_tgt_node *target, int32_t pg_tag, const char *host,
				const char *port, char *err, size_t err_len);
/** The redirect portal for logins through pg_tag; false if none. Caller holds the lock. */
bool iscsi_tgt_node_get_redirect(struct iscsi_tgt_node *target, int32_t pg_tag, char *host,
				 size_t host_len, uint16_t *port);
/**
 * Delete a target: initiators are asked to log out, connections left after the logout
 * timeout are dropped, then the SCSI device goes. cb(cb_arg, 0) runs later on this thread.
 * \return 0 (cb will run); -EBUSY if it is already being deleted (cb will not run).
 */
int iscsi_tgt_node_delete(struct iscsi_tgt_node *target, void (*cb)(void *cb_arg, int rc),
			  void *cb_arg);
/** Start or stop recording the command latency histogram. \return 0; -ENOMEM. */
int iscsi_tgt_node_enable_histogram(struct iscsi_tgt_node *target, bool enable);
/** Record one command's latency in ticks (from the connection's thread; lock-free). */
void iscsi_tgt_node_record_latency(struct iscsi_tgt_node *target, uint64_t ticks);
/* Histogram layout: ISCSI_HISTOGRAM_RANGES ranges of 2^ISCSI_HISTOGRAM_GRANULARITY buckets;
 * see iscsi_histogram_bucket(). */
#define ISCSI_HISTOGRAM_GRANULARITY 7
#define ISCSI_HISTOGRAM_RANGES (64 - ISCSI_HISTOGRAM_GRANULARITY + 1)
#define ISCSI_HISTOGRAM_BUCKETS (ISCSI_HISTOGRAM_RANGES << ISCSI_HISTOGRAM_GRANULARITY)
/** The bucket a value falls in. */
uint32_t iscsi_histogram_bucket(uint64_t value);
/** Delete every target node at shutdown (no connection is left): their SCSI devices are
 * destroyed in the background. */
void iscsi_tgt_nodes_destroy_all(void);
/** A target node by name, including one being deleted (for duplicate checks). */
struct iscsi_tgt_node *iscsi_tgt_node_find_any(const char *name);
/** True if some target node uses auth group tag. Caller holds the lock. */
bool iscsi_tgt_nodes_use_auth_grp(int32_t tag);

/*
 * RPC helpers (iscsi_rpc.c), for members of objects inside arrays.
 */
struct keel_jsonrpc_request;
/** Send err as -32602, or -32603 for -ENOMEM. */
void iscsi_rpc_error(struct keel_jsonrpc_request *req, int rc, const char *msg);
/** elem is an object whose members are all in allowed (NULL-terminated). */
int iscsi_rpc_elem_check(struct json_object *elem, const char *const *allowed, char *err,
			 size_t err_len);
/** Integer member in [min, max]; *out untouched if absent and not required. */
int iscsi_rpc_elem_int(struct json_object *elem, const char *key, bool required, int64_t min,
		       int64_t max, int64_t *out, char *err, size_t err_len);
/** String member (borrowed); *out NULL if absent and not required. */
int iscsi_rpc_elem_str(struct json_object *elem, const char *key, bool required, const char **out,
		       char *err, size_t err_len);

/*
 * Global options (config.c).
 */
/**
 * Check options as [iSCSI] and iscsi_set_options do (ranges of RFC 7143 and keel's limits).
 * \return 0; -EINVAL with *json_name / *ini_key naming the option and err the reason.
 */
int iscsi_opts_check(struct iscsi_opts *o, const char **json_name, const char **ini_key, char *err,
		     size_t err_len);

/*
 * JSON forms (config.c): the objects as the iscsi_get_* RPCs show them and as the create
 * RPCs take them.
 */
struct json_object *iscsi_opts_to_json(const struct iscsi_opts *o);
struct json_object *iscsi_auth_grp_to_json(const struct iscsi_auth_grp *ag);
/** for_config adds "wait" (true while the group is not started). */
struct json_object *iscsi_portal_grp_to_json(const struct iscsi_portal_grp *pg, bool for_config);
struct json_object *iscsi_init_grp_to_json(const struct iscsi_init_grp *ig);
struct json_object *iscsi_tgt_node_to_json(struct iscsi_tgt_node *target);

/*
 * Portal groups (portal_grp.c; listing in config.c).
 */
/** List the group. \return 0; -EEXIST if the tag is taken. Takes g_iscsi.lock. */
int iscsi_portal_grp_register(struct iscsi_portal_grp *pg);
/** Unlist, close and free. \return 0; -EBUSY if a target node maps it. */
int iscsi_portal_grp_unregister(struct iscsi_portal_grp *pg);
/** Strip "[...]" around an IPv6 host: copy into out. \return 0; -EINVAL. */
int iscsi_host_unbracket(const char *host, char *out, size_t out_len);
/** host as a portal is written: IPv6 in brackets. */
void iscsi_host_bracket(const char *host, char *out, size_t out_len);

#endif /* KEEL_ISCSI_OBJECTS_H */
