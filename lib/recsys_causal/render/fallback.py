"""The book without Quarto: one self-contained HTML file and one PDF, from Jupyter's own formats.

The fallback reads the same `report/_quarto.yml` as Quarto (same pages, parts and order) and the
same executed notebooks, and honours the Quarto conventions the chapters use:

- cell options `#| label: fig-...` / `#| fig-cap:` / `#| tbl-cap:` / `#| echo:` / `#| output:` /
  `#| include:`, and the cell tags `remove-cell`, `remove-input`, `remove-output` (papermill's
  `parameters` / `injected-parameters` cells are dropped);
- figure / table numbers per chapter ("Figure 2.3: ...", appendix chapters are lettered),
  cross-references `@fig-x`, `@tbl-x`, `@sec-x` (and `-@fig-x`) turned into numbered links,
  numbered sections;
- citations `[@key]` with pandoc's citeproc and `report/references.bib`, references at the
  `::: {#refs}` div of `references.qmd`;
- `{{< include file >}}` shortcodes and `::: {.callout-*}` blocks in the .qmd pages;
- `text/markdown` outputs (the chapters' interpretation sentences) rendered as markdown.

Every page is turned into pandoc markdown twice: for HTML (code folded in `<details>`, images
as data URIs, tables as the notebook's own HTML) and for the PDF (no code, images as files,
tables in a compact form). Pandoc (pypandoc-binary) converts the first to HTML and the second to
Typst; the `typst` package compiles the PDF. Nothing is fetched from the network.
"""

from __future__ import annotations

import base64
import html as html_lib
import re
import shutil
import string
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

from recsys_causal.booktable import pipe_table
from recsys_causal.render.book import HIDDEN_TAGS, BookItem, book_items
from recsys_causal.render.tables import compact_table, parse_html_table

HERE = Path(__file__).parent
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")
REMOVE_TAGS = (*HIDDEN_TAGS, "remove-cell")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*(\{[^{}]*\})?\s*#*\s*$")
FENCE_RE = re.compile(r"^\s*(`{3,}|~{3,})")
DIV_OPEN_RE = re.compile(r"^:{3,}\s*(\{[^}]*\}|[\w-]+)\s*$")
DIV_CLOSE_RE = re.compile(r"^:{3,}\s*$")
INCLUDE_RE = re.compile(r"\{\{<\s*include\s+(\S+?)\s*>\}\}")
# report/generated.lua: the run's generated Markdown, path relative to the project root
GENERATED_RE = re.compile(r"\{\{<\s*generated\s+(\S+?)\s*>\}\}")
SHORTCODE_RE = re.compile(r"\{\{<.*?>\}\}")
CODE_SPLIT_RE = re.compile(r"(`{3,}[\s\S]*?`{3,}|~{3,}[\s\S]*?~{3,}|`[^`\n]+`)")
LABEL = r"((?:fig|tbl|sec)-[A-Za-z0-9_-]*[A-Za-z0-9_])"
REF_BRACKET_RE = re.compile(r"\[(-?)@" + LABEL + r"\]")
REF_BARE_RE = re.compile(r"(?<![\w@/\\.])(-?)@" + LABEL)
KIND_NAMES = {"fig": "Figure", "tbl": "Table", "sec": "Section"}
PDF_IMAGE_DPI = 110
PDF_MAX_WIDTH_IN = 6.3


class FallbackError(RuntimeError):
    """The fallback renderer could not build the book."""


# ----------------------------------------------------------------------------------------------
# Reading pages into blocks
# ----------------------------------------------------------------------------------------------
@dataclass
class Block:
    kind: str  # md | code | stream | error | figure | table | html
    text: str = ""
    images: list[tuple[str, str]] = field(default_factory=list)  # (mime, base64 or svg text)
    label: str = ""
    caption: str = ""
    html: str = ""
    number: str = ""  # "2.3" once numbered


@dataclass
class Page:
    item: BookItem
    anchor: str
    title: str = ""
    unnumbered: bool = False
    number: str = ""
    blocks: list[Block] = field(default_factory=list)
    sections: list[tuple[int, str, str, str]] = field(default_factory=list)  # level, id, number, text
    top_level: bool = False  # outside any part (home page, references)

    @property
    def kind(self) -> str:
        return self.item.kind


