//! What the failed-authentication throttle adds to a valid console request: the token check as
//! `Desk::authenticate` does it (SHA-256, map lookup), alone and behind `AuthThrottle::check`,
//! with nothing recorded and while 100,000 other addresses and tokens are being throttled.
//!
//! `cargo bench --bench auth -- --warm-up-time 1 --measurement-time 3`

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use switchboard::accounts::throttle::{AuthThrottle, CredentialKey};
use switchboard::config::SecuritySettings;

fn tokens() -> HashMap<[u8; 32], usize> {
    (0..500)
        .map(|n| {
            let digest: [u8; 32] = Sha256::digest(format!("agent-{n}-token").as_bytes()).into();
            (digest, n)
        })
        .collect()
}

fn authenticate(tokens: &HashMap<[u8; 32], usize>, token: &str) -> Option<usize> {
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    tokens.get(&digest).copied()
}

fn bench(c: &mut Criterion) {
    let tokens = tokens();
    let token = "agent-250-token";
    let me = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20)));
    let quiet = AuthThrottle::new(&SecuritySettings::default());
    let busy = AuthThrottle::new(&SecuritySettings::default());
    for n in 0..100_000u32 {
        busy.failed(
            Some(IpAddr::V4(Ipv4Addr::from(0xCB00_0000 + n))),
            Some(CredentialKey::of(&format!("guess-{n}"))),
        );
    }

    let mut group = c.benchmark_group("valid console token");
    group.bench_function("authenticate alone", |b| {
        b.iter(|| authenticate(&tokens, black_box(token)))
    });
    group.bench_function("throttle check + authenticate", |b| {
        b.iter(|| {
            let key = Some(CredentialKey::of(black_box(token)));
            quiet.check(me, key).ok()?;
            authenticate(&tokens, token)
        })
    });
    group.bench_function("throttle check + authenticate, 100k throttled", |b| {
        b.iter(|| {
            let key = Some(CredentialKey::of(black_box(token)));
            busy.check(me, key).ok()?;
            authenticate(&tokens, token)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
