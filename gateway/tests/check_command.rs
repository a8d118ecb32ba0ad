//! `egov-gateway check`: every configuration error, with file and key, and a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// A copy of the repository's config tree in a fresh temporary directory, removed on drop
/// (also when the test fails).
struct ConfigCopy(PathBuf);

impl ConfigCopy {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "egov-check-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let copy = Self(dir);
        copy_dir(&repo_config(), &copy.0);
        copy
    }
}

impl std::ops::Deref for ConfigCopy {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for ConfigCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn check(dir: &Path, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_egov-gateway"))
        .arg("check")
        .arg("--config")
        .arg(dir.join("gateway.toml"))
        .args(extra)
        .output()
        .expect("run egov-gateway");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).expect("read");
    assert!(text.contains(from), "{} has no {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).expect("write");
}

#[test]
fn the_shipped_configuration_passes() {
    let (ok, stdout, stderr) = check(&repo_config(), &["--no-secrets"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("16 ministries, 56 services"), "{stdout}");
}

#[test]
fn every_error_is_listed_with_its_file_and_key_and_the_exit_is_non_zero() {
    let dir = ConfigCopy::new();
    let cnie = dir.join("services/interior/cnie-renewal.toml");
    edit(&cnie, "url = \"http://", "url = \"ftp://");
    let passport = dir.join("services/interior/passport-application.toml");
    edit(&passport, "access = \"public\"", "access = \"everyone\"");
    edit(
        &dir.join("gateway.toml"),
        "connect = \"2s\"",
        "connect = \"2 parsecs\"",
    );
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    let cnie_line = format!(
        "{}: upstream.url: scheme must be http or https",
        cnie.display()
    );
    assert!(stderr.contains(&cnie_line), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: access: \"everyone\" is not one of: public, citizen, professional",
            passport.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("defaults.timeouts.connect"), "{stderr}");
}

#[test]
fn malformed_toml_is_reported_with_its_line() {
    let dir = ConfigCopy::new();
    let file = dir.join("services/justice/criminal-record-extract.toml");
    edit(&file, "[legacy]", "[legacy");
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!("{}: line ", file.display())),
        "{stderr}"
    );
}

/// Found when tried: an unknown key in gateway.toml was the only error `check` listed;
/// the service files were not read.
#[test]
fn an_error_in_gateway_toml_hides_no_other_files_errors() {
    let dir = ConfigCopy::new();
    let gateway = dir.join("gateway.toml");
    edit(&gateway, "[portal]", "[portal]\nnot_a_setting = 1");
    let service = dir.join("services/justice/criminal-record-extract.toml");
    edit(&service, "[legacy]", "[legacy");
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!("{}:", gateway.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}: line ", service.display())),
        "{stderr}"
    );
}

