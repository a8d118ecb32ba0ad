//! How legacy URLs map to portal paths, one behaviour per test.

use super::*;

fn tax() -> (LinkMap, ServiceLinks) {
    let mut b = LinkMapBuilder::new();
    b.add_legacy("www.tax.gov.ma", "/vat-declaration", "/s/vat-declaration")
        .expect("valid");
    b.add_legacy(
        "www.tax.gov.ma",
        "/income-tax-declaration",
        "/s/income-tax-declaration",
    )
    .expect("valid");
    b.add_legacy("www.agriculture.gov.ma", "/", "/s/agricultural-subsidy-fda")
        .expect("valid");
    b.add_upstream("127.0.0.1:9400", "/vat-declaration", "/s/vat-declaration")
        .expect("valid");
    b.add_upstream("127.0.0.1:9400", "/", "/s/agricultural-subsidy-fda")
        .expect("valid");
    b.add_upstream("127.0.0.1:9400", "/", "/s/cnie-renewal")
        .expect("valid");
    (
        b.build(),
        ServiceLinks::new("www.tax.gov.ma", "/s/vat-declaration"),
    )
}

fn rw(url: &str) -> Option<String> {
    let (map, here) = tax();
    map.rewrite(url, &here)
}

#[test]
fn absolute_urls_to_a_legacy_host_become_portal_paths() {
    assert_eq!(
        rw("http://www.tax.gov.ma/vat-declaration/form?a=1#top").as_deref(),
        Some("/s/vat-declaration/form?a=1#top")
    );
    assert_eq!(
        rw("https://www.tax.gov.ma/vat-declaration").as_deref(),
        Some("/s/vat-declaration/")
    );
}

#[test]
fn scheme_and_host_match_case_insensitively_and_default_ports_are_ignored() {
    assert_eq!(
        rw("HTTP://WWW.Tax.Gov.MA:80/vat-declaration/x").as_deref(),
        Some("/s/vat-declaration/x")
    );
    assert_eq!(
        rw("https://www.tax.gov.ma:443/vat-declaration/x").as_deref(),
        Some("/s/vat-declaration/x")
    );
    assert_eq!(rw("http://www.tax.gov.ma:8080/vat-declaration/x"), None);
}

#[test]
fn protocol_relative_urls_are_mapped() {
    assert_eq!(
        rw("//www.tax.gov.ma/vat-declaration/demande").as_deref(),
        Some("/s/vat-declaration/demande")
    );
}

#[test]
fn root_relative_urls_resolve_against_the_current_legacy_host() {
    assert_eq!(
        rw("/vat-declaration/form?a=1#top").as_deref(),
        Some("/s/vat-declaration/form?a=1#top")
    );
}

#[test]
fn root_relative_links_to_a_sibling_on_the_same_host_go_to_the_sibling() {
    assert_eq!(
        rw("/income-tax-declaration/x").as_deref(),
        Some("/s/income-tax-declaration/x")
    );
}

#[test]
fn root_relative_paths_no_service_owns_are_left_alone() {
    assert_eq!(rw("/portail/accueil"), None);
    assert_eq!(rw("http://www.tax.gov.ma/portail/accueil"), None);
}

#[test]
fn base_matching_stops_at_segment_boundaries() {
    assert_eq!(rw("/vat-declarationX/form"), None);
}

#[test]
fn relative_urls_and_other_schemes_are_left_alone() {
    for url in [
        "form.php",
        "../x",
        "?q=1",
        "#a",
        "",
        "mailto:dgi@tax.gov.ma",
        "javascript:void(0)",
        "data:image/png;base64,AAAA",
        "http:vat-declaration/x",
        "httpx://www.tax.gov.ma/vat-declaration/",
        "ftp://www.tax.gov.ma/vat-declaration/",
    ] {
        assert_eq!(rw(url), None, "{url}");
    }
}

#[test]
fn unmapped_hosts_are_left_alone() {
    assert_eq!(rw("http://www.example.com/vat-declaration/x"), None);
    assert_eq!(rw("//cdn.example.com/jquery.js"), None);
}

#[test]
fn two_services_sharing_a_host_map_to_their_own_prefixes() {
    assert_eq!(
        rw("http://www.tax.gov.ma/income-tax-declaration/suivi").as_deref(),
        Some("/s/income-tax-declaration/suivi")
    );
    assert_eq!(
        rw("http://www.tax.gov.ma/vat-declaration/suivi").as_deref(),
        Some("/s/vat-declaration/suivi")
    );
}

