"""What the dashboard's pages are made of, and how each is drawn: HTML for a phone, SVG charts
drawn here (no script, no chart library, nothing fetched from elsewhere), CSV for Excel.

A page is a `View`: cards of headline figures, tables and charts. The same view gives the HTML
and every table's and chart's CSV, so what is downloaded is what is shown.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from html import escape
from typing import Any

BOM = "\ufeff"  # Excel reads a CSV as UTF-8 only with it


@dataclass(frozen=True)
class Column:
    title: str
    kind: str = "text"  # text, int, money, qty, pct, date, time


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    columns: tuple[Column, ...]
    rows: Sequence[tuple[Any, ...]]
    empty: str = "暂无数据"
    note: str = ""


@dataclass(frozen=True)
class Bars:
    """A bar chart: one bar per point, in order. `across` draws horizontal bars (a funnel)."""

    key: str
    title: str  # says what it shows, with its unit
    label: str  # what the points are (the CSV's first column): 配送日, 环节
    kind: str  # int or money
    points: Sequence[tuple[str, Any]]  # (label, value)
    caption: str = ""
    across: bool = False


@dataclass(frozen=True)
class Card:
    label: str
    value: str
    sub: str = ""


@dataclass(frozen=True)
class View:
    key: str
    title: str
    cards: Sequence[Card] = ()
    blocks: Sequence[Table | Bars] = ()
    live: int = 0  # seconds between refreshes while open (0: none)
    heading: str = ""
    links: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (text, href) under the heading

    def block(self, key: str) -> Table | Bars | None:
        return next((b for b in self.blocks if b.key == key), None)


def money(value: Decimal | int | float) -> str:
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    return f"¥{amount:,}"


def cell(value: Any, kind: str) -> str:
    """A value as the page shows it."""
    if value is None or value == "":
        return "—"
    if kind == "money":
        return money(value)
    if kind == "qty":
        return f"{Decimal(str(value)).normalize():f}"
    if kind == "pct":
        return f"{value:+.0%}"
    if kind == "date" and isinstance(value, date):
        return f"{value.month}月{value.day}日"
    if kind == "time" and isinstance(value, datetime):
        return f"{value:%m-%d %H:%M}"
    if kind == "int":
        return f"{int(value):,}"
    return str(value)


def raw(value: Any) -> str:
    """A value as the CSV holds it: plain numbers and ISO dates, for sums in Excel."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def to_csv(block: Table | Bars) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    if isinstance(block, Table):
        writer.writerow([c.title for c in block.columns])
        writer.writerows([[raw(v) for v in row] for row in block.rows])
    else:
        writer.writerow([block.label, block.title])
        writer.writerows([[label, raw(value)] for label, value in block.points])
    return BOM + out.getvalue()


# -- charts -----------------------------------------------------------------------------------

