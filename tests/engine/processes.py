"""The sandbox processes a test can see from outside: children of a process, found in /proc."""

from __future__ import annotations

import os


def sandbox_processes(parent: int | None = None) -> set[int]:
    """The pids of the live sandbox processes whose parent is ``parent`` (default: this one)."""
    parent = os.getpid() if parent is None else parent
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:
            continue  # it ended meanwhile
        if int(fields[1]) == parent and fields[0] != "Z" and b"_sandbox_worker" in command:
            found.add(int(entry))
    return found


def cpu_seconds(pid: int) -> float:
    """The CPU time ``pid`` has used (user + system), or -1 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return -1.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
