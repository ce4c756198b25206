"""``--sweep``'s plot: CPU per frame, memory per call and round-trip p99 against calls.

One PNG of three panels, one line per server; a saturated point (server or load
generator at a full core) is drawn hollow and a point where the generator was
late is crossed, as the table in RESULTS.md marks them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.report import Results, combine, generator_late, saturation
from bench.runs import Row

PANELS: tuple[tuple[str, Callable[[Row], float | None]], ...] = (
    ("CPU µs per echoed frame", lambda row: row.server_us_per_frame),
    ("resident memory KiB per call", lambda row: row.server_kib_per_call),
    ("round-trip p99 ms (log scale)", lambda row: row.rtt_p99_ms),
)


def sweep_plot_path(results_md: Path) -> Path:
    """``RESULTS-sweep.png`` beside ``RESULTS.md``."""
    return results_md.with_name(f"{results_md.stem}-sweep.png")


def write_sweep_plot(results: Results, path: Path) -> None:
    """Draw the sweep's rows into ``path``."""
    import matplotlib  # noqa: PLC0415 (only a sweep needs it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = combine(results.sweep)
    load = len(results.load_cpus)
    figure, axes = plt.subplots(1, len(PANELS), figsize=(15, 4.5))
    for axis, (title, value) in zip(axes, PANELS, strict=True):
        for server in sorted({r.server for r in rows}):
            points = sorted((r for r in rows if r.server == server), key=lambda r: r.calls)
            shown = [(r.calls, v, r) for r in points if (v := value(r)) is not None]
            if not shown:
                continue
            (line,) = axis.plot([c for c, _, _ in shown], [v for _, v, _ in shown], label=server)
            for calls, v, r in shown:
                hollow = saturation(r, load) is not None
                axis.plot(
                    calls,
                    v,
                    marker="o",
                    color=line.get_color(),
                    markerfacecolor="none" if hollow else line.get_color(),
                )
                if generator_late(r):
                    axis.plot(calls, v, marker="x", color="black", markersize=9)
        counts = sorted({r.calls for r in rows})
        axis.set_xscale("log")
        axis.set_xticks(counts, [f"{c:,}" for c in counts])
        axis.minorticks_off()
        axis.set_xlabel("concurrent calls")
        axis.set_title(title)
        if "log scale" in title:
            axis.set_yscale("log")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    figure.suptitle(
        "How the cost grows (hollow: saturated, kept out of the ratios; x: generator late)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