def _nice(top: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at or above `top`."""
    if top <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(top))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= top)


def _short(value: float, kind: str) -> str:
    if kind == "money":
        return f"¥{value / 10000:g}万" if value >= 10000 else f"¥{value:g}"
    return f"{value / 10000:g}万" if value >= 10000 else f"{value:g}"


def chart(bars: Bars, csv_href: str) -> str:
    values = [float(v or 0) for _, v in bars.points]
    described = f"{bars.title}。{bars.caption}" if bars.caption else bars.title
    head = (f"<figure class=chart id='{escape(bars.key)}'><figcaption>{escape(bars.title)}"
            f"<a class=csv href='{escape(csv_href)}' download>CSV</a></figcaption>")
    tail = (f"<p class=caption>{escape(bars.caption)}</p>" if bars.caption else "") + "</figure>"
    if not values:
        return head + "<p class=empty>暂无数据</p>" + tail
    if bars.across:
        return head + _across(bars, values, described) + tail
    width, height, left, right, top, bottom = 360, 170, 44, 6, 8, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice(max(values))
    step = plot_w / len(values)
    parts = [f"<svg viewBox='0 0 {width} {height}' role=img aria-label='{escape(described)}'>"]
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(f"<line x1={left} x2={width - right} y1={y:.1f} y2={y:.1f} class=grid />"
                     f"<text x={left - 4} y={y + 4:.1f} class=axis text-anchor=end>"
                     f"{escape(_short(top_value * fraction, bars.kind))}</text>")
    for i, ((label, value), number) in enumerate(zip(bars.points, values)):
        bar_h = plot_h * number / top_value
        x = left + i * step + step * 0.1
        shown = cell(value, bars.kind)
        parts.append(f"<rect x={x:.2f} y={top + plot_h - bar_h:.2f} width={max(step * 0.8, 0.5):.2f} "
                     f"height={bar_h:.2f}><title>{escape(label)}：{escape(shown)}</title></rect>")
    for i in sorted({0, len(values) // 2, len(values) - 1}):
        x = left + i * step + step / 2
        parts.append(f"<text x={x:.1f} y={height - 6} class=axis text-anchor=middle>"
                     f"{escape(bars.points[i][0])}</text>")
    parts.append("</svg>")
    return head + "".join(parts) + tail


def _across(bars: Bars, values: list[float], described: str) -> str:
    row_h, label_w, width = 26, 84, 360
    top_value = max(values) or 1.0
    height = row_h * len(values) + 4
    parts = [f"<svg viewBox='0 0 {width} {height}' role=img aria-label='{escape(described)}'>"]
    for i, ((label, value), number) in enumerate(zip(bars.points, values)):
        y = 2 + i * row_h
        bar_w = (width - label_w - 70) * number / top_value
        parts.append(f"<text x={label_w - 6} y={y + 16} class=axis text-anchor=end>{escape(label)}</text>"
                     f"<rect x={label_w} y={y + 3} width={max(bar_w, 0.5):.1f} height={row_h - 8}>"
                     f"<title>{escape(label)}：{escape(cell(value, bars.kind))}</title></rect>"
                     f"<text x={label_w + bar_w + 6:.1f} y={y + 16} class=value>{escape(cell(value, bars.kind))}</text>")
    parts.append("</svg>")
    return "".join(parts)


# -- pages ------------------------------------------------------------------------------------

def table(block: Table, csv_href: str) -> str:
    head = (f"<section class=block id='{escape(block.key)}'><h2>{escape(block.title)}"
            f"<a class=csv href='{escape(csv_href)}' download>CSV</a></h2>")
    if not block.rows:
        return head + f"<p class=empty>{escape(block.empty)}</p></section>"
    numeric = {"int", "money", "qty", "pct"}
    header = "".join(f"<th{' class=n' if c.kind in numeric else ''}>{escape(c.title)}</th>" for c in block.columns)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=n' if c.kind in numeric else ''}>{escape(cell(v, c.kind))}</td>"
                         for c, v in zip(block.columns, row)) + "</tr>" for row in block.rows)
    note = f"<p class=note>{escape(block.note)}</p>" if block.note else ""
    return head + f"<div class=scroll><table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>{note}</section>"


def main(view: View, csv_base: str, query: str = "") -> str:
    """The part of a page that a live page fetches again."""
    parts = []
    if view.heading:
        parts.append(f"<p class=heading>{escape(view.heading)}</p>")
    if view.links:
        parts.append("<p class=links>" + " ".join(f"<a href='{escape(href)}'>{escape(text)}</a>"
                                                   for text, href in view.links) + "</p>")
    if view.cards:
        parts.append("<div class=cards>" + "".join(
            f"<div class=card><span>{escape(c.label)}</span><b>{escape(c.value)}</b>"
            + (f"<small>{escape(c.sub)}</small>" if c.sub else "") + "</div>" for c in view.cards) + "</div>")
    sep = "&" if query else "?"
    for block in view.blocks:
        href = f"{csv_base}{query}{sep}table={block.key}"
        parts.append(table(block, href) if isinstance(block, Table) else chart(block, href))
    return "".join(parts)


def page(view: View, shop: str, tabs: Sequence[tuple[str, str, str]], stamp: str, csv_base: str, query: str = "") -> str:
    nav = "".join(f"<a href='{escape(href)}'{' aria-current=page' if key == view.key else ''}>{escape(text)}</a>"
                  for key, text, href in tabs)
    live = f" data-live={view.live}" if view.live else ""
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'><link rel=icon href='data:,'>"
        f"<title>{escape(view.title)} · {escape(shop)}看板</title>"
        "<link rel=stylesheet href='/dash/static/dash.css'><script src='/dash/static/dash.js' defer></script></head>"
        f"<body><header><b>{escape(shop)}</b><span id=stamp>{escape(stamp)}</span>"
        "<form method=post action='/dash/out'><button>退出</button></form></header>"
        f"<nav>{nav}</nav><main><h1>{escape(view.title)}</h1><div id=live{live}>{main(view, csv_base, query)}</div></main>"
        "</body></html>")


def notice(title: str, text: str, status_line: str = "", form: str = "") -> str:
    """A page that only says something (signed out, a link used up)."""
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'><link rel=icon href='data:,'>"
        f"<title>{escape(title)}</title><link rel=stylesheet href='/dash/static/dash.css'></head>"
        f"<body><main class=notice><h1>{escape(title)}</h1><p>{escape(text)}</p>{form}"
        + (f"<p class=note>{escape(status_line)}</p>" if status_line else "") + "</main></body></html>")
