"""The inferior's file mappings, from gdb's `info proc mappings` text, to
name a frame without debug info as object+offset. Works for live
processes and for cores (gdb reads a core's NT_FILE note)."""

import bisect
import re

_LINE = re.compile(r"^\s*(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)"
                   r"(?:\s+[rwxps-]{4})?\s*(.*?)\s*$")


def parse_mappings(text):
    """[(start, end, file_offset, path)] sorted by start, file mappings only."""
    maps = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and m.group(5).startswith("/"):
            maps.append((int(m.group(1), 16), int(m.group(2), 16), int(m.group(4), 16), m.group(5)))
    maps.sort()
    return maps


class Mappings:
    def __init__(self, maps):
        self.maps = maps
        self.starts = [m[0] for m in maps]

    def locate(self, pc):
        """(path, offset of pc in that file) or None."""
        i = bisect.bisect_right(self.starts, pc) - 1
        if i < 0:
            return None
        start, end, offset, path = self.maps[i]
        if pc >= end:
            return None
        return path, pc - start + offset
