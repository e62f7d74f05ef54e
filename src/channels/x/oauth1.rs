//! OAuth 1.0a user-context signatures for an X account: X serves the media of direct messages
//! (`ton.x.com`, `ton.twitter.com`, `video.twimg.com` links) only to requests signed with the
//! app's consumer key and secret and the account's OAuth 1.0a access token and secret (X's
//! "Retrieving media" guide); the OAuth 2.0 token used for sending does not open them. The
//! signature (HMAC-SHA1 over the method, the URL and every parameter) is computed by the
//! `oauth1-request` crate; the secrets never leave the gateway, only the signature does.

use oauth1_request::{HMAC_SHA1, ParameterList};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{XAccountSettings, XSettings};

/// The account's OAuth 1.0a credentials, when the app's consumer key and the account's token
/// and secret are all configured.
pub fn credentials_of(
    settings: &XSettings,
    account: &XAccountSettings,
) -> Option<OAuth1Credentials> {
    let key = settings.consumer_key.trim();
    let token = account.oauth1_access_token.as_deref()?.trim();
    let secret = account.oauth1_access_token_secret.as_ref()?;
    (!key.is_empty()
        && !token.is_empty()
        && !secret.expose_secret().is_empty()
        && !settings.consumer_secret.expose_secret().is_empty())
    .then(|| OAuth1Credentials {
        consumer_key: key.to_string(),
        consumer_secret: settings.consumer_secret.clone(),
        token: token.to_string(),
        token_secret: secret.clone(),
    })
}

/// The four credentials of one account's signatures.
#[derive(Clone)]
pub struct OAuth1Credentials {
    pub consumer_key: String,
    pub consumer_secret: SecretString,
    pub token: String,
    pub token_secret: SecretString,
}

impl std::fmt::Debug for OAuth1Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth1Credentials")
            .field("consumer_key", &self.consumer_key)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl OAuth1Credentials {
    /// The `Authorization` header of a `method` request to `url` (its query parameters are
    /// signed), with a fresh nonce and the current time.
    pub fn authorization(&self, method: &str, url: &Url) -> String {
        self.header(method, url, None, None)
    }

    /// The header with a given nonce and timestamp (seconds): what [`Self::authorization`]
    /// makes, reproducible (tests, and a fake that checks a request's signature).
    pub fn header(
        &self,
        method: &str,
        url: &Url,
        nonce: Option<&str>,
        timestamp: Option<u64>,
    ) -> String {
        let mut base = url.clone();
        base.set_query(None);
        base.set_fragment(None);
        let params = ParameterList::new(
            url.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect::<Vec<_>>(),
        );
        let client = oauth1_request::Credentials::new(
            self.consumer_key.as_str(),
            self.consumer_secret.expose_secret(),
        );
        let token = oauth1_request::Credentials::new(
            self.token.as_str(),
            self.token_secret.expose_secret(),
        );
        let mut builder = oauth1_request::Builder::new(client, HMAC_SHA1);
        // `oauth_version="1.0"` is optional in OAuth 1.0a; X's examples send it.
        builder
            .token(token)
            .version(true)
            .nonce(nonce)
            .timestamp(timestamp.and_then(std::num::NonZeroU64::new));
        builder.authorize(method, base.as_str(), &params)
    }

    /// Whether `authorization` is a valid signature of a `method` request to `url` with these
    /// credentials (its nonce and timestamp taken as given: a fake's check, no replay window).
    pub fn verifies(&self, method: &str, url: &Url, authorization: &str) -> bool {
        let Some(params) = authorization.strip_prefix("OAuth ") else {
            return false;
        };
        let value = |name: &str| {
            params.split(',').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                (k == name).then(|| v.trim_matches('"').to_string())
            })
        };
        let (Some(nonce), Some(timestamp)) = (value("oauth_nonce"), value("oauth_timestamp"))
        else {
            return false;
        };
        let Ok(timestamp) = timestamp.parse::<u64>() else {
            return false;
        };
        // A nonce is unreserved characters only (the crate's are alphanumeric).
        if !nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        {
            return false;
        }
        self.header(method, url, Some(&nonce), Some(timestamp)) == authorization
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// X's own worked example ("Creating a signature", developer docs): these credentials,
    /// nonce and timestamp sign `POST https://api.twitter.com/1.1/statuses/update.json` with
    /// `include_entities=true` and that status as `hCtSmYh+iHYCEqBWrE7C7hYmtUk=` (also
    /// computed independently with Python's hmac over the RFC 5849 base string).
    fn x_example() -> OAuth1Credentials {
        OAuth1Credentials {
            consumer_key: "xvz1evFS4wEEPTGEFPHBog".into(),
            consumer_secret: "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"
                .to_string()
                .into(),
            token: "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb".into(),
            token_secret: "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"
                .to_string()
                .into(),
        }
    }

    #[test]
    fn signs_x_s_published_example() {
        let url = Url::parse(
            "https://api.twitter.com/1.1/statuses/update.json?include_entities=true\
             &status=Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21",
        )
        .expect("url");
        let header = x_example().header(
            "POST",
            &url,
            Some("kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"),
            Some(1318622958),
        );
        assert!(
            header.contains("oauth_signature=\"hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D\""),
            "{header}"
        );
        assert!(header.contains("oauth_consumer_key=\"xvz1evFS4wEEPTGEFPHBog\""));
        assert!(
            header.contains("oauth_token=\"370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb\"")
        );
        assert!(header.contains("oauth_signature_method=\"HMAC-SHA1\""));
        assert!(header.contains("oauth_version=\"1.0\""));
    }

    #[test]
    fn a_signature_verifies_only_for_its_url_method_and_credentials() {
        let creds = x_example();
        let url = Url::parse("https://ton.x.com/1.1/ton/data/dm/1/2/abc.jpg").expect("url");
        let header = creds.authorization("GET", &url);
        assert!(creds.verifies("GET", &url, &header), "{header}");
        // Fresh nonces: two signatures differ.
        assert_ne!(header, creds.authorization("GET", &url));
        let other = Url::parse("https://ton.x.com/1.1/ton/data/dm/1/2/other.jpg").expect("url");
        assert!(!creds.verifies("GET", &other, &header));
        assert!(!creds.verifies("POST", &url, &header));
        let mut wrong = x_example();
        wrong.token_secret = "another".to_string().into();
        assert!(!wrong.verifies("GET", &url, &header));
        for bad in ["", "Bearer x", "OAuth ", "OAuth oauth_nonce=\"a b\""] {
            assert!(!creds.verifies("GET", &url, bad), "{bad}");
        }
        // Query parameters are signed too.
        let with_query = Url::parse("https://ton.x.com/x.jpg?size=large&a=1").expect("url");
        let header = creds.authorization("GET", &with_query);
        assert!(creds.verifies("GET", &with_query, &header));
        let changed = Url::parse("https://ton.x.com/x.jpg?size=small&a=1").expect("url");
        assert!(!creds.verifies("GET", &changed, &header));
        // Secrets are not printed.
        let debug = format!("{creds:?}");
        assert!(
            !debug.contains("kAcSOq") && !debug.contains("LswwdoU"),
            "{debug}"
        );
    }
}