def split_cell_options(source: str) -> tuple[dict[str, Any], str]:
    """Leading `#| key: value` lines of a code cell as a dict, and the remaining code."""
    lines = source.splitlines()
    opts_lines = []
    i = 0
    while i < len(lines) and lines[i].startswith("#|"):
        opts_lines.append(lines[i][2:].strip() if lines[i][2:3] != " " else lines[i][3:])
        i += 1
    opts: dict[str, Any] = {}
    if opts_lines:
        try:
            loaded = yaml.safe_load("\n".join(opts_lines))
            if isinstance(loaded, dict):
                opts = loaded
        except yaml.YAMLError:
            for ln in opts_lines:
                if ":" in ln:
                    k, v = ln.split(":", 1)
                    opts[k.strip()] = v.strip().strip('"').strip("'")
    return opts, "\n".join(lines[i:]).strip("\n")


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _strip_title(text: str) -> tuple[str | None, str, str]:
    """Remove the first level-1 heading outside code: (title, attrs, remaining text)."""
    lines = text.splitlines()
    in_fence = None
    for i, ln in enumerate(lines):
        m = FENCE_RE.match(ln)
        if m:
            in_fence = None if in_fence and m.group(1)[0] == in_fence else (in_fence or m.group(1)[0])
            continue
        if in_fence:
            continue
        h = HEADING_RE.match(ln)
        if h and len(h.group(1)) == 1:
            rest = "\n".join(lines[:i] + lines[i + 1:])
            return h.group(2).strip(), h.group(3) or "", rest
    return None, "", text


def notebook_page(item: BookItem, path: Path) -> Page:
    nb = nbformat.read(path, as_version=4)
    anchor = f"ch-{item.chapter.id}" if item.chapter else "ch-" + _slug(Path(item.file).stem)
    page = Page(item, anchor)
    for cell in nb.cells:
        tags = list(cell.get("metadata", {}).get("tags", []) or [])
        if any(t in REMOVE_TAGS for t in tags):
            continue
        src = _text(cell.get("source", ""))
        if cell.cell_type == "markdown":
            if not page.title:
                title, attrs, src = _strip_title(src)
                if title:
                    page.title = title
                    page.unnumbered = _unnumbered(attrs)
            if src.strip():
                page.blocks.append(Block("md", src))
        elif cell.cell_type == "code":
            page.blocks.extend(_code_blocks(cell, src, tags))
    if not page.title:
        page.title = item.chapter.title if item.chapter else Path(item.file).stem
    return page


def _code_blocks(cell: Any, src: str, tags: list[str]) -> list[Block]:
    opts, body = split_cell_options(src)
    if opts.get("include") is False:
        return []
    out: list[Block] = []
    if opts.get("echo", True) is not False and "remove-input" not in tags and body.strip():
        out.append(Block("code", body))
    if opts.get("output", True) is False or "remove-output" in tags:
        return out
    label = str(opts.get("label", "") or "")
    fig_cap = str(opts.get("fig-cap", "") or "")
    tbl_cap = str(opts.get("tbl-cap", "") or "")
    fig_used = tbl_used = False
    for o in cell.get("outputs", []):
        ot = o.get("output_type")
        if ot == "stream":
            if o.get("name") == "stdout" and _text(o.get("text")).strip():
                out.append(Block("stream", ANSI_RE.sub("", _text(o.get("text")))))
        elif ot == "error":
            tb = ANSI_RE.sub("", "\n".join(o.get("traceback", [])[-6:]))
            out.append(Block("error", tb or f"{o.get('ename')}: {o.get('evalue')}"))
        elif ot in ("display_data", "execute_result"):
            data = o.get("data", {})
            img = next((m for m in IMAGE_MIMES if m in data), None)
            if img:
                first = not fig_used
                fig_used = True
                out.append(Block("figure", images=[(img, _text(data[img]))],
                                 label=label if first and label.startswith("fig-") else "",
                                 caption=fig_cap if first else ""))
            elif "text/markdown" in data:
                md = _text(data["text/markdown"])
                if tbl_cap and not tbl_used and "|" in md:
                    tbl_used = True
                    out.append(Block("table", text=md, label=label if label.startswith("tbl-") else "", caption=tbl_cap))
                else:
                    out.append(Block("md", md))
            elif "text/html" in data:
                h = _text(data["text/html"])
                plain = _text(data.get("text/plain", ""))
                if "<table" in h.lower():
                    first = not tbl_used
                    tbl_used = True
                    out.append(Block("table", html=h, text=plain,
                                     label=label if first and label.startswith("tbl-") else "",
                                     caption=tbl_cap if first else ""))
                else:
                    out.append(Block("html", html=h, text=plain))
            elif "text/latex" in data:
                out.append(Block("md", _text(data["text/latex"])))
            elif "text/plain" in data:
                out.append(Block("stream", _text(data["text/plain"])))
    return out


