//! PLACEHOLDER: the bot engine is being written (see the helper brief). Only the config type
//! exists so the rest compiles.
use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::TeamSettings;

#[derive(Clone, Debug, Deserialize)]
pub struct BotConfig {
    #[serde(flatten)]
    pub raw: BTreeMap<String, serde_json::Value>,
}

impl BotConfig {
    pub fn validate(&self, _teams: &BTreeMap<String, TeamSettings>) -> Result<(), String> {
        Ok(())
    }
}
