//! The generative model: one customer at a time, from their own random stream.
//!
//! Every number that shapes the data is a named constant here; `docs/synthetic-data.md`
//! describes them. Times are `f64` days since `start` (see [`crate::calendar`]).

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp1, Gamma, StandardNormal};

use crate::calendar::{Action, Calendar};

// ---------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------

/// Shopper-type shares: transactional, relational, the rest mixed.
const P_TRANSACTIONAL: f64 = 0.45;
const P_RELATIONAL: f64 = 0.40;
/// Ambassador probability by type (T, R, M).
const P_AMBASSADOR: [f64; 3] = [0.015, 0.075, 0.04];
/// Probability that a (non-ambassador) sign-up never intends to order.
const P_PROSPECT: f64 = 0.21;
/// Share of buyers whose first order is placed in the sign-up session.
const P_CHECKOUT_SIGNUP: f64 = 0.5;
/// Mean delay (days) from sign-up to first order for the others.
const FIRST_ORDER_DELAY_MEAN: f64 = 20.0;

/// Purchase rate λ (orders per day while alive) ~ Gamma(shape, mean).
const LAMBDA_SHAPE: f64 = 1.0;
const LAMBDA_MEAN: f64 = 1.0 / 50.0;
/// λ multiplier by type (T, R, M) and for ambassadors.
const LAMBDA_TYPE: [f64; 3] = [0.95, 1.05, 1.0];
const LAMBDA_AMBASSADOR: f64 = 1.6;
/// Lower bound of λ (one order in ~270 years), keeps every rate positive.
const LAMBDA_FLOOR: f64 = 1e-5;
/// Dropout probability after each purchase p ~ Beta(a, b) (mean a / (a + b) = 0.1), then
/// scaled by affinity (see `DROPOUT_AFFINITY_EXP`).
const DROPOUT_BETA: (f64, f64) = (1.0, 9.0);
const DROPOUT_AMBASSADOR: f64 = 0.3;
/// Dropout after a bad first experience (replaces p for the first order).
const DROPOUT_BAD_FIRST: f64 = 0.85;
/// Extra dropout probability after a later bad order experience.
const DROPOUT_BAD_LATER: f64 = 0.15;
/// Mean delay (days) from the deciding purchase to the dropout time.
const DROPOUT_DELAY_MEAN: f64 = 12.0;

/// Mean order value ~ 10 + Gamma(3, mean 60) EUR, by type (T, R, M) and for ambassadors.
const SPEND_MEAN: f64 = 60.0;
const SPEND_TYPE: [f64; 3] = [0.9, 1.15, 1.0];
const SPEND_AMBASSADOR: f64 = 1.4;
/// Order gross ~ Gamma(5, mean order value).
const ORDER_SHAPE: f64 = 5.0;

/// Probability of a bad first experience (late delivery, return, defect), and for later orders.
const P_BAD_FIRST: f64 = 0.22;
const P_BAD_FIRST_AMBASSADOR: f64 = 0.03;
const P_BAD_LATER: f64 = 0.045;

/// Discount probability by type (T, R, M): normally, and within 10 days after an offer.
const P_DISCOUNT: [f64; 3] = [0.55, 0.08, 0.30];
const P_DISCOUNT_OFFER: [f64; 3] = [0.95, 0.50, 0.80];
const OFFER_DISCOUNT_WINDOW: f64 = 10.0;

/// Response to contacts: purchase intensity × (1 + A·exp(−Δt / 5 days)) for 21 days,
/// A by action and type (T, R, M). The sum over contacts is capped at `BOOST_CAP`.
const BOOST_EXCLUSIVE: [f64; 3] = [4.0, 0.3, 1.5];
const BOOST_WELCOME: [f64; 3] = [3.0, 0.5, 1.5];
const BOOST_NEWSLETTER: [f64; 3] = [0.1, 0.8, 0.4];
const BOOST_WIN_BACK: [f64; 3] = [2.0, 0.5, 1.0];
const BOOST_DECAY: f64 = 5.0;
const BOOST_WINDOW: f64 = 21.0;
const BOOST_CAP: [f64; 3] = [4.0, 1.5, 2.5];

