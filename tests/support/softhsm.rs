//! A throwaway SoftHSM2 installation for the PKCS#11 tests: a temporary token directory with its
//! own `softhsm2.conf` (`SOFTHSM2_CONF`), tokens initialised by `softhsm2-util`, the user PIN in a
//! file (never on jwe-mint's command line). Under CI (`CI=true`) a missing SoftHSM2 is a failure,
//! elsewhere the tests say they skipped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The user PIN of every test token; tests assert it never shows up in errors or `Debug`.
pub const PIN: &str = "pin-7f3a9c21";
const SO_PIN: &str = "so-pin-0b5d";
/// Tokens made before the module is first loaded (SoftHSM reads its slots at C_Initialize).
pub const TOKENS: &[&str] = &[
    "sign",
    "decrypt",
    "threads",
    "wrongpin",
    "errors",
    "removable",
    "cli",
    "cli-legacy",
    "sessions",
    "envpin",
];

pub struct Hsm {
    pub dir: PathBuf,
    pub module: PathBuf,
    pub pin_file: PathBuf,
}

fn module_path() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("SOFTHSM2_MODULE").map(PathBuf::from),
        Some(PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")),
        Some(PathBuf::from("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")),
        Some(PathBuf::from("/usr/lib64/pkcs11/libsofthsm2.so")),
    ];
    candidates.into_iter().flatten().find(|p| p.exists())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The fixture, or `None` (after a note on stderr) when SoftHSM2 is missing outside CI.
pub fn hsm() -> Option<&'static Hsm> {
    static HSM: OnceLock<Option<Hsm>> = OnceLock::new();
    HSM.get_or_init(|| {
        let util_ok =
            Command::new("softhsm2-util").arg("--version").output().is_ok_and(|o| o.status.success());
        let Some(module) = module_path().filter(|_| util_ok) else {
            assert!(!in_ci(), "CI=true but SoftHSM2 (softhsm2-util, libsofthsm2.so) is not installed");
            eprintln!("SoftHSM2 is not installed: PKCS#11 test skipped (it fails under CI=true)");
            return None;
        };
        remove_stale_dirs();
        let dir = std::env::temp_dir().join(format!("jwe-mint-softhsm-{}-{}", std::process::id(), nanos()));
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        // Set before any PKCS#11 module is loaded in this process.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        for label in TOKENS {
            init_token(label);
        }
        let pin_file = dir.join("user.pin");
        std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
        Some(Hsm { dir, module, pin_file })
    })
    .as_ref()
}

/// A static has no destructor, so each run removes the token directories of earlier test
/// processes that are gone (Linux: no `/proc/PID`).
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("jwe-mint-softhsm-") else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

