#include "api/read_view.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace lok::api {
namespace {

ReadView AsOfDayView(int64_t day) {
  ReadView view;
  view.as_of_day = day;
  view.as_of = engine::AsOfView{};  // the live store answered
  return view;
}

http::Response Ok(std::string body) {
  http::Response response;
  response.status = 200;
  response.body = std::move(body);
  return response;
}

constexpr int64_t kDay = 19'000;  // 2022-01-08

TEST(AnnotateAsOfTest, KeepsTheAnswersBytesAndAppendsTheMembers) {
  // A double that boost::json does not read back exactly, printed the way
  // protobuf prints it: a DOM round trip would change both.
  const std::string answer = R"({"hhi":9.357815853544989E2,"rows":[{"asOf":"x"}]})";
  http::Response annotated = AnnotateAsOf(Ok(answer), AsOfDayView(kDay));
  EXPECT_EQ(annotated.body,
            R"({"hhi":9.357815853544989E2,"rows":[{"asOf":"x"}],"asOf":"2022-01-08",)"
            R"("asOfSource":{"live":true,"checkpointRecords":0,"replayedRecords":0,"cached":false}})");
}

TEST(AnnotateAsOfTest, ATopLevelAsOfIsKeptAndKnownAtIsAdded) {
  ReadView view = AsOfDayView(kDay);
  view.known_at_ms = int64_t{19'001} * 86'400'000 - 1;
  view.as_of->base_records = 7;
  http::Response annotated = AnnotateAsOf(Ok(R"({"asOf":"2022-01-01"} )"), view);
  boost::json::object object = boost::json::parse(annotated.body).as_object();
  EXPECT_EQ(object.size(), 3u);
  EXPECT_EQ(object.at("asOf").as_string(), "2022-01-01");
  EXPECT_EQ(object.at("knownAt").as_string(), "2022-01-08T23:59:59.999Z");
  EXPECT_EQ(object.at("asOfSource").at("checkpointRecords").as_int64(), 7);
}

TEST(AnnotateAsOfTest, AnEmptyObjectGetsNoLeadingComma) {
  http::Response annotated = AnnotateAsOf(Ok("{}"), AsOfDayView(kDay));
  EXPECT_TRUE(boost::json::parse(annotated.body).is_object()) << annotated.body;
  EXPECT_EQ(annotated.body.rfind("{\"asOf\":\"2022-01-08\",", 0), 0u) << annotated.body;
}

TEST(AnnotateAsOfTest, LeavesOtherAnswersAlone) {
  for (const std::string body : {"[1,2]", "{\"a\":", "not json", "{\"a\":1}{"}) {
    EXPECT_EQ(AnnotateAsOf(Ok(body), AsOfDayView(kDay)).body, body);
  }
  http::Response failed = Ok(R"({"error":"x"})");
  failed.status = 400;
  EXPECT_EQ(AnnotateAsOf(failed, AsOfDayView(kDay)).body, R"({"error":"x"})");
  EXPECT_EQ(AnnotateAsOf(Ok("{}"), ReadView{}).body, "{}");  // no bound: the live answer
}

}  // namespace
}  // namespace lok::api
