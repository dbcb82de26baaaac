// lok-schema-check: fails when the protobuf contract changed in a way that
// breaks a publisher or a stored record. Wiring only; the rules are in
// src/schema/schema_check.h and docs/SCHEMA.md.
//
//   protoc -I proto --include_imports --descriptor_set_out=current.binpb
//          lok/v1/events.proto lok/v1/log.proto
//   lok-schema-check --baseline proto/baseline/lok_v1.binpb --current current.binpb
//
// Exit status: 0 compatible, 1 breaking changes, 2 a set could not be read.
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "schema/schema_check.h"

int main(int argc, char** argv) {
  CLI::App app{"Compare Lok's protobuf contract with the last release's descriptor set"};
  std::string baseline_path;
  std::string current_path;
  app.add_option("--baseline", baseline_path,
                 "descriptor set of the last release (proto/baseline/lok_v1.binpb)")
      ->required();
  app.add_option("--current", current_path,
                 "descriptor set of the contract now (protoc --include_imports "
                 "--descriptor_set_out=...)")
      ->required();
  CLI11_PARSE(app, argc, argv);

  lok::StatusOr<google::protobuf::FileDescriptorSet> baseline =
      lok::schema::LoadDescriptorSet(baseline_path);
  if (!baseline.ok()) {
    std::cerr << "lok-schema-check: baseline: " << baseline.status().ToString() << "\n";
    return 2;
  }
  lok::StatusOr<google::protobuf::FileDescriptorSet> current =
      lok::schema::LoadDescriptorSet(current_path);
  if (!current.ok()) {
    std::cerr << "lok-schema-check: current: " << current.status().ToString() << "\n";
    return 2;
  }

  const lok::schema::CheckResult result = lok::schema::CheckCompatibility(*baseline, *current);
  for (const lok::schema::BreakingChange& change : result.breaking_changes) {
    std::cout << "BREAKING " << change.ToString() << "\n";
  }
  std::string files;
  for (const std::string& file : result.checked_files) {
    files += (files.empty() ? "" : ", ") + file;
  }
  std::cout << "lok-schema-check: " << result.breaking_changes.size() << " breaking change"
            << (result.breaking_changes.size() == 1 ? "" : "s") << " in " << files << " ("
            << result.messages_checked << " messages, " << result.enums_checked
            << " enums checked against " << baseline_path << ")\n";
  if (!result.compatible()) {
    std::cout << "lok-schema-check: see docs/SCHEMA.md for the rules and how to change the "
                 "contract compatibly\n";
    return 1;
  }
  return 0;
}
