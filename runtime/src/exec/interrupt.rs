//! Stopping a run from outside: the first Ctrl-C or SIGTERM cancels the
//! run's [`CancellationToken`] (its steps stop and its trace is still
//! written); what a second one does is the caller's choice.

use tokio_util::sync::CancellationToken;

/// Spawns on `rt` a task that cancels `interrupt` and calls `first` on the
/// first Ctrl-C or SIGTERM, then calls `second` on the next one (a command
/// line tool exits there).
pub fn cancel_on_signals(
    rt: &tokio::runtime::Runtime,
    interrupt: CancellationToken,
    first: impl FnOnce() + Send + 'static,
    second: impl FnOnce() + Send + 'static,
) {
    rt.spawn(async move {
        next_signal().await;
        interrupt.cancel();
        first();
        next_signal().await;
        second();
    });
}

/// The next Ctrl-C, or SIGTERM on Unix.
pub async fn next_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
