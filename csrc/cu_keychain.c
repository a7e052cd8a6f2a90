/* Keychain credential source: macOS only (the keychain helper replaces this stub). */
#include "cu_internal.h"

int cu_read_credential_keychain(int mode, const char *const *services, size_t service_count,
                                const char *account, int timeout_ms,
                                cu_credential **out, cu_error *err)
{
    (void)mode; (void)services; (void)service_count; (void)account; (void)timeout_ms;
    *out = NULL;
    return cu_fail(err, CU_ERR_UNSUPPORTED);
}