def resolve_includes(text: str, base: Path, depth: int = 0, root: Path | None = None) -> str:
    """Replace `{{< include f >}}` (relative to `base`) and `{{< generated f >}}` (relative to the
    project `root`) by the file's text; drop other shortcodes."""
    if depth > 5:
        return text

    def load(p: Path, shown: str) -> str:
        if not p.is_file():
            return f"*Not computed in this run: {shown}*"
        return resolve_includes(_strip_front_matter(p.read_text())[1], p.parent, depth + 1, root)

    text = GENERATED_RE.sub(lambda m: load((root or base) / m.group(1), m.group(1)), text)
    text = INCLUDE_RE.sub(lambda m: load((base / m.group(1)).resolve(), m.group(1)), text)
    return SHORTCODE_RE.sub("", text)


def _strip_front_matter(text: str) -> tuple[dict[str, Any], str]:
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            try:
                meta = yaml.safe_load(text[3:end]) or {}
            except yaml.YAMLError:
                meta = {}
            return (meta if isinstance(meta, dict) else {}), text[end + 4:].lstrip("\n")
    return {}, text


LOCAL_IMAGE_RE = re.compile(r"(!\[[^\]]*\]\()(?!data:|https?:|/)([^)\s]+\.(?:png|jpe?g|svg))(\))")
DATA_IMAGE_RE = re.compile(r"(!\[[^\]]*\]\()data:(image/(?:png|jpeg|svg\+xml));base64,([A-Za-z0-9+/=]+)(\))")
IMAGE_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg"}


def embed_local_images(md: str, root: Path) -> str:
    """Markdown images with a project-relative path become data URIs (the HTML book is one file)."""
    def repl(m: re.Match[str]) -> str:
        p = root / m.group(2)
        if not p.is_file():
            return m.group(0)
        suffix = p.suffix.lower().lstrip(".")
        mime = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "svg": "image/svg+xml"}[suffix]
        return f"{m.group(1)}data:{mime};base64,{base64.b64encode(p.read_bytes()).decode()}{m.group(3)}"

    return LOCAL_IMAGE_RE.sub(repl, md)


def data_images_to_files(md: str, img_dir: Path, prefix: str) -> str:
    """Data-URI images written to `img_dir` (Typst reads files), the Markdown pointing at them."""
    count = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        name = f"{prefix}-md{count}.{IMAGE_EXT[m.group(2)]}"
        (img_dir / name).write_bytes(base64.b64decode(m.group(3)))
        return f"{m.group(1)}img/{name}{m.group(4)}{{width={PDF_MAX_WIDTH_IN:.2f}in}}"

    return DATA_IMAGE_RE.sub(repl, md)


def markdown_page(item: BookItem, path: Path, root: Path) -> Page:
    meta, body = _strip_front_matter(path.read_text())
    body = embed_local_images(resolve_includes(body, path.parent, root=root), root)
    stem = Path(item.file).stem
    page = Page(item, "ch-" + _slug(stem))
    title, attrs, rest = _strip_title(body)
    page.title = str(meta.get("title") or title or stem.replace("_", " ").title())
    if meta.get("title") and title is None:
        rest = body
    page.unnumbered = _unnumbered(attrs) or item.kind == "index"
    if rest.strip():
        page.blocks.append(Block("md", rest))
    return page


def _unnumbered(attrs: str) -> bool:
    return bool(attrs) and (".unnumbered" in attrs or re.search(r"(^|[\s{])-([\s}]|$)", attrs) is not None)


def _slug(text: str) -> str:
    s = re.sub(r"[^\w\s-]", "", text.lower()).strip()
    return re.sub(r"[\s_]+", "-", s) or "section"


