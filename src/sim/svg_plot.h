// SvgPlot: a line chart rendered as a self-contained SVG document, without dependencies.
//
// RenderSvg is pure: it returns the document as a string and the caller writes it wherever it
// wants. Guarantees:
//   - Deterministic: the same LinePlot gives byte-identical output (numbers are formatted with a
//     fixed number of decimals, independent of the C locale).
//   - Well-formed: the text is one <svg> element; every label, title and colour is XML-escaped and
//     characters XML forbids (control characters) are dropped.
//   - One <path> element per series, in series order, and no other <path> element; points outside
//     [x_min, x_max] x [y_min, y_max] are clipped geometrically to the plot area (a segment leaving
//     the area ends at its border), and non-finite points break the line.
//   - Axes get ticks at "nice" steps (1, 2 or 5 times a power of ten, the one giving closest to 7
//     ticks per axis), numeric
//     labels with as many decimals as the step needs, and light grid lines.
//   - A legend to the right of the plot lists every series with a non-empty label, in order.
//
// Layout, in pixels from the top-left corner: the plot area spans x in [70, width - R] and y in
// [40, height - 55]; the legend sits in the right margin R = 160, or 60 + 7 px per character of
// the longest label when that is wider (at most width / 2). A data point (x, y) maps to
//   px = 70 + (x - x_min) / (x_max - x_min) * (width - R - 70)
//   py = (height - 55) - (y - y_min) / (y_max - y_min) * (height - 95)
// width is raised to at least 320 and height to at least 200. An empty, inverted or non-finite
// axis range is replaced by a usable one (see RenderSvg) rather than rejected.
//
// Thread safety: RenderSvg has no shared state.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace gpool::sim {

struct PlotSeries {
  std::string label;                              // shown in the legend; empty = not listed
  std::vector<std::pair<double, double>> points;  // (x, y) in data units, drawn in this order
  std::string color;                              // any SVG colour; empty = next palette colour
  bool dashed = false;
};

struct LinePlot {
  std::string title, x_label, y_label;
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;  // the visible data range
  std::vector<PlotSeries> series;
  int width = 800, height = 500;  // pixels
};

// Renders `plot`. Axis ranges are repaired, not rejected: a range with a non-finite end or width
// becomes [0, 1], an inverted one (max < min) is swapped, an empty one (max == min = v) becomes
// [v-1, v+1]. Series with no points still get an (empty) <path>.
std::string RenderSvg(const LinePlot& plot);

}  // namespace gpool::sim
