#include "schema/schema_check.h"

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <fstream>

namespace lok::schema {
namespace {

using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A small contract in the shape of events.proto: a Money message, an enum,
// and an Event whose payloads sit in a oneof. Each test edits a copy.
constexpr const char* kBaseline = R"pb(
  name: "lok/v1/events.proto"
  package: "lok.v1"
  dependency: "google/protobuf/timestamp.proto"
  syntax: "proto3"
  message_type {
    name: "Money"
    field { name: "minor" number: 1 label: LABEL_OPTIONAL type: TYPE_INT64 json_name: "minor" }
    field {
      name: "currency"
      number: 2
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      json_name: "currency"
    }
  }
  message_type {
    name: "DealWon"
    field {
      name: "amount"
      number: 1
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".lok.v1.Money"
      json_name: "amount"
    }
    reserved_range { start: 5 end: 6 }
    reserved_name: "old_note"
  }
  message_type {
    name: "LeadCreated"
    field {
      name: "channel"
      number: 4
      label: LABEL_OPTIONAL
      type: TYPE_ENUM
      type_name: ".lok.v1.LeadCreated.Channel"
      json_name: "channel"
    }
    enum_type {
      name: "Channel"
      value { name: "CHANNEL_UNSPECIFIED" number: 0 }
      value { name: "INBOUND_CALL" number: 1 }
      value { name: "OUTBOUND" number: 4 }
    }
  }
  message_type {
    name: "Event"
    field {
      name: "event_id"
      number: 1
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      json_name: "eventId"
    }
    field { name: "deal_id" number: 5 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "dealId" }
    field {
      name: "lead_created"
      number: 20
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".lok.v1.LeadCreated"
      oneof_index: 0
      json_name: "leadCreated"
    }
    field {
      name: "deal_won"
      number: 23
      label: LABEL_OPTIONAL
      type: TYPE_MESSAGE
      type_name: ".lok.v1.DealWon"
      oneof_index: 0
      json_name: "dealWon"
    }
    oneof_decl { name: "payload" }
  }
)pb";

constexpr const char* kTimestamp = R"pb(
  name: "google/protobuf/timestamp.proto"
  package: "google.protobuf"
  message_type { name: "Timestamp" }
)pb";

FileDescriptorProto Parse(const char* text) {
  FileDescriptorProto file;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &file));
  return file;
}

FileDescriptorSet SetOf(const FileDescriptorProto& file) {
  FileDescriptorSet set;
  *set.add_file() = Parse(kTimestamp);
  *set.add_file() = file;
  return set;
}

google::protobuf::DescriptorProto* Message(FileDescriptorProto& file, const std::string& name) {
  for (auto& message : *file.mutable_message_type()) {
    if (message.name() == name) return &message;
  }
  ADD_FAILURE() << "no message " << name;
  return nullptr;
}

google::protobuf::FieldDescriptorProto* Field(FileDescriptorProto& file, const std::string& message,
                                              const std::string& name) {
  for (auto& field : *Message(file, message)->mutable_field()) {
    if (field.name() == name) return &field;
  }
  ADD_FAILURE() << "no field " << message << "." << name;
  return nullptr;
}

void RemoveField(FileDescriptorProto& file, const std::string& message, const std::string& name) {
  auto* fields = Message(file, message)->mutable_field();
  for (int index = 0; index < fields->size(); ++index) {
    if (fields->Get(index).name() == name) {
      fields->DeleteSubrange(index, 1);
      return;
    }
  }
  ADD_FAILURE() << "no field " << message << "." << name;
}

google::protobuf::EnumDescriptorProto* Channel(FileDescriptorProto& file) {
  return Message(file, "LeadCreated")->mutable_enum_type(0);
}

std::vector<Rule> Rules(const CheckResult& result) {
  std::vector<Rule> rules;
  for (const BreakingChange& change : result.breaking_changes) rules.push_back(change.rule);
  return rules;
}

CheckResult Check(const FileDescriptorProto& current) {
  return CheckCompatibility(SetOf(Parse(kBaseline)), SetOf(current));
}

TEST(SchemaCheckTest, IdenticalSetsAreCompatibleAndWellKnownImportsAreSkipped) {
  CheckResult result = Check(Parse(kBaseline));
  EXPECT_TRUE(result.compatible());
  EXPECT_THAT(result.checked_files, ElementsAre("lok/v1/events.proto"));
  EXPECT_EQ(result.messages_checked, 4u);
  EXPECT_EQ(result.enums_checked, 1u);
}

