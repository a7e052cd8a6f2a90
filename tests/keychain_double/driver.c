/*
 * C test runner for the macOS Keychain branch, built against the Security.framework
 * double under ASan+UBSan and run under Valgrind (see Makefile). It walks the
 * found / not-found / hex / exit-code / timeout / locked / framework paths and checks
 * after each that every CF object was released exactly once; the sanitizers check the rest.
 *
 * Usage: driver <path of the fake security tool's log file>
 * (the fake tool's item store is made next to it, in <log>.store, and removed at the end)
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_internal.h"
#include <Security/Security.h>

#include "kcd_control.h"

static const char PAYLOAD[] = "{\"claudeAiOauth\":{\"accessToken\":\"sk-ant-oat01-TEST-driver\","
                              "\"refreshToken\":\"sk-ant-ort01-TEST-driver\",\"expiresAt\":4102444800000}}";
static const char TOKEN[] = "sk-ant-oat01-TEST-driver";
static const char SERVICE[] = "Claude Code-credentials-5ac5e874";

static const char *tool_log;
static char store[2048], store_service[2048 + 64], store_item[2048 + 128];
static int failures;

#define CHECK(cond) check((cond), #cond, __LINE__)

static void check(int ok, const char *what, int line)
{
    if (!ok) {
        fprintf(stderr, "driver.c:%d: FAILED: %s\n", line, what);
        failures++;
    }
}

static void setup(const char *tool_mode)
{
    kcd_reset();
    unlink(tool_log);
    unlink(store_item);
    setenv("FAKE_SECURITY_MODE", tool_mode, 1);
    unsetenv("FAKE_SECURITY_LOCKED");
    unsetenv("FAKE_SECURITY_EMPTY_RUNS");
}

/* Stores the login for (SERVICE, account) in the double and in the fake tool's store. */
static void add_item(const char *account)
{
    FILE *f;
    kcd_add_item(SERVICE, account, (const unsigned char *)PAYLOAD, strlen(PAYLOAD));
    CHECK(strcmp(account, "alice") == 0); /* the store file is alice's */
    f = fopen(store_item, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs(PAYLOAD, f);
        fclose(f);
    }
}

static void check_balanced(const char *name)
{
    if (kcd_cf_created() != kcd_cf_released() || kcd_cf_bad_releases() != 0) {
        fprintf(stderr, "%s: CF created %ld, released %ld, bad releases %ld\n", name, kcd_cf_created(),
                kcd_cf_released(), kcd_cf_bad_releases());
        failures++;
    }
}

static int tool_ran(void)
{
    return access(tool_log, F_OK) == 0;
}

/* Reads with alice's item stored; returns the status, checks a success. */
static int run(int mode, int timeout_ms, cu_error *err)
{
    cu_credential *cred;
    int status;
    add_item("alice");
    cred = cu_read_credential_keychain(mode, SERVICE, "alice", timeout_ms, 0, "user:profile", err);
    status = err->status;
    if (status == CU_OK) {
        size_t len = 0;
        const char *token = cu_credential_token(cred, &len);
        CHECK(len == strlen(TOKEN) && memcmp(token, TOKEN, len) == 0);
        cu_credential_free(cred);
    } else {
        CHECK(cred == NULL);
    }
    return status;
}

static void test_tool_modes(void)
{
    static const struct {
        const char *mode;
        int status;
        int os_status;
    } cases[] = {
        { "found", CU_OK, 0 },
        { "hex", CU_OK, 0 },
        { "0xhex", CU_OK, 0 },
        { "signedhex", CU_OK, 0 },
        { "exit44", CU_ERR_NOT_FOUND, -25300 },
        { "exit1", CU_ERR_TOOL_FAILED, 0 },
        { "exit36", CU_ERR_KEYCHAIN, -25308 },
        { "exit29", CU_ERR_KEYCHAIN, -25315 },
        { "exit24", CU_ERR_KEYCHAIN, -25320 },
        { "exit51", CU_ERR_KEYCHAIN, -25293 },
        { "exit128", CU_ERR_KEYCHAIN, -128 },
        { "garbage", CU_ERR_SYNTAX, 0 },
        { "huge", CU_ERR_TOO_LARGE, 0 },
        { "hang", CU_ERR_TIMEOUT, 0 },
        { "quiet-hang", CU_ERR_TIMEOUT, 0 },
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cu_error err;
        int status;
        setup(cases[i].mode);
        status = run(CU_KEYCHAIN_AUTO, 300, &err);
        if (status != cases[i].status)
            fprintf(stderr, "tool mode %s: status %d, expected %d\n", cases[i].mode, status, cases[i].status);
        CHECK(status == cases[i].status && err.status == status && err.os_status == cases[i].os_status);
        CHECK(tool_ran());
        if (strncmp(cases[i].mode, "exit", 4) == 0)
            CHECK(err.exit_code == atoi(cases[i].mode + 4));
        check_balanced(cases[i].mode);
    }
}

