//! The generative model: one customer at a time, from their own random stream.
//!
//! Every number that shapes the data is a named constant in [`params`];
//! `docs/synthetic-data.md` describes them. Times are `f64` days since `start` (see
//! [`crate::calendar`]).
//!
//! Modules, each importing only the ones before it: [`params`], [`types`] (the customer
//! record), [`random`] (samplers and distributions), [`sim`] (purchases, tickets,
//! contacts, dropout), [`engagement`] (events, on the same simulation state) and
//! [`customer`] ([`simulate`]: draws the attributes, then runs the other two).

mod customer;
mod engagement;
mod params;
mod random;
mod sim;
mod types;

pub(crate) use customer::simulate;
#[cfg(test)]
pub(crate) use params::{CATEGORIES, COUNTRIES};
pub(crate) use random::Model;
pub(crate) use types::{Customer, EventType, Status};
