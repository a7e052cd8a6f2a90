/* Test double of the slice of Security.framework that csrc/cu_keychain.c uses. */
#ifndef KCD_SECURITY_H
#define KCD_SECURITY_H

#include <CoreFoundation/CoreFoundation.h>

typedef int32_t OSStatus;

enum {
    errSecSuccess = 0,
    errSecParam = -50,
    errSecAllocate = -108,
    errSecInternalComponent = -2070,
    errSecItemNotFound = -25300
};

extern const CFStringRef kSecClass;
extern const CFStringRef kSecClassGenericPassword;
extern const CFStringRef kSecAttrService;
extern const CFStringRef kSecAttrAccount;
extern const CFStringRef kSecMatchLimit;
extern const CFStringRef kSecMatchLimitOne;
extern const CFStringRef kSecReturnData;

OSStatus SecItemCopyMatching(CFDictionaryRef query, CFTypeRef *result);

#endif
