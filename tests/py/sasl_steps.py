"""What the SASL scripts (sasl.py, sasl_gssapi.py) share: kazoo's warnings kept (it says
"AUTH_FAILED closing" when a SASL exchange fails, the one sign of it that does not depend on
timing), one JSON line per step, and a step's outcome as the value or the exception's class.
"""

import json
import logging

from kazoo.security import ACL

logging.basicConfig(level=logging.CRITICAL)


class Seen(logging.Handler):
    """kazoo's own log lines, kept: kazoo says "AUTH_FAILED closing" when a SASL exchange
    fails, the one sign of it that does not depend on timing."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


SEEN = Seen()
_kazoo_log = logging.getLogger("kazoo")
_kazoo_log.setLevel(logging.WARNING)
_kazoo_log.addHandler(SEEN)
_kazoo_log.propagate = False


def emit(**kw):
    print(json.dumps(kw, sort_keys=True), flush=True)


def outcome(f, *a, **kw):
    try:
        r = f(*a, **kw)
        return {"ok": convert(r)}
    except Exception as e:  # the class is the answer compared
        return {"err": type(e).__name__}


def convert(r):
    if isinstance(r, (list, tuple)):
        return [convert(x) for x in r]
    if isinstance(r, bytes):
        return r.decode("utf-8", "replace")
    if isinstance(r, ACL):
        return "%s:%s:%d" % (r.id.scheme, r.id.id, r.perms)
    if hasattr(r, "czxid"):
        return "stat"
    return r