TEST(SchemaCheckTest, RemovedFieldWithoutReservationIsBreaking) {
  FileDescriptorProto current = Parse(kBaseline);
  RemoveField(current, "Event", "deal_id");
  CheckResult result = Check(current);
  ASSERT_THAT(Rules(result), ElementsAre(Rule::kFieldRemovedNotReserved));
  EXPECT_EQ(result.breaking_changes[0].ToString(),
            "lok/v1/events.proto: lok.v1.Event.deal_id (field 5): `string deal_id = 5` removed "
            "without `reserved 5;` [FIELD_REMOVED_NOT_RESERVED: reserve the number of a removed "
            "field so that it is never reused]");
}

TEST(SchemaCheckTest, RemovedFieldWithReservedNumberIsCompatible) {
  FileDescriptorProto current = Parse(kBaseline);
  RemoveField(current, "Event", "deal_id");
  auto* range = Message(current, "Event")->add_reserved_range();
  range->set_start(5);
  range->set_end(6);
  Message(current, "Event")->add_reserved_name("deal_id");
  EXPECT_TRUE(Check(current).compatible());
}

TEST(SchemaCheckTest, ReusedNumberWithOtherNameAndTypeIsBreaking) {
  FileDescriptorProto current = Parse(kBaseline);
  auto* field = Field(current, "Event", "deal_id");
  field->set_name("deal_count");
  field->set_json_name("dealCount");
  field->set_type(google::protobuf::FieldDescriptorProto::TYPE_INT32);
  CheckResult result = Check(current);
  ASSERT_THAT(Rules(result), ElementsAre(Rule::kFieldNumberReused));
  EXPECT_THAT(result.breaking_changes[0].detail,
              HasSubstr("held `string deal_id = 5` and now holds `int32 deal_count = 5`"));
}

TEST(SchemaCheckTest, ChangedTypeIsBreaking) {
  FileDescriptorProto current = Parse(kBaseline);
  auto* amount = Field(current, "DealWon", "amount");
  amount->set_type(google::protobuf::FieldDescriptorProto::TYPE_STRING);
  amount->clear_type_name();
  CheckResult result = Check(current);
  ASSERT_THAT(Rules(result), ElementsAre(Rule::kFieldTypeChanged));
  EXPECT_EQ(result.breaking_changes[0].element, "lok.v1.DealWon.amount (field 1)");
  EXPECT_EQ(result.breaking_changes[0].detail, "type changed from message lok.v1.Money to string");
}

TEST(SchemaCheckTest, WireCompatibleIntegerWideningIsStillBreakingBecauseJsonDiffers) {
  FileDescriptorProto current = Parse(kBaseline);
  Field(current, "Money", "minor")->set_type(google::protobuf::FieldDescriptorProto::TYPE_INT32);
  EXPECT_THAT(Rules(Check(current)), ElementsAre(Rule::kFieldTypeChanged));
}

TEST(SchemaCheckTest, SingularToRepeatedIsBreaking) {
  FileDescriptorProto current = Parse(kBaseline);
  Field(current, "Event", "event_id")
      ->set_label(google::protobuf::FieldDescriptorProto::LABEL_REPEATED);
  EXPECT_THAT(Rules(Check(current)), ElementsAre(Rule::kFieldLabelChanged));
}

TEST(SchemaCheckTest, RenamedFieldIsBreakingBecauseJsonKeysChange) {
  FileDescriptorProto current = Parse(kBaseline);
  auto* field = Field(current, "Event", "deal_id");
  field->set_name("opportunity_id");
  field->set_json_name("opportunityId");
  CheckResult result = Check(current);
  ASSERT_THAT(Rules(result), ElementsAre(Rule::kFieldRenamed));
  EXPECT_THAT(result.breaking_changes[0].detail,
              HasSubstr("renamed from deal_id to opportunity_id (JSON key \"dealId\" -> "
                        "\"opportunityId\")"));
}

TEST(SchemaCheckTest, ChangedJsonNameOptionIsBreaking) {
  FileDescriptorProto current = Parse(kBaseline);
  Field(current, "Event", "deal_id")->set_json_name("deal");
  EXPECT_THAT(Rules(Check(current)), ElementsAre(Rule::kFieldRenamed));
}

