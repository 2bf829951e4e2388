-- Pandoc Lua filter for the fallback PDF: Quarto-style callouts (::: {.callout-warning}) become
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
