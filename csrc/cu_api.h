/*
 * The whole C API of claude-usage's native module.
 *
 * cffi reads this file verbatim as its cdef, so it holds declarations only: no
 * preprocessor lines, and the same text on every platform (platform code lives
 * behind #ifdef in the .c files). C sources include it through cu_internal.h.
 */

typedef enum {
    CU_OK = 0,
    CU_ERR_NO_MEMORY = 1,
    CU_ERR_NOT_FOUND = 2,  /* ENOENT/ENOTDIR: nothing stored at that place */
    CU_ERR_PERMISSION = 3, /* EACCES/EPERM; errno in cu_error.sys_errno */
    CU_ERR_IS_DIRECTORY = 4,
    CU_ERR_NOT_REGULAR = 5,    /* FIFO, socket, device: refused without reading */
    CU_ERR_IO = 6,             /* any other open/fstat/read failure; errno given */
    CU_ERR_TOO_LARGE = 7,      /* over CU_MAX_FILE_BYTES: refused, never read */
    CU_ERR_EMPTY = 8,          /* zero bytes, or only white space */
    CU_ERR_SYNTAX = 9,         /* not RFC 8259 JSON; byte offset in cu_error.offset */
    CU_ERR_TOO_DEEP = 10,      /* nesting beyond CU_MAX_DEPTH */
    CU_ERR_NOT_OBJECT = 11,    /* the document is valid JSON but not an object */
    CU_ERR_WRONG_TYPE = 12,    /* a known field has the wrong JSON type; cu_error.field */
    CU_ERR_NOT_LOGGED_IN = 13, /* no claudeAiOauth object, or an empty accessToken */
    CU_ERR_BAD_TOKEN = 14,     /* token over 4 KiB or outside the RFC 6750 alphabet */
    CU_ERR_UNSUPPORTED = 15,   /* this build has no such credential source */
    CU_ERR_KEYCHAIN = 16,      /* Security.framework failure; cu_error.os_status */
    CU_ERR_SPAWN = 17,         /* the security tool could not be started; errno given */
    CU_ERR_TIMEOUT = 18,       /* the security tool ran past its timeout: killed, reaped */
    CU_ERR_TOOL_FAILED = 19,   /* the security tool exited non-zero with no known OSStatus; cu_error.exit_code */
    CU_ERR_EXPIRED = 20,       /* a stored login's expiresAt is not after now_ms */
    CU_ERR_MISSING_SCOPE = 21  /* a stored login lists scopes, and not the required one */
} cu_status;

typedef enum {
    CU_KEYCHAIN_AUTO = 0,     /* locate with Security.framework, read with /usr/bin/security */
    CU_KEYCHAIN_FRAMEWORK = 1 /* read the data in-process (macOS may show a panel) */
} cu_keychain_mode;

typedef struct {
    int status;      /* a cu_status */
    int sys_errno;   /* errno of a failed system call, else 0 */
    int os_status;   /* OSStatus of a failed Keychain call, else 0 */
    int exit_code;   /* the security tool's non-zero exit code, whatever status it mapped to */
    size_t offset;   /* CU_ERR_SYNTAX: byte offset of the first bad byte */
    char field[32];  /* CU_ERR_WRONG_TYPE: the field's name (never a value) */
    int interactive; /* CU_ERR_KEYCHAIN: 1 if the failing call could show UI (a framework read) */
} cu_error;

/* An extracted login. Owned by C; cu_credential_free wipes every byte of it. */
typedef struct cu_credential cu_credential;

/* Each returns the login, which the caller frees with cu_credential_free, or NULL; err
   (which may be NULL) gets the cu_status either way.
   The readers of a stored login also refuse one that cannot work: CU_ERR_EXPIRED when its
   expiresAt is not after now_ms, CU_ERR_MISSING_SCOPE when it lists scopes and required_scope
   (unless NULL) is not among them; a missing expiresAt or scopes list is not held against it.
   Refused there, the login never leaves C. */
