//! The channels' benchmark (`cargo bench --bench channels`), run small: every message answered
//! through Telegram against the Bot API stand-in, beside the engine directly, and the handoff
//! timed to the console's queue.

use crate::channels_measure::{ChannelBench, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_answered_once_through_telegram_and_each_handoff_is_timed() {
    let dir = tempfile::tempdir().unwrap();
    let options = ChannelBench {
        chats: 3,
        messages: 2,
        handoffs: 2,
    };
    let results = run(dir.path(), &options).await.unwrap();
    assert_eq!(results["throughput"]["messages"], 6);
    // One message per answer (edited as it grows); never fewer, never more.
    assert_eq!(results["throughput"]["bot_api_calls"]["sendMessage"], 6);
    assert_eq!(
        results["handoff"]["telegram_to_console_queue"]["samples"],
        2
    );
    assert!(
        results["throughput"]["ratio_telegram_to_engine"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}
