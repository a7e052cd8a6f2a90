#!/usr/bin/env bash
# End-to-end Keychain checks on a real Mac (the hosted macOS CI job), issue 12.
#
#   bash tests/macos/keychain_e2e.sh /path/to/venv/bin/python
#   (or E2E_PYTHON=/path/to/venv/bin/python bash tests/macos/keychain_e2e.sh)
#
# The python given must have claude-usage installed. Everything happens in a throwaway
# keychain put first in the user's search list; the login keychain's items are never read
# or written (the accounts used here are e2e-only names), and the search list is restored
# and the throwaway keychain deleted on any exit. Exits non-zero on the first failure.
set -euo pipefail

python=${1:-${E2E_PYTHON:-}}
[ -n "$python" ] || { echo "usage: $0 PYTHON (or set E2E_PYTHON)" >&2; exit 2; }
[ "$(uname -s)" = Darwin ] || { echo "keychain_e2e.sh: macOS only" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
security=/usr/bin/security

work=$(mktemp -d "${TMPDIR:-/tmp}/claude-usage-e2e.XXXXXX")
keychain="$work/claude-usage-e2e.keychain-db"
password="e2e-$$-$RANDOM$RANDOM"

# The user's search list as it is now, one path per element (security prints them quoted).
saved=()
while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    line=${line#\"}
    line=${line%\"}
    [ -n "$line" ] && saved+=("$line")
done < <("$security" list-keychains -d user)

cleanup() {
    status=$?
    if [ ${#saved[@]} -gt 0 ]; then
        "$security" list-keychains -d user -s "${saved[@]}" || status=1
    fi
    "$security" delete-keychain "$keychain" 2>/dev/null || true
    rm -rf "$work"
    if [ "$status" -eq 0 ]; then echo "keychain e2e: all checks passed"; else echo "keychain e2e: FAILED" >&2; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

# Runs e2e_read.py under a watchdog (no `timeout` on macOS): a hang is a failure, not a stuck job.
# Usage: read_login EXPECTED_OUTCOME MAX_SECONDS [VAR=value ...]
read_login() {
    local expected=$1 max_seconds=$2 out
    shift 2
    out=$(env -i PATH="$PATH" HOME="${E2E_HOME:-$work/home}" TMPDIR="${TMPDIR:-/tmp}" "$@" \
        perl -e 'alarm shift; exec @ARGV' 20 "$python" "$here/e2e_read.py" "$expected") \
        || fail "expected $expected, got: ${out:-nothing (killed by the 20 s watchdog?)}"
    echo "$out"
    "$python" -c 'import json, sys; r = json.loads(sys.argv[1]); sys.exit(0 if r["seconds"] < float(sys.argv[2]) else 1)' \
        "$out" "$max_seconds" || fail "took longer than $max_seconds s: $out"
}

service_for() { # the service name claude-usage computes for a CLAUDE_CONFIG_DIR value
    env -i CLAUDE_CONFIG_DIR="$1" "$python" -c \
        'import os; from claude_usage.keychain import service_name; print(service_name(os.environ))'
}

login_json() { # a login shaped like Claude Code's; $2 is extra non-ASCII text, if any
    printf '{"claudeAiOauth":{"accessToken":"%s","refreshToken":"sk-ant-ort01-TEST-e2e","expiresAt":4102444800000,"scopes":["user:inference","user:profile"],"subscriptionType":"max"},"note":"%s"}' "$1" "${2:-}"
}

step "a throwaway keychain, first in the search list"
"$security" create-keychain -p "$password" "$keychain"
"$security" set-keychain-settings "$keychain" # no auto-lock while the checks run
"$security" unlock-keychain -p "$password" "$keychain"
"$security" list-keychains -d user -s "$keychain" "${saved[@]}"
mkdir -p "$work/home"

account=claude-usage-e2e
default_token=sk-ant-oat01-TEST-e2e-default-profile
hashed_token=sk-ant-oat01-TEST-e2e-hashed-profile
sanitised_token=sk-ant-oat01-TEST-e2e-sanitised-user
profile="$work/profile"
hashed_service=$(service_for "$profile")
echo "hashed service for $profile: $hashed_service"

# Written as Claude Code writes them: by /usr/bin/security, which is then on the item's ACL.
"$security" add-generic-password -a "$account" -s "Claude Code-credentials" \
    -w "$(login_json "$default_token")" -T "$security" "$keychain"
"$security" add-generic-password -a "$account" -s "$hashed_service" \
    -w "$(login_json "$hashed_token" "José über ☃")" -T "$security" "$keychain"
"$security" add-generic-password -a claude-code-user -s "Claude Code-credentials" \
    -w "$(login_json "$sanitised_token")" -T "$security" "$keychain"

step "the non-ASCII value comes back from security -w as hex (what the decoder is for)"
printed=$("$security" find-generic-password -s "$hashed_service" -a "$account" -w "$keychain")
case "$printed" in
    "{"*) fail "security -w printed the non-ASCII value as text; the hex path is not exercised" ;;
    *) echo "security -w printed ${#printed} hex characters" ;;
esac

step "the default service, read through the library in under 2 s"
read_login token 2 USER="$account" E2E_EXPECT_TOKEN="$default_token"

step "a hashed service (CLAUDE_CONFIG_DIR), non-ASCII value printed in hex, in under 2 s"
read_login token 2 USER="$account" CLAUDE_CONFIG_DIR="$profile" E2E_EXPECT_TOKEN="$hashed_token"

step "another profile's item is never read: an unknown CLAUDE_CONFIG_DIR is not found"
read_login NotFound 2 USER="$account" CLAUDE_CONFIG_DIR="$work/no-such-profile" \
    CLAUDE_USAGE_KEYCHAIN=framework E2E_EXPECT_TOKEN=unused

step "not found: security's exit code is 44"
set +e
"$security" find-generic-password -s "Claude Code-credentials-e2e-missing" -a "$account" -w "$keychain" >/dev/null 2>&1
code=$?
set -e
[ "$code" -eq 44 ] || fail "security exited $code for a missing item, not 44"
echo "exit code 44"

step "no item: the automatic mode reads the credential file, and names both places when it is missing too"
mkdir -p "$work/home/.claude"
login_json sk-ant-oat01-TEST-e2e-from-file > "$work/home/.claude/.credentials.json"
chmod 600 "$work/home/.claude/.credentials.json"
read_login token 2 USER=claude-usage-e2e-nobody E2E_EXPECT_TOKEN=sk-ant-oat01-TEST-e2e-from-file
rm "$work/home/.claude/.credentials.json"
read_login NotFound 2 USER=claude-usage-e2e-nobody E2E_EXPECT_TOKEN=unused

step "a sanitised user name (first.last@corp.com) reads claude-code-user's item"
read_login token 2 USER="first.last@corp.com" E2E_EXPECT_TOKEN="$sanitised_token"

step "a locked keychain: the typed error within the timeout, no prompt, no hang"
"$security" lock-keychain "$keychain"
read_login KeychainInteractionRequired 7 USER="$account" E2E_EXPECT_TOKEN=unused
"$security" unlock-keychain -p "$password" "$keychain"
