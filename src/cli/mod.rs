//! Subcommands of the `ageband` program, one module per role.

pub mod issuer;
pub mod verifier;
pub mod wallet;

/// Resolves on Ctrl-C or, on Unix, SIGTERM: the shutdown of every long-running command. Process
/// signals belong to the program; the libraries' `serve` functions take any future.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