# ----------------------------------------------------------------------------------------------
# Numbering
# ----------------------------------------------------------------------------------------------
def load_pages(root: Path, config: dict[str, Any]) -> list[Page]:
    """Every page of the book in reading order (notebooks and .qmd pages; paths relative to `root`)."""
    pages: list[Page] = []
    for item in book_items(config):
        if item.kind in ("part", "appendix-part"):
            pages.append(Page(item, "part-" + _slug(item.text), title=item.text, unnumbered=True))
            continue
        path = root / item.file
        if not path.is_file():
            continue
        page = notebook_page(item, path) if path.suffix == ".ipynb" else markdown_page(item, path, root)
        if item.kind == "index":
            page.unnumbered = True
        # top-level pages after the parts (e.g. References) stand outside the last part
        page.top_level = item.kind == "index" or (not item.appendix and _top_level(config, item.file))
        pages.append(page)
    return pages


def _top_level(config: dict[str, Any], file: str) -> bool:
    for e in (config.get("book", {}) or {}).get("chapters", []) or []:
        if isinstance(e, str) and e == file:
            return True
    return False


def number_pages(pages: list[Page]) -> dict[str, tuple[str, str]]:
    """Number chapters, sections, figures and tables; return {label: (kind name, number)}."""
    labels: dict[str, tuple[str, str]] = {}
    used_ids: set[str] = set()
    main = 0
    app = 0
    for page in pages:
        if page.kind in ("part", "appendix-part"):
            continue
        if not page.unnumbered:
            if page.item.appendix:
                page.number = chr(ord("A") + app)
                app += 1
            else:
                main += 1
                page.number = str(main)
        _number_headings(page, labels, used_ids)
        fig = tbl = 0
        for b in page.blocks:
            if b.label and b.label in labels:
                # a label used twice would break the links (and the Typst compile): keep the first
                b.label = ""
            if b.kind == "figure" and b.label:
                fig += 1
                b.number = f"{page.number}.{fig}" if page.number else str(fig)
                labels[b.label] = ("Figure", b.number)
            elif b.kind == "table" and b.label:
                tbl += 1
                b.number = f"{page.number}.{tbl}" if page.number else str(tbl)
                labels[b.label] = ("Table", b.number)
    return labels


def _number_headings(page: Page, labels: dict[str, tuple[str, str]], used: set[str]) -> None:
    counters = [0, 0, 0, 0, 0, 0, 0]
    for b in page.blocks:
        if b.kind != "md":
            continue
        out = []
        in_fence = None
        callout_depth: list[bool] = []
        for ln in b.text.splitlines():
            m = FENCE_RE.match(ln)
            if m:
                ch = m.group(1)[0]
                in_fence = None if in_fence == ch else (in_fence or ch)
                out.append(ln)
                continue
            if in_fence:
                out.append(ln)
                continue
            if DIV_CLOSE_RE.match(ln):
                if callout_depth:
                    callout_depth.pop()
                out.append(ln)
                continue
            dm = DIV_OPEN_RE.match(ln)
            if dm:
                callout_depth.append("callout" in dm.group(1))
                out.append(ln)
                continue
            h = HEADING_RE.match(ln)
            if not h:
                out.append(ln)
                continue
            text, attrs = h.group(2).strip(), h.group(3) or ""
            if any(callout_depth):
                out.append(f"[**{text}**]{{.callout-title}}")
                continue
            level = max(2, len(h.group(1)))
            idm = re.search(r"#([\w:.-]+)", attrs)
            hid = idm.group(1) if idm else f"sec-{page.anchor[3:]}-{_slug(text)}"
            base, k = hid, 1
            while hid in used:
                k += 1
                hid = f"{base}-{k}"
            used.add(hid)
            classes = " ".join(re.findall(r"\.[\w-]+", attrs))
            number = ""
            if page.number and not _unnumbered(attrs) and level <= 3:
                counters[level] += 1
                for j in range(level + 1, len(counters)):
                    counters[j] = 0
                number = ".".join([page.number] + [str(counters[j]) for j in range(2, level + 1)])
            prefix = f"[{number}]{{.section-number}} " if number else ""
            out.append(f"{'#' * level} {prefix}{text} {{#{hid}{(' ' + classes) if classes else ''}}}")
            page.sections.append((level, hid, number, _plain(text)))
            if hid.startswith("sec-") and number:
                labels[hid] = ("Section", number)
        b.text = "\n".join(out)


