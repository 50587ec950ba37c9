//! Starts a loopback registry holding the web images (1.0.0 and 1.0.1 healthy, 1.1.0 sick,
//! 1.2.0 crashing), prints their image name (`127.0.0.1:PORT/test/web`) on one line, and
//! keeps serving until its standard input closes; then the registry stops.
//!
//! `scripts/demo` runs it to show upkeep on a real registry and Docker Engine.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{Read, Write};

use upkeep_test_registry::{self as support, Auth};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let Some(registry) = support::registry(Auth::None).await else {
        eprintln!("error: the registry programs are missing (docker-registry, skopeo, umoci)");
        return std::process::ExitCode::from(1);
    };
    let images = match registry.push_web_images().await {
        Ok(images) => images,
        Err(error) => {
            eprintln!("error: cannot push the web images: {error}");
            return std::process::ExitCode::from(1);
        }
    };
    println!("{}", images.image);
    let _ = std::io::stdout().flush();
    // Serve until whoever started us closes our stdin.
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await;
    drop(registry);
    std::process::ExitCode::SUCCESS
}
