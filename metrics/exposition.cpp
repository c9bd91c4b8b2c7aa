#include "metrics/exposition.hpp"

#include <charconv>
#include <cmath>

namespace depot::metrics {
namespace {

class text_writer final : public sample_sink {
 public:
  text_writer(std::string& out, const family& f) : out_(out), f_(f) {}

  void value(const std::vector<std::string>& label_values, double v) override {
    out_ += f_.name();
    labels(label_values, nullptr);
    out_ += ' ';
    out_ += format_value(v);
    out_ += '\n';
  }

  void distribution(const std::vector<std::string>& label_values,
                    const histogram& h) override {
    auto s = h.read();
    const auto& bounds = h.bounds();
    const double div = static_cast<double>(h.divisor());
    for (size_t i = 0; i <= bounds.size(); ++i) {
      std::string le = i < bounds.size()
                           ? format_value(static_cast<double>(bounds[i]) / div)
                           : "+Inf";
      out_ += f_.name();
      out_ += "_bucket";
      labels(label_values, &le);
      out_ += ' ';
      out_ += format_value(static_cast<double>(s.cumulative[i]));
      out_ += '\n';
    }
    out_ += f_.name();
    out_ += "_sum";
    labels(label_values, nullptr);
    out_ += ' ';
    out_ += format_value(static_cast<double>(s.sum) / div);
    out_ += '\n';
    out_ += f_.name();
    out_ += "_count";
    labels(label_values, nullptr);
    out_ += ' ';
    out_ += format_value(static_cast<double>(s.cumulative.back()));
    out_ += '\n';
  }

 private:
  void labels(const std::vector<std::string>& values, const std::string* le) {
    const auto& names = f_.label_names();
    if (names.empty() && !le) return;
    out_ += '{';
    bool first = true;
    for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
      if (!first) out_ += ',';
      first = false;
      out_ += names[i];
      out_ += "=\"";
      out_ += escape_label_value(values[i]);
      out_ += '"';
    }
    if (le) {
      if (!first) out_ += ',';
      out_ += "le=\"";
      out_ += *le;
      out_ += '"';
    }
    out_ += '}';
  }

  std::string& out_;
  const family& f_;
};

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Fixed notation where it stays short (bucket bounds read "0.0005", not
  // "5e-04"); both are valid, the first is what people expect to see.
  char buf[64];
  double a = std::fabs(v);
  auto r =
      a == 0 || (a >= 1e-9 && a < 1e17)
          ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
          : std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string expose(const registry& reg) {
  std::string out;
  out.reserve(16384);
  reg.for_each([&out](const family& f) {
    out += "# HELP ";
    out += f.name();
    out += ' ';
    out += escape_help(f.help());
    out += "\n# TYPE ";
    out += f.name();
    out += ' ';
    out += to_string(f.type());
    out += '\n';
    text_writer w{out, f};
    f.collect(w);
  });
  return out;
}

}  // namespace depot::metrics
