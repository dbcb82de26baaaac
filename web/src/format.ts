// Number formatting. Money stays in integer minor units until it is shown;
// the display rounds to whole currency units for KPIs and tables.
import type { Money } from "./api";

const MINOR_DIGITS: Record<string, number> = { JPY: 0, KRW: 0, BHD: 3, KWD: 3, OMR: 3, TND: 3 };

export const minorDigits = (currency: string): number => MINOR_DIGITS[currency] ?? 2;

// The amount in major units (for charts and sorting); 0 for an absent amount.
export function moneyValue(money: Money | undefined): number {
  if (!money?.minor) return 0;
  return Number(money.minor) / 10 ** minorDigits(money.currency ?? "USD");
}

export function formatMoney(money: Money | undefined, currency: string, fractionDigits = 0): string {
  return formatAmount(moneyValue(money), money?.currency || currency, fractionDigits);
}

export function formatAmount(value: number, currency: string, fractionDigits = 0): string {
  return new Intl.NumberFormat("en-US", {
    style: "currency",
    currency,
    minimumFractionDigits: fractionDigits,
    maximumFractionDigits: fractionDigits,
  }).format(value);
}

// Compact form for chart axes: $1.2M.
export function formatAmountShort(value: number, currency: string): string {
  return new Intl.NumberFormat("en-US", {
    style: "currency",
    currency,
    notation: "compact",
    maximumFractionDigits: 1,
  }).format(value);
}

// Moneys of one currency out of a list (the retention API reports one per currency).
export function pickCurrency(amounts: Money[] | undefined, currency: string): Money | undefined {
  return amounts?.find((money) => money.currency === currency);
}

const integerFormat = new Intl.NumberFormat("en-US");

export function formatCount(value: string | number | undefined): string {
  return integerFormat.format(Number(value ?? 0));
}

// 0.632 -> "63.2 %" (a space before the sign, as in docs/METRICS.md).
export function formatPercent(ratio: number | undefined, fractionDigits = 1): string {
  return `${((ratio ?? 0) * 100).toFixed(fractionDigits)} %`;
}

export function formatDays(days: number | undefined): string {
  return `${(days ?? 0).toFixed(1)} d`;
}

export function formatNumber(value: number | undefined, fractionDigits: number): string {
  return new Intl.NumberFormat("en-US", {
    minimumFractionDigits: fractionDigits,
    maximumFractionDigits: fractionDigits,
  }).format(value ?? 0);
}

export function formatTimestamp(iso: string | undefined): string {
  if (!iso) return "";
  return iso.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC");
}
