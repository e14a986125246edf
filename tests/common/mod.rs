//! Shared test support: the emulator and seeding helpers.
#![allow(dead_code)]

pub mod moto;
pub mod poller;
pub mod seed;
