/*
 * Control API of the Security.framework double. Tests set what the "keychain"
 * holds and answers, then read back the queries made and the CF object counts.
 * Declarations only, no preprocessor lines: the Python tests append this file
 * to csrc/cu_api.h as the cffi cdef of the double module.
 */

/* Forgets items, forced statuses, the query log, and frees every CF object. */
void kcd_reset(void);
/* Stores a generic password; returns 0, or -1 when the table is full. */
int kcd_add_item(const char *service, const char *account, const unsigned char *data, size_t len);
/* A non-zero status makes every attribute-only (locate) query return it. */
void kcd_set_locate_status(int status);
/* A non-zero status makes every kSecReturnData (read) query return it. */
void kcd_set_read_status(int status);
/* Locks (1) or unlocks (0) the keychain. Locked, as on a Mac: a query that may not show UI
   (kSecUseAuthenticationUIFail) gets errSecInteractionNotAllowed, one that skips UI finds
   nothing; an attribute-only query that allows UI still succeeds; a data read that allows UI
   would raise the unlock dialog, which the double answers with errSecUserCanceled. */
void kcd_set_locked(int locked);
/* The next n data reads return an empty value (an item caught mid-rewrite). */
void kcd_set_empty_reads(int n);
/* The n-th CF object created from now (1-based) fails as if out of memory; 0 disables. */
void kcd_fail_create_at(long n);

/* CF objects created, released to a zero count, and released wrongly (NULL, a
   constant, or an object already at zero). Balanced: created == released, bad == 0. */
long kcd_cf_created(void);
long kcd_cf_released(void);
long kcd_cf_bad_releases(void);

/* The SecItemCopyMatching calls made since the last reset, in order. */
int kcd_query_count(void);
const char *kcd_query_service(int index);
const char *kcd_query_account(int index);
int kcd_query_wanted_data(int index);
/* 1 when query `index` asked for the items' attributes (kSecReturnAttributes = true). */
int kcd_query_wanted_attributes(int index);
/* 1 when query `index` asked for every match (kSecMatchLimit = kSecMatchLimitAll). */
int kcd_query_match_all(int index);
/* 1 when query `index` asked for no UI (kSecUseAuthenticationUI = kSecUseAuthenticationUIFail). */
int kcd_query_no_ui(int index);
/* 1 when query `index` broke Apple's documented rules (answered errSecParam). */
int kcd_query_malformed(int index);
