"""Wall time and peak memory of validate + plan: one tenant with 1,000 domains x 5 mailboxes, and a
directory of 100 tenant specs, in process; then whole processes as a user runs them: `mailbox-iac
validate` and `mailbox-iac plan --format json` of the big spec against one process that only parses it
with yaml's CSafeLoader (target: at most 5x), and `mailbox-iac --help` against `python -c pass`. Prints
figures; asserts nothing (targets: < 2 s, < 300 MB in process).

    .venv/bin/python bench/plan_scale.py
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailbox_iac.plan.planner import plan
from mailbox_iac.spec.load import load_file, load_paths


def tenant(name: str, domains: int, mailboxes: int) -> dict[str, object]:
    return {
        "tenant": name,
        "defaults": {"server": {"location": 12, "plan": 52, "image": "debian-12"}},
        "servers": {f"mx{i}": {"hostname": f"mx{i}.{name}-0.example"} for i in range(1 + domains // 100)},
        "domains": [
            {
                "name": f"{name}-{d}.example",
                "server": f"mx{d % (1 + domains // 100)}",
                "mailboxes": [f"user{m}" for m in range(mailboxes)],
            }
            for d in range(domains)
        ],
    }


def measure(label: str, work: Callable[[], int]) -> None:
    """Wall time of one clean run, then the peak of Python allocations in a second, traced run."""
    start = time.perf_counter()
    mailboxes = work()
    wall = time.perf_counter() - start
    tracemalloc.start()
    work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{label:<44} {mailboxes:>6} mailboxes  {wall:5.2f} s  peak alloc {peak / 2**20:5.1f} MB  max RSS {rss:5.1f} MB"
    )


def _process_seconds(*argvs: list[str], runs: int = 7) -> float:
    """The best of `runs` wall times of running the commands one after the other, each a new process."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for argv in argvs:
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def whole_processes(big: Path) -> None:
    cli = [sys.executable, "-m", "mailbox_iac"]
    parse = "import sys, yaml; yaml.load(open(sys.argv[1]), Loader=yaml.CSafeLoader)"
    floor = _process_seconds([sys.executable, "-c", parse, str(big)])
    planned = [*cli, "plan", str(big), "--format", "json"]
    for label, argvs in (
        ("plan process (validates, then plans)", [planned]),
        ("validate process + plan process", [[*cli, "validate", str(big)], planned]),
    ):
        ours = _process_seconds(*argvs)
        label = f"{label} vs a CSafeLoader parse"
        print(f"{label:<52} {ours:5.2f} s vs {floor:5.2f} s = {ours / floor:4.1f}x (target <= 5x)")
    helped = _process_seconds([*cli, "--help"])
    bare = _process_seconds([sys.executable, "-c", "pass"])
    print(f"{'mailbox-iac --help vs python -c pass':<52} {helped:5.2f} s vs {bare:5.2f} s")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.yaml"
        big.write_text(yaml.safe_dump(tenant("big", 1000, 5)))
        many = Path(tmp) / "many"
        many.mkdir()
        for t in range(100):
            (many / f"t{t}.yaml").write_text(yaml.safe_dump(tenant(f"t{t}", 10, 5)))
        print(f"spec sizes: big {big.stat().st_size / 1024:.0f} KiB; 100 tenants x 10 domains x 5 mailboxes")

        def one() -> int:
            return len(plan(load_file(big).tenant).mailboxes)

        def directory() -> int:
            return sum(len(plan(ls.tenant).mailboxes) for ls in load_paths([many]))

        measure("validate + plan, 1 tenant x 1,000 domains", one)
        measure("validate + plan, 100 tenant specs", directory)
        whole_processes(big)


if __name__ == "__main__":
    main()
