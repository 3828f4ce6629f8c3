//! Peer links: one task per peer sending the core's messages in order.

use super::*;

/// One task per peer: sends envelopes in order, backing off a moment when no connection can
/// be made. Lost messages are the protocol's business (it retries), not the link's.
pub(super) fn spawn_link(
    node: Arc<Node>,
    id: NodeId,
    host: String,
    inbox: mpsc::Sender<Event>,
) -> mpsc::Sender<Envelope> {
    let (tx, mut rx) = mpsc::channel::<Envelope>(LINK_QUEUE);
    tokio::spawn(async move {
        let mut backoff_until: Option<Instant> = None;
        while let Some(env) = rx.recv().await {
            if backoff_until.is_some_and(|t| Instant::now() < t) {
                continue;
            }
            // A message that cannot be encoded is not sent (a lost message, which the protocol
            // tolerates), never sent empty.
            let body = match encode(&env) {
                Ok(body) => Bytes::from(body),
                Err(e) => {
                    tracing::error!(peer = %host, error = %e, "message not sent");
                    continue;
                }
            };
            let request = PeerRequest {
                method: Method::POST,
                path: "/v1/rpc/replicate",
                body,
                timeout: Duration::from_millis(TIMING.rpc),
            };
            // One message at a time: each is answered before the next leaves, so they arrive
            // in order whichever pooled connection carries them.
            match node.peer.call(&host, request).await {
                Ok(_) => {}
                Err(PeerError::Refused { status, message }) => {
                    tracing::debug!(peer = %host, status, reason = %message, "peer refused a message");
                }
                Err(e) => {
                    tracing::debug!(peer = %host, error = %e, "peer link failed");
                    let _ = inbox.try_send(Event::Unreachable(id));
                    if matches!(e, PeerError::Unconnected(_) | PeerError::NotAPeer) {
                        backoff_until = Some(Instant::now() + Duration::from_millis(200));
                    }
                }
            }
        }
    });
    tx
}
