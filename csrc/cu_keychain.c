/*
 * Keychain credential source (macOS).
 *
 * Claude Code writes its login item with /usr/bin/security, so that binary is in
 * the item's ACL and reads the secret without a panel; an in-process read from
 * any other binary (python) makes macOS ask, every time Claude Code rewrites the
 * item. Hence two steps, for exactly one (service, account): Claude Code builds one
 * service name and never reads another profile's item, and neither do we.
 *   locate: an attribute-only SecItemCopyMatching that may not show UI; it does not
 *           touch the secret, so the ACL (and its panel) is not involved, and a locked
 *           keychain fails here (errSecInteractionNotAllowed) instead of making the
 *           tool below raise an unlock dialog;
 *   read:   CU_KEYCHAIN_AUTO spawns `security find-generic-password ... -w`;
 *           CU_KEYCHAIN_FRAMEWORK asks Security.framework for the data, accepting
 *           the panel (it names the calling application).
 * A value that reads back empty (the item caught mid-rewrite) is read again through
 * cu_read_retrying.
 *
 * Tests build the macOS branch on Linux against a Security.framework double
 * (tests/keychain_double, -DCU_KEYCHAIN_DOUBLE) with CU_SECURITY_TOOL pointing
 * at a fake tool. Elsewhere the source is unsupported.
 */
#if defined(__APPLE__) || defined(CU_KEYCHAIN_DOUBLE)
#define CU_KEYCHAIN_NATIVE 1
/* Feature macros must precede the first #include: they decide what libc declares. */
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE 1 /* POSIX_SPAWN_CLOEXEC_DEFAULT */
#elif !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1 /* pipe2, and kill/waitpid/nanosleep under -std=c99 */
#endif
#endif

#include "cu_internal.h"

#if !defined(CU_KEYCHAIN_NATIVE)

cu_credential *cu_read_credential_keychain(int mode, const char *service, const char *account, int timeout_ms,
                                           int64_t now_ms, const char *required_scope, cu_error *err)
{
    (void)mode;
    (void)service;
    (void)account;
    (void)timeout_ms;
    (void)now_ms;
    (void)required_scope;
    cu_fail(err, CU_ERR_UNSUPPORTED);
    return NULL;
}

int cu_keychain_services(const char *account, char *out, size_t out_len, size_t *used, cu_error *err)
{
    (void)account;
    (void)out;
    (void)out_len;
    if (used != NULL)
        *used = 0;
    return cu_fail(err, CU_ERR_UNSUPPORTED);
}

#else

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CoreFoundation/CoreFoundation.h>
#include <Security/Security.h>

#if defined(__APPLE__)
#include <crt_externs.h>
/* A bundle cannot link against `environ`; the process's table is reached this way. */
#define cu_environ() (*_NSGetEnviron())
#else
extern char **environ;
#define cu_environ() (environ)
#endif

#ifndef CU_SECURITY_TOOL
#define CU_SECURITY_TOOL "/usr/bin/security"
#endif
#define CU_KEYCHAIN_DEFAULT_TIMEOUT_MS 5000
#define CU_TOOL_FIRST_CHUNK ((size_t)4096)

/* --- error recording --------------------------------------------------------- */

static int keychain_fail(cu_error *err, int status, OSStatus os_status, int interactive)
{
    cu_fail(err, status);
    if (err != NULL) {
        err->os_status = (int)os_status;
        err->interactive = interactive;
    }
    return status;
}

/* -25300 is "not found" whichever step said it; any other OSStatus is a Keychain failure. */
static int os_status_fail(cu_error *err, OSStatus os_status, int interactive)
{
    int status = os_status == errSecItemNotFound ? CU_ERR_NOT_FOUND : CU_ERR_KEYCHAIN;
    return keychain_fail(err, status, os_status, interactive);
}

/* --- Security.framework ------------------------------------------------------ */

/* NULL when the text is not UTF-8 (or memory ran out: CF does not say which). */
static CFStringRef cf_string(const char *text)
{
    return CFStringCreateWithCString(kCFAllocatorDefault, text, kCFStringEncodingUTF8);
}

