//! MX resolution against a real DNS server on loopback.

mod common;

use common::dns::{DnsServer, Zone};
use leak_delivery::{DnsFailure, MxResolver};
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

async fn server() -> DnsServer {
    let mut zone = Zone::default();
    zone.mx("pref.test", 20, "mx2.pref.test", 300)
        .mx("pref.test", 10, "mx1.pref.test", 300)
        .a("mx1.pref.test", ip(2), 300)
        .a("mx2.pref.test", ip(3), 300)
        .a("implicit.test", ip(4), 300)
        .null_mx("nullmx.test")
        .a("nullmx.test", ip(4), 300)
        .mx("short.test", 10, "mx.short.test", 1)
        .a("mx.short.test", ip(5), 1)
        .mx("noaddr.test", 10, "nowhere.noaddr.test", 300)
        .servfail("servfail.test");
    DnsServer::start(zone).await
}

#[tokio::test]
async fn mx_records_in_preference_order_with_addresses() {
    let dns = server().await;
    let resolver = MxResolver::new(&[dns.addr], Duration::from_secs(2)).unwrap();
    let targets = resolver.resolve("pref.test").await.unwrap();
    let hosts: Vec<_> = targets.iter().map(|t| t.host.as_str()).collect();
    assert_eq!(hosts, ["mx1.pref.test", "mx2.pref.test"]);
    assert_eq!(targets[0].addrs, [std::net::IpAddr::V4(ip(2))]);
    assert_eq!(targets[1].addrs, [std::net::IpAddr::V4(ip(3))]);
}

#[tokio::test]
async fn implicit_null_nxdomain_servfail() {
    let dns = server().await;
    let resolver = MxResolver::new(&[dns.addr], Duration::from_secs(2)).unwrap();

    let implicit = resolver.resolve("implicit.test").await.unwrap();
    assert_eq!(implicit.len(), 1);
    assert_eq!(implicit[0].host, "implicit.test");
    assert_eq!(implicit[0].addrs, [std::net::IpAddr::V4(ip(4))]);

    // A null MX wins even though the domain has an address.
    let null = resolver.resolve("nullmx.test").await.unwrap_err();
    assert!(matches!(null, DnsFailure::NullMx(_)), "{null}");
    assert!(null.is_permanent() && null.to_string().contains("5.1.10"));

    let nx = resolver.resolve("nope.test").await.unwrap_err();
    assert!(matches!(nx, DnsFailure::NoSuchDomain(..)), "{nx}");
    assert!(nx.is_permanent());

    let fail = resolver.resolve("servfail.test").await.unwrap_err();
    assert!(matches!(fail, DnsFailure::Temporary(..)), "{fail}");
    assert!(!fail.is_permanent());

    // An MX host without addresses leaves nothing to try: temporary, not a bounce.
    let noaddr = resolver.resolve("noaddr.test").await.unwrap_err();
    assert!(!noaddr.is_permanent(), "{noaddr}");
}

#[tokio::test]
async fn answers_are_cached_for_their_ttl() {
    let dns = server().await;
    let resolver = MxResolver::new(&[dns.addr], Duration::from_secs(2)).unwrap();
    resolver.resolve("pref.test").await.unwrap();
    let after_first = dns.queries.load(Ordering::SeqCst);
    assert!(
        after_first >= 3,
        "MX + two address lookups, got {after_first}"
    );
    resolver.resolve("pref.test").await.unwrap();
    assert_eq!(
        dns.queries.load(Ordering::SeqCst),
        after_first,
        "TTL 300: cached"
    );

    resolver.resolve("short.test").await.unwrap();
    let before = dns.queries.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    resolver.resolve("short.test").await.unwrap();
    assert!(
        dns.queries.load(Ordering::SeqCst) > before,
        "TTL 1: asked again after expiry"
    );
}
