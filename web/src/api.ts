// The query API's JSON, as lokd sends it: the protobuf JSON mapping of
// proto/lok/v1/{query,concentration,retention}.proto (lowerCamelCase; int64 as
// strings; fields at their default value may be left out, so most are optional
// here and read through the helpers in format.ts).

export type Offsets = Record<string, string>;

export interface Money {
  minor?: string;
  currency?: string;
}

export type StageName = "LEAD" | "QUALIFIED" | "OFFER" | "WON" | "LOST";

export interface StageCount {
  stage: StageName;
  deals?: string;
  amounts?: Money[];
  conversionToNext?: number;
  cumulativeConversion?: number;
  averageDaysInStage?: number;
  dealsLeftStage?: string;
}

export interface FunnelMetrics {
  stages?: StageCount[];
  winRate?: number;
  winRateByValue?: number;
  averageWonDeal?: Money;
  averageSalesCycleDays?: number;
  openDeals?: string;
  salesVelocityPerDay?: number;
  weightedPipeline?: Money;
  plan?: Money;
  planActual?: Money;
  planAttainment?: number;
}

export interface FunnelRow {
  key?: string;
  metrics?: FunnelMetrics;
}

export interface FunnelResponse {
  stages?: StageCount[];
  winRate?: number;
  offsets?: Offsets;
  mode?: string;
  from?: string;
  to?: string;
  currency?: string;
  metrics?: FunnelMetrics;
  by?: string;
  rows?: FunnelRow[];
}

export interface ConcentrationClient {
  clientId?: string;
  revenue?: Money;
  share?: number;
  overdue?: Money;
  averageDaysLate?: number;
  delayedInvoices?: string;
  averageDiscountBp?: number;
  discountedWonDeals?: string;
}

export interface ConcentrationMonth {
  month?: string;
  revenue?: Money;
  clients?: string;
  hhi?: number;
}

export type AlertKind = "KIND_UNSPECIFIED" | "CLIENT_SHARE" | "HHI_MODERATE" | "HHI_HIGH";

export interface ConcentrationAlert {
  kind?: AlertKind;
  scope?: string;
  clientId?: string;
  value?: number;
  threshold?: number;
}

export interface ConcentrationBlock {
  scope?: string;
  revenue?: Money;
  clients?: string;
  hhi?: number;
  top1Share?: number;
  top5Share?: number;
  top10Share?: number;
  paretoK80?: string;
  paretoK80Exact?: boolean;
  topClients?: ConcentrationClient[];
  trend?: ConcentrationMonth[];
}

export interface ConcentrationResponse {
  windowStart?: string;
  windowEnd?: string;
  asOf?: string;
  currency?: string;
  overall?: ConcentrationBlock;
  alerts?: ConcentrationAlert[];
  offsets?: Offsets;
}

export type RetentionTerm =
  | "contact_overdue"
  | "payments_overdue"
  | "rhythm_broken"
  | "revenue_declining"
  | "client_weight";

export interface RetentionReason {
  term?: RetentionTerm;
  value?: number;
  weight?: number;
  contribution?: number;
  days?: string;
  thresholdDays?: number;
  amount?: Money;
  baselineAmount?: Money;
  share?: number;
}

export interface RetentionEntry {
  clientId?: string;
  salesperson?: string;
  region?: string;
  score?: number;
  reasons?: RetentionReason[];
  nextContactDue?: string;
  lastContact?: string;
  revenue?: Money[];
  overdue?: Money[];
  wonDeals?: string;
}

export interface RetentionResponse {
  asOf?: string;
  currency?: string;
  entries?: RetentionEntry[];
  candidates?: string;
  complete?: boolean;
  offsets?: Offsets;
}

export interface RetentionInvoiceView {
  invoiceId?: string;
  amount?: Money;
  dueDate?: string;
  status?: "open" | "paid" | "overdue";
  daysOverdue?: string;
  outstanding?: Money;
}

export interface RetentionContactView {
  occurredAt?: string;
  channel?: string;
  direction?: string;
  salesperson?: string;
  eventId?: string;
}

export interface ClientRetention {
  clientId?: string;
  salesperson?: string;
  region?: string;
  asOf?: string;
  isRegular?: boolean;
  needsAttention?: boolean;
  score?: number;
  reasons?: RetentionReason[];
  nextContactDue?: string;
  lastContact?: string;
  wonDeals?: string;
  revenue?: Money[];
  overdue?: Money[];
  invoices?: RetentionInvoiceView[];
  contactsCount?: string;
  lastContacts?: RetentionContactView[];
}

export interface ClientCard {
  clientId?: string;
  asOf?: string;
  currency?: string;
  dealsByStage?: { stage?: StageName; deals?: string }[];
  concentration?: { windowStart?: string; windowEnd?: string; client?: ConcentrationClient };
  retention?: ClientRetention;
  offsets?: Offsets;
}

// An answer from lokd: the parsed JSON and its text (compared between polls so
// a panel re-renders only when its answer changed).
export interface Answer<T> {
  data: T;
  text: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

// GETs `path` with the query `params` (empty values are left out). Resolves to
// the answer; rejects with an ApiError carrying lokd's error message on a
// non-2xx status, or with the fetch error when lokd is unreachable.
export async function getJson<T>(
  path: string,
  params: Record<string, string | undefined>,
  signal?: AbortSignal,
): Promise<Answer<T>> {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== "") query.set(name, value);
  }
  const url = query.size > 0 ? `${path}?${query.toString()}` : path;
  const init: RequestInit = { headers: { Accept: "application/json" }, cache: "no-store" };
  if (signal) init.signal = signal;
  const response = await fetch(url, init);
  const text = await response.text();
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = JSON.parse(text) as { error?: { message?: string } };
      if (body.error?.message) message = body.error.message;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, message);
  }
  return { data: JSON.parse(text) as T, text };
}

export const clientPath = (clientId: string): string => `/v1/clients/${encodeURIComponent(clientId)}`;

// GET /v1/clients/{id}/history (lok.v1.HistoryResponse): the client's events as stored.
export interface HistoryEvent {
  partition?: number;
  offset?: string;
  recordTimeMs?: string;
  event?: {
    eventId?: string;
    source?: string;
    occurredAt?: string;
    dealId?: string;
    [payload: string]: unknown;
  };
}

export interface HistoryResponse {
  clientId?: string;
  events?: HistoryEvent[];
  nextCursor?: string;
}
