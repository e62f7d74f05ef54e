//! The router as an actor: conversations ask it where a handoff goes.
//!
//! The actor holds only the handle on the routing in effect ([`LiveConfig`]: a reload swaps
//! it); each [`Route`] takes the current router once and is answered by a future running
//! beside the actor, so one conversation waiting on a slow lookup does not hold up others.
//! The mailbox is bounded (set in `started`): callers use `send().await` to wait for room, or
//! `try_send` to shed load.

use std::sync::Arc;

use actix::ArbiterHandle;
use actix::prelude::*;

use crate::reload::LiveConfig;
use crate::routing::{RouteDecision, RouteRequest, Router};

/// Route a handed-off conversation.
#[derive(Debug, Message)]
#[rtype(result = "RouteDecision")]
pub struct Route(pub RouteRequest);

/// Answers [`Route`] messages with the router in effect.
pub struct RouterActor {
    live: LiveConfig,
    mailbox: usize,
}

impl RouterActor {
    /// An actor that always routes with `router`, with a mailbox of `mailbox` messages (at
    /// least 1).
    pub fn new(router: Arc<Router>, mailbox: usize) -> Self {
        Self::with_live(LiveConfig::of_router(router), mailbox)
    }

    /// An actor that routes with the router `live` holds at each request (a reload swaps it).
    pub fn with_live(live: LiveConfig, mailbox: usize) -> Self {
        Self {
            live,
            mailbox: mailbox.max(1),
        }
    }

    /// Start the actor on `arbiter`, routing with what `live` holds.
    pub fn start_on(
        arbiter: &ArbiterHandle,
        live: LiveConfig,
        mailbox: usize,
    ) -> Addr<RouterActor> {
        RouterActor::start_in_arbiter(arbiter, move |_| RouterActor::with_live(live, mailbox))
    }
}

impl Actor for RouterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox);
    }
}

impl Handler<Route> for RouterActor {
    type Result = ResponseFuture<RouteDecision>;

    fn handle(&mut self, msg: Route, _ctx: &mut Self::Context) -> Self::Result {
        let router = self.live.router();
        Box::pin(async move { router.route(&msg.0).await })
    }
}
