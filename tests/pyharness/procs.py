"""Finding processes through /proc (Linux), to check what the server started and stopped.

Zombies (exited, not yet reaped) are skipped: they hold no resources and their command line is
empty anyway.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    state: str
    cmdline: str

    def __str__(self) -> str:
        return f"pid {self.pid} (ppid {self.ppid}, state {self.state}): {self.cmdline[:300]}"


def _read_proc(pid: int) -> Optional[Proc]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("utf-8", "replace")
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name sits in parentheses and may itself contain spaces or parentheses.
    rest = stat[stat.rfind(")") + 2 :].split()
    if len(rest) < 2:
        return None
    return Proc(pid=pid, ppid=int(rest[1]), state=rest[0], cmdline=cmdline)


def all_processes() -> List[Proc]:
    """Every live (non-zombie) process visible in /proc."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            p = _read_proc(int(name))
            if p is not None and p.state != "Z":
                out.append(p)
    return out


def find_processes(needle: str, exclude_self: bool = True) -> List[Proc]:
    """Live processes whose command line contains `needle` (e.g. a unique script path)."""
    me = os.getpid()
    return [p for p in all_processes() if needle in p.cmdline and not (exclude_self and p.pid == me)]


def descendants(root: int) -> List[Proc]:
    """Live descendants of `root` (not `root` itself)."""
    procs = all_processes()
    children: Dict[int, List[Proc]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p)
    out: List[Proc] = []
    stack = [root]
    while stack:
        for kid in children.get(stack.pop(), []):
            out.append(kid)
            stack.append(kid.pid)
    return out