/// Campaign targeting.
const P_WELCOME: f64 = 0.7;
const P_EXCLUSIVE_DEAL_SEEKER: f64 = 0.25;
const P_EXCLUSIVE_OTHER: f64 = 0.08;
const P_NEWSLETTER: f64 = 0.15;
const P_WIN_BACK: f64 = 0.20;
const WIN_BACK_AFTER: f64 = 120.0;

/// Tickets: probability per order (scaled by the service tendency by type T, R, M), per
/// bad order, and the rate (per day) of account/payment tickets not tied to an order.
const P_TICKET_ORDER: f64 = 0.06;
const P_TICKET_BAD: f64 = 0.9;
const SERVICE_TENDENCY: [f64; 3] = [0.8, 1.5, 1.0];
const ACCOUNT_TICKET_RATE: f64 = 1.0 / 700.0;
/// Probability that the handling of an ordinary ticket goes badly.
const P_BAD_SERVICE: f64 = 0.22;
const P_BAD_SERVICE_BAD_ORDER: f64 = 0.85;
/// Dropout hazard of a badly handled ticket: base + low CSAT + unresolved + per reopening.
const HAZARD_BASE: f64 = 0.12;
const HAZARD_LOW_CSAT: f64 = 0.18;
const HAZARD_UNRESOLVED: f64 = 0.20;
const HAZARD_REOPENED: f64 = 0.08;

/// Engagement: days over which engagement fades before dropout (see `Sim::activity`),
/// then the type-specific base rates (events per alive day at full activity; T, R, M).
const FADE_DAYS: f64 = 42.0;
/// Affinity a ~ Gamma(2, mean 1). Engagement level = a × (λ / type mean λ)^this, clamped
/// to [0.2, 4]: engaged customers browse in proportion to how often they buy.
const ENGAGEMENT_LAMBDA_EXP: f64 = 0.8;
/// Dropout probability p × a^(−this) (factor clamped to [0.5, 2]): attached customers stay.
const DROPOUT_AFFINITY_EXP: f64 = 0.4;
const RATE_EMAIL_OPEN: [f64; 3] = [0.03, 0.11, 0.06];
const P_CLICK: [f64; 3] = [0.12, 0.30, 0.20];
const RATE_WEB: [f64; 3] = [0.05, 0.035, 0.045];
const RATE_APP: [f64; 3] = [0.05, 0.06, 0.05];
const P_APP_USER: [f64; 3] = [0.35, 0.45, 0.40];
const P_REVIEW: [f64; 3] = [0.03, 0.15, 0.07];
const P_REVIEW_AMBASSADOR: f64 = 0.5;
const RATE_REFERRAL: f64 = 1.0 / 2500.0;
const RATE_REFERRAL_AMBASSADOR: f64 = 1.0 / 40.0;
const P_LOYALTY_REDEEM: [f64; 3] = [0.2, 0.35, 0.25];
const P_SESSION_BEFORE_ORDER: f64 = 0.75;
/// Unsubscribes: baseline hazard per day, and the chance of one around dropout.
const UNSUB_RATE: f64 = 1.0 / 2500.0;
const P_UNSUB_AT_DROPOUT: f64 = 0.35;

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
const P_BIRTH_MISSING: f64 = 0.15;
const P_EMAIL_OPT_IN: [f64; 3] = [0.6, 0.8, 0.7];
const P_SMS_OPT_IN: [f64; 3] = [0.4, 0.3, 0.35];
const P_LOYALTY: [f64; 3] = [0.10, 0.45, 0.25];
const P_LOYALTY_AMBASSADOR: f64 = 0.8;
/// Sign-ups grow linearly over the window: density ∝ 1 + SIGNUP_GROWTH · u.
const SIGNUP_GROWTH: f64 = 0.4;

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

// ---------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------

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
    pub bad_first: bool,
    // observed
    pub orders: Vec<Order>,
    pub tickets: Vec<Ticket>,
    pub events: Vec<Event>,
    pub contacts: Vec<Contact>,
}

fn exp(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    let e: f64 = rng.sample(Exp1);
    e * mean
}

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

