//! People and their credentials: the records ([`model`]), the limits on failed
//! authentications ([`throttle`]).

pub mod model;
pub mod throttle;