/// Found in an SRE probe: a gateway.toml that is not TOML at all (a stray `=`) kept its
/// paths from being read, and its one typo came with "cannot read" errors for a ministries
/// file and a services directory at default places the configuration did not use.
#[test]
fn a_gateway_toml_that_does_not_parse_is_one_error_and_its_other_files_are_found() {
    let dir = ConfigCopy::new();
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    std::fs::rename(dir.join("services"), elsewhere.join("services")).expect("move");
    std::fs::rename(
        dir.join("ministries.toml"),
        elsewhere.join("ministries.toml"),
    )
    .expect("move");
    let gateway = dir.join("gateway.toml");
    let text = std::fs::read_to_string(&gateway).expect("gateway.toml");
    std::fs::write(
        &gateway,
        format!(
            "services_dir = \"elsewhere/services\"\nministries_file = 'elsewhere/ministries.toml'\n{text}\nthis is = = broken [\n"
        ),
    )
    .expect("write");
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!("{}:", gateway.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot read"), "{stderr}");
    assert!(stderr.contains("1 error"), "{stderr}");
}

#[test]
fn misplaced_service_files_are_errors() {
    let dir = ConfigCopy::new();
    let original = dir.join("services/interior/cnie-renewal.toml");
    std::fs::copy(&original, dir.join("services/justice/cnie-renewal.toml")).expect("copy");
    std::fs::copy(&original, dir.join("services/stray.toml")).expect("copy");
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    assert!(stderr.contains("does not match the directory"), "{stderr}");
    assert!(
        stderr.contains("stray.toml: service files belong in"),
        "{stderr}"
    );
}

#[test]
fn the_hidden_entries_of_a_kubernetes_configmap_mount_are_not_services() {
    // A mounted ConfigMap holds its files under `..<timestamp>/`, points `..data` at it and
    // links each key to `..data/...`: only the links are the services.
    let dir = ConfigCopy::new();
    let stamp = dir.join("services/..2026_12_03_10_00_00.000000001");
    std::fs::create_dir_all(stamp.join("interior")).expect("mkdir");
    std::fs::copy(
        dir.join("services/interior/cnie-renewal.toml"),
        stamp.join("interior/cnie-renewal.toml"),
    )
    .expect("copy");
    std::os::unix::fs::symlink(&stamp, dir.join("services/..data")).expect("link");
    std::fs::write(dir.join("services/interior/.cnie-renewal.toml.swp"), "x").expect("swp");
    let (ok, stdout, stderr) = check(&dir, &["--no-secrets"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("56 services"), "{stdout}");
}

#[test]
fn two_services_claiming_the_same_legacy_url_is_an_error() {
    let dir = ConfigCopy::new();
    let file = dir.join("services/interior/cnie-first-application.toml");
    edit(
        &file,
        "path = \"/cnie-first-application\"",
        "path = \"/cnie-renewal\"",
    );
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    assert!(
        stderr.contains("legacy.path: www.cnie.ma/cnie-renewal is already claimed by service"),
        "{stderr}"
    );
}

#[test]
fn a_quirk_without_its_adapter_step_is_an_error() {
    let dir = ConfigCopy::new();
    let file = dir.join("services/interior/cnie-renewal.toml");
    let text = std::fs::read_to_string(&file).expect("read");
    let cut = text.find("[[adapters]]").expect("adapters");
    std::fs::write(&file, &text[..cut]).expect("write");
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    assert!(
        stderr.contains("legacy.quirks[0]: windows-1256 needs a [[adapters]] step = \"charset\""),
        "{stderr}"
    );
}

/// Found when tried: once a ministry had given a secret through the admin API, `check`
/// (and `serve`) refused the service file naming it, though the files store kept it.
#[test]
fn a_secret_the_files_registry_keeps_is_read_as_serve_reads_it() {
    let dir = ConfigCopy::new();
    let key = "public-procurement:/adapters/1/password:0123abcd";
    edit(
        &dir.join("services/economy-finance/public-procurement.toml"),
        "password = { env = \"EGOV_SECRET_PUBLIC_PROCUREMENT_PASSWORD\" }",
        &format!("password = {{ stored = \"{key}\" }}"),
    );
    let missing = "public-procurement.toml: adapters[1].password: no stored secret";
    let (_, _, stderr) = check(&dir, &[]);
    assert!(stderr.contains(missing), "nothing kept yet: {stderr}");
    std::fs::write(
        dir.join("registry-secrets.json"),
        format!("{{\"{key}\": \"kept-by-the-api\"}}"),
    )
    .expect("write the kept secrets");
    let (_, _, stderr) = check(&dir, &[]);
    assert!(!stderr.contains(missing), "{stderr}");
    assert!(!stderr.contains("public-procurement.toml"), "{stderr}");
}

#[test]
fn missing_secrets_are_named_but_never_printed() {
    const SENTINEL: &str = "sentinel-7f3a9c-do-not-print";
    let mut command = Command::new(env!("CARGO_BIN_EXE_egov-gateway"));
    command
        .arg("check")
        .arg("--config")
        .arg(repo_config().join("gateway.toml"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("EGOV_SECRET_") {
            command.env_remove(key);
        }
    }
    let out = command
        .env("EGOV_SECRET_VAT_DECLARATION_PASSWORD", SENTINEL)
        .output()
        .expect("run egov-gateway");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let missing = format!(
        "{}: adapters[1].password: environment variable EGOV_SECRET_CRIMINAL_RECORD_EXTRACT_PASSWORD is not set",
        repo_config()
            .join("services/justice/criminal-record-extract.toml")
            .display()
    );
    assert!(stderr.lines().any(|l| l == missing), "{stderr}");
    assert!(
        !stderr.contains("EGOV_SECRET_VAT_DECLARATION_PASSWORD"),
        "a secret that is set is not an error: {stderr}"
    );
    assert!(
        !stdout.contains(SENTINEL) && !stderr.contains(SENTINEL),
        "the secret's value was printed:\n{stdout}\n{stderr}"
    );
}

#[test]
fn eval_json_prints_exactly_one_object_in_the_documented_shape() {
    let out = Command::new(env!("CARGO_BIN_EXE_egov-gateway"))
        .args(["eval", "--local-only", "--json", "--config"])
        .arg(repo_config().join("gateway.toml"))
        .arg(repo_config().join("../tests/data/queries-dev.tsv"))
        .output()
        .expect("run egov-gateway");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(stdout.trim().lines().count(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    let keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "accuracy",
            "by_lang",
            "correct",
            "llm_calls",
            "llm_rate",
            "none",
            "top3_accuracy",
            "total"
        ]
    );
    assert_eq!(v["total"], 125);
    assert_eq!(v["llm_calls"], 0);
    assert!(v["by_lang"]["ary-latn"]["accuracy"].as_f64().is_some());
    assert!(v["none"]["precision"].as_f64().is_some() && v["none"]["recall"].as_f64().is_some());
}

#[test]
fn route_json_prints_the_api_object_on_one_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_egov-gateway"))
        .args([
            "route",
            "bghit njedded lpasspor dyali",
            "--local-only",
            "--json",
            "--config",
        ])
        .arg(repo_config().join("gateway.toml"))
        .output()
        .expect("run egov-gateway");
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(stdout.trim().lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON");
    assert_eq!(v["service"], "passport-application");
    assert_eq!(v["source"], "local");
    assert_eq!(v["redirect"], "/s/passport-application/");
}

#[test]
fn eval_refuses_a_malformed_file_naming_the_line() {
    let dir = ConfigCopy::new();
    let bad = dir.join("bad.tsv");
    std::fs::write(&bad, "lang\tquery\tservice_id\nfr\tonly two columns\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_egov-gateway"))
        .args(["eval", "--local-only", "--config"])
        .arg(dir.join("gateway.toml"))
        .arg(&bad)
        .output()
        .expect("run egov-gateway");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn response_rules_may_not_write_the_headers_the_gateway_rewrites() {
    let dir = ConfigCopy::new();
    let file = dir.join("services/interior/cnie-renewal.toml");
    let mut text = std::fs::read_to_string(&file).expect("read");
    text.push_str(concat!(
        "\n[[adapters]]\nstep = \"headers\"\n",
        "response = { set = { Location = \"https://evil.example/\" }, ",
        "rename = { x-app-cookie = \"Set-Cookie\" }, remove = [\"refresh\"] }\n",
    ));
    std::fs::write(&file, text).expect("write");
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    for field in [
        "adapters[2].response.set.Location",
        "adapters[2].response.rename.x-app-cookie",
    ] {
        assert!(
            stderr.contains(&format!("{}: {field}: ", file.display()))
                && stderr.contains("a rule may remove it but not write it"),
            "{field}: {stderr}"
        );
    }
    assert!(
        !stderr.contains("remove[0]"),
        "removing is allowed: {stderr}"
    );
}

#[test]
fn response_rules_may_not_write_the_headers_no_legacy_answer_may_send() {
    let dir = ConfigCopy::new();
    let file = dir.join("services/interior/cnie-renewal.toml");
    let mut text = std::fs::read_to_string(&file).expect("read");
    text.push_str(concat!(
        "\n[[adapters]]\nstep = \"headers\"\n",
        "response = { set = { Strict-Transport-Security = \"max-age=0\", Clear-Site-Data = \"*\" }, ",
        "rename = { x-app = \"Alt-Svc\" }, remove = [\"server\"] }\n",
    ));
    std::fs::write(&file, text).expect("write");
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    for field in [
        "adapters[2].response.set.Strict-Transport-Security",
        "adapters[2].response.set.Clear-Site-Data",
        "adapters[2].response.rename.x-app",
    ] {
        assert!(
            stderr.contains(&format!("{}: {field}: ", file.display()))
                && stderr.contains("never reaches the citizen from a legacy answer"),
            "{field}: {stderr}"
        );
    }
    assert!(
        !stderr.contains("remove[0]"),
        "removing is allowed: {stderr}"
    );
}

#[test]
fn an_unreadable_signing_key_is_found_by_check_not_by_serve() {
    let dir = ConfigCopy::new();
    std::fs::write(dir.join("identity.pem"), "not a PEM key").expect("write key");
    let gateway = dir.join("gateway.toml");
    let mut text = std::fs::read_to_string(&gateway).expect("read");
    text.push_str("\n[identity]\nsigning_keys = [\"identity.pem\"]\n");
    std::fs::write(&gateway, text).expect("write");
    let (ok, _, stderr) = check(&dir, &[]);
    assert!(!ok, "accepted a key serve cannot use");
    assert!(
        stderr.contains("signing key") && stderr.contains("identity.pem"),
        "{stderr}"
    );
    // Without secrets, only the reference is checked: the file exists.
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(ok, "{stderr}");
}

/// Found when tried: `metrics.listen` on the portal's port passed `check` and `serve`, and
/// the kernel then served `/metrics` on the portal's port now and then.
#[test]
fn two_listeners_on_one_port_are_an_error() {
    let dir = ConfigCopy::new();
    let gateway = dir.join("gateway.toml");
    edit(
        &gateway,
        "listen = \"127.0.0.1:9902\"",
        "listen = \"0.0.0.0:8080\"",
    );
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "{}: metrics.listen: 0.0.0.0:8080 is also where portal.listen listens (127.0.0.1:8080)",
            gateway.display()
        )),
        "{stderr}"
    );
}

