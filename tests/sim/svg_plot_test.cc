#include "sim/svg_plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace gpool::sim {
namespace {

// Small builder for plots: MakePlot().X(0, 10).Y(0, 100).Line("a", {{0, 0}, {10, 100}}).
class MakePlot {
 public:
  MakePlot() {
    plot_.title = "title";
    plot_.x_label = "x";
    plot_.y_label = "y";
    plot_.x_min = 0;
    plot_.x_max = 10;
    plot_.y_min = 0;
    plot_.y_max = 100;
  }
  MakePlot& X(double min, double max) {
    plot_.x_min = min;
    plot_.x_max = max;
    return *this;
  }
  MakePlot& Y(double min, double max) {
    plot_.y_min = min;
    plot_.y_max = max;
    return *this;
  }
  MakePlot& Size(int width, int height) {
    plot_.width = width;
    plot_.height = height;
    return *this;
  }
  MakePlot& Title(std::string title) {
    plot_.title = std::move(title);
    return *this;
  }
  MakePlot& Line(std::string label, std::vector<std::pair<double, double>> points,
                 std::string color = "", bool dashed = false) {
    plot_.series.push_back({std::move(label), std::move(points), std::move(color), dashed});
    return *this;
  }
  operator LinePlot() const { return plot_; }  // NOLINT: builder converts implicitly

