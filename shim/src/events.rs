//! Task events to containerd: queued in the order the shim raises them and
//! forwarded one at a time, so containerd sees a task's start before its
//! exit.

use containerd_shim::event::Event;
use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::protos::ttrpc::context::with_duration;
use containerd_shim::publisher::RemotePublisher;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long one event may take to reach containerd (containerd's own shims
/// give up after this too).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// The queue's sending side.
#[derive(Clone)]
pub struct Events {
    tx: mpsc::UnboundedSender<(String, Box<dyn MessageDyn>)>,
}

impl Events {
    /// Starts forwarding to containerd through `publisher`, in `namespace`.
    pub fn forward(publisher: RemotePublisher, namespace: String) -> Events {
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, Box<dyn MessageDyn>)>();
        tokio::spawn(async move {
            while let Some((topic, event)) = rx.recv().await {
                let cx = with_duration(PUBLISH_TIMEOUT);
                if let Err(e) = publisher.publish(cx, &topic, &namespace, event).await {
                    tracing::warn!("publish {topic}: {e}");
                }
            }
        });
        Events { tx }
    }

    pub fn send(&self, event: impl Event + 'static) {
        let topic = event.topic();
        tracing::debug!(topic, "event");
        if self.tx.send((topic, Box::new(event))).is_err() {
            tracing::warn!("event queue closed");
        }
    }
}