def _plain(md: str) -> str:
    s = re.sub(r"\[([^\]]*)\]\{[^}]*\}", r"\1", md)
    s = re.sub(r"[*_`]", "", s)
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", s).strip()


# ----------------------------------------------------------------------------------------------
# Cross-references
# ----------------------------------------------------------------------------------------------
def resolve_refs(text: str, labels: dict[str, tuple[str, str]]) -> str:
    """`@fig-x` -> `[Figure 2.3](#fig-x)`, `-@fig-x` -> `[2.3](#fig-x)`; unknown -> `?@fig-x`."""

    def repl(m: re.Match[str]) -> str:
        bare, label = m.group(1) == "-", m.group(2)
        if label not in labels:
            return f"**?\\@{label}**"
        name, num = labels[label]
        return f"[{num if bare else name + ' ' + num}](#{label})"

    parts = CODE_SPLIT_RE.split(text)
    for i in range(0, len(parts), 2):
        parts[i] = REF_BARE_RE.sub(repl, REF_BRACKET_RE.sub(repl, parts[i]))
    return "".join(parts)


# ----------------------------------------------------------------------------------------------
# Pages to pandoc markdown
# ----------------------------------------------------------------------------------------------
def _fence(text: str, info: str = "") -> str:
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    f = "`" * max(3, run + 1)
    return f"{f}{info}\n{text.rstrip()}\n{f}\n"


def _raw(fmt: str, text: str) -> str:
    return _fence(text, "{=" + fmt + "}")


def _caption(b: Block, kind: str, labels: dict[str, tuple[str, str]]) -> str:
    cap = resolve_refs(b.caption, labels).replace("\n", " ").strip()
    if b.number:
        return f"{kind} {b.number}: {cap}" if cap else f"{kind} {b.number}"
    return cap


NUM_CELL_RE = re.compile(r"<td([^>]*)>(\s*[-+\u2212]?(?:\d[\d,]*\.?\d*|\.\d+)(?:e[-+]?\d+)?%?\s*)</td>", re.I)


def _sanitize_html(h: str) -> str:
    """Drop scripts / external resources; mark numeric cells (right-aligned by the CSS)."""
    h = re.sub(r"<script[\s\S]*?</script>", "", h, flags=re.I)
    h = re.sub(r"<(link|iframe)[^>]*>", "", h, flags=re.I)
    h = re.sub(r'(<table[^>]*?)\sborder="\d+"', r"\1", h)
    return NUM_CELL_RE.sub(lambda m: f'<td{_add_class(m.group(1), "num")}>{m.group(2)}</td>', h)


def _add_class(attrs: str, cls: str) -> str:
    if 'class="' in attrs:
        return attrs.replace('class="', f'class="{cls} ', 1)
    return f'{attrs} class="{cls}"'


def _image_b64(mime: str, data: str) -> str:
    if mime == "image/svg+xml":
        return base64.b64encode(data.encode()).decode()
    return "".join(data.split())


def chapter_heading(page: Page) -> str:
    num = f"[{page.number}]{{.chapter-number}} " if page.number else ""
    cls = " .unnumbered" if not page.number else ""
    return f"# {num}{page.title} {{#{page.anchor}{cls}}}\n"