/*
 * The locate query may not show UI: on a locked keychain it fails with
 * errSecInteractionNotAllowed rather than succeed and leave the tool to raise an unlock
 * dialog. kSecUseAuthenticationUI is deprecated (macOS 11) in favour of an LAContext with
 * interactionNotAllowed, an Objective-C object this C module cannot make; the constant
 * still works and is what the legacy (file-based) login keychain honours.
 */
#pragma GCC diagnostic push /* clang reads GCC's spelling too */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static CFTypeRef no_ui_key(void)
{
    return kSecUseAuthenticationUI;
}
static CFTypeRef no_ui_value(void)
{
    return kSecUseAuthenticationUIFail;
}
#pragma GCC diagnostic pop

static CFDictionaryRef item_query(CFStringRef service, CFStringRef account, int want_data)
{
    const void *keys[] = { kSecClass, kSecAttrService, kSecAttrAccount, kSecMatchLimit, NULL };
    const void *values[] = { kSecClassGenericPassword, service, account, kSecMatchLimitOne, NULL };
    /* The last pair: the data (framework read, where UI is accepted), or no UI (locate). */
    keys[4] = want_data ? (const void *)kSecReturnData : no_ui_key();
    values[4] = want_data ? (const void *)kCFBooleanTrue : no_ui_value();
    return CFDictionaryCreate(kCFAllocatorDefault, keys, values, 5, &kCFTypeDictionaryKeyCallBacks,
                              &kCFTypeDictionaryValueCallBacks);
}

/*
 * Runs one query for (service, account). want_data: *data receives the item's
 * CFData (the caller releases it). CU_OK, CU_ERR_NOT_FOUND, or an error.
 */
static int query_item(const char *service_name, CFStringRef account, int want_data, CFDataRef *data, cu_error *err)
{
    CFStringRef service = NULL;
    CFDictionaryRef query = NULL;
    CFTypeRef result = NULL;
    OSStatus os_status;
    int status;

    service = cf_string(service_name);
    if (service == NULL) {
        status = keychain_fail(err, CU_ERR_KEYCHAIN, errSecParam, 0);
        goto cleanup;
    }
    query = item_query(service, account, want_data);
    if (query == NULL) {
        status = cu_fail(err, CU_ERR_NO_MEMORY);
        goto cleanup;
    }
    os_status = SecItemCopyMatching(query, want_data ? &result : NULL);
    if (os_status != errSecSuccess) {
        status = os_status_fail(err, os_status, want_data);
        goto cleanup;
    }
    if (want_data) {
        if (result == NULL || CFGetTypeID(result) != CFDataGetTypeID()) {
            status = keychain_fail(err, CU_ERR_KEYCHAIN, errSecInternalComponent, want_data);
            goto cleanup;
        }
        *data = (CFDataRef)result;
        result = NULL; /* now the caller's to release */
    }
    status = cu_ok(err);

cleanup:
    if (result != NULL)
        CFRelease(result);
    if (query != NULL)
        CFRelease(query);
    if (service != NULL)
        CFRelease(service);
    return status;
}

/* Copies the bytes out of the framework's CFData, which we cannot wipe, into a buffer we do. */
static int read_with_framework(const char *service, CFStringRef account, cu_credential **out, cu_error *err)
{
    CFDataRef data = NULL;
    char *copy = NULL;
    size_t len = 0;
    CFIndex length;
    int status = query_item(service, account, 1, &data, err);

    if (status != CU_OK)
        goto cleanup;
    length = CFDataGetLength(data);
    if (length < 0 || (size_t)length > CU_MAX_FILE_BYTES) {
        status = cu_fail(err, CU_ERR_TOO_LARGE);
        goto cleanup;
    }
    len = (size_t)length;
    copy = cu_secret_alloc(len + 1);
    if (copy == NULL) {
        status = cu_fail(err, CU_ERR_NO_MEMORY);
        goto cleanup;
    }
    if (len != 0)
        memcpy(copy, CFDataGetBytePtr(data), len);
    status = cu_parse_login(copy, len, out, err);

cleanup:
    cu_free_secret(copy, len + 1);
    if (data != NULL)
        CFRelease(data);
    return status;
}

