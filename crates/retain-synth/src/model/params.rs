//! Every number that shapes the data, as named constants; `docs/synthetic-data.md`
//! describes them. Arrays of three are by shopper type (transactional, relational, mixed).

/// Shopper-type shares: transactional, relational, the rest mixed.
pub(super) const P_TRANSACTIONAL: f64 = 0.45;
pub(super) const P_RELATIONAL: f64 = 0.40;
/// Ambassador probability by type (T, R, M).
pub(super) const P_AMBASSADOR: [f64; 3] = [0.015, 0.075, 0.04];
/// Probability that a (non-ambassador) sign-up never intends to order.
pub(super) const P_PROSPECT: f64 = 0.21;
/// Share of buyers whose first order is placed in the sign-up session.
pub(super) const P_CHECKOUT_SIGNUP: f64 = 0.5;
/// Mean delay (days) from sign-up to first order for the others.
pub(super) const FIRST_ORDER_DELAY_MEAN: f64 = 20.0;

/// Purchase rate λ (orders per day while alive) ~ Gamma(shape, mean).
pub(super) const LAMBDA_SHAPE: f64 = 1.0;
pub(super) const LAMBDA_MEAN: f64 = 1.0 / 50.0;
/// λ multiplier by type (T, R, M) and for ambassadors.
pub(super) const LAMBDA_TYPE: [f64; 3] = [0.95, 1.05, 1.0];
pub(super) const LAMBDA_AMBASSADOR: f64 = 1.6;
/// Lower bound of λ (one order in ~270 years), keeps every rate positive.
pub(super) const LAMBDA_FLOOR: f64 = 1e-5;
/// Dropout probability after each purchase p ~ Beta(a, b) (mean a / (a + b) = 0.1), then
/// scaled by affinity (see `DROPOUT_AFFINITY_EXP`).
pub(super) const DROPOUT_BETA: (f64, f64) = (1.0, 9.0);
pub(super) const DROPOUT_AMBASSADOR: f64 = 0.3;
/// Dropout after a bad first experience (replaces p for the first order).
pub(super) const DROPOUT_BAD_FIRST: f64 = 0.85;
/// Extra dropout probability after a later bad order experience.
pub(super) const DROPOUT_BAD_LATER: f64 = 0.15;
/// Mean delay (days) from the deciding purchase to the dropout time.
pub(super) const DROPOUT_DELAY_MEAN: f64 = 12.0;

/// Mean order value ~ 10 + Gamma(3, mean 60) EUR, by type (T, R, M) and for ambassadors.
pub(super) const SPEND_MEAN: f64 = 60.0;
pub(super) const SPEND_TYPE: [f64; 3] = [0.9, 1.15, 1.0];
pub(super) const SPEND_AMBASSADOR: f64 = 1.4;
/// Order gross ~ Gamma(5, mean order value).
pub(super) const ORDER_SHAPE: f64 = 5.0;

/// Probability of a bad first experience (late delivery, return, defect), and for later orders.
pub(super) const P_BAD_FIRST: f64 = 0.22;
pub(super) const P_BAD_FIRST_AMBASSADOR: f64 = 0.03;
pub(super) const P_BAD_LATER: f64 = 0.045;

/// Discount probability by type (T, R, M): normally, and within 10 days after an offer.
pub(super) const P_DISCOUNT: [f64; 3] = [0.55, 0.08, 0.30];
pub(super) const P_DISCOUNT_OFFER: [f64; 3] = [0.95, 0.50, 0.80];
pub(super) const OFFER_DISCOUNT_WINDOW: f64 = 10.0;

/// Response to contacts: purchase intensity × (1 + A·exp(−Δt / 5 days)) for 21 days,
/// A by action and type (T, R, M). The sum over contacts is capped at `BOOST_CAP`.
pub(super) const BOOST_EXCLUSIVE: [f64; 3] = [4.0, 0.3, 1.5];
pub(super) const BOOST_WELCOME: [f64; 3] = [3.0, 0.5, 1.5];
pub(super) const BOOST_NEWSLETTER: [f64; 3] = [0.1, 0.8, 0.4];
pub(super) const BOOST_WIN_BACK: [f64; 3] = [2.0, 0.5, 1.0];
pub(super) const BOOST_DECAY: f64 = 5.0;
pub(super) const BOOST_WINDOW: f64 = 21.0;
pub(super) const BOOST_CAP: [f64; 3] = [4.0, 1.5, 2.5];

