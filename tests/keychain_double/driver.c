/*
 * C test runner for the macOS Keychain branch, built against the Security.framework
 * double under ASan+UBSan and run under Valgrind (see Makefile). It walks the
 * found / not-found / hex / failure / timeout / framework paths and checks after
 * each that every CF object was released exactly once; the sanitizers check the rest.
 *
 * Usage: driver <path of the fake security tool's log file>
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_internal.h"
#include <Security/Security.h>

#include "kcd_control.h"

static const char PAYLOAD[] =
    "{\"claudeAiOauth\":{\"accessToken\":\"sk-ant-oat01-TEST-driver\","
    "\"refreshToken\":\"sk-ant-ort01-TEST-driver\",\"expiresAt\":4102444800000}}";
static const char TOKEN[] = "sk-ant-oat01-TEST-driver";
static const char *const SERVICES[] = { "Claude Code-credentials-5ac5e874", "Claude Code-credentials" };

static const char *tool_log;
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
    setenv("FAKE_SECURITY_MODE", tool_mode, 1);
}

static void check_balanced(const char *name)
{
    if (kcd_cf_created() != kcd_cf_released() || kcd_cf_bad_releases() != 0) {
        fprintf(stderr, "%s: CF created %ld, released %ld, bad releases %ld\n", name,
                kcd_cf_created(), kcd_cf_released(), kcd_cf_bad_releases());
        failures++;
    }
}

static int tool_ran(void)
{
    return access(tool_log, F_OK) == 0;
}

/* Reads with the item stored under the legacy name; returns the status, checks a success. */
static int run(int mode, int timeout_ms, cu_error *err)
{
    cu_credential *cred;
    int status;
    kcd_add_item(SERVICES[1], "alice", (const unsigned char *)PAYLOAD, strlen(PAYLOAD));
    cred = cu_read_credential_keychain(mode, SERVICES, 2, "alice", timeout_ms, 0, "user:profile", err);
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
    static const struct { const char *mode; int status; } cases[] = {
        { "found", CU_OK }, { "hex", CU_OK }, { "0xhex", CU_OK },
        { "exit44", CU_ERR_NOT_FOUND }, { "fail", CU_ERR_TOOL_FAILED },
        { "garbage", CU_ERR_SYNTAX }, { "huge", CU_ERR_TOO_LARGE },
        { "hang", CU_ERR_TIMEOUT }, { "quiet-hang", CU_ERR_TIMEOUT },
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cu_error err;
        int status;
        setup(cases[i].mode);
        status = run(CU_KEYCHAIN_AUTO, 300, &err);
        if (status != cases[i].status)
            fprintf(stderr, "tool mode %s: status %d, expected %d\n", cases[i].mode, status, cases[i].status);
        CHECK(status == cases[i].status && err.status == status);
        CHECK(tool_ran());
        if (status == CU_ERR_TOOL_FAILED)
            CHECK(err.exit_code == 1);
        check_balanced(cases[i].mode);
    }
}

static void test_not_found_spawns_nothing(void)
{
    cu_error err;
    setup("found");
    CHECK(cu_read_credential_keychain(CU_KEYCHAIN_AUTO, SERVICES, 2, "alice", 300, 0, NULL, &err) == NULL);
    CHECK(err.status == CU_ERR_NOT_FOUND && !tool_ran() && kcd_query_count() == 2);
    check_balanced("not found");
}

/* The payload expires at 4102444800000: read at that instant, both modes refuse it and free it. */
static void test_expired_login_is_refused(void)
{
    static const int modes[] = { CU_KEYCHAIN_AUTO, CU_KEYCHAIN_FRAMEWORK };
    size_t i;
    for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        cu_error err;
        setup("found");
        kcd_add_item(SERVICES[1], "alice", (const unsigned char *)PAYLOAD, strlen(PAYLOAD));
        CHECK(cu_read_credential_keychain(modes[i], SERVICES, 2, "alice", 300, INT64_C(4102444800000), NULL,
                                          &err) == NULL);
        CHECK(err.status == CU_ERR_EXPIRED);
        check_balanced("expired");
    }
}

static void test_framework(void)
{
    cu_error err;
    setup("fail");
    CHECK(run(CU_KEYCHAIN_FRAMEWORK, 0, &err) == CU_OK && !tool_ran());
    check_balanced("framework");

    setup("fail");
    kcd_set_read_status(-128);
    CHECK(run(CU_KEYCHAIN_FRAMEWORK, 0, &err) == CU_ERR_KEYCHAIN);
    CHECK(err.os_status == -128 && err.interactive == 1);
    check_balanced("framework denied");

    setup("fail");
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
    setenv("FAKE_SECURITY_LOG", tool_log, 1);
    setenv("FAKE_SECURITY_PAYLOAD", PAYLOAD, 1);
    unsetenv("FAKE_SECURITY_FDS");
    test_tool_modes();
    test_not_found_spawns_nothing();
    test_expired_login_is_refused();
    test_framework();
    test_allocation_failures();
    test_double_detects_bad_releases();
    kcd_reset();
    unlink(tool_log);
    CHECK(lowest_free_fd() == first_free_fd);
    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("keychain driver: all checks passed\n");
    return 0;
}