static void test_not_found_spawns_nothing(void)
{
    cu_error err;
    setup("found");
    kcd_add_item("Claude Code-credentials", "alice", (const unsigned char *)PAYLOAD, strlen(PAYLOAD));
    kcd_add_item(SERVICE, "bob", (const unsigned char *)PAYLOAD, strlen(PAYLOAD));
    CHECK(cu_read_credential_keychain(CU_KEYCHAIN_AUTO, SERVICE, "alice", 300, 0, NULL, &err) == NULL);
    CHECK(err.status == CU_ERR_NOT_FOUND && !tool_ran() && kcd_query_count() == 1);
    CHECK(kcd_query_no_ui(0) && !kcd_query_malformed(0));
    check_balanced("not found");
}

/* Locked: the no-UI locate fails at once, and the tool (which would raise a dialog) never runs. */
static void test_locked_keychain(void)
{
    static const int modes[] = { CU_KEYCHAIN_AUTO, CU_KEYCHAIN_FRAMEWORK };
    size_t i;
    for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        cu_error err;
        setup("found");
        setenv("FAKE_SECURITY_LOCKED", "desktop", 1);
        kcd_set_locked(1);
        CHECK(run(modes[i], 300, &err) == CU_ERR_KEYCHAIN);
        CHECK(err.os_status == -25308 && err.interactive == 0 && !tool_ran());
        check_balanced("locked");
    }
}

/* A value that stays empty: every attempt is freed and wiped, and EMPTY is the answer. */
static void test_value_that_stays_empty(void)
{
    static const int modes[] = { CU_KEYCHAIN_AUTO, CU_KEYCHAIN_FRAMEWORK };
    size_t i;
    for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        cu_error err;
        setup("found");
        setenv("FAKE_SECURITY_EMPTY_RUNS", "1000000", 1);
        kcd_set_empty_reads(1000000);
        CHECK(run(modes[i], 300, &err) == CU_ERR_EMPTY);
        check_balanced("stays empty");
    }
}

/* The payload expires at 4102444800000: read at that instant, both modes refuse it and free it. */
static void test_expired_login_is_refused(void)
{
    static const int modes[] = { CU_KEYCHAIN_AUTO, CU_KEYCHAIN_FRAMEWORK };
    size_t i;
    for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        cu_error err;
        setup("found");
        add_item("alice");
        CHECK(cu_read_credential_keychain(modes[i], SERVICE, "alice", 300, INT64_C(4102444800000), NULL, &err) == NULL);
        CHECK(err.status == CU_ERR_EXPIRED);
        check_balanced("expired");
    }
}

static void test_framework(void)
{
    cu_error err;
    setup("exit1");
    CHECK(run(CU_KEYCHAIN_FRAMEWORK, 0, &err) == CU_OK && !tool_ran());
    CHECK(kcd_query_count() == 2 && kcd_query_no_ui(0) && kcd_query_wanted_data(1) && !kcd_query_no_ui(1));
    check_balanced("framework");

    setup("exit1");
    kcd_set_read_status(-128);
    CHECK(run(CU_KEYCHAIN_FRAMEWORK, 0, &err) == CU_ERR_KEYCHAIN);
    CHECK(err.os_status == -128 && err.interactive == 1);
    check_balanced("framework denied");

    setup("exit1");
    kcd_set_locate_status(-25293);
    CHECK(run(CU_KEYCHAIN_AUTO, 0, &err) == CU_ERR_KEYCHAIN);
    CHECK(err.os_status == -25293 && err.interactive == 0 && !tool_ran());
    check_balanced("locate auth failed");
}

static void test_allocation_failures(void)
{
    int mode;
    long n;
    for (mode = CU_KEYCHAIN_AUTO; mode <= CU_KEYCHAIN_FRAMEWORK; mode++) {
        for (n = 1; n <= 10; n++) {
            cu_error err;
            setup("found");
            kcd_fail_create_at(n);
            (void)run(mode, 0, &err);
            check_balanced("allocation failure");
        }
    }
}