/// Campaign targeting.
pub(super) const P_WELCOME: f64 = 0.7;
pub(super) const P_EXCLUSIVE_DEAL_SEEKER: f64 = 0.25;
pub(super) const P_EXCLUSIVE_OTHER: f64 = 0.08;
pub(super) const P_NEWSLETTER: f64 = 0.15;
pub(super) const P_WIN_BACK: f64 = 0.20;
pub(super) const WIN_BACK_AFTER: f64 = 120.0;

/// Tickets: probability per order (scaled by the service tendency by type T, R, M), per
/// bad order, and the rate (per day) of account/payment tickets not tied to an order.
pub(super) const P_TICKET_ORDER: f64 = 0.06;
pub(super) const P_TICKET_BAD: f64 = 0.9;
pub(super) const SERVICE_TENDENCY: [f64; 3] = [0.8, 1.5, 1.0];
pub(super) const ACCOUNT_TICKET_RATE: f64 = 1.0 / 700.0;
/// Probability that the handling of an ordinary ticket goes badly.
pub(super) const P_BAD_SERVICE: f64 = 0.22;
pub(super) const P_BAD_SERVICE_BAD_ORDER: f64 = 0.85;
/// Dropout hazard of a badly handled ticket: base + low CSAT + unresolved + per reopening.
pub(super) const HAZARD_BASE: f64 = 0.12;
pub(super) const HAZARD_LOW_CSAT: f64 = 0.18;
pub(super) const HAZARD_UNRESOLVED: f64 = 0.20;
pub(super) const HAZARD_REOPENED: f64 = 0.08;

/// Engagement: days over which engagement fades before dropout (see `Sim::activity`),
/// then the type-specific base rates (events per alive day at full activity; T, R, M).
pub(super) const FADE_DAYS: f64 = 42.0;
/// Affinity a ~ Gamma(2, mean 1). Engagement level = a × (λ / type mean λ)^this, clamped
/// to [0.2, 4]: engaged customers browse in proportion to how often they buy.
pub(super) const ENGAGEMENT_LAMBDA_EXP: f64 = 0.8;
/// Dropout probability p × a^(−this) (factor clamped to [0.5, 2]): attached customers stay.
pub(super) const DROPOUT_AFFINITY_EXP: f64 = 0.4;
pub(super) const RATE_EMAIL_OPEN: [f64; 3] = [0.03, 0.11, 0.06];
pub(super) const P_CLICK: [f64; 3] = [0.12, 0.30, 0.20];
pub(super) const RATE_WEB: [f64; 3] = [0.05, 0.035, 0.045];
pub(super) const RATE_APP: [f64; 3] = [0.05, 0.06, 0.05];
pub(super) const P_APP_USER: [f64; 3] = [0.35, 0.45, 0.40];
pub(super) const P_REVIEW: [f64; 3] = [0.03, 0.15, 0.07];
pub(super) const P_REVIEW_AMBASSADOR: f64 = 0.5;
pub(super) const RATE_REFERRAL: f64 = 1.0 / 2500.0;
pub(super) const RATE_REFERRAL_AMBASSADOR: f64 = 1.0 / 40.0;
pub(super) const P_LOYALTY_REDEEM: [f64; 3] = [0.2, 0.35, 0.25];
pub(super) const P_SESSION_BEFORE_ORDER: f64 = 0.75;
/// Unsubscribes: baseline hazard per day, and the chance of one around dropout.
pub(super) const UNSUB_RATE: f64 = 1.0 / 2500.0;
pub(super) const P_UNSUB_AT_DROPOUT: f64 = 0.35;

/// Customer attributes.
pub(crate) const COUNTRIES: [(&str, f64); 8] = [
    ("DE", 0.35),
    ("FR", 0.18),
    ("NL", 0.12),
    ("ES", 0.10),
    ("IT", 0.10),
    ("BE", 0.06),
    ("AT", 0.05),
    ("PL", 0.04),
];
pub(super) const P_BIRTH_MISSING: f64 = 0.15;
pub(super) const P_EMAIL_OPT_IN: [f64; 3] = [0.6, 0.8, 0.7];
pub(super) const P_SMS_OPT_IN: [f64; 3] = [0.4, 0.3, 0.35];
pub(super) const P_LOYALTY: [f64; 3] = [0.10, 0.45, 0.25];
pub(super) const P_LOYALTY_AMBASSADOR: f64 = 0.8;
/// Sign-ups grow linearly over the window: density ∝ 1 + SIGNUP_GROWTH · u.
pub(super) const SIGNUP_GROWTH: f64 = 0.4;

pub(crate) const CATEGORIES: [&str; 8] = [
    "apparel",
    "shoes",
    "beauty",
    "home",
    "electronics",
    "sports",
    "toys",
    "books",
];
