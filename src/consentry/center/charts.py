"""Server-side SVG charts for the admin dashboard (matplotlib, Agg backend).

Why server-side SVG: no JavaScript charting library to vendor or build, the charts
scale on a phone, and each one carries a <title> for screen readers; the same
numbers are also printed in a table next to each chart. Matplotlib writes its styling
as a `<style>` element and `style="..."` attributes, which the center's
Content-Security-Policy (`style-src 'self'`) blocks in an inline SVG; `_no_inline_style`
turns them into SVG presentation attributes, which CSP does not govern.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PALETTE = ["#0b5394", "#a3201b", "#1e6b30", "#b45f06", "#5b3c88", "#4a4a4a", "#0e7c86", "#8a5a00", "#c2185b"]


def _svg(fig: matplotlib.figure.Figure, title: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Title": title, "Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    start = svg.find("<svg")
    svg = svg[start:]
    end = svg.find(">") + 1
    return _no_inline_style(svg[:end] + f'<title>{_esc(title)}</title>' + svg[end:])


STYLE_ELEMENT = re.compile(r"<style[^>]*>(.*?)</style>", re.S)
STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')
RULE = re.compile(r"\*\s*\{([^}]*)\}")


def _attrs(declarations: str) -> str:
    pairs = (d.split(":", 1) for d in declarations.split(";") if ":" in d)
    return "".join(f' {k.strip()}="{v.strip()}"' for k, v in pairs)


def _no_inline_style(svg: str) -> str:
    """The same drawing with presentation attributes instead of CSS (see the module doc)."""
    root: list[str] = []
    for css in STYLE_ELEMENT.findall(svg):
        root += RULE.findall(css)  # matplotlib's only rule: `*{stroke-linejoin: ...}`, inherited from the root
    svg = STYLE_ELEMENT.sub("", svg)
    svg = STYLE_ATTR.sub(lambda m: _attrs(m.group(1)), svg)
    end = svg.find(">")
    return svg[:end] + "".join(_attrs(r) for r in root) + svg[end:]


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _finish(fig: matplotlib.figure.Figure, ax: matplotlib.axes.Axes, title: str, ylabel: str, *, rotation: int,
            legend: bool) -> str:
    """The frame every chart shares: title, axis label, slanted x labels, a legend outside
    the plot when there are series, no top or right spine."""
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelrotation=rotation)
    if legend:
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig, title)


def stacked_bars(title: str, categories: Sequence[str], series: Mapping[str, Sequence[float]],
                 ylabel: str = "items") -> str:
    """One bar per category, stacked by series (e.g. region group x allowed/excluded)."""
    fig, ax = plt.subplots(figsize=(7, 3.4), dpi=100)
    bottom = [0.0] * len(categories)
    for i, (name, values) in enumerate(series.items()):
        ax.bar(list(categories), list(values), bottom=bottom, label=name, color=PALETTE[i % len(PALETTE)])
        bottom = [b + v for b, v in zip(bottom, values)]
    return _finish(fig, ax, title, ylabel, rotation=20, legend=bool(series))


def lines(title: str, x: Sequence[str], series: Mapping[str, Sequence[float]], ylabel: str = "events") -> str:
    """One line per series over time labels x."""
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    for i, (name, values) in enumerate(series.items()):
        ax.plot(list(x), list(values), marker="o", label=name, color=PALETTE[i % len(PALETTE)])
    return _finish(fig, ax, title, ylabel, rotation=30, legend=bool(series))
