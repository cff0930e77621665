//! Cells every file shares: the five raw [`File`]s with their id columns, keys (clean
//! sequential ids or an injected row's own id) and timestamp cells (a real instant or a
//! literal bad string).

use super::text::{push_padded, push_ts};

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

/// A timestamp cell: a real instant or a literal bad string.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ts {
    Secs(i64),
    Raw(&'static str),
}

pub(super) fn push_ts_cell(buf: &mut String, ts: Ts) {
    match ts {
        Ts::Secs(s) => push_ts(buf, s),
        Ts::Raw(r) => buf.push_str(r),
    }
}

/// A key cell: a clean sequential id, or an injected row's own id (`OX00000001`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Key {
    Clean(u64),
    Injected(u64),
}

pub(super) fn push_key(buf: &mut String, file: File, key: Key) {
    buf.push(file.id_prefix());
    match key {
        Key::Clean(n) => push_padded(buf, n, file.id_width()),
        Key::Injected(n) => {
            buf.push('X');
            push_padded(buf, n, file.id_width());
        }
    }
}

pub(super) fn push_customer_id(buf: &mut String, n: u64) {
    buf.push('C');
    push_padded(buf, n, 7);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_format() {
        let mut s = String::new();
        push_key(&mut s, File::Orders, Key::Clean(7));
        s.push(' ');
        push_key(&mut s, File::Tickets, Key::Injected(12));
        s.push(' ');
        push_customer_id(&mut s, 12_345_678);
        assert_eq!(s, "O00000007 TX0000012 C12345678");
    }
}
