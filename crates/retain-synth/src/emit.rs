//! Turns simulated customers into file rows (clean and, in dirty mode, injected bad rows).
//!
//! A chunk of consecutive customers is rendered into in-memory text buffers and one Arrow
//! batch; ids are sequential over the whole shop, carried from chunk to chunk in
//! [`Counters`], so the output does not depend on the chunk size.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::SynthOptions;
use crate::calendar::Calendar;
use crate::model::{self, Customer, EventType, Model, Status};

pub(crate) const CUSTOMERS_HEADER: &str =
    "customer_id,signup_at,country,birth_date,email_opt_in,sms_opt_in,loyalty_member";
pub(crate) const ORDERS_HEADER: &str = "order_id,customer_id,ordered_at,status,gross_amount,discount_amount,currency,channel,category,item_count";
pub(crate) const CONTACTS_HEADER: &str = "customer_id,action,contacted_at";
pub(crate) const TRUTH_HEADER: &str = "customer_id,shopper_type,purchase_rate_per_year,dropout_probability,death_at,ambassador,bad_first_experience,mean_order_value,app_user";

/// Salt for the dirty-row random streams, so that they never touch the clean streams.
const DIRTY_SALT: u64 = 0xD1E7_5A17_0BAD_0001;

/// Dates that do not parse.
const UNPARSEABLE_DATES: [&str; 4] = [
    "2025-13-45",
    "yesterday",
    "2025-02-30T12:00:00Z",
    "31/12/2025 10:00",
];
/// Dates that parse but are impossible for this shop (year 1 and year 9999).
const OUT_OF_RANGE_DATES: [&str; 2] = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"];
const OUT_OF_RANGE_SECS: [i64; 2] = [-62_135_596_800, 253_402_300_799];

/// The five raw files, in the order used by per-file arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum File {
    Customers = 0,
    Orders = 1,
    Tickets = 2,
    Events = 3,
    Contacts = 4,
}

impl File {
    pub(crate) const ALL: [File; 5] = [
        File::Customers,
        File::Orders,
        File::Tickets,
        File::Events,
        File::Contacts,
    ];
    /// The key prefix used in `SynthSummary::dirty` (`orders.negative_amount`).
    pub(crate) fn stem(self) -> &'static str {
        match self {
            File::Customers => "customers",
            File::Orders => "orders",
            File::Tickets => "support_tickets",
            File::Events => "engagement_events",
            File::Contacts => "contacts",
        }
    }
    /// Letter of the id column (`C0000001`, `O00000001`, ...).
    fn id_prefix(self) -> char {
        match self {
            File::Customers | File::Contacts => 'C',
            File::Orders => 'O',
            File::Tickets => 'T',
            File::Events => 'E',
        }
    }
    fn id_width(self) -> usize {
        match self {
            File::Customers | File::Contacts | File::Tickets => 7,
            File::Orders => 8,
            File::Events => 9,
        }
    }
}

/// Kinds of injected bad rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    UnparseableDate = 0,
    OutOfRangeDate,
    NegativeAmount,
    ExactDuplicate,
    DuplicateKey,
    UnknownCustomer,
    WrongColumnCount,
    UnterminatedQuote,
    CsatOutOfRange,
    ResolvedBeforeOpened,
    BrokenJson,
}

pub(crate) const N_KINDS: usize = 11;

impl Kind {
    pub(crate) const ALL: [Kind; N_KINDS] = [
        Kind::UnparseableDate,
        Kind::OutOfRangeDate,
        Kind::NegativeAmount,
        Kind::ExactDuplicate,
        Kind::DuplicateKey,
        Kind::UnknownCustomer,
        Kind::WrongColumnCount,
        Kind::UnterminatedQuote,
        Kind::CsatOutOfRange,
        Kind::ResolvedBeforeOpened,
        Kind::BrokenJson,
    ];
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::UnparseableDate => "unparseable_date",
            Kind::OutOfRangeDate => "out_of_range_date",
            Kind::NegativeAmount => "negative_amount",
            Kind::ExactDuplicate => "exact_duplicate",
            Kind::DuplicateKey => "duplicate_key",
            Kind::UnknownCustomer => "unknown_customer",
            Kind::WrongColumnCount => "wrong_column_count",
            Kind::UnterminatedQuote => "unterminated_quote",
            Kind::CsatOutOfRange => "csat_out_of_range",
            Kind::ResolvedBeforeOpened => "resolved_before_opened",
            Kind::BrokenJson => "broken_json",
        }
    }
}

