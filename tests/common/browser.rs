//! A headless Chromium driven through chromedriver, for the browser tests (the console's, the
//! demo page's). Screenshots go to `target/screenshots/` for people to look at.
//! scripts/test installs chromium and chromium-driver where they are missing.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use super::console::DEMO_PASSWORD;

/// How long the browser waits for an element or a condition.
const BROWSER_WAIT: Duration = Duration::from_secs(15);

fn which(candidates: &[&str]) -> Option<String> {
    candidates.iter().find_map(|c| {
        let path = PathBuf::from(c);
        if path.is_absolute() {
            path.exists().then(|| c.to_string())
        } else {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(c))
                    .find(|p| p.exists())
                    .map(|p| p.to_string_lossy().into_owned())
            })
        }
    })
}

/// A headless Chromium behind its own chromedriver, killed on drop.
pub struct Browser {
    driver: Child,
    pub client: Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    pub async fn start(width: u32, height: u32, language: &str) -> Browser {
        // chromedriver speaks plain HTTP; the connector still wants a process-wide provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let driver_bin = which(&["chromedriver", "/usr/bin/chromedriver"])
            .expect("chromedriver is installed (scripts/test installs chromium-driver)");
        let chromium = which(&["chromium", "/usr/bin/chromium", "chromium-browser"])
            .expect("chromium is installed (scripts/test installs it)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut options = json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--hide-scrollbars",
                format!("--window-size={},{}", width.max(500), height),
                format!("--lang={language}"),
            ],
        });
        // A headless window is at least 500 px wide: narrower screens are emulated, like a
        // phone (its width, a touch screen).
        if width < 500 {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2, "touch": true },
            });
        }
        let capabilities: serde_json::Map<String, Value> = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }))
        .expect("capabilities");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + BROWSER_WAIT;
        let client = loop {
            match ClientBuilder::rustls()
                .expect("a TLS connector")
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver at {url}: {e}"),
            }
        };
        Browser { driver, client }
    }

    /// Set the value of the input or select `css` (once it is there) as typing or picking
    /// would: its `input` and `change` events fire.
    pub async fn set_value(&self, css: &str, value: &str) {
        self.wait_css(css).await;
        self.client
            .execute(
                "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
                 el.dispatchEvent(new Event('input', { bubbles: true })); \
                 el.dispatchEvent(new Event('change', { bubbles: true })); return true;",
                vec![Value::String(css.into()), Value::String(value.into())],
            )
            .await
            .expect("a value set");
    }

    /// Click `css` once it is there.
    pub async fn click(&self, css: &str) {
        self.wait_css(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("{css} clicked: {e}"));
    }

    pub async fn wait_css(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(BROWSER_WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let shot = self.failed_step(css).await;
                panic!("waited for {css}: {e} (screenshot: {shot})")
            }
        }
    }

    /// A failed step keeps a screenshot of the page as it was; its file name.
    pub async fn failed_step(&self, what: &str) -> String {
        let name: String = what
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(60)
            .collect();
        let name = format!("failed-{name}");
        self.screenshot(&name).await;
        format!("target/screenshots/{name}.png")
    }

    /// Wait until `script` (a JS expression) is truthy.
    pub async fn wait_true(&self, what: &str, script: &str) {
        let deadline = tokio::time::Instant::now() + BROWSER_WAIT;
        loop {
            let value = self
                .client
                .execute(&format!("return !!({script});"), vec![])
                .await
                .unwrap_or(Value::Bool(false));
            if value == Value::Bool(true) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let shot = self.failed_step(what).await;
                panic!("waited {BROWSER_WAIT:?} for {what} ({script}); screenshot: {shot}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn login(&self, address: &str, email: &str, language: Option<&str>) {
        self.client.goto(address).await.expect("the console loads");
        self.wait_css("#login-email")
            .await
            .send_keys(email)
            .await
            .expect("email typed");
        self.wait_css("#login-password")
            .await
            .send_keys(DEMO_PASSWORD)
            .await
            .expect("password typed");
        if let Some(language) = language {
            self.wait_css(&format!("#login-language option[value='{language}']"))
                .await
                .click()
                .await
                .expect("language chosen");
        }
        self.wait_css("#login-submit")
            .await
            .click()
            .await
            .expect("logged in");
        self.wait_css("#presence").await;
    }

    pub async fn screenshot(&self, name: &str) {
        let Ok(png) = self.client.screenshot().await else {
            eprintln!("no screenshot {name}: the browser did not give one");
            return;
        };
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join(format!("{name}.png")), png));
        if let Err(e) = written {
            eprintln!("screenshot {name} not written: {e}");
        }
    }

    /// How many transcript messages contain `text`.
    pub async fn count_messages(&self, text: &str) -> u64 {
        let script = format!(
            "return [...document.querySelectorAll('#transcript .message')].filter(m => m.textContent.includes({})).length;",
            serde_json::to_string(text).unwrap_or_default()
        );
        self.client
            .execute(&script, vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(0)
    }

    /// Go online, then open the conversation `id` once it is in the list (it comes live).
    pub async fn online_and_open(&self, id: &str) {
        self.wait_css("#presence option[value='online']")
            .await
            .click()
            .await
            .expect("online");
        self.open_row(id).await;
    }

    /// Open the conversation `id` from the list, once it is there.
    pub async fn open_row(&self, id: &str) {
        self.wait_css(&format!(".conversation-row[data-id='{id}']"))
            .await
            .click()
            .await
            .expect("the conversation opens");
    }

    /// Back from a frame (entered with `Element::enter_frame`) to its parent page.
    pub async fn enter_parent_frame(&self) {
        self.client
            .enter_parent_frame()
            .await
            .expect("back to the parent page");
    }

    /// End the session; dropping the browser stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
