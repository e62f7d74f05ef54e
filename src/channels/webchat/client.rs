//! The web chat's [`ChannelClient`]: the business's messages are already stored with their
//! conversation step (`queued`, then `accepted` by the sender), and that stored transcript is
//! what the visitor's socket shows. So a send stores nothing new: it wakes the visitor's sockets
//! (on whichever node they are) and is accepted at once. Read receipts are nothing (the widget
//! shows the conversation as it is). Templates do not exist here: refused for good.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::wake::Wakeups;
use crate::channels::{ChannelClient, RetryClass, SendAccepted, SendError, SendRequest};
use crate::domain::{ChannelKind, OutboundContent};

pub struct WebchatClient {
    wakeups: Arc<Wakeups>,
}

impl WebchatClient {
    pub fn new(wakeups: Arc<Wakeups>) -> Self {
        Self { wakeups }
    }
}

impl ChannelClient for WebchatClient {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webchat
    }

    fn send<'a>(
        &'a self,
        request: &'a SendRequest,
    ) -> BoxFuture<'a, Result<SendAccepted, SendError>> {
        let result = match request {
            SendRequest::Message {
                content: OutboundContent::Template { .. },
                ..
            } => Err(SendError::Provider {
                code: 0,
                http_status: 0,
                message: "the web chat has no templates".into(),
                class: RetryClass::Permanent,
            }),
            SendRequest::Message { to, .. } => {
                self.wakeups.wake(to);
                Ok(SendAccepted { provider_id: None })
            }
            SendRequest::MarkRead { .. } => Ok(SendAccepted { provider_id: None }),
        };
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CustomerId;

    #[tokio::test]
    async fn a_send_wakes_the_visitor_and_a_template_is_refused() {
        let wakeups = Wakeups::new(None);
        let visitor = CustomerId::new("webchat:site:abc");
        let socket = wakeups.watch(&visitor);
        let client = WebchatClient::new(wakeups.clone());
        let text = SendRequest::Message {
            to: visitor.clone(),
            content: OutboundContent::Text {
                body: "hello".into(),
                preview_url: false,
            },
            reply_to: None,
            callback_data: Some("id".into()),
        };
        assert_eq!(
            client.send(&text).await,
            Ok(SendAccepted { provider_id: None })
        );
        assert!(socket.has_changed().unwrap_or(false));
        let template = SendRequest::Message {
            to: visitor,
            content: OutboundContent::Template {
                name: "t".into(),
                language: "en".into(),
                components: serde_json::Value::Null,
                marketing_api: false,
                campaign: None,
            },
            reply_to: None,
            callback_data: None,
        };
        let refused = client.send(&template).await;
        assert!(
            matches!(refused, Err(ref e) if e.class() == RetryClass::Permanent),
            "{refused:?}"
        );
    }
}
