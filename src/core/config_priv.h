/* Private to the config_*.c files: the schema table that drives parsing, defaults,
 * range checks, the unknown-key check and freeing of struct sb_config.
 * Thread: control (load), any (free on the last unref). */
#pragma once

#include <libconfig.h>
#include <stddef.h>

#include <sb/config.h>

/* Which object a key is stored in: the groups sip/rtp/limits/threads/log/dns/webhook/admin store
 * into struct sb_config itself; list elements store into their own array element. */
enum sb_cfg_scope {
	SB_SC_ROOT,
	SB_SC_SIP,
	SB_SC_RTP,
	SB_SC_LIMITS,
	SB_SC_THREADS,
	SB_SC_LOG,
	SB_SC_DNS,
	SB_SC_WEBHOOK,
	SB_SC_ADMIN,
	SB_SC_LISTEN, /* struct sb_listen */
	SB_SC_TRUNK,  /* struct sb_trunk */
	SB_SC_ROUTE,  /* struct sb_bot_route */
	SB_SC_BOT,    /* struct sb_bot_cfg */
};

enum sb_cfg_type {
	SB_KT_GROUP,  /* { ... } holding the keys of .sub, stored in the same object */
	SB_KT_LIST,   /* ( { ... }, ... ): array of .elem_size objects at .off, count at .off_n */
	SB_KT_INT,    /* integer of .size bytes (int or uint16_t) in [.min, .max] */
	SB_KT_BOOL,   /* true / false into a bool */
	SB_KT_STR,    /* char * (duplicated) */
	SB_KT_NAME,   /* char[SB_NAME_MAX + 1]: [A-Za-z0-9_]{1,16} */
	SB_KT_ENUM,   /* int-sized enum from .enums */
	SB_KT_STRS,   /* ( "a", ... ) or [ ... ]: char ** at .off, count at .off_n */
	SB_KT_CIDRS,  /* strings through sb_cidr_parse: struct sb_cidr * at .off, count at .off_n */
	SB_KT_URL,    /* char *url_text at .off, struct sb_url at .off_n */
	SB_KT_BOTREF, /* a bot's name → const struct sb_bot_cfg * (bots are parsed first) */
};

#define SB_CFG_REQUIRED 0x1u

struct sb_cfg_enum {
	const char *name;
	int value; /* < 0: a value this version knows of but does not support */
};

struct sb_cfg_key {
	enum sb_cfg_scope scope;
	const char *name;
	enum sb_cfg_type type;
	unsigned flags;
	long long min, max; /* KT_INT: value range; lists: element count (max 0 = no limit) */
	long long def_int;  /* KT_INT, KT_ENUM */
	/* KT_STR: default value (NULL = ""); KT_LIST: libconfig text of the default list */
	const char *def_str;
	const struct sb_cfg_enum *enums; /* KT_ENUM, terminated by a NULL name */
	/* Extra checks; return NULL when fine or a reason ("must be even"). */
	const char *(*check_int)(long long v);
	const char *(*check_str)(const char *s);
	size_t off, size;      /* the field and its size */
	size_t off_n;          /* count field (lists), struct sb_url (KT_URL) */
	enum sb_cfg_scope sub; /* KT_GROUP, KT_LIST */
	size_t elem_size;      /* KT_LIST */
};

extern const struct sb_cfg_key sb_cfg_schema[];
extern const size_t sb_cfg_schema_len;

/* The value of enum name s for key k; -EINVAL with a reason in why when s is unknown or not
 * supported by this version. */
int sb_cfg_enum_value(const struct sb_cfg_key *k, const char *s, char *why, size_t whylen);
/* Frees what the schema says obj (an object of scope sc) owns, not obj itself. Zeroed and
 * half-filled objects are fine. */
void sb_cfg_free_scope(enum sb_cfg_scope sc, void *obj);

/* config_lex.c: copies text into *out (malloc'd), adding an L to every integer literal that
 * libconfig 1.5 would otherwise truncate to 32 bits. Returns 0; -EINVAL with err holding
 * "NAME:LINE: reason" for a literal beyond 64 bits or an @include; -ENOMEM. */
int sb_config_widen_ints(const char *text, const char *name, char **out, char *err, size_t errlen);

/* config_listen.c: the rules between sip.listen entries and the files of a tls entry (read and
 * checked with OpenSSL). A tls entry without a port in lc gets 5061 first. Returns 0, or
 * -EINVAL with *idx the entry, *key its key ("cert") and the reason in why. */
int sb_cfg_check_listen(struct sb_config *c, const config_t *lc, size_t *idx, const char **key,
                        char *why, size_t whylen);

/* config.c: writes "FILE:LINE: KEY: reason" into err (FILE the setting's, else name; line 1
 * for a key the file lacks, s NULL) and returns -EINVAL. */
int sb_cfg_report(const char *name, char *err, size_t errlen, const config_setting_t *s,
                  const char *key, const char *why);

/* Where a load's errors go; name stands for the file of keys it lacks. */
struct sb_cfg_errbuf {
	const char *name;
	char *err;
	size_t errlen;
};

/* config_check.c: applies the overrides (ov may be NULL) to a parsed c, checks the rules that
 * tie its keys together (lc: the parsed text, for the lines of errors), and derives what is
 * kept in a second form. Returns 0, -EINVAL with the error in e, or -ENOMEM. */
int sb_cfg_finish(struct sb_config *c, const config_t *lc, const struct sb_config_overrides *ov,
                  const struct sb_cfg_errbuf *e);