/* Listing an account's services: Claude Code's names only, this account's only, no data asked for. */
static void test_services(void)
{
    static const char *const stored[][2] = {
        { "Claude Code-credentials", "alice" },
        { "Claude Code-credentials-5ac5e874", "alice" },
        { "Claude Code-credentials-6a836d2f", "bob" },
        { "Claude Code-credentials-xyz", "alice" },
        { "Claude Code-credentials-0123456789", "alice" },
        { "Claude Code-credentials-5AC5E874", "alice" },
        { "Other", "alice" },
    };
    static const char expected[] = "Claude Code-credentials\0Claude Code-credentials-5ac5e874";
    char out[128];
    size_t used, i;
    cu_error err;

    setup("exit1");
    for (i = 0; i < sizeof stored / sizeof stored[0]; i++)
        kcd_add_item(stored[i][0], stored[i][1], (const unsigned char *)PAYLOAD, strlen(PAYLOAD));
    CHECK(cu_keychain_services("alice", out, sizeof out, &used, &err) == CU_OK && err.status == CU_OK);
    CHECK(used == sizeof expected && memcmp(out, expected, sizeof expected) == 0);
    CHECK(kcd_query_count() == 1 && kcd_query_wanted_attributes(0) && kcd_query_match_all(0) && kcd_query_no_ui(0));
    CHECK(!kcd_query_wanted_data(0) && !kcd_query_malformed(0) && strcmp(kcd_query_account(0), "alice") == 0);
    CHECK(!tool_ran());
    check_balanced("services");

    /* One byte short: nothing promised in out, the size needed in used. */
    CHECK(cu_keychain_services("alice", out, sizeof expected - 1, &used, &err) == CU_ERR_TOO_LARGE);
    CHECK(used == sizeof expected);
    check_balanced("services too small");

    CHECK(cu_keychain_services("carol", out, sizeof out, &used, &err) == CU_OK && used == 0);
    check_balanced("services none");

    kcd_set_locked(1);
    CHECK(cu_keychain_services("alice", out, sizeof out, &used, &err) == CU_ERR_KEYCHAIN);
    CHECK(err.os_status == -25308 && err.interactive == 0 && used == 0 && !tool_ran());
    check_balanced("services locked");

    for (i = 1; i <= 24; i++) {
        kcd_set_locked(0);
        kcd_fail_create_at((long)i);
        (void)cu_keychain_services("alice", out, sizeof out, &used, &err);
        check_balanced("services allocation failure");
    }
    kcd_fail_create_at(0);
}

/* One query straight to the double: n key/value pairs; the OSStatus, and *account_read the
   account of the item whose data came back (or "" when none did). */
static OSStatus query(const void **keys, const void **values, CFIndex n, char *account_read, size_t size)
{
    CFDictionaryRef q = CFDictionaryCreate(kCFAllocatorDefault, keys, values, n, &kCFTypeDictionaryKeyCallBacks,
                                           &kCFTypeDictionaryValueCallBacks);
    CFTypeRef result = NULL;
    OSStatus status = SecItemCopyMatching(q, &result);
    account_read[0] = 0;
    if (result != NULL) {
        CFIndex len = CFDataGetLength(result);
        snprintf(account_read, size, "%.*s", (int)len, (const char *)CFDataGetBytePtr(result));
        CFRelease(result);
    }
    CFRelease(q);
    return status;
}

