"""What the host lets this process allocate, read once for every memory check (training's dry run, sample's
output, the exact W1's linear program)."""

from __future__ import annotations

import resource

SKIP_ENV = "WGANGP_SKIP_MEMORY_CHECK"  # =1 skips every memory check


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def host_free_memory() -> tuple[float, str]:
    """Bytes this process can still allocate on the host, and which limit says so: the least of the machine's
    MemAvailable, the address-space limit (ulimit -v, RLIMIT_AS) less what the process already maps, and its
    cgroup's memory.max less memory.current (containers, SLURM jobs)."""
    meminfo = _read("/proc/meminfo") or ""
    fields = dict(line.split(":", 1) for line in meminfo.splitlines() if ":" in line)
    limits = [(float("inf"), "no memory limit known on this system")]
    if "MemAvailable" in fields:
        limits.append((float(fields["MemAvailable"].split()[0]) * 1024, "MemAvailable in /proc/meminfo"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    status = dict(line.split(":", 1) for line in (_read("/proc/self/status") or "").splitlines() if ":" in line)
    if soft != resource.RLIM_INFINITY and "VmSize" in status:
        mapped = float(status["VmSize"].split()[0]) * 1024
        limits.append(
            (max(0.0, soft - mapped), "the address-space limit RLIMIT_AS (ulimit -v) less what this process maps")
        )
    cgroup = (_read("/proc/self/cgroup") or "").strip().rsplit(":", 1)[-1]  # cgroup v2: "0::/path"
    base = f"/sys/fs/cgroup{cgroup}".rstrip("/")
    most, used = _read(f"{base}/memory.max"), _read(f"{base}/memory.current")
    if most is not None and used is not None and most.strip() != "max":
        limits.append((max(0.0, float(most) - float(used)), f"the cgroup limit {base}/memory.max"))
    return min(limits)


def format_bytes(x: float) -> str:
    """1.23 GB, 456 MB, ...: decimal units, three significant digits."""
    return next(
        f"{x / scale:.3g} {unit}"
        for scale, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB"), (1, "bytes"))
        if x >= scale or unit == "bytes"
    )
