// Command lines of every psflow binary, parsed by CLI11 (Debian's
// libcli11-dev, header only).  One behaviour everywhere: --help prints the
// usage and exits 0, --version prints "psflow X.Y.Z" and exits 0, a bad or
// unknown flag is an error naming it, with the usage, and exit code 2.
//
//   CLI::App app("psflow-events: the scalars of TensorBoard event files", "psflow-events");
//   std::string path;
//   app.add_option("DIR_OR_FILE", path, "...")->required();
//   if (auto exit = ParseCommandLine(app, argc, argv)) return *exit;
//
// Include only from a binary's main file: CLI11 is a heavy header.
#pragma once

#include <CLI/CLI.hpp>

#include <iostream>
#include <optional>
#include <string>

#include "common/cluster/exit_codes.h"
#include "common/cluster/version.h"  // generated: PSFLOW_VERSION

namespace psflow {

// nullopt: go on.  Otherwise the exit code, after the help, the version or
// the error was printed.
inline std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv) {
  app.set_version_flag("--version", std::string("psflow ") + PSFLOW_VERSION);
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << "\n";
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    std::cerr << app.get_name() << ": " << e.what() << "\n\n" << app.help();
    return kExitBadInput;
  }
}

// For an argument the binary cannot do without: checked after parsing, so
// that an unknown flag is what a user hears about first.
inline int MissingArgument(const CLI::App& app, const std::string& what) {
  std::cerr << app.get_name() << ": " << what << " is required\n\n" << app.help();
  return kExitBadInput;
}

}  // namespace psflow
