//! People and their credentials. For now: the limits on failed authentications
//! ([`throttle`]); users, teams, sessions and the permission policy come here next.

pub mod throttle;