/// Kinds injected between rows, per file (an unterminated quote is only ever the last line
/// of a CSV file: anywhere else it would swallow the rows after it).
const CUSTOMER_KINDS: &[Kind] = &[
    Kind::UnparseableDate,
    Kind::OutOfRangeDate,
    Kind::ExactDuplicate,
    Kind::DuplicateKey,
    Kind::WrongColumnCount,
];
const ORDER_KINDS: &[Kind] = &[
    Kind::UnparseableDate,
    Kind::OutOfRangeDate,
    Kind::NegativeAmount,
    Kind::ExactDuplicate,
    Kind::DuplicateKey,
    Kind::UnknownCustomer,
    Kind::WrongColumnCount,
];
const TICKET_KINDS: &[Kind] = &[
    Kind::UnparseableDate,
    Kind::OutOfRangeDate,
    Kind::CsatOutOfRange,
    Kind::ResolvedBeforeOpened,
    Kind::ExactDuplicate,
    Kind::DuplicateKey,
    Kind::UnknownCustomer,
    Kind::BrokenJson,
];
const EVENT_KINDS: &[Kind] = &[
    Kind::OutOfRangeDate,
    Kind::ExactDuplicate,
    Kind::DuplicateKey,
    Kind::UnknownCustomer,
];
const CONTACT_KINDS: &[Kind] = &[
    Kind::UnparseableDate,
    Kind::OutOfRangeDate,
    Kind::ExactDuplicate,
    Kind::UnknownCustomer,
    Kind::WrongColumnCount,
];

/// Injected bad rows per file and kind.
pub(crate) type DirtyCounts = [[u64; N_KINDS]; 5];

/// Everything shared by the chunk workers.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub opts: SynthOptions,
    pub cal: Calendar,
    pub model: Model,
    pub schema: SchemaRef,
}

pub(crate) fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new(
            "occurred_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
    ]))
}

/// Running ids and counts, carried from chunk to chunk.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub customers: u64,
    pub orders: u64,
    pub tickets: u64,
    pub events: u64,
    pub contacts: u64,
    /// Injected rows with a fresh key, per file (`OX00000001`, ...).
    pub injected_keys: [u64; 5],
}

/// One rendered chunk.
#[derive(Debug)]
pub(crate) struct ChunkOut {
    pub customers: String,
    pub orders: String,
    pub tickets: String,
    pub contacts: String,
    pub truth: String,
    pub events: RecordBatch,
    pub dirty: DirtyCounts,
    /// Last clean line of customers, orders and contacts (templates for the final
    /// unterminated-quote line in dirty mode).
    pub last_lines: [Option<String>; 3],
    pub counters: Counters,
}

// ---------------------------------------------------------------------------------------
// Text helpers (no `fmt::Result` to ignore: they only push to a `String`)
// ---------------------------------------------------------------------------------------

fn push_padded(buf: &mut String, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    for _ in len..width {
        buf.push('0');
    }
    for &d in &digits[i..] {
        buf.push(char::from(d));
    }
}

/// Fixed-point decimal with `decimals` digits, from an already scaled integer.
fn push_scaled(buf: &mut String, scaled: i64, decimals: u32) {
    if scaled < 0 {
        buf.push('-');
    }
    let abs = scaled.unsigned_abs();
    let unit = 10u64.pow(decimals);
    push_padded(buf, abs / unit, 1);
    if decimals > 0 {
        buf.push('.');
        push_padded(buf, abs % unit, decimals as usize);
    }
}

