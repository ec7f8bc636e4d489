"""A self-contained HTML report of a run comparison: one file, inline CSS and SVG, no scripts,
no external resources, every text escaped.

>>> from llm_rerank.eval.compare import compare_runs
>>> report = compare_runs({"q": {"a": 2, "b": 1}}, {"q": {"a": 1, "b": 2}})
>>> page = render_html(report)
>>> page.startswith("<!DOCTYPE html>"), "<svg" in page, "http" in page
(True, True, False)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from ..files import atomic_write
from ..models import Usage
from .compare import ComparisonReport, QueryComparison, RankedDoc

_CSS = """
:root { --a: #4c6ef5; --b: #e8590c; --good: #2b8a3e; --bad: #c92a2a; --muted: #868e96;
        --line: #dee2e6; --bg: #f8f9fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #212529;
       margin: 0; background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px;
     border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 22px 0 6px; }
.sub, .note { color: var(--muted); }
.note { font-size: 12.5px; }
.a { color: var(--a); font-weight: 600; } .b { color: var(--b); font-weight: 600; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 16px 0; }
.card { flex: 1 1 150px; background: var(--bg); border: 1px solid var(--line); border-radius: 8px;
        padding: 10px 14px; }
.card .v { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .l { color: var(--muted); font-size: 12.5px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: right;
         vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
td.t, th.t { text-align: left; }
.pos { color: var(--good); } .neg { color: var(--bad); }
.charts { display: flex; gap: 18px; flex-wrap: wrap; align-items: flex-start; }
.chart { border: 1px solid var(--line); border-radius: 8px; padding: 8px; background: #fff; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.pair table { width: 100%; table-layout: fixed; }
.pair td.r { width: 34px; color: var(--muted); }
.pair td.g { width: 40px; text-align: center; }
.pair td.t { overflow-wrap: anywhere; }
.pair .id { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
.pair .txt { color: #495057; font-size: 12.5px; }
.only { border-left: 3px solid #fab005; }
.grade { display: inline-block; min-width: 22px; padding: 1px 5px; border-radius: 4px;
         font-size: 12px; font-weight: 600; }
.g0 { background: #f1f3f5; color: #868e96; } .g1 { background: #d3f9d8; color: #2b8a3e; }
.g2 { background: #8ce99a; color: #1b5e20; } .g3 { background: #2f9e44; color: #fff; }
.gn { background: #fff; color: #adb5bd; border: 1px dashed #ced4da; }
.legend span { margin-right: 10px; }
"""

_GRADE_CLASSES = {0: "g0", 1: "g1", 2: "g2"}


def _num(value: float | None, digits: int = 3, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _signed_cell(value: float | None, digits: int = 4) -> str:
    css = "" if value is None or abs(value) < 1e-12 else (" pos" if value > 0 else " neg")
    return f'<td class="d{css}">{_num(value, digits, signed=True)}</td>'


def _grade(grade: int | None) -> str:
    if grade is None:
        return '<span class="grade gn" title="not judged">&ndash;</span>'
    css = _GRADE_CLASSES.get(grade, "g3" if grade >= 3 else "g0")
    return f'<span class="grade {css}">{grade}</span>'


def _summary(report: ComparisonReport) -> str:
    cards = [
        (_num(report.mean_kendall_tau), "mean Kendall tau-b (common docs)"),
        (_num(report.mean_rbo), f"mean RBO (p={report.rbo_p:g})"),
        (_num(report.mean_overlap_at_k), f"mean overlap@{report.k}"),
    ]
    first = report.metrics[0] if report.metric_delta else None
    if first is not None:
        cards.append((_num(report.metric_delta[first], 4, signed=True),
                      f"mean {escape(first)} delta (B &minus; A)"))
    parts = ['<div class="cards">']
    parts += [f'<div class="card"><div class="v">{v}</div><div class="l">{label}</div></div>'
              for v, label in cards]
    parts.append("</div>")
    if report.metric_delta:
        parts.append(
            '<table><tr><th class="t">metric</th><th><span class="a">A</span></th>'
            '<th><span class="b">B</span></th><th>delta (B &minus; A)</th>'
            "<th>queries where B is better / tied / worse</th></tr>"
        )
        for name in report.metric_delta:
            wins = report.metric_wins[name]
            parts.append(
                f'<tr><td class="t">{escape(name)}</td><td>{_num(report.metric_a[name], 4)}</td>'
                f"<td>{_num(report.metric_b[name], 4)}</td>"
                f"{_signed_cell(report.metric_delta[name])}"
                f"<td>{wins['b_better']} / {wins['tied']} / {wins['a_better']}</td></tr>"
            )
        parts.append(
            f'</table><p class="note">Means over the {report.num_judged_queries} judged queries '
            "(trec_eval conventions).</p>"
        )
    parts.append(_usage_table(report))
    return "\n".join(parts)


def _usage_table(report: ComparisonReport) -> str:
    sides: list[tuple[str, str, Usage, float | None]] = [
        (css, label, usage, wall) for css, label, usage, wall in (
            ("a", report.label_a, report.usage_a, report.wall_time_a),
            ("b", report.label_b, report.usage_b, report.wall_time_b),
        ) if usage is not None
    ]
    if not sides:
        return ""
    rows = "".join(
        f'<tr><td class="t"><span class="{css}">{escape(label)}</span></td><td>{u.llm_calls}</td>'
        f"<td>{u.cache_hits}</td><td>{u.prompt_tokens + u.completion_tokens:,}</td>"
        f"<td>${u.cost_usd:.4f}</td><td>{_num(wall, 1)} s</td><td>{u.latency_s:.1f} s</td>"
        f"<td>{u.latency_s / report.num_queries:.2f} s</td></tr>"
        for css, label, u, wall in sides
    )
    return (
        '<h3>Cost and latency</h3><table><tr><th class="t">side</th><th>LLM calls</th>'
        "<th>cache hits</th><th>tokens</th><th>cost</th><th>wall time</th>"
        f"<th>latency (sum)</th><th>mean per query</th></tr>{rows}</table>"
        '<p class="note">Wall time: all queries, run concurrently. Latency: each query from '
        "call to answer, including time queued behind the others.</p>"
    )


def _bar_chart(values: Sequence[tuple[str, float]], title: str) -> str:
    """Vertical bars, one per query (sorted by the caller), zero line, hover titles."""
    width, height, left, right, top, bottom = 760, 280, 48, 12, 28, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    low = min((v for _, v in values), default=0.0)
    high = max((v for _, v in values), default=0.0)
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low < 1e-9:
        low, high = -1.0, 1.0
    scale = plot_h / (high - low)

    def y(value: float) -> float:
        return top + (high - value) * scale

    step = plot_w / max(len(values), 1)
    parts = [f'<svg width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{left}" y="16" font-size="13" font-weight="600">{escape(title)}</text>']
    zero = y(0.0)
    for tick in sorted({low, 0.0, high}):
        if tick != 0.0 and abs(y(tick) - zero) < 14:  # too close to the zero label
            continue
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" stroke="#e9ecef"/>'
                     f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="11" '
                     f'text-anchor="end" fill="#868e96">{tick:+.2f}</text>')
    for position, (qid, value) in enumerate(values):
        x = left + position * step + step * 0.15
        bar_top, bar_h = (y(value), zero - y(value)) if value >= 0 else (zero, y(value) - zero)
        colour = "#2b8a3e" if value > 0 else "#c92a2a" if value < 0 else "#adb5bd"
        parts.append(f'<rect x="{x:.1f}" y="{bar_top:.1f}" width="{step * 0.7:.1f}" '
                     f'height="{max(bar_h, 1):.1f}" fill="{colour}">'
                     f"<title>{escape(qid)}: {value:+.4f}</title></rect>")
        if step >= 11:
            label_x, label_y = x + step * 0.35, height - bottom + 10
            parts.append(f'<text x="{label_x:.1f}" y="{label_y}" font-size="9.5" fill="#868e96" '
                         f'text-anchor="end" transform="rotate(-60 {label_x:.1f} {label_y})">'
                         f"{escape(qid[:12])}</text>")
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{zero:.1f}" y2="{zero:.1f}" '
                 'stroke="#495057"/></svg>')
    return "".join(parts)


def _scatter(report: ComparisonReport, metric: str) -> str:
    """Metric of A (x) against B (y) per query; above the diagonal, B is better."""
    size, pad = 280, 40
    plot = size - 2 * pad
    def pos(value: float) -> float:
        return pad + max(0.0, min(1.0, value)) * plot

    parts = [f'<svg width="{size}" height="{size}" '
             f'viewBox="0 0 {size} {size}" role="img" aria-label="{escape(metric)} scatter">',
             f'<rect x="{pad}" y="{pad}" width="{plot}" height="{plot}" fill="#f8f9fa" '
             'stroke="#dee2e6"/>',
             f'<line x1="{pad}" y1="{size - pad}" x2="{size - pad}" y2="{pad}" stroke="#adb5bd" '
             'stroke-dasharray="4 3"/>',
             f'<text x="{size / 2}" y="{size - 8}" font-size="11.5" text-anchor="middle" '
             f'fill="#4c6ef5">{escape(metric)} A</text>',
             f'<text x="12" y="{size / 2}" font-size="11.5" text-anchor="middle" fill="#e8590c" '
             f'transform="rotate(-90 12 {size / 2})">{escape(metric)} B</text>',
             f'<text x="{pad}" y="{pad - 10}" font-size="13" font-weight="600">per query</text>']
    for tick in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{pos(tick):.1f}" y="{size - pad + 13}" font-size="10" '
                     f'text-anchor="middle" fill="#868e96">{tick:g}</text>'
                     f'<text x="{pad - 5}" y="{size - pos(tick) + 3:.1f}" font-size="10" '
                     f'text-anchor="end" fill="#868e96">{tick:g}</text>')
    for query in report.per_query:
        if metric not in query.metrics_a:
            continue
        value_a, value_b = query.metrics_a[metric], query.metrics_b[metric]
        colour = "#2b8a3e" if value_b > value_a else "#c92a2a" if value_b < value_a else "#868e96"
        parts.append(f'<circle cx="{pos(value_a):.1f}" cy="{size - pos(value_b):.1f}" r="4" '
                     f'fill="{colour}" fill-opacity="0.75"><title>{escape(query.query_id)}: '
                     f"{value_a:.3f} &#8594; {value_b:.3f}</title></circle>")
    parts.append("</svg>")
    return "".join(parts)


def _charts(report: ComparisonReport) -> str:
    if report.metric_delta:
        metric = report.metrics[0]
        deltas = sorted(((q.query_id, q.delta[metric]) for q in report.per_query if q.delta),
                        key=lambda item: item[1])
        title = f"{metric} delta per query (B \u2212 A), sorted"
        return (f'<div class="charts"><div class="chart">{_bar_chart(deltas, title)}</div>'
                f'<div class="chart">{_scatter(report, metric)}</div></div>')
    taus = sorted(((q.query_id, q.kendall_tau) for q in report.per_query
                   if q.kendall_tau is not None), key=lambda item: item[1])
    title = "Kendall tau-b per query, sorted"
    return f'<div class="chart">{_bar_chart(taus, title)}</div>'


def _snippet(text: str | None, limit: int = 160) -> str:
    if not text:
        return ""
    cut = text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " \u2026"
    return f'<div class="txt">{escape(cut)}</div>'


def _top_table(docs: list[RankedDoc], other: set[str], texts: Mapping[str, str] | None) -> str:
    rows = []
    for rank, doc in enumerate(docs, start=1):
        only = ' class="only" title="not in the other top list"' if doc.doc_id not in other else ""
        text = _snippet(texts.get(doc.doc_id)) if texts else ""
        rows.append(f'<tr{only}><td class="r">{rank}</td><td class="t"><span class="id">'
                    f'{escape(doc.doc_id)}</span>{text}</td><td class="g">{_grade(doc.grade)}'
                    "</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _side_by_side(report: ComparisonReport, queries: Mapping[str, str] | None,
                  texts: Mapping[str, str] | None, count: int) -> str:
    def disagreement(q: QueryComparison) -> tuple[float, float]:
        return (q.kendall_tau if q.kendall_tau is not None else 2.0, q.rbo)

    chosen = sorted(report.per_query, key=disagreement)[:count]
    label_a, label_b = escape(report.label_a), escape(report.label_b)
    parts = [
        f'<p class="note legend">The {len(chosen)} queries with the lowest Kendall tau. '
        'Grades: <span class="grade g0">0</span> <span class="grade g1">1</span> '
        '<span class="grade g2">2</span> <span class="grade g3">3</span> '
        '<span class="grade gn">&ndash;</span> not judged; a yellow edge marks a document '
        "missing from the other top list.</p>"
    ]
    for q in chosen:
        heading = escape(q.query_id)
        if queries and q.query_id in queries:
            heading += f" &middot; {escape(queries[q.query_id])}"
        stats = (f"tau {_num(q.kendall_tau)}, RBO {_num(q.rbo)}, "
                 f"overlap@{report.k} {_num(q.overlap_at_k, 2)}")
        for name, delta in q.delta.items():
            stats += (f", {escape(name)} {q.metrics_a[name]:.3f} &#8594; {q.metrics_b[name]:.3f}"
                      f" ({delta:+.3f})")
        moved = ", ".join(
            f"{escape(m.doc_id)} {m.rank_a}&#8594;{m.rank_b}"
            + (f" (grade {m.grade})" if m.grade is not None else "")
            for m in q.most_moved
        )
        ids_a = {d.doc_id for d in q.top_a}
        ids_b = {d.doc_id for d in q.top_b}
        parts.append(
            f'<h3>{heading}</h3><p class="note">{stats}<br>most moved: {moved or "none"}</p>'
            f'<div class="pair"><div><div class="a">A: {label_a}</div>'
            f"{_top_table(q.top_a, ids_b, texts)}</div>"
            f'<div><div class="b">B: {label_b}</div>{_top_table(q.top_b, ids_a, texts)}</div></div>'
        )
    return "\n".join(parts)


def _natural(query_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, then the others alphabetically."""
    return (0, int(query_id), "") if query_id.isdigit() else (1, 0, query_id)


def _per_query_table(report: ComparisonReport) -> str:
    metric = report.metrics[0] if report.metric_delta else None
    head = (f'<tr><th class="t">query</th><th>tau</th><th>RBO</th><th>overlap@{report.k}</th>'
            f"<th>docs A / B</th>")
    if metric:
        head += (f'<th>{escape(metric)} <span class="a">A</span></th>'
                 f'<th>{escape(metric)} <span class="b">B</span></th><th>delta</th>')
    rows = []
    for q in sorted(report.per_query, key=lambda q: _natural(q.query_id)):
        row = (f'<tr><td class="t">{escape(q.query_id)}</td><td>{_num(q.kendall_tau)}</td>'
               f"<td>{_num(q.rbo)}</td><td>{_num(q.overlap_at_k, 2)}</td>"
               f"<td>{q.num_docs_a} / {q.num_docs_b}</td>")
        if metric:
            if metric in q.metrics_a:
                row += (f"<td>{q.metrics_a[metric]:.3f}</td><td>{q.metrics_b[metric]:.3f}</td>"
                        f"{_signed_cell(q.delta[metric], 3)}")
            else:
                row += "<td>n/a</td><td>n/a</td><td>n/a</td>"
        rows.append(row + "</tr>")
    return f"<table>{head}</tr>{''.join(rows)}</table>"


def render_html(
    report: ComparisonReport,
    *,
    title: str | None = None,
    queries: Mapping[str, str] | None = None,
    texts: Mapping[str, str] | None = None,
    disagreeing: int = 5,
    note: str | None = None,
) -> str:
    """The report as one HTML page. ``queries`` (qid -> text) and ``texts`` (doc id -> text)
    add query and passage text to the side-by-side lists; ``note`` is shown under the title.

    >>> from llm_rerank.eval.compare import compare_runs
    >>> "&lt;b&gt;" in render_html(compare_runs({"q": {"a": 1}}, {"q": {"a": 1}}), title="<b>")
    True
    """
    label_a, label_b = escape(report.label_a), escape(report.label_b)
    heading = escape(title) if title else f"{label_a} vs {label_b}"
    skipped = ""
    if report.queries_only_in_a or report.queries_only_in_b:
        skipped = (f" Not compared: {len(report.queries_only_in_a)} queries only in {label_a}, "
                   f"{len(report.queries_only_in_b)} only in {label_b}.")
    body = [
        f"<h1>{heading}</h1>",
        f'<div class="sub"><span class="a">A: {label_a}</span> &nbsp; '
        f'<span class="b">B: {label_b}</span> &nbsp; {report.num_queries} queries compared, '
        f"top-{report.k} lists.{skipped}</div>",
    ]
    if note:
        body.append(f'<p class="note">{escape(note)}</p>')
    body += [
        "<h2>Summary</h2>", _summary(report),
        "<h2>Per query</h2>", _charts(report),
        "<h2>Where the rankings disagree most</h2>",
        _side_by_side(report, queries, texts, disagreeing),
        "<h2>All queries</h2>", _per_query_table(report),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{heading}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def write_html(
    path: str | Path,
    report: ComparisonReport,
    *,
    title: str | None = None,
    queries: Mapping[str, str] | None = None,
    texts: Mapping[str, str] | None = None,
    disagreeing: int = 5,
    note: str | None = None,
) -> Path:
    """Write ``render_html`` of the report to ``path``; returns the path.

    The page is rendered first and written atomically: an existing file is replaced only by
    a complete report. A missing directory raises ``InvalidInput``.
    """
    page = render_html(report, title=title, queries=queries, texts=texts,
                       disagreeing=disagreeing, note=note)
    with atomic_write(path, "HTML report") as stream:
        stream.write(page)
    return Path(path)
