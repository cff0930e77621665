//! The purchase and dropout simulation of one customer ([`Sim`]): purchases thinned by
//! the calendar and by contacts' boosts, campaign targeting, orders with their support
//! tickets, and the dropout decisions (BG/NBD: after each purchase, and after a badly
//! handled ticket).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::Distribution;

use super::params::*;
use super::random::{Model, bernoulli, exp, pick_weighted, poisson_small, uniform};
use super::types::{Contact, Customer, DeathCause, Order, ShopperType, Status, Ticket};
use crate::calendar::{Action, Calendar};

/// State of the purchase/dropout simulation of one customer.
pub(super) struct Sim<'a> {
    pub(super) rng: ChaCha8Rng,
    pub(super) cal: &'a Calendar,
    /// Shopper type as an index into the parameter arrays.
    pub(super) ti: usize,
    pub(super) c: Customer,
    n_orders: u32,
    n_discounted: u32,
    last_order: f64,
    /// (time, boost amplitude, is an offer) of contacts received.
    boosts: Vec<(f64, f64, bool)>,
    boost_cap: f64,
}

impl<'a> Sim<'a> {
    /// A customer drawn at sign-up (no orders yet), of shopper type index `ti`.
    pub(super) fn new(rng: ChaCha8Rng, cal: &'a Calendar, ti: usize, c: Customer) -> Self {
        Sim {
            rng,
            cal,
            ti,
            c,
            n_orders: 0,
            n_discounted: 0,
            last_order: f64::NEG_INFINITY,
            boosts: Vec::new(),
            boost_cap: BOOST_CAP[ti],
        }
    }

    /// Purchases, tickets and contacts up to the calendar's horizon.
    pub(super) fn run(
        &mut self,
        t_first: Option<f64>,
        bad_first: bool,
        favourite: usize,
        model: &Model,
    ) {
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
            let cause = if bad {
                DeathCause::BadOrder
            } else {
                DeathCause::Dropout
            };
            self.die(d, cause);
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

    /// Drop out at `d` unless an earlier dropout is already drawn; the earliest one's
    /// cause is the customer's.
    fn die(&mut self, d: f64, cause: DeathCause) {
        if d < self.c.death {
            self.c.death = d;
            self.c.death_cause = cause;
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
                self.die(d, DeathCause::Service);
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
}