fn push_fixed(buf: &mut String, x: f64, decimals: u32) {
    let scaled = (x * 10f64.powi(decimals as i32)).round() as i64;
    push_scaled(buf, scaled, decimals);
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn push_date(buf: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    if y < 0 {
        buf.push('-');
    }
    push_padded(buf, y.unsigned_abs(), 4);
    buf.push('-');
    push_padded(buf, u64::from(m), 2);
    buf.push('-');
    push_padded(buf, u64::from(d), 2);
}

/// RFC 3339 UTC with seconds: `2025-01-03T14:22:05Z`.
pub(crate) fn push_ts(buf: &mut String, secs: i64) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u64;
    push_date(buf, days);
    buf.push('T');
    push_padded(buf, sod / 3600, 2);
    buf.push(':');
    push_padded(buf, sod / 60 % 60, 2);
    buf.push(':');
    push_padded(buf, sod % 60, 2);
    buf.push('Z');
}

fn push_bool(buf: &mut String, b: bool) {
    buf.push_str(if b { "true" } else { "false" });
}

// ---------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------

/// A timestamp cell: a real instant or a literal bad string.
#[derive(Debug, Clone, Copy)]
enum Ts {
    Secs(i64),
    Raw(&'static str),
}

fn push_ts_cell(buf: &mut String, ts: Ts) {
    match ts {
        Ts::Secs(s) => push_ts(buf, s),
        Ts::Raw(r) => buf.push_str(r),
    }
}

/// A key cell: a clean sequential id, or an injected row's own id (`OX00000001`).
#[derive(Debug, Clone, Copy)]
enum Key {
    Clean(u64),
    Injected(u64),
}

fn push_key(buf: &mut String, file: File, key: Key) {
    buf.push(file.id_prefix());
    match key {
        Key::Clean(n) => push_padded(buf, n, file.id_width()),
        Key::Injected(n) => {
            buf.push('X');
            push_padded(buf, n, file.id_width());
        }
    }
}

fn push_customer_id(buf: &mut String, n: u64) {
    buf.push('C');
    push_padded(buf, n, 7);
}

#[derive(Debug, Clone, Copy)]
struct CustomerRow {
    key: Key,
    signup: Ts,
    country: &'static str,
    birth_days: Option<i64>,
    email: bool,
    sms: bool,
    loyalty: bool,
}

fn write_customer(buf: &mut String, r: &CustomerRow) {
    push_key(buf, File::Customers, r.key);
    buf.push(',');
    push_ts_cell(buf, r.signup);
    buf.push(',');
    buf.push_str(r.country);
    buf.push(',');
    if let Some(d) = r.birth_days {
        push_date(buf, d);
    }
    buf.push(',');
    push_bool(buf, r.email);
    buf.push(',');
    push_bool(buf, r.sms);
    buf.push(',');
    push_bool(buf, r.loyalty);
}

#[derive(Debug, Clone, Copy)]
struct OrderRow {
    key: Key,
    customer: u64,
    at: Ts,
    status: &'static str,
    gross: i64,
    discount: i64,
    channel: &'static str,
    category: &'static str,
    items: u32,
}

fn write_order(buf: &mut String, r: &OrderRow) {
    push_key(buf, File::Orders, r.key);
    buf.push(',');
    push_customer_id(buf, r.customer);
    buf.push(',');
    push_ts_cell(buf, r.at);
    buf.push(',');
    buf.push_str(r.status);
    buf.push(',');
    push_scaled(buf, r.gross, 2);
    buf.push(',');
    push_scaled(buf, r.discount, 2);
    buf.push_str(",EUR,");
    buf.push_str(r.channel);
    buf.push(',');
    buf.push_str(r.category);
    buf.push(',');
    push_padded(buf, u64::from(r.items), 1);
}

#[derive(Debug, Clone, Copy)]
struct TicketRow {
    key: Key,
    customer: u64,
    opened: Ts,
    resolved: Option<Ts>,
    channel: &'static str,
    topic: &'static str,
    priority: &'static str,
    csat: Option<u8>,
    reopened: u32,
}

fn write_ticket(buf: &mut String, r: &TicketRow) {
    buf.push_str("{\"ticket_id\":\"");
    push_key(buf, File::Tickets, r.key);
    buf.push_str("\",\"customer_id\":\"");
    push_customer_id(buf, r.customer);
    buf.push_str("\",\"opened_at\":\"");
    push_ts_cell(buf, r.opened);
    buf.push_str("\",\"resolved_at\":");
    match r.resolved {
        Some(ts) => {
            buf.push('"');
            push_ts_cell(buf, ts);
            buf.push('"');
        }
        None => buf.push_str("null"),
    }
    buf.push_str(",\"channel\":\"");
    buf.push_str(r.channel);
    buf.push_str("\",\"topic\":\"");
    buf.push_str(r.topic);
    buf.push_str("\",\"priority\":\"");
    buf.push_str(r.priority);
    buf.push_str("\",\"csat_score\":");
    match r.csat {
        Some(c) => push_padded(buf, u64::from(c), 1),
        None => buf.push_str("null"),
    }
    buf.push_str(",\"reopened_count\":");
    push_padded(buf, u64::from(r.reopened), 1);
    buf.push('}');
}

#[derive(Debug, Clone, Copy)]
struct ContactRow {
    customer: u64,
    action: &'static str,
    at: Ts,
}

fn write_contact(buf: &mut String, r: &ContactRow) {
    push_customer_id(buf, r.customer);
    buf.push(',');
    buf.push_str(r.action);
    buf.push(',');
    push_ts_cell(buf, r.at);
}

/// Add a stray field or drop the last one.
fn break_columns(line: &mut String, rng: &mut ChaCha8Rng) {
    if rng.random_bool(0.5) {
        line.push_str(",n/a");
    } else if let Some(pos) = line.rfind(',') {
        line.truncate(pos);
    }
}

/// The last line of a CSV file in dirty mode: the last clean line with a fresh key (except
/// for contacts, which have none) and an opening quote before its second field that is
/// never closed.
pub(crate) fn unterminated_line(template: &str, file: File, injected_no: u64) -> String {
    let mut fields: Vec<String> = template.split(',').map(str::to_owned).collect();
    if file != File::Contacts {
        let mut key = String::new();
        push_key(&mut key, file, Key::Injected(injected_no));
        fields[0] = key;
    }
    if fields.len() > 1 {
        fields[1].insert(0, '"');
    }
    fields.join(",")
}

// ---------------------------------------------------------------------------------------
// Dirty injection
// ---------------------------------------------------------------------------------------

struct Dirt {
    rng: ChaCha8Rng,
    rate: f64,
    /// First customer number that does not exist.
    unknown_base: u64,
}

impl Dirt {
    fn maybe(&mut self, kinds: &[Kind]) -> Option<Kind> {
        if self.rng.random::<f64>() < self.rate {
            Some(kinds[self.rng.random_range(0..kinds.len())])
        } else {
            None
        }
    }
    fn unknown_customer(&mut self) -> u64 {
        self.unknown_base + self.rng.random_range(0..self.unknown_base.max(1000))
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }
}

// ---------------------------------------------------------------------------------------
// Events (Arrow columns)
// ---------------------------------------------------------------------------------------

struct EventCols {
    id: StringBuilder,
    customer: StringBuilder,
    at: TimestampMicrosecondBuilder,
    kind: StringBuilder,
    channel: StringBuilder,
    value: Float64Builder,
    scratch: String,
}

impl EventCols {
    fn new(capacity: usize) -> Self {
        EventCols {
            id: StringBuilder::with_capacity(capacity, capacity * 11),
            customer: StringBuilder::with_capacity(capacity, capacity * 8),
            at: TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            kind: StringBuilder::with_capacity(capacity, capacity * 11),
            channel: StringBuilder::with_capacity(capacity, capacity * 4),
            value: Float64Builder::with_capacity(capacity),
            scratch: String::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        key: Key,
        customer: &str,
        secs: i64,
        kind: &str,
        channel: &str,
        value: Option<f64>,
    ) {
        self.scratch.clear();
        push_key(&mut self.scratch, File::Events, key);
        self.id.append_value(&self.scratch);
        self.customer.append_value(customer);
        self.at.append_value(secs.saturating_mul(1_000_000));
        self.kind.append_value(kind);
        self.channel.append_value(channel);
        self.value.append_option(value);
    }

    fn finish(mut self, schema: &SchemaRef) -> Result<RecordBatch, arrow::error::ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.customer.finish()),
            Arc::new(self.at.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.value.finish()),
        ];
        RecordBatch::try_new(Arc::clone(schema), columns)
    }
}