/// Found when tried: an access log in a directory that does not exist passed `check`, and
/// `serve` then failed, repeating its reason three times without naming the path.
#[test]
fn a_log_file_in_a_missing_directory_is_an_error_named_once() {
    let dir = ConfigCopy::new();
    let gateway = dir.join("gateway.toml");
    let mut text = std::fs::read_to_string(&gateway).expect("read");
    assert!(
        !text.contains("[telemetry]"),
        "the shipped file has no [telemetry] yet"
    );
    text.push_str("\n[telemetry]\naccess_log = \"file:/nonexistent-egov-dir/access.log\"\n");
    std::fs::write(&gateway, text).expect("write");
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    let said = "telemetry.access_log: /nonexistent-egov-dir/access.log: the directory /nonexistent-egov-dir does not exist";
    assert!(stderr.contains(said), "{stderr}");
    assert_eq!(stderr.matches("does not exist").count(), 1, "{stderr}");
}

#[test]
fn a_soap_element_form_other_than_qualified_or_unqualified_is_an_error() {
    let dir = ConfigCopy::new();
    let file = dir.join("services/economy-finance/vat-declaration.toml");
    edit(
        &file,
        "endpoint = \"/ws\"",
        "endpoint = \"/ws\"\nelement_form = \"unqualifed\"",
    );
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    assert!(
        stderr
            .contains("element_form: \"unqualifed\" is neither \"qualified\" nor \"unqualified\""),
        "{stderr}"
    );
}

