#!/bin/sh
# Stand-in for /usr/bin/security in tests, behaving as Apple's does for
#   security find-generic-password -s SERVICE -a ACCOUNT -w
# Items live in FAKE_SECURITY_STORE/<service>/<account> (the value's raw bytes). An item
# is found only under the service and account asked for; an option left out matches any,
# as in Apple's tool. Exit codes are Apple's: the low byte of the OSStatus (44 = -25300
# not found, 36 = -25308 interaction not allowed, 29, 24, 51, 128).
# Each run appends "<pid> <args...>" to FAKE_SECURITY_LOG (when set), so tests can tell
# whether and how the tool was spawned, and which process to look for afterwards.
#
# FAKE_SECURITY_LOCKED (the keychain holding the item is locked):
#   ssh      no UI possible (no window server): exit 36, as over SSH
#   desktop  SecurityAgent shows the unlock dialog: nobody answers, so it hangs
# FAKE_SECURITY_EMPTY_RUNS=N with FAKE_SECURITY_COUNTER=<file>: the first N runs print an
#   empty value (an item caught mid-rewrite), counted in that file.
# FAKE_SECURITY_MODE, how a found value is printed (or what happens instead):
#   found      the value and a newline (what `-w` does for printable values)
#   hex        the value in hex (what `-w` does when it holds non-printable bytes)
#   0xhex      the same with a 0x prefix
#   signedhex  hex of signed chars, as older macOS printed: a byte >= 0x80 is ffffffXX
#   exitN      exit with code N (e.g. exit36, exit51), whatever the store holds
#   garbage    print text that is neither JSON nor hex
#   hang       print nothing and sleep past any timeout
#   quiet-hang close stdout, then sleep (EOF comes, exit does not)
#   huge       print more than 1 MiB
if [ -n "${FAKE_SECURITY_LOG:-}" ]; then
    printf '%s %s\n' "$$" "$*" >> "$FAKE_SECURITY_LOG"
fi
# With FAKE_SECURITY_FDS set (Linux), records where stdin and stderr point, and how
# many descriptors lead to stdout's pipe: 1 unless the caller leaked the pipe's ends.
if [ -n "${FAKE_SECURITY_FDS:-}" ]; then
    stdout_pipe=$(readlink /proc/$$/fd/1)
    same=0
    for fd in /proc/"$$"/fd/*; do
        [ "$(readlink "$fd")" = "$stdout_pipe" ] && same=$((same + 1))
    done
    printf 'stdin=%s stderr=%s stdout_pipe_fds=%s\n' "$(readlink /proc/$$/fd/0)" \
        "$(readlink /proc/$$/fd/2)" "$same" > "$FAKE_SECURITY_FDS"
fi

mode=${FAKE_SECURITY_MODE:-found}
case "$mode" in
    exit[0-9]*) exit "${mode#exit}" ;;
esac

[ "${1:-}" = find-generic-password ] || { echo "fake security: unsupported command" >&2; exit 2; }
shift
service='' account='' has_service=0 has_account=0
while [ $# -gt 0 ]; do
    case "$1" in
        -s) service=$2; has_service=1; shift 2 ;;
        -a) account=$2; has_account=1; shift 2 ;;
        -w) shift ;;
        *) echo "fake security: unsupported option $1" >&2; exit 2 ;;
    esac
done
store=${FAKE_SECURITY_STORE:-/nonexistent}
# Names as given are quoted (matched literally); only a left-out option globs.
case "$has_service$has_account" in
    11) set -- "$store/$service/$account" ;;
    10) set -- "$store/$service"/* ;;
    01) set -- "$store"/*/"$account" ;;
    *) set -- "$store"/*/* ;;
esac
item=
for candidate in "$@"; do
    [ -f "$candidate" ] && { item=$candidate; break; }
done
if [ -z "$item" ]; then
    echo "security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain." >&2
    exit 44
fi

case "${FAKE_SECURITY_LOCKED:-}" in
    ssh) echo "security: SecKeychainItemCopyContent: User interaction is not allowed." >&2; exit 36 ;;
    desktop) exec sleep 60 ;;
esac

if [ -n "${FAKE_SECURITY_EMPTY_RUNS:-}" ]; then
    runs=$(cat "$FAKE_SECURITY_COUNTER" 2>/dev/null)
    runs=${runs:-0}
    echo $((runs + 1)) > "$FAKE_SECURITY_COUNTER"
    if [ "$runs" -lt "$FAKE_SECURITY_EMPTY_RUNS" ]; then
        echo
        exit 0
    fi
fi

pairs() { od -An -v -tx1 < "$item" | tr -s ' ' '\n' | sed '/^$/d'; }
case "$mode" in
    found) cat "$item"; echo ;;
    hex) pairs | tr -d '\n'; echo ;;
    0xhex) printf '0x'; pairs | tr -d '\n'; echo ;;
    signedhex) pairs | sed 's/^[89a-f][0-9a-f]$/ffffff&/' | tr -d '\n'; echo ;;
    garbage) printf 'password: not json, not hex\n' ;;
    hang) exec sleep 60 ;;
    quiet-hang) exec sleep 60 >&- ;;
    huge) exec head -c 1100000 /dev/zero ;;
    *) echo "fake security: unknown FAKE_SECURITY_MODE" >&2; exit 2 ;;
esac
