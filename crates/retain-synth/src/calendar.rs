//! The shop calendar shared by every customer: seasonality and the campaign schedule.
//!
//! Times inside the simulation are `f64` days since `start` 00:00 UTC.

use chrono::{Datelike, NaiveDate, Weekday};

/// Days simulated after `end` (never written) so that dropout times, and the fading
/// engagement before them, are consistent up to the last day of the export.
pub(crate) const TAIL_DAYS: f64 = 120.0;

/// Purchase intensity by weekday, Monday first (mean 1.0): weekend uplift.
const WEEKDAY: [f64; 7] = [0.90, 0.88, 0.90, 0.92, 1.00, 1.20, 1.20];

/// Relative activity by hour of day (UTC), evening peak. Normalised to mean 1 in [`Calendar::new`].
const HOUR_RAW: [f64; 24] = [
    0.30, 0.20, 0.15, 0.10, 0.10, 0.15, 0.30, 0.60, 0.80, 0.90, 1.00, 1.10, 1.20, 1.10, 1.00, 1.00,
    1.10, 1.20, 1.40, 1.60, 1.70, 1.60, 1.20, 0.60,
];

/// Campaign actions sent by the shop (the `action` column of `contacts.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    WelcomeOffer,
    ExclusiveOffer,
    PersonalNewsletter,
    WinBack,
}

impl Action {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::WelcomeOffer => "welcome_offer",
            Action::ExclusiveOffer => "exclusive_offer",
            Action::PersonalNewsletter => "personal_newsletter",
            Action::WinBack => "win_back",
        }
    }

    /// Offers carry a discount code: orders in the days after them are mostly discounted.
    pub(crate) fn is_offer(self) -> bool {
        matches!(
            self,
            Action::WelcomeOffer | Action::ExclusiveOffer | Action::WinBack
        )
    }
}

/// One shop-wide campaign send; each customer is targeted or not by their own state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Campaign {
    pub t: f64,
    pub action: Action,
}

#[derive(Debug)]
pub(crate) struct Calendar {
    /// `start` as Unix seconds.
    pub start_secs: i64,
    /// Length of the export window `[start, end)` in days.
    pub days: f64,
    /// End of the simulation (`days + TAIL_DAYS`).
    pub horizon: f64,
    /// Seasonal purchase multiplier per day index (weekday × year-end peak).
    season: Vec<f64>,
    /// Hour-of-day multipliers, mean 1.
    hour: [f64; 24],
    /// Maximum of `season × hour` over the horizon (the thinning bound).
    pub max_factor: f64,
    /// Maximum of the hour multiplier.
    pub hour_max: f64,
    /// Shop-wide campaigns, sorted by time.
    pub campaigns: Vec<Campaign>,
}

/// Friday after the fourth Thursday of November.
fn black_friday(year: i32) -> Option<NaiveDate> {
    let nov1 = NaiveDate::from_ymd_opt(year, 11, 1)?;
    let offset = (3 + 7 - i64::from(nov1.weekday().num_days_from_monday())) % 7;
    nov1.checked_add_days(chrono::Days::new(u64::try_from(offset + 22).ok()?))
}

/// Year-end peak: Black Friday to Cyber Monday ×2.2, mid-November to 22 December ×1.5,
/// Christmas days ×0.7, January ×0.85.
fn yearly_factor(date: NaiveDate) -> f64 {
    if let Some(bf) = black_friday(date.year()) {
        let since = (date - bf).num_days();
        if (0..=3).contains(&since) {
            return 2.2;
        }
    }
    match (date.month(), date.day()) {
        (11, d) if d >= 15 => 1.5,
        (12, d) if d <= 22 => 1.5,
        (12, 23..=26) => 0.7,
        (1, _) => 0.85,
        _ => 1.0,
    }
}

impl Calendar {
    pub(crate) fn new(start: NaiveDate, end: NaiveDate) -> Self {
        let start_secs = start.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
        let days = (end - start).num_days() as f64;
        let horizon = days + TAIL_DAYS;
        let n_days = horizon.ceil() as usize + 1;
        let season: Vec<f64> = start
            .iter_days()
            .take(n_days)
            .map(|d| WEEKDAY[d.weekday().num_days_from_monday() as usize] * yearly_factor(d))
            .collect();
        let mean_hour = HOUR_RAW.iter().sum::<f64>() / 24.0;
        let hour = HOUR_RAW.map(|h| h / mean_hour);
        let hour_max = hour.iter().copied().fold(0.0, f64::max);
        let season_max = season.iter().copied().fold(1.0, f64::max);

        let mut campaigns = Vec::new();
        // Every 28 days: win-back (day 3, 11:00), exclusive offer (day 9, 10:00) and the
        // personal newsletter (day 20, 09:00).
        for (first, action) in [
            (3.0 + 11.0 / 24.0, Action::WinBack),
            (9.0 + 10.0 / 24.0, Action::ExclusiveOffer),
            (20.0 + 9.0 / 24.0, Action::PersonalNewsletter),
        ] {
            let mut t = first;
            while t < horizon {
                campaigns.push(Campaign { t, action });
                t += 28.0;
            }
        }
        // A Black Friday offer every year, 08:00.
        for (i, date) in start.iter_days().take(n_days).enumerate() {
            if date.weekday() == Weekday::Fri && black_friday(date.year()) == Some(date) {
                let t = i as f64 + 8.0 / 24.0;
                if t < horizon {
                    campaigns.push(Campaign {
                        t,
                        action: Action::ExclusiveOffer,
                    });
                }
            }
        }
        campaigns.sort_by(|a, b| a.t.total_cmp(&b.t));

        Calendar {
            start_secs,
            days,
            horizon,
            season,
            hour,
            max_factor: season_max * hour_max,
            hour_max,
            campaigns,
        }
    }

    /// Hour-of-day multiplier at `t`.
    pub(crate) fn hour_factor(&self, t: f64) -> f64 {
        let h = ((t - t.floor()) * 24.0) as usize;
        self.hour[h.min(23)]
    }

    /// Purchase seasonality (weekday × year-end × hour of day) at `t`.
    pub(crate) fn purchase_factor(&self, t: f64) -> f64 {
        let d = (t.max(0.0) as usize).min(self.season.len() - 1);
        self.season[d] * self.hour_factor(t)
    }

    /// Unix seconds of simulation time `t` (floored to the second).
    pub(crate) fn secs(&self, t: f64) -> i64 {
        self.start_secs + (t * 86_400.0).floor() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_friday_dates() {
        assert_eq!(black_friday(2024), NaiveDate::from_ymd_opt(2024, 11, 29));
        assert_eq!(black_friday(2025), NaiveDate::from_ymd_opt(2025, 11, 28));
        assert_eq!(black_friday(2026), NaiveDate::from_ymd_opt(2026, 11, 27));
    }

    #[test]
    fn hour_factor_has_mean_one() {
        let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default();
        let cal = Calendar::new(start, start + chrono::Days::new(10));
        let mean: f64 = (0..24)
            .map(|h| cal.hour_factor(f64::from(h) / 24.0 + 0.001))
            .sum::<f64>()
            / 24.0;
        assert!((mean - 1.0).abs() < 1e-9);
        assert!(cal.max_factor >= cal.hour_max);
    }
}
