//! `_truth/customers.csv` (with `write_truth`): the latent variables of every customer,
//! for checking what the models recover.

use super::text::{push_bool, push_fixed, push_ts};
use crate::calendar::Calendar;
use crate::model::Customer;

pub(crate) const TRUTH_HEADER: &str = "customer_id,shopper_type,purchase_rate_per_year,dropout_probability,death_at,ambassador,bad_first_experience,mean_order_value,app_user,death_cause";

/// Append the row of the customer whose id cell is `cust_id` to `t`.
pub(super) fn render(t: &mut String, cal: &Calendar, c: &Customer, cust_id: &str) {
    let end_t = cal.days;
    t.push_str(cust_id);
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
    t.push(',');
    if c.death < end_t {
        t.push_str(c.death_cause.as_str());
    }
    t.push('\n');
}
