//! People and their credentials: the records ([`model`]), who may do what ([`policy`]),
//! masked numbers ([`privacy`]), the limits on failed authentications ([`throttle`]).

pub mod directory;
pub mod model;
pub mod policy;
pub mod privacy;
pub mod secrets;
pub mod service;
pub mod throttle;
