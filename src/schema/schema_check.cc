#include "schema/schema_check.h"

#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <utility>

namespace lok::schema {
namespace {

using google::protobuf::DescriptorProto;
using google::protobuf::EnumDescriptorProto;
using google::protobuf::FieldDescriptorProto;
using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;

constexpr std::string_view kWellKnownPrefix = "google/protobuf/";

struct MessageEntry {
  const DescriptorProto* proto = nullptr;
  std::string file;
};

struct EnumEntry {
  const EnumDescriptorProto* proto = nullptr;
  std::string file;
};

// Every message and enum of a set of files by full name ("lok.v1.LeadCreated.Channel"),
// plus the declaration order of the baseline's, so that reports are stable.
struct TypeIndex {
  std::map<std::string, MessageEntry> messages;
  std::map<std::string, EnumEntry> enums;
  std::vector<std::string> message_order;
  std::vector<std::string> enum_order;

  void AddMessage(const DescriptorProto& message, const std::string& scope,
                  const std::string& file) {
    const std::string full_name = scope.empty() ? message.name() : scope + "." + message.name();
    messages[full_name] = {&message, file};
    message_order.push_back(full_name);
    for (const DescriptorProto& nested : message.nested_type()) AddMessage(nested, full_name, file);
    for (const EnumDescriptorProto& nested : message.enum_type()) AddEnum(nested, full_name, file);
  }

  void AddEnum(const EnumDescriptorProto& enumeration, const std::string& scope,
               const std::string& file) {
    const std::string full_name =
        scope.empty() ? enumeration.name() : scope + "." + enumeration.name();
    enums[full_name] = {&enumeration, file};
    enum_order.push_back(full_name);
  }

