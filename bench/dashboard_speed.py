"""Benchmark: does the dashboard stay fast with 10,000 candidates in a run? (issue #29, point 1)

Run:  python bench/dashboard_speed.py RUN [--candidates 10000] [--out bench/results/dashboard_speed.md]

RUN is a finished search. Its directory is copied twice into a scratch folder: once as it is, once grown to
``--candidates`` rows by adding copies of its own candidates' stored outcomes (formulas, scores, curves and all, in
later generations, their fitness lowered by 1 so that the hall of fame keeps its different formulas), so that every
page has real data to show. Each page is timed as a browser gets it, over HTTP
from a dashboard on 127.0.0.1: the first time (rendered) and again with nothing changed (served from its cache), and
the stamp an open page polls. The baseline, measured in the same process: reading the run's summary as
``evoact show`` does.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evoact import report  # noqa: E402
from evoact.dashboard import make_server  # noqa: E402
from evoact.run import read_run  # noqa: E402
from evoact.store import RunStore  # noqa: E402


def grow(path: Path, size: int, more: bool = False) -> None:
    """Add copies of the run's own evolved candidates, each ranked below every original, until it holds ``size``
    rows (with ``more``: add ``size`` rows), as a running search adds them."""
    store = RunStore.reopen(path)
    rows = [r for r in store.candidates() if r.label is None and r.outcome.status != "pending"]
    have, rng = (0 if more else len(store.candidates())), random.Random(0)
    last = max(r.generation or 0 for r in rows)
    with store.transaction():
        for i in range(size - have):
            row = rng.choice(rows)
            cid = store.add_candidate(
                row.formula, row.origin, generation=last + 1 + i // 100, parents=row.parents, nodes=row.nodes
            )
            fitness = row.outcome.fitness
            # ranked below the originals, so that the hall of fame shows as many different formulas as before
            store.record_result(cid, row.outcome.with_(fitness=None if fitness is None else fitness - 1.0))
    store.close()


def timed(url: str, repeat: int = 1) -> float:
    """Median seconds to fetch ``url`` whole."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=600) as answer:
            answer.read()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(folder: Path, name: str) -> dict[str, float]:
    """Seconds per page for the run ``name`` in ``folder``, on a fresh dashboard (no formula plotted or described
    before)."""
    report._formula_png.cache_clear()
    report._described.cache_clear()
    server = make_server(folder, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        out = {
            "runs list": timed(f"{url}/"),
            "run page, first": timed(f"{url}/run/{name}"),
            "run page, again": timed(f"{url}/run/{name}", 5),
            "run page, after one more candidate": (grow(folder / name, 1, more=True), timed(f"{url}/run/{name}"))[1],
            "stamp (polled by an open page)": timed(f"{url}/stamp?run={name}", 20),
            "two runs side by side": timed(f"{url}/compare?run={name}&run={name}-copy"),
        }
    finally:
        server.shutdown()
        server.server_close()
    reader = read_run(folder / name)
    start = time.perf_counter()
    reader.summary()
    out["baseline: the summary `evoact show` reads"] = time.perf_counter() - start
    reader.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--out", default="bench/results/dashboard_speed.md")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="dashboard-speed-"))
    try:
        small, big = scratch / "small", scratch / "big"
        for folder in (small, big):
            shutil.copytree(args.run, folder / "run")
            shutil.copytree(args.run, folder / "run-copy")
        grow(big / "run", args.candidates)
        grow(big / "run-copy", args.candidates)
        rows = len(RunStore.open(small / "run").candidates()), len(RunStore.open(big / "run").candidates())
        report.render_report(RunStore.open(small / "run"))  # one-time starts (matplotlib's fonts, the catalog's values)
        results = measure(small, "run"), measure(big, "run")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    lines = [
        "# Dashboard speed with 10,000 candidates",
        "",
        f"Command: `python bench/dashboard_speed.py {args.run} --candidates {args.candidates}` (2 cores; the run"
        " grown with copies of its own stored candidates).",
        "",
        "Seconds to fetch each page over HTTP from a fresh dashboard on 127.0.0.1 (first: rendered, every plot drawn;"
        " again: nothing changed, the median of 5; after one more candidate: what an open page's live update costs)."
        " The baseline is reading the run's summary as `evoact show` does,"
        " in the same process.",
        "",
        f"| page | {rows[0]} candidates | {rows[1]} candidates | ratio to the baseline at {rows[1]} |",
        "|---|---|---|---|",
    ]
    base = results[1]["baseline: the summary `evoact show` reads"]
    for page in results[0]:
        lines.append(f"| {page} | {results[0][page]:.3f} | {results[1][page]:.3f} | {results[1][page] / base:.2f} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