/* --- the security tool ------------------------------------------------------- */

/* A buffer of secret bytes: every copy made while growing it is wiped. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} cu_secret_buffer;

static int buffer_grow(cu_secret_buffer *b)
{
    size_t cap = b->cap == 0 ? CU_TOOL_FIRST_CHUNK : b->cap * 2;
    char *bigger;
    if (cap > CU_MAX_FILE_BYTES + 1)
        cap = CU_MAX_FILE_BYTES + 1; /* one byte past the limit is how overflow shows */
    bigger = cu_secret_alloc(cap);
    if (bigger == NULL)
        return -1;
    if (b->len != 0)
        memcpy(bigger, b->data, b->len);
    cu_free_secret(b->data, b->cap); /* not realloc: it would free the old copy unwiped */
    b->data = bigger;
    b->cap = cap;
    return 0;
}

static long long monotonic_ms(void)
{
    return (long long)(cu_monotonic_ns() / 1000000);
}

static void kill_and_reap(pid_t pid)
{
    (void)kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

/*
 * Waits for the child until the deadline. 1: reaped, *wait_status set; 0: still
 * running at the deadline; -1: not our child any more (a SIGCHLD handler or
 * SIG_IGN reaped it), so its exit status is unknown.
 */
static int reap_by(pid_t pid, long long deadline, int *wait_status)
{
    const struct timespec pause = { 0, 2 * 1000 * 1000 };
    for (;;) {
        pid_t r = waitpid(pid, wait_status, WNOHANG);
        if (r == pid)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
        if (monotonic_ms() >= deadline)
            return 0;
        if (r == 0)
            (void)nanosleep(&pause, NULL);
    }
}

/* Moves fd above stdin/stdout/stderr, so the child's dup2 onto 0-2 never meets it. */
static int above_stdio(int fd)
{
    int moved;
    if (fd > STDERR_FILENO)
        return fd;
    moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    close(fd);
    return moved;
}

/* A pipe whose ends do not leak into processes other threads start meanwhile. */
static int cloexec_pipe(int fds[2])
{
#if defined(__APPLE__)
    /* No pipe2 on macOS: a fork in another thread between these calls may inherit
       the ends (our spawn itself uses POSIX_SPAWN_CLOEXEC_DEFAULT). */
    if (pipe(fds) != 0)
        return -1;
    if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0)
        goto fail;
#else
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
#endif
    fds[0] = above_stdio(fds[0]);
    fds[1] = above_stdio(fds[1]);
    if (fds[0] >= 0 && fds[1] >= 0)
        return 0;
#if defined(__APPLE__)
fail :
#endif
{
    int saved = errno;
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    errno = saved;
}
    return -1;
}

/* Starts the tool with stdout on a pipe, stdin and stderr on /dev/null; no shell. */
static int spawn_tool(const char *service, const char *account, pid_t *pid, int *read_fd, cu_error *err)
{
    char tool[] = CU_SECURITY_TOOL;
    char command[] = "find-generic-password", s_flag[] = "-s", a_flag[] = "-a", w_flag[] = "-w";
    char *argv[8];
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    sigset_t no_signals, default_signals;
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    int fds[2];
    int rc;

    argv[0] = tool;
    argv[1] = command;
    argv[2] = s_flag;
    argv[3] = (char *)service; /* posix_spawn's prototype predates const; it does not write */
    argv[4] = a_flag;
    argv[5] = (char *)account;
    argv[6] = w_flag;
    argv[7] = NULL;

    if (cloexec_pipe(fds) != 0)
        return cu_fail_errno(err, CU_ERR_SPAWN, errno);
    rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) {
        close(fds[0]);
        close(fds[1]);
        return cu_fail_errno(err, CU_ERR_SPAWN, rc);
    }
    rc = posix_spawnattr_init(&attributes);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        close(fds[0]);
        close(fds[1]);
        return cu_fail_errno(err, CU_ERR_SPAWN, rc);
    }
