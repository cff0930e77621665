//! One customer from their own random stream: attributes and latent variables drawn at
//! sign-up, then the purchase simulation and the engagement ([`simulate`]).

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::params::*;
use super::random::{Model, bernoulli, customer_rng, exp, pick_weighted, uniform};
use super::sim::Sim;
use super::types::{Customer, DeathCause, ShopperType};
use crate::calendar::Calendar;

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
        death_cause: DeathCause::Dropout,
        bad_first: false,
        orders: Vec::new(),
        tickets: Vec::new(),
        events: Vec::new(),
        contacts: Vec::new(),
    };
    let mut sim = Sim::new(rng, cal, ti, customer);
    sim.run(t_first, bad_first_draw, favourite, model);
    sim.engagement(t_first, engagement);
    sim.c
}
