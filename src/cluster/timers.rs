//! Timers shared by the cluster: a sorted set `timers` scored by due time (unix ms). Every node
//! polls it every `redis.timer_poll_ms`; one script moves the due timers, atomically, into
//! their conversations' partition streams as commands, where the partitions' owners run them.
//! A timer set by a node that dies therefore still fires, once, on whichever node owns the
//! conversation by then.

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use serde::Serialize;

use super::{Cluster, redis_error};
use crate::assign::ConversationRef;
use crate::conversation::commands::Command;
use crate::timers::Scheduler;

/// A timer as the sorted set keeps it (the member; unique by `id`).
#[derive(Serialize)]
struct TimerWire<'a> {
    id: String,
    p: usize,
    ch: &'a str,
    k: &'a str,
    /// The command, as JSON text (moved into the stream as is).
    cmd: String,
}

const MOVE_DUE: &str = r#"
local prefix = KEYS[1]
local timers = prefix .. 'timers'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', timers, '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, member in ipairs(due) do
  local ok, timer = pcall(cjson.decode, member)
  if ok and timer.p and timer.cmd then
    redis.call('XADD', prefix .. 'in:' .. timer.p, '*', 't', 'c', 'd', timer.cmd,
      'ch', timer.ch, 'k', timer.k, 'r', '', 'dl', '0')
  end
  redis.call('ZREM', timers, member)
end
return #due
"#;

/// Timers in Redis.
pub struct RedisTimers {
    cluster: Arc<Cluster>,
    move_due: redis::Script,
}

impl RedisTimers {
    pub fn new(cluster: Arc<Cluster>) -> Arc<Self> {
        Arc::new(Self {
            cluster,
            move_due: redis::Script::new(MOVE_DUE),
        })
    }

    /// Hand due timers on every `redis.timer_poll_ms`, until aborted.
    pub fn spawn_mover(self: &Arc<Self>) -> actix_rt::task::JoinHandle<()> {
        let timers = self.clone();
        actix_rt::spawn(async move {
            let every = Duration::from_millis(timers.cluster.settings.timer_poll_ms);
            loop {
                let mut conn = timers.cluster.conn();
                match timers
                    .move_due
                    .key(timers.cluster.prefix())
                    .arg(256)
                    .invoke_async::<usize>(&mut conn)
                    .await
                {
                    // A full batch: there may be more due right now.
                    Ok(256) => continue,
                    Ok(_) => {}
                    Err(e) => redis_error("timers", &e),
                }
                tokio::time::sleep(every).await;
            }
        })
    }
}

impl Scheduler for RedisTimers {
    fn schedule(&self, at_ms: i64, conversation: &ConversationRef, command: Command) {
        let cmd = match serde_json::to_string(&command) {
            Ok(cmd) => cmd,
            Err(e) => {
                tracing::error!(error = %e, "timer command not serializable; dropped");
                return;
            }
        };
        let member = serde_json::to_string(&TimerWire {
            id: uuid::Uuid::now_v7().simple().to_string(),
            p: conversation
                .key
                .partition(self.cluster.ownership().partitions()),
            ch: conversation.channel.as_str(),
            k: conversation.key.as_str(),
            cmd,
        });
        let Ok(member) = member else { return };
        let key = self.cluster.key("timers");
        let mut conn = self.cluster.conn();
        let conversation = conversation.id.clone();
        actix_rt::spawn(async move {
            let mut delay = Duration::from_millis(100);
            for _ in 0..10 {
                let added: redis::RedisResult<i64> = conn.zadd(&key, &member, at_ms).await;
                match added {
                    Ok(_) => return,
                    Err(e) => {
                        redis_error("timers", &e);
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
            tracing::error!(%conversation, "timer not recorded: Redis stayed unreachable");
        });
    }
}