#if defined(POSIX_SPAWN_CLOEXEC_DEFAULT)
    flags |= POSIX_SPAWN_CLOEXEC_DEFAULT; /* the child gets only the fds named below */
#endif
    /* The caller's blocked signals and ignored SIGPIPE (python ignores it) must not reach the tool. */
    sigemptyset(&no_signals);
    sigemptyset(&default_signals);
    sigaddset(&default_signals, SIGPIPE);
    if ((rc = posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO)) == 0
        && (rc = posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)) == 0
        && (rc = posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0)) == 0
        && (rc = posix_spawnattr_setsigmask(&attributes, &no_signals)) == 0
        && (rc = posix_spawnattr_setsigdefault(&attributes, &default_signals)) == 0
        && (rc = posix_spawnattr_setflags(&attributes, flags)) == 0)
        rc = posix_spawn(pid, tool, &actions, &attributes, argv, cu_environ());
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return cu_fail_errno(err, CU_ERR_SPAWN, rc);
    }
    *read_fd = fds[0];
    return CU_OK;
}

/* Reads fd to EOF into out, until the deadline and at most CU_MAX_FILE_BYTES. */
static int read_until_eof(int fd, long long deadline, cu_secret_buffer *out, cu_error *err)
{
    for (;;) {
        struct pollfd ready;
        long long left = deadline - monotonic_ms();
        ssize_t n;
        int r;

        if (left <= 0)
            return cu_fail(err, CU_ERR_TIMEOUT);
        ready.fd = fd;
        ready.events = POLLIN;
        ready.revents = 0;
        r = poll(&ready, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r < 0 && errno != EINTR)
            return cu_fail_errno(err, CU_ERR_IO, errno);
        if (r <= 0)
            continue;
        if (out->len == out->cap && buffer_grow(out) != 0)
            return cu_fail(err, CU_ERR_NO_MEMORY);
        n = read(fd, out->data + out->len, out->cap - out->len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return cu_fail_errno(err, CU_ERR_IO, errno);
        }
        if (n == 0)
            return CU_OK;
        out->len += (size_t)n;
        if (out->len > CU_MAX_FILE_BYTES)
            return cu_fail(err, CU_ERR_TOO_LARGE);
    }
}

/*
 * security exits with the low byte of the OSStatus it failed with (Apple's security
 * tool: `return (int)status` from main, truncated by exit). The ones a read can meet:
 */
static const struct {
    int exit_code;
    OSStatus os_status;
} tool_exits[] = {
    { 44, errSecItemNotFound },          /* -25300 */
    { 36, errSecInteractionNotAllowed }, /* -25308: locked keychain, no UI (e.g. over SSH) */
    { 29, errSecInteractionRequired },   /* -25315 */
    { 24, errSecInDarkWake },            /* -25320 */
    { 51, errSecAuthFailed },            /* -25293: wrong password, or the ACL said no */
    { 128, errSecUserCanceled },         /* -128: the user cancelled the dialog */
};

/* A non-zero exit: its OSStatus when known (CU_ERR_NOT_FOUND / CU_ERR_KEYCHAIN), else TOOL_FAILED. */
static int tool_exit_fail(cu_error *err, int exit_code)
{
    size_t i;
    int status = CU_ERR_TOOL_FAILED;
    for (i = 0; i < sizeof tool_exits / sizeof tool_exits[0]; i++)
        if (tool_exits[i].exit_code == exit_code) {
            /* The tool may show UI in a desktop session: an auth failure there is a refusal. */
            status = os_status_fail(err, tool_exits[i].os_status, 1);
            break;
        }
    if (status == CU_ERR_TOOL_FAILED)
        cu_fail(err, status);
    if (err != NULL)
        err->exit_code = exit_code;
    return status;
}