def page_markdown_html(page: Page, labels: dict[str, tuple[str, str]]) -> str:
    if page.kind in ("part", "appendix-part"):
        return _raw("html", f'<div class="part-title" id="{page.anchor}"><h1>{html_lib.escape(page.title)}</h1></div>')
    parts = [chapter_heading(page)]
    for b in page.blocks:
        if b.kind == "md":
            parts.append(resolve_refs(b.text, labels) + "\n")
        elif b.kind == "code":
            parts.append(_raw("html", '<details class="code-fold"><summary>Code</summary>'))
            parts.append(_fence(b.text, "python"))
            parts.append(_raw("html", "</details>"))
        elif b.kind == "stream":
            parts.append(_fence(b.text, "{.cell-output}"))
        elif b.kind == "error":
            parts.append(_fence(b.text, "{.cell-error}"))
        elif b.kind == "figure":
            mime, data = b.images[0]
            uri = f"data:{mime};base64,{_image_b64(mime, data)}"
            cap = _caption(b, "Figure", labels)
            attr = f"{{#{b.label}}}" if b.label else ""
            if cap:
                parts.append(f"![{cap}]({uri}){attr}\n")
            else:
                parts.append(_raw("html", f'<div class="cell-output-display"><img src="{uri}" alt="figure"></div>'))
        elif b.kind == "table":
            cap = _caption(b, "Table", labels)
            idattr = f"#{b.label} " if b.label else ""
            parts.append(f"::: {{{idattr}.table-block}}\n")
            if cap:
                parts.append(f"::: {{.table-caption}}\n{cap}\n:::\n")
            if b.html:
                parts.append(_raw("html", f'<div class="table-wrap">\n{_sanitize_html(b.html)}\n</div>'))
            else:
                parts.append(resolve_refs(b.text, labels) + "\n")
            parts.append(":::\n")
        elif b.kind == "html":
            parts.append(_raw("html", f'<div class="cell-output-display">{_sanitize_html(b.html)}</div>'))
    return "\n".join(parts)


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    return None


def page_markdown_pdf(page: Page, labels: dict[str, tuple[str, str]], img_dir: Path) -> str:
    if page.kind in ("part", "appendix-part"):
        title = page.title.replace("]", "\\]").replace("[", "\\[")
        return _raw("typst", f"#part-page[{title}] <{page.anchor}>")
    parts = []
    if page.top_level and page.kind != "index":
        parts.append(_raw("typst", f"#heading(level: 1, outlined: true)[{page.title}] <{page.anchor}>"))
    else:
        parts.append(chapter_heading(page))
    for i, b in enumerate(page.blocks):
        if b.kind == "md":
            parts.append(data_images_to_files(resolve_refs(b.text, labels), img_dir, f"{page.anchor}-{i}") + "\n")
        elif b.kind in ("stream", "error"):
            lines = b.text.rstrip().splitlines()
            if len(lines) > 40:
                lines = lines[:40] + [f"... ({len(lines) - 40} more lines in the HTML book)"]
            parts.append(_fence("\n".join(lines)))
        elif b.kind == "figure":
            mime, data = b.images[0]
            ext = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg"}[mime]
            raw = data.encode() if mime == "image/svg+xml" else base64.b64decode(_image_b64(mime, data))
            name = f"{page.anchor}-{i}.{ext}"
            (img_dir / name).write_bytes(raw)
            width = PDF_MAX_WIDTH_IN
            size = _png_size(raw) if ext == "png" else None
            if size:
                width = max(2.0, min(PDF_MAX_WIDTH_IN, size[0] / PDF_IMAGE_DPI))
            cap = _caption(b, "Figure", labels)
            attr = f"#{b.label} " if b.label else ""
            parts.append(f"![{cap}](img/{name}){{{attr}width={width:.2f}in}}\n")
        elif b.kind == "table":
            cap = _caption(b, "Table", labels)
            t = parse_html_table(b.html) if b.html else None
            if t is not None:
                header, rows, note = compact_table(t)
                parts.append(pipe_table(header, rows, caption=cap or " ", label=b.label))
                if note:
                    parts.append(f"[{note}]{{.table-note}}\n")
            elif b.html:
                if cap:
                    parts.append(f"**{cap}**\n")
                parts.append(_fence(b.text or "(table in the HTML book)"))
            else:  # a markdown table output: caption and label go on the pipe table itself
                parts.append(_caption_md_table(resolve_refs(b.text, labels), cap, b.label) + "\n")
        elif b.kind == "html" and b.text.strip():
            parts.append(_fence(b.text))
    return "\n".join(parts)


def _caption_md_table(md: str, cap: str, label: str) -> str:
    """Attach `: caption {#label}` to the first pipe table of a markdown output."""
    if not (cap or label):
        return md
    lines = md.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("|")), None)
    attr = f" {{#{label}}}" if label else ""
    if start is None:
        return f"::: {{#{label}}}\n**{cap}**\n\n{md}\n:::" if label else f"**{cap}**\n\n{md}"
    end = start
    while end < len(lines) and lines[end].lstrip().startswith("|"):
        end += 1
    return "\n".join(lines[:end] + ["", f": {cap or ' '}{attr}", ""] + lines[end:])