TEST(SchemaCheckTest, RenumberedFieldIsBreakingEvenWhenTheOldNumberIsReserved) {
  FileDescriptorProto current = Parse(kBaseline);
  Field(current, "Event", "deal_id")->set_number(8);
  auto* range = Message(current, "Event")->add_reserved_range();
  range->set_start(5);
  range->set_end(6);
  CheckResult result = Check(current);
  ASSERT_THAT(Rules(result), ElementsAre(Rule::kFieldRenumbered));
  EXPECT_THAT(result.breaking_changes[0].detail, HasSubstr("now belongs to string deal_id = 8"));
}

TEST(SchemaCheckTest, RenamedEnumValueIsBreaking) {
  FileDescriptorProto current = Parse(kBaseline);
  Channel(current)->mutable_value(2)->set_name("OUTBOUND_CALL");
  CheckResult result = Check(current);
  ASSERT_THAT(Rules(result), ElementsAre(Rule::kEnumValueRenamed));
  EXPECT_EQ(result.breaking_changes[0].element, "lok.v1.LeadCreated.Channel.OUTBOUND (value 4)");
}

TEST(SchemaCheckTest, RenumberedAndRemovedEnumValuesAreBreaking) {
  FileDescriptorProto current = Parse(kBaseline);
  Channel(current)->mutable_value(2)->set_number(5);
  Channel(current)->mutable_value()->DeleteSubrange(1, 1);  // INBOUND_CALL
  EXPECT_THAT(Rules(Check(current)),
              ElementsAre(Rule::kEnumValueRemovedNotReserved, Rule::kEnumValueRenumbered));
}

TEST(SchemaCheckTest, RemovedEnumValueWithReservedNumberIsCompatible) {
  FileDescriptorProto current = Parse(kBaseline);
  Channel(current)->mutable_value()->DeleteSubrange(1, 1);  // INBOUND_CALL = 1
  auto* range = Channel(current)->add_reserved_range();
  range->set_start(1);
  range->set_end(1);  // enum ranges are inclusive
  Channel(current)->add_reserved_name("INBOUND_CALL");
  EXPECT_TRUE(Check(current).compatible());
}

TEST(SchemaCheckTest, AdditionsAreCompatible) {
  FileDescriptorProto current = Parse(kBaseline);
  google::protobuf::DescriptorProto* event = Message(current, "Event");
  auto* note = event->add_field();  // a new envelope field
  note->set_name("note");
  note->set_number(8);
  note->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
  note->set_type(google::protobuf::FieldDescriptorProto::TYPE_STRING);
  auto* payload = event->add_field();  // a new oneof member of a new message type
  payload->set_name("deal_paused");
  payload->set_number(30);
  payload->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
  payload->set_type(google::protobuf::FieldDescriptorProto::TYPE_MESSAGE);
  payload->set_type_name(".lok.v1.DealPaused");
  payload->set_oneof_index(0);
  current.add_message_type()->set_name("DealPaused");
  auto* value = Channel(current)->add_value();  // a new enum value
  value->set_name("PARTNER");
  value->set_number(7);
  EXPECT_TRUE(Check(current).compatible()) << Check(current).breaking_changes[0].ToString();
}

TEST(SchemaCheckTest, MakingAFieldProto3OptionalIsCompatible) {
  FileDescriptorProto current = Parse(kBaseline);
  google::protobuf::DescriptorProto* event = Message(current, "Event");
  event->add_oneof_decl()->set_name("_deal_id");
  auto* field = Field(current, "Event", "deal_id");
  field->set_proto3_optional(true);
  field->set_oneof_index(1);
  EXPECT_TRUE(Check(current).compatible());
}

TEST(SchemaCheckTest, MovingAFieldIntoOrOutOfAOneofIsBreaking) {
  FileDescriptorProto into = Parse(kBaseline);
  Field(into, "Event", "deal_id")->set_oneof_index(0);
  CheckResult moved_in = Check(into);
  ASSERT_THAT(Rules(moved_in), ElementsAre(Rule::kFieldOneofChanged));
  EXPECT_EQ(moved_in.breaking_changes[0].detail, "moved into oneof payload");

  FileDescriptorProto out_of = Parse(kBaseline);
  Field(out_of, "Event", "deal_won")->clear_oneof_index();
  CheckResult moved_out = Check(out_of);
  ASSERT_THAT(Rules(moved_out), ElementsAre(Rule::kFieldOneofChanged));
  EXPECT_EQ(moved_out.breaking_changes[0].detail, "moved out of oneof payload");
}