  void AddFile(const FileDescriptorProto& file) {
    for (const DescriptorProto& message : file.message_type()) {
      AddMessage(message, file.package(), file.name());
    }
    for (const EnumDescriptorProto& enumeration : file.enum_type()) {
      AddEnum(enumeration, file.package(), file.name());
    }
  }
};

// Where a baseline field refers to a type: the containing message and the field number.
struct FieldRef {
  std::string message;
  int32_t number = 0;
  std::string field_name;
};

std::string StripLeadingDot(const std::string& type_name) {
  return !type_name.empty() && type_name.front() == '.' ? type_name.substr(1) : type_name;
}

std::string_view ScalarTypeName(FieldDescriptorProto::Type type) {
  switch (type) {
    case FieldDescriptorProto::TYPE_DOUBLE:
      return "double";
    case FieldDescriptorProto::TYPE_FLOAT:
      return "float";
    case FieldDescriptorProto::TYPE_INT64:
      return "int64";
    case FieldDescriptorProto::TYPE_UINT64:
      return "uint64";
    case FieldDescriptorProto::TYPE_INT32:
      return "int32";
    case FieldDescriptorProto::TYPE_FIXED64:
      return "fixed64";
    case FieldDescriptorProto::TYPE_FIXED32:
      return "fixed32";
    case FieldDescriptorProto::TYPE_BOOL:
      return "bool";
    case FieldDescriptorProto::TYPE_STRING:
      return "string";
    case FieldDescriptorProto::TYPE_GROUP:
      return "group";
    case FieldDescriptorProto::TYPE_MESSAGE:
      return "message";
    case FieldDescriptorProto::TYPE_BYTES:
      return "bytes";
    case FieldDescriptorProto::TYPE_UINT32:
      return "uint32";
    case FieldDescriptorProto::TYPE_ENUM:
      return "enum";
    case FieldDescriptorProto::TYPE_SFIXED32:
      return "sfixed32";
    case FieldDescriptorProto::TYPE_SFIXED64:
      return "sfixed64";
    case FieldDescriptorProto::TYPE_SINT32:
      return "sint32";
    case FieldDescriptorProto::TYPE_SINT64:
      return "sint64";
  }
  return "unknown";
}

bool IsRepeated(const FieldDescriptorProto& field) {
  return field.label() == FieldDescriptorProto::LABEL_REPEATED;
}

// "message lok.v1.Money", "string".
std::string TypeDescription(const FieldDescriptorProto& field) {
  std::string description(ScalarTypeName(field.type()));
  if (field.has_type_name()) description += " " + StripLeadingDot(field.type_name());
  return description;
}

// "repeated string tags = 4".
std::string FieldDeclaration(const FieldDescriptorProto& field) {
  return (IsRepeated(field) ? "repeated " : "") + TypeDescription(field) + " " + field.name() +
         " = " + std::to_string(field.number());
}

bool SameType(const FieldDescriptorProto& before, const FieldDescriptorProto& after) {
  return before.type() == after.type() &&
         StripLeadingDot(before.type_name()) == StripLeadingDot(after.type_name());
}

// The JSON key protoc gives a field: json_name when set, otherwise lowerCamelCase.
std::string JsonName(const FieldDescriptorProto& field) {
  if (field.has_json_name()) return field.json_name();
  std::string json;
  bool capitalize_next = false;
  for (char letter : field.name()) {
    if (letter == '_') {
      capitalize_next = true;
    } else if (capitalize_next && letter >= 'a' && letter <= 'z') {
      json.push_back(static_cast<char>(letter - 'a' + 'A'));
      capitalize_next = false;
    } else {
      json.push_back(letter);
      capitalize_next = false;
    }
  }
  return json;
}

// The name of the real oneof a field belongs to, "" when none. A proto3
// `optional` field sits in a synthetic oneof, which is not a oneof of the
// contract: making a field `optional` changes neither the wire nor JSON.
std::string OneofName(const DescriptorProto& message, const FieldDescriptorProto& field) {
  if (!field.has_oneof_index() || field.proto3_optional()) return "";
  if (field.oneof_index() < 0 || field.oneof_index() >= message.oneof_decl_size()) return "";
  return message.oneof_decl(field.oneof_index()).name();
}

// Message reserved ranges are [start, end); enum reserved ranges are [start, end].
template <typename Range>
bool NumberInRanges(const google::protobuf::RepeatedPtrField<Range>& ranges, int64_t number,
                    bool inclusive_end) {
  for (const Range& range : ranges) {
    const int64_t end = inclusive_end ? int64_t{range.end()} + 1 : int64_t{range.end()};
    if (number >= range.start() && number < end) return true;
  }
  return false;
}

// The first number of [start, end) that `ranges` does not cover, if any.
template <typename Range>
std::optional<int64_t> FirstUncovered(int64_t start, int64_t end,
                                      const google::protobuf::RepeatedPtrField<Range>& ranges,
                                      bool inclusive_end) {
  int64_t number = start;
  while (number < end) {
    bool advanced = false;
    for (const Range& range : ranges) {
      const int64_t range_end = inclusive_end ? int64_t{range.end()} + 1 : int64_t{range.end()};
      if (number >= range.start() && number < range_end) {
        number = range_end;
        advanced = true;
        break;
      }
    }
    if (!advanced) return number;
  }
  return std::nullopt;
}

std::string RangeText(int64_t start, int64_t end_exclusive) {
  return end_exclusive - start == 1
             ? std::to_string(start)
             : std::to_string(start) + " to " + std::to_string(end_exclusive - 1);
}

class Checker {
 public:
  Checker(const FileDescriptorSet& baseline, const FileDescriptorSet& current) {
    for (const FileDescriptorProto& file : baseline.file()) {
      if (file.name().starts_with(kWellKnownPrefix)) continue;
      baseline_files_.push_back(&file);
      baseline_types_.AddFile(file);
    }
    for (const FileDescriptorProto& file : current.file()) {
      current_files_[file.name()] = &file;
      current_types_.AddFile(file);
    }
    for (const auto& [name, entry] : baseline_types_.messages) {
      for (const FieldDescriptorProto& field : entry.proto->field()) {
        if (!field.has_type_name()) continue;
        references_[StripLeadingDot(field.type_name())].push_back(
            {name, field.number(), field.name()});
      }
    }
  }

  CheckResult Run() {
    CheckResult result;
    for (const FileDescriptorProto* file : baseline_files_) {
      result.checked_files.push_back(file->name());
      CheckFile(*file);
    }
    for (const std::string& name : baseline_types_.message_order) {
      CheckMessage(name, baseline_types_.messages.at(name));
    }
    for (const std::string& name : baseline_types_.enum_order) {
      CheckEnum(name, baseline_types_.enums.at(name));
    }
    result.messages_checked = baseline_types_.messages.size();
    result.enums_checked = baseline_types_.enums.size();
    result.breaking_changes = std::move(changes_);
    return result;
  }

 private:
  void Report(Rule rule, const std::string& file, std::string element, std::string detail) {
    changes_.push_back({rule, file, std::move(element), std::move(detail)});
  }