// ---------------------------------------------------------------------------------------
// Chunk rendering
// ---------------------------------------------------------------------------------------

/// Render customers `first..last` (0-based indexes), continuing from `counters`.
pub(crate) fn render_chunk(
    ctx: &Ctx,
    first: u64,
    last: u64,
    mut counters: Counters,
) -> Result<ChunkOut, arrow::error::ArrowError> {
    let opts = &ctx.opts;
    let cal = &ctx.cal;
    let end_t = cal.days;
    let n = (last - first) as usize;
    let mut out = ChunkOut {
        customers: String::with_capacity(n * 70),
        orders: String::with_capacity(n * 400),
        tickets: String::with_capacity(n * 100),
        contacts: String::with_capacity(n * 150),
        truth: String::new(),
        events: RecordBatch::new_empty(Arc::clone(&ctx.schema)),
        dirty: [[0; N_KINDS]; 5],
        last_lines: [None, None, None],
        counters: Counters::default(),
    };
    let mut events = EventCols::new(n * 50);
    let mut line = String::with_capacity(256);
    let mut cust_id = String::with_capacity(16);
    let start_days = cal.start_secs.div_euclid(86_400);

    for idx in first..last {
        let c: Customer = model::simulate(&ctx.model, cal, opts.seed, idx);
        let no = idx + 1;
        counters.customers += 1;
        let mut dirt = (opts.dirty_rate > 0.0).then(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ DIRTY_SALT);
            rng.set_stream(idx);
            Dirt {
                rng,
                rate: opts.dirty_rate,
                unknown_base: opts.customers + 1,
            }
        });
        cust_id.clear();
        push_customer_id(&mut cust_id, no);

        // --- customers.csv ---
        let row = CustomerRow {
            key: Key::Clean(no),
            signup: Ts::Secs(cal.secs(c.signup)),
            country: c.country,
            birth_days: c.birth_offset_days.map(|d| start_days + d),
            email: c.email_opt_in,
            sms: c.sms_opt_in,
            loyalty: c.loyalty_member,
        };
        line.clear();
        write_customer(&mut line, &row);
        out.customers.push_str(&line);
        out.customers.push('\n');
        if let Some(d) = dirt.as_mut() {
            out.last_lines[0] = Some(line.clone());
            if let Some(kind) = d.maybe(CUSTOMER_KINDS) {
                let mut bad = row;
                let mut fresh = || {
                    counters.injected_keys[File::Customers as usize] += 1;
                    Key::Injected(counters.injected_keys[File::Customers as usize])
                };
                match kind {
                    Kind::UnparseableDate => {
                        bad.key = fresh();
                        bad.signup = Ts::Raw(d.pick(&UNPARSEABLE_DATES));
                    }
                    Kind::OutOfRangeDate => {
                        bad.key = fresh();
                        bad.signup = Ts::Raw(d.pick(&OUT_OF_RANGE_DATES));
                    }
                    Kind::DuplicateKey => {
                        bad.country = if row.country == "DE" { "FR" } else { "DE" };
                        bad.loyalty = !row.loyalty;
                    }
                    Kind::WrongColumnCount => bad.key = fresh(),
                    _ => {}
                }
                line.clear();
                write_customer(&mut line, &bad);
                if kind == Kind::WrongColumnCount {
                    break_columns(&mut line, &mut d.rng);
                }
                out.customers.push_str(&line);
                out.customers.push('\n');
                out.dirty[File::Customers as usize][kind as usize] += 1;
            }
        }

        // --- orders.csv ---
        for o in c.orders.iter().take_while(|o| o.t < end_t) {
            counters.orders += 1;
            let row = OrderRow {
                key: Key::Clean(counters.orders),
                customer: no,
                at: Ts::Secs(cal.secs(o.t)),
                status: o.status.as_str(),
                gross: o.gross_cents,
                discount: o.discount_cents,
                channel: o.channel,
                category: o.category,
                items: o.items,
            };
            line.clear();
            write_order(&mut line, &row);
            out.orders.push_str(&line);
            out.orders.push('\n');
            let Some(d) = dirt.as_mut() else { continue };
            out.last_lines[1] = Some(line.clone());
            let Some(kind) = d.maybe(ORDER_KINDS) else {
                continue;
            };
            let mut bad = row;
            let mut fresh = || {
                counters.injected_keys[File::Orders as usize] += 1;
                Key::Injected(counters.injected_keys[File::Orders as usize])
            };
            match kind {
                Kind::UnparseableDate => {
                    bad.key = fresh();
                    bad.at = Ts::Raw(d.pick(&UNPARSEABLE_DATES));
                }
                Kind::OutOfRangeDate => {
                    bad.key = fresh();
                    bad.at = Ts::Raw(d.pick(&OUT_OF_RANGE_DATES));
                }
                Kind::NegativeAmount => {
                    bad.key = fresh();
                    bad.gross = -row.gross.max(1);
                    bad.discount = 0;
                }
                Kind::DuplicateKey => {
                    let others: Vec<Status> = Status::ALL
                        .into_iter()
                        .filter(|s| s.as_str() != row.status)
                        .collect();
                    bad.status = d.pick(&others).as_str();
                    bad.gross = row.gross + 100 * d.rng.random_range(1..20);
                }
                Kind::UnknownCustomer => {
                    bad.key = fresh();
                    bad.customer = d.unknown_customer();
                }
                Kind::WrongColumnCount => bad.key = fresh(),
                _ => {}
            }
            line.clear();
            write_order(&mut line, &bad);
            if kind == Kind::WrongColumnCount {
                break_columns(&mut line, &mut d.rng);
            }
            out.orders.push_str(&line);
            out.orders.push('\n');
            out.dirty[File::Orders as usize][kind as usize] += 1;
        }

        // --- support_tickets.ndjson ---
        for tk in c.tickets.iter().take_while(|t| t.opened < end_t) {
            counters.tickets += 1;
            let opened_secs = cal.secs(tk.opened);
            let row = TicketRow {
                key: Key::Clean(counters.tickets),
                customer: no,
                opened: Ts::Secs(opened_secs),
                resolved: tk.resolved.map(|r| Ts::Secs(cal.secs(r))),
                channel: tk.channel,
                topic: tk.topic,
                priority: tk.priority,
                csat: tk.csat,
                reopened: tk.reopened,
            };
            line.clear();
            write_ticket(&mut line, &row);
            out.tickets.push_str(&line);
            out.tickets.push('\n');
            let Some(d) = dirt.as_mut() else { continue };
            let Some(mut kind) = d.maybe(TICKET_KINDS) else {
                continue;
            };
            // a ticket opened in the first second of the window cannot be resolved before
            // it inside the window: duplicate it instead
            if kind == Kind::ResolvedBeforeOpened && opened_secs <= cal.start_secs {
                kind = Kind::ExactDuplicate;
            }
            let mut bad = row;
            let mut fresh = || {
                counters.injected_keys[File::Tickets as usize] += 1;
                Key::Injected(counters.injected_keys[File::Tickets as usize])
            };
            match kind {
                Kind::UnparseableDate => {
                    bad.key = fresh();
                    bad.opened = Ts::Raw(d.pick(&UNPARSEABLE_DATES));
                    bad.resolved = None;
                }
                Kind::OutOfRangeDate => {
                    bad.key = fresh();
                    bad.opened = Ts::Raw(d.pick(&OUT_OF_RANGE_DATES));
                    bad.resolved = None;
                }
                Kind::CsatOutOfRange => {
                    bad.key = fresh();
                    bad.csat = Some(d.pick(&[0, 7]));
                }
                Kind::ResolvedBeforeOpened => {
                    bad.key = fresh();
                    let back = d
                        .rng
                        .random_range(3600..3 * 86_400)
                        .min(opened_secs - cal.start_secs);
                    bad.resolved = Some(Ts::Secs(opened_secs - back));
                }
                Kind::DuplicateKey => {
                    bad.csat = Some(match row.csat {
                        Some(c) => c % 5 + 1,
                        None => 5,
                    });
                    bad.reopened = row.reopened + 1;
                }
                Kind::UnknownCustomer => {
                    bad.key = fresh();
                    bad.customer = d.unknown_customer();
                }
                Kind::BrokenJson => bad.key = fresh(),
                _ => {}
            }
            line.clear();
            write_ticket(&mut line, &bad);
            if kind == Kind::BrokenJson {
                let cut = line.len() * 2 / 5 + d.rng.random_range(0..(line.len() / 3).max(1));
                line.truncate(cut);
            }
            out.tickets.push_str(&line);
            out.tickets.push('\n');
            out.dirty[File::Tickets as usize][kind as usize] += 1;
        }

        // --- engagement_events ---
        for e in c.events.iter().take_while(|e| e.t < end_t) {
            counters.events += 1;
            let secs = cal.secs(e.t);
            let key = Key::Clean(counters.events);
            events.push(key, &cust_id, secs, e.kind.as_str(), e.channel, e.value);
            let Some(d) = dirt.as_mut() else { continue };
            let Some(kind) = d.maybe(EVENT_KINDS) else {
                continue;
            };
            let mut fresh = || {
                counters.injected_keys[File::Events as usize] += 1;
                Key::Injected(counters.injected_keys[File::Events as usize])
            };
            match kind {
                Kind::OutOfRangeDate => {
                    let s = d.pick(&OUT_OF_RANGE_SECS);
                    events.push(fresh(), &cust_id, s, e.kind.as_str(), e.channel, e.value);
                }
                Kind::ExactDuplicate => {
                    events.push(key, &cust_id, secs, e.kind.as_str(), e.channel, e.value);
                }
                Kind::DuplicateKey => {
                    let (k, ch) = if e.kind == EventType::WebSession {
                        (EventType::AppSession, "app")
                    } else {
                        (EventType::WebSession, "web")
                    };
                    let v = Some(f64::from(d.rng.random_range(1..600u32)) / 10.0);
                    events.push(key, &cust_id, secs, k.as_str(), ch, v);
                }
                Kind::UnknownCustomer => {
                    let mut other = String::new();
                    push_customer_id(&mut other, d.unknown_customer());
                    let k = fresh();
                    events.push(k, &other, secs, e.kind.as_str(), e.channel, e.value);
                }
                _ => {}
            }
            out.dirty[File::Events as usize][kind as usize] += 1;
        }

        // --- contacts.csv ---
        for ct in c.contacts.iter().take_while(|ct| ct.t < end_t) {
            counters.contacts += 1;
            let row = ContactRow {
                customer: no,
                action: ct.action.as_str(),
                at: Ts::Secs(cal.secs(ct.t)),
            };
            line.clear();
            write_contact(&mut line, &row);
            out.contacts.push_str(&line);
            out.contacts.push('\n');
            let Some(d) = dirt.as_mut() else { continue };
            out.last_lines[2] = Some(line.clone());
            let Some(kind) = d.maybe(CONTACT_KINDS) else {
                continue;
            };
            let mut bad = row;
            match kind {
                Kind::UnparseableDate => bad.at = Ts::Raw(d.pick(&UNPARSEABLE_DATES)),
                Kind::OutOfRangeDate => bad.at = Ts::Raw(d.pick(&OUT_OF_RANGE_DATES)),
                Kind::UnknownCustomer => bad.customer = d.unknown_customer(),
                _ => {}
            }
            line.clear();
            write_contact(&mut line, &bad);
            if kind == Kind::WrongColumnCount {
                break_columns(&mut line, &mut d.rng);
            }
            out.contacts.push_str(&line);
            out.contacts.push('\n');
            out.dirty[File::Contacts as usize][kind as usize] += 1;
        }

        // --- _truth/customers.csv ---
        if opts.write_truth {
            let t = &mut out.truth;
            t.push_str(&cust_id);
            t.push(',');
            t.push_str(c.stype.as_str());
            t.push(',');
            push_fixed(t, c.lambda * 365.25, 3);
            t.push(',');
            push_fixed(t, c.dropout_p, 4);
            t.push(',');
            if c.death < end_t {
                push_ts(t, cal.secs(c.death));
            }
            t.push(',');
            push_bool(t, c.ambassador);
            t.push(',');
            let first_in_window = c.orders.first().is_some_and(|o| o.t < end_t);
            push_bool(t, c.bad_first && first_in_window);
            t.push(',');
            push_fixed(t, c.spend, 2);
            t.push(',');
            push_bool(t, c.app_user);
            t.push('\n');
        }
    }
    out.events = events.finish(&ctx.schema)?;
    out.counters = counters;
    Ok(out)
}

