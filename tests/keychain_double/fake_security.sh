#!/bin/sh
# Stand-in for /usr/bin/security in tests: plays the behaviour named by
# FAKE_SECURITY_MODE. Each run appends "<pid> <args...>" to FAKE_SECURITY_LOG
# (when set), so tests can tell whether and how the tool was spawned, and which
# process to look for afterwards.
#   found    print FAKE_SECURITY_PAYLOAD and a newline (what `-w` does)
#   hex      the payload hex-encoded;  0xhex: the same with a 0x prefix
#   exit44   "item not found" (the low byte of errSecItemNotFound)
#   fail     exit 1, as for an unexpected failure
#   garbage  print text that is neither JSON nor hex
#   hang     print nothing and sleep past any timeout
#   quiet-hang  close stdout, then sleep (EOF comes, exit does not)
#   huge     print more than 1 MiB
if [ -n "${FAKE_SECURITY_LOG:-}" ]; then
    printf '%s %s\n' "$$" "$*" >> "$FAKE_SECURITY_LOG"
fi
# With FAKE_SECURITY_FDS set (Linux), records where stdin and stderr point, and how
# many descriptors lead to stdout's pipe: 1 unless the caller leaked the pipe's ends.
if [ -n "${FAKE_SECURITY_FDS:-}" ]; then
    stdout_pipe=$(readlink /proc/$$/fd/1)
    same=0
    for fd in /proc/$$/fd/*; do
        [ "$(readlink "$fd")" = "$stdout_pipe" ] && same=$((same + 1))
    done
    printf 'stdin=%s stderr=%s stdout_pipe_fds=%s\n' "$(readlink /proc/$$/fd/0)" \
        "$(readlink /proc/$$/fd/2)" "$same" > "$FAKE_SECURITY_FDS"
fi
hex() { printf '%s' "$FAKE_SECURITY_PAYLOAD" | od -An -v -tx1 | tr -d ' \n'; }
case "${FAKE_SECURITY_MODE:-found}" in
    found) printf '%s\n' "$FAKE_SECURITY_PAYLOAD" ;;
    hex) printf '%s\n' "$(hex)" ;;
    0xhex) printf '0x%s\n' "$(hex)" ;;
    exit44) echo "security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain." >&2; exit 44 ;;
    fail) echo "security: unexpected failure" >&2; exit 1 ;;
    garbage) printf 'password: not json, not hex\n' ;;
    hang) exec sleep 60 ;;
    quiet-hang) exec sleep 60 >&- ;;
    huge) exec head -c 1100000 /dev/zero ;;
    *) echo "fake security: unknown FAKE_SECURITY_MODE" >&2; exit 2 ;;
esac