/* Runs the tool for one item; on CU_OK, out holds its whole standard output. */
static int run_tool(const char *service, const char *account, int timeout_ms, cu_secret_buffer *out, cu_error *err)
{
    long long deadline = monotonic_ms() + timeout_ms;
    pid_t pid;
    int fd, wait_status = 0, reaped, status;

    status = spawn_tool(service, account, &pid, &fd, err);
    if (status != CU_OK)
        return status;
    status = read_until_eof(fd, deadline, out, err);
    close(fd);
    if (status != CU_OK) {
        kill_and_reap(pid);
        return status;
    }
    /* EOF is not exit: a tool that closed stdout and hangs still meets the deadline. */
    reaped = reap_by(pid, deadline, &wait_status);
    if (reaped == 0) {
        kill_and_reap(pid);
        return cu_fail(err, CU_ERR_TIMEOUT);
    }
    if (reaped < 0 || (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0))
        return cu_ok(err); /* unknown status: let the output speak for itself */
    if (WIFEXITED(wait_status))
        return tool_exit_fail(err, WEXITSTATUS(wait_status));
    cu_fail(err, CU_ERR_TOOL_FAILED);
    if (err != NULL) /* a signal is reported the way shells do: 128 + its number (never mapped) */
        err->exit_code = 128 + WTERMSIG(wait_status);
    return CU_ERR_TOOL_FAILED;
}

/* Where the hex digits start if text is hex (optionally 0x-prefixed, even length), else -1. */
static long hex_start(const char *text, size_t len)
{
    size_t start = (len >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) ? 2 : 0;
    size_t i;
    if (len == start || (len - start) % 2 != 0)
        return -1;
    for (i = start; i < len; i++)
        if (cu_hex_value((unsigned char)text[i]) < 0)
            return -1;
    return (long)start;
}

static int starts_like_json(const char *text, size_t len)
{
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    return i < len && text[i] == '{';
}

static int hex_byte(const char *pair)
{
    return cu_hex_value((unsigned char)pair[0]) * 16 + cu_hex_value((unsigned char)pair[1]);
}

/*
 * Decodes n hex pairs at hex into out (room for n bytes); returns the byte count, or -1.
 * signed_chars: the form older macOS printed (printf of a signed char), where a byte
 * >= 0x80 is sign-extended to "ffffffXX" and every other byte is a plain pair.
 */
static long decode_hex(const char *hex, size_t n, int signed_chars, unsigned char *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        int byte = hex_byte(hex + 2 * i);
        if (signed_chars && byte == 0xff) {
            /* ff ff ff XX with XX >= 0x80 is one byte; anything else is not this form. */
            if (n - i < 4 || hex_byte(hex + 2 * i + 2) != 0xff || hex_byte(hex + 2 * i + 4) != 0xff
                || hex_byte(hex + 2 * i + 6) < 0x80)
                return -1;
            byte = hex_byte(hex + 2 * i + 6);
            i += 3;
        } else if (signed_chars && byte >= 0x80) {
            return -1;
        }
        out[o++] = (unsigned char)byte;
        i++;
    }
    return (long)o;
}

/*
 * security -w prints the value and a newline, in hex when the value has non-printable
 * bytes. UTF-8 (and so a JSON login) never holds the byte 0xff: a plain decoding that
 * yields one means the signed form, decoded again as such.
 */
static int parse_tool_output(const char *text, size_t len, cu_credential **out, cu_error *err)
{
    long start;
    if (len != 0 && text[len - 1] == '\n')
        len--;
    start = starts_like_json(text, len) ? -1 : hex_start(text, len);
    if (start >= 0) {
        size_t pairs = (len - (size_t)start) / 2;
        unsigned char *decoded = cu_secret_alloc(pairs + 1);
        long decoded_len;
        int status;
        if (decoded == NULL)
            return cu_fail(err, CU_ERR_NO_MEMORY);
        decoded_len = decode_hex(text + start, pairs, 0, decoded);
        if (memchr(decoded, 0xff, (size_t)decoded_len) != NULL)
            decoded_len = decode_hex(text + start, pairs, 1, decoded);
        if (decoded_len < 0) /* not the signed form either: what it is, the parser says */
            decoded_len = decode_hex(text + start, pairs, 0, decoded);
        status = cu_parse_login((const char *)decoded, (size_t)decoded_len, out, err);
        cu_free_secret(decoded, pairs + 1);
        return status;
    }
    return cu_parse_login(text, len, out, err);
}

