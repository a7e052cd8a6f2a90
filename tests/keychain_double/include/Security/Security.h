/*
 * Test double of the slice of Security.framework that csrc/cu_keychain.c uses. Names and
 * values are Apple's (SecBase.h, SecItem.h); what Apple's SDK deprecates is deprecated here
 * too, so a use without its documented silencing fails -Werror on Linux as on a Mac.
 */
#ifndef KCD_SECURITY_H
#define KCD_SECURITY_H

#include <CoreFoundation/CoreFoundation.h>

typedef int32_t OSStatus;

enum {
    errSecSuccess = 0,
    errSecParam = -50,
    errSecAllocate = -108,
    errSecUserCanceled = -128,
    errSecInternalComponent = -2070,
    errSecAuthFailed = -25293,
    errSecItemNotFound = -25300,
    errSecInteractionNotAllowed = -25308,
    errSecInteractionRequired = -25315,
    errSecInDarkWake = -25320
};

#define KCD_DEPRECATED(message) __attribute__((deprecated(message)))

extern const CFStringRef kSecClass;
extern const CFStringRef kSecClassGenericPassword;
extern const CFStringRef kSecAttrService;
extern const CFStringRef kSecAttrAccount;
extern const CFStringRef kSecMatchLimit;
extern const CFStringRef kSecMatchLimitOne;
extern const CFStringRef kSecMatchLimitAll;
extern const CFStringRef kSecReturnData;
extern const CFStringRef kSecReturnAttributes;
extern const CFStringRef kSecUseAuthenticationUI;
extern const CFStringRef kSecUseAuthenticationUIAllow
    KCD_DEPRECATED("Instead of kSecUseAuthenticationUI, use kSecUseAuthenticationContext");
extern const CFStringRef kSecUseAuthenticationUIFail
    KCD_DEPRECATED("Instead of kSecUseAuthenticationUI, use kSecUseAuthenticationContext");
extern const CFStringRef kSecUseAuthenticationUISkip
    KCD_DEPRECATED("Instead of kSecUseAuthenticationUI, use kSecUseAuthenticationContext");

OSStatus SecItemCopyMatching(CFDictionaryRef query, CFTypeRef *result);

#endif
