#!/usr/bin/env python3
"""CPU seconds per component, read from /proc (utime + stime of a process and its descendants).

    proc_cpu.py snapshot NAME=PID [NAME=PID ...] > before.json
    proc_cpu.py diff before.json after.json --per N [--label L]

A component is a process and every live descendant (PostgreSQL's backends, a script's children).
Descendants that exited and were reaped count through their parent's cutime/cstime, so a
PostgreSQL postmaster includes every backend that came and went during the run. `diff` prints the
CPU milliseconds per unit (job, validation, request) of each component and their total.
"""
import json
import os
import sys

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    # the command name may hold spaces and parentheses: split after the last ')'
    fields = raw[raw.rindex(")") + 2:].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, utime + stime, cutime + cstime


def _children_map():
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid, _, _ = _stat(int(entry))
        except (OSError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def cpu_seconds(pid, kids):
    """utime+stime of `pid` and its live descendants, plus what its reaped children used."""
    total = 0
    stack = [pid]
    first = True
    while stack:
        p = stack.pop()
        try:
            _, own, reaped = _stat(p)
        except (OSError, ValueError):
            continue
        total += own + (reaped if first else 0)
        first = False
        stack.extend(kids.get(p, []))
    return total / TICKS


def snapshot(pairs):
    kids = _children_map()
    out = {}
    for pair in pairs:
        name, _, pid = pair.partition("=")
        if pid.strip().isdigit():
            out[name] = cpu_seconds(int(pid), kids)
    return out


def redis_commands(redis_url):
    """Calls per command from `INFO commandstats` (empty when redis-cli or the server is missing)."""
    import subprocess
    if not redis_url:
        return {}
    try:
        out = subprocess.run(["redis-cli", "-u", redis_url, "INFO", "commandstats"],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    calls = {}
    for line in out.splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line.partition(":")
            fields = dict(kv.split("=", 1) for kv in rest.split(",") if "=" in kv)
            calls[name[len("cmdstat_"):]] = int(fields.get("calls", 0))
    return calls


def commands_per(before, after, per):
    """Redis commands per unit, by command, largest first (only those that moved)."""
    moved = {k: (v - before.get(k, 0)) / max(per, 1) for k, v in after.items()}
    return dict(sorted(((k, round(v, 3)) for k, v in moved.items() if v > 0), key=lambda kv: -kv[1]))


def diff(before, after, per):
    rows = {}
    for name, a in after.items():
        if name in before:
            rows[name] = (a - before[name]) * 1000.0 / max(per, 1)
    return rows


def main(argv):
    if len(argv) >= 2 and argv[1] == "snapshot":
        json.dump(snapshot(argv[2:]), sys.stdout)
        print()
        return 0
    if len(argv) >= 4 and argv[1] == "diff":
        per = 1
        label = "unit"
        rest = argv[4:]
        while rest:
            if rest[0] == "--per" and len(rest) > 1:
                per = int(rest[1])
                rest = rest[2:]
            elif rest[0] == "--label" and len(rest) > 1:
                label = rest[1]
                rest = rest[2:]
            else:
                print(f"unknown argument {rest[0]}", file=sys.stderr)
                return 2
        with open(argv[2]) as f:
            before = json.load(f)
        with open(argv[3]) as f:
            after = json.load(f)
        rows = diff(before, after, per)
        parts = [f"{k} {v:.3f}" for k, v in rows.items()]
        print(f"CPU ms per {label} (n={per}): " + ", ".join(parts) + f"; total {sum(rows.values()):.3f}")
        print(json.dumps({"cpu_ms_per_" + label: {k: round(v, 4) for k, v in rows.items()}}))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