  void CheckFile(const FileDescriptorProto& file) {
    auto found = current_files_.find(file.name());
    if (found == current_files_.end()) {
      Report(Rule::kFileRemoved, file.name(), file.name(), "file removed or renamed");
      return;
    }
    if (found->second->package() != file.package()) {
      Report(Rule::kPackageChanged, file.name(), "package " + file.package(),
             "package changed from " + file.package() + " to " + found->second->package());
    }
  }

  // A removed type is compatible only when every baseline field that used it
  // is gone too (and so reserved, or reported). A type no field used is a
  // root of the contract, like lok.v1.Event: removing it is a rename.
  void ReportRemovedType(const std::string& kind, const std::string& name,
                         const std::string& file) {
    auto references = references_.find(name);
    if (references == references_.end()) {
      Report(Rule::kTypeRemoved, file, kind + " " + name,
             kind +
                 " removed or renamed; no field refers to it, so it is a root of the "
                 "contract");
      return;
    }
    for (const FieldRef& reference : references->second) {
      auto user = current_types_.messages.find(reference.message);
      if (user == current_types_.messages.end()) continue;
      for (const FieldDescriptorProto& field : user->second.proto->field()) {
        if (field.number() != reference.number) continue;
        Report(Rule::kTypeRemoved, file, kind + " " + name,
               kind + " removed or renamed but still used by " + reference.message + "." +
                   field.name() + " (field " + std::to_string(field.number()) + "), now of type " +
                   TypeDescription(field));
      }
    }
  }

  void CheckMessage(const std::string& name, const MessageEntry& baseline) {
    auto found = current_types_.messages.find(name);
    if (found == current_types_.messages.end()) {
      ReportRemovedType("message", name, baseline.file);
      return;
    }
    const DescriptorProto& before = *baseline.proto;
    const DescriptorProto& after = *found->second.proto;
    std::map<int32_t, const FieldDescriptorProto*> after_by_number;
    std::map<std::string, const FieldDescriptorProto*> after_by_json_name;
    for (const FieldDescriptorProto& field : after.field()) {
      after_by_number[field.number()] = &field;
      after_by_json_name[JsonName(field)] = &field;
      after_by_json_name[field.name()] = &field;  // the JSON parser accepts both spellings
    }
    for (const FieldDescriptorProto& field : before.field()) {
      const std::string element =
          name + "." + field.name() + " (field " + std::to_string(field.number()) + ")";
      auto same_number = after_by_number.find(field.number());
      if (same_number != after_by_number.end()) {
        CheckField(baseline.file, element, before, field, after, *same_number->second);
        continue;
      }
      const FieldDescriptorProto* same_name = nullptr;
      if (auto by_name = after_by_json_name.find(field.name());
          by_name != after_by_json_name.end()) {
        same_name = by_name->second;
      } else if (auto by_json = after_by_json_name.find(JsonName(field));
                 by_json != after_by_json_name.end()) {
        same_name = by_json->second;
      }
      if (same_name != nullptr) {
        Report(Rule::kFieldRenumbered, baseline.file, element,
               "its name (JSON key \"" + JsonName(field) + "\") now belongs to " +
                   FieldDeclaration(*same_name) + "; old JSON would land in the new field");
        continue;
      }
      if (!NumberInRanges(after.reserved_range(), field.number(), /*inclusive_end=*/false)) {
        Report(Rule::kFieldRemovedNotReserved, baseline.file, element,
               "`" + FieldDeclaration(field) + "` removed without `reserved " +
                   std::to_string(field.number()) + ";`");
      }
    }
    CheckReservations(baseline.file, name, before, after);
  }