/// Convenience for tests and `_synth.json`: `file.kind` keys with non-zero counts.
pub(crate) fn dirty_map(counts: &DirtyCounts) -> std::collections::BTreeMap<String, u64> {
    let mut map = std::collections::BTreeMap::new();
    for file in File::ALL {
        for kind in Kind::ALL {
            let n = counts[file as usize][kind as usize];
            if n > 0 {
                map.insert(format!("{}.{}", file.stem(), kind.as_str()), n);
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_like_chrono() {
        for secs in [
            0i64,
            1_735_914_125,
            1_730_419_200,
            1_793_491_199,
            -62_135_596_800,
            253_402_300_799,
            951_782_400, // 2000-02-29
        ] {
            let mut s = String::new();
            push_ts(&mut s, secs);
            let expected = chrono::DateTime::from_timestamp(secs, 0)
                .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default();
            assert_eq!(s, expected);
        }
    }

    #[test]
    fn numbers_format() {
        let mut s = String::new();
        push_scaled(&mut s, 1234, 2);
        s.push(' ');
        push_scaled(&mut s, -5, 2);
        s.push(' ');
        push_fixed(&mut s, 0.12345, 4);
        s.push(' ');
        push_key(&mut s, File::Orders, Key::Clean(7));
        s.push(' ');
        push_key(&mut s, File::Tickets, Key::Injected(12));
        s.push(' ');
        push_customer_id(&mut s, 12_345_678);
        assert_eq!(s, "12.34 -0.05 0.1235 O00000007 TX0000012 C12345678");
    }

    #[test]
    fn unterminated_line_opens_a_quote() {
        let l = unterminated_line(
            "O00000009,C0000002,2025-01-01T00:00:00Z,completed,1.00,0.00,EUR,web,books,1",
            File::Orders,
            3,
        );
        assert_eq!(
            l,
            "OX00000003,\"C0000002,2025-01-01T00:00:00Z,completed,1.00,0.00,EUR,web,books,1"
        );
    }
}