fn bernoulli(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// Poisson draw for small means (Knuth).
fn poisson_small(rng: &mut ChaCha8Rng, mean: f64) -> u32 {
    let limit = (-mean).exp();
    let mut k = 0;
    let mut prod = rng.random::<f64>();
    while prod > limit && k < 50 {
        k += 1;
        prod *= rng.random::<f64>();
    }
    k
}

fn pick_weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, f64)]) -> T {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut u = rng.random::<f64>() * total;
    for &(item, w) in items {
        if u < w {
            return item;
        }
        u -= w;
    }
    items[items.len() - 1].0
}

/// Distributions built once (their parameters are constants).
#[derive(Debug)]
pub(crate) struct Model {
    lambda: Gamma<f64>,
    dropout: Beta<f64>,
    spend: Gamma<f64>,
    order: Gamma<f64>,
    engagement: Gamma<f64>,
}

impl Model {
    pub(crate) fn new() -> Result<Self, String> {
        Ok(Model {
            lambda: Gamma::new(LAMBDA_SHAPE, 1.0).map_err(|e| e.to_string())?,
            dropout: Beta::new(DROPOUT_BETA.0, DROPOUT_BETA.1).map_err(|e| e.to_string())?,
            spend: Gamma::new(3.0, 1.0).map_err(|e| e.to_string())?,
            order: Gamma::new(ORDER_SHAPE, 1.0).map_err(|e| e.to_string())?,
            engagement: Gamma::new(2.0, 1.0).map_err(|e| e.to_string())?,
        })
    }
}

/// The random stream of customer `idx`: independent of how customers are chunked.
pub(crate) fn customer_rng(seed: u64, idx: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(idx);
    rng
}

/// State of the purchase/dropout simulation of one customer.
struct Sim<'a> {
    rng: ChaCha8Rng,
    cal: &'a Calendar,
    ti: usize,
    c: Customer,
    n_orders: u32,
    n_discounted: u32,
    last_order: f64,
    /// (time, boost amplitude, is an offer) of contacts received.
    boosts: Vec<(f64, f64, bool)>,
    boost_cap: f64,
}

pub(crate) fn simulate(model: &Model, cal: &Calendar, seed: u64, idx: u64) -> Customer {
    let mut rng = customer_rng(seed, idx);

    // --- attributes and latent variables ---
    let u: f64 = rng.random();
    let stype = if u < P_TRANSACTIONAL {
        ShopperType::Transactional
    } else if u < P_TRANSACTIONAL + P_RELATIONAL {
        ShopperType::Relational
    } else {
        ShopperType::Mixed
    };
    let ti = stype as usize;
    let ambassador = bernoulli(&mut rng, P_AMBASSADOR[ti]);
    let prospect = !ambassador && bernoulli(&mut rng, P_PROSPECT);

    // sign-up: density ∝ 1 + g·u over [0, days)
    let v: f64 = rng.random();
    let g = SIGNUP_GROWTH;
    let frac = ((1.0 + 2.0 * g * v * (1.0 + g / 2.0)).sqrt() - 1.0) / g;
    let signup = (frac * cal.days).clamp(0.0, cal.days - 1e-6);

    let country = pick_weighted(&mut rng, &COUNTRIES);
    let birth_missing = bernoulli(&mut rng, P_BIRTH_MISSING);
    let z: f64 = rng.sample(StandardNormal);
    let age_years = (38.0 + 13.0 * z).clamp(18.0, 85.0);
    let birth_offset_days = (!birth_missing)
        .then(|| (signup - age_years * 365.25 - uniform(&mut rng, 0.0, 365.0)).floor() as i64);
    let email_opt_in = bernoulli(&mut rng, P_EMAIL_OPT_IN[ti]);
    let sms_opt_in = bernoulli(&mut rng, P_SMS_OPT_IN[ti]);
    let loyalty_member = if ambassador {
        bernoulli(&mut rng, P_LOYALTY_AMBASSADOR)
    } else {
        bernoulli(&mut rng, P_LOYALTY[ti])
    };
    let app_user = bernoulli(&mut rng, P_APP_USER[ti]);

    let mut lambda = model.lambda.sample(&mut rng) * LAMBDA_MEAN / LAMBDA_SHAPE * LAMBDA_TYPE[ti];
    let mut dropout_p = model.dropout.sample(&mut rng);
    let mut spend = 10.0 + model.spend.sample(&mut rng) * SPEND_MEAN / 3.0 * SPEND_TYPE[ti];
    lambda = lambda.max(LAMBDA_FLOOR);
    if ambassador {
        lambda *= LAMBDA_AMBASSADOR;
        dropout_p *= DROPOUT_AMBASSADOR;
        spend *= SPEND_AMBASSADOR;
    }
    // affinity with the shop (mean 1): attached customers drop out less, and engaged
    // customers browse in proportion to how often they buy
    let affinity = model.engagement.sample(&mut rng) / 2.0;
    dropout_p = (dropout_p * affinity.powf(-DROPOUT_AFFINITY_EXP).clamp(0.5, 2.0)).min(0.95);
    let engagement = affinity
        * (lambda / (LAMBDA_MEAN * LAMBDA_TYPE[ti]))
            .powf(ENGAGEMENT_LAMBDA_EXP)
            .clamp(0.2, 4.0);
    let favourite = rng.random_range(0..CATEGORIES.len());
    let bad_first_draw = bernoulli(
        &mut rng,
        if ambassador {
            P_BAD_FIRST_AMBASSADOR
        } else {
            P_BAD_FIRST
        },
    );
    let first_delay = if bernoulli(&mut rng, P_CHECKOUT_SIGNUP) {
        uniform(&mut rng, 2.0, 40.0) / 1440.0
    } else {
        exp(&mut rng, FIRST_ORDER_DELAY_MEAN)
    };
    let t_first = (!prospect).then_some(signup + first_delay);

    let customer = Customer {
        signup,
        country,
        birth_offset_days,
        email_opt_in,
        sms_opt_in,
        loyalty_member,
        stype,
        ambassador,
        app_user,
        lambda,
        dropout_p,
        spend,
        death: f64::INFINITY,
        bad_first: false,
        orders: Vec::new(),
        tickets: Vec::new(),
        events: Vec::new(),
        contacts: Vec::new(),
    };
    let mut sim = Sim {
        rng,
        cal,
        ti,
        c: customer,
        n_orders: 0,
        n_discounted: 0,
        last_order: f64::NEG_INFINITY,
        boosts: Vec::new(),
        boost_cap: BOOST_CAP[ti],
    };
    sim.run(t_first, bad_first_draw, favourite, model);
    sim.engagement(t_first, engagement);
    sim.c
}

