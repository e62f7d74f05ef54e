//! Outbound limits shared by every node: a phone number's throughput, each recipient's pair
//! rate and a channel's quota (an X account's DMs per window) as GCRA ("generic cell rate algorithm") state in Redis, one script call per send. All
//! nodes together stay within Meta's limits for the number. While Redis cannot be reached, a
//! node falls back to its own local limits (each node then keeps the number's rate by itself).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Cluster, redis_error};
use crate::config::OutboundSettings;
use crate::domain::{ChannelId, CustomerId};
use crate::outbound::{LocalThrottle, Throttle};

/// Answers 0 when a cell is granted (and takes it), else how many microseconds to wait.
const GCRA: &str = r#"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allowed_at = tat - tolerance
if now < allowed_at then return allowed_at - now end
local next_tat = tat + interval
redis.call('SET', KEYS[1], next_tat, 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return 0
"#;

/// One cell every `interval`, with bursts up to `burst` cells.
#[derive(Clone, Copy)]
struct Rate {
    interval_us: u64,
    tolerance_us: u64,
}

impl Rate {
    fn new(period: Duration, cells: u32, burst: u32) -> Self {
        let interval_us = (period.as_micros() as u64 / u64::from(cells.max(1))).max(1);
        Self {
            interval_us,
            tolerance_us: interval_us * u64::from(burst.max(1) - 1),
        }
    }
}

/// A number's limits in Redis.
pub struct RedisThrottle {
    cluster: Arc<Cluster>,
    script: redis::Script,
    number_key: String,
    pair_prefix: String,
    number: Rate,
    pair: Rate,
    /// The channel's quota over a longer window (an X account's DMs), if it has one.
    quota: Option<(String, Rate)>,
    /// Used while Redis cannot be reached.
    fallback: LocalThrottle,
}

impl RedisThrottle {
    pub fn new(
        cluster: Arc<Cluster>,
        channel: &ChannelId,
        messages_per_second: u32,
        settings: &OutboundSettings,
    ) -> Self {
        Self {
            number_key: cluster.key(&format!("rate:{channel}")),
            pair_prefix: cluster.key(&format!("pair:{channel}:")),
            number: Rate::new(
                Duration::from_secs(1),
                messages_per_second,
                messages_per_second,
            ),
            pair: Rate::new(
                Duration::from_secs(60),
                settings.per_recipient_per_minute,
                settings.per_recipient_burst,
            ),
            quota: settings
                .quota
                .filter(|q| q.sends > 0 && q.window_seconds > 0)
                .map(|q| {
                    (
                        cluster.key(&format!("quota:{channel}")),
                        Rate::new(Duration::from_secs(q.window_seconds), q.sends, q.sends),
                    )
                }),
            fallback: LocalThrottle::new(messages_per_second, settings),
            script: redis::Script::new(GCRA),
            cluster,
        }
    }

    /// Wait for a cell of `key`; Err when Redis cannot be reached.
    async fn take(&self, key: &str, rate: Rate) -> Result<(), ()> {
        loop {
            let mut conn = self.cluster.conn();
            let wait: redis::RedisResult<u64> = self
                .script
                .key(key)
                .arg(rate.interval_us)
                .arg(rate.tolerance_us)
                .invoke_async(&mut conn)
                .await;
            match wait {
                Ok(0) => return Ok(()),
                Ok(us) => tokio::time::sleep(Duration::from_micros(us)).await,
                Err(e) => {
                    redis_error("throttle", &e);
                    return Err(());
                }
            }
        }
    }
}

#[async_trait]
impl Throttle for RedisThrottle {
    async fn number(&self) {
        if self.take(&self.number_key, self.number).await.is_err() {
            self.fallback.number().await;
        }
    }

    async fn pair(&self, to: &CustomerId) {
        let key = format!("{}{to}", self.pair_prefix);
        if self.take(&key, self.pair).await.is_err() {
            self.fallback.pair(to).await;
        }
    }

    async fn quota(&self) {
        let Some((key, rate)) = &self.quota else {
            return;
        };
        if self.take(key, *rate).await.is_err() {
            self.fallback.quota().await;
        }
    }

    fn tidy(&self) {
        self.fallback.tidy();
    }
}
