#include "api/proto_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>

#include "lok/v1/concentration.pb.h"
#include "lok/v1/history.pb.h"
#include "lok/v1/query.pb.h"
#include "lok/v1/retention.pb.h"

namespace lok::api {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

std::string LibraryJson(const Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(message, &json, options).ok());
  return json;
}

std::string FastJson(const Message& message) {
  std::string json;
  EXPECT_TRUE(AppendProtoJson(message, json));
  return json;
}

// Fills `message` with random values: every field set or left unset at
// random, repeated fields and maps of 0-4 items, strings of printable ASCII
// (quotes and backslashes included) or, with `unusual_strings`, any byte.
class RandomFiller {
 public:
  RandomFiller(uint32_t seed, bool unusual_strings, int max_map_entries = 1)
      : random_(seed), unusual_strings_(unusual_strings), max_map_entries_(max_map_entries) {}

  void Fill(Message& message, int depth) {
    const auto* descriptor = message.GetDescriptor();
    const auto* reflection = message.GetReflection();
    if (descriptor->full_name() == "google.protobuf.Timestamp") {
      const auto* seconds = descriptor->FindFieldByName("seconds");
      const auto* nanos = descriptor->FindFieldByName("nanos");
      reflection->SetInt64(&message, seconds,
                           Pick(2) ? static_cast<int64_t>(1'700'000'000 + Pick(100'000'000)) : 0);
      const int32_t nanos_choices[] = {0, 5'000'000, 123'000, 7, 999'999'999};
      reflection->SetInt32(&message, nanos, nanos_choices[Pick(5)]);
      return;
    }
    for (int index = 0; index < descriptor->field_count(); ++index) {
      const FieldDescriptor* field = descriptor->field(index);
      if (Pick(4) == 0) continue;  // left unset
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && depth > 4) continue;
      if (field->is_map()) {
        const int entries = static_cast<int>(Pick(static_cast<uint64_t>(max_map_entries_) + 1));
        for (int entry = 0; entry < entries; ++entry) {
          Message* item = message.GetReflection()->AddMessage(&message, field);
          const auto* key = field->message_type()->map_key();
          const auto* value = field->message_type()->map_value();
          // Distinct keys, as in a map.
          if (key->cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
            item->GetReflection()->SetInt32(item, key, entry * 7 - 3);
          } else {
            SetScalar(*item, key, true);
          }
          if (value->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
            Fill(*item->GetReflection()->MutableMessage(item, value), depth + 1);
          } else {
            SetScalar(*item, value, false);
          }
        }
      } else if (field->is_repeated()) {
        const int items = static_cast<int>(Pick(5));
        for (int item = 0; item < items; ++item) AddItem(message, field, depth);
      } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        Fill(*reflection->MutableMessage(&message, field), depth + 1);
      } else {
        SetScalar(message, field, false);
      }
    }
  }

 private:
  uint64_t Pick(uint64_t below) { return random_() % below; }

  std::string RandomString() {
    std::string value;
    const size_t size = Pick(12);
    for (size_t index = 0; index < size; ++index) {
      if (unusual_strings_) {
        value.push_back(static_cast<char>(Pick(256)));
      } else {
        char c = static_cast<char>(0x20 + Pick(0x5f));  // ' ' .. '~'
        if (c == '<' || c == '>') c = '/';              // the library escapes these
        value.push_back(c);
      }
    }
    if (!unusual_strings_ && Pick(3) == 0) value += "\"\\/";
    return value;
  }

  double RandomDouble() {
    switch (Pick(8)) {
      case 0:
        return 0.0;
      case 1:
        return std::numeric_limits<double>::quiet_NaN();
      case 2:
        return Pick(2) ? std::numeric_limits<double>::infinity()
                       : -std::numeric_limits<double>::infinity();
      case 3:
        return static_cast<double>(Pick(1000));
      case 4:
        return 1e21 * static_cast<double>(Pick(100));
      case 5:
        return -0.0;
      default:
        return std::ldexp(static_cast<double>(random_()), -static_cast<int>(Pick(80)));
    }
  }

  int64_t RandomInteger() {
    switch (Pick(4)) {
      case 0:
        return 0;
      case 1:
        return -static_cast<int64_t>(Pick(1'000'000));
      case 2:
        return std::numeric_limits<int64_t>::max();
      default:
        return static_cast<int64_t>(Pick(1'000'000'000'000));
    }
  }

  void SetScalar(Message& message, const FieldDescriptor* field, bool key) {
    const auto* reflection = message.GetReflection();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        reflection->SetInt32(&message, field,
                             key ? static_cast<int32_t>(Pick(12))
                                 : static_cast<int32_t>(RandomInteger() % 2'000'000'000));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        reflection->SetUInt32(&message, field, static_cast<uint32_t>(Pick(4'000'000'000)));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        reflection->SetInt64(&message, field, RandomInteger());
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        reflection->SetUInt64(&message, field, static_cast<uint64_t>(random_()) << 20);
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        reflection->SetDouble(&message, field, RandomDouble());
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        reflection->SetFloat(&message, field, static_cast<float>(RandomDouble()));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        reflection->SetBool(&message, field, Pick(2) == 1);
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const auto* type = field->enum_type();
        reflection->SetEnumValue(
            &message, field,
            Pick(40) == 0
                ? 97  // no name: printed as a number
                : type->value(static_cast<int>(Pick(static_cast<uint64_t>(type->value_count()))))
                      ->number());
        break;
      }
      case FieldDescriptor::CPPTYPE_STRING:
        reflection->SetString(&message, field, RandomString());
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;
    }
  }

  void AddItem(Message& message, const FieldDescriptor* field, int depth) {
    const auto* reflection = message.GetReflection();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE:
        Fill(*reflection->AddMessage(&message, field), depth + 1);
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        reflection->AddInt32(&message, field, static_cast<int32_t>(Pick(100'000)));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        reflection->AddInt64(&message, field, RandomInteger());
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        reflection->AddDouble(&message, field, RandomDouble());
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        reflection->AddString(&message, field, RandomString());
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        reflection->AddBool(&message, field, Pick(2) == 1);
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        reflection->AddEnumValue(&message, field, field->enum_type()->value(0)->number());
        break;
      default:
        break;
    }
  }

  std::mt19937_64 random_;
  bool unusual_strings_;
  int max_map_entries_;
};

// Every answer type lokd renders, plus the history (bytes: the fallback).
std::vector<std::unique_ptr<Message>> Prototypes() {
  std::vector<std::unique_ptr<Message>> types;
  types.push_back(std::make_unique<lok::v1::FunnelResponse>());
  types.push_back(std::make_unique<lok::v1::ClientCard>());
  types.push_back(std::make_unique<lok::v1::ConcentrationResponse>());
  types.push_back(std::make_unique<lok::v1::ClientConcentration>());
  types.push_back(std::make_unique<lok::v1::RetentionResponse>());
  types.push_back(std::make_unique<lok::v1::ClientRetention>());
  types.push_back(std::make_unique<lok::v1::HistoryResponse>());
  return types;
}

TEST(ProtoJsonTest, PrintsExactlyWhatTheLibraryPrintsForRandomAnswers) {
  int compared = 0;
  int fast_path = 0;
  for (const auto& prototype : Prototypes()) {
    for (uint32_t seed = 0; seed < 300; ++seed) {
      std::unique_ptr<Message> message(prototype->New());
      RandomFiller(seed, /*unusual_strings=*/false).Fill(*message, 0);
      std::string fast;
      if (internal::AppendProtoJsonFastPath(*message, fast)) {
        ASSERT_EQ(fast, LibraryJson(*message)) << message->GetTypeName() << " seed " << seed << "\n"
                                               << message->DebugString();
        ++fast_path;
      }
      ASSERT_EQ(FastJson(*message), LibraryJson(*message))
          << message->GetTypeName() << " seed " << seed;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 7 * 300);
  // Most random answers take the fast path (the rest hold '<', '>', an
  // enum value without a name, or bytes).
  EXPECT_GT(fast_path, compared / 2) << fast_path;
}

// The retention queue's answer has its own printer (generated accessors,
// no reflection): on random answers — several entries, reasons with and
// without amounts — it prints what the library prints (one offset: the
// library prints a map in hash order), and with up to five offsets what the
// reflection printer prints for the same answer as a DynamicMessage.
TEST(ProtoJsonTest, RetentionAnswersPrintAsTheLibraryPrintsThem) {
  google::protobuf::DynamicMessageFactory factory;
  const google::protobuf::Message* prototype =
      factory.GetPrototype(lok::v1::RetentionResponse::descriptor());
  int fast_path = 0;
  for (uint32_t seed = 0; seed < 1500; ++seed) {
    const int max_offsets = seed % 2 == 0 ? 1 : 5;
    lok::v1::RetentionResponse response;
    RandomFiller(seed, /*unusual_strings=*/false, max_offsets).Fill(response, 0);
    std::string fast;
    if (!internal::AppendProtoJsonFastPath(response, fast)) continue;
    ++fast_path;
    std::unique_ptr<Message> dynamic(prototype->New());
    dynamic->CopyFrom(response);
    ASSERT_EQ(dynamic_cast<lok::v1::RetentionResponse*>(dynamic.get()), nullptr);
    std::string by_reflection;
    ASSERT_TRUE(internal::AppendProtoJsonFastPath(*dynamic, by_reflection));
    ASSERT_EQ(fast, by_reflection) << "seed " << seed << "\n" << response.DebugString();
    if (max_offsets == 1) {
      ASSERT_EQ(fast, LibraryJson(response)) << "seed " << seed << "\n" << response.DebugString();
    }
  }
  EXPECT_GT(fast_path, 750);
}

TEST(ProtoJsonTest, EmptyMessagesPrintEveryScalarAndEmptyLists) {
  for (const auto& prototype : Prototypes()) {
    EXPECT_EQ(FastJson(*prototype), LibraryJson(*prototype)) << prototype->GetTypeName();
  }
  lok::v1::FunnelResponse empty;
  const std::string json = FastJson(empty);
  EXPECT_NE(json.find("\"offsets\":{}"), std::string::npos) << json;
}

TEST(ProtoJsonTest, DoublesPrintAsProtobufPrintsThem) {
  lok::v1::RetentionReason reason;
  for (double value : {0.1, 1.0 / 3.0, 2.0 / 3.0, 1e-7, 1.5e-300, 5e-324, 123456789012345680.0,
                       1e15, 1e16, 1e17, 0.30000000000000004, 3.9097186715333518,
                       std::numeric_limits<double>::max(), -2.5, 100.0, 1234.5678}) {
    reason.set_value(value);
    reason.set_share(-value);
    std::string fast;
    ASSERT_TRUE(internal::AppendProtoJsonFastPath(reason, fast));
    EXPECT_EQ(fast, LibraryJson(reason)) << value;
  }
}

// The fast double printer (from the shortest round-trip digits) against the
// library, on values of every shape: random bit patterns (any exponent),
// integers up to 2^60, halves, thirds and sevenths, the powers of ten and
// their neighbours one ulp away, the edges of fixed notation (1e-5, 1e-4,
// 1e14, 1e15), the smallest normals and subnormals, and both zeros.
TEST(ProtoJsonTest, DoublesOfEveryShapePrintAsTheLibraryPrintsThem) {
  std::mt19937_64 random(17);
  std::vector<double> values = {0.0, -0.0, std::numeric_limits<double>::min(),
                                -std::numeric_limits<double>::min(),
                                std::numeric_limits<double>::denorm_min(),
                                std::nextafter(std::numeric_limits<double>::min(), 0.0),
                                std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::lowest()};
  for (int exponent = -320; exponent <= 308; ++exponent) {
    const double power = std::pow(10.0, exponent);
    values.push_back(power);
    values.push_back(std::nextafter(power, 0.0));
    values.push_back(std::nextafter(power, std::numeric_limits<double>::infinity()));
    values.push_back(-1.5 * power);
  }
  for (int exponent = -1074; exponent <= 1023; exponent += 7) {
    values.push_back(std::ldexp(1.0, exponent));
  }
  for (int index = 0; index < 4000; ++index) {
    uint64_t bits = random();
    double value;
    std::memcpy(&value, &bits, sizeof(value));
    if (!std::isfinite(value)) continue;
    values.push_back(value);
    values.push_back(static_cast<double>(static_cast<int64_t>(random() >> 4)));
    values.push_back(static_cast<double>(random() % 100000) + 0.5);
    values.push_back(static_cast<double>(random() % 1000000) / 3.0);
    values.push_back(static_cast<double>(random() % 1000000) / 7.0 * 1e-6);
    values.push_back(std::ldexp(static_cast<double>(random() % 1000), -static_cast<int>(random() % 60)));
  }
  lok::v1::RetentionReason reason;
  int compared = 0;
  for (double value : values) {
    reason.set_value(value);
    reason.set_share(-value);
    std::string fast;
    ASSERT_TRUE(internal::AppendProtoJsonFastPath(reason, fast));
    ASSERT_EQ(fast, LibraryJson(reason)) << value;
    ++compared;
  }
  EXPECT_GT(compared, 25000);
}

// Maps print by key; the library prints them in the map's hash order, so
// compare the parsed documents.
TEST(ProtoJsonTest, MapsWithSeveralEntriesPrintTheSameObject) {
  for (uint32_t seed = 0; seed < 100; ++seed) {
    lok::v1::RetentionResponse message;
    RandomFiller(seed, /*unusual_strings=*/false, /*max_map_entries=*/6).Fill(message, 0);
    const std::string fast = FastJson(message);
    EXPECT_EQ(boost::json::parse(fast), boost::json::parse(LibraryJson(message))) << fast;
  }
  lok::v1::FunnelResponse funnel;
  for (int32_t partition = 11; partition >= -2; --partition) {
    (*funnel.mutable_offsets())[partition] = partition * 1000;
  }
  const std::string fast = FastJson(funnel);
  EXPECT_EQ(boost::json::parse(fast), boost::json::parse(LibraryJson(funnel)));
  EXPECT_NE(fast.find(R"("offsets":{"-2":"-2000","-1":"-1000","0":"0","1":"1000","2":"2000")"),
            std::string::npos)
      << fast;
  EXPECT_NE(fast.find(R"("9":"9000","10":"10000","11":"11000"})"), std::string::npos) << fast;
}

TEST(ProtoJsonTest, UnusualStringsFallBackToTheLibrary) {
  for (uint32_t seed = 0; seed < 200; ++seed) {
    lok::v1::RetentionResponse message;
    RandomFiller(seed, /*unusual_strings=*/true).Fill(message, 0);
    EXPECT_EQ(FastJson(message), LibraryJson(message)) << "seed " << seed;
  }
  lok::v1::RetentionEntry entry;
  entry.set_client_id("Zoë <b>");
  EXPECT_EQ(FastJson(entry), LibraryJson(entry));
}

}  // namespace
}  // namespace lok::api
