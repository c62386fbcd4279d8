"""Durations as `since` takes them ('90s', '5m', '1h30m', '500ms'): a point
in time counted back from the snapshot's, not an argument's syntax, so the
aggregation that resolves it needs no argument parser."""

import re

_DURATION_UNITS = {
    "ms": 10 ** 6, "s": 10 ** 9, "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9, "d": 86400 * 10 ** 9,
}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text):
    """'90s', '5m', '1h30m', '500ms' -> nanoseconds, or None if not a duration."""
    pos, total = 0, 0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            return None
        value = m.group(1)
        unit = _DURATION_UNITS[m.group(2)]
        total += int(float(value) * unit) if "." in value else int(value) * unit
        pos = m.end()
    if pos != len(text) or pos == 0:
        return None
    return total