#[test]
fn the_longest_base_wins_over_a_root_mount() {
    let (map, _) = tax();
    let fda = ServiceLinks::new("www.agriculture.gov.ma", "/s/agricultural-subsidy-fda");
    assert_eq!(
        map.rewrite("http://127.0.0.1:9400/vat-declaration/x", &fda)
            .as_deref(),
        Some("/s/vat-declaration/x")
    );
    assert_eq!(
        map.rewrite("/anything", &fda).as_deref(),
        Some("/s/agricultural-subsidy-fda/anything")
    );
}

#[test]
fn a_shared_backend_address_maps_to_the_current_service() {
    let (map, _) = tax();
    let cnie = ServiceLinks::new("www.cnie.ma", "/s/cnie-renewal");
    assert_eq!(
        map.rewrite("http://127.0.0.1:9400/login", &cnie).as_deref(),
        Some("/s/cnie-renewal/login")
    );
    let fda = ServiceLinks::new("www.agriculture.gov.ma", "/s/agricultural-subsidy-fda");
    assert_eq!(
        map.rewrite("http://127.0.0.1:9400/login", &fda).as_deref(),
        Some("/s/agricultural-subsidy-fda/login")
    );
}

#[test]
fn backend_addresses_must_match_their_port() {
    assert_eq!(rw("http://127.0.0.1:9401/vat-declaration/x"), None);
    assert_eq!(rw("http://127.0.0.1/vat-declaration/x"), None);
}

#[test]
fn userinfo_and_surrounding_whitespace_do_not_hide_a_legacy_url() {
    assert_eq!(
        rw(" \n http://agent@www.tax.gov.ma/vat-declaration/x \t").as_deref(),
        Some("/s/vat-declaration/x")
    );
}

#[test]
fn a_bare_host_maps_to_the_service_root() {
    let (map, here) = tax();
    assert_eq!(
        map.rewrite("http://www.agriculture.gov.ma", &here)
            .as_deref(),
        Some("/s/agricultural-subsidy-fda/")
    );
    assert_eq!(
        map.rewrite("http://www.agriculture.gov.ma?x=1", &here)
            .as_deref(),
        Some("/s/agricultural-subsidy-fda/?x=1")
    );
}

#[test]
fn backslashes_act_as_slashes_like_in_browsers() {
    for url in [
        "http:\\\\www.tax.gov.ma/vat-declaration/x",
        "http://www.tax.gov.ma\\vat-declaration\\x",
        "//www.tax.gov.ma\\vat-declaration/x",
        "\\vat-declaration\\x",
    ] {
        assert_eq!(rw(url).as_deref(), Some("/s/vat-declaration/x"), "{url}");
    }
}

#[test]
fn a_trailing_dot_on_the_host_names_the_same_site() {
    assert_eq!(
        rw("http://www.tax.gov.ma./vat-declaration/x").as_deref(),
        Some("/s/vat-declaration/x")
    );
    assert_eq!(
        rw("https://WWW.TAX.GOV.MA.:443/vat-declaration/x").as_deref(),
        Some("/s/vat-declaration/x")
    );
    assert_eq!(rw("http://www.tax.gov.ma../vat-declaration/x"), None);
    assert_eq!(rw("http://./vat-declaration/x"), None);
}

#[test]
fn a_mount_registered_with_a_trailing_dot_matches_the_bare_host() {
    let mut b = LinkMapBuilder::new();
    b.add_legacy("www.cnie.ma.", "/", "/s/cnie-renewal")
        .expect("valid");
    let here = ServiceLinks::new("www.cnie.ma.", "/s/cnie-renewal");
    let map = b.build();
    assert_eq!(
        map.rewrite("http://www.cnie.ma/x", &here).as_deref(),
        Some("/s/cnie-renewal/x")
    );
    assert_eq!(
        map.rewrite("/y", &here).as_deref(),
        Some("/s/cnie-renewal/y")
    );
}

#[test]
fn dot_segments_are_resolved_before_the_mount_is_chosen() {
    assert_eq!(
        rw("/vat-declaration/../income-tax-declaration/x").as_deref(),
        Some("/s/income-tax-declaration/x")
    );
    assert_eq!(
        rw("http://www.tax.gov.ma/vat-declaration/./a/../form?x=../y").as_deref(),
        Some("/s/vat-declaration/form?x=../y")
    );
}

#[test]
fn a_link_climbing_out_of_its_mount_is_not_mapped_into_that_service() {
    for url in [
        "http://www.tax.gov.ma/vat-declaration/../portail/",
        "/vat-declaration/%2e%2E/portail/",
        "/vat-declaration/..",
        "/vat-declaration\\..\\portail",
    ] {
        assert_eq!(rw(url), None, "{url}");
    }
}

#[test]
fn dot_segments_above_the_root_stop_there_as_in_browsers() {
    assert_eq!(
        rw("/../../vat-declaration/x").as_deref(),
        Some("/s/vat-declaration/x")
    );
}

