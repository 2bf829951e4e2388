-- The `generated` shortcode: {{< generated report/_generated/summary.md >}} puts the run's
-- generated Markdown (written by the render step from the run's artifacts) into the page.
--
-- Quarto resolves `{{< include >}}` when it first reads the project, before the pre-render step
-- has run the pipeline, so on a fresh clone the generated files do not exist yet; a shortcode
-- runs while the page is rendered, after the pre-render step. A file that is missing then
-- (a track this run did not compute) is named in the page, as the fallback renderer does.
-- Shortcodes run after Quarto has turned `::: {.callout-*}` divs into callouts, so the callouts
-- of the generated Markdown are made here with Quarto's own constructor.

local function callouts(blocks)
  return blocks:walk({
    Div = function(div)
      for _, class in ipairs(div.classes) do
        local kind = class:match("^callout%-(%a+)$")
        if kind then
          local content = div.content
          local title = nil
          if #content > 0 and content[1].t == "Header" then
            title = content[1].content
            content = pandoc.Blocks({ table.unpack(content, 2) })
          end
          return quarto.Callout({ type = kind, title = title, content = content })
        end
      end
    end
  })
end

return {
  ["generated"] = function(args, kwargs, meta)
    local rel = pandoc.utils.stringify(args[1])
    local path = pandoc.path.join({ quarto.project.directory, rel })
    local f = io.open(path, "r")
    if f == nil then
      return pandoc.Para({ pandoc.Emph({ pandoc.Str("Not computed in this run: " .. rel) }) })
    end
    local text = f:read("a")
    f:close()
    return callouts(pandoc.read(text, "markdown").blocks)
  end
}