static int read_with_tool(const char *service, const char *account, int timeout_ms, cu_credential **out, cu_error *err)
{
    cu_secret_buffer output = { NULL, 0, 0 };
    int status = run_tool(service, account, timeout_ms, &output, err);
    if (status == CU_OK)
        status = parse_tool_output(output.data != NULL ? output.data : "", output.len, out, err);
    cu_free_secret(output.data, output.cap);
    return status;
}

/* --- listing an account's services ------------------------------------------ */

#define CU_LEGACY_SERVICE "Claude Code-credentials"
#define CU_SERVICE_HASH_DIGITS 8
/* The longest name kept ("Claude Code-credentials-" and 8 hex digits) and its NUL: a longer
   one does not fit, and so is not Claude Code's. */
#define CU_SERVICE_NAME_BYTES (sizeof CU_LEGACY_SERVICE "-" + CU_SERVICE_HASH_DIGITS)

/* Every item of the account, attributes only: no data, so neither the ACL nor its panel is involved. */
static CFDictionaryRef services_query(CFStringRef account)
{
    const void *keys[] = { kSecClass, kSecAttrAccount, kSecMatchLimit, kSecReturnAttributes, no_ui_key() };
    const void *values[] = { kSecClassGenericPassword, account, kSecMatchLimitAll, kCFBooleanTrue, no_ui_value() };
    return CFDictionaryCreate(kCFAllocatorDefault, keys, values, 5, &kCFTypeDictionaryKeyCallBacks,
                              &kCFTypeDictionaryValueCallBacks);
}