  void CheckField(const std::string& file, const std::string& element,
                  const DescriptorProto& before_message, const FieldDescriptorProto& before,
                  const DescriptorProto& after_message, const FieldDescriptorProto& after) {
    const bool renamed = before.name() != after.name();
    const bool retyped = !SameType(before, after);
    const bool relabelled = IsRepeated(before) != IsRepeated(after);
    if (renamed && (retyped || relabelled)) {
      Report(Rule::kFieldNumberReused, file, element,
             "number " + std::to_string(before.number()) + " held `" + FieldDeclaration(before) +
                 "` and now holds `" + FieldDeclaration(after) + "`");
    } else {
      if (renamed) {
        Report(Rule::kFieldRenamed, file, element,
               "renamed from " + before.name() + " to " + after.name() + " (JSON key \"" +
                   JsonName(before) + "\" -> \"" + JsonName(after) + "\")");
      } else if (JsonName(before) != JsonName(after)) {
        Report(
            Rule::kFieldRenamed, file, element,
            "JSON name changed from \"" + JsonName(before) + "\" to \"" + JsonName(after) + "\"");
      }
      if (retyped) {
        Report(Rule::kFieldTypeChanged, file, element,
               "type changed from " + TypeDescription(before) + " to " + TypeDescription(after));
      }
      if (relabelled) {
        Report(Rule::kFieldLabelChanged, file, element,
               std::string(IsRepeated(before) ? "repeated" : "singular") + " changed to " +
                   (IsRepeated(after) ? "repeated" : "singular"));
      }
    }
    const std::string before_oneof = OneofName(before_message, before);
    const std::string after_oneof = OneofName(after_message, after);
    if (before_oneof != after_oneof) {
      std::string detail;
      if (before_oneof.empty()) {
        detail = "moved into oneof " + after_oneof;
      } else if (after_oneof.empty()) {
        detail = "moved out of oneof " + before_oneof;
      } else {
        detail = "moved from oneof " + before_oneof + " to oneof " + after_oneof;
      }
      Report(Rule::kFieldOneofChanged, file, element, detail);
    }
  }

  void CheckReservations(const std::string& file, const std::string& name,
                         const DescriptorProto& before, const DescriptorProto& after) {
    for (const auto& range : before.reserved_range()) {
      std::optional<int64_t> number =
          FirstUncovered(range.start(), range.end(), after.reserved_range(), false);
      if (!number) continue;
      std::string user;
      for (const FieldDescriptorProto& field : after.field()) {
        if (field.number() == *number) user = ", and `" + FieldDeclaration(field) + "` uses it";
      }
      Report(Rule::kReservationRemoved, file, name,
             "reserved " + RangeText(range.start(), range.end()) + " no longer covers " +
                 std::to_string(*number) + user);
    }
    const std::set<std::string> after_names(after.reserved_name().begin(),
                                            after.reserved_name().end());
    for (const std::string& reserved : before.reserved_name()) {
      if (!after_names.contains(reserved)) {
        Report(Rule::kReservationRemoved, file, name,
               "reserved name \"" + reserved + "\" is no longer reserved");
      }
    }
  }

  void CheckEnum(const std::string& name, const EnumEntry& baseline) {
    auto found = current_types_.enums.find(name);
    if (found == current_types_.enums.end()) {
      ReportRemovedType("enum", name, baseline.file);
      return;
    }
    const EnumDescriptorProto& before = *baseline.proto;
    const EnumDescriptorProto& after = *found->second.proto;
    std::map<std::string, int32_t> after_by_name;
    std::map<int32_t, std::string> after_by_number;
    for (const auto& value : after.value()) {
      after_by_name[value.name()] = value.number();
      after_by_number.emplace(value.number(), value.name());  // the first name of an alias
    }
    for (const auto& value : before.value()) {
      const std::string element =
          name + "." + value.name() + " (value " + std::to_string(value.number()) + ")";
      auto same_name = after_by_name.find(value.name());
      if (same_name != after_by_name.end()) {
        if (same_name->second != value.number()) {
          Report(Rule::kEnumValueRenumbered, baseline.file, element,
                 "renumbered from " + std::to_string(value.number()) + " to " +
                     std::to_string(same_name->second));
        }
        continue;
      }
      auto same_number = after_by_number.find(value.number());
      if (same_number != after_by_number.end()) {
        Report(Rule::kEnumValueRenamed, baseline.file, element,
               "renamed from " + value.name() + " to " + same_number->second +
                   " (the JSON form of the value)");
        continue;
      }
      if (!NumberInRanges(after.reserved_range(), value.number(), /*inclusive_end=*/true)) {
        Report(Rule::kEnumValueRemovedNotReserved, baseline.file, element,
               "value removed without `reserved " + std::to_string(value.number()) + ";`");
      }
    }
    for (const auto& range : before.reserved_range()) {
      std::optional<int64_t> number = FirstUncovered(
          range.start(), int64_t{range.end()} + 1, after.reserved_range(), /*inclusive_end=*/true);
      if (number) {
        Report(Rule::kReservationRemoved, baseline.file, name,
               "reserved " + RangeText(range.start(), int64_t{range.end()} + 1) +
                   " no longer covers " + std::to_string(*number));
      }
    }
    const std::set<std::string> after_names(after.reserved_name().begin(),
                                            after.reserved_name().end());
    for (const std::string& reserved : before.reserved_name()) {
      if (!after_names.contains(reserved)) {
        Report(Rule::kReservationRemoved, baseline.file, name,
               "reserved name \"" + reserved + "\" is no longer reserved");
      }
    }
  }

