"""Reads the login the way the command does and prints one JSON line about it, never the token.

Used by keychain_e2e.sh on a real Mac; runs anywhere (on Linux it reads the file). The
expected token comes in E2E_EXPECT_TOKEN and is only compared. Exit 0 when the outcome is the
one named by the first argument ("token" or an error kind such as "KeychainInteractionRequired").
"""

from __future__ import annotations

import json
import os
import sys
import time

from claude_usage.credentials import locate_credentials, open_credentials
from claude_usage.errors import ClaudeUsageError, KeychainError


def main() -> int:
    expected = sys.argv[1]
    started = time.monotonic()
    report: dict[str, object] = {}
    try:
        source = locate_credentials()
        report["location"] = source.location
        with open_credentials(source) as credential:
            header = credential.authorization()
            report["outcome"] = "token"
            report["token_matches"] = header == b"Bearer " + os.environ["E2E_EXPECT_TOKEN"].encode()
    except ClaudeUsageError as error:
        report["outcome"] = error.kind
        report["message"] = error.message
        report["hint"] = error.hint
        if isinstance(error, KeychainError):
            report["os_status"] = error.os_status
    report["seconds"] = round(time.monotonic() - started, 3)
    print(json.dumps(report, sort_keys=True))
    ok = report["outcome"] == expected and report.get("token_matches", True) is True
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
