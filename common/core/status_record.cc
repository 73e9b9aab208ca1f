#include "common/core/status_record.h"

#include <unistd.h>

#include <cstdlib>

namespace psflow {
namespace {

std::string Escape(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (c <= 0x20 || c == '%' || c == '=' || c >= 0x7f) {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<std::string> Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;  // a cut-off escape
    const int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace

std::optional<double> StatusRecord::Number(const std::string& key) const {
  auto it = fields.find(key);
  if (it == fields.end() || it->second.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (end != it->second.c_str() + it->second.size()) return std::nullopt;
  return v;
}

std::string StatusRecord::Field(const std::string& key) const {
  auto it = fields.find(key);
  return it == fields.end() ? std::string() : it->second;
}

std::string FormatStatusRecord(const StatusRecord& r) {
  std::string line(kStatusRecordPrefix);
  line += Escape(r.kind);
  for (const auto& [k, v] : r.fields) {
    line += ' ';
    line += Escape(k);
    line += '=';
    line += Escape(v);
  }
  return line;
}

std::optional<StatusRecord> ParseStatusRecord(std::string_view line) {
  if (line.substr(0, kStatusRecordPrefix.size()) != kStatusRecordPrefix) return std::nullopt;
  line.remove_prefix(kStatusRecordPrefix.size());
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  StatusRecord r;
  bool first = true;
  while (!line.empty()) {
    const size_t sp = line.find(' ');
    const std::string_view token = line.substr(0, sp);
    line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    if (token.empty()) continue;
    if (first) {
      auto kind = Unescape(token);
      if (!kind || kind->empty()) return std::nullopt;
      r.kind = *kind;
      first = false;
      continue;
    }
    const size_t eq = token.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    auto key = Unescape(token.substr(0, eq));
    auto value = Unescape(token.substr(eq + 1));
    if (!key || !value) return std::nullopt;
    r.fields[*key] = *value;
  }
  if (first) return std::nullopt;
  return r;
}

void EmitStatusRecord(const StatusRecord& r) {
  const std::string line = FormatStatusRecord(r) + "\n";
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) return;  // best effort: progress reports never fail a task
    done += static_cast<size_t>(n);
  }
}

}  // namespace psflow