  std::vector<const FileDescriptorProto*> baseline_files_;
  std::map<std::string, const FileDescriptorProto*> current_files_;
  TypeIndex baseline_types_;
  TypeIndex current_types_;
  std::map<std::string, std::vector<FieldRef>> references_;  // type -> baseline fields using it
  std::vector<BreakingChange> changes_;
};

}  // namespace

std::string_view RuleName(Rule rule) {
  switch (rule) {
    case Rule::kFileRemoved:
      return "FILE_REMOVED";
    case Rule::kPackageChanged:
      return "PACKAGE_CHANGED";
    case Rule::kTypeRemoved:
      return "TYPE_REMOVED";
    case Rule::kFieldRemovedNotReserved:
      return "FIELD_REMOVED_NOT_RESERVED";
    case Rule::kFieldRenumbered:
      return "FIELD_RENUMBERED";
    case Rule::kFieldNumberReused:
      return "FIELD_NUMBER_REUSED";
    case Rule::kFieldRenamed:
      return "FIELD_RENAMED";
    case Rule::kFieldTypeChanged:
      return "FIELD_TYPE_CHANGED";
    case Rule::kFieldLabelChanged:
      return "FIELD_LABEL_CHANGED";
    case Rule::kFieldOneofChanged:
      return "FIELD_ONEOF_CHANGED";
    case Rule::kReservationRemoved:
      return "RESERVATION_REMOVED";
    case Rule::kEnumValueRemovedNotReserved:
      return "ENUM_VALUE_REMOVED_NOT_RESERVED";
    case Rule::kEnumValueRenumbered:
      return "ENUM_VALUE_RENUMBERED";
    case Rule::kEnumValueRenamed:
      return "ENUM_VALUE_RENAMED";
  }
  return "UNKNOWN";
}

std::string_view RuleText(Rule rule) {
  switch (rule) {
    case Rule::kFileRemoved:
      return "never remove or rename a contract file";
    case Rule::kPackageChanged:
      return "never change a package: it is part of every type's full name";
    case Rule::kTypeRemoved:
      return "never remove or rename a message or enum that a field still uses, or a root "
             "message";
    case Rule::kFieldRemovedNotReserved:
      return "reserve the number of a removed field so that it is never reused";
    case Rule::kFieldRenumbered:
      return "never renumber a field or give a removed field's name to another number";
    case Rule::kFieldNumberReused:
      return "never reuse a field number";
    case Rule::kFieldRenamed:
      return "never rename a field: its name is its JSON key";
    case Rule::kFieldTypeChanged:
      return "never change a field's type";
    case Rule::kFieldLabelChanged:
      return "never change a field between singular and repeated";
    case Rule::kFieldOneofChanged:
      return "never move an existing field into, out of or between oneofs";
    case Rule::kReservationRemoved:
      return "never remove a reservation";
    case Rule::kEnumValueRemovedNotReserved:
      return "reserve the number of a removed enum value so that it is never reused";
    case Rule::kEnumValueRenumbered:
      return "never renumber an enum value";
    case Rule::kEnumValueRenamed:
      return "never rename an enum value: its name is its JSON form";
  }
  return "";
}

std::string BreakingChange::ToString() const {
  return file + ": " + element + ": " + detail + " [" + std::string(RuleName(rule)) + ": " +
         std::string(RuleText(rule)) + "]";
}

CheckResult CheckCompatibility(const FileDescriptorSet& baseline,
                               const FileDescriptorSet& current) {
  return Checker(baseline, current).Run();
}

StatusOr<FileDescriptorSet> LoadDescriptorSet(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(path + ": cannot open");
  FileDescriptorSet set;
  if (!set.ParseFromIstream(&in)) {
    return DataLossError(path +
                         ": not a FileDescriptorSet (write it with protoc "
                         "--include_imports --descriptor_set_out)");
  }
  return set;
}

}  // namespace lok::schema
