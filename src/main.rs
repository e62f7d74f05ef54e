use sha2::{Digest, Sha256};

/// mimalloc: the gateway allocates and frees small objects on several threads at once (HTTP
/// workers, actors, the store writer); glibc's allocator spent a fifth of a burst's CPU in its
/// arenas (see BENCHMARKS.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use switchboard::config::Settings;
use switchboard::startup::Application;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {}
        [command, token] if command == "hash-token" => {
            // The value of `agents.<id>.token_sha256` for a console token.
            println!("{}", hex::encode(Sha256::digest(token.as_bytes())));
            return Ok(());
        }
        [command] if command == "hash-password" => {
            // The value of `agents.<id>.password_argon2`: the password is read from stdin
            // (never from the command line, which other users can see).
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            switchboard::accounts::secrets::check_new_password(password)
                .map_err(|e| anyhow::anyhow!(e))?;
            let hash = switchboard::accounts::secrets::hash_password(password)
                .map_err(|e| anyhow::anyhow!(e))?;
            println!("{hash}");
            return Ok(());
        }
        _ => anyhow::bail!("usage: switchboard [hash-token <token> | hash-password < password]"),
    }
    let settings = Settings::load()?;
    switchboard::telemetry::init(&settings.log);
    // SIGHUP reloads the bot flows and routing rules. Registered before the start, so that a
    // SIGHUP meanwhile does not end the process (its default action).
    #[cfg(unix)]
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let app = Application::build(settings).await?;
    let handle = app.handle();
    #[cfg(unix)]
    switchboard::reload::reload_on_hangup(hangups, handle.reloader.clone());
    app.run_until_stopped().await?;
    // actix-web stops on SIGINT/SIGTERM; flush the store and stop the actors behind it.
    handle.stop().await;
    Ok(())
}
