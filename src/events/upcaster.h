// Upcasting: turning an event written in an old shape of the contract into
// the current shape, before it is decoded and validated. The codec
// (event_codec.h) runs it on every event, so the rest of Lok only ever sees
// current events; the log keeps what the producer wrote. docs/SCHEMA.md
// explains when a shape change needs a step here instead of a new field.
//
// The steps, each recognised by the shape alone (old producers predate any
// version marker, so none can be asked of them):
//
// 1. deal_won with a decimal-string amount (the pre-Money DealWon):
//      message DealWon { string amount = 1; string currency = 2; }
//    JSON   {"deal_won":{"amount":"1234.50","currency":"EUR"}}   (or "dealWon")
//      -> {"deal_won":{"amount":{"minor":"123450","currency":"EUR"}}}
//      Recognised when deal_won.amount is a JSON string.
//    binary deal_won (field 23) whose field 1 is non-empty printable ASCII.
//      A current Money never is: its encoding starts with the tag of minor
//      (0x08) or currency (0x12), neither printable; an empty Money is empty.
//    The decimal is "<digits>[.<digits>]", converted exactly (no floating
//    point) with the currency's minor-unit exponent (MinorUnitExponent);
//    extra decimal places must be zeros, so no amount is ever rounded.
//    deal_won's other fields are kept; currency moves into the Money.
//
// Every upcast is logged at debug level and counted (UpcastCount()).
// Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace lok::events {

// Rewrites one event in the protobuf JSON mapping to the current shape.
// Returns the rewritten document when a step applied, std::nullopt when the
// event needs none (including when it is not JSON at all: the decoder then
// reports that).
// Errors: kInvalidArgument "<field>: <rule>" when the event has an old shape
// that cannot be converted, e.g. "deal_won.currency: required beside a
// decimal-string deal_won.amount (the pre-Money shape)".
StatusOr<std::optional<std::string>> UpcastJson(std::string_view json);

// The same for the protobuf binary form. Returns std::nullopt when no step
// applies or the bytes are not well-formed protobuf (the decoder reports it).
// Errors: as UpcastJson.
StatusOr<std::optional<std::string>> UpcastBinary(std::string_view bytes);

// How many events this process has upcast (JSON and binary), for metrics.
uint64_t UpcastCount();

// Digits after the decimal point in the currency's minor unit (ISO 4217):
// 0 for JPY, KRW, ...; 3 for BHD, IQD, JOD, KWD, LYD, OMR, TND; 4 for CLF,
// UYW; 2 for every other code, including unknown ones.
int MinorUnitExponent(std::string_view currency);

// Converts a non-negative decimal "1234.50" to minor units of `currency`
// (123450 for EUR) exactly. `field` names the value in errors.
// Errors: kInvalidArgument "<field>: ..." when the text is not
// "<digits>[.<digits>]", has non-zero digits beyond the currency's minor
// unit, or does not fit in int64.
StatusOr<int64_t> DecimalToMinorUnits(std::string_view decimal, std::string_view currency,
                                      std::string_view field);

}  // namespace lok::events
