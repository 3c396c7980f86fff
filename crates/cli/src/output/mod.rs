//! Pure renderers: everything here turns data into the exact text Helios
//! prints, and nothing here does I/O (except reading the resolver search path
//! in [`hostname::search_domains`]).
//!
//! * [`table`]: column-aligned tables.
//! * [`json`]: sorted compact JSON and Jackson-style pretty JSON.
//! * [`job`]: `inspect` lines and `jobs` rows.
//! * [`hostname`]: host names relative to the DNS search path.
//! * [`tasks`]: the `status` and `history` tables and `watch` lines.
//! * [`hosts`]: the `hosts` table, human durations and Java's `%.2f`.
//! * [`responses`]: Java `toString()` forms of REST responses.
//! * [`deployment_group`]: `inspect-deployment-group`, `deployment-group-status` and host
//!   selectors in Helios's pretty form.

pub mod deployment_group;
pub mod hostname;
pub mod hosts;
pub mod job;
pub mod json;
pub mod responses;
pub mod table;
pub mod tasks;
