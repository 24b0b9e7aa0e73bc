#include "sim/svg_plot.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <string_view>

namespace gpool::sim {
namespace {

constexpr int kMarginLeft = 70;
constexpr int kMarginRight = 160;      // holds the legend; widened for long labels
constexpr int kLegendFixedWidth = 60;  // gap, line sample and padding
constexpr int kLegendCharWidth = 7;    // generous for 12 px sans-serif
constexpr int kMarginTop = 40;
constexpr int kMarginBottom = 55;
constexpr int kMinWidth = 320;
constexpr int kMinHeight = 200;
constexpr int kTargetTicks = 7;
constexpr int kLegendRowHeight = 20;

// Tableau 10, the matplotlib default cycle.
constexpr std::array<std::string_view, 10> kPalette = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                                       "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                                       "#bcbd22", "#17becf"};

// `value` with exactly `decimals` decimals, "C"-locale style; never "-0.00".
std::string Fixed(double value, int decimals) {
  std::array<char, 64> buffer;
  std::to_chars_result r = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                                         std::chars_format::fixed, decimals);
  if (r.ec != std::errc()) {  // only for absurdly large values: fall back to the general format
    r = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  }
  std::string out(buffer.data(), r.ptr);
  if (out.starts_with('-') && out.find_first_not_of("0.", 1) == std::string::npos) out.erase(0, 1);
  return out;
}

std::string Px(double value) { return Fixed(value, 2); }

// Text or attribute value safe to place in XML.
std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
        out += c;
    }
  }
  return out;
}

// Code points, not bytes, so that UTF-8 labels are not overestimated.
int Characters(std::string_view text) {
  int n = 0;
  for (const char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

int RightMargin(const LinePlot& plot, int width) {
  int longest = 0;
  for (const PlotSeries& s : plot.series) longest = std::max(longest, Characters(s.label));
  return std::clamp(kLegendFixedWidth + kLegendCharWidth * longest, kMarginRight, width / 2);
}

struct Range {
  double min, max;
};

Range Repair(double min, double max) {
  if (!std::isfinite(min) || !std::isfinite(max) || !std::isfinite(max - min)) return {0, 1};
  if (max < min) std::swap(min, max);
  if (max == min) return {min - 1, min + 1};
  return {min, max};
}

struct Ticks {
  double first;
  double step;
  int count;
  int decimals;
};

Ticks TicksWithStep(Range r, double step) {
  Ticks ticks;
  ticks.step = step;
  ticks.first = std::ceil(r.min / step - 1e-9) * step;
  ticks.count =
      std::clamp(static_cast<int>(std::floor((r.max - ticks.first) / step + 1e-9)) + 1, 0, 1000);
  ticks.decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 12);
  return ticks;
}

// Ticks inside [r.min, r.max] at a step of 1, 2 or 5 times a power of ten: the step whose tick
// count is closest to kTargetTicks, the larger step on a tie.
Ticks NiceTicks(Range r) {
  const double magnitude =
      std::pow(10.0, std::floor(std::log10((r.max - r.min) / kTargetTicks)) - 1);
  Ticks best = TicksWithStep(r, magnitude);
  for (const double factor : {2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0}) {
    const Ticks candidate = TicksWithStep(r, factor * magnitude);
    if (std::abs(candidate.count - kTargetTicks) <= std::abs(best.count - kTargetTicks)) {
      best = candidate;
    }
  }
  return best;
}

double TickValue(const Ticks& ticks, int i) {
  const double v = ticks.first + i * ticks.step;
  return std::abs(v) < ticks.step * 1e-9 ? 0.0 : v;
}

struct Frame {
  double left, right, top, bottom;
  Range x, y;
  // Far-away points are pulled in to +-kFar pixels so that clipping never meets an infinity.
  static constexpr double kFar = 1e7;
  double MapX(double v) const {
    return std::clamp(left + (v - x.min) / (x.max - x.min) * (right - left), -kFar, kFar);
  }
  double MapY(double v) const {
    return std::clamp(bottom - (v - y.min) / (y.max - y.min) * (bottom - top), -kFar, kFar);
  }
};

struct Segment {
  double x0, y0, x1, y1;
};

// Liang-Barsky: clips *s to the frame's rectangle. False when nothing of it is inside.
bool Clip(const Frame& f, Segment* s) {
  const double dx = s->x1 - s->x0;
  const double dy = s->y1 - s->y0;
  double t0 = 0;
  double t1 = 1;
  const std::array<double, 4> p = {-dx, dx, -dy, dy};
  const std::array<double, 4> q = {s->x0 - f.left, f.right - s->x0, s->y0 - f.top,
                                   f.bottom - s->y0};
  for (std::size_t i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) return false;  // parallel to this border and outside it
      continue;
    }
    const double t = q[i] / p[i];
    if (p[i] < 0) {
      t0 = std::max(t0, t);
    } else {
      t1 = std::min(t1, t);
    }
    if (t0 > t1) return false;
  }
  const Segment original = *s;
  if (t0 > 0) {
    s->x0 = original.x0 + t0 * dx;
    s->y0 = original.y0 + t0 * dy;
  }
  if (t1 < 1) {
    s->x1 = original.x0 + t1 * dx;
    s->y1 = original.y0 + t1 * dy;
  }
  return true;
}