/* The double answers by Apple's documented rules (the values stored here are the account names). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* the no-UI constants, as in cu_keychain.c */
static void test_double_follows_apples_rules(void)
{
    char got[64];
    CFStringRef svc, bob, alice;
    kcd_reset();
    kcd_add_item("svc", "bob", (const unsigned char *)"bob", 3);
    kcd_add_item("svc", "alice", (const unsigned char *)"alice", 5);
    svc = CFStringCreateWithCString(kCFAllocatorDefault, "svc", kCFStringEncodingUTF8);
    bob = CFStringCreateWithCString(kCFAllocatorDefault, "bob", kCFStringEncodingUTF8);
    alice = CFStringCreateWithCString(kCFAllocatorDefault, "alice", kCFStringEncodingUTF8);
    {
        /* An attribute left out matches any item: without the account, bob's (the first) comes back. */
        const void *k[] = { kSecClass, kSecAttrService, kSecReturnData };
        const void *v[] = { kSecClassGenericPassword, svc, kCFBooleanTrue };
        CHECK(query(k, v, 3, got, sizeof got) == errSecSuccess && strcmp(got, "bob") == 0);
    }
    {
        /* Named, exactly that account's item; no match limit means one. */
        const void *k[] = { kSecClass, kSecAttrService, kSecAttrAccount, kSecReturnData };
        const void *v[] = { kSecClassGenericPassword, svc, alice, kCFBooleanTrue };
        CHECK(query(k, v, 4, got, sizeof got) == errSecSuccess && strcmp(got, "alice") == 0);
    }
    {
        /* Data with kSecMatchLimitAll is refused on macOS; so is a missing kSecClass, and a bad UI value. */
        const void *k[] = { kSecClass, kSecAttrService, kSecMatchLimit, kSecReturnData };
        const void *v[] = { kSecClassGenericPassword, svc, kSecMatchLimitAll, kCFBooleanTrue };
        const void *k2[] = { kSecAttrService, kSecAttrAccount };
        const void *v2[] = { svc, bob };
        const void *k3[] = { kSecClass, kSecAttrService, kSecUseAuthenticationUI };
        const void *v3[] = { kSecClassGenericPassword, svc, kCFBooleanTrue };
        CHECK(query(k, v, 4, got, sizeof got) == errSecParam);
        CHECK(query(k2, v2, 2, got, sizeof got) == errSecParam);
        CHECK(query(k3, v3, 3, got, sizeof got) == errSecParam);
    }
    kcd_set_locked(1);
    {
        /* Locked: attributes still readable with UI allowed; no UI: interaction not allowed;
           skip UI: nothing found; data with UI allowed: the unlock dialog, cancelled. */
        const void *k[] = { kSecClass, kSecAttrService, kSecAttrAccount, kSecUseAuthenticationUI };
        const void *fail[] = { kSecClassGenericPassword, svc, alice, kSecUseAuthenticationUIFail };
        const void *skip[] = { kSecClassGenericPassword, svc, alice, kSecUseAuthenticationUISkip };
        const void *data_k[] = { kSecClass, kSecAttrService, kSecAttrAccount, kSecReturnData };
        const void *data_v[] = { kSecClassGenericPassword, svc, alice, kCFBooleanTrue };
        CHECK(query(k, fail, 3, got, sizeof got) == errSecSuccess);
        CHECK(query(k, fail, 4, got, sizeof got) == errSecInteractionNotAllowed);
        CHECK(query(k, skip, 4, got, sizeof got) == errSecItemNotFound);
        CHECK(query(data_k, data_v, 4, got, sizeof got) == errSecUserCanceled);
    }
    CFRelease(svc);
    CFRelease(bob);
    CFRelease(alice);
    check_balanced("apple rules");
    kcd_reset();
}
#pragma GCC diagnostic pop

/* The double must notice the mistakes it exists to catch, or the checks above prove nothing. */
static void test_double_detects_bad_releases(void)
{
    const void *s;
    kcd_reset();
    s = CFStringCreateWithCString(kCFAllocatorDefault, "x", kCFStringEncodingUTF8);
    CFRelease(s);
    CFRelease(s);
    CFRelease(NULL);
    CFRelease(kSecClass);
    CHECK(kcd_cf_created() == 1 && kcd_cf_released() == 1 && kcd_cf_bad_releases() == 3);
    kcd_reset();
    (void)CFStringCreateWithCString(kCFAllocatorDefault, "leaked", kCFStringEncodingUTF8);
    CHECK(kcd_cf_created() == 1 && kcd_cf_released() == 0);
    kcd_reset();
}

/* The lowest free descriptor: unchanged after the tests unless one leaked. */
static int lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0)
        close(fd);
    return fd;
}

int main(int argc, char **argv)
{
    int first_free_fd = lowest_free_fd();
    if (argc != 2) {
        fprintf(stderr, "usage: %s TOOL_LOG\n", argv[0]);
        return 2;
    }
    tool_log = argv[1];
    if (strlen(tool_log) > 1000) {
        fprintf(stderr, "%s: log path too long\n", argv[0]);
        return 2;
    }
    snprintf(store, sizeof store, "%s.store", tool_log);
    snprintf(store_service, sizeof store_service, "%s/%s", store, SERVICE);
    snprintf(store_item, sizeof store_item, "%s/alice", store_service);
    (void)mkdir(store, 0700);
    (void)mkdir(store_service, 0700);
    setenv("FAKE_SECURITY_LOG", tool_log, 1);
    setenv("FAKE_SECURITY_STORE", store, 1);
    setenv("FAKE_SECURITY_COUNTER", "/dev/null", 1);
    unsetenv("FAKE_SECURITY_FDS");
    test_tool_modes();
    test_not_found_spawns_nothing();
    test_locked_keychain();
    test_value_that_stays_empty();
    test_expired_login_is_refused();
    test_framework();
    test_allocation_failures();
    test_services();
    test_double_follows_apples_rules();
    test_double_detects_bad_releases();
    kcd_reset();
    unlink(tool_log);
    unlink(store_item);
    rmdir(store_service);
    rmdir(store);
    CHECK(lowest_free_fd() == first_free_fd);
    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("keychain driver: all checks passed\n");
    return 0;
}
