//! The router as an actor: conversations ask it where a handoff goes.
//!
//! The actor holds only an `Arc<Router>`; each [`Route`] is answered by a future running
//! beside the actor, so one conversation waiting on a slow lookup does not hold up others.
//! The mailbox is bounded (set in `started`): callers use `send().await` to wait for room, or
//! `try_send` to shed load.

use std::sync::Arc;

use actix::ArbiterHandle;
use actix::prelude::*;

use crate::routing::{RouteDecision, RouteRequest, Router};

/// Route a handed-off conversation.
#[derive(Debug, Message)]
#[rtype(result = "RouteDecision")]
pub struct Route(pub RouteRequest);

/// Answers [`Route`] messages with its [`Router`].
pub struct RouterActor {
    router: Arc<Router>,
    mailbox: usize,
}

impl RouterActor {
    /// An actor with a mailbox of `mailbox` messages (at least 1).
    pub fn new(router: Arc<Router>, mailbox: usize) -> Self {
        Self {
            router,
            mailbox: mailbox.max(1),
        }
    }

    /// Start the actor on `arbiter`.
    pub fn start_on(
        arbiter: &ArbiterHandle,
        router: Arc<Router>,
        mailbox: usize,
    ) -> Addr<RouterActor> {
        RouterActor::start_in_arbiter(arbiter, move |_| RouterActor::new(router, mailbox))
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
        let router = Arc::clone(&self.router);
        Box::pin(async move { router.route(&msg.0).await })
    }
}