bool Inside(const Frame& f, double x, double y) {
  return x >= f.left && x <= f.right && y >= f.top && y <= f.bottom;
}

// The "d" attribute of one series: M/L commands of its clipped segments.
std::string PathData(const Frame& f, const std::vector<std::pair<double, double>>& points) {
  std::string d;
  auto append = [&d](char command, double x, double y) {
    if (!d.empty()) d += ' ';
    d += command;
    d += Px(x);
    d += ' ';
    d += Px(y);
  };
  auto finite = [](const std::pair<double, double>& p) {
    return std::isfinite(p.first) && std::isfinite(p.second);
  };
  if (points.size() == 1) {  // a lone point: a zero-length line, drawn as a dot by the round cap
    const double x = f.MapX(points[0].first);
    const double y = f.MapY(points[0].second);
    if (finite(points[0]) && Inside(f, x, y)) {
      append('M', x, y);
      d += " h0";
    }
    return d;
  }
  std::string pen;  // where the last L ended, formatted; empty when the line is broken
  for (std::size_t i = 1; i < points.size(); ++i) {
    if (!finite(points[i - 1]) || !finite(points[i])) {
      pen.clear();
      continue;
    }
    Segment s{f.MapX(points[i - 1].first), f.MapY(points[i - 1].second), f.MapX(points[i].first),
              f.MapY(points[i].second)};
    if (!Clip(f, &s)) {
      pen.clear();
      continue;
    }
    const std::string start = Px(s.x0) + ' ' + Px(s.y0);
    if (start != pen) append('M', s.x0, s.y0);
    append('L', s.x1, s.y1);
    pen = Px(s.x1) + ' ' + Px(s.y1);
  }
  return d;
}

void AppendText(std::string* out, double x, double y, std::string_view anchor,
                std::string_view text, std::string_view extra = "") {
  *out +=
      "<text x=\"" + Px(x) + "\" y=\"" + Px(y) + "\" text-anchor=\"" + std::string(anchor) + "\"";
  if (!extra.empty()) *out += " " + std::string(extra);
  *out += ">" + Escape(text) + "</text>\n";
}

void AppendLine(std::string* out, double x1, double y1, double x2, double y2) {
  *out += "<line x1=\"" + Px(x1) + "\" y1=\"" + Px(y1) + "\" x2=\"" + Px(x2) + "\" y2=\"" + Px(y2) +
          "\"/>\n";
}

}  // namespace