/* Claude Code's names only: the legacy one, or it, a dash and 8 lowercase hex digits (sha256 hexdigest). */
static int is_claude_code_service(const char *name)
{
    size_t prefix = sizeof CU_LEGACY_SERVICE - 1, i;
    if (strncmp(name, CU_LEGACY_SERVICE, prefix) != 0)
        return 0;
    if (name[prefix] == '\0')
        return 1;
    if (name[prefix] != '-')
        return 0;
    for (i = prefix + 1; i < prefix + 1 + CU_SERVICE_HASH_DIGITS; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return 0; /* a NUL ends a short name here too */
    return name[i] == '\0';
}

/*
 * The service of one attribute dictionary, copied into name, when it is Claude Code's.
 * Anything else (another type, no service, a longer name that does not fit) is skipped.
 */
static int claude_code_service(CFTypeRef attributes, char name[CU_SERVICE_NAME_BYTES])
{
    CFTypeRef service;
    if (attributes == NULL || CFGetTypeID(attributes) != CFDictionaryGetTypeID())
        return 0;
    service = CFDictionaryGetValue((CFDictionaryRef)attributes, kSecAttrService);
    if (service == NULL || CFGetTypeID(service) != CFStringGetTypeID())
        return 0;
    if (!CFStringGetCString((CFStringRef)service, name, (CFIndex)CU_SERVICE_NAME_BYTES, kCFStringEncodingUTF8))
        return 0;
    return is_claude_code_service(name);
}

/* Packs the kept names of the result array into out; *used: the bytes they take, or would. */
static int pack_services(CFArrayRef items, char *out, size_t out_len, size_t *used, cu_error *err)
{
    CFIndex count = CFArrayGetCount(items), i;
    size_t needed = 0;
    for (i = 0; i < count; i++) {
        char name[CU_SERVICE_NAME_BYTES];
        size_t n;
        if (!claude_code_service(CFArrayGetValueAtIndex(items, i), name))
            continue;
        n = strlen(name) + 1;
        if (needed + n <= out_len)
            memcpy(out + needed, name, n);
        needed += n;
    }
    *used = needed;
    return needed <= out_len ? cu_ok(err) : cu_fail(err, CU_ERR_TOO_LARGE);
}

int cu_keychain_services(const char *account, char *out, size_t out_len, size_t *used, cu_error *err)
{
    CFStringRef account_ref = NULL;
    CFDictionaryRef query = NULL;
    CFTypeRef result = NULL;
    OSStatus os_status;
    int status;

    if (used != NULL)
        *used = 0;
    if (account == NULL || used == NULL || (out == NULL && out_len != 0))
        return keychain_fail(err, CU_ERR_KEYCHAIN, errSecParam, 0);
    account_ref = cf_string(account);
    if (account_ref == NULL)
        return keychain_fail(err, CU_ERR_KEYCHAIN, errSecParam, 0);
    query = services_query(account_ref);
    if (query == NULL) {
        status = cu_fail(err, CU_ERR_NO_MEMORY);
        goto cleanup;
    }
    os_status = SecItemCopyMatching(query, &result);
    if (os_status == errSecItemNotFound) {
        status = cu_ok(err); /* no item: an empty list, not an error */
        goto cleanup;
    }
    if (os_status != errSecSuccess) {
        status = os_status_fail(err, os_status, 0);
        goto cleanup;
    }
    if (result == NULL || CFGetTypeID(result) != CFArrayGetTypeID()) {
        status = keychain_fail(err, CU_ERR_KEYCHAIN, errSecInternalComponent, 0);
        goto cleanup;
    }
    status = pack_services((CFArrayRef)result, out, out_len, used, err);

cleanup:
    if (result != NULL)
        CFRelease(result);
    if (query != NULL)
        CFRelease(query);
    CFRelease(account_ref);
    return status;
}

/* --- the API ----------------------------------------------------------------- */

/* What one attempt at reading the located item needs. */
typedef struct {
    int mode;
    const char *service;
    const char *account;
    CFStringRef account_ref;
    int timeout_ms;
} read_attempt;

/* A cu_login_reader: reads the item once, through the tool or the framework. */
static int read_once(void *context, cu_credential **out, cu_error *err)
{
    const read_attempt *a = context;
    *out = NULL;
    if (a->mode == CU_KEYCHAIN_AUTO)
        return read_with_tool(a->service, a->account, a->timeout_ms, out, err);
    return read_with_framework(a->service, a->account_ref, out, err);
}

static int read_keychain_login(int mode, const char *service, const char *account, int timeout_ms, cu_credential **out,
                               cu_error *err)
{
    read_attempt attempt;
    int status;

    *out = NULL;
    if ((mode != CU_KEYCHAIN_AUTO && mode != CU_KEYCHAIN_FRAMEWORK) || account == NULL || service == NULL)
        return keychain_fail(err, CU_ERR_KEYCHAIN, errSecParam, 0);
    attempt.mode = mode;
    attempt.service = service;
    attempt.account = account;
    attempt.timeout_ms = timeout_ms <= 0 ? CU_KEYCHAIN_DEFAULT_TIMEOUT_MS : timeout_ms;
    attempt.account_ref = cf_string(account);
    if (attempt.account_ref == NULL)
        return keychain_fail(err, CU_ERR_KEYCHAIN, errSecParam, 0);
    status = query_item(service, attempt.account_ref, 0, NULL, err);
    if (status == CU_OK) /* located once; an empty value (mid-rewrite) is read again */
        status = cu_read_retrying(read_once, &attempt, out, err);
    CFRelease(attempt.account_ref);
    return status;
}

cu_credential *cu_read_credential_keychain(int mode, const char *service, const char *account, int timeout_ms,
                                           int64_t now_ms, const char *required_scope, cu_error *err)
{
    cu_credential *cred;
    int status = read_keychain_login(mode, service, account, timeout_ms, &cred, err);
    return cu_checked_login(status, cred, now_ms, required_scope, err);
}

#endif
