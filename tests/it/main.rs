//! The integration tests, one module per area, in one test binary: against DynamoDB Local and
//! moto's SQS started by `scripts/stack.sh` (every test creates its own table and queue), the
//! partner stand-ins on free ports, and the function binaries under a stand-in Runtime API.
//! `cargo test -p referral-tests --test integration <area>::` runs one area.

mod consumers;
mod consumers_property;
mod end_to_end;
mod function_binaries;
mod funnel_property;
mod http_admin;
mod http_app;
mod http_gateway;
mod http_link;
mod no_phone_leaks;
mod partner_clients;
mod payout;
mod payout_property;
mod reward_lifecycle;
mod reward_lifecycle_property;
mod rules;
mod store;
mod table_definition;