/// Found when tried: on plain HTTP the hop cookie has no `__Host-` prefix, and a sibling
/// service's page planted one that signed the citizen in as the attacker; `check` said
/// nothing of a public portal without TLS.
#[test]
fn a_public_portal_on_plain_http_is_warned_about_and_loopback_is_not() {
    let (ok, _, stderr) = check(&repo_config(), &["--no-secrets"]);
    assert!(ok, "{stderr}");
    assert!(
        !stderr.contains("portal.public_url: plain HTTP"),
        "{stderr}"
    );
    let dir = ConfigCopy::new();
    edit(
        &dir.join("gateway.toml"),
        "public_url = \"http://127.0.0.1:8080\"",
        "public_url = \"http://portail.gov.ma\"",
    );
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(ok, "a warning, not an error: {stderr}");
    assert!(stderr.contains("portal.public_url: plain HTTP"), "{stderr}");
}

/// Found when tried: with `--no-secrets`, `check` skipped the registry's build and so every
/// check across services, and said ok to a copied service `serve` refused.
#[test]
fn a_copied_services_name_is_found_without_the_secrets_too() {
    let dir = ConfigCopy::new();
    let original = dir.join("services/interior/cnie-renewal.toml");
    let copy = dir.join("services/interior/cnie-copy.toml");
    std::fs::copy(&original, &copy).expect("copy");
    edit(&copy, "id = \"cnie-renewal\"", "id = \"cnie-copy\"");
    edit(&copy, "hostname = \"", "hostname = \"copy.");
    let (ok, stdout, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("reads as the name of service \"cnie-renewal\""),
        "{stderr}"
    );
    assert!(
        !stderr.contains("EGOV_SECRET"),
        "no secret is read: {stderr}"
    );
}

/// Found when tried: an unknown key was given by its line only, where every other error
/// names its key.
#[test]
fn an_unknown_or_mistyped_key_is_named_with_its_dotted_path_and_its_line() {
    let dir = ConfigCopy::new();
    let gateway = dir.join("gateway.toml");
    edit(&gateway, "[portal]", "[portal]\nnot_a_setting = 1");
    let service = dir.join("services/justice/criminal-record-extract.toml");
    edit(&service, "access = \"citizen\"", "access = 3");
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "{}: portal.not_a_setting: line ",
            gateway.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("unknown field `not_a_setting`"), "{stderr}");
    assert!(
        stderr.contains(&format!("{}: access: line ", service.display())),
        "{stderr}"
    );
}

