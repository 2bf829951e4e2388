"""HTML tables from notebook outputs, read back into rows and written in a compact form for the PDF.

A chapter shows a table with `display(df)`, whose `text/html` output is the table the HTML book
shows. A page of PDF is narrower, so the fallback renderer reads that HTML back (stdlib
`html.parser`, no lxml needed) and writes a pandoc pipe table with at most `max_cols` columns,
rounded numbers and truncated long text, plus a note saying what was left out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from recsys_causal.booktable import NUM_RE


@dataclass
class ParsedTable:
    header: list[list[str]] = field(default_factory=list)  # header rows
    rows: list[list[str]] = field(default_factory=list)

    @property
    def n_cols(self) -> int:
        return max((len(r) for r in self.header + self.rows), default=0)


class _TableParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[ParsedTable] = []
        self._depth = 0
        self._section = "tbody"
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._colspan = 1
        self._skip = 0  # inside <style>/<script>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skip += 1
        elif tag == "table":
            self._depth += 1
            if self._depth == 1:
                self.tables.append(ParsedTable())
                self._section = "tbody"
        elif self._depth != 1:
            return
        elif tag in ("thead", "tbody", "tfoot"):
            self._section = tag
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
            try:
                self._colspan = max(1, int(dict(attrs).get("colspan") or 1))
            except ValueError:
                self._colspan = 1
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip = max(0, self._skip - 1)
        elif tag == "table":
            self._depth -= 1
        elif self._depth != 1:
            return
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            text = " ".join("".join(self._cell).split())
            self._row.append(text)
            self._row.extend([""] * (self._colspan - 1))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            t = self.tables[-1]
            (t.header if self._section == "thead" else t.rows).append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._skip == 0 and self._cell is not None:
            self._cell.append(data)


def parse_html_table(html: str) -> ParsedTable | None:
    """The first top-level table of an HTML fragment, or None."""
    p = _TableParser()
    try:
        p.feed(html)
        p.close()
    except Exception:  # noqa: BLE001 - malformed HTML from an output: fall back to text/plain
        return None
    tables = [t for t in p.tables if t.rows or t.header]
    return tables[0] if tables else None


def round_cell(text: str, digits: int = 3) -> str:
    """Round a numeric cell to `digits` significant digits (integers stay whole)."""
    s = text.strip().replace(",", "")
    if not NUM_RE.match(s):
        return text
    try:
        v = float(s)
    except ValueError:
        return text
    if math.isnan(v) or math.isinf(v):
        return text
    if re.fullmatch(r"[-+]?\d+", s):
        return f"{int(s):,}" if abs(int(s)) >= 10_000 else s
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:.{max(0, digits - 1 - int(math.floor(math.log10(a))))}f}"
    return f"{v:.{digits}g}"


def _merge_header(header: list[list[str]], n: int) -> list[str]:
    """One header row: stacked header rows (MultiIndex columns, index names) joined per column."""
    if not header:
        return [""] * n
    cols = []
    for j in range(n):
        bits = [h[j] for h in header if j < len(h) and h[j]]
        cols.append(" / ".join(dict.fromkeys(bits)))
    return cols


def compact_table(t: ParsedTable, max_cols: int = 7, max_rows: int = 40, max_chars: int = 36) -> tuple[list[str], list[list[str]], str]:
    """Header, rows and a note on what was dropped, ready for a narrow page."""
    n = t.n_cols
    header = _merge_header(t.header, n)
    rows = [r + [""] * (n - len(r)) for r in t.rows]
    # drop columns that are empty everywhere (e.g. pandas' index-name row artefacts)
    keep = [j for j in range(n) if header[j] or any(r[j] for r in rows)]
    note = []
    if len(keep) > max_cols:
        note.append(f"{len(keep) - max_cols} of {len(keep)} columns omitted")
        keep = keep[:max_cols]
    header = [header[j] for j in keep]
    rows = [[r[j] for j in keep] for r in rows]
    if len(rows) > max_rows:
        note.append(f"{len(rows) - max_rows} of {len(rows)} rows omitted")
        rows = rows[:max_rows]

    def short(s: str) -> str:
        s = round_cell(s)
        return s if len(s) <= max_chars else s[: max_chars - 1].rstrip() + "…"

    header = [short(h) for h in header]
    rows = [[short(c) for c in r] for r in rows]
    text = ""
    if note:
        text = "Compact form for print (" + "; ".join(note) + "; numbers rounded); the HTML book has the full table."
    return header, rows, text
