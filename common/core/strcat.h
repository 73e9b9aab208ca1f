// StrCat: concatenates anything that has an operator<< into a std::string.
//
//   std::string msg = StrCat("key ", key, " has ", n, " elements");
//
// Thread-safe (pure function).
#pragma once

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace psflow {

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// Joins the elements of `parts` with `sep`.
template <typename Container>
std::string StrJoin(const Container& parts, std::string_view sep) {
  std::ostringstream os;
  bool first = true;
  for (const auto& p : parts) {
    if (!first) os << sep;
    os << p;
    first = false;
  }
  return os.str();
}

// Quotes a string for messages, escaping bytes that are not printable ASCII
// as \xNN, so that odd keys (e.g. partitioned-variable slice keys) stay readable.
std::string CEscape(std::string_view s);

// A JSON string literal: quotes, with '"' and '\\' escaped and bytes that
// are not printable ASCII as \u00NN (binary slice keys stay valid JSON).
std::string JsonQuote(std::string_view s);

// Lower-case hex of every byte: "\x01\xab" -> "01ab".
std::string HexEncode(std::string_view s);

// A byte count for people: "512 B", "12.3 KiB", "4.5 MiB", "1.2 GiB".
std::string HumanBytes(double bytes);

}  // namespace psflow