DEFINED_LABEL_RE = re.compile(r"(?<!link\()(?<!\\)<([A-Za-z][\w:.-]*)>")
LINK_RE = re.compile(r"#link\(<([A-Za-z][\w:.-]*)>\)\[")


def drop_dangling_links(typ: str) -> tuple[str, list[str]]:
    """Typst refuses links to labels that do not exist: keep their text, drop the link."""
    defined = set(DEFINED_LABEL_RE.findall(typ))
    dangling: list[str] = []

    def repl(m: re.Match[str]) -> str:
        if m.group(1) in defined:
            return m.group(0)
        dangling.append(m.group(1))
        return "#["

    return LINK_RE.sub(repl, typ), dangling


# ----------------------------------------------------------------------------------------------
# Pandoc, the HTML template and Typst
# ----------------------------------------------------------------------------------------------
def _pandoc(md: str, to: str, extra: list[str], bib: Path | None, cwd: Path) -> str:
    import pypandoc

    args = ["--wrap=none", "--metadata=link-citations:true", "--metadata=pagetitle:book",
            "--metadata=reference-section-title:References"]
    if bib is not None and bib.is_file() and bib.read_text().strip():
        args += ["--citeproc", f"--bibliography={bib}"]
    src = cwd / f"book-{to}.md"
    src.write_text(md)
    return pypandoc.convert_file(str(src), to, format="markdown", extra_args=args + extra)


def _toc_html(pages: list[Page]) -> str:
    out = ['<nav id="toc" aria-label="Contents"><p class="toc-title">Contents</p><ul>']
    open_part = False
    for p in pages:
        esc = html_lib.escape
        if p.kind in ("part", "appendix-part"):
            if open_part:
                out.append("</ul></li>")
            out.append(f'<li class="toc-part"><a href="#{p.anchor}">{esc(p.title)}</a><ul>')
            open_part = True
            continue
        if p.top_level and open_part:
            out.append("</ul></li>")
            open_part = False
        num = f'<span class="toc-num">{esc(p.number)}</span> ' if p.number else ""
        out.append(f'<li class="toc-chapter"><a href="#{p.anchor}">{num}{esc(p.title)}</a>')
        secs = [s for s in p.sections if s[0] == 2]
        if secs:
            out.append('<ul class="toc-sections">')
            for _, sid, snum, stext in secs:
                sn = f'<span class="toc-num">{esc(snum)}</span> ' if snum else ""
                out.append(f'<li><a href="#{sid}">{sn}{esc(stext)}</a></li>')
            out.append("</ul>")
        out.append("</li>")
    if open_part:
        out.append("</ul></li>")
    out.append("</ul></nav>")
    return "\n".join(out)


@dataclass
class FallbackResult:
    html: Path
    pdf: Path
    pages: list[str]
    warnings: list[str] = field(default_factory=list)


def book_meta(config: dict[str, Any]) -> dict[str, str]:
    book = config.get("book", {}) or {}
    date = str(book.get("date", "") or "")
    if date in ("", "today"):
        import datetime as _dt

        date = _dt.date.today().isoformat()
    author = book.get("author", "")
    if isinstance(author, list):
        author = ", ".join(str(a) for a in author)
    return {"title": str(book.get("title", "")), "subtitle": str(book.get("subtitle", "") or ""),
            "author": str(author), "date": date}


