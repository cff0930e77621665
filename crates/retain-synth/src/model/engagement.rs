//! Engagement of one simulated customer: email opens and clicks, browsing and app
//! sessions, referrals, reviews, loyalty redemptions and unsubscribes, all fading before
//! dropout (see [`Sim::engagement`]).

use rand::Rng;
use rand_distr::StandardNormal;

use super::params::*;
use super::random::{bernoulli, exp, pick_weighted, session_minutes, uniform};
use super::sim::Sim;
use super::types::{Event, EventType, Status};
use crate::calendar::Action;

impl Sim<'_> {
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

    /// Draw every engagement event at engagement `level` into `c.events`, in time order,
    /// and drop the contacts an unsubscribe stops.
    pub(super) fn engagement(&mut self, t_first: Option<f64>, level: f64) {
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
