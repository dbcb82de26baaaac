// Compares two versions of Lok's protobuf contract and names every change
// that would break a publisher or a stored record: a consumer built from
// `current` must read everything a producer built from `baseline` wrote, in
// protobuf binary *and* in the protobuf JSON mapping (field names and enum
// value names are part of the contract). docs/SCHEMA.md lists the rules.
//
//   StatusOr<FileDescriptorSet> baseline = LoadDescriptorSet("proto/baseline/lok_v1.binpb");
//   StatusOr<FileDescriptorSet> current = LoadDescriptorSet("build/.../lok_v1_current.binpb");
//   CheckResult result = CheckCompatibility(*baseline, *current);
//   for (const BreakingChange& change : result.breaking_changes) Print(change.ToString());
//
// The checker reads FileDescriptorProtos only (no DescriptorPool), so it can
// compare sets that would not link together and is tested with hand-built
// descriptors. Type names are compared as fully qualified names
// (".lok.v1.Money"), as protoc writes them. Thread-safe: no shared state.
#pragma once

#include <google/protobuf/descriptor.pb.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace lok::schema {

// Each kind of breaking change; RuleName() gives its stable id and
// RuleText() the rule it breaks.
enum class Rule {
  kFileRemoved,                  // a checked .proto file is gone
  kPackageChanged,               // a checked file's package changed
  kTypeRemoved,                  // a message or enum that is still used, or a root, is gone
  kFieldRemovedNotReserved,      // a field is gone and its number is not reserved
  kFieldRenumbered,              // a field's name now belongs to another number
  kFieldNumberReused,            // a number now holds a different field (name and type)
  kFieldRenamed,                 // same number, other name or JSON name
  kFieldTypeChanged,             // same number, other type
  kFieldLabelChanged,            // singular <-> repeated
  kFieldOneofChanged,            // moved into, out of or between oneofs
  kReservationRemoved,           // a reserved number or name is no longer reserved
  kEnumValueRemovedNotReserved,  // an enum value is gone and its number is not reserved
  kEnumValueRenumbered,          // an enum value name now has another number
  kEnumValueRenamed,             // an enum number now has another name
};

// "FIELD_TYPE_CHANGED".
std::string_view RuleName(Rule rule);
// "never change a field's type".
std::string_view RuleText(Rule rule);

struct BreakingChange {
  Rule rule;
  std::string file;     // "lok/v1/events.proto"
  std::string element;  // "lok.v1.DealWon.amount (field 1)"
  std::string detail;   // "type changed from message lok.v1.Money to string"
  // "lok/v1/events.proto: lok.v1.DealWon.amount (field 1): type changed from
  // message lok.v1.Money to string [FIELD_TYPE_CHANGED: never change a field's type]".
  std::string ToString() const;
};

struct CheckResult {
  std::vector<BreakingChange> breaking_changes;  // in baseline declaration order
  std::vector<std::string> checked_files;        // the baseline's files, minus google/protobuf/*
  size_t messages_checked = 0;                   // baseline messages (nested included)
  size_t enums_checked = 0;                      // baseline enums (nested included)
  bool compatible() const { return breaking_changes.empty(); }
};

// Checks every file of `baseline` except google/protobuf/* (imports that
// --include_imports adds) against `current`. Types are matched by full name
// across all of `current`'s files, so a type may move between files; files
// are matched by name. Additions (files, messages, enums, fields, oneof
// members, enum values, reservations) are compatible.
CheckResult CheckCompatibility(const google::protobuf::FileDescriptorSet& baseline,
                               const google::protobuf::FileDescriptorSet& current);

// Reads a FileDescriptorSet as written by
// `protoc --include_imports --descriptor_set_out=PATH`.
// Errors: kNotFound when the file cannot be opened; kDataLoss when it is not a
// FileDescriptorSet.
StatusOr<google::protobuf::FileDescriptorSet> LoadDescriptorSet(const std::string& path);

}  // namespace lok::schema