 private:
  LinePlot plot_;
};

int Count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (std::size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// The d attributes of all <path> elements, in order.
std::vector<std::string> PathData(const std::string& svg) {
  std::vector<std::string> out;
  const std::string open = "<path d=\"";
  for (std::size_t at = svg.find(open); at != std::string::npos; at = svg.find(open, at + 1)) {
    const std::size_t begin = at + open.size();
    out.push_back(svg.substr(begin, svg.find('"', begin) - begin));
  }
  return out;
}

TEST(RenderSvg, IsOneSvgElementWithAPathPerSeriesAndALegend) {
  const LinePlot plot = MakePlot()
                            .Line("FGD", {{0, 0}, {5, 50}, {10, 90}})
                            .Line("BestFit", {{0, 0}, {10, 80}}, "", /*dashed=*/true)
                            .Line("Random", {});
  const std::string svg = RenderSvg(plot);
  EXPECT_TRUE(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_TRUE(svg.ends_with("</svg>\n"));
  EXPECT_EQ(Count(svg, "<svg"), 1);
  EXPECT_EQ(Count(svg, "<path"), 3);
  EXPECT_EQ(Count(svg, "stroke-dasharray"), 2);  // the dashed series and its legend sample
  for (const char* label : {">FGD</text>", ">BestFit</text>", ">Random</text>", ">title</text>"}) {
    EXPECT_EQ(Count(svg, label), 1) << label;
  }
  EXPECT_EQ(svg, RenderSvg(plot));  // deterministic
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(RenderSvg, EscapesText) {
  const LinePlot plot = MakePlot().Title("a<b&c").Line("x > \"y\"", {{1, 1}}, "red\"/>");
  const std::string svg = RenderSvg(plot);
  EXPECT_NE(svg.find(">a&lt;b&amp;c</text>"), std::string::npos);
  EXPECT_NE(svg.find(">x &gt; &quot;y&quot;</text>"), std::string::npos);
  EXPECT_NE(svg.find("stroke=\"red&quot;/&gt;\""), std::string::npos);
  EXPECT_EQ(svg.find("a<b"), std::string::npos);
  EXPECT_EQ(svg.find("red\"/>"), std::string::npos);
}

TEST(RenderSvg, MapsAndClipsPoints) {
  // Default 800 x 500: the plot area is x in [70, 800 - 160] = [70, 640] (570 px wide) and
  // y in [40, 500 - 55] = [40, 445] (405 px high). With x in [0, 10] and y in [0, 100]:
  //   (0, 0)    -> (70, 445)                       the bottom-left corner
  //   (10, 100) -> (640, 40)                       the top-right corner
  //   (5, 50)   -> (70 + 570/2, 445 - 405/2) = (355, 242.5)
  struct Case {
    std::string name;
    std::vector<std::pair<double, double>> points;
    std::string d;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<Case> cases = {
      {"corners", {{0, 0}, {10, 100}}, "M70.00 445.00 L640.00 40.00"},
      {"midpoint", {{0, 0}, {5, 50}, {10, 100}}, "M70.00 445.00 L355.00 242.50 L640.00 40.00"},
      {"lone point", {{0, 0}}, "M70.00 445.00 h0"},
      {"lone point outside", {{11, 0}}, ""},
      // (20, 200) is at (1210, -365); the segment leaves through the corner at t = 570/1140 = 0.5.
      {"clipped end", {{0, 0}, {20, 200}}, "M70.00 445.00 L640.00 40.00"},
      // (-10, 50) -> (-500, 242.5): enters at x = 70.
      {"clipped start", {{-10, 50}, {5, 50}}, "M70.00 242.50 L355.00 242.50"},
      {"out and back", {{0, 50}, {20, 50}, {0, 50}}, "M70.00 242.50 L640.00 242.50 L70.00 242.50"},
      {"all outside", {{20, 0}, {30, 100}}, ""},
      {"nan breaks the line",
       {{0, 0}, {5, 50}, {nan, 1}, {5, 50}, {10, 100}},
       "M70.00 445.00 L355.00 242.50 M355.00 242.50 L640.00 40.00"},
      // 1e300 maps beyond 1e7 px and is pulled in to 1e7; the clipped line still ends at x = 640.
      {"huge", {{0, 50}, {1e300, 50}}, "M70.00 242.50 L640.00 242.50"},
  };
  for (const Case& c : cases) {
    const std::string svg = RenderSvg(MakePlot().Line("s", c.points));
    const std::vector<std::string> d = PathData(svg);
    ASSERT_EQ(d.size(), 1u) << c.name;
    EXPECT_EQ(d[0], c.d) << c.name;
  }

  // 400 x 300: plot area x in [70, 240], y in [40, 245]; (x_min, y_min) is (70, 245).
  const std::vector<std::string> small =
      PathData(RenderSvg(MakePlot().Size(400, 300).Line("s", {{0, 0}, {10, 100}})));
  ASSERT_EQ(small.size(), 1u);
  EXPECT_EQ(small[0], "M70.00 245.00 L240.00 40.00");

  // A 30-character label widens the legend margin to 60 + 7 * 30 = 270 px: the plot area now
  // ends at x = 800 - 270 = 530.
  const std::vector<std::string> wide =
      PathData(RenderSvg(MakePlot().Line(std::string(30, 'w'), {{0, 0}, {10, 100}})));
  ASSERT_EQ(wide.size(), 1u);
  EXPECT_EQ(wide[0], "M70.00 445.00 L530.00 40.00");
}

TEST(RenderSvg, TicksAtNiceSteps) {
  struct Case {
    std::string name;
    double min, max;
    std::vector<std::string> labels;  // the y tick labels
  };
  const std::vector<Case> cases = {
      // Steps 10 and 20 give 11 and 6 ticks: 6 is closer to 7.
      {"0..100", 0, 100, {"0", "20", "40", "60", "80", "100"}},
      // Steps 0.1, 0.2, 0.5 give 11, 6, 3 ticks: 0.2, one decimal.
      {"0..1", 0, 1, {"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
      // Steps 10, 20, 50 give 14, 7, 3 ticks: 20.
      {"0..130", 0, 130, {"0", "20", "40", "60", "80", "100", "120"}},
      // Steps 0.01, 0.02 give 8 (-0.03 .. 0.04) and 4 ticks: 0.01, two decimals, no "-0.00".
      {"-0.03..0.04",
       -0.03,
       0.04,
       {"-0.03", "-0.02", "-0.01", "0.00", "0.01", "0.02", "0.03", "0.04"}},
      // Empty range 5..5 becomes 4..6. Steps 0.2, 0.5, 1 give 11, 5, 3 ticks: 0.5.
      {"empty", 5, 5, {"4.0", "4.5", "5.0", "5.5", "6.0"}},
  };
  for (const Case& c : cases) {
    const std::string svg = RenderSvg(MakePlot().Y(c.min, c.max));
    // y labels are right-aligned ("end") left of the axis.
    std::vector<std::string> labels;
    const std::string open = "text-anchor=\"end\">";
    for (std::size_t at = svg.find(open); at != std::string::npos; at = svg.find(open, at + 1)) {
      const std::size_t begin = at + open.size();
      labels.push_back(svg.substr(begin, svg.find('<', begin) - begin));
    }
    EXPECT_EQ(labels, c.labels) << c.name;
  }
}

TEST(RenderSvg, PaletteAndExplicitColours) {
  const std::string svg =
      RenderSvg(MakePlot().Line("a", {{0, 0}}).Line("b", {{0, 0}}, "#000000").Line("c", {{0, 0}}));
  // The palette skips series with their own colour: a and c get its first two colours.
  EXPECT_EQ(Count(svg, "stroke=\"#1f77b4\""), 2);  // path + legend sample
  EXPECT_EQ(Count(svg, "stroke=\"#000000\""), 2);
  EXPECT_EQ(Count(svg, "stroke=\"#ff7f0e\""), 2);
}

TEST(RenderSvg, RepairsBadRanges) {
  const double inf = std::numeric_limits<double>::infinity();
  // Inverted x (10..0 -> 0..10) and infinite y (-> 0..1): (0, 0) still maps to the corner.
  const std::string svg = RenderSvg(MakePlot().X(10, 0).Y(-inf, 1).Line("s", {{0, 0}}));
  const std::vector<std::string> d = PathData(svg);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0], "M70.00 445.00 h0");
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

}  // namespace
}  // namespace gpool::sim