cu_credential *cu_read_credential_file(const char *path, int64_t now_ms, const char *required_scope, cu_error *err);
cu_credential *cu_parse_credential_json(const char *data, size_t len, cu_error *err);
cu_credential *cu_credential_from_token(const char *token, size_t len, cu_error *err);
/* Reads the generic password of (service, account): exactly that item, no other name is
   tried. The item is located without UI (a locked keychain fails with errSecInteractionNotAllowed
   instead of prompting); not found: CU_ERR_NOT_FOUND, and nothing is spawned. The security
   tool's documented exit codes come back as their OSStatus in cu_error.os_status. A value that
   reads back empty is read again (cu_read_retrying). Off macOS: CU_ERR_UNSUPPORTED.
   timeout_ms bounds each run of the security tool (CU_KEYCHAIN_AUTO); <= 0 means 5000. */
cu_credential *cu_read_credential_keychain(int mode, const char *service, const char *account, int timeout_ms,
                                           int64_t now_ms, const char *required_scope, cu_error *err);
/* Lists the Claude Code services ("Claude Code-credentials", or it followed by "-" and 8
   lowercase hex digits) that hold a generic password of account; other services are skipped.
   One attribute-only query that may not show UI: no secret is read, nothing is spawned, and a
   locked keychain fails with errSecInteractionNotAllowed (CU_ERR_KEYCHAIN, as the locate step).
   Each name is written NUL-terminated, one after another, into out (out_len bytes), in the
   Keychain's order (a name held in two keychains comes twice); *used gets the bytes written.
   CU_OK, with *used 0 when the account has no item; CU_ERR_TOO_LARGE when out is too small,
   with *used the bytes needed. Off macOS: CU_ERR_UNSUPPORTED. */
int cu_keychain_services(const char *account, char *out, size_t out_len, size_t *used, cu_error *err);

/* Pointers stay valid until cu_credential_free; strings are not NUL-terminated
   in meaning (use *len), though a NUL follows each for convenience. */
const char *cu_credential_token(const cu_credential *cred, size_t *len);
/* "Bearer <token>", NUL-terminated (a token holds no NUL): the Authorization header value. */
const char *cu_credential_authorization(const cu_credential *cred);
int cu_credential_expires_at(const cu_credential *cred, int64_t *ms); /* 1 if present */
int cu_credential_has_scopes(const cu_credential *cred);
size_t cu_credential_scope_count(const cu_credential *cred);
const char *cu_credential_scope(const cu_credential *cred, size_t index, size_t *len);
const char *cu_credential_subscription_type(const cu_credential *cred, size_t *len); /* NULL if absent */
const char *cu_credential_rate_limit_tier(const cu_credential *cred, size_t *len);   /* NULL if absent */
void cu_credential_free(cu_credential *cred);

/* The guarded allocator that holds every secret buffer (cu_secure_alloc.c). cu_secure_status
   makes and releases one probe buffer, whose protections are the probe_* fields; the counters
   cover every secret buffer since the module was loaded (the probe's included). */
typedef struct {
    int guard_pages;         /* 1: buffers sit between PROT_NONE pages */
    int probe_locked;        /* 1: mlock took */
    int probe_lock_errno;    /* why it did not (EPERM, ENOMEM: RLIMIT_MEMLOCK), else 0 */
    int probe_dump_excluded; /* 1: MADV_DONTDUMP / MADV_NOCORE took */
    int probe_wipe_on_fork;  /* 1: MADV_WIPEONFORK / minherit took */
    size_t allocations;
    size_t locked;
    size_t lock_failures;
    int last_lock_errno;
    size_t dump_excluded;
    size_t wipe_on_fork;
    size_t live;              /* secret buffers in use now */
    int64_t last_exposure_ns; /* the last span from the first of them taken to the last wiped */
    int64_t max_exposure_ns;  /* the longest such span */
} cu_secure_info;
void cu_secure_status(cu_secure_info *out);

/* Hardens the calling process (cu_harden.c): on Linux no core dumps and no same-user ptrace or
   /proc/PID/mem (PR_SET_DUMPABLE 0), elsewhere RLIMIT_CORE 0. CU_OK, or CU_ERR_IO with errno. */
int cu_harden_process(cu_error *err);
/* 1: the process may be dumped or traced by its user (Linux: PR_GET_DUMPABLE; elsewhere
   RLIMIT_CORE above 0), 0: it may not, -1: unknown. */
int cu_process_dumpable(void);

size_t cu_max_file_bytes(void);
size_t cu_max_token_bytes(void);
int cu_max_depth(void);