impl Sim<'_> {
    fn run(&mut self, t_first: Option<f64>, bad_first: bool, favourite: usize, model: &Model) {
        let cal = self.cal;
        let horizon = cal.horizon;
        let bound = cal.max_factor * (1.0 + self.boost_cap);
        let rate_max = self.c.lambda * bound;
        let mut next_purchase = t_first.unwrap_or(f64::INFINITY);
        let mut first_pending = t_first.is_some();
        let acct_rate = ACCOUNT_TICKET_RATE * SERVICE_TENDENCY[self.ti];
        let mut next_acct = match t_first {
            Some(t) => t + exp(&mut self.rng, 1.0 / acct_rate),
            None => f64::INFINITY,
        };
        let mut ci = cal.campaigns.partition_point(|c| c.t < self.c.signup);

        loop {
            let tc = cal.campaigns.get(ci).map_or(f64::INFINITY, |c| c.t);
            let t = next_purchase.min(next_acct).min(tc);
            if t >= horizon {
                break;
            }
            if t == tc {
                let action = cal.campaigns[ci].action;
                self.campaign(t, action);
                ci += 1;
            } else if t == next_acct {
                if t < self.c.death {
                    let topic = if bernoulli(&mut self.rng, 0.5) {
                        "account"
                    } else {
                        "payment"
                    };
                    let bad = bernoulli(&mut self.rng, P_BAD_SERVICE);
                    self.ticket(t, topic, bad, true);
                    next_acct = t + exp(&mut self.rng, 1.0 / acct_rate);
                } else {
                    next_acct = f64::INFINITY;
                }
            } else if first_pending {
                first_pending = false;
                self.purchase(t, Some(bad_first), favourite, model);
                next_purchase = t + exp(&mut self.rng, 1.0 / rate_max);
            } else if t < self.c.death {
                let accept = self.cal.purchase_factor(t) * self.boost(t);
                if self.rng.random::<f64>() * bound < accept {
                    self.purchase(t, None, favourite, model);
                }
                next_purchase = t + exp(&mut self.rng, 1.0 / rate_max);
            } else {
                next_purchase = f64::INFINITY;
            }
        }
        self.c.tickets.sort_by(|a, b| a.opened.total_cmp(&b.opened));
        self.c.contacts.sort_by(|a, b| a.t.total_cmp(&b.t));
    }

    fn boost(&self, t: f64) -> f64 {
        let mut sum = 0.0;
        for &(tc, amp, _) in self.boosts.iter().rev() {
            let dt = t - tc;
            if dt >= BOOST_WINDOW {
                break;
            }
            if dt >= 0.0 {
                sum += amp * (-dt / BOOST_DECAY).exp();
            }
        }
        1.0 + sum.min(self.boost_cap)
    }

    fn in_offer_window(&self, t: f64) -> bool {
        self.boosts
            .iter()
            .rev()
            .take_while(|&&(tc, _, _)| t - tc < BOOST_WINDOW)
            .any(|&(tc, _, offer)| offer && t >= tc && t - tc < OFFER_DISCOUNT_WINDOW)
    }

    fn contact(&mut self, t: f64, action: Action) {
        let amp = match action {
            Action::WelcomeOffer => BOOST_WELCOME,
            Action::ExclusiveOffer => BOOST_EXCLUSIVE,
            Action::PersonalNewsletter => BOOST_NEWSLETTER,
            Action::WinBack => BOOST_WIN_BACK,
        }[self.ti];
        self.c.contacts.push(Contact { t, action });
        // keep `boosts` sorted by time (a welcome offer is scheduled a few days ahead)
        let pos = self.boosts.partition_point(|b| b.0 <= t);
        self.boosts.insert(pos, (t, amp, action.is_offer()));
    }

    fn campaign(&mut self, t: f64, action: Action) {
        let consent = self.c.email_opt_in || self.c.sms_opt_in;
        let hit = match action {
            Action::ExclusiveOffer if consent && self.n_orders >= 1 => {
                let deal_seeker = self.n_discounted * 2 >= self.n_orders;
                bernoulli(
                    &mut self.rng,
                    if deal_seeker {
                        P_EXCLUSIVE_DEAL_SEEKER
                    } else {
                        P_EXCLUSIVE_OTHER
                    },
                )
            }
            Action::PersonalNewsletter if self.c.email_opt_in => {
                bernoulli(&mut self.rng, P_NEWSLETTER)
            }
            Action::WinBack
                if consent && self.n_orders >= 1 && t - self.last_order > WIN_BACK_AFTER =>
            {
                bernoulli(&mut self.rng, P_WIN_BACK)
            }
            _ => false,
        };
        if hit {
            self.contact(t, action);
        }
    }

    /// One purchase at `t`. `first` carries the bad-first-experience draw for the first order.
    fn purchase(&mut self, t: f64, first: Option<bool>, favourite: usize, model: &Model) {
        let ti = self.ti;
        self.n_orders += 1;
        self.last_order = t;
        let bad = match first {
            Some(b) => {
                self.c.bad_first = b;
                b
            }
            None => bernoulli(
                &mut self.rng,
                P_BAD_LATER * if self.c.ambassador { 0.5 } else { 1.0 },
            ),
        };
        let offer = self.in_offer_window(t);
        let p_disc = if offer {
            P_DISCOUNT_OFFER[ti]
        } else {
            P_DISCOUNT[ti]
        };
        let gross = (model.order.sample(&mut self.rng) * self.c.spend / ORDER_SHAPE).max(4.99);
        let gross_cents = (gross * 100.0).round() as i64;
        let discount_cents = if bernoulli(&mut self.rng, p_disc) {
            let frac = if ti == ShopperType::Transactional as usize {
                uniform(&mut self.rng, 0.10, 0.35)
            } else {
                uniform(&mut self.rng, 0.05, 0.20)
            };
            ((gross_cents as f64) * frac).round() as i64
        } else {
            0
        };
        if discount_cents > 0 {
            self.n_discounted += 1;
        }
        let items = 1 + poisson_small(&mut self.rng, (gross / 45.0 - 0.5).max(0.1));
        let p_market = [0.18, 0.04, 0.10][ti];
        let channel = if bernoulli(&mut self.rng, p_market) {
            "marketplace"
        } else if bernoulli(&mut self.rng, if self.c.app_user { 0.6 } else { 0.05 }) {
            "app"
        } else {
            "web"
        };
        let category = if bernoulli(&mut self.rng, 0.6) {
            CATEGORIES[favourite]
        } else {
            CATEGORIES[self.rng.random_range(0..CATEGORIES.len())]
        };
        let status = if bad {
            pick_weighted(
                &mut self.rng,
                &[
                    (Status::Returned, 0.45),
                    (Status::Refunded, 0.20),
                    (Status::Completed, 0.30),
                    (Status::Cancelled, 0.05),
                ],
            )
        } else {
            pick_weighted(
                &mut self.rng,
                &[
                    (Status::Completed, 0.89),
                    (Status::Cancelled, 0.04),
                    (Status::Returned, 0.045),
                    (Status::Refunded, 0.025),
                ],
            )
        };
        self.c.orders.push(Order {
            t,
            status,
            gross_cents,
            discount_cents,
            channel,
            category,
            items,
        });

        // support ticket about this order
        let p_ticket = if bad {
            P_TICKET_BAD
        } else {
            P_TICKET_ORDER * SERVICE_TENDENCY[ti]
        };
        if bernoulli(&mut self.rng, p_ticket) {
            let (topic, delay) = match status {
                Status::Returned => ("return", uniform(&mut self.rng, 5.0, 25.0)),
                Status::Refunded => ("product", uniform(&mut self.rng, 2.0, 20.0)),
                Status::Cancelled => ("payment", uniform(&mut self.rng, 0.05, 2.0)),
                Status::Completed => {
                    if bernoulli(&mut self.rng, 0.7) {
                        ("delivery", uniform(&mut self.rng, 3.0, 10.0))
                    } else {
                        ("product", uniform(&mut self.rng, 2.0, 20.0))
                    }
                }
            };
            let bad_service = bernoulli(
                &mut self.rng,
                if bad {
                    P_BAD_SERVICE_BAD_ORDER
                } else {
                    P_BAD_SERVICE
                },
            );
            // the first order's dropout already accounts for a bad first experience
            let hazard = !(first.is_some() && bad);
            self.ticket(t + delay, topic, bad_service, hazard);
        }

        // dropout decision (BG/NBD: after each purchase)
        let p = match first {
            Some(true) => DROPOUT_BAD_FIRST,
            Some(false) => self.c.dropout_p,
            None if bad => (self.c.dropout_p + DROPOUT_BAD_LATER).min(1.0),
            None => self.c.dropout_p,
        };
        if bernoulli(&mut self.rng, p) {
            let d = t + exp(&mut self.rng, DROPOUT_DELAY_MEAN);
            self.c.death = self.c.death.min(d);
        }

        // welcome offer after the first order
        if first.is_some()
            && (self.c.email_opt_in || self.c.sms_opt_in)
            && bernoulli(&mut self.rng, P_WELCOME)
        {
            let tw = t + uniform(&mut self.rng, 1.0, 4.0);
            self.contact(tw, Action::WelcomeOffer);
        }
    }

    fn ticket(&mut self, opened: f64, topic: &'static str, bad: bool, hazard: bool) {
        let rng = &mut self.rng;
        let channel = pick_weighted(
            rng,
            &[
                ("email", 0.45),
                ("chat", 0.35),
                ("phone", if self.ti == 1 { 0.35 } else { 0.2 }),
            ],
        );
        let priority = if topic == "payment" || (bad && bernoulli(rng, 0.3)) {
            "high"
        } else if bernoulli(rng, 0.3) {
            "low"
        } else {
            "normal"
        };
        let csat = if bernoulli(rng, if bad { 0.3 } else { 0.4 }) {
            None
        } else if bad {
            Some(pick_weighted(rng, &[(1u8, 0.5), (2, 0.35), (3, 0.15)]))
        } else {
            Some(pick_weighted(rng, &[(3u8, 0.1), (4, 0.35), (5, 0.55)]))
        };
        let reopened = poisson_small(rng, if bad { 0.7 } else { 0.04 });
        let unresolved = bernoulli(rng, if bad { 0.25 } else { 0.03 });
        let mean_resolve = match channel {
            "chat" => 0.3,
            "phone" => 0.5,
            _ => 1.5,
        } * if bad { 3.0 } else { 1.0 };
        let mut resolve = exp(rng, mean_resolve);
        for _ in 0..reopened {
            resolve += exp(rng, 2.0);
        }
        let resolved = (!unresolved)
            .then_some(opened + resolve.max(5.0 / 1440.0))
            .filter(|&r| r < self.cal.days);
        if hazard && bad {
            let mut h = HAZARD_BASE;
            if csat.is_some_and(|c| c <= 2) {
                h += HAZARD_LOW_CSAT;
            }
            if unresolved {
                h += HAZARD_UNRESOLVED;
            }
            h += HAZARD_REOPENED * f64::from(reopened.min(3));
            if self.c.ambassador {
                h *= 0.4;
            }
            if bernoulli(rng, h) {
                let d = opened + uniform(rng, 3.0, 35.0);
                self.c.death = self.c.death.min(d);
            }
        }
        self.c.tickets.push(Ticket {
            opened,
            resolved,
            channel,
            topic,
            priority,
            csat,
            reopened,
        });
    }

    /// Engagement level in [0, 1] at `t`: full while alive, fading over the weeks before
    /// dropout, near zero after it.
    fn activity(&self, t: f64, t_first: Option<f64>) -> f64 {
        let death = self.c.death;
        match t_first {
            None => 0.08 + 0.92 * (-(t - self.c.signup) / 30.0).exp(),
            Some(t1) if t < t1 => 0.6,
            Some(_) if t < death - FADE_DAYS => 1.0,
            Some(_) if t < death => 0.5 + 0.5 * (death - t) / FADE_DAYS,
            Some(_) => 0.12 + 0.25 * (-(t - death) / 30.0).exp(),
        }
    }

    /// A Poisson process of `rate` events per day at full activity over `[from, to)`,
    /// thinned by activity and hour of day.
    fn process(&mut self, rate: f64, from: f64, to: f64, t_first: Option<f64>) -> Vec<f64> {
        let mut out = Vec::new();
        if rate <= 0.0 || from >= to {
            return out;
        }
        let hour_max = self.cal.hour_max;
        let cand_rate = rate * hour_max;
        let mut t = from + exp(&mut self.rng, 1.0 / cand_rate);
        while t < to {
            let accept = self.activity(t, t_first) * self.cal.hour_factor(t) / hour_max;
            if self.rng.random::<f64>() < accept {
                out.push(t);
            }
            t += exp(&mut self.rng, 1.0 / cand_rate);
        }
        out
    }

    fn engagement(&mut self, t_first: Option<f64>, level: f64) {
        let ti = self.ti;
        let app_user = self.c.app_user;
        let end = self.cal.days;
        let s = self.c.signup;
        let death = self.c.death;
        let mut events: Vec<Event> = Vec::new();

        // unsubscribe
        let mut unsub = f64::INFINITY;
        if self.c.email_opt_in {
            unsub = s + exp(&mut self.rng, 1.0 / UNSUB_RATE);
            if t_first.is_none() {
                if bernoulli(&mut self.rng, 0.15) {
                    unsub = unsub.min(s + exp(&mut self.rng, 60.0));
                }
            } else if death.is_finite() && bernoulli(&mut self.rng, P_UNSUB_AT_DROPOUT) {
                let z: f64 = self.rng.sample(StandardNormal);
                unsub = unsub.min((death - 5.0 + 12.0 * z).max(s + 0.01));
            }
            if unsub < end {
                events.push(Event {
                    t: unsub,
                    kind: EventType::Unsubscribe,
                    channel: "email",
                    value: None,
                });
            }
        }

        // email opens and clicks
        if self.c.email_opt_in {
            let opens = self.process(RATE_EMAIL_OPEN[ti] * level, s, unsub.min(end), t_first);
            for t in opens {
                events.push(Event {
                    t,
                    kind: EventType::EmailOpen,
                    channel: "email",
                    value: None,
                });
                if bernoulli(&mut self.rng, P_CLICK[ti]) {
                    let tc = t + uniform(&mut self.rng, 0.5, 15.0) / 1440.0;
                    if tc < end && tc < unsub {
                        events.push(Event {
                            t: tc,
                            kind: EventType::EmailClick,
                            channel: "email",
                            value: None,
                        });
                    }
                }
            }
        }

        // browsing sessions
        for t in self.process(RATE_WEB[ti] * level, s, end, t_first) {
            let minutes = session_minutes(&mut self.rng, 5.0);
            events.push(Event {
                t,
                kind: EventType::WebSession,
                channel: "web",
                value: Some(minutes),
            });
        }
        if app_user {
            for t in self.process(RATE_APP[ti] * level, s, end, t_first) {
                let minutes = session_minutes(&mut self.rng, 4.0);
                events.push(Event {
                    t,
                    kind: EventType::AppSession,
                    channel: "app",
                    value: Some(minutes),
                });
            }
        }

        // referrals
        if let Some(t1) = t_first {
            let rate = if self.c.ambassador {
                RATE_REFERRAL_AMBASSADOR
            } else {
                RATE_REFERRAL
            };
            for t in self.process(rate, t1, end, t_first) {
                let channel = if app_user { "app" } else { "web" };
                events.push(Event {
                    t,
                    kind: EventType::Referral,
                    channel,
                    value: None,
                });
            }
        }

        // order-linked: session before the order, loyalty redemption, review after it
        let orders = std::mem::take(&mut self.c.orders);
        for (i, o) in orders.iter().enumerate() {
            if o.t >= end {
                break;
            }
            if o.channel != "marketplace" && bernoulli(&mut self.rng, P_SESSION_BEFORE_ORDER) {
                let ts = (o.t - uniform(&mut self.rng, 2.0, 40.0) / 1440.0).max(s);
                let minutes = session_minutes(&mut self.rng, 12.0);
                let (kind, channel) = if o.channel == "app" {
                    (EventType::AppSession, "app")
                } else {
                    (EventType::WebSession, "web")
                };
                events.push(Event {
                    t: ts,
                    kind,
                    channel,
                    value: Some(minutes),
                });
            }
            if self.c.loyalty_member
                && o.status == Status::Completed
                && bernoulli(&mut self.rng, P_LOYALTY_REDEEM[ti])
            {
                let gross = o.gross_cents as f64 / 100.0;
                let value =
                    (uniform(&mut self.rng, 5.0, 25.0).min(gross * 0.2) * 100.0).round() / 100.0;
                let tr = o.t + 1.0 / 1440.0;
                if tr < end {
                    events.push(Event {
                        t: tr,
                        kind: EventType::LoyaltyRedeem,
                        channel: if o.channel == "app" { "app" } else { "web" },
                        value: Some(value),
                    });
                }
            }
            let p_review = if self.c.ambassador {
                P_REVIEW_AMBASSADOR
            } else {
                P_REVIEW[ti]
            };
            if matches!(o.status, Status::Completed | Status::Returned)
                && bernoulli(&mut self.rng, p_review)
            {
                let tr = o.t + uniform(&mut self.rng, 3.0, 21.0);
                let unhappy = (i == 0 && self.c.bad_first) || o.status == Status::Returned;
                let stars = if unhappy {
                    pick_weighted(&mut self.rng, &[(1.0, 0.5), (2.0, 0.3), (3.0, 0.2)])
                } else {
                    pick_weighted(
                        &mut self.rng,
                        &[
                            (5.0, 0.5),
                            (4.0, 0.3),
                            (3.0, 0.12),
                            (2.0, 0.05),
                            (1.0, 0.03),
                        ],
                    )
                };
                if tr < end {
                    events.push(Event {
                        t: tr,
                        kind: EventType::Review,
                        channel: if app_user { "app" } else { "web" },
                        value: Some(stars),
                    });
                }
            }
        }
        self.c.orders = orders;

        // contacts after an unsubscribe: newsletters stop; offers continue only by SMS
        if unsub.is_finite() {
            let sms = self.c.sms_opt_in;
            self.c
                .contacts
                .retain(|c| c.t <= unsub || (sms && c.action != Action::PersonalNewsletter));
        }

        events.sort_by(|a, b| a.t.total_cmp(&b.t));
        self.c.events = events;
    }
}

/// Session length in minutes ~ LogNormal around `median`, two decimals.
fn session_minutes(rng: &mut ChaCha8Rng, median: f64) -> f64 {
    let z: f64 = rng.sample(StandardNormal);
    let m = (median * (0.7 * z).exp()).clamp(0.2, 240.0);
    (m * 100.0).round() / 100.0
}
