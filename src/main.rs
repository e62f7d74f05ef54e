use switchboard::config::Settings;
use switchboard::startup::Application;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    switchboard::telemetry::init(&settings.log);
    let app = Application::build(settings).await?;
    let handle = app.handle();
    app.run_until_stopped().await?;
    // actix-web stops on SIGINT/SIGTERM; flush the store and stop the actors behind it.
    handle.stop().await;
    Ok(())
}
