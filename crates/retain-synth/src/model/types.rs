//! What a simulated customer is and did: shopper types, order statuses, event types and
//! the [`Customer`] record with its orders, tickets, events and contacts.

use crate::calendar::Action;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShopperType {
    Transactional = 0,
    Relational = 1,
    Mixed = 2,
}

impl ShopperType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ShopperType::Transactional => "transactional",
            ShopperType::Relational => "relational",
            ShopperType::Mixed => "mixed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Completed,
    Cancelled,
    Refunded,
    Returned,
}

impl Status {
    pub(crate) const ALL: [Status; 4] = [
        Status::Completed,
        Status::Cancelled,
        Status::Refunded,
        Status::Returned,
    ];
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
            Status::Refunded => "refunded",
            Status::Returned => "returned",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    EmailOpen,
    EmailClick,
    WebSession,
    AppSession,
    Review,
    Referral,
    Unsubscribe,
    LoyaltyRedeem,
}

impl EventType {
    #[cfg(test)]
    pub(crate) const ALL: [EventType; 8] = [
        EventType::EmailOpen,
        EventType::EmailClick,
        EventType::WebSession,
        EventType::AppSession,
        EventType::Review,
        EventType::Referral,
        EventType::Unsubscribe,
        EventType::LoyaltyRedeem,
    ];
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::EmailOpen => "email_open",
            EventType::EmailClick => "email_click",
            EventType::WebSession => "web_session",
            EventType::AppSession => "app_session",
            EventType::Review => "review",
            EventType::Referral => "referral",
            EventType::Unsubscribe => "unsubscribe",
            EventType::LoyaltyRedeem => "loyalty_redeem",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub t: f64,
    pub status: Status,
    pub gross_cents: i64,
    pub discount_cents: i64,
    pub channel: &'static str,
    pub category: &'static str,
    pub items: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    pub opened: f64,
    /// `None`: not resolved (or resolved after the export window).
    pub resolved: Option<f64>,
    pub channel: &'static str,
    pub topic: &'static str,
    pub priority: &'static str,
    pub csat: Option<u8>,
    pub reopened: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub t: f64,
    pub kind: EventType,
    pub channel: &'static str,
    pub value: Option<f64>,
}

#[derive(Debug, Clone)]
pub(crate) struct Contact {
    pub t: f64,
    pub action: Action,
}

/// One simulated customer: attributes, latent variables and everything they did.
/// Vectors are in time order and may contain items at or after the end of the window
/// (the writer drops those).
#[derive(Debug, Clone)]
pub(crate) struct Customer {
    pub signup: f64,
    pub country: &'static str,
    /// Days since `start` of the birth date (negative), `None` when missing.
    pub birth_offset_days: Option<i64>,
    pub email_opt_in: bool,
    pub sms_opt_in: bool,
    pub loyalty_member: bool,
    // latent
    pub stype: ShopperType,
    pub ambassador: bool,
    /// Uses the app (app sessions, app orders).
    pub app_user: bool,
    /// Orders per day while alive.
    pub lambda: f64,
    /// Dropout probability after each purchase.
    pub dropout_p: f64,
    /// Mean order value in EUR.
    pub spend: f64,
    /// Dropout time (`INFINITY`: alive at the end of the simulation).
    pub death: f64,
    /// What set `death` (meaningless while it is `INFINITY`).
    pub death_cause: DeathCause,
    pub bad_first: bool,
    // observed
    pub orders: Vec<Order>,
    pub tickets: Vec<Ticket>,
    pub events: Vec<Event>,
    pub contacts: Vec<Contact>,
}

/// Why a customer dropped out: the ground truth that reason codes are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeathCause {
    /// The BG/NBD dropout draw after a purchase that went well.
    Dropout,
    /// The dropout draw after a bad order (a bad first experience, or a bad later order
    /// that raised the dropout probability).
    BadOrder,
    /// The hazard of a badly handled support ticket (low rating, unresolved, reopened).
    Service,
}

impl DeathCause {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dropout => "dropout",
            Self::BadOrder => "bad_order",
            Self::Service => "service",
        }
    }
}