#[test]
fn tabs_and_newlines_inside_a_url_are_dropped_like_browsers_do() {
    assert_eq!(rw("/vat-declaration/.\t./portail/"), None);
    assert_eq!(
        rw("http://www.tax.gov.ma/vat-\ndeclaration/x").as_deref(),
        Some("/s/vat-declaration/x")
    );
}

#[test]
fn cloning_service_links_shares_them() {
    let here = ServiceLinks::new("www.tax.gov.ma", "/s/vat-declaration");
    let copy = here.clone();
    assert!(Arc::ptr_eq(&here.0, &copy.0));
    assert_eq!(copy.prefix(), "/s/vat-declaration");
}

#[test]
fn malformed_authorities_are_left_alone() {
    for url in [
        "http:///x",
        "http://www.tax.gov.ma:99999999/vat-declaration/",
        "http://www.tax.gov.ma:abc/vat-declaration/",
        "http://[::1/x",
        "http://[::1]x/x",
    ] {
        assert_eq!(rw(url), None, "{url}");
    }
}

#[test]
fn invalid_mounts_are_refused_with_what_was_wrong() {
    let mut b = LinkMapBuilder::new();
    assert_eq!(
        b.add_legacy("www.x.ma", "/x/", "/s/x"),
        Err(LinkMapError::Base("/x/".into()))
    );
    assert_eq!(
        b.add_legacy("www.x.ma", "x", "/s/x"),
        Err(LinkMapError::Base("x".into()))
    );
    assert_eq!(
        b.add_legacy("www.x.ma", "/", "/s/x/"),
        Err(LinkMapError::Prefix("/s/x/".into()))
    );
    assert_eq!(
        b.add_upstream("host/x", "/", "/s/x"),
        Err(LinkMapError::Authority("host/x".into()))
    );
}

/// The same legacy estate, each service on its own origin.
fn tax_on_origins() -> (LinkMap, ServiceLinks) {
    let mut b = LinkMapBuilder::new();
    let vat = "https://vat-declaration.services.gov.ma";
    b.add_legacy("www.tax.gov.ma", "/vat-declaration", vat)
        .expect("valid");
    b.add_legacy(
        "www.tax.gov.ma",
        "/income-tax-declaration",
        "https://income-tax-declaration.services.gov.ma",
    )
    .expect("valid");
    b.add_upstream("127.0.0.1:9400", "/vat-declaration", vat)
        .expect("valid");
    (b.build(), ServiceLinks::new("www.tax.gov.ma", vat))
}

#[test]
fn on_its_own_origin_a_link_to_the_service_itself_becomes_root_relative() {
    let (map, here) = tax_on_origins();
    for url in [
        "http://www.tax.gov.ma/vat-declaration/form?a=1#top",
        "/vat-declaration/form?a=1#top",
        "http://127.0.0.1:9400/vat-declaration/form?a=1#top",
    ] {
        assert_eq!(
            map.rewrite(url, &here).as_deref(),
            Some("/form?a=1#top"),
            "{url}"
        );
    }
    assert_eq!(
        map.rewrite("https://www.tax.gov.ma/vat-declaration", &here)
            .as_deref(),
        Some("/")
    );
}

#[test]
fn on_its_own_origin_a_link_to_another_service_goes_to_that_services_origin() {
    let (map, here) = tax_on_origins();
    assert_eq!(
        map.rewrite("/income-tax-declaration/ir?y=2024", &here)
            .as_deref(),
        Some("https://income-tax-declaration.services.gov.ma/ir?y=2024")
    );
}

#[test]
fn an_origin_target_must_be_a_bare_origin() {
    let mut b = LinkMapBuilder::new();
    for bad in [
        "https://x.services.gov.ma/",
        "https://x.services.gov.ma/path",
        "ftp://x.services.gov.ma",
        "https://",
        "https://user@x.services.gov.ma",
    ] {
        assert_eq!(
            b.add_legacy("www.x.ma", "/", bad),
            Err(LinkMapError::Prefix(bad.into())),
            "{bad}"
        );
    }
    assert!(b
        .add_legacy("www.x.ma", "/", "http://x.localhost:8080")
        .is_ok());
}

#[test]
fn two_spellings_of_one_backend_address_are_one_authority() {
    for (a, b) in [
        ("legacy.gov.ma:80", "LEGACY.gov.ma.:443"),
        ("10.0.0.5:8080", "10.0.0.5:8080"),
        ("[::1]:9400", "[::1]:9400"),
    ] {
        assert!(same_authority(a, b), "{a} {b}");
    }
    for (a, b) in [
        ("legacy.gov.ma:8080", "legacy.gov.ma:8081"),
        ("legacy.gov.ma:80", "other.gov.ma:80"),
        ("bad host:80", "bad host:80"),
    ] {
        assert!(!same_authority(a, b), "{a} {b}");
    }
}
