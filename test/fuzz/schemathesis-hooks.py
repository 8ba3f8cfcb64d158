"""schemathesis hooks of test/fuzz/sender-api.schemathesis.test.ts (loaded via SCHEMATHESIS_HOOKS).

POST /v1/terminals/{id}/requests holds the HTTP request until the terminal replies or
`timeoutMs` (documented 1 ... 60000) runs out, and no terminal is connected during the fuzz run:
every valid request waits its full timeoutMs. A valid timeoutMs is clamped to a few
milliseconds, so a bounded run tests many cases instead of sleeping; it stays valid, and
invalid values (negative mode) are left as generated.
"""

import schemathesis

MAX_WAIT_MS = 20


@schemathesis.hook
def map_case(context, case):
    if case.operation.path.endswith("/requests") and isinstance(case.body, dict):
        t = case.body.get("timeoutMs")
        if isinstance(t, int) and not isinstance(t, bool) and MAX_WAIT_MS < t <= 60000:
            case.body = {**case.body, "timeoutMs": MAX_WAIT_MS}
    return case
