//! Contracts with the systems around us (DESIGN.md "Contracts"), one module each.
//! A change here is a change to the design brief; `docs/events.md` documents them.

pub mod kafka;
pub mod payout;
