"""Pictures of activations: the function and its derivative beside ReLU, GELU and SiLU (PNG, SVG, PDF or JPEG;
headless)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed, and never a GUI window from a library call
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402

from evoact.compiler import derivatives, values_at  # noqa: E402
from evoact.files import write_file
from evoact.formula import as_expression, constant_values, parse  # noqa: E402

REFERENCES = {"ReLU": "max(0, x)", "GELU": "gelu(x)", "SiLU": "silu(x)"}
#: The image formats a plot is written in, by its file's suffix.
IMAGE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".jpg": "jpeg", ".jpeg": "jpeg"}


def image_format(path: Path) -> str:
    """The format a plot at ``path`` is written in, by its suffix; a one-line ``ValueError`` for any other."""
    if path.suffix.lower() not in IMAGE_FORMATS:
        raise ValueError(f"{path}: a plot is written as {', '.join(IMAGE_FORMATS)}; end the name with one of them")
    return IMAGE_FORMATS[path.suffix.lower()]


def plot_png(
    formula: str | sp.Expr,
    params: dict[str, float] | None = None,
    span: tuple[float, float] = (-5.0, 5.0),
    title: str | None = None,
    kind: str = "png",
) -> bytes:
    """An image (``kind``: PNG by default) of ``formula`` and its derivative over ``span``, references drawn thin and
    grey."""
    x = np.linspace(span[0], span[1], 801)
    fig, (top, bottom) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=110)
    for name, ref in REFERENCES.items():
        expr = parse(ref)
        top.plot(x, values_at(expr, x, {}), lw=1, alpha=0.55, ls="--", label=name)
        bottom.plot(x, values_at(derivatives(expr)[0], x, {}), lw=1, alpha=0.55, ls="--", label=name)
    expr = as_expression(formula)
    values = constant_values(expr, params)
    top.plot(x, values_at(expr, x, values), lw=2.2, color="black", label="this")
    bottom.plot(x, values_at(derivatives(expr)[0], x, values), lw=2.2, color="black", label="this")
    for axis, label in ((top, "f(x)"), (bottom, "f'(x)")):
        axis.axhline(0, color="#999", lw=0.6)
        axis.axvline(0, color="#999", lw=0.6)
        axis.set_xlabel("x")
        axis.set_title(label)
        axis.grid(alpha=0.3)
    top.legend(fontsize=8, loc="upper left")
    fig.suptitle(title or formula, fontsize=9)
    return figure_png(fig, kind)


def figure_png(fig: plt.Figure, kind: str = "png") -> bytes:
    """A finished figure as PNG bytes (or ``kind``'s); the figure is closed (pyplot keeps every open one alive)."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=kind)
    plt.close(fig)
    return buffer.getvalue()


def write_plot(
    path: str | Path,
    formula: str | sp.Expr,
    params: dict[str, float] | None = None,
    span: tuple[float, float] = (-5.0, 5.0),
) -> Path:
    """Write ``plot_png`` to ``path``, in the format its suffix names (``image_format``)."""
    path = Path(path)
    write_file(path, plot_png(formula, params, span, kind=image_format(path)))
    return path
