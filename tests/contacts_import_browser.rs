//! The contacts' CSV import in a real Chromium (see tests/browser.rs): Sam (supervisor) chooses a
//! file in the contacts view, reads what was created and rejected, gets the rejected rows as a
//! download, and sees the new contacts listed; on a phone in Arabic, right to left, nothing
//! overflows. Screenshots go to `target/screenshots/`.

mod common;

use common::browser::Browser;
use common::console::*;

/// Choose a CSV file in the import's file input (a File made in the page, as a person's choice
/// would give it).
fn choose(csv: &str) -> String {
    let text = serde_json::to_string(csv).unwrap_or_default();
    format!(
        "(() => {{ const input = document.querySelector('#contact-import-file'); \
         if (!input) return false; \
         const t = new DataTransfer(); \
         t.items.add(new File([{text}], 'contacts.csv', {{ type: 'text/csv' }})); \
         input.files = t.files; \
         input.dispatchEvent(new Event('change', {{ bubbles: true }})); return true; }})()"
    )
}

#[actix_rt::test]
async fn a_supervisor_imports_contacts_from_a_file() {
    let app = spawn_console_app(|_| {}).await;
    let browser = Browser::start(1280, 800, "en").await;
    browser.login(&app.address, "sam@example.com", None).await;
    browser
        .wait_css("#nav-contacts")
        .await
        .click()
        .await
        .expect("the contacts open");
    browser.wait_css("#contact-import").await;
    // The rejected rows' Blob is kept for the test (the page's policy keeps fetch off blob:).
    browser
        .wait_true(
            "blobs kept",
            "(() => { const make = URL.createObjectURL.bind(URL); \
             URL.createObjectURL = (b) => { window.__blob = b; return make(b); }; return true; })()",
        )
        .await;
    browser
        .wait_true(
            "the file chosen",
            &choose(
                "phone,name,email,tags\n\
                 34611122281,Lucía Pérez,lucia@example.com,vip\n\
                 34611122282,Omar,not an email,\n",
            ),
        )
        .await;
    browser
        .wait_true(
            "the counts",
            "document.querySelector('#contact-import-status')?.textContent.includes('1 created') \
             && document.querySelector('#contact-import-status')?.textContent.includes('1 rejected')",
        )
        .await;
    browser
        .wait_true(
            "the rejected rows offered",
            "document.querySelector('#contact-import-rejected')?.download === 'contacts-rejected.csv'",
        )
        .await;
    browser
        .wait_true(
            "the rejected row and its error in the download",
            "(async () => { const text = await window.__blob.text(); \
             window.__rejected = text.startsWith('phone,name,email,tags,error\\r\\n') \
             && text.includes('34611122282,Omar,not an email,,invalid email'); })() \
             && window.__rejected === true",
        )
        .await;
    browser
        .wait_true(
            "the new contact listed",
            "[...document.querySelectorAll('#contact-list .contact-row')].some((r) => r.textContent.includes('Lucía Pérez'))",
        )
        .await;
    browser.screenshot("console-contacts-import").await;
    browser.close().await;

    // On a phone, in Arabic.
    let phone = Browser::start(360, 780, "ar").await;
    phone
        .login(&app.address, "sam@example.com", Some("ar"))
        .await;
    phone
        .wait_css("#nav-contacts")
        .await
        .click()
        .await
        .expect("the contacts open");
    phone.wait_css("#contact-import").await;
    phone
        .wait_true(
            "the file chosen",
            &choose("phone,name\n34611122283,Hala\n,nobody\n"),
        )
        .await;
    phone
        .wait_true(
            "the counts, right to left, without overflow",
            "document.documentElement.dir === 'rtl' \
             && !!document.querySelector('#contact-import-rejected') \
             && document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    phone.screenshot("console-phone-ar-contacts-import").await;
    phone.close().await;
}