/// A service file with three keys wrong in its structure is refused with all three, the
/// first with its line: serde stops at the first, and a ministry learned of the others in
/// as many more rounds of `check`.
#[test]
fn every_key_of_the_wrong_type_or_name_in_a_file_is_named_in_one_check() {
    let dir = ConfigCopy::new();
    let service = dir.join("services/justice/criminal-record-extract.toml");
    edit(
        &service,
        "access = \"citizen\"",
        "access = 3\nnot_a_key = true",
    );
    edit(&service, "[upstream]", "[upstream]\naffinity = 2");
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    let file = service.display();
    for named in [
        format!("{file}: access: line "),
        format!("{file}: not_a_key: unknown field `not_a_key`"),
        format!("{file}: upstream.affinity: invalid type: integer, expected a string"),
    ] {
        assert!(stderr.contains(&named), "{named} in {stderr}");
    }
}

/// Found in a bypass probe: a Redis URL with its password, written where the list of URLs
/// belongs, was quoted back in `check`'s problem ("invalid type: string \"redis://:…\"").
#[test]
fn a_value_of_the_wrong_type_is_never_quoted() {
    let dir = ConfigCopy::new();
    let gateway = dir.join("gateway.toml");
    edit(
        &gateway,
        "[portal]",
        "[redis]\nurls = \"redis://:hunter2-redis@10.0.0.5:6379\"\n\n[portal]",
    );
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    assert!(stderr.contains("redis.urls: line "), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// Found when tried: a warning was printed only when there was no error.
#[test]
fn warnings_are_listed_beside_the_errors() {
    let dir = ConfigCopy::new();
    edit(
        &dir.join("gateway.toml"),
        "public_url = \"http://127.0.0.1:8080\"",
        "public_url = \"http://portail.gov.ma\"",
    );
    let passport = dir.join("services/interior/passport-application.toml");
    edit(&passport, "access = \"public\"", "access = \"everyone\"");
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(!ok);
    assert!(
        stderr.contains("warning: ") && stderr.contains("portal.public_url: plain HTTP"),
        "{stderr}"
    );
    assert!(stderr.contains("access: \"everyone\""), "{stderr}");
}

/// Found when tried: `keys generate --out keys` printed `signing_keys = ["keys/..."]`,
/// which gateway.toml reads relative to itself, not to where the command ran.
#[test]
fn the_identity_lines_keys_generate_prints_name_its_files_absolutely() {
    let dir = ConfigCopy::new();
    let out = Command::new(env!("CARGO_BIN_EXE_egov-gateway"))
        .args(["keys", "generate", "--out", "made-keys"])
        .current_dir(&*dir)
        .output()
        .expect("run egov-gateway");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let made = std::fs::canonicalize(dir.join("made-keys")).expect("the keys' directory");
    let key = made.join("identity-signing-key.pem");
    assert!(
        stdout.contains(&format!("signing_keys = [{:?}]", key.display().to_string())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{:?}",
            made.join("identity-pairwise-secret").display().to_string()
        )),
        "{stdout}"
    );
}

/// Found when tried: `route --lang de` answered in French, with no word of the language.
#[test]
fn route_refuses_a_language_the_portal_does_not_speak() {
    let out = Command::new(env!("CARGO_BIN_EXE_egov-gateway"))
        .args([
            "route",
            "renouveler ma carte",
            "--local-only",
            "--lang",
            "de",
        ])
        .arg("--config")
        .arg(repo_config().join("gateway.toml"))
        .output()
        .expect("run egov-gateway");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not one of the portal's languages: ar, zgh, fr, en"),
        "{stderr}"
    );
}

/// `--no-secrets` is the check for a machine without the deployment's environment: a
/// backend name its DNS does not know is no error there (the registry's build resolves
/// names, and it now runs without the secrets too), and is one without the flag.
#[test]
fn a_backend_name_that_does_not_resolve_is_no_error_without_the_secrets() {
    let dir = ConfigCopy::new();
    let file = dir.join("services/interior/cnie-renewal.toml");
    let text = std::fs::read_to_string(&file).expect("read");
    let url = text
        .lines()
        .find(|l| l.starts_with("url = "))
        .expect("an upstream url")
        .to_string();
    edit(
        &file,
        &url,
        "url = \"http://legacy-backend.invalid:8080/cnie\"",
    );
    let (ok, _, stderr) = check(&dir, &["--no-secrets"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = check(&dir, &[]);
    assert!(!ok);
    assert!(
        stderr.contains("cannot resolve legacy-backend.invalid"),
        "{stderr}"
    );
}