TEST(SchemaCheckTest, RemovedMessageStillUsedIsBreaking) {
  FileDescriptorProto current = Parse(kBaseline);
  Message(current, "DealWon")->set_name("DealClosed");
  Field(current, "Event", "deal_won")->set_type_name(".lok.v1.DealClosed");
  CheckResult result = Check(current);
  EXPECT_THAT(Rules(result), ElementsAre(Rule::kTypeRemoved, Rule::kFieldTypeChanged));
  EXPECT_THAT(result.breaking_changes[0].detail,
              HasSubstr("still used by lok.v1.Event.deal_won (field 23)"));
}

TEST(SchemaCheckTest, RemovingAPayloadTogetherWithItsReservedFieldIsCompatible) {
  FileDescriptorProto current = Parse(kBaseline);
  RemoveField(current, "Event", "deal_won");
  auto* range = Message(current, "Event")->add_reserved_range();
  range->set_start(23);
  range->set_end(24);
  auto* messages = current.mutable_message_type();
  for (int index = 0; index < messages->size(); ++index) {
    if (messages->Get(index).name() == "DealWon") messages->DeleteSubrange(index, 1);
  }
  EXPECT_TRUE(Check(current).compatible());
}

TEST(SchemaCheckTest, RenamedRootMessageOrPackageIsBreaking) {
  FileDescriptorProto renamed_root = Parse(kBaseline);
  Message(renamed_root, "Event")->set_name("EventV2");
  EXPECT_THAT(Rules(Check(renamed_root)), ElementsAre(Rule::kTypeRemoved));

  FileDescriptorProto renamed_package = Parse(kBaseline);
  renamed_package.set_package("lok.v2");
  CheckResult result = Check(renamed_package);
  ASSERT_FALSE(result.compatible());
  EXPECT_EQ(result.breaking_changes[0].rule, Rule::kPackageChanged);
  EXPECT_EQ(result.breaking_changes[0].detail, "package changed from lok.v1 to lok.v2");
}

TEST(SchemaCheckTest, UnreservingOrUsingAReservedNumberIsBreaking) {
  FileDescriptorProto current = Parse(kBaseline);
  Message(current, "DealWon")->clear_reserved_range();
  Message(current, "DealWon")->clear_reserved_name();
  auto* note = Message(current, "DealWon")->add_field();
  note->set_name("old_note");
  note->set_number(5);
  note->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
  note->set_type(google::protobuf::FieldDescriptorProto::TYPE_STRING);
  CheckResult result = Check(current);
  EXPECT_THAT(Rules(result), ElementsAre(Rule::kReservationRemoved, Rule::kReservationRemoved));
  EXPECT_THAT(result.breaking_changes[0].detail,
              HasSubstr("no longer covers 5, and `string old_note = 5` uses it"));
}

TEST(SchemaCheckTest, RemovedFileIsBreaking) {
  FileDescriptorSet current;
  *current.add_file() = Parse(kTimestamp);
  CheckResult result = CheckCompatibility(SetOf(Parse(kBaseline)), current);
  ASSERT_FALSE(result.compatible());
  EXPECT_EQ(result.breaking_changes[0].rule, Rule::kFileRemoved);
}

TEST(SchemaCheckTest, LoadDescriptorSetReportsMissingAndCorruptFiles) {
  EXPECT_EQ(LoadDescriptorSet("/nonexistent/lok.binpb").status().code(), StatusCode::kNotFound);
  const std::string path = ::testing::TempDir() + "/not_a_descriptor_set.binpb";
  {
    std::ofstream out(path, std::ios::binary);
    out << "\xff\xff\xff not protobuf";
  }
  EXPECT_EQ(LoadDescriptorSet(path).status().code(), StatusCode::kDataLoss);
}

TEST(SchemaCheckTest, EveryRuleHasANameAndAText) {
  for (Rule rule :
       {Rule::kFileRemoved, Rule::kPackageChanged, Rule::kTypeRemoved,
        Rule::kFieldRemovedNotReserved, Rule::kFieldRenumbered, Rule::kFieldNumberReused,
        Rule::kFieldRenamed, Rule::kFieldTypeChanged, Rule::kFieldLabelChanged,
        Rule::kFieldOneofChanged, Rule::kReservationRemoved, Rule::kEnumValueRemovedNotReserved,
        Rule::kEnumValueRenumbered, Rule::kEnumValueRenamed}) {
    EXPECT_NE(RuleName(rule), "UNKNOWN");
    EXPECT_THAT(std::string(RuleText(rule)), ::testing::Not(IsEmpty()));
  }
}

}  // namespace
}  // namespace lok::schema