fn init_token(label: &str) {
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", PIN])
        .output()
        .expect("softhsm2-util runs");
    assert!(
        out.status.success(),
        "softhsm2-util --init-token failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Hsm {
    /// `pkcs11:token=…;object=…?module-path=…&pin-source=file:…`
    pub fn uri(&self, token: &str, object: &str) -> String {
        format!(
            "pkcs11:token={token};object={object}?module-path={}&pin-source=file:{}",
            self.module.display(),
            self.pin_file.display()
        )
    }

    /// The same URI with the PIN read from another file.
    pub fn uri_with_pin_file(&self, token: &str, object: &str, pin_file: &Path) -> String {
        format!(
            "pkcs11:token={token};object={object}?module-path={}&pin-source=file:{}",
            self.module.display(),
            pin_file.display()
        )
    }

    /// Deletes a token from another process (as pulling the token out of its slot would).
    pub fn delete_token(&self, label: &str) {
        let out = Command::new("softhsm2-util").args(["--delete-token", "--token", label]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Asserts an error or `Debug` text never shows the PIN.
pub fn assert_no_pin(text: &str) {
    assert!(!text.contains(PIN), "the PIN leaked: {text}");
}

/// What the test itself sees in a token through its own cryptoki context (same process, so the
/// same module instance and login state as the library's).
pub struct TokenView {
    /// (label, CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE) of every private key.
    pub private_keys: Vec<(String, bool, bool, bool)>,
    /// How many secret-key objects (token or session) exist: derived ECDH secrets would be these.
    pub secret_keys: usize,
}

impl Hsm {
    pub fn view(&self, token: &str) -> TokenView {
        use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
        use cryptoki::error::{Error, RvError};
        use cryptoki::object::{Attribute, AttributeType, ObjectClass};
        use cryptoki::session::UserType;
        use cryptoki::types::AuthPin;
        let ctx = Pkcs11::new(&self.module).unwrap();
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => panic!("{e}"),
        }
        let slot = ctx
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|s| ctx.get_token_info(*s).is_ok_and(|i| i.label().trim_end() == token))
            .expect("token present");
        let session = ctx.open_ro_session(slot).unwrap();
        match session.login(UserType::User, Some(&AuthPin::from(PIN))) {
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => panic!("{e}"),
        }
        let mut private_keys = Vec::new();
        for h in session.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)]).unwrap() {
            let attrs = session
                .get_attributes(
                    h,
                    &[
                        AttributeType::Label,
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::NeverExtractable,
                    ],
                )
                .unwrap();
            let (mut label, mut sensitive, mut extractable, mut never) = (String::new(), false, true, false);
            for a in attrs {
                match a {
                    Attribute::Label(l) => label = String::from_utf8_lossy(&l).into_owned(),
                    Attribute::Sensitive(b) => sensitive = b,
                    Attribute::Extractable(b) => extractable = b,
                    Attribute::NeverExtractable(b) => never = b,
                    _ => {}
                }
            }
            private_keys.push((label, sensitive, extractable, never));
        }
        let secret_keys = session.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)]).unwrap().len();
        // The test's session closes here; the library's pooled sessions keep the login.
        TokenView { private_keys, secret_keys }
    }
}

pub const AS: &str = "https://as.example.com";
pub const RS: &str = "https://api.example.com";

/// An issuer at `AS` signing with `as_key` for one resource `RS` (scope `read`, client `app`),
/// encrypting to `rs_public` with `alg` (the registry's default when `None`).
pub fn issuer_with(
    as_key: &jwe_mint::jwk::Jwk,
    rs_public: &jwe_mint::jwk::Jwk,
    alg: Option<jwe_mint::jwa::KeyManagementAlg>,
) -> jwe_mint::Result<jwe_mint::issuer::Issuer> {
    use jwe_mint::registry::{Registry, ResourceEntry};
    let mut entry = ResourceEntry::new(RS, ["read"], jwe_mint::jwk::JwkSet::new(vec![rs_public.clone()]))?;
    if let Some(alg) = alg {
        entry = entry.with_encryption_alg(alg)?;
    }
    let mut reg = Registry::default();
    reg.insert(entry)?;
    jwe_mint::issuer::Issuer::builder(AS, as_key).registry(reg).allow_client("app", &[RS])?.build()
}

/// The resource server `RS` holding `key` and trusting `as_key` at `AS`.
pub fn rs_with(
    key: &jwe_mint::jwk::Jwk,
    as_key: &jwe_mint::jwk::Jwk,
) -> jwe_mint::resource_server::ResourceServer {
    jwe_mint::resource_server::ResourceServer::builder(RS, AS)
        .decryption_keys(jwe_mint::jwk::JwkSet::new(vec![key.clone()]))
        .issuer_keys(jwe_mint::jwk::JwkSet::new(vec![as_key.to_public().unwrap()]))
        .build()
        .unwrap()
}

/// Alice's `read` grant for `RS` through client `app`.
pub fn grant() -> jwe_mint::issuer::Grant {
    jwe_mint::issuer::Grant::new("alice", "app", "read", &[RS]).unwrap()
}

/// An error's message, after checking that neither it nor its `Debug` carries the PIN.
pub fn check_error(e: &jwe_mint::Error) -> String {
    let text = e.to_string();
    assert_no_pin(&text);
    assert_no_pin(&format!("{e:?}"));
    text
}