std::string RenderSvg(const LinePlot& plot) {
  const int width = std::max(plot.width, kMinWidth);
  const int height = std::max(plot.height, kMinHeight);
  const Frame f{kMarginLeft,
                static_cast<double>(width - RightMargin(plot, width)),
                kMarginTop,
                static_cast<double>(height - kMarginBottom),
                Repair(plot.x_min, plot.x_max),
                Repair(plot.y_min, plot.y_max)};
  const std::string w = std::to_string(width);
  const std::string h = std::to_string(height);

  std::string out;
  out.reserve(4096);
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" + h +
         "\" viewBox=\"0 0 " + w + " " + h + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  out += "<rect x=\"0\" y=\"0\" width=\"" + w + "\" height=\"" + h + "\" fill=\"white\"/>\n";
  if (!plot.title.empty()) {
    AppendText(&out, (f.left + f.right) / 2, 24, "middle", plot.title, "font-size=\"16\"");
  }

  // Grid lines, then tick marks and labels.
  const Ticks xt = NiceTicks(f.x);
  const Ticks yt = NiceTicks(f.y);
  out += "<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n";
  for (int i = 0; i < xt.count; ++i) {
    const double x = f.MapX(TickValue(xt, i));
    AppendLine(&out, x, f.top, x, f.bottom);
  }
  for (int i = 0; i < yt.count; ++i) {
    const double y = f.MapY(TickValue(yt, i));
    AppendLine(&out, f.left, y, f.right, y);
  }
  out += "</g>\n";
  out += "<g stroke=\"black\" stroke-width=\"1\">\n";
  for (int i = 0; i < xt.count; ++i) {
    const double x = f.MapX(TickValue(xt, i));
    AppendLine(&out, x, f.bottom, x, f.bottom + 5);
  }
  for (int i = 0; i < yt.count; ++i) {
    const double y = f.MapY(TickValue(yt, i));
    AppendLine(&out, f.left - 5, y, f.left, y);
  }
  out += "</g>\n";
  for (int i = 0; i < xt.count; ++i) {
    const double v = TickValue(xt, i);
    AppendText(&out, f.MapX(v), f.bottom + 19, "middle", Fixed(v, xt.decimals));
  }
  for (int i = 0; i < yt.count; ++i) {
    const double v = TickValue(yt, i);
    AppendText(&out, f.left - 8, f.MapY(v) + 4, "end", Fixed(v, yt.decimals));
  }
  out += "<rect x=\"" + Px(f.left) + "\" y=\"" + Px(f.top) + "\" width=\"" + Px(f.right - f.left) +
         "\" height=\"" + Px(f.bottom - f.top) + "\" fill=\"none\" stroke=\"black\"/>\n";
  if (!plot.x_label.empty()) {
    AppendText(&out, (f.left + f.right) / 2, height - 15, "middle", plot.x_label);
  }
  if (!plot.y_label.empty()) {
    const std::string mid = Px((f.top + f.bottom) / 2);
    out += "<text transform=\"translate(18 " + mid + ") rotate(-90)\" text-anchor=\"middle\">" +
           Escape(plot.y_label) + "</text>\n";
  }

  // Series, then the legend.
  std::vector<std::string> colors;
  colors.reserve(plot.series.size());
  std::size_t next_palette = 0;
  for (const PlotSeries& s : plot.series) {
    colors.push_back(s.color.empty() ? std::string(kPalette[next_palette++ % kPalette.size()])
                                     : s.color);
  }
  const std::string dash = " stroke-dasharray=\"6 4\"";
  for (std::size_t i = 0; i < plot.series.size(); ++i) {
    const PlotSeries& s = plot.series[i];
    out += "<path d=\"" + PathData(f, s.points) + "\" fill=\"none\" stroke=\"" + Escape(colors[i]) +
           "\" stroke-width=\"2\" stroke-linejoin=\"round\" stroke-linecap=\"round\"" +
           (s.dashed ? dash : "") + "/>\n";
  }
  double legend_y = f.top + 10;
  const double legend_x = f.right + 15;
  for (std::size_t i = 0; i < plot.series.size(); ++i) {
    const PlotSeries& s = plot.series[i];
    if (s.label.empty()) continue;
    out += "<line x1=\"" + Px(legend_x) + "\" y1=\"" + Px(legend_y) + "\" x2=\"" +
           Px(legend_x + 25) + "\" y2=\"" + Px(legend_y) + "\" stroke=\"" + Escape(colors[i]) +
           "\" stroke-width=\"2\"" + (s.dashed ? dash : "") + "/>\n";
    AppendText(&out, legend_x + 32, legend_y + 4, "start", s.label);
    legend_y += kLegendRowHeight;
  }
  out += "</svg>\n";
  return out;
}

}  // namespace gpool::sim