def pdf_name(title: str) -> str:
    return (re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-") or "book") + ".pdf"


def render_fallback(root: Path, out_dir: Path, config: dict[str, Any] | None = None) -> FallbackResult:
    """Render the book of the Quarto project at `root` (its `_quarto.yml` merged with
    `_quarto.yml.local`) into out_dir/index.html and one PDF."""
    root, out_dir = Path(root), Path(out_dir)
    if config is None:
        from recsys_causal.render.book import load_quarto_yml

        config = load_quarto_yml(root)
    meta = book_meta(config)
    bib_name = config.get("bibliography", "references.bib")
    bib = root / (bib_name[0] if isinstance(bib_name, list) else bib_name)
    pages = load_pages(root, config)
    labels = number_pages(pages)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.pdf"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="recsys-book-") as tmp:
        work = Path(tmp)
        html_path = _render_html(pages, labels, meta, bib, work, out_dir)
        pdf_path = _render_pdf(pages, labels, meta, bib, work, out_dir)
    titles = [p.title for p in pages if p.kind not in ("part", "appendix-part")]
    return FallbackResult(html_path, pdf_path, titles)


def _render_html(pages: list[Page], labels: dict[str, tuple[str, str]], meta: dict[str, str], bib: Path,
                 work: Path, out_dir: Path) -> Path:
    md = "\n\n".join(page_markdown_html(p, labels) for p in pages)
    tmpl = work / "fragment.html"
    tmpl.write_text("$highlighting-css$\n<!--RECSYS-BODY-->\n$body$\n")
    out = _pandoc(md, "html5", ["--standalone", f"--template={tmpl}", "--mathml"], bib, work)
    hl_css, body = out.split("<!--RECSYS-BODY-->", 1)
    page_tmpl = string.Template((HERE / "book.html").read_text())
    esc = html_lib.escape
    html = page_tmpl.substitute(
        title=esc(meta["title"]), subtitle=esc(meta["subtitle"]), author=esc(meta["author"]),
        date=esc(meta["date"]), css=(HERE / "book.css").read_text(), highlight_css=hl_css,
        toc=_toc_html(pages), body=body,
    )
    path = out_dir / "index.html"
    path.write_text(html)
    return path


# Pandoc Lua filter for the PDF (kept here so package-data need not list .lua files)
CALLOUTS_LUA = r"""-- Pandoc Lua filter for the fallback PDF: Quarto-style callouts (::: {.callout-warning}) become
-- shaded Typst blocks; a compact-table note becomes small italic text.
local fills = {
  ["callout-warning"] = "#fff4e0", ["callout-caution"] = "#fff4e0",
  ["callout-important"] = "#fdecea", ["callout-note"] = "#e8f1fb", ["callout-tip"] = "#e9f7ef",
}
local strokes = {
  ["callout-warning"] = "#e69f00", ["callout-caution"] = "#e69f00",
  ["callout-important"] = "#d55e00", ["callout-note"] = "#0072b2", ["callout-tip"] = "#009e73",
}

function Div(el)
  for _, c in ipairs(el.classes) do
    if fills[c] then
      local open = string.format(
        '#block(fill: rgb("%s"), stroke: (left: 3pt + rgb("%s")), inset: 9pt, radius: 2pt, width: 100%%)[',
        fills[c], strokes[c])
      local blocks = { pandoc.RawBlock("typst", open) }
      for _, b in ipairs(el.content) do table.insert(blocks, b) end
      table.insert(blocks, pandoc.RawBlock("typst", "]"))
      return blocks
    end
  end
end

function Span(el)
  if el.classes:includes("table-note") then
    return { pandoc.RawInline("typst", "#text(size: 8pt, style: \"italic\")["), el, pandoc.RawInline("typst", "]") }
  end
end
"""


def _typst_str(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _render_pdf(pages: list[Page], labels: dict[str, tuple[str, str]], meta: dict[str, str], bib: Path,
                work: Path, out_dir: Path) -> Path:
    import typst

    img = work / "img"
    img.mkdir()
    md = "\n\n".join(page_markdown_pdf(p, labels, img) for p in pages)
    lua = work / "callouts.lua"
    lua.write_text(CALLOUTS_LUA)
    body = _pandoc(md, "typst", ["--shift-heading-level-by=1", f"--lua-filter={lua}"], bib, work)
    body, _dangling = drop_dangling_links(body)
    tmpl = string.Template((HERE / "book.typ").read_text())
    src = tmpl.substitute(
        title=_typst_str(meta["title"]), subtitle=_typst_str(meta["subtitle"]),
        author=_typst_str(meta["author"]), date=_typst_str(meta["date"]), body=body,
    )
    typ = work / "book.typ"
    typ.write_text(src)
    pdf = out_dir / pdf_name(meta["title"])
    try:
        typst.compile(str(typ), output=str(pdf), root=str(work))
    except Exception as exc:  # noqa: BLE001 - keep the .typ for debugging
        keep = out_dir / "_book-debug.typ"
        shutil.copyfile(typ, keep)
        raise FallbackError(f"typst could not compile the PDF ({exc}); the source is in {keep}") from exc
    return pdf
